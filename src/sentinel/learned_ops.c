/* What each op the learned generator builds does to shapes (as Z3
 * constraints over its free attributes) and how it is written as ONNX.
 * The op list is a table; an op the fitted model never saw after a given
 * op is simply never drawn there. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/build.h"
#include "sentinel/learned_int.h"

const lopdef learned_ops[] = {
    {"Relu", LK_UNARY, 1},         {"Sigmoid", LK_UNARY, 1},      {"Tanh", LK_UNARY, 1},
    {"HardSigmoid", LK_UNARY, 6},  {"LeakyRelu", LK_UNARY, 6},    {"HardSwish", LK_UNARY, 14},
    {"Erf", LK_UNARY, 9},          {"Clip", LK_CLIP, 11},         {"Softmax", LK_SOFTMAX, 1},
    {"Add", LK_BINARY, 7},         {"Mul", LK_BINARY, 7},         {"Sub", LK_BINARY, 7},
    {"Div", LK_BINARY, 7},         {"Conv", LK_CONV, 1},          {"MaxPool", LK_POOL, 8},
    {"AveragePool", LK_POOL, 7},   {"GlobalAveragePool", LK_GAP, 1}, {"BatchNormalization", LK_BN, 9},
    {"MatMul", LK_MATMUL, 9},      {"Gemm", LK_GEMM, 9},          {"LayerNormalization", LK_LN, 17},
    {"Flatten", LK_FLATTEN, 9},    {"Concat", LK_CONCAT, 4},      {"Transpose", LK_TRANSPOSE, 1},
    {"ReduceMean", LK_REDUCE, 1},  {"Reshape", LK_RESHAPE, 5},    {"Sqrt", LK_UNARY, 6},
    {"Shape", LK_SHAPE, 1},        {"Gather", LK_GATHER, 1},      {"Unsqueeze", LK_UNSQUEEZE, 1},
    {"Pow", LK_POW, 7}, /* by a scalar exponent: LayerNorm and Gelu as op13 exports spell them */
    {"Gather", LK_EMBED, 1}, /* a table read by int64 ids (embeddings): only from an input */
    /* drawn only for a model that writes them (learned_own_op) */
    {"Pad", LK_PAD, 2},            {"Squeeze", LK_SQUEEZE, 1},    {"Resize", LK_RESIZE, 10},
    {"Cast", LK_CAST, 6}, /* last: learned_cast_op */
};
const int learned_n_ops = (int)(sizeof learned_ops / sizeof *learned_ops);
_Static_assert(sizeof learned_ops / sizeof *learned_ops <= L_MAX_OPS, "lgen.style has a slot per op");

int learned_cast_op(void) { return learned_n_ops - 1; }

int learned_own_op(int op)
{
    lkind k = learned_ops[op].kind;
    return k == LK_PAD || k == LK_SQUEEZE || k == LK_RESIZE;
}

int learned_op_of_kind(lkind k)
{
    for (int i = 0; i < learned_n_ops; i++)
        if (learned_ops[i].kind == k) return i;
    return -1;
}

int learned_int_op(int op)
{
    lkind k = learned_ops[op].kind;
    return k == LK_SHAPE || k == LK_GATHER || k == LK_UNSQUEEZE;
}

int learned_int_bound(const px_value *v)
{
    return v->dtype == PX_DT_INT64 && !v->type_raw &&
           (v->shape.rank == 0 || (v->shape.rank == 1 && v->shape.dims[0].v >= 1 && v->shape.dims[0].v <= L_MAX_RANK));
}

/* Constants shape arithmetic reads: head counts and sizes to divide or
 * multiply a length by, and the -1 of a Reshape target. */
const int64_t learned_int_consts[L_N_INT_CONSTS] = {-1, 1, 2, 4, 8, 12, 16, 64};

/* Transposes exporters write (attention heads, NCHW <-> NHWC), by rank. */
const int64_t learned_perms3[3][3] = {{0, 2, 1}, {1, 0, 2}, {1, 2, 0}}; /* the last: a seq-first key, only named */

const int64_t learned_perms4[4][4] = {{0, 2, 1, 3}, {0, 1, 3, 2}, {0, 2, 3, 1}, {0, 3, 1, 2}};

const int64_t *learned_perm(const lnode *nd, int r)
{
    if (nd->choice >= L_FORCE) return r == 3 ? learned_perms3[(nd->choice - L_FORCE) % 3] : learned_perms4[(nd->choice - L_FORCE) % 4];
    return r == 3 ? learned_perms3[nd->choice % 2] : learned_perms4[nd->choice % 4];
}

/* Attention head counts real transformers use (a Reshape splits or merges them). */
static const int64_t heads[] = {2, 4, 6, 8, 12, 16};
enum { N_HEADS = (int)(sizeof heads / sizeof *heads) };

