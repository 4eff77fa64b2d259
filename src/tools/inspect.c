#include "tools/inspect.h"

#include <stdlib.h>
#include <string.h>

#include "shape/shape_infer.h"
#include "util/json.h"

static int cmp_op(const void *a, const void *b)
{
    return strcmp(((const px_op_count *)a)->op, ((const px_op_count *)b)->op);
}

/* Element count with symbolic dims counted as 1 (per unit of batch or
 * sequence); -1 when a dim is unknown.  *sym is set when a symbol was met. */
static int64_t numel_sym(const px_shape *s, int *sym)
{
    if (s->rank < 0) return -1;
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        int64_t d = s->dims[i].v;
        if (d < 0 && s->dims[i].sym) {
            *sym = 1;
            d = 1;
        }
        if (d < 0 || (d && n > INT64_MAX / d)) return -1;
        n *= d;
    }
    return n;
}

/* a * b of non-negative counts; -1 (counted as unknown) past INT64_MAX. */
static int64_t mul_or_unknown(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? -1 : r;
}

/* Multiply-accumulates of one node; -1 when shapes are unknown. */
static int64_t node_macs(const px_graph *g, const px_node *n, int *sym)
{
    if (n->domain[0]) return 0;
    const char *op = n->op_type;
    if (!strcmp(op, "Conv") || !strcmp(op, "ConvTranspose")) {
        if (n->n_inputs < 2 || n->n_outputs < 1 || n->inputs[1] < 0 || n->outputs[0] < 0) return -1;
        const px_shape *w = &g->values[n->inputs[1]].shape;
        int64_t wn = numel_sym(w, sym);
        if (!strcmp(op, "Conv")) {
            int64_t out = numel_sym(&g->values[n->outputs[0]].shape, sym);
            if (wn < 0 || out < 0 || w->rank < 1 || w->dims[0].v <= 0) return -1;
            /* each output element costs (Cin/group)*prod(kernel) = numel(W)/Cout */
            return mul_or_unknown(out, wn / w->dims[0].v);
        }
        int64_t in = n->inputs[0] >= 0 ? numel_sym(&g->values[n->inputs[0]].shape, sym) : -1;
        const px_shape *x = &g->values[n->inputs[0]].shape;
        if (wn < 0 || in < 0 || x->rank < 2 || x->dims[1].v <= 0) return -1;
        /* every input element is scattered through (Cout/group)*prod(kernel) */
        return mul_or_unknown(in, wn / x->dims[1].v);
    }
    if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul")) {
        if (n->n_inputs < 2 || n->inputs[0] < 0 || n->n_outputs < 1 || n->outputs[0] < 0) return -1;
        const px_shape *a = &g->values[n->inputs[0]].shape;
        int64_t out = numel_sym(&g->values[n->outputs[0]].shape, sym);
        if (out < 0 || a->rank < 1) return -1;
        int64_t k;
        if (!strcmp(op, "Gemm")) {
            if (a->rank != 2) return -1;
            k = a->dims[px_attr_int(n, "transA", 0) ? 0 : 1].v;
        } else {
            k = a->dims[a->rank - 1].v;
        }
        if (k < 0 && a->dims[a->rank - 1].sym) {
            *sym = 1;
            k = 1;
        }
        if (k < 0) return -1;
        return mul_or_unknown(out, k);
    }
    return 0;
}

px_status px_inspect_run(px_graph *g, px_inspect *r)
{
    memset(r, 0, sizeof *r);
    px_shape_report rep;
    px_status st = px_shape_infer(g, &rep);
    r->shape_ok = st == PX_OK;
    if (st) snprintf(r->shape_error, sizeof r->shape_error, "%s", px_last_error());
    else r->n_unsupported = rep.n_unsupported;
    r->nodes = g->n_nodes;
    r->ops = calloc((size_t)g->n_nodes + 1, sizeof *r->ops);
    if (!r->ops) return px_nomem();
    for (int i = 0; i < g->n_nodes; i++) {
        const px_node *n = &g->nodes[i];
        const char *name = n->op_type;
        if (n->domain[0]) {
            size_t len = strlen(n->domain) + strlen(n->op_type) + 2;
            char *q = px_arena_alloc(&g->arena, len);
            if (!q) return px_nomem();
            snprintf(q, len, "%s:%s", n->domain, n->op_type);
            name = q;
        }
        int k;
        for (k = 0; k < r->n_ops; k++)
            if (!strcmp(r->ops[k].op, name)) break;
        if (k == r->n_ops) r->ops[r->n_ops++].op = name;
        r->ops[k].count++;
        int sym = 0;
        int64_t m = node_macs(g, n, &sym);
        if (sym) r->flops_symbolic = 1;
        if (m < 0) r->flops_partial = 1;
        else if (r->flops <= INT64_MAX - m) r->flops += m;
    }
    qsort(r->ops, (size_t)r->n_ops, sizeof *r->ops, cmp_op);
    px_graph_param_count(g, &r->params, &r->param_bytes);
    return PX_OK;
}

void px_inspect_free(px_inspect *r)
{
    free(r->ops);
    memset(r, 0, sizeof *r);
}

static void shape_text(const px_value *v, FILE *f)
{
    if (v->shape.rank < 0) {
        fputs("?", f);
        return;
    }
    fputc('[', f);
    for (int i = 0; i < v->shape.rank; i++) {
        if (i) fputc(',', f);
        if (v->shape.dims[i].v >= 0) fprintf(f, "%lld", (long long)v->shape.dims[i].v);
        else fputs(v->shape.dims[i].sym ? v->shape.dims[i].sym : "?", f);
    }
    fputc(']', f);
}

