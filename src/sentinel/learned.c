/* The learned sentinel generator: structure sampled from counts fitted to
 * real subgraphs (a .pxg file in data/generator, see pxg.h), fitted to the real
 * interface by solving for free attributes with Z3, weights drawn fresh.
 *
 * A sample grows a DAG from the real inputs: each node's op is drawn given
 * the op that produced its operand (^ for an input), its operand is the
 * newest value or an older one as often as in real subgraphs, binary ops
 * join two values (residuals, concats, attention) or read a constant as
 * often as real ones do.  Channel counts, features, kernels, strides and
 * pads are Z3 variables over the values real models use (plus the
 * interface's own dims), with a value drawn from the counts as a preference
 * the solver drops only when it cannot hold.  Every input is read, every
 * dead end is joined, and each real output is bound to a value of its rank
 * whose dims must equal the real ones.  Of the real subgraph only its
 * interface and node count are read; of the whole model (opts->model) its
 * style: op vocabulary, kernel sizes, channel counts, depthwise or not,
 * which its real files show anyway.  A sample that cannot be fitted is
 * redrawn; after MAX_ATTEMPTS or L_CHECK_BUDGET solver calls the random
 * generator stands in and is counted (PROTEUS_LEARNED_STRICT=1 makes that
 * an error, for tests). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/build.h"
#include "sentinel/control_flow.h"
#include "sentinel/learned_int.h"
#include "sentinel/sentinel.h"
#include "shape/shape_infer.h"

enum { MAX_ATTEMPTS = L_MAX_ATTEMPTS, RLIMIT = 2000000 };

/* ---- growing the skeleton ---- */

int learned_op_named(const char *name)
{
    for (int i = 0; i < learned_n_ops; i++)
        if (!strcmp(learned_ops[i].name, name)) return i;
    return -1;
}

static int is_float_like(px_dtype dt) { return dt == PX_DT_FLOAT; }

static int newest_value(const lgen *L)
{
    for (int i = L->nv - 1; i >= 0; i--)
        if (L->v[i].producer >= 0) return i;
    return -1;
}

/* The first operand: an unread input first (every input must be read), then
 * the newest value or an older one, as often as real subgraphs do. */
static int pick_operand(lgen *L)
{
    for (int i = 0; i < L->nv; i++)
        if (L->v[i].producer < 0 && !L->v[i].uses && !L->v[i].nonfloat && (L->v[i].rank >= 1 || L->v[i].isint) &&
            !learned_mask_like(L, &L->v[i])) /* a mask: attention reads it (learned_close.c) */
            return i;
    int newest = newest_value(L);
    double pn = px_generator_count(L->gen, "operand newest") + 1, po = px_generator_count(L->gen, "operand older") + 1;
    double p_newest = pn / (pn + po);
    double share = learned_model_share(L);
    if (L->m_newest + L->m_older > 0) /* as in grow: mostly the model's own habit (a chain, or branches) */
        p_newest = share * L->m_newest / (L->m_newest + L->m_older) + (1 - share) * p_newest;
    if (newest >= 0 && px_rng_unit(L->rng) < p_newest) return newest;
    int cand[L_MAX_VALS], n = 0;
    for (int i = 0; i < L->nv; i++)
        if (i != newest && (L->v[i].rank >= 1 || L->v[i].isint) && !L->v[i].nonfloat) cand[n++] = i;
    if (!n) return newest >= 0 ? newest : 0;
    return cand[px_rng_below(L->rng, (uint64_t)n)];
}

/* A second operand for a join: a value nobody reads yet when there is one. */
static int pick_partner(lgen *L, int op, int x)
{
    int unread[L_MAX_VALS], any[L_MAX_VALS], nu = 0, na = 0;
    for (int i = 0; i < L->nv; i++) {
        if (i == x || L->v[i].nonfloat || !learned_can_join(L, op, &L->v[x], &L->v[i])) continue;
        any[na++] = i;
        if (!L->v[i].uses) unread[nu++] = i;
    }
    if (nu) return unread[px_rng_below(L->rng, (uint64_t)nu)];
    return na ? any[px_rng_below(L->rng, (uint64_t)na)] : -1;
}

/* A partner for x that is its kin: the operand x was computed from, or a
 * value computed from x (x * Sigmoid(x)); -1 when none can join. */
