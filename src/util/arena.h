/* Bump allocator for the many small, graph-lifetime objects of the IR
 * (names, dims, attribute lists).  Freed all at once with the graph. */
#ifndef PX_ARENA_H
#define PX_ARENA_H

#include <stddef.h>

typedef struct px_arena_chunk px_arena_chunk;

typedef struct px_arena {
    px_arena_chunk *head;
    size_t used_total;  /* bytes handed out, for accounting */
} px_arena;

void px_arena_init(px_arena *a);
void px_arena_free(px_arena *a);

/* Returns zeroed memory aligned to 16 bytes, or NULL when out of memory. */
void *px_arena_alloc(px_arena *a, size_t size);
/* Overflow-checked n * size. */
void *px_arena_array(px_arena *a, size_t n, size_t size);
char *px_arena_strdup(px_arena *a, const char *s);
char *px_arena_strndup(px_arena *a, const char *s, size_t n);
void *px_arena_memdup(px_arena *a, const void *p, size_t n);

#endif
