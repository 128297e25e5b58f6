/* coord: see coord.h. */
#include "coordinator/coord.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "coordinator/assemble.h"
#include "coordinator/chunking.h"
#include "proto/ff_frames.h"
#include "proto/ff_jobspec.h"
#include "proto/ff_wire.h"

#define LOG_CAP 65536

typedef struct worker worker;

typedef struct {
    uint32_t idx, item;
    int lat_start, lat_count;
    ff_cstate state;
    int attempts, dispatches, completions;
    char *log;             /* in-memory copy of the store's log */
    /* while running */
    uint64_t task_id;
    worker *w;
    double started;
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
    double submitted;
    char *error;
    chunk *chunks;
    uint32_t n_chunks, n_done, n_queued, scan_from;
    int needs_assembly;
} job;

struct worker {
    char id[FF_WIRE_MAX_ID + 1];
    char name[257], backend[65];
    char *loaded_model;
    int64_t device_bytes;
    double last_seen, assigned_at;
    uint64_t task_id, draining, tasks_done;
    job *j;
    chunk *ch;
};

struct ff_coord {
    ff_coord_opts o;
    ff_store *store;
    job **jobs;            /* by id */
    size_t n_jobs, cap_jobs;
    worker **workers;
    size_t n_workers, cap_workers;
    uint64_t next_seq;
    ff_coord_stats st;
};

/* ---- small helpers ---------------------------------------------------------- */

static void log_append(char **log, const char *line) {
    size_t have = *log ? strlen(*log) : 0, add = strlen(line);
    if (add > LOG_CAP) {
        line += add - LOG_CAP;
        add = LOG_CAP;
    }
    size_t keep = have + add > LOG_CAP ? LOG_CAP - add : have;
    char *n = malloc(keep + add + 1);
    if (!n) return; /* the store keeps the full log */
    if (keep) memcpy(n, *log + have - keep, keep);
    memcpy(n + keep, line, add + 1);
    free(*log);
    *log = n;
}

static ff_status chunk_save(ff_coord *c, job *j, chunk *ch, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static ff_status chunk_save(ff_coord *c, job *j, chunk *ch, const char *fmt, ...) {
    char line[2048];
    const char *app = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof line - 1, fmt, ap);
        va_end(ap);
        size_t n = strlen(line);
        line[n] = '\n';
        line[n + 1] = 0;
        log_append(&ch->log, line);
        app = line;
    }
    ff_store_chunk_row row = {ch->state, ch->attempts, ch->dispatches, ch->completions, ch->w ? ch->w->id : NULL};
    ff_err err;
    ff_status st = ff_store_chunk_update(c->store, j->id, ch->idx, &row, app, &err);
    if (st) FF_WARN(c->o.log, "%s", err.msg);
    return st;
}

static ff_status job_save(ff_coord *c, job *j, double now) {
    ff_err err;
    ff_status st = ff_store_job_state(c->store, j->id, j->state, j->error, now, &err);
    if (st) FF_WARN(c->o.log, "%s", err.msg);
    return st;
}

static job *find_job(const ff_coord *c, uint64_t id) {
    size_t lo = 0, hi = c->n_jobs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->jobs[mid]->id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->n_jobs && c->jobs[lo]->id == id ? c->jobs[lo] : NULL;
}

static worker *find_worker(const ff_coord *c, const void *rid, size_t len) {
    for (size_t i = 0; i < c->n_workers; i++)
        if (strlen(c->workers[i]->id) == len && !memcmp(c->workers[i]->id, rid, len)) return c->workers[i];
    return NULL;
}

