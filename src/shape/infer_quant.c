/* ONNX Runtime's com.microsoft QOperator ops (what onnxruntime.quantization
 * writes with QuantFormat.QOperator): 8-bit tensors with their scales and
 * zero points as extra inputs.  Types and shapes as ONNX Runtime's own
 * schemas infer them (contrib_ops quantization_defs); ops not here get
 * their types from ONNX Runtime at obfuscate time (bucket/capture.h). */
#include <string.h>

#include "shape/infer_internal.h"

/* QLinearAdd, QLinearMul: A, A_scale, A_zp?, B, B_scale, B_zp?, C_scale,
 * C_zp?: A's type, A and B broadcast. */
static px_status r_qlinear_binary(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    if (!px_has_in(c, 3)) return px_node_fail(c, "input 3 (B) is missing");
    const px_shape *sh[2] = {px_in_shape(c, 0), px_in_shape(c, 3)};
    px_dim out[PX_MAX_RANK];
    int r;
    if ((st = px_broadcast(c, sh, 2, out, &r))) return st;
    return px_set_out(c, 0, px_in_dtype(c, 0), r, out);
}

/* QLinearGlobalAveragePool: [N, C, 1...], or [N, 1..., C] with
 * channels_last. */
static px_status r_qlinear_global_pool(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    px_dtype dt = px_in_dtype(c, 0);
    if (x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    if (x->rank < 3) return px_node_fail(c, "input rank %d is below 3 (N, C, spatial...)", x->rank);
    int last = px_attr_int(c->n, "channels_last", 0) != 0;
    px_dim out[PX_MAX_RANK];
    for (int i = 0; i < x->rank; i++) out[i] = px_dk(1);
    out[0] = x->dims[0];
    if (last) out[x->rank - 1] = x->dims[x->rank - 1];
    else out[1] = x->dims[1];
    return px_set_out(c, 0, dt, x->rank, out);
}

/* QLinearConcat: Y_scale, Y_zp, then (X, X_scale, X_zp) per input: the
 * Xs concatenated along axis, Y_zp's type. */
static px_status r_qlinear_concat(px_ictx *c)
{
    int n = c->n->n_inputs - c->n->n_implicit;
    if (n < 5 || (n - 2) % 3) return px_node_fail(c, "wants Y_scale, Y_zero_point and (X, scale, zero point) triples, has %d inputs", n);
    px_status st = px_need_inputs(c, 3);
    if (st) return st;
    px_dtype dt = px_has_in(c, 1) ? px_in_dtype(c, 1) : px_in_dtype(c, 2);
    const px_attr *aa = px_node_attr(c->n, "axis");
    if (!aa || aa->type != PX_ATTR_INT) return px_node_fail(c, "attribute axis is missing");
    int rank = -1;
    for (int i = 2; i < n; i += 3) {
        if (!px_has_in(c, i)) return px_node_fail(c, "input %d is missing", i);
        int r = px_in_rank(c, i);
        if (r < 0) continue;
        if (rank >= 0 && r != rank) return px_node_fail(c, "input %d has rank %d, input 2 has rank %d", i, r, rank);
        rank = r;
    }
    if (rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int axis;
    if ((st = px_axis(c, aa->i, rank, 0, "axis", &axis))) return st;
    px_dim out[PX_MAX_RANK];
    if ((st = px_concat_dims(c, 2, 3, n, rank, axis, out))) return st;
    return px_set_out(c, 0, dt, rank, out);
}

/* QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp?: (M, N);
 * y_zp's type when given, float32 otherwise. */
static px_status r_qgemm(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    if (!px_has_in(c, 3)) return px_node_fail(c, "input 3 (B) is missing");
    px_dtype dt = px_has_in(c, 8) ? px_in_dtype(c, 8) : PX_DT_FLOAT;
    const px_shape *a = px_in_shape(c, 0), *b = px_in_shape(c, 3);
    if (a->rank >= 0 && a->rank != 2) return px_node_fail(c, "A must have rank 2, has %d", a->rank);
    if (b->rank >= 0 && b->rank != 2) return px_node_fail(c, "B must have rank 2, has %d", b->rank);
    if (a->rank < 0 || b->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int ta = px_attr_int(c->n, "transA", 0) != 0, tb = px_attr_int(c->n, "transB", 0) != 0;
    px_dim ka = a->dims[ta ? 0 : 1], kb = b->dims[tb ? 1 : 0];
    if (ka.v >= 0 && kb.v >= 0 && ka.v != kb.v)
        return px_node_fail(c, "inner dimensions differ: %lld vs %lld", (long long)ka.v, (long long)kb.v);
    px_dim out[2] = {a->dims[ta ? 1 : 0], b->dims[tb ? 0 : 1]};
    return px_set_out(c, 0, dt, 2, out);
}

/* QLinearReduceMean: data, data_scale, data_zp?, reduced_scale,
 * reduced_zp?; axes (all when absent), keepdims (default 1). */
static px_status r_qlinear_reduce_mean(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    px_dtype dt = px_in_dtype(c, 0);
    if (x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int64_t axes[PX_MAX_RANK];
    int na;
    if ((st = px_attr_ints_cap(c, "axes", axes, PX_MAX_RANK, &na))) return st;
    char red[PX_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
        int ax;
        if ((st = px_axis(c, axes[i], x->rank, 0, "axes", &ax))) return st;
        red[ax] = 1;
    }
    int keep = px_attr_int(c->n, "keepdims", 1) != 0, r = 0;
    px_dim out[PX_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        if (na > 0 && !red[i]) out[r++] = x->dims[i];
        else if (keep) out[r++] = px_dk(1);
    }
    return px_set_out(c, 0, dt, r, out);
}

/* com.microsoft QuantizeLinear / DequantizeLinear (version 1): the output
 * has x's shape; y_zp's type (uint8 without one), float32 (as ONNX Runtime
 * infers it). */
static px_status r_ms_quantize(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    px_dtype dt = px_has_in(c, 2) && px_in_dtype(c, 2) != PX_DT_UNDEFINED ? px_in_dtype(c, 2) : PX_DT_UINT8;
    return px_set_out_shape(c, 0, dt, px_in_shape(c, 0));
}

static px_status r_ms_dequantize(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    return px_set_out_shape(c, 0, PX_DT_FLOAT, px_in_shape(c, 0));
}

const px_rule px_rules_quant[] = {
    {"com.microsoft", "QLinearAdd", 1, 0, r_qlinear_binary},
    {"com.microsoft", "QLinearMul", 1, 0, r_qlinear_binary},
    /* X, X_scale, X_zp?, Y_scale, Y_zp?: X's type and shape */
    {"com.microsoft", "QLinearSigmoid", 1, 0, px_rule_same},
    {"com.microsoft", "QLinearLeakyRelu", 1, 0, px_rule_same},
    {"com.microsoft", "QLinearSoftmax", 1, 0, px_rule_same},
    {"com.microsoft", "QLinearGlobalAveragePool", 1, 0, r_qlinear_global_pool},
    {"com.microsoft", "QLinearConcat", 1, 0, r_qlinear_concat},
    {"com.microsoft", "QGemm", 1, 0, r_qgemm},
    {"com.microsoft", "QLinearReduceMean", 1, 0, r_qlinear_reduce_mean},
    {"com.microsoft", "QuantizeLinear", 1, 0, r_ms_quantize},
    {"com.microsoft", "DequantizeLinear", 1, 0, r_ms_dequantize},
    {NULL, NULL, 0, 0, NULL},
};
