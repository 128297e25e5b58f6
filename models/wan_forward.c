/* wan_forward: WanTransformer3DModel.forward on kernels/ops.h, block by
 * block with offload hooks. Reads top to bottom like the diffusers forward:
 * rope -> patch_embedding -> condition_embedder -> blocks -> norm_out /
 * proj_out -> unpatchify. Not here: weights and config (wan_transformer.c),
 * the host tables (wan_rope.c).
 *
 * Activations (all F32 on the backend, allocated once per call):
 *   h      (B, N, D)  residual stream             nrm (B, N, D) normed input
 *   tmp    (B, M, D)  projection / attention out  (M = max(N, L))
 *   arena  max(3*B*M*D, B*N*ffn, 2*B*N*pt*ph*pw*C_out): q/k/v in (B, heads,
 *          M, head_dim), or the FFN hidden (B, N, ffn), or (first and last)
 *          the patch_embedding output and proj_out + unpatchify — one at a time
 *   ctx    (B, L, D)  projected text               rope cos/sin (N, head_dim)
 *   I2V only (Li image rows): ctx_img (B, Li, D) embedded image, img_a /
 *          img_b (B, Li, image_dim) image_embedder scratch; M counts Li too
 *   temb (U, D), tproj (6, U, D), modU (U, D): one row per DISTINCT timestep
 *          value (U is 1 or 2 for a TI2V step, not N); ids (Bt, Nt) I32 maps
 *          each sample / token to its row, and ff_op_embedding gathers the
 *          modulation into modA / modB (Bt, Nt, D): Bt = 1 or B, Nt = 1 or N
 *          (per-token timesteps, Wan 2.2 TI2V). Same arithmetic per row as
 *          diffusers' (B, N, 6, D) timestep_proj, without holding it.
 * Attention goes through ff_op_sdpa, which never forms the (N x N) scores. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan_transformer.h"

#define TRY(expr)                 \
    do {                          \
        if ((st = (expr))) goto done; \
    } while (0)

/* A borrowed view of `n_dims` dims starting `off` elements into base. */
static ff_tensor view(const ff_tensor *base, int64_t off, int ndim, const int64_t *shape) {
    ff_tensor t;
    ff_tensor_view(&t, base->dtype, ndim, shape, (char *)base->data + off * (int64_t)ff_dtype_size(base->dtype),
                   base->loc);
    return t;
}
static ff_tensor view2(const ff_tensor *b, int64_t off, int64_t d0, int64_t d1) {
    int64_t s[2] = {d0, d1};
    return view(b, off, 2, s);
}
static ff_tensor view3(const ff_tensor *b, int64_t off, int64_t d0, int64_t d1, int64_t d2) {
    int64_t s[3] = {d0, d1, d2};
    return view(b, off, 3, s);
}
static ff_tensor view4(const ff_tensor *b, int64_t off, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    return view(b, off, 4, s);
}

static ff_status linear(ff_backend *be, const ff_tensor *x, const ff_wandit_linear *l, ff_tensor *out, ff_err *err) {
    return ff_op_linear(be, x, &l->weight, &l->bias, out, err);
}

typedef struct {
    ff_backend *be;
    const ff_wandit_config *cfg;
    int64_t B, N, L, M, D, H, hd;
    int64_t Li;          /* image context rows (I2V), 0 without */
    int64_t Bt, Nt;      /* modulation batch and token extents (1 when broadcast) */
    int64_t U;           /* distinct timestep values */
    ff_tensor h, nrm, tmp, arena, ctx, rope_cos, rope_sin, temb, tproj, ids, modU, modA, modB, tstep, t1;
    ff_tensor ctx_img, img_a, img_b;
} fwd_state;

/* WanAttnProcessor's I2V branch: o (B, Nq, D) += merged heads of
 * SDPA(q, norm_added_k(add_k_proj(img)), add_v_proj(img)), q = qp (B, H, Nq,
 * hd) in the arena. Reuses the k/v arena slots and s->tmp. */
static ff_status image_attention(fwd_state *s, const ff_wandit_attn *a, const ff_tensor *qp, int64_t Nq,
                                 const ff_tensor *img, ff_tensor *o, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, D = s->D, H = s->H, hd = s->hd, M = s->M, Li = s->Li;
    static const int to_heads[4] = {0, 2, 1, 3};
    ff_tensor kp = view4(&s->arena, B * M * D, B, H, Li, hd), vp = view4(&s->arena, 2 * B * M * D, B, H, Li, hd);
    ff_tensor p = view3(&s->tmp, 0, B, Li, D), p4 = view4(&s->tmp, 0, B, Li, H, hd);
    ff_status st;
    TRY(linear(be, img, &a->add_k_proj, &p, err));
    TRY(ff_op_rms_norm(be, &p, &a->norm_added_k, s->cfg->eps, &p, err)); /* across heads */
    TRY(ff_op_permute(be, &p4, to_heads, &kp, err));
    TRY(linear(be, img, &a->add_v_proj, &p, err));
    TRY(ff_op_permute(be, &p4, to_heads, &vp, err));
    ff_tensor oi = view4(&s->tmp, 0, B, H, Nq, hd), oi2 = view4(&s->arena, B * M * D, B, Nq, H, hd);
    TRY(ff_op_sdpa(be, qp, &kp, &vp, NULL, (float)(1.0 / sqrt((double)hd)), &oi, err));
    TRY(ff_op_permute(be, &oi, to_heads, &oi2, err)); /* flatten(2, 3) */
    ff_tensor oi3 = view3(&s->arena, B * M * D, B, Nq, D);
    TRY(ff_op_binary(be, FF_BIN_ADD, o, &oi3, o, err)); /* hidden_states + hidden_states_img */
done:
    return st;
}

/* WanAttention + WanAttnProcessor: q from xq (B, Nq, D), k/v from xkv
 * (B, Lk, D); RMSNorm over the full inner dim before the head split; RoPE on
 * q and k for self-attention; with img (B, Li, D) the image branch is added
 * before to_out (attn2 of Wan I2V); result (B, Nq, D) in s->tmp. Clobbers
 * s->nrm (which may be xq). */
