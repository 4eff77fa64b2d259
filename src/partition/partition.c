#include "partition/partition.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "partition/fusion.h"
#include "util/rng.h"

/* --- union-find --------------------------------------------------------- */

static int uf_find(int *parent, int x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static int uf_union(int *parent, int *size, int a, int b)
{
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a == b) return a;
    if (size[a] < size[b]) {
        int t = a;
        a = b;
        b = t;
    }
    parent[b] = a;
    size[a] += size[b];
    return a;
}

/* Ops whose value is not a function of their inputs. */
static int nondeterministic(const px_node *n)
{
    return !strncmp(n->op_type, "Random", 6) || !strcmp(n->op_type, "Multinomial") ||
           !strcmp(n->op_type, "Bernoulli");
}

px_status px_partition_constant_nodes(const px_graph *g, char **out)
{
    char *is_const = calloc((size_t)g->n_nodes + 1, 1);
    char *val_const = calloc((size_t)g->n_values + 1, 1);
    int *order = malloc(((size_t)g->n_nodes + 1) * sizeof *order);
    px_status st = PX_OK;
    if (!is_const || !val_const || !order) {
        st = px_nomem();
        goto out;
    }
    for (int v = 0; v < g->n_values; v++)
        val_const[v] = (g->values[v].flags & PX_VAL_INIT) && !(g->values[v].flags & PX_VAL_INPUT);
    if ((st = px_graph_topo_order(g, order))) goto out;
    for (int k = 0; k < g->n_nodes; k++) {
        int i = order[k];
        const px_node *n = &g->nodes[i];
        if (n->domain[0] || nondeterministic(n)) continue;
        int c = 1;
        for (int j = 0; j < n->n_inputs && c; j++)
            if (n->inputs[j] >= 0 && !val_const[n->inputs[j]]) c = 0;
        /* A graph output stays a real node of some part. */
        for (int j = 0; j < n->n_outputs && c; j++)
            if (n->outputs[j] >= 0 && (g->values[n->outputs[j]].flags & PX_VAL_OUTPUT)) c = 0;
        /* Graph-valued attributes may read outer-scope values. */
        for (int j = 0; j < n->n_attrs && c; j++)
            if (n->attrs[j].type == PX_ATTR_GRAPH || n->attrs[j].type == PX_ATTR_GRAPHS) c = 0;
        if (!c) continue;
        is_const[i] = 1;
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] >= 0) val_const[n->outputs[j]] = 1;
    }
out:
    free(val_const);
    free(order);
    if (st) {
        free(is_const);
        is_const = NULL;
    }
    *out = is_const;
    return st;
}

/* --- the graph of atoms --------------------------------------------------- */

typedef struct atoms {
    int n;              /* atom count */
    int *of_node;       /* node -> atom, -1 for constants */
    int *size;          /* nodes per atom */
    int n_edges;        /* atom edges, one per (producer atom, consumer node input) */
    int *eu, *ev;
    float *w;           /* per edge: what cutting its value costs (NULL: no weights) */
    float *wk;          /* per edge: its share of that (w over the value's edges) */
    int *val;           /* with weights: per edge, the value it carries */
    int *by_val;        /* with weights: edge ids grouped by value */
    int *succ_start, *succ;  /* CSR successors (with duplicates) */
} atoms;

static void atoms_free(atoms *A)
{
    free(A->of_node);
    free(A->size);
    free(A->eu);
    free(A->ev);
    free(A->w);
    free(A->wk);
    free(A->val);
    free(A->by_val);
    free(A->succ_start);
    free(A->succ);
}

/* Node pairs inside fusion patterns, in match order. */
typedef struct glue_list {
    const char *is_const;
    int *a, *b;
    int n, cap, oom;
} glue_list;

static void glue_pair(void *vctx, int a, int b)
{
    glue_list *c = vctx;
    if (c->is_const[a] || c->is_const[b] || c->oom) return;
    if (c->n == c->cap) {
        int nc = c->cap ? c->cap * 2 : 256;
        int *na = realloc(c->a, (size_t)nc * sizeof *na);
        if (na) c->a = na;
        int *nb = na ? realloc(c->b, (size_t)nc * sizeof *nb) : NULL;
        if (nb) c->b = nb;
        if (!na || !nb) {
            c->oom = 1;
            return;
        }
        c->cap = nc;
    }
    c->a[c->n] = a;
    c->b[c->n] = b;
    c->n++;
}

