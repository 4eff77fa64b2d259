/* Elementwise ops: unary (same shape), n-ary with numpy broadcasting,
 * comparisons and logic (bool), Where, Cast/CastLike, Dropout, Softmax
 * family, and integer data propagation through them. */
#include <stdlib.h>
#include <string.h>

#include "shape/infer_internal.h"

/* --- elementwise data propagation ---------------------------------------- */

typedef px_dim (*elt_fn)(const px_ictx *c, const px_dim *args);

/* Applies fn over the broadcast of inputs [first, first+nin) when all their
 * contents and shapes are known and the output is small. */
static px_status eltwise_data(px_ictx *c, int first, int nin, elt_fn fn)
{
    px_value *out = px_out(c, 0);
    if (!out || out->shape.rank < 0) return PX_OK;
    int64_t numel = px_shape_numel(&out->shape);
    if (numel < 0 || numel > PX_DATA_MAX) return PX_OK;
    int r = out->shape.rank;
    const px_dim *data[4];
    const px_shape *sh[4];
    for (int k = 0; k < nin; k++) {
        int n;
        data[k] = px_in_data(c, first + k, &n);
        sh[k] = px_in_shape(c, first + k);
        if (!data[k] || sh[k]->rank < 0 || sh[k]->rank > r || px_shape_numel(sh[k]) != n) return PX_OK;
    }
    px_dim res[PX_DATA_MAX];
    int64_t idx[PX_MAX_RANK];
    memset(idx, 0, sizeof idx);
    for (int64_t e = 0; e < numel; e++) {
        px_dim args[4];
        for (int k = 0; k < nin; k++) {
            /* offset of the broadcast element in input k */
            int64_t off = 0;
            int kr = sh[k]->rank;
            for (int a = 0; a < kr; a++) {
                int64_t d = sh[k]->dims[a].v;
                int64_t i = idx[r - kr + a];
                off = off * d + (d == 1 ? 0 : i);
            }
            args[k] = data[k][off];
        }
        res[e] = fn(c, args);
        for (int a = r - 1; a >= 0; a--) {
            if (++idx[a] < out->shape.dims[a].v) break;
            idx[a] = 0;
        }
    }
    return px_set_out_data(c, 0, (int)numel, res);
}

static int sym_eq(px_dim a, px_dim b)
{
    return a.sym && b.sym && !px_sym_is_marker(a.sym) && strcmp(a.sym, b.sym) == 0;
}

static px_dim f_add(const px_ictx *c, const px_dim *a)
{
    int64_t r;
    if (px_elit(a[0]) && px_elit(a[1])) return __builtin_add_overflow(a[0].v, a[1].v, &r) ? px_dim_unk_data() : px_dk(r);
    if (px_elit(a[1]) && a[1].v == 0) return a[0];
    if (px_elit(a[0]) && a[0].v == 0) return a[1];
    return px_dim_unk_data();
}

static px_dim f_sub(const px_ictx *c, const px_dim *a)
{
    int64_t r;
    if (px_elit(a[0]) && px_elit(a[1])) return __builtin_sub_overflow(a[0].v, a[1].v, &r) ? px_dim_unk_data() : px_dk(r);
    if (px_elit(a[1]) && a[1].v == 0) return a[0];
    if (sym_eq(a[0], a[1])) return px_dk(0);
    return px_dim_unk_data();
}

static px_dim f_mul(const px_ictx *c, const px_dim *a)
{
    int64_t r;
    if (px_elit(a[0]) && px_elit(a[1])) return __builtin_mul_overflow(a[0].v, a[1].v, &r) ? px_dim_unk_data() : px_dk(r);
    if ((px_elit(a[0]) && a[0].v == 0) || (px_elit(a[1]) && a[1].v == 0)) return px_dk(0);
    if (px_elit(a[1]) && a[1].v == 1) return a[0];
    if (px_elit(a[0]) && a[0].v == 1) return a[1];
    return px_dim_unk_data();
}

/* Integer Div truncates (as onnxruntime does). */
static px_dim f_div(const px_ictx *c, const px_dim *a)
{
    if (px_elit(a[0]) && px_elit(a[1])) {
        if (a[1].v == 0 || (a[0].v == INT64_MIN && a[1].v == -1)) return px_dim_unk_data();
        return px_dk(a[0].v / a[1].v);
    }
    if (px_elit(a[1]) && a[1].v == 1) return a[0];
    if (sym_eq(a[0], a[1]) && px_sym_is_dim(c, a[0].sym)) return px_dim_unk_data(); /* 0/0 possible */
    return px_dim_unk_data();
}

