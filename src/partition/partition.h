/* Randomized, balanced, convex, fusion-aware graph partitioning.
 *
 * Nodes computed from constants only (Constant, Identity of a weight, shape
 * arithmetic on initializers) are not assigned a part: they are replicated
 * into every subgraph that reads them, so a constant never becomes a
 * runtime input (which would stop Conv bias, Clip bound and BatchNorm
 * folding).  The other nodes are first glued into atoms along the fusion
 * patterns (partition/fusion.h), then atoms are contracted along random
 * edges, Karger-Stein style, refusing a contraction that would make the
 * graph of parts cyclic or a part larger than the size cap; the most
 * balanced of several trials wins.
 *
 * With edge weights learned from the reference optimizer (partition/
 * fusion_probe.h), the values it fused are glued like table patterns (as
 * long as a group stays within the size cap and the graph of groups
 * acyclic), contraction picks edges with probability growing with their
 * weight, and the trial whose cut weighs least wins among those with the
 * requested count. */
#ifndef PX_PARTITION_H
#define PX_PARTITION_H

#include <stdint.h>

#include "ir/graph.h"

typedef struct px_partition_opts {
    int subgraph_size;  /* target nodes per part (default 12) */
    int n_parts;        /* if > 0: the number of parts wanted instead */
    uint64_t seed;
    int trials;         /* best-of (default 16; 64 with edge weights) */
    /* Optional: what cutting the edges that carry value v costs, indexed by
     * value id (n_edge_weight entries, normally g->n_values; ids past it
     * cost 1).  1: a copy; PX_EDGE_GLUE or more: never cut (glued before
     * contraction).  NULL: the fusion table alone, as before. */
    const float *edge_weight;
    int n_edge_weight;
} px_partition_opts;

#define PX_EDGE_GLUE 1000.0f

typedef struct px_partition {
    int n_parts;
    int *part_of;       /* node id -> part (0..n_parts-1), -1: replicated constant */
    int *part_size;     /* nodes per part */
    int cut_edges;      /* tensor edges between parts */
    double cut_weight;  /* with weights: the weight of each value that crosses, once
                           per part that receives it; cut_edges without weights */
} px_partition;

/* Parts are numbered in a topological order of the graph of parts.
 * g must be valid (px_graph_validate) and indexed. */
px_status px_partition_graph(px_graph *g, const px_partition_opts *opts, px_partition *out);
void px_partition_free(px_partition *p);

/* Marks constant-only nodes: is_const[i] = 1.  Caller frees. */
px_status px_partition_constant_nodes(const px_graph *g, char **is_const);

/* PX_OK when the graph of parts is acyclic; PX_ERR_INVALID naming a part
 * otherwise. */
px_status px_partition_check_convex(const px_graph *g, const px_partition *p);

#endif
