/* The farm end to end: real `framefarm coordinator` / `worker` / client
 * processes on 127.0.0.1 (ports chosen by the OS, read back from the
 * coordinator's state/endpoint), the embedded tiny model, SIGKILL for real.
 * Nothing depends on timing to pass: every wait polls the coordinator's
 * state with a generous bound, and "mid-chunk" is made certain with the
 * worker's --test-stall-step test mode.
 *
 *  - a batch job over 3 workers gives the same bytes as `framefarm render`
 *    of each item alone (same thread count: the CPU kernels' sums depend on it);
 *  - a worker killed mid-chunk: the chunk is re-run elsewhere and the
 *    (cut, cross-faded) video is bit-identical to a run without the kill;
 *  - the coordinator killed and restarted resumes the job, and no finished
 *    chunk is rendered twice (dispatch/completion counts from state.db);
 *  - malformed, oversized, wrong-version, wrongly framed and forged
 *    messages are refused with an Error and logged; the coordinator keeps
 *    serving;
 *  - results through a shared directory (worker and coordinator --shared-dir)
 *    give the same bytes as inline frames; a corrupted or missing shared file
 *    fails the attempt and the chunk is re-run;
 *  - CURVE: a client without (or with the wrong) server key is refused;
 *    with --curve-allow, an unlisted client or worker key is refused and a
 *    listed one accepted;
 *    without keys a wildcard bind stays on loopback;
 *  - bounds (issue 16): a worker that heartbeats idle and never starts its
 *    task, and one that stalls busy, lose the chunk, which finishes on
 *    another worker; the job list after 1100 failed jobs is a bounded page
 *    answered within a second while a video is being written (held after
 *    its first frame by the coordinator's TEST MODE, so the answer provably
 *    comes mid-assembly). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "core/ff_json.h"
#include "proto/ff_jobspec.h"
#include "proto/ff_net.h"
#include "proto/ff_wire.h"
#include "tests/common/ff_test.h"
#include "tests/farm/farm_proc.h"

#define WAIT_S 180.0 /* generous bound for anything to happen */

static char g_tmp[512], g_model[700];

typedef struct {
    char dir[700], state[800], ep[256], log[800];
    pid_t coord;
    fp_procs ps;
} farm;

static void rm_rf(const char *p) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd)) {
    }
}

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void farm_init(farm *f, const char *name) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/%s", g_tmp, name);
    rm_rf(f->dir);
    mkdir(f->dir, 0755);
    snprintf(f->state, sizeof f->state, "%s/state", f->dir);
    snprintf(f->log, sizeof f->log, "%s/coordinator.log", f->dir);
}

/* Starts the coordinator and waits for its endpoint file. */
static int farm_start_coord(farm *f, const char *bind, const char *const *extra) {
    char ep_path[900];
    snprintf(ep_path, sizeof ep_path, "%s/endpoint", f->state);
    unlink(ep_path);
    char *args[24];
    int k = 0;
    args[k++] = "coordinator";
    args[k++] = "--bind";
    args[k++] = (char *)bind;
    args[k++] = "--state";
    args[k++] = f->state;
    args[k++] = "--worker-timeout";
    args[k++] = "3";
    args[k++] = "--log-level";
    args[k++] = "debug";
    args[k++] = "--output-root"; /* the tests' videos go next to their state */
    args[k++] = f->dir;
    for (int i = 0; extra && extra[i]; i++) args[k++] = (char *)extra[i];
    args[k] = NULL;
    f->coord = fp_start(&f->ps, f->log, args);
    double t0 = fp_now();
    while (fp_now() - t0 < WAIT_S) {
        char buf[256];
        if (!fp_read(ep_path, buf, sizeof buf) && buf[0]) {
            buf[strcspn(buf, "\n")] = 0;
            snprintf(f->ep, sizeof f->ep, "%s", buf);
            return 0;
        }
        if (waitpid(f->coord, NULL, WNOHANG) == f->coord) return -1;
        fp_sleep_ms(20);
    }
    return -1;
}

static pid_t farm_start_worker(farm *f, const char *name, const char *const *extra) {
    char log[900];
    snprintf(log, sizeof log, "%s/%s.log", f->dir, name);
    char *args[24];
    int k = 0;
    args[k++] = "worker";
    args[k++] = "--connect";
    args[k++] = f->ep;
    args[k++] = "--threads";
    args[k++] = "1";
    args[k++] = "--heartbeat";
    args[k++] = "0.3";
    args[k++] = "--name";
    args[k++] = (char *)name;
    args[k++] = "--log-level";
    args[k++] = "debug";
    for (int i = 0; extra && extra[i]; i++) args[k++] = (char *)extra[i];
    args[k] = NULL;
    return fp_start(&f->ps, log, args);
}

/* The job's status as JSON (NULL when the coordinator does not answer). */
static ff_json_doc *job_status(farm *f, unsigned long long id, const char *const *extra) {
    char idbuf[32], out[1 << 16];
    snprintf(idbuf, sizeof idbuf, "%llu", id);
    char *args[16];
    int k = 0;
    args[k++] = "status";
    args[k++] = idbuf;
    args[k++] = "--json";
    args[k++] = "--connect";
    args[k++] = f->ep;
    args[k++] = "--timeout";
    args[k++] = "5";
    for (int i = 0; extra && extra[i]; i++) args[k++] = (char *)extra[i];
    args[k] = NULL;
    if (fp_run(args, out, sizeof out, NULL) != 0) return NULL;
    ff_json_doc *doc = NULL;
    ff_err err;
    if (ff_json_parse(out, strlen(out), "status --json", &doc, &err)) return NULL;
    return doc;
}

static const char *jstr(const ff_json *o, const char *k) {
    const char *s = ff_json_get_string(o, k);
    return s ? s : "";
}
static int64_t jint(const ff_json *o, const char *k) {
    int64_t v = -1;
    ff_json_get_int64(o, k, -1, &v);
    return v;
}

