/* Generators (Constant, ConstantOfShape, Range, EyeLike, Random*),
 * quantization, recurrent ops, detection helpers and control flow. */
#include <math.h>
#include <string.h>

#include "ir/body.h"
#include "shape/infer_internal.h"

/* --- Constant ------------------------------------------------------------- */

static px_status r_constant(px_ictx *c)
{
    static const char *const names[] = {"value", "sparse_value", "value_int", "value_ints", "value_float",
                                        "value_floats", "value_string", "value_strings"};
    const px_attr *a = NULL;
    int which = -1, count = 0;
    for (int i = 0; i < 8; i++) {
        const px_attr *x = px_node_attr(c->n, names[i]);
        if (x) {
            a = x;
            which = i;
            count++;
        }
    }
    if (count != 1) return px_node_fail(c, "needs exactly one of value, value_* or sparse_value (has %d)", count);
    px_dim dims[PX_MAX_RANK];
    px_status st;
    switch (which) {
    case 0: {
        const px_tensor *t = a->t;
        if (!t) return px_set_out(c, 0, PX_DT_UNDEFINED, -1, NULL);
        for (int i = 0; i < t->rank; i++) dims[i] = px_dk(t->dims[i]);
        if ((st = px_set_out(c, 0, t->dtype, t->rank, dims))) return st;
        if (!t->data || !px_dtype_is_index(t->dtype) || t->numel < 0 || t->numel > PX_DATA_MAX) return PX_OK;
        if (px_dtype_nbytes(t->dtype, t->numel) > t->nbytes) return PX_OK;
        px_dim data[PX_DATA_MAX];
        for (int64_t i = 0; i < t->numel; i++) data[i] = px_dk(px_tensor_get_int(t, i));
        return px_set_out_data(c, 0, (int)t->numel, data);
    }
    case 2: {
        if ((st = px_set_out(c, 0, PX_DT_INT64, 0, NULL))) return st;
        px_dim d = px_dk(a->i);
        return px_set_out_data(c, 0, 1, &d);
    }
    case 3: {
        dims[0] = px_dk(a->n);
        if ((st = px_set_out(c, 0, PX_DT_INT64, 1, dims))) return st;
        if (a->n > PX_DATA_MAX) return PX_OK;
        px_dim data[PX_DATA_MAX];
        for (int i = 0; i < a->n; i++) data[i] = px_dk(a->ints[i]);
        return px_set_out_data(c, 0, a->n, data);
    }
    case 4: return px_set_out(c, 0, PX_DT_FLOAT, 0, NULL);
    case 5: dims[0] = px_dk(a->n); return px_set_out(c, 0, PX_DT_FLOAT, 1, dims);
    case 6: return px_set_out(c, 0, PX_DT_STRING, 0, NULL);
    case 7: dims[0] = px_dk(a->n); return px_set_out(c, 0, PX_DT_STRING, 1, dims);
    default: return px_set_out(c, 0, PX_DT_UNDEFINED, -1, NULL); /* sparse: kept packed, not modelled */
    }
}

static px_status r_constant_of_shape(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_attr *va = px_node_attr(c->n, "value");
    px_dtype dt = va && va->t ? va->t->dtype : PX_DT_FLOAT;
    int n;
    const px_dim *d = px_in_data(c, 0, &n);
    px_dim out[PX_MAX_RANK];
    if (!d) {
        const px_shape *s = px_in_shape(c, 0);
        if (s->rank >= 0 && s->rank != 1) return px_node_fail(c, "input must be 1-D, has rank %d", s->rank);
        if (s->rank < 0 || s->dims[0].v < 0) return px_set_out(c, 0, dt, -1, NULL);
        if ((st = px_check_rank(c, s->dims[0].v))) return st;
        for (int i = 0; i < s->dims[0].v; i++) out[i] = px_du();
        return px_set_out(c, 0, dt, (int)s->dims[0].v, out);
    }
    if ((st = px_check_rank(c, n))) return st;
    for (int i = 0; i < n; i++) {
        if (px_elit(d[i]) && d[i].v < 0) return px_node_fail(c, "shape entry %lld is negative", (long long)d[i].v);
        out[i] = px_data_to_dim(d[i]);
    }
    if ((st = px_set_out(c, 0, dt, n, out))) return st;
    px_shape o = {n, out};
    int64_t numel = px_shape_numel(&o);
    if (numel < 0 || numel > PX_DATA_MAX || !px_dtype_is_index(dt)) return PX_OK;
    px_dim fill = px_dk(0);
    if (va && va->t && va->t->data && va->t->numel == 1) fill = px_dk(px_tensor_get_int(va->t, 0));
    px_dim data[PX_DATA_MAX];
    for (int64_t i = 0; i < numel; i++) data[i] = fill;
    return px_set_out_data(c, 0, (int)numel, data);
}

