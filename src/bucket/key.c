#include "bucket/key.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fileio.h"
#include "util/json.h"
#include "util/jsonparse.h"

void px_key_init(px_key *k)
{
    memset(k, 0, sizeof *k);
    px_arena_init(&k->arena);
}

void px_key_free(px_key *k)
{
    px_arena_free(&k->arena);
    memset(k, 0, sizeof *k);
}

static void tensor_json(px_json *j, const px_key_tensor *t)
{
    px_json_obj_begin(j);
    px_json_key(j, "name");
    px_json_str(j, t->name);
    px_json_key(j, "dtype");
    px_json_str(j, px_dtype_name(t->dtype));
    px_json_key(j, "shape");
    if (t->shape.rank < 0) px_json_null(j);
    else {
        px_json_arr_begin(j);
        for (int i = 0; i < t->shape.rank; i++) {
            if (t->shape.dims[i].v >= 0) px_json_int(j, t->shape.dims[i].v);
            else if (t->shape.dims[i].sym) px_json_str(j, t->shape.dims[i].sym);
            else px_json_null(j);
        }
        px_json_arr_end(j);
    }
    px_json_obj_end(j);
}

static void tensors_json(px_json *j, const char *key, const px_key_tensor *t, int n)
{
    px_json_key(j, key);
    px_json_arr_begin(j);
    for (int i = 0; i < n; i++) tensor_json(j, &t[i]);
    px_json_arr_end(j);
}

void px_key_write(const px_key *k, FILE *f)
{
    px_json j;
    px_json_init(&j, f, 1);
    px_json_obj_begin(&j);
    px_json_key(&j, "format");
    px_json_str(&j, "proteus-key/1");
    px_json_key(&j, "k");
    px_json_int(&j, k->k);
    px_json_key(&j, "model");
    px_json_obj_begin(&j);
    px_json_key(&j, "ir_version");
    px_json_int(&j, k->ir_version);
    px_json_key(&j, "opsets");
    px_json_arr_begin(&j);
    for (int i = 0; i < k->n_opsets; i++) {
        px_json_obj_begin(&j);
        px_json_key(&j, "domain");
        px_json_str(&j, k->opsets[i].domain);
        px_json_key(&j, "version");
        px_json_int(&j, k->opsets[i].version);
        px_json_obj_end(&j);
    }
    px_json_arr_end(&j);
    px_json_key(&j, "producer_name");
    px_json_str(&j, k->producer_name);
    px_json_key(&j, "producer_version");
    px_json_str(&j, k->producer_version);
    px_json_key(&j, "graph_name");
    px_json_str(&j, k->graph_name);
    tensors_json(&j, "inputs", k->inputs, k->n_inputs);
    tensors_json(&j, "outputs", k->outputs, k->n_outputs);
    px_json_obj_end(&j);
    px_json_key(&j, "parts");
    px_json_arr_begin(&j);
    for (int p = 0; p < k->n_parts; p++) {
        px_json_obj_begin(&j);
        px_json_key(&j, "file");
        px_json_str(&j, k->parts[p].file);
        tensors_json(&j, "inputs", k->parts[p].inputs, k->parts[p].n_inputs);
        tensors_json(&j, "outputs", k->parts[p].outputs, k->parts[p].n_outputs);
        px_json_key(&j, "sentinels");
        px_json_arr_begin(&j);
        for (int i = 0; i < k->parts[p].n_sentinels; i++) px_json_str(&j, k->parts[p].sentinels[i]);
        px_json_arr_end(&j);
        if (k->parts[p].sent_nodes > 0 || k->parts[p].sent_bytes > 0) {
            px_json_key(&j, "sent");
            px_json_obj_begin(&j);
            px_json_key(&j, "nodes");
            px_json_int(&j, k->parts[p].sent_nodes);
            px_json_key(&j, "bytes");
            px_json_int(&j, k->parts[p].sent_bytes);
            px_json_key(&j, "tensor_bytes");
            px_json_int(&j, k->parts[p].sent_tensor_bytes);
            px_json_obj_end(&j);
        }
        if (k->parts[p].probe) {
            px_json_key(&j, "probe");
            px_json_write_val(&j, k->parts[p].probe);
        }
        px_json_obj_end(&j);
    }
    px_json_arr_end(&j);
    px_json_key(&j, "files");
    px_json_arr_begin(&j);
    for (int i = 0; i < k->n_files; i++) px_json_str(&j, k->files[i]);
    px_json_arr_end(&j);
    px_json_obj_end(&j);
    px_json_end(&j);
}