/* The weight of cutting an edge that carries value v (1 without weights). */
static float value_weight(const px_partition_opts *o, int v)
{
    if (!o || !o->edge_weight || v < 0 || v >= o->n_edge_weight) return 1.0f;
    float w = o->edge_weight[v];
    return w >= 1.0f && w == w ? (w > PX_EDGE_GLUE ? PX_EDGE_GLUE : w) : 1.0f;
}

static px_status build_atoms(const px_graph *g, const char *is_const, const px_partition_opts *o, atoms *A)
{
    int n = g->n_nodes;
    memset(A, 0, sizeof *A);
    int *parent = malloc(((size_t)n + 1) * sizeof *parent);
    int *usize = malloc(((size_t)n + 1) * sizeof *usize);
    A->of_node = malloc(((size_t)n + 1) * sizeof *A->of_node);
    A->size = calloc((size_t)n + 1, sizeof *A->size);
    px_status st = PX_OK;
    if (!parent || !usize || !A->of_node || !A->size) {
        st = px_nomem();
        goto out;
    }
    for (int i = 0; i < n; i++) {
        parent[i] = i;
        usize[i] = 1;
    }
    (void)usize;
    /* atoms numbered by their first node, so numbering follows node order */
    int *root_atom = malloc(((size_t)n + 1) * sizeof *root_atom);
    if (!root_atom) {
        st = px_nomem();
        goto out;
    }
    for (int i = 0; i < n; i++) root_atom[i] = -1;
    for (int i = 0; i < n; i++) {
        if (is_const[i]) {
            A->of_node[i] = -1;
            continue;
        }
        int r = uf_find(parent, i);
        if (root_atom[r] < 0) root_atom[r] = A->n++;
        A->of_node[i] = root_atom[r];
        A->size[root_atom[r]]++;
    }
    free(root_atom);
    /* edges between atoms: one per (consumer node input) whose producer is
     * in another atom; multiplicity makes strongly tied atoms likelier to
     * be contracted, as in Karger's algorithm */
    size_t cap = 0;
    for (int i = 0; i < n; i++) cap += (size_t)g->nodes[i].n_inputs;
    A->eu = malloc((cap + 1) * sizeof *A->eu);
    A->ev = malloc((cap + 1) * sizeof *A->ev);
    if (o && o->edge_weight) {
        A->w = malloc((cap + 1) * sizeof *A->w);
        A->wk = malloc((cap + 1) * sizeof *A->wk);
        A->val = malloc((cap + 1) * sizeof *A->val);
        A->by_val = malloc((cap + 1) * sizeof *A->by_val);
    }
    if (!A->eu || !A->ev || (o && o->edge_weight && (!A->w || !A->wk || !A->val || !A->by_val))) {
        st = px_nomem();
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (is_const[i]) continue;
        const px_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_inputs; j++) {
            int v = nd->inputs[j];
            if (v < 0) continue;
            int p = g->values[v].producer;
            if (p < 0 || is_const[p]) continue;
            int a = A->of_node[p], b = A->of_node[i];
            if (a == b) continue;
            A->eu[A->n_edges] = a;
            A->ev[A->n_edges] = b;
            if (A->w) {
                A->w[A->n_edges] = value_weight(o, v);
                A->val[A->n_edges] = v;
            }
            A->n_edges++;
        }
    }
    if (A->w) {
        /* edges grouped by value (counting sort, stable) */
        int *start = calloc((size_t)g->n_values + 2, sizeof *start);
        if (!start) {
            st = px_nomem();
            goto out;
        }
        for (int e = 0; e < A->n_edges; e++) start[A->val[e] + 1]++;
        /* a value read by m other atoms costs its weight once however many
         * of those edges are cut: each edge carries 1/m of it */
        for (int e = 0; e < A->n_edges; e++) A->wk[e] = A->w[e] / (float)start[A->val[e] + 1];
        for (int v = 0; v < g->n_values; v++) start[v + 1] += start[v];
        for (int e = 0; e < A->n_edges; e++) A->by_val[start[A->val[e]]++] = e;
        free(start);
    }
    A->succ_start = calloc((size_t)A->n + 1, sizeof *A->succ_start);
    A->succ = malloc(((size_t)A->n_edges + 1) * sizeof *A->succ);
    if (!A->succ_start || !A->succ) {
        st = px_nomem();
        goto out;
    }
    for (int e = 0; e < A->n_edges; e++) A->succ_start[A->eu[e] + 1]++;
    for (int a = 0; a < A->n; a++) A->succ_start[a + 1] += A->succ_start[a];
    int *fill = calloc((size_t)A->n + 1, sizeof *fill);
    if (!fill) {
        st = px_nomem();
        goto out;
    }
    for (int e = 0; e < A->n_edges; e++) A->succ[A->succ_start[A->eu[e]] + fill[A->eu[e]]++] = A->ev[e];
    free(fill);
