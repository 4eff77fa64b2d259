/* Channel scales, tails and value grid of mixed sentinel weights
 * (bucket/track_shape.h): the grid of a half-precision model is found and
 * a full-precision one has none; a near-Gaussian mix gets the generator's
 * kurtosis and channel scales back, keeping each channel's order; rounded
 * channels repeat values as often as the model's. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bucket/track_shape.h"
#include "ir/graph.h"
#include "testing.h"
#include "util/rng.h"

enum { OUT = 64, FAN = 288 }; /* a 64 x 32 x 3 x 3 kernel */

static double gauss(px_rng *r)
{
    double u1 = px_rng_unit(r), u2 = px_rng_unit(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* float32 rounded to half precision's 10 mantissa bits */
static float to_half_grid(double x)
{
    int e;
    double m = frexp(x, &e);
    return (float)ldexp(floor(m * 2048 + 0.5) / 2048, e);
}

/* x -> Conv(x, w) -> y with w [OUT, 32, 3, 3]: Gaussian entries, on a half
 * grid times a per-channel scale when half is set (a half-precision model
 * with its BatchNorms folded at export). */
static void conv_model(px_graph *g, int half, uint64_t seed)
{
    px_graph_init(g);
    int x = px_graph_add_value(g, "x"), y = px_graph_add_value(g, "y"), w = px_graph_add_value(g, "w");
    int64_t dims[4] = {OUT, 32, 3, 3};
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 4, dims);
    px_tensor_alloc_data(t);
    px_rng r;
    px_rng_seed(&r, seed);
    float *d = t->data;
    for (int o = 0; o < OUT; o++) {
        double s = 0.5 + px_rng_unit(&r);
        for (int i = 0; i < FAN; i++) {
            double v = 0.1 * gauss(&r);
            d[o * FAN + i] = half ? (float)(to_half_grid(v) * s) : (float)(v * s);
        }
    }
    px_graph_add_init(g, w, t);
    g->values[w].dtype = PX_DT_FLOAT;
    int nd = px_graph_add_node(g, "Conv", "", "n0");
    int ins[2] = {x, w};
    px_node_set_inputs(g, nd, ins, 2);
    px_node_set_outputs(g, nd, &y, 1);
}

static double kurt_of(const float *x, int64_t n)
{
    double m = 0, s2 = 0, s4 = 0;
    for (int64_t i = 0; i < n; i++) m += x[i];
    m /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = (x[i] - m) * (x[i] - m);
        s2 += d;
        s4 += d * d;
    }
    return (double)n * s4 / (s2 * s2) - 3;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Pairs of equal entries within channels, over pairs within channels. */
static double repeat_rate(const float *x, int m, int len)
{
    float *row = malloc(sizeof *row * (size_t)len);
    double rep = 0, pairs = 0;
    for (int r = 0; r < m; r++) {
        memcpy(row, x + (size_t)r * len, sizeof *row * (size_t)len);
        qsort(row, (size_t)len, sizeof *row, cmp_float);
        for (int i = 0; i < len;) {
            int j = i + 1;
            while (j < len && row[j] == row[i]) j++;
            rep += (double)(j - i) * (j - i - 1) / 2;
            i = j;
        }
        pairs += (double)len * (len - 1) / 2;
    }
    free(row);
    return rep / pairs;
}

static void test_grid_of(void)
{
    px_graph half, full;
    conv_model(&half, 1, 3);
    conv_model(&full, 0, 3);
    double q = px_track_grid_of(&half), q0 = px_track_grid_of(&full);
    /* the half grid's relative step is 2^-10 */
    CHECK(q > 0.5 / 1024 && q < 2.0 / 1024);
    CHECK(q0 == 0);
    px_graph_free(&half);
    px_graph_free(&full);
}

static void test_reshape_restores(void)
{
    int64_t dims[4] = {OUT, 32, 3, 3}, n = (int64_t)OUT * FAN;
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 4, dims);
    float *gen = malloc(sizeof *gen * (size_t)n), *mix = malloc(sizeof *mix * (size_t)n), *before = malloc(sizeof *before * (size_t)n);
    px_rng r;
    px_rng_seed(&r, 11);
    /* the generator: heavy tails (Laplace), channel scales 0.5-4x */
    for (int o = 0; o < OUT; o++) {
        double s = exp2(3.0 * o / OUT - 1);
        for (int i = 0; i < FAN; i++) {
            double u = px_rng_unit(&r) - 0.5;
            gen[o * FAN + i] = (float)(-s * copysign(log(1 - 2 * fabs(u) + 1e-300), u));
        }
    }
    /* the mix: Gaussian, one scale */
    for (int64_t e = 0; e < n; e++) before[e] = mix[e] = (float)(0.3 * gauss(&r));
    px_track_ref ref;
    CHECK(!px_track_ref_take(&ref, gen, n, t, 0));
    CHECK(ref.m == OUT && ref.post == FAN);
    CHECK(fabs(ref.kurt - kurt_of(gen, n)) < 0.3);
    px_rng g;
    px_rng_seed(&g, 5);
    CHECK(!px_track_reshape(mix, n, &ref, 1, 0, &g));
    /* tails: the generator's kurtosis (the mix had none) */
    CHECK(fabs(kurt_of(before, n)) < 0.3);
    CHECK(fabs(kurt_of(mix, n) - kurt_of(gen, n)) < 0.25 * kurt_of(gen, n) + 0.3);
    /* channel scales: the generator's */
    double worst = 0;
    for (int o = 0; o < OUT; o++) {
        double ss = 0;
        for (int i = 0; i < FAN; i++) ss += (double)mix[o * FAN + i] * mix[o * FAN + i];
        worst = fmax(worst, fabs(log(sqrt(ss / FAN) / ref.row_rms[o])));
    }
    CHECK(worst < 0.35);
    /* order within each channel kept (what follows the donor) */
    int kept = 1;
    for (int o = 0; o < OUT; o++)
        for (int i = 1; i < FAN; i++) {
            int a = o * FAN + i - 1, b = o * FAN + i;
            kept &= (before[a] < before[b]) == (mix[a] < mix[b]) || before[a] == before[b];
        }
    CHECK(kept);
    /* the grid: channels repeat values at about GRID_PAIR (0.1) times the step */
    const double q = 1.0 / 1024;
    CHECK(repeat_rate(mix, OUT, FAN) < 0.1 * q / 4);
    CHECK(!px_track_reshape(mix, n, &ref, 1, q, &g));
    double rate = repeat_rate(mix, OUT, FAN);
    CHECK(rate > 0.1 * q / 2 && rate < 0.1 * q * 2);
    px_track_ref_free(&ref);
    px_tensor_free(t);
    free(gen);
    free(mix);
    free(before);
}

