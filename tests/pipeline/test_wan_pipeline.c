/* WanPipeline on the component chain (ff_chain), on the embedded tiny model (no golden data needed):
 * geometry rounding and size errors, open errors (missing folder, other
 * pipeline class, unknown scheduler, boundary_ratio without transformer_2),
 * and a run's callbacks: decoded chunks cover every frame in order, the
 * intermediates with and without CFG, bit-identical reruns, per-video seeds,
 * errors from a callback stop the run. The numerics against diffusers are
 * the golden pipeline_* cases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/tiny_model.h"
#include "pipeline/chain.h"
#include "tests/common/ff_test.h"

static char g_dir[4200], g_base[4096];
static ff_backend *g_be;

static void test_geometry(void) {
    ff_err err = {0};
    ff_chain *p = NULL;
    FF_REQUIRE_OK(ff_chain_open(g_be, g_dir, NULL, NULL, &p, &err), &err);
    ff_geometry g;
    const int frames[][2] = {{17, 17}, {16, 17}, {10, 9}, {1, 1}, {2, 1}, {81, 81}};
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        FF_CHECK_OK(ff_chain_geometry(p, 1, frames[i][0], 64, 96, &g, &err), &err);
        FF_CHECK_MSG(g.num_frames == frames[i][1], "%d frames -> %d, want %d", frames[i][0], g.num_frames, frames[i][1]);
        FF_CHECK(g.frames_rounded == (frames[i][0] != frames[i][1]));
    }
    FF_CHECK_OK(ff_chain_geometry(p, 2, 9, 48, 64, &g, &err), &err);
    const int64_t want[5] = {2, 4, 3, 6, 8};
    FF_CHECK(!memcmp(g.latent_shape, want, sizeof want) && g.height == 48 && g.width == 64 && !g.size_rounded);
    FF_CHECK(g.latent_shape[g.channel_axis] == 4 && g.spatial_factor == 8 && g.temporal_factor == 4 && g.frame_axis == 2);
    FF_CHECK(ff_chain_geometry(p, 1, 9, 100, 64, &g, &err) == FF_ERR_ARG);
    FF_CHECK(strstr(err.msg, "height 100") != NULL);
    FF_CHECK(ff_chain_geometry(p, 1, 9, 64, 0, &g, &err) == FF_ERR_ARG);
    FF_CHECK(ff_chain_geometry(p, 1, 0, 64, 64, &g, &err) == FF_ERR_ARG);
    FF_CHECK(!strcmp(ff_chain_class_name(p), "WanPipeline") && ff_chain_n_components(p) == 4);
    FF_CHECK(ff_chain_component_present(p, 0) && ff_chain_component_present(p, 1) && !ff_chain_component_present(p, 2));
    FF_CHECK(!strcmp(ff_chain_component_name(p, 2), "transformer_2") && ff_chain_find_role(p, FF_ROLE_VAE, 0) == 3);
    FF_CHECK(ff_chain_find_role(p, FF_ROLE_DENOISER, 1) == -1 && ff_chain_pixel_frames(p, 3) == 9);
    ff_chain_close(p);
}

/* A copy of the tiny model with one file replaced. */
static void variant(const char *name, const char *rel, const char *text, char *dir, size_t n) {
    char cmd[13000], path[8300];
    snprintf(dir, n, "%s/%s", g_base, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dir, g_dir, dir);
    if (system(cmd) != 0) return;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static const char *index_with(const char *cls, const char *boundary) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"_class_name\": \"%s\", \"boundary_ratio\": %s, \"expand_timesteps\": false,"
             " \"scheduler\": [\"diffusers\", \"UniPCMultistepScheduler\"], \"text_encoder\": [\"transformers\", \"UMT5EncoderModel\"],"
             " \"tokenizer\": [\"transformers\", \"T5Tokenizer\"], \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"],"
             " \"transformer_2\": [null, null], \"vae\": [\"diffusers\", \"AutoencoderKLWan\"]}",
             cls, boundary);
    return buf;
}

