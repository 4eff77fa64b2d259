/* Control flow in sentinels: a sentinel has its real subgraph's If/Loop/
 * Scan nodes (kinds, counts, nesting) and none when the real has none; its
 * interface is the real one; it saves, loads back, binds and infers; it is
 * weightless like the model; the same seed gives the same bytes.  Real
 * subgraphs with control flow are parts of corpus models that px_cf_insert
 * gave control flow (the realworld ones are in the integration test). */
#include <stdlib.h>
#include <string.h>

#include "bucket/anonymize.h"
#include "ir/body.h"
#include "ir/build.h"
#include "onnx.pb-c.h"
#include "onnx/onnx_io.h"
#include "partition/extract.h"
#include "partition/partition.h"
#include "sentinel/control_flow.h"
#include "sentinel/pxg.h"
#include "sentinel/sentinel.h"
#include "shape/shape_infer.h"
#include "testing.h"

static int same_type(const px_graph *a, int va, const px_graph *b, int vb)
{
    const px_value *x = &a->values[va], *y = &b->values[vb];
    if (x->dtype != y->dtype || x->shape.rank != y->shape.rank) return 0;
    for (int i = 0; i < x->shape.rank; i++) {
        px_dim p = x->shape.dims[i], q = y->shape.dims[i];
        if (p.v != q.v || !p.sym != !q.sym || (p.sym && strcmp(p.sym, q.sym))) return 0;
    }
    return 1;
}

static int same_interface(const px_graph *a, const px_graph *b)
{
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs) return 0;
    for (int i = 0; i < a->n_inputs; i++)
        if (!same_type(a, a->inputs[i], b, b->inputs[i])) return 0;
    for (int i = 0; i < a->n_outputs; i++)
        if (!same_type(a, a->outputs[i], b, b->outputs[i])) return 0;
    return 1;
}

static int same_kinds(const px_cf_profile *a, const px_cf_profile *b)
{
    return a->n_if == b->n_if && a->n_loop == b->n_loop && a->n_scan == b->n_scan;
}

/* Saved, loaded back, bound and inferred as obfuscate's readers do; the
 * profile read back is *p. */
static int round_trips(const px_graph *s, px_cf_profile *p)
{
    uint8_t *buf;
    size_t len;
    if (px_onnx_save_buffer(s, NULL, &buf, &len) != PX_OK) return 0;
    px_graph g;
    px_graph_init(&g);
    int ok = px_onnx_load_buffer(buf, len, NULL, "sentinel", &g) == PX_OK && px_body_bind(&g) == PX_OK &&
             px_shape_infer(&g, NULL) == PX_OK && px_cf_profile_of(&g, p) == PX_OK && same_interface(&g, s);
    if (!ok) printf("  round trip: %s\n", px_last_error());
    px_graph_free(&g);
    free(buf);
    return ok;
}

/* Whether the sentinel's float weights of more than 16 elements (those its
 * bodies read included: they are its initializers) have data exactly when
 * the model is not weightless. */
static int weightless_like(const px_graph *s, int weightless)
{
    for (int i = 0; i < s->n_inits; i++) {
        const px_tensor *t = s->values[s->inits[i]].init;
        if (t->dtype == PX_DT_FLOAT && t->numel > 16 && (t->data != NULL) == weightless) return 0;
    }
    return 1;
}

