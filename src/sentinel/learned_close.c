/* Closing a learned draw (learned.c grows it): every dead end joined into
 * another value (a residual Add or a Concat, as the model joins), directly
 * or through one bridge op, and each real output bound to a value whose
 * dims can equal its own, through the model's activation where its own
 * ends have one. */
#include <stdio.h>
#include <string.h>

#include "sentinel/learned_int.h"

/* Joins value b into a (a residual Add, or a Concat), either way round. */
static int join_pair(lgen *L, int a, int b)
{
    static const char *const joins[] = {"Add", "Mul", "Concat"};
    double w[3], total = 0;
    int mine = learned_model_share(L) > 0 ? learned_model_joins(L, NULL) : 0;
    double share = learned_model_share(L);
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "join %s", joins[i]);
        w[i] = (px_generator_count(L->gen, key) + 1) * L->style[learned_op_named(joins[i])];
        total += w[i];
    }
    for (int i = 0; i < 3 && mine && total > 0; i++) /* as in grow: mostly the model's own joins */
        w[i] = share * learned_model_joins(L, joins[i]) / mine + (1 - share) * w[i] / total;
    for (int t = 0; t < 4; t++) {
        int op = learned_op_named(joins[l_draw(L, w, 3)]);
        int x = t % 2 ? b : a, y = t % 2 ? a : b;
        if (learned_can_join(L, op, &L->v[x], &L->v[y]) && learned_try_node(L, op, x, y)) return 1;
    }
    return 0;
}

int learned_n_sinks(const lgen *L, int *sinks)
{
    int n = 0;
    for (int i = 0; i < L->nv; i++)
        if (L->v[i].producer >= 0 && !L->v[i].uses) sinks[n++] = i;
    return n;
}

/* Ops that give a value new dims, to reach an output's dims or a join
 * partner's: what real blocks end in, drawn by the fitted transitions
 * (an op the model does not write weighs nothing: learned.c's style). */
static const struct {
    const char *op;
    int isint; /* what it makes: a float tensor, or an int64 length or shape vector */
} bridges[] = {{"Conv", 0}, {"MatMul", 0}, {"Gemm", 0}, {"MaxPool", 0}, {"AveragePool", 0}, {"GlobalAveragePool", 0},
               {"Flatten", 0}, {"Transpose", 0}, {"Reshape", 0}, {"Unsqueeze", 0}, {"Cast", 0}, {"Shape", 1},
               {"Gather", 1}, {"Unsqueeze", 1}, {"Resize", 0}, {"Pad", 0}, {"Squeeze", 0}};
enum { N_BRIDGES = (int)(sizeof bridges / sizeof *bridges) };

/* A bridge op for value i that makes a value of kind want (0 float, 1
 * int64, -1 either), drawn by weight among those not yet tried (tried: a
 * bit per bridge); -1 when none is left. */
static int draw_bridge(lgen *L, int i, unsigned *tried, int want)
{
    double w[N_BRIDGES];
    const lval *x = &L->v[i];
    const char *prev = learned_prev_op(L, i);
    for (int b = 0; b < N_BRIDGES; b++) {
        int op = learned_op_named(bridges[b].op);
        w[b] = 0;
        if ((*tried >> b & 1) || (want >= 0 && bridges[b].isint != want) || !learned_applies(L, op, x)) continue;
        char key[96];
        snprintf(key, sizeof key, "next %s %s", prev, bridges[b].op);
        w[b] = (px_generator_count(L->gen, key) + 0.5) * L->style[op];
    }
    int b = l_draw(L, w, N_BRIDGES);
    if (b < 0) return -1;
    *tried |= 1u << b;
    return learned_op_named(bridges[b].op);
}

/* Joins b into an unread value (or, unless sinks_only, any produced one),
 * b as it is or through one bridge op.  Joining two unread values leaves
 * one fewer. */
