/* wan_vae: the Wan 2.1 / 2.2 video VAE (diffusers AutoencoderKLWan).
 *
 * Loads a diffusers vae/ folder (config.json + safetensors, any config the
 * class accepts: base_dim, decoder_base_dim, z_dim, dim_mult,
 * num_res_blocks, attn_scales, temperal_downsample, is_residual,
 * patch_size, in/out channels, scale factors) and runs its encoder and
 * decoder on a backend through kernels/ops.h only.
 *
 * Decoding is temporally chunked as in diffusers' _decode: one latent frame
 * at a time (the first one alone, first_chunk=True), every causal conv
 * keeping the last CACHE_T = 2 input frames of the previous chunk in a
 * feature cache, so device memory does not grow with video length. The
 * streaming API hands each decoded chunk (1 frame for latent frame 0,
 * 2^k frames for later ones) to a callback as soon as it exists. Encoding
 * is chunked the same way (frame 0 alone, then chunks of 4 frames).
 * Spatial tiling (diffusers' tiled_decode / tiled_encode, with the same
 * blending) and slicing (one batch sample at a time) are per-call options.
 * Tiled streaming keeps one feature cache per tile and blends each chunk's
 * tiles as soon as they are decoded: per-frame the same arithmetic as
 * diffusers, which decodes every tile over all frames first. Trade-off: the
 * caches of all tiles are resident at once (about (min/stride)^2 times one
 * full-frame cache), in exchange for output that streams and device memory
 * that does not grow with the number of frames. ff_wanvae_opts.tile_low_memory
 * selects diffusers' order instead (tiles outer, frames inner, decoded tile
 * frames held on the host, blended at the end): the device peak of one tile.
 *
 * Not here: where weights live (offload/), writing videos (video/), the
 * denoising loop (pipeline/). An ff_vae is not thread-safe (it holds the
 * memory counters of its runs); use one per thread.
 *
 * Ownership: ff_wanvae_load returns an ff_vae owning its weights on the
 * backend (the backend itself is borrowed and must outlive it). Output
 * tensors of the host-side API are owned host tensors the caller frees with
 * ff_tensor_free. */
#ifndef FF_WAN_VAE_H
#define FF_WAN_VAE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"

#define FF_WANVAE_MAX_LEVELS 8   /* len(dim_mult) */
#define FF_WANVAE_MAX_Z 256      /* z_dim, len(latents_mean/std) */

/* vae/config.json (AutoencoderKLWan.__init__ arguments, same defaults). */
typedef struct {
    int base_dim;                                /* 96 */
    int decoder_base_dim;                        /* null -> base_dim */
    int z_dim;                                   /* 16 */
    int n_levels;                                /* len(dim_mult) */
    int dim_mult[FF_WANVAE_MAX_LEVELS];             /* [1, 2, 4, 4] */
    int num_res_blocks;                          /* 2 */
    int n_attn_scales;
    double attn_scales[FF_WANVAE_MAX_LEVELS * 2];   /* [] */
    int n_temperal;                              /* len(temperal_downsample) */
    int temperal_downsample[FF_WANVAE_MAX_LEVELS];  /* [false, true, true] */
    int is_residual;                             /* Wan 2.2: residual down/up blocks */
    int in_channels, out_channels;               /* 3, 3: encoder input / decoder output channels after
                                                    patchify (Wan 2.2: 12 = 3 video channels * 2 * 2) */
    int patch_size;                              /* null -> 1 (no patchify) */
    int scale_factor_temporal;                   /* 4 */
    int scale_factor_spatial;                    /* 8: diffusers' spatial_compression_ratio (tiling) */
    int n_latents_mean, n_latents_std;
    float latents_mean[FF_WANVAE_MAX_Z];
    float latents_std[FF_WANVAE_MAX_Z];
} ff_wanvae_config;

typedef struct ff_vae ff_vae;

/* Parses a vae config.json (path names the file in errors). Rejects values
 * the diffusers class cannot build (e.g. temperal_downsample shorter than
 * len(dim_mult) - 1, non-positive dims). */
ff_status ff_wanvae_config_load(const char *config_path, ff_wanvae_config *cfg, ff_err *err);

/* dir: a pipeline folder (holding vae/) or the vae folder itself. Every
 * weight is checked against the shape the config implies. */
