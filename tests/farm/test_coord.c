/* coordinator: chunk planning and cross-fades, the SQLite store, chunk
 * files and assembly, and the coordinator state machine driven with a fake
 * clock and fake workers (no sockets): scheduling order, results, worker
 * death, bounded retries, cancel, refusals, and a restart that keeps
 * finished chunks; the bounds of issue 16: refusals at submit (10M chunks,
 * a full queue, outputs outside the roots, invalid UTF-8), paged and
 * bounded replies after 1100 failed jobs, retention by count and age,
 * dispatches never started, chunks without progress, and assembly on the
 * background thread while status answers. */
#include <dirent.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/assemble.h"
#include "coordinator/chunking.h"
#include "coordinator/coord.h"
#include "coordinator/store.h"
#include "proto/ff_frames.h"
#include "proto/ff_jobspec.h"
#include "proto/ff_wire.h"
#include "tests/common/ff_test.h"
#include "tests/farm/farm_test_util.h"

static void rm_rf(const char *p) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd)) {
    }
}

static void test_chunk_plan(void) {
    ff_err err = {0};
    Ff__JobSpec *s = ft_spec("{\"model\": \"/m\", \"prompt\": \"p\", \"seeds\": [1, 2], \"frames\": 81, \"width\": 16, "
                             "\"height\": 16, \"output\": \"/o.y4m\", \"chunking\": {\"frames\": 33, \"overlap\": 8}}",
                             &err);
    FF_REQUIRE(s != NULL);
    int C, O;
    ff_chunk_params(s, &C, &O);
    FF_CHECK(C == 9 && O == 3);
    ff_chunk_window *w = NULL;
    size_t n = 0;
    FF_REQUIRE_OK(ff_chunk_plan(s, &w, &n, &err), &err);
    FF_REQUIRE(n == 6);
    int want[3][2] = {{0, 9}, {6, 9}, {12, 9}};
    for (int k = 0; k < 3; k++) {
        FF_CHECK(w[k].item == 0 && w[k].lat_start == want[k][0] && w[k].lat_count == want[k][1]);
        FF_CHECK(w[3 + k].item == 1 && w[3 + k].lat_start == want[k][0]);
    }
    /* windows cover frames 0..80 exactly, overlaps are 4(O-1)+1 = 9 frames */
    FF_CHECK(ff_chunk_first_frame(w[2].lat_start) + ff_chunk_frames(w[2].lat_count) - 1 == 80);
    FF_CHECK(ff_chunk_first_frame(w[0].lat_start) + ff_chunk_frames(w[0].lat_count) - ff_chunk_first_frame(w[1].lat_start) == 9);
    free(w);
    ff_jobspec_free(s);
    /* an uneven tail: 21 latents, C = 9, O = 2 -> stride 7: [0,9) [7,16) [14,21) */
    s = ft_spec("{\"model\": \"/m\", \"prompt\": \"p\", \"seed\": 1, \"frames\": 81, \"width\": 16, \"height\": 16, "
                "\"output\": \"/o.y4m\", \"chunking\": {\"frames\": 33, \"overlap\": 4}}",
                &err);
    FF_REQUIRE(s != NULL);
    FF_REQUIRE_OK(ff_chunk_plan(s, &w, &n, &err), &err);
    FF_CHECK(n == 3 && w[2].lat_start == 14 && w[2].lat_count == 7);
    free(w);
    ff_jobspec_free(s);
    /* short videos are never cut */
    s = ft_spec("{\"model\": \"/m\", \"prompt\": \"p\", \"seed\": 1, \"frames\": 17, \"output\": \"/o.y4m\"}", &err);
    FF_REQUIRE(s != NULL);
    FF_CHECK(ff_chunk_count(s) == 1);
    ff_jobspec_free(s);
    /* blend: integer linear weights */
    uint8_t a[2] = {0, 200}, b[2] = {90, 100}, o[2];
    ff_chunk_blend(a, b, 2, 0, 2, o); /* weights 2/3 a, 1/3 b */
    FF_CHECK(o[0] == 30 && o[1] == 167);
    ff_chunk_blend(a, b, 2, 1, 2, o);
    FF_CHECK(o[0] == 60 && o[1] == 133);
}

/* Frames of window w: pixel value = (global frame * 7 + item * 50) & 255. */
static void write_chunk_file(const char *path, int item, const ff_chunk_window *w, int W, int H, int drop_last) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    int frames = ff_chunk_frames(w->lat_count) - drop_last;
    size_t fb = (size_t)W * H * 3;
    for (int t0 = 0; t0 < frames; t0 += 4) {
        int cnt = frames - t0 < 4 ? frames - t0 : 4;
        uint8_t *raw = malloc(fb * cnt), *z = NULL;
        size_t zn = 0;
        for (int k = 0; k < cnt; k++)
            memset(raw + k * fb, ((ff_chunk_first_frame(w->lat_start) + t0 + k) * 7 + item * 50) & 255, fb);
        ff_err err;
        if (ff_frames_deflate(raw, fb * cnt, 1, &z, &zn, &err) || ff_cfile_append(f, t0, cnt, W, H, z, zn, &err)) abort();
        free(raw);
        free(z);
    }
    fclose(f);
}

static int count_in_dir(const char *p) {
    DIR *d = opendir(p);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static long file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) ? -1 : (long)sb.st_size;
}

static void test_assemble(void) {
    ff_err err = {0};
    char dir[512], out[600], paths[3][600];
    ff_test_tmp_path("farm_assemble", dir, sizeof dir);
    rm_rf(dir);
    mkdir(dir, 0755);
    Ff__JobSpec *s = ft_spec("{\"model\": \"/m\", \"prompt\": \"p\", \"seed\": 1, \"frames\": 41, \"width\": 16, "
                             "\"height\": 16, \"output\": \"/o.y4m\", \"chunking\": {\"frames\": 21, \"overlap\": 4}}",
                             &err);
    FF_REQUIRE(s != NULL);
    ff_chunk_window w[4];
    size_t n = 0;
    FF_REQUIRE_OK(ff_chunk_item_windows(s, 0, w, 4, &n, &err), &err);
    FF_REQUIRE(n == 3); /* L = 11, C = 6, O = 2: [0,6) [4,10) [8,11) */
    const char *pp[3];
    for (size_t k = 0; k < n; k++) {
        snprintf(paths[k], sizeof paths[k], "%s/%zu.frames", dir, k);
        write_chunk_file(paths[k], 0, &w[k], 16, 16, 0);
        pp[k] = paths[k];
    }
    snprintf(out, sizeof out, "%s/video.y4m", dir);
    FF_CHECK_OK(ff_assemble_item(s, w, pp, n, out, NULL, NULL, &err), &err);
    /* 41 frames of 16x16 4:2:0 */
    long header = -1, sz = file_size(out);
    FILE *f = fopen(out, "rb");
    if (f) {
        char line[256];
        if (fgets(line, sizeof line, f)) header = (long)strlen(line);
        fclose(f);
    }
    FF_CHECK_MSG(sz == header + 41 * (6 + 16 * 16 * 3 / 2), "size %ld header %ld", sz, header);
    /* a window short of one frame: refused, and no video left behind */
    write_chunk_file(paths[1], 0, &w[1], 16, 16, 1);
    char out2[640];
    snprintf(out2, sizeof out2, "%s/video2.y4m", dir);
    FF_CHECK(ff_assemble_item(s, w, pp, n, out2, NULL, NULL, &err) == FF_ERR_FORMAT);
    FF_CHECK_MSG(strstr(err.msg, "frames") != NULL, "%s", err.msg);
    FF_CHECK(file_size(out2) < 0);
    ff_jobspec_free(s);
}

/* ---- the state machine with fake peers ---------------------------------------- */

typedef struct {
    char rid[80];
    Ff__Envelope *env;
    size_t bytes; /* packed */
} sent_msg;

typedef struct {
    sent_msg msgs[256];
    int n;
} outbox;

