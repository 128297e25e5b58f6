/* Unit tests of core/ff_safetensors: round trips of every dtype (scalars,
 * zero-size and 6-D tensors, metadata), loading with conversion, views and
 * alignment, the atomic writer, one test per validation rule of ff_st_open
 * (each error must name the file and, where there is one, the tensor), and
 * every real file under $FF_GOLDEN when it is present. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ff_safetensors.h"
#include "tests/common/ff_test.h"

/* ---- helpers ----------------------------------------------------------- */

/* Writes u64 hlen | header | data; hlen is strlen(header) unless given. */
static void write_raw(const char *path, const char *header, int64_t hlen, const void *data, size_t dlen) {
    size_t len = strlen(header);
    uint64_t n = hlen >= 0 ? (uint64_t)hlen : len;
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    fwrite(b, 1, 8, f);
    fwrite(header, 1, len, f);
    if (dlen) fwrite(data, 1, dlen, f);
    fclose(f);
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Opening must fail with `code`; the message must contain the path and every
 * given needle (NULL-terminated list). */
static void expect_fail_(int line, const char *path, ff_status code, const char *const *needles) {
    ff_st_file *f = NULL;
    ff_err err = {0};
    ff_status st = ff_st_open(path, &f, &err);
    FF_CHECK_MSG(st == code, "line %d: status %s, want %s (%s)", line, ff_status_name(st), ff_status_name(code),
                 err.msg);
    FF_CHECK_MSG(f == NULL, "line %d: file handle set on failure", line);
    FF_CHECK_MSG(strstr(err.msg, path) != NULL, "line %d: message does not name the file: %s", line, err.msg);
    if (getenv("FF_TEST_VERBOSE")) fprintf(stderr, "  [%s] %s\n", ff_status_name(st), err.msg);
    for (; *needles; needles++)
        FF_CHECK_MSG(strstr(err.msg, *needles) != NULL, "line %d: message lacks \"%s\": %s", line, *needles, err.msg);
    ff_st_close(f);
}
#define EXPECT_FAIL(path, code, ...) expect_fail_(__LINE__, path, code, (const char *const[]){__VA_ARGS__, NULL})

/* Raw header case: write header + dlen zero bytes, expect failure. */
static void raw_case_(int line, const char *header, size_t dlen, ff_status code, const char *const *needles) {
    char path[512];
    ff_test_tmp_path("st_bad.safetensors", path, sizeof path);
    static const unsigned char zeros[256];
    write_raw(path, header, -1, zeros, dlen);
    expect_fail_(line, path, code, needles);
}
#define RAW_FAIL(header, dlen, code, ...) raw_case_(__LINE__, header, dlen, code, (const char *const[]){__VA_ARGS__, NULL})

/* ---- round trips ------------------------------------------------------- */

static void test_roundtrip_all_dtypes(void) {
    ff_err err = {0};
    ff_tensor f32, f16, bf16, i32, i64, u8, empty, empty_huge, six;
    FF_REQUIRE_OK(ff_tensor_allocv(&f32, FF_F32, &err, 2, (int64_t)2, (int64_t)3), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&f16, FF_F16, &err, 1, (int64_t)5), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&bf16, FF_BF16, &err, 1, (int64_t)7), &err);
    FF_REQUIRE_OK(ff_tensor_alloc(&i32, FF_I32, 0, NULL, &err), &err); /* scalar */
    FF_REQUIRE_OK(ff_tensor_allocv(&i64, FF_I64, &err, 2, (int64_t)3, (int64_t)2), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&u8, FF_U8, &err, 3, (int64_t)2, (int64_t)3, (int64_t)3), &err); /* an image */
    FF_REQUIRE_OK(ff_tensor_allocv(&empty, FF_F32, &err, 2, (int64_t)0, (int64_t)4), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&empty_huge, FF_I64, &err, 3, (int64_t)1 << 40, (int64_t)1 << 40, (int64_t)0), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&six, FF_F32, &err, 6, (int64_t)1, (int64_t)2, (int64_t)1, (int64_t)3,
                                   (int64_t)1, (int64_t)2),
                  &err);
    ff_test_fill_uniform(&f32, 1, -1, 1);
    ff_test_fill_uniform(&six, 2, -5, 5);
    for (int i = 0; i < 5; i++) ((uint16_t *)f16.data)[i] = ff_f32_to_f16((float)i * 0.25f - 0.5f);
    for (int i = 0; i < 7; i++) ((uint16_t *)bf16.data)[i] = ff_f32_to_bf16((float)i * 3.5f - 1.0f);
    ((int32_t *)i32.data)[0] = -123456;
    for (int i = 0; i < 6; i++) ((int64_t *)i64.data)[i] = (int64_t)9223372036854775000LL + i;
    for (int i = 0; i < 18; i++) ((uint8_t *)u8.data)[i] = (uint8_t)(i * 15);

    /* deliberately unsorted */
    ff_st_item items[] = {{"z.six", &six},  {"b.f16", &f16},   {"a.f32", &f32}, {"c.bf16", &bf16},
                          {"e.i64", &i64},  {"d.i32", &i32},   {"f.u8", &u8}, {"empty", &empty}, {"empty_huge", &empty_huge}};
    const size_t n = sizeof items / sizeof *items;
    const char *meta[] = {"format", "pt", "quote\"and\\slash", "line\nbreak \xc3\xa9 \t"};
    char path[512];
    ff_test_tmp_path("st_roundtrip.safetensors", path, sizeof path);
    FF_REQUIRE_OK(ff_st_write(path, items, n, meta, 2, &err), &err);

    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FF_CHECK(access(tmp, F_OK) != 0); /* renamed away */

    /* Header length is padded so that the data starts at a multiple of 8;
     * tensors are contiguous, so the file is exactly 8 + N + sum(nbytes). */
    FILE *fp = fopen(path, "rb");
    FF_REQUIRE(fp);
    unsigned char b8[8];
    FF_REQUIRE(fread(b8, 1, 8, fp) == 8);
    fclose(fp);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | b8[i];
    FF_CHECK(hlen % 8 == 0);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += ff_tensor_nbytes(items[i].tensor);
    FF_CHECK((long)(8 + hlen + total) == file_size(path));

    ff_st_file *f;
    FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
    FF_CHECK(strcmp(ff_st_path(f), path) == 0);
    FF_CHECK(ff_st_count(f) == n);
    FF_CHECK(ff_st_entry_at(f, n) == NULL);
    /* sorted by name, and stored in that order */
    for (size_t i = 1; i < ff_st_count(f); i++) {
        const ff_st_entry *a = ff_st_entry_at(f, i - 1), *b = ff_st_entry_at(f, i);
        FF_CHECK(strcmp(a->name, b->name) < 0);
        FF_CHECK(a->offset + a->nbytes == b->offset);
    }
    FF_CHECK(ff_st_entry_at(f, 0)->offset == 8 + hlen);
    FF_CHECK(strcmp(ff_st_metadata(f, "format"), "pt") == 0);
    FF_CHECK(strcmp(ff_st_metadata(f, "quote\"and\\slash"), "line\nbreak \xc3\xa9 \t") == 0);
    FF_CHECK(ff_st_metadata(f, "absent") == NULL);
    FF_CHECK(ff_st_find(f, "absent") == NULL);
    FF_CHECK(ff_st_find(f, "") == NULL);

    for (size_t i = 0; i < n; i++) {
        const ff_tensor *src = items[i].tensor;
        const ff_st_entry *e = ff_st_find(f, items[i].name);
        FF_REQUIRE(e);
        FF_CHECK(e->dtype == src->dtype);
        FF_CHECK(e->ndim == src->ndim);
        for (int d = 0; d < FF_MAX_DIMS; d++) FF_CHECK(e->shape[d] == src->shape[d]);
        FF_CHECK(e->nbytes == ff_tensor_nbytes(src));
        ff_tensor t;
        FF_REQUIRE_OK(ff_st_load(f, items[i].name, src->dtype, &t, &err), &err);
        FF_CHECK(t.owns && t.dtype == src->dtype && ff_tensor_same_shape(&t, src));
        FF_CHECK(memcmp(t.data, src->data, ff_tensor_nbytes(src)) == 0);
        FF_CHECK(memcmp(ff_st_entry_data(f, e), src->data, ff_tensor_nbytes(src)) == 0);
        ff_tensor_free(&t);
        ff_tensor v;
        ff_status st = ff_st_view(f, items[i].name, &v, &err);
        if ((e->offset % ff_dtype_size(e->dtype)) == 0 || e->nbytes == 0) {
            FF_CHECK_OK(st, &err);
            FF_CHECK(!v.owns && v.loc == FF_LOC_HOST && ff_tensor_same_shape(&v, src));
            if (!st) FF_CHECK(memcmp(v.data, src->data, ff_tensor_nbytes(src)) == 0);
        } else
            FF_CHECK(st == FF_ERR_FORMAT);
    }
    ff_st_close(f);
    ff_tensor *all[] = {&f32, &f16, &bf16, &i32, &i64, &u8, &empty, &empty_huge, &six};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ff_tensor_free(all[i]);
}

