/* family_cogvideox: diffusers' CogVideoXPipeline (pipeline_cogvideox.py) on
 * the component chain — CogVideoX 2B / 5B (1.0) and 1.5 text to video.
 *
 * Components (model_cpu_offload_seq "text_encoder->transformer->vae"):
 * tokenizer + text_encoder (T5EncoderModel), transformer
 * (CogVideoXTransformer3DModel), vae (AutoencoderKLCogVideoX); the folder's
 * scheduler is CogVideoXDDIMScheduler (CogVideoXDPMScheduler or any other
 * ff_sched class may replace it). Latents are (B, F, C, h, w), frames before
 * channels. CogVideoX 1.5 (patch_size_t) pads an odd latent frame count with
 * noise frames at the START (additional_frames, drawn by prepare_latents as
 * part of the noise) and drops them before decoding; the geometry's
 * latent_shape is the padded (denoised) one, num_frames what the VAE decodes
 * (4F - 3 frames for odd F, 4F for even F: a request of 13 frames renders
 * 16, reported as frames_rounded).
 *
 * Classifier-free guidance (guidance_scale > 1) makes ONE transformer call
 * per step on cat([latents, latents]) with cat([negative, prompt]) (uncond
 * first) and mixes uncond + g (cond - uncond) in float32; with
 * use_dynamic_cfg g grows with the step (ff_cogsched_dynamic_cfg). The
 * CogVideoX DPM scheduler draws noise from the pipeline's generators after
 * prepare_latents (one generator, or one per video). For 1.0 models with
 * sincos positions the text length must be the transformer's
 * max_text_seq_length: another max_sequence_length is replaced by it with a
 * warning (diffusers fails there). __call__ renders one video per prompt
 * (diffusers sets num_videos_per_prompt = 1; another value is ignored with a
 * warning).
 *
 * Intermediates (ff_chain_intermediate_fn), step = -1 unless per step:
 *   "prompt_embeds", "negative_prompt_embeds" (CFG only)   (B, L, D)
 *   "timesteps"                 I64 (N)
 *   "latents_init"              prepare_latents output (B, F, C, h, w), padding frames included
 *   "rotary_cos", "rotary_sin"  RoPE tables of 5B / 1.5 models (tokens, head_dim)
 *   "transformer_timestep" (i)  I64 (2B) with CFG, else (B)
 *   "noise_pred_cond" (i), "noise_pred_uncond" (i, CFG only)  the halves of the transformer output
 *   "guidance_scale" (i)        F32 0-dim: the g of step i
 *   "pred_original_sample" (i)  x0 of the CogVideoX schedulers' step
 *   "dpm_noise" (i)             each noise draw of a CogVideoX DPM step (0 to 2 per step)
 *   "latents" (i)               latents after scheduler step i
 *   "vae_decode_input"          the padding dropped, permuted to (B, C, F, h, w), / scaling_factor */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_rng.h"
#include "models/cogvideox_transformer.h"
#include "models/cogvideox_vae.h"
#include "models/t5.h"
#include "pipeline/cogvideox_latents.h"
#include "pipeline/family.h"

enum { COG_TEXT = 0, COG_DIT, COG_VAE, COG_N };

static const ff_family_component cog_components[COG_N] = {
    {"text_encoder", &ff_comp_t5, "tokenizer", 0},
    {"transformer", &ff_comp_cogdit, NULL, 0},
    {"vae", &ff_comp_cogvae, NULL, 0},
};

static const ff_family_stage cog_stages[] = {
    {"text_encoder", FF_STAGE_TEXT, COG_TEXT},
    {"transformer", FF_STAGE_DENOISE, COG_DIT},
    {"vae", FF_STAGE_DECODE, COG_VAE},
};

static const ff_cogdit_config *dit_cfg(const ff_chain *c) { return ff_chain_component_config(c, COG_DIT); }
static const ff_cogvae_config *vae_cfg(const ff_chain *c) { return ff_chain_component_config(c, COG_VAE); }

