/* proteus optimize (the optimizer's side) and proteus verify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "optimize/optimize.h"
#include "util/pyenv.h"

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
    double t0 = cli_now_s();
    px_status st = px_optimize(bucket, out, &o, &r);
    for (int i = 0; i < r.n_failed; i++) fprintf(stderr, "proteus: optimize: %s\n", r.failed[i]);
    if (st) {
        cli_fail();
        px_optimize_result_free(&r);
        return 1;
    }
    printf("optimize: %d files with %s into %s (%.2f s)\n", r.n_ok, o.driver, out, cli_now_s() - t0);
    px_optimize_result_free(&r);
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
