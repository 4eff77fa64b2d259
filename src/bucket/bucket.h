/* obfuscate: model -> bucket of anonymous subgraph files + the owner's key. */
#ifndef PX_BUCKET_H
#define PX_BUCKET_H

#include <stdint.h>

#include "crypto/secret.h"
#include "ir/graph.h"

typedef struct px_obfuscate_opts {
    int k;              /* sentinels per real subgraph */
    int subgraph_size;  /* default 12 */
    int n_parts;        /* if > 0, instead of subgraph_size */
    uint64_t seed;
    const char *sentinels; /* generator name; NULL = default */
    int no_probe;       /* skip the functional fingerprints (no Python needed) */
    const px_secret *secret; /* seals the key; required */
} px_obfuscate_opts;

typedef struct px_obfuscate_stats {
    int n_nodes, n_parts, n_files, cut_edges;
    int min_part, max_part;
    int n_unprobed;     /* real files that could not be fingerprinted */
} px_obfuscate_stats;

/* Partitions the model at model_path, writes the bucket directory (which
 * must not exist) and the key, both atomically. */
px_status px_obfuscate(const char *model_path, const char *bucket_dir, const char *key_path,
                       const px_obfuscate_opts *opts, px_obfuscate_stats *stats);

/* Same on a loaded graph (shape inference is run on it). */
px_status px_obfuscate_graph(px_graph *g, const char *bucket_dir, const char *key_path,
                             const px_obfuscate_opts *opts, px_obfuscate_stats *stats);

#endif
