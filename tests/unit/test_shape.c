/* Shape and dtype inference: graphs built with the IR builder API, checked
 * against hand-computed shapes, plus the error cases (PX_ERR_SHAPE naming
 * the node), data propagation, symbols, overflow and speed. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shape/shape_infer.h"
#include "testing.h"

/* --- builders -------------------------------------------------------------- */

/* "N,3,?,224": numbers, symbols, ? for unknown; "" is a scalar. */
static int parse_dims(px_graph *g, const char *spec, px_dim *dims)
{
    int r = 0;
    const char *p = spec;
    while (*p) {
        char tok[64];
        size_t n = strcspn(p, ",");
        memcpy(tok, p, n);
        tok[n] = 0;
        if (tok[0] == '?') dims[r] = (px_dim){-1, NULL};
        else if ((tok[0] >= '0' && tok[0] <= '9')) dims[r] = (px_dim){strtoll(tok, NULL, 10), NULL};
        else dims[r] = (px_dim){-1, px_arena_strdup(&g->arena, tok)};
        r++;
        p += n;
        if (*p == ',') p++;
    }
    return r;
}

static int input(px_graph *g, const char *name, px_dtype dt, const char *spec)
{
    int v = px_graph_add_value(g, name);
    px_dim dims[PX_MAX_RANK];
    g->values[v].dtype = dt;
    if (spec) px_shape_set(g, &g->values[v].shape, parse_dims(g, spec, dims), dims);
    px_graph_add_input(g, v);
    return v;
}

static int split_ids(px_graph *g, const char *list, int *ids)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        char tok[64];
        size_t k = strcspn(p, ",");
        memcpy(tok, p, k);
        tok[k] = 0;
        ids[n++] = tok[0] ? px_graph_value(g, tok) : -1;
        p += k;
        if (*p == ',') {
            p++;
            if (!*p) ids[n++] = -1;
        }
    }
    return n;
}

static int node(px_graph *g, const char *op, const char *name, const char *ins, const char *outs)
{
    int nd = px_graph_add_node(g, op, "", name);
    int ids[32];
    px_node_set_inputs(g, nd, ids, split_ids(g, ins, ids));
    px_node_set_outputs(g, nd, ids, split_ids(g, outs, ids));
    return nd;
}

static void attr_int(px_graph *g, int nd, const char *name, int64_t v)
{
    px_attr a = {.name = name, .type = PX_ATTR_INT, .i = v};
    px_node_add_attr(g, nd, &a);
}

static void attr_ints(px_graph *g, int nd, const char *name, int n, ...)
{
    int64_t v[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) v[i] = va_arg(ap, int64_t);
    va_end(ap);
    px_attr a = {.name = name, .type = PX_ATTR_INTS, .n = n, .ints = v};
    px_node_add_attr(g, nd, &a);
}

static void attr_str(px_graph *g, int nd, const char *name, const char *s)
{
    px_attr a = {.name = name, .type = PX_ATTR_STRING, .s = s, .s_len = strlen(s)};
    px_node_add_attr(g, nd, &a);
}

static int init_ints(px_graph *g, const char *name, int rank, int n, ...)
{
    int64_t dims[1] = {n}, v[128];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) v[i] = va_arg(ap, int64_t);
    va_end(ap);
    px_tensor *t = px_tensor_new(PX_DT_INT64, rank, dims);
    px_tensor_alloc_data(t);
    memcpy(t->data, v, (size_t)n * sizeof *v);
    int id = px_graph_value(g, name);
    px_graph_add_init(g, id, t);
    return id;
}

static int init_floats(px_graph *g, const char *name, int n, ...)
{
    int64_t dims[1] = {n};
    float v[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) v[i] = (float)va_arg(ap, double);
    va_end(ap);
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 1, dims);
    px_tensor_alloc_data(t);
    memcpy(t->data, v, (size_t)n * sizeof *v);
    int id = px_graph_value(g, name);
    px_graph_add_init(g, id, t);
    return id;
}

/* A weightless float initializer (dims, no data), as in the corpus. */
static int weight(px_graph *g, const char *name, const char *spec)
{
    px_dim d[PX_MAX_RANK];
    int r = parse_dims(g, spec, d);
    int64_t dims[PX_MAX_RANK];
    for (int i = 0; i < r; i++) dims[i] = d[i].v;
    int id = px_graph_value(g, name);
    px_graph_add_init(g, id, px_tensor_new(PX_DT_FLOAT, r, dims));
    return id;
}

/* --- checks ---------------------------------------------------------------- */

static void shape_str(const px_value *v, char *buf, size_t cap)
{
    size_t n = 0;
    if (v->shape.rank < 0) {
        snprintf(buf, cap, "(unknown rank)");
        return;
    }
    for (int i = 0; i < v->shape.rank && n + 24 < cap; i++) {
        const px_dim *d = &v->shape.dims[i];
        if (d->v >= 0) n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)d->v);
        else n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "", d->sym ? d->sym : "?");
    }
    if (!v->shape.rank) snprintf(buf, cap, "(scalar)");
}

/* spec: numbers must match, names must match the symbol, "?" accepts any
 * symbolic or unknown dim; NULL spec = unknown rank. */
static int shape_matches(const px_value *v, px_graph *g, const char *spec)
{
    if (!spec) return v->shape.rank < 0;
    px_dim want[PX_MAX_RANK];
    int r = parse_dims(g, spec, want);
    if (v->shape.rank != r) return 0;
    for (int i = 0; i < r; i++) {
        px_dim d = v->shape.dims[i];
        if (want[i].v >= 0 && d.v != want[i].v) return 0;
        if (want[i].v < 0 && d.v >= 0) return 0;
        if (want[i].sym && (!d.sym || strcmp(d.sym, want[i].sym))) return 0;
    }
    return 1;
}

#define CHECK_SHAPE(g, name, spec) do { \
        int v_ = px_graph_find((g), (name)); \
        char b_[256] = "(no such value)"; \
        if (v_ >= 0) shape_str(&(g)->values[v_], b_, sizeof b_); \
        if (v_ >= 0 && shape_matches(&(g)->values[v_], (g), (spec))) t_pass++; \
        else { t_fail++; fprintf(stderr, "%s:%d: shape of %s is %s, expected %s\n", __FILE__, __LINE__, (name), b_, \
                                 (spec) ? (const char *)(spec) : "(unknown rank)"); } \
    } while (0)

#define CHECK_DTYPE(g, name, dt) CHECK_STR(px_dtype_name((g)->values[px_graph_find((g), (name))].dtype), px_dtype_name(dt))

static px_graph *new_graph(int64_t opset)
{
    px_graph *g = malloc(sizeof *g);
    px_graph_init(g);
    px_graph_set_opset(g, "", opset);
    g->ir_version = 8;
    return g;
}

static void free_graph(px_graph *g)
{
    px_graph_free(g);
    free(g);
}

static px_status infer(px_graph *g)
{
    px_shape_report rep;
    return px_shape_infer(g, &rep);
}