static int join_somewhere(lgen *L, int b, int sinks_only)
{
    int sinks[L_MAX_VALS], ns = learned_n_sinks(L, sinks);
    for (int j = ns - 1; j >= 0; j--)
        if (sinks[j] != b && join_pair(L, sinks[j], b)) return 1;
    for (int j = L->nv - 1; j >= 0 && !sinks_only; j--)
        if (j != b && L->v[j].producer >= 0 && L->v[j].uses && join_pair(L, j, b)) return 1;
    unsigned tried = 0;
    for (int t = 0; t < 3; t++) {
        int op = draw_bridge(L, b, &tried, -1);
        if (op < 0) break;
        lsnap s = learned_take(L);
        if (learned_try_node_ex(L, op, b, -1, 0)) { /* the join's check covers the bridge */
            int nb = L->nv - 1;
            ns = learned_n_sinks(L, sinks);
            for (int j = ns - 1; j >= 0; j--)
                if (sinks[j] != nb && join_pair(L, sinks[j], nb)) return 1;
        }
        learned_rollback(L, s);
    }
    /* drawn bridges reached nothing: the attention chains, by name */
    for (int c = 0; c < learned_n_chains(); c++) {
        lsnap s = learned_take(L);
        int nb = learned_run_chain(L, c, b);
        if (nb >= 0 && nb != b) {
            ns = learned_n_sinks(L, sinks);
            for (int j = ns - 1; j >= 0; j--)
                if (sinks[j] != nb && join_pair(L, sinks[j], nb)) return 1;
        }
        learned_rollback(L, s);
    }
    return 0;
}

/* No dead ends: every input read, at most as many unread values as outputs. */
int learned_close_ends(lgen *L, int n_out)
{
    for (int i = 0; i < L->nv; i++) {
        if (L->v[i].producer >= 0 || L->v[i].uses || L->v[i].nonfloat) continue;
        /* a mask is read by attention, as exporters write it; scores
         * ([B, H, S, S]) by attention when nothing else joins them */
        int mask = learned_mask_like(L, &L->v[i]);
        if (!(mask && learned_attend(L, i)) && !join_somewhere(L, i, 0) && (mask || !learned_attend(L, i))) return 0;
    }
    for (;;) {
        int sinks[L_MAX_VALS], ns = learned_n_sinks(L, sinks);
        if (ns <= n_out) return 1;
        if (!join_somewhere(L, sinks[0], 1)) return 0;
    }
}

/* Whether a real symbolic dim is one of the inputs' (then it must pass
 * through; an inferred, unbound one is free). */
int learned_sym_bound(const px_graph *real, const char *sym)
{
    for (int j = 0; j < real->n_inputs; j++) {
        const px_shape *sh = &real->values[real->inputs[j]].shape;
        for (int a = 0; a < sh->rank; a++)
            if (sh->dims[a].v < 0 && sh->dims[a].sym && !strcmp(sh->dims[a].sym, sym)) return 1;
    }
    return 0;
}

/* Value v becomes output o: its dims must equal the real ones. */
int learned_bind_output(lgen *L, int v, const px_value *rv)
{
    const lval *x = &L->v[v];
    if (x->rank != rv->shape.rank || x->isint != learned_int_bound(rv)) return 0;
    for (int a = 0; a < x->rank; a++) {
        int64_t n;
        /* a dim already fixed to another number: no need to ask the solver */
        if (!x->d[a].sym && rv->shape.dims[a].v >= 0 && Z3_is_numeral_ast(L->z, x->d[a].e) &&
            Z3_get_numeral_int64(L->z, x->d[a].e, &n) && n != rv->shape.dims[a].v)
            return 0;
    }
    lsnap s = learned_take(L);
    learned_push(L);
    int ok = 1, asked = 0;
    for (int a = 0; a < x->rank && ok; a++) {
        px_dim rd = rv->shape.dims[a];
        int64_t n;
        if (rd.v >= 0) {
            if (x->d[a].sym) ok = 0;
            else if (!(Z3_is_numeral_ast(L->z, x->d[a].e) && Z3_get_numeral_int64(L->z, x->d[a].e, &n))) {
                Z3_solver_assert(L->z, L->sol, Z3_mk_eq(L->z, x->d[a].e, l_int(L, rd.v)));
                asked = 1; /* a number equal to it already needs no solver call */
            }
        } else if (rd.sym && learned_sym_bound(L->real, rd.sym)) {
            ok = x->d[a].sym && !strcmp(x->d[a].sym, rd.sym);
        }
    }
    if (ok && (!asked || learned_sat(L))) return 1;
    learned_rollback(L, s);
    return 0;
}

/* x through the activation the model writes after x's producer, as often
 * as the model does (a Conv that a bridge or an output adds is followed by
 * the model's Relu when all of its own Convs are): the new value, or x when
 * none is drawn or none fits. */
