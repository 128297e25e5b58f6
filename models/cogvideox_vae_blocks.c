/* cogvideox_vae_blocks: one encoder or decoder pass of
 * AutoencoderKLCogVideoX over a frame batch, with the conv cache carried to
 * the next batch. Mirrors CogVideoXCausalConv3d, CogVideoXSpatialNorm3D,
 * CogVideoXResnetBlock3D, CogVideoXDownsample3D / CogVideoXUpsample3D and
 * CogVideoXEncoder3D / CogVideoXDecoder3D.forward. Every activation goes
 * through cogvae_alloc / cogvae_free (counted; shape-only in a dry run) and
 * every op through OP() (skipped in a dry run), so the dry run allocates
 * exactly what a real one does. Not here: frame-batch loops, tiling
 * (cogvideox_vae_tiling.c). */
#include <assert.h>
#include <string.h>

#include "models/cogvideox_vae_internal.h"

/* An op, or nothing in a dry run. */
#define OP(r, call) ((r)->dry ? FF_OK : (call))
#define TRY(expr)                     \
    do {                              \
        if ((st = (expr))) goto done; \
    } while (0)

/* ---- memory ------------------------------------------------------------------ */

ff_status cogvae_alloc(cv_run *r, ff_tensor *t, int ndim, const int64_t *shape, ff_err *err) {
    size_t nbytes;
    ff_status st = ff_shape_check(FF_F32, ndim, shape, 0, &nbytes, err);
    if (st) return st;
    if (r->dry) {
        ff_tensor_view(t, FF_F32, ndim, shape, NULL, FF_LOC_DEVICE);
    } else if ((st = ff_be_alloc(r->vae->be, t, FF_F32, ndim, shape, err))) {
        return ff_err_wrap(err, "VAE activations: ");
    }
    r->vae->run_cur += nbytes;
    if (r->vae->run_cur > r->vae->run_peak) r->vae->run_peak = r->vae->run_cur;
    return FF_OK;
}

void cogvae_free(cv_run *r, ff_tensor *t) {
    if (!r->dry && !t->data) return;
    if (t->ndim == 0 && !t->data) return; /* never allocated (dry runs keep data NULL) */
    r->vae->run_cur -= ff_tensor_nbytes(t);
    if (!r->dry) ff_be_free(r->vae->be, t);
    memset(t, 0, sizeof *t);
}

ff_status cogvae_upload(cv_run *r, const ff_tensor *host, ff_tensor *dev, ff_err *err) {
    ff_status st = cogvae_alloc(r, dev, host->ndim, host->shape, err);
    if (!st && (st = OP(r, ff_be_upload(r->vae->be, dev, host, err)))) cogvae_free(r, dev);
    return st;
}

void cogvae_cache_free(cv_run *r, ff_tensor *cache, int n) {
    for (int i = 0; i < n; i++) cogvae_free(r, &cache[i]);
}

/* out = x[..., start : start + len, ...] along axis 2 (a new tensor). */
static ff_status slice_t(cv_run *r, const ff_tensor *x, int64_t start, int64_t len, ff_tensor *out, ff_err *err) {
    int64_t s[5] = {x->shape[0], x->shape[1], len, x->shape[3], x->shape[4]};
    ff_status st = cogvae_alloc(r, out, 5, s, err);
    if (!st && (st = OP(r, ff_op_slice(r->vae->be, x, 2, start, out, err)))) cogvae_free(r, out);
    return st;
}

static ff_status concat_t(cv_run *r, const ff_tensor *const *xs, int n, ff_tensor *out, ff_err *err) {
    int64_t s[5] = {xs[0]->shape[0], xs[0]->shape[1], 0, xs[0]->shape[3], xs[0]->shape[4]};
    for (int i = 0; i < n; i++) s[2] += xs[i]->shape[2];
    ff_status st = cogvae_alloc(r, out, 5, s, err);
    if (!st && (st = OP(r, ff_op_concat(r->vae->be, xs, n, 2, out, err)))) cogvae_free(r, out);
    return st;
}

/* ---- convolutions ---------------------------------------------------------------- */

