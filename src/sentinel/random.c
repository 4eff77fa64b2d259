/* The "random opcodes" sentinel generator: grows a random DAG of random
 * operators from the real subgraph's inputs, then adapts what it grew to
 * the real subgraph's outputs.  Every node is checked by shape inference as
 * it is added, so the result is valid ONNX whose interface matches the real
 * one exactly. */
#include "sentinel/sentinel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel/control_flow.h"
#include "shape/shape_infer.h"

enum {
    MAX_WEIGHT_ELEMS = 1 << 21, /* keeps a random weight at most 8 MiB */
    MAX_TRIES = 64,
};

typedef struct gen {
    px_graph *g;
    px_rng *rng;
    px_rng *wrng; /* float weight values */
    int weightless;
    const px_wstats *ws; /* the model's weight statistics (may be NULL) */
    int64_t opset;      /* ai.onnx version */
    int counter;
    int *pool, n_pool, cap_pool; /* float32 values an op may read */
    int *uses, cap_uses;         /* by value id */
} gen;

static const char *const kind_names[PX_SENTINEL_COUNT] = {"random", "learned"};

int px_sentinel_kind_from_name(const char *name)
{
    for (int i = 0; i < PX_SENTINEL_COUNT; i++)
        if (!strcmp(name, kind_names[i])) return i;
    return -1;
}

const char *px_sentinel_kind_name(px_sentinel_kind kind)
{
    return kind >= 0 && kind < PX_SENTINEL_COUNT ? kind_names[kind] : "?";
}

static int pick(gen *s, int n) { return (int)px_rng_below(s->rng, (uint64_t)n); }

static px_status note_use(gen *s, int v)
{
    if (v >= s->cap_uses) {
        int cap = s->cap_uses ? s->cap_uses : 64;
        while (cap <= v) cap *= 2;
        int *u = realloc(s->uses, (size_t)cap * sizeof *u);
        if (!u) return px_nomem();
        memset(u + s->cap_uses, 0, (size_t)(cap - s->cap_uses) * sizeof *u);
        s->uses = u;
        s->cap_uses = cap;
    }
    s->uses[v]++;
    return PX_OK;
}

static int uses_of(const gen *s, int v) { return v < s->cap_uses ? s->uses[v] : 0; }

static px_status pool_add(gen *s, int v)
{
    if (s->n_pool == s->cap_pool) {
        int cap = s->cap_pool ? s->cap_pool * 2 : 32;
        int *p = realloc(s->pool, (size_t)cap * sizeof *p);
        if (!p) return px_nomem();
        s->pool = p;
        s->cap_pool = cap;
    }
    s->pool[s->n_pool++] = v;
    return PX_OK;
}

static const px_shape *shape_of(const gen *s, int v) { return &s->g->values[v].shape; }

/* A shape every op rule can work with: known rank, no unknown dims. */
static int shape_usable(const px_shape *sh)
{
    if (sh->rank < 0) return 0;
    for (int i = 0; i < sh->rank; i++)
        if (sh->dims[i].v < 0 && !sh->dims[i].sym) return 0;
    return 1;
}

static int dim_eq(px_dim a, px_dim b)
{
    if (a.v >= 0 || b.v >= 0) return a.v == b.v;
    return a.sym && b.sym && !strcmp(a.sym, b.sym);
}

static int shape_eq(const px_shape *a, const px_shape *b)
{
    if (a->rank != b->rank || a->rank < 0) return 0;
    for (int i = 0; i < a->rank; i++)
        if (!dim_eq(a->dims[i], b->dims[i])) return 0;
    return 1;
}

static int new_value(gen *s)
{
    char buf[32];
    snprintf(buf, sizeof buf, "v%d", s->counter++);
    return px_graph_add_value(s->g, buf);
}

static px_status attr_int(gen *s, int node, const char *name, int64_t v)
{
    px_attr a = {.name = name, .type = PX_ATTR_INT, .i = v};
    return px_node_add_attr(s->g, node, &a);
}

static px_status attr_float(gen *s, int node, const char *name, float v)
{
    px_attr a = {.name = name, .type = PX_ATTR_FLOAT, .f = v};
    return px_node_add_attr(s->g, node, &a);
}

static px_status attr_ints(gen *s, int node, const char *name, const int64_t *v, int n)
{
    px_attr a = {.name = name, .type = PX_ATTR_INTS, .n = n, .ints = (int64_t *)v};
    return px_node_add_attr(s->g, node, &a);
}