void px_inspect_print_text(const px_graph *g, const px_inspect *r, FILE *f)
{
    fprintf(f, "nodes      %d\n", r->nodes);
    fprintf(f, "params     %lld (%lld bytes)\n", (long long)r->params, (long long)r->param_bytes);
    fprintf(f, "flops      %lld multiply-accumulates%s%s\n", (long long)r->flops,
            r->flops_symbolic ? " (symbolic dims counted as 1)" : "",
            r->flops_partial ? " (partial: some shapes unknown)" : "");
    fprintf(f, "opsets    ");
    for (int i = 0; i < g->n_opsets; i++)
        fprintf(f, " %s=%lld", g->opsets[i].domain[0] ? g->opsets[i].domain : "ai.onnx",
                (long long)g->opsets[i].version);
    fputc('\n', f);
    fprintf(f, "inputs\n");
    for (int i = 0; i < g->n_inputs; i++) {
        const px_value *v = &g->values[g->inputs[i]];
        if (v->flags & PX_VAL_INIT) continue;
        fprintf(f, "  %-24s %-8s ", v->name, px_dtype_name(v->dtype));
        shape_text(v, f);
        fputc('\n', f);
    }
    fprintf(f, "outputs\n");
    for (int i = 0; i < g->n_outputs; i++) {
        const px_value *v = &g->values[g->outputs[i]];
        fprintf(f, "  %-24s %-8s ", v->name, px_dtype_name(v->dtype));
        shape_text(v, f);
        fputc('\n', f);
    }
    fprintf(f, "ops (%d types)\n", r->n_ops);
    for (int i = 0; i < r->n_ops; i++) fprintf(f, "  %-32s %d\n", r->ops[i].op, r->ops[i].count);
    if (!r->shape_ok) fprintf(f, "shape inference failed: %s\n", r->shape_error);
    else if (r->n_unsupported) fprintf(f, "shape inference: %d nodes of ops without a rule\n", r->n_unsupported);
}

static void shape_json(px_json *j, const px_value *v)
{
    if (v->shape.rank < 0) {
        px_json_null(j);
        return;
    }
    px_json_arr_begin(j);
    for (int i = 0; i < v->shape.rank; i++) {
        if (v->shape.dims[i].v >= 0) px_json_int(j, v->shape.dims[i].v);
        else if (v->shape.dims[i].sym) px_json_str(j, v->shape.dims[i].sym);
        else px_json_null(j);
    }
    px_json_arr_end(j);
}

static void value_json(px_json *j, const px_value *v)
{
    px_json_obj_begin(j);
    px_json_key(j, "name");
    px_json_str(j, v->name);
    px_json_key(j, "dtype");
    if (v->dtype) px_json_str(j, px_dtype_name(v->dtype));
    else px_json_null(j);
    px_json_key(j, "shape");
    shape_json(j, v);
    px_json_obj_end(j);
}

void px_inspect_print_json(const px_graph *g, const px_inspect *r, FILE *f)
{
    px_json j;
    px_json_init(&j, f, 0);
    px_json_obj_begin(&j);
    px_json_key(&j, "nodes");
    px_json_int(&j, r->nodes);
    px_json_key(&j, "ops");
    px_json_obj_begin(&j);
    for (int i = 0; i < r->n_ops; i++) {
        px_json_key(&j, r->ops[i].op);
        px_json_int(&j, r->ops[i].count);
    }
    px_json_obj_end(&j);
    px_json_key(&j, "inputs");
    px_json_arr_begin(&j);
    for (int i = 0; i < g->n_inputs; i++)
        if (!(g->values[g->inputs[i]].flags & PX_VAL_INIT)) value_json(&j, &g->values[g->inputs[i]]);
    px_json_arr_end(&j);
    px_json_key(&j, "outputs");
    px_json_arr_begin(&j);
    for (int i = 0; i < g->n_outputs; i++) value_json(&j, &g->values[g->outputs[i]]);
    px_json_arr_end(&j);
    px_json_key(&j, "params");
    px_json_int(&j, r->params);
    px_json_key(&j, "param_bytes");
    px_json_int(&j, r->param_bytes);
    px_json_key(&j, "flops");
    px_json_int(&j, r->flops);
    px_json_key(&j, "flops_partial");
    px_json_bool(&j, r->flops_partial);
    px_json_key(&j, "flops_symbolic");
    px_json_bool(&j, r->flops_symbolic);
    px_json_key(&j, "opsets");
    px_json_obj_begin(&j);
    for (int i = 0; i < g->n_opsets; i++) {
        px_json_key(&j, g->opsets[i].domain[0] ? g->opsets[i].domain : "ai.onnx");
        px_json_int(&j, g->opsets[i].version);
    }
    px_json_obj_end(&j);
    px_json_key(&j, "ir_version");
    px_json_int(&j, g->ir_version);
    px_json_key(&j, "shape_inference");
    px_json_str(&j, r->shape_ok ? (r->n_unsupported ? "partial" : "ok") : r->shape_error);
    px_json_obj_end(&j);
    px_json_end(&j);
}

void px_values_print_json(const px_graph *g, FILE *f)
{
    px_json j;
    px_json_init(&j, f, 0);
    px_json_obj_begin(&j);
    px_json_key(&j, "values");
    px_json_arr_begin(&j);
    for (int i = 0; i < g->n_values; i++) value_json(&j, &g->values[i]);
    px_json_arr_end(&j);
    px_json_obj_end(&j);
    px_json_end(&j);
}
