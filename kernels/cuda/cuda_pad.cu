/* cuda_pad: the CUDA backend's replicate padding (ff_op_pad_replicate3d),
 * the padding HunyuanVideo's causal 3-D convolutions apply before Conv3d:
 * one output element per thread, read from the clamped source position
 * (writes coalesced along W). Not here: validation (ops.c). */
#include <stdint.h>

#include "kernels/cuda/cuda_internal.h"

#define FF_CU_THREADS 256

static __device__ __forceinline__ int64_t clamp_idx(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

/* x (P, F, H, W) -> y (P, Fo, Ho, Wo), P = N*C planes. */
static __global__ void k_pad_replicate3d(const float *x, float *y, int64_t F, int64_t H, int64_t W, int64_t Fo,
                                         int64_t Ho, int64_t Wo, int pf, int ph, int pw, int64_t n) {
    FF_CU_FOR(i, n) {
        const int64_t wo = i % Wo, r = i / Wo, ho = r % Ho, r2 = r / Ho, fo = r2 % Fo, p = r2 / Fo;
        const int64_t f = clamp_idx(fo - pf, F), h = clamp_idx(ho - ph, H), w = clamp_idx(wo - pw, W);
        y[i] = x[((p * F + f) * H + h) * W + w];
    }
}

ff_status cuda_pad_replicate3d(ff_backend *be, const ff_tensor *x, const int pad[6], ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t n = ff_tensor_numel(out);
    if (n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    k_pad_replicate3d<<<cuda_blocks(ctx, n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(
        (const float *)x->data, (float *)out->data, x->shape[2], x->shape[3], x->shape[4], out->shape[2],
        out->shape[3], out->shape[4], pad[0], pad[2], pad[4], n);
    FF_CU_LAUNCHED(k_pad_replicate3d, err);
    return FF_OK;
}