static ff_status fake_send(void *user, const void *rid, size_t len, Ff__Envelope *env, ff_err *err) {
    outbox *o = user;
    if (o->n == 256) return ff_err_set(err, FF_ERR_IO, "outbox full");
    uint8_t *buf;
    size_t n;
    if (ff_wire_pack(env, &buf, &n, err)) return FF_ERR_IO;
    Ff__Envelope *copy = NULL;
    ff_status st = ff_wire_unpack(buf, n, 0, &copy, NULL, err);
    free(buf);
    if (st) return st;
    snprintf(o->msgs[o->n].rid, sizeof o->msgs[o->n].rid, "%.*s", (int)len, (const char *)rid);
    o->msgs[o->n].bytes = n;
    o->msgs[o->n++].env = copy;
    return FF_OK;
}

static void outbox_clear(outbox *o) {
    for (int i = 0; i < o->n; i++) ff_wire_free(o->msgs[i].env);
    o->n = 0;
}

/* The last message of kind `body` sent to rid (NULL if none). */
static Ff__Envelope *sent_to(outbox *o, const char *rid, Ff__Envelope__BodyCase body) {
    for (int i = o->n - 1; i >= 0; i--)
        if (!strcmp(o->msgs[i].rid, rid) && o->msgs[i].env->body_case == body) return o->msgs[i].env;
    return NULL;
}

static void heartbeat(ff_coord *c, const char *id, uint64_t busy, double now) {
    Ff__Heartbeat hb = FF__HEARTBEAT__INIT;
    hb.worker_id = (char *)id;
    hb.name = "test";
    hb.backend = "cpu";
    hb.has_device_bytes = 1;
    hb.device_bytes = 1 << 20;
    hb.has_busy_task = 1;
    hb.busy_task = busy;
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_HEARTBEAT;
    e.heartbeat = &hb;
    ff_err err;
    if (ff_coord_handle(c, id, strlen(id), &e, now, &err)) abort();
}

static uint64_t submit(ff_coord *c, outbox *ob, const char *json, double now) {
    ff_err err = {0};
    Ff__JobSpec *s = ft_spec(json, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    Ff__SubmitJob sj = FF__SUBMIT_JOB__INIT;
    sj.spec = s;
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_SUBMIT;
    e.submit = &sj;
    if (ff_coord_handle(c, "client", 6, &e, now, &err)) abort();
    ff_jobspec_free(s);
    Ff__Envelope *r = sent_to(ob, "client", FF__ENVELOPE__BODY_SUBMIT_REPLY);
    return r ? r->submit_reply->job_id : 0;
}

/* Plays a well-behaved worker finishing the task it was sent. */
static void finish_task(ff_coord *c, const char *id, const Ff__ChunkTask *t, double now) {
    int W = t->spec->width, H = t->spec->height, frames = ff_chunk_frames(t->lat_count);
    size_t fb = (size_t)W * H * 3;
    uint8_t *raw = calloc(fb, frames), *z = NULL;
    size_t zn = 0;
    ff_err err;
    for (int i = 0; i < frames; i++) memset(raw + i * fb, (int)(t->item * 40 + i), fb);
    if (ff_frames_deflate(raw, fb * frames, 1, &z, &zn, &err)) abort();
    Ff__ResultFrames rf = FF__RESULT_FRAMES__INIT;
    rf.has_task_id = rf.has_t0 = rf.has_count = rf.has_width = rf.has_height = rf.has_rgb_zlib = 1;
    rf.task_id = t->task_id;
    rf.count = frames;
    rf.width = W;
    rf.height = H;
    rf.rgb_zlib.data = z;
    rf.rgb_zlib.len = zn;
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_FRAMES;
    e.frames = &rf;
    if (ff_coord_handle(c, id, strlen(id), &e, now, &err)) abort();
    Ff__TaskDone d = FF__TASK_DONE__INIT;
    d.has_task_id = d.has_frames = 1;
    d.task_id = t->task_id;
    d.frames = frames;
    Ff__Envelope e2 = FF__ENVELOPE__INIT;
    e2.body_case = FF__ENVELOPE__BODY_DONE;
    e2.done = &d;
    if (ff_coord_handle(c, id, strlen(id), &e2, now, &err)) abort();
    free(raw);
    free(z);
}

static ff_coord *open_coord_opts(ff_coord_opts *o, outbox *ob, double now) {
    o->send = fake_send;
    o->user = ob;
    ff_coord *c = NULL;
    ff_err err;
    if (ff_coord_open(o, now, &c, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    return c;
}

static ff_coord *open_coord(const char *dir, outbox *ob, double now) {
    ff_coord_opts o = {0};
    const char *roots[1] = {dir};
    o.output_roots = roots;
    o.n_output_roots = 1;
    o.state_dir = dir;
    o.worker_timeout_s = 5;
    o.send = fake_send;
    o.user = ob;
    ff_coord *c = NULL;
    ff_err err;
    if (ff_coord_open(&o, now, &c, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    return c;
}

static void test_coord_flow(void) {
    char dir[512], out[600], job[1200];
    ff_test_tmp_path("farm_coord", dir, sizeof dir);
    rm_rf(dir);
    snprintf(out, sizeof out, "%s/out.y4m", dir);
    outbox ob = {0};
    ff_err err = {0};
    double now = 100;
    ff_coord *c = open_coord(dir, &ob, now);
    snprintf(job, sizeof job,
             "{\"model\": \"/m\", \"prompts\": [\"a\", \"b\", \"c\"], \"seed\": 3, \"frames\": 9, \"width\": 16, "
             "\"height\": 16, \"steps\": 2, \"output\": \"%s\"}",
             out);
    uint64_t id = submit(c, &ob, job, now);
    FF_REQUIRE(id == 1);
    /* a lower-priority older job and a higher-priority newer one */
    char job2[1300];
    snprintf(job2, sizeof job2,
             "{\"model\": \"/m\", \"prompt\": \"hi\", \"seed\": 1, \"frames\": 5, \"width\": 16, \"height\": 16, "
             "\"output\": \"%s/hi.y4m\", \"priority\": 9}",
             dir);
    uint64_t id2 = submit(c, &ob, job2, now);
    FF_CHECK(id2 == 2);
    outbox_clear(&ob);
    heartbeat(c, "w1", 0, now);
    heartbeat(c, "w2", 0, now);
    FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
    Ff__Envelope *t1 = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK), *t2 = sent_to(&ob, "w2", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t1 && t2);
    FF_CHECK(t1->task->job_id == 2); /* priority first */
    FF_CHECK(t2->task->job_id == 1 && t2->task->chunk == 0);
    finish_task(c, "w1", t1->task, now + 1);
    ff_cstate st;
    FF_CHECK_OK(ff_coord_sync_background(c, now + 1, &err), &err); /* the video is written in the background */
    FF_CHECK_OK(ff_coord_job_state(c, 2, &st, NULL, &err), &err);
    FF_CHECK(st == FF_CS_DONE);
    /* w2 dies mid-chunk: its chunk is queued again with one attempt counted */
    Ff__ChunkTask dead = *t2->task;
    (void)dead;
    outbox_clear(&ob);
    heartbeat(c, "w1", 0, now + 4);
    FF_CHECK_OK(ff_coord_tick(c, now + 4, &err), &err); /* w1 gets job 1 chunk 1 */
    t1 = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t1 && t1->task->chunk == 1);
    finish_task(c, "w1", t1->task, now + 5);
    outbox_clear(&ob);
    heartbeat(c, "w1", 0, now + 7);
    FF_CHECK_OK(ff_coord_tick(c, now + 7, &err), &err); /* w2 silent for 7 s: dead; chunk 0 goes to w1 */
    t1 = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t1);
    FF_CHECK(t1->task->job_id == 1);
    /* a stale result (w2's old task, sent by w1) is ignored */
    Ff__Envelope *keep = t1;
    finish_task(c, "w1", keep->task, now + 8);
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, now + 8, &err), &err);
    t1 = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t1 && t1->task->chunk == 2);
    /* the coordinator restarts while chunk 2 runs */
    ff_coord_close(c);
    outbox_clear(&ob);
    c = open_coord(dir, &ob, now + 20);
    FF_CHECK_OK(ff_coord_job_state(c, 1, &st, NULL, &err), &err);
    FF_CHECK(st == FF_CS_RUNNING);
    /* the worker still reports its old task: told to cancel it, gets nothing new until idle */
    heartbeat(c, "w1", t1 ? 0x1 : 0, now + 20);
    Ff__Envelope *cn = sent_to(&ob, "w1", FF__ENVELOPE__BODY_CANCEL);
    FF_CHECK(cn && cn->cancel->task_id == 1);
    FF_CHECK_OK(ff_coord_tick(c, now + 20, &err), &err);
    FF_CHECK(sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK) == NULL);
    heartbeat(c, "w1", 0, now + 21);
    FF_CHECK_OK(ff_coord_tick(c, now + 21, &err), &err);
    Ff__Envelope *t3 = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t3 && t3->task->chunk == 2);
    finish_task(c, "w1", t3->task, now + 22);
    FF_CHECK_OK(ff_coord_sync_background(c, now + 22, &err), &err);
    FF_CHECK_OK(ff_coord_job_state(c, 1, &st, NULL, &err), &err);
    FF_CHECK(st == FF_CS_DONE);
    /* status: every chunk done once; chunks 0 and 1 dispatched as often as before the restart */
    outbox_clear(&ob);
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    q.has_job_id = 1;
    q.job_id = 1;
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_STATUS;
    e.status = &q;
    FF_CHECK_OK(ff_coord_handle(c, "client", 6, &e, now + 23, &err), &err);
    Ff__Envelope *sr = sent_to(&ob, "client", FF__ENVELOPE__BODY_STATUS_REPLY);
    FF_REQUIRE(sr && sr->status_reply->n_jobs == 1);
    Ff__JobStatus *js = sr->status_reply->jobs[0];
    FF_CHECK(!strcmp(js->state, "done") && js->chunks_done == 3 && js->n_chunks == 3 && js->n_outputs == 3);
    for (size_t i = 0; i < js->n_chunks; i++) FF_CHECK(js->chunks[i]->completions == 1);
    FF_CHECK(js->chunks[0]->dispatches == 2 && js->chunks[0]->attempts == 1);
    FF_CHECK(js->chunks[1]->dispatches == 1 && js->chunks[2]->dispatches == 2);
    char item1[700];
    snprintf(item1, sizeof item1, "%s/out_0001.y4m", dir);
    FF_CHECK(file_size(item1) > 0);
    outbox_clear(&ob);
    ff_coord_close(c);
}

