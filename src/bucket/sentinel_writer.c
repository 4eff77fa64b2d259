/* Sentinel files written by a small pool of threads; see sentinel_writer.h. */
#include "bucket/sentinel_writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partition/extract.h"
#include "util/cancel.h"
#include "util/rng.h"

enum { MAX_THREADS = 8 };

/* Sentinel j of real part p (extracted as sub), anonymized like it, from its
 * own random streams so that one sentinel does not depend on another or on
 * the order files are written in; its weights follow the model's (track.h).
 * Its structure comes from the stream of part stream_part[p] (the first
 * part with p's skeleton), its weight values from p's own: where real
 * subgraphs repeat (skeleton.h), their sentinels repeat with them, one
 * structure per j, and their weights are as unrelated as the reals'. */
static px_status write_one(const px_sentinel_batch *b, px_sentinel_opts *sopts, const px_graph *sub, int p, int j,
                           const char *path)
{
    px_rng rng, wrng;
    int sp = b->stream_part ? b->stream_part[p] : p;
    px_rng_seed(&rng, px_owner_stream(b->okeys, "sentinel", (uint64_t)sp, (uint64_t)j));
    px_rng_seed(&wrng, px_owner_stream(b->okeys, "sentinel-weights", (uint64_t)p, (uint64_t)j));
    sopts->weight_rng = &wrng;
    px_graph sent, anon;
    px_status st = px_sentinel_generate(sopts, sub, &rng, &sent);
    sopts->weight_rng = NULL;

    if (st) return px_fail_prefix(st, "subgraph %d", p);
    if ((st = px_track_weights(&sent, b->donors, px_owner_stream(b->okeys, "track", (uint64_t)p, (uint64_t)j))) ||
        (st = px_sentinel_store_like(&sent, b->store_consts, b->store_inits, &rng))) {
        px_graph_free(&sent);
        return st;
    }
    st = px_anonymize_move(&sent, b->hdr, &anon);
    px_graph_free(&sent);
    if (st) return st;
    st = px_onnx_save(&anon, path, b->save);
    px_graph_free(&anon);
    return st;
}

typedef struct pool {
    const px_sentinel_batch *b;
    pthread_mutex_t mu;
    int next, done;
    px_status st;         /* the first error */
    char why[1024];       /* its message (errors are per thread) */
    int n_stand_in;
} pool;

/* Takes the next file to write; -1 when there is none or a worker failed. */
static int take(pool *P)
{
    pthread_mutex_lock(&P->mu);
    int r = !P->st && P->next < P->b->n_files ? P->next++ : -1;
    pthread_mutex_unlock(&P->mu);
    return r;
}

static void finish(pool *P, px_status st, int stand_in)
{
    pthread_mutex_lock(&P->mu);
    P->n_stand_in += stand_in;
    if (st && !P->st) {
        P->st = st;
        snprintf(P->why, sizeof P->why, "%s", px_last_error());
    }
    if (!st && P->b->progress) P->b->progress(P->b->progress_ctx, ++P->done);
    pthread_mutex_unlock(&P->mu);
}

static void *worker(void *arg)
{
    pool *P = arg;
    const px_sentinel_batch *b = P->b;
    int np = b->part->n_parts;
    for (int r; (r = take(P)) >= 0;) {
        int stand_in = 0;
        px_sentinel_opts sopts = *b->sopts;
        sopts.n_stand_in = &stand_in; /* counted here, summed under the lock */
        int idx = b->files[r], p = (idx - np) / b->k;
        px_graph sub;
        px_part_io io;
        px_status st = px_cancel_check();
        if (!st && !(st = px_extract_part(b->model, b->part, p, &sub, &io))) {
            st = write_one(b, &sopts, &sub, p, (idx - np) % b->k, b->stage[idx]);
            px_graph_free(&sub);
            px_part_io_free(&io);
        }
        finish(P, st, stand_in);
    }
    return NULL;
}

static int thread_count(int threads, int n_files)
{
    const char *env = getenv("PROTEUS_THREADS");
    if (env && *env) threads = atoi(env);
    if (threads < 1) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    return threads < n_files ? threads : n_files > 0 ? n_files : 1;
}

px_status px_write_sentinels(const px_sentinel_batch *b, int threads, int *n_stand_in)
{
    pool P;
    memset(&P, 0, sizeof P);
    P.b = b;
    if (pthread_mutex_init(&P.mu, NULL)) return px_fail(PX_ERR_NOMEM, "cannot create a lock");
    int n = thread_count(threads, b->n_files);
    pthread_t tid[MAX_THREADS];
    int started = 0;
    /* the calling thread is one of the workers */
    for (; started < n - 1; started++)
        if (pthread_create(&tid[started], NULL, worker, &P)) break; /* fewer threads: slower, same files */
    worker(&P);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&P.mu);
    *n_stand_in += P.n_stand_in;
    return P.st ? px_fail(P.st, "%s", P.why) : PX_OK;
}
