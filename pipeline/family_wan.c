/* family_wan: diffusers' WanPipeline (pipeline_wan.py) on the component
 * chain — Wan 2.1 and Wan 2.2 text to video.
 *
 * Components (model_cpu_offload_seq "text_encoder->transformer->
 * transformer_2->vae"): tokenizer + text_encoder (UMT5), transformer, for
 * Wan 2.2 A14B transformer_2 switched by boundary_ratio (steps with t >=
 * boundary_ratio * num_train_timesteps use `transformer` with
 * guidance_scale, the others `transformer_2` with guidance_scale_2), vae.
 * Classifier-free guidance (guidance_scale > 1) calls the transformer twice
 * per step, the cond batch then the uncond batch, and mixes uncond + g *
 * (cond - uncond) in float32. expand_timesteps (Wan 2.2 TI2V) feeds one
 * timestep per token. num_frames is rounded to 4k+1 as diffusers does (with
 * a warning); height/width must be multiples of 16 and are rounded down to
 * the VAE spatial factor times the transformer patch (with a warning).
 *
 * Intermediates (ff_chain_intermediate_fn), step = -1 unless per step:
 *   "prompt_embeds", "negative_prompt_embeds" (CFG only)   (B, L, D)
 *   "timesteps"                 scheduler.timesteps (N) I64 (UniPC) / F32 (FlowMatch)
 *   "latents_init"              prepare_latents output (B, C, F, h, w)
 *   "transformer_timestep" (i)  the timestep tensor given to the transformer: (B) or (B, seq_len)
 *   "expert_index" (i)          I64 0-dim: 1 = transformer, 2 = transformer_2
 *   "noise_pred_cond" (i), "noise_pred_uncond" (i, CFG only)  raw transformer outputs
 *   "latents" (i)               latents after scheduler step i
 *   "vae_decode_input"          de-normalised final latents */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_rng.h"
#include "models/umt5.h"
#include "models/wan_transformer.h"
#include "models/wan_vae.h"
#include "pipeline/family_wan.h"
#include "pipeline/wan_i2v_latents.h"

enum { WAN_TEXT = 0, WAN_DIT, WAN_DIT2, WAN_VAE, WAN_N };

static const ff_wan_slots wan_slots = {WAN_TEXT, -1, WAN_DIT, WAN_DIT2, WAN_VAE};

static const ff_family_component wan_components[WAN_N] = {
    {"text_encoder", &ff_comp_umt5, "tokenizer", 0},
    {"transformer", &ff_comp_wandit, NULL, 0},
    {"transformer_2", &ff_comp_wandit, NULL, 1},
    {"vae", &ff_comp_wanvae, NULL, 0},
};

static const ff_family_stage wan_stages[] = {
    {"text_encoder", FF_STAGE_TEXT, WAN_TEXT},
    {"transformer", FF_STAGE_DENOISE, WAN_DIT},
    {"transformer_2", FF_STAGE_DENOISE, WAN_DIT2},
    {"vae", FF_STAGE_DECODE, WAN_VAE},
};

ff_status ff_wan_index_read(ff_chain *c, const ff_json *idx, void *state, ff_err *err) {
    ff_wan_state *s = state;
    const char *dir = ff_chain_dir(c);
    double br = 0;
    s->has_boundary = !ff_json_is_null(ff_json_get(idx, "boundary_ratio"));
    if (ff_json_get_double(idx, "boundary_ratio", 0, &br) || (s->has_boundary && !(br >= 0 && br <= 1)))
        return ff_err_set(err, FF_ERR_FORMAT, "%s/model_index.json: boundary_ratio must be null or a number in [0, 1]", dir);
    s->boundary_ratio = br;
    if (ff_json_get_bool(idx, "expand_timesteps", 0, &s->expand_timesteps))
        return ff_err_set(err, FF_ERR_FORMAT, "%s/model_index.json: expand_timesteps must be a boolean", dir);
    return FF_OK;
}

static const ff_wandit_config *dit_cfg(const ff_chain *c, const ff_wan_slots *sl, int i) {
    assert(i == sl->dit || i == sl->dit2);
    (void)sl;
    return ff_chain_component_config(c, i);
}
static const ff_wanvae_config *vae_cfg(const ff_chain *c, const ff_wan_slots *sl) {
    return ff_chain_component_config(c, sl->vae);
}