static int pick_kin(lgen *L, int op, int x)
{
    int cand[L_MAX_VALS], n = 0, px = L->v[x].producer;
    for (int i = 0; i < L->nv; i++) {
        if (i == x || L->v[i].nonfloat) continue;
        int pi = L->v[i].producer;
        int kin = (pi >= 0 && L->n[pi].in[0] == x) || (px >= 0 && L->n[px].in[0] == i);
        if (kin && learned_can_join(L, op, &L->v[x], &L->v[i])) cand[n++] = i;
    }
    return n ? cand[px_rng_below(L->rng, (uint64_t)n)] : -1;
}

/* A Concat axis real models use that fits rank r (not the batch axis). */
static int concat_axis(lgen *L, int r)
{
    const char *w[16];
    double c[16], wt[16];
    int ax[16], k = 0;
    int n = px_generator_values(L->gen, "attr Concat axis", w, c, 16);
    for (int i = 0; i < n && i < 16; i++) {
        int a = atoi(w[i]);
        if (a < 0) a += r;
        if (a < 1 || a >= r) continue;
        ax[k] = a;
        wt[k++] = c[i];
    }
    int pick = l_draw(L, wt, k);
    return pick >= 0 ? ax[pick] : 1;
}

/* Everything a failed try undoes: values, nodes, preferences, solver scopes. */
typedef lsnap snap;

static snap take(const lgen *L) { return (snap){L->nv, L->nn, L->n_assume, L->scopes}; }

void learned_push(lgen *L)
{
    Z3_solver_push(L->z, L->sol);
    L->scopes++;
}

static void rollback(lgen *L, snap s)
{
    for (int i = s.nn; i < L->nn; i++)
        for (int j = 0; j < 2; j++)
            if (L->n[i].in[j] >= 0) L->v[L->n[i].in[j]].uses--;
    if (L->scopes > s.scopes) Z3_solver_pop(L->z, L->sol, (unsigned)(L->scopes - s.scopes));
    L->scopes = s.scopes;
    L->nv = s.nv;
    L->nn = s.nn;
    L->n_assume = s.n_assume;
}

/* Adds node op(x[, y]) if it fits and keeps the constraints satisfiable;
 * otherwise leaves everything as it was and returns 0. */
int learned_try_node_ex(lgen *L, int op, int x, int y, int check) { return learned_try_node_as(L, op, x, y, -1, check); }

int learned_try_node_as(lgen *L, int op, int x, int y, int choice, int check)
{
    if (L->nn >= L_MAX_NODES || L->nv >= L_MAX_VALS) return 0;
    lnode *nd = &L->n[L->nn];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->in[0] = x;
    nd->in[1] = y;
    nd->n_in = y >= 0 ? 2 : 1;
    nd->choice = (int)px_rng_below(L->rng, 1000);
    if (learned_ops[op].kind == LK_CONCAT) nd->choice = concat_axis(L, L->v[x].rank);
    if (choice >= 0) nd->choice = choice;
    snap s = take(L);
    learned_push(L);
    int built = learned_build(L, nd);
    if (built && (built == 2 || !check || learned_sat(L))) {
        L->v[x].uses++;
        if (y >= 0) L->v[y].uses++;
        L->nn++;
        return 1;
    }
    rollback(L, s);
    return 0;
}

static int try_node(lgen *L, int op, int x, int y) { return learned_try_node_ex(L, op, x, y, 1); }

lsnap learned_take(const lgen *L) { return take(L); }
void learned_rollback(lgen *L, lsnap s) { rollback(L, s); }
int learned_try_node(lgen *L, int op, int x, int y) { return try_node(L, op, x, y); }


/* The op that produced value x as the fitted transitions name it: ^ for a
 * subgraph input (and the Cast an input of another dtype goes through). */
static const char *input_prev(const lgen *L, const lval *v)
{
    return v->input >= 0 && v->input < L_MAX_IN && L->in_prev[v->input] ? L->in_prev[v->input] : "^";
}

const char *learned_prev_op(const lgen *L, int x)
{
    const lval *v = &L->v[x];
    if (v->producer < 0) return input_prev(L, v);
    const lnode *p = &L->n[v->producer];
    if (learned_ops[p->op].kind == LK_CAST && L->v[p->in[0]].producer < 0) return "^";
    return learned_ops[p->op].name;
}

