#include "optimize/optimize.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/arena.h"
#include "util/fileio.h"
#include "util/jsonparse.h"
#include "util/pyenv.h"

static const char *const python_drivers[] = {"ort:basic", "ort:extended", "ort:all", "onnxoptimizer", "onnxsim",
                                             "copy", NULL};

px_status px_manifest_read(const char *bucket, char ***files, int *n)
{
    *files = NULL;
    *n = 0;
    char *path = px_path_join(bucket, "manifest.json");
    if (!path) return px_nomem();
    char *text;
    size_t len;
    px_status st = px_read_file(path, &text, &len);
    if (st) {
        px_fail(st, "%s: cannot read the bucket's manifest: %s", bucket, px_last_error());
        free(path);
        return st;
    }
    px_arena ar;
    px_arena_init(&ar);
    px_jval *root;
    st = px_json_parse(&ar, text, len, path, &root);
    free(text);
    const px_jval *arr = st ? NULL : px_json_get_arr(root, "files");
    const char *fmt = st ? NULL : px_json_get_str(root, "format");
    if (!st && (!arr || !fmt || strcmp(fmt, "proteus-bucket/1")))
        st = px_fail(PX_ERR_PARSE, "%s: not a proteus bucket manifest", path);
    if (!st) {
        *files = calloc(arr->n + 1, sizeof **files);
        if (!*files) st = px_nomem();
        for (size_t i = 0; !st && i < arr->n; i++) {
            const px_jval *v = arr->items[i];
            if (v->type != PX_J_STR || !*v->s || strchr(v->s, '/') || !strcmp(v->s, "..") || !strcmp(v->s, ".")) {
                st = px_fail(PX_ERR_PARSE, "%s: bad file name in the manifest", path);
                break;
            }
            if (!((*files)[i] = strdup(v->s))) st = px_nomem();
            *n = (int)i + 1;
        }
    }
    px_arena_free(&ar);
    free(path);
    if (st) {
        px_manifest_free(*files, *n);
        *files = NULL;
        *n = 0;
    }
    return st;
}

void px_manifest_free(char **files, int n)
{
    if (!files) return;
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
}

void px_optimize_result_free(px_optimize_result *r)
{
    for (int i = 0; i < r->n_failed; i++) free(r->failed[i]);
    free(r->failed);
    memset(r, 0, sizeof *r);
}

static void note_failure(px_optimize_result *r, const char *file, const char *msg)
{
    char **n = realloc(r->failed, (size_t)(r->n_failed + 1) * sizeof *n);
    if (!n) return;
    r->failed = n;
    size_t len = strlen(file) + strlen(msg) + 3;
    char *s = malloc(len);
    if (!s) return;
    snprintf(s, len, "%s: %s", file, msg);
    r->failed[r->n_failed++] = s;
}

static void progress(const px_optimize_opts *o, int done, int total, int failed)
{
    if (!o->progress) return;
    int width = 30, fill = total ? done * width / total : width;
    fprintf(stderr, "\roptimize [");
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : ' ', stderr);
    fprintf(stderr, "] %d/%d", done, total);
    if (failed) fprintf(stderr, " (%d failed)", failed);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

/* --- Python worker pool ---------------------------------------------------- */

typedef struct worker {
    pid_t pid;
    FILE *to;
    int from;
    int busy;           /* index of the file in flight, or -1 */
    char line[2048];
    size_t len;
} worker;

