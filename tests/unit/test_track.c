/* Sentinel weights that follow the model's weights across versions (bucket/track.h). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bucket/track.h"
#include "ir/graph.h"
#include "testing.h"
#include "util/rng.h"

/* x -> OP(x, w[n]) -> y; w filled by fill(i) */
static void one_op(px_graph *g, const char *op, int64_t n, double (*fill)(int64_t, double), double eps)
{
    px_graph_init(g);
    int x = px_graph_add_value(g, "x"), y = px_graph_add_value(g, "y"), w = px_graph_add_value(g, "w");
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 1, &n);
    px_tensor_alloc_data(t);
    for (int64_t i = 0; i < n; i++) ((float *)t->data)[i] = (float)fill(i, eps);
    px_graph_add_init(g, w, t);
    int nd = px_graph_add_node(g, op, "", "n0");
    int ins[2] = {x, w};
    px_node_set_inputs(g, nd, ins, 2);
    px_node_set_outputs(g, nd, &y, 1);
}

/* a zero-mean "weight", and a positive "scale"; eps moves each element by
 * a relative amount drawn from a hash of its index */
static double jitter(int64_t i) { return sin((double)i * 12.9898) * 43758.5453 - floor(sin((double)i * 12.9898) * 43758.5453) - 0.5; }
static double weight(int64_t i, double eps) { return sin((double)i * 0.37) * 0.1 * (1.0 + eps * jitter(i)); }
static double scale(int64_t i, double eps) { return (1.0 + 0.2 * cos((double)i * 0.11)) * (1.0 + eps * jitter(i + 7)); }
static double generator(int64_t i, double eps) { (void)eps; return cos((double)i * 1.7) * 0.05; }
static double gen_pos(int64_t i, double eps) { (void)eps; return 0.5 + 0.1 * sin((double)i * 2.3); }

static const float *data(const px_graph *g) { return (const float *)g->values[g->inits[0]].init->data; }

static double rel(const px_graph *a, const px_graph *b, int64_t n)
{
    double d = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double u = data(a)[i], v = data(b)[i];
        d += (u - v) * (u - v);
        s += u * u;
    }
    return sqrt(d / s);
}

/* Two versions of one model: the sentinel moves by about the relative amount
 * the donor moved, identical models give identical sentinels, and the
 * generator's positive tensors stay positive. */
static void test_tracks_the_donor(void)
{
    const int64_t N = 4096, M = 2048;
    const double eps = 4e-3;
    for (int pos = 0; pos < 2; pos++) {
        const char *op = pos ? "BatchNormalization" : "Conv";
        double (*real)(int64_t, double) = pos ? scale : weight;
        px_graph m0, m1, s0, s1, s2;
        one_op(&m0, op, N, real, 0.0);
        one_op(&m1, op, N, real, eps);
        one_op(&s0, op, M, pos ? gen_pos : generator, 0.0);
        one_op(&s1, op, M, pos ? gen_pos : generator, 0.0);
        one_op(&s2, op, M, pos ? gen_pos : generator, 0.0);
        px_track_donors d0, d1;
        CHECK(!px_track_donors_init(&m0, &d0));
        CHECK(!px_track_donors_init(&m1, &d1));
        CHECK_EQ_INT(d0.n, 1);
        CHECK(!px_track_weights(&s0, &d0, 42));
        CHECK(!px_track_weights(&s1, &d0, 42));
        CHECK(!px_track_weights(&s2, &d1, 42));
        CHECK(!memcmp(data(&s0), data(&s1), (size_t)M * sizeof(float)));
        double real_move = rel(&m0, &m1, N), sent_move = rel(&s0, &s2, M);
        CHECK(sent_move > 0.7 * real_move && sent_move < 1.3 * real_move);
        int all_pos = 1;
        for (int64_t i = 0; i < M; i++) all_pos &= data(&s2)[i] > 0;
        if (pos) CHECK(all_pos);
        /* the sentinel is the generator's scale, not the donor's */
        double rs = 0, rg = 0;
        for (int64_t i = 0; i < M; i++) {
            rs += (double)data(&s0)[i] * data(&s0)[i];
            rg += generator(i, 0) * generator(i, 0);
        }
        if (!pos) CHECK(fabs(sqrt(rs / rg) - 1.0) < 0.2);
        px_track_donors_free(&d0);
        px_track_donors_free(&d1);
        px_graph_free(&m0);
        px_graph_free(&m1);
        px_graph_free(&s0);
        px_graph_free(&s1);
        px_graph_free(&s2);
    }
}

/* Shape-carrying slots keep the generator's values, in the model (no
 * donor) and in the sentinel (not re-drawn); no donor, no change. */
static void test_fixed_slots_and_no_donor(void)
{
    px_graph resize, conv, sent, empty;
    one_op(&resize, "Resize", 4, scale, 0.0);
    one_op(&conv, "Conv", 64, weight, 0.0);
    one_op(&sent, "Resize", 4, gen_pos, 0.0);
    px_graph_init(&empty);
    px_track_donors none, some, nothing;
    CHECK(!px_track_donors_init(&resize, &none));
    CHECK_EQ_INT(none.n, 0);
    CHECK(!px_track_donors_init(&conv, &some));
    CHECK_EQ_INT(some.n, 1);
    CHECK(!px_track_donors_init(&empty, &nothing));
    CHECK(!px_track_weights(&sent, &some, 1));
    for (int i = 0; i < 4; i++) CHECK(data(&sent)[i] == (float)gen_pos(i, 0));
    px_graph_free(&sent);
    one_op(&sent, "Conv", 8, generator, 0.0);
    CHECK(!px_track_weights(&sent, &none, 1));
    for (int i = 0; i < 8; i++) CHECK(data(&sent)[i] == (float)generator(i, 0));
    px_track_donors_free(&none);
    px_track_donors_free(&some);
    px_track_donors_free(&nothing);
    px_graph_free(&resize);
    px_graph_free(&conv);
    px_graph_free(&sent);
    px_graph_free(&empty);
}