/* Adds op(ins) -> one new output; returns the node id in *node_out (may be
 * NULL) and the output value id in *out. */
static px_status add_node(gen *s, const char *op, const int *ins, int n_in, int *out, int *node_out)
{
    char buf[32];
    snprintf(buf, sizeof buf, "s%d", s->counter++);
    int node = px_graph_add_node(s->g, op, "", buf);
    int v = new_value(s);
    if (node < 0 || v < 0) return px_nomem();
    px_status st = px_node_set_inputs(s->g, node, ins, n_in);
    if (!st) st = px_node_set_outputs(s->g, node, &v, 1);
    for (int i = 0; i < n_in && !st; i++) st = note_use(s, ins[i]);
    if (st) return st;
    *out = v;
    if (node_out) *node_out = node;
    return PX_OK;
}

/* Runs inference over the graph grown so far; the new value must come out
 * usable, or the generator has a bug. */
static px_status settle(gen *s, int v, int to_pool)
{
    px_status st = px_shape_infer(s->g, NULL);
    if (st) return px_fail_prefix(st, "sentinel generator");
    if (!to_pool) return PX_OK;
    const px_value *val = &s->g->values[v];
    if (val->dtype != PX_DT_FLOAT || !shape_usable(&val->shape)) return PX_OK;
    return pool_add(s, v);
}

/* a constant > 0 (a scalar to divide by or start from), not a weight role */
#define W_POSITIVE PX_WR_COUNT

/* A float32 initializer of a role, drawn like the model's own weights of
 * that role (weights.h); weightless like the real ones when they are. */
static px_status add_weight(gen *s, int rank, const int64_t *dims, int role, int out_axis, int *out)
{
    int v = new_value(s);
    if (v < 0) return px_nomem();
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, rank, dims);
    if (!t) return px_nomem();
    px_status st = PX_OK;
    if (!(s->weightless && t->numel > 16)) {
        if ((st = px_tensor_alloc_data(t))) {
            px_tensor_free(t);
            return st;
        }
        float *d = t->data;
        if (role == W_POSITIVE)
            for (int64_t i = 0; i < t->numel; i++) d[i] = (float)(0.5 + px_rng_unit(s->wrng));
        else if ((st = px_wstats_draw(s->ws, (px_wrole)role, rank, dims, out_axis, s->wrng, d))) {
            px_tensor_free(t);
            return st;
        }
    }
    if ((st = px_graph_add_init(s->g, v, t))) return st;
    if ((st = px_shape_set_known(s->g, &s->g->values[v].shape, rank, dims))) return st;
    s->g->values[v].dtype = PX_DT_FLOAT;
    *out = v;
    return PX_OK;
}

static px_status add_int64s(gen *s, const int64_t *vals, int n, int *out)
{
    int v = new_value(s);
    if (v < 0) return px_nomem();
    int64_t dim = n;
    px_tensor *t = px_tensor_new(PX_DT_INT64, 1, &dim);
    if (!t) return px_nomem();
    px_status st = px_tensor_alloc_data(t);
    if (st) {
        px_tensor_free(t);
        return st;
    }
    if (n) memcpy(t->data, vals, (size_t)n * sizeof *vals);
    if ((st = px_graph_add_init(s->g, v, t))) return st;
    if ((st = px_shape_set_known(s->g, &s->g->values[v].shape, 1, &dim))) return st;
    s->g->values[v].dtype = PX_DT_INT64;
    *out = v;
    return PX_OK;
}

/* An operand: mostly the newest value nobody reads yet (long chains, as in
 * real networks), sometimes any value (branches and joins). */
static int pick_operand(gen *s)
{
    if (px_rng_unit(s->rng) < 0.7)
        for (int i = s->n_pool - 1; i >= 0; i--)
            if (!uses_of(s, s->pool[i])) return s->pool[i];
    return s->pool[pick(s, s->n_pool)];
}

static int64_t rand_channels(gen *s, int64_t around)
{
    int64_t hi = 2 * around + 16;
    return 1 + (int64_t)px_rng_below(s->rng, (uint64_t)hi);
}

static const char *const unary_ops[] = {"Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Erf", "Softplus", "LeakyRelu", "HardSigmoid"};
static const char *const binary_ops[] = {"Add", "Sub", "Mul", "Div"};