/* CogVideoXCausalConv3d.forward (pad_mode "first") on x (B, C, T, H, W):
 * kt > 1: the input is prefixed in time with the cached kt-1 frames of the
 * previous batch, or (first batch) kt-1 copies of its own first frame; the
 * cache becomes the last kt-1 frames of that padded input; zero spatial
 * padding (kh-1)/2, (kw-1)/2. kt = 1: a plain conv (the spatial norm's
 * conv_y / conv_b, the 1x1x1 shortcut). */
static ff_status causal_conv(cv_run *r, const cv_conv *c, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_backend *be = r->vae->be;
    const int64_t B = x->shape[0], T = x->shape[2], H = x->shape[3], W = x->shape[4];
    const int stride[3] = {1, 1, 1};
    const int pad[6] = {0, 0, (c->kw - 1) / 2, (c->kw - 1) / 2, (c->kh - 1) / 2, (c->kh - 1) / 2};
    int64_t os[5] = {B, c->cout, T, H, W};
    ff_tensor f0 = {0}, padded = {0}, cache = {0};
    ff_status st = FF_OK;
    assert(x->shape[1] == c->cin);
    if (c->kt == 1) {
        TRY(cogvae_alloc(r, out, 5, os, err));
        if ((st = OP(r, ff_op_conv3d(be, x, &c->w, &c->b, stride, pad, out, err)))) cogvae_free(r, out);
        return st;
    }
    assert(c->slot >= 0 && c->slot < r->n_cache && c->kt - 1 <= 8);
    ff_tensor *slot = &r->cache[c->slot];
    const ff_tensor *parts[9];
    int np = 0;
    if (slot->data || (r->dry && slot->ndim == 5)) {
        parts[np++] = slot;
    } else {
        TRY(slice_t(r, x, 0, 1, &f0, err));
        for (int i = 0; i < c->kt - 1; i++) parts[np++] = &f0;
    }
    parts[np++] = x;
    TRY(concat_t(r, parts, np, &padded, err));
    cogvae_free(r, &f0);
    TRY(slice_t(r, &padded, T, c->kt - 1, &cache, err));
    cogvae_free(r, slot);
    *slot = cache;
    memset(&cache, 0, sizeof cache);
    TRY(cogvae_alloc(r, out, 5, os, err));
    if ((st = OP(r, ff_op_conv3d(be, &padded, &c->w, &c->b, stride, pad, out, err)))) cogvae_free(r, out);
done:
    cogvae_free(r, &f0);
    cogvae_free(r, &padded);
    cogvae_free(r, &cache);
    return st;
}

/* ---- norms ---------------------------------------------------------------------- */

static ff_status group_norm(cv_run *r, const cv_gn *g, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    return OP(r, ff_op_group_norm(r->vae->be, x, r->vae->cfg.norm_num_groups, &g->w, &g->b, g->eps, out, err));
}

/* Nearest resize of x (B, C, t, h, w) by integer factors (kt, kh, kw): the
 * F.interpolate(mode='nearest') of the spatial norm, whose size ratios are
 * always whole. Time first (the smaller tensor), then space. */
static ff_status resize_nearest(cv_run *r, const ff_tensor *x, int64_t kt, int64_t kh, int64_t kw, ff_tensor *out,
                                ff_err *err) {
    ff_backend *be = r->vae->be;
    const int64_t B = x->shape[0], C = x->shape[1], T = x->shape[2], H = x->shape[3], W = x->shape[4];
    ff_tensor mid = {0};
    ff_status st = FF_OK;
    const ff_tensor *src = x;
    if (kt > 1) {
        int64_t ms[5] = {B, C, T * kt, H, W};
        TRY(cogvae_alloc(r, &mid, 5, ms, err));
        ff_tensor a = *x, b = mid;
        int64_t sa[4] = {B * C, 1, T, H * W}, sb[4] = {B * C, 1, T * kt, H * W};
        ff_tensor_view(&a, FF_F32, 4, sa, x->data, x->loc);
        ff_tensor_view(&b, FF_F32, 4, sb, mid.data, mid.loc);
        TRY(OP(r, ff_op_upsample_nearest2d(be, &a, (int)kt, 1, &b, err)));
        src = &mid;
    }
    int64_t os[5] = {B, C, T * kt, H * kh, W * kw};
    TRY(cogvae_alloc(r, out, 5, os, err));
    if (kh == 1 && kw == 1) {
        if ((st = OP(r, ff_op_copy(be, src, out, err)))) cogvae_free(r, out);
    } else {
        ff_tensor a, b;
        int64_t sa[4] = {B, C * T * kt, H, W}, sb[4] = {B, C * T * kt, H * kh, W * kw};
        ff_tensor_view(&a, FF_F32, 4, sa, src->data, src->loc);
        ff_tensor_view(&b, FF_F32, 4, sb, out->data, out->loc);
        if ((st = OP(r, ff_op_upsample_nearest2d(be, &a, (int)kh, (int)kw, &b, err)))) cogvae_free(r, out);
    }
done:
    cogvae_free(r, &mid);
    return st;
}

