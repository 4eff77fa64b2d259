/* Sentinel weights that follow the model's weights across versions.
 *
 * The owner may obfuscate a fine-tuned version of a model (same
 * architecture, other weights).  The bucket writer keys partition and
 * sentinel structure by the architecture, so both buckets hold the same
 * structures; if sentinel weights were a pure function of the key they would
 * recur byte for byte while every real tensor changed a little, and two
 * buckets would name the real files.  So every float32 sentinel tensor is
 * re-drawn as a keyed mix of one real tensor of the same role (its donor)
 * plus the generator's own draw:
 *
 *   mix_i  = (D_a + D_b + D_c - D_d) / 2          4 keyed positions of D,
 *                                                 one keyed to be negative
 *   core_i = mean(D) + c (mix_i - mean(D)) + b std(D) z_i,  b = 0.3, c^2 = 1 - b^2
 *   S_i    = core_i * rms(B) / rms(D)
 *
 * with z the generator's tensor B standardized.  mix keeps D's mean and
 * variance and moves by rms(dD) when D moves by dD, so S moves by about the
 * same relative amount as the real tensors do (0.95 of it); the scale is the
 * generator's, not the donor's, and b z keeps any element from being an
 * exact combination of real values.  Tensors the generator drew positive
 * (variances, scales) are mixed the same way in the log domain (from a
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