ff_status ff_wan_check(const ff_chain *c, const ff_wan_slots *sl, int extra_in, ff_err *err) {
    const ff_wan_state *s = ff_chain_family_state(c);
    const int has_t2 = ff_chain_component_present(c, sl->dit2);
    if (s->has_boundary && !has_t2)
        return ff_err_set(err, FF_ERR_FORMAT, "%s/model_index.json: boundary_ratio is set but transformer_2 is absent",
                          ff_chain_dir(c));
    const ff_umt5_config *te = ff_chain_component_config(c, sl->text);
    const ff_wanvae_config *v = vae_cfg(c, sl);
    for (int k = 0; k < 2; k++) {
        const int e = k ? sl->dit2 : sl->dit;
        if (!ff_chain_component_present(c, e)) continue;
        const ff_wandit_config *d = dit_cfg(c, sl, e);
        const char *dir = ff_chain_component_dir(c, e);
        if (d->text_dim != te->d_model)
            return ff_err_set(err, FF_ERR_SHAPE, "%s: text_dim %d, but the text encoder's d_model is %lld", dir, d->text_dim,
                              (long long)te->d_model);
        if (d->in_channels != v->z_dim + extra_in || d->out_channels != v->z_dim) {
            if (extra_in)
                return ff_err_set(err, FF_ERR_SHAPE,
                                  "%s: in/out_channels %d/%d, but image-to-video needs %d/%d (noise %d + mask 4 + condition %d; "
                                  "the VAE's z_dim is %d)", dir, d->in_channels, d->out_channels, v->z_dim + extra_in,
                                  v->z_dim, v->z_dim, v->z_dim, v->z_dim);
            return ff_err_set(err, FF_ERR_SHAPE, "%s: in/out_channels %d/%d, but the VAE's z_dim is %d%s", dir, d->in_channels,
                              d->out_channels, v->z_dim,
                              d->in_channels == 2 * v->z_dim + 4 ? " (an image-to-video transformer: give an image)" : "");
        }
        if (k == 1 && memcmp(d->patch, dit_cfg(c, sl, sl->dit)->patch, sizeof d->patch) != 0)
            return ff_err_set(err, FF_ERR_SHAPE, "%s: patch_size differs from transformer's", dir);
    }
    return FF_OK;
}

static ff_status wan_check(const ff_chain *c, ff_err *err) { return ff_wan_check(c, &wan_slots, 0, err); }

ff_status ff_wan_geometry(const ff_chain *c, const ff_wan_slots *sl, int64_t batch, int num_frames, int height, int width,
                          ff_geometry *g, ff_err *err) {
    const ff_wandit_config *d = dit_cfg(c, sl, sl->dit);
    const int st_ = vae_cfg(c, sl)->scale_factor_temporal, ss = vae_cfg(c, sl)->scale_factor_spatial;
    /* check_inputs: `height and width have to be divisible by 16` */
    if (height % 16 || width % 16)
        return ff_err_set(err, FF_ERR_ARG, "height %d and width %d must be multiples of 16 (Wan latents are 1/%d, patches %dx%d)",
                          height, width, ss, d->patch[1], d->patch[2]);
    /* num_frames % vae_scale_factor_temporal != 1 -> F // st * st + 1 */
    g->num_frames = num_frames;
    if (num_frames % st_ != 1 % st_) g->num_frames = num_frames / st_ * st_ + 1;
    if (g->num_frames < 1) g->num_frames = 1;
    g->frames_rounded = g->num_frames != num_frames;
    /* multiples of vae_scale_factor_spatial * patch_size */
    const int mh = ss * d->patch[1], mw = ss * d->patch[2];
    g->height = height / mh * mh;
    g->width = width / mw * mw;
    if (!g->height || !g->width)
        return ff_err_set(err, FF_ERR_ARG, "height %d x width %d is below this model's minimum %dx%d (VAE factor %d x patch)",
                          height, width, mh, mw, ss);
    g->size_rounded = g->height != height || g->width != width;
    /* (B, C, F, h, w): C = the noise channels (out_channels = z_dim) */
    g->latent_shape[0] = batch;
    g->latent_shape[1] = d->out_channels;
    g->latent_shape[2] = (g->num_frames - 1) / st_ + 1;
    g->latent_shape[3] = g->height / ss;
    g->latent_shape[4] = g->width / ss;
    g->channel_axis = 1;
    g->frame_axis = 2;
    g->temporal_factor = st_;
    g->spatial_factor = ss;
    memcpy(g->patch, d->patch, sizeof g->patch);
    if (g->latent_shape[2] % d->patch[0])
        return ff_err_set(err, FF_ERR_ARG, "%d frames give %lld latent frames, not a multiple of the temporal patch %d",
                          g->num_frames, (long long)g->latent_shape[2], d->patch[0]);
    return FF_OK;
}

