/* worker: see worker.h. */
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zmq.h>

#include "core/ff_clock.h"
#include "proto/ff_chunkfile.h"
#include "proto/ff_frames.h"
#include "proto/ff_jobspec.h"
#include "proto/ff_net.h"
#include "proto/ff_wire.h"
#include "worker/worker_held.h"
#include "worker/worker_logtee.h"
#include "worker/worker_render.h"

/* Shared by the network thread and the render thread. */
typedef struct {
    void *ctx;
    char pair_ep[64];
    ff_wrender *r;
    const ff_worker_opts *o;
    atomic_int cancel, quit;
    int stalled_once;
    ff_logtee *tee;         /* the log's copy: a task's lines go with its result (may be NULL) */
} shared;

#define FF_WORKER_TASK_LOG_MAX ((size_t)4096) /* log bytes sent with one result */

/* ---- the render thread ---------------------------------------------------------- */

typedef struct {
    shared *sh;
    void *pair;
    uint64_t task;
    int frames_sent;
    int first_task;
    FILE *sf;             /* shared_dir: the task's frames file, under its temporary name */
    char sf_tmp[4200];
} rctx;

/* Packs env and passes it to the network thread, tagged 'M' (forward) or
 * 'F' (forward, and the task is over: the worker is idle from then on). */
static ff_status forward_tag(void *pair, Ff__Envelope *env, char tag, ff_err *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    ff_status st = ff_wire_pack(env, &buf, &len, err);
    if (st) return st;
    uint8_t *msg = malloc(len + 1);
    if (!msg) {
        free(buf);
        return ff_err_set(err, FF_ERR_NOMEM, "worker: out of memory");
    }
    msg[0] = tag;
    memcpy(msg + 1, buf, len);
    free(buf);
    int rc = zmq_send(pair, msg, len + 1, 0);
    free(msg);
    if (rc < 0) return ff_err_set(err, FF_ERR_IO, "worker: internal pipe: %s", zmq_strerror(errno));
    return FF_OK;
}

static ff_status forward(void *pair, Ff__Envelope *env, ff_err *err) { return forward_tag(pair, env, 'M', err); }