/* Integer Mod with fmod = 0 takes the divisor's sign (Python %). */
static px_dim f_mod(const px_ictx *c, const px_dim *a)
{
    if (!px_elit(a[0]) || !px_elit(a[1]) || a[1].v == 0 || (a[0].v == INT64_MIN && a[1].v == -1))
        return px_dim_unk_data();
    int64_t m = a[0].v % a[1].v;
    if (m != 0 && px_attr_int(c->n, "fmod", 0) == 0 && ((m < 0) != (a[1].v < 0))) m += a[1].v;
    return px_dk(m);
}

/* x >= 0 for dims: Max(dim, k <= 0) = dim, Min(dim, k <= 0) = k. */
static px_dim f_max(const px_ictx *c, const px_dim *a)
{
    if (px_elit(a[0]) && px_elit(a[1])) return px_dk(a[0].v > a[1].v ? a[0].v : a[1].v);
    if (sym_eq(a[0], a[1])) return a[0];
    if (px_elit(a[1]) && a[1].v <= 0 && px_sym_is_dim(c, a[0].sym)) return a[0];
    if (px_elit(a[0]) && a[0].v <= 0 && px_sym_is_dim(c, a[1].sym)) return a[1];
    return px_dim_unk_data();
}

static px_dim f_min(const px_ictx *c, const px_dim *a)
{
    if (px_elit(a[0]) && px_elit(a[1])) return px_dk(a[0].v < a[1].v ? a[0].v : a[1].v);
    if (sym_eq(a[0], a[1])) return a[0];
    if (px_elit(a[1]) && a[1].v <= 0 && px_sym_is_dim(c, a[0].sym)) return a[1];
    if (px_elit(a[0]) && a[0].v <= 0 && px_sym_is_dim(c, a[1].sym)) return a[0];
    return px_dim_unk_data();
}

static px_dim f_equal(const px_ictx *c, const px_dim *a)
{
    if (px_elit(a[0]) && px_elit(a[1])) return px_dk(a[0].v == a[1].v);
    if (sym_eq(a[0], a[1])) return px_dk(1);
    /* a dim is never negative: the exporters' Equal(shape, -1) test */
    if (px_elit(a[1]) && a[1].v < 0 && px_sym_is_dim(c, a[0].sym)) return px_dk(0);
    if (px_elit(a[0]) && a[0].v < 0 && px_sym_is_dim(c, a[1].sym)) return px_dk(0);
    return px_dim_unk_data();
}

#define CMP_FN(name, expr) \
    static px_dim name(const px_ictx *c, const px_dim *a) \
    { \
        if (!px_elit(a[0]) || !px_elit(a[1])) return px_dim_unk_data(); \
        int64_t x = a[0].v, y = a[1].v; \
        return px_dk(expr); \
    }
CMP_FN(f_less, x < y)
CMP_FN(f_greater, x > y)
CMP_FN(f_less_eq, x <= y)
CMP_FN(f_greater_eq, x >= y)
CMP_FN(f_and, (x != 0) && (y != 0))
CMP_FN(f_or, (x != 0) || (y != 0))
CMP_FN(f_xor, (x != 0) != (y != 0))
#undef CMP_FN

static px_dim f_where(const px_ictx *c, const px_dim *a)
{
    if (!px_elit(a[0])) return sym_eq(a[1], a[2]) || (px_elit(a[1]) && px_elit(a[2]) && a[1].v == a[2].v) ? a[1] : px_dim_unk_data();
    return a[0].v ? a[1] : a[2];
}

static px_dim f_not(const px_ictx *c, const px_dim *a)
{
    return px_elit(a[0]) ? px_dk(a[0].v == 0) : px_dim_unk_data();
}

static px_dim f_neg(const px_ictx *c, const px_dim *a)
{
    if (px_elit(a[0]) && a[0].v != INT64_MIN) return px_dk(-a[0].v);
    return px_dim_unk_data();
}

static px_dim f_abs(const px_ictx *c, const px_dim *a)
{
    if (px_elit(a[0]) && a[0].v != INT64_MIN) return px_dk(a[0].v < 0 ? -a[0].v : a[0].v);
    if (px_sym_is_dim(c, a[0].sym)) return a[0];
    return px_dim_unk_data();
}

/* --- rules ----------------------------------------------------------------- */

/* Same dtype and shape as input 0. */
static px_status r_unary(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    return px_set_out_shape(c, 0, px_in_dtype(c, 0), px_in_shape(c, 0));
}

