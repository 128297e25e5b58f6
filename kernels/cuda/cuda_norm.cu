/* cuda_norm: the CUDA backend's reductions over rows and groups: softmax,
 * rms_norm, layer_norm (one block per row of the last dim, warp-shuffle
 * reductions), group_norm (one block per (batch, group)) and the Wan VAE's
 * channel L2 norm (one thread per (batch, position), walking the channels).
 *
 * Statistics are two-pass (mean, then the mean of squared deviations) in
 * F32, matching the CPU backend to well under 1e-5. All allow out == x:
 * a thread writes only elements it has already read, after the block's
 * statistics are complete.
 * Not here: sdpa's online softmax (cuda_attention.cu). */
#include "kernels/cuda/cuda_internal.h"

/* Threads per row: a multiple of 32, no more than the row needs, at most 256. */
static int row_threads(int64_t d) {
    int t = 32;
    while (t < 256 && t < d) t *= 2;
    return t;
}

/* One block per row, the blocks striding over rows beyond 2^20. */
static dim3 row_grid(int64_t rows) { return dim3((unsigned)(rows < (1 << 20) ? rows : (1 << 20)), 1, 1); }

#define FF_CU_FOR_ROWS(r, rows) for (int64_t r = blockIdx.x; r < (rows); r += gridDim.x)

/* ---- softmax ------------------------------------------------------------------- */

static __global__ void k_softmax(const float *x, float *y, int64_t rows, int64_t d) {
    __shared__ float sh[33];
    FF_CU_FOR_ROWS(row, rows) {
        const float *xr = x + row * d;
        float *yr = y + row * d;
        float m = -INFINITY;
        for (int64_t i = threadIdx.x; i < d; i += blockDim.x) m = fmaxf(m, xr[i]);
        m = cuda_block_reduce(m, sh, 1);
        float s = 0.0f;
        for (int64_t i = threadIdx.x; i < d; i += blockDim.x) s += expf(xr[i] - m);
        s = cuda_block_reduce(s, sh, 0);
        const float inv = 1.0f / s;
        for (int64_t i = threadIdx.x; i < d; i += blockDim.x) yr[i] = expf(xr[i] - m) * inv;
    }
}

ff_status cuda_softmax(ff_backend *be, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t d = x->ndim ? x->shape[x->ndim - 1] : 1;
    const int64_t rows = d ? ff_tensor_numel(x) / d : 0;
    if (rows == 0 || d == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    k_softmax<<<row_grid(rows), row_threads(d), 0, ctx->compute>>>((const float *)x->data, (float *)out->data, rows, d);
    FF_CU_LAUNCHED(k_softmax, err);
    return FF_OK;
}

/* ---- rms_norm / layer_norm ---------------------------------------------------------- */

/* out = x * rsqrt(mean(x^2) + eps) * w; w (D) or NULL. */
static __global__ void k_rms_norm(const float *x, const void *w, ff_dtype wdt, float eps, float *y, int64_t rows,
                                  int64_t d) {
    __shared__ float sh[33];
    FF_CU_FOR_ROWS(row, rows) {
        const float *xr = x + row * d;
        float *yr = y + row * d;
        float ss = 0.0f;
        for (int64_t i = threadIdx.x; i < d; i += blockDim.x) ss += xr[i] * xr[i];
        ss = cuda_block_reduce(ss, sh, 0);
        const float r = 1.0f / sqrtf(ss / (float)d + eps);
        for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
            const float v = xr[i] * r;
            yr[i] = w ? v * cuda_load_f32(w, wdt, i) : v;
        }
    }
}

/* out = (x - mean) / sqrt(var + eps) * w + b, biased variance; w, b (D) or NULL. */
static __global__ void k_layer_norm(const float *x, const void *w, ff_dtype wdt, const void *b, ff_dtype bdt, float eps,
                                    float *y, int64_t rows, int64_t d) {
    __shared__ float sh[33];
    FF_CU_FOR_ROWS(row, rows) {
        const float *xr = x + row * d;
        float *yr = y + row * d;
        float s = 0.0f;
        for (int64_t i = threadIdx.x; i < d; i += blockDim.x) s += xr[i];
        const float mean = cuda_block_reduce(s, sh, 0) / (float)d;
        float v = 0.0f;
        for (int64_t i = threadIdx.x; i < d; i += blockDim.x) v += (xr[i] - mean) * (xr[i] - mean);
        const float r = 1.0f / sqrtf(cuda_block_reduce(v, sh, 0) / (float)d + eps);
        for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
            float o = (xr[i] - mean) * r;
            if (w) o *= cuda_load_f32(w, wdt, i);
            if (b) o += cuda_load_f32(b, bdt, i);
            yr[i] = o;
        }
    }
}

ff_status cuda_rms_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, ff_tensor *out,
                        ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t d = x->shape[x->ndim - 1];
    const int64_t rows = d ? ff_tensor_numel(x) / d : 0;
    if (rows == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    k_rms_norm<<<row_grid(rows), row_threads(d), 0, ctx->compute>>>(
        (const float *)x->data, w ? w->data : NULL, w ? w->dtype : FF_F32, eps, (float *)out->data, rows, d);
    FF_CU_LAUNCHED(k_rms_norm, err);
    return FF_OK;
}

