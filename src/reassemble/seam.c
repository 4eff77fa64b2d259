#include "reassemble/seam.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_op(const px_node *n, const char *domain, const char *op)
{
    return !strcmp(n->op_type, op) && !strcmp(n->domain, domain);
}

/* Every value of `from` is representable in `to`. */
static int lossless(px_dtype from, px_dtype to)
{
    if (from == to) return 1;
    switch (from) {
    case PX_DT_BOOL: return px_dtype_is_int(to) || px_dtype_is_float(to);
    case PX_DT_INT8: return to == PX_DT_INT16 || to == PX_DT_INT32 || to == PX_DT_INT64 || to == PX_DT_FLOAT || to == PX_DT_DOUBLE || to == PX_DT_FLOAT16;
    case PX_DT_UINT8: return to == PX_DT_INT16 || to == PX_DT_UINT16 || to == PX_DT_INT32 || to == PX_DT_UINT32 || to == PX_DT_INT64 || to == PX_DT_UINT64 || to == PX_DT_FLOAT || to == PX_DT_DOUBLE || to == PX_DT_FLOAT16;
    case PX_DT_INT16: return to == PX_DT_INT32 || to == PX_DT_INT64 || to == PX_DT_FLOAT || to == PX_DT_DOUBLE;
    case PX_DT_UINT16: return to == PX_DT_INT32 || to == PX_DT_UINT32 || to == PX_DT_INT64 || to == PX_DT_UINT64 || to == PX_DT_FLOAT || to == PX_DT_DOUBLE;
    case PX_DT_INT32: return to == PX_DT_INT64 || to == PX_DT_DOUBLE;
    case PX_DT_UINT32: return to == PX_DT_INT64 || to == PX_DT_UINT64 || to == PX_DT_DOUBLE;
    case PX_DT_FLOAT16: case PX_DT_BFLOAT16: return to == PX_DT_FLOAT || to == PX_DT_DOUBLE;
    case PX_DT_FLOAT: return to == PX_DT_DOUBLE;
    default: return 0;
    }
}

/* Ops whose first output has the type of their first input: enough to
 * tell the type of an optimizer's internal value, which its file rarely
 * declares (a Cast's `to` or a declared type ends the walk). */
static const char *const type_keeping_ops[] = {
    "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Exp", "Log", "Sqrt", "Erf", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
    "HardSigmoid", "HardSwish", "Clip", "Softmax", "Conv", "ConvTranspose", "MaxPool", "AveragePool",
    "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "LayerNormalization", "Resize", "Concat",
    "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Slice", "Pad", "MatMul", "Gemm",
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "FusedConv", "FusedGemm", "FusedMatMul", "Gelu",
    "BiasGelu", "QuickGelu", "ReorderInput", "ReorderOutput", "Upsample",
};

static px_dtype value_dtype(const px_graph *g, int v)
{
    for (int depth = 0; v >= 0 && depth < 64; depth++) {
        if (g->values[v].dtype != PX_DT_UNDEFINED) return g->values[v].dtype;
        int p = g->values[v].producer;
        if (p < 0) break;
        const px_node *n = &g->nodes[p];
        if (n->n_outputs < 1 || n->outputs[0] != v || n->n_inputs < 1) break;
        if (!strcmp(n->op_type, "Cast") && !n->domain[0]) return (px_dtype)px_attr_int(n, "to", 0);
        int keeps = 0;
        for (size_t i = 0; i < sizeof type_keeping_ops / sizeof *type_keeping_ops && !keeps; i++)
            keeps = !strcmp(n->op_type, type_keeping_ops[i]) &&
                    (!n->domain[0] || !strncmp(n->domain, "com.microsoft", 13));
        if (!keeps) break;
        v = n->inputs[0];
    }
    return PX_DT_UNDEFINED;
}

/* float -> float16 -> float across a cut: an optimizer that runs float16
 * ops in float inserts such a pair around every cut (the cut value must
 * stay float16), and ONNX Runtime removes the same pair inside one graph
 * (its duplicate-cast removal counts all floating types as one group), so
 * the stitched model computes what the whole model optimized computes.
 * Only at a seam: a pair inside one part is what its optimizer chose. */
