/* cogvideox_forward: CogVideoXTransformer3DModel.forward on kernels/ops.h,
 * block by block with offload hooks. Reads top to bottom like the diffusers
 * forward: time_proj -> time_embedding (+ ofs_embedding) -> patch_embed
 * (text_proj, video patches, sincos positions) -> transformer_blocks ->
 * norm_final -> norm_out (AdaLayerNorm) -> proj_out -> unpatchify. Not here:
 * weights and config (cogvideox_transformer.c), host tables
 * (cogvideox_embed.c).
 *
 * The residual stream keeps text and video together, hs = [text; video]
 * (B, S = L + N, D), as CogVideoXAttnProcessor2_0 concatenates them for the
 * joint attention and CogVideoXBlock for the feed-forward; the
 * CogVideoXLayerNormZero modulations and gates differ for the text rows
 * (enc_*) and the video rows, so they are applied per sample on the two row
 * ranges (each contiguous).
 *
 * Activations (F32 on the backend, allocated once per call):
 *   hs, nrm (B, S, D)   residual stream, normed input / attention heads
 *   tmp (B, S, D)       projections, attention output, block outputs
 *   arena               q/k/v in (B, heads, S, head_dim), or the FFN hidden
 *                       (B, S, 4D), or the patch embedding / proj_out +
 *                       unpatchify scratch: one at a time
 *   rope cos/sin (N, head_dim) | pos (N, D) sincos video rows
 *   tstep (B, D), tscr / temb / temb_act (B, time_embed_dim), ofs_in
 *   (B, ofs_embed_dim), mod (B, 6D): the block's six modulation vectors
 * Attention goes through ff_op_sdpa, which never forms the (S x S) scores. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/cogvideox_transformer.h"

#define TRY(expr)                     \
    do {                              \
        if ((st = (expr))) goto done; \
    } while (0)

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

static const ff_tensor *opt(const ff_tensor *t) { return t->data ? t : NULL; }

static ff_status linear(ff_backend *be, const ff_tensor *x, const ff_cogdit_linear *l, ff_tensor *out, ff_err *err) {
    return ff_op_linear(be, x, &l->weight, opt(&l->bias), out, err);
}
static ff_status layer_norm(ff_backend *be, const ff_tensor *x, const ff_cogdit_norm *n, float eps, ff_tensor *out,
                            ff_err *err) {
    return ff_op_layer_norm(be, x, opt(&n->weight), opt(&n->bias), eps, out, err);
}

static ff_unary_kind unary_of(ff_cogdit_act a) {
    switch (a) {
    case FF_COGDIT_ACT_GELU: return FF_UNARY_GELU_ERF;
    case FF_COGDIT_ACT_GELU_TANH: return FF_UNARY_GELU_TANH;
    case FF_COGDIT_ACT_RELU: return FF_UNARY_RELU;
    case FF_COGDIT_ACT_SILU: break;
    }
    return FF_UNARY_SILU;
}

typedef struct {
    ff_backend *be;
    const ff_cogdit_config *cfg;
    int64_t B, L, N, S, D, H, hd;
    int64_t F, C, Hin, Win, grid[3];
    int64_t K; /* patch vector: C (1.0 conv input) or C*pt*p*p */
    int64_t P; /* proj_out width */
    int rope, sincos;
    ff_tensor hs, nrm, tmp, arena, rope_cos, rope_sin, pos, tstep, tscr, temb, temb_act, ofs_in, mod;
} fwd_state;

/* x (B, S, D) rows of sample b: text (L rows) or video (N rows). */
static ff_tensor rows(const fwd_state *s, const ff_tensor *x, int64_t b, int text) {
    return text ? view3(x, b * s->S * s->D, 1, s->L, s->D) : view3(x, (b * s->S + s->L) * s->D, 1, s->N, s->D);
}
/* Chunk k (of six) of the modulation of sample b: (1, 1, D). */
static ff_tensor chunk(const fwd_state *s, int64_t b, int k, int n_chunks) {
    return view3(&s->mod, (b * n_chunks + k) * s->D, 1, 1, s->D);
}

/* CogVideoXLayerNormZero on hs into nrm: LayerNorm(x) * (1 + scale) + shift,
 * (shift, scale) = chunks 0, 1 for video rows and 3, 4 for text rows. */
