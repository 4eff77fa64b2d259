#include "bucket/bucket.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bucket/anonymize.h"
#include "bucket/capture.h"
#include "bucket/key.h"
#include "bucket/probe.h"
#include "bucket/sentinel_writer.h"
#include "bucket/track.h"
#include "partition/fusion_probe.h"
#include "ir/body.h"
#include "ir/skeleton.h"
#include "onnx/onnx_io.h"
#include "partition/extract.h"
#include "partition/partition.h"
#include "sentinel/sentinel.h"
#include "shape/shape_infer.h"
#include "util/cancel.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/rng.h"
#include "util/subproc.h"

enum { NAME_HEX = 16 };

typedef struct name_slot {
    const char *name;
    int idx;
} name_slot;

static int cmp_slot(const void *a, const void *b)
{
    return strcmp(((const name_slot *)a)->name, ((const name_slot *)b)->name);
}


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

/* Every file gets the same timestamps, set in name order (setting them
 * changes ctime): write order must not show. */
static void flatten_times(const char *dir, char **paths, const name_slot *by_name, int n)
{
    struct timespec ts[2] = {{0, 0}, {0, 0}};
    for (int i = 0; i < n; i++) utimensat(AT_FDCWD, paths[by_name[i].idx], ts, 0);
    char *m = px_path_join(dir, "manifest.json");
    if (m) {
        utimensat(AT_FDCWD, m, ts, 0);
        free(m);
    }
}

/* The real file of part p: anonymized, saved, its interface in the key. */
static px_status write_real(const px_graph *g, px_graph *sub, const px_part_io *io, const px_anon_header *hdr,
                            const px_save_opts *save, px_key *key, int p, const char *path)
{
    px_graph anon;
    px_status st = px_anonymize(sub, hdr, &anon);
    if (st) return st;
    px_key_part *kp = &key->parts[p];
    kp->n_inputs = io->n_inputs;
    kp->n_outputs = io->n_outputs;
    kp->inputs = px_arena_array(&key->arena, (size_t)io->n_inputs + 1, sizeof *kp->inputs);
    kp->outputs = px_arena_array(&key->arena, (size_t)io->n_outputs + 1, sizeof *kp->outputs);
    if (!kp->inputs || !kp->outputs) st = px_nomem();
    for (int i = 0; i < io->n_inputs && !st; i++) st = key_tensor(key, g, io->inputs[i], &kp->inputs[i]);
    for (int i = 0; i < io->n_outputs && !st; i++) st = key_tensor(key, g, io->outputs[i], &kp->outputs[i]);
    /* what was sent bounds what may come back (reassemble) */
    int64_t params = 0;
    kp->sent_nodes = anon.n_nodes;
    px_graph_param_count(&anon, &params, &kp->sent_tensor_bytes);
    if (!st) st = px_onnx_save(&anon, path, save);
    px_graph_free(&anon);
    struct stat fs;
    char ext[4096];
    if (!st && stat(path, &fs) == 0) kp->sent_bytes = (int64_t)fs.st_size;
    if (!st && snprintf(ext, sizeof ext, "%s.data", path) < (int)sizeof ext && stat(ext, &fs) == 0)
        kp->sent_bytes += (int64_t)fs.st_size;
    return st;
}

typedef struct sent_progress {
    const px_obfuscate_opts *o;
    int before, total; /* files written before the sentinels; all files */
} sent_progress;

/* What a helper thread returns: its status and message (messages are per
 * thread), raised again on the calling thread. */
typedef struct thread_result {
    px_status st;
    char err[1024];
} thread_result;

static void keep_result(thread_result *r, px_status st)
{
    r->st = st;
    if (st) snprintf(r->err, sizeof r->err, "%s", px_last_error());
}

static px_status raise_result(const thread_result *r) { return r->st ? px_fail(r->st, "%s", r->err) : PX_OK; }

/* The model's weight statistics and track donors, on a thread of their own. */
typedef struct fit_job {
    const px_graph *g;
    int weightless;
    px_wstats *wfit;
    px_track_donors donors;
    thread_result res;
} fit_job;

static void *fit_thread(void *arg)
{
    fit_job *j = arg;
    px_status st = j->weightless ? PX_OK : px_wstats_fit(j->g, &j->wfit);
    keep_result(&j->res, st ? st : px_track_donors_init(j->g, &j->donors));
    return NULL;
}