/* Scalars that real graphs multiply or divide by (1/2, sqrt 2, sqrt d_head...). */
const float learned_scalars[L_N_SCALARS] = {0.5f, 1.41421354f, 8.0f, 2.0f, 0.125f, 1.0f, 3.0f, 6.0f};


static int is_expr(ldim d) { return !d.sym; }
static int sym_eq(ldim a, ldim b) { return a.sym && b.sym && !strcmp(a.sym, b.sym); }

/* a == b: symbols must be the same one; terms become a constraint. */
static int eq_dims(lgen *L, ldim a, ldim b)
{
    if (a.sym || b.sym) return sym_eq(a, b);
    Z3_solver_assert(L->z, L->sol, Z3_mk_eq(L->z, a.e, b.e));
    return 1;
}

static int last_expr(const lval *x) { return x->rank >= 1 && is_expr(x->d[x->rank - 1]); }

static int spatial_ok(const lval *x) { return (x->rank == 3 || x->rank == 4) && is_expr(x->d[1]); }

/* The number a dim is already fixed to, or -1 (a symbol, or still free). */
static int64_t fixed(lgen *L, ldim d);
static int reshape_form(lgen *L, const lval *x, double pick);

/* What an int64 value (a length, a shape vector) may go through: as
 * exporters compute shapes (Shape -> Gather -> Unsqueeze -> Concat), scale
 * a length (Div by the head count), or turn it into a float (Cast). */
static int int_applies(lgen *L, lkind k, const lval *x)
{
    switch (k) {
    case LK_GATHER: return x->rank == 1 && fixed(L, x->d[0]) >= 1;
    case LK_UNSQUEEZE: return x->rank == 0;
    case LK_CONCAT: return x->rank == 1 && fixed(L, x->d[0]) >= 1 && fixed(L, x->d[0]) < L_MAX_RANK;
    case LK_BINARY: case LK_CAST: return 1;
    default: return 0;
    }
}

int learned_applies(lgen *L, int op, const lval *x)
{
    const lopdef *o = &learned_ops[op];
    if (o->min_opset > L->opset) return 0;
    if (x->isint) return int_applies(L, o->kind, x);
    if (o->kind == LK_SHAPE) return x->rank >= 1;
    if (x->rank < 1) return o->kind == LK_UNARY || o->kind == LK_BINARY || o->kind == LK_POW; /* a float scalar (a Cast length) */
    switch (o->kind) {
    case LK_UNARY: case LK_CLIP: case LK_SOFTMAX: case LK_BINARY: case LK_POW: return 1;
    case LK_CONV: case LK_POOL: return spatial_ok(x);
    case LK_GAP: return spatial_ok(x);
    case LK_BN: return x->rank >= 2 && x->rank <= 4 && is_expr(x->d[1]);
    case LK_MATMUL: return x->rank >= 2 && last_expr(x);
    case LK_GEMM: return x->rank == 2 && last_expr(x);
    case LK_LN: return last_expr(x);
    case LK_FLATTEN: return x->rank >= 3 && x->rank <= 4;
    case LK_CONCAT: return x->rank >= 2;
    case LK_UNSQUEEZE: return x->rank <= 3; /* a mask [B, S] -> [B, 1, 1, S], as exporters extend it */
    case LK_TRANSPOSE: return x->rank == 3 || x->rank == 4;
    case LK_REDUCE: return x->rank >= 2;
    case LK_RESHAPE: return reshape_form(L, x, 0) >= 0;
    case LK_PAD: return x->rank == 4;
    case LK_RESIZE: return x->rank == 4;
    case LK_SQUEEZE: return learned_squeeze_axes(L, &(lnode){.choice = 0}, x, NULL) > 0;
    default: return 0;
    }
}

static int64_t fixed(lgen *L, ldim d)
{
    int64_t v;
    if (d.sym || !Z3_is_numeral_ast(L->z, d.e) || !Z3_get_numeral_int64(L->z, d.e, &v)) return -1;
    return v;
}

/* Whether dims a and b may still be equal (or b broadcast into a). */
static int may_match(lgen *L, ldim a, ldim b, int broadcast)
{
    if (a.sym || b.sym) return (a.sym && b.sym && !strcmp(a.sym, b.sym)) || (broadcast && !b.sym);
    int64_t va = fixed(L, a), vb = fixed(L, b);
    return va < 0 || vb < 0 || va == vb || (broadcast && vb == 1);
}

/* Cheap structural test before any solver call: ranks, symbols and dims
 * already fixed to other numbers rule most pairs out. */
