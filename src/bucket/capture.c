#include "bucket/capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/jsonparse.h"
#include "util/strmap.h"
#include "util/subproc.h"

#define HINT_PYTHON "proteus needs its Python half with onnxruntime (PROTEUS_PYTHON names the interpreter)"

/* A value a cut could meet without a type: read by a node (explicitly or by
 * a body) or a graph output, produced by a node, neither a sequence/map
 * (type_raw) nor typed with a rank. */
static int untyped(const px_value *v)
{
    if (v->producer < 0 || v->type_raw) return 0;
    return v->dtype == PX_DT_UNDEFINED || v->shape.rank < 0;
}

static int mark_wanted(const px_graph *g, char *want)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const px_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_inputs; j++) {
            int v = nd->inputs[j];
            if (v >= 0 && !want[v] && untyped(&g->values[v])) n += want[v] = 1;
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (!want[v] && untyped(&g->values[v])) n += want[v] = 1;
    }
    return n;
}

/* "NAME=D0,D1,..." (checked by px_input_shapes_check) as "NAME": [dims]. */
static int write_key(px_json *j, const char *s, size_t n)
{
    char *k = strndup(s, n);
    if (!k) return -1;
    px_json_key(j, k);
    free(k);
    return 0;
}

static void write_shape_spec(px_json *j, const char *spec)
{
    const char *eq = strrchr(spec, '=');
    if (!eq || write_key(j, spec, (size_t)(eq - spec))) return;
    px_json_arr_begin(j);
    for (const char *p = eq + 1; *p;) {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p) break;
        px_json_int(j, d);
        p = *end ? end + 1 : end;
    }
    px_json_arr_end(j);
}

static px_status make_request(const px_graph *g, const char *want, const px_obfuscate_opts *o, char **req,
                              size_t *len)
{
    FILE *f = open_memstream(req, len);
    if (!f) return px_nomem();
    px_json j;
    px_json_init(&j, f, 0);
    px_json_obj_begin(&j);
    px_json_key(&j, "model");
    px_json_str(&j, o->model_path);
    px_json_key(&j, "values");
    px_json_arr_begin(&j);
    for (int v = 0; v < g->n_values; v++)
        if (want[v]) px_json_str(&j, g->values[v].name);
    px_json_arr_end(&j);
    px_json_key(&j, "shapes");
    px_json_obj_begin(&j);
    for (int i = 0; i < o->n_input_shapes; i++) write_shape_spec(&j, o->input_shapes[i]);
    px_json_obj_end(&j);
    px_json_key(&j, "inputs");
    px_json_obj_begin(&j);
    for (int i = 0; i < o->n_input_files; i++) {
        const char *eq = strchr(o->input_files[i], '=');
        if (!eq || write_key(&j, o->input_files[i], (size_t)(eq - o->input_files[i]))) continue;
        px_json_str(&j, eq + 1);
    }
    px_json_obj_end(&j);
    px_json_key(&j, "seed");
    px_json_int(&j, 0);
    px_json_obj_end(&j);
    px_json_end(&j);
    if (fclose(f)) return px_nomem();
    return PX_OK;
}

/* Every symbol g uses (dims and data), so that new ones are new. */
static px_status note_symbols(const px_graph *g, px_strmap *taken)
{
    for (int v = 0; v < g->n_values; v++) {
        const px_value *val = &g->values[v];
        for (int i = 0; i < val->shape.rank; i++)
            if (val->shape.dims[i].sym && px_strmap_put(taken, val->shape.dims[i].sym, 1)) return px_nomem();
        for (int i = 0; i < val->n_data; i++)
            if (val->data[i].sym && px_strmap_put(taken, val->data[i].sym, 1)) return px_nomem();
    }
    return PX_OK;
}

typedef struct px_value_type {
    px_dtype dtype;
    px_shape shape;
} px_value_type;

static px_status fresh_symbol(px_graph *g, px_strmap *taken, int *next, const char **out)
{
    char buf[32];
    do snprintf(buf, sizeof buf, "ort_%d", (*next)++);
    while (px_strmap_get(taken, buf) >= 0);
    char *s = px_arena_strdup(&g->arena, buf);
    if (!s || px_strmap_put(taken, s, 1)) return px_nomem();
    *out = s;
    return PX_OK;
}