/* Weights kept in Constant nodes (as some exporters write them) are donors too. */
static void test_constant_donor(void)
{
    px_graph m;
    px_graph_init(&m);
    int x = px_graph_add_value(&m, "x"), w = px_graph_add_value(&m, "w"), y = px_graph_add_value(&m, "y");
    int64_t n = 16;
    px_tensor t = {.dtype = PX_DT_FLOAT, .rank = 1, .dims = &n, .numel = n};
    float vals[16];
    for (int i = 0; i < 16; i++) vals[i] = (float)weight(i, 0);
    t.data = vals;
    t.nbytes = sizeof vals;
    int c = px_graph_add_node(&m, "Constant", "", "c0");
    px_node_set_outputs(&m, c, &w, 1);
    px_attr a = {.name = "value", .type = PX_ATTR_TENSOR, .t = &t};
    CHECK(!px_node_add_attr(&m, c, &a));
    int conv = px_graph_add_node(&m, "Conv", "", "n0");
    int ins[2] = {x, w};
    px_node_set_inputs(&m, conv, ins, 2);
    px_node_set_outputs(&m, conv, &y, 1);
    px_track_donors d;
    CHECK(!px_track_donors_init(&m, &d));
    CHECK_EQ_INT(d.n, 1);
    if (d.n == 1) {
        CHECK_STR(d.op[0], "Conv");
        CHECK_EQ_INT(d.slot[0], 1);
        CHECK_EQ_INT(d.numel[0], 16);
    }
    px_track_donors_free(&d);
    px_graph_free(&m);
}

/* x -> OP(x, inputs...) -> y with float initializers of the given shapes,
 * element (r, c) of input k (r the first index, c the rest) = fill(k, r, c). */
static void op_with(px_graph *g, const char *op, int n_in, const int64_t (*shape)[2],
                    double (*fill)(int, int64_t, int64_t))
{
    px_graph_init(g);
    int x = px_graph_add_value(g, "x"), y = px_graph_add_value(g, "y");
    int ins[4] = {x};
    for (int k = 0; k < n_in; k++) {
        char name[8] = {'w', (char)('0' + k), 0};
        ins[k + 1] = px_graph_add_value(g, name);
        int rank = shape[k][1] ? 2 : 1;
        px_tensor *t = px_tensor_new(PX_DT_FLOAT, rank, shape[k]);
        px_tensor_alloc_data(t);
        int64_t cols = rank == 2 ? shape[k][1] : 1;
        for (int64_t i = 0; i < t->numel; i++) ((float *)t->data)[i] = (float)fill(k, i / cols, i % cols);
        px_graph_add_init(g, ins[k + 1], t);
    }
    int nd = px_graph_add_node(g, op, "", "n0");
    px_node_set_inputs(g, nd, ins, n_in + 1);
    px_node_set_outputs(g, nd, &y, 1);
}

/* a trained-looking weight matrix: row r at scale 2^(r/4); a flat bias */
static double rows_apart(int k, int64_t r, int64_t c)
{
    return k == 0 ? pow(2.0, (double)r / 4.0) * jitter(r * 131 + c) : 0.5 + 0.01 * jitter(r);
}
static double gen_matrix(int k, int64_t r, int64_t c) { (void)k; return 0.05 * jitter(r * 977 + c * 3 + 1); }

/* A sentinel matrix is drawn row by row from a donor matrix (mixes of its
 * rows, not a vector, not a scatter of single elements): the donor's unequal row
 * scales carry over, here to a MatMul whose only donors (any role) are a
 * Conv's weight matrix and its bias. */
static void test_matrix_keeps_rows(void)
{
    const int64_t model_shapes[2][2] = {{16, 32}, {16, 0}}, sent_shape[1][2] = {{8, 16}};
    px_graph m, s;
    op_with(&m, "Conv", 2, model_shapes, rows_apart);
    op_with(&s, "MatMul", 1, sent_shape, gen_matrix);
    px_track_donors d;
    CHECK(!px_track_donors_init(&m, &d));
    CHECK_EQ_INT(d.n, 2);
    for (uint64_t key = 1; key <= 4; key++) {
        px_graph t;
        op_with(&t, "MatMul", 1, sent_shape, gen_matrix);
        CHECK(!px_track_weights(&t, &d, key));
        double lo = INFINITY, hi = 0;
        for (int r = 0; r < 8; r++) {
            double ss = 0;
            for (int c = 0; c < 16; c++) ss += (double)data(&t)[r * 16 + c] * data(&t)[r * 16 + c];
            lo = fmin(lo, sqrt(ss / 16));
            hi = fmax(hi, sqrt(ss / 16));
        }
        CHECK(hi > 2.0 * lo); /* 8 of 16 rows 2^(1/4) apart span at least 2^(7/4) */
        px_graph_free(&t);
    }
    px_track_donors_free(&d);
    px_graph_free(&m);
    px_graph_free(&s);
}

int main(void)
{
    RUN(test_matrix_keeps_rows);
    RUN(test_constant_donor);
    RUN(test_tracks_the_donor);
    RUN(test_fixed_slots_and_no_donor);
    return test_summary("test_track");
}
