/* What a pipeline refuses before any compute (issue 16, "late or wrong
 * errors"), on copies of the embedded tiny model with one thing broken:
 *  - a text-encoder config that does not match its weights: ff_chain_open
 *    fails naming the tensor; the text encoder's own load path (the
 *    tokenizer loaded first) fails too and frees it (label leaks: this
 *    binary runs under LeakSanitizer in scripts/test.sh);
 *  - a VAE config whose scale_factor_temporal / _spatial disagree with the
 *    network it describes: refused at open;
 *  - a corrupt VAE weight file (a broken header): refused at open, not
 *    after the denoising loop;
 *  - VAE tiles with a stride larger than the tile: ff_chain_run refuses
 *    before its first progress call;
 *  - a cancel flag set during a run (as a worker told to stop sets it)
 *    stops it before the next transformer block. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/chain.h"
#include "pipeline/component.h"
#include "pipeline/tiny_model.h"
#include "tests/common/ff_test.h"

static char g_base[1024], g_tiny[1100];
static ff_backend *g_be;

/* A copy of the tiny model in <base>/<name> with `old` replaced by `new` in
 * <component>/config.json (old NULL: no edit). */
static const char *variant(const char *name, const char *file, const char *old, const char *new_) {
    static char dir[1200];
    char cmd[4000], path[1300];
    snprintf(dir, sizeof dir, "%s/%s", g_base, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dir, g_tiny, dir);
    if (system(cmd) != 0) return NULL;
    if (!old) return dir;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *at = strstr(buf, old);
    if (!at) return NULL;
    if (!(f = fopen(path, "wb"))) return NULL;
    fwrite(buf, 1, (size_t)(at - buf), f);
    fputs(new_, f);
    fputs(at + strlen(old), f);
    fclose(f);
    return dir;
}

/* ff_chain_open with a backend: the status, and err's message. */
static ff_status open_status(const char *dir, ff_err *err) {
    ff_chain *c = NULL;
    ff_status st = ff_chain_open(g_be, dir, NULL, NULL, &c, err);
    ff_chain_close(c);
    return st;
}

static void test_text_encoder_mismatch(void) {
    const char *dir = variant("te", "text_encoder/config.json", "\"num_heads\": 4", "\"num_heads\": 2");
    FF_REQUIRE(dir);
    ff_err err = {0};
    FF_CHECK(open_status(dir, &err) == FF_ERR_SHAPE);
    FF_CHECK_MSG(strstr(err.msg, "SelfAttention.q.weight") && strstr(err.msg, "config.json implies"), "%s", err.msg);
    /* the component's own load: tokenizer first, then the encoder fails; nothing may stay allocated */
    char te[1300], tok[1300];
    snprintf(te, sizeof te, "%s/text_encoder", dir);
    snprintf(tok, sizeof tok, "%s/tokenizer", dir);
    ff_load_request rq = {g_be, te, tok, FF_F32, 0, NULL};
    void *m = (void *)1;
    for (int i = 0; i < 3; i++) { /* a long-running worker fails task after task */
        ff_err e2 = {0};
        FF_CHECK(ff_comp_umt5.load(&rq, &m, &e2) != FF_OK);
        FF_CHECK(m == NULL);
    }
    /* a layer count the weights do not have */
    dir = variant("te_layers", "text_encoder/config.json", "\"num_layers\": 2,", "\"num_layers\": 3,");
    FF_REQUIRE(dir);
    snprintf(te, sizeof te, "%s/text_encoder", dir);
    snprintf(tok, sizeof tok, "%s/tokenizer", dir);
    ff_load_request rq2 = {g_be, te, tok, FF_F32, 0, NULL};
    ff_err e3 = {0};
    FF_CHECK(ff_comp_umt5.load(&rq2, &m, &e3) != FF_OK && m == NULL);
}

static void test_vae_scale_factors(void) {
    const char *dir = variant("vae_t1", "vae/config.json", "\"scale_factor_temporal\": 4", "\"scale_factor_temporal\": 1");
    FF_REQUIRE(dir);
    ff_err err = {0};
    FF_CHECK(open_status(dir, &err) == FF_ERR_FORMAT);
    FF_CHECK_MSG(strstr(err.msg, "scale_factor_temporal 1") && strstr(err.msg, "by 4"), "%s", err.msg);
    /* a configs-only chain (plan, init-model) refuses it too: the check is the config's */
    ff_chain *c = NULL;
    FF_CHECK(ff_chain_open(NULL, dir, NULL, NULL, &c, &err) == FF_ERR_FORMAT);
    ff_chain_close(c);
    dir = variant("vae_s1", "vae/config.json", "\"scale_factor_spatial\": 8", "\"scale_factor_spatial\": 1");
    FF_REQUIRE(dir);
    FF_CHECK(open_status(dir, &err) == FF_ERR_FORMAT);
    FF_CHECK_MSG(strstr(err.msg, "scale_factor_spatial 1") && strstr(err.msg, "by 8"), "%s", err.msg);
}

