/* wan_vae_blocks: the blocks of AutoencoderKLWan and one chunk pass of its
 * encoder and decoder (WanEncoder3d.forward / WanDecoder3d.forward with a
 * feature cache), written against kernels/ops.h only.
 *
 * Conventions: activations are F32 (B, C, T, H, W) tensors on the backend,
 * allocated through wanvae_alloc (which counts the VAE's bytes). Block functions
 * take a const input and return a new output; chunk passes consume theirs.
 * Cache slots are taken in call order (diffusers' feat_idx), so the slot of a
 * conv is the same in every chunk. Not here: chunk loops, tiling and slicing
 * (wan_vae_tiling.c), weights (wan_vae.c). */
#include <math.h>
#include <string.h>

#include "models/wan_vae_internal.h"

/* ---- memory ------------------------------------------------------------ */

ff_status wanvae_alloc(ff_vae *v, ff_tensor *t, int ndim, const int64_t *shape, ff_err *err) {
    ff_status st = ff_be_alloc(v->be, t, FF_F32, ndim, shape, err);
    if (st) {
        memset(t, 0, sizeof *t);
        return ff_err_wrap(err, "vae activation");
    }
    v->run_cur += ff_tensor_nbytes(t);
    if (v->run_cur > v->run_peak) v->run_peak = v->run_cur;
    return FF_OK;
}

void wanvae_free(ff_vae *v, ff_tensor *t) {
    if (t->data) {
        size_t n = ff_tensor_nbytes(t);
        v->run_cur = v->run_cur >= n ? v->run_cur - n : 0;
        ff_be_free(v->be, t);
    }
    memset(t, 0, sizeof *t);
}

static ff_status alloc5(ff_vae *v, ff_tensor *t, int64_t b, int64_t c, int64_t f, int64_t h, int64_t w, ff_err *err) {
    const int64_t shape[5] = {b, c, f, h, w};
    return wanvae_alloc(v, t, 5, shape, err);
}

ff_status wanvae_upload_new(ff_vae *v, const ff_tensor *host, ff_tensor *dev, ff_err *err) {
    ff_status st = wanvae_alloc(v, dev, host->ndim, host->shape, err);
    if (st) return st;
    if ((st = ff_be_upload(v->be, dev, host, err))) wanvae_free(v, dev);
    return st;
}

void wanvae_cache_set_free(ff_vae *v, vae_cache *slots, int n) {
    if (!slots) return;
    for (int i = 0; i < n; i++) {
        wanvae_free(v, &slots[i].t);
        slots[i].state = CACHE_NONE;
    }
}

/* A reshaped alias of t (metadata only; the data stays owned by t). */
static ff_tensor alias(const ff_tensor *t, int ndim, const int64_t *shape) {
    ff_tensor a = *t;
    a.ndim = ndim;
    for (int i = 0; i < FF_MAX_DIMS; i++) a.shape[i] = i < ndim ? shape[i] : 1;
    a.owns = 0;
    return a;
}

/* out = x[:, :, t0 : t0 + n] (frames). */
static ff_status slice_frames(ff_vae *v, const ff_tensor *x, int64_t t0, int64_t n, ff_tensor *out, ff_err *err) {
    ff_status st = alloc5(v, out, x->shape[0], x->shape[1], n, x->shape[3], x->shape[4], err);
    if (st) return st;
    if ((st = ff_op_slice(v->be, x, 2, t0, out, err))) wanvae_free(v, out);
    return st;
}

/* out = cat([a, b], dim=2). */
static ff_status cat_frames(ff_vae *v, const ff_tensor *a, const ff_tensor *b, ff_tensor *out, ff_err *err) {
    ff_status st = alloc5(v, out, b->shape[0], b->shape[1], a->shape[2] + b->shape[2], b->shape[3], b->shape[4], err);
    if (st) return st;
    const ff_tensor *xs[2] = {a, b};
    if ((st = ff_op_concat(v->be, xs, 2, 2, out, err))) wanvae_free(v, out);
    return st;
}

/* ---- convolutions ------------------------------------------------------ */

