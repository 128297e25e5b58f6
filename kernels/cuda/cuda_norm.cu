/* cuda_norm: the CUDA backend's reductions over rows and groups: softmax,
 * rms_norm, layer_norm (one block per row of the last dim, warp-shuffle
 * reductions), group_norm (several blocks per (batch, group), two passes)
 * and the Wan VAE's
 * channel L2 norm (one thread per (batch, position), walking the channels).
 *
 * Statistics are two-pass (mean, then the mean of squared deviations) in
 * F32, matching the CPU backend to well under 1e-5. All allow out == x:
 * a thread writes only elements it has already read, after the block's
 * statistics are complete.
 * Not here: sdpa's online softmax (cuda_attention.cu). */
#include <stdint.h>

#include "kernels/cuda/cuda_host_plan.h"
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

/* Split over several blocks per group (cuda_group_norm_plan): a (batch, group)
 * is the contiguous span of cpg channels times s positions, n values. Pass 1:
 * each block takes its chunk's count, mean and sum of squared deviations
 * (two-pass over the chunk, which stays in L1/L2). Pass 2: each block
 * merges its group's partials (Chan's parallel formula, in double), then
 * normalises its chunk. x is read twice and out written once, by
 * groups x splits blocks: enough to fill the device even for the VAE's 32
 * groups. out may be x (pass 2 writes only what it read). */
typedef struct {
    const float *x;
    float *y;
    int64_t groups, cpg, s, n, splits, chunk;
    const void *gamma, *beta;
    ff_dtype gdt, bdt;
    float eps;
    float2 *part; /* (groups * splits): mean, M2 of each chunk */
} gn_args;

static __device__ __forceinline__ int64_t gn_len(const gn_args &a, int64_t sp) {
    const int64_t lo = sp * a.chunk, hi = lo + a.chunk < a.n ? lo + a.chunk : a.n;
    return hi > lo ? hi - lo : 0;
}

static __global__ void k_gn_stats(gn_args a) {
    __shared__ float sh[33];
    const int64_t blk = blockIdx.x, bg = blk / a.splits, sp = blk % a.splits;
    const int64_t len = gn_len(a, sp);
    const float *xc = a.x + bg * a.n + sp * a.chunk;
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) sum += xc[i];
    const float mean = len ? cuda_block_reduce(sum, sh, 0) / (float)len : 0.0f;
    float m2 = 0.0f;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) m2 += (xc[i] - mean) * (xc[i] - mean);
    m2 = cuda_block_reduce(m2, sh, 0);
    if (threadIdx.x == 0) a.part[blk] = make_float2(mean, m2);
}

static __global__ void k_gn_apply(gn_args a) {
    __shared__ float stat[2];
    const int64_t blk = blockIdx.x, bg = blk / a.splits, sp = blk % a.splits;
    if (threadIdx.x == 0) { /* Chan: merge the group's chunks */
        double nt = 0.0, mean = 0.0, m2 = 0.0;
        for (int64_t j = 0; j < a.splits; j++) {
            const double nj = (double)gn_len(a, j);
            if (nj == 0.0) continue;
            const float2 p = a.part[bg * a.splits + j];
            const double d = (double)p.x - mean, n2 = nt + nj;
            mean += d * nj / n2;
            m2 += (double)p.y + d * d * nt * nj / n2;
            nt = n2;
        }
        stat[0] = (float)mean;
        stat[1] = (float)(1.0 / sqrt(m2 / (nt > 0.0 ? nt : 1.0) + (double)a.eps));
    }
    __syncthreads();
    const float mean = stat[0], r = stat[1];
    const int64_t g = bg % a.groups, len = gn_len(a, sp), off = bg * a.n + sp * a.chunk;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
        const int64_t c = g * a.cpg + (sp * a.chunk + i) / a.s;
        float o = (a.x[off + i] - mean) * r;
        if (a.gamma) o *= cuda_load_f32(a.gamma, a.gdt, c);
        if (a.beta) o += cuda_load_f32(a.beta, a.bdt, c);
        a.y[off + i] = o;
    }
}

ff_status cuda_group_norm(ff_backend *be, const ff_tensor *x, int groups, const ff_tensor *gamma, const ff_tensor *beta,
                          float eps, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t B = x->shape[0], C = x->shape[1];
    const int64_t s = B * C != 0 ? ff_tensor_numel(x) / (B * C) : 0;
    if (B * C * s == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    gn_args a;
    a.x = (const float *)x->data;
    a.y = (float *)out->data;
    a.groups = groups;
    a.cpg = C / groups;
    a.s = s;
    a.n = a.cpg * s;
    cuda_gn_plan p;
    cuda_group_norm_plan(B * groups, a.n, ctx->sm_count, &p);
    a.splits = p.splits;
    a.chunk = p.chunk;
    a.gamma = gamma ? gamma->data : NULL;
    a.gdt = gamma ? gamma->dtype : FF_F32;
    a.beta = beta ? beta->data : NULL;
    a.bdt = beta ? beta->dtype : FF_F32;
    a.eps = eps;
    const int64_t blocks = B * groups * p.splits;
    if (blocks > INT32_MAX)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: group_norm over %lld blocks", be->name, (long long)blocks);
    void *part = NULL;
    ff_status st = cuda_scratch(ctx, (size_t)blocks * sizeof(float2), &part, err);
    if (st) return st;
    a.part = (float2 *)part;
    k_gn_stats<<<(unsigned)blocks, 256, 0, ctx->compute>>>(a);
    FF_CU_LAUNCHED(k_gn_stats, err);
    k_gn_apply<<<(unsigned)blocks, 256, 0, ctx->compute>>>(a);
    FF_CU_LAUNCHED(k_gn_apply, err);
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
