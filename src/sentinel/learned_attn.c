/* Attention as exporters write it, for closing a learned draw
 * (learned_close.c) where drawn bridges reach nothing: named chains of
 * Reshapes and Transposes that split heads off or merge them back, the
 * scores of two projections, and whole attention over a mask input.  Only
 * ops and Reshape forms the model itself writes; of the real subgraph only
 * its interface is read. */
#include <string.h>

#include "sentinel/learned_int.h"

/* The chains exporters write around attention, tried by name when drawn
 * bridges reach nothing: heads split off ([B, S, E] -> [B, S, H, D] ->
 * [B, H, S, D]) or merged back (the reverse), gpt2's [1, S, E] <-> [S, E],
 * seq-first [S, 1, E] -> [S, H, D] -> [H, S, D] and back, [S, B, E] <->
 * [B, S, E]; each optionally after a linear MatMul (a projection).  A step:
 * an op and its choice (L_FORCE + the Reshape form or perm index).  Only
 * ops and Reshape forms the model itself writes. */
enum { CH_STEPS = 3 };
static const struct {
    int n;
    struct {
        const char *op;
        int choice;
    } s[CH_STEPS];
} chains[] = {
    {0, {{NULL, 0}}}, /* nothing: the projection alone */
    {2, {{"Transpose", L_FORCE + 0}, {"Reshape", L_FORCE + 1}}}, /* [B, H, S, D] -> [B, S, H, D] -> [B, S, E] */
    {2, {{"Reshape", L_FORCE + 0}, {"Transpose", L_FORCE + 0}}}, /* [B, S, E] -> [B, S, H, D] -> [B, H, S, D] */
    {1, {{"Reshape", L_FORCE + 5}}},                            /* [1, S, E] -> [S, E] */
    {1, {{"Reshape", L_FORCE + 6}}},                            /* [S, E] -> [1, S, E] */
    {1, {{"Reshape", L_FORCE + 3}}},                            /* [S, 1, E] -> [S, E] */
    {1, {{"Reshape", L_FORCE + 4}}},                            /* [S, E] -> [S, 1, E] */
    {1, {{"Transpose", L_FORCE + 1}}},                          /* [S, B, E] <-> [B, S, E] */
    {2, {{"Reshape", L_FORCE + 2}, {"Transpose", L_FORCE + 1}}}, /* [S, 1, E] -> [S, H, D] -> [H, S, D] */
    {2, {{"Transpose", L_FORCE + 1}, {"Reshape", L_FORCE + 3}}}, /* [H, S, D] -> [S, H, D] -> [S, E] */
    {2, {{"Unsqueeze", 0}, {"Unsqueeze", 0}}},                  /* a mask [B, S] -> [B, 1, 1, S] */
    {2, {{"Reshape", L_FORCE + 4}, {"Transpose", L_FORCE + 1}}}, /* [S, E] -> [S, 1, E] -> [1, S, E] */
    {3, {{"Transpose", L_FORCE + 1}, {"Reshape", L_FORCE + 3}, {"Reshape", L_FORCE + 4}}}, /* [H, S, D] -> [S, 1, E] */
};
enum { N_CHAINS = (int)(sizeof chains / sizeof *chains), CH_MERGE = 1, CH_SPLIT = 2 };

static int model_op(const lgen *L, const char *name)
{
    int op = learned_op_named(name);
    return op >= 0 && L->style[op] >= 1.0 ? op : -1;
}

/* Chain c from value i (nodes added unchecked: the binding's or join's
 * check covers them); the last value, or -1 with nothing added. */
static int run_chain(lgen *L, int c, int i)
{
    lsnap s = learned_take(L);
    int x = i;
    for (int k = 0; k < chains[c].n; k++) {
        int op = model_op(L, chains[c].s[k].op);
        if (op < 0 || !learned_applies(L, op, &L->v[x]) || !learned_try_node_as(L, op, x, -1, chains[c].s[k].choice, 0)) {
            learned_rollback(L, s);
            return -1;
        }
        x = L->nv - 1;
    }
    return x;
}