static px_status op_unary(gen *s, int x, int *out)
{
    const char *op = unary_ops[pick(s, (int)(sizeof unary_ops / sizeof *unary_ops))];
    int node;
    px_status st = add_node(s, op, &x, 1, out, &node);
    if (!st && !strcmp(op, "LeakyRelu")) st = attr_float(s, node, "alpha", (float)(0.01 + 0.3 * px_rng_unit(s->rng)));
    return st;
}

/* x op y, y another value of the same shape or a constant that broadcasts. */
static px_status op_binary(gen *s, int x, int *out)
{
    const px_shape *sx = shape_of(s, x);
    int y = -1;
    if (px_rng_unit(s->rng) < 0.5) {
        int start = pick(s, s->n_pool);
        for (int i = 0; i < s->n_pool && y < 0; i++) {
            int c = s->pool[(start + i) % s->n_pool];
            if (c != x && shape_eq(shape_of(s, c), sx)) y = c;
        }
    }
    px_status st;
    if (y < 0) {
        int64_t last = sx->rank > 0 && sx->dims[sx->rank - 1].v > 0 ? sx->dims[sx->rank - 1].v : 0;
        if ((st = last ? add_weight(s, 1, &last, PX_WR_BIAS, 0, &y) : add_weight(s, 0, NULL, W_POSITIVE, 0, &y)))
            return st;
    }
    const char *op = binary_ops[pick(s, 4)];
    if (!strcmp(op, "Div") && !s->g->values[y].init) op = "Mul"; /* divide by constants only */
    int ins[2] = {x, y};
    return add_node(s, op, ins, 2, out, NULL);
}

static px_status op_softmax(gen *s, int x, int *out)
{
    int node;
    px_status st = add_node(s, "Softmax", &x, 1, out, &node);
    return st ? st : attr_int(s, node, "axis", -1);
}

static int conv_ready(const px_shape *sh) { return sh->rank == 4 && sh->dims[1].v > 0; }

static px_status op_conv(gen *s, int x, int *out)
{
    const px_shape *sh = shape_of(s, x);
    int64_t c = sh->dims[1].v, k = 1 + 2 * pick(s, 4), stride = pick(s, 4) == 0 ? 2 : 1;
    int64_t c2 = rand_channels(s, c);
    while (c2 * c * k * k > MAX_WEIGHT_ELEMS && (k > 1 || c2 > 1)) {
        if (k > 1) k -= 2;
        else c2 = c2 / 2 > 0 ? c2 / 2 : 1;
    }
    if (c2 * c * k * k > MAX_WEIGHT_ELEMS) return op_unary(s, x, out);
    int64_t wd[4] = {c2, c, k, k};
    int w, b = -1, node;
    px_status st = add_weight(s, 4, wd, PX_WR_CONV, 0, &w);
    if (!st && pick(s, 2)) st = add_weight(s, 1, &c2, PX_WR_BIAS, 0, &b);
    if (st) return st;
    int ins[3] = {x, w, b};
    if ((st = add_node(s, "Conv", ins, b >= 0 ? 3 : 2, out, &node))) return st;
    int64_t ks[2] = {k, k}, pads[4] = {k / 2, k / 2, k / 2, k / 2}, strides[2] = {stride, stride};
    if (!(st = attr_ints(s, node, "kernel_shape", ks, 2)) && !(st = attr_ints(s, node, "pads", pads, 4)))
        st = attr_ints(s, node, "strides", strides, 2);
    return st;
}

static px_status op_pool(gen *s, int x, int *out)
{
    int node;
    int r = pick(s, 3);
    if (r == 2) return add_node(s, "GlobalAveragePool", &x, 1, out, NULL);
    px_status st = add_node(s, r ? "AveragePool" : "MaxPool", &x, 1, out, &node);
    int64_t ks[2] = {3, 3}, pads[4] = {1, 1, 1, 1}, strides[2];
    strides[0] = strides[1] = 1 + pick(s, 2);
    if (!st) st = attr_ints(s, node, "kernel_shape", ks, 2);
    if (!st) st = attr_ints(s, node, "pads", pads, 4);
    if (!st) st = attr_ints(s, node, "strides", strides, 2);
    return st;
}

