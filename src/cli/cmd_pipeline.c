/* obfuscate, optimize, reassemble, verify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bucket/bucket.h"
#include "cli/cli.h"
#include "optimize/optimize.h"
#include "reassemble/reassemble.h"
#include "util/pyenv.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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
    double t0 = now_s();
    px_status st = px_obfuscate(model, bucket, key, &o, &s);
    px_secret_free(&secret);
    if (st) return cli_fail();
    printf("obfuscate: %d nodes -> %d subgraphs (%d to %d nodes, %d cut edges), k=%d%s%s, %d files in %s (%.2f s)\n",
           s.n_nodes, s.n_parts, s.min_part, s.max_part, s.cut_edges, o.k, o.k ? " sentinels " : "",
           o.k ? (o.sentinels ? o.sentinels : "random") : "", s.n_files, bucket, now_s() - t0);
    if (s.n_unprobed)
        fprintf(stderr, "proteus: obfuscate: warning: %d real subgraphs could not be fingerprinted; reassemble will "
                        "check only their interfaces\n", s.n_unprobed);
    return 0;
}

int cmd_optimize(int argc, char **argv)
{
    static const char *help =
        "usage: proteus optimize BUCKET -o OUT --with DRIVER [-j JOBS] [--shard I/N]\n"
        "Runs a graph optimizer on every file of BUCKET, writing the results to OUT/ under the same\n"
        "names. DRIVER: ort:basic, ort:extended, ort:all (ONNX Runtime), onnxoptimizer, onnxsim,\n"
        "copy (identity), or cmd:\"TEMPLATE {in} {out}\" for any command. -j runs JOBS at once\n"
        "(default 2). --shard I/N optimizes only shard I (0-based) of N, for fanning out across\n"
        "machines. A file the optimizer fails on is reported and not written; the exit status is 1.\n";
    if (cli_want_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    const char *bucket = NULL, *out = NULL;
    px_optimize_opts o = {.jobs = 2, .shards = 1, .progress = isatty(2)};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-o") || !strcmp(a, "--with") || !strcmp(a, "-j") || !strcmp(a, "--shard")) {
            if (i + 1 >= argc) return cli_usage("optimize", "%s needs a value", a);
            const char *val = argv[++i];
            uint64_t v;
            if (!strcmp(a, "-o")) out = val;
            else if (!strcmp(a, "--with")) o.driver = val;
            else if (!strcmp(a, "-j")) {
                if (cli_parse_u64(val, &v) || v < 1 || v > 256) return cli_usage("optimize", "bad -j '%s'", val);
                o.jobs = (int)v;
            } else {
                int si, sn;
                char extra;
                if (sscanf(val, "%d/%d%c", &si, &sn, &extra) != 2 || sn < 1 || si < 0 || si >= sn)
                    return cli_usage("optimize", "bad --shard '%s' (want I/N with 0 <= I < N)", val);
                o.shard = si;
                o.shards = sn;
            }
        } else if (a[0] == '-') return cli_usage("optimize", "unknown option '%s'", a);
        else if (!bucket) bucket = a;
        else return cli_usage("optimize", "unexpected argument '%s'", a);
    }
    if (!bucket || !out || !o.driver) return cli_usage("optimize", "need BUCKET, -o OUT and --with DRIVER%s", "");
    px_optimize_result r;
    double t0 = now_s();
    px_status st = px_optimize(bucket, out, &o, &r);
    for (int i = 0; i < r.n_failed; i++) fprintf(stderr, "proteus: optimize: %s\n", r.failed[i]);
    if (st) {
        cli_fail();
        px_optimize_result_free(&r);
        return 1;
    }
    printf("optimize: %d files with %s into %s (%.2f s)\n", r.n_ok, o.driver, out, now_s() - t0);
    px_optimize_result_free(&r);
    return 0;
}

int cmd_reassemble(int argc, char **argv)
{
    static const char *help =
        "usage: proteus reassemble OUT --key KEY -o MODEL [--no-seam-cleanup] [--no-probe] [--probe-tol T]\n"
        "Stitches the optimized real subgraphs in OUT (named by KEY) into MODEL. Every file's\n"
        "interface is checked against what was sent; a missing or changed file is refused, naming\n"
        "it. Each fingerprinted file is run on the seeded inputs it was fingerprinted with and must\n"
        "compute what was sent, within relative tolerance T (default 1e-3): a swapped file or a\n"
        "changed weight is refused, naming the file (--no-probe skips this). Inverse pairs the\n"
        "optimizer left at subgraph seams are removed unless --no-seam-cleanup is given.\n";
    if (cli_want_help(argc, argv)) {
        fputs(help, stdout);
        fputs(CLI_SECRET_HELP, stdout);
        fputs(CLI_LIMITS_HELP, stdout);
        return 0;
    }
    const char *dir = NULL, *key = NULL, *out = NULL;
    px_reassemble_opts o = {0};
    cli_secret_opts so = {0};
    for (int i = 0; i < argc; i++) {
        int lim = cli_parse_limit_opt("reassemble", argc, argv, &i);
        if (!lim) lim = cli_parse_secret_opt("reassemble", argc, argv, &i, &so);
        if (lim == 2) return 2;
        if (lim) continue;
        const char *a = argv[i];
        if (!strcmp(a, "-o") || !strcmp(a, "--key")) {
            if (i + 1 >= argc) return cli_usage("reassemble", "%s needs a value", a);
            if (!strcmp(a, "-o")) out = argv[++i];
            else key = argv[++i];
        } else if (!strcmp(a, "--no-seam-cleanup")) o.no_seam_cleanup = 1;
        else if (!strcmp(a, "--no-probe")) o.no_probe = 1;
        else if (!strcmp(a, "--probe-tol")) {
            if (i + 1 >= argc || sscanf(argv[i + 1], "%lf", &o.probe_tol) != 1 || !(o.probe_tol > 0))
                return cli_usage("reassemble", "--probe-tol needs a positive number%s", "");
            i++;
        }
        else if (a[0] == '-') return cli_usage("reassemble", "unknown option '%s'", a);
        else if (!dir) dir = a;
        else return cli_usage("reassemble", "unexpected argument '%s'", a);
    }
    if (!dir || !key || !out) return cli_usage("reassemble", "need OUT, --key KEY and -o MODEL%s", "");
    px_reassemble_stats s;
    px_secret secret;
    if (cli_secret(&so, key, 0, &secret)) {
        px_secret_free(&secret);
        return cli_fail();
    }
    o.secret = &secret;
    double t0 = now_s();
    px_status st = px_reassemble(dir, key, out, &o, &s);
    px_secret_free(&secret);
    if (st) return cli_fail();
    printf("reassemble: %d subgraphs -> %s, %d nodes, %d removed at seams (%.2f s)\n", s.n_parts, out, s.n_nodes,
           s.seam_removed, now_s() - t0);
    return 0;
}

int cmd_verify(int argc, char **argv)
{
    if (cli_want_help(argc, argv) || argc < 2) {
        printf("usage: proteus verify REFERENCE CANDIDATE [--rtol R] [--atol A] [--seed N] [--runs N] [--json]\n"
               "Runs both models in ONNX Runtime (optimizations disabled) on the same seeded random\n"
               "inputs (token ids and masks in valid ranges), prints the largest absolute and relative\n"
               "error per output, and exits 1 when an output's largest difference exceeds\n"
               "atol + rtol * (its largest reference magnitude) (defaults rtol 1e-4, atol 0): relative to\n"
               "the output's range, so round-off on elements near zero is not a failure.\n");
        return argc < 2 && !cli_want_help(argc, argv) ? 2 : 0;
    }
    char **args = calloc((size_t)argc + 5, sizeof *args);
    if (!args) return 1;
    int k = 0;
    args[k++] = (char *)px_python();
    args[k++] = "-m";
    args[k++] = "proteus_py.verify";
    for (int i = 0; i < argc; i++) args[k++] = argv[i];
    args[k] = NULL;
    fflush(stdout);
    px_python_env();
    execvp(args[0], args);
    fprintf(stderr, "proteus: verify: cannot run %s: the Python environment is missing (run scripts/setup)\n", args[0]);
    free(args);
    return 1;
}
