/* wan_vae_internal: the module tree of AutoencoderKLWan and the run state,
 * shared by wan_vae.c (config, weights, public API), wan_vae_blocks.c
 * (causal convs with feature cache, blocks, encoder/decoder chunk passes)
 * and wan_vae_tiling.c (chunk loops, tiling, blending, slicing). Internal to
 * models/. */
#ifndef FF_WAN_VAE_INTERNAL_H
#define FF_WAN_VAE_INTERNAL_H

#include "models/wan_vae.h"

#define VAE_CACHE_T 2 /* diffusers CACHE_T */

/* WanCausalConv3d (or an nn.Conv2d stored as a (O, C, 1, kh, kw) conv3d). */
typedef struct {
    ff_tensor w; /* (O, C, kt, kh, kw) */
    ff_tensor b; /* (O) */
    int cin, cout, kt, kh, kw;
    int stride[3];         /* (st, sh, sw) */
    int pad_t, pad_h, pad_w; /* causal: pad_t zero frames in front (2 * padding[0]), none after */
} vae_conv;

/* WanRMS_norm: gamma (C), scale sqrt(C), bias 0. */
typedef struct {
    ff_tensor gamma; /* (C) */
    int dim;
} vae_norm;

/* WanResidualBlock. */
typedef struct {
    vae_norm norm1, norm2;
    vae_conv conv1, conv2;
    int has_shortcut;
    vae_conv conv_shortcut; /* 1x1x1 when in_dim != out_dim */
} vae_res;

/* WanAttentionBlock: single head over H*W tokens of each frame. */
typedef struct {
    vae_norm norm;
    ff_tensor qkv_w; /* (3C, C) */
    ff_tensor qkv_b; /* (3C) */
    ff_tensor proj_w; /* (C, C) */
    ff_tensor proj_b; /* (C) */
    int dim;
} vae_attn;

typedef enum { RS_UP2D, RS_UP3D, RS_DOWN2D, RS_DOWN3D } vae_rs_mode;

/* WanResample: resample.1 (3x3 conv2d) + time_conv for the 3d modes. */
typedef struct {
    vae_rs_mode mode;
    int dim, out_dim;
    vae_conv resample; /* (out_dim, dim, 1, 3, 3) */
    vae_conv time_conv; /* up3d: (2*dim, dim, 3, 1, 1); down3d: (dim, dim, 3, 1, 1) stride 2 */
} vae_resample;

/* AvgDown3D / DupUp3D parameters (no weights). */
typedef struct {
    int present;
    int cin, cout, ft, fs;
} vae_shortcut;

/* One resolution level of the encoder (down) or decoder (up):
 *  2.1 encoder: n_res x (WanResidualBlock [+ WanAttentionBlock]) then a
 *               WanResample (flattened into encoder.down_blocks.N);
 *  2.2 encoder: WanResidualDownBlock (resnets, downsampler, AvgDown3D);
 *  2.1 decoder: WanUpBlock (resnets, upsamplers.0);
 *  2.2 decoder: WanResidualUpBlock (resnets, upsampler, DupUp3D). */
typedef struct {
    int n_res;
    vae_res *res;      /* n_res */
    vae_attn **attn;   /* n_res entries, NULL where no attention follows */
    int has_resample;
    vae_resample rs;
    vae_shortcut sc;   /* AvgDown3D (encoder) / DupUp3D (decoder) */
} vae_level;

typedef struct {
    vae_res res0, res1;
    vae_attn attn;
} vae_mid;

typedef struct {
    vae_conv conv_in;
    int n_levels;
    vae_level *levels;
    vae_mid mid;
    vae_norm norm_out;
    vae_conv conv_out;
    int n_slots; /* feature-cache slots one chunk pass uses */
} vae_coder;

struct ff_vae {
    ff_backend *be;
    ff_wanvae_config cfg;
    char dir[4096];
    vae_coder enc, dec;
    vae_conv quant_conv, post_quant_conv; /* 1x1x1 */
    size_t weight_bytes;
    size_t run_cur, run_peak; /* backend bytes of activations and caches */
};

/* Feature-cache slot (diffusers feat_cache[idx]): None, "Rep" or a tensor. */
typedef enum { CACHE_NONE = 0, CACHE_REP, CACHE_TENSOR } vae_cache_state;
typedef struct {
    vae_cache_state state;
    ff_tensor t; /* (B, C, <=2, H, W) on the backend */
} vae_cache;