static ff_status send_error(ff_coord *c, const void *rid, size_t len, Ff__Error__Code code, uint64_t req,
                            const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static ff_status send_error(ff_coord *c, const void *rid, size_t len, Ff__Error__Code code, uint64_t req,
                            const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    Ff__Error e = FF__ERROR__INIT;
    e.has_code = 1;
    e.code = code;
    e.message = msg;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.has_request_id = 1;
    env.request_id = req;
    env.body_case = FF__ENVELOPE__BODY_ERROR;
    env.error = &e;
    ff_err err;
    if (c->o.send(c->o.user, rid, len, &env, &err)) FF_DEBUG(c->o.log, "reply not sent: %s", err.msg);
    return FF_OK;
}

static void part_discard(chunk *ch) {
    if (ch->part) fclose(ch->part);
    ch->part = NULL;
    if (ch->part_path) unlink(ch->part_path);
    free(ch->part_path);
    ch->part_path = NULL;
    ch->frames_recv = 0;
}

static void detach(chunk *ch) {
    if (ch->w && ch->w->ch == ch) {
        ch->w->ch = NULL;
        ch->w->j = NULL;
        ch->w->task_id = 0;
    }
    ch->w = NULL;
    ch->task_id = 0;
    ch->stage = 0;
    ch->done = ch->total = 0;
    part_discard(ch);
}

static void send_cancel(ff_coord *c, worker *w, uint64_t task) {
    Ff__Cancel cn = FF__CANCEL__INIT;
    cn.has_task_id = 1;
    cn.task_id = task;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_CANCEL;
    env.cancel = &cn;
    ff_err err;
    if (c->o.send(c->o.user, w->id, strlen(w->id), &env, &err))
        FF_DEBUG(c->o.log, "cancel for worker %s not sent: %s", w->id, err.msg);
    w->draining = task;
}

/* ---- jobs ---------------------------------------------------------------------- */

static void job_free(job *j) {
    if (!j) return;
    for (uint32_t i = 0; i < j->n_chunks; i++) {
        part_discard(&j->chunks[i]);
        free(j->chunks[i].log);
    }
    free(j->chunks);
    ff_jobspec_free(j->spec);
    free(j->error);
    free(j);
}

static ff_status add_job(ff_coord *c, job *j, ff_err *err) {
    if (c->n_jobs == c->cap_jobs) {
        size_t cap = c->cap_jobs ? c->cap_jobs * 2 : 64;
        job **n = realloc(c->jobs, cap * sizeof *n);
        if (!n) return ff_err_set(err, FF_ERR_NOMEM, "coordinator: out of memory for jobs");
        c->jobs = n;
        c->cap_jobs = cap;
    }
    c->jobs[c->n_jobs++] = j; /* ids only grow */
    return FF_OK;
}

static int job_active(const job *j) { return j->state == FF_CS_QUEUED || j->state == FF_CS_RUNNING; }

/* Stops the job's running chunks (cancel to their workers) and marks its
 * unfinished chunks `to`. */
static void job_stop(ff_coord *c, job *j, ff_cstate to) {
    for (uint32_t i = 0; i < j->n_chunks; i++) {
        chunk *ch = &j->chunks[i];
        if (ch->state == FF_CS_RUNNING && ch->w) send_cancel(c, ch->w, ch->task_id);
        if (ch->state == FF_CS_RUNNING || ch->state == FF_CS_QUEUED) {
            if (ch->state == FF_CS_QUEUED) j->n_queued--;
            detach(ch);
            ch->state = to;
            chunk_save(c, j, ch, NULL);
        }
    }
}

static void job_fail(ff_coord *c, job *j, double now, const char *why) {
    free(j->error);
    j->error = strdup(why);
    j->state = FF_CS_FAILED;
    job_stop(c, j, FF_CS_CANCELLED);
    job_save(c, j, now);
    c->st.jobs_failed++;
    FF_WARN(c->o.log, "job %llu failed: %s", (unsigned long long)j->id, why);
}

static void job_assemble(ff_coord *c, job *j, double now) {
    j->needs_assembly = 0;
    size_t items = ff_jobspec_items(j->spec), per = j->n_chunks / items;
    ff_chunk_window *w = malloc(per * sizeof *w);
    char **paths = calloc(per, sizeof *paths);
    char out[4200], why[FF_ERR_MSG_MAX + 64] = "";
    ff_err err = {0};
    if (!w || !paths) snprintf(why, sizeof why, "assembling: out of memory");
    for (size_t i = 0; !why[0] && i < items; i++) {
        for (size_t k = 0; k < per; k++) {
            chunk *ch = &j->chunks[i * per + k];
            w[k].item = ch->item;
            w[k].lat_start = ch->lat_start;
            w[k].lat_count = ch->lat_count;
            char p[4200];
            free(paths[k]);
            paths[k] = NULL;
            if (ff_store_chunk_path(c->store, j->id, ch->idx, ".frames", p, sizeof p, &err) || !(paths[k] = strdup(p))) {
                snprintf(why, sizeof why, "assembling item %zu: %s", i, err.msg[0] ? err.msg : "out of memory");
                break;
            }
        }
        if (why[0]) break;
        if (ff_jobspec_item_output(j->spec, i, out, sizeof out, &err) ||
            ff_assemble_item(j->spec, w, (const char *const *)paths, per, out, &err)) {
            snprintf(why, sizeof why, "writing item %zu: %s", i, err.msg);
            break;
        }
        FF_INFO(c->o.log, "job %llu: wrote %s", (unsigned long long)j->id, out);
    }
    if (paths)
        for (size_t k = 0; k < per; k++) free(paths[k]);
    free(paths);
    free(w);
    if (why[0]) {
        job_fail(c, j, now, why);
        return;
    }
    j->state = FF_CS_DONE;
    job_save(c, j, now);
    c->st.jobs_done++;
    if (!c->o.keep_chunks) ff_store_drop_chunk_files(c->store, j->id);
    FF_INFO(c->o.log, "job %llu done (%u chunks)", (unsigned long long)j->id, j->n_chunks);
}

/* A running chunk lost its worker or its result: one failed attempt. */
static void chunk_attempt_failed(ff_coord *c, job *j, chunk *ch, double now, const char *why) {
    worker *w = ch->w;
    ch->attempts++;
    char line[1500];
    snprintf(line, sizeof line, "attempt %d on %s (%s): %.1100s", ch->attempts, w ? w->id : "?", w ? w->name : "?", why);
    FF_WARN(c->o.log, "job %llu chunk %u: %s", (unsigned long long)j->id, ch->idx, line);
    detach(ch);
    if (ch->attempts >= j->spec->max_attempts) {
        ch->state = FF_CS_FAILED;
        chunk_save(c, j, ch, "%s", line);
        char msg[LOG_CAP + 256];
        snprintf(msg, sizeof msg, "chunk %u (item %u, latent frames %d..%d) failed after %d attempts:\n%s", ch->idx,
                 ch->item, ch->lat_start, ch->lat_start + ch->lat_count - 1, ch->attempts, ch->log ? ch->log : "");
        job_fail(c, j, now, msg);
        return;
    }
    ch->state = FF_CS_QUEUED;
    j->n_queued++;
    if (ch->idx < j->scan_from) j->scan_from = ch->idx;
    c->st.requeued++;
    chunk_save(c, j, ch, "%s", line);
}

/* Back to the queue without counting an attempt (lost message, restart). */
static void chunk_requeue(ff_coord *c, job *j, chunk *ch, const char *why) {
    detach(ch);
    ch->state = FF_CS_QUEUED;
    j->n_queued++;
    if (ch->idx < j->scan_from) j->scan_from = ch->idx;
    c->st.requeued++;
    chunk_save(c, j, ch, "%s", why);
}

/* ---- workers ---------------------------------------------------------------------- */

static void worker_remove(ff_coord *c, size_t i, double now, const char *why) {
    worker *w = c->workers[i];
    FF_WARN(c->o.log, "worker %s (%s) %s", w->id, w->name, why);
    if (w->ch && w->j && w->ch->state == FF_CS_RUNNING) {
        char line[512];
        snprintf(line, sizeof line, "worker %s at %s %lld/%lld", why, w->ch->stage == 0 ? "text" : w->ch->stage == 1 ? "step" : "decode",
                 (long long)w->ch->done, (long long)w->ch->total);
        chunk_attempt_failed(c, w->j, w->ch, now, line);
    }
    free(w->loaded_model);
    free(w);
    c->workers[i] = c->workers[--c->n_workers];
}

/* ---- open / close -------------------------------------------------------------------- */

typedef struct {
    ff_coord *c;
    job *cur;
    double now;
} load_ctx;

static ff_status load_job(void *user, const ff_store_job_info *ji, ff_err *err) {
    load_ctx *lc = user;
    job *j = calloc(1, sizeof *j);
    if (!j) return ff_err_set(err, FF_ERR_NOMEM, "loading jobs: out of memory");
    ff_status st = ff_jobspec_clone(ji->spec, &j->spec, err);
    size_t n = st ? 0 : ff_chunk_count(j->spec);
    if (!st && !(j->chunks = calloc(n ? n : 1, sizeof *j->chunks))) st = ff_err_set(err, FF_ERR_NOMEM, "out of memory");
    if (!st && ji->error && !(j->error = strdup(ji->error))) st = ff_err_set(err, FF_ERR_NOMEM, "out of memory");
    if (!st) st = add_job(lc->c, j, err);
    if (st) {
        job_free(j);
        return st;
    }
    j->id = ji->id;
    j->state = ji->state;
    j->submitted = ji->submitted_at;
    j->n_chunks = (uint32_t)n;
    lc->cur = j;
    return FF_OK;
}

static ff_status load_chunk(void *user, const ff_store_chunk_info *ci, ff_err *err) {
    load_ctx *lc = user;
    job *j = lc->cur;
    if (!j || ci->job != j->id || ci->idx >= j->n_chunks)
        return ff_err_set(err, FF_ERR_FORMAT, "state.db: chunk %u of job %llu does not fit its job", ci->idx,
                          (unsigned long long)ci->job);
    chunk *ch = &j->chunks[ci->idx];
    ch->idx = ci->idx;
    ch->item = ci->item;
    ch->lat_start = ci->lat_start;
    ch->lat_count = ci->lat_count;
    ch->state = ci->row.state;
    ch->attempts = ci->row.attempts;
    ch->dispatches = ci->row.dispatches;
    ch->completions = ci->row.completions;
    if (ci->log && ci->log[0]) log_append(&ch->log, ci->log);
    ff_coord *c = lc->c;
    if (ch->state == FF_CS_RUNNING) {
        ch->state = FF_CS_QUEUED;
        chunk_save(c, j, ch, "coordinator restarted while this chunk was running on %s: queued again",
                   ci->row.worker ? ci->row.worker : "?");
    } else if (ch->state == FF_CS_DONE) {
        char p[4200];
        struct stat sb;
        if (ff_store_chunk_path(c->store, j->id, ch->idx, ".frames", p, sizeof p, err)) return FF_ERR_IO;
        if (job_active(j) && stat(p, &sb) != 0) {
            ch->state = FF_CS_QUEUED;
            chunk_save(c, j, ch, "frames file %s is missing after a restart: queued again", p);
        }
    }
    if (ch->state == FF_CS_QUEUED) j->n_queued++;
    if (ch->state == FF_CS_DONE) j->n_done++;
    return FF_OK;
}

ff_status ff_coord_open(const ff_coord_opts *o, double now, ff_coord **out, ff_err *err) {
    if (!o->send || !o->state_dir) return ff_err_set(err, FF_ERR_ARG, "coordinator: state_dir and send are required");
    ff_coord *c = calloc(1, sizeof *c);
    if (!c) return ff_err_set(err, FF_ERR_NOMEM, "coordinator: out of memory");
    c->o = *o;
    if (c->o.worker_timeout_s <= 0) c->o.worker_timeout_s = 10;
    ff_status st = ff_store_open(o->state_dir, &c->store, err);
    if (!st) c->next_seq = ff_store_boot(c->store) << 40;
    load_ctx lc = {c, NULL, now};
    if (!st) st = ff_store_begin(c->store, err);
    if (!st) st = ff_store_load(c->store, load_job, load_chunk, &lc, err);
    if (!st) st = ff_store_commit(c->store, err);
    if (st) {
        ff_coord_close(c);
        return st;
    }
    for (size_t i = 0; i < c->n_jobs; i++) {
        job *j = c->jobs[i];
        if (job_active(j) && j->n_done == j->n_chunks) j->needs_assembly = 1;
        if (job_active(j)) c->st.jobs_active++;
    }
    FF_INFO(c->o.log, "state %s: %zu jobs (%d active), boot %llu", o->state_dir, c->n_jobs, c->st.jobs_active,
            (unsigned long long)ff_store_boot(c->store));
    *out = c;
    return FF_OK;
}

void ff_coord_close(ff_coord *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_jobs; i++) job_free(c->jobs[i]);
    free(c->jobs);
    for (size_t i = 0; i < c->n_workers; i++) {
        free(c->workers[i]->loaded_model);
        free(c->workers[i]);
    }
    free(c->workers);
    ff_store_close(c->store);
    free(c);
}