out:
    free(parent);
    free(usize);
    return st;
}

/* With weights: what a part under a quarter of the target size costs in a
 * trial's score (a layout conversion's weight: such parts hide little). */
#define PX_SMALL_PART_COST 10.0

/* --- contraction ----------------------------------------------------------- */

typedef struct trial {
    int *parent, *size;   /* union-find over atoms; size in nodes */
    int *stamp, *stack;
    int stamp_now;
    /* per cluster root: list of atoms (to walk successors of a cluster) */
    int *next_atom, *last_atom;
} trial;

/* Is there a path from cluster ra to cluster rb that leaves ra through a
 * cluster other than rb?  (Then merging ra and rb would close a cycle.) */
static int reaches_indirectly(const atoms *A, trial *T, int ra, int rb)
{
    int sp = 0;
    T->stamp_now++;
    /* push every successor cluster of ra other than rb */
    for (int a = ra; a >= 0; a = T->next_atom[a])
        for (int k = A->succ_start[a]; k < A->succ_start[a + 1]; k++) {
            int c = uf_find(T->parent, A->succ[k]);
            if (c == ra || c == rb || T->stamp[c] == T->stamp_now) continue;
            T->stamp[c] = T->stamp_now;
            T->stack[sp++] = c;
        }
    while (sp > 0) {
        int c = T->stack[--sp];
        for (int a = c; a >= 0; a = T->next_atom[a])
            for (int k = A->succ_start[a]; k < A->succ_start[a + 1]; k++) {
                int d = uf_find(T->parent, A->succ[k]);
                if (d == rb) return 1;
                if (d == c || d == ra || T->stamp[d] == T->stamp_now) continue;
                T->stamp[d] = T->stamp_now;
                T->stack[sp++] = d;
            }
    }
    return 0;
}

static int merge_clusters(trial *T, int ra, int rb)
{
    int r = uf_union(T->parent, T->size, ra, rb);
    int other = r == ra ? rb : ra;
    /* splice other's atom list onto r's */
    T->next_atom[T->last_atom[r]] = other;
    T->last_atom[r] = T->last_atom[other];
    return r;
}

static void trial_reset(const atoms *A, trial *T)
{
    for (int a = 0; a < A->n; a++) {
        T->parent[a] = a;
        T->size[a] = A->size[a];
        T->next_atom[a] = -1;
        T->last_atom[a] = a;
        T->stamp[a] = 0;
    }
    T->stamp_now = 0;
}

static void trial_copy(const atoms *A, trial *dst, const trial *src)
{
    size_t n = (size_t)A->n * sizeof(int);
    memcpy(dst->parent, src->parent, n);
    memcpy(dst->size, src->size, n);
    memcpy(dst->next_atom, src->next_atom, n);
    memcpy(dst->last_atom, src->last_atom, n);
    memset(dst->stamp, 0, n);
    dst->stamp_now = 0;
}

/* Phase 1: keep fusion patterns whole.  Each glued pair is contracted unless
 * that would make the graph of groups cyclic (then the pattern is cut:
 * convexity comes first), a group would pass cap (0: no cap), or the
 * count is down to floor.  Returns the group count. */
static int glue_patterns(const atoms *A, trial *T, const glue_list *gl, int clusters, int cap, int floor)
{
    for (int i = 0; i < gl->n && clusters > floor; i++) {
        int ra = uf_find(T->parent, A->of_node[gl->a[i]]), rb = uf_find(T->parent, A->of_node[gl->b[i]]);
        if (ra == rb || (cap > 0 && T->size[ra] + T->size[rb] > cap) || reaches_indirectly(A, T, ra, rb)) continue;
        merge_clusters(T, ra, rb);
        clusters--;
    }
    return clusters;
}

typedef struct edge_key {
    double key;
    int e;
} edge_key;

static int by_key(const void *pa, const void *pb)
{
    const edge_key *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->e < b->e ? -1 : a->e > b->e;
}

/* Phase 2: one randomized contraction from the glued state.  Without
 * weights every edge order is equally likely; with weights, an edge of
 * weight w (its value's, or with shared its share of it) comes first with
 * probability proportional to w (keys -ln(u)/w, Efraimidis-Spirakis), so
 * heavy edges end up inside parts. */