/* The graph fails with PX_ERR_SHAPE and the message names node nm. */
static void expect_shape_error(px_graph *g, const char *nm, const char *what)
{
    px_status st = infer(g);
    CHECK_EQ_INT(st, PX_ERR_SHAPE);
    CHECK_CONTAINS(px_last_error(), nm);
    if (what) CHECK_CONTAINS(px_last_error(), what);
    free_graph(g);
}

/* --- tests ------------------------------------------------------------------- */

static void test_broadcast(void)
{
    px_graph *g = new_graph(17);
    input(g, "a", PX_DT_FLOAT, "N,3,1");
    input(g, "b", PX_DT_FLOAT, "1,5");
    input(g, "c", PX_DT_FLOAT, "s,1,t");
    input(g, "d", PX_DT_FLOAT, "s,7,u");
    input(g, "e", PX_DT_FLOAT, "1");
    input(g, "f", PX_DT_FLOAT, "batch");
    input(g, "h", PX_DT_FLOAT, "");
    node(g, "Add", "add", "a,b", "ab");
    node(g, "Mul", "mul", "c,d", "cd");
    node(g, "Sub", "sub", "e,f", "ef");
    node(g, "Equal", "eq", "a,b", "eqab");
    node(g, "Where", "where", "eqab,h,f", "w");
    node(g, "Max", "max", "a,b,h", "m3");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "ab", "N,3,5");
    CHECK_DTYPE(g, "ab", PX_DT_FLOAT);
    CHECK_SHAPE(g, "cd", "s,7,?");
    CHECK_SHAPE(g, "ef", "batch");
    CHECK_SHAPE(g, "eqab", "N,3,5");
    CHECK_DTYPE(g, "eqab", PX_DT_BOOL);
    CHECK_SHAPE(g, "w", "N,3,5");
    CHECK_SHAPE(g, "m3", "N,3,5");
    free_graph(g);

    g = new_graph(17);
    input(g, "a", PX_DT_FLOAT, "2,3");
    input(g, "b", PX_DT_FLOAT, "4");
    node(g, "Add", "bad_add", "a,b", "y");
    expect_shape_error(g, "bad_add", "broadcast");
}

static void test_conv_pool(void)
{
    px_graph *g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "N,3,224,224");
    weight(g, "w", "64,3,7,7");
    weight(g, "wd", "8,64,3,3");
    weight(g, "wg", "64,16,3,3");
    int n = node(g, "Conv", "conv1", "x,w", "c1");
    attr_ints(g, n, "strides", 2, (int64_t)2, (int64_t)2);
    attr_ints(g, n, "pads", 4, (int64_t)3, (int64_t)3, (int64_t)3, (int64_t)3);
    n = node(g, "MaxPool", "pool", "c1", "p1,idx");
    attr_ints(g, n, "kernel_shape", 2, (int64_t)3, (int64_t)3);
    attr_ints(g, n, "strides", 2, (int64_t)2, (int64_t)2);
    attr_int(g, n, "ceil_mode", 1);
    n = node(g, "MaxPool", "pool_floor", "c1", "p2");
    attr_ints(g, n, "kernel_shape", 2, (int64_t)3, (int64_t)3);
    attr_ints(g, n, "strides", 2, (int64_t)2, (int64_t)2);
    n = node(g, "Conv", "dilated", "p1,wd", "c2");
    attr_ints(g, n, "dilations", 2, (int64_t)2, (int64_t)3);
    attr_ints(g, n, "pads", 4, (int64_t)1, (int64_t)0, (int64_t)1, (int64_t)0);
    n = node(g, "Conv", "grouped", "p1,wg", "c3");
    attr_int(g, n, "group", 4);
    attr_str(g, n, "auto_pad", "SAME_UPPER");
    attr_ints(g, n, "strides", 2, (int64_t)3, (int64_t)3);
    n = node(g, "AveragePool", "avg", "c3", "a1");
    attr_ints(g, n, "kernel_shape", 2, (int64_t)2, (int64_t)2);
    attr_ints(g, n, "pads", 4, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1);
    attr_ints(g, n, "strides", 2, (int64_t)2, (int64_t)2);
    attr_int(g, n, "ceil_mode", 1);
    node(g, "GlobalAveragePool", "gap", "a1", "gap_out");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "c1", "N,64,112,112");       /* (224+6-7)/2+1 */
    CHECK_SHAPE(g, "p1", "N,64,56,56");         /* ceil((112-3)/2)+1 */
    CHECK_SHAPE(g, "idx", "N,64,56,56");
    CHECK_DTYPE(g, "idx", PX_DT_INT64);
    CHECK_SHAPE(g, "p2", "N,64,55,55");         /* floor */
    CHECK_SHAPE(g, "c2", "N,8,54,50");          /* 56+2-5+1, 56-7+1 */
    CHECK_SHAPE(g, "c3", "N,64,19,19");         /* SAME: ceil(56/3) */
    CHECK_SHAPE(g, "a1", "N,64,10,10");         /* (19+2-2)/2 ceil = 10, last window not in padding */
    CHECK_SHAPE(g, "gap_out", "N,64,1,1");
    free_graph(g);

    /* ConvTranspose: output_padding, dilations, groups, output_shape */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1,6,7,8");
    weight(g, "w", "6,2,3,2");
    n = node(g, "ConvTranspose", "deconv", "x,w", "y");
    attr_int(g, n, "group", 3);
    attr_ints(g, n, "strides", 2, (int64_t)3, (int64_t)2);
    attr_ints(g, n, "dilations", 2, (int64_t)2, (int64_t)1);
    attr_ints(g, n, "output_padding", 2, (int64_t)1, (int64_t)0);
    attr_ints(g, n, "pads", 4, (int64_t)1, (int64_t)0, (int64_t)1, (int64_t)0);
    n = node(g, "ConvTranspose", "deconv2", "x,w", "y2");
    attr_int(g, n, "group", 3);
    attr_ints(g, n, "output_shape", 2, (int64_t)30, (int64_t)31);
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "y", "1,6,22,16"); /* 3*6+1+5-2, 2*7+0+2-0 */
    CHECK_SHAPE(g, "y2", "1,6,30,31");
    free_graph(g);

    /* error: weight channels != input channels / group */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1,3,8,8");
    weight(g, "w", "4,5,3,3");
    node(g, "Conv", "bad_conv", "x,w", "y");
    expect_shape_error(g, "bad_conv", "channels");
}

