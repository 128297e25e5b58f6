/* wan_transformer (ff_wandit_*): the Wan 2.1 / 2.2 diffusion transformer,
 * diffusers' WanTransformer3DModel (transformer_wan.py), written against
 * kernels/ops.h.
 *
 * What it is: the config (read from a diffusers transformer/config.json),
 * the weights under diffusers' names (one struct per module, one
 * ff_wandit_block per entry of `blocks`), a parameter list computed from the
 * config alone (names and shapes, for the memory planner and parameter
 * counts), and a forward pass that runs block by block with before/after
 * hooks so that offload/ can stream each block's weights to the device just
 * before it runs.
 *
 * Image conditioning (Wan 2.1 I2V, image_dim + added_kv_proj_dim set):
 * condition_embedder.image_embedder (WanImageEmbedding: FP32LayerNorm ->
 * Linear -> exact GELU -> Linear -> FP32LayerNorm, eps 1e-5; with
 * pos_embed_seq_len (FLF2V) the (2B, T, image_dim) input is first viewed as
 * (B, 2T, image_dim) and pos_embed added) turns encoder_hidden_states_image
 * (CLIP hidden_states[-2]) into image context rows; every attn2 adds
 * SDPA(q, norm_added_k(add_k_proj(img)), add_v_proj(img)) to its text
 * attention before to_out. The image and text contexts are kept apart, so
 * the text length is free (diffusers concatenates them and splits at a
 * hard-coded 512 text rows: with 512 rows both agree). Wan 2.2 I2V-A14B and
 * TI2V have no image branch (in_channels 36 / 48 are plain config values).
 *
 * What it is not: the denoising loop, CFG or expert switching (pipeline/),
 * memory budgets or weight placement policy (offload/).
 *
 * Ownership: ff_wandit_model owns its weight tensors. A weight tensor lives
 * either on the host (FF_LOC_HOST, owned, as loaded) or on the backend
 * (allocated with ff_be_alloc by ff_wandit_place or by a hook). The forward pass
 * uses each tensor where it is; a before-block hook may replace a block's
 * tensors with backend copies and the matching after-block hook puts the host
 * ones back. */
#ifndef FF_WAN_TRANSFORMER_H
#define FF_WAN_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_model_dir.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/ff_param.h"

/* ---- config ----------------------------------------------------------- */

typedef struct {
    int patch[3];          /* patch_size (pt, ph, pw) */
    int heads;             /* num_attention_heads */
    int head_dim;          /* attention_head_dim */
    int dim;               /* inner_dim = heads * head_dim */
    int in_channels, out_channels; /* out_channels: null/0 -> in_channels */
    int text_dim, freq_dim, ffn_dim, num_layers;
    int cross_attn_norm;   /* norm2 with weight + bias (else identity) */
    float eps;             /* every LayerNorm / RMSNorm */
    int rope_max_seq_len;  /* positions per axis must stay below it */
    int image_dim;         /* image_dim: encoder_hidden_states_image width (Wan 2.1 I2V: CLIP 1280); 0 = none */
    int added_kv_proj_dim; /* attn2.add_k_proj / add_v_proj input (= dim: they read the embedded image); 0 = none */
    int pos_embed_seq_len; /* image_embedder.pos_embed rows (FLF2V: 2 x 257); 0 = none */
} ff_wandit_config;

/* Reads a WanTransformer3DModel config object; `what` names it in errors.
 * image_dim and added_kv_proj_dim come together (one without the other, a
 * layout no published model has, is FF_ERR_UNSUPPORTED); added_kv_proj_dim
 * must equal the inner dim (add_k_proj reads the embedded image);
 * pos_embed_seq_len only matters with image_dim. Impossible values are
 * FF_ERR_FORMAT. */
ff_status ff_wandit_config_parse(const ff_json *root, const char *what, ff_wandit_config *cfg, ff_err *err);
/* Same, from a config.json path. */
ff_status ff_wandit_config_load(const char *path, ff_wandit_config *cfg, ff_err *err);

/* ---- weights ---------------------------------------------------------- */

typedef struct {
    ff_tensor weight; /* (N, K) */
    ff_tensor bias;   /* (N) */
} ff_wandit_linear;

/* WanAttention (attn1: self, attn2: cross); norm_q / norm_k are RMSNorm
 * over the full inner dim (across heads). */
