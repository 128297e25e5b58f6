/* Deterministic fuzzing of proto/ff_wire (label fuzz: runs under ASan+UBSan).
 *
 * Valid envelopes of every body kind are packed, then mutated (bytes
 * flipped, inserted, deleted, duplicated, truncated, varints stretched) and
 * mixed with random soup. Every input, in an exact-size heap buffer, must
 * either unpack into an envelope that passes validation again and packs
 * back, or be refused with FF_ERR_FORMAT and an Error code — never crash,
 * never leak (ASan). Fixed seeds: failures reproduce. */
#include <stdlib.h>
#include <string.h>

#include "proto/ff_jobspec.h"
#include "proto/ff_wire.h"
#include "tests/common/ff_test.h"
#include "tests/farm/farm_test_util.h"

typedef struct {
    uint64_t s;
} rng;
static uint64_t next(rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}
static uint32_t below(rng *r, uint32_t n) { return n ? (uint32_t)((next(r) >> 11) % n) : 0; }

typedef struct {
    uint8_t *p;
    size_t n;
} blob;

static blob pack(Ff__Envelope *e) {
    blob b = {0};
    ff_err err;
    if (ff_wire_pack(e, &b.p, &b.n, &err)) abort();
    return b;
}

static int n_seeds_made;

static size_t make_seeds(blob *out) {
    ff_err err = {0};
    size_t k = 0;
    Ff__JobSpec *s = ft_spec("{\"model\": \"/m\", \"prompts\": [\"a\", \"b\"], \"seeds\": [1, 18446744073709551615], "
                             "\"negative_prompt\": \"blurry\", \"width\": 32, \"height\": 32, \"frames\": 9, "
                             "\"output\": \"/o.y4m\", \"scheduler\": {\"flow_shift\": 2}}",
                             &err);
    if (!s) abort();
    Ff__ChunkTask t = FF__CHUNK_TASK__INIT;
    t.has_task_id = t.has_job_id = t.has_chunk = t.has_item = t.has_lat_start = t.has_lat_count = t.has_lat_total = 1;
    t.task_id = 5;
    t.job_id = 1;
    t.item = 1;
    t.lat_count = 3;
    t.lat_total = 3;
    t.spec = s;
    Ff__Envelope e = FF__ENVELOPE__INIT;
    e.body_case = FF__ENVELOPE__BODY_TASK;
    e.task = &t;
    out[k++] = pack(&e);
    Ff__SubmitJob sj = FF__SUBMIT_JOB__INIT;
    sj.spec = s;
    Ff__Envelope e2 = FF__ENVELOPE__INIT;
    e2.body_case = FF__ENVELOPE__BODY_SUBMIT;
    e2.submit = &sj;
    out[k++] = pack(&e2);
    Ff__Heartbeat hb = FF__HEARTBEAT__INIT;
    hb.worker_id = "w1";
    hb.name = "n";
    hb.backend = "cpu";
    hb.has_busy_task = 1;
    hb.busy_task = 9;
    Ff__Envelope e3 = FF__ENVELOPE__INIT;
    e3.body_case = FF__ENVELOPE__BODY_HEARTBEAT;
    e3.heartbeat = &hb;
    out[k++] = pack(&e3);
    uint8_t pix[40];
    for (int i = 0; i < 40; i++) pix[i] = (uint8_t)i;
    Ff__ResultFrames rf = FF__RESULT_FRAMES__INIT;
    rf.has_task_id = rf.has_t0 = rf.has_count = rf.has_width = rf.has_height = rf.has_rgb_zlib = 1;
    rf.task_id = 5;
    rf.count = 1;
    rf.width = rf.height = 4;
    rf.rgb_zlib.data = pix;
    rf.rgb_zlib.len = sizeof pix;
    Ff__Envelope e4 = FF__ENVELOPE__INIT;
    e4.body_case = FF__ENVELOPE__BODY_FRAMES;
    e4.frames = &rf;
    out[k++] = pack(&e4);
    Ff__JobStatus js = FF__JOB_STATUS__INIT, *jsp = &js;
    js.has_job_id = 1;
    js.job_id = 3;
    js.state = "running";
    Ff__StatusReply sr = FF__STATUS_REPLY__INIT;
    sr.n_jobs = 1;
    sr.jobs = &jsp;
    Ff__Envelope e5 = FF__ENVELOPE__INIT;
    e5.body_case = FF__ENVELOPE__BODY_STATUS_REPLY;
    e5.status_reply = &sr;
    out[k++] = pack(&e5);
    Ff__TaskFailed tf = FF__TASK_FAILED__INIT;
    tf.has_task_id = 1;
    tf.task_id = 4;
    tf.message = "boom";
    tf.log = "line1\nline2";
    Ff__Envelope e6 = FF__ENVELOPE__INIT;
    e6.body_case = FF__ENVELOPE__BODY_FAILED;
    e6.failed = &tf;
    out[k++] = pack(&e6);
    ff_jobspec_free(s);
    n_seeds_made = (int)k;
    return k;
}

