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
#include "util/cancel.h"
#include "util/fileio.h"
#include "util/jsonparse.h"
#include "util/pyenv.h"
#include "util/subproc.h"

static const char *const python_drivers[] = {"ort:basic", "ort:extended", "ort:all", "onnxoptimizer", "onnxsim",
                                             "copy", NULL};
const char px_optimize_drivers[] = "ort:basic, ort:extended, ort:all, onnxoptimizer, onnxsim, copy, cmd:TEMPLATE";

/* The names obfuscate writes (make_names in src/bucket/bucket.c). */
enum { NAME_HEX = 16 };

static int bucket_name_ok(const char *s)
{
    for (int i = 0; i < NAME_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return !strcmp(s + NAME_HEX, ".onnx");
}

/* s for an error message: printable ASCII kept, other bytes as \xNN, at
 * most about 60 characters. */
static void show(char *dst, size_t cap, const char *s)
{
    size_t k = 0;
    for (; *s && k + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (k >= 60) {
            memcpy(dst + k, "...", 3);
            k += 3;
            break;
        }
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') k += (size_t)snprintf(dst + k, cap - k, "\\x%02x", c);
        else dst[k++] = (char)c;
    }
    dst[k] = '\0';
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "" when the path is a regular file (not followed if a symlink), else why not. */
static const char *not_regular(const char *path, char *buf, size_t cap)
{
    struct stat sb;
    if (lstat(path, &sb)) {
        snprintf(buf, cap, "%s", errno == ENOENT ? "listed in the manifest but missing" : strerror(errno));
        return buf;
    }
    if (S_ISREG(sb.st_mode)) return "";
    snprintf(buf, cap, "not a regular file (%s); refused before opening anything",
             S_ISLNK(sb.st_mode) ? "a symlink" : S_ISFIFO(sb.st_mode) ? "a FIFO" : S_ISDIR(sb.st_mode) ? "a directory"
             : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device" : S_ISSOCK(sb.st_mode) ? "a socket" : "not a file");
    return buf;
}

px_status px_manifest_read(const char *bucket, char ***files, int *n)
{
    *files = NULL;
    *n = 0;
    char *path = px_path_join(bucket, "manifest.json");
    if (!path) return px_nomem();
    struct stat sb; /* a FIFO in its place must not hang us */
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        free(path);
        return px_fail(PX_ERR_SECURITY, "%s/manifest.json: not a regular file; refused", bucket);
    }
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
    if (!st && arr->n > 100000000)
        st = px_fail(PX_ERR_LIMIT, "%s: %zu files listed; refused", path, arr->n);
    if (!st) {
        *files = calloc(arr->n + 1, sizeof **files);
        if (!*files) st = px_nomem();
        for (size_t i = 0; !st && i < arr->n; i++) {
            const px_jval *v = arr->items[i];
            if (v->type != PX_J_STR) {
                st = px_fail(PX_ERR_SECURITY, "%s: entry %zu of \"files\" is not a string; refused", path, i + 1);
                break;
            }
            if (!bucket_name_ok(v->s)) {
                char s[128];
                show(s, sizeof s, v->s);
                st = px_fail(PX_ERR_SECURITY,
                             "%s: \"%s\" (entry %zu) is not a bucket file name (16 lowercase hex digits + "
                             "\".onnx\"); refused",
                             path, s, i + 1);
                break;
            }
            if (!((*files)[i] = strdup(v->s))) st = px_nomem();
            *n = (int)i + 1;
        }
    }
    if (!st && *n > 1) {
        char **sorted = malloc((size_t)*n * sizeof *sorted);
        if (!sorted) st = px_nomem();
        else {
            memcpy(sorted, *files, (size_t)*n * sizeof *sorted);
            qsort(sorted, (size_t)*n, sizeof *sorted, cmp_str);
            for (int i = 1; i < *n; i++)
                if (!strcmp(sorted[i - 1], sorted[i])) {
                    st = px_fail(PX_ERR_SECURITY, "%s: \"%s\" is listed more than once; refused", path, sorted[i]);
                    break;
                }
            free(sorted);
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
    for (int i = 0; i < r->n_warnings; i++) free(r->warnings[i]);
    free(r->warnings);
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

static void note_warning(px_optimize_result *r, const char *msg)
{
    for (int i = 0; i < r->n_warnings; i++)
        if (!strcmp(r->warnings[i], msg)) return;
    char **n = realloc(r->warnings, (size_t)(r->n_warnings + 1) * sizeof *n);
    if (!n) return;
    r->warnings = n;
    if ((r->warnings[r->n_warnings] = strdup(msg))) r->n_warnings++;
}

static int should_stop(const px_optimize_opts *o, const px_optimize_result *r)
{
    return o->max_failures > 0 && r->n_failed >= o->max_failures;
}

static void progress(const px_optimize_opts *o, int done, int total, int failed, int final)
{
    if (!o->progress) return;
    int width = 30, fill = total ? done * width / total : width;
    fprintf(stderr, "\roptimize [");
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : ' ', stderr);
    fprintf(stderr, "] %d/%d", done, total);
    if (failed) fprintf(stderr, " (%d failed)", failed);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

/* --- Python worker pool ---------------------------------------------------- */

typedef struct worker {
    pid_t pid;
    FILE *to;
    int from;
    FILE *err;          /* the worker's stderr (a temporary file): never on the terminal */
    int busy;           /* index of the file in flight, or -1 */
    char line[2048];
    size_t len;
} worker;

static void python_setup(void) { px_python_env(); }

/* The temporary name the Python driver writes out under (driver.py, _tmp). */
static char *worker_tmp(const char *out, pid_t pid)
{
    char *dir = px_path_dirname(out);
    const char *base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
    size_t len = strlen(dir ? dir : ".") + strlen(base) + 40;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%s/.%s.tmp%ld", dir ? dir : ".", base, (long)pid);
    free(dir);
    return s;
}

static px_status spawn_worker(worker *w, const char *driver)
{
    int in[2], out[2];
    w->pid = -1;
    w->to = NULL;
    w->from = -1;
    w->busy = -1;
    w->len = 0;
    /* close-on-exec: a later worker must not inherit this one's pipe ends,
     * or closing our end would never give this worker its EOF */
    if (!(w->err = tmpfile())) return px_fail(PX_ERR_IO, "cannot create a temporary file: %s", strerror(errno));
    if (pipe2(in, O_CLOEXEC)) return px_fail(PX_ERR_IO, "pipe: %s", strerror(errno));
    if (pipe2(out, O_CLOEXEC)) {
        close(in[0]);
        close(in[1]);
        return px_fail(PX_ERR_IO, "pipe: %s", strerror(errno));
    }
    char *argv[] = {(char *)px_python(), "-m", "proteus_py.driver", (char *)driver, NULL};
    int fds[3] = {in[0], out[1], fileno(w->err)};
    px_status st = px_spawn(argv, fds, python_setup, &w->pid);
    close(in[0]);
    close(out[1]);
    if (st) {
        close(in[1]);
        close(out[0]);
        return px_fail(st, "cannot start the optimizer driver (%s): %s", driver, px_last_error());
    }
    w->from = out[0];
    if (!(w->to = fdopen(in[1], "w"))) {
        close(in[1]);
        close(w->from);
        kill(w->pid, SIGTERM);
        while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR) {}
        return px_nomem();
    }
    return PX_OK;
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
    /* a worker that died must not kill us through SIGPIPE on our next write */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);
    px_status st = PX_OK;
    int started = 0;
    for (; started < jobs; started++) {
        if ((st = spawn_worker(&ws[started], o->driver))) {
            if (ws[started].err) fclose(ws[started].err);
            break;
        }
    }
    int next = 0, done = 0, busy = 0;
    progress(o, 0, n, 0, 0);
    int killed = 0;
    while (!st && (busy > 0 || (next < n && !should_stop(o, r) && !px_cancelled()))) {
        if (px_cancelled() && !killed) {
            /* interrupted: the workers stop now (they remove their temporaries) */
            for (int i = 0; i < started; i++) kill(ws[i].pid, SIGTERM);
            killed = 1;
        }
        for (int i = 0; i < started && next < n && !should_stop(o, r) && !px_cancelled(); i++)
            if (ws[i].busy < 0) {
                fprintf(ws[i].to, "%s\t%s\n", in[next], out[next]);
                fflush(ws[i].to);
                ws[i].busy = next++;
                busy++;
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
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            worker *w = &ws[i];
            char buf[1024];
            ssize_t k = read(w->from, buf, sizeof buf);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                char last[300];
                fflush(w->err);
                px_last_line(fileno(w->err), last, sizeof last);
                if (w->busy >= 0) {
                    if (!killed) note_failure(r, names[w->busy], "the optimizer driver died");
                    /* a worker killed mid-file leaves its temporary behind */
                    char *tmp = worker_tmp(out[w->busy], w->pid);
                    if (tmp) unlink(tmp);
                    free(tmp);
                    w->busy = -1;
                    busy--;
                    done++;
                }
                if (killed) {
                    ws[i].from = -1; /* poll ignores it from now on */
                    close(w->from);
                    continue;
                }
                st = px_fail(PX_ERR_IO, "the optimizer driver (%s) exited unexpectedly%s%s", o->driver,
                             *last ? ": " : "; is its Python environment set up (scripts/setup)?", last);
                break;
            }
            for (ssize_t c = 0; c < k; c++) {
                if (buf[c] != '\n') {
                    if (w->len < sizeof w->line - 1) w->line[w->len++] = buf[c];
                    continue;
                }
                w->line[w->len] = '\0';
                w->len = 0;
                if (!strncmp(w->line, "warn\t", 5)) {
                    note_warning(r, w->line + 5);
                    continue;
                }
                if (w->busy < 0) continue;
                if (!strcmp(w->line, "ok")) r->n_ok++;
                else note_failure(r, names[w->busy], strncmp(w->line, "error\t", 6) ? w->line : w->line + 6);
                w->busy = -1;
                busy--;
                done++;
                progress(o, done, n, r->n_failed, 0);
            }
        }
    }
    progress(o, done, n, r->n_failed, 1);
    for (int i = 0; i < started; i++) {
        fclose(ws[i].to);
        if (ws[i].from >= 0) close(ws[i].from);
        if (st) kill(ws[i].pid, SIGTERM);
        while (waitpid(ws[i].pid, NULL, 0) < 0 && errno == EINTR) {}
        fclose(ws[i].err);
    }
    sigaction(SIGPIPE, &old_pipe, NULL);
    r->n_not_tried = n - next;
    free(ws);
    free(pf);
    return st;
}

/* --- external command ----------------------------------------------------- */

void px_template_free(char **words, int n)
{
    if (!words) return;
    for (int i = 0; i < n; i++) free(words[i]);
    free(words);
}

px_status px_template_split(const char *tpl, char ***words, int *n)
{
    *words = NULL;
    *n = 0;
    size_t len = strlen(tpl);
    char **ws = calloc(len / 2 + 2, sizeof *ws); /* at most one word per two characters, plus one */
    char *cur = malloc(len + 1);
    if (!ws || !cur) {
        free(ws);
        free(cur);
        return px_nomem();
    }
    int nw = 0, in_word = 0;
    size_t k = 0;
    px_status st = PX_OK;
    for (const char *p = tpl;; p++) {
        char c = *p;
        if (c == '\0' || c == ' ' || c == '\t' || c == '\n') {
            if (in_word) {
                cur[k] = '\0';
                if (!(ws[nw] = strdup(cur))) {
                    st = px_nomem();
                    break;
                }
                nw++;
                k = 0;
                in_word = 0;
            }
            if (c == '\0') break;
            continue;
        }
        if (c == '\\' && p[1] == '\n') { /* a line continuation, as in a shell */
            p++;
            continue;
        }
        in_word = 1;
        if (c == '\'') {
            const char *e = strchr(p + 1, '\'');
            if (!e) {
                st = px_fail(PX_ERR_USAGE, "cmd: template: unterminated single quote");
                break;
            }
            memcpy(cur + k, p + 1, (size_t)(e - p - 1));
            k += (size_t)(e - p - 1);
            p = e;
        } else if (c == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1] == '\n') {
                    p++;
                    continue;
                }
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
                cur[k++] = *p;
            }
            if (!*p) {
                st = px_fail(PX_ERR_USAGE, "cmd: template: unterminated double quote");
                break;
            }
        } else if (c == '\\') {
            if (!p[1]) {
                st = px_fail(PX_ERR_USAGE, "cmd: template: ends with a lone backslash");
                break;
            }
            cur[k++] = *++p;
        } else
            cur[k++] = c;
    }
    free(cur);
    if (!st && nw == 0) st = px_fail(PX_ERR_USAGE, "cmd: template is empty");
    if (st) {
        px_template_free(ws, nw);
        return st;
    }
    *words = ws;
    *n = nw;
    return PX_OK;
}

