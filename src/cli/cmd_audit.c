/* audit: how well the bucket hides the model (key show and passwd are in
 * cmd_key.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket/key.h"
#include "cli/cli.h"
#include "util/pyenv.h"
#include "util/subproc.h"

/* The key views on the pipe: the audited key alone, or with --link
 * {"key": VIEW, "link_keys": [VIEW or null, ...]} (one per --link bucket, in
 * order). */
static px_status write_views(const cli_secret_opts *so, const char *key_path, const char **link_keys, int n_links,
                             char **view, size_t *view_len)
{
    FILE *f = open_memstream(view, view_len);
    if (!f) return px_nomem();
    px_status st = PX_OK;
    if (n_links) fputs("{\"key\": ", f);
    for (int i = -1; i < n_links && !st; i++) {
        const char *path = i < 0 ? key_path : link_keys[i];
        if (i == 0) fputs(", \"link_keys\": [", f);
        else if (i > 0) fputs(", ", f);
        if (!path) {
            fputs("null", f);
            continue;
        }
        px_key k;
        px_key_init(&k);
        if ((st = cli_load_key(so, path, &k))) break;
        px_key_write_view(&k, f);
        px_key_free(&k);
    }
    if (n_links) fputs("]}", f);
    if (fclose(f) && !st) st = px_nomem();
    return st;
}

int cmd_audit(int argc, char **argv)
{
    static const char *help =
        "usage: proteus audit BUCKET --key KEY [--json] [--out DIR] [--classifier FILE] [--sentinels GEN]\n"
        "                     [--zoo-exclude NAME]...\n"
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
        "  --sentinels GEN   the generator BUCKET's sentinels came from (the key does not record it): the\n"
        "                    attacker's zoo, the public models he obfuscates himself, uses it too.\n"
        "                    Default: obfuscate's default, learned; random for a --sentinels random bucket\n"
        "  --zoo-exclude N   leave model family N (a corpus file name without -opNN) out of the public\n"
        "                    zoo, to audit a corpus model as if it were not public\n"
        "  --train           retrain the classifier on the corpus (minutes) and save it to FILE\n"
        "  --link OTHER      (repeatable) instead of the single-bucket attacks, try to line BUCKET up with\n"
        "                    OTHER buckets of the same owner (threat class 12): shared file names,\n"
        "                    identical files, identical structure\n"
        "  --link-key KEY    the i-th one is the key of the i-th --link bucket, opened with the same\n"
        "                    secret: how many real files of BUCKET that one leaked key names\n"
        "  --second B2       instead, intersect BUCKET with B2, a second bucket of the same model (another\n"
        "                    seed, a fine-tuned version): files that recur (structure, weights identical or\n"
        "                    nearly) score real; log10 candidates left of the promise\n"
        "  --second-key K2   B2's key: score B2's side too\n"
        "Runs in Python with torch (PROTEUS_AUDIT_PYTHON, default /usr/bin/python3).\n";
    if (cli_want_help(argc, argv)) {
        fputs(help, stdout);
        fputs(CLI_SECRET_HELP, stdout);
        return 0;
    }
    cli_secret_opts so = {0};
    const char *bucket = NULL, *key_path = NULL;
    int train = 0, n_links = 0, n_link_keys = 0;
    const char **link_keys = calloc((size_t)argc + 1, sizeof *link_keys);
    char **fwd = calloc((size_t)argc * 2 + 8, sizeof *fwd);
    if (!fwd || !link_keys) {
        free(fwd);
        free(link_keys);
        return cli_usage("audit", "out of memory%s", "");
    }
    int nf = 0, rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        int sec = cli_parse_secret_opt("audit", argc, argv, &i, &so);
        if (sec) {
            rc = sec == 2 ? 2 : 0;
            continue;
        }
        const char *a = argv[i];
        if (!strcmp(a, "--key") || !strcmp(a, "--out") || !strcmp(a, "--classifier") || !strcmp(a, "--zoo-exclude") ||
            !strcmp(a, "--sentinels") || !strcmp(a, "--link") || !strcmp(a, "--link-key") || !strcmp(a, "--second") ||
            !strcmp(a, "--second-key")) {
            if (i + 1 >= argc) {
                rc = cli_usage("audit", "%s needs a value", a);
                break;
            }
            if (!strcmp(a, "--key")) key_path = argv[++i];
            else if (!strcmp(a, "--link-key") || !strcmp(a, "--second-key")) link_keys[n_link_keys++] = argv[++i];
            else {
                if (!strcmp(a, "--link") || !strcmp(a, "--second")) n_links++; /* --second's key travels as a link key */
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
    if (!rc && n_link_keys > n_links) rc = cli_usage("audit", "more --link-key than --link buckets%s", "");
    if (!rc && train && n_links) rc = cli_usage("audit", "--train takes no --link%s", "");
    if (rc) {
        free(fwd);
        free(link_keys);
        return rc;
    }
    char *view = NULL;
    size_t view_len = 0;
    char **args = calloc((size_t)nf + 8, sizeof *args);
    int na = 0;
    if (!args) {
        free(fwd);
        free(link_keys);
        return cli_usage("audit", "out of memory%s", "");
    }
    if (train) {
        args[na++] = "--train";
    } else {
        /* the key reaches the attack code only through the scorer, on a pipe */
        if (write_views(&so, key_path, link_keys, n_links, &view, &view_len)) {
            free(view);
            free(fwd);
            free(args);
            free(link_keys);
            return cli_fail();
        }
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
    free(link_keys);
    if (st) return cli_fail();
    return code;
}
