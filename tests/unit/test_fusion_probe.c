/* Edge weights learned from the reference optimizer: parsing the probe's
 * output, --fusion-from, and how the partitioner uses the weights (glued
 * values never cut, heavy edges cut less, no weights = the old partition). */
#include <stdint.h>
#include <stdlib.h>

#include "ir/graph.h"
#include "partition/fusion_probe.h"
#include "partition/partition.h"
#include "reassemble/seam.h"
#include "shape/shape_infer.h"
#include "testing.h"

static int value(px_graph *g, const char *name)
{
    int v = px_graph_value(g, name);
    g->values[v].dtype = PX_DT_FLOAT;
    int64_t d[2] = {1, 8};
    px_shape_set_known(g, &g->values[v].shape, 2, d);
    return v;
}

static void node(px_graph *g, const char *op, const char *name, const char *in0, const char *in1, const char *out)
{
    int n = px_graph_add_node(g, op, "", name);
    int ins[2] = {value(g, in0), in1 ? value(g, in1) : -1};
    px_node_set_inputs(g, n, ins, in1 ? 2 : 1);
    int o = value(g, out);
    px_node_set_outputs(g, n, &o, 1);
}

/* A chain of len blocks x -> Exp(e_i) -> Log(l_i) -> Add(l_i, prev)=s_i:
 * ops the fusion table knows nothing about. */
static void build_chain(px_graph *g, int len)
{
    px_graph_init(g);
    g->ir_version = 8;
    px_graph_set_opset(g, "", 17);
    px_graph_add_input(g, value(g, "x"));
    char prev[32] = "x", e[32], l[32], s[32], nm[32];
    for (int i = 0; i < len; i++) {
        snprintf(e, sizeof e, "e%d", i);
        snprintf(l, sizeof l, "l%d", i);
        snprintf(s, sizeof s, "s%d", i);
        snprintf(nm, sizeof nm, "E%d", i);
        node(g, "Exp", nm, prev, NULL, e);
        snprintf(nm, sizeof nm, "L%d", i);
        node(g, "Log", nm, e, NULL, l);
        snprintf(nm, sizeof nm, "S%d", i);
        node(g, "Add", nm, l, prev, s);
        snprintf(prev, sizeof prev, "%s", s);
    }
    px_graph_add_output(g, px_graph_find(g, prev));
}

static void test_source_parse(void)
{
    px_fusion_source s;
    CHECK_EQ_INT(px_fusion_source_parse("table", &s), PX_OK);
    CHECK_EQ_INT(s, PX_FUSION_TABLE);
    CHECK_EQ_INT(px_fusion_source_parse("ort:all", &s), PX_OK);
    CHECK_EQ_INT(s, PX_FUSION_ORT_ALL);
    CHECK_EQ_INT(px_fusion_source_parse("ort", &s), PX_OK);
    CHECK_EQ_INT(s, PX_FUSION_ORT_ALL);
    CHECK_EQ_INT(px_fusion_source_parse("ort:extended", &s), PX_OK);
    CHECK_EQ_INT(s, PX_FUSION_ORT_EXTENDED);
    CHECK_STR(px_fusion_source_level(PX_FUSION_ORT_BASIC), "basic");
    CHECK(px_fusion_source_level(PX_FUSION_TABLE) == NULL);
    CHECK_EQ_INT(px_fusion_source_parse("ort:fast", &s), PX_ERR_USAGE);
    CHECK_CONTAINS(px_last_error(), "'ort:fast' is not one of ort:all, ort:extended, ort:basic, table");
    CHECK_EQ_INT(px_fusion_source_parse(NULL, &s), PX_ERR_USAGE);
}