/* word with every {in} and {out} replaced; malloc'd. */
static char *substitute(const char *word, const char *in, const char *out)
{
    size_t cap = strlen(word) + 1, li = strlen(in), lo = strlen(out);
    for (const char *p = word; (p = strchr(p, '{')); p++) cap += li + lo;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t k = 0;
    for (const char *p = word; *p;) {
        if (!strncmp(p, "{in}", 4)) {
            memcpy(s + k, in, li);
            k += li;
            p += 4;
        } else if (!strncmp(p, "{out}", 5)) {
            memcpy(s + k, out, lo);
            k += lo;
            p += 5;
        } else
            s[k++] = *p++;
    }
    s[k] = '\0';
    return s;
}

static px_status check_template(const char *tpl, char ***words, int *n)
{
    px_status st = px_template_split(tpl, words, n);
    if (st) return st;
    if (*n == 1 && strpbrk((*words)[0], " \t\n")) {
        px_template_free(*words, *n);
        *words = NULL;
        *n = 0;
        return px_fail(PX_ERR_USAGE, "cmd: the whole template is quoted as one word; quote each word on its own "
                                     "(e.g. cmd:cp \"{in}\" \"{out}\")");
    }
    int has_in = 0, has_out = 0;
    for (int i = 0; i < *n; i++) {
        has_in |= strstr((*words)[i], "{in}") != NULL;
        has_out |= strstr((*words)[i], "{out}") != NULL;
    }
    if (!has_in || !has_out) {
        px_template_free(*words, *n);
        *words = NULL;
        *n = 0;
        return px_fail(PX_ERR_USAGE, "cmd: template must use {in} and {out} (e.g. cmd:cp {in} {out})");
    }
    return PX_OK;
}

