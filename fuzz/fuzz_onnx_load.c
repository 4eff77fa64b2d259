/* libFuzzer harness: the ONNX loader (wire walker, protobuf-c unpack, IR
 * build, validation), then shape inference and a save of what loaded. */
#include <stdint.h>
#include <stdlib.h>

#include "onnx/onnx_io.h"
#include "shape/shape_infer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    px_graph g;
    px_graph_init(&g);
    if (px_onnx_load_buffer(data, size, NULL, "fuzz", &g) == PX_OK) {
        px_shape_infer(&g, NULL);
        uint8_t *buf;
        size_t len;
        if (px_onnx_save_buffer(&g, NULL, &buf, &len) == PX_OK) free(buf);
    }
    px_graph_free(&g);
    return 0;
}
