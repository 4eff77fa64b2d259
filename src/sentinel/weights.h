/* Sentinel weights that look trained.  Trained weights are not fresh
 * Gaussians: their entries are heavy-tailed, output channels (rows) and
 * input channels differ in scale, a few directions stand out of the
 * singular value spectrum, BatchNorm statistics are skewed and positive.
 * px_wstats_fit measures these per role on the real model's own weights
 * (once per model); px_wstats_draw then draws a fresh tensor of a role and
 * shape from an rng with those statistics.  A drawn tensor is new noise
 * shaped by fitted numbers: no real tensor is copied, cropped, tiled or
 * permuted into it. */
#ifndef PX_SENTINEL_WEIGHTS_H
#define PX_SENTINEL_WEIGHTS_H

#include <stdint.h>

#include "ir/graph.h"
#include "util/rng.h"

typedef enum px_wrole {
    PX_WR_CONV = 0,    /* Conv / ConvTranspose kernel */
    PX_WR_DWCONV,      /* depthwise Conv kernel (one input channel per group) */
    PX_WR_LINEAR,      /* MatMul / Gemm / recurrent weight */
    PX_WR_EMBED,       /* Gather table (rows are tokens) */
    PX_WR_NORM_SCALE,  /* BatchNorm / LayerNorm / InstanceNorm scale */
    PX_WR_NORM_BIAS,   /* their bias */
    PX_WR_BN_MEAN,     /* BatchNorm running mean */
    PX_WR_BN_VAR,      /* BatchNorm running variance */
    PX_WR_BIAS,        /* Conv / Gemm bias, a vector added to an activation */
    PX_WR_OTHER,       /* any other float constant */
    PX_WR_COUNT
} px_wrole;

/* Whether a role is a matrix (rows are output channels). */
int px_wrole_is_matrix(px_wrole role);
const char *px_wrole_name(px_wrole role);

typedef struct px_wstats px_wstats;

/* Fits per-role statistics to the float constants of model (float32,
 * float16, bfloat16, double) that have data.  model may be NULL or weightless: roles
 * without real tensors get typical trained-network values. */
px_status px_wstats_fit(const px_graph *model, px_wstats **out);
void px_wstats_free(px_wstats *ws);

/* The role of float constant v of g (an initializer, or a Constant node's
 * value as some exporters write weights) by its first consumer's op and
 * input slot (the table in weights.c); -1 when v is no float constant.
 * *out_axis: the output-channel axis of a matrix role (else 0). */
int px_wstats_role_of(const px_graph *g, int v, int *out_axis);

/* Fills dst[0..numel) with a fresh tensor of the role and dims (out_axis:
 * the output-channel axis of a matrix role, as px_wstats_role_of gives).
 * ws may be NULL (typical trained-network values).  Deterministic given
 * the rng; reads only fitted numbers. */
px_status px_wstats_draw(const px_wstats *ws, px_wrole role, int rank, const int64_t *dims, int out_axis, px_rng *rng,
                         float *dst);

/* What is measured of one tensor (px_wstats_measure), the fitted
 * statistics (medians over a role's tensors, px_wstats_summary) and what
 * tests compare. */
typedef struct px_wmeasure {
    double log_rms;      /* log of the entries' root mean square */
    double log_fan_in;   /* log of the elements per output channel (matrices) */
    double row_spread;   /* sd of log row RMS (matrices: output channels) */
    double col_spread;   /* sd of log input-channel RMS after rows are evened */
    double kurt;         /* excess kurtosis of the entries, rows and channels evened (vectors: of the values) */
    double top_ratio;    /* largest singular value over the noise edge (matrices; 0 if too small to say) */
    double loc, scale;   /* vectors: mean and sd of the values (of their log when all are positive) */
    double pos;          /* fraction of positive entries */
} px_wmeasure;

px_status px_wstats_measure(const px_tensor *t, px_wrole role, int out_axis, px_wmeasure *m);
/* Excess kurtosis of x[0..n) (0 for fewer than 4 values or no spread). */
double px_wstats_excess_kurt(const double *x, int64_t n);

/* Medians over the role's fitted tensors; returns how many there were. */
int px_wstats_summary(const px_wstats *ws, px_wrole role, px_wmeasure *m);

#endif