static ff_status norm_zero(fwd_state *s, const ff_cogdit_linear *lin, const ff_cogdit_norm *nm, ff_err *err) {
    ff_status st;
    TRY(linear(s->be, &s->temb_act, lin, &s->mod, err)); /* linear(silu(temb)) (B, 6D) */
    TRY(layer_norm(s->be, &s->hs, nm, s->cfg->norm_eps, &s->nrm, err));
    for (int64_t b = 0; b < s->B; b++)
        for (int text = 0; text < 2; text++) {
            ff_tensor x = rows(s, &s->nrm, b, text);
            ff_tensor sh = chunk(s, b, text ? 3 : 0, 6), sc = chunk(s, b, text ? 4 : 1, 6);
            TRY(ff_op_modulate(s->be, &x, &sh, &sc, &x, err));
        }
done:
    return st;
}

/* hs += gate * y per row range: gate = chunk 2 (video), 5 (text); y = tmp. */
static ff_status gate_add(fwd_state *s, ff_err *err) {
    ff_status st = FF_OK;
    for (int64_t b = 0; b < s->B; b++)
        for (int text = 0; text < 2; text++) {
            ff_tensor y = rows(s, &s->tmp, b, text), h = rows(s, &s->hs, b, text);
            ff_tensor g = chunk(s, b, text ? 5 : 2, 6);
            TRY(ff_op_binary(s->be, FF_BIN_MUL, &y, &g, &y, err));
            TRY(ff_op_binary(s->be, FF_BIN_ADD, &h, &y, &h, err));
        }
done:
    return st;
}

/* Attention + CogVideoXAttnProcessor2_0 over nrm = [text; video]: q/k/v
 * projections, per-head LayerNorm of q and k, RoPE on the video rows of q
 * and k, SDPA, to_out.0. Result (B, S, D) in tmp; clobbers nrm. */
static ff_status attention(fwd_state *s, const ff_cogdit_block *blk, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, S = s->S, D = s->D, H = s->H, hd = s->hd;
    static const int to_heads[4] = {0, 2, 1, 3}; /* (B, S, H, hd) <-> (B, H, S, hd) */
    ff_tensor qp = view4(&s->arena, 0, B, H, S, hd);
    ff_tensor kp = view4(&s->arena, B * S * D, B, H, S, hd);
    ff_tensor vp = view4(&s->arena, 2 * B * S * D, B, H, S, hd);
    ff_status st = FF_OK;
    struct {
        const ff_cogdit_linear *proj;
        const ff_cogdit_norm *norm;
        ff_tensor *dst;
    } steps[3] = {{&blk->to_q, &blk->norm_q, &qp}, {&blk->to_k, &blk->norm_k, &kp}, {&blk->to_v, NULL, &vp}};
    for (int i = 0; i < 3; i++) {
        ff_tensor p = view3(&s->tmp, 0, B, S, D);
        TRY(linear(be, &s->nrm, steps[i].proj, &p, err));
        ff_tensor p4 = view4(&s->tmp, 0, B, S, H, hd);
        if (steps[i].norm) {
            TRY(layer_norm(be, &p4, steps[i].norm, 1e-6f, &p4, err));
            if (s->rope)
                for (int64_t b = 0; b < B; b++) {
                    ff_tensor v = view4(&s->tmp, (b * S + s->L) * D, 1, s->N, H, hd);
                    TRY(ff_op_rope(be, &v, &s->rope_cos, &s->rope_sin, &v, err));
                }
        }
        TRY(ff_op_permute(be, &p4, to_heads, steps[i].dst, err));
    }
    ff_tensor o = view4(&s->tmp, 0, B, H, S, hd);
    TRY(ff_op_sdpa(be, &qp, &kp, &vp, NULL, (float)(1.0 / sqrt((double)hd)), &o, err));
    ff_tensor o2 = view4(&s->nrm, 0, B, S, H, hd);
    TRY(ff_op_permute(be, &o, to_heads, &o2, err));
    ff_tensor o3 = view3(&s->nrm, 0, B, S, D), out = view3(&s->tmp, 0, B, S, D);
    TRY(linear(be, &o3, &blk->to_out, &out, err));
done:
    return st;
}

