/* hunyuan_vae_blocks: the passes of AutoencoderKLHunyuanVideo's encoder and
 * decoder on kernels/ops.h, written so that a dry pass (no backend)
 * performs exactly the same allocations and frees, only skipping the ops:
 * its peak is the real pass's peak.
 *
 * Conventions: a block function takes its input x by ownership (it is
 * freed, or handed on, before the function returns) and returns a new
 * tensor in *y. Shapes are (B, C, T, H, W). Every activation is F32 on the
 * backend through hyvae_act / hyvae_drop.
 *
 * Mirrors: HunyuanVideoCausalConv3d, HunyuanVideoResnetBlockCausal3D,
 * HunyuanVideoMidBlock3D (resnet, Attention with a frame-causal mask,
 * resnet), HunyuanVideoDownsampleCausal3D, HunyuanVideoUpsampleCausal3D,
 * HunyuanVideoEncoder3D / HunyuanVideoDecoder3D.forward, quant_conv /
 * post_quant_conv. */
#include <math.h>
#include <string.h>

#include "models/hunyuan_vae_internal.h"

#define GN_EPS 1e-6f /* resnet_eps of every GroupNorm of the model */

#define TRY(expr)                     \
    do {                              \
        if ((st = (expr))) goto done; \
    } while (0)
/* An op: skipped by a dry pass. */
#define OP(p, expr) TRY((p)->dry ? FF_OK : (expr))

ff_status hyvae_act(hyv_pass *p, ff_tensor *t, int ndim, const int64_t *shape, ff_err *err) {
    if (p->dry) {
        ff_tensor_view(t, FF_F32, ndim, shape, NULL, FF_LOC_DEVICE);
    } else {
        ff_status st = ff_be_alloc(p->be, t, FF_F32, ndim, shape, err);
        if (st) return ff_err_wrap(err, "vae activations: ");
    }
    p->cur += ff_tensor_nbytes(t);
    if (p->cur > p->peak) p->peak = p->cur;
    return FF_OK;
}

void hyvae_drop(hyv_pass *p, ff_tensor *t) {
    if (t->ndim == 0 && !t->data) return; /* never allocated */
    p->cur -= ff_tensor_nbytes(t);
    if (!p->dry) ff_be_free(p->be, t);
    memset(t, 0, sizeof *t);
}

/* A view of base with another shape (same elements), or with offset. */
static ff_tensor reshape(const ff_tensor *base, int64_t off, int ndim, const int64_t *shape) {
    ff_tensor t;
    ff_tensor_view(&t, FF_F32, ndim, shape, base->data ? (float *)base->data + off : NULL, base->loc);
    return t;
}

/* ---- causal conv ----------------------------------------------------------- */

/* y = conv(x) (x borrowed). k = 3: replicate pad (T 2|0, H 1|1, W 1|1) into
 * a temporary, then Conv3d with the stride; k = 1: Conv3d. */
static ff_status conv(hyv_pass *p, const hyv_conv *c, const ff_tensor *x, ff_tensor *y, ff_err *err) {
    ff_status st = FF_OK;
    ff_tensor padded = {0};
    const int pad = c->k / 2, tpad = c->k - 1;
    const int64_t T = x->shape[2] + tpad, H = x->shape[3] + 2 * pad, W = x->shape[4] + 2 * pad;
    const int64_t ys[5] = {x->shape[0], c->cout, (T - c->k) / c->stride[0] + 1, (H - c->k) / c->stride[1] + 1,
                           (W - c->k) / c->stride[2] + 1};
    const int zero[6] = {0, 0, 0, 0, 0, 0};
    const ff_tensor *src = x;
    if (c->k > 1) {
        const int64_t ps[5] = {x->shape[0], x->shape[1], T, H, W};
        const int pads[6] = {tpad, 0, pad, pad, pad, pad};
        TRY(hyvae_act(p, &padded, 5, ps, err));
        OP(p, ff_op_pad_replicate3d(p->be, x, pads, &padded, err));
        src = &padded;
    }
    TRY(hyvae_act(p, y, 5, ys, err));
    OP(p, ff_op_conv3d(p->be, src, &c->w, &c->b, c->stride, zero, y, err));
done:
    hyvae_drop(p, &padded);
    return st;
}

/* ---- resnet ---------------------------------------------------------------------- */

