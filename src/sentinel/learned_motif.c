/* Motifs: chains of ops real subgraphs write again and again (a Gelu as
 * Div/Erf/Add/Mul/Mul with its exact constants, MatMul then bias Add then
 * residual Add then LayerNormalization, an attention head's scores),
 * harvested from the training corpus (pxg "motif" lines, notation in
 * python/proteus_py/generator/motifs.py) and placed by the grower as one
 * unit: ONNX Runtime fuses these in real files, and a sentinel grown op by
 * op lines them up too rarely for it to fuse them there.
 *
 * Only motifs the model itself writes are drawn (its style: a model that
 * writes Gelu as an Erf chain gets that chain, one that writes
 * LayerNormalization gets that), each as often as the model's own nodes of
 * its first op start it. */
#include <stdlib.h>
#include <string.h>

#include "sentinel/learned_int.h"

enum { M_STEPS = 8, M_SLOTS = 5 };

/* One step: op and, per input slot, what it reads: 'p' the previous step,
 * 'x' the entry, 'q' what the entry was computed from, '0'..'9' an earlier
 * step, 'e' an outside activation, 's' a
 * scalar constant (val), 'b' a constant over the last dim, 'c' another. */
typedef struct mstep {
    int op, n_slots;
    const char *name; /* the model's op_type for matching (points into the pxg key) */
    int name_len;
    char kind[M_SLOTS];
    float val[M_SLOTS];
} mstep;

typedef struct motif {
    mstep s[M_STEPS];
    int n;
    double mine; /* times the model writes it */
} motif;

struct lmotifs {
    motif *m;
    double *w; /* scratch: a draw's weights */
    int n;
    double first[L_MAX_OPS]; /* per op: the model's nodes of it that start a motif (overlapping motifs once) */
    double nodes[L_MAX_OPS]; /* per op: the model's nodes of it */
    int alone[L_MAX_OPS];    /* per op: the model's nodes of it in no motif */
};

/* The float op of that name the grower can place (not shape arithmetic,
 * embeddings or casts); -1 when none. */
static int float_op(const char *name, int len)
{
    for (int i = 0; i < learned_n_ops; i++) {
        lkind k = learned_ops[i].kind;
        if ((int)strlen(learned_ops[i].name) == len && !strncmp(learned_ops[i].name, name, (size_t)len) &&
            !learned_int_op(i) && k != LK_EMBED && k != LK_CAST && k != LK_SHAPE)
            return i;
    }
    return -1;
}

/* Parses "Op:a,b/Op:a/..." into m; 0 when it holds an op or operand the
 * grower cannot place. */
static int parse(const char *key, motif *m)
{
    const char *p = key;
    m->n = 0;
    while (*p) {
        if (m->n == M_STEPS) return 0;
        mstep *s = &m->s[m->n++];
        const char *colon = strchr(p, ':');
        if (!colon) return 0;
        s->name = p;
        s->name_len = (int)(colon - p);
        if ((s->op = float_op(p, s->name_len)) < 0) return 0;
        p = colon + 1;
        s->n_slots = 0;
        while (*p && *p != '/') {
            if (s->n_slots == M_SLOTS) return 0;
            char k = *p;
            if (!strchr("pxqebcs0123456789", k)) return 0;
            s->kind[s->n_slots] = k;
            s->val[s->n_slots] = 0;
            if (k == 's') {
                char *end;
                s->val[s->n_slots] = strtof(p + 1, &end);
                if (end == p + 1) return 0;
                p = end;
            } else {
                p++;
            }
            if (k >= '0' && k <= '9' && k - '0' >= m->n - 1) return 0; /* an earlier step only */
            s->n_slots++;
            if (*p == ',') p++;
        }
        if (*p == '/') p++;
    }
    return m->n >= 2;
}

/* The slot of step t that reads the previous step (-1: none). */
static int prev_slot(const mstep *s)
{
    for (int i = 0; i < s->n_slots; i++)
        if (s->kind[i] == 'p') return i;
    return -1;
}

/* Times the model writes motif m: chains of its nodes with m's ops, each
 * reading the one before in m's slot (producer: value -> node); marks in
 * starts the nodes that start one (1) and those inside one (2). */
