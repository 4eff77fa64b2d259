/* px_graph_skeleton: see skeleton.h. */
#include "ir/skeleton.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

enum { ROUNDS = 3 };

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted, so that the order attributes (or successors) are listed in does
 * not count. */
static uint64_t mix_sorted(uint64_t h, uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    h = px_mix64(h, (uint64_t)n);
    for (int i = 0; i < n; i++) h = px_mix64(h, v[i]);
    return h;
}

/* A tensor as structure: dtype and rank; its dims with dims; the values
 * of an integer tensor (shapes, axes, indices: what the graph computes
 * with), never a float one's (weights). */
static uint64_t tensor_hash(uint64_t h, const px_tensor *t, int dims)
{
    h = px_mix64(px_mix64(h, (uint64_t)t->dtype), (uint64_t)t->rank);
    if (dims)
        for (int i = 0; i < t->rank; i++) h = px_mix64(h, (uint64_t)t->dims[i]);
    if (t->data && !px_dtype_is_float(t->dtype)) h = px_mix_bytes(h, t->data, t->nbytes);
    return h;
}

/* An attribute; a subgraph body is counted by its kind only. */
static uint64_t attr_hash(const px_attr *a, int dims)
{
    uint64_t h = px_mix_str(px_mix64(0, (uint64_t)a->type), a->name);
    switch (a->type) {
    case PX_ATTR_INT: return px_mix64(h, (uint64_t)a->i);
    case PX_ATTR_FLOAT: {
        uint32_t u;
        memcpy(&u, &a->f, sizeof u);
        return px_mix64(h, u);
    }
    case PX_ATTR_STRING: return px_mix_bytes(h, a->s, a->s ? a->s_len : 0);
    case PX_ATTR_INTS:
        for (int i = 0; i < a->n; i++) h = px_mix64(h, (uint64_t)a->ints[i]);
        return px_mix64(h, (uint64_t)a->n);
    case PX_ATTR_FLOATS:
        for (int i = 0; i < a->n; i++) {
            uint32_t u;
            memcpy(&u, &a->floats[i], sizeof u);
            h = px_mix64(h, u);
        }
        return px_mix64(h, (uint64_t)a->n);
    case PX_ATTR_STRINGS:
        for (int i = 0; i < a->n; i++) h = px_mix_bytes(h, a->strings[i], a->string_lens ? a->string_lens[i] : 0);
        return px_mix64(h, (uint64_t)a->n);
    case PX_ATTR_TENSOR: return a->t ? tensor_hash(h, a->t, dims) : h;
    default: return h;
    }
}

static uint64_t shape_hash(uint64_t h, const px_shape *s, int dims)
{
    h = px_mix64(h, (uint64_t)s->rank);
    for (int i = 0; dims && s->dims && i < s->rank; i++) h = s->dims[i].sym ? px_mix_str(h, "?") : px_mix64(h, (uint64_t)s->dims[i].v);
    return h;
}

/* What an input slot reads, as far as the slot itself tells: an initializer
 * (tensor_hash), graph input i (dtype, rank, dims with dims), or a node's
 * output (its producer says the rest; its inferred type is left out, as
 * inference leaves some intermediate values untyped in one cut and not
 * another). */
static uint64_t value_kind(const px_graph *g, int v, int dims)
{
    const px_value *x = &g->values[v];
    if (x->init) return tensor_hash(px_mix64(0, 2), x->init, dims);
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == v) return shape_hash(px_mix64(px_mix64(px_mix64(0, 1), (uint64_t)i), (uint64_t)x->dtype), &x->shape, dims);
    return 3;
}