static ff_status r_progress(void *user, int stage, int64_t done, int64_t total, ff_err *err) {
    rctx *rc = user;
    if (atomic_load(&rc->sh->cancel) || atomic_load(&rc->sh->quit))
        return ff_err_set(err, FF_ERR_ARG, "cancelled");
    Ff__Progress p = FF__PROGRESS__INIT;
    p.has_task_id = p.has_stage = p.has_done = p.has_total = 1;
    p.task_id = rc->task;
    p.stage = stage;
    p.done = done;
    p.total = total;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_PROGRESS;
    env.progress = &p;
    ff_status st = forward(rc->pair, &env, err);
    if (st) return st;
    /* TEST MODE: stall the first task after step k until cancelled or killed
     * (or, with a hold file, until that file exists: then it goes on) */
    if (rc->sh->o->test_stall_step > 0 && rc->first_task && stage == 1 && done == rc->sh->o->test_stall_step) {
        const char *hold = rc->sh->o->test_hold_file;
        FF_INFO(rc->sh->o->log, "TEST MODE: holding after step %lld%s%s", (long long)done, hold ? " until " : "",
                hold ? hold : "");
        while (!atomic_load(&rc->sh->cancel) && !atomic_load(&rc->sh->quit)) {
            if (hold && access(hold, F_OK) == 0) return FF_OK;
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
        return ff_err_set(err, FF_ERR_ARG, "cancelled");
    }
    return FF_OK;
}

static ff_status r_frames_one(rctx *rc, int t0, int count, int width, int height, const uint8_t *rgb, ff_err *err);

/* Splits what the pipeline decoded into messages of at most
 * FF_WIRE_MAX_FRAMES_RAW decompressed bytes (at least one frame each). */
static ff_status r_frames(void *user, int t0, int count, int width, int height, const uint8_t *rgb, ff_err *err) {
    rctx *rc = user;
    size_t fb = (size_t)width * height * 3;
    int per = fb >= FF_WIRE_MAX_FRAMES_RAW ? 1 : (int)(FF_WIRE_MAX_FRAMES_RAW / fb);
    for (int k = 0; k < count; k += per) {
        int n = count - k < per ? count - k : per;
        ff_status st = r_frames_one(rc, t0 + k, n, width, height, rgb + (size_t)k * fb, err);
        if (st) return st;
    }
    return FF_OK;
}

static ff_status r_frames_one(rctx *rc, int t0, int count, int width, int height, const uint8_t *rgb, ff_err *err) {
    uint8_t *z = NULL;
    size_t zn = 0;
    ff_status st = ff_frames_deflate(rgb, (size_t)count * width * height * 3, 1, &z, &zn, err);
    if (st) return st;
    if (rc->sh->o->shared_dir) { /* into the shared file, nothing on the wire */
        if (!rc->sf) {
            if (snprintf(rc->sf_tmp, sizeof rc->sf_tmp, "%s/.ff-task-%llx.tmp", rc->sh->o->shared_dir,
                         (unsigned long long)rc->task) >= (int)sizeof rc->sf_tmp)
                st = ff_err_set(err, FF_ERR_ARG, "shared directory path too long");
            else if (!(rc->sf = fopen(rc->sf_tmp, "wb")))
                st = ff_err_set(err, FF_ERR_IO, "shared frames file %s: %s", rc->sf_tmp, strerror(errno));
        }
        if (!st) st = ff_cfile_append(rc->sf, t0, count, width, height, z, zn, err);
        free(z);
        if (!st) rc->frames_sent = t0 + count;
        return st;
    }
    Ff__ResultFrames f = FF__RESULT_FRAMES__INIT;
    f.has_task_id = f.has_t0 = f.has_count = f.has_width = f.has_height = f.has_rgb_zlib = 1;
    f.task_id = rc->task;
    f.t0 = t0;
    f.count = count;
    f.width = width;
    f.height = height;
    f.rgb_zlib.data = z;
    f.rgb_zlib.len = zn;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_FRAMES;
    env.frames = &f;
    st = forward_tag(rc->pair, &env, 'R', err); /* part of the result: kept until acknowledged */
    free(z);
    if (!st) rc->frames_sent = t0 + count;
    return st;
}

/* The shared file done: synced, measured, renamed to its final name (into
 * name, relative to shared_dir). */
static ff_status shared_finish(rctx *rc, const Ff__ChunkTask *t, char *name, size_t name_n, uint64_t *size,
                               uint32_t *crc, ff_err *err) {
    const char *dir = rc->sh->o->shared_dir;
    int bad = fflush(rc->sf) || fsync(fileno(rc->sf));
    if (fclose(rc->sf)) bad = 1;
    rc->sf = NULL;
    if (bad) return ff_err_set(err, FF_ERR_IO, "shared frames file %s: %s", rc->sf_tmp, strerror(errno));
    FILE *f = fopen(rc->sf_tmp, "rb");
    if (!f) return ff_err_set(err, FF_ERR_IO, "shared frames file %s: %s", rc->sf_tmp, strerror(errno));
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t n = 0;
    unsigned char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        c = crc32(c, buf, (uInt)got);
        n += got;
    }
    bad = ferror(f);
    fclose(f);
    if (bad) return ff_err_set(err, FF_ERR_IO, "reading back %s: %s", rc->sf_tmp, strerror(errno));
    char final[4400];
    snprintf(name, name_n, "j%llu-c%u-%llx.frames", (unsigned long long)t->job_id, t->chunk,
             (unsigned long long)t->task_id);
    if (snprintf(final, sizeof final, "%s/%s", dir, name) >= (int)sizeof final)
        return ff_err_set(err, FF_ERR_ARG, "shared directory path too long");
    if (rename(rc->sf_tmp, final)) return ff_err_set(err, FF_ERR_IO, "rename %s: %s", rc->sf_tmp, strerror(errno));
    rc->sf_tmp[0] = 0;
    *size = n;
    *crc = (uint32_t)c;
    /* TEST MODE: damage the first task's file after its checksum was taken */
    if (rc->first_task && rc->sh->o->test_shared_fault == 2) unlink(final);
    if (rc->first_task && rc->sh->o->test_shared_fault == 1 && n > 0) {
        FILE *w = fopen(final, "r+b");
        int ch = w ? fgetc(w) : EOF;
        if (w && ch != EOF && !fseek(w, 0, SEEK_SET)) fputc(ch ^ 0x5a, w);
        if (w) fclose(w);
    }
    return FF_OK;
}

