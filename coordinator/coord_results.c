/* coord_results: what workers report about their tasks (coord.h,
 * "Results"). Frames are checked as they arrive (each message is bounded:
 * FF_WIRE_MAX_FRAMES_RAW); a result file from the shared folder is copied
 * and checked on the background thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "coordinator/assemble.h"
#include "coordinator/chunking.h"
#include "coordinator/coord_internal.h"
#include "proto/ff_frames.h"
#include "proto/ff_jobspec.h"

chunk *coord_task_chunk(ff_coord *c, worker *w, uint64_t task, const char *what) {
    if (w && w->task_id == task && w->ch && w->ch->task_id == task) return w->ch;
    FF_DEBUG(c->o.log, "ignored %s for task %llx from %s (not its current task)", what, (unsigned long long)task,
             w ? w->id : "an unknown worker");
    return NULL;
}

void coord_on_progress(ff_coord *c, worker *w, const Ff__Progress *p, double now) {
    chunk *ch = coord_task_chunk(c, w, p->task_id, "progress");
    if (!ch) return;
    ch->stage = p->stage;
    ch->done = p->done;
    ch->total = p->total;
    coord_chunk_progress(w->j, ch, now);
}

static ff_status open_part(ff_coord *c, job *j, chunk *ch, ff_err *err) {
    char p[4200], suf[40];
    snprintf(suf, sizeof suf, ".part-%llx", (unsigned long long)ch->task_id);
    if (ff_store_chunk_path(c->store, j->id, ch->idx, suf, p, sizeof p, err)) return FF_ERR_IO;
    if (!(ch->part_path = strdup(p)) || !(ch->part = fopen(p, "wb")))
        return ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", p, strerror(errno));
    return FF_OK;
}

ff_status coord_on_frames(ff_coord *c, worker *w, const Ff__ResultFrames *f, double now, ff_err *err) {
    chunk *ch = coord_task_chunk(c, w, f->task_id, "frames");
    if (!ch) return FF_OK;
    job *j = w->j;
    int expect = ff_chunk_frames(ch->lat_count);
    char why[FF_ERR_MSG_MAX + 128] = "";
    size_t fb = (size_t)j->spec->width * j->spec->height * 3, raw = (size_t)f->count * fb;
    if (f->t0 != ch->frames_recv || f->t0 + f->count > expect || f->width != j->spec->width ||
        f->height != j->spec->height)
        snprintf(why, sizeof why, "sent frames %d..%d of %dx%d, expected frame %d of %d at %dx%d", f->t0,
                 f->t0 + f->count - 1, f->width, f->height, ch->frames_recv, expect, j->spec->width, j->spec->height);
    else if (raw > FF_WIRE_MAX_FRAMES_RAW && f->count > 1)
        snprintf(why, sizeof why, "sent %d frames (%zu bytes) in one message; at most %zu bytes (or one frame) per message",
                 f->count, raw, FF_WIRE_MAX_FRAMES_RAW);
    uint8_t *buf = why[0] ? NULL : malloc(raw);
    ff_err e2 = {0};
    if (!why[0] && !buf) return ff_err_set(err, FF_ERR_NOMEM, "frames: out of memory for %zu bytes", raw);
    if (!why[0] && ff_frames_inflate(f->rgb_zlib.data, f->rgb_zlib.len, buf, raw, &e2))
        snprintf(why, sizeof why, "sent invalid frames: %s", e2.msg);
    free(buf);
    if (!why[0]) {
        ff_status st = ch->part ? FF_OK : open_part(c, j, ch, err);
        if (!st)
            st = ff_cfile_append(ch->part, f->t0, f->count, f->width, f->height, f->rgb_zlib.data, f->rgb_zlib.len, err);
        if (st) return st;
        ch->frames_recv += f->count;
        coord_chunk_progress(j, ch, now);
        return FF_OK;
    }
    c->st.refused++;
    uint64_t task = ch->task_id;
    coord_chunk_attempt_failed(c, j, ch, now, why);
    coord_send_cancel(c, w, task);
    return FF_OK;
}

/* ---- a result file in the shared folder, checked in the background ---------------------- */

typedef struct {
    char *src, *part;       /* the shared file; the chunk's part file (the copy) */
    int expect, width, height;
    uint64_t size;
    uint32_t crc;
    char who[340];          /* "w-... (name)" for messages */
    uint32_t serial;
} shared_arg;

static void shared_free(void *p) {
    shared_arg *a = p;
    if (!a) return;
    free(a->src);
    free(a->part);
    free(a);
}

/* Copies the shared file into the part file (size and crc32 taken on the
 * way), compares both, reads every record back as exactly `expect` frames.
 * FF_ERR_FORMAT: the result is bad (why in err); FF_ERR_IO/NOMEM: ours. The
 * shared file is removed in every case (taken, or refused). */