/* Whether value x came from a binary op that read a constant (lpair's
 * prev_c). */
int learned_prev_const(const lgen *L, int x)
{
    int p = L->v[x].producer;
    if (p < 0) return L->v[x].input >= 0 && L->v[x].input < L_MAX_IN ? L->in_prev_c[L->v[x].input] : 0;
    const lnode *n = &L->n[p];
    lkind k = learned_ops[n->op].kind;
    return (k == LK_BINARY || k == LK_MATMUL) && n->in[1] < 0 && learned_const_sided(learned_ops[n->op].name);
}

/* Nodes closing the draw will add at least: a join per unread value beyond
 * the outputs. */
static int pending(const lgen *L)
{
    int sinks[L_MAX_VALS], ns = learned_n_sinks(L, sinks);
    return ns > L->real->n_outputs ? ns - L->real->n_outputs : 0;
}

/* The op mix of the part the sentinel's size was drawn from. */
static void target_ops(lgen *L, const px_sentinel_opts *opts)
{
    const px_graph *m = opts->model;
    L->has_target_ops = 0;
    if (!m || !opts->part_of || L->target_part < 0) return;
    for (int i = 0; i < m->n_nodes; i++) {
        if (opts->part_of[i] != L->target_part) continue;
        int op = learned_op_named(m->nodes[i].op_type);
        if (op >= 0) L->target_ops[op]++;
    }
    L->has_target_ops = 1;
}

/* Steers op i toward the target part's op mix: ops it has more of than the
 * draw so far gain, the others lose (a preference over the transitions
 * drawn, not a rule: a draw must still fit). */
static double mix_weight(const lgen *L, int i, const int *have)
{
    if (!L->has_target_ops || learned_model_share(L) <= 0) return 1.0;
    int deficit = L->target_ops[i] - have[i];
    /* Pad, Resize, Squeeze: the model reaches them by few transitions (a
     * Pad only after a Concat or a MaxPool), so a part with one would be
     * matched far less often than it is drawn */
    return deficit > 0 ? 1.0 + (learned_own_op(i) ? 16.0 : 1.0) * deficit : 0.25;
}

/* Grows until the nodes, with those closing will add, reach size. */
static void grow(lgen *L, int size)
{
    double w[64];
    int have[L_MAX_OPS];
    for (int tries = 0; L->nn + pending(L) < size && tries < size * 8; tries++) {
        int x = pick_operand(L);
        const lval *xv = &L->v[x];
        const char *prev = learned_prev_op(L, x);
        int pc = learned_prev_const(L, x);
        char key[96];
        double total = 0;
        for (int i = 0; i < learned_n_ops; i++) {
            snprintf(key, sizeof key, "next %s %s", prev, learned_ops[i].name);
            w[i] = (px_generator_count(L->gen, key) + 0.01) * L->style[i]; /* smoothing: unseen transitions stay rare */
            total += w[i];
        }
        /* most weight (model_share) on the model's own transitions after
         * prev (its Conv is followed by its activation, its MatMul by its
         * bias Add: what ONNX Runtime fuses in its real files), the rest on
         * the fitted ones: new combinations in the model's style */
        int mine = learned_model_share(L) > 0 ? learned_pairs_after(L, prev, pc) : 0;
        double share = learned_model_share(L);
        memset(have, 0, sizeof have);
        for (int i = 0; i < L->nn; i++) have[L->n[i].op]++;
        for (int i = 0; i < learned_n_ops; i++) {
            const lpair *q = mine ? learned_pair(L, prev, pc, learned_ops[i].name) : NULL;
            if (mine) w[i] = share * (q ? q->next : 0) / mine + (1 - share) * w[i] / total;
            if (!learned_applies(L, i, xv)) w[i] = 0;
            w[i] *= mix_weight(L, i, have);
        }
        int op = l_draw(L, w, learned_n_ops);
        if (op < 0 || learned_motif_place(L, op, x, size)) continue;
        lkind k = learned_ops[op].kind;
        int y = -1;
        if (k == LK_BINARY || k == LK_MATMUL || k == LK_CONCAT) {
            double pj, pconst;
            learned_join_or_const(L, prev, pc, op, &pj, &pconst);
            int int_const = k == LK_CONCAT && xv->isint; /* a shape vector takes a constant (-1, a head count) */
            if ((k == LK_CONCAT && !int_const) || px_rng_unit(L->rng) * (pj + pconst + 1) < pj) {
                const lpair *q = learned_model_share(L) > 0 ? learned_pair(L, prev, pc, learned_ops[op].name) : NULL;
                if (q && q->kin && px_rng_below(L->rng, (uint64_t)q->join) < (uint64_t)q->kin) y = pick_kin(L, op, x);
                if (y < 0) y = pick_partner(L, op, x);
            }
            if (k == LK_CONCAT && y < 0 && !int_const) continue;
        }
        if (try_node(L, op, x, y) && k == LK_BINARY && y < 0 && !xv->isint) learned_const_shape(L, prev, pc, &L->n[L->nn - 1]);
    }
}

