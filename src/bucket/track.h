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
 *   S_i = (mean(D) + c (D_m(i) - mean(D)) + b std(D) z_i) * rms(B) / rms(D),
 *         b = 0.3, c^2 = 1 - b^2
 *
 * with z the generator's tensor B standardized and m a keyed map of S's
 * indices into D's, axis by axis (rows to rows, columns to columns; kernel
 * axes of equal size in place), or as [rows, rest] where an axis of D is
 * shorter than S's.  So S keeps what makes D look trained (unequal row
 * scales, heavy tails, a low-rank spectrum; a mix of scattered positions
 * left a Gaussian blob that a weight-realism classifier named), and moves
 * by c times D's relative change when D changes.  Donors are picked first
 * among tensors at least as large on every axis (a smaller one repeats rows
 * or taps, lowering the rank), then of the same rank, then matrices for
 * matrices (a matrix drawn from a vector is rank one); the scale is the
 * generator's, not the donor's, and b z keeps any element from being an
 * exact copy of a real value.  Tensors the generator drew positive
 * (variances, scales) are drawn the same way in the log domain (from a
 * positive donor of the role when there is one, else from the magnitudes of
 * any), so they stay positive and move by relative amounts.
 * Identical weights give identical sentinels; nothing but the key chooses
 * donors and positions.  Slots that carry shapes or fixed scalars (a table
 * in track.c), tensors of under 2 elements and tensors without data keep the
 * generator's values. */
#ifndef PX_BUCKET_TRACK_H
#define PX_BUCKET_TRACK_H

#include <stdint.h>

#include "ir/graph.h"
#include "util/error.h"

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
} px_track_donors;

px_status px_track_donors_init(const px_graph *model, px_track_donors *d);
void px_track_donors_free(px_track_donors *d);

/* Re-draws sent's float32 weight tensors as above; stream is the
 * sentinel's own keyed stream for this (nothing else draws from it). */
px_status px_track_weights(px_graph *sent, const px_track_donors *d, uint64_t stream);

#endif