static void check_one(const uint8_t *src, size_t n, int *ok, int *refused) {
    uint8_t *b = malloc(n ? n : 1);
    if (!b) abort();
    memcpy(b, src, n);
    Ff__Envelope *e = NULL;
    Ff__Error__Code code = FF__ERROR__CODE__UNKNOWN;
    ff_err err = {0};
    ff_status st = ff_wire_unpack(b, n, 1 << 20, &e, &code, &err);
    if (st == FF_OK) {
        (*ok)++;
        ff_err e2 = {0};
        FF_CHECK_MSG(ff_wire_validate(e, &e2) == FF_OK, "%s", e2.msg);
        uint8_t *again = NULL;
        size_t an = 0;
        FF_CHECK(ff_wire_pack(e, &again, &an, &e2) == FF_OK);
        free(again);
        ff_wire_free(e);
    } else {
        (*refused)++;
        FF_CHECK_MSG(st == FF_ERR_FORMAT && e == NULL && code != FF__ERROR__CODE__UNKNOWN && err.msg[0],
                     "status %d code %d", st, code);
    }
    free(b);
}

static void test_mutations(void) {
    blob seeds[8];
    size_t ns = make_seeds(seeds);
    rng r = {0x5eed1234abcdull};
    int ok = 0, refused = 0;
    for (int it = 0; it < 60000; it++) {
        const blob *s = &seeds[below(&r, (uint32_t)ns)];
        size_t cap = s->n + 64;
        uint8_t *m = malloc(cap);
        FF_REQUIRE(m);
        memcpy(m, s->p, s->n);
        size_t n = s->n;
        int edits = 1 + (int)below(&r, 4);
        for (int k = 0; k < edits; k++) {
            switch (below(&r, 6)) {
            case 0: if (n) m[below(&r, (uint32_t)n)] ^= (uint8_t)(1u << below(&r, 8)); break;
            case 1: if (n) m[below(&r, (uint32_t)n)] = (uint8_t)next(&r); break;
            case 2: /* insert */
                if (n < cap) {
                    size_t at = below(&r, (uint32_t)n + 1);
                    memmove(m + at + 1, m + at, n - at);
                    m[at] = (uint8_t)(below(&r, 2) ? 0xff : next(&r));
                    n++;
                }
                break;
            case 3: /* delete */
                if (n) {
                    size_t at = below(&r, (uint32_t)n);
                    memmove(m + at, m + at + 1, n - at - 1);
                    n--;
                }
                break;
            case 4: n = below(&r, (uint32_t)n + 1); break; /* truncate */
            case 5: /* duplicate a span */
                if (n && n + 16 <= cap) {
                    size_t at = below(&r, (uint32_t)n), len = 1 + below(&r, 16);
                    if (at + len > n) len = n - at;
                    memmove(m + at + len, m + at, n - at);
                    n += len;
                }
                break;
            }
        }
        check_one(m, n, &ok, &refused);
        free(m);
    }
    for (int it = 0; it < 20000; it++) {
        uint8_t soup[96];
        size_t n = below(&r, sizeof soup + 1);
        for (size_t i = 0; i < n; i++) soup[i] = (uint8_t)next(&r);
        check_one(soup, n, &ok, &refused);
    }
    for (size_t i = 0; i < ns; i++) {
        check_one(seeds[i].p, seeds[i].n, &ok, &refused);
        free(seeds[i].p);
    }
    fprintf(stderr, "wire fuzz: %d accepted, %d refused (%d seed messages)\n", ok, refused, n_seeds_made);
    FF_CHECK(refused > 1000 && ok > 100);
}

int main(void) {
    FF_RUN(test_mutations);
    return ff_test_summary();
}