/* Per part, the part whose sentinel streams it uses: the first earlier
 * cluster whose every member it shares a skeleton with (sharing is not
 * transitive: two blocks of one interface, each like a block of another,
 * may differ inside), else its own. */
static void stream_clusters(const px_skeleton *skel, int n, int *stream_part)
{
    for (int p = 0; p < n; p++) {
        stream_part[p] = p;
        for (int q = 0; q < p && stream_part[p] == p; q++) {
            int all = stream_part[q] == q;
            for (int r = q; r < p && all; r++)
                if (stream_part[r] == q) all = px_skeleton_shared(&skel[r], &skel[p]);
            if (all) stream_part[p] = q;
        }
    }
}

/* px_probe_parts on a thread of its own. */
typedef struct probe_job {
    px_key *key;
    char **paths;
    int n;
    px_graph *g;
    const px_probe_model *pm;
    const px_owner_keys *okeys;
    int no_probe, *unprobed;
    char *why;
    size_t why_len;
    thread_result res;
} probe_job;

static void *probe_thread(void *arg)
{
    probe_job *j = arg;
    keep_result(&j->res, px_probe_parts(j->key, j->paths, j->n, j->g, j->pm, j->okeys, j->no_probe, j->unprobed,
                                        j->why, j->why_len));
    return NULL;
}

static void sentinel_progress(void *ctx, int done)
{
    const sent_progress *c = ctx;
    if (c->o->progress) c->o->progress(c->o->progress_ctx, "writing files", c->before + done, c->total);
}

/* A hidden temporary folder beside the bucket: "PARENT/.BASE.WHATXXXXXX". */
static px_status make_temp_dir(const char *bucket_dir, const char *what, char **out)
{
    char *parent = px_path_dirname(bucket_dir);
    const char *base = strrchr(bucket_dir, '/') ? strrchr(bucket_dir, '/') + 1 : bucket_dir;
    size_t n = (parent ? strlen(parent) : 0) + strlen(base) + strlen(what) + 16;
    char *d = malloc(n);
    if (!parent || !d) {
        free(parent);
        free(d);
        return px_nomem();
    }
    snprintf(d, n, "%s/.%s.%sXXXXXX", parent, base, what);
    free(parent);
    if (!mkdtemp(d)) {
        px_status st = px_fail(PX_ERR_IO, "%s: cannot create a temporary folder beside it: %s", bucket_dir, strerror(errno));
        free(d);
        return st;
    }
    *out = d;
    return PX_OK;
}

/* Copies src to a new file dst (which must not exist) and syncs it. */
static px_status copy_new_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return px_fail(PX_ERR_IO, "%s: cannot open: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return px_fail(PX_ERR_IO, "%s: cannot create: %s", dst, strerror(errno));
    }
    px_status st = PX_OK;
    /* in the kernel, without a trip through user memory; where the
     * filesystem cannot (EXDEV, ENOSYS, EINVAL), by read and write */
    for (;;) {
        ssize_t r = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
    }
    char buf[1 << 16];
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = px_fail(PX_ERR_IO, "%s: cannot read: %s", src, strerror(errno));
            break;
        }
        if (r == 0) break;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                st = px_fail(PX_ERR_IO, "%s: cannot write: %s", dst, strerror(errno));
                break;
            }
            off += w;
        }
        if (st) break;
    }
    close(in);
    if (close(out) != 0 && !st) st = px_fail(PX_ERR_IO, "%s: cannot write: %s", dst, strerror(errno));
    if (st) unlink(dst);
    return st;
}

/* A file's external data ("<file>.data"), when it has one. */
static px_status copy_external(const char *src, const char *dst)
{
    size_t a = strlen(src) + 6, b = strlen(dst) + 6;
    char *s = malloc(a), *d = malloc(b);
    px_status st = s && d ? PX_OK : px_nomem();
    struct stat sb;
    if (!st) {
        snprintf(s, a, "%s.data", src);
        snprintf(d, b, "%s.data", dst);
        if (stat(s, &sb) == 0) st = copy_new_file(s, d);
    }
    free(s);
    free(d);
    return st;
}

