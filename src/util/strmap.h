/* Open-addressing hash map from strings to int ids.  Keys are borrowed:
 * they must outlive the map (the IR keeps them in its arena). */
#ifndef PX_STRMAP_H
#define PX_STRMAP_H

#include <stddef.h>

typedef struct px_strmap {
    const char **keys;
    int *vals;
    size_t cap, count;
} px_strmap;

void px_strmap_init(px_strmap *m);
void px_strmap_free(px_strmap *m);
/* Returns 0 on success, -1 on out of memory.  Overwrites an existing key. */
int px_strmap_put(px_strmap *m, const char *key, int val);
/* Returns the value, or -1 when absent. */
int px_strmap_get(const px_strmap *m, const char *key);
/* Removes key if present. */
void px_strmap_del(px_strmap *m, const char *key);

#endif
