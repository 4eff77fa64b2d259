/* optimize: run a graph optimizer over every file of a bucket. */
#ifndef PX_OPTIMIZE_H
#define PX_OPTIMIZE_H

#include "util/error.h"

typedef struct px_optimize_opts {
    const char *driver;   /* ort:basic|ort:extended|ort:all|onnxoptimizer|onnxsim|copy|cmd:TEMPLATE */
    int jobs;             /* parallel workers (default 2) */
    int shard, shards;    /* optimize only files with index % shards == shard (files sorted by name) */
    int progress;         /* draw a progress bar on stderr */
    int max_failures;     /* stop starting files after this many failed (0: never; the CLI's default is 3) */
    int force;            /* replace files an earlier run left in OUT */
} px_optimize_opts;

typedef struct px_optimize_result {
    int n_files, n_ok, n_failed;
    int n_not_tried;      /* files never started: the run stopped early (max_failures) */
    char **failed;        /* "FILE: message", n_failed entries */
    int n_warnings;
    char **warnings;      /* distinct warnings of the optimizer (e.g. ONNX Runtime's hardware warning) */
} px_optimize_result;

/* The drivers proteus knows, for messages: "ort:basic, ..., cmd:TEMPLATE". */
extern const char px_optimize_drivers[];

/* Checks a driver name (and a cmd: template's syntax: it must split into
 * words and use {in} and {out}); PX_ERR_USAGE naming the problem. */
px_status px_optimize_check_driver(const char *driver);

/* Optimizes the files listed in bucket/manifest.json into out_dir (created
 * if absent).  The manifest must list only names obfuscate writes (16
 * lowercase hex digits + ".onnx"), each once, each a regular file (lstat:
 * no FIFO, device or symlink); otherwise nothing is run.  cmd: templates
 * are split into words (single and double quotes, backslash) and run
 * without a shell, {in} and {out} replaced inside each word.  Each output
 * is written under a temporary name and renamed, so out_dir never holds a
 * partial file.  Files are taken (and sharded: index % shards == shard) in
 * name order, whatever order the manifest lists them in.  Files the
 * optimizer fails on are listed in r (not copied); the call then returns
 * PX_ERR_MISMATCH (PX_ERR_INTERRUPTED after SIGINT, SIGTERM or SIGHUP when
 * the caller installed px_cancel_install: running files are stopped and
 * their temporaries removed). */
px_status px_optimize(const char *bucket, const char *out_dir, const px_optimize_opts *opts,
                      px_optimize_result *r);
void px_optimize_result_free(px_optimize_result *r);

/* Splits a cmd: template into words the way a shell would for simple
 * quoting (' ', " " with \" and \\, \ outside quotes, backslash-newline
 * joining lines); nothing else is special.  *words is NULL-terminated; free with px_template_free. */
px_status px_template_split(const char *tpl, char ***words, int *n);
void px_template_free(char **words, int n);

/* Reads bucket/manifest.json (checked as px_optimize says); files are
 * arena-free malloc'd strings. */
px_status px_manifest_read(const char *bucket, char ***files, int *n);
void px_manifest_free(char **files, int n);

#endif