/* One chunk pass: the slots of one cache set and feat_idx. */
typedef struct {
    ff_vae *vae;
    vae_cache *slots;
    int n_slots;
    int idx;
} vae_run;

/* ---- memory (wan_vae_blocks.c): every activation goes through these ---- */
ff_status wanvae_alloc(ff_vae *v, ff_tensor *t, int ndim, const int64_t *shape, ff_err *err);
void wanvae_free(ff_vae *v, ff_tensor *t);
ff_status wanvae_upload_new(ff_vae *v, const ff_tensor *host, ff_tensor *dev, ff_err *err);
void wanvae_cache_set_free(ff_vae *v, vae_cache *slots, int n);

/* ---- chunk passes (wan_vae_blocks.c) ----
 * x is consumed (freed) on every return; on success *out is a new tensor. */
ff_status wanvae_decoder_chunk(vae_run *r, ff_tensor *x, int first_chunk, ff_tensor *out, ff_err *err);
ff_status wanvae_encoder_chunk(vae_run *r, ff_tensor *x, ff_tensor *out, ff_err *err);
/* 1x1x1 conv without cache (quant_conv / post_quant_conv). */
ff_status wanvae_conv_plain(ff_vae *v, const vae_conv *c, const ff_tensor *x, ff_tensor *out, ff_err *err);
/* (B, C, F, H, W) -> (B, C*p*p, F, H/p, W/p), channel c*p*p + pw*p + ph; and back. */
ff_status wanvae_patchify(ff_vae *v, const ff_tensor *x, int p, ff_tensor *out, ff_err *err);
ff_status wanvae_unpatchify(ff_vae *v, const ff_tensor *x, int p, ff_tensor *out, ff_err *err);

/* ---- host helpers (wan_vae_tiling.c) ---- */
/* Copies x[:, :, t0:t0+nt, h0:h0+nh, w0:w0+nw] of a host 5-D tensor into a
 * new owned host tensor (a copy, no math). */
ff_status wanvae_host_crop(const ff_tensor *x, int64_t b0, int64_t nb, int64_t t0, int64_t nt, int64_t h0, int64_t nh,
                        int64_t w0, int64_t nw, ff_tensor *out, ff_err *err);


/* Shared by the tiled decode (wan_vae_tiling.c) and the distributed one
 * (wan_vae_dist.c), so both blend exactly alike. Device tensors of v's
 * backend; outputs allocated with wanvae_alloc. */
/* out = x[..., start : start + len, ...] along axis. */
ff_status wanvae_dev_slice(ff_vae *v, const ff_tensor *x, int axis, int64_t start, int64_t len, ff_tensor *out,
                        ff_err *err);
/* Concatenation of n tensors (consumed when n == 1: taken over). */
ff_status wanvae_dev_concat(ff_vae *v, ff_tensor *xs, int n, int axis, ff_tensor *out, ff_err *err);
/* Keeps x[..., :len] along axis (replaces *x). */
ff_status wanvae_dev_crop(ff_vae *v, ff_tensor *x, int axis, int64_t len, ff_err *err);
/* diffusers blend_v (axis 3) / blend_h (axis 4) of a into the start of b. */
ff_status wanvae_blend(ff_vae *v, const ff_tensor *a, ff_tensor *b, int axis, int64_t extent, ff_err *err);
/* Blends an ni x nj grid of tiles (raster order, consumed), crops each to
 * (sh, sw), concatenates and crops to (full_h, full_w). */
ff_status wanvae_blend_grid(ff_vae *v, ff_tensor *tiles, int ni, int nj, int64_t blend_h, int64_t blend_w, int64_t sh,
                         int64_t sw, int64_t full_h, int64_t full_w, ff_tensor *out, ff_err *err);
/* Latent frame k of tile (h0, nh, w0, nw) of z (host) through post_quant_conv
 * and one decoder chunk pass on the cache set slots. */
ff_status wanvae_decode_frame(ff_vae *v, const ff_tensor *z, int64_t k, int64_t h0, int64_t nh, int64_t w0, int64_t nw,
                           vae_cache *slots, ff_tensor *out, ff_err *err);

#endif
