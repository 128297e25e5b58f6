/* coord (ff_coord_*): the coordinator's state machine — job intake,
 * chunking, scheduling, worker tracking, retries, assembly — without any
 * sockets. coordinator/server.c feeds it validated envelopes and a clock;
 * it answers through a send callback. Tests drive it directly with a fake
 * clock and fake workers.
 *
 * Scheduling: an idle worker gets the first queued chunk of the best job:
 * highest priority first, then the oldest (lowest id); within a job, chunks
 * in order. A job asking for device_budget bytes only goes to workers that
 * advertise at least that much device memory.
 *
 * Workers: registered (and re-registered after a coordinator restart) by
 * their heartbeats, whose worker_id must be their routing id. A worker
 * silent for worker_timeout_s is dead: its chunk goes back to the queue
 * (one failed attempt, with a line in the chunk's log). A chunk whose
 * attempts (worker deaths, timeouts, errors, invalid results) reach the
 * job's max_attempts fails, and its job fails with the chunk's log. A
 * worker that reports a task this coordinator did not give it (e.g. one
 * from before a restart) is told to cancel it and gets no new work until it
 * is idle.
 *
 * Results: frames are accepted only from the worker currently holding the
 * task, in order, at the job's size; they are checked (inflated) on
 * arrival and appended to the chunk's part file; "done" with the right
 * frame count makes the chunk done (store.h). With shared_dir, a worker may
 * instead write the chunk's frames file into that folder and send its name,
 * size and crc32 in "done": the file is copied into the chunk's part file
 * while its size and checksum are taken, both must match, and every record
 * must read back as exactly the chunk's frames at the job's size; then it is
 * used exactly like streamed frames (and removed from shared_dir). A missing,
 * short or corrupted file is a failed attempt: the chunk is queued again.
 * Without shared_dir such a "done" is refused the same way. When every
 * chunk of a job is done the job's videos are assembled (assemble.h) and
 * the job is done.
 *
 * When every chunk of a job is done the job's videos are written on the
 * background thread (bgwork.h; status shows "assembling" with frames
 * written); the event loop keeps serving meanwhile. Checking a result file
 * from shared_dir (copy, size, crc32, every record) is background work too:
 * the worker is free at once, the chunk stays running until the check ends.
 *
 * Bounded (every limit below refuses with its number and the option that
 * changes it):
 *  - submit: a spec that does not validate (ff_jobspec_check: items,
 *    prompt size and UTF-8, ...), more than max_job_chunks chunks, more
 *    than max_queued_chunks unfinished chunks over all jobs, an output the
 *    output roots refuse (outroot.h: outside the roots, a symlink, "..", no
 *    such folder, not writable, an unknown kind) — all refused at submit,
 *    before anything is stored or rendered;
 *  - replies: a job list is paged (FF_COORD_STATUS_JOBS_MAX per reply, each
 *    error cut to FF_COORD_LIST_ERROR_MAX bytes), one job's chunks and
 *    outputs are paged (FF_COORD_STATUS_CHUNKS_MAX, FF_COORD_STATUS_OUTPUTS_MAX),
 *    with counts by state; a job's error is at most FF_COORD_JOB_ERROR_MAX;
 *  - logs: a chunk keeps its last FF_STORE_CHUNK_LOG_MAX bytes, a job at
 *    most FF_COORD_JOB_LOG_MAX over all its chunks (then one line says the
 *    rest was dropped);
 *  - retention: at most keep_jobs finished (done, failed, cancelled) jobs
 *    are kept, and none finished more than keep_age_s ago (when set); older
 *    ones are forgotten with their rows and chunk files (never their videos);
 *  - dispatch: a task its worker never starts (it heartbeats idle, or says
 *    it is busy) is queued again; FF_COORD_MAX_UNSTARTED such dispatches in
 *    a row count as one failed attempt. A chunk that failed on a worker goes
 *    to another idle worker first;
 *  - no progress: a running chunk whose worker reports no progress (a step,
 *    a frame) for its job's chunk_timeout_s, or when that is 0 for
 *    max(progress_timeout_s, 10 x the longest gap between progress reports
 *    seen in that job), is taken back (one failed attempt; the worker is
 *    told to cancel). The coordinator cannot know a model's speed on a
 *    worker's device, so the default is measured: generous (10x) and never
 *    below progress_timeout_s (default 600 s, which covers loading a model).
 *
 * Items: each item's video is written (temporary name, fsync, rename:
 * assemble.h) as soon as every chunk of that item is done, while the job's
 * other chunks still render, and recorded in the store (outputs), so that
 * status lists only videos that exist and a restart never writes one
 * twice. A job is done when every item is written. Cancelling (or failing)
 * a job keeps its written videos, and items whose chunks were all done
 * are still written.
 *
 * Results kept by workers: a worker keeps its last finished result until
 * the coordinator acknowledges it (ResultAck) and says so in its
 * heartbeats (held_task). The chunks that were running when a coordinator
 * stopped wait (not dispatched) for worker_timeout_s after it starts again
 * (a worker still rendering one is not cancelled meanwhile); a worker that
 * keeps such a chunk's result (same task id, from the store) is asked to
 * send it again, and it is checked like any result. A worker that reports
 * idle without it ends the wait for its chunks at once. A kept result
 * nobody waits for is acknowledged (dropped).
 *
 * Retries: a failed attempt waits the job's retry_backoff_s, doubled per
 * attempt (at most FF_COORD_BACKOFF_MAX_S), before the chunk is tried
 * again, on another worker first. A worker on which quarantine_after
 * chunks failed in a row (any job; a chunk done resets the count) is
 * quarantined: it gets no work until an operator releases it (a workers
 * request with release). Quarantine lives in memory (worker ids are per
 * process).
 *
 * Operators (coord_control.c): retry (failed and cancelled chunks queued
 * again with their attempts reset; the job active again), priority, pause
 * (running chunks finish, nothing new is dispatched) and resume, logs (the
 * chunks' logs: the coordinator's lines and those the workers send with
 * their results, at most FF_COORD_LOGS_REPLY_MAX bytes per reply).
 *
 * Refused input (a message a coordinator never takes, a job spec that does
 * not validate, a result for someone else's task) is answered with an
 * ff.Error where a reply makes sense, logged, and changes no state. */
