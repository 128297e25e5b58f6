/* hunyuan_blocks: the modules of HunyuanVideoTransformer3DModel on
 * kernels/ops.h, each reading and writing the run state's buffers
 * (hunyuan_internal.h; layout at the top of hunyuan_forward.c):
 * HunyuanVideoConditionEmbedding, HunyuanVideoTokenRefiner (with its
 * IndividualTokenRefinerBlocks), HunyuanVideoTransformerBlock (dual stream,
 * joint attention through HunyuanVideoAttnProcessor2_0 with the added
 * projections) and HunyuanVideoSingleTransformerBlock. Not here: buffers,
 * host tables, the block loop and the output layers (hunyuan_forward.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/hunyuan_internal.h"

#define TRY(expr)                     \
    do {                              \
        if ((st = (expr))) goto done; \
    } while (0)

ff_status hydit_tap(const hyd_state *s, const char *name, const ff_tensor *t, ff_err *err) {
    if (!s->taps || !s->taps->fn) return FF_OK;
    return s->taps->fn(s->taps->user, name, t, err);
}

/* ---- embeddings ------------------------------------------------------------ */

/* TimestepEmbedding / PixArtAlphaTextProjection(act silu):
 * out (B, D) = linear_2(silu(linear_1(x))); clobbers e1. */
static ff_status mlp2(hyd_state *s, const ff_tensor *x, const ff_hydit_mlp2 *m, ff_tensor *out, ff_err *err) {
    ff_tensor h = hydit_view2(&s->e1, 0, s->B, s->D), o = hydit_view2(out, 0, s->B, s->D);
    ff_status st = hydit_linear(s->be, x, &m->linear_1, &h, err);
    if (!st) st = ff_op_unary(s->be, FF_UNARY_SILU, &h, &h, err);
    if (!st) st = hydit_linear(s->be, &h, &m->linear_2, &o, err);
    return st;
}

static ff_status copy_part(hyd_state *s, const ff_tensor *src, ff_tensor *dst, ff_err *err) {
    return dst ? ff_op_copy(s->be, src, dst, err) : FF_OK;
}

/* HunyuanVideoConditionEmbedding.forward: temb = timestep_emb + guidance_emb
 * + pooled_emb, in that order. pooled (B, pooled_dim). */
ff_status hydit_cond_embed(hyd_state *s, const ff_hydit_model *m, const ff_tensor *pooled,
                           const ff_hydit_cond_parts *parts, ff_err *err) {
    const int64_t B = s->B;
    ff_tensor tp = hydit_view2(&s->tproj, 0, B, 256), gp = hydit_view2(&s->gproj, 0, B, 256);
    ff_tensor temb = hydit_view2(&s->temb, 0, B, s->D), e2 = hydit_view2(&s->e2, 0, B, s->D);
    ff_status st = FF_OK;
    if (parts) TRY(copy_part(s, &tp, parts->timestep_proj, err));
    TRY(mlp2(s, &tp, &m->timestep_embedder, &temb, err));
    if (parts) TRY(copy_part(s, &temb, parts->timestep_emb, err));
    if (s->cfg->guidance_embeds) {
        TRY(mlp2(s, &gp, &m->guidance_embedder, &e2, err));
        if (parts) TRY(copy_part(s, &e2, parts->guidance_emb, err));
        TRY(ff_op_binary(s->be, FF_BIN_ADD, &temb, &e2, &temb, err));
    }
    TRY(mlp2(s, pooled, &m->text_embedder, &e2, err));
    if (parts) TRY(copy_part(s, &e2, parts->pooled_emb, err));
    TRY(ff_op_binary(s->be, FF_BIN_ADD, &temb, &e2, &temb, err));
done:
    return st;
}

/* FeedForward over `rows` token rows of x (rows, D) into dst (rows, D):
 * lin_out(act(lin_in(x))), R rows at a time through fh. */
static ff_status ffn(hyd_state *s, const ff_tensor *x, int64_t rows, const ff_hydit_linear *lin_in,
                     const ff_hydit_linear *lin_out, ff_unary_kind act, ff_tensor *dst, ff_err *err) {
    const int64_t D = s->D, W = lin_in->weight.shape[0];
    ff_status st = FF_OK;
    for (int64_t r0 = 0; r0 < rows && !st; r0 += s->R) {
        const int64_t n = rows - r0 < s->R ? rows - r0 : s->R;
        ff_tensor xr = hydit_view2(x, r0 * D, n, D), h = hydit_view2(&s->fh, 0, n, W),
                  o = hydit_view2(dst, r0 * D, n, D);
        st = hydit_linear(s->be, &xr, lin_in, &h, err);
        if (!st) st = ff_op_unary(s->be, act, &h, &h, err);
        if (!st) st = hydit_linear(s->be, &h, lin_out, &o, err);
    }
    return st;
}

