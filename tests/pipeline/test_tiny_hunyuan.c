/* The embedded tiny HunyuanVideo model (init-model tiny-hunyuanvideo):
 *  - the folder opens as a HunyuanVideoPipeline chain, components in
 *    model_cpu_offload_seq order with their classes and roles;
 *  - its tokenizers load through the real loaders (a Llama-3 style
 *    tokenizer.json, CLIP's vocab.json + merges.txt): every id is inside
 *    the text encoders' vocabularies, BOS / <|eot_id|> / <|endoftext|> are
 *    where the pipeline expects them, prompt words are whole tokens
 *    (Llama, ignore_merges) or a few merged pieces (CLIP);
 *  - crop_start computed from the template (diffusers' len(ids) - 2) is the
 *    index of the first prompt token: the formatted prompt's ids start with
 *    the template's first crop_start ids (it is 95, as the published
 *    Llama-3 tokenizer's, so diffusers' default crop lands on the prompt);
 *  - writing it twice gives the same bytes (the tokenizer files compared). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/bpe.h"
#include "models/llama_prompt.h"
#include "models/llama_tokenizer.h"
#include "pipeline/chain.h"
#include "pipeline/tiny_bpe.h"
#include "pipeline/tiny_model.h"
#include "tests/common/ff_test.h"

static char dir[4096], dir2[4096];

static void test_chain(void) {
    ff_err err = {0};
    ff_chain *c = NULL;
    FF_REQUIRE_OK(ff_chain_open(NULL, dir, NULL, NULL, &c, &err), &err);
    FF_CHECK(!strcmp(ff_chain_class_name(c), "HunyuanVideoPipeline"));
    static const char *const names[4] = {"text_encoder", "text_encoder_2", "transformer", "vae"};
    static const ff_role roles[4] = {FF_ROLE_TEXT_ENCODER, FF_ROLE_TEXT_ENCODER, FF_ROLE_DENOISER, FF_ROLE_VAE};
    FF_REQUIRE(ff_chain_n_components(c) == 4);
    for (int i = 0; i < 4; i++) {
        FF_CHECK(!strcmp(ff_chain_component_name(c, i), names[i]));
        FF_CHECK(ff_chain_component_class(c, i)->role == roles[i]);
    }
    FF_CHECK(!ff_chain_takes_prompt_embeds(c));
    ff_geometry g;
    FF_CHECK_OK(ff_chain_geometry(c, 1, 17, 64, 96, &g, &err), &err);
    FF_CHECK(g.latent_shape[2] == 5 && g.latent_shape[3] == 8 && g.latent_shape[4] == 12 && !g.frames_rounded);
    FF_CHECK(ff_chain_geometry(c, 1, 17, 40, 96, &g, &err) == FF_ERR_ARG);
    FF_CHECK(ff_chain_pixel_frames(c, 5) == 17);
    ff_chain_close(c);
}

static void test_llama_tokenizer(void) {
    ff_err err = {0};
    char tdir[4200];
    snprintf(tdir, sizeof tdir, "%s/tokenizer", dir);
    ff_llama_tok *tok = NULL;
    FF_REQUIRE_OK(ff_llama_tok_load(tdir, &tok, &err), &err);
    FF_CHECK(ff_llama_tok_bpe(tok) != NULL); /* tokenizer.json, not sentencepiece */
    int crop = -1;
    FF_REQUIRE_OK(ff_llama_prompt_crop_start(tok, ff_llama_prompt_default_template, &crop, &err), &err);
    char *text = NULL;
    FF_REQUIRE_OK(ff_llama_prompt_format(ff_llama_prompt_default_template, "A cat walks on the grass.", &text, &err), &err);
    int64_t *ti = NULL, *pi = NULL;
    size_t tn = 0, pn = 0;
    FF_REQUIRE_OK(ff_llama_tok_encode_special(tok, ff_llama_prompt_default_template, &ti, &tn, &err), &err);
    FF_REQUIRE_OK(ff_llama_tok_encode_special(tok, text, &pi, &pn, &err), &err);
    fprintf(stderr, "template: %zu tokens, crop_start %d; with the prompt: %zu tokens\n", tn, crop, pn);
    FF_CHECK(crop == (int)tn - 2 && crop == FF_LLAMA_PROMPT_DEFAULT_CROP_START);
    FF_CHECK(pn > (size_t)crop && !memcmp(ti, pi, (size_t)crop * sizeof *ti)); /* the template's tokens, then the prompt */
    const ff_bpe *b = ff_llama_tok_bpe(tok);
    FF_CHECK(pi[0] == ff_bpe_bos_id(b));
    FF_CHECK(pi[pn - 1] == ff_bpe_token_to_id(b, "<|eot_id|>", 10));
    /* "A cat walks on the grass." : A, Ġcat, Ġwalks, Ġon, Ġthe, Ġgrass, . */
    FF_CHECK_MSG(pn - (size_t)crop == 8, "%zu prompt tokens", pn - (size_t)crop);
    for (size_t i = 0; i < pn; i++) FF_CHECK(pi[i] >= 0 && pi[i] < FF_TINY_LLAMA_VOCAB);
    free(ti);
    free(pi);
    free(text);
    ff_llama_tok_free(tok);
}

