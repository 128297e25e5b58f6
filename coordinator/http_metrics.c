/* http_metrics: see http_metrics.h. */
#include "coordinator/http_metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/ff_wire.h"

/* Upper bounds of the render-time buckets, seconds (+Inf implied). */
static const double BUCKETS[] = {0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
#define N_BUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])

typedef struct {
    char id[FF_WIRE_MAX_ID + 1];
    char name[257];
    double last_seen;
    uint64_t task;          /* task of the steps below (0: idle) */
    int64_t first_done;     /* first denoising step reported for task, and when */
    double first_t;
    double rate;            /* steps per second of task */
} wstat;

struct ff_metrics {
    pthread_mutex_t mu;
    pthread_cond_t fresh;   /* signalled by ff_metrics_set_counts */
    double expiry_s;
    /* loop-side observations */
    uint64_t bytes, messages, frame_bytes, refused_connections;
    uint64_t buckets[N_BUCKETS + 1]; /* per bucket (not cumulative); last: above every bound */
    double render_sum;
    uint64_t render_count;
    wstat *workers;
    size_t n_workers;
    /* counts published on request */
    ff_metrics_counts counts;
    double counts_at;       /* loop clock; < 0: never */
    uint64_t counts_seq;
    int wanted;
    /* HTTP */
    uint64_t http[6];       /* by status class: [1] 1xx .. [5] 5xx; [0] anything else */
};

ff_status ff_metrics_create(double worker_expiry_s, ff_metrics **out, ff_err *err) {
    ff_metrics *m = calloc(1, sizeof *m);
    if (m) m->workers = calloc(FF_METRICS_MAX_WORKERS, sizeof *m->workers);
    if (!m || !m->workers) {
        if (m) free(m->workers);
        free(m);
        return ff_err_set(err, FF_ERR_NOMEM, "metrics: out of memory");
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->fresh, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&m->mu, NULL);
    m->expiry_s = worker_expiry_s > 0 ? worker_expiry_s : 10;
    m->counts_at = -1;
    *out = m;
    return FF_OK;
}

void ff_metrics_free(ff_metrics *m) {
    if (!m) return;
    pthread_cond_destroy(&m->fresh);
    pthread_mutex_destroy(&m->mu);
    free(m->workers);
    free(m);
}

/* ---- the event loop ---------------------------------------------------------- */

static void expire(ff_metrics *m, double now) {
    for (size_t i = 0; i < m->n_workers;) {
        if (now - m->workers[i].last_seen > m->expiry_s) m->workers[i] = m->workers[--m->n_workers];
        else i++;
    }
}

static wstat *find(ff_metrics *m, const void *rid, size_t len) {
    if (len > FF_WIRE_MAX_ID) return NULL;
    for (size_t i = 0; i < m->n_workers; i++)
        if (strlen(m->workers[i].id) == len && !memcmp(m->workers[i].id, rid, len)) return &m->workers[i];
    return NULL;
}

static void on_heartbeat(ff_metrics *m, const void *rid, size_t len, const Ff__Heartbeat *hb, double now) {
    /* the coordinator takes a heartbeat only from the worker it names */
    if (!hb->worker_id || strlen(hb->worker_id) != len || memcmp(hb->worker_id, rid, len)) return;
    wstat *w = find(m, rid, len);
    if (!w) {
        expire(m, now);
        if (m->n_workers == FF_METRICS_MAX_WORKERS) return;
        w = &m->workers[m->n_workers++];
        memset(w, 0, sizeof *w);
        memcpy(w->id, rid, len);
    }
    snprintf(w->name, sizeof w->name, "%s", hb->name ? hb->name : "");
    w->last_seen = now;
    uint64_t busy = hb->has_busy_task ? hb->busy_task : 0;
    if (!busy || busy != w->task) {
        w->task = busy;
        w->first_t = -1;
        w->rate = 0;
    }
}

static void on_progress(wstat *w, const Ff__Progress *p, double now) {
    if (p->task_id != w->task) { /* a new task (the heartbeat may not have said so yet) */
        w->task = p->task_id;
        w->first_t = -1;
        w->rate = 0;
    }
    if (p->stage != 1) return; /* 1: denoising steps */
    if (w->first_t < 0) {
        w->first_done = p->done;
        w->first_t = now;
    } else if (p->done > w->first_done && now > w->first_t) {
        w->rate = (double)(p->done - w->first_done) / (now - w->first_t);
    }
}

void ff_metrics_on_message(ff_metrics *m, const void *rid, size_t rid_len, size_t bytes, const Ff__Envelope *env,
                           double now) {
    pthread_mutex_lock(&m->mu);
    m->bytes += bytes;
    m->messages++;
    wstat *w = env ? find(m, rid, rid_len) : NULL;
    if (w) w->last_seen = now;
    if (env) switch (env->body_case) {
        case FF__ENVELOPE__BODY_HEARTBEAT: on_heartbeat(m, rid, rid_len, env->heartbeat, now); break;
        case FF__ENVELOPE__BODY_PROGRESS:
            if (w) on_progress(w, env->progress, now);
            break;
        case FF__ENVELOPE__BODY_FRAMES: m->frame_bytes += env->frames->rgb_zlib.len; break;
        case FF__ENVELOPE__BODY_DONE:
            if (w && w->task && env->done->task_id == w->task && isfinite(env->done->render_s) && env->done->render_s >= 0) {
                double s = env->done->render_s;
                size_t b = 0;
                while (b < N_BUCKETS && s > BUCKETS[b]) b++;
                m->buckets[b]++;
                m->render_sum += s;
                m->render_count++;
            }
            break;
        default: break;
        }
    pthread_mutex_unlock(&m->mu);
}

void ff_metrics_on_refused_connection(ff_metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->refused_connections++;
    pthread_mutex_unlock(&m->mu);
}

int ff_metrics_counts_wanted(ff_metrics *m) {
    pthread_mutex_lock(&m->mu);
    int w = m->wanted;
    pthread_mutex_unlock(&m->mu);
    return w;
}

void ff_metrics_set_counts(ff_metrics *m, const ff_metrics_counts *k, double now) {
    pthread_mutex_lock(&m->mu);
    m->counts = *k;
    m->counts_at = now;
    m->counts_seq++;
    m->wanted = 0;
    pthread_cond_broadcast(&m->fresh);
    pthread_mutex_unlock(&m->mu);
}

/* ---- HTTP threads --------------------------------------------------------------- */

void ff_metrics_on_http(ff_metrics *m, unsigned status) {
    pthread_mutex_lock(&m->mu);
    m->http[status >= 100 && status < 600 ? status / 100 : 0]++;
    pthread_mutex_unlock(&m->mu);
}

static void family(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP framefarm_%s %s\n# TYPE framefarm_%s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') fprintf(f, "\\%c", *s);
        else if (*s == '\n') fputs("\\n", f);
        else fputc(*s, f);
    }
}

