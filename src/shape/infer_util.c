/* Helpers shared by the rule families: input/output access, dim
 * arithmetic, broadcasting, axis checks, errors. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shape/infer_internal.h"

const char px_unk_data_sym[] = "?";
const char px_unk_dim_sym[] = "?";

static const px_shape unknown_shape = {-1, NULL};
static const px_dim no_data[1] = {{0, NULL}};

/* --- dims -------------------------------------------------------------- */

px_dim px_dmul(px_dim a, px_dim b)
{
    if (a.v >= 0 && b.v >= 0) {
        int64_t r;
        if (__builtin_mul_overflow(a.v, b.v, &r)) return px_du();
        return px_dk(r);
    }
    if (a.v == 1) return b;
    if (b.v == 1) return a;
    return px_du();
}

px_dim px_dadd(px_dim a, px_dim b)
{
    if (a.v >= 0 && b.v >= 0) {
        int64_t r;
        if (__builtin_add_overflow(a.v, b.v, &r)) return px_du();
        return px_dk(r);
    }
    if (a.v == 0) return b;
    if (b.v == 0) return a;
    return px_du();
}

px_status px_dmul_chk(const px_ictx *c, px_dim a, px_dim b, const char *what, px_dim *out)
{
    int64_t r;
    if (a.v >= 0 && b.v >= 0 && __builtin_mul_overflow(a.v, b.v, &r))
        return px_node_fail(c, "%s %lld x %lld overflows int64", what, (long long)a.v, (long long)b.v);
    *out = px_dmul(a, b);
    return PX_OK;
}

px_status px_dadd_chk(const px_ictx *c, px_dim a, px_dim b, const char *what, px_dim *out)
{
    int64_t r;
    if (a.v >= 0 && b.v >= 0 && __builtin_add_overflow(a.v, b.v, &r))
        return px_node_fail(c, "%s %lld + %lld overflows int64", what, (long long)a.v, (long long)b.v);
    *out = px_dadd(a, b);
    return PX_OK;
}

px_dim px_data_to_dim(px_dim e)
{
    if (e.sym) return px_sym_is_marker(e.sym) ? px_du() : e;
    return e.v >= 0 ? e : px_du();
}

px_dim px_dim_to_data(px_dim d)
{
    if (d.v >= 0) return px_dk(d.v);
    if (d.sym) return d;
    px_dim u = {-1, px_unk_dim_sym};
    return u;
}

/* --- inputs ------------------------------------------------------------ */

px_value *px_in(const px_ictx *c, int i)
{
    if (i < 0 || i >= c->n->n_inputs) return NULL;
    int v = c->n->inputs[i];
    return v >= 0 ? &c->g->values[v] : NULL;
}

px_dtype px_in_dtype(const px_ictx *c, int i)
{
    const px_value *v = px_in(c, i);
    return v ? v->dtype : PX_DT_UNDEFINED;
}

const px_shape *px_in_shape(const px_ictx *c, int i)
{
    const px_value *v = px_in(c, i);
    return v ? &v->shape : &unknown_shape;
}

px_status px_need_inputs(px_ictx *c, int n)
{
    for (int i = 0; i < n; i++)
        if (!px_in(c, i)) return px_node_fail(c, "required input %d is missing", i);
    return PX_OK;
}

const px_dim *px_in_data(const px_ictx *c, int i, int *n)
{
    const px_value *v = px_in(c, i);
    if (!v || v->n_data < 0 || (v->n_data > 0 && !v->data)) {
        *n = 0;
        return NULL;
    }
    *n = v->n_data;
    return v->data ? v->data : no_data;
}

int px_in_ints(const px_ictx *c, int i, int64_t *buf, int cap, int *n)
{
    int k;
    const px_dim *d = px_in_data(c, i, &k);
    *n = 0;
    if (!d || k > cap) return 0;
    for (int j = 0; j < k; j++) {
        if (!px_elit(d[j])) return 0;
        buf[j] = d[j].v;
    }
    *n = k;
    return 1;
}

