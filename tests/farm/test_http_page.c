/* The coordinator's web status page, API and metrics (coordinator --http),
 * with real processes on 127.0.0.1 and a real browser:
 *
 *  - a coordinator (--http 127.0.0.1:0, its URL read from STATE/http), two
 *    tiny-model workers (framefarm init-model tiny) and headless Chromium
 *    (Debian's chromium, over the DevTools pipe: cdp.h) on the page: the
 *    rendered DOM shows both workers by name, then a job submitted after
 *    the page loaded appears and reaches "done" without a reload (a marker
 *    set in the page survives); its chunks and a strip of finished-frame
 *    thumbnails show; a screenshot is saved under the build tree
 *    (FF_TEST_TMP/http_page/page.png);
 *  - /metrics passes `promtool check metrics` (Debian's prometheus) and this
 *    test's own strict reader (prom_text.h), before and after the job, and
 *    its counters move by what the job did (chunks completed, render-time
 *    histogram count, bytes received);
 *  - /api/jobs/ID is byte for byte `framefarm status ID --json`, /api/workers
 *    lists what `framefarm workers --json` lists;
 *  - 10,000 more jobs in the coordinator: the API pages them (at most the
 *    coordinator's page size per reply), the page shows 50 rows, newest
 *    first, and its "next" button pages on;
 *  - actions: cancel without the token, with a wrong one, and on a
 *    coordinator started without --http-token is 403; with the token it
 *    cancels (status agrees); an unknown verb is 404, GET on it 405;
 *  - malformed, oversized and path-traversal requests, too many
 *    connections: 4xx or closed, and the coordinator keeps serving (page,
 *    API and `framefarm status`).
 * Skips (77) when chromium or promtool are missing, or when built without
 * libmicrohttpd. Waits poll with generous bounds; nothing depends on timing
 * to pass. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "coordinator/http.h"
#include "core/ff_json.h"
#include "proto/ff_wire.h"
#include "tests/common/ff_test.h"
#include "tests/farm/cdp.h"
#include "tests/farm/farm_proc.h"
#include "tests/farm/http_client.h"
#include "tests/farm/prom_text.h"

#define WAIT_S 180.0
#define TOKEN "s3cret-token-for-the-test-0123456789"

static char g_dir[512], g_model[700], g_chromium[512], g_promtool[512];
static pt_doc g_prom;

typedef struct {
    char state[800], ep[256], url[256], log[900];
    int port;
    pid_t pid;
} coord;

static fp_procs g_ps;
static cdp g_b;

static void rm_rf(const char *p) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd)) {
    }
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Starts a coordinator with --http on a free port; extra: more arguments. */
static int coord_start(coord *c, const char *name, const char *const *extra) {
    memset(c, 0, sizeof *c);
    char dir[700];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, name);
    mkdir(dir, 0755);
    snprintf(c->state, sizeof c->state, "%s/state", dir);
    snprintf(c->log, sizeof c->log, "%s/coordinator.log", dir);
    mkdir(c->state, 0755);
    char outs[900];
    snprintf(outs, sizeof outs, "%s/outputs", c->state); /* the default output root */
    mkdir(outs, 0755);
    char *args[32];
    int k = 0;
    args[k++] = "coordinator";
    args[k++] = "--bind";
    args[k++] = "tcp://127.0.0.1:*";
    args[k++] = "--state";
    args[k++] = c->state;
    args[k++] = "--http";
    args[k++] = "127.0.0.1:0";
    args[k++] = "--worker-timeout";
    args[k++] = "5";
    for (int i = 0; extra && extra[i]; i++) args[k++] = (char *)extra[i];
    args[k] = NULL;
    c->pid = fp_start(&g_ps, c->log, args);
    char p1[900], p2[900];
    snprintf(p1, sizeof p1, "%s/endpoint", c->state);
    snprintf(p2, sizeof p2, "%s/http", c->state);
    double t0 = fp_now();
    while (fp_now() - t0 < WAIT_S) {
        char a[256], b[256];
        if (!fp_read(p1, a, sizeof a) && a[0] && !fp_read(p2, b, sizeof b) && b[0]) {
            a[strcspn(a, "\n")] = 0;
            b[strcspn(b, "\n")] = 0;
            snprintf(c->ep, sizeof c->ep, "%s", a);
            snprintf(c->url, sizeof c->url, "%s", b);
            return sscanf(c->url, "http://127.0.0.1:%d/", &c->port) == 1 ? 0 : -1;
        }
        if (waitpid(c->pid, NULL, WNOHANG) == c->pid) return -1;
        fp_sleep_ms(20);
    }
    return -1;
}

