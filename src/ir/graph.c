#include "ir/graph.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

void px_graph_init(px_graph *g)
{
    memset(g, 0, sizeof *g);
    px_arena_init(&g->arena);
    px_strmap_init(&g->by_name);
}

void px_tensor_free(px_tensor *t)
{
    if (!t) return;
    free(t->data);
    if (t->strings) {
        for (int64_t i = 0; i < t->numel; i++) free(t->strings[i]);
        free(t->strings);
        free(t->string_lens);
    }
    free(t->dims);
    free(t->name);
    free(t);
}

static void attr_free_payload(px_attr *a)
{
    if (a->t) px_tensor_free(a->t);
    a->t = NULL;
}

void px_graph_free(px_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_values; i++) px_tensor_free(g->values[i].init);
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_attrs; j++) attr_free_payload(&g->nodes[i].attrs[j]);
    free(g->nodes);
    free(g->values);
    free(g->inputs);
    free(g->outputs);
    free(g->inits);
    free(g->cons_start);
    free(g->cons);
    free(g->extra);
    px_strmap_free(&g->by_name);
    px_arena_free(&g->arena);
    memset(g, 0, sizeof *g);
}

/* Grows an int/struct array to hold one more element. */
static int grow(void **arr, int *cap, int n, size_t elem)
{
    if (n < *cap) return 0;
    if (*cap > INT_MAX / 2) return -1;
    int ncap = *cap ? *cap * 2 : 16;
    if ((size_t)ncap > SIZE_MAX / elem) return -1;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p) return -1;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
    *arr = p;
    *cap = ncap;
    return 0;
}

int px_graph_find(const px_graph *g, const char *name)
{
    return px_strmap_get(&g->by_name, name);
}

int px_graph_add_value(px_graph *g, const char *name)
{
    if (px_strmap_get(&g->by_name, name) >= 0) {
        px_fail(PX_ERR_INVALID, "duplicate value name '%s'", name);
        return -1;
    }
    if (grow((void **)&g->values, &g->cap_values, g->n_values, sizeof *g->values)) {
        px_nomem();
        return -1;
    }
    px_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = px_arena_strdup(&g->arena, name);
    if (!v->name) {
        px_nomem();
        return -1;
    }
    v->shape.rank = -1;
    v->producer = -1;
    v->n_data = -1;
    if (px_strmap_put(&g->by_name, v->name, g->n_values)) {
        px_nomem();
        return -1;
    }
    g->index_valid = 0;
    return g->n_values++;
}

int px_graph_value(px_graph *g, const char *name)
{
    int id = px_strmap_get(&g->by_name, name);
    return id >= 0 ? id : px_graph_add_value(g, name);
}

int px_graph_add_node(px_graph *g, const char *op_type, const char *domain, const char *name)
{
    if (g->n_nodes >= PX_MAX_NODES) {
        px_fail(PX_ERR_LIMIT, "more than %d nodes", PX_MAX_NODES);
        return -1;
    }
    if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes)) {
        px_nomem();
        return -1;
    }
    px_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op_type = px_arena_strdup(&g->arena, op_type);
    n->domain = px_arena_strdup(&g->arena, domain && strcmp(domain, "ai.onnx") ? domain : "");
    n->name = px_arena_strdup(&g->arena, name ? name : "");
    if (!n->op_type || !n->domain || !n->name) {
        px_nomem();
        return -1;
    }
    g->index_valid = 0;
    return g->n_nodes++;
}

px_status px_node_set_inputs(px_graph *g, int node, const int *vals, int n)
{
    px_node *nd = &g->nodes[node];
    int *p = px_arena_array(&g->arena, (size_t)(n ? n : 1), sizeof *p);
    if (!p) return px_nomem();
    if (n) memcpy(p, vals, (size_t)n * sizeof *p);
    nd->inputs = p;
    nd->n_inputs = n;
    g->index_valid = 0;
    return PX_OK;
}