static void test_load_converts_half_types(void) {
    ff_err err = {0};
    const float vals[] = {1.0f, -2.0f, 0.5f, 65504.0f, INFINITY, -INFINITY, 5.9604644775390625e-08f, 0.0f, -0.0f};
    const int n = (int)(sizeof vals / sizeof *vals);
    ff_tensor h, b;
    FF_REQUIRE_OK(ff_tensor_allocv(&h, FF_F16, &err, 1, (int64_t)n + 1), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&b, FF_BF16, &err, 2, (int64_t)1, (int64_t)n + 1), &err);
    for (int i = 0; i < n; i++) {
        ((uint16_t *)h.data)[i] = ff_f32_to_f16(vals[i]);
        ((uint16_t *)b.data)[i] = ff_f32_to_bf16(vals[i]);
    }
    ((uint16_t *)h.data)[n] = 0x7e00; /* NaN */
    ((uint16_t *)b.data)[n] = 0x7fc0;
    ff_tensor one; /* an odd-sized F16 first, so that the next tensor is only 2-byte aligned */
    FF_REQUIRE_OK(ff_tensor_allocv(&one, FF_F16, &err, 1, (int64_t)1), &err);
    ff_tensor i32;
    FF_REQUIRE_OK(ff_tensor_allocv(&i32, FF_I32, &err, 1, (int64_t)2), &err);
    ff_st_item items[] = {{"a", &one}, {"half", &h}, {"bhalf", &b}, {"int", &i32}};
    char path[512];
    ff_test_tmp_path("st_convert.safetensors", path, sizeof path);
    FF_REQUIRE_OK(ff_st_write(path, items, 4, NULL, 0, &err), &err);
    ff_st_file *f;
    FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
    const char *names[] = {"half", "bhalf"};
    for (int k = 0; k < 2; k++) {
        ff_tensor t;
        FF_REQUIRE_OK(ff_st_load(f, names[k], FF_F32, &t, &err), &err);
        FF_CHECK(t.dtype == FF_F32 && t.ndim == (k ? 2 : 1) && ff_tensor_numel(&t) == n + 1);
        const float *d = t.data;
        for (int i = 0; i < n; i++) {
            float want = vals[i];
            if (k == 1 && i == 3) want = 65536.0f;                  /* bf16 rounds 65504 up */
            FF_CHECK_MSG(memcmp(&d[i], &want, 4) == 0, "%s[%d] = %g, want %g", names[k], i, d[i], want);
        }
        FF_CHECK(isnan(d[n]));
        ff_tensor_free(&t);
    }
    /* Unsupported conversions and absent names: errors name file and tensor. */
    ff_tensor t;
    FF_CHECK(ff_st_load(f, "int", FF_F32, &t, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(strstr(err.msg, path) && strstr(err.msg, "'int'") && strstr(err.msg, "I32"));
    FF_CHECK(t.data == NULL);
    FF_CHECK(ff_st_load(f, "half", FF_BF16, &t, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(ff_st_load(f, "half", FF_I64, &t, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(ff_st_load(f, "nope", FF_F32, &t, &err) == FF_ERR_NOT_FOUND);
    FF_CHECK(strstr(err.msg, path) && strstr(err.msg, "'nope'"));
    FF_CHECK(ff_st_view(f, "nope", &t, &err) == FF_ERR_NOT_FOUND);
    FF_CHECK(strstr(err.msg, path) && strstr(err.msg, "'nope'"));
    /* "int" sits after 2 + 20 + 20 bytes: 2-byte aligned only. */
    const ff_st_entry *e = ff_st_find(f, "int");
    FF_REQUIRE(e);
    FF_CHECK(e->offset % 4 == 2);
    FF_CHECK(ff_st_view(f, "int", &t, &err) == FF_ERR_FORMAT);
    FF_CHECK(strstr(err.msg, path) && strstr(err.msg, "'int'") && strstr(err.msg, "aligned"));
    FF_CHECK_OK(ff_st_load(f, "int", FF_I32, &t, &err), &err); /* load copies whatever the alignment */
    ff_tensor_free(&t);
    ff_st_close(f);
    ff_tensor_free(&h);
    ff_tensor_free(&b);
    ff_tensor_free(&one);
    ff_tensor_free(&i32);
}

/* Files written by other tools may place an I64 after an odd count of F32. */
static void test_misaligned_i64_load(void) {
    char path[512];
    ff_test_tmp_path("st_misaligned.safetensors", path, sizeof path);
    char hdr[256];
    snprintf(hdr, sizeof hdr, "%s", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                    "\"b\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[4,20]}}");
    while (strlen(hdr) % 8) strcat(hdr, " "); /* data starts 8-aligned, so "b" is 4 bytes off */
    unsigned char data[20];
    float one = 1.0f;
    int64_t v[2] = {-7, INT64_MAX};
    memcpy(data, &one, 4);
    memcpy(data + 4, v, 16);
    write_raw(path, hdr, -1, data, sizeof data);
    ff_err err = {0};
    ff_st_file *f;
    FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
    ff_tensor t;
    FF_CHECK(ff_st_view(f, "b", &t, &err) == FF_ERR_FORMAT);
    FF_REQUIRE_OK(ff_st_load(f, "b", FF_I64, &t, &err), &err);
    FF_CHECK(((int64_t *)t.data)[0] == -7 && ((int64_t *)t.data)[1] == INT64_MAX);
    ff_tensor_free(&t);
    FF_CHECK_OK(ff_st_view(f, "a", &t, &err), &err);
    FF_CHECK(((float *)t.data)[0] == 1.0f);
    ff_st_close(f);
}

static void test_empty_files(void) {
    ff_err err = {0};
    char path[512];
    ff_test_tmp_path("st_empty.safetensors", path, sizeof path);
    FF_REQUIRE_OK(ff_st_write(path, NULL, 0, NULL, 0, &err), &err);
    ff_st_file *f;
    FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
    FF_CHECK(ff_st_count(f) == 0 && ff_st_entry_at(f, 0) == NULL && ff_st_find(f, "x") == NULL);
    FF_CHECK(ff_st_metadata(f, "format") == NULL);
    ff_st_close(f);
    FF_CHECK(file_size(path) == 16); /* "{}" padded to 8 */

    /* A header with only zero-size tensors: a 0-length data section. */
    write_raw(path, "{\"e\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[0,0]},\"__metadata__\":{}}", -1, NULL,
              0);
    FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
    FF_CHECK(ff_st_count(f) == 1);
    ff_tensor t;
    FF_CHECK_OK(ff_st_view(f, "e", &t, &err), &err);
    FF_CHECK(ff_tensor_numel(&t) == 0);
    FF_CHECK_OK(ff_st_load(f, "e", FF_F32, &t, &err), &err);
    FF_CHECK(ff_tensor_numel(&t) == 0);
    ff_tensor_free(&t);
    ff_st_close(f);

    /* metadata only, null metadata, whitespace around */
    write_raw(path, "  {\"__metadata__\":null}  ", -1, NULL, 0);
    FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
    FF_CHECK(ff_st_count(f) == 0 && ff_st_metadata(f, "x") == NULL);
    ff_st_close(f);
}

/* Gaps and trailing bytes are tolerated; unknown entry fields ignored. */
static void test_lenient_layouts(void) {
    char path[512];
    ff_test_tmp_path("st_gap.safetensors", path, sizeof path);
    unsigned char data[32] = {0};
    write_raw(path,
              "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24],\"extra\":1},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
              -1, data, sizeof data);
    ff_err err = {0};
    ff_st_file *f;
    FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
    FF_CHECK(ff_st_count(f) == 2 && strcmp(ff_st_entry_at(f, 0)->name, "a") == 0);
    ff_st_close(f);
}

/* ---- validation: every rule gives an error naming file and tensor --------- */

#define T(dt, shape, offs) "{\"dtype\":" dt ",\"shape\":" shape ",\"data_offsets\":" offs "}"

static void test_file_level_errors(void) {
    char path[512];
    ff_test_tmp_path("st_short.safetensors", path, sizeof path);
    for (int len = 0; len < 8; len++) {
        FILE *f = fopen(path, "wb");
        FF_REQUIRE(f);
        for (int i = 0; i < len; i++) fputc(0, f);
        fclose(f);
        EXPECT_FAIL(path, FF_ERR_FORMAT, "too short");
    }
    /* header length beyond the limit, beyond the file, zero */
    write_raw(path, "{}      ", (int64_t)(FF_ST_MAX_HEADER + 1), NULL, 0);
    EXPECT_FAIL(path, FF_ERR_FORMAT, "exceeds");
    write_raw(path, "{}      ", 9, NULL, 0);
    EXPECT_FAIL(path, FF_ERR_FORMAT, "past the end");
    write_raw(path, "{}      ", INT64_MAX, NULL, 0);
    EXPECT_FAIL(path, FF_ERR_FORMAT, "exceeds");
    write_raw(path, "", 0, NULL, 0);
    EXPECT_FAIL(path, FF_ERR_FORMAT, "bad JSON");
    /* header length shorter than the JSON: truncated JSON */
    write_raw(path, "{\"__metadata__\":{}}", 5, NULL, 0);
    EXPECT_FAIL(path, FF_ERR_FORMAT, "bad JSON");

    char missing[512];
    ff_test_tmp_path("st_does_not_exist.safetensors", missing, sizeof missing);
    EXPECT_FAIL(missing, FF_ERR_NOT_FOUND, "cannot open");
    char dir[512];
    ff_test_tmp_path("", dir, sizeof dir);
    EXPECT_FAIL(dir, FF_ERR_IO, "not a regular file");
}

static void test_header_errors(void) {
    RAW_FAIL("{\"t\": ", 0, FF_ERR_FORMAT, "bad JSON");
    RAW_FAIL("[1,2]", 0, FF_ERR_FORMAT, "not a JSON object");
    RAW_FAIL("\"str\"", 0, FF_ERR_FORMAT, "not a JSON object");
    RAW_FAIL("{\"t\":5}", 0, FF_ERR_FORMAT, "'t'", "not a JSON object");
    RAW_FAIL("{\"t\":[]}", 0, FF_ERR_FORMAT, "'t'");
    /* dtypes */
    RAW_FAIL("{\"t\":" T("\"F33\"", "[1]", "[0,4]") "}", 4, FF_ERR_FORMAT, "'t'", "unknown dtype");
    RAW_FAIL("{\"t\":" T("\"f32\"", "[1]", "[0,4]") "}", 4, FF_ERR_FORMAT, "'t'", "unknown dtype");
    RAW_FAIL("{\"t\":" T("32", "[1]", "[0,4]") "}", 4, FF_ERR_FORMAT, "'t'", "dtype");
    const char *unsupported[] = {"F64", "I8", "BOOL", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2"};
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++) {
        char h[256];
        snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"%s\",\"shape\":[1],\"data_offsets\":[0,1]}}", unsupported[i]);
        RAW_FAIL(h, 8, FF_ERR_UNSUPPORTED, "'w'", "unsupported dtype", unsupported[i]);
    }
    /* missing and repeated fields */
    RAW_FAIL("{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, FF_ERR_FORMAT, "'t'", "missing \"dtype\"");
    RAW_FAIL("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, FF_ERR_FORMAT, "'t'", "missing \"shape\"");
    RAW_FAIL("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, FF_ERR_FORMAT, "'t'", "missing \"data_offsets\"");
    RAW_FAIL("{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, FF_ERR_FORMAT,
             "'t'", "2 times");
    /* shapes */
    RAW_FAIL("{\"t\":" T("\"F32\"", "7", "[0,4]") "}", 4, FF_ERR_FORMAT, "'t'", "not an array");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[-1]", "[0,4]") "}", 4, FF_ERR_FORMAT, "'t'", "shape[0]");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1,1.5]", "[0,4]") "}", 4, FF_ERR_FORMAT, "'t'", "shape[1]");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1e2]", "[0,400]") "}", 8, FF_ERR_FORMAT, "'t'", "shape[0]");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[\"3\"]", "[0,12]") "}", 16, FF_ERR_FORMAT, "'t'", "shape[0]");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[null]", "[0,4]") "}", 4, FF_ERR_FORMAT, "'t'", "shape[0]");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[18446744073709551616]", "[0,4]") "}", 4, FF_ERR_FORMAT, "'t'", "shape[0]");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[9223372036854775808]", "[0,4]") "}", 4, FF_ERR_FORMAT, "'t'", "shape[0]");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1,1,1,1,1,1,1]", "[0,4]") "}", 4, FF_ERR_UNSUPPORTED, "'t'", "7 dims");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[4611686018427387904,4611686018427387904]", "[0,0]") "}", 0, FF_ERR_SHAPE,
             "'t'", "overflow");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[4611686018427387904]", "[0,0]") "}", 0, FF_ERR_SHAPE, "'t'", "overflow");
    RAW_FAIL("{\"t\":" T("\"I64\"", "[2305843009213693952]", "[0,0]") "}", 0, FF_ERR_SHAPE, "'t'", "overflow");
    /* data_offsets */
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "4") "}", 4, FF_ERR_FORMAT, "'t'", "data_offsets");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "[0]") "}", 4, FF_ERR_FORMAT, "'t'", "data_offsets");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "[0,4,8]") "}", 8, FF_ERR_FORMAT, "'t'", "data_offsets");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "[-4,0]") "}", 4, FF_ERR_FORMAT, "'t'", "data_offsets");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "[0,4.0]") "}", 4, FF_ERR_FORMAT, "'t'", "data_offsets");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "[8,4]") "}", 8, FF_ERR_FORMAT, "'t'", "begin after end");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[2]", "[0,4]") "}", 8, FF_ERR_FORMAT, "'t'", "needs 8");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "[0,8]") "}", 8, FF_ERR_FORMAT, "'t'", "needs 4");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "[4,8]") "}", 4, FF_ERR_FORMAT, "'t'", "past the end");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "[18446744073709551612,18446744073709551616]") "}", 4, FF_ERR_FORMAT,
             "'t'", "data_offsets");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "[18446744073709551611,18446744073709551615]") "}", 4, FF_ERR_FORMAT,
             "'t'", "past the end");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[0]", "[5,5]") "}", 4, FF_ERR_FORMAT, "'t'", "past the end");
    /* overlapping spans, duplicates */
    RAW_FAIL("{\"a\":" T("\"F32\"", "[2]", "[0,8]") ",\"b\":" T("\"F32\"", "[2]", "[4,12]") "}", 16, FF_ERR_FORMAT,
             "'b'", "overlaps tensor 'a'");
    RAW_FAIL("{\"a\":" T("\"F32\"", "[2]", "[0,8]") ",\"b\":" T("\"I64\"", "[1]", "[0,8]") "}", 16, FF_ERR_FORMAT,
             "overlaps");
    RAW_FAIL("{\"a\":" T("\"F32\"", "[4]", "[0,16]") ",\"b\":" T("\"F32\"", "[1]", "[8,12]") "}", 16, FF_ERR_FORMAT,
             "overlaps");
    RAW_FAIL("{\"t\":" T("\"F32\"", "[1]", "[0,4]") ",\"t\":" T("\"F32\"", "[1]", "[4,8]") "}", 8, FF_ERR_FORMAT,
             "'t'", "twice");
    /* metadata */
    RAW_FAIL("{\"__metadata__\":[]}", 0, FF_ERR_FORMAT, "__metadata__");
    RAW_FAIL("{\"__metadata__\":\"x\"}", 0, FF_ERR_FORMAT, "__metadata__");
    RAW_FAIL("{\"__metadata__\":{\"k\":1}}", 0, FF_ERR_FORMAT, "__metadata__", "'k'");
    RAW_FAIL("{\"__metadata__\":{\"k\":{}}}", 0, FF_ERR_FORMAT, "__metadata__", "'k'");
    RAW_FAIL("{\"__metadata__\":{},\"__metadata__\":{}}", 0, FF_ERR_FORMAT, "__metadata__", "twice");
}

