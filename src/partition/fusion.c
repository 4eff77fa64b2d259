#include "partition/fusion.h"

#include <string.h>

/* Derived from what ONNX Runtime fuses (its graph-optimizations docs and
 * transformer list), by level:
 *  basic:    Conv+Add (bias), Conv+Mul, Conv+BatchNormalization, Relu+Clip,
 *            Reshape fusion (Shape->Gather->Unsqueeze->Concat->Reshape).
 *  extended: Gemm+activation, MatMul+Add -> Gemm, Conv+activation (FusedConv),
 *            GELU (Div->Erf->Add->Mul->Mul) and bias-GELU, LayerNorm
 *            (ReduceMean->Sub->Pow->ReduceMean->Add->Sqrt->Div->Mul->Add),
 *            SkipLayerNorm (Add [+bias Add] -> LayerNorm), attention core,
 *            MatMul scale (MatMul->Mul/Div by a scalar), MatMul+Transpose,
 *            HardSigmoid->Mul (HardSwish), Sigmoid->Mul (SiLU/QuickGelu).
 *  all:      NCHWc: Conv chains with Add (sum) and Relu.
 *  QDQ:      DequantizeLinear -> op -> QuantizeLinear becomes the quantized
 *            op (QLinearConv, QLinearMatMul, QLinearAdd, ...) at basic and
 *            above: "*" stands for any op.
 * Constants (and anything computed from constants only) are not listed:
 * the partitioner replicates them into each subgraph that reads them. */
#define ACT "Relu|Clip|LeakyRelu|Sigmoid|HardSigmoid|HardSwish|Tanh|Elu|Selu|Softplus"

const px_fusion_pattern px_fusion_patterns[] = {
    {"conv-bn-act", 2, {"Conv", "BatchNormalization", ACT, NULL}},
    {"conv-add-act", 2, {"Conv", "Add|Mul", ACT, NULL}},
    {"conv-act", 2, {"Conv", ACT, NULL}},
    {"conv-hardswish", 0, {"Conv", "HardSigmoid", "Mul", NULL}},
    {"conv-silu", 0, {"Conv", "Sigmoid", "Mul", NULL}},
    {"bn-act", 2, {"BatchNormalization", ACT, NULL}},
    {"add-act", 2, {"Add", "Relu", NULL}},
    {"relu-clip", 2, {"Relu", "Clip", NULL}},
    {"gemm-act", 2, {"Gemm", ACT, NULL}},
    {"matmul-add", 2, {"MatMul", "Add", NULL}},
    {"bias-gelu", 0, {"MatMul", "Add", "Div|Mul", "Erf", "Add", "Mul", "Mul", NULL}},
    {"gelu", 0, {"Div|Mul", "Erf", "Add", "Mul", "Mul", NULL}},
    {"gelu-tanh", 0, {"Mul", "Pow", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", NULL}},
    {"layernorm", 0, {"ReduceMean", "Sub", "Pow", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add", NULL}},
    {"bias-skip-layernorm", 0, {"MatMul", "Add", "Add", "ReduceMean|LayerNormalization", NULL}},
    {"skip-layernorm", 0, {"Add", "ReduceMean|LayerNormalization", NULL}},
    {"attention-core", 0, {"MatMul", "Div|Mul", "Add", "Softmax", "MatMul", NULL}},
    {"attention-core-nomask", 0, {"MatMul", "Div|Mul", "Softmax", "MatMul", NULL}},
    {"attention-core-where", 0, {"MatMul", "Div|Mul|Add", "Where", "Softmax", "MatMul", NULL}},
    {"attention-core-where-noscale", 0, {"MatMul", "Where", "Softmax", "MatMul", NULL}},
    {"attention-probs", 2, {"Softmax", "MatMul", NULL}},
    {"matmul-transpose", 2, {"Transpose", "MatMul", NULL}},
    {"reshape-transpose", 2, {"Reshape", "Transpose", NULL}},
    {"transpose-reshape", 2, {"Transpose", "Reshape", NULL}},
    {"reshape-fusion", 0, {"Shape", "Gather|Slice", "Unsqueeze", "Concat", "Reshape|Expand|ConstantOfShape", NULL}},
    {"shape-gather", 0, {"Shape", "Gather|Slice", "Unsqueeze|Squeeze|Cast", NULL}},
    {"hardswish", 0, {"HardSigmoid", "Mul", NULL}},
    {"silu", 0, {"Sigmoid", "Mul", NULL}},
    {"qdq-op", 0, {"DequantizeLinear", "*", "QuantizeLinear", NULL}},
    {"dq-op", 2, {"DequantizeLinear", "Conv|MatMul|Gemm|ConvTranspose", NULL}},
};
const int px_fusion_pattern_count = (int)(sizeof px_fusion_patterns / sizeof px_fusion_patterns[0]);

static int op_matches(const char *alts, const px_node *n)
{
    if (!strcmp(alts, "*")) return 1;
    if (n->domain[0]) return 0;
    size_t len = strlen(n->op_type);
    for (const char *p = alts; *p;) {
        const char *bar = strchr(p, '|');
        size_t m = bar ? (size_t)(bar - p) : strlen(p);
        if (m == len && !strncmp(p, n->op_type, m)) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

/* Extends a match of pattern pat; path[0..len) are the nodes matched so
 * far (element len-1 of the chain). */
static void extend(const px_graph *g, const px_fusion_pattern *pat, int *path, int len, int need,
                   void (*glue)(void *, int, int), void *ctx)
{
    if (len >= need)
        for (int i = 1; i < len; i++) glue(ctx, path[i - 1], path[i]);
    if (!pat->chain[len]) return;
    const px_node *n = &g->nodes[path[len - 1]];
    for (int o = 0; o < n->n_outputs; o++) {
        int v = n->outputs[o];
        if (v < 0) continue;
        for (int c = g->cons_start[v]; c < g->cons_start[v + 1]; c++) {
            int next = g->cons[c];
            if (!op_matches(pat->chain[len], &g->nodes[next])) continue;
            path[len] = next;
            extend(g, pat, path, len + 1, need, glue, ctx);
        }
    }
}

void px_fusion_match(const px_graph *g, void (*glue)(void *ctx, int a, int b), void *ctx)
{
    int path[16];
    for (int p = 0; p < px_fusion_pattern_count; p++) {
        const px_fusion_pattern *pat = &px_fusion_patterns[p];
        int full = 0;
        while (pat->chain[full]) full++;
        int need = pat->min_len > 0 ? pat->min_len : full;
        for (int i = 0; i < g->n_nodes; i++)
            if (op_matches(pat->chain[0], &g->nodes[i])) {
                path[0] = i;
                extend(g, pat, path, 1, need, glue, ctx);
            }
    }
}