/* The worker's line for a finished task, sent with its result (TaskDone.log):
 * the coordinator keeps it in the chunk's log (framefarm logs). */
static void task_log_line(const shared *sh, const Ff__ChunkTask *t, const char *model, double secs, int frames, char *buf,
                          size_t n) {
    snprintf(buf, n,
             "task %llx (job %llu chunk %u, item %u, latent frames %d..%d) on %s, backend %s, %d threads, model %.300s: "
             "%d frames in %.2f s",
             (unsigned long long)t->task_id, (unsigned long long)t->job_id, t->chunk, t->item, t->lat_start,
             t->lat_start + t->lat_count - 1, sh->o->name ? sh->o->name : "?", ff_wrender_backend_name(sh->r),
             sh->o->threads, model ? model : t->spec->model, frames, secs);
}

/* head, then the log lines written since mark (at most FF_WORKER_TASK_LOG_MAX bytes); malloc'd or NULL. */
static char *task_log(shared *sh, uint64_t mark, const char *head) {
    char *lines = sh->tee ? ff_logtee_since(sh->tee, mark, FF_WORKER_TASK_LOG_MAX) : NULL;
    size_t n = strlen(head) + (lines ? strlen(lines) : 0) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s\n%s", head, lines ? lines : "");
    free(lines);
    return s;
}

static void *render_main(void *arg) {
    shared *sh = arg;
    void *pair = zmq_socket(sh->ctx, ZMQ_PAIR);
    if (!pair || zmq_connect(pair, sh->pair_ep)) return NULL;
    int first = 1;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, pair, 0) < 0) {
            zmq_msg_close(&m);
            if (errno == EINTR) continue;
            break;
        }
        if (zmq_msg_size(&m) != 1 + sizeof(Ff__Envelope *) || ((char *)zmq_msg_data(&m))[0] != 'T') {
            zmq_msg_close(&m);
            break; /* 'Q' or anything else: quit */
        }
        Ff__Envelope *env;
        memcpy(&env, (char *)zmq_msg_data(&m) + 1, sizeof env);
        zmq_msg_close(&m);
        const Ff__ChunkTask *t = env->task;
        rctx rc = {sh, pair, t->task_id, 0, first, NULL, ""};
        first = 0;
        ff_wrender_cb cb = {r_progress, r_frames, &rc, &sh->cancel};
        ff_err err = {0};
        double t_start = ff_now_s();
        uint64_t log_mark = sh->tee ? ff_logtee_mark(sh->tee) : 0;
        FF_INFO(sh->o->log, "task %llx: rendering on %s with %d threads (0: all), model %.300s", (unsigned long long)t->task_id,
                ff_wrender_backend_name(sh->r), sh->o->threads, t->spec->model);
        ff_status st = ff_wrender_run(sh->r, t, &cb, &err);
        int expect = ff_jobspec_window_frames(t->lat_count);
        if (!st && rc.frames_sent != expect)
            st = ff_err_set(&err, FF_ERR_INTERNAL, "rendered %d frames, the window has %d", rc.frames_sent, expect);
        char shared_name[128] = "";
        uint64_t shared_size = 0;
        uint32_t shared_crc = 0;
        if (!st && rc.sf) st = shared_finish(&rc, t, shared_name, sizeof shared_name, &shared_size, &shared_crc, &err);
        if (rc.sf) fclose(rc.sf);
        if (rc.sf_tmp[0]) unlink(rc.sf_tmp); /* a failed task leaves no file */
        ff_err ferr;
        const char *model = ff_wrender_loaded_model(sh->r);
        size_t ml = model ? strlen(model) : 0;
        char *lm = malloc(ml + 1);
        if (lm) {
            lm[0] = 'L';
            if (ml) memcpy(lm + 1, model, ml);
            zmq_send(pair, lm, ml + 1, 0);
            free(lm);
        }
        if (!st) {
            char wlog[1024];
            task_log_line(sh, t, model, ff_now_s() - t_start, rc.frames_sent, wlog, sizeof wlog);
            char *lines = task_log(sh, log_mark, wlog);
            Ff__TaskDone d = FF__TASK_DONE__INIT;
            d.log = lines ? lines : wlog;
            d.has_task_id = d.has_frames = d.has_render_s = 1;
            d.task_id = t->task_id;
            d.frames = rc.frames_sent;
            d.render_s = ff_now_s() - t_start;
            if (shared_name[0]) {
                d.shared_path = shared_name;
                d.has_shared_size = d.has_shared_crc32 = 1;
                d.shared_size = shared_size;
                d.shared_crc32 = shared_crc;
            }
            Ff__Envelope out = FF__ENVELOPE__INIT;
            out.body_case = FF__ENVELOPE__BODY_DONE;
            out.done = &d;
            forward_tag(pair, &out, 'D', &ferr); /* the task is over, its result complete */
            free(lines);
            FF_INFO(sh->o->log, "task %llx (job %llu chunk %u) done in %.2f s%s%s", (unsigned long long)t->task_id,
                    (unsigned long long)t->job_id, t->chunk, d.render_s, shared_name[0] ? ", frames in shared file " : "",
                    shared_name);
        } else {
            char logline[512];
            snprintf(logline, sizeof logline, "worker %s, backend %s, model %s", sh->o->name ? sh->o->name : "?",
                     ff_wrender_backend_name(sh->r), t->spec->model);
            char *lines = task_log(sh, log_mark, logline);
            Ff__TaskFailed f = FF__TASK_FAILED__INIT;
            f.has_task_id = 1;
            f.task_id = t->task_id;
            f.message = err.msg;
            f.log = lines ? lines : logline;
            if (atomic_load(&sh->quit)) { /* told to stop: the chunk is unfinished, not failed (not an attempt) */
                snprintf(err.msg, sizeof err.msg, "the worker was stopped before it finished the chunk");
                f.has_not_started = f.not_started = 1;
            }
            Ff__Envelope out = FF__ENVELOPE__INIT;
            out.body_case = FF__ENVELOPE__BODY_FAILED;
            out.failed = &f;
            forward_tag(pair, &out, 'F', &ferr);
            free(lines);
            FF_WARN(sh->o->log, "task %llx (job %llu chunk %u) failed: %s", (unsigned long long)t->task_id,
                    (unsigned long long)t->job_id, t->chunk, err.msg);
        }
        ff_wire_free(env);
    }
    zmq_close(pair);
    return NULL;
}

