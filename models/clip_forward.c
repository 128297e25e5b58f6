/* clip_forward: CLIPVisionTransformer / CLIPTextTransformer forward passes
 * (transformers modeling_clip.py) on kernels/ops.h, layer by layer with
 * offload hooks. Not here: config, weights (clip.c).
 *
 * Activations (F32 on the backend, allocated once per call; T tokens):
 *   h (B, T, D) residual stream, nrm (B, T, D) normed input, tmp (B, T, D)
 *   projections / attention output, arena max(3 B T D, B T I): q/k/v in
 *   (B, heads, T, head_dim) or the MLP hidden (B, T, I) (vision: first the
 *   patch convolution output (B, D, T-1));
 *   vision: cls (B, 1, D) class token; text: ids (B, T) and pooled rows (B)
 *   I64, the causal bias (T, T) (0 on and below the diagonal, float32 min
 *   above: transformers' _create_4d_causal_attention_mask). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/clip.h"

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

typedef struct {
    ff_backend *be;
    const ff_clip_config *cfg;
    int64_t B, T, D, H, hd, I;
    ff_tensor h, nrm, tmp, arena, cls, ids, pidx, bias;
} fwd_state;

/* Every backend buffer of a forward (see the top of the file). */
#define ACT_MAX 8
typedef struct {
    ff_tensor *t;
    ff_dtype dt;
    int ndim;
    int64_t shape[3];
    const char *what;
} act_spec;

static int act_specs(const ff_clip_config *cfg, int64_t B, int64_t T, fwd_state *s, act_spec *o) {
    const int64_t D = cfg->hidden, I = cfg->intermediate;
    int64_t arena = 3 * B * T * D;
    if (B * T * I > arena) arena = B * T * I;
    int n = 0;
    o[n++] = (act_spec){&s->h, FF_F32, 3, {B, T, D}, "hidden_states"};
    o[n++] = (act_spec){&s->nrm, FF_F32, 3, {B, T, D}, "norm"};
    o[n++] = (act_spec){&s->tmp, FF_F32, 3, {B, T, D}, "projections"};
    o[n++] = (act_spec){&s->arena, FF_F32, 1, {arena, 1, 1}, "attention / mlp"};
    if (cfg->kind == FF_CLIP_VISION) {
        o[n++] = (act_spec){&s->cls, FF_F32, 3, {B, 1, D}, "class token"};
    } else {
        o[n++] = (act_spec){&s->ids, FF_I64, 2, {B, T, 1}, "input ids"};
        o[n++] = (act_spec){&s->pidx, FF_I64, 1, {B, 1, 1}, "pooled rows"};
        o[n++] = (act_spec){&s->bias, FF_F32, 2, {T, T, 1}, "causal mask"};
    }
    return n;
}

ff_status ff_clip_activation_bytes(const ff_clip_config *cfg, int64_t B, int64_t T, size_t *bytes, ff_err *err) {
    if (B < 1 || T < 1) return ff_err_set(err, FF_ERR_ARG, "CLIP activation size: B %lld, %lld tokens", (long long)B, (long long)T);
    fwd_state s;
    act_spec sp[ACT_MAX];
    int n = act_specs(cfg, B, T, &s, sp);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t e = 1;
        for (int k = 0; k < sp[i].ndim; k++) e *= sp[i].shape[k];
        total += (size_t)e * ff_dtype_size(sp[i].dt);
    }
    *bytes = total;
    return FF_OK;
}

static ff_status alloc_state(fwd_state *s, ff_backend *be, const ff_clip_config *cfg, int64_t B, int64_t T, ff_err *err) {
    memset(s, 0, sizeof *s);
    s->be = be, s->cfg = cfg;
    s->B = B, s->T = T, s->D = cfg->hidden, s->H = cfg->heads, s->hd = cfg->head_dim, s->I = cfg->intermediate;
    act_spec sp[ACT_MAX];
    int n = act_specs(cfg, B, T, s, sp);
    for (int i = 0; i < n; i++) {
        ff_status st = ff_be_alloc(be, sp[i].t, sp[i].dt, sp[i].ndim, sp[i].shape, err);
        if (st) return ff_err_wrap(err, "CLIP activations (%s): ", sp[i].what);
    }
    return FF_OK;
}

static void free_state(fwd_state *s) {
    ff_tensor *ts[] = {&s->h, &s->nrm, &s->tmp, &s->arena, &s->cls, &s->ids, &s->pidx, &s->bias};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        if (ts[i]->data) ff_be_free(s->be, ts[i]);
}