static void test_coord_retries_and_refusals(void) {
    char dir[512], job[1200];
    ff_test_tmp_path("farm_coord_retry", dir, sizeof dir);
    rm_rf(dir);
    outbox ob = {0};
    ff_err err = {0};
    double now = 0;
    ff_coord *c = open_coord(dir, &ob, now);
    snprintf(job, sizeof job,
             "{\"model\": \"/m\", \"prompt\": \"a\", \"seed\": 3, \"frames\": 5, \"width\": 16, \"height\": 16, "
             "\"output\": \"%s/o.y4m\", \"max_attempts\": 2}",
             dir);
    uint64_t id = submit(c, &ob, job, now);
    FF_REQUIRE(id == 1);
    /* a relative output, a bad spec: refused with an Error, nothing stored */
    outbox_clear(&ob);
    Ff__JobSpec *bad = ft_spec("{\"model\": \"/m\", \"prompt\": \"a\", \"seed\": 3, \"output\": \"rel.y4m\"}", &err);
    FF_REQUIRE(bad);
    Ff__SubmitJob sj = FF__SUBMIT_JOB__INIT;
    sj.spec = bad;
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_SUBMIT;
    e.submit = &sj;
    FF_CHECK_OK(ff_coord_handle(c, "client", 6, &e, now, &err), &err);
    Ff__Envelope *er = sent_to(&ob, "client", FF__ENVELOPE__BODY_ERROR);
    FF_CHECK(er && strstr(er->error->message, "absolute"));
    bad->width = 17;
    FF_CHECK_OK(ff_coord_handle(c, "client", 6, &e, now, &err), &err);
    er = sent_to(&ob, "client", FF__ENVELOPE__BODY_ERROR);
    FF_CHECK(er && strstr(er->error->message, "width 17"));
    ff_jobspec_free(bad);
    ff_cstate st;
    FF_CHECK(ff_coord_job_state(c, 2, &st, NULL, &err) == FF_ERR_NOT_FOUND);
    /* a task message sent to the coordinator: refused */
    Ff__Envelope *copy_task = NULL;
    heartbeat(c, "w1", 0, now);
    FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
    Ff__Envelope *t = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t);
    uint64_t first_task = t->task->task_id;
    outbox_clear(&ob); /* frees t */
    (void)copy_task;
    /* progress from an unregistered peer: refused */
    Ff__Progress pr = FF__PROGRESS__INIT;
    pr.has_task_id = 1;
    pr.task_id = 5;
    Ff__Envelope pe = FF__ENVELOPE__INIT;
    pe.body_case = FF__ENVELOPE__BODY_PROGRESS;
    pe.progress = &pr;
    FF_CHECK_OK(ff_coord_handle(c, "stranger", 8, &pe, now, &err), &err);
    FF_CHECK(sent_to(&ob, "stranger", FF__ENVELOPE__BODY_ERROR) != NULL);
    /* the worker reports a failure twice: the chunk (and the job) fail with its log */
    for (int round = 0; round < 2; round++) {
        uint64_t task = round == 0 ? first_task : 0;
        if (!task) {
            heartbeat(c, "w1", 0, now);
            FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
            Ff__Envelope *tt = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
            FF_REQUIRE(tt);
            task = tt->task->task_id;
        }
        Ff__TaskFailed f = FF__TASK_FAILED__INIT;
        f.has_task_id = 1;
        f.task_id = task;
        f.message = round ? "out of memory in vae" : "segfault in transformer";
        f.log = "worker log line";
        Ff__Envelope fe = FF__ENVELOPE__INIT;
        fe.body_case = FF__ENVELOPE__BODY_FAILED;
        fe.failed = &f;
        FF_CHECK_OK(ff_coord_handle(c, "w1", 2, &fe, now, &err), &err);
        outbox_clear(&ob);
    }
    const char *why = NULL;
    /* (the chunk failed twice: the job is over; a "busy, not started" reply never counts, see below) */
    FF_CHECK_OK(ff_coord_job_state(c, 1, &st, &why, &err), &err);
    FF_CHECK(st == FF_CS_FAILED);
    FF_CHECK_MSG(why && strstr(why, "after 2 attempts") && strstr(why, "segfault in transformer") &&
                     strstr(why, "out of memory in vae"),
                 "%s", why ? why : "(null)");
    /* cancel of an unknown job */
    Ff__Cancel cn = FF__CANCEL__INIT;
    cn.has_job_id = 1;
    cn.job_id = 42;
    Ff__Envelope ce = FF__ENVELOPE__INIT;
    ce.body_case = FF__ENVELOPE__BODY_CANCEL;
    ce.cancel = &cn;
    FF_CHECK_OK(ff_coord_handle(c, "client", 6, &ce, now, &err), &err);
    er = sent_to(&ob, "client", FF__ENVELOPE__BODY_ERROR);
    FF_CHECK(er && er->error->code == FF__ERROR__CODE__NOT_FOUND);
    /* a worker that was still busy refuses a task: queued again without an attempt */
    snprintf(job, sizeof job,
             "{\"model\": \"/m\", \"prompt\": \"a\", \"seed\": 4, \"frames\": 5, \"width\": 16, \"height\": 16, "
             "\"output\": \"%s/o2.y4m\", \"max_attempts\": 1}",
             dir);
    FF_REQUIRE(submit(c, &ob, job, now) == 2);
    heartbeat(c, "w1", 0, now);
    FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
    Ff__Envelope *t2 = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t2);
    Ff__TaskFailed nf = FF__TASK_FAILED__INIT;
    nf.has_task_id = nf.has_not_started = 1;
    nf.task_id = t2->task->task_id;
    nf.not_started = 1;
    nf.message = "worker is busy with another task";
    Ff__Envelope ne = FF__ENVELOPE__INIT;
    ne.body_case = FF__ENVELOPE__BODY_FAILED;
    ne.failed = &nf;
    FF_CHECK_OK(ff_coord_handle(c, "w1", 2, &ne, now, &err), &err);
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
    FF_CHECK(sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK) == NULL); /* not before its next heartbeat */
    heartbeat(c, "w1", 0, now + 0.5);
    FF_CHECK_OK(ff_coord_tick(c, now + 0.5, &err), &err);
    FF_CHECK(sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK) != NULL);
    FF_CHECK_OK(ff_coord_job_state(c, 2, &st, NULL, &err), &err);
    FF_CHECK(st == FF_CS_RUNNING); /* max_attempts 1, yet not failed */
    outbox_clear(&ob);
    ff_coord_stats stats;
    ff_coord_get_stats(c, &stats);
    FF_CHECK(stats.refused >= 3 && stats.jobs_failed == 1);
    outbox_clear(&ob);
    ff_coord_close(c);
}

