/* Writing the solved skeleton of a learned sentinel as ONNX (learned_int.h):
 * weights drawn fresh by role, small constants as the model writes them,
 * attributes from the solution.  Split from learned_ops.c (what each op
 * does to shapes), which holds the tables both read. */
#include <stdlib.h>
#include <string.h>

#include "ir/build.h"
#include "sentinel/learned_int.h"

/* ---- writing the solved skeleton ---- */

/* R_KERNEL: output channels first (Conv, Gemm transB); R_KERNEL_IO: last (MatMul) */
enum role { R_KERNEL, R_KERNEL_IO, R_DW, R_BIAS, R_GAMMA, R_BETA, R_MEAN, R_VAR, R_EMBED };

/* A fresh float32 weight drawn by role like the model's own (weights.h),
 * never from a real tensor; without data (> 16 elements) when the model is
 * weightless. */
static px_status weight(lgen *L, int rank, const int64_t *dims, enum role role, double fan_in, int *out)
{
    static const px_wrole wrole[] = {PX_WR_CONV, PX_WR_LINEAR, PX_WR_DWCONV, PX_WR_BIAS,
                                     PX_WR_NORM_SCALE, PX_WR_NORM_BIAS, PX_WR_BN_MEAN, PX_WR_BN_VAR, PX_WR_EMBED};
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, rank, dims);
    if (!t) return px_nomem();
    if (!(L->weightless && t->numel > 16)) {
        px_status st = px_tensor_alloc_data(t);
        px_wrole r = role == R_KERNEL && rank == 2 ? PX_WR_LINEAR : wrole[role];
        if (!st) st = px_wstats_draw(L->wstats, r, rank, dims, role == R_KERNEL_IO ? rank - 1 : 0, L->wrng, t->data);
        if (st) {
            px_tensor_free(t);
            return st;
        }
    }
    return px_build_init(L->g, &L->counter, t, out);
}

static px_status small_const(lgen *L, px_tensor *t, int *out);
static px_status emit_node(lgen *L, const char *op, int *ins, int n_in, int *out, int *node);

static px_status scalar(lgen *L, float x, int *out)
{
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 0, NULL);
    if (t && px_tensor_alloc_data(t)) {
        px_tensor_free(t);
        return px_nomem();
    }
    if (t) *(float *)t->data = x;
    return small_const(L, t, out);
}

static int64_t dim_val(lgen *L, ldim d) { return learned_dim_value(L, d); }

static px_status emit_window(lgen *L, const lnode *nd, int node, int spatial)
{
    int64_t ks[2], pads[4], strides[2], dil[2];
    for (int i = 0; i < spatial; i++) {
        ks[i] = nd->val[V_K];
        strides[i] = nd->val[V_S];
        pads[i] = pads[i + spatial] = nd->val[V_P];
        dil[i] = 1;
    }
    px_status st = PX_OK;
    if (learned_ops[nd->op].kind == LK_CONV) {
        if (!st) st = px_build_attr_ints(L->g, node, "dilations", dil, spatial);
        if (!st) st = px_build_attr_int(L->g, node, "group", nd->val[V_DW] ? dim_val(L, L->v[nd->in[0]].d[1]) : 1);
    } else if (!strcmp(learned_ops[nd->op].name, "MaxPool") && L->opset >= 10) {
        st = px_build_attr_int(L->g, node, "ceil_mode", 0);
    }
    if (!st) st = px_build_attr_ints(L->g, node, "kernel_shape", ks, spatial);
    if (!st) st = px_build_attr_ints(L->g, node, "pads", pads, 2 * spatial);
    if (!st) st = px_build_attr_ints(L->g, node, "strides", strides, spatial);
    return st;
}

/* A small constant (axes, a shape target, an index, a scalar) as the model
 * writes them: a Constant node where its real files have them, else an
 * initializer.  Takes t. */
