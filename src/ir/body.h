/* Control-flow bodies: the graphs inside graph-valued attributes (If's
 * branches, Loop's and Scan's body), kept as packed AttributeProto bytes.
 *
 * A body reads values of the enclosing graph by name (outer-scope
 * references).  The IR makes those reads explicit: px_body_bind appends
 * them to the node's inputs as implicit inputs (px_node.n_implicit, with
 * the names the body uses in px_node.implicit_names), so that ordering,
 * partitioning, extraction and stitching see them as ordinary edges.  When
 * the enclosing values are renamed (anonymization, stitching), the body is
 * rewritten on save so that it reads the new names. */
#ifndef PX_BODY_H
#define PX_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"

/* The names that the graphs of one graph-valued attribute (packed
 * AttributeProto) read from enclosing scopes, deduplicated, in first-use
 * order; strings live in ar. */
px_status px_body_free_names(const uint8_t *raw, size_t len, px_arena *ar, const char ***names, int *n);

typedef struct px_body_rename {
    int n;                    /* outer names: from[i] as the body reads it -> to[i] */
    const char *const *from;
    const char *const *to;
    /* Names defined inside the bodies (values, nodes, the graphs
     * themselves): with anonymize, replaced by prefix + a counter and doc
     * strings and unknown fields dropped; otherwise, when prefix is set,
     * prefixed; otherwise kept. */
    int anonymize;
    const char *prefix;
    int *counter;             /* shared across the attributes of a graph */
} px_body_rename;

/* Rewrites one graph-valued attribute (packed AttributeProto) by r into a
 * new packed attribute in ar. */
px_status px_body_rewrite(const uint8_t *raw, size_t len, const px_body_rename *r, px_arena *ar, uint8_t **out,
                          size_t *out_len);

/* The declared types of the outputs of the graph in attribute raw
 * (AttributeProto.g): up to cap of them into dtypes/shapes (dims in g's
 * arena); *n gets the count (all of them, even beyond cap). */
px_status px_body_output_types(const uint8_t *raw, size_t len, px_graph *g, px_dtype *dtypes, px_shape *shapes,
                               int cap, int *n);

/* Binds every node's outer-scope reads as implicit inputs (see above).
 * Fails, naming the node, when a body reads a name the graph does not
 * define.  Idempotent for nodes already bound. */
px_status px_body_bind(px_graph *g);

/* Whether any node of g has a graph-valued attribute. */
int px_graph_has_bodies(const px_graph *g);

#endif
