/* coord_status: the replies clients get — status (a page of the job list,
 * or one job with its counts and a page of its chunks and outputs),
 * workers, cancel — each bounded (coord.h, "Bounded"), so a reply never
 * grows with the number of jobs, chunks or the length of their errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_internal.h"
#include "proto/ff_jobspec.h"

static double chunk_progress(const chunk *ch) {
    if (ch->state == FF_CS_DONE) return 1.0;
    if (ch->state != FF_CS_RUNNING || ch->total <= 0) return 0.0;
    double f = (double)ch->done / (double)ch->total;
    return ch->stage == 0 ? 0.02 * f : ch->stage == 1 ? 0.02 + 0.88 * f : 0.9 + 0.1 * f;
}

/* Fills s from j; error_max bytes of its error at most (the list view). wall: now, wall clock. */
static void fill_job_status(const job *j, Ff__JobStatus *s, size_t error_max, char *error_buf, double wall) {
    ff__job_status__init(s);
    s->has_job_id = s->has_priority = s->has_chunks_total = s->has_chunks_done = s->has_progress = 1;
    s->has_chunks_queued = s->has_chunks_running = s->has_chunks_failed = s->has_chunks_cancelled = 1;
    s->has_outputs_total = 1;
    s->job_id = j->id;
    int writing_last = coord_job_active(j) && j->n_chunks && j->n_done == j->n_chunks; /* only videos left to write */
    s->state = (char *)(writing_last ? "assembling" : ff_cstate_name(j->state));
    s->has_paused = s->has_outputs_written = s->has_max_attempts = 1;
    s->paused = j->paused != 0;
    s->outputs_written = (int32_t)j->n_written;
    s->max_attempts = j->spec->max_attempts;
    s->has_retry_backoff_s = j->spec->has_retry_backoff_s;
    s->retry_backoff_s = j->spec->retry_backoff_s;
    s->name = j->spec->name;
    s->priority = j->spec->priority;
    s->chunks_total = (int32_t)j->n_chunks;
    s->chunks_done = (int32_t)j->n_done;
    s->outputs_total = (int32_t)ff_jobspec_items(j->spec);
    if (j->error && strlen(j->error) > error_max) {
        memcpy(error_buf, j->error, error_max);
        error_buf[error_max] = 0;
        s->error = error_buf;
        s->has_error_truncated = s->error_truncated = 1;
    } else {
        s->error = j->error;
    }
    double p = 0;
    int32_t by[FF_CS_COUNT] = {0};
    for (uint32_t i = 0; i < j->n_chunks; i++) {
        p += chunk_progress(&j->chunks[i]);
        if ((unsigned)j->chunks[i].state < FF_CS_COUNT) by[j->chunks[i].state]++;
    }
    s->chunks_queued = by[FF_CS_QUEUED];
    s->chunks_running = by[FF_CS_RUNNING];
    s->chunks_failed = by[FF_CS_FAILED];
    s->chunks_cancelled = by[FF_CS_CANCELLED];
    s->progress = j->state == FF_CS_DONE ? 1.0 : j->n_chunks ? p / j->n_chunks : 0;
    if (j->assembly || writing_last) { /* frames written over all the job's videos */
        s->has_assembled_frames = s->has_assemble_frames = 1;
        s->assembled_frames = (int64_t)j->n_written * j->spec->frames + (j->assembly ? atomic_load(&j->assembly->done) : 0);
        s->assemble_frames = (int64_t)j->n_items * j->spec->frames;
    }
    /* times (wall clock): submitted, first dispatch, finished; elapsed; an ETA from the progress so far */
    int active = coord_job_active(j);
    double end = active ? wall : j->finished;
    s->has_submitted_at = s->has_elapsed_s = 1;
    s->submitted_at = j->submitted;
    s->elapsed_s = end > j->submitted ? end - j->submitted : 0;
    s->has_started_at = j->started > 0;
    s->started_at = j->started;
    s->has_finished_at = !active && j->finished > 0;
    s->finished_at = j->finished;
    if (active && j->started > 0 && s->progress > 0.001 && wall > j->started) {
        s->has_eta_s = 1;
        s->eta_s = (wall - j->started) * (1.0 - s->progress) / s->progress;
    }
}

static void send_reply(ff_coord *c, const void *rid, size_t len, uint64_t req, Ff__StatusReply *sr) {
    Ff__Envelope out = FF__ENVELOPE__INIT;
    out.has_request_id = 1;
    out.request_id = req;
    out.body_case = FF__ENVELOPE__BODY_STATUS_REPLY;
    out.status_reply = sr;
    ff_err se;
    if (c->o.send(c->o.user, rid, len, &out, &se)) FF_DEBUG(c->o.log, "status reply not sent: %s", se.msg);
}

