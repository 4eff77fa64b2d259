/* A small streaming JSON writer (output) — enough for reports and keys. */
#ifndef PX_JSON_H
#define PX_JSON_H

#include <stdint.h>
#include <stdio.h>

typedef struct px_json {
    FILE *f;
    int depth;
    int first[64];   /* per depth: no element written yet */
    int after_key;
    int pretty;
} px_json;

void px_json_init(px_json *j, FILE *f, int pretty);
void px_json_obj_begin(px_json *j);
void px_json_obj_end(px_json *j);
void px_json_arr_begin(px_json *j);
void px_json_arr_end(px_json *j);
void px_json_key(px_json *j, const char *key);
void px_json_str(px_json *j, const char *s);
void px_json_strn(px_json *j, const char *s, size_t n);
void px_json_int(px_json *j, int64_t v);
void px_json_double(px_json *j, double v);
void px_json_bool(px_json *j, int v);
void px_json_null(px_json *j);
/* Ends the document with a newline. */
void px_json_end(px_json *j);

#endif
