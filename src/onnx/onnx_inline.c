#include "onnx/onnx_inline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/body.h"
#include "onnx/wire.h"
#include "util/strmap.h"

/* Calls expanded in one model at most (a function that calls itself would
 * otherwise never end). */
enum { MAX_EXPANSIONS = 1 << 20, MAX_FUNCTIONS = 4096 };

static void *arena_alloc(void *data, size_t size) { return px_arena_alloc(data, size ? size : 1); }
static void arena_free(void *data, void *p) { (void)data, (void)p; }

typedef struct fn_table {
    Onnx__FunctionProto *fn[MAX_FUNCTIONS];
    int n;
} fn_table;

static const Onnx__FunctionProto *fn_find(const fn_table *t, const char *domain, const char *name)
{
    const char *d = domain ? domain : "";
    for (int i = 0; i < t->n; i++) {
        const char *fd = t->fn[i]->domain ? t->fn[i]->domain : "";
        if (!strcmp(fd, d) && t->fn[i]->name && !strcmp(t->fn[i]->name, name)) return t->fn[i];
    }
    return NULL;
}

typedef struct out_list {
    Onnx__NodeProto **nodes;
    size_t n, cap;
} out_list;

static px_status push(out_list *o, Onnx__NodeProto *n)
{
    if (o->n == o->cap) {
        size_t nc = o->cap ? 2 * o->cap : 64;
        Onnx__NodeProto **p = realloc(o->nodes, nc * sizeof *p);
        if (!p) return px_nomem();
        o->nodes = p;
        o->cap = nc;
    }
    o->nodes[o->n++] = n;
    return PX_OK;
}

typedef struct inliner {
    fn_table fns;
    px_arena *ar;
    const char *what;
    int expansions;
    out_list out;
} inliner;

static char *scoped(px_arena *ar, const char *scope, const char *name)
{
    size_t n = strlen(scope) + strlen(name) + 1;
    char *s = px_arena_alloc(ar, n);
    if (s) snprintf(s, n, "%s%s", scope, name);
    return s;
}

static px_status emit(inliner *I, Onnx__NodeProto *np, int depth);

/* One call: the function's nodes with its formal names bound to the call's
 * actual ones and every other name put in a fresh scope. */
static px_status expand(inliner *I, const Onnx__NodeProto *call, const Onnx__FunctionProto *fn, int depth)
{
    if (++I->expansions > MAX_EXPANSIONS || depth > 64)
        return px_fail(PX_ERR_LIMIT, "%s: function '%s' expands without end (recursive calls?)", I->what, fn->name);
    char scope[64];
    snprintf(scope, sizeof scope, "__inl%d/", I->expansions);
    px_strmap map;
    px_strmap_init(&map);
    /* names[i] -> to[i]: formals to actuals, body values to scoped names */
    size_t cap = fn->n_input + fn->n_output + 16, n = 0;
    for (size_t i = 0; i < fn->n_node; i++) cap += fn->node[i]->n_output;
    const char **from = px_arena_array(I->ar, cap, sizeof *from), **to = px_arena_array(I->ar, cap, sizeof *to);
    px_status st = from && to ? PX_OK : px_nomem();
#define BIND(f, t)                                                                          \
    do {                                                                                    \
        if ((f) && *(f) && px_strmap_get(&map, (f)) < 0) {                                  \
            from[n] = (f);                                                                  \
            to[n] = (t);                                                                    \
            if (!to[n] || px_strmap_put(&map, (f), (int)n)) st = px_nomem();                \
            n++;                                                                            \
        }                                                                                   \
    } while (0)
    for (size_t i = 0; !st && i < fn->n_input; i++) BIND(fn->input[i], i < call->n_input ? call->input[i] : "");
    for (size_t i = 0; !st && i < fn->n_output; i++) BIND(fn->output[i], i < call->n_output ? call->output[i] : "");
    for (size_t i = 0; !st && i < fn->n_node; i++)
        for (size_t j = 0; !st && j < fn->node[i]->n_output; j++)
            BIND(fn->node[i]->output[j], scoped(I->ar, scope, fn->node[i]->output[j]));
#undef BIND
    for (size_t i = 0; !st && i < fn->n_node; i++) {
        const Onnx__NodeProto *b = fn->node[i];
        Onnx__NodeProto *nn = px_arena_alloc(I->ar, sizeof *nn);
        if (!nn) {
            st = px_nomem();
            break;
        }
        *nn = *b;
        nn->input = px_arena_array(I->ar, b->n_input + 1, sizeof *nn->input);
        nn->output = px_arena_array(I->ar, b->n_output + 1, sizeof *nn->output);
        nn->attribute = px_arena_array(I->ar, b->n_attribute + 1, sizeof *nn->attribute);
        if (!nn->input || !nn->output || !nn->attribute) {
            st = px_nomem();
            break;
        }
        for (size_t j = 0; j < b->n_input; j++) {
            int k = b->input[j] && *b->input[j] ? px_strmap_get(&map, b->input[j]) : -1;
            nn->input[j] = k >= 0 ? (char *)to[k] : b->input[j];
        }
        for (size_t j = 0; j < b->n_output; j++) {
            int k = b->output[j] && *b->output[j] ? px_strmap_get(&map, b->output[j]) : -1;
            nn->output[j] = k >= 0 ? (char *)to[k] : b->output[j];
        }
        nn->name = scoped(I->ar, scope, b->name && *b->name ? b->name : "n");
        nn->doc_string = NULL;
        size_t na = 0;
        for (size_t a = 0; !st && a < b->n_attribute; a++) {
            const Onnx__AttributeProto *ap = b->attribute[a];
            if (ap->ref_attr_name && *ap->ref_attr_name) {
                /* the caller's attribute of that name, under the body's name;
                 * absent: the attribute is left out (the op's default) */
                const Onnx__AttributeProto *src = NULL;
                for (size_t c = 0; c < call->n_attribute && !src; c++)
                    if (call->attribute[c]->name && !strcmp(call->attribute[c]->name, ap->ref_attr_name))
                        src = call->attribute[c];
                if (!src) continue;
                Onnx__AttributeProto *cp = px_arena_alloc(I->ar, sizeof *cp);
                if (!cp) {
                    st = px_nomem();
                    break;
                }
                *cp = *src;
                cp->name = ap->name;
                nn->attribute[na++] = cp;
                continue;
            }
            if (ap->g || ap->n_graphs) {
                /* bodies inside the function read its names: rename them too */
                size_t len = onnx__attribute_proto__get_packed_size(ap);
                uint8_t *raw = px_arena_alloc(I->ar, len ? len : 1), *nr;
                size_t nlen;
                if (!raw) {
                    st = px_nomem();
                    break;
                }
                onnx__attribute_proto__pack(ap, raw);
                px_body_rename r = {.n = (int)n, .from = from, .to = to};
                if ((st = px_body_rewrite(raw, len, &r, I->ar, &nr, &nlen))) break;
                ProtobufCAllocator al = {arena_alloc, arena_free, I->ar};
                Onnx__AttributeProto *up = onnx__attribute_proto__unpack(&al, nlen, nr);
                if (!up) {
                    st = px_fail(PX_ERR_PARSE, "%s: a graph attribute in function '%s' is malformed", I->what, fn->name);
                    break;
                }
                nn->attribute[na++] = up;
                continue;
            }
            nn->attribute[na++] = (Onnx__AttributeProto *)ap;
        }
        nn->n_attribute = na;
        if (!st && !nn->name) st = px_nomem();
        if (!st) st = emit(I, nn, depth + 1);
    }
    px_strmap_free(&map);
    return st;
}

