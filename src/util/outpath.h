/* Guarding the owner's files: an output path must not be one of the
 * command's inputs, and must not replace an existing file unless asked. */
#ifndef PX_OUTPATH_H
#define PX_OUTPATH_H

#include "util/error.h"

/* Fails (PX_ERR_USAGE) when out is the same file as any of inputs[0..n)
 * (same device and inode, so links and ./paths are caught), or (PX_ERR_IO)
 * when out exists and force is 0; what names the output in the message
 * ("the key", "the output"). */
px_status px_output_check(const char *out, const char *const *inputs, int n, int force, const char *what);

#endif
