/* Inlining model-local functions (ModelProto.functions) at load time.
 *
 * Exporters (torch's dynamo exporter among them) put parts of a model into
 * local functions.  A bucket file holding a call would reach the optimizer
 * without the function's body, so obfuscate loads models with their calls
 * expanded: each call node is replaced by the function's nodes, its values
 * renamed into a scope of their own, attribute references resolved from the
 * caller. */
#ifndef PX_ONNX_INLINE_H
#define PX_ONNX_INLINE_H

#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"
#include "onnx.pb-c.h"

/* Expands the calls of gp's nodes to the functions found in the packed
 * ModelProto fields extra (field 25), recursively.  The new node list
 * (pointing into gp's own nodes where nothing changed, the rest in ar) goes
 * to *nodes / *n_nodes; gp is not modified.  g gives the model's opsets:
 * a function whose ai.onnx opset differs from the model's is refused. */
px_status px_onnx_inline_calls(const Onnx__GraphProto *gp, const uint8_t *extra, size_t extra_len, px_graph *g,
                               px_arena *ar, const char *what, Onnx__NodeProto ***nodes, size_t *n_nodes,
                               int *n_inlined);

/* Drops every occurrence of top-level field `field` from a packed message;
 * returns the new length (the buffer is compacted in place). */
size_t px_wire_drop_field(uint8_t *buf, size_t len, uint32_t field);

#endif