/* Hidden temporaries of an earlier, killed run beside the bucket. */
static void report_stale(const char *bucket_dir, const px_obfuscate_opts *o)
{
    if (!o->warn) return;
    char *parent = px_path_dirname(bucket_dir);
    const char *base = strrchr(bucket_dir, '/') ? strrchr(bucket_dir, '/') + 1 : bucket_dir;
    DIR *d = parent ? opendir(parent) : NULL;
    if (d) {
        size_t bl = strlen(base);
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *n = e->d_name;
            if (n[0] != '.' || strncmp(n + 1, base, bl) || n[1 + bl] != '.') continue;
            if (strncmp(n + 2 + bl, "tmp", 3) && strncmp(n + 2 + bl, "stage", 5)) continue;
            char msg[4096];
            snprintf(msg, sizeof msg, "%s/%s: a temporary folder left by an interrupted run; remove it", parent, n);
            o->warn(o->warn_ctx, msg);
        }
        closedir(d);
    }
    free(parent);
}

static void remove_tree(const char *dir, char **paths, int n)
{
    for (int i = 0; i < n; i++) {
        if (!paths[i]) continue;
        unlink(paths[i]);
        char ext[4096];
        if (snprintf(ext, sizeof ext, "%s.data", paths[i]) < (int)sizeof ext) unlink(ext);
    }
    char *m = px_path_join(dir, "manifest.json");
    if (m) {
        unlink(m);
        free(m);
    }
    rmdir(dir);
}

/* What the owner should know about the model before trusting the bucket:
 * ops proteus has no rules for and opsets newer than it knows. */
static void report_model(const px_graph *g, const px_shape_report *rep, const px_obfuscate_opts *o)
{
    if (!o->warn) return;
    char msg[512];
    if (rep->n_unsupported) {
        snprintf(msg, sizeof msg, "%d node%s with ops proteus has no shape rules for (first: %s): their output types "
                 "come from the file's declarations or from ONNX Runtime, and sentinels do not contain such ops", rep->n_unsupported,
                 rep->n_unsupported == 1 ? "" : "s", rep->first_unsupported ? rep->first_unsupported : "?");
        o->warn(o->warn_ctx, msg);
    }
    if (rep->n_declared_conflicts) {
        snprintf(msg, sizeof msg, "%d graph output%s declared with a shape that contradicts inference (first: '%s'): "
                 "the inferred shape is used", rep->n_declared_conflicts, rep->n_declared_conflicts == 1 ? "" : "s",
                 rep->first_declared_conflict);
        o->warn(o->warn_ctx, msg);
    }
    for (int i = 0; i < g->n_opsets; i++) {
        const char *d = g->opsets[i].domain;
        if ((!d[0] || !strcmp(d, "ai.onnx")) && g->opsets[i].version > PX_MAX_KNOWN_OPSET) {
            snprintf(msg, sizeof msg, "ai.onnx opset %lld is newer than proteus knows (%d): ops may be checked by "
                     "older rules", (long long)g->opsets[i].version, PX_MAX_KNOWN_OPSET);
            o->warn(o->warn_ctx, msg);
        }
    }
}

/* The promise is (k+1)^n candidate models: refuse one too small to mean
 * anything unless the owner says so. */
static px_status check_promise(int n, int k, int allow_weak)
{
    double lg = n * log10((double)k + 1.0);
    if (allow_weak || (n >= 3 && lg >= 6.0)) return PX_OK;
    if (k == 0)
        return px_fail(PX_ERR_UNSUPPORTED, "-k 0 hides nothing (every file is real); give -k K (default 20), or "
                                     "--allow-weak to send the model's parts unhidden");
    return px_fail(PX_ERR_UNSUPPORTED, "%d subgraph%s with k=%d promise only (k+1)^n = 10^%.1f candidate models (want n >= 3 "
                   "and 10^6); raise -k, lower --subgraph-size, or give --allow-weak", n, n == 1 ? "" : "s", k, lg);
}

/* Opset imports of domains no node uses (left by inlined functions, or an
 * exporter's own domain) would travel in every bucket file's header. */
static void drop_unused_domains(px_graph *g)
{
    if (px_graph_has_bodies(g)) return; /* bodies may use any domain */
    int k = 0;
    for (int i = 0; i < g->n_opsets; i++) {
        const char *d = g->opsets[i].domain;
        int used = !d[0] || !strcmp(d, "ai.onnx");
        for (int n = 0; n < g->n_nodes && !used; n++) used = !strcmp(g->nodes[n].domain, d);
        if (used) g->opsets[k++] = g->opsets[i];
    }
    g->n_opsets = k;
}

