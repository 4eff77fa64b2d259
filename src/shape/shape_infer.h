/* Shape and dtype inference over the graph IR.
 *
 * Walks the nodes in topological order and sets dtype and shape of every
 * node output, propagating small integer contents (Shape, Constant,
 * Gather/Concat/Slice on them, ...) so that Reshape/Expand/Slice targets
 * computed at run time resolve.  Symbolic dims stay symbolic. */
#ifndef PX_SHAPE_INFER_H
#define PX_SHAPE_INFER_H

#include "ir/graph.h"

typedef struct px_shape_report {
    int n_unsupported;          /* nodes whose op has no inference rule */
    const char *first_unsupported; /* op_type of the first such node */
    int n_declared_conflicts;   /* graph outputs whose declared shape contradicts inference (inferred kept) */
    const char *first_declared_conflict; /* the first such output's name */
} px_shape_report;

/* Infers every node output.  Declared shapes of graph inputs and
 * initializers are the starting point; value_info from the file is
 * overwritten by what is inferred.  Where inference cannot tell an
 * output's dtype, rank or a dim (an op without a rule, an If whose bodies
 * declare no types), the value keeps the type it had before the call:
 * value_info from the file, or a type the caller set (obfuscate's types
 * from ONNX Runtime, bucket/capture.h), so running it again loses nothing.
 * Kept dims drop the "unk__N" symbols a run makes up.  Inconsistent shapes (a Conv whose
 * weight channels do not match its input, broadcasting of 3 against 4, a
 * Reshape of 10 elements to 12) fail with PX_ERR_SHAPE naming the node.
 * Unsupported ops leave their outputs unknown and are counted in report
 * (which may be NULL). */
px_status px_shape_infer(px_graph *g, px_shape_report *report);

/* Whether an op has an inference rule ("" domain = ai.onnx). */
int px_shape_op_supported(const char *domain, const char *op_type);

#endif
