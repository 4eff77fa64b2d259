/* What the mix of track.c loses and a trained tensor has: the generator's
 * row scales and tails, and the model's value grid.
 *
 * Tails: a sum of four donor draws is nearer Gaussian than either (excess
 * kurtosis divides by about four), so mixed sentinel weights were the
 * lightest-tailed tensors of a bucket (a trained detector's conv kernels:
 * kurtosis 5 against 0.9) and a kurtosis or largest-|z| feature named the
 * real files.  After the mix each output channel is brought back to the
 * generator's own scale for that channel, and a Tukey-h transform
 * (monotone: ranks, so what tracks the donor, are kept) restores the
 * generator's kurtosis.
 *
 * Grid: a model trained in half precision whose BatchNorms were folded at
 * export holds float32 kernels that are a coarse grid times a per-channel
 * scale: values repeat within an output channel (a few in a thousand)
 * where fresh float32 noise never does, and the share of distinct values
 * named the real files.  The model's grid step is estimated from how often
 * its own channels repeat a value (scale-free: two entries of a channel
 * collide with probability about GRID_PAIR * step), and the sentinel's
 * channels are rounded to that step times a keyed scale of their own.
 * A fake-quantized export (trained with quantization, saved as float) is
 * coarser still: every value of a tensor is a multiple of one step (a few
 * dozen levels); a sentinel drawn from such a donor is rounded to the
 * donor's step. */
#ifndef PX_BUCKET_TRACK_SHAPE_H
#define PX_BUCKET_TRACK_SHAPE_H

#include <stdint.h>

#include "ir/graph.h"
#include "util/error.h"
#include "util/rng.h"

/* The relative grid step of a model's float32 matrices (rank >= 2): 0 when
 * they repeat values no more often than full float32 precision would. */
double px_track_grid_of(const px_graph *model);

/* The step every value of w (n entries) is a whole multiple of, when it
 * has one that leaves few levels (a fake-quantized tensor); else 0. */
double px_track_step_of(const float *w, int64_t n);

/* Rounds s (n entries) to whole multiples of step. */
void px_track_round_to(float *s, int64_t n, double step);

/* The generator's tensor as it was before the mix: per output channel its
 * scale, and its excess kurtosis. */
typedef struct px_track_ref {
    int64_t m, post; /* channels (along out_axis) and the elements after that axis */
    double mean, kurt;
    double *row_rms;
} px_track_ref;

/* Measures b (n elements of tensor bt, output channels along out_axis). */
px_status px_track_ref_take(px_track_ref *r, const float *b, int64_t n, const px_tensor *bt, int out_axis);
void px_track_ref_free(px_track_ref *r);

/* Brings the mixed tensor s (n elements) to r's channel scales and
 * kurtosis, then, with grid > 0, each channel of a matrix onto that
 * relative grid times a scale drawn from rng. */
px_status px_track_reshape(float *s, int64_t n, const px_track_ref *r, int matrix, double grid, px_rng *rng);

#endif