/* conv3d of c over x with pad {t_front, 0, h, h, w, w}. */
static ff_status conv_run(ff_vae *v, const vae_conv *c, const ff_tensor *x, int t_front, ff_tensor *out, ff_err *err) {
    const int pad[6] = {t_front, 0, c->pad_h, c->pad_h, c->pad_w, c->pad_w};
    int64_t t = (x->shape[2] + t_front - c->kt) / c->stride[0] + 1;
    int64_t h = (x->shape[3] + 2 * c->pad_h - c->kh) / c->stride[1] + 1;
    int64_t w = (x->shape[4] + 2 * c->pad_w - c->kw) / c->stride[2] + 1;
    if (x->ndim != 5 || x->shape[1] != c->cin || t < 1 || h < 1 || w < 1) {
        char buf[96];
        return ff_err_set(err, FF_ERR_SHAPE, "vae conv (%d -> %d, kernel %dx%dx%d): input %s too small or wrong channels",
                          c->cin, c->cout, c->kt, c->kh, c->kw, ff_tensor_describe(x, buf, sizeof buf));
    }
    ff_status st = alloc5(v, out, x->shape[0], c->cout, t, h, w, err);
    if (st) return st;
    if ((st = ff_op_conv3d(v->be, x, &c->w, &c->b, c->stride, pad, out, err))) wanvae_free(v, out);
    return st;
}

ff_status wanvae_conv_plain(ff_vae *v, const vae_conv *c, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    return conv_run(v, c, x, c->pad_t, out, err);
}

/* The cache a conv leaves for the next chunk: the last CACHE_T frames of
 * its input x; when x has a single frame, the last frame of the old cache
 * (or a zero frame after a "Rep" marker, when rep_zero) goes in front. */
static ff_status next_cache(ff_vae *v, const ff_tensor *x, const vae_cache *old, int rep_zero, ff_tensor *out,
                            ff_err *err) {
    int64_t t = x->shape[2], n = t < VAE_CACHE_T ? t : VAE_CACHE_T;
    ff_tensor last = {0}, front = {0};
    ff_status st = slice_frames(v, x, t - n, n, &last, err);
    if (st) return st;
    if (n >= VAE_CACHE_T || (old->state == CACHE_NONE) || (old->state == CACHE_REP && !rep_zero)) {
        *out = last;
        return FF_OK;
    }
    if (old->state == CACHE_TENSOR)
        st = slice_frames(v, &old->t, old->t.shape[2] - 1, 1, &front, err);
    else /* "Rep": torch.zeros_like(cache_x) */
        st = alloc5(v, &front, x->shape[0], x->shape[1], 1, x->shape[3], x->shape[4], err);
    if (!st) st = cat_frames(v, &front, &last, out, err);
    wanvae_free(v, &front);
    wanvae_free(v, &last);
    return st;
}

static vae_cache *take_slot(vae_run *r, ff_err *err) {
    if (r->idx >= r->n_slots) {
        ff_err_set(err, FF_ERR_INTERNAL, "vae feature cache: slot %d of %d", r->idx, r->n_slots);
        return NULL;
    }
    return &r->slots[r->idx++];
}

/* WanCausalConv3d.forward(x, feat_cache[idx]) with diffusers' cache update:
 * the cached frames are concatenated in front and t_front reduced. */
static ff_status cconv(vae_run *r, const vae_conv *c, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_vae *v = r->vae;
    vae_cache *slot = take_slot(r, err);
    if (!slot) return FF_ERR_INTERNAL;
    ff_tensor newc = {0}, cat = {0};
    ff_status st = next_cache(v, x, slot, 0, &newc, err);
    if (st) return st;
    const ff_tensor *xin = x;
    int t_front = c->pad_t;
    if (slot->state == CACHE_TENSOR && t_front > 0) {
        if ((st = cat_frames(v, &slot->t, x, &cat, err))) goto done;
        xin = &cat;
        t_front -= (int)slot->t.shape[2];
    }
    if ((st = conv_run(v, c, xin, t_front, out, err))) goto done;
    wanvae_free(v, &slot->t);
    slot->t = newc;
    slot->state = CACHE_TENSOR;
    memset(&newc, 0, sizeof newc);
done:
    wanvae_free(v, &cat);
    wanvae_free(v, &newc);
    return st;
}

/* ---- norms, residual block, attention ---------------------------------- */

/* silu(WanRMS_norm(x)): F.normalize over channels * sqrt(C) * gamma. */
static ff_status norm_silu(ff_vae *v, const vae_norm *n, const ff_tensor *x, int silu, ff_tensor *out, ff_err *err) {
    ff_status st = wanvae_alloc(v, out, x->ndim, x->shape, err);
    if (st) return st;
    st = ff_op_l2norm_channels(v->be, x, &n->gamma, NULL, (float)sqrt((double)n->dim), 1e-12f, out, err);
    if (!st && silu) st = ff_op_unary(v->be, FF_UNARY_SILU, out, out, err);
    if (st) wanvae_free(v, out);
    return st;
}

