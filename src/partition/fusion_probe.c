#include "partition/fusion_probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partition/partition.h"
#include "sentinel/sentinel.h"
#include "util/arena.h"
#include "util/jsonparse.h"
#include "util/subproc.h"

px_status px_fusion_source_parse(const char *spec, px_fusion_source *out)
{
    static const struct {
        const char *name;
        px_fusion_source src;
    } forms[] = {{"table", PX_FUSION_TABLE},           {"ort", PX_FUSION_ORT_ALL},
                 {"ort:all", PX_FUSION_ORT_ALL},       {"ort:extended", PX_FUSION_ORT_EXTENDED},
                 {"ort:basic", PX_FUSION_ORT_BASIC}};
    for (size_t i = 0; spec && i < sizeof forms / sizeof forms[0]; i++)
        if (!strcmp(spec, forms[i].name)) {
            *out = forms[i].src;
            return PX_OK;
        }
    return px_fail(PX_ERR_USAGE, "--fusion-from: '%s' is not one of ort:all, ort:extended, ort:basic, table",
                   spec ? spec : "");
}

const char *px_fusion_source_level(px_fusion_source s)
{
    switch (s) {
    case PX_FUSION_ORT_BASIC: return "basic";
    case PX_FUSION_ORT_EXTENDED: return "extended";
    case PX_FUSION_ORT_ALL: return "all";
    default: return NULL;
    }
}

px_status px_fusion_weights_from_json(const px_graph *g, const char *json, size_t len, float **edge_weight,
                                      px_fusion_counts *counts)
{
    static const struct {
        const char *key;
        float w;
    } classes[] = {{"fused", PX_EDGE_GLUE},
                   {"folded", PX_EDGE_GLUE},
                   {"blocked", PX_FUSION_BLOCKED},
                   {"residual", PX_FUSION_RESIDUAL},
                   {"exposed", PX_FUSION_EXPOSED}};
    *edge_weight = NULL;
    px_fusion_counts c = {0};
    float *w = malloc(((size_t)g->n_values + 1) * sizeof *w);
    if (!w) return px_nomem();
    for (int v = 0; v < g->n_values; v++) w[v] = 1.0f;
    px_arena arena;
    px_arena_init(&arena);
    px_jval *root;
    px_status st = px_json_parse(&arena, json, len, "fusion probe output", &root);
    if (!st && root->type != PX_J_OBJ) st = px_fail(PX_ERR_PARSE, "fusion probe output: not a JSON object");
    const char *err = st ? NULL : px_json_get_str(root, "error");
    if (err) st = px_fail(PX_ERR_UNSUPPORTED, "ONNX Runtime cannot optimize the model: %s", err);
    for (size_t k = 0; !st && k < sizeof classes / sizeof classes[0]; k++) {
        const px_jval *arr = px_json_get(root, classes[k].key);
        if (!arr) continue;
        if (arr->type != PX_J_ARR) {
            st = px_fail(PX_ERR_PARSE, "fusion probe output: '%s' is not a list", classes[k].key);
            break;
        }
        for (size_t i = 0; i < arr->n; i++) {
            if (arr->items[i]->type != PX_J_STR) {
                st = px_fail(PX_ERR_PARSE, "fusion probe output: '%s' holds a non-string", classes[k].key);
                break;
            }
            int v = px_graph_find(g, arr->items[i]->s);
            if (v < 0) {
                c.unknown++;
                continue;
            }
            /* a value listed twice keeps its heaviest class */
            if (classes[k].w > w[v]) w[v] = classes[k].w;
            if (k == 0) c.fused++;
            else if (k == 1) c.folded++;
            else if (k == 2) c.blocked++;
            else if (k == 3) c.residual++;
            else c.exposed++;
        }
    }
    px_arena_free(&arena);
    if (st) {
        free(w);
        return st;
    }
    *edge_weight = w;
    if (counts) *counts = c;
    return PX_OK;
}

px_status px_fusion_probe(const char *model_path, const px_graph *g, px_fusion_source src, float **edge_weight,
                          px_fusion_counts *counts)
{
    *edge_weight = NULL;
    const char *level = px_fusion_source_level(src);
    if (!level) return px_fail(PX_ERR_USAGE, "fusion probe: the table needs no probe");
    char *args[] = {(char *)model_path, "--level", (char *)level};
    char *out = NULL;
    size_t len = 0;
    px_status st = px_python_call("proteus_py.fusion_probe", args, 3, NULL, 0, &out, &len);
    if (st) {
        free(out);
        return st;
    }
    st = px_fusion_weights_from_json(g, out, len, edge_weight, counts);
    free(out);
    if (st == PX_ERR_UNSUPPORTED) px_fail_prefix(st, "%s", model_path);
    return st;
}

static int has_qdq(const px_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].domain[0] &&
            (!strcmp(g->nodes[i].op_type, "QuantizeLinear") || !strcmp(g->nodes[i].op_type, "DequantizeLinear")))
            return 1;
    return 0;
}

px_status px_fusion_weights_for(const char *model_path, const px_graph *g, const char *spec,
                                void (*warn)(void *ctx, const char *msg), void *warn_ctx, float **edge_weight)
{
    *edge_weight = NULL;
    px_fusion_source src = PX_FUSION_ORT_ALL;
    px_status st;
    if (spec && (st = px_fusion_source_parse(spec, &src))) return st;
    if (src == PX_FUSION_TABLE) return PX_OK;
    /* by default a quantized (QDQ) model keeps the table's groups: its
     * never-cut DequantizeLinear -> op -> QuantizeLinear rule makes ONNX
     * Runtime choose the same integer kernels in the parts as in the whole
     * model (bitwise equal on the real-world QDQ models), which the learned
     * groups do not yet guarantee (1e-2 of the range apart on two) */
    if (!spec && (!model_path || px_sentinel_weightless(g) || has_qdq(g))) return PX_OK;
    if (!model_path) return px_fail(PX_ERR_USAGE, "--fusion-from %s needs the model's file", spec);
    st = px_fusion_probe(model_path, g, src, edge_weight, NULL);
    if (!st || spec) return st;
    if (warn) {
        char msg[600];
        snprintf(msg, sizeof msg, "the fusion table is used (%.500s)", px_last_error());
        warn(warn_ctx, msg);
    }
    px_clear_error();
    return PX_OK;
}