static pid_t worker_start(const coord *c, const char *name) {
    char log[900];
    snprintf(log, sizeof log, "%s/%s.log", g_dir, name);
    char *args[] = {"worker", "--connect", (char *)c->ep, "--threads", "1", "--heartbeat", "0.3", "--name", (char *)name, NULL};
    return fp_start(&g_ps, log, args);
}

/* GET path: the body (malloc'd) when the status is 200, else NULL. */
static char *get200(const coord *c, const char *path) {
    hc_reply r;
    int s = hc_request(c->port, "GET", path, NULL, &r);
    char *body = s == 200 ? strndup(r.body, r.body_len) : NULL;
    if (s != 200) fprintf(stderr, "GET %s: %d %s\n", path, s, r.raw ? r.raw : "");
    hc_free(&r);
    return body;
}

static ff_json_doc *get_json(const coord *c, const char *path) {
    char *b = get200(c, path);
    ff_json_doc *d = NULL;
    ff_err err;
    if (b && ff_json_parse(b, strlen(b), path, &d, &err)) fprintf(stderr, "%s: %s\n", path, err.msg);
    free(b);
    return d;
}

/* /metrics through promtool and prom_text.h into g_prom; 0 when both accept it. */
static int scrape(const coord *c) {
    char *text = get200(c, "/metrics");
    if (!text) return -1;
    char path[900], cmd[2000];
    snprintf(path, sizeof path, "%s/metrics.txt", g_dir);
    write_text(path, text);
    snprintf(cmd, sizeof cmd, "'%s' check metrics < '%s' > '%s/promtool.out' 2>&1", g_promtool, path, g_dir);
    int rc = system(cmd);
    char why[256] = "";
    int n = pt_parse(text, &g_prom, why, sizeof why);
    if (rc || n <= 0) {
        char out[4096] = "";
        snprintf(path, sizeof path, "%s/promtool.out", g_dir);
        fp_read(path, out, sizeof out);
        fprintf(stderr, "metrics refused (promtool %d: %s; reader: %s):\n%s", rc, out, why, text);
    }
    free(text);
    return rc || n <= 0 ? -1 : 0;
}

static unsigned long long submit(const coord *c, const char *job) {
    char out[256];
    char *args[] = {"submit", (char *)job, "--connect", (char *)c->ep, NULL};
    char log[900];
    snprintf(log, sizeof log, "%s/clients.log", g_dir);
    if (fp_run(args, out, sizeof out, log) != 0) return 0;
    return strtoull(out, NULL, 10);
}

/* What the page shows, as JSON text (malloc'd), read from the rendered DOM. */
static const char *DOM_JS =
    "JSON.stringify({marker: window.__ffMarker || '', refreshes: +(document.body.dataset.refreshes || 0),"
    " jobs: [...document.querySelectorAll('#jobs tr[data-job]')].map(r => ({id: +r.dataset.job,"
    "   state: r.querySelector('td.state') ? r.querySelector('td.state').dataset.state : ''})),"
    " workers: [...document.querySelectorAll('#workers tr[data-worker]')].map(r => ({id: r.dataset.worker,"
    "   name: r.cells[1].textContent, state: r.querySelector('td.state').dataset.state})),"
    " detail: !document.getElementById('detail').hidden,"
    " chunks: [...document.querySelectorAll('#chunks tr[data-chunk]')].map(r => r.querySelector('td.state').dataset.state),"
    " thumbs: [...document.querySelectorAll('#d-strip img')].filter(i => i.complete && i.naturalWidth > 0).length,"
    " note: document.getElementById('jobs-note').textContent,"
    " banner: document.getElementById('banner').textContent})";