static px_status small_const(lgen *L, px_tensor *t, int *out)
{
    if (!t) return px_nomem();
    return L->const_nodes ? px_build_constant(L->g, &L->counter, t, out) : px_build_init(L->g, &L->counter, t, out);
}

static px_status int64s(lgen *L, const int64_t *vals, int n, int *out)
{
    return small_const(L, px_build_int64_tensor(vals, n, 0), out);
}

static px_status int64_scalar(lgen *L, int64_t v, int *out) { return small_const(L, px_build_int64_tensor(&v, 1, 1), out); }

static px_status floats(lgen *L, const float *vals, int n, int *out)
{
    int64_t dim = n;
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 1, &dim);
    if (t && px_tensor_alloc_data(t)) {
        px_tensor_free(t);
        return px_nomem();
    }
    if (t && n) memcpy(t->data, vals, (size_t)n * sizeof *vals);
    return small_const(L, t, out);
}

/* Constant-mode Pad of H and W by p on each side: pads an input from opset
 * 11, attributes before. */
static px_status emit_pad(lgen *L, int *ins, int64_t p, int *out)
{
    const int64_t pads[8] = {0, 0, p, p, 0, 0, p, p};
    int node;
    px_status st = PX_OK;
    if (L->opset >= 11) st = int64s(L, pads, 8, &ins[1]);
    if (!st) st = emit_node(L, "Pad", ins, L->opset >= 11 ? 2 : 1, out, &node);
    if (!st) st = px_build_attr_string(L->g, node, "mode", "constant");
    if (!st && L->opset < 11) st = px_build_attr_ints(L->g, node, "pads", pads, 8);
    return st;
}

/* Nearest upsample of H and W by 2 as exporters write it: scales after an
 * empty roi from opset 11 (a constant, or no input from opset 13 where the
 * model's small constants are initializers: torch), the scales alone at
 * opset 10. */
static px_status emit_resize(lgen *L, int *ins, int *out)
{
    static const float scales[4] = {1, 1, 2, 2};
    int node, n_in = 2;
    px_status st = PX_OK;
    if (L->opset >= 11) {
        ins[1] = -1;
        if (L->const_nodes || L->opset < 13) st = floats(L, NULL, 0, &ins[1]);
        n_in = 3;
    }
    if (!st) st = floats(L, scales, 4, &ins[n_in - 1]);
    if (!st) st = emit_node(L, "Resize", ins, n_in, out, &node);
    if (!st && L->opset >= 11) {
        st = px_build_attr_string(L->g, node, "coordinate_transformation_mode", "asymmetric");
        if (!st && !L->const_nodes) st = px_build_attr_float(L->g, node, "cubic_coeff_a", -0.75f);
    }
    if (!st) st = px_build_attr_string(L->g, node, "mode", "nearest");
    if (!st && L->opset >= 11) st = px_build_attr_string(L->g, node, "nearest_mode", "floor");
    return st;
}

/* Squeeze of axes: an input from opset 13, an attribute before. */
static px_status emit_squeeze(lgen *L, int *ins, const int64_t *axes, int n, int *out)
{
    int node;
    px_status st = PX_OK;
    if (L->opset >= 13) st = int64s(L, axes, n, &ins[1]);
    if (!st) st = emit_node(L, "Squeeze", ins, L->opset >= 13 ? 2 : 1, out, &node);
    if (!st && L->opset < 13) st = px_build_attr_ints(L->g, node, "axes", axes, n);
    return st;
}

/* Unsqueeze at axis: its axes an input from opset 13, an attribute before. */
static px_status emit_unsqueeze(lgen *L, int *ins, int64_t axis, int *out)
{
    int node;
    px_status st;
    if (L->opset < 13) {
        st = px_build_node(L->g, &L->counter, "Unsqueeze", ins, 1, out, &node);
        return st ? st : px_build_attr_ints(L->g, node, "axes", &axis, 1);
    }
    st = int64s(L, &axis, 1, &ins[1]);
    return st ? st : px_build_node(L->g, &L->counter, "Unsqueeze", ins, 2, out, NULL);
}