const px_tensor *px_in_tensor(const px_ictx *c, int i)
{
    const px_value *v = px_in(c, i);
    if (!v) return NULL;
    if (v->init) return v->init->data ? v->init : NULL;
    if (v->producer < 0 || v->producer >= c->g->n_nodes) return NULL;
    const px_node *p = &c->g->nodes[v->producer];
    if (strcmp(p->op_type, "Constant") || p->domain[0]) return NULL;
    const px_attr *a = px_node_attr(p, "value");
    return a && a->t && a->t->data ? a->t : NULL;
}

int px_in_doubles(const px_ictx *c, int i, double *buf, int cap, int *n)
{
    *n = 0;
    const px_tensor *t = px_in_tensor(c, i);
    if (t) {
        if (t->numel < 0 || t->numel > cap || t->dtype == PX_DT_STRING) return 0;
        if (px_dtype_nbytes(t->dtype, t->numel) > t->nbytes) return 0;
        for (int64_t k = 0; k < t->numel; k++) buf[k] = px_tensor_get_double(t, k);
        *n = (int)t->numel;
        return 1;
    }
    const px_value *v = px_in(c, i);
    if (v && v->producer >= 0 && v->producer < c->g->n_nodes) {
        const px_node *p = &c->g->nodes[v->producer];
        if (!strcmp(p->op_type, "Constant") && !p->domain[0]) {
            const px_attr *a = px_node_attr(p, "value_floats");
            if (!a) a = px_node_attr(p, "value_float");
            if (a && a->type == PX_ATTR_FLOATS && a->n <= cap) {
                for (int k = 0; k < a->n; k++) buf[k] = a->floats[k];
                *n = a->n;
                return 1;
            }
            if (a && a->type == PX_ATTR_FLOAT && cap >= 1) {
                buf[0] = a->f;
                *n = 1;
                return 1;
            }
        }
    }
    int k;
    const px_dim *d = px_in_data(c, i, &k);
    if (!d || k > cap) return 0;
    for (int j = 0; j < k; j++) {
        if (!px_elit(d[j])) return 0;
        buf[j] = (double)d[j].v;
    }
    *n = k;
    return 1;
}

/* --- outputs ----------------------------------------------------------- */

px_value *px_out(const px_ictx *c, int o)
{
    if (o < 0 || o >= c->n->n_outputs) return NULL;
    int v = c->n->outputs[o];
    return v >= 0 ? &c->g->values[v] : NULL;
}

px_status px_set_out(px_ictx *c, int o, px_dtype dt, int rank, const px_dim *dims)
{
    px_value *v = px_out(c, o);
    if (!v) return PX_OK;
    v->dtype = dt;
    v->n_data = -1;
    v->data = NULL;
    if (rank > PX_MAX_RANK) return px_check_rank(c, rank);
    /* A tensor whose known dims multiply past int64 cannot exist (dims may
     * each be up to INT64_MAX, their product may not); an unknown dim
     * could be 0, so only fully known shapes are held to this. */
    int64_t numel = 1;
    int known = 1, zero = 0, ovf = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[i].v < 0) known = 0;
        else if (dims[i].v == 0) zero = 1;
        else if (!ovf && __builtin_mul_overflow(numel, dims[i].v, &numel)) ovf = 1;
    }
    if (known && !zero && ovf) {
        char buf[200];
        size_t len = 0;
        for (int i = 0; i < rank && len < sizeof buf - 24; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%lld", i ? "x" : "", (long long)dims[i].v);
        return px_node_fail(c, "output '%s' would have dims %s, more than INT64_MAX elements", v->name, buf);
    }
    return px_shape_set(c->g, &v->shape, rank, dims);
}

px_status px_set_out_shape(px_ictx *c, int o, px_dtype dt, const px_shape *s)
{
    return px_set_out(c, o, dt, s->rank, s->dims);
}

