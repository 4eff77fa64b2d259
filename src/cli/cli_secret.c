/* The owner's secret on the command line: --key-secret, --passphrase-file,
 * PROTEUS_PASSPHRASE or a prompt (src/crypto/secret.h picks among them). */
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_parse_secret_opt(const char *cmd, int argc, char **argv, int *i, cli_secret_opts *o)
{
    const char *a = argv[*i];
    if (strcmp(a, "--key-secret") && strcmp(a, "--passphrase-file")) return 0;
    if (*i + 1 >= argc) return cli_usage(cmd, "%s needs a file", a);
    const char *v = argv[++*i];
    if (!strcmp(a, "--key-secret")) o->key_secret = v;
    else o->passphrase_file = v;
    return 1;
}

px_status cli_secret(const cli_secret_opts *o, const char *key_path, int confirm, px_secret *out)
{
    return px_secret_get(o->key_secret, o->passphrase_file, key_path, isatty(0), confirm, out);
}
