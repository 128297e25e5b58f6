/* cuda_conv: conv3d (and so conv2d, which ops.c maps onto it).
 *
 * In the BF16 precisions the convolution goes to cuDNN (cuda_cudnn.c): TF32
 * tensor cores on F32 operands in FF_PREC_BF16 (torch's default for F32
 * convolutions), BF16 operands in FF_PREC_BF16_ALL, one plan per shape.
 * When cuDNN is not there or has no plan, the convolution falls back to
 * this file's im2col path (counted in ctx->conv_fallback_calls: F32 in
 * FF_PREC_BF16, BF16 columns in FF_PREC_BF16_ALL). FF_PREC_F32, the golden
 * path, is always im2col + SGEMM: exact to 1e-5 against the CPU.
 *
 * im2col: for each batch item and each chunk of output positions, the
 * receptive fields are unrolled into a column buffer col (R, pc) with
 * R = C * kt * kh * kw, and out[b, :, chunk] = w (O, R) @ col (column-major:
 * out^T = col^T w^T, so no transposes). A 1x1x1 conv with unit stride and no
 * padding multiplies x directly. BF16 weights are widened once per call.
 * The column buffer lives in the context's scratch, at most
 * FF_CUDA_COL_BYTES per chunk, so memory stays bounded for video-sized
 * inputs. BF16 im2col (FF_PREC_BF16_ALL without cuDNN): BF16 columns
 * (rounded to nearest even; the 1x1x1 shortcut goes through im2col too),
 * an F32 weight rounded once per call, a BF16 weight used as stored, and
 * cublasGemmEx multiplies BF16 x BF16 with F32 accumulation into the F32
 * output. The bias is added afterwards on every path.
 * Not here: validation and output-shape checks (ops.c). */
#include <limits.h>
#include <string.h>

#include "kernels/cuda/cuda_internal.h"

#define FF_CUDA_COL_BYTES ((size_t)128 << 20)

typedef struct {
    int64_t C, F, H, W; /* input dims of one batch item */
    int64_t OF, OH, OW; /* output dims */
    int kt, kh, kw;
    int st, sh, sw;
    int pt, ph, pw; /* front / top / left padding */
} conv_geom;

static __device__ __forceinline__ void store_col(float *col, int64_t i, float v) { col[i] = v; }
static __device__ __forceinline__ void store_col(__nv_bfloat16 *col, int64_t i, float v) {
    col[i] = __float2bfloat16_rn(v);
}

/* col (R, pc) for output positions [p0, p0 + pc) of one batch item xb (C, F, H, W). */
template <typename T>
static __global__ void k_im2col3d(const float *xb, conv_geom g, int64_t p0, int64_t pc, int64_t R, T *col) {
    FF_CU_FOR(i, R * pc) {
        const int64_t r = i / pc, j = i - r * pc, p = p0 + j;
        const int64_t dw = r % g.kw, dh = (r / g.kw) % g.kh, dt = (r / ((int64_t)g.kw * g.kh)) % g.kt;
        const int64_t c = r / ((int64_t)g.kw * g.kh * g.kt);
        const int64_t ow = p % g.OW, oh = (p / g.OW) % g.OH, of = p / (g.OW * g.OH);
        const int64_t f = of * g.st - g.pt + dt, hh = oh * g.sh - g.ph + dh, ww = ow * g.sw - g.pw + dw;
        float v = 0.0f;
        if (f >= 0 && f < g.F && hh >= 0 && hh < g.H && ww >= 0 && ww < g.W)
            v = xb[((c * g.F + f) * g.H + hh) * g.W + ww];
        store_col(col, i, v);
    }
}

/* out (rows = B * O, P) += bias[row % O] */
static __global__ void k_add_bias_channels(float *out, const void *bias, ff_dtype dt, int64_t O, int64_t P, int64_t n) {
    FF_CU_FOR(i, n) out[i] += cuda_load_f32(bias, dt, (i / P) % O);
}

static int fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

/* BF16 precision: out (B, O, P) = bf16(w) (O, R) @ bf16(col) (R, P) per batch item, F32 accumulate. */
static ff_status conv3d_bf16(cuda_ctx *ctx, const ff_tensor *x, const ff_tensor *w, const conv_geom *g, int64_t B,
                             int64_t O, int64_t R, int64_t P, float *o, ff_err *err) {
    int64_t pc = (int64_t)(FF_CUDA_COL_BYTES / 2) / R;
    if (pc < 1) pc = 1;
    if (pc > P) pc = P;
    /* scratch: [w rounded (O * R BF16), 256-byte aligned, F32 weights only][col (R * pc BF16)] */
    const size_t wbytes = w->dtype == FF_BF16 ? 0 : cuda_align256((size_t)(O * R) * 2);
    void *scratch = NULL;
    ff_status st = cuda_scratch(ctx, wbytes + (size_t)(R * pc) * 2, &scratch, err);
    if (st) return st;
    const void *wb = w->data;
    if (wbytes) {
        if ((st = cuda_round_bf16(ctx, (const float *)w->data, scratch, O * R, err))) return st;
        wb = scratch;
    }
    __nv_bfloat16 *col = (__nv_bfloat16 *)((char *)scratch + wbytes);
    const float one = 1.0f, zero = 0.0f;
    for (int64_t bi = 0; bi < B; bi++) {
        const float *xb = (const float *)x->data + bi * g->C * g->F * g->H * g->W;
        for (int64_t p0 = 0; p0 < P; p0 += pc) {
            const int64_t n = P - p0 < pc ? P - p0 : pc;
            k_im2col3d<__nv_bfloat16>
                <<<cuda_blocks(ctx, R * n, 256), 256, 0, ctx->compute>>>(xb, *g, p0, n, R, col);
            FF_CU_LAUNCHED(k_im2col3d, err);
            /* column-major: out^T (n, O) = col^T (n, R) w^T (R, O), as the F32 path */
            FF_CUBLAS(cublasGemmEx(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)O, (int)R, &one, col,
                                   CUDA_R_16BF, (int)n, wb, CUDA_R_16BF, (int)R, &zero, o + bi * O * P + p0,
                                   CUDA_R_32F, (int)P, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      err);
        }
    }
    return FF_OK;
}