/* vae_scale_factor_spatial = 2 ** (len(block_out_channels) - 1) */
static int spatial_factor(const ff_chain *c) { return 1 << (vae_cfg(c)->n_blocks - 1); }

static ff_status cog_check(const ff_chain *c, ff_err *err) {
    const ff_t5_config *te = ff_chain_component_config(c, COG_TEXT);
    const ff_cogdit_config *d = dit_cfg(c);
    const ff_cogvae_config *v = vae_cfg(c);
    const char *dir = ff_chain_component_dir(c, COG_DIT);
    if (d->text_embed_dim != te->d_model)
        return ff_err_set(err, FF_ERR_SHAPE, "%s: text_embed_dim %d, but the text encoder's d_model is %lld", dir,
                          d->text_embed_dim, (long long)te->d_model);
    if (d->in_channels != v->latent_channels || d->out_channels != v->latent_channels)
        return ff_err_set(err, FF_ERR_SHAPE, "%s: in/out_channels %d/%d, but the VAE's latent_channels is %d (text to video)",
                          dir, d->in_channels, d->out_channels, v->latent_channels);
    if (d->ofs_embed_dim)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: ofs_embed_dim is the 1.5 image-to-video transformer (not CogVideoXPipeline)",
                          dir);
    return FF_OK;
}

/* Output frames of n decoded latent frames (the VAE's 2-frame batches). */
static int64_t cog_pixel_frames(const ff_chain *c, int64_t n) {
    const int64_t st_ = vae_cfg(c)->temporal_compression_ratio;
    if (n < 1) return 0;
    const int64_t first = n < 2 ? n : 2 + n % 2;
    return (first % 2 ? 1 + (first - 1) * st_ : first * st_) + (n - first) / 2 * 2 * st_;
}

static ff_status cog_geometry(const ff_chain *c, int64_t batch, int num_frames, int height, int width, ff_geometry *g,
                              ff_err *err) {
    const ff_cogdit_config *d = dit_cfg(c);
    const int st_ = vae_cfg(c)->temporal_compression_ratio, ss = spatial_factor(c), p = d->patch_size;
    /* latents must divide into patches: multiples of vae_scale_factor_spatial * patch_size */
    const int m = ss * p;
    g->height = height / m * m;
    g->width = width / m * m;
    if (!g->height || !g->width)
        return ff_err_set(err, FF_ERR_ARG, "height %d x width %d is below this model's minimum %dx%d (VAE factor %d x patch %d)",
                          height, width, m, m, ss, p);
    g->size_rounded = g->height != height || g->width != width;
    ff_coglat_geometry cg;
    ff_status st = ff_coglat_geometry_of(num_frames, g->height, g->width, d->patch_size_t, st_, ss, &cg, err);
    if (st) return st;
    g->num_frames = (int)cg.output_frames;
    g->frames_rounded = g->num_frames != num_frames;
    /* (B, F, C, h, w), F with the 1.5 padding frames */
    g->latent_shape[0] = batch;
    g->latent_shape[1] = cg.frames;
    g->latent_shape[2] = d->in_channels;
    g->latent_shape[3] = cg.height;
    g->latent_shape[4] = cg.width;
    g->frame_axis = 1;
    g->channel_axis = 2;
    g->temporal_factor = st_;
    g->spatial_factor = ss;
    g->patch[0] = d->patch_size_t > 0 ? d->patch_size_t : 1;
    g->patch[1] = g->patch[2] = p;
    return FF_OK;
}

/* CogVideoXPipeline.__call__ defaults (the 2B / 5B sample size) */
static void cog_params_default(ff_chain_params *p) {
    memset(p, 0, sizeof *p);
    p->num_frames = 49;
    p->height = 480;
    p->width = 720;
    p->num_inference_steps = 50;
    p->guidance_scale = 6.0;
    p->max_sequence_length = 226;
    p->num_videos_per_prompt = 1;
    ff_vae_opts_default(&p->vae);
}

/* ---- check_inputs ------------------------------------------------------------------- */

