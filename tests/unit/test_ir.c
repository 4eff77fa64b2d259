/* Graph IR and ONNX reader/writer. */
#include <stdint.h>
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
    return test_summary("ir");
}