static ff_status attention(fwd_state *s, const ff_wandit_attn *a, const ff_tensor *xq, int64_t Nq, const ff_tensor *xkv,
                           int64_t Lk, int rope, const ff_tensor *img, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, D = s->D, H = s->H, hd = s->hd, M = s->M;
    const float eps = s->cfg->eps;
    static const int to_heads[4] = {0, 2, 1, 3}; /* (B, L, H, hd) <-> (B, H, L, hd) */
    ff_tensor qp = view4(&s->arena, 0, B, H, Nq, hd);
    ff_tensor kp = view4(&s->arena, B * M * D, B, H, Lk, hd);
    ff_tensor vp = view4(&s->arena, 2 * B * M * D, B, H, Lk, hd);
    ff_status st = FF_OK;
    struct {
        const ff_wandit_linear *proj;
        const ff_tensor *norm; /* norm_q / norm_k; NULL for v */
        const ff_tensor *x;
        int64_t len;
        ff_tensor *dst;
    } steps[3] = {{&a->to_q, &a->norm_q, xq, Nq, &qp}, {&a->to_k, &a->norm_k, xkv, Lk, &kp}, {&a->to_v, NULL, xkv, Lk, &vp}};
    for (int i = 0; i < 3; i++) {
        ff_tensor p = view3(&s->tmp, 0, B, steps[i].len, D);
        TRY(linear(be, steps[i].x, steps[i].proj, &p, err));
        const int is_qk = steps[i].norm != NULL;
        if (is_qk) TRY(ff_op_rms_norm(be, &p, steps[i].norm, eps, &p, err)); /* across heads */
        ff_tensor p4 = view4(&s->tmp, 0, B, steps[i].len, H, hd);         /* unflatten(2, (heads, -1)) */
        if (rope && is_qk) TRY(ff_op_rope(be, &p4, &s->rope_cos, &s->rope_sin, &p4, err));
        TRY(ff_op_permute(be, &p4, to_heads, steps[i].dst, err));
    }
    ff_tensor o = view4(&s->tmp, 0, B, H, Nq, hd);
    TRY(ff_op_sdpa(be, &qp, &kp, &vp, NULL, (float)(1.0 / sqrt((double)hd)), &o, err));
    ff_tensor o2 = view4(&s->nrm, 0, B, Nq, H, hd);
    TRY(ff_op_permute(be, &o, to_heads, &o2, err)); /* flatten(2, 3) */
    ff_tensor o3 = view3(&s->nrm, 0, B, Nq, D), out = view3(&s->tmp, 0, B, Nq, D);
    if (img) TRY(image_attention(s, a, &qp, Nq, img, &o3, err));
    TRY(linear(be, &o3, &a->to_out, &out, err));
done:
    return st;
}

/* mod (Bt, Nt, D) <- (row (1, D) + rows (U, D))[ids]: scale_shift_table[k] +
 * timestep_proj[k] per distinct timestep, gathered per sample / token. */
static ff_status gather_mod(fwd_state *s, const ff_tensor *row, const ff_tensor *rows, ff_tensor *mod, ff_err *err) {
    ff_status st = ff_op_binary(s->be, FF_BIN_ADD, row, rows, &s->modU, err);
    if (!st) st = ff_op_embedding(s->be, &s->ids, &s->modU, mod, err);
    return st;
}

/* The k-th of shift, scale, gate, c_shift, c_scale, c_gate
 * (scale_shift_table (1, 6, D) + timestep_proj, as diffusers). */
static ff_status modulation(fwd_state *s, const ff_tensor *table, int k, ff_tensor *mod, ff_err *err) {
    ff_tensor t = view2(&s->tproj, k * s->U * s->D, s->U, s->D);
    ff_tensor row = view2(table, k * s->D, 1, s->D);
    return gather_mod(s, &row, &t, mod, err);
}

/* WanTransformerBlock.forward. */
static ff_status block_forward(fwd_state *s, const ff_wandit_block *blk, ff_err *err) {
    ff_backend *be = s->be;
    const float eps = s->cfg->eps;
    const int64_t B = s->B, N = s->N, D = s->D;
    ff_tensor out = view3(&s->tmp, 0, B, N, D);
    ff_status st = FF_OK;

    /* 1. self-attention: norm1(h) * (1 + scale) + shift; h += attn1(.) * gate */
    TRY(ff_op_layer_norm(be, &s->h, NULL, NULL, eps, &s->nrm, err));
    TRY(modulation(s, &blk->scale_shift_table, 0, &s->modA, err));
    TRY(modulation(s, &blk->scale_shift_table, 1, &s->modB, err));
    TRY(ff_op_modulate(be, &s->nrm, &s->modA, &s->modB, &s->nrm, err));
    TRY(attention(s, &blk->attn1, &s->nrm, N, &s->nrm, N, 1, NULL, err));
    TRY(modulation(s, &blk->scale_shift_table, 2, &s->modA, err));
    TRY(ff_op_binary(be, FF_BIN_MUL, &out, &s->modA, &out, err));
    TRY(ff_op_binary(be, FF_BIN_ADD, &s->h, &out, &s->h, err));

    /* 2. cross-attention: h += attn2(norm2(h), text) (no gate) */
    if (s->cfg->cross_attn_norm)
        TRY(ff_op_layer_norm(be, &s->h, &blk->norm2_weight, &blk->norm2_bias, eps, &s->nrm, err));
    else
        TRY(ff_op_scale(be, &s->h, 1.0f, 0.0f, &s->nrm, err)); /* norm2 = Identity */
    TRY(attention(s, &blk->attn2, &s->nrm, N, &s->ctx, s->L, 0, s->Li ? &s->ctx_img : NULL, err));
    TRY(ff_op_binary(be, FF_BIN_ADD, &s->h, &out, &s->h, err));

    /* 3. feed-forward: norm3(h) * (1 + c_scale) + c_shift; h += ffn(.) * c_gate */
    TRY(ff_op_layer_norm(be, &s->h, NULL, NULL, eps, &s->nrm, err));
    TRY(modulation(s, &blk->scale_shift_table, 3, &s->modA, err));
    TRY(modulation(s, &blk->scale_shift_table, 4, &s->modB, err));
    TRY(ff_op_modulate(be, &s->nrm, &s->modA, &s->modB, &s->nrm, err));
    ff_tensor fh = view3(&s->arena, 0, B, N, s->cfg->ffn_dim);
    TRY(linear(be, &s->nrm, &blk->ffn_in, &fh, err));
    TRY(ff_op_unary(be, FF_UNARY_GELU_TANH, &fh, &fh, err));
    TRY(linear(be, &fh, &blk->ffn_out, &out, err));
    TRY(modulation(s, &blk->scale_shift_table, 5, &s->modA, err));
    TRY(ff_op_binary(be, FF_BIN_MUL, &out, &s->modA, &out, err));
    TRY(ff_op_binary(be, FF_BIN_ADD, &s->h, &out, &s->h, err));
done:
    return st;
}