static ff_status check_params(const ff_chain_params *prm, int64_t *B, ff_err *err) {
    char b[96];
    if (prm->image) return ff_err_set(err, FF_ERR_ARG, "pipeline: CogVideoXPipeline is text to video (no image input)");
    if (prm->num_videos_per_prompt < 1 || prm->num_videos_per_prompt > 4096)
        return ff_err_set(err, FF_ERR_ARG, "pipeline: num_videos_per_prompt %d must be in [1, 4096]", prm->num_videos_per_prompt);
    if (prm->prompt_embeds) {
        const ff_tensor *e = prm->prompt_embeds, *n = prm->negative_prompt_embeds;
        if (e->dtype != FF_F32 || e->loc != FF_LOC_HOST || e->ndim != 3 || e->shape[0] < 1 || e->shape[1] < 1)
            return ff_err_set(err, FF_ERR_SHAPE, "pipeline: prompt_embeds %s is not a host F32 (B, L, D) tensor",
                              ff_tensor_describe(e, b, sizeof b));
        if (prm->guidance_scale > 1.0 && (!n || n->dtype != FF_F32 || n->loc != FF_LOC_HOST || !ff_tensor_same_shape(e, n)))
            return ff_err_set(err, FF_ERR_SHAPE, "pipeline: guidance needs negative_prompt_embeds of the shape of prompt_embeds %s",
                              ff_tensor_describe(e, b, sizeof b));
        *B = e->shape[0];
    } else {
        if (!prm->prompts || prm->n_prompts < 1) return ff_err_set(err, FF_ERR_ARG, "pipeline: no prompt");
        for (int i = 0; i < prm->n_prompts; i++)
            if (!prm->prompts[i]) return ff_err_set(err, FF_ERR_ARG, "pipeline: prompt %d is NULL", i);
        if (prm->n_negative < 0 || (prm->n_negative > 1 && prm->n_negative != prm->n_prompts) ||
            (prm->n_negative > 0 && !prm->negative_prompts))
            return ff_err_set(err, FF_ERR_ARG, "pipeline: %d negative prompts for %d prompts (give none, one, or one per prompt)",
                              prm->n_negative, prm->n_prompts);
        *B = prm->n_prompts; /* __call__ sets num_videos_per_prompt = 1 */
    }
    if (prm->num_inference_steps < 1 || prm->num_inference_steps > 100000)
        return ff_err_set(err, FF_ERR_ARG, "pipeline: num_inference_steps %d must be in [1, 100000]", prm->num_inference_steps);
    if (prm->max_sequence_length < 1 || prm->max_sequence_length > (1 << 16))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: max_sequence_length %d must be in [1, 65536]", prm->max_sequence_length);
    if (!isfinite(prm->guidance_scale)) return ff_err_set(err, FF_ERR_ARG, "pipeline: guidance_scale must be finite");
    if (!prm->latents && (!prm->seeds || (prm->n_seeds != 1 && prm->n_seeds != *B) || prm->n_seeds > FF_COGSCHED_MAX_GEN))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: %d seeds for a batch of %lld videos (give one, or one per video, at most %d)",
                          prm->n_seeds, (long long)*B, FF_COGSCHED_MAX_GEN);
    return FF_OK;
}

/* ---- the stages ------------------------------------------------------------------- */

typedef struct {
    ff_tensor prompt_embeds, negative_prompt_embeds; /* host F32 (B, L, D) */
} cog_embeds;

static void cog_embeds_free(cog_embeds *e) {
    ff_tensor_free(&e->prompt_embeds);
    ff_tensor_free(&e->negative_prompt_embeds);
}

/* prepare_latents: randn_tensor((B, F, C, h, w), generator) * init_noise_sigma, or the given ones. */
static ff_status prepare_latents(ff_run *r, ff_rng *gens, size_t n_gens, const ff_coglat_geometry *cg, ff_err *err) {
    const ff_tensor *l0 = r->prm->latents;
    const int64_t *ls = r->g.latent_shape;
    if (!l0) return ff_coglat_prepare(gens, n_gens, ls[0], ls[2], cg, 1.0, &r->latents, err);
    int ok = l0->dtype == FF_F32 && l0->loc == FF_LOC_HOST && l0->ndim == 5;
    for (int d = 0; ok && d < 5; d++) ok = l0->shape[d] == ls[d];
    if (!ok) {
        char b[96];
        return ff_err_set(err, FF_ERR_SHAPE, "pipeline: latents %s do not match the latent shape (%lld, %lld, %lld, %lld, %lld) F32",
                          ff_tensor_describe(l0, b, sizeof b), (long long)ls[0], (long long)ls[1], (long long)ls[2],
                          (long long)ls[3], (long long)ls[4]);
    }
    return ff_tensor_clone(&r->latents, l0, err);
}

