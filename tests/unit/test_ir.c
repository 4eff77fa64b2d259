/* Graph IR and ONNX reader/writer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir/graph.h"
#include "onnx/onnx_io.h"
#include "testing.h"
#include "util/fileio.h"

/* x -> Conv(w, b) -> Relu -> y, with an INTS and a STRING attribute. */
static void build_small(px_graph *g)
{
    px_graph_init(g);
    g->ir_version = 8;
    px_graph_set_opset(g, "", 13);
    int x = px_graph_add_value(g, "x");
    g->values[x].dtype = PX_DT_FLOAT;
    int64_t xd[4] = {1, 3, 8, 8};
    px_shape_set_known(g, &g->values[x].shape, 4, xd);
    px_graph_add_input(g, x);
    int64_t wd[4] = {4, 3, 3, 3};
    px_tensor *w = px_tensor_new(PX_DT_FLOAT, 4, wd);
    px_tensor_alloc_data(w);
    for (int i = 0; i < 108; i++) ((float *)w->data)[i] = (float)i * 0.5f;
    int wv = px_graph_add_value(g, "w");
    px_graph_add_init(g, wv, w);
    int c = px_graph_add_value(g, "c"), y = px_graph_add_value(g, "y");
    int n0 = px_graph_add_node(g, "Conv", "", "conv0");
    int ins[2] = {x, wv};
    px_node_set_inputs(g, n0, ins, 2);
    px_node_set_outputs(g, n0, &c, 1);
    int64_t ks[2] = {3, 3};
    px_attr a = {.name = "kernel_shape", .type = PX_ATTR_INTS, .n = 2, .ints = ks};
    px_node_add_attr(g, n0, &a);
    px_attr s = {.name = "auto_pad", .type = PX_ATTR_STRING, .s = "SAME_UPPER", .s_len = 10};
    px_node_add_attr(g, n0, &s);
    int n1 = px_graph_add_node(g, "Relu", "", "relu0");
    px_node_set_inputs(g, n1, &c, 1);
    px_node_set_outputs(g, n1, &y, 1);
    g->values[y].dtype = PX_DT_FLOAT;
    px_graph_add_output(g, y);
}

static void test_build_and_roundtrip(void)
{
    px_graph g;
    build_small(&g);
    CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
    uint8_t *buf;
    size_t len;
    CHECK_EQ_INT(px_onnx_save_buffer(&g, NULL, &buf, &len), PX_OK);
    px_graph h;
    px_graph_init(&h);
    CHECK_EQ_INT(px_onnx_load_buffer(buf, len, NULL, "mem", &h), PX_OK);
    CHECK_EQ_INT(h.n_nodes, 2);
    CHECK_STR(h.nodes[0].op_type, "Conv");
    CHECK_STR(h.nodes[1].name, "relu0");
    CHECK_EQ_INT(h.n_inits, 1);
    const px_tensor *t = h.values[h.inits[0]].init;
    CHECK(t && t->data && t->nbytes == 108 * 4);
    if (t && t->data) CHECK(((float *)t->data)[107] == 53.5f);
    const px_attr *ks = px_node_attr(&h.nodes[0], "kernel_shape");
    CHECK(ks && ks->type == PX_ATTR_INTS && ks->n == 2 && ks->ints[1] == 3);
    CHECK_STR(px_attr_string(&h.nodes[0], "auto_pad", ""), "SAME_UPPER");
    CHECK_EQ_INT(px_graph_opset(&h, ""), 13);
    CHECK_EQ_INT(px_graph_opset(&h, "ai.onnx"), 13);
    int xi = px_graph_find(&h, "x");
    CHECK(xi >= 0 && h.values[xi].shape.rank == 4 && h.values[xi].shape.dims[1].v == 3);
    /* Saving the reloaded graph gives the same bytes. */
    uint8_t *buf2;
    size_t len2;
    CHECK_EQ_INT(px_onnx_save_buffer(&h, NULL, &buf2, &len2), PX_OK);
    CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
    free(buf2);
    free(buf);
    px_graph_free(&h);
    px_graph_free(&g);
}