static ff_status linear(ff_backend *be, const ff_tensor *x, const ff_clip_affine *l, ff_tensor *out, ff_err *err) {
    return ff_op_linear(be, x, &l->weight, &l->bias, out, err);
}

/* CLIPEncoderLayer.forward: pre-LN self-attention and MLP, both residual. */
static ff_status layer_forward(fwd_state *s, const ff_clip_layer *l, const ff_tensor *bias, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, T = s->T, D = s->D, H = s->H, hd = s->hd;
    const float eps = s->cfg->eps;
    static const int to_heads[4] = {0, 2, 1, 3}; /* (B, T, H, hd) <-> (B, H, T, hd) */
    ff_status st;
    TRY(ff_op_layer_norm(be, &s->h, &l->layer_norm1.weight, &l->layer_norm1.bias, eps, &s->nrm, err));
    const ff_clip_affine *proj[3] = {&l->q_proj, &l->k_proj, &l->v_proj};
    ff_tensor qkv[3];
    for (int i = 0; i < 3; i++) {
        qkv[i] = view4(&s->arena, i * B * T * D, B, H, T, hd);
        TRY(linear(be, &s->nrm, proj[i], &s->tmp, err));
        ff_tensor p4 = view4(&s->tmp, 0, B, T, H, hd);
        TRY(ff_op_permute(be, &p4, to_heads, &qkv[i], err));
    }
    ff_tensor o = view4(&s->tmp, 0, B, H, T, hd), o2 = view4(&s->nrm, 0, B, T, H, hd);
    TRY(ff_op_sdpa(be, &qkv[0], &qkv[1], &qkv[2], bias, (float)(1.0 / sqrt((double)hd)), &o, err));
    TRY(ff_op_permute(be, &o, to_heads, &o2, err));
    TRY(linear(be, &s->nrm, &l->out_proj, &s->tmp, err));
    TRY(ff_op_binary(be, FF_BIN_ADD, &s->h, &s->tmp, &s->h, err));

    TRY(ff_op_layer_norm(be, &s->h, &l->layer_norm2.weight, &l->layer_norm2.bias, eps, &s->nrm, err));
    ff_tensor f = view3(&s->arena, 0, B, T, s->I);
    TRY(linear(be, &s->nrm, &l->fc1, &f, err));
    TRY(ff_op_unary(be, s->cfg->act, &f, &f, err));
    TRY(linear(be, &f, &l->fc2, &s->tmp, err));
    TRY(ff_op_binary(be, FF_BIN_ADD, &s->h, &s->tmp, &s->h, err));
done:
    return st;
}

/* Layers 0..n-1 on s->h, each bracketed by the hooks. */
static ff_status run_layers(ff_clip_model *m, fwd_state *s, int n, const ff_tensor *bias, const ff_clip_hooks *hooks,
                            ff_err *err) {
    for (int i = 0; i < n; i++) {
        ff_clip_layer *l = &m->layers[i];
        ff_param ps[FF_CLIP_LAYER_PARAMS];
        size_t np = 0;
        if (hooks) np = ff_clip_layer_params(&m->cfg, i, l, l->q_proj.weight.dtype, ps);
        ff_status st;
        if (hooks && hooks->before_layer && (st = hooks->before_layer(hooks->user, i, ps, np, err)))
            return ff_err_wrap(err, "CLIP: before encoder.layers.%d: ", i);
        if ((st = layer_forward(s, l, bias, err))) {
            ff_err_wrap(err, "CLIP encoder.layers.%d: ", i);
            if (hooks && hooks->after_layer) {
                ff_err ignored = {0};
                hooks->after_layer(hooks->user, i, ps, np, &ignored);
            }
            return st;
        }
        if (hooks && hooks->after_layer && (st = hooks->after_layer(hooks->user, i, ps, np, err)))
            return ff_err_wrap(err, "CLIP: after encoder.layers.%d: ", i);
    }
    return FF_OK;
}

/* ---- vision --------------------------------------------------------------- */

