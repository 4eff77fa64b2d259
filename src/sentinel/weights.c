/* Sentinel weights fitted to the real model's own (weights.h).
 *
 * A matrix role (rows = output channels, columns = the fan-in) is drawn as
 *   W = sigma * diag(r) * (T + sum_q a_q u_q v_q^T) * diag(c) + mean
 * with T heavy-tailed noise (Tukey's h distribution: z * exp(h z^2 / 2),
 * one parameter for the kurtosis, sampled through a quantile table), r and
 * c log-normal output- and input-channel scales, and a few rank-one
 * directions u_q v_q^T carrying a fraction e_q of the energy (the outliers
 * of a trained layer's singular value spectrum).  Everything is linear in
 * the number of elements; the spectrum costs q multiply-adds per element.
 * Each fitted tensor gives one parameter set (its measured row and channel
 * spread, kurtosis, spikes); a drawn tensor takes the set of a fitted tensor
 * of similar fan-in, jittered, and a scale from the role's log-RMS against
 * log-fan-in regression.  Vectors (norm scales, biases, BatchNorm
 * statistics) are location + scale * h-noise, on the log when the values
 * are positive (variances). */
#include "sentinel/weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    TAB_N = 4096,     /* quantile table resolution */
    N_H = 21,         /* tail levels h = 0, 0.01, ..., 0.20 */
    MAX_SPIKES = 8,
    SAMPLE_ROWS = 256, SAMPLE_COLS = 512, /* what is read of one tensor to measure it */
    SPEC_ROWS = 64, SPEC_COLS = 256,      /* the block whose spectrum is measured */
    VEC_SAMPLE = 8192,
};
#define H_STEP 0.01
#define JITTER 0.15 /* relative jitter of a borrowed parameter set */

typedef struct wparams {
    px_wmeasure m;
    double h;
    double mean_rel; /* mean over RMS (matrices) */
    double spike[MAX_SPIKES];
    int n_spikes;
    int logd; /* vectors: measured on the log of the values */
} wparams;

struct px_wstats {
    wparams *p[PX_WR_COUNT];
    int n[PX_WR_COUNT], cap[PX_WR_COUNT];
    double a[PX_WR_COUNT], b[PX_WR_COUNT], resid[PX_WR_COUNT]; /* log RMS = a + b log fan-in (+ resid N) */
    float tab[N_H][TAB_N + 1];
};

static const char *const role_names[PX_WR_COUNT] = {"conv", "dwconv", "linear", "embed", "norm_scale",
                                                    "norm_bias", "bn_mean", "bn_var", "bias", "other"};

const char *px_wrole_name(px_wrole role) { return role >= 0 && role < PX_WR_COUNT ? role_names[role] : "?"; }

int px_wrole_is_matrix(px_wrole role) { return role <= PX_WR_EMBED; }

/* ---- which role a real initializer plays: its consumer op and slot ---- */

static const struct {
    const char *op;
    int slot;
    px_wrole role;
    int out_axis; /* -1: the last axis; -2: Gemm's, by transB */
} role_table[] = {
    {"Conv", 1, PX_WR_CONV, 0},        {"Conv", 2, PX_WR_BIAS, 0},
    {"ConvTranspose", 1, PX_WR_CONV, 1}, {"ConvTranspose", 2, PX_WR_BIAS, 0},
    {"Gemm", 1, PX_WR_LINEAR, -2},     {"Gemm", 2, PX_WR_BIAS, 0},
    {"MatMul", 1, PX_WR_LINEAR, -1},   {"Gather", 0, PX_WR_EMBED, 0},
    {"LSTM", 1, PX_WR_LINEAR, 1},      {"LSTM", 2, PX_WR_LINEAR, 1},   {"LSTM", 3, PX_WR_BIAS, 0},
    {"GRU", 1, PX_WR_LINEAR, 1},       {"GRU", 2, PX_WR_LINEAR, 1},    {"GRU", 3, PX_WR_BIAS, 0},
    {"RNN", 1, PX_WR_LINEAR, 1},       {"RNN", 2, PX_WR_LINEAR, 1},    {"RNN", 3, PX_WR_BIAS, 0},
    {"BatchNormalization", 1, PX_WR_NORM_SCALE, 0}, {"BatchNormalization", 2, PX_WR_NORM_BIAS, 0},
    {"BatchNormalization", 3, PX_WR_BN_MEAN, 0},    {"BatchNormalization", 4, PX_WR_BN_VAR, 0},
    {"LayerNormalization", 1, PX_WR_NORM_SCALE, 0}, {"LayerNormalization", 2, PX_WR_NORM_BIAS, 0},
    {"InstanceNormalization", 1, PX_WR_NORM_SCALE, 0}, {"InstanceNormalization", 2, PX_WR_NORM_BIAS, 0},
    {"GroupNormalization", 1, PX_WR_NORM_SCALE, 0}, {"GroupNormalization", 2, PX_WR_NORM_BIAS, 0},
    {"Add", 0, PX_WR_BIAS, 0},         {"Add", 1, PX_WR_BIAS, 0},
    {"Sub", 0, PX_WR_BIAS, 0},         {"Sub", 1, PX_WR_BIAS, 0},
};

