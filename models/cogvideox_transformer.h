/* cogvideox_transformer (ff_cogdit_*): the CogVideoX diffusion transformer,
 * diffusers' CogVideoXTransformer3DModel (cogvideox_transformer_3d.py),
 * written against kernels/ops.h. Both generations from config.json:
 *   1.0 (CogVideoX-2B): Conv2d patch embedding, 3-D sincos positions added
 *       to [text; video] (get_3d_sincos_pos_embed);
 *   1.0 with use_rotary_positional_embeddings (CogVideoX-5B): no sincos,
 *       3-D RoPE on the video tokens ('linspace' grid with a crop region);
 *   1.5 (CogVideoX1.5-5B): patch_size_t, (c, t, y, x) patches through a
 *       Linear, RoPE on a 'slice' grid;
 *   ofs_embed_dim (the 1.5 image-to-video checkpoint): the ofs embedding is
 *       added to the timestep embedding.
 *
 * What it is: the config, the weights under diffusers' names (one
 * ff_cogdit_block per entry of transformer_blocks), the parameter list from
 * the config alone (models/ff_param.h; block index = transformer block), a
 * forward pass block by block with before/after hooks so that offload/ can
 * stream a block's weights just before it runs, the backend bytes of its
 * activations, and the host tables the pipeline computes (sincos positions,
 * RoPE, the sinusoidal timestep embedding).
 *
 * Numerics (../shared/golden/COGVIDEOX.md section 3): every op F32 (the
 * sincos table is float64 math rounded once, the RoPE angles float32 as
 * diffusers computes them); joint full attention over [text; video] without
 * mask, per-head LayerNorm on q and k before RoPE.
 *
 * Not here: the denoising loop, classifier-free guidance, the text encoder
 * (pipeline/, models/t5*), weight placement policy (offload/). Rejected with
 * FF_ERR_UNSUPPORTED: use_learned_positional_embeddings (CogVideoX-5B-I2V),
 * activation functions other than gelu-approximate / gelu and timestep
 * activations other than silu / gelu / relu.
 *
 * Ownership: ff_cogdit_model owns its weight tensors. A tensor lives on the
 * host (owned, as loaded; or shape-only, data NULL, after
 * ff_cogdit_load_lazy) or on the backend (ff_cogdit_place, or a hook that
 * swaps a block's slots for backend copies and puts the host ones back in
 * its after-block call). */
#ifndef FF_COGVIDEOX_TRANSFORMER_H
#define FF_COGVIDEOX_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_model_dir.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/ff_param.h"

/* ---- config ----------------------------------------------------------- */

typedef enum { FF_COGDIT_ACT_SILU = 0, FF_COGDIT_ACT_GELU, FF_COGDIT_ACT_GELU_TANH, FF_COGDIT_ACT_RELU } ff_cogdit_act;

typedef struct {
    int heads, head_dim, dim;      /* num_attention_heads, attention_head_dim, inner_dim = heads * head_dim */
    int in_channels, out_channels; /* out_channels null -> in_channels */
    int flip_sin_to_cos;           /* Timesteps(flip_sin_to_cos) */
    int freq_shift;                /* Timesteps(downscale_freq_shift) */
    int time_embed_dim;            /* 512 */
    int ofs_embed_dim;             /* 0: none */
    int text_embed_dim;            /* 4096 */
    int num_layers;
    int attention_bias;            /* to_q/k/v bias (to_out always has one) */
    int sample_width, sample_height, sample_frames; /* RoPE base grid; sincos default size */
    int patch_size;                /* p */
    int patch_size_t;              /* p_t, 0 = none (1.0) */
    int temporal_compression_ratio;
    int max_text_seq_length;       /* text rows of the sincos table */
    ff_cogdit_act activation;      /* feed-forward: gelu-approximate (tanh) or gelu */
    ff_cogdit_act timestep_activation; /* TimestepEmbedding act: silu */
    int norm_elementwise_affine;   /* norm1/norm2/norm_final/norm_out LayerNorms have weight + bias */
    float norm_eps;
    double spatial_interpolation_scale, temporal_interpolation_scale;
    int use_rotary_positional_embeddings;
    int patch_bias;                /* bias of the 1.0 Conv2d patch embedding (the 1.5 Linear always has one) */
    int ff_inner_dim;              /* 4 * dim */
} ff_cogdit_config;

