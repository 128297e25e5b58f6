/* hunyuan_vae_internal: the module tree of AutoencoderKLHunyuanVideo and the
 * pass context, shared by hunyuan_vae.c (config, parameters, weights, small
 * public helpers), hunyuan_vae_blocks.c (causal convs, resnets, attention,
 * samplers, the encoder and decoder passes) and hunyuan_vae_tiling.c
 * (temporal and spatial tiles, blending, slicing, the public decode /
 * encode and the peak predictions). Internal to models/. */
#ifndef FF_HUNYUAN_VAE_INTERNAL_H
#define FF_HUNYUAN_VAE_INTERNAL_H

#include "models/hunyuan_vae.h"

/* HunyuanVideoCausalConv3d (k = 3: replicate padding T 2|0, H 1|1, W 1|1,
 * then Conv3d) or a plain Conv3d with k = 1 (no padding). */
typedef struct {
    ff_tensor w; /* (O, C, k, k, k) */
    ff_tensor b; /* (O) */
    int cin, cout, k;
    int stride[3]; /* (st, sh, sw) */
} hyv_conv;

typedef struct {
    ff_tensor w, b; /* (C) GroupNorm affine */
} hyv_gn;

/* HunyuanVideoResnetBlockCausal3D. */
typedef struct {
    hyv_gn norm1, norm2;
    hyv_conv conv1, conv2;
    int has_shortcut;
    hyv_conv conv_shortcut; /* 1x1x1 when cin != cout */
} hyv_res;

/* The mid block's Attention: one head of width C, GroupNorm first,
 * frame-causal mask, residual. */
typedef struct {
    hyv_gn group_norm;
    ff_tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b; /* to_q, to_k, to_v, to_out.0: (C, C), (C) */
} hyv_attn;

/* A down block (encoder: resnets then the strided causal conv) or an up
 * block (decoder: resnets then nearest upsampling x (ft, fs, fs) and a
 * causal conv). */
typedef struct {
    int n_res;
    hyv_res *res;
    int has_sampler;
    hyv_conv sampler;  /* downsamplers.0.conv / upsamplers.0.conv */
    int ft, fs;        /* up block: temporal / spatial factor (1 or 2) */
} hyv_block;

typedef struct {
    hyv_conv conv_in;
    int n_blocks;
    hyv_block blocks[FF_HYVAE_MAX_BLOCKS];
    hyv_res mid_res0, mid_res1;
    int has_attn;
    hyv_attn mid_attn;
    hyv_gn norm_out;   /* conv_norm_out */
    hyv_conv conv_out;
} hyv_coder;

struct ff_hyvae {
    ff_backend *be;
    ff_hyvae_config cfg;
    hyv_coder enc, dec;
    hyv_conv quant_conv, post_quant_conv; /* 1x1x1 Conv3d */
    size_t weight_bytes;
    size_t run_cur, run_peak;             /* backend bytes of activations */
};

/* Builds the module tree of cfg (shapes only; weights not loaded). */
ff_status hyvae_build(const ff_hyvae_config *cfg, hyv_coder *enc, hyv_coder *dec, hyv_conv *quant,
                      hyv_conv *post_quant, ff_err *err);
void hyvae_tree_free(hyv_coder *enc, hyv_coder *dec);

/* A pass over the backend, or (dry) the same sequence of allocations
 * counted without a backend: every activation goes through hyvae_act /
 * hyvae_drop and every op through the pass's `dry` check, so a dry pass
 * reaches exactly the peak a real one does. */
typedef struct {
    ff_backend *be;   /* NULL when dry */
    const ff_hyvae_config *cfg;
    int dry;
    size_t cur, peak; /* activation bytes */
} hyv_pass;

ff_status hyvae_act(hyv_pass *p, ff_tensor *t, int ndim, const int64_t *shape, ff_err *err);
void hyvae_drop(hyv_pass *p, ff_tensor *t);

/* post_quant_conv + decoder over z (B, zc, F, h, w), consumed; *out (B, C,
 * 1 + 4(F-1), 8h, 8w). encoder + quant_conv over x (consumed); *out
 * (B, 2 zc, ...). Dry passes read only the modules' shapes. */
ff_status hyvae_decode_pass(hyv_pass *p, const hyv_coder *dec, const hyv_conv *post_quant, ff_tensor *z,
                            ff_tensor *out, ff_err *err);
ff_status hyvae_encode_pass(hyv_pass *p, const hyv_coder *enc, const hyv_conv *quant, ff_tensor *x, ff_tensor *out,
                            ff_err *err);

#endif