/* The Weisfeiler-Lehman hash, with or without dims. */
static px_status wl_hash(const px_graph *g, int dims, uint64_t *out)
{
    int n = g->n_nodes, maxa = 1;
    for (int i = 0; i < n; i++) {
        if (g->nodes[i].n_attrs > maxa) maxa = g->nodes[i].n_attrs;
        if (g->nodes[i].n_inputs > maxa) maxa = g->nodes[i].n_inputs;
    }
    uint64_t *lab = malloc(((size_t)n + 1) * sizeof *lab), *next = malloc(((size_t)n + 1) * sizeof *next),
             *tmp = malloc(((size_t)(n > maxa ? n : maxa) + 1) * sizeof *tmp);
    /* consumers of each node as (consumer, slot) pairs, CSR */
    int *cstart = calloc((size_t)n + 2, sizeof *cstart), n_edges = 0;
    if (!lab || !next || !tmp || !cstart) goto nomem;
    for (int j = 0; j < n; j++)
        for (int s = 0; s < g->nodes[j].n_inputs; s++) {
            int v = g->nodes[j].inputs[s];
            if (v >= 0 && g->values[v].producer >= 0) cstart[g->values[v].producer + 1]++, n_edges++;
        }
    for (int i = 0; i < n; i++) cstart[i + 1] += cstart[i];
    int *fill = malloc(((size_t)n + 1) * sizeof *fill), *ce = malloc(((size_t)n_edges + 1) * sizeof *ce),
        *cs = malloc(((size_t)n_edges + 1) * sizeof *cs);
    uint64_t *ctmp = malloc(((size_t)n_edges + 1) * sizeof *ctmp);
    if (!fill || !ce || !cs || !ctmp) {
        free(fill), free(ce), free(cs), free(ctmp);
        goto nomem;
    }
    memcpy(fill, cstart, (size_t)n * sizeof *fill);
    for (int j = 0; j < n; j++)
        for (int s = 0; s < g->nodes[j].n_inputs; s++) {
            int v = g->nodes[j].inputs[s], p = v >= 0 ? g->values[v].producer : -1;
            if (p >= 0) ce[fill[p]] = j, cs[fill[p]++] = s;
        }
    for (int i = 0; i < n; i++) {
        const px_node *nd = &g->nodes[i];
        uint64_t h = px_mix_str(px_mix_str(0, nd->op_type), nd->domain);
        h = px_mix64(px_mix64(h, (uint64_t)nd->n_inputs), (uint64_t)nd->n_outputs);
        for (int a = 0; a < nd->n_attrs; a++) tmp[a] = attr_hash(&nd->attrs[a], dims);
        h = mix_sorted(h, tmp, nd->n_attrs);
        for (int s = 0; s < nd->n_inputs; s++) h = px_mix64(h, nd->inputs[s] < 0 ? 0 : value_kind(g, nd->inputs[s], dims));
        lab[i] = h;
    }
    /* Refinement: a node's label takes in its producers' (slot by slot,
     * with the producer's output index: Split, TopK ...) and its consumers'
     * (as a set). */
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < n; i++) {
            const px_node *nd = &g->nodes[i];
            uint64_t h = lab[i];
            for (int s = 0; s < nd->n_inputs; s++) {
                int v = nd->inputs[s], p = v >= 0 ? g->values[v].producer : -1, slot = 0;
                if (p >= 0)
                    for (int o = 0; o < g->nodes[p].n_outputs; o++)
                        if (g->nodes[p].outputs[o] == v) slot = o;
                h = px_mix64(h, p >= 0 ? px_mix64(lab[p], (uint64_t)slot) : 1);
            }
            int m = 0;
            for (int e = cstart[i]; e < cstart[i + 1]; e++) ctmp[m++] = px_mix64(lab[ce[e]], (uint64_t)cs[e]);
            next[i] = mix_sorted(h, ctmp, m);
        }
        memcpy(lab, next, (size_t)n * sizeof *lab);
    }
    memcpy(tmp, lab, (size_t)n * sizeof *tmp);
    uint64_t h = mix_sorted(0x736b656c65746f6eull, tmp, n); /* "skeleton" */
    h = px_mix64(h, (uint64_t)g->n_inputs);
    for (int i = 0; i < g->n_inputs; i++) h = px_mix64(h, value_kind(g, g->inputs[i], dims));
    h = px_mix64(h, (uint64_t)g->n_outputs);
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i], p = g->values[v].producer;
        h = px_mix64(shape_hash(px_mix64(px_mix64(h, value_kind(g, v, dims)), (uint64_t)g->values[v].dtype), &g->values[v].shape, dims),
                p >= 0 ? lab[p] : 0);
    }
    free(fill), free(ce), free(cs), free(ctmp);
    free(lab), free(next), free(tmp), free(cstart);
    *out = h;
    return PX_OK;
nomem:
    free(lab), free(next), free(tmp), free(cstart);
    return px_nomem();
}

px_status px_graph_skeleton(const px_graph *g, px_skeleton *out)
{
    px_status st = wl_hash(g, 0, &out->shape_free);
    if (!st) st = wl_hash(g, 1, &out->exact);
    if (st) return st;
    uint64_t h = px_mix64(0x696e74657266ull, (uint64_t)g->n_inputs); /* "interf" */
    for (int i = 0; i < g->n_inputs; i++) h = shape_hash(px_mix64(h, (uint64_t)g->values[g->inputs[i]].dtype), &g->values[g->inputs[i]].shape, 1);
    h = px_mix64(h, (uint64_t)g->n_outputs);
    for (int i = 0; i < g->n_outputs; i++) h = shape_hash(px_mix64(h, (uint64_t)g->values[g->outputs[i]].dtype), &g->values[g->outputs[i]].shape, 1);
    out->iface = h;
    return PX_OK;
}

int px_skeleton_shared(const px_skeleton *a, const px_skeleton *b)
{
    return a->shape_free == b->shape_free && (a->exact == b->exact || a->iface != b->iface);
}
