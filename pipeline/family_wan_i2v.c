/* family_wan_i2v: diffusers' WanImageToVideoPipeline (pipeline_wan_i2v.py)
 * on the component chain — Wan 2.1 I2V (CLIP image encoder), Wan 2.2
 * I2V-A14B (two experts switched by boundary_ratio) and Wan 2.2 TI2V-5B
 * in image mode (expand_timesteps). See shared/golden/I2V.md "Pipeline".
 *
 * Components (model_cpu_offload_seq "text_encoder->image_encoder->
 * transformer->transformer_2->vae", as diffusers): tokenizer +
 * text_encoder (UMT5), image_encoder (CLIPVisionModel + image_processor,
 * optional: only a transformer with image_dim uses it), transformer,
 * transformer_2 (optional), vae. The VAE runs twice: it encodes the
 * conditioning video before the loop and decodes after.
 *
 * __call__, top to bottom (the WanPipeline stages are family_wan.h's):
 *  0. check_inputs, sizes rounded as WanPipeline; the image is host U8
 *     (H, W, 3) or (1, H, W, 3), any size (resized below).
 *  1. encode_prompt. A transformer with an image branch splits its context
 *     at a hard-coded 512 text rows in diffusers: max_sequence_length must
 *     be 512 there (refused otherwise instead of splitting wrongly).
 *  2. encode_image (image branch only): CLIP hidden_states[-2] of the
 *     input picture, repeated to the batch.
 *  3. timesteps.
 *  4. video_processor.preprocess: Lanczos resize to (height, width),
 *     2 x / 255 - 1.
 *  5. prepare_latents: noise first, then the VAE encode of the condition
 *     video (pipeline/wan_i2v_latents.h).
 *  6. the loop of WanPipeline with the conditioned input: cat([latents,
 *     mask + condition]) (Wan 2.1 / A14B) or the TI2V first-frame blend with
 *     per-token timesteps 0 on frame 0.
 *  7. TI2V: the blend once more; de-normalise and decode.
 *
 * Intermediates (beyond WanPipeline's, family_wan.c): "clip_pixel_values",
 * "clip_resized" (when CLIP's resize changed the size), "image_embeds"
 * (1, T, D), "image_preprocessed" (1, 3, H, W), "image_resized" (when the
 * size changed), "condition", "first_frame_mask" (TI2V),
 * "transformer_hidden_states" (i), "latents_final" (TI2V). */
#include <assert.h>
#include <string.h>

#include "models/clip.h"
#include "models/image_processor.h"
#include "models/pil_resample.h"
#include "models/wan_transformer.h"
#include "models/wan_vae.h"
#include "pipeline/family_wan.h"
#include "pipeline/wan_i2v_latents.h"

enum { I2V_TEXT = 0, I2V_IMAGE, I2V_DIT, I2V_DIT2, I2V_VAE, I2V_N };

static const ff_wan_slots i2v_slots = {I2V_TEXT, I2V_IMAGE, I2V_DIT, I2V_DIT2, I2V_VAE};

static const ff_family_component i2v_components[I2V_N] = {
    {"text_encoder", &ff_comp_umt5, "tokenizer", 0},
    {"image_encoder", &ff_comp_clipvision, "image_processor", 1},
    {"transformer", &ff_comp_wandit, NULL, 0},
    {"transformer_2", &ff_comp_wandit, NULL, 1},
    {"vae", &ff_comp_wanvae, NULL, 0},
};

static const ff_family_stage i2v_stages[] = {
    {"text_encoder", FF_STAGE_TEXT, I2V_TEXT},
    {"image_encoder", FF_STAGE_IMAGE, I2V_IMAGE},
    {"vae_encode", FF_STAGE_ENCODE, I2V_VAE},
    {"transformer", FF_STAGE_DENOISE, I2V_DIT},
    {"transformer_2", FF_STAGE_DENOISE, I2V_DIT2},
    {"vae", FF_STAGE_DECODE, I2V_VAE},
};

#define I2V_TEXT_ROWS 512 /* diffusers' WanAttnProcessor: image rows = total - 512 */

static const ff_wandit_config *dit_cfg(const ff_chain *c) { return ff_chain_component_config(c, I2V_DIT); }