/* CogVideoXBlock.forward. */
static ff_status block_forward(fwd_state *s, const ff_cogdit_block *blk, ff_err *err) {
    ff_status st;
    TRY(norm_zero(s, &blk->norm1_linear, &blk->norm1_norm, err));
    TRY(attention(s, blk, err));
    TRY(gate_add(s, err));
    TRY(norm_zero(s, &blk->norm2_linear, &blk->norm2_norm, err));
    {
        ff_tensor fh = view3(&s->arena, 0, s->B, s->S, s->cfg->ff_inner_dim), out = view3(&s->tmp, 0, s->B, s->S, s->D);
        TRY(linear(s->be, &s->nrm, &blk->ff_in, &fh, err));
        TRY(ff_op_unary(s->be, unary_of(s->cfg->activation), &fh, &fh, err));
        TRY(linear(s->be, &fh, &blk->ff_out, &out, err));
    }
    TRY(gate_add(s, err));
done:
    return st;
}

ff_status ff_cogdit_out_shape(const ff_cogdit_config *cfg, const int64_t x[5], int64_t out[5], ff_err *err) {
    int64_t grid[3];
    if (x[2] != cfg->in_channels)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: hidden_states has %lld channels, expected (B, F, %d, H, W)",
                          (long long)x[2], cfg->in_channels);
    ff_status st = ff_cogdit_grid(cfg, x[1], x[3], x[4], grid, err);
    if (st) return st;
    out[0] = x[0], out[1] = x[1], out[2] = cfg->out_channels, out[3] = x[3], out[4] = x[4];
    return FF_OK;
}

/* Every backend buffer a forward allocates. */
#define ACT_MAX 16
typedef struct {
    ff_tensor *t;
    int ndim;
    int64_t shape[2];
    const char *what;
} act_spec;

static int act_specs(const ff_cogdit_config *cfg, int64_t B, int64_t N, int64_t L, fwd_state *s, act_spec *o) {
    const int64_t D = cfg->dim, S = L + N, te = cfg->time_embed_dim;
    const int64_t pt = cfg->patch_size_t ? cfg->patch_size_t : 1, p = cfg->patch_size;
    const int64_t K = (int64_t)cfg->in_channels * pt * p * p, P = p * p * pt * cfg->out_channels;
    int64_t arena = 3 * B * S * D;                                   /* q, k, v */
    if (B * S * cfg->ff_inner_dim > arena) arena = B * S * cfg->ff_inner_dim; /* FFN hidden */
    const int64_t patch = cfg->patch_size_t ? 2 * B * N * K : B * N * D;     /* patch permutes / conv output */
    if (patch > arena) arena = patch;
    if (2 * B * N * P > arena) arena = 2 * B * N * P;                 /* proj_out + unpatchify */
    int n = 0;
    o[n++] = (act_spec){&s->hs, 2, {B * S, D}, "hidden_states"};
    o[n++] = (act_spec){&s->nrm, 2, {B * S, D}, "norm"};
    o[n++] = (act_spec){&s->tmp, 2, {B * S, D}, "projections"};
    o[n++] = (act_spec){&s->arena, 1, {arena, 1}, "attention / ffn"};
    if (cfg->use_rotary_positional_embeddings) {
        o[n++] = (act_spec){&s->rope_cos, 2, {N, cfg->head_dim}, "rope"};
        o[n++] = (act_spec){&s->rope_sin, 2, {N, cfg->head_dim}, "rope"};
    } else {
        o[n++] = (act_spec){&s->pos, 2, {N, D}, "sincos positions"};
    }
    o[n++] = (act_spec){&s->tstep, 2, {B, D}, "timestep embedding"};
    o[n++] = (act_spec){&s->tscr, 2, {B, te}, "time_embedding"};
    o[n++] = (act_spec){&s->temb, 2, {B, te}, "temb"};
    o[n++] = (act_spec){&s->temb_act, 2, {B, te}, "silu(temb)"};
    if (cfg->ofs_embed_dim) o[n++] = (act_spec){&s->ofs_in, 2, {B, cfg->ofs_embed_dim}, "ofs embedding"};
    o[n++] = (act_spec){&s->mod, 2, {B, 6 * D}, "modulation"};
    return n;
}