/* Range: count = max(ceil((limit - start) / delta), 0). */
static px_status r_range(px_ictx *c)
{
    px_status st = px_need_inputs(c, 3);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    px_dim len = px_du();
    int64_t v[3];
    int ok = 1, n;
    const px_dim *e[3];
    for (int i = 0; i < 3; i++) {
        e[i] = px_in_data(c, i, &n);
        if (!e[i] || n != 1) {
            ok = 0;
            e[i] = NULL;
        } else if (!px_elit(e[i][0])) {
            ok = 0;
        } else {
            v[i] = e[i][0].v;
        }
    }
    if (ok) {
        if (v[2] == 0) return px_node_fail(c, "delta is 0");
        int64_t diff;
        if (__builtin_sub_overflow(v[1], v[0], &diff)) return px_node_fail(c, "range length overflows");
        int64_t q, r;
        if (v[2] == -1) {
            /* diff / -1 overflows for INT64_MIN (a length of 2^63) */
            if (__builtin_sub_overflow((int64_t)0, diff, &q)) return px_node_fail(c, "range length overflows");
            r = 0;
        } else {
            q = diff / v[2];
            r = diff % v[2];
        }
        if (r != 0 && ((r > 0) == (v[2] > 0))) q++;
        len = px_dk(q > 0 ? q : 0);
    } else if (e[0] && e[1] && e[2] && px_elit(e[0][0]) && px_elit(e[2][0]) && e[0][0].v == 0 && e[2][0].v == 1 &&
               px_sym_is_dim(c, e[1][0].sym)) {
        len = e[1][0]; /* arange(n) over a dim */
    } else {
        double f[3];
        int k, fok = 1;
        for (int i = 0; i < 3 && fok; i++) fok = px_in_doubles(c, i, &f[i], 1, &k) && k == 1;
        if (fok) {
            if (f[2] == 0) return px_node_fail(c, "delta is 0");
            double q = ceil((f[1] - f[0]) / f[2]);
            if (q != q || q > 9.2e18) return px_node_fail(c, "range length is not finite");
            len = px_dk(q > 0 ? (int64_t)q : 0);
        }
    }
    if ((st = px_set_out(c, 0, dt, 1, &len))) return st;
    if (!ok || len.v > PX_DATA_MAX || !px_dtype_is_index(dt)) return PX_OK;
    px_dim data[PX_DATA_MAX];
    for (int64_t i = 0; i < len.v; i++) data[i] = px_dk(v[0] + i * v[2]);
    return px_set_out_data(c, 0, (int)len.v, data);
}

/* dtype attribute if present and valid, else dflt. */
static px_status dtype_attr(px_ictx *c, const char *name, px_dtype dflt, px_dtype *out)
{
    const px_attr *a = px_node_attr(c->n, name);
    *out = dflt;
    if (!a) return PX_OK;
    if (!px_dtype_attr_valid(a->i)) return px_node_fail(c, "attribute %s names unknown element type %lld", name, (long long)a->i);
    *out = (px_dtype)a->i;
    return PX_OK;
}

static px_status r_eye_like(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    px_dtype dt;
    if (st || (st = dtype_attr(c, "dtype", px_in_dtype(c, 0), &dt))) return st;
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank >= 0 && x->rank != 2) return px_node_fail(c, "input must be 2-D, has rank %d", x->rank);
    return px_set_out_shape(c, 0, dt, x);
}