static ff_status wan_geometry(const ff_chain *c, int64_t batch, int num_frames, int height, int width, ff_geometry *g,
                              ff_err *err) {
    return ff_wan_geometry(c, &wan_slots, batch, num_frames, height, width, g, err);
}

/* The causal VAE decodes latent frame 0 to one frame, every later one to st. */
int64_t ff_wan_pixel_frames(const ff_chain *c, const ff_wan_slots *sl, int64_t n) {
    return n < 1 ? 0 : 1 + (int64_t)vae_cfg(c, sl)->scale_factor_temporal * (n - 1);
}

static int64_t wan_pixel_frames(const ff_chain *c, int64_t n) { return ff_wan_pixel_frames(c, &wan_slots, n); }

/* WanPipeline.__call__ defaults (WanImageToVideoPipeline's are the same) */
void ff_wan_params_default(ff_chain_params *p) {
    memset(p, 0, sizeof *p);
    p->num_frames = 81;
    p->height = 480;
    p->width = 832;
    p->num_inference_steps = 50;
    p->guidance_scale = 5.0;
    p->max_sequence_length = 512;
    p->num_videos_per_prompt = 1;
    ff_vae_opts_default(&p->vae);
}

/* ---- check_inputs ------------------------------------------------------------------- */

/* Given embeddings (diffusers' prompt_embeds=): F32 host (B, L, D), the
 * negative one of the same shape with CFG. */
static ff_status check_embeds(const ff_chain_params *prm, int do_cfg, ff_err *err) {
    const ff_tensor *e = prm->prompt_embeds, *n = prm->negative_prompt_embeds;
    char b[96];
    if (e->dtype != FF_F32 || e->loc != FF_LOC_HOST || e->ndim != 3 || e->shape[0] < 1 || e->shape[1] < 1 || e->shape[2] < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "pipeline: prompt_embeds %s is not a host F32 (B, L, D) tensor",
                          ff_tensor_describe(e, b, sizeof b));
    if (prm->num_videos_per_prompt != 1)
        return ff_err_set(err, FF_ERR_ARG, "pipeline: num_videos_per_prompt must be 1 with given prompt_embeds");
    if (do_cfg && (!n || n->dtype != FF_F32 || n->loc != FF_LOC_HOST || !ff_tensor_same_shape(e, n)))
        return ff_err_set(err, FF_ERR_SHAPE, "pipeline: guidance needs negative_prompt_embeds of the shape of prompt_embeds %s",
                          ff_tensor_describe(e, b, sizeof b));
    return FF_OK;
}

