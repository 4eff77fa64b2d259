/* proteus key show | passwd: the owner's view of the key, and re-sealing it
 * under a new secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bucket/key.h"
#include "cli/cli.h"

static const char *key_help =
    "usage: proteus key show KEY [--json] [--key-secret FILE | --passphrase-file FILE]\n"
    "       proteus key passwd KEY [--key-secret FILE | --passphrase-file FILE]\n"
    "                              [--new-key-secret FILE | --new-passphrase-file FILE] [--weak-passphrase]\n"
    "show: prints what the key says: n real subgraphs, k sentinels each, the real files in model\n"
    "order and each one's sentinels. --json prints {n, k, real, files, groups, model}.\n"
    "The key is the owner's secret: this output tells which bucket files are real.\n"
    "passwd: re-seals KEY under a new secret (a fresh random salt and nonce). The current secret\n"
    "comes from --key-secret, --passphrase-file, PROTEUS_PASSPHRASE or a prompt; the new one from\n"
    "--new-key-secret FILE (32 raw bytes), --new-passphrase-file FILE (first line),\n"
    "PROTEUS_NEW_PASSPHRASE, or a prompt (asked twice). A new passphrase must pass the strength\n"
    "rule below unless --weak-passphrase. KEY is replaced atomically (same permissions) only when\n"
    "everything succeeded; on any failure it is left as it was. The bucket does not change.\n";

static int key_show(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    cli_secret_opts so = {0};
    for (int i = 0; i < argc; i++) {
        int sec = cli_parse_secret_opt("key show", argc, argv, &i, &so);
        if (sec == 2) return 2;
        if (sec) continue;
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (argv[i][0] == '-') return cli_usage("key show", "unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage("key show", "unexpected argument '%s'", argv[i]);
    }
    if (!path) return cli_usage("key show", "need KEY%s", "");
    px_key k;
    px_key_init(&k);
    if (cli_load_key(&so, path, &k)) return cli_fail();
    if (json) {
        px_key_write_view(&k, stdout);
    } else {
        printf("key %s: n=%d real subgraphs, k=%d sentinels each, %d files\n", path, k.n_parts, k.k, k.n_files);
        for (int p = 0; p < k.n_parts; p++) {
            printf("%3d  %s", p, k.parts[p].file);
            if (k.parts[p].n_sentinels) printf("  sentinels:");
            for (int s = 0; s < k.parts[p].n_sentinels; s++) printf(" %s", k.parts[p].sentinels[s]);
            printf("\n");
        }
    }
    px_key_free(&k);
    return 0;
}

static int key_passwd(int argc, char **argv)
{
    const char *path = NULL, *new_raw = NULL, *new_pass = NULL;
    cli_secret_opts so = {0};
    for (int i = 0; i < argc; i++) {
        int sec = cli_parse_secret_opt("key passwd", argc, argv, &i, &so);
        if (sec == 2) return 2;
        if (sec) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--new-key-secret") || !strcmp(a, "--new-passphrase-file")) {
            if (i + 1 >= argc) return cli_usage("key passwd", "%s needs a file", a);
            if (!strcmp(a, "--new-key-secret")) new_raw = argv[++i];
            else new_pass = argv[++i];
        } else if (a[0] == '-') return cli_usage("key passwd", "unknown option '%s'", a);
        else if (!path) path = a;
        else return cli_usage("key passwd", "unexpected argument '%s'", a);
    }
    if (!path) return cli_usage("key passwd", "need KEY%s", "");
    if (new_raw && new_pass)
        return cli_usage("key passwd", "give --new-key-secret or --new-passphrase-file, not both%s", "");
    /* the current secret first: a wrong one stops before asking for a new one */
    px_secret old_s, new_s;
    px_key k;
    px_key_init(&k);
    px_status st = cli_secret(&so, path, 0, &old_s);
    if (!st) st = px_key_load(path, &old_s, &k);
    px_key_free(&k);
    if (!st) st = px_secret_get_new(new_raw, new_pass, path, isatty(0), &new_s);
    else memset(&new_s, 0, sizeof new_s);
    if (!st && !so.weak_passphrase) st = px_passphrase_check(&new_s, path);
    if (!st) st = px_key_passwd(path, &old_s, &new_s);
    int raw = new_s.kind == PX_SECRET_RAW;
    px_secret_free(&old_s);
    px_secret_free(&new_s);
    if (st) return cli_fail();
    printf("key %s: re-sealed with the new %s\n", path, raw ? "32-byte secret" : "passphrase");
    return 0;
}

int cmd_key(int argc, char **argv)
{
    if (argc == 0 || cli_want_help(argc, argv)) {
        FILE *f = argc ? stdout : stderr;
        fputs(key_help, f);
        fputs(CLI_SECRET_HELP, f);
        return argc ? 0 : 2;
    }
    if (!strcmp(argv[0], "show")) return key_show(argc - 1, argv + 1);
    if (!strcmp(argv[0], "passwd")) return key_passwd(argc - 1, argv + 1);
    return cli_usage("key", "unknown subcommand '%s' (known: show, passwd)", argv[0]);
}