static int float_round_trip_at_seam(const px_graph *g, int mid, px_dtype t0, px_dtype t1)
{
    return (g->values[mid].flags & PX_VAL_SEAM) && px_dtype_is_float(t0) && px_dtype_is_float(t1);
}

static int perms_cancel(const px_node *a, const px_node *b)
{
    int na, nb;
    const int64_t *pa = px_attr_ints(a, "perm", &na), *pb = px_attr_ints(b, "perm", &nb);
    if (!pa || !pb || na != nb) return 0;
    for (int i = 0; i < na; i++) {
        if (pb[i] < 0 || pb[i] >= na) return 0;
        if (pa[pb[i]] != i) return 0;
    }
    return 1;
}

/* Follows the replacement chain of v (each entry points to a value
 * resolved when it was set, so one step suffices). */
static int resolve(const int *alias, int v) { return v >= 0 && alias[v] >= 0 ? alias[v] : v; }

/* One pass in topological order (the graph is sorted): each node's inputs
 * are first redirected past what was removed before it, then it goes if it
 * is an Identity or undoes its producer.  Linear in the graph's size: no
 * re-indexing, no scan of every node per removal. */
static px_status seam_pass(px_graph *g, int *removed)
{
    px_status st = px_graph_index(g);
    if (st) return st;
    int nv = g->n_values, nn = g->n_nodes;
    int *alias = malloc(((size_t)nv + 1) * sizeof *alias);
    int *uses = malloc(((size_t)nv + 1) * sizeof *uses);
    char *dead = calloc((size_t)nn + 1, 1);
    if (!alias || !uses || !dead) {
        free(alias);
        free(uses);
        free(dead);
        return px_nomem();
    }
    for (int v = 0; v < nv; v++) {
        alias[v] = -1;
        uses[v] = g->cons_start[v + 1] - g->cons_start[v];
    }
    int n = 0;
    for (int i = 0; i < nn; i++) {
        px_node *b = &g->nodes[i];
        for (int j = 0; j < b->n_inputs; j++) {
            /* (uses[r] already counts this read: moved over when aliased) */
            int r = resolve(alias, b->inputs[j]);
            if (r != b->inputs[j]) b->inputs[j] = r;
        }
        if (b->n_inputs < 1 || b->n_outputs != 1 || b->inputs[0] < 0 || b->outputs[0] < 0) continue;
        int out = b->outputs[0];
        if (g->values[out].flags & PX_VAL_OUTPUT) continue;
        int to = -1, pa = -1;
        if (is_op(b, "", "Identity")) {
            to = b->inputs[0];
        } else {
            int mid = b->inputs[0];
            pa = g->values[mid].producer;
            if (pa < 0 || pa >= i || dead[pa]) continue;
            px_node *a = &g->nodes[pa];
            if (a->n_inputs < 1 || a->inputs[0] < 0 || a->n_outputs != 1) continue;
            int src = a->inputs[0], match = 0;
            if (is_op(b, "com.microsoft.nchwc", "ReorderInput") && is_op(a, "com.microsoft.nchwc", "ReorderOutput")) {
                /* with block padding too: the padded channels of the
                 * blocked tensor then keep what the producer left there
                 * instead of zeros, as between two NCHWc nodes of a whole
                 * model ONNX Runtime optimizes (its blocked kernels never
                 * mix padding into real channels: the weights it pads are
                 * zero), and ReorderInput pads to the same block count */
                int64_t ch = px_attr_int(a, "channels", 0);
                match = px_attr_int(a, "channels_last", 0) == px_attr_int(b, "channels_last", 0) && ch > 0;
            } else if (is_op(b, "", "Transpose") && is_op(a, "", "Transpose")) {
                match = perms_cancel(a, b);
            } else if (is_op(b, "", "Cast") && is_op(a, "", "Cast")) {
                px_dtype t0 = value_dtype(g, src), t1 = (px_dtype)px_attr_int(a, "to", 0);
                match = t0 != PX_DT_UNDEFINED && px_attr_int(b, "to", -1) == (int64_t)t0 &&
                        (lossless(t0, t1) || float_round_trip_at_seam(g, mid, t0, t1));
            }
            if (!match) continue;
            to = src;
        }
        /* b goes: its readers (all later in topological order) read `to`
         * instead, so they count as readers of `to` from now on */
        alias[out] = to;
        uses[to] += uses[out];
        dead[i] = 1;
        n++;
        for (int j = 0; j < b->n_inputs; j++)
            if (b->inputs[j] >= 0) uses[b->inputs[j]]--;
        /* its producer too, when nothing else reads the producer's output */
        if (pa >= 0) {
            int mid = g->nodes[pa].outputs[0];
            if (uses[mid] == 0 && !(g->values[mid].flags & PX_VAL_OUTPUT)) {
                px_node *a = &g->nodes[pa];
                dead[pa] = 1;
                n++;
                for (int j = 0; j < a->n_inputs; j++)
                    if (a->inputs[j] >= 0) uses[a->inputs[j]]--;
            }
        }
    }
    *removed = n;
    st = n ? px_graph_remove_nodes(g, dead) : PX_OK;
    free(alias);
    free(uses);
    free(dead);
    return st;
}