/* emb = hydit_linear(st (B, D)) (B, k*D), then chunk-major into mod (k, B, D):
 * chunk j is hydit_view3(mod, j*B*D, B, 1, D). */
ff_status hydit_modulation(hyd_state *s, const ff_tensor *st_, const ff_hydit_linear *lin, int k, ff_tensor *mod,
                            ff_err *err) {
    static const int chunk_first[3] = {1, 0, 2}; /* (B, k, D) -> (k, B, D) */
    ff_tensor e = hydit_view2(&s->emb6, 0, s->B, k * s->D), e3 = hydit_view3(&s->emb6, 0, s->B, k, s->D);
    ff_tensor m = hydit_view3(mod, 0, k, s->B, s->D);
    ff_status st = hydit_linear(s->be, st_, lin, &e, err);
    if (!st) st = ff_op_permute(s->be, &e3, chunk_first, &m, err);
    return st;
}

/* x += y * gate, y (B, T, D) clobbered, gate (B, 1, D). */
static ff_status gated_add(hyd_state *s, ff_tensor *x, ff_tensor *y, const ff_tensor *gate, ff_err *err) {
    ff_status st = ff_op_binary(s->be, FF_BIN_MUL, y, gate, y, err);
    if (!st) st = ff_op_binary(s->be, FF_BIN_ADD, x, y, x, err);
    return st;
}

static const int to_heads[4] = {0, 2, 1, 3}; /* (B, T, H, hd) <-> (B, H, T, hd) */

/* ---- token refiner (context_embedder) -------------------------------------- */

/* HunyuanVideoIndividualTokenRefinerBlock.forward on x (B, L, D); st_ is
 * silu(refiner temb). */
static ff_status refiner_block(hyd_state *s, const ff_hydit_refiner_block *b, ff_tensor *x, const ff_tensor *st_,
                               ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, L = s->L, D = s->D, H = s->H, hd = s->hd;
    ff_tensor n = hydit_view3(&s->nrm, 0, B, L, D), y = hydit_view3(&s->out, 0, B, L, D),
              p = hydit_view3(&s->tmp, 0, B, L, D);
    ff_tensor p4 = hydit_view4(&s->tmp, 0, B, L, H, hd);
    ff_status st = FF_OK;
    TRY(hydit_modulation(s, st_, &b->norm_out, 2, &s->modt, err)); /* gate_msa, gate_mlp */
    ff_tensor g_msa = hydit_chunk(s, &s->modt, 0), g_mlp = hydit_chunk(s, &s->modt, 1);
    TRY(ff_op_layer_norm(be, x, &b->norm1_w, &b->norm1_b, HYDIT_LN_EPS, &n, err));
    /* self-attention (AttnProcessor2_0): q/k/v with bias, heads, the pairwise mask */
    const ff_hydit_linear *proj[3] = {&b->to_q, &b->to_k, &b->to_v};
    ff_tensor qkv[3];
    for (int i = 0; i < 3; i++) {
        qkv[i] = hydit_view4(&s->qkv, i * B * s->S * D, B, H, L, hd);
        TRY(hydit_linear(be, &n, proj[i], &p, err));
        TRY(ff_op_permute(be, &p4, to_heads, &qkv[i], err));
    }
    ff_tensor o = hydit_view4(&s->tmp, 0, B, H, L, hd), o2 = hydit_view4(&s->nrm, 0, B, L, H, hd);
    ff_tensor bias = hydit_view4(&s->bias_ref, 0, B, 1, L, L);
    TRY(ff_op_sdpa(be, &qkv[0], &qkv[1], &qkv[2], &bias, (float)(1.0 / sqrt((double)hd)), &o, err));
    TRY(ff_op_permute(be, &o, to_heads, &o2, err));
    TRY(hydit_linear(be, &n, &b->to_out, &y, err)); /* n now holds the attention output (o2) */
    TRY(gated_add(s, x, &y, &g_msa, err));
    /* x += ff(norm2(x)) * gate_mlp, FF = Linear -> SiLU -> Linear */
    TRY(ff_op_layer_norm(be, x, &b->norm2_w, &b->norm2_b, HYDIT_LN_EPS, &n, err));
    TRY(ffn(s, &n, B * L, &b->ff_in, &b->ff_out, FF_UNARY_SILU, &y, err));
    TRY(gated_add(s, x, &y, &g_mlp, err));
done:
    return st;
}