/* Every truncation of a valid model fails cleanly with a parse error (the
 * sanitizer build turns any overread into a failure here). */
static void test_truncated_prefixes(void)
{
    px_graph g;
    build_small(&g);
    uint8_t *buf;
    size_t len;
    px_onnx_save_buffer(&g, NULL, &buf, &len);
    int ok_loads = 0, clean_failures = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        px_graph h;
        px_graph_init(&h);
        px_status st = px_onnx_load_buffer(copy, n, NULL, "cut", &h);
        if (st == PX_OK) ok_loads++;
        else if (st == PX_ERR_PARSE || st == PX_ERR_INVALID) clean_failures++;
        CHECK(h.n_nodes == 0 || st == PX_OK); /* a failed load leaves the graph empty */
        px_graph_free(&h);
        free(copy);
    }
    /* A cut at a field boundary can be a valid (smaller) model; most cuts are not. */
    CHECK(clean_failures > (int)len / 2);
    CHECK_EQ_INT(ok_loads + clean_failures, (int)len);
    free(buf);
    px_graph_free(&g);
}

static void test_not_onnx(void)
{
    px_graph h;
    px_graph_init(&h);
    const char *text = "this is a text file, not a model\n";
    px_status st = px_onnx_load_buffer((const uint8_t *)text, strlen(text), NULL, "notes.txt", &h);
    CHECK_EQ_INT(st, PX_ERR_PARSE);
    CHECK_CONTAINS(px_last_error(), "notes.txt: not an ONNX model");
    st = px_onnx_load("/nonexistent/model.onnx", &h);
    CHECK_EQ_INT(st, PX_ERR_IO);
    CHECK_CONTAINS(px_last_error(), "/nonexistent/model.onnx");
    px_graph_free(&h);
}

static void test_structural_errors(void)
{
    /* dangling input */
    px_graph g;
    build_small(&g);
    int ghost = px_graph_add_value(&g, "ghost");
    int ins[2] = {g.nodes[1].inputs[0], ghost};
    px_node_set_inputs(&g, 1, ins, 2);
    CHECK_EQ_INT(px_graph_validate(&g), PX_ERR_INVALID);
    CHECK_CONTAINS(px_last_error(), "ghost");
    CHECK_CONTAINS(px_last_error(), "dangling");
    px_graph_free(&g);

    /* cycle: relu feeds back into conv */
    build_small(&g);
    int y = px_graph_find(&g, "y");
    int cyc[3] = {g.nodes[0].inputs[0], g.nodes[0].inputs[1], y};
    px_node_set_inputs(&g, 0, cyc, 3);
    CHECK_EQ_INT(px_graph_validate(&g), PX_ERR_INVALID);
    CHECK_CONTAINS(px_last_error(), "cycle");
    px_graph_free(&g);

    /* two producers of one value */
    build_small(&g);
    int c = px_graph_find(&g, "c");
    px_node_set_outputs(&g, 1, &c, 1);
    CHECK_EQ_INT(px_graph_validate(&g), PX_ERR_INVALID);
    CHECK_CONTAINS(px_last_error(), "produced twice");
    px_graph_free(&g);

    /* duplicate names are refused at creation */
    build_small(&g);
    CHECK_EQ_INT(px_graph_add_value(&g, "x"), -1);
    CHECK_CONTAINS(px_last_error(), "duplicate value name 'x'");
    px_graph_free(&g);
}

