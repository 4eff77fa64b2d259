#include "reassemble/reassemble.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bucket/key.h"
#include "ir/body.h"
#include "ir/canon.h"
#include "onnx/onnx_io.h"
#include "reassemble/seam.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/subproc.h"

static void shape_str(const px_shape *s, char *buf, size_t n)
{
    if (s->rank < 0) {
        snprintf(buf, n, "?");
        return;
    }
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < s->rank && k < n; i++) {
        if (s->dims[i].v >= 0) k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)s->dims[i].v);
        else k += (size_t)snprintf(buf + k, n - k, "%s?", i ? "," : "");
    }
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* Same dtype, rank and known dims (a dim the file leaves open is accepted). */
static px_status check_tensor(const char *file, const char *role, int pos, const px_key_tensor *want, const px_value *got)
{
    char a[256], b[256];
    if (got->dtype != want->dtype)
        return px_fail(PX_ERR_MISMATCH, "%s: %s %d is %s, but %s was sent", file, role, pos,
                       px_dtype_name(got->dtype), px_dtype_name(want->dtype));
    if (want->shape.rank < 0 || got->shape.rank < 0) return PX_OK;
    int bad = got->shape.rank != want->shape.rank;
    for (int i = 0; !bad && i < want->shape.rank; i++)
        if (want->shape.dims[i].v >= 0 && got->shape.dims[i].v >= 0 && want->shape.dims[i].v != got->shape.dims[i].v)
            bad = 1;
    if (!bad) return PX_OK;
    shape_str(&got->shape, a, sizeof a);
    shape_str(&want->shape, b, sizeof b);
    return px_fail(PX_ERR_MISMATCH, "%s: %s %d has shape %s, but %s was sent", file, role, pos, a, b);
}

static px_status check_interface(const char *file, const px_key_part *kp, const px_graph *f)
{
    int n_in = 0;
    for (int i = 0; i < f->n_inputs; i++) n_in += !(f->values[f->inputs[i]].flags & PX_VAL_INIT);
    if (n_in != kp->n_inputs || f->n_outputs != kp->n_outputs)
        return px_fail(PX_ERR_MISMATCH, "%s: the interface changed: %d inputs and %d outputs, but %d and %d were sent",
                       file, n_in, f->n_outputs, kp->n_inputs, kp->n_outputs);
    px_status st;
    int k = 0;
    for (int i = 0; i < f->n_inputs; i++) {
        const px_value *v = &f->values[f->inputs[i]];
        if (v->flags & PX_VAL_INIT) continue;
        if ((st = check_tensor(file, "input", k, &kp->inputs[k], v))) return st;
        k++;
    }
    for (int i = 0; i < f->n_outputs; i++)
        if ((st = check_tensor(file, "output", i, &kp->outputs[i], &f->values[f->outputs[i]]))) return st;
    return PX_OK;
}

static int stitched_value(px_graph *out, const char *name)
{
    return px_graph_value(out, name);
}

static px_status copy_type(px_graph *out, int dst, const px_value *src)
{
    if (out->values[dst].dtype == PX_DT_UNDEFINED) out->values[dst].dtype = src->dtype;
    if (out->values[dst].shape.rank >= 0 || src->shape.rank < 0) return PX_OK;
    return px_shape_copy(out, &out->values[dst].shape, &src->shape);
}

static px_status set_key_type(px_graph *out, int v, const px_key_tensor *t)
{
    out->values[v].dtype = t->dtype;
    if (t->shape.rank < 0) return PX_OK;
    return px_shape_set(out, &out->values[v].shape, t->shape.rank, t->shape.dims);
}

/* What a returned file may grow to, from what was sent (0: no bound). */
#define PX_RET_NODES(n) ((n) > 0 ? 16 * (n) + 1000 : 0)
#define PX_RET_BYTES(b) ((b) > 0 ? 4 * (b) + ((int64_t)16 << 20) : 0)

/* Opens a returned file without ever blocking on it or following it out of
 * dir, bounds its size by what was sent before parsing it, and loads it
 * under node and byte limits derived from what was sent. */