/* _prepare_rotary_positional_embeddings, emitted for the record (the
 * transformer computes the same tables in its forward). */
static ff_status emit_rope(ff_run *r, ff_err *err) {
    const ff_cogdit_config *d = dit_cfg(r->c);
    if (!d->use_rotary_positional_embeddings || !r->prm->on_intermediate) return FF_OK;
    const int64_t *ls = r->g.latent_shape;
    int64_t grid[3];
    ff_tensor cs = {0}, sn = {0};
    ff_status st = ff_cogdit_grid(d, ls[1], ls[3], ls[4], grid, err);
    const int64_t n = grid[0] * grid[1] * grid[2];
    if (!st && !(st = ff_tensor_allocv(&cs, FF_F32, err, 2, n, (int64_t)d->head_dim)) &&
        !(st = ff_tensor_allocv(&sn, FF_F32, err, 2, n, (int64_t)d->head_dim)) &&
        !(st = ff_cogdit_rope_tables(d, ls[1], ls[3], ls[4], cs.data, sn.data, err)) &&
        !(st = ff_run_emit(r, "rotary_cos", -1, &cs, err)))
        st = ff_run_emit(r, "rotary_sin", -1, &sn, err);
    ff_tensor_free(&cs);
    ff_tensor_free(&sn);
    return st;
}

/* One scheduler step (the CogVideoX schedulers with their x0 and noise draws). */
static ff_status sched_step(ff_run *r, ff_sched *s, int64_t i, const ff_tensor *guided, ff_tensor *x0, ff_tensor noise[2],
                            ff_err *err) {
    ff_cogsched *cs = ff_sched_cogvideox(s);
    if (!cs) return ff_sched_step(s, guided, &r->latents, &r->latents, err);
    int nn = 0;
    ff_status st = ff_cogsched_step(cs, guided, &r->latents, &r->latents, x0, noise, &nn, err);
    if (!st) st = ff_run_emit(r, "pred_original_sample", i, x0, err);
    for (int k = 0; !st && k < nn; k++) st = ff_run_emit(r, "dpm_noise", i, &noise[k], err);
    return st;
}

