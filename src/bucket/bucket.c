#include "bucket/bucket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bucket/anonymize.h"
#include "bucket/key.h"
#include "onnx/onnx_io.h"
#include "partition/extract.h"
#include "partition/partition.h"
#include "sentinel/sentinel.h"
#include "shape/shape_infer.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/rng.h"
#include "util/subproc.h"

enum { NAME_HEX = 16 };

/* Uniform random file names: nothing in a name says real or sentinel. */
static px_status make_names(int count, uint64_t stream, px_arena *ar, char ***out)
{
    char **names = px_arena_array(ar, (size_t)count + 1, sizeof *names);
    if (!names) return px_nomem();
    px_rng rng;
    px_rng_seed(&rng, stream);
    for (int i = 0; i < count; i++) {
        for (;;) {
            char buf[NAME_HEX + 8];
            uint64_t a = px_rng_next(&rng);
            snprintf(buf, sizeof buf, "%016llx.onnx", (unsigned long long)a);
            int dup = 0;
            for (int j = 0; j < i && !dup; j++) dup = !strcmp(names[j], buf);
            if (dup) continue;
            if (!(names[i] = px_arena_strdup(ar, buf))) return px_nomem();
            break;
        }
    }
    *out = names;
    return PX_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static px_status key_tensor(px_key *k, const px_graph *g, int vid, px_key_tensor *t)
{
    const px_value *v = &g->values[vid];
    t->name = px_arena_strdup(&k->arena, v->name);
    t->dtype = v->dtype;
    t->shape.rank = v->shape.rank;
    if (!t->name) return px_nomem();
    if (v->shape.rank >= 0) {
        t->shape.dims = px_arena_array(&k->arena, (size_t)v->shape.rank + 1, sizeof *t->shape.dims);
        if (!t->shape.dims) return px_nomem();
        for (int i = 0; i < v->shape.rank; i++) {
            t->shape.dims[i].v = v->shape.dims[i].v;
            t->shape.dims[i].sym = v->shape.dims[i].sym ? px_arena_strdup(&k->arena, v->shape.dims[i].sym) : NULL;
        }
    }
    return PX_OK;
}

/* Records what each real file is as sent (node count, bytes: reassemble
 * bounds what may come back by them) and fingerprints it (python -m
 * proteus_py.probe compute-seeded) on inputs drawn from the owner's secret
 * "probe" stream: the optimizer cannot predict them. */
static px_status probe_parts(px_key *key, char **paths, int n, const px_owner_keys *okeys, int no_probe,
                             int *unprobed)
{
    px_status st = PX_OK;
    for (int i = 0; i < n && !st; i++) {
        px_graph pg;
        px_graph_init(&pg);
        struct stat fs;
        if ((st = px_onnx_load(paths[i], &pg))) break;
        int64_t params = 0, tbytes = 0;
        px_graph_param_count(&pg, &params, &tbytes);
        key->parts[i].sent_nodes = pg.n_nodes;
        key->parts[i].sent_tensor_bytes = tbytes;
        px_graph_free(&pg);
        key->parts[i].sent_bytes = stat(paths[i], &fs) == 0 ? (int64_t)fs.st_size : 0;
        size_t pl = strlen(paths[i]) + 8;
        char *ext = malloc(pl);
        if (!ext) return px_nomem();
        snprintf(ext, pl, "%s.data", paths[i]);
        if (stat(ext, &fs) == 0) key->parts[i].sent_bytes += (int64_t)fs.st_size;
        free(ext);
    }
    if (st || no_probe) return st;
    char **args = calloc(2 * (size_t)n + 2, sizeof *args);
    char (*seeds)[24] = calloc((size_t)n + 1, sizeof *seeds);
    if (!args || !seeds) {
        free(args);
        free(seeds);
        return px_nomem();
    }
    args[0] = "compute-seeded";
    for (int i = 0; i < n; i++) {
        uint64_t s = px_owner_stream(okeys, "probe", (uint64_t)i, 0) >> 11; /* 53 bits: exact in any JSON reader */
        snprintf(seeds[i], sizeof seeds[i], "%llu", (unsigned long long)s);
        args[1 + 2 * i] = seeds[i];
        args[2 + 2 * i] = paths[i];
    }
    char *out;
    size_t len;
    st = px_python_call("proteus_py.probe", args, 2 * n + 1, NULL, 0, &out, &len);
    free(args);
    free(seeds);
    if (st) return st;
    px_jval *root;
    st = px_json_parse(&key->arena, out, len, "probe output", &root);
    free(out);
    if (st) return st;
    if (root->type != PX_J_ARR || (int)root->n != n) return px_fail(PX_ERR_PARSE, "probe: unexpected output");
    for (int i = 0; i < n; i++) {
        const px_jval *p = px_json_get(root->items[i], "probe");
        key->parts[i].probe = p && p->type == PX_J_OBJ ? p : NULL;
        if (!key->parts[i].probe) (*unprobed)++;
    }
    return PX_OK;
}

static px_status write_manifest(const char *dir, char **files, int n)
{
    char *path = px_path_join(dir, "manifest.json");
    if (!path) return px_nomem();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        free(path);
        return px_nomem();
    }
    px_json j;
    px_json_init(&j, f, 1);
    px_json_obj_begin(&j);
    px_json_key(&j, "format");
    px_json_str(&j, "proteus-bucket/1");
    px_json_key(&j, "files");
    px_json_arr_begin(&j);
    for (int i = 0; i < n; i++) px_json_str(&j, files[i]);
    px_json_arr_end(&j);
    px_json_obj_end(&j);
    px_json_end(&j);
    fclose(f);
    px_status st = px_write_file_atomic(path, buf, len);
    free(buf);
    free(path);
    return st;
}