/* Polls until the job reaches state `want` (or a terminal state). */
static int wait_job_state(farm *f, unsigned long long id, const char *want) {
    double t0 = fp_now();
    while (fp_now() - t0 < WAIT_S) {
        ff_json_doc *d = job_status(f, id, NULL);
        if (d) {
            const char *s = jstr(ff_json_root(d), "state");
            int hit = !strcmp(s, want), term = !strcmp(s, "failed") || !strcmp(s, "cancelled") || !strcmp(s, "done");
            if (!hit && term) fprintf(stderr, "job %llu is %s (waiting for %s): %s\n", id, s, want, jstr(ff_json_root(d), "error"));
            ff_json_free(d);
            if (hit) return 0;
            if (term) return -1;
        }
        fp_sleep_ms(100);
    }
    fprintf(stderr, "job %llu: gave up waiting for state %s\n", id, want);
    return -1;
}

static unsigned long long submit(farm *f, const char *job_path, const char *const *extra) {
    char out[256];
    char *args[16];
    int k = 0;
    args[k++] = "submit";
    args[k++] = (char *)job_path;
    args[k++] = "--connect";
    args[k++] = f->ep;
    for (int i = 0; extra && extra[i]; i++) args[k++] = (char *)extra[i];
    args[k] = NULL;
    char errlog[900];
    snprintf(errlog, sizeof errlog, "%s/clients.log", f->dir);
    if (fp_run(args, out, sizeof out, errlog) != 0) return 0;
    return strtoull(out, NULL, 10);
}

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    if (!fp) return;
    fputs(text, fp);
    fclose(fp);
}

/* `framefarm render` of one item alone, into out. */
static int render_alone(const char *prompt, const char *seed, const char *frames, const char *out) {
    char *args[] = {"render", "--model", g_model, "--prompt", (char *)prompt, "--seed", (char *)seed, "--steps", "3",
                    "--frames", (char *)frames, "--width", "64", "--height", "64", "--no-tile", "--threads", "1",
                    "--out", (char *)out, NULL};
    return fp_run(args, NULL, 0, NULL);
}