static ff_status check_pixels(const ff_clip_config *cfg, const ff_tensor *x, ff_err *err) {
    char b[96];
    if (cfg->kind != FF_CLIP_VISION) return ff_err_set(err, FF_ERR_ARG, "CLIP: not a vision model");
    if (x->dtype != FF_F32 || x->ndim != 4 || x->shape[0] < 1 || x->shape[1] != cfg->num_channels ||
        x->shape[2] != cfg->image_size || x->shape[3] != cfg->image_size)
        return ff_err_set(err, FF_ERR_SHAPE, "CLIP vision: pixel_values %s, expected (B, %d, %d, %d) F32",
                          ff_tensor_describe(x, b, sizeof b), cfg->num_channels, cfg->image_size, cfg->image_size);
    return FF_OK;
}

static ff_status check_out(const ff_tensor *out, int ndim, const int64_t *shape, const char *what, ff_err *err) {
    int ok = out->ndim == ndim && out->dtype == FF_F32;
    for (int i = 0; ok && i < ndim; i++) ok = out->shape[i] == shape[i];
    if (ok) return FF_OK;
    char a[96], b[96];
    ff_tensor want;
    ff_tensor_view(&want, FF_F32, ndim, shape, NULL, FF_LOC_HOST);
    return ff_err_set(err, FF_ERR_SHAPE, "CLIP: %s %s, expected %s", what, ff_tensor_describe(out, a, sizeof a),
                      ff_tensor_describe(&want, b, sizeof b));
}

/* CLIPVisionEmbeddings into s->h: cat([class_embedding, patches]) + position_embedding. */
static ff_status vision_embed(ff_clip_model *m, fwd_state *s, const ff_tensor *x, ff_err *err) {
    ff_backend *be = s->be;
    const int64_t B = s->B, T = s->T, D = s->D, g = m->cfg.image_size / m->cfg.patch_size, N = T - 1;
    ff_status st;
    const int stride[2] = {m->cfg.patch_size, m->cfg.patch_size}, pad[4] = {0, 0, 0, 0};
    int64_t cs[4] = {B, D, g, g};
    ff_tensor conv = view(&s->arena, 0, 4, cs);
    TRY(ff_op_conv2d(be, x, &m->patch_embedding, NULL, stride, pad, &conv, err)); /* bias=False */
    ff_tensor c3 = view3(&s->arena, 0, B, D, N), pt = view3(&s->tmp, 0, B, N, D);
    static const int tr[3] = {0, 2, 1}; /* flatten(2).transpose(1, 2) */
    TRY(ff_op_permute(be, &c3, tr, &pt, err));
    ff_tensor ce = view3(&m->class_embedding, 0, 1, 1, D);
    TRY(ff_op_binary(be, FF_BIN_ADD, &s->cls, &ce, &s->cls, err)); /* zeros + class_embedding.expand(B, 1, -1) */
    const ff_tensor *parts[2] = {&s->cls, &pt};
    TRY(ff_op_concat(be, parts, 2, 1, &s->h, err));
    ff_tensor pos = view2(&m->position_embedding, 0, T, D);
    TRY(ff_op_binary(be, FF_BIN_ADD, &s->h, &pos, &s->h, err));
done:
    return st;
}

ff_status ff_clip_vision_embeddings(ff_clip_model *m, ff_backend *be, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_status st = check_pixels(&m->cfg, x, err);
    if (st) return st;
    const int64_t B = x->shape[0], T = ff_clip_seq_len(&m->cfg, 0), shp[3] = {B, T, m->cfg.hidden};
    if ((st = check_out(out, 3, shp, "embeddings", err))) return st;
    fwd_state s;
    if (!(st = alloc_state(&s, be, &m->cfg, B, T, err)) && !(st = vision_embed(m, &s, x, err)))
        st = ff_op_scale(be, &s.h, 1.0f, 0.0f, out, err);
    free_state(&s);
    return st;
}

ff_status ff_clip_vision_forward(ff_clip_model *m, ff_backend *be, const ff_tensor *x, int n_layers,
                                 const ff_clip_hooks *hooks, ff_tensor *out, ff_err *err) {
    ff_status st = check_pixels(&m->cfg, x, err);
    if (st) return st;
    if (n_layers < 0 || n_layers > m->cfg.layers)
        return ff_err_set(err, FF_ERR_ARG, "CLIP vision: hidden_states[%d] of a %d-layer model", n_layers, m->cfg.layers);
    const int64_t B = x->shape[0], T = ff_clip_seq_len(&m->cfg, 0), shp[3] = {B, T, m->cfg.hidden};
    if ((st = check_out(out, 3, shp, "hidden_states", err))) return st;
    fwd_state s;
    TRY(alloc_state(&s, be, &m->cfg, B, T, err));
    TRY(vision_embed(m, &s, x, err));
    TRY(ff_op_layer_norm(be, &s.h, &m->pre_layrnorm.weight, &m->pre_layrnorm.bias, m->cfg.eps, &s.h, err));
    TRY(run_layers(m, &s, n_layers, NULL, hooks, err));
    TRY(ff_op_scale(be, &s.h, 1.0f, 0.0f, out, err));
done:
    free_state(&s);
    return st;
}