static int same_shape(const px_shape *a, const px_shape *b)
{
    if (a->rank < 0 || a->rank != b->rank) return 0;
    for (int d = 0; d < a->rank; d++) {
        if (a->dims[d].v >= 0 ? a->dims[d].v != b->dims[d].v
                              : !a->dims[d].sym || !b->dims[d].sym || strcmp(a->dims[d].sym, b->dims[d].sym))
            return 0;
    }
    return 1;
}

/* v's producer when it is a ReorderOutput back to NCHW (the blocked tensor
 * it reorders is then nodes[.].inputs[0]); else -1. */
static int nchw_reorder(const px_graph *g, int v)
{
    int p = v >= 0 ? g->values[v].producer : -1;
    if (p < 0) return -1;
    const px_node *n = &g->nodes[p];
    if (!is_op(n, "com.microsoft.nchwc", "ReorderOutput") || n->n_inputs < 1 || n->inputs[0] < 0 ||
        px_attr_int(n, "channels_last", 0) != 0)
        return -1;
    return p;
}

static int n_uses(const px_graph *g, int v)
{
    return (g->values[v].flags & PX_VAL_OUTPUT) ? 1 << 20 : g->cons_start[v + 1] - g->cons_start[v];
}

/* Re-does at a seam what ONNX Runtime's NCHWc transformer does inside one
 * graph and cannot do across a cut: a residual Add of two blocked tensors
 * (each brought back to NCHW by a ReorderOutput) goes into the convolution
 * producing one of them as its Sum input, and a Relu after it as the
 * convolution's activation.  The conditions are the transformer's own: the
 * convolution has one reader and no activation yet, and the two tensors
 * have the same shape and channel count (no broadcast).  Then the Add's
 * result is that convolution's output reordered once; the other operand's
 * ReorderOutput goes when nothing else reads it. */
