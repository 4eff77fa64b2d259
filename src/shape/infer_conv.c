/* Convolution, pooling and normalization ops.  The window arithmetic
 * follows onnx's convPoolShapeInference (auto_pad, dilations, ceil_mode
 * with PyTorch's "no window starting in the right padding" rule). */
#include <string.h>

#include "shape/infer_internal.h"

#define MAX_SPATIAL PX_MAX_RANK

typedef struct window {
    int n;                             /* spatial dims */
    int64_t kernel[MAX_SPATIAL];       /* 0 when unknown */
    int64_t strides[MAX_SPATIAL];
    int64_t dilations[MAX_SPATIAL];
    int64_t pads[2 * MAX_SPATIAL];
    int have_pads;
    const char *auto_pad;
} window;

/* Reads strides / dilations / pads / auto_pad, validating their sizes. */
static px_status read_window(px_ictx *c, window *w, int use_dilation)
{
    int k;
    px_status st;
    for (int i = 0; i < w->n; i++) {
        w->strides[i] = 1;
        w->dilations[i] = 1;
    }
    if ((st = px_attr_ints_cap(c, "strides", w->strides, MAX_SPATIAL, &k))) return st;
    if (k >= 0 && k != w->n) return px_node_fail(c, "attribute strides has %d entries for %d spatial dims", k, w->n);
    if (k < 0)
        for (int i = 0; i < w->n; i++) w->strides[i] = 1;
    for (int i = 0; i < w->n; i++)
        if (w->strides[i] <= 0) return px_node_fail(c, "strides must be positive");
    if (use_dilation) {
        if ((st = px_attr_ints_cap(c, "dilations", w->dilations, MAX_SPATIAL, &k))) return st;
        if (k >= 0 && k != w->n) return px_node_fail(c, "attribute dilations has %d entries for %d spatial dims", k, w->n);
        if (k < 0)
            for (int i = 0; i < w->n; i++) w->dilations[i] = 1;
        for (int i = 0; i < w->n; i++)
            if (w->dilations[i] <= 0) return px_node_fail(c, "dilations must be positive");
    }
    if ((st = px_attr_ints_cap(c, "pads", w->pads, 2 * MAX_SPATIAL, &k))) return st;
    w->have_pads = k >= 0;
    if (k >= 0 && k != 2 * w->n) return px_node_fail(c, "attribute pads has %d entries for %d spatial dims", k, w->n);
    if (k < 0) memset(w->pads, 0, sizeof w->pads);
    for (int i = 0; i < 2 * w->n; i++)
        if (w->pads[i] < 0) return px_node_fail(c, "pads must not be negative");
    w->auto_pad = px_attr_string(c->n, "auto_pad", "NOTSET");
    return PX_OK;
}

/* Effective kernel extent (k - 1) * d + 1; -1 on overflow. */
static int64_t eff_kernel(int64_t k, int64_t d)
{
    int64_t r;
    if (__builtin_mul_overflow(k - 1, d, &r) || __builtin_add_overflow(r, 1, &r)) return -1;
    return r;
}

/* Output spatial dims of Conv / pools into out[2..]. */
static px_status window_out(px_ictx *c, const window *w, const px_shape *x, int ceil_mode, px_dim *out)
{
    int same = !strcmp(w->auto_pad, "SAME_UPPER") || !strcmp(w->auto_pad, "SAME_LOWER");
    int valid = !strcmp(w->auto_pad, "VALID");
    for (int i = 0; i < w->n; i++) {
        px_dim in = x->dims[2 + i];
        out[2 + i] = px_du();
        if (w->kernel[i] <= 0) continue;
        int64_t ek = eff_kernel(w->kernel[i], w->dilations[i]);
        if (ek < 0) return px_node_fail(c, "kernel extent overflows");
        int64_t s = w->strides[i], pb = w->pads[i], pe = w->pads[i + w->n];
        if (!w->have_pads) {
            pb = pe = 0;
            if (same) {
                if (s > 1 && in.v < 0) continue;
                int64_t residual = s > 1 ? in.v % s : 0;
                int64_t total = residual == 0 ? ek - s : ek - residual;
                if (total < 0) total = 0;
                int64_t small = total >> 1, big = total - small;
                pb = !strcmp(w->auto_pad, "SAME_UPPER") ? small : big;
                pe = total - pb;
            } else if (valid) {
                pb = pe = 0;
            }
        }
        int64_t ptot;
        if (__builtin_add_overflow(pb, pe, &ptot)) return px_node_fail(c, "pads overflow");
        if (in.v < 0) {
            /* stride 1 and padding that exactly undoes the window keeps the size */
            if (s == 1 && ptot == ek - 1) out[2 + i] = in;
            continue;
        }
        int64_t eff_in, num, o;
        if (__builtin_add_overflow(in.v, pb, &eff_in) || __builtin_add_overflow(eff_in, pe, &eff_in))
            return px_node_fail(c, "padded input size overflows");
        num = eff_in - ek;
        if (num < 0)
            return px_node_fail(c, "kernel extent %lld exceeds padded input size %lld on spatial dim %d", (long long)ek,
                                (long long)eff_in, i);
        if (ceil_mode && __builtin_add_overflow(num, s - 1, &num)) return px_node_fail(c, "output size overflows");
        o = num / s + 1;
        if (ceil_mode && (o - 1) * s >= in.v + pb) o--;
        out[2 + i] = px_dk(o);
    }
    return PX_OK;
}