/* Every file gets the same timestamp: write order must not show. */
static void flatten_times(const char *dir, char **files, int n)
{
    struct timespec ts[2] = {{0, 0}, {0, 0}};
    for (int i = 0; i < n; i++) utimensat(AT_FDCWD, files[i], ts, 0);
    char *m = px_path_join(dir, "manifest.json");
    if (m) {
        utimensat(AT_FDCWD, m, ts, 0);
        free(m);
    }
}

/* The k sentinels of real part p, anonymized like it, each from its own
 * random stream so that one sentinel does not depend on another. */
static px_status write_sentinels(const px_graph *real, const px_sentinel_opts *sopts, const px_anon_header *hdr,
                                 const px_save_opts *save, const px_owner_keys *okeys, int p, int k, char **names,
                                 char **paths, const char *dir, px_key *key)
{
    px_key_part *kp = &key->parts[p];
    kp->n_sentinels = k;
    kp->sentinels = px_arena_array(&key->arena, (size_t)k + 1, sizeof *kp->sentinels);
    if (!kp->sentinels) return px_nomem();
    for (int j = 0; j < k; j++) {
        px_rng rng;
        px_rng_seed(&rng, px_owner_stream(okeys, "sentinel", (uint64_t)p, (uint64_t)j));
        px_graph sent, anon;
        px_status st = px_sentinel_generate(sopts, real, &rng, &sent);
        if (st) return px_fail_prefix(st, "subgraph %d", p);
        st = px_anonymize(&sent, hdr, &anon);
        px_graph_free(&sent);
        if (st) return st;
        paths[j] = px_path_join(dir, names[j]);
        st = paths[j] ? px_onnx_save(&anon, paths[j], save) : px_nomem();
        px_graph_free(&anon);
        if (st) return st;
        kp->sentinels[j] = names[j];
    }
    return PX_OK;
}

static void remove_tree(const char *dir, char **paths, int n)
{
    for (int i = 0; i < n; i++)
        if (paths[i]) unlink(paths[i]);
    char *m = px_path_join(dir, "manifest.json");
    if (m) {
        unlink(m);
        free(m);
    }
    rmdir(dir);
}

