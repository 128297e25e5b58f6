/* t5_params: the parameter list of a T5 / mT5 / UMT5 encoder from its config
 * (see t5.h, ff_t5_params). Names are the checkpoint's; embed_tokens is tied
 * to shared and not listed, as transformers saves it. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/t5_internal.h"

static void add(ff_param *p, size_t *k, int block, ff_tensor *slot, ff_dtype dt, int ndim, int64_t d0, int64_t d1,
                const char *fmt, long long layer) {
    ff_param *e = &p[(*k)++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, fmt, layer);
    e->ndim = ndim;
    for (int i = 0; i < FF_MAX_DIMS; i++) e->shape[i] = 1;
    e->shape[0] = d0;
    if (ndim > 1) e->shape[1] = d1;
    e->block = block;
    e->slot = slot;
    e->dtype = slot && slot->ndim ? slot->dtype : dt;
}

/* A matrix is kept as matrix_dtype; "as stored" lists F32 until loaded. */
static ff_dtype mat_dt(ff_dtype matrix_dtype) { return matrix_dtype == FF_BF16 ? FF_BF16 : FF_F32; }

size_t ff_t5_block_params(const ff_t5_config *c, ff_dtype matrix_dtype, ff_t5 *m, int64_t i, ff_param *out) {
    const int64_t D = c->d_model, inner = c->num_heads * c->d_kv;
    t5_block *b = m ? &m->blocks[i] : NULL;
    const ff_dtype md = mat_dt(matrix_dtype);
    const int blk = (int)i;
    const long long l = (long long)i;
    size_t k = 0;
#define S(f) (b ? &b->f : NULL)
    add(out, &k, blk, S(ln0), FF_F32, 1, D, 1, "encoder.block.%lld.layer.0.layer_norm.weight", l);
    add(out, &k, blk, S(q), md, 2, inner, D, "encoder.block.%lld.layer.0.SelfAttention.q.weight", l);
    add(out, &k, blk, S(k), md, 2, inner, D, "encoder.block.%lld.layer.0.SelfAttention.k.weight", l);
    add(out, &k, blk, S(v), md, 2, inner, D, "encoder.block.%lld.layer.0.SelfAttention.v.weight", l);
    add(out, &k, blk, S(o), md, 2, D, inner, "encoder.block.%lld.layer.0.SelfAttention.o.weight", l);
    if (c->bias_per_layer)
        add(out, &k, blk, S(rel_bias), FF_F32, 2, c->num_buckets, c->num_heads,
            "encoder.block.%lld.layer.0.SelfAttention.relative_attention_bias.weight", l);
    add(out, &k, blk, S(ln1), FF_F32, 1, D, 1, "encoder.block.%lld.layer.1.layer_norm.weight", l);
    if (c->gated) {
        add(out, &k, blk, S(wi_0), md, 2, c->d_ff, D, "encoder.block.%lld.layer.1.DenseReluDense.wi_0.weight", l);
        add(out, &k, blk, S(wi_1), md, 2, c->d_ff, D, "encoder.block.%lld.layer.1.DenseReluDense.wi_1.weight", l);
    } else {
        add(out, &k, blk, S(wi_0), md, 2, c->d_ff, D, "encoder.block.%lld.layer.1.DenseReluDense.wi.weight", l);
    }
    add(out, &k, blk, S(wo), md, 2, D, c->d_ff, "encoder.block.%lld.layer.1.DenseReluDense.wo.weight", l);
#undef S
    assert(k <= FF_T5_BLOCK_PARAMS_MAX);
    return k;
}

ff_status ff_t5_params(const ff_t5_config *c, ff_dtype matrix_dtype, ff_t5 *m, ff_param **out, size_t *n, ff_err *err) {
    *out = NULL;
    *n = 0;
    if (c->num_layers < 0 || c->num_layers > 4096)
        return ff_err_set(err, FF_ERR_FORMAT, "t5 params: num_layers %lld", (long long)c->num_layers);
    size_t cap = 3 + (size_t)c->num_layers * FF_T5_BLOCK_PARAMS_MAX, k = 0;
    ff_param *p = calloc(cap, sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "t5 params: no memory for %zu entries", cap);
    add(p, &k, -1, m ? &m->shared : NULL, FF_F32, 2, c->vocab_size, c->d_model, "shared.weight", 0);
    /* T5/mT5: block 0's table serves every layer; it sits outside the blocks
     * so that every block holds the same tensors (offload/stream.h) */
    if (!c->bias_per_layer && c->num_layers > 0)
        add(p, &k, -1, m ? &m->blocks[0].rel_bias : NULL, FF_F32, 2, c->num_buckets, c->num_heads,
            "encoder.block.%lld.layer.0.SelfAttention.relative_attention_bias.weight", 0);
    for (int64_t i = 0; i < c->num_layers; i++) k += ff_t5_block_params(c, matrix_dtype, m, i, p + k);
    add(p, &k, -1, m ? &m->final_ln : NULL, FF_F32, 1, c->d_model, 1, "encoder.final_layer_norm.weight", 0);
    *out = p;
    *n = k;
    return FF_OK;
}