static void test_clip_tokenizer(void) {
    ff_err err = {0};
    char tdir[4200];
    snprintf(tdir, sizeof tdir, "%s/tokenizer_2", dir);
    ff_bpe *t = NULL;
    FF_REQUIRE_OK(ff_bpe_load_clip(tdir, &t, &err), &err);
    int64_t *ids = NULL;
    size_t n = 0;
    FF_REQUIRE_OK(ff_bpe_encode_special(t, "A cat walks on the grass.", &ids, &n, &err), &err);
    /* <|startoftext|>, the words in merged pieces (BPE by merge rank: a word's own chain
       may be cut by an earlier merge of another word), <|endoftext|> */
    FF_CHECK_MSG(n >= 9 && n <= 12, "%zu ids", n);
    FF_CHECK(ids[0] == ff_bpe_bos_id(t) && ids[n - 1] == ff_bpe_eos_id(t));
    FF_CHECK(ff_bpe_eos_id(t) == ff_bpe_len(t) - 1); /* the largest id: CLIP's legacy pooled row (argmax) */
    for (size_t i = 0; i < n; i++) FF_CHECK(ids[i] >= 0 && ids[i] < FF_TINY_CLIP_VOCAB);
    free(ids);
    ff_bpe_free(t);
}

static int same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        if (x != y) same = 0;
        if (x == EOF || y == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void test_same_bytes(void) {
    ff_err err = {0};
    FF_REQUIRE_OK(ff_tiny_model_create("tiny-hunyuanvideo", dir2, 1, &err), &err);
    static const char *const files[] = {"tokenizer/tokenizer.json", "tokenizer_2/vocab.json", "tokenizer_2/merges.txt",
                                        "text_encoder/model.safetensors", "transformer/diffusion_pytorch_model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[4300], b[4300];
        snprintf(a, sizeof a, "%s/%s", dir, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir2, files[i]);
        FF_CHECK_MSG(same_file(a, b), "%s differs between two writes", files[i]);
    }
}

static void test_create(void) {
    ff_err err = {0};
    FF_REQUIRE_OK(ff_tiny_model_create("tiny-hunyuanvideo", dir, 1, &err), &err);
}

int main(void) {
    ff_test_tmp_path("tiny_hunyuan", dir, sizeof dir);
    ff_test_tmp_path("tiny_hunyuan2", dir2, sizeof dir2);
    FF_RUN(test_create);
    FF_RUN(test_chain);
    FF_RUN(test_llama_tokenizer);
    FF_RUN(test_clip_tokenizer);
    FF_RUN(test_same_bytes);
    return ff_test_summary();
}
