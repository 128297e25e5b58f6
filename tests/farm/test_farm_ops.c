/* The farm as operators expect it (issue 21, the coordinator's side): real
 * `framefarm coordinator` / `worker` / client processes on 127.0.0.1, the
 * embedded tiny model, signals for real. Nothing depends on timing to
 * pass: "mid-chunk" is made certain with the worker's --test-stall-step,
 * a coordinator that is down while workers finish is SIGSTOPped (then
 * SIGKILLed) and the workers' own logs say when they finished, and every
 * wait polls with a generous bound.
 *
 *  - nothing finished is lost: while one item's chunk is stalled, the other
 *    items' videos are written and listed (only those) by status; cancel
 *    keeps them; retry + resume renders the rest, and the videos written
 *    before are not rendered or written again; output name templates;
 *  - a coordinator killed while two workers finish their chunks takes the
 *    results they kept when it comes back: every chunk dispatched and
 *    completed once (state.db), the videos = `render` of each item;
 *  - a worker that fails every task (TEST MODE) is quarantined after
 *    --quarantine-after failures in a row, its chunks finish on the other
 *    worker, `workers --release` releases it; retry backoff in status;
 *  - priority, pause/resume, logs, a submit without workers warns, wait
 *    timeout (5) and unreachable (3) exit codes, --help on the verbs. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_json.h"
#include "tests/common/ff_test.h"
#include "tests/farm/farm_proc.h"

#define WAIT_S 180.0

static char g_tmp[512], g_model[700];

typedef struct {
    char dir[700], state[800], ep[256], log[800], clog[800];
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
    snprintf(f->clog, sizeof f->clog, "%s/clients.log", f->dir);
}

static int farm_start_coord(farm *f, const char *bind, const char *const *extra) {
    char ep_path[900];
    snprintf(ep_path, sizeof ep_path, "%s/endpoint", f->state);
    unlink(ep_path);
    char *args[24];
    int k = 0;
    const char *base[] = {"coordinator", "--bind", bind, "--state", f->state, "--worker-timeout", "3", "--log-level",
                          "debug", "--output-root", f->dir, NULL};
    for (int i = 0; base[i]; i++) args[k++] = (char *)base[i];
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
    const char *base[] = {"worker", "--connect", f->ep, "--threads", "1", "--heartbeat", "0.3", "--name", name,
                          "--log-level", "debug", NULL};
    for (int i = 0; base[i]; i++) args[k++] = (char *)base[i];
    for (int i = 0; extra && extra[i]; i++) args[k++] = (char *)extra[i];
    args[k] = NULL;
    return fp_start(&f->ps, log, args);
}

/* framefarm VERB args... --connect EP: exit code; stdout into out (may be NULL). */
static int client(farm *f, char *out, size_t n, const char *const *args) {
    char *a[24];
    int k = 0;
    for (int i = 0; args[i] && k < 20; i++) a[k++] = (char *)args[i];
    a[k++] = "--connect";
    a[k++] = f->ep;
    a[k] = NULL;
    return fp_run(a, out, n, f->clog);
}

static ff_json_doc *job_status(farm *f, unsigned long long id) {
    char idbuf[32];
    static char out[1 << 18];
    snprintf(idbuf, sizeof idbuf, "%llu", id);
    const char *a[] = {"status", idbuf, "--json", "--timeout", "5", NULL};
    if (client(f, out, sizeof out, a) != 0) return NULL;
    ff_json_doc *doc = NULL;
    ff_err err;
    if (ff_json_parse(out, strlen(out), "status --json", &doc, &err)) return NULL;
    return doc;
}

static const char *jstr(const ff_json *o, const char *k) {
    const char *s = o ? ff_json_get_string(o, k) : NULL;
    return s ? s : "";
}
static int64_t jint(const ff_json *o, const char *k) {
    int64_t v = -1;
    if (o) ff_json_get_int64(o, k, -1, &v);
    return v;
}
static int jbool(const ff_json *o, const char *k) {
    int v = 0;
    if (o) ff_json_get_bool(o, k, 0, &v);
    return v;
}