static int follow(lgen *L, int x)
{
    if (L->v[x].producer < 0 || learned_model_share(L) <= 0) return x;
    const char *prev = learned_prev_op(L, x);
    int pc = learned_prev_const(L, x), all = learned_pairs_after(L, prev, pc);
    double w[L_MAX_OPS + 1], rest = all;
    if (all <= 0 || learned_n_ops > L_MAX_OPS) return x;
    for (int i = 0; i < learned_n_ops; i++) {
        lkind k = learned_ops[i].kind;
        const lpair *q = k == LK_UNARY || k == LK_CLIP ? learned_pair(L, prev, pc, learned_ops[i].name) : NULL;
        w[i] = q ? q->next : 0;
        rest -= w[i];
        if (!learned_applies(L, i, &L->v[x])) w[i] = 0;
    }
    w[learned_n_ops] = rest > 0 ? rest : 0;
    int op = l_draw(L, w, learned_n_ops + 1);
    if (op < 0 || op == learned_n_ops) return x;
    return learned_try_node(L, op, x, -1) ? L->nv - 1 : x;
}

/* Value i as output rv, else i through up to depth bridge ops; the bound
 * value, or -1 with everything undone.  An end goes through the model's
 * activation first where the model's own ends would. */
static int reach(lgen *L, int i, const px_value *rv, int depth)
{
    if (!L->v[i].uses) {
        lsnap s = learned_take(L);
        int f = follow(L, i);
        if (f != i && learned_bind_output(L, f, rv)) return f;
        learned_rollback(L, s);
    }
    if (learned_bind_output(L, i, rv)) return i;
    unsigned tried = 0;
    for (int t = 0; t < 2 && depth > 0; t++) {
        int op = draw_bridge(L, i, &tried, learned_int_bound(rv));
        if (op < 0) break;
        lsnap s = learned_take(L);
        if (learned_try_node_ex(L, op, i, -1, 0)) { /* the binding's check covers the bridge */
            int r = reach(L, L->nv - 1, rv, depth - 1);
            if (r >= 0) return r;
        }
        learned_rollback(L, s);
    }
    return -1;
}

static int taken_by(const int *outv, int n, int v)
{
    for (int j = 0; j < n; j++)
        if (outv[j] == v) return 1;
    return 0;
}

/* Each real output gets a value whose dims can equal its own: unread values
 * first (they must be outputs), then the newest others, each directly or
 * through bridge ops.  Unread values left over are joined into an output's
 * value (the join keeps its dims). */
int learned_bind_outputs(lgen *L, int *outv)
{
    const px_graph *real = L->real;
    for (int o = 0; o < real->n_outputs; o++) {
        const px_value *rv = &real->values[real->outputs[o]];
        int cand[L_MAX_VALS], nc = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int i = L->nv - 1; i >= 0; i--)
                if (L->v[i].producer >= 0 && !taken_by(outv, o, i) && !L->v[i].uses == !pass) cand[nc++] = i;
        outv[o] = -1;
        /* a head (pool, flatten, linear) may take three bridges */
        for (int depth = 0; depth <= 3 && outv[o] < 0; depth++)
            for (int c = 0; c < nc && outv[o] < 0 && c < (depth == 0 ? 6 : depth == 1 ? 2 : 1); c++)
                outv[o] = reach(L, cand[c], rv, depth);
        /* drawn bridges reached nothing: the attention chains, by name */
        for (int c = 0; c < nc && outv[o] < 0 && c < 4; c++) outv[o] = learned_reach_named(L, cand[c], rv);
        if (outv[o] < 0) return 0;
    }
    int sinks[L_MAX_VALS], ns = learned_n_sinks(L, sinks);
    for (int i = 0; i < ns; i++) {
        if (taken_by(outv, real->n_outputs, sinks[i])) continue;
        int done = 0;
        for (int o = 0; o < real->n_outputs && !done; o++) {
            int op = learned_op_named(px_rng_unit(L->rng) < 0.7 ? "Add" : "Mul");
            if (learned_can_join(L, op, &L->v[outv[o]], &L->v[sinks[i]]) && learned_try_node(L, op, outv[o], sinks[i])) {
                outv[o] = L->nv - 1;
                done = 1;
            }
        }
        if (!done) return 0;
    }
    return 1;
}
