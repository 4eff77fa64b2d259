/* ONNX file -> graph IR.
 *
 * The file is mapped, split with the wire walker into (a) the model fields
 * we model, (b) the graph fields we model, (c) each initializer, and (d)
 * everything else (kept verbatim in g->extra).  Initializers are unpacked
 * one at a time and their pages released from the mapping as soon as the
 * payload is copied, so peak memory stays near one copy of the weights. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "onnx/onnx_io.h"
#include "ir/body.h"
#include "onnx/onnx_inline.h"
#include "onnx/wire.h"
#include "util/fileio.h"

/* --- load limits ---------------------------------------------------------- */

static px_load_limits g_limits = {PX_DEFAULT_MAX_NODES, PX_DEFAULT_MAX_TENSOR_BYTES, PX_DEFAULT_MAX_TOTAL_BYTES};

/* A tensor's payload.  A large one is placed on 2 MiB boundaries and asked
 * for huge pages: obfuscate reads model weights at random (track.c), where
 * 4 KiB pages cost a TLB miss on almost every read.  free() releases it. */
static void *tensor_alloc(size_t need)
{
    enum { HUGE = 2u << 20 };
    if (need < 2 * (size_t)HUGE) return malloc(need ? need : 1);
    void *p = NULL;
    if (posix_memalign(&p, HUGE, need)) return NULL;
    madvise(p, need, MADV_HUGEPAGE); /* advice: without it the pages are small, nothing else changes */
    return p;
}

px_load_limits px_load_limits_default(void)
{
    px_load_limits l = {PX_DEFAULT_MAX_NODES, PX_DEFAULT_MAX_TENSOR_BYTES, PX_DEFAULT_MAX_TOTAL_BYTES};
    return l;
}

void px_set_load_limits(const px_load_limits *l)
{
    px_load_limits d = px_load_limits_default();
    g_limits.max_nodes = l && l->max_nodes > 0 ? l->max_nodes : d.max_nodes;
    if (g_limits.max_nodes > PX_MAX_NODES) g_limits.max_nodes = PX_MAX_NODES;
    g_limits.max_tensor_bytes = l && l->max_tensor_bytes > 0 ? l->max_tensor_bytes : d.max_tensor_bytes;
    g_limits.max_total_bytes = l && l->max_total_bytes > 0 ? l->max_total_bytes : d.max_total_bytes;
}

px_load_limits px_get_load_limits(void) { return g_limits; }

typedef struct growbuf {
    uint8_t *p;
    size_t len, cap;
} growbuf;