/* ---- the network thread ------------------------------------------------------------ */

static void random_id(char *buf, size_t n) {
    uint8_t raw[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY);
    ssize_t got = fd >= 0 ? read(fd, raw, sizeof raw) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof raw) {
        uint64_t x = (uint64_t)getpid() ^ (uint64_t)time(NULL) << 20 ^ (uint64_t)(uintptr_t)buf;
        memcpy(raw, &x, sizeof raw);
    }
    snprintf(buf, n, "w-%02x%02x%02x%02x%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);
}

typedef struct {
    const ff_worker_opts *o;
    void *dealer;
    char id[32], name[257], backend[65];
    int64_t device_bytes;
    uint64_t busy, tasks_done;
    char *loaded_model;
    ff_held held;           /* the last result, until the coordinator acknowledges it */
} net;

static void send_heartbeat(net *n) {
    Ff__Heartbeat hb = FF__HEARTBEAT__INIT;
    hb.worker_id = n->id;
    hb.name = n->name;
    hb.backend = n->backend;
    hb.has_device_bytes = hb.has_busy_task = hb.has_tasks_done = 1;
    hb.device_bytes = n->device_bytes;
    hb.busy_task = n->busy;
    hb.tasks_done = n->tasks_done;
    hb.loaded_model = n->loaded_model;
    hb.has_held_task = 1;
    hb.held_task = ff_held_task(&n->held);
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    ff_err err;
    if (ff_net_send(n->dealer, NULL, 0, &env, ZMQ_DONTWAIT, &err)) FF_DEBUG(n->o->log, "heartbeat not sent: %s", err.msg);
}

/* Forwards what the render thread queued on the pair socket ('M' messages,
 * 'F' the task's last one, 'L' the model now loaded); returns the tasks that
 * finished. */