/* ---- one attempt ---- */

/* Whether int64 ids (input rv) are read through an embedding table, as
 * often as real subgraphs start with a Gather rather than a Cast, where the
 * model has tables (their rows: ids in the model's range fit). */
static int embeds(lgen *L, const px_value *rv)
{
    if (rv->dtype != PX_DT_INT64 || rv->shape.rank < 1 || rv->shape.rank > 3 || L->embed_rows <= 0) return 0;
    double g = px_generator_count(L->gen, "next ^ Gather"), c = px_generator_count(L->gen, "next ^ Cast");
    return px_rng_unit(L->rng) * (g + c + 1) < g + 0.5;
}

const char *learned_fresh_sym(lgen *L)
{
    char *nm = L->unknown_names[L->n_unknown++ % L_MAX_VALS];
    snprintf(nm, sizeof L->unknown_names[0], "?%d", L->n_unknown % 100000);
    return nm;
}

static px_status add_inputs(lgen *L)
{
    const px_graph *real = L->real;
    L->max_weight = learned_weight_cap(L); /* steers toward the drawn weight size */
    L->n_iface = 0;
    for (int io = 0; io < 2; io++) {
        int n = io ? real->n_outputs : real->n_inputs;
        for (int j = 0; j < n; j++) {
            const px_shape *sh = &real->values[io ? real->outputs[j] : real->inputs[j]].shape;
            for (int a = 0; a < sh->rank; a++) {
                int64_t d = sh->dims[a].v, seen = 0;
                for (int k = 0; k < L->n_iface; k++) seen |= L->iface[k] == d;
                /* a 1 only where an output has one past its batch axis (a
                 * one-channel head): elsewhere a free count is never 1 */
                if ((d > 1 || (d == 1 && io && a >= 1)) && !seen && L->n_iface < 32) L->iface[L->n_iface++] = d;
            }
        }
    }
    for (int j = 0; j < real->n_inputs; j++) {
        const px_value *rv = &real->values[real->inputs[j]];
        if (rv->flags & PX_VAL_INIT) continue;
        if (rv->shape.rank < 0 || rv->shape.rank > L_MAX_RANK || rv->type_raw || !px_dtype_valid(rv->dtype) ||
            rv->dtype == PX_DT_STRING || rv->dtype == PX_DT_UNDEFINED)
            return px_fail(PX_ERR_UNSUPPORTED, "input %d: a type or rank the learned generator cannot start from", j);
        lval *v = &L->v[L->nv];
        memset(v, 0, sizeof *v);
        v->rank = rv->shape.rank;
        v->producer = -1;
        v->input = j;
        for (int a = 0; a < v->rank; a++) {
            px_dim d = rv->shape.dims[a];
            if (d.v >= 0) v->d[a].e = l_int(L, d.v);
            else if (d.sym) v->d[a].sym = d.sym;
            else v->d[a].sym = learned_fresh_sym(L); /* an unknown dim */
        }
        v->isint = learned_int_bound(rv);
        v->nonfloat = !is_float_like(rv->dtype) && !v->isint;
        int x = L->nv++;
        if (v->nonfloat && !(embeds(L, rv) && try_node(L, learned_op_of_kind(LK_EMBED), x, -1)) &&
            !try_node(L, learned_cast_op(), x, -1))
            return px_fail(PX_ERR_UNSUPPORTED, "input %d: cannot cast", j);
    }
    return PX_OK;
}