ff_status cuda_layer_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, float eps,
                          ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t d = x->shape[x->ndim - 1];
    const int64_t rows = d ? ff_tensor_numel(x) / d : 0;
    if (rows == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    k_layer_norm<<<row_grid(rows), row_threads(d), 0, ctx->compute>>>(
        (const float *)x->data, w ? w->data : NULL, w ? w->dtype : FF_F32, b ? b->data : NULL, b ? b->dtype : FF_F32,
        eps, (float *)out->data, rows, d);
    FF_CU_LAUNCHED(k_layer_norm, err);
    return FF_OK;
}

/* ---- group_norm ------------------------------------------------------------------------ */

/* One block per (batch, group): the group is the contiguous span of cpg
 * channels times s positions. TODO(cuda): split big groups (the VAE's) over
 * several blocks; B * groups blocks leave most SMs idle. */
static __global__ void k_group_norm(const float *x, int64_t groups, int64_t cpg, int64_t s, const void *gamma,
                                    ff_dtype gdt, const void *beta, ff_dtype bdt, float eps, float *y, int64_t nbg) {
    __shared__ float sh[33];
    FF_CU_FOR_ROWS(bg, nbg) {
        const int64_t g = bg % groups, n = cpg * s;
        const float *xg = x + bg * n;
        float *yg = y + bg * n;
        float sum = 0.0f;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += xg[i];
        const float mean = cuda_block_reduce(sum, sh, 0) / (float)n;
        float v = 0.0f;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v += (xg[i] - mean) * (xg[i] - mean);
        const float r = 1.0f / sqrtf(cuda_block_reduce(v, sh, 0) / (float)n + eps);
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            const int64_t c = g * cpg + i / s;
            float o = (xg[i] - mean) * r;
            if (gamma) o *= cuda_load_f32(gamma, gdt, c);
            if (beta) o += cuda_load_f32(beta, bdt, c);
            yg[i] = o;
        }
    }
}

ff_status cuda_group_norm(ff_backend *be, const ff_tensor *x, int groups, const ff_tensor *gamma, const ff_tensor *beta,
                          float eps, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t B = x->shape[0], C = x->shape[1];
    const int64_t s = B * C != 0 ? ff_tensor_numel(x) / (B * C) : 0;
    if (B * C * s == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const int64_t cpg = C / groups;
    k_group_norm<<<row_grid(B * groups), 512, 0, ctx->compute>>>(
        (const float *)x->data, groups, cpg, s, gamma ? gamma->data : NULL, gamma ? gamma->dtype : FF_F32,
        beta ? beta->data : NULL, beta ? beta->dtype : FF_F32, eps, (float *)out->data, B * groups);
    FF_CU_LAUNCHED(k_group_norm, err);
    return FF_OK;
}

/* ---- l2norm_channels ------------------------------------------------------------------------ */

/* x (B, C, S): out = x / max(||x[b, :, s]||, eps) * scale * gamma[c] + beta[c].
 * Threads run along s, so each channel's loads are coalesced. */
static __global__ void k_l2norm_channels(const float *x, int64_t C, int64_t S, const void *gamma, ff_dtype gdt,
                                         const void *beta, ff_dtype bdt, float scale, float eps, float *y, int64_t n) {
    FF_CU_FOR(i, n) {
        const int64_t b = i / S, s = i - b * S;
        const float *xp = x + b * C * S + s;
        float *yp = y + b * C * S + s;
        float ss = 0.0f;
        for (int64_t c = 0; c < C; c++) ss += xp[c * S] * xp[c * S];
        const float inv = 1.0f / fmaxf(sqrtf(ss), eps);
        for (int64_t c = 0; c < C; c++) {
            const float sc = (gamma ? cuda_load_f32(gamma, gdt, c) : 1.0f) * scale;
            const float sh = beta ? cuda_load_f32(beta, bdt, c) : 0.0f;
            yp[c * S] = xp[c * S] * inv * sc + sh;
        }
    }
}

ff_status cuda_l2norm_channels(ff_backend *be, const ff_tensor *x, const ff_tensor *gamma, const ff_tensor *beta,
                               float scale, float eps, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t B = x->shape[0], C = x->ndim > 1 ? x->shape[1] : 1;
    const int64_t S = B * C != 0 ? ff_tensor_numel(x) / (B * C) : 0;
    const int64_t n = B * S;
    if (n == 0 || C == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    k_l2norm_channels<<<cuda_blocks(ctx, n, 256), 256, 0, ctx->compute>>>(
        (const float *)x->data, C, S, gamma ? gamma->data : NULL, gamma ? gamma->dtype : FF_F32,
        beta ? beta->data : NULL, beta ? beta->dtype : FF_F32, scale, eps, (float *)out->data, n);
    FF_CU_LAUNCHED(k_l2norm_channels, err);
    return FF_OK;
}