/* Shape arithmetic as exporters write it: scalar int64 indices and
 * constants. */
static px_status emit_int(lgen *L, const lnode *nd, int *ins, int *out)
{
    const lopdef *o = &learned_ops[nd->op];
    const lval *x = &L->v[nd->in[0]];
    int node, n_in = 2;
    px_status st = PX_OK;
    switch (o->kind) {
    case LK_SHAPE: return px_build_node(L->g, &L->counter, o->name, ins, 1, out, NULL);
    case LK_GATHER: {
        int64_t len = dim_val(L, x->d[0]), at = len > 0 ? nd->choice % len : 0;
        st = learned_gather_vec(L, nd) ? int64s(L, &at, 1, &ins[1]) : int64_scalar(L, at, &ins[1]);
        if (!st) st = px_build_node(L->g, &L->counter, o->name, ins, 2, out, &node);
        return st ? st : px_build_attr_int(L->g, node, "axis", 0);
    }
    case LK_UNSQUEEZE: return emit_unsqueeze(L, ins, 0, out);
    case LK_CONCAT:
        if (nd->in[1] < 0) st = int64s(L, &learned_int_consts[nd->choice % L_N_INT_CONSTS], 1, &ins[1]);
        if (!st) st = px_build_node(L->g, &L->counter, o->name, ins, 2, out, &node);
        return st ? st : px_build_attr_int(L->g, node, "axis", 0);
    case LK_CAST:
        st = px_build_node(L->g, &L->counter, o->name, ins, 1, out, &node);
        return st ? st : px_build_attr_int(L->g, node, "to", PX_DT_FLOAT);
    default: /* binary: with another length, or a positive constant (a head count, a size) */
        if (nd->in[1] < 0) st = int64_scalar(L, learned_int_consts[1 + nd->choice % (L_N_INT_CONSTS - 1)], &ins[1]);
        return st ? st : px_build_node(L->g, &L->counter, o->name, ins, n_in, out, NULL);
    }
}

static int same_tensor_type(const px_tensor *a, const px_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank) return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) return 0;
    return 1;
}

/* The initializer an Identity of v reads: as torch writes a deduplicated
 * tensor, an earlier one of the same type behind an Identity, as often as
 * the model's Identities that could share theirs do (v is then dropped);
 * else v. */
static int dedup_init(lgen *L, int v)
{
    const px_tensor *t = L->g->values[v].init;
    int cand = -1;
    for (int i = L->n_ident_init - 1; i >= 0 && cand < 0 && L->m_ident_shared > 0; i--)
        if (same_tensor_type(L->g->values[L->ident_init[i]].init, t)) cand = L->ident_init[i];
    if (cand >= 0 && L->m_ident_cand > 0 && px_rng_below(L->rng, (uint64_t)L->m_ident_cand) < (uint64_t)L->m_ident_reuse) {
        px_tensor_free(px_graph_take_init(L->g, v)); /* nothing reads it any more */
        return cand;
    }
    if (L->n_ident_init < L_MAX_NODES) L->ident_init[L->n_ident_init++] = v;
    return v;
}

/* op(ins) as the model writes it: each initializer operand goes through an
 * Identity as often as the model's own constants of that op and slot do
 * (drawn only where the model has such Identities, so that other models'
 * sentinels are drawn as before). */
static px_status emit_node(lgen *L, const char *op, int *ins, int n_in, int *out, int *node)
{
    for (int s = 0; s < n_in; s++) {
        if (ins[s] < 0 || !(L->g->values[ins[s]].flags & PX_VAL_INIT)) continue;
        const lfeed *f = learned_feed(L, op, s);
        if (!f || !f->n_ident || px_rng_below(L->rng, (uint64_t)f->n_const) >= (uint64_t)f->n_ident) continue;
        int v;
        ins[s] = dedup_init(L, ins[s]);
        px_status st = px_build_node(L->g, &L->counter, "Identity", &ins[s], 1, &v, NULL);
        if (st) return st;
        L->g->values[v].dtype = L->g->values[ins[s]].dtype;
        ins[s] = v;
    }
    return px_build_node(L->g, &L->counter, op, ins, n_in, out, node);
}

