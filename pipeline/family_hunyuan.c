/* family_hunyuan: diffusers' HunyuanVideoPipeline (pipeline_hunyuan_video.py)
 * on the component chain — HunyuanVideo text to video.
 *
 * Components (model_cpu_offload_seq "text_encoder->text_encoder_2->
 * transformer->vae"): tokenizer + text_encoder (LlamaModel: the prompt in
 * the prompt template, hidden_states[-3] cropped at crop_start, with its
 * attention mask), tokenizer_2 + text_encoder_2 (CLIPTextModel: the pooled
 * output at max_length 77), transformer (HunyuanVideoTransformer3DModel),
 * vae (AutoencoderKLHunyuanVideo, framewise temporal tiling on by default as
 * diffusers). Each text encoder runs once for the prompts and, with true
 * CFG, once more for the negative prompts (encode_prompt of diffusers calls
 * them prompt by prompt; the results do not depend on the order).
 *
 * Guidance: guidance_scale is the embedded guidance of the distilled model
 * (guidance = guidance_scale * 1000 for every call, cond and uncond alike,
 * when the transformer has guidance_embeds). True CFG runs only when
 * true_cfg_scale > 1 and a negative prompt is given: a second transformer
 * call per step with the negative embeddings, noise = uncond +
 * true_cfg_scale * (cond - uncond) in float32. height and width must be
 * multiples of 16; num_frames is not rounded (latent frames (T - 1) // 4 + 1,
 * output frames 1 + 4 (F - 1)). The schedule is FlowMatch with sigmas
 * linspace(1, 0, N + 1)[:-1] and the folder's shift.
 *
 * Intermediates (ff_chain_intermediate_fn), step = -1 unless per step:
 *   "prompt_embeds" (B, L, D), "prompt_attention_mask" (B, L) F32,
 *   "pooled_prompt_embeds" (B, D_clip), and the "negative_" three (true CFG)
 *   "guidance" (B)               guidance_scale * 1000 (guidance_embeds only)
 *   "timesteps" (N), "sigmas" (N + 1)   F32
 *   "latents_init"               prepare_latents output (B, C, F, h, w)
 *   "transformer_timestep" (i)   t.expand(B) F32
 *   "noise_pred_cond" (i), "noise_pred_uncond" (i, true CFG)  raw transformer outputs
 *   "latents" (i)                latents after scheduler step i
 *   "vae_decode_input"           latents / scaling_factor
 *
 * Not supported here: prompt_embeds= (the chain's given embeddings carry no
 * mask and no pooled embedding) and image input. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/clip.h"
#include "models/hunyuan_text.h"
#include "models/hunyuan_transformer.h"
#include "models/hunyuan_vae.h"
#include "models/llama.h"
#include "models/llama_prompt.h"
#include "pipeline/family.h"
#include "pipeline/hunyuan_latents.h"

enum { HY_TEXT = 0, HY_TEXT2, HY_DIT, HY_VAE, HY_N };

static const ff_family_component hy_components[HY_N] = {
    {"text_encoder", &ff_comp_llama, "tokenizer", 0},
    {"text_encoder_2", &ff_comp_cliptext, "tokenizer_2", 0},
    {"transformer", &ff_comp_hydit, NULL, 0},
    {"vae", &ff_comp_hyvae, NULL, 0},
};

static const ff_family_stage hy_stages[] = {
    {"text_encoder", FF_STAGE_TEXT, HY_TEXT},
    {"text_encoder_2", FF_STAGE_TEXT, HY_TEXT2},
    {"transformer", FF_STAGE_DENOISE, HY_DIT},
    {"vae", FF_STAGE_DECODE, HY_VAE},
};

static const ff_hydit_config *dit_cfg(const ff_chain *c) { return ff_chain_component_config(c, HY_DIT); }
static const ff_hyvae_config *vae_cfg(const ff_chain *c) { return ff_chain_component_config(c, HY_VAE); }

/* The components must fit together. */
static ff_status hy_check(const ff_chain *c, ff_err *err) {
    const ff_llama_config *te = ff_chain_component_config(c, HY_TEXT);
    const ff_clip_config *te2 = ff_chain_component_config(c, HY_TEXT2);
    const ff_hydit_config *d = dit_cfg(c);
    const ff_hyvae_config *v = vae_cfg(c);
    const char *dir = ff_chain_component_dir(c, HY_DIT);
    if (d->text_embed_dim != te->hidden_size)
        return ff_err_set(err, FF_ERR_SHAPE, "%s: text_embed_dim %d, but the text encoder's hidden_size is %lld", dir,
                          d->text_embed_dim, (long long)te->hidden_size);
    if (d->pooled_projection_dim != te2->hidden)
        return ff_err_set(err, FF_ERR_SHAPE, "%s: pooled_projection_dim %d, but text_encoder_2's hidden_size is %d", dir,
                          d->pooled_projection_dim, te2->hidden);
    if (d->in_channels != v->latent_channels || d->out_channels != v->latent_channels)
        return ff_err_set(err, FF_ERR_SHAPE, "%s: in/out_channels %d/%d, but the VAE's latent_channels is %d", dir,
                          d->in_channels, d->out_channels, v->latent_channels);
    return FF_OK;
}