px_status px_obfuscate_graph(px_graph *g, const char *bucket_dir, const char *key_path,
                             const px_obfuscate_opts *opts, px_obfuscate_stats *stats)
{
    px_obfuscate_opts o = opts ? *opts : (px_obfuscate_opts){0};
    memset(stats, 0, sizeof *stats);
    if (!o.secret || o.secret->kind == PX_SECRET_NONE) return px_fail(PX_ERR_USAGE, "obfuscate needs a secret to seal the key");
    if (o.k < 0 || o.k > PX_MAX_SENTINELS) return px_fail(PX_ERR_USAGE, "-k must be between 0 and %d", PX_MAX_SENTINELS);
    px_sentinel_opts sopts = {.kind = PX_SENTINEL_RANDOM};
    if (o.sentinels) {
        int kind = px_sentinel_kind_from_name(o.sentinels);
        if (kind < 0) return px_fail(PX_ERR_USAGE, "--sentinels %s: unknown generator (known: random)", o.sentinels);
        sopts.kind = (px_sentinel_kind)kind;
    }
    sopts.weightless = px_sentinel_weightless(g);
    struct stat sb;
    if (stat(bucket_dir, &sb) == 0) return px_fail(PX_ERR_IO, "%s: already exists; remove it or pick another", bucket_dir);

    /* Control flow bodies would carry their original names into the bucket
     * and read outer values no subgraph file declares: refuse, clearly. */
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attrs; a++)
            if (g->nodes[i].attrs[a].type == PX_ATTR_GRAPH || g->nodes[i].attrs[a].type == PX_ATTR_GRAPHS)
                return px_fail(PX_ERR_UNSUPPORTED,
                               "node '%s' (%s) has a subgraph in attribute '%s': control flow is not supported yet",
                               g->nodes[i].name ? g->nodes[i].name : "?", g->nodes[i].op_type, g->nodes[i].attrs[a].name);
    px_status st = px_shape_infer(g, NULL);
    if (st) return st;
    if ((st = px_graph_sort(g))) return st;

    /* the owner's streams depend on the model too: buckets of two models
     * made with one secret and seed share no name and no sentinel */
    px_owner_keys okeys;
    uint8_t model_digest[32];
    px_graph_digest(g, model_digest);
    if ((st = px_owner_keys_derive(o.secret, o.seed, model_digest, &okeys))) return st;
    px_partition part;
    px_partition_opts po = {.subgraph_size = o.subgraph_size, .n_parts = o.n_parts, .seed = o.seed};
    if ((st = px_partition_graph(g, &po, &part))) {
        px_owner_keys_wipe(&okeys);
        return st;
    }
    stats->n_nodes = g->n_nodes;
    stats->n_parts = part.n_parts;
    stats->cut_edges = part.cut_edges;
    stats->min_part = g->n_nodes;
    for (int i = 0; i < part.n_parts; i++) {
        if (part.part_size[i] < stats->min_part) stats->min_part = part.part_size[i];
        if (part.part_size[i] > stats->max_part) stats->max_part = part.part_size[i];
    }

    px_key key;
    px_key_init(&key);
    int n_files = part.n_parts * (o.k + 1);
    char **names = NULL, **paths = NULL, **sorted = NULL;
    char *tmpdir = NULL;
    int made_dir = 0;
    /* Names come from a stream keyed by the secret: with the public source
     * and a guessed seed, an attacker could otherwise replay the draw and
     * read off which names went to real files.  They depend on k too, so
     * buckets of one model at two k share no name. */
    if ((st = make_names(n_files, px_owner_stream(&okeys, "names", (uint64_t)o.k, 0), &key.arena, &names))) goto out;
    paths = calloc((size_t)n_files + 1, sizeof *paths);
    sorted = calloc((size_t)n_files + 1, sizeof *sorted);
    if (!paths || !sorted) {
        st = px_nomem();
        goto out;
    }
    /* the bucket is built under a temporary name beside its target */
    {
        char *parent = px_path_dirname(bucket_dir);
        const char *base = strrchr(bucket_dir, '/') ? strrchr(bucket_dir, '/') + 1 : bucket_dir;
        size_t n = (parent ? strlen(parent) : 0) + strlen(base) + 32;
        tmpdir = malloc(n);
        if (!parent || !tmpdir) {
            free(parent);
            st = px_nomem();
            goto out;
        }
        snprintf(tmpdir, n, "%s/.%s.tmpXXXXXX", parent, base);
        free(parent);
        if (!mkdtemp(tmpdir)) {
            st = px_fail(PX_ERR_IO, "%s: cannot create: %s", bucket_dir, strerror(errno));
            goto out;
        }
        made_dir = 1;
    }
    key.k = o.k;
    key.ir_version = g->ir_version;
    key.n_opsets = g->n_opsets;
    key.opsets = px_arena_array(&key.arena, (size_t)g->n_opsets + 1, sizeof *key.opsets);
    key.parts = px_arena_array(&key.arena, (size_t)part.n_parts + 1, sizeof *key.parts);
    key.inputs = px_arena_array(&key.arena, (size_t)g->n_inputs + 1, sizeof *key.inputs);
    key.outputs = px_arena_array(&key.arena, (size_t)g->n_outputs + 1, sizeof *key.outputs);
    if (!key.opsets || !key.parts || !key.inputs || !key.outputs) {
        st = px_nomem();
        goto out;
    }
    for (int i = 0; i < g->n_opsets; i++) {
        key.opsets[i].domain = px_arena_strdup(&key.arena, g->opsets[i].domain);
        key.opsets[i].version = g->opsets[i].version;
    }
    key.producer_name = g->producer_name ? px_arena_strdup(&key.arena, g->producer_name) : "";
    key.producer_version = g->producer_version ? px_arena_strdup(&key.arena, g->producer_version) : "";
    key.graph_name = g->graph_name ? px_arena_strdup(&key.arena, g->graph_name) : "";
    for (int i = 0; i < g->n_inputs; i++) {
        if (g->values[g->inputs[i]].flags & PX_VAL_INIT) continue;
        if ((st = key_tensor(&key, g, g->inputs[i], &key.inputs[key.n_inputs++]))) goto out;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if ((st = key_tensor(&key, g, g->outputs[i], &key.outputs[key.n_outputs++]))) goto out;

    px_anon_header hdr = {g->ir_version, g->opsets, g->n_opsets};
    px_save_opts save = {.all_value_info = 1};
    for (int p = 0; p < part.n_parts; p++) {
        px_graph sub, anon;
        px_part_io io;
        if ((st = px_extract_part(g, &part, p, &sub, &io))) goto out;
        st = write_sentinels(&sub, &sopts, &hdr, &save, &okeys, p, o.k, names + part.n_parts + (size_t)p * o.k,
                             paths + part.n_parts + (size_t)p * o.k, tmpdir, &key);
        if (!st) st = px_anonymize(&sub, &hdr, &anon);
        px_graph_free(&sub);
        if (st) {
            px_part_io_free(&io);
            goto out;
        }
        px_key_part *kp = &key.parts[p];
        kp->file = names[p];
        kp->n_inputs = io.n_inputs;
        kp->n_outputs = io.n_outputs;
        kp->inputs = px_arena_array(&key.arena, (size_t)io.n_inputs + 1, sizeof *kp->inputs);
        kp->outputs = px_arena_array(&key.arena, (size_t)io.n_outputs + 1, sizeof *kp->outputs);
        if (!kp->inputs || !kp->outputs) st = px_nomem();
        for (int i = 0; i < io.n_inputs && !st; i++) st = key_tensor(&key, g, io.inputs[i], &kp->inputs[i]);
        for (int i = 0; i < io.n_outputs && !st; i++) st = key_tensor(&key, g, io.outputs[i], &kp->outputs[i]);
        px_part_io_free(&io);
        if (!st) {
            paths[p] = px_path_join(tmpdir, names[p]);
            st = paths[p] ? px_onnx_save(&anon, paths[p], &save) : px_nomem();
        }
        px_graph_free(&anon);
        if (st) goto out;
    }
    key.n_parts = part.n_parts;
    if ((st = probe_parts(&key, paths, part.n_parts, &okeys, o.no_probe, &stats->n_unprobed))) goto out;
    for (int i = 0; i < n_files; i++) sorted[i] = names[i];
    qsort(sorted, (size_t)n_files, sizeof *sorted, cmp_str);
    key.files = (const char **)sorted;
    key.n_files = n_files;
    if ((st = write_manifest(tmpdir, sorted, n_files))) goto out;
    flatten_times(tmpdir, paths, n_files);
    stats->n_files = n_files;

    /* key first (to its temporary), then the bucket into place, then the key */
    {
        uint8_t *kbuf = NULL;
        size_t klen = 0;
        if ((st = px_key_encode(&key, o.secret, &kbuf, &klen))) goto out;
        px_atomic ka;
        if ((st = px_atomic_open(&ka, key_path))) {
            free(kbuf);
            goto out;
        }
        px_atomic_write(&ka, kbuf, klen);
        free(kbuf);
        if (rename(tmpdir, bucket_dir) != 0) {
            st = px_fail(PX_ERR_IO, "%s: cannot move the bucket into place: %s", bucket_dir, strerror(errno));
            px_atomic_abort(&ka);
            goto out;
        }
        made_dir = 0;
        if ((st = px_atomic_commit(&ka))) {
            /* no key, no bucket: take the bucket back out */
            for (int i = 0; i < n_files; i++) {
                char *p = px_path_join(bucket_dir, names[i]);
                if (p) unlink(p);
                free(p);
            }
            char *m = px_path_join(bucket_dir, "manifest.json");
            if (m) unlink(m);
            free(m);
            rmdir(bucket_dir);
        }
    }
out:
    if (made_dir) remove_tree(tmpdir, paths, n_files);
    if (paths)
        for (int i = 0; i < n_files; i++) free(paths[i]);
    free(paths);
    free(sorted);
    free(tmpdir);
    px_key_free(&key);
    px_partition_free(&part);
    px_owner_keys_wipe(&okeys);
    return st;
}

px_status px_obfuscate(const char *model_path, const char *bucket_dir, const char *key_path,
                       const px_obfuscate_opts *opts, px_obfuscate_stats *stats)
{
    px_graph g;
    px_graph_init(&g);
    px_status st = px_onnx_load(model_path, &g);
    if (!st) {
        st = px_obfuscate_graph(&g, bucket_dir, key_path, opts, stats);
        if (st && st != PX_ERR_IO && st != PX_ERR_USAGE) px_fail_prefix(st, "%s", model_path);
    }
    px_graph_free(&g);
    return st;
}