/* Reads a CogVideoXTransformer3DModel config object; `what` names it in
 * errors. Impossible values are FF_ERR_FORMAT, values we do not implement
 * FF_ERR_UNSUPPORTED (see the top of this file). */
ff_status ff_cogdit_config_parse(const ff_json *root, const char *what, ff_cogdit_config *cfg, ff_err *err);
ff_status ff_cogdit_config_load(const char *path, ff_cogdit_config *cfg, ff_err *err);

/* ---- weights ---------------------------------------------------------- */

typedef struct {
    ff_tensor weight; /* (N, K) */
    ff_tensor bias;   /* (N), or empty (data NULL, ndim 0) when the layer has none */
} ff_cogdit_linear;

typedef struct {
    ff_tensor weight, bias; /* (D); empty when the LayerNorm has no affine */
} ff_cogdit_norm;

/* CogVideoXBlock: transformer_blocks.<index>.* */
typedef struct {
    int index;
    ff_cogdit_linear norm1_linear;    /* norm1.linear (6D, time_embed_dim) */
    ff_cogdit_norm norm1_norm;        /* norm1.norm (D) */
    ff_cogdit_linear to_q, to_k, to_v; /* attn1.to_q/k/v (D, D) */
    ff_cogdit_linear to_out;          /* attn1.to_out.0 (D, D) */
    ff_cogdit_norm norm_q, norm_k;    /* attn1.norm_q/k (head_dim), eps 1e-6 */
    ff_cogdit_linear norm2_linear;    /* norm2.linear (6D, time_embed_dim) */
    ff_cogdit_norm norm2_norm;        /* norm2.norm (D) */
    ff_cogdit_linear ff_in;           /* ff.net.0.proj (inner, D) */
    ff_cogdit_linear ff_out;          /* ff.net.2 (D, inner) */
} ff_cogdit_block;

typedef struct {
    ff_cogdit_config cfg;
    ff_tensor patch_weight;           /* patch_embed.proj.weight: Conv2d (D, C, p, p) or Linear (D, C*pt*p*p) */
    ff_tensor patch_bias;             /* patch_embed.proj.bias (D); empty for a Conv2d with patch_bias false */
    ff_cogdit_linear text_proj;       /* patch_embed.text_proj (D, text_embed_dim) */
    ff_cogdit_linear time_linear_1;   /* time_embedding.linear_1 (time_embed_dim, D) */
    ff_cogdit_linear time_linear_2;   /* time_embedding.linear_2 (time_embed_dim, time_embed_dim) */
    ff_cogdit_linear ofs_linear_1;    /* ofs_embedding.linear_1 (ofs, ofs) when ofs_embed_dim */
    ff_cogdit_linear ofs_linear_2;    /* ofs_embedding.linear_2 (ofs, ofs) */
    ff_cogdit_block *blocks;          /* num_layers */
    ff_cogdit_norm norm_final;        /* norm_final (D) */
    ff_cogdit_linear norm_out_linear; /* norm_out.linear (2D, time_embed_dim) */
    ff_cogdit_norm norm_out_norm;     /* norm_out.norm (D) */
    ff_cogdit_linear proj_out;        /* proj_out ([pt*]p*p*C_out, D) */
    ff_backend *be;                   /* set by ff_cogdit_place: owner of the tensors it moved */
} ff_cogdit_model;

/* Parameters of block `index` in module order; out may be NULL to count, blk
 * NULL for a shape-only list (slot NULL). dtype: what ff_cogdit_load_as keeps
 * for weight_dtype. Returns the count. */