static void test_reshape(void)
{
    px_graph *g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "2,3,4");
    input(g, "s", PX_DT_FLOAT, "N,12,64");
    input(g, "t", PX_DT_FLOAT, "N,S,768");
    input(g, "u", PX_DT_FLOAT, "N,S,12,64");
    input(g, "z", PX_DT_FLOAT, "0,3");
    init_ints(g, "s0m1", 1, 2, (int64_t)0, (int64_t)-1);
    init_ints(g, "heads", 1, 4, (int64_t)0, (int64_t)0, (int64_t)12, (int64_t)64);
    init_ints(g, "merge", 1, 3, (int64_t)0, (int64_t)-1, (int64_t)768);
    init_ints(g, "az", 1, 2, (int64_t)3, (int64_t)0);
    node(g, "Reshape", "r1", "x,s0m1", "y1");
    node(g, "Reshape", "r2", "s,s0m1", "y2");
    node(g, "Reshape", "r3", "t,heads", "y3");
    node(g, "Reshape", "r4", "u,merge", "y4");
    int n = node(g, "Reshape", "r5", "z,az", "y5");
    attr_int(g, n, "allowzero", 1);
    node(g, "Flatten", "fl", "u", "y6");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "y1", "2,12");
    CHECK_SHAPE(g, "y2", "N,768");
    CHECK_SHAPE(g, "y3", "N,S,12,64");
    CHECK_SHAPE(g, "y4", "N,S,768"); /* -1 = N*S*768 / (N*768) */
    CHECK_SHAPE(g, "y5", "3,0");
    CHECK_SHAPE(g, "y6", "N,?");
    free_graph(g);

    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "2,5");
    init_ints(g, "s", 1, 2, (int64_t)3, (int64_t)4);
    node(g, "Reshape", "bad_reshape", "x,s", "y");
    expect_shape_error(g, "bad_reshape", "10");

    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "2,5");
    init_ints(g, "s", 1, 2, (int64_t)-1, (int64_t)3);
    node(g, "Reshape", "bad_minus_one", "x,s", "y");
    expect_shape_error(g, "bad_minus_one", NULL);
}

static void test_slice(void)
{
    px_graph *g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "5,6");
    input(g, "v", PX_DT_FLOAT, "10,S");
    init_ints(g, "st", 1, 2, (int64_t)-100, (int64_t)2);
    init_ints(g, "en", 1, 2, (int64_t)100, (int64_t)1);
    init_ints(g, "st2", 1, 1, (int64_t)-1);
    init_ints(g, "en2", 1, 1, INT64_MIN);
    init_ints(g, "ax0", 1, 1, (int64_t)0);
    init_ints(g, "stp2", 1, 1, (int64_t)-2);
    init_ints(g, "zero", 1, 1, (int64_t)0);
    init_ints(g, "max", 1, 1, INT64_MAX);
    init_ints(g, "ax1", 1, 1, (int64_t)-1);
    init_ints(g, "one", 1, 1, (int64_t)1);
    init_ints(g, "three", 1, 1, (int64_t)3);
    node(g, "Slice", "clamp", "x,st,en", "y1");
    node(g, "Slice", "reverse", "v,st2,en2,ax0,stp2", "y2");
    node(g, "Slice", "tail", "v,zero,max,ax1", "y3");
    node(g, "Slice", "sym", "v,one,three,ax1", "y4");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "y1", "5,0");
    CHECK_SHAPE(g, "y2", "5,S");  /* 9, 7, 5, 3, 1 */
    CHECK_SHAPE(g, "y3", "10,S"); /* [0:] keeps the symbol */
    CHECK_SHAPE(g, "y4", "10,?");
    free_graph(g);

    /* axis out of range */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "5,6");
    init_ints(g, "s", 1, 1, (int64_t)0);
    init_ints(g, "e", 1, 1, (int64_t)1);
    init_ints(g, "a", 1, 1, (int64_t)2);
    node(g, "Slice", "bad_slice", "x,s,e,a", "y");
    expect_shape_error(g, "bad_slice", "out of range");
}

static void test_opset_moves(void)
{
    /* opset 12: axes are attributes */
    px_graph *g = new_graph(12);
    input(g, "x", PX_DT_FLOAT, "1,N,1,4");
    int n = node(g, "Squeeze", "sq", "x", "y1");
    attr_ints(g, n, "axes", 2, (int64_t)0, (int64_t)-2);
    n = node(g, "Unsqueeze", "usq", "y1", "y2");
    attr_ints(g, n, "axes", 2, (int64_t)0, (int64_t)-1);
    n = node(g, "ReduceMean", "rm", "x", "y3");
    attr_ints(g, n, "axes", 1, (int64_t)-1);
    attr_int(g, n, "keepdims", 0);
    n = node(g, "ReduceSum", "rs", "x", "y4");
    attr_ints(g, n, "axes", 1, (int64_t)3);
    n = node(g, "Split", "split", "x", "s1,s2");
    attr_int(g, n, "axis", 3);
    attr_ints(g, n, "split", 2, (int64_t)1, (int64_t)3);
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "y1", "N,4");
    CHECK_SHAPE(g, "y2", "1,N,4,1");
    CHECK_SHAPE(g, "y3", "1,N,1");
    CHECK_SHAPE(g, "y4", "1,N,1,1");
    CHECK_SHAPE(g, "s1", "1,N,1,1");
    CHECK_SHAPE(g, "s2", "1,N,1,3");
    free_graph(g);

    /* opset 13: Squeeze/Unsqueeze/ReduceSum/Split take inputs; ReduceMean
     * still has the attribute until 18 */
    g = new_graph(13);
    input(g, "x", PX_DT_FLOAT, "1,N,1,4");
    init_ints(g, "ax", 1, 2, (int64_t)0, (int64_t)-2);
    init_ints(g, "ax2", 1, 2, (int64_t)0, (int64_t)-1);
    init_ints(g, "ax3", 1, 1, (int64_t)3);
    init_ints(g, "sp", 1, 2, (int64_t)1, (int64_t)3);
    node(g, "Squeeze", "sq", "x,ax", "y1");
    node(g, "Unsqueeze", "usq", "y1,ax2", "y2");
    n = node(g, "ReduceMean", "rm", "x", "y3");
    attr_ints(g, n, "axes", 1, (int64_t)-1);
    attr_int(g, n, "keepdims", 0);
    node(g, "ReduceSum", "rs", "x,ax3", "y4");
    n = node(g, "Split", "split", "x,sp", "s1,s2");
    attr_int(g, n, "axis", 3);
    n = node(g, "ReduceSum", "rs_noop", "x", "y5");
    attr_int(g, n, "noop_with_empty_axes", 1);
    node(g, "Squeeze", "sq_all", "x", "y6");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "y1", "N,4");
    CHECK_SHAPE(g, "y2", "1,N,4,1");
    CHECK_SHAPE(g, "y3", "1,N,1");
    CHECK_SHAPE(g, "y4", "1,N,1,1");
    CHECK_SHAPE(g, "s1", "1,N,1,1");
    CHECK_SHAPE(g, "s2", "1,N,1,3");
    CHECK_SHAPE(g, "y5", "1,N,1,4");
    CHECK_SHAPE(g, "y6", NULL); /* N might be 1: rank unknown */
    free_graph(g);

    /* opset 18: ReduceMean axes input, Split num_outputs (uneven) */
    g = new_graph(18);
    input(g, "x", PX_DT_FLOAT, "2,3,10");
    init_ints(g, "ax", 1, 1, (int64_t)1);
    node(g, "ReduceMean", "rm", "x,ax", "y1");
    n = node(g, "Split", "split", "x", "a,b,c");
    attr_int(g, n, "axis", 2);
    attr_int(g, n, "num_outputs", 3);
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "y1", "2,1,10");
    CHECK_SHAPE(g, "a", "2,3,4");
    CHECK_SHAPE(g, "b", "2,3,4");
    CHECK_SHAPE(g, "c", "2,3,2");
    free_graph(g);

    /* squeezing a dim that is not 1 */
    g = new_graph(13);
    input(g, "x", PX_DT_FLOAT, "2,3");
    init_ints(g, "ax", 1, 1, (int64_t)1);
    node(g, "Squeeze", "bad_squeeze", "x,ax", "y");
    expect_shape_error(g, "bad_squeeze", NULL);
}