static ff_json_doc *dom(void) {
    char *s = cdp_eval(&g_b, DOM_JS);
    ff_json_doc *d = NULL;
    ff_err err;
    if (s && ff_json_parse(s, strlen(s), "dom", &d, &err)) d = NULL;
    free(s);
    return d;
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

/* The state the page shows for job id ("" when it does not list it). */
static const char *dom_job_state(const ff_json *root, int64_t id) {
    const ff_json *jobs = ff_json_get(root, "jobs");
    for (size_t i = 0; i < ff_json_count(jobs); i++)
        if (jint(ff_json_at(jobs, i), "id") == id) return jstr(ff_json_at(jobs, i), "state");
    return "";
}

static int screenshot(const char *path) {
    ff_json_doc *d = cdp_call(&g_b, "Page.captureScreenshot", "{\"format\": \"png\", \"captureBeyondViewport\": true}", 60);
    const char *data = d ? ff_json_get_string(ff_json_get(ff_json_root(d), "result"), "data") : NULL;
    size_t n = 0;
    unsigned char *png = data ? cdp_base64(data, &n) : NULL;
    int ok = png && n > 8 && !memcmp(png + 1, "PNG", 3);
    FILE *f = ok ? fopen(path, "wb") : NULL;
    if (f) {
        ok = fwrite(png, 1, n, f) == n;
        fclose(f);
    }
    free(png);
    ff_json_free(d);
    return ok && f ? 0 : -1;
}

/* ---- the page, live, and the metrics ------------------------------------------------------ */

static coord g_c; /* the coordinator the tests share (with a token) */
static unsigned long long g_job;

static void test_page_follows_a_job(void) {
    char tok[900];
    snprintf(tok, sizeof tok, "%s/token", g_dir);
    write_text(tok, TOKEN "\n");
    const char *extra[] = {"--http-token", tok, "--keep-chunks", NULL};
    FF_REQUIRE(coord_start(&g_c, "main", extra) == 0);
    worker_start(&g_c, "alpha");
    worker_start(&g_c, "beta");
    /* the page, before any job */
    char udd[900], clog[900];
    snprintf(udd, sizeof udd, "%s/chromium-profile", g_dir);
    snprintf(clog, sizeof clog, "%s/chromium.log", g_dir);
    FF_REQUIRE(cdp_start(&g_b, g_chromium, udd, clog) == 0);
    ff_json_free(cdp_call(&g_b, "Emulation.setDeviceMetricsOverride",
                          "{\"width\": 1280, \"height\": 860, \"deviceScaleFactor\": 1, \"mobile\": false}", 30));
    char params[400];
    snprintf(params, sizeof params, "{\"url\": \"%s\"}", g_c.url);
    ff_json_doc *nav = cdp_call(&g_b, "Page.navigate", params, 60);
    FF_REQUIRE(nav != NULL);
    ff_json_free(nav);
    /* both workers, by name, from the rendered DOM */
    int workers = 0;
    double t0 = fp_now();
    while (fp_now() - t0 < WAIT_S && workers < 2) {
        ff_json_doc *d = dom();
        const ff_json *ws = d ? ff_json_get(ff_json_root(d), "workers") : NULL;
        workers = 0;
        for (size_t i = 0; i < ff_json_count(ws); i++) {
            const char *n = jstr(ff_json_at(ws, i), "name");
            workers += strstr(n, "alpha") != NULL || strstr(n, "beta") != NULL;
        }
        FF_CHECK(!d || ff_json_count(ff_json_get(ff_json_root(d), "jobs")) == 0);
        ff_json_free(d);
        if (workers < 2) fp_sleep_ms(200);
    }
    FF_REQUIRE(workers == 2);
    char *m = cdp_eval(&g_b, "(window.__ffMarker = 'loaded-once-' + Math.random())");
    FF_REQUIRE(m != NULL);
    /* metrics before */
    FF_REQUIRE(scrape(&g_c) == 0);
    double done0 = pt_value(&g_prom, "framefarm_chunks_completed_total", ""),
           hist0 = pt_value(&g_prom, "framefarm_chunk_render_seconds_count", ""),
           bytes0 = pt_value(&g_prom, "framefarm_received_bytes_total", "");
    FF_CHECK(pt_value(&g_prom, "framefarm_workers", "state=idle") == 2);
    FF_CHECK(pt_count(&g_prom, "framefarm_worker_steps_per_second") == 2);
    /* a job of 6 chunks over the two workers, submitted after the page loaded */
    char job[900], text[2048];
    snprintf(job, sizeof job, "%s/job.json", g_dir);
    snprintf(text, sizeof text,
             "{\"model\": \"%s\", \"prompts\": [\"a red boat on a lake\", \"a fox in the snow\"], \"seeds\": [3, 4], "
             "\"width\": 64, \"height\": 64, \"frames\": 25, \"steps\": 3, \"chunking\": {\"frames\": 13, \"overlap\": 4}, "
             "\"name\": \"boats and foxes\", \"priority\": 5, \"output\": \"%s/outputs/clip.y4m\"}",
             g_model, g_c.state);
    write_text(job, text);
    g_job = submit(&g_c, job);
    FF_REQUIRE(g_job > 0);
    const char *state = "";
    int refreshes0 = -1, seen_active = 0, refreshes = 0;
    char marker[200] = "";
    t0 = fp_now();
    while (fp_now() - t0 < WAIT_S && strcmp(state, "done") && strcmp(state, "failed")) {
        ff_json_doc *d = dom();
        if (d) {
            const ff_json *r = ff_json_root(d);
            static char st_buf[32];
            snprintf(st_buf, sizeof st_buf, "%s", dom_job_state(r, (int64_t)g_job));
            state = st_buf;
            seen_active |= !strcmp(state, "queued") || !strcmp(state, "running") || !strcmp(state, "assembling");
            refreshes = (int)jint(r, "refreshes");
            if (refreshes0 < 0) refreshes0 = refreshes;
            snprintf(marker, sizeof marker, "%s", jstr(r, "marker"));
            ff_json_free(d);
        }
        if (strcmp(state, "done")) fp_sleep_ms(200);
    }
    FF_CHECK_MSG(!strcmp(state, "done"), "the page shows job %llu as '%s'", g_job, state);
    FF_CHECK_MSG(!strcmp(marker, m), "the page was reloaded (marker '%s', was '%s')", marker, m);
    FF_CHECK(refreshes > refreshes0);
    fprintf(stderr, "page: job %llu seen %s before done; %d refreshes meanwhile\n", g_job,
            seen_active ? "queued/running" : "only", refreshes - refreshes0);
    free(m);
    /* open the job: its chunks, all done, and the strip of finished frames */
    char *clicked = cdp_eval(&g_b, "(document.querySelector('#jobs tr[data-job]').click(), 'ok')");
    free(clicked);
    int chunks = 0, thumbs = 0;
    t0 = fp_now();
    while (fp_now() - t0 < WAIT_S && (chunks != 6 || thumbs != 6)) {
        ff_json_doc *d = dom();
        if (d) {
            const ff_json *cs = ff_json_get(ff_json_root(d), "chunks");
            chunks = 0;
            for (size_t i = 0; i < ff_json_count(cs); i++) {
                const ff_json *v = ff_json_at(cs, i);
                chunks += v && v->type == FF_JSON_STRING && !strcmp(v->str, "done");
            }
            thumbs = (int)jint(ff_json_root(d), "thumbs");
            ff_json_free(d);
        }
        if (chunks != 6 || thumbs != 6) fp_sleep_ms(200);
    }
    FF_CHECK_MSG(chunks == 6 && thumbs == 6, "detail: %d chunks, %d thumbnails shown", chunks, thumbs);
    char shot[900];
    snprintf(shot, sizeof shot, "%s/page.png", g_dir);
    FF_CHECK(screenshot(shot) == 0);
    fprintf(stderr, "screenshot: %s\n", shot);
    /* metrics after: valid, and they moved by what the job did */
    FF_REQUIRE(scrape(&g_c) == 0);
    FF_CHECK(pt_value(&g_prom, "framefarm_chunks_completed_total", "") == done0 + 6);
    FF_CHECK(pt_value(&g_prom, "framefarm_chunk_render_seconds_count", "") == hist0 + 6);
    FF_CHECK(pt_value(&g_prom, "framefarm_chunk_render_seconds_sum", "") > 0);
    FF_CHECK(pt_value(&g_prom, "framefarm_received_bytes_total", "") > bytes0);
    FF_CHECK(pt_value(&g_prom, "framefarm_frame_bytes_received_total", "") > 0);
    FF_CHECK(pt_value(&g_prom, "framefarm_jobs", "state=done") == 1);
    FF_CHECK(pt_value(&g_prom, "framefarm_chunks", "state=done") == 6);
    FF_CHECK(pt_value(&g_prom, "framefarm_workers", "state=idle") + pt_value(&g_prom, "framefarm_workers", "state=busy") == 2);
}

/* The API is the CLI's JSON. */
static void test_api_is_status_json(void) {
    FF_REQUIRE(g_job > 0);
    char idbuf[32], out[1 << 16];
    snprintf(idbuf, sizeof idbuf, "%llu", g_job);
    char *args[] = {"status", idbuf, "--json", "--connect", g_c.ep, NULL};
    FF_REQUIRE(fp_run(args, out, sizeof out, NULL) == 0);
    char path[64];
    snprintf(path, sizeof path, "/api/jobs/%llu", g_job);
    char *api = get200(&g_c, path);
    FF_REQUIRE(api != NULL);
    FF_CHECK_MSG(!strcmp(api, out), "API:\n%s\nCLI:\n%s", api, out); /* a finished job: nothing moves */
    /* its times: submitted, started, finished (wall clock), elapsed = finished - submitted, no ETA */
    ff_json_doc *jd = NULL;
    ff_err err;
    FF_REQUIRE(!ff_json_parse(api, strlen(api), "job", &jd, &err));
    const ff_json *j = ff_json_root(jd);
    double sub = 0, sta = 0, fin = 0, el = -1;
    FF_CHECK(!ff_json_get_double(j, "submitted_at", 0, &sub) && !ff_json_get_double(j, "started_at", 0, &sta) &&
             !ff_json_get_double(j, "finished_at", 0, &fin) && !ff_json_get_double(j, "elapsed_s", -1, &el));
    FF_CHECK_MSG(sub > 1.5e9 && sta >= sub && fin >= sta && fabs(el - (fin - sub)) < 1e-6, "times %f %f %f %f", sub, sta, fin, el);
    FF_CHECK(ff_json_is_null(ff_json_get(j, "eta_s")));
    ff_json_free(jd);
    free(api);
    ff_json_doc *w = get_json(&g_c, "/api/workers");
    FF_REQUIRE(w != NULL);
    const ff_json *ws = ff_json_get(ff_json_root(w), "workers");
    FF_CHECK(ff_json_count(ws) == 2);
    char *wargs[] = {"workers", "--json", "--connect", g_c.ep, NULL};
    FF_REQUIRE(fp_run(wargs, out, sizeof out, NULL) == 0);
    for (size_t i = 0; i < ff_json_count(ws); i++) {
        char key[128];
        snprintf(key, sizeof key, "{\"worker\": \"%s\", \"state\": \"idle\"", jstr(ff_json_at(ws, i), "worker"));
        FF_CHECK_MSG(strstr(out, key) != NULL, "%s not in %s", key, out);
    }
    ff_json_free(w);
}

/* 10,000 more jobs (never dispatched: they ask for more device memory than
 * any worker has), submitted over one connection. */
static int submit_many(const coord *c, int n) {
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, ok = s && !zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) && !zmq_connect(s, c->ep);
    char out[900];
    snprintf(out, sizeof out, "%s/outputs/many.y4m", c->state);
    Ff__JobSpec spec = FF__JOB_SPEC__INIT;
    char *prompts[] = {"a queued job"};
    uint64_t seeds[] = {1};
    spec.model = g_model;
    spec.n_prompts = 1;
    spec.prompts = prompts;
    spec.n_seeds = 1;
    spec.seeds = seeds;
    spec.output = out;
    spec.has_width = spec.has_height = spec.has_frames = spec.has_steps = spec.has_device_budget = 1;
    spec.width = spec.height = 64;
    spec.frames = 5;
    spec.steps = 1;
    spec.device_budget = (int64_t)1 << 50;
    Ff__SubmitJob sj = FF__SUBMIT_JOB__INIT;
    sj.spec = &spec;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_SUBMIT;
    env.submit = &sj;
    uint8_t *buf = NULL;
    size_t len = 0;
    ff_err err;
    if (ok && ff_wire_pack(&env, &buf, &len, &err)) ok = 0;
    int sent = 0, got = 0;
    while (ok && got < n) {
        while (sent < n && sent - got < 200) {
            if (zmq_send(s, buf, len, 0) != (int)len) ok = 0;
            sent++;
        }
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 60000) <= 0) {
            fprintf(stderr, "submit_many: no reply after %d of %d\n", got, n);
            ok = 0;
            break;
        }
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) ok = 0;
        Ff__Envelope *r = NULL;
        if (ok && !ff_wire_unpack(zmq_msg_data(&m), zmq_msg_size(&m), FF_WIRE_MAX_DEFAULT, &r, NULL, &err) &&
            r->body_case == FF__ENVELOPE__BODY_SUBMIT_REPLY)
            got++;
        else {
            fprintf(stderr, "submit_many: reply %d is not a submit reply (%s)\n", got,
                    r ? ff_wire_body_name(r->body_case) : err.msg);
            ok = 0;
        }
        ff_wire_free(r);
        zmq_msg_close(&m);
    }
    free(buf);
    if (s) zmq_close(s);
    zmq_ctx_term(ctx);
    return ok ? got : -1;
}

