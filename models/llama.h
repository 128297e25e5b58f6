/* llama (ff_llama_*): the Llama decoder stack as a text encoder —
 * transformers LlamaModel (modeling_llama.py) as HunyuanVideo uses it
 * (llava-llama-3-8b's text part), written against kernels/ops.h.
 *
 * h = embed_tokens[input_ids]; per decoder layer:
 *   h += o_proj(Attention(RMSNorm(h)))   grouped-query attention: q has
 *        num_attention_heads heads, k/v num_key_value_heads (q head i uses
 *        kv head i / (heads / kv_heads)); RoPE "rotate_half" style on q and
 *        k (rope_theta, rope_scaling default / linear / dynamic / llama3),
 *        positions 0..L-1; scores * head_dim^-0.5; mask = causal AND key
 *        padding (padded queries still see the real tokens before them)
 *   h += down_proj(act(gate_proj(x)) * up_proj(x)),  x = RMSNorm(h)
 * and a final RMSNorm. output_hidden_states gives N+1 states: [0] the
 * embeddings, [i] the output of layer i, [N] the final norm of layer N's
 * output (= last_hidden_state). ff_llama_forward returns one of them
 * (Python indexing, e.g. -3 = hidden_states[-(num_hidden_layers_to_skip+1)]
 * as HunyuanVideoPipeline uses it) and runs only the layers it needs.
 *
 * Weights: loaded on the host (the big matrices as `matrix_dtype`,
 * embeddings, norms and biases F32) and placed on the model's backend by
 * ff_llama_load. The
 * parameter list (ff_llama_params) gives every tensor with its block index
 * (= layer), so offload/stream.h can stream the layers through the
 * forward's before/after-block hooks; ff_llama_load_lazy leaves the layers
 * unloaded and hands back the mmap'd weights they are read from (the real
 * encoder is 7.5 B parameters). Checkpoints saved from LlamaForCausalLM
 * ("model." prefix, lm_head.weight) load too; lm_head is ignored.
 *
 * Not here: the tokenizers (tokenizer.h, bpe.h, llama_tokenizer.h), the
 * HunyuanVideo prompt template and crop (llama_prompt.h), KV caching and
 * generation. Ownership: ff_llama owns its weights (host tensors, or backend
 * tensors it placed); a hook may swap a block's slots for the duration of
 * that block and must put them back in after_block. */
#ifndef FF_LLAMA_H
#define FF_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_model_dir.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/ff_param.h"

typedef enum {
    FF_LLAMA_ROPE_DEFAULT = 0, /* rope_scaling null or {"rope_type": "default"} */
    FF_LLAMA_ROPE_LINEAR,      /* inv_freq / factor */
    FF_LLAMA_ROPE_DYNAMIC,     /* NTK: base grows when L exceeds max_position_embeddings */
    FF_LLAMA_ROPE_LLAMA3       /* Llama 3.1 frequency bands */
} ff_llama_rope_type;

typedef struct {
    int64_t vocab_size, hidden_size, intermediate_size;
    int64_t num_layers;       /* num_hidden_layers */
    int64_t num_heads;        /* num_attention_heads */
    int64_t num_kv_heads;     /* num_key_value_heads (default num_heads) */
    int64_t head_dim;         /* default hidden_size / num_heads */
    int64_t max_position_embeddings;
    float rms_norm_eps;
    double rope_theta;
    ff_llama_rope_type rope_type;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int64_t rope_original_max_position_embeddings;
    int attention_bias, mlp_bias; /* q/k/v/o and gate/up/down biases */
    ff_unary_kind act;            /* hidden_act */
} ff_llama_config;

/* Reads a LlamaConfig object (text_encoder/config.json); `what` names it in
 * errors. Values transformers accepts but we do not implement (other
 * rope_scaling types, pretraining_tp > 1, head_dim not even) are
 * FF_ERR_UNSUPPORTED; impossible values FF_ERR_FORMAT. */
ff_status ff_llama_config_parse(const ff_json *root, const char *what, ff_llama_config *cfg, ff_err *err);
ff_status ff_llama_config_read(const char *path, ff_llama_config *cfg, ff_err *err);