/* WanResidualBlock: shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))). */
static ff_status res_fwd(vae_run *r, const vae_res *m, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_vae *v = r->vae;
    ff_tensor h = {0}, a = {0}, b = {0};
    ff_status st = FF_OK;
    memset(out, 0, sizeof *out);
    if (m->has_shortcut && (st = wanvae_conv_plain(v, &m->conv_shortcut, x, &h, err))) goto done;
    if ((st = norm_silu(v, &m->norm1, x, 1, &a, err))) goto done;
    if ((st = cconv(r, &m->conv1, &a, &b, err))) goto done;
    wanvae_free(v, &a);
    if ((st = norm_silu(v, &m->norm2, &b, 1, &a, err))) goto done;
    wanvae_free(v, &b);
    if ((st = cconv(r, &m->conv2, &a, out, err))) goto done;
    st = ff_op_binary(v->be, FF_BIN_ADD, out, m->has_shortcut ? &h : x, out, err);
done:
    wanvae_free(v, &h);
    wanvae_free(v, &a);
    wanvae_free(v, &b);
    if (st) wanvae_free(v, out);
    return st;
}

/* WanAttentionBlock: per frame, one head (head_dim = C) over the H*W
 * tokens: x + proj(sdpa(q, k, v)), q/k/v = to_qkv(norm(x)) split in 3. */
static ff_status attn_fwd(ff_vae *v, const vae_attn *m, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    int64_t B = x->shape[0], C = x->shape[1], T = x->shape[2], H = x->shape[3], W = x->shape[4];
    int64_t N = B * T, L = H * W;
    ff_tensor n = {0}, p = {0}, qkv = {0}, q = {0}, k = {0}, vv = {0}, o = {0}, pr = {0};
    ff_status st;
    memset(out, 0, sizeof *out);
    if ((st = norm_silu(v, &m->norm, x, 0, &n, err))) goto done;
    {   /* (B, C, T, H, W) -> (B, T, H, W, C) = (N, L, C) tokens */
        const int perm[5] = {0, 2, 3, 4, 1};
        const int64_t ps[5] = {B, T, H, W, C};
        if ((st = wanvae_alloc(v, &p, 5, ps, err))) goto done;
        if ((st = ff_op_permute(v->be, &n, perm, &p, err))) goto done;
        wanvae_free(v, &n);
    }
    {
        const int64_t tok[3] = {N, L, C}, qs[3] = {N, L, 3 * C};
        ff_tensor pt = alias(&p, 3, tok);
        if ((st = wanvae_alloc(v, &qkv, 3, qs, err))) goto done;
        if ((st = ff_op_linear(v->be, &pt, &m->qkv_w, &m->qkv_b, &qkv, err))) goto done;
        wanvae_free(v, &p);
    }
    {   /* q, k, v = qkv.chunk(3, dim=-1), each (N, 1, L, C) */
        const int64_t hs[3] = {N, L, C};
        ff_tensor *parts[3] = {&q, &k, &vv};
        for (int i = 0; i < 3; i++) {
            if ((st = wanvae_alloc(v, parts[i], 3, hs, err))) goto done;
            if ((st = ff_op_slice(v->be, &qkv, 2, i * C, parts[i], err))) goto done;
        }
        wanvae_free(v, &qkv);
        const int64_t s4[4] = {N, 1, L, C};
        ff_tensor q4 = alias(&q, 4, s4), k4 = alias(&k, 4, s4), v4 = alias(&vv, 4, s4);
        if ((st = wanvae_alloc(v, &o, 4, s4, err))) goto done;
        if ((st = ff_op_sdpa(v->be, &q4, &k4, &v4, NULL, (float)(1.0 / sqrt((double)C)), &o, err))) goto done;
        wanvae_free(v, &q);
        wanvae_free(v, &k);
        wanvae_free(v, &vv);
    }
    {
        const int64_t tok[3] = {N, L, C};
        ff_tensor ot = alias(&o, 3, tok);
        if ((st = wanvae_alloc(v, &pr, 3, tok, err))) goto done;
        if ((st = ff_op_linear(v->be, &ot, &m->proj_w, &m->proj_b, &pr, err))) goto done;
        wanvae_free(v, &o);
    }
    {   /* (B, T, H, W, C) -> (B, C, T, H, W), + identity */
        const int perm[5] = {0, 4, 1, 2, 3};
        const int64_t s5[5] = {B, T, H, W, C};
        ff_tensor p5 = alias(&pr, 5, s5);
        if ((st = alloc5(v, out, B, C, T, H, W, err))) goto done;
        if ((st = ff_op_permute(v->be, &p5, perm, out, err))) goto done;
        st = ff_op_binary(v->be, FF_BIN_ADD, out, x, out, err);
    }
done:
    wanvae_free(v, &n);
    wanvae_free(v, &p);
    wanvae_free(v, &qkv);
    wanvae_free(v, &q);
    wanvae_free(v, &k);
    wanvae_free(v, &vv);
    wanvae_free(v, &o);
    wanvae_free(v, &pr);
    if (st) wanvae_free(v, out);
    return st;
}

