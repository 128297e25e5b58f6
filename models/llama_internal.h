/* llama_internal: the weight structs of models/llama shared by its files
 * (llama.c: config and loading, llama_params.c: the parameter list,
 * llama_forward.c). The structs follow LlamaModel's module tree:
 * embed_tokens, layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj,
 * post_attention_layernorm, mlp.{gate,up,down}_proj}, norm. Not a public
 * header. */
#ifndef FF_LLAMA_INTERNAL_H
#define FF_LLAMA_INTERNAL_H

#include "models/llama.h"

/* layers.N */
typedef struct {
    ff_tensor input_ln;                 /* input_layernorm.weight (D) */
    ff_tensor q, k, v, o;               /* self_attn.q_proj (H*hd, D), k/v_proj (KV*hd, D), o_proj (D, H*hd) */
    ff_tensor q_b, k_b, v_b, o_b;       /* their biases (attention_bias), else empty */
    ff_tensor post_ln;                  /* post_attention_layernorm.weight (D) */
    ff_tensor gate, up, down;           /* mlp.gate_proj / up_proj (I, D), down_proj (D, I) */
    ff_tensor gate_b, up_b, down_b;     /* their biases (mlp_bias), else empty */
} llama_layer;

struct ff_llama {
    ff_backend *be;
    ff_llama_config cfg;
    ff_dtype matrix_dtype;
    char prefix[8];       /* "" or "model." (LlamaForCausalLM checkpoints) */
    ff_tensor embed;      /* embed_tokens.weight (vocab, D) */
    llama_layer *layers;  /* num_layers */
    ff_tensor norm;       /* norm.weight (D) */
};

/* Fills out (at least FF_LLAMA_BLOCK_PARAMS_MAX entries) with layer i's
 * parameters; m may be NULL (shape-only). Returns the count. */
size_t ff_llama_block_params(const ff_llama_config *cfg, ff_dtype matrix_dtype, ff_llama *m, int64_t i, ff_param *out);

#endif