static int gb_put(growbuf *b, const void *data, size_t n)
{
    if (b->len + n < b->len) return -1;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 4096;
        while (ncap < b->len + n) ncap *= 2;
        uint8_t *np = realloc(b->p, ncap);
        if (!np) return -1;
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

typedef struct slice {
    const uint8_t *p;
    size_t len;
} slice;

typedef struct loader {
    px_graph *g;
    const char *what;
    const char *base_dir;
    int mapped;             /* buffer is an mmap we may release pages of */
    growbuf model_known, graph_known, extra_model, extra_graph;
    slice *inits;
    size_t n_inits, cap_inits;
    int saw_graph;
    px_load_limits lim;     /* the process-wide limits when the load began */
    int64_t n_nodes_seen;   /* node fields met by the wire walk */
    int64_t total_bytes;    /* declared payload bytes of the tensors so far */
    int inline_functions;   /* expand calls of model-local functions */
} loader;

static px_status parse_error(loader *L, const char *detail)
{
    return px_fail(PX_ERR_PARSE, "%s: not an ONNX model (%s)", L->what, detail);
}

static px_status walk_graph(loader *L, const uint8_t *p, size_t len)
{
    px_wire w = {p, p + len};
    px_wire_field f;
    int r;
    while ((r = px_wire_next(&w, &f)) == 1) {
        if (f.number == 5 && f.wire_type == 2) {
            if (L->n_inits == L->cap_inits) {
                size_t nc = L->cap_inits ? L->cap_inits * 2 : 256;
                slice *ns = realloc(L->inits, nc * sizeof *ns);
                if (!ns) return px_nomem();
                L->inits = ns;
                L->cap_inits = nc;
            }
            L->inits[L->n_inits++] = (slice){f.value, f.value_len};
        } else if (f.number == 1 && f.wire_type == 2) {
            /* Counted before protobuf-c unpacks (and allocates) any node;
             * past the limit they are only counted, for the message. */
            if (++L->n_nodes_seen <= L->lim.max_nodes && gb_put(&L->graph_known, f.start, f.total_len))
                return px_nomem();
        } else if (f.number == 1 || f.number == 2 || f.number == 10 || f.number == 11 ||
                   f.number == 12 || f.number == 13) {
            if (gb_put(&L->graph_known, f.start, f.total_len)) return px_nomem();
        } else if (gb_put(&L->extra_graph, f.start, f.total_len)) {
            return px_nomem();
        }
    }
    if (r < 0) return parse_error(L, "truncated or malformed graph");
    return PX_OK;
}

static px_status walk_model(loader *L, const uint8_t *p, size_t len)
{
    px_wire w = {p, p + len};
    px_wire_field f;
    int r;
    while ((r = px_wire_next(&w, &f)) == 1) {
        if (f.number == 7) {
            if (f.wire_type != 2) return parse_error(L, "graph field has the wrong wire type");
            L->saw_graph = 1;
            px_status st = walk_graph(L, f.value, f.value_len);
            if (st) return st;
        } else if (f.number == 1 || f.number == 2 || f.number == 3 || f.number == 4 ||
                   f.number == 5 || f.number == 6 || f.number == 8 || f.number == 14) {
            if (gb_put(&L->model_known, f.start, f.total_len)) return px_nomem();
        } else {
            if (f.number == 25) L->g->n_functions++;
            if (gb_put(&L->extra_model, f.start, f.total_len)) return px_nomem();
        }
    }
    if (r < 0) return parse_error(L, "truncated or malformed protobuf");
    return PX_OK;
}

/* --- external data ------------------------------------------------------ */

static px_status resolve_external(loader *L, const char *tname, const char *loc, char **out)
{
    *out = NULL;
    if (!L->base_dir)
        return px_fail(PX_ERR_SECURITY, "%s: tensor '%s' uses external data, which is not allowed here",
                       L->what, tname);
    if (!loc || !*loc || loc[0] == '/')
        return px_fail(PX_ERR_SECURITY, "%s: tensor '%s': external data location '%s' is not a relative path",
                       L->what, tname, loc ? loc : "");
    /* Reject any ".." component outright, then check the resolved path
     * (symlinks followed) stays inside the model's directory. */
    const char *s = loc;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return px_fail(PX_ERR_SECURITY, "%s: tensor '%s': external data location '%s' leaves the model's directory",
                           L->what, tname, loc);
        s += n;
        if (*s == '/') s++;
    }
    char *joined = px_path_join(L->base_dir, loc);
    if (!joined) return px_nomem();
    char dir_real[PATH_MAX], file_real[PATH_MAX];
    if (!realpath(L->base_dir, dir_real)) {
        px_status st = px_fail(PX_ERR_IO, "%s: cannot resolve the model directory: %s", L->what, strerror(errno));
        free(joined);
        return st;
    }
    if (!realpath(joined, file_real)) {
        px_status st = px_fail(PX_ERR_IO, "%s: tensor '%s': external data file '%s': %s", L->what, tname,
                               loc, strerror(errno));
        free(joined);
        return st;
    }
    size_t dl = strlen(dir_real);
    if (strncmp(file_real, dir_real, dl) != 0 || (file_real[dl] != '/' && dl != 1)) {
        free(joined);
        return px_fail(PX_ERR_SECURITY, "%s: tensor '%s': external data location '%s' resolves outside the model's directory",
                       L->what, tname, loc);
    }
    *out = joined;
    return PX_OK;
}

static px_status read_external(loader *L, const Onnx__TensorProto *tp, px_tensor *t)
{
    const char *loc = NULL, *name = tp->name ? tp->name : "";
    long long offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key || !e->value) continue;
        char *end;
        if (strcmp(e->key, "location") == 0) loc = e->value;
        else if (strcmp(e->key, "offset") == 0) {
            errno = 0;
            offset = strtoll(e->value, &end, 10);
            if (errno || *end || offset < 0)
                return px_fail(PX_ERR_INVALID, "%s: tensor '%s': bad external data offset '%s'", L->what, name, e->value);
        } else if (strcmp(e->key, "length") == 0) {
            errno = 0;
            length = strtoll(e->value, &end, 10);
            if (errno || *end || length < 0)
                return px_fail(PX_ERR_INVALID, "%s: tensor '%s': bad external data length '%s'", L->what, name, e->value);
        }
    }
    char *path;
    px_status st = resolve_external(L, name, loc, &path);
    if (st) return st;
    size_t need = px_dtype_nbytes(t->dtype, t->numel);
    /* never blocks: a FIFO or a device named as external data is refused
     * before anything is read from it */
    int fd = -1;
    long long fsize = 0;
    if ((st = px_open_regular(path, &fd, &fsize))) {
        st = px_fail_prefix(st, "%s: tensor '%s': external data '%s'", L->what, name, loc);
        goto out;
    }
    if (length < 0) length = fsize - offset;
    if (need == (size_t)-1 || (long long)need != length || offset > fsize || length > fsize - offset) {
        st = px_fail(PX_ERR_INVALID, "%s: tensor '%s': external data '%s' holds %lld bytes at offset %lld, expected %zu",
                     L->what, name, loc, length, offset, need);
        goto out;
    }
    t->data = tensor_alloc(need);
    if (!t->data) {
        st = px_nomem();
        goto out;
    }
    t->nbytes = need;
    size_t got = 0;
    while (got < need) {
        ssize_t r = pread(fd, (char *)t->data + got, need - got, (off_t)(offset + (long long)got));
        if (r <= 0) {
            st = px_fail(PX_ERR_IO, "%s: tensor '%s': short read from '%s'", L->what, name, loc);
            goto out;
        }
        got += (size_t)r;
    }