void px_key_write_view(const px_key *k, FILE *f)
{
    px_json j;
    px_json_init(&j, f, 1);
    px_json_obj_begin(&j);
    px_json_key(&j, "n");
    px_json_int(&j, k->n_parts);
    px_json_key(&j, "k");
    px_json_int(&j, k->k);
    px_json_key(&j, "real");
    px_json_arr_begin(&j);
    for (int p = 0; p < k->n_parts; p++) px_json_str(&j, k->parts[p].file);
    px_json_arr_end(&j);
    px_json_key(&j, "files");
    px_json_arr_begin(&j);
    for (int i = 0; i < k->n_files; i++) px_json_str(&j, k->files[i]);
    px_json_arr_end(&j);
    px_json_key(&j, "groups");
    px_json_arr_begin(&j);
    for (int p = 0; p < k->n_parts; p++) {
        px_json_obj_begin(&j);
        px_json_key(&j, "real");
        px_json_str(&j, k->parts[p].file);
        px_json_key(&j, "sentinels");
        px_json_arr_begin(&j);
        for (int i = 0; i < k->parts[p].n_sentinels; i++) px_json_str(&j, k->parts[p].sentinels[i]);
        px_json_arr_end(&j);
        px_json_obj_end(&j);
    }
    px_json_arr_end(&j);
    px_json_key(&j, "model");
    px_json_obj_begin(&j);
    px_json_key(&j, "graph_name");
    px_json_str(&j, k->graph_name ? k->graph_name : "");
    px_json_key(&j, "producer_name");
    px_json_str(&j, k->producer_name ? k->producer_name : "");
    tensors_json(&j, "inputs", k->inputs, k->n_inputs);
    tensors_json(&j, "outputs", k->outputs, k->n_outputs);
    px_json_obj_end(&j);
    px_json_obj_end(&j);
    px_json_end(&j);
}

/* --- reading -------------------------------------------------------------- */

static px_status bad(const char *path, const char *what)
{
    return px_fail(PX_ERR_PARSE, "%s: not a proteus key (%s)", path, what);
}

static px_status read_tensors(px_key *k, const char *path, const px_jval *arr, px_key_tensor **out, int *n)
{
    if (!arr || arr->type != PX_J_ARR) return bad(path, "missing tensor list");
    *n = (int)arr->n;
    *out = px_arena_array(&k->arena, arr->n + 1, sizeof **out);
    if (!*out) return px_nomem();
    for (size_t i = 0; i < arr->n; i++) {
        const px_jval *t = arr->items[i];
        px_key_tensor *kt = &(*out)[i];
        kt->name = px_json_get_str(t, "name");
        const char *dt = px_json_get_str(t, "dtype");
        if (!kt->name || !dt) return bad(path, "tensor without name or dtype");
        kt->dtype = px_dtype_from_name(dt);
        if (kt->dtype == PX_DT_UNDEFINED) return bad(path, "unknown dtype");
        const px_jval *s = px_json_get(t, "shape");
        if (!s || s->type == PX_J_NULL) {
            kt->shape.rank = -1;
            continue;
        }
        if (s->type != PX_J_ARR || s->n > PX_MAX_RANK) return bad(path, "bad shape");
        kt->shape.rank = (int)s->n;
        kt->shape.dims = px_arena_array(&k->arena, s->n + 1, sizeof *kt->shape.dims);
        if (!kt->shape.dims) return px_nomem();
        for (size_t d = 0; d < s->n; d++) {
            const px_jval *dv = s->items[d];
            kt->shape.dims[d].v = -1;
            if (dv->type == PX_J_NUM && dv->is_int && dv->i >= 0) kt->shape.dims[d].v = dv->i;
            else if (dv->type == PX_J_STR) kt->shape.dims[d].sym = dv->s;
            else if (dv->type != PX_J_NULL) return bad(path, "bad dimension");
        }
    }
    return PX_OK;
}

