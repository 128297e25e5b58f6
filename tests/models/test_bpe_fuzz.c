/* Robustness of the byte-level BPE tokenizers against hostile input (runs
 * under ASan in CI, label fuzz): random bytes (valid and invalid UTF-8,
 * long words, many added tokens) through a tokenizer.json tokenizer built
 * here and the golden slow CLIPTokenizer, and truncated / corrupted
 * tokenizer.json, vocab.json and merges.txt files. Every call must return
 * FF_OK with ids inside the vocabulary, or a clear error — never crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/bpe.h"
#include "tests/common/ff_test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static const char *pieces[] = {"a", "b", " ", "\n", "\r\n", "'s", "'LL", "1", "23", "\xc3\xa9", "e\xcc\x81", "\xe6\x9d\xb1",
                               "\xf0\x9f\x98\x80", "\xe3\x80\x80", "\xce\xa3", "\x01", "\x7f", "\xff", "\xc3", "\xed\xa0\x80",
                               "<|eot_id|>", "<|begin_of_text|>", "<|endoftext|>", "<|startoftext|>", "!?", "  ", "\t"};

static void random_text(char *buf, size_t cap) {
    size_t n = 0, k = next_u32() % 40;
    for (size_t i = 0; i < k; i++) {
        const char *p = pieces[next_u32() % (sizeof pieces / sizeof pieces[0])];
        size_t l = strlen(p);
        if (n + l + 1 >= cap) break;
        memcpy(buf + n, p, l);
        n += l;
    }
    buf[n] = 0;
}

static void hammer(const ff_bpe *t, int rounds, int long_word) {
    char text[1024];
    for (int r = 0; r < rounds; r++) {
        random_text(text, sizeof text);
        ff_err err = {0};
        int64_t *ids;
        size_t n;
        ff_status st = ff_bpe_encode_special(t, text, &ids, &n, &err);
        FF_CHECK_MSG(st == FF_OK || st == FF_ERR_ARG, "status %d: %s", (int)st, err.msg);
        if (st) continue;
        for (size_t i = 0; i < n; i++) {
            size_t len;
            FF_CHECK(ff_bpe_id_to_token(t, ids[i], &len) != NULL);
        }
        free(ids);
        ff_tensor a, b;
        const char *one[1] = {text};
        st = ff_bpe_batch(t, one, 1, 1 + (int)(next_u32() % 12), &a, &b, &err);
        FF_CHECK(st == FF_OK || st == FF_ERR_ARG);
        if (!st) ff_tensor_free(&a), ff_tensor_free(&b);
    }
    if (!long_word) return;
    /* one long word: O(n log n) merges */
    size_t big = 200000;
    char *w = malloc(big + 1);
    FF_REQUIRE(w != NULL);
    for (size_t i = 0; i < big; i++) w[i] = "hel"[i % 3];
    w[big] = 0;
    int64_t *ids;
    size_t n;
    ff_err err = {0};
    FF_CHECK_OK(ff_bpe_encode(t, w, &ids, &n, &err), &err);
    if (n) free(ids);
    free(w);
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    *n = b ? fread(b, 1, (size_t)sz, f) : 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b, 1, n, f);
    fclose(f);
}

/* Loads every mutation of file `name` in dir (others intact); must not crash. */
static void mutate_file(const char *dir, const char *name, ff_status (*load)(const char *, ff_bpe **, ff_err *), int rounds) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n;
    char *orig = slurp(path, &n);
    FF_REQUIRE(orig != NULL);
    char *m = malloc(n + 1);
    for (int r = 0; r < rounds; r++) {
        memcpy(m, orig, n);
        size_t len = n;
        switch (next_u32() % 3) {
        case 0: len = next_u32() % (n + 1); break; /* truncated */
        case 1:
            for (int k = 0; k < 4; k++) m[next_u32() % n] = (char)next_u32();
            break;
        default:
            for (int k = 0; k < 8; k++) m[next_u32() % n] = "{}[]\",:0 \\"[next_u32() % 10];
        }
        spit(path, m, len);
        ff_err err = {0};
        ff_bpe *t = NULL;
        ff_status st = load(dir, &t, &err);
        FF_CHECK_MSG(st == FF_OK || st == FF_ERR_FORMAT || st == FF_ERR_UNSUPPORTED || st == FF_ERR_NOT_FOUND || st == FF_ERR_ARG,
                     "status %d: %s", (int)st, err.msg);
        if (!st) {
            hammer(t, 5, 0);
            ff_bpe_free(t);
        }
    }
    spit(path, orig, n);
    free(m);
    free(orig);
}

static void write_json(const char *dir) {
    char path[4200];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs("{\"added_tokens\": [{\"id\": 20, \"content\": \"<|begin_of_text|>\", \"special\": true}, {\"id\": 21, \"content\": "
          "\"<|eot_id|>\", \"special\": true}], \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, "
          "{\"type\": \"Lowercase\"}]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"use_regex\": "
          "true}, \"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"<|eot_id|>\", 21], \"cls\": "
          "[\"<|begin_of_text|>\", 20]}, \"model\": {\"type\": \"BPE\", \"unk_token\": null, \"ignore_merges\": false, \"vocab\": "
          "{\"h\": 0, \"e\": 1, \"l\": 2, \"he\": 3, \"hel\": 4, \"\\u0120\": 5, \"\\u0120h\": 6}, \"merges\": [\"h e\", \"he l\", "
          "\"\\u0120 h\"]}}",
          f);
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    f = fopen(path, "wb");
    if (f) fputs("{\"pad_token\": \"<|eot_id|>\"}", f), fclose(f);
}

static void test_json(void) {
    char dir[4096];
    ff_test_tmp_path("bpe_fuzz_json", dir, sizeof dir);
    write_json(dir);
    ff_err err = {0};
    ff_bpe *t;
    FF_REQUIRE_OK(ff_bpe_load_json(dir, &t, &err), &err);
    hammer(t, 400, 1);
    ff_bpe_free(t);
    mutate_file(dir, "tokenizer.json", ff_bpe_load_json, 300);
}

static void test_clip(void) {
    const char *g = getenv("FF_GOLDEN");
    char src[4096], dir[4096], a[4300], b[4300];
    struct stat sb;
    snprintf(src, sizeof src, "%s/pipelines/tiny-hunyuanvideo/tokenizer_2", g ? g : ".");
    if (!g || stat(src, &sb)) {
        fprintf(stderr, "  (no golden tokenizer_2: CLIP fuzz not run)\n");
        return;
    }
    ff_test_tmp_path("bpe_fuzz_clip", dir, sizeof dir);
    mkdir(dir, 0755);
    const char *files[] = {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
    for (int i = 0; i < 4; i++) {
        size_t n;
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        char *c = slurp(a, &n);
        FF_REQUIRE(c != NULL);
        spit(b, c, n);
        free(c);
    }
    ff_err err = {0};
    ff_bpe *t;
    FF_REQUIRE_OK(ff_bpe_load_clip(dir, &t, &err), &err);
    hammer(t, 400, 1);
    ff_bpe_free(t);
    mutate_file(dir, "merges.txt", ff_bpe_load_clip, 60);
    mutate_file(dir, "vocab.json", ff_bpe_load_clip, 60);
    mutate_file(dir, "tokenizer_config.json", ff_bpe_load_clip, 60);
}

int main(void) {
    FF_RUN(test_json);
    FF_RUN(test_clip);
    return ff_test_summary();
}