/* Polls the job's status until key (an integer) reaches at least want, or its state is `state` (when given). */
static int wait_for(farm *f, unsigned long long id, const char *key, int64_t want, const char *state) {
    double t0 = fp_now();
    while (fp_now() - t0 < WAIT_S) {
        ff_json_doc *d = job_status(f, id);
        if (d) {
            const ff_json *r = ff_json_root(d);
            int hit = state ? !strcmp(jstr(r, "state"), state) : jint(r, key) >= want;
            ff_json_free(d);
            if (hit) return 0;
        }
        fp_sleep_ms(100);
    }
    fprintf(stderr, "job %llu: gave up waiting for %s\n", id, state ? state : key);
    return -1;
}

static int count_in_file(const char *path, const char *needle) {
    static char buf[1 << 21];
    if (fp_read(path, buf, sizeof buf)) return 0;
    int n = 0;
    for (const char *p = buf; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Polls until the file holds needle at least n times. */
static int wait_in_file(const char *path, const char *needle, int n) {
    double t0 = fp_now();
    while (fp_now() - t0 < WAIT_S) {
        if (count_in_file(path, needle) >= n) return 0;
        fp_sleep_ms(50);
    }
    fprintf(stderr, "gave up waiting for '%s' in %s\n", needle, path);
    return -1;
}

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    if (!fp) return;
    fputs(text, fp);
    fclose(fp);
}

static unsigned long long submit(farm *f, const char *text, const char *const *extra) {
    char job[900], out[256];
    static int n;
    snprintf(job, sizeof job, "%s/job%d.json", f->dir, ++n);
    write_text(job, text);
    const char *a[12] = {"submit", job};
    int k = 2;
    for (int i = 0; extra && extra[i] && k < 10; i++) a[k++] = extra[i];
    a[k] = NULL;
    if (client(f, out, sizeof out, a) != 0) return 0;
    return strtoull(out, NULL, 10);
}

static int render_alone(const char *prompt, const char *seed, const char *frames, const char *steps, const char *out) {
    char *args[] = {"render", "--model", g_model, "--prompt", (char *)prompt, "--seed", (char *)seed, "--steps", (char *)steps,
                    "--frames", (char *)frames, "--width", "64", "--height", "64", "--no-tile", "--threads", "1",
                    "--out", (char *)out, NULL};
    return fp_run(args, NULL, 0, NULL);
}

/* ---- nothing finished is lost ---------------------------------------------------------- */

static void test_items_kept(void) {
    farm f;
    farm_init(&f, "items");
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", NULL) == 0);
    /* the staller alone takes chunk 0 (item 0) and stops after its first step, until cancelled */
    const char *stall[] = {"--test-stall-step", "1", NULL};
    pid_t staller = farm_start_worker(&f, "staller", stall);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"model\": \"%s\", \"prompts\": [\"Red Fox!\", \"a dog\", \"sunset\"], \"seeds\": [5, 6, 7], "
             "\"width\": 64, \"height\": 64, \"frames\": 9, \"steps\": 2, \"output\": \"%s/v-{job}-{item}-{prompt}-{seed}.y4m\"}",
             g_model, f.dir);
    unsigned long long id = submit(&f, text, NULL);
    FF_REQUIRE(id == 1);
    char path[3][900];
    const char *slug[] = {"red-fox", "a-dog", "sunset"}, *prompts[] = {"Red Fox!", "a dog", "sunset"},
               *seeds[] = {"5", "6", "7"};
    for (int i = 0; i < 3; i++) snprintf(path[i], sizeof path[i], "%s/v-1-%04d-%s-%s.y4m", f.dir, i, slug[i], seeds[i]);
    FF_REQUIRE(wait_for(&f, id, "chunks_running", 1, NULL) == 0);
    /* then a steady worker renders items 1 and 2: each video appears while item 0 is still stalled */
    farm_start_worker(&f, "steady", NULL);
    FF_REQUIRE(wait_for(&f, id, "outputs_written", 2, NULL) == 0);
    ff_json_doc *d = job_status(&f, id);
    FF_REQUIRE(d);
    const ff_json *r = ff_json_root(d), *outs = ff_json_get(r, "outputs"), *chunks = ff_json_get(r, "chunks");
    FF_CHECK(!strcmp(jstr(r, "state"), "running"));
    FF_CHECK(!strcmp(jstr(ff_json_at(chunks, 0), "state"), "running")); /* item 0: still stalled */
    FF_CHECK_MSG(ff_json_count(outs) == 2, "%zu outputs listed", ff_json_count(outs)); /* only the videos that exist */
    char sout[1 << 16];
    const char *sq[] = {"status", "1", "--json", NULL};
    FF_CHECK(client(&f, sout, sizeof sout, sq) == 0 && !strstr(sout, path[0]) && strstr(sout, path[1]) && strstr(sout, path[2]));
    FF_CHECK(!file_exists(path[0]) && file_exists(path[1]) && file_exists(path[2]));
    ff_json_free(d);
    struct stat before1, before2;
    FF_REQUIRE(stat(path[1], &before1) == 0 && stat(path[2], &before2) == 0);
    /* cancel: the written videos stay, and status still lists them */
    char out[4096];
    const char *cancel[] = {"cancel", "1", NULL};
    FF_CHECK(client(&f, out, sizeof out, cancel) == 0);
    FF_REQUIRE(wait_for(&f, id, NULL, 0, "cancelled") == 0);
    d = job_status(&f, id);
    FF_REQUIRE(d);
    r = ff_json_root(d);
    FF_CHECK(ff_json_count(ff_json_get(r, "outputs")) == 2 && jint(r, "outputs_written") == 2);
    FF_CHECK(jint(r, "chunks_cancelled") == 1 && jint(r, "chunks_done") == 2);
    ff_json_free(d);
    FF_CHECK(file_exists(path[1]) && file_exists(path[2]));
    /* retry queues the cancelled chunk (attempts reset); paused first, so that it waits for resume */
    fp_kill(&f.ps, staller);
    const char *pause[] = {"pause", "1", NULL}, *retry[] = {"retry", "1", NULL}, *resume[] = {"resume", "1", NULL};
    FF_CHECK(client(&f, out, sizeof out, pause) == 0);
    FF_CHECK(client(&f, out, sizeof out, retry) == 0);
    FF_CHECK_MSG(strstr(out, "(paused)") && strstr(out, "1 queued"), "retry said: %s", out);
    d = job_status(&f, id);
    FF_REQUIRE(d);
    r = ff_json_root(d);
    FF_CHECK(jbool(r, "paused") && jint(r, "chunks_queued") == 1 && jint(ff_json_at(ff_json_get(r, "chunks"), 0), "attempts") == 0);
    FF_CHECK(strcmp(jstr(r, "state"), "cancelled") != 0);
    ff_json_free(d);
    FF_CHECK(client(&f, out, sizeof out, resume) == 0);
    FF_REQUIRE(wait_for(&f, id, NULL, 0, "done") == 0);
    d = job_status(&f, id);
    FF_REQUIRE(d);
    r = ff_json_root(d);
    chunks = ff_json_get(r, "chunks");
    FF_CHECK(ff_json_count(ff_json_get(r, "outputs")) == 3 && jint(r, "outputs_written") == 3);
    for (int i = 1; i < 3; i++) /* items 1 and 2 were rendered once, by the steady worker */
        FF_CHECK(jint(ff_json_at(chunks, i), "dispatches") == 1 && !strcmp(jstr(ff_json_at(chunks, i), "last_worker"), "") == 0);
    ff_json_free(d);
    struct stat after1, after2;
    FF_REQUIRE(stat(path[1], &after1) == 0 && stat(path[2], &after2) == 0);
    FF_CHECK_MSG(after1.st_ino == before1.st_ino && after2.st_ino == before2.st_ino, "a written video was written again");
    for (int i = 0; i < 3; i++) {
        char ref[900];
        snprintf(ref, sizeof ref, "%s/alone_%d.y4m", f.dir, i);
        FF_CHECK(render_alone(prompts[i], seeds[i], "9", "2", ref) == 0);
        FF_CHECK_MSG(fp_same_file(path[i], ref), "item %d: %s differs from render", i, path[i]);
    }
    /* a template that would give two items one name is refused at submit */
    snprintf(text, sizeof text,
             "{\"model\": \"%s\", \"prompts\": [\"a\", \"b\"], \"seed\": 1, \"width\": 64, \"height\": 64, \"frames\": 5, "
             "\"steps\": 1, \"output\": \"%s/{prompt}.y4m\"}",
             g_model, f.dir);
    FF_CHECK(submit(&f, text, NULL) == 0);
    FF_CHECK(count_in_file(f.clog, "needs {item}") >= 1);
    fp_kill_all(&f.ps);
}