static px_status fuse_sums(px_graph *g, int *fused, int *removed)
{
    *fused = *removed = 0;
    px_status st = px_graph_index(g);
    if (st) return st;
    int nn = g->n_nodes;
    char *dead = calloc((size_t)nn + 1, 1);
    /* blocked tensors now read as a Sum: the index does not count that read,
     * and their convolution must not take a sum of its own */
    char *summed = calloc((size_t)g->n_values + 1, 1);
    if (!dead || !summed) {
        free(dead);
        free(summed);
        return px_nomem();
    }
    for (int i = 0; i < nn && !st; i++) {
        px_node *add = &g->nodes[i];
        if (dead[i] || !is_op(add, "", "Add") || add->n_inputs != 2 || add->n_outputs != 1 || add->outputs[0] < 0 ||
            add->inputs[0] < 0 || add->inputs[1] < 0 || add->inputs[0] == add->inputs[1])
            continue;
        int ra = nchw_reorder(g, add->inputs[0]), rb = nchw_reorder(g, add->inputs[1]);
        if (ra < 0 || rb < 0 || dead[ra] || dead[rb]) continue;
        if (px_attr_int(&g->nodes[ra], "channels", -1) != px_attr_int(&g->nodes[rb], "channels", -2) ||
            !same_shape(&g->values[add->inputs[0]].shape, &g->values[add->inputs[1]].shape) ||
            g->values[add->inputs[0]].dtype != PX_DT_FLOAT)
            continue;
        for (int side = 0; side < 2; side++) {
            int y = add->inputs[side], s = add->inputs[1 - side];
            int ry = side ? rb : ra, rs = side ? ra : rb;
            int c = g->nodes[ry].inputs[0], t = g->nodes[rs].inputs[0];
            int pc = g->values[c].producer;
            if (pc < 0 || dead[pc] || summed[c] || n_uses(g, y) != 1 || n_uses(g, c) != 1) continue;
            px_node *conv = &g->nodes[pc];
            if (!is_op(conv, "com.microsoft.nchwc", "Conv") || conv->n_inputs < 2 || conv->n_inputs > 3 ||
                px_node_attr(conv, "activation"))
                continue;
            int z = add->outputs[0], out = z, relu = -1;
            if (n_uses(g, z) == 1) {
                int r = g->cons[g->cons_start[z]];
                if (is_op(&g->nodes[r], "", "Relu") && g->nodes[r].n_outputs == 1 && g->nodes[r].outputs[0] >= 0) {
                    relu = r;
                    out = g->nodes[r].outputs[0];
                }
            }
            int in[4] = {conv->inputs[0], conv->inputs[1], conv->n_inputs > 2 ? conv->inputs[2] : -1, t};
            if ((st = px_node_set_inputs(g, pc, in, 4))) break;
            summed[t] = 1;
            if (relu >= 0) {
                px_attr act = {.name = "activation", .type = PX_ATTR_STRING, .s = "Relu", .s_len = 4};
                if ((st = px_node_add_attr(g, pc, &act))) break;
                dead[relu] = 1;
                ++*removed;
            }
            /* the ReorderOutput of the convolution now yields the sum */
            if ((st = px_node_set_outputs(g, ry, &out, 1))) break;
            g->values[y].producer = -1;
            dead[i] = 1;
            ++*removed;
            if (n_uses(g, s) == 1) { /* the Add was its only reader */
                dead[rs] = 1;
                ++*removed;
            }
            ++*fused;
            break;
        }
    }
    if (!st && *fused) st = px_graph_remove_nodes(g, dead);
    if (!st && *fused) st = px_graph_sort(g);
    free(dead);
    free(summed);
    return st;
}

/* x * HardSigmoid(x) with HardSwish's constants (alpha 1/6, beta 1/2) on
 * the output of an NCHWc convolution without activation becomes that
 * convolution's HardSwish activation, as ONNX Runtime fuses it inside one
 * graph; a cut between the convolution and the Mul prevented it there. */
static px_status fuse_hardswish(px_graph *g, int *removed)
{
    px_status st = px_graph_index(g);
    if (st) return st;
    int nn = g->n_nodes, fused = 0;
    char *dead = calloc((size_t)nn + 1, 1);
    if (!dead) return px_nomem();
    for (int i = 0; i < nn && !st; i++) {
        const px_node *mul = &g->nodes[i];
        if (!is_op(mul, "", "Mul") || mul->n_inputs != 2 || mul->n_outputs != 1 || mul->outputs[0] < 0 ||
            mul->inputs[0] < 0 || mul->inputs[1] < 0)
            continue;
        for (int side = 0; side < 2; side++) {
            int x = mul->inputs[side], h = mul->inputs[1 - side];
            int ph = g->values[h].producer, pc = g->values[x].producer;
            if (ph < 0 || pc < 0 || dead[ph] || dead[pc] || n_uses(g, h) != 1 || n_uses(g, x) != 2) continue;
            const px_node *hs = &g->nodes[ph], *conv = &g->nodes[pc];
            const px_attr *alpha = px_node_attr(hs, "alpha"), *beta = px_node_attr(hs, "beta");
            if (!is_op(hs, "", "HardSigmoid") || hs->n_inputs != 1 || hs->inputs[0] != x || !alpha || !beta ||
                alpha->f != (float)(1.0 / 6.0) || beta->f != 0.5f)
                continue;
            if (!is_op(conv, "com.microsoft.nchwc", "Conv") || conv->n_outputs != 1 || px_node_attr(conv, "activation"))
                continue;
            px_attr act = {.name = "activation", .type = PX_ATTR_STRING, .s = "HardSwish", .s_len = 9};
            int out = mul->outputs[0];
            if ((st = px_node_add_attr(g, pc, &act)) || (st = px_node_set_outputs(g, pc, &out, 1))) break;
            g->values[x].producer = -1;
            dead[i] = dead[ph] = 1;
            *removed += 2;
            fused++;
            break;
        }
    }
    if (!st && fused) st = px_graph_remove_nodes(g, dead);
    if (!st && fused) st = px_graph_sort(g);
    free(dead);
    return st;
}