/* Conv, ConvInteger (int32 output), QLinearConv (x, x_scale, x_zp, w,
 * w_scale, w_zp, y_scale, y_zp[, B]: the weight is input 3, the output has
 * y_zp's type). */
static px_status r_conv(px_ictx *c)
{
    int qlinear = !strcmp(c->n->op_type, "QLinearConv");
    int wi = qlinear ? 3 : 1;
    px_status st = px_need_inputs(c, qlinear ? 8 : 2);
    if (st) return st;
    px_dtype dt = !strcmp(c->n->op_type, "ConvInteger") ? PX_DT_INT32 : qlinear ? px_in_dtype(c, 7) : px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0), *wt = px_in_shape(c, wi);
    int64_t group = px_attr_int(c->n, "group", 1);
    if (group <= 0) return px_node_fail(c, "group must be positive, got %lld", (long long)group);
    if (x->rank >= 0 && x->rank < 3) return px_node_fail(c, "input rank %d is below 3 (N, C, spatial...)", x->rank);
    if (wt->rank >= 0 && wt->rank < 3) return px_node_fail(c, "weight rank %d is below 3", wt->rank);
    if (x->rank >= 0 && wt->rank >= 0 && x->rank != wt->rank)
        return px_node_fail(c, "input rank %d differs from weight rank %d", x->rank, wt->rank);
    if (x->rank >= 0 && wt->rank >= 0) {
        px_dim ci = x->dims[1], wc = wt->dims[1];
        int64_t need;
        if (ci.v >= 0 && wc.v >= 0 && (__builtin_mul_overflow(wc.v, group, &need) || need != ci.v))
            return px_node_fail(c, "input has %lld channels but weight expects %lld x group %lld", (long long)ci.v,
                                (long long)wc.v, (long long)group);
    }
    if (wt->rank >= 1 && wt->dims[0].v >= 0 && wt->dims[0].v % group)
        return px_node_fail(c, "weight output channels %lld are not divisible by group %lld", (long long)wt->dims[0].v,
                            (long long)group);
    if (x->rank < 0 || wt->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    window w;
    memset(&w, 0, sizeof w);
    w.n = x->rank - 2;
    if ((st = read_window(c, &w, 1))) return st;
    int k;
    if ((st = px_attr_ints_cap(c, "kernel_shape", w.kernel, MAX_SPATIAL, &k))) return st;
    if (k >= 0 && k != w.n) return px_node_fail(c, "kernel_shape has %d entries for %d spatial dims", k, w.n);
    for (int i = 0; i < w.n; i++) {
        px_dim kd = wt->dims[2 + i];
        if (k < 0) w.kernel[i] = kd.v >= 0 ? kd.v : 0;
        else if (w.kernel[i] <= 0) return px_node_fail(c, "kernel_shape must be positive");
        else if (kd.v >= 0 && kd.v != w.kernel[i])
            return px_node_fail(c, "kernel_shape %lld differs from weight dim %lld", (long long)w.kernel[i], (long long)kd.v);
    }
    for (int i = 0; i < w.n && k < 0; i++)
        if (wt->dims[2 + i].v == 0) return px_node_fail(c, "weight has an empty spatial dim");
    px_dim out[PX_MAX_RANK];
    out[0] = x->dims[0];
    out[1] = wt->dims[0];
    if ((st = window_out(c, &w, x, 0, out))) return st;
    return px_set_out(c, 0, dt, x->rank, out);
}

