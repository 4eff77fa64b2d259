#include "bucket/anonymize.h"
#include "ir/body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t attr_hash(const px_attr *a)
{
    uint64_t h = px_hash_str(a->name);
    h = mix(h, (uint64_t)a->type);
    switch (a->type) {
    case PX_ATTR_INT: h = mix(h, (uint64_t)a->i); break;
    case PX_ATTR_FLOAT: h = hash_bytes(h, &a->f, sizeof a->f); break;
    case PX_ATTR_STRING: h = hash_bytes(h, a->s, a->s_len); break;
    case PX_ATTR_INTS: h = hash_bytes(h, a->ints, (size_t)a->n * sizeof *a->ints); break;
    case PX_ATTR_FLOATS: h = hash_bytes(h, a->floats, (size_t)a->n * sizeof *a->floats); break;
    default:
        if (a->raw) h = hash_bytes(h, a->raw, a->raw_len);
        else if (a->t && a->t->data) h = hash_bytes(h, a->t->data, a->t->nbytes);
        break;
    }
    return h;
}

/* Structural hash per node: op, attributes and the hashes of what feeds
 * each input (graph inputs by position, initializers by shape), computed
 * in topological order. */
static px_status node_hashes(const px_graph *g, const int *topo, uint64_t *nh)
{
    uint64_t *vh = calloc((size_t)g->n_values + 1, sizeof *vh);
    if (!vh) return px_nomem();
    for (int i = 0; i < g->n_inputs; i++) vh[g->inputs[i]] = mix(0x1234, (uint64_t)i);
    for (int i = 0; i < g->n_inits; i++) {
        const px_tensor *t = g->values[g->inits[i]].init;
        uint64_t h = mix(0x5678, (uint64_t)t->dtype);
        h = hash_bytes(h, t->dims, (size_t)t->rank * sizeof *t->dims);
        if (t->data && t->nbytes <= 64) h = hash_bytes(h, t->data, t->nbytes);
        vh[g->inits[i]] = h;
    }
    for (int k = 0; k < g->n_nodes; k++) {
        const px_node *n = &g->nodes[topo[k]];
        uint64_t h = mix(px_hash_str(n->op_type), px_hash_str(n->domain));
        for (int a = 0; a < n->n_attrs; a++) h = mix(h, attr_hash(&n->attrs[a]));
        for (int j = 0; j < n->n_inputs; j++) h = mix(h, n->inputs[j] >= 0 ? vh[n->inputs[j]] : 0x9999);
        nh[topo[k]] = h;
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] >= 0) vh[n->outputs[j]] = mix(h, (uint64_t)j);
    }
    free(vh);
    return PX_OK;
}

/* Min-heap of ready nodes keyed by (hash, index): the smallest hash first,
 * the lower index among equal hashes. */
static int heap_less(const uint64_t *nh, int a, int b) { return nh[a] < nh[b] || (nh[a] == nh[b] && a < b); }

static void heap_push(int *heap, int *len, const uint64_t *nh, int x)
{
    int i = (*len)++;
    heap[i] = x;
    while (i > 0 && heap_less(nh, heap[i], heap[(i - 1) / 2])) {
        int p = (i - 1) / 2, t = heap[p];
        heap[p] = heap[i];
        heap[i] = t;
        i = p;
    }
}

static int heap_pop(int *heap, int *len, const uint64_t *nh)
{
    int top = heap[0];
    heap[0] = heap[--(*len)];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *len && heap_less(nh, heap[l], heap[m])) m = l;
        if (r < *len && heap_less(nh, heap[r], heap[m])) m = r;
        if (m == i) break;
        int t = heap[m];
        heap[m] = heap[i];
        heap[i] = t;
        i = m;
    }
    return top;
}

/* Kahn's algorithm taking the ready node of smallest structural hash first;
 * O((nodes + edges) log nodes), so a node with tens of thousands of inputs
 * costs nothing special. */
