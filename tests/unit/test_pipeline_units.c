/* Partitioner, seam clean-up, JSON reader, key format. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bucket/key.h"
#include "ir/graph.h"
#include "onnx/onnx_io.h"
#include "partition/extract.h"
#include "partition/partition.h"
#include "sentinel/sentinel.h"
#include "shape/shape_infer.h"
#include "reassemble/seam.h"
#include "testing.h"
#include "util/jsonparse.h"

static int value(px_graph *g, const char *name)
{
    int v = px_graph_value(g, name);
    g->values[v].dtype = PX_DT_FLOAT;
    int64_t d[2] = {1, 8};
    px_shape_set_known(g, &g->values[v].shape, 2, d);
    return v;
}

static int node(px_graph *g, const char *op, const char *name, const char *in0, const char *in1, const char *out)
{
    int n = px_graph_add_node(g, op, "", name);
    int ins[2] = {value(g, in0), in1 ? value(g, in1) : -1};
    px_node_set_inputs(g, n, ins, in1 ? 2 : 1);
    int o = value(g, out);
    px_node_set_outputs(g, n, &o, 1);
    return n;
}

/* A chain of `len` Relu/Add diamonds: x -> a_i -> {b_i, c_i} -> d_i = Add(b_i, c_i) -> ... */
static void build_ladder(px_graph *g, int len)
{
    px_graph_init(g);
    g->ir_version = 8;
    px_graph_set_opset(g, "", 17);
    px_graph_add_input(g, value(g, "x"));
    char prev[32] = "x", a[32], b[32], c[32], d[32], na[32];
    for (int i = 0; i < len; i++) {
        snprintf(a, sizeof a, "a%d", i);
        snprintf(b, sizeof b, "b%d", i);
        snprintf(c, sizeof c, "c%d", i);
        snprintf(d, sizeof d, "d%d", i);
        snprintf(na, sizeof na, "na%d", i);
        node(g, "Relu", na, prev, NULL, a);
        snprintf(na, sizeof na, "nb%d", i);
        node(g, "Sigmoid", na, a, NULL, b);
        snprintf(na, sizeof na, "nc%d", i);
        node(g, "Tanh", na, a, NULL, c);
        snprintf(na, sizeof na, "nd%d", i);
        node(g, "Add", na, b, c, d);
        snprintf(prev, sizeof prev, "%s", d);
    }
    px_graph_add_output(g, px_graph_find(g, prev));
}

static void test_partition_convex_balanced_deterministic(void)
{
    px_graph g;
    build_ladder(&g, 30); /* 120 nodes */
    CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
    px_partition p1, p2, p3;
    px_partition_opts o = {.subgraph_size = 12, .seed = 7};
    CHECK_EQ_INT(px_partition_graph(&g, &o, &p1), PX_OK);
    CHECK_EQ_INT(px_partition_check_convex(&g, &p1), PX_OK);
    CHECK(p1.n_parts >= 8 && p1.n_parts <= 14);
    for (int i = 0; i < p1.n_parts; i++) CHECK(p1.part_size[i] >= 1 && p1.part_size[i] <= 18);
    /* parts are numbered topologically: no edge goes to a lower part */
    for (int i = 0; i < g.n_nodes; i++)
        for (int j = 0; j < g.nodes[i].n_inputs; j++) {
            int pr = g.values[g.nodes[i].inputs[j]].producer;
            if (pr >= 0) CHECK(p1.part_of[pr] <= p1.part_of[i]);
        }
    CHECK_EQ_INT(px_partition_graph(&g, &o, &p2), PX_OK);
    int same = 1;
    for (int i = 0; i < g.n_nodes; i++) same &= p1.part_of[i] == p2.part_of[i];
    CHECK(same);
    o.seed = 8;
    CHECK_EQ_INT(px_partition_graph(&g, &o, &p3), PX_OK);
    int differs = 0;
    for (int i = 0; i < g.n_nodes; i++) differs |= p1.part_of[i] != p3.part_of[i];
    CHECK(differs);
    /* -n asks for a count */
    px_partition p4;
    px_partition_opts o4 = {.n_parts = 4, .seed = 1};
    CHECK_EQ_INT(px_partition_graph(&g, &o4, &p4), PX_OK);
    CHECK_EQ_INT(p4.n_parts, 4);
    CHECK_EQ_INT(px_partition_check_convex(&g, &p4), PX_OK);
    px_partition_free(&p1);
    px_partition_free(&p2);
    px_partition_free(&p3);
    px_partition_free(&p4);
    px_graph_free(&g);
}

/* QDQ models: DequantizeLinear -> op -> QuantizeLinear becomes one
 * quantized op in ONNX Runtime; the partitioner never cuts inside it. */
/* Seam clean-up removes a ReorderOutput -> ReorderInput pair reached
 * through an Identity, but keeps the ReorderOutput while another reader of
 * the Identity's output (visited later) still needs it.  (A real-world OCR
 * model lost it and the stitched model did not load.) */