/* The denoising loop: one transformer call of 2B with CFG, guidance, step. */
static ff_status denoise(ff_run *r, ff_sched *s, const cog_embeds *pe, ff_err *err) {
    const ff_chain_params *prm = r->prm;
    const int64_t N = ff_sched_num_steps(s), B = r->B, k = r->do_cfg ? 2 : 1;
    const double *ts = ff_sched_timesteps(s);
    const int64_t *ls = r->latents.shape;
    const int64_t xs[5] = {k * B, ls[1], ls[2], ls[3], ls[4]};
    const int64_t n1 = ff_tensor_numel(&r->latents);
    const ff_tensor *text = &pe->prompt_embeds;
    ff_tensor tstep = {0}, xin = {0}, out = {0}, guided = {0}, x0 = {0}, gs = {0}, cond = {0}, noise[2] = {{0}};
    ff_denoiser_run d;
    memset(&d, 0, sizeof d);
    double t0 = ff_run_now();
    ff_status st;
    if ((st = ff_tensor_allocv(&tstep, FF_I64, err, 1, k * B)) || (st = ff_tensor_alloc(&xin, FF_F32, 5, xs, err)) ||
        (st = ff_tensor_alloc(&out, FF_F32, 5, xs, err)) || (st = ff_tensor_alloc(&guided, FF_F32, 5, ls, err)) ||
        (st = ff_tensor_alloc(&x0, FF_F32, 5, ls, err)) || (st = ff_tensor_alloc(&noise[0], FF_F32, 5, ls, err)) ||
        (st = ff_tensor_alloc(&noise[1], FF_F32, 5, ls, err)) || (st = ff_tensor_alloc(&gs, FF_F32, 0, ls, err)))
        goto done;
    if (r->do_cfg) { /* cat([negative_prompt_embeds, prompt_embeds]) */
        const ff_tensor *e = &pe->prompt_embeds;
        if ((st = ff_tensor_allocv(&cond, FF_F32, err, 3, 2 * e->shape[0], e->shape[1], e->shape[2]))) goto done;
        memcpy(cond.data, pe->negative_prompt_embeds.data, ff_tensor_nbytes(e));
        memcpy((char *)cond.data + ff_tensor_nbytes(e), e->data, ff_tensor_nbytes(e));
        text = &cond;
    }
    if ((st = ff_run_progress(r, FF_STAGE_DENOISE, 0, N, 0, N ? ts[0] : 0, t0, err))) goto done;
    {
        ff_act_query q = {.kind = FF_ACTIVITY_DENOISE, .batch = B, .text_len = text->shape[1], .text_dim = text->shape[2],
                          .cfg = r->do_cfg};
        memcpy(q.latent, ls, sizeof q.latent);
        if ((st = ff_run_denoiser_switch(r, &d, COG_DIT, 1, xs, 5, &text, 1, &q, err))) goto done;
    }
    for (int64_t i = 0; i < N; i++) {
        const double t = ts[i];
        /* latent_model_input = cat([latents] * 2); timestep = t.expand(2B) */
        for (int64_t j = 0; j < k; j++) memcpy((float *)xin.data + j * n1, r->latents.data, (size_t)n1 * sizeof(float));
        for (int64_t j = 0; j < k * B; j++) ((int64_t *)tstep.data)[j] = (int64_t)t;
        if ((st = ff_run_emit(r, "transformer_timestep", i, &tstep, err))) goto done;
        ff_denoiser_in in = {.timestep = &tstep, .text = &d.dcond[0]};
        if ((st = ff_run_denoiser_call(r, &d, &xin, &in, &out, err))) goto done;
        ff_tensor u, c;
        ff_tensor_view(&u, FF_F32, 5, ls, out.data, FF_LOC_HOST);
        ff_tensor_view(&c, FF_F32, 5, ls, (float *)out.data + (k - 1) * n1, FF_LOC_HOST);
        /* use_dynamic_cfg: 1 + g (1 - cos(pi ((N - t) / N) ** 5)) / 2 */
        const double g = prm->use_dynamic_cfg ? ff_cogsched_dynamic_cfg(prm->guidance_scale, N, (int64_t)t) : prm->guidance_scale;
        *(float *)gs.data = (float)g;
        if ((st = ff_run_emit(r, "noise_pred_cond", i, &c, err)) || (st = ff_run_emit(r, "guidance_scale", i, &gs, err))) goto done;
        if (r->do_cfg) {
            if ((st = ff_run_emit(r, "noise_pred_uncond", i, &u, err))) goto done;
            /* noise_pred = noise_pred_uncond + g * (noise_pred_text - noise_pred_uncond), float32 */
            const float gf = (float)g, *uc = u.data, *cc = c.data;
            float *o = guided.data;
            for (int64_t e = 0; e < n1; e++) {
                float diff = cc[e] - uc[e];
                float scaled = gf * diff;
                o[e] = uc[e] + scaled;
            }
        } else {
            memcpy(guided.data, c.data, (size_t)n1 * sizeof(float));
        }
        if (prm->on_step && (st = prm->on_step(prm->user, i, &guided, &r->latents, err))) goto done;
        if ((st = sched_step(r, s, i, &guided, &x0, noise, err))) {
            ff_err_wrap(err, "scheduler step %lld: ", (long long)i);
            goto done;
        }
        if ((st = ff_run_emit(r, "latents", i, &r->latents, err))) goto done;
        if ((st = ff_run_progress(r, FF_STAGE_DENOISE, i + 1, N, 1, t, t0, err))) goto done;
    }
done:
    ff_run_denoiser_unload(r, &d);
    ff_tensor *ts_[] = {&tstep, &xin, &out, &guided, &x0, &gs, &cond, &noise[0], &noise[1]};
    for (size_t j = 0; j < sizeof ts_ / sizeof ts_[0]; j++) ff_tensor_free(ts_[j]);
    return st;
}