static px_status r_conv_transpose(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0), *wt = px_in_shape(c, 1);
    int64_t group = px_attr_int(c->n, "group", 1);
    if (group <= 0) return px_node_fail(c, "group must be positive, got %lld", (long long)group);
    if (x->rank >= 0 && x->rank < 3) return px_node_fail(c, "input rank %d is below 3 (N, C, spatial...)", x->rank);
    if (wt->rank >= 0 && wt->rank < 3) return px_node_fail(c, "weight rank %d is below 3", wt->rank);
    if (x->rank >= 0 && wt->rank >= 0 && x->rank != wt->rank)
        return px_node_fail(c, "input rank %d differs from weight rank %d", x->rank, wt->rank);
    if (x->rank >= 0 && x->dims[1].v >= 0 && x->dims[1].v % group)
        return px_node_fail(c, "input channels %lld are not divisible by group %lld", (long long)x->dims[1].v,
                            (long long)group);
    if (x->rank >= 0 && wt->rank >= 0 && x->dims[1].v >= 0 && wt->dims[0].v >= 0 && x->dims[1].v != wt->dims[0].v)
        return px_node_fail(c, "input has %lld channels but weight has %lld", (long long)x->dims[1].v,
                            (long long)wt->dims[0].v);
    if (x->rank < 0 || wt->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    window w;
    memset(&w, 0, sizeof w);
    w.n = x->rank - 2;
    if ((st = read_window(c, &w, 1))) return st;
    int k, no, nop;
    if ((st = px_attr_ints_cap(c, "kernel_shape", w.kernel, MAX_SPATIAL, &k))) return st;
    if (k >= 0 && k != w.n) return px_node_fail(c, "kernel_shape has %d entries for %d spatial dims", k, w.n);
    int kernel_known = 1;
    for (int i = 0; i < w.n; i++) {
        if (k >= 0 && w.kernel[i] <= 0) return px_node_fail(c, "kernel_shape must be positive");
        if (k < 0) w.kernel[i] = wt->dims[2 + i].v;
        if (w.kernel[i] < 0) kernel_known = 0;
        else if (w.kernel[i] == 0) return px_node_fail(c, "weight has an empty spatial dim");
    }
    int64_t oshape[MAX_SPATIAL], opad[MAX_SPATIAL];
    if ((st = px_attr_ints_cap(c, "output_shape", oshape, MAX_SPATIAL, &no))) return st;
    if ((st = px_attr_ints_cap(c, "output_padding", opad, MAX_SPATIAL, &nop))) return st;
    if (nop >= 0 && nop != w.n) return px_node_fail(c, "output_padding has %d entries for %d spatial dims", nop, w.n);
    if (nop < 0) memset(opad, 0, sizeof opad);
    for (int i = 0; i < w.n; i++)
        if (opad[i] < 0) return px_node_fail(c, "output_padding must not be negative");
    px_dim out[PX_MAX_RANK];
    out[0] = x->dims[0];
    if ((st = px_dmul_chk(c, wt->dims[1], px_dk(group), "output channels", &out[1]))) return st;
    if (no > 0) {
        /* output_shape may list N and C too; its last n entries are spatial */
        if (no < w.n) return px_node_fail(c, "output_shape has %d entries for %d spatial dims", no, w.n);
        for (int i = 0; i < w.n; i++) {
            if (oshape[no - w.n + i] < 0) return px_node_fail(c, "output_shape must not be negative");
            out[2 + i] = px_dk(oshape[no - w.n + i]);
        }
        return px_set_out(c, 0, dt, x->rank, out);
    }
    int same = !strcmp(w.auto_pad, "SAME_UPPER") || !strcmp(w.auto_pad, "SAME_LOWER");
    for (int i = 0; i < w.n; i++) {
        out[2 + i] = px_du();
        px_dim in = x->dims[2 + i];
        if (!kernel_known || in.v < 0) continue;
        int64_t ek = eff_kernel(w.kernel[i], w.dilations[i]), s = w.strides[i];
        if (ek < 0) return px_node_fail(c, "kernel extent overflows");
        int64_t pads;
        if (__builtin_add_overflow(w.pads[i], w.pads[i + w.n], &pads)) return px_node_fail(c, "pads overflow");
        if (!w.have_pads && same) pads = ek - s > 0 ? ek - s : 0;
        else if (!w.have_pads) pads = 0;
        int64_t o;
        if (in.v == 0) return px_node_fail(c, "input spatial dim %d is empty", i);
        if (__builtin_mul_overflow(s, in.v - 1, &o) || __builtin_add_overflow(o, opad[i], &o) ||
            __builtin_add_overflow(o, ek, &o))
            return px_node_fail(c, "output size overflows");
        o -= pads;
        if (o < 0) return px_node_fail(c, "padding %lld exceeds the output size", (long long)pads);
        out[2 + i] = px_dk(o);
    }
    return px_set_out(c, 0, dt, x->rank, out);
}

