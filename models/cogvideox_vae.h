/* cogvideox_vae (ff_cogvae_*): the CogVideoX video VAE, diffusers'
 * AutoencoderKLCogVideoX (autoencoder_kl_cogvideox.py), on kernels/ops.h.
 *
 * Loads a diffusers vae/ folder (any config the class builds: block widths,
 * layers_per_block, latent_channels, norm groups / eps, temporal
 * compression) and runs its encoder and decoder as diffusers does:
 *  - frame batches (_encode / _decode): the decoder runs on batches of
 *    num_latent_frames_batch_size = 2 latent frames (the first batch takes
 *    2 + F % 2), the encoder on batches of num_sample_frames_batch_size = 8
 *    video frames (the first takes 8 + T % 8); each batch runs the whole
 *    coder, every causal conv carrying the last 2 frames of its padded input
 *    to the next batch (the conv cache; the first batch pads with 2 copies
 *    of its own first frame). GroupNorm statistics are those of the current
 *    batch (and tile), exactly as diffusers computes them, so batching
 *    changes the output and is reproduced, not "fixed".
 *  - spatial tiling (tiled_decode / tiled_encode: each tile over all frames
 *    with its own batches and a fresh cache, blend_v / blend_h in raster
 *    order in place, crop, concatenate) and slicing (one batch sample at a
 *    time), as enable_tiling / enable_slicing.
 * Decoding streams: each frame batch's frames go to a callback as soon as
 * they exist (untiled); the device holds one batch's activations and the
 * caches. Tiled decoding holds the decoded tiles on the HOST and blends
 * there; the device holds one tile's decode at a time.
 *
 * Memory: every activation goes through one allocator that counts bytes;
 * ff_cogvae_peak_bytes runs the same code path with the ops skipped (a dry
 * run from the config alone) and returns exactly the peak a real run
 * measures (ff_cogvae_mem_stats): the planner's VAE model.
 *
 * Not here: where weights live beyond "on the backend at load" (offload/),
 * writing videos (video/), the denoising loop (pipeline/). use_quant_conv /
 * use_post_quant_conv (no published checkpoint has them; diffusers builds
 * them with mismatched channels) are FF_ERR_UNSUPPORTED. An ff_cogvae is not
 * thread-safe (its memory counters); use one per thread.
 *
 * Ownership: ff_cogvae_load returns an ff_cogvae owning its weights on the
 * backend (the backend is borrowed and must outlive it). Host outputs are
 * owned tensors the caller frees with ff_tensor_free. */
#ifndef FF_COGVIDEOX_VAE_H
#define FF_COGVIDEOX_VAE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_rng.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/ff_param.h"

#define FF_COGVAE_MAX_BLOCKS 8

/* vae/config.json (AutoencoderKLCogVideoX.__init__ arguments, same defaults). */
typedef struct {
    int in_channels, out_channels;      /* 3, 3 */
    int latent_channels;                /* 16 */
    int n_blocks;                       /* len(block_out_channels) */
    int block_out_channels[FF_COGVAE_MAX_BLOCKS]; /* [128, 256, 256, 512] */
    int layers_per_block;               /* 3 */
    int norm_num_groups;                /* 32 */
    float norm_eps;                     /* 1e-6: encoder resnets (the decoder's spatial norms use 1e-6) */
    int temporal_compression_ratio;     /* 4 */
    int temporal_compress_level;        /* int(log2(ratio)): levels that compress time */
    int sample_height, sample_width;    /* 480, 720: default tiles are half of them */
    double scaling_factor;              /* 1.15258426 (2B), 0.7 (5B, 1.5) */
    int invert_scale_latents;           /* 1.5: image latents are divided by scaling_factor */
} ff_cogvae_config;

typedef struct ff_cogvae ff_cogvae;

ff_status ff_cogvae_config_parse(const ff_json *root, const char *what, ff_cogvae_config *cfg, ff_err *err);
ff_status ff_cogvae_config_load(const char *config_path, ff_cogvae_config *cfg, ff_err *err);

/* Every parameter (encoder, then decoder, in module order) with its stored
 * shape (conv3d (O, C, kt, kh, kw), the samplers' conv2d (O, C, 3, 3),
 * norms (C)); dtype F32, block -1; slot NULL. *out malloc'd, *n its length. */
ff_status ff_cogvae_params(const ff_cogvae_config *cfg, ff_param **out, size_t *n, ff_err *err);

/* dir: a pipeline folder (holding vae/) or the vae folder itself. Strict:
 * every parameter present with its exact shape, nothing else in the file. */
ff_status ff_cogvae_load(ff_backend *be, const char *dir, ff_cogvae **out, ff_err *err);
void ff_cogvae_free(ff_cogvae *vae); /* NULL is a no-op */
const ff_cogvae_config *ff_cogvae_config_of(const ff_cogvae *vae);

/* Per-call options: enable_tiling / enable_slicing and the frame batch sizes. */
typedef struct {
    int tiling;                        /* 0: never tile */
    int tile_sample_min_height;        /* pixels; default sample_height / 2 */
    int tile_sample_min_width;         /* default sample_width / 2 */
    double tile_overlap_factor_height; /* 1/6 */
    double tile_overlap_factor_width;  /* 1/5 */
    int slicing;                       /* 1: one batch sample at a time */
    int decode_frame_batch;            /* num_latent_frames_batch_size: 2 */
    int encode_frame_batch;            /* num_sample_frames_batch_size: 8 */
} ff_cogvae_opts;

