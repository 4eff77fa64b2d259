/* px_graph_digest: the layout is in digest.h. */
#include "ir/digest.h"

#include <string.h>

#include <sodium.h>

typedef struct dg {
    crypto_generichash_state st;
} dg;

static void put_u64(dg *d, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    crypto_generichash_update(&d->st, b, sizeof b);
}

static void put_bytes(dg *d, const void *p, size_t n)
{
    put_u64(d, (uint64_t)n);
    if (n) crypto_generichash_update(&d->st, (const unsigned char *)p, n);
}

static void put_str(dg *d, const char *s)
{
    if (!s) {
        put_u64(d, UINT64_MAX);
        return;
    }
    put_bytes(d, s, strlen(s));
}

static void put_float(dg *d, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    put_u64(d, u);
}

static void put_shape(dg *d, const px_shape *s)
{
    if (s->rank < 0 || (s->rank > 0 && !s->dims)) {
        put_u64(d, 0);
        return;
    }
    put_u64(d, (uint64_t)s->rank + 1);
    for (int i = 0; i < s->rank; i++) {
        const px_dim *dm = &s->dims[i];
        if (dm->v >= 0) {
            put_u64(d, 1);
            put_u64(d, (uint64_t)dm->v);
        } else if (dm->sym) {
            put_u64(d, 2);
            put_str(d, dm->sym);
        } else {
            put_u64(d, 0);
        }
    }
}

static void put_value(dg *d, const px_graph *g, int v)
{
    if (v < 0 || v >= g->n_values) {
        put_str(d, NULL);
        return;
    }
    const px_value *val = &g->values[v];
    put_str(d, val->name);
    put_u64(d, (uint64_t)val->dtype);
    put_shape(d, &val->shape);
    put_bytes(d, val->type_raw, val->type_raw ? val->type_raw_len : 0);
}

/* Float values: what training changes (px_graph_arch_digest leaves them out). */
static int is_float(px_dtype t)
{
    return t == PX_DT_FLOAT || t == PX_DT_FLOAT16 || t == PX_DT_DOUBLE || t == PX_DT_BFLOAT16;
}

static void put_tensor(dg *d, const px_tensor *t, int arch)
{
    put_u64(d, (uint64_t)t->dtype);
    int rank = t->rank > 0 && t->dims ? t->rank : 0;
    put_u64(d, (uint64_t)rank);
    for (int i = 0; i < rank; i++) put_u64(d, (uint64_t)t->dims[i]);
    int skip = arch && is_float(t->dtype);
    put_u64(d, t->data ? 1 : 0);
    put_bytes(d, t->data, t->data && !skip ? t->nbytes : 0);
    uint64_t ns = t->strings && t->numel > 0 ? (uint64_t)t->numel : 0;
    put_u64(d, ns);
    for (uint64_t i = 0; i < ns; i++) {
        const char *s = t->strings[i];
        size_t len = t->string_lens ? t->string_lens[i] : (s ? strlen(s) : 0);
        put_bytes(d, s, s ? len : 0);
    }
    put_str(d, t->name);
}

static void put_attr(dg *d, const px_attr *a, int arch)
{
    put_str(d, a->name);
    put_u64(d, (uint64_t)a->type);
    put_u64(d, (uint64_t)a->i);
    put_float(d, a->f);
    put_bytes(d, a->s, a->s ? a->s_len : 0);
    int n = a->n > 0 ? a->n : 0;
    put_u64(d, a->ints ? (uint64_t)n : 0);
    for (int k = 0; a->ints && k < n; k++) put_u64(d, (uint64_t)a->ints[k]);
    put_u64(d, a->floats ? (uint64_t)n : 0);
    for (int k = 0; a->floats && k < n; k++) put_float(d, a->floats[k]);
    put_u64(d, a->strings ? (uint64_t)n : 0);
    for (int k = 0; a->strings && k < n; k++) {
        const char *s = a->strings[k];
        size_t len = a->string_lens ? a->string_lens[k] : (s ? strlen(s) : 0);
        put_bytes(d, s, s ? len : 0);
    }
    put_u64(d, a->t ? 1 : 0);
    if (a->t) put_tensor(d, a->t, arch);
    put_bytes(d, a->raw, a->raw ? a->raw_len : 0);
}

static void put_value_name(dg *d, const px_graph *g, int v)
{
    if (v < 0 || v >= g->n_values) put_str(d, "");
    else put_str(d, g->values[v].name ? g->values[v].name : "");
}

static void digest(const px_graph *g, uint8_t out[32], int arch)
{
    const char *tag = arch ? "proteus-arch-digest/1" : "proteus-graph-digest/1";
    if (sodium_init() < 0) {
        /* the reference BLAKE2b works without it */
    }
    dg d;
    crypto_generichash_init(&d.st, NULL, 0, 32);
    crypto_generichash_update(&d.st, (const unsigned char *)tag, strlen(tag) + 1); /* with its NUL */

    put_u64(&d, (uint64_t)g->ir_version);
    put_u64(&d, (uint64_t)g->n_opsets);
    for (int i = 0; i < g->n_opsets; i++) {
        put_str(&d, g->opsets[i].domain ? g->opsets[i].domain : "");
        put_u64(&d, (uint64_t)g->opsets[i].version);
    }
    put_u64(&d, (uint64_t)g->n_inputs);
    for (int i = 0; i < g->n_inputs; i++) put_value(&d, g, g->inputs[i]);
    put_u64(&d, (uint64_t)g->n_outputs);
    for (int i = 0; i < g->n_outputs; i++) put_value(&d, g, g->outputs[i]);
    put_u64(&d, (uint64_t)g->n_inits);
    for (int i = 0; i < g->n_inits; i++) {
        int v = g->inits[i];
        const px_value *val = v >= 0 && v < g->n_values ? &g->values[v] : NULL;
        put_str(&d, val ? val->name : NULL);
        put_u64(&d, val && val->init ? 1 : 0);
        if (val && val->init) put_tensor(&d, val->init, arch);
    }
    put_u64(&d, (uint64_t)g->n_nodes);
    for (int i = 0; i < g->n_nodes; i++) {
        const px_node *nd = &g->nodes[i];
        put_str(&d, nd->op_type);
        put_str(&d, nd->domain ? nd->domain : "");
        put_str(&d, nd->name);
        put_u64(&d, (uint64_t)nd->n_inputs);
        for (int k = 0; k < nd->n_inputs; k++) put_value_name(&d, g, nd->inputs[k]);
        put_u64(&d, (uint64_t)nd->n_outputs);
        for (int k = 0; k < nd->n_outputs; k++) put_value_name(&d, g, nd->outputs[k]);
        put_u64(&d, (uint64_t)nd->n_attrs);
        for (int k = 0; k < nd->n_attrs; k++) put_attr(&d, &nd->attrs[k], arch);
    }
    crypto_generichash_final(&d.st, out, 32);
}

void px_graph_digest(const px_graph *g, uint8_t out[32]) { digest(g, out, 0); }

void px_graph_arch_digest(const px_graph *g, uint8_t out[32]) { digest(g, out, 1); }
