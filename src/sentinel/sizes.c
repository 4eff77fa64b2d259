/* The sizes of a model's real subgraphs, as a pool that sentinel sizes are
 * drawn from (sentinel.h: part_sizes, part_weights). */
#include <stdlib.h>
#include <string.h>

#include "sentinel/sentinel.h"

/* The float elements of a Constant node's tensor (0 for other nodes). */
static int64_t constant_elems(const px_node *nd)
{
    if (strcmp(nd->op_type, "Constant") || (nd->domain && *nd->domain)) return 0;
    for (int a = 0; a < nd->n_attrs; a++)
        if (!strcmp(nd->attrs[a].name, "value") && nd->attrs[a].t && px_dtype_is_float(nd->attrs[a].t->dtype))
            return nd->attrs[a].t->numel;
    return 0;
}

/* Adds to *w the weights behind value v for part p: an initializer, or the
 * Constant tensors of the constant cone (part -1: replicated into every part
 * that reads it, as exporters that write weights as Constant nodes, or
 * through a Cast or an Identity, give them).  seen[v] == p: counted. */
static void add_weights(const px_graph *g, const int *part_of, int p, int v0, int *seen, int *stack, int64_t *w)
{
    int n = 0;
    if (v0 < 0 || v0 >= g->n_values || seen[v0] == p) return;
    seen[v0] = p; /* marked when pushed: each value at most once on the stack */
    stack[n++] = v0;
    while (n > 0) {
        int v = stack[--n];
        const px_tensor *t = (g->values[v].flags & PX_VAL_INIT) ? g->values[v].init : NULL;
        if (t) {
            *w += px_dtype_is_float(t->dtype) ? t->numel : 0;
            continue;
        }
        int q = g->values[v].producer;
        if (q < 0 || q >= g->n_nodes || part_of[q] >= 0) continue;
        *w += constant_elems(&g->nodes[q]);
        for (int i = 0; i < g->nodes[q].n_inputs; i++) {
            int u = g->nodes[q].inputs[i];
            if (u < 0 || u >= g->n_values || seen[u] == p) continue;
            seen[u] = p;
            stack[n++] = u;
        }
    }
}

px_status px_part_weight_elems(const px_graph *g, const int *part_of, int n_parts, int64_t **out)
{
    *out = NULL;
    if (n_parts <= 0) return PX_OK;
    int64_t *w = calloc((size_t)n_parts, sizeof *w);
    int *start = calloc((size_t)n_parts + 1, sizeof *start);
    int *order = calloc((size_t)g->n_nodes + 1, sizeof *order);
    int *seen = malloc(((size_t)g->n_values + 1) * sizeof *seen);
    int *stack = malloc(((size_t)g->n_values + 1) * sizeof *stack);
    if (!w || !start || !order || !seen || !stack) {
        free(stack);
        free(w);
        free(start);
        free(order);
        free(seen);
        return px_nomem();
    }
    /* nodes grouped by part (a counting sort), so that one mark per value
     * counts a weight once per part however many of its nodes read it */
    for (int i = 0; i < g->n_nodes; i++)
        if (part_of[i] >= 0 && part_of[i] < n_parts) start[part_of[i] + 1]++;
    for (int p = 0; p < n_parts; p++) start[p + 1] += start[p];
    for (int i = 0; i < g->n_nodes; i++)
        if (part_of[i] >= 0 && part_of[i] < n_parts) order[start[part_of[i]]++] = i;
    for (int v = 0; v < g->n_values; v++) seen[v] = -1;
    for (int j = 0; j < start[n_parts - 1]; j++) {
        const px_node *nd = &g->nodes[order[j]];
        int p = part_of[order[j]];
        for (int i = 0; i < nd->n_inputs; i++) add_weights(g, part_of, p, nd->inputs[i], seen, stack, &w[p]);
    }
    free(start);
    free(order);
    free(seen);
    free(stack);
    *out = w;
    return PX_OK;
}
