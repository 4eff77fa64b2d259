/* libFuzzer harness: the JSON reader used for keys and manifests. */
#include <stdint.h>
#include <stdio.h>

#include "util/arena.h"
#include "util/json.h"
#include "util/jsonparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    px_arena ar;
    px_arena_init(&ar);
    px_jval *v;
    if (px_json_parse(&ar, (const char *)data, size, "fuzz", &v) == PX_OK) {
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            px_json j;
            px_json_init(&j, f, 0);
            px_json_write_val(&j, v);
            fclose(f);
        }
    }
    px_arena_free(&ar);
    return 0;
}