out:
    if (fd >= 0) close(fd);
    free(path);
    return st;
}

/* --- tensors ------------------------------------------------------------ */

static void put_le(uint8_t *dst, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) dst[i] = (uint8_t)(v >> (8 * i));
}

/* "1x3x224x224" ("scalar" for rank 0), shortened with "..." to fit. */
static void format_dims(char *buf, size_t cap, const int64_t *dims, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    if (n == 0) {
        snprintf(buf, cap, "scalar");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char one[24];
        int k = snprintf(one, sizeof one, "%s%" PRId64, i ? "x" : "", dims[i]);
        if (k < 0 || len + (size_t)k + 4 >= cap) {
            snprintf(buf + len, cap - len, "...");
            return;
        }
        memcpy(buf + len, one, (size_t)k + 1);
        len += (size_t)k;
    }
}

/* Payload bytes of numel elements of dt (4-bit types round up); -1 when
 * that passes INT64_MAX. */
static int64_t payload_bytes(px_dtype dt, int64_t numel)
{
    int bits = px_dtype_bits(dt);
    int64_t bytes;
    if (numel < 0) return -1;
    if (bits < 8) return numel / 2 + numel % 2; /* 4-bit types */
    return __builtin_mul_overflow(numel, (int64_t)(bits / 8), &bytes) ? -1 : bytes;
}

/* Adds a tensor's bytes to the model's total, held to max_total_bytes. */
static px_status count_bytes(loader *L, const char *name, int64_t bytes)
{
    if (__builtin_add_overflow(L->total_bytes, bytes, &L->total_bytes)) L->total_bytes = INT64_MAX;
    if (L->total_bytes > L->lim.max_total_bytes)
        return px_fail(PX_ERR_LIMIT,
                       "%s: tensors hold at least %" PRId64 " bytes in all (counting up to tensor '%s'), "
                       "more than the limit of %" PRId64 " (--max-total-bytes)",
                       L->what, L->total_bytes, name, L->lim.max_total_bytes);
    return PX_OK;
}

