/* Unit tests of core/ff_json: values and lookups, string escapes and
 * surrogate pairs, exact 64-bit integers (seeds above 2^53), Python's
 * NaN/Infinity, the depth limit, error messages, files, and the one writer
 * helper. Inputs are copied into exactly-sized buffers (no NUL after the
 * last byte) so that ASan catches any read past the end. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"
#include "tests/common/ff_test.h"

/* Parses s (without its NUL) from an exact-size heap copy. */
static ff_status parse(const char *s, ff_json_doc **doc, ff_err *err) {
    size_t n = strlen(s);
    char *buf = malloc(n ? n : 1);
    if (!buf) abort();
    memcpy(buf, s, n);
    ff_status st = ff_json_parse(buf, n, "test.json", doc, err);
    free(buf); /* the tree must not point into the input */
    return st;
}

static void test_values_and_lookups(void) {
    ff_err err = {0};
    ff_json_doc *doc;
    FF_REQUIRE_OK(parse(" {\"n\": null, \"t\": true, \"f\": false, \"i\": -42, \"d\": 1.5e-3,\n"
                        "  \"s\": \"hi\", \"a\": [1, [2, 3], {}], \"o\": {\"k\": \"v\"}, \"z\": -0, \"e\": 1E2}\t",
                        &doc, &err),
                  &err);
    const ff_json *r = ff_json_root(doc);
    FF_REQUIRE(r && r->type == FF_JSON_OBJECT);
    FF_CHECK(ff_json_count(r) == 10);
    FF_CHECK(ff_json_get(r, "n")->type == FF_JSON_NULL && ff_json_is_null(ff_json_get(r, "n")));
    FF_CHECK(ff_json_is_null(ff_json_get(r, "absent")));
    FF_CHECK(ff_json_get(r, "t")->boolean == 1 && ff_json_get(r, "f")->boolean == 0);
    int64_t i;
    FF_CHECK(ff_json_int64(ff_json_get(r, "i"), &i) == 0 && i == -42);
    uint64_t u;
    FF_CHECK(ff_json_uint64(ff_json_get(r, "i"), &u) == -1);
    double d;
    FF_CHECK(ff_json_double(ff_json_get(r, "d"), &d) == 0 && d == 1.5e-3);
    FF_CHECK(ff_json_int64(ff_json_get(r, "d"), &i) == -1);
    FF_CHECK(ff_json_int64(ff_json_get(r, "e"), &i) == -1); /* exponent: not an integer literal */
    FF_CHECK(ff_json_double(ff_json_get(r, "e"), &d) == 0 && d == 100);
    FF_CHECK(ff_json_int64(ff_json_get(r, "z"), &i) == 0 && i == 0);
    FF_CHECK(strcmp(ff_json_get_string(r, "s"), "hi") == 0 && ff_json_get(r, "s")->len == 2);
    FF_CHECK(ff_json_get_string(r, "i") == NULL);
    const ff_json *a = ff_json_get(r, "a");
    FF_CHECK(ff_json_count(a) == 3 && ff_json_count(ff_json_at(a, 1)) == 2);
    FF_CHECK(ff_json_int64(ff_json_at(ff_json_at(a, 1), 1), &i) == 0 && i == 3);
    FF_CHECK(ff_json_at(a, 3) == NULL && ff_json_at(r, 0) == NULL);
    FF_CHECK(ff_json_at(a, 2)->type == FF_JSON_OBJECT && ff_json_count(ff_json_at(a, 2)) == 0);
    FF_CHECK(strcmp(ff_json_get_string(ff_json_get(r, "o"), "k"), "v") == 0);
    FF_CHECK(ff_json_get(a, "k") == NULL);
    FF_CHECK(ff_json_count(ff_json_get(r, "s")) == 0);
    /* typed getters with defaults */
    FF_CHECK(ff_json_get_int64(r, "absent", 7, &i) == 0 && i == 7);
    FF_CHECK(ff_json_get_int64(r, "n", 8, &i) == 0 && i == 8); /* null counts as absent */
    FF_CHECK(ff_json_get_int64(r, "s", 8, &i) == -1);
    FF_CHECK(ff_json_get_double(r, "i", 0, &d) == 0 && d == -42);
    FF_CHECK(ff_json_get_double(r, "t", 0, &d) == -1);
    int b;
    FF_CHECK(ff_json_get_bool(r, "t", 0, &b) == 0 && b == 1);
    FF_CHECK(ff_json_get_bool(r, "absent", 1, &b) == 0 && b == 1);
    FF_CHECK(ff_json_get_bool(r, "i", 1, &b) == -1);
    ff_json_free(doc);
    ff_json_free(NULL);

    /* scalars at the top level, duplicate keys (last wins, both kept) */
    FF_REQUIRE_OK(parse("\"only\"", &doc, &err), &err);
    FF_CHECK(ff_json_root(doc)->type == FF_JSON_STRING);
    ff_json_free(doc);
    FF_REQUIRE_OK(parse("{\"a\":1,\"a\":2}", &doc, &err), &err);
    FF_CHECK(ff_json_count(ff_json_root(doc)) == 2);
    FF_CHECK(ff_json_int64(ff_json_get(ff_json_root(doc), "a"), &i) == 0 && i == 2);
    ff_json_free(doc);
}