/* Zero-size spans may sit anywhere inside the data section, even inside
 * another tensor's span, and share offsets. */
static void test_zero_size_spans(void) {
    char path[512];
    ff_test_tmp_path("st_zero.safetensors", path, sizeof path);
    unsigned char data[8] = {0};
    write_raw(path,
              "{\"a\":" T("\"F32\"", "[2]", "[0,8]") ",\"z1\":" T("\"F32\"", "[0]", "[4,4]") ",\"z2\":" T(
                  "\"I64\"", "[3,0]", "[8,8]") ",\"z3\":" T("\"F16\"", "[0,4611686018427387904]", "[0,0]") "}",
              -1, data, sizeof data);
    ff_err err = {0};
    ff_st_file *f;
    FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
    FF_CHECK(ff_st_count(f) == 4);
    const ff_st_entry *e = ff_st_find(f, "z3");
    FF_REQUIRE(e);
    FF_CHECK(e->nbytes == 0 && e->shape[1] == (int64_t)1 << 62);
    ff_tensor t;
    FF_CHECK_OK(ff_st_load(f, "z3", FF_F32, &t, &err), &err);
    FF_CHECK(ff_tensor_numel(&t) == 0);
    ff_tensor_free(&t);
    ff_st_close(f);
}

/* ---- writer errors and atomicity ----------------------------------------- */