ff_status ff_coord_begin(ff_coord *c, ff_err *err) { return ff_store_begin(c->store, err); }
ff_status ff_coord_commit(ff_coord *c, ff_err *err) { return ff_store_commit(c->store, err); }
void ff_coord_note_refused(ff_coord *c) { c->st.refused++; }

void ff_coord_get_stats(const ff_coord *c, ff_coord_stats *s) {
    *s = c->st;
    s->workers = (int)c->n_workers;
    s->jobs_active = 0;
    for (size_t i = 0; i < c->n_jobs; i++) s->jobs_active += job_active(c->jobs[i]);
}

ff_status ff_coord_job_state(const ff_coord *c, uint64_t id, ff_cstate *state, const char **error, ff_err *err) {
    job *j = find_job(c, id);
    if (!j) return ff_err_set(err, FF_ERR_NOT_FOUND, "no job %llu", (unsigned long long)id);
    *state = j->state;
    if (error) *error = j->error;
    return FF_OK;
}

/* ---- client requests ---------------------------------------------------------------------- */

static ff_status on_submit(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    Ff__JobSpec *spec = NULL;
    ff_err e2 = {0};
    uint64_t req = env->request_id;
    if (ff_jobspec_clone(env->submit->spec, &spec, &e2)) return ff_err_set(err, FF_ERR_NOMEM, "%s", e2.msg);
    if (ff_jobspec_normalize(spec, &e2)) {
        ff_jobspec_free(spec);
        FF_WARN(c->o.log, "refused a job: %s", e2.msg);
        c->st.refused++;
        return send_error(c, rid, len, FF__ERROR__CODE__INVALID, req, "%s", e2.msg);
    }
    if (spec->output[0] != '/' || spec->model[0] == 0) {
        ff_jobspec_free(spec);
        c->st.refused++;
        return send_error(c, rid, len, FF__ERROR__CODE__INVALID, req,
                          "job: 'output' must be an absolute path (framefarm submit makes it absolute)");
    }
    ff_chunk_window *w = NULL;
    size_t n = 0;
    ff_status st = ff_chunk_plan(spec, &w, &n, &e2);
    if (st) {
        ff_jobspec_free(spec);
        c->st.refused++;
        return send_error(c, rid, len, FF__ERROR__CODE__INVALID, req, "%s", e2.msg);
    }
    job *j = calloc(1, sizeof *j);
    chunk *chunks = calloc(n, sizeof *chunks);
    uint64_t id = 0;
    if (!j || !chunks) st = ff_err_set(err, FF_ERR_NOMEM, "coordinator: out of memory for a job of %zu chunks", n);
    if (!st) st = ff_store_add_job(c->store, spec, now, w, n, &id, err);
    if (!st) st = add_job(c, j, err);
    if (st) {
        free(w);
        free(chunks);
        free(j);
        ff_jobspec_free(spec);
        send_error(c, rid, len, FF__ERROR__CODE__UNKNOWN, req, "coordinator could not store the job: %s", err->msg);
        return st;
    }
    j->id = id;
    j->spec = spec;
    j->state = FF_CS_QUEUED;
    j->submitted = now;
    j->chunks = chunks;
    j->n_chunks = (uint32_t)n;
    j->n_queued = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        chunks[i].idx = (uint32_t)i;
        chunks[i].item = w[i].item;
        chunks[i].lat_start = w[i].lat_start;
        chunks[i].lat_count = w[i].lat_count;
        chunks[i].state = FF_CS_QUEUED;
    }
    free(w);
    FF_INFO(c->o.log, "job %llu: %zu items, %zu chunks, priority %d, %s", (unsigned long long)id,
            ff_jobspec_items(spec), n, spec->priority, spec->output);
    Ff__SubmitReply sr = FF__SUBMIT_REPLY__INIT;
    sr.has_job_id = sr.has_chunks = 1;
    sr.job_id = id;
    sr.chunks = (int32_t)n;
    Ff__Envelope out = FF__ENVELOPE__INIT;
    out.has_request_id = 1;
    out.request_id = req;
    out.body_case = FF__ENVELOPE__BODY_SUBMIT_REPLY;
    out.submit_reply = &sr;
    ff_err se;
    if (c->o.send(c->o.user, rid, len, &out, &se)) FF_DEBUG(c->o.log, "submit reply not sent: %s", se.msg);
    return FF_OK;
}

