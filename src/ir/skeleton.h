/* A graph's skeleton: what its structure is once names, dims and float
 * tensor values are set aside.
 *
 * Two subgraphs have the same skeleton when they have the same operators
 * (type, domain, attributes, integer constants), wired the same way (which
 * output feeds which input slot, which slots read a graph input or an
 * initializer of which dtype and rank), and the same interface dtypes and
 * ranks.  The repeated blocks of a model (every encoder layer, the blocks
 * of a CNN stage, often one stage's block against another's) share a
 * skeleton; the bucket gives their sentinels shared skeletons too
 * (sentinel_writer.h), so that structure recurs among sentinels as it does
 * among real subgraphs. */
#ifndef PX_IR_SKELETON_H
#define PX_IR_SKELETON_H

#include <stdint.h>

#include "ir/graph.h"

typedef struct px_skeleton {
    uint64_t shape_free; /* operators, attributes, wiring, integer tensor values, interface dtypes and ranks */
    uint64_t exact;      /* the same with every dim (interface, weights, tensors) */
    uint64_t iface;      /* the interface: dtypes and dims */
} px_skeleton;

/* Hashes of g's structure (Weisfeiler-Lehman refinement, 3 rounds, over
 * the directed graph, input slots in order: independent of node order and
 * names).  Equal structures give equal hashes; unequal ones collide with
 * negligible probability.  Float tensor values never count.  Fails only
 * for lack of memory. */
px_status px_graph_skeleton(const px_graph *g, px_skeleton *out);

/* Whether two subgraphs' sentinels may share their structures: the same
 * structure up to dims, and either the same dims too (twins) or another
 * interface (a block of another stage).  Not when only inner dims differ
 * behind one interface: their sentinels would then be exact twins where
 * the reals are not. */
int px_skeleton_shared(const px_skeleton *a, const px_skeleton *b);

#endif
