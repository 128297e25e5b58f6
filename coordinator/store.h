/* store (ff_store_*): the coordinator's persistent state — jobs, their
 * chunks and each chunk's state and history — in SQLite (WAL), under the
 * coordinator's --state DIR:
 *
 *   DIR/state.db          jobs(id, spec, state, priority, submitted_at, finished_at, error, paused)
 *                         chunks(job_id, idx, item, lat_start, lat_count, state, attempts,
 *                                dispatches, completions, worker, log, task, started_at, finished_at)
 *                         outputs(job_id, item, written_at): the videos written so far
 *                         meta(key, value): schema version (2; a version-1 database is
 *                                migrated when opened, a newer one refused), boot counter
 *   DIR/chunks/J/C.frames the frames of finished chunk C of job J (ff_assemble format)
 *
 * A chunk is marked done only after its frames file is complete and renamed
 * into place, so a restarted coordinator never renders a finished chunk
 * again; chunks that were running are queued again (their workers' results
 * are not trusted across a restart). `dispatches` counts how often a chunk
 * was sent to a worker and `completions` how often a result was accepted:
 * tests read both back to prove a finished chunk was rendered once.
 *
 * Updates made between ff_store_begin and ff_store_commit are one
 * transaction (the coordinator commits once per batch of messages);
 * outside, each update commits by itself.
 *
 * Not here: scheduling decisions (coord.c), the frames files' contents
 * (assemble.c). */
#ifndef FF_STORE_H
#define FF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator/chunking.h"
#include "core/ff_err.h"
#include "framefarm.pb-c.h"

typedef enum { FF_CS_QUEUED = 0, FF_CS_RUNNING, FF_CS_DONE, FF_CS_FAILED, FF_CS_CANCELLED, FF_CS_COUNT } ff_cstate;

const char *ff_cstate_name(ff_cstate s); /* "queued", "running", ... */
int ff_cstate_parse(const char *s, ff_cstate *out);

typedef struct ff_store ff_store;

/* Creates DIR (and DIR/chunks) when missing, opens or creates state.db and
 * counts one more boot. */
ff_status ff_store_open(const char *dir, ff_store **out, ff_err *err);
void ff_store_close(ff_store *s);
const char *ff_store_dir(const ff_store *s);
uint64_t ff_store_boot(const ff_store *s); /* 1 on the first open of DIR */

ff_status ff_store_begin(ff_store *s, ff_err *err);
ff_status ff_store_commit(ff_store *s, ff_err *err);

/* Inserts the job (state queued) and its chunks (queued). */
ff_status ff_store_add_job(ff_store *s, const Ff__JobSpec *spec, double now, const ff_chunk_window *w, size_t n,
                           uint64_t *job_id, ff_err *err);
ff_status ff_store_job_state(ff_store *s, uint64_t job, ff_cstate state, const char *error, double now, ff_err *err);

typedef struct {
    ff_cstate state;
    int attempts, dispatches, completions;
    const char *worker;     /* the worker it was last sent to; may be NULL */
    uint64_t task;          /* its last dispatch's task id (0: none): a worker's kept result is matched by it */
    double started_at, finished_at; /* wall clock; 0: not yet */
} ff_store_chunk_row;
/* Writes the chunk's counters and state; log_append (may be NULL) is added
 * to its log (kept to the last FF_STORE_CHUNK_LOG_MAX bytes). */
#define FF_STORE_CHUNK_LOG_MAX 16384
ff_status ff_store_chunk_update(ff_store *s, uint64_t job, uint32_t idx, const ff_store_chunk_row *row,
                                const char *log_append, ff_err *err);

typedef struct {
    uint64_t id;
    const Ff__JobSpec *spec; /* valid during the callback */
    ff_cstate state;
    double submitted_at;
    double finished_at;      /* 0 when unfinished */
    const char *error;       /* may be NULL */
    const char *spec_error;  /* the spec unpacks but no longer passes ff_jobspec_check
                                (stored by an older version): why; else NULL */
    int paused;
    const uint32_t *written; /* items whose video was written, ascending */
    size_t n_written;
} ff_store_job_info;
typedef struct {
    uint64_t job;
    uint32_t idx, item;
    int lat_start, lat_count;
    ff_store_chunk_row row;
    const char *log;
} ff_store_chunk_info;
typedef ff_status (*ff_store_job_fn)(void *user, const ff_store_job_info *j, ff_err *err);
typedef ff_status (*ff_store_chunk_fn)(void *user, const ff_store_chunk_info *c, ff_err *err);
/* Every job in id order, each followed by its chunks in index order. */
ff_status ff_store_load(ff_store *s, ff_store_job_fn on_job, ff_store_chunk_fn on_chunk, void *user, ff_err *err);

/* Item `item` of the job has its video written. */
ff_status ff_store_output_written(ff_store *s, uint64_t job, uint32_t item, double now, ff_err *err);
ff_status ff_store_job_paused(ff_store *s, uint64_t job, int paused, ff_err *err);
/* Replaces the job's stored spec (an operator changed its priority). */
ff_status ff_store_job_spec(ff_store *s, uint64_t job, const Ff__JobSpec *spec, ff_err *err);

/* DIR/chunks/<job>/<idx><suffix> into buf (creating DIR/chunks/<job>). */
ff_status ff_store_chunk_path(const ff_store *s, uint64_t job, uint32_t idx, const char *suffix, char *buf, size_t n,
                              ff_err *err);
/* Removes DIR/chunks/<job> and what it holds. */
void ff_store_drop_chunk_files(const ff_store *s, uint64_t job);
/* Forgets a job: its rows (job and chunks) and its chunk files. */
ff_status ff_store_delete_job(ff_store *s, uint64_t job, ff_err *err);

#endif
