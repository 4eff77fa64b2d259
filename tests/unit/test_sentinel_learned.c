/* The learned sentinel generator: its model file's reader, and the
 * sampler's invariants (exact interface, no adapter ops, valid, weightless
 * like the model, deterministic) on parts of corpus models. */
#include <stdlib.h>
#include <string.h>

#include "ir/build.h"
#include "onnx/onnx_io.h"
#include "partition/extract.h"
#include "partition/partition.h"
#include "sentinel/pxg.h"
#include "sentinel/sentinel.h"
#include "shape/shape_infer.h"
#include "testing.h"

static void test_pxg_reader(void)
{
    static const char good[] = "pxg 1\n# comment\ninput fam a.onnx 00ff\nsize 12 5\nnext ^ Conv 7\nnext Conv Relu 3\n"
                               "attr Conv kernel 3 9\nattr Conv kernel 1 4\nattr ConvX kernel 5 1\nchan 64 2\n";
    px_generator *g;
    CHECK_EQ_INT(px_generator_parse(good, sizeof good - 1, "g.pxg", &g), PX_OK);
    CHECK(px_generator_count(g, "next ^ Conv") == 7);
    CHECK(px_generator_count(g, "next Conv Relu") == 3);
    CHECK(px_generator_count(g, "next Relu Conv") == 0);
    const char *w[8];
    double c[8];
    CHECK_EQ_INT(px_generator_values(g, "attr Conv kernel", w, c, 8), 2);
    CHECK_STR(w[0], "1");
    CHECK(c[1] == 9);
    CHECK_EQ_INT(px_generator_values(g, "size", w, c, 8), 1);
    px_generator_free(g);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"pxg 2\n", "g.pxg:1: not a proteus generator file of version 1"},
        {"pxg 1\nnext ^ Conv\n", "g.pxg:2: a next line has 3 words"},
        {"pxg 1\nsize 3 -1\n", "g.pxg:2: bad count '-1'"},
        {"pxg 1\nbogus 1 2\n", "g.pxg:2: unknown line kind 'bogus'"},
        {"pxg 1\nmotif Relu:x/Conv:p,c 1 2\n", "g.pxg:2: a motif line has 4 words"},
        {"pxg 1\nchan 3 1\nchan 3 2\n", "g.pxg: 'chan 3' twice"},
        {"", "g.pxg: empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(px_generator_parse(bad[i].text, strlen(bad[i].text), "g.pxg", &g) != PX_OK);
        CHECK(g == NULL);
        CHECK_CONTAINS(px_last_error(), bad[i].msg);
    }
    CHECK(px_generator_load("/nonexistent/x.pxg", &g) != PX_OK);
    CHECK_CONTAINS(px_last_error(), "/nonexistent/x.pxg");
}

static int same_value(const px_graph *a, int va, const px_graph *b, int vb)
{
    const px_value *x = &a->values[va], *y = &b->values[vb];
    if (x->dtype != y->dtype || x->shape.rank != y->shape.rank) return 0;
    for (int i = 0; i < x->shape.rank; i++) {
        px_dim p = x->shape.dims[i], q = y->shape.dims[i];
        if (p.v != q.v || !p.sym != !q.sym || (p.sym && strcmp(p.sym, q.sym))) return 0;
    }
    return 1;
}