static double count_in_model(const motif *m, const px_graph *g, const int *producer, unsigned char *starts)
{
    double n = 0;
    for (int j = 0; j < g->n_nodes; j++) {
        int at = j, ok = 1, path[M_STEPS];
        for (int t = m->n - 1; t >= 0 && ok; t--) {
            const px_node *nd = &g->nodes[at];
            path[t] = at;
            const mstep *s = &m->s[t];
            ok = (int)strlen(nd->op_type) == s->name_len && !strncmp(nd->op_type, s->name, (size_t)s->name_len);
            if (!ok || t == 0) break;
            int slot = prev_slot(s);
            ok = slot >= 0 && slot < nd->n_inputs && nd->inputs[slot] >= 0 && producer[nd->inputs[slot]] >= 0;
            if (ok) at = producer[nd->inputs[slot]];
        }
        if (ok) {
            starts[at] |= 1;
            for (int t = 1; t < m->n; t++) starts[path[t]] |= 2; /* inside one */
        }
        n += ok;
    }
    return n;
}

px_status learned_motifs_init(lgen *L, const px_graph *model)
{
    int n = px_generator_values(L->gen, "motif", NULL, NULL, 0);
    if (n <= 0) return PX_OK;
    struct lmotifs *ms = calloc(1, sizeof *ms);
    const char **w = calloc((size_t)n, sizeof *w);
    double *c = calloc((size_t)n, sizeof *c);
    int *producer = malloc((size_t)(model->n_values > 0 ? model->n_values : 1) * sizeof *producer);
    unsigned char *starts = calloc((size_t)(model->n_nodes > 0 ? model->n_nodes : 1), 1);
    if (ms) {
        ms->m = calloc((size_t)n, sizeof *ms->m);
        ms->w = calloc((size_t)n, sizeof *ms->w);
    }
    if (!ms || !ms->m || !ms->w || !w || !c || !producer || !starts) {
        if (ms) {
            free(ms->m);
            free(ms->w);
        }
        free(ms);
        free(w);
        free(c);
        free(producer);
        free(starts);
        return px_nomem();
    }
    px_generator_values(L->gen, "motif", w, c, n);
    for (int v = 0; v < model->n_values; v++) producer[v] = -1;
    for (int j = 0; j < model->n_nodes; j++)
        for (int o = 0; o < model->nodes[j].n_outputs; o++)
            if (model->nodes[j].outputs[o] >= 0) producer[model->nodes[j].outputs[o]] = j;
    for (int j = 0; j < model->n_nodes; j++) {
        int op = float_op(model->nodes[j].op_type, (int)strlen(model->nodes[j].op_type));
        if (op >= 0) ms->nodes[op]++;
    }
    for (int i = 0; i < n; i++) {
        motif *m = &ms->m[ms->n];
        if (!parse(w[i], m)) continue;
        int usable = 1;
        for (int t = 0; t < m->n; t++) usable &= L->opset >= learned_ops[m->s[t].op].min_opset;
        if (!usable || (m->mine = count_in_model(m, model, producer, starts)) <= 0) continue;
        ms->n++;
    }
    for (int j = 0; j < model->n_nodes; j++) {
        int op = float_op(model->nodes[j].op_type, (int)strlen(model->nodes[j].op_type));
        if (op >= 0 && (starts[j] & 1)) ms->first[op]++;
        if (op >= 0 && !starts[j]) ms->alone[op]++;
    }
    free(w);
    free(c);
    free(producer);
    free(starts);
    L->motifs = ms;
    if (!ms->n) learned_motifs_free(L);
    return PX_OK;
}

void learned_motifs_free(lgen *L)
{
    if (L->motifs) {
        free(L->motifs->m);
        free(L->motifs->w);
    }
    free(L->motifs);
    L->motifs = NULL;
}

/* An outside value to read in a slot beside value other (other_first: other
 * is the first operand): one nobody reads yet when there is one; -1 when
 * none can join. */