/* ONNX Runtime's NCHWc transformer keeps a channel Concat of blocked
 * tensors blocked when every input's channel count fills whole blocks; a
 * cut between the Concat and its producers leaves a ReorderOutput on every
 * input and a ReorderInput after it.  Here the Concat reads the blocked
 * tensors and one ReorderOutput follows it (which the pair rule then
 * cancels against the ReorderInput).  Channel counts must be multiples of
 * 16: whole blocks for every block size MLAS uses (8 with AVX2, 16 with
 * AVX-512), so no padding ends up inside the concatenation.  Only done when
 * a ReorderInput reads the result, so a pair goes. */
#define NCHWC_WHOLE_BLOCKS 16

/* Removes the nodes dead marks among the first nn (nodes a rule added
 * after them are kept), then re-sorts. */
static px_status remove_dead_keep_added(px_graph *g, const char *dead, int nn)
{
    char *all = calloc((size_t)g->n_nodes + 1, 1);
    if (!all) return px_nomem();
    memcpy(all, dead, (size_t)nn);
    px_status st = px_graph_remove_nodes(g, all);
    free(all);
    return st ? st : px_graph_sort(g);
}

/* A new value named base+suffix (+_N when taken); its name in buf. */
static int fresh_value(px_graph *g, const char *base, const char *suffix, char *buf, size_t size)
{
    for (int t = 0; t < 1000; t++) {
        snprintf(buf, size, "%s%s%s%.0d", base, suffix, t ? "_" : "", t);
        if (px_graph_find(g, buf) < 0) return px_graph_add_value(g, buf);
    }
    return -1;
}

static int bn_foldable(const px_graph *g, const px_node *n, int64_t channels);

/* Whether a reader of v takes it back into the blocked layout: a
 * ReorderInput, or a BatchNormalization that fuse_batchnorms turns into a
 * blocked convolution. */
static int reads_back(const px_graph *g, int v, int64_t channels)
{
    for (int k = g->cons_start[v]; k < g->cons_start[v + 1]; k++) {
        const px_node *n = &g->nodes[g->cons[k]];
        if (is_op(n, "com.microsoft.nchwc", "ReorderInput") && px_attr_int(n, "channels_last", 0) == 0) return 1;
        if (bn_foldable(g, n, channels) && n->inputs[0] == v) return 1;
    }
    return 0;
}

static int concat_blocked(const px_graph *g, const px_node *n, int64_t *channels)
{
    if (!is_op(n, "", "Concat") || n->n_inputs < 1 || n->n_outputs != 1 || n->outputs[0] < 0) return 0;
    const px_value *z = &g->values[n->outputs[0]];
    int64_t axis = px_attr_int(n, "axis", 0);
    /* blocked tensors are 4-D: the output's rank, or else every input's */
    int rank = z->shape.rank;
    for (int j = 0; rank < 0 && j < n->n_inputs; j++)
        if (n->inputs[j] >= 0 && g->values[n->inputs[j]].shape.rank == 4) rank = 4;
    for (int j = 0; j < n->n_inputs; j++)
        if (n->inputs[j] < 0 || (g->values[n->inputs[j]].shape.rank >= 0 && g->values[n->inputs[j]].shape.rank != 4))
            return 0;
    if (rank != 4 || (axis != 1 && axis != -3) || (z->dtype != PX_DT_FLOAT && z->dtype != PX_DT_UNDEFINED)) return 0;
    if (z->flags & PX_VAL_OUTPUT) return 0;
    *channels = 0;
    for (int j = 0; j < n->n_inputs; j++) {
        int r = nchw_reorder(g, n->inputs[j]);
        if (r < 0) return 0;
        int64_t ch = px_attr_int(&g->nodes[r], "channels", 0);
        if (ch <= 0 || ch % NCHWC_WHOLE_BLOCKS) return 0;
        *channels += ch;
    }
    return reads_back(g, n->outputs[0], *channels);
}

