/* One part of a partition as a standalone model. */
#ifndef PX_EXTRACT_H
#define PX_EXTRACT_H

#include "ir/graph.h"
#include "partition/partition.h"

/* The interface of an extracted part, as value ids of the ORIGINAL graph. */
typedef struct px_part_io {
    int n_inputs, n_outputs;
    int *inputs;    /* in the subgraph's input order */
    int *outputs;   /* in the subgraph's output order */
} px_part_io;

/* Builds part `part` of p as a standalone graph in out (initialised here):
 * its nodes, the constant-only nodes they read (replicated), the
 * initializers they read (copied), inputs = values it reads that are
 * produced elsewhere or are graph inputs (ordered by first use), outputs =
 * values it produces that other parts or the graph's outputs read (ordered
 * by production).  Names are the original ones; dtypes and shapes are
 * copied from g, which must have been through shape inference.  Opsets and
 * ir_version are copied from g. */
px_status px_extract_part(const px_graph *g, const px_partition *p, int part, px_graph *out, px_part_io *io);
void px_part_io_free(px_part_io *io);

#endif
