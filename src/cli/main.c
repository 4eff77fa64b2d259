/* proteus command-line tool: parses arguments, calls the library, reports.
 * Every failure prints one line "proteus: <what>: <problem>" and exits 1
 * (2 for usage errors). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "onnx/onnx_io.h"
#include "shape/shape_infer.h"
#include "partition/fusion_probe.h"
#include "partition/partition.h"
#include "sentinel/sentinel.h"
#include "tools/inspect.h"
#include "util/json.h"
#include "tools/rehydrate.h"
#include "util/outpath.h"

#ifndef PX_VERSION
#error "PX_VERSION is not defined: the Makefile reads it from VERSION"
#endif

static const char *usage_text =
    "usage: proteus <command> [options]\n"
    "\n"
    "commands (the pipeline):\n"
    "  obfuscate MODEL -o BUCKET --key KEY [-k K (20)] [--sentinels learned|random] [--subgraph-size S | -n N]\n"
    "            [--seed N] [--force] [--allow-weak] [--weightless] [--allow-unverified] [--json]\n"
    "  optimize BUCKET -o OUT --with DRIVER [-j JOBS] [--shard I/N] [--max-failures N] [--json]\n"
    "  reassemble OUT --key KEY -o MODEL [--no-seam-cleanup]\n"
    "  verify REFERENCE CANDIDATE [--rtol R] [--atol A] [--input-shape NAME=D0,D1,...] [--input NAME=FILE.npy]\n"
    "         [--reference-opt disabled|basic|extended|all] [--json]\n"
    "\n"
    "commands (the owner's checks):\n"
    "  audit BUCKET --key KEY [--json] [--out DIR]   attack the bucket, report what is left hidden\n"
    "  key show KEY [--json]           which files are real, in model order, and their sentinels\n"
    "  key passwd KEY                  re-seal the key under a new passphrase or secret\n"
    "  train-generator DIR... -o FILE  refit the learned sentinel generator to real models (Python)\n"
    "\n"
    "commands (models):\n"
    "  inspect MODEL [--json]          nodes, op histogram, inputs/outputs, params, FLOPs\n"
    "  shapes MODEL                    every value's inferred dtype and shape, as JSON\n"
    "  partition MODEL [--subgraph-size S | -n N] [--seed N]   a partition as obfuscate cuts, as JSON\n"
    "  rehydrate IN OUT [--seed N]     fill weightless initializers with seeded random values\n"
    "  roundtrip IN OUT                load and save again (tests the ONNX reader/writer)\n"
    "\n"
    "\n"
    "load limits (options of every command that reads a model: inspect, shapes, partition,\n"
    "rehydrate, roundtrip, obfuscate, reassemble; a model beyond them is refused):\n"
    "  --max-nodes N                   nodes in the graph (default 1000000)\n"
    "  --max-tensor-bytes N            bytes of one tensor (default 16G; K/M/G/T suffixes)\n"
    "  --max-total-bytes N             bytes of all tensors together (default 64G)\n"
    "\n"
    "  proteus <command> --help        help for one command\n"
    "  proteus --version               the version\n";

int cli_fail(void)
{
    fprintf(stderr, "proteus: %s\n", px_last_error());
    return 1;
}

int cli_usage(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "proteus: %s%s", cmd ? cmd : "", cmd ? ": " : "");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'proteus %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
    return 2;
}

double cli_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int cli_want_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int cli_parse_limit_opt(const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    int which = !strcmp(a, "--max-nodes") ? 0 : !strcmp(a, "--max-tensor-bytes") ? 1
              : !strcmp(a, "--max-total-bytes") ? 2 : -1;
    if (which < 0) return 0;
    const char *s = *i + 1 < argc ? argv[*i + 1] : NULL;
    char num[32];
    size_t n = s ? strlen(s) : 0;
    uint64_t v, mul = 1;
    if (which > 0 && n > 1 && n < sizeof num && strchr("KMGT", s[n - 1])) {
        mul = (uint64_t)1 << (10 * (strchr("KMGT", s[n - 1]) - "KMGT" + 1));
        memcpy(num, s, n - 1);
        num[n - 1] = 0;
        s = num;
    }
    uint64_t max = which == 0 ? PX_MAX_NODES : (uint64_t)1 << 62;
    if (!s || cli_parse_u64(s, &v) || v == 0 || v > max / mul) {
        fprintf(stderr, "proteus: %s: %s needs a number from 1 to %llu%s (see 'proteus %s --help')\n", cmd, a,
                (unsigned long long)max, which ? " (bytes; K, M, G, T suffixes)" : "", cmd);
        return 2;
    }
    px_load_limits l = px_get_load_limits();
    if (which == 0) l.max_nodes = (int64_t)v;
    else if (which == 1) l.max_tensor_bytes = (int64_t)(v * mul);
    else l.max_total_bytes = (int64_t)(v * mul);
    px_set_load_limits(&l);
    *i += 1;
    return 1;
}

static int cmd_inspect(int argc, char **argv)
{
    if (cli_want_help(argc, argv)) {
        printf("usage: proteus inspect MODEL [--json]\n"
               "Prints node count, op histogram (domain-qualified for non-default domains),\n"
               "inputs and outputs with dtype and shape, parameter count and bytes,\n"
               "estimated multiply-accumulates of Conv/ConvTranspose/Gemm/MatMul, opsets.\n"
               "--json prints one JSON object instead.\n" CLI_LIMITS_HELP);
        return 0;
    }
    const char *path = NULL;
    int json = 0;
    for (int i = 0; i < argc; i++) {
        int lim = cli_parse_limit_opt("inspect", argc, argv, &i);
        if (lim == 2) return 2;
        if (lim) continue;
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (argv[i][0] == '-') return cli_usage(NULL, "inspect: unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage(NULL, "inspect: unexpected argument '%s'", argv[i]);
    }
    if (!path) return cli_usage(NULL, "inspect: missing MODEL%s", "");
    px_graph g;
    px_graph_init(&g);
    if (px_onnx_load(path, &g)) return cli_fail();
    px_inspect r;
    if (px_inspect_run(&g, &r)) {
        px_graph_free(&g);
        return cli_fail();
    }
    if (json) px_inspect_print_json(&g, &r, stdout);
    else px_inspect_print_text(&g, &r, stdout);
    px_inspect_free(&r);
    px_graph_free(&g);
    return 0;
}

static int cmd_shapes(int argc, char **argv)
{
    const char *path = NULL;
    int bad = cli_want_help(argc, argv);
    for (int i = 0; i < argc && !bad; i++) {
        int lim = cli_parse_limit_opt("shapes", argc, argv, &i);
        if (lim == 2) return 2;
        if (lim) continue;
        if (argv[i][0] == '-' || path) bad = 1;
        else path = argv[i];
    }
    if (bad || !path) {
        printf("usage: proteus shapes MODEL\n"
               "Runs shape inference and prints {\"values\": [{name, dtype, shape}...]}.\n" CLI_LIMITS_HELP);
        return cli_want_help(argc, argv) ? 0 : 2;
    }
    px_graph g;
    px_graph_init(&g);
    if (px_onnx_load(path, &g)) return cli_fail();
    if (px_shape_infer(&g, NULL)) {
        px_fail_prefix(PX_ERR_SHAPE, "%s", path);
        px_graph_free(&g);
        return cli_fail();
    }
    px_values_print_json(&g, stdout);
    px_graph_free(&g);
    return 0;
}

static void partition_warn(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "proteus: partition: warning: %s\n", msg);
}

static int cmd_partition(int argc, char **argv)
{
    if (cli_want_help(argc, argv)) {
        printf("usage: proteus partition MODEL [--subgraph-size S | -n N] [--seed N]\n"
               "                         [--fusion-from ort:all|ort:extended|ort:basic|table]\n"
               "Prints a partition as obfuscate makes it, for partition seed N (obfuscate draws its\n"
               "own seed from the owner's secret), as JSON: {\"parts\", \"cut_edges\", \"cut_weight\",\n"
               "\"fusion_from\", \"nodes\": [{\"name\", \"op\", \"part\"}]} (part -1: a constant, replicated).\n"
               "--fusion-from: which nodes must stay together. ort:LEVEL runs ONNX Runtime at LEVEL on the\n"
               "whole model first and keeps what it fuses together, avoiding cuts through its blocked\n"
               "(NCHWc) layout; table: the hand-written fusion table only. Default ort:all, or the table\n"
               "with one warning where ONNX Runtime cannot run the model (silently for a weightless one).\n"
               CLI_LIMITS_HELP);
        return 0;
    }
    const char *path = NULL;
    px_partition_opts o = {0};
    const char *fusion_from = NULL;
    for (int i = 0; i < argc; i++) {
        uint64_t v;
        int lim = cli_parse_limit_opt("partition", argc, argv, &i);
        if (lim == 2) return 2;
        if (lim) continue;
        if (!strcmp(argv[i], "--fusion-from")) {
            if (i + 1 >= argc) return cli_usage(NULL, "partition: %s needs ort:all, ort:extended, ort:basic or table", argv[i]);
            px_fusion_source fs;
            if (px_fusion_source_parse(argv[++i], &fs)) return cli_usage(NULL, "partition: %s", px_last_error());
            fusion_from = argv[i];
        } else if (!strcmp(argv[i], "--subgraph-size") || !strcmp(argv[i], "-n") || !strcmp(argv[i], "--seed")) {
            if (i + 1 >= argc || cli_parse_u64(argv[i + 1], &v) || v > 100000000)
                return cli_usage(NULL, "partition: %s needs a number", argv[i]);
            if (!strcmp(argv[i], "--seed")) o.seed = v;
            else if (!strcmp(argv[i], "-n")) o.n_parts = (int)v;
            else o.subgraph_size = (int)v;
            i++;
        } else if (argv[i][0] == '-') return cli_usage(NULL, "partition: unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage(NULL, "partition: unexpected argument '%s'", argv[i]);
    }
    if (!path) return cli_usage(NULL, "partition: missing MODEL%s", "");
    px_graph g;
    px_graph_init(&g);
    if (px_onnx_load(path, &g)) return cli_fail();
    px_partition p;
    if (px_graph_sort(&g)) {
        px_graph_free(&g);
        return cli_fail();
    }
    /* learned fusion groups (the table where ONNX Runtime cannot run it) */
    float *weights = NULL;
    if (px_fusion_weights_for(path, &g, fusion_from, partition_warn, NULL, &weights)) {
        px_graph_free(&g);
        return cli_fail();
    }
    o.edge_weight = weights;
    o.n_edge_weight = weights ? g.n_values : 0;
    if (px_partition_graph(&g, &o, &p)) {
        free(weights);
        px_graph_free(&g);
        return cli_fail();
    }
    px_json j;
    px_json_init(&j, stdout, 0);
    px_json_obj_begin(&j);
    px_json_key(&j, "parts");
    px_json_int(&j, p.n_parts);
    px_json_key(&j, "cut_edges");
    px_json_int(&j, p.cut_edges);
    px_json_key(&j, "cut_weight");
    px_json_double(&j, p.cut_weight);
    px_json_key(&j, "fusion_from");
    px_json_str(&j, !weights ? "table" : fusion_from && strcmp(fusion_from, "ort") ? fusion_from : "ort:all");
    px_json_key(&j, "nodes");
    px_json_arr_begin(&j);
    for (int i = 0; i < g.n_nodes; i++) {
        px_json_obj_begin(&j);
        px_json_key(&j, "name");
        px_json_str(&j, g.nodes[i].name);
        px_json_key(&j, "op");
        px_json_str(&j, g.nodes[i].op_type);
        px_json_key(&j, "part");
        px_json_int(&j, p.part_of[i]);
        px_json_obj_end(&j);
    }
    px_json_arr_end(&j);
    px_json_obj_end(&j);
    px_json_end(&j);
    free(weights);
    px_partition_free(&p);
    px_graph_free(&g);
    return 0;
}

