/* Unit tests of core/ff_limits: UTF-8 validation (overlong forms,
 * surrogates, truncated and out-of-range sequences), the prompt check every
 * front door shares (size, NUL, UTF-8, each named in the message), and that ff_json_at walks an array of 100k elements in linear
 * time (it was O(i) per call). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ff_json.h"
#include "core/ff_limits.h"
#include "tests/common/ff_test.h"

static void test_utf8(void) {
    static const struct {
        const char *s;
        size_t n;
        int ok;
        size_t bad_at;
    } cases[] = {
        {"plain ascii", 11, 1, 0},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, 1, 0},
        {"\xc3", 1, 0, 0},                     /* truncated */
        {"ab\xe2\x82", 4, 0, 2},               /* truncated 3-byte */
        {"\xc0\xaf", 2, 0, 0},                 /* overlong '/' */
        {"x\xe0\x80\xaf", 4, 0, 1},            /* overlong 3-byte */
        {"\xed\xa0\x80", 3, 0, 0},             /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0, 0},         /* U+110000 */
        {"\xff", 1, 0, 0},
        {"ok\x80", 3, 0, 2},                   /* stray continuation byte */
        {"\xf4\x8f\xbf\xbf", 4, 1, 0},         /* U+10FFFF */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t at = 999;
        int ok = ff_utf8_valid(cases[i].s, cases[i].n, &at);
        FF_CHECK_MSG(ok == cases[i].ok, "case %zu", i);
        if (!cases[i].ok) FF_CHECK_MSG(at == cases[i].bad_at, "case %zu: bad at %zu", i, at);
    }
}

static void test_prompt(void) {
    ff_err err = {0};
    FF_CHECK_OK(ff_limits_check_prompt("A red boat.", 11, "prompt", &err), &err);
    char *big = malloc(FF_MAX_PROMPT_BYTES + 2);
    FF_REQUIRE(big);
    memset(big, 'a', FF_MAX_PROMPT_BYTES + 1);
    FF_CHECK_OK(ff_limits_check_prompt(big, FF_MAX_PROMPT_BYTES, "prompt", &err), &err);
    FF_CHECK(ff_limits_check_prompt(big, FF_MAX_PROMPT_BYTES + 1, "job: prompt 3", &err) == FF_ERR_ARG);
    FF_CHECK_MSG(strstr(err.msg, "job: prompt 3 is 16385 bytes") && strstr(err.msg, "16384"), "%s", err.msg);
    free(big);
    FF_CHECK(ff_limits_check_prompt("a\0b", 3, "prompt", &err) == FF_ERR_ARG);
    FF_CHECK_MSG(strstr(err.msg, "NUL"), "%s", err.msg);
    FF_CHECK(ff_limits_check_prompt("bad \xff byte", 10, "negative prompt", &err) == FF_ERR_ARG);
    FF_CHECK_MSG(strstr(err.msg, "negative prompt is not valid UTF-8 (byte 4: 0xff)"), "%s", err.msg);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ["p0", "p1", ...] with 100k strings, read back by index: linear, well under a second
 * (the former O(i) lookup took ~40 s for this). */
static void test_json_array_by_index(void) {
    const size_t n = 100000;
    char *text = malloc(n * 16 + 16);
    FF_REQUIRE(text);
    size_t at = 0;
    text[at++] = '[';
    for (size_t i = 0; i < n; i++) at += (size_t)sprintf(text + at, "%s\"p%zu\"", i ? "," : "", i);
    text[at++] = ']';
    ff_err err = {0};
    ff_json_doc *doc = NULL;
    double t0 = now_s();
    FF_REQUIRE_OK(ff_json_parse(text, at, "big.json", &doc, &err), &err);
    const ff_json *a = ff_json_root(doc);
    size_t good = 0;
    char want[32];
    for (size_t i = 0; i < n; i++) {
        const ff_json *e = ff_json_at(a, i);
        snprintf(want, sizeof want, "p%zu", i);
        good += e && !strcmp(e->str, want);
    }
    double dt = now_s() - t0;
    FF_CHECK(good == n && ff_json_at(a, n) == NULL);
    FF_CHECK_MSG(dt < 1.0, "parsing and indexing 100k strings took %.3f s", dt);
    fprintf(stderr, "100k strings parsed and read by index in %.3f s\n", dt);
    ff_json_free(doc);
    free(text);
}

int main(void) {
    FF_RUN(test_utf8);
    FF_RUN(test_prompt);
    FF_RUN(test_json_array_by_index);
    return ff_test_summary();
}