/* ---- resampling -------------------------------------------------------- */

/* WanResample.forward with its cache rules:
 *  upsample3d: first chunk marks "Rep" and skips time_conv; later chunks run
 *    time_conv (C -> 2C) and interleave the halves as even/odd frames;
 *  then nearest 2x + 3x3 conv (up) or ZeroPad2d(0,1,0,1) + 3x3 stride-2
 *    conv (down), per frame;
 *  downsample3d: the first chunk only caches its last frame; later chunks
 *    run time_conv (stride 2, no padding) over [cached last frame, x]. */
static ff_status resample_fwd(vae_run *r, const vae_resample *m, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_vae *v = r->vae;
    int64_t B = x->shape[0], C = x->shape[1], T = x->shape[2], H = x->shape[3], W = x->shape[4];
    ff_tensor tc = {0}, cat = {0}, newc = {0}, inter = {0}, up = {0}, sp = {0};
    const ff_tensor *cur = x;
    ff_status st = FF_OK;
    memset(out, 0, sizeof *out);

    if (m->mode == RS_UP3D) {
        vae_cache *slot = take_slot(r, err);
        if (!slot) return FF_ERR_INTERNAL;
        if (slot->state == CACHE_NONE) {
            slot->state = CACHE_REP;
        } else {
            if ((st = next_cache(v, x, slot, 1, &newc, err))) goto done;
            const ff_tensor *xin = x;
            int t_front = m->time_conv.pad_t;
            if (slot->state == CACHE_TENSOR) {
                if ((st = cat_frames(v, &slot->t, x, &cat, err))) goto done;
                xin = &cat;
                t_front -= (int)slot->t.shape[2];
            }
            if ((st = conv_run(v, &m->time_conv, xin, t_front, &tc, err))) goto done;
            wanvae_free(v, &cat);
            wanvae_free(v, &slot->t);
            slot->t = newc;
            slot->state = CACHE_TENSOR;
            memset(&newc, 0, sizeof newc);
            /* (B, 2, C, T, HW) -> (B, C, T, 2, HW): torch.stack(..., 3) */
            const int64_t s5[5] = {B, 2, C, T, H * W};
            const int perm[5] = {0, 2, 3, 1, 4};
            ff_tensor t5 = alias(&tc, 5, s5);
            if ((st = alloc5(v, &inter, B, C, 2 * T, H, W, err))) goto done;
            const int64_t o5[5] = {B, C, T, 2, H * W};
            ff_tensor i5 = alias(&inter, 5, o5);
            if ((st = ff_op_permute(v->be, &t5, perm, &i5, err))) goto done;
            wanvae_free(v, &tc);
            cur = &inter;
            T *= 2;
        }
    }

    if (m->mode == RS_UP2D || m->mode == RS_UP3D) {
        /* nearest-exact 2x over (B, C*T, H, W) */
        const int64_t s4[4] = {B, C * T, H, W};
        const int64_t u4[4] = {B, C * T, 2 * H, 2 * W};
        ff_tensor c4 = alias(cur, 4, s4);
        if ((st = wanvae_alloc(v, &up, 4, u4, err))) goto done;
        if ((st = ff_op_upsample_nearest2d(v->be, &c4, 2, 2, &up, err))) goto done;
        wanvae_free(v, &inter);
        const int64_t u5[5] = {B, C, T, 2 * H, 2 * W};
        ff_tensor up5 = alias(&up, 5, u5);
        if ((st = conv_run(v, &m->resample, &up5, 0, &sp, err))) goto done;
        wanvae_free(v, &up);
        *out = sp;
        memset(&sp, 0, sizeof sp);
        goto done;
    }

    /* down: ZeroPad2d((0, 1, 0, 1)) + Conv2d(3, stride 2) per frame */
    {
        const int pad[6] = {0, 0, 0, 1, 0, 1};
        const vae_conv *c = &m->resample;
        int64_t ho = (H + 1 - 3) / 2 + 1, wo = (W + 1 - 3) / 2 + 1;
        if (ho < 1 || wo < 1) {
            st = ff_err_set(err, FF_ERR_SHAPE, "vae downsample: frame %lldx%lld too small", (long long)H, (long long)W);
            goto done;
        }
        if ((st = alloc5(v, &sp, B, c->cout, T, ho, wo, err))) goto done;
        if ((st = ff_op_conv3d(v->be, x, &c->w, &c->b, c->stride, pad, &sp, err))) goto done;
    }
    if (m->mode == RS_DOWN2D) {
        *out = sp;
        memset(&sp, 0, sizeof sp);
        goto done;
    }
    {
        vae_cache *slot = take_slot(r, err);
        if (!slot) {
            st = FF_ERR_INTERNAL;
            goto done;
        }
        ff_tensor last = {0};
        if ((st = slice_frames(v, &sp, sp.shape[2] - 1, 1, &last, err))) goto done;
        if (slot->state != CACHE_TENSOR) {
            /* first chunk: feat_cache[idx] = x (only its last frame is read later) */
            wanvae_free(v, &slot->t);
            slot->t = last;
            slot->state = CACHE_TENSOR;
            *out = sp;
            memset(&sp, 0, sizeof sp);
            goto done;
        }
        if ((st = cat_frames(v, &slot->t, &sp, &cat, err))) {
            wanvae_free(v, &last);
            goto done;
        }
        if ((st = conv_run(v, &m->time_conv, &cat, 0, out, err))) {
            wanvae_free(v, &last);
            goto done;
        }
        wanvae_free(v, &slot->t);
        slot->t = last;
    }
done:
    wanvae_free(v, &tc);
    wanvae_free(v, &cat);
    wanvae_free(v, &newc);
    wanvae_free(v, &inter);
    wanvae_free(v, &up);
    wanvae_free(v, &sp);
    if (st) wanvae_free(v, out);
    return st;
}