static void test_symbols_and_matmul(void)
{
    px_graph *g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "batch,seq,64");
    input(g, "v", PX_DT_FLOAT, "64");
    input(g, "a3", PX_DT_FLOAT, "2,1,3,4");
    input(g, "b3", PX_DT_FLOAT, "5,4,6");
    weight(g, "w", "64,32");
    node(g, "Relu", "relu", "x", "r");
    node(g, "MatMul", "mm", "r,w", "m");
    node(g, "MatMul", "mv", "x,v", "mv_out");
    node(g, "MatMul", "vm", "v,w", "vm_out");
    node(g, "MatMul", "bmm", "a3,b3", "bmm_out");
    node(g, "Softmax", "sm", "m", "s");
    node(g, "Transpose", "tr", "s", "t");
    int n = node(g, "Einsum", "ein", "x,x", "e");
    attr_str(g, n, "equation", "bik,bjk->bij");
    n = node(g, "Gemm", "gemm", "w,w", "gm");
    attr_int(g, n, "transA", 1);
    n = node(g, "LayerNormalization", "ln", "x,v", "ln_y,ln_mean,ln_isd");
    attr_int(g, n, "axis", -1);
    node(g, "Dropout", "drop", "x", "d,dmask");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "r", "batch,seq,64");
    CHECK_SHAPE(g, "m", "batch,seq,32");
    CHECK_SHAPE(g, "mv_out", "batch,seq");
    CHECK_SHAPE(g, "vm_out", "32");
    CHECK_SHAPE(g, "bmm_out", "2,5,3,6");
    CHECK_SHAPE(g, "t", "32,seq,batch");
    CHECK_SHAPE(g, "e", "batch,seq,seq");
    CHECK_SHAPE(g, "gm", "32,32");
    CHECK_SHAPE(g, "ln_mean", "batch,seq,1");
    CHECK_DTYPE(g, "ln_mean", PX_DT_FLOAT);
    CHECK_SHAPE(g, "dmask", "batch,seq,64");
    CHECK_DTYPE(g, "dmask", PX_DT_BOOL);
    free_graph(g);

    g = new_graph(17);
    input(g, "a", PX_DT_FLOAT, "N,3,4");
    input(g, "b", PX_DT_FLOAT, "5,6");
    node(g, "MatMul", "bad_matmul", "a,b", "y");
    expect_shape_error(g, "bad_matmul", "inner");

    g = new_graph(17);
    input(g, "a", PX_DT_FLOAT, "N,3,4");
    input(g, "b", PX_DT_FLOAT, "N,5,5");
    int c = node(g, "Concat", "bad_concat", "a,b", "y");
    attr_int(g, c, "axis", 1);
    expect_shape_error(g, "bad_concat", NULL);

    g = new_graph(17);
    input(g, "a", PX_DT_FLOAT, "2,3");
    c = node(g, "Softmax", "bad_axis", "a", "y");
    attr_int(g, c, "axis", 2);
    expect_shape_error(g, "bad_axis", "axis");

    g = new_graph(17);
    input(g, "a", PX_DT_FLOAT, "2,3,4");
    input(g, "b", PX_DT_FLOAT, "3,4");
    node(g, "Gemm", "bad_gemm", "a,b", "y");
    expect_shape_error(g, "bad_gemm", "rank");

    g = new_graph(17);
    input(g, "a", PX_DT_FLOAT, "2,3");
    input(g, "b", PX_DT_FLOAT, "2,3,1");
    c = node(g, "Concat", "bad_rank", "a,b", "y");
    attr_int(g, c, "axis", 0);
    expect_shape_error(g, "bad_rank", "rank");
}

/* Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as the transformer
 * exporters write it: the batch and sequence symbols survive. */
