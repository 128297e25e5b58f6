/* coord_submit: job intake (coord.h, "Bounded"): every check runs before
 * anything is stored, so a refused job leaves no trace but a log line and
 * the client's error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coordinator/chunking.h"
#include "coordinator/coord_internal.h"
#include "coordinator/outname.h"
#include "proto/ff_jobspec.h"

/* The job's outputs against the output roots: the first output fully
 * (outroot.h); the other items share its folder, so only their own names
 * are looked at (a symlink there is refused like the first). */
static ff_status check_outputs(ff_coord *c, const Ff__JobSpec *spec, ff_err *err) {
    char out[4200];
    size_t items = ff_jobspec_items(spec);
    ff_status tst = ff_outname_check(spec, err);
    if (tst) return tst;
    for (size_t i = 0; i < items; i++) { /* ({job} is not known yet: 0 stands in; the roots check again before writing) */
        ff_status st = ff_outname_expand(spec, 0, i, out, sizeof out, err);
        if (!st && i == 0) st = ff_outroot_check(c->roots, out, err);
        if (!st && i > 0) {
            size_t n = strlen(out);
            while (n > 1 && out[n - 1] == '/') out[--n] = 0;
            struct stat sb;
            if (lstat(out, &sb) == 0 && S_ISLNK(sb.st_mode))
                st = ff_err_set(err, FF_ERR_ARG, "output '%s' is a symlink (outputs are written only under the roots)", out);
        }
        if (st) return items > 1 ? ff_err_wrap(err, "job item %zu", i) : ff_err_wrap(err, "job");
    }
    return FF_OK;
}

ff_status coord_on_submit(ff_coord *c, const void *rid, size_t len, const Ff__Envelope *env, double now, ff_err *err) {
    Ff__JobSpec *spec = NULL;
    ff_err e2 = {0};
    uint64_t req = env->request_id;
    if (ff_jobspec_clone(env->submit->spec, &spec, &e2)) return ff_err_set(err, FF_ERR_NOMEM, "%s", e2.msg);
    ff_status st = ff_jobspec_normalize(spec, &e2);
    if (!st && (spec->output[0] != '/' || spec->model[0] == 0))
        st = ff_err_set(&e2, FF_ERR_ARG, "job: 'output' must be an absolute path (framefarm submit makes it absolute)");
    size_t n = st ? 0 : ff_chunk_count(spec), queued = st ? 0 : coord_queued_chunks(c);
    if (!st && n > c->o.max_job_chunks)
        st = ff_err_set(&e2, FF_ERR_ARG,
                        "job: %zu chunks (%zu items x %zu windows of %d frames), more than this coordinator's limit of %zu "
                        "chunks per job (coordinator --max-job-chunks)",
                        n, ff_jobspec_items(spec), n / ff_jobspec_items(spec), spec->chunk_frames, c->o.max_job_chunks);
    if (!st && queued + n > c->o.max_queued_chunks)
        st = ff_err_set(&e2, FF_ERR_ARG,
                        "job: %zu chunks, and %zu are still unfinished: more than this coordinator's limit of %zu queued "
                        "chunks (coordinator --max-queued-chunks); submit it when the queue is shorter",
                        n, queued, c->o.max_queued_chunks);
    if (!st) st = check_outputs(c, spec, &e2);
    if (st) {
        ff_jobspec_free(spec);
        FF_WARN(c->o.log, "refused a job: %s", e2.msg);
        c->st.refused++;
        return coord_send_error(c, rid, len, FF__ERROR__CODE__INVALID, req, "%s", e2.msg);
    }
    ff_chunk_window *w = NULL;
    if ((st = ff_chunk_plan(spec, &w, &n, &e2))) {
        ff_jobspec_free(spec);
        c->st.refused++;
        return coord_send_error(c, rid, len, FF__ERROR__CODE__INVALID, req, "%s", e2.msg);
    }
    job *j = calloc(1, sizeof *j);
    chunk *chunks = calloc(n, sizeof *chunks);
    uint64_t id = 0;
    if (!j || !chunks) st = ff_err_set(err, FF_ERR_NOMEM, "coordinator: out of memory for a job of %zu chunks", n);
    if (!st) st = ff_store_add_job(c->store, spec, coord_wall(c, now), w, n, &id, err);
    if (!st) st = coord_add_job(c, j, err);
    if (st) {
        free(w);
        free(chunks);
        free(j);
        ff_jobspec_free(spec);
        coord_send_error(c, rid, len, FF__ERROR__CODE__UNKNOWN, req, "coordinator could not store the job: %s", err->msg);
        return st;
    }
    j->id = id;
    j->spec = spec;
    j->state = FF_CS_QUEUED;
    j->submitted = coord_wall(c, now);
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
    if ((st = coord_items_init(j, err))) return st; /* (stored; loaded again by a restart) */
    FF_INFO(c->o.log, "job %llu: %zu items, %zu chunks, priority %d, %s", (unsigned long long)id, ff_jobspec_items(spec), n,
            spec->priority, spec->output);
    Ff__SubmitReply sr = FF__SUBMIT_REPLY__INIT;
    sr.has_job_id = sr.has_chunks = 1;
    sr.job_id = id;
    sr.chunks = (int32_t)n;
    sr.has_workers = 1;
    for (size_t i = 0; i < c->n_workers; i++) sr.workers += !c->workers[i]->quarantined;
    if (!sr.workers) FF_WARN(c->o.log, "job %llu: no worker is connected; it waits for one", (unsigned long long)id);
    Ff__Envelope out = FF__ENVELOPE__INIT;
    out.has_request_id = 1;
    out.request_id = req;
    out.body_case = FF__ENVELOPE__BODY_SUBMIT_REPLY;
    out.submit_reply = &sr;
    ff_err se;
    if (c->o.send(c->o.user, rid, len, &out, &se)) FF_DEBUG(c->o.log, "submit reply not sent: %s", se.msg);
    return FF_OK;
}
