/* The learned generator's view of the whole model's style (opts->model):
 * how it feeds constants to each op (through an Identity of an initializer
 * or not) and how its ops follow one another (the op that produced a node's
 * first activation, whether a binary op then reads a second activation or a
 * constant, and that constant's shape).  Real subgraphs all show these, so
 * sentinels that follow them line up into the same patterns ONNX Runtime
 * fuses (Conv+Clip, MatMul+Add, Add+LayerNormalization, attention scales).
 * Only the whole model is read, never the real subgraph a sentinel hides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel/learned_int.h"

/* The slot a constant operand is counted under: Add and Mul commute, and
 * exporters put a bias or scale first as often as second, so either is the
 * sentinel's slot 1. */
static int feed_slot(const char *op, int slot)
{
    return (!strcmp(op, "Add") || !strcmp(op, "Mul")) ? 1 : slot;
}

static lfeed *feed_of(lgen *L, const char *op, int slot, int add)
{
    slot = feed_slot(op, slot);
    for (int i = 0; i < L->n_feed; i++)
        if (L->feed[i].slot == slot && !strcmp(L->feed[i].op, op)) return &L->feed[i];
    if (!add || L->n_feed >= L_MAX_FEEDS) return NULL;
    L->feed[L->n_feed] = (lfeed){op, slot, 0, 0};
    return &L->feed[L->n_feed++];
}

const lfeed *learned_feed(lgen *L, const char *op, int slot) { return feed_of(L, op, slot, 0); }

/* 0: value v of m is an activation; 1: a constant (an initializer or a
 * Constant's output); 2: an Identity of an initializer. */
static int const_kind(const px_graph *m, int v)
{
    const px_value *x = &m->values[v];
    if (x->flags & PX_VAL_INIT) return 1;
    int p = x->producer;
    if (p < 0 || p >= m->n_nodes) return 0;
    const px_node *pn = &m->nodes[p];
    if (!strcmp(pn->op_type, "Constant")) return 1;
    int pv = pn->n_inputs > 0 ? pn->inputs[0] : -1;
    return !strcmp(pn->op_type, "Identity") && pv >= 0 && pv < m->n_values && (m->values[pv].flags & PX_VAL_INIT) ? 2 : 0;
}

static lpair *pair_of(lgen *L, const char *prev, int prev_c, const char *op, int add)
{
    for (int i = 0; i < L->n_pair; i++)
        if (L->pair[i].prev_c == prev_c && !strcmp(L->pair[i].prev, prev) && !strcmp(L->pair[i].op, op)) return &L->pair[i];
    if (!add || L->n_pair >= L_MAX_PAIRS) return NULL;
    memset(&L->pair[L->n_pair], 0, sizeof L->pair[0]);
    L->pair[L->n_pair].prev = prev;
    L->pair[L->n_pair].prev_c = prev_c;
    L->pair[L->n_pair].op = op;
    return &L->pair[L->n_pair++];
}

int learned_const_sided(const char *op)
{
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "MatMul"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(op, ops[i])) return 1;
    return 0;
}

/* Whether model node n is a binary op that read a constant. */
static int read_const(const px_graph *m, const px_node *n)
{
    if (!learned_const_sided(n->op_type)) return 0;
    for (int s = 0; s < n->n_inputs - n->n_implicit; s++)
        if (n->inputs[s] >= 0 && n->inputs[s] < m->n_values && const_kind(m, n->inputs[s])) return 1;
    return 0;
}

/* scalar 0, bias 1, per channel 2 (learned_ops.c's choice % 3), -1 other:
 * constant c read with activation a. */
static int shape_kind(const px_shape *a, const px_shape *c)
{
    if (c->rank < 0 || a->rank < 0) return -1;
    int64_t n = 1;
    for (int d = 0; d < c->rank; d++) {
        if (c->dims[d].v <= 0) return -1;
        n *= c->dims[d].v;
    }
    if (n == 1) return 0;
    if (c->rank == 1 && a->rank >= 1 && a->dims[a->rank - 1].v == c->dims[0].v) return 1;
    if (a->rank == 4 && c->rank >= 3 && c->dims[c->rank - 3].v == a->dims[1].v && c->dims[c->rank - 2].v == 1
        && c->dims[c->rank - 1].v == 1)
        return 2;
    return -1;
}