static int role_for(const px_graph *g, const px_node *nd, int slot, const px_tensor *t, int *out_axis)
{
    *out_axis = 0;
    for (size_t k = 0; k < sizeof role_table / sizeof *role_table; k++) {
        if (role_table[k].slot != slot || strcmp(role_table[k].op, nd->op_type) || nd->domain[0]) continue;
        px_wrole r = role_table[k].role;
        int ax = role_table[k].out_axis;
        if (ax == -1) ax = t->rank - 1;
        if (ax == -2) ax = px_attr_int(nd, "transB", 0) ? 0 : t->rank - 1;
        if (r == PX_WR_CONV && px_attr_int(nd, "group", 1) > 1 && t->rank >= 2 && t->dims[1] == 1) r = PX_WR_DWCONV;
        if (px_wrole_is_matrix(r) && (t->rank < 2 || ax < 0 || ax >= t->rank)) return PX_WR_OTHER;
        if (px_wrole_is_matrix(r)) *out_axis = ax;
        (void)g;
        return r;
    }
    return PX_WR_OTHER;
}

/* The float constant value v holds: an initializer, or the value of the
 * Constant node that makes it (some exporters write every weight so);
 * NULL for anything else. */
static const px_tensor *float_const(const px_graph *g, int v)
{
    if (v < 0 || v >= g->n_values) return NULL;
    const px_value *val = &g->values[v];
    const px_tensor *t = val->init;
    if (!t && val->producer >= 0 && val->producer < g->n_nodes) {
        const px_node *nd = &g->nodes[val->producer];
        const px_attr *a = !strcmp(nd->op_type, "Constant") && !nd->domain[0] ? px_node_attr(nd, "value") : NULL;
        if (a && a->type == PX_ATTR_TENSOR) t = a->t;
    }
    return t && (t->dtype == PX_DT_FLOAT || t->dtype == PX_DT_FLOAT16 || t->dtype == PX_DT_DOUBLE ||
                 t->dtype == PX_DT_BFLOAT16) ? t : NULL;
}

int px_wstats_role_of(const px_graph *g, int v, int *out_axis)
{
    *out_axis = 0;
    const px_tensor *t = float_const(g, v);
    if (!t) return -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const px_node *nd = &g->nodes[i];
        for (int s = 0; s < nd->n_inputs; s++)
            if (nd->inputs[s] == v) return role_for(g, nd, s, t, out_axis);
    }
    return PX_WR_OTHER;
}

/* ---- noise: the inverse normal CDF and Tukey's h ---- */

/* Acklam's rational approximation of the inverse normal CDF (relative error
 * about 1e-9), for 0 < p < 1. */
