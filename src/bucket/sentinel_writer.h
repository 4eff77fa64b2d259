/* Writes a bucket's sentinel files, several at a time.
 *
 * Each sentinel is drawn from its own keyed streams (sentinel and track, by
 * part and index) and written to its own staging path, so the files do not
 * depend on which thread makes them or in what order: the bucket is
 * byte-identical with one thread or many.  The staging folder's creation
 * order is not the bucket's: bucket.c copies the files in name order. */
#ifndef PX_BUCKET_SENTINEL_WRITER_H
#define PX_BUCKET_SENTINEL_WRITER_H

#include "bucket/anonymize.h"
#include "bucket/track.h"
#include "crypto/secret.h"
#include "onnx/onnx_io.h"
#include "partition/partition.h"
#include "sentinel/sentinel.h"

typedef struct px_sentinel_batch {
    const px_graph *model;
    const px_partition *part;
    const px_sentinel_opts *sopts; /* its n_stand_in is not used: see below */
    const px_anon_header *hdr;
    const px_save_opts *save;
    const px_owner_keys *okeys;
    const px_track_donors *donors;
    /* per part, the part whose "sentinel" streams its sentinels' structures
     * are drawn from (the first part of the same skeleton); NULL: its own */
    const int *stream_part;
    int k;
    /* the files to write: file index idx (>= part->n_parts) is sentinel
     * (idx - n_parts) % k of part (idx - n_parts) / k, written to stage[idx] */
    const int *files;
    int n_files;
    char *const *stage;
    /* called in order of completion, one call at a time (may be NULL) */
    void (*progress)(void *ctx, int done);
    void *progress_ctx;
    /* how the model stores its float tensors (px_sentinel_storage): the
     * sentinels store theirs alike */
    int store_consts, store_inits;
} px_sentinel_batch;

/* Writes every file of b with up to `threads` threads (< 1: one per online
 * CPU, at most 8; PROTEUS_THREADS overrides); adds to *n_stand_in the
 * sentinels the random generator made in the learned one's stead.  Stops at
 * the first error (or Ctrl-C) and returns it; files already written are the
 * caller's to remove. */
px_status px_write_sentinels(const px_sentinel_batch *b, int threads, int *n_stand_in);

#endif
