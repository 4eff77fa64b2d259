#include "bucket/probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_io.h"
#include "shape/shape_infer.h"
#include "util/json.h"
#include "util/subproc.h"

/* One parsed spec: NAME and its dims (in the graph's arena-free storage). */
typedef struct shape_spec {
    char name[256];
    int rank;
    int64_t dims[PX_MAX_RANK];
} shape_spec;

static px_status parse_spec(const char *s, shape_spec *out)
{
    const char *eq = strrchr(s, '=');
    if (!eq || eq == s || (size_t)(eq - s) >= sizeof out->name)
        return px_fail(PX_ERR_USAGE, "--input-shape %s: want NAME=D0,D1,... (e.g. images=1,3,640,640)", s);
    memcpy(out->name, s, (size_t)(eq - s));
    out->name[eq - s] = 0;
    out->rank = 0;
    const char *p = eq + 1;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || out->rank >= PX_MAX_RANK || (*end && *end != ','))
            return px_fail(PX_ERR_USAGE, "--input-shape %s: dims must be non-negative integers separated by commas", s);
        out->dims[out->rank++] = v;
        p = *end ? end + 1 : end;
    }
    return PX_OK;
}

static int find_input(const px_graph *g, const char *name)
{
    for (int i = 0; i < g->n_inputs; i++) {
        const px_value *v = &g->values[g->inputs[i]];
        if (!(v->flags & PX_VAL_INIT) && !strcmp(v->name, name)) return g->inputs[i];
    }
    return -1;
}

px_status px_input_shapes_check(const px_graph *g, const char *const *specs, int n)
{
    for (int i = 0; i < n; i++) {
        shape_spec sp;
        px_status st = parse_spec(specs[i], &sp);
        if (st) return st;
        int v = find_input(g, sp.name);
        if (v < 0) return px_fail(PX_ERR_USAGE, "--input-shape %s: the model has no input '%s'", specs[i], sp.name);
        const px_shape *sh = &g->values[v].shape;
        if (sh->rank >= 0 && sh->rank != sp.rank)
            return px_fail(PX_ERR_USAGE, "--input-shape %s: '%s' has rank %d, not %d", specs[i], sp.name, sh->rank,
                           sp.rank);
        for (int d = 0; sh->rank >= 0 && d < sh->rank; d++)
            if (sh->dims[d].v >= 0 && sh->dims[d].v != sp.dims[d])
                return px_fail(PX_ERR_USAGE, "--input-shape %s: dim %d of '%s' is fixed at %lld", specs[i], d,
                               sp.name, (long long)sh->dims[d].v);
    }
    return PX_OK;
}

/* Fixes g's inputs to the specs and infers again: every value, the real
 * files' inputs included, gets the lengths those imply. */
static px_status apply_specs(px_graph *g, const char *const *specs, int n)
{
    for (int i = 0; i < n; i++) {
        shape_spec sp;
        px_status st = parse_spec(specs[i], &sp);
        if (st) return st;
        int v = find_input(g, sp.name);
        if (v < 0) continue;
        px_dim dims[PX_MAX_RANK];
        for (int d = 0; d < sp.rank; d++) dims[d] = (px_dim){sp.dims[d], NULL};
        if ((st = px_shape_set(g, &g->values[v].shape, sp.rank, dims))) return st;
    }
    px_status st = px_shape_infer(g, NULL);
    return st ? px_fail_prefix(st, "--input-shape") : PX_OK;
}

/* Writes "shapes": {"i<k>": [dims]} for the part inputs whose shape the
 * specs made concrete (and that the file leaves symbolic). */
static void write_shapes(px_json *j, const px_key_part *kp, const px_graph *g)
{
    int written = 0;
    for (int k = 0; k < kp->n_inputs; k++) {
        const px_key_tensor *t = &kp->inputs[k];
        int v = px_graph_find(g, t->name);
        if (v < 0 || t->shape.rank < 0) continue;
        const px_shape *sh = &g->values[v].shape;
        int ok = sh->rank == t->shape.rank, has_sym = 0;
        for (int d = 0; ok && d < sh->rank; d++) {
            ok = sh->dims[d].v >= 0;
            has_sym |= t->shape.dims[d].v < 0;
        }
        if (!ok || !has_sym) continue;
        char name[32];
        snprintf(name, sizeof name, "i%d", k);
        if (!written++) {
            px_json_key(j, "shapes");
            px_json_obj_begin(j);
        }
        px_json_key(j, name);
        px_json_arr_begin(j);
        for (int d = 0; d < sh->rank; d++) px_json_int(j, sh->dims[d].v);
        px_json_arr_end(j);
    }
    if (written) px_json_obj_end(j);
}

