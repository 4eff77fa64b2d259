/* A small JSON reader for proteus's own files (key, manifest).  Bounded:
 * depth and size limits, every error reported with its byte offset. */
#ifndef PX_JSONPARSE_H
#define PX_JSONPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/error.h"

typedef enum px_jtype { PX_J_NULL, PX_J_BOOL, PX_J_NUM, PX_J_STR, PX_J_ARR, PX_J_OBJ } px_jtype;

typedef struct px_jval px_jval;
struct px_jval {
    px_jtype type;
    int b;
    double num;
    int64_t i;          /* num as an integer when it is one (is_int) */
    int is_int;
    const char *s;      /* STR: NUL-terminated (embedded NULs rejected) */
    size_t n;           /* ARR/OBJ: element count */
    px_jval **items;    /* ARR/OBJ values */
    const char **keys;  /* OBJ keys */
};

/* Parses text[0..len) into a tree allocated in arena.  what names the
 * source in error messages. */
px_status px_json_parse(px_arena *arena, const char *text, size_t len, const char *what, px_jval **out);

/* Lookups; NULL when absent or of another type. */
const px_jval *px_json_get(const px_jval *obj, const char *key);
const char *px_json_get_str(const px_jval *obj, const char *key);
/* Returns 1 and sets *v when key holds an integer. */
int px_json_get_int(const px_jval *obj, const char *key, int64_t *v);
const px_jval *px_json_get_arr(const px_jval *obj, const char *key);

/* Writes v through the JSON writer (numbers keep 17 significant digits). */
struct px_json;
void px_json_write_val(struct px_json *j, const px_jval *v);

#endif