/* RandomNormal / RandomUniform: shape and dtype attributes. */
static px_status r_random(px_ictx *c)
{
    px_dtype dt;
    px_status st = dtype_attr(c, "dtype", PX_DT_FLOAT, &dt);
    int64_t shape[PX_MAX_RANK];
    int n;
    if (st || (st = px_attr_ints_cap(c, "shape", shape, PX_MAX_RANK, &n))) return st;
    if (n < 0) return px_node_fail(c, "attribute shape is missing");
    px_dim out[PX_MAX_RANK];
    for (int i = 0; i < n; i++) {
        if (shape[i] < 0) return px_node_fail(c, "shape entry %lld is negative", (long long)shape[i]);
        out[i] = px_dk(shape[i]);
    }
    return px_set_out(c, 0, dt, n, out);
}

/* RandomNormalLike, RandomUniformLike, Bernoulli: input's shape. */
static px_status r_random_like(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    px_dtype dt;
    if (st || (st = dtype_attr(c, "dtype", px_in_dtype(c, 0), &dt))) return st;
    return px_set_out_shape(c, 0, dt, px_in_shape(c, 0));
}

static px_status r_multinomial(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    px_dtype dt;
    if (st || (st = dtype_attr(c, "dtype", PX_DT_INT32, &dt))) return st;
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank >= 0 && x->rank != 2) return px_node_fail(c, "input must be 2-D, has rank %d", x->rank);
    px_dim out[2] = {x->rank == 2 ? x->dims[0] : px_du(), px_dk(px_attr_int(c->n, "sample_size", 1))};
    return px_set_out(c, 0, dt, 2, out);
}

/* --- quantization ------------------------------------------------------------ */

static px_status r_quantize(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    px_dtype dt = PX_DT_UINT8;
    if (st) return st;
    if (px_has_in(c, 2)) dt = px_in_dtype(c, 2);
    else if ((st = dtype_attr(c, "output_dtype", PX_DT_UINT8, &dt))) return st;
    if (dt == PX_DT_UNDEFINED) dt = PX_DT_UINT8;
    return px_set_out_shape(c, 0, dt, px_in_shape(c, 0));
}

static px_status r_dequantize(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    px_dtype dt = c->opset >= 19 ? px_in_dtype(c, 1) : PX_DT_FLOAT;
    if (c->opset >= 23 && (st = dtype_attr(c, "output_dtype", dt, &dt))) return st;
    return px_set_out_shape(c, 0, dt, px_in_shape(c, 0));
}

static px_status r_dynamic_quantize(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (!st) st = px_set_out_shape(c, 0, PX_DT_UINT8, px_in_shape(c, 0));
    if (!st) st = px_set_out(c, 1, PX_DT_FLOAT, 0, NULL);
    if (!st) st = px_set_out(c, 2, PX_DT_UINT8, 0, NULL);
    return st;
}

/* --- RNN, GRU, LSTM ------------------------------------------------------------ */

static px_status r_rnn(px_ictx *c)
{
    px_status st = px_need_inputs(c, 3);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0), *r = px_in_shape(c, 2);
    if (x->rank >= 0 && x->rank != 3) return px_node_fail(c, "X must have rank 3, has %d", x->rank);
    const char *dir = px_attr_string(c->n, "direction", "forward");
    int nd = !strcmp(dir, "bidirectional") ? 2 : 1;
    if (nd == 1 && strcmp(dir, "forward") && strcmp(dir, "reverse")) return px_node_fail(c, "unknown direction '%s'", dir);
    int layout = (int)px_attr_int(c->n, "layout", 0);
    const px_attr *ha = px_node_attr(c->n, "hidden_size");
    px_dim hidden = ha ? px_dk(ha->i) : (r->rank == 3 ? r->dims[2] : px_du());
    px_dim seq = x->rank == 3 ? x->dims[layout ? 1 : 0] : px_du();
    px_dim batch = x->rank == 3 ? x->dims[layout ? 0 : 1] : px_du();
    px_dim y[4], yh[3];
    if (layout) {
        y[0] = batch, y[1] = seq, y[2] = px_dk(nd), y[3] = hidden;
        yh[0] = batch, yh[1] = px_dk(nd), yh[2] = hidden;
    } else {
        y[0] = seq, y[1] = px_dk(nd), y[2] = batch, y[3] = hidden;
        yh[0] = px_dk(nd), yh[1] = batch, yh[2] = hidden;
    }
    if ((st = px_set_out(c, 0, dt, 4, y))) return st;
    if ((st = px_set_out(c, 1, dt, 3, yh))) return st;
    return px_set_out(c, 2, dt, 3, yh); /* LSTM's Y_c */
}

