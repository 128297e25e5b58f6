/* t5_internal: the weight structs of models/t5 shared by its files (t5.c:
 * config and loading, t5_params.c: the parameter list, t5_forward.c). The
 * structs follow the checkpoint's module tree: shared, encoder.block.N.layer
 * .{0: SelfAttention + layer_norm, 1: DenseReluDense + layer_norm},
 * encoder.final_layer_norm. Not a public header. */
#ifndef FF_T5_INTERNAL_H
#define FF_T5_INTERNAL_H

#include "models/t5.h"

/* encoder.block.N */
typedef struct {
    /* layer.0: T5LayerSelfAttention */
    ff_tensor ln0;        /* layer.0.layer_norm.weight (D) */
    ff_tensor q, k, v;    /* layer.0.SelfAttention.{q,k,v}.weight (H*d_kv, D) */
    ff_tensor o;          /* layer.0.SelfAttention.o.weight (D, H*d_kv) */
    ff_tensor rel_bias;   /* layer.0.SelfAttention.relative_attention_bias.weight (num_buckets, H):
                             every block of UMT5, block 0 only of T5 */
    /* layer.1: T5LayerFF */
    ff_tensor ln1;        /* layer.1.layer_norm.weight (D) */
    ff_tensor wi_0, wi_1; /* DenseReluDense.wi_0 / wi_1 (d_ff, D); non-gated: wi in wi_0 */
    ff_tensor wo;         /* DenseReluDense.wo.weight (D, d_ff) */
} t5_block;

struct ff_t5 {
    ff_backend *be;
    ff_t5_config cfg;
    ff_dtype matrix_dtype; /* as asked at load (FF_T5_AS_STORED allowed) */
    ff_tensor shared;      /* shared.weight (vocab_size, D) = encoder.embed_tokens */
    t5_block *blocks;      /* num_layers */
    ff_tensor final_ln;    /* encoder.final_layer_norm.weight (D) */
};

/* Fills out (at least FF_T5_BLOCK_PARAMS_MAX entries) with block i's
 * parameters; m may be NULL (shape-only). Returns the count. */
size_t ff_t5_block_params(const ff_t5_config *cfg, ff_dtype matrix_dtype, ff_t5 *m, int64_t i, ff_param *out);

#endif