static double inv_norm(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549671324942030e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double lo = 0.02425;
    if (p < lo || p > 1 - lo) {
        double q = sqrt(-2 * log(p < lo ? p : 1 - p));
        double x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
                   ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        return p < lo ? x : -x;
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* Tukey's h at quantile p, standardized to unit variance. */
static double tukey_q(double h, double p)
{
    double z = inv_norm(p);
    return z * exp(h * z * z / 2) * pow(1 - 2 * h, 0.75);
}

/* Excess kurtosis of Tukey's h (finite for h < 1/4). */
static double tukey_kurt(double h) { return 3 * pow(1 - 4 * h, -2.5) * pow(1 - 2 * h, 3) - 3; }

static double h_for_kurt(double k)
{
    double lo = 0, hi = (N_H - 1) * H_STEP;
    if (!(k > 0)) return 0;
    if (k >= tukey_kurt(hi)) return hi;
    for (int i = 0; i < 50; i++) {
        double mid = (lo + hi) / 2;
        if (tukey_kurt(mid) < k) lo = mid;
        else hi = mid;
    }
    return (lo + hi) / 2;
}

typedef struct noise {
    const float *tab; /* NULL: computed exactly per draw */
    double h;
    px_rng *rng;
    uint64_t bits;
    int have;
} noise;

static double uniform32(noise *nz)
{
    if (!nz->have) {
        nz->bits = px_rng_next(nz->rng);
        nz->have = 2;
    }
    uint32_t u = (uint32_t)(nz->bits >> (32 * --nz->have));
    return ((double)u + 0.5) * (1.0 / 4294967296.0);
}

static double draw_noise(noise *nz)
{
    double p = uniform32(nz);
    if (nz->tab) {
        double x = p * TAB_N;
        int i = (int)x;
        if (i >= 1 && i < TAB_N - 1) return nz->tab[i] + (x - i) * (nz->tab[i + 1] - nz->tab[i]);
    }
    return tukey_q(nz->h, p); /* the tails, exactly */
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* dst[0..n) = scale * noise, in bulk: the rng's xoshiro256** steps are
 * inlined here (the same stream px_rng_next gives), two 32-bit uniforms a
 * step, the top 12 bits of each picking a table interval; the outermost two
 * intervals are computed exactly. */
static void noise_fill(noise *nz, float *dst, int64_t n, float scale)
{
    if (!nz->tab) {
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(scale * draw_noise(nz));
        return;
    }
    uint64_t s0 = nz->rng->s[0], s1 = nz->rng->s[1], s2 = nz->rng->s[2], s3 = nz->rng->s[3];
    const float *tab = nz->tab;
    const float frac = 1.0f / (1 << 20);
    for (int64_t i = 0; i < n; i += 2) {
        uint64_t x = rotl64(s1 * 5, 7) * 9, t = s1 << 17;
        s2 ^= s0, s3 ^= s1, s1 ^= s2, s0 ^= s3, s2 ^= t, s3 = rotl64(s3, 45);
        for (int h = 0; h < 2 && i + h < n; h++) {
            uint32_t u = (uint32_t)(x >> (32 * h));
            uint32_t k = u >> 20;
            float y;
            if (k >= 1 && k < TAB_N - 1) {
                float f = (float)(u & 0xFFFFF) * frac;
                y = tab[k] + f * (tab[k + 1] - tab[k]);
            } else {
                y = (float)tukey_q(nz->h, ((double)u + 0.5) * (1.0 / 4294967296.0));
            }
            dst[i + h] = scale * y;
        }
    }
    nz->rng->s[0] = s0, nz->rng->s[1] = s1, nz->rng->s[2] = s2, nz->rng->s[3] = s3;
}

static noise make_noise(const px_wstats *ws, double h, px_rng *rng)
{
    int k = (int)lround(h / H_STEP);
    if (k < 0) k = 0;
    if (k >= N_H) k = N_H - 1;
    return (noise){.tab = ws ? ws->tab[k] : NULL, .h = k * H_STEP, .rng = rng};
}

/* ---- measuring a tensor ---- */

typedef struct mview { /* a tensor as rows (output channels) x columns (fan-in) */
    int64_t m, n, pre, post, K; /* element (i, j): j = p * post + q at (p * m + i) * post + q; channel j / K */
} mview;

static mview view_of(int rank, const int64_t *dims, int out_axis)
{
    mview v = {.m = dims[out_axis], .pre = 1, .post = 1, .K = 1};
    for (int a = 0; a < out_axis; a++) v.pre *= dims[a];
    for (int a = out_axis + 1; a < rank; a++) v.post *= dims[a];
    v.n = v.pre * v.post;
    if (rank >= 3 && out_axis <= 1)
        for (int a = 2; a < rank; a++) v.K *= dims[a];
    if (v.K < 1 || v.n % v.K) v.K = 1;
    return v;
}

static int64_t at(const mview *v, int64_t i, int64_t j) { return (j / v->post * v->m + i) * v->post + j % v->post; }

static double value_at(const px_tensor *t, int64_t i)
{
    if (t->dtype == PX_DT_FLOAT) {
        float f;
        memcpy(&f, (const char *)t->data + 4 * i, 4);
        return f;
    }
    return px_tensor_get_double(t, i);
}

static double sd_of(const double *x, int n)
{
    if (n < 2) return 0;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += x[i];
    double mu = s / n;
    for (int i = 0; i < n; i++) s2 += (x[i] - mu) * (x[i] - mu);
    return sqrt(s2 / (n - 1));
}

double px_wstats_excess_kurt(const double *x, int64_t n)
{
    if (n < 4) return 0;
    double s = 0, m2 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    double mu = s / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = (x[i] - mu) * (x[i] - mu);
        m2 += d;
        m4 += d * d;
    }
    m2 /= (double)n;
    m4 /= (double)n;
    return m2 > 0 ? m4 / (m2 * m2) - 3 : 0;
}

/* Eigenvalues of the symmetric s x s matrix a (destroyed) by cyclic Jacobi. */
static void jacobi_eig(double *a, int s, double *ev)
{
    for (int sweep = 0; sweep < 30; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < s; i++) {
            diag += a[i * s + i] * a[i * s + i];
            for (int j = i + 1; j < s; j++) off += a[i * s + j] * a[i * s + j];
        }
        if (off <= 1e-22 * diag) break;
        for (int p = 0; p < s; p++)
            for (int q = p + 1; q < s; q++) {
                double apq = a[p * s + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (a[q * s + q] - a[p * s + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), sn = t * c;
                for (int k = 0; k < s; k++) {
                    double akp = a[k * s + p], akq = a[k * s + q];
                    a[k * s + p] = c * akp - sn * akq;
                    a[k * s + q] = sn * akp + c * akq;
                }
                for (int k = 0; k < s; k++) {
                    double apk = a[p * s + k], aqk = a[q * s + k];
                    a[p * s + k] = c * apk - sn * aqk;
                    a[q * s + k] = sn * apk + c * aqk;
                }
            }
    }
    for (int i = 0; i < s; i++) ev[i] = a[i * s + i];
}

static int cmp_desc(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a < b) - (a > b);
}

/* Eigenvalues (descending) of the Gram of the shorter side of the R x C
 * block z, into ev (min(R, C) of them); -1 when out of memory. */
static int gram_eigs(const double *z, int R, int C, double *ev)
{
    int s = R < C ? R : C, L = R < C ? C : R;
    double *gram = malloc(sizeof *gram * (size_t)s * s);
    if (!gram) return -1;
    for (int i = 0; i < s; i++)
        for (int j = i; j < s; j++) {
            double acc = 0;
            for (int k = 0; k < L; k++)
                acc += R < C ? z[i * C + k] * z[j * C + k] : z[k * C + i] * z[k * C + j];
            gram[i * s + j] = gram[j * s + i] = acc;
        }
    jacobi_eig(gram, s, ev);
    qsort(ev, (size_t)s, sizeof *ev, cmp_desc);
    free(gram);
    return s;
}

/* Energy fractions of the leading directions of the R x C block z
 * (unit-variance entries, rows and channels evened): what each of its top
 * Gram eigenvalues holds beyond the same eigenvalue of iid noise of that
 * shape (a fixed Gaussian block; the noise keeps 1 - E of the energy when
 * the directions take E).  Trained layers put far more in their leading
 * directions than noise does: the heavy tail of their spectrum. */
static int spikes_of(const double *z, int R, int C, double *spike)
{
    int s = R < C ? R : C, n = 0;
    double *ev = malloc(sizeof *ev * (2 * (size_t)s + (size_t)R * C));
    if (!ev) return -1;
    double *mu = ev + s, *ref = mu + s;
    px_rng r;
    px_rng_seed(&r, ((uint64_t)R << 32) ^ (uint64_t)C);
    for (int64_t i = 0; i < (int64_t)R * C; i++) {
        double u1 = px_rng_unit(&r), u2 = px_rng_unit(&r);
        ref[i] = sqrt(-2 * log(u1 > 1e-300 ? u1 : 1e-300)) * cos(6.283185307179586 * u2);
    }
    if (gram_eigs(z, R, C, ev) < 0 || gram_eigs(ref, R, C, mu) < 0) {
        free(ev);
        return -1;
    }
    double rc = (double)R * C, E = 0;
    for (int pass = 0; pass < 2; pass++) {
        double keep = 1 - E;
        E = 0;
        for (n = 0; n < s && n < MAX_SPIKES; n++) {
            double e = (ev[n] - keep * mu[n]) / rc;
            if (e <= 0) break;
            spike[n] = e;
            E += e;
        }
        if (E > 0.9) E = 0.9;
    }
    free(ev);
    return n;
}

static px_status measure_matrix(const px_tensor *t, int out_axis, wparams *w)
{
    mview v = view_of(t->rank, t->dims, out_axis);
    int R = (int)(v.m < SAMPLE_ROWS ? v.m : SAMPLE_ROWS), C = (int)(v.n < SAMPLE_COLS ? v.n : SAMPLE_COLS);
    double *x = malloc(sizeof *x * ((size_t)R * C + (size_t)R + 3 * (size_t)C));
    int64_t *ch = malloc(sizeof *ch * (size_t)C);
    if (!x || !ch) {
        free(x);
        free(ch);
        return px_nomem();
    }
    double *rowlog = x + (size_t)R * C, *chss = rowlog + R, *chrms = chss + C, *chlog = chrms + C;
    double ss = 0, sum = 0, pos = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            double e = value_at(t, at(&v, r * v.m / R, c * v.n / C));
            if (!isfinite(e)) e = 0;
            x[r * C + c] = e;
            ss += e * e;
            sum += e;
            pos += e > 0;
        }
    double N = (double)R * C, rms = sqrt(ss / N);
    w->m.log_rms = log(rms > 1e-30 ? rms : 1e-30);
    w->m.log_fan_in = log((double)v.n);
    w->m.pos = pos / N;
    w->mean_rel = rms > 0 ? sum / N / rms : 0;
    /* even the rows, then the input channels */
    int nr = 0;
    for (int r = 0; r < R; r++) {
        double s2 = 0;
        for (int c = 0; c < C; c++) s2 += x[r * C + c] * x[r * C + c];
        double rr = sqrt(s2 / C);
        if (rr > 0) {
            rowlog[nr++] = log(rr);
            for (int c = 0; c < C; c++) x[r * C + c] /= rr;
        }
    }
    w->m.row_spread = sd_of(rowlog, nr);
    int nch = 0; /* sampled columns of one input channel are adjacent */
    for (int c = 0; c < C; c++) {
        int64_t id = (c * v.n / C) / v.K;
        if (!c || (((c - 1) * v.n / C) / v.K) != id) chss[nch] = chrms[nch] = 0, nch++;
        ch[c] = nch - 1;
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            chss[ch[c]] += x[r * C + c] * x[r * C + c];
            chrms[ch[c]] += 1;
        }
    int nl = 0;
    for (int k = 0; k < nch; k++) {
        double cr = chrms[k] > 0 ? sqrt(chss[k] / chrms[k]) : 0;
        chrms[k] = cr;
        if (cr > 0) chlog[nl++] = log(cr);
    }
    w->m.col_spread = nch >= 4 ? sd_of(chlog, nl) : 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            if (chrms[ch[c]] > 0) x[r * C + c] /= chrms[ch[c]];
    w->m.kurt = px_wstats_excess_kurt(x, (int64_t)R * C);
    w->h = h_for_kurt(w->m.kurt);
    /* the spectrum of a block of the evened entries */
    int RS = R < SPEC_ROWS ? R : SPEC_ROWS, CS = C < SPEC_COLS ? C : SPEC_COLS;
    w->n_spikes = 0;
    w->m.top_ratio = 0;
    if (RS >= 8 && CS >= 8) {
        double *z = malloc(sizeof *z * (size_t)RS * CS);
        if (!z) {
            free(x);
            free(ch);
            return px_nomem();
        }
        for (int r = 0; r < RS; r++)
            for (int c = 0; c < CS; c++) z[r * CS + c] = x[(r * R / RS) * C + c * C / CS];
        int n = spikes_of(z, RS, CS, w->spike);
        free(z);
        if (n < 0) {
            free(x);
            free(ch);
            return px_nomem();
        }
        w->n_spikes = n;
        w->m.top_ratio = n ? w->spike[0] : 0;
    }
    free(x);
    free(ch);
    return PX_OK;
}

static int positive_role(px_wrole role) { return role == PX_WR_BN_VAR || role == PX_WR_NORM_SCALE; }

static px_status measure_vector(const px_tensor *t, px_wrole role, wparams *w)
{
    int64_t n = t->numel, S = n < VEC_SAMPLE ? n : VEC_SAMPLE;
    double *x = malloc(sizeof *x * (size_t)(S ? S : 1));
    if (!x) return px_nomem();
    int all_pos = 1;
    double pos = 0;
    for (int64_t i = 0; i < S; i++) {
        double e = value_at(t, i * n / S);
        x[i] = isfinite(e) ? e : 0;
        all_pos &= x[i] > 0;
        pos += x[i] > 0;
    }
    w->logd = all_pos && positive_role(role);
    if (w->logd)
        for (int64_t i = 0; i < S; i++) x[i] = log(x[i]);
    double s = 0;
    for (int64_t i = 0; i < S; i++) s += x[i];
    w->m.loc = S ? s / (double)S : 0;
    w->m.scale = S >= 2 ? sd_of(x, (int)S) : 0;
    w->m.kurt = px_wstats_excess_kurt(x, S);
    w->m.pos = S ? pos / (double)S : 0;
    w->h = h_for_kurt(w->m.kurt);
    free(x);
    return PX_OK;
}

static int matrix_shaped(const px_tensor *t, px_wrole role, int out_axis)
{
    if (!px_wrole_is_matrix(role) || t->rank < 2 || out_axis < 0 || out_axis >= t->rank) return 0;
    mview v = view_of(t->rank, t->dims, out_axis);
    return v.m >= 2 && v.n >= 2;
}

px_status px_wstats_measure(const px_tensor *t, px_wrole role, int out_axis, px_wmeasure *m)
{
    memset(m, 0, sizeof *m);
    if (!t || !t->data || t->numel < 1 || role < 0 || role >= PX_WR_COUNT)
        return px_fail(PX_ERR_USAGE, "measure: a float tensor with data is needed");
    wparams w = {0};
    px_status st = matrix_shaped(t, role, out_axis) ? measure_matrix(t, out_axis, &w) : measure_vector(t, role, &w);
    if (!st) *m = w.m;
    return st;
}

/* ---- fitting ---- */

static px_status push_params(px_wstats *ws, px_wrole role, const wparams *w)
{
    if (ws->n[role] == ws->cap[role]) {
        int cap = ws->cap[role] ? 2 * ws->cap[role] : 16;
        wparams *p = realloc(ws->p[role], (size_t)cap * sizeof *p);
        if (!p) return px_nomem();
        ws->p[role] = p;
        ws->cap[role] = cap;
    }
    ws->p[role][ws->n[role]++] = *w;
    return PX_OK;
}

/* log RMS against log fan-in, least squares; the slope of a fan-in
 * initialisation (-1/2) when the fan-ins do not spread enough to say. */
static void fit_scale(px_wstats *ws, px_wrole role)
{
    int n = ws->n[role];
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double x = ws->p[role][i].m.log_fan_in, y = ws->p[role][i].m.log_rms;
        sx += x, sy += y, sxx += x * x, sxy += x * y;
    }
    double mx = sx / n, my = sy / n, vx = sxx / n - mx * mx;
    double b = n >= 3 && vx > 0.09 ? (sxy / n - mx * my) / vx : -0.5;
    if (b < -1.5) b = -1.5;
    if (b > 0.5) b = 0.5;
    ws->b[role] = b;
    ws->a[role] = my - b * mx;
    double r2 = 0;
    for (int i = 0; i < n; i++) {
        double e = ws->p[role][i].m.log_rms - ws->a[role] - b * ws->p[role][i].m.log_fan_in;
        r2 += e * e;
    }
    ws->resid[role] = n >= 2 ? sqrt(r2 / (n - 1)) : 0;
}