/* ---- the BF16 precisions: diffusers' bf16 forward on the fused ops ------------------
 *
 * Under FF_PREC_BF16 / _ALL, what diffusers runs in bf16 under
 * torch_dtype=torch.bfloat16 runs on BF16 tensors, and what it keeps in F32
 * (FP32LayerNorm norm1/2/3, the modulation arithmetic, the residual adds
 * in .float(), the timestep / condition embedders) stays F32; the residual
 * stream h itself stays F32 here (diffusers rounds it to bf16 after each
 * add: keeping it is more accurate, and the golden bf16 cases stay within
 * 1e-2). Per block, with BF16 views into the F32 buffers (half their bytes):
 *   nrm_b  = norm_modulate(h; shift, scale)        LayerNorm + AdaLN, BF16 out
 *   q, k   = qk_norm_rope(linear(nrm_b))           RMSNorm across heads + RoPE, (B, L, H, hd)
 *   v      = linear(nrm_b)                          already (B, L, H, hd)
 *   o      = attention(q, k, v, BLHD)               flash attention on CUDA, no permutes
 *   h      = gate_residual(h, linear(o), gate)
 *   cross-attention likewise (norm2 affine, k / v from the F32 text context, no gate; I2V adds
 *   the image branch through image_attention_bf16),
 *   h      = gate_residual(h, linear(gelu(linear(norm_modulate(h))), c_gate)
 * Buffers: nrm_b in s->nrm, projections in s->tmp, q / k / v and the FFN
 * hidden in s->arena, each a BF16 view of the F32 buffer ff_wandit_forward
 * allocates anyway. */

/* A BF16 view of n_dims dims at BF16 element offset off of an F32 buffer. */
static ff_tensor bview(const ff_tensor *base, int64_t off, int ndim, const int64_t *shape) {
    ff_tensor t;
    ff_tensor_view(&t, FF_BF16, ndim, shape, (char *)base->data + off * 2, base->loc);
    return t;
}
static ff_tensor bview3(const ff_tensor *b, int64_t off, int64_t d0, int64_t d1, int64_t d2) {
    int64_t s[3] = {d0, d1, d2};
    return bview(b, off, 3, s);
}
static ff_tensor bview4(const ff_tensor *b, int64_t off, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    return bview(b, off, 4, s);
}

/* WanAttnProcessor on BF16 operands: q from xq (B, Nq, D) BF16, k / v from
 * xkv (B, Lk, D) (BF16 or the F32 text); result to_out(.) BF16 (B, Nq, D)
 * in s->nrm (xq, which lives there, is consumed first). */
static ff_status attention_bf16(fwd_state *s, const ff_wandit_attn *a, const ff_tensor *xq, int64_t Nq,
                                const ff_tensor *xkv, int64_t Lk, int rope, ff_tensor *out, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, D = s->D, H = s->H, hd = s->hd, M = s->M;
    const float eps = s->cfg->eps;
    ff_tensor q = bview4(&s->arena, 0, B, Nq, H, hd), k = bview4(&s->arena, B * M * D, B, Lk, H, hd);
    ff_tensor v = bview3(&s->arena, 2 * B * M * D, B, Lk, D), v4 = bview4(&s->arena, 2 * B * M * D, B, Lk, H, hd);
    ff_tensor pq = bview3(&s->tmp, 0, B, Nq, D), pk = bview3(&s->tmp, 0, B, Lk, D);
    const ff_tensor *cs = rope ? &s->rope_cos : NULL, *sn = rope ? &s->rope_sin : NULL;
    ff_status st = FF_OK;
    TRY(ff_op_linear_act(be, xq, &a->to_q.weight, &a->to_q.bias, FF_ACT_NONE, &pq, err));
    TRY(ff_op_qk_norm_rope(be, &pq, &a->norm_q, eps, cs, sn, FF_HEADS_BLHD, &q, err));
    TRY(ff_op_linear_act(be, xkv, &a->to_k.weight, &a->to_k.bias, FF_ACT_NONE, &pk, err));
    TRY(ff_op_qk_norm_rope(be, &pk, &a->norm_k, eps, cs, sn, FF_HEADS_BLHD, &k, err));
    TRY(ff_op_linear_act(be, xkv, &a->to_v.weight, &a->to_v.bias, FF_ACT_NONE, &v, err));
    ff_tensor o = bview4(&s->tmp, 0, B, Nq, H, hd), o3 = bview3(&s->tmp, 0, B, Nq, D);
    TRY(ff_op_attention(be, &q, &k, &v4, NULL, (float)(1.0 / sqrt((double)hd)), FF_HEADS_BLHD, &o, err));
    TRY(ff_op_linear_act(be, &o3, &a->to_out.weight, &a->to_out.bias, FF_ACT_NONE, out, err));
done:
    return st;
}

/* The I2V branch of attn2 in BF16: out (B, Nq, D) = to_out.0's matrix (no
 * bias) applied to SDPA(q, norm_added_k(add_k_proj(img)), add_v_proj(img)),
 * with q still in the arena from attention_bf16. to_out is linear, so
 * h + to_out(o + o_img) = (h + to_out(o)) + W o_img: the caller adds the two
 * (diffusers sums o + o_img in bf16 first; the same in the 1e-2 class). */
static ff_status image_attention_bf16(fwd_state *s, const ff_wandit_attn *a, int64_t Nq, ff_tensor *out, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, D = s->D, H = s->H, hd = s->hd, M = s->M, Li = s->Li;
    ff_tensor q = bview4(&s->arena, 0, B, Nq, H, hd), k = bview4(&s->arena, B * M * D, B, Li, H, hd);
    ff_tensor v = bview3(&s->arena, 2 * B * M * D, B, Li, D), v4 = bview4(&s->arena, 2 * B * M * D, B, Li, H, hd);
    ff_tensor pk = bview3(&s->tmp, 0, B, Li, D);
    ff_tensor o = bview4(&s->tmp, 0, B, Nq, H, hd), o3 = bview3(&s->tmp, 0, B, Nq, D);
    ff_status st = FF_OK;
    TRY(ff_op_linear_act(be, &s->ctx_img, &a->add_k_proj.weight, &a->add_k_proj.bias, FF_ACT_NONE, &pk, err));
    TRY(ff_op_qk_norm_rope(be, &pk, &a->norm_added_k, s->cfg->eps, NULL, NULL, FF_HEADS_BLHD, &k, err));
    TRY(ff_op_linear_act(be, &s->ctx_img, &a->add_v_proj.weight, &a->add_v_proj.bias, FF_ACT_NONE, &v, err));
    TRY(ff_op_attention(be, &q, &k, &v4, NULL, (float)(1.0 / sqrt((double)hd)), FF_HEADS_BLHD, &o, err));
    TRY(ff_op_linear_act(be, &o3, &a->to_out.weight, NULL, FF_ACT_NONE, out, err));
done:
    return st;
}

