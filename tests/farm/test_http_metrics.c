/* coordinator/http_metrics: what the event loop reports becomes valid
 * Prometheus text with the right values — bytes and messages, the render
 * histogram (cumulative buckets, sum, count), steps per second per worker
 * (from step reports of its current task; 0 when idle; silent workers
 * dropped), counts published by the loop when a scrape asks (a thread
 * plays the loop), stale counts when nobody answers, escaped label values. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coordinator/http_metrics.h"
#include "tests/common/ff_test.h"
#include "tests/farm/prom_text.h"

static pt_doc g_doc; /* large: not on the stack */

static void heartbeat(ff_metrics *m, const char *id, const char *name, uint64_t busy, double now) {
    Ff__Heartbeat hb = FF__HEARTBEAT__INIT;
    hb.worker_id = (char *)id;
    hb.name = (char *)name;
    hb.has_busy_task = 1;
    hb.busy_task = busy;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    ff_metrics_on_message(m, id, strlen(id), 100, &env, now);
}

static void progress(ff_metrics *m, const char *id, uint64_t task, int stage, int64_t done, double now) {
    Ff__Progress p = FF__PROGRESS__INIT;
    p.has_task_id = p.has_stage = p.has_done = p.has_total = 1;
    p.task_id = task;
    p.stage = stage;
    p.done = done;
    p.total = 10;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_PROGRESS;
    env.progress = &p;
    ff_metrics_on_message(m, id, strlen(id), 10, &env, now);
}

static void done(ff_metrics *m, const char *id, uint64_t task, double render_s, double now) {
    Ff__TaskDone d = FF__TASK_DONE__INIT;
    d.has_task_id = d.has_render_s = 1;
    d.task_id = task;
    d.render_s = render_s;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_DONE;
    env.done = &d;
    ff_metrics_on_message(m, id, strlen(id), 20, &env, now);
}

static int render(ff_metrics *m, double wait_s, double now) {
    char *text = NULL;
    size_t n = 0;
    ff_err err = {0};
    if (ff_metrics_render(m, wait_s, now, &text, &n, &err)) {
        fprintf(stderr, "render: %s\n", err.msg);
        return -1;
    }
    char why[256] = "";
    int r = pt_parse(text, &g_doc, why, sizeof why);
    if (r < 0) fprintf(stderr, "not Prometheus text: %s\n%s", why, text);
    free(text);
    return r;
}

static void test_observations(void) {
    ff_metrics *m = NULL;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_metrics_create(10, &m, &err), &err);
    /* nothing yet: valid, zeros, counts never published */
    FF_REQUIRE(render(m, 0, 0) > 0);
    FF_CHECK(pt_value(&g_doc, "framefarm_received_bytes_total", "") == 0);
    FF_CHECK(pt_value(&g_doc, "framefarm_counts_age_seconds", "") == -1);
    FF_CHECK(pt_value(&g_doc, "framefarm_chunk_render_seconds_count", "") == 0);
    FF_CHECK(pt_value(&g_doc, "framefarm_jobs", "state=queued") == 0);
    /* a worker renders task 7: steps 1..5 at one step per 0.5 s after its first */
    heartbeat(m, "w-a", "host:1/cpu \"x\"\\", 0, 100.0);
    heartbeat(m, "w-a", "host:1/cpu \"x\"\\", 7, 100.5);
    progress(m, "w-a", 7, 0, 1, 100.6); /* text encoding: not a step */
    for (int s = 1; s <= 5; s++) progress(m, "w-a", 7, 1, s, 101.0 + 0.5 * (s - 1));
    /* a message from a peer that never sent a heartbeat, and a refused one */
    progress(m, "w-x", 9, 1, 3, 101.0);
    ff_metrics_on_message(m, "junk", 4, 1000, NULL, 101.0);
    FF_REQUIRE(render(m, 0, 103.0) > 0);
    FF_CHECK(pt_value(&g_doc, "framefarm_received_bytes_total", "") == 100 + 100 + 10 + 50 + 10 + 1000);
    FF_CHECK(pt_value(&g_doc, "framefarm_received_messages_total", "") == 10);
    double r = pt_value(&g_doc, "framefarm_worker_steps_per_second", "worker=w-a,name=host:1/cpu \"x\"\\");
    FF_CHECK_MSG(fabs(r - 2.0) < 1e-9, "rate %g", r);
    FF_CHECK(pt_count(&g_doc, "framefarm_worker_steps_per_second") == 1); /* w-x is not a worker */
    /* the result: render time into the histogram; idle again: rate 0 */
    done(m, "w-a", 7, 2.0, 103.5);
    done(m, "w-a", 8, 99.0, 103.6); /* not its task: ignored */
    heartbeat(m, "w-a", "host:1/cpu", 0, 104.0);
    heartbeat(m, "w-b", "host:2/cpu", 0, 104.0);
    done(m, "w-b", 0, 4000.0, 104.1); /* task 0 == idle: not counted */
    FF_REQUIRE(render(m, 0, 104.5) > 0);
    FF_CHECK(pt_value(&g_doc, "framefarm_chunk_render_seconds_count", "") == 1);
    FF_CHECK(pt_value(&g_doc, "framefarm_chunk_render_seconds_sum", "") == 2.0);
    FF_CHECK(pt_value(&g_doc, "framefarm_chunk_render_seconds_bucket", "le=1") == 0);
    FF_CHECK(pt_value(&g_doc, "framefarm_chunk_render_seconds_bucket", "le=2.5") == 1);
    FF_CHECK(pt_value(&g_doc, "framefarm_chunk_render_seconds_bucket", "le=+Inf") == 1);
    FF_CHECK(pt_value(&g_doc, "framefarm_worker_steps_per_second", "worker=w-a,name=host:1/cpu") == 0);
    FF_CHECK(pt_count(&g_doc, "framefarm_worker_steps_per_second") == 2);
    /* w-b goes silent past the expiry: dropped; w-a keeps talking */
    heartbeat(m, "w-a", "host:1/cpu", 0, 112.0);
    FF_REQUIRE(render(m, 0, 115.0) > 0);
    FF_CHECK(pt_count(&g_doc, "framefarm_worker_steps_per_second") == 1);
    ff_metrics_on_refused_connection(m);
    ff_metrics_on_http(m, 200);
    ff_metrics_on_http(m, 403);
    ff_metrics_on_http(m, 404);
    FF_REQUIRE(render(m, 0, 115.0) > 0);
    FF_CHECK(pt_value(&g_doc, "framefarm_refused_connections_total", "") == 1);
    FF_CHECK(pt_value(&g_doc, "framefarm_http_requests_total", "code=4xx") == 2);
    FF_CHECK(pt_value(&g_doc, "framefarm_http_requests_total", "code=2xx") == 1);
    ff_metrics_free(m);
}

