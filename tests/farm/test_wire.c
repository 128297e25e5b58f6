/* proto/ff_wire + ff_jobspec + ff_frames: round trips, and every way a
 * message is refused (oversized, malformed, wrong version, invalid fields). */
#include <stdlib.h>
#include <string.h>

#include "proto/ff_frames.h"
#include "proto/ff_jobspec.h"
#include "proto/ff_wire.h"
#include "tests/common/ff_test.h"
#include "tests/farm/farm_test_util.h"

static const char *job_json =
    "{\"model\": \"/m\", \"prompts\": [\"a cat\", \"a dog\", \"a fox\"], \"seed\": 7, \"width\": 64, "
    "\"height\": 48, \"frames\": 17, \"steps\": 3, \"output\": \"/tmp/out.y4m\", \"scheduler\": {\"flow_shift\": 3.0, "
    "\"x\": [1, \"s\\\"q\"]}, \"chunking\": {\"frames\": 9, \"overlap\": 1}, \"priority\": 5}";

static void test_heartbeat_round_trip(void) {
    ff_err err = {0};
    Ff__Heartbeat hb = FF__HEARTBEAT__INIT;
    hb.worker_id = "w-1";
    hb.name = "host:1/cpu";
    hb.backend = "cpu";
    hb.has_device_bytes = 1;
    hb.device_bytes = 1 << 30;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    uint8_t *buf = NULL;
    size_t len = 0;
    FF_REQUIRE_OK(ff_wire_pack(&env, &buf, &len, &err), &err);
    Ff__Envelope *out = NULL;
    Ff__Error__Code code = 0;
    FF_REQUIRE_OK(ff_wire_unpack(buf, len, 0, &out, &code, &err), &err);
    FF_CHECK(out->version == FF_PROTO_VERSION);
    FF_CHECK(out->body_case == FF__ENVELOPE__BODY_HEARTBEAT);
    FF_CHECK(!strcmp(out->heartbeat->worker_id, "w-1"));
    FF_CHECK(out->heartbeat->device_bytes == 1 << 30);
    ff_wire_free(out);
    /* oversized: refused before parsing */
    FF_CHECK(ff_wire_unpack(buf, len, len - 1, &out, &code, &err) == FF_ERR_FORMAT);
    FF_CHECK(code == FF__ERROR__CODE__OVERSIZED && out == NULL);
    FF_CHECK_MSG(strstr(err.msg, "over the limit") != NULL, "%s", err.msg);
    free(buf);
}