static void test_seam_keeps_a_still_read_producer(void)
{
    px_graph g;
    px_graph_init(&g);
    g.ir_version = 8;
    px_graph_set_opset(&g, "", 17);
    px_graph_add_input(&g, value(&g, "x"));
    px_graph_add_input(&g, value(&g, "z"));
    int ro = px_graph_add_node(&g, "ReorderOutput", "com.microsoft.nchwc", "ro");
    int in = value(&g, "x"), t0 = value(&g, "t0");
    px_node_set_inputs(&g, ro, &in, 1);
    px_node_set_outputs(&g, ro, &t0, 1);
    px_attr ch = {.name = "channels", .type = PX_ATTR_INT, .i = 8};
    px_node_add_attr(&g, ro, &ch);
    node(&g, "Identity", "id", "t0", NULL, "t1");
    int ri = px_graph_add_node(&g, "ReorderInput", "com.microsoft.nchwc", "ri");
    int t1 = px_graph_find(&g, "t1"), y1 = value(&g, "y1");
    px_node_set_inputs(&g, ri, &t1, 1);
    px_node_set_outputs(&g, ri, &y1, 1);
    /* the Concat also reads what the ReorderInput feeds: it comes after it */
    node(&g, "Relu", "after", "y1", NULL, "y1r");
    node(&g, "Concat", "cat", "t1", "y1r", "y2");
    px_graph_add_output(&g, px_graph_find(&g, "y2"));
    CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
    int removed = 0;
    CHECK_EQ_INT(px_seam_cleanup(&g, &removed), PX_OK);
    CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
    int has_ro = 0;
    for (int i = 0; i < g.n_nodes; i++) has_ro |= !strcmp(g.nodes[i].op_type, "ReorderOutput");
    CHECK(has_ro);
    px_graph_free(&g);
}

/* An empty opset-17 graph that may hold NCHWc nodes. */
static void nchwc_graph_init(px_graph *g)
{
    px_graph_init(g);
    g->ir_version = 8;
    px_graph_set_opset(g, "", 17);
    px_graph_set_opset(g, "com.microsoft.nchwc", 1);
}

static int nchwc_node(px_graph *g, const char *op, const char *name, const char *const *ins, int n_in,
                      const char *out)
{
    int n = px_graph_add_node(g, op, "com.microsoft.nchwc", name);
    int iv[4];
    for (int i = 0; i < n_in; i++) iv[i] = value(g, ins[i]);
    px_node_set_inputs(g, n, iv, n_in);
    int o = value(g, out);
    px_node_set_outputs(g, n, &o, 1);
    if (!strcmp(op, "ReorderOutput")) {
        px_attr ch = {.name = "channels", .type = PX_ATTR_INT, .i = 8};
        px_node_add_attr(g, n, &ch);
    }
    return n;
}

/* What stitching leaves where a cut separated a residual Add from the
 * convolution before it: Add(ReorderOutput(conv), ReorderOutput(skip)) ->
 * Relu -> ReorderInput.  variant 0: fusable; 1: the convolution already has
 * an activation on both sides; 2: the skip has another shape (broadcast). */
static void build_residual(px_graph *g, int variant)
{
    nchwc_graph_init(g);
    const char *inputs[6] = {"x", "w", "b", "w2", "b2", "w3"};
    for (int i = 0; i < 6; i++) px_graph_add_input(g, value(g, inputs[i]));
    const char *c_in[3] = {"x", "w", "b"}, *t_in[3] = {"x", "w2", "b2"}, *ro_c[1] = {"c"}, *ro_t[1] = {"t"},
               *ri[1] = {"r"}, *last[2] = {"q", "w3"}, *ro_o[1] = {"o"};
    int conv = nchwc_node(g, "Conv", "conv", c_in, 3, "c");
    int skip = nchwc_node(g, "Conv", "skip", t_in, 3, "t");
    px_attr relu = {.name = "activation", .type = PX_ATTR_STRING, .s = "Relu", .s_len = 4};
    px_node_add_attr(g, skip, &relu);
    if (variant == 1) px_node_add_attr(g, conv, &relu);
    nchwc_node(g, "ReorderOutput", "ro_c", ro_c, 1, "y");
    nchwc_node(g, "ReorderOutput", "ro_t", ro_t, 1, "s");
    node(g, "Add", "add", "y", "s", "a");
    if (variant == 2) { /* (after node(), which gives every value it names [1, 8]) */
        int64_t d[4] = {1, 8, 1, 1};
        px_shape_set_known(g, &g->values[px_graph_find(g, "s")].shape, 4, d);
    }
    node(g, "Relu", "relu", "a", NULL, "r");
    nchwc_node(g, "ReorderInput", "ri", ri, 1, "q");
    nchwc_node(g, "Conv", "next", last, 2, "o");
    nchwc_node(g, "ReorderOutput", "ro_o", ro_o, 1, "out");
    px_graph_add_output(g, px_graph_find(g, "out"));
}

static int count_op(const px_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += !strcmp(g->nodes[i].op_type, op);
    return n;
}

/* The residual Add goes into the convolution as its Sum, the Relu as its
 * activation (what ONNX Runtime does inside one graph), and the reorder
 * pairs around it cancel; not when the convolution has an activation
 * already or the operands would broadcast. */