static int same_bytes(const px_graph *a, const px_graph *b)
{
    uint8_t *x, *y;
    size_t nx, ny;
    if (px_onnx_save_buffer(a, NULL, &x, &nx) != PX_OK) return 0;
    if (px_onnx_save_buffer(b, NULL, &y, &ny) != PX_OK) {
        free(x);
        return 0;
    }
    int same = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

static void test_profile_of_plain_graph(void)
{
    px_graph g;
    px_graph_init(&g);
    px_cf_profile p;
    CHECK_EQ_INT(px_cf_profile_of(&g, &p), PX_OK);
    CHECK_EQ_INT(p.depth, 0);
    CHECK_EQ_INT(p.n_if + p.n_loop + p.n_scan, 0);
    px_graph_free(&g);
}

/* A sentinel of real (with or without control flow) by kind, checked. */
static int check_sentinel(const px_sentinel_opts *so, const px_graph *real, const px_cf_profile *rp, uint64_t seed)
{
    px_graph s, s2;
    px_rng rng, rng2;
    px_rng_seed(&rng, seed);
    px_rng_seed(&rng2, seed);
    if (px_sentinel_generate(so, real, &rng, &s) != PX_OK) {
        printf("  %s sentinel: %s\n", px_sentinel_kind_name(so->kind), px_last_error());
        return 0;
    }
    px_cf_profile sp, back;
    s.ir_version = 8; /* the bucket's header gives it one */
    int ok = px_cf_profile_of(&s, &sp) == PX_OK && same_interface(&s, real) && px_graph_validate(&s) == PX_OK;
    if (ok && rp->depth) {
        ok = same_kinds(&sp, rp) && sp.depth == (rp->depth < 3 ? rp->depth : 3) && round_trips(&s, &back) && same_kinds(&back, rp);
    } else if (ok) {
        ok = !px_graph_has_bodies(&s);
    }
    ok = ok && weightless_like(&s, so->weightless);
    if (ok) {
        /* anonymized as the bucket writes it */
        px_anon_header hdr = {.ir_version = 8, .opsets = s.opsets, .n_opsets = s.n_opsets};
        px_graph anon;
        ok = px_anonymize(&s, &hdr, &anon) == PX_OK && round_trips(&anon, &back) && same_kinds(&back, &sp);
        if (ok) px_graph_free(&anon);
    }
    if (ok && px_sentinel_generate(so, real, &rng2, &s2) == PX_OK) {
        s2.ir_version = s.ir_version;
        ok = same_bytes(&s, &s2);
        px_graph_free(&s2);
    } else {
        ok = 0;
    }
    px_graph_free(&s);
    return ok;
}

/* Whether the then-branch of an If of g has a node of op. */
static int then_has(const px_graph *g, const char *op)
{
    for (int i = 0; i < g->n_nodes; i++) {
        if (strcmp(g->nodes[i].op_type, "If")) continue;
        for (int a = 0; a < g->nodes[i].n_attrs; a++) {
            const px_attr *at = &g->nodes[i].attrs[a];
            if (strcmp(at->name, "then_branch") || !at->raw) continue;
            Onnx__AttributeProto *ap = onnx__attribute_proto__unpack(NULL, at->raw_len, at->raw);
            int found = 0;
            for (size_t k = 0; ap && ap->g && k < ap->g->n_node; k++) found |= !strcmp(ap->g->node[k]->op_type, op);
            if (ap) onnx__attribute_proto__free_unpacked(ap, NULL);
            if (found) return 1;
        }
    }
    return 0;
}

static int count_op(const px_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += !strcmp(g->nodes[i].op_type, op);
    return n;
}

/* x -> Relu -> Tanh -> Sigmoid -> y: the If takes the Relu and Tanh that
 * compute its value over into its then-branch (as exporters put a
 * branch's code there) rather than adding a body of new ops beside them. */
static void test_nodes_move_into_the_branch(void)
{
    int moved = 0;
    for (uint64_t seed = 0; seed < 8; seed++) {
        px_graph g;
        px_graph_init(&g);
        int counter = 0, x = px_build_value(&g, &counter), a, b, y;
        int64_t dims[2] = {2, 8};
        g.values[x].dtype = PX_DT_FLOAT;
        CHECK_EQ_INT(px_shape_set_known(&g, &g.values[x].shape, 2, dims), PX_OK);
        CHECK_EQ_INT(px_graph_add_input(&g, x), PX_OK);
        CHECK_EQ_INT(px_graph_set_opset(&g, "", 17), PX_OK);
        CHECK_EQ_INT(px_build_node(&g, &counter, "Relu", &x, 1, &a, NULL), PX_OK);
        CHECK_EQ_INT(px_build_node(&g, &counter, "Tanh", &a, 1, &b, NULL), PX_OK);
        CHECK_EQ_INT(px_build_node(&g, &counter, "Sigmoid", &b, 1, &y, NULL), PX_OK);
        CHECK_EQ_INT(px_graph_add_output(&g, y), PX_OK);
        CHECK_EQ_INT(px_shape_infer(&g, NULL), PX_OK);
        px_cf_profile want = {.n_if = 1, .depth = 1, .body_nodes = 2, .named = 1}, got;
        px_sentinel_opts so = {.kind = PX_SENTINEL_RANDOM};
        px_rng rng;
        px_rng_seed(&rng, seed);
        CHECK_EQ_INT(px_cf_insert(&g, &want, &so, &rng), PX_OK);
        CHECK_EQ_INT(px_cf_profile_of(&g, &got), PX_OK);
        CHECK(same_kinds(&got, &want));
        CHECK_EQ_INT(count_op(&g, "Sigmoid"), 1); /* it makes the output: it stays */
        /* what left the graph is in the branch, nothing is lost or doubled */
        int relu = count_op(&g, "Relu"), tanh_ = count_op(&g, "Tanh");
        CHECK(relu == 1 || then_has(&g, "Relu"));
        CHECK(tanh_ == 1 || then_has(&g, "Tanh"));
        moved += relu + tanh_ < 2;
        px_graph_free(&g);
    }
    CHECK(moved >= 4);
}

static void test_sentinels_follow_the_real(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/data/generator/default.pxg", PX_SOURCE_ROOT);
    px_generator *gen = NULL;
    CHECK_EQ_INT(px_generator_load(path, &gen), PX_OK);
    static const char *models[] = {"squeezenet1_1-op13", "resnet18-dyn-op17"};
    /* what the reals get: kinds, nesting, body sizes */
    static const px_cf_profile given[] = {
        {.n_if = 1, .depth = 1, .body_nodes = 1},
        {.n_loop = 1, .n_if = 1, .depth = 2, .body_nodes = 6, .named = 1},
        {.n_scan = 1, .depth = 1, .body_nodes = 3, .typed = 1},
    };
    int n_cf = 0, n_plain = 0, bad = 0;
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        snprintf(path, sizeof path, "%s/corpus/models/%s.onnx", PX_SOURCE_ROOT, models[m]);
        px_graph g;
        px_graph_init(&g);
        CHECK_EQ_INT(px_onnx_load(path, &g), PX_OK);
        CHECK_EQ_INT(px_shape_infer(&g, NULL), PX_OK);
        CHECK_EQ_INT(px_graph_sort(&g), PX_OK);
        px_partition part;
        px_partition_opts po = {.seed = 3};
        CHECK_EQ_INT(px_partition_graph(&g, &po, &part), PX_OK);
        for (int p = 0; p < part.n_parts && p < 3; p++) {
            px_graph plain, real;
            px_part_io io, io2;
            CHECK_EQ_INT(px_extract_part(&g, &part, p, &plain, &io), PX_OK);
            CHECK_EQ_INT(px_extract_part(&g, &part, p, &real, &io2), PX_OK);
            const px_cf_profile *want = &given[(m + (size_t)p) % 3];
            px_rng rng;
            px_rng_seed(&rng, 100 + (uint64_t)p);
            px_cf_profile rp, none;
            px_sentinel_opts ro = {.weightless = 1};
            CHECK_EQ_INT(px_cf_insert(&real, want, &ro, &rng), PX_OK);
            CHECK_EQ_INT(px_cf_profile_of(&real, &rp), PX_OK);
            CHECK_EQ_INT(px_cf_profile_of(&plain, &none), PX_OK);
            CHECK_EQ_INT(none.depth, 0);
            CHECK(same_interface(&real, &plain));
            if (rp.depth) {
                /* it has what it was given: one node of each kind, nested as asked */
                n_cf++;
                CHECK(same_kinds(&rp, want));
                CHECK_EQ_INT(rp.depth, want->depth);
                px_cf_profile back;
                CHECK(round_trips(&real, &back));
            }
            for (int kind = 0; kind < PX_SENTINEL_COUNT; kind++) {
                int w = (p + kind) % 2; /* weightless or not, in turn */
                px_sentinel_opts so = {.kind = (px_sentinel_kind)kind, .weightless = w, .generator = gen, .model = &g};
                uint64_t seed = (uint64_t)(m * 1000 + (size_t)p * 10 + (size_t)kind);
                if (!check_sentinel(&so, &plain, &none, seed)) {
                    printf("  %s part %d, %s, plain: broken\n", models[m], p, px_sentinel_kind_name(so.kind));
                    bad++;
                }
                n_plain++;
                if (rp.depth && !check_sentinel(&so, &real, &rp, seed)) {
                    printf("  %s part %d, %s, with control flow: broken\n", models[m], p, px_sentinel_kind_name(so.kind));
                    bad++;
                }
            }
            px_graph_free(&plain);
            px_graph_free(&real);
            px_part_io_free(&io);
            px_part_io_free(&io2);
        }
        px_partition_free(&part);
        px_graph_free(&g);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(n_cf >= 3);
    CHECK(n_plain >= 6);
    px_generator_free(gen);
}

int main(void)
{
    RUN(test_profile_of_plain_graph);
    RUN(test_nodes_move_into_the_branch);
    RUN(test_sentinels_follow_the_real);
    return test_summary("sentinel_control_flow");
}