/* WanTransformerBlock.forward in the BF16 precisions (see above). */
static ff_status block_forward_bf16(fwd_state *s, const ff_wandit_block *blk, ff_err *err) {
    ff_backend *be = s->be;
    const float eps = s->cfg->eps;
    const int64_t B = s->B, N = s->N, D = s->D;
    ff_tensor nb = bview3(&s->nrm, 0, B, N, D); /* the normed input, BF16 */
    ff_tensor ob = bview3(&s->nrm, 0, B, N, D); /* a block output, BF16 (after its input is consumed) */
    ff_status st = FF_OK;

    /* 1. self-attention */
    TRY(modulation(s, &blk->scale_shift_table, 0, &s->modA, err));
    TRY(modulation(s, &blk->scale_shift_table, 1, &s->modB, err));
    TRY(ff_op_norm_modulate(be, &s->h, NULL, NULL, &s->modA, &s->modB, eps, &nb, err));
    TRY(attention_bf16(s, &blk->attn1, &nb, N, &nb, N, 1, &ob, err));
    TRY(modulation(s, &blk->scale_shift_table, 2, &s->modA, err));
    TRY(ff_op_gate_residual(be, &s->h, &ob, &s->modA, &s->h, err));

    /* 2. cross-attention (no gate) */
    if (s->cfg->cross_attn_norm)
        TRY(ff_op_norm_modulate(be, &s->h, &blk->norm2_weight, &blk->norm2_bias, NULL, NULL, eps, &nb, err));
    else
        TRY(ff_op_copy(be, &s->h, &nb, err)); /* norm2 = Identity */
    TRY(attention_bf16(s, &blk->attn2, &nb, N, &s->ctx, s->L, 0, &ob, err));
    TRY(ff_op_gate_residual(be, &s->h, &ob, NULL, &s->h, err));
    if (s->Li) { /* I2V: + to_out.0's matrix of the image attention (q is still in the arena) */
        TRY(image_attention_bf16(s, &blk->attn2, N, &ob, err));
        TRY(ff_op_gate_residual(be, &s->h, &ob, NULL, &s->h, err));
    }

    /* 3. feed-forward */
    TRY(modulation(s, &blk->scale_shift_table, 3, &s->modA, err));
    TRY(modulation(s, &blk->scale_shift_table, 4, &s->modB, err));
    TRY(ff_op_norm_modulate(be, &s->h, NULL, NULL, &s->modA, &s->modB, eps, &nb, err));
    ff_tensor fh = bview3(&s->arena, 0, B, N, s->cfg->ffn_dim), fo = bview3(&s->tmp, 0, B, N, D);
    TRY(ff_op_linear_act(be, &nb, &blk->ffn_in.weight, &blk->ffn_in.bias, FF_ACT_GELU_TANH, &fh, err));
    TRY(ff_op_linear_act(be, &fh, &blk->ffn_out.weight, &blk->ffn_out.bias, FF_ACT_NONE, &fo, err));
    TRY(modulation(s, &blk->scale_shift_table, 5, &s->modA, err));
    TRY(ff_op_gate_residual(be, &s->h, &fo, &s->modA, &s->h, err));
done:
    return st;
}

/* Does block_forward_bf16 implement every part of this configuration's
 * blocks? A configuration with parts it does not know must take
 * block_forward in every precision rather than silently lose them: add
 * such conditions here. */
static int bf16_blocks_cover(const ff_wandit_config *cfg) {
    (void)cfg; /* T2V, TI2V and I2V (image branch of attn2) Wan 2.1 / 2.2 blocks: all covered */
    return 1;
}

ff_status ff_wandit_out_shape(const ff_wandit_config *cfg, const ff_tensor *x, int64_t out_shape[5], ff_err *err) {
    char buf[96];
    if (x->ndim != 5 || x->shape[1] != cfg->in_channels)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: hidden_states %s, expected (B, %d, F, H, W)",
                          ff_tensor_describe(x, buf, sizeof buf), cfg->in_channels);
    out_shape[0] = x->shape[0];
    out_shape[1] = cfg->out_channels;
    for (int a = 0; a < 3; a++) {
        int64_t p = x->shape[2 + a] / cfg->patch[a];
        if (p < 1)
            return ff_err_set(err, FF_ERR_SHAPE, "transformer: hidden_states %s smaller than patch_size [%d, %d, %d]",
                              ff_tensor_describe(x, buf, sizeof buf), cfg->patch[0], cfg->patch[1], cfg->patch[2]);
        out_shape[2 + a] = p * cfg->patch[a];
    }
    return FF_OK;
}

/* Timestep values as float32 (torch .float() of int64 / int32 / float). */
static ff_status timestep_values(const ff_tensor *t, float **out, int64_t *n, ff_err *err) {
    char buf[96];
    if (t->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_ARG, "transformer: timestep %s must be a host tensor",
                          ff_tensor_describe(t, buf, sizeof buf));
    *n = ff_tensor_numel(t);
    float *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    if (!v) return ff_err_set(err, FF_ERR_NOMEM, "transformer: cannot allocate %lld timesteps", (long long)*n);
    ff_tensor dst;
    int64_t shp[1] = {*n};
    ff_tensor_view(&dst, FF_F32, 1, shp, v, FF_LOC_HOST);
    ff_tensor src = *t;
    src.ndim = 1;
    src.shape[0] = *n;
    for (int i = 1; i < FF_MAX_DIMS; i++) src.shape[i] = 1;
    ff_status st = ff_tensor_convert(&dst, &src, err);
    if (st) {
        free(v);
        return ff_err_wrap(err, "transformer: timestep: ");
    }
    *out = v;
    return FF_OK;
}

static int cmp_bits(const void *a, const void *b) {
    uint32_t x = **(const uint32_t *const *)a, y = **(const uint32_t *const *)b;
    return x < y ? -1 : x > y;
}

