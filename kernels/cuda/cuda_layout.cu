/* cuda_layout: the CUDA backend's data-movement ops: copy (with F32 / BF16 /
 * F16 conversion), slice, concat, permute, nearest upsampling and the
 * embedding gather.
 *
 * slice and concat are strided row copies (copy2d) in the widest unit
 * (16, 8, 4, 2 or 1 bytes) that the pointers, widths and pitches allow.
 * permute collapses dims that stay adjacent, then gathers one element per
 * thread (writes coalesced). embedding checks every id on the device and,
 * because an out-of-range id is an FF_ERR_ARG naming it, waits for the
 * compute stream to read the verdict back: it is the one op that syncs.
 * Not here: math (cuda_elementwise.cu), validation (ops.c). */
#include <stdint.h>

#include "kernels/cuda/cuda_internal.h"

#define FF_CU_THREADS 256

/* ---- copy / convert ---------------------------------------------------------------- */

static __global__ void k_convert(const void *src, ff_dtype sdt, void *dst, ff_dtype ddt, int64_t n) {
    FF_CU_FOR(i, n) {
        const float v = cuda_load_f32(src, sdt, i);
        if (ddt == FF_BF16)
            ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v);
        else if (ddt == FF_F16)
            ((__half *)dst)[i] = __float2half_rn(v);
        else
            ((float *)dst)[i] = v;
    }
}

static int is_float_dtype(ff_dtype dt) { return dt == FF_F32 || dt == FF_BF16 || dt == FF_F16; }