typedef struct {
    ff_wandit_linear to_q, to_k, to_v; /* (D, D) */
    ff_wandit_linear to_out;           /* to_out.0 (D, D) */
    ff_tensor norm_q, norm_k;       /* (D) */
    /* attn2 of an image-conditioned model only (else empty): */
    ff_wandit_linear add_k_proj, add_v_proj; /* (D, added_kv_proj_dim) */
    ff_tensor norm_added_k;                  /* (D) RMSNorm over the full inner dim */
} ff_wandit_attn;

/* WanTransformerBlock: weights of blocks.<index>.* */
typedef struct {
    int index;
    ff_tensor scale_shift_table;    /* (1, 6, D) */
    ff_wandit_attn attn1, attn2;
    ff_tensor norm2_weight, norm2_bias; /* (D); empty when cross_attn_norm is false */
    ff_wandit_linear ffn_in;           /* ffn.net.0.proj (ffn_dim, D) */
    ff_wandit_linear ffn_out;          /* ffn.net.2 (D, ffn_dim) */
} ff_wandit_block;

typedef struct {
    ff_wandit_config cfg;
    ff_tensor patch_embedding_weight; /* (D, C_in, pt, ph, pw) */
    ff_tensor patch_embedding_bias;   /* (D) */
    ff_wandit_linear time_linear_1;      /* condition_embedder.time_embedder.linear_1 (D, freq_dim) */
    ff_wandit_linear time_linear_2;      /* condition_embedder.time_embedder.linear_2 (D, D) */
    ff_wandit_linear time_proj;          /* condition_embedder.time_proj (6D, D) */
    ff_wandit_linear text_linear_1;      /* condition_embedder.text_embedder.linear_1 (D, text_dim) */
    ff_wandit_linear text_linear_2;      /* condition_embedder.text_embedder.linear_2 (D, D) */
    /* condition_embedder.image_embedder (image_dim set, else empty) */
    ff_tensor img_norm1_weight, img_norm1_bias; /* norm1 (image_dim) */
    ff_wandit_linear img_ff_in;                 /* ff.net.0.proj (image_dim, image_dim) */
    ff_wandit_linear img_ff_out;                /* ff.net.2 (D, image_dim) */
    ff_tensor img_norm2_weight, img_norm2_bias; /* norm2 (D) */
    ff_tensor img_pos_embed;                    /* pos_embed (1, pos_embed_seq_len, image_dim), FLF2V only */
    ff_tensor scale_shift_table;      /* (1, 2, D) output modulation */
    ff_wandit_linear proj_out;           /* (pt*ph*pw*C_out, D) */
    ff_wandit_block *blocks;             /* num_layers */
    ff_backend *be;                   /* set by ff_wandit_place: owner of the tensors it moved */
} ff_wandit_model;

/* Parameters are ff_param entries (models/ff_param.h): diffusers name,
 * shape, dtype, block index (-1 outside the blocks) and, when listing a
 * loaded model, the tensor that holds it. */

/* Parameters of block `index` (25, or 27 with cross_attn_norm, + 5 with
 * added_kv_proj_dim). out may be NULL to count; blk may be NULL for a
 * shape-only list. Returns the count. dtype F32. */
#define FF_WANDIT_BLOCK_PARAMS_MAX 32
size_t ff_wandit_block_params(const ff_wandit_config *cfg, int index, ff_wandit_block *blk, ff_param *out);

/* Every parameter of the model (non-block ones first, then blocks in order),
 * computed from the config alone when m is NULL, each with dtype F32 (as
 * ff_wandit_load keeps it). *out is malloc'd (caller frees), *n its length. */
ff_status ff_wandit_params(const ff_wandit_config *cfg, ff_wandit_model *m, ff_param **out, size_t *n, ff_err *err);
/* Same, each dtype as ff_wandit_load_as(weight_dtype) keeps it (the big
 * matrices in weight_dtype, the rest F32; see ff_wandit_param_dtype). */
ff_status ff_wandit_params_as(const ff_wandit_config *cfg, ff_dtype weight_dtype, ff_wandit_model *m, ff_param **out,
                              size_t *n, ff_err *err);
/* The dtype ff_wandit_load_as(weight_dtype) stores parameter p in. */
ff_dtype ff_wandit_param_dtype(const ff_param *p, ff_dtype weight_dtype);

/* Parameter totals from the config alone: all parameters, those of one block,
 * and those outside the blocks (elements, not bytes). */
typedef struct {
    int64_t total, per_block, non_block;
} ff_wandit_counts;
ff_status ff_wandit_count_params(const ff_wandit_config *cfg, ff_wandit_counts *out, ff_err *err);