static ff_status hy_geometry(const ff_chain *c, int64_t batch, int num_frames, int height, int width, ff_geometry *g,
                             ff_err *err) {
    const ff_hydit_config *d = dit_cfg(c);
    const int st_ = vae_cfg(c)->temporal_compression_ratio, ss = vae_cfg(c)->spatial_compression_ratio;
    /* check_inputs: `height and width have to be divisible by 16` */
    if (height % 16 || width % 16)
        return ff_err_set(err, FF_ERR_ARG, "height %d and width %d must be multiples of 16 (HunyuanVideo latents are 1/%d, patches %dx%d)",
                          height, width, ss, d->patch, d->patch);
    g->num_frames = num_frames, g->height = height, g->width = width;
    ff_status s = ff_hunyuan_latent_shape(batch, d->in_channels, height, width, num_frames, st_, ss, g->latent_shape, err);
    if (s) return s;
    g->channel_axis = 1;
    g->frame_axis = 2;
    g->temporal_factor = st_;
    g->spatial_factor = ss;
    g->patch[0] = d->patch_t, g->patch[1] = g->patch[2] = d->patch;
    if (g->latent_shape[2] % d->patch_t || g->latent_shape[3] % d->patch || g->latent_shape[4] % d->patch)
        return ff_err_set(err, FF_ERR_ARG, "%dx%d, %d frames give latents %lldx%lldx%lld, not multiples of the patch %dx%dx%d",
                          width, height, num_frames, (long long)g->latent_shape[2], (long long)g->latent_shape[3],
                          (long long)g->latent_shape[4], d->patch_t, d->patch, d->patch);
    return FF_OK;
}

/* The VAE decodes latent frame 0 to one frame, every later one to st. */
static int64_t hy_pixel_frames(const ff_chain *c, int64_t n) {
    return n < 1 ? 0 : 1 + (int64_t)vae_cfg(c)->temporal_compression_ratio * (n - 1);
}

/* HunyuanVideoPipeline.__call__ defaults (the VAE's framewise decoding on) */
static void hy_params_default(ff_chain_params *p) {
    memset(p, 0, sizeof *p);
    p->num_frames = 129;
    p->height = 720;
    p->width = 1280;
    p->num_inference_steps = 50;
    p->guidance_scale = 6.0;
    p->true_cfg_scale = 1.0;
    p->crop_start = FF_LLAMA_PROMPT_DEFAULT_CROP_START;
    p->max_sequence_length = FF_LLAMA_PROMPT_DEFAULT_MAX_LEN;
    p->num_videos_per_prompt = 1;
    ff_vae_opts_default(&p->vae);
    p->vae.temporal_tiling = 1;
}

/* ---- check_inputs ------------------------------------------------------------------- */