ff_status ff_cogdit_activation_bytes(const ff_cogdit_config *cfg, const int64_t x_shape[5], int64_t text_len,
                                     size_t *bytes, ff_err *err) {
    int64_t grid[3];
    ff_status st = ff_cogdit_grid(cfg, x_shape[1], x_shape[3], x_shape[4], grid, err);
    if (st) return st;
    if (x_shape[0] < 1 || text_len < 1)
        return ff_err_set(err, FF_ERR_ARG, "transformer activation size: B %lld, %lld text rows",
                          (long long)x_shape[0], (long long)text_len);
    fwd_state s;
    act_spec specs[ACT_MAX];
    int n = act_specs(cfg, x_shape[0], grid[0] * grid[1] * grid[2], text_len, &s, specs);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (size_t)(specs[i].shape[0] * (specs[i].ndim > 1 ? specs[i].shape[1] : 1)) * 4;
    *bytes = total;
    return FF_OK;
}

/* Host values of a host timestep-like tensor as float32, broadcast to B. */
static ff_status host_values(const ff_tensor *t, int64_t B, const char *what, float *out, ff_err *err) {
    char buf[96];
    const int64_t n = ff_tensor_numel(t);
    if (t->loc != FF_LOC_HOST || t->ndim > 1 || (n != 1 && n != B))
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: %s %s must be a host tensor of 1 or %lld values", what,
                          ff_tensor_describe(t, buf, sizeof buf), (long long)B);
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return ff_err_set(err, FF_ERR_NOMEM, "transformer: cannot allocate %lld %s values", (long long)n, what);
    ff_tensor dst, src = *t;
    int64_t shp[1] = {n};
    ff_tensor_view(&dst, FF_F32, 1, shp, v, FF_LOC_HOST);
    src.ndim = 1;
    src.shape[0] = n;
    ff_status st = ff_tensor_convert(&dst, &src, err); /* torch .float() */
    if (!st)
        for (int64_t b = 0; b < B; b++) out[b] = v[n == 1 ? 0 : b];
    free(v);
    return st ? ff_err_wrap(err, "transformer: %s: ", what) : FF_OK;
}

/* Timesteps -> TimestepEmbedding (linear_1, act, linear_2) of n rows of
 * values into dst (B, time_embed_dim); input buffer in (B, dim). */
static ff_status embed_steps(fwd_state *s, const float *vals, int dim, ff_tensor *in, const ff_cogdit_linear *l1,
                             const ff_cogdit_linear *l2, ff_tensor *dst, float *host, ff_err *err) {
    ff_status st;
    ff_cogdit_timestep_embedding(vals, s->B, dim, s->cfg->flip_sin_to_cos, (float)s->cfg->freq_shift, host);
    ff_tensor h;
    int64_t sh[2] = {s->B, dim};
    ff_tensor_view(&h, FF_F32, 2, sh, host, FF_LOC_HOST);
    TRY(ff_be_upload(s->be, in, &h, err));
    TRY(linear(s->be, in, l1, &s->tscr, err));
    TRY(ff_op_unary(s->be, unary_of(s->cfg->timestep_activation), &s->tscr, &s->tscr, err));
    TRY(linear(s->be, &s->tscr, l2, dst, err));
done:
    return st;
}

static ff_status check_shape(const ff_tensor *t, int ndim, const int64_t *want, const char *what, ff_err *err) {
    int ok = t->ndim == ndim && t->dtype == FF_F32;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (ok) return FF_OK;
    char a[96], b[96];
    ff_tensor w;
    ff_tensor_view(&w, FF_F32, ndim, want, NULL, FF_LOC_HOST);
    return ff_err_set(err, FF_ERR_SHAPE, "transformer: %s %s, expected %s", what, ff_tensor_describe(t, a, sizeof a),
                      ff_tensor_describe(&w, b, sizeof b));
}

