/* The learned generator's sizes: the node count and weight elements a
 * sentinel aims at, and whether a solved draw is near them.
 *
 * Why the real file cannot be told by its size: each sentinel's target is
 * the (node count, float weight elements) pair of one of the model's real
 * subgraphs, drawn uniformly from the model-level pool, the real's own part
 * included, and never its group's real in particular.  A group's real file
 * is itself one member of that pool, so over the groups its size is a draw
 * from the same distribution as its sentinels': its rank among its group's
 * k+1 files is uniform (the "smallest file" attack picks it 1 time in k+1),
 * and it sits at its group's centre (the medoid attack) only when its part
 * has a typical size, as often as any sentinel does.  The spread of sizes in
 * a group is the spread of the model's own parts, no wider.  A target the
 * interface cannot reach (an embedding-sized weight behind a float input) is
 * missed by as little as the draws allow: the window widens with the
 * attempts, so no sentinel fails for its size. */
#include <math.h>
#include <stdlib.h>

#include "sentinel/learned_int.h"
#include "sentinel/sentinel.h"

enum {
    /* elements worth one node of file (its proto, names, value info):
     * weightless parts differ by their node counts, not by 0 against 40 */
    L_ELEMS_PER_NODE = 16,
    L_SMALL_WEIGHT = 4096, /* a weight cap never below this: a few small convs always fit */
};

void learned_draw_target(lgen *L, const px_sentinel_opts *opts)
{
    int size = 0;
    L->target_w = -1;
    L->target_part = -1;
    if (opts->n_part_sizes > 0 && opts->part_sizes) {
        uint64_t j = px_rng_below(L->rng, (uint64_t)opts->n_part_sizes);
        size = opts->part_sizes[j];
        L->target_part = (int)j;
        if (opts->part_weights && !L->weightless) L->target_w = opts->part_weights[j];
    } else {
        const char *w[256];
        double c[256];
        int n = px_generator_values(L->gen, "size", w, c, 256);
        int pick = l_draw(L, c, n < 256 ? n : 256);
        size = pick >= 0 ? atoi(w[pick]) : 12;
    }
    if (size < 1) size = 1;
    L->target = size < L_MAX_NODES / 2 ? size : L_MAX_NODES / 2;
}

/* The steps of a sentinel's attempts: until attempt `until` (and until
 * `until` fifths of the solver budget are spent, so that a target no draw
 * reaches costs a few attempts and no stand-in) a draw's weight elements may
 * miss the target by the factor accept (a log; -1: any) and one weight may
 * not pass the target's top by cap (-1: none but L_MAX_WEIGHT_ELEMS).  After
 * the windows the nearest miss so far is taken (learned.c keeps it); without
 * one, the next draw that fits, its weights still bounded while they can be
 * (an interface that needs a large weight is met in the last step). */
static const struct {
    int until;
    double accept, cap;
} steps[] = {{4, 0.405, 0.405}, {8, 1.099, 1.099}, {12, 2.303, 2.303}, {18, -1, 3.401}, {L_MAX_ATTEMPTS, -1, -1}};
enum { N_STEPS = (int)(sizeof steps / sizeof *steps) };

static int step(const lgen *L)
{
    int i = 0;
    while (i + 1 < N_STEPS && (L->attempt >= steps[i].until || L->checks >= (i + 1) * L_CHECK_BUDGET / N_STEPS)) i++;
    return i;
}

int64_t learned_weight_cap(const lgen *L)
{
    int64_t cap = L_MAX_WEIGHT_ELEMS;
    if (L->target_w < 0) {
        /* weightless: as large as the real file's largest (sizes carry nothing there) */
        for (int i = 0; i < L->real->n_inits; i++) {
            const px_tensor *t = L->real->values[L->real->inits[i]].init;
            if (t && px_dtype_is_float(t->dtype) && t->numel > cap) cap = t->numel;
        }
        return cap;
    }
    double win = steps[step(L)].cap;
    if (win < 0) return L->target_w > cap ? L->target_w : cap;
    /* no one weight beyond the window's top: the solver steers clear of
     * draws sizes_ok would reject */
    double f = (double)L_ELEMS_PER_NODE * L->target;
    double top = ((double)L->target_w + f) * exp(win) - f;
    return top > L_SMALL_WEIGHT ? (int64_t)top : L_SMALL_WEIGHT;
}

int learned_sizes_ok(lgen *L)
{
    double total = 0;
    for (int i = 0; i < L->nn; i++) {
        lnode *nd = &L->n[i];
        for (int j = 0; j < L_MAX_VARS; j++) {
            Z3_ast r;
            nd->val[j] = 0;
            if (nd->var[j] && Z3_model_eval(L->z, L->model, nd->var[j], 1, &r)) Z3_get_numeral_int64(L->z, r, &nd->val[j]);
        }
        const lval *x = &L->v[nd->in[0]];
        int64_t in = x->rank >= 1 && !x->d[x->rank - 1].sym ? learned_dim_value(L, x->d[x->rank - 1]) : 0;
        int64_t c = x->rank >= 2 && !x->d[1].sym ? learned_dim_value(L, x->d[1]) : 0;
        double elems = 0, extra = 0; /* the largest weight; the node's others (biases, norms) */
        switch (learned_ops[nd->op].kind) { /* val: 0 out channels or features, 1 kernel, 4 depthwise */
        case LK_CONV: /* the cap counts a 1-D kernel as k x k, as it always has (weightless buckets unchanged) */
            elems = (double)nd->val[0] * (double)(nd->val[4] ? 1 : c) * (double)nd->val[1] * (double)nd->val[1];
            extra = (double)nd->val[0] - (x->rank == 4 ? 0 : elems - elems / (double)(nd->val[1] ? nd->val[1] : 1));
            break;
        case LK_MATMUL: case LK_GEMM: elems = nd->in[1] < 0 ? (double)in * (double)nd->val[0] : 0; break;
        case LK_EMBED: elems = (double)(L->embed_rows > 0 ? L->embed_rows : 1) * (double)nd->val[0]; break;
        case LK_BN: extra = 4.0 * (double)c; break;
        case LK_LN: extra = 2.0 * (double)in; break;
        default: break;
        }
        if (elems > L->max_weight) return 0;
        total += elems + extra;
    }
    double win = steps[step(L)].accept;
    if (L->target_w < 0 || win < 0) return 1;
    double f = (double)L_ELEMS_PER_NODE * L->target;
    L->size_miss = fabs(log((total + f) / ((double)L->target_w + f)));
    return L->size_miss <= win ? 1 : -1;
}

int learned_size_settled(const lgen *L) { return L->has_best && steps[step(L)].accept < 0; }