/* ---- results kept across a coordinator restart -------------------------------------------- */

typedef struct {
    int n;
    int dispatches[8], completions[8];
    char state[8][16];
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
    if (sqlite3_prepare_v2(db, "SELECT state, dispatches, completions FROM chunks WHERE job_id=? ORDER BY idx", -1, &q,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, (sqlite3_int64)job);
        while (sqlite3_step(q) == SQLITE_ROW && s->n < 8) {
            snprintf(s->state[s->n], sizeof s->state[s->n], "%s", (const char *)sqlite3_column_text(q, 0));
            s->dispatches[s->n] = sqlite3_column_int(q, 1);
            s->completions[s->n] = sqlite3_column_int(q, 2);
            s->n++;
        }
        rc = 0;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return rc;
}

static void test_results_kept_across_restart(void) {
    farm f;
    farm_init(&f, "kept");
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", NULL) == 0);
    char ep[256];
    snprintf(ep, sizeof ep, "%s", f.ep); /* the restart binds the same port: workers reconnect by themselves */
    /* each worker holds its chunk after step 2 until the test creates the hold file (TEST MODE) */
    char hold[900];
    snprintf(hold, sizeof hold, "%s/hold", f.dir);
    const char *held[] = {"--test-stall-step", "2", "--test-hold-file", hold, NULL};
    farm_start_worker(&f, "wa", held);
    farm_start_worker(&f, "wb", held);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"model\": \"%s\", \"prompts\": [\"one\", \"two\"], \"seeds\": [11, 12], \"width\": 64, \"height\": 64, "
             "\"frames\": 9, \"steps\": 12, \"output\": \"%s/kept.y4m\"}",
             g_model, f.dir);
    unsigned long long id = submit(&f, text, NULL);
    FF_REQUIRE(id == 1);
    char la[900], lb[900];
    snprintf(la, sizeof la, "%s/wa.log", f.dir);
    snprintf(lb, sizeof lb, "%s/wb.log", f.dir);
    /* both chunks started and held mid-denoising (each worker's first task) */
    FF_REQUIRE(wait_in_file(la, "TEST MODE: holding after step", 1) == 0);
    FF_REQUIRE(wait_in_file(lb, "TEST MODE: holding after step", 1) == 0);
    FF_REQUIRE(wait_for(&f, id, "chunks_running", 2, NULL) == 0);
    /* the coordinator stops answering; both workers finish their chunks meanwhile; then it dies */
    kill(f.coord, SIGSTOP);
    write_text(hold, "go\n");
    int finished_while_down = !wait_in_file(la, ") done in", 1) && !wait_in_file(lb, ") done in", 1);
    fp_kill(&f.ps, f.coord); /* SIGKILL: what it had not read is lost */
    FF_REQUIRE(finished_while_down);
    db_snap before, after;
    FF_REQUIRE(read_db(f.state, id, &before) == 0 && before.n == 2);
    int running_before = 0;
    for (int i = 0; i < 2; i++) running_before += !strcmp(before.state[i], "running");
    FF_REQUIRE(farm_start_coord(&f, ep, NULL) == 0);
    FF_REQUIRE(wait_for(&f, id, NULL, 0, "done") == 0);
    FF_REQUIRE(read_db(f.state, id, &after) == 0 && after.n == 2);
    for (int i = 0; i < 2; i++)
        FF_CHECK_MSG(!strcmp(after.state[i], "done") && after.dispatches[i] == 1 && after.completions[i] == 1,
                     "chunk %d: %s, %d dispatches, %d completions (rendered again?)", i, after.state[i], after.dispatches[i],
                     after.completions[i]);
    /* the chunks that were still running in the store came from the workers' kept results */
    int resent = count_in_file(la, "sending the kept result again") + count_in_file(lb, "sending the kept result again");
    FF_CHECK_MSG(resent == running_before, "%d results sent again, %d chunks were running", resent, running_before);
    FF_CHECK(count_in_file(f.log, "kept its result") == running_before);
    const char *prompts[] = {"one", "two"}, *seeds[] = {"11", "12"};
    for (int i = 0; i < 2; i++) {
        char out[900], ref[900];
        snprintf(out, sizeof out, "%s/kept_%04d.y4m", f.dir, i);
        snprintf(ref, sizeof ref, "%s/alone_%d.y4m", f.dir, i);
        FF_CHECK(render_alone(prompts[i], seeds[i], "9", "12", ref) == 0);
        FF_CHECK_MSG(fp_same_file(out, ref), "item %d differs after the restart", i);
    }
    fp_kill_all(&f.ps);
}

