/* cuda_gemm: linear and matmul on cuBLAS, plus the two small kernels that
 * feed GEMMs (widening BF16/F16 weights to F32, adding a bias row).
 *
 * cuBLAS is column-major; a row-major (R, C) matrix is the column-major
 * (C, R) matrix with the same bytes. So row-major C = op(A) op(B) is computed
 * as column-major C^T = op(B)^T op(A)^T: the operands swap places and the
 * dims are passed as (n, m, k).
 *
 * F32 precision (the default): BF16 weights are widened into the scratch
 * buffer in chunks of output rows (at most FF_CUDA_WIDEN_CHUNK bytes) and
 * multiplied with cublasSgemm (no TF32), so results match the CPU to 1e-5.
 *
 * BF16 precision (ops.h: FF_PREC_BF16 and _ALL): cublasGemmEx / GemmStridedBatchedEx
 * with both operands CUDA_R_16BF, CUBLAS_COMPUTE_32F and an F32 output (BF16
 * tensor cores, F32 accumulation). A BF16 weight is used as stored; an F32
 * weight (or a matmul operand) is rounded into the scratch buffer, once per
 * call; the activations are rounded into scratch in chunks of rows of at
 * most FF_CUDA_BF16_CHUNK bytes (k_round_bf16, round-to-nearest-even as the
 * CPU's emulation). Bias is added in F32 afterwards.
 * Not here: validation (ops.c), conv3d (cuda_conv.cu). */
#include <limits.h>

#include "kernels/cuda/cuda_internal.h"

#define FF_CUDA_WIDEN_CHUNK ((size_t)64 << 20)
#define FF_CUDA_BF16_CHUNK ((size_t)64 << 20)

/* ---- helpers shared with cuda_conv.cu --------------------------------------- */

/* 8 BF16/F16 values (one 16-byte load) per step where aligned; scalar tail. */
static __global__ void k_widen_f32(const void *src, ff_dtype dt, float *dst, int64_t n, int vec) {
    const int64_t n8 = vec ? n / 8 : 0;
    FF_CU_FOR(i, n8) {
        const uint4 raw = ((const uint4 *)src)[i];
        const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
        float f[8];
        for (int q = 0; q < 4; q++) {
            const uint16_t lo = (uint16_t)(w[q] & 0xffffu), hi = (uint16_t)(w[q] >> 16);
            if (dt == FF_BF16) {
                f[2 * q] = __uint_as_float((uint32_t)lo << 16);
                f[2 * q + 1] = __uint_as_float((uint32_t)hi << 16);
            } else {
                f[2 * q] = __half2float(__ushort_as_half(lo));
                f[2 * q + 1] = __half2float(__ushort_as_half(hi));
            }
        }
        ((float4 *)dst)[2 * i] = make_float4(f[0], f[1], f[2], f[3]);
        ((float4 *)dst)[2 * i + 1] = make_float4(f[4], f[5], f[6], f[7]);
    }
    FF_CU_FOR(j, n - n8 * 8) dst[n8 * 8 + j] = cuda_load_f32(src, dt, n8 * 8 + j);
}

ff_status cuda_widen_f32(cuda_ctx *ctx, const void *src, ff_dtype dt, float *dst, int64_t n, ff_err *err) {
    if (n <= 0) return FF_OK;
    if (dt == FF_F32) {
        FF_CU(cudaMemcpyAsync(dst, src, (size_t)n * 4, cudaMemcpyDeviceToDevice, ctx->compute), err);
        return FF_OK;
    }
    const int vec = cuda_aligned16(src) && cuda_aligned16(dst);
    k_widen_f32<<<cuda_blocks(ctx, vec ? n / 8 + 1 : n, 256), 256, 0, ctx->compute>>>(src, dt, dst, n, vec);
    FF_CU_LAUNCHED(k_widen_f32, err);
    return FF_OK;
}

/* dst (BF16) = src (F32) rounded to nearest even; 4 values per step where aligned. */
static __global__ void k_round_bf16(const float *src, __nv_bfloat16 *dst, int64_t n, int vec) {
    const int64_t n4 = vec ? n / 4 : 0;
    FF_CU_FOR(i, n4) {
        const float4 v = ((const float4 *)src)[i];
        ((__nv_bfloat162 *)dst)[2 * i] = __floats2bfloat162_rn(v.x, v.y);
        ((__nv_bfloat162 *)dst)[2 * i + 1] = __floats2bfloat162_rn(v.z, v.w);
    }
    FF_CU_FOR(j, n - n4 * 4) dst[n4 * 4 + j] = __float2bfloat16_rn(src[n4 * 4 + j]);
}

