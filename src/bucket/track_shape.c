/* Channel scales, tails and value grid of mixed sentinel weights; the why
 * is in track_shape.h. */
#include "bucket/track_shape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel/weights.h"

enum {
    GRID_ROWS = 32,      /* channels sampled per tensor to estimate the grid */
    GRID_ROW_LEN = 4096, /* entries read per sampled channel */
    GRID_MIN_REPEATS = 8, /* fewer repeats in the whole model say nothing */
    KURT_SAMPLE = 4096,  /* entries the kurtosis is solved on */
    STEP_SAMPLE = 4096,  /* entries a fake-quantized step is looked for in */
    MIN_TAIL_NUMEL = 32, /* smaller tensors have no kurtosis to speak of */
};
/* Two entries of a channel on relative grid step q collide with
 * probability about GRID_PAIR * q, whatever the channel's scale (measured
 * on Gaussian, Laplace and t4 entries: 0.085-0.115). */
static const double GRID_PAIR = 0.1;
static const double GRID_FINEST = 1.0 / (1 << 18), GRID_COARSEST = 1.0 / 16;
static const double H_MAX = 0.24; /* Tukey's h: the fourth moment is finite below 1/4 */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Pairs of equal nonzero entries among the len entries of data at start,
 * start + step, ... (sorted in buf). */
static double repeats(const float *data, int64_t start, int64_t step, int64_t len, float *buf)
{
    for (int64_t i = 0; i < len; i++) buf[i] = data[start + i * step];
    qsort(buf, (size_t)len, sizeof *buf, cmp_float);
    double pairs = 0;
    for (int64_t i = 0; i < len;) {
        int64_t j = i + 1;
        while (j < len && buf[j] == buf[i]) j++;
        if (buf[i] != 0.0f) pairs += (double)(j - i) * (double)(j - i - 1) / 2;
        i = j;
    }
    return pairs;
}

/* Repeats and pairs of t's channels along its first axis (contiguous rows)
 * or its last (strided): the orientation that repeats more, as the one the
 * per-channel scale runs along. */
static void tensor_repeats(const px_tensor *t, float *buf, double *rep, double *pairs)
{
    const float *w = t->data;
    int64_t first = t->dims[0], last = t->dims[t->rank - 1];
    double best_p = -1, best_r = 0, best_n = 0;
    for (int o = 0; o < 2; o++) {
        int64_t rows = o ? last : first, len = t->numel / rows;
        int64_t step = o ? last : 1;
        if (rows < 2 || len < 16) continue;
        if (len > GRID_ROW_LEN) len = GRID_ROW_LEN;
        int64_t take = rows < GRID_ROWS ? rows : GRID_ROWS;
        double r = 0, n = 0;
        for (int64_t k = 0; k < take; k++) {
            int64_t row = k * rows / take;
            int64_t start = o ? row : row * (t->numel / rows);
            r += repeats(w, start, step, len, buf);
            n += (double)len * (double)(len - 1) / 2;
        }
        if (n > 0 && r / n > best_p) best_p = r / n, best_r = r, best_n = n;
    }
    if (best_p >= 0) *rep += best_r, *pairs += best_n;
}

static void grid_visit(const px_tensor *t, float *buf, double *rep, double *pairs)
{
    if (t && t->dtype == PX_DT_FLOAT && t->data && t->rank >= 2 && t->numel >= 32 &&
        t->nbytes >= (size_t)t->numel * sizeof(float))
        tensor_repeats(t, buf, rep, pairs);
}

double px_track_grid_of(const px_graph *model)
{
    float *buf = malloc(GRID_ROW_LEN * sizeof *buf);
    if (!buf) return 0; /* no estimate: full precision, as before */
    double rep = 0, pairs = 0;
    for (int i = 0; i < model->n_inits; i++) grid_visit(model->values[model->inits[i]].init, buf, &rep, &pairs);
    for (int i = 0; i < model->n_nodes; i++) {
        const px_node *nd = &model->nodes[i];
        const px_attr *a = strcmp(nd->op_type, "Constant") || nd->domain[0] ? NULL : px_node_attr(nd, "value");
        if (a && a->type == PX_ATTR_TENSOR) grid_visit(a->t, buf, &rep, &pairs);
    }
    free(buf);
    if (rep < GRID_MIN_REPEATS || pairs <= 0) return 0;
    double q = rep / pairs / GRID_PAIR;
    if (q < GRID_FINEST) return 0;
    return q > GRID_COARSEST ? GRID_COARSEST : q;
}