px_status px_wstats_fit(const px_graph *model, px_wstats **out)
{
    *out = NULL;
    px_wstats *ws = calloc(1, sizeof *ws);
    if (!ws) return px_nomem();
    for (int k = 0; k < N_H; k++)
        for (int i = 0; i <= TAB_N; i++) {
            double p = (double)i / TAB_N;
            ws->tab[k][i] = (float)(i == 0 || i == TAB_N ? 0 : tukey_q(k * H_STEP, p));
        }
    px_status st = PX_OK;
    char *seen = model && model->n_values ? calloc((size_t)model->n_values, 1) : NULL;
    if (model && model->n_values && !seen) st = px_nomem();
    for (int i = 0; model && !st && i < model->n_nodes; i++) {
        const px_node *nd = &model->nodes[i];
        for (int s = 0; s < nd->n_inputs && !st; s++) {
            int v = nd->inputs[s];
            const px_tensor *t = v >= 0 && v < model->n_values && !seen[v] ? float_const(model, v) : NULL;
            if (!t) continue;
            seen[v] = 1;
            if (!t->data || t->numel < 2) continue;
            int ax;
            px_wrole role = (px_wrole)role_for(model, nd, s, t, &ax);
            wparams w = {0};
            int mat = matrix_shaped(t, role, ax);
            if (px_wrole_is_matrix(role) && !mat) role = PX_WR_OTHER;
            st = mat ? measure_matrix(t, ax, &w) : measure_vector(t, role, &w);
            if (!st) st = push_params(ws, role, &w);
        }
    }
    free(seen);
    if (st) {
        px_wstats_free(ws);
        return st;
    }
    for (int r = 0; r < PX_WR_COUNT; r++)
        if (ws->n[r] && px_wrole_is_matrix(r)) fit_scale(ws, r);
    *out = ws;
    return PX_OK;
}