ff_status ff_wan_check_params(const ff_chain_params *prm, ff_err *err) {
    if (prm->prompt_embeds) {
        ff_status st = check_embeds(prm, prm->guidance_scale > 1.0, err);
        if (st) return st;
    } else if (!prm->prompts || prm->n_prompts < 1) {
        return ff_err_set(err, FF_ERR_ARG, "pipeline: no prompt");
    }
    for (int i = 0; !prm->prompt_embeds && i < prm->n_prompts; i++)
        if (!prm->prompts[i]) return ff_err_set(err, FF_ERR_ARG, "pipeline: prompt %d is NULL", i);
    if (!prm->prompt_embeds && (prm->n_negative < 0 || (prm->n_negative > 1 && prm->n_negative != prm->n_prompts) ||
                                (prm->n_negative > 0 && !prm->negative_prompts)))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: %d negative prompts for %d prompts (give none, one, or one per prompt)",
                          prm->n_negative, prm->n_prompts);
    if (prm->num_videos_per_prompt < 1 || prm->num_videos_per_prompt > 4096)
        return ff_err_set(err, FF_ERR_ARG, "pipeline: num_videos_per_prompt %d must be in [1, 4096]", prm->num_videos_per_prompt);
    if (prm->num_inference_steps < 1 || prm->num_inference_steps > 100000)
        return ff_err_set(err, FF_ERR_ARG, "pipeline: num_inference_steps %d must be in [1, 100000]", prm->num_inference_steps);
    if (prm->max_sequence_length < 1 || prm->max_sequence_length > (1 << 16))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: max_sequence_length %d must be in [1, 65536]", prm->max_sequence_length);
    if (!isfinite(prm->guidance_scale) || (prm->has_guidance_scale_2 && !isfinite(prm->guidance_scale_2)))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: guidance scales must be finite");
    int64_t B = (int64_t)prm->n_prompts * prm->num_videos_per_prompt;
    if (prm->prompt_embeds) B = prm->prompt_embeds->shape[0];
    if (!prm->latents && (!prm->seeds || (prm->n_seeds != 1 && prm->n_seeds != B)))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: %d seeds for a batch of %lld videos (give one, or one per video)",
                          prm->n_seeds, (long long)B);
    return FF_OK;
}

/* ---- the stages ------------------------------------------------------------------- */

void ff_wan_embeds_free(ff_wan_embeds *e) {
    ff_tensor_free(&e->prompt_embeds);
    ff_tensor_free(&e->negative_prompt_embeds);
}

ff_status ff_wan_begin(ff_run *r, const ff_wan_slots *sl, ff_err *err) {
    const ff_chain_params *prm = r->prm;
    const ff_log *log = ff_chain_log(r->c);
    (void)sl;
    r->B = prm->prompt_embeds ? prm->prompt_embeds->shape[0] : (int64_t)prm->n_prompts * prm->num_videos_per_prompt;
    r->do_cfg = prm->guidance_scale > 1.0;
    ff_status st = ff_chain_geometry(r->c, r->B, prm->num_frames, prm->height, prm->width, &r->g, err);
    if (st) return st;
    if (r->g.frames_rounded)
        FF_WARN(log, "num_frames - 1 has to be divisible by %d: rounding %d frames to %d", r->g.temporal_factor,
                prm->num_frames, r->g.num_frames);
    if (r->g.size_rounded)
        FF_WARN(log, "height and width must be multiples of %d x %d for this model: rendering %dx%d instead of %dx%d",
                r->g.spatial_factor * r->g.patch[1], r->g.spatial_factor * r->g.patch[2], r->g.width, r->g.height,
                prm->width, prm->height);
    return FF_OK;
}

ff_status ff_wan_text(ff_run *r, const ff_wan_slots *sl, ff_wan_embeds *pe, ff_err *err) {
    const ff_chain_params *prm = r->prm;
    if (!prm->prompt_embeds)
        return ff_run_encode_prompts(r, sl->text, prm->num_videos_per_prompt, prm->max_sequence_length, &pe->prompt_embeds,
                                     &pe->negative_prompt_embeds, err);
    ff_status st = ff_tensor_clone(&pe->prompt_embeds, prm->prompt_embeds, err);
    if (!st && r->do_cfg) st = ff_tensor_clone(&pe->negative_prompt_embeds, prm->negative_prompt_embeds, err);
    return st;
}

ff_status ff_wan_timesteps(ff_run *r, ff_sched **s, ff_err *err) {
    ff_status st = ff_sched_create(ff_chain_scheduler(r->c), s, err);
    if (st || (st = ff_sched_set_timesteps(*s, r->prm->num_inference_steps, err))) return st;
    ff_tensor tt;
    if ((st = ff_sched_timesteps_tensor(*s, &tt, err))) return st;
    st = ff_run_emit(r, "timesteps", -1, &tt, err);
    ff_tensor_free(&tt);
    return st;
}