px_status px_node_set_implicit(px_graph *g, int node, int n, const char *const *names)
{
    px_node *nd = &g->nodes[node];
    const char **p = px_arena_array(&g->arena, (size_t)n + 1, sizeof *p);
    if (!p) return px_nomem();
    for (int i = 0; i < n; i++)
        if (!(p[i] = px_arena_strdup(&g->arena, names[i]))) return px_nomem();
    nd->implicit_names = p;
    nd->n_implicit = n;
    return PX_OK;
}

px_status px_node_set_outputs(px_graph *g, int node, const int *vals, int n)
{
    px_node *nd = &g->nodes[node];
    int *p = px_arena_array(&g->arena, (size_t)(n ? n : 1), sizeof *p);
    if (!p) return px_nomem();
    if (n) memcpy(p, vals, (size_t)n * sizeof *p);
    nd->outputs = p;
    nd->n_outputs = n;
    for (int i = 0; i < n; i++)
        if (vals[i] >= 0) g->values[vals[i]].producer = node;
    g->index_valid = 0;
    return PX_OK;
}

int px_graph_copy_node(px_graph *g, const px_node *src, const int *vmap, const char *name)
{
    int nid = px_graph_add_node(g, src->op_type, src->domain, name);
    if (nid < 0) return -1;
    int n = src->n_inputs > src->n_outputs ? src->n_inputs : src->n_outputs;
    int *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) {
        px_nomem();
        return -1;
    }
    for (int j = 0; j < src->n_inputs; j++) ids[j] = src->inputs[j] >= 0 ? vmap[src->inputs[j]] : -1;
    px_status st = px_node_set_inputs(g, nid, ids, src->n_inputs);
    for (int j = 0; j < src->n_outputs; j++) ids[j] = src->outputs[j] >= 0 ? vmap[src->outputs[j]] : -1;
    if (!st) st = px_node_set_outputs(g, nid, ids, src->n_outputs);
    free(ids);
    for (int a = 0; a < src->n_attrs && !st; a++) st = px_node_add_attr(g, nid, &src->attrs[a]);
    if (!st && src->n_implicit) st = px_node_set_implicit(g, nid, src->n_implicit, src->implicit_names);
    return st ? -1 : nid;
}

static px_status push_int(int **arr, int *n, int *cap, int v)
{
    if (grow((void **)arr, cap, *n, sizeof **arr)) return px_nomem();
    (*arr)[(*n)++] = v;
    return PX_OK;
}

px_status px_graph_add_input(px_graph *g, int value)
{
    g->values[value].flags |= PX_VAL_INPUT;
    return push_int(&g->inputs, &g->n_inputs, &g->cap_inputs, value);
}

px_status px_graph_add_output(px_graph *g, int value)
{
    g->values[value].flags |= PX_VAL_OUTPUT;
    return push_int(&g->outputs, &g->n_outputs, &g->cap_outputs, value);
}

px_status px_graph_add_init(px_graph *g, int value, px_tensor *t)
{
    px_value *v = &g->values[value];
    if (v->init) {
        px_tensor_free(t);
        return px_fail(PX_ERR_INVALID, "duplicate initializer '%s'", v->name);
    }
    px_status st = push_int(&g->inits, &g->n_inits, &g->cap_inits, value);
    if (st) {
        px_tensor_free(t);
        return st;
    }
    v->init = t;
    v->flags |= PX_VAL_INIT;
    v->dtype = t->dtype;
    int64_t *dims = t->dims;
    st = px_shape_set_known(g, &v->shape, t->rank, dims);
    return st;
}

px_tensor *px_graph_take_init(px_graph *g, int value)
{
    px_value *v = &g->values[value];
    px_tensor *t = v->init;
    if (!t) return NULL;
    int k = 0;
    for (int i = 0; i < g->n_inits; i++)
        if (g->inits[i] != value) g->inits[k++] = g->inits[i];
    g->n_inits = k;
    v->init = NULL;
    v->flags &= ~(unsigned)PX_VAL_INIT;
    return t;
}