static void test_string_escapes(void) {
    ff_err err = {0};
    ff_json_doc *doc;
    FF_REQUIRE_OK(parse("[\"q\\\"b\\\\s\\/n\\nr\\rt\\tb\\bf\\f\", \"\\u0041\\u00e9\\u20AC\", \"a\\u0000b\","
                        "\"\\ud83d\\ude00\", \"\\uD834\\uDD1E!\", \"\xc3\xa9 raw utf-8\", \"\"]",
                        &doc, &err),
                  &err);
    const ff_json *r = ff_json_root(doc);
    FF_CHECK(strcmp(ff_json_at(r, 0)->str, "q\"b\\s/n\nr\rt\tb\bf\f") == 0);
    FF_CHECK(strcmp(ff_json_at(r, 1)->str, "A\xc3\xa9\xe2\x82\xac") == 0);
    FF_CHECK(ff_json_at(r, 2)->len == 3 && memcmp(ff_json_at(r, 2)->str, "a\0b", 4) == 0);
    FF_CHECK(strcmp(ff_json_at(r, 3)->str, "\xf0\x9f\x98\x80") == 0); /* U+1F600 */
    FF_CHECK(strcmp(ff_json_at(r, 4)->str, "\xf0\x9d\x84\x9e!") == 0); /* U+1D11E */
    FF_CHECK(strcmp(ff_json_at(r, 5)->str, "\xc3\xa9 raw utf-8") == 0);
    FF_CHECK(ff_json_at(r, 6)->len == 0 && ff_json_at(r, 6)->str[0] == '\0');
    ff_json_free(doc);
    /* member names are C strings: an embedded NUL is an error, not a silent truncation */
    FF_CHECK(parse("{\"a\\u0000b\": 1}", &doc, &err) == FF_ERR_FORMAT);
    FF_CHECK(strstr(err.msg, "u0000") && strstr(err.msg, "byte 1"));
    /* escaped keys */
    FF_REQUIRE_OK(parse("{\"k\\u0065y\\n\": 1}", &doc, &err), &err);
    FF_CHECK(ff_json_get(ff_json_root(doc), "key\n") != NULL);
    ff_json_free(doc);
}

static void test_big_integers(void) {
    ff_err err = {0};
    ff_json_doc *doc;
    FF_CHECK(parse("[00000]", &doc, &err) == FF_ERR_FORMAT); /* leading zeros are not JSON */
    FF_CHECK(parse("-01", &doc, &err) == FF_ERR_FORMAT);
    FF_REQUIRE_OK(parse("[9223372036854788153, 18446744073709551615, 18446744073709551616, 9223372036854775807,"
                        " 9223372036854775808, -9223372036854775808, -9223372036854775809, 9007199254740993, 1.0]",
                        &doc, &err),
                  &err);
    const ff_json *r = ff_json_root(doc);
    uint64_t u;
    int64_t i;
    FF_CHECK(ff_json_uint64(ff_json_at(r, 0), &u) == 0 && u == 9223372036854788153ULL); /* a seed > 2^63 */
    FF_CHECK(ff_json_int64(ff_json_at(r, 0), &i) == -1);
    FF_CHECK(ff_json_uint64(ff_json_at(r, 1), &u) == 0 && u == UINT64_MAX);
    FF_CHECK(ff_json_uint64(ff_json_at(r, 2), &u) == -1);
    FF_CHECK(ff_json_int64(ff_json_at(r, 3), &i) == 0 && i == INT64_MAX);
    FF_CHECK(ff_json_int64(ff_json_at(r, 4), &i) == -1);
    FF_CHECK(ff_json_uint64(ff_json_at(r, 4), &u) == 0 && u == 9223372036854775808ULL);
    FF_CHECK(ff_json_int64(ff_json_at(r, 5), &i) == 0 && i == INT64_MIN);
    FF_CHECK(ff_json_int64(ff_json_at(r, 6), &i) == -1);
    FF_CHECK(ff_json_uint64(ff_json_at(r, 7), &u) == 0 && u == 9007199254740993ULL); /* 2^53 + 1 */
    FF_CHECK(ff_json_uint64(ff_json_at(r, 8), &u) == -1);
    double d;
    FF_CHECK(ff_json_double(ff_json_at(r, 8), &d) == 0 && d == 1.0);
    FF_CHECK(ff_json_uint64(NULL, &u) == -1 && ff_json_int64(NULL, &i) == -1 && ff_json_double(NULL, &d) == -1);
    ff_json_free(doc);
}

