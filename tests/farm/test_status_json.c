/* coordinator/status_json: the one JSON form of status replies (status
 * --json, the /api routes). Key names and order (the documented form scripts read:
 * cluster/slurm/submit.sbatch, tests/slurm/farm_cancel.sh), null for unset
 * optional fields, arrays, nested messages, enums, oneofs, bytes, doubles
 * that read back exactly, escapes — and every output parses as JSON with
 * the values put in. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/status_json.h"
#include "core/ff_json.h"
#include "framefarm.pb-c.h"
#include "tests/common/ff_test.h"

/* msg as JSON text (malloc'd). */
static char *to_json(const ProtobufCMessage *m) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return NULL;
    ff_status_json_write(f, m);
    fclose(f);
    return buf;
}

static int starts(const char *text, const char *prefix) { return text && !strncmp(text, prefix, strlen(prefix)); }

static ff_json_doc *parse(const char *text) {
    ff_json_doc *d = NULL;
    ff_err err = {0};
    if (ff_json_parse(text, strlen(text), "status json", &d, &err)) {
        fprintf(stderr, "not JSON (%s): %s\n", err.msg, text);
        return NULL;
    }
    return d;
}

static void test_job_with_chunks(void) {
    Ff__ChunkStatus c0 = FF__CHUNK_STATUS__INIT, c1 = FF__CHUNK_STATUS__INIT;
    c0.has_chunk = c0.has_item = c0.has_attempts = c0.has_stage = c0.has_done = c0.has_total = 1;
    c0.chunk = 0;
    c0.item = 2;
    c0.state = "running";
    c0.worker = "w-ab12";
    c0.attempts = 1;
    c0.stage = 1;
    c0.done = 3;
    c0.total = 10;
    c1.has_chunk = 1;
    c1.chunk = 1;
    c1.state = "queued"; /* no worker, no attempts: null */
    Ff__ChunkStatus *cs[] = {&c0, &c1};
    char *outs[] = {"/out/a_0000.y4m", "/out/a \"q\"\n.y4m"};
    Ff__JobStatus j = FF__JOB_STATUS__INIT;
    j.has_job_id = j.has_priority = j.has_chunks_total = j.has_chunks_done = j.has_progress = 1;
    j.job_id = 12345678901ull;
    j.state = "running";
    j.name = "boats \\ \"night\"";
    j.priority = -3;
    j.chunks_total = 2;
    j.chunks_done = 0;
    j.progress = 0.1;
    j.n_outputs = 2;
    j.outputs = outs;
    j.n_chunks = 2;
    j.chunks = cs;
    char *text = to_json(&j.base);
    FF_REQUIRE(text != NULL);
    /* the documented lead: {"job": N, "state": "...", "name": ... */
    FF_CHECK_MSG(starts(text, "{\"job\": 12345678901, \"state\": \"running\", \"name\": \"boats \\\\ \\\"night\\\"\", "),
                 "%s", text);
    /* chunks: {"chunk": 0, "item": 2, "state": "running", "worker": "w-ab12", ... (farm_cancel.sh greps this) */
    FF_CHECK_MSG(strstr(text, "{\"chunk\": 0, \"item\": 2, \"state\": \"running\", \"worker\": \"w-ab12\", ") != NULL, "%s", text);
    const char *pr = strstr(text, "\"progress\": 0.1");
    FF_CHECK_MSG(pr && (pr[15] == ',' || pr[15] == '}'), "%s", text); /* 0.1, not 0.10000000000000001 */
    FF_CHECK(strchr(text, '\n') == NULL); /* one line */
    ff_json_doc *d = parse(text);
    FF_REQUIRE(d != NULL);
    const ff_json *r = ff_json_root(d);
    uint64_t id = 0;
    FF_CHECK(!ff_json_uint64(ff_json_get(r, "job"), &id) && id == 12345678901ull);
    FF_CHECK(ff_json_get(r, "job_id") == NULL); /* renamed, not doubled */
    FF_CHECK(!strcmp(ff_json_get_string(r, "name"), "boats \\ \"night\""));
    int64_t v = 0;
    FF_CHECK(!ff_json_get_int64(r, "priority", 0, &v) && v == -3);
    FF_CHECK(ff_json_is_null(ff_json_get(r, "error")) && ff_json_get(r, "error") != NULL); /* unset string: null */
    const ff_json *o = ff_json_get(r, "outputs");
    FF_CHECK(ff_json_count(o) == 2 && !strcmp(ff_json_get_string(r, "state"), "running"));
    FF_CHECK(o && ff_json_count(o) == 2);
    const ff_json *ch = ff_json_get(r, "chunks");
    FF_REQUIRE(ch && ff_json_count(ch) == 2);
    const ff_json *q = ff_json_at(ch, 1);
    FF_CHECK(ff_json_is_null(ff_json_get(q, "worker")) && ff_json_get(q, "worker") != NULL);
    FF_CHECK(ff_json_is_null(ff_json_get(q, "attempts")) && ff_json_get(q, "attempts") != NULL); /* has_ 0: null */
    FF_CHECK(!ff_json_get_int64(ff_json_at(ch, 0), "total", 0, &v) && v == 10);
    /* every field of the message is a key */
    for (unsigned i = 0; i < ff__job_status__descriptor.n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &ff__job_status__descriptor.fields[i];
        FF_CHECK_MSG(ff_json_get(r, ff_status_json_key(&ff__job_status__descriptor, fd)) != NULL, "no key for %s", fd->name);
    }
    ff_json_free(d);
    free(text);
}