double px_track_step_of(const float *w, int64_t n)
{
    int64_t ns = n < STEP_SAMPLE ? n : STEP_SAMPLE;
    if (ns < 64) return 0;
    float *x = malloc(sizeof *x * (size_t)ns);
    if (!x) return 0;
    for (int64_t i = 0; i < ns; i++) x[i] = w[i * n / ns];
    qsort(x, (size_t)ns, sizeof *x, cmp_float);
    double step = 0;
    int64_t levels = 1;
    for (int64_t i = 1; i < ns; i++)
        if (x[i] != x[i - 1]) {
            double d = (double)x[i] - (double)x[i - 1];
            if (!(d > 0) || !isfinite(d)) {
                free(x);
                return 0;
            }
            step = step > 0 && step < d ? step : d;
            levels++;
        }
    /* few levels for the sample, and every value on the step's multiples */
    int on = step > 0 && levels * 4 <= ns;
    for (int64_t i = 0; i < ns && on; i++) {
        double k = (double)x[i] / step;
        on = fabs(k - floor(k + 0.5)) < 1e-3 && fabs(k) < 1e6;
    }
    free(x);
    return on ? step : 0;
}

void px_track_round_to(float *s, int64_t n, double step)
{
    for (int64_t e = 0; e < n; e++) s[e] = (float)(floor(s[e] / step + 0.5) * step);
}

/* Channels of a tensor: along out_axis when its dims describe it. */
static void channels_of(const px_tensor *t, int64_t n, int out_axis, int64_t *m, int64_t *post)
{
    *m = 1;
    *post = 1;
    if (!t || t->rank < 2 || out_axis < 0 || out_axis >= t->rank) return;
    int64_t p = 1, after = 1;
    for (int a = 0; a < t->rank; a++) {
        if (t->dims[a] <= 0) return;
        p *= t->dims[a];
        if (a > out_axis) after *= t->dims[a];
    }
    if (p != n) return;
    *m = t->dims[out_axis];
    *post = after;
}

static int64_t row_of(const px_track_ref *r, int64_t e) { return (e / r->post) % r->m; }

/* Visits every entry e of a tensor with r's channels in storage order, its
 * channel in k (no division per entry: these loops run over every sentinel
 * weight). */
#define FOR_ENTRIES(r, n, e, k)                                                                           \
    for (int64_t pre_ = (n) / ((r)->m * (r)->post), p_ = 0, e = 0; p_ < pre_; p_++)                      \
        for (int64_t k = 0; k < (r)->m; k++)                                                               \
            for (int64_t j_ = 0; j_ < (r)->post; j_++, e++)

px_status px_track_ref_take(px_track_ref *r, const float *b, int64_t n, const px_tensor *bt, int out_axis)
{
    memset(r, 0, sizeof *r);
    channels_of(bt, n, out_axis, &r->m, &r->post);
    r->row_rms = calloc((size_t)r->m, sizeof *r->row_rms);
    int64_t *cnt = calloc((size_t)r->m, sizeof *cnt);
    if (!r->row_rms || !cnt) {
        free(cnt);
        px_track_ref_free(r);
        return px_nomem();
    }
    double s = 0;
    for (int64_t e = 0; e < n; e++) s += b[e];
    r->mean = s / (double)n;
    FOR_ENTRIES(r, n, e, row) {
        double d = b[e] - r->mean;
        r->row_rms[row] += d * d;
        cnt[row]++;
    }
    for (int64_t k = 0; k < r->m; k++) r->row_rms[k] = cnt[k] ? sqrt(r->row_rms[k] / (double)cnt[k]) : 0;
    double s2 = 0, s4 = 0; /* over every entry: a heavy tail is a few of them */
    for (int64_t e = 0; e < n; e++) {
        double d = (b[e] - r->mean) * (b[e] - r->mean);
        s2 += d;
        s4 += d * d;
    }
    r->kurt = s2 > 0 ? (double)n * s4 / (s2 * s2) - 3 : 0;
    free(cnt);
    return PX_OK;
}