static void test_topo_order(void)
{
    px_graph g;
    build_small(&g);
    /* put relu first: the stable order still yields conv, relu */
    px_node tmp = g.nodes[0];
    g.nodes[0] = g.nodes[1];
    g.nodes[1] = tmp;
    g.index_valid = 0;
    int order[2];
    CHECK_EQ_INT(px_graph_topo_order(&g, order), PX_OK);
    CHECK_STR(g.nodes[order[0]].op_type, "Conv");
    CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
    CHECK_STR(g.nodes[0].op_type, "Conv");
    CHECK_EQ_INT(px_graph_index(&g), PX_OK);
    int c = px_graph_find(&g, "c");
    CHECK_EQ_INT(g.cons_start[c + 1] - g.cons_start[c], 1);
    CHECK_EQ_INT(g.values[c].producer, 0);
    px_graph_free(&g);
}

static char tmpdir[256];

static void write_model_with_external(const char *dir, const char *location)
{
    px_graph g;
    build_small(&g);
    px_save_opts o = {.force_external = 1, .external_min_bytes = 16};
    char *p = px_path_join(dir, "m.onnx");
    CHECK_EQ_INT(px_onnx_save(&g, p, &o), PX_OK);
    free(p);
    px_graph_free(&g);
    (void)location;
}

static void test_external_data(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/px_test_ext_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    write_model_with_external(tmpdir, NULL);
    char *model = px_path_join(tmpdir, "m.onnx"), *data = px_path_join(tmpdir, "m.onnx.data");
    struct stat sb;
    CHECK(stat(data, &sb) == 0 && sb.st_size >= 108 * 4);
    px_graph h;
    px_graph_init(&h);
    CHECK_EQ_INT(px_onnx_load(model, &h), PX_OK);
    CHECK(h.n_inits == 1 && h.values[h.inits[0]].init->data &&
          ((float *)h.values[h.inits[0]].init->data)[2] == 1.0f);
    px_graph_free(&h);

    /* The data file replaced by a symlink to a file outside the directory. */
    char outside[300];
    snprintf(outside, sizeof outside, "%s.outside", tmpdir);
    CHECK(rename(data, outside) == 0);
    CHECK(symlink(outside, data) == 0);
    px_graph_init(&h);
    CHECK_EQ_INT(px_onnx_load(model, &h), PX_ERR_SECURITY);
    CHECK_CONTAINS(px_last_error(), "outside the model's directory");
    px_graph_free(&h);
    unlink(data);
    unlink(outside);
    unlink(model);
    rmdir(tmpdir);
    free(model);
    free(data);
}

static void test_weightless_and_values(void)
{
    px_graph g;
    build_small(&g);
    px_tensor *w = g.values[g.inits[0]].init;
    free(w->data);
    w->data = NULL;
    w->nbytes = 0;
    uint8_t *buf;
    size_t len;
    CHECK_EQ_INT(px_onnx_save_buffer(&g, NULL, &buf, &len), PX_OK);
    px_graph h;
    px_graph_init(&h);
    CHECK_EQ_INT(px_onnx_load_buffer(buf, len, NULL, "mem", &h), PX_OK);
    CHECK(h.values[h.inits[0]].init->data == NULL);
    CHECK_EQ_INT(h.values[h.inits[0]].init->numel, 108);
    int64_t p, b;
    px_graph_param_count(&h, &p, &b);
    CHECK_EQ_INT(p, 108);
    CHECK_EQ_INT(b, 432);
    free(buf);
    px_graph_free(&h);
    px_graph_free(&g);
}

/* An empty STRING attribute arrives as NULL bytes from protobuf-c (found by
 * fuzzing: UBSan flagged memcpy from NULL). */
static void test_empty_string_attribute(void)
{
    px_graph g;
    build_small(&g);
    px_attr e = {.name = "empty", .type = PX_ATTR_STRING, .s = NULL, .s_len = 0};
    CHECK_EQ_INT(px_node_add_attr(&g, 1, &e), PX_OK);
    uint8_t *buf;
    size_t len;
    CHECK_EQ_INT(px_onnx_save_buffer(&g, NULL, &buf, &len), PX_OK);
    px_graph h;
    px_graph_init(&h);
    CHECK_EQ_INT(px_onnx_load_buffer(buf, len, NULL, "mem", &h), PX_OK);
    CHECK_STR(px_attr_string(&h.nodes[1], "empty", "x"), "");
    free(buf);
    px_graph_free(&h);
    px_graph_free(&g);
}

