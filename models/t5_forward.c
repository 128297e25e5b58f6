/* t5_forward: T5Stack.forward of the encoder (transformers 4.57
 * modeling_t5.py / modeling_umt5.py), block by block with offload hooks;
 * see t5.h. Reads top to bottom like the reference: embed, per block
 * attention (relative position bias + mask, no 1/sqrt(d_kv)) and FFN, each
 * pre-normed and residual, then the final norm. */
#include <float.h>
#include <string.h>

#include "models/t5_internal.h"

/* A borrowed view of t with another shape (same element count). */
static ff_tensor view_as(const ff_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t shape[4] = {d0, d1, d2, d3};
    ff_tensor v;
    ff_tensor_view(&v, t->dtype, ndim, shape, t->data, t->loc);
    return v;
}

/* The forward's activations, allocated once per call. */
typedef struct {
    ff_tensor ids, buckets, mask;    /* (B, L) I64, (L, L) I64, (B, 1, 1, L) F32 */
    ff_tensor h, x, tmp;             /* (B, L, D) */
    ff_tensor q, k, v, att;          /* (B, L, H*d_kv) */
    ff_tensor qh, kh, vh, atth;      /* (B, H, L, d_kv) */
    ff_tensor pb, pbh, bias;         /* (L, L, H), (H, L, L), (B, H, L, L) with a mask */
    ff_tensor f0, f1;                /* (B, L, d_ff) */
} t5_run;

static void run_free(ff_backend *be, t5_run *r) {
    ff_tensor *ts[] = {&r->ids, &r->buckets, &r->mask, &r->h, &r->x, &r->tmp, &r->q, &r->k, &r->v, &r->att,
                       &r->qh, &r->kh, &r->vh, &r->atth, &r->pb, &r->pbh, &r->bias, &r->f0, &r->f1};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ff_be_free(be, ts[i]);
}

size_t ff_t5_activation_bytes(const ff_t5_config *c, int64_t B, int64_t L, int with_mask) {
    const int64_t D = c->d_model, H = c->num_heads, I = c->num_heads * c->d_kv, F = c->d_ff;
    int64_t b = B * L * 8 + L * L * 8 + (with_mask ? B * L * 4 : 0); /* ids, buckets, mask */
    b += 3 * B * L * D * 4;                                           /* h, x, tmp */
    b += 4 * B * L * I * 4 + 4 * B * L * I * 4;                       /* q k v att, split heads */
    b += 2 * L * L * H * 4 + (with_mask ? B * H * L * L * 4 : 0);     /* position bias (two layouts), bias + mask */
    b += (c->gated ? 2 : 1) * B * L * F * 4;                          /* FFN */
    b += B * L * D * 4;                                               /* last_hidden_state */
    return (size_t)b;
}

static ff_status upload_host(ff_backend *be, const ff_tensor *host, ff_tensor *dst, ff_err *err) {
    ff_status st = ff_be_alloc(be, dst, host->dtype, host->ndim, host->shape, err);
    if (!st) st = ff_be_upload(be, dst, host, err);
    return st;
}

/* (B, L, H*d_kv) -> (B, H, L, d_kv) */
static ff_status split_heads(ff_backend *be, const ff_tensor *x, int64_t H, int64_t dk, ff_tensor *out, ff_err *err) {
    static const int perm[4] = {0, 2, 1, 3};
    ff_tensor v = view_as(x, 4, x->shape[0], x->shape[1], H, dk);
    return ff_op_permute(be, &v, perm, out, err);
}

/* T5Attention.compute_bias: relative_attention_bias(buckets).permute(2, 0, 1)[None]
 * (1, H, L, L), plus the extended mask when there is one: r->bias (B, H, L, L). */
static ff_status position_bias(ff_backend *be, t5_run *r, const ff_tensor *table, int has_mask, int64_t H, int64_t L,
                               ff_err *err) {
    static const int perm_bias[3] = {2, 0, 1};
    ff_status st = ff_op_embedding(be, &r->buckets, table, &r->pb, err);
    if (!st) st = ff_op_permute(be, &r->pb, perm_bias, &r->pbh, err);
    if (!st && has_mask) {
        ff_tensor pos = view_as(&r->pbh, 4, 1, H, L, L);
        st = ff_op_binary(be, FF_BIN_ADD, &pos, &r->mask, &r->bias, err);
    }
    return st;
}