/* ---- text ----------------------------------------------------------------- */

void ff_clip_text_pooled_index(const ff_clip_config *cfg, const ff_tensor *ids, int64_t *index) {
    const int64_t B = ids->shape[0], L = ids->shape[1];
    for (int64_t b = 0; b < B; b++) {
        int64_t best = 0, bestv = 0;
        for (int64_t t = 0; t < L; t++) {
            const int64_t v = ids->dtype == FF_I32 ? ((const int32_t *)ids->data)[b * L + t]
                                                   : ((const int64_t *)ids->data)[b * L + t];
            if (cfg->eos_token_id == 2) { /* legacy: argmax(ids), first of the largest */
                if (t == 0 || v > bestv) best = t, bestv = v;
            } else if (v == cfg->eos_token_id) { /* (ids == eos).int().argmax(): the first, 0 if none */
                best = t;
                break;
            }
        }
        index[b] = best;
    }
}

ff_status ff_clip_text_forward(ff_clip_model *m, ff_backend *be, const ff_tensor *ids, const ff_clip_hooks *hooks,
                               ff_tensor *last_hidden, ff_tensor *pooled, ff_err *err) {
    const ff_clip_config *cfg = &m->cfg;
    char b[96];
    if (cfg->kind != FF_CLIP_TEXT) return ff_err_set(err, FF_ERR_ARG, "CLIP: not a text model");
    if ((ids->dtype != FF_I64 && ids->dtype != FF_I32) || ids->ndim != 2 || ids->shape[0] < 1 || ids->shape[1] < 1 ||
        ids->shape[1] > cfg->max_positions || ids->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_SHAPE, "CLIP text: input_ids %s, expected host I64 (B, L) with 1 <= L <= %d",
                          ff_tensor_describe(ids, b, sizeof b), cfg->max_positions);
    const int64_t B = ids->shape[0], L = ids->shape[1], D = cfg->hidden;
    int64_t *host = malloc(sizeof *host * (size_t)(B * L + B) + sizeof(float) * (size_t)(L * L)); /* ids, rows, mask */
    if (!host) return ff_err_set(err, FF_ERR_NOMEM, "CLIP text: cannot allocate %lldx%lld ids", (long long)B, (long long)L);
    for (int64_t i = 0; i < B * L; i++) {
        host[i] = ids->dtype == FF_I32 ? ((const int32_t *)ids->data)[i] : ((const int64_t *)ids->data)[i];
        if (host[i] < 0 || host[i] >= cfg->vocab_size) {
            const long long bad = (long long)host[i]; /* read before the free */
            free(host);
            return ff_err_set(err, FF_ERR_ARG, "CLIP text: input_ids[%lld][%lld] = %lld outside the vocabulary [0, %d)",
                              (long long)(i / L), (long long)(i % L), bad, cfg->vocab_size);
        }
    }
    ff_status st;
    const int64_t shp[3] = {B, L, D}, pshp[2] = {B, D};
    if ((last_hidden && (st = check_out(last_hidden, 3, shp, "last_hidden_state", err))) ||
        (pooled && (st = check_out(pooled, 2, pshp, "pooler_output", err)))) {
        free(host);
        return st;
    }
    fwd_state s;
    ff_tensor hv;
    TRY(alloc_state(&s, be, cfg, B, L, err));
    /* CLIPTextEmbeddings: token_embedding(ids) + position_embedding(arange(L)) */
    int64_t is[2] = {B, L};
    ff_tensor_view(&hv, FF_I64, 2, is, host, FF_LOC_HOST);
    TRY(ff_be_upload(be, &s.ids, &hv, err));
    TRY(ff_op_embedding(be, &s.ids, &m->token_embedding, &s.h, err));
    {
        ff_tensor pos = view2(&m->position_embedding, 0, L, D);
        TRY(ff_op_binary(be, FF_BIN_ADD, &s.h, &pos, &s.h, err));
    }
    { /* causal mask: float32 min above the diagonal */
        float *mask = (float *)(host + B * L + B);
        for (int64_t i = 0; i < L; i++)
            for (int64_t j = 0; j < L; j++) mask[i * L + j] = j > i ? -FLT_MAX : 0.0f;
        int64_t ms[2] = {L, L};
        ff_tensor hm;
        ff_tensor_view(&hm, FF_F32, 2, ms, mask, FF_LOC_HOST);
        TRY(ff_be_upload(be, &s.bias, &hm, err));
    }
    TRY(run_layers(m, &s, cfg->layers, &s.bias, hooks, err));
    TRY(ff_op_layer_norm(be, &s.h, &m->final_layer_norm.weight, &m->final_layer_norm.bias, cfg->eps, &s.h, err));
    if (last_hidden) TRY(ff_op_scale(be, &s.h, 1.0f, 0.0f, last_hidden, err));
    if (pooled) { /* last_hidden_state[arange(B), index] as a row gather over (B*L, D) */
        int64_t *rows = host + B * L;
        ff_clip_text_pooled_index(cfg, &hv, rows);
        for (int64_t i = 0; i < B; i++) rows[i] += i * L;
        int64_t rs[1] = {B};
        ff_tensor hr;
        ff_tensor_view(&hr, FF_I64, 1, rs, rows, FF_LOC_HOST);
        TRY(ff_be_upload(be, &s.pidx, &hr, err));
        ff_tensor table = view2(&s.h, 0, B * L, D);
        TRY(ff_op_embedding(be, &s.pidx, &table, pooled, err));
    }
done:
    free_state(&s);
    free(host);
    return st;
}