/* ---- a failing worker is quarantined ---------------------------------------------------- */

static void test_quarantine(void) {
    farm f;
    farm_init(&f, "quarantine");
    const char *q2[] = {"--quarantine-after", "2", NULL};
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", q2) == 0);
    const char *failx[] = {"--test-fail-tasks", NULL};
    farm_start_worker(&f, "broken", failx);
    /* wait until it is registered, so that it is alone with the job */
    char out[1 << 15];
    const char *workers[] = {"workers", "--json", NULL};
    double t0 = fp_now();
    while (fp_now() - t0 < WAIT_S && !(client(&f, out, sizeof out, workers) == 0 && strstr(out, "broken"))) fp_sleep_ms(50);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"model\": \"%s\", \"prompts\": [\"a\", \"b\"], \"seed\": 3, \"width\": 64, \"height\": 64, \"frames\": 5, "
             "\"steps\": 1, \"max_attempts\": 4, \"retry_backoff_s\": 0.2, \"output\": \"%s/q.y4m\"}",
             g_model, f.dir);
    unsigned long long id = submit(&f, text, NULL);
    FF_REQUIRE(id == 1);
    /* two chunks failed on it in a row: quarantined */
    t0 = fp_now();
    while (fp_now() - t0 < WAIT_S && !(client(&f, out, sizeof out, workers) == 0 && strstr(out, "\"quarantined\": true")))
        fp_sleep_ms(50);
    FF_CHECK_MSG(strstr(out, "\"quarantined\": true") && strstr(out, "\"failures_in_a_row\": 2"), "workers: %s", out);
    FF_CHECK(count_in_file(f.log, "quarantined: 2 chunks failed on it in a row") == 1);
    ff_json_doc *d = job_status(&f, id);
    FF_REQUIRE(d);
    const ff_json *r = ff_json_root(d);
    double backoff = 0;
    ff_json_get_double(r, "retry_backoff_s", 0, &backoff);
    FF_CHECK(backoff == 0.2 && jint(r, "max_attempts") == 4);
    ff_json_free(d);
    /* the healthy worker finishes both chunks */
    farm_start_worker(&f, "healthy", NULL);
    FF_REQUIRE(wait_for(&f, id, NULL, 0, "done") == 0);
    d = job_status(&f, id);
    FF_REQUIRE(d);
    const ff_json *chunks = ff_json_get(ff_json_root(d), "chunks");
    for (size_t i = 0; i < 2; i++) {
        const ff_json *ch = ff_json_at(chunks, i);
        FF_CHECK_MSG(jint(ch, "attempts") == 1 && jint(ch, "completions") == 1, "chunk %zu: %lld attempts", i,
                     (long long)jint(ch, "attempts"));
    }
    ff_json_free(d);
    /* the failures are in the chunk's log, with the worker's message */
    const char *logs0[] = {"logs", "1", "0", NULL};
    FF_CHECK(client(&f, out, sizeof out, logs0) == 0);
    FF_CHECK_MSG(strstr(out, "TEST MODE: this worker fails every task") && strstr(out, "frames in"), "logs: %s", out);
    /* released by the operator */
    FF_REQUIRE(client(&f, out, sizeof out, workers) == 0);
    char id_broken[80] = "";
    const char *p = strstr(out, "\"name\": \"broken\"");
    for (const char *q = p; q && q > out; q--) /* the line's worker id (its JSON key is "worker") */
        if (!strncmp(q, "\"worker\": \"", 11)) {
            sscanf(q + 11, "%79[^\"]", id_broken);
            break;
        }
    FF_REQUIRE(id_broken[0]);
    const char *rel[] = {"workers", "--release", id_broken, "--json", NULL};
    FF_CHECK(client(&f, out, sizeof out, rel) == 0);
    FF_CHECK_MSG(!strstr(out, "\"quarantined\": true"), "after release: %s", out);
    const char *relbad[] = {"workers", "--release", "w-nosuchworker", NULL};
    FF_CHECK(client(&f, out, sizeof out, relbad) == 2);
    fp_kill_all(&f.ps);
}

