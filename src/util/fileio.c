#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m)
{
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISDIR(m)) return "a directory";
    return "not a plain file";
}

px_status px_open_regular(const char *path, int *fd, long long *size)
{
    *fd = -1;
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (f < 0) return px_fail(PX_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        px_status st = px_fail(PX_ERR_IO, "%s: %s", path, strerror(errno));
        close(f);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(f);
        return px_fail(PX_ERR_IO, "%s: not a regular file (%s)", path, file_kind(sb.st_mode));
    }
    int fl = fcntl(f, F_GETFL);
    if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        px_status st = px_fail(PX_ERR_IO, "%s: %s", path, strerror(errno));
        close(f);
        return st;
    }
    *fd = f;
    if (size) *size = (long long)sb.st_size;
    return PX_OK;
}

char *px_path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

char *px_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

px_status px_atomic_open(px_atomic *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->final_path = strdup(path);
    size_t n = strlen(path) + 48;
    a->tmp_path = malloc(n);
    if (!a->final_path || !a->tmp_path) {
        free(a->final_path);
        free(a->tmp_path);
        return px_nomem();
    }
    /* Hidden temporary next to the target: same filesystem, so rename is
     * atomic, and a crash leaves only a dot-file that no reader picks up. */
    char *dir = px_path_dirname(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!dir) return px_nomem();
    snprintf(a->tmp_path, n, "%s/.%s.tmp%ld", dir, base, (long)getpid());
    free(dir);
    int fd = open(a->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || !(a->f = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) close(fd);
        px_status st = px_fail(PX_ERR_IO, "%s: cannot create: %s", path, strerror(e));
        free(a->final_path);
        free(a->tmp_path);
        memset(a, 0, sizeof *a);
        return st;
    }
    return PX_OK;
}

void px_atomic_write(px_atomic *a, const void *p, size_t n)
{
    if (a->failed || !n) return;
    if (fwrite(p, 1, n, a->f) != n) a->failed = errno ? errno : EIO;
}

px_status px_atomic_commit(px_atomic *a)
{
    px_status st = PX_OK;
    if (!a->f) return px_fail(PX_ERR_IO, "internal: commit of a closed file");
    if (fflush(a->f) != 0 && !a->failed) a->failed = errno;
    if (!a->failed && !a->no_sync && fsync(fileno(a->f)) != 0) a->failed = errno;
    if (fclose(a->f) != 0 && !a->failed) a->failed = errno;
    a->f = NULL;
    if (a->failed) {
        st = px_fail(PX_ERR_IO, "%s: write failed: %s", a->final_path, strerror(a->failed));
        unlink(a->tmp_path);
    } else if (rename(a->tmp_path, a->final_path) != 0) {
        st = px_fail(PX_ERR_IO, "%s: cannot rename into place: %s", a->final_path, strerror(errno));
        unlink(a->tmp_path);
    } else if (!a->no_sync) {
        char *dir = px_path_dirname(a->final_path);
        if (dir) {
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
    free(a->final_path);
    free(a->tmp_path);
    memset(a, 0, sizeof *a);
    return st;
}

void px_atomic_abort(px_atomic *a)
{
    if (a->f) fclose(a->f);
    if (a->tmp_path) unlink(a->tmp_path);
    free(a->final_path);
    free(a->tmp_path);
    memset(a, 0, sizeof *a);
}

px_status px_read_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd;
    long long size;
    px_status st = px_open_regular(path, &fd, &size);
    if (st) return st;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        st = px_fail(PX_ERR_IO, "%s: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    size_t n = (size_t)size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return px_nomem();
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return px_fail(PX_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return PX_OK;
}

px_status px_write_file_atomic(const char *path, const void *data, size_t len)
{
    px_atomic a;
    px_status st = px_atomic_open(&a, path);
    if (st) return st;
    px_atomic_write(&a, data, len);
    return px_atomic_commit(&a);
}