void ff_cogvae_opts_default(const ff_cogvae_config *cfg, ff_cogvae_opts *o);

/* Output video shape of a decode of z (B, latent_channels, F, h, w) under o
 * (tiling may change H, W exactly as diffusers' crops do). */
ff_status ff_cogvae_decode_shape(const ff_cogvae_config *cfg, const int64_t z_shape[5], const ff_cogvae_opts *o,
                                 int64_t out[5], ff_err *err);
/* Latent shape (B, 2 * latent_channels, F', h', w') of an encode of video
 * (B, in_channels, T, H, W) under o (before the mean/logvar split). */
ff_status ff_cogvae_encode_shape(const ff_cogvae_config *cfg, const int64_t x_shape[5], const ff_cogvae_opts *o,
                                 int64_t out[5], ff_err *err);

/* Called with decoded frames: a host tensor (nb, out_channels, nt, H, W)
 * holding batch samples [b0, b0 + nb) and output frames [t0, t0 + nt), not
 * clamped; valid during the call only. A non-OK return stops the decode. */
typedef ff_status (*ff_cogvae_frames_fn)(void *user, int64_t b0, int64_t t0, const ff_tensor *frames, ff_err *err);

/* AutoencoderKLCogVideoX.decode(z).sample, streamed: z is a host F32
 * (B, latent_channels, F, h, w) (already multiplied by 1 / scaling_factor). */
ff_status ff_cogvae_decode_stream(ff_cogvae *vae, const ff_tensor *z, const ff_cogvae_opts *o, ff_cogvae_frames_fn fn,
                                  void *user, ff_err *err);
/* The same into *video (owned host F32 (B, out_channels, T, H, W)). */
ff_status ff_cogvae_decode(ff_cogvae *vae, const ff_tensor *z, const ff_cogvae_opts *o, ff_tensor *video, ff_err *err);

/* CogVideoXPipeline.decode_latents: z = latents (B, F, C, h, w).permute(0, 2,
 * 1, 3, 4) * float32(1 / scaling_factor) (z_out, optional: owned host), then
 * decode. */
ff_status ff_cogvae_decode_latents(ff_cogvae *vae, const ff_tensor *latents, const ff_cogvae_opts *o,
                                   ff_tensor *video, ff_tensor *z_out, ff_err *err);
/* The permute + scale of decode_latents alone (owned host out). */
ff_status ff_cogvae_latents_to_z(const ff_cogvae_config *cfg, const ff_tensor *latents, ff_tensor *z, ff_err *err);

/* AutoencoderKLCogVideoX.encode(video).latent_dist: video host F32
 * (B, in_channels, T, H, W) in [-1, 1]; *mean and *logvar (owned host
 * (B, latent_channels, F', h', w')); logvar = clamp(raw, -30, 20); logvar may
 * be NULL. mode() is mean. */
ff_status ff_cogvae_encode(ff_cogvae *vae, const ff_tensor *video, const ff_cogvae_opts *o, ff_tensor *mean,
                           ff_tensor *logvar, ff_err *err);
/* DiagonalGaussianDistribution.sample(generator): mean + exp(0.5 * logvar) *
 * randn_tensor(mean.shape, generator) (one generator, or one per sample). */
ff_status ff_cogvae_posterior_sample(const ff_tensor *mean, const ff_tensor *logvar, ff_rng *gens, size_t n_gens,
                                     ff_tensor *out, ff_err *err);
/* The pipelines' scaling of encoded latents: scaling_factor * x, or with
 * invert_scale_latents (1.5 image-to-video) float32(1 / scaling_factor) * x.
 * Owned host out. */
ff_status ff_cogvae_scale_encoded(const ff_cogvae_config *cfg, const ff_tensor *x, ff_tensor *out, ff_err *err);
/* video_processor.postprocess_video(video, 'np'): (B, C, T, H, W) ->
 * frames (B, T, H, W, C) = clamp(video / 2 + 0.5, 0, 1). */
ff_status ff_cogvae_postprocess_frames(const ff_tensor *video, ff_tensor *frames, ff_err *err);

/* Backend bytes: weights (resident since load), activations and caches of
 * the current / last run (cur, and peak since the last reset). */
typedef struct {
    size_t weight_bytes;
    size_t run_cur_bytes;
    size_t run_peak_bytes;
} ff_cogvae_mem;
void ff_cogvae_mem_stats(const ff_cogvae *vae, ff_cogvae_mem *m);
void ff_cogvae_mem_reset_peak(ff_cogvae *vae);

/* Peak backend bytes of activations and caches (weights excluded) that a
 * decode (encode = 0) or encode (encode = 1) of an input of shape x_shape
 * under o allocates: the same code run with every op skipped, so equal to
 * the run_peak_bytes a real run measures. Config alone, no weights. */
ff_status ff_cogvae_peak_bytes(const ff_cogvae_config *cfg, const int64_t x_shape[5], const ff_cogvae_opts *o,
                               int encode, size_t *bytes, ff_err *err);
/* Bytes of the weights ff_cogvae_load puts on the backend (F32). */
ff_status ff_cogvae_weight_bytes(const ff_cogvae_config *cfg, size_t *bytes, ff_err *err);

#endif
