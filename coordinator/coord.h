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

typedef struct {
    const char *state_dir;
    double worker_timeout_s;  /* no heartbeat for this long: dead (default 10) */
    int keep_chunks;          /* keep chunk frames files after assembly */
    const char *shared_dir;   /* results in files there are taken (see Results); NULL: refused */
    const ff_log *log;        /* may be NULL */
    ff_coord_send_fn send;
    void *user;
} ff_coord_opts;

typedef struct ff_coord ff_coord;

typedef struct {
    uint64_t dispatched, completed, requeued, refused, jobs_done, jobs_failed;
    int workers, jobs_active;
} ff_coord_stats;

/* Opens the store, loads every job, queues again the chunks that were
 * running, and checks that finished chunks still have their frames. */
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
/* Dead workers, chunk timeouts, pending assemblies, dispatch. */
ff_status ff_coord_tick(ff_coord *c, double now, ff_err *err);

void ff_coord_get_stats(const ff_coord *c, ff_coord_stats *s);
/* A job's state (FF_ERR_NOT_FOUND when unknown); *error points into c. */
ff_status ff_coord_job_state(const ff_coord *c, uint64_t job, ff_cstate *state, const char **error, ff_err *err);

#endif
