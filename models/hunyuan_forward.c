/* hunyuan_forward: HunyuanVideoTransformer3DModel.forward on kernels/ops.h,
 * block by block with offload hooks and stage taps. Reads top to bottom like
 * the diffusers forward: rope -> time_text_embed -> x_embedder ->
 * context_embedder (token refiner) -> attention mask -> dual-stream blocks
 * -> single-stream blocks -> norm_out / proj_out -> unpatchify. Not here:
 * weights and config (hunyuan_transformer.c), host tables (hunyuan_embed.c).
 *
 * Activations (F32 on the backend, allocated once per call; S = N + L joint
 * tokens, video first, per batch sample):
 *   stream (B, S, D)  the residual streams (sized as out, which it swaps with
 *                     when the single phase starts). Dual phase: video hv (B, N, D)
 *                     then text ht (B, L, D), one after the other; single
 *                     phase: the joint x (B, S, D) ([video; text] per sample)
 *   nrm    (B, S, D)  normed + modulated inputs (dual: nv then nt)
 *   tmp    (B, S, D)  projections (joint layout), attention output, block
 *                     output; also the patch conv and proj_out (B*N*pc)
 *   out    (B, S, D)  block outputs before the gate; also unpatchify
 *   qkv    3 x (B, heads, S, head_dim)
 *   fh     (R, max(mlp_dim, 4D))  feed-forward hidden of R token rows
 *   cat    (R, D + mlp_dim)       single block [attn, mlp] rows
 *   rope cos/sin (N, head_dim); bias (B, 1, 1, S) key mask of the joint
 *   attention; bias_ref (B, 1, L, L) the refiner's pairwise mask;
 *   small: timestep / guidance projections (B, 256), temb, silu(temb), the
 *   refiner temb and two scratch rows (B, D), the masked text mean
 *   (B, 1, text_dim), counts (B, 1, 1), mask row (B, 1, L), the modulation
 *   linear output (B, 6D) and two chunk-major copies (6, B, D).
 * The feed-forward layers run over R = min(FF_HYDIT_FFN_ROWS, rows) token
 * rows at a time: their hidden activations never exist for the whole
 * sequence (every FF op is per row, so the values do not change).
 * Attention goes through ff_op_sdpa, which never forms the (S x S) scores. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/hunyuan_transformer.h"

#define TRY(expr)                     \
    do {                              \
        if ((st = (expr))) goto done; \
    } while (0)

#define LN_EPS 1e-6f /* every LayerNorm and RMSNorm of the model */

/* A borrowed view of ndim dims starting off elements into base. */
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

static ff_status linear(ff_backend *be, const ff_tensor *x, const ff_hydit_linear *l, ff_tensor *out, ff_err *err) {
    return ff_op_linear(be, x, &l->weight, &l->bias, out, err);
}

typedef enum { RUN_FULL = 0, RUN_REFINER, RUN_COND } run_mode;

typedef struct {
    ff_backend *be;
    const ff_hydit_config *cfg;
    const ff_hydit_taps *taps;
    int64_t B, N, L, S, D, H, hd, F, R, pc;
    ff_tensor stream, nrm, tmp, out, qkv, fh, cat;
    ff_tensor rope_cos, rope_sin, bias, bias_ref;
    ff_tensor tproj, gproj, temb, stemb, rtemb, e1, e2;
    ff_tensor pooled, counts, mrow, emb6, modv, modt;
} hyd_state;

static ff_status tap(const hyd_state *s, const char *name, const ff_tensor *t, ff_err *err) {
    if (!s->taps || !s->taps->fn) return FF_OK;
    return s->taps->fn(s->taps->user, name, t, err);
}

/* ---- buffers ------------------------------------------------------------ */

#define SPEC_MAX 32
typedef struct {
    ff_tensor *t;
    int64_t n; /* F32 elements; 0: not used in this run */
    const char *what;
} act_spec;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Every buffer a run of `mode` allocates, with its size (see the top of
 * this file). s may be a dummy: only the pointers into it are recorded. */
static int act_specs(const ff_hydit_config *c, run_mode mode, int64_t B, int64_t N, int64_t L, hyd_state *s,
                     act_spec *o) {
    const int64_t D = c->dim, S = N + L, F = c->mlp_dim;
    const int64_t pc = (int64_t)c->patch_t * c->patch * c->patch * c->out_channels;
    const int full = mode == RUN_FULL, text = mode != RUN_COND;
    const int64_t rows_cap = c->ffn_rows > 0 ? c->ffn_rows : FF_HYDIT_FFN_ROWS;
    int64_t rows = 0, fh_w = 0;
    if (text && c->num_refiner_layers > 0) rows = B * L, fh_w = 4 * D;
    if (full && c->num_layers > 0) rows = max64(rows, max64(B * N, B * L)), fh_w = max64(fh_w, F);
    if (full && c->num_single_layers > 0) rows = B * S, fh_w = max64(fh_w, F);
    const int64_t R = rows < rows_cap ? rows : rows_cap;
    const int64_t joint = text ? B * S * D : 0, wide = full ? max64(joint, B * N * pc) : joint;
    const act_spec specs[] = {
        {&s->stream, wide, "residual streams"}, /* as out: the two swap before the single blocks */
        {&s->nrm, joint, "normed inputs"},
        {&s->tmp, wide, "projections"},
        {&s->out, wide, "block outputs"},
        {&s->qkv, 3 * joint, "q, k, v"},
        {&s->fh, R * fh_w, "feed-forward rows"},
        {&s->cat, full && c->num_single_layers > 0 ? R * (D + F) : 0, "single-block rows"},
        {&s->rope_cos, full ? N * c->head_dim : 0, "rope"},
        {&s->rope_sin, full ? N * c->head_dim : 0, "rope"},
        {&s->bias, full ? B * S : 0, "attention mask"},
        {&s->bias_ref, text ? B * L * L : 0, "refiner mask"},
        {&s->tproj, B * 256, "timestep projection"},
        {&s->gproj, mode != RUN_REFINER && c->guidance_embeds ? B * 256 : 0, "guidance projection"},
        {&s->temb, mode != RUN_REFINER ? B * D : 0, "temb"},
        {&s->stemb, full ? B * D : 0, "silu(temb)"},
        {&s->rtemb, text ? B * D : 0, "refiner temb"},
        {&s->e1, B * D, "embedding scratch"},
        {&s->e2, B * D, "embedding scratch"},
        {&s->pooled, text ? B * c->text_embed_dim : 0, "masked text mean"},
        {&s->counts, text ? B : 0, "mask counts"},
        {&s->mrow, text ? B * L : 0, "mask row"},
        {&s->emb6, text ? B * 6 * D : 0, "modulation"},
        {&s->modv, full ? 6 * B * D : 0, "modulation"},
        {&s->modt, text ? 6 * B * D : 0, "modulation"},
    };
    const int n = (int)(sizeof specs / sizeof specs[0]);
    for (int i = 0; i < n; i++) o[i] = specs[i];
    s->R = R;
    s->pc = pc;
    return n;
}