ff_status ff_wanvae_load(ff_backend *be, const char *dir, ff_vae **out, ff_err *err);
void ff_wanvae_free(ff_vae *vae);
const ff_wanvae_config *ff_wanvae_config_of(const ff_vae *vae);

/* Per-call options (diffusers enable_tiling / enable_slicing). */
typedef struct {
    int tiling;                 /* 0: never tile */
    int tile_sample_min_height; /* pixels; 256 */
    int tile_sample_min_width;  /* 256 */
    int tile_sample_stride_height; /* 192 */
    int tile_sample_stride_width;  /* 192 */
    int slicing;                /* 1: batch samples one at a time */
    int tile_low_memory;        /* tiling only. 0: frames outer, tiles inner (every tile's feature cache
                                   resident, output streams chunk by chunk); 1: tiles outer, frames inner as
                                   diffusers' tiled_decode (one tile decoded over all frames with a fresh cache,
                                   its frames kept on the HOST; tiles blended and emitted at the end): device
                                   peak of one tile, host memory of the whole decoded video. Same output bits. */
} ff_wanvae_opts;

void ff_wanvae_opts_default(ff_wanvae_opts *o);

/* Called once per decoded chunk: frames is a host tensor (nb, C, nt, H, W)
 * holding batch samples [b0, b0 + nb) and output frames [t0, t0 + nt),
 * already unpatchified and clamped to [-1, 1]. frames is only valid during
 * the call. A non-OK return stops the decode and is passed through. */
typedef ff_status (*ff_wanvae_frames_fn)(void *user, int64_t b0, int64_t t0, const ff_tensor *frames, ff_err *err);

/* Output video shape for latents (B, z, F, h, w): (B, out_channels / p^2, T, H, W). */
ff_status ff_wanvae_decode_shape(const ff_vae *vae, const ff_tensor *z, int64_t shape[5], ff_err *err);

/* Streaming decode of de-normalised latents z (host F32 (B, z_dim, F, h, w)). */
ff_status ff_wanvae_decode_stream(ff_vae *vae, const ff_tensor *z, const ff_wanvae_opts *o, ff_wanvae_frames_fn fn,
                               void *user, ff_err *err);
/* Whole-video decode into *video (owned host F32 (B, C, T, H, W)). */
ff_status ff_wanvae_decode(ff_vae *vae, const ff_tensor *z, const ff_wanvae_opts *o, ff_tensor *video, ff_err *err);

/* Encode video (host F32 (B, in_channels / p^2, T, H, W), values in [-1, 1]):
 * *mean and *logvar (owned host (B, z_dim, 1 + (T-1)/4, h, w)); logvar is
 * clamp(raw, -30, 20) as DiagonalGaussianDistribution; logvar may be NULL.
 * mode() of the posterior is mean. */
ff_status ff_wanvae_encode(ff_vae *vae, const ff_tensor *video, const ff_wanvae_opts *o, ff_tensor *mean,
                        ff_tensor *logvar, ff_err *err);

/* WanPipeline's de-normalisation before decode (host in, owned host out):
 * z = latents / float32(1 / float32(std_c)) + mean_c. */
ff_status ff_wanvae_denormalize(ff_vae *vae, const ff_tensor *latents, ff_tensor *out, ff_err *err);
/* Normalisation after encode (WanVideoToVideoPipeline):
 * (x - mean_c) * float32(1 / float32(std_c)). */
ff_status ff_wanvae_normalize(ff_vae *vae, const ff_tensor *x, ff_tensor *out, ff_err *err);
/* video_processor.postprocess_video(video, 'np'): (B, C, T, H, W) in [-1, 1]
 * -> frames (B, T, H, W, C) = clamp(video * 0.5 + 0.5, 0, 1). */
ff_status ff_wanvae_postprocess_frames(ff_vae *vae, const ff_tensor *video, ff_tensor *frames, ff_err *err);

/* Backend bytes this VAE allocated: weights (resident), activations and
 * caches of the current/last run (cur, and peak since the last reset). */
typedef struct {
    size_t weight_bytes;
    size_t run_cur_bytes;
    size_t run_peak_bytes;
} ff_wanvae_mem;
void ff_wanvae_mem_stats(const ff_vae *vae, ff_wanvae_mem *m);
void ff_wanvae_mem_reset_peak(ff_vae *vae);

#endif