static void test_open_errors(void) {
    ff_err err = {0};
    ff_chain *p = NULL;
    char dir[4200], missing[4200];
    snprintf(missing, sizeof missing, "%s/no-such-model", g_base);
    FF_CHECK(ff_chain_open(g_be, missing, NULL, NULL, &p, &err) == FF_ERR_NOT_FOUND && !p);
    FF_CHECK(strstr(err.msg, "no-such-model") != NULL);
    variant("other_class", "model_index.json", index_with("StableDiffusionPipeline", "null"), dir, sizeof dir);
    FF_CHECK(ff_chain_open(g_be, dir, NULL, NULL, &p, &err) == FF_ERR_UNSUPPORTED && !p);
    FF_CHECK(strstr(err.msg, "StableDiffusionPipeline") != NULL && strstr(err.msg, "supported: WanPipeline") != NULL);
    variant("boundary", "model_index.json", index_with("WanPipeline", "0.875"), dir, sizeof dir);
    FF_CHECK(ff_chain_open(g_be, dir, NULL, NULL, &p, &err) == FF_ERR_FORMAT && !p);
    FF_CHECK(strstr(err.msg, "transformer_2") != NULL);
    variant("ddim", "scheduler/scheduler_config.json", "{\"_class_name\": \"DDIMScheduler\", \"num_train_timesteps\": 1000}",
            dir, sizeof dir);
    FF_CHECK(ff_chain_open(g_be, dir, NULL, NULL, &p, &err) == FF_ERR_UNSUPPORTED && !p);
    FF_CHECK(strstr(err.msg, "DDIMScheduler") != NULL);
    variant("bad_vae", "vae/config.json", "{\"_class_name\": \"AutoencoderKLWan\", \"z_dim\": 16}", dir, sizeof dir);
    FF_CHECK(ff_chain_open(g_be, dir, NULL, NULL, &p, &err) == FF_ERR_SHAPE && !p);
    FF_CHECK(strstr(err.msg, "z_dim") != NULL);
}

typedef struct {
    int64_t next_t0[4];       /* per sample: the frame the next chunk must start at */
    int64_t frames_total, batch;
    int n_uncond, n_cond, n_neg_embeds, n_latents;
    int denoise_done;
    ff_tensor final;          /* vae_decode_input */
    ff_status fail_frames;    /* returned by on_frames when set */
    int bad_chunk;
} rec;

static ff_status rec_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    rec *r = user;
    if (r->fail_frames) return ff_err_set(err, r->fail_frames, "writer failed on purpose");
    r->frames_total = ch->num_frames;
    r->batch = ch->batch;
    for (int64_t b = ch->b0; b < ch->b0 + ch->video->shape[0]; b++) {
        if (b >= 4 || r->next_t0[b] != ch->t0) r->bad_chunk = 1;
        else r->next_t0[b] += ch->video->shape[2];
    }
    const ff_tensor *f = ch->frames;
    if (f->ndim != 5 || f->shape[1] != ch->video->shape[2] || f->shape[4] != 3) r->bad_chunk = 1;
    const float *d = f->data;
    for (int64_t i = 0; i < ff_tensor_numel(f); i++)
        if (!(d[i] >= 0 && d[i] <= 1)) r->bad_chunk = 1;
    return FF_OK;
}

static ff_status rec_inter(void *user, const char *name, int64_t step, const ff_tensor *t, ff_err *err) {
    rec *r = user;
    if (!strcmp(name, "noise_pred_uncond")) r->n_uncond++;
    if (!strcmp(name, "noise_pred_cond")) r->n_cond++;
    if (!strcmp(name, "negative_prompt_embeds")) r->n_neg_embeds++;
    if (!strcmp(name, "latents")) r->n_latents += step >= 0;
    if (!strcmp(name, "vae_decode_input")) {
        ff_tensor_free(&r->final);
        return ff_tensor_clone(&r->final, t, err);
    }
    return FF_OK;
}

static ff_status rec_progress(void *user, const ff_chain_progress *pr, ff_err *err) {
    rec *r = user;
    if (pr->stage == FF_STAGE_DENOISE) {
        if (pr->done != r->denoise_done + (pr->done ? 1 : 0)) r->bad_chunk = 1;
        r->denoise_done = (int)pr->done;
    }
    return FF_OK;
}

static ff_status run(ff_chain *p, const char *const *prompts, int n, const uint64_t *seeds, int n_seeds, double g,
                     int tiling, rec *r, ff_err *err) {
    ff_chain_params prm;
    ff_chain_params_default(p, &prm);
    prm.prompts = prompts;
    prm.n_prompts = n;
    prm.seeds = seeds;
    prm.n_seeds = n_seeds;
    prm.num_frames = 9;
    prm.height = 48;
    prm.width = 32;
    prm.num_inference_steps = 3;
    prm.guidance_scale = g;
    prm.max_sequence_length = 16;
    prm.vae.tiling = tiling;
    prm.vae.tile_sample_min_height = prm.vae.tile_sample_min_width = 32;
    prm.vae.tile_sample_stride_height = prm.vae.tile_sample_stride_width = 16;
    prm.on_frames = rec_frames;
    prm.on_intermediate = rec_inter;
    prm.on_progress = rec_progress;
    prm.user = r;
    return ff_chain_run(p, &prm, NULL, err);
}