static int run_trial(const atoms *A, trial *T, px_rng *rng, int clusters, int target, int cap, int *order,
                     edge_key *keys, int shared)
{
    for (int e = 0; e < A->n_edges; e++) order[e] = e;
    if (A->w) {
        for (int e = 0; e < A->n_edges; e++) {
            double u = px_rng_unit(rng);
            keys[e].key = -log(u > 0 ? u : 1e-300) / (shared ? A->wk[e] : A->w[e]);
            keys[e].e = e;
        }
        qsort(keys, (size_t)A->n_edges, sizeof *keys, by_key);
        for (int e = 0; e < A->n_edges; e++) order[e] = keys[e].e;
    } else
        for (int e = A->n_edges - 1; e > 0; e--) {
            int j = (int)px_rng_below(rng, (uint64_t)e + 1);
            int t = order[e];
            order[e] = order[j];
            order[j] = t;
        }
    for (int k = 0; k < A->n_edges && clusters > target; k++) {
        int e = order[k];
        int ra = uf_find(T->parent, A->eu[e]), rb = uf_find(T->parent, A->ev[e]);
        if (ra == rb || T->size[ra] + T->size[rb] > cap) continue;
        if (reaches_indirectly(A, T, ra, rb)) continue;
        merge_clusters(T, ra, rb);
        clusters--;
    }
    return clusters;
}

/* Balance (standard deviation of part sizes; parts under small nodes are
 * counted in *n_small), cut edges, and with weights
 * what the cut costs: a value's weight once per part that receives it (one
 * reorder serves every reader in that part).  seen: A->n ints. */
static double size_stddev(const atoms *A, trial *T, int small, int *cut, double *wcut, int *n_small, int *seen)
{
    double sum = 0, sq = 0;
    int n = 0;
    *n_small = 0;
    for (int a = 0; a < A->n; a++)
        if (uf_find(T->parent, a) == a) {
            sum += T->size[a];
            sq += (double)T->size[a] * T->size[a];
            n++;
            *n_small += T->size[a] < small;
        }
    *cut = 0;
    *wcut = 0;
    for (int e = 0; e < A->n_edges; e++)
        if (uf_find(T->parent, A->eu[e]) != uf_find(T->parent, A->ev[e])) (*cut)++;
    if (!A->w) *wcut = *cut;
    else {
        for (int a = 0; a < A->n; a++) seen[a] = -1;
        for (int k = 0; k < A->n_edges; k++) {
            int e = A->by_val[k];
            int ru = uf_find(T->parent, A->eu[e]), rv = uf_find(T->parent, A->ev[e]);
            if (ru == rv || seen[rv] == A->val[e]) continue;
            seen[rv] = A->val[e];
            *wcut += A->w[e];
        }
    }
    double mean = sum / (n ? n : 1);
    return sqrt(sq / (n ? n : 1) - mean * mean);
}

/* Numbers clusters in a topological order of the cluster graph. */
static px_status number_parts(const atoms *A, const int *root_of_atom, int *part_of_atom, int *n_parts)
{
    int n = A->n;
    int *id = malloc(((size_t)n + 1) * sizeof *id);
    int *indeg = calloc((size_t)n + 1, sizeof *indeg);
    int *queue = malloc(((size_t)n + 1) * sizeof *queue);
    int *members_start = calloc((size_t)n + 2, sizeof *members_start);
    int *members = malloc(((size_t)n + 1) * sizeof *members);
    int *fill = calloc((size_t)n + 1, sizeof *fill);
    px_status st = PX_OK;
    if (!id || !indeg || !queue || !members_start || !members || !fill) {
        st = px_nomem();
        goto out;
    }
    int k = 0;
    for (int a = 0; a < n; a++) id[a] = -1;
    for (int a = 0; a < n; a++)
        if (id[root_of_atom[a]] < 0) id[root_of_atom[a]] = k++;
    for (int a = 0; a < n; a++) members_start[id[root_of_atom[a]] + 1]++;
    for (int c = 0; c < k; c++) members_start[c + 1] += members_start[c];
    for (int a = 0; a < n; a++) {
        int c = id[root_of_atom[a]];
        members[members_start[c] + fill[c]++] = a;
    }
    for (int e = 0; e < A->n_edges; e++) {
        int cu = id[root_of_atom[A->eu[e]]], cv = id[root_of_atom[A->ev[e]]];
        if (cu != cv) indeg[cv]++;
    }
    int head = 0, tail = 0, done = 0;
    for (int c = 0; c < k; c++)
        if (!indeg[c]) queue[tail++] = c;
    int *topo = fill; /* reuse: cluster -> topo number */
    while (head < tail) {
        int c = queue[head++];
        topo[c] = done++;
        for (int m = members_start[c]; m < members_start[c + 1]; m++) {
            int a = members[m];
            for (int s = A->succ_start[a]; s < A->succ_start[a + 1]; s++) {
                int cv = id[root_of_atom[A->succ[s]]];
                if (cv != c && --indeg[cv] == 0) queue[tail++] = cv;
            }
        }
    }
    if (done != k) {
        st = px_fail(PX_ERR_INVALID, "internal: partition is not convex");
        goto out;
    }
    for (int a = 0; a < n; a++) part_of_atom[a] = topo[id[root_of_atom[a]]];
    *n_parts = k;
out:
    free(id);
    free(indeg);
    free(queue);
    free(members_start);
    free(members);
    free(fill);
    return st;
}

