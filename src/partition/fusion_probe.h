/* Fusion groups learned from the reference optimizer.
 *
 * Before partitioning, the owner runs ONNX Runtime at a level (the public
 * reference optimizer) on the whole model, locally, and compares the
 * optimized graph with the original (python/proteus_py/fusion_probe.py).
 * Every value of the original becomes a weight on the edges that carry it:
 *   fused, folded   it vanished inside a fused node or was constant-folded:
 *                   PX_EDGE_GLUE (never cut);
 *   blocked         kept in the blocked NCHWc layout: a cut costs a
 *                   ReorderOutput/ReorderInput pair, PX_FUSION_BLOCKED;
 *   residual        the skip operand of a residual Add fused into an NCHWc
 *                   Conv ("sum"): a cut leaves the Add (and its activation)
 *                   unfused in plain layout besides the reorders,
 *                   PX_FUSION_RESIDUAL;
 *   exposed         made a graph output (as a cut makes it), it undoes the
 *                   fusion that ends in it (found by a second run of ONNX
 *                   Runtime with such values added as outputs),
 *                   PX_FUSION_EXPOSED;
 *   plain           1.
 * The weights go to px_partition_opts.edge_weight.  Where ONNX Runtime is
 * not available the caller falls back to the fusion table (partition/
 * fusion.h) alone. */
#ifndef PX_FUSION_PROBE_H
#define PX_FUSION_PROBE_H

#include "ir/graph.h"

/* Weights relative to a plain cut (1): a reorder pair reads and writes the
 * tensor twice; an unfused residual Add with its activation and reorders
 * about three times as much again; so does a fusion undone by a cut. */
#define PX_FUSION_BLOCKED 10.0f
#define PX_FUSION_RESIDUAL 30.0f
#define PX_FUSION_EXPOSED 30.0f

/* What --fusion-from names. */
typedef enum px_fusion_source {
    PX_FUSION_TABLE = 0,   /* the hand table only */
    PX_FUSION_ORT_BASIC,
    PX_FUSION_ORT_EXTENDED,
    PX_FUSION_ORT_ALL,
} px_fusion_source;

typedef struct px_fusion_counts {
    int fused, folded, blocked, residual, exposed; /* values of g in each class */
    int unknown;                  /* names the probe gave that g lacks */
} px_fusion_counts;

/* Parses "table", "ort:basic", "ort:extended", "ort:all" (also "ort",
 * meaning all).  PX_ERR_USAGE naming the accepted forms otherwise. */
px_status px_fusion_source_parse(const char *spec, px_fusion_source *out);
/* "basic", "extended", "all"; NULL for the table. */
const char *px_fusion_source_level(px_fusion_source s);

/* Runs the probe (python -m proteus_py.fusion_probe MODEL --level L) on the
 * file g was loaded from and fills *edge_weight (malloc'd, g->n_values
 * entries, indexed by value id; the caller frees).  Values are matched by
 * name, so g may have been sorted or shape-inferred since loading.  counts
 * may be NULL.  Fails, with the probe's one line, when ONNX Runtime cannot
 * load or optimize the model. */
px_status px_fusion_probe(const char *model_path, const px_graph *g, px_fusion_source src, float **edge_weight,
                          px_fusion_counts *counts);

/* What obfuscate and partition call: the edge weights for spec, the value
 * of --fusion-from ("ort:all", "ort:extended", "ort:basic", "table"; NULL:
 * the default, ort:all).  *edge_weight gets g->n_values weights, or NULL
 * for the table.  Given explicitly, a probe that fails is an error; by
 * default the table is used instead, with one warning through warn (may be
 * NULL), and silently for a weightless model (it cannot run) or when
 * model_path is NULL. */
px_status px_fusion_weights_for(const char *model_path, const px_graph *g, const char *spec,
                                void (*warn)(void *ctx, const char *msg), void *warn_ctx, float **edge_weight);

/* The part of px_fusion_probe after the probe ran: the weights from its
 * JSON output {"fused": [names], "folded": [...], "blocked": [...],
 * "residual": [...], "exposed": [...]}, or {"error": "one line"} (then
 * PX_ERR_UNSUPPORTED: "ONNX Runtime cannot optimize the model: ..."). */
px_status px_fusion_weights_from_json(const px_graph *g, const char *json, size_t len, float **edge_weight,
                                      px_fusion_counts *counts);

#endif