static void test_refusals(void) {
    ff_err err = {0};
    Ff__Envelope *out = NULL;
    Ff__Error__Code code = 0;
    /* not a protocol buffer */
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    FF_CHECK(ff_wire_unpack(junk, sizeof junk, 0, &out, &code, &err) == FF_ERR_FORMAT);
    FF_CHECK(code == FF__ERROR__CODE__MALFORMED);
    FF_CHECK(ff_wire_unpack(junk, 0, 0, &out, &code, &err) == FF_ERR_FORMAT);
    /* a heartbeat carrying a field this version does not have (field 0 written as an overlong varint tag,
     * which protobuf-c takes but would pack back as a tag it then refuses: found by tests/fuzz/fuzz_wire) */
    const uint8_t unknown[] = {0x08, 0x01, 0x52, 0x07, 0x0a, 0x02, 'w', '1', 0x80, 0x00, 0x00};
    FF_CHECK(ff_wire_unpack(unknown, sizeof unknown, 0, &out, &code, &err) == FF_ERR_FORMAT);
    FF_CHECK_MSG(code == FF__ERROR__CODE__MALFORMED && strstr(err.msg, "not in protocol version 1"), "%s", err.msg);
    const uint8_t extra[] = {0x08, 0x01, 0x52, 0x07, 0x0a, 0x02, 'w', '1', 0xf8, 0x06, 0x01}; /* field 111 */
    FF_CHECK(ff_wire_unpack(extra, sizeof extra, 0, &out, &code, &err) == FF_ERR_FORMAT);
    FF_CHECK_MSG(strstr(err.msg, "field 111"), "%s", err.msg);
    /* wrong version: pack, then patch the version field */
    Ff__WorkersQuery wq = FF__WORKERS_QUERY__INIT;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_WORKERS;
    env.workers = &wq;
    env.has_version = 1;
    env.version = 99;
    size_t n = ff__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(n);
    FF_REQUIRE(buf);
    ff__envelope__pack(&env, buf);
    FF_CHECK(ff_wire_unpack(buf, n, 0, &out, &code, &err) == FF_ERR_FORMAT);
    FF_CHECK(code == FF__ERROR__CODE__VERSION);
    FF_CHECK_MSG(strstr(err.msg, "version 99") && strstr(err.msg, "version 1"), "%s", err.msg);
    free(buf);
    /* no version at all */
    env.has_version = 0;
    n = ff__envelope__get_packed_size(&env);
    buf = malloc(n);
    FF_REQUIRE(buf);
    ff__envelope__pack(&env, buf);
    FF_CHECK(ff_wire_unpack(buf, n, 0, &out, &code, &err) == FF_ERR_FORMAT && code == FF__ERROR__CODE__VERSION);
    free(buf);
    /* no body */
    Ff__Envelope empty = FF__ENVELOPE__INIT;
    uint8_t *b2 = NULL;
    size_t n2 = 0;
    FF_REQUIRE_OK(ff_wire_pack(&empty, &b2, &n2, &err), &err);
    FF_CHECK(ff_wire_unpack(b2, n2, 0, &out, &code, &err) == FF_ERR_FORMAT && code == FF__ERROR__CODE__MALFORMED);
    free(b2);
    /* invalid fields: a heartbeat with a bad worker id, progress beyond its total */
    Ff__Heartbeat hb = FF__HEARTBEAT__INIT;
    hb.worker_id = "bad id with spaces";
    Ff__Envelope e3 = FF__ENVELOPE__INIT;
    e3.body_case = FF__ENVELOPE__BODY_HEARTBEAT;
    e3.heartbeat = &hb;
    FF_REQUIRE_OK(ff_wire_pack(&e3, &b2, &n2, &err), &err);
    FF_CHECK(ff_wire_unpack(b2, n2, 0, &out, &code, &err) == FF_ERR_FORMAT && code == FF__ERROR__CODE__INVALID);
    FF_CHECK_MSG(strstr(err.msg, "worker_id") != NULL, "%s", err.msg);
    free(b2);
    Ff__Progress pr = FF__PROGRESS__INIT;
    pr.has_task_id = pr.has_done = pr.has_total = 1;
    pr.task_id = 3;
    pr.done = 5;
    pr.total = 4;
    Ff__Envelope e4 = FF__ENVELOPE__INIT;
    e4.body_case = FF__ENVELOPE__BODY_PROGRESS;
    e4.progress = &pr;
    FF_REQUIRE_OK(ff_wire_pack(&e4, &b2, &n2, &err), &err);
    FF_CHECK(ff_wire_unpack(b2, n2, 0, &out, &code, &err) == FF_ERR_FORMAT && code == FF__ERROR__CODE__INVALID);
    free(b2);
    /* a done message with an escaping shared path */
    Ff__TaskDone d = FF__TASK_DONE__INIT;
    d.has_task_id = d.has_frames = 1;
    d.task_id = 1;
    d.frames = 5;
    d.shared_path = "../../etc/passwd";
    Ff__Envelope e5 = FF__ENVELOPE__INIT;
    e5.body_case = FF__ENVELOPE__BODY_DONE;
    e5.done = &d;
    FF_REQUIRE_OK(ff_wire_pack(&e5, &b2, &n2, &err), &err);
    FF_CHECK(ff_wire_unpack(b2, n2, 0, &out, &code, &err) == FF_ERR_FORMAT && code == FF__ERROR__CODE__INVALID);
    free(b2);
}

static void test_task_round_trip(void) {
    ff_err err = {0};
    Ff__JobSpec *s = ft_spec(job_json, &err);
    FF_REQUIRE(s != NULL);
    Ff__ChunkTask t = FF__CHUNK_TASK__INIT;
    t.has_task_id = t.has_job_id = t.has_chunk = t.has_item = t.has_lat_start = t.has_lat_count = t.has_lat_total = 1;
    t.task_id = 11;
    t.job_id = 2;
    t.item = 2;
    t.lat_start = 1;
    t.lat_count = 3;
    t.lat_total = 5;
    t.spec = s;
    Ff__Envelope env = FF__ENVELOPE__INIT;
    env.body_case = FF__ENVELOPE__BODY_TASK;
    env.task = &t;
    uint8_t *buf = NULL;
    size_t len = 0;
    FF_REQUIRE_OK(ff_wire_pack(&env, &buf, &len, &err), &err);
    Ff__Envelope *out = NULL;
    FF_CHECK_OK(ff_wire_unpack(buf, len, 0, &out, NULL, &err), &err);
    if (out) {
        const char *p, *neg;
        uint64_t seed;
        ff_jobspec_item(out->task->spec, 2, &p, &neg, &seed);
        FF_CHECK(!strcmp(p, "a fox") && !strcmp(neg, "") && seed == 7);
        FF_CHECK(out->task->spec->priority == 5);
        ff_wire_free(out);
    }
    free(buf);
    /* window beyond the video, item beyond the job: refused */
    t.lat_start = 3;
    FF_REQUIRE_OK(ff_wire_pack(&env, &buf, &len, &err), &err);
    FF_CHECK(ff_wire_unpack(buf, len, 0, &out, NULL, &err) == FF_ERR_FORMAT);
    free(buf);
    t.lat_start = 0;
    t.item = 3;
    FF_REQUIRE_OK(ff_wire_pack(&env, &buf, &len, &err), &err);
    FF_CHECK(ff_wire_unpack(buf, len, 0, &out, NULL, &err) == FF_ERR_FORMAT);
    FF_CHECK_MSG(strstr(err.msg, "item 3") != NULL, "%s", err.msg);
    free(buf);
    ff_jobspec_free(s);
}