static int fits(const px_shape *got, const px_shape *want, const px_graph *real)
{
    if (want->rank < 0) return 1;
    if (got->rank != want->rank) return 0;
    for (int a = 0; a < want->rank; a++) {
        px_dim w = want->dims[a], g = got->dims[a];
        if (w.v >= 0 && g.v != w.v) return 0;
        if (w.v < 0 && w.sym && learned_sym_bound(real, w.sym) && !(g.v < 0 && g.sym && !strcmp(g.sym, w.sym))) return 0;
    }
    return 1;
}

/* Writes the solved skeleton as the sentinel graph. */
static px_status assemble(lgen *L, const int *outv, px_graph *g)
{
    const px_graph *real = L->real;
    px_status st = px_graph_set_opset(g, "", L->opset);
    L->g = g;
    L->n_ident_init = 0;
    L->map = calloc((size_t)L->nv, sizeof *L->map);
    if (!L->map) return px_nomem();
    for (int i = 0; i < L->nv && !st; i++) {
        if (L->v[i].producer >= 0) continue;
        const px_value *rv = &real->values[real->inputs[L->v[i].input]];
        int v = px_build_value(g, &L->counter);
        if (v < 0) return px_nomem();
        g->values[v].dtype = rv->dtype;
        if (!(st = px_shape_copy(g, &g->values[v].shape, &rv->shape))) st = px_graph_add_input(g, v);
        L->map[i] = v;
    }
    for (int i = 0; i < L->nn && !st; i++) st = learned_emit(L, &L->n[i]);
    for (int o = 0; o < real->n_outputs && !st; o++) {
        const px_value *rv = &real->values[real->outputs[o]];
        int v = L->map[outv[o]], node;
        if (rv->dtype != (L->v[outv[o]].isint ? PX_DT_INT64 : PX_DT_FLOAT)) {
            int in = v;
            if ((st = px_build_node(L->g, &L->counter, "Cast", &in, 1, &v, &node)) || (st = px_build_attr_int(L->g, node, "to", rv->dtype))) break;
        }
        g->values[v].dtype = rv->dtype;
        if ((st = px_shape_copy(g, &g->values[v].shape, &rv->shape)) || (st = px_graph_add_output(g, v))) break;
    }
    if (st) return st;
    if ((st = px_shape_infer(g, NULL)) || (st = learned_merge_concats(L))) return st;
    for (int o = 0; o < real->n_outputs; o++) {
        const px_value *rv = &real->values[real->outputs[o]];
        int v = g->outputs[o];
        if (g->values[v].dtype != rv->dtype || !fits(&g->values[v].shape, &rv->shape, real))
            return px_fail(PX_ERR_MISMATCH, "output %d does not come out as solved", o);
        if ((st = px_shape_copy(g, &g->values[v].shape, &rv->shape))) return st;
    }
    return px_graph_validate(g);
}

static void attempt_reset(lgen *L)
{
    if (L->model) Z3_model_dec_ref(L->z, L->model);
    L->model = NULL;
    Z3_solver_reset(L->z, L->sol);
    L->nv = L->nn = L->n_assume = L->scopes = 0;
    L->n_unknown = 0;
    free(L->map);
    L->map = NULL;
}

/* Whether the draw has about its target's node count (the output Casts
 * included); in the last half of the attempts any size is taken rather than
 * none. */
static int size_near(const lgen *L)
{
    int n = L->nn, tol = L->target / 8 > 1 ? L->target / 8 : 1;
    for (int o = 0; o < L->real->n_outputs; o++) {
        const px_value *rv = &L->real->values[L->real->outputs[o]];
        n += rv->dtype != PX_DT_FLOAT && !learned_int_bound(rv);
    }
    return L->attempt >= MAX_ATTEMPTS / 2 || abs(n - L->target) <= tol;
}

/* One draw: 1 with *out filled, 0 when it did not fit (out untouched), or
 * an error. */
static int find_root(int *up, int i)
{
    while (up[i] != i) i = up[i] = up[up[i]];
    return i;
}

/* Whether the draw's nodes form one piece (joined through the values they
 * pass, as a file's node graph is read).  A partition part is connected,
 * so every real subgraph is: a sentinel in two pieces, which several
 * inputs or outputs grown apart leave, would be a sentinel by that alone. */