/* Distinct values of v[0..n) (bitwise) into uniq (first-seen order is not
 * needed: sorted by bit pattern), ids[i] = row of v[i]; returns the count. */
static ff_status distinct_values(const float *v, int64_t n, float *uniq, int32_t *ids, int64_t *u, ff_err *err) {
    const float **p = malloc((size_t)(n ? n : 1) * sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "transformer: cannot sort %lld timesteps", (long long)n);
    for (int64_t i = 0; i < n; i++) p[i] = &v[i];
    qsort(p, (size_t)n, sizeof *p, cmp_bits);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || memcmp(p[i], p[i - 1], sizeof(float)) != 0) uniq[k++] = *p[i];
        ids[p[i] - v] = (int32_t)(k - 1);
    }
    free(p);
    *u = k;
    return FF_OK;
}

/* Every backend buffer a forward allocates (see the top of this file). */
#define ACT_MAX 20
typedef struct {
    ff_tensor *t;
    ff_dtype dt;
    int ndim;
    int64_t shape[3];
    const char *what;
} act_spec;

static int act_specs(const ff_wandit_config *cfg, int64_t B, int64_t N, int64_t L, int64_t Li, int64_t Bt, int64_t Nt,
                     int64_t U, fwd_state *s, act_spec *o) {
    const int64_t D = cfg->dim, M = N > L ? (N > Li ? N : Li) : (L > Li ? L : Li);
    const int64_t pc = (int64_t)cfg->patch[0] * cfg->patch[1] * cfg->patch[2] * cfg->out_channels;
    int64_t arena = 3 * B * M * D;                          /* q, k, v in (B, heads, M, head_dim) */
    if (B * N * cfg->ffn_dim > arena) arena = B * N * cfg->ffn_dim; /* FFN hidden */
    if (2 * B * N * pc > arena) arena = 2 * B * N * pc;     /* proj_out + unpatchify (conv: B*D*N fits) */
    const act_spec specs[] = {
        {&s->h, FF_F32, 3, {B, N, D}, "hidden_states"},
        {&s->nrm, FF_F32, 3, {B, N, D}, "norm"},
        {&s->tmp, FF_F32, 1, {B * M * D}, "projections"},
        {&s->arena, FF_F32, 1, {arena}, "attention / ffn"},
        {&s->ctx, FF_F32, 3, {B, L, D}, "text"},
        {&s->rope_cos, FF_F32, 2, {N, cfg->head_dim}, "rope"},
        {&s->rope_sin, FF_F32, 2, {N, cfg->head_dim}, "rope"},
        {&s->temb, FF_F32, 2, {U, D}, "temb"},
        {&s->tproj, FF_F32, 3, {6, U, D}, "timestep_proj"},
        {&s->modU, FF_F32, 2, {U, D}, "modulation rows"},
        {&s->ids, FF_I32, 2, {Bt, Nt}, "timestep ids"},
        {&s->modA, FF_F32, 3, {Bt, Nt, D}, "modulation"},
        {&s->modB, FF_F32, 3, {Bt, Nt, D}, "modulation"},
        {&s->tstep, FF_F32, 2, {U, cfg->freq_dim}, "timestep embedding"},
        {&s->t1, FF_F32, 2, {U, 6 * D}, "time_proj"},
    };
    int n = (int)(sizeof specs / sizeof specs[0]);
    for (int i = 0; i < n; i++) o[i] = specs[i];
    if (Li > 0) { /* I2V: the embedded image context and the image_embedder's scratch */
        o[n++] = (act_spec){&s->ctx_img, FF_F32, 3, {B, Li, D}, "image context"};
        o[n++] = (act_spec){&s->img_a, FF_F32, 1, {B * Li * cfg->image_dim}, "image_embedder"};
        o[n++] = (act_spec){&s->img_b, FF_F32, 1, {B * Li * cfg->image_dim}, "image_embedder"};
    }
    return n;
}

ff_status ff_wandit_activation_bytes(const ff_wandit_config *cfg, const int64_t x_shape[5], int64_t text_len,
                                  int per_token, int64_t n_distinct, size_t *bytes, ff_err *err) {
    return ff_wandit_activation_bytes_image(cfg, x_shape, text_len, 0, per_token, n_distinct, bytes, err);
}

ff_status ff_wandit_activation_bytes_image(const ff_wandit_config *cfg, const int64_t x_shape[5], int64_t text_len,
                                           int64_t image_len, int per_token, int64_t n_distinct, size_t *bytes,
                                           ff_err *err) {
    const int64_t B = x_shape[0];
    int64_t N = 1;
    for (int a = 0; a < 3; a++) N *= x_shape[2 + a] / cfg->patch[a];
    if (B < 1 || N < 1 || text_len < 1 || image_len < 0 || (image_len > 0 && !cfg->image_dim))
        return ff_err_set(err, FF_ERR_ARG, "transformer activation size: B %lld, %lld tokens, %lld text rows, %lld image rows",
                          (long long)B, (long long)N, (long long)text_len, (long long)image_len);
    const int64_t Nt = per_token ? N : 1, U = n_distinct > 0 && n_distinct < B * Nt ? n_distinct : B * Nt;
    fwd_state s;
    act_spec specs[ACT_MAX];
    int n = act_specs(cfg, B, N, text_len, image_len, B, Nt, U, &s, specs);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t e = 1;
        for (int k = 0; k < specs[i].ndim; k++) e *= specs[i].shape[k];
        total += (size_t)e * ff_dtype_size(specs[i].dt);
    }
    *bytes = total;
    return FF_OK;
}

ff_status ff_wandit_image_rows(const ff_wandit_config *cfg, const ff_tensor *image, int64_t B, int64_t *rows,
                               ff_err *err) {
    char b1[96];
    *rows = 0;
    if (!cfg->image_dim)
        return ff_err_set(err, FF_ERR_ARG, "transformer: encoder_hidden_states_image given to a model without an "
                                           "image branch (image_dim is null)");
    if (image->dtype != FF_F32 || image->ndim != 3 || image->shape[2] != cfg->image_dim || image->shape[1] < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: encoder_hidden_states_image %s, expected (B, T, %d) F32",
                          ff_tensor_describe(image, b1, sizeof b1), cfg->image_dim);
    if (cfg->pos_embed_seq_len) { /* WanImageEmbedding: view(-1, 2 * seq_len, embed_dim) + pos_embed */
        if (image->shape[0] != 2 * B || 2 * image->shape[1] != cfg->pos_embed_seq_len)
            return ff_err_set(err, FF_ERR_SHAPE,
                              "transformer: encoder_hidden_states_image %s, expected (%lld, %d, %d): two images per "
                              "sample (pos_embed_seq_len %d)",
                              ff_tensor_describe(image, b1, sizeof b1), (long long)(2 * B), cfg->pos_embed_seq_len / 2,
                              cfg->image_dim, cfg->pos_embed_seq_len);
        *rows = 2 * image->shape[1];
    } else {
        if (image->shape[0] != B)
            return ff_err_set(err, FF_ERR_SHAPE, "transformer: encoder_hidden_states_image %s, expected batch %lld",
                              ff_tensor_describe(image, b1, sizeof b1), (long long)B);
        *rows = image->shape[1];
    }
    return FF_OK;
}

