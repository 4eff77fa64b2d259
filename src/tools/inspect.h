/* `proteus inspect`: what a model is made of. */
#ifndef PX_INSPECT_H
#define PX_INSPECT_H

#include <stdio.h>

#include "ir/graph.h"

typedef struct px_op_count {
    const char *op;     /* domain-qualified for non-default domains: "com.microsoft:FusedConv" */
    int count;
} px_op_count;

typedef struct px_inspect {
    int nodes;
    px_op_count *ops;   /* sorted by op name */
    int n_ops;
    int64_t params, param_bytes;
    int64_t flops;      /* multiply-accumulates of Conv/ConvTranspose/Gemm/MatMul/Einsum-free ops */
    int flops_partial;  /* some contributing node had unknown shapes */
    int flops_symbolic; /* symbolic dims were counted as 1 */
    int shape_ok;       /* shape inference succeeded */
    char shape_error[256];
    int n_unsupported;
} px_inspect;

/* Runs shape inference (errors are recorded, not fatal) and counts. */
px_status px_inspect_run(px_graph *g, px_inspect *out);
void px_inspect_free(px_inspect *r);
void px_inspect_print_text(const px_graph *g, const px_inspect *r, FILE *f);
void px_inspect_print_json(const px_graph *g, const px_inspect *r, FILE *f);

/* Every value with its dtype and shape, as one JSON object:
 * {"values": [{"name", "dtype", "shape"}...]}; shape entries are ints, or
 * strings for symbolic dims, or null for unknown; shape null for unknown
 * rank. */
void px_values_print_json(const px_graph *g, FILE *f);

#endif