/* ---- CogVideoXPipeline.__call__ ----------------------------------------------------------- */

static ff_status cog_call(ff_run *r, ff_err *err) {
    const ff_chain_params *prm = r->prm;
    const ff_log *log = ff_chain_log(r->c);
    const ff_cogdit_config *d = dit_cfg(r->c);
    cog_embeds pe;
    memset(&pe, 0, sizeof pe);
    ff_sched *s = NULL;
    ff_tensor decoded = {0};
    ff_rng gens[FF_COGSCHED_MAX_GEN];
    /* 0. check inputs, sizes */
    ff_status st = check_params(prm, &r->B, err);
    if (st) return st;
    r->do_cfg = prm->guidance_scale > 1.0;
    if (prm->num_videos_per_prompt != 1)
        FF_WARN(log, "CogVideoXPipeline renders one video per prompt (num_videos_per_prompt %d ignored, as diffusers does)",
                prm->num_videos_per_prompt);
    if ((st = ff_chain_geometry(r->c, r->B, prm->num_frames, prm->height, prm->width, &r->g, err))) return st;
    if (r->g.frames_rounded)
        FF_WARN(log, "CogVideoX decodes %d frames for num_frames %d (%lld latent frames)", r->g.num_frames, prm->num_frames,
                (long long)(r->g.latent_shape[1]));
    if (r->g.size_rounded)
        FF_WARN(log, "height and width must be multiples of %d for this model: rendering %dx%d instead of %dx%d",
                r->g.spatial_factor * r->g.patch[1], r->g.width, r->g.height, prm->width, prm->height);
    ff_coglat_geometry cg;
    if ((st = ff_coglat_geometry_of(prm->num_frames, r->g.height, r->g.width, d->patch_size_t, r->g.temporal_factor,
                                    r->g.spatial_factor, &cg, err)))
        return st;
    assert(cg.frames == r->g.latent_shape[1]);
    /* sincos positions are laid out for exactly max_text_seq_length text rows */
    int max_len = prm->max_sequence_length;
    if (!d->use_rotary_positional_embeddings && max_len != d->max_text_seq_length) {
        FF_WARN(log, "this CogVideoX transformer's positions take max_sequence_length %d: using it instead of %d",
                d->max_text_seq_length, max_len);
        max_len = d->max_text_seq_length;
    }
    /* 1. encode_prompt (or the given embeddings) */
    if (prm->prompt_embeds) {
        if ((st = ff_tensor_clone(&pe.prompt_embeds, prm->prompt_embeds, err))) goto done;
        if (r->do_cfg && (st = ff_tensor_clone(&pe.negative_prompt_embeds, prm->negative_prompt_embeds, err))) goto done;
    } else if ((st = ff_run_encode_prompts(r, COG_TEXT, 1 /* as __call__ forces */, max_len, &pe.prompt_embeds,
                                              &pe.negative_prompt_embeds, err))) {
        goto done;
    }
    /* 2. timesteps */
    if ((st = ff_sched_create(ff_chain_scheduler(r->c), &s, err)) || (st = ff_sched_set_timesteps(s, prm->num_inference_steps, err)))
        goto done;
    {
        ff_tensor tt;
        if ((st = ff_sched_timesteps_tensor(s, &tt, err))) goto done;
        st = ff_run_emit(r, "timesteps", -1, &tt, err);
        ff_tensor_free(&tt);
        if (st) goto done;
    }
    /* 3. prepare_latents (the 1.5 padding frames included); the DPM scheduler goes on with the generators */
    const size_t n_gens = prm->latents ? 1 : (size_t)prm->n_seeds;
    for (size_t i = 0; i < n_gens; i++) ff_rng_seed(&gens[i], prm->latents ? 0 : prm->seeds[i]);
    if ((st = prepare_latents(r, gens, n_gens, &cg, err)) || (st = ff_run_emit(r, "latents_init", -1, &r->latents, err))) goto done;
    if (ff_sched_cogvideox(s) && (st = ff_cogsched_set_generators(ff_sched_cogvideox(s), gens, n_gens, err))) goto done;
    if ((st = emit_rope(r, err))) goto done;
    /* 4. denoising loop */
    if ((st = denoise(r, s, &pe, err))) goto done;
    cog_embeds_free(&pe);
    /* 5. latents[:, additional_frames:], decode (output_type='latent': hand them over) */
    if ((st = ff_coglat_drop_padding(&r->latents, cg.additional_frames, &decoded, err))) goto done;
    if (prm->out_latents) {
        *prm->out_latents = decoded;
        memset(&decoded, 0, sizeof decoded);
    } else {
        st = ff_run_decode(r, COG_VAE, &decoded, err);
    }
done:
    ff_sched_free(s);
    cog_embeds_free(&pe);
    ff_tensor_free(&decoded);
    return st;
}

