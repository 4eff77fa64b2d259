/* proteus obfuscate: model -> bucket + sealed key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "bucket/bucket.h"

int cmd_obfuscate(int argc, char **argv)
{
    static const char *help =
        "usage: proteus obfuscate MODEL -o BUCKET --key KEY [-k K] [--sentinels GEN] [--subgraph-size S | -n N]\n"
        "                         [--seed N] [--no-probe]\n"
        "Partitions MODEL into subgraphs (about S nodes each, default 12; or N of them), hides each\n"
        "among K generated sentinels (default 0), and writes BUCKET/ (anonymous subgraph files and\n"
        "manifest.json, nothing secret) and KEY (what the owner needs to reassemble; keep it).\n"
        "Sentinels have exactly the interface of the real subgraph they hide. --sentinels picks the\n"
        "generator: random (the default and, for now, the only one) grows random operators on a\n"
        "random topology: a baseline that `proteus audit` shows to be weak against a learned attacker.\n"
        "BUCKET must not exist. Same MODEL, options and --seed give byte-identical output.\n"
        "Each real subgraph is fingerprinted (run once on seeded inputs, in ONNX Runtime) so that\n"
        "reassemble can tell a file that computes something else; --no-probe skips that.\n";
    if (cli_want_help(argc, argv)) {
        fputs(help, stdout);
        fputs(CLI_SECRET_HELP, stdout);
        fputs(CLI_LIMITS_HELP, stdout);
        return 0;
    }
    const char *model = NULL, *bucket = NULL, *key = NULL;
    px_obfuscate_opts o = {0};
    cli_secret_opts so = {0};
    uint64_t v;
    for (int i = 0; i < argc; i++) {
        int lim = cli_parse_limit_opt("obfuscate", argc, argv, &i);
        if (!lim) lim = cli_parse_secret_opt("obfuscate", argc, argv, &i, &so);
        if (lim == 2) return 2;
        if (lim) continue;
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-o") || !strcmp(a, "--key") || !strcmp(a, "-k") || !strcmp(a, "--subgraph-size") ||
            !strcmp(a, "-n") || !strcmp(a, "--seed") || !strcmp(a, "--sentinels")) {
            if (!has) return cli_usage("obfuscate", "%s needs a value", a);
            const char *val = argv[++i];
            if (!strcmp(a, "-o")) bucket = val;
            else if (!strcmp(a, "--key")) key = val;
            else if (!strcmp(a, "--sentinels")) o.sentinels = val;
            else {
                if (cli_parse_u64(val, &v) || v > 1000000) return cli_usage("obfuscate", "bad number '%s'", val);
                if (!strcmp(a, "-k")) o.k = (int)v;
                else if (!strcmp(a, "--subgraph-size")) o.subgraph_size = (int)v;
                else if (!strcmp(a, "-n")) o.n_parts = (int)v;
                else o.seed = v;
            }
        } else if (!strcmp(a, "--no-probe")) o.no_probe = 1;
        else if (a[0] == '-') return cli_usage("obfuscate", "unknown option '%s'", a);
        else if (!model) model = a;
        else return cli_usage("obfuscate", "unexpected argument '%s'", a);
    }
    if (!model || !bucket || !key) return cli_usage("obfuscate", "need MODEL, -o BUCKET and --key KEY%s", "");
    if (o.subgraph_size && o.n_parts) return cli_usage("obfuscate", "give --subgraph-size or -n, not both%s", "");
    px_obfuscate_stats s;
    px_secret secret;
    if (cli_secret(&so, key, 1, &secret)) {
        px_secret_free(&secret);
        return cli_fail();
    }
    o.secret = &secret;
    double t0 = cli_now_s();
    px_status st = px_obfuscate(model, bucket, key, &o, &s);
    px_secret_free(&secret);
    if (st) return cli_fail();
    printf("obfuscate: %d nodes -> %d subgraphs (%d to %d nodes, %d cut edges), k=%d%s%s, %d files in %s (%.2f s)\n",
           s.n_nodes, s.n_parts, s.min_part, s.max_part, s.cut_edges, o.k, o.k ? " sentinels " : "",
           o.k ? (o.sentinels ? o.sentinels : "random") : "", s.n_files, bucket, cli_now_s() - t0);
    if (s.n_unprobed)
        fprintf(stderr, "proteus: obfuscate: warning: %d real subgraphs could not be fingerprinted; reassemble will "
                        "check only their interfaces\n", s.n_unprobed);
    return 0;
}

