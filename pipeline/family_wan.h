/* family_wan (ff_wan_*): the stages of diffusers' WanPipeline.__call__
 * (pipeline/family_wan.c) that WanImageToVideoPipeline
 * (pipeline/family_wan_i2v.c) runs too — pipeline_wan_i2v.py copies them
 * from pipeline_wan.py, so framefarm calls them instead of copying: the
 * model_index fields, the component checks and geometry, check_inputs,
 * encode_prompt, the timesteps, the denoising loop (expert by boundary,
 * CFG, step hook, scheduler step) with the image-to-video conditioning of
 * the transformer input, and the end (decode or hand the latents over).
 *
 * The two tables order their components differently (the I2V one has an
 * image encoder), so every function takes the component indices
 * (ff_wan_slots). For the Wan family files only; everyone else goes
 * through pipeline/chain.h. */
#ifndef FF_FAMILY_WAN_H
#define FF_FAMILY_WAN_H

#include "pipeline/family.h"

/* Component indices in a Wan family table (-1: the table has none). */
typedef struct {
    int text, image, dit, dit2, vae;
} ff_wan_slots;

/* model_index.json fields shared by WanPipeline and WanImageToVideoPipeline */
typedef struct {
    int has_boundary;
    double boundary_ratio;
    int expand_timesteps;
} ff_wan_state;

ff_status ff_wan_index_read(ff_chain *c, const ff_json *idx, void *state, ff_err *err);

/* The components fit together. extra_in: transformer input channels beyond
 * the VAE's z_dim (0 for text to video and TI2V, 4 + z_dim for Wan 2.1 I2V
 * / A14B: mask + condition latents). */
ff_status ff_wan_check(const ff_chain *c, const ff_wan_slots *sl, int extra_in, ff_err *err);

/* check_inputs' sizes and the rounding of both pipelines; latent_shape is
 * the noise (B, z, F, h, w). */
ff_status ff_wan_geometry(const ff_chain *c, const ff_wan_slots *sl, int64_t batch, int num_frames, int height, int width,
                          ff_geometry *g, ff_err *err);
int64_t ff_wan_pixel_frames(const ff_chain *c, const ff_wan_slots *sl, int64_t n);
void ff_wan_params_default(ff_chain_params *p);

/* check_inputs on prompts, embeddings, seeds, counts (not the image). */
ff_status ff_wan_check_params(const ff_chain_params *prm, ff_err *err);

typedef struct {
    ff_tensor prompt_embeds, negative_prompt_embeds; /* host F32 (B, L, D) */
} ff_wan_embeds;
void ff_wan_embeds_free(ff_wan_embeds *e);

/* Batch, CFG, geometry (with diffusers' rounding warnings) into r. */
ff_status ff_wan_begin(ff_run *r, const ff_wan_slots *sl, ff_err *err);
/* encode_prompt (or the given embeddings), emitted as intermediates. */
ff_status ff_wan_text(ff_run *r, const ff_wan_slots *sl, ff_wan_embeds *pe, ff_err *err);
/* scheduler.set_timesteps(N): *s owned by the caller (ff_sched_free); emits "timesteps". */
ff_status ff_wan_timesteps(ff_run *r, ff_sched **s, ff_err *err);
/* prepare_latents of WanPipeline: randn (B, z, F, h, w) into r->latents, or the given ones. */
ff_status ff_wan_prepare_latents(ff_run *r, ff_err *err);

/* Image-to-video conditioning of the transformer input (all NULL: text to
 * video). */
typedef struct {
    /* Wan 2.1 I2V / A14B: x = cat([latents, condition], dim 1), condition
       (B, 4 + z, F, h, w). TI2V (mask set): x = (1 - mask) * condition +
       mask * latents, condition (B, z, 1, h, w), mask (1, 1, F, h, w), and
       the per-token timesteps are mask * t (0 on frame 0's tokens). */
    const ff_tensor *condition;
    const ff_tensor *mask;
    const ff_tensor *image_embeds; /* host F32 (B, T, D): encoder_hidden_states_image, or NULL */
} ff_wan_cond;

/* The denoising loop over r->latents. Intermediates per step i:
 * "transformer_hidden_states" (with cond: the transformer's input x),
 * "transformer_timestep", "expert_index", "noise_pred_cond",
 * "noise_pred_uncond", "latents". cond may be NULL. */
ff_status ff_wan_denoise(ff_run *r, const ff_wan_slots *sl, ff_sched *s, const ff_wan_embeds *pe, const ff_wan_cond *cond,
                         ff_err *err);

/* output_type='latent' (prm->out_latents: r->latents moved there), else the
 * VAE decode stage of r->latents. */
ff_status ff_wan_finish(ff_run *r, const ff_wan_slots *sl, ff_err *err);

/* The tiny smoke-test model's texts the Wan families share (UniPC, the
 * UMT5 text encoder, the Wan 2.1 VAE at base_dim 8, z_dim 4). */
extern const char ff_wan_tiny_scheduler_json[];
extern const char ff_wan_tiny_text_encoder_json[];
extern const char ff_wan_tiny_vae_json[];

#endif