static px_status op_batchnorm(gen *s, int x, int *out)
{
    int64_t c = shape_of(s, x)->dims[1].v;
    int ins[5] = {x};
    px_status st = add_weight(s, 1, &c, PX_WR_NORM_SCALE, 0, &ins[1]);
    if (!st) st = add_weight(s, 1, &c, PX_WR_NORM_BIAS, 0, &ins[2]);
    if (!st) st = add_weight(s, 1, &c, PX_WR_BN_MEAN, 0, &ins[3]);
    if (!st) st = add_weight(s, 1, &c, PX_WR_BN_VAR, 0, &ins[4]);
    int node;
    if (!st) st = add_node(s, "BatchNormalization", ins, 5, out, &node);
    if (!st) st = attr_float(s, node, "epsilon", 1e-5f);
    return st;
}

static px_status op_matmul(gen *s, int x, int *out)
{
    const px_shape *sh = shape_of(s, x);
    int64_t d = sh->dims[sh->rank - 1].v, d2 = rand_channels(s, d);
    while (d * d2 > MAX_WEIGHT_ELEMS && d2 > 1) d2 /= 2;
    if (d * d2 > MAX_WEIGHT_ELEMS) return op_unary(s, x, out);
    int64_t wd[2] = {d, d2};
    int ins[2] = {x};
    px_status st = add_weight(s, 2, wd, PX_WR_LINEAR, 1, &ins[1]);
    return st ? st : add_node(s, "MatMul", ins, 2, out, NULL);
}

