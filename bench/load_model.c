/* Benchmark: time and peak memory of loading one model.
 *
 *   build/bench/load_model proteus MODEL   # px_onnx_load (the library)
 *   build/bench/load_model naive MODEL     # baseline: read file + protobuf-c unpack
 *                                            (+ read MODEL.data whole, if present)
 *
 * Prints one JSON line: mode, file bytes (model + external data), load
 * milliseconds, and peak RSS growth over the process's RSS before loading.
 * Run each mode in a fresh process (peak RSS is per process). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "onnx/onnx_io.h"
#include "util/fileio.h"

static long rss_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n)) v = strtol(line + n, NULL, 10);
    if (f) fclose(f);
    return v;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: load_model proteus|naive MODEL\n");
        return 2;
    }
    const char *mode = argv[1], *path = argv[2];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        perror(path);
        return 1;
    }
    long long bytes = sb.st_size;
    char data_path[4096];
    snprintf(data_path, sizeof data_path, "%s.data", path);
    if (stat(data_path, &sb) == 0) bytes += sb.st_size;
    long before = rss_kb("VmRSS:");
    double t0 = now_ms();
    int nodes = 0;
    if (!strcmp(mode, "proteus")) {
        px_graph g;
        px_graph_init(&g);
        if (px_onnx_load(path, &g)) {
            fprintf(stderr, "%s\n", px_last_error());
            return 1;
        }
        nodes = g.n_nodes;
        px_graph_free(&g);
    } else {
        char *buf;
        size_t len;
        if (px_read_file(path, &buf, &len)) {
            fprintf(stderr, "%s\n", px_last_error());
            return 1;
        }
        Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, (uint8_t *)buf);
        if (!m) {
            fprintf(stderr, "unpack failed\n");
            return 1;
        }
        nodes = m->graph ? (int)m->graph->n_node : 0;
        /* external data, read whole as a naive loader would */
        char *ext = NULL;
        size_t ext_len = 0;
        if (access(data_path, R_OK) == 0 && px_read_file(data_path, &ext, &ext_len)) {
            fprintf(stderr, "%s\n", px_last_error());
            return 1;
        }
        /* the naive loader keeps the buffer until it is done with the message */
        free(ext);
        onnx__model_proto__free_unpacked(m, NULL);
        free(buf);
    }
    double ms = now_ms() - t0;
    long peak = rss_kb("VmHWM:");
    printf("{\"mode\":\"%s\",\"file_bytes\":%lld,\"nodes\":%d,\"load_ms\":%.1f,\"peak_growth_bytes\":%lld}\n", mode,
           bytes, nodes, ms, (long long)(peak - before) * 1024);
    return 0;
}