#ifndef FF_COORD_H
#define FF_COORD_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator/store.h"
#include "core/ff_err.h"
#include "core/ff_log.h"
#include "framefarm.pb-c.h"

typedef ff_status (*ff_coord_send_fn)(void *user, const void *rid, size_t rid_len, Ff__Envelope *env, ff_err *err);

#define FF_COORD_MAX_JOB_CHUNKS_DEFAULT ((size_t)100000)
#define FF_COORD_MAX_QUEUED_CHUNKS_DEFAULT ((size_t)1000000)
#define FF_COORD_KEEP_JOBS_DEFAULT ((size_t)1000)
#define FF_COORD_PROGRESS_TIMEOUT_DEFAULT 600.0
#define FF_COORD_MAX_UNSTARTED 3
#define FF_COORD_STATUS_JOBS_MAX 1000
#define FF_COORD_STATUS_CHUNKS_DEFAULT 100
#define FF_COORD_STATUS_CHUNKS_MAX 1000
#define FF_COORD_STATUS_OUTPUTS_MAX 1000
#define FF_COORD_LIST_ERROR_MAX 240
#define FF_COORD_JOB_ERROR_MAX 8192
#define FF_COORD_JOB_LOG_MAX ((size_t)1 << 20)
#define FF_COORD_LOGS_REPLY_MAX ((size_t)256 << 10)
#define FF_COORD_QUARANTINE_AFTER_DEFAULT 5
#define FF_COORD_BACKOFF_MAX_S 600.0