static void test_seam_fuses_residual_add(void)
{
    px_graph g;
    build_residual(&g, 0);
    CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
    int removed = 0;
    CHECK_EQ_INT(px_seam_cleanup(&g, &removed), PX_OK);
    CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
    CHECK_EQ_INT(count_op(&g, "Add"), 0);
    CHECK_EQ_INT(count_op(&g, "Relu"), 0);
    CHECK_EQ_INT(count_op(&g, "ReorderInput"), 0);
    CHECK_EQ_INT(count_op(&g, "ReorderOutput"), 1);
    CHECK_EQ_INT(g.n_nodes, 4);
    CHECK_EQ_INT(removed, 5); /* add, relu, ro_t; then ro_c with ri (a pair) */
    for (int i = 0; i < g.n_nodes; i++) {
        const px_node *n = &g.nodes[i];
        if (!strcmp(n->name, "conv")) {
            CHECK_EQ_INT(n->n_inputs, 4);
            CHECK_STR(g.values[n->inputs[3]].name, "t");
            CHECK_STR(px_attr_string(n, "activation", ""), "Relu");
        }
        if (!strcmp(n->name, "next")) CHECK_STR(g.values[n->inputs[0]].name, "c");
    }
    px_graph_free(&g);
    for (int variant = 1; variant <= 2; variant++) {
        build_residual(&g, variant);
        CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
        CHECK_EQ_INT(px_seam_cleanup(&g, &removed), PX_OK);
        CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
        CHECK_EQ_INT(count_op(&g, "Add"), 1);
        CHECK_EQ_INT(count_op(&g, "Relu"), 1);
        CHECK_EQ_INT(removed, 0);
        px_graph_free(&g);
    }
}

/* A channel Concat across a cut reads the blocked tensors directly when
 * every input fills whole blocks (multiples of 16 channels); the reorder
 * pair after it then cancels.  With 8 channels it stays as it is. */
static void test_seam_blocked_concat(void)
{
    for (int whole = 1; whole >= 0; whole--) {
        px_graph g;
        nchwc_graph_init(&g);
        const char *inputs[4] = {"x", "w", "w2", "w3"};
        for (int i = 0; i < 4; i++) px_graph_add_input(&g, value(&g, inputs[i]));
        const char *a_in[2] = {"x", "w"}, *b_in[2] = {"x", "w2"}, *ro_a[1] = {"a"}, *ro_b[1] = {"b"},
                   *ri[1] = {"cat"}, *last[2] = {"q", "w3"}, *ro_o[1] = {"o"};
        nchwc_node(&g, "Conv", "ca", a_in, 2, "a");
        nchwc_node(&g, "Conv", "cb", b_in, 2, "b");
        int r1 = nchwc_node(&g, "ReorderOutput", "ro_a", ro_a, 1, "ya");
        int r2 = nchwc_node(&g, "ReorderOutput", "ro_b", ro_b, 1, "yb");
        g.nodes[r1].attrs[0].i = whole ? 16 : 8;
        g.nodes[r2].attrs[0].i = whole ? 32 : 8;
        int cat = node(&g, "Concat", "concat", "ya", "yb", "cat");
        px_attr axis = {.name = "axis", .type = PX_ATTR_INT, .i = 1};
        px_node_add_attr(&g, cat, &axis);
        nchwc_node(&g, "ReorderInput", "ri", ri, 1, "q");
        int64_t d[4] = {1, 48, 4, 4}; /* (after every node(): it gives what it names [1, 8]) */
        const char *four[3] = {"ya", "yb", "cat"};
        for (int i = 0; i < 3; i++) px_shape_set_known(&g, &g.values[px_graph_find(&g, four[i])].shape, 4, d);
        nchwc_node(&g, "Conv", "next", last, 2, "o");
        nchwc_node(&g, "ReorderOutput", "ro_o", ro_o, 1, "out");
        px_graph_add_output(&g, px_graph_find(&g, "out"));
        CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
        int removed = 0;
        CHECK_EQ_INT(px_seam_cleanup(&g, &removed), PX_OK);
        CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
        CHECK_EQ_INT(count_op(&g, "ReorderInput"), whole ? 0 : 1);
        CHECK_EQ_INT(count_op(&g, "ReorderOutput"), whole ? 1 : 3);
        CHECK_EQ_INT(removed, whole ? 3 : 0); /* ro_a, ro_b; then the added ReorderOutput with ri */
        for (int i = 0; whole && i < g.n_nodes; i++) {
            const px_node *n = &g.nodes[i];
            if (!strcmp(n->op_type, "Concat")) {
                CHECK_STR(g.values[n->inputs[0]].name, "a");
                CHECK_STR(g.values[n->inputs[1]].name, "b");
            }
            if (!strcmp(n->name, "next")) CHECK_STR(g.nodes[g.values[n->inputs[0]].producer].op_type, "Concat");
        }
        px_graph_free(&g);
    }
}

static int channel_init(px_graph *g, const char *name, int64_t c, float v0, float step)
{
    int v = px_graph_value(g, name);
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 1, &c);
    px_tensor_alloc_data(t);
    for (int64_t k = 0; k < c; k++) ((float *)t->data)[k] = v0 + step * (float)k;
    g->values[v].dtype = PX_DT_FLOAT;
    px_graph_add_init(g, v, t);
    return v;
}