static px_status canonical_order(const px_graph *g, const uint64_t *nh, int *order)
{
    int n = g->n_nodes;
    size_t n_edges = 0;
    for (int i = 0; i < n; i++) n_edges += (size_t)g->nodes[i].n_inputs;
    int *indeg = calloc((size_t)n + 1, sizeof *indeg);
    int *heap = malloc(((size_t)n + 1) * sizeof *heap);
    int *prod = malloc(((size_t)g->n_values + 1) * sizeof *prod);
    int *first = calloc((size_t)g->n_values + 2, sizeof *first); /* consumers of value v: cons[first[v]..first[v+1]) */
    int *cons = malloc((n_edges + 1) * sizeof *cons);
    px_status st = PX_OK;
    if (!indeg || !heap || !prod || !first || !cons) {
        st = px_nomem();
        goto out;
    }
    for (int v = 0; v < g->n_values; v++) prod[v] = -1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < g->nodes[i].n_outputs; j++)
            if (g->nodes[i].outputs[j] >= 0) prod[g->nodes[i].outputs[j]] = i;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) {
            int v = g->nodes[i].inputs[j];
            if (v >= 0 && prod[v] >= 0) {
                indeg[i]++;
                first[v + 1]++;
            }
        }
    for (int v = 0; v < g->n_values; v++) first[v + 1] += first[v];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) {
            int v = g->nodes[i].inputs[j];
            if (v >= 0 && prod[v] >= 0) cons[first[v]++] = i;
        }
    /* first[v] now points at the end of v's run: shift back to starts */
    for (int v = g->n_values; v > 0; v--) first[v] = first[v - 1];
    first[0] = 0;
    int len = 0;
    for (int i = 0; i < n; i++)
        if (indeg[i] == 0) heap_push(heap, &len, nh, i);
    for (int k = 0; k < n; k++) {
        if (len == 0) {
            st = px_fail(PX_ERR_INVALID, "anonymize: the subgraph has a cycle");
            goto out;
        }
        int best = heap_pop(heap, &len, nh);
        order[k] = best;
        const px_node *nd = &g->nodes[best];
        for (int j = 0; j < nd->n_outputs; j++) {
            int v = nd->outputs[j];
            if (v < 0) continue;
            for (int c = first[v]; c < first[v + 1]; c++)
                if (--indeg[cons[c]] == 0) heap_push(heap, &len, nh, cons[c]);
        }
    }
out:
    free(indeg);
    free(heap);
    free(prod);
    free(first);
    free(cons);
    return st;
}

/* Symbols are renamed d0, d1, ... by first appearance (inputs, outputs,
 * then values in canonical order): one symbol keeps one name, so equal dims
 * stay equal and distinct ones stay distinct. */
static px_status copy_type(const px_graph *g, int src, px_graph *out, int dst, px_strmap *syms)
{
    const px_value *s = &g->values[src];
    out->values[dst].dtype = s->dtype;
    if (s->type_raw) {
        out->values[dst].type_raw = px_arena_memdup(&out->arena, s->type_raw, s->type_raw_len);
        if (!out->values[dst].type_raw) return px_nomem();
        out->values[dst].type_raw_len = s->type_raw_len;
    }
    if (s->shape.rank < 0) return PX_OK;
    px_dim dims[PX_MAX_RANK];
    for (int i = 0; i < s->shape.rank; i++) {
        dims[i].v = s->shape.dims[i].v;
        dims[i].sym = NULL;
        if (s->shape.dims[i].sym) {
            int id = px_strmap_get(syms, s->shape.dims[i].sym);
            if (id < 0) {
                id = (int)syms->count;
                if (px_strmap_put(syms, s->shape.dims[i].sym, id)) return px_nomem();
            }
            char buf[32];
            snprintf(buf, sizeof buf, "d%d", id);
            if (!(dims[i].sym = px_arena_strdup(&out->arena, buf))) return px_nomem();
        }
    }
    return px_shape_set(out, &out->values[dst].shape, s->shape.rank, dims);
}

/* Control-flow bodies of node nid (already copied into out): every name
 * inside them becomes positional ("bv3", "bn4", "bg5": no clash with the
 * outer i/o/w/t names), doc strings go, and their reads of enclosing values
 * follow those values' new names. */
static px_status anonymize_bodies(px_graph *out, int nid, int *counter)
{
    px_node *nd = &out->nodes[nid];
    int e = nd->n_inputs - nd->n_implicit;
    const char **to = px_arena_array(&out->arena, (size_t)nd->n_implicit + 1, sizeof *to);
    if (!to) return px_nomem();
    for (int k = 0; k < nd->n_implicit; k++) to[k] = out->values[nd->inputs[e + k]].name;
    px_body_rename r = {.n = nd->n_implicit, .from = nd->implicit_names, .to = to, .anonymize = 1, .prefix = "b",
                        .counter = counter};
    for (int a = 0; a < nd->n_attrs; a++) {
        px_attr *at = &nd->attrs[a];
        if ((at->type != PX_ATTR_GRAPH && at->type != PX_ATTR_GRAPHS) || !at->raw) continue;
        px_status st = px_body_rewrite(at->raw, at->raw_len, &r, &out->arena, &at->raw, &at->raw_len);
        if (st) return st;
    }
    nd->implicit_names = to;
    return PX_OK;
}

