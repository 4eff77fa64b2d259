/* Shared helpers of the command-line tool. */
#ifndef PX_CLI_H
#define PX_CLI_H

#include <stdint.h>

#include "crypto/secret.h"

/* Prints "proteus: <last error>" and returns 1. */
int cli_fail(void);
/* Prints "proteus: <cmd>: <msg>" plus a hint and returns 2. */
int cli_usage(const char *cmd, const char *fmt, const char *arg);
int cli_want_help(int argc, char **argv);
/* Seconds on the monotonic clock, for the timings commands print. */
double cli_now_s(void);
/* Parses a non-negative integer option value; returns 0 on success. */
int cli_parse_u64(const char *s, uint64_t *out);

/* The model-loading limits every command that reads a model accepts
 * (src/onnx/onnx_io.h): if argv[*i] is --max-nodes, --max-tensor-bytes or
 * --max-total-bytes, parses its value (an integer, bytes may end in K, M, G
 * or T for powers of 1024), sets the process-wide limit, advances *i past
 * the value and returns 1; returns 0 when argv[*i] is not one of them, and
 * 2 after printing a usage error naming cmd (return it). */
int cli_parse_limit_opt(const char *cmd, int argc, char **argv, int *i);
/* One help line listing them, for each such command's --help. */
#define CLI_LIMITS_HELP \
    "Load limits: --max-nodes N (default 1000000), --max-tensor-bytes N (default 16G),\n" \
    "--max-total-bytes N (default 64G; K/M/G/T suffixes): a model beyond them is refused.\n"

/* Where the key's secret comes from. */
typedef struct cli_secret_opts {
    const char *key_secret;      /* --key-secret FILE: 32 raw bytes */
    const char *passphrase_file; /* --passphrase-file FILE */
    int weak_passphrase;         /* --weak-passphrase: no strength check on a new key */
} cli_secret_opts;
/* Like cli_parse_limit_opt, for --key-secret, --passphrase-file and
 * --weak-passphrase. */
int cli_parse_secret_opt(const char *cmd, int argc, char **argv, int *i, cli_secret_opts *o);
/* The secret for key_path (confirm: a new key: ask twice at a prompt, and
 * refuse a weak passphrase unless --weak-passphrase). */
px_status cli_secret(const cli_secret_opts *o, const char *key_path, int confirm, px_secret *out);
/* Opens the sealed key at path with the secret from o (key show, audit). */
struct px_key;
px_status cli_load_key(const cli_secret_opts *o, const char *path, struct px_key *k);
#define CLI_SECRET_HELP \
    "The key is sealed (Argon2id + XChaCha20-Poly1305, a fresh random salt and nonce per file): give\n" \
    "--key-secret FILE (32 random bytes), --passphrase-file FILE, or PROTEUS_PASSPHRASE in the\n" \
    "environment; on a terminal proteus asks. A passphrase that seals a NEW key must have at least\n" \
    "12 characters, 6 different ones, and 20 if it is only digits; --weak-passphrase accepts a\n" \
    "weaker one. Opening an existing key never checks strength.\n"

int cmd_obfuscate(int argc, char **argv);
int cmd_optimize(int argc, char **argv);
int cmd_reassemble(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_train_generator(int argc, char **argv);
/* Replaces this process with `python -m module argv...` (the Python half);
 * returns 1 after printing why only when that cannot start. */
int cli_exec_python(const char *cmd, const char *module, int argc, char **argv);
int cmd_key(int argc, char **argv);

#endif
