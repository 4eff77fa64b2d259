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
 * model written atomically to out_path (nothing is written on a refusal).
 * Each returned file must be a regular file inside dir (a FIFO, device,
 * socket or symbolic link leading out is refused before it is opened), no
 * bigger than its size as sent allows (4 x bytes + 16 MiB, 16 x nodes +
 * 1000; keys without these sizes: the load limits only), with the interface
 * (count, order, dtypes, shapes of inputs and outputs) and the opset imports
 * that were sent (new domains allowed).  Each file fingerprinted at
 * obfuscation is run on the same secret inputs and must compute what was
 * sent (non-finite elements at the same places, values within the dtype's
 * tolerance or probe_tol); a file without a fingerprint is refused unless
 * allow_unverified.  Every refusal names the file.  After stitching, inverse
 * pairs at the seams, unused initializers and unused opset domains go.  The
 * model is written in canonical form (ir/canon.h: node and initializer
 * order, node and inner value names from the graph alone; the model's and
 * the cuts' value names stay), so however the optimizer ordered and named
 * each file's nodes, one bucket gives the same bytes. */
px_status px_reassemble(const char *dir, const char *key_path, const char *out_path,
                        const px_reassemble_opts *opts, px_reassemble_stats *stats);

#endif
