/* The owner's secret on the command line: --key-secret, --passphrase-file,
 * PROTEUS_PASSPHRASE or a prompt (src/crypto/secret.h picks among them), and
 * the strength rule for a new key's passphrase (--weak-passphrase skips it). */
#include <string.h>
#include <unistd.h>

#include "bucket/key.h"
#include "cli/cli.h"

int cli_parse_secret_opt(const char *cmd, int argc, char **argv, int *i, cli_secret_opts *o)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--weak-passphrase")) {
        o->weak_passphrase = 1;
        return 1;
    }
    if (strcmp(a, "--key-secret") && strcmp(a, "--passphrase-file")) return 0;
    if (*i + 1 >= argc) return cli_usage(cmd, "%s needs a file", a);
    const char *v = argv[++*i];
    if (!strcmp(a, "--key-secret")) o->key_secret = v;
    else o->passphrase_file = v;
    return 1;
}

px_status cli_secret(const cli_secret_opts *o, const char *key_path, int confirm, px_secret *out)
{
    px_status st = px_secret_get(o->key_secret, o->passphrase_file, key_path, isatty(0), confirm, out);
    if (!st && confirm && !o->weak_passphrase) st = px_passphrase_check(out, key_path);
    if (st) px_secret_free(out);
    return st;
}

px_status cli_load_key(const cli_secret_opts *o, const char *path, px_key *k)
{
    px_secret secret;
    px_status st = cli_secret(o, path, 0, &secret);
    if (!st) st = px_key_load(path, &secret, k);
    px_secret_free(&secret);
    if (st) px_key_free(k);
    return st;
}