static ff_status ratio(int64_t to, int64_t from, int64_t *k, ff_err *err) {
    if (from < 1 || to % from)
        return ff_err_set(err, FF_ERR_INTERNAL, "VAE spatial norm: %lld -> %lld is not a whole nearest resize",
                          (long long)from, (long long)to);
    *k = to / from;
    return FF_OK;
}

/* The batch latents z resized to a feature of (T, H, W): as
 * CogVideoXSpatialNorm3D, frame 0 resized alone when T is odd and > 1. Kept
 * in r->zq while the feature size stays the same. */
static ff_status zq_for(cv_run *r, int64_t T, int64_t H, int64_t W, ff_err *err) {
    if (r->zq.ndim == 5 && r->zq_size[0] == T && r->zq_size[1] == H && r->zq_size[2] == W) return FF_OK;
    cogvae_free(r, &r->zq);
    const ff_tensor *z = r->z;
    const int64_t Tz = z->shape[2];
    int64_t kh = 1, kw = 1, kt = 1;
    ff_tensor a = {0}, b = {0}, ra = {0}, rb = {0};
    ff_status st = FF_OK;
    TRY(ratio(H, z->shape[3], &kh, err));
    TRY(ratio(W, z->shape[4], &kw, err));
    if (T > 1 && T % 2 == 1) {
        TRY(ratio(T - 1, Tz - 1, &kt, err));
        TRY(slice_t(r, z, 0, 1, &a, err));
        TRY(slice_t(r, z, 1, Tz - 1, &b, err));
        TRY(resize_nearest(r, &a, 1, kh, kw, &ra, err));
        cogvae_free(r, &a);
        TRY(resize_nearest(r, &b, kt, kh, kw, &rb, err));
        cogvae_free(r, &b);
        const ff_tensor *parts[2] = {&ra, &rb};
        TRY(concat_t(r, parts, 2, &r->zq, err));
    } else {
        TRY(ratio(T, Tz, &kt, err));
        TRY(resize_nearest(r, z, kt, kh, kw, &r->zq, err));
    }
    r->zq_size[0] = T, r->zq_size[1] = H, r->zq_size[2] = W;
done:
    cogvae_free(r, &a);
    cogvae_free(r, &b);
    cogvae_free(r, &ra);
    cogvae_free(r, &rb);
    return st;
}

/* CogVideoXSpatialNorm3D: out = GroupNorm(f) * conv_y(zq) + conv_b(zq). */
static ff_status spatial_norm(cv_run *r, const cv_snorm *s, const ff_tensor *f, ff_tensor *out, ff_err *err) {
    ff_backend *be = r->vae->be;
    ff_tensor y = {0};
    ff_status st = FF_OK;
    TRY(zq_for(r, f->shape[2], f->shape[3], f->shape[4], err));
    TRY(cogvae_alloc(r, out, 5, f->shape, err));
    TRY(group_norm(r, &s->norm, f, out, err));
    TRY(causal_conv(r, &s->conv_y, &r->zq, &y, err));
    TRY(OP(r, ff_op_binary(be, FF_BIN_MUL, out, &y, out, err)));
    cogvae_free(r, &y);
    TRY(causal_conv(r, &s->conv_b, &r->zq, &y, err));
    TRY(OP(r, ff_op_binary(be, FF_BIN_ADD, out, &y, out, err)));
done:
    cogvae_free(r, &y);
    if (st) cogvae_free(r, out);
    return st;
}

