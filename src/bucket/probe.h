/* Fingerprinting the real subgraphs before they are sent (obfuscate's side
 * of the check reassemble makes), and the owner's input shapes for it. */
#ifndef PX_BUCKET_PROBE_H
#define PX_BUCKET_PROBE_H

#include "bucket/key.h"
#include "crypto/secret.h"
#include "ir/graph.h"

/* Checks --input-shape specs ("NAME=D0,D1,...") against g's inputs: the
 * name must be a graph input, the rank its rank, fixed dims equal. */
px_status px_input_shapes_check(const px_graph *g, const char *const *specs, int n);

/* Unless no_probe, fingerprints each real file (python -m
 * proteus_py.probe compute-request) on inputs drawn from the owner's secret
 * "probe" stream, so the optimizer cannot predict them.  With specs, g's
 * inputs are fixed to them and shapes inferred again (g is changed: call
 * this last), and each file's symbolic inputs get the lengths that implies.
 * paths[0..n) are the real files in key order.  *unprobed counts the files
 * without a fingerprint; why gets the first one's reason. */
px_status px_probe_parts(px_key *key, char **paths, int n, px_graph *g, const char *const *specs, int n_specs,
                         const px_owner_keys *okeys, int no_probe, int *unprobed, char *why, size_t why_len);

#endif
