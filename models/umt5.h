/* umt5: the UMT5 text encoder (transformers UMT5EncoderModel) written
 * against kernels/ops.h.
 *
 * h = shared[input_ids]; per block: h += SelfAttention(T5LayerNorm(h)) with
 * the block's own relative position bias (bidirectional buckets) plus the
 * additive padding mask, no 1/sqrt(d_kv) scaling; h += FFN(T5LayerNorm(h))
 * (gated-gelu: wo(gelu_new(wi_0 x) * wi_1 x), or a non-gated wi/wo);
 * finally T5LayerNorm. Weight names are the checkpoint's (shared.weight,
 * encoder.block.N.layer.0.SelfAttention.q.weight, ...; embed_tokens is tied
 * to shared). Everything is read from text_encoder/config.json.
 *
 * Owns its weights on the backend it was loaded on. Not here: the
 * tokenizer, the decoder stack, fp16 clamping (activations are F32). */
#ifndef FF_UMT5_H
#define FF_UMT5_H

#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"

typedef struct {
    int64_t vocab_size, d_model, d_kv, d_ff, num_layers, num_heads;
    int64_t num_buckets, max_distance; /* relative_attention_num_buckets / _max_distance */
    float eps;                          /* layer_norm_epsilon */
    int gated;                          /* feed_forward_proj "gated-<act>" */
    ff_unary_kind act;                  /* dense_act_fn */
} ff_umt5_config;

typedef struct ff_umt5 ff_umt5;

/* Reads text_encoder/config.json (path of the file). */
ff_status ff_umt5_config_read(const char *path, ff_umt5_config *cfg, ff_err *err);

/* dir: the text_encoder folder (config.json + safetensors). */
ff_status ff_umt5_load(ff_backend *be, const char *dir, ff_umt5 **out, ff_err *err);
void ff_umt5_free(ff_umt5 *m);
const ff_umt5_config *ff_umt5_get_config(const ff_umt5 *m);
ff_backend *ff_umt5_backend(const ff_umt5 *m);

/* Relative position buckets (L, L) for query i, key j, as
 * UMT5Attention._relative_position_bucket (bidirectional, float32 math). */
int64_t ff_umt5_bucket(const ff_umt5_config *cfg, int64_t rel);

/* last_hidden_state: ids, mask host I64 (B, L) (mask may be NULL: all
 * ones); *out is allocated here on the model's backend as F32 (B, L, d_model)
 * (free with ff_be_free). */
ff_status ff_umt5_forward(ff_umt5 *m, const ff_tensor *ids, const ff_tensor *mask, ff_tensor *out, ff_err *err);

#endif
