/* llama_forward: LlamaModel.forward (transformers 4.57 modeling_llama.py)
 * with output_hidden_states, block by block with offload hooks; see
 * llama.h. Reads top to bottom like LlamaDecoderLayer.forward.
 *
 * Two layout choices keep it on the existing ops:
 *  - rotate_half RoPE pairs channel j with j + head_dim/2. q and k are
 *    split into heads with their two halves interleaved ((B, L, H, 2, hd/2)
 *    -> (B, H, L, hd/2, 2)), so ff_op_rope's interleaved pairs are exactly
 *    rotate_half's; q and k get the same channel order, and q.k (all the
 *    attention uses them for) does not depend on it. v keeps its order.
 *  - grouped-query attention without repeating k/v: the q heads of one kv
 *    head are adjacent in (B, H, L, hd), so q viewed as (B, KV, rep*L, hd)
 *    attends to k/v (B, KV, L, hd) directly; the mask (B, 1, rep*L, L)
 *    repeats the (L, L) causal-and-padding mask rep times. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "models/llama_internal.h"

static ff_tensor view_as(const ff_tensor *t, int ndim, const int64_t *shape) {
    ff_tensor v;
    ff_tensor_view(&v, t->dtype, ndim, shape, t->data, t->loc);
    return v;
}

/* The forward's activations, allocated once per call. */
typedef struct {
    ff_tensor ids;            /* (B, L) I64 */
    ff_tensor bias;           /* (B, 1, rep*L, L) F32: 0 or -inf (causal AND key padding) */
    ff_tensor cos, sin;       /* (L, hd) interleaved pairs */
    ff_tensor h, x, tmp;      /* (B, L, D) */
    ff_tensor q, att;         /* (B, L, H*hd) */
    ff_tensor k, v;           /* (B, L, KV*hd) */
    ff_tensor qh, atth;       /* (B, H, L, hd) */
    ff_tensor kh, vh;         /* (B, KV, L, hd) */
    ff_tensor g, u;           /* (B, L, I) */
} llama_run;

static void run_free(ff_backend *be, llama_run *r) {
    ff_tensor *ts[] = {&r->ids, &r->bias, &r->cos, &r->sin, &r->h, &r->x, &r->tmp, &r->q, &r->att,
                       &r->k, &r->v, &r->qh, &r->atth, &r->kh, &r->vh, &r->g, &r->u};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ff_be_free(be, ts[i]);
}

size_t ff_llama_activation_bytes(const ff_llama_config *c, int64_t B, int64_t L) {
    const int64_t D = c->hidden_size, Q = c->num_heads * c->head_dim, KV = c->num_kv_heads * c->head_dim,
                  I = c->intermediate_size, rep = c->num_heads / c->num_kv_heads;
    int64_t b = B * L * 8;              /* ids */
    b += B * rep * L * L * 4;           /* mask */
    b += 2 * L * c->head_dim * 4;       /* cos, sin */
    b += 3 * B * L * D * 4;             /* h, x, tmp */
    b += 2 * B * L * Q * 4 * 2;         /* q, att and their head layouts */
    b += 2 * B * L * KV * 4 * 2;        /* k, v and their head layouts */
    b += 2 * B * L * I * 4;             /* gate, up */
    b += B * L * D * 4;                 /* output */
    return (size_t)b;
}

static ff_status upload_host(ff_backend *be, const ff_tensor *host, ff_tensor *dst, ff_err *err) {
    ff_status st = ff_be_alloc(be, dst, host->dtype, host->ndim, host->shape, err);
    if (!st) st = ff_be_upload(be, dst, host, err);
    return st;
}

/* The additive mask (B, 1, rep*L, L): query i sees key j iff j <= i and
 * mask[b][j] (transformers' causal mask AND padding mask). */