/* HunyuanVideoResnetBlockCausal3D: shortcut(x) + conv2(silu(GN2(conv1(silu(GN1(x)))))). */
static ff_status resnet(hyv_pass *p, const hyv_res *r, ff_tensor *x, ff_tensor *y, ff_err *err) {
    const int G = p->cfg->norm_num_groups;
    ff_status st = FF_OK;
    ff_tensor n = {0}, h = {0}, s = {0};
    TRY(hyvae_act(p, &n, 5, x->shape, err));
    OP(p, ff_op_group_norm(p->be, x, G, &r->norm1.w, &r->norm1.b, GN_EPS, &n, err));
    OP(p, ff_op_unary(p->be, FF_UNARY_SILU, &n, &n, err));
    TRY(conv(p, &r->conv1, &n, &h, err));
    hyvae_drop(p, &n);
    OP(p, ff_op_group_norm(p->be, &h, G, &r->norm2.w, &r->norm2.b, GN_EPS, &h, err));
    OP(p, ff_op_unary(p->be, FF_UNARY_SILU, &h, &h, err));
    TRY(conv(p, &r->conv2, &h, y, err));
    hyvae_drop(p, &h);
    if (r->has_shortcut) {
        TRY(conv(p, &r->conv_shortcut, x, &s, err));
        hyvae_drop(p, x);
        OP(p, ff_op_binary(p->be, FF_BIN_ADD, y, &s, y, err));
    } else {
        OP(p, ff_op_binary(p->be, FF_BIN_ADD, y, x, y, err));
    }
done:
    hyvae_drop(p, x);
    hyvae_drop(p, &n);
    hyvae_drop(p, &h);
    hyvae_drop(p, &s);
    if (st) hyvae_drop(p, y);
    return st;
}

/* ---- mid-block attention ---------------------------------------------------------- */

/* Attention (AttnProcessor2_0, one head of width C) on the T*H*W tokens of
 * x ((t, h, w) order): GroupNorm, q/k/v, softmax(q k^T / sqrt(C) + mask) v,
 * to_out, + x. The mask is prepare_causal_attention_mask: a token of frame
 * t sees the tokens of frames 0..t, i.e. a prefix of the keys; each query
 * frame attends over its prefix without a mask (masked keys add exactly
 * nothing), so no (S x S) mask is ever built. */
static ff_status attention(hyv_pass *p, const hyv_attn *a, ff_tensor *x, ff_tensor *y, ff_err *err) {
    const int G = p->cfg->norm_num_groups;
    const int64_t B = x->shape[0], C = x->shape[1], T = x->shape[2], HW = x->shape[3] * x->shape[4], S = T * HW;
    static const int tr[3] = {0, 2, 1};
    ff_status st = FF_OK;
    ff_tensor n = {0}, tok = {0}, q = {0}, k = {0}, v = {0}, o = {0}, yt = {0};
    const int64_t tshape[3] = {B, S, C}, cshape[3] = {B, C, S};
    TRY(hyvae_act(p, &n, 5, x->shape, err));
    OP(p, ff_op_group_norm(p->be, x, G, &a->group_norm.w, &a->group_norm.b, GN_EPS, &n, err));
    TRY(hyvae_act(p, &tok, 3, tshape, err));
    {
        ff_tensor n3 = reshape(&n, 0, 3, cshape);
        OP(p, ff_op_permute(p->be, &n3, tr, &tok, err)); /* (B, C, S) -> (B, S, C) */
    }
    hyvae_drop(p, &n);
    TRY(hyvae_act(p, &q, 3, tshape, err));
    TRY(hyvae_act(p, &k, 3, tshape, err));
    TRY(hyvae_act(p, &v, 3, tshape, err));
    OP(p, ff_op_linear(p->be, &tok, &a->q_w, &a->q_b, &q, err));
    OP(p, ff_op_linear(p->be, &tok, &a->k_w, &a->k_b, &k, err));
    OP(p, ff_op_linear(p->be, &tok, &a->v_w, &a->v_b, &v, err));
    hyvae_drop(p, &tok);
    TRY(hyvae_act(p, &o, 3, tshape, err));
    const float scale = (float)(1.0 / sqrt((double)C));
    for (int64_t b = 0; b < B && !p->dry; b++)
        for (int64_t t = 0; t < T; t++) {
            const int64_t qs[4] = {1, 1, HW, C}, ks[4] = {1, 1, (t + 1) * HW, C};
            ff_tensor qv = reshape(&q, (b * S + t * HW) * C, 4, qs), kv = reshape(&k, b * S * C, 4, ks),
                      vv = reshape(&v, b * S * C, 4, ks), ov = reshape(&o, (b * S + t * HW) * C, 4, qs);
            TRY(ff_op_sdpa(p->be, &qv, &kv, &vv, NULL, scale, &ov, err));
        }
    hyvae_drop(p, &q);
    hyvae_drop(p, &k);
    hyvae_drop(p, &v);
    TRY(hyvae_act(p, &yt, 3, tshape, err));
    OP(p, ff_op_linear(p->be, &o, &a->o_w, &a->o_b, &yt, err));
    hyvae_drop(p, &o);
    TRY(hyvae_act(p, y, 5, x->shape, err));
    {
        ff_tensor y3 = reshape(y, 0, 3, cshape);
        OP(p, ff_op_permute(p->be, &yt, tr, &y3, err)); /* back to (B, C, T, H, W) */
    }
    hyvae_drop(p, &yt);
    OP(p, ff_op_binary(p->be, FF_BIN_ADD, y, x, y, err)); /* residual_connection; rescale_output_factor 1 */
done:
    ff_tensor *all[] = {x, &n, &tok, &q, &k, &v, &o, &yt};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) hyvae_drop(p, all[i]);
    if (st) hyvae_drop(p, y);
    return st;
}