/* WanImageEmbedding.forward into out (B, Li, D): [+ pos_embed], norm1, ff
 * (Linear, exact GELU, Linear), norm2; a and b hold B * Li * image_dim. */
static ff_status image_embed(ff_wandit_model *m, ff_backend *be, const ff_tensor *image, int64_t B, int64_t Li,
                             ff_tensor *a, ff_tensor *b, ff_tensor *out, ff_err *err) {
    const int64_t id = m->cfg.image_dim;
    const float eps = 1e-5f; /* FP32LayerNorm(features): nn.LayerNorm's default */
    ff_tensor x = view3(image, 0, B, Li, id), ta = view3(a, 0, B, Li, id), tb = view3(b, 0, B, Li, id);
    ff_status st;
    if (m->cfg.pos_embed_seq_len) {
        TRY(ff_op_binary(be, FF_BIN_ADD, &x, &m->img_pos_embed, &tb, err));
        TRY(ff_op_layer_norm(be, &tb, &m->img_norm1_weight, &m->img_norm1_bias, eps, &ta, err));
    } else {
        TRY(ff_op_layer_norm(be, &x, &m->img_norm1_weight, &m->img_norm1_bias, eps, &ta, err));
    }
    TRY(linear(be, &ta, &m->img_ff_in, &tb, err));
    TRY(ff_op_unary(be, FF_UNARY_GELU_ERF, &tb, &tb, err));
    TRY(linear(be, &tb, &m->img_ff_out, out, err));
    TRY(ff_op_layer_norm(be, out, &m->img_norm2_weight, &m->img_norm2_bias, eps, out, err));
done:
    return st;
}

ff_status ff_wandit_image_embed(ff_wandit_model *m, ff_backend *be, const ff_tensor *image, ff_tensor *out,
                                ff_err *err) {
    char b1[96];
    if (!m->cfg.image_dim || image->ndim != 3)
        return ff_err_set(err, FF_ERR_ARG, "transformer: image_embedder of a model with%s image branch on %s",
                          m->cfg.image_dim ? "" : "out an", ff_tensor_describe(image, b1, sizeof b1));
    const int64_t B = m->cfg.pos_embed_seq_len ? image->shape[0] / 2 : image->shape[0];
    int64_t Li;
    ff_status st = ff_wandit_image_rows(&m->cfg, image, B, &Li, err);
    if (st) return st;
    if (out->ndim != 3 || out->shape[0] != B || out->shape[1] != Li || out->shape[2] != m->cfg.dim)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: image context %s, expected (%lld, %lld, %d)",
                          ff_tensor_describe(out, b1, sizeof b1), (long long)B, (long long)Li, m->cfg.dim);
    ff_tensor a = {0}, b = {0};
    const int64_t n[1] = {B * Li * m->cfg.image_dim};
    if (!(st = ff_be_alloc(be, &a, FF_F32, 1, n, err)) && !(st = ff_be_alloc(be, &b, FF_F32, 1, n, err)))
        st = image_embed(m, be, image, B, Li, &a, &b, out, err);
    if (a.data) ff_be_free(be, &a);
    if (b.data) ff_be_free(be, &b);
    return st;
}

ff_status ff_wandit_forward(ff_wandit_model *m, ff_backend *be, const ff_tensor *x, const ff_tensor *timestep,
                         const ff_tensor *text, const ff_wandit_hooks *hooks, ff_tensor *out, ff_err *err) {
    return ff_wandit_forward_image(m, be, x, timestep, text, NULL, hooks, out, err);
}