/* Attention scores [.., S, S] from value i: two projections of it, split
 * into heads, the query's as [B, H, S, D] and the key's as [B, H, D, S]
 * ([H, S, D] and [H, D, S] seq-first), multiplied; the product or -1. */
static int scores(lgen *L, int i)
{
    static const int q_of[2][2] = {{0, 0}, {2, 1}}, k_of[2][2] = {{0, 2}, {2, 2}}; /* Reshape form, perm */
    int mm = model_op(L, "MatMul"), rs = model_op(L, "Reshape"), tr = model_op(L, "Transpose");
    if (mm < 0 || rs < 0 || tr < 0 || L->v[i].rank != 3 || !learned_applies(L, mm, &L->v[i])) return -1;
    for (int seq = 0; seq < 2; seq++) {
        lsnap s = learned_take(L);
        int side[2] = {-1, -1};
        for (int k = 0; k < 2; k++) {
            const int *f = k ? k_of[seq] : q_of[seq];
            side[k] = -1;
            if (!learned_try_node_ex(L, mm, i, -1, 0)) break;
            int p = L->nv - 1;
            if (learned_reshape_named(L, f[0], &L->v[p]) < 0 || !learned_try_node_as(L, rs, p, -1, L_FORCE + f[0], 0)) break;
            p = L->nv - 1;
            if (!learned_try_node_as(L, tr, p, -1, L_FORCE + f[1], 0)) break;
            side[k] = L->nv - 1;
        }
        if (side[0] >= 0 && side[1] >= 0 && learned_can_join(L, mm, &L->v[side[0]], &L->v[side[1]]) &&
            learned_try_node_ex(L, mm, side[0], side[1], 0))
            return L->nv - 1;
        learned_rollback(L, s);
    }
    return -1;
}

/* Heads of value i for the values side: projected, split, [B, H, S, D]; -1 when none. */
static int heads_of(lgen *L, int i)
{
    lsnap s = learned_take(L);
    int mm = model_op(L, "MatMul");
    if (mm < 0 || !learned_applies(L, mm, &L->v[i]) || !learned_try_node_ex(L, mm, i, -1, 0)) return -1;
    int e = run_chain(L, CH_SPLIT, L->nv - 1);
    if (e < 0) learned_rollback(L, s);
    return e;
}

static int is_one(const lgen *L, ldim d)
{
    int64_t v;
    return !d.sym && Z3_is_numeral_ast(L->z, d.e) && Z3_get_numeral_int64(L->z, d.e, &v) && v == 1;
}

/* Whether dims a and b may still be equal (the same symbol, or terms not
 * fixed to different numbers). */
static int may_equal(const lgen *L, ldim a, ldim b)
{
    if (a.sym || b.sym) return a.sym && b.sym && !strcmp(a.sym, b.sym);
    int64_t va, vb;
    return !(Z3_is_numeral_ast(L->z, a.e) && Z3_get_numeral_int64(L->z, a.e, &va) && Z3_is_numeral_ast(L->z, b.e) &&
             Z3_get_numeral_int64(L->z, b.e, &vb) && va != vb);
}

int learned_mask_like(const lgen *L, const lval *v)
{
    return v->producer < 0 && v->rank == 4 && !v->isint && !v->nonfloat && is_one(L, v->d[1]) && is_one(L, v->d[2]) &&
           model_op(L, "Softmax") >= 0 && model_op(L, "MatMul") >= 0 && model_op(L, "Add") >= 0 &&
           model_op(L, "Transpose") >= 0 && model_op(L, "Reshape") >= 0 && L->m_reshape[3][4] > 0;
}

/* Whole attention over a rank-3 value reading rank-4 input m: a mask
 * ([B, 1, 1, S]) added to the scores of two projections, or scores
 * themselves ([B, H, S, S]); Softmax, times the values' heads, the heads
 * merged back, as batch-first exporters write it; 1 when placed and
 * satisfiable. */