/* ---- the embedded smoke-test model ------------------------------------------------------------ */

static const char *const tiny_model_index_json =
    "{\n"
    "  \"_class_name\": \"CogVideoXPipeline\",\n"
    "  \"_diffusers_version\": \"0.35.0\",\n"
    "  \"_framefarm_model\": \"tiny CogVideoX smoke-test model: seeded random weights, its videos are noise-like\",\n"
    "  \"_framefarm_tiny_version\": 1,\n"
    "  \"_framefarm_defaults\": {\"height\": 64, \"width\": 64, \"num_frames\": 9, \"num_inference_steps\": 4,\n"
    "    \"guidance_scale\": 6.0, \"fps\": 8},\n"
    "  \"scheduler\": [\"diffusers\", \"CogVideoXDDIMScheduler\"],\n"
    "  \"text_encoder\": [\"transformers\", \"T5EncoderModel\"],\n"
    "  \"tokenizer\": [\"transformers\", \"T5Tokenizer\"],\n"
    "  \"transformer\": [\"diffusers\", \"CogVideoXTransformer3DModel\"],\n"
    "  \"vae\": [\"diffusers\", \"AutoencoderKLCogVideoX\"]\n"
    "}\n";

static const char *const tiny_scheduler_json =
    "{\n"
    "  \"_class_name\": \"CogVideoXDDIMScheduler\", \"_diffusers_version\": \"0.35.0\", \"beta_end\": 0.012,\n"
    "  \"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, \"clip_sample\": false, \"clip_sample_range\": 1.0,\n"
    "  \"num_train_timesteps\": 1000, \"prediction_type\": \"v_prediction\", \"rescale_betas_zero_snr\": true,\n"
    "  \"sample_max_value\": 1.0, \"set_alpha_to_one\": true, \"snr_shift_scale\": 3.0, \"steps_offset\": 0,\n"
    "  \"timestep_spacing\": \"trailing\", \"trained_betas\": null\n"
    "}\n";

/* t5-v1_1 layout (one relative bias table), vocab above the tokenizer's length */
static const char *const tiny_text_encoder_json =
    "{\n"
    "  \"architectures\": [\"T5EncoderModel\"], \"classifier_dropout\": 0.0, \"d_ff\": 64, \"d_kv\": 8, \"d_model\": 32,\n"
    "  \"decoder_start_token_id\": 0, \"dense_act_fn\": \"gelu_new\", \"dropout_rate\": 0.1, \"dtype\": \"float32\",\n"
    "  \"eos_token_id\": 1, \"feed_forward_proj\": \"gated-gelu\", \"initializer_factor\": 1.0, \"is_encoder_decoder\": false,\n"
    "  \"is_gated_act\": true, \"layer_norm_epsilon\": 1e-06, \"model_type\": \"t5\", \"num_decoder_layers\": 2,\n"
    "  \"num_heads\": 4, \"num_layers\": 2, \"pad_token_id\": 0, \"relative_attention_max_distance\": 128,\n"
    "  \"relative_attention_num_buckets\": 32, \"tie_word_embeddings\": false, \"use_cache\": false, \"vocab_size\": 384\n"
    "}\n";