static void test_nan_infinity(void) {
    ff_err err = {0};
    ff_json_doc *doc;
    FF_REQUIRE_OK(parse("{\"a\": NaN, \"b\": Infinity, \"c\": -Infinity, \"d\": [NaN,NaN], \"e\": 1e999}", &doc,
                        &err),
                  &err);
    const ff_json *r = ff_json_root(doc);
    double d;
    int64_t i;
    uint64_t u;
    FF_CHECK(ff_json_get_double(r, "a", 0, &d) == 0 && isnan(d));
    FF_CHECK(ff_json_get_double(r, "b", 0, &d) == 0 && d == INFINITY);
    FF_CHECK(ff_json_get_double(r, "c", 0, &d) == 0 && d == -INFINITY);
    FF_CHECK(ff_json_get_double(r, "e", 0, &d) == 0 && d == INFINITY);
    const char *keys[] = {"a", "b", "c"};
    for (int k = 0; k < 3; k++) { /* never integers */
        FF_CHECK(ff_json_int64(ff_json_get(r, keys[k]), &i) == -1);
        FF_CHECK(ff_json_uint64(ff_json_get(r, keys[k]), &u) == -1);
    }
    FF_CHECK(ff_json_count(ff_json_get(r, "d")) == 2);
    ff_json_free(doc);
    FF_CHECK(parse("nan", &doc, &err) == FF_ERR_FORMAT);
    FF_CHECK(parse("-NaN", &doc, &err) == FF_ERR_FORMAT);
    FF_CHECK(parse("Inf", &doc, &err) == FF_ERR_FORMAT);
    FF_CHECK(parse("+1", &doc, &err) == FF_ERR_FORMAT);
}

static char *nested(int depth, char open, char close) {
    char *s = malloc((size_t)depth * 2 + 1);
    if (!s) abort();
    memset(s, open, (size_t)depth);
    memset(s + depth, close, (size_t)depth);
    s[2 * depth] = '\0';
    return s;
}

static void test_depth_limit(void) {
    ff_err err = {0};
    ff_json_doc *doc;
    /* The root is depth 0; values are accepted down to depth FF_JSON_MAX_DEPTH. */
    char *ok = nested(FF_JSON_MAX_DEPTH + 1, '[', ']');
    FF_CHECK_OK(parse(ok, &doc, &err), &err);
    ff_json_free(doc);
    char *deep = nested(FF_JSON_MAX_DEPTH + 2, '[', ']');
    FF_CHECK(parse(deep, &doc, &err) == FF_ERR_FORMAT && doc == NULL);
    FF_CHECK(strstr(err.msg, "nested too deeply") != NULL);
    char *huge = nested(100000, '[', ']');
    FF_CHECK(parse(huge, &doc, &err) == FF_ERR_FORMAT);
    /* objects count the same way */
    size_t n = 100000;
    char *objs = malloc(n * 6 + 2);
    FF_REQUIRE(objs);
    size_t k = 0;
    for (size_t j = 0; j < n; j++) k += (size_t)sprintf(objs + k, "{\"a\":");
    objs[k++] = '1';
    memset(objs + k, '}', n);
    objs[k + n] = '\0';
    FF_CHECK(parse(objs, &doc, &err) == FF_ERR_FORMAT);
    FF_CHECK(strstr(err.msg, "nested too deeply") != NULL);
    free(objs);
    free(ok);
    free(deep);
    free(huge);
}

