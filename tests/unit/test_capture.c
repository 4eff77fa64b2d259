/* Types inference cannot tell: shape inference keeps what a value had
 * before (value_info, types from ONNX Runtime) where its rule knows less,
 * the com.microsoft QOperator rules, and bucket/capture's note when ONNX
 * Runtime is not asked (--no-probe).  The run through ONNX Runtime itself
 * is tested end to end in tests/integration/test_capture_types.py. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bucket/capture.h"
#include "shape/shape_infer.h"
#include "testing.h"

/* "N,3,?,224": numbers, symbols, ? for unknown; "" is a scalar. */
static int parse_dims(px_graph *g, const char *spec, px_dim *dims)
{
    int r = 0;
    for (const char *p = spec; *p;) {
        char tok[64];
        size_t n = strcspn(p, ",");
        memcpy(tok, p, n);
        tok[n] = 0;
        if (tok[0] == '?') dims[r] = (px_dim){-1, NULL};
        else if (tok[0] >= '0' && tok[0] <= '9') dims[r] = (px_dim){strtoll(tok, NULL, 10), NULL};
        else dims[r] = (px_dim){-1, px_arena_strdup(&g->arena, tok)};
        r++;
        p += n;
        if (*p == ',') p++;
    }
    return r;
}

static void set_type(px_graph *g, int v, px_dtype dt, const char *spec)
{
    px_dim dims[PX_MAX_RANK];
    g->values[v].dtype = dt;
    if (spec) px_shape_set(g, &g->values[v].shape, parse_dims(g, spec, dims), dims);
    else g->values[v].shape = (px_shape){-1, NULL};
}

static int input(px_graph *g, const char *name, px_dtype dt, const char *spec)
{
    int v = px_graph_add_value(g, name);
    set_type(g, v, dt, spec);
    px_graph_add_input(g, v);
    return v;
}

static int init_scalar(px_graph *g, const char *name, px_dtype dt)
{
    int v = px_graph_add_value(g, name);
    px_tensor *t = px_tensor_new(dt, 0, NULL);
    px_tensor_alloc_data(t);
    px_graph_add_init(g, v, t);
    g->values[v].dtype = dt;
    px_shape_set(g, &g->values[v].shape, 0, NULL);
    return v;
}

/* ins/outs: comma-separated names ("" between commas: omitted). */
static int node(px_graph *g, const char *domain, const char *op, const char *ins, const char *outs)
{
    static int k;
    char nm[32];
    snprintf(nm, sizeof nm, "n%d", k++);
    int nd = px_graph_add_node(g, op, domain, nm);
    int ids[32];
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass ? outs : ins;
        int n = 0;
        while (*p) {
            char tok[64];
            size_t len = strcspn(p, ",");
            memcpy(tok, p, len);
            tok[len] = 0;
            ids[n++] = tok[0] ? px_graph_value(g, tok) : -1;
            p += len;
            if (*p == ',') p++;
        }
        if (pass) px_node_set_outputs(g, nd, ids, n);
        else px_node_set_inputs(g, nd, ids, n);
    }
    return nd;
}

static void attr_int(px_graph *g, int nd, const char *name, int64_t v)
{
    px_attr a = {.name = name, .type = PX_ATTR_INT, .i = v};
    px_node_add_attr(g, nd, &a);
}

/* "float32 [N,4]" */
static void type_str(const px_value *v, char *buf, size_t cap)
{
    int o = snprintf(buf, cap, "%s ", px_dtype_name(v->dtype));
    if (v->shape.rank < 0) {
        snprintf(buf + o, cap - (size_t)o, "?");
        return;
    }
    o += snprintf(buf + o, cap - (size_t)o, "[");
    for (int i = 0; i < v->shape.rank; i++) {
        const px_dim *d = &v->shape.dims[i];
        if (d->v >= 0) o += snprintf(buf + o, cap - (size_t)o, "%s%lld", i ? "," : "", (long long)d->v);
        else o += snprintf(buf + o, cap - (size_t)o, "%s%s", i ? "," : "", d->sym ? d->sym : "?");
    }
    snprintf(buf + o, cap - (size_t)o, "]");
}

static const char *type_of(px_graph *g, const char *name)
{
    static char buf[256];
    int v = px_graph_find(g, name);
    if (v < 0) return "(none)";
    type_str(&g->values[v], buf, sizeof buf);
    return buf;
}

static px_graph *new_graph(void)
{
    px_graph *g = malloc(sizeof *g);
    px_graph_init(g);
    px_graph_set_opset(g, "", 17);
    px_graph_set_opset(g, "com.microsoft", 1);
    return g;
}

static void free_graph(px_graph *g)
{
    px_graph_free(g);
    free(g);
}

/* --- kept types ------------------------------------------------------------ */