/* ---- bounds: submit, replies, retention, dispatch, progress, assembly off the loop ---------- */

static Ff__Envelope *submit_raw(ff_coord *c, outbox *ob, Ff__JobSpec *s, double now) {
    Ff__SubmitJob sj = FF__SUBMIT_JOB__INIT;
    sj.spec = s;
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_SUBMIT;
    e.submit = &sj;
    ff_err err;
    outbox_clear(ob);
    if (ff_coord_handle(c, "client", 6, &e, now, &err)) abort();
    Ff__Envelope *r = sent_to(ob, "client", FF__ENVELOPE__BODY_SUBMIT_REPLY);
    return r ? r : sent_to(ob, "client", FF__ENVELOPE__BODY_ERROR);
}

/* Submits json; NULL when accepted, else the refusal's message (static buffer). */
static const char *refusal(ff_coord *c, outbox *ob, const char *json, double now) {
    static char msg[4096];
    ff_err err = {0};
    Ff__JobSpec *s = ft_spec(json, &err);
    if (!s) {
        snprintf(msg, sizeof msg, "(client side) %s", err.msg);
        return msg;
    }
    Ff__Envelope *r = submit_raw(c, ob, s, now);
    ff_jobspec_free(s);
    if (!r || r->body_case != FF__ENVELOPE__BODY_ERROR) return NULL;
    snprintf(msg, sizeof msg, "%s", r->error->message);
    return msg;
}

static Ff__Envelope *query(ff_coord *c, outbox *ob, const Ff__StatusQuery *q, double now) {
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_STATUS;
    e.status = (Ff__StatusQuery *)q;
    ff_err err;
    outbox_clear(ob);
    if (ff_coord_handle(c, "client", 6, &e, now, &err)) abort();
    return sent_to(ob, "client", FF__ENVELOPE__BODY_STATUS_REPLY);
}

static void fail_task(ff_coord *c, const char *id, uint64_t task, const char *msg, const char *log, double now) {
    Ff__TaskFailed f = FF__TASK_FAILED__INIT;
    f.has_task_id = 1;
    f.task_id = task;
    f.message = (char *)msg;
    f.log = (char *)log;
    Ff__Envelope fe = FF__ENVELOPE__INIT;
    fe.body_case = FF__ENVELOPE__BODY_FAILED;
    fe.failed = &f;
    ff_err err;
    if (ff_coord_handle(c, id, strlen(id), &fe, now, &err)) abort();
}

static void progress(ff_coord *c, const char *id, uint64_t task, int step, double now) {
    Ff__Progress p = FF__PROGRESS__INIT;
    p.has_task_id = p.has_stage = p.has_done = p.has_total = 1;
    p.task_id = task;
    p.stage = 1;
    p.done = step;
    p.total = 50;
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_PROGRESS;
    e.progress = &p;
    ff_err err;
    if (ff_coord_handle(c, id, strlen(id), &e, now, &err)) abort();
}