/* AvgDown3D: zero frames in FRONT up to a multiple of ft, space/time to
 * depth (channel c*f + t_off*fs*fs + h_off*fs + w_off), mean over groups
 * of in*f/out consecutive channels. */
static ff_status avgdown_fwd(ff_vae *v, const vae_shortcut *s, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    int64_t B = x->shape[0], C = x->shape[1], T = x->shape[2], H = x->shape[3], W = x->shape[4];
    int64_t ft = s->ft, fs = s->fs, f = ft * fs * fs, group = (int64_t)s->cin * f / s->cout;
    int64_t pad_t = (ft - T % ft) % ft;
    ff_tensor zp = {0}, xp = {0}, a = {0}, d = {0}, ones = {0}, hones = {0};
    const ff_tensor *cur = x;
    ff_status st = FF_OK;
    memset(out, 0, sizeof *out);
    if (H % fs || W % fs)
        return ff_err_set(err, FF_ERR_SHAPE, "vae AvgDown3D: frame %lldx%lld not divisible by %lld", (long long)H,
                          (long long)W, (long long)fs);
    if (pad_t) {
        if ((st = alloc5(v, &zp, B, C, pad_t, H, W, err))) goto done;
        if ((st = cat_frames(v, &zp, x, &xp, err))) goto done;
        wanvae_free(v, &zp);
        cur = &xp;
        T += pad_t;
    }
    int64_t T2 = T / ft, H2 = H / fs, W2 = W / fs;
    if (f > 1) {
        /* (B,C,T2,ft,H2,fs,W2,fs) -> (B,C,T2,ft,H2,fs,fs,W2) */
        const int64_t sa[3] = {B * C * T2 * ft * H2 * fs, W2, fs}, da[3] = {B * C * T2 * ft * H2 * fs, fs, W2};
        const int pa[3] = {0, 2, 1};
        ff_tensor ca = alias(cur, 3, sa);
        if ((st = wanvae_alloc(v, &a, 3, da, err))) goto done;
        if ((st = ff_op_permute(v->be, &ca, pa, &a, err))) goto done;
        wanvae_free(v, &xp);
        /* (BC, T2, ft, H2, fs*fs, W2) -> (BC, ft, fs*fs, T2, H2, W2) */
        const int64_t sb[6] = {B * C, T2, ft, H2, fs * fs, W2}, db[6] = {B * C, ft, fs * fs, T2, H2, W2};
        const int pb[6] = {0, 2, 4, 1, 3, 5};
        ff_tensor ab = alias(&a, 6, sb);
        if ((st = wanvae_alloc(v, &d, 6, db, err))) goto done;
        if ((st = ff_op_permute(v->be, &ab, pb, &d, err))) goto done;
        wanvae_free(v, &a);
        cur = &d;
    }
    if (group == 1) {
        if (cur == x) { /* identity: a copy so that out is owned */
            if ((st = alloc5(v, out, B, s->cout, T2, H2, W2, err))) goto done;
            st = ff_op_copy(v->be, x, out, err);
        } else {
            ff_tensor *own = cur == &d ? &d : &xp;
            *out = alias(own, 5, (const int64_t[5]){B, s->cout, T2, H2, W2});
            out->owns = own->owns;
            memset(own, 0, sizeof *own);
        }
        goto done;
    }
    {   /* x.view(B, out, group, N).mean(2) as a matmul with ones / group */
        int64_t N = T2 * H2 * W2;
        const int64_t os[2] = {group, 1};
        if ((st = ff_tensor_alloc(&hones, FF_F32, 2, os, err))) goto done;
        for (int64_t i = 0; i < group; i++) ((float *)hones.data)[i] = 1.0f;
        if ((st = wanvae_upload_new(v, &hones, &ones, err))) goto done;
        const int64_t sg[3] = {B * s->cout, group, N}, so[3] = {B * s->cout, N, 1};
        ff_tensor g3 = alias(cur, 3, sg);
        if ((st = wanvae_alloc(v, out, 3, so, err))) goto done;
        if ((st = ff_op_matmul(v->be, &g3, &ones, 1, 0, 1.0f / (float)group, out, err))) goto done;
        st = ff_tensor_reshape(out, 5, (const int64_t[5]){B, s->cout, T2, H2, W2}, err);
    }
done:
    ff_tensor_free(&hones);
    wanvae_free(v, &ones);
    wanvae_free(v, &zp);
    wanvae_free(v, &xp);
    wanvae_free(v, &a);
    wanvae_free(v, &d);
    if (st) wanvae_free(v, out);
    return st;
}

