/* Control-flow bodies: outer-scope references, renaming, output types.
 * Bodies stay packed in the IR; they are unpacked here with an allocator
 * backed by an arena, so names can be swapped for arena strings and the
 * whole unpacked tree is released at once. */
#include "ir/body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "util/strmap.h"

/* Nesting deeper than this is refused (each level is a C stack frame). */
enum { MAX_DEPTH = 64 };

static void *arena_alloc(void *data, size_t size) { return px_arena_alloc(data, size ? size : 1); }
static void arena_free(void *data, void *p) { (void)data, (void)p; }

static Onnx__AttributeProto *unpack_attr(px_arena *ar, const uint8_t *raw, size_t len)
{
    ProtobufCAllocator al = {arena_alloc, arena_free, ar};
    return onnx__attribute_proto__unpack(&al, len, raw);
}

/* The graphs of an attribute (g and graphs). */
static int attr_graphs(const Onnx__AttributeProto *a, Onnx__GraphProto **out, int cap)
{
    int n = 0;
    if (a->g && n < cap) out[n++] = a->g;
    for (size_t i = 0; i < a->n_graphs && n < cap; i++)
        if (a->graphs[i]) out[n++] = a->graphs[i];
    return n;
}

enum { MAX_GRAPHS_PER_ATTR = 64 };

/* --- free names ----------------------------------------------------------- */

typedef struct name_list {
    px_strmap seen;
    const char **items;
    int n, cap;
} name_list;

static px_status list_add(name_list *l, const char *s)
{
    if (px_strmap_get(&l->seen, s) >= 0) return PX_OK;
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 16;
        const char **p = realloc(l->items, (size_t)nc * sizeof *p);
        if (!p) return px_nomem();
        l->items = p;
        l->cap = nc;
    }
    l->items[l->n++] = s;
    return px_strmap_put(&l->seen, s, 1) ? px_nomem() : PX_OK;
}

/* Calls fn for every name graph g defines: its inputs, initializers
 * (sparse ones too) and node outputs. */
static px_status each_defined(const Onnx__GraphProto *g, px_status (*fn)(void *ctx, const char *name), void *ctx)
{
    px_status st = PX_OK;
    for (size_t i = 0; i < g->n_input && !st; i++) st = fn(ctx, g->input[i]->name);
    for (size_t i = 0; i < g->n_initializer && !st; i++) st = fn(ctx, g->initializer[i]->name);
    for (size_t i = 0; i < g->n_sparse_initializer && !st; i++)
        if (g->sparse_initializer[i]->values) st = fn(ctx, g->sparse_initializer[i]->values->name);
    for (size_t i = 0; i < g->n_node && !st; i++)
        for (size_t j = 0; j < g->node[i]->n_output && !st; j++) st = fn(ctx, g->node[i]->output[j]);
    return st;
}

static px_status put_defined(void *ctx, const char *name)
{
    if (!name || !*name) return PX_OK;
    return px_strmap_put(ctx, name, 1) ? px_nomem() : PX_OK;
}

static px_status define_graph(const Onnx__GraphProto *g, px_strmap *def) { return each_defined(g, put_defined, def); }