typedef struct {
    const char *state_dir;
    double worker_timeout_s;  /* no heartbeat for this long: dead (default 10) */
    int keep_chunks;          /* keep chunk frames files after assembly */
    const char *shared_dir;   /* results in files there are taken (see Results); NULL: refused */
    const char *const *output_roots; /* where videos may be written (outroot.h); none: <state_dir>/outputs */
    size_t n_output_roots;
    size_t max_job_chunks;    /* 0: FF_COORD_MAX_JOB_CHUNKS_DEFAULT */
    size_t max_queued_chunks; /* unfinished chunks over all jobs; 0: FF_COORD_MAX_QUEUED_CHUNKS_DEFAULT */
    size_t keep_jobs;         /* finished jobs kept; 0: FF_COORD_KEEP_JOBS_DEFAULT */
    double keep_age_s;        /* finished jobs are forgotten after this; 0: never */
    double progress_timeout_s; /* floor of the derived no-progress limit; 0: FF_COORD_PROGRESS_TIMEOUT_DEFAULT */
    int quarantine_after;     /* chunks failed in a row on one worker before it is quarantined;
                                 0: FF_COORD_QUARANTINE_AFTER_DEFAULT, < 0: never */
    int test_hold_assembly;   /* TEST MODE: assembly stops after its first frame until <state_dir>/test-release-assembly
                                 exists (tests watch status while a video is being written) */
    const ff_log *log;        /* may be NULL */
    ff_coord_send_fn send;
    void *user;
} ff_coord_opts;

typedef struct ff_coord ff_coord;

typedef struct {
    uint64_t dispatched, completed, requeued, refused, jobs_done, jobs_failed, jobs_forgotten;
    int workers, jobs_active;
} ff_coord_stats;

/* Opens the store, loads every job, queues again the chunks that were
 * running, and checks that finished chunks still have their frames;
 * resolves the output roots and starts the background thread. `now` is
 * the caller's clock (monotonic in the server, fake in tests); persisted
 * times are wall-clock, taken as the wall clock at open plus the time
 * since. */
ff_status ff_coord_open(const ff_coord_opts *o, double now, ff_coord **out, ff_err *err);
void ff_coord_close(ff_coord *c);

/* Wraps a batch of handle/tick calls in one store transaction. */
ff_status ff_coord_begin(ff_coord *c, ff_err *err);
ff_status ff_coord_commit(ff_coord *c, ff_err *err);

/* One validated envelope from peer rid. Returns an error only for the
 * coordinator's own failures (disk, memory); bad input is answered/logged. */
ff_status ff_coord_handle(ff_coord *c, const void *rid, size_t rid_len, const Ff__Envelope *env, double now, ff_err *err);
/* Counts a message refused before it reached ff_coord_handle. */
void ff_coord_note_refused(ff_coord *c);
/* Dead workers, chunk timeouts, background results, pending assemblies,
 * retention, dispatch. */
ff_status ff_coord_tick(ff_coord *c, double now, ff_err *err);
/* Starts the assemblies due, waits until the background work has finished
 * and applies its results (no dispatch, no timeouts). For tests that drive
 * the state machine. */
ff_status ff_coord_sync_background(ff_coord *c, double now, ff_err *err);

void ff_coord_get_stats(const ff_coord *c, ff_coord_stats *s);
typedef struct {
    uint64_t jobs[FF_CS_COUNT], chunks[FF_CS_COUNT]; /* by state */
    uint64_t workers_idle, workers_busy, workers_cancelling;
    uint64_t workers_quarantined; /* idle, and no work until released */
} ff_coord_counts;
/* Jobs, chunks and workers by state (one pass over all of them: for
 * metrics scrapes, not for every message). */
void ff_coord_get_counts(const ff_coord *c, ff_coord_counts *k);
/* A job's state (FF_ERR_NOT_FOUND when unknown); *error points into c. */
ff_status ff_coord_job_state(const ff_coord *c, uint64_t job, ff_cstate *state, const char **error, ff_err *err);

#endif