static int spawn_worker(worker *w, const char *driver)
{
    int in[2], out[2];
    /* close-on-exec: a later worker must not inherit this one's pipe ends,
     * or closing our end would never give this worker its EOF */
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        px_python_env();
        execlp(px_python(), px_python(), "-m", "proteus_py.driver", driver, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    w->pid = pid;
    w->to = fdopen(in[1], "w");
    w->from = out[0];
    w->busy = -1;
    w->len = 0;
    return w->to ? 0 : -1;
}

static px_status run_python(char **in, char **out, char **names, int n, const px_optimize_opts *o,
                            px_optimize_result *r)
{
    int jobs = o->jobs > 0 ? o->jobs : 2;
    if (jobs > n) jobs = n ? n : 1;
    worker *ws = calloc((size_t)jobs, sizeof *ws);
    struct pollfd *pf = calloc((size_t)jobs, sizeof *pf);
    if (!ws || !pf) {
        free(ws);
        free(pf);
        return px_nomem();
    }
    px_status st = PX_OK;
    int started = 0;
    for (; started < jobs; started++)
        if (spawn_worker(&ws[started], o->driver)) {
            st = px_fail(PX_ERR_IO, "cannot start the optimizer driver: %s", strerror(errno));
            break;
        }
    int next = 0, done = 0;
    progress(o, 0, n, 0);
    while (!st && done < n) {
        for (int i = 0; i < started && next < n; i++)
            if (ws[i].busy < 0) {
                fprintf(ws[i].to, "%s\t%s\n", in[next], out[next]);
                fflush(ws[i].to);
                ws[i].busy = next++;
            }
        for (int i = 0; i < started; i++) {
            pf[i].fd = ws[i].from;
            pf[i].events = POLLIN;
            pf[i].revents = 0;
        }
        if (poll(pf, (nfds_t)started, -1) < 0) {
            if (errno == EINTR) continue;
            st = px_fail(PX_ERR_IO, "poll: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < started && !st; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP))) continue;
            worker *w = &ws[i];
            char buf[1024];
            ssize_t k = read(w->from, buf, sizeof buf);
            if (k <= 0) {
                if (w->busy >= 0) {
                    note_failure(r, names[w->busy], "the optimizer driver died");
                    done++;
                }
                st = px_fail(PX_ERR_IO, "the optimizer driver (%s) exited unexpectedly; is its Python package installed?",
                             o->driver);
                break;
            }
            for (ssize_t c = 0; c < k; c++) {
                if (buf[c] != '\n') {
                    if (w->len < sizeof w->line - 1) w->line[w->len++] = buf[c];
                    continue;
                }
                w->line[w->len] = '\0';
                w->len = 0;
                if (w->busy < 0) continue;
                if (!strcmp(w->line, "ok")) r->n_ok++;
                else note_failure(r, names[w->busy], strncmp(w->line, "error\t", 6) ? w->line : w->line + 6);
                w->busy = -1;
                done++;
                progress(o, done, n, r->n_failed);
            }
        }
    }
    for (int i = 0; i < started; i++) {
        fclose(ws[i].to);
        close(ws[i].from);
        if (st) kill(ws[i].pid, SIGTERM);
        waitpid(ws[i].pid, NULL, 0);
    }
    free(ws);
    free(pf);
    return st;
}

/* --- external command ----------------------------------------------------- */

/* Single-quotes s for /bin/sh. */
static void sh_quote(char *dst, size_t cap, const char *s)
{
    size_t k = 0;
    if (k < cap) dst[k++] = '\'';
    for (; *s && k + 5 < cap; s++) {
        if (*s == '\'') {
            memcpy(dst + k, "'\\''", 4);
            k += 4;
        } else
            dst[k++] = *s;
    }
    if (k < cap) dst[k++] = '\'';
    dst[k < cap ? k : cap - 1] = '\0';
}

static char *expand(const char *tpl, const char *in, const char *out)
{
    char qin[8192], qout[8192];
    sh_quote(qin, sizeof qin, in);
    sh_quote(qout, sizeof qout, out);
    size_t cap = strlen(tpl) + 1;
    for (const char *p = tpl; (p = strchr(p, '{')); p++) cap += strlen(qin) + strlen(qout);
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t k = 0;
    for (const char *p = tpl; *p;) {
        if (!strncmp(p, "{in}", 4)) {
            k += (size_t)sprintf(s + k, "%s", qin);
            p += 4;
        } else if (!strncmp(p, "{out}", 5)) {
            k += (size_t)sprintf(s + k, "%s", qout);
            p += 5;
        } else
            s[k++] = *p++;
    }
    s[k] = '\0';
    return s;
}

static px_status run_commands(char **in, char **out, char **names, int n, const px_optimize_opts *o,
                              px_optimize_result *r)
{
    const char *tpl = o->driver + 4;
    if (!strstr(tpl, "{in}") || !strstr(tpl, "{out}"))
        return px_fail(PX_ERR_USAGE, "cmd: driver template must contain {in} and {out}");
    int jobs = o->jobs > 0 ? o->jobs : 2;
    pid_t *pids = calloc((size_t)jobs, sizeof *pids);
    int *which = calloc((size_t)jobs, sizeof *which);
    char **tmps = calloc((size_t)n + 1, sizeof *tmps);
    if (!pids || !which || !tmps) {
        free(pids);
        free(which);
        free(tmps);
        return px_nomem();
    }
    int next = 0, running = 0, done = 0;
    progress(o, 0, n, 0);
    while (done < n) {
        while (running < jobs && next < n) {
            int slot = 0;
            while (pids[slot]) slot++;
            char *dir = px_path_dirname(out[next]);
            const char *base = strrchr(out[next], '/') ? strrchr(out[next], '/') + 1 : out[next];
            size_t len = strlen(dir ? dir : ".") + strlen(base) + 32;
            tmps[next] = malloc(len);
            if (tmps[next]) snprintf(tmps[next], len, "%s/.%s.tmp", dir ? dir : ".", base);
            free(dir);
            char *cmd = tmps[next] ? expand(tpl, in[next], tmps[next]) : NULL;
            pid_t pid = cmd ? fork() : -1;
            if (pid == 0) {
                int devnull = open("/dev/null", O_RDONLY);
                if (devnull >= 0) dup2(devnull, 0);
                execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
                _exit(127);
            }
            free(cmd);
            if (pid < 0) {
                note_failure(r, names[next], "cannot start the command");
                next++;
                done++;
                continue;
            }
            pids[slot] = pid;
            which[slot] = next++;
            running++;
        }
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) break;
        for (int s = 0; s < jobs; s++) {
            if (pids[s] != pid) continue;
            int i = which[s];
            pids[s] = 0;
            running--;
            done++;
            struct stat sb;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stat(tmps[i], &sb) == 0 && sb.st_size > 0) {
                if (rename(tmps[i], out[i]) == 0) r->n_ok++;
                else note_failure(r, names[i], strerror(errno));
            } else {
                char msg[128];
                if (WIFEXITED(status) && WEXITSTATUS(status) == 0) snprintf(msg, sizeof msg, "the command wrote no output");
                else if (WIFEXITED(status)) snprintf(msg, sizeof msg, "the command exited with status %d", WEXITSTATUS(status));
                else snprintf(msg, sizeof msg, "the command was killed by signal %d", WTERMSIG(status));
                note_failure(r, names[i], msg);
                unlink(tmps[i]);
            }
            progress(o, done, n, r->n_failed);
        }
    }
    for (int i = 0; i < n; i++) free(tmps[i]);
    free(tmps);
    free(pids);
    free(which);
    return PX_OK;
}