static px_status unary_data(px_ictx *c, elt_fn fn)
{
    px_status st = r_unary(c);
    if (st || !px_dtype_is_index(px_in_dtype(c, 0))) return st;
    return eltwise_data(c, 0, 1, fn);
}

static px_status r_identity(px_ictx *c)
{
    px_status st = r_unary(c);
    int n;
    const px_dim *d = px_in_data(c, 0, &n);
    if (!st && d) st = px_set_out_data(c, 0, n, d);
    return st;
}

static px_status r_neg(px_ictx *c) { return unary_data(c, f_neg); }
static px_status r_abs(px_ictx *c) { return unary_data(c, f_abs); }

/* Output bool, same shape (Not, IsNaN, IsInf). */
static px_status r_unary_bool(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (!st) st = px_set_out_shape(c, 0, PX_DT_BOOL, px_in_shape(c, 0));
    if (!st && !strcmp(c->n->op_type, "Not")) st = eltwise_data(c, 0, 1, f_not);
    return st;
}

/* Softmax, LogSoftmax, Hardmax: the axis must exist (onnx checks it). */
static px_status r_softmax(px_ictx *c)
{
    px_status st = r_unary(c);
    int r = px_in_rank(c, 0);
    if (st || r < 0 || c->opset < 13) return st;
    if (r == 0) return px_node_fail(c, "input rank must be >= 1");
    int axis;
    return px_axis(c, px_attr_int(c->n, "axis", -1), r, 0, "axis", &axis);
}

static px_status r_cast(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_attr *to = px_node_attr(c->n, "to");
    if (!to || to->type != PX_ATTR_INT) return px_node_fail(c, "attribute 'to' is missing");
    if (!px_dtype_attr_valid(to->i))
        return px_node_fail(c, "attribute 'to' names unknown element type %lld", (long long)to->i);
    px_dtype dt = (px_dtype)to->i;
    st = px_set_out_shape(c, 0, dt, px_in_shape(c, 0));
    int n;
    const px_dim *d = px_in_data(c, 0, &n);
    if (st || !d || !px_dtype_is_index(dt) || !px_dtype_is_index(px_in_dtype(c, 0))) return st;
    px_dim res[PX_DATA_MAX];
    for (int i = 0; i < n; i++) {
        px_dim e = d[i];
        if (!px_elit(e)) res[i] = (dt == PX_DT_INT64 || dt == PX_DT_INT32) ? e : px_dim_unk_data();
        else if (dt == PX_DT_BOOL) res[i] = px_dk(e.v != 0);
        else if (dt == PX_DT_INT32) res[i] = px_dk((int32_t)(uint32_t)(uint64_t)e.v);
        else if (dt == PX_DT_INT16) res[i] = px_dk((int16_t)(uint16_t)(uint64_t)e.v);
        else if (dt == PX_DT_INT8) res[i] = px_dk((int8_t)(uint8_t)(uint64_t)e.v);
        else if (dt == PX_DT_UINT32) res[i] = px_dk((uint32_t)(uint64_t)e.v);
        else if (dt == PX_DT_UINT16) res[i] = px_dk((uint16_t)(uint64_t)e.v);
        else if (dt == PX_DT_UINT8) res[i] = px_dk((uint8_t)(uint64_t)e.v);
        else if (dt == PX_DT_INT64 || (dt == PX_DT_UINT64 && e.v >= 0)) res[i] = e;
        else res[i] = px_dim_unk_data();
    }
    return px_set_out_data(c, 0, n, res);
}

static px_status r_castlike(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    return px_set_out_shape(c, 0, px_in_dtype(c, 1), px_in_shape(c, 0));
}

/* Dropout: output, and the optional mask (bool since opset 10). */
static px_status r_dropout(px_ictx *c)
{
    px_status st = r_unary(c);
    if (!st && px_n_out(c) > 1)
        st = px_set_out_shape(c, 1, c->opset >= 10 ? PX_DT_BOOL : px_in_dtype(c, 0), px_in_shape(c, 0));
    return st;
}

/* Broadcast of all present inputs (variadic ops skip omitted ones). */
static px_status broadcast_out(px_ictx *c, int first, int nin, px_dtype dt)
{
    const px_shape *local[8], **sh = local;
    if (nin <= 0) return px_node_fail(c, "needs at least one input");
    if (nin > 8 && !(sh = malloc((size_t)nin * sizeof *sh))) return px_nomem();
    px_status st = PX_OK;
    for (int i = 0; i < nin && !st; i++) {
        if (!px_in(c, first + i)) st = px_node_fail(c, "input %d is missing", first + i);
        else sh[i] = px_in_shape(c, first + i);
    }
    px_dim out[PX_MAX_RANK];
    int r;
    if (!st) st = px_broadcast(c, sh, nin, out, &r);
    if (sh != local) free(sh);
    if (st) return st;
    return px_set_out(c, 0, dt, r, out);
}