int learned_can_join(lgen *L, int op, const lval *x, const lval *y)
{
    int r = x->rank;
    if (x->isint != y->isint) return 0;
    if (x->isint) { /* lengths and shape vectors: numbers already */
        int64_t nx = r ? fixed(L, x->d[0]) : 1, ny = y->rank ? fixed(L, y->d[0]) : 1;
        switch (learned_ops[op].kind) {
        case LK_BINARY: return y->rank <= r && (ny == nx || ny == 1);
        case LK_CONCAT: return r == 1 && y->rank == 1 && nx + ny <= L_MAX_RANK;
        default: return 0;
        }
    }
    switch (learned_ops[op].kind) {
    case LK_BINARY:
        if (y->rank > r) return 0;
        for (int a = 0; a < y->rank; a++)
            if (!may_match(L, x->d[a + r - y->rank], y->d[a], 1)) return 0;
        return 1;
    case LK_CONCAT: {
        if (y->rank != r || r < 2) return 0;
        int bad = 0;
        for (int a = 0; a < r; a++) bad += !may_match(L, x->d[a], y->d[a], 0);
        return bad <= 1; /* the axis may differ */
    }
    case LK_MATMUL:
        if (y->rank != r || r < 2 || !last_expr(x) || !is_expr(y->d[r - 2])) return 0;
        for (int a = 0; a + 2 < r; a++)
            if (!may_match(L, x->d[a], y->d[a], 0)) return 0;
        return may_match(L, x->d[r - 1], y->d[r - 2], 0);
    default: return 0;
    }
}

static int build(lgen *L, lnode *nd);

static lval *out_of(lgen *L, lnode *nd, const lval *like)
{
    lval *o = &L->v[L->nv];
    *o = *like;
    o->producer = (int)(nd - L->n);
    o->input = -1;
    o->uses = 0;
    nd->out = L->nv++;
    return o;
}

static void domain_from(lgen *L, Z3_ast var, const char *prefix, int with_iface, const int64_t *style, int n_style)
{
    const char *w[256];
    double c[256];
    int n = px_generator_values(L->gen, prefix, w, c, 256);
    if (n > 256) n = 256;
    l_domain(L, var, w, c, n, with_iface ? L->iface : NULL, with_iface ? L->n_iface : 0, style, n_style);
}

/* out = floor((in + 2p - k) / s) + 1 over one spatial dim; a symbol only
 * passes through a stride-1 "same" window. */
static int window(lgen *L, lnode *nd, ldim in, ldim *out)
{
    Z3_context z = L->z;
    Z3_ast k = nd->var[V_K], s = nd->var[V_S], p = nd->var[V_P];
    Z3_ast two_p = Z3_mk_mul(z, 2, (Z3_ast[]){l_int(L, 2), p});
    if (in.sym) {
        Z3_solver_assert(z, L->sol, Z3_mk_eq(z, s, l_int(L, 1)));
        Z3_solver_assert(z, L->sol, Z3_mk_eq(z, two_p, Z3_mk_sub(z, 2, (Z3_ast[]){k, l_int(L, 1)})));
        *out = in;
        return 1;
    }
    Z3_ast num = Z3_mk_sub(z, 2, (Z3_ast[]){Z3_mk_add(z, 2, (Z3_ast[]){in.e, two_p}), k});
    Z3_ast o = l_var(L, "hw");
    Z3_solver_assert(z, L->sol, Z3_mk_ge(z, num, l_int(L, 0)));
    Z3_solver_assert(z, L->sol, Z3_mk_ge(z, o, l_int(L, 1)));
    for (int64_t sv = 1; sv <= 4; sv++) {
        Z3_ast lo = Z3_mk_le(z, Z3_mk_mul(z, 2, (Z3_ast[]){l_int(L, sv), Z3_mk_sub(z, 2, (Z3_ast[]){o, l_int(L, 1)})}), num);
        Z3_ast hi = Z3_mk_lt(z, num, Z3_mk_mul(z, 2, (Z3_ast[]){l_int(L, sv), o}));
        Z3_solver_assert(z, L->sol, Z3_mk_implies(z, Z3_mk_eq(z, s, l_int(L, sv)), Z3_mk_and(z, 2, (Z3_ast[]){lo, hi})));
    }
    out->sym = NULL;
    out->e = o;
    return 1;
}

/* Kernel, stride and pad of a Conv or Pool: values real models use, a pad
 * that is zero or "same". */