/* CogVideoXPatchEmbed.forward into hs: [text_proj(text); patches] (+ sincos). */
static ff_status patch_embed(fwd_state *s, ff_cogdit_model *m, const ff_tensor *x, const ff_tensor *text,
                             ff_err *err) {
    ff_backend *be = s->be;
    const ff_cogdit_config *cfg = s->cfg;
    const int64_t B = s->B, D = s->D, N = s->N, L = s->L, p = cfg->patch_size;
    ff_status st = FF_OK;
    for (int64_t b = 0; b < B; b++) {
        ff_tensor t = view3(text, b * L * cfg->text_embed_dim, 1, L, cfg->text_embed_dim), h = rows(s, &s->hs, b, 1);
        TRY(linear(be, &t, &m->text_proj, &h, err));
    }
    if (!cfg->patch_size_t) {
        /* Conv2d(k = s = p) per frame: (B*F, C, H, W) -> (B*F, D, h, w) -> tokens (f, y, x) */
        const int64_t hw = s->grid[1] * s->grid[2];
        int64_t xs[4] = {B * s->F, s->C, s->Hin, s->Win}, cs[4] = {B * s->F, D, s->grid[1], s->grid[2]};
        ff_tensor xin = view(x, 0, 4, xs), conv = view(&s->arena, 0, 4, cs);
        const int stride[2] = {(int)p, (int)p}, pad[4] = {0, 0, 0, 0};
        TRY(ff_op_conv2d(be, &xin, &m->patch_weight, opt(&m->patch_bias), stride, pad, &conv, err));
        static const int tr[3] = {0, 2, 1};
        for (int64_t b = 0; b < B; b++) {
            ff_tensor c = view3(&s->arena, b * s->F * D * hw, s->F, D, hw);
            ff_tensor h = view3(&s->hs, (b * s->S + L) * D, s->F, hw, D);
            TRY(ff_op_permute(be, &c, tr, &h, err));
        }
    } else {
        /* (B, F, C, H, W) = (A, pt, C, gh, p, gw, p), A = B*F/pt -> (A, gh, gw, C, pt, p, p):
         * two permutes of <= 6 dims, then Linear over the (c, t, y, x) vector */
        const int64_t pt = cfg->patch_size_t, A = B * s->grid[0], gh = s->grid[1], gw = s->grid[2];
        const int64_t xn = ff_tensor_numel(x);
        int64_t s1[4] = {A, pt * s->C, gh, p * gw * p}, s1o[4] = {A, gh, pt * s->C, p * gw * p};
        int64_t s2[6] = {A * gh, pt, s->C, p, gw, p}, s2o[6] = {A * gh, gw, s->C, pt, p, p};
        static const int perm1[4] = {0, 2, 1, 3}, perm2[6] = {0, 4, 2, 1, 3, 5};
        ff_tensor a = view(x, 0, 4, s1), ao = view(&s->arena, 0, 4, s1o);
        TRY(ff_op_permute(be, &a, perm1, &ao, err));
        ff_tensor c = view(&s->arena, 0, 6, s2), co = view(&s->arena, xn, 6, s2o);
        TRY(ff_op_permute(be, &c, perm2, &co, err));
        for (int64_t b = 0; b < B; b++) {
            ff_tensor v = view3(&s->arena, xn + b * N * s->K, 1, N, s->K), h = rows(s, &s->hs, b, 0);
            TRY(ff_op_linear(be, &v, &m->patch_weight, opt(&m->patch_bias), &h, err));
        }
    }
    if (s->sincos) /* embeds + pos_embedding (zero on the text rows) */
        for (int64_t b = 0; b < B; b++) {
            ff_tensor h = rows(s, &s->hs, b, 0);
            TRY(ff_op_binary(be, FF_BIN_ADD, &h, &s->pos, &h, err));
        }
done:
    return st;
}

/* (B, N, P) proj_out rows -> out (B, F, C, H, W). */
static ff_status unpatchify(fwd_state *s, ff_tensor *out, ff_err *err) {
    const ff_cogdit_config *cfg = s->cfg;
    const int64_t p = cfg->patch_size, C = cfg->out_channels, gh = s->grid[1], gw = s->grid[2];
    ff_status st = FF_OK;
    if (!cfg->patch_size_t) { /* (A, gh, gw, C, p, p) -> (A, C, gh, p, gw, p), A = B*F */
        const int64_t A = s->B * s->F;
        int64_t si[6] = {A, gh, gw, C, p, p}, so[6] = {A, C, gh, p, gw, p};
        static const int perm[6] = {0, 3, 1, 4, 2, 5};
        ff_tensor a = view(&s->arena, 0, 6, si), o = view(out, 0, 6, so);
        TRY(ff_op_permute(s->be, &a, perm, &o, err));
    } else { /* (A, gh, gw, C, pt, p, p) -> (A, pt, C, gh, p, gw, p), A = B*F/pt */
        const int64_t pt = cfg->patch_size_t, A = s->B * s->grid[0], np = s->B * s->N * s->P;
        int64_t s1[6] = {A * gh, gw, C, pt, p, p}, s1o[6] = {A * gh, pt, C, p, gw, p};
        int64_t s2[4] = {A, gh, pt * C, p * gw * p}, s2o[4] = {A, pt * C, gh, p * gw * p};
        static const int perm1[6] = {0, 3, 2, 4, 1, 5}, perm2[4] = {0, 2, 1, 3};
        ff_tensor a = view(&s->arena, 0, 6, s1), ao = view(&s->arena, np, 6, s1o);
        TRY(ff_op_permute(s->be, &a, perm1, &ao, err));
        ff_tensor c = view(&s->arena, np, 4, s2), o = view(out, 0, 4, s2o);
        TRY(ff_op_permute(s->be, &c, perm2, &o, err));
    }
done:
    return st;
}