px_status px_optimize_check_driver(const char *driver)
{
    if (!driver) return px_fail(PX_ERR_USAGE, "optimize: --with DRIVER is required (%s)", px_optimize_drivers);
    if (!strncmp(driver, "cmd:", 4)) {
        char **w;
        int n;
        px_status st = check_template(driver + 4, &w, &n);
        if (st) return px_fail_prefix(st, "optimize");
        px_template_free(w, n);
        return PX_OK;
    }
    for (int i = 0; python_drivers[i]; i++)
        if (!strcmp(python_drivers[i], driver)) return PX_OK;
    char s[128];
    show(s, sizeof s, driver);
    return px_fail(PX_ERR_USAGE, "optimize: unknown driver \"%s\" (known: %s)", s, px_optimize_drivers);
}

typedef struct job {
    pid_t pid;
    int file;           /* index of the file */
    FILE *log;          /* the command's stdout and stderr */
} job;

static void finish_command(job *j, int status, char **out, char **tmps, char **names, px_optimize_result *r)
{
    int i = j->file;
    char last[240] = "";
    fflush(j->log);
    px_last_line(fileno(j->log), last, sizeof last);
    fclose(j->log);
    j->log = NULL;
    struct stat sb;
    int wrote = lstat(tmps[i], &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && wrote) {
        if (rename(tmps[i], out[i]) == 0) {
            r->n_ok++;
            return;
        }
        char msg[300];
        snprintf(msg, sizeof msg, "cannot rename the output into place: %s", strerror(errno));
        note_failure(r, names[i], msg);
    } else {
        char msg[400];
        int k;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            k = snprintf(msg, sizeof msg, "the command wrote no output (to {out})");
        else if (WIFEXITED(status)) k = snprintf(msg, sizeof msg, "the command exited with status %d", WEXITSTATUS(status));
        else k = snprintf(msg, sizeof msg, "the command was killed by signal %d", WTERMSIG(status));
        if (*last && k > 0 && (size_t)k < sizeof msg) snprintf(msg + k, sizeof msg - (size_t)k, ": %s", last);
        note_failure(r, names[i], msg);
    }
    unlink(tmps[i]);
}