/* HunyuanVideoTokenRefiner.forward: text (B, L, text_dim) -> x (B, L, D). */
ff_status hydit_token_refiner(hyd_state *s, const ff_hydit_model *m, const ff_tensor *text, ff_tensor *x,
                               ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, L = s->L, D = s->D, Dt = s->cfg->text_embed_dim;
    ff_status st = FF_OK;
    /* pooled = sum_l(x_l * m_l) / sum_l(m_l) */
    ff_tensor mrow = hydit_view3(&s->mrow, 0, B, 1, L), pooled = hydit_view3(&s->pooled, 0, B, 1, Dt);
    ff_tensor counts = hydit_view3(&s->counts, 0, B, 1, 1), pooled2 = hydit_view2(&s->pooled, 0, B, Dt);
    TRY(ff_op_matmul(be, &mrow, text, 0, 0, 1.0f, &pooled, err));
    TRY(ff_op_binary(be, FF_BIN_DIV, &pooled, &counts, &pooled, err));
    /* CombinedTimestepTextProjEmbeddings: timestep_embedder(proj(t)) + text_embedder(pooled) */
    ff_tensor tp = hydit_view2(&s->tproj, 0, B, 256), rt = hydit_view2(&s->rtemb, 0, B, D),
              e2 = hydit_view2(&s->e2, 0, B, D);
    TRY(mlp2(s, &tp, &m->ctx_timestep_embedder, &rt, err));
    TRY(mlp2(s, &pooled2, &m->ctx_text_embedder, &e2, err));
    TRY(ff_op_binary(be, FF_BIN_ADD, &rt, &e2, &rt, err));
    TRY(hydit_tap(s, "refiner_temb", &rt, err));
    TRY(hydit_linear(be, text, &m->ctx_proj_in, x, err));
    TRY(hydit_tap(s, "proj_in", x, err));
    TRY(ff_op_unary(be, FF_UNARY_SILU, &rt, &e2, err)); /* silu(temb) of every refiner block's norm_out */
    for (int i = 0; i < s->cfg->num_refiner_layers; i++) {
        char name[32];
        if ((st = refiner_block(s, &m->refiner[i], x, &e2, err))) {
            ff_err_wrap(err, "context_embedder.token_refiner.refiner_blocks.%d: ", i);
            goto done;
        }
        snprintf(name, sizeof name, "refiner_block%d", i);
        TRY(hydit_tap(s, name, x, err));
    }
done:
    return st;
}

/* ---- dual-stream block ---------------------------------------------------- */

/* q/k/v of the joint sequence into dst (B, H, S, hd): per sample, the video
 * rows through lin_v and the text rows through lin_t into tmp's joint
 * layout, the per-head RMSNorms, RoPE on the video rows, then to heads. */
static ff_status joint_proj(hyd_state *s, const ff_hydit_linear *lin_v, const ff_hydit_linear *lin_t,
                            const ff_tensor *norm_v, const ff_tensor *norm_t, ff_tensor *dst, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, N = s->N, L = s->L, S = s->S, D = s->D, H = s->H, hd = s->hd;
    ff_status st = FF_OK;
    for (int64_t b = 0; b < B; b++) {
        ff_tensor xv = hydit_view2(&s->nrm, b * N * D, N, D), xt = hydit_view2(&s->nrm, B * N * D + b * L * D, L, D);
        ff_tensor pv = hydit_view2(&s->tmp, b * S * D, N, D), pt = hydit_view2(&s->tmp, b * S * D + N * D, L, D);
        TRY(hydit_linear(be, &xv, lin_v, &pv, err));
        TRY(hydit_linear(be, &xt, lin_t, &pt, err));
        if (norm_v) {
            ff_tensor hv = hydit_view2(&s->tmp, b * S * D, N * H, hd),
                      ht = hydit_view2(&s->tmp, b * S * D + N * D, L * H, hd);
            ff_tensor rv = hydit_view4(&s->tmp, b * S * D, 1, N, H, hd);
            TRY(ff_op_rms_norm(be, &hv, norm_v, HYDIT_LN_EPS, &hv, err));
            TRY(ff_op_rms_norm(be, &ht, norm_t, HYDIT_LN_EPS, &ht, err));
            TRY(ff_op_rope(be, &rv, &s->rope_cos, &s->rope_sin, &rv, err));
        }
    }
    ff_tensor p4 = hydit_view4(&s->tmp, 0, B, S, H, hd);
    TRY(ff_op_permute(be, &p4, to_heads, dst, err));
done:
    return st;
}

/* HunyuanVideoAttnProcessor2_0 with added projections: video and text
 * attend jointly under the key mask; outputs to_out(video) into out's video
 * region (B, N, D) and to_add_out(text) into its text region (B, L, D). */
