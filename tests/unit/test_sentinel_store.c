/* Sentinel weights stored as the model stores its own (src/sentinel/store.c). */
#include <stdio.h>
#include <string.h>

#include "ir/build.h"
#include "ir/graph.h"
#include "sentinel/sentinel.h"
#include "testing.h"

/* x -> Conv(x, W, B) -> y; W [4, 3, 1, 1] with data unless weightless, B [4] */
static void conv_graph(px_graph *g, int weightless)
{
    int counter = 0, w, b, y, x;
    px_graph_init(g);
    px_graph_set_opset(g, "", 17);
    x = px_build_value(g, &counter);
    int64_t xd[4] = {1, 3, 8, 8}, wd[4] = {4, 3, 1, 1}, bd[1] = {4};
    g->values[x].dtype = PX_DT_FLOAT;
    px_shape_set_known(g, &g->values[x].shape, 4, xd);
    px_graph_add_input(g, x);
    px_tensor *wt = px_tensor_new(PX_DT_FLOAT, 4, wd), *bt = px_tensor_new(PX_DT_FLOAT, 1, bd);
    if (!weightless) px_tensor_alloc_data(wt);
    px_tensor_alloc_data(bt);
    px_build_init(g, &counter, wt, &w);
    px_build_init(g, &counter, bt, &b);
    int ins[3] = {x, w, b};
    px_build_node(g, &counter, "Conv", ins, 3, &y, NULL);
    px_graph_add_output(g, y);
}

static int count_op(const px_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += !strcmp(g->nodes[i].op_type, op);
    return n;
}

/* conv_graph(weightless) after px_sentinel_store_like(consts, inits), which must succeed */
static void stored(px_graph *g, int weightless, int consts, int inits)
{
    px_rng rng;
    px_rng_seed(&rng, 1);
    conv_graph(g, weightless);
    CHECK_EQ_INT(px_sentinel_store_like(g, consts, inits, &rng), PX_OK);
}

static void test_storage_counts(void)
{
    px_graph g;
    conv_graph(&g, 0);
    int c, i;
    px_sentinel_storage(&g, &c, &i);
    CHECK_EQ_INT(c, 0);
    CHECK_EQ_INT(i, 2);
    px_sentinel_storage(NULL, &c, &i);
    CHECK_EQ_INT(c + i, 0);
    px_graph_free(&g);
}

static void test_all_to_constants(void)
{
    px_graph g;
    stored(&g, 0, 5, 0);
    CHECK_EQ_INT(g.n_inits, 0);
    CHECK_EQ_INT(count_op(&g, "Constant"), 2);
    CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
    /* sorted: the Constants come before the Conv that reads them */
    CHECK_STR(g.nodes[g.n_nodes - 1].op_type, "Conv");
    int c, i;
    px_sentinel_storage(&g, &c, &i);
    CHECK_EQ_INT(c, 2);
    CHECK_EQ_INT(i, 0);
    px_graph_free(&g);
}

static void test_none_without_constants(void)
{
    px_graph g;
    stored(&g, 0, 0, 7);
    CHECK_EQ_INT(g.n_inits, 2);
    CHECK_EQ_INT(count_op(&g, "Constant"), 0);
    px_graph_free(&g);
}

/* a tensor without data (a weightless model) cannot be a Constant */
static void test_weightless_stays(void)
{
    px_graph g;
    stored(&g, 1, 5, 0);
    CHECK_EQ_INT(g.n_inits, 1);
    CHECK_EQ_INT(count_op(&g, "Constant"), 1);
    CHECK_EQ_INT(px_graph_validate(&g), PX_OK);
    px_graph_free(&g);
}

int main(void)
{
    RUN(test_storage_counts);
    RUN(test_all_to_constants);
    RUN(test_none_without_constants);
    RUN(test_weightless_stays);
    return test_summary("sentinel_store");
}