/* HunyuanVideoMidBlock3D: resnets[0], attentions[0] (when added), resnets[1]. */
static ff_status mid_block(hyv_pass *p, const hyv_coder *c, ff_tensor *x, ff_tensor *y, ff_err *err) {
    ff_status st = FF_OK;
    ff_tensor a = {0}, b = {0};
    TRY(resnet(p, &c->mid_res0, x, &a, err));
    if (c->has_attn) {
        TRY(attention(p, &c->mid_attn, &a, &b, err));
    } else {
        b = a;
        memset(&a, 0, sizeof a);
    }
    TRY(resnet(p, &c->mid_res1, &b, y, err));
done:
    hyvae_drop(p, x);
    hyvae_drop(p, &a);
    hyvae_drop(p, &b);
    return st;
}

/* ---- samplers ----------------------------------------------------------------------- */

/* HunyuanVideoUpsampleCausal3D: frame 0 nearest x fs in H, W; frames 1..
 * nearest x (ft, fs, fs); concatenated (T -> 1 + ft (T - 1)); causal conv.
 * Spatially every frame is upsampled alike, so the whole tensor goes
 * through one (B, C*T, H, W) upsampling; in time, repeating every frame
 * twice and dropping the first copy of frame 0 gives [f0, f1, f1, f2, ...]. */
static ff_status upsample(hyv_pass *p, const hyv_block *b, ff_tensor *x, ff_tensor *y, ff_err *err) {
    ff_status st = FF_OK;
    ff_tensor u = {0}, w = {0};
    const int64_t B = x->shape[0], C = x->shape[1];
    if (b->fs > 1) {
        const int64_t T = x->shape[2], H = x->shape[3], W = x->shape[4];
        const int64_t us[5] = {B, C, T, H * b->fs, W * b->fs};
        const int64_t xs4[4] = {B, C * T, H, W}, us4[4] = {B, C * T, H * b->fs, W * b->fs};
        TRY(hyvae_act(p, &u, 5, us, err));
        ff_tensor x4 = reshape(x, 0, 4, xs4), u4 = reshape(&u, 0, 4, us4);
        OP(p, ff_op_upsample_nearest2d(p->be, &x4, b->fs, b->fs, &u4, err));
        hyvae_drop(p, x);
        *x = u;
        memset(&u, 0, sizeof u);
    }
    if (b->ft > 1 && x->shape[2] > 1) {
        const int64_t T = x->shape[2], HW = x->shape[3] * x->shape[4];
        const int64_t xs4[4] = {B * C, 1, T, HW}, ws4[4] = {B * C, 1, 2 * T, HW};
        const int64_t ws3[3] = {B * C, 2 * T, HW}, us3[3] = {B * C, 2 * T - 1, HW};
        const int64_t us[5] = {B, C, 2 * T - 1, x->shape[3], x->shape[4]};
        TRY(hyvae_act(p, &w, 4, ws4, err));
        ff_tensor x4 = reshape(x, 0, 4, xs4);
        OP(p, ff_op_upsample_nearest2d(p->be, &x4, 2, 1, &w, err));
        hyvae_drop(p, x);
        TRY(hyvae_act(p, &u, 5, us, err));
        ff_tensor w3 = reshape(&w, 0, 3, ws3), u3 = reshape(&u, 0, 3, us3);
        OP(p, ff_op_slice(p->be, &w3, 1, 1, &u3, err));
        hyvae_drop(p, &w);
        *x = u;
        memset(&u, 0, sizeof u);
    }
    TRY(conv(p, &b->sampler, x, y, err));
done:
    hyvae_drop(p, x);
    hyvae_drop(p, &u);
    hyvae_drop(p, &w);
    return st;
}