static ff_status alloc_state(hyd_state *s, run_mode mode, ff_err *err) {
    act_spec specs[SPEC_MAX];
    int n = act_specs(s->cfg, mode, s->B, s->N, s->L, s, specs);
    for (int i = 0; i < n; i++) {
        if (specs[i].n <= 0) continue;
        int64_t shape[1] = {specs[i].n};
        ff_status st = ff_be_alloc(s->be, specs[i].t, FF_F32, 1, shape, err);
        if (st) return ff_err_wrap(err, "transformer activations (%s): ", specs[i].what);
    }
    return FF_OK;
}

static void free_state(hyd_state *s) {
    ff_tensor *all[] = {&s->stream, &s->nrm,   &s->tmp,    &s->out,  &s->qkv,  &s->fh,    &s->cat,
                        &s->rope_cos, &s->rope_sin, &s->bias, &s->bias_ref, &s->tproj, &s->gproj, &s->temb,
                        &s->stemb, &s->rtemb, &s->e1,  &s->e2,     &s->pooled, &s->counts, &s->mrow, &s->emb6,
                        &s->modv,  &s->modt};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->data) ff_be_free(s->be, all[i]);
}

ff_status ff_hydit_activation_bytes(const ff_hydit_config *cfg, const int64_t x_shape[5], int64_t text_len,
                                    size_t *bytes, ff_err *err) {
    const int64_t B = x_shape[0];
    const int64_t N = (x_shape[2] / cfg->patch_t) * (x_shape[3] / cfg->patch) * (x_shape[4] / cfg->patch);
    if (B < 1 || N < 1 || text_len < 1)
        return ff_err_set(err, FF_ERR_ARG, "transformer activation size: B %lld, %lld tokens, %lld text rows",
                          (long long)B, (long long)N, (long long)text_len);
    hyd_state s;
    memset(&s, 0, sizeof s);
    act_spec specs[SPEC_MAX];
    int n = act_specs(cfg, RUN_FULL, B, N, text_len, &s, specs);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (specs[i].n > 0) total += (size_t)specs[i].n * sizeof(float);
    *bytes = total;
    return FF_OK;
}

/* ---- host inputs ---------------------------------------------------------- */

/* n float32 values of a host tensor of any numeric dtype (torch .float()),
 * expanded from one value to want when it has a single one. */
static ff_status host_values(const ff_tensor *t, const char *what, int64_t want, float *out, ff_err *err) {
    char buf[96];
    if (t->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_ARG, "transformer: %s %s must be a host tensor", what,
                          ff_tensor_describe(t, buf, sizeof buf));
    const int64_t n = ff_tensor_numel(t);
    if (n != want && n != 1)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: %s %s, expected %lld values (or 1)", what,
                          ff_tensor_describe(t, buf, sizeof buf), (long long)want);
    ff_tensor dst, src = *t;
    int64_t shp[1] = {n};
    ff_tensor_view(&dst, FF_F32, 1, shp, out, FF_LOC_HOST);
    src.ndim = 1;
    src.shape[0] = n;
    for (int i = 1; i < FF_MAX_DIMS; i++) src.shape[i] = 1;
    ff_status st = ff_tensor_convert(&dst, &src, err);
    if (st) return ff_err_wrap(err, "transformer: %s: ", what);
    for (int64_t i = n; i < want; i++) out[i] = out[0];
    return FF_OK;
}

static ff_status upload(ff_backend *be, ff_tensor *dev, const float *host, ff_err *err) {
    ff_tensor h;
    int64_t shp[1] = {ff_tensor_numel(dev)};
    ff_tensor_view(&h, FF_F32, 1, shp, (void *)host, FF_LOC_HOST);
    ff_tensor d = view(dev, 0, 1, shp);
    return ff_be_upload(be, &d, &h, err);
}

/* Builds and uploads the host-side inputs of a run: timestep / guidance
 * projections, the mask row and counts of the masked mean, the refiner's
 * pairwise mask and (full runs) the joint key mask. mask may be NULL. */
