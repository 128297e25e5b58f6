/* clip (ff_clip_*): the CLIP encoders of transformers (modeling_clip.py),
 * written against kernels/ops.h: CLIPVisionModel (Wan 2.1 I2V's
 * image_encoder, ViT-H/14) and CLIPTextModel (HunyuanVideo's text_encoder_2,
 * CLIP-L). One config, one weight tree and one encoder-layer forward serve
 * both; only the embeddings and the head differ.
 *
 *  vision: patch = Conv2d(C, D, kernel = stride = p, no bias)(pixel_values)
 *          flattened row-major to (B, (S/p)^2, D); [class_embedding; patches]
 *          + position_embedding; pre_layrnorm = hidden_states[0]; layer i's
 *          output = hidden_states[i]. WanImageToVideoPipeline.encode_image
 *          takes hidden_states[-2] (the output of layer L-1: the last layer
 *          and post_layernorm are loaded but never run). S must equal
 *          image_size (no position interpolation, as transformers' default).
 *  text:   token_embedding[ids] + position_embedding[0..L); the layers with
 *          a causal mask (no padding mask: the pipelines pass none);
 *          final_layer_norm = last_hidden_state; pooler_output = the row of
 *          the EOS token: argmax(ids) (first position of the largest id)
 *          when config.eos_token_id == 2 (the legacy rule of
 *          openai/clip-vit-large-patch14's config), else the first position
 *          whose id == eos_token_id (0 when there is none), as transformers.
 *  layer:  h += out_proj(Attn(layer_norm1(h))), h += fc2(act(fc1(layer_norm2(h))));
 *          q/k/v/out_proj with bias, heads = num_attention_heads, scale
 *          head_dim^-0.5; act = hidden_act: "gelu" (exact erf),
 *          "quick_gelu" (x * sigmoid(1.702 x)), "gelu_new" /
 *          "gelu_pytorch_tanh" (tanh approximation), "relu", "silu".
 *
 * Weights under transformers' names ("vision_model.encoder.layers.3.mlp.fc1.weight",
 * "text_model.embeddings.token_embedding.weight", ...); the parameter list
 * (models/ff_param.h) has block index = encoder layer, so offload/ can stream
 * layers. Loading is strict about this tower's tensors; it ignores what
 * transformers ignores or other classes add (position_ids buffers,
 * visual_projection / text_projection / logit_scale, the other tower of a
 * full CLIPModel checkpoint) and refuses any other unexpected tensor.
 *
 * Ownership: ff_clip_model owns its weight tensors (host, or on a backend
 * after ff_clip_place); a before-layer hook may swap a layer's tensors for
 * backend copies, the matching after-layer hook puts the host ones back.
 * Not here: the image processor (models/image_processor.h), the tokenizer,
 * the projection heads (CLIPVisionModelWithProjection), attention masks for
 * padded text, fp16. */
#ifndef FF_CLIP_H
#define FF_CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_model_dir.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/ff_param.h"

/* ---- config ----------------------------------------------------------- */

typedef enum { FF_CLIP_VISION = 0, FF_CLIP_TEXT = 1 } ff_clip_kind;

typedef struct {
    ff_clip_kind kind;
    int hidden;          /* hidden_size D */
    int intermediate;    /* intermediate_size */
    int layers;          /* num_hidden_layers */
    int heads;           /* num_attention_heads */
    int head_dim;        /* D / heads */
    float eps;           /* layer_norm_eps */
    ff_unary_kind act;   /* hidden_act */
    /* vision */
    int image_size, patch_size, num_channels;
    /* text */
    int vocab_size, max_positions;
    int64_t eos_token_id;
} ff_clip_config;

/* Reads a CLIPVisionConfig / CLIPTextConfig object (model_type
 * "clip_vision_model" / "clip_text_model"), or a full CLIPConfig ("clip")
 * from which `want` picks vision_config or text_config. `want` may be -1:
 * decided by model_type / architectures. Missing keys take transformers'
 * defaults. `what` names the source in errors. */
ff_status ff_clip_config_parse(const ff_json *root, const char *what, int want, ff_clip_config *cfg, ff_err *err);
ff_status ff_clip_config_load(const char *path, int want, ff_clip_config *cfg, ff_err *err);

/* Tokens of one sequence: vision 1 + (image_size / patch_size)^2, text the
 * given text length (bounded by max_position_embeddings). */
int64_t ff_clip_seq_len(const ff_clip_config *cfg, int64_t text_len);

/* ---- weights ---------------------------------------------------------- */

typedef struct {
    ff_tensor weight; /* (N, K) or LayerNorm (D) */
    ff_tensor bias;   /* (N) */
} ff_clip_affine;

/* encoder.layers.<index> */
typedef struct {
    int index;
    ff_clip_affine layer_norm1, layer_norm2;          /* (D) */
    ff_clip_affine q_proj, k_proj, v_proj, out_proj;  /* self_attn.* (D, D) */
    ff_clip_affine fc1;                               /* mlp.fc1 (I, D) */
    ff_clip_affine fc2;                               /* mlp.fc2 (D, I) */
} ff_clip_layer;

typedef struct {
    ff_clip_config cfg;
    /* vision_model.embeddings / pre_layrnorm / post_layernorm */
    ff_tensor class_embedding;     /* (D) */
    ff_tensor patch_embedding;     /* (D, C, p, p) */
    ff_clip_affine pre_layrnorm, post_layernorm;
    /* text_model.embeddings / final_layer_norm */
    ff_tensor token_embedding;     /* (vocab, D) */
    ff_clip_affine final_layer_norm;
    /* both */
    ff_tensor position_embedding;  /* (positions, D) */
    ff_clip_layer *layers;         /* cfg.layers */
    ff_backend *be;                /* set by ff_clip_place: owner of what it moved */
} ff_clip_model;