/* ---- host conveniences ---------------------------------------------------------- */

static ff_status download(ff_backend *be, ff_tensor *dev, ff_tensor *host, ff_err *err) {
    ff_status st = ff_tensor_alloc(host, FF_F32, dev->ndim, dev->shape, err);
    if (!st && (st = ff_be_download(be, host, dev, err))) ff_tensor_free(host);
    return st;
}

ff_status ff_clip_vision_forward_host(ff_clip_model *m, ff_backend *be, const ff_tensor *x, int n_layers,
                                      const ff_clip_hooks *hooks, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    ff_status st = check_pixels(&m->cfg, x, err);
    if (st) return st;
    ff_tensor dx = {0}, dout = {0};
    const int64_t shp[3] = {x->shape[0], ff_clip_seq_len(&m->cfg, 0), m->cfg.hidden};
    if (!(st = ff_be_alloc(be, &dx, FF_F32, 4, x->shape, err)) && !(st = ff_be_upload(be, &dx, x, err)) &&
        !(st = ff_be_alloc(be, &dout, FF_F32, 3, shp, err)) &&
        !(st = ff_clip_vision_forward(m, be, &dx, n_layers, hooks, &dout, err)))
        st = download(be, &dout, out, err);
    if (dx.data) ff_be_free(be, &dx);
    if (dout.data) ff_be_free(be, &dout);
    return st;
}

ff_status ff_clip_text_forward_host(ff_clip_model *m, ff_backend *be, const ff_tensor *ids, const ff_clip_hooks *hooks,
                                    ff_tensor *last_hidden, ff_tensor *pooled, ff_err *err) {
    if (last_hidden) memset(last_hidden, 0, sizeof *last_hidden);
    if (pooled) memset(pooled, 0, sizeof *pooled);
    if (ids->ndim != 2) return ff_err_set(err, FF_ERR_SHAPE, "CLIP text: input_ids must be (B, L)");
    const int64_t B = ids->shape[0], L = ids->shape[1], D = m->cfg.hidden;
    const int64_t shp[3] = {B, L, D}, pshp[2] = {B, D};
    ff_tensor dl = {0}, dp = {0};
    ff_status st = FF_OK;
    if (last_hidden) st = ff_be_alloc(be, &dl, FF_F32, 3, shp, err);
    if (!st && pooled) st = ff_be_alloc(be, &dp, FF_F32, 2, pshp, err);
    if (!st) st = ff_clip_text_forward(m, be, ids, hooks, last_hidden ? &dl : NULL, pooled ? &dp : NULL, err);
    if (!st && last_hidden) st = download(be, &dl, last_hidden, err);
    if (!st && pooled && (st = download(be, &dp, pooled, err)) && last_hidden) ff_tensor_free(last_hidden);
    if (dl.data) ff_be_free(be, &dl);
    if (dp.data) ff_be_free(be, &dp);
    return st;
}
