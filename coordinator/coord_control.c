/* coord_control: what operators do to the queue (coord.h, "Operators") —
 * retry, priority, pause/resume, a job's logs — and results that workers
 * kept across a coordinator restart (coord.h, "Results kept by workers").
 * Every verb is logged and answered with the job's status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coordinator/coord_internal.h"
#include "proto/ff_jobspec.h"

/* ---- results kept by workers ------------------------------------------------------- */

/* The queued chunk that was running as `task` before a restart (NULL: none). */
static chunk *find_orphan(ff_coord *c, uint64_t task, job **jo) {
    for (size_t i = 0; i < c->n_jobs; i++) {
        job *j = c->jobs[i];
        if (!coord_job_active(j)) continue;
        for (uint32_t k = 0; k < j->n_chunks; k++) {
            chunk *ch = &j->chunks[k];
            if (ch->orphan && ch->last_task == task && ch->state == FF_CS_QUEUED) {
                *jo = j;
                return ch;
            }
        }
    }
    return NULL;
}

void coord_orphans_expire(ff_coord *c) {
    for (size_t i = 0; i < c->n_jobs; i++)
        for (uint32_t k = 0; k < c->jobs[i]->n_chunks; k++) c->jobs[i]->chunks[k].orphan = 0;
    c->n_orphans = 0;
}

void coord_orphans_not_held(ff_coord *c, const worker *w, uint64_t held) {
    if (!c->n_orphans) return;
    for (size_t i = 0; i < c->n_jobs; i++) {
        job *j = c->jobs[i];
        if (!coord_job_active(j)) continue;
        for (uint32_t k = 0; k < j->n_chunks; k++) {
            chunk *ch = &j->chunks[k];
            if (ch->orphan && ch->last_task != held && !strcmp(ch->last_worker, w->id)) {
                ch->orphan = 0;
                ch->hold_until = 0;
                c->n_orphans--;
            }
        }
    }
}

int coord_on_held(ff_coord *c, worker *w, uint64_t task, int busy_with, double now) {
    job *j = NULL;
    if (!c->n_orphans) {
        if (!busy_with) coord_send_ack(c, w, task, 0);
        return 0;
    }
    chunk *ch = find_orphan(c, task, &j);
    if (busy_with) /* still rendering it: not cancelled while the chunk waits (worker_timeout_s after the restart) */
        return ch != NULL;
    if (!ch) { /* nobody waits for it (taken already, or its job ended): the worker may forget it */
        coord_send_ack(c, w, task, 0);
        return 0;
    }
    if (w->task_id || w->draining) return 1; /* asked for once the worker is free */
    /* adopt: the chunk runs on w as `task`; the result comes again and is checked like any */
    ch->state = FF_CS_RUNNING;
    j->n_queued--;
    ch->task_id = task;
    ch->w = w;
    ch->started = ch->last_progress = now;
    ch->began = 1;
    ch->checking = 0;
    ch->stage = 2;
    ch->done = ch->total = 0;
    ch->frames_recv = 0;
    ch->orphan = 0;
    c->n_orphans--;
    ch->hold_until = 0;
    w->task_id = task;
    w->j = j;
    w->ch = ch;
    w->assigned_at = now;
    if (j->state == FF_CS_QUEUED) {
        j->state = FF_CS_RUNNING;
        coord_job_save(c, j, now);
    }
    FF_INFO(c->o.log, "job %llu chunk %u: worker %s kept its result (task %llx) across the restart: taking it",
            (unsigned long long)j->id, ch->idx, w->id, (unsigned long long)task);
    coord_chunk_save(c, j, ch, "worker %s (%s) kept its result across the coordinator restart: sent again", w->id, w->name);
    coord_send_ack(c, w, task, 1);
    return 1;
}

/* ---- operators' verbs --------------------------------------------------------------- */

/* Failed and cancelled chunks queued again with their attempts reset; a
 * done chunk whose item is not written and whose frames are gone too; an
 * item whose chunks are all done but whose video failed is written again. */
static uint32_t job_retry(ff_coord *c, job *j, double now) {
    uint32_t n = 0;
    for (uint32_t k = 0; k < j->n_chunks; k++) {
        chunk *ch = &j->chunks[k];
        int again = ch->state == FF_CS_FAILED || ch->state == FF_CS_CANCELLED;
        if (ch->state == FF_CS_DONE && ch->item < j->n_items && j->item_st[ch->item] != ITEM_WRITTEN) {
            char p[4200];
            struct stat sb;
            ff_err e;
            if (!ff_store_chunk_path(c->store, j->id, ch->idx, ".frames", p, sizeof p, &e) && stat(p, &sb) != 0) {
                again = 1;
                j->n_done--;
            }
        }
        if (!again) continue;
        ch->attempts = 0;
        ch->unstarted = 0;
        ch->avoid = 0;
        ch->hold_until = 0;
        coord_chunk_queue(c, j, ch);
        coord_chunk_save(c, j, ch, "queued again by an operator (framefarm retry)");
        n++;
    }
    for (uint32_t k = 0; k < j->n_chunks; k++) /* an item whose video could not be written is due again */
        if (j->chunks[k].state == FF_CS_DONE) coord_items_chunk_done(j, &j->chunks[k]);
    return n;
}