static void test_data_propagation(void)
{
    px_graph *g = new_graph(13);
    input(g, "x", PX_DT_FLOAT, "batch,seq,64");
    init_ints(g, "i0", 0, 1, (int64_t)0);
    init_ints(g, "i1", 0, 1, (int64_t)1);
    init_ints(g, "ax", 1, 1, (int64_t)0);
    init_ints(g, "hd", 1, 2, (int64_t)8, (int64_t)8);
    init_ints(g, "m1", 1, 1, (int64_t)-1);
    init_ints(g, "z0", 1, 1, (int64_t)0);
    init_ints(g, "e2", 1, 1, (int64_t)2);
    node(g, "Shape", "shape", "x", "s");
    node(g, "Gather", "g0", "s,i0", "b");
    node(g, "Gather", "g1", "s,i1", "q");
    node(g, "Unsqueeze", "u0", "b,ax", "bu");
    node(g, "Unsqueeze", "u1", "q,ax", "qu");
    int n = node(g, "Concat", "cat", "bu,qu,hd", "tgt");
    attr_int(g, n, "axis", 0);
    node(g, "Reshape", "reshape", "x,tgt", "y");
    n = node(g, "Transpose", "tr", "y", "yt");
    attr_ints(g, n, "perm", 4, (int64_t)0, (int64_t)2, (int64_t)1, (int64_t)3);
    node(g, "Slice", "sl", "s,z0,e2", "bs");
    n = node(g, "Concat", "cat2", "bs,m1", "tgt2");
    attr_int(g, n, "axis", 0);
    node(g, "Reshape", "merge", "y,tgt2", "z");
    node(g, "ConstantOfShape", "cos", "bs", "mask");
    node(g, "Expand", "exp", "i1,s", "ones");
    node(g, "Mul", "mul", "b,q", "bq");
    node(g, "Size", "size", "x", "numel");
    node(g, "Cast", "cast", "tgt", "tgt32");
    attr_int(g, g->n_nodes - 1, "to", PX_DT_INT32);
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "s", "3");
    CHECK_SHAPE(g, "y", "batch,seq,8,8");
    CHECK_SHAPE(g, "yt", "batch,8,seq,8");
    CHECK_SHAPE(g, "z", "batch,seq,64");
    CHECK_SHAPE(g, "mask", "batch,seq");
    CHECK_SHAPE(g, "ones", "batch,seq,64");
    CHECK_DTYPE(g, "ones", PX_DT_INT64);
    CHECK_SHAPE(g, "b", "");
    CHECK_SHAPE(g, "numel", "");
    /* the contents themselves */
    const px_value *tv = &g->values[px_graph_find(g, "tgt32")];
    CHECK_EQ_INT(tv->n_data, 4);
    if (tv->n_data == 4) {
        CHECK_STR(tv->data[0].sym, "batch");
        CHECK_STR(tv->data[1].sym, "seq");
        CHECK_EQ_INT(tv->data[2].v, 8);
        CHECK(tv->data[3].sym == NULL && tv->data[3].v == 8);
    }
    const px_value *m1 = &g->values[px_graph_find(g, "tgt2")];
    CHECK_EQ_INT(m1->n_data, 3);
    if (m1->n_data == 3) CHECK(m1->data[2].sym == NULL && m1->data[2].v == -1); /* a literal -1, not "unknown" */
    const px_value *bq = &g->values[px_graph_find(g, "bq")];
    CHECK_EQ_INT(bq->n_data, 1);
    if (bq->n_data == 1) CHECK(bq->data[0].sym != NULL); /* batch*seq: a fresh symbol */
    free_graph(g);

    /* Where(Equal(shape, -1), 1, shape) -> Expand: the exporters' expand(-1) */
    g = new_graph(13);
    input(g, "x", PX_DT_FLOAT, "batch,1,64");
    init_ints(g, "tgt", 1, 3, (int64_t)-1, (int64_t)5, (int64_t)-1);
    init_ints(g, "m1", 1, 1, (int64_t)-1);
    init_ints(g, "one", 1, 1, (int64_t)1);
    node(g, "Equal", "eq", "tgt,m1", "is_neg");
    node(g, "Where", "wh", "is_neg,one,tgt", "fixed");
    node(g, "Expand", "ex", "x,fixed", "y");
    node(g, "Range", "rng", "i0,len,one", "pos");
    init_ints(g, "i0", 0, 1, (int64_t)0);
    init_ints(g, "len", 0, 1, (int64_t)7);
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "y", "batch,5,64");
    CHECK_SHAPE(g, "pos", "7");
    free_graph(g);

    /* position_ids[:, 0:seq] of a [1, 512] buffer is [1, seq]; an unknown
     * input dim read by Shape is still a dim (never -1) */
    g = new_graph(13);
    input(g, "ids", PX_DT_INT64, "batch,seq");
    input(g, "u", PX_DT_FLOAT, "?,4");
    init_ints(g, "zero", 1, 1, (int64_t)0);
    init_ints(g, "one", 1, 1, (int64_t)1);
    init_ints(g, "i1", 0, 1, (int64_t)1);
    init_ints(g, "m1", 1, 1, (int64_t)-1);
    px_dim pd[2] = {{1, NULL}, {512, NULL}};
    int pos = px_graph_value(g, "pos_buf");
    px_tensor *pt = px_tensor_new(PX_DT_INT64, 2, (int64_t[]){1, 512});
    px_tensor_alloc_data(pt);
    px_graph_add_init(g, pos, pt);
    (void)pd;
    node(g, "Shape", "sh", "ids", "s");
    node(g, "Gather", "ga", "s,i1", "len");
    node(g, "Unsqueeze", "un", "len,zero", "end");
    node(g, "Slice", "slice_pos", "pos_buf,zero,end,one,one", "pos_ids");
    node(g, "Shape", "sh_u", "u", "su");
    node(g, "Equal", "eq", "su,m1", "is_neg");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "pos_ids", "1,seq");
    const px_value *neg = &g->values[px_graph_find(g, "is_neg")];
    CHECK_EQ_INT(neg->n_data, 2);
    if (neg->n_data == 2) CHECK(neg->data[0].sym == NULL && neg->data[0].v == 0 && neg->data[1].v == 0);
    free_graph(g);
}

static void test_unsupported_and_unknown(void)
{
    px_graph *g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "2,3");
    input(g, "noshape", PX_DT_FLOAT, NULL);
    node(g, "FancyNewOp", "fancy", "x", "f");
    node(g, "Relu", "after", "f", "r");
    node(g, "Relu", "r2", "noshape", "r2_out");
    node(g, "Shape", "sh", "noshape", "sh_out");
    node(g, "NonZero", "nz", "x", "nz_out");
    node(g, "NonZero", "nz2", "x", "nz_out2");
    px_shape_report rep;
    CHECK_EQ_INT(px_shape_infer(g, &rep), PX_OK);
    CHECK_EQ_INT(rep.n_unsupported, 1);
    CHECK_STR(rep.first_unsupported, "FancyNewOp");
    CHECK_SHAPE(g, "f", NULL);
    CHECK_EQ_INT(g->values[px_graph_find(g, "f")].dtype, PX_DT_UNDEFINED);
    CHECK_SHAPE(g, "r", NULL);
    CHECK_SHAPE(g, "r2_out", NULL);
    CHECK_DTYPE(g, "r2_out", PX_DT_FLOAT);
    CHECK_SHAPE(g, "sh_out", "unk__0");
    CHECK_SHAPE(g, "nz_out", "2,unk__1"); /* fresh, deterministic, distinct */
    CHECK_SHAPE(g, "nz_out2", "2,unk__2");
    CHECK(px_shape_op_supported("", "Conv"));
    CHECK(px_shape_op_supported("ai.onnx", "Reshape"));
    CHECK(!px_shape_op_supported("", "FancyNewOp"));
    free_graph(g);

    /* a symbol named like ours in the file is never reused */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "unk__0,3");
    node(g, "NonZero", "nz", "x", "y");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "y", "2,unk__1");
    free_graph(g);
}

static void test_declared_outputs(void)
{
    /* stale value_info is overwritten; a declared output dim refines */
    px_graph *g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "N,?");
    node(g, "Relu", "relu", "x", "mid");
    node(g, "Relu", "relu2", "mid", "out");
    int mid = px_graph_find(g, "mid"), out = px_graph_find(g, "out");
    px_dim stale[1] = {{99, NULL}};
    px_shape_set(g, &g->values[mid].shape, 1, stale);
    g->values[mid].flags |= PX_VAL_DECLARED;
    px_dim decl[2] = {{-1, NULL}, {7, NULL}};
    px_shape_set(g, &g->values[out].shape, 2, decl);
    g->values[out].dtype = PX_DT_FLOAT;
    px_graph_add_output(g, out);
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "mid", "N,?");
    CHECK_SHAPE(g, "out", "N,7");
    free_graph(g);

    /* a declared output that contradicts the inferred one (a dim, then the
     * rank): the inferred shape wins and the report names the output, as
     * ONNX Runtime warns and runs such a model */
    for (int rank = 2; rank <= 3; rank++) {
        g = new_graph(17);
        input(g, "x", PX_DT_FLOAT, "2,3");
        node(g, "Relu", "relu_out", "x", "out");
        out = px_graph_find(g, "out");
        px_dim bad[3] = {{2, NULL}, {4, NULL}, {1, NULL}};
        px_shape_set(g, &g->values[out].shape, rank, bad);
        px_graph_add_output(g, out);
        px_shape_report rep;
        CHECK_EQ_INT(px_shape_infer(g, &rep), PX_OK);
        CHECK_EQ_INT(rep.n_declared_conflicts, 1);
        CHECK(rep.first_declared_conflict && !strcmp(rep.first_declared_conflict, "out"));
        CHECK_SHAPE(g, "out", "2,3");
        free_graph(g);
    }
    /* a declared dtype that contradicts inference is still an error (ONNX
     * Runtime refuses it too) */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "2,3");
    node(g, "Relu", "relu_out", "x", "out");
    out = px_graph_find(g, "out");
    g->values[out].dtype = PX_DT_INT64;
    px_graph_add_output(g, out);
    expect_shape_error(g, "relu_out", "declared");
}