/* Wan 2.1 I2V / A14B take mask + condition channels, TI2V (expand_timesteps)
 * plain latents; an image branch needs its encoder. */
static ff_status i2v_check(const ff_chain *c, ff_err *err) {
    const ff_wan_state *s = ff_chain_family_state(c);
    const ff_wanvae_config *v = ff_chain_component_config(c, I2V_VAE);
    ff_status st = ff_wan_check(c, &i2v_slots, s->expand_timesteps ? 0 : v->z_dim + v->scale_factor_temporal, err);
    if (st) return st;
    const ff_wandit_config *d = dit_cfg(c);
    if (d->image_dim > 0) {
        if (!ff_chain_component_present(c, I2V_IMAGE))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: the transformer has an image branch (image_dim %d) but the folder has no image_encoder",
                              ff_chain_dir(c), d->image_dim);
        const ff_clip_config *ic = ff_chain_component_config(c, I2V_IMAGE);
        if (ic->hidden != d->image_dim)
            return ff_err_set(err, FF_ERR_SHAPE, "%s: image_dim %d, but the image encoder's hidden_size is %d",
                              ff_chain_component_dir(c, I2V_DIT), d->image_dim, ic->hidden);
    }
    if (ff_chain_component_present(c, I2V_DIT2) && ((const ff_wandit_config *)ff_chain_component_config(c, I2V_DIT2))->image_dim != d->image_dim)
        return ff_err_set(err, FF_ERR_SHAPE, "%s: transformer_2's image_dim differs from transformer's", ff_chain_dir(c));
    return FF_OK;
}

static ff_status i2v_geometry(const ff_chain *c, int64_t batch, int num_frames, int height, int width, ff_geometry *g,
                              ff_err *err) {
    return ff_wan_geometry(c, &i2v_slots, batch, num_frames, height, width, g, err);
}

static int64_t i2v_pixel_frames(const ff_chain *c, int64_t n) { return ff_wan_pixel_frames(c, &i2v_slots, n); }

/* The input picture as one (H, W, 3) U8 view. */
static ff_status image_view(const ff_chain_params *prm, ff_tensor *img, ff_err *err) {
    const ff_tensor *t = prm->image;
    if (!t) return ff_err_set(err, FF_ERR_ARG, "pipeline: WanImageToVideoPipeline needs an image");
    const int off = t->ndim == 4 ? 1 : 0;
    if (t->dtype != FF_U8 || t->loc != FF_LOC_HOST || (t->ndim != 3 && !(t->ndim == 4 && t->shape[0] == 1)) ||
        t->shape[off + 2] != 3 || t->shape[off] < 1 || t->shape[off + 1] < 1) {
        char b[96];
        return ff_err_set(err, FF_ERR_SHAPE, "pipeline: image %s is not a host U8 (H, W, 3) RGB picture",
                          ff_tensor_describe(t, b, sizeof b));
    }
    ff_tensor_view(img, FF_U8, 3, t->shape + off, t->data, FF_LOC_HOST);
    return FF_OK;
}

/* encode_image: CLIP hidden_states[-2] (1, T, D); *embeds = its repeat to B rows. */
static ff_status encode_image(ff_run *r, const ff_tensor *img, ff_tensor *embeds, ff_err *err) {
    const ff_image_encoder_ops *ops = FF_IMAGE_OPS(ff_chain_component_class(r->c, I2V_IMAGE));
    ff_comp_use u;
    ff_tensor one = {0}, pv = {0}, rs = {0};
    double t0 = ff_run_now();
    ff_status st = ff_run_progress(r, FF_STAGE_IMAGE, 0, 1, 0, 0, t0, err);
    if (st || (st = ff_run_acquire(r, I2V_IMAGE, &u, err))) return st;
    if (r->prm->on_intermediate && ops->preprocess) { /* the processor's output, for comparisons */
        if ((st = ops->preprocess(u.model, img, 1, &pv, &rs, err)) || (st = ff_run_emit(r, "clip_pixel_values", -1, &pv, err)) ||
            (rs.data && (st = ff_run_emit(r, "clip_resized", -1, &rs, err))))
            goto done;
    }
    if ((st = ops->encode(u.model, img, 1, NULL, &one, err))) goto done;
    if ((st = ff_run_emit(r, "image_embeds", -1, &one, err))) goto done;
    /* image_embeds.repeat(B, 1, 1) */
    if ((st = ff_tensor_allocv(embeds, FF_F32, err, 3, r->B, one.shape[1], one.shape[2]))) goto done;
    for (int64_t b = 0; b < r->B; b++) memcpy((char *)embeds->data + (size_t)b * ff_tensor_nbytes(&one), one.data, ff_tensor_nbytes(&one));
done:
    ff_run_release(r, &u);
    ff_tensor_free(&one);
    ff_tensor_free(&pv);
    ff_tensor_free(&rs);
    return st ? st : ff_run_progress(r, FF_STAGE_IMAGE, 1, 1, 0, 0, t0, err);
}