ff_status ff_wandit_forward_image(ff_wandit_model *m, ff_backend *be, const ff_tensor *x, const ff_tensor *timestep,
                                  const ff_tensor *text, const ff_tensor *image, const ff_wandit_hooks *hooks,
                                  ff_tensor *out, ff_err *err) {
    const ff_wandit_config *cfg = &m->cfg;
    fwd_state s;
    memset(&s, 0, sizeof s);
    s.be = be;
    s.cfg = cfg;
    ff_status st;
    char b1[96], b2[96];
    float *tvals = NULL, *host = NULL, *uniq = NULL;
    int32_t *ids_host = NULL;
    ff_tensor conv = {0}, po = {0}, po2 = {0};

    /* ---- shapes */
    int64_t oshape[5];
    if ((st = ff_wandit_out_shape(cfg, x, oshape, err))) return st;
    const int64_t B = x->shape[0], D = cfg->dim;
    const int64_t pf = x->shape[2] / cfg->patch[0], ph = x->shape[3] / cfg->patch[1], pw = x->shape[4] / cfg->patch[2];
    const int64_t N = pf * ph * pw;
    if (text->ndim != 3 || text->shape[0] != B || text->shape[2] != cfg->text_dim || text->shape[1] < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: encoder_hidden_states %s, expected (%lld, L, %d)",
                          ff_tensor_describe(text, b1, sizeof b1), (long long)B, cfg->text_dim);
    {
        int ok = out->ndim == 5;
        for (int i = 0; ok && i < 5; i++) ok = out->shape[i] == oshape[i];
        if (!ok) {
            ff_tensor want;
            ff_tensor_view(&want, FF_F32, 5, oshape, NULL, FF_LOC_HOST);
            return ff_err_set(err, FF_ERR_SHAPE, "transformer: out %s, expected %s",
                              ff_tensor_describe(out, b1, sizeof b1), ff_tensor_describe(&want, b2, sizeof b2));
        }
    }
    /* timestep: (B,) | (1,) | () one per sample, or (B|1, N|1) one per token */
    int64_t Bt = 1, Nt = 1;
    if (timestep->ndim == 1) Bt = timestep->shape[0];
    else if (timestep->ndim == 2) Bt = timestep->shape[0], Nt = timestep->shape[1];
    if (timestep->ndim > 2 || (Bt != 1 && Bt != B) || (Nt != 1 && Nt != N))
        return ff_err_set(err, FF_ERR_SHAPE,
                          "transformer: timestep %s, expected (%lld,) or per token (%lld, %lld) for hidden_states %s",
                          ff_tensor_describe(timestep, b1, sizeof b1), (long long)B, (long long)B, (long long)N,
                          ff_tensor_describe(x, b2, sizeof b2));
    if (cfg->image_dim && !image)
        return ff_err_set(err, FF_ERR_ARG,
                          "transformer: this model has an image branch (image_dim %d): it needs "
                          "encoder_hidden_states_image (CLIP hidden_states[-2])",
                          cfg->image_dim);
    if (image && (st = ff_wandit_image_rows(cfg, image, B, &s.Li, err))) return st;
    s.B = B, s.N = N, s.L = text->shape[1], s.D = D, s.H = cfg->heads, s.hd = cfg->head_dim;
    s.M = s.N > s.L ? s.N : s.L;
    if (s.Li > s.M) s.M = s.Li;
    s.Bt = Bt, s.Nt = Nt;
    const int64_t T = Bt * Nt;
    {
        int64_t nt;
        if ((st = timestep_values(timestep, &tvals, &nt, err))) goto done;
        uniq = malloc((size_t)T * sizeof *uniq);
        ids_host = malloc((size_t)T * sizeof *ids_host);
        if (!uniq || !ids_host) {
            st = ff_err_set(err, FF_ERR_NOMEM, "transformer: cannot allocate %lld timestep rows", (long long)T);
            goto done;
        }
        if ((st = distinct_values(tvals, T, uniq, ids_host, &s.U, err))) goto done;
    }
    const int64_t U = s.U;

    /* ---- buffers */
    {
        act_spec specs[ACT_MAX];
        int n = act_specs(cfg, B, N, s.L, s.Li, Bt, Nt, U, &s, specs);
        for (int i = 0; i < n; i++)
            if ((st = ff_be_alloc(be, specs[i].t, specs[i].dt, specs[i].ndim, specs[i].shape, err))) {
                ff_err_wrap(err, "transformer activations (%s): ", specs[i].what);
                goto done;
            }
    }
    /* patch_embedding output, proj_out output and the unpatchify step live in the arena */
    const int64_t pc = (int64_t)cfg->patch[0] * cfg->patch[1] * cfg->patch[2] * cfg->out_channels;
    {
        int64_t sh_conv[5] = {B, D, pf, ph, pw}, sh_po[3] = {B, N, pc};
        conv = view(&s.arena, 0, 5, sh_conv);
        po = view(&s.arena, 0, 3, sh_po);
        po2 = view(&s.arena, B * N * pc, 3, sh_po);
    }

    /* ---- rotary tables (WanRotaryPosEmbed), computed on the host */
    {
        size_t tab = (size_t)(N * s.hd);
        size_t need = 2 * tab;
        size_t ts_n = (size_t)(U * cfg->freq_dim);
        if (ts_n > need) need = ts_n;
        host = malloc(need * sizeof *host);
        if (!host) {
            st = ff_err_set(err, FF_ERR_NOMEM, "transformer: cannot allocate %zu floats of host tables", need);
            goto done;
        }
        TRY(ff_wandit_rope_tables(cfg, pf, ph, pw, host, host + tab, err));
        ff_tensor hc, hs;
        int64_t sh[2] = {N, s.hd};
        ff_tensor_view(&hc, FF_F32, 2, sh, host, FF_LOC_HOST);
        ff_tensor_view(&hs, FF_F32, 2, sh, host + tab, FF_LOC_HOST);
        TRY(ff_be_upload(be, &s.rope_cos, &hc, err));
        TRY(ff_be_upload(be, &s.rope_sin, &hs, err));

        /* ---- condition_embedder: timesteps_proj -> time_embedder -> time_proj,
         * once per distinct timestep value */
        ff_wandit_timestep_embedding(uniq, U, cfg->freq_dim, host);
        int64_t sh_ts[2] = {U, cfg->freq_dim}, sh_ids[2] = {Bt, Nt};
        ff_tensor he, hi;
        ff_tensor_view(&he, FF_F32, 2, sh_ts, host, FF_LOC_HOST);
        ff_tensor_view(&hi, FF_I32, 2, sh_ids, ids_host, FF_LOC_HOST);
        TRY(ff_be_upload(be, &s.tstep, &he, err));
        TRY(ff_be_upload(be, &s.ids, &hi, err));
    }
    {
        ff_tensor scratch = s.modU;
        TRY(linear(be, &s.tstep, &m->time_linear_1, &scratch, err));    /* time_embedder.linear_1 */
        TRY(ff_op_unary(be, FF_UNARY_SILU, &scratch, &scratch, err));
        TRY(linear(be, &scratch, &m->time_linear_2, &s.temb, err));   /* temb (U, D) */
        TRY(ff_op_unary(be, FF_UNARY_SILU, &s.temb, &scratch, err));
        TRY(linear(be, &scratch, &m->time_proj, &s.t1, err));           /* timestep_proj (U, 6D) */
        ff_tensor tp3 = view3(&s.t1, 0, U, 6, D);
        static const int chunk_first[3] = {1, 0, 2};                 /* (U, 6, D) -> (6, U, D) */
        TRY(ff_op_permute(be, &tp3, chunk_first, &s.tproj, err));
    }
    /* text_embedder: linear_2(gelu_tanh(linear_1(text))) */
    {
        ff_tensor t = view3(&s.tmp, 0, B, s.L, D);
        TRY(linear(be, text, &m->text_linear_1, &t, err));
        TRY(ff_op_unary(be, FF_UNARY_GELU_TANH, &t, &t, err));
        TRY(linear(be, &t, &m->text_linear_2, &s.ctx, err));
    }
    /* image_embedder (I2V): encoder_hidden_states_image -> image context rows */
    if (image) TRY(image_embed(m, be, image, B, s.Li, &s.img_a, &s.img_b, &s.ctx_img, err));

    /* ---- patch_embedding: Conv3d(kernel = stride = patch) -> flatten(2).transpose(1, 2) */
    {
        const int stride[3] = {cfg->patch[0], cfg->patch[1], cfg->patch[2]}, pad[6] = {0, 0, 0, 0, 0, 0};
        TRY(ff_op_conv3d(be, x, &m->patch_embedding_weight, &m->patch_embedding_bias, stride, pad, &conv, err));
        ff_tensor c3 = view3(&conv, 0, B, D, N);
        static const int tr[3] = {0, 2, 1};
        TRY(ff_op_permute(be, &c3, tr, &s.h, err));
    }

    /* ---- blocks */
    for (int i = 0; i < cfg->num_layers; i++) {
        ff_wandit_block *blk = &m->blocks[i];
        ff_param params[FF_WANDIT_BLOCK_PARAMS_MAX];
        size_t np = 0;
        if (hooks) np = ff_wandit_block_params(cfg, i, blk, params);
        if (hooks && hooks->before_block && (st = hooks->before_block(hooks->user, i, blk, params, np, err))) {
            ff_err_wrap(err, "transformer: before blocks.%d: ", i);
            goto done;
        }
        st = ff_backend_precision(be) != FF_PREC_F32 && bf16_blocks_cover(cfg) ? block_forward_bf16(&s, blk, err)
                                                                                 : block_forward(&s, blk, err);
        if (st) {
            ff_err_wrap(err, "transformer blocks.%d: ", i);
            if (hooks && hooks->after_block) {
                ff_err ignored = {0};
                hooks->after_block(hooks->user, i, blk, params, np, &ignored);
            }
            goto done;
        }
        if (hooks && hooks->after_block && (st = hooks->after_block(hooks->user, i, blk, params, np, err))) {
            ff_err_wrap(err, "transformer: after blocks.%d: ", i);
            goto done;
        }
    }

    /* ---- norm_out (no affine) * (1 + scale) + shift with (scale_shift_table + temb), proj_out */
    TRY(ff_op_layer_norm(be, &s.h, NULL, NULL, cfg->eps, &s.nrm, err));
    {
        ff_tensor shift_row = view2(&m->scale_shift_table, 0, 1, D);
        ff_tensor scale_row = view2(&m->scale_shift_table, D, 1, D);
        TRY(gather_mod(&s, &shift_row, &s.temb, &s.modA, err));
        TRY(gather_mod(&s, &scale_row, &s.temb, &s.modB, err));
    }
    TRY(ff_op_modulate(be, &s.nrm, &s.modA, &s.modB, &s.nrm, err));
    TRY(linear(be, &s.nrm, &m->proj_out, &po, err));

    /* ---- unpatchify: (B, F', H', W', pt, ph, pw, C) -> (B, C, F'*pt, H'*ph, W'*pw),
     * diffusers' permute(0, 7, 1, 4, 2, 5, 3, 6), in two permutes of <= 6 dims:
     * (B F' H', W', pt ph, pw, C) -> (B F' H', C, pt ph, W', pw), then
     * (B, F', H', C, pt, ph W' pw) -> (B, C, F', pt, H', ph W' pw). */
    {
        const int64_t pt_ = cfg->patch[0], ph_ = cfg->patch[1], pw_ = cfg->patch[2], C = cfg->out_channels;
        int64_t sa[5] = {B * pf * ph, pw, pt_ * ph_, pw_, C};
        int64_t sb[6] = {B, pf, ph, C, pt_, ph_ * pw * pw_};
        static const int pa[5] = {0, 4, 2, 1, 3}, pb[6] = {0, 3, 1, 4, 2, 5};
        ff_tensor a = view(&po, 0, 5, sa), a_out;
        int64_t sa_out[5] = {B * pf * ph, C, pt_ * ph_, pw, pw_};
        a_out = view(&po2, 0, 5, sa_out);
        TRY(ff_op_permute(be, &a, pa, &a_out, err));
        ff_tensor b = view(&po2, 0, 6, sb), b_out;
        int64_t sb_out[6] = {B, C, pf, pt_, ph, ph_ * pw * pw_};
        b_out = view(out, 0, 6, sb_out);
        TRY(ff_op_permute(be, &b, pb, &b_out, err));
    }

done:
    free(tvals);
    free(host);
    free(uniq);
    free(ids_host);
    ff_tensor *acts[] = {&s.h,    &s.nrm, &s.tmp,  &s.arena, &s.ctx,  &s.rope_cos, &s.rope_sin, &s.temb,
                         &s.tproj, &s.ids, &s.modU, &s.modA, &s.modB, &s.tstep,    &s.t1, &s.ctx_img,
                         &s.img_a, &s.img_b};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (acts[i]->data) ff_be_free(be, acts[i]);
    return st;
}