static void test_jobspec(void) {
    ff_err err = {0};
    Ff__JobSpec *s = ft_spec(job_json, &err);
    FF_REQUIRE(s != NULL);
    FF_CHECK(ff_jobspec_items(s) == 3);
    FF_CHECK(ff_jobspec_lat_total(s) == 5);
    FF_CHECK(s->fps == 16 && s->max_attempts == 3 && !strcmp(s->dit_weights, "f32"));
    FF_CHECK_MSG(s->scheduler_json && !strcmp(s->scheduler_json, "{\"flow_shift\":3.0,\"x\":[1,\"s\\\"q\"]}"), "%s",
                 s->scheduler_json ? s->scheduler_json : "(null)");
    char path[256];
    FF_CHECK_OK(ff_jobspec_item_output(s, 1, path, sizeof path, &err), &err);
    FF_CHECK_MSG(!strcmp(path, "/tmp/out_0001.y4m"), "%s", path);
    Ff__JobSpec *c = NULL;
    FF_CHECK_OK(ff_jobspec_clone(s, &c, &err), &err);
    FF_CHECK(c && c->n_prompts == 3 && !strcmp(c->prompts[1], "a dog"));
    ff_jobspec_free(c);
    ff_jobspec_free(s);

    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"model\": \"/m\", \"prompt\": \"x\", \"seed\": 1, \"output\": \"/o.y4m\", \"promt\": 1}", "unknown key 'promt'"},
        {"{\"model\": \"/m\", \"prompt\": \"x\", \"seed\": 1, \"output\": \"/o.y4m\", \"frames\": 80}", "not 4k+1"},
        {"{\"model\": \"/m\", \"prompt\": \"x\", \"seed\": 1, \"output\": \"/o.y4m\", \"width\": 100}", "multiple of 16"},
        {"{\"model\": \"/m\", \"prompts\": [\"a\", \"b\"], \"seeds\": [1, 2, 3], \"output\": \"/o.y4m\"}", "seeds"},
        {"{\"prompt\": \"x\", \"seed\": 1, \"output\": \"/o.y4m\"}", "'model'"},
        {"{\"model\": \"/m\", \"prompt\": \"x\", \"output\": \"/o.y4m\"}", "'seed'"},
        {"{\"model\": \"/m\", \"prompt\": \"x\", \"seed\": -1, \"output\": \"/o.y4m\"}", "'seed'"},
        {"{\"model\": \"/m\", \"prompt\": \"x\", \"seed\": 1}", "'output'"},
        {"{\"model\": \"/m\", \"prompt\": \"x\", \"seed\": 1, \"output\": \"/o\", \"chunking\": {\"frames\": 9, \"overlap\": 0}}",
         "overlap"},
        {"{\"model\": \"/m\", \"prompt\": \"x\", \"seed\": 1, \"output\": \"/o\", \"chunking\": {\"size\": 9}}",
         "unknown key 'size'"},
        {"{\"model\": \"/m\", \"prompt\": \"x\", \"seed\": 1, \"output\": \"/o\", \"test_mode\": \"no-render\"}",
         "unknown key 'test_mode'"},
        {"[1, 2]", "JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ff_err e2 = {0};
        Ff__JobSpec *b = ft_spec(bad[i].json, &e2);
        FF_CHECK_MSG(b == NULL && strstr(e2.msg, bad[i].want), "case %zu: want '%s', got '%s'", i, bad[i].want, e2.msg);
        ff_jobspec_free(b);
    }
}

static void test_frames_codec(void) {
    ff_err err = {0};
    size_t n = 3 * 16 * 16 * 5;
    uint8_t *rgb = malloc(n), *back = malloc(n);
    FF_REQUIRE(rgb && back);
    for (size_t i = 0; i < n; i++) rgb[i] = (uint8_t)(i * 7 + i / 13);
    uint8_t *z = NULL;
    size_t zn = 0;
    FF_REQUIRE_OK(ff_frames_deflate(rgb, n, 1, &z, &zn, &err), &err);
    FF_CHECK_OK(ff_frames_inflate(z, zn, back, n, &err), &err);
    FF_CHECK(!memcmp(rgb, back, n));
    FF_CHECK(ff_frames_inflate(z, zn, back, n - 1, &err) == FF_ERR_FORMAT); /* longer than promised */
    FF_CHECK(ff_frames_inflate(z, zn - 1, back, n, &err) == FF_ERR_FORMAT); /* truncated */
    z[zn / 2] ^= 0x55;
    /* corrupt: refused (adler-32) — never a silently different frame */
    ff_status st = ff_frames_inflate(z, zn, back, n, &err);
    FF_CHECK(st == FF_ERR_FORMAT);
    free(z);
    free(rgb);
    free(back);
}

int main(void) {
    FF_RUN(test_heartbeat_round_trip);
    FF_RUN(test_refusals);
    FF_RUN(test_task_round_trip);
    FF_RUN(test_jobspec);
    FF_RUN(test_frames_codec);
    return ff_test_summary();
}
