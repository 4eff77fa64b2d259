/* Indexing, broadcasting-by-value and resampling ops: Gather family,
 * Scatter family, OneHot, Compress, NonZero, Unique, TopK, Trilu, CumSum,
 * Expand, Tile, Pad, DepthToSpace, SpaceToDepth, Resize, Upsample. */
#include <math.h>
#include <string.h>

#include "shape/infer_internal.h"

/* Same dtype and shape as input `src` (Scatter*, Trilu, CumSum, ...). */
static px_status like_input(px_ictx *c, int src, int need)
{
    px_status st = px_need_inputs(c, need);
    if (st) return st;
    return px_set_out_shape(c, 0, px_in_dtype(c, 0), px_in_shape(c, src));
}

static px_status r_like0(px_ictx *c) { return like_input(c, 0, 1); }

static px_status r_scatter(px_ictx *c)
{
    px_status st = px_need_inputs(c, 3);
    if (st) return st;
    const px_shape *i = px_in_shape(c, 1), *u = px_in_shape(c, 2);
    if (strcmp(c->n->op_type, "ScatterND") && i->rank >= 0 && u->rank >= 0) {
        if (i->rank != u->rank) return px_node_fail(c, "indices rank %d differs from updates rank %d", i->rank, u->rank);
        for (int k = 0; k < i->rank; k++)
            if (i->dims[k].v >= 0 && u->dims[k].v >= 0 && i->dims[k].v != u->dims[k].v)
                return px_node_fail(c, "indices dim %d is %lld but updates has %lld", k, (long long)i->dims[k].v,
                                    (long long)u->dims[k].v);
    }
    return like_input(c, 0, 3);
}

/* --- Gather family ----------------------------------------------------------- */

static px_status r_gather(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0), *ix = px_in_shape(c, 1);
    if (x->rank == 0) return px_node_fail(c, "data must have rank >= 1");
    if (x->rank < 0 || ix->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int axis;
    if ((st = px_axis(c, px_attr_int(c->n, "axis", 0), x->rank, 0, "axis", &axis))) return st;
    int64_t r = (int64_t)x->rank - 1 + ix->rank;
    if ((st = px_check_rank(c, r))) return st;
    px_dim out[PX_MAX_RANK];
    int k = 0;
    for (int i = 0; i < axis; i++) out[k++] = x->dims[i];
    for (int i = 0; i < ix->rank; i++) out[k++] = ix->dims[i];
    for (int i = axis + 1; i < x->rank; i++) out[k++] = x->dims[i];
    if ((st = px_set_out(c, 0, dt, (int)r, out))) return st;
    /* data: picking entries of a 1-D tensor (a shape) */
    int nd, ni;
    const px_dim *d = px_in_data(c, 0, &nd);
    int64_t idx[PX_DATA_MAX];
    if (!d || x->rank != 1 || !px_in_ints(c, 1, idx, PX_DATA_MAX, &ni)) return PX_OK;
    px_dim res[PX_DATA_MAX];
    for (int i = 0; i < ni; i++) {
        int64_t j = idx[i] < 0 ? idx[i] + nd : idx[i];
        if (j < 0 || j >= nd) return px_node_fail(c, "index %lld is out of range for %d entries", (long long)idx[i], nd);
        res[i] = d[j];
    }
    return px_set_out_data(c, 0, ni, res);
}

static px_status r_gather_elements(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0), *ix = px_in_shape(c, 1);
    if (x->rank >= 0 && ix->rank >= 0 && x->rank != ix->rank)
        return px_node_fail(c, "data rank %d differs from indices rank %d", x->rank, ix->rank);
    if (x->rank >= 0) {
        int axis;
        if ((st = px_axis(c, px_attr_int(c->n, "axis", 0), x->rank, 0, "axis", &axis))) return st;
    }
    return px_set_out_shape(c, 0, px_in_dtype(c, 0), ix);
}

static px_status r_gather_nd(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0), *ix = px_in_shape(c, 1);
    if (x->rank < 0 || ix->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    if (x->rank < 1 || ix->rank < 1) return px_node_fail(c, "data and indices need rank >= 1");
    int64_t b = px_attr_int(c->n, "batch_dims", 0);
    if (b < 0 || b >= ix->rank || b >= x->rank) return px_node_fail(c, "batch_dims %lld is out of range", (long long)b);
    px_dim last = ix->dims[ix->rank - 1];
    if (last.v < 0) return px_set_out(c, 0, dt, -1, NULL);
    if (last.v > x->rank - b)
        return px_node_fail(c, "indices last dim %lld exceeds data rank %d - batch_dims", (long long)last.v, x->rank);
    px_status rs = px_check_rank(c, (int64_t)ix->rank - 1 + x->rank - b - last.v);
    if (rs) return rs;
    px_dim out[PX_MAX_RANK];
    int k = 0;
    for (int i = 0; i < ix->rank - 1; i++) out[k++] = ix->dims[i];
    for (int64_t i = b + last.v; i < x->rank; i++) out[k++] = x->dims[i];
    return px_set_out(c, 0, dt, k, out);
}

