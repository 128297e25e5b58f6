/* cpu_matmul: the CPU backend's linear and matmul ops, both thin mappings of
 * PyTorch's layouts onto cpu_gemm (cpu_gemm.c).
 *
 * linear: out (M, N) = x (M, K) @ w (N, K)^T + b, M = product of x's leading
 * dims; w may be BF16 (widened inside the GEMM). In BF16 precision (ops.h) the
 * F32 operands are first rounded to BF16 copies (cpu_precision.c); the bias
 * is added in F32.
 * Not here: the GEMM itself, validation (kernels/ops.c). */
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

ff_status cpu_linear(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_tensor *out,
                     ff_err *err) {
    const cpu_ctx *ctx = cpu_ctx_of(be);
    const int64_t k = x->shape[x->ndim - 1], n = w->shape[0];
    const int64_t m = k > 0 ? ff_tensor_numel(x) / k : ff_tensor_numel(out) / n;
    cpu_gemm_args g = {
        .batch = 1, .m = m, .n = n, .k = k, .alpha = 1.0f,
        .a = {x->data, FF_F32, 0, k, 0},
        .b = {w->data, w->dtype, 1, k, 0}, /* op(B) = w^T */
        .c = out->data, .ldc = n, .c_batch_stride = 0,
    };
    uint16_t *xb = NULL, *wb = NULL;
    ff_status st = FF_OK;
    if (ff_be_bf16_gemm(be)) {
        st = cpu_bf16_copy(ctx, x->data, m * k, &xb, err);
        g.a.p = xb, g.a.dt = FF_BF16;
        if (!st && w->dtype == FF_F32) {
            st = cpu_bf16_copy(ctx, w->data, n * k, &wb, err);
            g.b.p = wb, g.b.dt = FF_BF16;
        }
    }
    if (!st) st = cpu_gemm(ctx, &g, err);
    free(xb);
    free(wb);
    if (st || !b) return st;
    float *o = out->data;
    const float *bias = b->data;
#pragma omp parallel for num_threads(cpu_threads(ctx)) if (m * n > 65536)
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) o[i * n + j] += bias[j];
    return FF_OK;
}

ff_status cpu_matmul(ff_backend *be, const ff_tensor *a, const ff_tensor *b, int trans_a, int trans_b, float alpha,
                     int64_t batch, int64_t m, int64_t n, int64_t k, int b_batched, ff_tensor *out, ff_err *err) {
    /* stored layouts: a (M, K) or (K, M) when trans_a; b (K, N) or (N, K) */
    const cpu_ctx *ctx = cpu_ctx_of(be);
    cpu_gemm_args g = {
        .batch = batch, .m = m, .n = n, .k = k, .alpha = alpha,
        .a = {a->data, FF_F32, trans_a, trans_a ? m : k, m * k},
        .b = {b->data, FF_F32, trans_b, trans_b ? k : n, b_batched ? k * n : 0},
        .c = out->data, .ldc = n, .c_batch_stride = m * n,
    };
    if (!ff_be_bf16_gemm(be)) return cpu_gemm(ctx, &g, err);
    uint16_t *ab = NULL, *bb = NULL;
    ff_status st = cpu_bf16_copy(ctx, a->data, batch * m * k, &ab, err);
    if (!st) st = cpu_bf16_copy(ctx, b->data, (b_batched ? batch : 1) * k * n, &bb, err);
    g.a.p = ab, g.a.dt = FF_BF16;
    g.b.p = bb, g.b.dt = FF_BF16;
    if (!st) st = cpu_gemm(ctx, &g, err);
    free(ab);
    free(bb);
    return st;
}