static ff_status build_mask(ff_backend *be, const ff_tensor *mask, int64_t B, int64_t L, int64_t rep, ff_tensor *dst,
                            ff_err *err) {
    ff_tensor h;
    ff_status st = ff_tensor_allocv(&h, FF_F32, err, 4, B, (int64_t)1, rep * L, L);
    if (st) return st;
    float *p = h.data;
    const int64_t *m = mask ? mask->data : NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t r = 0; r < rep; r++)
            for (int64_t i = 0; i < L; i++, p += L)
                for (int64_t j = 0; j < L; j++) p[j] = j <= i && (!m || m[b * L + j]) ? 0.0f : -INFINITY;
    st = upload_host(be, &h, dst, err);
    ff_tensor_free(&h);
    return st;
}

/* LlamaRotaryEmbedding: angle = pos * inv_freq_j (float32), cos/sin of it,
 * laid out for ff_op_rope on the interleaved halves (channels 2j, 2j+1 hold
 * pair j). */
static ff_status build_rope(ff_backend *be, const ff_llama_config *c, int64_t L, llama_run *r, ff_err *err) {
    const int64_t hd = c->head_dim, half = hd / 2;
    ff_tensor hc = {0}, hs = {0};
    float inv[4096];
    ff_status st;
    if (half > (int64_t)(sizeof inv / sizeof inv[0]))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "llama: head_dim %lld above 8192", (long long)hd);
    ff_llama_rope_inv_freq(c, L, inv);
    if ((st = ff_tensor_allocv(&hc, FF_F32, err, 2, L, hd)) || (st = ff_tensor_allocv(&hs, FF_F32, err, 2, L, hd))) goto done;
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = 0; j < half; j++) {
            const float a = (float)i * inv[j];
            const float cv = (float)cos((double)a), sv = (float)sin((double)a); /* attention_scaling 1 */
            ((float *)hc.data)[i * hd + 2 * j] = ((float *)hc.data)[i * hd + 2 * j + 1] = cv;
            ((float *)hs.data)[i * hd + 2 * j] = ((float *)hs.data)[i * hd + 2 * j + 1] = sv;
        }
    if ((st = upload_host(be, &hc, &r->cos, err))) goto done;
    st = upload_host(be, &hs, &r->sin, err);
done:
    ff_tensor_free(&hc);
    ff_tensor_free(&hs);
    return st;
}

/* (B, L, n*hd) -> (B, n, L, hd) with each head's halves interleaved, then
 * rotated in place. */
static ff_status heads_rope(ff_backend *be, const ff_tensor *x, int64_t n, int64_t hd, llama_run *r, ff_tensor *out,
                            ff_err *err) {
    static const int perm[5] = {0, 2, 1, 4, 3};
    const int64_t B = x->shape[0], L = x->shape[1];
    const int64_t s5[5] = {B, L, n, 2, hd / 2}, s4[4] = {B * n, L, 1, hd};
    ff_tensor v5 = view_as(x, 5, s5), o5 = view_as(out, 5, (const int64_t[5]){B, n, L, hd / 2, 2});
    ff_status st = ff_op_permute(be, &v5, perm, &o5, err);
    ff_tensor o4 = view_as(out, 4, s4);
    if (!st) st = ff_op_rope(be, &o4, &r->cos, &r->sin, &o4, err);
    return st;
}

static ff_status report(const ff_llama_hooks *hooks, int index, const ff_tensor *h, ff_err *err) {
    return hooks && hooks->hidden_state ? hooks->hidden_state(hooks->user, index, h, err) : FF_OK;
}

