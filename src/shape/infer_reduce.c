/* Reductions (Reduce*, ArgMax/ArgMin) and contractions (MatMul, Gemm,
 * Einsum and their quantized forms). */
#include <string.h>

#include "shape/infer_internal.h"

/* --- reductions ------------------------------------------------------------ */

/* Reduce* ops: axes is an attribute before opset 13 (ReduceSum) or 18 (the
 * others), an optional input from then on. */
static px_status r_reduce(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *x = px_in_shape(c, 0);
    int64_t moved = !strcmp(c->n->op_type, "ReduceSum") ? 13 : 18;
    int64_t keep = px_attr_int(c->n, "keepdims", 1);
    int64_t noop = px_attr_int(c->n, "noop_with_empty_axes", 0);
    int64_t axes[PX_DATA_MAX];
    int n = 0, known = 1;
    if (c->opset < moved || !px_has_in(c, 1)) {
        if ((st = px_attr_ints_cap(c, "axes", axes, PX_DATA_MAX, &n))) return st;
        if (n < 0) n = 0;
    } else {
        if (px_node_attr(c->n, "axes")) return px_node_fail(c, "axes given both as input and attribute");
        known = px_in_ints(c, 1, axes, PX_DATA_MAX, &n);
    }
    if (x->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    px_dim out[PX_MAX_RANK];
    if (!known) {
        /* which axes is unknown: only keepdims=1 keeps the rank */
        if (!keep) return px_set_out(c, 0, dt, -1, NULL);
        for (int i = 0; i < x->rank; i++) out[i] = x->dims[i].v == 1 ? x->dims[i] : px_du();
        return px_set_out(c, 0, dt, x->rank, out);
    }
    if (n == 0 && noop && c->opset >= moved) return px_set_out_shape(c, 0, dt, x);
    int red[PX_MAX_RANK] = {0};
    for (int k = 0; k < n; k++) {
        int a;
        if ((st = px_axis(c, axes[k], x->rank, 0, "axis", &a))) return st;
        red[a] = 1;
    }
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (n == 0 || red[i]) {
            if (keep) out[r++] = px_dk(1);
        } else {
            out[r++] = x->dims[i];
        }
    }
    if ((st = px_set_out(c, 0, dt, r, out))) return st;
    /* data: reducing a whole 1-D integer tensor (ReduceProd of a shape) */
    int nd;
    const px_dim *d = px_in_data(c, 0, &nd);
    if (!d || x->rank != 1 || !px_dtype_is_index(dt) || r > 1) return PX_OK;
    const char *op = c->n->op_type;
    int prod = !strcmp(op, "ReduceProd"), sum = !strcmp(op, "ReduceSum");
    int mx = !strcmp(op, "ReduceMax"), mn = !strcmp(op, "ReduceMin");
    if (!(prod || sum || ((mx || mn) && nd > 0))) return PX_OK;
    px_dim acc = nd == 1 ? d[0] : px_dk(prod ? 1 : sum ? 0 : d[0].v);
    for (int i = 0; i < nd && nd > 1; i++) {
        int64_t v = d[i].v;
        if (!px_elit(d[i]) || !px_elit(acc)) {
            acc = px_dim_unk_data();
            break;
        }
        if (prod && __builtin_mul_overflow(acc.v, v, &acc.v)) acc = px_dim_unk_data();
        else if (sum && __builtin_add_overflow(acc.v, v, &acc.v)) acc = px_dim_unk_data();
        else if (mx && v > acc.v) acc.v = v;
        else if (mn && v < acc.v) acc.v = v;
    }
    return px_set_out_data(c, 0, 1, &acc);
}

static px_status r_argreduce(px_ictx *c)
{
    px_status st = px_need_inputs(c, 1);
    if (st) return st;
    const px_shape *x = px_in_shape(c, 0);
    if (x->rank < 0) return px_set_out(c, 0, PX_DT_INT64, -1, NULL);
    int axis;
    if ((st = px_axis(c, px_attr_int(c->n, "axis", 0), x->rank, 0, "axis", &axis))) return st;
    int keep = px_attr_int(c->n, "keepdims", 1) != 0;
    px_dim out[PX_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (i != axis) out[r++] = x->dims[i];
        else if (keep) out[r++] = px_dk(1);
    }
    return px_set_out(c, 0, PX_DT_INT64, r, out);
}

/* --- MatMul, Gemm ------------------------------------------------------------- */

/* numpy matmul of inputs a and b: 1-D operands are promoted and the
 * promoted dim dropped again; batch dims broadcast. */