/* prepare_latents: randn_tensor((B, C, F, h, w), generator), or the given ones. */
ff_status ff_wan_prepare_latents(ff_run *r, ff_err *err) {
    const ff_tensor *l0 = r->prm->latents;
    const int64_t *ls = r->g.latent_shape;
    if (!l0) {
        ff_status st = ff_tensor_alloc(&r->latents, FF_F32, 5, ls, err);
        return st ? st : ff_randn_tensor(&r->latents, r->prm->seeds, (size_t)r->prm->n_seeds, err);
    }
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

/* The transformer's input x and timestep of step i (t): the latents, or the
 * image-to-video forms of ff_wan_cond. x is owned by the caller when *own. */
static ff_status step_input(const ff_run *r, const ff_wan_cond *cond, double t, ff_tensor *tstep, ff_tensor *x, int *own,
                            ff_err *err) {
    ff_status st = FF_OK;
    *own = 0;
    if (cond && cond->mask) { /* TI2V: (mask[0, 0][:, ::2, ::2] * t).flatten() per sample */
        ff_tensor ts = {0};
        if ((st = ff_wani2v_ti2v_timesteps(cond->mask, (float)t, r->B, &ts, err))) return st;
        if (ff_tensor_numel(&ts) != ff_tensor_numel(tstep)) st = ff_err_set(err, FF_ERR_SHAPE, "i2v: per-token timesteps");
        else memcpy(tstep->data, ts.data, ff_tensor_nbytes(&ts));
        ff_tensor_free(&ts);
    } else { /* timestep = t.expand(B), or the per-token form of text to video */
        const int64_t nt = ff_tensor_numel(tstep);
        for (int64_t k = 0; k < nt; k++) {
            if (tstep->dtype == FF_I64) ((int64_t *)tstep->data)[k] = (int64_t)t;
            else ((float *)tstep->data)[k] = (float)t;
        }
    }
    if (st || !cond || !cond->condition) {
        *x = r->latents;
        return st;
    }
    *own = 1;
    if (cond->mask) return ff_wani2v_ti2v_blend(&r->latents, cond->condition, cond->mask, x, err);
    return ff_wani2v_model_input(&r->latents, cond->condition, x, err);
}

ff_status ff_wan_denoise(ff_run *r, const ff_wan_slots *sl, ff_sched *s, const ff_wan_embeds *pe, const ff_wan_cond *cond,
                         ff_err *err) {
    const ff_wan_state *ws = ff_chain_family_state(r->c);
    const ff_chain_params *prm = r->prm;
    const int64_t N = ff_sched_num_steps(s), B = r->B;
    const double *ts = ff_sched_timesteps(s);
    const double boundary = ws->boundary_ratio * (double)ff_chain_scheduler(r->c)->num_train_timesteps;
    const int64_t *ls = r->latents.shape;
    /* expand_timesteps: (ones(F, h, w)[:, ::2, ::2] * t).flatten() per sample */
    const int64_t seq = ls[2] * ((ls[3] + 1) / 2) * ((ls[4] + 1) / 2);
    /* the transformer's input: the latents, + mask and condition channels (Wan 2.1 I2V / A14B) */
    int64_t xs[5];
    memcpy(xs, ls, sizeof xs);
    if (cond && cond->condition && !cond->mask) xs[1] += cond->condition->shape[1];
    ff_tensor tstep = {0}, noise = {0}, uncond = {0}, eidx = {0}, x = {0};
    int own_x = 0;
    ff_denoiser_run d;
    memset(&d, 0, sizeof d);
    double t0 = ff_run_now();
    ff_status st;
    if (ws->expand_timesteps) st = ff_tensor_allocv(&tstep, FF_F32, err, 2, B, seq);
    else st = ff_tensor_allocv(&tstep, ff_sched_timestep_dtype(s), err, 1, B);
    if (st || (st = ff_tensor_alloc(&noise, FF_F32, 5, ls, err)) || (st = ff_tensor_alloc(&uncond, FF_F32, 5, ls, err)) ||
        (st = ff_tensor_alloc(&eidx, FF_I64, 0, tstep.shape, err))) /* a 0-dim tensor */
        goto done;
    if ((st = ff_run_progress(r, FF_STAGE_DENOISE, 0, N, 0, N ? ts[0] : 0, t0, err))) goto done;
    const ff_tensor *conds[3] = {&pe->prompt_embeds, &pe->negative_prompt_embeds, NULL};
    int n_cond = 1 + r->do_cfg;
    const int has_image = cond && cond->image_embeds;
    if (has_image) conds[n_cond++] = cond->image_embeds;
    for (int64_t i = 0; i < N; i++) {
        const double t = ts[i];
        const int expert = !ws->has_boundary || t >= boundary ? 1 : 2;
        const double g = expert == 1 || !prm->has_guidance_scale_2 ? prm->guidance_scale : prm->guidance_scale_2;
        if (expert != d.expert) {
            ff_act_query q = {.kind = FF_ACTIVITY_DENOISE, .batch = B, .text_len = pe->prompt_embeds.shape[1],
                              .cfg = r->do_cfg, .per_token = ws->expand_timesteps,
                              .image_len = has_image ? cond->image_embeds->shape[1] : 0};
            memcpy(q.latent, ls, sizeof q.latent);
            if ((st = ff_run_denoiser_switch(r, &d, expert == 1 ? sl->dit : sl->dit2, expert, xs, 5, conds, n_cond, &q, err)))
                goto done;
        }
        assert(d.expert == expert && d.n_cond == n_cond);
        if (own_x) ff_tensor_free(&x);
        if ((st = step_input(r, cond, t, &tstep, &x, &own_x, err))) goto done;
        ((int64_t *)eidx.data)[0] = expert;
        if ((cond && (st = ff_run_emit(r, "transformer_hidden_states", i, &x, err))) ||
            (st = ff_run_emit(r, "transformer_timestep", i, &tstep, err)) || (st = ff_run_emit(r, "expert_index", i, &eidx, err)))
            goto done;
        ff_denoiser_in in = {.timestep = &tstep, .text = &d.dcond[0], .image = has_image ? &d.dcond[n_cond - 1] : NULL};
        if ((st = ff_run_denoiser_call(r, &d, &x, &in, &noise, err))) goto done;
        if ((st = ff_run_emit(r, "noise_pred_cond", i, &noise, err))) goto done;
        if (r->do_cfg) {
            in.text = &d.dcond[1];
            if ((st = ff_run_denoiser_call(r, &d, &x, &in, &uncond, err))) goto done;
            if ((st = ff_run_emit(r, "noise_pred_uncond", i, &uncond, err))) goto done;
            /* noise_pred = noise_uncond + g * (noise_pred - noise_uncond), float32 */
            const float gf = (float)g;
            float *c = noise.data;
            const float *u = uncond.data;
            int64_t n = ff_tensor_numel(&noise);
            for (int64_t k = 0; k < n; k++) {
                float diff = c[k] - u[k];
                float scaled = gf * diff;
                c[k] = u[k] + scaled;
            }
        }
        if (prm->on_step && (st = prm->on_step(prm->user, i, &noise, &r->latents, err))) goto done;
        if ((st = ff_sched_step(s, &noise, &r->latents, &r->latents, err))) {
            ff_err_wrap(err, "scheduler step %lld: ", (long long)i);
            goto done;
        }
        if ((st = ff_run_emit(r, "latents", i, &r->latents, err))) goto done;
        if ((st = ff_run_progress(r, FF_STAGE_DENOISE, i + 1, N, expert, t, t0, err))) goto done;
    }
done:
    ff_run_denoiser_unload(r, &d);
    if (own_x) ff_tensor_free(&x);
    ff_tensor_free(&tstep);
    ff_tensor_free(&noise);
    ff_tensor_free(&uncond);
    ff_tensor_free(&eidx);
    return st;
}

ff_status ff_wan_finish(ff_run *r, const ff_wan_slots *sl, ff_err *err) {
    if (r->prm->out_latents) {
        *r->prm->out_latents = r->latents;
        memset(&r->latents, 0, sizeof r->latents);
        return FF_OK;
    }
    return ff_run_decode(r, sl->vae, &r->latents, err);
}

/* ---- WanPipeline.__call__ ----------------------------------------------------------------- */

static ff_status wan_call(ff_run *r, ff_err *err) {
    const ff_wan_slots *sl = &wan_slots;
    ff_wan_embeds pe;
    memset(&pe, 0, sizeof pe);
    ff_sched *s = NULL;
    /* 0. check inputs, sizes */
    if (r->prm->image) return ff_err_set(err, FF_ERR_ARG, "pipeline: WanPipeline is text to video (no image input)");
    ff_status st = ff_wan_check_params(r->prm, err);
    if (st || (st = ff_wan_begin(r, sl, err))) return st;
    /* 1. encode_prompt (or the given embeddings) */
    if ((st = ff_wan_text(r, sl, &pe, err))) goto done;
    /* 2. timesteps */
    if ((st = ff_wan_timesteps(r, &s, err))) goto done;
    /* 3. prepare_latents */
    if ((st = ff_wan_prepare_latents(r, err)) || (st = ff_run_emit(r, "latents_init", -1, &r->latents, err))) goto done;
    /* 4. denoising loop */
    if ((st = ff_wan_denoise(r, sl, s, &pe, NULL, err))) goto done;
    ff_wan_embeds_free(&pe);
    /* 5. de-normalise and decode (output_type='latent': hand the latents over) */
    st = ff_wan_finish(r, sl, err);
done:
    ff_sched_free(s);
    ff_wan_embeds_free(&pe);
    return st;
}

/* ---- the embedded smoke-test model ------------------------------------------------------------ */

static const char *const tiny_model_index_json =
    "{\n"
    "  \"_class_name\": \"WanPipeline\",\n"
    "  \"_diffusers_version\": \"0.35.0\",\n"
    "  \"_framefarm_model\": \"tiny smoke-test model: seeded random weights, its videos are noise-like\",\n"
    "  \"_framefarm_tiny_version\": 1,\n"
    "  \"_framefarm_defaults\": {\"height\": 128, \"width\": 128, \"num_frames\": 17, \"num_inference_steps\": 10,\n"
    "    \"guidance_scale\": 5.0, \"fps\": 16, \"tile_sample_min_height\": 64, \"tile_sample_min_width\": 64,\n"
    "    \"tile_sample_stride_height\": 48, \"tile_sample_stride_width\": 48},\n"
    "  \"boundary_ratio\": null,\n"
    "  \"expand_timesteps\": false,\n"
    "  \"scheduler\": [\"diffusers\", \"UniPCMultistepScheduler\"],\n"
    "  \"text_encoder\": [\"transformers\", \"UMT5EncoderModel\"],\n"
    "  \"tokenizer\": [\"transformers\", \"T5Tokenizer\"],\n"
    "  \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"],\n"
    "  \"transformer_2\": [null, null],\n"
    "  \"vae\": [\"diffusers\", \"AutoencoderKLWan\"]\n"
    "}\n";

