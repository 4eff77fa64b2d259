/* proteus optimize (the optimizer's side) and proteus verify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "optimize/optimize.h"
#include "util/cancel.h"
#include "util/json.h"
#include "util/pyenv.h"

int cmd_optimize(int argc, char **argv)
{
    static const char *help =
        "usage: proteus optimize BUCKET -o OUT --with DRIVER [-j JOBS] [--shard I/N] [--max-failures N] [--force]\n"
        "                        [--json]\n"
        "Runs a graph optimizer on every file of BUCKET, writing the results to OUT/ under the same\n"
        "names. DRIVER: ort:basic, ort:extended, ort:all (ONNX Runtime), onnxoptimizer, onnxsim,\n"
        "copy (identity), or cmd:TEMPLATE for any command, e.g.\n"
        "    --with 'cmd:cp {in} {out}'      --with 'cmd:mytool --level 3 \"{in}\" -o \"{out}\"'\n"
        "A TEMPLATE is split into words (single and double quotes and backslash work as in a shell)\n"
        "and run directly, without a shell (no pipes, redirections or variables); {in} and {out}\n"
        "are replaced inside each word by the input file and the file to write.\n"
        "The manifest must list only bucket file names (16 lowercase hex digits + .onnx), each a\n"
        "regular file; anything else (a FIFO, a device, a symlink, a name with other characters)\n"
        "is refused before any file is opened.\n"
        "-j runs JOBS at once (default 2). --shard I/N optimizes only shard I (0-based) of N, for\n"
        "fanning out across machines. A file the optimizer fails on is reported (one line) and not\n"
        "written; after N failed files (--max-failures, default 3; 0: no limit) no further file is\n"
        "started. Exit status 1 when any file failed, 2 on a usage error (an unknown driver).\n"
        "ort:all tunes its output to this machine's hardware (ONNX Runtime warns; proteus passes\n"
        "the warning on). --json prints a summary object on stdout (files, ok, failed, not_tried,\n"
        "driver, seconds, failures, warnings). A progress bar is drawn when stderr is a terminal.\n"
        "OUT may exist (shards share it), but a result an earlier run left there is replaced only\n"
        "with --force; OUT may not be BUCKET itself.\n";
    if (cli_want_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    const char *bucket = NULL, *out = NULL;
    int json = 0;
    px_optimize_opts o = {.jobs = 2, .shards = 1, .progress = isatty(2), .max_failures = 3};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--force")) {
            o.force = 1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--with") || !strcmp(a, "-j") || !strcmp(a, "--shard") ||
                   !strcmp(a, "--max-failures")) {
            if (i + 1 >= argc) return cli_usage("optimize", "%s needs a value", a);
            const char *val = argv[++i];
            uint64_t v;
            if (!strcmp(a, "-o")) out = val;
            else if (!strcmp(a, "--with")) o.driver = val;
            else if (!strcmp(a, "-j")) {
                if (cli_parse_u64(val, &v) || v < 1 || v > 256) return cli_usage("optimize", "bad -j '%s'", val);
                o.jobs = (int)v;
            } else if (!strcmp(a, "--max-failures")) {
                if (cli_parse_u64(val, &v) || v > 1000000000)
                    return cli_usage("optimize", "bad --max-failures '%s' (want a count; 0: no limit)", val);
                o.max_failures = (int)v;
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
    if (px_optimize_check_driver(o.driver)) {
        fprintf(stderr, "proteus: %s (see 'proteus optimize --help')\n", px_last_error());
        return 2;
    }
    px_optimize_result r;
    px_cancel_install(); /* Ctrl-C: running files stop, their temporaries are removed */
    double t0 = cli_now_s();
    px_status st = px_optimize(bucket, out, &o, &r);
    double secs = cli_now_s() - t0;
    if (st == PX_ERR_USAGE) {
        fprintf(stderr, "proteus: %s (see 'proteus optimize --help')\n", px_last_error());
        px_optimize_result_free(&r);
        return 2;
    }
    for (int i = 0; i < r.n_warnings; i++) fprintf(stderr, "proteus: optimize: warning: %s\n", r.warnings[i]);
    for (int i = 0; i < r.n_failed; i++) fprintf(stderr, "proteus: optimize: %s\n", r.failed[i]);
    int ran = !st || st == PX_ERR_MISMATCH;
    if (json && ran) {
        px_json j;
        px_json_init(&j, stdout, 0);
        px_json_obj_begin(&j);
        px_json_key(&j, "ok");
        px_json_bool(&j, st == PX_OK);
        px_json_key(&j, "driver");
        px_json_str(&j, o.driver);
        px_json_key(&j, "out");
        px_json_str(&j, out);
        px_json_key(&j, "files");
        px_json_int(&j, r.n_files);
        px_json_key(&j, "files_ok");
        px_json_int(&j, r.n_ok);
        px_json_key(&j, "files_failed");
        px_json_int(&j, r.n_failed);
        px_json_key(&j, "files_not_tried");
        px_json_int(&j, r.n_not_tried);
        px_json_key(&j, "seconds");
        px_json_double(&j, secs);
        px_json_key(&j, "failures");
        px_json_arr_begin(&j);
        for (int i = 0; i < r.n_failed; i++) {
            const char *colon = strstr(r.failed[i], ": ");
            px_json_obj_begin(&j);
            px_json_key(&j, "file");
            px_json_strn(&j, r.failed[i], colon ? (size_t)(colon - r.failed[i]) : strlen(r.failed[i]));
            px_json_key(&j, "error");
            px_json_str(&j, colon ? colon + 2 : "");
            px_json_obj_end(&j);
        }
        px_json_arr_end(&j);
        px_json_key(&j, "warnings");
        px_json_arr_begin(&j);
        for (int i = 0; i < r.n_warnings; i++) px_json_str(&j, r.warnings[i]);
        px_json_arr_end(&j);
        px_json_obj_end(&j);
        px_json_end(&j);
    }
    if (st) {
        cli_fail();
        px_optimize_result_free(&r);
        return st == PX_ERR_INTERRUPTED ? 130 : 1;
    }
    if (!json) printf("optimize: %d files with %s into %s (%.2f s)\n", r.n_ok, o.driver, out, secs);
    px_optimize_result_free(&r);
    return 0;
}

