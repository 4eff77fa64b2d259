/* Control flow in sentinels.
 *
 * A real subgraph that holds If/Loop/Scan nodes carries graph-valued
 * attributes; a sentinel without any would name the real file of its group
 * outright.  So a sentinel gets the control flow its real subgraph has (the
 * same number of If, Loop and Scan nodes, bodies about as large and as
 * deeply nested), and a sentinel of a subgraph without control flow gets
 * none: within a group every file has control flow or none does, and the
 * fraction of files with control flow is the real files' fraction exactly.
 *
 * Control flow is added to a sentinel the generator (random.c, learned.c)
 * already made: a float value v of the sentinel is replaced, for all its
 * readers, by what a control-flow node computes from it, with v's exact
 * dtype and shape, so the interface does not change.  The bodies are
 * written the way exporters write them:
 *  - If: the condition is computed from data (a reduced value compared with
 *    a constant, or a dim of v's shape compared with a number), optionally
 *    cast to bool as torch does; two branches of the same output type
 *    compute different things (one may be an Identity, as torch writes an
 *    untaken squeeze);
 *  - Loop: a trip count (a constant or a dim of the shape), a start
 *    condition (true, or computed from data), a body with the iteration
 *    number, the condition passed through and one carried value, and one
 *    scan output that is averaged afterwards (torch's list appends);
 *  - Scan (only where the real subgraph has one): a recurrence over axis 0
 *    with one state.
 * Bodies read the sentinel's weights and v from the enclosing scope by
 * name, as exported bodies do; the caller's anonymization renames them. */
#ifndef PX_SENTINEL_CONTROL_FLOW_H
#define PX_SENTINEL_CONTROL_FLOW_H

#include "sentinel/sentinel.h"

/* What control flow a graph holds at its top level. */
typedef struct px_cf_profile {
    int n_if, n_loop, n_scan; /* nodes of each kind (other ops with bodies are not counted) */
    int depth;                /* nesting: 1 when no body holds control flow, 0 without any */
    int body_nodes;           /* nodes per body, on average over all bodies (rounded up) */
    int named;                /* most body nodes have names */
    int typed;                /* most bodies declare the types of their intermediate values */
} px_cf_profile;

/* Reads g's profile; a malformed body fails (PX_ERR_PARSE). */
px_status px_cf_profile_of(const px_graph *g, px_cf_profile *p);

/* Adds the control flow p describes to g: a valid graph whose shapes are
 * inferred (a sentinel as a generator leaves it).  Of opts: weights are
 * drawn from opts->weights (NULL: typical values) and, with weightless,
 * those of more than 16 elements carry no data; opts->model (may be NULL)
 * is the whole model, whose ops bodies prefer.  When g has no value to
 * hang control flow on (no float intermediate of a known rank), g is left
 * as it is.  On success g is valid, sorted, inferred, with its outputs
 * declared as before. */
px_status px_cf_insert(px_graph *g, const px_cf_profile *p, const px_sentinel_opts *opts, px_rng *rng);

/* The generators' hook: s, the sentinel made for real, gets real's control
 * flow (px_cf_insert with real's profile); nothing when real has none.
 * Should what was added not check out (PX_ERR_MISMATCH/SHAPE: a bug), s
 * is given back as it was, without control flow, rather than failing. */
px_status px_sentinel_control_flow(const px_sentinel_opts *opts, const px_graph *real, px_rng *rng, px_graph *s);

#endif