static void test_weights_from_json(void)
{
    px_graph g;
    build_chain(&g, 3);
    const char *js = "{\"level\":\"all\",\"fused\":[\"e0\",\"e1\",\"gone\"],\"folded\":[\"l2\"],\"blocked\":[\"s0\",\"e0\"],\"residual\":[\"s1\"],\"exposed\":[\"l1\"]}";
    float *w = NULL;
    px_fusion_counts c;
    CHECK_EQ_INT(px_fusion_weights_from_json(&g, js, strlen(js), &w, &c), PX_OK);
    CHECK(w != NULL);
    if (w) {
        CHECK(w[px_graph_find(&g, "e0")] >= PX_EDGE_GLUE); /* listed twice: the heavier class */
        CHECK(w[px_graph_find(&g, "e1")] >= PX_EDGE_GLUE);
        CHECK(w[px_graph_find(&g, "l2")] >= PX_EDGE_GLUE);
        CHECK(w[px_graph_find(&g, "s0")] == PX_FUSION_BLOCKED);
        CHECK(w[px_graph_find(&g, "s1")] == PX_FUSION_RESIDUAL);
        CHECK(w[px_graph_find(&g, "l1")] == PX_FUSION_EXPOSED);
        CHECK(w[px_graph_find(&g, "l0")] == 1.0f);
        CHECK(w[px_graph_find(&g, "x")] == 1.0f);
    }
    CHECK_EQ_INT(c.fused, 2);
    CHECK_EQ_INT(c.folded, 1);
    CHECK_EQ_INT(c.blocked, 2);
    CHECK_EQ_INT(c.residual, 1);
    CHECK_EQ_INT(c.exposed, 1);
    CHECK_EQ_INT(c.unknown, 1);
    free(w);
    /* malformed output: one clear line, nothing returned */
    const char *bad[] = {"[1,2]", "{\"fused\": 3}", "{\"fused\": [1]}", "{\"fused\": [\"e0\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        w = (float *)&c;
        CHECK(px_fusion_weights_from_json(&g, bad[i], strlen(bad[i]), &w, NULL) != PX_OK);
        CHECK(w == NULL);
        CHECK(strchr(px_last_error(), '\n') == NULL);
    }
    CHECK_CONTAINS(px_last_error(), "fusion probe output");
    const char *err = "{\"error\": \"bad model\"}";
    CHECK_EQ_INT(px_fusion_weights_from_json(&g, err, strlen(err), &w, NULL), PX_ERR_UNSUPPORTED);
    CHECK_STR(px_last_error(), "ONNX Runtime cannot optimize the model: bad model");
    CHECK(w == NULL);
    /* the table needs no probe; a missing model file is a usage error only
     * when the source was named */
    CHECK_EQ_INT(px_fusion_weights_for(NULL, &g, "table", NULL, NULL, &w), PX_OK);
    CHECK(w == NULL);
    CHECK_EQ_INT(px_fusion_weights_for(NULL, &g, NULL, NULL, NULL, &w), PX_OK);
    CHECK(w == NULL);
    CHECK_EQ_INT(px_fusion_weights_for(NULL, &g, "ort:all", NULL, NULL, &w), PX_ERR_USAGE);
    CHECK_EQ_INT(px_fusion_weights_for(NULL, &g, "ort:nope", NULL, NULL, &w), PX_ERR_USAGE);
    px_graph_free(&g);
}

static int cut(const px_graph *g, const px_partition *p, const char *val)
{
    int v = px_graph_find(g, val), a = p->part_of[g->values[v].producer];
    for (int c = g->cons_start[v]; c < g->cons_start[v + 1]; c++)
        if (p->part_of[g->cons[c]] != a) return 1;
    return 0;
}