static void test_ten_thousand_jobs(void) {
    FF_REQUIRE(g_job > 0);
    double t0 = fp_now();
    FF_REQUIRE(submit_many(&g_c, 10000) == 10000);
    fprintf(stderr, "10000 jobs submitted in %.1f s\n", fp_now() - t0);
    /* the API pages them */
    ff_json_doc *d = get_json(&g_c, "/api/jobs?limit=100000");
    FF_REQUIRE(d != NULL);
    const ff_json *r = ff_json_root(d);
    FF_CHECK(jint(r, "jobs_total") == 10001);
    FF_CHECK_MSG(ff_json_count(ff_json_get(r, "jobs")) <= 1000, "%zu jobs in one reply", ff_json_count(ff_json_get(r, "jobs")));
    FF_CHECK(ff_json_get_string(r, "more") == NULL); /* a bool, not a string */
    ff_json_free(d);
    d = get_json(&g_c, "/api/jobs?limit=50&after=9000");
    FF_REQUIRE(d != NULL);
    const ff_json *jobs = ff_json_get(ff_json_root(d), "jobs");
    FF_CHECK(ff_json_count(jobs) == 50 && jint(ff_json_at(jobs, 0), "job") == 9001 && jint(ff_json_at(jobs, 49), "job") == 9050);
    ff_json_free(d);
    d = get_json(&g_c, "/api/jobs?limit=50&newest=1");
    FF_REQUIRE(d != NULL);
    jobs = ff_json_get(ff_json_root(d), "jobs");
    FF_CHECK(ff_json_count(jobs) == 50 && jint(ff_json_at(jobs, 0), "job") == 10001 && jint(ff_json_at(jobs, 49), "job") == 9952);
    ff_json_free(d);
    /* the page: 50 rows, newest first, without a reload; then the next page */
    int64_t first = 0;
    size_t rows = 0;
    t0 = fp_now();
    while (fp_now() - t0 < WAIT_S && first != 10001) {
        d = dom();
        jobs = d ? ff_json_get(ff_json_root(d), "jobs") : NULL;
        rows = ff_json_count(jobs);
        first = rows ? jint(ff_json_at(jobs, 0), "id") : 0;
        if (first == 10001) FF_CHECK_MSG(strstr(jstr(ff_json_root(d), "note"), "10001 jobs") != NULL, "%s", jstr(ff_json_root(d), "note"));
        ff_json_free(d);
        if (first != 10001) fp_sleep_ms(200);
    }
    FF_CHECK_MSG(first == 10001 && rows == 50, "page: first job %lld, %zu rows", (long long)first, rows);
    char *c = cdp_eval(&g_b, "(document.getElementById('next').click(), 'ok')");
    free(c);
    t0 = fp_now();
    while (fp_now() - t0 < WAIT_S && first != 9951) {
        d = dom();
        jobs = d ? ff_json_get(ff_json_root(d), "jobs") : NULL;
        rows = ff_json_count(jobs);
        first = rows ? jint(ff_json_at(jobs, 0), "id") : 0;
        ff_json_free(d);
        if (first != 9951) fp_sleep_ms(200);
    }
    FF_CHECK_MSG(first == 9951 && rows == 50, "next page: first job %lld, %zu rows", (long long)first, rows);
    /* status stays responsive with them */
    char out[4096];
    char *args[] = {"status", "1", "--connect", g_c.ep, "--timeout", "5", NULL};
    FF_CHECK(fp_run(args, out, sizeof out, NULL) == 0);
}