static ff_status shared_run(ff_bgtask *t, ff_err *err) {
    shared_arg *a = t->arg;
    FILE *in = fopen(a->src, "rb");
    if (!in)
        return ff_err_set(err, FF_ERR_FORMAT, "reported its frames in the shared file %.300s, which cannot be read: %s", a->src,
                          strerror(errno));
    FILE *out = fopen(a->part, "wb");
    ff_status st = out ? FF_OK : ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", a->part, strerror(errno));
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t size = 0;
    unsigned char *buf = malloc(1 << 20);
    size_t got;
    if (!st && !buf) st = ff_err_set(err, FF_ERR_NOMEM, "out of memory");
    while (!st && (got = fread(buf, 1, 1 << 20, in)) > 0) {
        if (atomic_load(&t->cancel)) st = ff_err_set(err, FF_ERR_ARG, "cancelled");
        crc = crc32(crc, buf, (uInt)got);
        size += got;
        if (!st && fwrite(buf, 1, got, out) != got) st = ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", a->part, strerror(errno));
    }
    free(buf);
    int rerr = ferror(in);
    fclose(in);
    if (out && (fflush(out) || fsync(fileno(out))) && !st)
        st = ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", a->part, strerror(errno));
    if (out) fclose(out);
    if (!st && rerr) st = ff_err_set(err, FF_ERR_FORMAT, "shared file %.300s: read error", a->src);
    if (!st && (size != a->size || (uint32_t)crc != a->crc))
        st = ff_err_set(err, FF_ERR_FORMAT, "shared file %.300s: %llu bytes, crc32 %08x; the worker reported %llu bytes, crc32 %08x",
                        a->src, (unsigned long long)size, (unsigned)crc, (unsigned long long)a->size, (unsigned)a->crc);
    if (!st) {
        ff_cfile_reader r;
        ff_err e2 = {0};
        int n = 0;
        ff_status rs = ff_cfile_open(a->part, a->width, a->height, &r, &e2);
        if (!rs) {
            const uint8_t *frame;
            while (n <= a->expect && !atomic_load(&t->cancel) && !(rs = ff_cfile_next(&r, &frame, &e2))) n++;
            ff_cfile_close(&r);
            if (rs == FF_ERR_NOT_FOUND) rs = FF_OK;
        }
        if (rs || n != a->expect)
            st = ff_err_set(err, FF_ERR_FORMAT, "shared file %.300s: %d frames of %d read%s%.500s", a->src, n, a->expect,
                            rs ? ": " : "", rs ? e2.msg : "");
    }
    unlink(a->src); /* taken (the store holds the copy), or refused: not left behind */
    if (st) unlink(a->part);
    return st;
}

static ff_status start_shared_check(ff_coord *c, worker *w, job *j, chunk *ch, const Ff__TaskDone *d, int expect,
                                    char *why, size_t why_n, ff_err *err) {
    if (ch->part || ch->frames_recv) {
        snprintf(why, why_n, "reported a shared file after sending %d frames inline", ch->frames_recv);
        return FF_OK;
    }
    size_t sl = strlen(c->o.shared_dir) + strlen(d->shared_path) + 2;
    char p[4200], suf[40];
    snprintf(suf, sizeof suf, ".part-%llx", (unsigned long long)ch->task_id);
    if (ff_store_chunk_path(c->store, j->id, ch->idx, suf, p, sizeof p, err)) return FF_ERR_IO;
    shared_arg *a = calloc(1, sizeof *a);
    if (a && (a->src = malloc(sl))) snprintf(a->src, sl, "%s/%s", c->o.shared_dir, d->shared_path);
    if (a) a->part = strdup(p);
    ff_bgtask *t = a && a->src && a->part ? ff_bgtask_new(COORD_BG_SHARED, shared_run, a, shared_free) : NULL;
    if (!t) {
        if (a && (!a->src || !a->part)) shared_free(a);
        return ff_err_set(err, FF_ERR_NOMEM, "coordinator: out of memory");
    }
    a->expect = expect;
    a->width = j->spec->width;
    a->height = j->spec->height;
    a->size = d->shared_size;
    a->crc = d->shared_crc32;
    a->serial = w->serial;
    snprintf(a->who, sizeof a->who, "%s (%s)", w->id, w->name);
    t->job = j->id;
    t->chunk = ch->idx;
    t->task = ch->task_id;
    /* the worker is free; the chunk stays running until the check ends */
    w->ch = NULL;
    w->j = NULL;
    w->task_id = 0;
    w->tasks_done++;
    ch->w = NULL;
    ch->checking = 1;
    c->bg_checks++;
    ff_bgwork_submit(c->bg, t);
    return FF_OK;
}

static ff_status take_part(ff_coord *c, job *j, chunk *ch, const char *part, ff_err *err) {
    char final[4200];
    ff_status st = ff_store_chunk_path(c->store, j->id, ch->idx, ".frames", final, sizeof final, err);
    if (!st && rename(part, final)) st = ff_err_set(err, FF_ERR_IO, "rename %s: %s", part, strerror(errno));
    return st;
}

