/* Sentinel weights that follow the model's weights; the design is in track.h. */
#include "bucket/track.h"
#include "bucket/track_shape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel/weights.h"
#include "util/rng.h"

enum { MIN_NUMEL = 2, MIX = 4 };
static const double NOISE = 0.3; /* b in track.h: the generator's share */

/* Float inputs that carry shapes or fixed scalars, not trained values:
 * their sentinel values must stay the generator's (slot -1: every slot). */
static const struct {
    const char *op;
    int slot;
} FIXED[] = {
    {"Resize", 1}, {"Resize", 2}, {"Upsample", 1}, {"Range", -1}, {"Clip", 1}, {"Clip", 2},
    {"Pad", 2}, {"ConstantOfShape", -1}, {"Dropout", 1}, {"Pow", 1}, {"Where", 0},
};

static int fixed_slot(const char *op, int slot)
{
    for (size_t i = 0; i < sizeof FIXED / sizeof FIXED[0]; i++)
        if (!strcmp(FIXED[i].op, op) && (FIXED[i].slot < 0 || FIXED[i].slot == slot)) return 1;
    return 0;
}

/* The first consumer (node order) of each initializer: role[v] = node,
 * slot[v] = input index; -1 when unread. */
static px_status first_uses(const px_graph *g, int **node_out, int **slot_out)
{
    int *node = malloc(((size_t)g->n_values + 1) * sizeof *node);
    int *slot = malloc(((size_t)g->n_values + 1) * sizeof *slot);
    if (!node || !slot) {
        free(node);
        free(slot);
        return px_nomem();
    }
    for (int v = 0; v < g->n_values; v++) node[v] = slot[v] = -1;
    for (int n = 0; n < g->n_nodes; n++)
        for (int i = 0; i < g->nodes[n].n_inputs; i++) {
            int v = g->nodes[n].inputs[i];
            if (v >= 0 && v < g->n_values && node[v] < 0) {
                node[v] = n;
                slot[v] = i;
            }
        }
    *node_out = node;
    *slot_out = slot;
    return PX_OK;
}

/* A float32 tensor with data whose values may be mixed (>= 2 elements). */
static const float *weights_of(const px_tensor *t, int64_t *n)
{
    if (!t || t->dtype != PX_DT_FLOAT || !t->data || t->numel < MIN_NUMEL ||
        t->nbytes < (size_t)t->numel * sizeof(float))
        return NULL;
    *n = t->numel;
    return (const float *)t->data;
}

/* x, or in the log domain log |x| (a zero, which cannot move by a relative
 * amount, as zero_log). */
static double val(float x, int logd, double zero_log)
{
    if (!logd) return (double)x;
    return x != 0.0f ? log(fabs((double)x)) : zero_log;
}

/* Moments of x (or of log |x|). */
static px_track_moments moments_of(const float *x, int64_t n, int logd, double zero_log)
{
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = val(x[i], logd, zero_log);
        s += v;
        s2 += v * v;
    }
    px_track_moments m;
    m.mean = s / (double)n;
    double var = s2 / (double)n - m.mean * m.mean;
    m.sd = var > 0 ? sqrt(var) : 0.0;
    m.rms = sqrt(s2 / (double)n);
    return m;
}

enum { MAX_VIEW = 8 };

/* Whether t's dims describe its numel elements (then it is mapped axis by
 * axis when the other tensor has the same rank). */
static int dims_ok(const px_tensor *t, int64_t numel)
{
    if (t->rank < 1 || t->rank > MAX_VIEW) return 0;
    int64_t p = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] <= 0 || p > numel / t->dims[i]) return 0;
        p *= t->dims[i];
    }
    return p == numel;
}

/* 2 for a matrix (rank >= 2, both sides of [first dim, rest] >= 2), 1 for
 * anything else: a matrix drawn from a vector would be rank one. */
static int shape_class(const px_tensor *t, int64_t numel)
{
    return dims_ok(t, numel) && t->rank >= 2 && t->dims[0] >= 2 && numel / t->dims[0] >= 2 ? 2 : 1;
}

