/* Sentinel weights stored as the model stores its own: as initializers, or
 * as Constant nodes (Paddle exports keep no initializer at all; torch
 * writes a few small tensors so).  A model whose files all carry Constant
 * weights would otherwise name every file with initializers a sentinel. */
#include <stdio.h>
#include <string.h>

#include "sentinel/sentinel.h"

static int float_weight(const px_tensor *t) { return t && px_dtype_is_float(t->dtype) && t->rank >= 1; }

void px_sentinel_storage(const px_graph *model, int *in_consts, int *in_inits)
{
    *in_consts = *in_inits = 0;
    if (!model) return;
    for (int i = 0; i < model->n_inits; i++) *in_inits += float_weight(model->values[model->inits[i]].init);
    for (int i = 0; i < model->n_nodes; i++) {
        const px_node *nd = &model->nodes[i];
        if (strcmp(nd->op_type, "Constant") || (nd->domain && *nd->domain)) continue;
        for (int a = 0; a < nd->n_attrs; a++)
            *in_consts += !strcmp(nd->attrs[a].name, "value") && float_weight(nd->attrs[a].t);
    }
}

/* Initializer v of g becomes the output of a new Constant node. */
static px_status to_constant(px_graph *g, int v, int serial)
{
    px_tensor *t = g->values[v].init;
    char name[32];
    snprintf(name, sizeof name, "stored%d", serial);
    int node = px_graph_add_node(g, "Constant", "", name);
    if (node < 0) return px_nomem();
    px_status st = px_node_set_outputs(g, node, &v, 1);
    px_attr a = {.name = "value", .type = PX_ATTR_TENSOR, .t = t};
    if (!st) st = px_node_add_attr(g, node, &a); /* a copy */
    if (!st) px_tensor_free(px_graph_take_init(g, v));
    return st;
}

px_status px_sentinel_store_like(px_graph *sent, int in_consts, int in_inits, px_rng *rng)
{
    if (in_consts <= 0) return PX_OK;
    int moved = 0;
    for (int i = 0; i < sent->n_inits;) {
        int v = sent->inits[i];
        const px_tensor *t = sent->values[v].init;
        /* without data (a weightless model) a tensor stays an initializer */
        if (!float_weight(t) || !t->data ||
            px_rng_below(rng, (uint64_t)in_consts + (uint64_t)in_inits) >= (uint64_t)in_consts) {
            i++;
            continue;
        }
        px_status st = to_constant(sent, v, moved++);
        if (st) return st;
    }
    return moved ? px_graph_sort(sent) : PX_OK;
}
