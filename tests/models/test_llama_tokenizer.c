/* Unit tests of the Llama tokenizer path: sentencepiece BPE encoding
 * (bpe_model.cc semantics on a synthetic model built here: highest score
 * first, ties to the leftmost pair, user-defined symbols frozen, UNUSED
 * pieces split back, byte fallback), the slow LlamaTokenizer over the
 * golden tiny HunyuanVideo folder (empty prompt, truncation at
 * max_length, unknown characters as UTF-8 byte pieces, added tokens split
 * out with a dummy prefix per chunk), and the prompt template code
 * (str.format, crop_start = len - 2, no crop at 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/ops.h"
#include "models/llama.h"
#include "models/llama_prompt.h"
#include "models/llama_tokenizer.h"
#include "models/spm_model.h"
#include "models/tokenizer.h"
#include "tests/common/ff_test.h"

/* ---- a synthetic BPE ModelProto ----------------------------------------------- */

typedef struct {
    unsigned char b[1 << 16];
    size_t n;
} pbw;

static void put_varint(pbw *w, uint64_t v) {
    do {
        unsigned char c = v & 0x7f;
        v >>= 7;
        w->b[w->n++] = (unsigned char)(c | (v ? 0x80 : 0));
    } while (v);
}

static void put_key(pbw *w, unsigned field, unsigned wire) { put_varint(w, (uint64_t)field << 3 | wire); }