/* Sets value v from one reply record; 1 when it was set. */
static px_status apply_record(px_graph *g, int v, const px_jval *rec, px_strmap *taken, int *next, int *set)
{
    *set = 0;
    px_value *val = &g->values[v];
    int64_t et = 0;
    px_dtype dt = PX_DT_UNDEFINED;
    if (px_json_get_int(rec, "elem_type", &et) && px_dtype_valid((int)et)) dt = (px_dtype)et;
    else if (px_json_get_str(rec, "dtype")) dt = px_dtype_from_name(px_json_get_str(rec, "dtype"));
    const px_jval *shape = px_json_get_arr(rec, "shape");
    const px_jval *vary = px_json_get_arr(rec, "vary");
    if (dt == PX_DT_UNDEFINED || !shape || shape->n > PX_MAX_RANK) return PX_OK;
    int rank = (int)shape->n;
    /* what inference knows wins; a contradiction leaves the value alone */
    if (val->dtype != PX_DT_UNDEFINED && val->dtype != dt) return PX_OK;
    if (val->shape.rank >= 0 && val->shape.rank != rank) return PX_OK;
    px_dim dims[PX_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        const px_jval *x = shape->items[d];
        if (x->type != PX_J_NUM || !x->is_int || x->i < 0) return PX_OK;
        int varies = vary && (size_t)d < vary->n && vary->items[d]->type == PX_J_BOOL && vary->items[d]->b;
        if (val->shape.rank >= 0 && (val->shape.dims[d].v >= 0 || val->shape.dims[d].sym)) {
            dims[d] = val->shape.dims[d];
            if (dims[d].v >= 0 && !varies && dims[d].v != x->i) return PX_OK;
            continue;
        }
        dims[d] = (px_dim){x->i, NULL};
        if (varies) {
            px_status st = fresh_symbol(g, taken, next, &dims[d].sym);
            if (st) return st;
            dims[d].v = -1;
        }
    }
    px_status st = px_shape_set(g, &val->shape, rank, dims);
    if (st) return st;
    val->dtype = dt;
    *set = 1;
    return PX_OK;
}

static const char *first_untyped_op(const px_graph *g, const char *want)
{
    for (int v = 0; v < g->n_values; v++)
        if (want[v] && untyped(&g->values[v])) return g->nodes[g->values[v].producer].op_type;
    return "?";
}

