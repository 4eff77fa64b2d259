/* Canonical node order and names (ir/canon.h): the same graph written in
 * another order, with other names, canonicalizes to the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/canon.h"
#include "ir/digest.h"
#include "onnx/onnx_io.h"
#include "testing.h"
#include "util/fileio.h"
#include "util/rng.h"

static int value(px_graph *g, const char *name)
{
    int v = px_graph_find(g, name);
    return v >= 0 ? v : px_graph_add_value(g, name);
}

static void node(px_graph *g, const char *op, const char *name, const char *in0, const char *in1, const char *out)
{
    int n = px_graph_add_node(g, op, "", name);
    int ins[2] = {value(g, in0), in1 ? value(g, in1) : -1}, o = value(g, out);
    px_node_set_inputs(g, n, ins, in1 ? 2 : 1);
    px_node_set_outputs(g, n, &o, 1);
}

/* x -> two identical Relus (one read by Sigmoid, one by Tanh), their
 * results added; a third Relu copy feeds graph output 1; a fourth and
 * fifth copy feed outputs 2 and 3 (copies told apart by output position
 * only).  variant 1 adds the nodes in another order under other names. */
static void build_ties(px_graph *g, int variant)
{
    px_graph_init(g);
    g->ir_version = 8;
    /* opset imports in another order too */
    const char *domains[2][3] = {{"", "com.z", "com.a"}, {"com.a", "", "com.z"}};
    for (int i = 0; i < 3; i++) px_graph_set_opset(g, domains[variant][i], 13);
    int x = px_graph_add_value(g, "x");
    g->values[x].dtype = PX_DT_FLOAT;
    px_graph_add_input(g, x);
    if (!variant) {
        node(g, "Relu", "a", "x", NULL, "r1");
        node(g, "Relu", "b", "x", NULL, "r2");
        node(g, "Sigmoid", "c", "r1", NULL, "s");
        node(g, "Tanh", "d", "r2", NULL, "t");
        node(g, "Add", "e", "s", "t", "y");
        node(g, "Relu", "f", "x", NULL, "z");
        node(g, "Relu", "g", "x", NULL, "o2");
        node(g, "Relu", "h", "x", NULL, "o3");
    } else {
        node(g, "Relu", "H", "x", NULL, "o3");
        node(g, "Relu", "G", "x", NULL, "o2");
        node(g, "Relu", "F", "x", NULL, "z");
        node(g, "Relu", "B", "x", NULL, "q2");
        node(g, "Tanh", "D", "q2", NULL, "T");
        node(g, "Relu", "A", "x", NULL, "q1");
        node(g, "Sigmoid", "C", "q1", NULL, "S");
        node(g, "Add", "E", "S", "T", "y");
    }
    px_graph_add_output(g, px_graph_find(g, "y"));
    px_graph_add_output(g, px_graph_find(g, "z"));
    px_graph_add_output(g, px_graph_find(g, "o2"));
    px_graph_add_output(g, px_graph_find(g, "o3"));
}

static int same_digest(const px_graph *a, const px_graph *b)
{
    uint8_t da[32], db[32];
    px_graph_digest(a, da);
    px_graph_digest(b, db);
    return !memcmp(da, db, sizeof da);
}

/* Builds both variants, which differ, and canonicalizes them alike. */
static void canon_pair(void (*build)(px_graph *, int), px_graph *a, px_graph *b)
{
    build(a, 0);
    build(b, 1);
    CHECK(!same_digest(a, b));
    CHECK_EQ_INT(px_graph_canonicalize(a, 0), PX_OK);
    CHECK_EQ_INT(px_graph_canonicalize(b, 0), PX_OK);
    CHECK(same_digest(a, b));
}

static void test_ties(void)
{
    px_graph a, b;
    canon_pair(build_ties, &a, &b);
    /* the Relu read by Sigmoid is the same node in both */
    for (int i = 0; i < a.n_nodes; i++) {
        CHECK_STR(a.nodes[i].name, b.nodes[i].name);
        CHECK_STR(a.nodes[i].op_type, b.nodes[i].op_type);
    }
    /* interface names stay; the rest follow their producer */
    CHECK_STR(a.opsets[0].domain, "");
    CHECK_STR(a.opsets[2].domain, "com.z");
    CHECK_STR(a.values[a.outputs[0]].name, "y");
    CHECK_STR(a.values[a.outputs[3]].name, "o3");
    int sig = -1;
    for (int i = 0; i < a.n_nodes; i++)
        if (!strcmp(a.nodes[i].op_type, "Sigmoid")) sig = i;
    CHECK(sig >= 0);
    if (sig >= 0) {
        const px_node *relu = &a.nodes[a.values[a.nodes[sig].inputs[0]].producer];
        CHECK_STR(relu->op_type, "Relu");
        char want[64];
        snprintf(want, sizeof want, "%s_output_0", relu->name);
        CHECK_STR(a.values[a.nodes[sig].inputs[0]].name, want);
    }
    px_graph_free(&a);
    px_graph_free(&b);
}

/* A symmetric graph: x -> two Relu -> Sigmoid chains, d = Sub(b1, b2) and
 * e = Sub(b2, b1) read by nothing.  Swapping the chains maps the graph onto
 * itself, so the chains' nodes have equal keys and only the positions of
 * what they read tell the Sigmoids apart; variant 1 lists the Sigmoid of
 * the second Relu first. */