px_status px_graph_set_opset(px_graph *g, const char *domain, int64_t version)
{
    const char *d = domain && strcmp(domain, "ai.onnx") ? domain : "";
    for (int i = 0; i < g->n_opsets; i++)
        if (strcmp(g->opsets[i].domain, d) == 0) {
            g->opsets[i].version = version;
            return PX_OK;
        }
    px_opset *n = px_arena_array(&g->arena, (size_t)g->n_opsets + 1, sizeof *n);
    if (!n) return px_nomem();
    if (g->n_opsets) memcpy(n, g->opsets, (size_t)g->n_opsets * sizeof *n);
    n[g->n_opsets].domain = px_arena_strdup(&g->arena, d);
    if (!n[g->n_opsets].domain) return px_nomem();
    n[g->n_opsets].version = version;
    g->opsets = n;
    g->n_opsets++;
    return PX_OK;
}

px_status px_graph_remove_nodes(px_graph *g, const char *dead)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!dead[i]) g->nodes[k++] = g->nodes[i];
        else
            for (int j = 0; j < g->nodes[i].n_attrs; j++) attr_free_payload(&g->nodes[i].attrs[j]);
    g->n_nodes = k;
    g->index_valid = 0;
    return px_graph_index(g);
}

void px_graph_replace_uses(px_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++)
            if (g->nodes[i].inputs[j] == from) g->nodes[i].inputs[j] = to;
    g->index_valid = 0;
}

int64_t px_graph_opset(const px_graph *g, const char *domain)
{
    const char *d = domain && strcmp(domain, "ai.onnx") ? domain : "";
    for (int i = 0; i < g->n_opsets; i++)
        if (strcmp(g->opsets[i].domain, d) == 0) return g->opsets[i].version;
    return 0;
}

px_status px_graph_rename_value(px_graph *g, int value, const char *name)
{
    if (px_strmap_get(&g->by_name, name) >= 0)
        return px_fail(PX_ERR_INVALID, "rename: value name '%s' already exists", name);
    const char *nn = px_arena_strdup(&g->arena, name);
    if (!nn) return px_nomem();
    px_strmap_del(&g->by_name, g->values[value].name);
    g->values[value].name = nn;
    if (px_strmap_put(&g->by_name, nn, value)) return px_nomem();
    return PX_OK;
}

/* --- shapes ----------------------------------------------------------- */

int px_dim_known(px_dim d) { return d.v >= 0; }

px_status px_shape_set(px_graph *g, px_shape *dst, int rank, const px_dim *dims)
{
    if (rank < 0) {
        dst->rank = -1;
        dst->dims = NULL;
        return PX_OK;
    }
    if (rank > PX_MAX_RANK) return px_fail(PX_ERR_LIMIT, "rank %d exceeds the limit of %d", rank, PX_MAX_RANK);
    px_dim *d = px_arena_array(&g->arena, (size_t)(rank ? rank : 1), sizeof *d);
    if (!d) return px_nomem();
    for (int i = 0; i < rank; i++) {
        d[i] = dims[i];
        if (d[i].v < 0) d[i].v = -1;
    }
    dst->rank = rank;
    dst->dims = d;
    return PX_OK;
}

px_status px_shape_set_known(px_graph *g, px_shape *dst, int rank, const int64_t *dims)
{
    if (rank > PX_MAX_RANK) return px_fail(PX_ERR_LIMIT, "rank %d exceeds the limit of %d", rank, PX_MAX_RANK);
    px_dim tmp[PX_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        tmp[i].v = dims[i];
        tmp[i].sym = NULL;
    }
    return px_shape_set(g, dst, rank, tmp);
}

px_status px_shape_copy(px_graph *g, px_shape *dst, const px_shape *from)
{
    if (from->rank < 0) return px_shape_set(g, dst, -1, NULL);
    if (from->rank > PX_MAX_RANK) return px_fail(PX_ERR_LIMIT, "rank %d exceeds the limit of %d", from->rank, PX_MAX_RANK);
    px_dim dims[PX_MAX_RANK];
    for (int i = 0; i < from->rank; i++) {
        dims[i] = from->dims[i];
        if (dims[i].sym && !(dims[i].sym = px_arena_strdup(&g->arena, dims[i].sym))) return px_nomem();
    }
    return px_shape_set(g, dst, from->rank, dims);
}