/* ---- actions ----------------------------------------------------------------------------- */

static void test_actions(void) {
    FF_REQUIRE(g_job > 0);
    hc_reply r;
    /* job 2 is one of the queued ones */
    FF_CHECK(hc_request(g_c.port, "POST", "/api/jobs/2/cancel", NULL, &r) == 403);
    FF_CHECK(strstr(r.body, "Authorization") != NULL);
    hc_free(&r);
    FF_CHECK(hc_request(g_c.port, "POST", "/api/jobs/2/cancel", "Authorization: Bearer not-the-token-at-all-1234\r\n", &r) == 403);
    hc_free(&r);
    FF_CHECK(hc_request(g_c.port, "POST", "/api/jobs/2/cancel", "Authorization: " TOKEN "\r\n", &r) == 403); /* no "Bearer" */
    hc_free(&r);
    FF_CHECK(hc_request(g_c.port, "POST", "/api/jobs/2/explode", "Authorization: Bearer " TOKEN "\r\n", &r) == 404);
    hc_free(&r);
    FF_CHECK(hc_request(g_c.port, "GET", "/api/jobs/2/cancel", "Authorization: Bearer " TOKEN "\r\n", &r) == 405);
    hc_free(&r);
    char out[1 << 14];
    char *args[] = {"status", "2", "--json", "--connect", g_c.ep, NULL};
    FF_CHECK(fp_run(args, out, sizeof out, NULL) == 0 && strstr(out, "\"state\": \"queued\"") != NULL);
    /* with the token: cancelled */
    FF_CHECK(hc_request(g_c.port, "POST", "/api/jobs/2/cancel", "Authorization: Bearer " TOKEN "\r\n", &r) == 200);
    FF_CHECK_MSG(strstr(r.body, "{\"job\": 2, \"state\": \"cancelled\"") == r.body, "%s", r.body);
    hc_free(&r);
    FF_CHECK(fp_run(args, out, sizeof out, NULL) == 0 && strstr(out, "\"state\": \"cancelled\"") != NULL);
    FF_CHECK(hc_request(g_c.port, "POST", "/api/jobs/999999/cancel", "Authorization: Bearer " TOKEN "\r\n", &r) == 404);
    hc_free(&r);
    ff_json_doc *d = get_json(&g_c, "/api/actions");
    FF_CHECK(d && !strcmp(jstr(ff_json_at(ff_json_get(ff_json_root(d), "actions"), 0), "verb"), "cancel"));
    ff_json_free(d);
    /* a coordinator without --http-token has no actions at all */
    coord ro;
    FF_REQUIRE(coord_start(&ro, "readonly", NULL) == 0);
    FF_CHECK(hc_request(ro.port, "POST", "/api/jobs/1/cancel", "Authorization: Bearer " TOKEN "\r\n", &r) == 403);
    FF_CHECK(strstr(r.body, "--http-token") != NULL);
    hc_free(&r);
    char *acts = get200(&ro, "/api/actions");
    FF_CHECK(acts && strstr(acts, "\"enabled\": false") != NULL);
    free(acts);
    fp_kill(&g_ps, ro.pid);
}