static ff_status host_inputs(hyd_state *s, const ff_tensor *timestep, const ff_tensor *guidance,
                             const ff_tensor *mask, ff_err *err) {
    const int64_t B = s->B, L = s->L, N = s->N, S = s->S;
    size_t need = (size_t)(B * 256 + B + B * L + B * L * L + B * S + 8);
    float *h = malloc(need * sizeof *h);
    if (!h) return ff_err_set(err, FF_ERR_NOMEM, "transformer: cannot allocate %zu floats of host tables", need);
    float *vals = h + B * 256;
    ff_status st = FF_OK;
    TRY(host_values(timestep, "timestep", B, vals, err));
    ff_hydit_timestep_proj(vals, B, h);
    TRY(upload(s->be, &s->tproj, h, err));
    if (s->gproj.data) {
        if (!guidance) {
            st = ff_err_set(err, FF_ERR_ARG, "transformer: guidance_embeds is set but no guidance was given");
            goto done;
        }
        TRY(host_values(guidance, "guidance", B, vals, err));
        ff_hydit_timestep_proj(vals, B, h);
        TRY(upload(s->be, &s->gproj, h, err));
    }
    if (!s->mrow.data && !s->bias.data) goto done;
    /* mask (B, L): float values for the mean, != 0 for the refiner's bool
     * mask, int-summed for the joint key mask (sum(dim=1, dtype=int)) */
    float *m = h + B * 256 + B;
    if (mask) {
        char b1[96];
        if (mask->ndim != 2 || mask->shape[0] != B || mask->shape[1] != L) {
            st = ff_err_set(err, FF_ERR_SHAPE, "transformer: encoder_attention_mask %s, expected (%lld, %lld)",
                            ff_tensor_describe(mask, b1, sizeof b1), (long long)B, (long long)L);
            goto done;
        }
        TRY(host_values(mask, "encoder_attention_mask", B * L, m, err));
    } else {
        for (int64_t i = 0; i < B * L; i++) m[i] = 1.0f;
    }
    if (s->mrow.data) {
        float *cnt = h; /* B values; the projections are uploaded already */
        for (int64_t b = 0; b < B; b++) {
            float c = 0.0f;
            for (int64_t l = 0; l < L; l++) c += m[b * L + l];
            cnt[b] = c;
        }
        TRY(upload(s->be, &s->mrow, m, err));
        TRY(upload(s->be, &s->counts, cnt, err));
        /* HunyuanVideoIndividualTokenRefiner: M[i, j] = m_i & m_j, M[:, 0] = True */
        float *r = m + B * L;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < L; i++)
                for (int64_t j = 0; j < L; j++) {
                    int on = !mask || j == 0 || (m[b * L + i] != 0.0f && m[b * L + j] != 0.0f);
                    r[(b * L + i) * L + j] = on ? 0.0f : -INFINITY;
                }
        TRY(upload(s->be, &s->bias_ref, r, err));
    }
    if (s->bias.data) {
        /* key n valid iff n < N + sum(mask[b]) (right padding assumed, as diffusers) */
        float *k = m + B * L + B * L * L;
        for (int64_t b = 0; b < B; b++) {
            int64_t valid = 0;
            for (int64_t l = 0; l < L; l++) valid += (int64_t)m[b * L + l];
            for (int64_t n = 0; n < S; n++) k[b * S + n] = n < N + valid ? 0.0f : -INFINITY;
        }
        TRY(upload(s->be, &s->bias, k, err));
    }
done:
    free(h);
    return st;
}

/* ---- embeddings ------------------------------------------------------------ */

/* TimestepEmbedding / PixArtAlphaTextProjection(act silu):
 * out (B, D) = linear_2(silu(linear_1(x))); clobbers e1. */
static ff_status mlp2(hyd_state *s, const ff_tensor *x, const ff_hydit_mlp2 *m, ff_tensor *out, ff_err *err) {
    ff_tensor h = view2(&s->e1, 0, s->B, s->D), o = view2(out, 0, s->B, s->D);
    ff_status st = linear(s->be, x, &m->linear_1, &h, err);
    if (!st) st = ff_op_unary(s->be, FF_UNARY_SILU, &h, &h, err);
    if (!st) st = linear(s->be, &h, &m->linear_2, &o, err);
    return st;
}

static ff_status copy_part(hyd_state *s, const ff_tensor *src, ff_tensor *dst, ff_err *err) {
    return dst ? ff_op_copy(s->be, src, dst, err) : FF_OK;
}

/* HunyuanVideoConditionEmbedding.forward: temb = timestep_emb + guidance_emb
 * + pooled_emb, in that order. pooled (B, pooled_dim). */
static ff_status cond_embed(hyd_state *s, const ff_hydit_model *m, const ff_tensor *pooled,
                           const ff_hydit_cond_parts *parts, ff_err *err) {
    const int64_t B = s->B;
    ff_tensor tp = view2(&s->tproj, 0, B, 256), gp = view2(&s->gproj, 0, B, 256);
    ff_tensor temb = view2(&s->temb, 0, B, s->D), e2 = view2(&s->e2, 0, B, s->D);
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
        ff_tensor xr = view2(x, r0 * D, n, D), h = view2(&s->fh, 0, n, W), o = view2(dst, r0 * D, n, D);
        st = linear(s->be, &xr, lin_in, &h, err);
        if (!st) st = ff_op_unary(s->be, act, &h, &h, err);
        if (!st) st = linear(s->be, &h, lin_out, &o, err);
    }
    return st;
}

/* emb = linear(st (B, D)) (B, k*D), then chunk-major into mod (k, B, D):
 * chunk j is view3(mod, j*B*D, B, 1, D). */
static ff_status modulation(hyd_state *s, const ff_tensor *st_, const ff_hydit_linear *lin, int k, ff_tensor *mod,
                            ff_err *err) {
    static const int chunk_first[3] = {1, 0, 2}; /* (B, k, D) -> (k, B, D) */
    ff_tensor e = view2(&s->emb6, 0, s->B, k * s->D), e3 = view3(&s->emb6, 0, s->B, k, s->D);
    ff_tensor m = view3(mod, 0, k, s->B, s->D);
    ff_status st = linear(s->be, st_, lin, &e, err);
    if (!st) st = ff_op_permute(s->be, &e3, chunk_first, &m, err);
    return st;
}