static px_status r_onehot(px_ictx *c)
{
    px_status st = px_need_inputs(c, 3);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 2);
    const px_shape *ix = px_in_shape(c, 0);
    if (ix->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int64_t r = (int64_t)ix->rank + 1;
    if ((st = px_check_rank(c, r))) return st;
    int axis;
    if ((st = px_axis(c, px_attr_int(c->n, "axis", -1), (int)r, 0, "axis", &axis))) return st;
    double depth[2];
    int n;
    px_dim dd = px_du();
    if (px_in_doubles(c, 1, depth, 1, &n) && n == 1) {
        if (!(depth[0] >= 0 && depth[0] <= 9.2e18)) return px_node_fail(c, "depth %g is out of range", depth[0]);
        dd = px_dk((int64_t)depth[0]);
    }
    px_dim out[PX_MAX_RANK];
    for (int i = 0, j = 0; i < r; i++) out[i] = i == axis ? dd : ix->dims[j++];
    return px_set_out(c, 0, dt, (int)r, out);
}

static px_status r_compress(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    const px_attr *aa = px_node_attr(c->n, "axis");
    if (!aa) {
        px_dim d = px_du();
        return px_set_out(c, 0, dt, 1, &d);
    }
    if (x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int axis;
    if ((st = px_axis(c, aa->i, x->rank, 0, "axis", &axis))) return st;
    px_dim out[PX_MAX_RANK];
    memcpy(out, x->dims, (size_t)x->rank * sizeof *out);
    out[axis] = px_du();
    return px_set_out(c, 0, dt, x->rank, out);
}

/* NonZero: [rank, count]; the count depends on the data. */
static px_status r_nonzero(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    int r = px_in_rank(c, 0);
    px_dim out[2] = {r >= 0 ? px_dk(r) : px_du(), px_du()};
    return px_set_out(c, 0, PX_DT_INT64, 2, out);
}

static px_status r_unique(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    const px_attr *aa = px_node_attr(c->n, "axis");
    px_dim u = px_du(), inv = px_du();
    if (!aa) {
        if ((st = px_set_out(c, 0, px_in_dtype(c, 0), 1, &u))) return st;
        if (x->rank >= 0) {
            inv = px_dk(1);
            for (int i = 0; i < x->rank; i++) inv = px_dmul(inv, x->dims[i]);
        }
    } else if (x->rank >= 0) {
        int axis;
        if ((st = px_axis(c, aa->i, x->rank, 0, "axis", &axis))) return st;
        px_dim out[PX_MAX_RANK];
        memcpy(out, x->dims, (size_t)x->rank * sizeof *out);
        out[axis] = px_du();
        inv = x->dims[axis];
        if ((st = px_set_out(c, 0, px_in_dtype(c, 0), x->rank, out))) return st;
    } else if ((st = px_set_out(c, 0, px_in_dtype(c, 0), -1, NULL))) {
        return st;
    }
    if ((st = px_set_out(c, 1, PX_DT_INT64, 1, &u))) return st;
    if ((st = px_set_out(c, 2, PX_DT_INT64, 1, &inv))) return st;
    return px_set_out(c, 3, PX_DT_INT64, 1, &u);
}

static px_status r_topk(px_ictx *c)
{
    px_status st = px_need_inputs(c, c->opset >= 10 ? 2 : 1);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    px_dim kd = px_du();
    if (c->opset < 10) {
        const px_attr *ka = px_node_attr(c->n, "k");
        if (!ka) return px_node_fail(c, "attribute k is missing");
        if (ka->i < 0) return px_node_fail(c, "k must not be negative");
        kd = px_dk(ka->i);
    } else {
        int n;
        const px_dim *d = px_in_data(c, 1, &n);
        if (d && n == 1) {
            if (px_elit(d[0]) && d[0].v < 0) return px_node_fail(c, "k must not be negative");
            kd = px_data_to_dim(d[0]);
        }
    }
    if (x->rank < 0) {
        if ((st = px_set_out(c, 0, dt, -1, NULL))) return st;
        return px_set_out(c, 1, PX_DT_INT64, -1, NULL);
    }
    int axis;
    if ((st = px_axis(c, px_attr_int(c->n, "axis", -1), x->rank, 0, "axis", &axis))) return st;
    if (kd.v >= 0 && x->dims[axis].v >= 0 && kd.v > x->dims[axis].v)
        return px_node_fail(c, "k = %lld exceeds the axis size %lld", (long long)kd.v, (long long)x->dims[axis].v);
    px_dim out[PX_MAX_RANK];
    memcpy(out, x->dims, (size_t)x->rank * sizeof *out);
    out[axis] = kd;
    if ((st = px_set_out(c, 0, dt, x->rank, out))) return st;
    return px_set_out(c, 1, PX_DT_INT64, x->rank, out);
}

/* --- Expand, Tile, Pad ----------------------------------------------------- */

/* Target shape from input i's contents, or its length only; *rank -1 when
 * not even that is known. */
static px_status shape_operand(px_ictx *c, int i, px_dim *dims, int *rank)
{
    int n;
    const px_dim *d = px_in_data(c, i, &n);
    *rank = -1;
    if (d) {
        px_status st = px_check_rank(c, n);
        if (st) return st;
        for (int k = 0; k < n; k++) dims[k] = px_data_to_dim(d[k]);
        *rank = n;
        return PX_OK;
    }
    const px_shape *s = px_in_shape(c, i);
    if (s->rank >= 0 && s->rank != 1) return px_node_fail(c, "shape input must be 1-D, has rank %d", s->rank);
    if (s->rank == 1 && s->dims[0].v >= 0) {
        px_status st = px_check_rank(c, s->dims[0].v);
        if (st) return st;
        for (int k = 0; k < s->dims[0].v; k++) dims[k] = px_du();
        *rank = (int)s->dims[0].v;
    }
    return PX_OK;
}

static px_status r_expand(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    px_dim tgt[PX_MAX_RANK], out[PX_MAX_RANK];
    int tr;
    if ((st = shape_operand(c, 1, tgt, &tr))) return st;
    const px_shape *x = px_in_shape(c, 0);
    if (tr < 0 || x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    px_shape t = {tr, tgt};
    const px_shape *sh[2] = {x, &t};
    int r;
    if ((st = px_broadcast(c, sh, 2, out, &r))) return st;
    if ((st = px_set_out(c, 0, dt, r, out))) return st;
    /* data: a small constant broadcast */
    int nd;
    const px_dim *d = px_in_data(c, 0, &nd);
    px_shape o = {r, out};
    int64_t numel = px_shape_numel(&o);
    if (d && nd == 1 && numel >= 0 && numel <= PX_DATA_MAX) {
        px_dim res[PX_DATA_MAX];
        for (int64_t i = 0; i < numel; i++) res[i] = d[0];
        return px_set_out_data(c, 0, (int)numel, res);
    }
    return PX_OK;
}

static px_status r_tile(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int n;
    const px_dim *d = px_in_data(c, 1, &n);
    px_dim out[PX_MAX_RANK];
    if (!d) {
        for (int i = 0; i < x->rank; i++) out[i] = px_du();
        return px_set_out(c, 0, dt, x->rank, out);
    }
    if (n != x->rank) return px_node_fail(c, "repeats has %d entries for an input of rank %d", n, x->rank);
    for (int i = 0; i < n; i++) {
        if (px_elit(d[i]) && d[i].v < 0) return px_node_fail(c, "repeats must not be negative");
        if ((st = px_dmul_chk(c, x->dims[i], px_data_to_dim(d[i]), "tiled dim", &out[i]))) return st;
    }
    return px_set_out(c, 0, dt, x->rank, out);
}

static px_status r_pad(px_ictx *c)
{
    px_status st = px_need_inputs(c, c->opset >= 11 ? 2 : 1);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int64_t pads[2 * PX_MAX_RANK], axes[PX_MAX_RANK];
    int np = -1, na = -1, known = 1;
    if (c->opset < 11) {
        if ((st = px_attr_ints_cap(c, c->opset < 2 ? "paddings" : "pads", pads, 2 * PX_MAX_RANK, &np))) return st;
        if (np < 0) return px_node_fail(c, "attribute pads is missing");
    } else {
        known = px_in_ints(c, 1, pads, 2 * PX_MAX_RANK, &np);
        if (px_has_in(c, 3) && !px_in_ints(c, 3, axes, PX_MAX_RANK, &na)) known = 0;
    }
    if (!known && px_has_in(c, 3)) return px_set_out(c, 0, dt, -1, NULL);
    px_dim out[PX_MAX_RANK];
    for (int i = 0; i < x->rank; i++) out[i] = known ? x->dims[i] : px_du();
    if (!known) return px_set_out(c, 0, dt, x->rank, out);
    if (na < 0) {
        na = x->rank;
        for (int i = 0; i < na; i++) axes[i] = i;
    }
    if (np != 2 * na) return px_node_fail(c, "pads has %d entries, expected %d", np, 2 * na);
    int seen[PX_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
        int a;
        if ((st = px_axis(c, axes[i], x->rank, 0, "axis", &a))) return st;
        if (seen[a]++) return px_node_fail(c, "axis %d is repeated", a);
        int64_t total, o;
        if (__builtin_add_overflow(pads[i], pads[na + i], &total)) return px_node_fail(c, "pads overflow");
        if (x->dims[a].v >= 0) {
            if (__builtin_add_overflow(x->dims[a].v, total, &o) || o < 0)
                return px_node_fail(c, "padding axis %d of size %lld by %lld gives a negative size", a,
                                    (long long)x->dims[a].v, (long long)total);
            out[a] = px_dk(o);
        } else if (total != 0) {
            out[a] = px_du();
        }
    }
    return px_set_out(c, 0, dt, x->rank, out);
}

/* --- DepthToSpace, SpaceToDepth ----------------------------------------- */

static px_status space_depth(px_ictx *c, int to_space)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    int64_t b = px_attr_int(c->n, "blocksize", 0), bb;
    if (b <= 0 || __builtin_mul_overflow(b, b, &bb)) return px_node_fail(c, "blocksize must be positive");
    if (x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    if (x->rank != 4) return px_node_fail(c, "input must have rank 4, has %d", x->rank);
    px_dim out[4];
    out[0] = x->dims[0];
    px_dim ch = x->dims[1];
    if (to_space) {
        if (ch.v >= 0 && ch.v % bb) return px_node_fail(c, "channels %lld not divisible by blocksize^2", (long long)ch.v);
        out[1] = ch.v >= 0 ? px_dk(ch.v / bb) : (bb == 1 ? ch : px_du());
        for (int i = 2; i < 4; i++)
            if ((st = px_dmul_chk(c, x->dims[i], px_dk(b), "spatial dim", &out[i]))) return st;
    } else {
        if ((st = px_dmul_chk(c, ch, px_dk(bb), "channels", &out[1]))) return st;
        for (int i = 2; i < 4; i++) {
            px_dim d = x->dims[i];
            if (d.v >= 0 && d.v % b) return px_node_fail(c, "spatial dim %lld not divisible by blocksize", (long long)d.v);
            out[i] = d.v >= 0 ? px_dk(d.v / b) : (b == 1 ? d : px_du());
        }
    }
    return px_set_out(c, 0, dt, 4, out);
}

static px_status r_depth_to_space(px_ictx *c) { return space_depth(c, 1); }
static px_status r_space_to_depth(px_ictx *c) { return space_depth(c, 0); }

/* --- Resize, Upsample -------------------------------------------------------- */

static px_status r_resize(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int r = x->rank;
    int upsample = !strcmp(c->n->op_type, "Upsample");
    int scales_idx = (upsample || c->opset < 11) ? 1 : 2;
    double scales[PX_MAX_RANK];
    int ns = -1, nz = -1;
    px_dim sizes[PX_MAX_RANK];
    if (upsample && c->opset < 9) {
        const px_attr *a = px_node_attr(c->n, "scales");
        if (a && a->type == PX_ATTR_FLOATS && a->n <= PX_MAX_RANK) {
            for (int i = 0; i < a->n; i++) scales[i] = a->floats[i];
            ns = a->n;
        }
    } else if (px_has_in(c, scales_idx) && !px_in_doubles(c, scales_idx, scales, PX_MAX_RANK, &ns)) {
        ns = -2; /* present, contents unknown */
    }
    if (!upsample && c->opset >= 11 && px_has_in(c, 3)) {
        int n;
        const px_dim *d = px_in_data(c, 3, &n);
        if (d && n > PX_MAX_RANK) return px_node_fail(c, "sizes has %d entries", n);
        if (d)
            for (int i = 0; i < n; i++) sizes[i] = d[i];
        nz = d ? n : -2;
    }
    if (ns == 0) ns = -1; /* an empty scales input means "use sizes" */
    if (nz == 0) nz = -1;
    if (!upsample && c->opset >= 13 && ns > 0 && nz > 0)
        return px_node_fail(c, "either sizes or scales must be given, not both");
    int64_t axes[PX_MAX_RANK];
    int na = -1;
    if ((st = px_attr_ints_cap(c, "axes", axes, PX_MAX_RANK, &na))) return st;
    if (na >= 0) {
        int seen[PX_MAX_RANK] = {0};
        for (int i = 0; i < na; i++) {
            int a;
            if ((st = px_axis(c, axes[i], r, 0, "axis", &a))) return st;
            if (seen[a]++) return px_node_fail(c, "axis %d is repeated", a);
            axes[i] = a;
        }
    }
    px_dim out[PX_MAX_RANK];
    for (int i = 0; i < r; i++) out[i] = px_du();
    int want = na >= 0 ? na : r;
    if (nz > 0) {
        if (nz != want) return px_node_fail(c, "sizes has %d entries, expected %d", nz, want);
        for (int i = 0; i < r; i++) out[i] = x->dims[i];
        const char *policy = px_attr_string(c->n, "keep_aspect_ratio_policy", "stretch");
        int not_larger = !strcmp(policy, "not_larger"), not_smaller = !strcmp(policy, "not_smaller");
        if (!not_larger && !not_smaller && strcmp(policy, "stretch"))
            return px_node_fail(c, "unknown keep_aspect_ratio_policy '%s'", policy);
        if (not_larger || not_smaller) {
            double scale = not_larger ? 1e300 : -1e300;
            int ok = 1;
            for (int i = 0; i < nz; i++) {
                px_dim in = x->dims[na >= 0 ? axes[i] : i];
                if (in.v <= 0 || !px_elit(sizes[i])) {
                    ok = 0;
                    break;
                }
                double s = (double)sizes[i].v / (double)in.v;
                scale = not_larger ? (s < scale ? s : scale) : (s > scale ? s : scale);
            }
            for (int i = 0; i < nz; i++) {
                int a = na >= 0 ? (int)axes[i] : i;
                double o = ok ? nearbyint(scale * (double)x->dims[a].v) : 0;
                if (ok && !(o >= 0 && o <= 9.2e18)) return px_node_fail(c, "output size %g is out of range", o);
                out[a] = ok ? px_dk((int64_t)o) : px_du();
            }
        } else {
            for (int i = 0; i < nz; i++) {
                int a = na >= 0 ? (int)axes[i] : i;
                px_dim e = sizes[i];
                out[a] = px_elit(e) ? (e.v > 0 ? e : px_du()) : px_data_to_dim(e);
            }
        }
    } else if (ns > 0) {
        if (ns != want) return px_node_fail(c, "scales has %d entries, expected %d", ns, want);
        double full[PX_MAX_RANK];
        for (int i = 0; i < r; i++) full[i] = 1.0;
        for (int i = 0; i < ns; i++) full[na >= 0 ? axes[i] : i] = scales[i];
        for (int i = 0; i < r; i++) {
            /* onnx multiplies by the float scale in double and floors */
            double s = (double)(float)full[i];
            if (!(s >= 0)) return px_node_fail(c, "scale %g is negative", s);
            px_dim in = x->dims[i];
            if (in.v >= 0 && s < 1e12) {
                double o = floor((double)in.v * s);
                if (o > 9.2e18) return px_node_fail(c, "output size overflows");
                out[i] = px_dk((int64_t)o);
            } else if (s == 1.0) {
                out[i] = in;
            }
        }
    }
    return px_set_out(c, 0, dt, r, out);
}

const px_rule px_rules_index[] = {
    {"", "Gather", 1, 0, r_gather},
    {"", "GatherElements", 11, 0, r_gather_elements},
    {"", "GatherND", 11, 0, r_gather_nd},
    {"", "Scatter", 9, 0, r_scatter},
    {"", "ScatterElements", 11, 0, r_scatter},
    {"", "ScatterND", 11, 0, r_scatter},
    {"", "OneHot", 9, 0, r_onehot},
    {"", "Compress", 9, 0, r_compress},
    {"", "NonZero", 9, 0, r_nonzero},
    {"", "Unique", 11, 0, r_unique},
    {"", "TopK", 1, 0, r_topk},
    {"", "Trilu", 14, 0, r_like0},
    {"", "CumSum", 11, 0, r_like0},
    {"", "CumProd", 26, 0, r_like0},
    {"", "ReverseSequence", 10, 0, r_like0},
    {"", "Expand", 8, 0, r_expand},
    {"", "Tile", 6, 0, r_tile},
    {"", "Pad", 1, 0, r_pad},
    {"", "DepthToSpace", 1, 0, r_depth_to_space},
    {"", "SpaceToDepth", 1, 0, r_space_to_depth},
    {"", "Resize", 10, 0, r_resize},
    {"", "Upsample", 7, 0, r_resize},
    {NULL, NULL, 0, 0, NULL},
};