static long count_rows(const char *dir, const char *sql) {
    char path[700];
    snprintf(path, sizeof path, "%s/state.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* Submit refuses, before storing anything: the 10M-chunk job, a full queue,
 * outputs outside the roots (absolute, "..", a symlinked folder, a symlinked
 * leaf), a missing or unwritable folder, an unknown kind, invalid UTF-8. */
static void test_submit_bounds(void) {
    char dir[512], root[600], job[2048], out[900];
    ff_test_tmp_path("farm_bounds", dir, sizeof dir);
    rm_rf(dir);
    snprintf(root, sizeof root, "%s/videos", dir);
    mkdir(dir, 0755);
    mkdir(root, 0755);
    outbox ob = {0};
    ff_coord_opts o = {0};
    const char *roots[1] = {root};
    o.state_dir = dir;
    o.output_roots = roots;
    o.n_output_roots = 1;
    o.max_queued_chunks = 30;
    ff_coord *c = open_coord_opts(&o, &ob, 0);
    ff_err err = {0};
    /* 400 prompts x 25001 windows of 5 frames: 10M chunks, refused by count, nothing allocated for them */
    size_t at = 0;
    at += (size_t)snprintf(job + at, sizeof job - at, "{\"model\": \"/m\", \"seed\": 1, \"frames\": 100001, "
                           "\"chunking\": {\"frames\": 5, \"overlap\": 1}, \"output\": \"%s/o.y4m\", \"prompts\": [", root);
    for (int i = 0; i < 400; i++) at += (size_t)snprintf(job + at, sizeof job - at, "%s\"p\"", i ? "," : "");
    snprintf(job + at, sizeof job - at, "]}");
    char *big = strdup(job);
    const char *why = refusal(c, &ob, big, 0);
    free(big);
    FF_CHECK_MSG(why && strstr(why, "10000000 chunks (400 items x 25000 windows") && strstr(why, "--max-job-chunks"), "%s", why ? why : "(accepted)");
    FF_CHECK(count_rows(dir, "SELECT count(*) FROM chunks") == 0);
    /* the queue: 3 jobs of 10 chunks fit, the 4th does not */
    for (int k = 0; k < 4; k++) {
        snprintf(job, sizeof job,
                 "{\"model\": \"/m\", \"prompts\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\"], \"seed\": 1, "
                 "\"frames\": 5, \"width\": 16, \"height\": 16, \"output\": \"%s/q%d.y4m\"}",
                 root, k);
        why = refusal(c, &ob, job, 0);
        if (k < 3) FF_CHECK_MSG(!why, "%s", why);
        else FF_CHECK_MSG(why && strstr(why, "30 are still unfinished") && strstr(why, "--max-queued-chunks"), "%s",
                          why ? why : "(accepted)");
    }
    for (uint64_t id = 2; id <= 4; id++) { /* cancelled: the queue is free again */
        Ff__Cancel cn = FF__CANCEL__INIT;
        cn.has_job_id = 1;
        cn.job_id = id;
        Ff__Envelope ce = FF__ENVELOPE__INIT;
        ce.body_case = FF__ENVELOPE__BODY_CANCEL;
        ce.cancel = &cn;
        FF_CHECK_OK(ff_coord_handle(c, "client", 6, &ce, 0, &err), &err);
    }
    /* outputs */
    char link_dir[700], link_leaf[700], escape[700];
    snprintf(escape, sizeof escape, "%s/elsewhere", dir);
    mkdir(escape, 0755);
    snprintf(link_dir, sizeof link_dir, "%s/to-elsewhere", root);
    FF_CHECK(symlink(escape, link_dir) == 0);
    snprintf(link_leaf, sizeof link_leaf, "%s/leaf.y4m", root);
    snprintf(out, sizeof out, "%s/victim.y4m", escape);
    FF_CHECK(symlink(out, link_leaf) == 0);
    struct {
        const char *output, *want;
    } bad[] = {
        {"/etc/x.y4m", "outside this coordinator's output roots"},
        {"ROOT/../../etc/x.y4m", "'..' component"},
        {"ROOT/to-elsewhere/x.y4m", "outside this coordinator's output roots"},
        {"ROOT/leaf.y4m", "is a symlink"},
        {"ROOT/missing/x.y4m", "does not exist"},
        {"ROOT/x.avi", "not a known kind of output"},
        {"ROOT/frames", "not a known kind of output"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[800];
        if (!strncmp(bad[i].output, "ROOT", 4)) snprintf(path, sizeof path, "%s%s", root, bad[i].output + 4);
        else snprintf(path, sizeof path, "%s", bad[i].output);
        snprintf(job, sizeof job, "{\"model\": \"/m\", \"prompt\": \"p\", \"seed\": 1, \"frames\": 5, \"output\": \"%s\"}",
                 path);
        why = refusal(c, &ob, job, 0);
        FF_CHECK_MSG(why && strstr(why, bad[i].want), "%s: %s", path, why ? why : "(accepted)");
    }
    FF_CHECK_MSG(count_in_dir(escape) == 0, "something was written outside the roots");
    /* an output root where no file can be created (as root: /proc) */
    ff_coord_close(c);
    const char *proc_root[1] = {"/proc"};
    o.output_roots = proc_root;
    c = open_coord_opts(&o, &ob, 0);
    why = refusal(c, &ob, "{\"model\": \"/m\", \"prompt\": \"p\", \"seed\": 1, \"frames\": 5, \"output\": \"/proc/x.y4m\"}", 0);
    FF_CHECK_MSG(why && strstr(why, "cannot create files in /proc"), "%s", why ? why : "(accepted)");
    ff_coord_close(c);
    o.output_roots = roots;
    c = open_coord_opts(&o, &ob, 0);
    /* invalid UTF-8 (a client that skipped the checks): refused at submit, never sent to a worker */
    snprintf(job, sizeof job, "{\"model\": \"/m\", \"prompt\": \"p\", \"seed\": 1, \"frames\": 5, \"output\": \"%s/u.y4m\"}",
             root);
    Ff__JobSpec *s = ft_spec(job, &err);
    FF_REQUIRE(s);
    free(s->prompts[0]);
    s->prompts[0] = strdup("caf\xc3 au lait");
    Ff__Envelope *r = submit_raw(c, &ob, s, 0);
    FF_CHECK_MSG(r && r->body_case == FF__ENVELOPE__BODY_ERROR && strstr(r->error->message, "prompt 0 is not valid UTF-8"),
                 "%s", r && r->body_case == FF__ENVELOPE__BODY_ERROR ? r->error->message : "(accepted)");
    ff_jobspec_free(s);
    /* a folder of PNG frames per item: dir/ -> dir_0001/ */
    snprintf(job, sizeof job,
             "{\"model\": \"/m\", \"prompts\": [\"a\", \"b\"], \"seed\": 1, \"frames\": 5, \"output\": \"%s/frames/\"}", root);
    s = ft_spec(job, &err);
    FF_REQUIRE(s);
    char item[800];
    FF_CHECK_OK(ff_jobspec_item_output(s, 1, item, sizeof item, &err), &err);
    FF_CHECK_MSG(strstr(item, "/videos/frames_0001/"), "%s", item);
    ff_jobspec_free(s);
    outbox_clear(&ob);
    ff_coord_close(c);
}

/* 1100 failed jobs with long errors: the list is a bounded page, the
 * next page follows, one job's error and chunk list are bounded; then
 * retention forgets the oldest with their rows. */
static void test_status_bounded(void) {
    char dir[512], job[1200];
    ff_test_tmp_path("farm_status_bounds", dir, sizeof dir);
    rm_rf(dir);
    outbox ob = {0};
    ff_coord_opts o = {0};
    const char *roots[1] = {dir};
    mkdir(dir, 0755);
    o.state_dir = dir;
    o.output_roots = roots;
    o.n_output_roots = 1;
    o.keep_jobs = 5000;
    o.quarantine_after = -1; /* one worker fails every job here */
    ff_coord *c = open_coord_opts(&o, &ob, 0);
    ff_err err = {0};
    char *msg = malloc(FF_WIRE_MAX_TEXT), *log = malloc(FF_WIRE_MAX_LOG);
    FF_REQUIRE(msg && log);
    memset(msg, 'm', FF_WIRE_MAX_TEXT - 1);
    msg[FF_WIRE_MAX_TEXT - 1] = 0;
    memset(log, 'l', FF_WIRE_MAX_LOG - 1);
    log[FF_WIRE_MAX_LOG - 1] = 0;
    heartbeat(c, "w1", 0, 0);
    const int N = 1100;
    FF_CHECK_OK(ff_coord_begin(c, &err), &err);
    for (int i = 0; i < N; i++) {
        snprintf(job, sizeof job,
                 "{\"model\": \"/m\", \"prompt\": \"a\", \"seed\": %d, \"frames\": 5, \"width\": 16, \"height\": 16, "
                 "\"output\": \"%s/o%d.y4m\", \"max_attempts\": 1}",
                 i, dir, i);
        FF_REQUIRE(!refusal(c, &ob, job, 0));
        outbox_clear(&ob);
        FF_CHECK_OK(ff_coord_tick(c, 0, &err), &err);
        Ff__Envelope *t = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
        FF_REQUIRE(t);
        uint64_t task = t->task->task_id;
        outbox_clear(&ob);
        fail_task(c, "w1", task, msg, log, 0);
    }
    FF_CHECK_OK(ff_coord_commit(c, &err), &err);
    free(msg);
    free(log);
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    Ff__Envelope *r = query(c, &ob, &q, 0);
    FF_REQUIRE(r);
    size_t bytes = ob.msgs[ob.n - 1].bytes;
    const Ff__StatusReply *sr = r->status_reply;
    FF_CHECK_MSG(sr->n_jobs == FF_COORD_STATUS_JOBS_MAX && sr->more && sr->jobs_total == N, "%zu jobs, more %d, total %d",
                 sr->n_jobs, sr->more, sr->jobs_total);
    FF_CHECK_MSG(bytes < ((size_t)2 << 20), "a list reply of %zu bytes", bytes);
    FF_CHECK(!strcmp(sr->jobs[0]->state, "failed") && sr->jobs[0]->error_truncated &&
             strlen(sr->jobs[0]->error) == FF_COORD_LIST_ERROR_MAX);
    uint64_t last = sr->jobs[sr->n_jobs - 1]->job_id;
    q.has_after_job = 1;
    q.after_job = last;
    r = query(c, &ob, &q, 0);
    FF_REQUIRE(r);
    FF_CHECK(r->status_reply->n_jobs == (size_t)N - FF_COORD_STATUS_JOBS_MAX && !r->status_reply->more);
    Ff__StatusQuery one = FF__STATUS_QUERY__INIT;
    one.has_job_id = 1;
    one.job_id = 7;
    r = query(c, &ob, &one, 0);
    FF_REQUIRE(r && r->status_reply->n_jobs == 1);
    const Ff__JobStatus *js = r->status_reply->jobs[0];
    FF_CHECK(js->error && strlen(js->error) <= FF_COORD_JOB_ERROR_MAX && js->chunks_failed == 1 && js->n_chunks == 1);
    /* retention: at most 100 finished jobs, the oldest go with their rows */
    ff_coord_close(c);
    o.keep_jobs = 100;
    c = open_coord_opts(&o, &ob, 10);
    FF_CHECK_OK(ff_coord_begin(c, &err), &err);
    FF_CHECK_OK(ff_coord_tick(c, 10, &err), &err);
    FF_CHECK_OK(ff_coord_commit(c, &err), &err);
    ff_cstate st;
    FF_CHECK(ff_coord_job_state(c, 1, &st, NULL, &err) == FF_ERR_NOT_FOUND);
    FF_CHECK_OK(ff_coord_job_state(c, (uint64_t)N, &st, NULL, &err), &err);
    FF_CHECK(count_rows(dir, "SELECT count(*) FROM jobs") == 100 && count_rows(dir, "SELECT count(*) FROM chunks") == 100);
    /* and by age: everything finished more than an hour ago */
    ff_coord_close(c);
    o.keep_age_s = 3600;
    c = open_coord_opts(&o, &ob, 10);
    FF_CHECK_OK(ff_coord_tick(c, 10, &err), &err);
    FF_CHECK(count_rows(dir, "SELECT count(*) FROM jobs") == 100); /* not yet */
    FF_CHECK_OK(ff_coord_tick(c, 10 + 3601, &err), &err);
    FF_CHECK(count_rows(dir, "SELECT count(*) FROM jobs") == 0);
    ff_coord_stats stats;
    ff_coord_get_stats(c, &stats);
    FF_CHECK(stats.jobs_forgotten == 100);
    outbox_clear(&ob);
    ff_coord_close(c);
}

/* A worker that never starts its tasks: each dispatch is taken back after
 * the worker timeout; FF_COORD_MAX_UNSTARTED of them count one attempt, so
 * the job ends (failed) instead of dispatching forever. With a second
 * worker, the chunk goes there. */
static void test_unstarted_bounded(void) {
    char dir[512], job[1200];
    ff_test_tmp_path("farm_unstarted", dir, sizeof dir);
    rm_rf(dir);
    outbox ob = {0};
    ff_err err = {0};
    ff_coord *c = open_coord(dir, &ob, 0); /* worker timeout 5 s */
    snprintf(job, sizeof job,
             "{\"model\": \"/m\", \"prompt\": \"a\", \"seed\": 3, \"frames\": 5, \"width\": 16, \"height\": 16, "
             "\"output\": \"%s/o.y4m\", \"max_attempts\": 2}",
             dir);
    FF_REQUIRE(submit(c, &ob, job, 0) == 1);
    double now = 0;
    int dispatches = 0;
    ff_cstate st = FF_CS_QUEUED;
    for (int round = 0; round < 20 && st != FF_CS_FAILED; round++) {
        outbox_clear(&ob);
        heartbeat(c, "idle", 0, now);
        FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
        dispatches += sent_to(&ob, "idle", FF__ENVELOPE__BODY_TASK) != NULL;
        now += 6; /* past the worker timeout, still heartbeating idle */
        heartbeat(c, "idle", 0, now);
        FF_CHECK_OK(ff_coord_job_state(c, 1, &st, NULL, &err), &err);
    }
    const char *why = NULL;
    FF_CHECK_OK(ff_coord_job_state(c, 1, &st, &why, &err), &err);
    FF_CHECK_MSG(st == FF_CS_FAILED && dispatches == 2 * FF_COORD_MAX_UNSTARTED, "state %s after %d dispatches",
                 ff_cstate_name(st), dispatches);
    FF_CHECK_MSG(why && strstr(why, "never started") && strstr(why, "after 2 attempts"), "%s", why ? why : "");
    /* with a good worker too: the chunk lost on the idle one goes to the other */
    snprintf(job, sizeof job,
             "{\"model\": \"/m\", \"prompt\": \"b\", \"seed\": 3, \"frames\": 5, \"width\": 16, \"height\": 16, "
             "\"output\": \"%s/o2.y4m\"}",
             dir);
    FF_REQUIRE(submit(c, &ob, job, now) == 2);
    outbox_clear(&ob);
    heartbeat(c, "idle", 0, now);
    FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
    FF_REQUIRE(sent_to(&ob, "idle", FF__ENVELOPE__BODY_TASK));
    heartbeat(c, "good", 0, now);
    now += 6;
    outbox_clear(&ob);
    heartbeat(c, "idle", 0, now); /* never started: back to the queue */
    heartbeat(c, "good", 0, now);
    FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
    FF_CHECK(sent_to(&ob, "idle", FF__ENVELOPE__BODY_TASK) == NULL);
    Ff__Envelope *t = sent_to(&ob, "good", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t);
    heartbeat(c, "good", t->task->task_id, now);
    finish_task(c, "good", t->task, now + 1);
    FF_CHECK_OK(ff_coord_sync_background(c, now + 1, &err), &err);
    FF_CHECK_OK(ff_coord_job_state(c, 2, &st, NULL, &err), &err);
    FF_CHECK(st == FF_CS_DONE);
    outbox_clear(&ob);
    ff_coord_close(c);
}

/* A busy worker that stops making progress loses its chunk: after the
 * job's chunk_timeout_s, or by default after max(progress_timeout_s, 10x
 * the slowest step seen). */
static void test_progress_timeout(void) {
    char dir[512], job[1200];
    ff_test_tmp_path("farm_progress", dir, sizeof dir);
    rm_rf(dir);
    mkdir(dir, 0755);
    outbox ob = {0};
    ff_err err = {0};
    ff_coord_opts o = {0};
    const char *roots[1] = {dir};
    o.state_dir = dir;
    o.output_roots = roots;
    o.n_output_roots = 1;
    o.worker_timeout_s = 5;
    o.progress_timeout_s = 30;
    ff_coord *c = open_coord_opts(&o, &ob, 0);
    snprintf(job, sizeof job,
             "{\"model\": \"/m\", \"prompt\": \"a\", \"seed\": 3, \"frames\": 5, \"width\": 16, \"height\": 16, "
             "\"output\": \"%s/o.y4m\"}",
             dir);
    FF_REQUIRE(submit(c, &ob, job, 0) == 1);
    double now = 0;
    outbox_clear(&ob);
    heartbeat(c, "slow", 0, now);
    FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
    Ff__Envelope *t = sent_to(&ob, "slow", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t);
    uint64_t task = t->task->task_id;
    /* steps of 4 s: the limit becomes max(30, 40) = 40 s */
    for (int k = 1; k <= 3; k++) {
        now += 4;
        heartbeat(c, "slow", task, now);
        progress(c, "slow", task, k, now);
    }
    double last = now;
    for (; now < last + 39; now += 2) { /* busy, heartbeating, no progress: kept for 40 s */
        heartbeat(c, "slow", task, now);
        outbox_clear(&ob);
        FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
        FF_REQUIRE(sent_to(&ob, "slow", FF__ENVELOPE__BODY_CANCEL) == NULL);
    }
    now = last + 41;
    heartbeat(c, "slow", task, now);
    heartbeat(c, "other", 0, now);
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, now, &err), &err);
    Ff__Envelope *cn = sent_to(&ob, "slow", FF__ENVELOPE__BODY_CANCEL);
    FF_CHECK(cn && cn->cancel->task_id == task);
    Ff__Envelope *t2 = sent_to(&ob, "other", FF__ENVELOPE__BODY_TASK); /* on another worker at once */
    FF_REQUIRE(t2);
    finish_task(c, "other", t2->task, now + 1);
    FF_CHECK_OK(ff_coord_sync_background(c, now + 1, &err), &err);
    ff_cstate st;
    FF_CHECK_OK(ff_coord_job_state(c, 1, &st, NULL, &err), &err);
    FF_CHECK(st == FF_CS_DONE);
    /* an explicit chunk_timeout_s wins */
    snprintf(job, sizeof job,
             "{\"model\": \"/m\", \"prompt\": \"b\", \"seed\": 3, \"frames\": 5, \"width\": 16, \"height\": 16, "
             "\"output\": \"%s/o2.y4m\", \"chunk_timeout_s\": 5}",
             dir);
    FF_REQUIRE(submit(c, &ob, job, now) == 2);
    outbox_clear(&ob);
    heartbeat(c, "slow", 0, now + 2);
    heartbeat(c, "other", 0, now + 2);
    FF_CHECK_OK(ff_coord_tick(c, now + 2, &err), &err);
    const char *holder = sent_to(&ob, "slow", FF__ENVELOPE__BODY_TASK) ? "slow" : "other";
    t = sent_to(&ob, holder, FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t);
    task = t->task->task_id;
    heartbeat(c, holder, task, now + 4);
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, now + 6, &err), &err);
    FF_CHECK(sent_to(&ob, holder, FF__ENVELOPE__BODY_CANCEL) == NULL);
    heartbeat(c, holder, task, now + 8);
    FF_CHECK_OK(ff_coord_tick(c, now + 8, &err), &err);
    FF_CHECK(sent_to(&ob, holder, FF__ENVELOPE__BODY_CANCEL) != NULL);
    outbox_clear(&ob);
    ff_coord_close(c);
}