static px_status obfuscate_graph(px_graph *g, const char *bucket_dir, const char *key_path,
                                 const px_obfuscate_opts *opts, const px_generator *genm, px_obfuscate_stats *stats)
{
    px_obfuscate_opts o = opts ? *opts : (px_obfuscate_opts){0};
    memset(stats, 0, sizeof *stats);
    if (!o.secret || o.secret->kind == PX_SECRET_NONE) return px_fail(PX_ERR_USAGE, "obfuscate needs a secret to seal the key");
    if (o.k < 0 || o.k > PX_MAX_SENTINELS) return px_fail(PX_ERR_USAGE, "-k must be between 0 and %d", PX_MAX_SENTINELS);
    px_sentinel_opts sopts = {.kind = PX_SENTINEL_RANDOM};
    if (o.sentinels) {
        int kind = px_sentinel_kind_from_name(o.sentinels);
        if (kind < 0) return px_fail(PX_ERR_USAGE, "--sentinels %s: unknown generator (known: random, learned)", o.sentinels);
        sopts.kind = (px_sentinel_kind)kind;
    }
    sopts.generator = genm;
    sopts.model = g;
    sopts.n_stand_in = &stats->n_stand_in;
    sopts.weightless = px_sentinel_weightless(g);
    struct stat sb;
    if (stat(bucket_dir, &sb) == 0) return px_fail(PX_ERR_IO, "%s: already exists; remove it or pick another", bucket_dir);
    if (!strcmp(bucket_dir, key_path)) return px_fail(PX_ERR_USAGE, "%s: the key and the bucket need different paths", key_path);
    if (!o.force && lstat(key_path, &sb) == 0)
        return px_fail(PX_ERR_IO, "%s: already exists (the bucket it opens would be lost); give --force to replace it",
                       key_path);
    report_stale(bucket_dir, &o);
    if (g->n_nodes == 0) return px_fail(PX_ERR_INVALID, "the graph has no nodes: there is nothing to obfuscate");
    if (sopts.weightless && !o.weightless)
        return px_fail(PX_ERR_UNSUPPORTED, "the model has no weight data (a weightless export): optimizers cannot run its "
                                     "files; fill them (proteus rehydrate) or give --weightless");
    if (g->n_functions)
        return px_fail(PX_ERR_UNSUPPORTED, "the model has %d model-local function%s: their calls would reach the "
                       "optimizer without their bodies; inline them first (onnx.inliner.inline_local_functions)",
                       g->n_functions, g->n_functions == 1 ? "" : "s");
    for (int i = 0; i < g->n_opsets; i++)
        if (g->opsets[i].version < 1)
            return px_fail(PX_ERR_INVALID, "opset import '%s' has version %lld", g->opsets[i].domain[0] ? g->opsets[i].domain
                           : "ai.onnx", (long long)g->opsets[i].version);

    if (o.n_input_shapes) {
        px_status sst = px_input_shapes_check(g, o.input_shapes, o.n_input_shapes);
        if (sst) return sst;
    }
    drop_unused_domains(g);
    px_shape_report rep = {0};
    px_status st = px_shape_infer(g, &rep);
    if (st) return st;
    px_capture_note cap; /* types from ONNX Runtime where inference stops */
    if ((st = px_capture_types(g, &o, &rep, &cap))) return st;
    if ((st = px_graph_sort(g))) return st;
    report_model(g, &rep, &o);

    /* The owner's streams are keyed by the secret and the model's
     * architecture (its graph without float weight values), not by --seed:
     * obfuscating the model again, with another seed or after fine-tuning,
     * draws the same partition, names and sentinel structures, and sentinel
     * weights move with the real ones (track.h), so two buckets cannot be
     * intersected.  Buckets of two architectures share no name and no
     * sentinel. */
    px_owner_keys okeys;
    uint8_t arch_digest[32];
    px_graph_arch_digest(g, arch_digest);
    if ((st = px_owner_keys_derive(o.secret, 0, arch_digest, &okeys))) return st;
    px_partition part;
    int64_t *part_w = NULL; /* float weight elements per part (sopts.part_weights) */
    /* the cut is drawn from the owner's stream too: two owners (or two
     * secrets) obfuscating one model do not send byte-identical real files */
    px_partition_opts po = {.subgraph_size = o.subgraph_size, .n_parts = o.n_parts,
                            .seed = px_owner_stream(&okeys, "partition", 0, 0)};
    /* a small model at the default size would be one or two files (the
     * whole model, weights included, in the clear among its sentinels): by
     * default ask for as many subgraphs as the promise needs */
    if (!o.subgraph_size && !o.n_parts) {
        int want = o.k > 0 ? (int)ceil(6.0 / log10((double)o.k + 1.0)) : 3;
        if (want < 3) want = 3;
        if (g->n_nodes / 12 < want) po.n_parts = g->n_nodes < want ? g->n_nodes : want;
    }
    /* Sentinel weights are drawn like the model's own (fitted once) and
     * follow its tensors (track.h): both only read the model, on a thread
     * of their own while the fusion probe (Python) and the partition run.
     * The graph is indexed first: nothing below writes to it. */
    fit_job fj = {g, sopts.weightless, NULL, {0}, {PX_OK, ""}};
    pthread_t fit_tid;
    int fitting = !px_graph_index(g) && !pthread_create(&fit_tid, NULL, fit_thread, &fj);
    float *fw = NULL;
    int parted = 0;
    if (!(st = px_fusion_weights_for(o.model_path, g, o.fusion_from, o.warn, o.warn_ctx,
                                     &fw))) {
        po.edge_weight = fw;
        po.n_edge_weight = fw ? g->n_values : 0;
        st = px_partition_graph(g, &po, &part);
        parted = !st;
        free(fw);
    }
    if (fitting) pthread_join(fit_tid, NULL);
    else if (!st) fit_thread(&fj);
    if (!st) st = raise_result(&fj.res);
    if (!st) st = check_promise(part.n_parts, o.k, o.allow_weak);
    if (!st && !sopts.weightless) st = px_part_weight_elems(g, part.part_of, part.n_parts, &part_w);
    if (st) {
        if (parted) px_partition_free(&part);
        px_wstats_free(fj.wfit);
        px_track_donors_free(&fj.donors);
        px_owner_keys_wipe(&okeys);
        return st;
    }
    sopts.part_sizes = part.part_size; /* the learned generator's sizes are drawn among them */
    sopts.n_part_sizes = part.n_parts;
    sopts.part_weights = part_w;
    sopts.part_of = part.part_of;
    stats->n_nodes = g->n_nodes;
    stats->n_parts = part.n_parts;
    stats->cut_edges = part.cut_edges;
    stats->min_part = g->n_nodes;
    for (int i = 0; i < part.n_parts; i++) {
        if (part.part_size[i] < stats->min_part) stats->min_part = part.part_size[i];
        if (part.part_size[i] > stats->max_part) stats->max_part = part.part_size[i];
    }

    px_wstats *wfit = fj.wfit; /* the model's weight statistics (weights.h) */
    px_key key;
    px_key_init(&key);
    px_track_donors donors = fj.donors;
    int n_files = part.n_parts * (o.k + 1);
    char **names = NULL, **paths = NULL, **sorted = NULL;
    name_slot *by_name = NULL;
    int *sent_files = NULL; /* sentinel file indices, in name order */
    px_skeleton *skel = NULL; /* per part (skeleton.h) */
    int *stream_part = NULL;
    char *tmpdir = NULL, *stagedir = NULL, **stage = NULL;
    int made_dir = 0, made_stage = 0;
    /* Names come from a stream keyed by the secret: with the public source
     * and a guessed seed, an attacker could otherwise replay the draw and
     * read off which names went to real files.  They depend on k too, so
     * buckets of one model at two k share no name. */
    if ((st = make_names(n_files, px_owner_stream(&okeys, "names", (uint64_t)o.k, 0), &key.arena, &names))) goto out;
    paths = calloc((size_t)n_files + 1, sizeof *paths);
    sorted = calloc((size_t)n_files + 1, sizeof *sorted);
    by_name = calloc((size_t)n_files + 1, sizeof *by_name);
    stage = calloc((size_t)n_files + 1, sizeof *stage);
    sent_files = calloc((size_t)n_files + 1, sizeof *sent_files);
    skel = calloc((size_t)part.n_parts + 1, sizeof *skel);
    stream_part = calloc((size_t)part.n_parts + 1, sizeof *stream_part);
    if (!paths || !sorted || !by_name || !stage || !sent_files || !skel || !stream_part) {
        st = px_nomem();
        goto out;
    }
    /* Files are generated into a staging folder, then copied into the
     * bucket's temporary folder in name order: inode numbers, birth times
     * (and their gaps, which would show how long each file took to make),
     * directory order (tmpfs lists the newest first) and archive order then
     * follow the random names, not which file is real. */
    if ((st = make_temp_dir(bucket_dir, "stage", &stagedir))) goto out;
    made_stage = 1;
    if ((st = make_temp_dir(bucket_dir, "tmp", &tmpdir))) goto out;
    made_dir = 1;
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

    sopts.weights = wfit;
    px_anon_header hdr = {g->ir_version, g->opsets, g->n_opsets};
    px_save_opts save = {.all_value_info = 1, .no_sync = 1}; /* staging: the copies are synced */
    for (int p = 0; p < part.n_parts; p++) {
        px_key_part *kp = &key.parts[p];
        kp->file = names[p];
        kp->n_sentinels = o.k;
        kp->sentinels = (const char **)names + part.n_parts + (size_t)p * o.k;
    }
    for (int i = 0; i < n_files; i++) {
        by_name[i].name = names[i];
        by_name[i].idx = i;
        if (!(paths[i] = px_path_join(tmpdir, names[i])) || !(stage[i] = px_path_join(stagedir, names[i]))) {
            st = px_nomem();
            goto out;
        }
    }
    qsort(by_name, (size_t)n_files, sizeof *by_name, cmp_slot);
    /* the real files here, then the sentinels by several threads (each file
     * is its own keyed draw, so the order they are made in changes no byte;
     * the staging copy below gives the bucket its name order) */
    int n_sent = 0, n_real = 0;
    for (int r = 0; r < n_files; r++) {
        if ((st = px_cancel_check())) goto out;
        int idx = by_name[r].idx;
        if (idx >= part.n_parts) {
            sent_files[n_sent++] = idx;
            continue;
        }
        px_graph sub;
        px_part_io io;
        if ((st = px_extract_part(g, &part, idx, &sub, &io))) goto out;
        /* skeletons only for the learned generator, the one that shares streams */
        if (sopts.kind == PX_SENTINEL_LEARNED) st = px_graph_skeleton(&sub, &skel[idx]);
        if (!st) st = write_real(g, &sub, &io, &hdr, &save, &key, idx, stage[idx]);
        px_graph_free(&sub);
        px_part_io_free(&io);
        if (st) goto out;
        if (o.progress) o.progress(o.progress_ctx, "writing files", ++n_real, n_files);
    }
    /* The learned generator's sentinels repeat where the real subgraphs do
     * (sentinel_writer.c); the random control's do not. */
    if (sopts.kind == PX_SENTINEL_LEARNED) stream_clusters(skel, part.n_parts, stream_part);
    sent_progress pctx = {&o, part.n_parts, n_files};
    px_sentinel_batch batch = {g, &part, &sopts, &hdr, &save, &okeys, &donors,
                               sopts.kind == PX_SENTINEL_LEARNED ? stream_part : NULL, o.k, sent_files, n_sent, stage,
                               sentinel_progress, &pctx, 0, 0};
    px_sentinel_storage(g, &batch.store_consts, &batch.store_inits);
    key.n_parts = part.n_parts;
    char why[512] = "";
    px_probe_model pm = {o.model_path, o.input_shapes, o.n_input_shapes, o.input_files, o.n_input_files};
    probe_job pj = {&key, stage, part.n_parts, g, &pm, &okeys, o.no_probe, &stats->n_unprobed, why, sizeof why,
                    {PX_OK, ""}};
    /* The fingerprints (Python and ONNX Runtime) need only the real files:
     * they are taken while the sentinels are made.  Not with --input-shape,
     * which infers the model's shapes again (the sentinels are cut from
     * them as they were). */
    pthread_t probe_tid;
    int overlap = !o.n_input_shapes && !o.no_probe && !pthread_create(&probe_tid, NULL, probe_thread, &pj);
    st = px_write_sentinels(&batch, 0, &stats->n_stand_in);
    if (overlap) pthread_join(probe_tid, NULL);
    else if (!st) probe_thread(&pj);
    if (!st) st = raise_result(&pj.res);
    if (st) goto out;
    if (stats->n_unprobed && !o.allow_unverified) {
        st = px_fail(PX_ERR_UNSUPPORTED, "%d of %d real subgraphs could not be fingerprinted (run on sample inputs), so "
                     "reassemble could not tell if the optimizer changed what they compute (first: %s); give "
                     "--input-shape NAME=D0,D1,... for inputs with symbolic dims, or --allow-unverified to accept that", stats->n_unprobed, part.n_parts, why);
        goto out;
    }
    for (int r = 0; r < n_files; r++) {
        if ((st = px_cancel_check())) goto out;
        if ((st = copy_new_file(stage[by_name[r].idx], paths[by_name[r].idx]))) goto out;
        if ((st = copy_external(stage[by_name[r].idx], paths[by_name[r].idx]))) goto out;
    }
    /* one sync for every copy (per-file fsyncs cost a minute on a busy disk) */
    {
        int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || syncfs(dfd) != 0) {
            st = px_fail(PX_ERR_IO, "%s: cannot sync: %s", bucket_dir, strerror(errno));
            if (dfd >= 0) close(dfd);
            goto out;
        }
        close(dfd);
    }
    /* only now: freed inode numbers would otherwise be reused in role order */
    remove_tree(stagedir, stage, n_files);
    made_stage = 0;
    for (int i = 0; i < n_files; i++) sorted[i] = (char *)by_name[i].name;
    key.files = (const char **)sorted;
    key.n_files = n_files;
    if ((st = write_manifest(tmpdir, sorted, n_files))) goto out;
    flatten_times(tmpdir, paths, by_name, n_files);
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
    st = px_capture_explain(&cap, st);
    if (made_stage) remove_tree(stagedir, stage, n_files);
    if (made_dir) remove_tree(tmpdir, paths, n_files);
    for (int i = 0; paths && i < n_files; i++) free(paths[i]);
    for (int i = 0; stage && i < n_files; i++) free(stage[i]);
    free(paths);
    free(stage);
    free(stagedir);
    free(sorted);
    free(by_name);
    free(sent_files);
    free(skel);
    free(stream_part);
    free(tmpdir);
    px_wstats_free(wfit);
    px_key_free(&key);
    px_track_donors_free(&donors);
    px_partition_free(&part);
    free(part_w);
    px_owner_keys_wipe(&okeys);
    return st;
}