static px_status fuse_concats(px_graph *g, int *removed)
{
    px_status st = px_graph_index(g);
    if (st) return st;
    int nn = g->n_nodes, nc = 0;
    int *cand = malloc(((size_t)nn + 1) * sizeof *cand);
    int64_t *chans = malloc(((size_t)nn + 1) * sizeof *chans);
    char *dead = calloc((size_t)nn + 1, 1);
    if (!cand || !chans || !dead) {
        st = px_nomem();
        goto out;
    }
    for (int i = 0; i < nn; i++)
        if (concat_blocked(g, &g->nodes[i], &chans[nc])) cand[nc++] = i;
    for (int c = 0; c < nc && !st; c++) {
        int i = cand[c], n_in = g->nodes[i].n_inputs, z = g->nodes[i].outputs[0];
        int *ins = malloc((size_t)n_in * sizeof *ins);
        if (!ins) {
            st = px_nomem();
            break;
        }
        for (int j = 0; j < n_in; j++) {
            int r = nchw_reorder(g, g->nodes[i].inputs[j]), y = g->nodes[i].inputs[j], reads = 0;
            ins[j] = g->nodes[r].inputs[0];
            for (int k = 0; k < n_in; k++) reads += g->nodes[i].inputs[k] == y;
            if (n_uses(g, y) == reads && !dead[r]) { /* the Concat was its only reader */
                dead[r] = 1;
                ++*removed;
            }
        }
        char name[512];
        int u = fresh_value(g, g->values[z].name, "_nchwc", name, sizeof name);
        int ro = u < 0 ? -1 : px_graph_add_node(g, "ReorderOutput", "com.microsoft.nchwc", name);
        if (ro < 0) {
            free(ins);
            st = u < 0 ? px_fail(PX_ERR_LIMIT, "seam: no free name for a blocked Concat") : px_nomem();
            break;
        }
        g->values[u].dtype = PX_DT_FLOAT;
        px_attr ch = {.name = "channels", .type = PX_ATTR_INT, .i = chans[c]};
        if (!(st = px_node_set_inputs(g, i, ins, n_in)) && !(st = px_node_set_outputs(g, i, &u, 1)) &&
            !(st = px_node_set_inputs(g, ro, &u, 1)) && !(st = px_node_set_outputs(g, ro, &z, 1)))
            st = px_node_add_attr(g, ro, &ch);
        free(ins);
        --*removed; /* the ReorderOutput added */
    }
    if (!st && nc) st = remove_dead_keep_added(g, dead, nn);
out:
    free(cand);
    free(chans);
    free(dead);
    return st;
}

/* A float initializer of shape [channels] with data. */
static const float *channel_vector(const px_graph *g, int v, int64_t channels)
{
    const px_tensor *t = v >= 0 ? g->values[v].init : NULL;
    if (!t || t->dtype != PX_DT_FLOAT || t->rank != 1 || t->dims[0] != channels || !t->data ||
        t->nbytes != (size_t)channels * sizeof(float))
        return NULL;
    return t->data;
}

/* ONNX Runtime's NCHWc transformer turns an inference BatchNormalization
 * of a blocked tensor into a depthwise 1x1 NCHWc convolution (scale /
 * sqrt(var + epsilon) as weight, B - mean * that as bias), on its own
 * conditions: one output, spatial, an explicit epsilon, constant float
 * parameters of the channel count.  Whole blocks only here (channels % 16),
 * so no padding needs to be added to the parameters. */
