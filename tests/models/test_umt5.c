/* Unit tests of models/umt5 and models/prompt's encode_prompt on the CPU
 * backend: relative position buckets (float32 formula), config validation,
 * weight shape checks, mask semantics (all-ones mask = no mask; padded keys
 * do not leak into real rows), and encode_prompt's trimming, zero padding,
 * num_videos_per_prompt repetition and negative-prompt defaults. The model
 * tests use the golden tiny text encoder (exit 77 when absent); the golden
 * comparison itself is test_umt5_golden.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/ops.h"
#include "models/prompt.h"
#include "models/umt5.h"
#include "tests/common/ff_test.h"

static void test_relative_buckets(void) {
    /* reference: UMT5Attention._relative_position_bucket with float32 math */
    static const int rels[21] = {0, 1, -1, 7, -8, 8, -15, 16, -16, 20, -31, 32, -32, 63, -64, 100, -127, 128, -128, 500, -5000};
    static const int want32[21] = {0, 17, 1, 23, 8, 24, 9, 26, 10, 26, 11, 28, 12, 29, 14, 31, 15, 31, 15, 31, 15};
    static const int want64[21] = {0, 33, 1, 39, 8, 40, 15, 48, 16, 49, 19, 52, 20, 55, 24, 58, 27, 60, 28, 63, 31};
    static const int want8[21] = {0, 5, 1, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3};
    ff_umt5_config a = {0}, b = {0}, c = {0};
    a.num_buckets = 32, a.max_distance = 128;
    b.num_buckets = 64, b.max_distance = 256;
    c.num_buckets = 8, c.max_distance = 20;
    for (int i = 0; i < 21; i++) {
        FF_CHECK_MSG(ff_umt5_bucket(&a, rels[i]) == want32[i], "32/128 rel %d -> %lld", rels[i], (long long)ff_umt5_bucket(&a, rels[i]));
        FF_CHECK_MSG(ff_umt5_bucket(&b, rels[i]) == want64[i], "64/256 rel %d -> %lld", rels[i], (long long)ff_umt5_bucket(&b, rels[i]));
        FF_CHECK_MSG(ff_umt5_bucket(&c, rels[i]) == want8[i], "8/20 rel %d -> %lld", rels[i], (long long)ff_umt5_bucket(&c, rels[i]));
    }
}

static char golden_te[4096], golden_tok[4096];

static int have_golden(void) {
    const char *g = getenv("FF_GOLDEN");
    struct stat sb;
    if (!g) return 0;
    snprintf(golden_te, sizeof golden_te, "%s/pipelines/tiny-wan21/text_encoder", g);
    snprintf(golden_tok, sizeof golden_tok, "%s/pipelines/tiny-wan21/tokenizer", g);
    return stat(golden_te, &sb) == 0 && stat(golden_tok, &sb) == 0;
}