/* Whether a Conv gets a bias: as often as the model's Convs have one (a
 * folded BatchNorm gives each one), else as most exports do (7 in 10). */
static int conv_bias(lgen *L, const lnode *nd)
{
    const lfeed *f = learned_feed(L, "Conv", 2);
    if (L->m_convs > 0) return nd->choice % L->m_convs < (f ? f->n_const : 0);
    return nd->choice % 10 < 7;
}

px_status learned_emit(lgen *L, const lnode *nd)
{
    const lopdef *o = &learned_ops[nd->op];
    const lval *x = &L->v[nd->in[0]];
    int ins[5] = {L->map[nd->in[0]], nd->in[1] >= 0 ? L->map[nd->in[1]] : -1, -1, -1, -1};
    int n_in = nd->in[1] >= 0 ? 2 : 1, node, out;
    px_status st = PX_OK;
    if (x->isint || o->kind == LK_SHAPE) {
        if ((st = emit_int(L, nd, ins, &out))) return st;
        L->map[nd->out] = out;
        return PX_OK;
    }
    int64_t c = x->rank >= 2 && !x->d[1].sym ? dim_val(L, x->d[1]) : 0;
    int64_t last = x->rank >= 1 && !x->d[x->rank - 1].sym ? dim_val(L, x->d[x->rank - 1]) : 0;
    switch (o->kind) {
    case LK_CONV: {
        int spatial = x->rank - 2;
        int64_t g = nd->val[V_DW] ? c : 1, wd[4] = {nd->val[V_OUT], c / g, nd->val[V_K], nd->val[V_K]};
        st = weight(L, 2 + spatial, wd, nd->val[V_DW] ? R_DW : R_KERNEL, (double)(c / g) * nd->val[V_K] * (spatial == 2 ? nd->val[V_K] : 1), &ins[1]);
        if (!st && conv_bias(L, nd)) st = weight(L, 1, &wd[0], R_BIAS, 1, &ins[2]);
        n_in = ins[2] >= 0 ? 3 : 2;
        if (!st) st = emit_node(L, o->name, ins, n_in, &out, &node);
        if (!st) st = emit_window(L, nd, node, spatial);
        break;
    }
    case LK_POOL:
        if (!(st = emit_node(L, o->name, ins, 1, &out, &node))) st = emit_window(L, nd, node, x->rank - 2);
        break;
    case LK_BN:
        for (int i = 0; i < 4 && !st; i++) st = weight(L, 1, &c, (enum role[]){R_GAMMA, R_BETA, R_MEAN, R_VAR}[i], 1, &ins[1 + i]);
        if (!st) st = emit_node(L, o->name, ins, 5, &out, &node);
        if (!st) st = px_build_attr_float(L->g, node, "epsilon", 1e-5f);
        if (!st) st = px_build_attr_float(L->g, node, "momentum", 0.9f);
        break;
    case LK_LN:
        st = weight(L, 1, &last, R_GAMMA, 1, &ins[1]);
        if (!st) st = weight(L, 1, &last, R_BETA, 1, &ins[2]);
        if (!st) st = emit_node(L, o->name, ins, 3, &out, &node);
        if (!st) st = px_build_attr_int(L->g, node, "axis", -1);
        if (!st) st = px_build_attr_float(L->g, node, "epsilon", 1e-5f);
        break;
    case LK_MATMUL:
        if (nd->in[1] < 0) {
            int64_t wd[2] = {last, nd->val[V_OUT]};
            st = weight(L, 2, wd, R_KERNEL_IO, (double)last, &ins[1]);
        }
        if (!st) st = emit_node(L, o->name, ins, 2, &out, &node);
        break;
    case LK_GEMM: {
        int64_t wd[2] = {nd->val[V_OUT], last};
        st = weight(L, 2, wd, R_KERNEL, (double)last, &ins[1]);
        if (!st) st = weight(L, 1, &wd[0], R_BIAS, 1, &ins[2]);
        if (!st) st = emit_node(L, o->name, ins, 3, &out, &node);
        if (!st) st = px_build_attr_float(L->g, node, "alpha", 1.0f);
        if (!st) st = px_build_attr_float(L->g, node, "beta", 1.0f);
        if (!st) st = px_build_attr_int(L->g, node, "transB", 1);
        break;
    }
    case LK_BINARY:
        if (nd->in[1] < 0) {
            /* a bias over the last dim, a per-channel scale, or a scalar */
            int kind = nd->choice % 3; /* 0 scalar, 1 bias, 2 per channel (learned.c: const_shape) */
            if (nd->cfix) {
                st = scalar(L, nd->cval, &ins[1]);
            } else if (kind == 1 && last > 0) {
                st = weight(L, 1, &last, R_BIAS, 1, &ins[1]);
            } else if (kind == 2 && x->rank == 4 && c > 0) {
                int64_t wd[3] = {c, 1, 1};
                st = weight(L, 3, wd, R_GAMMA, 1, &ins[1]);
            } else {
                st = scalar(L, learned_scalars[nd->choice / 3 % (int)(L_N_SCALARS)], &ins[1]);
            }
            n_in = 2;
        }
        if (!st) st = emit_node(L, o->name, ins, n_in, &out, &node);
        break;
    case LK_POW: /* an integer exponent keeps a negative base real */
        st = scalar(L, nd->cfix ? nd->cval : nd->choice % 2 ? 3.0f : 2.0f, &ins[1]);
        if (!st) st = emit_node(L, o->name, ins, 2, &out, &node);
        break;
    case LK_CLIP:
        st = scalar(L, 0.0f, &ins[1]);
        if (!st) st = scalar(L, 6.0f, &ins[2]);
        if (!st) st = emit_node(L, o->name, ins, 3, &out, &node);
        break;
    case LK_SOFTMAX:
        if (!(st = emit_node(L, o->name, ins, 1, &out, &node))) st = px_build_attr_int(L->g, node, "axis", -1);
        break;
    case LK_FLATTEN:
        if (!(st = emit_node(L, o->name, ins, 1, &out, &node))) st = px_build_attr_int(L->g, node, "axis", 1);
        break;
    case LK_CONCAT:
        if (!(st = emit_node(L, o->name, ins, 2, &out, &node))) st = px_build_attr_int(L->g, node, "axis", nd->choice);
        break;
    case LK_UNSQUEEZE: st = emit_unsqueeze(L, ins, 1 + nd->choice % x->rank, &out); break;
    case LK_PAD: st = emit_pad(L, ins, nd->val[V_P], &out); break;
    case LK_RESIZE: st = emit_resize(L, ins, &out); break;
    case LK_SQUEEZE: {
        int64_t axes[L_MAX_RANK];
        int n = learned_squeeze_axes(L, nd, x, axes);
        st = emit_squeeze(L, ins, axes, n, &out);
        break;
    }
    case LK_EMBED: {
        int64_t wd[2] = {L->embed_rows > 0 ? L->embed_rows : 1, nd->val[V_OUT]};
        ins[1] = ins[0]; /* Gather(table, ids) */
        st = weight(L, 2, wd, R_EMBED, 1, &ins[0]);
        if (!st) st = emit_node(L, o->name, ins, 2, &out, &node);
        if (!st) st = px_build_attr_int(L->g, node, "axis", 0);
        break;
    }
    case LK_TRANSPOSE: {
        const int64_t *perm = learned_perm(nd, x->rank);
        if (!(st = emit_node(L, o->name, ins, 1, &out, &node))) st = px_build_attr_ints(L->g, node, "perm", perm, x->rank);
        break;
    }
    case LK_REDUCE: {
        int64_t axis = -1;
        if (L->opset >= 18) {
            if (!(st = int64s(L, &axis, 1, &ins[1]))) st = emit_node(L, o->name, ins, 2, &out, &node);
        } else if (!(st = emit_node(L, o->name, ins, 1, &out, &node))) {
            st = px_build_attr_ints(L->g, node, "axes", &axis, 1);
        }
        if (!st) st = px_build_attr_int(L->g, node, "keepdims", 1);
        break;
    }
    case LK_RESHAPE: {
        /* the target as exporters write it: numbers, 0 where a symbol is copied */
        const lval *y = &L->v[nd->out];
        int64_t target[L_MAX_RANK];
        for (int a = 0; a < y->rank; a++) target[a] = y->d[a].sym ? 0 : dim_val(L, y->d[a]);
        if (!(st = int64s(L, target, y->rank, &ins[1])))
            st = emit_node(L, o->name, ins, 2, &out, &node);
        break;
    }
    case LK_CAST:
        if (!(st = emit_node(L, o->name, ins, 1, &out, &node))) st = px_build_attr_int(L->g, node, "to", PX_DT_FLOAT);
        break;
    default:
        if ((st = emit_node(L, o->name, ins, 1, &out, &node))) break;
        if (!strcmp(o->name, "LeakyRelu")) st = px_build_attr_float(L->g, node, "alpha", nd->choice % 2 ? 0.1f : 0.01f);
        else if (!strcmp(o->name, "HardSigmoid")) {
            st = px_build_attr_float(L->g, node, "alpha", 1.0f / 6);
            if (!st) st = px_build_attr_float(L->g, node, "beta", 0.5f);
        }
        break;
    }
    if (st) return st;
    L->map[nd->out] = out;
    return PX_OK;
}