/* Converts a TensorProto; steals raw_data when steal is set. */
static px_status tensor_from_proto(loader *L, Onnx__TensorProto *tp, int steal, px_tensor **out)
{
    *out = NULL;
    const char *name = tp->name ? tp->name : "";
    if (!tp->has_data_type || !px_dtype_valid(tp->data_type))
        return px_fail(PX_ERR_INVALID, "%s: tensor '%s' has unknown element type %d", L->what, name,
                       tp->has_data_type ? (int)tp->data_type : 0);
    if (tp->n_dims > PX_MAX_RANK)
        return px_fail(PX_ERR_LIMIT, "%s: tensor '%s' has rank %zu (limit %d)", L->what, name, tp->n_dims, PX_MAX_RANK);
    for (size_t i = 0; i < tp->n_dims; i++)
        if (tp->dims[i] < 0)
            return px_fail(PX_ERR_INVALID, "%s: tensor '%s' has a negative dimension", L->what, name);
    if (tp->segment) return px_fail(PX_ERR_UNSUPPORTED, "%s: tensor '%s' is segmented", L->what, name);
    px_tensor *t = px_tensor_new((px_dtype)tp->data_type, (int)tp->n_dims, tp->dims);
    if (!t) return px_nomem();
    px_status st = PX_OK;
    char dims[160];
    if (t->numel < 0) {
        format_dims(dims, sizeof dims, tp->dims, tp->n_dims);
        st = px_fail(PX_ERR_INVALID, "%s: tensor '%s' has dims %s, whose element count overflows int64", L->what,
                     name, dims);
        goto fail;
    }
    /* Declared payload (for strings: the bytes of the strings present). */
    int64_t payload = 0;
    if (t->dtype == PX_DT_STRING) {
        for (size_t i = 0; i < tp->n_string_data; i++)
            if (__builtin_add_overflow(payload, (int64_t)tp->string_data[i].len, &payload)) payload = INT64_MAX;
    } else {
        payload = payload_bytes(t->dtype, t->numel);
    }
    if (payload < 0 || payload > L->lim.max_tensor_bytes) {
        char nb[32];
        format_dims(dims, sizeof dims, tp->dims, tp->n_dims);
        if (payload < 0) snprintf(nb, sizeof nb, "more than %" PRId64, INT64_MAX);
        else snprintf(nb, sizeof nb, "%" PRId64, payload);
        st = px_fail(PX_ERR_LIMIT, "%s: tensor '%s' (%s of %s) has %s bytes, more than the limit of %" PRId64
                     " (--max-tensor-bytes)", L->what, name, dims, px_dtype_name(t->dtype), nb,
                     L->lim.max_tensor_bytes);
        goto fail;
    }
    if ((st = count_bytes(L, name, payload))) goto fail;
    size_t need = t->dtype == PX_DT_STRING ? 0 : px_dtype_nbytes(t->dtype, t->numel);
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (t->dtype == PX_DT_STRING) {
            st = px_fail(PX_ERR_INVALID, "%s: string tensor '%s' cannot use external data", L->what, name);
            goto fail;
        }
        if ((st = read_external(L, tp, t))) goto fail;
        *out = t;
        return PX_OK;
    }
    if (t->dtype == PX_DT_STRING) {
        if (tp->n_string_data == 0 && t->numel > 0) {
            *out = t; /* weightless */
            return PX_OK;
        }
        if ((int64_t)tp->n_string_data != t->numel) {
            st = px_fail(PX_ERR_INVALID, "%s: tensor '%s' holds %zu strings for %lld elements", L->what, name,
                         tp->n_string_data, (long long)t->numel);
            goto fail;
        }
        if ((st = px_tensor_alloc_data(t))) goto fail;
        for (int64_t i = 0; i < t->numel; i++) {
            size_t n = tp->string_data[i].len;
            t->strings[i] = malloc(n + 1);
            if (!t->strings[i]) {
                st = px_nomem();
                goto fail;
            }
            if (n) memcpy(t->strings[i], tp->string_data[i].data, n);
            t->strings[i][n] = '\0';
            t->string_lens[i] = n;
        }
        *out = t;
        return PX_OK;
    }
    if (tp->has_raw_data) {
        if (tp->raw_data.len != need) {
            st = px_fail(PX_ERR_INVALID, "%s: tensor '%s' holds %zu bytes for %lld elements of %s", L->what, name,
                         tp->raw_data.len, (long long)t->numel, px_dtype_name(t->dtype));
            goto fail;
        }
        if (steal && tp->raw_data.data) {
            t->data = tp->raw_data.data;
            tp->raw_data.data = NULL;
            tp->raw_data.len = 0;
        } else {
            t->data = malloc(need ? need : 1);
            if (!t->data) {
                st = px_nomem();
                goto fail;
            }
            if (need) memcpy(t->data, tp->raw_data.data, need);
        }
        t->nbytes = need;
        *out = t;
        return PX_OK;
    }
    /* Typed fields. */
    size_t have = 0, per = 1;
    int bytes = px_dtype_bits(t->dtype) / 8;
    switch (t->dtype) {
    case PX_DT_FLOAT: have = tp->n_float_data; break;
    case PX_DT_COMPLEX64: have = tp->n_float_data; per = 2; break;
    case PX_DT_DOUBLE: have = tp->n_double_data; break;
    case PX_DT_COMPLEX128: have = tp->n_double_data; per = 2; break;
    case PX_DT_INT64: have = tp->n_int64_data; break;
    case PX_DT_UINT32: case PX_DT_UINT64: have = tp->n_uint64_data; break;
    case PX_DT_UINT4: case PX_DT_INT4: case PX_DT_FLOAT4E2M1:
        if (tp->n_int32_data) {
            st = px_fail(PX_ERR_UNSUPPORTED, "%s: tensor '%s': 4-bit data in int32_data", L->what, name);
            goto fail;
        }
        break;
    default: have = tp->n_int32_data; break;
    }
    if (have == 0 && t->numel > 0) {
        *out = t; /* weightless: dims and type only */
        return PX_OK;
    }
    if ((int64_t)(have / per) != t->numel || have % per) {
        st = px_fail(PX_ERR_INVALID, "%s: tensor '%s' holds %zu values for %lld elements", L->what, name, have,
                     (long long)t->numel);
        goto fail;
    }
    if ((st = px_tensor_alloc_data(t))) goto fail;
    uint8_t *d = t->data;
    for (size_t i = 0; i < have; i++) {
        switch (t->dtype) {
        case PX_DT_FLOAT: case PX_DT_COMPLEX64: memcpy(d + 4 * i, &tp->float_data[i], 4); break;
        case PX_DT_DOUBLE: case PX_DT_COMPLEX128: memcpy(d + 8 * i, &tp->double_data[i], 8); break;
        case PX_DT_INT64: put_le(d + 8 * i, (uint64_t)tp->int64_data[i], 8); break;
        case PX_DT_UINT32: case PX_DT_UINT64: put_le(d + (size_t)bytes * i, tp->uint64_data[i], bytes); break;
        default: put_le(d + (size_t)bytes * i, (uint64_t)(uint32_t)tp->int32_data[i], bytes); break;
        }
    }
    *out = t;
    return PX_OK;
fail:
    px_tensor_free(t);
    return st;
}

/* --- types and attributes ----------------------------------------------- */