static void test_writer_errors(void) {
    ff_err err = {0};
    ff_tensor a;
    FF_REQUIRE_OK(ff_tensor_allocv(&a, FF_F32, &err, 1, (int64_t)2), &err);
    char path[512];
    ff_test_tmp_path("st_writer.safetensors", path, sizeof path);
    unlink(path);
    ff_st_item dup[] = {{"x", &a}, {"y", &a}, {"x", &a}};
    FF_CHECK(ff_st_write(path, dup, 3, NULL, 0, &err) == FF_ERR_ARG);
    FF_CHECK(strstr(err.msg, "'x'") && strstr(err.msg, "twice"));
    ff_st_item meta_name[] = {{"__metadata__", &a}};
    FF_CHECK(ff_st_write(path, meta_name, 1, NULL, 0, &err) == FF_ERR_ARG);
    ff_st_item null_t[] = {{"x", NULL}};
    FF_CHECK(ff_st_write(path, null_t, 1, NULL, 0, &err) == FF_ERR_ARG);
    ff_tensor dev = a;
    dev.loc = FF_LOC_DEVICE;
    ff_st_item on_dev[] = {{"x", &dev}};
    FF_CHECK(ff_st_write(path, on_dev, 1, NULL, 0, &err) == FF_ERR_ARG);
    FF_CHECK(strstr(err.msg, "host") != NULL);
    const char *meta[] = {"k", "1", "k", "2"};
    ff_st_item ok[] = {{"x", &a}};
    FF_CHECK(ff_st_write(path, ok, 1, meta, 2, &err) == FF_ERR_ARG);
    FF_CHECK(strstr(err.msg, "'k'") != NULL);
    FF_CHECK(access(path, F_OK) != 0); /* nothing was written */

    char bad[512];
    ff_test_tmp_path("no_such_dir/x.safetensors", bad, sizeof bad);
    FF_CHECK(ff_st_write(bad, ok, 1, NULL, 0, &err) == FF_ERR_IO);
    FF_CHECK(strstr(err.msg, "no_such_dir/x.safetensors") != NULL);

    /* Overwrite: the new content replaces the old one in one step. */
    FF_REQUIRE_OK(ff_st_write(path, ok, 1, NULL, 0, &err), &err);
    ff_tensor b;
    FF_REQUIRE_OK(ff_tensor_allocv(&b, FF_I64, &err, 1, (int64_t)3), &err);
    ff_st_item two[] = {{"x", &a}, {"y", &b}};
    FF_REQUIRE_OK(ff_st_write(path, two, 2, NULL, 0, &err), &err);
    ff_st_file *f;
    FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
    FF_CHECK(ff_st_count(f) == 2);
    ff_st_close(f);
    ff_tensor_free(&a);
    ff_tensor_free(&b);
}