static void test_run(void) {
    ff_err err = {0};
    ff_chain *p = NULL;
    FF_REQUIRE_OK(ff_chain_open(g_be, g_dir, NULL, NULL, &p, &err), &err);
    const char *prompts[2] = {"A cat walks.", "A dog runs."};
    uint64_t seed = 5, seeds2[2] = {5, 6};
    rec a = {0}, b = {0}, c = {0}, d = {0};
    /* CFG on: cond and uncond each step; chunks cover frames 0..8 in order */
    FF_REQUIRE_OK(run(p, prompts, 1, &seed, 1, 5.0, 0, &a, &err), &err);
    FF_CHECK(a.n_cond == 3 && a.n_uncond == 3 && a.n_neg_embeds == 1 && a.n_latents == 3 && a.denoise_done == 3);
    FF_CHECK(!a.bad_chunk && a.batch == 1 && a.frames_total == 9 && a.next_t0[0] == 9);
    /* the same request again: bit-identical */
    FF_REQUIRE_OK(run(p, prompts, 1, &seed, 1, 5.0, 0, &b, &err), &err);
    FF_CHECK(ff_tensor_same_shape(&a.final, &b.final) && !memcmp(a.final.data, b.final.data, ff_tensor_nbytes(&a.final)));
    /* guidance 1: no CFG, a single transformer call per step */
    FF_REQUIRE_OK(run(p, prompts, 1, &seed, 1, 1.0, 0, &c, &err), &err);
    FF_CHECK(c.n_cond == 3 && c.n_uncond == 0 && c.n_neg_embeds == 0);
    FF_CHECK(ff_rel_l2(&c.final, &a.final) > 1e-3);
    /* a batch of two with a generator each, tiled decode: sample 0 equals the single run */
    FF_REQUIRE_OK(run(p, prompts, 2, seeds2, 2, 5.0, 1, &d, &err), &err);
    FF_CHECK(!d.bad_chunk && d.batch == 2 && d.next_t0[0] == 9 && d.next_t0[1] == 9);
    FF_CHECK(d.final.shape[0] == 2);
    if (d.final.shape[0] == 2) { /* same maths; GEMM blocking may change the last bits */
        ff_tensor s0;
        ff_tensor_view(&s0, FF_F32, 5, a.final.shape, d.final.data, FF_LOC_HOST);
        double r = ff_rel_l2(&s0, &a.final);
        FF_CHECK_MSG(r < 1e-4, "batch sample 0 (seed 5) differs from the single render: rel_l2 %g", r);
    }
    /* errors: seed count, and a failing frames callback stops the run */
    rec e = {0};
    FF_CHECK(run(p, prompts, 2, seeds2, 3, 5.0, 0, &e, &err) == FF_ERR_ARG);
    e.fail_frames = FF_ERR_IO;
    FF_CHECK(run(p, prompts, 1, &seed, 1, 5.0, 0, &e, &err) == FF_ERR_IO);
    FF_CHECK(strstr(err.msg, "on purpose") != NULL);
    ff_tensor_free(&a.final);
    ff_tensor_free(&b.final);
    ff_tensor_free(&c.final);
    ff_tensor_free(&d.final);
    ff_tensor_free(&e.final);
    ff_chain_close(p);
}

static void test_flowmatch_override(void) {
    ff_err err = {0};
    ff_chain *p = NULL;
    FF_REQUIRE_OK(ff_chain_open(g_be, g_dir, NULL, NULL, &p, &err), &err);
    ff_sched_config cfg;
    ff_sched_config_default(&cfg, FF_SCHED_FLOWMATCH);
    cfg.shift = 5.0;
    FF_CHECK_OK(ff_chain_set_scheduler(p, &cfg, &err), &err);
    FF_CHECK(ff_chain_scheduler(p)->kind == FF_SCHED_FLOWMATCH);
    const char *prompt = "A surfer rides a wave.";
    uint64_t seed = 3;
    rec r = {0};
    FF_CHECK_OK(run(p, &prompt, 1, &seed, 1, 6.0, 0, &r, &err), &err);
    FF_CHECK(r.n_latents == 3 && r.next_t0[0] == 9);
    ff_tensor_free(&r.final);
    cfg.shift = -1; /* invalid: rejected, the previous scheduler stays */
    FF_CHECK(ff_chain_set_scheduler(p, &cfg, &err) != FF_OK);
    ff_chain_close(p);
}

int main(void) {
    ff_test_tmp_path("wan_pipeline_test", g_base, sizeof g_base);
    snprintf(g_dir, sizeof g_dir, "%s/tiny", g_base);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_base);
    if (system(cmd) != 0) return 1;
    ff_err err = {0};
    if (ff_tiny_model_create(FF_TINY_DEFAULT, g_dir, 0, &err) || ff_backend_cpu_create(0, &g_be, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_geometry);
    FF_RUN(test_open_errors);
    FF_RUN(test_run);
    FF_RUN(test_flowmatch_override);
    ff_backend_free(g_be);
    int rc = ff_test_summary();
    if (!rc && system(cmd) != 0) return 1;
    return rc;
}