static int one_piece(const lgen *L)
{
    int up[L_MAX_NODES], pieces = L->nn;
    for (int i = 0; i < L->nn; i++) up[i] = i;
    for (int i = 0; i < L->nn; i++)
        for (int s = 0; s < L->n[i].n_in; s++) {
            int v = L->n[i].in[s], p = v >= 0 ? L->v[v].producer : -1;
            if (p < 0) continue;
            int a = find_root(up, i), b = find_root(up, p);
            if (a != b) up[a] = b, pieces--;
        }
    /* in the last half of the attempts, as size_near, any draw is taken
     * rather than none: requiring one piece to the end pushed the sizes of
     * hard interfaces (several inputs and outputs) up, and a real's size
     * to the low end of its group */
    return pieces <= 1 || L->attempt >= MAX_ATTEMPTS / 2;
}

static px_status attempt(lgen *L, px_graph *out, int *ok)
{
    *ok = 0;
    int outv[256];
    if (L->real->n_outputs > 256) return px_fail(PX_ERR_UNSUPPORTED, "more than 256 outputs");
    px_status st = add_inputs(L);
    if (st) return st;
    grow(L, L->target);
    int sz = 0;
    int stage = !learned_close_ends(L, L->real->n_outputs) ? 0 : !learned_bind_outputs(L, outv) ? 1 : !size_near(L) ? 5 : !one_piece(L) ? 6
              : !learned_solve(L) ? 2 : !(sz = learned_sizes_ok(L)) ? 3 : -1;
    /* a draw that fits but misses its weight size is kept when it is the
     * nearest yet: the sentinel's last resort (learned_size.c) */
    if (stage < 0 && sz < 0 && L->has_best && L->size_miss >= L->best_miss) stage = 3;
    if (stage >= 0) {
        L->fails[stage]++;
        return PX_OK;
    }
    px_graph_init(out);
    L->counter = 0;
    st = assemble(L, outv, out);
    if (st == PX_ERR_MISMATCH || st == PX_ERR_SHAPE || st == PX_ERR_INVALID) {
        /* the solver and shape inference disagree: a bug to fix, but this draw is redrawn */
        px_graph_free(out);
        px_clear_error();
        L->fails[4]++;
        return PX_OK;
    }
    int safe = 0;
    if (!st) st = learned_ort_safe(out, &safe);
    if (st) {
        px_graph_free(out);
        return st;
    }
    if (!safe) { /* redrawn, counted with the assembly failures */
        px_graph_free(out);
        L->fails[4]++;
        return PX_OK;
    }
    if (sz < 0) { /* the nearest miss so far (out stays untouched) */
        if (L->has_best) px_graph_free(&L->best);
        L->best = *out;
        L->has_best = 1;
        L->best_miss = L->size_miss;
        L->fails[3]++;
        return PX_OK;
    }
    *ok = 1;
    return PX_OK;
}

static void add_style(int64_t *set, int *n, int cap, int64_t v)
{
    for (int i = 0; i < *n; i++)
        if (set[i] == v) return;
    if (*n < cap && v > 0) set[(*n)++] = v;
}

/* Kernel sizes and channel counts node nd of the model uses. */
static void note_style(lgen *L, const px_graph *m, const px_node *nd)
{
    if (!strcmp(nd->op_type, "Constant")) L->const_nodes = 1;
    learned_note_model(L, m, nd);
    if (!strcmp(nd->op_type, "Gather") && nd->n_inputs == 2 && nd->inputs[0] >= 0) {
        const px_value *t = &m->values[nd->inputs[0]];
        if ((t->flags & PX_VAL_INIT) && t->dtype == PX_DT_FLOAT && t->shape.rank == 2 && t->shape.dims[0].v > L->embed_rows)
            L->embed_rows = t->shape.dims[0].v;
    }
    static const char *const windowed[3] = {"Conv", "MaxPool", "AveragePool"};
    for (int w = 0; w < 3; w++) {
        if (strcmp(nd->op_type, windowed[w])) continue;
        int n;
        const int64_t *ks = px_attr_ints(nd, "kernel_shape", &n);
        if (ks && n) add_style(L->style_k[w], &L->n_style_k[w], 16, ks[0]);
    }
    L->style_seen = 1;
    if (!strcmp(nd->op_type, "Conv") && px_attr_int(nd, "group", 1) > 1) L->style_grouped = 1;
    int conv = !strcmp(nd->op_type, "Conv"), lin = !strcmp(nd->op_type, "MatMul") || !strcmp(nd->op_type, "Gemm");
    if ((conv || lin) && nd->n_outputs > 0 && nd->outputs[0] >= 0) {
        const px_shape *sh = &m->values[nd->outputs[0]].shape;
        int axis = conv ? 1 : sh->rank - 1;
        if (sh->rank > axis && axis >= 0) add_style(L->style_c, &L->n_style_c, 64, sh->dims[axis].v);
    }
}