static ff_tensor chunk(const hyd_state *s, const ff_tensor *mod, int j) {
    return view3(mod, (int64_t)j * s->B * s->D, s->B, 1, s->D);
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
    ff_tensor n = view3(&s->nrm, 0, B, L, D), y = view3(&s->out, 0, B, L, D), p = view3(&s->tmp, 0, B, L, D);
    ff_tensor p4 = view4(&s->tmp, 0, B, L, H, hd);
    ff_status st = FF_OK;
    TRY(modulation(s, st_, &b->norm_out, 2, &s->modt, err)); /* gate_msa, gate_mlp */
    ff_tensor g_msa = chunk(s, &s->modt, 0), g_mlp = chunk(s, &s->modt, 1);
    TRY(ff_op_layer_norm(be, x, &b->norm1_w, &b->norm1_b, LN_EPS, &n, err));
    /* self-attention (AttnProcessor2_0): q/k/v with bias, heads, the pairwise mask */
    const ff_hydit_linear *proj[3] = {&b->to_q, &b->to_k, &b->to_v};
    ff_tensor qkv[3];
    for (int i = 0; i < 3; i++) {
        qkv[i] = view4(&s->qkv, i * B * s->S * D, B, H, L, hd);
        TRY(linear(be, &n, proj[i], &p, err));
        TRY(ff_op_permute(be, &p4, to_heads, &qkv[i], err));
    }
    ff_tensor o = view4(&s->tmp, 0, B, H, L, hd), o2 = view4(&s->nrm, 0, B, L, H, hd);
    ff_tensor bias = view4(&s->bias_ref, 0, B, 1, L, L);
    TRY(ff_op_sdpa(be, &qkv[0], &qkv[1], &qkv[2], &bias, (float)(1.0 / sqrt((double)hd)), &o, err));
    TRY(ff_op_permute(be, &o, to_heads, &o2, err));
    TRY(linear(be, &n, &b->to_out, &y, err)); /* n now holds the attention output (o2) */
    TRY(gated_add(s, x, &y, &g_msa, err));
    /* x += ff(norm2(x)) * gate_mlp, FF = Linear -> SiLU -> Linear */
    TRY(ff_op_layer_norm(be, x, &b->norm2_w, &b->norm2_b, LN_EPS, &n, err));
    TRY(ffn(s, &n, B * L, &b->ff_in, &b->ff_out, FF_UNARY_SILU, &y, err));
    TRY(gated_add(s, x, &y, &g_mlp, err));
done:
    return st;
}

/* HunyuanVideoTokenRefiner.forward: text (B, L, text_dim) -> x (B, L, D). */
static ff_status token_refiner(hyd_state *s, const ff_hydit_model *m, const ff_tensor *text, ff_tensor *x,
                               ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, L = s->L, D = s->D, Dt = s->cfg->text_embed_dim;
    ff_status st = FF_OK;
    /* pooled = sum_l(x_l * m_l) / sum_l(m_l) */
    ff_tensor mrow = view3(&s->mrow, 0, B, 1, L), pooled = view3(&s->pooled, 0, B, 1, Dt);
    ff_tensor counts = view3(&s->counts, 0, B, 1, 1), pooled2 = view2(&s->pooled, 0, B, Dt);
    TRY(ff_op_matmul(be, &mrow, text, 0, 0, 1.0f, &pooled, err));
    TRY(ff_op_binary(be, FF_BIN_DIV, &pooled, &counts, &pooled, err));
    /* CombinedTimestepTextProjEmbeddings: timestep_embedder(proj(t)) + text_embedder(pooled) */
    ff_tensor tp = view2(&s->tproj, 0, B, 256), rt = view2(&s->rtemb, 0, B, D), e2 = view2(&s->e2, 0, B, D);
    TRY(mlp2(s, &tp, &m->ctx_timestep_embedder, &rt, err));
    TRY(mlp2(s, &pooled2, &m->ctx_text_embedder, &e2, err));
    TRY(ff_op_binary(be, FF_BIN_ADD, &rt, &e2, &rt, err));
    TRY(tap(s, "refiner_temb", &rt, err));
    TRY(linear(be, text, &m->ctx_proj_in, x, err));
    TRY(tap(s, "proj_in", x, err));
    TRY(ff_op_unary(be, FF_UNARY_SILU, &rt, &e2, err)); /* silu(temb) of every refiner block's norm_out */
    for (int i = 0; i < s->cfg->num_refiner_layers; i++) {
        char name[32];
        if ((st = refiner_block(s, &m->refiner[i], x, &e2, err))) {
            ff_err_wrap(err, "context_embedder.token_refiner.refiner_blocks.%d: ", i);
            goto done;
        }
        snprintf(name, sizeof name, "refiner_block%d", i);
        TRY(tap(s, name, x, err));
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
        ff_tensor xv = view2(&s->nrm, b * N * D, N, D), xt = view2(&s->nrm, B * N * D + b * L * D, L, D);
        ff_tensor pv = view2(&s->tmp, b * S * D, N, D), pt = view2(&s->tmp, b * S * D + N * D, L, D);
        TRY(linear(be, &xv, lin_v, &pv, err));
        TRY(linear(be, &xt, lin_t, &pt, err));
        if (norm_v) {
            ff_tensor hv = view2(&s->tmp, b * S * D, N * H, hd), ht = view2(&s->tmp, b * S * D + N * D, L * H, hd);
            ff_tensor rv = view4(&s->tmp, b * S * D, 1, N, H, hd);
            TRY(ff_op_rms_norm(be, &hv, norm_v, LN_EPS, &hv, err));
            TRY(ff_op_rms_norm(be, &ht, norm_t, LN_EPS, &ht, err));
            TRY(ff_op_rope(be, &rv, &s->rope_cos, &s->rope_sin, &rv, err));
        }
    }
    ff_tensor p4 = view4(&s->tmp, 0, B, S, H, hd);
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
    ff_tensor q = view4(&s->qkv, 0, B, H, S, hd), k = view4(&s->qkv, B * S * D, B, H, S, hd),
              v = view4(&s->qkv, 2 * B * S * D, B, H, S, hd);
    TRY(joint_proj(s, &b->to_q, &b->add_q_proj, &b->norm_q, &b->norm_added_q, &q, err));
    TRY(joint_proj(s, &b->to_k, &b->add_k_proj, &b->norm_k, &b->norm_added_k, &k, err));
    TRY(joint_proj(s, &b->to_v, &b->add_v_proj, NULL, NULL, &v, err));
    ff_tensor o = view4(&s->tmp, 0, B, H, S, hd), o2 = view4(&s->nrm, 0, B, S, H, hd);
    ff_tensor bias = view4(&s->bias, 0, B, 1, 1, S);
    TRY(ff_op_sdpa(be, &q, &k, &v, &bias, (float)(1.0 / sqrt((double)hd)), &o, err));
    TRY(ff_op_permute(be, &o, to_heads, &o2, err)); /* nrm: joint (B, S, D) attention output */
    for (int64_t bb = 0; bb < B; bb++) {
        ff_tensor av = view2(&s->nrm, bb * S * D, N, D), at = view2(&s->nrm, bb * S * D + N * D, L, D);
        ff_tensor yv = view2(&s->out, bb * N * D, N, D), yt = view2(&s->out, B * N * D + bb * L * D, L, D);
        TRY(linear(be, &av, &b->to_out, &yv, err));
        TRY(linear(be, &at, &b->to_add_out, &yt, err));
    }
done:
    return st;
}

