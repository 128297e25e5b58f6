/* wan_i2v_latents (ff_wani2v_*): the image-conditioning tensors of diffusers'
 * WanImageToVideoPipeline, for the I2V family table to call: encode_image
 * (Wan 2.1 I2V's CLIP embeddings), prepare_latents (noise, VAE-encoded
 * condition, mask) and the per-step transformer inputs built from them. See
 * shared/golden/I2V.md "CLIP preprocessing", "Condition latents" and
 * "Pipeline".
 *
 *  Wan 2.1 I2V / Wan 2.2 I2V-A14B (expand_timesteps false):
 *    latents  = randn_tensor((B, z, F, h, w), generator) — drawn BEFORE the
 *               encode, F = (num_frames - 1) / T + 1 (T = scale_factor_temporal);
 *    video    = [image, zeros x (num_frames - 1)] (with last_image, FLF2V:
 *               [image, zeros x (num_frames - 2), last_image]) in pixel space;
 *    raw      = vae.encode(video).mode() (1, z, F, h, w), normalised
 *               (raw - mean_c) * float32(1 / std_c), repeated to B rows;
 *    mask     = (B, T, F, h, w): channel j of latent frame f is pixel frame
 *               m[T f + j] of [frame 0 repeated T times, frames 1..] with
 *               m = 1 on the conditioning frame(s), 0 elsewhere — all T
 *               channels 1 on latent frame 0 (and channel T-1 of the last
 *               latent frame with last_image);
 *    condition = cat([mask, normalised latent], dim 1) (B, T + z, F, h, w);
 *    per step: transformer input cat([latents, condition], dim 1), timestep t.
 *  Wan 2.2 TI2V image mode (expand_timesteps true):
 *    raw = vae.encode(image as ONE frame).mode() (1, z, 1, h, w), normalised,
 *    repeated: condition (B, z, 1, h, w); first_frame_mask (1, 1, F, h, w) =
 *    0 on latent frame 0, 1 elsewhere;
 *    per step: input (1 - mask) * condition + mask * latents (float32, frame
 *    0 = the image latent), timestep per token (mask[0, 0][:, ::2, ::2] * t)
 *    flattened and expanded to (B, seq_len): 0 on frame 0's tokens; after the
 *    loop the same blend gives the latents to decode.
 *
 * All tensors here are host F32 (the VAE encode runs on the VAE's backend).
 * Not here: the VAE-path image preprocessing (models/image_processor.h),
 * the loop, CFG, expert choice (the family table). */
#ifndef FF_WAN_I2V_LATENTS_H
#define FF_WAN_I2V_LATENTS_H

#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "models/clip.h"
#include "models/image_processor.h"
#include "models/wan_vae.h"

/* WanImageToVideoPipeline.encode_image: CLIPImageProcessor (proc) on each
 * of n host U8 (H, W, 3) images, stacked, then
 * image_encoder(pixel_values, output_hidden_states=True).hidden_states[-2]
 * (the last layer is not run) -> *image_embeds owned host F32 (n, T, D).
 * The pipeline passes image_embeds.repeat(B, 1, 1) to the transformer
 * (first-last-frame: n = 2, the transformer pairs them). pixel_values (may
 * be NULL): the owned (n, 3, S, S) processor output. hooks as
 * ff_clip_vision_forward. */
ff_status ff_wani2v_encode_image(ff_clip_model *image_encoder, ff_backend *be, const ff_imgproc_clip_config *proc,
                                 const ff_tensor *images, int n, const ff_clip_hooks *hooks, ff_tensor *image_embeds,
                                 ff_tensor *pixel_values, ff_err *err);

typedef struct {
    int64_t batch;              /* B (prompts x videos per prompt) */
    int num_frames;             /* already rounded: (num_frames - 1) % scale_factor_temporal == 0 */
    int height, width;          /* pixels, multiples of the VAE's scale_factor_spatial */
    int expand_timesteps;       /* model_index.json: Wan 2.2 TI2V image mode */
    const uint64_t *seeds;      /* randn_tensor generators: 1, or one per sample */
    int n_seeds;
    const ff_tensor *latents;   /* optional (B, z, F, h, w): used instead of drawing noise (borrowed) */
    const ff_tensor *last_image;/* optional (1, 3, H, W) preprocessed last frame (first-last-frame models) */
} ff_wani2v_params;

typedef struct {
    ff_tensor latents;               /* (B, z, F, h, w) */
    ff_tensor condition;             /* (B, T + z, F, h, w); TI2V: (B, z, 1, h, w) = latent_condition */
    ff_tensor mask;                  /* (B, T, F, h, w); TI2V: first_frame_mask (1, 1, F, h, w) */
    ff_tensor latent_condition;      /* normalised, (B, z, F | 1, h, w) */
    ff_tensor latent_condition_raw;  /* vae.encode(...).mode(), (1, z, F | 1, h, w) */
} ff_wani2v_latents;

/* WanImageToVideoPipeline.prepare_latents. image: host F32 (1, 3, H, W) in
 * [-1, 1] (ff_imgproc_vae_preprocess of the input picture, H = height,
 * W = width). vae_opts NULL: untiled, unsliced. Every tensor of *out is
 * owned (ff_wani2v_latents_free). Errors name the mismatched size. */
ff_status ff_wani2v_prepare_latents(ff_vae *vae, const ff_tensor *image, const ff_wani2v_params *p,
                                    const ff_wanvae_opts *vae_opts, ff_wani2v_latents *out, ff_err *err);
void ff_wani2v_latents_free(ff_wani2v_latents *l);

/* Wan 2.1 / A14B step input: cat([latents (B, z, F, h, w), condition
 * (B, c, F, h, w)], dim 1) -> owned (B, z + c, F, h, w). */
ff_status ff_wani2v_model_input(const ff_tensor *latents, const ff_tensor *condition, ff_tensor *out, ff_err *err);

/* TI2V blend (1 - mask) * condition + mask * latents: latents (B, z, F, h,
 * w), condition (B, z, 1, h, w), mask (1, 1, F, h, w) -> owned (B, z, F, h, w). */
ff_status ff_wani2v_ti2v_blend(const ff_tensor *latents, const ff_tensor *condition, const ff_tensor *mask,
                               ff_tensor *out, ff_err *err);

/* TI2V per-token timesteps: (mask[0, 0][:, ::2, ::2] * float32(t)).flatten()
 * expanded to B rows -> owned F32 (B, F * ceil(h/2) * ceil(w/2)) (the stride
 * 2 is diffusers' hard-coded spatial patch of every Wan 2.2 TI2V model). */
ff_status ff_wani2v_ti2v_timesteps(const ff_tensor *mask, float t, int64_t B, ff_tensor *out, ff_err *err);

#endif