px_status px_set_out_data(px_ictx *c, int o, int n, const px_dim *d)
{
    px_value *v = px_out(c, o);
    if (!v || n < 0 || n > PX_DATA_MAX) return PX_OK;
    /* Only small integer tensors carry data (graph.h). */
    if (v->dtype != PX_DT_UNDEFINED && !px_dtype_is_index(v->dtype)) return PX_OK;
    px_dim *p = px_arena_array(&c->g->arena, (size_t)(n ? n : 1), sizeof *p);
    if (!p) return px_nomem();
    if (n) memcpy(p, d, (size_t)n * sizeof *p);
    v->data = p;
    v->n_data = n;
    return PX_OK;
}

/* --- checks and errors ------------------------------------------------- */

px_status px_node_fail(const px_ictx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return px_fail(PX_ERR_SHAPE, "node '%s' (%s): %s", c->n->name, c->n->op_type, msg);
}

px_status px_axis(const px_ictx *c, int64_t axis, int rank, int inclusive_end, const char *what, int *out)
{
    int64_t hi = inclusive_end ? (int64_t)rank + 1 : rank;
    if (axis < -(int64_t)rank || axis >= hi)
        return px_node_fail(c, "%s %lld is out of range for rank %d", what, (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return PX_OK;
}

px_status px_check_rank(const px_ictx *c, int64_t rank)
{
    if (rank > PX_MAX_RANK)
        return px_fail(PX_ERR_LIMIT, "node '%s' (%s): output rank %lld exceeds the limit of %d", c->n->name,
                       c->n->op_type, (long long)rank, PX_MAX_RANK);
    return PX_OK;
}

/* --- shape building blocks --------------------------------------------- */

px_status px_broadcast(const px_ictx *c, const px_shape *const *shapes, int n, px_dim *out, int *rank)
{
    int r = 0;
    for (int k = 0; k < n; k++) {
        if (shapes[k]->rank < 0) {
            *rank = -1;
            return PX_OK;
        }
        if (shapes[k]->rank > r) r = shapes[k]->rank;
    }
    for (int i = 0; i < r; i++) {
        int64_t val = 1;
        px_dim sym = px_du();
        int nsym = 0;
        for (int k = 0; k < n; k++) {
            int off = r - shapes[k]->rank;
            if (i < off) continue;
            px_dim d = shapes[k]->dims[i - off];
            if (d.v >= 0) {
                if (d.v != 1) {
                    if (val != 1 && val != d.v)
                        return px_node_fail(c, "cannot broadcast dimension %lld with %lld (input %d)",
                                            (long long)val, (long long)d.v, k);
                    val = d.v;
                }
            } else if (nsym == 0) {
                sym = d;
                nsym = 1;
            } else if (!(d.sym && sym.sym && strcmp(d.sym, sym.sym) == 0)) {
                nsym++;
            }
        }
        if (val != 1 || nsym == 0) out[i] = px_dk(val);
        else if (nsym == 1) out[i] = sym;
        else out[i] = px_du();
    }
    *rank = r;
    return PX_OK;
}

int px_merge_dim(px_dim *dst, px_dim src)
{
    if (src.v >= 0) {
        if (dst->v >= 0 && dst->v != src.v) return 0;
        *dst = src;
    } else if (dst->v < 0 && !dst->sym && src.sym) {
        *dst = src;
    }
    return 1;
}

px_status px_attr_ints_cap(const px_ictx *c, const char *name, int64_t *buf, int cap, int *n)
{
    int k;
    const int64_t *p = px_attr_ints(c->n, name, &k);
    if (!p) {
        const px_attr *a = px_node_attr(c->n, name);
        *n = -1;
        if (a && a->type == PX_ATTR_INTS) *n = 0;  /* present, empty */
        return PX_OK;
    }
    if (k > cap) return px_node_fail(c, "attribute '%s' has %d entries (at most %d expected)", name, k, cap);
    memcpy(buf, p, (size_t)k * sizeof *buf);
    *n = k;
    return PX_OK;
}

int px_dtype_is_index(px_dtype dt)
{
    return px_dtype_is_int(dt) || dt == PX_DT_BOOL;
}

int px_sym_is_dim(const px_ictx *c, const char *sym)
{
    return sym && !px_sym_is_marker(sym) && px_strmap_get(&c->st->taken, sym) == 1;
}