px_status px_optimize(const char *bucket, const char *out_dir, const px_optimize_opts *opts,
                      px_optimize_result *r)
{
    memset(r, 0, sizeof *r);
    px_optimize_opts o = *opts;
    if (!o.driver) return px_fail(PX_ERR_USAGE, "optimize: --with DRIVER is required");
    int is_cmd = !strncmp(o.driver, "cmd:", 4), known = is_cmd;
    for (int i = 0; python_drivers[i] && !known; i++) known = !strcmp(python_drivers[i], o.driver);
    if (!known) return px_fail(PX_ERR_USAGE, "optimize: unknown driver '%s'", o.driver);
    if (o.shards <= 0) o.shards = 1;
    if (o.shard < 0 || o.shard >= o.shards) return px_fail(PX_ERR_USAGE, "optimize: bad shard %d/%d", o.shard, o.shards);
    char **files;
    int n;
    px_status st = px_manifest_read(bucket, &files, &n);
    if (st) return st;
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        st = px_fail(PX_ERR_IO, "%s: cannot create: %s", out_dir, strerror(errno));
        px_manifest_free(files, n);
        return st;
    }
    char **in = calloc((size_t)n + 1, sizeof *in), **out = calloc((size_t)n + 1, sizeof *out);
    char **names = calloc((size_t)n + 1, sizeof *names);
    int m = 0;
    if (!in || !out || !names) st = px_nomem();
    for (int i = 0; !st && i < n; i++) {
        if (i % o.shards != o.shard) continue;
        in[m] = px_path_join(bucket, files[i]);
        out[m] = px_path_join(out_dir, files[i]);
        names[m] = files[i];
        if (!in[m] || !out[m]) st = px_nomem();
        m++;
    }
    r->n_files = m;
    if (!st && m > 0) st = is_cmd ? run_commands(in, out, names, m, &o, r) : run_python(in, out, names, m, &o, r);
    if (!st && r->n_failed) st = px_fail(PX_ERR_MISMATCH, "optimize: %d of %d files failed", r->n_failed, m);
    for (int i = 0; i < m; i++) {
        free(in[i]);
        free(out[i]);
    }
    free(in);
    free(out);
    free(names);
    px_manifest_free(files, n);
    return st;
}