/* Loads a transformer component folder (config.json + single or sharded
 * safetensors) into host F32 tensors. Every parameter must be present with
 * its exact shape; tensors in the file that the model does not use are an
 * error too (as diffusers' strict load). */
ff_status ff_wandit_load(const char *component_dir, ff_wandit_model **out, ff_err *err);
/* Same, keeping the big matrices (every 2-D linear weight except the
 * time_embedder's, and patch_embedding) in weight_dtype: FF_F32, or FF_BF16
 * (copied as stored when the file is BF16, else rounded to nearest even as
 * torch's .to(bfloat16)). Biases, norms, scale_shift_tables and the
 * time_embedder stay F32, as diffusers' _keep_in_fp32_modules. */
ff_status ff_wandit_load_as(const char *component_dir, ff_dtype weight_dtype, ff_wandit_model **out, ff_err *err);
/* ff_wandit_load_as for block streaming straight from the file: the non-block
 * parameters are loaded as ff_wandit_load_as keeps them, every block parameter
 * is left as a shape-only tensor (data NULL, the dtype ff_wandit_load_as would
 * store it in) and *weights is the open, mmap'd weights set they are to be
 * read from (offload/stream.h block_weights). The caller owns *weights and
 * frees it (ff_weights_free) after the model stops using it; the page cache
 * is then the only host copy of the blocks. Same checks as ff_wandit_load_as. */
ff_status ff_wandit_load_lazy(const char *component_dir, ff_dtype weight_dtype, ff_wandit_model **out, ff_weights **weights,
                           ff_err *err);
/* An empty model for cfg (no tensors yet; blocks table allocated). */
ff_status ff_wandit_create(const ff_wandit_config *cfg, ff_wandit_model **out, ff_err *err);
/* Fills every parameter of an empty model with uniform random values in
 * [-a, a] (a = 1/sqrt(fan_in) for linear and conv weights, 0.02 for tables,
 * norm gains 1 +- 0.1) from a fixed xorshift seed: benches and tests at real
 * widths without weights. */
ff_status ff_wandit_init_random(ff_wandit_model *m, uint64_t seed, ff_err *err);
void ff_wandit_free(ff_wandit_model *m);

/* Moves the non-block weights (and all blocks when with_blocks) to the
 * backend; a no-op for tensors already there and for a backend whose tensors
 * live on the host. */
ff_status ff_wandit_place(ff_wandit_model *m, ff_backend *be, int with_blocks, ff_err *err);

/* ---- forward ---------------------------------------------------------- */

/* Called around each block: before_block may upload blk's tensors (replace
 * each param's *slot with a backend tensor) and after_block may release
 * them. params lists the block's weights under their diffusers names. */
typedef struct {
    ff_status (*before_block)(void *user, int index, ff_wandit_block *blk, ff_param *params, size_t n_params,
                              ff_err *err);
    ff_status (*after_block)(void *user, int index, ff_wandit_block *blk, ff_param *params, size_t n_params,
                             ff_err *err);
    void *user;
} ff_wandit_hooks;

/* Output shape (B, C_out, (F/pt)*pt, (H/ph)*ph, (W/pw)*pw) for an input
 * hidden_states shape (B, C_in, F, H, W). */
ff_status ff_wandit_out_shape(const ff_wandit_config *cfg, const ff_tensor *hidden_states, int64_t out_shape[5],
                           ff_err *err);

/* WanTransformer3DModel.forward(hidden_states, timestep,
 * encoder_hidden_states)[0].
 *   hidden_states          (B, C_in, F, H, W) F32 on the backend
 *   timestep               HOST tensor, F32/I64/I32: (B,) or (1,) one value
 *                          per sample, or (B, N) one per token (Wan 2.2 TI2V,
 *                          N = post-patch token count, f-h-w order)
 *   encoder_hidden_states  (B, L, text_dim) F32 on the backend
 *   out                    (B, C_out, F', H', W') F32 on the backend, see
 *                          ff_wandit_out_shape
 * hooks may be NULL (then every block's weights must already be usable by
 * the backend). A model with an image branch needs ff_wandit_forward_image
 * (FF_ERR_ARG here). */
ff_status ff_wandit_forward(ff_wandit_model *m, ff_backend *be, const ff_tensor *hidden_states, const ff_tensor *timestep,
                         const ff_tensor *encoder_hidden_states, const ff_wandit_hooks *hooks, ff_tensor *out,
                         ff_err *err);

