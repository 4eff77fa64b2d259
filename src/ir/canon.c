/* Canonical node order and names: the method is in canon.h. */
#include "ir/canon.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

/* --- hashing ----------------------------------------------------------- */

static uint64_t hash_tensor(uint64_t h, const px_tensor *t)
{
    if (!t) return px_mix64(h, 2);
    h = px_mix64(px_mix64(h, (uint64_t)t->dtype), (uint64_t)t->rank);
    for (int i = 0; i < t->rank; i++) h = px_mix64(h, (uint64_t)t->dims[i]);
    if (t->data) h = px_mix_bytes(px_mix64(h, 3), t->data, t->nbytes);
    if (t->strings && t->string_lens)
        for (int64_t i = 0; i < t->numel; i++)
            if (t->strings[i]) h = px_mix_bytes(px_mix64(h, 4), t->strings[i], t->string_lens[i]);
    return h;
}

static uint64_t hash_attr(uint64_t h, const px_attr *a)
{
    h = px_mix64(px_mix_str(h, a->name), (uint64_t)a->type);
    uint32_t fb;
    memcpy(&fb, &a->f, sizeof fb);
    h = px_mix64(px_mix64(h, (uint64_t)a->i), fb);
    if (a->s) h = px_mix_bytes(px_mix64(h, 5), a->s, a->s_len);
    h = px_mix64(h, (uint64_t)a->n);
    for (int k = 0; k < a->n; k++) {
        if (a->ints) h = px_mix64(h, (uint64_t)a->ints[k]);
        if (a->floats) {
            memcpy(&fb, &a->floats[k], sizeof fb);
            h = px_mix64(h, fb);
        }
        if (a->strings && a->strings[k])
            h = px_mix_bytes(h, a->strings[k], a->string_lens ? a->string_lens[k] : strlen(a->strings[k]));
    }
    if (a->t) h = hash_tensor(px_mix64(h, 6), a->t);
    /* a body's bytes hold the names of its values and nodes, which are the
     * optimizer's and vary: bodies count by attribute name and type only */
    if (a->raw && a->type != PX_ATTR_GRAPH && a->type != PX_ATTR_GRAPHS) h = px_mix_bytes(px_mix64(h, 7), a->raw, a->raw_len);
    return h;
}

/* What the node is, apart from its edges. */
static uint64_t hash_op(const px_node *n)
{
    uint64_t h = px_mix_str(px_mix_str(0x70726f74657573ULL, n->op_type), n->domain);
    h = px_mix64(px_mix64(px_mix64(h, (uint64_t)n->n_inputs), (uint64_t)n->n_implicit), (uint64_t)n->n_outputs);
    for (int a = 0; a < n->n_attrs; a++) h = hash_attr(h, &n->attrs[a]);
    return h;
}

/* --- order ------------------------------------------------------------- */

enum { TAG_INPUT = 11, TAG_INIT, TAG_FREE, TAG_NONE, TAG_OUTPUT };

typedef struct canon {
    const px_graph *g;
    uint64_t *key; /* per node */
    int *pos;      /* per node: canonical position, -1 until placed */
    int maxout;
} canon;

/* The label of an input for telling nodes of equal key apart: where its
 * producer was placed (all producers of a ready node are placed). */
static int64_t input_label(const canon *c, int v)
{
    if (v < 0) return -2;
    int p = c->g->values[v].producer;
    if (p < 0) return -1;
    const px_node *pn = &c->g->nodes[p];
    int slot = 0;
    while (slot < pn->n_outputs && pn->outputs[slot] != v) slot++;
    return (int64_t)c->pos[p] * c->maxout + slot;
}

/* <0 when node a goes first. */
static int node_cmp(const canon *c, int a, int b)
{
    if (c->key[a] != c->key[b]) return c->key[a] < c->key[b] ? -1 : 1;
    const px_node *na = &c->g->nodes[a], *nb = &c->g->nodes[b];
    int n = na->n_inputs < nb->n_inputs ? na->n_inputs : nb->n_inputs;
    for (int j = 0; j < n; j++) {
        int64_t la = input_label(c, na->inputs[j]), lb = input_label(c, nb->inputs[j]);
        if (la != lb) return la < lb ? -1 : 1;
    }
    if (na->n_inputs != nb->n_inputs) return na->n_inputs < nb->n_inputs ? -1 : 1;
    /* the same computation on the same values with alike uses: either
     * order gives the same model up to names */
    return a < b ? -1 : a > b;
}

