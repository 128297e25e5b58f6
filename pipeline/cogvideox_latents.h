/* cogvideox_latents (ff_coglat_*): the latent geometry and initial noise of
 * diffusers' CogVideoXPipeline (pipeline_cogvideox.py: __call__'s frame
 * padding, prepare_latents, the final `latents[:, additional_frames:]`).
 *
 * Layout: pipeline latents are (B, F, C, h, w), frames BEFORE channels (the
 * transformer and the schedulers use it; the VAE takes (B, C, F, h, w), see
 * models/cogvideox_vae.h ff_cogvae_decode_latents). F = (num_frames - 1) //
 * vae_scale_factor_temporal + 1, h = height // 8, w = width // 8.
 * CogVideoX 1.5 (transformer patch_size_t = p_t): when F % p_t != 0 the
 * pipeline adds additional_frames = p_t - F % p_t latent frames (num_frames
 * += 4 * additional_frames before prepare_latents): extra noise frames at the
 * START, dropped before decoding.
 *
 * The noise is randn_tensor(shape, generator) * init_noise_sigma: one
 * generator draws the whole tensor, or a list draws sample b with generator
 * b (core/ff_rng.h); the generators advance, so the same ones can go on to
 * CogVideoXDPMScheduler (pipeline/scheduler_cogvideox.h), as in diffusers.
 *
 * Not here: the denoising loop, the family table. Host tensors only. */
#ifndef FF_COGVIDEOX_LATENTS_H
#define FF_COGVIDEOX_LATENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_rng.h"
#include "core/ff_tensor.h"

typedef struct {
    int64_t num_frames;        /* as requested */
    int64_t latent_frames;     /* (num_frames - 1) // st + 1: the frames decoded */
    int64_t additional_frames; /* 1.5 padding frames at the start (0 otherwise) */
    int64_t frames;            /* latent_frames + additional_frames: the frames denoised */
    int64_t prepare_num_frames; /* num_frames + st * additional_frames, as passed to prepare_latents */
    int64_t height, width;     /* latent h = height // ss, w = width // ss */
    int64_t output_frames;     /* video frames the VAE decodes from latent_frames */
} ff_coglat_geometry;

/* Geometry of a CogVideoXPipeline call: patch_size_t 0 when the transformer
 * has none (1.0), vae_t / vae_s the VAE's temporal / spatial factors (4, 8).
 * FF_ERR_ARG for sizes the pipeline cannot run (num_frames < 1, height or
 * width below one latent pixel). */
ff_status ff_coglat_geometry_of(int64_t num_frames, int64_t height, int64_t width, int patch_size_t, int vae_t,
                                int vae_s, ff_coglat_geometry *g, ff_err *err);

/* prepare_latents(B, C, g->prepare_num_frames, height, width, generator):
 * *out an owned host F32 (B, g->frames, C, g->height, g->width) tensor =
 * randn_tensor * float32(init_noise_sigma). n_gens == 1 or n_gens == B; the
 * generators advance by the draw. */
ff_status ff_coglat_prepare(ff_rng *gens, size_t n_gens, int64_t batch, int64_t channels, const ff_coglat_geometry *g,
                            double init_noise_sigma, ff_tensor *out, ff_err *err);

/* diffusers randn_tensor(shape, generator) into t (F32 host) with existing
 * generators (one, or one per t->shape[0] sample); they advance. */
ff_status ff_coglat_randn(ff_rng *gens, size_t n_gens, ff_tensor *t, ff_err *err);

/* latents[:, additional_frames:] of (B, F, C, h, w): *out owned host tensor. */
ff_status ff_coglat_drop_padding(const ff_tensor *latents, int64_t additional_frames, ff_tensor *out, ff_err *err);

#endif