static void wanvae_opts(const ff_vae_opts *o, ff_wanvae_opts *w) {
    ff_wanvae_opts_default(w);
    w->tiling = o->tiling;
    w->tile_sample_min_height = o->tile_sample_min_height;
    w->tile_sample_min_width = o->tile_sample_min_width;
    w->tile_sample_stride_height = o->tile_sample_stride_height;
    w->tile_sample_stride_width = o->tile_sample_stride_width;
    w->slicing = o->slicing;
    w->tile_low_memory = o->tile_low_memory;
}

/* A time window of the video: its noise (the caller's), and the latent
 * frames [window_start, + n) of the whole video's condition (Wan 2.1 / A14B)
 * or first-frame mask (TI2V; its condition is the picture's one latent frame). */
static ff_status window_slice(ff_run *r, ff_wani2v_latents *l, ff_err *err) {
    const ff_chain_params *prm = r->prm;
    const int64_t n = r->g.latent_shape[2], s0 = prm->window_start;
    const ff_wan_state *ws = ff_chain_family_state(r->c);
    ff_tensor *t = ws->expand_timesteps ? &l->mask : &l->condition; /* TI2V: the mask carries the frames */
    if (s0 < 0 || s0 + n > t->shape[2])
        return ff_err_set(err, FF_ERR_ARG, "pipeline: window [%lld, %lld) outside the %lld latent frames of %d frames",
                          (long long)s0, (long long)(s0 + n), (long long)t->shape[2], prm->window_num_frames);
    ff_tensor sl;
    ff_status st = ff_tensor_axis_slice(t, 2, s0, n, &sl, err);
    if (st) return st;
    ff_tensor_free(t);
    *t = sl;
    return FF_OK;
}

/* video_processor.preprocess, then prepare_latents (noise first, then the
 * VAE encode of the condition): r->latents and *l. */
static ff_status prepare_latents(ff_run *r, const ff_tensor *img, ff_wani2v_latents *l, ff_err *err) {
    const ff_wan_state *ws = ff_chain_family_state(r->c);
    const ff_chain_params *prm = r->prm;
    ff_tensor pre = {0}, rs = {0};
    ff_comp_use u;
    double t0 = ff_run_now();
    ff_status st = ff_imgproc_vae_preprocess(img, r->g.height, r->g.width, r->g.spatial_factor, FF_PIL_LANCZOS, &pre, &rs, err);
    if (st) return ff_err_wrap(err, "pipeline: image: ");
    if ((st = ff_run_emit(r, "image_preprocessed", -1, &pre, err)) ||
        ((img->shape[0] != r->g.height || img->shape[1] != r->g.width) && (st = ff_run_emit(r, "image_resized", -1, &rs, err))))
        goto done;
    if ((st = ff_run_progress(r, FF_STAGE_ENCODE, 0, 1, 0, 0, t0, err)) || (st = ff_run_acquire(r, I2V_VAE, &u, err))) goto done;
    ff_wani2v_params p = {r->B, r->g.num_frames, r->g.height, r->g.width, ws->expand_timesteps, prm->seeds, prm->n_seeds,
                          prm->latents, NULL};
    const uint64_t unused_seed = 0;
    if (prm->window_num_frames > 0) { /* the whole video's condition; its noise is not used */
        p.num_frames = prm->window_num_frames, p.latents = NULL, p.seeds = &unused_seed, p.n_seeds = 1;
        if (!prm->latents) {
            st = ff_err_set(err, FF_ERR_ARG, "pipeline: a window of a video needs its latents (noise)");
            ff_run_release(r, &u);
            goto done;
        }
    }
    ff_wanvae_opts vo;
    wanvae_opts(&prm->vae, &vo);
    st = ff_wani2v_prepare_latents(u.model, &pre, &p, &vo, l, err);
    ff_run_release(r, &u);
    if (st) goto done;
    if (prm->window_num_frames > 0) { /* the window's own noise, checked against its shape */
        if ((st = window_slice(r, l, err)) || (st = ff_wan_prepare_latents(r, err))) goto done;
    } else {
        r->latents = l->latents; /* moved */
        memset(&l->latents, 0, sizeof l->latents);
    }
    if ((st = ff_run_emit(r, "latents_init", -1, &r->latents, err)) || (st = ff_run_emit(r, "condition", -1, &l->condition, err)) ||
        (ws->expand_timesteps && (st = ff_run_emit(r, "first_frame_mask", -1, &l->mask, err))))
        goto done;
    st = ff_run_progress(r, FF_STAGE_ENCODE, 1, 1, 0, 0, t0, err);
done:
    ff_tensor_free(&pre);
    ff_tensor_free(&rs);
    return st;
}

