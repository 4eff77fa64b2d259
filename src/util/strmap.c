#include "util/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static const char TOMBSTONE[1];

void px_strmap_init(px_strmap *m) { memset(m, 0, sizeof *m); }

void px_strmap_free(px_strmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int grow(px_strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    const char **nk = calloc(ncap, sizeof *nk);
    int *nv = calloc(ncap, sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return -1;
    }
    size_t count = 0;
    for (size_t i = 0; i < m->cap; i++) {
        const char *k = m->keys[i];
        if (!k || k == TOMBSTONE) continue;
        size_t j = hash_str(k) & (ncap - 1);
        while (nk[j]) j = (j + 1) & (ncap - 1);
        nk[j] = k;
        nv[j] = m->vals[i];
        count++;
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    m->count = count;
    return 0;
}

int px_strmap_put(px_strmap *m, const char *key, int val)
{
    if ((m->count + 1) * 4 >= m->cap * 3 && grow(m) != 0) return -1;
    size_t mask = m->cap - 1, j = hash_str(key) & mask, slot = SIZE_MAX;
    while (m->keys[j]) {
        if (m->keys[j] == TOMBSTONE) {
            if (slot == SIZE_MAX) slot = j;
        } else if (strcmp(m->keys[j], key) == 0) {
            m->vals[j] = val;
            return 0;
        }
        j = (j + 1) & mask;
    }
    if (slot == SIZE_MAX) {
        slot = j;
        m->count++;
    }
    m->keys[slot] = key;
    m->vals[slot] = val;
    return 0;
}

static size_t find(const px_strmap *m, const char *key)
{
    if (!m->cap) return SIZE_MAX;
    size_t mask = m->cap - 1, j = hash_str(key) & mask;
    while (m->keys[j]) {
        if (m->keys[j] != TOMBSTONE && strcmp(m->keys[j], key) == 0) return j;
        j = (j + 1) & mask;
    }
    return SIZE_MAX;
}

int px_strmap_get(const px_strmap *m, const char *key)
{
    size_t j = find(m, key);
    return j == SIZE_MAX ? -1 : m->vals[j];
}

void px_strmap_del(px_strmap *m, const char *key)
{
    size_t j = find(m, key);
    if (j != SIZE_MAX) m->keys[j] = TOMBSTONE;
}