static void window_vars(lgen *L, lnode *nd, const char *op)
{
    Z3_context z = L->z;
    char prefix[64];
    nd->var[V_K] = l_var(L, "k");
    nd->var[V_S] = l_var(L, "s");
    nd->var[V_P] = l_var(L, "p");
    int w = !strcmp(op, "Conv") ? 0 : !strcmp(op, "MaxPool") ? 1 : 2;
    snprintf(prefix, sizeof prefix, "attr %s kernel", op);
    domain_from(L, nd->var[V_K], prefix, 0, L->style_k[w], L->n_style_k[w]);
    snprintf(prefix, sizeof prefix, "attr %s stride", op);
    domain_from(L, nd->var[V_S], prefix, 0, NULL, 0);
    Z3_solver_assert(z, L->sol, Z3_mk_le(z, nd->var[V_S], l_int(L, 4)));
    Z3_ast p = nd->var[V_P], k = nd->var[V_K];
    Z3_ast zero = Z3_mk_eq(z, p, l_int(L, 0));
    Z3_ast same = Z3_mk_eq(z, Z3_mk_mul(z, 2, (Z3_ast[]){l_int(L, 2), p}), Z3_mk_sub(z, 2, (Z3_ast[]){k, l_int(L, 1)}));
    Z3_solver_assert(z, L->sol, Z3_mk_or(z, 2, (Z3_ast[]){zero, same}));
    snprintf(prefix, sizeof prefix, "attr %s pad same", op);
    double c_same = px_generator_count(L->gen, prefix);
    snprintf(prefix, sizeof prefix, "attr %s pad zero", op);
    double c_zero = px_generator_count(L->gen, prefix);
    l_prefer(L, px_rng_unit(L->rng) * (c_same + c_zero + 1) < c_same + 0.5 ? same : zero);
}

/* The channels or features of a new weight (var) among the model's counts;
 * as often as a weight node of the model's parts takes a width an earlier
 * one of its kind in its part has, the width of an earlier one of this
 * draw (kind 0: Convs, 1: linear) is preferred instead of a drawn count. */
static void width_from(lgen *L, Z3_ast var, int kind)
{
    Z3_ast prev[L_MAX_NODES];
    int n = 0;
    for (int i = 0; i < L->nn; i++) {
        lkind k = learned_ops[L->n[i].op].kind;
        if (L->n[i].var[V_OUT] && (kind ? k == LK_MATMUL || k == LK_GEMM : k == LK_CONV)) prev[n++] = L->n[i].var[V_OUT];
    }
    int reuse = n > 0 && L->m_reuse_of[kind] > 0 &&
                px_rng_unit(L->rng) * L->m_reuse_of[kind] < learned_model_share(L) * L->m_reuse[kind];
    L->domain_no_prefer = reuse;
    domain_from(L, var, "chan", 1, L->style_c, L->n_style_c);
    L->domain_no_prefer = 0;
    if (reuse) l_prefer(L, Z3_mk_eq(L->z, var, prev[px_rng_below(L->rng, (uint64_t)n)]));
}

static int build_conv(lgen *L, lnode *nd, const lval *x)
{
    Z3_context z = L->z;
    window_vars(L, nd, "Conv");
    nd->var[V_OUT] = l_var(L, "c");
    nd->var[V_DW] = l_var(L, "dw");
    width_from(L, nd->var[V_OUT], 0);
    Z3_ast dw = nd->var[V_DW];
    Z3_solver_assert(z, L->sol, Z3_mk_or(z, 2, (Z3_ast[]){Z3_mk_eq(z, dw, l_int(L, 0)), Z3_mk_eq(z, dw, l_int(L, 1))}));
    /* depthwise: one filter per channel, as MobileNets write it */
    Z3_solver_assert(z, L->sol, Z3_mk_implies(z, Z3_mk_eq(z, dw, l_int(L, 1)), Z3_mk_eq(z, nd->var[V_OUT], x->d[1].e)));
    double c1 = px_generator_count(L->gen, "attr Conv group 1"), cdw = px_generator_count(L->gen, "attr Conv group dw");
    if (L->style_seen && !L->style_grouped) cdw *= 0.02; /* a model without depthwise Convs */
    l_prefer(L, Z3_mk_eq(z, dw, l_int(L, px_rng_unit(L->rng) * (c1 + cdw + 1) < cdw ? 1 : 0)));
    /* a weight within bounds, as a constraint when the input channels are
     * known (else sizes_ok rejects the draw after solving) */
    int64_t c = fixed(L, x->d[1]);
    if (c > 0) {
        const char *w[64];
        double cnt[64];
        int n = px_generator_values(L->gen, "attr Conv kernel", w, cnt, 64);
        for (int i = 0; i < n && i < 64; i++) {
            int64_t kv = atoll(w[i]), per = c * kv * (x->rank == 4 ? kv : 1);
            if (kv <= 0 || per <= 0) continue;
            Z3_ast cond = Z3_mk_and(z, 2, (Z3_ast[]){Z3_mk_eq(z, nd->var[V_K], l_int(L, kv)), Z3_mk_eq(z, dw, l_int(L, 0))});
            Z3_solver_assert(z, L->sol, Z3_mk_implies(z, cond, Z3_mk_le(z, nd->var[V_OUT], l_int(L, L->max_weight / per))));
        }
    }
    lval *o = out_of(L, nd, x);
    o->d[1].sym = NULL;
    o->d[1].e = nd->var[V_OUT];
    for (int a = 2; a < x->rank; a++)
        if (!window(L, nd, x->d[a], &o->d[a])) return 0;
    return 1;
}

