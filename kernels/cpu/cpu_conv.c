/* cpu_conv: 3-D convolution on the CPU backend (conv2d arrives here as
 * kt = 1): on oneDNN where the build has it (cpu_conv_dnnl.c), else (and
 * for a problem oneDNN has no primitive for) as im2col + GEMM, below.
 *
 * For each (batch, output frame) the receptive fields of a band of output
 * rows are unrolled into col (C*kt*kh*kw, rows*W'), zeros where the padding
 * is, and out[b, :, f', band] = w (O, C*kt*kh*kw) @ col. The band is sized so
 * that col stays near COL_FLOATS, whatever the resolution (a Wan VAE decode
 * at full resolution would need gigabytes for one frame's col). A 1x1x1
 * kernel with stride 1 and no padding needs no col at all: x itself is the
 * B operand. Bias is added in one pass at the end. In FF_PREC_BF16_ALL
 * (ops.h; FF_PREC_BF16 leaves conv in F32) an F32 weight is rounded to a
 * BF16 copy once per call and every col is
 * rounded in place after im2col (the 1x1x1 shortcut is not taken, so the
 * rounded copy of x stays one band's size).
 * Not here: validation and the output-size formula's checks (kernels/ops.c). */
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_dnnl.h"
#include "kernels/cpu/cpu_internal.h"

#define COL_FLOATS ((int64_t)1 << 22) /* 16 MiB of im2col per GEMM */

typedef struct {
    int64_t c, f, h, w;       /* input (per batch) */
    int64_t o, fo, ho, wo;    /* output (per batch) */
    int64_t kt, kh, kw;
    int st, sh, sw;
    int pt, ph, pw;           /* front, top, left padding */
} conv_geom;

/* col (CK, hn*wo) for output frame fo and output rows [h0, h0 + hn) of one batch. */
static void im2col(const conv_geom *g, const float *x, int64_t fo, int64_t h0, int64_t hn, float *col, int nt) {
    const int64_t ck = g->c * g->kt * g->kh * g->kw, ncol = hn * g->wo;
#pragma omp parallel for num_threads(nt) if (ck * ncol > 65536)
    for (int64_t r = 0; r < ck; r++) {
        int64_t dw = r % g->kw, dh = (r / g->kw) % g->kh, dt = (r / (g->kw * g->kh)) % g->kt;
        int64_t c = r / (g->kw * g->kh * g->kt);
        int64_t ti = fo * g->st - g->pt + dt;
        float *dst = col + r * ncol;
        if (ti < 0 || ti >= g->f) {
            memset(dst, 0, (size_t)ncol * sizeof(float));
            continue;
        }
        const float *plane = x + (c * g->f + ti) * g->h * g->w;
        for (int64_t i = 0; i < hn; i++, dst += g->wo) {
            int64_t hi = (h0 + i) * g->sh - g->ph + dh;
            if (hi < 0 || hi >= g->h) {
                memset(dst, 0, (size_t)g->wo * sizeof(float));
                continue;
            }
            const float *src = plane + hi * g->w;
            for (int64_t j = 0; j < g->wo; j++) {
                int64_t wi = j * g->sw - g->pw + dw;
                dst[j] = (wi >= 0 && wi < g->w) ? src[wi] : 0.0f;
            }
        }
    }
}

static int is_pointwise(const conv_geom *g, const int pad[6]) {
    for (int i = 0; i < 6; i++)
        if (pad[i]) return 0;
    return g->kt == 1 && g->kh == 1 && g->kw == 1 && g->st == 1 && g->sh == 1 && g->sw == 1;
}