/* Adds t as a donor of role (op, slot) when it is finite and not all zero. */
static void add_donor(px_track_donors *d, const px_tensor *t, const char *op, int slot)
{
    int64_t n;
    const float *w = weights_of(t, &n);
    if (!w || fixed_slot(op, slot)) return;
    int finite = 1, pos = 1, nonzero = 0;
    for (int64_t e = 0; e < n && finite; e++) {
        finite = isfinite(w[e]);
        pos &= w[e] > 0.0f;
        nonzero |= w[e] != 0.0f;
    }
    if (!finite || !nonzero) return; /* nothing to follow */
    d->lin[d->n] = moments_of(w, n, 0, 0); /* once, not per sentinel tensor it serves */
    d->w[d->n] = w;
    d->t[d->n] = t;
    d->numel[d->n] = n;
    d->op[d->n] = op;
    d->slot[d->n] = slot;
    d->positive[d->n] = (unsigned char)pos;
    d->cls[d->n] = (unsigned char)shape_class(t, n);
    d->step[d->n] = px_track_step_of(w, n);
    d->n++;
}

px_status px_track_donors_init(const px_graph *model, px_track_donors *d)
{
    memset(d, 0, sizeof *d);
    int *node, *slot;
    px_status st = first_uses(model, &node, &slot);
    if (st) return st;
    /* initializers, and the value of Constant nodes (some exporters keep
     * every weight there) */
    size_t cap = (size_t)model->n_inits + (size_t)model->n_nodes + 1;
    d->w = malloc(cap * sizeof *d->w);
    d->t = malloc(cap * sizeof *d->t);
    d->numel = malloc(cap * sizeof *d->numel);
    d->op = malloc(cap * sizeof *d->op);
    d->slot = malloc(cap * sizeof *d->slot);
    d->positive = malloc(cap);
    d->cls = malloc(cap);
    d->lin = malloc(cap * sizeof *d->lin);
    d->step = malloc(cap * sizeof *d->step);
    if (!d->w || !d->t || !d->numel || !d->op || !d->slot || !d->positive || !d->cls || !d->lin || !d->step) st = px_nomem();
    for (int i = 0; i < model->n_inits && !st; i++) {
        int v = model->inits[i];
        if (node[v] >= 0) add_donor(d, model->values[v].init, model->nodes[node[v]].op_type, slot[v]);
    }
    for (int i = 0; i < model->n_nodes && !st; i++) {
        const px_node *nd = &model->nodes[i];
        const px_attr *a = strcmp(nd->op_type, "Constant") || nd->domain[0] || nd->n_outputs < 1 ? NULL
                           : px_node_attr(nd, "value");
        int v = a ? nd->outputs[0] : -1;
        if (a && a->t && v >= 0 && node[v] >= 0) add_donor(d, a->t, model->nodes[node[v]].op_type, slot[v]);
    }
    free(node);
    free(slot);
    if (st) px_track_donors_free(d);
    else d->grid = px_track_grid_of(model);
    return st;
}

void px_track_donors_free(px_track_donors *d)
{
    free(d->w);
    free(d->t);
    free(d->numel);
    free(d->op);
    free(d->slot);
    free(d->positive);
    free(d->cls);
    free(d->lin);
    free(d->step);
    memset(d, 0, sizeof *d);
}

/* Donor i fits tensor b at level 0 (same role), 1 (same op), 2 (any), for a
 * positive b at levels 0-2 only when positive itself (3-5: any sign, mixed as
 * magnitudes); and in shape at pass 0 (same rank, every dim at least b's:
 * a smaller donor would repeat rows or columns, lowering the rank), 1 (same
 * rank), 2 (both matrices or neither), 3 (any). */
static int fits(const px_track_donors *d, int i, const char *op, int slot, int positive, int level,
                const px_tensor *b, int b_dims_ok, int b_cls, int pass)
{
    if (positive && level < 3 && !d->positive[i]) return 0;
    const px_tensor *t = d->t[i];
    if (pass <= 2 && d->cls[i] != b_cls) return 0;
    if (pass <= 1 && t->rank != b->rank) return 0;
    if (pass == 0 && b_dims_ok && dims_ok(t, d->numel[i]))
        for (int a = 0; a < b->rank; a++)
            if (t->dims[a] < b->dims[a]) return 0;
    level %= 3;
    return level == 2 || (!strcmp(d->op[i], op) && (level == 1 || d->slot[i] == slot));
}

/* The donor for tensor b (n elements) of role (op, slot): a keyed pick (its
 * index) among the model's tensors at the first pass and level that has one;
 * -1 when there is none. */
