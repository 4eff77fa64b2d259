/* Running the Python half of proteus as a child process. */
#ifndef PX_SUBPROC_H
#define PX_SUBPROC_H

#include <stddef.h>

#include "util/error.h"

/* Runs `python -m MODULE args...` with stdin fed from in (may be NULL) and
 * stdout collected into a malloc'd, NUL-terminated *out.  stderr passes
 * through.  Fails (naming the module) on a non-zero exit. */
px_status px_python_call(const char *module, char *const *args, int n_args, const char *in, size_t in_len,
                         char **out, size_t *out_len);

/* Runs `python -m MODULE args...` with the given interpreter (NULL: the
 * default one), stdin fed from in (may be NULL), stdout and stderr passing
 * through; *exit_code gets its exit status (128+signal if killed).  Fails
 * only when it cannot be started. */
px_status px_python_run(const char *python, const char *module, char *const *args, int n_args, const char *in,
                        size_t in_len, int *exit_code);

#endif
