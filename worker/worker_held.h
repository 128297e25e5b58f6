/* worker_held (ff_held_*): the result a worker keeps until the coordinator
 * acknowledges it (coordinator/coord.h, "Results kept by workers").
 *
 * While a task renders, the packed messages that carry its result (frames,
 * then done) are copied here as they are sent; when the task is done they
 * become the kept result, replacing the previous one. A ResultAck for the
 * kept task drops it, or (resend) asks for the same messages again — after
 * a coordinator restart, which checks them like any result. A failed task
 * keeps nothing.
 *
 * Bounded: at most FF_HELD_MAX_BYTES of packed messages per task; a task
 * whose result is larger is not kept (a restart re-renders it), and the
 * render is never slowed or failed by this. */
#ifndef FF_WORKER_HELD_H
#define FF_WORKER_HELD_H

#include <stddef.h>
#include <stdint.h>

#define FF_HELD_MAX_BYTES ((size_t)256 << 20)

typedef struct {
    uint64_t task;          /* 0: nothing */
    uint8_t **msg;          /* packed envelopes, in sending order */
    size_t *len;
    size_t n, cap, bytes;
    int over;               /* went over FF_HELD_MAX_BYTES: not kept */
} ff_held_set;

typedef struct {
    ff_held_set cur;        /* the task rendering now */
    ff_held_set kept;       /* the last finished one, until acknowledged */
} ff_held;

void ff_held_init(ff_held *h);
void ff_held_free(ff_held *h);
/* A copy of one packed message of `task`'s result (a new task starts a new set). */
void ff_held_add(ff_held *h, uint64_t task, const void *msg, size_t len);
/* `task` is done (ok: its result is kept) or failed (ok == 0: dropped). */
void ff_held_finish(ff_held *h, uint64_t task, int ok);
/* The kept task (0: none). */
uint64_t ff_held_task(const ff_held *h);
/* Drops the kept result if it is task's. */
void ff_held_drop(ff_held *h, uint64_t task);

#endif