/* A BatchNormalization (+ Relu) between a reorder pair at a cut becomes
 * the depthwise NCHWc convolution ONNX Runtime makes of it in one graph:
 * weight scale/sqrt(var+eps), bias B-mean*weight, Relu as its activation;
 * the reorders then go.  With 8 channels (not whole blocks) it stays. */
static void test_seam_folds_batchnorm(void)
{
    for (int whole = 1; whole >= 0; whole--) {
        int64_t c = whole ? 16 : 8;
        px_graph g;
        nchwc_graph_init(&g);
        px_graph_add_input(&g, value(&g, "x"));
        px_graph_add_input(&g, value(&g, "w"));
        const char *c_in[2] = {"x", "w"}, *ro[1] = {"a"}, *ri[1] = {"r"}, *last[2] = {"q", "w"}, *ro_o[1] = {"o"};
        nchwc_node(&g, "Conv", "conv", c_in, 2, "a");
        int r1 = nchwc_node(&g, "ReorderOutput", "ro", ro, 1, "y");
        g.nodes[r1].attrs[0].i = c;
        int bn = px_graph_add_node(&g, "BatchNormalization", "", "bn");
        int ins[5] = {px_graph_find(&g, "y"), channel_init(&g, "s", c, 0.5f, 0.25f), channel_init(&g, "b", c, -1, 0.5f),
                      channel_init(&g, "m", c, 0.1f, 0.1f), channel_init(&g, "v", c, 1, 2)};
        px_node_set_inputs(&g, bn, ins, 5);
        int z = value(&g, "z");
        px_node_set_outputs(&g, bn, &z, 1);
        px_attr eps = {.name = "epsilon", .type = PX_ATTR_FLOAT, .f = 1e-3f};
        px_node_add_attr(&g, bn, &eps);
        node(&g, "Relu", "relu", "z", NULL, "r");
        nchwc_node(&g, "ReorderInput", "ri", ri, 1, "q");
        nchwc_node(&g, "Conv", "next", last, 2, "o");
        nchwc_node(&g, "ReorderOutput", "ro_o", ro_o, 1, "out");
        px_graph_add_output(&g, px_graph_find(&g, "out"));
        CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
        int removed = 0;
        CHECK_EQ_INT(px_seam_cleanup(&g, &removed), PX_OK);
        CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
        CHECK_EQ_INT(count_op(&g, "BatchNormalization"), whole ? 0 : 1);
        CHECK_EQ_INT(count_op(&g, "Relu"), whole ? 0 : 1);
        CHECK_EQ_INT(count_op(&g, "ReorderInput"), whole ? 0 : 1);
        CHECK_EQ_INT(count_op(&g, "ReorderOutput"), whole ? 1 : 2);
        CHECK_EQ_INT(count_op(&g, "Conv"), whole ? 3 : 2);
        for (int i = 0; whole && i < g.n_nodes; i++) {
            const px_node *n = &g.nodes[i];
            if (strcmp(n->op_type, "Conv") || px_attr_int(n, "group", 1) == 1) continue;
            CHECK_EQ_INT(px_attr_int(n, "group", 0), 16);
            CHECK_STR(px_node_attr(n, "activation")->s, "Relu");
            CHECK_STR(g.values[n->inputs[0]].name, "a");
            const px_tensor *w = g.values[n->inputs[1]].init, *b = g.values[n->inputs[2]].init;
            CHECK(w && b && w->rank == 4 && w->dims[0] == 16 && b->rank == 1 && b->dims[0] == 16);
            for (int k = 0; w && b && k < 16; k++) {
                double sd = sqrt(1.0 + 2.0 * k + 1e-3), wk = (0.5 + 0.25 * k) / sd;
                CHECK(fabs(((float *)w->data)[k] - wk) < 1e-5 * (1 + fabs(wk)));
                CHECK(fabs(((float *)b->data)[k] - (-1 + 0.5 * k - (0.1 + 0.1 * k) * wk)) < 1e-4);
            }
            CHECK_STR(g.nodes[g.values[px_graph_find(&g, "o")].producer].name, "next");
            CHECK(g.values[g.nodes[g.values[px_graph_find(&g, "o")].producer].inputs[0]].producer == i);
        }
        px_graph_free(&g);
    }
}

/* float -> float16 -> float around a cut value goes (an optimizer that
 * runs float16 ops in float put it there, and removes it in one graph);
 * the same pair inside a part stays: it rounds, and the part chose it. */