/* Adds to out the names graph g reads but does not define. */
static px_status graph_free(const Onnx__GraphProto *g, name_list *out, int depth)
{
    if (depth > MAX_DEPTH) return px_fail(PX_ERR_LIMIT, "control-flow bodies nested more than %d deep", MAX_DEPTH);
    px_strmap def;
    px_strmap_init(&def);
    px_status st = define_graph(g, &def);
    for (size_t i = 0; i < g->n_node && !st; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t j = 0; j < n->n_input && !st; j++)
            if (n->input[j] && *n->input[j] && px_strmap_get(&def, n->input[j]) < 0) st = list_add(out, n->input[j]);
        for (size_t a = 0; a < n->n_attribute && !st; a++) {
            Onnx__GraphProto *sub[MAX_GRAPHS_PER_ATTR];
            int ns = attr_graphs(n->attribute[a], sub, MAX_GRAPHS_PER_ATTR);
            for (int k = 0; k < ns && !st; k++) {
                name_list inner = {0};
                px_strmap_init(&inner.seen);
                st = graph_free(sub[k], &inner, depth + 1);
                for (int q = 0; q < inner.n && !st; q++)
                    if (px_strmap_get(&def, inner.items[q]) < 0) st = list_add(out, inner.items[q]);
                px_strmap_free(&inner.seen);
                free(inner.items);
            }
        }
    }
    for (size_t i = 0; i < g->n_output && !st; i++)
        if (g->output[i]->name && *g->output[i]->name && px_strmap_get(&def, g->output[i]->name) < 0)
            st = list_add(out, g->output[i]->name);
    px_strmap_free(&def);
    return st;
}

px_status px_body_free_names(const uint8_t *raw, size_t len, px_arena *ar, const char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    px_arena tmp;
    px_arena_init(&tmp);
    Onnx__AttributeProto *a = unpack_attr(&tmp, raw, len);
    if (!a) {
        px_arena_free(&tmp);
        return px_fail(PX_ERR_PARSE, "a graph attribute is malformed");
    }
    name_list l = {0};
    px_strmap_init(&l.seen);
    Onnx__GraphProto *gs[MAX_GRAPHS_PER_ATTR];
    int ng = attr_graphs(a, gs, MAX_GRAPHS_PER_ATTR);
    px_status st = PX_OK;
    for (int i = 0; i < ng && !st; i++) st = graph_free(gs[i], &l, 0);
    if (!st && l.n) {
        const char **out = px_arena_array(ar, (size_t)l.n, sizeof *out);
        if (!out) st = px_nomem();
        for (int i = 0; i < l.n && !st; i++)
            if (!(out[i] = px_arena_strdup(ar, l.items[i]))) st = px_nomem();
        if (!st) {
            *names = out;
            *n = l.n;
        }
    }
    px_strmap_free(&l.seen);
    free(l.items);
    px_arena_free(&tmp);
    return st;
}

/* --- rewriting ------------------------------------------------------------ */

typedef struct scope scope;
struct scope {
    const scope *parent;
    px_strmap map;           /* name defined here -> index into to[] */
    const char **to;
    int n, cap;
};

typedef struct rewriter {
    const px_body_rename *r;
    px_strmap top;           /* from[i] -> i */
    px_arena *ar;            /* the unpacked tree's arena: new strings go here */
    int counter;
} rewriter;

static const char *lookup(const rewriter *w, const scope *s, const char *name)
{
    for (; s; s = s->parent) {
        int i = px_strmap_get(&s->map, name);
        if (i >= 0) return s->to[i];
    }
    int i = px_strmap_get(&w->top, name);
    return i >= 0 ? w->r->to[i] : name;
}

static const char *fresh(rewriter *w, const char *old, const char *kind)
{
    char buf[64];
    if (w->r->anonymize) {
        int k = w->r->counter ? (*w->r->counter)++ : w->counter++;
        snprintf(buf, sizeof buf, "%s%s%d", w->r->prefix ? w->r->prefix : "", kind, k);
        return px_arena_strdup(w->ar, buf);
    }
    if (!w->r->prefix) return old;
    size_t n = strlen(w->r->prefix) + strlen(old) + 1;
    char *s = px_arena_alloc(w->ar, n);
    if (s) snprintf(s, n, "%s%s", w->r->prefix, old);
    return s;
}

static px_status define(rewriter *w, scope *s, const char *name)
{
    if (!name || !*name || px_strmap_get(&s->map, name) >= 0) return PX_OK;
    const char *nn = fresh(w, name, "v");
    if (!nn) return px_nomem();
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 16;
        const char **p = realloc(s->to, (size_t)nc * sizeof *p);
        if (!p) return px_nomem();
        s->to = p;
        s->cap = nc;
    }
    s->to[s->n] = nn;
    return px_strmap_put(&s->map, name, s->n++) ? px_nomem() : PX_OK;
}