#define FF_COGDIT_BLOCK_PARAMS_MAX 24
size_t ff_cogdit_block_params(const ff_cogdit_config *cfg, int index, ff_cogdit_block *blk, ff_dtype weight_dtype,
                              ff_param *out);

/* Every parameter (non-block ones first, then the blocks in order), from the
 * config alone when m is NULL; *out malloc'd (caller frees), *n its length. */
ff_status ff_cogdit_params(const ff_cogdit_config *cfg, ff_cogdit_model *m, ff_dtype weight_dtype, ff_param **out,
                           size_t *n, ff_err *err);

typedef struct {
    int64_t total, per_block, non_block; /* elements */
} ff_cogdit_counts;
void ff_cogdit_count_params(const ff_cogdit_config *cfg, ff_cogdit_counts *out);

/* Loads a transformer component folder (config.json + single or sharded
 * safetensors) into host tensors: the 2-D Linear weights of the blocks,
 * text_proj, norm_out and proj_out in weight_dtype (FF_F32, or FF_BF16 as
 * stored or rounded to nearest even), everything else F32. Strict: every
 * parameter present with its exact shape, no other tensor in the file. */
ff_status ff_cogdit_load_as(const char *component_dir, ff_dtype weight_dtype, ff_cogdit_model **out, ff_err *err);
ff_status ff_cogdit_load(const char *component_dir, ff_cogdit_model **out, ff_err *err); /* F32 */
/* ff_cogdit_load_as for block streaming straight from the file: block
 * parameters are shape-only tensors (data NULL, their host dtype) and
 * *weights is the open, mmap'd set to read them from (offload/stream.h
 * block_weights); the caller frees it after the model stops using it. */
ff_status ff_cogdit_load_lazy(const char *component_dir, ff_dtype weight_dtype, ff_cogdit_model **out,
                              ff_weights **weights, ff_err *err);
/* An empty model for cfg (block table only). */
ff_status ff_cogdit_create(const ff_cogdit_config *cfg, ff_cogdit_model **out, ff_err *err);
/* Fills every parameter with uniform values (linear/conv 1/sqrt(fan_in),
 * norm gains 1 +- 0.1, biases 0.02) from a fixed xorshift seed: benches and
 * tests at real widths without weights. */
ff_status ff_cogdit_init_random(ff_cogdit_model *m, uint64_t seed, ff_err *err);
void ff_cogdit_free(ff_cogdit_model *m);
/* Moves the non-block weights (and the blocks when with_blocks) to the
 * backend; a no-op on a backend whose tensors live on the host. */
ff_status ff_cogdit_place(ff_cogdit_model *m, ff_backend *be, int with_blocks, ff_err *err);

/* ---- host tables (cogvideox_embed.c) ------------------------------------- */

/* get_timestep_embedding(t, dim, flip_sin_to_cos, downscale_freq_shift) in
 * float32: out (n, dim) host. */
void ff_cogdit_timestep_embedding(const float *t, int64_t n, int dim, int flip_sin_to_cos, float freq_shift,
                                  float *out);

/* The post-patch token grid of an input of F latent frames, h x w latents:
 * (F / p_t or F, h / p, w / p). FF_ERR_SHAPE when it does not divide (the
 * pipeline pads F for 1.5; h, w must be multiples of p). */
ff_status ff_cogdit_grid(const ff_cogdit_config *cfg, int64_t F, int64_t h, int64_t w, int64_t grid[3], ff_err *err);

/* CogVideoXPatchEmbed._get_positional_embeddings for a latent input of
 * (frames, h, w): the video rows (frames * h/p * w/p, D) of the joint table,
 * host F32 (float64 math, rounded once). The table's first
 * max_text_seq_length rows are zero and not written. */
ff_status ff_cogdit_sincos_table(const ff_cogdit_config *cfg, int64_t frames, int64_t h, int64_t w, float *out,
                                 ff_err *err);

