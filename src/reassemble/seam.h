/* Seam clean-up: after stitching, remove the inverse pairs an optimizer
 * left at subgraph boundaries.  Local rules only; nothing about the
 * optimizer is assumed. */
#ifndef PX_SEAM_H
#define PX_SEAM_H

#include "ir/graph.h"

/* Rules, applied in passes over the sorted graph (linear time each; at
 * most 4 passes) until none fires:
 *  - ReorderOutput -> ReorderInput (com.microsoft.nchwc) of the same
 *    layout (with block padding too: ReorderInput pads to the same block
 *    count, and blocked kernels never read padding into real channels);
 *  - Transpose(P) -> Transpose(Q) with Q after P the identity;
 *  - Cast(A->B) -> Cast(B->A) when B holds every value of A, or when A
 *    and B are floating types and B is the type of a cut value (as ONNX
 *    Runtime's duplicate-cast removal does inside one graph);
 *  - Identity;
 * and before them, what ONNX Runtime's NCHWc transformer does inside one
 * graph but could not across a cut: a residual Add of two blocked tensors
 * (+ Relu) into the convolution as its Sum (+ activation), x *
 * HardSigmoid(x) into the convolution as HardSwish, a channel Concat of
 * whole-block tensors kept blocked.
 * The first node of a pair goes only when nothing else reads its output;
 * a node producing a graph output stays.  *removed gets the number of nodes removed. */
px_status px_seam_cleanup(px_graph *g, int *removed);

#endif
