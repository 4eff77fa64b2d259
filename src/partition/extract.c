#include "partition/extract.h"

#include <stdlib.h>
#include <string.h>

void px_part_io_free(px_part_io *io)
{
    free(io->inputs);
    free(io->outputs);
    memset(io, 0, sizeof *io);
}

static px_status copy_value_type(const px_graph *g, int src, px_graph *out, int dst)
{
    const px_value *s = &g->values[src];
    px_value *d = &out->values[dst];
    d->dtype = s->dtype;
    if (s->type_raw) {
        d->type_raw = px_arena_memdup(&out->arena, s->type_raw, s->type_raw_len);
        if (!d->type_raw) return px_nomem();
        d->type_raw_len = s->type_raw_len;
    }
    return s->shape.rank >= 0 ? px_shape_copy(out, &d->shape, &s->shape) : PX_OK;
}

/* Maps an original value id to the id in out, creating it on first use. */
static int map_value(const px_graph *g, px_graph *out, int *vmap, int v)
{
    if (v < 0) return -1;
    if (vmap[v] >= 0) return vmap[v];
    int id = px_graph_add_value(out, g->values[v].name);
    if (id < 0) return -1;
    if (copy_value_type(g, v, out, id)) return -1;
    vmap[v] = id;
    return id;
}


/* A cut value (a part's input or output) must have a type: its sentinels
 * are generated for it. */
static px_status check_typed(const px_value *val)
{
    if (val->dtype != PX_DT_UNDEFINED || val->type_raw) return PX_OK;
    return px_fail(PX_ERR_UNSUPPORTED, "cannot cut at value '%s': its type is unknown", val->name);
}
px_status px_extract_part(const px_graph *g, const px_partition *p, int part, px_graph *out, px_part_io *io)
{
    px_graph_init(out);
    memset(io, 0, sizeof *io);
    int n = g->n_nodes;
    char *take = calloc((size_t)n + 1, 1);
    int *vmap = malloc(((size_t)g->n_values + 1) * sizeof *vmap);
    char *produced = calloc((size_t)g->n_values + 1, 1);
    char *is_input = calloc((size_t)g->n_values + 1, 1);
    int *stack = malloc(((size_t)n + 1) * sizeof *stack);
    px_status st = PX_OK;
    if (!take || !vmap || !produced || !is_input || !stack) {
        st = px_nomem();
        goto out;
    }
    for (int v = 0; v < g->n_values; v++) vmap[v] = -1;
    /* the part's nodes, plus the constant-only nodes they read, transitively */
    int sp = 0;
    for (int i = 0; i < n; i++)
        if (p->part_of[i] == part) {
            take[i] = 1;
            stack[sp++] = i;
        }
    while (sp > 0) {
        const px_node *nd = &g->nodes[stack[--sp]];
        for (int j = 0; j < nd->n_inputs; j++) {
            int v = nd->inputs[j];
            int pr = v >= 0 ? g->values[v].producer : -1;
            if (pr >= 0 && p->part_of[pr] < 0 && !take[pr]) {
                take[pr] = 1;
                stack[sp++] = pr;
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (take[i])
            for (int j = 0; j < g->nodes[i].n_outputs; j++)
                if (g->nodes[i].outputs[j] >= 0) produced[g->nodes[i].outputs[j]] = 1;

    out->ir_version = g->ir_version;
    for (int i = 0; i < g->n_opsets; i++)
        if ((st = px_graph_set_opset(out, g->opsets[i].domain, g->opsets[i].version))) goto out;

    io->inputs = malloc(((size_t)g->n_values + 1) * sizeof *io->inputs);
    io->outputs = malloc(((size_t)g->n_values + 1) * sizeof *io->outputs);
    if (!io->inputs || !io->outputs) {
        st = px_nomem();
        goto out;
    }
    /* Inputs first (by first use), so the subgraph's value order is stable. */
    for (int i = 0; i < n; i++) {
        if (!take[i]) continue;
        const px_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_inputs; j++) {
            int v = nd->inputs[j];
            if (v < 0 || produced[v] || is_input[v]) continue;
            const px_value *val = &g->values[v];
            if ((val->flags & PX_VAL_INIT) && !(val->flags & PX_VAL_INPUT)) continue;
            if ((st = check_typed(val))) goto out;
            is_input[v] = 1;
            int id = map_value(g, out, vmap, v);
            if (id < 0 || (st = px_graph_add_input(out, id))) {
                if (!st) st = px_nomem();
                goto out;
            }
            io->inputs[io->n_inputs++] = v;
        }
    }
    /* Initializers read by the taken nodes. */
    for (int i = 0; i < n; i++) {
        if (!take[i]) continue;
        const px_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_inputs; j++) {
            int v = nd->inputs[j];
            if (v < 0 || vmap[v] >= 0 || !(g->values[v].flags & PX_VAL_INIT)) continue;
            int id = map_value(g, out, vmap, v);
            px_tensor *t = id >= 0 ? px_tensor_clone(g->values[v].init) : NULL;
            if (!t) {
                st = px_nomem();
                goto out;
            }
            if ((st = px_graph_add_init(out, id, t))) goto out;
        }
    }
    /* Nodes in the original (topological) order. */
    for (int i = 0; i < n; i++) {
        if (!take[i]) continue;
        const px_node *nd = &g->nodes[i];
        /* map (create) every value the node touches, then copy it */
        for (int j = 0; j < nd->n_inputs + nd->n_outputs; j++) {
            int v = j < nd->n_inputs ? nd->inputs[j] : nd->outputs[j - nd->n_inputs];
            if (v >= 0 && map_value(g, out, vmap, v) < 0) {
                st = px_nomem();
                goto out;
            }
        }
        if (px_graph_copy_node(out, nd, vmap, nd->name) < 0) {
            st = PX_ERR_NOMEM;
            goto out;
        }
    }
    /* Outputs: produced by this part's own nodes and read elsewhere. */
    for (int i = 0; i < n; i++) {
        if (p->part_of[i] != part) continue;
        const px_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_outputs; j++) {
            int v = nd->outputs[j];
            if (v < 0) continue;
            int wanted = (g->values[v].flags & PX_VAL_OUTPUT) != 0;
            for (int c = g->cons_start[v]; c < g->cons_start[v + 1] && !wanted; c++)
                if (p->part_of[g->cons[c]] != part) wanted = 1;
            if (!wanted) continue;
            if ((st = check_typed(&g->values[v]))) goto out;
            if ((st = px_graph_add_output(out, vmap[v]))) goto out;
            io->outputs[io->n_outputs++] = v;
        }
    }
    if (io->n_outputs == 0) st = px_fail(PX_ERR_INVALID, "part %d has no outputs", part);
out:
    free(take);
    free(vmap);
    free(produced);
    free(is_input);
    free(stack);
    if (st) {
        px_graph_free(out);
        px_graph_init(out);
        px_part_io_free(io);
    }
    return st;
}
