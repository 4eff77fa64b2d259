/* The inference driver: resets node outputs, seeds data from initializers,
 * walks the nodes in topological order dispatching to the op rule tables,
 * merges the declared types of graph outputs, and gives unknown dims fresh
 * symbols (the way onnx materializes them, so identity survives Shape). */
#include "shape/shape_infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shape/infer_internal.h"

static const px_rule *const rule_tables[] = {
    px_rules_elementwise, px_rules_conv, px_rules_tensor, px_rules_index, px_rules_reduce, px_rules_misc,
    px_rules_quant,
};
#define N_TABLES ((int)(sizeof rule_tables / sizeof rule_tables[0]))

static int rule_matches(const px_rule *r, const char *domain, int64_t opset)
{
    if (strcmp(r->domain, domain)) return 0;
    if (opset < r->since) return 0;
    return r->until == 0 || opset <= r->until;
}

int px_shape_op_supported(const char *domain, const char *op_type)
{
    const char *d = domain && strcmp(domain, "ai.onnx") ? domain : "";
    if (!op_type) return 0;
    for (int t = 0; t < N_TABLES; t++)
        for (const px_rule *r = rule_tables[t]; r->op; r++)
            if (!strcmp(r->op, op_type) && !strcmp(r->domain, d)) return 1;
    return 0;
}

/* Op name -> chain of rules with that name (all domains and opsets). */
typedef struct rule_index {
    px_strmap by_op;
    const px_rule **rules;
    int *next;
    int n;
} rule_index;

static px_status rule_index_build(rule_index *ix)
{
    memset(ix, 0, sizeof *ix);
    px_strmap_init(&ix->by_op);
    int total = 0;
    for (int t = 0; t < N_TABLES; t++)
        for (const px_rule *r = rule_tables[t]; r->op; r++) total++;
    ix->rules = malloc((size_t)total * sizeof *ix->rules);
    ix->next = malloc((size_t)total * sizeof *ix->next);
    if (!ix->rules || !ix->next) return px_nomem();
    for (int t = 0; t < N_TABLES; t++)
        for (const px_rule *r = rule_tables[t]; r->op; r++) {
            int k = ix->n++;
            ix->rules[k] = r;
            ix->next[k] = px_strmap_get(&ix->by_op, r->op);
            if (px_strmap_put(&ix->by_op, r->op, k)) return px_nomem();
        }
    return PX_OK;
}

static void rule_index_free(rule_index *ix)
{
    px_strmap_free(&ix->by_op);
    free(ix->rules);
    free(ix->next);
}

static const px_rule *rule_find(const rule_index *ix, const char *domain, const char *op, int64_t opset)
{
    for (int k = px_strmap_get(&ix->by_op, op); k >= 0; k = ix->next[k])
        if (rule_matches(ix->rules[k], domain, opset)) return ix->rules[k];
    return NULL;
}

/* --- fresh symbols ------------------------------------------------------ */

static px_status note_syms(px_infer_state *st, const px_shape *s)
{
    for (int i = 0; i < s->rank; i++)
        if (s->dims[i].v < 0 && s->dims[i].sym && px_strmap_put(&st->taken, s->dims[i].sym, 1)) return px_nomem();
    return PX_OK;
}

/* kind: 1 for a dim, 2 for a data element (see px_infer_state). */
static px_status fresh_sym(px_graph *g, px_infer_state *st, int kind, const char **out)
{
    char buf[32];
    do snprintf(buf, sizeof buf, "unk__%llu", st->next_unk++);
    while (px_strmap_get(&st->taken, buf) >= 0);
    char *s = px_arena_strdup(&g->arena, buf);
    if (!s || px_strmap_put(&st->taken, s, kind)) return px_nomem();
    *out = s;
    return PX_OK;
}