static ff_status dual_attention(hyd_state *s, const ff_hydit_dual *b, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, N = s->N, L = s->L, S = s->S, D = s->D, H = s->H, hd = s->hd;
    ff_status st = FF_OK;
    ff_tensor q = hydit_view4(&s->qkv, 0, B, H, S, hd), k = hydit_view4(&s->qkv, B * S * D, B, H, S, hd),
              v = hydit_view4(&s->qkv, 2 * B * S * D, B, H, S, hd);
    TRY(joint_proj(s, &b->to_q, &b->add_q_proj, &b->norm_q, &b->norm_added_q, &q, err));
    TRY(joint_proj(s, &b->to_k, &b->add_k_proj, &b->norm_k, &b->norm_added_k, &k, err));
    TRY(joint_proj(s, &b->to_v, &b->add_v_proj, NULL, NULL, &v, err));
    ff_tensor o = hydit_view4(&s->tmp, 0, B, H, S, hd), o2 = hydit_view4(&s->nrm, 0, B, S, H, hd);
    ff_tensor bias = hydit_view4(&s->bias, 0, B, 1, 1, S);
    TRY(ff_op_sdpa(be, &q, &k, &v, &bias, (float)(1.0 / sqrt((double)hd)), &o, err));
    TRY(ff_op_permute(be, &o, to_heads, &o2, err)); /* nrm: joint (B, S, D) attention output */
    for (int64_t bb = 0; bb < B; bb++) {
        ff_tensor av = hydit_view2(&s->nrm, bb * S * D, N, D), at = hydit_view2(&s->nrm, bb * S * D + N * D, L, D);
        ff_tensor yv = hydit_view2(&s->out, bb * N * D, N, D), yt = hydit_view2(&s->out, B * N * D + bb * L * D, L, D);
        TRY(hydit_linear(be, &av, &b->to_out, &yv, err));
        TRY(hydit_linear(be, &at, &b->to_add_out, &yt, err));
    }
done:
    return st;
}

/* HunyuanVideoTransformerBlock.forward on hv (B, N, D) and ht (B, L, D). */
ff_status hydit_dual_block(hyd_state *s, const ff_hydit_dual *b, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, N = s->N, L = s->L, D = s->D;
    ff_tensor hv = hydit_view3(&s->stream, 0, B, N, D), ht = hydit_view3(&s->stream, B * N * D, B, L, D);
    ff_tensor nv = hydit_view3(&s->nrm, 0, B, N, D), nt = hydit_view3(&s->nrm, B * N * D, B, L, D);
    ff_tensor yv = hydit_view3(&s->out, 0, B, N, D), yt = hydit_view3(&s->out, B * N * D, B, L, D);
    ff_tensor stemb = hydit_view2(&s->stemb, 0, B, D);
    ff_status st = FF_OK;
    /* AdaLayerNormZero x2: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp */
    TRY(hydit_modulation(s, &stemb, &b->norm1, 6, &s->modv, err));
    TRY(hydit_modulation(s, &stemb, &b->norm1_context, 6, &s->modt, err));
    ff_tensor mv[6], mt[6];
    for (int j = 0; j < 6; j++) mv[j] = hydit_chunk(s, &s->modv, j), mt[j] = hydit_chunk(s, &s->modt, j);
    TRY(ff_op_layer_norm(be, &hv, NULL, NULL, HYDIT_LN_EPS, &nv, err));
    TRY(ff_op_modulate(be, &nv, &mv[0], &mv[1], &nv, err));
    TRY(ff_op_layer_norm(be, &ht, NULL, NULL, HYDIT_LN_EPS, &nt, err));
    TRY(ff_op_modulate(be, &nt, &mt[0], &mt[1], &nt, err));
    /* joint attention, gated residuals */
    TRY(dual_attention(s, b, err));
    TRY(gated_add(s, &hv, &yv, &mv[2], err));
    TRY(gated_add(s, &ht, &yt, &mt[2], err));
    /* norm2 * (1 + scale_mlp) + shift_mlp; x += gate_mlp * ff(.) */
    TRY(ff_op_layer_norm(be, &hv, NULL, NULL, HYDIT_LN_EPS, &nv, err));
    TRY(ff_op_modulate(be, &nv, &mv[3], &mv[4], &nv, err));
    TRY(ff_op_layer_norm(be, &ht, NULL, NULL, HYDIT_LN_EPS, &nt, err));
    TRY(ff_op_modulate(be, &nt, &mt[3], &mt[4], &nt, err));
    TRY(ffn(s, &nv, B * N, &b->ff_in, &b->ff_out, FF_UNARY_GELU_TANH, &yv, err));
    TRY(gated_add(s, &hv, &yv, &mv[5], err));
    TRY(ffn(s, &nt, B * L, &b->ffc_in, &b->ffc_out, FF_UNARY_GELU_TANH, &yt, err));
    TRY(gated_add(s, &ht, &yt, &mt[5], err));
done:
    return st;
}