static int bn_foldable(const px_graph *g, const px_node *n, int64_t channels)
{
    if (!is_op(n, "", "BatchNormalization") || n->n_inputs != 5 || n->n_outputs < 1 || n->outputs[0] < 0 ||
        n->inputs[0] < 0 || channels <= 0 || channels % NCHWC_WHOLE_BLOCKS)
        return 0;
    for (int j = 1; j < n->n_outputs; j++)
        if (n->outputs[j] >= 0) return 0;
    const px_attr *eps = px_node_attr(n, "epsilon");
    if (!eps || eps->type != PX_ATTR_FLOAT || px_attr_int(n, "spatial", 1) != 1 ||
        px_attr_int(n, "training_mode", 0) != 0)
        return 0;
    for (int j = 1; j < 5; j++)
        if (!channel_vector(g, n->inputs[j], channels)) return 0;
    return 1;
}

static const char *const nchwc_activations[] = {"Relu", "Sigmoid", "Tanh"};

/* The single reader of v when it is an activation the NCHWc convolution
 * takes (as the transformer fuses it); else -1. */
static int fusable_activation(const px_graph *g, int v)
{
    if (n_uses(g, v) != 1) return -1;
    int r = g->cons[g->cons_start[v]];
    const px_node *n = &g->nodes[r];
    for (size_t i = 0; i < sizeof nchwc_activations / sizeof *nchwc_activations; i++)
        if (is_op(n, "", nchwc_activations[i]) && n->n_inputs == 1 && n->n_outputs == 1 && n->outputs[0] >= 0)
            return r;
    return -1;
}

static px_status add_channel_init(px_graph *g, const char *base, const char *suffix, const float *data,
                                  int64_t channels, int rank, int *value)
{
    char name[512];
    int64_t dims[4] = {channels, 1, 1, 1};
    *value = fresh_value(g, base, suffix, name, sizeof name);
    px_tensor *t = *value < 0 ? NULL : px_tensor_new(PX_DT_FLOAT, rank, dims);
    if (!t || px_tensor_alloc_data(t)) {
        px_tensor_free(t);
        return *value < 0 ? px_fail(PX_ERR_LIMIT, "seam: no free name for a folded BatchNormalization")
                          : px_nomem();
    }
    memcpy(t->data, data, (size_t)channels * sizeof(float));
    g->values[*value].dtype = PX_DT_FLOAT;
    return px_graph_add_init(g, *value, t);
}

/* A BatchNormalization whose input a cut brought back to NCHW
 * (ReorderOutput of a blocked tensor, or a Concat fuse_concats kept
 * blocked) becomes the NCHWc convolution ONNX Runtime makes of it inside
 * one graph, with the Relu/Sigmoid/Tanh after it as its activation; one
 * ReorderOutput follows, which the pair rule cancels against the
 * ReorderInput of the next convolution. */