static int build_pool(lgen *L, lnode *nd, const lval *x)
{
    window_vars(L, nd, learned_ops[nd->op].name);
    lval *o = out_of(L, nd, x);
    for (int a = 2; a < x->rank; a++)
        if (!window(L, nd, x->d[a], &o->d[a])) return 0;
    return 1;
}

static int build_binary_join(lgen *L, lnode *nd, const lval *x, const lval *y)
{
    Z3_context z = L->z;
    int off = x->rank - y->rank;
    for (int a = 0; a < y->rank; a++) {
        ldim dx = x->d[a + off], dy = y->d[a];
        if (dy.sym) {
            if (!sym_eq(dx, dy)) return 0;
        } else if (dx.sym) {
            Z3_solver_assert(z, L->sol, Z3_mk_eq(z, dy.e, l_int(L, 1)));
        } else {
            /* y broadcasts into x (an attention mask into scores) or matches it */
            Z3_ast same = Z3_mk_eq(z, dx.e, dy.e);
            Z3_solver_assert(z, L->sol, Z3_mk_or(z, 2, (Z3_ast[]){same, Z3_mk_eq(z, dy.e, l_int(L, 1))}));
            l_prefer(L, same);
        }
    }
    out_of(L, nd, x);
    return 1;
}

static int build_concat(lgen *L, lnode *nd, const lval *x, const lval *y)
{
    int axis = nd->choice;
    if (axis <= 0 || axis >= x->rank || x->d[axis].sym || y->d[axis].sym) return 0;
    for (int a = 0; a < x->rank; a++)
        if (a != axis && !eq_dims(L, x->d[a], y->d[a])) return 0;
    lval *o = out_of(L, nd, x);
    o->d[axis].e = Z3_mk_add(L->z, 2, (Z3_ast[]){x->d[axis].e, y->d[axis].e});
    return 1;
}

static int build_matmul_join(lgen *L, lnode *nd, const lval *x, const lval *y)
{
    int r = x->rank;
    for (int a = 0; a + 2 < r; a++)
        if (!eq_dims(L, x->d[a], y->d[a])) return 0;
    if (!eq_dims(L, x->d[r - 1], y->d[r - 2])) return 0;
    lval *o = out_of(L, nd, x);
    o->d[r - 1] = y->d[r - 1];
    return 1;
}

/* A new last dim (MatMul or Gemm by a weight): a feature count real models use. */
static int build_linear(lgen *L, lnode *nd, const lval *x)
{
    nd->var[V_OUT] = l_var(L, "f");
    width_from(L, nd->var[V_OUT], 1);
    int64_t in = fixed(L, x->d[x->rank - 1]);
    if (in > 0) Z3_solver_assert(L->z, L->sol, Z3_mk_le(L->z, nd->var[V_OUT], l_int(L, L->max_weight / in)));
    lval *o = out_of(L, nd, x);
    o->d[x->rank - 1].sym = NULL;
    o->d[x->rank - 1].e = nd->var[V_OUT];
    return 1;
}

static int build_flatten(lgen *L, lnode *nd, const lval *x)
{
    Z3_ast f[L_MAX_RANK];
    for (int a = 1; a < x->rank; a++) {
        if (x->d[a].sym) return 0;
        f[a - 1] = x->d[a].e;
    }
    lval *o = out_of(L, nd, x);
    o->rank = 2;
    o->d[1].sym = NULL;
    o->d[1].e = Z3_mk_mul(L->z, (unsigned)(x->rank - 1), f);
    return 1;
}

/* 1: built, constraints to check; 2: built with fresh variables only
 * (nothing to check: solver calls are most of the time spent); 0: no fit. */
/* [.., D] -> [.., H, D/H] (rank 3 -> 4) or [.., H, E] -> [.., H*E] (4 -> 3),
 * H a head count real models use: one linear case per head count. */
/* The Reshapes exporters write around attention, by input and output rank:
 * batch-first [B, S, E] -> [B, S, H, E/H] and back; seq-first [S, 1, E] ->
 * [S, H, E/H], [S, H, D] -> [S, H*D], [S, E] -> [S, 1, E]; gpt2's
 * [B, S, E] -> [B*S, E] and [N, F] -> [1, N, F] (all but the first two
 * only for a model that writes them, as its counts say). */
