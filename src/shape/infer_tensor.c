/* Shape-manipulating ops: Shape, Size, Reshape, Flatten, Transpose,
 * Squeeze, Unsqueeze, Concat, Split, Slice.  Each also forwards the
 * known contents of small integer tensors (data propagation), which is
 * what resolves the Shape -> Gather -> Concat -> Reshape chains. */
#include <string.h>

#include "shape/infer_internal.h"

/* Reads axes (or similar) from an INTS attribute before opset `moved`, from
 * input `idx` from then on.  *n = -1 when absent; *known = 0 when the input
 * exists but its contents are not known. */
static px_status axes_attr_or_input(px_ictx *c, const char *attr, int idx, int64_t moved, int64_t *buf, int *n,
                                    int *known)
{
    *known = 1;
    *n = -1;
    if (c->opset < moved) return px_attr_ints_cap(c, attr, buf, PX_DATA_MAX, n);
    if (!px_has_in(c, idx)) return PX_OK;
    if (!px_in_ints(c, idx, buf, PX_DATA_MAX, n)) {
        *known = 0;
        *n = -1;
    }
    return PX_OK;
}

/* --- Shape, Size ---------------------------------------------------------- */

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static px_status r_shape(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank < 0) {
        px_dim d = px_du();
        return px_set_out(c, 0, PX_DT_INT64, 1, &d);
    }
    int64_t r = x->rank, start = px_attr_int(c->n, "start", 0), end = px_attr_int(c->n, "end", r);
    if (c->opset < 15) start = 0, end = r;
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = clamp64(start, 0, r);
    end = clamp64(end, 0, r);
    int64_t len = end > start ? end - start : 0;
    px_dim d = px_dk(len);
    if ((st = px_set_out(c, 0, PX_DT_INT64, 1, &d))) return st;
    px_dim data[PX_MAX_RANK];
    for (int64_t i = 0; i < len; i++) data[i] = px_dim_to_data(x->dims[start + i]);
    return px_set_out_data(c, 0, (int)len, data);
}

static px_status r_size(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st || (st = px_set_out(c, 0, PX_DT_INT64, 0, NULL))) return st;
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank < 0) return PX_OK;
    px_dim p = px_dk(1);
    for (int i = 0; i < x->rank; i++) p = px_dmul(p, x->dims[i]);
    px_dim e = px_dim_to_data(p);
    return px_set_out_data(c, 0, 1, &e);
}

/* --- Reshape ---------------------------------------------------------------- */

/* Product of dims as (known factor, symbols); 0 when some dim is unknown. */
typedef struct monomial {
    int64_t k;
    int overflow;
    int n;
    const char *syms[PX_MAX_RANK];
} monomial;

static int mono_add(monomial *m, px_dim d)
{
    if (d.v >= 0) {
        if (__builtin_mul_overflow(m->k, d.v, &m->k)) m->overflow = 1;
        return 1;
    }
    if (!d.sym || px_sym_is_marker(d.sym) || m->n >= PX_MAX_RANK) return 0;
    m->syms[m->n++] = d.sym;
    return 1;
}

/* The -1 dim: input product / other output dims, cancelling equal symbols
 * (batch*seq*768 / (batch*768) = seq).  Unknown when it does not resolve. */
static px_status solve_minus_one(px_ictx *c, const px_shape *x, const px_dim *out, int rank, int skip, px_dim *res)
{
    monomial num = {1, 0, 0, {0}}, den = {1, 0, 0, {0}};
    *res = px_du();
    for (int i = 0; i < rank; i++)
        if (i != skip && !mono_add(&den, out[i])) return PX_OK;
    if (den.k == 0 && !den.overflow)
        return px_node_fail(c, "target shape has a 0 dim together with -1");
    if (x->rank < 0) return PX_OK;
    for (int i = 0; i < x->rank; i++)
        if (!mono_add(&num, x->dims[i])) return PX_OK;
    if (num.overflow || den.overflow) return PX_OK;
    for (int j = 0; j < den.n; j++) {
        int found = 0;
        for (int i = 0; i < num.n; i++)
            if (num.syms[i] && !strcmp(num.syms[i], den.syms[j])) {
                num.syms[i] = NULL;
                found = 1;
                break;
            }
        if (!found) return PX_OK;
    }
    const char *left = NULL;
    int nleft = 0;
    for (int i = 0; i < num.n; i++)
        if (num.syms[i]) left = num.syms[i], nleft++;
    if (num.k % den.k) {
        if (nleft == 0)
            return px_node_fail(c, "cannot reshape %lld elements into a multiple of %lld", (long long)num.k,
                                (long long)den.k);
        return PX_OK;
    }
    int64_t q = num.k / den.k;
    if (nleft == 0) *res = px_dk(q);
    else if (nleft == 1 && q == 1) *res = (px_dim){-1, left};
    return PX_OK;
}