/* ---- blocks ------------------------------------------------------------------- */

/* norm (group or spatial) then SiLU, into a new tensor. */
static ff_status norm_act(cv_run *r, const cv_res *res, int second, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_status st;
    if (res->spatial) {
        st = spatial_norm(r, second ? &res->snorm2 : &res->snorm1, x, out, err);
    } else {
        st = cogvae_alloc(r, out, 5, x->shape, err);
        if (!st) st = group_norm(r, second ? &res->norm2 : &res->norm1, x, out, err);
        if (st) cogvae_free(r, out);
    }
    if (!st && (st = OP(r, ff_op_unary(r->vae->be, FF_UNARY_SILU, out, out, err)))) cogvae_free(r, out);
    return st;
}

/* CogVideoXResnetBlock3D.forward (temb None, dropout off). x is consumed. */
static ff_status resnet(cv_run *r, const cv_res *res, ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_backend *be = r->vae->be;
    ff_tensor a = {0}, h = {0}, sc = {0};
    ff_status st = FF_OK;
    TRY(norm_act(r, res, 0, x, &a, err));
    TRY(causal_conv(r, &res->conv1, &a, &h, err));
    cogvae_free(r, &a);
    TRY(norm_act(r, res, 1, &h, &a, err));
    cogvae_free(r, &h);
    TRY(causal_conv(r, &res->conv2, &a, &h, err));
    cogvae_free(r, &a);
    if (res->has_shortcut) {
        TRY(causal_conv(r, &res->shortcut, x, &sc, err));
        TRY(OP(r, ff_op_binary(be, FF_BIN_ADD, &h, &sc, &h, err)));
    } else {
        TRY(OP(r, ff_op_binary(be, FF_BIN_ADD, &h, x, &h, err)));
    }
    *out = h;
    memset(&h, 0, sizeof h);
done:
    cogvae_free(r, x);
    cogvae_free(r, &a);
    cogvae_free(r, &h);
    cogvae_free(r, &sc);
    return st;
}

/* Pairwise frame average of x (B, C, T, H, W), T even: avg_pool1d(k=s=2)
 * over time = (x[2i] + x[2i+1]) / 2. */
static ff_status avg_pairs(cv_run *r, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_backend *be = r->vae->be;
    const int64_t B = x->shape[0], C = x->shape[1], T = x->shape[2], HW = x->shape[3] * x->shape[4];
    ff_tensor tr = {0};
    ff_status st = FF_OK;
    int64_t ts[4] = {2, B * C, T / 2, HW};
    TRY(cogvae_alloc(r, &tr, 4, ts, err));
    {
        ff_tensor v;
        int64_t vs[4] = {B * C, T / 2, 2, HW};
        ff_tensor_view(&v, FF_F32, 4, vs, x->data, x->loc);
        static const int perm[4] = {2, 0, 1, 3}; /* the two frames of each pair into two halves */
        TRY(OP(r, ff_op_permute(be, &v, perm, &tr, err)));
    }
    int64_t os[5] = {B, C, T / 2, x->shape[3], x->shape[4]};
    TRY(cogvae_alloc(r, out, 5, os, err));
    {
        ff_tensor a, b;
        int64_t hs[5] = {B, C, T / 2, x->shape[3], x->shape[4]};
        const size_t half = (size_t)(B * C * (T / 2) * HW) * sizeof(float);
        ff_tensor_view(&a, FF_F32, 5, hs, tr.data, tr.loc);
        ff_tensor_view(&b, FF_F32, 5, hs, tr.data ? (char *)tr.data + half : NULL, tr.loc);
        if ((st = OP(r, ff_op_binary(be, FF_BIN_ADD, &a, &b, out, err))) ||
            (st = OP(r, ff_op_scale(be, out, 0.5f, 0.0f, out, err))))
            cogvae_free(r, out);
    }
done:
    cogvae_free(r, &tr);
    return st;
}

/* Conv2d per frame as a (1, kh, kw) conv3d; stride 2 with ZeroPad (0, 1, 0, 1)
 * (down) or stride 1 pad 1 (up). x is consumed. */