/* Saves g to a buffer and loads it back into h under the name "lim.onnx";
 * returns the load's status (h is left initialised either way). */
static px_status reload(px_graph *g, px_graph *h)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK_EQ_INT(px_onnx_save_buffer(g, NULL, &buf, &len), PX_OK);
    px_graph_init(h);
    px_status st = px_onnx_load_buffer(buf, len, NULL, "lim.onnx", h);
    free(buf);
    return st;
}

/* --max-nodes / --max-tensor-bytes / --max-total-bytes: one clear message
 * each, exact at the boundary, and the graph left empty. */
static void test_load_limits(void)
{
    px_load_limits d = px_load_limits_default();
    CHECK_EQ_INT(d.max_nodes, 1000000);
    CHECK_EQ_INT(d.max_tensor_bytes, (int64_t)16 << 30);
    CHECK_EQ_INT(px_get_load_limits().max_total_bytes, (int64_t)64 << 30);

    px_graph g, h;
    build_small(&g); /* 2 nodes, one 4x3x3x3 float32 initializer (432 bytes) */
    px_load_limits l = d;
    l.max_nodes = 2;
    px_set_load_limits(&l);
    CHECK_EQ_INT(reload(&g, &h), PX_OK);
    px_graph_free(&h);
    l.max_nodes = 1;
    px_set_load_limits(&l);
    CHECK_EQ_INT(reload(&g, &h), PX_ERR_LIMIT);
    CHECK_STR(px_last_error(), "lim.onnx: graph has 2 nodes, more than the limit of 1 (--max-nodes)");
    CHECK_EQ_INT(h.n_nodes, 0);
    px_graph_free(&h);

    l = d;
    l.max_tensor_bytes = 432;
    px_set_load_limits(&l);
    CHECK_EQ_INT(reload(&g, &h), PX_OK);
    px_graph_free(&h);
    l.max_tensor_bytes = 431;
    px_set_load_limits(&l);
    CHECK_EQ_INT(reload(&g, &h), PX_ERR_LIMIT);
    CHECK_STR(px_last_error(),
              "lim.onnx: tensor 'w' (4x3x3x3 of float32) has 432 bytes, more than the limit of 431 (--max-tensor-bytes)");
    px_graph_free(&h);

    /* A second tensor (a Constant's value) brings the total to 432 + 8. */
    int64_t cd[1] = {2};
    px_tensor *ct = px_tensor_new(PX_DT_FLOAT, 1, cd);
    px_tensor_alloc_data(ct);
    int cv = px_graph_add_value(&g, "k");
    int cn = px_graph_add_node(&g, "Constant", "", "const0");
    px_node_set_outputs(&g, cn, &cv, 1);
    px_attr ca = {.name = "value", .type = PX_ATTR_TENSOR, .t = ct};
    px_node_add_attr(&g, cn, &ca);
    px_tensor_free(ct);
    l = d;
    l.max_total_bytes = 440;
    px_set_load_limits(&l);
    CHECK_EQ_INT(reload(&g, &h), PX_OK);
    px_graph_free(&h);
    l.max_total_bytes = 439;
    px_set_load_limits(&l);
    CHECK_EQ_INT(reload(&g, &h), PX_ERR_LIMIT);
    CHECK_STR(px_last_error(), "lim.onnx: tensors hold at least 440 bytes in all (counting up to tensor 'w'), "
                               "more than the limit of 439 (--max-total-bytes)");
    px_graph_free(&h);

    /* A string tensor counts the bytes of its strings. */
    px_graph_free(&g);
    build_small(&g);
    int64_t sd[1] = {2};
    px_tensor *strs = px_tensor_new(PX_DT_STRING, 1, sd);
    px_tensor_alloc_data(strs);
    strs->strings[0] = strdup("hello");
    strs->strings[1] = strdup("world");
    strs->string_lens[0] = strs->string_lens[1] = 5;
    px_graph_add_init(&g, px_graph_add_value(&g, "words"), strs);
    l = d;
    l.max_tensor_bytes = 432;
    px_set_load_limits(&l);
    CHECK_EQ_INT(reload(&g, &h), PX_OK);
    px_graph_free(&h);
    l.max_tensor_bytes = 9;
    px_set_load_limits(&l);
    CHECK_EQ_INT(reload(&g, &h), PX_ERR_LIMIT); /* w comes first: 432 bytes */
    CHECK_CONTAINS(px_last_error(), "tensor 'w' (4x3x3x3 of float32) has 432 bytes");
    px_graph_free(&h);
    l.max_tensor_bytes = 1000;
    l.max_total_bytes = 441;
    px_set_load_limits(&l);
    CHECK_EQ_INT(reload(&g, &h), PX_ERR_LIMIT);
    CHECK_STR(px_last_error(), "lim.onnx: tensors hold at least 442 bytes in all (counting up to tensor 'words'), "
                               "more than the limit of 441 (--max-total-bytes)");
    px_graph_free(&h);

    /* <= 0 keeps a default; max_nodes is capped at the IR's PX_MAX_NODES. */
    l.max_nodes = (int64_t)1 << 40;
    l.max_tensor_bytes = 0;
    l.max_total_bytes = -5;
    px_set_load_limits(&l);
    CHECK_EQ_INT(px_get_load_limits().max_nodes, PX_MAX_NODES);
    CHECK_EQ_INT(px_get_load_limits().max_tensor_bytes, d.max_tensor_bytes);
    CHECK_EQ_INT(px_get_load_limits().max_total_bytes, d.max_total_bytes);
    px_set_load_limits(NULL);
    CHECK_EQ_INT(px_get_load_limits().max_nodes, d.max_nodes);
    px_graph_free(&g);
}

