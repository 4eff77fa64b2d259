/* proteus obfuscate: model -> bucket + sealed key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bucket/bucket.h"
#include "cli/cli.h"
#include "partition/fusion_probe.h"
#include "sentinel/pxg.h"
#include "util/cancel.h"
#include "util/json.h"

#define DEFAULT_K 20
#define DEFAULT_SENTINELS "learned"

static void warn_line(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "proteus: obfuscate: warning: %s\n", msg);
}

/* One self-overwriting line on a terminal. */
static void progress_line(void *ctx, const char *stage, int done, int total)
{
    (void)ctx;
    fprintf(stderr, "\rproteus: obfuscate: %s %d/%d", stage, done, total);
    if (done == total) fputs("\r\033[K", stderr);
    fflush(stderr);
}

static void print_json(const px_obfuscate_stats *s, const px_obfuscate_opts *o, const char *bucket, const char *key,
                       double secs)
{
    px_json j;
    px_json_init(&j, stdout, 0);
    px_json_obj_begin(&j);
    px_json_key(&j, "bucket");
    px_json_str(&j, bucket);
    px_json_key(&j, "key");
    px_json_str(&j, key);
    px_json_key(&j, "nodes");
    px_json_int(&j, s->n_nodes);
    px_json_key(&j, "subgraphs");
    px_json_int(&j, s->n_parts);
    px_json_key(&j, "min_subgraph_nodes");
    px_json_int(&j, s->min_part);
    px_json_key(&j, "max_subgraph_nodes");
    px_json_int(&j, s->max_part);
    px_json_key(&j, "cut_edges");
    px_json_int(&j, s->cut_edges);
    px_json_key(&j, "k");
    px_json_int(&j, o->k);
    px_json_key(&j, "sentinels");
    px_json_str(&j, o->sentinels);
    px_json_key(&j, "files");
    px_json_int(&j, s->n_files);
    px_json_key(&j, "random_stand_ins");
    px_json_int(&j, s->n_stand_in);
    px_json_key(&j, "unverified");
    px_json_int(&j, s->n_unprobed);
    px_json_key(&j, "seconds");
    px_json_double(&j, secs);
    px_json_obj_end(&j);
    px_json_end(&j);
    fputc('\n', stdout);
}