static int pick_donor(const px_track_donors *d, const char *op, int slot, int positive, const px_tensor *b,
                      int64_t n, px_rng *rng)
{
    int b_dims_ok = dims_ok(b, n), b_cls = shape_class(b, n);
    for (int pass = 0; pass < 4; pass++)
        for (int level = 0; level < (positive ? 6 : 3); level++) {
            int count = 0;
            for (int i = 0; i < d->n; i++) count += fits(d, i, op, slot, positive, level, b, b_dims_ok, b_cls, pass);
            if (!count) continue;
            int want = (int)px_rng_below(rng, (uint64_t)count);
            for (int i = 0; i < d->n; i++)
                if (fits(d, i, op, slot, positive, level, b, b_dims_ok, b_cls, pass) && want-- == 0) return i;
        }
    return -1;
}

/* A keyed map of n indices into m: a keyed permutation of m, repeated
 * when n > m (so every donor index is used as evenly as it can be). */
static int64_t *axis_map(int64_t n, int64_t m, int identity, px_rng *rng)
{
    int64_t *perm = malloc((size_t)m * sizeof *perm);
    int64_t *map = malloc((size_t)n * sizeof *map);
    if (!perm || !map) {
        free(perm);
        free(map);
        return NULL;
    }
    for (int64_t i = 0; i < m; i++) perm[i] = i;
    if (!identity)
        for (int64_t i = m - 1; i > 0; i--) {
            int64_t j = (int64_t)px_rng_below(rng, (uint64_t)i + 1), x = perm[i];
            perm[i] = perm[j];
            perm[j] = x;
        }
    for (int64_t i = 0; i < n; i++) map[i] = perm[i % m];
    free(perm);
    return map;
}

/* The view a tensor is mapped in: its own dims (per_axis), else [first dim,
 * the rest] (matrices), else flat. */
static int view_of(const px_tensor *t, int64_t numel, int per_axis, int matrices, int64_t *v)
{
    if (per_axis) {
        for (int i = 0; i < t->rank; i++) v[i] = t->dims[i];
        return t->rank;
    }
    v[0] = matrices ? t->dims[0] : 1;
    v[1] = numel / v[0];
    return 2;
}

/* The donor element for every element of b: per axis, a keyed map of b's
 * indices into the donor's, so rows stay rows and columns columns and the
 * donor's row scales, tails and spectrum carry over (a mix of scattered
 * positions would leave a Gaussian blob); kernel axes of equal size keep
 * their positions.  MIX such maps, drawn map by map, last axis first; the
 * element offsets are summed as the elements are visited, not stored. */
typedef struct elem_maps {
    int r;                          /* axes of the view */
    int64_t vb[MAX_VIEW], stride[MAX_VIEW];
    int64_t *axis[MIX][MAX_VIEW];   /* per map and axis: b's index -> donor's */
} elem_maps;

static void elem_maps_free(elem_maps *em)
{
    for (int k = 0; k < MIX; k++)
        for (int a = 0; a < MAX_VIEW; a++) free(em->axis[k][a]);
}

/* 0 on allocation failure (em then holds what to free). */
static int elem_maps_draw(elem_maps *em, const px_tensor *bt, int64_t n, const px_tensor *dt, int64_t dn, px_rng *rng)
{
    memset(em, 0, sizeof *em);
    /* axis by axis only when no axis would repeat (a 1x1 donor of a 3x3
     * kernel would give it nine equal taps); else as [rows, columns] */
    int per_axis = bt->rank == dt->rank && dims_ok(bt, n) && dims_ok(dt, dn);
    for (int a = 0; per_axis && a < bt->rank; a++) per_axis = dt->dims[a] >= bt->dims[a];
    int64_t vd[MAX_VIEW];
    int matrices = shape_class(bt, n) == 2 && shape_class(dt, dn) == 2;
    int r = em->r = view_of(bt, n, per_axis, matrices, em->vb);
    view_of(dt, dn, per_axis, matrices, vd);
    for (int a = r - 1; a >= 0; a--) em->stride[a] = a == r - 1 ? 1 : em->stride[a + 1] * vd[a + 1];
    for (int k = 0; k < MIX; k++)
        for (int a = r - 1; a >= 0; a--)
            if (!(em->axis[k][a] = axis_map(em->vb[a], vd[a], a >= 2 && em->vb[a] == vd[a], rng))) return 0;
    return 1;
}

