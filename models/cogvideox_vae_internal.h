/* cogvideox_vae_internal: the module tree of AutoencoderKLCogVideoX and the
 * run state, shared by cogvideox_vae.c (config, tree, weights, public
 * helpers), cogvideox_vae_blocks.c (causal convs with the conv cache,
 * norms, resnets, samplers, one encoder / decoder pass over a frame batch)
 * and cogvideox_vae_tiling.c (frame-batch loops, tiling, blending, slicing,
 * the dry run). Internal to models/. */
#ifndef FF_COGVIDEOX_VAE_INTERNAL_H
#define FF_COGVIDEOX_VAE_INTERNAL_H

#include "models/cogvideox_vae.h"

/* CogVideoXCausalConv3d (kt > 1: causal in time with the conv cache; kt = 1:
 * a plain 1x1x1 conv), a CogVideoXSafeConv3d 1x1x1 shortcut, or a
 * sampler's nn.Conv2d stored as (O, C, 1, kh, kw). */
typedef struct {
    ff_tensor w;  /* (O, C, kt, kh, kw) */
    ff_tensor b;  /* (O) */
    int cin, cout, kt, kh, kw;
    int slot;     /* conv-cache slot (kt > 1), -1 otherwise */
} cv_conv;

/* nn.GroupNorm(groups, C, eps, affine) */
typedef struct {
    ff_tensor w, b; /* (C) */
    int c;
    float eps;
} cv_gn;

/* CogVideoXSpatialNorm3D: GroupNorm(f) * conv_y(zq) + conv_b(zq). */
typedef struct {
    cv_gn norm;          /* norm_layer (eps 1e-6) */
    cv_conv conv_y, conv_b; /* 1x1x1 from latent_channels */
} cv_snorm;

/* CogVideoXResnetBlock3D (no temb). */
typedef struct {
    int cin, cout;
    int spatial;           /* decoder: spatial norms */
    cv_gn norm1, norm2;    /* encoder */
    cv_snorm snorm1, snorm2; /* decoder */
    cv_conv conv1, conv2;
    int has_shortcut;      /* cin != cout: CogVideoXSafeConv3d 1x1x1 */
    cv_conv shortcut;
} cv_res;

/* A down block (resnets + CogVideoXDownsample3D) or an up block (resnets +
 * CogVideoXUpsample3D). */
typedef struct {
    int n_res;
    cv_res *res;
    int has_sampler;
    int compress_time;
    cv_conv sampler;       /* downsamplers.0.conv / upsamplers.0.conv */
} cv_level;

typedef struct {
    int decoder;
    cv_conv conv_in;
    cv_res mid[2];
    int n_levels;
    cv_level *levels;
    cv_gn norm_out;        /* encoder */
    cv_snorm snorm_out;    /* decoder */
    cv_conv conv_out;
    int n_slots;           /* conv-cache slots of one pass */
} cv_coder;

struct ff_cogvae {
    ff_backend *be;        /* NULL for a dry (config-only) instance */
    ff_cogvae_config cfg;
    cv_coder enc, dec;
    size_t weight_bytes;
    size_t run_cur, run_peak;
};

/* One pass over a frame batch: the cache set it reads and replaces, and
 * (decoder) the batch's latents and their resized copy for the spatial norms. */
typedef struct {
    ff_cogvae *vae;
    int dry;               /* count memory, skip every op */
    ff_tensor *cache;      /* n_slots tensors (data NULL: no cache yet) */
    int n_cache;
    const ff_tensor *z;    /* decoder: the batch latents (B, Cz, Tz, h, w) */
    ff_tensor zq;          /* z resized to zq_size (frames, H, W) */
    int64_t zq_size[3];
} cv_run;

/* ---- tree (cogvideox_vae.c) ---- */
/* Builds enc/dec from cfg with shape-only weights (data NULL). */
ff_status cogvae_build(ff_cogvae *v, ff_err *err);
void cogvae_destroy(ff_cogvae *v);
/* Every weight tensor of the tree with its checkpoint name (slot set). */
ff_status cogvae_tree_params(ff_cogvae *v, ff_param **out, size_t *n, ff_err *err);

/* ---- memory and passes (cogvideox_vae_blocks.c) ---- */
ff_status cogvae_alloc(cv_run *r, ff_tensor *t, int ndim, const int64_t *shape, ff_err *err);
void cogvae_free(cv_run *r, ff_tensor *t);
/* Host -> backend copy into a new counted tensor (shape only when dry). */
ff_status cogvae_upload(cv_run *r, const ff_tensor *host, ff_tensor *dev, ff_err *err);
void cogvae_cache_free(cv_run *r, ff_tensor *cache, int n);
/* One encoder / decoder pass on x (consumed on every return); *out new. */
ff_status cogvae_encoder_pass(cv_run *r, ff_tensor *x, ff_tensor *out, ff_err *err);
ff_status cogvae_decoder_pass(cv_run *r, ff_tensor *z, ff_tensor *out, ff_err *err);
/* Output frames of a decoder pass over T latent frames / latent frames of
 * an encoder pass over T video frames (config geometry). */
int64_t cogvae_decoded_frames(const ff_cogvae_config *cfg, int64_t T);
int64_t cogvae_encoded_frames(const ff_cogvae_config *cfg, int64_t T);
/* Spatial size after the encoder's downsamplers / the decoder's upsamplers. */
int64_t cogvae_encoded_size(const ff_cogvae_config *cfg, int64_t n);

#endif
