/* bgwork (ff_bgwork_*, ff_bgtask_*): the coordinator's long work off its
 * event loop — writing a job's videos, checking a result file a worker left
 * in the shared folder — on one background thread, so that the loop keeps
 * answering (status within a second) however large a video is.
 *
 * A task is a function with its own inputs (copies: it never touches the
 * coordinator's state or the store), queued by the event loop and run in
 * order. While it runs, the event loop may read its progress (done/total)
 * and ask it to stop (cancel); the function polls the flag. A finished task
 * (run or dropped) comes back through ff_bgwork_poll with its status and
 * message; the event loop applies the result and frees it.
 *
 * Ownership: a submitted task belongs to bgwork until polled back; then to
 * the caller (ff_bgtask_free). ff_bgwork_stop cancels the running task,
 * drops the queued ones and frees everything not yet polled. */
#ifndef FF_BGWORK_H
#define FF_BGWORK_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/ff_err.h"

typedef struct ff_bgtask ff_bgtask;
typedef ff_status (*ff_bgtask_fn)(ff_bgtask *t, ff_err *err);

struct ff_bgtask {
    /* set by the submitter */
    int kind;                  /* the submitter's tag */
    uint64_t job, task;        /* what the result belongs to */
    uint32_t chunk;
    ff_bgtask_fn run;
    void *arg;                 /* the inputs, owned by the task */
    void (*free_arg)(void *arg);
    /* shared while it runs */
    atomic_int cancel;         /* set by the event loop: run() should stop */
    atomic_llong done, total;  /* progress set by run() */
    atomic_int started;        /* run() has begun */
    /* the result (valid once polled) */
    ff_status status;
    ff_err err;
    ff_bgtask *next;           /* bgwork's lists */
};

typedef struct ff_bgwork ff_bgwork;

ff_status ff_bgwork_start(ff_bgwork **out, ff_err *err);
/* Cancels the running task, drops the queued ones, joins the thread, frees
 * every task not polled back. */
void ff_bgwork_stop(ff_bgwork *w);

/* A zeroed task with run/arg set (NULL when out of memory; arg is then
 * freed with free_arg). */
ff_bgtask *ff_bgtask_new(int kind, ff_bgtask_fn run, void *arg, void (*free_arg)(void *));
void ff_bgtask_free(ff_bgtask *t);

/* Queues t (taking it). */
void ff_bgwork_submit(ff_bgwork *w, ff_bgtask *t);
/* A finished task, or NULL. */
ff_bgtask *ff_bgwork_poll(ff_bgwork *w);
/* Blocks until nothing is queued or running (finished tasks stay to be
 * polled). For tests and orderly shutdowns. */
void ff_bgwork_wait_idle(ff_bgwork *w);

#endif