/* --- detection ------------------------------------------------------------ */

static px_status r_nms(px_ictx *c)
{
    px_dim out[2] = {px_du(), px_dk(3)};
    return px_set_out(c, 0, PX_DT_INT64, 2, out);
}

static px_status r_roi_align(px_ictx *c)
{
    px_status st = px_need_inputs(c, 3);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0), *rois = px_in_shape(c, 1);
    px_dim out[4] = {rois->rank == 2 ? rois->dims[0] : px_du(), x->rank == 4 ? x->dims[1] : px_du(),
                     px_dk(px_attr_int(c->n, "output_height", 1)), px_dk(px_attr_int(c->n, "output_width", 1))};
    return px_set_out(c, 0, px_in_dtype(c, 0), 4, out);
}

static px_status r_det(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank < 0) return px_set_out(c, 0, px_in_dtype(c, 0), -1, NULL);
    if (x->rank < 2) return px_node_fail(c, "input must have rank >= 2, has %d", x->rank);
    px_dim a = x->dims[x->rank - 2], b = x->dims[x->rank - 1];
    if (a.v >= 0 && b.v >= 0 && a.v != b.v) return px_node_fail(c, "matrices must be square, are %lldx%lld", (long long)a.v, (long long)b.v);
    return px_set_out(c, 0, px_in_dtype(c, 0), x->rank - 2, x->dims);
}

static px_status r_grid_sample(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0), *g = px_in_shape(c, 1);
    if (x->rank < 0 || g->rank < 0) return px_set_out(c, 0, px_in_dtype(c, 0), -1, NULL);
    if (x->rank != g->rank || x->rank < 3) return px_node_fail(c, "input rank %d and grid rank %d must match and be >= 3", x->rank, g->rank);
    px_dim out[PX_MAX_RANK];
    out[0] = x->dims[0];
    if (!px_merge_dim(&out[0], g->dims[0])) return px_node_fail(c, "input and grid batch sizes differ");
    out[1] = x->dims[1];
    for (int i = 2; i < x->rank; i++) out[i] = g->dims[i - 1];
    return px_set_out(c, 0, px_in_dtype(c, 0), x->rank, out);
}

/* If / Loop / Scan: node outputs take the types their bodies declare for
 * their outputs (onnx does the same when the bodies carry types). */
enum { MAX_BODY_OUT = 256 };

static const px_attr *graph_attr(const px_node *n, const char *name)
{
    for (int a = 0; a < n->n_attrs; a++)
        if (!strcmp(n->attrs[a].name, name) && n->attrs[a].type == PX_ATTR_GRAPH && n->attrs[a].raw) return &n->attrs[a];
    return NULL;
}

static px_status body_types(px_ictx *c, const char *attr, px_dtype *dt, px_shape *sh, int *n)
{
    const px_attr *a = graph_attr(c->n, attr);
    *n = 0;
    if (!a) return PX_OK;
    px_status st = px_body_output_types(a->raw, a->raw_len, c->g, dt, sh, MAX_BODY_OUT, n);
    if (*n > MAX_BODY_OUT) *n = MAX_BODY_OUT;
    return st ? px_node_fail(c, "%s: %s", attr, px_last_error()) : PX_OK;
}

/* the body's shape with one unknown dim inserted at axis (a scan output) */
static px_status set_scanned(px_ictx *c, int o, px_dtype dt, const px_shape *s, int64_t axis)
{
    if (s->rank < 0 || s->rank + 1 > PX_MAX_RANK) return px_set_out(c, o, dt, -1, NULL);
    px_dim d[PX_MAX_RANK];
    if (axis < 0) axis += s->rank + 1;
    if (axis < 0 || axis > s->rank) axis = 0;
    for (int i = 0, k = 0; i <= s->rank; i++) d[i] = i == axis ? (px_dim){-1, NULL} : s->dims[k++];
    return px_set_out(c, o, dt, s->rank + 1, d);
}

