/* libFuzzer harness: the bucket manifest reader, px_manifest_read (file
 * read, JSON parse, format check, file-name validation), end to end.  The
 * input is written as manifest.json into a private temporary bucket
 * directory (under $TMPDIR, /dev/shm when available) once per run. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "optimize/optimize.h"
#include "util/error.h"

static char bucket[256];
static char manifest[300];

static void cleanup(void)
{
    unlink(manifest);
    rmdir(bucket);
}

static int setup(void)
{
    if (bucket[0]) return 0;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(bucket, sizeof bucket, "%s/px-fuzz-manifest-XXXXXX", base);
    if (!mkdtemp(bucket)) {
        perror("fuzz_manifest: mkdtemp");
        abort();
    }
    snprintf(manifest, sizeof manifest, "%s/manifest.json", bucket);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    int fd = open(manifest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    close(fd);
    char **files;
    int n;
    if (px_manifest_read(bucket, &files, &n) == PX_OK) {
        /* Every accepted name must be a plain file name inside the bucket. */
        for (int i = 0; i < n; i++)
            if (!files[i] || !*files[i] || strchr(files[i], '/') || !strcmp(files[i], ".") ||
                !strcmp(files[i], ".."))
                abort();
        px_manifest_free(files, n);
    } else if (!*px_last_error()) {
        abort(); /* a failure must say why */
    }
    return 0;
}
