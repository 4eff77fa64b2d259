/* Running the Python half of proteus as a child process. */
#ifndef PX_SUBPROC_H
#define PX_SUBPROC_H

#include <stddef.h>
#include <sys/types.h>

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

/* Starts argv[0] (searched in PATH; no shell) with argv.  fds[0] becomes
 * its stdin (-1: /dev/null), fds[1] and fds[2] its stdout and stderr (-1:
 * inherited).  setup (may be NULL) runs in the child before exec.  A
 * program that cannot be started (not found, not executable) is a failure
 * naming it ("cannot run 'X': No such file or directory"), not a child
 * that exits 127.  The caller waits for *pid. */
px_status px_spawn(char *const *argv, const int fds[3], void (*setup)(void), pid_t *pid);

/* The last non-empty line of what fd (a regular file, e.g. from tmpfile())
 * holds, from its start: control characters replaced by '?', at most cap-1
 * bytes (the end kept).  "" when it holds nothing. */
void px_last_line(int fd, char *dst, size_t cap);

#endif