struct define_ctx {
    rewriter *w;
    scope *s;
};

static px_status define_cb(void *ctx, const char *name)
{
    struct define_ctx *d = ctx;
    return define(d->w, d->s, name);
}

static char *ren(const rewriter *w, const scope *s, char *name)
{
    if (!name || !*name) return name;
    return (char *)lookup(w, s, name);
}

static void scrub_type(rewriter *w, Onnx__TypeProto *t, px_strmap *syms)
{
    if (!t || !w->r->anonymize) return;
    t->denotation = NULL;
    t->base.n_unknown_fields = 0;
    if (t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type || !t->tensor_type->shape) return;
    Onnx__TensorShapeProto *sh = t->tensor_type->shape;
    for (size_t i = 0; i < sh->n_dim; i++) {
        Onnx__TensorShapeProto__Dimension *d = sh->dim[i];
        d->denotation = NULL;
        if (d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM || !d->dim_param) continue;
        int id = px_strmap_get(syms, d->dim_param);
        if (id < 0) {
            id = (int)syms->count;
            if (px_strmap_put(syms, d->dim_param, id)) continue;
        }
        char buf[32];
        snprintf(buf, sizeof buf, "s%d", id);
        char *p = px_arena_strdup(w->ar, buf);
        if (p) d->dim_param = p;
    }
}

static px_status rewrite_graph(rewriter *w, Onnx__GraphProto *g, const scope *parent, px_strmap *syms, int depth);

static px_status rewrite_node(rewriter *w, Onnx__NodeProto *n, scope *s, px_strmap *syms, int depth)
{
    for (size_t j = 0; j < n->n_input; j++) n->input[j] = ren(w, s, n->input[j]);
    for (size_t j = 0; j < n->n_output; j++) n->output[j] = ren(w, s, n->output[j]);
    if (n->name && *n->name) {
        const char *nn = w->r->anonymize || w->r->prefix ? fresh(w, n->name, "n") : n->name;
        if (!nn) return px_nomem();
        n->name = (char *)nn;
    }
    if (w->r->anonymize) {
        n->doc_string = NULL;
        n->base.n_unknown_fields = 0;
    }
    for (size_t a = 0; a < n->n_attribute; a++) {
        Onnx__AttributeProto *at = n->attribute[a];
        if (w->r->anonymize) {
            at->doc_string = NULL;
            at->base.n_unknown_fields = 0;
        }
        Onnx__GraphProto *sub[MAX_GRAPHS_PER_ATTR];
        int ns = attr_graphs(at, sub, MAX_GRAPHS_PER_ATTR);
        for (int k = 0; k < ns; k++) {
            px_status st = rewrite_graph(w, sub[k], s, syms, depth + 1);
            if (st) return st;
        }
    }
    return PX_OK;
}

static px_status rewrite_tensor_name(rewriter *w, Onnx__TensorProto *t, const scope *s)
{
    if (!t) return PX_OK;
    t->name = ren(w, s, t->name);
    if (w->r->anonymize) {
        t->doc_string = NULL;
        t->base.n_unknown_fields = 0;
        if (t->n_external_data)
            return px_fail(PX_ERR_UNSUPPORTED, "a control-flow body holds a tensor in external data");
    }
    return PX_OK;
}