static const struct {
    int rin, rout, always;
} reshape_forms[] = {{3, 4, 1}, {4, 3, 1}, {3, 3, 0}, {3, 2, 0}, {2, 3, 0}, {3, 2, 0}, {2, 3, 0}};
enum { N_RESHAPE_FORMS = (int)(sizeof reshape_forms / sizeof *reshape_forms) };

static int reshape_fits(lgen *L, int f, const lval *x)
{
    if (x->rank != reshape_forms[f].rin || !last_expr(x)) return 0;
    switch (f) {
    case 1: return is_expr(x->d[2]);
    case 2: return fixed(L, x->d[1]) == 1;
    case 3: return is_expr(x->d[1]) && (fixed(L, x->d[1]) >= 0 || fixed(L, x->d[2]) >= 0); /* linear */
    /* no symbol moves to another axis (the target's 0 copies the same axis) */
    case 5: return is_expr(x->d[0]) && is_expr(x->d[1]) && (fixed(L, x->d[0]) >= 0 || fixed(L, x->d[1]) >= 0);
    case 6: return is_expr(x->d[0]);
    default: return 1;
    }
}

/* A form for x drawn by the model's counts (pick in [0, 1)); the batch-
 * first ones, where the model has none of its own that fit; -1: none. */
static int reshape_form(lgen *L, const lval *x, double pick)
{
    double w[N_RESHAPE_FORMS], total = 0;
    for (int pass = 0; pass < 2 && total <= 0; pass++)
        for (int f = 0; f < N_RESHAPE_FORMS; f++) {
            w[f] = !reshape_fits(L, f, x) ? 0 : pass ? reshape_forms[f].always : f >= 5 ? L->m_reshape_lead[f - 5]
                 : L->m_reshape[reshape_forms[f].rin][reshape_forms[f].rout];
            total += w[f];
        }
    for (int f = 0; f < N_RESHAPE_FORMS && total > 0; f++) {
        if (pick * total < w[f]) return f;
        pick -= w[f] / total;
    }
    return -1;
}

/* Form f, named rather than drawn (the chains closing a draw): when it
 * fits x and the model writes it; else -1. */
int learned_reshape_named(lgen *L, int f, const lval *x)
{
    if (f < 0 || f >= N_RESHAPE_FORMS || !reshape_fits(L, f, x)) return -1;
    int mine = f >= 5 ? L->m_reshape_lead[f - 5] : L->m_reshape[reshape_forms[f].rin][reshape_forms[f].rout];
    return mine > 0 ? f : -1;
}

static int build_reshape(lgen *L, lnode *nd, const lval *x)
{
    int form = nd->choice >= L_FORCE ? learned_reshape_named(L, nd->choice - L_FORCE, x) : reshape_form(L, x, (nd->choice % 1000) / 1000.0);
    if (form < 0) return 0;
    if (form >= 3) { /* merge two, or add a 1: nothing to solve */
        lval *o = out_of(L, nd, x);
        if (form == 3) {
            o->rank = 2;
            o->d[1] = (ldim){.e = Z3_mk_mul(L->z, 2, (Z3_ast[]){x->d[1].e, x->d[2].e})};
        } else if (form == 5) {
            o->rank = 2;
            o->d[0] = (ldim){.e = Z3_mk_mul(L->z, 2, (Z3_ast[]){x->d[0].e, x->d[1].e})};
            o->d[1] = x->d[2];
        } else if (form == 6) {
            o->rank = 3;
            o->d[2] = x->d[1];
            o->d[1] = x->d[0];
            o->d[0] = (ldim){.e = l_int(L, 1)};
        } else {
            o->rank = 3;
            o->d[1] = (ldim){.e = l_int(L, 1)};
            o->d[2] = x->d[1];
        }
        return 1;
    }
    Z3_context z = L->z;
    Z3_ast cases[N_HEADS];
    lval *o = out_of(L, nd, x);
    int r = x->rank;
    nd->var[V_OUT] = l_var(L, "h");
    nd->var[V_K] = l_var(L, "e");
    Z3_ast h = nd->var[V_OUT], e = nd->var[V_K];
    Z3_ast whole = r == 3 ? x->d[2].e : e, part = r == 3 ? e : x->d[3].e;
    for (int i = 0; i < N_HEADS; i++) {
        Z3_ast hv = l_int(L, heads[i]);
        Z3_ast split = Z3_mk_eq(z, whole, Z3_mk_mul(z, 2, (Z3_ast[]){hv, part}));
        Z3_ast head = Z3_mk_eq(z, r == 3 ? h : x->d[2].e, hv);
        cases[i] = Z3_mk_and(z, 2, (Z3_ast[]){head, split});
    }
    Z3_solver_assert(z, L->sol, Z3_mk_or(z, N_HEADS, cases));
    Z3_solver_assert(z, L->sol, Z3_mk_ge(z, e, l_int(L, 1)));
    if (r == 3) {
        l_prefer(L, Z3_mk_eq(z, h, l_int(L, heads[px_rng_below(L->rng, N_HEADS)])));
        o->rank = form == 2 ? 3 : 4; /* seq-first: [S, 1, E] -> [S, H, E/H] */
        o->d[o->rank - 2] = (ldim){.e = h};
        o->d[o->rank - 1] = (ldim){.e = e};
    } else {
        o->rank = 3;
        o->d[2] = (ldim){.e = e};
    }
    return 1;
}