/* The width of a weight node of the model (0: Conv not depthwise, 1:
 * MatMul or Gemm; *kind -1 for others): its output channels or features. */
static int64_t width_of(const px_graph *m, const px_node *nd, int *kind)
{
    *kind = !strcmp(nd->op_type, "Conv") && px_attr_int(nd, "group", 1) == 1 ? 0
            : !strcmp(nd->op_type, "MatMul") || !strcmp(nd->op_type, "Gemm") ? 1 : -1;
    if (*kind < 0 || nd->n_outputs < 1 || nd->outputs[0] < 0) return 0;
    const px_shape *sh = &m->values[nd->outputs[0]].shape;
    int axis = *kind ? sh->rank - 1 : 1;
    return axis >= 0 && axis < sh->rank ? sh->dims[axis].v : 0;
}

/* A weight node of a part: where it is and its width (note_widths). */
typedef struct wnode {
    int part, kind, idx;
    int64_t w;
} wnode;

static int cmp_wnode(const void *x, const void *y)
{
    const wnode *a = x, *b = y;
    if (a->part != b->part) return (a->part > b->part) - (a->part < b->part);
    if (a->kind != b->kind) return (a->kind > b->kind) - (a->kind < b->kind);
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* How often a weight node of the model's parts takes a width an earlier one
 * of its kind in its part has (m_reuse): the weight nodes alone, sorted by
 * part, kind and node order. */
static px_status note_widths(lgen *L, const px_graph *m, const int *part_of, int n_parts)
{
    if (!part_of || n_parts <= 0) return PX_OK;
    wnode *wn = malloc(((size_t)m->n_nodes + 1) * sizeof *wn);
    if (!wn) return px_nomem();
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        int k;
        int64_t w = width_of(m, &m->nodes[i], &k);
        if (k >= 0 && w > 0 && part_of[i] >= 0 && part_of[i] < n_parts) wn[n++] = (wnode){part_of[i], k, i, w};
    }
    qsort(wn, (size_t)n, sizeof *wn, cmp_wnode);
    for (int g = 0, j = 0; j < n; j++) {
        if (wn[j].part != wn[g].part || wn[j].kind != wn[g].kind) g = j; /* a new (part, kind) run */
        int same = 0;
        for (int i = g; i < j && !same; i++) same = wn[i].w == wn[j].w;
        L->m_reuse_of[wn[j].kind] += j > g;
        L->m_reuse[wn[j].kind] += same;
    }
    free(wn);
    return PX_OK;
}