static void test_seam_float_cast_pair(void)
{
    for (int at_seam = 1; at_seam >= 0; at_seam--) {
        px_graph g;
        px_graph_init(&g);
        g.ir_version = 8;
        px_graph_set_opset(&g, "", 17);
        px_graph_add_input(&g, value(&g, "x"));
        node(&g, "Relu", "relu", "x", NULL, "a");
        int c1 = node(&g, "Cast", "to16", "a", NULL, "h");
        int c2 = node(&g, "Cast", "to32", "h", NULL, "c");
        px_attr to16 = {.name = "to", .type = PX_ATTR_INT, .i = PX_DT_FLOAT16}, to32 = {.name = "to", .type = PX_ATTR_INT, .i = PX_DT_FLOAT};
        px_node_add_attr(&g, c1, &to16);
        px_node_add_attr(&g, c2, &to32);
        int h = px_graph_find(&g, "h");
        g.values[h].dtype = PX_DT_FLOAT16;
        g.values[px_graph_find(&g, "a")].dtype = PX_DT_UNDEFINED; /* undeclared, as in an optimizer's file */
        if (at_seam) g.values[h].flags |= PX_VAL_SEAM;
        node(&g, "Sigmoid", "sig", "c", NULL, "out");
        px_graph_add_output(&g, px_graph_find(&g, "out"));
        CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
        int removed = 0;
        CHECK_EQ_INT(px_seam_cleanup(&g, &removed), PX_OK);
        CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
        CHECK_EQ_INT(count_op(&g, "Cast"), at_seam ? 0 : 2);
        CHECK_EQ_INT(removed, at_seam ? 2 : 0);
        if (at_seam) CHECK_STR(g.values[g.nodes[g.values[px_graph_find(&g, "out")].producer].inputs[0]].name, "a");
        px_graph_free(&g);
    }
}

/* x * HardSigmoid(x) after an NCHWc convolution becomes its HardSwish
 * activation; with other HardSigmoid constants it is not HardSwish. */
static void test_seam_fuses_hardswish(void)
{
    for (int exact = 1; exact >= 0; exact--) {
        px_graph g;
        nchwc_graph_init(&g);
        px_graph_add_input(&g, value(&g, "x"));
        px_graph_add_input(&g, value(&g, "w"));
        const char *c_in[2] = {"x", "w"}, *ro[1] = {"m"};
        nchwc_node(&g, "Conv", "conv", c_in, 2, "c");
        int hs = node(&g, "HardSigmoid", "hs", "c", NULL, "h");
        px_attr alpha = {.name = "alpha", .type = PX_ATTR_FLOAT, .f = exact ? (float)(1.0 / 6.0) : 0.2f};
        px_attr beta = {.name = "beta", .type = PX_ATTR_FLOAT, .f = 0.5f};
        px_node_add_attr(&g, hs, &alpha);
        px_node_add_attr(&g, hs, &beta);
        node(&g, "Mul", "mul", "h", "c", "m");
        nchwc_node(&g, "ReorderOutput", "ro", ro, 1, "out");
        px_graph_add_output(&g, px_graph_find(&g, "out"));
        CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
        int removed = 0;
        CHECK_EQ_INT(px_seam_cleanup(&g, &removed), PX_OK);
        CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
        CHECK_EQ_INT(removed, exact ? 2 : 0);
        CHECK_EQ_INT(g.n_nodes, exact ? 2 : 4);
        for (int i = 0; exact && i < g.n_nodes; i++)
            if (!strcmp(g.nodes[i].name, "conv")) {
                CHECK_STR(px_attr_string(&g.nodes[i], "activation", ""), "HardSwish");
                CHECK_STR(g.values[g.nodes[i].outputs[0]].name, "m");
            }
        px_graph_free(&g);
    }
}

static void test_partition_keeps_qdq_groups(void)
{
    px_graph g;
    px_graph_init(&g);
    g.ir_version = 8;
    px_graph_set_opset(&g, "", 17);
    px_graph_add_input(&g, value(&g, "x"));
    int64_t one = 1;
    px_tensor *sc = px_tensor_new(PX_DT_FLOAT, 0, &one);
    px_tensor_alloc_data(sc);
    px_graph_add_init(&g, px_graph_value(&g, "s"), sc);
    char prev[16] = "x";
    for (int i = 0; i < 30; i++) {
        char nm[16], q[16], dq[16], w[16], dw[16], mm[16];
        snprintf(q, sizeof q, "q%d", i);
        snprintf(dq, sizeof dq, "dq%d", i);
        snprintf(w, sizeof w, "w%d", i);
        snprintf(dw, sizeof dw, "dw%d", i);
        snprintf(mm, sizeof mm, "mm%d", i);
        int64_t d[2] = {8, 8};
        px_tensor *t = px_tensor_new(PX_DT_FLOAT, 2, d);
        px_tensor_alloc_data(t);
        px_graph_add_init(&g, px_graph_value(&g, w), t);
        snprintf(nm, sizeof nm, "Q%d", i);
        node(&g, "QuantizeLinear", nm, prev, "s", q);
        snprintf(nm, sizeof nm, "DQ%d", i);
        node(&g, "DequantizeLinear", nm, q, "s", dq);
        snprintf(nm, sizeof nm, "DQW%d", i);
        node(&g, "DequantizeLinear", nm, w, "s", dw);
        snprintf(nm, sizeof nm, "MM%d", i);
        node(&g, "MatMul", nm, dq, dw, mm);
        snprintf(prev, sizeof prev, "%s", mm);
    }
    char nm[16] = "Qlast";
    node(&g, "QuantizeLinear", nm, prev, "s", "qlast");
    px_graph_add_output(&g, px_graph_find(&g, "qlast"));
    for (int seed = 1; seed <= 4; seed++) {
        px_partition p;
        px_partition_opts o = {.subgraph_size = 5, .seed = (uint64_t)seed};
        CHECK_EQ_INT(px_partition_graph(&g, &o, &p), PX_OK);
        CHECK(p.n_parts >= 4);
        for (int i = 0; i < g.n_nodes; i++) {
            if (strcmp(g.nodes[i].op_type, "MatMul")) continue;
            int dqn = g.values[g.nodes[i].inputs[0]].producer;
            int v = g.nodes[i].outputs[0];
            int qn = g.cons[g.cons_start[v]];
            CHECK_EQ_INT(p.part_of[dqn], p.part_of[i]);
            CHECK_EQ_INT(p.part_of[qn], p.part_of[i]);
        }
        px_partition_free(&p);
    }
    px_graph_free(&g);
}