ff_status coord_on_control(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    const Ff__JobControl *k = env->control;
    job *j = coord_find_job(c, k->job_id);
    if (!j)
        return coord_send_error(c, rid, len, FF__ERROR__CODE__NOT_FOUND, env->request_id, "no job %llu",
                                (unsigned long long)k->job_id);
    if (!j->item_st) /* its stored spec no longer passes the checks */
        return coord_send_error(c, rid, len, FF__ERROR__CODE__INVALID, env->request_id,
                                "job %llu cannot be changed: its spec no longer passes this coordinator's checks",
                                (unsigned long long)j->id);
    ff_err e2;
    switch (k->op) {
    case FF__JOB_CONTROL__OP__RETRY: {
        if (j->state == FF_CS_DONE)
            return coord_send_error(c, rid, len, FF__ERROR__CODE__INVALID, env->request_id,
                                    "job %llu is done: nothing to retry", (unsigned long long)j->id);
        uint32_t n = job_retry(c, j, now);
        if (!coord_job_active(j) && (n || j->n_due || j->n_written < j->n_items)) {
            c->n_finished--;
            free(j->error);
            j->error = NULL;
            j->finished = 0;
            j->state = j->n_done ? FF_CS_RUNNING : FF_CS_QUEUED;
            coord_job_save(c, j, now);
        }
        FF_INFO(c->o.log, "job %llu: %u chunk%s queued again (retry)", (unsigned long long)j->id, n, n == 1 ? "" : "s");
        break;
    }
    case FF__JOB_CONTROL__OP__PRIORITY:
        if (k->priority < -1000000 || k->priority > 1000000)
            return coord_send_error(c, rid, len, FF__ERROR__CODE__INVALID, env->request_id,
                                    "priority %d: must be in -1000000..1000000", k->priority);
        j->spec->priority = k->priority;
        if (ff_store_job_spec(c->store, j->id, j->spec, &e2)) FF_WARN(c->o.log, "%s", e2.msg);
        FF_INFO(c->o.log, "job %llu: priority %d", (unsigned long long)j->id, k->priority);
        break;
    case FF__JOB_CONTROL__OP__PAUSE:
    case FF__JOB_CONTROL__OP__RESUME:
        j->paused = k->op == FF__JOB_CONTROL__OP__PAUSE;
        if (ff_store_job_paused(c->store, j->id, j->paused, &e2)) FF_WARN(c->o.log, "%s", e2.msg);
        FF_INFO(c->o.log, "job %llu %s", (unsigned long long)j->id,
                j->paused ? "paused (running chunks finish, nothing new starts)" : "resumed");
        break;
    default:
        return coord_send_error(c, rid, len, FF__ERROR__CODE__INVALID, env->request_id, "control: unknown op %d", k->op);
    }
    return coord_reply_job(c, rid, len, env->request_id, j, now, err);
}

/* ---- logs ---------------------------------------------------------------------------- */

/* Appends "== chunk N ==\n<log>" pieces, keeping the last FF_COORD_LOGS_REPLY_MAX bytes. */
ff_status coord_on_logs(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    (void)now;
    const Ff__LogsQuery *q = env->logs;
    job *j = coord_find_job(c, q->job_id);
    if (!j)
        return coord_send_error(c, rid, len, FF__ERROR__CODE__NOT_FOUND, env->request_id, "no job %llu",
                                (unsigned long long)q->job_id);
    if (q->has_chunk && q->chunk >= j->n_chunks)
        return coord_send_error(c, rid, len, FF__ERROR__CODE__NOT_FOUND, env->request_id, "job %llu has no chunk %u (%u chunks)",
                                (unsigned long long)j->id, q->chunk, j->n_chunks);
    size_t cap = FF_COORD_LOGS_REPLY_MAX;
    char *buf = malloc(cap + 1);
    if (!buf) return ff_err_set(err, FF_ERR_NOMEM, "logs: out of memory");
    size_t n = 0;
    int truncated = 0;
    uint32_t from = q->has_chunk ? q->chunk : 0, to = q->has_chunk ? q->chunk + 1 : j->n_chunks;
    for (uint32_t k = from; k < to; k++) {
        const chunk *ch = &j->chunks[k];
        if (!q->has_chunk && (!ch->log || !ch->log[0])) continue;
        char head[160];
        int hn = snprintf(head, sizeof head, "== job %llu chunk %u (item %u, %s, worker %s) ==\n", (unsigned long long)j->id,
                          ch->idx, ch->item, ff_cstate_name(ch->state), ch->last_worker[0] ? ch->last_worker : "-");
        const char *pieces[2] = {head, ch->log ? ch->log : ""};
        size_t lens[2] = {(size_t)hn, ch->log ? strlen(ch->log) : 0};
        for (int p = 0; p < 2; p++) {
            size_t l = lens[p];
            const char *s = pieces[p];
            if (l > cap) { /* keep the end */
                s += l - cap;
                l = cap;
                truncated = 1;
            }
            if (n + l > cap) { /* drop the oldest bytes */
                size_t drop = n + l - cap;
                memmove(buf, buf + drop, n - drop);
                n -= drop;
                truncated = 1;
            }
            memcpy(buf + n, s, l);
            n += l;
        }
    }
    buf[n] = 0;
    Ff__LogsReply lr = FF__LOGS_REPLY__INIT;
    lr.text = buf;
    lr.has_truncated = 1;
    lr.truncated = truncated;
    Ff__Envelope out = FF__ENVELOPE__INIT;
    out.has_request_id = 1;
    out.request_id = env->request_id;
    out.body_case = FF__ENVELOPE__BODY_LOGS_REPLY;
    out.logs_reply = &lr;
    ff_err se;
    if (c->o.send(c->o.user, rid, len, &out, &se)) FF_DEBUG(c->o.log, "logs reply not sent: %s", se.msg);
    free(buf);
    return FF_OK;
}
