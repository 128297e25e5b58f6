/* coord: see coord.h; coord_internal.h says which file does what. This one:
 * open/close/load, message routing, ticks, and the job and chunk
 * transitions the others call. */
#include "coordinator/coord.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coordinator/assemble.h"
#include "coordinator/chunking.h"
#include "coordinator/coord_internal.h"
#include "proto/ff_jobspec.h"
#include "proto/ff_wire.h"

/* ---- small helpers ---------------------------------------------------------- */

double coord_wall(const ff_coord *c, double now) { return c->wall0 + (now - c->mono0); }

static void log_append(char **log, const char *line) {
    const size_t cap = FF_STORE_CHUNK_LOG_MAX;
    size_t have = *log ? strlen(*log) : 0, add = strlen(line);
    if (add > cap) {
        line += add - cap;
        add = cap;
    }
    size_t keep = have + add > cap ? cap - add : have;
    char *n = malloc(keep + add + 1);
    if (!n) return; /* the store keeps the log */
    if (keep) memcpy(n, *log + have - keep, keep);
    memcpy(n + keep, line, add + 1);
    free(*log);
    *log = n;
}

ff_status coord_chunk_save(ff_coord *c, job *j, chunk *ch, const char *fmt, ...) {
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
        if (j->log_bytes + n + 1 <= FF_COORD_JOB_LOG_MAX) { /* the job's log budget */
            j->log_bytes += n + 1;
            app = line;
        } else if (j->log_bytes <= FF_COORD_JOB_LOG_MAX) {
            snprintf(line, sizeof line, "(this job's logs reached %zu bytes: further lines are dropped)\n",
                     FF_COORD_JOB_LOG_MAX);
            j->log_bytes = FF_COORD_JOB_LOG_MAX + 1;
            app = line;
        }
        if (app) log_append(&ch->log, app);
    }
    ff_store_chunk_row row = {ch->state,         ch->attempts, ch->dispatches, ch->completions,
                              ch->last_worker[0] ? ch->last_worker : NULL, ch->last_task, ch->started_w, ch->finished_w};
    ff_err err;
    ff_status st = ff_store_chunk_update(c->store, j->id, ch->idx, &row, app, &err);
    if (st) FF_WARN(c->o.log, "%s", err.msg);
    return st;
}

void coord_job_save(ff_coord *c, job *j, double now) {
    ff_err err;
    if (ff_store_job_state(c->store, j->id, j->state, j->error, coord_wall(c, now), &err)) FF_WARN(c->o.log, "%s", err.msg);
}

job *coord_find_job(const ff_coord *c, uint64_t id) {
    size_t lo = 0, hi = c->n_jobs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->jobs[mid]->id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->n_jobs && c->jobs[lo]->id == id ? c->jobs[lo] : NULL;
}

worker *coord_find_worker(const ff_coord *c, const void *rid, size_t len) {
    for (size_t i = 0; i < c->n_workers; i++)
        if (strlen(c->workers[i]->id) == len && !memcmp(c->workers[i]->id, rid, len)) return c->workers[i];
    return NULL;
}