static void heap_push(const canon *c, int *heap, int *hn, int x)
{
    int k = (*hn)++;
    heap[k] = x;
    while (k > 0 && node_cmp(c, heap[(k - 1) / 2], heap[k]) > 0) {
        int p = (k - 1) / 2, t = heap[p];
        heap[p] = heap[k];
        heap[k] = t;
        k = p;
    }
}

static int heap_pop(const canon *c, int *heap, int *hn)
{
    int top = heap[0];
    heap[0] = heap[--*hn];
    for (int k = 0;;) {
        int l = 2 * k + 1, r = l + 1, m = k;
        if (l < *hn && node_cmp(c, heap[l], heap[m]) < 0) m = l;
        if (r < *hn && node_cmp(c, heap[r], heap[m]) < 0) m = r;
        if (m == k) break;
        int t = heap[m];
        heap[m] = heap[k];
        heap[k] = t;
        k = m;
    }
    return top;
}

/* Hashes of the values that no node produces. */
static uint64_t source_hash(const px_graph *g, int v, const int *in_pos)
{
    if (in_pos[v] >= 0) return px_mix64(TAG_INPUT, (uint64_t)in_pos[v]);
    if (g->values[v].init) return hash_tensor(TAG_INIT, g->values[v].init);
    return px_mix_str(TAG_FREE, g->values[v].name); /* invalid graphs only */
}

px_status px_canon_order(px_graph *g, int *order)
{
    px_status st = px_graph_index(g);
    if (st) return st;
    int n = g->n_nodes, nv = g->n_values;
    int *topo = malloc(((size_t)n + 1) * sizeof *topo);
    int *heap = malloc(((size_t)n + 1) * sizeof *heap);
    int *indeg = calloc((size_t)n + 1, sizeof *indeg);
    int *in_pos = malloc(((size_t)nv + 1) * sizeof *in_pos);
    uint64_t *fwd = malloc(((size_t)n + 1) * sizeof *fwd);
    uint64_t *vh = calloc((size_t)nv + 1, sizeof *vh);   /* forward hash of each value */
    uint64_t *acc = calloc((size_t)nv + 1, sizeof *acc); /* sum over each value's uses */
    canon c = {.g = g, .maxout = 1};
    c.key = malloc(((size_t)n + 1) * sizeof *c.key);
    c.pos = malloc(((size_t)n + 1) * sizeof *c.pos);
    if (!topo || !heap || !indeg || !in_pos || !fwd || !vh || !acc || !c.key || !c.pos) {
        st = px_nomem();
        goto out;
    }
    if ((st = px_graph_topo_order(g, topo))) goto out;
    for (int v = 0; v < nv; v++) in_pos[v] = -1;
    for (int i = 0; i < g->n_inputs; i++)
        if (in_pos[g->inputs[i]] < 0) in_pos[g->inputs[i]] = i;
    /* forward: what each node computes from what */
    for (int t = 0; t < n; t++) {
        int i = topo[t];
        const px_node *nd = &g->nodes[i];
        uint64_t h = hash_op(nd);
        for (int j = 0; j < nd->n_inputs; j++) {
            int v = nd->inputs[j];
            if (v < 0) h = px_mix64(h, TAG_NONE);
            else h = px_mix64(h, g->values[v].producer >= 0 ? vh[v] : source_hash(g, v, in_pos));
        }
        fwd[i] = h;
        for (int j = 0; j < nd->n_outputs; j++)
            if (nd->outputs[j] >= 0) vh[nd->outputs[j]] = px_mix64(h, (uint64_t)j);
        if (nd->n_outputs + 1 > c.maxout) c.maxout = nd->n_outputs + 1;
    }
    /* backward: where it goes (readers, their input slots, graph outputs) */
    for (int i = 0; i < g->n_outputs; i++) acc[g->outputs[i]] += px_mix64(TAG_OUTPUT, (uint64_t)i);
    for (int t = n - 1; t >= 0; t--) {
        int i = topo[t];
        const px_node *nd = &g->nodes[i];
        uint64_t h = fwd[i];
        for (int j = 0; j < nd->n_outputs; j++) h = px_mix64(h, nd->outputs[j] >= 0 ? acc[nd->outputs[j]] : TAG_NONE);
        c.key[i] = h;
        for (int j = 0; j < nd->n_inputs; j++)
            if (nd->inputs[j] >= 0) acc[nd->inputs[j]] += px_mix64(h, (uint64_t)j);
    }
    /* Kahn's algorithm on the keys */
    for (int i = 0; i < n; i++) {
        c.pos[i] = -1;
        const px_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_inputs; j++)
            if (nd->inputs[j] >= 0 && g->values[nd->inputs[j]].producer >= 0) indeg[i]++;
    }
    int hn = 0, done = 0;
    for (int i = 0; i < n; i++)
        if (!indeg[i]) heap_push(&c, heap, &hn, i);
    while (hn > 0) {
        int u = heap_pop(&c, heap, &hn);
        c.pos[u] = done;
        order[done++] = u;
        const px_node *nd = &g->nodes[u];
        for (int j = 0; j < nd->n_outputs; j++) {
            int v = nd->outputs[j];
            if (v < 0) continue;
            for (int k = g->cons_start[v]; k < g->cons_start[v + 1]; k++)
                if (--indeg[g->cons[k]] == 0) heap_push(&c, heap, &hn, g->cons[k]);
        }
    }
    if (done != n) st = px_fail(PX_ERR_INVALID, "the graph has a cycle"); /* topo_order already checked */