/* The videos are written on the background thread: the state machine
 * answers status while an assembly is held in the middle of a video (TEST
 * MODE), shows it as "assembling", and finishes the job once released. */
static void test_assembly_off_loop(void) {
    char dir[512], job[1200], release[700], out[700];
    ff_test_tmp_path("farm_assembly", dir, sizeof dir);
    rm_rf(dir);
    mkdir(dir, 0755);
    outbox ob = {0};
    ff_err err = {0};
    ff_coord_opts o = {0};
    const char *roots[1] = {dir};
    o.state_dir = dir;
    o.output_roots = roots;
    o.n_output_roots = 1;
    o.test_hold_assembly = 1;
    ff_coord *c = open_coord_opts(&o, &ob, 0);
    snprintf(out, sizeof out, "%s/held.y4m", dir);
    snprintf(job, sizeof job,
             "{\"model\": \"/m\", \"prompt\": \"a\", \"seed\": 3, \"frames\": 9, \"width\": 16, \"height\": 16, "
             "\"output\": \"%s\"}",
             out);
    FF_REQUIRE(submit(c, &ob, job, 0) == 1);
    outbox_clear(&ob);
    heartbeat(c, "w", 0, 0);
    FF_CHECK_OK(ff_coord_tick(c, 0, &err), &err);
    Ff__Envelope *t = sent_to(&ob, "w", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t);
    finish_task(c, "w", t->task, 1);
    FF_CHECK_OK(ff_coord_tick(c, 1, &err), &err); /* starts the assembly */
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    q.has_job_id = 1;
    q.job_id = 1;
    int seen = 0;
    for (int k = 0; k < 2000 && !seen; k++) { /* wait (bounded) until it holds after its first frame */
        Ff__Envelope *r = query(c, &ob, &q, 1);
        FF_REQUIRE(r);
        const Ff__JobStatus *js = r->status_reply->jobs[0];
        seen = !strcmp(js->state, "assembling") && js->assembled_frames >= 1;
        if (!seen) usleep(5000);
    }
    FF_CHECK_MSG(seen, "no status showed the assembly in progress");
    Ff__Envelope *r = query(c, &ob, &q, 1); /* answered while the video is half written */
    FF_CHECK(r && !strcmp(r->status_reply->jobs[0]->state, "assembling") && r->status_reply->jobs[0]->assemble_frames == 9);
    FF_CHECK(file_size(out) < 0); /* the video appears whole, by rename, or not at all */
    snprintf(release, sizeof release, "%s/test-release-assembly", dir);
    FILE *f = fopen(release, "w");
    if (f) fclose(f);
    FF_CHECK_OK(ff_coord_sync_background(c, 2, &err), &err);
    ff_cstate st;
    FF_CHECK_OK(ff_coord_job_state(c, 1, &st, NULL, &err), &err);
    FF_CHECK(st == FF_CS_DONE && file_size(out) > 0);
    outbox_clear(&ob);
    ff_coord_close(c);
}