/* MaxPool, AveragePool, LpPool (and the optional Indices of MaxPool). */
static px_status r_pool(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const char *op = c->n->op_type;
    int is_max = !strcmp(op, "MaxPool");
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank >= 0 && x->rank < 3) return px_node_fail(c, "input rank %d is below 3 (N, C, spatial...)", x->rank);
    if (x->rank < 0) {
        if ((st = px_set_out(c, 0, dt, -1, NULL))) return st;
        return is_max ? px_set_out(c, 1, PX_DT_INT64, -1, NULL) : PX_OK;
    }
    int use_dilation = (is_max && c->opset >= 10) || (!strcmp(op, "AveragePool") && c->opset >= 19) ||
                       (!strcmp(op, "LpPool") && c->opset >= 18);
    window w;
    memset(&w, 0, sizeof w);
    w.n = x->rank - 2;
    if ((st = read_window(c, &w, use_dilation))) return st;
    int k;
    if ((st = px_attr_ints_cap(c, "kernel_shape", w.kernel, MAX_SPATIAL, &k))) return st;
    if (k < 0) return px_node_fail(c, "attribute kernel_shape is missing");
    if (k != w.n) return px_node_fail(c, "kernel_shape has %d entries for %d spatial dims", k, w.n);
    for (int i = 0; i < w.n; i++)
        if (w.kernel[i] <= 0) return px_node_fail(c, "kernel_shape must be positive");
    px_dim out[PX_MAX_RANK];
    out[0] = x->dims[0];
    out[1] = x->dims[1];
    if ((st = window_out(c, &w, x, (int)px_attr_int(c->n, "ceil_mode", 0), out))) return st;
    if ((st = px_set_out(c, 0, dt, x->rank, out))) return st;
    return is_max ? px_set_out(c, 1, PX_DT_INT64, x->rank, out) : PX_OK;
}

/* com.microsoft QLinearAveragePool (X, x_scale, x_zp?, y_scale, y_zp?):
 * AveragePool's window on X; with channels_last the spatial dims are left
 * unknown. */
static px_status r_qlinear_pool(px_ictx *c)
{
    if (!px_attr_int(c->n, "channels_last", 0)) return r_pool(c);
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank < 0) return px_set_out(c, 0, px_in_dtype(c, 0), -1, NULL);
    if (x->rank < 3) return px_node_fail(c, "input rank %d is below 3 (N, spatial..., C)", x->rank);
    px_dim out[PX_MAX_RANK];
    for (int i = 0; i < x->rank; i++) out[i] = px_du();
    out[0] = x->dims[0];
    out[x->rank - 1] = x->dims[x->rank - 1];
    return px_set_out(c, 0, px_in_dtype(c, 0), x->rank, out);
}

/* GlobalAveragePool, GlobalMaxPool, GlobalLpPool: [N, C, 1, ...]. */
static px_status r_global_pool(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank < 2) return px_set_out(c, 0, px_in_dtype(c, 0), -1, NULL);
    px_dim out[PX_MAX_RANK];
    out[0] = x->dims[0];
    out[1] = x->dims[1];
    for (int i = 2; i < x->rank; i++) out[i] = px_dk(1);
    return px_set_out(c, 0, px_in_dtype(c, 0), x->rank, out);
}

/* Checks that 1-D input i has channels elements (onnx unifies them). */
static px_status check_channels(px_ictx *c, int i, px_dim *ch)
{
    const px_shape *s = px_in_shape(c, i);
    if (!px_in(c, i) || s->rank < 0) return PX_OK;
    if (s->rank != 1) return px_node_fail(c, "input %d must be 1-D, has rank %d", i, s->rank);
    if (!px_merge_dim(ch, s->dims[0]))
        return px_node_fail(c, "input %d has %lld entries but the input has %lld channels", i,
                            (long long)s->dims[0].v, (long long)ch->v);
    return PX_OK;
}