static ff_status check_params(const ff_chain_params *prm, ff_err *err) {
    if (prm->image) return ff_err_set(err, FF_ERR_ARG, "pipeline: HunyuanVideoPipeline is text to video (no image input)");
    if (prm->prompt_embeds)
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "pipeline: HunyuanVideoPipeline needs prompts (given embeddings lack the mask and the pooled CLIP embedding)");
    if (!prm->prompts || prm->n_prompts < 1) return ff_err_set(err, FF_ERR_ARG, "pipeline: no prompt");
    for (int i = 0; i < prm->n_prompts; i++)
        if (!prm->prompts[i]) return ff_err_set(err, FF_ERR_ARG, "pipeline: prompt %d is NULL", i);
    if (prm->n_negative < 0 || (prm->n_negative > 1 && prm->n_negative != prm->n_prompts) ||
        (prm->n_negative > 0 && !prm->negative_prompts))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: %d negative prompts for %d prompts (give none, one, or one per prompt)",
                          prm->n_negative, prm->n_prompts);
    if (prm->num_videos_per_prompt < 1 || prm->num_videos_per_prompt > 4096)
        return ff_err_set(err, FF_ERR_ARG, "pipeline: num_videos_per_prompt %d must be in [1, 4096]", prm->num_videos_per_prompt);
    if (prm->num_inference_steps < 1 || prm->num_inference_steps > 100000)
        return ff_err_set(err, FF_ERR_ARG, "pipeline: num_inference_steps %d must be in [1, 100000]", prm->num_inference_steps);
    if (prm->max_sequence_length < 1 || prm->max_sequence_length > (1 << 16))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: max_sequence_length %d must be in [1, 65536]", prm->max_sequence_length);
    if (prm->crop_start < -1 || prm->crop_start > (1 << 16))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: crop_start %d must be -1 (computed) or in [0, 65536]", prm->crop_start);
    if (!isfinite(prm->guidance_scale) || !isfinite(prm->true_cfg_scale))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: guidance scales must be finite");
    const int64_t B = (int64_t)prm->n_prompts * prm->num_videos_per_prompt;
    if (!prm->latents && (!prm->seeds || (prm->n_seeds != 1 && prm->n_seeds != B)))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: %d seeds for a batch of %lld videos (give one, or one per video)",
                          prm->n_seeds, (long long)B);
    return FF_OK;
}

/* ---- the stages ------------------------------------------------------------------- */

/* encode_prompt's outputs for one branch (the prompts, or the negatives). */
typedef struct {
    ff_tensor embeds;  /* F32 (B, L, D) */
    ff_tensor mask;    /* I64 (B, L): the transformer's encoder_attention_mask */
    ff_tensor pooled;  /* F32 (B, D_clip) */
} hy_branch;

static void branch_free(hy_branch *b) {
    ff_tensor_free(&b->embeds);
    ff_tensor_free(&b->mask);
    ff_tensor_free(&b->pooled);
}

/* One text encoder over the prompts and (true CFG) the negatives: its
 * embeddings and mask, or its pooled output. */
static ff_status run_encoder(ff_run *r, int comp, const ff_text_request *rq, const char *const *neg, hy_branch *br,
                             ff_err *err) {
    ff_comp_use u;
    ff_status st = ff_run_acquire(r, comp, &u, err);
    if (st) return st;
    for (int k = 0; k < 1 + r->do_cfg && !st; k++) {
        ff_text_request q = *rq;
        if (k) q.prompts = neg;
        ff_text_embeds te = {0};
        if ((st = ff_run_encode_text(r, &u, &q, &te, err))) break;
        if (comp == HY_TEXT) {
            br[k].embeds = te.embeds, br[k].mask = te.mask;
            memset(&te.embeds, 0, sizeof te.embeds);
            memset(&te.mask, 0, sizeof te.mask);
        } else {
            br[k].pooled = te.pooled;
            memset(&te.pooled, 0, sizeof te.pooled);
        }
        ff_text_embeds_free(&te);
    }
    ff_run_release(r, &u);
    return st;
}

/* The mask as the pipeline hands it to the transformer: float32 1/0. */
static ff_status emit_mask(ff_run *r, const char *name, const ff_tensor *mask, ff_err *err) {
    ff_tensor f = {0};
    ff_status st = ff_tensor_alloc(&f, FF_F32, mask->ndim, mask->shape, err);
    if (st) return st;
    const int64_t n = ff_tensor_numel(mask);
    for (int64_t i = 0; i < n; i++) ((float *)f.data)[i] = (float)((const int64_t *)mask->data)[i];
    st = ff_run_emit(r, name, -1, &f, err);
    ff_tensor_free(&f);
    return st;
}