static px_status binary(px_ictx *c, elt_fn fn, int to_bool)
{
    px_status st = px_need_inputs(c, 2);
    px_dtype dt = to_bool ? PX_DT_BOOL : px_in_dtype(c, 0);
    /* Before opset 7, broadcast=1 fits B into A at 'axis': A's shape. */
    if (!st && c->opset < 7 && px_attr_int(c->n, "broadcast", 0))
        return px_set_out_shape(c, 0, dt, px_in_shape(c, 0));
    if (!st) st = broadcast_out(c, 0, 2, dt);
    if (!st && fn && px_dtype_is_index(px_in_dtype(c, 0))) st = eltwise_data(c, 0, 2, fn);
    return st;
}

static px_status r_add(px_ictx *c) { return binary(c, f_add, 0); }
static px_status r_sub(px_ictx *c) { return binary(c, f_sub, 0); }
static px_status r_mul(px_ictx *c) { return binary(c, f_mul, 0); }
static px_status r_div(px_ictx *c) { return binary(c, f_div, 0); }
static px_status r_mod(px_ictx *c) { return binary(c, f_mod, 0); }
static px_status r_binary(px_ictx *c) { return binary(c, NULL, 0); }
static px_status r_equal(px_ictx *c) { return binary(c, f_equal, 1); }
static px_status r_less(px_ictx *c) { return binary(c, f_less, 1); }
static px_status r_greater(px_ictx *c) { return binary(c, f_greater, 1); }
static px_status r_less_eq(px_ictx *c) { return binary(c, f_less_eq, 1); }
static px_status r_greater_eq(px_ictx *c) { return binary(c, f_greater_eq, 1); }
static px_status r_and(px_ictx *c) { return binary(c, f_and, 1); }
static px_status r_or(px_ictx *c) { return binary(c, f_or, 1); }
static px_status r_xor(px_ictx *c) { return binary(c, f_xor, 1); }

/* Sum, Mean, Max, Min: any number of inputs. */
static px_status r_variadic(px_ictx *c)
{
    int n = c->n->n_inputs;
    px_status st = broadcast_out(c, 0, n, px_in_dtype(c, 0));
    if (st || n != 2 || !px_dtype_is_index(px_in_dtype(c, 0))) return st;
    if (!strcmp(c->n->op_type, "Max")) return eltwise_data(c, 0, 2, f_max);
    if (!strcmp(c->n->op_type, "Min")) return eltwise_data(c, 0, 2, f_min);
    if (!strcmp(c->n->op_type, "Sum")) return eltwise_data(c, 0, 2, f_add);
    return PX_OK;
}

static px_status r_variadic_one(px_ictx *c)
{
    if (c->n->n_inputs == 1) return r_identity(c);
    return r_variadic(c);
}

static px_status r_where(px_ictx *c)
{
    px_status st = px_need_inputs(c, 3);
    if (!st) st = broadcast_out(c, 0, 3, px_in_dtype(c, 1));
    if (!st && px_dtype_is_index(px_in_dtype(c, 1))) st = eltwise_data(c, 0, 3, f_where);
    return st;
}

/* PRelu keeps X's shape (the slope broadcasts to it, unidirectionally). */
static px_status r_prelu(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0), *s = px_in_shape(c, 1);
    if (x->rank >= 0 && s->rank >= 0 && c->opset >= 7) {
        if (s->rank > x->rank) return px_node_fail(c, "slope of rank %d does not broadcast to rank %d", s->rank, x->rank);
        for (int i = 0; i < s->rank; i++) {
            px_dim a = s->dims[i], b = x->dims[x->rank - s->rank + i];
            if (a.v >= 0 && b.v >= 0 && a.v != 1 && a.v != b.v)
                return px_node_fail(c, "slope dim %lld does not broadcast to %lld", (long long)a.v, (long long)b.v);
        }
    }
    return px_set_out_shape(c, 0, px_in_dtype(c, 0), x);
}

/* Clip: min/max are optional inputs (opset 11+) or attributes. */
static px_status r_clip(px_ictx *c) { return r_unary(c); }