static int safe_file_name(const char *s)
{
    if (!*s || strlen(s) > 255 || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (*s == '/' || (unsigned char)*s < 0x20) return 0;
    return 1;
}

static px_status read_names(px_key *k, const char *path, const px_jval *arr, const char ***out, int *n)
{
    if (!arr || arr->type != PX_J_ARR) return bad(path, "missing file list");
    *out = px_arena_array(&k->arena, arr->n + 1, sizeof **out);
    if (!*out) return px_nomem();
    for (size_t i = 0; i < arr->n; i++) {
        if (arr->items[i]->type != PX_J_STR || !safe_file_name(arr->items[i]->s)) return bad(path, "bad file name");
        (*out)[i] = arr->items[i]->s;
    }
    *n = (int)arr->n;
    return PX_OK;
}

px_status px_key_read(const char *path, px_key *k)
{
    char *text;
    size_t len;
    px_status st = px_read_file(path, &text, &len);
    if (st) return st;
    st = px_key_parse(path, text, len, k);
    free(text);
    return st;
}

px_status px_key_encode(const px_key *k, const px_secret *secret, uint8_t **out, size_t *out_n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return px_nomem();
    px_key_write(k, f);
    if (fclose(f)) {
        free(buf);
        return px_nomem();
    }
    px_status st = px_key_seal(secret, (const uint8_t *)buf, len, out, out_n);
    sodium_memzero(buf, len);
    free(buf);
    return st;
}

px_status px_key_load(const char *path, const px_secret *secret, px_key *k)
{
    char *data;
    size_t len;
    px_status st = px_read_file(path, &data, &len);
    if (st) return st;
    if (!px_key_is_sealed((const uint8_t *)data, len)) {
        int json = len > 0 && data[0] == '{';
        free(data);
        if (json) return px_fail(PX_ERR_SECURITY, "%s: the key is not encrypted (plain JSON); proteus only reads sealed keys", path);
        return px_fail(PX_ERR_PARSE, "%s: not a proteus key file", path);
    }
    uint8_t *plain;
    size_t n;
    st = px_key_open(secret, path, (const uint8_t *)data, len, &plain, &n);
    free(data);
    if (st) return st;
    st = px_key_parse(path, (const char *)plain, n, k);
    px_key_plain_free(plain, n);
    return st;
}

px_status px_key_passwd(const char *path, const px_secret *old_secret, const px_secret *new_secret)
{
    char *data;
    size_t len;
    px_status st = px_read_file(path, &data, &len);
    if (st) return st;
    if (!px_key_is_sealed((const uint8_t *)data, len)) {
        free(data);
        return px_fail(PX_ERR_PARSE, "%s: not a proteus key file", path);
    }
    struct stat sb;
    int have_mode = stat(path, &sb) == 0;
    /* the plaintext must be a key: never re-seal something else */
    uint8_t *plain = NULL;
    size_t n = 0;
    st = px_key_open(old_secret, path, (const uint8_t *)data, len, &plain, &n);
    if (!st) {
        px_key k;
        px_key_init(&k);
        st = px_key_parse(path, (const char *)plain, n, &k);
        px_key_free(&k);
        px_key_plain_free(plain, n);
    }
    uint8_t *sealed = NULL;
    size_t sealed_n = 0;
    if (!st) st = px_key_reseal(old_secret, new_secret, path, (const uint8_t *)data, len, &sealed, &sealed_n);
    free(data);
    if (st) return st;
    px_atomic a;
    if ((st = px_atomic_open(&a, path))) {
        free(sealed);
        return st;
    }
    if (have_mode && fchmod(fileno(a.f), sb.st_mode & 07777) != 0) {
        /* the default mode is fine */
    }
    px_atomic_write(&a, sealed, sealed_n);
    free(sealed);
    if ((st = px_atomic_commit(&a))) px_atomic_abort(&a);
    return st;
}

px_status px_key_parse(const char *path, const char *text, size_t len, px_key *k)
{
    px_jval *root;
    px_status st = px_json_parse(&k->arena, text, len, path, &root);
    if (st) return st;
    if (root->type != PX_J_OBJ) return bad(path, "not a JSON object");
    const char *fmt = px_json_get_str(root, "format");
    if (!fmt || strcmp(fmt, "proteus-key/1")) return bad(path, "unknown format");
    int64_t kk = 0;
    if (!px_json_get_int(root, "k", &kk) || kk < 0 || kk > PX_MAX_SENTINELS) return bad(path, "bad k");
    k->k = (int)kk;
    const px_jval *model = px_json_get(root, "model");
    if (!model || model->type != PX_J_OBJ) return bad(path, "no model");
    if (!px_json_get_int(model, "ir_version", &k->ir_version)) return bad(path, "no ir_version");
    const px_jval *ops = px_json_get_arr(model, "opsets");
    if (!ops) return bad(path, "no opsets");
    k->opsets = px_arena_array(&k->arena, ops->n + 1, sizeof *k->opsets);
    if (!k->opsets) return px_nomem();
    for (size_t i = 0; i < ops->n; i++) {
        k->opsets[i].domain = px_json_get_str(ops->items[i], "domain");
        if (!k->opsets[i].domain || !px_json_get_int(ops->items[i], "version", &k->opsets[i].version))
            return bad(path, "bad opset");
    }
    k->n_opsets = (int)ops->n;
    k->producer_name = px_json_get_str(model, "producer_name");
    k->producer_version = px_json_get_str(model, "producer_version");
    k->graph_name = px_json_get_str(model, "graph_name");
    if ((st = read_tensors(k, path, px_json_get(model, "inputs"), &k->inputs, &k->n_inputs))) return st;
    if ((st = read_tensors(k, path, px_json_get(model, "outputs"), &k->outputs, &k->n_outputs))) return st;
    const px_jval *parts = px_json_get_arr(root, "parts");
    if (!parts || parts->n == 0) return bad(path, "no parts");
    k->n_parts = (int)parts->n;
    k->parts = px_arena_array(&k->arena, parts->n + 1, sizeof *k->parts);
    if (!k->parts) return px_nomem();
    for (size_t p = 0; p < parts->n; p++) {
        px_key_part *kp = &k->parts[p];
        kp->file = px_json_get_str(parts->items[p], "file");
        if (!kp->file || !safe_file_name(kp->file)) return bad(path, "bad part file name");
        if ((st = read_tensors(k, path, px_json_get(parts->items[p], "inputs"), &kp->inputs, &kp->n_inputs)) ||
            (st = read_tensors(k, path, px_json_get(parts->items[p], "outputs"), &kp->outputs, &kp->n_outputs)))
            return st;
        const px_jval *sn = px_json_get(parts->items[p], "sentinels");
        if (sn && (st = read_names(k, path, sn, &kp->sentinels, &kp->n_sentinels))) return st;
        if (kp->n_sentinels != k->k) return bad(path, "a part's sentinel count differs from k");
        const px_jval *sent = px_json_get(parts->items[p], "sent");
        if (sent) {
            if (sent->type != PX_J_OBJ || !px_json_get_int(sent, "nodes", &kp->sent_nodes) ||
                !px_json_get_int(sent, "bytes", &kp->sent_bytes) ||
                !px_json_get_int(sent, "tensor_bytes", &kp->sent_tensor_bytes) || kp->sent_nodes < 0 ||
                kp->sent_bytes < 0 || kp->sent_tensor_bytes < 0 || kp->sent_nodes > PX_MAX_NODES ||
                kp->sent_bytes > ((int64_t)1 << 50) || kp->sent_tensor_bytes > ((int64_t)1 << 50))
                return bad(path, "bad sent sizes");
        }
        kp->probe = px_json_get(parts->items[p], "probe");
        if (kp->probe && kp->probe->type != PX_J_OBJ) return bad(path, "bad probe");
    }
    if ((st = read_names(k, path, px_json_get(root, "files"), &k->files, &k->n_files))) return st;
    if (k->k < 0 || (int64_t)k->n_parts * (k->k + 1) != k->n_files) return bad(path, "file count is not n(k+1)");
    return PX_OK;
}