static px_status rewrite_graph(rewriter *w, Onnx__GraphProto *g, const scope *parent, px_strmap *syms, int depth)
{
    if (depth > MAX_DEPTH) return px_fail(PX_ERR_LIMIT, "control-flow bodies nested more than %d deep", MAX_DEPTH);
    scope s = {.parent = parent};
    px_strmap_init(&s.map);
    px_status st = PX_OK;
    /* everything this graph defines first: a node may read a value a later
     * node defines only in an invalid graph, but renaming stays consistent */
    struct define_ctx dc = {w, &s};
    st = each_defined(g, define_cb, &dc);
    for (size_t i = 0; i < g->n_node && !st; i++) st = rewrite_node(w, g->node[i], &s, syms, depth);
    for (size_t i = 0; i < g->n_initializer && !st; i++) st = rewrite_tensor_name(w, g->initializer[i], &s);
    for (size_t i = 0; i < g->n_sparse_initializer && !st; i++) {
        st = rewrite_tensor_name(w, g->sparse_initializer[i]->values, &s);
        if (!st) st = rewrite_tensor_name(w, g->sparse_initializer[i]->indices, &s);
    }
    Onnx__ValueInfoProto **lists[3] = {g->input, g->output, g->value_info};
    size_t counts[3] = {g->n_input, g->n_output, g->n_value_info};
    for (int l = 0; l < 3 && !st; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            Onnx__ValueInfoProto *vi = lists[l][i];
            vi->name = ren(w, &s, vi->name);
            if (w->r->anonymize) {
                vi->doc_string = NULL;
                vi->base.n_unknown_fields = 0;
            }
            scrub_type(w, vi->type, syms);
        }
    for (size_t i = 0; i < g->n_quantization_annotation && !st; i++) {
        Onnx__TensorAnnotation *ta = g->quantization_annotation[i];
        ta->tensor_name = ren(w, &s, ta->tensor_name);
        for (size_t k = 0; k < ta->n_quant_parameter_tensor_names; k++)
            ta->quant_parameter_tensor_names[k]->value = ren(w, &s, ta->quant_parameter_tensor_names[k]->value);
    }
    if (!st && w->r->anonymize) {
        g->doc_string = NULL;
        g->base.n_unknown_fields = 0;
        const char *gn = fresh(w, "g", "g");
        if (!gn) st = px_nomem();
        else g->name = (char *)gn;
    } else if (!st && w->r->prefix && g->name) {
        const char *gn = fresh(w, g->name, "g");
        if (!gn) st = px_nomem();
        else g->name = (char *)gn;
    }
    px_strmap_free(&s.map);
    free(s.to);
    return st;
}

px_status px_body_rewrite(const uint8_t *raw, size_t len, const px_body_rename *r, px_arena *ar, uint8_t **out,
                          size_t *out_len)
{
    px_arena tmp;
    px_arena_init(&tmp);
    Onnx__AttributeProto *a = unpack_attr(&tmp, raw, len);
    if (!a) {
        px_arena_free(&tmp);
        return px_fail(PX_ERR_PARSE, "a graph attribute is malformed");
    }
    rewriter w = {.r = r, .ar = &tmp};
    px_strmap_init(&w.top);
    px_status st = PX_OK;
    for (int i = 0; i < r->n && !st; i++)
        if (px_strmap_put(&w.top, r->from[i], i)) st = px_nomem();
    px_strmap syms;
    px_strmap_init(&syms);
    if (r->anonymize) {
        a->doc_string = NULL;
        a->base.n_unknown_fields = 0;
    }
    Onnx__GraphProto *gs[MAX_GRAPHS_PER_ATTR];
    int ng = attr_graphs(a, gs, MAX_GRAPHS_PER_ATTR);
    for (int i = 0; i < ng && !st; i++) st = rewrite_graph(&w, gs[i], NULL, &syms, 0);
    if (!st) {
        size_t n = onnx__attribute_proto__get_packed_size(a);
        uint8_t *buf = px_arena_alloc(ar, n ? n : 1);
        if (!buf) st = px_nomem();
        else {
            onnx__attribute_proto__pack(a, buf);
            *out = buf;
            *out_len = n;
        }
    }
    px_strmap_free(&syms);
    px_strmap_free(&w.top);
    px_arena_free(&tmp);
    return st;
}

