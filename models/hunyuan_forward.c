/* hunyuan_forward: HunyuanVideoTransformer3DModel.forward on kernels/ops.h,
 * block by block with offload hooks and stage taps. Reads top to bottom like
 * the diffusers forward: rope -> time_text_embed -> x_embedder ->
 * context_embedder (token refiner) -> attention mask -> dual-stream blocks
 * -> single-stream blocks -> norm_out / proj_out -> unpatchify; the buffers
 * of a call and the host-side inputs (masks, projections). Not here: the
 * modules (hunyuan_blocks.c), weights and config (hunyuan_transformer.c),
 * host tables (hunyuan_embed.c).
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

#include "models/hunyuan_internal.h"

#define TRY(expr)                     \
    do {                              \
        if ((st = (expr))) goto done; \
    } while (0)

/* ---- buffers ------------------------------------------------------------ */

/* What a call computes: the whole forward, the token refiner alone, or the
 * condition embedding alone (the exposed pieces); decides which buffers exist. */
typedef enum { RUN_FULL = 0, RUN_REFINER, RUN_COND } run_mode;

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
    ff_tensor d = hydit_view(dev, 0, 1, shp);
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
                          t ? ff_tensor_describe(t, b1, sizeof b1) : "missing",
                          ff_tensor_describe(&want, b2, sizeof b2));
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
        st = hydit_dual_block(s, &m->dual[index], err);
        if (st) ff_err_wrap(err, "transformer_blocks.%d: ", index);
    } else {
        st = hydit_single_block(s, &m->single[index - cfg->num_layers], err);
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
    ff_tensor x = hydit_view3(&s->stream, 0, B, S, D), v = hydit_view3(&s->out, 0, B, N, D),
              t = hydit_view3(&s->tmp, 0, B, L, D);
    char a[32], b[32];
    snprintf(a, sizeof a, "single%d_hidden", i);
    snprintf(b, sizeof b, "single%d_text", i);
    ff_status st = ff_op_slice(s->be, &x, 1, 0, &v, err);
    if (!st) st = ff_op_slice(s->be, &x, 1, N, &t, err);
    if (!st) st = hydit_tap(s, a, &v, err);
    if (!st) st = hydit_tap(s, b, &t, err);
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
        s.rope_cos = hydit_view2(&s.rope_cos, 0, N, s.hd);
        s.rope_sin = hydit_view2(&s.rope_sin, 0, N, s.hd);
        TRY(hydit_tap(&s, "rope_cos", &s.rope_cos, err));
        TRY(hydit_tap(&s, "rope_sin", &s.rope_sin, err));
    }

    /* ---- 2. conditional embeddings: temb (time_text_embed), silu(temb) for every modulation */
    TRY(hydit_cond_embed(&s, m, in->pooled_projections, NULL, err));
    {
        ff_tensor temb = hydit_view2(&s.temb, 0, B, D), stemb = hydit_view2(&s.stemb, 0, B, D);
        TRY(hydit_tap(&s, "temb", &temb, err));
        TRY(ff_op_unary(be, FF_UNARY_SILU, &temb, &stemb, err));
    }

    /* x_embedder: Conv3d(kernel = stride = patch) -> flatten(2).transpose(1, 2) into hv */
    ff_tensor hv = hydit_view3(&s.stream, 0, B, N, D), ht = hydit_view3(&s.stream, B * N * D, B, L, D);
    {
        const int stride[3] = {cfg->patch_t, cfg->patch, cfg->patch}, pad[6] = {0, 0, 0, 0, 0, 0};
        const int64_t cs[5] = {B, D, pf, ph, pw};
        ff_tensor conv = hydit_view(&s.tmp, 0, 5, cs), c3 = hydit_view3(&s.tmp, 0, B, D, N);
        static const int tr[3] = {0, 2, 1};
        TRY(ff_op_conv3d(be, x, &m->x_embedder_w, &m->x_embedder_b, stride, pad, &conv, err));
        TRY(ff_op_permute(be, &c3, tr, &hv, err));
        TRY(hydit_tap(&s, "x_embedded", &hv, err));
    }
    /* context_embedder: the token refiner into ht */
    TRY(hydit_token_refiner(&s, m, text, &ht, err));
    TRY(hydit_tap(&s, "text_refined", &ht, err));

    /* ---- 4. dual-stream blocks */
    for (int i = 0; i < cfg->num_layers; i++) {
        char a[32], b[32];
        TRY(run_block(&s, m, i, hooks, err));
        snprintf(a, sizeof a, "dual%d_hidden", i);
        snprintf(b, sizeof b, "dual%d_text", i);
        TRY(hydit_tap(&s, a, &hv, err));
        TRY(hydit_tap(&s, b, &ht, err));
    }
    /* single-stream blocks on x = cat([hv, ht], dim=1): joined per sample into out, then swapped in */
    if (cfg->num_single_layers > 0) {
        for (int64_t b = 0; b < B; b++) {
            ff_tensor sv = hydit_view2(&s.stream, b * N * D, N, D),
                      st_ = hydit_view2(&s.stream, B * N * D + b * L * D, L, D);
            ff_tensor dv = hydit_view2(&s.out, b * S * D, N, D), dt = hydit_view2(&s.out, b * S * D + N * D, L, D);
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
    ff_tensor nv = hydit_view3(&s.nrm, 0, B, N, D);
    if (cfg->num_single_layers > 0) {
        ff_tensor xs = hydit_view3(&s.stream, 0, B, S, D);
        TRY(ff_op_slice(be, &xs, 1, 0, &nv, err));
        TRY(ff_op_layer_norm(be, &nv, NULL, NULL, HYDIT_LN_EPS, &nv, err));
    } else {
        TRY(ff_op_layer_norm(be, &hv, NULL, NULL, HYDIT_LN_EPS, &nv, err));
    }
    {
        ff_tensor stemb = hydit_view2(&s.stemb, 0, B, D);
        TRY(hydit_modulation(&s, &stemb, &m->norm_out, 2, &s.modv, err));
        ff_tensor scale = hydit_chunk(&s, &s.modv, 0), shift = hydit_chunk(&s, &s.modv, 1);
        TRY(ff_op_modulate(be, &nv, &shift, &scale, &nv, err));
        TRY(hydit_tap(&s, "norm_out", &nv, err));
    }
    const int64_t pc = s.pc, C = cfg->out_channels, pt = cfg->patch_t, p = cfg->patch;
    ff_tensor po = hydit_view3(&s.tmp, 0, B, N, pc);
    TRY(hydit_linear(be, &nv, &m->proj_out, &po, err));

    /* ---- unpatchify: (B, F', H', W', C, pt, p, p) -> (B, C, F'*pt, H'*p, W'*p), diffusers'
     * permute(0, 4, 1, 5, 2, 6, 3, 7), in two permutes of 6 dims:
     * (B F' H', W', C, pt, p1, p2) -> (B F' H', C, pt, p1, W', p2), then
     * (B, F', H', C, pt, p1 W' p2) -> (B, C, F', pt, H', p1 W' p2). */
    {
        const int64_t sa[6] = {B * pf * ph, pw, C, pt, p, p}, sa_out[6] = {B * pf * ph, C, pt, p, pw, p};
        const int64_t sb[6] = {B, pf, ph, C, pt, p * pw * p}, sb_out[6] = {B, C, pf, pt, ph, p * pw * p};
        static const int pa[6] = {0, 2, 3, 4, 1, 5}, pb[6] = {0, 3, 1, 4, 2, 5};
        ff_tensor a = hydit_view(&s.tmp, 0, 6, sa), a_out = hydit_view(&s.out, 0, 6, sa_out);
        ff_tensor b = hydit_view(&s.out, 0, 6, sb), b_out = hydit_view(out, 0, 6, sb_out);
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
    TRY(hydit_cond_embed(&s, m, pooled, parts, err));
    {
        ff_tensor t = hydit_view2(&s.temb, 0, s.B, s.D);
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
        ff_tensor x = hydit_view3(&s.stream, 0, s.B, s.L, s.D);
        TRY(hydit_token_refiner(&s, m, text, &x, err));
        TRY(ff_op_copy(be, &x, out, err));
    }
done:
    free_state(&s);
    return st;
}
