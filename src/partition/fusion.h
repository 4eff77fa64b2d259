/* Patterns that graph optimizers fuse.  The partitioner never cuts inside
 * one: a cut there would cost the fusion in every optimized subgraph. */
#ifndef PX_FUSION_H
#define PX_FUSION_H

#include "ir/graph.h"

/* One row of the table: a chain of ops along producer -> consumer edges.
 * Each element may list alternatives separated by '|'.  Every matched
 * prefix of at least min_len nodes is kept together (a
 * Conv->BatchNormalization pair still folds without the activation that
 * would follow); min_len 0 means the whole chain must match. */
typedef struct px_fusion_pattern {
    const char *name;
    int min_len;
    const char *chain[12];   /* NULL-terminated */
} px_fusion_pattern;

extern const px_fusion_pattern px_fusion_patterns[];
extern const int px_fusion_pattern_count;

/* Calls glue(ctx, a, b) for every pair of node ids (a produces an input of
 * b) that lies inside a matched pattern.  g must be indexed. */
void px_fusion_match(const px_graph *g, void (*glue)(void *ctx, int a, int b), void *ctx);

#endif