/* CogVideoX-2B layout (sincos positions) at max_text_seq_length 226, the pipeline's default */
static const char *const tiny_transformer_json =
    "{\n"
    "  \"_class_name\": \"CogVideoXTransformer3DModel\", \"_diffusers_version\": \"0.35.0\",\n"
    "  \"activation_fn\": \"gelu-approximate\", \"attention_bias\": true, \"attention_head_dim\": 16, \"dropout\": 0.0,\n"
    "  \"flip_sin_to_cos\": true, \"freq_shift\": 0, \"in_channels\": 4, \"max_text_seq_length\": 226,\n"
    "  \"norm_elementwise_affine\": true, \"norm_eps\": 1e-05, \"num_attention_heads\": 2, \"num_layers\": 2,\n"
    "  \"ofs_embed_dim\": null, \"out_channels\": 4, \"patch_bias\": true, \"patch_size\": 2, \"patch_size_t\": null,\n"
    "  \"sample_frames\": 49, \"sample_height\": 60, \"sample_width\": 90, \"spatial_interpolation_scale\": 1.875,\n"
    "  \"temporal_compression_ratio\": 4, \"temporal_interpolation_scale\": 1.0, \"text_embed_dim\": 32,\n"
    "  \"time_embed_dim\": 24, \"timestep_activation_fn\": \"silu\", \"use_learned_positional_embeddings\": false,\n"
    "  \"use_rotary_positional_embeddings\": false\n"
    "}\n";

static const char *const tiny_vae_json =
    "{\n"
    "  \"_class_name\": \"AutoencoderKLCogVideoX\", \"_diffusers_version\": \"0.35.0\", \"act_fn\": \"silu\",\n"
    "  \"block_out_channels\": [8, 16, 16, 16], \"down_block_types\": [\"CogVideoXDownBlock3D\", \"CogVideoXDownBlock3D\",\n"
    "  \"CogVideoXDownBlock3D\", \"CogVideoXDownBlock3D\"], \"force_upcast\": true, \"in_channels\": 3,\n"
    "  \"invert_scale_latents\": false, \"latent_channels\": 4, \"latents_mean\": null, \"latents_std\": null,\n"
    "  \"layers_per_block\": 1, \"norm_eps\": 1e-06, \"norm_num_groups\": 4, \"out_channels\": 3, \"sample_height\": 480,\n"
    "  \"sample_width\": 720, \"scaling_factor\": 1.15258426, \"shift_factor\": null, \"temporal_compression_ratio\": 4,\n"
    "  \"up_block_types\": [\"CogVideoXUpBlock3D\", \"CogVideoXUpBlock3D\", \"CogVideoXUpBlock3D\", \"CogVideoXUpBlock3D\"],\n"
    "  \"use_post_quant_conv\": false, \"use_quant_conv\": false\n"
    "}\n";

static const char *const tiny_component_json[COG_N] = {tiny_text_encoder_json, tiny_transformer_json, tiny_vae_json};

/* 64x64, 9 frames (3 latent frames), 4 steps: every stage runs in seconds on a CPU. */
static const ff_tiny_spec cog_tiny = {"tiny-cogvideox", 1, tiny_model_index_json, tiny_scheduler_json, tiny_component_json,
                                      20250301u};

const ff_family ff_family_cogvideox = {
    .class_name = "CogVideoXPipeline",
    .offload_seq = "text_encoder->transformer->vae",
    .components = cog_components,
    .n_components = COG_N,
    .stages = cog_stages,
    .n_stages = (int)(sizeof cog_stages / sizeof cog_stages[0]),
    .check = cog_check,
    .geometry = cog_geometry,
    .pixel_frames = cog_pixel_frames,
    .params_default = cog_params_default,
    .call = cog_call,
    .tiny = &cog_tiny,
};
