/* Shared helpers of the command-line tool. */
#ifndef PX_CLI_H
#define PX_CLI_H

#include <stdint.h>

/* Prints "proteus: <last error>" and returns 1. */
int cli_fail(void);
/* Prints "proteus: <cmd>: <msg>" plus a hint and returns 2. */
int cli_usage(const char *cmd, const char *fmt, const char *arg);
int cli_want_help(int argc, char **argv);
/* Parses a non-negative integer option value; returns 0 on success. */
int cli_parse_u64(const char *s, uint64_t *out);

int cmd_obfuscate(int argc, char **argv);
int cmd_optimize(int argc, char **argv);
int cmd_reassemble(int argc, char **argv);
int cmd_verify(int argc, char **argv);

#endif