/* A digest of a graph's ops, attributes' count and weights' bytes, to compare two draws. */
static unsigned long long fingerprint(const px_graph *s)
{
    unsigned long long h = 1469598103934665603ull;
    for (int i = 0; i < s->n_nodes; i++) {
        for (const char *c = s->nodes[i].op_type; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
        h = (h ^ (unsigned)s->nodes[i].n_attrs) * 1099511628211ull;
    }
    for (int i = 0; i < s->n_inits; i++) {
        const px_tensor *t = s->values[s->inits[i]].init;
        const unsigned char *d = t->data;
        for (int64_t j = 0; d && j < t->numel * 4 && j < 4096; j++) h = (h ^ d[j]) * 1099511628211ull;
    }
    return h;
}

/* The shipped generator file. */
static px_generator *load_default(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/data/generator/default.pxg", PX_SOURCE_ROOT);
    px_generator *gen = NULL;
    CHECK_EQ_INT(px_generator_load(path, &gen), PX_OK);
    return gen;
}

static void test_sampler_invariants(void)
{
    char path[512];
    px_generator *gen = load_default();
    if (!gen) return;
    setenv("PROTEUS_LEARNED_STRICT", "1", 1); /* a draw that does not fit is an error here, not the random stand-in */
    static const char *models[] = {"squeezenet1_1-op13", "resnet18-dyn-op17"};
    static const char *adapters[] = {"Expand", "Shape", "Gather"}; /* Reshape: heads only, not glue */
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        snprintf(path, sizeof path, "%s/corpus/models/%s.onnx", PX_SOURCE_ROOT, models[m]);
        px_graph g;
        px_graph_init(&g);
        CHECK_EQ_INT(px_onnx_load(path, &g), PX_OK);
        CHECK_EQ_INT(px_shape_infer(&g, NULL), PX_OK);
        CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
        px_partition part;
        px_partition_opts po = {.seed = 5};
        CHECK_EQ_INT(px_partition_graph(&g, &po, &part), PX_OK);
        int bad = 0;
        for (int p = 0; p < part.n_parts && p < 5; p++) { /* the first parts: a unit test, not the corpus sweep */
            px_graph sub;
            px_part_io io;
            CHECK_EQ_INT(px_extract_part(&g, &part, p, &sub, &io), PX_OK);
            for (int j = 0; j < 2; j++) {
                px_sentinel_opts so = {.kind = PX_SENTINEL_LEARNED, .weightless = j == 0, .generator = gen};
                px_graph s, s2;
                px_rng rng, rng2;
                px_rng_seed(&rng, (uint64_t)(p * 131 + j));
                px_rng_seed(&rng2, (uint64_t)(p * 131 + j));
                if (px_sentinel_generate(&so, &sub, &rng, &s) != PX_OK) {
                    printf("  %s part %d: %s\n", models[m], p, px_last_error());
                    bad++;
                    continue;
                }
                int ok = s.n_inputs == sub.n_inputs && s.n_outputs == sub.n_outputs && s.n_nodes > 0;
                for (int i = 0; ok && i < s.n_inputs; i++) ok = same_value(&s, s.inputs[i], &sub, sub.inputs[i]);
                for (int i = 0; ok && i < s.n_outputs; i++) ok = same_value(&s, s.outputs[i], &sub, sub.outputs[i]);
                ok = ok && px_graph_validate(&s) == PX_OK && px_shape_infer(&s, NULL) == PX_OK;
                for (int i = 0; ok && i < s.n_nodes; i++)
                    for (size_t a = 0; a < sizeof adapters / sizeof *adapters; a++) ok &= strcmp(s.nodes[i].op_type, adapters[a]) != 0;
                for (int i = 0; ok && i < s.n_inits; i++) {
                    const px_tensor *t = s.values[s.inits[i]].init;
                    if (t->dtype == PX_DT_FLOAT && t->numel > 16) ok = (t->data != NULL) == !so.weightless;
                }
                if (ok && px_sentinel_generate(&so, &sub, &rng2, &s2) == PX_OK) {
                    ok = fingerprint(&s) == fingerprint(&s2);
                    px_graph_free(&s2);
                } else {
                    ok = 0;
                }
                if (!ok) {
                    printf("  %s part %d draw %d: invariant broken\n", models[m], p, j);
                    bad++;
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
    unsetenv("PROTEUS_LEARNED_STRICT");
    px_generator_free(gen);
    CHECK_EQ_INT(px_sentinel_kind_from_name("learned"), PX_SENTINEL_LEARNED);
    CHECK_STR(px_sentinel_kind_name(PX_SENTINEL_LEARNED), "learned");
}

/* A value of dtype dt and known dims, as an input of g. */
static int add_input(px_graph *g, int *counter, px_dtype dt, int rank, const int64_t *dims)
{
    int v = px_build_value(g, counter);
    CHECK(v >= 0);
    g->values[v].dtype = dt;
    CHECK_EQ_INT(px_shape_set_known(g, &g->values[v].shape, rank, dims), PX_OK);
    CHECK_EQ_INT(px_graph_add_input(g, v), PX_OK);
    return v;
}

/* Shape arithmetic at the interface, as transformer exports cut it: an
 * int64 length and a shape vector come in and go out beside the hidden
 * states.  The sentinel computes them as exporters do (Shape, Gather,
 * Unsqueeze, Concat), never by casting a float tensor. */
static void test_int64_interface(void)
{
    px_generator *gen = load_default();
    if (!gen) return;
    px_graph real;
    px_graph_init(&real);
    int counter = 0, node, out[3];
    CHECK_EQ_INT(px_graph_set_opset(&real, "", 12), PX_OK); /* Unsqueeze's axes an attribute */
    int64_t hid[3] = {1, 128, 768}, four = 4;
    int x = add_input(&real, &counter, PX_DT_FLOAT, 3, hid);
    int len = add_input(&real, &counter, PX_DT_INT64, 0, NULL);
    int shp = add_input(&real, &counter, PX_DT_INT64, 1, &four);
    int ins[2] = {x, -1};
    CHECK_EQ_INT(px_build_node(&real, &counter, "Relu", ins, 1, &out[0], NULL), PX_OK);
    ins[0] = len;
    CHECK_EQ_INT(px_build_node(&real, &counter, "Unsqueeze", ins, 1, &out[1], &node), PX_OK);
    int64_t axis = 0;
    CHECK_EQ_INT(px_build_attr_ints(&real, node, "axes", &axis, 1), PX_OK);
    ins[0] = shp;
    CHECK_EQ_INT(px_build_node(&real, &counter, "Identity", ins, 1, &out[2], NULL), PX_OK);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(px_graph_add_output(&real, out[i]), PX_OK);
    CHECK_EQ_INT(px_shape_infer(&real, NULL), PX_OK);
    setenv("PROTEUS_LEARNED_STRICT", "1", 1);
    int made = 0, shaped = 0, cast = 0;
    for (int j = 0; j < 8; j++) {
        px_sentinel_opts so = {.kind = PX_SENTINEL_LEARNED, .weightless = 1, .generator = gen};
        px_graph s;
        px_rng rng;
        px_rng_seed(&rng, (uint64_t)(77 + j));
        if (px_sentinel_generate(&so, &real, &rng, &s) != PX_OK) {
            printf("  draw %d: %s\n", j, px_last_error());
            continue;
        }
        made++;
        int ok = s.n_inputs == 3 && s.n_outputs == 3;
        for (int i = 0; ok && i < 3; i++) ok = same_value(&s, s.inputs[i], &real, real.inputs[i]);
        for (int i = 0; ok && i < 3; i++) ok = same_value(&s, s.outputs[i], &real, real.outputs[i]);
        CHECK(ok && px_graph_validate(&s) == PX_OK && px_shape_infer(&s, NULL) == PX_OK);
        for (int i = 0; i < s.n_nodes; i++) {
            shaped += !strcmp(s.nodes[i].op_type, "Shape") || !strcmp(s.nodes[i].op_type, "Gather");
            /* a float cast to int64: the glue exporters never write */
            cast += !strcmp(s.nodes[i].op_type, "Cast") && px_attr_int(&s.nodes[i], "to", 0) == PX_DT_INT64;
        }
        px_graph_free(&s);
    }
    unsetenv("PROTEUS_LEARNED_STRICT");
    CHECK_EQ_INT(made, 8);
    CHECK(shaped > 0);
    CHECK_EQ_INT(cast, 0);
    px_graph_free(&real);
    px_generator_free(gen);
}

/* The weights of each part (the pool sentinel weight sizes are drawn
 * from): an initializer once per part however many of its nodes read it,
 * in every part that reads it, and Constant weights behind a replicated
 * constant cone (Constant -> Identity), as exporters write them. */
static void test_part_weights(void)
{
    px_graph g;
    px_graph_init(&g);
    int counter = 0, ins[2], a, b, c, w, k, kid, node_k, node_kid;
    int64_t dims[2] = {4, 4}, wd[2] = {4, 4}, kd = 6;
    int x = add_input(&g, &counter, PX_DT_FLOAT, 2, dims);
    CHECK_EQ_INT(px_build_init(&g, &counter, px_tensor_new(PX_DT_FLOAT, 2, wd), &w), PX_OK); /* 16 elements */
    CHECK_EQ_INT(px_build_constant(&g, &counter, px_tensor_new(PX_DT_FLOAT, 1, &kd), &k), PX_OK); /* 6 */
    node_k = g.n_nodes - 1;
    ins[0] = k;
    CHECK_EQ_INT(px_build_node(&g, &counter, "Identity", ins, 1, &kid, &node_kid), PX_OK);
    ins[0] = x, ins[1] = w;
    CHECK_EQ_INT(px_build_node(&g, &counter, "MatMul", ins, 2, &a, NULL), PX_OK); /* part 0 */
    ins[0] = a;
    CHECK_EQ_INT(px_build_node(&g, &counter, "MatMul", ins, 2, &b, NULL), PX_OK); /* part 1: w again */
    ins[0] = b;
    CHECK_EQ_INT(px_build_node(&g, &counter, "MatMul", ins, 2, &c, NULL), PX_OK); /* part 1: w once more */
    ins[0] = c, ins[1] = kid;
    CHECK_EQ_INT(px_build_node(&g, &counter, "Add", ins, 2, &a, NULL), PX_OK); /* part 1: the constant cone */
    int part_of[6];
    part_of[node_k] = part_of[node_kid] = -1; /* replicated, as the partitioner does with constants */
    for (int i = 0, p = 0; i < g.n_nodes; i++)
        if (i != node_k && i != node_kid) part_of[i] = p++ ? 1 : 0;
    int64_t *pw = NULL;
    CHECK_EQ_INT(px_part_weight_elems(&g, part_of, 2, &pw), PX_OK);
    CHECK(pw != NULL);
    if (pw) {
        CHECK_EQ_INT((int)pw[0], 16);
        CHECK_EQ_INT((int)pw[1], 16 + 6);
    }
    free(pw);
    CHECK_EQ_INT(px_part_weight_elems(&g, part_of, 0, &pw), PX_OK);
    CHECK(pw == NULL);
    px_graph_free(&g);
}

/* A scalar float constant v, as an initializer of g. */
static int scalar_init(px_graph *g, int *counter, float v)
{
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 0, NULL);
    CHECK(t && px_tensor_alloc_data(t) == PX_OK);
    *(float *)t->data = v;
    int out = -1;
    CHECK_EQ_INT(px_build_init(g, counter, t, &out), PX_OK);
    return out;
}

/* node op(a, b) of g (b < 0: unary); its output. */
static int op2(px_graph *g, int *counter, const char *op, int a, int b)
{
    int ins[2] = {a, b}, out = -1;
    CHECK_EQ_INT(px_build_node(g, counter, op, ins, b >= 0 ? 2 : 1, &out, NULL), PX_OK);
    return out;
}

/* Motifs (learned_motif.c): a model that writes its Gelu as Div, Erf, Add,
 * Mul, Mul gets that chain whole, with its exact constants, and never an
 * Erf alone (ONNX Runtime would leave it unfused); the interface stays
 * exact and the draw deterministic. */
static void test_motifs(void)
{
    static const char text[] = "pxg 1\nsize 5 10\nnext ^ Div 10\nnext Div Erf 10\nnext Erf Add 10\nnext Add Mul 10\n"
                               "next Mul Mul 10\nconst Div 10\nconst Add 10\nconst Mul 10\njoin Mul 10\n"
                               "motif Div:x,s1.414214/Erf:p/Add:p,s1/Mul:x,p/Mul:p,s0.5 10\n";
    px_generator *gen;
    CHECK_EQ_INT(px_generator_parse(text, sizeof text - 1, "m.pxg", &gen), PX_OK);
    if (!gen) return;
    /* the model: one Gelu; the real subgraph: its interface [1, 128, 768] -> same */
    px_graph model, real;
    px_graph_init(&model);
    px_graph_init(&real);
    int cm = 0, cr = 0;
    int64_t hid[3] = {1, 128, 768};
    CHECK_EQ_INT(px_graph_set_opset(&model, "", 17), PX_OK);
    CHECK_EQ_INT(px_graph_set_opset(&real, "", 17), PX_OK);
    int x = add_input(&model, &cm, PX_DT_FLOAT, 3, hid);
    int d = op2(&model, &cm, "Div", x, scalar_init(&model, &cm, 1.4142135f));
    int a = op2(&model, &cm, "Add", op2(&model, &cm, "Erf", d, -1), scalar_init(&model, &cm, 1.0f));
    CHECK_EQ_INT(px_graph_add_output(&model, op2(&model, &cm, "Mul", op2(&model, &cm, "Mul", x, a), scalar_init(&model, &cm, 0.5f))), PX_OK);
    CHECK_EQ_INT(px_shape_infer(&model, NULL), PX_OK);
    int rx = add_input(&real, &cr, PX_DT_FLOAT, 3, hid);
    CHECK_EQ_INT(px_graph_add_output(&real, op2(&real, &cr, "Relu", rx, -1)), PX_OK);
    CHECK_EQ_INT(px_shape_infer(&real, NULL), PX_OK);
    int gelus = 0, lone_erfs = 0;
    for (int j = 0; j < 6; j++) {
        px_sentinel_opts so = {.kind = PX_SENTINEL_LEARNED, .weightless = 1, .generator = gen, .model = &model};
        px_graph s, s2;
        px_rng rng, rng2;
        px_rng_seed(&rng, (uint64_t)(300 + j));
        px_rng_seed(&rng2, (uint64_t)(300 + j));
        if (px_sentinel_generate(&so, &real, &rng, &s) != PX_OK) {
            printf("  draw %d: %s\n", j, px_last_error());
            CHECK(0);
            continue;
        }
        CHECK(s.n_inputs == 1 && s.n_outputs == 1 && same_value(&s, s.inputs[0], &real, real.inputs[0]) &&
              same_value(&s, s.outputs[0], &real, real.outputs[0]));
        CHECK(px_graph_validate(&s) == PX_OK && px_shape_infer(&s, NULL) == PX_OK);
        for (int i = 0; i < s.n_nodes; i++) {
            if (strcmp(s.nodes[i].op_type, "Erf")) continue;
            int from = -1; /* the node whose output the Erf reads */
            for (int k = 0; k < s.n_nodes; k++)
                if (s.nodes[k].n_outputs > 0 && s.nodes[k].outputs[0] == s.nodes[i].inputs[0]) from = k;
            const px_node *dv = from >= 0 ? &s.nodes[from] : NULL;
            const px_tensor *t = dv && !strcmp(dv->op_type, "Div") ? s.values[dv->inputs[1]].init : NULL;
            if (t && t->data && *(const float *)t->data > 1.41421f && *(const float *)t->data < 1.41422f) gelus++;
            else lone_erfs++;
        }
        CHECK(px_sentinel_generate(&so, &real, &rng2, &s2) == PX_OK && fingerprint(&s) == fingerprint(&s2));
        px_graph_free(&s2);
        px_graph_free(&s);
    }
    CHECK(gelus > 0);
    CHECK_EQ_INT(lone_erfs, 0);
    px_graph_free(&model);
    px_graph_free(&real);
    px_generator_free(gen);
}

/* A float [n] initializer of g. */
static int floats_init(px_graph *g, int *counter, const float *v, int64_t n)
{
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 1, &n);
    CHECK(t && px_tensor_alloc_data(t) == PX_OK);
    if (n) memcpy(t->data, v, (size_t)n * sizeof *v);
    int out = -1;
    CHECK_EQ_INT(px_build_init(g, counter, t, &out), PX_OK);
    return out;
}

/* Pad, Resize and Squeeze (drawn only where the model writes them): a
 * model at opset 10, 11 and 13 that pads before an AveragePool, upsamples
 * by 2 and squeezes a pooled [N, C, 1, 1] gets sentinels with the three,
 * each written in its opset's form (pads, roi, scales and axes as inputs
 * or attributes), the Pad by the model's own pads; the interface stays
 * exact and the draw deterministic.  A model without them gets none. */
static void test_layout_ops(void)
{
    static const char text[] = "pxg 1\nsize 6 10\nnext ^ Pad 10\nnext Pad AveragePool 10\nnext AveragePool Resize 10\n"
                               "next Resize Relu 10\nnext Relu GlobalAveragePool 10\nnext GlobalAveragePool Squeeze 10\n"
                               "next ^ Relu 1\nattr AveragePool kernel 3 10\nattr AveragePool stride 1 10\n"
                               "attr AveragePool pad zero 10\n";
    px_generator *gen;
    CHECK_EQ_INT(px_generator_parse(text, sizeof text - 1, "l.pxg", &gen), PX_OK);
    if (!gen) return;
    static const int opsets[] = {10, 11, 13};
    for (int o = 0; o < 4; o++) {
        int opset = opsets[o < 3 ? o : 2], plain = o == 3; /* plain: the model has none of the three */
        px_graph model;
        px_graph_init(&model);
        int c = 0, node, ins[4], out;
        int64_t dims[4] = {1, 8, 8, 8}, pads[8] = {0, 0, 1, 1, 0, 0, 1, 1}, k3[2] = {3, 3}, zero4[4] = {0};
        CHECK_EQ_INT(px_graph_set_opset(&model, "", opset), PX_OK);
        int x = add_input(&model, &c, PX_DT_FLOAT, 4, dims);
        if (!plain) {
            ins[0] = x;
            if (opset >= 11) CHECK_EQ_INT(px_build_int64s(&model, &c, pads, 8, &ins[1]), PX_OK);
            CHECK_EQ_INT(px_build_node(&model, &c, "Pad", ins, opset >= 11 ? 2 : 1, &x, &node), PX_OK);
            if (opset < 11) CHECK_EQ_INT(px_build_attr_ints(&model, node, "pads", pads, 8), PX_OK);
            ins[0] = x;
            CHECK_EQ_INT(px_build_node(&model, &c, "AveragePool", ins, 1, &x, &node), PX_OK);
            CHECK_EQ_INT(px_build_attr_ints(&model, node, "kernel_shape", k3, 2), PX_OK);
            CHECK_EQ_INT(px_build_attr_ints(&model, node, "pads", zero4, 4), PX_OK);
            static const float scales[4] = {1, 1, 2, 2};
            ins[0] = x;
            ins[1] = opset >= 11 ? floats_init(&model, &c, NULL, 0) : floats_init(&model, &c, scales, 4);
            if (opset >= 11) ins[2] = floats_init(&model, &c, scales, 4);
            CHECK_EQ_INT(px_build_node(&model, &c, "Resize", ins, opset >= 11 ? 3 : 2, &x, &node), PX_OK);
        }
        x = op2(&model, &c, "GlobalAveragePool", op2(&model, &c, "Relu", x, -1), -1);
        int64_t axes[2] = {2, 3};
        ins[0] = x;
        if (opset >= 13) CHECK_EQ_INT(px_build_int64s(&model, &c, axes, 2, &ins[1]), PX_OK);
        CHECK_EQ_INT(px_build_node(&model, &c, plain ? "Flatten" : "Squeeze", ins, opset >= 13 && !plain ? 2 : 1, &out, &node), PX_OK);
        if (opset < 13 && !plain) CHECK_EQ_INT(px_build_attr_ints(&model, node, "axes", axes, 2), PX_OK);
        CHECK_EQ_INT(px_graph_add_output(&model, out), PX_OK);
        CHECK_EQ_INT(px_shape_infer(&model, NULL), PX_OK);
        int seen[3] = {0}, padded = 0;
        setenv("PROTEUS_LEARNED_STRICT", "1", 1);
        for (int j = 0; j < 8; j++) {
            px_sentinel_opts so = {.kind = PX_SENTINEL_LEARNED, .weightless = 1, .generator = gen, .model = &model};
            px_graph s, s2;
            px_rng rng, rng2;
            px_rng_seed(&rng, (uint64_t)(500 + j));
            px_rng_seed(&rng2, (uint64_t)(500 + j));
            if (px_sentinel_generate(&so, &model, &rng, &s) != PX_OK) {
                printf("  opset %d draw %d: %s\n", opset, j, px_last_error());
                CHECK(0);
                continue;
            }
            CHECK(same_value(&s, s.inputs[0], &model, model.inputs[0]) && same_value(&s, s.outputs[0], &model, model.outputs[0]));
            CHECK(px_graph_validate(&s) == PX_OK && px_shape_infer(&s, NULL) == PX_OK);
            for (int i = 0; i < s.n_nodes; i++) {
                const px_node *n = &s.nodes[i];
                int pad = !strcmp(n->op_type, "Pad"), rs = !strcmp(n->op_type, "Resize"), sq = !strcmp(n->op_type, "Squeeze");
                seen[0] += pad, seen[1] += rs, seen[2] += sq;
                /* inputs (the optional roi may be left out) as the opset has them */
                int want = pad ? (opset >= 11 ? 2 : 1) : rs ? (opset >= 11 ? 3 : 2) : sq ? (opset >= 13 ? 2 : 1) : -1;
                if (want >= 0) CHECK_EQ_INT(n->n_inputs, want);
                if (pad) {
                    int np = 0;
                    const int64_t *pp = opset < 11 ? px_attr_ints(n, "pads", &np) : NULL;
                    if (opset >= 11 && s.values[n->inputs[1]].init) pp = s.values[n->inputs[1]].init->data, np = 8;
                    padded += pp && np == 8 && pp[2] == 1 && pp[3] == 1 && pp[6] == 1;
                }
            }
            CHECK(px_sentinel_generate(&so, &model, &rng2, &s2) == PX_OK && fingerprint(&s) == fingerprint(&s2));
            px_graph_free(&s2);
            px_graph_free(&s);
        }
        unsetenv("PROTEUS_LEARNED_STRICT");
        if (plain) {
            CHECK_EQ_INT(seen[0] + seen[1] + seen[2], 0);
        } else {
            printf("  opset %d: Pad %d (by the model's pads %d), Resize %d, Squeeze %d in 8 sentinels\n", opset, seen[0], padded, seen[1], seen[2]);
            CHECK(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
            CHECK(padded > 0);
        }
        px_graph_free(&model);
    }
    px_generator_free(gen);
}

int main(void)
{
    RUN(test_part_weights);
    RUN(test_pxg_reader);
    RUN(test_sampler_invariants);
    RUN(test_int64_interface);
    RUN(test_motifs);
    RUN(test_layout_ops);
    return test_summary("sentinel_learned");
}
