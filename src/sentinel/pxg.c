#include "sentinel/pxg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"
#include "util/pyenv.h"

enum { MAX_LINES = 100000, MAX_WORD = 128 };

typedef struct entry {
    char *key; /* the words before the count, single-spaced */
    double count;
} entry;

struct px_generator {
    entry *e;
    int n;
};

/* How many words (count included) each kind of line has. */
static const struct {
    const char *kind;
    int min_words, max_words;
} kinds[] = {
    {"size", 3, 3}, {"next", 4, 4}, {"operand", 3, 3}, {"join", 3, 4},
    {"const", 3, 4}, {"attr", 5, 5}, {"chan", 3, 3}, {"input", 4, 4}, {"cshape", 5, 5}, {"motif", 3, 3},
};

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->key, ((const entry *)b)->key);
}

void px_generator_free(px_generator *g)
{
    if (!g) return;
    for (int i = 0; i < g->n; i++) free(g->e[i].key);
    free(g->e);
    free(g);
}

static int word_ok(const char *w, size_t n)
{
    if (!n || n > MAX_WORD) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)w[i])) return 0;
    return 1;
}

/* One line: its words checked, key and count into e (input lines are kept
 * for the record but not indexed: *skip). */
static px_status parse_line(const char *s, size_t len, const char *name, int lineno, entry *e, int *skip)
{
    const char *w[8];
    size_t wl[8];
    int nw = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && s[i] == ' ') i++;
        if (i >= len) break;
        size_t j = i;
        while (j < len && s[j] != ' ') j++;
        if (nw == 8) return px_fail(PX_ERR_PARSE, "%s:%d: too many words", name, lineno);
        if (!word_ok(s + i, j - i)) return px_fail(PX_ERR_PARSE, "%s:%d: a word is empty, too long or not printable", name, lineno);
        w[nw] = s + i;
        wl[nw++] = j - i;
        i = j;
    }
    int k = -1;
    for (int i = 0; i < (int)(sizeof kinds / sizeof *kinds) && k < 0; i++)
        if (nw && strlen(kinds[i].kind) == wl[0] && !memcmp(kinds[i].kind, w[0], wl[0])) k = i;
    if (k < 0) return px_fail(PX_ERR_PARSE, "%s:%d: unknown line kind '%.*s'", name, lineno, nw ? (int)wl[0] : 0, nw ? w[0] : "");
    if (nw < kinds[k].min_words || nw > kinds[k].max_words)
        return px_fail(PX_ERR_PARSE, "%s:%d: a %s line has %d words, not %d", name, lineno, kinds[k].kind, nw,
                       kinds[k].min_words);
    *skip = !strcmp(kinds[k].kind, "input");
    if (*skip) return PX_OK;
    char num[MAX_WORD + 1], *end;
    memcpy(num, w[nw - 1], wl[nw - 1]);
    num[wl[nw - 1]] = 0;
    errno = 0;
    double c = strtod(num, &end);
    if (errno || *end || !(c >= 0) || c > 1e15) return px_fail(PX_ERR_PARSE, "%s:%d: bad count '%s'", name, lineno, num);
    size_t klen = (size_t)(w[nw - 2] + wl[nw - 2] - w[0]);
    char *key = malloc(klen + 1);
    if (!key) return px_nomem();
    size_t at = 0;
    for (int i = 0; i < nw - 1; i++) {
        if (i) key[at++] = ' ';
        memcpy(key + at, w[i], wl[i]);
        at += wl[i];
    }
    key[at] = 0;
    e->key = key;
    e->count = c;
    return PX_OK;
}

px_status px_generator_parse(const char *text, size_t len, const char *name, px_generator **out)
{
    *out = NULL;
    px_generator *g = calloc(1, sizeof *g);
    if (!g) return px_nomem();
    int cap = 0, lineno = 0, seen_header = 0;
    px_status st = PX_OK;
    for (size_t i = 0; i < len && !st;) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        const char *s = text + i;
        size_t n = j - i;
        i = j + 1;
        lineno++;
        if (lineno > MAX_LINES) {
            st = px_fail(PX_ERR_LIMIT, "%s: more than %d lines", name, MAX_LINES);
            break;
        }
        if (!seen_header) {
            char want[16];
            snprintf(want, sizeof want, "pxg %d", PX_PXG_VERSION);
            if (n != strlen(want) || memcmp(s, want, n))
                st = px_fail(PX_ERR_PARSE, "%s:1: not a proteus generator file of version %d (want '%s')", name,
                             PX_PXG_VERSION, want);
            seen_header = 1;
            continue;
        }
        if (!n || s[0] == '#') continue;
        if (g->n == cap) {
            cap = cap ? cap * 2 : 256;
            entry *e = realloc(g->e, (size_t)cap * sizeof *e);
            if (!e) {
                st = px_nomem();
                break;
            }
            g->e = e;
        }
        int skip = 0;
        entry e = {0};
        st = parse_line(s, n, name, lineno, &e, &skip);
        if (!st && !skip) g->e[g->n++] = e;
    }
    if (!st && !seen_header) st = px_fail(PX_ERR_PARSE, "%s: empty", name);
    if (!st && g->n) {
        qsort(g->e, (size_t)g->n, sizeof *g->e, cmp_entry);
        for (int i = 1; i < g->n && !st; i++)
            if (!strcmp(g->e[i - 1].key, g->e[i].key)) st = px_fail(PX_ERR_PARSE, "%s: '%s' twice", name, g->e[i].key);
    }
    if (st) {
        px_generator_free(g);
        return st;
    }
    *out = g;
    return PX_OK;
}

px_status px_generator_load(const char *path, px_generator **out)
{
    char *text;
    size_t len;
    *out = NULL;
    px_status st = px_read_file(path, &text, &len);
    if (st) return st;
    st = px_generator_parse(text, len, path, out);
    free(text);
    return st;
}

/* The first entry whose key is >= key. */
static int lower_bound(const px_generator *g, const char *key)
{
    int lo = 0, hi = g->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (strcmp(g->e[mid].key, key) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

double px_generator_count(const px_generator *g, const char *key)
{
    int i = lower_bound(g, key);
    return i < g->n && !strcmp(g->e[i].key, key) ? g->e[i].count : 0;
}

int px_generator_values(const px_generator *g, const char *prefix, const char **words, double *counts, int max)
{
    size_t pl = strlen(prefix);
    int n = 0;
    for (int i = lower_bound(g, prefix); i < g->n; i++) {
        const char *k = g->e[i].key;
        if (strncmp(k, prefix, pl)) break;
        if (k[pl] != ' ' || strchr(k + pl + 1, ' ')) continue; /* another key that starts the same, or deeper */
        if (n < max) {
            words[n] = k + pl + 1;
            counts[n] = g->e[i].count;
        }
        n++;
    }
    return n;
}

void px_generator_default_path(char *buf, size_t n)
{
    const char *env = getenv("PROTEUS_GENERATOR");
    const char *py = px_python_dir();
    buf[0] = 0;
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        return;
    }
    if (!py) return;
    /* <root>/python -> <root>/data/...; installed <pkg>/_py -> <pkg>/data/... */
    const char *slash = strrchr(py, '/');
    int dir_len = slash ? (int)(slash - py) : 0;
    snprintf(buf, n, "%.*s%sdata/generator/default.pxg", dir_len, py, slash ? "/" : "");
}