/* A copy of the tiny text encoder folder with another config.json. */
static void make_variant(const char *name, const char *from, const char *to, char *dir, size_t n) {
    char src[4200], dst[4200];
    ff_test_tmp_path(name, dir, n);
    mkdir(dir, 0755);
    snprintf(src, sizeof src, "%s/model.safetensors", golden_te);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    unlink(dst);
    FF_CHECK(symlink(src, dst) == 0);
    snprintf(src, sizeof src, "%s/config.json", golden_te);
    FILE *f = fopen(src, "rb");
    char text[8192] = {0};
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[len] = 0;
    char *p = strstr(text, from), out[8192];
    FF_REQUIRE(p != NULL);
    snprintf(out, sizeof out, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    f = fopen(dst, "wb");
    FF_REQUIRE(f != NULL);
    fputs(out, f);
    fclose(f);
}

static void test_config_and_shape_errors(void) {
    ff_err err = {0};
    ff_backend *be;
    ff_umt5 *m = NULL;
    char dir[4096];
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    FF_CHECK_OK(ff_umt5_load(be, golden_te, &m, &err), &err);
    if (m) {
        const ff_umt5_config *c = ff_umt5_get_config(m);
        FF_CHECK(c->d_model == 32 && c->num_heads == 4 && c->d_kv == 8 && c->d_ff == 64 && c->num_layers == 2);
        FF_CHECK(c->gated && c->act == FF_UNARY_GELU_TANH && c->vocab_size == 320 && fabsf(c->eps - 1e-6f) < 1e-12f);
        ff_umt5_free(m);
    }
    make_variant("umt5_dff", "\"d_ff\": 64", "\"d_ff\": 65", dir, sizeof dir);
    FF_CHECK(ff_umt5_load(be, dir, &m, &err) == FF_ERR_SHAPE);
    FF_CHECK_MSG(strstr(err.msg, "wi_0.weight") != NULL, "%s", err.msg);
    /* T5 keeps one bias table (block 0): UMT5's per-block tables are unexpected weights */
    make_variant("umt5_t5", "\"model_type\": \"umt5\"", "\"model_type\": \"t5\"", dir, sizeof dir);
    FF_CHECK(ff_umt5_load(be, dir, &m, &err) == FF_ERR_FORMAT);
    FF_CHECK(strstr(err.msg, "relative_attention_bias") != NULL);
    make_variant("umt5_bert", "\"model_type\": \"umt5\"", "\"model_type\": \"bert\"", dir, sizeof dir);
    FF_CHECK(ff_umt5_load(be, dir, &m, &err) == FF_ERR_UNSUPPORTED);
    make_variant("umt5_act", "\"gated-gelu\"", "\"gated-tanh\"", dir, sizeof dir);
    FF_CHECK(ff_umt5_load(be, dir, &m, &err) == FF_ERR_UNSUPPORTED);
    make_variant("umt5_relu", "\"gated-gelu\"", "\"relu\"", dir, sizeof dir); /* needs wi.weight: absent */
    FF_CHECK(ff_umt5_load(be, dir, &m, &err) == FF_ERR_NOT_FOUND);
    FF_CHECK_MSG(strstr(err.msg, "DenseReluDense.wi.weight") != NULL, "%s", err.msg);
    ff_backend_free(be);
}

static ff_status forward_host(ff_umt5 *m, ff_backend *be, const ff_tensor *ids, const ff_tensor *mask, ff_tensor *out, ff_err *err) {
    ff_tensor dev;
    ff_status st = ff_umt5_forward(m, ids, mask, &dev, err);
    if (st) return st;
    st = ff_tensor_alloc(out, FF_F32, dev.ndim, dev.shape, err);
    if (!st) st = ff_be_download(be, out, &dev, err);
    ff_be_free(be, &dev);
    return st;
}

static void test_mask_semantics(void) {
    ff_err err = {0};
    ff_backend *be;
    ff_umt5 *m;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    FF_REQUIRE_OK(ff_umt5_load(be, golden_te, &m, &err), &err);
    const int64_t L = 10, S = 6;
    ff_tensor ids, mask, ones, out_mask, out_ones, out_none, short_ids, out_short;
    FF_REQUIRE_OK(ff_tensor_allocv(&ids, FF_I64, &err, 2, (int64_t)1, L), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&mask, FF_I64, &err, 2, (int64_t)1, L), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&ones, FF_I64, &err, 2, (int64_t)1, L), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&short_ids, FF_I64, &err, 2, (int64_t)1, S), &err);
    for (int64_t j = 0; j < L; j++) {
        ((int64_t *)ids.data)[j] = j < S ? 5 + 37 * j % 250 : 0;
        ((int64_t *)mask.data)[j] = j < S;
        ((int64_t *)ones.data)[j] = 1;
        if (j < S) ((int64_t *)short_ids.data)[j] = ((int64_t *)ids.data)[j];
    }
    FF_REQUIRE_OK(forward_host(m, be, &ids, &ones, &out_ones, &err), &err);
    FF_REQUIRE_OK(forward_host(m, be, &ids, NULL, &out_none, &err), &err);
    FF_CHECK(ff_tensor_equal(&out_ones, &out_none));
    /* padded keys get exp(finfo.min) = 0 weight: real rows match the short sequence */
    FF_REQUIRE_OK(forward_host(m, be, &ids, &mask, &out_mask, &err), &err);
    FF_REQUIRE_OK(forward_host(m, be, &short_ids, NULL, &out_short, &err), &err);
    ff_tensor head;
    int64_t shape[3] = {1, S, 32};
    ff_tensor_view(&head, FF_F32, 3, shape, out_mask.data, FF_LOC_HOST);
    double r = ff_rel_l2(&head, &out_short);
    FF_CHECK_MSG(r >= 0 && r < 1e-6, "rel_l2 %.3e", r);
    FF_CHECK(ff_rel_l2(&out_mask, &out_ones) > 1e-3); /* the mask does change the padded rows */
    /* ids outside the vocabulary are an argument error naming the id */
    ((int64_t *)ids.data)[3] = 320;
    ff_tensor bad;
    FF_CHECK(ff_umt5_forward(m, &ids, NULL, &bad, &err) == FF_ERR_ARG);
    FF_CHECK(strstr(err.msg, "320") != NULL);
    ff_tensor *ts[] = {&ids, &mask, &ones, &out_mask, &out_ones, &out_none, &short_ids, &out_short};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ff_tensor_free(ts[i]);
    ff_umt5_free(m);
    ff_backend_free(be);
}