/* HunyuanVideoTransformerBlock.forward on hv (B, N, D) and ht (B, L, D). */
static ff_status dual_block(hyd_state *s, const ff_hydit_dual *b, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, N = s->N, L = s->L, D = s->D;
    ff_tensor hv = view3(&s->stream, 0, B, N, D), ht = view3(&s->stream, B * N * D, B, L, D);
    ff_tensor nv = view3(&s->nrm, 0, B, N, D), nt = view3(&s->nrm, B * N * D, B, L, D);
    ff_tensor yv = view3(&s->out, 0, B, N, D), yt = view3(&s->out, B * N * D, B, L, D);
    ff_tensor stemb = view2(&s->stemb, 0, B, D);
    ff_status st = FF_OK;
    /* AdaLayerNormZero x2: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp */
    TRY(modulation(s, &stemb, &b->norm1, 6, &s->modv, err));
    TRY(modulation(s, &stemb, &b->norm1_context, 6, &s->modt, err));
    ff_tensor mv[6], mt[6];
    for (int j = 0; j < 6; j++) mv[j] = chunk(s, &s->modv, j), mt[j] = chunk(s, &s->modt, j);
    TRY(ff_op_layer_norm(be, &hv, NULL, NULL, LN_EPS, &nv, err));
    TRY(ff_op_modulate(be, &nv, &mv[0], &mv[1], &nv, err));
    TRY(ff_op_layer_norm(be, &ht, NULL, NULL, LN_EPS, &nt, err));
    TRY(ff_op_modulate(be, &nt, &mt[0], &mt[1], &nt, err));
    /* joint attention, gated residuals */
    TRY(dual_attention(s, b, err));
    TRY(gated_add(s, &hv, &yv, &mv[2], err));
    TRY(gated_add(s, &ht, &yt, &mt[2], err));
    /* norm2 * (1 + scale_mlp) + shift_mlp; x += gate_mlp * ff(.) */
    TRY(ff_op_layer_norm(be, &hv, NULL, NULL, LN_EPS, &nv, err));
    TRY(ff_op_modulate(be, &nv, &mv[3], &mv[4], &nv, err));
    TRY(ff_op_layer_norm(be, &ht, NULL, NULL, LN_EPS, &nt, err));
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
static ff_status single_block(hyd_state *s, const ff_hydit_single *b, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, N = s->N, S = s->S, D = s->D, H = s->H, hd = s->hd, F = s->cfg->mlp_dim;
    ff_tensor x = view3(&s->stream, 0, B, S, D), n = view3(&s->nrm, 0, B, S, D), p = view3(&s->tmp, 0, B, S, D);
    ff_tensor p4 = view4(&s->tmp, 0, B, S, H, hd), ph = view2(&s->tmp, 0, B * S * H, hd);
    ff_tensor stemb = view2(&s->stemb, 0, B, D);
    ff_status st = FF_OK;
    /* AdaLayerNormZeroSingle: shift, scale, gate */
    TRY(modulation(s, &stemb, &b->norm, 3, &s->modv, err));
    ff_tensor shift = chunk(s, &s->modv, 0), scale = chunk(s, &s->modv, 1), gate = chunk(s, &s->modv, 2);
    TRY(ff_op_layer_norm(be, &x, NULL, NULL, LN_EPS, &n, err));
    TRY(ff_op_modulate(be, &n, &shift, &scale, &n, err));
    /* attention over the joint sequence: per-head RMSNorm, RoPE on the video rows, no output projection */
    const ff_hydit_linear *proj[3] = {&b->to_q, &b->to_k, &b->to_v};
    const ff_tensor *norms[3] = {&b->norm_q, &b->norm_k, NULL};
    ff_tensor qkv[3];
    for (int i = 0; i < 3; i++) {
        qkv[i] = view4(&s->qkv, i * B * S * D, B, H, S, hd);
        TRY(linear(be, &n, proj[i], &p, err));
        if (norms[i]) {
            TRY(ff_op_rms_norm(be, &ph, norms[i], LN_EPS, &ph, err));
            for (int64_t bb = 0; bb < B; bb++) {
                ff_tensor rv = view4(&s->tmp, bb * S * D, 1, N, H, hd);
                TRY(ff_op_rope(be, &rv, &s->rope_cos, &s->rope_sin, &rv, err));
            }
        }
        TRY(ff_op_permute(be, &p4, to_heads, &qkv[i], err));
    }
    ff_tensor o = view4(&s->tmp, 0, B, H, S, hd), o2 = view4(&s->out, 0, B, S, H, hd);
    ff_tensor bias = view4(&s->bias, 0, B, 1, 1, S);
    TRY(ff_op_sdpa(be, &qkv[0], &qkv[1], &qkv[2], &bias, (float)(1.0 / sqrt((double)hd)), &o, err));
    TRY(ff_op_permute(be, &o, to_heads, &o2, err)); /* out: attention output (B, S, D) */
    /* proj_out(cat([attn, gelu_tanh(proj_mlp(n))], -1)), R token rows at a time, into tmp */
    for (int64_t r0 = 0; r0 < B * S; r0 += s->R) {
        const int64_t nr = B * S - r0 < s->R ? B * S - r0 : s->R;
        ff_tensor nrows = view2(&s->nrm, r0 * D, nr, D), h = view2(&s->fh, 0, nr, F);
        ff_tensor arows = view2(&s->out, r0 * D, nr, D), c = view2(&s->cat, 0, nr, D + F);
        ff_tensor y = view2(&s->tmp, r0 * D, nr, D);
        const ff_tensor *parts[2] = {&arows, &h};
        TRY(linear(be, &nrows, &b->proj_mlp, &h, err));
        TRY(ff_op_unary(be, FF_UNARY_GELU_TANH, &h, &h, err));
        TRY(ff_op_concat(be, parts, 2, 1, &c, err));
        TRY(linear(be, &c, &b->proj_out, &y, err));
    }
    TRY(gated_add(s, &x, &p, &gate, err));
done:
    return st;
}

/* ---- forward ------------------------------------------------------------------- */

ff_status ff_hydit_out_shape(const ff_hydit_config *cfg, const ff_tensor *x, int64_t out_shape[5], ff_err *err) {
    char buf[96];
    if (x->ndim != 5 || x->shape[1] != cfg->in_channels)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: hidden_states %s, expected (B, %d, F, H, W)",
                          ff_tensor_describe(x, buf, sizeof buf), cfg->in_channels);
    const int p[3] = {cfg->patch_t, cfg->patch, cfg->patch};
    out_shape[0] = x->shape[0];
    out_shape[1] = cfg->out_channels;
    for (int a = 0; a < 3; a++) {
        const int64_t n = x->shape[2 + a] / p[a];
        if (n < 1)
            return ff_err_set(err, FF_ERR_SHAPE, "transformer: hidden_states %s smaller than the patch (%d, %d, %d)",
                              ff_tensor_describe(x, buf, sizeof buf), p[0], p[1], p[2]);
        out_shape[2 + a] = n * p[a];
    }
    return FF_OK;
}

