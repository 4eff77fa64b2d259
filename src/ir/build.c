#include "ir/build.h"

#include <stdio.h>
#include <string.h>

int px_build_value(px_graph *g, int *counter)
{
    char buf[32];
    snprintf(buf, sizeof buf, "v%d", (*counter)++);
    return px_graph_add_value(g, buf);
}

px_status px_build_node(px_graph *g, int *counter, const char *op, const int *ins, int n_in, int *out, int *node_out)
{
    char buf[32];
    snprintf(buf, sizeof buf, "s%d", (*counter)++);
    int node = px_graph_add_node(g, op, "", buf);
    int v = px_build_value(g, counter);
    if (node < 0 || v < 0) return px_nomem();
    px_status st = px_node_set_inputs(g, node, ins, n_in);
    if (!st) st = px_node_set_outputs(g, node, &v, 1);
    if (st) return st;
    *out = v;
    if (node_out) *node_out = node;
    return PX_OK;
}

px_status px_build_attr_int(px_graph *g, int node, const char *name, int64_t v)
{
    px_attr a = {.name = name, .type = PX_ATTR_INT, .i = v};
    return px_node_add_attr(g, node, &a);
}

px_status px_build_attr_float(px_graph *g, int node, const char *name, float v)
{
    px_attr a = {.name = name, .type = PX_ATTR_FLOAT, .f = v};
    return px_node_add_attr(g, node, &a);
}

px_status px_build_attr_ints(px_graph *g, int node, const char *name, const int64_t *v, int n)
{
    px_attr a = {.name = name, .type = PX_ATTR_INTS, .n = n, .ints = (int64_t *)v};
    return px_node_add_attr(g, node, &a);
}

px_status px_build_attr_string(px_graph *g, int node, const char *name, const char *v)
{
    px_attr a = {.name = name, .type = PX_ATTR_STRING, .s = v, .s_len = strlen(v)};
    return px_node_add_attr(g, node, &a);
}

px_status px_build_init(px_graph *g, int *counter, px_tensor *t, int *out)
{
    int v = px_build_value(g, counter);
    if (v < 0) {
        px_tensor_free(t);
        return px_nomem();
    }
    px_dtype dt = t->dtype;
    int rank = t->rank;
    int64_t dims[PX_MAX_RANK];
    for (int i = 0; i < rank && i < PX_MAX_RANK; i++) dims[i] = t->dims[i];
    px_status st = px_graph_add_init(g, v, t);
    if (!st) st = px_shape_set_known(g, &g->values[v].shape, rank, dims);
    if (st) return st;
    g->values[v].dtype = dt;
    *out = v;
    return PX_OK;
}

px_tensor *px_build_int64_tensor(const int64_t *vals, int n, int scalar)
{
    int64_t dim = n;
    px_tensor *t = scalar && n == 1 ? px_tensor_new(PX_DT_INT64, 0, NULL) : px_tensor_new(PX_DT_INT64, 1, &dim);
    if (!t || px_tensor_alloc_data(t)) {
        px_tensor_free(t);
        return NULL;
    }
    if (n) memcpy(t->data, vals, (size_t)n * sizeof *vals);
    return t;
}

px_status px_build_int64_scalar(px_graph *g, int *counter, int64_t v, int *out)
{
    px_tensor *t = px_build_int64_tensor(&v, 1, 1);
    return t ? px_build_init(g, counter, t, out) : px_nomem();
}

px_status px_build_int64s(px_graph *g, int *counter, const int64_t *vals, int n, int *out)
{
    px_tensor *t = px_build_int64_tensor(vals, n, 0);
    return t ? px_build_init(g, counter, t, out) : px_nomem();
}

px_status px_build_constant(px_graph *g, int *counter, px_tensor *t, int *out)
{
    if (!t) return px_nomem();
    int node;
    px_status st = px_build_node(g, counter, "Constant", NULL, 0, out, &node);
    if (!st) {
        px_attr a = {.name = "value", .type = PX_ATTR_TENSOR, .t = t};
        st = px_node_add_attr(g, node, &a); /* a copy */
    }
    px_tensor_free(t);
    return st;
}
