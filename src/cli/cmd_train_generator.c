/* train-generator: refit the learned sentinel generator (Python; obfuscation
 * itself reads the fitted file in C and needs no Python). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/pyenv.h"

int cmd_train_generator(int argc, char **argv)
{
    if (cli_want_help(argc, argv)) {
        printf("usage: proteus train-generator DIR... -o FILE [--exclude-family NAME]... [--seeds N]\n"
               "Cuts every .onnx model in DIR... (or given as a file) as obfuscate cuts it (`proteus partition`,\n"
               "--seeds partition seeds each, default 2) and fits the learned sentinel generator to the real\n"
               "subgraphs: op transitions from the inputs, operand choice (chains, residual joins), constant\n"
               "operands, attributes per op (kernels, strides, pads, depthwise groups, axes), channel counts\n"
               "and subgraph sizes, written as counts to FILE (a small .pxg text file; the format is in its\n"
               "header). obfuscate --sentinels learned --generator FILE uses it; the shipped one is\n"
               "data/generator/default.pxg (README: how to rebuild it).\n"
               "--exclude-family NAME leaves a model family (a file name without its -opNN, -dyn, -fp16, -qdq,\n"
               "... variant suffixes) out of training, for leave-one-family-out audits; repeatable.\n"
               "Runs in Python (the project's .venv: onnx).\n");
        return 0;
    }
    return cli_exec_python("train-generator", "proteus_py.generator", argc, argv);
}

int cli_exec_python(const char *cmd, const char *module, int argc, char **argv)
{
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (!args) return 1;
    int k = 0;
    args[k++] = (char *)px_python();
    args[k++] = "-m";
    args[k++] = (char *)module;
    for (int i = 0; i < argc; i++) args[k++] = argv[i];
    args[k] = NULL;
    fflush(stdout);
    px_python_env();
    execvp(args[0], args);
    fprintf(stderr, "proteus: %s: cannot run %s: the Python environment is missing (run scripts/setup)\n", cmd, args[0]);
    free(args);
    return 1;
}