int cmd_verify(int argc, char **argv)
{
    if (!cli_want_help(argc, argv) && argc < 2) return cli_usage("verify", "need REFERENCE and CANDIDATE%s", "");
    if (cli_want_help(argc, argv)) {
        printf("usage: proteus verify REFERENCE CANDIDATE [--rtol R] [--atol A] [--seed N] [--runs N]\n"
               "                      [--input-shape NAME=D0,D1,...]... [--input NAME=FILE.npy]...\n"
               "                      [--reference-opt disabled|basic|extended|all] [--json]\n"
               "Runs both models in ONNX Runtime on the same inputs, prints the largest absolute and\n"
               "relative error per output, and exits 1 when an output's largest difference exceeds\n"
               "atol + rtol * (its largest reference magnitude): relative to the output's range, so\n"
               "round-off on elements near zero is not a failure. atol defaults to 0. rtol defaults to\n"
               "10 machine epsilons of the precision the output is computed in, at least 1e-4: the lower\n"
               "of the output's dtype and the lowest float precision in the model (its initializers,\n"
               "constants, Cast targets, declared types). A model converted to float16 with float32\n"
               "inputs and outputs rounds every intermediate to float16, so two correct runs of it differ\n"
               "by float16 round-off, beyond float32's 1e-4. float32, float64: 1e-4; float16, eps 2^-10:\n"
               "9.8e-3; bfloat16, eps 2^-7: 7.8e-2; non-float outputs: 1e-4. --rtol sets one for all.\n"
               "Inputs are seeded random (token ids and masks in valid ranges, floats standard normal),\n"
               "symbolic dims 1. --input-shape NAME=D0,D1,... (repeatable) gives an input its shape (a\n"
               "symbol it fixes applies to the other inputs too); --input NAME=FILE.npy (repeatable) its\n"
               "values, a numpy.save array of the input's dtype, where random ones do not suit (a sample\n"
               "rate, a length, a flag). When a model cannot run on them, the error names the inputs\n"
               "drawn at random and the flag that would give them.\n"
               "--reference-opt LEVEL runs the reference with ONNX Runtime's graph optimizations at LEVEL\n"
               "(default disabled); the candidate always runs unoptimized. ONNX Runtime's own optimization\n"
               "of a whole model moves some models' outputs beyond rtol (NCHWc convolutions, fusions,\n"
               "float16 Cast pairs removed); then no optimizer-side pipeline can pass against the\n"
               "unoptimized reference. When verify fails it measures that error (the reference at 'all'\n"
               "against the reference unoptimized, and the candidate against the reference at 'all') and\n"
               "says whether --reference-opt all would tell the optimizer's error from the stitching.\n"
               "--runs N compares on N input sets (seeds S, S+1, ... from --seed S; --input arrays stay);\n"
               "--json prints one summary object on stdout: ok, reference_opt, compute_dtype, inputs\n"
               "(dtype, shape, from: file or random), outputs (max_abs, max_rel, rtol, dtype, bitwise, ok),\n"
               "seconds, and on failure reference_opt_error (level, max_rel, ok, outputs, candidate).\n"
               "A model that cannot be read or run, or a bad --input file, is one line\n"
               "\"proteus: verify: FILE: problem\", exit 1; a usage error exits 2.\n");
        return 0;
    }
    return cli_exec_python("verify", "proteus_py.verify", argc, argv);
}
