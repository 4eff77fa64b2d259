/* reassemble: optimized bucket + key -> the optimized model. */
#ifndef PX_REASSEMBLE_H
#define PX_REASSEMBLE_H

#include "crypto/secret.h"
#include "ir/graph.h"

typedef struct px_reassemble_opts {
    int no_seam_cleanup;
    int no_probe;       /* skip the functional check of the returned files */
    double probe_tol;   /* relative tolerance of that check (default: by dtype, 1e-4 of the output's range) */
    int allow_unverified; /* accept, with a warning, real files that have no fingerprint */
    const px_secret *secret; /* opens the key; required */
} px_reassemble_opts;

/* What the refusal of an unfingerprinted file suggests besides
 * --allow-unverified (obfuscate has no --input-shape yet). */
#define PX_REASSEMBLE_UNVERIFIED_HINT ""

typedef struct px_reassemble_stats {
    int n_parts, n_nodes, seam_removed;
} px_reassemble_stats;

/* Stitches the real subgraphs named in the key, read from dir, into one
 * model written atomically to out_path.  Every file's interface (count,
 * order, dtypes, shapes of inputs and outputs) is checked against what was
 * sent, and each file that was fingerprinted at obfuscation is run on the
 * same seeded inputs and must compute what was sent (within probe_tol); a
 * missing, changed or swapped file is refused, naming it. */
px_status px_reassemble(const char *dir, const char *key_path, const char *out_path,
                        const px_reassemble_opts *opts, px_reassemble_stats *stats);

#endif