static void test_reply_and_workers(void) {
    Ff__WorkerStatus w = FF__WORKER_STATUS__INIT;
    w.worker_id = "w-1";
    w.state = "busy";
    w.has_device_bytes = w.has_last_seen_s = w.has_task_id = 1;
    w.device_bytes = 24ll << 30;
    w.last_seen_s = 0.25;
    w.task_id = 0xffffffffffull;
    Ff__WorkerStatus *wp[] = {&w};
    Ff__WorkersReply wr = FF__WORKERS_REPLY__INIT;
    wr.n_workers = 1;
    wr.workers = wp;
    char *text = to_json(&wr.base);
    FF_REQUIRE(text != NULL);
    FF_CHECK_MSG(starts(text, "{\"workers\": [{\"worker\": \"w-1\", \"state\": \"busy\", "), "%s", text);
    ff_json_doc *d = parse(text);
    FF_REQUIRE(d != NULL);
    const ff_json *x = ff_json_at(ff_json_get(ff_json_root(d), "workers"), 0);
    double s = 0;
    int64_t b = 0;
    FF_CHECK(!ff_json_get_double(x, "last_seen_s", 0, &s) && s == 0.25);
    FF_CHECK(!ff_json_get_int64(x, "device_bytes", 0, &b) && b == 24ll << 30);
    ff_json_free(d);
    free(text);
    /* an empty reply */
    Ff__StatusReply sr = FF__STATUS_REPLY__INIT;
    text = to_json(&sr.base);
    FF_REQUIRE(text != NULL);
    FF_CHECK_MSG(starts(text, "{\"jobs\": []"), "%s", text);
    d = parse(text);
    FF_CHECK(d != NULL);
    ff_json_free(d);
    free(text);
}

static void test_doubles_enums_oneof_bytes(void) {
    /* doubles: the fewest digits that read back; not finite: null */
    const double vals[] = {0.1, 1.0 / 3.0, 1.7e9 + 0.5, 5e-324, -0.0, 123456789.125};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        Ff__WorkerStatus w = FF__WORKER_STATUS__INIT;
        w.has_last_seen_s = 1;
        w.last_seen_s = vals[i];
        char *text = to_json(&w.base);
        ff_json_doc *d = text ? parse(text) : NULL;
        double back = NAN;
        FF_CHECK_MSG(d && !ff_json_get_double(ff_json_root(d), "last_seen_s", NAN, &back) && back == vals[i], "%.17g: %s",
                     vals[i], text ? text : "");
        ff_json_free(d);
        free(text);
    }
    Ff__WorkerStatus w = FF__WORKER_STATUS__INIT;
    w.has_last_seen_s = 1;
    w.last_seen_s = NAN;
    char *text = to_json(&w.base);
    FF_CHECK(text && strstr(text, "\"last_seen_s\": null") != NULL);
    free(text);
    /* an envelope: only the oneof member that is set; enums by name; bytes as base64 */
    Ff__Error e = FF__ERROR__INIT;
    e.has_code = 1;
    e.code = FF__ERROR__CODE__NOT_FOUND;
    e.message = "no job 9";
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_ERROR;
    env.error = &e;
    text = to_json(&env.base);
    FF_CHECK_MSG(text && strstr(text, "\"error\": {\"code\": \"NOT_FOUND\", \"message\": \"no job 9\"}") != NULL, "%s", text);
    FF_CHECK(text && !strstr(text, "heartbeat") && !strstr(text, "status_reply"));
    free(text);
    Ff__ResultFrames fr = FF__RESULT_FRAMES__INIT;
    uint8_t raw[] = {'f', 'o', 'o', 'b', 'a'};
    fr.has_rgb_zlib = 1;
    fr.rgb_zlib.data = raw;
    fr.rgb_zlib.len = sizeof raw;
    text = to_json(&fr.base);
    FF_CHECK_MSG(text && strstr(text, "\"rgb_zlib\": \"Zm9vYmE=\"") != NULL, "%s", text);
    free(text);
    text = to_json(NULL);
    FF_CHECK(text && !strcmp(text, "null"));
    free(text);
}

int main(void) {
    FF_RUN(test_job_with_chunks);
    FF_RUN(test_reply_and_workers);
    FF_RUN(test_doubles_enums_oneof_bytes);
    return ff_test_summary();
}