/* The first activation node p of m reads (-1: none, or p is not a node). */
static int first_act(const px_graph *m, int p)
{
    if (p < 0 || p >= m->n_nodes) return -1;
    const px_node *n = &m->nodes[p];
    for (int s = 0; s < n->n_inputs - n->n_implicit; s++)
        if (n->inputs[s] >= 0 && n->inputs[s] < m->n_values && !const_kind(m, n->inputs[s])) return n->inputs[s];
    return -1;
}

/* The int64 data of value v of m when it is a constant (an initializer or
 * a Constant's output) of n elements; NULL otherwise. */
static const int64_t *const_int64s(const px_graph *m, int v, int64_t n)
{
    if (v < 0 || v >= m->n_values) return NULL;
    const px_tensor *t = m->values[v].init;
    int p = m->values[v].producer;
    if (!t && p >= 0 && p < m->n_nodes && !strcmp(m->nodes[p].op_type, "Constant")) {
        const px_attr *a = px_node_attr(&m->nodes[p], "value");
        t = a && a->type == PX_ATTR_TENSOR ? a->t : NULL;
    }
    return t && t->dtype == PX_DT_INT64 && t->numel == n && t->data ? (const int64_t *)t->data : NULL;
}

/* The height pad of the model's constant-mode Pads of NCHW values (pads
 * an attribute before opset 11, an input from it). */
static void note_pad(lgen *L, const px_graph *m, const px_node *nd)
{
    if (strcmp(px_attr_string(nd, "mode", "constant"), "constant") || nd->n_inputs < 1 || nd->inputs[0] < 0 ||
        m->values[nd->inputs[0]].shape.rank != 4)
        return;
    int n = 0;
    const int64_t *pads = px_attr_ints(nd, "pads", &n);
    if (!pads || n != 8) pads = nd->n_inputs >= 2 ? const_int64s(m, nd->inputs[1], 8) : NULL;
    if (!pads || pads[2] < 0 || pads[2] > 3) return;
    for (int i = 0; i < L->n_style_pad; i++)
        if (L->style_pad[i] == pads[2]) return;
    if (L->n_style_pad < 8) L->style_pad[L->n_style_pad++] = pads[2];
}