px_status px_capture_types(px_graph *g, const px_obfuscate_opts *o, px_shape_report *rep, px_capture_note *note)
{
    memset(note, 0, sizeof *note);
    char *want = calloc((size_t)g->n_values + 1, 1);
    if (!want) return px_nomem();
    px_status st = PX_OK;
    char *req = NULL, *out = NULL;
    size_t req_len = 0, out_len = 0;
    px_arena arena;
    px_arena_init(&arena);
    px_strmap taken;
    px_strmap_init(&taken);
    int first = -1; /* the first value typed */
    px_value_type *saved = NULL; /* the types before, to go back to */
    note->n_wanted = mark_wanted(g, want);
    if (!note->n_wanted) goto done;
    if (o->no_probe) {
        snprintf(note->why, sizeof note->why, "with --no-probe ONNX Runtime was not asked for the types of the "
                 "values proteus' shape inference cannot type");
        snprintf(note->hint, sizeof note->hint, "drop --no-probe");
        goto count;
    }
    if (!o->model_path) {
        snprintf(note->why, sizeof note->why, "no model file to run in ONNX Runtime");
        goto count;
    }
    if ((st = make_request(g, want, o, &req, &req_len))) goto done;
    char *args[1] = {"types"};
    if (px_python_call("proteus_py.capture", args, 1, req, req_len, &out, &out_len)) {
        snprintf(note->why, sizeof note->why, "ONNX Runtime could not be asked for their types: %s", px_last_error());
        snprintf(note->hint, sizeof note->hint, "%s", HINT_PYTHON);
        px_clear_error();
        goto count;
    }
    px_jval *root = NULL;
    if (px_json_parse(&arena, out, out_len, "capture output", &root) || root->type != PX_J_OBJ) {
        snprintf(note->why, sizeof note->why, "ONNX Runtime's types could not be read: %s",
                 root && root->type != PX_J_OBJ ? "not an object" : px_last_error());
        px_clear_error();
        goto count;
    }
    const char *err = px_json_get_str(root, "error");
    if (err) {
        const px_jval *un = px_json_get(root, "unavailable");
        if (un && un->type == PX_J_BOOL && un->b) {
            snprintf(note->why, sizeof note->why, "to type them, %s", err);
            snprintf(note->hint, sizeof note->hint, "%s", HINT_PYTHON);
        } else {
            snprintf(note->why, sizeof note->why, "ONNX Runtime could not run the model to type them: %s", err);
            snprintf(note->hint, sizeof note->hint, "give --input-shape NAME=D0,D1,... or --input NAME=FILE.npy "
                     "for inputs random ones do not suit");
        }
        goto count;
    }
    const px_jval *vals = px_json_get(root, "values");
    if (vals && vals->type == PX_J_OBJ) {
        saved = calloc((size_t)g->n_values + 1, sizeof *saved);
        if (!saved) {
            st = px_nomem();
            goto done;
        }
        for (int v = 0; v < g->n_values; v++) saved[v] = (px_value_type){g->values[v].dtype, g->values[v].shape};
        if ((st = note_symbols(g, &taken))) goto done;
        int next = 0;
        for (size_t i = 0; i < vals->n; i++) {
            int v = px_graph_find(g, vals->keys[i]);
            if (v < 0 || !want[v] || vals->items[i]->type != PX_J_OBJ) continue;
            int set = 0;
            if ((st = apply_record(g, v, vals->items[i], &taken, &next, &set))) goto done;
            note->n_typed += set;
            if (set && first < 0) first = v;
        }
    }
    if (note->n_typed) {
        /* what follows the typed values gets its types from them */
        if (px_shape_infer(g, rep)) {
            /* the run at sample lengths said a dim is fixed that the model
             * ties to its inputs elsewhere: back to what inference knew */
            snprintf(note->why, sizeof note->why, "the types ONNX Runtime gave at the sample input lengths "
                     "contradict shape inference: %s", px_last_error());
            snprintf(note->hint, sizeof note->hint, "give --input-shape NAME=D0,D1,... with the lengths the model "
                     "is used at");
            px_clear_error();
            for (int v = 0; v < g->n_values; v++)
                if (want[v]) {
                    g->values[v].dtype = saved[v].dtype;
                    g->values[v].shape = saved[v].shape;
                }
            note->n_typed = 0;
            if ((st = px_shape_infer(g, rep))) goto done;
            goto count;
        }
        if (o->warn && first >= 0) {
            const px_node *nd = &g->nodes[g->values[first].producer];
            char msg[512];
            snprintf(msg, sizeof msg, "%d value%s got %s type from ONNX Runtime, where proteus' shape inference "
                     "stops (first: '%s', output of %s%s%s)", note->n_typed, note->n_typed == 1 ? "" : "s",
                     note->n_typed == 1 ? "its" : "their", g->values[first].name, nd->domain,
                     nd->domain[0] ? "." : "", nd->op_type);
            o->warn(o->warn_ctx, msg);
        }
    }
count:
    for (int v = 0; v < g->n_values; v++)
        if (want[v] && untyped(&g->values[v])) note->n_unknown++;
    if (note->n_unknown && !note->why[0]) {
        snprintf(note->why, sizeof note->why, "ONNX Runtime did not give the type of %d value%s (first: output "
                 "of %s): not a tensor, or not a value of the file (an inlined function)", note->n_unknown,
                 note->n_unknown == 1 ? "" : "s", first_untyped_op(g, want));
    }
done:
    px_strmap_free(&taken);
    px_arena_free(&arena);
    free(want);
    free(saved);
    free(req);
    free(out);
    return st;
}

px_status px_capture_explain(const px_capture_note *note, px_status st)
{
    if (!st || !note->why[0] || !note->n_unknown) return st;
    const char *e = px_last_error();
    if (!strstr(e, "type is unknown") && !strstr(e, "(undefined)")) return st;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", e);
    if (note->hint[0]) return px_fail(st, "%s (%s; %s)", msg, note->why, note->hint);
    return px_fail(st, "%s (%s)", msg, note->why);
}