static px_status fuse_batchnorms(px_graph *g, int *removed)
{
    px_status st = px_graph_index(g);
    if (st) return st;
    int nn = g->n_nodes, fused = 0;
    char *dead = calloc((size_t)nn + 1, 1);
    if (!dead) return px_nomem();
    for (int i = 0; i < nn && !st; i++) {
        px_node *bn = &g->nodes[i];
        int r = is_op(bn, "", "BatchNormalization") && bn->n_inputs == 5 ? nchw_reorder(g, bn->inputs[0]) : -1;
        if (r < 0 || dead[r]) continue;
        int64_t c = px_attr_int(&g->nodes[r], "channels", 0);
        if (!bn_foldable(g, bn, c)) continue;
        const float *scale = channel_vector(g, bn->inputs[1], c), *bias = channel_vector(g, bn->inputs[2], c);
        const float *mean = channel_vector(g, bn->inputs[3], c), *var = channel_vector(g, bn->inputs[4], c);
        float eps = px_node_attr(bn, "epsilon")->f;
        float *w = malloc((size_t)c * 2 * sizeof *w);
        if (!w) {
            st = px_nomem();
            break;
        }
        float *b = w + c;
        for (int64_t k = 0; k < c; k++) { /* in float, in ONNX Runtime's order */
            float sd = sqrtf(var[k] + eps);
            w[k] = scale[k] / sd;
            b[k] = bias[k] - mean[k] * w[k];
        }
        int y = bn->outputs[0], out = y, act = fusable_activation(g, y);
        if (act >= 0) out = g->nodes[act].outputs[0];
        const char *base = g->values[y].name;
        char name[512];
        int wv, bv, yb;
        st = add_channel_init(g, base, "_bn_nchwc_W", w, c, 4, &wv);
        if (!st) st = add_channel_init(g, base, "_bn_nchwc_B", b, c, 1, &bv);
        free(w);
        if (st) break;
        if ((yb = fresh_value(g, base, "_bn_nchwc", name, sizeof name)) < 0) {
            st = px_fail(PX_ERR_LIMIT, "seam: no free name for a folded BatchNormalization");
            break;
        }
        g->values[yb].dtype = PX_DT_FLOAT;
        int conv = px_graph_add_node(g, "Conv", "com.microsoft.nchwc", name);
        char ro_name[540];
        snprintf(ro_name, sizeof ro_name, "%s/ReorderOutput", name);
        int ro = conv < 0 ? -1 : px_graph_add_node(g, "ReorderOutput", "com.microsoft.nchwc", ro_name);
        if (ro < 0) {
            st = px_nomem();
            break;
        }
        bn = &g->nodes[i]; /* adding nodes may move the array */
        int in[3] = {g->nodes[r].inputs[0], wv, bv};
        px_attr group = {.name = "group", .type = PX_ATTR_INT, .i = c};
        px_attr chans = {.name = "channels", .type = PX_ATTR_INT, .i = c};
        if ((st = px_node_set_inputs(g, conv, in, 3)) || (st = px_node_set_outputs(g, conv, &yb, 1)) ||
            (st = px_node_add_attr(g, conv, &group)) || (st = px_node_set_inputs(g, ro, &yb, 1)) ||
            (st = px_node_add_attr(g, ro, &chans)))
            break;
        if (act >= 0) {
            const char *op = g->nodes[act].op_type;
            px_attr a = {.name = "activation", .type = PX_ATTR_STRING, .s = op, .s_len = strlen(op)};
            if ((st = px_node_add_attr(g, conv, &a))) break;
            dead[act] = 1;
            ++*removed;
        }
        g->values[y].producer = -1;
        if ((st = px_node_set_outputs(g, ro, &out, 1))) break;
        dead[i] = 1;
        if (n_uses(g, bn->inputs[0]) == 1) { /* the BatchNormalization was its only reader */
            dead[r] = 1;
            ++*removed;
        }
        fused++;
    }
    if (!st && fused) st = remove_dead_keep_added(g, dead, nn);
    free(dead);
    return st;
}

/* A ReorderOutput nothing reads any more (every reader of a cut value
 * now takes the blocked tensor: several Concats of a dense block) goes. */
static px_status drop_unread_reorders(px_graph *g, int *removed)
{
    px_status st = px_graph_index(g);
    if (st) return st;
    char *dead = calloc((size_t)g->n_nodes + 1, 1);
    if (!dead) return px_nomem();
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const px_node *nd = &g->nodes[i];
        if (is_op(nd, "com.microsoft.nchwc", "ReorderOutput") && nd->n_outputs == 1 && nd->outputs[0] >= 0 &&
            n_uses(g, nd->outputs[0]) == 0) {
            dead[i] = 1;
            n++;
        }
    }
    if (n) st = px_graph_remove_nodes(g, dead);
    *removed += n;
    free(dead);
    return st;
}

px_status px_seam_cleanup(px_graph *g, int *removed)
{
    *removed = 0;
    int fused = 0;
    px_status fst = fuse_sums(g, &fused, removed);
    int concat_removed = 0, hs_removed = 0;
    if (!fst) fst = fuse_hardswish(g, &hs_removed);
    if (!fst) fst = fuse_concats(g, &concat_removed);
    int bn_removed = 0;
    if (!fst) fst = fuse_batchnorms(g, &bn_removed);
    *removed += hs_removed + bn_removed;
    if (fst) return fst;
    *removed += concat_removed;
    /* one pass finds every pair a pass can; a few more catch pairs that only
     * meet once a later node is gone (rare): bounded, so never quadratic */
    for (int pass = 0; pass < 4; pass++) {
        int n = 0;
        px_status st = seam_pass(g, &n);
        if (st) return st;
        *removed += n;
        if (!n) break;
    }
    return drop_unread_reorders(g, removed);
}