/* ---- every real file of the golden data set ---------------------------- */

typedef struct {
    int files, tensors, failures;
} golden_stats;

static void check_golden_file(const char *path, golden_stats *gs) {
    ff_err err = {0};
    ff_st_file *f;
    struct stat sb;
    gs->files++;
    if (stat(path, &sb) != 0 || ff_st_open(path, &f, &err)) {
        gs->failures++;
        fprintf(stderr, "golden: %s\n", err.msg);
        return;
    }
    for (size_t i = 0; i < ff_st_count(f); i++) {
        const ff_st_entry *e = ff_st_entry_at(f, i);
        gs->tensors++;
        FF_CHECK_MSG(e->offset + e->nbytes <= (uint64_t)sb.st_size, "%s: %s outside the file", path, e->name);
        ff_tensor t;
        FF_CHECK_OK(ff_st_load(f, e->name, e->dtype, &t, &err), &err);
        ff_tensor_free(&t);
    }
    ff_st_close(f);
}

/* Opens every *.safetensors below dir (recursively, not following links). */
static void walk_golden(const char *dir, golden_stats *gs, int depth) {
    DIR *d = opendir(dir);
    if (!d || depth > 8) {
        if (d) closedir(d);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(path, &sb) != 0) continue;
        size_t len = strlen(path);
        if (S_ISDIR(sb.st_mode)) walk_golden(path, gs, depth + 1);
        else if (S_ISREG(sb.st_mode) && len > 12 && strcmp(path + len - 12, ".safetensors") == 0)
            check_golden_file(path, gs);
    }
    closedir(d);
}

