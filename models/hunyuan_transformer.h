/* hunyuan_transformer (ff_hydit_*): the HunyuanVideo diffusion transformer,
 * diffusers' HunyuanVideoTransformer3DModel (transformer_hunyuan_video.py),
 * written against kernels/ops.h.
 *
 * What it is: the config (a diffusers transformer/config.json), the weights
 * under diffusers' names (one struct per module: the patch embedding
 * x_embedder, the condition embedding time_text_embed with its guidance
 * embedder, the token refiner context_embedder, `num_layers` dual-stream
 * transformer_blocks, `num_single_layers` single-stream
 * single_transformer_blocks, norm_out / proj_out), a parameter list computed
 * from the config alone (models/ff_param.h), and a forward pass that runs
 * block by block with before/after hooks so that offload/ can stream each
 * block's weights just before it runs. The block index is global: dual
 * blocks are 0 .. num_layers-1, single blocks num_layers ..
 * num_layers+num_single_layers-1 (ff_hydit_n_blocks). Everything else
 * (embedders, token refiner, output layers) is outside the blocks (index -1).
 * A tap callback hands out every stage's output (rope tables, temb, refined
 * text, patch embedding, each block's video and text streams, norm_out) for
 * the golden comparisons.
 *
 * What it is not: the denoising loop, true CFG, the text encoders
 * (pipeline/ and models/llama*, clip*), memory budgets or placement policy
 * (offload/). image_condition_type "token_replace" (HunyuanVideo I2V) is
 * rejected with FF_ERR_UNSUPPORTED; "latent_concat" only widens
 * in_channels and runs like text-to-video.
 *
 * Ownership: ff_hydit_model owns its weight tensors. A weight tensor lives
 * either on the host (FF_LOC_HOST, owned, as loaded; shape-only with data
 * NULL for the blocks of a lazy load) or on the backend (allocated with
 * ff_be_alloc by ff_hydit_place or by a hook). The forward pass uses each
 * tensor where it is; a before-block hook may point a block's slots at
 * backend copies and the matching after-block hook puts the host ones back. */
#ifndef FF_HUNYUAN_TRANSFORMER_H
#define FF_HUNYUAN_TRANSFORMER_H

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
    int in_channels, out_channels; /* out_channels: null/0 -> in_channels */
    int heads;                     /* num_attention_heads */
    int head_dim;                  /* attention_head_dim */
    int dim;                       /* inner_dim = heads * head_dim */
    int num_layers;                /* dual-stream blocks */
    int num_single_layers;         /* single-stream blocks */
    int num_refiner_layers;        /* token refiner blocks */
    double mlp_ratio;              /* 4.0 */
    int mlp_dim;                   /* int(dim * mlp_ratio), Python's truncation */
    int patch, patch_t;            /* patch_size, patch_size_t */
    int guidance_embeds;           /* time_text_embed.guidance_embedder present */
    int text_embed_dim;            /* Llama hidden size (4096) */
    int pooled_projection_dim;     /* CLIP hidden size (768) */
    float rope_theta;              /* 256.0 */
    int rope_axes_dim[3];          /* (t, h, w) channels of a head, sum = head_dim */
    int ffn_rows;                  /* runtime knob, not from config.json (parse sets 0): token rows per
                                      feed-forward chunk, 0 = FF_HYDIT_FFN_ROWS (see ff_hydit_forward) */
} ff_hydit_config;

/* Token rows the feed-forward layers process at a time (their hidden
 * activations are rows x mlp_dim): bounds the largest activation buffers
 * without changing any value (every FF op is per row). */
#define FF_HYDIT_FFN_ROWS 4096

/* Reads a HunyuanVideoTransformer3DModel config object; `what` names it in
 * errors. Values the class accepts but we do not implement (qk_norm other
 * than "rms_norm", image_condition_type "token_replace") are
 * FF_ERR_UNSUPPORTED; impossible values are FF_ERR_FORMAT. */
ff_status ff_hydit_config_parse(const ff_json *root, const char *what, ff_hydit_config *cfg, ff_err *err);
ff_status ff_hydit_config_load(const char *path, ff_hydit_config *cfg, ff_err *err);

/* Total streamable blocks: num_layers + num_single_layers. */
static inline int ff_hydit_n_blocks(const ff_hydit_config *cfg) { return cfg->num_layers + cfg->num_single_layers; }

/* ---- weights ---------------------------------------------------------- */

typedef struct {
    ff_tensor weight; /* (N, K) */
    ff_tensor bias;   /* (N) */
} ff_hydit_linear;