static px_status set_value_type(loader *L, int vid, const Onnx__TypeProto *tp)
{
    px_graph *g = L->g;
    if (!tp) return PX_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
        size_t n = onnx__type_proto__get_packed_size(tp);
        uint8_t *raw = px_arena_alloc(&g->arena, n ? n : 1);
        if (!raw) return px_nomem();
        onnx__type_proto__pack(tp, raw);
        g->values[vid].type_raw = raw;
        g->values[vid].type_raw_len = n;
        return PX_OK;
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type != 0) {
        if (!px_dtype_valid(tt->elem_type))
            return px_fail(PX_ERR_INVALID, "%s: value '%s' has unknown element type %d", L->what,
                           g->values[vid].name, (int)tt->elem_type);
        g->values[vid].dtype = (px_dtype)tt->elem_type;
    }
    if (tt->shape) {
        if (tt->shape->n_dim > PX_MAX_RANK)
            return px_fail(PX_ERR_LIMIT, "%s: value '%s' has rank %zu (limit %d)", L->what, g->values[vid].name,
                           tt->shape->n_dim, PX_MAX_RANK);
        px_dim dims[PX_MAX_RANK];
        for (size_t i = 0; i < tt->shape->n_dim; i++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
            dims[i].v = -1;
            dims[i].sym = NULL;
            if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
                /* exporters (paddle2onnx) write -1 for a dynamic dim; ONNX
                 * Runtime reads any negative declared dim as unknown */
                if (d->dim_value >= 0) dims[i].v = d->dim_value;
            } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param &&
                       *d->dim_param) {
                if (!(dims[i].sym = px_arena_strdup(&g->arena, d->dim_param))) return px_nomem();
            }
        }
        /* Each dim may be up to INT64_MAX, but a fully known shape whose
         * element count overflows int64 is no tensor. */
        int64_t numel = 1, raw[PX_MAX_RANK];
        int known = 1, zero = 0, ovf = 0;
        for (size_t i = 0; i < tt->shape->n_dim; i++) {
            raw[i] = dims[i].v;
            if (dims[i].v < 0) known = 0;
            else if (dims[i].v == 0) zero = 1;
            else if (!ovf && __builtin_mul_overflow(numel, dims[i].v, &numel)) ovf = 1;
        }
        if (known && !zero && ovf) {
            char buf[160];
            format_dims(buf, sizeof buf, raw, tt->shape->n_dim);
            return px_fail(PX_ERR_INVALID, "%s: value '%s' has dims %s, whose element count overflows int64", L->what,
                           g->values[vid].name, buf);
        }
        return px_shape_set(g, &g->values[vid].shape, (int)tt->shape->n_dim, dims);
    }
    return PX_OK;
}

static px_status attr_from_proto(loader *L, Onnx__AttributeProto *ap, px_attr *a)
{
    px_arena *ar = &L->g->arena;
    memset(a, 0, sizeof *a);
    a->name = px_arena_strdup(ar, ap->name ? ap->name : "");
    if (!a->name) return px_nomem();
    a->type = ap->has_type ? (px_attr_type)ap->type : PX_ATTR_UNDEFINED;
    if (ap->n_floats > INT_MAX || ap->n_ints > INT_MAX || ap->n_strings > INT_MAX)
        return px_fail(PX_ERR_LIMIT, "%s: attribute '%s' has more than %d entries", L->what, a->name, INT_MAX);
    int modelled = ap->has_type && !(ap->ref_attr_name && *ap->ref_attr_name) &&
                   !(ap->doc_string && *ap->doc_string);
    switch (a->type) {
    case PX_ATTR_FLOAT: a->f = ap->f; break;
    case PX_ATTR_INT: a->i = ap->i; break;
    case PX_ATTR_STRING:
        a->s_len = ap->s.len;
        if (!(a->s = px_arena_strndup(ar, (const char *)ap->s.data, ap->s.len))) return px_nomem();
        break;
    case PX_ATTR_FLOATS:
        a->n = (int)ap->n_floats;
        if (ap->n_floats && !(a->floats = px_arena_memdup(ar, ap->floats, ap->n_floats * sizeof(float))))
            return px_nomem();
        break;
    case PX_ATTR_INTS:
        a->n = (int)ap->n_ints;
        if (ap->n_ints && !(a->ints = px_arena_memdup(ar, ap->ints, ap->n_ints * sizeof(int64_t))))
            return px_nomem();
        break;
    case PX_ATTR_STRINGS:
        a->n = (int)ap->n_strings;
        a->strings = px_arena_array(ar, ap->n_strings + 1, sizeof *a->strings);
        a->string_lens = px_arena_array(ar, ap->n_strings + 1, sizeof *a->string_lens);
        if (!a->strings || !a->string_lens) return px_nomem();
        for (size_t i = 0; i < ap->n_strings; i++) {
            a->string_lens[i] = ap->strings[i].len;
            if (!(a->strings[i] = px_arena_strndup(ar, (const char *)ap->strings[i].data, ap->strings[i].len)))
                return px_nomem();
        }
        break;
    case PX_ATTR_TENSOR:
        if (!ap->t) return px_fail(PX_ERR_INVALID, "%s: tensor attribute '%s' has no tensor", L->what, a->name);
        if (modelled) {
            px_status st = tensor_from_proto(L, ap->t, 0, &a->t);
            if (st) return st;
            if (ap->t->name && *ap->t->name && !(a->t->name = strdup(ap->t->name))) return px_nomem();
        }
        break;
    default:
        modelled = 0;
        break;
    }
    if (!modelled) {
        if (a->t) {
            px_tensor_free(a->t);
            a->t = NULL;
        }
        a->raw_len = onnx__attribute_proto__get_packed_size(ap);
        if (!(a->raw = px_arena_alloc(ar, a->raw_len ? a->raw_len : 1))) return px_nomem();
        onnx__attribute_proto__pack(ap, a->raw);
    }
    return PX_OK;
}

