/* cuda_gemm: linear and matmul on cuBLAS, plus the two small kernels that
 * feed GEMMs (widening BF16/F16 weights to F32, adding a bias row).
 *
 * cuBLAS is column-major; a row-major (R, C) matrix is the column-major
 * (C, R) matrix with the same bytes. So row-major C = op(A) op(B) is computed
 * as column-major C^T = op(B)^T op(A)^T: the operands swap places and the
 * dims are passed as (n, m, k).
 *
 * BF16 weights: cublasGemmEx with CUDA_R_16BF needs both operands in BF16,
 * and the activations are F32, so the weight is widened into the scratch
 * buffer in chunks of output rows (at most FF_CUDA_WIDEN_CHUNK bytes) and
 * multiplied with cublasSgemm. TODO(cuda): a cuBLASLt mixed-precision path
 * (or BF16 activations) to avoid the widening pass and the F32 GEMM.
 * Not here: validation (ops.c), conv3d (cuda_conv.cu). */
#include <limits.h>

#include "kernels/cuda/cuda_internal.h"

#define FF_CUDA_WIDEN_CHUNK ((size_t)64 << 20)

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
    if (w->dtype == FF_F32) {
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
    FF_CUBLAS(cublasSgemmStridedBatched(ctx->cublas, opb, opa, (int)n, (int)m, (int)k, &alpha, (const float *)b->data,
                                        ldb, b_batched ? (long long)(k * n) : 0LL, (const float *)a->data, lda,
                                        (long long)(m * k), &zero, (float *)out->data, (int)n, (long long)(m * n),
                                        (int)batch),
              err);
    return FF_OK;
}
