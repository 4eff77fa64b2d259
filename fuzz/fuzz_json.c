/* libFuzzer harness: the JSON reader used for keys and manifests, and the
 * key reader behind it (what px_key_load parses once the file decrypts). */
#include <stdint.h>
#include <stdio.h>

#include "bucket/key.h"

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
    px_key k;
    px_key_init(&k);
    if (px_key_parse("fuzz", (const char *)data, size, &k) == PX_OK) {
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            px_key_write(&k, f);
            px_key_write_view(&k, f);
            fclose(f);
        }
    }
    px_key_free(&k);
    return 0;
}