static int value_for_name(loader *L, const char *name)
{
    if (!name || !*name) return -1;
    return px_graph_value(L->g, name);
}

/* --- assembling the IR -------------------------------------------------- */

static px_status build_graph(loader *L, Onnx__GraphProto *gp)
{
    px_graph *g = L->g;
    px_status st;
    if ((int64_t)gp->n_node > L->lim.max_nodes) /* walk_graph counted them already; kept as a backstop */
        return px_fail(PX_ERR_LIMIT, "%s: graph has %zu nodes, more than the limit of %" PRId64 " (--max-nodes)",
                       L->what, gp->n_node, L->lim.max_nodes);
    if (gp->name && !(g->graph_name = px_arena_strdup(&g->arena, gp->name))) return px_nomem();
    if (gp->doc_string && !(g->graph_doc_string = px_arena_strdup(&g->arena, gp->doc_string))) return px_nomem();

    for (size_t i = 0; i < gp->n_input; i++) {
        const char *nm = gp->input[i]->name;
        if (!nm || !*nm) return px_fail(PX_ERR_INVALID, "%s: graph input %zu has no name", L->what, i);
        if (px_graph_find(g, nm) >= 0) return px_fail(PX_ERR_INVALID, "%s: duplicate graph input '%s'", L->what, nm);
        int v = px_graph_add_value(g, nm);
        if (v < 0) return px_fail_prefix(PX_ERR_NOMEM, "%s", L->what);
        if ((st = set_value_type(L, v, gp->input[i]->type))) return st;
        if ((st = px_graph_add_input(g, v))) return st;
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        Onnx__NodeProto *np = gp->node[i];
        if (!np->op_type || !*np->op_type)
            return px_fail(PX_ERR_INVALID, "%s: node %zu ('%s') has no op_type", L->what, i, np->name ? np->name : "");
        if (np->n_input > INT_MAX / 2 || np->n_output > INT_MAX / 2 || np->n_attribute > INT_MAX / 2)
            return px_fail(PX_ERR_LIMIT, "%s: node %zu ('%s') has too many inputs, outputs or attributes", L->what, i,
                           np->name ? np->name : "");
        int nid = px_graph_add_node(g, np->op_type, np->domain, np->name);
        if (nid < 0) return px_fail_prefix(PX_ERR_LIMIT, "%s", L->what);
        if (np->doc_string && !(g->nodes[nid].doc_string = px_arena_strdup(&g->arena, np->doc_string)))
            return px_nomem();
        int *ids = malloc((np->n_input + np->n_output + 1) * sizeof *ids);
        if (!ids) return px_nomem();
        for (size_t j = 0; j < np->n_input; j++) {
            ids[j] = value_for_name(L, np->input[j]);
            if (ids[j] < 0 && np->input[j] && *np->input[j]) {
                free(ids);
                return px_nomem();
            }
        }
        st = px_node_set_inputs(g, nid, ids, (int)np->n_input);
        for (size_t j = 0; !st && j < np->n_output; j++) {
            ids[j] = value_for_name(L, np->output[j]);
            if (ids[j] < 0 && np->output[j] && *np->output[j]) st = px_nomem();
        }
        if (!st) st = px_node_set_outputs(g, nid, ids, (int)np->n_output);
        free(ids);
        if (st) return st;
        if (np->n_attribute) {
            px_attr *attrs = px_arena_array(&g->arena, np->n_attribute, sizeof *attrs);
            if (!attrs) return px_nomem();
            g->nodes[nid].attrs = attrs;
            for (size_t j = 0; j < np->n_attribute; j++) {
                if ((st = attr_from_proto(L, np->attribute[j], &attrs[j]))) return st;
                g->nodes[nid].n_attrs = (int)j + 1;
            }
        }
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *nm = gp->output[i]->name;
        if (!nm || !*nm) return px_fail(PX_ERR_INVALID, "%s: graph output %zu has no name", L->what, i);
        int v = px_graph_value(g, nm);
        if (v < 0) return px_nomem();
        if ((st = set_value_type(L, v, gp->output[i]->type))) return st;
        if ((st = px_graph_add_output(g, v))) return st;
    }
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const char *nm = gp->value_info[i]->name;
        if (!nm || !*nm) continue;
        int v = px_graph_value(g, nm);
        if (v < 0) return px_nomem();
        if ((st = set_value_type(L, v, gp->value_info[i]->type))) return st;
        g->values[v].flags |= PX_VAL_DECLARED;
    }
    return PX_OK;
}