const char ff_wan_tiny_scheduler_json[] =
    "{\n"
    "  \"_class_name\": \"UniPCMultistepScheduler\",\n"
    "  \"_diffusers_version\": \"0.35.0\",\n"
    "  \"beta_end\": 0.02, \"beta_schedule\": \"linear\", \"beta_start\": 0.0001, \"disable_corrector\": [],\n"
    "  \"dynamic_thresholding_ratio\": 0.995, \"final_sigmas_type\": \"zero\", \"flow_shift\": 3.0,\n"
    "  \"lower_order_final\": true, \"num_train_timesteps\": 1000, \"predict_x0\": true,\n"
    "  \"prediction_type\": \"flow_prediction\", \"rescale_betas_zero_snr\": false, \"sample_max_value\": 1.0,\n"
    "  \"solver_order\": 2, \"solver_p\": null, \"solver_type\": \"bh2\", \"steps_offset\": 0, \"thresholding\": false,\n"
    "  \"timestep_spacing\": \"linspace\", \"trained_betas\": null, \"use_beta_sigmas\": false,\n"
    "  \"use_dynamic_shifting\": false, \"use_exponential_sigmas\": false, \"use_flow_sigmas\": true,\n"
    "  \"use_karras_sigmas\": false\n"
    "}\n";