int learned_attend(lgen *L, int m)
{
    int add = model_op(L, "Add"), sm = model_op(L, "Softmax"), mm = model_op(L, "MatMul");
    if (add < 0 || sm < 0 || mm < 0 || L->v[m].rank != 4 || L->v[m].isint || L->v[m].nonfloat) return 0;
    int mask = learned_mask_like(L, &L->v[m]), merge = 1, cand[L_MAX_VALS], nc = 0;
    if (!mask && !may_equal(L, L->v[m].d[2], L->v[m].d[3])) return 0;
    /* the heads merged back unless the part ends in heads (an output of rank 4) */
    for (int o = 0; o < L->real->n_outputs; o++) merge &= L->real->values[L->real->outputs[o]].shape.rank != 4;
    for (int pass = 0; pass < 2; pass++) /* the values nobody reads yet first */
        for (int i = L->nv - 1; i >= 0; i--) {
            const lval *x = &L->v[i];
            if (i != m && x->rank == 3 && !x->isint && !x->nonfloat && !x->uses == !pass && may_equal(L, x->d[1], L->v[m].d[3]))
                cand[nc++] = i;
        }
    for (int c = 0; c < nc && c < 3; c++) {
        int i = cand[c];
        lsnap s = learned_take(L);
        int p = -1;
        if (mask) {
            int sc = scores(L, i);
            if (sc >= 0 && learned_can_join(L, add, &L->v[sc], &L->v[m]) && learned_try_node_ex(L, add, sc, m, 0)) p = L->nv - 1;
        } else {
            p = m;
        }
        if (p >= 0 && learned_try_node_ex(L, sm, p, -1, 0)) {
            int pr = L->nv - 1, v = heads_of(L, i);
            if (v >= 0 && learned_can_join(L, mm, &L->v[pr], &L->v[v]) && learned_try_node_ex(L, mm, pr, v, 0) &&
                (!merge || run_chain(L, CH_MERGE, L->nv - 1) >= 0) && learned_sat(L))
                return 1;
        }
        learned_rollback(L, s);
    }
    return 0;
}

int learned_n_chains(void) { return N_CHAINS; }
int learned_run_chain(lgen *L, int c, int i) { return run_chain(L, c, i); }

/* Value i as output rv through a named chain (or the scores), i first
 * projected or not; the bound value, or -1 with everything undone. */
int learned_reach_named(lgen *L, int i, const px_value *rv)
{
    if (L->v[i].isint || learned_int_bound(rv)) return -1;
    int mm = model_op(L, "MatMul");
    for (int proj = 0; proj < 2; proj++) {
        lsnap s = learned_take(L);
        int x = i;
        if (proj && (mm < 0 || !learned_applies(L, mm, &L->v[i]) || !learned_try_node_ex(L, mm, i, -1, 0))) break;
        if (proj) x = L->nv - 1;
        for (int c = 0; c < N_CHAINS; c++) {
            lsnap cs = learned_take(L);
            int e = run_chain(L, c, x);
            if (e >= 0 && learned_bind_output(L, e, rv)) return e;
            learned_rollback(L, cs);
        }
        learned_rollback(L, s);
    }
    /* the residual stream and its norm: two outputs of one shape (a block's
     * x and LayerNormalization(x)), where the model normalizes so */
    int ln = model_op(L, "LayerNormalization");
    if (ln >= 0 && learned_applies(L, ln, &L->v[i])) {
        lsnap s = learned_take(L);
        if (learned_try_node_ex(L, ln, i, -1, 0) && learned_bind_output(L, L->nv - 1, rv)) return L->nv - 1;
        learned_rollback(L, s);
    }
    if (rv->shape.rank >= 3) {
        lsnap s = learned_take(L);
        int e = scores(L, i);
        if (e >= 0 && learned_bind_output(L, e, rv)) return e;
        learned_rollback(L, s);
    }
    return -1;
}