static void test_misc_ops(void)
{
    px_graph *g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "N,3,32,32");
    input(g, "ids", PX_DT_INT64, "B,S");
    weight(g, "emb", "100,16");
    init_ints(g, "rep", 1, 4, (int64_t)1, (int64_t)2, (int64_t)1, (int64_t)3);
    init_ints(g, "pads", 1, 8, (int64_t)0, (int64_t)0, (int64_t)1, (int64_t)2, (int64_t)0, (int64_t)0, (int64_t)3,
              (int64_t)-1);
    init_floats(g, "sc", 4, 1.0, 1.0, 2.0, 1.5);
    init_ints(g, "k", 1, 1, (int64_t)5);
    node(g, "Gather", "embed", "emb,ids", "e");
    node(g, "Tile", "tile", "x,rep", "t");
    node(g, "Pad", "pad", "x,pads", "p");
    int n = node(g, "Resize", "resize", "x,,sc", "rs");
    attr_str(g, n, "mode", "nearest");
    n = node(g, "TopK", "topk", "x,k", "tv,ti");
    attr_int(g, n, "axis", 2);
    n = node(g, "DepthToSpace", "d2s", "p", "d2s_out");
    attr_int(g, n, "blocksize", 1);
    n = node(g, "ArgMax", "argmax", "x", "am");
    attr_int(g, n, "axis", 1);
    attr_int(g, n, "keepdims", 0);
    n = node(g, "Cast", "cast", "x", "xi");
    attr_int(g, n, "to", PX_DT_INT32);
    n = node(g, "Shape", "shape15", "x", "sh");
    attr_int(g, n, "start", 1);
    attr_int(g, n, "end", -1);
    n = node(g, "Constant", "const", "", "cv");
    attr_ints(g, n, "value_ints", 3, (int64_t)4, (int64_t)5, (int64_t)6);
    node(g, "Trilu", "tri", "x", "tri_out");
    node(g, "CumSum", "cs", "x,k", "cs_out");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "e", "B,S,16");
    CHECK_SHAPE(g, "t", "N,6,32,96");
    CHECK_SHAPE(g, "p", "N,3,36,33");
    CHECK_SHAPE(g, "rs", "N,3,64,48");
    CHECK_SHAPE(g, "tv", "N,3,5,32");
    CHECK_DTYPE(g, "ti", PX_DT_INT64);
    CHECK_SHAPE(g, "d2s_out", "N,3,36,33");
    CHECK_SHAPE(g, "am", "N,32,32");
    CHECK_DTYPE(g, "am", PX_DT_INT64);
    CHECK_DTYPE(g, "xi", PX_DT_INT32);
    CHECK_SHAPE(g, "sh", "2");
    CHECK_SHAPE(g, "cv", "3");
    CHECK_EQ_INT(g->values[px_graph_find(g, "cv")].n_data, 3);
    CHECK_SHAPE(g, "tri_out", "N,3,32,32");
    free_graph(g);
}