static void test_errors(void) {
    const char *bad[] = {"",          " ",        "{",          "}",          "[1,]",       "[,1]",      "{\"a\" 1}",
                         "{\"a\":1,}", "{,}",      "{1:2}",      "{\"a\"}",    "01",         "1.",        ".5",
                         "-",         "1e",       "1e+",        "tru",        "nul",        "falsy",     "\"abc",
                         "\"\\x\"",   "\"\x01\"", "\"\\u12\"",  "\"\\u12G4\"", "\"\\ud83d\"", "\"\\ud83d\\u0041\"",
                         "\"\\ude00\"", "\"\\ud83dx\"", "[1 2]",  "1 2",        "{} {}",      "[\"a\":1]", "\"\\",
                         "\"\\u",     "[",        "[[]",        "\"a\nb\"",   "'a'",        "{\"a\":1]", "@"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ff_err err = {0};
        ff_json_doc *doc = (ff_json_doc *)&err; /* must be reset to NULL */
        ff_status st = parse(bad[i], &doc, &err);
        FF_CHECK_MSG(st == FF_ERR_FORMAT, "input %zu <%s> parsed", i, bad[i]);
        FF_CHECK(doc == NULL);
        FF_CHECK_MSG(strstr(err.msg, "test.json") && strstr(err.msg, "byte"), "message: %s", err.msg);
        if (st == FF_OK) ff_json_free(doc);
    }
    ff_err err = {0};
    ff_json_doc *doc;
    FF_CHECK(parse("[1, 2, oops]", &doc, &err) == FF_ERR_FORMAT);
    FF_CHECK(strstr(err.msg, "byte 7") != NULL);
    FF_CHECK(ff_json_parse(NULL, 0, "empty", &doc, &err) == FF_ERR_FORMAT);
    FF_CHECK(strstr(err.msg, "empty") != NULL);
}

static void test_files_and_writer(void) {
    char path[512];
    ff_test_tmp_path("json_test.json", path, sizeof path);
    const char *weird = "quote\" back\\ nl\n tab\t cr\r ctl\x01\x1f utf8 \xc3\xa9 end";
    FILE *f = fopen(path, "wb");
    FF_REQUIRE(f);
    fputs("{\"s\": ", f);
    ff_json_write_string(f, weird);
    fputs(", \"seed\": 9223372036854788153}", f);
    fclose(f);
    ff_err err = {0};
    ff_json_doc *doc;
    FF_REQUIRE_OK(ff_json_parse_file(path, &doc, &err), &err);
    FF_CHECK(strcmp(ff_json_get_string(ff_json_root(doc), "s"), weird) == 0);
    uint64_t u;
    FF_CHECK(ff_json_uint64(ff_json_get(ff_json_root(doc), "seed"), &u) == 0 && u == 9223372036854788153ULL);
    ff_json_free(doc);

    char missing[512];
    ff_test_tmp_path("json_missing.json", missing, sizeof missing);
    FF_CHECK(ff_json_parse_file(missing, &doc, &err) == FF_ERR_NOT_FOUND && doc == NULL);
    FF_CHECK(strstr(err.msg, missing) != NULL);
    /* errors in a file name the file */
    f = fopen(path, "wb");
    FF_REQUIRE(f);
    fputs("{\"a\": [1, 2}", f);
    fclose(f);
    FF_CHECK(ff_json_parse_file(path, &doc, &err) == FF_ERR_FORMAT);
    FF_CHECK(strstr(err.msg, path) && strstr(err.msg, "byte 11"));
    /* an empty file */
    f = fopen(path, "wb");
    FF_REQUIRE(f);
    fclose(f);
    FF_CHECK(ff_json_parse_file(path, &doc, &err) == FF_ERR_FORMAT);
}

/* Big flat documents parse in linear time and keep every element. */
static void test_large_array(void) {
    size_t n = 200000;
    char *s = malloc(n * 8 + 3);
    FF_REQUIRE(s);
    size_t k = 0;
    s[k++] = '[';
    for (size_t i = 0; i < n; i++) k += (size_t)sprintf(s + k, i ? ",%zu" : "%zu", i);
    s[k++] = ']';
    s[k] = '\0';
    ff_err err = {0};
    ff_json_doc *doc;
    FF_REQUIRE_OK(ff_json_parse(s, k, "big", &doc, &err), &err);
    const ff_json *r = ff_json_root(doc);
    FF_CHECK(ff_json_count(r) == n);
    size_t i = 0, bad = 0;
    for (const ff_json *c = r->child; c; c = c->next, i++) {
        uint64_t u;
        bad += ff_json_uint64(c, &u) != 0 || u != i;
    }
    FF_CHECK(i == n && bad == 0);
    ff_json_free(doc);
    free(s);
}

int main(void) {
    FF_RUN(test_values_and_lookups);
    FF_RUN(test_string_escapes);
    FF_RUN(test_big_integers);
    FF_RUN(test_nan_infinity);
    FF_RUN(test_depth_limit);
    FF_RUN(test_errors);
    FF_RUN(test_files_and_writer);
    FF_RUN(test_large_array);
    return ff_test_summary();
}