static double chunk_progress(const chunk *ch) {
    if (ch->state == FF_CS_DONE) return 1.0;
    if (ch->state != FF_CS_RUNNING || ch->total <= 0) return 0.0;
    double f = (double)ch->done / (double)ch->total;
    return ch->stage == 0 ? 0.02 * f : ch->stage == 1 ? 0.02 + 0.88 * f : 0.9 + 0.1 * f;
}

typedef struct {
    Ff__JobStatus *js;
    Ff__JobStatus **jsp;
    Ff__ChunkStatus *cs;
    Ff__ChunkStatus **csp;
    char **outputs;
    size_t n_out;
} status_mem;

static void fill_job_status(const job *j, Ff__JobStatus *s) {
    ff__job_status__init(s);
    s->has_job_id = s->has_priority = s->has_chunks_total = s->has_chunks_done = s->has_progress = 1;
    s->job_id = j->id;
    s->state = (char *)ff_cstate_name(j->state);
    s->name = j->spec->name;
    s->priority = j->spec->priority;
    s->chunks_total = (int32_t)j->n_chunks;
    s->chunks_done = (int32_t)j->n_done;
    s->error = j->error;
    double p = 0;
    for (uint32_t i = 0; i < j->n_chunks; i++) p += chunk_progress(&j->chunks[i]);
    s->progress = j->state == FF_CS_DONE ? 1.0 : j->n_chunks ? p / j->n_chunks : 0;
}