const px_rule px_rules_elementwise[] = {
    /* same shape, same type */
    {"", "Relu", 1, 0, r_unary}, {"", "LeakyRelu", 1, 0, r_unary}, {"", "Elu", 1, 0, r_unary},
    {"", "Selu", 1, 0, r_unary}, {"", "Celu", 12, 0, r_unary}, {"", "Gelu", 20, 0, r_unary},
    {"", "Sigmoid", 1, 0, r_unary}, {"", "HardSigmoid", 1, 0, r_unary}, {"", "HardSwish", 14, 0, r_unary},
    {"", "Tanh", 1, 0, r_unary}, {"", "Erf", 9, 0, r_unary}, {"", "Exp", 1, 0, r_unary},
    {"", "Log", 1, 0, r_unary}, {"", "Sqrt", 1, 0, r_unary}, {"", "Reciprocal", 1, 0, r_unary},
    {"", "Neg", 1, 0, r_neg}, {"", "Abs", 1, 0, r_abs}, {"", "Floor", 1, 0, r_unary},
    {"", "Ceil", 1, 0, r_unary}, {"", "Round", 11, 0, r_unary}, {"", "Sign", 9, 0, r_unary},
    {"", "Sin", 7, 0, r_unary}, {"", "Cos", 7, 0, r_unary}, {"", "Tan", 7, 0, r_unary},
    {"", "Asin", 7, 0, r_unary}, {"", "Acos", 7, 0, r_unary}, {"", "Atan", 7, 0, r_unary},
    {"", "Sinh", 9, 0, r_unary}, {"", "Cosh", 9, 0, r_unary}, {"", "Asinh", 9, 0, r_unary},
    {"", "Acosh", 9, 0, r_unary}, {"", "Atanh", 9, 0, r_unary}, {"", "Softplus", 1, 0, r_unary},
    {"", "Softsign", 1, 0, r_unary}, {"", "Mish", 18, 0, r_unary}, {"", "ThresholdedRelu", 10, 0, r_unary},
    {"", "Shrink", 9, 0, r_unary}, {"", "Swish", 24, 0, r_unary}, {"", "BitwiseNot", 18, 0, r_unary},
    {"", "Clip", 1, 0, r_clip}, {"", "Identity", 1, 0, r_identity}, {"", "LpNormalization", 1, 0, r_unary},
    {"", "MeanVarianceNormalization", 9, 0, r_unary}, {"", "Softmax", 1, 0, r_softmax},
    {"", "LogSoftmax", 1, 0, r_softmax}, {"", "Hardmax", 1, 0, r_softmax},
    {"", "Dropout", 1, 0, r_dropout}, {"", "Cast", 1, 0, r_cast}, {"", "CastLike", 15, 0, r_castlike},
    {"", "Not", 1, 0, r_unary_bool}, {"", "IsNaN", 9, 0, r_unary_bool}, {"", "IsInf", 10, 0, r_unary_bool},
    /* broadcasting */
    {"", "Add", 1, 0, r_add}, {"", "Sub", 1, 0, r_sub}, {"", "Mul", 1, 0, r_mul}, {"", "Div", 1, 0, r_div},
    {"", "Pow", 1, 0, r_binary}, {"", "Mod", 10, 0, r_mod}, {"", "BitShift", 11, 0, r_binary},
    {"", "BitwiseAnd", 18, 0, r_binary}, {"", "BitwiseOr", 18, 0, r_binary},
    {"", "BitwiseXor", 18, 0, r_binary}, {"", "PRelu", 1, 0, r_prelu},
    {"", "Equal", 1, 0, r_equal}, {"", "Less", 1, 0, r_less}, {"", "Greater", 1, 0, r_greater},
    {"", "LessOrEqual", 12, 0, r_less_eq}, {"", "GreaterOrEqual", 12, 0, r_greater_eq},
    {"", "And", 1, 0, r_and}, {"", "Or", 1, 0, r_or}, {"", "Xor", 1, 0, r_xor},
    {"", "Sum", 1, 0, r_variadic_one}, {"", "Mean", 1, 0, r_variadic_one}, {"", "Max", 1, 0, r_variadic_one},
    {"", "Min", 1, 0, r_variadic_one}, {"", "Where", 9, 0, r_where},
    {"com.microsoft", "Gelu", 1, 0, r_unary}, {"com.microsoft", "FastGelu", 1, 0, r_unary},
    {"com.microsoft", "QuickGelu", 1, 0, r_unary}, {"com.microsoft", "BiasGelu", 1, 0, r_binary},
    {NULL, NULL, 0, 0, NULL},
};
