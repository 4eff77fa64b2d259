/* key show, audit: the owner's view of the key and of how well the bucket
 * hides the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket/key.h"
#include "cli/cli.h"
#include "util/pyenv.h"
#include "util/subproc.h"

static px_status load_key(const cli_secret_opts *so, const char *path, px_key *k)
{
    px_secret secret;
    px_status st = cli_secret(so, path, 0, &secret);
    if (!st) st = px_key_load(path, &secret, k);
    px_secret_free(&secret);
    if (st) px_key_free(k);
    return st;
}

int cmd_key(int argc, char **argv)
{
    static const char *help =
        "usage: proteus key show KEY [--json] [--key-secret FILE | --passphrase-file FILE]\n"
        "Prints what the key says: n real subgraphs, k sentinels each, the real files in model\n"
        "order and each one's sentinels. --json prints {n, k, real, files, groups, model}.\n"
        "The key is the owner's secret: this output tells which bucket files are real.\n";
    if (argc == 0 || cli_want_help(argc, argv)) {
        fputs(help, argc ? stdout : stderr);
        fputs(CLI_SECRET_HELP, argc ? stdout : stderr);
        return argc ? 0 : 2;
    }
    if (strcmp(argv[0], "show")) return cli_usage("key", "unknown subcommand '%s' (known: show)", argv[0]);
    const char *path = NULL;
    int json = 0;
    cli_secret_opts so = {0};
    for (int i = 1; i < argc; i++) {
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
    if (load_key(&so, path, &k)) return cli_fail();
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

int cmd_audit(int argc, char **argv)
{
    static const char *help =
        "usage: proteus audit BUCKET --key KEY [--json] [--out DIR] [--classifier FILE] [--zoo-exclude NAME]...\n"
        "       proteus audit --train [--classifier FILE]\n"
        "Attacks the bucket the way an attacker without the key would (graph statistics, interface\n"
        "stitching, validity, weights and constants, metadata and layout, repetition, public-zoo\n"
        "matching, a learned GNN classifier) and scores each with the key: at the threshold that keeps\n"
        "every real subgraph, the specificity within each real subgraph's group and the log10 number\n"
        "of candidate models left (the bucket promises n*log10(k+1)).\n"
        "  --json            one JSON object (n, k, log10_promise, attacks[{name, log10_candidates,\n"
        "                    specificity, threshold}])\n"
        "  --out DIR         PNG plots of the real and sentinel distribution of each statistic\n"
        "  --classifier FILE the trained classifier (default: the one shipped with proteus)\n"
        "  --zoo-exclude N   leave model family N (a corpus file name without -opNN) out of the public\n"
        "                    zoo, to audit a corpus model as if it were not public\n"
        "  --train           retrain the classifier on the corpus (minutes) and save it to FILE\n"
        "Runs in Python with torch (PROTEUS_AUDIT_PYTHON, default /usr/bin/python3).\n";
    if (cli_want_help(argc, argv)) {
        fputs(help, stdout);
        fputs(CLI_SECRET_HELP, stdout);
        return 0;
    }
    cli_secret_opts so = {0};
    const char *bucket = NULL, *key_path = NULL;
    int train = 0;
    char **fwd = calloc((size_t)argc * 2 + 8, sizeof *fwd);
    if (!fwd) return cli_usage("audit", "out of memory%s", "");
    int nf = 0, rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        int sec = cli_parse_secret_opt("audit", argc, argv, &i, &so);
        if (sec) {
            rc = sec == 2 ? 2 : 0;
            continue;
        }
        const char *a = argv[i];
        if (!strcmp(a, "--key") || !strcmp(a, "--out") || !strcmp(a, "--classifier") || !strcmp(a, "--zoo-exclude")) {
            if (i + 1 >= argc) {
                rc = cli_usage("audit", "%s needs a value", a);
                break;
            }
            if (!strcmp(a, "--key")) key_path = argv[++i];
            else {
                fwd[nf++] = argv[i];
                fwd[nf++] = argv[++i];
            }
        } else if (!strcmp(a, "--json")) fwd[nf++] = argv[i];
        else if (!strcmp(a, "--train")) train = 1;
        else if (a[0] == '-') rc = cli_usage("audit", "unknown option '%s'", a);
        else if (!bucket) bucket = a;
        else rc = cli_usage("audit", "unexpected argument '%s'", a);
    }
    if (!rc && train && (bucket || key_path)) rc = cli_usage("audit", "--train takes no BUCKET or --key%s", "");
    if (!rc && !train && (!bucket || !key_path)) rc = cli_usage("audit", "need BUCKET and --key KEY%s", "");
    if (rc) {
        free(fwd);
        return rc;
    }
    char *view = NULL;
    size_t view_len = 0;
    char **args = calloc((size_t)nf + 8, sizeof *args);
    int na = 0;
    if (!args) {
        free(fwd);
        return cli_usage("audit", "out of memory%s", "");
    }
    if (train) {
        args[na++] = "--train";
    } else {
        px_key k;
        px_key_init(&k);
        if (load_key(&so, key_path, &k)) {
            free(fwd);
            free(args);
            return cli_fail();
        }
        /* the key reaches the attack code only through the scorer, on a pipe */
        FILE *f = open_memstream(&view, &view_len);
        if (f) {
            px_key_write_view(&k, f);
            fclose(f);
        }
        px_key_free(&k);
        args[na++] = (char *)bucket;
        args[na++] = "--key-json";
        args[na++] = "-";
    }
    for (int i = 0; i < nf; i++) args[na++] = fwd[i];
    int code;
    px_status st = px_python_run(px_python_audit(), "proteus_py.audit", args, na, view, view_len, &code);
    free(view);
    free(args);
    free(fwd);
    if (st) return cli_fail();
    return code;
}