ff_status coord_send_error(ff_coord *c, const void *rid, size_t len, Ff__Error__Code code, uint64_t req, const char *fmt,
                           ...) {
    char msg[FF_WIRE_MAX_TEXT];
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

void coord_chunk_detach(chunk *ch) {
    if (ch->w && ch->w->ch == ch) {
        ch->w->ch = NULL;
        ch->w->j = NULL;
        ch->w->task_id = 0;
    }
    ch->w = NULL;
    ch->task_id = 0;
    ch->began = ch->checking = 0;
    ch->stage = 0;
    ch->done = ch->total = 0;
    part_discard(ch);
}

void coord_send_ack(ff_coord *c, const worker *w, uint64_t task, int resend) {
    Ff__ResultAck a = FF__RESULT_ACK__INIT;
    a.has_task_id = a.has_resend = 1;
    a.task_id = task;
    a.resend = resend != 0;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_RESULT_ACK;
    env.result_ack = &a;
    ff_err err;
    if (c->o.send(c->o.user, w->id, strlen(w->id), &env, &err))
        FF_DEBUG(c->o.log, "result ack for worker %s not sent: %s", w->id, err.msg);
}

void coord_send_cancel(ff_coord *c, worker *w, uint64_t task) {
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

void coord_chunk_progress(job *j, chunk *ch, double now) {
    double gap = now - ch->last_progress;
    if (gap > j->max_gap) j->max_gap = gap;
    ch->last_progress = now;
    ch->began = 1;
    ch->unstarted = 0;
}

/* ---- jobs ---------------------------------------------------------------------- */

void coord_job_free(job *j) {
    if (!j) return;
    for (uint32_t i = 0; i < j->n_chunks; i++) {
        part_discard(&j->chunks[i]);
        free(j->chunks[i].log);
    }
    free(j->chunks);
    free(j->item_st);
    ff_jobspec_free(j->spec);
    free(j->error);
    free(j);
}

ff_status coord_add_job(ff_coord *c, job *j, ff_err *err) {
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

int coord_job_active(const job *j) { return j->state == FF_CS_QUEUED || j->state == FF_CS_RUNNING; }

size_t coord_queued_chunks(const ff_coord *c) {
    size_t n = 0;
    for (size_t i = 0; i < c->n_jobs; i++)
        if (coord_job_active(c->jobs[i])) n += c->jobs[i]->n_chunks - c->jobs[i]->n_done;
    return n;
}

/* Stops the job's running chunks (cancel to their workers) and marks its
 * unfinished chunks `to`. */
static void job_stop(ff_coord *c, job *j, ff_cstate to) {
    for (uint32_t i = 0; i < j->n_chunks; i++) {
        chunk *ch = &j->chunks[i];
        if (ch->state == FF_CS_RUNNING && ch->w) coord_send_cancel(c, ch->w, ch->task_id);
        if (ch->state == FF_CS_RUNNING || ch->state == FF_CS_QUEUED) {
            if (ch->state == FF_CS_QUEUED) j->n_queued--;
            coord_chunk_detach(ch);
            ch->state = to;
            coord_chunk_save(c, j, ch, NULL);
        }
    }
    /* an item being written, and items already due, are still written: nothing finished is thrown away */
}

/* The job leaves the active states for `to` (done, failed, cancelled). */
void coord_job_finish(ff_coord *c, job *j, ff_cstate to, double now) {
    int was_active = coord_job_active(j);
    if (to != FF_CS_DONE) job_stop(c, j, FF_CS_CANCELLED);
    j->state = to;
    j->finished = coord_wall(c, now);
    coord_job_save(c, j, now);
    if (was_active) c->n_finished++;
}

void coord_job_fail(ff_coord *c, job *j, double now, const char *why) {
    free(j->error);
    j->error = strndup(why, FF_COORD_JOB_ERROR_MAX);
    coord_job_finish(c, j, FF_CS_FAILED, now);
    c->st.jobs_failed++;
    FF_WARN(c->o.log, "job %llu failed: %.600s%s", (unsigned long long)j->id, why, strlen(why) > 600 ? " [...]" : "");
}

/* ---- chunks --------------------------------------------------------------------- */

void coord_chunk_queue(ff_coord *c, job *j, chunk *ch) {
    ch->state = FF_CS_QUEUED;
    j->n_queued++;
    if (ch->idx < j->scan_from) j->scan_from = ch->idx;
    c->st.requeued++;
}

/* One more chunk failed on w in a row: at quarantine_after, no more work
 * for it until an operator releases it (framefarm workers --release). */
static void worker_failed(ff_coord *c, worker *w) {
    if (++w->fails_in_row < c->o.quarantine_after || c->o.quarantine_after <= 0 || w->quarantined) return;
    w->quarantined = 1;
    FF_WARN(c->o.log,
            "worker %s (%s) quarantined: %d chunks failed on it in a row; it gets no work until released "
            "(framefarm workers --release %s)",
            w->id, w->name, w->fails_in_row, w->id);
}

/* The wait before a chunk that failed `attempts` times is tried again: the
 * job's retry_backoff_s doubled per attempt, at most FF_COORD_BACKOFF_MAX_S. */
static double backoff_s(const job *j, int attempts) {
    double b = j->spec->has_retry_backoff_s ? j->spec->retry_backoff_s : 0;
    for (int k = 1; k < attempts && b < FF_COORD_BACKOFF_MAX_S; k++) b *= 2;
    return b < FF_COORD_BACKOFF_MAX_S ? b : FF_COORD_BACKOFF_MAX_S;
}

void coord_chunk_attempt_failed(ff_coord *c, job *j, chunk *ch, double now, const char *why) {
    worker *w = ch->w;
    ch->attempts++;
    if (w) ch->avoid = w->serial;
    ch->unstarted = 0;
    char line[1500];
    if (w) snprintf(line, sizeof line, "attempt %d on %s (%s): %.1100s", ch->attempts, w->id, w->name, why);
    else snprintf(line, sizeof line, "attempt %d: %.1100s", ch->attempts, why);
    FF_WARN(c->o.log, "job %llu chunk %u: %s", (unsigned long long)j->id, ch->idx, line);
    if (w) worker_failed(c, w);
    coord_chunk_detach(ch);
    if (ch->attempts >= j->spec->max_attempts) {
        ch->state = FF_CS_FAILED;
        coord_chunk_save(c, j, ch, "%s", line);
        char head[256];
        int hn = snprintf(head, sizeof head, "chunk %u (item %u, latent frames %d..%d) failed after %d attempts:\n", ch->idx,
                          ch->item, ch->lat_start, ch->lat_start + ch->lat_count - 1, ch->attempts);
        const char *log = ch->log ? ch->log : "";
        size_t ll = strlen(log), room = FF_COORD_JOB_ERROR_MAX - (size_t)hn - 16;
        char *msg = malloc((size_t)hn + (ll < room ? ll : room) + 32);
        if (msg) { /* the end of the log: the last attempts */
            snprintf(msg, (size_t)hn + (ll < room ? ll : room) + 32, "%s%s%s", head, ll > room ? "[...]" : "",
                     ll > room ? log + ll - room : log);
        }
        coord_job_fail(c, j, now, msg ? msg : head);
        free(msg);
        return;
    }
    coord_chunk_queue(c, j, ch);
    double wait = backoff_s(j, ch->attempts);
    if (wait > 0) {
        ch->hold_until = now + wait;
        coord_chunk_save(c, j, ch, "%s (tried again in %.1f s: retry_backoff_s)", line, wait);
    } else {
        coord_chunk_save(c, j, ch, "%s", line);
    }
}

void coord_chunk_unstarted(ff_coord *c, job *j, chunk *ch, double now, const char *why) {
    worker *w = ch->w;
    if (w) ch->avoid = w->serial;
    if (++ch->unstarted >= FF_COORD_MAX_UNSTARTED) {
        char line[700];
        snprintf(line, sizeof line, "%.400s; %d dispatches in a row were never started: one failed attempt", why,
                 FF_COORD_MAX_UNSTARTED);
        coord_chunk_attempt_failed(c, j, ch, now, line);
        return;
    }
    FF_WARN(c->o.log, "job %llu chunk %u: %s: queued again (%d of %d before it counts as an attempt)",
            (unsigned long long)j->id, ch->idx, why, ch->unstarted, FF_COORD_MAX_UNSTARTED);
    coord_chunk_detach(ch);
    coord_chunk_queue(c, j, ch);
    coord_chunk_save(c, j, ch, "%s (queued again, %d of %d before it counts as an attempt)", why, ch->unstarted,
                     FF_COORD_MAX_UNSTARTED);
}

void coord_chunk_done(ff_coord *c, job *j, chunk *ch, double now) {
    worker *w = ch->w;
    ch->completions++;
    ch->state = FF_CS_DONE;
    ch->unstarted = 0;
    if (w) w->tasks_done++;
    c->st.completed++;
    /* detach without discarding the (renamed) frames file */
    if (w && w->ch == ch) {
        w->ch = NULL;
        w->j = NULL;
        w->task_id = 0;
    }
    ch->w = NULL;
    ch->task_id = 0;
    ch->frames_recv = 0;
    ch->began = ch->checking = 0;
    ch->stage = 2;
    ch->finished_w = coord_wall(c, now);
    if (ch->orphan) c->n_orphans--;
    ch->orphan = 0;
    j->n_done++;
    if (w) w->fails_in_row = 0;
    coord_chunk_save(c, j, ch, NULL);
    coord_items_chunk_done(j, ch);
}

static void poll_background(ff_coord *c, double now) {
    for (ff_bgtask *t; (t = ff_bgwork_poll(c->bg));) {
        if (t->kind == COORD_BG_ASSEMBLE) coord_items_finished(c, t, now);
        else {
            ff_err err = {0};
            if (coord_shared_checked(c, t, now, &err)) FF_WARN(c->o.log, "%s", err.msg);
        }
        ff_bgtask_free(t);
    }
}

/* Background results, then the items due. */
static void background(ff_coord *c, double now) {
    poll_background(c, now);
    coord_items_start(c, now);
}

/* ---- retention ---------------------------------------------------------------------- */

static int by_finished(const void *a, const void *b) {
    const job *x = *(job *const *)a, *y = *(job *const *)b;
    if (x->finished != y->finished) return x->finished < y->finished ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Forgets finished jobs beyond keep_jobs (oldest finished first) and those
 * finished more than keep_age_s ago. */
static void prune(ff_coord *c, double now) {
    size_t keep = c->o.keep_jobs;
    double oldest = c->o.keep_age_s > 0 ? coord_wall(c, now) - c->o.keep_age_s : -1e300;
    if (c->n_finished <= keep && c->o.keep_age_s <= 0) return;
    job **fin = malloc((c->n_finished ? c->n_finished : 1) * sizeof *fin);
    if (!fin) return;
    size_t n = 0;
    for (size_t i = 0; i < c->n_jobs && n < c->n_finished; i++)
        if (!coord_job_active(c->jobs[i]) && !c->jobs[i]->assembly && !c->jobs[i]->n_due) fin[n++] = c->jobs[i];
    qsort(fin, n, sizeof *fin, by_finished);
    size_t drop = 0;
    while (drop < n && (n - drop > keep || fin[drop]->finished < oldest)) drop++;
    if (drop) {
        for (size_t k = 0; k < drop; k++) {
            ff_err err;
            if (ff_store_delete_job(c->store, fin[k]->id, &err)) {
                FF_WARN(c->o.log, "%s", err.msg);
                fin[k] = NULL;
                continue;
            }
            FF_DEBUG(c->o.log, "job %llu forgotten (retention)", (unsigned long long)fin[k]->id);
            fin[k]->state = FF_CS_COUNT; /* marks it for removal from c->jobs below */
        }
        size_t w = 0;
        for (size_t i = 0; i < c->n_jobs; i++) {
            if (c->jobs[i]->state == FF_CS_COUNT) {
                coord_job_free(c->jobs[i]);
                c->n_finished--;
                c->st.jobs_forgotten++;
            } else {
                c->jobs[w++] = c->jobs[i];
            }
        }
        c->n_jobs = w;
    }
    free(fin);
}

/* ---- workers ---------------------------------------------------------------------- */

static void worker_remove(ff_coord *c, size_t i, double now, const char *why) {
    worker *w = c->workers[i];
    FF_WARN(c->o.log, "worker %s (%s) %s", w->id, w->name, why);
    if (w->ch && w->j && w->ch->state == FF_CS_RUNNING) {
        char line[512];
        snprintf(line, sizeof line, "worker %s at %s %lld/%lld", why,
                 w->ch->stage == 0 ? "text" : w->ch->stage == 1 ? "step" : "decode", (long long)w->ch->done,
                 (long long)w->ch->total);
        coord_chunk_attempt_failed(c, w->j, w->ch, now, line);
    }
    free(w->loaded_model);
    free(w);
    c->workers[i] = c->workers[--c->n_workers];
}

static void set_str(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

static ff_status on_heartbeat(ff_coord *c, const void *rid, size_t len, const Ff__Heartbeat *hb, uint64_t req,
                              double now, ff_err *err) {
    if (strlen(hb->worker_id) != len || memcmp(hb->worker_id, rid, len)) {
        c->st.refused++;
        FF_WARN(c->o.log, "refused a heartbeat: worker_id '%s' is not the sender's routing id", hb->worker_id);
        return coord_send_error(c, rid, len, FF__ERROR__CODE__INVALID, req,
                                "heartbeat: worker_id must be the socket's routing id");
    }
    worker *w = coord_find_worker(c, rid, len);
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
        w->serial = ++c->next_serial;
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
    if (busy && busy != w->task_id && busy != w->draining && coord_on_held(c, w, busy, 1, now)) {
        /* a chunk that was running on it before a restart: its result is awaited */
    } else if (busy && busy != w->task_id && busy != w->draining) {
        FF_INFO(c->o.log, "worker %s is busy with task %llx this coordinator did not give it: cancelling it", w->id,
                (unsigned long long)busy);
        coord_send_cancel(c, w, busy);
    }
    if (busy && busy == w->task_id && w->ch && !w->ch->began) { /* it holds the task */
        w->ch->began = 1;
        w->ch->unstarted = 0;
    }
    uint64_t held = hb->has_held_task ? hb->held_task : 0;
    if (!busy && !w->task_id) coord_orphans_not_held(c, w, held);
    if (held && held != w->task_id) coord_on_held(c, w, held, 0, now);
    if (!busy && w->task_id && w->ch && now - w->assigned_at > c->o.worker_timeout_s) {
        char why[600];
        snprintf(why, sizeof why, "worker %s (%s) %s", w->id, w->name,
                 w->ch->began ? "reports idle without having reported the task's end (a lost message?)"
                              : "never started the task (it heartbeats idle: a lost message, or a wedged worker)");
        coord_chunk_unstarted(c, w->j, w->ch, now, why);
    }
    return FF_OK;
}

/* ---- open / close -------------------------------------------------------------------- */

typedef struct {
    ff_coord *c;
    job *cur;
    int skip_chunks; /* the current job's spec is broken: its chunk rows are not loaded */
    double now;
} load_ctx;

static ff_status load_job(void *user, const ff_store_job_info *ji, ff_err *err) {
    load_ctx *lc = user;
    job *j = calloc(1, sizeof *j);
    if (!j) return ff_err_set(err, FF_ERR_NOMEM, "loading jobs: out of memory");
    ff_status st = ff_jobspec_clone(ji->spec, &j->spec, err);
    size_t n = st || ji->spec_error ? 0 : ff_chunk_count(j->spec);
    if (!st && !(j->chunks = calloc(n ? n : 1, sizeof *j->chunks))) st = ff_err_set(err, FF_ERR_NOMEM, "out of memory");
    if (!st && ji->error && !(j->error = strdup(ji->error))) st = ff_err_set(err, FF_ERR_NOMEM, "out of memory");
    if (!st) st = coord_add_job(lc->c, j, err);
    if (st) {
        coord_job_free(j);
        return st;
    }
    j->id = ji->id;
    j->state = ji->state;
    j->submitted = ji->submitted_at;
    j->finished = ji->finished_at ? ji->finished_at : ji->submitted_at;
    j->n_chunks = (uint32_t)n;
    j->paused = ji->paused;
    if (!ji->spec_error && (st = coord_items_init(j, err))) return st;
    for (size_t k = 0; j->item_st && k < ji->n_written; k++)
        if (ji->written[k] < j->n_items && j->item_st[ji->written[k]] != ITEM_WRITTEN) {
            j->item_st[ji->written[k]] = ITEM_WRITTEN;
            j->n_written++;
        }
    lc->cur = j;
    lc->skip_chunks = ji->spec_error != NULL;
    if (!coord_job_active(j)) lc->c->n_finished++; /* (a job failed below is counted by coord_job_finish) */
    if (ji->spec_error) {
        FF_WARN(lc->c->o.log, "job %llu: its stored spec no longer passes the checks: %s", (unsigned long long)j->id,
                ji->spec_error);
        if (coord_job_active(j)) {
            char why[FF_ERR_MSG_MAX + 80];
            snprintf(why, sizeof why, "the job's spec no longer passes this coordinator's checks: %s", ji->spec_error);
            coord_job_fail(lc->c, j, lc->now, why);
        }
    }
    return FF_OK;
}

static ff_status load_chunk(void *user, const ff_store_chunk_info *ci, ff_err *err) {
    load_ctx *lc = user;
    job *j = lc->cur;
    if (lc->skip_chunks) return FF_OK;
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
    ch->last_task = ci->row.task;
    ch->started_w = ci->row.started_at;
    ch->finished_w = ci->row.finished_at;
    if (ci->row.worker) snprintf(ch->last_worker, sizeof ch->last_worker, "%s", ci->row.worker);
    if (ci->log && ci->log[0]) {
        log_append(&ch->log, ci->log);
        j->log_bytes += strlen(ch->log);
    }
    ff_coord *c = lc->c;
    int written = ch->item < j->n_items && j->item_st[ch->item] == ITEM_WRITTEN;
    if (ch->state == FF_CS_RUNNING) {
        ch->state = FF_CS_QUEUED;
        ch->orphan = ch->last_task != 0;
        ch->hold_until = ch->orphan ? c->orphan_until : 0;
        c->n_orphans += ch->orphan;
        coord_chunk_save(c, j, ch,
                         "coordinator restarted while this chunk was running on %s: queued again (its worker's result is "
                         "awaited first)",
                         ci->row.worker ? ci->row.worker : "?");
    } else if (ch->state == FF_CS_DONE && !written) {
        char p[4200];
        struct stat sb;
        if (ff_store_chunk_path(c->store, j->id, ch->idx, ".frames", p, sizeof p, err)) return FF_ERR_IO;
        if (coord_job_active(j) && stat(p, &sb) != 0) {
            ch->state = FF_CS_QUEUED;
            coord_chunk_save(c, j, ch, "frames file %s is missing after a restart: queued again", p);
        }
    }
    if (ch->state == FF_CS_QUEUED) j->n_queued++;
    if (ch->state == FF_CS_DONE) j->n_done++;
    return FF_OK;
}

static ff_status open_roots(ff_coord *c, ff_err *err) {
    ff_status st;
    if (c->o.n_output_roots) {
        st = ff_outroot_create(c->o.output_roots, c->o.n_output_roots, &c->roots, err);
        c->o.output_roots = NULL; /* the caller's array: resolved into c->roots */
        return st;
    }
    char def[4200];
    if (snprintf(def, sizeof def, "%s/outputs", c->o.state_dir) >= (int)sizeof def)
        return ff_err_set(err, FF_ERR_ARG, "state dir path too long");
    if (mkdir(def, 0777) && errno != EEXIST) return ff_err_set(err, FF_ERR_IO, "mkdir %s: %s", def, strerror(errno));
    const char *one[1] = {def};
    st = ff_outroot_create(one, 1, &c->roots, err);
    return st;
}

ff_status ff_coord_open(const ff_coord_opts *o, double now, ff_coord **out, ff_err *err) {
    if (!o->send || !o->state_dir) return ff_err_set(err, FF_ERR_ARG, "coordinator: state_dir and send are required");
    ff_coord *c = calloc(1, sizeof *c);
    if (!c) return ff_err_set(err, FF_ERR_NOMEM, "coordinator: out of memory");
    c->o = *o;
    if (c->o.worker_timeout_s <= 0) c->o.worker_timeout_s = 10;
    if (!c->o.max_job_chunks) c->o.max_job_chunks = FF_COORD_MAX_JOB_CHUNKS_DEFAULT;
    if (!c->o.max_queued_chunks) c->o.max_queued_chunks = FF_COORD_MAX_QUEUED_CHUNKS_DEFAULT;
    if (!c->o.keep_jobs) c->o.keep_jobs = FF_COORD_KEEP_JOBS_DEFAULT;
    if (c->o.progress_timeout_s <= 0) c->o.progress_timeout_s = FF_COORD_PROGRESS_TIMEOUT_DEFAULT;
    if (!c->o.quarantine_after) c->o.quarantine_after = FF_COORD_QUARANTINE_AFTER_DEFAULT;
    c->orphan_until = now + c->o.worker_timeout_s; /* workers that kept results re-register within it */
    c->mono0 = now;
    c->wall0 = (double)time(NULL);
    ff_status st = ff_store_open(o->state_dir, &c->store, err);
    if (!st) st = open_roots(c, err);
    if (!st) st = ff_bgwork_start(&c->bg, err);
    if (st) {
        ff_coord_close(c);
        return st;
    }
    c->next_seq = ff_store_boot(c->store) << 40;
    load_ctx lc = {c, NULL, 0, now};
    if (!st) st = ff_store_begin(c->store, err);
    if (!st) st = ff_store_load(c->store, load_job, load_chunk, &lc, err);
    if (!st) st = ff_store_commit(c->store, err);
    if (st) {
        ff_coord_close(c);
        return st;
    }
    for (size_t i = 0; i < c->n_jobs; i++) {
        job *j = c->jobs[i];
        for (uint32_t k = 0; j->item_st && k < j->n_chunks; k++)
            if (j->chunks[k].state == FF_CS_DONE) coord_items_chunk_done(j, &j->chunks[k]); /* due, not yet written */
        if (coord_job_active(j) && j->item_st && j->n_written == j->n_items) { /* stopped after its last video */
            coord_job_finish(c, j, FF_CS_DONE, now);
            c->st.jobs_done++;
        }
        if (coord_job_active(j)) c->st.jobs_active++;
    }
    FF_INFO(c->o.log, "state %s: %zu jobs (%d active), boot %llu; videos go under %s%s", o->state_dir, c->n_jobs,
            c->st.jobs_active, (unsigned long long)ff_store_boot(c->store), ff_outroot_at(c->roots, 0),
            ff_outroot_count(c->roots) > 1 ? " and more roots" : "");
    *out = c;
    return FF_OK;
}

void ff_coord_close(ff_coord *c) {
    if (!c) return;
    ff_bgwork_stop(c->bg); /* first: its tasks read c->roots */
    for (size_t i = 0; i < c->n_jobs; i++) coord_job_free(c->jobs[i]);
    free(c->jobs);
    for (size_t i = 0; i < c->n_workers; i++) {
        free(c->workers[i]->loaded_model);
        free(c->workers[i]);
    }
    free(c->workers);
    ff_outroot_free(c->roots);
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
    for (size_t i = 0; i < c->n_jobs; i++) s->jobs_active += coord_job_active(c->jobs[i]);
}

void ff_coord_get_counts(const ff_coord *c, ff_coord_counts *k) {
    memset(k, 0, sizeof *k);
    for (size_t i = 0; i < c->n_jobs; i++) {
        const job *j = c->jobs[i];
        k->jobs[j->state]++;
        for (uint32_t n = 0; n < j->n_chunks; n++) k->chunks[j->chunks[n].state]++;
    }
    for (size_t i = 0; i < c->n_workers; i++) {
        const worker *w = c->workers[i];
        if (w->task_id) k->workers_busy++;
        else if (w->draining) k->workers_cancelling++;
        else if (w->quarantined) k->workers_quarantined++;
        else k->workers_idle++;
    }
}

ff_status ff_coord_job_state(const ff_coord *c, uint64_t id, ff_cstate *state, const char **error, ff_err *err) {
    job *j = coord_find_job(c, id);
    if (!j) return ff_err_set(err, FF_ERR_NOT_FOUND, "no job %llu", (unsigned long long)id);
    *state = j->state;
    if (error) *error = j->error;
    return FF_OK;
}

/* ---- messages ---------------------------------------------------------------------- */

ff_status ff_coord_handle(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    worker *w = coord_find_worker(c, rid, len);
    if (w) w->last_seen = now;
    switch (env->body_case) {
    case FF__ENVELOPE__BODY_HEARTBEAT: return on_heartbeat(c, rid, len, env->heartbeat, env->request_id, now, err);
    case FF__ENVELOPE__BODY_SUBMIT: return coord_on_submit(c, rid, len, env, now, err);
    case FF__ENVELOPE__BODY_STATUS: return coord_on_status(c, rid, len, env, now, err);
    case FF__ENVELOPE__BODY_WORKERS: return coord_on_workers(c, rid, len, env, now, err);
    case FF__ENVELOPE__BODY_CANCEL: return coord_on_cancel(c, rid, len, env, now, err);
    case FF__ENVELOPE__BODY_CONTROL: return coord_on_control(c, rid, len, env, now, err);
    case FF__ENVELOPE__BODY_LOGS: return coord_on_logs(c, rid, len, env, now, err);
    case FF__ENVELOPE__BODY_PROGRESS:
    case FF__ENVELOPE__BODY_FRAMES:
    case FF__ENVELOPE__BODY_DONE:
    case FF__ENVELOPE__BODY_FAILED:
        if (!w) {
            c->st.refused++;
            FF_WARN(c->o.log, "refused a %s message from an unregistered peer", ff_wire_body_name(env->body_case));
            return coord_send_error(c, rid, len, FF__ERROR__CODE__INVALID, env->request_id,
                                    "%s from an unknown worker: send a heartbeat first", ff_wire_body_name(env->body_case));
        }
        if (env->body_case == FF__ENVELOPE__BODY_PROGRESS) {
            coord_on_progress(c, w, env->progress, now);
            return FF_OK;
        }
        if (env->body_case == FF__ENVELOPE__BODY_FRAMES) return coord_on_frames(c, w, env->frames, now, err);
        if (env->body_case == FF__ENVELOPE__BODY_DONE) return coord_on_done(c, w, env->done, now, err);
        return coord_on_failed(c, w, env->failed, now);
    default:
        c->st.refused++;
        FF_WARN(c->o.log, "refused an unexpected '%s' message (a coordinator does not take it)",
                ff_wire_body_name(env->body_case));
        return coord_send_error(c, rid, len, FF__ERROR__CODE__INVALID, env->request_id,
                                "unexpected '%s' message: a coordinator does not take it", ff_wire_body_name(env->body_case));
    }
}

/* ---- timers and dispatch ---------------------------------------------------------------- */

/* Active, unpaused jobs with queued chunks, best first: highest priority,
 * then the oldest (lowest id). */
static int by_rank(const void *a, const void *b) {
    const job *x = *(job *const *)a, *y = *(job *const *)b;
    if (x->spec->priority != y->spec->priority) return x->spec->priority > y->spec->priority ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static size_t ranked_jobs(ff_coord *c, job ***out) {
    size_t n = 0;
    for (size_t i = 0; i < c->n_jobs; i++) {
        job *j = c->jobs[i];
        n += coord_job_active(j) && j->n_queued && !j->paused;
    }
    if (!n) return 0;
    job **r = malloc(n * sizeof *r);
    if (!r) return 0; /* dispatch waits for the next tick */
    n = 0;
    for (size_t i = 0; i < c->n_jobs; i++) {
        job *j = c->jobs[i];
        if (coord_job_active(j) && j->n_queued && !j->paused) r[n++] = j;
    }
    qsort(r, n, sizeof *r, by_rank);
    *out = r;
    return n;
}

/* The first queued chunk of j, skipping those on hold (retry backoff, a
 * result awaited after a restart) and (with avoid) those that last failed
 * on w; at most 256 queued chunks are looked at. */
chunk *coord_pick_chunk(job *j, const worker *w, int avoid, double now) {
    int seen = 0;
    int first = -1;
    for (uint32_t i = j->scan_from; i < j->n_chunks && seen < 256; i++) {
        chunk *ch = &j->chunks[i];
        if (ch->state != FF_CS_QUEUED) continue;
        if (first < 0) first = (int)i;
        seen++;
        if (ch->hold_until > now) continue;
        if ((!avoid || ch->avoid != w->serial) && coord_chunk_ready(j, ch)) {
            j->scan_from = (uint32_t)first;
            return ch;
        }
    }
    if (first >= 0) j->scan_from = (uint32_t)first;
    else if (j->scan_from < j->n_chunks && !seen) j->n_queued = 0; /* cannot happen; keep the scheduler from spinning */
    return NULL;
}

static ff_status dispatch(ff_coord *c, worker *w, job *j, chunk *ch, double now) {
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
    Ff__JobSpec cont; /* image to video: a later window starts from the last frame of the one before */
    uint8_t *cont_px = NULL;
    ff_err se;
    if (coord_i2v_task_spec(c, j, ch, &cont, &cont_px, &se)) { /* the coordinator's own file: no retry helps */
        coord_job_fail(c, j, now, se.msg);
        return FF_OK;
    }
    if (cont_px) t.spec = &cont;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_TASK;
    env.task = &t;
    ff_status sent = c->o.send(c->o.user, w->id, strlen(w->id), &env, &se);
    free(cont_px);
    if (sent) {
        FF_DEBUG(c->o.log, "task for %s not sent: %s", w->id, se.msg);
        return FF_ERR_IO; /* the caller drops the worker */
    }
    ch->state = FF_CS_RUNNING;
    ch->task_id = task;
    ch->w = w;
    ch->started = ch->last_progress = now;
    ch->began = ch->checking = 0;
    ch->stage = 0;
    ch->done = ch->total = 0;
    ch->frames_recv = 0;
    ch->dispatches++;
    ch->last_task = task;
    if (ch->orphan) c->n_orphans--;
    ch->orphan = 0;
    ch->started_w = coord_wall(c, now);
    ch->finished_w = 0;
    snprintf(ch->last_worker, sizeof ch->last_worker, "%s", w->id);
    j->n_queued--;
    w->task_id = task;
    w->j = j;
    w->ch = ch;
    w->assigned_at = now;
    c->st.dispatched++;
    if (!j->started) j->started = coord_wall(c, now);
    if (j->state == FF_CS_QUEUED) {
        j->state = FF_CS_RUNNING;
        coord_job_save(c, j, now);
    }
    coord_chunk_save(c, j, ch, NULL);
    return FF_OK;
}

/* The no-progress limit of a running chunk of j (coord.h). */
static double progress_limit(const ff_coord *c, const job *j) {
    if (j->spec->chunk_timeout_s > 0) return j->spec->chunk_timeout_s;
    double l = 10.0 * j->max_gap;
    return l > c->o.progress_timeout_s ? l : c->o.progress_timeout_s;
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
    /* running chunks without progress (one per busy worker) */
    for (size_t i = 0; i < c->n_workers; i++) {
        worker *w = c->workers[i];
        chunk *ch = w->ch;
        job *j = w->j;
        if (!ch || !j || ch->state != FF_CS_RUNNING) continue;
        double limit = progress_limit(c, j), idle = now - ch->last_progress;
        if (idle <= limit) continue;
        uint64_t task = ch->task_id;
        char why[200];
        snprintf(why, sizeof why, "no progress for %.0f s (limit %.0f s: %s)", idle, limit,
                 j->spec->chunk_timeout_s > 0 ? "the job's chunk_timeout_s"
                                              : "10x the job's slowest step, at least --progress-timeout");
        coord_chunk_attempt_failed(c, j, ch, now, why);
        coord_send_cancel(c, w, task);
    }
    background(c, now);
    prune(c, now);
    if (c->n_orphans && now >= c->orphan_until) coord_orphans_expire(c); /* the wait after a restart is over */
    /* dispatch: first each idle worker gets a chunk that did not fail on it, then what is left goes to anyone */
    job **ranked = NULL;
    size_t nr = ranked_jobs(c, &ranked);
    for (int pass = 0; pass < 2 && nr; pass++) {
        for (size_t i = 0; i < c->n_workers;) {
            worker *w = c->workers[i];
            job *j = NULL;
            chunk *ch = NULL;
            for (size_t k = 0; !ch && !w->task_id && !w->draining && !w->quarantined && k < nr; k++) {
                j = ranked[k];
                if (!j->n_queued || !coord_job_active(j) || (j->spec->device_budget > 0 && w->device_bytes < j->spec->device_budget))
                    continue;
                ch = coord_pick_chunk(j, w, pass == 0, now);
            }
            if (ch && dispatch(c, w, j, ch, now) == FF_ERR_IO) {
                worker_remove(c, i, now, "is unreachable (the task could not be sent)");
                continue;
            }
            i++;
        }
    }
    free(ranked);
    (void)err;
    return FF_OK;
}

ff_status ff_coord_sync_background(ff_coord *c, double now, ff_err *err) {
    (void)err;
    background(c, now); /* starts what is due */
    ff_bgwork_wait_idle(c->bg);
    background(c, now);
    return FF_OK;
}