static int from_render_thread(net *n, shared *sh, void *pair, double *next_hb) {
    int done = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        const char *d = zmq_msg_data(&m);
        size_t len = zmq_msg_size(&m);
        if (len >= 1 && (d[0] == 'M' || d[0] == 'F' || d[0] == 'R' || d[0] == 'D')) {
            if (d[0] == 'R' || d[0] == 'D') ff_held_add(&n->held, n->busy, d + 1, len - 1);
            if (d[0] == 'D' || d[0] == 'F') ff_held_finish(&n->held, n->busy, d[0] == 'D');
            if (zmq_send(n->dealer, d + 1, len - 1, 0) < 0)
                FF_WARN(n->o->log, "sending to the coordinator: %s", zmq_strerror(errno));
        } else if (len >= 1 && d[0] == 'L') {
            free(n->loaded_model);
            n->loaded_model = len > 1 ? strndup(d + 1, len - 1) : NULL;
        }
        if (len >= 1 && (d[0] == 'F' || d[0] == 'D')) { /* idle before anything else is read from the coordinator */
            n->busy = 0;
            n->tasks_done++;
            done++;
            atomic_store(&sh->cancel, 0);
            *next_hb = 0; /* tell the coordinator right away */
        }
        zmq_msg_close(&m);
    }
    return done;
}

/* The coordinator took the kept result (drop it) or, after a restart, asks
 * for it again (worker_held.h). */
static void on_result_ack(net *n, const Ff__ResultAck *a) {
    ff_held_set *k = &n->held.kept;
    if (!(a->has_resend && a->resend)) {
        ff_held_drop(&n->held, a->task_id);
        return;
    }
    if (k->task != a->task_id) { /* not kept (any more): the chunk is rendered again elsewhere */
        Ff__TaskFailed f = FF__TASK_FAILED__INIT;
        f.has_task_id = f.has_not_started = 1;
        f.task_id = a->task_id;
        f.not_started = 1;
        f.message = "this worker no longer keeps that result";
        Ff__Envelope out = FF__ENVELOPE__INIT;
        out.body_case = FF__ENVELOPE__BODY_FAILED;
        out.failed = &f;
        ff_err e2;
        ff_net_send(n->dealer, NULL, 0, &out, 0, &e2);
        return;
    }
    FF_INFO(n->o->log, "task %llx: sending the kept result again (%zu messages, %zu bytes) after a coordinator restart",
            (unsigned long long)k->task, k->n, k->bytes);
    for (size_t i = 0; i < k->n; i++)
        if (zmq_send(n->dealer, k->msg[i], k->len[i], 0) < 0)
            FF_WARN(n->o->log, "sending to the coordinator: %s", zmq_strerror(errno));
}

/* TEST MODE (--test-fail-tasks): every task fails at once, as a broken worker's would. */
static void fail_task_for_test(net *n, const Ff__ChunkTask *t) {
    FF_INFO(n->o->log, "TEST MODE: failing task %llx (job %llu chunk %u)", (unsigned long long)t->task_id,
            (unsigned long long)t->job_id, t->chunk);
    Ff__TaskFailed f = FF__TASK_FAILED__INIT;
    f.has_task_id = 1;
    f.task_id = t->task_id;
    f.message = "TEST MODE: this worker fails every task (--test-fail-tasks)";
    Ff__Envelope out = FF__ENVELOPE__INIT;
    out.body_case = FF__ENVELOPE__BODY_FAILED;
    out.failed = &f;
    ff_err e2;
    ff_net_send(n->dealer, NULL, 0, &out, 0, &e2);
}

/* One message from the coordinator: a task goes to the render thread (or is
 * refused while one runs), a cancel flags the running task. */