/* "NAME=D0,D1,..." as "NAME": [dims] (specs were checked by px_input_shapes_check). */
static void write_spec_dims(px_json *j, const char *spec)
{
    shape_spec sp;
    if (parse_spec(spec, &sp)) return;
    px_json_key(j, sp.name);
    px_json_arr_begin(j);
    for (int d = 0; d < sp.rank; d++) px_json_int(j, sp.dims[d]);
    px_json_arr_end(j);
}

/* The model's names of a part's inputs (the file's i0, i1, ... in order)
 * and outputs: what the probe looks up in the whole model's run. */
static void write_names(px_json *j, const char *key, const px_key_tensor *t, int n)
{
    px_json_key(j, key);
    px_json_arr_begin(j);
    for (int k = 0; k < n; k++) px_json_str(j, t[k].name ? t[k].name : "");
    px_json_arr_end(j);
}

/* "model", "model_shapes", "model_inputs", "model_seed": the whole model
 * run once on the owner's inputs, so each file's inputs follow what flows
 * across its cuts (proteus_py.probe). */
static void write_model(px_json *j, const px_probe_model *m, const px_owner_keys *okeys)
{
    if (!m || !m->model_path) return;
    px_json_key(j, "model");
    px_json_str(j, m->model_path);
    px_json_key(j, "model_shapes");
    px_json_obj_begin(j);
    for (int i = 0; i < m->n_specs; i++) write_spec_dims(j, m->specs[i]);
    px_json_obj_end(j);
    px_json_key(j, "model_inputs");
    px_json_obj_begin(j);
    for (int i = 0; i < m->n_input_files; i++) {
        const char *s = m->input_files[i], *eq = strchr(s, '=');
        if (!eq || eq == s) continue;
        char *name = strndup(s, (size_t)(eq - s));
        if (!name) continue;
        px_json_key(j, name);
        px_json_str(j, eq + 1);
        free(name);
    }
    px_json_obj_end(j);
    px_json_key(j, "model_seed");
    px_json_int(j, (int64_t)(px_owner_stream(okeys, "probe-model", 0, 0) >> 11));
}

px_status px_probe_parts(px_key *key, char **paths, int n, px_graph *g, const px_probe_model *model,
                         const px_owner_keys *okeys, int no_probe, int *unprobed, char *why, size_t why_len)
{
    const char *const *specs = model ? model->specs : NULL;
    int n_specs = model ? model->n_specs : 0;
    px_status st = PX_OK;
    if (no_probe) return PX_OK;
    if (n_specs && (st = apply_specs(g, specs, n_specs))) return st;
    char *req = NULL;
    size_t req_len = 0;
    FILE *f = open_memstream(&req, &req_len);
    if (!f) return px_nomem();
    px_json j;
    px_json_init(&j, f, 0);
    px_json_obj_begin(&j);
    write_model(&j, model, okeys);
    px_json_key(&j, "items");
    px_json_arr_begin(&j);
    for (int i = 0; i < n; i++) {
        uint64_t s = px_owner_stream(okeys, "probe", (uint64_t)i, 0) >> 11; /* 53 bits: exact in any JSON reader */
        px_json_obj_begin(&j);
        px_json_key(&j, "file");
        px_json_str(&j, paths[i]);
        px_json_key(&j, "seed");
        px_json_int(&j, (int64_t)s);
        if (n_specs) write_shapes(&j, &key->parts[i], g);
        write_names(&j, "names", key->parts[i].inputs, key->parts[i].n_inputs);
        write_names(&j, "outputs", key->parts[i].outputs, key->parts[i].n_outputs);
        px_json_obj_end(&j);
    }
    px_json_arr_end(&j);
    px_json_obj_end(&j);
    px_json_end(&j);
    fclose(f);
    char *args[1] = {"compute-request"};
    char *out;
    size_t len;
    st = px_python_call("proteus_py.probe", args, 1, req, req_len, &out, &len);
    free(req);
    if (st) return st;
    px_jval *root;
    st = px_json_parse(&key->arena, out, len, "probe output", &root);
    free(out);
    if (st) return st;
    if (root->type != PX_J_ARR || (int)root->n != n) return px_fail(PX_ERR_PARSE, "probe: unexpected output");
    for (int i = 0; i < n; i++) {
        const px_jval *p = px_json_get(root->items[i], "probe");
        key->parts[i].probe = p && p->type == PX_J_OBJ ? p : NULL;
        if (!key->parts[i].probe && !(*unprobed)++ && why) {
            const char *e = px_json_get_str(root->items[i], "error");
            snprintf(why, why_len, "subgraph %d: %s", i, e ? e : "no fingerprint");
        }
    }
    return PX_OK;
}
