/* ONNX files in and out of the graph IR (protobuf-c underneath). */
#ifndef PX_ONNX_IO_H
#define PX_ONNX_IO_H

#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"

/* Loads path into g (g must be freshly initialised; it is left empty on
 * failure).  External data is read relative to the model's directory; a
 * location outside it (absolute, "..", or through a symlink) is refused.
 * Initializers without data (the corpus's weightless form) load with
 * t->data == NULL.  The graph is validated (dangling inputs, duplicate
 * producers, cycles, unknown dtypes). */
px_status px_onnx_load(const char *path, px_graph *g);

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
} px_save_opts;

/* Writes g to path atomically (a temporary beside it, fsync, rename).
 * opts may be NULL for defaults. */
px_status px_onnx_save(const px_graph *g, const char *path, const px_save_opts *opts);

/* Serialises g to a malloc'd buffer (no external data). */
px_status px_onnx_save_buffer(const px_graph *g, const px_save_opts *opts, uint8_t **buf, size_t *len);

#endif