/* Times and ETA in status (wall clock from the coordinator's clock), the
 * chunk each worker renders, the counts metrics read, and the job list
 * newest first (coordinator --http pages it that way). */
static void test_status_times_newest_counts(void) {
    char dir[512], job[1200];
    ff_test_tmp_path("farm_status_times", dir, sizeof dir);
    rm_rf(dir);
    mkdir(dir, 0755);
    outbox ob = {0};
    ff_err err = {0};
    ff_coord *c = open_coord(dir, &ob, 1000);
    for (int i = 0; i < 3; i++) {
        snprintf(job, sizeof job,
                 "{\"model\": \"/m\", \"prompt\": \"a\", \"seed\": %d, \"frames\": 5, \"width\": 16, \"height\": 16, "
                 "\"output\": \"%s/t%d.y4m\"}",
                 i, dir, i);
        FF_REQUIRE(submit(c, &ob, job, 1000) == (uint64_t)i + 1);
    }
    heartbeat(c, "w1", 0, 1010);
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, 1010, &err), &err);
    Ff__Envelope *t = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t && t->task->job_id == 1);
    uint64_t task = t->task->task_id;
    progress(c, "w1", task, 25, 1020); /* half the steps: progress 0.02 + 0.88 / 2 */
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    q.has_job_id = 1;
    q.job_id = 1;
    Ff__Envelope *r = query(c, &ob, &q, 1030);
    FF_REQUIRE(r && r->status_reply->n_jobs == 1);
    const Ff__JobStatus *j = r->status_reply->jobs[0];
    FF_CHECK(j->has_submitted_at && j->submitted_at > 1.5e9); /* seconds since the epoch */
    FF_CHECK(j->has_started_at && j->started_at - j->submitted_at == 10);
    FF_CHECK(j->has_elapsed_s && j->elapsed_s == 30 && !j->has_finished_at);
    double p = 0.02 + 0.88 * 0.5, eta = 20 * (1 - p) / p;
    FF_CHECK_MSG(j->has_eta_s && fabs(j->eta_s - eta) < 1e-6, "eta %g, want %g", j->eta_s, eta);
    q.job_id = 2; /* not started: no start, no ETA */
    r = query(c, &ob, &q, 1030);
    FF_REQUIRE(r && r->status_reply->n_jobs == 1);
    FF_CHECK(!r->status_reply->jobs[0]->has_started_at && !r->status_reply->jobs[0]->has_eta_s);
    /* the worker's chunk */
    Ff__WorkersQuery wq = FF__WORKERS_QUERY__INIT;
    Ff__Envelope we = FF__ENVELOPE__INIT;
    we.body_case = FF__ENVELOPE__BODY_WORKERS;
    we.workers = &wq;
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_handle(c, "client", 6, &we, 1030, &err), &err);
    Ff__Envelope *wr = sent_to(&ob, "client", FF__ENVELOPE__BODY_WORKERS_REPLY);
    FF_REQUIRE(wr && wr->workers_reply->n_workers == 1);
    FF_CHECK(wr->workers_reply->workers[0]->has_job_id && wr->workers_reply->workers[0]->job_id == 1 &&
             wr->workers_reply->workers[0]->has_chunk && wr->workers_reply->workers[0]->chunk == 0);
    /* counts by state */
    ff_coord_counts k;
    ff_coord_get_counts(c, &k);
    FF_CHECK(k.jobs[FF_CS_RUNNING] == 1 && k.jobs[FF_CS_QUEUED] == 2 && k.chunks[FF_CS_RUNNING] == 1 &&
             k.chunks[FF_CS_QUEUED] == 2 && k.workers_busy == 1 && k.workers_idle == 0);
    /* newest first, in pages */
    Ff__StatusQuery l = FF__STATUS_QUERY__INIT;
    l.has_newest_first = l.newest_first = 1;
    l.has_job_limit = 1;
    l.job_limit = 2;
    r = query(c, &ob, &l, 1030);
    FF_REQUIRE(r);
    FF_CHECK(r->status_reply->n_jobs == 2 && r->status_reply->jobs[0]->job_id == 3 && r->status_reply->jobs[1]->job_id == 2 &&
             r->status_reply->more && r->status_reply->jobs_total == 3);
    l.has_after_job = 1;
    l.after_job = 2;
    r = query(c, &ob, &l, 1030);
    FF_REQUIRE(r);
    FF_CHECK(r->status_reply->n_jobs == 1 && r->status_reply->jobs[0]->job_id == 1 && !r->status_reply->more);
    l.after_job = 1;
    r = query(c, &ob, &l, 1030);
    FF_CHECK(r && r->status_reply->n_jobs == 0 && !r->status_reply->more);
    outbox_clear(&ob);
    ff_coord_close(c);
}


/* ---- operators (issue 21): backoff, quarantine, pause/resume, priority, items early, kept results ---- */

static void control(ff_coord *c, outbox *ob, uint64_t job, Ff__JobControl__Op op, int prio, double now) {
    Ff__JobControl k = FF__JOB_CONTROL__INIT;
    k.has_op = k.has_job_id = 1;
    k.op = op;
    k.job_id = job;
    k.has_priority = op == FF__JOB_CONTROL__OP__PRIORITY;
    k.priority = prio;
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_CONTROL;
    e.control = &k;
    ff_err err;
    outbox_clear(ob);
    if (ff_coord_handle(c, "client", 6, &e, now, &err)) abort();
}

static void held_heartbeat(ff_coord *c, const char *id, uint64_t held, double now) {
    Ff__Heartbeat hb = FF__HEARTBEAT__INIT;
    hb.worker_id = (char *)id;
    hb.name = "test";
    hb.has_busy_task = hb.has_held_task = 1;
    hb.held_task = held;
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_HEARTBEAT;
    e.heartbeat = &hb;
    ff_err err;
    if (ff_coord_handle(c, id, strlen(id), &e, now, &err)) abort();
}