int64_t px_shape_numel(const px_shape *s)
{
    if (s->rank < 0) return -1;
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        int64_t d = s->dims[i].v;
        if (d < 0) return -1;
        if (d && n > INT64_MAX / d) return -1;
        n *= d;
    }
    return n;
}

/* --- attributes ------------------------------------------------------- */

const px_attr *px_node_attr(const px_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t px_attr_int(const px_node *n, const char *name, int64_t dflt)
{
    const px_attr *a = px_node_attr(n, name);
    return a && a->type == PX_ATTR_INT ? a->i : dflt;
}

float px_attr_float(const px_node *n, const char *name, float dflt)
{
    const px_attr *a = px_node_attr(n, name);
    return a && a->type == PX_ATTR_FLOAT ? a->f : dflt;
}

const char *px_attr_string(const px_node *n, const char *name, const char *dflt)
{
    const px_attr *a = px_node_attr(n, name);
    return a && a->type == PX_ATTR_STRING ? a->s : dflt;
}

const int64_t *px_attr_ints(const px_node *n, const char *name, int *count)
{
    const px_attr *a = px_node_attr(n, name);
    if (!a || a->type != PX_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

px_status px_node_add_attr(px_graph *g, int node, const px_attr *a)
{
    px_node *n = &g->nodes[node];
    px_attr *na = px_arena_array(&g->arena, (size_t)n->n_attrs + 1, sizeof *na);
    if (!na) return px_nomem();
    if (n->n_attrs) memcpy(na, n->attrs, (size_t)n->n_attrs * sizeof *na);
    px_attr *c = &na[n->n_attrs];
    *c = *a;
    px_arena *ar = &g->arena;
    c->name = px_arena_strdup(ar, a->name);
    if (!c->name) return px_nomem();
    if (a->s && !(c->s = px_arena_strndup(ar, a->s, a->s_len))) return px_nomem();
    if (a->n) {
        if (a->ints && !(c->ints = px_arena_memdup(ar, a->ints, (size_t)a->n * sizeof *a->ints))) return px_nomem();
        if (a->floats && !(c->floats = px_arena_memdup(ar, a->floats, (size_t)a->n * sizeof *a->floats))) return px_nomem();
        if (a->strings) {
            c->strings = px_arena_array(ar, (size_t)a->n, sizeof *c->strings);
            c->string_lens = px_arena_array(ar, (size_t)a->n, sizeof *c->string_lens);
            if (!c->strings || !c->string_lens) return px_nomem();
            for (int i = 0; i < a->n; i++) {
                size_t len = a->string_lens ? a->string_lens[i] : strlen(a->strings[i]);
                c->string_lens[i] = len;
                if (!(c->strings[i] = px_arena_strndup(ar, a->strings[i], len))) return px_nomem();
            }
        }
    }
    if (a->t && !(c->t = px_tensor_clone(a->t))) return px_nomem();
    if (a->raw && !(c->raw = px_arena_memdup(ar, a->raw, a->raw_len))) {
        px_tensor_free(c->t);
        return px_nomem();
    }
    n->attrs = na;
    n->n_attrs++;
    return PX_OK;
}

/* --- tensors ---------------------------------------------------------- */

px_tensor *px_tensor_new(px_dtype dt, int rank, const int64_t *dims)
{
    if (rank < 0 || rank > PX_MAX_RANK) return NULL;
    px_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->dtype = dt;
    t->rank = rank;
    t->dims = calloc((size_t)(rank ? rank : 1), sizeof *t->dims);
    if (!t->dims) {
        free(t);
        return NULL;
    }
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        if (dims[i] < 0 || (dims[i] && n > INT64_MAX / dims[i])) n = -1;
        if (n >= 0) n *= dims[i];
    }
    t->numel = n;
    return t;
}

px_status px_tensor_alloc_data(px_tensor *t)
{
    if (t->numel < 0) return px_fail(PX_ERR_LIMIT, "tensor element count overflows");
    if (t->dtype == PX_DT_STRING) {
        t->strings = calloc((size_t)(t->numel ? t->numel : 1), sizeof *t->strings);
        t->string_lens = calloc((size_t)(t->numel ? t->numel : 1), sizeof *t->string_lens);
        if (!t->strings || !t->string_lens) return px_nomem();
        return PX_OK;
    }
    size_t nb = px_dtype_nbytes(t->dtype, t->numel);
    if (nb == (size_t)-1 || (int64_t)nb > PX_MAX_TENSOR_BYTES)
        return px_fail(PX_ERR_LIMIT, "tensor of %lld elements of %s is too large",
                       (long long)t->numel, px_dtype_name(t->dtype));
    free(t->data);
    t->data = calloc(nb ? nb : 1, 1);
    if (!t->data) return px_nomem();
    t->nbytes = nb;
    return PX_OK;
}

px_tensor *px_tensor_clone(const px_tensor *t)
{
    px_tensor *c = px_tensor_new(t->dtype, t->rank, t->dims);
    if (!c) return NULL;
    if (t->name && !(c->name = strdup(t->name))) goto fail;
    if (t->data) {
        c->data = malloc(t->nbytes ? t->nbytes : 1);
        if (!c->data) goto fail;
        if (t->nbytes) memcpy(c->data, t->data, t->nbytes);
        c->nbytes = t->nbytes;
    }
    if (t->strings) {
        c->strings = calloc((size_t)(t->numel ? t->numel : 1), sizeof *c->strings);
        c->string_lens = calloc((size_t)(t->numel ? t->numel : 1), sizeof *c->string_lens);
        if (!c->strings || !c->string_lens) goto fail;
        for (int64_t i = 0; i < t->numel; i++) {
            c->strings[i] = malloc(t->string_lens[i] + 1);
            if (!c->strings[i]) goto fail;
            memcpy(c->strings[i], t->strings[i], t->string_lens[i]);
            c->strings[i][t->string_lens[i]] = '\0';
            c->string_lens[i] = t->string_lens[i];
        }
    }
    return c;
fail:
    px_tensor_free(c);
    return NULL;
}

int64_t px_tensor_get_int(const px_tensor *t, int64_t i)
{
    if (!t->data || i < 0 || i >= t->numel) return 0;
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case PX_DT_INT64: { int64_t v; memcpy(&v, p + 8 * i, 8); return v; }
    case PX_DT_UINT64: { uint64_t v; memcpy(&v, p + 8 * i, 8); return (int64_t)v; }
    case PX_DT_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case PX_DT_UINT32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case PX_DT_INT16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case PX_DT_UINT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case PX_DT_INT8: return (int8_t)p[i];
    case PX_DT_UINT8: case PX_DT_BOOL: return p[i];
    default: return (int64_t)px_tensor_get_double(t, i);
    }
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else {
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else bits = sign | ((exp - 15 + 127) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

double px_tensor_get_double(const px_tensor *t, int64_t i)
{
    if (!t->data || i < 0 || i >= t->numel) return 0;
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case PX_DT_FLOAT: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case PX_DT_DOUBLE: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    case PX_DT_FLOAT16: { uint16_t h; memcpy(&h, p + 2 * i, 2); return half_to_float(h); }
    case PX_DT_BFLOAT16: {
        uint16_t h; memcpy(&h, p + 2 * i, 2);
        uint32_t b = (uint32_t)h << 16; float f; memcpy(&f, &b, 4); return f;
    }
    default:
        if (px_dtype_is_int(t->dtype) || t->dtype == PX_DT_BOOL) return (double)px_tensor_get_int(t, i);
        return 0;
    }
}

/* --- analysis --------------------------------------------------------- */

px_status px_graph_index(px_graph *g)
{
    if (g->index_valid) return PX_OK;
    free(g->cons_start);
    free(g->cons);
    g->cons_start = calloc((size_t)g->n_values + 1, sizeof *g->cons_start);
    size_t total = 0;
    for (int i = 0; i < g->n_nodes; i++) total += (size_t)g->nodes[i].n_inputs;
    g->cons = calloc(total ? total : 1, sizeof *g->cons);
    if (!g->cons_start || !g->cons) return px_nomem();
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++)
            if (g->nodes[i].inputs[j] >= 0) g->cons_start[g->nodes[i].inputs[j] + 1]++;
    for (int v = 0; v < g->n_values; v++) g->cons_start[v + 1] += g->cons_start[v];
    int *fill = calloc((size_t)g->n_values + 1, sizeof *fill);
    if (!fill) return px_nomem();
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) {
            int v = g->nodes[i].inputs[j];
            if (v >= 0) g->cons[g->cons_start[v] + fill[v]++] = i;
        }
    free(fill);
    for (int v = 0; v < g->n_values; v++) g->values[v].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_outputs; j++)
            if (g->nodes[i].outputs[j] >= 0) g->values[g->nodes[i].outputs[j]].producer = i;
    g->index_valid = 1;
    return PX_OK;
}

