/* Tests of models/spm_model's protobuf reader and encoder on hand-built
 * ModelProto bytes (identity normaliser, unknown merging, byte fallback,
 * user-defined symbols, every rejected malformation), and a deterministic
 * fuzz pass over the golden spiece.model: every truncation stride and random
 * byte corruptions must parse or fail with an error, never crash (this file
 * runs under ASan in CI: its name contains "fuzz"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/spm_model.h"
#include "tests/common/ff_test.h"

/* ---- a tiny protobuf writer ----------------------------------------------------- */

typedef struct {
    uint8_t b[4096];
    size_t n;
} pbw;

static void put_varint(pbw *w, uint64_t v) {
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        w->b[w->n++] = c | (v ? 0x80 : 0);
    } while (v);
}

static void put_key(pbw *w, unsigned field, unsigned wire) { put_varint(w, (uint64_t)field << 3 | wire); }

static void put_bytes(pbw *w, unsigned field, const void *p, size_t n) {
    put_key(w, field, 2);
    put_varint(w, n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void put_piece(pbw *w, const char *piece, float score, int type) {
    pbw sub = {{0}, 0};
    put_bytes(&sub, 1, piece, strlen(piece));
    put_key(&sub, 2, 5);
    uint32_t u;
    memcpy(&u, &score, 4);
    for (int i = 0; i < 4; i++) sub.b[sub.n++] = (uint8_t)(u >> (8 * i));
    put_key(&sub, 3, 0);
    put_varint(&sub, (uint64_t)type);
    put_bytes(w, 1, sub.b, sub.n);
}

/* ids: 0 <unk>, 1 <s>, 2 </s>, 3 "▁", 4 "a", 5 "b", 6 "▁ab", 7 "ab", [8 "<ud>" user-defined], [8.. bytes] */
static void build_model(pbw *w, int user_defined, int byte_fallback, int model_type) {
    w->n = 0;
    put_piece(w, "<unk>", 0, FF_SPM_UNKNOWN);
    put_piece(w, "<s>", 0, FF_SPM_CONTROL);
    put_piece(w, "</s>", 0, FF_SPM_CONTROL);
    put_piece(w, "\xe2\x96\x81", -1.0f, FF_SPM_NORMAL);
    put_piece(w, "a", -2.0f, FF_SPM_NORMAL);
    put_piece(w, "b", -2.0f, FF_SPM_NORMAL);
    put_piece(w, "\xe2\x96\x81" "ab", -1.5f, FF_SPM_NORMAL);
    put_piece(w, "ab", -1.0f, FF_SPM_NORMAL);
    if (user_defined) put_piece(w, "<ud>", 0, FF_SPM_USER_DEFINED);
    if (byte_fallback) put_piece(w, "<0x63>", 0, FF_SPM_BYTE);
    pbw t = {{0}, 0};
    put_key(&t, 3, 0);
    put_varint(&t, (uint64_t)model_type);
    put_key(&t, 35, 0);
    put_varint(&t, (uint64_t)byte_fallback);
    put_key(&t, 40, 0);
    put_varint(&t, 0);
    put_key(&t, 43, 0);
    put_varint(&t, UINT64_MAX); /* pad_id = -1, sign-extended as protobuf writes it */
    put_bytes(w, 2, t.b, t.n);
    pbw nz = {{0}, 0};
    put_bytes(&nz, 1, "identity", 8);
    put_bytes(w, 3, nz.b, nz.n);
}

static int encode_ids(const ff_spm *m, const char *text, int *ids, int cap) {
    ff_err err = {0};
    ff_spm_encoding e;
    if (ff_spm_encode(m, text, strlen(text), &e, &err)) return -1;
    int n = (int)e.n < cap ? (int)e.n : cap;
    for (int i = 0; i < n; i++) ids[i] = e.tokens[i].id;
    ff_spm_encoding_free(&e);
    return n;
}

static void test_synthetic_model(void) {
    pbw w;
    build_model(&w, 0, 0, 1);
    ff_err err = {0};
    ff_spm *m;
    FF_REQUIRE_OK(ff_spm_parse(w.b, w.n, "synthetic", &m, &err), &err);
    ff_spm_info info;
    ff_spm_get_info(m, &info);
    FF_CHECK(ff_spm_size(m) == 8 && ff_spm_unk_id(m) == 0);
    FF_CHECK(info.pad_id == -1 && info.add_dummy_prefix && info.remove_extra_whitespaces && info.escape_whitespaces);
    FF_CHECK(!strcmp(info.name, "identity") && info.charsmap_bytes == 0);
    FF_CHECK(ff_spm_piece_to_id(m, "</s>", 4) == 2 && ff_spm_piece_to_id(m, "zz", 2) == 0);
    int ids[16];
    /* "▁ab" (-1.5) beats "▁" + "ab" (-2); extra spaces collapse */
    FF_CHECK(encode_ids(m, "  ab   ab ", ids, 16) == 2 && ids[0] == 6 && ids[1] == 6);
    /* unknown characters: one <unk> per run */
    int n = encode_ids(m, "abccc", ids, 16);
    FF_CHECK(n == 2 && ids[0] == 6 && ids[1] == 0);
    n = encode_ids(m, "c\xc3\xa9" "ab", ids, 16); /* "▁" "cé" "ab" */
    FF_CHECK(n == 3 && ids[0] == 3 && ids[1] == 0 && ids[2] == 7);
    /* normalised text of an empty or blank input is empty */
    FF_CHECK(encode_ids(m, "   ", ids, 16) == 0);
    char *norm;
    size_t nn;
    FF_CHECK_OK(ff_spm_normalize(m, " a  b ", 6, &norm, &nn, &err), &err);
    FF_CHECK(norm && nn == 8 && !memcmp(norm, "\xe2\x96\x81" "a" "\xe2\x96\x81" "b", 8));
    free(norm);
    /* a malformed byte becomes U+FFFD (unknown) */
    n = encode_ids(m, "a\xff", ids, 16);
    FF_CHECK(n == 3 && ids[2] == 0);
    ff_spm_free(m);
}

static void test_byte_fallback_and_user_defined(void) {
    pbw w;
    build_model(&w, 1, 1, 1);
    ff_err err = {0};
    ff_spm *m;
    FF_REQUIRE_OK(ff_spm_parse(w.b, w.n, "synthetic", &m, &err), &err);
    int ids[16];
    /* "c" is unknown: byte piece <0x63>; the missing <0x64> becomes unk */
    int n = encode_ids(m, "abcd", ids, 16);
    FF_CHECK_MSG(n == 3 && ids[0] == 6 && ids[1] == 9 && ids[2] == 0, "n=%d", n);
    ff_spm_encoding e;
    FF_REQUIRE_OK(ff_spm_encode(m, "c", 1, &e, &err), &err);
    char buf[8];
    size_t len;
    const char *s = ff_spm_token_str(&e, 1, buf, &len);
    FF_CHECK(e.n == 2 && len == 6 && !memcmp(s, "<0x63>", 6));
    ff_spm_encoding_free(&e);
    /* a user-defined symbol is kept whole */
    n = encode_ids(m, "a<ud>b", ids, 16);
    FF_CHECK_MSG(n == 4 && ids[1] == 4 && ids[2] == 8 && ids[3] == 5, "n=%d", n);
    ff_spm_free(m);
    /* WORD / CHAR models parse but do not encode (BPE does: test_llama_tokenizer.c) */
    build_model(&w, 0, 0, 3);
    FF_REQUIRE_OK(ff_spm_parse(w.b, w.n, "word", &m, &err), &err);
    FF_CHECK(encode_ids(m, "ab", ids, 16) == -1);
    ff_spm_free(m);
}

static void expect_format(const void *data, size_t n, const char *what) {
    ff_err err = {0};
    ff_spm *m = (ff_spm *)1;
    ff_status st = ff_spm_parse(data, n, what, &m, &err);
    FF_CHECK_MSG(st == FF_ERR_FORMAT && m == NULL, "%s: status %d (%s)", what, (int)st, err.msg);
}

static void test_rejects_malformed_models(void) {
    pbw w, x;
    build_model(&w, 0, 0, 1);
    expect_format(w.b, 0, "empty");
    /* no unk piece */
    x.n = 0;
    put_piece(&x, "a", -1, FF_SPM_NORMAL);
    expect_format(x.b, x.n, "no unk");
    /* two unk pieces, a duplicate piece, an empty piece, a bad type */
    put_piece(&x, "<unk>", 0, FF_SPM_UNKNOWN);
    pbw y = x;
    put_piece(&y, "<unk2>", 0, FF_SPM_UNKNOWN);
    expect_format(y.b, y.n, "two unk");
    y = x;
    put_piece(&y, "a", -3, FF_SPM_NORMAL);
    expect_format(y.b, y.n, "duplicate");
    y = x;
    put_piece(&y, "", -3, FF_SPM_NORMAL);
    expect_format(y.b, y.n, "empty piece");
    y = x;
    put_piece(&y, "q", -3, 9);
    expect_format(y.b, y.n, "bad type");
    y = x;
    put_piece(&y, "<0x41>", 0, FF_SPM_BYTE);
    expect_format(y.b, y.n, "byte without byte_fallback");
    /* wire-level damage */
    y = x;
    y.b[y.n++] = 0x0a; /* field 1, length-delimited ... */
    y.b[y.n++] = 0x7f; /* ... 127 bytes that are not there */
    expect_format(y.b, y.n, "length past end");
    y = x;
    for (int i = 0; i < 11; i++) y.b[y.n++] = 0xff; /* an 11-byte varint */
    expect_format(y.b, y.n, "long varint");
    y = x;
    y.b[y.n++] = 0x0b; /* field 1, wire type 3 (group) */
    expect_format(y.b, y.n, "group");
    y = x;
    y.b[y.n++] = 0x00; /* field 0 */
    expect_format(y.b, y.n, "field 0");
    /* a charsmap whose trie size exceeds the blob */
    y = x;
    uint8_t cm[8] = {0xff, 0xff, 0, 0, 1, 2, 3, 4};
    pbw nz = {{0}, 0};
    put_bytes(&nz, 2, cm, sizeof cm);
    put_bytes(&y, 3, nz.b, nz.n);
    expect_format(y.b, y.n, "charsmap size");
    /* unknown fields are skipped */
    y = x;
    put_key(&y, 99, 0);
    put_varint(&y, 5);
    put_key(&y, 100, 1);
    for (int i = 0; i < 8; i++) y.b[y.n++] = 0;
    ff_err err = {0};
    ff_spm *m;
    FF_CHECK_OK(ff_spm_parse(y.b, y.n, "unknown fields", &m, &err), &err);
    ff_spm_free(m);
}

/* ---- fuzz over the golden model ------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) { /* xorshift64*: deterministic */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static const char *const fuzz_texts[] = {"A cat and a dog.", "naïve café 東京 Zürich ｆｕｌｌ ①", "  \t x  ", "😀\xff\xc3"};

static int try_model(const uint8_t *data, size_t n) {
    ff_err err = {0};
    ff_spm *m;
    ff_status st = ff_spm_parse(data, n, "fuzz", &m, &err);
    if (st) return st == FF_ERR_FORMAT ? 0 : -1;
    for (size_t i = 0; i < sizeof fuzz_texts / sizeof fuzz_texts[0]; i++) {
        ff_spm_encoding e;
        st = ff_spm_encode(m, fuzz_texts[i], strlen(fuzz_texts[i]), &e, &err);
        if (st == FF_OK) {
            for (size_t k = 0; k < e.n; k++)
                if (e.tokens[k].id < 0 || e.tokens[k].id >= ff_spm_size(m) || e.tokens[k].off + e.tokens[k].len > e.normalized_len)
                    st = FF_ERR_INTERNAL;
            ff_spm_encoding_free(&e);
        }
        if (st != FF_OK && st != FF_ERR_FORMAT && st != FF_ERR_UNSUPPORTED) {
            ff_spm_free(m);
            return -1;
        }
    }
    ff_spm_free(m);
    return 1;
}

static void test_fuzz_golden_model(void) {
    const char *g = getenv("FF_GOLDEN");
    char path[4096];
    snprintf(path, sizeof path, "%s/pipelines/tiny-wan21/tokenizer/spiece.model", g ? g : "");
    FILE *f = g ? fopen(path, "rb") : NULL;
    if (!f) {
        fprintf(stderr, "  (golden spiece.model absent: fuzzing the synthetic model only)\n");
    }
    static uint8_t data[1 << 20];
    size_t n;
    if (f) {
        n = fread(data, 1, sizeof data, f);
        fclose(f);
    } else {
        pbw w;
        build_model(&w, 1, 1, 1);
        memcpy(data, w.b, w.n);
        n = w.n;
    }
    FF_REQUIRE(try_model(data, n) == 1);
    int ok = 0, rejected = 0;
    size_t stride = n / 700 + 1;
    for (size_t len = 0; len < n; len += len < 256 ? 1 : stride) {
        int r = try_model(data, len);
        FF_CHECK_MSG(r >= 0, "truncated to %zu bytes", len);
        ok += r == 1;
        rejected += r == 0;
    }
    static uint8_t mut[1 << 20];
    for (int it = 0; it < 400; it++) {
        memcpy(mut, data, n);
        int flips = 1 + (int)(next_rand() % 8);
        /* half the runs hit the first 4 KiB (pieces, specs), half anywhere (the charsmap) */
        size_t span = it % 2 ? n : (n < 4096 ? n : 4096);
        for (int k = 0; k < flips; k++) mut[next_rand() % span] ^= (uint8_t)(1 + next_rand() % 255);
        int r = try_model(mut, n);
        FF_CHECK_MSG(r >= 0, "mutation %d", it);
        ok += r == 1;
        rejected += r == 0;
    }
    fprintf(stderr, "  fuzz: %d parsed and encoded, %d rejected\n", ok, rejected);
    FF_CHECK(rejected > 0);
}

int main(void) {
    FF_RUN(test_synthetic_model);
    FF_RUN(test_byte_fallback_and_user_defined);
    FF_RUN(test_rejects_malformed_models);
    FF_RUN(test_fuzz_golden_model);
    return ff_test_summary();
}