/* Whether Gather nd picks from a shape vector with a 1-element index (out
 * [1]) rather than a scalar one (out a scalar): as often as the model's own
 * Gathers do; scalar where it has none. */
int learned_gather_vec(const lgen *L, const lnode *nd)
{
    int total = L->m_gather_idx[0] + L->m_gather_idx[1];
    return total > 0 && nd->choice % total >= L->m_gather_idx[0];
}

/* The axes Squeeze nd removes from x (into axes, when not NULL): dims
 * past the batch already fixed to 1 (a pooled [N, C, 1, 1], a kept reduced
 * axis, an Unsqueeze's 1); all of them, or one, by nd's choice.  Returns
 * their count (0: none to remove). */
int learned_squeeze_axes(lgen *L, const lnode *nd, const lval *x, int64_t *axes)
{
    int64_t ones[L_MAX_RANK];
    int n = 0;
    for (int a = 1; a < x->rank; a++)
        if (fixed(L, x->d[a]) == 1) ones[n++] = a;
    if (!n) return 0;
    if (nd->choice % 2) { /* one of them */
        ones[0] = ones[nd->choice / 2 % n];
        n = 1;
    }
    if (axes) memcpy(axes, ones, (size_t)n * sizeof *axes);
    return n;
}

/* Constant spatial pads p on both sides of H and W (as torch writes an
 * AveragePool's padding, Paddle a Conv's): p 0 or a value the model's own
 * Pads use (1 where none is known), preferably the latter; 0 where a dim
 * is a symbol. */
static int build_pad(lgen *L, lnode *nd, const lval *x)
{
    Z3_context z = L->z;
    Z3_ast p = nd->var[V_P] = l_var(L, "pad"), any[9];
    int64_t want = L->n_style_pad ? L->style_pad[nd->choice % L->n_style_pad] : 1;
    int n = 0;
    any[n++] = Z3_mk_eq(z, p, l_int(L, 0));
    for (int i = 0; i < L->n_style_pad && n < 9; i++) any[n++] = Z3_mk_eq(z, p, l_int(L, L->style_pad[i]));
    if (!L->n_style_pad) any[n++] = Z3_mk_eq(z, p, l_int(L, 1));
    Z3_solver_assert(z, L->sol, Z3_mk_or(z, (unsigned)n, any));
    if (x->d[2].sym || x->d[3].sym) Z3_solver_assert(z, L->sol, Z3_mk_eq(z, p, l_int(L, 0)));
    else l_prefer(L, Z3_mk_eq(z, p, l_int(L, want)));
    lval *o = out_of(L, nd, x);
    Z3_ast two_p = Z3_mk_mul(z, 2, (Z3_ast[]){l_int(L, 2), p});
    for (int a = 2; a < 4; a++)
        if (!x->d[a].sym) o->d[a].e = Z3_mk_add(z, 2, (Z3_ast[]){x->d[a].e, two_p});
    return 1;
}

/* Shape arithmetic: every dim a number, nothing for the solver. */
static int build_int(lgen *L, lnode *nd, const lval *x, const lval *y)
{
    lkind k = learned_ops[nd->op].kind;
    lval *o = out_of(L, nd, x);
    switch (k) {
    case LK_SHAPE:
        o->isint = 1;
        o->rank = 1;
        o->d[0] = (ldim){.e = l_int(L, x->rank)};
        return 1;
    case LK_GATHER: /* a scalar length, or a [1] one, as the model's own Gathers index */
        o->rank = learned_gather_vec(L, nd);
        if (o->rank) o->d[0] = (ldim){.e = l_int(L, 1)};
        return 1;
    case LK_UNSQUEEZE:
        o->rank = 1;
        o->d[0] = (ldim){.e = l_int(L, 1)};
        return 1;
    case LK_CONCAT: o->d[0] = (ldim){.e = l_int(L, fixed(L, x->d[0]) + (y ? fixed(L, y->d[0]) : 1))}; return 1;
    case LK_CAST: o->isint = 0; return 1;
    default: return 1; /* binary: x's shape (y broadcasts into it) */
    }
}