/* Copies a payload out of the (mapped) file in chunks, releasing each
 * chunk's pages as soon as it is copied: peak memory stays near one copy. */
static void copy_released(loader *L, uint8_t *dst, const uint8_t *src, size_t n)
{
    const size_t chunk = (size_t)16 << 20;
    long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < n; off += chunk) {
        size_t m = n - off < chunk ? n - off : chunk;
        memcpy(dst + off, src + off, m);
        if (L->mapped) {
            uintptr_t a = ((uintptr_t)(src + off) + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
            uintptr_t b = ((uintptr_t)(src + off + m)) & ~((uintptr_t)page - 1);
            if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
        }
    }
}

static px_status load_inits(loader *L)
{
    px_graph *g = L->g;
    growbuf hdr = {0};
    px_status st = PX_OK;
    for (size_t i = 0; i < L->n_inits && !st; i++) {
        slice s = L->inits[i];
        /* Split off raw_data (field 9) so that protobuf-c never copies it. */
        px_wire w = {s.p, s.p + s.len};
        px_wire_field f;
        const uint8_t *raw = NULL;
        size_t raw_len = 0;
        int r, has_raw = 0;
        hdr.len = 0;
        while ((r = px_wire_next(&w, &f)) == 1) {
            if (f.number == 9 && f.wire_type == 2) {
                raw = f.value;
                raw_len = f.value_len;
                has_raw = 1;
            } else if (gb_put(&hdr, f.start, f.total_len)) {
                r = -2;
                break;
            }
        }
        if (r == -2) {
            st = px_nomem();
            break;
        }
        if (r < 0) {
            st = px_fail(PX_ERR_PARSE, "%s: not an ONNX model (initializer %zu is malformed)", L->what, i);
            break;
        }
        Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, hdr.len, hdr.p ? hdr.p : (const uint8_t *)"");
        if (!tp) {
            st = px_fail(PX_ERR_PARSE, "%s: not an ONNX model (initializer %zu is malformed)", L->what, i);
            break;
        }
        const char *name = tp->name ? tp->name : "";
        px_tensor *t = NULL;
        if (!*name) st = px_fail(PX_ERR_INVALID, "%s: initializer %zu has no name", L->what, i);
        if (!st) st = tensor_from_proto(L, tp, 1, &t);
        if (!st && has_raw) {
            size_t need = px_dtype_nbytes(t->dtype, t->numel);
            /* raw_data takes precedence over the typed fields, as in ONNX
             * Runtime (which itself writes tensors with both, one empty) */
            free(t->data);
            t->data = NULL;
            t->nbytes = 0;
            if (t->dtype == PX_DT_STRING || need != raw_len)
                st = px_fail(PX_ERR_INVALID, "%s: tensor '%s' holds %zu bytes for %lld elements of %s", L->what,
                             name, raw_len, (long long)t->numel, px_dtype_name(t->dtype));
            else if (!(t->data = tensor_alloc(need)))
                st = px_nomem();
            else {
                copy_released(L, t->data, raw, need);
                t->nbytes = need;
            }
        }
        int v = -1;
        if (!st) {
            v = px_graph_value(g, name);
            if (v < 0) st = px_nomem();
        }
        if (!st && g->values[v].init) st = px_fail(PX_ERR_INVALID, "%s: duplicate initializer '%s'", L->what, name);
        if (!st) {
            st = px_graph_add_init(g, v, t);
            t = NULL;
        }
        px_tensor_free(t);
        onnx__tensor_proto__free_unpacked(tp, NULL);
    }
    free(hdr.p);
    return st;
}

static px_status load_model_fields(loader *L)
{
    px_graph *g = L->g;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, L->model_known.len,
                                                     L->model_known.p ? L->model_known.p : (const uint8_t *)"");
    if (!mp) return parse_error(L, "malformed model fields");
    px_status st = PX_OK;
    px_arena *ar = &g->arena;
    g->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    g->model_version = mp->has_model_version ? mp->model_version : 0;
#define DUP(dst, src) do { if ((src) && !((dst) = px_arena_strdup(ar, (src)))) { st = px_nomem(); goto out; } } while (0)
    DUP(g->producer_name, mp->producer_name);
    DUP(g->producer_version, mp->producer_version);
    DUP(g->model_domain, mp->domain);
    DUP(g->doc_string, mp->doc_string);
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if ((st = px_graph_set_opset(g, o->domain ? o->domain : "", o->has_version ? o->version : 0))) goto out;
    }
    if (mp->n_metadata_props) {
        g->meta_keys = px_arena_array(ar, mp->n_metadata_props, sizeof *g->meta_keys);
        g->meta_values = px_arena_array(ar, mp->n_metadata_props, sizeof *g->meta_values);
        if (!g->meta_keys || !g->meta_values) {
            st = px_nomem();
            goto out;
        }
        for (size_t i = 0; i < mp->n_metadata_props; i++) {
            DUP(g->meta_keys[i], mp->metadata_props[i]->key ? mp->metadata_props[i]->key : "");
            DUP(g->meta_values[i], mp->metadata_props[i]->value ? mp->metadata_props[i]->value : "");
            g->n_meta = (int)i + 1;
        }
    }
