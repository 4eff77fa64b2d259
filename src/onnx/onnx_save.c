/* Graph IR -> ONNX file.
 *
 * The ModelProto is built with pointers borrowed from the IR (tensor
 * payloads are never copied) in a scratch arena, then packed straight into
 * the output file through a streaming ProtobufCBuffer. */
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "onnx/onnx_io.h"
#include "ir/body.h"
#include "util/fileio.h"

#define PROTO_LIMIT ((size_t)2000 * 1024 * 1024) /* below protobuf's 2 GiB */

typedef struct saver {
    const px_graph *g;
    const px_save_opts *opts;
    px_arena ar;
    Onnx__AttributeProto **unpacked;  /* raw attributes to free after packing */
    size_t n_unpacked, cap_unpacked;
    Onnx__TypeProto **types;          /* non-tensor value types, likewise */
    size_t n_types, cap_types;
    /* external data */
    int external;
    size_t ext_min;
    px_atomic *ext_file;
    const char *ext_name;
    uint64_t ext_off;
} saver;

static char *fmt_u64(saver *S, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return px_arena_strdup(&S->ar, buf);
}

static Onnx__TensorProto *tensor_to_proto(saver *S, const px_tensor *t, const char *name)
{
    Onnx__TensorProto *tp = px_arena_alloc(&S->ar, sizeof *tp);
    if (!tp) return NULL;
    onnx__tensor_proto__init(tp);
    tp->name = (char *)name;
    tp->has_data_type = 1;
    tp->data_type = (int32_t)t->dtype;
    tp->n_dims = (size_t)t->rank;
    tp->dims = t->dims;
    if (t->dtype == PX_DT_STRING) {
        if (t->strings) {
            tp->n_string_data = (size_t)t->numel;
            tp->string_data = px_arena_array(&S->ar, (size_t)t->numel + 1, sizeof *tp->string_data);
            if (!tp->string_data) return NULL;
            for (int64_t i = 0; i < t->numel; i++) {
                tp->string_data[i].data = (uint8_t *)t->strings[i];
                tp->string_data[i].len = t->string_lens[i];
            }
        }
        return tp;
    }
    if (!t->data) return tp; /* weightless */
    if (S->external && S->ext_file && t->nbytes >= S->ext_min) {
        static const uint8_t zeros[4096];
        uint64_t pad = (4096 - S->ext_off % 4096) % 4096;
        px_atomic_write(S->ext_file, zeros, (size_t)pad);
        S->ext_off += pad;
        px_atomic_write(S->ext_file, t->data, t->nbytes);
        Onnx__StringStringEntryProto **e = px_arena_array(&S->ar, 3, sizeof *e);
        if (!e) return NULL;
        const char *keys[3] = {"location", "offset", "length"};
        char *vals[3] = {(char *)S->ext_name, fmt_u64(S, S->ext_off), fmt_u64(S, t->nbytes)};
        for (int i = 0; i < 3; i++) {
            e[i] = px_arena_alloc(&S->ar, sizeof *e[i]);
            if (!e[i] || !vals[i]) return NULL;
            onnx__string_string_entry_proto__init(e[i]);
            e[i]->key = (char *)keys[i];
            e[i]->value = vals[i];
        }
        tp->n_external_data = 3;
        tp->external_data = e;
        tp->has_data_location = 1;
        tp->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        S->ext_off += t->nbytes;
        return tp;
    }
    tp->has_raw_data = 1;
    tp->raw_data.data = t->data;
    tp->raw_data.len = t->nbytes;
    return tp;
}