/* One job: counts, a page of chunks, a page of outputs. */
static ff_status status_one(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, const job *j, double now,
                            ff_err *err) {
    const Ff__StatusQuery *q = env->status;
    uint32_t coff = q->has_chunk_offset ? q->chunk_offset : 0;
    uint32_t climit = q->has_chunk_limit ? q->chunk_limit : FF_COORD_STATUS_CHUNKS_DEFAULT;
    if (climit > FF_COORD_STATUS_CHUNKS_MAX) climit = FF_COORD_STATUS_CHUNKS_MAX;
    size_t nch = coff < j->n_chunks ? j->n_chunks - coff : 0;
    if (nch > climit) nch = climit;
    /* outputs: the videos written (items from output_offset on), a page of them */
    size_t ooff = q->has_output_offset ? q->output_offset : 0, nout = 0;
    for (size_t i = ooff; j->item_st && i < j->n_items && nout < FF_COORD_STATUS_OUTPUTS_MAX; i++)
        nout += j->item_st[i] == ITEM_WRITTEN;
    Ff__JobStatus js;
    Ff__JobStatus *jsp = &js;
    Ff__ChunkStatus *cs = calloc(nch ? nch : 1, sizeof *cs);
    Ff__ChunkStatus **csp = calloc(nch ? nch : 1, sizeof *csp);
    char **outs = calloc(nout ? nout : 1, sizeof *outs);
    uint32_t *oitems = calloc(nout ? nout : 1, sizeof *oitems);
    char *ebuf = malloc(FF_COORD_JOB_ERROR_MAX + 1);
    ff_status st = cs && csp && outs && oitems && ebuf ? FF_OK : ff_err_set(err, FF_ERR_NOMEM, "status: out of memory");
    if (!st) {
        fill_job_status(j, &js, FF_COORD_JOB_ERROR_MAX, ebuf, coord_wall(c, now));
        char settings[256];
        js.settings = (char *)ff_jobspec_settings(j->spec, settings, sizeof settings);
        for (size_t k = 0; k < nch; k++) {
            const chunk *ch = &j->chunks[coff + k];
            Ff__ChunkStatus *x = &cs[k];
            ff__chunk_status__init(x);
            x->has_chunk = x->has_item = x->has_attempts = x->has_stage = x->has_done = x->has_total = 1;
            x->has_lat_start = x->has_lat_count = x->has_dispatches = x->has_completions = 1;
            x->chunk = ch->idx;
            x->item = ch->item;
            x->state = (char *)ff_cstate_name(ch->state);
            x->attempts = ch->attempts;
            x->worker = ch->w ? ch->w->id : NULL;
            x->stage = ch->stage;
            x->done = ch->done;
            x->total = ch->total;
            x->lat_start = ch->lat_start;
            x->lat_count = ch->lat_count;
            x->dispatches = ch->dispatches;
            x->completions = ch->completions;
            x->last_worker = ch->last_worker[0] ? (char *)ch->last_worker : NULL;
            x->has_started_at = ch->started_w > 0;
            x->started_at = ch->started_w;
            x->has_finished_at = ch->state == FF_CS_DONE && ch->finished_w > 0;
            x->finished_at = ch->finished_w;
            if (ch->state == FF_CS_QUEUED && ch->hold_until > now) {
                x->has_retry_at = 1;
                x->retry_at = coord_wall(c, ch->hold_until);
            }
            csp[k] = x;
        }
        js.n_chunks = nch;
        js.chunks = csp;
        js.has_chunk_offset = js.has_output_offset = 1;
        js.chunk_offset = coff;
        js.output_offset = (uint32_t)ooff;
        size_t got = 0;
        for (size_t i = ooff; got < nout && i < j->n_items; i++) {
            if (j->item_st[i] != ITEM_WRITTEN) continue;
            char p[4200];
            ff_err e2;
            if (!coord_item_output(j, i, p, sizeof p, &e2)) outs[got] = strdup(p);
            if (!outs[got]) outs[got] = strdup("?");
            oitems[got++] = (uint32_t)i;
        }
        js.n_outputs = got;
        js.outputs = outs;
        js.n_output_items = got;
        js.output_items = oitems;
        Ff__StatusReply sr = FF__STATUS_REPLY__INIT;
        sr.n_jobs = 1;
        sr.jobs = &jsp;
        sr.has_jobs_total = 1;
        sr.jobs_total = (int32_t)c->n_jobs;
        send_reply(c, rid, len, env->request_id, &sr);
    }
    for (size_t i = 0; outs && i < nout; i++) free(outs[i]);
    free(outs);
    free(oitems);
    free(cs);
    free(csp);
    free(ebuf);
    return st;
}

/* A page of the job list: ids above after_job, or (newest_first) below it,
 * newest first; errors cut short. */