static int cmd_roundtrip(int argc, char **argv)
{
    const char *io[2] = {NULL, NULL};
    int n = 0, force = 0, bad = cli_want_help(argc, argv);
    for (int i = 0; i < argc && !bad; i++) {
        int lim = cli_parse_limit_opt("roundtrip", argc, argv, &i);
        if (lim == 2) return 2;
        if (lim) continue;
        if (!strcmp(argv[i], "--force")) force = 1;
        else if (argv[i][0] == '-' || n == 2) bad = 1;
        else io[n++] = argv[i];
    }
    if (bad || n != 2) {
        printf("usage: proteus roundtrip IN OUT [--force]\nLoads IN into the graph IR and saves it to OUT (an existing OUT\n"
               "only with --force; never IN itself).\n" CLI_LIMITS_HELP);
        return cli_want_help(argc, argv) ? 0 : 2;
    }
    if (px_output_check(io[1], io, 1, force, "the output")) return cli_fail();
    px_graph g;
    px_graph_init(&g);
    if (px_onnx_load(io[0], &g)) return cli_fail();
    px_status st = px_onnx_save(&g, io[1], NULL);
    px_graph_free(&g);
    return st ? cli_fail() : 0;
}

static int cmd_rehydrate(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    uint64_t seed = 0;
    int force = 0;
    if (cli_want_help(argc, argv)) {
        printf("usage: proteus rehydrate IN OUT [--seed N] [--force]\n"
               "Fills every initializer that has no data (the corpus's weightless form) with\n"
               "seeded random values of its dtype and shape, so the model runs. Same seed,\n"
               "same bytes. Models over 2 GiB get their tensors in OUT.data beside OUT.\n"
               "An existing OUT is replaced only with --force, IN never.\n" CLI_LIMITS_HELP);
        return 0;
    }
    for (int i = 0; i < argc; i++) {
        int lim = cli_parse_limit_opt("rehydrate", argc, argv, &i);
        if (lim == 2) return 2;
        if (lim) continue;
        if (!strcmp(argv[i], "--seed")) {
            if (i + 1 >= argc) return cli_usage(NULL, "rehydrate: --seed needs a value%s", "");
            if (cli_parse_u64(argv[++i], &seed)) return cli_usage(NULL, "rehydrate: bad seed '%s'", argv[i]);
        } else if (!strcmp(argv[i], "--force")) force = 1;
        else if (argv[i][0] == '-') return cli_usage(NULL, "rehydrate: unknown option '%s'", argv[i]);
        else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else return cli_usage(NULL, "rehydrate: unexpected argument '%s'", argv[i]);
    }
    if (!in || !out) return cli_usage(NULL, "rehydrate: need IN and OUT%s", "");
    if (px_output_check(out, &in, 1, force, "the output")) return cli_fail();
    px_graph g;
    px_graph_init(&g);
    if (px_onnx_load(in, &g)) return cli_fail();
    px_status st = px_rehydrate(&g, seed);
    if (!st) st = px_onnx_save(&g, out, NULL);
    px_graph_free(&g);
    return st ? cli_fail() : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("proteus %s\n", PX_VERSION);
        return 0;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (!strcmp(cmd, "obfuscate")) return cmd_obfuscate(argc, argv);
    if (!strcmp(cmd, "optimize")) return cmd_optimize(argc, argv);
    if (!strcmp(cmd, "reassemble")) return cmd_reassemble(argc, argv);
    if (!strcmp(cmd, "verify")) return cmd_verify(argc, argv);
    if (!strcmp(cmd, "audit")) return cmd_audit(argc, argv);
    if (!strcmp(cmd, "train-generator")) return cmd_train_generator(argc, argv);
    if (!strcmp(cmd, "key")) return cmd_key(argc, argv);
    if (!strcmp(cmd, "inspect")) return cmd_inspect(argc, argv);
    if (!strcmp(cmd, "shapes")) return cmd_shapes(argc, argv);
    if (!strcmp(cmd, "partition")) return cmd_partition(argc, argv);
    if (!strcmp(cmd, "roundtrip")) return cmd_roundtrip(argc, argv);
    if (!strcmp(cmd, "rehydrate")) return cmd_rehydrate(argc, argv);
    return cli_usage(NULL, "unknown command '%s'", cmd);
}