static Onnx__AttributeProto *attr_to_proto(saver *S, const px_attr *a)
{
    if (a->raw) {
        Onnx__AttributeProto *ap = onnx__attribute_proto__unpack(NULL, a->raw_len, a->raw);
        if (!ap) return NULL;
        if (S->n_unpacked == S->cap_unpacked) {
            size_t nc = S->cap_unpacked ? S->cap_unpacked * 2 : 16;
            Onnx__AttributeProto **n = realloc(S->unpacked, nc * sizeof *n);
            if (!n) {
                onnx__attribute_proto__free_unpacked(ap, NULL);
                return NULL;
            }
            S->unpacked = n;
            S->cap_unpacked = nc;
        }
        S->unpacked[S->n_unpacked++] = ap;
        return ap;
    }
    Onnx__AttributeProto *ap = px_arena_alloc(&S->ar, sizeof *ap);
    if (!ap) return NULL;
    onnx__attribute_proto__init(ap);
    ap->name = (char *)a->name;
    ap->has_type = 1;
    ap->type = (Onnx__AttributeProto__AttributeType)a->type;
    switch (a->type) {
    case PX_ATTR_FLOAT: ap->has_f = 1; ap->f = a->f; break;
    case PX_ATTR_INT: ap->has_i = 1; ap->i = a->i; break;
    case PX_ATTR_STRING:
        ap->has_s = 1;
        ap->s.data = (uint8_t *)a->s;
        ap->s.len = a->s_len;
        break;
    case PX_ATTR_FLOATS: ap->n_floats = (size_t)a->n; ap->floats = a->floats; break;
    case PX_ATTR_INTS: ap->n_ints = (size_t)a->n; ap->ints = a->ints; break;
    case PX_ATTR_STRINGS:
        ap->n_strings = (size_t)a->n;
        ap->strings = px_arena_array(&S->ar, (size_t)a->n + 1, sizeof *ap->strings);
        if (!ap->strings) return NULL;
        for (int i = 0; i < a->n; i++) {
            ap->strings[i].data = (uint8_t *)a->strings[i];
            ap->strings[i].len = a->string_lens ? a->string_lens[i] : strlen(a->strings[i]);
        }
        break;
    case PX_ATTR_TENSOR: {
        /* Constant payloads stay inline: they belong to the node. */
        int ext = S->external;
        S->external = 0;
        ap->t = a->t ? tensor_to_proto(S, a->t, a->t->name) : NULL;
        S->external = ext;
        if (!ap->t) return NULL;
        break;
    }
    default:
        break;
    }
    return ap;
}

/* Rewrites a body attribute so that it reads the current names of the
 * node's implicit inputs; returns 0 on failure (message set). */
static int rebind_body(saver *S, const px_graph *g, const px_node *n, px_attr *a)
{
    int e = n->n_inputs - n->n_implicit, changed = 0;
    const char **to = px_arena_array(&S->ar, (size_t)n->n_implicit + 1, sizeof *to);
    if (!to) return 0;
    for (int k = 0; k < n->n_implicit; k++) {
        to[k] = g->values[n->inputs[e + k]].name;
        changed |= strcmp(to[k], n->implicit_names[k]) != 0;
    }
    if (!changed) return 1;
    px_body_rename r = {.n = n->n_implicit, .from = n->implicit_names, .to = to};
    return px_body_rewrite(a->raw, a->raw_len, &r, &S->ar, &a->raw, &a->raw_len) == PX_OK;
}

static Onnx__ValueInfoProto *value_to_proto(saver *S, const px_value *v)
{
    Onnx__ValueInfoProto *vi = px_arena_alloc(&S->ar, sizeof *vi);
    if (!vi) return NULL;
    onnx__value_info_proto__init(vi);
    vi->name = (char *)v->name;
    if (v->type_raw) {
        /* Non-tensor types: re-emit the TypeProto as it was read. */
        if (S->n_types == S->cap_types) {
            size_t nc = S->cap_types ? S->cap_types * 2 : 16;
            Onnx__TypeProto **n = realloc(S->types, nc * sizeof *n);
            if (!n) return NULL;
            S->types = n;
            S->cap_types = nc;
        }
        vi->type = onnx__type_proto__unpack(NULL, v->type_raw_len, v->type_raw);
        if (!vi->type) return NULL;
        S->types[S->n_types++] = vi->type;
        return vi;
    }
    if (v->dtype == PX_DT_UNDEFINED && v->shape.rank < 0) return vi;
    Onnx__TypeProto *tp = px_arena_alloc(&S->ar, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = px_arena_alloc(&S->ar, sizeof *tt);
    if (!tp || !tt) return NULL;
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = (int32_t)v->dtype;
    if (v->shape.rank >= 0) {
        Onnx__TensorShapeProto *sp = px_arena_alloc(&S->ar, sizeof *sp);
        if (!sp) return NULL;
        onnx__tensor_shape_proto__init(sp);
        sp->n_dim = (size_t)v->shape.rank;
        sp->dim = px_arena_array(&S->ar, (size_t)v->shape.rank + 1, sizeof *sp->dim);
        if (!sp->dim) return NULL;
        for (int i = 0; i < v->shape.rank; i++) {
            Onnx__TensorShapeProto__Dimension *d = px_arena_alloc(&S->ar, sizeof *d);
            if (!d) return NULL;
            onnx__tensor_shape_proto__dimension__init(d);
            if (v->shape.dims[i].v >= 0) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = v->shape.dims[i].v;
            } else if (v->shape.dims[i].sym) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = (char *)v->shape.dims[i].sym;
            }
            sp->dim[i] = d;
        }
        tt->shape = sp;
    }
    vi->type = tp;
    return vi;
}