static void put_bytes(pbw *w, unsigned field, const void *p, size_t n) {
    put_key(w, field, 2);
    put_varint(w, n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void piece(pbw *w, const char *s, float score, int type) {
    pbw sub = {{0}, 0};
    put_bytes(&sub, 1, s, strlen(s));
    put_key(&sub, 2, 5);
    memcpy(sub.b + sub.n, &score, 4);
    sub.n += 4;
    put_key(&sub, 3, 0);
    put_varint(&sub, (uint64_t)type);
    put_bytes(w, 1, sub.b, sub.n);
}

enum { P_UNK = 0, P_BOS, P_EOS, P_BYTE0, P_SPACE = P_BYTE0 + 256, P_A, P_B, P_C, P_AB, P_BC, P_ABC, P_SA, P_AA, P_UD, P_CA };

static ff_spm *synthetic_bpe(void) {
    static pbw w;
    w.n = 0;
    piece(&w, "<unk>", 0, FF_SPM_UNKNOWN);
    piece(&w, "<s>", 0, FF_SPM_CONTROL);
    piece(&w, "</s>", 0, FF_SPM_CONTROL);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        piece(&w, s, 0, FF_SPM_BYTE);
    }
    piece(&w, "\xe2\x96\x81", -10, FF_SPM_NORMAL);
    piece(&w, "a", -11, FF_SPM_NORMAL);
    piece(&w, "b", -12, FF_SPM_NORMAL);
    piece(&w, "c", -13, FF_SPM_NORMAL);
    piece(&w, "ab", -1, FF_SPM_NORMAL);
    piece(&w, "bc", -0.5f, FF_SPM_NORMAL);
    piece(&w, "abc", -2, FF_SPM_NORMAL);
    piece(&w, "\xe2\x96\x81" "a", -3, FF_SPM_NORMAL);
    piece(&w, "aa", -1.5f, FF_SPM_NORMAL);
    piece(&w, "<ud>", 0, FF_SPM_USER_DEFINED);
    piece(&w, "ca", -0.1f, FF_SPM_UNUSED);
    pbw t = {{0}, 0};
    put_key(&t, 3, 0), put_varint(&t, 2);  /* model_type BPE */
    put_key(&t, 35, 0), put_varint(&t, 1); /* byte_fallback */
    put_key(&t, 40, 0), put_varint(&t, 0); /* unk_id */
    put_bytes(&w, 2, t.b, t.n);
    pbw nz = {{0}, 0};
    put_bytes(&nz, 1, "identity", 8);
    put_key(&nz, 3, 0), put_varint(&nz, 1); /* add_dummy_prefix */
    put_key(&nz, 4, 0), put_varint(&nz, 0); /* remove_extra_whitespaces */
    put_bytes(&w, 3, nz.b, nz.n);
    ff_err err = {0};
    ff_spm *m = NULL;
    if (ff_spm_parse(w.b, w.n, "synthetic bpe", &m, &err)) fprintf(stderr, "%s\n", err.msg);
    return m;
}

static int encode(const ff_spm *m, const char *s, int *ids, int cap) {
    ff_err err = {0};
    ff_spm_encoding e;
    if (ff_spm_encode(m, s, strlen(s), &e, &err)) return -1;
    int n = (int)e.n;
    for (int i = 0; i < n && i < cap; i++) ids[i] = e.tokens[i].id;
    ff_spm_encoding_free(&e);
    return n;
}

static void test_spm_bpe(void) {
    ff_spm *m = synthetic_bpe();
    FF_REQUIRE(m != NULL);
    int ids[32], n;
    /* ▁ a b c: bc (-0.5) beats ab (-1); then a+bc = abc (-2) beats ▁a (-3) */
    n = encode(m, "abc", ids, 32);
    FF_CHECK_MSG(n == 2 && ids[0] == P_SPACE && ids[1] == P_ABC, "n=%d %d %d", n, ids[0], ids[1]);
    /* equal scores: the leftmost pair first (a a a -> aa a), after ▁a (-3) lost to aa (-1.5) */
    n = encode(m, "aaa", ids, 32);
    FF_CHECK_MSG(n == 3 && ids[0] == P_SPACE && ids[1] == P_AA && ids[2] == P_A, "n=%d", n);
    /* a user-defined symbol is one frozen symbol; ▁a still merges before it */
    n = encode(m, "a<ud>b", ids, 32);
    FF_CHECK_MSG(n == 3 && ids[0] == P_SA && ids[1] == P_UD && ids[2] == P_B, "n=%d", n);
    /* an UNUSED piece merges, then is split back into what it was made of */
    n = encode(m, "ca", ids, 32);
    FF_CHECK_MSG(n == 3 && ids[0] == P_SPACE && ids[1] == P_C && ids[2] == P_A, "n=%d", n);
    /* no piece for é: its UTF-8 bytes; spaces kept (no whitespace removal): ▁▁ is two ▁ */
    n = encode(m, "\xc3\xa9 ", ids, 32);
    FF_CHECK_MSG(n == 4 && ids[0] == P_SPACE && ids[1] == P_BYTE0 + 0xc3 && ids[2] == P_BYTE0 + 0xa9 && ids[3] == P_SPACE, "n=%d", n);
    FF_CHECK(encode(m, "", ids, 32) == 0);
    ff_spm_free(m);
}

/* ---- the golden tiny Llama tokenizer ------------------------------------------------ */

static char g_tok[4096], g_te[4096];

static int have_golden(void) {
    const char *g = getenv("FF_GOLDEN");
    struct stat sb;
    if (!g) return 0;
    snprintf(g_tok, sizeof g_tok, "%s/pipelines/tiny-hunyuanvideo/tokenizer", g);
    snprintf(g_te, sizeof g_te, "%s/pipelines/tiny-hunyuanvideo/text_encoder", g);
    return stat(g_tok, &sb) == 0 && stat(g_te, &sb) == 0;
}

static void test_llama_tokenizer(void) {
    ff_err err = {0};
    ff_llama_tok *t;
    FF_REQUIRE_OK(ff_llama_tok_load(g_tok, &t, &err), &err);
    FF_REQUIRE(ff_llama_tok_spm(t) && !ff_llama_tok_bpe(t)); /* tokenizer.model, no tokenizer.json */
    const ff_tok *sp = ff_llama_tok_spm(t);
    FF_CHECK(ff_tok_bos_id(sp) == 1 && ff_tok_pad_id(sp) == 1024 && ff_tok_eos_id(sp) == 2 && ff_tok_len(sp) == 1028);
    int64_t *ids;
    size_t n;
    /* empty prompt: BOS only (no EOS: add_eos_token false) */
    FF_REQUIRE_OK(ff_llama_tok_encode_special(t, "", &ids, &n, &err), &err);
    FF_CHECK(n == 1 && ids[0] == 1);
    free(ids);
    /* an unseen character: its UTF-8 bytes as <0xNN> pieces (ids 3 + byte) after the dummy prefix */
    FF_REQUIRE_OK(ff_llama_tok_encode_special(t, "\xe6\x9d\xb1", &ids, &n, &err), &err);
    FF_CHECK_MSG(n >= 4 && ids[n - 3] == 3 + 0xe6 && ids[n - 2] == 3 + 0x9d && ids[n - 1] == 3 + 0xb1, "n=%zu", n);
    free(ids);
    /* added tokens are split out; every other chunk gets its own dummy prefix */
    int64_t *a, *b;
    size_t na, nb;
    FF_REQUIRE_OK(ff_llama_tok_encode_special(t, "<|eot_id|>video<|start_header_id|>", &a, &na, &err), &err);
    FF_REQUIRE_OK(ff_llama_tok_encode_special(t, "video", &b, &nb, &err), &err);
    FF_CHECK(na == nb + 2 && a[0] == 1 && a[1] == 1027 && a[na - 1] == 1025 && !memcmp(a + 2, b + 1, (nb - 1) * sizeof *a));
    free(a), free(b);
    /* batch: right padding, and truncation keeping BOS */
    const char *texts[2] = {"", "A golden retriever runs along the beach, chasing a bright yellow ball."};
    ff_tensor ti, tm;
    FF_REQUIRE_OK(ff_llama_tok_batch(t, texts, 2, 9, &ti, &tm, &err), &err);
    const int64_t *pi = ti.data, *pm = tm.data;
    FF_CHECK(pi[0] == 1 && pm[0] == 1);
    for (int j = 1; j < 9; j++) FF_CHECK(pi[j] == 1024 && pm[j] == 0);
    FF_CHECK(pi[9] == 1);
    for (int j = 9; j < 18; j++) FF_CHECK(pm[j] == 1 && pi[j] != 1024);
    ff_tensor_free(&ti), ff_tensor_free(&tm);
    FF_CHECK(ff_llama_tok_batch(t, texts, 2, 0, &ti, &tm, &err) == FF_ERR_ARG);
    /* crop_start of the real template with this tokenizer (HUNYUANVIDEO.md: 101) */
    int crop = 0;
    FF_CHECK_OK(ff_llama_prompt_crop_start(t, ff_llama_prompt_default_template, &crop, &err), &err);
    FF_CHECK_MSG(crop == 101, "crop_start %d", crop);
    ff_llama_tok_free(t);
}

static void test_format(void) {
    ff_err err = {0};
    char *s;
    FF_REQUIRE_OK(ff_llama_prompt_format("a {{b}} {} c", "P{}", &s, &err), &err);
    FF_CHECK(!strcmp(s, "a {b} P{} c")); /* the prompt is not re-parsed */
    free(s);
    FF_REQUIRE_OK(ff_llama_prompt_format("{0}!", "x", &s, &err), &err);
    FF_CHECK(!strcmp(s, "x!"));
    free(s);
    FF_CHECK(ff_llama_prompt_format("{name}", "x", &s, &err) == FF_ERR_ARG);
    FF_CHECK(ff_llama_prompt_format("{}{}", "x", &s, &err) == FF_ERR_ARG);
    FF_CHECK(ff_llama_prompt_format("a } b", "x", &s, &err) == FF_ERR_ARG);
    FF_REQUIRE_OK(ff_llama_prompt_format("no field", "x", &s, &err), &err);
    FF_CHECK(!strcmp(s, "no field"));
    free(s);
    /* prompt_template from JSON: diffusers' default (crop 95), or the given template / crop_start */
    const char *tmpl;
    int crop;
    FF_CHECK_OK(ff_llama_prompt_template_parse(NULL, &tmpl, &crop, &err), &err);
    FF_CHECK(tmpl == ff_llama_prompt_default_template && crop == 95);
    const char *js[] = {"{\"crop_start\": 101}", "{\"template\": \"<{}>\", \"crop_start\": null}", "{\"crop_start\": -2}", "[1]"};
    for (int i = 0; i < 4; i++) {
        ff_json_doc *d;
        FF_REQUIRE_OK(ff_json_parse(js[i], strlen(js[i]), "t", &d, &err), &err);
        ff_status st = ff_llama_prompt_template_parse(ff_json_root(d), &tmpl, &crop, &err);
        if (i == 0) FF_CHECK(!st && tmpl == ff_llama_prompt_default_template && crop == 101);
        if (i == 1) FF_CHECK(!st && !strcmp(tmpl, "<{}>") && crop == -1);
        if (i >= 2) FF_CHECK(st == FF_ERR_FORMAT);
        ff_json_free(d);
    }
}

static void test_prompt_embeds_crop(void) {
    ff_err err = {0};
    ff_backend *be;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_llama_tok *t;
    ff_llama *m;
    FF_REQUIRE_OK(ff_llama_tok_load(g_tok, &t, &err), &err);
    FF_REQUIRE_OK(ff_llama_load(be, g_te, FF_F32, &m, &err), &err);
    const char *p[1] = {"A cat."};
    ff_llama_prompt_request rq = {p, 1, NULL, -1, 2, 8, 2, NULL};
    ff_llama_prompt_result a, b, c;
    FF_REQUIRE_OK(ff_llama_prompt_embeds(t, m, &rq, &a, &err), &err);
    FF_CHECK(a.crop_start == 101 && a.prompt_embeds.shape[0] == 2 && a.prompt_embeds.shape[1] == 8 && a.input_ids.shape[1] == 109);
    rq.crop_start = 101;
    FF_REQUIRE_OK(ff_llama_prompt_embeds(t, m, &rq, &b, &err), &err);
    FF_CHECK(!memcmp(a.prompt_embeds.data, b.prompt_embeds.data, ff_tensor_nbytes(&a.prompt_embeds)));
    /* crop_start 0: nothing cropped, the template rows come first */
    rq.crop_start = 0;
    rq.max_sequence_length = 109;
    rq.num_videos_per_prompt = 1;
    FF_REQUIRE_OK(ff_llama_prompt_embeds(t, m, &rq, &c, &err), &err);
    FF_CHECK(c.prompt_embeds.shape[1] == 109 && !memcmp((const float *)c.prompt_embeds.data + 101 * 32, a.prompt_embeds.data, 8 * 32 * sizeof(float)));
    FF_CHECK(((const int64_t *)c.attention_mask.data)[0] == 1);
    ff_llama_prompt_free(&a), ff_llama_prompt_free(&b), ff_llama_prompt_free(&c);
    rq.num_hidden_layers_to_skip = 5; /* more than the 4 layers */
    FF_CHECK(ff_llama_prompt_embeds(t, m, &rq, &a, &err) == FF_ERR_ARG);
    ff_llama_tok_free(t);
    ff_llama_free(m);
    ff_backend_free(be);
}

int main(void) {
    FF_RUN(test_spm_bpe);
    FF_RUN(test_format);
    if (!have_golden()) {
        if (ff_test_summary()) return 1;
        ff_test_skip("no golden tiny-hunyuanvideo (set FF_GOLDEN): tokenizer and prompt tests not run");
    }
    FF_RUN(test_llama_tokenizer);
    FF_RUN(test_prompt_embeds_crop);
    return ff_test_summary();
}