/* Huge dims never overflow silently (UBSan runs these). */
static void test_overflow(void)
{
    px_graph *g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "4611686018427387904,4");
    input(g, "y", PX_DT_FLOAT, "9223372036854775807,3");
    init_ints(g, "rep", 1, 2, (int64_t)4, INT64_MAX);
    init_ints(g, "m1", 1, 1, (int64_t)-1);
    node(g, "Flatten", "fl", "x", "f");
    attr_int(g, g->n_nodes - 1, "axis", 0);
    node(g, "Reshape", "rs", "y,m1", "r");
    node(g, "Size", "size", "y", "n");
    int n = node(g, "Pad", "pad", "y,pads", "p");
    init_ints(g, "pads", 1, 4, INT64_MAX, (int64_t)0, INT64_MAX, (int64_t)0);
    CHECK_EQ_INT(infer(g), PX_ERR_SHAPE); /* the Pad overflows; everything before it was fine */
    CHECK_CONTAINS(px_last_error(), "pad");
    CHECK_SHAPE(g, "f", "1,?");
    CHECK_SHAPE(g, "r", "?");
    free_graph(g);

    /* A Tile or Concat whose known output dim overflows is refused, naming
     * the node (it used to become an unknown dim). */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "4611686018427387904,4");
    init_ints(g, "rep", 1, 2, (int64_t)4, INT64_MAX);
    node(g, "Tile", "tile", "x,rep", "t");
    expect_shape_error(g, "tile", "tiled dim 4611686018427387904 x 4 overflows int64");
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "4611686018427387904,4");
    n = node(g, "Concat", "cat", "x,x", "c");
    attr_int(g, n, "axis", 0);
    expect_shape_error(g, "cat", "concatenated axis size 4611686018427387904 + 4611686018427387904 overflows int64");

    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1,3,9223372036854775807,5");
    weight(g, "w", "2,3,3,3");
    n = node(g, "Conv", "conv_big", "x,w", "y");
    attr_ints(g, n, "pads", 4, INT64_MAX, (int64_t)0, INT64_MAX, (int64_t)0);
    expect_shape_error(g, "conv_big", "overflow");

    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "2");
    init_ints(g, "big", 1, 65, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1,
              (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1,
              (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1,
              (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1,
              (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1,
              (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1,
              (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1,
              (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1,
              (int64_t)1, (int64_t)2);
    node(g, "Reshape", "too_deep", "x,big", "y");
    CHECK_EQ_INT(infer(g), PX_ERR_LIMIT); /* rank 65 > PX_MAX_RANK, no buffer overrun */
    CHECK_CONTAINS(px_last_error(), "too_deep");
    free_graph(g);
}

/* Dims near INT64_MAX through every op family that does arithmetic on them:
 * exact results where they fit, a clear error naming the node where they do
 * not, never a signed overflow (UBSan runs these under make check-asan). */
static void test_int64_max_dims(void)
{
    const int64_t M = INT64_MAX;
    /* Reshape: 0 copies a huge dim, -1 solves to it; a product past int64 fails. */
    px_graph *g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "9223372036854775807,1");
    init_ints(g, "t0", 1, 2, (int64_t)0, (int64_t)-1);
    init_ints(g, "t1", 1, 1, (int64_t)-1);
    init_ints(g, "t2", 1, 3, (int64_t)-1, (int64_t)1, (int64_t)1);
    node(g, "Reshape", "rs0", "x,t0", "r0");
    node(g, "Reshape", "rs1", "x,t1", "r1");
    node(g, "Reshape", "rs2", "x,t2", "r2");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "r0", "9223372036854775807,1");
    CHECK_SHAPE(g, "r1", "9223372036854775807");
    CHECK_SHAPE(g, "r2", "9223372036854775807,1,1");
    free_graph(g);

    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "9223372036854775807,1");
    init_ints(g, "t", 1, 2, (int64_t)2, (int64_t)-1);
    node(g, "Reshape", "rs_odd", "x,t", "r");
    expect_shape_error(g, "rs_odd", "cannot reshape 9223372036854775807 elements into a multiple of 2");

    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "9223372036854775807,1");
    init_ints(g, "t", 1, 2, M, (int64_t)2);
    node(g, "Reshape", "rs_big", "x,t", "r");
    expect_shape_error(g, "rs_big", "would have dims 9223372036854775807x2, more than INT64_MAX elements");

    /* Reshape -1 against a target whose other dims overflow: unknown, not UB. */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "N,4");
    init_ints(g, "t", 1, 3, M, M, (int64_t)-1);
    node(g, "Reshape", "rs_unk", "x,t", "r");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "r", "9223372036854775807,9223372036854775807,?");
    free_graph(g);

    /* Expand: a huge target dim is fine alone, not times 2. */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1");
    init_ints(g, "s1", 1, 1, M);
    init_ints(g, "s2", 1, 2, M, (int64_t)2);
    node(g, "Expand", "ex1", "x,s1", "e1");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "e1", "9223372036854775807");
    free_graph(g);
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1");
    init_ints(g, "s2", 1, 2, M, (int64_t)2);
    node(g, "Expand", "ex2", "x,s2", "e2");
    expect_shape_error(g, "ex2", "more than INT64_MAX elements");

    /* Tile by 1 keeps INT64_MAX; Concat up to exactly INT64_MAX. */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "9223372036854775807");
    input(g, "a", PX_DT_FLOAT, "9223372036854775806");
    input(g, "b", PX_DT_FLOAT, "1");
    init_ints(g, "one", 1, 1, (int64_t)1);
    node(g, "Tile", "tile1", "x,one", "t");
    int n = node(g, "Concat", "cat_max", "a,b", "c");
    attr_int(g, n, "axis", 0);
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "t", "9223372036854775807");
    CHECK_SHAPE(g, "c", "9223372036854775807");
    free_graph(g);
    g = new_graph(17);
    input(g, "a", PX_DT_FLOAT, "9223372036854775806");
    input(g, "b", PX_DT_FLOAT, "2");
    n = node(g, "Concat", "cat_over", "a,b", "c");
    attr_int(g, n, "axis", 0);
    expect_shape_error(g, "cat_over", "overflows int64");

    /* Conv / pool window arithmetic at INT64_MAX. */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1,1,9223372036854775807,1");
    weight(g, "w", "1,1,3,1");
    node(g, "Conv", "conv_max", "x,w", "y");
    n = node(g, "MaxPool", "pool_max", "x", "p");
    attr_ints(g, n, "kernel_shape", 2, (int64_t)1, (int64_t)1);
    attr_ints(g, n, "strides", 2, M, (int64_t)1);
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "y", "1,1,9223372036854775805,1");
    CHECK_SHAPE(g, "p", "1,1,1,1");
    free_graph(g);
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1,1,9223372036854775807,1");
    weight(g, "w", "1,1,3,1");
    n = node(g, "Conv", "conv_pad", "x,w", "y");
    attr_ints(g, n, "pads", 4, (int64_t)1, (int64_t)0, (int64_t)1, (int64_t)0);
    expect_shape_error(g, "conv_pad", "padded input size overflows");
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1,1,9223372036854775807,1");
    weight(g, "w", "1,1,3,1");
    n = node(g, "Conv", "conv_dil", "x,w", "y");
    attr_ints(g, n, "dilations", 2, M, (int64_t)1);
    expect_shape_error(g, "conv_dil", "kernel extent overflows");
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1,1,9223372036854775807,1");
    n = node(g, "MaxPool", "pool_ceil", "x", "p");
    attr_ints(g, n, "kernel_shape", 2, (int64_t)1, (int64_t)1);
    attr_ints(g, n, "strides", 2, M, (int64_t)1);
    attr_int(g, n, "ceil_mode", 1);
    expect_shape_error(g, "pool_ceil", "output size overflows");
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1,2,4,4");
    weight(g, "w", "2,4611686018427387904,1,1");
    n = node(g, "ConvTranspose", "convt_group", "x,w", "y");
    attr_int(g, n, "group", 2);
    expect_shape_error(g, "convt_group", "output channels 4611686018427387904 x 2 overflows int64");
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1,1,9223372036854775807,1");
    weight(g, "w", "1,1,2,1");
    n = node(g, "ConvTranspose", "convt_big", "x,w", "y");
    attr_ints(g, n, "strides", 2, (int64_t)2, (int64_t)1);
    expect_shape_error(g, "convt_big", "output size overflows");

    /* SpaceToDepth multiplies channels by blocksize^2. */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "1,4611686018427387904,2,2");
    n = node(g, "SpaceToDepth", "s2d", "x", "y");
    attr_int(g, n, "blocksize", 2);
    expect_shape_error(g, "s2d", "channels 4611686018427387904 x 4 overflows int64");

    /* Slice with starts/ends/steps at the int64 extremes. */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "9223372036854775807");
    init_ints(g, "s_min", 1, 1, INT64_MIN);
    init_ints(g, "s_max", 1, 1, M);
    init_ints(g, "e_min", 1, 1, INT64_MIN);
    init_ints(g, "e_max", 1, 1, M);
    init_ints(g, "ax", 1, 1, (int64_t)0);
    init_ints(g, "st_max", 1, 1, M);
    init_ints(g, "st_min", 1, 1, INT64_MIN);
    init_ints(g, "st_m1", 1, 1, (int64_t)-1);
    node(g, "Slice", "sl_a", "x,s_min,e_max,ax,st_max", "a");
    node(g, "Slice", "sl_b", "x,s_max,e_min,ax,st_m1", "b");
    node(g, "Slice", "sl_c", "x,s_max,e_min,ax,st_min", "c");
    node(g, "Slice", "sl_d", "x,s_min,e_max", "d");
    node(g, "Slice", "sl_e", "x,s_min,e_min,ax,st_min", "e");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "a", "1");
    CHECK_SHAPE(g, "b", "9223372036854775807");
    CHECK_SHAPE(g, "c", "1");
    CHECK_SHAPE(g, "d", "9223372036854775807");
    CHECK_SHAPE(g, "e", "1"); /* from -1 -> 0 backwards to -1: just element 0 */
    free_graph(g);

    /* Range: lengths up to INT64_MAX; (limit - start) / -1 at INT64_MIN. */
    g = new_graph(17);
    init_ints(g, "zero", 0, 1, (int64_t)0);
    init_ints(g, "lmax", 0, 1, M);
    init_ints(g, "one", 0, 1, (int64_t)1);
    node(g, "Range", "range_max", "zero,lmax,one", "r");
    CHECK_EQ_INT(infer(g), PX_OK);
    CHECK_SHAPE(g, "r", "9223372036854775807");
    free_graph(g);
    g = new_graph(17);
    init_ints(g, "zero", 0, 1, (int64_t)0);
    init_ints(g, "lmin", 0, 1, INT64_MIN);
    init_ints(g, "m1", 0, 1, (int64_t)-1);
    node(g, "Range", "range_neg", "zero,lmin,m1", "r");
    expect_shape_error(g, "range_neg", "range length overflows");

    /* Resize with keep_aspect_ratio_policy scaling a dim past int64. */
    g = new_graph(18);
    input(g, "x", PX_DT_FLOAT, "2,4");
    init_ints(g, "sz", 1, 2, M, (int64_t)4);
    n = node(g, "Resize", "resize_big", "x,,,sz", "y");
    attr_str(g, n, "keep_aspect_ratio_policy", "not_smaller");
    expect_shape_error(g, "resize_big", "output size");

    /* OneHot with a NaN depth (converting NaN to int64 is undefined). */
    g = new_graph(17);
    input(g, "i", PX_DT_INT64, "3");
    init_floats(g, "depth", 1, (double)NAN);
    init_floats(g, "vals", 2, 0.0, 1.0);
    node(g, "OneHot", "onehot_nan", "i,depth,vals", "y");
    expect_shape_error(g, "onehot_nan", "depth nan is out of range");

    /* Element-type attributes are checked before narrowing to int:
     * 2^32 + 1 is not float32. */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "2");
    n = node(g, "Cast", "cast_wide", "x", "y");
    attr_int(g, n, "to", ((int64_t)1 << 32) + 1);
    expect_shape_error(g, "cast_wide", "unknown element type 4294967297");
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "2,3");
    n = node(g, "LayerNormalization", "ln_wide", "x", "y,mean,istd");
    attr_int(g, n, "stash_type", ((int64_t)1 << 32) + 1);
    expect_shape_error(g, "ln_wide", "stash_type 4294967297");

    /* Data propagation through arithmetic at the extremes stays exact or
     * becomes a symbol: Shape -> Add/Mul/Sub/Neg/Div/Mod/ReduceProd. */
    g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "9223372036854775807,2");
    init_ints(g, "big", 1, 1, M);
    init_ints(g, "negbig", 1, 1, -M);
    init_ints(g, "minv", 1, 1, INT64_MIN);
    init_ints(g, "m1", 1, 1, (int64_t)-1);
    node(g, "Shape", "shape", "x", "s");
    node(g, "Add", "add", "s,big", "a");
    node(g, "Add", "add_exact", "s,negbig", "ax");
    node(g, "Mul", "mul", "s,big", "m");
    node(g, "Sub", "sub", "minv,s", "d");
    node(g, "Neg", "neg", "minv", "ng");
    node(g, "Div", "div", "minv,m1", "dv");
    node(g, "Mod", "mod", "minv,m1", "md");
    node(g, "ReduceProd", "rprod", "s", "rp");
    node(g, "ReduceSum", "rsum", "s", "rsm");
    CHECK_EQ_INT(infer(g), PX_OK);
    const px_value *a = &g->values[px_graph_find(g, "a")];
    CHECK(a->n_data == 2 && a->data[0].sym != NULL && a->data[1].sym != NULL); /* overflowed: symbols */
    const px_value *ax = &g->values[px_graph_find(g, "ax")];
    CHECK(ax->n_data == 2 && !ax->data[0].sym && ax->data[0].v == 0 && !ax->data[1].sym && ax->data[1].v == 2 - M);
    const px_value *rp = &g->values[px_graph_find(g, "rp")];
    CHECK(rp->n_data == 1 && rp->data[0].sym != NULL);
    const px_value *rsm = &g->values[px_graph_find(g, "rsm")];
    CHECK(rsm->n_data == 1 && rsm->data[0].sym != NULL);
    const px_value *dv = &g->values[px_graph_find(g, "dv")];
    CHECK(dv->n_data == 1 && dv->data[0].sym != NULL);
    free_graph(g);
}