static ff_status frame_conv(cv_run *r, const cv_conv *c, ff_tensor *x, int down, ff_tensor *out, ff_err *err) {
    const int64_t H = x->shape[3], W = x->shape[4];
    const int stride[3] = {1, down ? 2 : 1, down ? 2 : 1};
    const int pad[6] = {0, 0, down ? 0 : 1, 1, down ? 0 : 1, 1};
    int64_t os[5] = {x->shape[0], c->cout, x->shape[2], down ? (H + 1 - c->kh) / 2 + 1 : H,
                     down ? (W + 1 - c->kw) / 2 + 1 : W};
    ff_status st = cogvae_alloc(r, out, 5, os, err);
    if (!st && (st = OP(r, ff_op_conv3d(r->vae->be, x, &c->w, &c->b, stride, pad, out, err)))) cogvae_free(r, out);
    cogvae_free(r, x);
    return st;
}

/* CogVideoXDownsample3D: compress_time averages frame pairs (frame 0 kept
 * alone when the count is odd), then ZeroPad (0, 1, 0, 1) + 3x3 stride-2
 * conv per frame. x is consumed. */
static ff_status downsample(cv_run *r, const cv_level *l, ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_tensor a = {0}, b = {0}, bb = {0}, cat = {0};
    ff_status st = FF_OK;
    const int64_t T = x->shape[2];
    if (l->compress_time && T > 1) {
        if (T % 2) {
            TRY(slice_t(r, x, 0, 1, &a, err));
            TRY(slice_t(r, x, 1, T - 1, &b, err));
            cogvae_free(r, x);
            TRY(avg_pairs(r, &b, &bb, err));
            cogvae_free(r, &b);
            const ff_tensor *parts[2] = {&a, &bb};
            TRY(concat_t(r, parts, 2, &cat, err));
        } else {
            TRY(avg_pairs(r, x, &cat, err));
            cogvae_free(r, x);
        }
        st = frame_conv(r, &l->sampler, &cat, 1, out, err);
    } else {
        st = frame_conv(r, &l->sampler, x, 1, out, err);
    }
done:
    cogvae_free(r, x);
    cogvae_free(r, &a);
    cogvae_free(r, &b);
    cogvae_free(r, &bb);
    cogvae_free(r, &cat);
    return st;
}

/* CogVideoXUpsample3D: nearest 2x in (t, h, w) with compress_time (frame 0
 * spatially only when the count is odd > 1; a single frame spatially only),
 * nearest 2x in (h, w) otherwise; then a 3x3 conv per frame. x consumed. */
static ff_status upsample(cv_run *r, const cv_level *l, ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_tensor a = {0}, b = {0}, ua = {0}, ub = {0}, up = {0};
    ff_status st = FF_OK;
    const int64_t T = x->shape[2];
    if (l->compress_time && T > 1 && T % 2) {
        TRY(slice_t(r, x, 0, 1, &a, err));
        TRY(slice_t(r, x, 1, T - 1, &b, err));
        cogvae_free(r, x);
        TRY(resize_nearest(r, &a, 1, 2, 2, &ua, err));
        cogvae_free(r, &a);
        TRY(resize_nearest(r, &b, 2, 2, 2, &ub, err));
        cogvae_free(r, &b);
        const ff_tensor *parts[2] = {&ua, &ub};
        TRY(concat_t(r, parts, 2, &up, err));
    } else {
        TRY(resize_nearest(r, x, l->compress_time && T > 1 ? 2 : 1, 2, 2, &up, err));
        cogvae_free(r, x);
    }
    st = frame_conv(r, &l->sampler, &up, 0, out, err);
done:
    cogvae_free(r, x);
    cogvae_free(r, &a);
    cogvae_free(r, &b);
    cogvae_free(r, &ua);
    cogvae_free(r, &ub);
    cogvae_free(r, &up);
    return st;
}

/* ---- passes ------------------------------------------------------------------------ */