ff_status ff_t5_forward(ff_t5 *m, const ff_tensor *ids, const ff_tensor *mask, const ff_t5_hooks *hooks, ff_tensor *out,
                        ff_err *err) {
    memset(out, 0, sizeof *out);
    const ff_t5_config *c = &m->cfg;
    ff_backend *be = m->be;
    if (!ids || ids->ndim != 2 || ids->dtype != FF_I64 || ids->loc != FF_LOC_HOST || ids->shape[0] < 1 || ids->shape[1] < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "t5: input_ids must be a host I64 (B, L) tensor");
    if (mask && (mask->dtype != FF_I64 || mask->loc != FF_LOC_HOST || !ff_tensor_same_shape(mask, ids)))
        return ff_err_set(err, FF_ERR_SHAPE, "t5: attention_mask must be a host I64 tensor shaped like input_ids");
    const int64_t B = ids->shape[0], L = ids->shape[1], D = c->d_model, H = c->num_heads, dk = c->d_kv, inner = H * dk;
    const int64_t *pid = ids->data;
    for (int64_t i = 0; i < B * L; i++)
        if (pid[i] < 0 || pid[i] >= c->vocab_size)
            return ff_err_set(err, FF_ERR_ARG, "t5: input_ids[%lld][%lld] = %lld outside the vocabulary [0, %lld)",
                              (long long)(i / L), (long long)(i % L), (long long)pid[i], (long long)c->vocab_size);
    t5_run r = {0};
    ff_tensor host = {0};
    ff_param params[FF_T5_BLOCK_PARAMS_MAX];
    ff_status st;
#define TRY(expr)                              \
    do {                                       \
        if ((st = (expr)) != FF_OK) goto done; \
    } while (0)
    TRY(upload_host(be, ids, &r.ids, err));
    /* relative_position_bucket (L, L): key j - query i, the same for every layer */
    TRY(ff_tensor_allocv(&host, FF_I64, err, 2, L, L));
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = 0; j < L; j++) ((int64_t *)host.data)[i * L + j] = ff_t5_bucket(c, j - i);
    TRY(upload_host(be, &host, &r.buckets, err));
    ff_tensor_free(&host);
    /* extended mask (B, 1, 1, L): (1 - mask) * finfo(float32).min */
    if (mask) {
        TRY(ff_tensor_allocv(&host, FF_F32, err, 4, B, (int64_t)1, (int64_t)1, L));
        for (int64_t i = 0; i < B * L; i++)
            ((float *)host.data)[i] = (1.0f - (float)((const int64_t *)mask->data)[i]) * -FLT_MAX;
        TRY(upload_host(be, &host, &r.mask, err));
        ff_tensor_free(&host);
    }
    const int64_t sBLD[3] = {B, L, D}, sBLI[3] = {B, L, inner}, sBHLd[4] = {B, H, L, dk}, sBLF[3] = {B, L, c->d_ff};
    const int64_t sLLH[3] = {L, L, H}, sHLL[3] = {H, L, L}, sBias[4] = {B, H, L, L};
    TRY(ff_be_alloc(be, &r.h, FF_F32, 3, sBLD, err));
    TRY(ff_be_alloc(be, &r.x, FF_F32, 3, sBLD, err));
    TRY(ff_be_alloc(be, &r.tmp, FF_F32, 3, sBLD, err));
    TRY(ff_be_alloc(be, &r.q, FF_F32, 3, sBLI, err));
    TRY(ff_be_alloc(be, &r.k, FF_F32, 3, sBLI, err));
    TRY(ff_be_alloc(be, &r.v, FF_F32, 3, sBLI, err));
    TRY(ff_be_alloc(be, &r.att, FF_F32, 3, sBLI, err));
    TRY(ff_be_alloc(be, &r.qh, FF_F32, 4, sBHLd, err));
    TRY(ff_be_alloc(be, &r.kh, FF_F32, 4, sBHLd, err));
    TRY(ff_be_alloc(be, &r.vh, FF_F32, 4, sBHLd, err));
    TRY(ff_be_alloc(be, &r.atth, FF_F32, 4, sBHLd, err));
    TRY(ff_be_alloc(be, &r.pb, FF_F32, 3, sLLH, err));
    TRY(ff_be_alloc(be, &r.pbh, FF_F32, 3, sHLL, err));
    if (mask) TRY(ff_be_alloc(be, &r.bias, FF_F32, 4, sBias, err));
    TRY(ff_be_alloc(be, &r.f0, FF_F32, 3, sBLF, err));
    if (c->gated) TRY(ff_be_alloc(be, &r.f1, FF_F32, 3, sBLF, err));
    TRY(ff_be_alloc(be, out, FF_F32, 3, sBLD, err));

    /* hidden_states = embed_tokens(input_ids) (no scaling) */
    TRY(ff_op_embedding(be, &r.ids, &m->shared, &r.h, err));
    /* T5/mT5: block 0's table, computed once and passed to every layer */
    if (!c->bias_per_layer) TRY(position_bias(be, &r, &m->blocks[0].rel_bias, mask != NULL, H, L, err));
    static const int perm_merge[4] = {0, 2, 1, 3};
    for (int64_t i = 0; i < c->num_layers; i++) {
        const t5_block *b = &m->blocks[i];
        size_t np = 0;
        if (hooks) np = ff_t5_block_params(c, m->matrix_dtype, m, i, params);
        if (hooks && hooks->before_block) TRY(hooks->before_block(hooks->user, (int)i, params, np, err));
        /* layer.0: h += o(attention(layer_norm(h))) */
        st = ff_op_rms_norm(be, &r.h, &b->ln0, c->eps, &r.x, err);
        if (!st) st = ff_op_linear(be, &r.x, &b->q, NULL, &r.q, err);
        if (!st) st = ff_op_linear(be, &r.x, &b->k, NULL, &r.k, err);
        if (!st) st = ff_op_linear(be, &r.x, &b->v, NULL, &r.v, err);
        if (!st) st = split_heads(be, &r.q, H, dk, &r.qh, err);
        if (!st) st = split_heads(be, &r.k, H, dk, &r.kh, err);
        if (!st) st = split_heads(be, &r.v, H, dk, &r.vh, err);
        /* UMT5: this block's own table */
        if (!st && c->bias_per_layer) st = position_bias(be, &r, &b->rel_bias, mask != NULL, H, L, err);
        /* softmax(q k^T + position_bias) v: T5 does not scale by 1/sqrt(d_kv) */
        ff_tensor pos = view_as(&r.pbh, 4, 1, H, L, L);
        if (!st) st = ff_op_sdpa(be, &r.qh, &r.kh, &r.vh, mask ? &r.bias : &pos, 1.0f, &r.atth, err);
        ff_tensor att4 = view_as(&r.att, 4, B, L, H, dk);
        if (!st) st = ff_op_permute(be, &r.atth, perm_merge, &att4, err);
        if (!st) st = ff_op_linear(be, &r.att, &b->o, NULL, &r.tmp, err);
        if (!st) st = ff_op_binary(be, FF_BIN_ADD, &r.h, &r.tmp, &r.h, err);
        /* layer.1: h += wo(act(wi_0 x) * wi_1 x) (gated) or wo(act(wi x)) */
        if (!st) st = ff_op_rms_norm(be, &r.h, &b->ln1, c->eps, &r.x, err);
        if (!st) st = ff_op_linear(be, &r.x, &b->wi_0, NULL, &r.f0, err);
        if (!st) st = ff_op_unary(be, c->act, &r.f0, &r.f0, err);
        if (!st && c->gated) st = ff_op_linear(be, &r.x, &b->wi_1, NULL, &r.f1, err);
        if (!st && c->gated) st = ff_op_binary(be, FF_BIN_MUL, &r.f0, &r.f1, &r.f0, err);
        if (!st) st = ff_op_linear(be, &r.f0, &b->wo, NULL, &r.tmp, err);
        if (!st) st = ff_op_binary(be, FF_BIN_ADD, &r.h, &r.tmp, &r.h, err);
        if (hooks && hooks->after_block) {
            ff_err ignored = {0};
            ff_status st2 = hooks->after_block(hooks->user, (int)i, params, np, st ? &ignored : err);
            if (!st) st = st2;
        }
        if (st) goto done;
    }
    TRY(ff_op_rms_norm(be, &r.h, &m->final_ln, c->eps, out, err));
#undef TRY
done:
    ff_tensor_free(&host);
    run_free(be, &r);
    if (st) {
        ff_be_free(be, out);
        ff_err_wrap(err, "t5 forward (B=%lld, L=%lld): ", (long long)B, (long long)L);
    }
    return st;
}
