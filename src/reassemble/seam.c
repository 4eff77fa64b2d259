#include "reassemble/seam.h"

#include <stdlib.h>
#include <string.h>

static int is_op(const px_node *n, const char *domain, const char *op)
{
    return !strcmp(n->op_type, op) && !strcmp(n->domain, domain);
}

/* value v is read by exactly one node and is not a graph output */
static int private_value(const px_graph *g, int v)
{
    return v >= 0 && !(g->values[v].flags & PX_VAL_OUTPUT) && g->cons_start[v + 1] - g->cons_start[v] == 1;
}

/* Every value of `from` is representable in `to`. */
static int lossless(px_dtype from, px_dtype to)
{
    if (from == to) return 1;
    switch (from) {
    case PX_DT_BOOL: return px_dtype_is_int(to) || px_dtype_is_float(to);
    case PX_DT_INT8: return to == PX_DT_INT16 || to == PX_DT_INT32 || to == PX_DT_INT64 || to == PX_DT_FLOAT || to == PX_DT_DOUBLE || to == PX_DT_FLOAT16;
    case PX_DT_UINT8: return to == PX_DT_INT16 || to == PX_DT_UINT16 || to == PX_DT_INT32 || to == PX_DT_UINT32 || to == PX_DT_INT64 || to == PX_DT_UINT64 || to == PX_DT_FLOAT || to == PX_DT_DOUBLE || to == PX_DT_FLOAT16;
    case PX_DT_INT16: return to == PX_DT_INT32 || to == PX_DT_INT64 || to == PX_DT_FLOAT || to == PX_DT_DOUBLE;
    case PX_DT_UINT16: return to == PX_DT_INT32 || to == PX_DT_UINT32 || to == PX_DT_INT64 || to == PX_DT_UINT64 || to == PX_DT_FLOAT || to == PX_DT_DOUBLE;
    case PX_DT_INT32: return to == PX_DT_INT64 || to == PX_DT_DOUBLE;
    case PX_DT_UINT32: return to == PX_DT_INT64 || to == PX_DT_UINT64 || to == PX_DT_DOUBLE;
    case PX_DT_FLOAT16: case PX_DT_BFLOAT16: return to == PX_DT_FLOAT || to == PX_DT_DOUBLE;
    case PX_DT_FLOAT: return to == PX_DT_DOUBLE;
    default: return 0;
    }
}

static int perms_cancel(const px_node *a, const px_node *b)
{
    int na, nb;
    const int64_t *pa = px_attr_ints(a, "perm", &na), *pb = px_attr_ints(b, "perm", &nb);
    if (!pa || !pb || na != nb) return 0;
    for (int i = 0; i < na; i++) {
        if (pb[i] < 0 || pb[i] >= na) return 0;
        if (pa[pb[i]] != i) return 0;
    }
    return 1;
}

px_status px_seam_cleanup(px_graph *g, int *removed)
{
    *removed = 0;
    px_status st;
    for (int changed = 1; changed;) {
        changed = 0;
        if ((st = px_graph_index(g))) return st;
        char *dead = calloc((size_t)g->n_nodes + 1, 1);
        if (!dead) return px_nomem();
        for (int i = 0; i < g->n_nodes; i++) {
            px_node *b = &g->nodes[i];
            if (dead[i] || b->n_inputs < 1 || b->n_outputs != 1 || b->inputs[0] < 0 || b->outputs[0] < 0) continue;
            int out = b->outputs[0];
            if (g->values[out].flags & PX_VAL_OUTPUT) continue;
            if (is_op(b, "", "Identity")) {
                px_graph_replace_uses(g, out, b->inputs[0]);
                dead[i] = 1;
                changed = 1;
                break; /* the consumer index is stale now */
            }
            int mid = b->inputs[0], pa = g->values[mid].producer;
            if (pa < 0 || dead[pa]) continue;
            px_node *a = &g->nodes[pa];
            if (a->n_inputs < 1 || a->inputs[0] < 0 || a->n_outputs != 1) continue;
            int src = a->inputs[0], match = 0;
            if (is_op(b, "com.microsoft.nchwc", "ReorderInput") && is_op(a, "com.microsoft.nchwc", "ReorderOutput")) {
                int64_t ch = px_attr_int(a, "channels", 0);
                match = px_attr_int(a, "channels_last", 0) == px_attr_int(b, "channels_last", 0) && ch > 0 &&
                        ch % 16 == 0;
            } else if (is_op(b, "", "Transpose") && is_op(a, "", "Transpose")) {
                match = perms_cancel(a, b);
            } else if (is_op(b, "", "Cast") && is_op(a, "", "Cast")) {
                px_dtype t0 = g->values[src].dtype, t1 = (px_dtype)px_attr_int(a, "to", 0);
                match = t0 != PX_DT_UNDEFINED && px_attr_int(b, "to", -1) == (int64_t)t0 && lossless(t0, t1);
            }
            if (!match) continue;
            /* b goes; a too unless something else still reads its output */
            int a_private = private_value(g, mid);
            px_graph_replace_uses(g, out, src);
            dead[i] = 1;
            if (a_private) dead[pa] = 1;
            changed = 1;
            break;
        }
        int n = 0;
        for (int i = 0; i < g->n_nodes; i++) n += dead[i];
        *removed += n;
        st = n ? px_graph_remove_nodes(g, dead) : PX_OK;
        free(dead);
        if (st) return st;
    }
    return PX_OK;
}