ff_status cuda_conv3d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, const int stride[3],
                      const int pad[6], ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    conv_geom g;
    const int64_t B = x->shape[0], O = w->shape[0];
    g.C = x->shape[1];
    g.F = x->shape[2];
    g.H = x->shape[3];
    g.W = x->shape[4];
    g.OF = out->shape[2];
    g.OH = out->shape[3];
    g.OW = out->shape[4];
    g.kt = (int)w->shape[2];
    g.kh = (int)w->shape[3];
    g.kw = (int)w->shape[4];
    g.st = stride[0];
    g.sh = stride[1];
    g.sw = stride[2];
    g.pt = pad[0];
    g.ph = pad[2];
    g.pw = pad[4];
    const int64_t R = g.C * g.kt * g.kh * g.kw, P = g.OF * g.OH * g.OW;
    if (B == 0 || O == 0 || P == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    float *o = (float *)out->data;
    int done = 0;
    if (be->prec != FF_PREC_F32 && R > 0) {
        ff_err why;
        memset(&why, 0, sizeof why);
        ff_status st = cuda_cudnn_conv3d(be, x, w, stride, pad, ff_be_bf16_conv(be), out, &why);
        if (st == FF_OK) {
            ctx->conv_cudnn_calls++;
            done = 1;
        } else if (st != FF_ERR_UNSUPPORTED) {
            if (err) *err = why;
            return st;
        } else {
            ctx->conv_fallback_calls++; /* no cuDNN here, or no plan for this shape */
        }
    }
    if (done) {
    } else if (R == 0) {
        FF_CU(cudaMemsetAsync(o, 0, ff_tensor_nbytes(out), ctx->compute), err);
    } else if (!fits_int(O) || !fits_int(R) || !fits_int(P)) {
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: conv3d with O=%lld, C*kt*kh*kw=%lld, %lld output positions exceeds cuBLAS's int dims",
                          be->name, (long long)O, (long long)R, (long long)P);
    } else if (ff_be_bf16_conv(be)) {
        ff_status st = conv3d_bf16(ctx, x, w, &g, B, O, R, P, o, err);
        if (st) return st;
    } else {
        const int direct = g.kt == 1 && g.kh == 1 && g.kw == 1 && g.st == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 &&
                           g.ph == 0 && g.pw == 0 && pad[1] == 0 && pad[3] == 0 && pad[5] == 0;
        int64_t pc = direct ? P : (int64_t)(FF_CUDA_COL_BYTES / sizeof(float)) / R;
        if (pc < 1) pc = 1;
        if (pc > P) pc = P;
        /* scratch: [widened weight (O * R), 256-byte aligned][col (R * pc)] */
        const size_t wbytes = w->dtype == FF_F32 ? 0 : (((size_t)(O * R) * sizeof(float) + 255) & ~(size_t)255);
        const size_t cbytes = direct ? 0 : (size_t)(R * pc) * sizeof(float);
        void *scratch = NULL;
        if (wbytes + cbytes) {
            ff_status st = cuda_scratch(ctx, wbytes + cbytes, &scratch, err);
            if (st) return st;
        }
        const float *wf = (const float *)w->data;
        if (wbytes) {
            ff_status st = cuda_widen_f32(ctx, w->data, w->dtype, (float *)scratch, O * R, err);
            if (st) return st;
            wf = (const float *)scratch;
        }
        float *col = (float *)((char *)scratch + wbytes);
        const float one = 1.0f, zero = 0.0f;
        for (int64_t bi = 0; bi < B; bi++) {
            const float *xb = (const float *)x->data + bi * g.C * g.F * g.H * g.W;
            float *ob = o + bi * O * P;
            for (int64_t p0 = 0; p0 < P; p0 += pc) {
                const int64_t n = P - p0 < pc ? P - p0 : pc;
                const float *a = xb; /* direct: x[b] is already (C, P) */
                int64_t lda = P;
                if (!direct) {
                    k_im2col3d<float><<<cuda_blocks(ctx, R * n, 256), 256, 0, ctx->compute>>>(xb, g, p0, n, R, col);
                    FF_CU_LAUNCHED(k_im2col3d, err);
                    a = col;
                    lda = n;
                }
                /* column-major: out^T (n, O) = col^T (n, R) w^T (R, O) */
                FF_CUBLAS(cublasSgemm(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)O, (int)R, &one,
                                      direct ? a + p0 : a, (int)lda, wf, (int)R, &zero, ob + p0, (int)P),
                          err);
            }
        }
    }
    if (b) {
        const int64_t n = B * O * P;
        k_add_bias_channels<<<cuda_blocks(ctx, n, 256), 256, 0, ctx->compute>>>(o, b->data, b->dtype, O, P, n);
        FF_CU_LAUNCHED(k_add_bias_channels, err);
    }
    return FF_OK;
}