static void test_partition_keeps_fusions_and_replicates_constants(void)
{
    px_graph g;
    px_graph_init(&g);
    g.ir_version = 8;
    px_graph_set_opset(&g, "", 17);
    px_graph_add_input(&g, value(&g, "x"));
    char prev[16] = "x";
    for (int i = 0; i < 40; i++) {
        char w[16], c[16], r[16], nm[16];
        snprintf(w, sizeof w, "w%d", i);
        snprintf(c, sizeof c, "c%d", i);
        snprintf(r, sizeof r, "r%d", i);
        int64_t d[2] = {8, 8};
        px_tensor *t = px_tensor_new(PX_DT_FLOAT, 2, d);
        px_tensor_alloc_data(t);
        px_graph_add_init(&g, px_graph_value(&g, w), t);
        /* a Constant-only node (Identity of a weight) feeding the MatMul */
        char iw[16];
        snprintf(iw, sizeof iw, "iw%d", i);
        snprintf(nm, sizeof nm, "id%d", i);
        node(&g, "Identity", nm, w, NULL, iw);
        snprintf(nm, sizeof nm, "mm%d", i);
        node(&g, "MatMul", nm, prev, iw, c);
        snprintf(nm, sizeof nm, "relu%d", i);
        node(&g, "Relu", nm, c, NULL, r);
        snprintf(prev, sizeof prev, "%s", r);
    }
    px_graph_add_output(&g, px_graph_find(&g, prev));
    px_partition p;
    px_partition_opts o = {.subgraph_size = 6, .seed = 3};
    CHECK_EQ_INT(px_partition_graph(&g, &o, &p), PX_OK);
    for (int i = 0; i < g.n_nodes; i++) {
        if (!strcmp(g.nodes[i].op_type, "Identity")) CHECK_EQ_INT(p.part_of[i], -1);
        if (!strcmp(g.nodes[i].op_type, "Relu")) {
            int mm = g.values[g.nodes[i].inputs[0]].producer;
            /* MatMul -> (nothing fuses with Relu for MatMul) may be cut, but
             * never a Relu from its own MatMul when the pattern says so */
            CHECK(mm >= 0);
        }
    }
    CHECK(p.n_parts >= 8);
    px_partition_free(&p);
    px_graph_free(&g);
}

static void test_seam_rules(void)
{
    px_graph g;
    px_graph_init(&g);
    g.ir_version = 8;
    px_graph_set_opset(&g, "", 17);
    px_graph_add_input(&g, value(&g, "x"));
    int t1 = node(&g, "Transpose", "t1", "x", NULL, "y1");
    int t2 = node(&g, "Transpose", "t2", "y1", NULL, "y2");
    int64_t p1[4] = {0, 2, 3, 1}, p2[4] = {0, 3, 1, 2}, bad[4] = {0, 2, 3, 1};
    px_attr a1 = {.name = "perm", .type = PX_ATTR_INTS, .n = 4, .ints = p1};
    px_attr a2 = {.name = "perm", .type = PX_ATTR_INTS, .n = 4, .ints = p2};
    px_node_add_attr(&g, t1, &a1);
    px_node_add_attr(&g, t2, &a2);
    /* lossy Cast pair float -> float16 -> float must stay */
    int c1 = node(&g, "Cast", "c1", "y2", NULL, "h");
    int c2 = node(&g, "Cast", "c2", "h", NULL, "f");
    px_attr to16 = {.name = "to", .type = PX_ATTR_INT, .i = PX_DT_FLOAT16};
    px_attr to32 = {.name = "to", .type = PX_ATTR_INT, .i = PX_DT_FLOAT};
    px_node_add_attr(&g, c1, &to16);
    px_node_add_attr(&g, c2, &to32);
    /* lossless pair float -> double -> float goes */
    int c3 = node(&g, "Cast", "c3", "f", NULL, "dd");
    int c4 = node(&g, "Cast", "c4", "dd", NULL, "ff");
    px_attr to64 = {.name = "to", .type = PX_ATTR_INT, .i = PX_DT_DOUBLE};
    px_node_add_attr(&g, c3, &to64);
    px_node_add_attr(&g, c4, &to32);
    /* non-inverse transposes stay */
    int t3 = node(&g, "Transpose", "t3", "ff", NULL, "z1");
    int t4 = node(&g, "Transpose", "t4", "z1", NULL, "z2");
    px_attr a3 = {.name = "perm", .type = PX_ATTR_INTS, .n = 4, .ints = bad};
    px_node_add_attr(&g, t3, &a3);
    px_node_add_attr(&g, t4, &a3);
    node(&g, "Identity", "id", "z2", NULL, "out0");
    node(&g, "Relu", "relu", "out0", NULL, "out");
    px_graph_add_output(&g, px_graph_find(&g, "out"));
    g.values[px_graph_find(&g, "h")].dtype = PX_DT_FLOAT16;
    int removed = 0;
    CHECK_EQ_INT(px_seam_cleanup(&g, &removed), PX_OK);
    CHECK_EQ_INT(removed, 5); /* t1, t2, c3, c4, id */
    CHECK_EQ_INT(g.n_nodes, 5);
    CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
    int casts = 0, transposes = 0;
    for (int i = 0; i < g.n_nodes; i++) {
        casts += !strcmp(g.nodes[i].op_type, "Cast");
        transposes += !strcmp(g.nodes[i].op_type, "Transpose");
    }
    CHECK_EQ_INT(casts, 2);
    CHECK_EQ_INT(transposes, 2);
    /* the first remaining Cast now reads the graph input */
    for (int i = 0; i < g.n_nodes; i++)
        if (!strcmp(g.nodes[i].name, "c1")) CHECK_STR(g.values[g.nodes[i].inputs[0]].name, "x");
    px_graph_free(&g);
}