/* ---- hostile requests ----------------------------------------------------------------------- */

static int raw_status(const char *req, size_t n, char **body_out) {
    hc_reply r;
    int s = hc_raw(g_c.port, req, n, &r);
    if (body_out) *body_out = r.raw ? strdup(r.raw) : NULL;
    hc_free(&r);
    return s;
}

static void test_hostile_requests(void) {
    FF_REQUIRE(g_c.port > 0);
    char *big = malloc(200000);
    FF_REQUIRE(big != NULL);
    /* not an HTTP request line at all: libmicrohttpd closes the connection without an answer */
    int s = raw_status("GARBAGE\r\n\r\n", strlen("GARBAGE\r\n\r\n"), NULL);
    FF_CHECK_MSG(s == -1 || (s >= 400 && s < 500), "garbage: %d", s);
    /* HTTP-shaped but malformed: a header line without a colon, no Host, a bad or unknown version */
    s = raw_status("GET / HTTP/1.1\r\nHost: x\r\nbadheader\r\n\r\n", strlen("GET / HTTP/1.1\r\nHost: x\r\nbadheader\r\n\r\n"), NULL);
    FF_CHECK_MSG(s == 400, "header without a colon: %d", s);
    s = raw_status("GET / HTTP/1.1\r\n\r\n", strlen("GET / HTTP/1.1\r\n\r\n"), NULL);
    FF_CHECK_MSG(s == 400, "no Host: %d", s);
    s = raw_status("GET / FOO/1.1\r\nHost: x\r\n\r\n", strlen("GET / FOO/1.1\r\nHost: x\r\n\r\n"), NULL);
    FF_CHECK_MSG(s == 400, "FOO/1.1: %d", s);
    s = raw_status("GET / HTTP/9.9\r\nHost: x\r\n\r\n", strlen("GET / HTTP/9.9\r\nHost: x\r\n\r\n"), NULL);
    FF_CHECK_MSG(s == 505, "HTTP/9.9: %d", s);
    /* a header of 60 KiB */
    int n = snprintf(big, 200000, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', 60000);
    n += 60000;
    n += snprintf(big + n, 200000 - (size_t)n, "\r\n\r\n");
    s = raw_status(big, (size_t)n, NULL);
    FF_CHECK_MSG(s == 431 || s == 413 || s == 400, "60 KiB header: %d", s);
    /* a URL over the limit (below the header limit) */
    n = snprintf(big, 200000, "GET /api/jobs?");
    memset(big + n, 'x', 3000);
    n += 3000;
    n += snprintf(big + n, 200000 - (size_t)n, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s = raw_status(big, (size_t)n, NULL);
    FF_CHECK_MSG(s == 414, "3000-byte URL: %d", s);
    /* bodies: declared too large, sent too large (chunked), a bad length */
    s = raw_status("POST /api/jobs/1/cancel HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", strlen("POST /api/jobs/1/cancel HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"), NULL);
    FF_CHECK_MSG(s == 413, "Content-Length 100000: %d", s);
    n = snprintf(big, 200000, "POST /api/jobs/1/cancel HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int k = 0; k < 20; k++) {
        n += snprintf(big + n, 200000 - (size_t)n, "400\r\n");
        memset(big + n, 'b', 1024);
        n += 1024;
        n += snprintf(big + n, 200000 - (size_t)n, "\r\n");
    }
    n += snprintf(big + n, 200000 - (size_t)n, "0\r\n\r\n");
    s = raw_status(big, (size_t)n, NULL);
    FF_CHECK_MSG(s == 413, "20 KiB chunked body: %d", s);
    s = raw_status("POST /api/jobs/1/cancel HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", strlen("POST /api/jobs/1/cancel HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"), NULL);
    FF_CHECK_MSG(s >= 400 && s < 500, "Content-Length -5: %d", s);
    /* no way out of the fixed routes */
    const char *paths[] = {"/../../etc/passwd", "/api/jobs/1/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                           "/api/jobs/1/chunks/0/thumb.png/../../../../../../etc/passwd", "/api/jobs/1/chunks/..%2f..%2fx/thumb.png",
                           "/etc/passwd", "/index.html/..", "/api/jobs/-1", "/api/jobs/1e3", "/api/jobs/99999999999999999999999",
                           "//api/jobs", "/api/jobs/", "/metrics/", "/api/jobs/1/chunks/0/thumb.png?frame=99999999999"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char req[512], *body = NULL;
        n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", paths[i]);
        s = raw_status(req, (size_t)n, &body);
        FF_CHECK_MSG(s >= 400 && s < 500 && (!body || !strstr(body, "root:")), "%s: %d", paths[i], s);
        free(body);
    }
    /* methods */
    s = raw_status("BREW / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", strlen("BREW / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), NULL);
    FF_CHECK_MSG(s >= 400 && s < 500, "BREW: %d", s);
    s = raw_status("DELETE /api/jobs/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", strlen("DELETE /api/jobs/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), NULL);
    FF_CHECK_MSG(s == 405, "DELETE: %d", s);
    hc_reply r;
    FF_CHECK(hc_request(g_c.port, "HEAD", "/", NULL, &r) == 200 && r.body_len == 0);
    hc_free(&r);
    FF_CHECK(hc_request(g_c.port, "GET", "/api/jobs?limit=abc", NULL, &r) == 400);
    hc_free(&r);
    FF_CHECK(hc_request(g_c.port, "GET", "/api/jobs?unknown=1", NULL, &r) == 200); /* ignored */
    hc_free(&r);
    /* more connections than allowed: the extra ones are closed, the server lives on */
    int fds[80], opened = 0;
    for (int k = 0; k < 80; k++)
        if ((fds[k] = hc_connect(g_c.port)) >= 0) opened++;
    for (int k = 0; k < 80; k++)
        if (fds[k] >= 0) close(fds[k]);
    FF_CHECK(opened > 0);
    free(big);
    /* still serving: the page, the API, the metrics and `framefarm status` */
    double t0 = fp_now();
    int page = 0;
    while (fp_now() - t0 < 30 && page != 200) { /* the closed connections are reaped */
        page = hc_request(g_c.port, "GET", "/", NULL, &r);
        FF_CHECK(page != 200 || strstr(r.body, "<title>framefarm</title>") != NULL);
        hc_free(&r);
        if (page != 200) fp_sleep_ms(100);
    }
    FF_CHECK(page == 200);
    ff_json_doc *d = get_json(&g_c, "/api/workers");
    FF_CHECK(d && ff_json_count(ff_json_get(ff_json_root(d), "workers")) == 2);
    ff_json_free(d);
    FF_CHECK(scrape(&g_c) == 0);
    FF_CHECK(pt_value(&g_prom, "framefarm_http_requests_total", "code=4xx") >= 20);
    char out[4096];
    char *args[] = {"status", "1", "--connect", g_c.ep, "--timeout", "5", NULL};
    FF_CHECK(fp_run(args, out, sizeof out, NULL) == 0);
}

int main(void) {
    if (!fp_bin() || access(fp_bin(), X_OK)) ff_test_skip("FF_BIN (the framefarm binary) is not set");
    if (!ff_http_available()) ff_test_skip("built without libmicrohttpd (coordinator --http)");
    if (cdp_which("chromium", g_chromium, sizeof g_chromium))
        ff_test_skip("chromium is not installed (Debian package chromium; scripts/install-deps.sh installs it)");
    if (cdp_which("promtool", g_promtool, sizeof g_promtool))
        ff_test_skip("promtool is not installed (Debian package prometheus; scripts/install-deps.sh installs it)");
    ff_test_tmp_path("http_page", g_dir, sizeof g_dir);
    rm_rf(g_dir);
    mkdir(g_dir, 0755);
    snprintf(g_model, sizeof g_model, "%s/tiny", g_dir);
    char *init[] = {"init-model", "tiny", g_model, NULL};
    if (fp_run(init, NULL, 0, NULL) != 0) {
        fprintf(stderr, "framefarm init-model tiny failed\n");
        return 1;
    }
    memset(&g_b, 0, sizeof g_b);
    g_b.to = g_b.from = -1;
    FF_RUN(test_page_follows_a_job);
    FF_RUN(test_api_is_status_json);
    FF_RUN(test_ten_thousand_jobs);
    FF_RUN(test_actions);
    FF_RUN(test_hostile_requests);
    cdp_stop(&g_b);
    fp_kill_all(&g_ps);
    return ff_test_summary();
}