/* CogVideoXPipeline._prepare_rotary_positional_embeddings for a latent
 * input of F frames, h x w latents (height = 8h, width = 8w): cos and sin
 * (T' * gh * gw, head_dim) host F32 in (t, y, x) token order, laid out for
 * ff_op_rope. 1.0 ('linspace' grid inside the crop region of the
 * sample_height/p x sample_width/p base grid) or 1.5 ('slice' of the base
 * grid; FF_ERR_ARG when the grid exceeds it, as diffusers fails there). */
ff_status ff_cogdit_rope_tables(const ff_cogdit_config *cfg, int64_t F, int64_t h, int64_t w, float *cos_out,
                                float *sin_out, ff_err *err);
/* get_resize_crop_region_for_grid((gh, gw), base_w, base_h): top, left,
 * bottom, right (Python round-half-to-even). */
void ff_cogdit_crop_region(int64_t gh, int64_t gw, int64_t base_w, int64_t base_h, int64_t crop[4]);

/* ---- forward ---------------------------------------------------------- */

typedef struct {
    ff_status (*before_block)(void *user, int index, ff_cogdit_block *blk, ff_param *params, size_t n_params,
                              ff_err *err);
    ff_status (*after_block)(void *user, int index, ff_cogdit_block *blk, ff_param *params, size_t n_params,
                             ff_err *err);
    void *user;
} ff_cogdit_hooks;

/* Optional inputs and intermediate outputs of a forward. */
typedef struct {
    const ff_tensor *rope_cos, *rope_sin; /* HOST (N, head_dim) image_rotary_emb; NULL: computed as the
                                             pipeline does (RoPE models only) */
    const ff_tensor *ofs;                 /* HOST (B,) or (1,), required when ofs_embed_dim */
    ff_tensor *temb;                      /* backend (B, time_embed_dim): receives emb */
    ff_tensor *embeds;                    /* backend (B, L + N, D): receives the patch embedding output */
} ff_cogdit_extras;

/* Output (B, F', C_out, H', W') for hidden_states (B, F, C_in, H, W):
 * F' = F (1.0) or F (a multiple of p_t), H' = H, W' = W; FF_ERR_SHAPE when
 * the grid does not divide. */
ff_status ff_cogdit_out_shape(const ff_cogdit_config *cfg, const int64_t x_shape[5], int64_t out_shape[5], ff_err *err);

/* CogVideoXTransformer3DModel.forward(hidden_states, encoder_hidden_states,
 * timestep, ofs, image_rotary_emb)[0]:
 *   hidden_states          (B, F, C_in, H, W) F32 on the backend
 *   timestep               HOST, F32/I64/I32, () (1,) or (B,)
 *   encoder_hidden_states  (B, L, text_embed_dim) F32 on the backend; for
 *                          sincos models L must be max_text_seq_length
 *   out                    (B, F, C_out, H, W) F32 on the backend
 * extras and hooks may be NULL (then every block must already be usable by
 * the backend). */
ff_status ff_cogdit_forward(ff_cogdit_model *m, ff_backend *be, const ff_tensor *hidden_states,
                            const ff_tensor *timestep, const ff_tensor *encoder_hidden_states,
                            const ff_cogdit_extras *extras, const ff_cogdit_hooks *hooks, ff_tensor *out, ff_err *err);

/* The same with host tensors in and an owned host *out. */
ff_status ff_cogdit_forward_host(ff_cogdit_model *m, ff_backend *be, const ff_tensor *hidden_states,
                                 const ff_tensor *timestep, const ff_tensor *encoder_hidden_states,
                                 const ff_cogdit_extras *extras, const ff_cogdit_hooks *hooks, ff_tensor *out,
                                 ff_err *err);

/* Backend bytes ff_cogdit_forward allocates for its activations (weights,
 * inputs and out not included) for hidden_states of shape x_shape and
 * text_len text rows: exact (every buffer the forward allocates). */
ff_status ff_cogdit_activation_bytes(const ff_cogdit_config *cfg, const int64_t x_shape[5], int64_t text_len,
                                     size_t *bytes, ff_err *err);

#endif