ff_status ff_llama_forward(ff_llama *m, const ff_tensor *ids, const ff_tensor *mask, int hidden_index,
                           const ff_llama_hooks *hooks, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    const ff_llama_config *c = &m->cfg;
    ff_backend *be = m->be;
    const int64_t N = c->num_layers;
    if (!ids || ids->ndim != 2 || ids->dtype != FF_I64 || ids->loc != FF_LOC_HOST || ids->shape[0] < 1 || ids->shape[1] < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "llama: input_ids must be a host I64 (B, L) tensor");
    if (mask && (mask->dtype != FF_I64 || mask->loc != FF_LOC_HOST || !ff_tensor_same_shape(mask, ids)))
        return ff_err_set(err, FF_ERR_SHAPE, "llama: attention_mask must be a host I64 tensor shaped like input_ids");
    if (hidden_index < -(N + 1) || hidden_index > N)
        return ff_err_set(err, FF_ERR_ARG, "llama: hidden_states[%d] of %lld (num_hidden_layers + 1)", hidden_index,
                          (long long)(N + 1));
    const int64_t want = hidden_index < 0 ? N + 1 + hidden_index : hidden_index; /* layers to run */
    assert(want >= 0 && want <= N && c->num_heads % c->num_kv_heads == 0 && c->head_dim % 2 == 0); /* config_parse checked */
    const int64_t B = ids->shape[0], L = ids->shape[1], D = c->hidden_size, H = c->num_heads, KVH = c->num_kv_heads,
                  hd = c->head_dim, rep = H / KVH;
    const int64_t *pid = ids->data;
    for (int64_t i = 0; i < B * L; i++)
        if (pid[i] < 0 || pid[i] >= c->vocab_size)
            return ff_err_set(err, FF_ERR_ARG, "llama: input_ids[%lld][%lld] = %lld outside the vocabulary [0, %lld)",
                              (long long)(i / L), (long long)(i % L), (long long)pid[i], (long long)c->vocab_size);
    llama_run r = {0};
    ff_param params[FF_LLAMA_BLOCK_PARAMS_MAX];
    ff_status st;
#define TRY(expr)                              \
    do {                                       \
        if ((st = (expr)) != FF_OK) goto done; \
    } while (0)
    const int64_t sBLD[3] = {B, L, D}, sBLQ[3] = {B, L, H * hd}, sBLK[3] = {B, L, KVH * hd}, sBHLd[4] = {B, H, L, hd},
                  sBKLd[4] = {B, KVH, L, hd}, sBLI[3] = {B, L, c->intermediate_size};
    TRY(upload_host(be, ids, &r.ids, err));
    TRY(build_mask(be, mask, B, L, rep, &r.bias, err));
    TRY(build_rope(be, c, L, &r, err));
    TRY(ff_be_alloc(be, &r.h, FF_F32, 3, sBLD, err));
    TRY(ff_be_alloc(be, &r.x, FF_F32, 3, sBLD, err));
    TRY(ff_be_alloc(be, &r.tmp, FF_F32, 3, sBLD, err));
    TRY(ff_be_alloc(be, &r.q, FF_F32, 3, sBLQ, err));
    TRY(ff_be_alloc(be, &r.att, FF_F32, 3, sBLQ, err));
    TRY(ff_be_alloc(be, &r.k, FF_F32, 3, sBLK, err));
    TRY(ff_be_alloc(be, &r.v, FF_F32, 3, sBLK, err));
    TRY(ff_be_alloc(be, &r.qh, FF_F32, 4, sBHLd, err));
    TRY(ff_be_alloc(be, &r.atth, FF_F32, 4, sBHLd, err));
    TRY(ff_be_alloc(be, &r.kh, FF_F32, 4, sBKLd, err));
    TRY(ff_be_alloc(be, &r.vh, FF_F32, 4, sBKLd, err));
    TRY(ff_be_alloc(be, &r.g, FF_F32, 3, sBLI, err));
    TRY(ff_be_alloc(be, &r.u, FF_F32, 3, sBLI, err));
    TRY(ff_be_alloc(be, out, FF_F32, 3, sBLD, err));

    /* inputs_embeds = embed_tokens(input_ids) */
    TRY(ff_op_embedding(be, &r.ids, &m->embed, &r.h, err));
    if (N > 0) TRY(report(hooks, 0, &r.h, err));
    const float scale = (float)pow((double)hd, -0.5);
    static const int perm_v[4] = {0, 2, 1, 3}, perm_merge[4] = {0, 2, 1, 3};
    const int64_t s4v[4] = {B, L, KVH, hd}, s4a[4] = {B, L, H, hd}, sq[4] = {B, KVH, rep * L, hd};
    for (int64_t i = 0; i < want; i++) {
        const llama_layer *ly = &m->layers[i];
        size_t np = 0;
        if (hooks) np = ff_llama_block_params(c, m->matrix_dtype, m, i, params);
        if (hooks && hooks->before_block) TRY(hooks->before_block(hooks->user, (int)i, params, np, err));
        const ff_tensor *qb = ly->q_b.data ? &ly->q_b : NULL, *kb = ly->k_b.data ? &ly->k_b : NULL,
                        *vb = ly->v_b.data ? &ly->v_b : NULL, *ob = ly->o_b.data ? &ly->o_b : NULL;
        const ff_tensor *gb = ly->gate_b.data ? &ly->gate_b : NULL, *ub = ly->up_b.data ? &ly->up_b : NULL,
                        *db = ly->down_b.data ? &ly->down_b : NULL;
        /* LlamaDecoderLayer: h += self_attn(input_layernorm(h)) */
        st = ff_op_rms_norm(be, &r.h, &ly->input_ln, c->rms_norm_eps, &r.x, err);
        if (!st) st = ff_op_linear(be, &r.x, &ly->q, qb, &r.q, err);
        if (!st) st = ff_op_linear(be, &r.x, &ly->k, kb, &r.k, err);
        if (!st) st = ff_op_linear(be, &r.x, &ly->v, vb, &r.v, err);
        /* apply_rotary_pos_emb(q, k, cos, sin): q*cos + rotate_half(q)*sin */
        if (!st) st = heads_rope(be, &r.q, H, hd, &r, &r.qh, err);
        if (!st) st = heads_rope(be, &r.k, KVH, hd, &r, &r.kh, err);
        ff_tensor v4 = view_as(&r.v, 4, s4v);
        if (!st) st = ff_op_permute(be, &v4, perm_v, &r.vh, err);
        /* softmax(q k^T * head_dim^-0.5 + mask) v, kv head = q head / rep */
        ff_tensor qg = view_as(&r.qh, 4, sq), ag = view_as(&r.atth, 4, sq);
        if (!st) st = ff_op_sdpa(be, &qg, &r.kh, &r.vh, &r.bias, scale, &ag, err);
        ff_tensor a4 = view_as(&r.att, 4, s4a);
        if (!st) st = ff_op_permute(be, &r.atth, perm_merge, &a4, err);
        if (!st) st = ff_op_linear(be, &r.att, &ly->o, ob, &r.tmp, err);
        if (!st) st = ff_op_binary(be, FF_BIN_ADD, &r.h, &r.tmp, &r.h, err);
        /* h += mlp(post_attention_layernorm(h)): down(act(gate(x)) * up(x)) */
        if (!st) st = ff_op_rms_norm(be, &r.h, &ly->post_ln, c->rms_norm_eps, &r.x, err);
        if (!st) st = ff_op_linear(be, &r.x, &ly->gate, gb, &r.g, err);
        if (!st) st = ff_op_unary(be, c->act, &r.g, &r.g, err);
        if (!st) st = ff_op_linear(be, &r.x, &ly->up, ub, &r.u, err);
        if (!st) st = ff_op_binary(be, FF_BIN_MUL, &r.g, &r.u, &r.g, err);
        if (!st) st = ff_op_linear(be, &r.g, &ly->down, db, &r.tmp, err);
        if (!st) st = ff_op_binary(be, FF_BIN_ADD, &r.h, &r.tmp, &r.h, err);
        if (hooks && hooks->after_block) {
            ff_err ignored = {0};
            ff_status st2 = hooks->after_block(hooks->user, (int)i, params, np, st ? &ignored : err);
            if (!st) st = st2;
        }
        if (st) goto done;
        if (i + 1 < N) TRY(report(hooks, (int)(i + 1), &r.h, err));
    }
    /* hidden_states[N] is the final norm's output; the others the raw residual stream */
    if (want == N) {
        TRY(ff_op_rms_norm(be, &r.h, &m->norm, c->rms_norm_eps, out, err));
        TRY(report(hooks, (int)N, out, err));
    } else {
        TRY(ff_op_copy(be, &r.h, out, err));
    }
#undef TRY
done:
    run_free(be, &r);
    if (st) {
        ff_be_free(be, out);
        ff_err_wrap(err, "llama forward (B=%lld, L=%lld): ", (long long)B, (long long)L);
    }
    return st;
}