static px_status r_batchnorm(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    px_dim ch = px_du();
    if (x->rank >= 2) ch = x->dims[1];
    else if (x->rank >= 0) ch = px_dk(1);
    for (int i = 1; i <= 4 && !st; i++) st = check_channels(c, i, &ch);
    if (!st) st = px_set_out_shape(c, 0, px_in_dtype(c, 0), x);
    /* running / saved mean and variance: [C] */
    for (int o = 1; o < px_n_out(c) && !st; o++) {
        int src = o <= 2 ? o + 2 : 0;
        px_dtype dt = px_in_dtype(c, src);
        if (dt == PX_DT_UNDEFINED) dt = px_in_dtype(c, 0);
        st = px_set_out(c, o, dt, 1, &ch);
    }
    return st;
}

static px_status r_instancenorm(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    px_dim ch = x->rank >= 2 ? x->dims[1] : px_du();
    for (int i = 1; i <= 2 && !st && c->opset >= 6; i++) st = check_channels(c, i, &ch);
    if (!st) st = px_set_out_shape(c, 0, px_in_dtype(c, 0), x);
    return st;
}

/* LayerNormalization: Y like X; Mean / InvStdDev keep dims before axis
 * and are 1 after it, of stash_type. */
static px_status r_layernorm(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    if ((st = px_set_out_shape(c, 0, px_in_dtype(c, 0), x))) return st;
    int64_t stash = px_attr_int(c->n, "stash_type", PX_DT_FLOAT);
    if (!px_dtype_attr_valid(stash)) return px_node_fail(c, "stash_type %lld is not an element type", (long long)stash);
    if (px_n_out(c) < 2) return PX_OK;
    if (x->rank < 0) {
        if ((st = px_set_out(c, 1, (px_dtype)stash, -1, NULL))) return st;
        return px_set_out(c, 2, (px_dtype)stash, -1, NULL);
    }
    int axis;
    if ((st = px_axis(c, px_attr_int(c->n, "axis", -1), x->rank, 0, "axis", &axis))) return st;
    px_dim out[PX_MAX_RANK];
    for (int i = 0; i < x->rank; i++) out[i] = i < axis ? x->dims[i] : px_dk(1);
    if ((st = px_set_out(c, 1, (px_dtype)stash, x->rank, out))) return st;
    return px_set_out(c, 2, (px_dtype)stash, x->rank, out);
}

px_status px_rule_same(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    return px_set_out_shape(c, 0, px_in_dtype(c, 0), px_in_shape(c, 0));
}

/* com.microsoft SkipLayerNormalization: output, mean, inv_std_var,
 * input_skip_bias_sum. */
static px_status r_ms_skip_layernorm(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    px_dtype dt = px_in_dtype(c, 0);
    if ((st = px_set_out_shape(c, 0, dt, x))) return st;
    if (x->rank >= 0 && px_n_out(c) > 1) {
        px_dim out[PX_MAX_RANK];
        for (int i = 0; i < x->rank; i++) out[i] = i + 1 < x->rank ? x->dims[i] : px_dk(1);
        if ((st = px_set_out(c, 1, PX_DT_FLOAT, x->rank, out))) return st;
        if ((st = px_set_out(c, 2, PX_DT_FLOAT, x->rank, out))) return st;
    }
    return px_set_out_shape(c, 3, dt, x);
}

const px_rule px_rules_conv[] = {
    {"", "Conv", 1, 0, r_conv},
    {"", "ConvInteger", 10, 0, r_conv},
    {"", "QLinearConv", 10, 0, r_conv},
    {"", "ConvTranspose", 1, 0, r_conv_transpose},
    {"", "MaxPool", 1, 0, r_pool},
    {"", "AveragePool", 1, 0, r_pool},
    {"", "LpPool", 1, 0, r_pool},
    {"", "GlobalAveragePool", 1, 0, r_global_pool},
    {"", "GlobalMaxPool", 1, 0, r_global_pool},
    {"", "GlobalLpPool", 1, 0, r_global_pool},
    {"", "BatchNormalization", 1, 0, r_batchnorm},
    {"", "InstanceNormalization", 1, 0, r_instancenorm},
    {"", "LayerNormalization", 17, 0, r_layernorm},
    {"", "GroupNormalization", 18, 0, px_rule_same},
    {"", "RMSNormalization", 23, 0, px_rule_same},
    {"", "LRN", 1, 0, px_rule_same},
    {"com.microsoft", "SkipLayerNormalization", 1, 0, r_ms_skip_layernorm},
    {"com.microsoft", "SimplifiedLayerNormalization", 1, 0, r_layernorm},
    {"com.microsoft", "FusedConv", 1, 0, r_conv},
    {"com.microsoft", "QLinearAveragePool", 1, 0, r_qlinear_pool},
    {NULL, NULL, 0, 0, NULL},
};