static ff_status check_dev(const ff_tensor *t, const char *what, int ndim, const int64_t *shape, ff_err *err) {
    char b1[96];
    int ok = t && t->ndim == ndim && t->dtype == FF_F32;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        ff_tensor want;
        char b2[96];
        ff_tensor_view(&want, FF_F32, ndim, shape, NULL, FF_LOC_HOST);
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: %s %s, expected F32 %s", what,
                          t ? ff_tensor_describe(t, b1, sizeof b1) : "missing", ff_tensor_describe(&want, b2, sizeof b2));
    }
    return FF_OK;
}

/* Runs one block through the hooks. */
static ff_status run_block(hyd_state *s, ff_hydit_model *m, int index, const ff_hydit_hooks *hooks, ff_err *err) {
    const ff_hydit_config *cfg = s->cfg;
    ff_param params[FF_HYDIT_BLOCK_PARAMS_MAX];
    size_t np = 0;
    ff_status st;
    if (hooks) np = ff_hydit_block_params(cfg, index, m, m->weight_dtype, params);
    if (hooks && hooks->before_block && (st = hooks->before_block(hooks->user, index, params, np, err)))
        return ff_err_wrap(err, "transformer: before block %d: ", index);
    if (index < cfg->num_layers) {
        st = dual_block(s, &m->dual[index], err);
        if (st) ff_err_wrap(err, "transformer_blocks.%d: ", index);
    } else {
        st = single_block(s, &m->single[index - cfg->num_layers], err);
        if (st) ff_err_wrap(err, "single_transformer_blocks.%d: ", index - cfg->num_layers);
    }
    if (st) {
        if (hooks && hooks->after_block) {
            ff_err ignored = {0};
            hooks->after_block(hooks->user, index, params, np, &ignored);
        }
        return st;
    }
    if (hooks && hooks->after_block && (st = hooks->after_block(hooks->user, index, params, np, err)))
        return ff_err_wrap(err, "transformer: after block %d: ", index);
    return FF_OK;
}

/* Taps of the single phase: the video and text rows of x (B, S, D), split
 * into out and tmp (free between blocks). */
static ff_status tap_joint(hyd_state *s, int i, ff_err *err) {
    if (!s->taps || !s->taps->fn) return FF_OK;
    const int64_t B = s->B, N = s->N, L = s->L, S = s->S, D = s->D;
    ff_tensor x = view3(&s->stream, 0, B, S, D), v = view3(&s->out, 0, B, N, D), t = view3(&s->tmp, 0, B, L, D);
    char a[32], b[32];
    snprintf(a, sizeof a, "single%d_hidden", i);
    snprintf(b, sizeof b, "single%d_text", i);
    ff_status st = ff_op_slice(s->be, &x, 1, 0, &v, err);
    if (!st) st = ff_op_slice(s->be, &x, 1, N, &t, err);
    if (!st) st = tap(s, a, &v, err);
    if (!st) st = tap(s, b, &t, err);
    return st;
}