px_status px_graph_topo_order(const px_graph *g, int *order)
{
    /* Kahn's algorithm; the ready set is a min-heap on node id so the order
     * is stable with respect to the current node order. */
    int n = g->n_nodes;
    int *indeg = calloc((size_t)n + 1, sizeof *indeg);
    int *heap = calloc((size_t)n + 1, sizeof *heap);
    int *prod = malloc(((size_t)g->n_values + 1) * sizeof *prod);
    int *cstart = calloc((size_t)g->n_values + 1, sizeof *cstart);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (size_t)g->nodes[i].n_inputs;
    int *cons = malloc((total ? total : 1) * sizeof *cons);
    int *fill = calloc((size_t)g->n_values + 1, sizeof *fill);
    px_status st = PX_OK;
    if (!indeg || !heap || !prod || !cstart || !cons || !fill) {
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
                cstart[v + 1]++;
            }
        }
    for (int v = 0; v < g->n_values; v++) cstart[v + 1] += cstart[v];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) {
            int v = g->nodes[i].inputs[j];
            if (v >= 0 && prod[v] >= 0) cons[cstart[v] + fill[v]++] = i;
        }
    int hn = 0, done = 0;
#define HEAP_PUSH(x) do { int k_ = hn++; heap[k_] = (x); \
        while (k_ > 0 && heap[(k_ - 1) / 2] > heap[k_]) { int p_ = (k_ - 1) / 2, t_ = heap[p_]; heap[p_] = heap[k_]; heap[k_] = t_; k_ = p_; } } while (0)
    for (int i = 0; i < n; i++)
        if (indeg[i] == 0) HEAP_PUSH(i);
    while (hn > 0) {
        int u = heap[0];
        heap[0] = heap[--hn];
        for (int k = 0;;) {
            int l = 2 * k + 1, r = l + 1, m = k;
            if (l < hn && heap[l] < heap[m]) m = l;
            if (r < hn && heap[r] < heap[m]) m = r;
            if (m == k) break;
            int t = heap[m]; heap[m] = heap[k]; heap[k] = t;
            k = m;
        }
        order[done++] = u;
        for (int j = 0; j < g->nodes[u].n_outputs; j++) {
            int v = g->nodes[u].outputs[j];
            if (v < 0) continue;
            for (int c = cstart[v]; c < cstart[v + 1]; c++)
                if (--indeg[cons[c]] == 0) HEAP_PUSH(cons[c]);
        }
    }
