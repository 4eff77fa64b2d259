/* The learned sentinel generator's model file (.pxg): counts of how real
 * subgraphs are built, written by `proteus train-generator` (Python) and
 * read here so that obfuscation needs no Python.  Text, one count a line:
 *   pxg 1
 *   KIND KEY... COUNT      (KIND: size next operand join const attr chan input cshape;
 *                           join and const also by the op before: join PREV OP COUNT)
 * '#' starts a comment line.  The sampler asks for counts by key. */
#ifndef PX_PXG_H
#define PX_PXG_H

#include <stddef.h>

#include "util/error.h"

#define PX_PXG_VERSION 1

typedef struct px_generator px_generator;

/* Reads and checks FILE; every problem is "FILE:LINE: what". */
px_status px_generator_load(const char *path, px_generator **out);
px_status px_generator_parse(const char *text, size_t len, const char *name, px_generator **out);
void px_generator_free(px_generator *g);

/* The count on the line whose words before the count are key ("next Relu
 * Conv"); 0 when there is none. */
double px_generator_count(const px_generator *g, const char *key);

/* The lines that start with prefix and one more word ("attr Conv kernel"
 * -> the kernels): up to max of (that word, its count), in file order of
 * the sorted keys; returns how many there are in all. */
int px_generator_values(const px_generator *g, const char *prefix, const char **words, double *counts, int max);

/* The shipped model: PROTEUS_GENERATOR, else data/generator/default.pxg
 * beside the Python half (util/pyenv.h finds the tree or the package).
 * Writes "" when neither is known. */
void px_generator_default_path(char *buf, size_t n);

#endif