/* A fake-quantized tensor (every value a multiple of one step, few
 * levels) has its step found; full-precision noise and a half grid have
 * none; rounding puts every value on the step. */
static void test_step_of(void)
{
    enum { N = 8192 };
    float *w = malloc(sizeof *w * N);
    px_rng r;
    px_rng_seed(&r, 9);
    const double step = 1.0 / 160;
    for (int i = 0; i < N; i++) w[i] = (float)(floor(0.05 * gauss(&r) / step + 0.5) * step);
    double got = px_track_step_of(w, N);
    CHECK(fabs(got - step) < 1e-6);
    for (int i = 0; i < N; i++) w[i] = (float)(0.05 * gauss(&r));
    CHECK(px_track_step_of(w, N) == 0);
    for (int i = 0; i < N; i++) w[i] = to_half_grid(0.05 * gauss(&r));
    CHECK(px_track_step_of(w, N) == 0);
    px_track_round_to(w, N, step);
    int on = 1;
    for (int i = 0; i < N; i++) {
        double k = w[i] / step;
        on &= fabs(k - floor(k + 0.5)) < 1e-3;
    }
    CHECK(on);
    free(w);
}

int main(void)
{
    RUN(test_step_of);
    RUN(test_grid_of);
    RUN(test_reshape_restores);
    return test_summary("test_track_shape");
}