ff_status ff_cogdit_forward(ff_cogdit_model *m, ff_backend *be, const ff_tensor *x, const ff_tensor *timestep,
                            const ff_tensor *text, const ff_cogdit_extras *ex, const ff_cogdit_hooks *hooks,
                            ff_tensor *out, ff_err *err) {
    const ff_cogdit_config *cfg = &m->cfg;
    static const ff_cogdit_extras none = {0};
    if (!ex) ex = &none;
    fwd_state s;
    memset(&s, 0, sizeof s);
    s.be = be;
    s.cfg = cfg;
    ff_status st;
    char b1[96];
    float *host = NULL, *tvals = NULL;

    /* ---- shapes */
    if (x->ndim != 5 || x->dtype != FF_F32)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: hidden_states %s, expected F32 (B, F, %d, H, W)",
                          ff_tensor_describe(x, b1, sizeof b1), cfg->in_channels);
    int64_t oshape[5];
    if ((st = ff_cogdit_out_shape(cfg, x->shape, oshape, err))) return st;
    if ((st = check_shape(out, 5, oshape, "out", err))) return st;
    s.B = x->shape[0], s.F = x->shape[1], s.C = x->shape[2], s.Hin = x->shape[3], s.Win = x->shape[4];
    if ((st = ff_cogdit_grid(cfg, s.F, s.Hin, s.Win, s.grid, err))) return st;
    s.D = cfg->dim, s.H = cfg->heads, s.hd = cfg->head_dim;
    s.N = s.grid[0] * s.grid[1] * s.grid[2];
    const int64_t pt = cfg->patch_size_t ? cfg->patch_size_t : 1;
    s.K = (int64_t)s.C * pt * cfg->patch_size * cfg->patch_size;
    s.P = (int64_t)cfg->patch_size * cfg->patch_size * pt * cfg->out_channels;
    if (text->ndim != 3 || text->shape[0] != s.B || text->shape[2] != cfg->text_embed_dim || text->shape[1] < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: encoder_hidden_states %s, expected (%lld, L, %d)",
                          ff_tensor_describe(text, b1, sizeof b1), (long long)s.B, cfg->text_embed_dim);
    s.L = text->shape[1];
    s.S = s.L + s.N;
    s.rope = cfg->use_rotary_positional_embeddings;
    s.sincos = !s.rope;
    if (s.sincos && s.L != cfg->max_text_seq_length)
        return ff_err_set(err, FF_ERR_SHAPE,
                          "transformer: %lld text rows, but the sincos positions of this model are laid out for "
                          "max_text_seq_length = %d (encode the prompt with max_sequence_length %d)",
                          (long long)s.L, cfg->max_text_seq_length, cfg->max_text_seq_length);
    if (cfg->ofs_embed_dim && !ex->ofs)
        return ff_err_set(err, FF_ERR_ARG, "transformer: ofs_embed_dim is set: the ofs input is required");
    if (ex->temb) {
        int64_t ts[2] = {s.B, cfg->time_embed_dim};
        if ((st = check_shape(ex->temb, 2, ts, "temb output", err))) return st;
    }
    if (ex->embeds) {
        int64_t es[3] = {s.B, s.S, s.D};
        if ((st = check_shape(ex->embeds, 3, es, "patch embedding output", err))) return st;
    }

    /* ---- buffers */
    {
        act_spec specs[ACT_MAX];
        int n = act_specs(cfg, s.B, s.N, s.L, &s, specs);
        for (int i = 0; i < n; i++)
            if ((st = ff_be_alloc(be, specs[i].t, FF_F32, specs[i].ndim, specs[i].shape, err))) {
                ff_err_wrap(err, "transformer activations (%s): ", specs[i].what);
                goto done;
            }
        ff_tensor_reshape(&s.hs, 3, (int64_t[3]){s.B, s.S, s.D}, NULL);
        ff_tensor_reshape(&s.nrm, 3, (int64_t[3]){s.B, s.S, s.D}, NULL);
    }
    {
        size_t need = (size_t)(s.B * (s.D > cfg->ofs_embed_dim ? s.D : cfg->ofs_embed_dim));
        size_t tab = s.rope ? 2 * (size_t)(s.N * s.hd) : (size_t)(s.N * s.D);
        if (tab > need) need = tab;
        host = malloc(need * sizeof *host);
        tvals = malloc((size_t)s.B * sizeof *tvals);
        if (!host || !tvals) {
            st = ff_err_set(err, FF_ERR_NOMEM, "transformer: cannot allocate %zu floats of host tables", need);
            goto done;
        }
    }

    /* ---- positions: RoPE tables (image_rotary_emb) or the sincos video rows */
    if (s.rope) {
        ff_tensor hc, hs_;
        int64_t sh[2] = {s.N, s.hd};
        if (ex->rope_cos || ex->rope_sin) {
            if (!ex->rope_cos || !ex->rope_sin || ex->rope_cos->loc != FF_LOC_HOST || ex->rope_sin->loc != FF_LOC_HOST) {
                st = ff_err_set(err, FF_ERR_ARG, "transformer: image_rotary_emb needs host cos and sin tables");
                goto done;
            }
            TRY(check_shape(ex->rope_cos, 2, sh, "rotary cos", err));
            TRY(check_shape(ex->rope_sin, 2, sh, "rotary sin", err));
            TRY(ff_be_upload(be, &s.rope_cos, ex->rope_cos, err));
            TRY(ff_be_upload(be, &s.rope_sin, ex->rope_sin, err));
        } else {
            TRY(ff_cogdit_rope_tables(cfg, s.F, s.Hin, s.Win, host, host + s.N * s.hd, err));
            ff_tensor_view(&hc, FF_F32, 2, sh, host, FF_LOC_HOST);
            ff_tensor_view(&hs_, FF_F32, 2, sh, host + s.N * s.hd, FF_LOC_HOST);
            TRY(ff_be_upload(be, &s.rope_cos, &hc, err));
            TRY(ff_be_upload(be, &s.rope_sin, &hs_, err));
        }
    } else {
        ff_tensor hp;
        int64_t sh[2] = {s.N, s.D};
        TRY(ff_cogdit_sincos_table(cfg, s.F, s.Hin, s.Win, host, err));
        ff_tensor_view(&hp, FF_F32, 2, sh, host, FF_LOC_HOST);
        TRY(ff_be_upload(be, &s.pos, &hp, err));
    }

    /* ---- time_proj -> time_embedding (+ ofs_proj -> ofs_embedding) */
    TRY(host_values(timestep, s.B, "timestep", tvals, err));
    TRY(embed_steps(&s, tvals, (int)s.D, &s.tstep, &m->time_linear_1, &m->time_linear_2, &s.temb, host, err));
    if (cfg->ofs_embed_dim) {
        TRY(host_values(ex->ofs, s.B, "ofs", tvals, err));
        TRY(embed_steps(&s, tvals, cfg->ofs_embed_dim, &s.ofs_in, &m->ofs_linear_1, &m->ofs_linear_2, &s.temb_act, host,
                        err));
        TRY(ff_op_binary(be, FF_BIN_ADD, &s.temb, &s.temb_act, &s.temb, err));
    }
    if (ex->temb) TRY(ff_op_copy(be, &s.temb, ex->temb, err));
    TRY(ff_op_unary(be, FF_UNARY_SILU, &s.temb, &s.temb_act, err)); /* every norm's linear(silu(temb)) */

    /* ---- patch_embed */
    TRY(patch_embed(&s, m, x, text, err));
    if (ex->embeds) TRY(ff_op_copy(be, &s.hs, ex->embeds, err));

    /* ---- transformer_blocks */
    for (int i = 0; i < cfg->num_layers; i++) {
        ff_cogdit_block *blk = &m->blocks[i];
        ff_param params[FF_COGDIT_BLOCK_PARAMS_MAX];
        size_t np = 0;
        if (hooks) np = ff_cogdit_block_params(cfg, i, blk, FF_F32, params);
        if (hooks && hooks->before_block && (st = hooks->before_block(hooks->user, i, blk, params, np, err))) {
            ff_err_wrap(err, "transformer: before transformer_blocks.%d: ", i);
            goto done;
        }
        st = block_forward(&s, blk, err);
        if (st) {
            ff_err_wrap(err, "transformer_blocks.%d: ", i);
            if (hooks && hooks->after_block) {
                ff_err ignored = {0};
                hooks->after_block(hooks->user, i, blk, params, np, &ignored);
            }
            goto done;
        }
        if (hooks && hooks->after_block && (st = hooks->after_block(hooks->user, i, blk, params, np, err))) {
            ff_err_wrap(err, "transformer: after transformer_blocks.%d: ", i);
            goto done;
        }
    }

    /* ---- norm_final (video rows), norm_out: LayerNorm * (1 + scale) + shift, SHIFT first */
    {
        ff_tensor mod2 = view2(&s.mod, 0, s.B, 2 * s.D);
        TRY(linear(be, &s.temb_act, &m->norm_out_linear, &mod2, err));
        for (int64_t b = 0; b < s.B; b++) {
            ff_tensor h = rows(&s, &s.hs, b, 0), v = view3(&s.nrm, b * s.N * s.D, 1, s.N, s.D);
            ff_tensor sh = chunk(&s, b, 0, 2), sc = chunk(&s, b, 1, 2);
            TRY(layer_norm(be, &h, &m->norm_final, cfg->norm_eps, &v, err));
            TRY(layer_norm(be, &v, &m->norm_out_norm, cfg->norm_eps, &v, err));
            TRY(ff_op_modulate(be, &v, &sh, &sc, &v, err));
        }
        ff_tensor v = view3(&s.nrm, 0, s.B, s.N, s.D), po = view3(&s.arena, 0, s.B, s.N, s.P);
        TRY(linear(be, &v, &m->proj_out, &po, err));
    }
    TRY(unpatchify(&s, out, err));