static void from_coordinator(net *n, shared *sh, void *pair, double *next_hb) {
    ff_net_msg m;
    ff_err e2 = {0};
    ff_status rs = ff_net_recv(n->dealer, 0, ZMQ_DONTWAIT, &m, &e2);
    Ff__Envelope *env = NULL;
    Ff__Error__Code code;
    if (!rs) rs = ff_wire_unpack(zmq_msg_data(&m.payload), zmq_msg_size(&m.payload), 0, &env, &code, &e2);
    ff_net_msg_close(&m);
    if (rs == FF_ERR_NOT_FOUND) return;
    if (rs) {
        FF_WARN(n->o->log, "refused a message from the coordinator: %s", e2.msg);
        return;
    }
    if (env->body_case == FF__ENVELOPE__BODY_TASK && n->o->test_ignore_tasks) { /* TEST MODE */
        FF_INFO(n->o->log, "TEST MODE: ignoring task %llx (job %llu chunk %u)", (unsigned long long)env->task->task_id,
                (unsigned long long)env->task->job_id, env->task->chunk);
        ff_wire_free(env);
        return;
    }
    if (env->body_case == FF__ENVELOPE__BODY_TASK && n->o->test_fail_tasks) { /* TEST MODE */
        fail_task_for_test(n, env->task);
        ff_wire_free(env);
        return;
    }
    if (env->body_case == FF__ENVELOPE__BODY_RESULT_ACK) {
        on_result_ack(n, env->result_ack);
        ff_wire_free(env);
        return;
    }
    if (env->body_case == FF__ENVELOPE__BODY_TASK) {
        if (n->busy) {
            Ff__TaskFailed f = FF__TASK_FAILED__INIT;
            f.has_task_id = 1;
            f.task_id = env->task->task_id;
            f.message = "worker is busy with another task";
            f.has_not_started = 1;
            f.not_started = 1;
            Ff__Envelope out = FF__ENVELOPE__INIT;
            out.body_case = FF__ENVELOPE__BODY_FAILED;
            out.failed = &f;
            ff_net_send(n->dealer, NULL, 0, &out, 0, &e2);
            ff_wire_free(env);
            return;
        }
        n->busy = env->task->task_id;
        FF_INFO(n->o->log, "task %llx: job %llu chunk %u (item %u, latent frames %d..%d)",
                (unsigned long long)n->busy, (unsigned long long)env->task->job_id, env->task->chunk,
                env->task->item, env->task->lat_start, env->task->lat_start + env->task->lat_count - 1);
        char msg[1 + sizeof env];
        msg[0] = 'T';
        memcpy(msg + 1, &env, sizeof env);
        if (zmq_send(pair, msg, sizeof msg, 0) < 0) {
            ff_wire_free(env);
            n->busy = 0;
        }
        *next_hb = 0;
        return; /* the render thread owns env now */
    }
    if (env->body_case == FF__ENVELOPE__BODY_CANCEL && env->cancel->has_task_id) {
        if (n->busy && env->cancel->task_id == n->busy) {
            FF_INFO(n->o->log, "task %llx cancelled by the coordinator", (unsigned long long)n->busy);
            atomic_store(&sh->cancel, 1);
        }
    } else if (env->body_case == FF__ENVELOPE__BODY_ERROR) {
        FF_WARN(n->o->log, "coordinator: %s", env->error->message ? env->error->message : "(error)");
    } else {
        FF_WARN(n->o->log, "ignored an unexpected '%s' message from the coordinator", ff_wire_body_name(env->body_case));
    }
    ff_wire_free(env);
}

/* The dealer's handshake events: each failure is logged with its reason; a
 * key the coordinator refuses (ZAP: not in its --curve-allow) or a protocol
 * failure (CURVE on one side only) ends the worker at once, failures
 * without detail (a wrong --server-key) after FF_WORKER_HANDSHAKE_TRIES in
 * a row: either way it exits non-zero with the reason instead of retrying
 * unseen forever. */
static ff_status handshake_events(net *n, void *mon, int *failures, ff_err *err) {
    uint16_t ev;
    while (ff_net_monitor_next(mon, &ev, NULL, 0)) {
        if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            if (*failures) FF_INFO(n->o->log, "handshake with %s succeeded", n->o->connect);
            *failures = 0;
            continue;
        }
        if (!ff_net_handshake_failed(ev)) continue;
        const char *why = ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                              ? "the coordinator refused this worker's CURVE key (is its .pub in the coordinator's --curve-allow?)"
                          : n->o->server_key
                              ? "the CURVE handshake failed (is --server-key the coordinator's public key, and does it use CURVE?)"
                              : "the handshake failed (the coordinator uses CURVE: give --server-key COORD.pub)";
        ++*failures;
        FF_WARN(n->o->log, "%s: %s (%d)", n->o->connect, why, *failures);
        /* AUTH (ZAP said no) and PROTOCOL (mechanisms or keys that do not match; ZeroMQ may not
           even reconnect after it) are final; "no detail" is retried a few times */
        if (ev != ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || *failures >= FF_WORKER_HANDSHAKE_TRIES)
            return ff_err_set(err, FF_ERR_ARG, "%s: %s; giving up after %d failed handshake%s", n->o->connect, why,
                              *failures, *failures == 1 ? "" : "s");
    }
    return FF_OK;
}