static int outside(lgen *L, int op, int other, int other_first, const int *inside, int n_inside)
{
    int unread[L_MAX_VALS], any[L_MAX_VALS], nu = 0, na = 0;
    for (int i = 0; i < L->nv; i++) {
        int skip = i == other || L->v[i].nonfloat || L->v[i].isint;
        for (int j = 0; j < n_inside && !skip; j++) skip = inside[j] == i;
        if (skip || !(other_first ? learned_can_join(L, op, &L->v[other], &L->v[i]) : learned_can_join(L, op, &L->v[i], &L->v[other])))
            continue;
        any[na++] = i;
        if (!L->v[i].uses) unread[nu++] = i;
    }
    if (nu) return unread[px_rng_below(L->rng, (uint64_t)nu)];
    return na ? any[px_rng_below(L->rng, (uint64_t)na)] : -1;
}

/* Adds step s reading entry x and the steps' outputs so far (out); its
 * output, or -1 when it does not fit. */
static int place_step(lgen *L, const mstep *s, int t, int x, const int *out)
{
    int act[2], n_act = 0, ext = -1, scalar = -1, bias = 0;
    for (int i = 0; i < s->n_slots; i++) {
        char k = s->kind[i];
        if ((k == 'p' && t == 0) || (k == 'q' && L->v[x].producer < 0)) return -1;
        int v = k == 'p' ? out[t - 1] : k == 'x' ? x : k == 'q' ? L->n[L->v[x].producer].in[0]
              : k >= '0' && k <= '9' ? out[k - '0'] : k == 'e' ? -2 : -1;
        if (v != -1) {
            if (n_act == 2) return -1;
            if (v == -2) ext = n_act;
            act[n_act++] = v;
        } else if (k == 's') {
            scalar = i;
        } else if (k == 'b') {
            bias = 1;
        }
    }
    if (!n_act) return -1;
    lkind kind = learned_ops[s->op].kind;
    if (n_act == 2 && kind != LK_BINARY && kind != LK_MATMUL && kind != LK_CONCAT) return -1;
    if (ext >= 0) { /* the other operand decides what can join it */
        int other = act[1 - ext];
        if (n_act < 2 || other < 0) return -1;
        act[ext] = outside(L, s->op, other, ext == 1, out, t);
        if (act[ext] < 0) return -1;
    }
    for (int i = 0; i < n_act; i++)
        if (L->v[act[i]].isint || L->v[act[i]].nonfloat) return -1;
    if (n_act == 1 ? !learned_applies(L, s->op, &L->v[act[0]]) : !learned_can_join(L, s->op, &L->v[act[0]], &L->v[act[1]]))
        return -1;
    if (!learned_try_node(L, s->op, act[0], n_act == 2 ? act[1] : -1)) return -1;
    lnode *nd = &L->n[L->nn - 1];
    if (n_act == 1 && (kind == LK_BINARY || kind == LK_POW)) { /* its constant as the motif's: a scalar of that value, or a bias */
        nd->choice -= nd->choice % 3;
        if (scalar >= 0) {
            nd->cfix = 1;
            nd->cval = s->val[scalar];
        } else if (bias) {
            nd->choice += 1;
        }
    }
    return L->nv - 1;
}

int learned_motif_place(lgen *L, int op, int x, int size)
{
    struct lmotifs *ms = L->motifs;
    if (!ms || op < 0 || op >= L_MAX_OPS || ms->nodes[op] <= 0) return 0;
    /* an elementwise op the model writes only within motifs (Erf: only in
     * its Gelus) is not placed alone: alone, ONNX Runtime would leave it
     * unfused where it fuses every real one */
    int never_alone = (learned_ops[op].kind == LK_UNARY || learned_ops[op].kind == LK_POW) && !ms->alone[op];
    double p = ms->first[op] / ms->nodes[op];
    if (p <= 0) return never_alone;
    if (px_rng_unit(L->rng) >= (p < 0.9 ? p : 0.9)) return never_alone;
    double *w = ms->w;
    for (int i = 0; i < ms->n; i++)
        w[i] = ms->m[i].s[0].op == op && L->nn + ms->m[i].n <= size ? ms->m[i].mine : 0;
    int pick = l_draw(L, w, ms->n);
    if (pick < 0) return never_alone;
    const motif *m = &ms->m[pick];
    lsnap mark = learned_take(L);
    int out[M_STEPS];
    for (int t = 0; t < m->n; t++) {
        if ((out[t] = place_step(L, &m->s[t], t, x, out)) < 0) {
            learned_rollback(L, mark);
            return never_alone;
        }
    }
    return 1;
}