typedef struct {
    ff_metrics *m;
    int served;
} loop_arg;

/* Plays the event loop: publishes counts once a scrape asks for them. */
static void *fake_loop(void *p) {
    loop_arg *a = p;
    for (int i = 0; i < 20000 && !a->served; i++) {
        if (ff_metrics_counts_wanted(a->m)) {
            ff_metrics_counts k = {0};
            k.jobs[FF_CS_RUNNING] = 2;
            k.jobs[FF_CS_DONE] = 7;
            k.chunks[FF_CS_QUEUED] = 11;
            k.workers_busy = 3;
            k.completed = 42;
            k.retries = 5;
            k.refused_messages = 6;
            k.jobs_failed = 1;
            ff_metrics_set_counts(a->m, &k, 50.0);
            a->served = 1;
        }
        usleep(1000);
    }
    return NULL;
}

static void test_counts_from_the_loop(void) {
    ff_metrics *m = NULL;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_metrics_create(10, &m, &err), &err);
    FF_CHECK(!ff_metrics_counts_wanted(m));
    loop_arg a = {m, 0};
    pthread_t th;
    FF_REQUIRE(pthread_create(&th, NULL, fake_loop, &a) == 0);
    int r = render(m, 30.0, 50.25); /* waits for the loop (bounded) */
    pthread_join(th, NULL);
    FF_REQUIRE(r > 0);
    FF_CHECK(a.served);
    FF_CHECK(pt_value(&g_doc, "framefarm_jobs", "state=running") == 2);
    FF_CHECK(pt_value(&g_doc, "framefarm_jobs", "state=done") == 7);
    FF_CHECK(pt_value(&g_doc, "framefarm_chunks", "state=queued") == 11);
    FF_CHECK(pt_value(&g_doc, "framefarm_workers", "state=busy") == 3);
    FF_CHECK(pt_value(&g_doc, "framefarm_chunks_completed_total", "") == 42);
    FF_CHECK(pt_value(&g_doc, "framefarm_chunk_retries_total", "") == 5);
    FF_CHECK(pt_value(&g_doc, "framefarm_refused_messages_total", "") == 6);
    FF_CHECK(pt_value(&g_doc, "framefarm_jobs_finished_total", "state=failed") == 1);
    FF_CHECK(pt_value(&g_doc, "framefarm_counts_age_seconds", "") == 0.25);
    /* nobody answers now: the last counts, older, after the bounded wait */
    r = render(m, 0.05, 60.0);
    FF_REQUIRE(r > 0);
    FF_CHECK(pt_value(&g_doc, "framefarm_jobs", "state=done") == 7);
    FF_CHECK(pt_value(&g_doc, "framefarm_counts_age_seconds", "") == 10.0);
    FF_CHECK(ff_metrics_counts_wanted(m)); /* still asked for */
    ff_metrics_free(m);
}

int main(void) {
    FF_RUN(test_observations);
    FF_RUN(test_counts_from_the_loop);
    return ff_test_summary();
}