ff_status ff_wandit_forward_host(ff_wandit_model *m, ff_backend *be, const ff_tensor *x, const ff_tensor *timestep,
                              const ff_tensor *text, const ff_wandit_hooks *hooks, ff_tensor *out, ff_err *err) {
    return ff_wandit_forward_host_image(m, be, x, timestep, text, NULL, hooks, out, err);
}

ff_status ff_wandit_forward_host_image(ff_wandit_model *m, ff_backend *be, const ff_tensor *x,
                                       const ff_tensor *timestep, const ff_tensor *text, const ff_tensor *image,
                                       const ff_wandit_hooks *hooks, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    int64_t oshape[5];
    ff_status st = ff_wandit_out_shape(&m->cfg, x, oshape, err);
    if (st) return st;
    ff_tensor dx = {0}, dtext = {0}, dout = {0}, dimg = {0};
    if ((st = ff_be_alloc(be, &dx, FF_F32, x->ndim, x->shape, err)) ||
        (st = ff_be_alloc(be, &dtext, FF_F32, text->ndim, text->shape, err)) ||
        (st = ff_be_alloc(be, &dout, FF_F32, 5, oshape, err)) ||
        (image && (st = ff_be_alloc(be, &dimg, FF_F32, image->ndim, image->shape, err))))
        goto done;
    if ((st = ff_be_upload(be, &dx, x, err)) || (st = ff_be_upload(be, &dtext, text, err)) ||
        (image && (st = ff_be_upload(be, &dimg, image, err))))
        goto done;
    if ((st = ff_wandit_forward_image(m, be, &dx, timestep, &dtext, image ? &dimg : NULL, hooks, &dout, err))) goto done;
    if ((st = ff_tensor_alloc(out, FF_F32, 5, oshape, err))) goto done;
    if ((st = ff_be_download(be, out, &dout, err))) ff_tensor_free(out);
done:
    if (dx.data) ff_be_free(be, &dx);
    if (dtext.data) ff_be_free(be, &dtext);
    if (dout.data) ff_be_free(be, &dout);
    if (dimg.data) ff_be_free(be, &dimg);
    return st;
}