px_status px_sentinel_learned(const px_sentinel_opts *opts, const px_graph *real, px_rng *rng, px_graph *out)
{
    px_graph_init(out);
    if (!opts->generator) return px_fail(PX_ERR_USAGE, "the learned sentinel generator needs a generator file");
    lgen *L = calloc(1, sizeof *L);
    if (!L) return px_nomem();
    L->gen = opts->generator;
    L->rng = rng;
    L->wrng = opts->weight_rng ? opts->weight_rng : rng;
    L->real = real;
    L->weightless = opts->weightless;
    L->wstats = opts->weights;
    L->m_last = -1;
    L->opset = px_graph_opset(real, "");
    if (L->opset <= 0) L->opset = 17;
    /* the model's own ops, as its reals show them to the optimizer; others
     * stay possible (a draw must still fit) but rare */
    /* shape arithmetic only where the model computes shapes (or, without a
     * model, where the interface carries lengths): a CNN's sentinels have none */
    int ints = 0;
    for (int j = 0; j < real->n_inputs + real->n_outputs; j++)
        ints |= learned_int_bound(&real->values[j < real->n_inputs ? real->inputs[j] : real->outputs[j - real->n_inputs]]);
    /* Pad, Squeeze, Resize only where the model writes them: they were not
     * drawn before, and a sentinel holding an op no real file has is told */
    for (int i = 0; i < learned_n_ops; i++)
        L->style[i] = learned_own_op(i) ? 0 : learned_int_op(i) ? (opts->model ? 0 : ints) : opts->model ? 0.02 : 1.0;
    for (int j = 0; opts->model && j < opts->model->n_nodes; j++) {
        for (int op = 0; op < learned_n_ops; op++) /* Gather: both kinds */
            if (!strcmp(learned_ops[op].name, opts->model->nodes[j].op_type)) L->style[op] = 1.0;
        note_style(L, opts->model, &opts->model->nodes[j]);
    }
    if (opts->model) learned_note_inputs(L, opts->model, real);
    px_status st = opts->model ? learned_note_dedup(L, opts->model) : PX_OK;
    if (!st && opts->model) st = note_widths(L, opts->model, opts->part_of, opts->n_part_sizes);
    if (!st && opts->model) st = learned_motifs_init(L, opts->model);
    if (st) {
        free(L);
        return st;
    }
    Z3_config cfg = Z3_mk_config();
    Z3_set_param_value(cfg, "model", "true");
    L->z = Z3_mk_context(cfg);
    Z3_del_config(cfg);
    Z3_set_error_handler(L->z, NULL);
    L->I = Z3_mk_int_sort(L->z);
    L->sol = Z3_mk_simple_solver(L->z); /* the SMT core alone: many small incremental checks */
    Z3_solver_inc_ref(L->z, L->sol);
    /* a step budget, not a time limit: the same input gives the same answer on any machine */
    Z3_params p = Z3_mk_params(L->z);
    Z3_params_inc_ref(L->z, p);
    Z3_params_set_uint(L->z, p, Z3_mk_string_symbol(L->z, "rlimit"), RLIMIT);
    /* the older simplex: about twice as fast on these many small checks (learned_sat) */
    Z3_params_set_uint(L->z, p, Z3_mk_string_symbol(L->z, "arith.solver"), 2);
    /* no SIGINT handler of Z3's own: installed and restored around each
     * check, it races between solving threads and crashed a Ctrl-C (our
     * handler stops the run cleanly; rlimit bounds each check) */
    Z3_params_set_bool(L->z, p, Z3_mk_string_symbol(L->z, "ctrl_c"), false);
    Z3_solver_set_params(L->z, L->sol, p);
    Z3_params_dec_ref(L->z, p);
    int ok = 0;
    learned_draw_target(L, opts);
    target_ops(L, opts);
    for (int a = 0; a < MAX_ATTEMPTS && !ok && !st && L->checks < L_CHECK_BUDGET; a++) {
        L->attempt = a;
        if (learned_size_settled(L)) break;
        attempt_reset(L);
        st = attempt(L, out, &ok);
    }
    if (!st && !ok && L->has_best) { /* no draw hit its size window: the nearest */
        *out = L->best;
        L->has_best = 0;
        ok = 1;
    }
    if (L->has_best) px_graph_free(&L->best);
    char why[200];
    snprintf(why, sizeof why, "%s (draws failing at: dead ends %d, binding outputs %d, node count %d, in pieces %d, "
             "solving %d, sizes %d, assembly %d)", st == PX_ERR_UNSUPPORTED ? px_last_error() : "", L->fails[0],
             L->fails[1], L->fails[5], L->fails[6], L->fails[2], L->fails[3], L->fails[4]);
    if (st == PX_ERR_UNSUPPORTED) {
        px_clear_error();
        st = PX_OK;
    }
    attempt_reset(L);
    Z3_solver_dec_ref(L->z, L->sol);
    Z3_del_context(L->z);
    free(L->assume);
    learned_motifs_free(L);
    free(L);
    if (!st && ok && (st = px_sentinel_control_flow(opts, real, rng, out))) px_graph_free(out);
    if (st || ok) return st;
    const char *strict = getenv("PROTEUS_LEARNED_STRICT");
    if (strict && *strict == '1')
        return px_fail(PX_ERR_UNSUPPORTED, "learned sentinel generator: no structure fitted the interface%s", why);
    px_sentinel_opts ropts = *opts;
    ropts.kind = PX_SENTINEL_RANDOM;
    if (opts->n_stand_in) ++*opts->n_stand_in;
    return px_sentinel_generate(&ropts, real, rng, out);
}
