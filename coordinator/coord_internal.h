/* coord_internal (coordinator-internal): the state coord*.c share — jobs,
 * their chunks, workers — and the helpers they call across files:
 *
 *   coord.c          open/close/load, message routing, ticks (dead workers,
 *                    no-progress timeouts, dispatch, background results,
 *                    retention), job and chunk transitions
 *   coord_submit.c   job intake: spec checks, limits, output roots
 *   coord_results.c  what workers report: progress, frames, done, failed,
 *                    shared-folder results (checked in the background)
 *   coord_status.c   replies: status (paged), workers, cancel
 *   coord_control.c  operators' verbs: retry, priority, pause/resume, logs,
 *                    releasing a quarantined worker
 *   coord_items.c    each item's video written as soon as its chunks are done
 *
 * Everything here runs on the event loop's thread; background tasks
 * (bgwork.h) get copies, never pointers into these structs. */
#ifndef FF_COORD_INTERNAL_H
#define FF_COORD_INTERNAL_H

#include <stdio.h>

#include "coordinator/bgwork.h"
#include "coordinator/coord.h"
#include "coordinator/outroot.h"
#include "proto/ff_wire.h"

typedef struct worker worker;

typedef struct {
    uint32_t idx, item;
    int lat_start, lat_count;
    ff_cstate state;
    int attempts, dispatches, completions;
    int unstarted;          /* dispatches in a row its workers never started */
    uint32_t avoid;         /* serial of the worker it last failed on (0: none): others first */
    char *log;              /* in-memory copy of the store's log */
    char last_worker[FF_WIRE_MAX_ID + 1]; /* the worker it was last sent to ("" : none) */
    uint64_t last_task;     /* its last dispatch's task id (stored: a worker's kept result is matched by it) */
    double started_w, finished_w; /* wall clock of its last dispatch / of its completion (0: not yet) */
    double hold_until;      /* queued but not dispatched before this (`now` clock): retry backoff, or
                               a result a worker kept across a restart is awaited */
    int orphan;             /* it was running when the coordinator stopped (its worker may keep the result) */
    /* while running */
    uint64_t task_id;
    worker *w;              /* NULL while a shared-folder result is checked */
    double started, last_progress;
    int began;              /* the worker said it holds the task (heartbeat, progress, frames) */
    int checking;           /* its shared-folder result is being checked in the background */
    int stage;
    int64_t done, total;
    int frames_recv;
    FILE *part;
    char *part_path;
} chunk;

typedef struct {
    uint64_t id;
    Ff__JobSpec *spec;
    ff_cstate state;
    double submitted, finished; /* wall clock (seconds since the epoch); finished 0 while active */
    double started;         /* wall clock of its first dispatch since the coordinator started (0: none) */
    char *error;
    chunk *chunks;
    uint32_t n_chunks, n_done, n_queued, scan_from;
    uint8_t *item_st;       /* per item: ITEM_PENDING, ITEM_DUE (all its chunks done), ITEM_WRITTEN */
    uint32_t n_items, n_due, n_written, due_from;
    uint32_t asm_item;      /* the item being written while assembly is set */
    int paused;             /* operator: nothing new is dispatched */
    ff_bgtask *assembly;    /* while an item's video is written (owned by bgwork until polled) */
    size_t log_bytes;       /* chunk log bytes kept for this job (FF_COORD_JOB_LOG_MAX) */
    double max_gap;         /* longest time between two progress reports of its chunks */
} job;

struct worker {
    char id[FF_WIRE_MAX_ID + 1];
    char name[257], backend[65];
    char *loaded_model;
    uint32_t serial;        /* registration number (chunk.avoid) */
    int64_t device_bytes;
    double last_seen, assigned_at;
    uint64_t task_id, draining, tasks_done;
    job *j;
    chunk *ch;
    int fails_in_row;       /* chunks failed on it in a row (any job) */
    int quarantined;        /* fails_in_row reached quarantine_after: no work until an operator releases it */
};

enum { ITEM_PENDING = 0, ITEM_DUE = 1, ITEM_WRITTEN = 2 };

struct ff_coord {
    ff_coord_opts o;
    ff_store *store;
    ff_outroot *roots;
    ff_bgwork *bg;
    job **jobs;             /* by id */
    size_t n_jobs, cap_jobs, n_finished;
    worker **workers;
    size_t n_workers, cap_workers;
    uint32_t next_serial;
    uint64_t next_seq;
    double wall0, mono0;    /* wall clock at open, and `now` then */
    int bg_checks;          /* shared-folder checks in flight */
    double orphan_until;    /* chunks that were running at the last stop wait until then for their workers */
    size_t n_orphans;       /* such chunks still waiting */
    ff_coord_stats st;
};

/* coord.c */
double coord_wall(const ff_coord *c, double now);
job *coord_find_job(const ff_coord *c, uint64_t id);
worker *coord_find_worker(const ff_coord *c, const void *rid, size_t len);
int coord_job_active(const job *j);
ff_status coord_add_job(ff_coord *c, job *j, ff_err *err);
void coord_job_free(job *j);
ff_status coord_send_error(ff_coord *c, const void *rid, size_t len, Ff__Error__Code code, uint64_t req, const char *fmt,
                           ...) __attribute__((format(printf, 6, 7)));