static void test_prior_kept(void)
{
    px_graph *g = new_graph();
    input(g, "x", PX_DT_FLOAT, "N,4");
    node(g, "custom.domain", "Foo", "x", "y");
    node(g, "", "Relu", "y", "z");
    node(g, "", "Shape", "z", "s");
    px_shape_report rep;
    CHECK_EQ_INT(px_shape_infer(g, &rep), PX_OK);
    CHECK_EQ_INT(rep.n_unsupported, 1);
    CHECK_STR(type_of(g, "y"), "undefined ?");
    CHECK_STR(type_of(g, "z"), "undefined ?");
    /* what obfuscate sets from ONNX Runtime survives any number of runs */
    set_type(g, px_graph_find(g, "y"), PX_DT_UINT8, "ort_0,4");
    for (int run = 0; run < 3; run++) {
        CHECK_EQ_INT(px_shape_infer(g, &rep), PX_OK);
        CHECK_STR(type_of(g, "y"), "uint8 [ort_0,4]");
        CHECK_STR(type_of(g, "z"), "uint8 [ort_0,4]");
        CHECK_STR(type_of(g, "s"), "int64 [2]");
    }
    /* the input fixed (as --input-shape does): what follows the kept type
     * is inferred again from it */
    set_type(g, px_graph_find(g, "x"), PX_DT_FLOAT, "2,4");
    CHECK_EQ_INT(px_shape_infer(g, &rep), PX_OK);
    CHECK_STR(type_of(g, "y"), "uint8 [ort_0,4]");
    free_graph(g);
}

static void test_inference_wins(void)
{
    px_graph *g = new_graph();
    input(g, "x", PX_DT_FLOAT, "N,4");
    input(g, "t", PX_DT_INT64, "2");
    node(g, "", "Relu", "x", "r");
    node(g, "", "Reshape", "r,t", "q");
    /* a prior of another dtype than the rule infers is dropped */
    set_type(g, px_graph_find(g, "r"), PX_DT_INT64, "7");
    /* a rule that knows the rank but not the dims (a target read at run
     * time) takes known dims and symbols of the file from the prior; the
     * "unk__N" ones a run made up are not carried over */
    set_type(g, px_graph_find(g, "q"), PX_DT_FLOAT, "unk__0,N");
    CHECK_EQ_INT(px_shape_infer(g, NULL), PX_OK);
    CHECK_STR(type_of(g, "r"), "float32 [N,4]");
    int q = px_graph_find(g, "q");
    CHECK_EQ_INT(g->values[q].shape.rank, 2);
    CHECK_STR(g->values[q].shape.dims[1].sym, "N");
    CHECK(g->values[q].shape.dims[0].sym && strcmp(g->values[q].shape.dims[0].sym, "N"));
    /* a prior with another rank than the rule's is dropped */
    set_type(g, q, PX_DT_FLOAT, "3,3,3");
    CHECK_EQ_INT(px_shape_infer(g, NULL), PX_OK);
    CHECK_EQ_INT(g->values[q].shape.rank, 2);
    free_graph(g);
}

/* --- com.microsoft QOperator rules ------------------------------------------ */