ff_status ff_hydit_forward(ff_hydit_model *m, ff_backend *be, const ff_hydit_inputs *in, const ff_hydit_hooks *hooks,
                           const ff_hydit_taps *taps, ff_tensor *out, ff_err *err) {
    const ff_hydit_config *cfg = &m->cfg;
    hyd_state s;
    memset(&s, 0, sizeof s);
    s.be = be;
    s.cfg = cfg;
    s.taps = taps;
    ff_status st;
    char b1[96];
    float *host = NULL;

    /* ---- shapes */
    int64_t oshape[5];
    if (!in || !in->hidden_states || !in->timestep || !in->encoder_hidden_states || !in->pooled_projections)
        return ff_err_set(err, FF_ERR_ARG, "transformer: hidden_states, timestep, encoder_hidden_states and "
                                           "pooled_projections are required");
    const ff_tensor *x = in->hidden_states, *text = in->encoder_hidden_states;
    if ((st = ff_hydit_out_shape(cfg, x, oshape, err))) return st;
    const int64_t B = x->shape[0], D = cfg->dim;
    const int64_t pf = x->shape[2] / cfg->patch_t, ph = x->shape[3] / cfg->patch, pw = x->shape[4] / cfg->patch;
    if (text->ndim != 3 || text->shape[1] < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: encoder_hidden_states %s, expected (%lld, L, %d)",
                          ff_tensor_describe(text, b1, sizeof b1), (long long)B, cfg->text_embed_dim);
    s.B = B, s.N = pf * ph * pw, s.L = text->shape[1], s.S = s.N + s.L, s.D = D;
    s.H = cfg->heads, s.hd = cfg->head_dim, s.F = cfg->mlp_dim;
    const int64_t N = s.N, L = s.L, S = s.S;
    {
        const int64_t ts[3] = {B, L, cfg->text_embed_dim}, ps[2] = {B, cfg->pooled_projection_dim};
        if ((st = check_dev(text, "encoder_hidden_states", 3, ts, err)) ||
            (st = check_dev(in->pooled_projections, "pooled_projections", 2, ps, err)) ||
            (st = check_dev(out, "out", 5, oshape, err)))
            return st;
    }

    /* ---- buffers and host tables (masks, projections) */
    TRY(alloc_state(&s, RUN_FULL, err));
    TRY(host_inputs(&s, in->timestep, in->guidance, in->encoder_attention_mask, err));

    /* ---- 1. RoPE (HunyuanVideoRotaryPosEmbed), on the host */
    {
        const size_t tab = (size_t)(N * s.hd);
        host = malloc(2 * tab * sizeof *host);
        if (!host) {
            st = ff_err_set(err, FF_ERR_NOMEM, "transformer: cannot allocate %zu floats of rope tables", 2 * tab);
            goto done;
        }
        TRY(ff_hydit_rope_tables(cfg, pf, ph, pw, host, host + tab, err));
        TRY(upload(be, &s.rope_cos, host, err));
        TRY(upload(be, &s.rope_sin, host + tab, err));
        free(host);
        host = NULL;
        s.rope_cos = view2(&s.rope_cos, 0, N, s.hd);
        s.rope_sin = view2(&s.rope_sin, 0, N, s.hd);
        TRY(tap(&s, "rope_cos", &s.rope_cos, err));
        TRY(tap(&s, "rope_sin", &s.rope_sin, err));
    }

    /* ---- 2. conditional embeddings: temb (time_text_embed), silu(temb) for every modulation */
    TRY(cond_embed(&s, m, in->pooled_projections, NULL, err));
    {
        ff_tensor temb = view2(&s.temb, 0, B, D), stemb = view2(&s.stemb, 0, B, D);
        TRY(tap(&s, "temb", &temb, err));
        TRY(ff_op_unary(be, FF_UNARY_SILU, &temb, &stemb, err));
    }

    /* x_embedder: Conv3d(kernel = stride = patch) -> flatten(2).transpose(1, 2) into hv */
    ff_tensor hv = view3(&s.stream, 0, B, N, D), ht = view3(&s.stream, B * N * D, B, L, D);
    {
        const int stride[3] = {cfg->patch_t, cfg->patch, cfg->patch}, pad[6] = {0, 0, 0, 0, 0, 0};
        const int64_t cs[5] = {B, D, pf, ph, pw};
        ff_tensor conv = view(&s.tmp, 0, 5, cs), c3 = view3(&s.tmp, 0, B, D, N);
        static const int tr[3] = {0, 2, 1};
        TRY(ff_op_conv3d(be, x, &m->x_embedder_w, &m->x_embedder_b, stride, pad, &conv, err));
        TRY(ff_op_permute(be, &c3, tr, &hv, err));
        TRY(tap(&s, "x_embedded", &hv, err));
    }
    /* context_embedder: the token refiner into ht */
    TRY(token_refiner(&s, m, text, &ht, err));
    TRY(tap(&s, "text_refined", &ht, err));

    /* ---- 4. dual-stream blocks */
    for (int i = 0; i < cfg->num_layers; i++) {
        char a[32], b[32];
        TRY(run_block(&s, m, i, hooks, err));
        snprintf(a, sizeof a, "dual%d_hidden", i);
        snprintf(b, sizeof b, "dual%d_text", i);
        TRY(tap(&s, a, &hv, err));
        TRY(tap(&s, b, &ht, err));
    }
    /* single-stream blocks on x = cat([hv, ht], dim=1): joined per sample into out, then swapped in */
    if (cfg->num_single_layers > 0) {
        for (int64_t b = 0; b < B; b++) {
            ff_tensor sv = view2(&s.stream, b * N * D, N, D), st_ = view2(&s.stream, B * N * D + b * L * D, L, D);
            ff_tensor dv = view2(&s.out, b * S * D, N, D), dt = view2(&s.out, b * S * D + N * D, L, D);
            TRY(ff_op_copy(be, &sv, &dv, err));
            TRY(ff_op_copy(be, &st_, &dt, err));
        }
        ff_tensor t = s.stream;
        s.stream = s.out;
        s.out = t;
    }
    for (int i = 0; i < cfg->num_single_layers; i++) {
        TRY(run_block(&s, m, cfg->num_layers + i, hooks, err));
        TRY(tap_joint(&s, i, err));
    }

    /* ---- 5. norm_out (AdaLayerNormContinuous: scale first, then shift), proj_out */
    ff_tensor nv = view3(&s.nrm, 0, B, N, D);
    if (cfg->num_single_layers > 0) {
        ff_tensor xs = view3(&s.stream, 0, B, S, D);
        TRY(ff_op_slice(be, &xs, 1, 0, &nv, err));
        TRY(ff_op_layer_norm(be, &nv, NULL, NULL, LN_EPS, &nv, err));
    } else {
        TRY(ff_op_layer_norm(be, &hv, NULL, NULL, LN_EPS, &nv, err));
    }
    {
        ff_tensor stemb = view2(&s.stemb, 0, B, D);
        TRY(modulation(&s, &stemb, &m->norm_out, 2, &s.modv, err));
        ff_tensor scale = chunk(&s, &s.modv, 0), shift = chunk(&s, &s.modv, 1);
        TRY(ff_op_modulate(be, &nv, &shift, &scale, &nv, err));
        TRY(tap(&s, "norm_out", &nv, err));
    }
    const int64_t pc = s.pc, C = cfg->out_channels, pt = cfg->patch_t, p = cfg->patch;
    ff_tensor po = view3(&s.tmp, 0, B, N, pc);
    TRY(linear(be, &nv, &m->proj_out, &po, err));

    /* ---- unpatchify: (B, F', H', W', C, pt, p, p) -> (B, C, F'*pt, H'*p, W'*p), diffusers'
     * permute(0, 4, 1, 5, 2, 6, 3, 7), in two permutes of 6 dims:
     * (B F' H', W', C, pt, p1, p2) -> (B F' H', C, pt, p1, W', p2), then
     * (B, F', H', C, pt, p1 W' p2) -> (B, C, F', pt, H', p1 W' p2). */
    {
        const int64_t sa[6] = {B * pf * ph, pw, C, pt, p, p}, sa_out[6] = {B * pf * ph, C, pt, p, pw, p};
        const int64_t sb[6] = {B, pf, ph, C, pt, p * pw * p}, sb_out[6] = {B, C, pf, pt, ph, p * pw * p};
        static const int pa[6] = {0, 2, 3, 4, 1, 5}, pb[6] = {0, 3, 1, 4, 2, 5};
        ff_tensor a = view(&s.tmp, 0, 6, sa), a_out = view(&s.out, 0, 6, sa_out);
        ff_tensor b = view(&s.out, 0, 6, sb), b_out = view(out, 0, 6, sb_out);
        TRY(ff_op_permute(be, &a, pa, &a_out, err));
        TRY(ff_op_permute(be, &b, pb, &b_out, err));
    }

done:
    free(host);
    free_state(&s);
    return st;
}