/* The copy of an initializer; with steal, its payload moves (in keeps none). */
static px_tensor *init_copy(px_tensor *src, int steal)
{
    if (!steal) return px_tensor_clone(src);
    void *data = src->data;
    size_t nbytes = src->nbytes;
    src->data = NULL; /* cloned without the payload, which then moves */
    px_tensor *t = px_tensor_clone(src);
    if (t) {
        t->data = data;
        t->nbytes = nbytes;
        src->nbytes = 0;
    } else
        src->data = data;
    return t;
}

static px_status anonymize(px_graph *in, const px_anon_header *hdr, px_graph *out, int steal)
{
    px_graph_init(out);
    int n = in->n_nodes;
    int *topo = malloc(((size_t)n + 1) * sizeof *topo);
    int *order = malloc(((size_t)n + 1) * sizeof *order);
    uint64_t *nh = malloc(((size_t)n + 1) * sizeof *nh);
    int *vmap = malloc(((size_t)in->n_values + 1) * sizeof *vmap);
    px_status st = PX_OK;
    char name[32];
    px_strmap syms;
    px_strmap_init(&syms);
    if (!topo || !order || !nh || !vmap) {
        st = px_nomem();
        goto out;
    }
    if ((st = px_graph_topo_order(in, topo)) || (st = node_hashes(in, topo, nh)) ||
        (st = canonical_order(in, nh, order)))
        goto out;
    for (int v = 0; v < in->n_values; v++) vmap[v] = -1;
    out->ir_version = hdr->ir_version;
    out->producer_name = "proteus";
    out->graph_name = "g";
    for (int i = 0; i < hdr->n_opsets; i++)
        if ((st = px_graph_set_opset(out, hdr->opsets[i].domain, hdr->opsets[i].version))) goto out;
#define NEWVAL(fmt, k, src)                                                   \
    do {                                                                      \
        snprintf(name, sizeof name, fmt, k);                                  \
        int id_ = px_graph_add_value(out, name);                              \
        if (id_ < 0) { st = px_nomem(); goto out; }                           \
        if ((st = copy_type(in, src, out, id_, &syms))) goto out;             \
        vmap[src] = id_;                                                      \
    } while (0)
    for (int i = 0; i < in->n_inputs; i++) {
        NEWVAL("i%d", i, in->inputs[i]);
        if ((st = px_graph_add_input(out, vmap[in->inputs[i]]))) goto out;
    }
    for (int i = 0; i < in->n_outputs; i++)
        if (vmap[in->outputs[i]] < 0) NEWVAL("o%d", i, in->outputs[i]);
    int nw = 0, nt = 0, body_counter = 0;
    for (int k = 0; k < n; k++) {
        const px_node *nd = &in->nodes[order[k]];
        for (int j = 0; j < nd->n_inputs; j++) {
            int v = nd->inputs[j];
            if (v < 0 || vmap[v] >= 0 || !(in->values[v].flags & PX_VAL_INIT)) continue;
            NEWVAL("w%d", nw++, v);
            px_tensor *t = init_copy(in->values[v].init, steal);
            if (!t) {
                st = px_nomem();
                goto out;
            }
            if ((st = px_graph_add_init(out, vmap[v], t))) goto out;
        }
        for (int j = 0; j < nd->n_outputs; j++) {
            int v = nd->outputs[j];
            if (v >= 0 && vmap[v] < 0) NEWVAL("t%d", nt++, v);
        }
    }
#undef NEWVAL
    for (int k = 0; k < n; k++) {
        const px_node *nd = &in->nodes[order[k]];
        snprintf(name, sizeof name, "n%d", k);
        int nid = px_graph_copy_node(out, nd, vmap, name);
        if (nid < 0) {
            st = PX_ERR_NOMEM;
            goto out;
        }
        /* a tensor attribute's own name is the exporter's, not positional */
        for (int a = 0; a < out->nodes[nid].n_attrs; a++)
            if (out->nodes[nid].attrs[a].t) {
                free(out->nodes[nid].attrs[a].t->name);
                out->nodes[nid].attrs[a].t->name = NULL;
            }
        if ((st = anonymize_bodies(out, nid, &body_counter))) goto out;
    }
    for (int i = 0; i < in->n_outputs; i++)
        if ((st = px_graph_add_output(out, vmap[in->outputs[i]]))) goto out;
    st = px_graph_index(out);
out:
    px_strmap_free(&syms);
    free(topo);
    free(order);
    free(nh);
    free(vmap);
    if (st) {
        px_graph_free(out);
        px_graph_init(out);
    }
    return st;
}

px_status px_anonymize(const px_graph *in, const px_anon_header *hdr, px_graph *out)
{
    return anonymize((px_graph *)in, hdr, out, 0); /* without steal, in is only read */
}

px_status px_anonymize_move(px_graph *in, const px_anon_header *hdr, px_graph *out)
{
    return anonymize(in, hdr, out, 1);
}