static px_status r_reshape(px_ictx *c)
{
    px_status st = px_need_inputs(c, c->opset >= 5 ? 2 : 1);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    px_dim tgt[PX_DATA_MAX];
    int n = -1;
    if (c->opset < 5) {
        int64_t buf[PX_MAX_RANK + 1];
        if ((st = px_attr_ints_cap(c, "shape", buf, PX_MAX_RANK + 1, &n))) return st;
        for (int i = 0; i < n; i++) tgt[i] = px_dk(buf[i]);
    } else {
        const px_dim *d = px_in_data(c, 1, &n);
        if (d) memcpy(tgt, d, (size_t)n * sizeof *d);
        else {
            n = -1;
            const px_shape *s = px_in_shape(c, 1);
            if (s->rank >= 0 && s->rank != 1) return px_node_fail(c, "shape input must be 1-D, has rank %d", s->rank);
            if (s->rank == 1 && s->dims[0].v >= 0) {
                if ((st = px_check_rank(c, s->dims[0].v))) return st;
                px_dim out[PX_MAX_RANK];
                for (int i = 0; i < s->dims[0].v; i++) out[i] = px_du();
                return px_set_out(c, 0, dt, (int)s->dims[0].v, out);
            }
        }
    }
    if (n < 0) return px_set_out(c, 0, dt, -1, NULL);
    if ((st = px_check_rank(c, n))) return st;
    int allowzero = (int)px_attr_int(c->n, "allowzero", 0);
    px_dim out[PX_MAX_RANK];
    int neg = -1;
    for (int i = 0; i < n; i++) {
        px_dim e = tgt[i];
        out[i] = px_du();
        if (!px_elit(e)) {
            out[i] = px_data_to_dim(e);
        } else if (e.v == -1) {
            if (neg >= 0) return px_node_fail(c, "target shape has more than one -1");
            neg = i;
        } else if (e.v == 0 && !allowzero) {
            if (x->rank >= 0 && i >= x->rank)
                return px_node_fail(c, "target dim %d is 0 (copy) but the input has rank %d", i, x->rank);
            if (x->rank >= 0) out[i] = x->dims[i];
        } else if (e.v < 0) {
            return px_node_fail(c, "invalid target dim %lld", (long long)e.v);
        } else {
            out[i] = px_dk(e.v);
        }
    }
    if (neg >= 0) {
        if ((st = solve_minus_one(c, x, out, n, neg, &out[neg]))) return st;
    } else {
        int64_t a = px_shape_numel(x);
        px_shape o = {n, out};
        int64_t b = px_shape_numel(&o);
        if (a >= 0 && b >= 0 && a != b)
            return px_node_fail(c, "cannot reshape %lld elements into %lld", (long long)a, (long long)b);
    }
    if ((st = px_set_out(c, 0, dt, n, out))) return st;
    int nd;
    const px_dim *d = px_in_data(c, 0, &nd);
    px_shape o = {n, out};
    if (d && px_shape_numel(&o) == nd) st = px_set_out_data(c, 0, nd, d);
    return st;
}

/* --- Flatten, Transpose --------------------------------------------------- */

static px_status r_flatten(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    px_dim out[2] = {px_du(), px_du()};
    if (x->rank < 0) return px_set_out(c, 0, px_in_dtype(c, 0), 2, out);
    int axis;
    if ((st = px_axis(c, px_attr_int(c->n, "axis", 1), x->rank, 1, "axis", &axis))) return st;
    out[0] = out[1] = px_dk(1);
    for (int i = 0; i < x->rank; i++) {
        px_dim *o = &out[i < axis ? 0 : 1];
        *o = px_dmul(*o, x->dims[i]);
    }
    if ((st = px_set_out(c, 0, px_in_dtype(c, 0), 2, out))) return st;
    int nd;
    const px_dim *d = px_in_data(c, 0, &nd);
    return d ? px_set_out_data(c, 0, nd, d) : PX_OK;
}