ff_status cpu_conv3d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, const int stride[3],
                     const int pad[6], ff_tensor *out, ff_err *err) {
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const int nt = cpu_threads(ctx);
#ifdef FF_HAVE_DNNL
    if (ctx->dnnl) {
        const ff_tensor *xs[1] = {x};
        ff_status ds = cpu_dnnl_conv3d(ctx, xs, 1, w, b, stride, pad, ff_be_bf16_conv(be), out, err);
        if (ds != FF_ERR_UNSUPPORTED) return ds;
    }
#endif
    const conv_geom g = {
        .c = x->shape[1], .f = x->shape[2], .h = x->shape[3], .w = x->shape[4],
        .o = out->shape[1], .fo = out->shape[2], .ho = out->shape[3], .wo = out->shape[4],
        .kt = w->shape[2], .kh = w->shape[3], .kw = w->shape[4],
        .st = stride[0], .sh = stride[1], .sw = stride[2],
        .pt = pad[0], .ph = pad[2], .pw = pad[4],
    };
    const int64_t nb = x->shape[0], ck = g.c * g.kt * g.kh * g.kw;
    const int64_t x_batch = g.c * g.f * g.h * g.w, o_batch = g.o * g.fo * g.ho * g.wo;
    const int64_t o_plane = g.ho * g.wo;
    const float *xd = x->data;
    float *od = out->data;
    ff_status st = FF_OK;
    const int bf = ff_be_bf16_conv(be);
    uint16_t *wb = NULL; /* BF16 conv: the F32 weight rounded */
    const void *wp = w->data;
    ff_dtype wdt = w->dtype;
    if (bf && wdt == FF_F32) {
        if ((st = cpu_bf16_copy(ctx, w->data, g.o * ck, &wb, err))) return st;
        wp = wb, wdt = FF_BF16;
    }
    if (is_pointwise(&g, pad) && !bf) { /* out[b] (O, F*H*W) = w (O, C) @ x[b] (C, F*H*W) */
        const int64_t s = g.f * g.h * g.w;
        cpu_gemm_args ga = {
            .batch = nb, .m = g.o, .n = s, .k = g.c, .alpha = 1.0f,
            .a = {w->data, w->dtype, 0, g.c, 0},
            .b = {xd, FF_F32, 0, s, x_batch},
            .c = od, .ldc = s, .c_batch_stride = o_batch,
        };
        st = cpu_gemm(ctx, &ga, err);
    } else {
        int64_t rows = ck * g.wo > 0 ? COL_FLOATS / (ck * g.wo) : g.ho;
        if (rows < 1) rows = 1;
        if (rows > g.ho) rows = g.ho;
        float *col = malloc((size_t)(ck * rows * g.wo) * sizeof(float) + sizeof(float));
        if (!col) {
            free(wb);
            return ff_err_set(err, FF_ERR_NOMEM, "cpu conv3d: cannot allocate %lld floats of im2col",
                              (long long)(ck * rows * g.wo));
        }
        for (int64_t bi = 0; bi < nb && !st; bi++)
            for (int64_t fo = 0; fo < g.fo && !st; fo++)
                for (int64_t h0 = 0; h0 < g.ho && !st; h0 += rows) {
                    int64_t hn = g.ho - h0 < rows ? g.ho - h0 : rows;
                    im2col(&g, xd + bi * x_batch, fo, h0, hn, col, nt);
                    if (bf) cpu_round_bf16(ctx, col, ck * hn * g.wo);
                    /* C rows are output channels: stride F'*H'*W' between them */
                    cpu_gemm_args ga = {
                        .batch = 1, .m = g.o, .n = hn * g.wo, .k = ck, .alpha = 1.0f,
                        .a = {wp, wdt, 0, ck, 0},
                        .b = {col, FF_F32, 0, hn * g.wo, 0},
                        .c = od + bi * o_batch + fo * o_plane + h0 * g.wo, .ldc = g.fo * o_plane,
                    };
                    st = cpu_gemm(ctx, &ga, err);
                }
        free(col);
    }
    free(wb);
    if (st || !b) return st;
    const float *bias = b->data;
    const int64_t per_channel = g.fo * o_plane;
#pragma omp parallel for num_threads(nt) if (nb * o_batch > 65536)
    for (int64_t bo = 0; bo < nb * g.o; bo++) {
        float *p = od + bo * per_channel;
        const float bv = bias[bo % g.o];
        for (int64_t i = 0; i < per_channel; i++) p[i] += bv;
    }
    return FF_OK;
}

/* conv3d over the frames of xs in order: oneDNN reads the pieces in place;
 * the im2col path gets them concatenated into scratch (plain malloc, as
 * im2col's own buffer). */
ff_status cpu_conv3d_frames(ff_backend *be, const ff_tensor *const *xs, int n, const ff_tensor *w, const ff_tensor *b,
                            const int stride[3], const int pad[6], ff_tensor *out, ff_err *err) {
#ifdef FF_HAVE_DNNL
    const cpu_ctx *ctx = cpu_ctx_of(be);
    if (ctx->dnnl) {
        ff_status ds = cpu_dnnl_conv3d(ctx, xs, n, w, b, stride, pad, ff_be_bf16_conv(be), out, err);
        if (ds != FF_ERR_UNSUPPORTED) return ds;
    }
#endif
    int64_t f = 0;
    for (int i = 0; i < n; i++) f += xs[i]->shape[2];
    const int64_t shape[5] = {xs[0]->shape[0], xs[0]->shape[1], f, xs[0]->shape[3], xs[0]->shape[4]};
    ff_tensor cat;
    ff_tensor_view(&cat, FF_F32, 5, shape, NULL, FF_LOC_HOST);
    cat.data = malloc(ff_tensor_nbytes(&cat) + 1);
    if (!cat.data)
        return ff_err_set(err, FF_ERR_NOMEM, "cpu conv3d: cannot allocate %zu bytes for the frames",
                          ff_tensor_nbytes(&cat));
    ff_status st = cpu_concat(be, xs, n, 2, &cat, err);
    if (!st) st = cpu_conv3d(be, &cat, w, b, stride, pad, out, err);
    free(cat.data);
    return st;
}