/* CURVE keys (--server-key, --client-key) on the dealer, then connect. */
static ff_status connect_dealer(net *n, ff_err *err) {
    ff_status st = FF_OK;
    if (n->o->server_key) {
        char spub[FF_NET_KEY_LEN + 1], cpub[FF_NET_KEY_LEN + 1], csec[FF_NET_KEY_LEN + 1], path[4200];
        if ((st = ff_net_key_load(n->o->server_key, spub, err))) return st;
        if (n->o->client_key) {
            snprintf(path, sizeof path, "%s.pub", n->o->client_key);
            if ((st = ff_net_key_load(path, cpub, err))) return st;
            snprintf(path, sizeof path, "%s.key", n->o->client_key);
            if ((st = ff_net_key_load(path, csec, err))) return st;
            st = ff_net_curve_client(n->dealer, spub, cpub, csec, err);
            memset(csec, 0, sizeof csec);
        } else {
            st = ff_net_curve_client(n->dealer, spub, NULL, NULL, err);
        }
        if (st) return st;
    }
    if (zmq_connect(n->dealer, n->o->connect))
        return ff_err_set(err, FF_ERR_ARG, "connecting to '%s': %s", n->o->connect, zmq_strerror(errno));
    return FF_OK;
}

ff_status ff_worker_run(const ff_worker_opts *o, ff_err *err) {
    shared sh;
    memset(&sh, 0, sizeof sh);
    sh.o = o;
    atomic_init(&sh.cancel, 0);
    atomic_init(&sh.quit, 0);
    net n;
    memset(&n, 0, sizeof n);
    n.o = o;
    random_id(n.id, sizeof n.id);
    struct stat sd;
    if (o->shared_dir && (stat(o->shared_dir, &sd) || !S_ISDIR(sd.st_mode)))
        return ff_err_set(err, FF_ERR_ARG, "--shared-dir %s is not a directory", o->shared_dir);
    ff_worker_opts teed = *o; /* logs through the tee (worker_logtee.h) from here on */
    if (!ff_logtee_create(o->log, &sh.tee, err)) teed.log = ff_logtee_log(sh.tee);
    o = &teed;
    sh.o = n.o = o;
    ff_wrender_opts ro = {o->backend, o->threads, o->vram_budget, o->test_no_render};
    ff_status st = ff_wrender_create(&ro, o->log, &sh.r, err);
    if (st) {
        ff_logtee_free(sh.tee);
        return st;
    }
    snprintf(n.backend, sizeof n.backend, "%s", ff_wrender_backend_name(sh.r));
    char host[128] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    if (o->name) snprintf(n.name, sizeof n.name, "%s", o->name);
    else snprintf(n.name, sizeof n.name, "%.100s:%d/%s", host, (int)getpid(), n.backend);
    n.device_bytes = o->vram_budget;
    if (!n.device_bytes) n.device_bytes = (int64_t)sysconf(_SC_PHYS_PAGES) * (int64_t)sysconf(_SC_PAGESIZE);
    double hb_s = o->heartbeat_s > 0 ? o->heartbeat_s : 1.0;

    void *ctx = zmq_ctx_new(), *pair = NULL, *mon = NULL;
    int hs_failures = 0;
    pthread_t th;
    int thread_started = 0;
    if (!ctx) {
        ff_wrender_free(sh.r);
        return ff_err_set(err, FF_ERR_IO, "zmq_ctx_new: %s", zmq_strerror(errno));
    }
    sh.ctx = ctx;
    snprintf(sh.pair_ep, sizeof sh.pair_ep, "inproc://ff-worker-%p", (void *)&sh);
    n.dealer = zmq_socket(ctx, ZMQ_DEALER);
    pair = zmq_socket(ctx, ZMQ_PAIR);
    int linger = 2000;
    if (!n.dealer || !pair || zmq_setsockopt(n.dealer, ZMQ_ROUTING_ID, n.id, strlen(n.id)) ||
        zmq_setsockopt(n.dealer, ZMQ_LINGER, &linger, sizeof linger) || zmq_bind(pair, sh.pair_ep)) {
        st = ff_err_set(err, FF_ERR_IO, "worker sockets: %s", zmq_strerror(errno));
        goto done;
    }
    /* the handshake, watched: a refused CURVE key must not go unnoticed */
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://ff-worker-mon-%p", (void *)&sh);
    if (!zmq_socket_monitor(n.dealer, mon_ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                                  ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) &&
        (mon = zmq_socket(ctx, ZMQ_PAIR)) != NULL) {
        int zero = 0;
        zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_connect(mon, mon_ep)) {
            zmq_close(mon);
            mon = NULL;
        }
    }
    if ((st = connect_dealer(&n, err))) goto done;
    if (pthread_create(&th, NULL, render_main, &sh)) {
        st = ff_err_set(err, FF_ERR_INTERNAL, "worker: cannot start the render thread");
        goto done;
    }
    thread_started = 1;
    FF_INFO(o->log, "worker %s (%s) connecting to %s%s; %d CPU thread%s", n.id, n.name, o->connect,
            o->server_key ? " with CURVE" : "", o->threads, o->threads == 1 ? "" : "s");
    double next_hb = 0;
    int tasks = 0;
    while (!(o->stop && *o->stop)) {
        double t = ff_now_s();
        if (t >= next_hb) {
            send_heartbeat(&n);
            next_hb = t + hb_s;
        }
        zmq_pollitem_t items[3] = {{n.dealer, 0, ZMQ_POLLIN, 0}, {pair, 0, ZMQ_POLLIN, 0}, {mon, 0, ZMQ_POLLIN, 0}};
        long wait_ms = (long)((next_hb - ff_now_s()) * 1000) + 1;
        if (wait_ms < 1) wait_ms = 1;
        if (wait_ms > 200) wait_ms = 200;
        int rc = zmq_poll(items, mon ? 3 : 2, wait_ms);
        if (rc < 0) {
            if (errno == EINTR) continue;
            st = ff_err_set(err, FF_ERR_IO, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        if (items[1].revents & ZMQ_POLLIN) { /* from the render thread */
            tasks += from_render_thread(&n, &sh, pair, &next_hb);
            if (o->max_tasks > 0 && tasks >= o->max_tasks && !n.busy) break;
        }
        if (items[0].revents & ZMQ_POLLIN) from_coordinator(&n, &sh, pair, &next_hb); /* from the coordinator */
        if (mon && (items[2].revents & ZMQ_POLLIN) && (st = handshake_events(&n, mon, &hs_failures, err))) break;
    }
    if (!st && n.busy) { /* stopped mid-task: abort it at the next block, report it unfinished, then go */
        FF_INFO(o->log, "stopping: task %llx is abandoned at the next block boundary", (unsigned long long)n.busy);
        atomic_store(&sh.quit, 1);
        atomic_store(&sh.cancel, 1);
        for (double until = ff_now_s() + FF_WORKER_STOP_S; n.busy && ff_now_s() < until;) {
            zmq_pollitem_t it = {pair, 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&it, 1, 100) > 0) from_render_thread(&n, &sh, pair, &next_hb);
        }
        if (n.busy) FF_WARN(o->log, "task %llx did not stop within %d s: exiting without reporting it", (unsigned long long)n.busy, FF_WORKER_STOP_S);
    }
    if (!st && o->stop && *o->stop) { /* stopping: what is queued goes out at once or not at all (the coordinator
                                          may be gone with the farm that started us) */
        int short_linger = FF_WORKER_STOP_LINGER_MS;
        zmq_setsockopt(n.dealer, ZMQ_LINGER, &short_linger, sizeof short_linger);
    }
done:
    atomic_store(&sh.quit, 1);
    if (thread_started) {
        char q = 'Q';
        zmq_send(pair, &q, 1, 0);
        pthread_join(th, NULL);
    }
    if (pair) zmq_close(pair);
    if (mon) {
        zmq_socket_monitor(n.dealer, NULL, 0);
        zmq_close(mon);
    }
    if (n.dealer) zmq_close(n.dealer);
    zmq_ctx_term(ctx);
    free(n.loaded_model);
    ff_held_free(&n.held);
    ff_wrender_free(sh.r);
    ff_logtee_free(sh.tee);
    return st;
}