static px_status r_transpose(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank < 0) return px_set_out(c, 0, px_in_dtype(c, 0), -1, NULL);
    int64_t perm[PX_MAX_RANK];
    int n;
    if ((st = px_attr_ints_cap(c, "perm", perm, PX_MAX_RANK, &n))) return st;
    if (n < 0)
        for (int i = 0; i < x->rank; i++) perm[i] = x->rank - 1 - i;
    else if (n != x->rank)
        return px_node_fail(c, "perm has %d entries for an input of rank %d", n, x->rank);
    int seen[PX_MAX_RANK] = {0};
    px_dim out[PX_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        if (perm[i] < 0 || perm[i] >= x->rank) return px_node_fail(c, "perm entry %lld is out of range", (long long)perm[i]);
        if (seen[perm[i]]++) return px_node_fail(c, "perm repeats axis %lld", (long long)perm[i]);
        out[i] = x->dims[perm[i]];
    }
    if ((st = px_set_out(c, 0, px_in_dtype(c, 0), x->rank, out))) return st;
    int nd;
    const px_dim *d = px_in_data(c, 0, &nd);
    return d && x->rank <= 1 ? px_set_out_data(c, 0, nd, d) : PX_OK;
}

/* --- Squeeze, Unsqueeze ------------------------------------------------------ */

