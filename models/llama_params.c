/* llama_params: LlamaModel's parameter list from its config (see llama.h,
 * ff_llama_params); names as transformers saves LlamaModel (a loaded model
 * adds its checkpoint's "model." prefix when it has one). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/llama_internal.h"

static void add(ff_param *p, size_t *k, const char *prefix, int block, ff_tensor *slot, ff_dtype dt, int ndim, int64_t d0,
                int64_t d1, const char *what, long long layer) {
    ff_param *e = &p[(*k)++];
    memset(e, 0, sizeof *e);
    if (block >= 0) snprintf(e->name, sizeof e->name, "%slayers.%lld.%s", prefix, layer, what);
    else snprintf(e->name, sizeof e->name, "%s%s", prefix, what);
    e->ndim = ndim;
    for (int i = 0; i < FF_MAX_DIMS; i++) e->shape[i] = 1;
    e->shape[0] = d0;
    if (ndim > 1) e->shape[1] = d1;
    e->block = block;
    e->slot = slot;
    e->dtype = slot && slot->ndim ? slot->dtype : dt;
}

size_t ff_llama_block_params(const ff_llama_config *c, ff_dtype matrix_dtype, ff_llama *m, int64_t i, ff_param *out) {
    const int64_t D = c->hidden_size, Q = c->num_heads * c->head_dim, KV = c->num_kv_heads * c->head_dim,
                  I = c->intermediate_size;
    llama_layer *L = m ? &m->layers[i] : NULL;
    const char *px = m ? m->prefix : "";
    const ff_dtype md = matrix_dtype == FF_BF16 ? FF_BF16 : FF_F32;
    const int b = (int)i;
    const long long l = (long long)i;
    size_t k = 0;
#define S(f) (L ? &L->f : NULL)
    add(out, &k, px, b, S(input_ln), FF_F32, 1, D, 1, "input_layernorm.weight", l);
    add(out, &k, px, b, S(q), md, 2, Q, D, "self_attn.q_proj.weight", l);
    if (c->attention_bias) add(out, &k, px, b, S(q_b), FF_F32, 1, Q, 1, "self_attn.q_proj.bias", l);
    add(out, &k, px, b, S(k), md, 2, KV, D, "self_attn.k_proj.weight", l);
    if (c->attention_bias) add(out, &k, px, b, S(k_b), FF_F32, 1, KV, 1, "self_attn.k_proj.bias", l);
    add(out, &k, px, b, S(v), md, 2, KV, D, "self_attn.v_proj.weight", l);
    if (c->attention_bias) add(out, &k, px, b, S(v_b), FF_F32, 1, KV, 1, "self_attn.v_proj.bias", l);
    add(out, &k, px, b, S(o), md, 2, D, Q, "self_attn.o_proj.weight", l);
    if (c->attention_bias) add(out, &k, px, b, S(o_b), FF_F32, 1, D, 1, "self_attn.o_proj.bias", l);
    add(out, &k, px, b, S(post_ln), FF_F32, 1, D, 1, "post_attention_layernorm.weight", l);
    add(out, &k, px, b, S(gate), md, 2, I, D, "mlp.gate_proj.weight", l);
    if (c->mlp_bias) add(out, &k, px, b, S(gate_b), FF_F32, 1, I, 1, "mlp.gate_proj.bias", l);
    add(out, &k, px, b, S(up), md, 2, I, D, "mlp.up_proj.weight", l);
    if (c->mlp_bias) add(out, &k, px, b, S(up_b), FF_F32, 1, I, 1, "mlp.up_proj.bias", l);
    add(out, &k, px, b, S(down), md, 2, D, I, "mlp.down_proj.weight", l);
    if (c->mlp_bias) add(out, &k, px, b, S(down_b), FF_F32, 1, D, 1, "mlp.down_proj.bias", l);
#undef S
    assert(k <= FF_LLAMA_BLOCK_PARAMS_MAX);
    return k;
}

ff_status ff_llama_params(const ff_llama_config *c, ff_dtype matrix_dtype, ff_llama *m, ff_param **out, size_t *n,
                          ff_err *err) {
    *out = NULL;
    *n = 0;
    if (c->num_layers < 0 || c->num_layers > 4096)
        return ff_err_set(err, FF_ERR_FORMAT, "llama params: num_hidden_layers %lld", (long long)c->num_layers);
    size_t cap = 2 + (size_t)c->num_layers * FF_LLAMA_BLOCK_PARAMS_MAX, k = 0;
    ff_param *p = calloc(cap, sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "llama params: no memory for %zu entries", cap);
    const char *px = m ? m->prefix : "";
    add(p, &k, px, -1, m ? &m->embed : NULL, FF_F32, 2, c->vocab_size, c->hidden_size, "embed_tokens.weight", 0);
    for (int64_t i = 0; i < c->num_layers; i++) k += ff_llama_block_params(c, matrix_dtype, m, i, p + k);
    add(p, &k, px, -1, m ? &m->norm : NULL, FF_F32, 1, c->hidden_size, 1, "norm.weight", 0);
    *out = p;
    *n = k;
    return FF_OK;
}