void px_wstats_free(px_wstats *ws)
{
    if (!ws) return;
    for (int r = 0; r < PX_WR_COUNT; r++) free(ws->p[r]);
    free(ws);
}

static int cmp_asc(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int px_wstats_summary(const px_wstats *ws, px_wrole role, px_wmeasure *m)
{
    memset(m, 0, sizeof *m);
    if (!ws || role < 0 || role >= PX_WR_COUNT || !ws->n[role]) return 0;
    int n = ws->n[role];
    double *x = malloc(sizeof *x * (size_t)n);
    if (!x) return 0;
    enum { F_LOG_RMS, F_FAN, F_ROW, F_COL, F_KURT, F_TOP, F_LOC, F_SCALE, F_POS, F_N };
    for (int f = 0; f < F_N; f++) {
        for (int i = 0; i < n; i++) {
            const px_wmeasure *p = &ws->p[role][i].m;
            const double v[F_N] = {p->log_rms, p->log_fan_in, p->row_spread, p->col_spread, p->kurt,
                                   p->top_ratio, p->loc, p->scale, p->pos};
            x[i] = v[f];
        }
        qsort(x, (size_t)n, sizeof *x, cmp_asc);
        double med = n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
        double *dst[F_N] = {&m->log_rms, &m->log_fan_in, &m->row_spread, &m->col_spread, &m->kurt,
                            &m->top_ratio, &m->loc, &m->scale, &m->pos};
        *dst[f] = med;
    }
    free(x);
    return n;
}

/* ---- drawing ---- */

/* Where a role without fitted tensors borrows from. */
static const px_wrole fallback[PX_WR_COUNT] = {
    [PX_WR_CONV] = PX_WR_LINEAR, [PX_WR_DWCONV] = PX_WR_CONV, [PX_WR_LINEAR] = PX_WR_CONV,
    [PX_WR_EMBED] = PX_WR_LINEAR, [PX_WR_NORM_SCALE] = PX_WR_NORM_SCALE, [PX_WR_NORM_BIAS] = PX_WR_BIAS,
    [PX_WR_BN_MEAN] = PX_WR_BN_MEAN, [PX_WR_BN_VAR] = PX_WR_BN_VAR, [PX_WR_BIAS] = PX_WR_NORM_BIAS,
    [PX_WR_OTHER] = PX_WR_OTHER,
};

/* Typical trained-network values, for a role the model has no tensor of
 * (and no data at all): fan-in scaled matrices with moderate tails and
 * channel spread, norm scales near 1, small biases, BatchNorm variances
 * log-normal below 1. */
static wparams default_params(px_wrole role)
{
    wparams w = {.h = 0.06, .logd = 0};
    if (px_wrole_is_matrix(role)) {
        w.m.row_spread = 0.35;
        w.m.col_spread = 0.25;
        w.spike[0] = 0.02;
        w.n_spikes = role == PX_WR_DWCONV ? 0 : 1;
        return w;
    }
    switch (role) {
    case PX_WR_NORM_SCALE: w.m.loc = 0.9, w.m.scale = 0.25; break;
    case PX_WR_BN_VAR: w.logd = 1, w.m.loc = log(0.3), w.m.scale = 1.0; break;
    case PX_WR_BN_MEAN: w.m.loc = 0, w.m.scale = 0.4; break;
    case PX_WR_OTHER: w.m.loc = 0, w.m.scale = 0.5; break;
    default: w.m.loc = 0, w.m.scale = 0.05; break;
    }
    return w;
}

static double gauss(noise *g0) { return draw_noise(g0); }

/* A parameter set for a new tensor of role with log fan-in lf: that of a
 * fitted tensor of similar fan-in (best of 4 picks), jittered. */
static wparams pick_params(const px_wstats *ws, px_wrole role, double lf, noise *g0, px_wrole *from)
{
    px_wrole r = role;
    if (!ws || !ws->n[r]) r = fallback[role];
    if (ws && !ws->n[r] && px_wrole_is_matrix(role)) {
        for (int k = 0; k <= PX_WR_EMBED && !ws->n[r]; k++) r = (px_wrole)k;
    }
    *from = r;
    if (!ws || !ws->n[r]) return default_params(role);
    int best = -1;
    double bd = 0;
    for (int t = 0; t < 4; t++) {
        int i = (int)px_rng_below(g0->rng, (uint64_t)ws->n[r]);
        double d = fabs(ws->p[r][i].m.log_fan_in - lf);
        if (best < 0 || d < bd) best = i, bd = d;
    }
    wparams w = ws->p[r][best];
    w.m.row_spread *= exp(JITTER * gauss(g0));
    w.m.col_spread *= exp(JITTER * gauss(g0));
    w.m.scale *= exp(JITTER * gauss(g0));
    w.m.loc += JITTER * (w.logd ? 1.0 : w.m.scale) * gauss(g0);
    w.h = w.h + JITTER * 0.1 * gauss(g0);
    for (int q = 0; q < w.n_spikes; q++) w.spike[q] *= exp(JITTER * gauss(g0));
    return w;
}

static px_status draw_matrix(const px_wstats *ws, px_wrole role, int rank, const int64_t *dims, int out_axis,
                             px_rng *rng, float *dst)
{
    mview v = view_of(rank, dims, out_axis);
    noise g0 = make_noise(ws, 0, rng);
    px_wrole from;
    wparams w = pick_params(ws, role, log((double)v.n), &g0, &from);
    double lsig = ws && ws->n[from] && px_wrole_is_matrix(from)
                      ? ws->a[from] + ws->b[from] * log((double)v.n) + ws->resid[from] * gauss(&g0)
                      : -0.5 * log((double)v.n);
    double sigma = exp(lsig);
    int ns = v.m >= 8 && v.n >= 8 ? w.n_spikes : 0;
    double etot = 0;
    for (int q = 0; q < ns; q++) etot += w.spike[q];
    if (etot > 0.9) {
        for (int q = 0; q < ns; q++) w.spike[q] *= 0.9 / etot;
        etot = 0.9;
    }
    int64_t nch = v.n / v.K;
    size_t need = (size_t)v.m * (1 + (size_t)ns) + (size_t)v.n * (1 + (size_t)ns) + (size_t)nch;
    float *buf = malloc(sizeof *buf * (need ? need : 1));
    if (!buf) return px_nomem();
    float *r = buf, *u = r + v.m, *cj = u + (size_t)ns * v.m, *vv = cj + v.n, *cch = vv + (size_t)ns * v.n;
    /* channel scales, log-normal, mean square 1 */
    double acc = 0;
    for (int64_t i = 0; i < v.m; i++) {
        r[i] = (float)exp(w.m.row_spread * gauss(&g0));
        acc += (double)r[i] * r[i];
    }
    double rn = sqrt(acc / v.m);
    acc = 0;
    for (int64_t k = 0; k < nch; k++) {
        cch[k] = (float)exp(w.m.col_spread * gauss(&g0));
        acc += (double)cch[k] * cch[k];
    }
    double cn = sqrt(acc / nch);
    for (int64_t j = 0; j < v.n; j++) cj[j] = (float)(cch[j / v.K] / cn);
    /* rank-one directions: unit vectors, amplitude sqrt(e m n) */
    for (int q = 0; q < ns; q++) {
        double su = 0, sv = 0;
        float *uq = u + (size_t)q * v.m, *vq = vv + (size_t)q * v.n;
        for (int64_t i = 0; i < v.m; i++) {
            uq[i] = (float)gauss(&g0);
            su += (double)uq[i] * uq[i];
        }
        for (int64_t j = 0; j < v.n; j++) {
            vq[j] = (float)gauss(&g0);
            sv += (double)vq[j] * vq[j];
        }
        double amp = sqrt(w.spike[q] * (double)v.m * (double)v.n) / sqrt(su * sv > 0 ? su * sv : 1);
        for (int64_t i = 0; i < v.m; i++) uq[i] = (float)(uq[i] * amp);
    }
    noise nz = make_noise(ws, w.h, rng);
    float tscale = (float)sqrt(1 - etot), mean = (float)(w.mean_rel * sigma);
    for (int64_t i = 0; i < v.m; i++) r[i] = (float)(sigma * r[i] / rn);
    /* storage order: p, then i, then q.  A run is contiguous: over q (j
     * varies; the row's scale and spike coefficients are constants) or,
     * when post is 1 (output channels last, MatMul), over i. */
    int by_row = v.post > 1 || v.pre == 1;
    int64_t outer = by_row ? v.pre * v.m : v.pre, len = by_row ? v.post : v.m;
    for (int64_t o = 0; o < outer; o++) {
        int64_t p = by_row ? o / v.m : o, i = by_row ? o % v.m : 0;
        float *run = dst + o * len;
        noise_fill(&nz, run, len, tscale);
        for (int q = 0; q < ns; q++) {
            /* by row: u_q[i] v_q[j..]; by column: v_q[p] u_q[..] */
            float coef = by_row ? u[q * v.m + i] : vv[(size_t)q * v.n + p];
            const float *vec = by_row ? vv + (size_t)q * v.n + p * v.post : u + (size_t)q * v.m;
            for (int64_t e = 0; e < len; e++) run[e] += coef * vec[e];
        }
        if (by_row) {
            const float *cjp = cj + p * v.post;
            float ri = r[i];
            for (int64_t e = 0; e < len; e++) run[e] = run[e] * ri * cjp[e] + mean;
        } else {
            float cp = cj[p];
            for (int64_t e = 0; e < len; e++) run[e] = run[e] * cp * r[e] + mean;
        }
    }
    free(buf);
    return PX_OK;
}

px_status px_wstats_draw(const px_wstats *ws, px_wrole role, int rank, const int64_t *dims, int out_axis, px_rng *rng,
                         float *dst)
{
    if (role < 0 || role >= PX_WR_COUNT || rank < 0 || (rank && !dims))
        return px_fail(PX_ERR_USAGE, "weights: bad role or shape");
    int64_t numel = 1;
    for (int a = 0; a < rank; a++) {
        if (dims[a] < 0) return px_fail(PX_ERR_USAGE, "weights: negative dim");
        numel *= dims[a];
    }
    if (!numel) return PX_OK;
    if (px_wrole_is_matrix(role) && rank >= 2 && out_axis >= 0 && out_axis < rank && dims[out_axis] >= 2 &&
        numel / dims[out_axis] >= 2)
        return draw_matrix(ws, role, rank, dims, out_axis, rng, dst);
    if (px_wrole_is_matrix(role)) role = PX_WR_OTHER;
    noise g0 = make_noise(ws, 0, rng);
    px_wrole from;
    wparams w = pick_params(ws, role, 0, &g0, &from);
    noise nz = make_noise(ws, w.h, rng);
    noise_fill(&nz, dst, numel, (float)w.m.scale);
    for (int64_t i = 0; i < numel; i++) dst[i] = (float)(w.logd ? exp(w.m.loc + dst[i]) : w.m.loc + dst[i]);
    return PX_OK;
}