/* DupUp3D: repeat_interleave channels, depth to space/time (the inverse
 * layout of AvgDown3D); the first chunk drops its first ft-1 frames. */
static ff_status dupup_fwd(ff_vae *v, const vae_shortcut *s, const ff_tensor *x, int first_chunk, ff_tensor *out,
                           ff_err *err) {
    int64_t B = x->shape[0], Ci = x->shape[1], T = x->shape[2], H = x->shape[3], W = x->shape[4];
    int64_t ft = s->ft, fs = s->fs, f = ft * fs * fs, R = (int64_t)s->cout * f / Ci, Co = s->cout;
    ff_tensor zr = {0}, rep = {0}, a = {0}, d = {0};
    ff_status st = FF_OK;
    memset(out, 0, sizeof *out);
    {   /* (B*Ci, 1, THW) + zeros(1, R, 1) -> (B*Ci, R, THW) */
        const int64_t zs[3] = {1, R, 1}, xs[3] = {B * Ci, 1, T * H * W}, rs[3] = {B * Ci, R, T * H * W};
        ff_tensor x3 = alias(x, 3, xs);
        if ((st = wanvae_alloc(v, &zr, 3, zs, err))) goto done;
        if ((st = wanvae_alloc(v, &rep, 3, rs, err))) goto done;
        if ((st = ff_op_binary(v->be, FF_BIN_ADD, &x3, &zr, &rep, err))) goto done;
        wanvae_free(v, &zr);
    }
    {   /* (B,Co,ft,fs,fs,T,H,W) -> (B,Co,ft,fs,T,H,W,fs) */
        const int64_t sa[3] = {B * Co * ft * fs, fs, T * H * W}, da[3] = {B * Co * ft * fs, T * H * W, fs};
        const int pa[3] = {0, 2, 1};
        ff_tensor ra = alias(&rep, 3, sa);
        if ((st = wanvae_alloc(v, &a, 3, da, err))) goto done;
        if ((st = ff_op_permute(v->be, &ra, pa, &a, err))) goto done;
        wanvae_free(v, &rep);
        /* (BCo, ft, fs, T, H, W*fs) -> (BCo, T, ft, H, fs, W*fs) */
        const int64_t sb[6] = {B * Co, ft, fs, T, H, W * fs}, db[6] = {B * Co, T, ft, H, fs, W * fs};
        const int pb[6] = {0, 3, 1, 4, 2, 5};
        ff_tensor ab = alias(&a, 6, sb);
        if ((st = wanvae_alloc(v, &d, 6, db, err))) goto done;
        if ((st = ff_op_permute(v->be, &ab, pb, &d, err))) goto done;
        wanvae_free(v, &a);
        if ((st = ff_tensor_reshape(&d, 5, (const int64_t[5]){B, Co, T * ft, H * fs, W * fs}, err))) goto done;
    }
    if (first_chunk && ft > 1) {
        st = slice_frames(v, &d, ft - 1, T * ft - (ft - 1), out, err);
    } else {
        *out = d;
        memset(&d, 0, sizeof d);
    }
done:
    wanvae_free(v, &zr);
    wanvae_free(v, &rep);
    wanvae_free(v, &a);
    wanvae_free(v, &d);
    if (st) wanvae_free(v, out);
    return st;
}