px_status px_partition_graph(px_graph *g, const px_partition_opts *opts, px_partition *out)
{
    memset(out, 0, sizeof *out);
    px_status st = px_graph_index(g);
    if (st) return st;
    int size = opts && opts->subgraph_size > 0 ? opts->subgraph_size : 12;
    int weighted = opts && opts->edge_weight && opts->n_edge_weight > 0;
    int trials = opts && opts->trials > 0 ? opts->trials : weighted ? 64 : 16;
    char *is_const = NULL;
    if ((st = px_partition_constant_nodes(g, &is_const))) return st;
    atoms A;
    if ((st = build_atoms(g, is_const, weighted ? opts : NULL, &A))) {
        free(is_const);
        atoms_free(&A);
        return st;
    }
    int real_nodes = 0;
    for (int i = 0; i < g->n_nodes; i++) real_nodes += !is_const[i];
    int target = opts && opts->n_parts > 0 ? opts->n_parts : (real_nodes + size - 1) / size;
    if (target < 1) target = 1;
    /* The size cap keeps parts balanced; with -n the cap follows from n. */
    int per = (real_nodes + target - 1) / target;
    int cap = per + (per + 1) / 2;
    if (cap < 2) cap = 2;
    int small = per / 4 > 2 ? per / 4 : 2;

    trial T, T0;
    int na = A.n ? A.n : 1;
    int *mem = malloc((size_t)na * 10 * sizeof(int));
    T.parent = mem;
    T.size = mem + na;
    T.stamp = mem + 2 * na;
    T.stack = mem + 3 * na;
    T.next_atom = mem + 4 * na;
    T.last_atom = mem + 5 * na;
    T0 = T;
    T0.parent = mem + 6 * na;
    T0.size = mem + 7 * na;
    T0.next_atom = mem + 8 * na;
    T0.last_atom = mem + 9 * na;
    glue_list gl = {.is_const = is_const};
    int *order = malloc(((size_t)A.n_edges + 1) * sizeof(int));
    int *seen = weighted ? malloc((size_t)na * sizeof *seen) : NULL;
    edge_key *keys = weighted ? malloc(((size_t)A.n_edges + 1) * sizeof *keys) : NULL;
    glue_list lg = {.is_const = is_const};
    int *best_root = malloc((size_t)na * sizeof(int));
    int *part_of_atom = malloc((size_t)na * sizeof(int));
    out->part_of = malloc(((size_t)g->n_nodes + 1) * sizeof(int));
    if (!mem || !order || !best_root || !part_of_atom || !out->part_of || (weighted && (!keys || !seen))) {
        st = px_nomem();
        goto done;
    }
    px_fusion_match(g, glue_pair, &gl);
    if (gl.oom) {
        st = px_nomem();
        goto done;
    }
    /* with weights: what the reference optimizer fused first, then the
     * table.  A learned group may be large: it is held to the target size
     * (the table's to the cap), and gluing stops at the requested count. */
    if (weighted) {
        for (int i = 0; i < g->n_nodes; i++) {
            const px_node *nd = &g->nodes[i];
            for (int j = 0; j < nd->n_inputs; j++) {
                int v = nd->inputs[j];
                if (v < 0 || g->values[v].producer < 0 || value_weight(opts, v) < PX_EDGE_GLUE) continue;
                glue_pair(&lg, g->values[v].producer, i);
            }
        }
        if (lg.oom) {
            st = px_nomem();
            goto done;
        }
    }
    trial_reset(&A, &T0);
    int glued = glue_patterns(&A, &T0, &lg, A.n, per > 1 ? per : 2, target);
    glued = glue_patterns(&A, &T0, &gl, glued, weighted ? cap : 0, weighted ? target : 0);
    px_rng rng;
    px_rng_seed(&rng, opts ? opts->seed : 0);
    double best = INFINITY, best_wcut = 0;
    int best_cut = 0, best_clusters = 0;
    for (int t = 0; t < trials; t++) {
        trial_copy(&A, &T, &T0);
        /* with weights, every other trial draws edges by their share of
         * their value's weight (a value read by several parts costs its
         * weight once), the others by the whole weight (a cost that sits on
         * one reader, such as an Add fused as a sum): two kinds of
         * candidates, one score */
        int clusters = run_trial(&A, &T, &rng, glued, target, cap, order, keys, t % 2);
        int cut;
        double wcut;
        int n_small;
        double sd = size_stddev(&A, &T, small, &cut, &wcut, &n_small, seen);
        /* closest to the requested count first, then balance, then cuts;
         * with weights: the count, then what the cut costs, a tiny part
         * (under a quarter of the target size) costing as much as a
         * layout conversion, then balance (the size cap bounds it) */
        double score = weighted ? fabs((double)clusters - target) * 1e9 + wcut + n_small * PX_SMALL_PART_COST + sd * 1e-3
                                : fabs((double)clusters - target) * 1e6 + sd * 1e3 + cut * 1e-3;
        if (score < best) {
            best = score;
            best_cut = cut;
            best_wcut = wcut;
            best_clusters = clusters;
            for (int a = 0; a < A.n; a++) best_root[a] = uf_find(T.parent, a);
        }
    }
    (void)best_clusters;
    int n_parts = 0;
    if (A.n && (st = number_parts(&A, best_root, part_of_atom, &n_parts))) goto done;
    out->n_parts = n_parts;
    out->cut_edges = best_cut;
    out->cut_weight = best_wcut;
    out->part_size = calloc((size_t)n_parts + 1, sizeof(int));
    if (!out->part_size) {
        st = px_nomem();
        goto done;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        out->part_of[i] = is_const[i] ? -1 : part_of_atom[A.of_node[i]];
        if (out->part_of[i] >= 0) out->part_size[out->part_of[i]]++;
    }
done:
    free(mem);
    free(gl.a);
    free(gl.b);
    free(lg.a);
    free(lg.b);
    free(keys);
    free(seen);
    free(order);
    free(best_root);
    free(part_of_atom);
    free(is_const);
    atoms_free(&A);
    if (st) px_partition_free(out);
    return st;
}