static int count_in_file(const char *path, const char *needle) {
    static char buf[1 << 20];
    if (fp_read(path, buf, sizeof buf)) return 0;
    int n = 0;
    for (const char *p = buf; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* ---- a batch over 3 workers = each item alone ------------------------------------------ */

static void test_batch_same_bytes(void) {
    farm f;
    farm_init(&f, "batch");
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", NULL) == 0);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        farm_start_worker(&f, name, NULL);
    }
    char job[900], text[2048];
    snprintf(job, sizeof job, "%s/job.json", f.dir);
    snprintf(text, sizeof text,
             "{\"model\": \"%s\", \"prompts\": [\"a cat\", \"a dog runs on the beach\", \"sunset\"], \"seeds\": [7, 8, 9], "
             "\"width\": 64, \"height\": 64, \"frames\": 17, \"steps\": 3, \"output\": \"%s/out.y4m\"}",
             g_model, f.dir);
    write_text(job, text);
    const char *wait[] = {"--wait", "--wait-timeout", "180", NULL};
    unsigned long long id = submit(&f, job, wait);
    FF_CHECK(id == 1);
    const char *prompts[] = {"a cat", "a dog runs on the beach", "sunset"}, *seeds[] = {"7", "8", "9"};
    for (int i = 0; i < 3; i++) {
        char out[900], ref[900];
        snprintf(out, sizeof out, "%s/out_%04d.y4m", f.dir, i);
        snprintf(ref, sizeof ref, "%s/alone_%d.y4m", f.dir, i);
        FF_CHECK(render_alone(prompts[i], seeds[i], "17", ref) == 0);
        FF_CHECK_MSG(fp_same_file(out, ref), "item %d: %s differs from %s", i, out, ref);
    }
    /* the three chunks went to the three workers (each took one: the others were busy) */
    char wout[8192];
    char *wargs[] = {"workers", "--json", "--connect", f.ep, NULL};
    FF_CHECK(fp_run(wargs, wout, sizeof wout, NULL) == 0);
    FF_CHECK(strstr(wout, "\"tasks_done\": 1") != NULL);
    fp_kill_all(&f.ps);
}

/* ---- results through a shared directory ------------------------------------------------ */

static unsigned long long run_job(farm *f, const char *name, const char *out) {
    char job[900], text[2048];
    snprintf(job, sizeof job, "%s/%s.json", f->dir, name);
    snprintf(text, sizeof text,
             "{\"model\": \"%s\", \"prompts\": [\"a cat\", \"sunset\"], \"seeds\": [7, 9], \"width\": 64, "
             "\"height\": 64, \"frames\": 9, \"steps\": 2, \"max_attempts\": 3, \"output\": \"%s\"}",
             g_model, out);
    write_text(job, text);
    unsigned long long id = submit(f, job, NULL);
    if (!id || wait_job_state(f, id, "done")) return 0;
    return id;
}

static int dir_entries(const char *dir) {
    char cmd[1000], out[64] = "";
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    if (!fgets(out, sizeof out, p)) out[0] = 0;
    pclose(p);
    return atoi(out);
}

static void test_shared_dir(void) {
    farm f;
    farm_init(&f, "shared");
    char sdir[900];
    snprintf(sdir, sizeof sdir, "%s/shared", f.dir);
    mkdir(sdir, 0755);
    const char *cx[] = {"--shared-dir", sdir, NULL};
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", cx) == 0);
    /* inline first: the reference */
    pid_t w = farm_start_worker(&f, "inline", NULL);
    char ref[900], out[900];
    snprintf(ref, sizeof ref, "%s/inline.y4m", f.dir);
    FF_REQUIRE(run_job(&f, "inline", ref) == 1);
    fp_kill(&f.ps, w);
    /* two workers writing to the shared directory */
    const char *sx[] = {"--shared-dir", sdir, NULL};
    pid_t a = farm_start_worker(&f, "s1", sx), b = farm_start_worker(&f, "s2", sx);
    snprintf(out, sizeof out, "%s/shared.y4m", f.dir);
    FF_REQUIRE(run_job(&f, "shared", out) == 2);
    for (int i = 0; i < 2; i++) {
        char o[920], r[920];
        snprintf(o, sizeof o, "%s/shared_%04d.y4m", f.dir, i);
        snprintf(r, sizeof r, "%s/inline_%04d.y4m", f.dir, i);
        FF_CHECK_MSG(fp_same_file(o, r), "item %d: shared-dir %s differs from inline %s", i, o, r);
    }
    char l1[900], l2[900];
    snprintf(l1, sizeof l1, "%s/s1.log", f.dir);
    snprintf(l2, sizeof l2, "%s/s2.log", f.dir);
    FF_CHECK(count_in_file(l1, "frames in shared file") + count_in_file(l2, "frames in shared file") == 2);
    FF_CHECK_MSG(dir_entries(sdir) == 0, "%d files left in %s", dir_entries(sdir), sdir);
    fp_kill(&f.ps, a);
    fp_kill(&f.ps, b);
    /* a corrupted, then a missing file: the attempt fails, the chunk is re-run, the bytes are the same */
    const char *faults[] = {"corrupt", "missing"}, *logged[] = {"crc32", "cannot be read"};
    for (int k = 0; k < 2; k++) {
        const char *fx[] = {"--shared-dir", sdir, "--test-shared-fault", faults[k], NULL};
        pid_t v = farm_start_worker(&f, faults[k], fx);
        snprintf(out, sizeof out, "%s/%s.y4m", f.dir, faults[k]);
        unsigned long long id = run_job(&f, faults[k], out);
        FF_REQUIRE(id == 3u + (unsigned)k);
        ff_json_doc *d = job_status(&f, id, NULL);
        FF_REQUIRE(d);
        const ff_json *chunks = ff_json_get(ff_json_root(d), "chunks");
        int attempts = 0, dispatches = 0, completions = 0;
        for (size_t i = 0; i < ff_json_count(chunks); i++) {
            attempts += (int)jint(ff_json_at(chunks, i), "attempts");
            dispatches += (int)jint(ff_json_at(chunks, i), "dispatches");
            completions += (int)jint(ff_json_at(chunks, i), "completions");
        }
        ff_json_free(d);
        FF_CHECK_MSG(attempts == 1 && dispatches == 3 && completions == 2, "%s: attempts %d dispatches %d completions %d",
                     faults[k], attempts, dispatches, completions);
        FF_CHECK_MSG(count_in_file(f.log, logged[k]) >= 1, "%s: no '%s' in %s", faults[k], logged[k], f.log);
        for (int i = 0; i < 2; i++) {
            char o[920], r[920];
            snprintf(o, sizeof o, "%s/%s_%04d.y4m", f.dir, faults[k], i);
            snprintf(r, sizeof r, "%s/inline_%04d.y4m", f.dir, i);
            FF_CHECK_MSG(fp_same_file(o, r), "%s, item %d: %s differs from inline %s", faults[k], i, o, r);
        }
        FF_CHECK_MSG(dir_entries(sdir) == 0, "%s: %d files left in %s", faults[k], dir_entries(sdir), sdir);
        fp_kill(&f.ps, v);
    }
    fp_kill_all(&f.ps);
}

/* ---- a worker killed mid-chunk ------------------------------------------------------ */

static void test_worker_killed(void) {
    farm f;
    farm_init(&f, "workerkill");
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", NULL) == 0);
    const char *stall[] = {"--test-stall-step", "2", NULL};
    pid_t a = farm_start_worker(&f, "victim", stall);
    char job[900], ref_job[900], text[2048];
    /* 33 frames cut into windows of 17 with overlap: 3 chunks, cross-faded */
    const char *fmt = "{\"model\": \"%s\", \"prompt\": \"a red car\", \"seed\": 11, \"width\": 64, \"height\": 64, "
                      "\"frames\": 33, \"steps\": 3, \"chunking\": {\"frames\": 17, \"overlap\": 4}, \"output\": \"%s\"}";
    char out[900], ref[900];
    snprintf(out, sizeof out, "%s/killed.y4m", f.dir);
    snprintf(ref, sizeof ref, "%s/reference.y4m", f.dir);
    snprintf(job, sizeof job, "%s/job.json", f.dir);
    snprintf(text, sizeof text, fmt, g_model, out);
    write_text(job, text);
    snprintf(ref_job, sizeof ref_job, "%s/ref.json", f.dir);
    snprintf(text, sizeof text, fmt, g_model, ref);
    write_text(ref_job, text);
    unsigned long long id = submit(&f, job, NULL);
    FF_REQUIRE(id == 1);
    /* wait until the victim is inside chunk 0 (stalled after denoising step 2) */
    int inside = 0;
    double t0 = fp_now();
    while (!inside && fp_now() - t0 < WAIT_S) {
        ff_json_doc *d = job_status(&f, id, NULL);
        if (d) {
            const ff_json *c0 = ff_json_at(ff_json_get(ff_json_root(d), "chunks"), 0);
            inside = c0 && !strcmp(jstr(c0, "state"), "running") && jint(c0, "stage") == 1 && jint(c0, "done") >= 2;
            ff_json_free(d);
        }
        if (!inside) fp_sleep_ms(50);
    }
    FF_REQUIRE(inside);
    farm_start_worker(&f, "rescuer", NULL);
    fp_kill(&f.ps, a); /* SIGKILL, mid-chunk */
    FF_REQUIRE(wait_job_state(&f, id, "done") == 0);
    ff_json_doc *d = job_status(&f, id, NULL);
    FF_REQUIRE(d);
    const ff_json *chunks = ff_json_get(ff_json_root(d), "chunks");
    FF_CHECK(ff_json_count(chunks) == 3);
    const ff_json *c0 = ff_json_at(chunks, 0);
    FF_CHECK_MSG(jint(c0, "attempts") >= 1 && jint(c0, "dispatches") >= 2 && jint(c0, "completions") == 1,
                 "chunk 0: attempts %lld dispatches %lld completions %lld", (long long)jint(c0, "attempts"),
                 (long long)jint(c0, "dispatches"), (long long)jint(c0, "completions"));
    ff_json_free(d);
    FF_CHECK(count_in_file(f.log, "stopped responding") >= 1);
    /* the same job without a kill, rendered by the rescuer alone */
    unsigned long long id2 = submit(&f, ref_job, NULL);
    FF_REQUIRE(id2 == 2);
    FF_REQUIRE(wait_job_state(&f, id2, "done") == 0);
    FF_CHECK_MSG(fp_same_file(out, ref), "%s differs from %s", out, ref);
    fp_kill_all(&f.ps);
}

/* ---- bounded dispatch: the idle-heartbeat worker, the stalled worker ------------------------- */

/* A worker that takes tasks and never starts them (TEST MODE
 * --test-ignore-tasks: it heartbeats idle) loses the chunk after the
 * worker timeout; the job finishes on another worker. A worker that starts
 * and then stalls (--test-stall-step) loses its chunk after the job's
 * chunk_timeout_s without progress, and is told to cancel it. */
static void test_dispatch_bounded(void) {
    farm f;
    farm_init(&f, "dispatch");
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", NULL) == 0);
    const char *ignore[] = {"--test-ignore-tasks", "--test-no-render", NULL};
    pid_t idle = farm_start_worker(&f, "idle-heartbeat", ignore);
    char job[900], text[2048];
    snprintf(job, sizeof job, "%s/job.json", f.dir);
    snprintf(text, sizeof text,
             "{\"model\": \"/unused\", \"prompt\": \"x\", \"seed\": 1, \"width\": 16, \"height\": 16, \"frames\": 5, "
             "\"output\": \"%s/o.y4m\"}",
             f.dir);
    write_text(job, text);
    unsigned long long id = submit(&f, job, NULL);
    FF_REQUIRE(id == 1);
    int given = 0; /* the only worker got it */
    double t0 = fp_now();
    while (!given && fp_now() - t0 < WAIT_S) {
        ff_json_doc *d = job_status(&f, id, NULL);
        if (d) {
            given = jint(ff_json_at(ff_json_get(ff_json_root(d), "chunks"), 0), "dispatches") >= 1;
            ff_json_free(d);
        }
        if (!given) fp_sleep_ms(50);
    }
    FF_REQUIRE(given);
    const char *tn[] = {"--test-no-render", NULL};
    farm_start_worker(&f, "steady", tn);
    FF_REQUIRE(wait_job_state(&f, id, "done") == 0);
    ff_json_doc *d = job_status(&f, id, NULL);
    FF_REQUIRE(d);
    const ff_json *c0 = ff_json_at(ff_json_get(ff_json_root(d), "chunks"), 0);
    FF_CHECK_MSG(jint(c0, "dispatches") >= 2 && jint(c0, "completions") == 1, "dispatches %lld completions %lld",
                 (long long)jint(c0, "dispatches"), (long long)jint(c0, "completions"));
    ff_json_free(d);
    FF_CHECK(count_in_file(f.log, "never started the task") >= 1);
    fp_kill(&f.ps, idle);
    /* a worker that stalls mid-chunk, heartbeating busy: taken back after chunk_timeout_s */
    const char *stall[] = {"--test-stall-step", "1", NULL};
    snprintf(job, sizeof job, "%s/stall.json", f.dir);
    snprintf(text, sizeof text,
             "{\"model\": \"%s\", \"prompt\": \"x\", \"seed\": 1, \"width\": 64, \"height\": 64, \"frames\": 5, "
             "\"steps\": 3, \"chunk_timeout_s\": 4, \"output\": \"%s/stall.y4m\"}",
             g_model, f.dir);
    write_text(job, text);
    fp_kill_all(&f.ps); /* the staller first, alone (a synthetic worker would take the chunk) */
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", NULL) == 0);
    farm_start_worker(&f, "staller", stall);
    id = submit(&f, job, NULL);
    FF_REQUIRE(id == 2);
    int stalled = 0;
    t0 = fp_now();
    while (!stalled && fp_now() - t0 < WAIT_S) {
        d = job_status(&f, id, NULL);
        if (d) {
            c0 = ff_json_at(ff_json_get(ff_json_root(d), "chunks"), 0);
            stalled = c0 && jint(c0, "stage") == 1 && jint(c0, "done") >= 1;
            ff_json_free(d);
        }
        if (!stalled) fp_sleep_ms(50);
    }
    FF_REQUIRE(stalled);
    farm_start_worker(&f, "rescuer", NULL);
    FF_REQUIRE(wait_job_state(&f, id, "done") == 0);
    d = job_status(&f, id, NULL);
    FF_REQUIRE(d);
    c0 = ff_json_at(ff_json_get(ff_json_root(d), "chunks"), 0);
    FF_CHECK_MSG(jint(c0, "attempts") == 1 && jint(c0, "completions") == 1, "attempts %lld completions %lld",
                 (long long)jint(c0, "attempts"), (long long)jint(c0, "completions"));
    ff_json_free(d);
    FF_CHECK(count_in_file(f.log, "no progress for") >= 1);
    fp_kill_all(&f.ps);
}

/* ---- status stays bounded and prompt: 1100 failed jobs, a video being written ---------------- */

static int request(farm *f, Ff__Envelope *req, Ff__Envelope **rep, int timeout_ms) {
    void *ctx = zmq_ctx_new();
    ff_net_client_opts o = {f->ep, NULL, NULL, timeout_ms, 0};
    ff_err err = {0};
    int rc = ff_net_request(ctx, &o, req, rep, &err) ? -1 : 0;
    if (rc) fprintf(stderr, "request: %s\n", err.msg);
    zmq_ctx_term(ctx);
    return rc;
}

static const Ff__JobStatus *one_status(farm *f, uint64_t id, Ff__Envelope **rep) {
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    q.has_job_id = q.has_chunk_limit = 1;
    q.job_id = id;
    Ff__Envelope req = FF__ENVELOPE__INIT;
    req.body_case = FF__ENVELOPE__BODY_STATUS;
    req.status = &q;
    *rep = NULL;
    if (request(f, &req, rep, 10000) || (*rep)->body_case != FF__ENVELOPE__BODY_STATUS_REPLY ||
        (*rep)->status_reply->n_jobs != 1)
        return NULL;
    return (*rep)->status_reply->jobs[0];
}

static void test_status_bounded(void) {
    farm f;
    farm_init(&f, "bounded");
    const char *hold[] = {"--test-hold-assembly", "--keep-jobs", "5000", "--quarantine-after", "0", NULL}; /* one failer */
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", hold) == 0);
    pid_t w = farm_start_worker(&f, "failer", NULL);
    /* 1100 jobs whose model does not exist: each fails on its one attempt, with the worker's message */
    char model[1100];
    memset(model, 'm', sizeof model - 1);
    model[sizeof model - 1] = 0;
    memcpy(model, "/nonexistent/", 13);
    const int N = 1100;
    int submitted = 0;
    for (int i = 0; i < N; i++) {
        char json[2400], out[900];
        snprintf(out, sizeof out, "%s/f%d.y4m", f.dir, i);
        snprintf(json, sizeof json,
                 "{\"model\": \"%s\", \"prompt\": \"p\", \"seed\": %d, \"width\": 16, \"height\": 16, \"frames\": 5, "
                 "\"max_attempts\": 1, \"output\": \"%s\"}",
                 model, i, out);
        ff_json_doc *doc = NULL;
        Ff__JobSpec *spec = NULL;
        ff_err err;
        if (ff_json_parse(json, strlen(json), "job", &doc, &err) ||
            ff_jobspec_from_json(ff_json_root(doc), "job", &spec, &err)) {
            ff_json_free(doc);
            break;
        }
        ff_json_free(doc);
        Ff__SubmitJob sj = FF__SUBMIT_JOB__INIT;
        sj.spec = spec;
        Ff__Envelope req = FF__ENVELOPE__INIT, *rep = NULL;
        req.body_case = FF__ENVELOPE__BODY_SUBMIT;
        req.submit = &sj;
        submitted += !request(&f, &req, &rep, 10000) && rep->body_case == FF__ENVELOPE__BODY_SUBMIT_REPLY;
        ff_wire_free(rep);
        ff_jobspec_free(spec);
    }
    FF_REQUIRE(submitted == N);
    Ff__Envelope *rep = NULL;
    int failed = 0;
    double t0 = fp_now();
    while (fp_now() - t0 < WAIT_S) {
        const Ff__JobStatus *js = one_status(&f, (uint64_t)N, &rep);
        failed = js && !strcmp(js->state, "failed");
        ff_wire_free(rep);
        if (failed) break;
        fp_sleep_ms(100);
    }
    FF_REQUIRE(failed);
    fp_kill(&f.ps, w);
    /* a job whose video is being written (held after its first frame, TEST MODE) */
    const char *tn[] = {"--test-no-render", NULL};
    farm_start_worker(&f, "synthetic", tn);
    char job[900], text[1024];
    snprintf(job, sizeof job, "%s/video.json", f.dir);
    snprintf(text, sizeof text,
             "{\"model\": \"/unused\", \"prompt\": \"x\", \"seed\": 1, \"width\": 256, \"height\": 256, \"frames\": 81, "
             "\"output\": \"%s/video.y4m\"}",
             f.dir);
    write_text(job, text);
    unsigned long long id = submit(&f, job, NULL);
    FF_REQUIRE(id == (unsigned long long)N + 1);
    int assembling = 0;
    t0 = fp_now();
    while (!assembling && fp_now() - t0 < WAIT_S) {
        const Ff__JobStatus *js = one_status(&f, id, &rep);
        assembling = js && !strcmp(js->state, "assembling") && js->assembled_frames >= 1;
        ff_wire_free(rep);
        if (!assembling) fp_sleep_ms(50);
    }
    FF_REQUIRE(assembling);
    /* the job list with 1100 failed jobs, while the video is being written: a bounded page, within a second */
    Ff__StatusQuery q = FF__STATUS_QUERY__INIT;
    Ff__Envelope req = FF__ENVELOPE__INIT;
    req.body_case = FF__ENVELOPE__BODY_STATUS;
    req.status = &q;
    double t1 = fp_now();
    int ok = !request(&f, &req, &rep, 10000);
    double dt = fp_now() - t1;
    FF_REQUIRE(ok && rep->body_case == FF__ENVELOPE__BODY_STATUS_REPLY);
    const Ff__StatusReply *sr = rep->status_reply;
    FF_CHECK_MSG(sr->n_jobs == 1000 && sr->more && sr->jobs_total == N + 1, "%zu jobs, more %d, total %d", sr->n_jobs,
                 sr->more, sr->jobs_total);
    FF_CHECK(!strcmp(sr->jobs[0]->state, "failed") && sr->jobs[0]->error && strlen(sr->jobs[0]->error) <= 240);
    FF_CHECK_MSG(dt < 1.0, "status took %.3f s while a video was being written", dt);
    ff_wire_free(rep);
    const Ff__JobStatus *js = one_status(&f, id, &rep); /* the answer came while the assembly was in progress */
    FF_CHECK(js && !strcmp(js->state, "assembling"));
    ff_wire_free(rep);
    char release[900];
    snprintf(release, sizeof release, "%s/test-release-assembly", f.state);
    write_text(release, "");
    FF_REQUIRE(wait_job_state(&f, id, "done") == 0);
    char out[900];
    snprintf(out, sizeof out, "%s/video.y4m", f.dir);
    FF_CHECK(file_exists(out));
    /* the text client pages the list too */
    char text_out[1 << 16];
    char *args[] = {"status", "--connect", f.ep, "--timeout", "10", NULL};
    FF_CHECK(fp_run(args, text_out, sizeof text_out, NULL) == 0);
    FF_CHECK_MSG(strstr(text_out, "the next page: framefarm status --after 1000"), "%.300s", text_out);
    fp_kill_all(&f.ps);
}

/* ---- the coordinator killed and restarted ---------------------------------------------- */

typedef struct {
    int n;
    char state[16][16];
    int dispatches[16], completions[16];
} db_snap;

static int read_db(const char *state_dir, unsigned long long job, db_snap *s) {
    char path[900];
    snprintf(path, sizeof path, "%s/state.db", state_dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    memset(s, 0, sizeof *s);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT idx, state, dispatches, completions FROM chunks WHERE job_id=? ORDER BY idx", -1,
                           &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, (sqlite3_int64)job);
        while (sqlite3_step(q) == SQLITE_ROW && s->n < 16) {
            snprintf(s->state[s->n], sizeof s->state[s->n], "%s", (const char *)sqlite3_column_text(q, 1));
            s->dispatches[s->n] = sqlite3_column_int(q, 2);
            s->completions[s->n] = sqlite3_column_int(q, 3);
            s->n++;
        }
        rc = 0;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return rc;
}

static void test_coordinator_killed(void) {
    farm f;
    farm_init(&f, "coordkill");
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", NULL) == 0);
    char ep[256];
    snprintf(ep, sizeof ep, "%s", f.ep); /* restart on the same port: workers reconnect by themselves */
    const char *stall[] = {"--test-stall-step", "1", NULL};
    farm_start_worker(&f, "staller", stall);
    farm_start_worker(&f, "steady", NULL);
    char job[900], text[2048];
    snprintf(job, sizeof job, "%s/job.json", f.dir);
    snprintf(text, sizeof text,
             "{\"model\": \"%s\", \"prompts\": [\"one\", \"two\", \"three\", \"four\"], \"seeds\": [1, 2, 3, 4], "
             "\"width\": 64, \"height\": 64, \"frames\": 9, \"steps\": 3, \"output\": \"%s/out.y4m\"}",
             g_model, f.dir);
    write_text(job, text);
    unsigned long long id = submit(&f, job, NULL);
    FF_REQUIRE(id == 1);
    /* three chunks finish; the staller's chunk never can */
    int three = 0;
    double t0 = fp_now();
    while (!three && fp_now() - t0 < WAIT_S) {
        ff_json_doc *d = job_status(&f, id, NULL);
        if (d) {
            three = jint(ff_json_root(d), "chunks_done") == 3;
            ff_json_free(d);
        }
        if (!three) fp_sleep_ms(50);
    }
    FF_REQUIRE(three);
    db_snap before, after;
    FF_REQUIRE(read_db(f.state, id, &before) == 0 && before.n == 4);
    int done_before = 0;
    for (int i = 0; i < 4; i++) done_before += !strcmp(before.state[i], "done");
    FF_CHECK(done_before == 3);
    fp_kill(&f.ps, f.coord); /* SIGKILL */
    FF_REQUIRE(farm_start_coord(&f, ep, NULL) == 0);
    FF_CHECK(!strcmp(f.ep, ep));
    FF_REQUIRE(wait_job_state(&f, id, "done") == 0);
    FF_REQUIRE(read_db(f.state, id, &after) == 0 && after.n == 4);
    for (int i = 0; i < 4; i++) {
        FF_CHECK_MSG(!strcmp(after.state[i], "done") && after.completions[i] == 1, "chunk %d: %s, %d completions", i,
                     after.state[i], after.completions[i]);
        if (!strcmp(before.state[i], "done"))
            FF_CHECK_MSG(after.dispatches[i] == before.dispatches[i] && before.dispatches[i] == 1,
                         "finished chunk %d dispatched again (%d -> %d)", i, before.dispatches[i], after.dispatches[i]);
        else
            FF_CHECK(after.dispatches[i] >= 2);
    }
    /* and the videos are what rendering each alone gives */
    const char *prompts[] = {"one", "two", "three", "four"}, *seeds[] = {"1", "2", "3", "4"};
    for (int i = 0; i < 4; i++) {
        char out[900], ref[900];
        snprintf(out, sizeof out, "%s/out_%04d.y4m", f.dir, i);
        snprintf(ref, sizeof ref, "%s/alone_%d.y4m", f.dir, i);
        FF_CHECK(render_alone(prompts[i], seeds[i], "9", ref) == 0);
        FF_CHECK_MSG(fp_same_file(out, ref), "item %d differs after the restart", i);
    }
    fp_kill_all(&f.ps);
}

/* ---- bad messages are refused and logged --------------------------------------------------- */

/* Sends parts over a fresh DEALER and returns the reply's Error code (-1: none). */
static int raw_exchange(void *ctx, const char *ep, const void *const *parts, const size_t *lens, int nparts, char *msg,
                        size_t msg_n) {
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, code = -1;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(s, ep)) {
        zmq_close(s);
        return -1;
    }
    for (int i = 0; i < nparts; i++) zmq_send(s, parts[i], lens[i], i + 1 < nparts ? ZMQ_SNDMORE : 0);
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 30000) == 1) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) >= 0) {
            Ff__Envelope *e = NULL;
            ff_err err;
            if (!ff_wire_unpack(zmq_msg_data(&m), zmq_msg_size(&m), 0, &e, NULL, &err) &&
                e->body_case == FF__ENVELOPE__BODY_ERROR) {
                code = e->error->code;
                snprintf(msg, msg_n, "%s", e->error->message ? e->error->message : "");
            }
            ff_wire_free(e);
        }
        zmq_msg_close(&m);
    }
    zmq_close(s);
    return code;
}