out:
    free(topo);
    free(heap);
    free(indeg);
    free(in_pos);
    free(fwd);
    free(vh);
    free(acc);
    free(c.key);
    free(c.pos);
    return st;
}

/* --- applying it ------------------------------------------------------- */

typedef struct init_rank {
    int first;      /* position of the first reader (INT32_MAX: none) */
    int slot;       /* its input slot; for unread ones: graph input, then output position */
    uint64_t h;     /* contents, for unread ones */
    int v;
} init_rank;

static int init_rank_cmp(const void *pa, const void *pb)
{
    const init_rank *a = pa, *b = pb;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->slot != b->slot) return a->slot < b->slot ? -1 : 1;
    if (a->h != b->h) return a->h < b->h ? -1 : 1;
    return (a->v > b->v) - (a->v < b->v); /* equal contents: interchangeable */
}

/* Orders the initializers; first[v] gets the position of v's first reader
 * and fslot[v] its slot (-1: unread). */
static px_status order_inits(px_graph *g, int *first, int *fslot)
{
    for (int v = 0; v < g->n_values; v++) first[v] = fslot[v] = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) {
            int v = g->nodes[i].inputs[j];
            if (v >= 0 && first[v] < 0) first[v] = i, fslot[v] = j;
        }
    init_rank *r = malloc(((size_t)g->n_inits + 1) * sizeof *r);
    if (!r) return px_nomem();
    for (int k = 0; k < g->n_inits; k++) {
        int v = g->inits[k];
        init_rank *e = &r[k];
        e->v = v;
        e->h = 0;
        if (first[v] >= 0) {
            e->first = first[v], e->slot = fslot[v];
            continue;
        }
        e->first = INT32_MAX;
        e->slot = INT32_MAX;
        for (int i = 0; i < g->n_inputs && e->slot == INT32_MAX; i++)
            if (g->inputs[i] == v) e->slot = i;
        for (int i = 0; i < g->n_outputs && e->slot == INT32_MAX; i++)
            if (g->outputs[i] == v) e->slot = g->n_inputs + i;
        if (e->slot == INT32_MAX) e->h = hash_tensor(TAG_INIT, g->values[v].init);
    }
    qsort(r, (size_t)g->n_inits, sizeof *r, init_rank_cmp);
    for (int k = 0; k < g->n_inits; k++) g->inits[k] = r[k].v;
    free(r);
    return PX_OK;
}

/* Puts name (or name~N when a kept or earlier name has it) into map for v. */
static px_status claim(px_graph *g, px_strmap *map, int v, const char *name)
{
    char buf[1200];
    const char *nm = name;
    for (int t = 1; px_strmap_get(map, nm) >= 0; t++) {
        snprintf(buf, sizeof buf, "%s~%d", name, t);
        nm = buf;
    }
    char *s = px_arena_strdup(&g->arena, nm);
    if (!s || px_strmap_put(map, s, v) < 0) return px_nomem();
    g->values[v].name = s;
    return PX_OK;
}

/* The "pN/" part prefix of a stitched node's name, or "". */
static size_t part_prefix(const char *name)
{
    if (name[0] != 'p' || name[1] < '0' || name[1] > '9') return 0;
    size_t k = 1;
    while (name[k] >= '0' && name[k] <= '9' && k < 16) k++;
    return name[k] == '/' ? k + 1 : 0;
}