/* TimestepEmbedding / PixArtAlphaTextProjection: linear_2(silu(linear_1(x))). */
typedef struct {
    ff_hydit_linear linear_1, linear_2;
} ff_hydit_mlp2;

/* HunyuanVideoTransformerBlock: weights of transformer_blocks.<i>.* */
typedef struct {
    ff_hydit_linear norm1;         /* norm1.linear (6D, D): AdaLayerNormZero */
    ff_hydit_linear norm1_context; /* norm1_context.linear (6D, D) */
    ff_hydit_linear to_q, to_k, to_v, to_out;             /* attn.to_* (D, D); to_out = attn.to_out.0 */
    ff_hydit_linear add_q_proj, add_k_proj, add_v_proj, to_add_out; /* attn.add_*_proj, attn.to_add_out (D, D) */
    ff_tensor norm_q, norm_k, norm_added_q, norm_added_k; /* attn.norm_* (head_dim): per-head RMSNorm */
    ff_hydit_linear ff_in, ff_out;   /* ff.net.0.proj (F, D), ff.net.2 (D, F) */
    ff_hydit_linear ffc_in, ffc_out; /* ff_context.net.0.proj, ff_context.net.2 */
} ff_hydit_dual;

/* HunyuanVideoSingleTransformerBlock: single_transformer_blocks.<i>.* */
typedef struct {
    ff_hydit_linear norm;            /* norm.linear (3D, D): AdaLayerNormZeroSingle */
    ff_hydit_linear to_q, to_k, to_v; /* attn.to_* (D, D); no output projection (pre_only) */
    ff_tensor norm_q, norm_k;        /* (head_dim) */
    ff_hydit_linear proj_mlp;        /* (F, D) */
    ff_hydit_linear proj_out;        /* (D, D + F) */
} ff_hydit_single;

/* HunyuanVideoIndividualTokenRefinerBlock:
 * context_embedder.token_refiner.refiner_blocks.<i>.* */
typedef struct {
    ff_tensor norm1_w, norm1_b;       /* norm1 (D): affine LayerNorm */
    ff_hydit_linear to_q, to_k, to_v, to_out; /* attn.to_q/k/v, attn.to_out.0 (D, D) */
    ff_tensor norm2_w, norm2_b;       /* norm2 (D) */
    ff_hydit_linear ff_in, ff_out;    /* ff.net.0.proj (4D, D), ff.net.2 (D, 4D): linear-silu */
    ff_hydit_linear norm_out;         /* norm_out.linear (2D, D): gate_msa, gate_mlp */
} ff_hydit_refiner_block;

typedef struct {
    ff_hydit_config cfg;
    ff_tensor x_embedder_w;        /* x_embedder.proj.weight (D, C_in, pt, p, p) */
    ff_tensor x_embedder_b;        /* (D) */
    /* time_text_embed (HunyuanVideoConditionEmbedding) */
    ff_hydit_mlp2 timestep_embedder;  /* linear_1 (D, 256), linear_2 (D, D) */
    ff_hydit_mlp2 guidance_embedder;  /* same shapes; empty without guidance_embeds */
    ff_hydit_mlp2 text_embedder;      /* linear_1 (D, pooled_dim), linear_2 (D, D) */
    /* context_embedder (HunyuanVideoTokenRefiner) */
    ff_hydit_mlp2 ctx_timestep_embedder; /* context_embedder.time_text_embed.timestep_embedder */
    ff_hydit_mlp2 ctx_text_embedder;     /* context_embedder.time_text_embed.text_embedder (D, text_dim) */
    ff_hydit_linear ctx_proj_in;         /* context_embedder.proj_in (D, text_dim) */
    ff_hydit_refiner_block *refiner;     /* num_refiner_layers */
    ff_hydit_dual *dual;                 /* num_layers */
    ff_hydit_single *single;             /* num_single_layers */
    ff_hydit_linear norm_out;            /* norm_out.linear (2D, D): scale, shift */
    ff_hydit_linear proj_out;            /* (pt*p*p*C_out, D) */
    ff_dtype weight_dtype;               /* what the 2-D matrices are kept in (ff_hydit_load_as) */
    ff_backend *be;                      /* set by ff_hydit_place: owner of the tensors it moved */
} ff_hydit_model;

/* Most parameters one block has (a dual block has 32, a single one 14). */
#define FF_HYDIT_BLOCK_PARAMS_MAX 40

/* Parameters of block `index` (global index: dual blocks first, then single
 * ones) into out (may be NULL to count); m may be NULL for a shape-only
 * list. Returns the count; 0 for an index out of range. Block params carry
 * block = index and the host dtype ff_hydit_load_as(weight_dtype) keeps. */
