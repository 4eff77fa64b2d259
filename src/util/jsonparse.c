#include "util/jsonparse.h"
#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 64 };

typedef struct parser {
    px_arena *ar;
    const char *p, *start, *end;
    const char *what;
} parser;

static px_status perr(parser *P, const char *msg)
{
    return px_fail(PX_ERR_PARSE, "%s: invalid JSON at byte %ld: %s", P->what, (long)(P->p - P->start), msg);
}

static void skip_ws(parser *P)
{
    while (P->p < P->end && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r')) P->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static px_status parse_string(parser *P, const char **out)
{
    P->p++; /* opening quote */
    const char *s = P->p;
    size_t cap = 0;
    while (s < P->end && *s != '"') {
        if (*s == '\\') s++;
        s++;
        cap++;
    }
    if (s >= P->end) return perr(P, "unterminated string");
    char *buf = px_arena_alloc(P->ar, cap * 4 + 1);
    if (!buf) return px_nomem();
    size_t n = 0;
    while (*P->p != '"') {
        unsigned char c = (unsigned char)*P->p++;
        if (c < 0x20) return perr(P, "control character in string");
        if (c != '\\') {
            buf[n++] = (char)c;
            continue;
        }
        c = (unsigned char)*P->p++;
        switch (c) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            if (P->end - P->p < 4) return perr(P, "short \\u escape");
            unsigned cp = 0;
            for (int i = 0; i < 4; i++) {
                int h = hexval(P->p[i]);
                if (h < 0) return perr(P, "bad \\u escape");
                cp = cp * 16 + (unsigned)h;
            }
            P->p += 4;
            if (cp == 0) return perr(P, "NUL in string");
            if (cp >= 0xd800 && cp <= 0xdfff) return perr(P, "surrogate escapes are not supported");
            if (cp < 0x80) buf[n++] = (char)cp;
            else if (cp < 0x800) {
                buf[n++] = (char)(0xc0 | (cp >> 6));
                buf[n++] = (char)(0x80 | (cp & 0x3f));
            } else {
                buf[n++] = (char)(0xe0 | (cp >> 12));
                buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                buf[n++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default: return perr(P, "bad escape");
        }
    }
    P->p++; /* closing quote */
    buf[n] = '\0';
    *out = buf;
    return PX_OK;
}

static px_status parse_value(parser *P, int depth, px_jval **out);

static px_status parse_container(parser *P, int depth, int is_obj, px_jval *v)
{
    P->p++;
    size_t cap = 8;
    px_jval **items = malloc(cap * sizeof *items);
    const char **keys = is_obj ? malloc(cap * sizeof *keys) : NULL;
    px_status st = PX_OK;
    if (!items || (is_obj && !keys)) {
        st = px_nomem();
        goto out;
    }
    skip_ws(P);
    if (P->p < P->end && *P->p == (is_obj ? '}' : ']')) {
        P->p++;
        goto done;
    }
    for (;;) {
        if (v->n == cap) {
            cap *= 2;
            px_jval **ni = realloc(items, cap * sizeof *ni);
            if (!ni) { st = px_nomem(); goto out; }
            items = ni;
            if (is_obj) {
                const char **nk = realloc(keys, cap * sizeof *nk);
                if (!nk) { st = px_nomem(); goto out; }
                keys = nk;
            }
        }
        skip_ws(P);
        if (is_obj) {
            if (P->p >= P->end || *P->p != '"') { st = perr(P, "expected a key"); goto out; }
            if ((st = parse_string(P, &keys[v->n]))) goto out;
            skip_ws(P);
            if (P->p >= P->end || *P->p != ':') { st = perr(P, "expected ':'"); goto out; }
            P->p++;
        }
        if ((st = parse_value(P, depth + 1, &items[v->n]))) goto out;
        v->n++;
        skip_ws(P);
        if (P->p < P->end && *P->p == ',') { P->p++; continue; }
        if (P->p < P->end && *P->p == (is_obj ? '}' : ']')) { P->p++; break; }
        st = perr(P, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        goto out;
    }
done:
    v->items = px_arena_array(P->ar, v->n + 1, sizeof *v->items);
    if (!v->items) { st = px_nomem(); goto out; }
    if (v->n) memcpy(v->items, items, v->n * sizeof *items);
    if (is_obj) {
        v->keys = px_arena_array(P->ar, v->n + 1, sizeof *v->keys);
        if (!v->keys) { st = px_nomem(); goto out; }
        if (v->n) memcpy(v->keys, keys, v->n * sizeof *keys);
    }
out:
    free(items);
    free(keys);
    return st;
}

static px_status parse_value(parser *P, int depth, px_jval **out)
{
    if (depth > MAX_DEPTH) return perr(P, "nested too deeply");
    skip_ws(P);
    if (P->p >= P->end) return perr(P, "unexpected end");
    px_jval *v = px_arena_alloc(P->ar, sizeof *v);
    if (!v) return px_nomem();
    *out = v;
    char c = *P->p;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? PX_J_OBJ : PX_J_ARR;
        return parse_container(P, depth, c == '{', v);
    }
    if (c == '"') {
        v->type = PX_J_STR;
        return parse_string(P, &v->s);
    }
    if (P->end - P->p >= 4 && !memcmp(P->p, "true", 4)) { v->type = PX_J_BOOL; v->b = 1; P->p += 4; return PX_OK; }
    if (P->end - P->p >= 5 && !memcmp(P->p, "false", 5)) { v->type = PX_J_BOOL; P->p += 5; return PX_OK; }
    if (P->end - P->p >= 4 && !memcmp(P->p, "null", 4)) { v->type = PX_J_NULL; P->p += 4; return PX_OK; }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char buf[64];
        size_t n = 0;
        while (P->p + n < P->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", P->p[n])) n++;
        memcpy(buf, P->p, n);
        buf[n] = '\0';
        char *e;
        v->num = strtod(buf, &e);
        if (e != buf + n || n == 0 || !isfinite(v->num)) return perr(P, "bad number");
        v->type = PX_J_NUM;
        if (!strpbrk(buf, ".eE")) {
            char *e2;
            long long ll = strtoll(buf, &e2, 10);
            if (e2 == buf + n) { v->i = ll; v->is_int = 1; }
        }
        P->p += n;
        return PX_OK;
    }
    return perr(P, "unexpected character");
}

px_status px_json_parse(px_arena *arena, const char *text, size_t len, const char *what, px_jval **out)
{
    parser P = {arena, text, text, text + len, what ? what : "<json>"};
    *out = NULL;
    px_status st = parse_value(&P, 0, out);
    if (st) return st;
    skip_ws(&P);
    if (P.p != P.end) return perr(&P, "trailing characters");
    return PX_OK;
}

const px_jval *px_json_get(const px_jval *obj, const char *key)
{
    if (!obj || obj->type != PX_J_OBJ) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return obj->items[i];
    return NULL;
}

const char *px_json_get_str(const px_jval *obj, const char *key)
{
    const px_jval *v = px_json_get(obj, key);
    return v && v->type == PX_J_STR ? v->s : NULL;
}

int px_json_get_int(const px_jval *obj, const char *key, int64_t *out)
{
    const px_jval *v = px_json_get(obj, key);
    if (!v || v->type != PX_J_NUM || !v->is_int) return 0;
    *out = v->i;
    return 1;
}

const px_jval *px_json_get_arr(const px_jval *obj, const char *key)
{
    const px_jval *v = px_json_get(obj, key);
    return v && v->type == PX_J_ARR ? v : NULL;
}

void px_json_write_val(px_json *j, const px_jval *v)
{
    switch (v->type) {
    case PX_J_NULL: px_json_null(j); break;
    case PX_J_BOOL: px_json_bool(j, v->b); break;
    case PX_J_NUM:
        if (v->is_int) px_json_int(j, v->i);
        else px_json_double(j, v->num);
        break;
    case PX_J_STR: px_json_str(j, v->s); break;
    case PX_J_ARR:
        px_json_arr_begin(j);
        for (size_t i = 0; i < v->n; i++) px_json_write_val(j, v->items[i]);
        px_json_arr_end(j);
        break;
    case PX_J_OBJ:
        px_json_obj_begin(j);
        for (size_t i = 0; i < v->n; i++) {
            px_json_key(j, v->keys[i]);
            px_json_write_val(j, v->items[i]);
        }
        px_json_obj_end(j);
        break;
    }
}