#undef DUP
out:
    onnx__model_proto__free_unpacked(mp, NULL);
    return st;
}

static px_status load_split(loader *L, const uint8_t *buf, size_t len)
{
    px_graph *g = L->g;
    if (len == 0) return parse_error(L, "empty file");
    px_status st = walk_model(L, buf, len);
    if (st) return st;
    if (L->n_nodes_seen > L->lim.max_nodes)
        return px_fail(PX_ERR_LIMIT, "%s: graph has %" PRId64 " nodes, more than the limit of %" PRId64 " (--max-nodes)",
                       L->what, L->n_nodes_seen, L->lim.max_nodes);
    if (!L->saw_graph) return parse_error(L, "no graph");
    if ((st = load_model_fields(L))) return st;
    if (g->ir_version <= 0) return parse_error(L, "no ir_version");
    Onnx__GraphProto *gp = onnx__graph_proto__unpack(NULL, L->graph_known.len,
                                                     L->graph_known.p ? L->graph_known.p : (const uint8_t *)"");
    if (!gp) return parse_error(L, "malformed graph");
    if (L->inline_functions && g->n_functions) {
        /* calls of local functions become the functions' nodes; the
         * definitions are dropped from what is kept verbatim */
        px_arena ar;
        px_arena_init(&ar);
        Onnx__NodeProto **nodes, **orig = gp->node;
        size_t n, orig_n = gp->n_node;
        int n_inlined;
        st = px_onnx_inline_calls(gp, L->extra_model.p, L->extra_model.len, g, &ar, L->what, &nodes, &n, &n_inlined);
        if (!st && nodes) {
            gp->node = nodes;
            gp->n_node = n;
        }
        if (!st) st = build_graph(L, gp);
        gp->node = orig;
        gp->n_node = orig_n;
        px_arena_free(&ar);
        if (!st) {
            L->extra_model.len = px_wire_drop_field(L->extra_model.p, L->extra_model.len, 25);
            g->n_functions = 0;
        }
    } else {
        st = build_graph(L, gp);
    }
    onnx__graph_proto__free_unpacked(gp, NULL);
    if (st) return st;
    if ((st = load_inits(L))) return st;
    /* Keep what we do not model: graph-level extras are wrapped in a graph
     * field, which readers merge into the graph. */
    if (L->extra_graph.len) {
        uint8_t hdr[16];
        size_t n = px_wire_put_varint(hdr, (7u << 3) | 2);
        n += px_wire_put_varint(hdr + n, L->extra_graph.len);
        if (gb_put(&L->extra_model, hdr, n) || gb_put(&L->extra_model, L->extra_graph.p, L->extra_graph.len))
            return px_nomem();
    }
    if (L->extra_model.len) {
        g->extra = L->extra_model.p;
        g->extra_len = L->extra_model.len;
        L->extra_model.p = NULL;
    }
    /* outer-scope reads of control-flow bodies become implicit inputs */
    if ((st = px_body_bind(g))) return px_fail_prefix(st, "%s", L->what);
    if ((st = px_graph_validate(g))) return px_fail_prefix(st, "%s", L->what);
    return px_graph_index(g);
}

static px_status load_common(const uint8_t *buf, size_t len, const char *base_dir, const char *what, int mapped,
                             int inline_functions, px_graph *g)
{
    loader L;
    memset(&L, 0, sizeof L);
    L.g = g;
    L.what = what ? what : "<buffer>";
    L.base_dir = base_dir;
    L.mapped = mapped;
    L.lim = g_limits;
    L.inline_functions = inline_functions;
    px_status st = load_split(&L, buf, len);
    free(L.model_known.p);
    free(L.graph_known.p);
    free(L.extra_model.p);
    free(L.extra_graph.p);
    free(L.inits);
    if (st) {
        px_graph_free(g);
        px_graph_init(g);
    }
    return st;
}

px_status px_onnx_load_buffer(const uint8_t *buf, size_t len, const char *base_dir, const char *what, px_graph *g)
{
    return load_common(buf, len, base_dir, what, 0, 0, g);
}

static px_status load_path(const char *path, int inline_functions, px_graph *g)
{
    int fd;
    long long size;
    px_status ost = px_open_regular(path, &fd, &size);
    if (ost) return ost;
    size_t len = (size_t)size;
    if (len == 0) {
        close(fd);
        return px_fail(PX_ERR_PARSE, "%s: not an ONNX model (empty file)", path);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return px_fail(PX_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    char *dir = px_path_dirname(path);
    if (!dir) {
        munmap(map, len);
        return px_nomem();
    }
    px_status st = load_common(map, len, dir, path, 1, inline_functions, g);
    free(dir);
    munmap(map, len);
    return st;
}

px_status px_onnx_load(const char *path, px_graph *g) { return load_path(path, 0, g); }

px_status px_onnx_load_inlined(const char *path, px_graph *g) { return load_path(path, 1, g); }