static ff_status on_status(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, ff_err *err) {
    uint64_t want = env->status->has_job_id ? env->status->job_id : 0;
    status_mem m = {0};
    size_t n = 0;
    ff_status st = FF_OK;
    if (want) {
        job *j = find_job(c, want);
        if (!j) return send_error(c, rid, len, FF__ERROR__CODE__NOT_FOUND, env->request_id, "no job %llu", (unsigned long long)want);
        n = 1;
        m.js = calloc(1, sizeof *m.js);
        m.jsp = calloc(1, sizeof *m.jsp);
        m.cs = calloc(j->n_chunks ? j->n_chunks : 1, sizeof *m.cs);
        m.csp = calloc(j->n_chunks ? j->n_chunks : 1, sizeof *m.csp);
        size_t items = ff_jobspec_items(j->spec);
        m.n_out = items < 1000 ? items : 1000;
        m.outputs = calloc(m.n_out, sizeof *m.outputs);
        if (!m.js || !m.jsp || !m.cs || !m.csp || !m.outputs) st = ff_err_set(err, FF_ERR_NOMEM, "status: out of memory");
        if (!st) {
            fill_job_status(j, m.js);
            m.jsp[0] = m.js;
            for (uint32_t i = 0; i < j->n_chunks; i++) {
                const chunk *ch = &j->chunks[i];
                Ff__ChunkStatus *cs = &m.cs[i];
                ff__chunk_status__init(cs);
                cs->has_chunk = cs->has_item = cs->has_attempts = cs->has_stage = cs->has_done = cs->has_total = 1;
                cs->has_lat_start = cs->has_lat_count = cs->has_dispatches = cs->has_completions = 1;
                cs->chunk = ch->idx;
                cs->item = ch->item;
                cs->state = (char *)ff_cstate_name(ch->state);
                cs->attempts = ch->attempts;
                cs->worker = ch->w ? ch->w->id : NULL;
                cs->stage = ch->stage;
                cs->done = ch->done;
                cs->total = ch->total;
                cs->lat_start = ch->lat_start;
                cs->lat_count = ch->lat_count;
                cs->dispatches = ch->dispatches;
                cs->completions = ch->completions;
                m.csp[i] = cs;
            }
            m.js->n_chunks = j->n_chunks;
            m.js->chunks = m.csp;
            for (size_t i = 0; i < m.n_out; i++) {
                char p[4200];
                ff_err e2;
                if (!ff_jobspec_item_output(j->spec, i, p, sizeof p, &e2)) m.outputs[i] = strdup(p);
                if (!m.outputs[i]) m.outputs[i] = strdup("?");
            }
            m.js->n_outputs = m.n_out;
            m.js->outputs = m.outputs;
        }
    } else {
        n = c->n_jobs;
        m.js = calloc(n ? n : 1, sizeof *m.js);
        m.jsp = calloc(n ? n : 1, sizeof *m.jsp);
        if (!m.js || !m.jsp) st = ff_err_set(err, FF_ERR_NOMEM, "status: out of memory");
        for (size_t i = 0; !st && i < n; i++) {
            fill_job_status(c->jobs[i], &m.js[i]);
            m.jsp[i] = &m.js[i];
        }
    }
    if (!st) {
        Ff__StatusReply sr = FF__STATUS_REPLY__INIT;
        sr.n_jobs = n;
        sr.jobs = m.jsp;
        Ff__Envelope out = FF__ENVELOPE__INIT;
        out.has_request_id = 1;
        out.request_id = env->request_id;
        out.body_case = FF__ENVELOPE__BODY_STATUS_REPLY;
        out.status_reply = &sr;
        ff_err se;
        if (c->o.send(c->o.user, rid, len, &out, &se)) FF_DEBUG(c->o.log, "status reply not sent: %s", se.msg);
    }
    for (size_t i = 0; m.outputs && i < m.n_out; i++) free(m.outputs[i]);
    free(m.outputs);
    free(m.js);
    free(m.jsp);
    free(m.cs);
    free(m.csp);
    return st;
}

