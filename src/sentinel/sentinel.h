/* Sentinel subgraphs: decoys with exactly the interface of a real subgraph
 * (input and output count, order, dtypes and shapes), valid ONNX, written
 * into the bucket beside the real one so that an attacker cannot tell which
 * of the k+1 files is real. */
#ifndef PX_SENTINEL_H
#define PX_SENTINEL_H

#include "ir/graph.h"
#include "sentinel/pxg.h"
#include "sentinel/weights.h"
#include "util/rng.h"

typedef enum px_sentinel_kind {
    /* The paper's "random opcodes" baseline, made valid: random topology,
     * random operators, shapes that satisfy every op's rules.  A control
     * that `proteus audit` must be able to defeat, not a defence. */
    PX_SENTINEL_RANDOM = 0,
    /* Structure sampled from a model fitted to real subgraphs (pxg.h),
     * attributes solved (Z3) to fit the real interface exactly. */
    PX_SENTINEL_LEARNED,
    PX_SENTINEL_COUNT
} px_sentinel_kind;

/* "random" -> PX_SENTINEL_RANDOM; -1 for an unknown name. */
int px_sentinel_kind_from_name(const char *name);
const char *px_sentinel_kind_name(px_sentinel_kind kind);

typedef struct px_sentinel_opts {
    px_sentinel_kind kind;
    /* Float weights of more than 16 elements carry no data, as in a
     * weightless model (see px_sentinel_weightless): sentinels must not
     * differ from real subgraphs in that. */
    int weightless;
    /* PX_SENTINEL_LEARNED: the fitted model (px_generator_load) */
    const px_generator *generator;
    /* the whole model (may be NULL): the learned generator keeps to its op
     * vocabulary, its style, which the bucket shows anyway */
    const px_graph *model;
    /* statistics of the model's own weights by role, fitted once per model
     * (px_wstats_fit); sentinel weights are drawn from them.  NULL: typical
     * trained-network values */
    const px_wstats *weights;
    /* the node counts of the model's real subgraphs (may be NULL): the
     * learned generator draws each sentinel's size among them, so that a
     * real subgraph's size is one draw among its group's */
    const int *part_sizes;
    int n_part_sizes;
    /* the float weight elements of the same real subgraphs (may be NULL;
     * px_part_weight_elems): a sentinel's weights aim at those of the part
     * its node count was drawn from, so that file sizes hide the real too */
    const int64_t *part_weights;
    /* which of those parts each node of model is in (may be NULL; -1:
     * none): a sentinel's op mix aims at that of the part its size was
     * drawn from, so that the spread of op mixes in a group is the spread
     * of the model's own parts and the real is not the odd one out */
    const int *part_of;
    /* counts sentinels the random generator made in the learned one's
     * stead (no draw fitted); may be NULL */
    int *n_stand_in;
    /* float weight values are drawn from this stream (NULL: the
     * structure's own), so that sentinels that share a structure
     * (skeleton.h) need not share their weights */
    px_rng *weight_rng;
} px_sentinel_opts;

/* Per part of a partition of g (part_of: node -> part, -1 for none): the
 * float initializer elements its nodes read, each initializer once per
 * part.  *out (n_parts entries, NULL when n_parts is 0) is the caller's. */
px_status px_part_weight_elems(const px_graph *g, const int *part_of, int n_parts, int64_t **out);

/* Whether model is weightless: a float initializer of more than 16
 * elements has no data. */
int px_sentinel_weightless(const px_graph *model);

/* How model stores its float tensors (rank >= 1): in Constant nodes, and
 * as initializers (store.c). */
void px_sentinel_storage(const px_graph *model, int *in_consts, int *in_inits);
/* Moves each float initializer of sent that has data into a Constant node
 * with the model's odds (in_consts against in_inits): none when the model
 * has no Constant tensors. */
px_status px_sentinel_store_like(px_graph *sent, int in_consts, int in_inits, px_rng *rng);

/* Generates one sentinel for the subgraph real (its interface and node
 * count are read; nothing else).  out is initialised here and has real's
 * ai.onnx opset; it is not anonymized. */
px_status px_sentinel_generate(const px_sentinel_opts *opts, const px_graph *real, px_rng *rng, px_graph *out);

/* The learned generator (learned.c); px_sentinel_generate dispatches to it. */
px_status px_sentinel_learned(const px_sentinel_opts *opts, const px_graph *real, px_rng *rng, px_graph *out);

#endif
