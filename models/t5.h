/* t5 (ff_t5_*): the T5 family's text encoder — transformers
 * T5EncoderModel (t5-v1_1, CogVideoX), MT5EncoderModel and
 * UMT5EncoderModel (Wan) — written once against kernels/ops.h.
 *
 * h = shared[input_ids] (no scaling); per block: h += o(SelfAttention(
 * T5LayerNorm(h))) with a relative position bias (bidirectional buckets)
 * plus the additive padding mask and no 1/sqrt(d_kv) scaling; h +=
 * FFN(T5LayerNorm(h)) (gated: wo(act(wi_0 x) * wi_1 x), else wo(act(wi x)));
 * finally T5LayerNorm. The one switch between the variants is where the
 * relative position bias lives (config.json's model_type):
 *   "t5", "mt5": one relative_attention_bias table, in block 0
 *                (has_relative_attention_bias), computed once and added in
 *                every layer (T5Stack passes position_bias on);
 *   "umt5":      every block has its own table (UMT5Attention).
 * Weight names are the checkpoint's (shared.weight, encoder.block.N.layer.0
 * .SelfAttention.q.weight, ...; embed_tokens is tied to shared).
 *
 * Weights: loaded on the host (big matrices as `matrix_dtype`, everything
 * else F32) and placed on the model's backend by ff_t5_load (non-CPU
 * backends get device copies). The parameter list (ff_t5_params) gives every tensor with its
 * block index (= layer; the shared T5 bias table is outside the blocks, so
 * every block has the same tensors), so offload/stream.h can stream the
 * layers through the forward's before/after-block hooks; ff_t5_load_lazy
 * leaves the blocks unloaded and hands back the mmap'd weights they are to
 * be read from.
 *
 * Not here: the tokenizer (tokenizer.h), the prompt logic of each pipeline
 * (prompt.h for Wan, t5_prompt.h for CogVideoX), the decoder stack, fp16
 * clamping (activations are F32). models/umt5.h keeps the older ff_umt5_*
 * names as aliases of these.
 *
 * Ownership: ff_t5 owns its weights (host tensors, or backend tensors it
 * placed); a hook may swap a block's slots for the duration of that block
 * and must put them back in after_block. */
#ifndef FF_T5_H
#define FF_T5_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_model_dir.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/ff_param.h"

typedef struct {
    int64_t vocab_size, d_model, d_kv, d_ff, num_layers, num_heads;
    int64_t num_buckets, max_distance; /* relative_attention_num_buckets / _max_distance */
    float eps;                          /* layer_norm_epsilon */
    int gated;                          /* feed_forward_proj "gated-<act>" */
    ff_unary_kind act;                  /* dense_act_fn */
    int bias_per_layer;                 /* 1: UMT5 (a table per block); 0: T5/mT5 (block 0's table, shared) */
} ff_t5_config;

typedef struct ff_t5 ff_t5;

/* Reads text_encoder/config.json (path of the file). model_type "t5",
 * "mt5" or "umt5" (absent: umt5, as the first Wan exports); others are
 * FF_ERR_UNSUPPORTED. */
ff_status ff_t5_config_read(const char *path, ff_t5_config *cfg, ff_err *err);

/* Relative position bucket of rel = key - query, as
 * T5Attention._relative_position_bucket (bidirectional, float32 math). */
int64_t ff_t5_bucket(const ff_t5_config *cfg, int64_t rel);

/* ---- parameters ------------------------------------------------------ */

/* Parameters per block: ln0, q, k, v, o, [relative_attention_bias (UMT5)],
 * ln1, wi_0, [wi_1 (gated)], wo. */
#define FF_T5_BLOCK_PARAMS_MAX 10

/* Every parameter in load order (shared, [block 0's shared bias table (T5)],
 * blocks, final_layer_norm), block = layer index or -1. Matrices (q, k, v,
 * o, wi_*, wo) get dtype matrix_dtype (FF_F32 or FF_BF16), the rest F32.
 * m: NULL for a shape-only list from the config, else the loaded model (slot
 * set, dtype as the model holds it). *out is malloc'd (caller frees). */
ff_status ff_t5_params(const ff_t5_config *cfg, ff_dtype matrix_dtype, ff_t5 *m, ff_param **out, size_t *n,
                       ff_err *err);

/* ---- loading --------------------------------------------------------- */

/* How the big matrices are kept: FF_F32, FF_BF16 (narrowed as torch's
 * .to(bfloat16) when stored wider), or FF_T5_AS_STORED (BF16 files stay
 * BF16, anything else F32; ops widen BF16 weights). */
#define FF_T5_AS_STORED FF_DTYPE_COUNT

/* dir: the text_encoder folder (config.json + single or sharded
 * safetensors). Every parameter must be present with its shape; tensors the
 * model does not use are FF_ERR_FORMAT (strict, both directions). All
 * weights end up usable by be. */
ff_status ff_t5_load(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_t5 **out, ff_err *err);
/* Same checks, every weight left on the host (ff_t5_place, or offload/
 * stream.h through the parameter list's slots, makes it usable by be). */
ff_status ff_t5_load_host(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_t5 **out, ff_err *err);
/* Same checks; the non-block weights are loaded on the host (hand them to
 * offload/stream.h, which makes the backend copies, or ff_t5_place them),
 * every block parameter is a shape-only tensor (data NULL, the dtype
 * ff_t5_load would keep it in) and *weights (caller frees with
 * ff_weights_free after the model) is the open weights set the blocks are
 * read from (offload/stream.h block_weights). */
ff_status ff_t5_load_lazy(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_t5 **out, ff_weights **weights,
                          ff_err *err);
/* Moves the host weights (the blocks' too when with_blocks) to the model's
 * backend; a no-op on the CPU backend and for tensors already there. */
ff_status ff_t5_place(ff_t5 *m, int with_blocks, ff_err *err);
void ff_t5_free(ff_t5 *m);
const ff_t5_config *ff_t5_get_config(const ff_t5 *m);
ff_backend *ff_t5_backend(const ff_t5 *m);

/* ---- forward --------------------------------------------------------- */

/* Called around each block with the block's parameters (ff_t5_params order,
 * slots set): before_block may point the slots at backend copies,
 * after_block must put the originals back. */
typedef struct {
    ff_status (*before_block)(void *user, int index, ff_param *params, size_t n_params, ff_err *err);
    ff_status (*after_block)(void *user, int index, ff_param *params, size_t n_params, ff_err *err);
    void *user;
} ff_t5_hooks;

/* last_hidden_state: ids, mask host I64 (B, L) (mask may be NULL: all
 * ones, as T5EncoderModel without attention_mask); *out is allocated here
 * on the model's backend as F32 (B, L, d_model) (free with ff_be_free).
 * hooks may be NULL (every block's weights must then be loaded). */
ff_status ff_t5_forward(ff_t5 *m, const ff_tensor *ids, const ff_tensor *mask, const ff_t5_hooks *hooks, ff_tensor *out,
                        ff_err *err);

/* Backend bytes ff_t5_forward allocates for a (B, L) batch, its output
 * included (weights not). with_mask: an attention_mask is passed. */
size_t ff_t5_activation_bytes(const ff_t5_config *cfg, int64_t B, int64_t L, int with_mask);

#endif