void learned_note_model(lgen *L, const px_graph *m, const px_node *nd)
{
    if (!strcmp(nd->op_type, "Pad")) note_pad(L, m, nd);
    int act[2], n_act = 0, cst = -1;
    L->m_convs += !strcmp(nd->op_type, "Conv");
    if (!strcmp(nd->op_type, "Concat") && nd->n_outputs >= 1 && nd->outputs[0] >= 0 &&
        px_dtype_is_float(m->values[nd->outputs[0]].dtype)) {
        L->m_concat++;
        L->m_concat_wide += nd->n_inputs >= 3;
    }
    if (!strcmp(nd->op_type, "Gather") && nd->n_inputs == 2 && nd->inputs[0] >= 0 && nd->inputs[1] >= 0 &&
        m->values[nd->inputs[0]].dtype == PX_DT_INT64 && m->values[nd->inputs[0]].shape.rank == 1) {
        int r = m->values[nd->inputs[1]].shape.rank; /* a length as a scalar, or as a [1] vector (vit_b_16) */
        if (r == 0 || r == 1) L->m_gather_idx[r]++;
    }
    if (!strcmp(nd->op_type, "Reshape") && nd->n_inputs >= 1 && nd->n_outputs >= 1 && nd->inputs[0] >= 0 &&
        nd->outputs[0] >= 0) { /* seq-first blocks reshape 3 -> 3, 3 -> 2, 2 -> 3; batch-first ones 3 -> 4 -> 3 */
        int ri = m->values[nd->inputs[0]].shape.rank, ro = m->values[nd->outputs[0]].shape.rank;
        const px_shape *si = &m->values[nd->inputs[0]].shape, *so = &m->values[nd->outputs[0]].shape;
        /* gpt2's [1, S, E] -> [S, E] and back: the last dim kept, the leading ones merged or split off */
        int lead32 = ri == 3 && ro == 2 && si->dims[2].v > 0 && so->dims[1].v == si->dims[2].v && si->dims[1].v > 1;
        int lead23 = ri == 2 && ro == 3 && so->dims[0].v == 1 && so->dims[1].v > 1 && so->dims[1].v == si->dims[0].v;
        if (lead32 || lead23) L->m_reshape_lead[lead23]++;
        else if (ri >= 0 && ri <= L_MAX_RANK && ro >= 0 && ro <= L_MAX_RANK) L->m_reshape[ri][ro]++;
    }
    for (int s = 0; s < nd->n_inputs - nd->n_implicit; s++) {
        int v = nd->inputs[s];
        if (v < 0 || v >= m->n_values) continue;
        int k = const_kind(m, v);
        if (!k) {
            if (n_act < 2) act[n_act] = v;
            n_act++;
            continue;
        }
        if (cst < 0) cst = v;
        lfeed *f = feed_of(L, nd->op_type, s, 1);
        if (f) {
            f->n_const++;
            f->n_ident += k == 2;
        }
    }
    /* transitions inside the model: after a subgraph input the fitted counts
     * say more (the model's own inputs are few) */
    if (!n_act) return;
    int p = m->values[act[0]].producer, self = (int)(nd - m->nodes);
    if (p >= 0 && p == L->m_last) L->m_newest++;
    else if (p >= 0) L->m_older++;
    L->m_last = self;
    if (p < 0 || p >= m->n_nodes) return;
    lpair *q = pair_of(L, m->nodes[p].op_type, read_const(m, &m->nodes[p]), nd->op_type, 1);
    if (!q) return;
    q->next++;
    if (n_act >= 2) {
        int p2 = m->values[act[1]].producer;
        int kin = first_act(m, p2) == act[0] || first_act(m, p) == act[1];
        q->join++;
        q->kin += kin;
        /* x * Sigmoid(x) follows the Sigmoid as much as x: a sentinel grown
         * from the Sigmoid's output (the newest value) draws it too */
        lpair *q2 = kin && p2 >= 0 && p2 < m->n_nodes ? pair_of(L, m->nodes[p2].op_type, read_const(m, &m->nodes[p2]), nd->op_type, 1) : NULL;
        if (q2 && q2 != q) {
            q2->next++;
            q2->join++;
            q2->kin++;
        }
    }
    else if (cst >= 0) {
        q->konst++;
        int k = shape_kind(&m->values[act[0]].shape, &m->values[cst].shape);
        if (k >= 0) q->cshape[k]++;
    }
}

const lpair *learned_pair(lgen *L, const char *prev, int prev_c, const char *op)
{
    return pair_of(L, prev, prev_c, op, 0);
}

int learned_pairs_after(lgen *L, const char *prev, int prev_c)
{
    int n = 0;
    for (int i = 0; i < L->n_pair; i++)
        if (L->pair[i].prev_c == prev_c && !strcmp(L->pair[i].prev, prev)) n += L->pair[i].next;
    return n;
}

int learned_model_joins(lgen *L, const char *op)
{
    int n = 0;
    for (int i = 0; i < L->n_pair; i++)
        if (!op || !strcmp(L->pair[i].op, op)) n += L->pair[i].join;
    return n;
}

/* The weight of the model's own habits against the fitted counts (see
 * grow): most of it, in the first half of the attempts; none in the second,
 * where any draw that fits the interface is taken rather than a random
 * stand-in (a model's habits alone may not reach some interfaces). */
double learned_model_share(const lgen *L) { return L->attempt < L_MAX_ATTEMPTS / 2 ? 0.95 : 0.0; }

/* How often op read a second activation (pj) or a constant (pc) after prev
 * in real subgraphs: a MatMul's Add takes its bias, a block's Add its
 * residual, which ONNX Runtime fuses differently.  Counts without prev
 * (older .pxg files) where the model has none after prev. */