/* ---- WanImageToVideoPipeline.__call__ ------------------------------------------------------- */

static ff_status i2v_call(ff_run *r, ff_err *err) {
    const ff_wan_slots *sl = &i2v_slots;
    const ff_chain_params *prm = r->prm;
    const ff_wan_state *ws = ff_chain_family_state(r->c);
    const int image_branch = dit_cfg(r->c)->image_dim > 0;
    ff_wan_embeds pe;
    memset(&pe, 0, sizeof pe);
    ff_tensor img, embeds = {0};
    ff_wani2v_latents l;
    memset(&l, 0, sizeof l);
    ff_sched *s = NULL;
    /* 0. check inputs, sizes */
    ff_status st = image_view(prm, &img, err);
    if (st || (st = ff_wan_check_params(prm, err)) || (st = ff_wan_begin(r, sl, err))) return st;
    const int64_t text_rows = prm->prompt_embeds ? prm->prompt_embeds->shape[1] : prm->max_sequence_length;
    if (image_branch && text_rows != I2V_TEXT_ROWS)
        return ff_err_set(err, FF_ERR_ARG,
                          "pipeline: this image-to-video transformer (Wan 2.1 I2V) needs max_sequence_length %d (diffusers "
                          "splits image and text context at %d text rows), not %lld",
                          I2V_TEXT_ROWS, I2V_TEXT_ROWS, (long long)text_rows);
    /* 1. encode_prompt (or the given embeddings) */
    if ((st = ff_wan_text(r, sl, &pe, err))) goto done;
    /* 2. encode_image (only a transformer with an image branch takes it) */
    if (image_branch && (st = encode_image(r, &img, &embeds, err))) goto done;
    /* 3. timesteps */
    if ((st = ff_wan_timesteps(r, &s, err))) goto done;
    /* 4, 5. preprocess the picture, prepare_latents */
    if ((st = prepare_latents(r, &img, &l, err))) goto done;
    /* 6. denoising loop on the conditioned input */
    ff_wan_cond cond = {&l.condition, ws->expand_timesteps ? &l.mask : NULL, image_branch ? &embeds : NULL};
    if ((st = ff_wan_denoise(r, sl, s, &pe, &cond, err))) goto done;
    ff_wan_embeds_free(&pe);
    ff_tensor_free(&embeds);
    /* 7. TI2V: frame 0 is the image's latent again */
    if (ws->expand_timesteps) {
        ff_tensor fin;
        if ((st = ff_wani2v_ti2v_blend(&r->latents, &l.condition, &l.mask, &fin, err))) goto done;
        ff_tensor_free(&r->latents);
        r->latents = fin;
        if ((st = ff_run_emit(r, "latents_final", -1, &r->latents, err))) goto done;
    }
    ff_wani2v_latents_free(&l);
    st = ff_wan_finish(r, sl, err);
done:
    ff_sched_free(s);
    ff_wan_embeds_free(&pe);
    ff_tensor_free(&embeds);
    ff_wani2v_latents_free(&l);
    return st;
}

/* ---- the embedded smoke-test model ------------------------------------------------------------ */

/* Wan 2.1 I2V layout: the tiny Wan text encoder and VAE, a CLIP vision
 * encoder of 32-px images, a transformer with the image branch. */