/* A 6,000-node transformer-like chain infers in well under a second. */
static void test_speed(void)
{
    px_graph *g = new_graph(17);
    input(g, "x", PX_DT_FLOAT, "batch,seq,64");
    weight(g, "w", "64,64");
    init_ints(g, "i0", 0, 1, (int64_t)0);
    init_ints(g, "ax", 1, 1, (int64_t)0);
    init_ints(g, "tail", 1, 2, (int64_t)-1, (int64_t)64);
    char prev[32] = "x", a[32], b[32], c[32], d[32], e[32], f[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(a, sizeof a, "mm%d", i);
        snprintf(b, sizeof b, "add%d", i);
        snprintf(c, sizeof c, "shape%d", i);
        snprintf(d, sizeof d, "gather%d", i);
        snprintf(e, sizeof e, "unsq%d", i);
        snprintf(f, sizeof f, "cat%d", i);
        char ins[80];
        snprintf(ins, sizeof ins, "%s,w", prev);
        node(g, "MatMul", a, ins, a);
        snprintf(ins, sizeof ins, "%s,%s", a, prev);
        node(g, "Add", b, ins, b);
        node(g, "Shape", c, b, c);
        snprintf(ins, sizeof ins, "%s,i0", c);
        node(g, "Gather", d, ins, d);
        snprintf(ins, sizeof ins, "%s,ax", d);
        node(g, "Unsqueeze", e, ins, e);
        snprintf(ins, sizeof ins, "%s,tail", e);
        int n = node(g, "Concat", f, ins, f);
        attr_int(g, n, "axis", 0);
        snprintf(ins, sizeof ins, "%s,%s", b, f);
        char r[32];
        snprintf(r, sizeof r, "reshape%d", i);
        node(g, "Reshape", r, ins, r);
        snprintf(prev, sizeof prev, "%s", r);
    }
    CHECK(g->n_nodes >= 6000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ_INT(infer(g), PX_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    CHECK(s < 1.0);
    if (s >= 0.25) fprintf(stderr, "note: %d nodes took %.3f s\n", g->n_nodes, s);
    CHECK_SHAPE(g, "reshape999", "batch,seq,64");
    free_graph(g);
}

int main(void)
{
    RUN(test_broadcast);
    RUN(test_conv_pool);
    RUN(test_reshape);
    RUN(test_slice);
    RUN(test_opset_moves);
    RUN(test_symbols_and_matmul);
    RUN(test_data_propagation);
    RUN(test_unsupported_and_unknown);
    RUN(test_declared_outputs);
    RUN(test_misc_ops);
    RUN(test_overflow);
    RUN(test_int64_max_dims);
    RUN(test_speed);
    return test_summary("shape");
}