int learned_build(lgen *L, lnode *nd)
{
    lkind k = learned_ops[nd->op].kind;
    if (L->v[nd->in[0]].isint || k == LK_SHAPE) {
        if (L->nv >= L_MAX_VALS) return 0;
        return build_int(L, nd, &L->v[nd->in[0]], nd->in[1] >= 0 ? &L->v[nd->in[1]] : NULL) ? 2 : 0;
    }
    int r = build(L, nd);
    if (!r) return 0;
    /* a Conv or pool over dims >= 1 always fits (a 1x1 or "same" window
     * exists): its constraints are checked with the next join's */
    return k == LK_RESHAPE || nd->in[1] >= 0 ? 1 : 2;
}

static int build(lgen *L, lnode *nd)
{
    const lval *x = &L->v[nd->in[0]];
    const lval *y = nd->in[1] >= 0 ? &L->v[nd->in[1]] : NULL;
    if (L->nv >= L_MAX_VALS) return 0;
    switch (learned_ops[nd->op].kind) {
    case LK_CONV: return build_conv(L, nd, x);
    case LK_POOL: return build_pool(L, nd, x);
    case LK_GAP: {
        lval *o = out_of(L, nd, x);
        for (int a = 2; a < x->rank; a++) o->d[a] = (ldim){.e = l_int(L, 1)};
        return 1;
    }
    case LK_BINARY:
        if (y) return build_binary_join(L, nd, x, y);
        out_of(L, nd, x);
        return 1;
    case LK_CONCAT: return y && build_concat(L, nd, x, y);
    case LK_MATMUL: return y ? build_matmul_join(L, nd, x, y) : build_linear(L, nd, x);
    case LK_GEMM: return build_linear(L, nd, x);
    case LK_FLATTEN: return build_flatten(L, nd, x);
    case LK_TRANSPOSE: {
        lval *o = out_of(L, nd, x);
        const int64_t *perm = learned_perm(nd, x->rank);
        for (int a = 0; a < x->rank; a++) o->d[a] = x->d[perm[a]];
        return 1;
    }
    case LK_REDUCE: {
        lval *o = out_of(L, nd, x);
        o->d[x->rank - 1] = (ldim){.e = l_int(L, 1)};
        return 1;
    }
    case LK_RESHAPE: return build_reshape(L, nd, x);
    case LK_PAD: return build_pad(L, nd, x);
    case LK_RESIZE: { /* nearest upsample by 2, as FPN heads write it; a symbolic dim becomes a new one */
        lval *o = out_of(L, nd, x);
        for (int a = 2; a < 4; a++)
            o->d[a] = x->d[a].sym ? (ldim){.sym = learned_fresh_sym(L)} : (ldim){.e = Z3_mk_mul(L->z, 2, (Z3_ast[]){l_int(L, 2), x->d[a].e})};
        return 1;
    }
    case LK_SQUEEZE: {
        int64_t axes[L_MAX_RANK];
        int n = learned_squeeze_axes(L, nd, x, axes), r = 0;
        if (!n) return 0;
        lval *o = out_of(L, nd, x);
        for (int a = 0, k = 0; a < x->rank; a++) {
            if (k < n && axes[k] == a) k++;
            else o->d[r++] = x->d[a];
        }
        o->rank = r;
        return 1;
    }
    case LK_UNSQUEEZE: {
        int axis = 1 + nd->choice % x->rank;
        lval *o = out_of(L, nd, x);
        o->rank = x->rank + 1;
        for (int a = x->rank; a > axis; a--) o->d[a] = x->d[a - 1];
        o->d[axis] = (ldim){.e = l_int(L, 1)};
        return 1;
    }
    case LK_EMBED: { /* ids [..] -> [.., F] through a [rows, F] table */
        nd->var[V_OUT] = l_var(L, "f");
        domain_from(L, nd->var[V_OUT], "chan", 1, L->style_c, L->n_style_c);
        Z3_solver_assert(L->z, L->sol, Z3_mk_le(L->z, nd->var[V_OUT], l_int(L, L->max_weight / (L->embed_rows > 0 ? L->embed_rows : 1))));
        lval *o = out_of(L, nd, x);
        o->rank = x->rank + 1;
        o->d[x->rank] = (ldim){.e = nd->var[V_OUT]};
        o->nonfloat = 0;
        return 1;
    }
    default: /* elementwise, softmax, norms, cast: the shape passes through */
        out_of(L, nd, x);
        return 1;
    }
}

