#include "util/subproc.h"

#include "util/cancel.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/pyenv.h"

/* argv for `python -m module args...` (NULL-terminated, malloc'd; the
 * strings are borrowed). */
static char **python_argv(const char *python, const char *module, char *const *args, int n_args)
{
    char **argv = calloc((size_t)n_args + 4, sizeof *argv);
    if (!argv) return NULL;
    argv[0] = (char *)python;
    argv[1] = "-m";
    argv[2] = (char *)module;
    for (int i = 0; i < n_args; i++) argv[3 + i] = args[i];
    return argv;
}

px_status px_python_call(const char *module, char *const *args, int n_args, const char *in, size_t in_len,
                         char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    char **argv = python_argv(px_python(), module, args, n_args);
    if (!argv) return px_nomem();
    int pin[2], pout[2];
    if (pipe2(pin, O_CLOEXEC)) {
        free(argv);
        return px_fail(PX_ERR_IO, "pipe: %s", strerror(errno));
    }
    if (pipe2(pout, O_CLOEXEC)) {
        free(argv);
        close(pin[0]);
        close(pin[1]);
        return px_fail(PX_ERR_IO, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        /* a terminal's Ctrl-C reaches the whole process group: the parent
         * stops the child itself, without a Python traceback */
        if (px_cancel_installed()) signal(SIGINT, SIG_IGN);
        px_python_env();
        execvp(argv[0], argv);
        _exit(127);
    }
    free(argv);
    close(pin[0]);
    close(pout[1]);
    if (pid < 0) {
        close(pin[1]);
        close(pout[0]);
        return px_fail(PX_ERR_IO, "fork: %s", strerror(errno));
    }
    /* feed stdin and drain stdout together so neither pipe fills up */
    signal(SIGPIPE, SIG_IGN);
    size_t sent = 0, cap = 4096, len = 0;
    char *buf = malloc(cap);
    px_status st = buf ? PX_OK : px_nomem();
    int in_open = 1;
    if (!in || in_len == 0) {
        close(pin[1]);
        in_open = 0;
    }
    while (!st) {
        struct pollfd pf[2] = {{pout[0], POLLIN, 0}, {in_open ? pin[1] : -1, POLLOUT, 0}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR && px_cancelled()) {
                kill(pid, SIGTERM);
                st = px_cancel_check();
                break;
            }
            if (errno == EINTR) continue;
            st = px_fail(PX_ERR_IO, "poll: %s", strerror(errno));
            break;
        }
        if (in_open && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(pin[1], in + sent, in_len - sent);
            if (w > 0) sent += (size_t)w;
            if (w < 0 || sent == in_len) {
                close(pin[1]);
                in_open = 0;
            }
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (len + 4096 > cap) {
                char *nb = realloc(buf, cap * 2);
                if (!nb) {
                    st = px_nomem();
                    break;
                }
                buf = nb;
                cap *= 2;
            }
            ssize_t r = read(pout[0], buf + len, cap - len - 1);
            if (r <= 0) break;
            len += (size_t)r;
        }
    }
    if (in_open) close(pin[1]);
    close(pout[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!st && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        st = px_fail(PX_ERR_IO, "%s (python -m %s) failed; is the Python environment set up (scripts/setup)?",
                     px_python(), module);
    if (st) {
        free(buf);
        return st;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return PX_OK;
}

px_status px_python_run(const char *python, const char *module, char *const *args, int n_args, const char *in,
                        size_t in_len, int *exit_code)
{
    *exit_code = -1;
    char **argv = python_argv(python ? python : px_python(), module, args, n_args);
    if (!argv) return px_nomem();
    int pin[2];
    if (pipe2(pin, O_CLOEXEC)) {
        free(argv);
        return px_fail(PX_ERR_IO, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pin[0], 0);
        px_python_env();
        execvp(argv[0], argv);
        fprintf(stderr, "proteus: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    const char *exe = argv[0];
    free(argv);
    close(pin[0]);
    if (pid < 0) {
        close(pin[1]);
        return px_fail(PX_ERR_IO, "fork: %s", strerror(errno));
    }
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    for (size_t sent = 0; in && sent < in_len;) {
        ssize_t w = write(pin[1], in + sent, in_len - sent);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break; /* the child stopped reading; its exit status tells why */
        sent += (size_t)w;
    }
    close(pin[1]);
    signal(SIGPIPE, old);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return px_fail(PX_ERR_IO, "waitpid: %s", strerror(errno));
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (*exit_code == 127) return px_fail(PX_ERR_IO, "cannot run %s -m %s", exe, module);
    return PX_OK;
}

px_status px_spawn(char *const *argv, const int fds[3], void (*setup)(void), pid_t *pid)
{
    *pid = -1;
    int ep[2];
    if (pipe2(ep, O_CLOEXEC)) return px_fail(PX_ERR_IO, "pipe: %s", strerror(errno));
    pid_t p = fork();
    if (p == 0) {
        int in = fds && fds[0] >= 0 ? fds[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in >= 0 && in != 0) dup2(in, 0);
        for (int k = 1; k <= 2; k++)
            if (fds && fds[k] >= 0 && fds[k] != k) dup2(fds[k], k);
        signal(SIGPIPE, SIG_DFL);
        if (setup) setup();
        execvp(argv[0], argv);
        int e = errno;
        ssize_t w = write(ep[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(ep[1]);
    if (p < 0) {
        close(ep[0]);
        return px_fail(PX_ERR_IO, "fork: %s", strerror(errno));
    }
    int e = 0;
    ssize_t r;
    while ((r = read(ep[0], &e, sizeof e)) < 0 && errno == EINTR) {}
    close(ep[0]);
    if (r == (ssize_t)sizeof e) {
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {}
        return px_fail(PX_ERR_IO, "cannot run '%s': %s", argv[0], strerror(e));
    }
    *pid = p;
    return PX_OK;
}

void px_last_line(int fd, char *dst, size_t cap)
{
    if (!cap) return;
    dst[0] = '\0';
    char buf[4096];
    off_t end = lseek(fd, 0, SEEK_END);
    if (end <= 0) return;
    off_t from = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
    ssize_t n = pread(fd, buf, (size_t)(end - from), from);
    if (n <= 0) return;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
    ssize_t b = n;
    while (b > 0 && buf[b - 1] != '\n') b--;
    size_t len = (size_t)(n - b);
    if (len > cap - 1) {
        b = n - (ssize_t)(cap - 1);
        len = cap - 1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[b + (ssize_t)i];
        dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    dst[len] = '\0';
}
