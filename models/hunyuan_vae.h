/* hunyuan_vae (ff_hyvae_*): the HunyuanVideo video VAE, diffusers'
 * AutoencoderKLHunyuanVideo (autoencoder_kl_hunyuan_video.py), on
 * kernels/ops.h.
 *
 * Loads a diffusers vae/ folder (config.json + safetensors) and runs its
 * encoder and decoder. Unlike Wan's VAE this one is not frame-causal in
 * practice: every GroupNorm takes its statistics over all frames of its
 * input and the mid-block attention spans all frames (frame-causal mask),
 * so a clip is decoded in one pass per tile and tiling changes the result.
 * The options reproduce diffusers exactly:
 *  - temporal tiling (use_framewise_decoding / _encoding, ON by default):
 *    tiles of tile_sample_min_num_frames (16) sample frames every
 *    tile_sample_stride_num_frames (12), blended over the difference
 *    (HUNYUANVIDEO.md section 3), whenever a latent has more than 16/4
 *    frames (decode) or a video more than 16 frames (encode);
 *  - spatial tiling (enable_tiling): tiles of tile_sample_min_height/width
 *    pixels every tile_sample_stride_height/width, blended in raster order;
 *  - slicing (enable_slicing): one batch sample at a time.
 * Each tile runs on the backend alone; its result is downloaded and the
 * blending, cropping and assembly happen on the host in float32 exactly as
 * torch computes them. The device therefore holds one tile's pass at a time
 * (ff_hyvae_decode_peak / ff_hyvae_encode_peak predict its activation bytes
 * exactly: the same allocation sequence, counted without running).
 *
 * Not here: the pipeline's latents / scaling_factor step before decode (a
 * helper is: ff_hyvae_unscale), weight placement policy (offload/), writing
 * videos. An ff_hyvae is not thread-safe (it holds the memory counters of
 * its runs).
 *
 * Ownership: ff_hyvae_load returns a model owning its weights on the backend
 * (the backend is borrowed and must outlive it). Host outputs are owned host
 * tensors the caller frees with ff_tensor_free. */
#ifndef FF_HUNYUAN_VAE_H
#define FF_HUNYUAN_VAE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/ff_param.h"

#define FF_HYVAE_MAX_BLOCKS 8 /* len(block_out_channels) */

/* vae/config.json (AutoencoderKLHunyuanVideo.__init__ arguments, same defaults). */
typedef struct {
    int in_channels, out_channels;           /* 3, 3 */
    int latent_channels;                     /* 16 */
    int n_blocks;                            /* len(block_out_channels) = len(down/up_block_types) */
    int block_out_channels[FF_HYVAE_MAX_BLOCKS]; /* (128, 256, 512, 512) */
    int layers_per_block;                    /* 2 (decoder: + 1) */
    int norm_num_groups;                     /* 32 */
    float scaling_factor;                    /* 0.476986 (float32, as the pipeline divides by it) */
    int spatial_compression_ratio;           /* 8 */
    int temporal_compression_ratio;          /* 4 (the only value the decoder accepts) */
    int mid_block_add_attention;             /* 1 */
} ff_hyvae_config;

ff_status ff_hyvae_config_parse(const ff_json *root, const char *what, ff_hyvae_config *cfg, ff_err *err);
ff_status ff_hyvae_config_load(const char *path, ff_hyvae_config *cfg, ff_err *err);

/* Every parameter (encoder, decoder, quant_conv, post_quant_conv in module
 * order; block -1, F32) from the config alone. *out malloc'd, *n its length. */
ff_status ff_hyvae_params(const ff_hyvae_config *cfg, ff_param **out, size_t *n, ff_err *err);

typedef struct ff_hyvae ff_hyvae;

/* dir: a pipeline folder (holding vae/) or the vae folder itself. Strict:
 * every parameter present with its exact shape, no other tensor in the
 * file. Weights are uploaded to be (F32). */
ff_status ff_hyvae_load(ff_backend *be, const char *dir, ff_hyvae **out, ff_err *err);
void ff_hyvae_free(ff_hyvae *v);
const ff_hyvae_config *ff_hyvae_config_of(const ff_hyvae *v);

/* Per-call options: diffusers' attributes after __init__ / enable_tiling /
 * enable_slicing / use_framewise_*. Sizes in sample pixels and frames. */
typedef struct {
    int framewise;                     /* temporal tiling (use_framewise_decoding / _encoding); default 1 */
    int tile_sample_min_num_frames;    /* 16 */
    int tile_sample_stride_num_frames; /* 12 */
    int tiling;                        /* spatial tiling (enable_tiling); default 0 */
    int tile_sample_min_height;        /* 256 */
    int tile_sample_min_width;         /* 256 */
    int tile_sample_stride_height;     /* 192 */
    int tile_sample_stride_width;      /* 192 */
    int slicing;                       /* one batch sample at a time (enable_slicing); default 0 */
} ff_hyvae_opts;

