/* obfuscate: model -> bucket of anonymous subgraph files + the owner's key. */
#ifndef PX_BUCKET_H
#define PX_BUCKET_H

#include <stdint.h>

#include "crypto/secret.h"
#include "ir/graph.h"

/* The newest ai.onnx opset whose rules proteus was written against. */
#define PX_MAX_KNOWN_OPSET 23

typedef struct px_obfuscate_opts {
    int k;              /* sentinels per real subgraph */
    int subgraph_size;  /* default 12 */
    int n_parts;        /* if > 0, instead of subgraph_size */
    uint64_t seed;
    const char *sentinels; /* generator name; NULL = default */
    const char *generator; /* --sentinels learned: the .pxg model file; NULL = the shipped one */
    int no_probe;       /* skip the functional fingerprints (no Python needed) */
    int allow_unverified; /* accept real parts that cannot be fingerprinted */
    int allow_weak;     /* accept a promise under n >= 3 and (k+1)^n >= 10^6 */
    int weightless;     /* accept a model without weight data */
    int force;          /* replace an existing key file */
    const char *const *input_shapes; /* "NAME=D0,D1,..." for the fingerprints' inputs */
    /* "NAME=FILE.npy": values for inputs random draws do not suit (a sample
     * rate, a flag), used wherever proteus runs the whole model */
    const char *const *input_files;
    int n_input_files;
    /* --fusion-from: where fusion groups come from ("table", or "ort:all" /
     * "ort:extended" / "ort:basic": learned from ONNX Runtime optimizing the
     * whole model, see partition/fusion_probe.h); NULL: ort:all, falling
     * back to the table with a warning where ONNX Runtime cannot run it */
    const char *fusion_from;
    const char *model_path; /* the file g came from (set by px_obfuscate): for the fusion probe */
    int n_input_shapes;
    const px_secret *secret; /* seals the key; required */
    /* called after each step of a long stage (may be NULL) */
    void (*progress)(void *ctx, const char *stage, int done, int total);
    void *progress_ctx;
    /* warnings the owner should see (stale temporaries, weak settings); may be NULL */
    void (*warn)(void *ctx, const char *msg);
    void *warn_ctx;
} px_obfuscate_opts;

typedef struct px_obfuscate_stats {
    int n_nodes, n_parts, n_files, cut_edges;
    int min_part, max_part;
    int n_unprobed;     /* real files that could not be fingerprinted */
    int n_stand_in;     /* --sentinels learned: sentinels the random generator made instead */
} px_obfuscate_stats;

/* Partitions the model at model_path, writes the bucket directory (which
 * must not exist) and the key, both atomically. */
px_status px_obfuscate(const char *model_path, const char *bucket_dir, const char *key_path,
                       const px_obfuscate_opts *opts, px_obfuscate_stats *stats);

/* Same on a loaded graph (shape inference is run on it). */
px_status px_obfuscate_graph(px_graph *g, const char *bucket_dir, const char *key_path,
                             const px_obfuscate_opts *opts, px_obfuscate_stats *stats);

#endif