/* vocab_size (embedding rows) is above the tokenizer's length, as in umt5-xxl. */
const char ff_wan_tiny_text_encoder_json[] =
    "{\n"
    "  \"architectures\": [\"UMT5EncoderModel\"], \"classifier_dropout\": 0.0, \"d_ff\": 64, \"d_kv\": 8,\n"
    "  \"d_model\": 32, \"decoder_start_token_id\": 0, \"dense_act_fn\": \"gelu_new\", \"dropout_rate\": 0.1,\n"
    "  \"dtype\": \"float32\", \"eos_token_id\": 1, \"feed_forward_proj\": \"gated-gelu\", \"initializer_factor\": 1.0,\n"
    "  \"is_encoder_decoder\": true, \"is_gated_act\": true, \"layer_norm_epsilon\": 1e-06, \"model_type\": \"umt5\",\n"
    "  \"num_decoder_layers\": 2, \"num_heads\": 4, \"num_layers\": 2, \"pad_token_id\": 0,\n"
    "  \"relative_attention_max_distance\": 128, \"relative_attention_num_buckets\": 32, \"scalable_attention\": true,\n"
    "  \"tie_word_embeddings\": false, \"tokenizer_class\": \"T5Tokenizer\", \"use_cache\": true, \"vocab_size\": 384\n"
    "}\n";

