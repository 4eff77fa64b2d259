/* The owner's key: which bucket files are real, in which order, how their
 * interfaces connect, and the original model's names and interface.
 * Stored as JSON (format "proteus-key/1"). */
#ifndef PX_KEY_H
#define PX_KEY_H

#include <stdint.h>
#include <stdio.h>

#include "crypto/secret.h"
#include "ir/digest.h" /* px_graph_digest: the bucket writer keys its streams with it */
#include "ir/graph.h"
#include "util/arena.h"
#include "util/jsonparse.h"

/* The most sentinels per real subgraph a key or a command may ask for. */
#define PX_MAX_SENTINELS 1000

typedef struct px_key_tensor {
    const char *name;      /* original value name */
    px_dtype dtype;
    px_shape shape;
} px_key_tensor;

typedef struct px_key_part {
    const char *file;
    int n_inputs, n_outputs;
    px_key_tensor *inputs, *outputs;  /* by position in the file */
    const px_jval *probe;             /* functional fingerprint, or NULL */
    int n_sentinels;                  /* = k */
    const char **sentinels;           /* the files generated for this part */
    /* The real file as sent, bounding what may come back (0: not recorded,
     * an older key: no bound): its node count, its bytes (file and external
     * data) and the bytes its tensors declare. */
    int64_t sent_nodes, sent_bytes, sent_tensor_bytes;
} px_key_part;

typedef struct px_key {
    px_arena arena;
    int64_t ir_version;
    px_opset *opsets;
    int n_opsets;
    const char *producer_name, *producer_version, *graph_name;
    int n_inputs, n_outputs;
    px_key_tensor *inputs, *outputs;  /* the original model's interface */
    int n_parts;
    px_key_part *parts;               /* real subgraphs in model order */
    int n_files;
    const char **files;               /* every bucket file, sorted */
    int k;                            /* sentinels per real subgraph */
} px_key;

void px_key_init(px_key *k);
void px_key_free(px_key *k);
/* Writes the key as JSON to f (plain text: px_key_encode seals it). */
void px_key_write(const px_key *k, FILE *f);
/* The key file's bytes: the JSON sealed with the owner's secret
 * (src/crypto/secret.h: fresh random salt and nonce every time, so the key
 * file is not deterministic even when the bucket is). */
px_status px_key_encode(const px_key *k, const px_secret *secret, uint8_t **out, size_t *out_n);
/* `proteus key passwd`: re-seals the key file at path under new_secret
 * (opened with old_secret, checked to be a key), written atomically with the
 * old file's permissions; on any failure the file is left as it was. */
px_status px_key_passwd(const char *path, const px_secret *old_secret, const px_secret *new_secret);
/* Reads a sealed key file: refuses a wrong secret, a modified file and a
 * plain JSON key, naming path. */
px_status px_key_load(const char *path, const px_secret *secret, px_key *k);
/* Reads a plain JSON key (tests and tools that already hold the text). */
px_status px_key_read(const char *path, px_key *k);
/* The owner's summary (`proteus key show --json`): n, k, real (the real
 * files in model order), files (every bucket file), groups (each real file
 * with its sentinels) and the model's interface. */
void px_key_write_view(const px_key *k, FILE *f);
/* Parses key JSON text; path names it in messages. */
px_status px_key_parse(const char *path, const char *text, size_t len, px_key *k);

#endif