ff_status cuda_round_bf16(cuda_ctx *ctx, const float *src, void *dst, int64_t n, ff_err *err) {
    if (n <= 0) return FF_OK;
    const int vec = cuda_aligned16(src) && ((uintptr_t)dst & 7u) == 0;
    k_round_bf16<<<cuda_blocks(ctx, vec ? n / 4 + 1 : n, 256), 256, 0, ctx->compute>>>(src, (__nv_bfloat16 *)dst, n,
                                                                                       vec);
    FF_CU_LAUNCHED(k_round_bf16, err);
    return FF_OK;
}

size_t cuda_align256(size_t n) { return (n + 255) & ~(size_t)255; }

static __global__ void k_add_bias(float *out, const void *bias, ff_dtype dt, int64_t rows, int64_t n,
                                  int64_t row_stride) {
    FF_CU_FOR(i, rows * n) {
        const int64_t r = i / n, c = i - r * n;
        out[r * row_stride + c] += cuda_load_f32(bias, dt, c);
    }
}

ff_status cuda_add_bias(cuda_ctx *ctx, float *out, const void *bias, ff_dtype bias_dt, int64_t rows, int64_t n,
                        int64_t row_stride, ff_err *err) {
    if (rows <= 0 || n <= 0) return FF_OK;
    k_add_bias<<<cuda_blocks(ctx, rows * n, 256), 256, 0, ctx->compute>>>(out, bias, bias_dt, rows, n, row_stride);
    FF_CU_LAUNCHED(k_add_bias, err);
    return FF_OK;
}

static int fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

/* ---- linear ------------------------------------------------------------------ */

/* BF16 precision: out (m, n) = bf16(x) (m, k) @ bf16(w)^T, F32 accumulate and output. */
static ff_status linear_bf16(cuda_ctx *ctx, const ff_tensor *x, const ff_tensor *w, int64_t m, int64_t n, int64_t k,
                             float *o, ff_err *err) {
    int64_t mc = (int64_t)(FF_CUDA_BF16_CHUNK / 2) / k;
    if (mc < 1) mc = 1;
    if (mc > m) mc = m;
    /* scratch: [w rounded (n * k BF16), 256-byte aligned, F32 weights only][x rows (mc * k BF16)] */
    const size_t wbytes = w->dtype == FF_BF16 ? 0 : cuda_align256((size_t)(n * k) * 2);
    void *scratch = NULL;
    ff_status st = cuda_scratch(ctx, wbytes + (size_t)(mc * k) * 2, &scratch, err);
    if (st) return st;
    const void *wb = w->data;
    if (wbytes) {
        if ((st = cuda_round_bf16(ctx, (const float *)w->data, scratch, n * k, err))) return st;
        wb = scratch;
    }
    void *xb = (char *)scratch + wbytes;
    const float one = 1.0f, zero = 0.0f;
    for (int64_t m0 = 0; m0 < m; m0 += mc) {
        const int64_t rows = m - m0 < mc ? m - m0 : mc;
        if ((st = cuda_round_bf16(ctx, (const float *)x->data + m0 * k, xb, rows * k, err))) return st;
        /* column-major: out^T (n, rows) = op(w) (n, k) x^T (k, rows), as the F32 path */
        FF_CUBLAS(cublasGemmEx(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)rows, (int)k, &one, wb,
                               CUDA_R_16BF, (int)k, xb, CUDA_R_16BF, (int)k, &zero, o + m0 * n, CUDA_R_32F, (int)n,
                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  err);
    }
    return FF_OK;
}

ff_status cuda_linear(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_tensor *out,
                      ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t k = x->shape[x->ndim - 1], n = w->shape[0];
    const int64_t m = k > 0 ? ff_tensor_numel(x) / k : (n > 0 ? ff_tensor_numel(out) / n : 0);
    if (m == 0 || n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    float *o = (float *)out->data;
    if (k == 0) { /* empty sum: out = bias or 0 */
        FF_CU(cudaMemsetAsync(o, 0, (size_t)(m * n) * sizeof(float), ctx->compute), err);
        return b ? cuda_add_bias(ctx, o, b->data, b->dtype, m, n, n, err) : FF_OK;
    }
    if (!fits_int(m) || !fits_int(n) || !fits_int(k))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: linear with M=%lld N=%lld K=%lld exceeds cuBLAS's int dims",
                          be->name, (long long)m, (long long)n, (long long)k);
    const float one = 1.0f, zero = 0.0f;
    if (ff_be_bf16_gemm(be)) {
        ff_status st = linear_bf16(ctx, x, w, m, n, k, o, err);
        if (st) return st;
    } else if (w->dtype == FF_F32) {
        /* column-major: out^T (n, m) = w^T... i.e. op(w) = T on the (k, n) view of w (N, K) */
        FF_CUBLAS(cublasSgemm(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)m, (int)k, &one,
                              (const float *)w->data, (int)k, (const float *)x->data, (int)k, &zero, o, (int)n),
                  err);
    } else {
        /* widen rows [n0, n0 + nc) of w into scratch, then out[:, n0:n0+nc] = x @ chunk^T */
        int64_t nc = (int64_t)(FF_CUDA_WIDEN_CHUNK / sizeof(float)) / k;
        if (nc < 1) nc = 1;
        if (nc > n) nc = n;
        void *scratch = NULL;
        ff_status st = cuda_scratch(ctx, (size_t)(nc * k) * sizeof(float), &scratch, err);
        if (st) return st;
        const size_t esize = ff_dtype_size(w->dtype);
        for (int64_t n0 = 0; n0 < n; n0 += nc) {
            const int64_t rows = n - n0 < nc ? n - n0 : nc;
            st = cuda_widen_f32(ctx, (const char *)w->data + (size_t)(n0 * k) * esize, w->dtype, (float *)scratch,
                                rows * k, err);
            if (st) return st;
            FF_CUBLAS(cublasSgemm(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, (int)m, (int)k, &one,
                                  (const float *)scratch, (int)k, (const float *)x->data, (int)k, &zero, o + n0,
                                  (int)n),
                      err);
        }
    }
    return b ? cuda_add_bias(ctx, o, b->data, b->dtype, m, n, n, err) : FF_OK;
}