/* y = conv(x), x consumed. */
static ff_status conv_consume(hyv_pass *p, const hyv_conv *c, ff_tensor *x, ff_tensor *y, ff_err *err) {
    ff_status st = conv(p, c, x, y, err);
    hyvae_drop(p, x);
    return st;
}

/* conv_norm_out, SiLU (in place on x), conv_out. */
static ff_status head(hyv_pass *p, const hyv_coder *c, ff_tensor *x, ff_tensor *y, ff_err *err) {
    ff_status st = FF_OK;
    OP(p, ff_op_group_norm(p->be, x, p->cfg->norm_num_groups, &c->norm_out.w, &c->norm_out.b, GN_EPS, x, err));
    OP(p, ff_op_unary(p->be, FF_UNARY_SILU, x, x, err));
    TRY(conv(p, &c->conv_out, x, y, err));
done:
    hyvae_drop(p, x);
    return st;
}

/* ---- passes ------------------------------------------------------------------------- */

ff_status hyvae_decode_pass(hyv_pass *p, const hyv_coder *dec, const hyv_conv *post_quant, ff_tensor *z,
                            ff_tensor *out, ff_err *err) {
    ff_status st = FF_OK;
    ff_tensor a = {0}, b = {0};
    TRY(conv_consume(p, post_quant, z, &a, err));
    TRY(conv_consume(p, &dec->conv_in, &a, &b, err));
    TRY(mid_block(p, dec, &b, &a, err));
    for (int i = 0; i < dec->n_blocks; i++) {
        const hyv_block *blk = &dec->blocks[i];
        for (int j = 0; j < blk->n_res; j++) {
            TRY(resnet(p, &blk->res[j], &a, &b, err));
            a = b;
            memset(&b, 0, sizeof b);
        }
        if (blk->has_sampler) {
            TRY(upsample(p, blk, &a, &b, err));
            a = b;
            memset(&b, 0, sizeof b);
        }
    }
    TRY(head(p, dec, &a, out, err));
done:
    hyvae_drop(p, z);
    hyvae_drop(p, &a);
    hyvae_drop(p, &b);
    return st;
}

ff_status hyvae_encode_pass(hyv_pass *p, const hyv_coder *enc, const hyv_conv *quant, ff_tensor *x, ff_tensor *out,
                            ff_err *err) {
    ff_status st = FF_OK;
    ff_tensor a = {0}, b = {0};
    TRY(conv_consume(p, &enc->conv_in, x, &a, err));
    for (int i = 0; i < enc->n_blocks; i++) {
        const hyv_block *blk = &enc->blocks[i];
        for (int j = 0; j < blk->n_res; j++) {
            TRY(resnet(p, &blk->res[j], &a, &b, err));
            a = b;
            memset(&b, 0, sizeof b);
        }
        if (blk->has_sampler) {
            TRY(conv_consume(p, &blk->sampler, &a, &b, err));
            a = b;
            memset(&b, 0, sizeof b);
        }
    }
    TRY(mid_block(p, enc, &a, &b, err));
    TRY(head(p, enc, &b, &a, err));
    TRY(conv_consume(p, quant, &a, out, err));
done:
    hyvae_drop(p, x);
    hyvae_drop(p, &a);
    hyvae_drop(p, &b);
    return st;
}