static Onnx__ModelProto *build_model(saver *S)
{
    const px_graph *g = S->g;
    Onnx__ModelProto *mp = px_arena_alloc(&S->ar, sizeof *mp);
    Onnx__GraphProto *gp = px_arena_alloc(&S->ar, sizeof *gp);
    if (!mp || !gp) return NULL;
    onnx__model_proto__init(mp);
    onnx__graph_proto__init(gp);
    mp->has_ir_version = 1;
    mp->ir_version = g->ir_version;
    mp->producer_name = (char *)g->producer_name;
    mp->producer_version = (char *)g->producer_version;
    mp->domain = (char *)g->model_domain;
    if (g->model_version) {
        mp->has_model_version = 1;
        mp->model_version = g->model_version;
    }
    mp->doc_string = (char *)g->doc_string;
    mp->n_opset_import = (size_t)g->n_opsets;
    mp->opset_import = px_arena_array(&S->ar, (size_t)g->n_opsets + 1, sizeof *mp->opset_import);
    if (!mp->opset_import) return NULL;
    for (int i = 0; i < g->n_opsets; i++) {
        Onnx__OperatorSetIdProto *o = px_arena_alloc(&S->ar, sizeof *o);
        if (!o) return NULL;
        onnx__operator_set_id_proto__init(o);
        o->domain = g->opsets[i].domain[0] ? (char *)g->opsets[i].domain : NULL;
        o->has_version = 1;
        o->version = g->opsets[i].version;
        mp->opset_import[i] = o;
    }
    mp->n_metadata_props = (size_t)g->n_meta;
    mp->metadata_props = px_arena_array(&S->ar, (size_t)g->n_meta + 1, sizeof *mp->metadata_props);
    if (!mp->metadata_props) return NULL;
    for (int i = 0; i < g->n_meta; i++) {
        Onnx__StringStringEntryProto *e = px_arena_alloc(&S->ar, sizeof *e);
        if (!e) return NULL;
        onnx__string_string_entry_proto__init(e);
        e->key = (char *)g->meta_keys[i];
        e->value = (char *)g->meta_values[i];
        mp->metadata_props[i] = e;
    }
    mp->graph = gp;
    gp->name = (char *)g->graph_name;
    gp->doc_string = (char *)g->graph_doc_string;

    gp->n_node = (size_t)g->n_nodes;
    gp->node = px_arena_array(&S->ar, (size_t)g->n_nodes + 1, sizeof *gp->node);
    if (!gp->node) return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const px_node *n = &g->nodes[i];
        Onnx__NodeProto *np = px_arena_alloc(&S->ar, sizeof *np);
        if (!np) return NULL;
        onnx__node_proto__init(np);
        /* Empty strings are written as absent fields (proto2 keeps the
         * difference; ONNX does not). */
        np->name = n->name && *n->name ? (char *)n->name : NULL;
        np->op_type = (char *)n->op_type;
        np->domain = n->domain && *n->domain ? (char *)n->domain : NULL;
        np->doc_string = (char *)n->doc_string;
        int n_explicit = n->n_inputs - n->n_implicit;
        np->n_input = (size_t)n_explicit;
        np->input = px_arena_array(&S->ar, (size_t)n->n_inputs + 1, sizeof *np->input);
        np->n_output = (size_t)n->n_outputs;
        np->output = px_arena_array(&S->ar, (size_t)n->n_outputs + 1, sizeof *np->output);
        np->n_attribute = (size_t)n->n_attrs;
        np->attribute = px_arena_array(&S->ar, (size_t)n->n_attrs + 1, sizeof *np->attribute);
        if (!np->input || !np->output || !np->attribute) return NULL;
        for (int j = 0; j < n_explicit; j++)
            np->input[j] = (char *)(n->inputs[j] >= 0 ? g->values[n->inputs[j]].name : "");
        for (int j = 0; j < n->n_outputs; j++)
            np->output[j] = (char *)(n->outputs[j] >= 0 ? g->values[n->outputs[j]].name : "");
        for (int j = 0; j < n->n_attrs; j++) {
            px_attr a = n->attrs[j];
            /* bodies read enclosing values by name: follow their renaming */
            if (n->n_implicit && a.raw && (a.type == PX_ATTR_GRAPH || a.type == PX_ATTR_GRAPHS) &&
                !rebind_body(S, g, n, &a))
                return NULL;
            if (!(np->attribute[j] = attr_to_proto(S, &a))) return NULL;
        }
        gp->node[i] = np;
    }

    gp->n_initializer = (size_t)g->n_inits;
    gp->initializer = px_arena_array(&S->ar, (size_t)g->n_inits + 1, sizeof *gp->initializer);
    if (!gp->initializer) return NULL;
    for (int i = 0; i < g->n_inits; i++) {
        const px_value *v = &g->values[g->inits[i]];
        if (!(gp->initializer[i] = tensor_to_proto(S, v->init, (char *)v->name))) return NULL;
    }
    gp->n_input = (size_t)g->n_inputs;
    gp->input = px_arena_array(&S->ar, (size_t)g->n_inputs + 1, sizeof *gp->input);
    gp->n_output = (size_t)g->n_outputs;
    gp->output = px_arena_array(&S->ar, (size_t)g->n_outputs + 1, sizeof *gp->output);
    gp->value_info = px_arena_array(&S->ar, (size_t)g->n_values + 1, sizeof *gp->value_info);
    if (!gp->input || !gp->output || !gp->value_info) return NULL;
    for (int i = 0; i < g->n_inputs; i++)
        if (!(gp->input[i] = value_to_proto(S, &g->values[g->inputs[i]]))) return NULL;
    for (int i = 0; i < g->n_outputs; i++)
        if (!(gp->output[i] = value_to_proto(S, &g->values[g->outputs[i]]))) return NULL;
    /* value_info in a deterministic order: by producing node, then output slot. */
    size_t nvi = 0;
    int all = S->opts && S->opts->all_value_info;
    for (int i = 0; i < g->n_nodes; i++) {
        const px_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_outputs; j++) {
            int vid = n->outputs[j];
            if (vid < 0) continue;
            const px_value *v = &g->values[vid];
            if (v->flags & (PX_VAL_OUTPUT | PX_VAL_INPUT | PX_VAL_INIT)) continue;
            int want = (v->flags & PX_VAL_DECLARED) || (all && (v->dtype != PX_DT_UNDEFINED || v->type_raw));
            if (!want) continue;
            if (!(gp->value_info[nvi++] = value_to_proto(S, v))) return NULL;
        }
    }
    /* Declared value_info for values no node produces (rare) keeps them. */
    for (int vid = 0; vid < g->n_values; vid++) {
        const px_value *v = &g->values[vid];
        if (v->producer >= 0 || !(v->flags & PX_VAL_DECLARED)) continue;
        if (v->flags & (PX_VAL_OUTPUT | PX_VAL_INPUT | PX_VAL_INIT)) continue;
        if (!(gp->value_info[nvi++] = value_to_proto(S, v))) return NULL;
    }
    gp->n_value_info = nvi;
    return mp;
}