size_t ff_hydit_block_params(const ff_hydit_config *cfg, int index, ff_hydit_model *m, ff_dtype weight_dtype,
                             ff_param *out);

/* Every parameter (non-block ones first, in module order, then the blocks in
 * index order), from the config alone when m is NULL. *out is malloc'd
 * (caller frees), *n its length. dtype: what ff_hydit_load_as(weight_dtype)
 * keeps each one in. */
ff_status ff_hydit_params(const ff_hydit_config *cfg, ff_hydit_model *m, ff_dtype weight_dtype, ff_param **out,
                          size_t *n, ff_err *err);

/* Parameter totals (elements) from the config alone. */
typedef struct {
    int64_t total;
    int64_t non_block;   /* embedders, token refiner, norm_out, proj_out */
    int64_t per_dual;    /* one dual-stream block */
    int64_t per_single;  /* one single-stream block */
    int64_t refiner;     /* the whole context_embedder (part of non_block) */
} ff_hydit_counts;
ff_status ff_hydit_count_params(const ff_hydit_config *cfg, ff_hydit_counts *out, ff_err *err);

/* Loads a transformer component folder (config.json + single or sharded
 * safetensors) into host F32 tensors; every parameter must be present with
 * its exact shape, and every tensor of the file must be a parameter (strict,
 * as diffusers' load). */
ff_status ff_hydit_load(const char *component_dir, ff_hydit_model **out, ff_err *err);
/* Same, keeping the big matrices in weight_dtype (FF_F32 or FF_BF16: copied
 * as stored when the file is BF16, else rounded to nearest even): the 2-D
 * weights of the blocks, the token refiner blocks, context_embedder.proj_in,
 * norm_out and proj_out. Biases, norms, x_embedder and the timestep /
 * guidance / pooled-text embedders stay F32 (diffusers'
 * _skip_layerwise_casting_patterns keeps x_embedder, context_embedder and
 * norms out of low precision for storage; the embedders are tiny). */
ff_status ff_hydit_load_as(const char *component_dir, ff_dtype weight_dtype, ff_hydit_model **out, ff_err *err);
/* ff_hydit_load_as for block streaming straight from the file: non-block
 * parameters loaded, every block parameter left shape-only (data NULL, the
 * dtype ff_hydit_load_as would keep) and *weights the open, mmap'd weights
 * set they are to be read from (offload/stream.h block_weights). The caller
 * owns *weights and frees it (ff_weights_free) after the model stops using
 * it. Same checks as ff_hydit_load_as. */
ff_status ff_hydit_load_lazy(const char *component_dir, ff_dtype weight_dtype, ff_hydit_model **out,
                             ff_weights **weights, ff_err *err);
/* An empty model for cfg (no tensors; block tables allocated). */
ff_status ff_hydit_create(const ff_hydit_config *cfg, ff_hydit_model **out, ff_err *err);
/* Fills every parameter of an empty model with uniform random F32 values
 * (linear/conv weights +-1/sqrt(fan_in), biases +-0.02, norm gains 1+-0.1)
 * from a fixed xorshift seed: tests and benches at any width without a
 * checkpoint. */
ff_status ff_hydit_init_random(ff_hydit_model *m, uint64_t seed, ff_err *err);
void ff_hydit_free(ff_hydit_model *m);

/* Moves the non-block weights (and all blocks when with_blocks) to the
 * backend; a no-op for tensors already there and on the CPU backend. */
ff_status ff_hydit_place(ff_hydit_model *m, ff_backend *be, int with_blocks, ff_err *err);

/* ---- forward ---------------------------------------------------------- */

/* Around each block (global index): before_block may point the block's
 * slots (params[i].slot) at backend copies; after_block puts them back.
 * params lists the block's weights under their diffusers names. */
typedef struct {
    ff_status (*before_block)(void *user, int index, ff_param *params, size_t n_params, ff_err *err);
    ff_status (*after_block)(void *user, int index, ff_param *params, size_t n_params, ff_err *err);
    void *user;
} ff_hydit_hooks;

/* Stage outputs, each a backend F32 tensor valid only during the call:
 *  "rope_cos", "rope_sin"  (N, head_dim)
 *  "temb"                  (B, D)   time_text_embed output
 *  "text_refined"          (B, L, D) context_embedder output
 *  "x_embedded"            (B, N, D) x_embedder output
 *  "dual<i>_hidden", "dual<i>_text"     (B, N, D), (B, L, D) after dual block i
 *  "single<i>_hidden", "single<i>_text" the same after single block i
 *  "norm_out"              (B, N, D) norm_out output
 * A non-OK return stops the forward and is passed through. */