/* Rewrites sentinel tensor b (n elements) from donor dw (dn elements). */
static px_status mix_tensor(float *b, const px_tensor *bt, int64_t n, const px_track_donors *d, int di, int logd,
                            int out_axis, px_rng *rng)
{
    const float *dw = d->w[di];
    const px_tensor *dt = d->t[di];
    int64_t dn = d->numel[di];
    double zl = logd ? log(d->lin[di].rms) : 0.0;
    if (logd && !isfinite(zl)) return PX_OK; /* an all-zero donor */
    px_track_moments mb = moments_of(b, n, logd, 0), md = logd ? moments_of(dw, dn, logd, zl) : d->lin[di];
    double c = sqrt(1.0 - NOISE * NOISE);
    /* linear: scale to the generator's rms; log: shift to its mean log */
    double scale = md.rms > 0 ? mb.rms / md.rms : 0.0;
    if (!logd && !(scale > 0 && isfinite(scale))) return PX_OK;
    /* MIX independent maps, one of them subtracted: (D_a + D_b + D_c - D_d) / 2
     * keeps D's mean and variance; a single map would copy D's kernels
     * one by one, and matching them (nearest kernel, votes per row) finds
     * the donor of every sentinel */
    /* the generator's channel scales and tails, restored after the mix */
    px_track_ref ref = {0};
    px_status st = logd ? PX_OK : px_track_ref_take(&ref, b, n, bt, out_axis);
    if (st) return st;
    elem_maps em;
    if (!elem_maps_draw(&em, bt, n, dt, dn, rng)) {
        elem_maps_free(&em);
        px_track_ref_free(&ref);
        return px_nomem();
    }
    int neg = (int)px_rng_below(rng, MIX), r = em.r, last = r - 1;
    int64_t idx[MAX_VIEW] = {0}, run = em.vb[last];
    for (int64_t i = 0; i < n; i += run) {
        /* the outer axes' part of each map's offset, once per run of the
         * last axis */
        int64_t base[MIX];
        for (int k = 0; k < MIX; k++) {
            base[k] = 0;
            for (int a = 0; a < last; a++) base[k] += em.axis[k][a][idx[a]] * em.stride[a];
        }
        for (int64_t j = 0; j < run; j++) {
            double mix = 0;
            for (int k = 0; k < MIX; k++) {
                int64_t off = base[k] + em.axis[k][last][j];
                if (off >= dn) off %= dn;
                mix += (k == neg ? -0.5 : 0.5) * val(dw[off], logd, zl);
            }
            double bi = val(b[i + j], logd, 0);
            double z = mb.sd > 0 ? (bi - mb.mean) / mb.sd : 0.0;
            double core = md.mean + c * (mix - md.mean) + NOISE * md.sd * z;
            double v = logd ? exp(core - md.mean + mb.mean) : core * scale;
            if (isfinite(v) && (!logd || v > 0)) b[i + j] = (float)v;
        }
        for (int a = last - 1; a >= 0 && ++idx[a] == em.vb[a]; a--) idx[a] = 0;
    }
    elem_maps_free(&em);
    if (!logd) st = px_track_reshape(b, n, &ref, shape_class(bt, n) == 2, d->step[di] > 0 ? 0 : d->grid, rng);
    if (!st && !logd && d->step[di] > 0) px_track_round_to(b, n, d->step[di]);
    px_track_ref_free(&ref);
    return st;
}

px_status px_track_weights(px_graph *sent, const px_track_donors *d, uint64_t stream)
{
    if (!d->n) return PX_OK;
    int *node, *slot;
    px_status st = first_uses(sent, &node, &slot);
    if (st) return st;
    px_rng rng;
    px_rng_seed(&rng, stream);
    for (int i = 0; i < sent->n_inits && !st; i++) {
        int v = sent->inits[i];
        int64_t n;
        float *b = (float *)weights_of(sent->values[v].init, &n);
        if (!b || node[v] < 0) continue;
        const char *op = sent->nodes[node[v]].op_type;
        if (fixed_slot(op, slot[v])) continue;
        int positive = 1, finite = 1;
        for (int64_t e = 0; e < n; e++) {
            positive &= b[e] > 0.0f;
            finite &= isfinite(b[e]);
        }
        if (!finite) continue;
        /* a fresh stream per tensor: one tensor's draws do not shift the next's */
        px_rng trng;
        px_rng_seed(&trng, px_rng_next(&rng));
        int di = pick_donor(d, op, slot[v], positive, sent->values[v].init, n, &trng);
        int out_axis = 0;
        px_wstats_role_of(sent, v, &out_axis);
        if (di >= 0) st = mix_tensor(b, sent->values[v].init, n, d, di, positive, out_axis, &trng);
    }
    free(node);
    free(slot);
    return st;
}
