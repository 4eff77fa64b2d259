/* A digest of a loaded model: BLAKE2b-256 over a canonical, unambiguous
 * serialization of the graph IR.  Two graphs with the same nodes (in the same
 * order), attributes, initializers, interface and opsets have the same
 * digest, whatever the bytes of the file they came from (field order,
 * packed or unpacked encodings, raw_data or typed data). */
#ifndef PX_IR_DIGEST_H
#define PX_IR_DIGEST_H

#include <stdint.h>

#include "ir/graph.h"

/* Serialization (all integers u64 little-endian; "str" is its byte length,
 * then its bytes; a missing string is the length 2^64-1 with no bytes; a
 * float is its IEEE bits as u64):
 *
 *   "proteus-graph-digest/1\0"
 *   u64 ir_version, u64 n_opsets, per opset: str domain, u64 version
 *   u64 n_inputs,  per graph input:  value
 *   u64 n_outputs, per graph output: value
 *   value = str name, u64 dtype, shape, str type_raw (non-tensor types)
 *   shape = u64 rank+1 (0: unknown rank), per dim: u64 kind (0 unknown,
 *           1 known, 2 symbolic) then u64 v or str sym
 *   u64 n_inits, per initializer: str name, tensor
 *   tensor = u64 dtype, u64 rank, u64 dims..., u64 has_data, str data,
 *            u64 n_strings, str strings..., str name
 *   u64 n_nodes, per node (in the graph's current order): str op_type,
 *            str domain, str name, u64 n_in, str input names ("" omitted),
 *            u64 n_out, str output names, u64 n_attrs, per attribute:
 *            str name, u64 type, u64 i, float f, str s, u64 n ints / floats
 *            / strings (each list length-prefixed), u64 has_tensor, tensor,
 *            str raw (graph-valued and other verbatim attributes)
 *
 * Doc strings, producer fields and metadata are left out: they name the
 * file, not the model. */
void px_graph_digest(const px_graph *g, uint8_t out[32]);

/* The same with the values of floating-point tensors (initializers and
 * tensor attributes such as Constant values) left out (tag
 * "proteus-arch-digest/1", has_data kept, data as the empty string): the
 * architecture, which fine-tuning does not change.  Integer tensors (shapes,
 * axes) stay in. */
void px_graph_arch_digest(const px_graph *g, uint8_t out[32]);

#endif