static void by_state(FILE *f, const char *name, const uint64_t *v) {
    for (int s = 0; s < FF_CS_COUNT; s++)
        fprintf(f, "framefarm_%s{state=\"%s\"} %llu\n", name, ff_cstate_name((ff_cstate)s), (unsigned long long)v[s]);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v) {
    family(f, name, "counter", help);
    fprintf(f, "framefarm_%s %llu\n", name, (unsigned long long)v);
}

ff_status ff_metrics_render(ff_metrics *m, double wait_s, double now, char **text, size_t *len, ff_err *err) {
    *text = NULL;
    *len = 0;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return ff_err_set(err, FF_ERR_NOMEM, "metrics: %s", strerror(errno));
    pthread_mutex_lock(&m->mu);
    /* ask the loop for fresh counts and wait for them (bounded) */
    uint64_t seq = m->counts_seq;
    m->wanted = 1;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    double w = wait_s > 0 ? wait_s : 0;
    until.tv_sec += (time_t)w;
    until.tv_nsec += (long)((w - floor(w)) * 1e9);
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (m->counts_seq == seq)
        if (pthread_cond_timedwait(&m->fresh, &m->mu, &until) == ETIMEDOUT) break;
    const ff_metrics_counts *k = &m->counts;

    family(f, "jobs", "gauge", "Jobs the coordinator keeps, by state.");
    by_state(f, "jobs", k->jobs);
    family(f, "chunks", "gauge", "Chunks of the jobs the coordinator keeps, by state.");
    by_state(f, "chunks", k->chunks);
    family(f, "workers", "gauge", "Registered workers, by state.");
    fprintf(f, "framefarm_workers{state=\"idle\"} %llu\nframefarm_workers{state=\"busy\"} %llu\n"
               "framefarm_workers{state=\"cancelling\"} %llu\nframefarm_workers{state=\"quarantined\"} %llu\n",
            (unsigned long long)k->workers_idle, (unsigned long long)k->workers_busy,
            (unsigned long long)k->workers_cancelling, (unsigned long long)k->workers_quarantined);
    family(f, "counts_age_seconds", "gauge",
           "How old the jobs, chunks and workers counts are (the event loop publishes them when scraped).");
    fprintf(f, "framefarm_counts_age_seconds %.3f\n", m->counts_at < 0 ? -1.0 : now - m->counts_at);

    family(f, "chunk_render_seconds", "histogram", "Seconds a worker took to render a chunk it finished (its report).");
    uint64_t cum = 0;
    for (size_t b = 0; b < N_BUCKETS; b++) {
        cum += m->buckets[b];
        fprintf(f, "framefarm_chunk_render_seconds_bucket{le=\"%g\"} %llu\n", BUCKETS[b], (unsigned long long)cum);
    }
    cum += m->buckets[N_BUCKETS];
    fprintf(f, "framefarm_chunk_render_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    fprintf(f, "framefarm_chunk_render_seconds_sum %.6f\nframefarm_chunk_render_seconds_count %llu\n", m->render_sum,
            (unsigned long long)m->render_count);

    expire(m, now);
    family(f, "worker_steps_per_second", "gauge",
           "Denoising steps per second of each worker's current task since its first step (0 when idle).");
    for (size_t i = 0; i < m->n_workers; i++) {
        fprintf(f, "framefarm_worker_steps_per_second{worker=\"%s\",name=\"", m->workers[i].id);
        label_value(f, m->workers[i].name);
        fprintf(f, "\"} %.6g\n", m->workers[i].rate);
    }

    counter(f, "received_bytes_total", "Bytes of the messages the coordinator received (workers, clients, this HTTP server's queries).", m->bytes);
    counter(f, "received_messages_total", "Messages the coordinator received.", m->messages);
    counter(f, "frame_bytes_received_total", "Compressed frame bytes workers sent with their results.", m->frame_bytes);
    counter(f, "chunks_dispatched_total", "Chunk tasks sent to workers.", k->dispatched);
    counter(f, "chunks_completed_total", "Chunk results accepted.", k->completed);
    counter(f, "chunk_retries_total", "Chunks queued again (a failed attempt, a lost worker or task).", k->retries);
    family(f, "jobs_finished_total", "counter", "Jobs that ended, by outcome.");
    fprintf(f, "framefarm_jobs_finished_total{state=\"done\"} %llu\nframefarm_jobs_finished_total{state=\"failed\"} %llu\n",
            (unsigned long long)k->jobs_done, (unsigned long long)k->jobs_failed);
    counter(f, "refused_messages_total", "Messages refused (malformed, oversized, wrong version, not allowed).",
            k->refused_messages);
    counter(f, "refused_connections_total", "Connections refused during the CURVE handshake (missing, wrong or unlisted key).",
            m->refused_connections);
    family(f, "http_requests_total", "counter", "HTTP requests answered, by status class.");
    static const char *CLASS[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int c = 0; c < 6; c++)
        fprintf(f, "framefarm_http_requests_total{code=\"%s\"} %llu\n", CLASS[c], (unsigned long long)m->http[c]);
    pthread_mutex_unlock(&m->mu);
    if (fclose(f)) {
        free(buf);
        return ff_err_set(err, FF_ERR_NOMEM, "metrics: out of memory");
    }
    *text = buf;
    *len = n;
    return FF_OK;
}
