/* File helpers: whole-file reads and atomic writes (temporary name in the
 * same directory, fsync, rename), so an output appears whole or not at all. */
#ifndef PX_FILEIO_H
#define PX_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "util/error.h"

typedef struct px_atomic {
    FILE *f;
    char *final_path;
    char *tmp_path;
    int failed;          /* a write failed; commit will refuse */
    int no_sync;         /* set after open: skip the fsyncs (scratch files a later step syncs) */
} px_atomic;

px_status px_atomic_open(px_atomic *a, const char *path);
/* Writes n bytes; remembers a failure for commit to report. */
void px_atomic_write(px_atomic *a, const void *p, size_t n);
/* Flushes, fsyncs, renames into place and fsyncs the directory. */
px_status px_atomic_commit(px_atomic *a);
/* Removes the temporary file (safe to call after a failed commit). */
void px_atomic_abort(px_atomic *a);

/* Reads a whole file into a malloc'd buffer (NUL-terminated for text). */
px_status px_read_file(const char *path, char **data, size_t *len);
/* Writes a whole buffer atomically. */
px_status px_write_file_atomic(const char *path, const void *data, size_t len);

/* Opens path for reading only if it is a regular file: the open never
 * blocks (O_NONBLOCK, so a FIFO or a device cannot hang the caller), then
 * fstat must say S_ISREG; the descriptor is returned blocking again.  A
 * FIFO, device, socket or directory is refused with "PATH: not a regular
 * file (a FIFO)" etc.; *size gets the file's size when size is not NULL. */
px_status px_open_regular(const char *path, int *fd, long long *size);

/* Directory part of path ("." when none); malloc'd. */
char *px_path_dirname(const char *path);
/* Joins dir and name with '/'; malloc'd. */
char *px_path_join(const char *dir, const char *name);

#endif