static void test_operator_controls(void) {
    char dir[512], job[1200];
    ff_test_tmp_path("farm_operators", dir, sizeof dir);
    rm_rf(dir);
    mkdir(dir, 0755);
    outbox ob = {0};
    ff_coord_opts o = {0};
    const char *roots[1] = {dir};
    o.state_dir = dir;
    o.output_roots = roots;
    o.n_output_roots = 1;
    o.worker_timeout_s = 1000;
    o.quarantine_after = 2;
    ff_coord *c = open_coord_opts(&o, &ob, 0);
    ff_err err = {0};
    snprintf(job, sizeof job,
             "{\"model\": \"/m\", \"prompts\": [\"a\", \"b\"], \"seed\": 1, \"frames\": 5, \"width\": 16, "
             "\"height\": 16, \"output\": \"%s/v-{item}.y4m\", \"max_attempts\": 5, \"retry_backoff_s\": 2}",
             dir);
    FF_REQUIRE(submit(c, &ob, job, 0) == 1);
    /* w1 fails chunk 0: it waits 2 s; w1 takes chunk 1 meanwhile and fails it too: quarantined */
    heartbeat(c, "w1", 0, 0);
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, 0, &err), &err);
    Ff__Envelope *t = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t && t->task->chunk == 0);
    fail_task(c, "w1", t->task->task_id, "boom", NULL, 0.1);
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, 0.2, &err), &err);
    t = sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t && t->task->chunk == 1); /* chunk 0 is on hold */
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    q.has_job_id = 1;
    q.job_id = 1;
    fail_task(c, "w1", t->task->task_id, "boom", NULL, 0.3);
    Ff__Envelope *r = query(c, &ob, &q, 0.4);
    FF_REQUIRE(r && r->status_reply->n_jobs == 1);
    const Ff__JobStatus *js = r->status_reply->jobs[0];
    FF_CHECK(js->chunks[0]->has_retry_at && js->chunks[1]->has_retry_at && js->retry_backoff_s == 2 && js->max_attempts == 5);
    FF_CHECK(js->chunks[0]->retry_at < js->chunks[1]->retry_at);
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, 10, &err), &err);
    FF_CHECK(sent_to(&ob, "w1", FF__ENVELOPE__BODY_TASK) == NULL); /* quarantined: nothing, though both are due */
    Ff__WorkersQuery wq = FF__WORKERS_QUERY__INIT;
    Ff__Envelope we = FF__ENVELOPE__INIT;
    we.body_case = FF__ENVELOPE__BODY_WORKERS;
    we.workers = &wq;
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_handle(c, "client", 6, &we, 10, &err), &err);
    r = sent_to(&ob, "client", FF__ENVELOPE__BODY_WORKERS_REPLY);
    FF_CHECK(r && r->workers_reply->n_workers == 1 && r->workers_reply->workers[0]->quarantined &&
             !strcmp(r->workers_reply->workers[0]->state, "quarantined"));
    /* paused: w2 gets nothing; resumed: it does */
    control(c, &ob, 1, FF__JOB_CONTROL__OP__PAUSE, 0, 10);
    r = sent_to(&ob, "client", FF__ENVELOPE__BODY_STATUS_REPLY);
    FF_CHECK(r && r->status_reply->jobs[0]->paused);
    heartbeat(c, "w2", 0, 10);
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, 10, &err), &err);
    FF_CHECK(sent_to(&ob, "w2", FF__ENVELOPE__BODY_TASK) == NULL);
    control(c, &ob, 1, FF__JOB_CONTROL__OP__RESUME, 0, 11);
    control(c, &ob, 1, FF__JOB_CONTROL__OP__PRIORITY, 42, 11);
    r = sent_to(&ob, "client", FF__ENVELOPE__BODY_STATUS_REPLY);
    FF_CHECK(r && r->status_reply->jobs[0]->priority == 42 && !r->status_reply->jobs[0]->paused);
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, 11, &err), &err);
    t = sent_to(&ob, "w2", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t && t->task->chunk == 0);
    /* chunk 0 done: item 0's video is written while chunk 1 is still queued; status lists only it */
    finish_task(c, "w2", t->task, 12);
    FF_CHECK(sent_to(&ob, "w2", FF__ENVELOPE__BODY_RESULT_ACK) != NULL); /* the worker may forget it */
    FF_CHECK_OK(ff_coord_sync_background(c, 12, &err), &err);
    char v0[600], v1[600];
    snprintf(v0, sizeof v0, "%s/v-0000.y4m", dir);
    snprintf(v1, sizeof v1, "%s/v-0001.y4m", dir);
    FF_CHECK(file_size(v0) > 0 && file_size(v1) < 0);
    r = query(c, &ob, &q, 12);
    FF_REQUIRE(r);
    js = r->status_reply->jobs[0];
    FF_CHECK(js->n_outputs == 1 && !strcmp(js->outputs[0], v0) && js->n_output_items == 1 && js->output_items[0] == 0);
    FF_CHECK(js->outputs_written == 1 && !strcmp(js->state, "running"));
    /* chunk 1 goes to w2 as task T; the coordinator stops before the result arrives */
    outbox_clear(&ob);
    FF_CHECK_OK(ff_coord_tick(c, 13, &err), &err);
    t = sent_to(&ob, "w2", FF__ENVELOPE__BODY_TASK);
    FF_REQUIRE(t && t->task->chunk == 1);
    Ff__ChunkTask kept = *t->task;
    Ff__JobSpec *kspec = NULL;
    FF_REQUIRE(!ff_jobspec_clone(t->task->spec, &kspec, &err));
    kept.spec = kspec;
    ff_coord_close(c);
    outbox_clear(&ob);
    /* after the restart: chunk 1 waits for its worker, which kept the result: sent again, not rendered again */
    c = open_coord_opts(&o, &ob, 100);
    held_heartbeat(c, "w3", 0, 100); /* another idle worker gets nothing while chunk 1 waits */
    FF_CHECK_OK(ff_coord_tick(c, 100, &err), &err);
    FF_CHECK(sent_to(&ob, "w3", FF__ENVELOPE__BODY_TASK) == NULL);
    held_heartbeat(c, "w2", kept.task_id, 101);
    Ff__Envelope *ack = sent_to(&ob, "w2", FF__ENVELOPE__BODY_RESULT_ACK);
    FF_REQUIRE(ack && ack->result_ack->task_id == kept.task_id && ack->result_ack->resend);
    finish_task(c, "w2", &kept, 101.5);
    FF_CHECK_OK(ff_coord_sync_background(c, 102, &err), &err);
    ff_cstate st;
    FF_CHECK_OK(ff_coord_job_state(c, 1, &st, NULL, &err), &err);
    FF_CHECK(st == FF_CS_DONE && file_size(v1) > 0);
    r = query(c, &ob, &q, 102);
    FF_REQUIRE(r);
    js = r->status_reply->jobs[0];
    FF_CHECK(js->chunks[1]->dispatches == 2 && js->chunks[1]->completions == 1 && js->n_outputs == 2); /* w1 (failed), w2 */
    /* a kept result nobody waits for is dropped */
    outbox_clear(&ob);
    held_heartbeat(c, "w2", kept.task_id, 103);
    ack = sent_to(&ob, "w2", FF__ENVELOPE__BODY_RESULT_ACK);
    FF_CHECK(ack && !ack->result_ack->resend);
    ff_jobspec_free(kspec);
    outbox_clear(&ob);
    ff_coord_close(c);
}

int main(void) {
    FF_RUN(test_chunk_plan);
    FF_RUN(test_assemble);
    FF_RUN(test_coord_flow);
    FF_RUN(test_coord_retries_and_refusals);
    FF_RUN(test_submit_bounds);
    FF_RUN(test_status_bounded);
    FF_RUN(test_unstarted_bounded);
    FF_RUN(test_progress_timeout);
    FF_RUN(test_assembly_off_loop);
    FF_RUN(test_status_times_newest_counts);
    FF_RUN(test_operator_controls);
    return ff_test_summary();
}
