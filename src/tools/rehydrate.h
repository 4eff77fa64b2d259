/* Weightless corpus models -> runnable models. */
#ifndef PX_REHYDRATE_H
#define PX_REHYDRATE_H

#include <stdint.h>

#include "ir/graph.h"

/* Fills every initializer without data with deterministic pseudo-random
 * values (same seed and graph -> same bytes).  Floating weights are drawn
 * uniform in +-sqrt(3/fan_in) so deep stacks stay finite; tensors that feed
 * a normalisation's variance are made positive; integer tensors get small
 * non-negative values. */
px_status px_rehydrate(px_graph *g, uint64_t seed);

#endif