/* The learned generator's model is loaded (and checked) before anything is
 * written. */
px_status px_obfuscate_graph(px_graph *g, const char *bucket_dir, const char *key_path,
                             const px_obfuscate_opts *opts, px_obfuscate_stats *stats)
{
    px_generator *genm = NULL;
    int learned = opts && opts->sentinels && px_sentinel_kind_from_name(opts->sentinels) == PX_SENTINEL_LEARNED;
    if (learned) {
        char def[4096];
        px_generator_default_path(def, sizeof def);
        const char *path = opts->generator ? opts->generator : def;
        if (!*path) return px_fail(PX_ERR_USAGE, "--sentinels learned: no generator file found; give --generator FILE");
        px_status st = px_generator_load(path, &genm);
        if (st) return st;
    } else if (opts && opts->generator) {
        return px_fail(PX_ERR_USAGE, "--generator is for --sentinels learned");
    }
    px_status st = obfuscate_graph(g, bucket_dir, key_path, opts, genm, stats);
    px_generator_free(genm);
    return st;
}

px_status px_obfuscate(const char *model_path, const char *bucket_dir, const char *key_path,
                       const px_obfuscate_opts *opts, px_obfuscate_stats *stats)
{
    struct stat ms, ks;
    if (stat(model_path, &ms) == 0 && stat(key_path, &ks) == 0 && ms.st_dev == ks.st_dev && ms.st_ino == ks.st_ino)
        return px_fail(PX_ERR_USAGE, "%s: the key path is the input model; pick another", key_path);
    px_graph g;
    px_graph_init(&g);
    px_status st = px_onnx_load_inlined(model_path, &g);
    if (!st) {
        px_obfuscate_opts oo = opts ? *opts : (px_obfuscate_opts){0};
        if (!oo.model_path) oo.model_path = model_path;
        st = px_obfuscate_graph(&g, bucket_dir, key_path, &oo, stats);
        if (st && st != PX_ERR_IO && st != PX_ERR_USAGE && st != PX_ERR_INTERRUPTED) px_fail_prefix(st, "%s", model_path);
    }
    px_graph_free(&g);
    return st;
}