/* ---- matmul ------------------------------------------------------------------- */

ff_status cuda_matmul(ff_backend *be, const ff_tensor *a, const ff_tensor *b, int trans_a, int trans_b, float alpha,
                      int64_t batch, int64_t m, int64_t n, int64_t k, int b_batched, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (batch == 0 || m == 0 || n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    if (k == 0) {
        FF_CU(cudaMemsetAsync(out->data, 0, (size_t)(batch * m * n) * sizeof(float), ctx->compute), err);
        return FF_OK;
    }
    if (!fits_int(batch) || !fits_int(m) || !fits_int(n) || !fits_int(k))
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: matmul with batch=%lld M=%lld N=%lld K=%lld exceeds cuBLAS's int dims", be->name,
                          (long long)batch, (long long)m, (long long)n, (long long)k);
    /* stored row-major: a (M, K) or (K, M) when trans_a; b (K, N) or (N, K) when trans_b.
     * Column-major out^T (n, m) = op(b)^T (n, k) op(a)^T (k, m). */
    const cublasOperation_t opb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t opa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int ldb = (int)(trans_b ? k : n), lda = (int)(trans_a ? m : k);
    const float zero = 0.0f;
    if (ff_be_bf16_gemm(be)) {
        /* batches in chunks whose rounded a (and b, when batched) fit FF_CUDA_BF16_CHUNK;
         * scratch: [b rounded (bc or 1 matrices), aligned][a rounded (bc matrices)] */
        const int64_t a1 = m * k, b1 = k * n;
        int64_t bc = (int64_t)(FF_CUDA_BF16_CHUNK / 2) / (a1 + (b_batched ? b1 : 0));
        if (bc < 1) bc = 1;
        if (bc > batch) bc = batch;
        const size_t bbytes = cuda_align256((size_t)((b_batched ? bc : 1) * b1) * 2);
        void *scratch = NULL;
        ff_status st = cuda_scratch(ctx, bbytes + (size_t)(bc * a1) * 2, &scratch, err);
        if (st) return st;
        void *bb = scratch, *ab = (char *)scratch + bbytes;
        if (!b_batched && (st = cuda_round_bf16(ctx, (const float *)b->data, bb, b1, err))) return st;
        for (int64_t b0 = 0; b0 < batch; b0 += bc) {
            const int64_t nb = batch - b0 < bc ? batch - b0 : bc;
            if (b_batched && (st = cuda_round_bf16(ctx, (const float *)b->data + b0 * b1, bb, nb * b1, err)))
                return st;
            if ((st = cuda_round_bf16(ctx, (const float *)a->data + b0 * a1, ab, nb * a1, err))) return st;
            FF_CUBLAS(cublasGemmStridedBatchedEx(ctx->cublas, opb, opa, (int)n, (int)m, (int)k, &alpha, bb,
                                                 CUDA_R_16BF, ldb, b_batched ? (long long)b1 : 0LL, ab, CUDA_R_16BF,
                                                 lda, (long long)a1, &zero, (float *)out->data + b0 * m * n,
                                                 CUDA_R_32F, (int)n, (long long)(m * n), (int)nb,
                                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      err);
        }
        return FF_OK;
    }
    FF_CUBLAS(cublasSgemmStridedBatched(ctx->cublas, opb, opa, (int)n, (int)m, (int)k, &alpha, (const float *)b->data,
                                        ldb, b_batched ? (long long)(k * n) : 0LL, (const float *)a->data, lda,
                                        (long long)(m * k), &zero, (float *)out->data, (int)n, (long long)(m * n),
                                        (int)batch),
              err);
    return FF_OK;
}