/* ---- priority, pause/resume, logs, warnings, exit codes ------------------------------------- */

static void test_verbs(void) {
    farm f;
    farm_init(&f, "verbs");
    FF_REQUIRE(farm_start_coord(&f, "tcp://127.0.0.1:*", NULL) == 0);
    char text[2048], out[1 << 15];
    snprintf(text, sizeof text,
             "{\"model\": \"%s\", \"prompt\": \"p\", \"seed\": 1, \"width\": 64, \"height\": 64, \"frames\": 5, "
             "\"steps\": 1, \"output\": \"%s/p.y4m\"}",
             g_model, f.dir);
    /* no worker: submit warns, and --wait gives up with exit 5 (the coordinator answers) */
    const char *wait1[] = {"--wait", "--wait-timeout", "1", NULL};
    char job[900];
    snprintf(job, sizeof job, "%s/w.json", f.dir);
    write_text(job, text);
    const char *sw[] = {"submit", job, "--wait", "--wait-timeout", "1", NULL};
    (void)wait1;
    FF_CHECK(client(&f, out, sizeof out, sw) == 5);
    FF_CHECK(count_in_file(f.clog, "no worker is connected") == 1);
    unsigned long long id = strtoull(out, NULL, 10);
    FF_REQUIRE(id == 1);
    /* unreachable: exit 3 */
    const char *st3[] = {"status", "--connect", "tcp://127.0.0.1:1", "--timeout", "1", NULL};
    FF_CHECK(fp_run((char *const *)st3, NULL, 0, NULL) == 3);
    /* priority and pause change what status says */
    const char *prio[] = {"priority", "1", "7", NULL}, *pause[] = {"pause", "1", NULL}, *resume[] = {"resume", "1", NULL};
    FF_CHECK(client(&f, out, sizeof out, prio) == 0);
    FF_CHECK_MSG(strstr(out, "priority 7"), "%s", out);
    FF_CHECK(client(&f, out, sizeof out, pause) == 0);
    ff_json_doc *d = job_status(&f, id);
    FF_REQUIRE(d);
    FF_CHECK(jint(ff_json_root(d), "priority") == 7 && jbool(ff_json_root(d), "paused"));
    ff_json_free(d);
    const char *list[] = {"status", NULL};
    FF_CHECK(client(&f, out, sizeof out, list) == 0);
    FF_CHECK_MSG(strstr(out, "(paused)"), "%s", out);
    /* a paused job gets no worker: the worker registers and stays idle */
    farm_start_worker(&f, "w", NULL);
    const char *workers[] = {"workers", NULL};
    double t0 = fp_now();
    while (fp_now() - t0 < WAIT_S && !(client(&f, out, sizeof out, workers) == 0 && strstr(out, "idle"))) fp_sleep_ms(50);
    fp_sleep_ms(1000);
    d = job_status(&f, id);
    FF_REQUIRE(d);
    FF_CHECK(jint(ff_json_root(d), "chunks_queued") == 1 && !strcmp(jstr(ff_json_root(d), "state"), "queued"));
    ff_json_free(d);
    FF_CHECK(client(&f, out, sizeof out, resume) == 0);
    FF_REQUIRE(wait_for(&f, id, NULL, 0, "done") == 0);
    d = job_status(&f, id);
    FF_REQUIRE(d);
    const ff_json *r = ff_json_root(d), *ch0 = ff_json_at(ff_json_get(r, "chunks"), 0);
    FF_CHECK(!jbool(r, "paused") && !strcmp(jstr(ch0, "last_worker"), "") == 0);
    double s0 = 0, f0 = 0, sub = 0;
    ff_json_get_double(ch0, "started_at", 0, &s0);
    ff_json_get_double(ch0, "finished_at", 0, &f0);
    ff_json_get_double(r, "submitted_at", 0, &sub);
    FF_CHECK(sub > 0 && s0 >= sub && f0 >= s0);
    ff_json_free(d);
    /* logs: the worker's line for the chunk */
    const char *logs[] = {"logs", "1", NULL}, *logs0[] = {"logs", "1", "0", NULL}, *logs9[] = {"logs", "1", "9", NULL};
    FF_CHECK(client(&f, out, sizeof out, logs) == 0);
    FF_CHECK_MSG(strstr(out, "== job 1 chunk 0") && strstr(out, "frames in") && strstr(out, "on w,") &&
                     strstr(out, "rendering on cpu with 1 threads"), /* a line of the worker's own log */
                 "logs: %s", out);
    FF_CHECK(client(&f, out, sizeof out, logs0) == 0 && strstr(out, "frames in"));
    FF_CHECK(client(&f, out, sizeof out, logs9) == 2);
    /* text status: times and the chunk's worker */
    const char *one[] = {"status", "1", NULL};
    FF_CHECK(client(&f, out, sizeof out, one) == 0);
    FF_CHECK_MSG(strstr(out, "submitted ") && strstr(out, "elapsed ") && strstr(out, "videos written: 1 of 1") &&
                     strstr(out, "ELAPSED"),
                 "%s", out);
    /* retry of a done job is refused; unknown jobs are refused */
    const char *retry[] = {"retry", "1", NULL}, *retry9[] = {"pause", "9", NULL};
    FF_CHECK(client(&f, out, sizeof out, retry) == 2);
    FF_CHECK(client(&f, out, sizeof out, retry9) == 2);
    /* --help on every verb */
    const char *verbs[] = {"submit", "status", "cancel", "workers", "retry", "priority", "pause", "resume", "logs", NULL};
    for (int i = 0; verbs[i]; i++) {
        char *h[] = {(char *)verbs[i], "--help", NULL};
        out[0] = 0;
        FF_CHECK_MSG(fp_run(h, out, sizeof out, NULL) == 0 && strstr(out, "usage: framefarm"), "%s --help", verbs[i]);
    }
    fp_kill_all(&f.ps);
}

int main(void) {
    if (!fp_bin() || !file_exists(fp_bin())) ff_test_skip("FF_BIN (the framefarm binary) is not set");
    ff_test_tmp_path("farm_ops", g_tmp, sizeof g_tmp);
    rm_rf(g_tmp);
    mkdir(g_tmp, 0755);
    snprintf(g_model, sizeof g_model, "%s/tiny", g_tmp);
    char *init[] = {"init-model", "tiny", g_model, NULL};
    if (fp_run(init, NULL, 0, NULL) != 0) {
        fprintf(stderr, "framefarm init-model tiny failed\n");
        return 1;
    }
    FF_RUN(test_verbs);
    FF_RUN(test_quarantine);
    FF_RUN(test_items_kept);
    FF_RUN(test_results_kept_across_restart);
    return ff_test_summary();
}
