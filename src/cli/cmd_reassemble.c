/* proteus reassemble: optimized bucket + key -> model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "reassemble/reassemble.h"
#include "util/json.h"
#include "util/outpath.h"

int cmd_reassemble(int argc, char **argv)
{
    static const char *help =
        "usage: proteus reassemble OUT --key KEY -o MODEL [--no-seam-cleanup] [--no-probe] [--probe-tol T]\n"
        "                          [--allow-unverified] [--force] [--json]\n"
        "Stitches the optimized real subgraphs in OUT (named by KEY) into MODEL. Every file's\n"
        "interface and opset imports are checked against what was sent (ai.onnx and every domain\n"
        "sent keep their version; new contrib domains are allowed); a missing or changed file is\n"
        "refused, naming it. A returned file must be a regular file inside OUT (no FIFO, device\n"
        "or link out), at most 4 x its bytes as sent + 16 MiB and 16 x its nodes + 1000. Each\n"
        "fingerprinted file is run on the secret inputs it was fingerprinted with and must compute\n"
        "what was sent: NaN/Inf at the same places, values within T of the output's range\n"
        "(default 1e-4; float16 1e-2, bfloat16 2e-2): a swapped file or a changed weight is\n"
        "refused, naming the file (--no-probe skips this). A real file that could not be\n"
        "fingerprinted is refused unless --allow-unverified (then a warning names it). Inverse\n"
        "pairs the optimizer left at subgraph seams are removed unless --no-seam-cleanup is given;\n"
        "initializers and opset domains nothing uses are dropped. An existing MODEL is replaced only\n"
        "with --force (never KEY itself); a key of another bucket is named as such. --json prints a\n"
        "summary object on stdout.\n";
    if (cli_want_help(argc, argv)) {
        fputs(help, stdout);
        fputs(CLI_SECRET_HELP, stdout);
        fputs(CLI_LIMITS_HELP, stdout);
        return 0;
    }
    const char *dir = NULL, *key = NULL, *out = NULL;
    px_reassemble_opts o = {0};
    cli_secret_opts so = {0};
    int force = 0, json = 0;
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
        else if (!strcmp(a, "--allow-unverified")) o.allow_unverified = 1;
        else if (!strcmp(a, "--force")) force = 1;
        else if (!strcmp(a, "--json")) json = 1;
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
    const char *ins[1] = {key};
    if (px_output_check(out, ins, 1, force, "the output")) return cli_fail();
    px_reassemble_stats s;
    px_secret secret;
    if (cli_secret(&so, key, 0, &secret)) {
        px_secret_free(&secret);
        return cli_fail();
    }
    o.secret = &secret;
    double t0 = cli_now_s();
    px_status st = px_reassemble(dir, key, out, &o, &s);
    px_secret_free(&secret);
    if (st) return cli_fail();
    if (json) {
        px_json j;
        px_json_init(&j, stdout, 0);
        px_json_obj_begin(&j);
        px_json_key(&j, "model");
        px_json_str(&j, out);
        px_json_key(&j, "subgraphs");
        px_json_int(&j, s.n_parts);
        px_json_key(&j, "nodes");
        px_json_int(&j, s.n_nodes);
        px_json_key(&j, "seam_removed");
        px_json_int(&j, s.seam_removed);
        px_json_key(&j, "seconds");
        px_json_double(&j, cli_now_s() - t0);
        px_json_obj_end(&j);
        px_json_end(&j);
        fputc('\n', stdout);
    } else
        printf("reassemble: %d subgraphs -> %s, %d nodes, %d removed at seams (%.2f s)\n", s.n_parts, out, s.n_nodes,
               s.seam_removed, cli_now_s() - t0);
    return 0;
}

