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

/* What the fingerprints know of the whole model: the file it came from
 * (NULL: unknown, each file gets random inputs from its declared types),
 * the owner's --input-shape specs and --input NAME=FILE.npy values. */
typedef struct px_probe_model {
    const char *model_path;
    const char *const *specs;
    int n_specs;
    const char *const *input_files;
    int n_input_files;
} px_probe_model;

/* Unless no_probe, fingerprints each real file (python -m
 * proteus_py.probe compute-request) on inputs drawn from the owner's secret
 * "probe" stream, so the optimizer cannot predict them.  With a model path,
 * the whole model runs once (on the specs and input files, random values
 * from the secret stream otherwise) and each file's inputs follow what
 * flows across its cuts there: the model's shapes, the model's integer
 * values (shape tensors, indices), fresh random floats.  With specs, g's
 * inputs are also fixed to them and shapes inferred again (g is changed:
 * call this last), and each file's symbolic inputs get the lengths that
 * implies where the whole model cannot run.  The fingerprint also records
 * how far ONNX Runtime's own optimization moves each output (the check's
 * bound).  paths[0..n) are the real files in key order.  *unprobed counts
 * the files without a fingerprint; why gets the first one's reason. */
px_status px_probe_parts(px_key *key, char **paths, int n, px_graph *g, const px_probe_model *model,
                         const px_owner_keys *okeys, int no_probe, int *unprobed, char *why, size_t why_len);

#endif