void learned_join_or_const(lgen *L, const char *prev, int prev_c, int op, double *pj, double *pc)
{
    const lpair *q = learned_model_share(L) > 0 ? learned_pair(L, prev, prev_c, learned_ops[op].name) : NULL;
    if (q && q->join + q->konst > 0) { /* the model's own habit after prev */
        *pj = q->join;
        *pc = q->konst;
        return;
    }
    char key[96];
    snprintf(key, sizeof key, "join %s %s", prev, learned_ops[op].name);
    *pj = px_generator_count(L->gen, key);
    snprintf(key, sizeof key, "const %s %s", prev, learned_ops[op].name);
    *pc = px_generator_count(L->gen, key);
    if (*pj + *pc > 0) return;
    snprintf(key, sizeof key, "join %s", learned_ops[op].name);
    *pj = px_generator_count(L->gen, key);
    snprintf(key, sizeof key, "const %s", learned_ops[op].name);
    *pc = px_generator_count(L->gen, key);
}

/* The shape of a binary op's constant (a scalar, a bias over the last dim,
 * a per-channel [C,1,1]) as real subgraphs have it after prev: a MatMul's
 * bias is a vector, an attention score's divisor a scalar (the choice's
 * residue mod 3, see learned_ops.c).  Kept as drawn without counts. */
void learned_const_shape(lgen *L, const char *prev, int prev_c, lnode *nd)
{
    static const char *const shapes[3] = {"scalar", "bias", "chan"};
    double c[3];
    char key[96];
    const lpair *q = learned_model_share(L) > 0 ? learned_pair(L, prev, prev_c, learned_ops[nd->op].name) : NULL;
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "cshape %s %s %s", prev, learned_ops[nd->op].name, shapes[i]);
        c[i] = px_generator_count(L->gen, key);
    }
    if (q && q->cshape[0] + q->cshape[1] + q->cshape[2] > 0)
        for (int i = 0; i < 3; i++) c[i] = q->cshape[i];
    int kind = l_draw(L, c, 3);
    if (kind >= 0) nd->choice = nd->choice / 3 * 3 + kind;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

px_status learned_note_dedup(lgen *L, const px_graph *m)
{
    int *v = malloc(((size_t)m->n_nodes + 1) * sizeof *v), n = 0;
    if (!v) return px_nomem();
    for (int i = 0; i < m->n_nodes; i++) {
        const px_node *nd = &m->nodes[i];
        int in = nd->n_inputs >= 1 ? nd->inputs[0] : -1;
        if (!strcmp(nd->op_type, "Identity") && in >= 0 && in < m->n_values && (m->values[in].flags & PX_VAL_INIT))
            v[n++] = in;
    }
    for (int i = 0; i < n; i++) { /* node order: could it share, did it */
        const px_tensor *t = m->values[v[i]].init;
        int cand = 0, reuse = 0;
        for (int j = 0; j < i && !reuse; j++) {
            const px_tensor *u = m->values[v[j]].init;
            reuse = v[j] == v[i];
            cand |= reuse || (t && u && t->dtype == u->dtype && t->rank == u->rank &&
                              !memcmp(t->dims, u->dims, sizeof *t->dims * (size_t)t->rank));
        }
        L->m_ident_cand += cand;
        L->m_ident_reuse += reuse;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_int);
    L->m_ident = n;
    for (int i = 0; i < n; i++)
        L->m_ident_shared += (i > 0 && v[i - 1] == v[i]) || (i + 1 < n && v[i + 1] == v[i]);
    free(v);
    return PX_OK;
}

void learned_note_inputs(lgen *L, const px_graph *m, const px_graph *real)
{
    for (int j = 0; j < real->n_inputs && j < L_MAX_IN; j++) {
        const char *name = real->values[real->inputs[j]].name;
        int v = name ? px_graph_find(m, name) : -1;
        int p = v >= 0 && v < m->n_values ? m->values[v].producer : -1;
        if (p < 0 || p >= m->n_nodes || const_kind(m, v)) continue;
        L->in_prev[j] = m->nodes[p].op_type;
        L->in_prev_c[j] = read_const(m, &m->nodes[p]);
    }
}
