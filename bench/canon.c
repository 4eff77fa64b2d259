/* Benchmark: what canonical order and names (ir/canon.h, run twice by
 * reassemble) cost on one model, against loading it.
 *
 *   build/bench/canon MODEL
 *
 * Prints one line: nodes, initializer bytes, load seconds, then the seconds
 * of two px_graph_canonicalize calls (the second on the canonical graph). */
#include <stdio.h>
#include <time.h>

#include "ir/canon.h"
#include "onnx/onnx_io.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    px_graph g;
    px_graph_init(&g);
    double t[4];
    t[0] = now();
    px_status st = px_onnx_load(argv[1], &g);
    t[1] = now();
    if (!st) st = px_graph_canonicalize(&g, 0);
    t[2] = now();
    if (!st) st = px_graph_canonicalize(&g, 0);
    t[3] = now();
    if (st) {
        fprintf(stderr, "%s: %s\n", argv[1], px_last_error());
        px_graph_free(&g);
        return 1;
    }
    int64_t params, bytes;
    px_graph_param_count(&g, &params, &bytes);
    printf("%s: %d nodes, %lld initializer bytes: load %.2f s, canonicalize %.3f s, again %.3f s\n", argv[1],
           g.n_nodes, (long long)bytes, t[1] - t[0], t[2] - t[1], t[3] - t[2]);
    px_graph_free(&g);
    return 0;
}