void px_track_ref_free(px_track_ref *r)
{
    free(r->row_rms);
    memset(r, 0, sizeof *r);
}

/* Tukey's h transform: monotone, heavier tails as h grows. */
static double tukey(double u, double h) { return h > 0 ? u * exp(h * u * u / 2) : u; }

/* u rounded to relative step q (its mantissa, as a float format does). */
static double on_grid(double u, double q)
{
    if (u == 0 || !isfinite(u)) return u;
    int e;
    double m = frexp(fabs(u), &e); /* [0.5, 1) */
    m = 2 * m;                     /* [1, 2): steps of q */
    m = floor(m / q + 0.5) * q;
    return copysign(ldexp(m / 2, e), u);
}

px_status px_track_reshape(float *s, int64_t n, const px_track_ref *r, int matrix, double grid, px_rng *rng)
{
    if (n < 2) return PX_OK;
    double *rs = calloc((size_t)r->m, sizeof *rs);
    int64_t *cnt = calloc((size_t)r->m, sizeof *cnt);
    int64_t ns = n < KURT_SAMPLE ? n : KURT_SAMPLE;
    double *u = malloc((size_t)ns * sizeof *u), *x = malloc((size_t)ns * sizeof *x);
    if (!rs || !cnt || !u || !x) {
        free(rs);
        free(cnt);
        free(u);
        free(x);
        return px_nomem();
    }
    double mu = 0;
    for (int64_t e = 0; e < n; e++) mu += s[e];
    mu /= (double)n;
    FOR_ENTRIES(r, n, e, row) {
        rs[row] += (s[e] - mu) * (s[e] - mu);
        cnt[row]++;
    }
    for (int64_t k = 0; k < r->m; k++) rs[k] = cnt[k] && rs[k] > 0 ? sqrt(rs[k] / (double)cnt[k]) : 0;
    /* the h whose channel-scaled transform has the generator's kurtosis */
    for (int64_t i = 0; i < ns; i++) {
        int64_t e = i * n / ns, row = row_of(r, e);
        u[i] = rs[row] > 0 ? (s[e] - mu) / rs[row] : 0;
    }
    double h = 0;
    if (n >= MIN_TAIL_NUMEL) {
        double lo = 0, hi = H_MAX;
        for (int64_t i = 0; i < ns; i++) x[i] = r->row_rms[row_of(r, i * n / ns)] * u[i];
        if (px_wstats_excess_kurt(x, ns) < r->kurt)
            for (int it = 0; it < 30; it++) {
                double mid = (lo + hi) / 2;
                for (int64_t i = 0; i < ns; i++) x[i] = r->row_rms[row_of(r, i * n / ns)] * tukey(u[i], mid);
                if (px_wstats_excess_kurt(x, ns) < r->kurt) lo = mid;
                else hi = mid;
            }
        h = lo;
    }
    /* channel by channel to the generator's scale, tails by h; the
     * transform's spread is taken out over the whole tensor (per channel
     * it would even out the channels that hold the tails), as the sample
     * measures it (one pass over the entries, not two) */
    double t2 = 0;
    for (int64_t i = 0; i < ns; i++) t2 += tukey(u[i], h) * tukey(u[i], h);
    double g = t2 > 0 ? sqrt(t2 / (double)ns) : 1;
    for (int64_t k = 0; k < r->m; k++) rs[k] = rs[k] > 0 ? rs[k] : -1; /* -1: a constant channel, left */
    FOR_ENTRIES(r, n, e, row) {
        if (rs[row] < 0) continue;
        double v = mu + tukey((s[e] - mu) / rs[row], h) * r->row_rms[row] / g;
        if (isfinite(v)) s[e] = (float)v;
    }
    /* the model's grid, times a keyed scale per channel */
    if (matrix && grid > 0 && r->m >= 2) {
        for (int64_t k = 0; k < r->m; k++) rs[k] = (r->row_rms[k] > 0 ? r->row_rms[k] : 1) * exp2(px_rng_unit(rng));
        FOR_ENTRIES(r, n, e, row) {
            double c = rs[row];
            if (c > 0) s[e] = (float)(on_grid(s[e] / c, grid) * c);
        }
    }
    free(rs);
    free(cnt);
    free(u);
    free(x);
    return PX_OK;
}