static px_status matmul_shape(px_ictx *c, int ia, int ib, px_dtype dt)
{
    const px_shape *a = px_in_shape(c, ia), *b = px_in_shape(c, ib);
    if (a->rank == 0 || b->rank == 0) return px_node_fail(c, "matmul operands must not be scalars");
    if (a->rank < 0 || b->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    px_dim la[PX_MAX_RANK + 1], lb[PX_MAX_RANK + 1];
    int ra = a->rank, rb = b->rank;
    if (ra == 1) {
        la[0] = px_dk(1);
        la[1] = a->dims[0];
        ra = 2;
    } else {
        memcpy(la, a->dims, (size_t)ra * sizeof *la);
    }
    if (rb == 1) {
        lb[0] = b->dims[0];
        lb[1] = px_dk(1);
        rb = 2;
    } else {
        memcpy(lb, b->dims, (size_t)rb * sizeof *lb);
    }
    px_dim k1 = la[ra - 1], k2 = lb[rb - 2];
    if (k1.v >= 0 && k2.v >= 0 && k1.v != k2.v)
        return px_node_fail(c, "inner dimensions differ: %lld vs %lld", (long long)k1.v, (long long)k2.v);
    px_shape pa = {ra - 2, la}, pb = {rb - 2, lb};
    const px_shape *sh[2] = {&pa, &pb};
    px_dim out[PX_MAX_RANK + 2];
    int r;
    px_status st = px_broadcast(c, sh, 2, out, &r);
    if (st) return st;
    if (a->rank != 1) out[r++] = la[ra - 2];
    if (b->rank != 1) out[r++] = lb[rb - 1];
    return px_set_out(c, 0, dt, r, out);
}

static px_status r_matmul(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    px_dtype dt = !strcmp(c->n->op_type, "MatMulInteger") ? PX_DT_INT32 : px_in_dtype(c, 0);
    return matmul_shape(c, 0, 1, dt);
}

/* QLinearMatMul (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp). */
static px_status r_qlinear_matmul(px_ictx *c)
{
    px_status st = px_need_inputs(c, 8);
    if (st) return st;
    return matmul_shape(c, 0, 3, px_in_dtype(c, 7));
}

static px_status r_gemm(px_ictx *c)
{
    px_status st = px_need_inputs(c, 2);
    if (st) return st;
    px_dtype dt = px_in_dtype(c, 0);
    const px_shape *a = px_in_shape(c, 0), *b = px_in_shape(c, 1);
    if (a->rank >= 0 && a->rank != 2) return px_node_fail(c, "A must have rank 2, has %d", a->rank);
    if (b->rank >= 0 && b->rank != 2) return px_node_fail(c, "B must have rank 2, has %d", b->rank);
    if (a->rank < 0 || b->rank < 0) return px_set_out(c, 0, dt, -1, NULL);
    int ta = px_attr_int(c->n, "transA", 0) != 0, tb = px_attr_int(c->n, "transB", 0) != 0;
    px_dim m = a->dims[ta ? 1 : 0], ka = a->dims[ta ? 0 : 1];
    px_dim kb = b->dims[tb ? 1 : 0], nn = b->dims[tb ? 0 : 1];
    if (ka.v >= 0 && kb.v >= 0 && ka.v != kb.v)
        return px_node_fail(c, "inner dimensions differ: %lld vs %lld", (long long)ka.v, (long long)kb.v);
    px_dim out[2] = {m, nn};
    const px_shape *cs = px_in_shape(c, 2);
    if (px_has_in(c, 2) && cs->rank >= 0) {
        /* C broadcasts to (M, N) unidirectionally */
        if (cs->rank > 2) return px_node_fail(c, "C has rank %d", cs->rank);
        for (int i = 0; i < cs->rank; i++) {
            px_dim d = cs->dims[i], o = out[2 - cs->rank + i];
            if (d.v >= 0 && o.v >= 0 && d.v != 1 && d.v != o.v)
                return px_node_fail(c, "C dim %lld does not broadcast to %lld", (long long)d.v, (long long)o.v);
        }
    }
    return px_set_out(c, 0, dt, 2, out);
}

/* --- Einsum ------------------------------------------------------------------ */

static int is_label(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }

/* Follows onnx: a label takes the dim of its first occurrence (other known
 * occurrences must agree or be 1); an ellipsis covers the same number of
 * dims in every operand. */
static px_status r_einsum(px_ictx *c)
{
    px_dtype dt = px_in_dtype(c, 0);
    const char *eq = px_attr_string(c->n, "equation", NULL);
    if (!eq) return px_node_fail(c, "attribute equation is missing");
    char buf[1024];
    size_t len = 0;
    for (const char *p = eq; *p; p++) {
        if (*p == ' ') continue;
        if (len + 1 >= sizeof buf) return px_node_fail(c, "equation is too long");
        buf[len++] = *p;
    }
    buf[len] = 0;
    int nin = c->n->n_inputs;
    px_status st = px_need_inputs(c, nin);
    if (st) return st;
    for (int i = 0; i < nin; i++)
        if (px_in_rank(c, i) < 0) return px_set_out(c, 0, dt, -1, NULL);
    char *arrow = strstr(buf, "->");
    if (arrow) *arrow = 0;
    px_dim label_dim[128] = {{0, NULL}};
    int label_seen[128] = {0}, label_count[128] = {0};
    px_dim ell[PX_MAX_RANK];
    int n_ell = -1, operand = 0;
    char *term = buf;
    for (;;) {
        char *comma = strchr(term, ',');
        if (comma) *comma = 0;
        if (operand >= nin) return px_node_fail(c, "equation has more operands than the node has inputs");
        const px_shape *s = px_in_shape(c, operand);
        char *dots = strstr(term, "...");
        int letters = 0;
        for (char *p = term; *p; p++) {
            if (is_label(*p)) letters++;
            else if (*p != '.') return px_node_fail(c, "equation has an invalid character '%c'", *p);
        }
        int ne = 0;
        if (dots) {
            if (s->rank < letters) return px_node_fail(c, "operand %d has rank %d, fewer than its %d labels", operand, s->rank, letters);
            ne = s->rank - letters;
            if (n_ell >= 0 && ne != n_ell)
                return px_node_fail(c, "ellipsis covers %d dims in operand %d but %d before", ne, operand, n_ell);
        } else if (s->rank != letters) {
            return px_node_fail(c, "operand %d has rank %d but %d labels", operand, s->rank, letters);
        }
        int d = 0;
        for (char *p = term; *p;) {
            if (p == dots) {
                for (int i = 0; i < ne; i++) {
                    px_dim x = s->dims[d + i];
                    if (n_ell < 0) ell[i] = x;
                    else if (x.v > ell[i].v && ell[i].v == 1) ell[i] = x;
                }
                if (n_ell < 0) n_ell = ne;
                d += ne;
                p += 3;
                continue;
            }
            if (*p == '.') return px_node_fail(c, "equation has a stray '.'");
            unsigned char l = (unsigned char)*p;
            px_dim x = s->dims[d++];
            if (!label_seen[l]) {
                label_seen[l] = 1;
                label_dim[l] = x;
            } else {
                px_dim f = label_dim[l];
                if (f.v >= 0 && x.v >= 0 && f.v != x.v && f.v != 1 && x.v != 1)
                    return px_node_fail(c, "label '%c' is %lld in one operand and %lld in another", l, (long long)f.v,
                                        (long long)x.v);
            }
            label_count[l]++;
            p++;
        }
        operand++;
        if (!comma) break;
        term = comma + 1;
    }
    if (operand != nin) return px_node_fail(c, "equation has %d operands but the node has %d inputs", operand, nin);
    px_dim out[PX_MAX_RANK];
    int r = 0;
    if (arrow) {
        const char *rhs = arrow + 2;
        const char *rdots = strstr(rhs, "...");
        for (const char *p = rhs; *p;) {
            if (p == rdots) {
                for (int i = 0; i < n_ell && r < PX_MAX_RANK; i++) out[r++] = ell[i];
                p += 3;
                continue;
            }
            unsigned char l = (unsigned char)*p++;
            if (!is_label((char)l)) continue;
            if (!label_seen[l]) return px_node_fail(c, "output label '%c' is not in the inputs", l);
            if (r >= PX_MAX_RANK) return px_check_rank(c, r + 1);
            out[r++] = label_dim[l];
        }
    } else {
        for (int i = 0; i < n_ell; i++) out[r++] = ell[i];
        for (int l = 0; l < 128; l++)
            if (label_seen[l] && label_count[l] == 1) {
                if (r >= PX_MAX_RANK) return px_check_rank(c, r + 1);
                out[r++] = label_dim[l];
            }
    }
    return px_set_out(c, 0, dt, r, out);
}

const px_rule px_rules_reduce[] = {
    {"", "ReduceMean", 1, 0, r_reduce}, {"", "ReduceSum", 1, 0, r_reduce},
    {"", "ReduceMax", 1, 0, r_reduce}, {"", "ReduceMin", 1, 0, r_reduce},
    {"", "ReduceProd", 1, 0, r_reduce}, {"", "ReduceL1", 1, 0, r_reduce},
    {"", "ReduceL2", 1, 0, r_reduce}, {"", "ReduceLogSum", 1, 0, r_reduce},
    {"", "ReduceLogSumExp", 1, 0, r_reduce}, {"", "ReduceSumSquare", 1, 0, r_reduce},
    {"", "ArgMax", 1, 0, r_argreduce}, {"", "ArgMin", 1, 0, r_argreduce},
    {"", "MatMul", 1, 0, r_matmul}, {"", "MatMulInteger", 10, 0, r_matmul},
    {"", "QLinearMatMul", 10, 0, r_qlinear_matmul}, {"", "Gemm", 1, 0, r_gemm},
    {"", "Einsum", 12, 0, r_einsum},
    {NULL, NULL, 0, 0, NULL},
};