static const char *const tiny_model_index_json =
    "{\n"
    "  \"_class_name\": \"WanImageToVideoPipeline\",\n"
    "  \"_diffusers_version\": \"0.35.0\",\n"
    "  \"_framefarm_model\": \"tiny image-to-video smoke-test model: seeded random weights, its videos are noise-like\",\n"
    "  \"_framefarm_tiny_version\": 1,\n"
    "  \"_framefarm_defaults\": {\"height\": 64, \"width\": 64, \"num_frames\": 9, \"num_inference_steps\": 4,\n"
    "    \"guidance_scale\": 5.0, \"fps\": 16},\n"
    "  \"boundary_ratio\": null,\n"
    "  \"expand_timesteps\": false,\n"
    "  \"image_encoder\": [\"transformers\", \"CLIPVisionModel\"],\n"
    "  \"image_processor\": [\"transformers\", \"CLIPImageProcessor\"],\n"
    "  \"scheduler\": [\"diffusers\", \"UniPCMultistepScheduler\"],\n"
    "  \"text_encoder\": [\"transformers\", \"UMT5EncoderModel\"],\n"
    "  \"tokenizer\": [\"transformers\", \"T5Tokenizer\"],\n"
    "  \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"],\n"
    "  \"transformer_2\": [null, null],\n"
    "  \"vae\": [\"diffusers\", \"AutoencoderKLWan\"]\n"
    "}\n";

static const char tiny_image_encoder_json[] =
    "{\n"
    "  \"architectures\": [\"CLIPVisionModel\"], \"attention_dropout\": 0.0, \"dropout\": 0.0, \"hidden_act\": \"gelu\",\n"
    "  \"hidden_size\": 32, \"image_size\": 32, \"initializer_factor\": 1.0, \"initializer_range\": 0.02,\n"
    "  \"intermediate_size\": 64, \"layer_norm_eps\": 1e-05, \"model_type\": \"clip_vision_model\",\n"
    "  \"num_attention_heads\": 2, \"num_channels\": 3, \"num_hidden_layers\": 3, \"patch_size\": 8,\n"
    "  \"projection_dim\": 24\n"
    "}\n";

static const char tiny_transformer_json[] =
    "{\n"
    "  \"_class_name\": \"WanTransformer3DModel\", \"_diffusers_version\": \"0.35.0\", \"added_kv_proj_dim\": 32,\n"
    "  \"attention_head_dim\": 16, \"cross_attn_norm\": true, \"eps\": 1e-06, \"ffn_dim\": 64, \"freq_dim\": 256,\n"
    "  \"image_dim\": 32, \"in_channels\": 12, \"num_attention_heads\": 2, \"num_layers\": 2, \"out_channels\": 4,\n"
    "  \"patch_size\": [1, 2, 2], \"pos_embed_seq_len\": null, \"qk_norm\": \"rms_norm_across_heads\",\n"
    "  \"rope_max_seq_len\": 1024, \"text_dim\": 32\n"
    "}\n";

static const char *const tiny_component_json[I2V_N] = {ff_wan_tiny_text_encoder_json, tiny_image_encoder_json,
                                                       tiny_transformer_json, NULL, ff_wan_tiny_vae_json};

/* 64x64, 9 frames, 4 steps: encode, loop and decode in seconds on a CPU. */
static const ff_tiny_spec i2v_tiny = {"tiny-i2v", 1, tiny_model_index_json, ff_wan_tiny_scheduler_json, tiny_component_json,
                                      20250301u};

const ff_family ff_family_wan_i2v = {
    .class_name = "WanImageToVideoPipeline",
    .offload_seq = "text_encoder->image_encoder->transformer->transformer_2->vae",
    .components = i2v_components,
    .n_components = I2V_N,
    .stages = i2v_stages,
    .n_stages = (int)(sizeof i2v_stages / sizeof i2v_stages[0]),
    .state_size = sizeof(ff_wan_state),
    .index_read = ff_wan_index_read,
    .check = i2v_check,
    .geometry = i2v_geometry,
    .pixel_frames = i2v_pixel_frames,
    .params_default = ff_wan_params_default,
    .call = i2v_call,
    .tiny = &i2v_tiny,
    .takes_image = 1,
};