static px_status load_returned(const char *dir, const char *path, const px_key_part *kp, px_graph *f)
{
    struct stat lsb;
    if (lstat(path, &lsb) != 0) {
        if (errno == ENOENT) return px_fail(PX_ERR_IO, "%s: missing: the optimizer did not return this file", path);
        return px_fail(PX_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (S_ISLNK(lsb.st_mode)) {
        char dreal[PATH_MAX], freal[PATH_MAX];
        if (!realpath(dir, dreal) || !realpath(path, freal))
            return px_fail(PX_ERR_SECURITY, "%s: a symbolic link that does not resolve: %s", path, strerror(errno));
        size_t dl = strlen(dreal);
        if (strncmp(freal, dreal, dl) != 0 || (freal[dl] != '/' && dl != 1))
            return px_fail(PX_ERR_SECURITY, "%s: a symbolic link leading outside %s: refused", path, dir);
    }
    int fd;
    long long size;
    px_status st = px_open_regular(path, &fd, &size);
    if (st) return st;
    int64_t max_bytes = PX_RET_BYTES(kp->sent_bytes);
    if (max_bytes > 0 && size > max_bytes) {
        close(fd);
        return px_fail(PX_ERR_LIMIT,
                       "%s: %lld bytes, more than the %" PRId64 " allowed for a file sent with %" PRId64
                       " bytes (4 x + 16 MiB): refused unread",
                       path, size, max_bytes, kp->sent_bytes);
    }
    if (size <= 0) {
        close(fd);
        return px_fail(PX_ERR_PARSE, "%s: not an ONNX model (empty file)", path);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return px_fail(PX_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    char *d = px_path_dirname(path);
    if (!d) {
        munmap(map, (size_t)size);
        return px_nomem();
    }
    px_load_limits saved = px_get_load_limits(), lim = saved;
    int64_t max_nodes = PX_RET_NODES(kp->sent_nodes);
    int64_t tb = kp->sent_tensor_bytes > kp->sent_bytes ? kp->sent_tensor_bytes : kp->sent_bytes;
    int64_t max_tensors = PX_RET_BYTES(tb);
    int bounded = 0;
    if (max_nodes > 0 && max_nodes < lim.max_nodes) lim.max_nodes = max_nodes, bounded = 1;
    if (max_tensors > 0 && max_tensors < lim.max_total_bytes) lim.max_total_bytes = max_tensors, bounded = 1;
    if (max_tensors > 0 && max_tensors < lim.max_tensor_bytes) lim.max_tensor_bytes = max_tensors;
    px_set_load_limits(&lim);
    st = px_onnx_load_buffer(map, (size_t)size, d, path, f);
    px_set_load_limits(&saved);
    free(d);
    munmap(map, (size_t)size);
    if (st == PX_ERR_LIMIT && bounded)
        st = px_fail_prefix(st, "%s: bigger than what was sent allows (%" PRId64 " nodes, %" PRId64 " bytes were sent)",
                            path, kp->sent_nodes, tb);
    return st;
}

static int ai_onnx(const char *domain) { return !domain[0] || !strcmp(domain, "ai.onnx"); }

static const px_opset *key_opset(const px_key *key, const char *domain)
{
    for (int i = 0; i < key->n_opsets; i++) {
        const char *d = key->opsets[i].domain;
        if (ai_onnx(domain) ? ai_onnx(d) : !strcmp(d, domain)) return &key->opsets[i];
    }
    return NULL;
}

/* The file must import the opsets it was sent with: an op means what its
 * opset says, and the stitched model runs at the original's opsets.  Domains
 * the original did not import (an optimizer's contrib ops) are allowed. */
static px_status check_opsets(const char *file, const px_key *key, const px_graph *f)
{
    int has_ai = 0;
    for (int i = 0; i < f->n_opsets; i++) {
        const px_opset *o = &f->opsets[i];
        const px_opset *want = key_opset(key, o->domain);
        if (ai_onnx(o->domain)) has_ai = 1;
        if (!want) {
            if (ai_onnx(o->domain))
                return px_fail(PX_ERR_MISMATCH, "%s: imports opset ai.onnx %" PRId64 ", which the model did not use",
                               file, o->version);
            continue;
        }
        if (o->version != want->version)
            return px_fail(PX_ERR_MISMATCH, "%s: imports opset %s %" PRId64 ", but %s %" PRId64
                           " was sent (an op can mean something else at another opset)",
                           file, ai_onnx(o->domain) ? "ai.onnx" : o->domain, o->version,
                           ai_onnx(o->domain) ? "ai.onnx" : o->domain, want->version);
    }
    if (!has_ai)
        for (int i = 0; i < f->n_nodes; i++)
            if (ai_onnx(f->nodes[i].domain))
                return px_fail(PX_ERR_MISMATCH, "%s: uses ai.onnx ops without importing the ai.onnx opset", file);
    return PX_OK;
}

/* Drops what the stitched model does not use: initializers no node and no
 * graph output reads, and opset imports of domains no node uses (ai.onnx
 * stays).  A node with a graph-valued attribute may read outer values
 * implicitly: then every initializer stays. */
static px_status prune(px_graph *g)
{
    char *used = calloc((size_t)g->n_values + 1, 1);
    if (!used) return px_nomem();
    int nested = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const px_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] >= 0) used[n->inputs[j]] = 1;
        for (int a = 0; a < n->n_attrs; a++)
            nested |= n->attrs[a].type == PX_ATTR_GRAPH || n->attrs[a].type == PX_ATTR_GRAPHS;
    }
    for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = 1;
    if (!nested) {
        int k = 0;
        for (int i = 0; i < g->n_inits; i++) {
            int v = g->inits[i];
            if (used[v] || (g->values[v].flags & PX_VAL_INPUT)) {
                g->inits[k++] = v;
                continue;
            }
            px_tensor_free(g->values[v].init);
            g->values[v].init = NULL;
            g->values[v].flags &= ~(unsigned)(PX_VAL_INIT | PX_VAL_DECLARED);
        }
        g->n_inits = k;
    }
    free(used);
    int k = 0;
    for (int i = 0; i < g->n_opsets; i++) {
        int keep = ai_onnx(g->opsets[i].domain);
        for (int n = 0; n < g->n_nodes && !keep; n++) keep = !strcmp(g->nodes[n].domain, g->opsets[i].domain);
        if (keep) g->opsets[k++] = g->opsets[i];
    }
    g->n_opsets = k;
    g->index_valid = 0;
    return px_graph_index(g);
}

/* Names defined inside a control-flow body get the part's prefix, like
 * every other value of the part: bodies of different parts reuse names
 * ("bv0"), and an original interface name must never be shadowed. */
static px_status prefix_bodies(px_graph *out, int nid, int part)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "p%d/", part);
    px_body_rename r = {.prefix = prefix};
    px_node *nd = &out->nodes[nid];
    for (int a = 0; a < nd->n_attrs; a++) {
        px_attr *at = &nd->attrs[a];
        if ((at->type != PX_ATTR_GRAPH && at->type != PX_ATTR_GRAPHS) || !at->raw) continue;
        px_status st = px_body_rewrite(at->raw, at->raw_len, &r, &out->arena, &at->raw, &at->raw_len);
        if (st) return st;
    }
    return PX_OK;
}