/* encode_prompt for the prompts and (true CFG) the negative prompts: the
 * Llama encoder, then the CLIP one (model_cpu_offload_seq order). */
static ff_status encode_prompt(ff_run *r, hy_branch br[2], ff_err *err) {
    const ff_chain_params *prm = r->prm;
    const char **neg = NULL;
    double t0 = ff_run_now();
    ff_status st = ff_run_progress(r, FF_STAGE_TEXT, 0, 1, 0, 0, t0, err);
    if (st) return st;
    if (r->do_cfg) {
        if (!(neg = malloc((size_t)prm->n_prompts * sizeof *neg))) return ff_err_set(err, FF_ERR_NOMEM, "encode_prompt: no memory");
        for (int b = 0; b < prm->n_prompts; b++) neg[b] = prm->negative_prompts[prm->n_negative == 1 ? 0 : b];
    }
    ff_text_request rq = {prm->prompts, prm->n_prompts, prm->num_videos_per_prompt, prm->max_sequence_length,
                          prm->prompt_template, prm->crop_start};
    ff_text_request rq2 = {prm->prompts, prm->n_prompts, prm->num_videos_per_prompt, FF_HYTEXT_CLIP_MAX_LEN, NULL, 0};
    if (!(st = run_encoder(r, HY_TEXT, &rq, neg, br, err))) st = run_encoder(r, HY_TEXT2, &rq2, neg, br, err);
    free(neg);
    if (st) return st;
    static const char *const names[2][3] = {
        {"prompt_embeds", "prompt_attention_mask", "pooled_prompt_embeds"},
        {"negative_prompt_embeds", "negative_prompt_attention_mask", "negative_pooled_prompt_embeds"}};
    for (int k = 0; k < 1 + r->do_cfg; k++)
        if ((st = ff_run_emit(r, names[k][0], -1, &br[k].embeds, err)) || (st = emit_mask(r, names[k][1], &br[k].mask, err)) ||
            (st = ff_run_emit(r, names[k][2], -1, &br[k].pooled, err)))
            return st;
    return ff_run_progress(r, FF_STAGE_TEXT, 1, 1, 0, 0, t0, err);
}