/* Backend bytes ff_wandit_forward allocates for its activations (weights not
 * included) for hidden_states of shape x_shape, text_len text rows, one
 * timestep per sample or (per_token) per token, and n_distinct distinct
 * timestep values (0: assume all differ). For the memory planner. */
ff_status ff_wandit_activation_bytes(const ff_wandit_config *cfg, const int64_t x_shape[5], int64_t text_len,
                                  int per_token, int64_t n_distinct, size_t *bytes, ff_err *err);
/* Same for ff_wandit_forward_image with image_len image context rows per
 * sample (ff_wandit_image_rows; 0 = ff_wandit_activation_bytes). */
ff_status ff_wandit_activation_bytes_image(const ff_wandit_config *cfg, const int64_t x_shape[5], int64_t text_len,
                                           int64_t image_len, int per_token, int64_t n_distinct, size_t *bytes,
                                           ff_err *err);

/* ---- image conditioning (Wan 2.1 I2V) ---------------------------------- */

/* Image context rows per sample for encoder_hidden_states_image of shape
 * (Bi, T, image_dim) and B video samples: T (Bi must be B), or 2T with
 * pos_embed (Bi must be 2B, 2T = pos_embed_seq_len). FF_ERR_SHAPE naming
 * the shapes otherwise; FF_ERR_ARG for a model without image branch. */
ff_status ff_wandit_image_rows(const ff_wandit_config *cfg, const ff_tensor *image, int64_t B, int64_t *rows,
                               ff_err *err);
/* condition_embedder.image_embedder(encoder_hidden_states_image): image
 * (Bi, T, image_dim) F32 on the backend -> out (B, rows, D) on the backend
 * (B = Bi, or Bi / 2 with pos_embed). */
ff_status ff_wandit_image_embed(ff_wandit_model *m, ff_backend *be, const ff_tensor *image, ff_tensor *out,
                                ff_err *err);
/* WanTransformer3DModel.forward(hidden_states, timestep,
 * encoder_hidden_states, encoder_hidden_states_image) (see
 * ff_wandit_forward). image: (Bi, T, image_dim) F32 on the backend, required
 * when the model has an image branch and refused otherwise (NULL then). */
ff_status ff_wandit_forward_image(ff_wandit_model *m, ff_backend *be, const ff_tensor *hidden_states,
                                  const ff_tensor *timestep, const ff_tensor *encoder_hidden_states,
                                  const ff_tensor *encoder_hidden_states_image, const ff_wandit_hooks *hooks,
                                  ff_tensor *out, ff_err *err);
/* ff_wandit_forward_host with a host encoder_hidden_states_image (or NULL). */
ff_status ff_wandit_forward_host_image(ff_wandit_model *m, ff_backend *be, const ff_tensor *hidden_states,
                                       const ff_tensor *timestep, const ff_tensor *encoder_hidden_states,
                                       const ff_tensor *encoder_hidden_states_image, const ff_wandit_hooks *hooks,
                                       ff_tensor *out, ff_err *err);

/* Same with host tensors: uploads hidden_states (F32) and
 * encoder_hidden_states (F32), runs, and returns an owned host tensor in
 * *out. The model's non-block weights must be usable by be (ff_wandit_place). */
ff_status ff_wandit_forward_host(ff_wandit_model *m, ff_backend *be, const ff_tensor *hidden_states,
                              const ff_tensor *timestep, const ff_tensor *encoder_hidden_states,
                              const ff_wandit_hooks *hooks, ff_tensor *out, ff_err *err);

/* ---- pieces, exposed for tests ---------------------------------------- */

/* Sinusoidal timestep embedding (diffusers get_timestep_embedding with
 * flip_sin_to_cos=True, downscale_freq_shift=0) in float32: out (n, freq_dim)
 * host buffer, [cos | sin] (+ a zero column when freq_dim is odd). */
void ff_wandit_timestep_embedding(const float *t, int64_t n, int freq_dim, float *out);

/* WanRotaryPosEmbed tables for a post-patch grid (pf, ph, pw): cos and sin
 * (pf*ph*pw, head_dim) host buffers, laid out for ff_op_rope (both channels
 * of a pair hold the angle that pair uses). FF_ERR_ARG when an axis exceeds
 * rope_max_seq_len. */
ff_status ff_wandit_rope_tables(const ff_wandit_config *cfg, int64_t pf, int64_t ph, int64_t pw, float *cos_out,
                             float *sin_out, ff_err *err);

#endif