static ff_status status_list(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    const Ff__StatusQuery *q = env->status;
    uint64_t after = q->has_after_job ? q->after_job : 0;
    int newest = q->has_newest_first && q->newest_first;
    size_t limit = q->has_job_limit && q->job_limit ? q->job_limit : FF_COORD_STATUS_JOBS_MAX;
    if (limit > FF_COORD_STATUS_JOBS_MAX) limit = FF_COORD_STATUS_JOBS_MAX;
    size_t lo = 0, hi = c->n_jobs; /* the first job with id > after (newest first: >= after) */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (newest ? c->jobs[mid]->id < after : c->jobs[mid]->id <= after) lo = mid + 1;
        else hi = mid;
    }
    size_t avail = newest ? (after ? lo : c->n_jobs) : c->n_jobs - lo; /* jobs on the requested side */
    size_t n = avail < limit ? avail : limit;
    Ff__JobStatus *js = calloc(n ? n : 1, sizeof *js);
    Ff__JobStatus **jsp = calloc(n ? n : 1, sizeof *jsp);
    char *ebuf = malloc((n ? n : 1) * (FF_COORD_LIST_ERROR_MAX + 1));
    if (!js || !jsp || !ebuf) {
        free(js);
        free(jsp);
        free(ebuf);
        return ff_err_set(err, FF_ERR_NOMEM, "status: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const job *j = newest ? c->jobs[avail - 1 - i] : c->jobs[lo + i];
        fill_job_status(j, &js[i], FF_COORD_LIST_ERROR_MAX, ebuf + i * (FF_COORD_LIST_ERROR_MAX + 1), coord_wall(c, now));
        jsp[i] = &js[i];
    }
    Ff__StatusReply sr = FF__STATUS_REPLY__INIT;
    sr.n_jobs = n;
    sr.jobs = jsp;
    sr.has_jobs_total = sr.has_more = 1;
    sr.jobs_total = (int32_t)c->n_jobs;
    sr.more = n < avail;
    send_reply(c, rid, len, env->request_id, &sr);
    free(js);
    free(jsp);
    free(ebuf);
    return FF_OK;
}

ff_status coord_on_status(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    uint64_t want = env->status->has_job_id ? env->status->job_id : 0;
    if (!want) return status_list(c, rid, len, env, now, err);
    job *j = coord_find_job(c, want);
    if (!j)
        return coord_send_error(c, rid, len, FF__ERROR__CODE__NOT_FOUND, env->request_id, "no job %llu%s",
                                (unsigned long long)want,
                                want <= (c->n_jobs ? c->jobs[c->n_jobs - 1]->id : 0)
                                    ? " (finished jobs are forgotten after a while: coordinator --keep-jobs, --keep-age)"
                                    : "");
    return status_one(c, rid, len, env, j, now, err);
}

ff_status coord_reply_job(ff_coord *c, const void *rid, size_t len, uint64_t req, const job *j, double now, ff_err *err) {
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    q.has_job_id = 1;
    q.job_id = j->id;
    Ff__Envelope as = FF__ENVELOPE__INIT;
    as.has_request_id = 1;
    as.request_id = req;
    as.body_case = FF__ENVELOPE__BODY_STATUS;
    as.status = &q;
    return status_one(c, rid, len, &as, j, now, err);
}

ff_status coord_on_workers(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    const char *rel = env->workers->release;
    if (rel) { /* an operator releases a quarantined worker */
        worker *w = coord_find_worker(c, rel, strlen(rel));
        if (!w)
            return coord_send_error(c, rid, len, FF__ERROR__CODE__NOT_FOUND, env->request_id,
                                    "no worker %s (framefarm workers lists them)", rel);
        if (w->quarantined) FF_INFO(c->o.log, "worker %s (%s) released from quarantine by an operator", w->id, w->name);
        w->quarantined = 0;
        w->fails_in_row = 0;
    }
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
        ws[i].state = w->task_id ? "busy" : w->draining ? "cancelling" : w->quarantined ? "quarantined" : "idle";
        ws[i].has_quarantined = ws[i].has_failures_in_a_row = 1;
        ws[i].quarantined = w->quarantined != 0;
        ws[i].failures_in_a_row = w->fails_in_row;
        ws[i].task_id = w->task_id;
        ws[i].last_seen_s = now - w->last_seen;
        ws[i].tasks_done = w->tasks_done;
        ws[i].loaded_model = w->loaded_model;
        if (w->task_id && w->j && w->ch) {
            ws[i].has_job_id = ws[i].has_chunk = 1;
            ws[i].job_id = w->j->id;
            ws[i].chunk = w->ch->idx;
        }
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

ff_status coord_on_cancel(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    if (!env->cancel->has_job_id || !env->cancel->job_id)
        return coord_send_error(c, rid, len, FF__ERROR__CODE__INVALID, env->request_id, "cancel: give a job id");
    job *j = coord_find_job(c, env->cancel->job_id);
    if (!j)
        return coord_send_error(c, rid, len, FF__ERROR__CODE__NOT_FOUND, env->request_id, "no job %llu",
                                (unsigned long long)env->cancel->job_id);
    if (coord_job_active(j)) {
        coord_job_finish(c, j, FF_CS_CANCELLED, now);
        FF_INFO(c->o.log, "job %llu cancelled (%u of %u videos written are kept%s)", (unsigned long long)j->id, j->n_written,
                j->n_items, j->n_due || j->assembly ? "; those whose chunks are done are still written" : "");
    }
    return coord_reply_job(c, rid, len, env->request_id, j, now, err);
}