ff_status cuda_copy(ff_backend *be, const ff_tensor *src, ff_tensor *dst, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t n = ff_tensor_numel(src);
    if (n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    if (src->dtype == dst->dtype) {
        if (src->data != dst->data)
            FF_CU(cudaMemcpyAsync(dst->data, src->data, ff_tensor_nbytes(src), cudaMemcpyDeviceToDevice, ctx->compute),
                  err);
        return FF_OK;
    }
    if (!is_float_dtype(src->dtype) || !is_float_dtype(dst->dtype))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: copy from %s to %s (CUDA converts F32, BF16, F16 only)",
                          be->name, ff_dtype_name(src->dtype), ff_dtype_name(dst->dtype));
    k_convert<<<cuda_blocks(ctx, n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(src->data, src->dtype, dst->data,
                                                                                      dst->dtype, n);
    FF_CU_LAUNCHED(k_convert, err);
    return FF_OK;
}

/* ---- strided row copies: slice, concat --------------------------------------------- */

/* rows rows of w units each; row r from src + r * sp to dst + r * dp (units). */
template <typename T>
static __global__ void k_copy2d(const T *src, int64_t sp, T *dst, int64_t dp, int64_t rows, int64_t w) {
    FF_CU_FOR(i, rows * w) {
        const int64_t r = i / w, c = i - r * w;
        dst[r * dp + c] = src[r * sp + c];
    }
}

/* Byte-level description of one copy2d; picks the widest unit that divides everything. */
static ff_status copy2d(cuda_ctx *ctx, const void *src, size_t sp, void *dst, size_t dp, int64_t rows, size_t w,
                        ff_err *err) {
    if (rows == 0 || w == 0) return FF_OK;
    const uintptr_t all = (uintptr_t)src | (uintptr_t)dst | sp | dp | w;
    size_t u = 16;
    while (u > 1 && (all & (u - 1))) u >>= 1;
    const int64_t wu = (int64_t)(w / u), spu = (int64_t)(sp / u), dpu = (int64_t)(dp / u);
    const unsigned blocks = cuda_blocks(ctx, rows * wu, FF_CU_THREADS);
    switch (u) {
    case 16:
        k_copy2d<uint4>
            <<<blocks, FF_CU_THREADS, 0, ctx->compute>>>((const uint4 *)src, spu, (uint4 *)dst, dpu, rows, wu);
        break;
    case 8:
        k_copy2d<uint2>
            <<<blocks, FF_CU_THREADS, 0, ctx->compute>>>((const uint2 *)src, spu, (uint2 *)dst, dpu, rows, wu);
        break;
    case 4:
        k_copy2d<uint32_t>
            <<<blocks, FF_CU_THREADS, 0, ctx->compute>>>((const uint32_t *)src, spu, (uint32_t *)dst, dpu, rows, wu);
        break;
    case 2:
        k_copy2d<uint16_t>
            <<<blocks, FF_CU_THREADS, 0, ctx->compute>>>((const uint16_t *)src, spu, (uint16_t *)dst, dpu, rows, wu);
        break;
    default:
        k_copy2d<uint8_t>
            <<<blocks, FF_CU_THREADS, 0, ctx->compute>>>((const uint8_t *)src, spu, (uint8_t *)dst, dpu, rows, wu);
        break;
    }
    FF_CU_LAUNCHED(k_copy2d, err);
    return FF_OK;
}

ff_status cuda_slice(ff_backend *be, const ff_tensor *x, int axis, int64_t start, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (ff_tensor_numel(out) == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const size_t es = ff_dtype_size(x->dtype);
    const int64_t outer = cuda_prod(x->shape, 0, axis), inner = cuda_prod(x->shape, axis + 1, x->ndim);
    const int64_t len = out->shape[axis], full = x->shape[axis];
    return copy2d(ctx, (const char *)x->data + (size_t)(start * inner) * es, (size_t)(full * inner) * es, out->data,
                  (size_t)(len * inner) * es, outer, (size_t)(len * inner) * es, err);
}

ff_status cuda_concat(ff_backend *be, const ff_tensor *const *xs, int n, int axis, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (ff_tensor_numel(out) == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const size_t es = ff_dtype_size(out->dtype);
    const int64_t outer = cuda_prod(out->shape, 0, axis), inner = cuda_prod(out->shape, axis + 1, out->ndim);
    const size_t dp = (size_t)(out->shape[axis] * inner) * es;
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        const int64_t len = xs[i]->shape[axis];
        const size_t w = (size_t)(len * inner) * es;
        ff_status st = copy2d(ctx, xs[i]->data, w, (char *)out->data + (size_t)(off * inner) * es, dp, outer, w, err);
        if (st) return st;
        off += len;
    }
    return FF_OK;
}

/* ---- permute ------------------------------------------------------------------------- */

typedef struct {
    int nd;
    int64_t shape[FF_MAX_DIMS];  /* out's (collapsed) shape */
    int64_t stride[FF_MAX_DIMS]; /* x's element stride for each out dim */
} perm_layout;

template <typename T>
static __global__ void k_permute(const T *x, perm_layout P, T *y, int64_t n) {
    FF_CU_FOR(i, n) {
        int64_t r = i, ix = 0;
        for (int d = P.nd - 1; d >= 0; d--) {
            const int64_t c = r % P.shape[d];
            r /= P.shape[d];
            ix += c * P.stride[d];
        }
        y[i] = x[ix];
    }
}

ff_status cuda_permute(ff_backend *be, const ff_tensor *x, const int *perm, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t n = ff_tensor_numel(x);
    if (n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    int64_t xs[FF_MAX_DIMS];
    int64_t s = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        xs[d] = s;
        s *= x->shape[d];
    }
    perm_layout P;
    P.nd = 0;
    for (int j = 0; j < x->ndim; j++) {
        const int64_t len = x->shape[perm[j]], st = xs[perm[j]];
        if (len == 1) continue;
        const int t = P.nd - 1;
        if (t >= 0 && P.stride[t] == st * len) { /* still contiguous in x: merge */
            P.shape[t] *= len;
            P.stride[t] = st;
        } else {
            P.shape[P.nd] = len;
            P.stride[P.nd] = st;
            P.nd++;
        }
    }
    if (P.nd <= 1 && (P.nd == 0 || P.stride[0] == 1)) /* the identity after collapsing */
        return copy2d(ctx, x->data, 0, out->data, 0, 1, ff_tensor_nbytes(x), err);
    const unsigned blocks = cuda_blocks(ctx, n, FF_CU_THREADS);
    switch (ff_dtype_size(x->dtype)) {
    case 8:
        k_permute<uint64_t>
            <<<blocks, FF_CU_THREADS, 0, ctx->compute>>>((const uint64_t *)x->data, P, (uint64_t *)out->data, n);
        break;
    case 4:
        k_permute<uint32_t>
            <<<blocks, FF_CU_THREADS, 0, ctx->compute>>>((const uint32_t *)x->data, P, (uint32_t *)out->data, n);
        break;
    default:
        k_permute<uint16_t>
            <<<blocks, FF_CU_THREADS, 0, ctx->compute>>>((const uint16_t *)x->data, P, (uint16_t *)out->data, n);
        break;
    }
    FF_CU_LAUNCHED(k_permute, err);
    return FF_OK;
}

/* ---- upsample_nearest2d --------------------------------------------------------------------- */

/* x (N, C, H, W) -> y (N, C, H fh, W fw), one output element per thread. */
static __global__ void k_upsample_nearest2d(const float *x, float *y, int64_t H, int64_t W, int fh, int fw, int64_t n) {
    const int64_t OW = W * fw, OH = H * fh;
    FF_CU_FOR(i, n) {
        const int64_t ow = i % OW, r = i / OW, oh = r % OH, nc = r / OH;
        y[i] = x[(nc * H + oh / fh) * W + ow / fw];
    }
}

ff_status cuda_upsample_nearest2d(ff_backend *be, const ff_tensor *x, int fh, int fw, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t n = ff_tensor_numel(out);
    if (n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const int64_t H = x->shape[2], W = x->shape[3];
    k_upsample_nearest2d<<<cuda_blocks(ctx, n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(
        (const float *)x->data, (float *)out->data, H, W, fh, fw, n);
    FF_CU_LAUNCHED(k_upsample_nearest2d, err);
    return FF_OK;
}

/* ---- embedding ------------------------------------------------------------------------------- */

static __device__ __forceinline__ int64_t load_id(const void *ids, int ids64, int64_t r) {
    return ids64 ? ((const int64_t *)ids)[r] : (int64_t)((const int32_t *)ids)[r];
}

/* The lowest position holding an id outside [0, V) goes to *bad (atomicMin). */
static __global__ void k_embedding_check(const void *ids, int ids64, int64_t nid, int64_t V, unsigned long long *bad) {
    FF_CU_FOR(r, nid) {
        const int64_t id = load_id(ids, ids64, r);
        if (id < 0 || id >= V) atomicMin(bad, (unsigned long long)r);
    }
}

/* out (nid, D) = table (V, D)[ids], F32; float4 rows when D and the pointers allow. */
static __global__ void k_embedding_gather(const void *ids, int ids64, const float *table, int64_t D, float *out,
                                          int64_t n, int vec) {
    if (vec) {
        const int64_t D4 = D / 4;
        FF_CU_FOR(i, n / 4) {
            const int64_t r = i / D4, c = i - r * D4;
            ((float4 *)out)[i] = ((const float4 *)table)[load_id(ids, ids64, r) * D4 + c];
        }
        return;
    }
    FF_CU_FOR(i, n) {
        const int64_t r = i / D, c = i - r * D;
        out[i] = table[load_id(ids, ids64, r) * D + c];
    }
}

/* Every id is checked before anything is written, as on the CPU backend;
 * reading the verdict back makes this the one op that waits for the GPU. */
ff_status cuda_embedding(ff_backend *be, const ff_tensor *ids, const ff_tensor *table, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t V = table->shape[0], D = table->shape[1];
    const int64_t nid = ff_tensor_numel(ids), n = nid * D;
    if (nid == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const int ids64 = ids->dtype == FF_I64;
    FF_CU(cudaMemsetAsync(ctx->d_flag, 0xff, sizeof *ctx->d_flag, ctx->compute), err);
    k_embedding_check<<<cuda_blocks(ctx, nid, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(ids->data, ids64, nid,
                                                                                                V, ctx->d_flag);
    FF_CU_LAUNCHED(k_embedding_check, err);
    FF_CU(cudaMemcpyAsync(ctx->h_flag, ctx->d_flag, sizeof *ctx->h_flag, cudaMemcpyDeviceToHost, ctx->compute), err);
    FF_CU(cudaStreamSynchronize(ctx->compute), err);
    const unsigned long long pos = *ctx->h_flag;
    if (pos != ~0ull) {
        int64_t id = 0;
        if (ids64) {
            FF_CU(cudaMemcpy(&id, (const int64_t *)ids->data + pos, sizeof id, cudaMemcpyDeviceToHost), err);
        } else {
            int32_t id32 = 0;
            FF_CU(cudaMemcpy(&id32, (const int32_t *)ids->data + pos, sizeof id32, cudaMemcpyDeviceToHost), err);
            id = id32;
        }
        return ff_err_set(err, FF_ERR_ARG, "op embedding: id %lld at position %llu is outside the table [0, %lld)",
                          (long long)id, pos, (long long)V);
    }
    if (n == 0) return FF_OK;
    const int vec = D % 4 == 0 && cuda_aligned16(table->data) && cuda_aligned16(out->data);
    k_embedding_gather<<<cuda_blocks(ctx, vec ? n / 4 : n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(
        ids->data, ids64, (const float *)table->data, D, (float *)out->data, n, vec);
    FF_CU_LAUNCHED(k_embedding_gather, err);
    return FF_OK;
}