static void test_golden_files(void) {
    const char *root = getenv("FF_GOLDEN");
    struct stat sb;
    if (!root || stat(root, &sb) != 0) {
        fprintf(stderr, "  (FF_GOLDEN absent: golden files not checked)\n");
        return;
    }
    golden_stats stats = {0};
    walk_golden(root, &stats, 0);
    FF_CHECK(stats.files > 0);
    FF_CHECK_MSG(stats.failures == 0, "%d of %d golden files failed to open", stats.failures, stats.files);
    fprintf(stderr, "  golden: %d files, %d tensors\n", stats.files, stats.tensors);

    char path[1024];
    ff_err err = {0};
    ff_st_file *f;
    snprintf(path, sizeof path, "%s/pipelines/tiny-wan21/vae/diffusion_pytorch_model.safetensors", root);
    if (stat(path, &sb) == 0) {
        FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
        FF_CHECK(ff_st_count(f) > 100);
        FF_CHECK(ff_st_metadata(f, "format") && strcmp(ff_st_metadata(f, "format"), "pt") == 0);
        const ff_st_entry *e = ff_st_find(f, "decoder.conv_in.bias");
        FF_CHECK(e && e->dtype == FF_F32 && e->ndim == 1 && e->shape[0] == 32);
        ff_tensor t;
        FF_CHECK_OK(ff_st_view(f, "decoder.conv_in.bias", &t, &err), &err);
        ff_st_close(f);
    }
    snprintf(path, sizeof path, "%s/cases/rng_randn_s0_1/expected.safetensors", root);
    if (stat(path, &sb) == 0) {
        FF_REQUIRE_OK(ff_st_open(path, &f, &err), &err);
        FF_CHECK(ff_st_metadata(f, "case") && strcmp(ff_st_metadata(f, "case"), "rng_randn_s0_1") == 0);
        ff_st_close(f);
    }
}

int main(void) {
    FF_RUN(test_roundtrip_all_dtypes);
    FF_RUN(test_load_converts_half_types);
    FF_RUN(test_misaligned_i64_load);
    FF_RUN(test_empty_files);
    FF_RUN(test_lenient_layouts);
    FF_RUN(test_file_level_errors);
    FF_RUN(test_header_errors);
    FF_RUN(test_zero_size_spans);
    FF_RUN(test_writer_errors);
    FF_RUN(test_golden_files);
    return ff_test_summary();
}