typedef struct {
    ff_status (*fn)(void *user, const char *name, const ff_tensor *t, ff_err *err);
    void *user;
} ff_hydit_taps;

/* The inputs of HunyuanVideoTransformer3DModel.forward, as the pipeline
 * passes them. Backend tensors: hidden_states (B, C_in, F, H, W),
 * encoder_hidden_states (B, L, text_embed_dim), pooled_projections
 * (B, pooled_projection_dim). HOST tensors (read on the host to build
 * tables and masks): timestep (B,) or (1,) (F32, I64 or I32),
 * encoder_attention_mask (B, L) F32 / I64 / I32 (1 = real token; right
 * padding, as the pipeline's tokenizer gives it) or NULL (every token
 * valid), guidance (B,) or (1,) F32, required when guidance_embeds (the
 * pipeline passes guidance_scale * 1000). */
typedef struct {
    const ff_tensor *hidden_states;
    const ff_tensor *timestep;
    const ff_tensor *encoder_hidden_states;
    const ff_tensor *encoder_attention_mask;
    const ff_tensor *pooled_projections;
    const ff_tensor *guidance;
} ff_hydit_inputs;

/* Output shape (B, C_out, (F/pt)*pt, (H/p)*p, (W/p)*p) for hidden_states
 * (B, C_in, F, H, W). */
ff_status ff_hydit_out_shape(const ff_hydit_config *cfg, const ff_tensor *hidden_states, int64_t out_shape[5],
                             ff_err *err);

/* HunyuanVideoTransformer3DModel.forward(...)[0] into out (backend, see
 * ff_hydit_out_shape). hooks and taps may be NULL (then every block's
 * weights must already be usable by the backend). */
ff_status ff_hydit_forward(ff_hydit_model *m, ff_backend *be, const ff_hydit_inputs *in, const ff_hydit_hooks *hooks,
                           const ff_hydit_taps *taps, ff_tensor *out, ff_err *err);

/* Backend bytes ff_hydit_forward allocates for its activations (weights
 * excluded) for hidden_states of shape x_shape and text_len text rows: the
 * exact sum of its buffers. For the memory planner. */
ff_status ff_hydit_activation_bytes(const ff_hydit_config *cfg, const int64_t x_shape[5], int64_t text_len,
                                    size_t *bytes, ff_err *err);

/* ---- pieces, exposed for tests and golden cases ------------------------ */

/* Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0) in float32:
 * out (n, 256) host buffer, [cos | sin]. */
void ff_hydit_timestep_proj(const float *t, int64_t n, float *out);

/* HunyuanVideoRotaryPosEmbed tables for a post-patch grid (pf, ph, pw): cos
 * and sin (pf*ph*pw, head_dim) host buffers, axes [t | h | w] with
 * rope_axes_dim channels each, interleaved pairs (ff_op_rope's layout). */
ff_status ff_hydit_rope_tables(const ff_hydit_config *cfg, int64_t pf, int64_t ph, int64_t pw, float *cos_out,
                               float *sin_out, ff_err *err);

/* HunyuanVideoConditionEmbedding.forward (time_text_embed) on backend
 * tensors: temb (B, D) = timestep_embedder(proj(t)) + guidance_embedder(
 * proj(guidance)) + text_embedder(pooled). timestep / guidance are host
 * tensors as in ff_hydit_inputs. parts (optional, backend (B, D) each, any
 * may be NULL): the three terms and, in parts[3], proj(t) as (B, 256). */
typedef struct {
    ff_tensor *timestep_proj; /* (B, 256) */
    ff_tensor *timestep_emb, *guidance_emb, *pooled_emb; /* (B, D) */
} ff_hydit_cond_parts;
ff_status ff_hydit_condition_embed(ff_hydit_model *m, ff_backend *be, const ff_tensor *timestep,
                                   const ff_tensor *pooled, const ff_tensor *guidance, ff_tensor *temb,
                                   const ff_hydit_cond_parts *parts, ff_err *err);

/* HunyuanVideoTokenRefiner.forward (context_embedder) on backend tensors:
 * text (B, L, text_dim) -> out (B, L, D); timestep and mask host tensors as
 * in ff_hydit_inputs. Taps: "refiner_temb" (B, D), "proj_in" (B, L, D),
 * "refiner_block<i>" (B, L, D). */
ff_status ff_hydit_token_refiner(ff_hydit_model *m, ff_backend *be, const ff_tensor *text, const ff_tensor *timestep,
                                 const ff_tensor *mask, const ff_hydit_taps *taps, ff_tensor *out, ff_err *err);

#endif