static void test_json_reader(void)
{
    px_arena ar;
    px_arena_init(&ar);
    px_jval *v;
    const char *ok = "{\"a\": [1, -2, 3.5e2, true, null, \"x\\u00e9\\n\"], \"b\": {}}";
    CHECK_EQ_INT(px_json_parse(&ar, ok, strlen(ok), "t", &v), PX_OK);
    const px_jval *a = px_json_get_arr(v, "a");
    CHECK(a && a->n == 6 && a->items[1]->is_int && a->items[1]->i == -2);
    CHECK(a && a->items[2]->num == 350.0 && !a->items[2]->is_int);
    CHECK(a && !strcmp(a->items[5]->s, "x\xc3\xa9\n"));
    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "\"abc", "[1] x", "nul", "{\"a\":\"\\u0000\"}", "[01x]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ_INT(px_json_parse(&ar, bad[i], strlen(bad[i]), "bad.json", &v), PX_ERR_PARSE);
        CHECK_CONTAINS(px_last_error(), "bad.json: invalid JSON at byte");
    }
    char deep[300];
    memset(deep, '[', sizeof deep);
    CHECK_EQ_INT(px_json_parse(&ar, deep, sizeof deep, "deep", &v), PX_ERR_PARSE);
    /* every prefix of a valid document fails cleanly */
    for (size_t n = 0; n < strlen(ok); n++) CHECK(px_json_parse(&ar, ok, n, "cut", &v) == PX_ERR_PARSE);
    px_arena_free(&ar);
}

static void test_key_roundtrip(void)
{
    px_key k;
    px_key_init(&k);
    k.ir_version = 8;
    px_opset ops[1] = {{"", 17}};
    k.opsets = ops;
    k.n_opsets = 1;
    k.producer_name = "p";
    k.producer_version = "1";
    k.graph_name = "g";
    px_dim dims[2] = {{1, NULL}, {-1, "batch"}};
    px_key_tensor t = {"in", PX_DT_FLOAT, {2, dims}};
    k.inputs = k.outputs = &t;
    k.n_inputs = k.n_outputs = 1;
    const char *sent[2] = {"s1.onnx", "s2.onnx"};
    px_key_part part = {.file = "abc.onnx", .n_inputs = 1, .n_outputs = 1, .inputs = &t, .outputs = &t,
                        .n_sentinels = 2, .sentinels = sent};
    k.parts = &part;
    k.n_parts = 1;
    k.k = 2;
    const char *files[3] = {"abc.onnx", "s1.onnx", "s2.onnx"};
    k.files = files;
    k.n_files = 3;
    char path[] = "/tmp/px_key_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    px_key_write(&k, f);
    fclose(f);
    px_key r;
    px_key_init(&r);
    CHECK_EQ_INT(px_key_read(path, &r), PX_OK);
    CHECK_EQ_INT(r.n_parts, 1);
    CHECK_STR(r.parts[0].file, "abc.onnx");
    CHECK_EQ_INT(r.parts[0].inputs[0].shape.rank, 2);
    CHECK_STR(r.parts[0].inputs[0].shape.dims[1].sym, "batch");
    CHECK_EQ_INT(r.opsets[0].version, 17);
    CHECK_EQ_INT(r.k, 2);
    CHECK_EQ_INT(r.parts[0].n_sentinels, 2);
    CHECK_STR(r.parts[0].sentinels[1], "s2.onnx");
    px_key_free(&r);
    /* a file list that is not n(k+1) long is refused */
    f = fopen(path, "w");
    fputs("{\"format\":\"proteus-key/1\",\"k\":1,\"model\":{\"ir_version\":8,\"opsets\":[],\"inputs\":[],\"outputs\":[]},"
          "\"parts\":[{\"file\":\"a.onnx\",\"inputs\":[],\"outputs\":[],\"sentinels\":[\"b.onnx\"]}],\"files\":[\"a.onnx\"]}", f);
    fclose(f);
    px_key_init(&r);
    CHECK_EQ_INT(px_key_read(path, &r), PX_ERR_PARSE);
    CHECK_CONTAINS(px_last_error(), "n(k+1)");
    px_key_free(&r);
    /* a key naming a file outside the bucket is refused */
    f = fopen(path, "w");
    fputs("{\"format\":\"proteus-key/1\",\"model\":{\"ir_version\":8,\"opsets\":[],\"inputs\":[],\"outputs\":[]},"
          "\"parts\":[{\"file\":\"../etc/passwd\",\"inputs\":[],\"outputs\":[]}],\"files\":[]}", f);
    fclose(f);
    px_key_init(&r);
    CHECK_EQ_INT(px_key_read(path, &r), PX_ERR_PARSE);
    CHECK_CONTAINS(px_last_error(), "not a proteus key");
    px_key_free(&r);
    unlink(path);
    px_arena_free(&k.arena);
}