typedef struct file_sink {
    ProtobufCBuffer base;
    px_atomic *file;
} file_sink;

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    px_atomic_write(((file_sink *)b)->file, data, len);
}

static void saver_free(saver *S)
{
    for (size_t i = 0; i < S->n_unpacked; i++) onnx__attribute_proto__free_unpacked(S->unpacked[i], NULL);
    for (size_t i = 0; i < S->n_types; i++) onnx__type_proto__free_unpacked(S->types[i], NULL);
    free(S->unpacked);
    free(S->types);
    px_arena_free(&S->ar);
}

static size_t total_init_bytes(const px_graph *g)
{
    size_t total = 0;
    for (int i = 0; i < g->n_inits; i++) {
        const px_tensor *t = g->values[g->inits[i]].init;
        if (t && t->data) total += t->nbytes;
    }
    return total;
}

px_status px_onnx_save(const px_graph *g, const char *path, const px_save_opts *opts)
{
    saver S;
    memset(&S, 0, sizeof S);
    S.g = g;
    S.opts = opts;
    S.ext_min = opts && opts->external_min_bytes ? opts->external_min_bytes : 1024;
    px_arena_init(&S.ar);
    px_status st = PX_OK;
    px_atomic ext, out;
    memset(&ext, 0, sizeof ext);
    memset(&out, 0, sizeof out);
    char *ext_path = NULL;
    S.external = (opts && opts->force_external) || total_init_bytes(g) > PROTO_LIMIT - (64u << 20);
    if (S.external) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        size_t n = strlen(base) + 8;
        char *name = px_arena_alloc(&S.ar, n);
        if (!name) {
            st = px_nomem();
            goto done;
        }
        snprintf(name, n, "%s.data", base);
        S.ext_name = name;
        char *dir = px_path_dirname(path);
        ext_path = dir ? px_path_join(dir, name) : NULL;
        free(dir);
        if (!ext_path) {
            st = px_nomem();
            goto done;
        }
        if ((st = px_atomic_open(&ext, ext_path))) goto done;
        ext.no_sync = opts && opts->no_sync;
        S.ext_file = &ext;
    }
    Onnx__ModelProto *mp = build_model(&S);
    if (!mp) {
        st = px_fail(PX_ERR_NOMEM, "%s: out of memory while building the model", path);
        goto done;
    }
    size_t size = onnx__model_proto__get_packed_size(mp) + g->extra_len;
    if (size > PROTO_LIMIT) {
        st = px_fail(PX_ERR_LIMIT, "%s: the model would be %zu bytes, over protobuf's 2 GiB limit", path, size);
        goto done;
    }
    if ((st = px_atomic_open(&out, path))) goto done;
    out.no_sync = opts && opts->no_sync;
    file_sink sink = {{sink_append}, &out};
    onnx__model_proto__pack_to_buffer(mp, &sink.base);
    px_atomic_write(&out, g->extra, g->extra_len);
    if (S.ext_file) {
        if ((st = px_atomic_commit(&ext))) goto done;
        S.ext_file = NULL;
    }
    st = px_atomic_commit(&out);
done:
    if (out.f) px_atomic_abort(&out);
    if (ext.f) px_atomic_abort(&ext);
    free(ext_path);
    saver_free(&S);
    return st;
}

px_status px_onnx_save_buffer(const px_graph *g, const px_save_opts *opts, uint8_t **buf, size_t *len)
{
    saver S;
    memset(&S, 0, sizeof S);
    S.g = g;
    S.opts = opts;
    px_arena_init(&S.ar);
    *buf = NULL;
    *len = 0;
    px_status st = PX_OK;
    Onnx__ModelProto *mp = build_model(&S);
    if (!mp) {
        st = px_nomem();
        goto done;
    }
    size_t n = onnx__model_proto__get_packed_size(mp);
    uint8_t *p = malloc(n + g->extra_len + 1);
    if (!p) {
        st = px_nomem();
        goto done;
    }
    onnx__model_proto__pack(mp, p);
    if (g->extra_len) memcpy(p + n, g->extra, g->extra_len);
    *buf = p;
    *len = n + g->extra_len;
done:
    saver_free(&S);
    return st;
}