done:
    free(host);
    free(tvals);
    ff_tensor *acts[] = {&s.hs,   &s.nrm,  &s.tmp,  &s.arena,    &s.rope_cos, &s.rope_sin, &s.pos,
                         &s.tstep, &s.tscr, &s.temb, &s.temb_act, &s.ofs_in,   &s.mod};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (acts[i]->data) ff_be_free(be, acts[i]);
    return st;
}

ff_status ff_cogdit_forward_host(ff_cogdit_model *m, ff_backend *be, const ff_tensor *x, const ff_tensor *timestep,
                                 const ff_tensor *text, const ff_cogdit_extras *ex, const ff_cogdit_hooks *hooks,
                                 ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    char b1[96];
    if (x->ndim != 5)
        return ff_err_set(err, FF_ERR_SHAPE, "transformer: hidden_states %s, expected (B, F, C, H, W)",
                          ff_tensor_describe(x, b1, sizeof b1));
    int64_t oshape[5];
    ff_status st = ff_cogdit_out_shape(&m->cfg, x->shape, oshape, err);
    if (st) return st;
    ff_tensor dx = {0}, dtext = {0}, dout = {0};
    if ((st = ff_be_alloc(be, &dx, FF_F32, x->ndim, x->shape, err)) ||
        (st = ff_be_alloc(be, &dtext, FF_F32, text->ndim, text->shape, err)) ||
        (st = ff_be_alloc(be, &dout, FF_F32, 5, oshape, err)))
        goto done;
    if ((st = ff_be_upload(be, &dx, x, err)) || (st = ff_be_upload(be, &dtext, text, err))) goto done;
    if ((st = ff_cogdit_forward(m, be, &dx, timestep, &dtext, ex, hooks, &dout, err))) goto done;
    if ((st = ff_tensor_alloc(out, FF_F32, 5, oshape, err))) goto done;
    if ((st = ff_be_download(be, out, &dout, err))) ff_tensor_free(out);
done:
    if (dx.data) ff_be_free(be, &dx);
    if (dtext.data) ff_be_free(be, &dtext);
    if (dout.data) ff_be_free(be, &dout);
    return st;
}