/* ---- patchify ---------------------------------------------------------- */

ff_status wanvae_patchify(ff_vae *v, const ff_tensor *x, int p, ff_tensor *out, ff_err *err) {
    int64_t B = x->shape[0], C = x->shape[1], F = x->shape[2], H = x->shape[3], W = x->shape[4];
    if (H % p || W % p)
        return ff_err_set(err, FF_ERR_SHAPE, "vae patchify: height %lld and width %lld must be divisible by %d",
                          (long long)H, (long long)W, p);
    /* (BC, F, H', ph, W', pw) -> (BC, pw, ph, F, H', W') */
    const int64_t s6[6] = {B * C, F, H / p, p, W / p, p};
    const int perm[6] = {0, 5, 3, 1, 2, 4};
    ff_tensor x6 = alias(x, 6, s6);
    ff_status st = alloc5(v, out, B, C * p * p, F, H / p, W / p, err);
    if (st) return st;
    const int64_t d6[6] = {B * C, p, p, F, H / p, W / p};
    ff_tensor o6 = alias(out, 6, d6);
    if ((st = ff_op_permute(v->be, &x6, perm, &o6, err))) wanvae_free(v, out);
    return st;
}

ff_status wanvae_unpatchify(ff_vae *v, const ff_tensor *x, int p, ff_tensor *out, ff_err *err) {
    int64_t B = x->shape[0], Cp = x->shape[1], F = x->shape[2], H = x->shape[3], W = x->shape[4];
    int64_t C = Cp / (p * p);
    /* (BC, pw, ph, F, H, W) -> (BC, F, H, ph, W, pw) */
    const int64_t s6[6] = {B * C, p, p, F, H, W};
    const int perm[6] = {0, 3, 4, 2, 5, 1};
    ff_tensor x6 = alias(x, 6, s6);
    ff_status st = alloc5(v, out, B, C, F, H * p, W * p, err);
    if (st) return st;
    const int64_t d6[6] = {B * C, F, H, p, W, p};
    ff_tensor o6 = alias(out, 6, d6);
    if ((st = ff_op_permute(v->be, &x6, perm, &o6, err))) wanvae_free(v, out);
    return st;
}

/* ---- chunk passes ------------------------------------------------------ */

/* Replaces *cur by *y; the old *cur is freed unless it is the kept shortcut
 * input *keep. */
static void advance(ff_vae *v, ff_tensor *cur, ff_tensor *y, const ff_tensor *keep) {
    if (!keep || cur->data != keep->data) wanvae_free(v, cur);
    *cur = *y;
    memset(y, 0, sizeof *y);
}

static ff_status mid_fwd(vae_run *r, const vae_mid *m, ff_tensor *cur, ff_err *err) {
    ff_tensor y = {0};
    ff_status st;
    if ((st = res_fwd(r, &m->res0, cur, &y, err))) return st;
    advance(r->vae, cur, &y, NULL);
    if ((st = attn_fwd(r->vae, &m->attn, cur, &y, err))) return st;
    advance(r->vae, cur, &y, NULL);
    if ((st = res_fwd(r, &m->res1, cur, &y, err))) return st;
    advance(r->vae, cur, &y, NULL);
    return FF_OK;
}

/* One resolution level: resnets (+attention), resample, and the 2.2
 * AvgDown3D / DupUp3D shortcut of the level input. */