static void test_qoperator_rules(void)
{
    px_graph *g = new_graph();
    input(g, "a", PX_DT_UINT8, "N,8,5,6");
    input(g, "b", PX_DT_UINT8, "1,8,1,1");
    input(g, "c", PX_DT_UINT8, "N,3,5,6");
    input(g, "m", PX_DT_INT8, "N,16");
    input(g, "w", PX_DT_INT8, "10,16");
    init_scalar(g, "s", PX_DT_FLOAT);
    init_scalar(g, "z", PX_DT_UINT8);
    init_scalar(g, "z8", PX_DT_INT8);
    node(g, "com.microsoft", "QLinearAdd", "a,s,z,b,s,z,s,z", "add");
    node(g, "com.microsoft", "QLinearMul", "a,s,,b,s,,s", "mul");
    node(g, "com.microsoft", "QLinearSigmoid", "add,s,z,s,z", "sig");
    node(g, "com.microsoft", "QLinearLeakyRelu", "sig,s,z,s,z", "lrelu");
    node(g, "com.microsoft", "QLinearSoftmax", "lrelu,s,z,s,z", "smax");
    node(g, "com.microsoft", "QLinearGlobalAveragePool", "a,s,z,s,z", "gap");
    attr_int(g, node(g, "com.microsoft", "QLinearGlobalAveragePool", "a,s,z,s,z", "gap_nhwc"), "channels_last", 1);
    attr_int(g, node(g, "com.microsoft", "QLinearConcat", "s,z,a,s,z,c,s,z", "cat"), "axis", 1);
    attr_int(g, node(g, "com.microsoft", "QGemm", "m,s,z8,w,s,z8", "gemm_f"), "transB", 1);
    attr_int(g, node(g, "com.microsoft", "QGemm", "m,s,z8,w,s,z8,,s,z8", "gemm_q"), "transB", 1);
    attr_int(g, node(g, "com.microsoft", "QLinearReduceMean", "a,s,z,s,z", "rmean"), "keepdims", 0);
    node(g, "com.microsoft", "DequantizeLinear", "a,s,z", "dq");
    node(g, "com.microsoft", "QuantizeLinear", "dq,s,z8", "q");
    px_shape_report rep;
    CHECK_EQ_INT(px_shape_infer(g, &rep), PX_OK);
    CHECK_EQ_INT(rep.n_unsupported, 0);
    CHECK_STR(type_of(g, "add"), "uint8 [N,8,5,6]");
    CHECK_STR(type_of(g, "mul"), "uint8 [N,8,5,6]");
    CHECK_STR(type_of(g, "smax"), "uint8 [N,8,5,6]");
    CHECK_STR(type_of(g, "gap"), "uint8 [N,8,1,1]");
    CHECK_STR(type_of(g, "gap_nhwc"), "uint8 [N,1,1,6]");
    CHECK_STR(type_of(g, "cat"), "uint8 [N,11,5,6]");
    int gf = px_graph_find(g, "gemm_f");
    CHECK_EQ_INT(g->values[gf].dtype, PX_DT_FLOAT);
    CHECK_EQ_INT(g->values[gf].shape.rank, 2);
    CHECK_STR(type_of(g, "gemm_q"), "int8 [N,10]");
    CHECK_STR(type_of(g, "rmean"), "uint8 []");
    CHECK_STR(type_of(g, "dq"), "float32 [N,8,5,6]");
    CHECK_STR(type_of(g, "q"), "int8 [N,8,5,6]");
    free_graph(g);

    /* shapes that do not fit fail, naming the node */
    g = new_graph();
    input(g, "a", PX_DT_UINT8, "2,8");
    input(g, "b", PX_DT_UINT8, "3,8");
    init_scalar(g, "s", PX_DT_FLOAT);
    node(g, "com.microsoft", "QLinearAdd", "a,s,,b,s,,s", "add");
    CHECK_EQ_INT(px_shape_infer(g, NULL), PX_ERR_SHAPE);
    CHECK_CONTAINS(px_last_error(), "QLinearAdd");
    free_graph(g);
}

/* --- bucket/capture without ONNX Runtime ------------------------------------- */

static void test_capture_not_asked(void)
{
    px_graph *g = new_graph();
    input(g, "x", PX_DT_FLOAT, "N,4");
    node(g, "custom.domain", "Foo", "x", "y");
    node(g, "", "Relu", "y", "z");
    int z = px_graph_find(g, "z");
    px_graph_add_output(g, z);
    g->values[z].flags |= PX_VAL_OUTPUT;
    px_shape_report rep;
    CHECK_EQ_INT(px_shape_infer(g, &rep), PX_OK);
    px_obfuscate_opts o = {.no_probe = 1, .model_path = "m.onnx"};
    px_capture_note note;
    CHECK_EQ_INT(px_capture_types(g, &o, &rep, &note), PX_OK);
    CHECK_EQ_INT(note.n_wanted, 2); /* y (read by Relu) and z (an output) */
    CHECK_EQ_INT(note.n_typed, 0);
    CHECK_EQ_INT(note.n_unknown, 2);
    CHECK_CONTAINS(note.why, "--no-probe");
    CHECK_STR(note.hint, "drop --no-probe");
    /* the reason goes into the error a cut at such a value meets, and only
     * into that kind of error */
    px_status st = px_capture_explain(&note, px_fail(PX_ERR_UNSUPPORTED, "cannot cut at value 'y': its type is unknown"));
    CHECK_EQ_INT(st, PX_ERR_UNSUPPORTED);
    CHECK_CONTAINS(px_last_error(), "cannot cut at value 'y': its type is unknown (with --no-probe");
    CHECK_CONTAINS(px_last_error(), "; drop --no-probe)");
    st = px_capture_explain(&note, px_fail(PX_ERR_IO, "bucket: cannot write"));
    CHECK_STR(px_last_error(), "bucket: cannot write");
    CHECK_EQ_INT(px_capture_explain(&note, PX_OK), PX_OK);
    free_graph(g);

    /* nothing untyped: nothing to ask, nothing to say */
    g = new_graph();
    input(g, "x", PX_DT_FLOAT, "N,4");
    node(g, "", "Relu", "x", "z");
    CHECK_EQ_INT(px_shape_infer(g, &rep), PX_OK);
    o.no_probe = 0;
    o.model_path = NULL;
    CHECK_EQ_INT(px_capture_types(g, &o, &rep, &note), PX_OK);
    CHECK_EQ_INT(note.n_wanted, 0);
    CHECK_STR(note.why, "");
    free_graph(g);
}

int main(void)
{
    RUN(test_prior_kept);
    RUN(test_inference_wins);
    RUN(test_qoperator_rules);
    RUN(test_capture_not_asked);
    return test_summary("capture");
}