static px_status run_commands(char **in, char **out, char **names, int n, const px_optimize_opts *o,
                              px_optimize_result *r)
{
    char **words;
    int nw;
    px_status st = check_template(o->driver + 4, &words, &nw);
    if (st) return px_fail_prefix(st, "optimize");
    int jobs = o->jobs > 0 ? o->jobs : 2;
    job *js = calloc((size_t)jobs, sizeof *js);
    char **tmps = calloc((size_t)n + 1, sizeof *tmps);
    char **argv = calloc((size_t)nw + 1, sizeof *argv);
    if (!js || !tmps || !argv) {
        free(js);
        free(tmps);
        free(argv);
        px_template_free(words, nw);
        return px_nomem();
    }
    int next = 0, running = 0, done = 0;
    progress(o, 0, n, 0, 0);
    int killed = 0;
    while (running > 0 || (next < n && !should_stop(o, r) && !px_cancelled())) {
        if (px_cancelled() && !killed) {
            for (int s = 0; s < jobs; s++)
                if (js[s].pid > 0) kill(js[s].pid, SIGTERM);
            killed = 1;
        }
        while (running < jobs && next < n && !should_stop(o, r) && !px_cancelled()) {
            int slot = 0;
            while (js[slot].pid) slot++;
            int i = next++;
            char *dir = px_path_dirname(out[i]);
            const char *base = strrchr(out[i], '/') ? strrchr(out[i], '/') + 1 : out[i];
            size_t len = strlen(dir ? dir : ".") + strlen(base) + 32;
            if ((tmps[i] = malloc(len))) snprintf(tmps[i], len, "%s/.%s.tmp", dir ? dir : ".", base);
            free(dir);
            int ok = tmps[i] != NULL;
            for (int w = 0; ok && w < nw; w++) ok = (argv[w] = substitute(words[w], in[i], tmps[i])) != NULL;
            FILE *log = ok ? tmpfile() : NULL;
            px_status sst = PX_OK;
            if (!ok) sst = px_nomem();
            else if (!log) sst = px_fail(PX_ERR_IO, "cannot create a temporary file: %s", strerror(errno));
            else {
                unlink(tmps[i]); /* a leftover of an earlier run */
                int fds[3] = {-1, fileno(log), fileno(log)};
                sst = px_spawn(argv, fds, NULL, &js[slot].pid);
            }
            for (int w = 0; w < nw; w++) {
                free(argv[w]);
                argv[w] = NULL;
            }
            if (sst) {
                note_failure(r, names[i], px_last_error());
                if (log) fclose(log);
                js[slot].pid = 0;
                done++;
                progress(o, done, n, r->n_failed, 0);
                continue;
            }
            js[slot].file = i;
            js[slot].log = log;
            running++;
        }
        if (!running) continue;
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) {
            if (errno == EINTR) continue;
            st = px_fail(PX_ERR_IO, "wait: %s", strerror(errno));
            break;
        }
        for (int s = 0; s < jobs; s++) {
            if (js[s].pid != pid) continue;
            if (killed) { /* interrupted: not a failure of the file */
                unlink(tmps[js[s].file]);
                fclose(js[s].log);
                js[s].log = NULL;
            } else
                finish_command(&js[s], status, out, tmps, names, r);
            js[s].pid = 0;
            running--;
            done++;
            progress(o, done, n, r->n_failed, 0);
        }
    }
    progress(o, done, n, r->n_failed, 1);
    for (int s = 0; s < jobs; s++)
        if (js[s].pid > 0) {
            kill(js[s].pid, SIGTERM);
            while (waitpid(js[s].pid, NULL, 0) < 0 && errno == EINTR) {}
            unlink(tmps[js[s].file]);
            fclose(js[s].log);
        }
    r->n_not_tried = n - next;
    for (int i = 0; i < n; i++) free(tmps[i]);
    free(tmps);
    free(js);
    free(argv);
    px_template_free(words, nw);
    return st;
}

