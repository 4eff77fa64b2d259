/* Control flow in sentinels: what a graph holds (px_cf_profile_of, see
 * control_flow.h), read from its packed bodies. */
#include "sentinel/control_flow.h"

#include <string.h>

#include "onnx.pb-c.h"

enum { MAX_WALK = 64 }; /* body nesting read (ir/body.c refuses deeper) */

typedef struct walk {
    int bodies, nodes, named, typed, depth;
} walk;

static int attr_graphs(const Onnx__AttributeProto *a, Onnx__GraphProto **out, int cap)
{
    int n = 0;
    if (a->g && n < cap) out[n++] = a->g;
    for (size_t i = 0; i < a->n_graphs && n < cap; i++) out[n++] = a->graphs[i];
    return n;
}

/* Body g at nesting level (1: a body of a top-level node). */
static void walk_body(const Onnx__GraphProto *g, int level, walk *w)
{
    if (level > MAX_WALK) return;
    w->bodies++;
    w->nodes += (int)g->n_node;
    w->typed += g->n_value_info > 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        w->named += n->name && *n->name;
        for (size_t a = 0; a < n->n_attribute; a++) {
            Onnx__GraphProto *sub[16];
            int ns = attr_graphs(n->attribute[a], sub, 16);
            if (ns && w->depth < level + 1) w->depth = level + 1;
            for (int k = 0; k < ns; k++) walk_body(sub[k], level + 1, w);
        }
    }
}

px_status px_cf_profile_of(const px_graph *g, px_cf_profile *p)
{
    memset(p, 0, sizeof *p);
    walk w = {0};
    for (int i = 0; i < g->n_nodes; i++) {
        const px_node *nd = &g->nodes[i];
        int has = 0;
        for (int a = 0; a < nd->n_attrs; a++) {
            const px_attr *at = &nd->attrs[a];
            if ((at->type != PX_ATTR_GRAPH && at->type != PX_ATTR_GRAPHS) || !at->raw) continue;
            Onnx__AttributeProto *ap = onnx__attribute_proto__unpack(NULL, at->raw_len, at->raw);
            if (!ap) return px_fail(PX_ERR_PARSE, "node '%s' (%s): a graph attribute is malformed", nd->name, nd->op_type);
            Onnx__GraphProto *sub[16];
            int ns = attr_graphs(ap, sub, 16);
            for (int k = 0; k < ns; k++) walk_body(sub[k], 1, &w);
            has |= ns > 0;
            onnx__attribute_proto__free_unpacked(ap, NULL);
        }
        if (!has || nd->domain[0]) continue;
        if (w.depth < 1) w.depth = 1;
        p->n_if += !strcmp(nd->op_type, "If");
        p->n_loop += !strcmp(nd->op_type, "Loop");
        p->n_scan += !strcmp(nd->op_type, "Scan");
    }
    if (p->n_if + p->n_loop + p->n_scan == 0) return PX_OK;
    p->depth = w.depth;
    p->body_nodes = w.bodies ? (w.nodes + w.bodies - 1) / w.bodies : 1;
    p->named = 2 * w.named > w.nodes;
    p->typed = 2 * w.typed > w.bodies;
    return PX_OK;
}