static px_status r_squeeze(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    int64_t axes[PX_DATA_MAX];
    int n, known;
    if ((st = axes_attr_or_input(c, "axes", 1, 13, axes, &n, &known))) return st;
    if (!known || x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int drop[PX_MAX_RANK] = {0};
    if (n < 0) {
        /* without axes every 1 goes: a symbolic dim leaves the rank unknown */
        for (int i = 0; i < x->rank; i++) {
            if (x->dims[i].v < 0) return px_set_out(c, 0, dt, -1, NULL);
            drop[i] = x->dims[i].v == 1;
        }
    }
    for (int k = 0; k < n; k++) {
        int a;
        if ((st = px_axis(c, axes[k], x->rank, 0, "axis", &a))) return st;
        if (x->dims[a].v >= 0 && x->dims[a].v != 1)
            return px_node_fail(c, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a].v);
        drop[a] = 1;
    }
    px_dim out[PX_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (!drop[i]) out[r++] = x->dims[i];
    if ((st = px_set_out(c, 0, dt, r, out))) return st;
    int nd;
    const px_dim *d = px_in_data(c, 0, &nd);
    return d ? px_set_out_data(c, 0, nd, d) : PX_OK;
}

static px_status r_unsqueeze(px_ictx *c)
{
    px_status st = px_need_inputs(c, c->opset >= 13 ? 2 : 1);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    int64_t axes[PX_DATA_MAX];
    int n, known;
    if ((st = axes_attr_or_input(c, "axes", 1, 13, axes, &n, &known))) return st;
    if (known && n < 0) return px_node_fail(c, "axes are missing");
    if (!known || x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int64_t r = (int64_t)x->rank + n;
    if ((st = px_check_rank(c, r))) return st;
    int ins[PX_MAX_RANK] = {0};
    for (int k = 0; k < n; k++) {
        int a;
        if ((st = px_axis(c, axes[k], (int)r, 0, "axis", &a))) return st;
        if (ins[a]++) return px_node_fail(c, "axis %d is repeated", a);
    }
    px_dim out[PX_MAX_RANK];
    for (int i = 0, j = 0; i < r; i++) out[i] = ins[i] ? px_dk(1) : x->dims[j++];
    if ((st = px_set_out(c, 0, dt, (int)r, out))) return st;
    int nd;
    const px_dim *d = px_in_data(c, 0, &nd);
    return d ? px_set_out_data(c, 0, nd, d) : PX_OK;
}

/* --- Concat, Split -------------------------------------------------------- */

/* The output dims of a concatenation along axis of the inputs first,
 * first + step, ... below end (all of rank `rank`): other dims merged, the
 * axis the sum when every input's is known (Concat, QLinearConcat). */
px_status px_concat_dims(px_ictx *c, int first, int step, int end, int rank, int axis, px_dim *out)
{
    px_status st;
    for (int j = 0; j < rank; j++) out[j] = px_du();
    px_dim total = px_dk(0);
    int all_known = 1, count = 0;
    for (int i = first; i < end; i += step) {
        const px_shape *s = px_in_shape(c, i);
        count++;
        if (s->rank < 0) {
            all_known = 0;
            continue;
        }
        for (int j = 0; j < rank; j++) {
            if (j == axis) {
                if (s->dims[j].v >= 0 && total.v >= 0) {
                    if ((st = px_dadd_chk(c, total, s->dims[j], "concatenated axis size", &total))) return st;
                } else {
                    all_known = 0;
                }
            } else if (!px_merge_dim(&out[j], s->dims[j])) {
                return px_node_fail(c, "input %d has dim %d of size %lld, expected %lld", i, j,
                                    (long long)s->dims[j].v, (long long)out[j].v);
            }
        }
    }
    if (count == 1) out[axis] = px_in_shape(c, first)->dims[axis];
    else if (all_known && total.v >= 0) out[axis] = total;
    return PX_OK;
}

static px_status r_concat(px_ictx *c)
{
    int n = c->n->n_inputs;
    if (n < 1) return px_node_fail(c, "needs at least one input");
    px_status st = px_need_inputs(c, n);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_attr *aa = px_node_attr(c->n, "axis");
    int rank = -1;
    for (int i = 0; i < n; i++) {
        int r = px_in_rank(c, i);
        if (r < 0) continue;
        if (rank >= 0 && r != rank) return px_node_fail(c, "input %d has rank %d, input 0 has rank %d", i, r, rank);
        rank = r;
    }
    if (!aa || aa->type != PX_ATTR_INT) {
        if (c->opset >= 4) return px_node_fail(c, "attribute axis is missing");
    }
    int64_t axis_v = aa && aa->type == PX_ATTR_INT ? aa->i : 1;
    if (rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int axis;
    if ((st = px_axis(c, axis_v, rank, 0, "axis", &axis))) return st;
    px_dim out[PX_MAX_RANK];
    if ((st = px_concat_dims(c, 0, 1, n, rank, axis, out))) return st;
    if ((st = px_set_out(c, 0, dt, rank, out))) return st;
    /* data: flat concatenation along axis 0 */
    if (axis != 0 && rank > 1) return PX_OK;
    px_dim data[PX_DATA_MAX];
    int len = 0;
    for (int i = 0; i < n; i++) {
        int k;
        const px_dim *d = px_in_data(c, i, &k);
        if (!d || len + k > PX_DATA_MAX) return PX_OK;
        memcpy(data + len, d, (size_t)k * sizeof *d);
        len += k;
    }
    return px_set_out_data(c, 0, len, data);
}

static px_status r_split(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    int nout = px_n_out(c);
    if (nout > PX_DATA_MAX) return px_node_fail(c, "has %d outputs (at most %d supported)", nout, PX_DATA_MAX);
    int64_t split[PX_DATA_MAX];
    int ns = -1, known = 1;
    if (c->opset < 13) {
        if ((st = px_attr_ints_cap(c, "split", split, PX_DATA_MAX, &ns))) return st;
        if (ns < 0 && px_has_in(c, 1) && !px_in_ints(c, 1, split, PX_DATA_MAX, &ns)) known = 0, ns = -1;
    } else if (px_has_in(c, 1)) {
        if (!px_in_ints(c, 1, split, PX_DATA_MAX, &ns)) known = 0, ns = -1;
        if (c->opset >= 18 && px_node_attr(c->n, "num_outputs"))
            return px_node_fail(c, "both the split input and num_outputs are given");
    }
    if (ns >= 0 && ns != nout) return px_node_fail(c, "split has %d entries for %d outputs", ns, nout);
    for (int i = 0; i < ns; i++)
        if (split[i] < 0) return px_node_fail(c, "split entry %lld is negative", (long long)split[i]);
    if (x->rank < 0) {
        for (int o = 0; o < nout && !st; o++) st = px_set_out(c, o, dt, -1, NULL);
        return st;
    }
    int axis;
    if ((st = px_axis(c, px_attr_int(c->n, "axis", 0), x->rank, 0, "axis", &axis))) return st;
    px_dim len = x->dims[axis];
    if (ns >= 0 && len.v >= 0) {
        int64_t sum = 0;
        for (int i = 0; i < ns; i++)
            if (__builtin_add_overflow(sum, split[i], &sum)) return px_node_fail(c, "split sizes overflow");
        if (sum != len.v)
            return px_node_fail(c, "split sizes add up to %lld but the axis has %lld", (long long)sum, (long long)len.v);
    }
    if (ns < 0 && known && len.v >= 0) {
        int64_t parts = nout;
        const px_attr *na = px_node_attr(c->n, "num_outputs");
        if (c->opset >= 18 && na) {
            if (na->i != nout) return px_node_fail(c, "num_outputs is %lld but the node has %d outputs", (long long)na->i, nout);
        } else if (c->opset >= 18 && px_has_in(c, 1) == 0) {
            return px_node_fail(c, "neither the split input nor num_outputs is given");
        }
        if (parts <= 0) return px_node_fail(c, "needs at least one output");
        if (c->opset >= 18 && na) {
            /* uneven: ceil-sized chunks, the last one smaller */
            int64_t chunk = len.v / parts + (len.v % parts ? 1 : 0), left = len.v;
            for (int i = 0; i < nout; i++) {
                split[i] = left < chunk ? left : chunk;
                left -= split[i];
            }
            if (split[nout - 1] <= 0 && len.v % parts)
                return px_node_fail(c, "cannot split %lld into %lld non-empty parts", (long long)len.v, (long long)parts);
        } else {
            if (len.v % parts)
                return px_node_fail(c, "axis of size %lld does not split evenly into %lld", (long long)len.v, (long long)parts);
            for (int i = 0; i < nout; i++) split[i] = len.v / parts;
        }
        ns = nout;
    }
    px_dim out[PX_MAX_RANK];
    memcpy(out, x->dims, (size_t)x->rank * sizeof *out);
    int nd;
    const px_dim *d = px_in_data(c, 0, &nd);
    int64_t off = 0;
    for (int o = 0; o < nout; o++) {
        out[axis] = ns >= 0 ? px_dk(split[o]) : px_du();
        if ((st = px_set_out(c, o, dt, x->rank, out))) return st;
        if (d && x->rank == 1 && ns >= 0 && split[o] <= nd - off) {
            if ((st = px_set_out_data(c, o, (int)split[o], d + off))) return st;
            off += split[o];
        }
    }
    return PX_OK;
}

/* --- Slice ------------------------------------------------------------------ */

/* Clamps start/end as onnx does and returns the element count. */
static int64_t slice_len(int64_t dim, int64_t *start, int64_t *end, int64_t step)
{
    int64_t s = *start, e = *end;
    if (dim == 0) {
        *start = *end = 0;
        return 0;
    }
    if (s < 0) s += dim;
    s = step < 0 ? clamp64(s, 0, dim - 1) : clamp64(s, 0, dim);
    if (e < 0) e += dim;
    e = step < 0 ? clamp64(e, -1, dim - 1) : clamp64(e, 0, dim);
    *start = s;
    *end = e;
    int64_t diff = e - s, n;
    if (step > 0) n = diff <= 0 ? 0 : (diff - 1) / step + 1;
    else n = diff >= 0 ? 0 : (-diff - 1) / (step == INT64_MIN ? INT64_MAX : -step) + 1;
    return n;
}

static px_status r_slice(px_ictx *c)
{
    px_status st = px_need_inputs(c, c->opset >= 10 ? 3 : 1);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    int64_t starts[PX_DATA_MAX], ends[PX_DATA_MAX], axes[PX_DATA_MAX], steps[PX_DATA_MAX];
    const px_dim *end_data = NULL; /* ends may hold symbols (a sequence length) */
    int ns = -1, ne = -1, na = -1, nst = -1, have = 1;
    if (c->opset < 10) {
        if ((st = px_attr_ints_cap(c, "starts", starts, PX_DATA_MAX, &ns))) return st;
        if ((st = px_attr_ints_cap(c, "ends", ends, PX_DATA_MAX, &ne))) return st;
        if ((st = px_attr_ints_cap(c, "axes", axes, PX_DATA_MAX, &na))) return st;
        if (ns < 0 || ne < 0) return px_node_fail(c, "attributes starts and ends are required");
    } else {
        if (!px_in_ints(c, 1, starts, PX_DATA_MAX, &ns)) have = 0;
        if (!(end_data = px_in_data(c, 2, &ne))) have = 0;
        for (int i = 0; end_data && i < ne; i++) ends[i] = px_elit(end_data[i]) ? end_data[i].v : 0;
        if (px_has_in(c, 3) && !px_in_ints(c, 3, axes, PX_DATA_MAX, &na)) have = 0, na = -2;
        if (px_has_in(c, 4) && !px_in_ints(c, 4, steps, PX_DATA_MAX, &nst)) have = 0;
    }
    if (x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    if (have && ns != ne) return px_node_fail(c, "starts has %d entries, ends %d", ns, ne);
    if (na == -1 && have) {
        if (ns > x->rank) return px_node_fail(c, "%d starts for an input of rank %d", ns, x->rank);
        for (int i = 0; i < ns; i++) axes[i] = i;
        na = ns;
    }
    if (have && na != ns) return px_node_fail(c, "axes has %d entries, starts %d", na, ns);
    if (nst < 0 && have)
        for (int i = 0; i < ns; i++) steps[i] = 1;
    else if (have && nst != ns) return px_node_fail(c, "steps has %d entries, starts %d", nst, ns);
    px_dim out[PX_MAX_RANK];
    memcpy(out, x->dims, (size_t)x->rank * sizeof *out);
    int sliced[PX_MAX_RANK] = {0};
    if (na >= 0) {
        for (int i = 0; i < na; i++) {
            int a;
            if ((st = px_axis(c, axes[i], x->rank, 0, "axis", &a))) return st;
            if (sliced[a]++) return px_node_fail(c, "axis %d is repeated", a);
            out[a] = px_du();
        }
    } else {
        for (int i = 0; i < x->rank; i++) out[i] = px_du();
    }
    if (!have) return px_set_out(c, 0, dt, x->rank, out);
    for (int i = 0; i < ns; i++) {
        int a = (int)(axes[i] < 0 ? axes[i] + x->rank : axes[i]);
        int64_t s = starts[i], e = ends[i], step = steps[i];
        if (step == 0) return px_node_fail(c, "step 0 on axis %d", a);
        px_dim in = x->dims[a];
        if (end_data && !px_elit(end_data[i])) {
            /* x[0:E] for a symbolic E is E elements, taking E within the axis
             * (onnxruntime's symbolic inference assumes the same); a model
             * that slices past the end fails on the next broadcast anyway. */
            if (s == 0 && step == 1 && px_sym_is_dim(c, end_data[i].sym)) out[a] = end_data[i];
            continue;
        }
        if (in.v >= 0) out[a] = px_dk(slice_len(in.v, &s, &e, step));
        else if (s == 0 && step == 1 && e == INT64_MAX) out[a] = in; /* x[0:] keeps the dim */
    }
    if ((st = px_set_out(c, 0, dt, x->rank, out))) return st;
    /* data: 1-D contents along axis 0 */
    int nd;
    const px_dim *d = px_in_data(c, 0, &nd);
    if (!d || x->rank != 1 || ns != 1 || (end_data && !px_elit(end_data[0]))) return PX_OK;
    int64_t s = starts[0], e = ends[0], step = steps[0];
    int64_t len = slice_len(nd, &s, &e, step);
    px_dim res[PX_DATA_MAX];
    for (int64_t i = 0; i < len; i++) res[i] = d[s + i * step];
    return px_set_out_data(c, 0, (int)len, res);
}

const px_rule px_rules_tensor[] = {
    {"", "Shape", 1, 0, r_shape},
    {"", "Size", 1, 0, r_size},
    {"", "Reshape", 1, 0, r_reshape},
    {"", "Flatten", 1, 0, r_flatten},
    {"", "Transpose", 1, 0, r_transpose},
    {"", "Squeeze", 1, 0, r_squeeze},
    {"", "Unsqueeze", 1, 0, r_unsqueeze},
    {"", "Concat", 1, 0, r_concat},
    {"", "Split", 1, 0, r_split},
    {"", "Slice", 1, 0, r_slice},
    {NULL, NULL, 0, 0, NULL},
};
