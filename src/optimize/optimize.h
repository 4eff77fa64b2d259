/* optimize: run a graph optimizer over every file of a bucket. */
#ifndef PX_OPTIMIZE_H
#define PX_OPTIMIZE_H

#include "util/error.h"

typedef struct px_optimize_opts {
    const char *driver;   /* ort:basic|ort:extended|ort:all|onnxoptimizer|onnxsim|copy|cmd:TEMPLATE */
    int jobs;             /* parallel workers (default 2) */
    int shard, shards;    /* optimize only files with index % shards == shard */
    int progress;         /* draw a progress bar on stderr */
} px_optimize_opts;

typedef struct px_optimize_result {
    int n_files, n_ok, n_failed;
    char **failed;        /* "FILE: message", n_failed entries */
} px_optimize_result;

/* Optimizes the files listed in bucket/manifest.json into out_dir (created
 * if absent).  Each output is written under a temporary name and renamed,
 * so out_dir never holds a partial file.  Files the optimizer fails on are
 * listed in r (not copied); the call then returns PX_ERR_MISMATCH. */
px_status px_optimize(const char *bucket, const char *out_dir, const px_optimize_opts *opts,
                      px_optimize_result *r);
void px_optimize_result_free(px_optimize_result *r);

/* Reads bucket/manifest.json; files are arena-free malloc'd strings. */
px_status px_manifest_read(const char *bucket, char ***files, int *n);
void px_manifest_free(char **files, int n);

#endif