px_status learned_merge_concats(lgen *L)
{
    px_graph *g = L->g;
    if (L->m_concat_wide <= 0) return PX_OK;
    px_status st = px_graph_index(g); /* readers per value, as they were before any merge */
    if (st) return st;
    const int *readers = g->cons_start;
    int *ins = NULL, cap = 0, merged = 0;
    char *dead = calloc((size_t)g->n_nodes + 1, 1);
    if (!dead) return px_nomem();
    for (int o = 0; o < g->n_nodes && !st; o++) {
        px_node *nd = &g->nodes[o];
        if (strcmp(nd->op_type, "Concat")) continue;
        int64_t axis = px_attr_int(nd, "axis", 0);
        for (int s = 0; s < nd->n_inputs && !st; s++) {
            int v = nd->inputs[s], p = v >= 0 ? g->values[v].producer : -1;
            if (p < 0 || dead[p] || strcmp(g->nodes[p].op_type, "Concat") || px_attr_int(&g->nodes[p], "axis", 0) != axis ||
                readers[v + 1] - readers[v] != 1 || (g->values[v].flags & PX_VAL_OUTPUT) || !px_dtype_is_float(g->values[v].dtype))
                continue;
            if (px_rng_below(L->rng, (uint64_t)L->m_concat) >= (uint64_t)L->m_concat_wide) continue;
            const px_node *in = &g->nodes[p];
            int n = nd->n_inputs - 1 + in->n_inputs;
            if (n > cap) {
                int *t = realloc(ins, (size_t)n * sizeof *ins);
                if (!t) {
                    st = px_nomem();
                    break;
                }
                ins = t;
                cap = n;
            }
            int k = 0;
            for (int j = 0; j < s; j++) ins[k++] = nd->inputs[j];
            for (int j = 0; j < in->n_inputs; j++) ins[k++] = in->inputs[j];
            for (int j = s + 1; j < nd->n_inputs; j++) ins[k++] = nd->inputs[j];
            if ((st = px_node_set_inputs(g, o, ins, n))) break;
            nd = &g->nodes[o];
            dead[p] = 1;
            merged++;
            s += in->n_inputs - 1;
        }
    }
    if (!st && merged) st = px_graph_remove_nodes(g, dead);
    free(dead);
    free(ins);
    return st;
}