static void test_partition_with_weights(void)
{
    px_graph g;
    build_chain(&g, 40); /* 120 nodes */
    CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
    float *w = malloc((size_t)g.n_values * sizeof *w);
    for (int v = 0; v < g.n_values; v++) w[v] = 1.0f;
    /* fused: every e_i (Exp -> Log); blocked: every l_i (Log -> Add) */
    for (int i = 0; i < 40; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "e%d", i);
        w[px_graph_find(&g, nm)] = PX_EDGE_GLUE;
        snprintf(nm, sizeof nm, "l%d", i);
        w[px_graph_find(&g, nm)] = PX_FUSION_BLOCKED;
    }
    int cut_l_table = 0, cut_l_learned = 0, cut_e_table = 0;
    for (int seed = 1; seed <= 6; seed++) {
        px_partition pt, pw, pw2;
        px_partition_opts ot = {.subgraph_size = 12, .seed = (uint64_t)seed};
        px_partition_opts ow = ot;
        ow.edge_weight = w;
        ow.n_edge_weight = g.n_values;
        CHECK_EQ_INT(px_partition_graph(&g, &ot, &pt), PX_OK);
        CHECK_EQ_INT(px_partition_graph(&g, &ow, &pw), PX_OK);
        CHECK_EQ_INT(px_partition_graph(&g, &ow, &pw2), PX_OK);
        CHECK_EQ_INT(px_partition_check_convex(&g, &pw), PX_OK);
        CHECK_EQ_INT(pw.n_parts, pt.n_parts);
        for (int i = 0; i < pw.n_parts; i++) CHECK(pw.part_size[i] >= 1 && pw.part_size[i] <= 18);
        int same = 1;
        for (int i = 0; i < g.n_nodes; i++) same &= pw.part_of[i] == pw2.part_of[i];
        CHECK(same); /* deterministic */
        CHECK(pw.cut_weight > 0 && pw.cut_edges > 0);
        CHECK(pt.cut_weight == pt.cut_edges);
        for (int i = 0; i < 40; i++) {
            char nm[16];
            snprintf(nm, sizeof nm, "e%d", i);
            CHECK(!cut(&g, &pw, nm)); /* glued: never cut */
            cut_e_table += cut(&g, &pt, nm);
            snprintf(nm, sizeof nm, "l%d", i);
            cut_l_table += cut(&g, &pt, nm);
            cut_l_learned += cut(&g, &pw, nm);
        }
        px_partition_free(&pt);
        px_partition_free(&pw);
        px_partition_free(&pw2);
    }
    /* the table alone cuts some of them; the weights steer cuts elsewhere */
    CHECK(cut_e_table > 0);
    CHECK(cut_l_learned < cut_l_table);
    /* weights shorter than the value table: the rest cost 1 */
    px_partition p;
    px_partition_opts os = {.subgraph_size = 12, .seed = 3, .edge_weight = w, .n_edge_weight = 5};
    CHECK_EQ_INT(px_partition_graph(&g, &os, &p), PX_OK);
    CHECK_EQ_INT(px_partition_check_convex(&g, &p), PX_OK);
    px_partition_free(&p);
    /* a glued group larger than the size cap is not glued whole */
    for (int v = 0; v < g.n_values; v++) w[v] = PX_EDGE_GLUE;
    px_partition_opts og = {.subgraph_size = 12, .seed = 3, .edge_weight = w, .n_edge_weight = g.n_values};
    CHECK_EQ_INT(px_partition_graph(&g, &og, &p), PX_OK);
    CHECK(p.n_parts >= 8);
    for (int i = 0; i < p.n_parts; i++) CHECK(p.part_size[i] <= 18);
    CHECK_EQ_INT(px_partition_check_convex(&g, &p), PX_OK);
    px_partition_free(&p);
    free(w);
    px_graph_free(&g);
}

static void nchwc(px_graph *g, const char *op, const char *in, const char *out, int64_t channels)
{
    int n = px_graph_add_node(g, op, "com.microsoft.nchwc", out);
    int i = px_graph_value(g, in), o = px_graph_value(g, out);
    px_node_set_inputs(g, n, &i, 1);
    px_node_set_outputs(g, n, &o, 1);
    if (channels) {
        px_attr a = {.name = "channels", .type = PX_ATTR_INT, .i = channels};
        px_node_add_attr(g, n, &a);
    }
}

/* What the learned cuts leave at seams: a ReorderOutput -> ReorderInput pair
 * goes with block padding too (24 channels: padded to 32 in 16-blocks). */
static void test_seam_reorders_with_padding(void)
{
    for (int64_t ch = 24; ch <= 32; ch += 8) {
        px_graph g;
        px_graph_init(&g);
        g.ir_version = 8;
        px_graph_set_opset(&g, "", 17);
        px_graph_set_opset(&g, "com.microsoft.nchwc", 1);
        px_graph_add_input(&g, px_graph_value(&g, "x"));
        nchwc(&g, "ReorderInput", "x", "b1", 0);
        nchwc(&g, "ReorderOutput", "b1", "p1", ch); /* the seam: end of one file */
        nchwc(&g, "ReorderInput", "p1", "b2", 0);   /* start of the next */
        nchwc(&g, "ReorderOutput", "b2", "y", ch);
        px_graph_add_output(&g, px_graph_find(&g, "y"));
        int removed = -1;
        CHECK_EQ_INT(px_seam_cleanup(&g, &removed), PX_OK);
        CHECK_EQ_INT(removed, 2);
        CHECK_EQ_INT(g.n_nodes, 2);
        px_graph_free(&g);
    }
}

int main(void)
{
    RUN(test_source_parse);
    RUN(test_weights_from_json);
    RUN(test_partition_with_weights);
    RUN(test_seam_reorders_with_padding);
    return test_summary("test_fusion_probe");
}