/* LlamaRotaryEmbedding's inverse frequencies for a sequence of L positions
 * (float32, as transformers computes them; dynamic scaling depends on L):
 * inv_freq (head_dim / 2). */
void ff_llama_rope_inv_freq(const ff_llama_config *cfg, int64_t L, float *inv_freq);

/* ---- parameters ------------------------------------------------------ */

/* Parameters per layer: input_layernorm, q/k/v/o_proj (+4 biases),
 * post_attention_layernorm, gate/up/down_proj (+3 biases). */
#define FF_LLAMA_BLOCK_PARAMS_MAX 13

typedef struct ff_llama ff_llama;

/* Every parameter: embed_tokens, the layers in order (block = layer), norm.
 * Matrices get matrix_dtype (FF_F32 or FF_BF16), the rest F32. m: NULL for
 * a shape-only list from the config, else the loaded model (slots set,
 * names as in its checkpoint, dtypes as held). *out malloc'd (caller frees). */
ff_status ff_llama_params(const ff_llama_config *cfg, ff_dtype matrix_dtype, ff_llama *m, ff_param **out, size_t *n,
                          ff_err *err);

/* ---- loading --------------------------------------------------------- */

/* dir: the text_encoder folder (config.json + single or sharded
 * safetensors). matrix_dtype: FF_F32 or FF_BF16 (narrowed as torch's
 * .to(bfloat16) when stored wider). Strict: every parameter present with its
 * shape, no unknown tensor (lm_head.weight and rotary inv_freq buffers
 * excepted). All weights end up usable by be. */
ff_status ff_llama_load(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_llama **out, ff_err *err);
/* Same, every weight left on the host (ff_llama_place, or offload/ through
 * the parameter list's slots, makes them usable by be). */
ff_status ff_llama_load_host(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_llama **out, ff_err *err);
/* Same checks; the non-layer weights are loaded on the host (hand them to
 * offload/stream.h, which makes the backend copies, or ff_llama_place
 * them), every layer parameter is a shape-only tensor (data NULL, the dtype
 * ff_llama_load would keep it in) and *weights (caller frees after the
 * model) is the open weights set the layers are read from
 * (offload/stream.h block_weights). */
ff_status ff_llama_load_lazy(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_llama **out, ff_weights **weights,
                             ff_err *err);
/* Moves the host weights (the layers' too when with_blocks) to the model's
 * backend; a no-op on the CPU backend and for tensors already there. */
ff_status ff_llama_place(ff_llama *m, int with_blocks, ff_err *err);
void ff_llama_free(ff_llama *m);
const ff_llama_config *ff_llama_get_config(const ff_llama *m);
ff_backend *ff_llama_backend(const ff_llama *m);

/* ---- forward --------------------------------------------------------- */

/* before_block / after_block: around each layer that runs, with its
 * parameters (ff_llama_params order, slots set); hidden_state: each
 * hidden_states[index] as it is produced (h on the backend, F32 (B, L, D);
 * valid during the call only). Any may be NULL. */
typedef struct {
    ff_status (*before_block)(void *user, int index, ff_param *params, size_t n_params, ff_err *err);
    ff_status (*after_block)(void *user, int index, ff_param *params, size_t n_params, ff_err *err);
    ff_status (*hidden_state)(void *user, int index, const ff_tensor *h, ff_err *err);
    void *user;
} ff_llama_hooks;

/* LlamaModel.forward(input_ids, attention_mask,
 * output_hidden_states=True).hidden_states[hidden_index]:
 *   ids, mask   host I64 (B, L) (mask NULL: all ones)
 *   hidden_index  in [-(N+1), N]; layers above it do not run
 *   out         allocated here on the model's backend, F32 (B, L, hidden_size)
 *               (free with ff_be_free). */
ff_status ff_llama_forward(ff_llama *m, const ff_tensor *ids, const ff_tensor *mask, int hidden_index,
                           const ff_llama_hooks *hooks, ff_tensor *out, ff_err *err);

/* Backend bytes ff_llama_forward allocates for a (B, L) batch, its output
 * included (weights not). For the memory planner. */
size_t ff_llama_activation_bytes(const ff_llama_config *cfg, int64_t B, int64_t L);

#endif