/* Names every unknown dim (and unknown data element) of the node's outputs. */
static px_status materialize(px_graph *g, px_infer_state *st, const px_node *n)
{
    for (int o = 0; o < n->n_outputs; o++) {
        if (n->outputs[o] < 0) continue;
        px_value *v = &g->values[n->outputs[o]];
        px_status s;
        for (int i = 0; i < v->shape.rank; i++)
            if (v->shape.dims[i].v < 0 && !v->shape.dims[i].sym && (s = fresh_sym(g, st, 1, &v->shape.dims[i].sym)))
                return s;
        for (int i = 0; i < v->n_data; i++)
            if (px_sym_is_marker(v->data[i].sym)) {
                int kind = v->data[i].sym == px_unk_dim_sym ? 1 : 2;
                v->data[i].v = -1;
                if ((s = fresh_sym(g, st, kind, &v->data[i].sym))) return s;
            }
    }
    return PX_OK;
}

/* --- declared graph outputs ---------------------------------------------- */

typedef struct declared {
    px_dtype dtype;
    px_shape shape;
} declared;

/* Merges the declared type of graph output v into what was inferred:
 * known values win, then declared symbols (onnx prefers the declaration). */
static px_status merge_declared(px_graph *g, const px_node *n, px_value *v, const declared *d,
                                px_shape_report *report)
{
    if (d->dtype != PX_DT_UNDEFINED) {
        if (v->dtype == PX_DT_UNDEFINED) v->dtype = d->dtype;
        else if (v->dtype != d->dtype)
            return px_fail(PX_ERR_SHAPE, "node '%s' (%s): output '%s' is declared %s but inferred %s", n->name,
                           n->op_type, v->name, px_dtype_name(d->dtype), px_dtype_name(v->dtype));
    }
    if (d->shape.rank < 0) return PX_OK;
    if (v->shape.rank < 0) return px_shape_set(g, &v->shape, d->shape.rank, d->shape.dims);
    /* A declared shape that contradicts inference is replaced by the
     * inferred one (ONNX Runtime warns and runs such models); the caller
     * reports it. */
    int conflict = v->shape.rank != d->shape.rank;
    px_dim merged[PX_MAX_RANK];
    for (int i = 0; !conflict && i < v->shape.rank; i++) {
        merged[i] = d->shape.dims[i];
        conflict = !px_merge_dim(&merged[i], v->shape.dims[i]);
    }
    if (conflict) {
        if (report) {
            if (!report->n_declared_conflicts) report->first_declared_conflict = v->name;
            report->n_declared_conflicts++;
        }
        return PX_OK;
    }
    (void)n;
    for (int i = 0; i < v->shape.rank; i++) v->shape.dims[i] = merged[i];
    return PX_OK;
}

/* --- what a value was typed before ---------------------------------------- */

/* Symbols inference makes up ("unk__N") name nothing outside one run: a
 * kept type does not carry them (a new run may hand the same name to
 * another dim). */
static int is_fresh_sym(const char *s) { return s && !strncmp(s, "unk__", 5); }

static px_dim kept_dim(px_dim d)
{
    if (d.v >= 0) return px_dk(d.v);
    return is_fresh_sym(d.sym) ? px_du() : d;
}

/* Where the rule left output v's dtype, rank or a dim unknown (an op it
 * has no rule for, an If whose bodies do not declare their outputs), keeps
 * what v had before this run: value_info from the file, or a type the
 * caller set (obfuscate asks ONNX Runtime for the values inference cannot
 * type).  What the rule inferred wins; a prior of another dtype or rank is
 * dropped. */
static px_status keep_prior(px_graph *g, px_value *v, const declared *p)
{
    if (p->dtype == PX_DT_UNDEFINED) return PX_OK;
    if (v->dtype != PX_DT_UNDEFINED && v->dtype != p->dtype) return PX_OK;
    if (p->shape.rank >= 0 && v->shape.rank >= 0 && v->shape.rank != p->shape.rank) return PX_OK;
    v->dtype = p->dtype;
    if (p->shape.rank < 0) return PX_OK;
    px_dim dims[PX_MAX_RANK];
    if (p->shape.rank > PX_MAX_RANK) return PX_OK;
    for (int i = 0; i < p->shape.rank; i++) {
        dims[i] = kept_dim(p->shape.dims[i]);
        if (v->shape.rank >= 0 && (v->shape.dims[i].v >= 0 || v->shape.dims[i].sym)) dims[i] = v->shape.dims[i];
    }
    return px_shape_set(g, &v->shape, p->shape.rank, dims);
}

/* --- the driver ---------------------------------------------------------- */