static const char *const tiny_transformer_json =
    "{\n"
    "  \"_class_name\": \"WanTransformer3DModel\", \"_diffusers_version\": \"0.35.0\", \"added_kv_proj_dim\": null,\n"
    "  \"attention_head_dim\": 16, \"cross_attn_norm\": true, \"eps\": 1e-06, \"ffn_dim\": 64, \"freq_dim\": 256,\n"
    "  \"image_dim\": null, \"in_channels\": 4, \"num_attention_heads\": 2, \"num_layers\": 2, \"out_channels\": 4,\n"
    "  \"patch_size\": [1, 2, 2], \"pos_embed_seq_len\": null, \"qk_norm\": \"rms_norm_across_heads\",\n"
    "  \"rope_max_seq_len\": 1024, \"text_dim\": 32\n"
    "}\n";

const char ff_wan_tiny_vae_json[] =
    "{\n"
    "  \"_class_name\": \"AutoencoderKLWan\", \"_diffusers_version\": \"0.35.0\", \"attn_scales\": [], \"base_dim\": 8,\n"
    "  \"decoder_base_dim\": null, \"dim_mult\": [1, 2, 4, 4], \"dropout\": 0.0, \"in_channels\": 3,\n"
    "  \"is_residual\": false, \"latents_mean\": [-0.31, 0.12, 0.47, -0.08], \"latents_std\": [1.9, 0.8, 1.3, 2.4],\n"
    "  \"num_res_blocks\": 2, \"out_channels\": 3, \"patch_size\": null, \"scale_factor_spatial\": 8,\n"
    "  \"scale_factor_temporal\": 4, \"temperal_downsample\": [false, true, true], \"z_dim\": 4\n"
    "}\n";

static const char *const tiny_component_json[WAN_N] = {ff_wan_tiny_text_encoder_json, tiny_transformer_json, NULL,
                                                       ff_wan_tiny_vae_json};

/* 128x128, 17 frames, 10 steps, VAE tiles of 64 px (smaller than the frame):
 * every stage of the pipeline runs in seconds on a CPU. */
static const ff_tiny_spec wan_tiny = {"tiny", 1, tiny_model_index_json, ff_wan_tiny_scheduler_json, tiny_component_json, 20250101u};

const ff_family ff_family_wan = {
    .class_name = "WanPipeline",
    .offload_seq = "text_encoder->transformer->transformer_2->vae",
    .components = wan_components,
    .n_components = WAN_N,
    .stages = wan_stages,
    .n_stages = (int)(sizeof wan_stages / sizeof wan_stages[0]),
    .state_size = sizeof(ff_wan_state),
    .index_read = ff_wan_index_read,
    .check = wan_check,
    .geometry = wan_geometry,
    .pixel_frames = wan_pixel_frames,
    .params_default = ff_wan_params_default,
    .call = wan_call,
    .tiny = &wan_tiny,
    .image_class = "WanImageToVideoPipeline",
};
