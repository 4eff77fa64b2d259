#include "util/json.h"

#include <math.h>
#include <string.h>

void px_json_init(px_json *j, FILE *f, int pretty)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    j->pretty = pretty;
    j->first[0] = 1;
}

static void indent(px_json *j)
{
    if (!j->pretty) return;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
}

/* Separator before a value or key at the current depth. */
static void before_item(px_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0) {
        if (!j->first[j->depth]) fputc(',', j->f);
        indent(j);
    }
    j->first[j->depth] = 0;
}

static void open_(px_json *j, char c)
{
    before_item(j);
    fputc(c, j->f);
    if (j->depth < 63) j->depth++;
    j->first[j->depth] = 1;
}

static void close_(px_json *j, char c)
{
    int empty = j->first[j->depth];
    if (j->depth > 0) j->depth--;
    if (!empty) indent(j);
    fputc(c, j->f);
}

void px_json_obj_begin(px_json *j) { open_(j, '{'); }
void px_json_obj_end(px_json *j) { close_(j, '}'); }
void px_json_arr_begin(px_json *j) { open_(j, '['); }
void px_json_arr_end(px_json *j) { close_(j, ']'); }

void px_json_strn(px_json *j, const char *s, size_t n)
{
    before_item(j);
    fputc('"', j->f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", j->f); break;
        case '\\': fputs("\\\\", j->f); break;
        case '\n': fputs("\\n", j->f); break;
        case '\r': fputs("\\r", j->f); break;
        case '\t': fputs("\\t", j->f); break;
        default:
            if (c < 0x20 || c == 0x7f) fprintf(j->f, "\\u%04x", c);
            else fputc(c, j->f);
        }
    }
    fputc('"', j->f);
}

void px_json_str(px_json *j, const char *s) { px_json_strn(j, s ? s : "", s ? strlen(s) : 0); }

void px_json_key(px_json *j, const char *key)
{
    px_json_str(j, key);
    fputs(j->pretty ? ": " : ":", j->f);
    j->after_key = 1;
}

void px_json_int(px_json *j, int64_t v)
{
    before_item(j);
    fprintf(j->f, "%lld", (long long)v);
}

void px_json_double(px_json *j, double v)
{
    before_item(j);
    if (isfinite(v)) fprintf(j->f, "%.17g", v);
    else fputs("null", j->f);
}

void px_json_bool(px_json *j, int v)
{
    before_item(j);
    fputs(v ? "true" : "false", j->f);
}

void px_json_null(px_json *j)
{
    before_item(j);
    fputs("null", j->f);
}

void px_json_end(px_json *j) { fputc('\n', j->f); }