/* ---- pieces ------------------------------------------------------------------------- */

ff_status ff_hydit_condition_embed(ff_hydit_model *m, ff_backend *be, const ff_tensor *timestep,
                                   const ff_tensor *pooled, const ff_tensor *guidance, ff_tensor *temb,
                                   const ff_hydit_cond_parts *parts, ff_err *err) {
    const ff_hydit_config *cfg = &m->cfg;
    hyd_state s;
    memset(&s, 0, sizeof s);
    s.be = be, s.cfg = cfg, s.D = cfg->dim, s.H = cfg->heads, s.hd = cfg->head_dim;
    ff_status st;
    if (!pooled || pooled->ndim != 2) return check_dev(pooled, "pooled_projections", 2, (int64_t[]){1, 1}, err);
    s.B = pooled->shape[0];
    const int64_t ps[2] = {s.B, cfg->pooled_projection_dim}, ts[2] = {s.B, cfg->dim};
    if ((st = check_dev(pooled, "pooled_projections", 2, ps, err)) || (st = check_dev(temb, "temb", 2, ts, err)))
        return st;
    TRY(alloc_state(&s, RUN_COND, err));
    TRY(host_inputs(&s, timestep, guidance, NULL, err));
    TRY(cond_embed(&s, m, pooled, parts, err));
    {
        ff_tensor t = view2(&s.temb, 0, s.B, s.D);
        TRY(ff_op_copy(be, &t, temb, err));
    }
done:
    free_state(&s);
    return st;
}

ff_status ff_hydit_token_refiner(ff_hydit_model *m, ff_backend *be, const ff_tensor *text, const ff_tensor *timestep,
                                 const ff_tensor *mask, const ff_hydit_taps *taps, ff_tensor *out, ff_err *err) {
    const ff_hydit_config *cfg = &m->cfg;
    hyd_state s;
    memset(&s, 0, sizeof s);
    s.be = be, s.cfg = cfg, s.taps = taps, s.D = cfg->dim, s.H = cfg->heads, s.hd = cfg->head_dim;
    ff_status st;
    if (!text || text->ndim != 3)
        return check_dev(text, "encoder_hidden_states", 3, (int64_t[]){1, 1, cfg->text_embed_dim}, err);
    s.B = text->shape[0], s.L = text->shape[1], s.N = 0, s.S = s.L;
    const int64_t ts[3] = {s.B, s.L, cfg->text_embed_dim}, os[3] = {s.B, s.L, cfg->dim};
    if ((st = check_dev(text, "encoder_hidden_states", 3, ts, err)) || (st = check_dev(out, "out", 3, os, err)))
        return st;
    TRY(alloc_state(&s, RUN_REFINER, err));
    TRY(host_inputs(&s, timestep, NULL, mask, err));
    {
        ff_tensor x = view3(&s.stream, 0, s.B, s.L, s.D);
        TRY(token_refiner(&s, m, text, &x, err));
        TRY(ff_op_copy(be, &x, out, err));
    }
done:
    free_state(&s);
    return st;
}