void ff_hyvae_opts_default(ff_hyvae_opts *o);
/* FF_ERR_ARG unless every size is positive, each stride is at most its
 * tile, and the latent tile / stride (size / compression) are >= 1. */
ff_status ff_hyvae_opts_check(const ff_hyvae_config *cfg, const ff_hyvae_opts *o, ff_err *err);

/* Decoded video shape for latents (B, latent_channels, F, h, w):
 * (B, out_channels, 1 + 4 (F - 1), 8h, 8w). */
ff_status ff_hyvae_decode_shape(const ff_hyvae_config *cfg, const int64_t z_shape[5], int64_t out[5], ff_err *err);
/* Latent shape of an untiled encode of a video (B, in_channels, T, H, W):
 * (B, latent_channels, 1 + (T - 1) / 4, ceil(H / 8), ceil(W / 8)) (equal to
 * H / 8, W / 8 for the multiples of 16 the pipeline uses; diffusers' spatially
 * tiled encode crops to H // 8, W // 8). */
ff_status ff_hyvae_encode_shape(const ff_hyvae_config *cfg, const int64_t x_shape[5], int64_t out[5], ff_err *err);

/* AutoencoderKLHunyuanVideo.decode(z).sample: z host F32 (B, latent_channels,
 * F, h, w) already divided by scaling_factor; *video owned host F32
 * (B, out_channels, 1 + 4 (F - 1), 8h, 8w), NOT clamped. */
ff_status ff_hyvae_decode(ff_hyvae *v, const ff_tensor *z, const ff_hyvae_opts *o, ff_tensor *video, ff_err *err);

/* AutoencoderKLHunyuanVideo.encode(x).latent_dist: x host F32
 * (B, in_channels, T, H, W) in [-1, 1]; *mean and *logvar (logvar may be
 * NULL) owned host F32 (B, latent_channels, 1 + (T-1)/4, H/8, W/8; see
 * ff_hyvae_encode_shape), logvar clamped to [-30, 20]. mode() is the mean. */
ff_status ff_hyvae_encode(ff_hyvae *v, const ff_tensor *x, const ff_hyvae_opts *o, ff_tensor *mean,
                          ff_tensor *logvar, ff_err *err);

/* One decode / encode pass of a tile as each temporal or spatial tile is
 * decoded: post_quant_conv + decoder (encoder + quant_conv) over all frames
 * of z (x) at once, no tiling. For tests and for callers that tile
 * themselves. Same host conventions as above. */
ff_status ff_hyvae_decode_tile(ff_hyvae *v, const ff_tensor *z, ff_tensor *video, ff_err *err);
ff_status ff_hyvae_encode_tile(ff_hyvae *v, const ff_tensor *x, ff_tensor *h, ff_err *err); /* h: (B, 2z, ...) */

/* The pipeline's decode input: latents / float32(scaling_factor) (host in,
 * owned host out). */
ff_status ff_hyvae_unscale(const ff_hyvae_config *cfg, const ff_tensor *latents, ff_tensor *out, ff_err *err);
/* video_processor.postprocess_video(video, 'np'): (B, C, T, H, W) ->
 * frames (B, T, H, W, C) = clamp(video * 0.5 + 0.5, 0, 1). */
ff_status ff_hyvae_postprocess_frames(const ff_tensor *video, ff_tensor *frames, ff_err *err);

/* Backend bytes: weights (resident) and the activations of runs (current,
 * and peak since the last reset). */
typedef struct {
    size_t weight_bytes;
    size_t run_cur_bytes;
    size_t run_peak_bytes;
} ff_hyvae_mem;
void ff_hyvae_mem_stats(const ff_hyvae *v, ff_hyvae_mem *m);
void ff_hyvae_mem_reset_peak(ff_hyvae *v);

/* Weight bytes (F32) from the config alone. */
ff_status ff_hyvae_weight_bytes(const ff_hyvae_config *cfg, size_t *bytes, ff_err *err);
/* The activation peak ff_hyvae_decode / ff_hyvae_encode reach on the
 * backend for this input shape and these options (weights excluded): the
 * same allocation sequence as the runs, counted without running; equal to
 * run_peak_bytes of a run from a reset (tests/models). For the planner. */
ff_status ff_hyvae_decode_peak(const ff_hyvae_config *cfg, const ff_hyvae_opts *o, const int64_t z_shape[5],
                               size_t *bytes, ff_err *err);
ff_status ff_hyvae_encode_peak(const ff_hyvae_config *cfg, const ff_hyvae_opts *o, const int64_t x_shape[5],
                               size_t *bytes, ff_err *err);

#endif