/* Parameters of layer `index` (16) into out (may be NULL to count); layer may
 * be NULL for a shape-only list. weight_dtype: the dtype the four attention
 * and two MLP matrices are kept in (F32 or BF16); everything else F32. */
#define FF_CLIP_LAYER_PARAMS 16
size_t ff_clip_layer_params(const ff_clip_config *cfg, int index, ff_clip_layer *layer, ff_dtype weight_dtype,
                            ff_param *out);
/* Every parameter (non-layer ones first, then layers in order); m NULL for a
 * list from the config alone. *out malloc'd (caller frees). */
ff_status ff_clip_params(const ff_clip_config *cfg, ff_clip_model *m, ff_dtype weight_dtype, ff_param **out,
                         size_t *n, ff_err *err);

typedef struct {
    int64_t total, per_layer, non_layer;
} ff_clip_counts;
void ff_clip_count_params(const ff_clip_config *cfg, ff_clip_counts *out);

/* Loads an image_encoder / text_encoder_2 folder (config.json + single or
 * sharded safetensors) into host tensors (weight_dtype F32 or BF16, see
 * ff_clip_layer_params). want: FF_CLIP_VISION / FF_CLIP_TEXT / -1 (from the
 * config). */
ff_status ff_clip_load(const char *component_dir, int want, ff_dtype weight_dtype, ff_clip_model **out, ff_err *err);
/* Same, leaving every layer parameter as a shape-only tensor (data NULL)
 * and handing back the open weights they are to be streamed from
 * (offload/stream.h block_weights); the caller frees *weights after the
 * model. */
ff_status ff_clip_load_lazy(const char *component_dir, int want, ff_dtype weight_dtype, ff_clip_model **out,
                            ff_weights **weights, ff_err *err);
/* An empty model for cfg (layer table allocated, no tensors). */
ff_status ff_clip_create(const ff_clip_config *cfg, ff_clip_model **out, ff_err *err);
/* Uniform random weights (a = 1/sqrt(fan_in), tables 0.02, norm gains 1 +- 0.1)
 * from a fixed xorshift seed: tests and benches at real widths. */
ff_status ff_clip_init_random(ff_clip_model *m, uint64_t seed, ff_err *err);
void ff_clip_free(ff_clip_model *m);
/* Moves the non-layer weights (and the layers when with_layers) to be. */
ff_status ff_clip_place(ff_clip_model *m, ff_backend *be, int with_layers, ff_err *err);

/* ---- forward ---------------------------------------------------------- */

/* Around each encoder layer that runs: before_layer may replace the
 * layer's parameter slots with backend tensors, after_layer puts them back. */
typedef struct {
    ff_status (*before_layer)(void *user, int index, ff_param *params, size_t n_params, ff_err *err);
    ff_status (*after_layer)(void *user, int index, ff_param *params, size_t n_params, ff_err *err);
    void *user;
} ff_clip_hooks;

/* CLIPVisionEmbeddings: pixel_values (B, C, S, S) F32 on the backend ->
 * out (B, T, D) (before pre_layrnorm), T = ff_clip_seq_len. */
ff_status ff_clip_vision_embeddings(ff_clip_model *m, ff_backend *be, const ff_tensor *pixel_values, ff_tensor *out,
                                    ff_err *err);
/* hidden_states[n_layers] of CLIPVisionModel(output_hidden_states=True):
 * pre_layrnorm(embeddings) then layers 0..n_layers-1 (0 <= n_layers <=
 * layers; Wan: layers - 1). out (B, T, D) on the backend. hooks may be NULL. */
ff_status ff_clip_vision_forward(ff_clip_model *m, ff_backend *be, const ff_tensor *pixel_values, int n_layers,
                                 const ff_clip_hooks *hooks, ff_tensor *out, ff_err *err);

/* The pooled row of each sample (see the top): ids host I64 (B, L) ->
 * index[B]. */
void ff_clip_text_pooled_index(const ff_clip_config *cfg, const ff_tensor *ids, int64_t *index);
/* CLIPTextModel: ids host I64/I32 (B, L), 1 <= L <= max_position_embeddings,
 * ids in [0, vocab) -> last_hidden (B, L, D) and pooled (B, D) (either may
 * be NULL) on the backend. */
ff_status ff_clip_text_forward(ff_clip_model *m, ff_backend *be, const ff_tensor *ids, const ff_clip_hooks *hooks,
                               ff_tensor *last_hidden, ff_tensor *pooled, ff_err *err);

/* Backend bytes either forward allocates for its activations (weights and
 * outputs excluded) for batch B and T tokens (ff_clip_seq_len). */
ff_status ff_clip_activation_bytes(const ff_clip_config *cfg, int64_t B, int64_t T, size_t *bytes, ff_err *err);

/* Host-tensor conveniences: upload, run, download into owned host tensors. */
ff_status ff_clip_vision_forward_host(ff_clip_model *m, ff_backend *be, const ff_tensor *pixel_values, int n_layers,
                                      const ff_clip_hooks *hooks, ff_tensor *out, ff_err *err);
ff_status ff_clip_text_forward_host(ff_clip_model *m, ff_backend *be, const ff_tensor *ids,
                                    const ff_clip_hooks *hooks, ff_tensor *last_hidden, ff_tensor *pooled,
                                    ff_err *err);

#endif