px_status px_optimize(const char *bucket, const char *out_dir, const px_optimize_opts *opts,
                      px_optimize_result *r)
{
    memset(r, 0, sizeof *r);
    px_optimize_opts o = *opts;
    px_status st = px_optimize_check_driver(o.driver);
    if (st) return st;
    int is_cmd = !strncmp(o.driver, "cmd:", 4);
    if (o.shards <= 0) o.shards = 1;
    if (o.shard < 0 || o.shard >= o.shards) return px_fail(PX_ERR_USAGE, "optimize: bad shard %d/%d", o.shard, o.shards);
    char **files;
    int n;
    st = px_manifest_read(bucket, &files, &n);
    if (st) return st;
    /* by name: neither the shards nor the order outputs are written in
     * depend on the order the manifest lists the files */
    qsort(files, (size_t)n, sizeof *files, cmp_str);
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
    /* every input is a regular file before anything opens one: a FIFO
     * would hang the optimizer, a device or a symlink read what it should not */
    for (int i = 0; !st && i < m; i++) {
        char why[160];
        const char *bad = not_regular(in[i], why, sizeof why);
        if (*bad) st = px_fail(PX_ERR_SECURITY, "%s: %s", in[i], bad);
    }
    struct stat bs, os_;
    if (!st && stat(bucket, &bs) == 0 && stat(out_dir, &os_) == 0 && bs.st_dev == os_.st_dev && bs.st_ino == os_.st_ino)
        st = px_fail(PX_ERR_USAGE, "%s: the output folder is the bucket itself; pick another", out_dir);
    /* earlier results are not replaced unless asked (shards may share OUT:
     * each writes only its own files) */
    for (int i = 0; !st && !o.force && i < m; i++) {
        struct stat fs;
        if (lstat(out[i], &fs) == 0)
            st = px_fail(PX_ERR_IO, "%s: already exists (an earlier run's result); give --force to replace it", out[i]);
    }
    if (!st && mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        st = px_fail(PX_ERR_IO, "%s: cannot create: %s", out_dir, strerror(errno));
    r->n_files = m;
    if (!st && m > 0) st = is_cmd ? run_commands(in, out, names, m, &o, r) : run_python(in, out, names, m, &o, r);
    if (!st && px_cancelled()) {
        int sig = px_cancelled();
        st = px_fail(PX_ERR_INTERRUPTED, "optimize: interrupted (%s) after %d of %d files; no partial file left in %s",
                     sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal",
                     r->n_ok + r->n_failed, m, out_dir);
    }
    if (!st && r->n_failed) {
        if (r->n_not_tried)
            st = px_fail(PX_ERR_MISMATCH,
                         "optimize: stopped after %d failed files (--max-failures %d); %d of %d files not tried",
                         r->n_failed, o.max_failures, r->n_not_tried, m);
        else st = px_fail(PX_ERR_MISMATCH, "optimize: %d of %d files failed", r->n_failed, m);
    }
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
