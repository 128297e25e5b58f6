/* worker_logtee (ff_logtee_*): the worker's log, also kept in memory, so
 * that the lines written while a task ran go to the coordinator with its
 * result (TaskDone.log, TaskFailed.log) and `framefarm logs JOB CHUNK`
 * shows them.
 *
 * The tee is an ff_log with the wrapped log's level and timestamps whose
 * sink writes each line to the wrapped sink and into a ring of the last
 * FF_LOGTEE_RING bytes. Bounded: a task sends at most the last `max` bytes
 * of its lines (whole lines). Thread-safe (both worker threads log). */
#ifndef FF_WORKER_LOGTEE_H
#define FF_WORKER_LOGTEE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_log.h"

#define FF_LOGTEE_RING ((size_t)64 << 10)

typedef struct ff_logtee ff_logtee;

/* log may be NULL (nothing is written through; lines are still kept). */
ff_status ff_logtee_create(const ff_log *log, ff_logtee **out, ff_err *err);
void ff_logtee_free(ff_logtee *t);
const ff_log *ff_logtee_log(const ff_logtee *t);
/* Bytes written so far (a task's start). */
uint64_t ff_logtee_mark(ff_logtee *t);
/* The lines written since mark, at most the last max bytes (from a line's
 * start); malloc'd, "" when none, NULL when out of memory. */
char *ff_logtee_since(ff_logtee *t, uint64_t mark, size_t max);

#endif