#undef HEAP_PUSH
    if (done != n) {
        for (int i = 0; i < n; i++)
            if (indeg[i] > 0) {
                st = px_fail(PX_ERR_INVALID, "the graph has a cycle through node '%s' (%s)",
                             g->nodes[i].name, g->nodes[i].op_type);
                break;
            }
    }
out:
    free(indeg);
    free(heap);
    free(prod);
    free(cstart);
    free(cons);
    free(fill);
    return st;
}

px_status px_graph_validate(const px_graph *g)
{
    int *prod = malloc(((size_t)g->n_values + 1) * sizeof *prod);
    if (!prod) return px_nomem();
    for (int v = 0; v < g->n_values; v++) prod[v] = -1;
    px_status st = PX_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        const px_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_outputs && !st; j++) {
            int v = nd->outputs[j];
            if (v < 0) continue;
            const px_value *val = &g->values[v];
            if (prod[v] >= 0)
                st = px_fail(PX_ERR_INVALID, "value '%s' is produced twice (nodes '%s' and '%s')",
                             val->name, g->nodes[prod[v]].name, nd->name);
            else if (val->flags & (PX_VAL_INIT | PX_VAL_INPUT))
                st = px_fail(PX_ERR_INVALID, "node '%s' (%s) writes '%s', which is a graph %s",
                             nd->name, nd->op_type, val->name,
                             (val->flags & PX_VAL_INIT) ? "initializer" : "input");
            prod[v] = i;
        }
    }
    for (int i = 0; i < g->n_nodes && !st; i++) {
        const px_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_inputs && !st; j++) {
            int v = nd->inputs[j];
            if (v < 0) continue;
            const px_value *val = &g->values[v];
            if (prod[v] < 0 && !(val->flags & (PX_VAL_INIT | PX_VAL_INPUT)))
                st = px_fail(PX_ERR_INVALID, "node '%s' (%s) reads '%s', which nothing produces (dangling input)",
                             nd->name, nd->op_type, val->name);
        }
    }
    for (int i = 0; i < g->n_outputs && !st; i++) {
        const px_value *val = &g->values[g->outputs[i]];
        if (prod[g->outputs[i]] < 0 && !(val->flags & (PX_VAL_INIT | PX_VAL_INPUT)))
            st = px_fail(PX_ERR_INVALID, "graph output '%s' is not produced by any node", val->name);
    }
    for (int v = 0; v < g->n_values && !st; v++) {
        const px_value *val = &g->values[v];
        if (val->dtype != PX_DT_UNDEFINED && !px_dtype_valid(val->dtype))
            st = px_fail(PX_ERR_INVALID, "value '%s' has unknown element type %d", val->name, (int)val->dtype);
    }
    free(prod);
    if (st) return st;
    int *order = malloc(((size_t)g->n_nodes + 1) * sizeof *order);
    if (!order) return px_nomem();
    st = px_graph_topo_order(g, order);
    free(order);
    return st;
}