static void build_symmetric(px_graph *g, int variant)
{
    px_graph_init(g);
    px_graph_set_opset(g, "", 13);
    px_graph_add_input(g, px_graph_add_value(g, "x"));
    node(g, "Relu", "r1", "x", NULL, "a1");
    node(g, "Relu", "r2", "x", NULL, "a2");
    if (!variant) {
        node(g, "Sigmoid", "s1", "a1", NULL, "b1");
        node(g, "Sigmoid", "s2", "a2", NULL, "b2");
    } else {
        node(g, "Sigmoid", "s2", "a2", NULL, "b2");
        node(g, "Sigmoid", "s1", "a1", NULL, "b1");
    }
    node(g, "Sub", "d", "b1", "b2", "d");
    node(g, "Sub", "e", "b2", "b1", "e");
}

static void test_symmetric(void)
{
    px_graph a, b;
    canon_pair(build_symmetric, &a, &b);
    px_graph_free(&a);
    px_graph_free(&b);
}

/* A kept value (keep flag) keeps its name, and a generated name that
 * would take it gets a suffix. */
static void test_keep_and_clash(void)
{
    px_graph g;
    px_graph_init(&g);
    px_graph_set_opset(&g, "", 13);
    int x = px_graph_add_value(&g, "x");
    px_graph_add_input(&g, x);
    node(&g, "Relu", "n0", "x", NULL, "Neg_1_output_0"); /* kept below: its generated name would be Relu_0_output_0 */
    node(&g, "Neg", "n1", "Neg_1_output_0", NULL, "m");
    node(&g, "Abs", "n2", "m", NULL, "y");
    px_graph_add_output(&g, px_graph_find(&g, "y"));
    g.values[px_graph_find(&g, "Neg_1_output_0")].flags |= PX_VAL_SEAM;
    CHECK_EQ_INT(px_graph_canonicalize(&g, PX_VAL_SEAM), PX_OK);
    CHECK_STR(g.nodes[1].name, "Neg_1");
    CHECK_STR(g.values[g.nodes[0].outputs[0]].name, "Neg_1_output_0");
    CHECK_STR(g.values[g.nodes[1].outputs[0]].name, "Neg_1_output_0~1");
    CHECK_EQ_INT(px_graph_find(&g, "Neg_1_output_0~1"), g.nodes[1].outputs[0]);
    CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
    px_graph_free(&g);
}

/* What another optimizer session could write: a random topological order,
 * random names for every value but the interface, shuffled initializers. */
static void scramble(px_graph *g, uint64_t seed)
{
    px_rng r;
    px_rng_seed(&r, seed);
    for (int i = g->n_nodes - 1; i > 0; i--) {
        int j = (int)px_rng_below(&r, (uint64_t)i + 1);
        px_node t = g->nodes[i];
        g->nodes[i] = g->nodes[j];
        g->nodes[j] = t;
    }
    g->index_valid = 0;
    CHECK_EQ_INT(px_graph_sort(g), PX_OK); /* stable: keeps the shuffle where edges allow */
    for (int i = g->n_inits - 1; i > 0; i--) {
        int j = (int)px_rng_below(&r, (uint64_t)i + 1), t = g->inits[i];
        g->inits[i] = g->inits[j];
        g->inits[j] = t;
    }
    char name[64];
    for (int v = 0; v < g->n_values; v++) {
        if (g->values[v].flags & (PX_VAL_INPUT | PX_VAL_OUTPUT)) continue;
        snprintf(name, sizeof name, "s%016llx_%d", (unsigned long long)px_rng_next(&r), v);
        CHECK_EQ_INT(px_graph_rename_value(g, v, name), PX_OK);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        snprintf(name, sizeof name, "n%016llx", (unsigned long long)px_rng_next(&r));
        g->nodes[i].name = px_arena_strdup(&g->arena, name);
    }
}

static int file_equal(const char *a, const char *b)
{
    char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    int eq = px_read_file(a, &da, &la) == PX_OK && px_read_file(b, &db, &lb) == PX_OK && la == lb &&
             !memcmp(da, db, la);
    free(da);
    free(db);
    return eq;
}

/* Real models (weightless corpus files: every weight of a shape hashes
 * alike, so ties are many): two scrambles canonicalize to the same bytes. */
static void test_corpus_model(const char *rel)
{
    char path[1024], dir[] = "/tmp/px-canon-XXXXXX", out[2][1100];
    snprintf(path, sizeof path, "%s/%s", PX_SOURCE_ROOT, rel);
    CHECK(mkdtemp(dir) != NULL);
    px_graph g[2];
    for (int k = 0; k < 2; k++) {
        px_graph_init(&g[k]);
        CHECK_EQ_INT(px_onnx_load(path, &g[k]), PX_OK);
        scramble(&g[k], 7 + (uint64_t)k);
    }
    CHECK(g[0].n_nodes > 100);
    CHECK(!same_digest(&g[0], &g[1]));
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(px_graph_canonicalize(&g[k], 0), PX_OK);
        CHECK_EQ_INT(px_graph_validate(&g[k]), PX_OK);
        snprintf(out[k], sizeof out[k], "%s/%d.onnx", dir, k);
        px_save_opts so = {0};
        CHECK_EQ_INT(px_onnx_save(&g[k], out[k], &so), PX_OK);
    }
    if (!same_digest(&g[0], &g[1]) || !file_equal(out[0], out[1])) {
        fprintf(stderr, "%s: canonical forms differ\n", rel);
        CHECK(0);
    }
    for (int k = 0; k < 2; k++) {
        px_graph_free(&g[k]);
        unlink(out[k]);
    }
    rmdir(dir);
}

int main(void)
{
    RUN(test_ties);
    RUN(test_symmetric);
    RUN(test_keep_and_clash);
    test_corpus_model("corpus/models/bert-op17.onnx");
    test_corpus_model("corpus/models/densenet121-op17.onnx");
    test_corpus_model("corpus/holdout/swin_t-op17.onnx");
    return test_summary("canon");
}