static void test_bad_messages(void) {
    farm f;
    farm_init(&f, "badmsg");
    const char *extra[] = {"--max-message", "65536", NULL};
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", extra) == 0);
    void *ctx = zmq_ctx_new();
    FF_REQUIRE(ctx);
    char msg[1024] = "";
    /* garbage */
    const char junk[] = "\xff\xff\xff\xff\x0f hello";
    const void *p1[] = {junk};
    size_t l1[] = {sizeof junk - 1};
    FF_CHECK(raw_exchange(ctx, f.ep, p1, l1, 1, msg, sizeof msg) == FF__ERROR__CODE__MALFORMED);
    FF_CHECK_MSG(strstr(msg, "malformed"), "%s", msg);
    /* oversized */
    size_t big = 100000;
    char *huge = calloc(1, big);
    FF_REQUIRE(huge);
    const void *p2[] = {huge};
    size_t l2[] = {big};
    FF_CHECK(raw_exchange(ctx, f.ep, p2, l2, 1, msg, sizeof msg) == FF__ERROR__CODE__OVERSIZED);
    FF_CHECK_MSG(strstr(msg, "65536"), "%s", msg);
    free(huge);
    /* wrong version */
    Ff__WorkersQuery wq = FF__WORKERS_QUERY__INIT;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.has_version = 1;
    env.version = 7;
    env.body_case = FF__ENVELOPE__BODY_WORKERS;
    env.workers = &wq;
    uint8_t vbuf[64];
    size_t vn = ff__envelope__pack(&env, vbuf);
    const void *p3[] = {vbuf};
    size_t l3[] = {vn};
    FF_CHECK(raw_exchange(ctx, f.ep, p3, l3, 1, msg, sizeof msg) == FF__ERROR__CODE__VERSION);
    FF_CHECK_MSG(strstr(msg, "version 7") && strstr(msg, "version 1"), "%s", msg);
    /* two frames */
    uint8_t *ok = NULL;
    size_t okn = 0;
    ff_err err;
    env.version = FF_PROTO_VERSION;
    FF_REQUIRE(ff_wire_pack(&env, &ok, &okn, &err) == FF_OK);
    const void *p4[] = {ok, ok};
    size_t l4[] = {okn, okn};
    FF_CHECK(raw_exchange(ctx, f.ep, p4, l4, 2, msg, sizeof msg) == FF__ERROR__CODE__MALFORMED);
    free(ok);
    /* a forged heartbeat (worker_id is not the sender) */
    Ff__Heartbeat hb = FF__HEARTBEAT__INIT;
    hb.worker_id = "w-someone-else";
    Ff__Envelope he = FF__ENVELOPE__INIT;
    he.body_case = FF__ENVELOPE__BODY_HEARTBEAT;
    he.heartbeat = &hb;
    FF_REQUIRE(ff_wire_pack(&he, &ok, &okn, &err) == FF_OK);
    const void *p5[] = {ok};
    size_t l5[] = {okn};
    FF_CHECK(raw_exchange(ctx, f.ep, p5, l5, 1, msg, sizeof msg) == FF__ERROR__CODE__INVALID);
    free(ok);
    zmq_ctx_term(ctx);
    /* still serving, still alive, and every refusal is in the log */
    char *args[] = {"status", "--connect", f.ep, "--timeout", "10", NULL};
    FF_CHECK(fp_run(args, NULL, 0, NULL) == 0);
    FF_CHECK(waitpid(f.coord, NULL, WNOHANG) == 0);
    int refused = count_in_file(f.log, "refused");
    FF_CHECK_MSG(refused >= 5, "%d refusals logged", refused);
    fp_kill_all(&f.ps);
}