/* prepare_latents: randn_tensor((B, C, F, h, w), generator), or the given ones. */
static ff_status prepare_latents(ff_run *r, ff_err *err) {
    const ff_tensor *l0 = r->prm->latents;
    const int64_t *ls = r->g.latent_shape;
    if (!l0) return ff_hunyuan_prepare_latents(ls, r->prm->seeds, (size_t)r->prm->n_seeds, &r->latents, err);
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

/* The denoising loop: embedded guidance every call, true CFG, the step hook, Euler. */
static ff_status denoise(ff_run *r, ff_sched *s, const hy_branch br[2], const ff_tensor *guidance, ff_err *err) {
    const ff_chain_params *prm = r->prm;
    const int64_t N = ff_sched_num_steps(s), B = r->B;
    const double *ts = ff_sched_timesteps(s);
    const int64_t *ls = r->latents.shape;
    ff_tensor tstep = {0}, cond = {0}, uncond = {0};
    ff_denoiser_run d;
    memset(&d, 0, sizeof d);
    double t0 = ff_run_now();
    ff_status st;
    if ((st = ff_tensor_allocv(&tstep, FF_F32, err, 1, B)) || (st = ff_tensor_alloc(&cond, FF_F32, 5, ls, err)) ||
        (st = ff_tensor_alloc(&uncond, FF_F32, 5, ls, err)))
        goto done;
    if ((st = ff_run_progress(r, FF_STAGE_DENOISE, 0, N, 0, N ? ts[0] : 0, t0, err))) goto done;
    {
        const ff_tensor *conds[4] = {&br[0].embeds, &br[0].pooled, &br[1].embeds, &br[1].pooled};
        ff_act_query q = {.kind = FF_ACTIVITY_DENOISE, .batch = B, .text_len = br[0].embeds.shape[1], .cfg = r->do_cfg};
        memcpy(q.latent, ls, sizeof q.latent);
        if ((st = ff_run_denoiser_switch(r, &d, HY_DIT, 1, ls, 5, conds, 2 + 2 * r->do_cfg, &q, err))) goto done;
    }
    for (int64_t i = 0; i < N; i++) {
        const double t = ts[i];
        /* timestep = t.expand(latents.shape[0]).to(latents.dtype) */
        for (int64_t k = 0; k < B; k++) ((float *)tstep.data)[k] = (float)t;
        if ((st = ff_run_emit(r, "transformer_timestep", i, &tstep, err))) goto done;
        ff_denoiser_in in = {.timestep = &tstep, .text = &d.dcond[0], .text_mask = &br[0].mask, .pooled = &d.dcond[1],
                             .guidance = guidance};
        if ((st = ff_run_denoiser_call(r, &d, &r->latents, &in, &cond, err))) goto done;
        if ((st = ff_run_emit(r, "noise_pred_cond", i, &cond, err))) goto done;
        if (r->do_cfg) {
            in.text = &d.dcond[2], in.text_mask = &br[1].mask, in.pooled = &d.dcond[3];
            if ((st = ff_run_denoiser_call(r, &d, &r->latents, &in, &uncond, err))) goto done;
            if ((st = ff_run_emit(r, "noise_pred_uncond", i, &uncond, err))) goto done;
            if ((st = ff_hunyuan_true_cfg(&cond, &uncond, prm->true_cfg_scale, err))) goto done;
        }
        if (prm->on_step && (st = prm->on_step(prm->user, i, &cond, &r->latents, err))) goto done;
        if ((st = ff_sched_step(s, &cond, &r->latents, &r->latents, err))) {
            ff_err_wrap(err, "scheduler step %lld: ", (long long)i);
            goto done;
        }
        if ((st = ff_run_emit(r, "latents", i, &r->latents, err))) goto done;
        if ((st = ff_run_progress(r, FF_STAGE_DENOISE, i + 1, N, 1, t, t0, err))) goto done;
    }
done:
    ff_run_denoiser_unload(r, &d);
    ff_tensor_free(&tstep);
    ff_tensor_free(&cond);
    ff_tensor_free(&uncond);
    return st;
}

static ff_status emit_schedule(ff_run *r, const ff_sched *s, ff_err *err) {
    ff_tensor tt = {0}, sg = {0};
    ff_status st = ff_sched_timesteps_tensor(s, &tt, err);
    if (!st) st = ff_run_emit(r, "timesteps", -1, &tt, err);
    if (!st && !(st = ff_sched_sigmas_tensor(s, &sg, err))) st = ff_run_emit(r, "sigmas", -1, &sg, err);
    ff_tensor_free(&tt);
    ff_tensor_free(&sg);
    return st;
}

/* ---- HunyuanVideoPipeline.__call__ -------------------------------------------------------- */

static ff_status hy_call(ff_run *r, ff_err *err) {
    const ff_chain_params *prm = r->prm;
    hy_branch br[2];
    memset(br, 0, sizeof br);
    ff_tensor guidance = {0};
    ff_sched *s = NULL;
    /* 0. check inputs, sizes; do_true_cfg = true_cfg_scale > 1 and has_neg_prompt */
    ff_status st = check_params(prm, err);
    if (st) return st;
    r->B = (int64_t)prm->n_prompts * prm->num_videos_per_prompt;
    r->do_cfg = prm->true_cfg_scale > 1.0 && prm->n_negative > 0;
    if ((st = ff_chain_geometry(r->c, r->B, prm->num_frames, prm->height, prm->width, &r->g, err))) return st;
    /* 1. encode_prompt */
    if ((st = encode_prompt(r, br, err))) goto done;
    /* 2. timesteps: sigmas = linspace(1, 0, N + 1)[:-1] */
    if ((st = ff_sched_create(ff_chain_scheduler(r->c), &s, err)) ||
        (st = ff_hunyuan_set_timesteps(s, prm->num_inference_steps, err)) || (st = emit_schedule(r, s, err)))
        goto done;
    /* 3. prepare_latents */
    if ((st = prepare_latents(r, err)) || (st = ff_run_emit(r, "latents_init", -1, &r->latents, err))) goto done;
    /* 4. embedded guidance: tensor([guidance_scale] * B) * 1000 */
    if (dit_cfg(r->c)->guidance_embeds &&
        ((st = ff_hunyuan_guidance(r->B, prm->guidance_scale, &guidance, err)) || (st = ff_run_emit(r, "guidance", -1, &guidance, err))))
        goto done;
    /* 5. denoising loop */
    if ((st = denoise(r, s, br, guidance.data ? &guidance : NULL, err))) goto done;
    branch_free(&br[0]);
    branch_free(&br[1]);
    /* 6. decode (output_type='latent': hand the latents over) */
    if (prm->out_latents) {
        *prm->out_latents = r->latents;
        memset(&r->latents, 0, sizeof r->latents);
    } else {
        st = ff_run_decode(r, HY_VAE, &r->latents, err);
    }
done:
    ff_sched_free(s);
    ff_tensor_free(&guidance);
    branch_free(&br[0]);
    branch_free(&br[1]);
    return st;
}

/* ---- the embedded smoke-test model ------------------------------------------------------------ */

static const char *const tiny_model_index_json =
    "{\n"
    "  \"_class_name\": \"HunyuanVideoPipeline\",\n"
    "  \"_diffusers_version\": \"0.35.0\",\n"
    "  \"_framefarm_model\": \"tiny smoke-test model: seeded random weights, its videos are noise-like\",\n"
    "  \"_framefarm_tiny_version\": 1,\n"
    "  \"_framefarm_defaults\": {\"height\": 64, \"width\": 96, \"num_frames\": 17, \"num_inference_steps\": 6,\n"
    "    \"guidance_scale\": 6.0, \"fps\": 15},\n"
    "  \"scheduler\": [\"diffusers\", \"FlowMatchEulerDiscreteScheduler\"],\n"
    "  \"text_encoder\": [\"transformers\", \"LlamaModel\"],\n"
    "  \"text_encoder_2\": [\"transformers\", \"CLIPTextModel\"],\n"
    "  \"tokenizer\": [\"transformers\", \"PreTrainedTokenizerFast\"],\n"
    "  \"tokenizer_2\": [\"transformers\", \"CLIPTokenizer\"],\n"
    "  \"transformer\": [\"diffusers\", \"HunyuanVideoTransformer3DModel\"],\n"
    "  \"vae\": [\"diffusers\", \"AutoencoderKLHunyuanVideo\"]\n"
    "}\n";

static const char *const tiny_scheduler_json =
    "{\n"
    "  \"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"_diffusers_version\": \"0.35.0\",\n"
    "  \"base_image_seq_len\": 256, \"base_shift\": 0.5, \"invert_sigmas\": false, \"max_image_seq_len\": 4096,\n"
    "  \"max_shift\": 1.15, \"num_train_timesteps\": 1000, \"shift\": 7.0, \"shift_terminal\": null,\n"
    "  \"stochastic_sampling\": false, \"time_shift_type\": \"exponential\", \"use_beta_sigmas\": false,\n"
    "  \"use_dynamic_shifting\": false, \"use_exponential_sigmas\": false, \"use_karras_sigmas\": false\n"
    "}\n";

/* vocab_size covers the tiny tokenizers' ids (pipeline/tiny_bpe.h). */
static const char *const tiny_text_encoder_json =
    "{\n"
    "  \"architectures\": [\"LlamaModel\"], \"attention_bias\": false, \"attention_dropout\": 0.0, \"head_dim\": 8,\n"
    "  \"hidden_act\": \"silu\", \"hidden_size\": 32, \"initializer_range\": 0.02, \"intermediate_size\": 64,\n"
    "  \"max_position_embeddings\": 2048, \"mlp_bias\": false, \"model_type\": \"llama\", \"num_attention_heads\": 4,\n"
    "  \"num_hidden_layers\": 4, \"num_key_value_heads\": 2, \"pretraining_tp\": 1, \"rms_norm_eps\": 1e-05,\n"
    "  \"rope_scaling\": null, \"rope_theta\": 500000.0, \"tie_word_embeddings\": false, \"torch_dtype\": \"float32\",\n"
    "  \"vocab_size\": 2048\n"
    "}\n";

static const char *const tiny_text_encoder_2_json =
    "{\n"
    "  \"architectures\": [\"CLIPTextModel\"], \"attention_dropout\": 0.0, \"bos_token_id\": 0, \"eos_token_id\": 2,\n"
    "  \"hidden_act\": \"quick_gelu\", \"hidden_size\": 24, \"initializer_factor\": 1.0, \"initializer_range\": 0.02,\n"
    "  \"intermediate_size\": 48, \"layer_norm_eps\": 1e-05, \"max_position_embeddings\": 77,\n"
    "  \"model_type\": \"clip_text_model\", \"num_attention_heads\": 2, \"num_hidden_layers\": 2, \"pad_token_id\": 1,\n"
    "  \"projection_dim\": 24, \"torch_dtype\": \"float32\", \"vocab_size\": 2048\n"
    "}\n";

static const char *const tiny_transformer_json =
    "{\n"
    "  \"_class_name\": \"HunyuanVideoTransformer3DModel\", \"_diffusers_version\": \"0.35.0\",\n"
    "  \"attention_head_dim\": 16, \"guidance_embeds\": true, \"image_condition_type\": null, \"in_channels\": 4,\n"
    "  \"mlp_ratio\": 4.0, \"num_attention_heads\": 2, \"num_layers\": 2, \"num_refiner_layers\": 2,\n"
    "  \"num_single_layers\": 2, \"out_channels\": 4, \"patch_size\": 2, \"patch_size_t\": 1,\n"
    "  \"pooled_projection_dim\": 24, \"qk_norm\": \"rms_norm\", \"rope_axes_dim\": [4, 6, 6], \"rope_theta\": 256.0,\n"
    "  \"text_embed_dim\": 32\n"
    "}\n";

static const char *const tiny_vae_json =
    "{\n"
    "  \"_class_name\": \"AutoencoderKLHunyuanVideo\", \"_diffusers_version\": \"0.35.0\", \"act_fn\": \"silu\",\n"
    "  \"block_out_channels\": [8, 16, 16, 16],\n"
    "  \"down_block_types\": [\"HunyuanVideoDownBlock3D\", \"HunyuanVideoDownBlock3D\", \"HunyuanVideoDownBlock3D\",\n"
    "    \"HunyuanVideoDownBlock3D\"],\n"
    "  \"in_channels\": 3, \"latent_channels\": 4, \"layers_per_block\": 2, \"mid_block_add_attention\": true,\n"
    "  \"norm_num_groups\": 4, \"out_channels\": 3, \"scaling_factor\": 0.476986, \"spatial_compression_ratio\": 8,\n"
    "  \"temporal_compression_ratio\": 4,\n"
    "  \"up_block_types\": [\"HunyuanVideoUpBlock3D\", \"HunyuanVideoUpBlock3D\", \"HunyuanVideoUpBlock3D\",\n"
    "    \"HunyuanVideoUpBlock3D\"]\n"
    "}\n";

static const char *const tiny_component_json[HY_N] = {tiny_text_encoder_json, tiny_text_encoder_2_json, tiny_transformer_json,
                                                      tiny_vae_json};

/* 96x64, 17 frames (5 latent frames: the VAE's temporal tiles), 6 steps:
 * every stage runs in seconds on a CPU. */
static const ff_tiny_spec hy_tiny = {"tiny-hunyuanvideo", 1, tiny_model_index_json, tiny_scheduler_json, tiny_component_json,
                                     20250301u};

const ff_family ff_family_hunyuan = {
    .class_name = "HunyuanVideoPipeline",
    .offload_seq = "text_encoder->text_encoder_2->transformer->vae",
    .components = hy_components,
    .n_components = HY_N,
    .stages = hy_stages,
    .n_stages = (int)(sizeof hy_stages / sizeof hy_stages[0]),
    .check = hy_check,
    .geometry = hy_geometry,
    .pixel_frames = hy_pixel_frames,
    .params_default = hy_params_default,
    .call = hy_call,
    .tiny = &hy_tiny,
    .needs_prompts = 1,
};
