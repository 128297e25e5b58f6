/* http_metrics (ff_metrics_*): the coordinator's Prometheus metrics, served
 * as text (exposition format 0.0.4) at /metrics by http.c.
 *
 * Two sides, one mutex:
 *  - the event loop (server.c) reports every message it receives
 *    (ff_metrics_on_message: bytes, heartbeats, step progress, results),
 *    every connection the CURVE handshake refused, and, when a scrape asks
 *    for them (ff_metrics_counts_wanted), the coordinator's counts of jobs,
 *    chunks and workers by state and its counters (ff_metrics_set_counts);
 *  - an HTTP thread renders the text (ff_metrics_render): it asks the loop
 *    for fresh counts and waits for them up to a bound; when the loop does
 *    not answer in time the last counts are served, and
 *    framefarm_counts_age_seconds says how old they are.
 *
 * Metrics (all prefixed framefarm_): jobs, chunks, workers {state} (gauges);
 * chunk_render_seconds (histogram of TaskDone.render_s, what a worker took
 * for a chunk it finished); worker_steps_per_second {worker, name} (the
 * denoising rate of each worker's current task since its first step, 0
 * when idle); received_bytes_total, received_messages_total,
 * frame_bytes_received_total; chunks_dispatched_total,
 * chunks_completed_total, chunk_retries_total, jobs_finished_total {state};
 * refused_messages_total, refused_connections_total; http_requests_total
 * {code}. Counters count since the coordinator started.
 *
 * Bounded: at most FF_METRICS_MAX_WORKERS workers are tracked (others are
 * not listed); a worker not heard from for its expiry is dropped.
 *
 * Ownership: the caller creates and frees the object; it must outlive both
 * sides' use (stop the HTTP server before freeing it). */
#ifndef FF_HTTP_METRICS_H
#define FF_HTTP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator/store.h"
#include "core/ff_err.h"
#include "framefarm.pb-c.h"

#define FF_METRICS_MAX_WORKERS 4096

typedef struct ff_metrics ff_metrics;

/* What the loop knows and a scrape asks for. */
typedef struct {
    uint64_t jobs[FF_CS_COUNT];   /* by ff_cstate */
    uint64_t chunks[FF_CS_COUNT];
    uint64_t workers_idle, workers_busy, workers_cancelling;
    uint64_t workers_quarantined;
    uint64_t dispatched, completed, retries, refused_messages, jobs_done, jobs_failed;
} ff_metrics_counts;

/* worker_expiry_s: a tracked worker silent this long is dropped (the
 * coordinator's worker timeout). */
ff_status ff_metrics_create(double worker_expiry_s, ff_metrics **out, ff_err *err);
void ff_metrics_free(ff_metrics *m);

/* ---- the event loop ---- */
/* One received message of `bytes` bytes from rid; env is NULL when it was
 * refused before parsing. now: the loop's monotonic clock. */
void ff_metrics_on_message(ff_metrics *m, const void *rid, size_t rid_len, size_t bytes, const Ff__Envelope *env,
                           double now);
void ff_metrics_on_refused_connection(ff_metrics *m);
/* 1 when a scrape waits for ff_metrics_set_counts. */
int ff_metrics_counts_wanted(ff_metrics *m);
void ff_metrics_set_counts(ff_metrics *m, const ff_metrics_counts *k, double now);

/* ---- HTTP threads ---- */
void ff_metrics_on_http(ff_metrics *m, unsigned status);
/* The exposition text (*text malloc'd, owned by the caller). Waits up to
 * wait_s for the loop to publish fresh counts. now: the same clock as the
 * loop's. */
ff_status ff_metrics_render(ff_metrics *m, double wait_s, double now, char **text, size_t *len, ff_err *err);

#endif
