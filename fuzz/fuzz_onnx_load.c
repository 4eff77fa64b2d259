/* libFuzzer harness: the ONNX loader (wire walker, protobuf-c unpack, IR
 * build, validation, load limits), then shape inference with inspect's
 * parameter and multiply-accumulate counts on top, and a save of what
 * loaded. */
#include <stdint.h>
#include <stdlib.h>

#include "onnx/onnx_io.h"
#include "shape/shape_infer.h"
#include "tools/inspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    px_graph g;
    px_graph_init(&g);
    if (px_onnx_load_buffer(data, size, NULL, "fuzz", &g) == PX_OK) {
        px_inspect r;
        px_inspect_run(&g, &r); /* runs px_shape_infer */
        px_inspect_free(&r);
        uint8_t *buf;
        size_t len;
        if (px_onnx_save_buffer(&g, NULL, &buf, &len) == PX_OK) free(buf);
    }
    px_graph_free(&g);
    return 0;
}