void coord_send_cancel(ff_coord *c, worker *w, uint64_t task);
ff_status coord_chunk_save(ff_coord *c, job *j, chunk *ch, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void coord_job_save(ff_coord *c, job *j, double now);
void coord_job_fail(ff_coord *c, job *j, double now, const char *why);
void coord_job_finish(ff_coord *c, job *j, ff_cstate to, double now);
/* A running chunk failed (worker death, timeout, error, invalid result): one attempt. */
void coord_chunk_attempt_failed(ff_coord *c, job *j, chunk *ch, double now, const char *why);
/* Back to the queue: a dispatch its worker never started (FF_COORD_MAX_UNSTARTED in a row: one attempt). */
void coord_chunk_unstarted(ff_coord *c, job *j, chunk *ch, double now, const char *why);
/* Unlinks the chunk from its worker, forgets the running state, discards a part file. */
void coord_chunk_detach(chunk *ch);
void coord_chunk_done(ff_coord *c, job *j, chunk *ch, double now);
/* Back to the queue (state, counts, scan position). */
void coord_chunk_queue(ff_coord *c, job *j, chunk *ch);
/* The job's best chunk for w: the first queued one not on hold, not (avoid) one that last failed on w. */
chunk *coord_pick_chunk(job *j, const worker *w, int avoid, double now);
/* Sends a ResultAck for task to w (resend: send the kept result again). */
void coord_send_ack(ff_coord *c, const worker *w, uint64_t task, int resend);
/* A chunk showed progress at now (its job's longest gap is updated). */
void coord_chunk_progress(job *j, chunk *ch, double now);
size_t coord_queued_chunks(const ff_coord *c);

/* coord_submit.c */
ff_status coord_on_submit(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err);

/* coord_results.c */
ff_status coord_on_frames(ff_coord *c, worker *w, const Ff__ResultFrames *f, double now, ff_err *err);
ff_status coord_on_done(ff_coord *c, worker *w, const Ff__TaskDone *d, double now, ff_err *err);
ff_status coord_on_failed(ff_coord *c, worker *w, const Ff__TaskFailed *f, double now);
void coord_on_progress(ff_coord *c, worker *w, const Ff__Progress *p, double now);
/* A finished shared-folder check (bgwork kind COORD_BG_SHARED). */
ff_status coord_shared_checked(ff_coord *c, ff_bgtask *t, double now, ff_err *err);
/* The worker's current chunk for task (NULL, with a debug line, when stale). */
chunk *coord_task_chunk(ff_coord *c, worker *w, uint64_t task, const char *what);

/* coord_items.c */
/* Sizes the per-item state of a job with n_chunks chunks (at load or submit). */
ff_status coord_items_init(job *j, ff_err *err);
/* A chunk of j is done: its item may now be due. */
void coord_items_chunk_done(job *j, const chunk *ch);
/* Starts writing the next due item of each job that has none in flight. */
void coord_items_start(ff_coord *c, double now);
/* A finished item write (bgwork kind COORD_BG_ASSEMBLE). */
void coord_items_finished(ff_coord *c, ff_bgtask *t, double now);
/* The output path of item i of j (templates expanded: outname.h). */
ff_status coord_item_output(const job *j, size_t i, char *buf, size_t n, ff_err *err);

/* coord_control.c */
ff_status coord_on_control(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err);
ff_status coord_on_logs(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err);
/* A worker's heartbeat says it keeps the result of task, or (busy_with) is
 * still rendering it (coord.h "Results kept by workers"). Returns 1 when a
 * chunk that was running before a restart waits for it. */
int coord_on_held(ff_coord *c, worker *w, uint64_t task, int busy_with, double now);
/* w heartbeats idle keeping `held` (0: nothing): chunks that ran on it before a
 * restart as another task are not awaited any longer. */
void coord_orphans_not_held(ff_coord *c, const worker *w, uint64_t held);
/* The wait after a restart is over: no chunk waits for a kept result any more. */
void coord_orphans_expire(ff_coord *c);

/* coord_status.c */
/* The job's status, for replies to verbs that change it. */
ff_status coord_reply_job(ff_coord *c, const void *rid, size_t len, uint64_t req, const job *j, double now, ff_err *err);
ff_status coord_on_status(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err);
ff_status coord_on_workers(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err);
ff_status coord_on_cancel(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err);

/* coord_i2v.c: successive windows of image-to-video items */
/* The window ch continues (the previous window of its item), NULL when none. */
const chunk *coord_chunk_after(const job *j, const chunk *ch);
/* ch may be dispatched: it continues no window, or that window is done. */
int coord_chunk_ready(const job *j, const chunk *ch);
/* j has a queued chunk that is ready (among the first 256 queued). */
int coord_job_has_ready(const job *j);
/* For a window that continues another: *copy = j's spec with the last
 * decoded frame of that window as its image (*pixels, owned by the caller,
 * holds the copy's pixels). Else *pixels = NULL and copy is untouched. */
ff_status coord_i2v_task_spec(ff_coord *c, const job *j, const chunk *ch, Ff__JobSpec *copy, uint8_t **pixels,
                              ff_err *err);

enum { COORD_BG_ASSEMBLE = 1, COORD_BG_SHARED = 2 };

#endif