static px_status op_transpose(gen *s, int x, int *out)
{
    int r = shape_of(s, x)->rank;
    int64_t perm[PX_MAX_RANK];
    for (int i = 0; i < r; i++) perm[i] = i;
    for (int i = r - 1; i > 0; i--) {
        int j = pick(s, i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int node;
    px_status st = add_node(s, "Transpose", &x, 1, out, &node);
    return st ? st : attr_ints(s, node, "perm", perm, r);
}

/* Concat with a value that differs from x on at most one known axis. */
static px_status op_concat(gen *s, int x, int *out)
{
    const px_shape *sx = shape_of(s, x);
    int y = x, axis = -1;
    int start = pick(s, s->n_pool);
    for (int i = 0; i < s->n_pool && axis < 0; i++) {
        int c = s->pool[(start + i) % s->n_pool];
        const px_shape *sc = shape_of(s, c);
        if (c == x || sc->rank != sx->rank) continue;
        int diff = -1, bad = 0;
        for (int a = 0; a < sx->rank && !bad; a++) {
            if (dim_eq(sx->dims[a], sc->dims[a])) continue;
            if (diff >= 0 || sx->dims[a].v < 0 || sc->dims[a].v < 0) bad = 1;
            diff = a;
        }
        if (!bad && diff >= 0) {
            y = c;
            axis = diff;
        }
    }
    if (axis < 0) {
        for (int a = 0; a < sx->rank; a++)
            if (sx->dims[a].v > 0 && (axis < 0 || pick(s, 2))) axis = a;
        if (axis < 0) return op_unary(s, x, out);
    }
    int ins[2] = {x, y}, node;
    px_status st = add_node(s, "Concat", ins, 2, out, &node);
    return st ? st : attr_int(s, node, "axis", axis);
}

/* ReduceMean over axes (NULL: all, keepdims 0 -> a scalar).  Opset 18
 * moved axes from an attribute to an input. */
static px_status reduce_mean(gen *s, int x, const int64_t *axes, int n_axes, int keepdims, int *out)
{
    int ins[2] = {x, -1}, node;
    px_status st;
    if (axes && s->opset >= 18 && (st = add_int64s(s, axes, n_axes, &ins[1]))) return st;
    if ((st = add_node(s, "ReduceMean", ins, ins[1] >= 0 ? 2 : 1, out, &node))) return st;
    if (axes && s->opset < 18 && (st = attr_ints(s, node, "axes", axes, n_axes))) return st;
    return attr_int(s, node, "keepdims", keepdims);
}

static px_status op_reduce(gen *s, int x, int *out)
{
    int64_t axis = pick(s, shape_of(s, x)->rank);
    return reduce_mean(s, x, &axis, 1, 1, out);
}

static px_status op_layernorm(gen *s, int x, int *out)
{
    const px_shape *sh = shape_of(s, x);
    int64_t d = sh->dims[sh->rank - 1].v;
    int ins[3] = {x};
    px_status st = add_weight(s, 1, &d, PX_WR_NORM_SCALE, 0, &ins[1]);
    if (!st) st = add_weight(s, 1, &d, PX_WR_NORM_BIAS, 0, &ins[2]);
    int node;
    if (!st) st = add_node(s, "LayerNormalization", ins, 3, out, &node);
    if (!st) st = attr_int(s, node, "axis", -1);
    return st;
}

static px_status op_gemm(gen *s, int x, int *out)
{
    int64_t d = shape_of(s, x)->dims[1].v, d2 = rand_channels(s, d);
    while (d * d2 > MAX_WEIGHT_ELEMS && d2 > 1) d2 /= 2;
    if (d * d2 > MAX_WEIGHT_ELEMS) return op_unary(s, x, out);
    int64_t wd[2] = {d, d2};
    int ins[3] = {x};
    px_status st = add_weight(s, 2, wd, PX_WR_LINEAR, 1, &ins[1]);
    if (!st) st = add_weight(s, 1, &d2, PX_WR_BIAS, 0, &ins[2]);
    return st ? st : add_node(s, "Gemm", ins, 3, out, NULL);
}

static px_status op_flatten(gen *s, int x, int *out)
{
    int node;
    px_status st = add_node(s, "Flatten", &x, 1, out, &node);
    return st ? st : attr_int(s, node, "axis", 1);
}

typedef enum op_kind {
    OP_UNARY, OP_BINARY, OP_SOFTMAX, OP_CONV, OP_POOL, OP_BATCHNORM, OP_MATMUL,
    OP_TRANSPOSE, OP_CONCAT, OP_REDUCE, OP_LAYERNORM, OP_GEMM, OP_FLATTEN, OP_KINDS
} op_kind;

static int last_known(const px_shape *sh) { return sh->rank >= 1 && sh->dims[sh->rank - 1].v > 0; }

static int applicable(const gen *s, op_kind k, const px_shape *sh)
{
    switch (k) {
    case OP_UNARY: case OP_BINARY: return 1;
    case OP_SOFTMAX: return sh->rank >= 1;
    case OP_CONV: case OP_POOL: return conv_ready(sh);
    case OP_BATCHNORM: return sh->rank >= 2 && sh->dims[1].v > 0;
    case OP_MATMUL: return sh->rank >= 2 && last_known(sh);
    case OP_TRANSPOSE: return sh->rank >= 2;
    case OP_CONCAT: case OP_REDUCE: return sh->rank >= 1;
    case OP_LAYERNORM: return s->opset >= 17 && last_known(sh);
    case OP_GEMM: return sh->rank == 2 && sh->dims[1].v > 0;
    case OP_FLATTEN: return sh->rank >= 3;
    default: return 0;
    }
}

static px_status grow_one(gen *s)
{
    for (int tries = 0; tries < MAX_TRIES; tries++) {
        int x = pick_operand(s);
        op_kind k = (op_kind)pick(s, OP_KINDS);
        if (!applicable(s, k, shape_of(s, x))) continue;
        int out;
        px_status st;
        switch (k) {
        case OP_UNARY: st = op_unary(s, x, &out); break;
        case OP_BINARY: st = op_binary(s, x, &out); break;
        case OP_SOFTMAX: st = op_softmax(s, x, &out); break;
        case OP_CONV: st = op_conv(s, x, &out); break;
        case OP_POOL: st = op_pool(s, x, &out); break;
        case OP_BATCHNORM: st = op_batchnorm(s, x, &out); break;
        case OP_MATMUL: st = op_matmul(s, x, &out); break;
        case OP_TRANSPOSE: st = op_transpose(s, x, &out); break;
        case OP_CONCAT: st = op_concat(s, x, &out); break;
        case OP_REDUCE: st = op_reduce(s, x, &out); break;
        case OP_LAYERNORM: st = op_layernorm(s, x, &out); break;
        case OP_GEMM: st = op_gemm(s, x, &out); break;
        default: st = op_flatten(s, x, &out); break;
        }
        return st ? st : settle(s, out, 1);
    }
    int out;
    px_status st = op_unary(s, pick_operand(s), &out);
    return st ? st : settle(s, out, 1);
}

/* The shape tensor for target (an int64 vector): constants for known dims;
 * a symbolic dim is read at run time from an input that carries it. */
static px_status shape_tensor(gen *s, const px_shape *target, int *out)
{
    int64_t known[PX_MAX_RANK];
    int all_known = 1;
    for (int i = 0; i < target->rank; i++) {
        known[i] = target->dims[i].v >= 0 ? target->dims[i].v : 1;
        if (target->dims[i].v < 0 && target->dims[i].sym) all_known = 0;
    }
    if (all_known) return add_int64s(s, known, target->rank, out);
    int parts[PX_MAX_RANK];
    px_status st;
    for (int i = 0; i < target->rank; i++) {
        const px_dim *d = &target->dims[i];
        int src = -1, axis = -1;
        for (int j = 0; j < s->g->n_inputs && src < 0 && d->v < 0 && d->sym; j++) {
            const px_shape *sh = &s->g->values[s->g->inputs[j]].shape;
            for (int a = 0; a < sh->rank && src < 0; a++)
                if (sh->dims[a].v < 0 && sh->dims[a].sym && !strcmp(sh->dims[a].sym, d->sym)) {
                    src = s->g->inputs[j];
                    axis = a;
                }
        }
        if (src < 0) {
            if ((st = add_int64s(s, &known[i], 1, &parts[i]))) return st;
            continue;
        }
        int shp, idx, ins[2];
        int64_t ax = axis;
        if ((st = add_node(s, "Shape", &src, 1, &shp, NULL))) return st;
        if ((st = add_int64s(s, &ax, 1, &idx))) return st;
        ins[0] = shp;
        ins[1] = idx;
        int node;
        if ((st = add_node(s, "Gather", ins, 2, &parts[i], &node))) return st;
        if ((st = attr_int(s, node, "axis", 0))) return st;
    }
    int node;
    if ((st = add_node(s, "Concat", parts, target->rank, out, &node))) return st;
    return attr_int(s, node, "axis", 0);
}

/* A float32 value of exactly target's shape, computed from x. */
static px_status adapt_shape(gen *s, int x, const px_shape *target, int *out)
{
    const px_shape *sx = shape_of(s, x);
    px_status st;
    int64_t nt = px_shape_numel(target), nx = px_shape_numel(sx);
    if (nt >= 0 && nt == nx) {
        int ins[2] = {x};
        if ((st = shape_tensor(s, target, &ins[1]))) return st;
        return add_node(s, "Reshape", ins, 2, out, NULL);
    }
    if (target->rank >= 1 && sx->rank == target->rank && last_known(sx) && last_known(target)) {
        int same = 1;
        for (int a = 0; a + 1 < sx->rank; a++) same &= dim_eq(sx->dims[a], target->dims[a]);
        int64_t d = sx->dims[sx->rank - 1].v, d2 = target->dims[target->rank - 1].v;
        if (same && d * d2 <= MAX_WEIGHT_ELEMS) {
            int64_t wd[2] = {d, d2};
            int ins[2] = {x};
            if ((st = add_weight(s, 2, wd, PX_WR_LINEAR, 1, &ins[1]))) return st;
            return add_node(s, "MatMul", ins, 2, out, NULL);
        }
    }
    if (sx->rank == 4 && target->rank == 4 && sx->dims[1].v > 0 && target->dims[1].v > 0 && dim_eq(sx->dims[0], target->dims[0]) &&
        dim_eq(sx->dims[2], target->dims[2]) && dim_eq(sx->dims[3], target->dims[3]) &&
        sx->dims[1].v * target->dims[1].v <= MAX_WEIGHT_ELEMS) {
        int64_t wd[4] = {target->dims[1].v, sx->dims[1].v, 1, 1};
        int ins[2] = {x};
        if ((st = add_weight(s, 4, wd, PX_WR_CONV, 0, &ins[1]))) return st;
        return add_node(s, "Conv", ins, 2, out, NULL);
    }
    /* anything else: the mean of x, broadcast to the target */
    int ins[2];
    if ((st = reduce_mean(s, x, NULL, 0, 0, &ins[0]))) return st;
    if ((st = shape_tensor(s, target, &ins[1]))) return st;
    return add_node(s, "Expand", ins, 2, out, NULL);
}

static void shape_str(const px_shape *sh, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = 0;
    if (sh->rank < 0) {
        snprintf(buf, n, "[?]");
        return;
    }
    at += (size_t)snprintf(buf + at, n - at, "[");
    for (int i = 0; i < sh->rank && at < n; i++) {
        if (sh->dims[i].v >= 0) at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? "," : "", (long long)sh->dims[i].v);
        else at += (size_t)snprintf(buf + at, n - at, "%s%s", i ? "," : "", sh->dims[i].sym ? sh->dims[i].sym : "?");
    }
    if (at < n) snprintf(buf + at, n - at, "]");
}

/* Whether a sentinel output shape satisfies the real one: known dims equal,
 * a symbol shared with the inputs equal, any other symbol (one inference
 * made up for a dim it could not resolve) free. */
static int shape_fits(const px_graph *g, const px_shape *got, const px_shape *want)
{
    if (want->rank < 0) return 1;
    if (got->rank != want->rank) return 0;
    for (int i = 0; i < want->rank; i++) {
        px_dim w = want->dims[i];
        if (w.v >= 0) {
            if (got->dims[i].v != w.v) return 0;
            continue;
        }
        if (!w.sym) continue;
        int bound = 0;
        for (int j = 0; j < g->n_inputs && !bound; j++) {
            const px_shape *sh = &g->values[g->inputs[j]].shape;
            for (int a = 0; a < sh->rank; a++) bound |= sh->dims[a].v < 0 && sh->dims[a].sym && !strcmp(sh->dims[a].sym, w.sym);
        }
        if (bound && !dim_eq(got->dims[i], w)) return 0;
    }
    return 1;
}

static int cast_ok(px_dtype dt) { return dt != PX_DT_STRING && dt != PX_DT_UNDEFINED && px_dtype_valid(dt); }

static px_status make_inputs(gen *s, const px_graph *real)
{
    px_status st;
    for (int i = 0; i < real->n_inputs; i++) {
        const px_value *rv = &real->values[real->inputs[i]];
        if (rv->flags & PX_VAL_INIT) continue;
        if (!cast_ok(rv->dtype) || rv->type_raw)
            return px_fail(PX_ERR_UNSUPPORTED, "sentinel generator: input %d has a type it cannot generate for (%s)", i,
                           px_dtype_name(rv->dtype));
        int v = new_value(s);
        if (v < 0) return px_nomem();
        s->g->values[v].dtype = rv->dtype;
        if ((st = px_shape_copy(s->g, &s->g->values[v].shape, &rv->shape)) || (st = px_graph_add_input(s->g, v))) return st;
        if (!shape_usable(&rv->shape)) continue; /* read by nothing: the leaf fold below still consumes it */
        int f = v;
        if (rv->dtype != PX_DT_FLOAT) {
            int node;
            if ((st = add_node(s, "Cast", &v, 1, &f, &node)) || (st = attr_int(s, node, "to", PX_DT_FLOAT))) return st;
            if ((st = settle(s, f, 0))) return st;
        }
        if ((st = pool_add(s, f))) return st;
    }
    return PX_OK;
}

static px_status generate(gen *s, const px_graph *real)
{
    px_status st;
    px_graph *g = s->g;
    if ((st = make_inputs(s, real))) return st;
    if (!s->n_pool) {
        /* no usable input (unknown shapes): start from a constant */
        int c, out;
        if ((st = add_weight(s, 0, NULL, W_POSITIVE, 0, &c)) || (st = add_node(s, "Relu", &c, 1, &out, NULL)) ||
            (st = settle(s, out, 1)))
            return st;
    }
    int n_out = real->n_outputs;
    int body = real->n_nodes - 2 * n_out;
    if (body < 1) body = 1;
    for (int i = 0; i < body; i++)
        if ((st = grow_one(s))) return st;

    /* every output from its own source, preferring values nobody reads */
    int *pre = calloc((size_t)n_out + 1, sizeof *pre);
    if (!pre) return px_nomem();
    for (int o = 0; o < n_out && !st; o++) {
        const px_value *rv = &real->values[real->outputs[o]];
        if (!cast_ok(rv->dtype) || rv->type_raw) {
            st = px_fail(PX_ERR_UNSUPPORTED, "sentinel generator: output %d has a type it cannot generate for (%s)", o,
                         px_dtype_name(rv->dtype));
            break;
        }
        int src = -1;
        for (int i = s->n_pool - 1; i >= 0 && src < 0; i--)
            if (!uses_of(s, s->pool[i]) && shape_eq(shape_of(s, s->pool[i]), &rv->shape)) src = s->pool[i];
        for (int i = s->n_pool - 1; i >= 0 && src < 0; i--)
            if (!uses_of(s, s->pool[i])) src = s->pool[i];
        if (src < 0) src = s->pool[pick(s, s->n_pool)];
        if (shape_eq(shape_of(s, src), &rv->shape)) {
            st = op_unary(s, src, &pre[o]);
        } else {
            px_shape target;
            if (!(st = px_shape_copy(g, &target, &rv->shape))) {
                if (target.rank < 0) {
                    int64_t one = 1;
                    st = px_shape_set_known(g, &target, 1, &one);
                }
            }
            if (!st) st = adapt_shape(s, src, &target, &pre[o]);
        }
        if (!st) st = settle(s, pre[o], 0);
    }
    /* fold every value nobody reads into an output: no dead ends */
    for (int i = 0, o = 0; i < s->n_pool && !st && n_out; i++) {
        int v = s->pool[i];
        if (uses_of(s, v)) continue;
        int is_pre = 0;
        for (int j = 0; j < n_out; j++) is_pre |= pre[j] == v;
        if (is_pre) continue;
        int m, ins[2];
        if ((st = reduce_mean(s, v, NULL, 0, 0, &m))) break;
        ins[0] = pre[o];
        ins[1] = m;
        if ((st = add_node(s, "Add", ins, 2, &pre[o], NULL))) break;
        o = (o + 1) % n_out;
    }
    for (int i = 0; i < g->n_inputs && !st && n_out; i++) {
        int v = g->inputs[i];
        if (uses_of(s, v)) continue;
        int f = v, m, ins[2], node;
        if (g->values[v].dtype != PX_DT_FLOAT &&
            ((st = add_node(s, "Cast", &v, 1, &f, &node)) || (st = attr_int(s, node, "to", PX_DT_FLOAT))))
            break;
        if ((st = reduce_mean(s, f, NULL, 0, 0, &m))) break;
        ins[0] = pre[0];
        ins[1] = m;
        if ((st = add_node(s, "Add", ins, 2, &pre[0], NULL))) break;
    }
    for (int o = 0; o < n_out && !st; o++) {
        const px_value *rv = &real->values[real->outputs[o]];
        int v = pre[o];
        if (rv->dtype != PX_DT_FLOAT) {
            int node;
            if ((st = add_node(s, "Cast", &pre[o], 1, &v, &node)) || (st = attr_int(s, node, "to", rv->dtype))) break;
        }
        g->values[v].dtype = rv->dtype;
        if ((st = px_shape_copy(g, &g->values[v].shape, &rv->shape)) || (st = px_graph_add_output(g, v))) break;
    }
    free(pre);
    if (st) return st;
    if ((st = px_shape_infer(g, NULL))) return px_fail_prefix(st, "sentinel generator");
    for (int o = 0; o < n_out; o++) {
        const px_value *rv = &real->values[real->outputs[o]], *sv = &g->values[g->outputs[o]];
        if (sv->dtype != rv->dtype || !shape_fits(g, &sv->shape, &rv->shape)) {
            char a[256], b[256];
            shape_str(&sv->shape, a, sizeof a);
            shape_str(&rv->shape, b, sizeof b);
            return px_fail(PX_ERR_MISMATCH, "sentinel generator: output %d came out %s %s, not %s %s", o,
                           px_dtype_name(sv->dtype), a, px_dtype_name(rv->dtype), b);
        }
        /* declare exactly what the real file declares */
        if ((st = px_shape_copy(g, &g->values[g->outputs[o]].shape, &rv->shape))) return st;
    }
    return px_graph_validate(g);
}

int px_sentinel_weightless(const px_graph *model)
{
    for (int i = 0; i < model->n_inits; i++) {
        const px_tensor *t = model->values[model->inits[i]].init;
        if (t && px_dtype_is_float(t->dtype) && t->numel > 16 && !t->data) return 1;
    }
    return 0;
}

px_status px_sentinel_generate(const px_sentinel_opts *opts, const px_graph *real, px_rng *rng, px_graph *out)
{
    if (opts->kind == PX_SENTINEL_LEARNED) return px_sentinel_learned(opts, real, rng, out);
    px_graph_init(out);
    if (opts->kind != PX_SENTINEL_RANDOM) return px_fail(PX_ERR_USAGE, "unknown sentinel generator %d", (int)opts->kind);
    gen s = {.g = out, .rng = rng, .wrng = opts->weight_rng ? opts->weight_rng : rng, .weightless = opts->weightless, .ws = opts->weights, .opset = px_graph_opset(real, "")};
    if (s.opset <= 0) s.opset = 17;
    px_status st = px_graph_set_opset(out, "", s.opset);
    if (!st) st = generate(&s, real);
    if (!st) st = px_sentinel_control_flow(opts, real, rng, out);
    free(s.pool);
    free(s.uses);
    if (st) px_graph_free(out);
    return st;
}
