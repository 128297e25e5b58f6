/* umt5_params: UMT5EncoderModel weight names and shapes from its config, in
 * the order ff_umt5_load reads them (embed_tokens is tied to shared and not
 * listed, as transformers saves it). */
#include <stdio.h>
#include <stdlib.h>

#include "models/umt5_params.h"

ff_status ff_umt5_params(const ff_umt5_config *c, ff_param **out, size_t *n, ff_err *err) {
    *out = NULL;
    *n = 0;
    if (c->num_layers < 0 || c->num_layers > 4096)
        return ff_err_set(err, FF_ERR_FORMAT, "umt5 params: num_layers %lld", (long long)c->num_layers);
    const int64_t D = c->d_model, inner = c->num_heads * c->d_kv;
    size_t cap = 2 + (size_t)c->num_layers * 10, k = 0;
    ff_param *p = calloc(cap, sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "umt5 params: no memory for %zu entries", cap);
    int block = -1;
#define ADD(nd, d0, d1, ...)                                                 \
    do {                                                                     \
        snprintf(p[k].name, sizeof p[k].name, __VA_ARGS__);                  \
        p[k].ndim = (nd), p[k].shape[0] = (d0), p[k].shape[1] = (d1);        \
        for (int d_ = 2; d_ < FF_MAX_DIMS; d_++) p[k].shape[d_] = 1;         \
        p[k].dtype = FF_F32, p[k].block = block, k++;                        \
    } while (0)
    ADD(2, c->vocab_size, D, "shared.weight");
    for (int64_t i = 0; i < c->num_layers; i++) {
        block = (int)i;
        const long long l = (long long)i;
        ADD(1, D, 1, "encoder.block.%lld.layer.0.layer_norm.weight", l);
        ADD(2, inner, D, "encoder.block.%lld.layer.0.SelfAttention.q.weight", l);
        ADD(2, inner, D, "encoder.block.%lld.layer.0.SelfAttention.k.weight", l);
        ADD(2, inner, D, "encoder.block.%lld.layer.0.SelfAttention.v.weight", l);
        ADD(2, D, inner, "encoder.block.%lld.layer.0.SelfAttention.o.weight", l);
        ADD(2, c->num_buckets, c->num_heads, "encoder.block.%lld.layer.0.SelfAttention.relative_attention_bias.weight", l);
        ADD(1, D, 1, "encoder.block.%lld.layer.1.layer_norm.weight", l);
        if (c->gated) {
            ADD(2, c->d_ff, D, "encoder.block.%lld.layer.1.DenseReluDense.wi_0.weight", l);
            ADD(2, c->d_ff, D, "encoder.block.%lld.layer.1.DenseReluDense.wi_1.weight", l);
        } else {
            ADD(2, c->d_ff, D, "encoder.block.%lld.layer.1.DenseReluDense.wi.weight", l);
        }
        ADD(2, D, c->d_ff, "encoder.block.%lld.layer.1.DenseReluDense.wo.weight", l);
    }
    block = -1;
    ADD(1, D, 1, "encoder.final_layer_norm.weight");
#undef ADD
    *out = p;
    *n = k;
    return FF_OK;
}