static px_status seed_value(px_graph *g, px_value *v)
{
    v->n_data = -1;
    v->data = NULL;
    const px_tensor *t = v->init;
    if (!t || !t->data || !px_dtype_is_index(t->dtype) || t->numel < 0 || t->numel > PX_DATA_MAX) return PX_OK;
    if (px_dtype_nbytes(t->dtype, t->numel) > t->nbytes) return PX_OK;
    px_dim *d = px_arena_array(&g->arena, (size_t)(t->numel ? t->numel : 1), sizeof *d);
    if (!d) return px_nomem();
    for (int64_t i = 0; i < t->numel; i++) d[i] = px_dk(px_tensor_get_int(t, i));
    v->data = d;
    v->n_data = (int)t->numel;
    return PX_OK;
}

px_status px_shape_infer(px_graph *g, px_shape_report *report)
{
    if (report) {
        report->n_unsupported = 0;
        report->first_unsupported = NULL;
        report->n_declared_conflicts = 0;
        report->first_declared_conflict = NULL;
    }
    px_status st = px_graph_index(g);
    if (st) return st;

    px_infer_state state;
    memset(&state, 0, sizeof state);
    px_strmap_init(&state.taken);
    rule_index ix;
    int *order = malloc(((size_t)g->n_nodes + 1) * sizeof *order);
    declared *decl = calloc((size_t)g->n_values + 1, sizeof *decl);
    st = rule_index_build(&ix);
    if (!st && (!order || !decl)) st = px_nomem();
    if (!st) st = px_graph_topo_order(g, order);

    /* Symbols of the file (inputs, declared outputs) are never reused, nor
     * those of types kept from before this run. */
    for (int v = 0; !st && v < g->n_values; v++) {
        px_value *val = &g->values[v];
        if (val->producer < 0 || (val->flags & PX_VAL_OUTPUT)) st = note_syms(&state, &val->shape);
        for (int i = 0; !st && i < val->shape.rank; i++)
            if (val->shape.dims[i].v < 0 && val->shape.dims[i].sym && !is_fresh_sym(val->shape.dims[i].sym) &&
                px_strmap_get(&state.taken, val->shape.dims[i].sym) < 0 &&
                px_strmap_put(&state.taken, val->shape.dims[i].sym, 1))
                st = px_nomem();
    }
    /* Start from graph inputs and initializers: node outputs are inferred
     * again; what they had (value_info, a type set by the caller) is kept
     * only where inference cannot tell (keep_prior), and graph outputs'
     * declared types are merged back (merge_declared). */
    for (int v = 0; !st && v < g->n_values; v++) {
        px_value *val = &g->values[v];
        decl[v].shape.rank = -1;
        if (val->producer < 0 && (val->flags & (PX_VAL_INPUT | PX_VAL_INIT))) {
            st = seed_value(g, val);
            continue;
        }
        decl[v].dtype = val->dtype;
        decl[v].shape = val->shape; /* arena-owned; the value gets new dims below */
        val->dtype = PX_DT_UNDEFINED;
        val->shape.rank = -1;
        val->shape.dims = NULL;
        val->n_data = -1;
        val->data = NULL;
    }

    for (int k = 0; !st && k < g->n_nodes; k++) {
        const px_node *n = &g->nodes[order[k]];
        int64_t opset = px_graph_opset(g, n->domain);
        if (opset <= 0) opset = n->domain[0] ? 1 : PX_OPSET_LATEST;
        const px_rule *r = rule_find(&ix, n->domain, n->op_type, opset);
        if (r) {
            px_ictx c = {g, n, opset, &state};
            st = r->fn(&c);
        } else if (report) {
            if (!report->n_unsupported) report->first_unsupported = n->op_type;
            report->n_unsupported++;
        }
        for (int o = 0; !st && o < n->n_outputs; o++) {
            int v = n->outputs[o];
            if (v < 0) continue;
            if (g->values[v].flags & PX_VAL_OUTPUT) st = merge_declared(g, n, &g->values[v], &decl[v], report);
            else st = keep_prior(g, &g->values[v], &decl[v]);
        }
        if (!st) st = materialize(g, &state, n);
    }

    rule_index_free(&ix);
    px_strmap_free(&state.taken);
    free(order);
    free(decl);
    return st;
}