ff_status coord_shared_checked(ff_coord *c, ff_bgtask *t, double now, ff_err *err) {
    shared_arg *a = t->arg;
    c->bg_checks--;
    job *j = coord_find_job(c, t->job);
    chunk *ch = j && t->chunk < j->n_chunks ? &j->chunks[t->chunk] : NULL;
    if (!ch || ch->state != FF_CS_RUNNING || !ch->checking || ch->task_id != t->task) { /* cancelled, or taken back */
        if (!t->status) unlink(a->part);
        return FF_OK;
    }
    ch->checking = 0;
    if (t->status) {
        c->st.refused++;
        ch->avoid = a->serial;
        char why[FF_ERR_MSG_MAX + 400];
        snprintf(why, sizeof why, "result from %s: %s", a->who, t->err.msg);
        coord_chunk_attempt_failed(c, j, ch, now, why);
        return FF_OK;
    }
    ff_status st = take_part(c, j, ch, a->part, err);
    if (st) {
        unlink(a->part);
        coord_chunk_attempt_failed(c, j, ch, now, err->msg);
        return st;
    }
    coord_chunk_done(c, j, ch, now);
    FF_DEBUG(c->o.log, "job %llu chunk %u done by %s (shared file)", (unsigned long long)j->id, ch->idx, a->who);
    return FF_OK;
}

/* The worker's lines for the task (TaskDone.log), kept in the chunk's log (bounded there). */
static void keep_worker_log(ff_coord *c, job *j, chunk *ch, const char *log) {
    if (!log || !log[0]) return;
    size_t n = strlen(log);
    coord_chunk_save(c, j, ch, "%s: %.1500s%s", ch->w ? ch->w->id : "worker", log,
                     n > 1500 ? " [...]" : "");
}

static ff_status on_done(ff_coord *c, worker *w, const Ff__TaskDone *d, double now, ff_err *err);

ff_status coord_on_done(ff_coord *c, worker *w, const Ff__TaskDone *d, double now, ff_err *err) {
    if (w && w->draining == d->task_id) w->draining = 0;
    chunk *ch = coord_task_chunk(c, w, d->task_id, "done");
    if (!ch) return FF_OK;
    keep_worker_log(c, w->j, ch, d->log);
    ff_status st = on_done(c, w, d, now, err);
    coord_send_ack(c, w, d->task_id, 0); /* taken, or refused: the worker need not keep it */
    return st;
}

static ff_status on_done(ff_coord *c, worker *w, const Ff__TaskDone *d, double now, ff_err *err) {
    chunk *ch = w->ch;
    job *j = w->j;
    int expect = ff_chunk_frames(ch->lat_count);
    char why[FF_ERR_MSG_MAX + 1024] = "";
    if (d->shared_path && !c->o.shared_dir)
        snprintf(why, sizeof why, "reported %d frames done in a shared folder (not configured here: coordinator --shared-dir)",
                 d->frames);
    else if (d->frames != expect)
        snprintf(why, sizeof why, "reported %d frames done, %d expected", d->frames, expect);
    else if (d->shared_path) {
        ff_status st = start_shared_check(c, w, j, ch, d, expect, why, sizeof why, err);
        if (st || !why[0]) return st; /* checked in the background (coord_shared_checked) */
    }
    if (!why[0] && (ch->frames_recv != expect || !ch->part))
        snprintf(why, sizeof why, "reported %d frames done, %d expected, %d received", d->frames, expect, ch->frames_recv);
    if (why[0]) {
        if (d->shared_path && c->o.shared_dir) { /* a refused file is not left behind */
            char src[4400];
            if (snprintf(src, sizeof src, "%s/%s", c->o.shared_dir, d->shared_path) < (int)sizeof src) unlink(src);
        }
        c->st.refused++;
        coord_chunk_attempt_failed(c, j, ch, now, why);
        return FF_OK;
    }
    ff_status st = FF_OK;
    if (fflush(ch->part) || fsync(fileno(ch->part)))
        st = ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", ch->part_path, strerror(errno));
    if (!st) {
        fclose(ch->part);
        ch->part = NULL;
        st = take_part(c, j, ch, ch->part_path, err);
    }
    if (st) return st;
    free(ch->part_path);
    ch->part_path = NULL;
    FF_DEBUG(c->o.log, "job %llu chunk %u done by %s (%.2f s)", (unsigned long long)j->id, ch->idx, w->id, d->render_s);
    coord_chunk_done(c, j, ch, now);
    return FF_OK;
}

ff_status coord_on_failed(ff_coord *c, worker *w, const Ff__TaskFailed *f, double now) {
    if (w && w->draining == f->task_id) w->draining = 0;
    chunk *ch = coord_task_chunk(c, w, f->task_id, "failure");
    if (!ch) return FF_OK;
    if (f->has_not_started && f->not_started) { /* busy: the worker did not start it */
        char why[400];
        snprintf(why, sizeof why, "worker %s (%s) was busy and did not start the task", w->id, w->name);
        coord_chunk_unstarted(c, w->j, ch, now, why);
        w->draining = UINT64_MAX; /* no new work until its next heartbeat says what it holds */
        return FF_OK;
    }
    char why[FF_WIRE_MAX_TEXT + 2048];
    snprintf(why, sizeof why, "failed: %s%s%.1500s", f->message ? f->message : "(no message)", f->log && f->log[0] ? "\n" : "",
             f->log ? f->log : "");
    coord_chunk_attempt_failed(c, w->j, ch, now, why);
    return FF_OK;
}