void px_partition_free(px_partition *p)
{
    free(p->part_of);
    free(p->part_size);
    memset(p, 0, sizeof *p);
}

px_status px_partition_check_convex(const px_graph *g, const px_partition *p)
{
    /* Build the part graph and run Kahn's algorithm on it. */
    int k = p->n_parts;
    char *adj = calloc((size_t)k * (size_t)k + 1, 1);
    int *indeg = calloc((size_t)k + 1, sizeof *indeg);
    int *queue = malloc(((size_t)k + 1) * sizeof *queue);
    px_status st = PX_OK;
    if (!adj || !indeg || !queue) {
        st = px_nomem();
        goto out;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        int b = p->part_of[i];
        if (b < 0) continue;
        const px_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++) {
            int v = n->inputs[j];
            if (v < 0 || g->values[v].producer < 0) continue;
            int a = p->part_of[g->values[v].producer];
            if (a < 0 || a == b || adj[(size_t)a * k + b]) continue;
            adj[(size_t)a * k + b] = 1;
            indeg[b]++;
        }
    }
    int head = 0, tail = 0;
    for (int c = 0; c < k; c++)
        if (!indeg[c]) queue[tail++] = c;
    while (head < tail) {
        int c = queue[head++];
        for (int d = 0; d < k; d++)
            if (adj[(size_t)c * k + d] && --indeg[d] == 0) queue[tail++] = d;
    }
    if (tail != k)
        for (int c = 0; c < k; c++)
            if (indeg[c]) {
                st = px_fail(PX_ERR_INVALID, "partition is not convex: part %d lies on a cycle of parts", c);
                break;
            }
out:
    free(adj);
    free(indeg);
    free(queue);
    return st;
}
