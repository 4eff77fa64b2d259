/* Sentinel weights that follow the model's weights across versions.
 *
 * The owner may obfuscate a fine-tuned version of a model (same
 * architecture, other weights).  The bucket writer keys partition and
 * sentinel structure by the architecture, so both buckets hold the same
 * structures; if sentinel weights were a pure function of the key they would
 * recur byte for byte while every real tensor changed a little, and two
 * buckets would name the real files.  So every float32 sentinel tensor is
 * re-drawn from one real tensor of the same role (its donor) plus the
 * generator's own draw:
 *
 *   mix_i = (D_m1(i) + D_m2(i) + D_m3(i) - D_m4(i)) / 2   (one keyed map subtracted)
 *   S_i   = (mean(D) + c (mix_i - mean(D)) + b std(D) z_i) * rms(B) / rms(D),
 *           b = 0.3, c^2 = 1 - b^2
 *
 * with z the generator's tensor B standardized and m1..m4 keyed maps of
 * S's indices into D's, axis by axis (rows to rows, columns to columns;
 * kernel axes of equal size in place), or as [rows, rest] where an axis of
 * D is shorter than S's.  So S keeps much of what makes D look trained
 * (unequal row scales, a low-rank spectrum; a mix of scattered positions
 * left a Gaussian blob that a weight-realism classifier named), and moves
 * by c times D's relative change when D changes.  Four maps, not one: a
 * single map copies D's kernels one by one (up to noise), and matching
 * each kernel to its nearest in D links every sentinel to its donor.
 * Donors are picked first among tensors at least as large on every axis (a
 * smaller one repeats rows or taps, lowering the rank), then of the same
 * rank, then matrices for matrices (a matrix drawn from a vector is rank
 * one); the scale is the generator's, not the donor's, and b z keeps any
 * element from being an exact combination of real values.  Tensors the
 * generator drew positive (variances, scales) are drawn the same way in the
 * log domain (from a positive donor of the role when there is one, else
 * from the magnitudes of any), so they stay positive and move by relative
 * amounts.
 * Identical weights give identical sentinels; nothing but the key chooses
 * donors and positions.  Slots that carry shapes or fixed scalars (a table
 * in track.c), tensors of under 2 elements and tensors without data keep the
 * generator's values. */
#ifndef PX_BUCKET_TRACK_H
#define PX_BUCKET_TRACK_H

#include <stdint.h>

#include "ir/graph.h"
#include "util/error.h"

typedef struct px_track_moments {
    double mean, sd, rms;
} px_track_moments;

/* The model's float32 tensors (initializers and Constant values) that may
 * serve as donors, with their role (first consumer's op type and input
 * slot); they point into the model, which must outlive them. */
typedef struct px_track_donors {
    int n;
    const float **w;
    const px_tensor **t; /* the tensor w is the data of (its shape) */
    int64_t *numel;
    const char **op;
    int *slot;
    unsigned char *positive; /* every element > 0 */
    unsigned char *cls;      /* 2: a matrix, 1: anything else (track.c's shape_class) */
    px_track_moments *lin;   /* mean, sd and rms of the values */
    double *step;            /* per donor: the step its values are multiples of, 0: none (track_shape.h) */
    double grid;             /* the model's relative value grid, 0: none (track_shape.h) */
} px_track_donors;

px_status px_track_donors_init(const px_graph *model, px_track_donors *d);
void px_track_donors_free(px_track_donors *d);

/* Re-draws sent's float32 weight tensors as above; stream is the
 * sentinel's own keyed stream for this (nothing else draws from it). */
px_status px_track_weights(px_graph *sent, const px_track_donors *d, uint64_t stream);

#endif
