#include "reassemble/seam.h"

#include <stdlib.h>
#include <string.h>

static int is_op(const px_node *n, const char *domain, const char *op)
{
    return !strcmp(n->op_type, op) && !strcmp(n->domain, domain);
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

/* Follows the replacement chain of v (each entry points to a value
 * resolved when it was set, so one step suffices). */
static int resolve(const int *alias, int v) { return v >= 0 && alias[v] >= 0 ? alias[v] : v; }

/* One pass in topological order (the graph is sorted): each node's inputs
 * are first redirected past what was removed before it, then it goes if it
 * is an Identity or undoes its producer.  Linear in the graph's size: no
 * re-indexing, no scan of every node per removal. */
static px_status seam_pass(px_graph *g, int *removed)
{
    px_status st = px_graph_index(g);
    if (st) return st;
    int nv = g->n_values, nn = g->n_nodes;
    int *alias = malloc(((size_t)nv + 1) * sizeof *alias);
    int *uses = malloc(((size_t)nv + 1) * sizeof *uses);
    char *dead = calloc((size_t)nn + 1, 1);
    if (!alias || !uses || !dead) {
        free(alias);
        free(uses);
        free(dead);
        return px_nomem();
    }
    for (int v = 0; v < nv; v++) {
        alias[v] = -1;
        uses[v] = g->cons_start[v + 1] - g->cons_start[v];
    }
    int n = 0;
    for (int i = 0; i < nn; i++) {
        px_node *b = &g->nodes[i];
        for (int j = 0; j < b->n_inputs; j++) {
            /* (uses[r] already counts this read: moved over when aliased) */
            int r = resolve(alias, b->inputs[j]);
            if (r != b->inputs[j]) b->inputs[j] = r;
        }
        if (b->n_inputs < 1 || b->n_outputs != 1 || b->inputs[0] < 0 || b->outputs[0] < 0) continue;
        int out = b->outputs[0];
        if (g->values[out].flags & PX_VAL_OUTPUT) continue;
        int to = -1, pa = -1;
        if (is_op(b, "", "Identity")) {
            to = b->inputs[0];
        } else {
            int mid = b->inputs[0];
            pa = g->values[mid].producer;
            if (pa < 0 || pa >= i || dead[pa]) continue;
            px_node *a = &g->nodes[pa];
            if (a->n_inputs < 1 || a->inputs[0] < 0 || a->n_outputs != 1) continue;
            int src = a->inputs[0], match = 0;
            if (is_op(b, "com.microsoft.nchwc", "ReorderInput") && is_op(a, "com.microsoft.nchwc", "ReorderOutput")) {
                /* with block padding too: the padded channels of the
                 * blocked tensor then keep what the producer left there
                 * instead of zeros, as between two NCHWc nodes of a whole
                 * model ONNX Runtime optimizes (its blocked kernels never
                 * mix padding into real channels: the weights it pads are
                 * zero), and ReorderInput pads to the same block count */
                int64_t ch = px_attr_int(a, "channels", 0);
                match = px_attr_int(a, "channels_last", 0) == px_attr_int(b, "channels_last", 0) && ch > 0;
            } else if (is_op(b, "", "Transpose") && is_op(a, "", "Transpose")) {
                match = perms_cancel(a, b);
            } else if (is_op(b, "", "Cast") && is_op(a, "", "Cast")) {
                px_dtype t0 = g->values[src].dtype, t1 = (px_dtype)px_attr_int(a, "to", 0);
                match = t0 != PX_DT_UNDEFINED && px_attr_int(b, "to", -1) == (int64_t)t0 && lossless(t0, t1);
            }
            if (!match) continue;
            to = src;
        }
        /* b goes: its readers (all later in topological order) read `to`
         * instead, so they count as readers of `to` from now on */
        alias[out] = to;
        uses[to] += uses[out];
        dead[i] = 1;
        n++;
        for (int j = 0; j < b->n_inputs; j++)
            if (b->inputs[j] >= 0) uses[b->inputs[j]]--;
        /* its producer too, when nothing else reads the producer's output */
        if (pa >= 0) {
            int mid = g->nodes[pa].outputs[0];
            if (uses[mid] == 0 && !(g->values[mid].flags & PX_VAL_OUTPUT)) {
                px_node *a = &g->nodes[pa];
                dead[pa] = 1;
                n++;
                for (int j = 0; j < a->n_inputs; j++)
                    if (a->inputs[j] >= 0) uses[a->inputs[j]]--;
            }
        }
    }
    *removed = n;
    st = n ? px_graph_remove_nodes(g, dead) : PX_OK;
    free(alias);
    free(uses);
    free(dead);
    return st;
}

px_status px_seam_cleanup(px_graph *g, int *removed)
{
    *removed = 0;
    /* one pass finds every pair a pass can; a few more catch pairs that only
     * meet once a later node is gone (rare): bounded, so never quadratic */
    for (int pass = 0; pass < 4; pass++) {
        int n = 0;
        px_status st = seam_pass(g, &n);
        if (st) return st;
        *removed += n;
        if (!n) break;
    }
    return PX_OK;
}