static px_status emit(inliner *I, Onnx__NodeProto *np, int depth)
{
    const Onnx__FunctionProto *fn = np->op_type ? fn_find(&I->fns, np->domain, np->op_type) : NULL;
    if (!fn) return push(&I->out, np);
    return expand(I, np, fn, depth);
}

size_t px_wire_drop_field(uint8_t *buf, size_t len, uint32_t field)
{
    px_wire w = {buf, buf + len};
    px_wire_field f;
    size_t out = 0;
    while (px_wire_next(&w, &f) == 1) {
        if (f.number == field) continue;
        memmove(buf + out, f.start, f.total_len);
        out += f.total_len;
    }
    return out;
}

static px_status check_opsets(const Onnx__FunctionProto *fn, px_graph *g, const char *what)
{
    for (size_t i = 0; i < fn->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = fn->opset_import[i];
        const char *d = o->domain && strcmp(o->domain, "ai.onnx") ? o->domain : "";
        int64_t have = px_graph_opset(g, d);
        if (!*d && have > 0 && o->has_version && o->version != have)
            return px_fail(PX_ERR_UNSUPPORTED, "%s: function '%s' uses ai.onnx opset %lld, the model %lld: it cannot "
                           "be inlined", what, fn->name, (long long)o->version, (long long)have);
        if (have <= 0 && o->has_version) {
            px_status st = px_graph_set_opset(g, d, o->version);
            if (st) return st;
        }
    }
    return PX_OK;
}

px_status px_onnx_inline_calls(const Onnx__GraphProto *gp, const uint8_t *extra, size_t extra_len, px_graph *g,
                               px_arena *ar, const char *what, Onnx__NodeProto ***nodes, size_t *n_nodes,
                               int *n_inlined)
{
    inliner I;
    memset(&I, 0, sizeof I);
    I.ar = ar;
    I.what = what;
    *nodes = NULL;
    *n_nodes = 0;
    *n_inlined = 0;
    px_wire w = {extra, extra + extra_len};
    px_wire_field f;
    ProtobufCAllocator al = {arena_alloc, arena_free, ar};
    px_status st = PX_OK;
    while (!st && px_wire_next(&w, &f) == 1) {
        if (f.number != 25 || f.wire_type != 2) continue;
        if (I.fns.n == MAX_FUNCTIONS) return px_fail(PX_ERR_LIMIT, "%s: more than %d local functions", what, MAX_FUNCTIONS);
        Onnx__FunctionProto *fn = onnx__function_proto__unpack(&al, f.value_len, f.value);
        if (!fn || !fn->name) return px_fail(PX_ERR_PARSE, "%s: a local function is malformed", what);
        if ((st = check_opsets(fn, g, what))) return st;
        I.fns.fn[I.fns.n++] = fn;
    }
    if (I.fns.n == 0) return PX_OK;
    for (size_t i = 0; !st && i < gp->n_node; i++) st = emit(&I, gp->node[i], 0);
    if (st) {
        free(I.out.nodes);
        return st;
    }
    /* the list itself goes into the arena too: one owner for everything */
    Onnx__NodeProto **list = px_arena_array(ar, I.out.n + 1, sizeof *list);
    if (!list) {
        free(I.out.nodes);
        return px_nomem();
    }
    if (I.out.n) memcpy(list, I.out.nodes, I.out.n * sizeof *list);
    free(I.out.nodes);
    *nodes = list;
    *n_nodes = I.out.n;
    *n_inlined = I.expansions;
    return PX_OK;
}
