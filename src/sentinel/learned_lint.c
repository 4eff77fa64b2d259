/* Structures the learned generator must not write because ONNX Runtime
 * cannot optimize them (a sentinel ORT refuses would stand out: real
 * subgraphs all load).  One known so far, in ONNX Runtime 1.32's
 * MatMulScaleFusion at ORT_ENABLE_EXTENDED and above: a value scaled by a
 * one-element constant that a MatMul reads, scaled again on the way to
 * another MatMul; the fusion deletes the first scaling while the second
 * still reads it ("Node input ... is not a graph input"). */
#include <string.h>

#include "sentinel/learned_int.h"

static int is_const(const px_graph *g, int v)
{
    if (v < 0) return 0;
    if (g->values[v].flags & PX_VAL_INIT) return 1;
    int p = g->values[v].producer;
    return p >= 0 && !strcmp(g->nodes[p].op_type, "Constant");
}

/* Whether node n multiplies or divides an activation by a one-element
 * constant. */
static int scaling(const px_graph *g, const px_node *n)
{
    if ((strcmp(n->op_type, "Mul") && strcmp(n->op_type, "Div")) || n->n_inputs != 2) return 0;
    for (int s = 0; s < 2; s++)
        if (is_const(g, n->inputs[s]) && !is_const(g, n->inputs[1 - s]) && px_shape_numel(&g->values[n->inputs[s]].shape) == 1)
            return 1;
    return 0;
}

/* Whether value v reaches a MatMul through scalings alone (depth hops at most). */
static int scaled_into_matmul(const px_graph *g, int v, int depth)
{
    for (int c = g->cons_start[v]; c < g->cons_start[v + 1]; c++) {
        const px_node *n = &g->nodes[g->cons[c]];
        if (!strcmp(n->op_type, "MatMul")) return 1;
        if (depth > 0 && scaling(g, n) && n->outputs[0] >= 0 && scaled_into_matmul(g, n->outputs[0], depth - 1)) return 1;
    }
    return 0;
}

px_status learned_ort_safe(px_graph *g, int *safe)
{
    *safe = 1;
    px_status st = px_graph_index(g);
    if (st) return st;
    for (int i = 0; i < g->n_nodes && *safe; i++) {
        const px_node *n = &g->nodes[i];
        int v = n->n_outputs > 0 ? n->outputs[0] : -1;
        if (v < 0 || !scaling(g, n)) continue;
        int direct = 0, rescaled = 0;
        for (int c = g->cons_start[v]; c < g->cons_start[v + 1]; c++) {
            const px_node *m = &g->nodes[g->cons[c]];
            if (!strcmp(m->op_type, "MatMul")) direct = 1;
            else if (scaling(g, m) && m->outputs[0] >= 0 && scaled_into_matmul(g, m->outputs[0], 4)) rescaled = 1;
        }
        *safe = !(direct && rescaled);
    }
    return PX_OK;
}