/* Adds the file's nodes to out: interface values take their original names,
 * the rest a per-part prefix. */
static px_status stitch(px_graph *out, int part, const px_key_part *kp, px_graph *f)
{
    int *vmap = malloc(((size_t)f->n_values + 1) * sizeof *vmap);
    if (!vmap) return px_nomem();
    px_status st = PX_OK;
    for (int v = 0; v < f->n_values; v++) vmap[v] = -1;
    int k = 0;
    for (int i = 0; i < f->n_inputs && !st; i++) {
        int v = f->inputs[i];
        if (f->values[v].flags & PX_VAL_INIT) continue;
        vmap[v] = stitched_value(out, kp->inputs[k++].name);
        if (vmap[v] < 0) st = px_nomem();
    }
    char name[1024];
    for (int i = 0; i < f->n_outputs && !st; i++) {
        int v = f->outputs[i];
        int target = stitched_value(out, kp->outputs[i].name);
        if (target < 0) {
            st = px_nomem();
            break;
        }
        if (vmap[v] >= 0) {
            /* the optimizer made this output an input passed straight
             * through (or the same value twice): copy it with an Identity */
            snprintf(name, sizeof name, "p%d/passthrough%d", part, i);
            int nid = px_graph_add_node(out, "Identity", "", name);
            if (nid < 0 || (st = px_node_set_inputs(out, nid, &vmap[v], 1)) ||
                (st = px_node_set_outputs(out, nid, &target, 1))) {
                if (!st) st = PX_ERR_NOMEM;
                break;
            }
        } else {
            vmap[v] = target;
            /* an output the optimizer folded to a constant keeps its data */
            if (f->values[v].init) {
                st = px_graph_add_init(out, target, f->values[v].init);
                f->values[v].init = NULL;
                if (st) break;
            }
        }
        out->values[target].flags |= PX_VAL_SEAM;
        st = copy_type(out, target, &f->values[v]);
    }
    for (int v = 0; v < f->n_values && !st; v++) {
        if (vmap[v] >= 0) continue;
        snprintf(name, sizeof name, "p%d/%s", part, f->values[v].name);
        vmap[v] = px_graph_add_value(out, name);
        if (vmap[v] < 0) {
            st = PX_ERR_INVALID;
            break;
        }
        st = copy_type(out, vmap[v], &f->values[v]);
        if (!st && f->values[v].init) {
            st = px_graph_add_init(out, vmap[v], f->values[v].init);
            f->values[v].init = NULL; /* moved */
        }
    }
    for (int i = 0; i < f->n_nodes && !st; i++) {
        const px_node *nd = &f->nodes[i];
        /* node names must stay unique (ONNX Runtime refuses duplicates);
         * optimizers may leave new nodes unnamed */
        if (nd->name[0]) snprintf(name, sizeof name, "p%d/%s", part, nd->name);
        else snprintf(name, sizeof name, "p%d/#%d", part, i);
        int nid = px_graph_copy_node(out, nd, vmap, name);
        if (nid < 0) st = PX_ERR_NOMEM;
        else st = prefix_bodies(out, nid, part);
    }
    for (int i = 0; i < f->n_opsets && !st; i++)
        if (f->opsets[i].version > px_graph_opset(out, f->opsets[i].domain))
            st = px_graph_set_opset(out, f->opsets[i].domain, f->opsets[i].version);
    if (!st && f->ir_version > out->ir_version) out->ir_version = f->ir_version;
    free(vmap);
    return st;
}