/* ---- single-stream block ---------------------------------------------------- */

/* HunyuanVideoSingleTransformerBlock.forward on x (B, S, D). */
ff_status hydit_single_block(hyd_state *s, const ff_hydit_single *b, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, N = s->N, S = s->S, D = s->D, H = s->H, hd = s->hd, F = s->cfg->mlp_dim;
    ff_tensor x = hydit_view3(&s->stream, 0, B, S, D), n = hydit_view3(&s->nrm, 0, B, S, D),
              p = hydit_view3(&s->tmp, 0, B, S, D);
    ff_tensor p4 = hydit_view4(&s->tmp, 0, B, S, H, hd), ph = hydit_view2(&s->tmp, 0, B * S * H, hd);
    ff_tensor stemb = hydit_view2(&s->stemb, 0, B, D);
    ff_status st = FF_OK;
    /* AdaLayerNormZeroSingle: shift, scale, gate */
    TRY(hydit_modulation(s, &stemb, &b->norm, 3, &s->modv, err));
    ff_tensor shift = hydit_chunk(s, &s->modv, 0), scale = hydit_chunk(s, &s->modv, 1),
              gate = hydit_chunk(s, &s->modv, 2);
    TRY(ff_op_layer_norm(be, &x, NULL, NULL, HYDIT_LN_EPS, &n, err));
    TRY(ff_op_modulate(be, &n, &shift, &scale, &n, err));
    /* attention over the joint sequence: per-head RMSNorm, RoPE on the video rows, no output projection */
    const ff_hydit_linear *proj[3] = {&b->to_q, &b->to_k, &b->to_v};
    const ff_tensor *norms[3] = {&b->norm_q, &b->norm_k, NULL};
    ff_tensor qkv[3];
    for (int i = 0; i < 3; i++) {
        qkv[i] = hydit_view4(&s->qkv, i * B * S * D, B, H, S, hd);
        TRY(hydit_linear(be, &n, proj[i], &p, err));
        if (norms[i]) {
            TRY(ff_op_rms_norm(be, &ph, norms[i], HYDIT_LN_EPS, &ph, err));
            for (int64_t bb = 0; bb < B; bb++) {
                ff_tensor rv = hydit_view4(&s->tmp, bb * S * D, 1, N, H, hd);
                TRY(ff_op_rope(be, &rv, &s->rope_cos, &s->rope_sin, &rv, err));
            }
        }
        TRY(ff_op_permute(be, &p4, to_heads, &qkv[i], err));
    }
    ff_tensor o = hydit_view4(&s->tmp, 0, B, H, S, hd), o2 = hydit_view4(&s->out, 0, B, S, H, hd);
    ff_tensor bias = hydit_view4(&s->bias, 0, B, 1, 1, S);
    TRY(ff_op_sdpa(be, &qkv[0], &qkv[1], &qkv[2], &bias, (float)(1.0 / sqrt((double)hd)), &o, err));
    TRY(ff_op_permute(be, &o, to_heads, &o2, err)); /* out: attention output (B, S, D) */
    /* proj_out(cat([attn, gelu_tanh(proj_mlp(n))], -1)), R token rows at a time, into tmp */
    for (int64_t r0 = 0; r0 < B * S; r0 += s->R) {
        const int64_t nr = B * S - r0 < s->R ? B * S - r0 : s->R;
        ff_tensor nrows = hydit_view2(&s->nrm, r0 * D, nr, D), h = hydit_view2(&s->fh, 0, nr, F);
        ff_tensor arows = hydit_view2(&s->out, r0 * D, nr, D), c = hydit_view2(&s->cat, 0, nr, D + F);
        ff_tensor y = hydit_view2(&s->tmp, r0 * D, nr, D);
        const ff_tensor *parts[2] = {&arows, &h};
        TRY(hydit_linear(be, &nrows, &b->proj_mlp, &h, err));
        TRY(ff_op_unary(be, FF_UNARY_GELU_TANH, &h, &h, err));
        TRY(ff_op_concat(be, parts, 2, 1, &c, err));
        TRY(hydit_linear(be, &c, &b->proj_out, &y, err));
    }
    TRY(gated_add(s, &x, &p, &gate, err));
done:
    return st;
}