int cmd_obfuscate(int argc, char **argv)
{
    static const char *help =
        "usage: proteus obfuscate MODEL -o BUCKET --key KEY [-k K] [--sentinels GEN [--generator FILE]]\n"
        "                         [--subgraph-size S | -n N]\n"
        "                         [--seed N] [--force] [--allow-weak] [--weightless] [--allow-unverified]\n"
        "                         [--input-shape NAME=D0,D1,...]... [--input NAME=FILE.npy]...\n"
        "                         [--fusion-from table|ort:all|ort:extended]\n"
        "                         [--no-probe] [--json]\n"
        "Partitions MODEL into subgraphs (about S nodes each, default 12, and at least 3 for a small\n"
        "model; or N of them), hides each among K generated sentinels (default 20), and writes BUCKET/\n"
        "(anonymous subgraph files and manifest.json, nothing secret) and KEY (what the owner needs to\n"
        "reassemble; keep it). Sentinels have exactly the interface of the real subgraph they hide.\n"
        "--sentinels picks the generator: learned (the default) samples structure from a model fitted\n"
        "to real subgraphs (--generator FILE, default the shipped data/generator/default.pxg; rebuilt by\n"
        "`proteus train-generator`) and solves channel counts, kernels, strides and pads (Z3) so that\n"
        "the interface fits exactly, with no adapter nodes; where no draw fits it, the random generator\n"
        "stands in for that sentinel (a warning counts them). It withstands more attacks than random,\n"
        "not yet all: the learned classifiers of `proteus audit` still name most real files\n"
        "(docs/confidentiality.md). random grows random operators on a random topology: the control\n"
        "baseline, fast, that the audit breaks (most attacks name every real file); a warning says so\n"
        "whenever it is chosen.\n"
        "What the optimizer sees: every file, real weights included, in the clear; the real subgraphs'\n"
        "interfaces and the shape skeleton. What it should not learn: which files are real and how\n"
        "they connect (the promise: (K+1)^n candidate models for n subgraphs).\n"
        "Refused unless told otherwise: a promise under n >= 3 and (K+1)^n >= 10^6 (--allow-weak),\n"
        "a model without weight data (--weightless), real subgraphs that cannot be fingerprinted\n"
        "(--allow-unverified), an existing KEY (--force replaces it; KEY may never be MODEL).\n"
        "BUCKET must not exist. Same MODEL, options and secret give a byte-identical bucket, whatever\n"
        "--seed says (it is accepted and changes nothing): partition, file names and sentinels are drawn\n"
        "from the secret and the model's architecture (the graph without its float weight values), and\n"
        "each float sentinel tensor mixes a real tensor of its role (keyed positions) with the\n"
        "generator's draw. Obfuscating the model again gives the same bucket; a fine-tuned version gives\n"
        "the same files with every tensor, real or not, moved alike: two buckets cannot be intersected\n"
        "(`proteus audit --second`). Keep one secret per model: under another secret the real weights\n"
        "recur and the sentinels do not. Buckets of other architectures share no name or sentinel.\n"
        "Each real subgraph is fingerprinted (run on inputs drawn from the secret, in ONNX Runtime)\n"
        "so that reassemble can tell a file that computes something else; --no-probe skips that\n"
        "(reassemble then needs --allow-unverified). Symbolic dims are tried at 1, 32 and 8; give\n"
        "--input-shape NAME=D0,D1,... (repeatable) for inputs that need other lengths (a detector's\n"
        "image size): symbols it fixes apply wherever they occur; --input NAME=FILE.npy (repeatable)\n"
        "gives an input its value where random ones do not suit (a sample rate, a flag). Both also\n"
        "feed the one run of the whole model in ONNX Runtime that gives the types static inference\n"
        "cannot (contrib ops, nested If) and what crosses each cut (the fingerprints' inputs).\n"
        "--json prints a summary object.\n"
        "--fusion-from ort:all (the default) learns which values ONNX Runtime fuses, keeps blocked or\n"
        "re-exposes when it optimizes the whole model here, and cuts where that costs least; a\n"
        "weightless or QDQ-quantized model, or one ONNX Runtime cannot run here (a warning says so),\n"
        "is cut by the built-in fusion table, as with --fusion-from table (docs/benchmarks.md).\n"
        "Ctrl-C stops cleanly: nothing is left behind.\n";
    if (cli_want_help(argc, argv)) {
        fputs(help, stdout);
        fputs(CLI_SECRET_HELP, stdout);
        fputs(CLI_LIMITS_HELP, stdout);
        return 0;
    }
    const char *model = NULL, *bucket = NULL, *key = NULL;
    px_obfuscate_opts o = {.k = -1};
    cli_secret_opts so = {0};
    int json = 0;
    uint64_t v;
    const char *shapes[64], *files[64];
    for (int i = 0; i < argc; i++) {
        int lim = cli_parse_limit_opt("obfuscate", argc, argv, &i);
        if (!lim) lim = cli_parse_secret_opt("obfuscate", argc, argv, &i, &so);
        if (lim == 2) return 2;
        if (lim) continue;
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-o") || !strcmp(a, "--key") || !strcmp(a, "-k") || !strcmp(a, "--subgraph-size") ||
            !strcmp(a, "-n") || !strcmp(a, "--seed") || !strcmp(a, "--sentinels") || !strcmp(a, "--fusion-from") ||
            !strcmp(a, "--generator")) {
            if (!has) return cli_usage("obfuscate", "%s needs a value", a);
            const char *val = argv[++i];
            if (!strcmp(a, "-o")) bucket = val;
            else if (!strcmp(a, "--key")) key = val;
            else if (!strcmp(a, "--sentinels")) o.sentinels = val;
            else if (!strcmp(a, "--generator")) o.generator = val;
            else if (!strcmp(a, "--fusion-from")) {
                px_fusion_source fs;
                if (px_fusion_source_parse(val, &fs)) return cli_usage("obfuscate", "%s", px_last_error());
                o.fusion_from = val;
            }
            else {
                if (cli_parse_u64(val, &v) || v > 1000000) return cli_usage("obfuscate", "bad number '%s'", val);
                if (!strcmp(a, "-k")) o.k = (int)v;
                else if (!strcmp(a, "--subgraph-size")) o.subgraph_size = (int)v;
                else if (!strcmp(a, "-n")) o.n_parts = (int)v;
                else o.seed = v;
            }
        } else if (!strcmp(a, "--input-shape")) {
            if (!has) return cli_usage("obfuscate", "%s needs NAME=D0,D1,...", a);
            if (o.n_input_shapes == (int)(sizeof shapes / sizeof *shapes))
                return cli_usage("obfuscate", "too many %s options", a);
            shapes[o.n_input_shapes++] = argv[++i];
        } else if (!strcmp(a, "--input")) {
            if (!has) return cli_usage("obfuscate", "%s needs NAME=FILE.npy", a);
            const char *eq = strchr(argv[i + 1], '=');
            if (!eq || eq == argv[i + 1] || !eq[1])
                return cli_usage("obfuscate", "--input %s: want NAME=FILE.npy", argv[i + 1]);
            if (o.n_input_files == (int)(sizeof files / sizeof *files))
                return cli_usage("obfuscate", "too many %s options", a);
            files[o.n_input_files++] = argv[++i];
        } else if (!strcmp(a, "--no-probe")) o.no_probe = 1;
        else if (!strcmp(a, "--force")) o.force = 1;
        else if (!strcmp(a, "--allow-weak")) o.allow_weak = 1;
        else if (!strcmp(a, "--weightless")) o.weightless = 1;
        else if (!strcmp(a, "--allow-unverified")) o.allow_unverified = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (a[0] == '-') return cli_usage("obfuscate", "unknown option '%s'", a);
        else if (!model) model = a;
        else return cli_usage("obfuscate", "unexpected argument '%s'", a);
    }
    if (!model || !bucket || !key) return cli_usage("obfuscate", "need MODEL, -o BUCKET and --key KEY%s", "");
    if (o.subgraph_size && o.n_parts) return cli_usage("obfuscate", "give --subgraph-size or -n, not both%s", "");
    if (o.k < 0) o.k = DEFAULT_K;
    if (!o.sentinels) {
        o.sentinels = DEFAULT_SENTINELS;
        char def[4096];
        px_generator_default_path(def, sizeof def);
        if (!o.generator && !*def)
            return cli_usage("obfuscate", "the default sentinel generator (learned) needs its model file and none was "
                                          "found (data/generator/default.pxg beside the Python half, or "
                                          "PROTEUS_GENERATOR): give --generator FILE, or --sentinels random for the "
                                          "weak baseline%s", "");
    }
    o.input_shapes = shapes;
    o.input_files = files;
    if (o.no_probe) o.allow_unverified = 1;
    o.warn = warn_line;
    if (isatty(2)) o.progress = progress_line;
    px_obfuscate_stats s;
    px_secret secret;
    if (cli_secret(&so, key, 1, &secret)) {
        px_secret_free(&secret);
        return cli_fail();
    }
    o.secret = &secret;
    px_cancel_install();
    double t0 = cli_now_s();
    px_status st = px_obfuscate(model, bucket, key, &o, &s);
    px_secret_free(&secret);
    if (st) {
        cli_fail();
        return st == PX_ERR_INTERRUPTED ? 130 : 1;
    }
    if (json) print_json(&s, &o, bucket, key, cli_now_s() - t0);
    else
        printf("obfuscate: %d nodes -> %d subgraphs (%d to %d nodes, %d cut edges), k=%d%s%s, %d files in %s (%.2f s)\n",
               s.n_nodes, s.n_parts, s.min_part, s.max_part, s.cut_edges, o.k, o.k ? " sentinels " : "",
               o.k ? o.sentinels : "", s.n_files, bucket, cli_now_s() - t0);
    if (o.k > 0 && !strcmp(o.sentinels, "random"))
        warn_line(NULL, "the 'random' sentinel generator is a baseline: a learned attacker names most real files "
                        "(run proteus audit); it hides little");
    if (s.n_stand_in)
        fprintf(stderr, "proteus: obfuscate: warning: %d of %d sentinels came from the random generator: no draw of the "
                        "learned one fitted their interface\n", s.n_stand_in, s.n_files - s.n_parts);
    if (s.n_unprobed)
        fprintf(stderr, "proteus: obfuscate: warning: %d real subgraphs could not be fingerprinted; reassemble will "
                        "check only their interfaces (with --allow-unverified)\n", s.n_unprobed);
    return 0;
}