px_status px_graph_sort(px_graph *g)
{
    int n = g->n_nodes;
    int *order = malloc(((size_t)n + 1) * sizeof *order);
    px_node *sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    if (!order || !sorted) {
        free(order);
        free(sorted);
        return px_nomem();
    }
    px_status st = px_graph_topo_order(g, order);
    if (!st) {
        for (int i = 0; i < n; i++) sorted[i] = g->nodes[order[i]];
        if (n) memcpy(g->nodes, sorted, (size_t)n * sizeof *sorted);
        g->index_valid = 0;
        st = px_graph_index(g);
    }
    free(order);
    free(sorted);
    return st;
}

void px_graph_param_count(const px_graph *g, int64_t *params, int64_t *bytes)
{
    int64_t p = 0, b = 0;
    for (int i = 0; i < g->n_inits; i++) {
        const px_tensor *t = g->values[g->inits[i]].init;
        if (!t || t->numel < 0) continue;
        /* saturating: huge weightless tensors must not overflow the sums */
        if (__builtin_add_overflow(p, t->numel, &p)) p = INT64_MAX;
        size_t nb = px_dtype_nbytes(t->dtype, t->numel);
        if (nb != (size_t)-1) {
            if (nb > (size_t)INT64_MAX || __builtin_add_overflow(b, (int64_t)nb, &b)) b = INT64_MAX;
        } else if (t->strings) {
            for (int64_t k = 0; k < t->numel; k++)
                if (__builtin_add_overflow(b, (int64_t)t->string_lens[k], &b)) b = INT64_MAX;
        } else if (t->dtype != PX_DT_STRING) {
            b = INT64_MAX; /* more bytes than size_t arithmetic covers */
        }
    }
    *params = p;
    *bytes = b;
}
