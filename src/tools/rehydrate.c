#include "tools/rehydrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

typedef enum role { ROLE_WEIGHT, ROLE_VECTOR, ROLE_VARIANCE } role;

/* Whether value vid (or its copy through Identity nodes, which exporters
 * use for de-duplicated weights) is read as a normalisation's variance. */
static int read_as_variance(const px_graph *g, int vid, int depth)
{
    for (int c = g->cons_start[vid]; c < g->cons_start[vid + 1] && depth < 8; c++) {
        const px_node *n = &g->nodes[g->cons[c]];
        for (int k = 0; k < n->n_inputs; k++) {
            if (n->inputs[k] != vid) continue;
            if (!strcmp(n->op_type, "BatchNormalization") && k == 4) return 1;
            if (!strcmp(n->op_type, "Identity") && n->n_outputs == 1 && n->outputs[0] >= 0 &&
                read_as_variance(g, n->outputs[0], depth + 1))
                return 1;
        }
    }
    return 0;
}

/* How the tensor is used decides a safe value range: fan-in scaled for
 * weights, positive for a normalisation's variance. */
static role tensor_role(const px_graph *g, int vid, int64_t *fan_in)
{
    const px_tensor *t = g->values[vid].init;
    *fan_in = 1;
    for (int i = 1; i < t->rank; i++) *fan_in *= t->dims[i] > 0 ? t->dims[i] : 1;
    if (read_as_variance(g, vid, 0)) return ROLE_VARIANCE;
    for (int c = g->cons_start[vid]; c < g->cons_start[vid + 1]; c++) {
        const px_node *n = &g->nodes[g->cons[c]];
        for (int k = 0; k < n->n_inputs; k++) {
            if (n->inputs[k] != vid) continue;
            if (!strcmp(n->op_type, "MatMul") && k == 1 && t->rank >= 2) *fan_in = t->dims[t->rank - 2];
            if (!strcmp(n->op_type, "Gemm") && k == 1 && t->rank == 2)
                *fan_in = px_attr_int(n, "transB", 0) ? t->dims[1] : t->dims[0];
            if (!strcmp(n->op_type, "ConvTranspose") && k == 1 && t->rank >= 2) {
                *fan_in = t->dims[0];
                for (int i = 2; i < t->rank; i++) *fan_in *= t->dims[i];
            }
        }
    }
    if (*fan_in < 1) *fan_in = 1;
    return t->rank >= 2 ? ROLE_WEIGHT : ROLE_VECTOR;
}

static uint16_t float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t man = x & 0x7fffff;
    if (exp <= 0) return (uint16_t)sign; /* tiny values flush to zero */
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    return (uint16_t)(sign | ((uint32_t)exp << 10) | (man >> 13));
}

static void store(px_tensor *t, int64_t i, double v)
{
    unsigned char *p = t->data;
    switch (t->dtype) {
    case PX_DT_FLOAT: { float f = (float)v; memcpy(p + 4 * i, &f, 4); break; }
    case PX_DT_DOUBLE: memcpy(p + 8 * i, &v, 8); break;
    case PX_DT_FLOAT16: { uint16_t h = float_to_half((float)v); memcpy(p + 2 * i, &h, 2); break; }
    case PX_DT_BFLOAT16: {
        float f = (float)v; uint32_t b; memcpy(&b, &f, 4);
        uint16_t h = (uint16_t)(b >> 16); memcpy(p + 2 * i, &h, 2); break;
    }
    case PX_DT_COMPLEX64: { float f[2] = {(float)v, 0}; memcpy(p + 8 * i, f, 8); break; }
    case PX_DT_COMPLEX128: { double d[2] = {v, 0}; memcpy(p + 16 * i, d, 16); break; }
    default: {
        /* integers and bool: small non-negative values */
        int64_t k = (int64_t)fabs(v);
        int bytes = px_dtype_bits(t->dtype) / 8;
        if (t->dtype == PX_DT_BOOL) k &= 1;
        for (int b = 0; b < bytes; b++) p[(size_t)bytes * (size_t)i + (size_t)b] = (unsigned char)(k >> (8 * b));
        break;
    }
    }
}

px_status px_rehydrate(px_graph *g, uint64_t seed)
{
    px_status st = px_graph_index(g);
    if (st) return st;
    for (int i = 0; i < g->n_inits; i++) {
        int vid = g->inits[i];
        px_tensor *t = g->values[vid].init;
        if (!t || t->data || t->strings) continue;
        if (t->dtype == PX_DT_STRING) {
            if ((st = px_tensor_alloc_data(t))) return st;
            for (int64_t k = 0; k < t->numel; k++) {
                if (!(t->strings[k] = calloc(1, 1))) return px_nomem();
            }
            continue;
        }
        if (px_dtype_bits(t->dtype) < 8)
            return px_fail(PX_ERR_UNSUPPORTED, "rehydrate: tensor '%s' has sub-byte type %s",
                           g->values[vid].name, px_dtype_name(t->dtype));
        if ((st = px_tensor_alloc_data(t))) return px_fail_prefix(st, "rehydrate: tensor '%s'", g->values[vid].name);
        int64_t fan_in;
        role r = tensor_role(g, vid, &fan_in);
        px_rng rng;
        px_rng_seed(&rng, seed ^ px_hash_str(g->values[vid].name));
        double lo, hi;
        if (!px_dtype_is_float(t->dtype) && t->dtype != PX_DT_COMPLEX64 && t->dtype != PX_DT_COMPLEX128) {
            lo = 0, hi = 4;
        } else if (r == ROLE_VARIANCE) {
            lo = 0.5, hi = 1.5;
        } else if (r == ROLE_WEIGHT) {
            double b = sqrt(6.0 / (double)fan_in); /* He-uniform: ReLU stacks stay O(1) */
            lo = -b, hi = b;
        } else {
            lo = -0.5, hi = 0.5;
        }
        for (int64_t k = 0; k < t->numel; k++) store(t, k, lo + (hi - lo) * px_rng_unit(&rng));
    }
    return PX_OK;
}
