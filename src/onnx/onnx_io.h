/* ONNX files in and out of the graph IR (protobuf-c underneath). */
#ifndef PX_ONNX_IO_H
#define PX_ONNX_IO_H

#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"

/* Defensive caps on what a load accepts (hardening).  Exceeding one fails
 * with PX_ERR_LIMIT and a message naming the file, the count and the limit:
 *   "<file>: graph has N nodes, more than the limit of M (--max-nodes)"
 *   "<file>: tensor 'T' (DIMS of DTYPE) has N bytes, more than the limit of M (--max-tensor-bytes)"
 *   "<file>: tensors hold at least N bytes in all (counting up to tensor 'T'), more than the limit of M (--max-total-bytes)"
 * Sizes are what the dims declare (so a weightless initializer counts what
 * rehydrate would allocate); every initializer and tensor attribute counts,
 * including external data.  The defaults leave room for the corpus's
 * largest model (XLM, 2.7 GB rehydrated, 1 GB in its largest tensor). */
typedef struct px_load_limits {
    int64_t max_nodes;        /* nodes in the main graph (at most PX_MAX_NODES) */
    int64_t max_tensor_bytes; /* one tensor's payload */
    int64_t max_total_bytes;  /* all tensors of the model together */
} px_load_limits;

#define PX_DEFAULT_MAX_NODES 1000000
#define PX_DEFAULT_MAX_TENSOR_BYTES ((int64_t)16 << 30)  /* 16 GiB */
#define PX_DEFAULT_MAX_TOTAL_BYTES ((int64_t)64 << 30)   /* 64 GiB */

/* The defaults above. */
px_load_limits px_load_limits_default(void);
/* Sets the process-wide limits every later load uses (the CLI calls it for
 * --max-nodes / --max-tensor-bytes / --max-total-bytes before loading); a
 * field <= 0 keeps its default, max_nodes is capped at PX_MAX_NODES.  Not
 * meant to race with loads in other threads. */
void px_set_load_limits(const px_load_limits *l);
px_load_limits px_get_load_limits(void);

/* Loads path into g (g must be freshly initialised; it is left empty on
 * failure).  External data is read relative to the model's directory; a
 * location outside it (absolute, "..", or through a symlink) is refused.
 * Initializers without data (the corpus's weightless form) load with
 * t->data == NULL.  The graph is validated (dangling inputs, duplicate
 * producers, cycles, unknown dtypes) and held to the load limits above. */
px_status px_onnx_load(const char *path, px_graph *g);
/* The same with calls of model-local functions expanded into the
 * functions' nodes (src/onnx/onnx_inline.h); the definitions are dropped. */
px_status px_onnx_load_inlined(const char *path, px_graph *g);

/* Same from a buffer; base_dir is where external data is looked up (NULL:
 * external data refused); what names the source in error messages. */
px_status px_onnx_load_buffer(const uint8_t *buf, size_t len, const char *base_dir,
                              const char *what, px_graph *g);

typedef struct px_save_opts {
    /* 0: write value_info only for values that had it in the file;
     * 1: write it for every intermediate value whose dtype is known. */
    int all_value_info;
    /* Tensors of at least this many bytes go to "<model>.data" beside the
     * model when the model would otherwise exceed protobuf's 2 GiB limit
     * (or always, when force_external is set).  0 = default (1024). */
    size_t external_min_bytes;
    int force_external;
    /* skip fsync (a scratch file: whoever keeps it syncs it) */
    int no_sync;
} px_save_opts;

/* Writes g to path atomically (a temporary beside it, fsync, rename).
 * opts may be NULL for defaults. */
px_status px_onnx_save(const px_graph *g, const char *path, const px_save_opts *opts);

/* Serialises g to a malloc'd buffer (no external data). */
px_status px_onnx_save_buffer(const px_graph *g, const px_save_opts *opts, uint8_t **buf, size_t *len);

#endif
