/* Small helpers for code that writes graphs node by node (the sentinel
 * generators): fresh value names from a counter, one-output nodes, typed
 * attributes, int64 constants. */
#ifndef PX_BUILD_H
#define PX_BUILD_H

#include "ir/graph.h"

/* A new value named "v<counter>" (the counter advances); -1 out of memory. */
int px_build_value(px_graph *g, int *counter);

/* op(ins) with one new output; *node_out may be NULL. */
px_status px_build_node(px_graph *g, int *counter, const char *op, const int *ins, int n_in, int *out, int *node_out);

px_status px_build_attr_int(px_graph *g, int node, const char *name, int64_t v);
px_status px_build_attr_float(px_graph *g, int node, const char *name, float v);
px_status px_build_attr_ints(px_graph *g, int node, const char *name, const int64_t *v, int n);
px_status px_build_attr_string(px_graph *g, int node, const char *name, const char *v);

/* An int64 vector initializer (shapes, axes). */
px_status px_build_int64s(px_graph *g, int *counter, const int64_t *vals, int n, int *out);

/* An int64 scalar initializer (an index, a length). */
px_status px_build_int64_scalar(px_graph *g, int *counter, int64_t v, int *out);

/* A filled int64 tensor: n values, rank 1 (rank 0 when scalar and n is 1);
 * NULL out of memory. */
px_tensor *px_build_int64_tensor(const int64_t *vals, int n, int scalar);

/* Tensor t (which it takes; NULL: out of memory) as the output of a
 * Constant node, as exporters write small constants. */
px_status px_build_constant(px_graph *g, int *counter, px_tensor *t, int *out);

/* Makes tensor t (which it takes) the initializer of new value *out, with
 * t's dtype and shape declared. */
px_status px_build_init(px_graph *g, int *counter, px_tensor *t, int *out);

#endif