/* Runs the fingerprinted files on their probe inputs; the first that
 * computes something else is named in the error. */
static px_status check_probes(const char *dir, const px_key *key, double tol)
{
    char *req = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&req, &len);
    if (!f) return px_nomem();
    px_json j;
    px_json_init(&j, f, 0);
    px_json_obj_begin(&j);
    if (tol > 0) {
        px_json_key(&j, "tol");
        px_json_double(&j, tol);
    }
    px_json_key(&j, "items");
    px_json_arr_begin(&j);
    int n = 0;
    int *which = calloc((size_t)key->n_parts + 1, sizeof *which);
    for (int p = 0; p < key->n_parts && which; p++) {
        if (!key->parts[p].probe) continue;
        char *path = px_path_join(dir, key->parts[p].file);
        px_json_obj_begin(&j);
        px_json_key(&j, "file");
        px_json_str(&j, path ? path : "");
        px_json_key(&j, "expect");
        px_json_write_val(&j, key->parts[p].probe);
        px_json_obj_end(&j);
        free(path);
        which[n++] = p;
    }
    px_json_arr_end(&j);
    px_json_obj_end(&j);
    fclose(f);
    if (!which) {
        free(req);
        return px_nomem();
    }
    px_status st = PX_OK;
    if (n > 0) {
        char *args[1] = {"check"};
        char *out;
        size_t olen;
        st = px_python_call("proteus_py.probe", args, 1, req, len, &out, &olen);
        if (!st) {
            px_arena ar;
            px_arena_init(&ar);
            px_jval *root;
            st = px_json_parse(&ar, out, olen, "probe output", &root);
            if (!st && (root->type != PX_J_ARR || (int)root->n != n))
                st = px_fail(PX_ERR_PARSE, "probe: unexpected output");
            for (int i = 0; !st && i < n; i++) {
                const px_jval *ok = px_json_get(root->items[i], "ok");
                if (ok && ok->type == PX_J_BOOL && ok->b) continue;
                const char *detail = px_json_get_str(root->items[i], "detail");
                char *path = px_path_join(dir, key->parts[which[i]].file);
                st = px_fail(PX_ERR_MISMATCH, "%s: computes something else than what was sent: %s", path ? path : "?",
                             detail ? detail : "");
                free(path);
            }
            px_arena_free(&ar);
            free(out);
        }
    }
    free(which);
    free(req);
    return st;
}

/* A key of another bucket would blame the optimizer for every missing
 * file: say plainly when none of the key's files are in dir. */