static void test_encode_prompt_layout(void) {
    ff_err err = {0};
    ff_backend *be;
    ff_umt5 *m;
    ff_tok *tok;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    FF_REQUIRE_OK(ff_umt5_load(be, golden_te, &m, &err), &err);
    FF_REQUIRE_OK(ff_tok_load(golden_tok, &tok, &err), &err);
    const char *prompts[2] = {"A robot dances in a neon-lit alley.", "  An owl &amp; a cat  "};
    const int L = 16, D = 32;
    ff_prompt_request req = {prompts, 2, NULL, 0, 1, 3, L};
    ff_prompt_embeds pe;
    FF_REQUIRE_OK(ff_prompt_encode(tok, m, &req, &pe, &err), &err);
    FF_CHECK(pe.prompt_embeds.shape[0] == 6 && pe.prompt_embeds.shape[1] == L && pe.prompt_embeds.shape[2] == D);
    FF_CHECK(pe.negative_prompt_embeds.shape[0] == 6);
    const int64_t *sl = pe.seq_lens.data, *nsl = pe.negative_seq_lens.data;
    FF_CHECK(sl[0] == L && sl[1] > 1 && sl[1] < L); /* the first is truncated to L */
    FF_CHECK(nsl[0] == 1 && nsl[1] == 1);           /* negative "" is just </s> */
    const float *e = pe.prompt_embeds.data;
    for (int b = 0; b < 2; b++) {
        for (int r = 1; r < 3; r++) /* repeat(1, n, 1): consecutive copies */
            FF_CHECK(!memcmp(e + (size_t)(b * 3) * L * D, e + (size_t)(b * 3 + r) * L * D, (size_t)L * D * sizeof *e));
        int zero = 1, nonzero = 0;
        for (int64_t j = 0; j < L; j++)
            for (int d = 0; d < D; d++) {
                float v = e[((size_t)(b * 3) * L + (size_t)j) * D + (size_t)d];
                if (j >= sl[b]) zero &= v == 0.0f;
                else nonzero |= v != 0.0f;
            }
        FF_CHECK(zero && nonzero);
    }
    /* one prompt alone gives the same rows as inside the batch */
    ff_prompt_embeds one;
    ff_prompt_request r1 = {prompts + 1, 1, NULL, 0, 0, 1, L};
    FF_REQUIRE_OK(ff_prompt_encode(tok, m, &r1, &one, &err), &err);
    FF_CHECK(one.negative_prompt_embeds.data == NULL);
    ff_tensor row;
    int64_t shape[3] = {1, L, D};
    ff_tensor_view(&row, FF_F32, 3, shape, (float *)pe.prompt_embeds.data + (size_t)3 * L * D, FF_LOC_HOST);
    double rel = ff_rel_l2(&row, &one.prompt_embeds);
    FF_CHECK_MSG(rel >= 0 && rel < 1e-6, "rel %.3e", rel);
    /* an explicit "" negative is the default one; a mismatched list is an error */
    const char *empty = "";
    ff_prompt_embeds pe2;
    ff_prompt_request r2 = {prompts, 2, &empty, 1, 1, 3, L};
    FF_REQUIRE_OK(ff_prompt_encode(tok, m, &r2, &pe2, &err), &err);
    FF_CHECK(ff_tensor_equal(&pe2.negative_prompt_embeds, &pe.negative_prompt_embeds));
    const char *three[3] = {"a", "b", "c"};
    ff_prompt_request r3 = {prompts, 2, three, 3, 1, 1, L};
    ff_prompt_embeds pe3;
    FF_CHECK(ff_prompt_encode(tok, m, &r3, &pe3, &err) == FF_ERR_ARG);
    ff_prompt_embeds_free(&pe);
    ff_prompt_embeds_free(&pe2);
    ff_prompt_embeds_free(&one);
    ff_tok_free(tok);
    ff_umt5_free(m);
    ff_backend_free(be);
}

int main(void) {
    FF_RUN(test_relative_buckets);
    if (!have_golden()) {
        if (ff_test_summary()) return 1;
        ff_test_skip("golden tiny text encoder not found (FF_GOLDEN unset or ../shared/golden absent)");
    }
    FF_RUN(test_config_and_shape_errors);
    FF_RUN(test_mask_semantics);
    FF_RUN(test_encode_prompt_layout);
    return ff_test_summary();
}
