/* Graph skeletons (src/ir/skeleton.h): what counts as the same structure. */
#include <stdio.h>
#include <string.h>

#include "ir/build.h"
#include "ir/graph.h"
#include "ir/skeleton.h"
#include "testing.h"

typedef struct variant {
    const char *prefix; /* value and node names */
    int reverse;        /* nodes added last to first */
    float wscale;       /* float weight values */
    int64_t c, inner;   /* input channels; the first Conv's output channels */
    int swap_concat;
    int64_t target0;    /* the Reshape target's first element */
} variant;

static const variant BASE = {"v", 0, 1.0f, 4, 6, 0, 1};

static int value(px_graph *g, const variant *v, const char *name)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s_%s", v->prefix, name);
    return px_graph_add_value(g, buf);
}

static px_tensor *floats(float scale, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t d[4] = {d0, d1, d2, d3};
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 4, d);
    px_tensor_alloc_data(t);
    for (int64_t i = 0; i < t->numel; i++) ((float *)t->data)[i] = scale * (float)(i % 7);
    return t;
}

/* a, b -> Conv(a, W1) -> Conv(., W2) -> Concat(., b) -> Reshape(., target) -> y */
static void build(px_graph *g, const variant *v)
{
    px_graph_init(g);
    px_graph_set_opset(g, "", 17);
    int a = value(g, v, "a"), b = value(g, v, "b"), w1 = value(g, v, "w1"), w2 = value(g, v, "w2"),
        t = value(g, v, "t"), c1 = value(g, v, "c1"), c2 = value(g, v, "c2"), c3 = value(g, v, "c3"),
        y = value(g, v, "y");
    int64_t ad[4] = {1, v->c, 8, 8}, bd[4] = {1, 4, 8, 8};
    g->values[a].dtype = g->values[b].dtype = g->values[y].dtype = PX_DT_FLOAT;
    px_shape_set_known(g, &g->values[a].shape, 4, ad);
    px_shape_set_known(g, &g->values[b].shape, 4, bd);
    int64_t yd[2] = {1, 8 * 8 * 8};
    px_shape_set_known(g, &g->values[y].shape, 2, yd);
    px_graph_add_input(g, a);
    px_graph_add_input(g, b);
    px_graph_add_init(g, w1, floats(v->wscale, v->inner, v->c, 3, 3));
    px_graph_add_init(g, w2, floats(v->wscale, 4, v->inner, 1, 1));
    int64_t target[2] = {v->target0, -1};
    px_graph_add_init(g, t, px_build_int64_tensor(target, 2, 0));
    struct {
        const char *op;
        int in[2], out;
    } nodes[4] = {{"Conv", {a, w1}, c1}, {"Conv", {c1, w2}, c2}, {"Concat", {c2, b}, c3}, {"Reshape", {c3, t}, y}};
    if (v->swap_concat) nodes[2].in[0] = b, nodes[2].in[1] = c2;
    for (int k = 0; k < 4; k++) {
        int i = v->reverse ? 3 - k : k;
        char name[64];
        snprintf(name, sizeof name, "%s_n%d", v->prefix, i);
        int n = px_graph_add_node(g, nodes[i].op, "", name);
        px_node_set_inputs(g, n, nodes[i].in, 2);
        px_node_set_outputs(g, n, &nodes[i].out, 1);
        if (!strcmp(nodes[i].op, "Concat")) {
            px_attr at = {.name = "axis", .type = PX_ATTR_INT, .i = 1};
            px_node_add_attr(g, n, &at);
        }
    }
    px_graph_add_output(g, y);
}

static px_skeleton skeleton_of(const variant *v)
{
    px_graph g;
    build(&g, v);
    px_skeleton s;
    memset(&s, 0, sizeof s);
    CHECK_EQ_INT(px_graph_skeleton(&g, &s), PX_OK);
    px_graph_free(&g);
    return s;
}

static void test_same_structure(void)
{
    px_skeleton base = skeleton_of(&BASE), again = skeleton_of(&BASE);
    CHECK(base.shape_free == again.shape_free && base.exact == again.exact && base.iface == again.iface);
    /* names, node order and float weight values are not structure */
    variant v = BASE;
    v.prefix = "other";
    v.reverse = 1;
    v.wscale = -3.5f;
    px_skeleton s = skeleton_of(&v);
    CHECK(s.shape_free == base.shape_free && s.exact == base.exact && s.iface == base.iface);
    CHECK(px_skeleton_shared(&base, &s));
}

static void test_other_structure(void)
{
    px_skeleton base = skeleton_of(&BASE);
    variant v = BASE;
    v.swap_concat = 1; /* Concat(b, x) is not Concat(x, b) */
    px_skeleton s = skeleton_of(&v);
    CHECK(s.shape_free != base.shape_free);
    CHECK(!px_skeleton_shared(&base, &s));
    v = BASE;
    v.target0 = 0; /* integer constants are structure */
    s = skeleton_of(&v);
    CHECK(s.shape_free != base.shape_free);
    CHECK(!px_skeleton_shared(&base, &s));
}

static void test_dims(void)
{
    px_skeleton base = skeleton_of(&BASE);
    /* another interface (a block of another stage): shared */
    variant v = BASE;
    v.c = 8;
    px_skeleton s = skeleton_of(&v);
    CHECK(s.shape_free == base.shape_free);
    CHECK(s.exact != base.exact && s.iface != base.iface);
    CHECK(px_skeleton_shared(&base, &s));
    /* the same interface, other inner dims: not shared (the sentinels
     * would be twins where the reals are not) */
    v = BASE;
    v.inner = 10;
    s = skeleton_of(&v);
    CHECK(s.shape_free == base.shape_free);
    CHECK(s.exact != base.exact && s.iface == base.iface);
    CHECK(!px_skeleton_shared(&base, &s));
}

int main(void)
{
    RUN(test_same_structure);
    RUN(test_other_structure);
    RUN(test_dims);
    return test_summary("skeleton");
}