/* ---- CURVE ---------------------------------------------------------------------------------- */

static void test_curve(void) {
    farm f;
    farm_init(&f, "curve");
    char keys[900], other[900], pub[920], sec[920], otherpub[920];
    snprintf(keys, sizeof keys, "%s/coord", f.dir);
    snprintf(other, sizeof other, "%s/other", f.dir);
    char *kg1[] = {"keygen", keys, NULL}, *kg2[] = {"keygen", other, NULL};
    FF_REQUIRE(fp_run(kg1, NULL, 0, NULL) == 0 && fp_run(kg2, NULL, 0, NULL) == 0);
    snprintf(pub, sizeof pub, "%s.pub", keys);
    snprintf(sec, sizeof sec, "%s.key", keys);
    snprintf(otherpub, sizeof otherpub, "%s.pub", other);
    const char *extra[] = {"--curve-secret", sec, NULL};
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", extra) == 0);
    char errlog[900], errtxt[4096];
    snprintf(errlog, sizeof errlog, "%s/client.err", f.dir);
    char *nokey[] = {"status", "--connect", f.ep, "--timeout", "3", NULL};
    FF_CHECK(fp_run(nokey, NULL, 0, errlog) == 3);
    char *wrong[] = {"status", "--connect", f.ep, "--server-key", otherpub, "--timeout", "3", NULL};
    FF_CHECK(fp_run(wrong, NULL, 0, errlog) == 3);
    FF_CHECK(!fp_read(errlog, errtxt, sizeof errtxt) && strstr(errtxt, "CURVE"));
    char *withkey[] = {"status", "--connect", f.ep, "--server-key", pub, "--timeout", "10", NULL};
    FF_CHECK(fp_run(withkey, NULL, 0, errlog) == 0);
    FF_CHECK(count_in_file(f.log, "handshake failed") >= 1);
    /* a worker with the key renders (test mode) a job submitted with the key */
    const char *wk[] = {"--server-key", pub, "--test-no-render", NULL};
    farm_start_worker(&f, "curve-worker", wk);
    char job[900], text[1024];
    snprintf(job, sizeof job, "%s/job.json", f.dir);
    snprintf(text, sizeof text,
             "{\"model\": \"/unused\", \"prompt\": \"x\", \"seed\": 1, \"width\": 16, \"height\": 16, \"frames\": 5, "
             "\"output\": \"%s/o.y4m\"}",
             f.dir);
    write_text(job, text);
    const char *sk[] = {"--server-key", pub, "--wait", "--wait-timeout", "120", NULL};
    FF_CHECK(submit(&f, job, sk) == 1);
    fp_kill_all(&f.ps);
    /* the allow-list: the server key alone is not enough, the peer's own key must be listed */
    farm h;
    farm_init(&h, "curve-allow");
    char allow[900], good[900], bad[900], goodpub[920], gooddst[920], text2[256];
    snprintf(allow, sizeof allow, "%s/allow", h.dir);
    snprintf(good, sizeof good, "%s/good", h.dir);
    snprintf(bad, sizeof bad, "%s/bad", h.dir);
    mkdir(allow, 0755);
    char *kg3[] = {"keygen", good, NULL}, *kg4[] = {"keygen", bad, NULL};
    FF_REQUIRE(fp_run(kg3, NULL, 0, NULL) == 0 && fp_run(kg4, NULL, 0, NULL) == 0);
    snprintf(goodpub, sizeof goodpub, "%s.pub", good);
    snprintf(gooddst, sizeof gooddst, "%s/good.pub", allow);
    FF_REQUIRE(!fp_read(goodpub, text2, sizeof text2));
    write_text(gooddst, text2);
    const char *ax[] = {"--curve-secret", sec, "--curve-allow", allow, NULL};
    FF_REQUIRE(farm_start_coord(&h, "tcp://127.0.0.1:*", ax) == 0);
    FF_CHECK(count_in_file(h.log, "allow-list: 1 keys") == 1);
    char *listed[] = {"status", "--connect", h.ep, "--server-key", pub, "--client-key", good, "--timeout", "10", NULL};
    FF_CHECK(fp_run(listed, NULL, 0, errlog) == 0);
    char *unlisted[] = {"status", "--connect", h.ep, "--server-key", pub, "--client-key", bad, "--timeout", "3", NULL};
    FF_CHECK(fp_run(unlisted, NULL, 0, errlog) == 3);
    char *ephemeral[] = {"status", "--connect", h.ep, "--server-key", pub, "--timeout", "3", NULL};
    FF_CHECK(fp_run(ephemeral, NULL, 0, errlog) == 3);
    FF_CHECK(count_in_file(h.log, "is not in --curve-allow") >= 2);
    /* workers: the unlisted one is refused (logged), the listed one registers and renders */
    int refused_before = count_in_file(h.log, "is not in --curve-allow");
    const char *wbad[] = {"--server-key", pub, "--client-key", bad, "--test-no-render", NULL};
    const char *wgood[] = {"--server-key", pub, "--client-key", good, "--test-no-render", NULL};
    farm_start_worker(&h, "unlisted-worker", wbad);
    double t0 = fp_now();
    while (count_in_file(h.log, "is not in --curve-allow") <= refused_before && fp_now() - t0 < WAIT_S) fp_sleep_ms(50);
    FF_CHECK(count_in_file(h.log, "is not in --curve-allow") > refused_before);
    farm_start_worker(&h, "listed-worker", wgood);
    snprintf(job, sizeof job, "%s/job.json", h.dir);
    snprintf(text, sizeof text,
             "{\"model\": \"/unused\", \"prompt\": \"x\", \"seed\": 1, \"width\": 16, \"height\": 16, \"frames\": 5, "
             "\"output\": \"%s/o.y4m\"}",
             h.dir);
    write_text(job, text);
    const char *gk[] = {"--server-key", pub, "--client-key", good, "--wait", "--wait-timeout", "120", NULL};
    FF_CHECK(submit(&h, job, gk) == 1);
    char wout[8192];
    char *wargs[] = {"workers", "--json", "--connect", h.ep, "--server-key", pub, "--client-key", good, NULL};
    FF_CHECK(fp_run(wargs, wout, sizeof wout, NULL) == 0);
    FF_CHECK_MSG(strstr(wout, "listed-worker") && !strstr(wout, "unlisted-worker"), "%s", wout);
    fp_kill_all(&h.ps);
    /* no keys: a wildcard bind is narrowed to loopback */
    farm g;
    farm_init(&g, "loopback");
    FF_REQUIRE(farm_start_coord(&g, "tcp://*:*", NULL) == 0);
    FF_CHECK_MSG(!strncmp(g.ep, "tcp://127.0.0.1:", 16), "%s", g.ep);
    FF_CHECK(count_in_file(g.log, "loopback only") == 1);
    fp_kill_all(&g.ps);
}

int main(void) {
    if (!fp_bin() || !file_exists(fp_bin())) ff_test_skip("FF_BIN (the framefarm binary) is not set");
    ff_test_tmp_path("farm_integration", g_tmp, sizeof g_tmp);
    rm_rf(g_tmp);
    mkdir(g_tmp, 0755);
    snprintf(g_model, sizeof g_model, "%s/tiny", g_tmp);
    char *init[] = {"init-model", "tiny", g_model, NULL};
    if (fp_run(init, NULL, 0, NULL) != 0) {
        fprintf(stderr, "framefarm init-model tiny failed\n");
        return 1;
    }
    FF_RUN(test_bad_messages);
    FF_RUN(test_curve);
    FF_RUN(test_batch_same_bytes);
    FF_RUN(test_shared_dir);
    FF_RUN(test_worker_killed);
    FF_RUN(test_coordinator_killed);
    FF_RUN(test_dispatch_bounded);
    FF_RUN(test_status_bounded);
    return ff_test_summary();
}