static px_status r_control_flow(px_ictx *c)
{
    px_dtype dt[MAX_BODY_OUT], dt2[MAX_BODY_OUT];
    px_shape sh[MAX_BODY_OUT], sh2[MAX_BODY_OUT];
    int nb = 0, nb2 = 0, n_out = c->n->n_outputs;
    int n_explicit = c->n->n_inputs - c->n->n_implicit;
    px_status st;
    if (!strcmp(c->n->op_type, "If")) {
        if ((st = body_types(c, "then_branch", dt, sh, &nb)) || (st = body_types(c, "else_branch", dt2, sh2, &nb2)))
            return st;
        for (int o = 0; o < n_out && o < nb && o < nb2 && !st; o++) {
            px_dtype d = dt[o] != PX_DT_UNDEFINED ? dt[o] : dt2[o];
            if (sh[o].rank < 0 || sh[o].rank != sh2[o].rank) {
                st = px_set_out(c, o, d, -1, NULL);
                continue;
            }
            px_dim m[PX_MAX_RANK];
            for (int i = 0; i < sh[o].rank; i++)
                m[i] = sh[o].dims[i].v >= 0 && sh[o].dims[i].v == sh2[o].dims[i].v ? sh[o].dims[i] : (px_dim){-1, NULL};
            st = px_set_out(c, o, d, sh[o].rank, m);
        }
        return st;
    }
    if ((st = body_types(c, "body", dt, sh, &nb))) return st;
    if (!strcmp(c->n->op_type, "Loop")) {
        /* body outputs: cond, N carried values, K scan outputs */
        int n_carried = n_explicit - 2;
        for (int o = 0; o < n_out && o + 1 < nb && !st; o++) {
            if (o < n_carried) st = px_set_out_shape(c, o, dt[o + 1], &sh[o + 1]);
            else st = set_scanned(c, o, dt[o + 1], &sh[o + 1], 0);
        }
        return st;
    }
    /* Scan: body outputs: N state values, K scan outputs */
    int64_t n_scan_in = px_attr_int(c->n, "num_scan_inputs", 0);
    int n_state = n_explicit - (int)n_scan_in;
    const px_attr *axes = NULL;
    for (int a = 0; a < c->n->n_attrs; a++)
        if (!strcmp(c->n->attrs[a].name, "scan_output_axes") && c->n->attrs[a].type == PX_ATTR_INTS) axes = &c->n->attrs[a];
    for (int o = 0; o < n_out && o < nb && !st; o++) {
        if (o < n_state) st = px_set_out_shape(c, o, dt[o], &sh[o]);
        else {
            int k = o - n_state;
            st = set_scanned(c, o, dt[o], &sh[o], axes && k < axes->n ? axes->ints[k] : 0);
        }
    }
    return st;
}

const px_rule px_rules_misc[] = {
    {"", "Constant", 1, 0, r_constant},
    {"", "ConstantOfShape", 9, 0, r_constant_of_shape},
    {"", "Range", 11, 0, r_range},
    {"", "EyeLike", 9, 0, r_eye_like},
    {"", "RandomNormal", 1, 0, r_random},
    {"", "RandomUniform", 1, 0, r_random},
    {"", "RandomNormalLike", 1, 0, r_random_like},
    {"", "RandomUniformLike", 1, 0, r_random_like},
    {"", "Bernoulli", 15, 0, r_random_like},
    {"", "Multinomial", 7, 0, r_multinomial},
    {"", "QuantizeLinear", 10, 0, r_quantize},
    {"", "DequantizeLinear", 10, 0, r_dequantize},
    {"", "DynamicQuantizeLinear", 11, 0, r_dynamic_quantize},
    {"", "RNN", 1, 0, r_rnn},
    {"", "GRU", 1, 0, r_rnn},
    {"", "LSTM", 1, 0, r_rnn},
    {"", "NonMaxSuppression", 10, 0, r_nms},
    {"", "RoiAlign", 10, 0, r_roi_align},
    {"", "Det", 11, 0, r_det},
    {"", "GridSample", 16, 0, r_grid_sample},
    {"", "If", 1, 0, r_control_flow},
    {"", "Loop", 1, 0, r_control_flow},
    {"", "Scan", 8, 0, r_control_flow},
    {NULL, NULL, 0, 0, NULL},
};