static px_status check_key_matches(const char *dir, const char *key_path, const px_key *key)
{
    int present = 0;
    for (int i = 0; i < key->n_files && !present; i++) {
        char *p = px_path_join(dir, key->files[i]);
        struct stat sb;
        if (!p) return px_nomem();
        present = lstat(p, &sb) == 0;
        free(p);
    }
    if (present || key->n_files == 0) return PX_OK;
    return px_fail(PX_ERR_MISMATCH, "%s: none of the %d files of key %s are here: the key belongs to another bucket "
                   "(or this is not the optimized folder of its bucket)", dir, key->n_files, key_path);
}

px_status px_reassemble(const char *dir, const char *key_path, const char *out_path,
                        const px_reassemble_opts *opts, px_reassemble_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    px_key key;
    px_key_init(&key);
    px_graph out;
    px_graph_init(&out);
    px_status st = px_key_load(key_path, opts ? opts->secret : NULL, &key);
    if (st) goto done;
    if ((st = check_key_matches(dir, key_path, &key))) goto done;
    out.ir_version = key.ir_version;
    out.producer_name = key.producer_name;
    out.producer_version = key.producer_version;
    out.graph_name = key.graph_name;
    for (int i = 0; i < key.n_opsets && !st; i++) st = px_graph_set_opset(&out, key.opsets[i].domain, key.opsets[i].version);
    for (int i = 0; i < key.n_inputs && !st; i++) {
        int v = px_graph_value(&out, key.inputs[i].name);
        if (v < 0 || (st = set_key_type(&out, v, &key.inputs[i]))) {
            if (!st) st = px_nomem();
            break;
        }
        st = px_graph_add_input(&out, v);
    }
    for (int p = 0; p < key.n_parts && !st; p++) {
        const px_key_part *kp = &key.parts[p];
        char *path = px_path_join(dir, kp->file);
        if (!path) {
            st = px_nomem();
            break;
        }
        px_graph f;
        px_graph_init(&f);
        st = load_returned(dir, path, kp, &f);
        if (!st) st = check_interface(path, kp, &f);
        if (!st) st = check_opsets(path, &key, &f);
        if (!st && !kp->probe && !(opts && opts->no_probe)) {
            if (opts && opts->allow_unverified)
                fprintf(stderr, "proteus: warning: %s: accepted unverified: it was not fingerprinted at obfuscation, "
                                "so any file with its interface would pass\n", path);
            else
                st = px_fail(PX_ERR_SECURITY,
                             "%s: cannot be verified: it was not fingerprinted at obfuscation, so any file with its "
                             "interface would pass; refused (pass --allow-unverified to accept it%s)",
                             path, PX_REASSEMBLE_UNVERIFIED_HINT);
        }
        if (!st) st = stitch(&out, p, kp, &f);
        px_graph_free(&f);
        free(path);
    }
    for (int i = 0; i < key.n_outputs && !st; i++) {
        int v = px_graph_find(&out, key.outputs[i].name);
        if (v < 0) {
            st = px_fail(PX_ERR_INVALID, "%s: no part produces model output '%s'", key_path, key.outputs[i].name);
            break;
        }
        if (!(st = set_key_type(&out, v, &key.outputs[i]))) st = px_graph_add_output(&out, v);
    }
    if (!st && !(opts && opts->no_probe))
        st = check_probes(dir, &key, opts && opts->probe_tol > 0 ? opts->probe_tol : 0);
    if (!st) st = px_graph_validate(&out);
    /* ONNX Runtime orders and names a file's nodes as it likes from one
     * session to the next: the seam rules and the saved model see a
     * canonical order and names, so one bucket gives one model */
    if (!st) st = px_graph_canonicalize(&out, PX_VAL_SEAM);
    if (!st && !(opts && opts->no_seam_cleanup)) st = px_seam_cleanup(&out, &stats->seam_removed);
    if (!st) st = prune(&out);
    /* never write a model whose nodes read what nothing defines */
    if (!st && (st = px_graph_validate(&out)))
        px_fail_prefix(st, "%s: the stitched model is invalid (a proteus defect; --no-seam-cleanup may avoid it)",
                       out_path);
    if (!st) st = px_graph_canonicalize(&out, PX_VAL_SEAM);
    if (!st) {
        stats->n_parts = key.n_parts;
        stats->n_nodes = out.n_nodes;
        px_save_opts so = {0};
        st = px_onnx_save(&out, out_path, &so);
    }
done:
    /* key strings are referenced by out until saved */
    px_graph_free(&out);
    px_key_free(&key);
    return st;
}