/* Dims near INT64_MAX in the loader: element counts and byte sizes are
 * computed without overflow and refused with a clear message. */
static void test_huge_dims(void)
{
    px_graph g, h;
    struct {
        int rank;
        int64_t dims[2];
        px_dtype dt;
        const char *msg;
    } cases[] = {
        {1, {INT64_MAX, 0}, PX_DT_FLOAT,
         "tensor 'big' (9223372036854775807 of float32) has more than 9223372036854775807 bytes, more than the limit of"},
        {2, {INT64_MAX, 2}, PX_DT_UINT8, "tensor 'big' has dims 9223372036854775807x2, whose element count overflows int64"},
        {2, {(int64_t)1 << 62, 2}, PX_DT_BOOL, "tensor 'big' has dims 4611686018427387904x2, whose element count overflows"},
        {1, {(int64_t)1 << 61, 0}, PX_DT_COMPLEX128, "has more than 9223372036854775807 bytes"},
        {1, {((int64_t)1 << 35) + 1, 0}, PX_DT_INT4, "(34359738369 of int4) has 17179869185 bytes, more than the limit of"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        build_small(&g);
        int v = px_graph_add_value(&g, "big");
        px_graph_add_init(&g, v, px_tensor_new(cases[k].dt, cases[k].rank, cases[k].dims)); /* weightless */
        CHECK_EQ_INT(reload(&g, &h), cases[k].dims[1] == 2 ? PX_ERR_INVALID : PX_ERR_LIMIT);
        CHECK_CONTAINS(px_last_error(), cases[k].msg);
        px_graph_free(&h);
        px_graph_free(&g);
    }

    /* With the byte limits raised out of the way, a raw_data length is
     * compared with a byte count that does not fit size_t arithmetic. */
    px_load_limits l = px_load_limits_default();
    l.max_tensor_bytes = l.max_total_bytes = (int64_t)1 << 62;
    px_set_load_limits(&l);
    build_small(&g);
    int64_t dims[1] = {(int64_t)1 << 61};
    px_tensor *t = px_tensor_new(PX_DT_UINT8, 1, dims);
    t->data = malloc(4);
    memset(t->data, 7, 4);
    t->nbytes = 4;
    px_graph_add_init(&g, px_graph_add_value(&g, "lie"), t);
    CHECK_EQ_INT(reload(&g, &h), PX_ERR_INVALID);
    CHECK_CONTAINS(px_last_error(), "tensor 'lie' holds 4 bytes for 2305843009213693952 elements of uint8");
    px_graph_free(&h);
    px_graph_free(&g);
    px_set_load_limits(NULL);

    /* A weightless INT64_MAX-element uint8 tensor is within the arithmetic
     * but over the default 16 GiB limit. */
    build_small(&g);
    int64_t m[1] = {INT64_MAX};
    px_graph_add_init(&g, px_graph_add_value(&g, "max"), px_tensor_new(PX_DT_UINT8, 1, m));
    CHECK_EQ_INT(reload(&g, &h), PX_ERR_LIMIT);
    CHECK_CONTAINS(px_last_error(), "tensor 'max' (9223372036854775807 of uint8) has 9223372036854775807 bytes, more "
                                    "than the limit of 17179869184 (--max-tensor-bytes)");
    px_graph_free(&h);
    px_graph_free(&g);

    /* Declared value shapes: each dim may be INT64_MAX, their product may not
     * pass it; a 0 dim or a symbol makes the product fine. */
    for (int k = 0; k < 3; k++) { /* INT64_MAX x 1 x N, INT64_MAX x 0 x ?, INT64_MAX x 2 x 1 */
        build_small(&g);
        int v = px_graph_add_value(&g, "wide");
        g.values[v].dtype = PX_DT_FLOAT;
        px_dim wd[3] = {{INT64_MAX, NULL}, {k == 0 ? 1 : k == 1 ? 0 : 2, NULL}, {-1, k == 0 ? "N" : NULL}};
        if (k == 2) wd[2].v = 1;
        px_shape_set(&g, &g.values[v].shape, 3, wd);
        px_graph_add_input(&g, v);
        px_status st = reload(&g, &h);
        CHECK_EQ_INT(st, k == 2 ? PX_ERR_INVALID : PX_OK);
        if (k == 2)
            CHECK_CONTAINS(px_last_error(),
                           "lim.onnx: value 'wide' has dims 9223372036854775807x2x1, whose element count overflows int64");
        else
            CHECK_EQ_INT(h.values[px_graph_find(&h, "wide")].shape.dims[0].v, INT64_MAX);
        px_graph_free(&h);
        px_graph_free(&g);
    }

    /* Parameter sums saturate instead of overflowing. */
    px_graph_init(&g);
    for (int k = 0; k < 3; k++) {
        char nm[16];
        snprintf(nm, sizeof nm, "p%d", k);
        int64_t pd[1] = {INT64_MAX / 2};
        px_graph_add_init(&g, px_graph_add_value(&g, nm), px_tensor_new(PX_DT_FLOAT, 1, pd));
    }
    int64_t p, b;
    px_graph_param_count(&g, &p, &b);
    CHECK_EQ_INT(p, INT64_MAX);
    CHECK_EQ_INT(b, INT64_MAX);
    px_graph_free(&g);
}

int main(void)
{
    RUN(test_empty_string_attribute);
    RUN(test_build_and_roundtrip);
    RUN(test_truncated_prefixes);
    RUN(test_not_onnx);
    RUN(test_structural_errors);
    RUN(test_topo_order);
    RUN(test_external_data);
    RUN(test_weightless_and_values);
    RUN(test_load_limits);
    RUN(test_huge_dims);
    return test_summary("ir");
}