/* --- output types --------------------------------------------------------- */

px_status px_body_output_types(const uint8_t *raw, size_t len, px_graph *g, px_dtype *dtypes, px_shape *shapes,
                               int cap, int *n)
{
    *n = 0;
    px_arena tmp;
    px_arena_init(&tmp);
    Onnx__AttributeProto *a = unpack_attr(&tmp, raw, len);
    px_status st = PX_OK;
    if (!a) st = px_fail(PX_ERR_PARSE, "a graph attribute is malformed");
    else if (a->g) {
        *n = (int)a->g->n_output;
        for (int i = 0; i < *n && i < cap && !st; i++) {
            const Onnx__TypeProto *t = a->g->output[i]->type;
            dtypes[i] = PX_DT_UNDEFINED;
            shapes[i].rank = -1;
            shapes[i].dims = NULL;
            if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type) continue;
            if (t->tensor_type->has_elem_type && px_dtype_valid((px_dtype)t->tensor_type->elem_type))
                dtypes[i] = (px_dtype)t->tensor_type->elem_type;
            const Onnx__TensorShapeProto *sh = t->tensor_type->shape;
            if (!sh || sh->n_dim > PX_MAX_RANK) continue;
            px_dim dims[PX_MAX_RANK];
            for (size_t d = 0; d < sh->n_dim; d++) {
                /* body symbols are local to the body: only known dims carry over */
                dims[d].v = sh->dim[d]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                                    sh->dim[d]->dim_value >= 0
                                ? sh->dim[d]->dim_value
                                : -1;
                dims[d].sym = NULL;
            }
            st = px_shape_set(g, &shapes[i], (int)sh->n_dim, dims);
        }
    }
    px_arena_free(&tmp);
    return st;
}

/* --- binding ---------------------------------------------------------------- */

int px_graph_has_bodies(const px_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attrs; a++)
            if ((g->nodes[i].attrs[a].type == PX_ATTR_GRAPH || g->nodes[i].attrs[a].type == PX_ATTR_GRAPHS) &&
                g->nodes[i].attrs[a].raw)
                return 1;
    return 0;
}

px_status px_body_bind(px_graph *g)
{
    px_status st = PX_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        px_node *nd = &g->nodes[i];
        if (nd->n_implicit) continue;
        name_list l = {0};
        px_strmap_init(&l.seen);
        for (int a = 0; a < nd->n_attrs && !st; a++) {
            const px_attr *at = &nd->attrs[a];
            if ((at->type != PX_ATTR_GRAPH && at->type != PX_ATTR_GRAPHS) || !at->raw) continue;
            const char **names;
            int n;
            if ((st = px_body_free_names(at->raw, at->raw_len, &g->arena, &names, &n))) break;
            for (int k = 0; k < n && !st; k++) st = list_add(&l, names[k]);
        }
        if (!st && l.n) {
            int *ins = malloc(((size_t)nd->n_inputs + (size_t)l.n) * sizeof *ins);
            if (!ins) st = px_nomem();
            for (int k = 0; !st && k < nd->n_inputs; k++) ins[k] = nd->inputs[k];
            for (int k = 0; !st && k < l.n; k++) {
                int v = px_graph_find(g, l.items[k]);
                if (v < 0)
                    st = px_fail(PX_ERR_INVALID, "node '%s' (%s): its subgraph reads '%s', which the graph does not "
                                 "define", nd->name, nd->op_type, l.items[k]);
                else ins[nd->n_inputs + k] = v;
            }
            if (!st) st = px_node_set_inputs(g, i, ins, g->nodes[i].n_inputs + l.n);
            if (!st) st = px_node_set_implicit(g, i, l.n, l.items);
            free(ins);
        }
        px_strmap_free(&l.seen);
        free(l.items);
    }
    return st;
}
