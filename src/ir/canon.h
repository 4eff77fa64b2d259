/* Canonical form of a graph: a node order, an initializer order and names
 * that depend only on the graph's structure, never on the order or the
 * names an optimizer happened to give (ONNX Runtime orders and names the
 * nodes of one file differently from one session to the next).
 *
 * Structure is: op types, domains, attributes (graph-valued ones by name
 * and type only: their bytes hold names), the edges with their input and
 * output slots, initializer contents, the positions of the graph inputs
 * and outputs.  Each node gets a 64-bit key: a hash of its ancestors (what
 * it computes from what) and of its descendants (where that goes).  The
 * order is Kahn's algorithm taking the ready node of least key; nodes of
 * equal key are told apart by the canonical positions of what they read,
 * and only nodes with the same key reading the very same values (copies of
 * one computation with alike uses) fall back to their current order.
 * Time O((nodes + edges) log nodes) plus one pass over initializer bytes. */
#ifndef PX_IR_CANON_H
#define PX_IR_CANON_H

#include "ir/graph.h"

/* Fills order[0..n_nodes) with the canonical topological order (node ids of
 * g).  PX_ERR_INVALID on a cycle. */
px_status px_canon_order(px_graph *g, int *order);

/* Reorders g's nodes canonically, then its initializers by first use (node
 * order, then input slot; unused ones after, by graph input/output position
 * then contents), then renames: every node "[pN/]<op>_<position>" (keeping
 * a leading "pN/" part prefix of its current name), every value whose flags
 * meet none of keep_flags and that is no graph input or output: a node's
 * output "<node>_output_<slot>", an initializer "<first reader>_input_<slot>"
 * (unread: "init_<position>").  Declarations (value_info) of values nothing
 * produces or reads are dropped; opset imports are sorted (ai.onnx first,
 * then by domain).  The graph must be valid (acyclic). */
px_status px_graph_canonicalize(px_graph *g, unsigned keep_flags);

#endif
