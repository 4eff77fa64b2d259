/* Anonymized copies of subgraphs: nothing of the original's naming, order
 * or metadata survives, so bucket files cannot be told apart or linked by
 * their strings. */
#ifndef PX_ANONYMIZE_H
#define PX_ANONYMIZE_H

#include "ir/graph.h"

/* Fields every bucket file shares, so they cannot tell files apart. */
typedef struct px_anon_header {
    int64_t ir_version;
    const px_opset *opsets;   /* the same opset imports in every file */
    int n_opsets;
} px_anon_header;

/* Copies in into out (initialised here) with:
 *  - nodes in a canonical topological order: ties broken by a structural
 *    hash of each node (op, attributes, producers), not the original order;
 *  - values named by position ("i0".. inputs, "o0".. outputs, "w0"..
 *    initializers by first use, "t0".. the rest by production), nodes
 *    "n0"..; graph named "g";
 *  - no doc strings, metadata or producer version; producer "proteus";
 *  - ir_version and opsets from hdr;
 *  - value_info for every intermediate value of known type.
 * Inputs and outputs keep their order (the key records the interface by
 * position). */
px_status px_anonymize(const px_graph *in, const px_anon_header *hdr, px_graph *out);
/* The same, moving in's initializer payloads into out instead of copying
 * them (a sentinel's weights are not needed twice); in is left to be freed. */
px_status px_anonymize_move(px_graph *in, const px_anon_header *hdr, px_graph *out);

#endif