static px_status rename_all(px_graph *g, unsigned keep_flags, const int *first, const int *fslot)
{
    char buf[1100];
    px_status st = PX_OK;
    for (int i = 0; i < g->n_nodes; i++) {
        px_node *nd = &g->nodes[i];
        size_t pre = part_prefix(nd->name);
        snprintf(buf, sizeof buf, "%.*s%.200s_%d", (int)pre, nd->name, nd->op_type, i);
        const char *s = px_arena_strdup(&g->arena, buf);
        if (!s) return px_nomem();
        nd->name = s;
    }
    px_strmap map;
    px_strmap_init(&map);
    char *kept = calloc((size_t)g->n_values + 1, 1);
    if (!kept) return px_nomem();
    keep_flags |= PX_VAL_INPUT | PX_VAL_OUTPUT;
    for (int v = 0; v < g->n_values && !st; v++)
        if (g->values[v].flags & keep_flags) {
            kept[v] = 1;
            if (px_strmap_put(&map, g->values[v].name, v) < 0) st = px_nomem();
        }
    /* generated names in canonical order, so a clash with a kept name is
     * resolved the same way every time */
    for (int i = 0; i < g->n_nodes && !st; i++) {
        const px_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_outputs && !st; j++) {
            int v = nd->outputs[j];
            if (v < 0 || kept[v]) continue;
            snprintf(buf, sizeof buf, "%s_output_%d", nd->name, j);
            st = claim(g, &map, v, buf);
            kept[v] = 1;
        }
    }
    for (int k = 0; k < g->n_inits && !st; k++) {
        int v = g->inits[k];
        if (kept[v]) continue;
        if (first[v] >= 0) snprintf(buf, sizeof buf, "%s_input_%d", g->nodes[first[v]].name, fslot[v]);
        else snprintf(buf, sizeof buf, "init_%d", k);
        st = claim(g, &map, v, buf);
        kept[v] = 1;
    }
    /* values nothing writes or reads: never saved, but names stay unique */
    for (int v = 0; v < g->n_values && !st; v++) {
        px_value *val = &g->values[v];
        if (val->producer < 0 && first[v] < 0 && !(val->flags & (PX_VAL_INPUT | PX_VAL_OUTPUT | PX_VAL_INIT)))
            val->flags &= ~(unsigned)PX_VAL_DECLARED; /* else saved in value-id order */
        if (kept[v]) continue;
        snprintf(buf, sizeof buf, "~unused%d", v);
        st = claim(g, &map, v, buf);
    }
    free(kept);
    if (st) {
        px_strmap_free(&map);
        return st;
    }
    px_strmap_free(&g->by_name);
    g->by_name = map;
    return PX_OK;
}

/* ai.onnx first, then by domain (an optimizer lists its domains in any order). */
static int opset_cmp(const void *pa, const void *pb)
{
    const px_opset *a = pa, *b = pb;
    int ca = a->domain[0] && strcmp(a->domain, "ai.onnx"), cb = b->domain[0] && strcmp(b->domain, "ai.onnx");
    if (ca != cb) return ca - cb;
    return strcmp(a->domain, b->domain);
}

px_status px_graph_canonicalize(px_graph *g, unsigned keep_flags)
{
    if (g->n_opsets > 1) qsort(g->opsets, (size_t)g->n_opsets, sizeof *g->opsets, opset_cmp);
    int n = g->n_nodes;
    int *order = malloc(((size_t)n + 1) * sizeof *order);
    px_node *sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    int *first = malloc(((size_t)g->n_values + 1) * sizeof *first);
    int *fslot = malloc(((size_t)g->n_values + 1) * sizeof *fslot);
    px_status st = PX_OK;
    if (!order || !sorted || !first || !fslot) st = px_nomem();
    if (!st) st = px_canon_order(g, order);
    if (!st) {
        for (int i = 0; i < n; i++) sorted[i] = g->nodes[order[i]];
        if (n) memcpy(g->nodes, sorted, (size_t)n * sizeof *sorted);
        g->index_valid = 0;
        st = px_graph_index(g);
    }
    if (!st) st = order_inits(g, first, fslot);
    if (!st) st = rename_all(g, keep_flags, first, fslot);
    free(order);
    free(sorted);
    free(first);
    free(fslot);
    return st;
}