static void test_corrupt_weights(void) {
    static const char *const comps[] = {"vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
                                        "transformer/diffusion_pytorch_model.safetensors"};
    for (size_t i = 0; i < sizeof comps / sizeof comps[0]; i++) {
        const char *dir = variant("corrupt", NULL, NULL, NULL);
        FF_REQUIRE(dir);
        char path[1300];
        snprintf(path, sizeof path, "%s/%s", dir, comps[i]);
        FILE *f = fopen(path, "r+b");
        FF_REQUIRE(f);
        fseek(f, 8, SEEK_SET); /* the header's JSON starts after its 8-byte length */
        fputs("XXXXXXXX", f);
        fclose(f);
        ff_err err = {0};
        ff_status st = open_status(dir, &err);
        FF_CHECK_MSG(st != FF_OK && strstr(err.msg, comps[i]), "%s: %d %s", comps[i], st, err.msg);
        /* a truncated file: its data does not fit */
        char cmd[4000];
        snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s' && truncate -s -64 '%s'", g_tiny, comps[i], path, path);
        FF_REQUIRE(system(cmd) == 0);
        st = open_status(dir, &err);
        FF_CHECK_MSG(st != FF_OK && strstr(err.msg, comps[i]), "%s truncated: %d %s", comps[i], st, err.msg);
    }
}

typedef struct {
    int calls;
} progress_count;

static ff_status count_progress(void *user, const ff_chain_progress *pr, ff_err *err) {
    (void)pr, (void)err;
    ((progress_count *)user)->calls++;
    return FF_OK;
}

static void test_tile_stride(void) {
    ff_chain *c = NULL;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_chain_open(g_be, g_tiny, NULL, NULL, &c, &err), &err);
    ff_chain_params prm;
    ff_chain_params_default(c, &prm);
    const char *prompt = "a dog";
    uint64_t seed = 1;
    progress_count pc = {0};
    prm.prompts = &prompt, prm.n_prompts = 1, prm.seeds = &seed, prm.n_seeds = 1;
    prm.num_frames = 5, prm.height = prm.width = 128, prm.num_inference_steps = 1;
    prm.on_progress = count_progress, prm.user = &pc;
    prm.vae.tiling = 1;
    prm.vae.tile_sample_min_height = prm.vae.tile_sample_min_width = 64;
    prm.vae.tile_sample_stride_height = prm.vae.tile_sample_stride_width = 80;
    FF_CHECK(ff_chain_run(c, &prm, NULL, &err) == FF_ERR_ARG);
    FF_CHECK_MSG(strstr(err.msg, "stride 80x80") && strstr(err.msg, "tile 64x64"), "%s", err.msg);
    FF_CHECK_MSG(pc.calls == 0, "%d progress calls before the refusal", pc.calls);
    ff_chain_close(c);
}

typedef struct {
    atomic_int cancel;
    int steps;
} cancel_ctx;

/* Sets the flag after the first denoising step, as another thread would. */
static ff_status cancel_after_step(void *user, const ff_chain_progress *pr, ff_err *err) {
    (void)err;
    cancel_ctx *c = user;
    if (pr->stage == FF_STAGE_DENOISE && pr->done == 1) atomic_store(&c->cancel, 1);
    if (pr->stage == FF_STAGE_DENOISE && pr->done > 0) c->steps++;
    return FF_OK;
}

static void test_cancel_at_block(void) {
    ff_chain *c = NULL;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_chain_open(g_be, g_tiny, NULL, NULL, &c, &err), &err);
    ff_chain_params prm;
    ff_chain_params_default(c, &prm);
    const char *prompt = "a dog";
    uint64_t seed = 1;
    cancel_ctx cc = {0, 0};
    prm.prompts = &prompt, prm.n_prompts = 1, prm.seeds = &seed, prm.n_seeds = 1;
    prm.num_frames = 5, prm.height = prm.width = 64, prm.num_inference_steps = 4, prm.guidance_scale = 1.0;
    prm.on_progress = cancel_after_step, prm.user = &cc;
    prm.cancel = &cc.cancel;
    FF_CHECK(ff_chain_run(c, &prm, NULL, &err) == FF_ERR_ARG);
    FF_CHECK_MSG(strstr(err.msg, "cancelled (before transformer block 0)"), "%s", err.msg);
    FF_CHECK_MSG(cc.steps == 1, "%d steps ran", cc.steps);
    /* cleared, the same chain runs to the end */
    atomic_store(&cc.cancel, 0);
    prm.on_progress = NULL, prm.cancel = NULL;
    FF_CHECK_OK(ff_chain_run(c, &prm, NULL, &err), &err);
    ff_chain_close(c);
}

int main(void) {
    ff_test_tmp_path("chain_checks", g_base, sizeof g_base);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", g_base, g_base);
    if (system(cmd) != 0) return 1;
    snprintf(g_tiny, sizeof g_tiny, "%s/tiny", g_base);
    ff_err err = {0};
    int created = 0;
    if (ff_tiny_model_ensure(FF_TINY_DEFAULT, g_tiny, &created, &err) ||
        ff_backend_create_by_name("cpu", 1, &g_be, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_text_encoder_mismatch);
    FF_RUN(test_vae_scale_factors);
    FF_RUN(test_corrupt_weights);
    FF_RUN(test_tile_stride);
    FF_RUN(test_cancel_at_block);
    ff_backend_free(g_be);
    int rc = ff_test_summary();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_base);
    if (!rc && system(cmd) != 0) return 1;
    return rc;
}