static ff_status level_fwd(vae_run *r, const vae_level *lv, int decoder, int first_chunk, ff_tensor *cur,
                           ff_err *err) {
    ff_vae *v = r->vae;
    ff_tensor keep = {0}, y = {0}, s = {0};
    ff_status st = FF_OK;
    const ff_tensor *kp = NULL;
    if (lv->sc.present) {
        keep = *cur; /* x_copy */
        kp = &keep;
    }
    for (int k = 0; k < lv->n_res; k++) {
        if ((st = res_fwd(r, &lv->res[k], cur, &y, err))) goto fail;
        advance(v, cur, &y, kp);
        if (lv->attn && lv->attn[k]) {
            if ((st = attn_fwd(v, lv->attn[k], cur, &y, err))) goto fail;
            advance(v, cur, &y, kp);
        }
    }
    if (lv->has_resample) {
        if ((st = resample_fwd(r, &lv->rs, cur, &y, err))) goto fail;
        advance(v, cur, &y, kp);
    }
    if (lv->sc.present) {
        st = decoder ? dupup_fwd(v, &lv->sc, &keep, first_chunk, &s, err) : avgdown_fwd(v, &lv->sc, &keep, &s, err);
        if (st) goto fail;
        if (!ff_tensor_same_shape(&s, cur)) {
            char a[96], b[96];
            st = ff_err_set(err, FF_ERR_SHAPE, "vae %s shortcut %s does not match the block output %s",
                            decoder ? "DupUp3D" : "AvgDown3D", ff_tensor_describe(&s, a, sizeof a),
                            ff_tensor_describe(cur, b, sizeof b));
            goto fail;
        }
        if ((st = ff_op_binary(v->be, FF_BIN_ADD, cur, &s, cur, err))) goto fail;
        wanvae_free(v, &s);
        if (cur->data != keep.data) wanvae_free(v, &keep);
    }
    return FF_OK;
fail:
    wanvae_free(v, &s);
    if (kp && cur->data != keep.data) wanvae_free(v, &keep);
    wanvae_free(v, cur);
    return st;
}

/* head: conv_out(silu(norm_out(x))) with cache. */
static ff_status head_fwd(vae_run *r, const vae_coder *c, ff_tensor *cur, ff_tensor *out, ff_err *err) {
    ff_tensor a = {0};
    ff_status st = norm_silu(r->vae, &c->norm_out, cur, 1, &a, err);
    wanvae_free(r->vae, cur);
    if (st) return st;
    st = cconv(r, &c->conv_out, &a, out, err);
    wanvae_free(r->vae, &a);
    return st;
}

/* WanDecoder3d.forward on one chunk x (B, z_dim, 1, h, w) after
 * post_quant_conv. */
ff_status wanvae_decoder_chunk(vae_run *r, ff_tensor *x, int first_chunk, ff_tensor *out, ff_err *err) {
    ff_vae *v = r->vae;
    const vae_coder *d = &v->dec;
    ff_tensor cur = {0};
    ff_status st;
    memset(out, 0, sizeof *out);
    r->idx = 0;
    st = cconv(r, &d->conv_in, x, &cur, err);
    wanvae_free(v, x);
    if (st) return st;
    if ((st = mid_fwd(r, &d->mid, &cur, err))) goto fail;
    for (int i = 0; i < d->n_levels; i++)
        if ((st = level_fwd(r, &d->levels[i], 1, first_chunk, &cur, err))) return ff_err_wrap(err, "decoder.up_blocks.%d", i);
    return head_fwd(r, d, &cur, out, err);
fail:
    wanvae_free(v, &cur);
    return st;
}

/* WanEncoder3d.forward on one chunk x (B, C_in*p*p, 1 or 4, H, W). */
ff_status wanvae_encoder_chunk(vae_run *r, ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_vae *v = r->vae;
    const vae_coder *e = &v->enc;
    ff_tensor cur = {0};
    ff_status st;
    memset(out, 0, sizeof *out);
    r->idx = 0;
    st = cconv(r, &e->conv_in, x, &cur, err);
    wanvae_free(v, x);
    if (st) return st;
    for (int i = 0; i < e->n_levels; i++)
        if ((st = level_fwd(r, &e->levels[i], 0, 0, &cur, err))) return ff_err_wrap(err, "encoder level %d", i);
    if ((st = mid_fwd(r, &e->mid, &cur, err))) {
        wanvae_free(v, &cur);
        return st;
    }
    return head_fwd(r, e, &cur, out, err);
}