static int same_interface_value(const px_graph *a, int va, const px_graph *b, int vb)
{
    const px_value *x = &a->values[va], *y = &b->values[vb];
    if (x->dtype != y->dtype || x->shape.rank != y->shape.rank) return 0;
    for (int i = 0; i < x->shape.rank; i++)
        if (x->shape.dims[i].v != y->shape.dims[i].v) return 0;
    return 1;
}

/* Every part of real corpus models gets sentinels with its exact interface
 * that validate and re-infer cleanly, with and without weight data. */
static void test_sentinel_generator(void)
{
    static const char *models[] = {"squeezenet1_1-op13", "distilbert-op17", "resnet18-dyn-op17", "gpt2-op13",
                                   "inception_v3-op17"};
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        char path[512];
        snprintf(path, sizeof path, "%s/corpus/models/%s.onnx", PX_SOURCE_ROOT, models[m]);
        px_graph g;
        px_graph_init(&g);
        CHECK_EQ_INT(px_onnx_load(path, &g), PX_OK);
        CHECK_EQ_INT(px_shape_infer(&g, NULL), PX_OK);
        CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
        px_partition part;
        px_partition_opts po = {.seed = 3};
        CHECK_EQ_INT(px_partition_graph(&g, &po, &part), PX_OK);
        int bad = 0;
        for (int p = 0; p < part.n_parts; p++) {
            px_graph sub;
            px_part_io io;
            CHECK_EQ_INT(px_extract_part(&g, &part, p, &sub, &io), PX_OK);
            for (int j = 0; j < 3; j++) {
                px_rng rng;
                px_rng_seed(&rng, (uint64_t)(p * 31 + j));
                px_sentinel_opts so = {.kind = PX_SENTINEL_RANDOM, .weightless = j != 2};
                px_graph s;
                if (px_sentinel_generate(&so, &sub, &rng, &s) != PX_OK) {
                    printf("  %s part %d: %s\n", models[m], p, px_last_error());
                    bad++;
                    continue;
                }
                int ok = s.n_inputs == sub.n_inputs && s.n_outputs == sub.n_outputs && s.n_nodes > 0;
                for (int i = 0; ok && i < s.n_inputs; i++) ok = same_interface_value(&s, s.inputs[i], &sub, sub.inputs[i]);
                for (int i = 0; ok && i < s.n_outputs; i++) ok = same_interface_value(&s, s.outputs[i], &sub, sub.outputs[i]);
                ok = ok && px_graph_validate(&s) == PX_OK && px_shape_infer(&s, NULL) == PX_OK;
                if (!ok) bad++;
                /* weights carry data exactly when asked to */
                for (int i = 0; ok && i < s.n_inits; i++) {
                    const px_tensor *t = s.values[s.inits[i]].init;
                    if (t->dtype == PX_DT_FLOAT && t->numel > 16 && (t->data != NULL) != !so.weightless) bad++;
                }
                px_graph_free(&s);
            }
            px_graph_free(&sub);
            px_part_io_free(&io);
        }
        CHECK_EQ_INT(bad, 0);
        px_partition_free(&part);
        px_graph_free(&g);
    }
    CHECK_EQ_INT(px_sentinel_kind_from_name("random"), PX_SENTINEL_RANDOM);
    CHECK_EQ_INT(px_sentinel_kind_from_name("nope"), -1);
}

int main(void)
{
    RUN(test_partition_convex_balanced_deterministic);
    RUN(test_partition_keeps_fusions_and_replicates_constants);
    RUN(test_partition_keeps_qdq_groups);
    RUN(test_seam_keeps_a_still_read_producer);
    RUN(test_seam_rules);
    RUN(test_seam_fuses_residual_add);
    RUN(test_seam_blocked_concat);
    RUN(test_seam_fuses_hardswish);
    RUN(test_seam_folds_batchnorm);
    RUN(test_seam_float_cast_pair);
    RUN(test_json_reader);
    RUN(test_key_roundtrip);
    RUN(test_sentinel_generator);
    return test_summary("pipeline");
}