static ff_status on_workers(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    size_t n = c->n_workers;
    Ff__WorkerStatus *ws = calloc(n ? n : 1, sizeof *ws);
    Ff__WorkerStatus **wp = calloc(n ? n : 1, sizeof *wp);
    if (!ws || !wp) {
        free(ws);
        free(wp);
        return ff_err_set(err, FF_ERR_NOMEM, "workers: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const worker *w = c->workers[i];
        ff__worker_status__init(&ws[i]);
        ws[i].worker_id = (char *)w->id;
        ws[i].name = (char *)w->name;
        ws[i].backend = (char *)w->backend;
        ws[i].has_device_bytes = ws[i].has_task_id = ws[i].has_last_seen_s = ws[i].has_tasks_done = 1;
        ws[i].device_bytes = w->device_bytes;
        ws[i].state = w->task_id ? "busy" : w->draining ? "cancelling" : "idle";
        ws[i].task_id = w->task_id;
        ws[i].last_seen_s = now - w->last_seen;
        ws[i].tasks_done = w->tasks_done;
        ws[i].loaded_model = w->loaded_model;
        wp[i] = &ws[i];
    }
    Ff__WorkersReply wr = FF__WORKERS_REPLY__INIT;
    wr.n_workers = n;
    wr.workers = wp;
    Ff__Envelope out = FF__ENVELOPE__INIT;
    out.has_request_id = 1;
    out.request_id = env->request_id;
    out.body_case = FF__ENVELOPE__BODY_WORKERS_REPLY;
    out.workers_reply = &wr;
    ff_err se;
    if (c->o.send(c->o.user, rid, len, &out, &se)) FF_DEBUG(c->o.log, "workers reply not sent: %s", se.msg);
    free(ws);
    free(wp);
    return FF_OK;
}

static ff_status on_cancel(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    if (!env->cancel->has_job_id || !env->cancel->job_id)
        return send_error(c, rid, len, FF__ERROR__CODE__INVALID, env->request_id, "cancel: give a job id");
    job *j = find_job(c, env->cancel->job_id);
    if (!j)
        return send_error(c, rid, len, FF__ERROR__CODE__NOT_FOUND, env->request_id, "no job %llu",
                          (unsigned long long)env->cancel->job_id);
    if (job_active(j)) {
        j->state = FF_CS_CANCELLED;
        j->needs_assembly = 0;
        job_stop(c, j, FF_CS_CANCELLED);
        job_save(c, j, now);
        FF_INFO(c->o.log, "job %llu cancelled", (unsigned long long)j->id);
    }
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    q.has_job_id = 1;
    q.job_id = j->id;
    Ff__Envelope as = FF__ENVELOPE__INIT;
    as.has_request_id = 1;
    as.request_id = env->request_id;
    as.body_case = FF__ENVELOPE__BODY_STATUS;
    as.status = &q;
    return on_status(c, rid, len, &as, err);
}

/* ---- worker messages ---------------------------------------------------------------------- */

static void set_str(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

static ff_status on_heartbeat(ff_coord *c, const void *rid, size_t len, const Ff__Heartbeat *hb, uint64_t req,
                              double now, ff_err *err) {
    if (strlen(hb->worker_id) != len || memcmp(hb->worker_id, rid, len)) {
        c->st.refused++;
        FF_WARN(c->o.log, "refused a heartbeat: worker_id '%s' is not the sender's routing id", hb->worker_id);
        return send_error(c, rid, len, FF__ERROR__CODE__INVALID, req,
                          "heartbeat: worker_id must be the socket's routing id");
    }
    worker *w = find_worker(c, rid, len);
    if (!w) {
        if (c->n_workers == c->cap_workers) {
            size_t cap = c->cap_workers ? c->cap_workers * 2 : 16;
            worker **n = realloc(c->workers, cap * sizeof *n);
            if (!n) return ff_err_set(err, FF_ERR_NOMEM, "coordinator: out of memory for workers");
            c->workers = n;
            c->cap_workers = cap;
        }
        if (!(w = calloc(1, sizeof *w))) return ff_err_set(err, FF_ERR_NOMEM, "coordinator: out of memory for a worker");
        set_str(w->id, sizeof w->id, hb->worker_id);
        c->workers[c->n_workers++] = w;
        FF_INFO(c->o.log, "worker %s joined: %s, backend %s, %lld device bytes", w->id, hb->name ? hb->name : "?",
                hb->backend ? hb->backend : "?", (long long)hb->device_bytes);
    }
    set_str(w->name, sizeof w->name, hb->name);
    set_str(w->backend, sizeof w->backend, hb->backend);
    w->device_bytes = hb->has_device_bytes ? hb->device_bytes : 0;
    w->tasks_done = hb->tasks_done > w->tasks_done ? hb->tasks_done : w->tasks_done;
    if (hb->loaded_model && (!w->loaded_model || strcmp(w->loaded_model, hb->loaded_model))) {
        free(w->loaded_model);
        w->loaded_model = strdup(hb->loaded_model);
    }
    w->last_seen = now;
    uint64_t busy = hb->has_busy_task ? hb->busy_task : 0;
    if (w->draining && busy != w->draining) w->draining = 0;
    if (busy && busy != w->task_id && busy != w->draining) {
        FF_INFO(c->o.log, "worker %s is busy with task %llx this coordinator did not give it: cancelling it", w->id,
                (unsigned long long)busy);
        send_cancel(c, w, busy);
    }
    if (!busy && w->task_id && w->ch && now - w->assigned_at > c->o.worker_timeout_s) {
        chunk_requeue(c, w->j, w->ch, "the worker never started the task (message lost?): queued again");
    }
    return FF_OK;
}

/* The worker's current chunk for task (NULL, with a debug line, when the
 * message is stale). */
static chunk *task_chunk(ff_coord *c, worker *w, uint64_t task, const char *what) {
    if (w && w->task_id == task && w->ch && w->ch->task_id == task) return w->ch;
    FF_DEBUG(c->o.log, "ignored %s for task %llx from %s (not its current task)", what, (unsigned long long)task,
             w ? w->id : "an unknown worker");
    return NULL;
}

static ff_status on_frames(ff_coord *c, worker *w, const Ff__ResultFrames *f, double now, ff_err *err) {
    chunk *ch = task_chunk(c, w, f->task_id, "frames");
    if (!ch) return FF_OK;
    job *j = w->j;
    int expect = ff_chunk_frames(ch->lat_count);
    char why[FF_ERR_MSG_MAX + 128] = "";
    if (f->t0 != ch->frames_recv || f->t0 + f->count > expect || f->width != j->spec->width ||
        f->height != j->spec->height)
        snprintf(why, sizeof why, "sent frames %d..%d of %dx%d, expected frame %d of %d at %dx%d", f->t0,
                 f->t0 + f->count - 1, f->width, f->height, ch->frames_recv, expect, j->spec->width, j->spec->height);
    size_t raw = (size_t)f->count * f->width * f->height * 3;
    uint8_t *buf = why[0] ? NULL : malloc(raw);
    ff_err e2 = {0};
    if (!why[0] && !buf) return ff_err_set(err, FF_ERR_NOMEM, "frames: out of memory for %zu bytes", raw);
    if (!why[0] && ff_frames_inflate(f->rgb_zlib.data, f->rgb_zlib.len, buf, raw, &e2))
        snprintf(why, sizeof why, "sent invalid frames: %s", e2.msg);
    free(buf);
    if (!why[0] && !ch->part) {
        char p[4200], suf[40];
        snprintf(suf, sizeof suf, ".part-%llx", (unsigned long long)ch->task_id);
        if (ff_store_chunk_path(c->store, j->id, ch->idx, suf, p, sizeof p, err)) return FF_ERR_IO;
        if (!(ch->part_path = strdup(p)) || !(ch->part = fopen(p, "wb")))
            return ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", p, strerror(errno));
    }
    if (!why[0]) {
        ff_status st = ff_cfile_append(ch->part, f->t0, f->count, f->width, f->height, f->rgb_zlib.data, f->rgb_zlib.len, err);
        if (st) return st;
        ch->frames_recv += f->count;
        return FF_OK;
    }
    c->st.refused++;
    uint64_t task = ch->task_id;
    chunk_attempt_failed(c, j, ch, now, why);
    send_cancel(c, w, task);
    return FF_OK;
}

/* A result written to the shared folder: copied into the chunk's part file
 * (size and crc32 taken on the way), checked against d, and read back
 * record by record as exactly `expect` frames at the job's size. On success
 * ch->part holds the frames and frames_recv = expect; otherwise why says
 * what was wrong (the caller fails the attempt). FF_ERR_* only for the
 * coordinator's own failures. */
static ff_status take_shared(ff_coord *c, job *j, chunk *ch, const Ff__TaskDone *d, int expect, char *why, size_t why_n,
                             ff_err *err) {
    char src[4400];
    if (ch->part || ch->frames_recv) {
        snprintf(why, why_n, "reported a shared file after sending %d frames inline", ch->frames_recv);
        return FF_OK;
    }
    if (snprintf(src, sizeof src, "%s/%s", c->o.shared_dir, d->shared_path) >= (int)sizeof src) {
        snprintf(why, why_n, "reported a shared file whose path is too long");
        return FF_OK;
    }
    FILE *in = fopen(src, "rb");
    if (!in) {
        snprintf(why, why_n, "reported its frames in the shared file %.300s, which cannot be read: %s", src, strerror(errno));
        return FF_OK;
    }
    char p[4200], suf[40];
    snprintf(suf, sizeof suf, ".part-%llx", (unsigned long long)ch->task_id);
    ff_status st = ff_store_chunk_path(c->store, j->id, ch->idx, suf, p, sizeof p, err);
    if (!st && (!(ch->part_path = strdup(p)) || !(ch->part = fopen(p, "wb"))))
        st = ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", p, strerror(errno));
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t size = 0;
    unsigned char buf[65536];
    size_t got;
    while (!st && (got = fread(buf, 1, sizeof buf, in)) > 0) {
        crc = crc32(crc, buf, (uInt)got);
        size += got;
        if (fwrite(buf, 1, got, ch->part) != got) st = ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", p, strerror(errno));
    }
    int rerr = ferror(in);
    fclose(in);
    if (!st && fflush(ch->part)) st = ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", p, strerror(errno));
    if (st) return st;
    if (rerr) {
        snprintf(why, why_n, "shared file %.300s: read error", src);
        return FF_OK;
    }
    if (size != d->shared_size || (uint32_t)crc != d->shared_crc32) {
        snprintf(why, why_n, "shared file %.300s: %llu bytes, crc32 %08x; the worker reported %llu bytes, crc32 %08x", src,
                 (unsigned long long)size, (unsigned)crc, (unsigned long long)d->shared_size, (unsigned)d->shared_crc32);
        return FF_OK;
    }
    ff_cfile_reader r;
    ff_err e2 = {0};
    int n = 0;
    ff_status rs = ff_cfile_open(ch->part_path, j->spec->width, j->spec->height, &r, &e2);
    if (!rs) {
        const uint8_t *frame;
        while (n <= expect && !(rs = ff_cfile_next(&r, &frame, &e2))) n++;
        ff_cfile_close(&r);
        if (rs == FF_ERR_NOT_FOUND) rs = FF_OK;
    }
    if (rs || n != expect) {
        snprintf(why, why_n, "shared file %.300s: %d frames of %d read%s%.500s", src, n, expect, rs ? ": " : "",
                 rs ? e2.msg : "");
        return FF_OK;
    }
    ch->frames_recv = expect;
    unlink(src); /* taken: the store holds it now */
    return FF_OK;
}

static ff_status on_done(ff_coord *c, worker *w, const Ff__TaskDone *d, double now, ff_err *err) {
    if (w && w->draining == d->task_id) w->draining = 0;
    chunk *ch = task_chunk(c, w, d->task_id, "done");
    if (!ch) return FF_OK;
    job *j = w->j;
    int expect = ff_chunk_frames(ch->lat_count);
    char why[FF_ERR_MSG_MAX + 1024] = "";
    if (d->shared_path && !c->o.shared_dir)
        snprintf(why, sizeof why, "reported %d frames done in a shared folder (not configured here: coordinator --shared-dir)",
                 d->frames);
    else if (d->frames != expect)
        snprintf(why, sizeof why, "reported %d frames done, %d expected", d->frames, expect);
    else if (d->shared_path) {
        ff_status st = take_shared(c, j, ch, d, expect, why, sizeof why, err);
        if (st) return st;
    }
    if (!why[0] && (ch->frames_recv != expect || !ch->part))
        snprintf(why, sizeof why, "reported %d frames done, %d expected, %d received", d->frames, expect, ch->frames_recv);
    if (why[0]) {
        if (d->shared_path && c->o.shared_dir) { /* a refused file is not left behind */
            char src[4400];
            if (snprintf(src, sizeof src, "%s/%s", c->o.shared_dir, d->shared_path) < (int)sizeof src) unlink(src);
        }
        c->st.refused++;
        chunk_attempt_failed(c, j, ch, now, why);
        return FF_OK;
    }
    char final[4200];
    ff_status st = ff_store_chunk_path(c->store, j->id, ch->idx, ".frames", final, sizeof final, err);
    if (!st && (fflush(ch->part) || fsync(fileno(ch->part))))
        st = ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", ch->part_path, strerror(errno));
    if (!st) {
        fclose(ch->part);
        ch->part = NULL;
        if (rename(ch->part_path, final)) st = ff_err_set(err, FF_ERR_IO, "rename %s: %s", ch->part_path, strerror(errno));
    }
    if (st) return st;
    free(ch->part_path);
    ch->part_path = NULL;
    ch->completions++;
    ch->state = FF_CS_DONE;
    w->tasks_done++;
    c->st.completed++;
    chunk_save(c, j, ch, NULL);
    ch->frames_recv = 0;
    /* detach without discarding the (renamed) file */
    w->ch = NULL;
    w->j = NULL;
    w->task_id = 0;
    ch->w = NULL;
    ch->task_id = 0;
    ch->stage = 2;
    j->n_done++;
    FF_DEBUG(c->o.log, "job %llu chunk %u done by %s (%.2f s)", (unsigned long long)j->id, ch->idx, w->id, d->render_s);
    if (j->n_done == j->n_chunks) job_assemble(c, j, now);
    return FF_OK;
}

static ff_status on_failed(ff_coord *c, worker *w, const Ff__TaskFailed *f, double now) {
    if (w && w->draining == f->task_id) w->draining = 0;
    chunk *ch = task_chunk(c, w, f->task_id, "failure");
    if (!ch) return FF_OK;
    if (f->has_not_started && f->not_started) { /* our mistake, not the chunk's: no attempt counted */
        chunk_requeue(c, w->j, ch, "the worker was still busy and did not start the task: queued again");
        w->draining = UINT64_MAX; /* no new work until its next heartbeat says what it holds */
        return FF_OK;
    }
    char why[FF_WIRE_MAX_TEXT + 2048];
    snprintf(why, sizeof why, "failed: %s%s%.1500s", f->message ? f->message : "(no message)", f->log && f->log[0] ? "\n" : "",
             f->log ? f->log : "");
    chunk_attempt_failed(c, w->j, ch, now, why);
    return FF_OK;
}

ff_status ff_coord_handle(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    worker *w = find_worker(c, rid, len);
    if (w) w->last_seen = now;
    switch (env->body_case) {
    case FF__ENVELOPE__BODY_HEARTBEAT: return on_heartbeat(c, rid, len, env->heartbeat, env->request_id, now, err);
    case FF__ENVELOPE__BODY_SUBMIT: return on_submit(c, rid, len, env, now, err);
    case FF__ENVELOPE__BODY_STATUS: return on_status(c, rid, len, env, err);
    case FF__ENVELOPE__BODY_WORKERS: return on_workers(c, rid, len, env, now, err);
    case FF__ENVELOPE__BODY_CANCEL: return on_cancel(c, rid, len, env, now, err);
    case FF__ENVELOPE__BODY_PROGRESS:
    case FF__ENVELOPE__BODY_FRAMES:
    case FF__ENVELOPE__BODY_DONE:
    case FF__ENVELOPE__BODY_FAILED:
        if (!w) {
            c->st.refused++;
            FF_WARN(c->o.log, "refused a %s message from an unregistered peer", ff_wire_body_name(env->body_case));
            return send_error(c, rid, len, FF__ERROR__CODE__INVALID, env->request_id,
                              "%s from an unknown worker: send a heartbeat first", ff_wire_body_name(env->body_case));
        }
        if (env->body_case == FF__ENVELOPE__BODY_PROGRESS) {
            chunk *ch = task_chunk(c, w, env->progress->task_id, "progress");
            if (ch) {
                ch->stage = env->progress->stage;
                ch->done = env->progress->done;
                ch->total = env->progress->total;
            }
            return FF_OK;
        }
        if (env->body_case == FF__ENVELOPE__BODY_FRAMES) return on_frames(c, w, env->frames, now, err);
        if (env->body_case == FF__ENVELOPE__BODY_DONE) return on_done(c, w, env->done, now, err);
        return on_failed(c, w, env->failed, now);
    default:
        c->st.refused++;
        FF_WARN(c->o.log, "refused an unexpected '%s' message (a coordinator does not take it)",
                ff_wire_body_name(env->body_case));
        return send_error(c, rid, len, FF__ERROR__CODE__INVALID, env->request_id,
                          "unexpected '%s' message: a coordinator does not take it", ff_wire_body_name(env->body_case));
    }
}

/* ---- timers and dispatch ---------------------------------------------------------------- */

static job *best_job(ff_coord *c, const worker *w) {
    job *best = NULL;
    for (size_t i = 0; i < c->n_jobs; i++) {
        job *j = c->jobs[i];
        if (!job_active(j) || !j->n_queued) continue;
        if (j->spec->device_budget > 0 && w->device_bytes < j->spec->device_budget) continue;
        if (!best || j->spec->priority > best->spec->priority) best = j; /* ties: lower id (older) stays */
    }
    return best;
}

static ff_status dispatch(ff_coord *c, worker *w, job *j, double now, int *sent) {
    *sent = 0;
    chunk *ch = NULL;
    for (uint32_t i = j->scan_from; i < j->n_chunks; i++)
        if (j->chunks[i].state == FF_CS_QUEUED) {
            ch = &j->chunks[i];
            j->scan_from = i;
            break;
        }
    if (!ch) {
        j->n_queued = 0; /* cannot happen; keep the scheduler from spinning */
        return FF_OK;
    }
    uint64_t task = ++c->next_seq;
    Ff__ChunkTask t = FF__CHUNK_TASK__INIT;
    t.has_task_id = t.has_job_id = t.has_chunk = t.has_item = t.has_lat_start = t.has_lat_count = t.has_lat_total = 1;
    t.task_id = task;
    t.job_id = j->id;
    t.chunk = ch->idx;
    t.item = ch->item;
    t.lat_start = ch->lat_start;
    t.lat_count = ch->lat_count;
    t.lat_total = ff_jobspec_lat_total(j->spec);
    t.spec = j->spec;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_TASK;
    env.task = &t;
    ff_err se;
    if (c->o.send(c->o.user, w->id, strlen(w->id), &env, &se)) {
        FF_DEBUG(c->o.log, "task for %s not sent: %s", w->id, se.msg);
        return FF_ERR_IO; /* the caller drops the worker */
    }
    ch->state = FF_CS_RUNNING;
    ch->task_id = task;
    ch->w = w;
    ch->started = now;
    ch->stage = 0;
    ch->done = ch->total = 0;
    ch->frames_recv = 0;
    ch->dispatches++;
    j->n_queued--;
    w->task_id = task;
    w->j = j;
    w->ch = ch;
    w->assigned_at = now;
    c->st.dispatched++;
    if (j->state == FF_CS_QUEUED) {
        j->state = FF_CS_RUNNING;
        job_save(c, j, now);
    }
    chunk_save(c, j, ch, NULL);
    *sent = 1;
    return FF_OK;
}

ff_status ff_coord_tick(ff_coord *c, double now, ff_err *err) {
    /* dead workers */
    for (size_t i = 0; i < c->n_workers;) {
        worker *w = c->workers[i];
        if (now - w->last_seen > c->o.worker_timeout_s) {
            char why[96];
            snprintf(why, sizeof why, "stopped responding (no heartbeat for %.1f s)", now - w->last_seen);
            worker_remove(c, i, now, why);
        } else {
            i++;
        }
    }
    /* chunk timeouts and pending assemblies */
    for (size_t i = 0; i < c->n_jobs; i++) {
        job *j = c->jobs[i];
        if (!job_active(j)) continue;
        if (j->needs_assembly) {
            job_assemble(c, j, now);
            continue;
        }
        if (j->spec->chunk_timeout_s <= 0) continue;
        for (uint32_t k = 0; k < j->n_chunks && job_active(j); k++) {
            chunk *ch = &j->chunks[k];
            if (ch->state != FF_CS_RUNNING || now - ch->started <= j->spec->chunk_timeout_s) continue;
            worker *w = ch->w;
            uint64_t task = ch->task_id;
            char why[96];
            snprintf(why, sizeof why, "timed out after %d s", j->spec->chunk_timeout_s);
            chunk_attempt_failed(c, j, ch, now, why);
            if (w) send_cancel(c, w, task);
        }
    }
    /* dispatch */
    for (size_t i = 0; i < c->n_workers;) {
        worker *w = c->workers[i];
        if (w->task_id || w->draining) {
            i++;
            continue;
        }
        job *j = best_job(c, w);
        if (!j) {
            i++;
            continue;
        }
        int sent = 0;
        if (dispatch(c, w, j, now, &sent) == FF_ERR_IO) {
            worker_remove(c, i, now, "is unreachable (the task could not be sent)");
            continue;
        }
        i++;
    }
    (void)err;
    return FF_OK;
}