/* CogVideoXEncoder3D.forward on a frame batch x (B, in, T, H, W). */
ff_status cogvae_encoder_pass(cv_run *r, ff_tensor *x, ff_tensor *out, ff_err *err) {
    const cv_coder *k = &r->vae->enc;
    ff_tensor h = {0}, t = {0};
    ff_status st = FF_OK;
    TRY(causal_conv(r, &k->conv_in, x, &h, err));
    cogvae_free(r, x);
    for (int i = 0; i < k->n_levels; i++) {
        const cv_level *l = &k->levels[i];
        for (int j = 0; j < l->n_res; j++) {
            TRY(resnet(r, &l->res[j], &h, &t, err));
            h = t, memset(&t, 0, sizeof t);
        }
        if (l->has_sampler) {
            TRY(downsample(r, l, &h, &t, err));
            h = t, memset(&t, 0, sizeof t);
        }
    }
    for (int j = 0; j < 2; j++) {
        TRY(resnet(r, &k->mid[j], &h, &t, err));
        h = t, memset(&t, 0, sizeof t);
    }
    TRY(cogvae_alloc(r, &t, 5, h.shape, err));
    TRY(group_norm(r, &k->norm_out, &h, &t, err));
    TRY(OP(r, ff_op_unary(r->vae->be, FF_UNARY_SILU, &t, &t, err)));
    cogvae_free(r, &h);
    TRY(causal_conv(r, &k->conv_out, &t, out, err));
done:
    cogvae_free(r, x);
    cogvae_free(r, &h);
    cogvae_free(r, &t);
    return st;
}

/* CogVideoXDecoder3D.forward on a batch of latents z (B, Cz, T, h, w); z is
 * also the spatial norms' zq. */
ff_status cogvae_decoder_pass(cv_run *r, ff_tensor *z, ff_tensor *out, ff_err *err) {
    const cv_coder *k = &r->vae->dec;
    ff_tensor h = {0}, t = {0};
    ff_status st = FF_OK;
    r->z = z;
    memset(&r->zq, 0, sizeof r->zq);
    TRY(causal_conv(r, &k->conv_in, z, &h, err));
    for (int j = 0; j < 2; j++) {
        TRY(resnet(r, &k->mid[j], &h, &t, err));
        h = t, memset(&t, 0, sizeof t);
    }
    for (int i = 0; i < k->n_levels; i++) {
        const cv_level *l = &k->levels[i];
        for (int j = 0; j < l->n_res; j++) {
            TRY(resnet(r, &l->res[j], &h, &t, err));
            h = t, memset(&t, 0, sizeof t);
        }
        if (l->has_sampler) {
            TRY(upsample(r, l, &h, &t, err));
            h = t, memset(&t, 0, sizeof t);
        }
    }
    TRY(spatial_norm(r, &k->snorm_out, &h, &t, err));
    cogvae_free(r, &h);
    TRY(OP(r, ff_op_unary(r->vae->be, FF_UNARY_SILU, &t, &t, err)));
    cogvae_free(r, &r->zq);
    TRY(causal_conv(r, &k->conv_out, &t, out, err));
done:
    cogvae_free(r, &r->zq);
    r->z = NULL;
    cogvae_free(r, z);
    cogvae_free(r, &h);
    cogvae_free(r, &t);
    return st;
}

/* ---- geometry ------------------------------------------------------------------------- */

int64_t cogvae_decoded_frames(const ff_cogvae_config *cfg, int64_t T) {
    for (int i = 0; i < cfg->temporal_compress_level; i++) T = T > 1 ? (T % 2 ? 2 * T - 1 : 2 * T) : 1;
    return T;
}

int64_t cogvae_encoded_frames(const ff_cogvae_config *cfg, int64_t T) {
    for (int i = 0; i < cfg->temporal_compress_level; i++) T = T > 1 ? (T % 2 ? 1 + (T - 1) / 2 : T / 2) : 1;
    return T;
}

int64_t cogvae_encoded_size(const ff_cogvae_config *cfg, int64_t n) {
    for (int i = 0; i < cfg->n_blocks - 1; i++) { /* ZeroPad (0, 1) + 3x3 stride 2 */
        if (n + 1 < 3) return 0;                 /* smaller than the kernel: torch fails */
        n = (n + 1 - 3) / 2 + 1;
    }
    return n;
}
