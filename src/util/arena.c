#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct px_arena_chunk {
    px_arena_chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

enum { ARENA_CHUNK = 64 * 1024 };

void px_arena_init(px_arena *a) { a->head = NULL; a->used_total = 0; }

void px_arena_free(px_arena *a)
{
    px_arena_chunk *c = a->head;
    while (c) {
        px_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

void *px_arena_alloc(px_arena *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need < size) return NULL;
    if (need == 0) need = 16;
    px_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > ARENA_CHUNK / 4 ? need : ARENA_CHUNK;
        if (cap > SIZE_MAX - sizeof *c) return NULL;
        px_arena_chunk *n = malloc(sizeof *n + cap);
        if (!n) return NULL;
        n->cap = cap;
        n->used = 0;
        /* A big one-off block goes behind the head so the head's free space
         * stays usable for small allocations. */
        if (c && cap != ARENA_CHUNK) {
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->used_total += need;
    memset(p, 0, size);
    return p;
}

void *px_arena_array(px_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    return px_arena_alloc(a, n * size);
}

char *px_arena_strndup(px_arena *a, const char *s, size_t n)
{
    char *p = px_arena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n); /* s may be NULL when n is 0 (empty protobuf bytes) */
    p[n] = '\0';
    return p;
}

char *px_arena_strdup(px_arena *a, const char *s)
{
    return px_arena_strndup(a, s ? s : "", s ? strlen(s) : 0);
}

void *px_arena_memdup(px_arena *a, const void *p, size_t n)
{
    void *q = px_arena_alloc(a, n);
    if (q && n) memcpy(q, p, n);
    return q;
}
