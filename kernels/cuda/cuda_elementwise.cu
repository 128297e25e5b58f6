/* cuda_elementwise: the CUDA backend's pointwise ops: unary activations,
 * broadcasting binary ops, scale, clamp, AdaLN modulate and rotary embedding.
 *
 * All F32, all allowing out == first input (each thread reads an element
 * before it writes the same element). Flat ops use 16-byte (float4) loads
 * when both pointers are 16-byte aligned, with a scalar tail. The math
 * follows kernels/ops.h exactly (no fast-math intrinsics): the CPU backend is
 * the reference and the two must agree to 1e-5 relative L2.
 * Not here: reductions (cuda_norm.cu), layout ops (cuda_layout.cu). */
#include "kernels/cuda/cuda_internal.h"

#define FF_CU_THREADS 256

/* ---- flat pointwise ops: unary, scale, clamp ----------------------------------- */

enum { EW_UNARY = 0, EW_SCALE, EW_CLAMP };

typedef struct {
    int op;       /* EW_* */
    int kind;     /* ff_unary_kind for EW_UNARY */
    float p0, p1; /* alpha, beta (scale) or lo, hi (clamp) */
} ew_params;

static __device__ __forceinline__ float ew_apply(const ew_params p, float x) {
    if (p.op == EW_SCALE) return p.p0 * x + p.p1;
    if (p.op == EW_CLAMP) return x < p.p0 ? p.p0 : (x > p.p1 ? p.p1 : x); /* NaN passes, as torch.clamp */
    switch (p.kind) {
    case FF_UNARY_SILU: return x / (1.0f + expf(-x));
    case FF_UNARY_GELU_TANH: {
        const float c = 0.7978845608028654f; /* sqrt(2/pi) */
        return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
    }
    case FF_UNARY_GELU_ERF: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case FF_UNARY_RELU: return x > 0.0f ? x : (x == x ? 0.0f : x); /* NaN stays NaN */
    case FF_UNARY_EXP: return expf(x);
    case FF_UNARY_QUICK_GELU: return x * (1.0f / (1.0f + expf(-(1.702f * x))));
    default: return x;
    }
}

static __global__ void k_pointwise(ew_params p, const float *x, float *y, int64_t n, int vec) {
    const int64_t n4 = vec ? n / 4 : 0;
    FF_CU_FOR(i, n4) {
        float4 v = ((const float4 *)x)[i];
        v.x = ew_apply(p, v.x);
        v.y = ew_apply(p, v.y);
        v.z = ew_apply(p, v.z);
        v.w = ew_apply(p, v.w);
        ((float4 *)y)[i] = v;
    }
    FF_CU_FOR(j, n - n4 * 4) y[n4 * 4 + j] = ew_apply(p, x[n4 * 4 + j]);
}

static ff_status pointwise(ff_backend *be, ew_params p, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t n = ff_tensor_numel(x);
    if (n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const int vec = cuda_aligned16(x->data) && cuda_aligned16(out->data);
    k_pointwise<<<cuda_blocks(ctx, vec ? n / 4 + 1 : n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(
        p, (const float *)x->data, (float *)out->data, n, vec);
    FF_CU_LAUNCHED(k_pointwise, err);
    return FF_OK;
}

ff_status cuda_unary(ff_backend *be, ff_unary_kind kind, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    ew_params p = {EW_UNARY, (int)kind, 0.0f, 0.0f};
    return pointwise(be, p, x, out, err);
}

ff_status cuda_scale(ff_backend *be, const ff_tensor *x, float alpha, float beta, ff_tensor *out, ff_err *err) {
    ew_params p = {EW_SCALE, 0, alpha, beta};
    return pointwise(be, p, x, out, err);
}

ff_status cuda_clamp(ff_backend *be, const ff_tensor *x, float lo, float hi, ff_tensor *out, ff_err *err) {
    ew_params p = {EW_CLAMP, 0, lo, hi};
    return pointwise(be, p, x, out, err);
}

/* ---- binary with broadcasting ------------------------------------------------------ */

/* Out's shape after collapsing, and each operand's element strides over it
 * (0 where the operand broadcasts). Passed to the kernel by value. */
typedef struct {
    int nd;
    int64_t shape[FF_MAX_DIMS];
    int64_t sa[FF_MAX_DIMS], sb[FF_MAX_DIMS];
} bin_layout;

static __device__ __forceinline__ float bin_apply(int kind, float a, float b) {
    switch (kind) {
    case FF_BIN_ADD: return a + b;
    case FF_BIN_SUB: return a - b;
    case FF_BIN_MUL: return a * b;
    default: return a / b;
    }
}

/* Same shapes, no broadcast: flat, float4 where aligned. */
static __global__ void k_binary_flat(int kind, const float *a, const float *b, float *y, int64_t n, int vec) {
    const int64_t n4 = vec ? n / 4 : 0;
    FF_CU_FOR(i, n4) {
        const float4 va = ((const float4 *)a)[i], vb = ((const float4 *)b)[i];
        ((float4 *)y)[i] = make_float4(bin_apply(kind, va.x, vb.x), bin_apply(kind, va.y, vb.y),
                                       bin_apply(kind, va.z, vb.z), bin_apply(kind, va.w, vb.w));
    }
    FF_CU_FOR(j, n - n4 * 4) y[n4 * 4 + j] = bin_apply(kind, a[n4 * 4 + j], b[n4 * 4 + j]);
}

static __global__ void k_binary_bcast(int kind, bin_layout L, const float *a, const float *b, float *y, int64_t n) {
    FF_CU_FOR(i, n) {
        int64_t r = i, ia = 0, ib = 0;
        for (int d = L.nd - 1; d >= 0; d--) {
            const int64_t c = r % L.shape[d];
            r /= L.shape[d];
            ia += c * L.sa[d];
            ib += c * L.sb[d];
        }
        y[i] = bin_apply(kind, a[ia], b[ib]);
    }
}

/* Drops size-1 dims of out and merges neighbours that both operands walk
 * contiguously (or both broadcast), so most calls end up 1- or 2-D. */
static void bin_collapse(int nd, const int64_t *os, const int64_t *as, const int64_t *bs, bin_layout *L) {
    int64_t sa[FF_MAX_DIMS], sb[FF_MAX_DIMS];
    int64_t pa = 1, pb = 1;
    for (int d = nd - 1; d >= 0; d--) {
        sa[d] = as[d] == 1 ? 0 : pa;
        sb[d] = bs[d] == 1 ? 0 : pb;
        pa *= as[d];
        pb *= bs[d];
    }
    L->nd = 0;
    for (int d = 0; d < nd; d++) {
        if (os[d] == 1) continue;
        const int t = L->nd - 1;
        if (t >= 0 && L->sa[t] == sa[d] * os[d] && L->sb[t] == sb[d] * os[d]) {
            L->shape[t] *= os[d];
            L->sa[t] = sa[d];
            L->sb[t] = sb[d];
        } else {
            L->shape[L->nd] = os[d];
            L->sa[L->nd] = sa[d];
            L->sb[L->nd] = sb[d];
            L->nd++;
        }
    }
}

ff_status cuda_binary(ff_backend *be, ff_binary_kind kind, const ff_tensor *a, const int64_t *a_shape,
                      const ff_tensor *b, const int64_t *b_shape, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t n = ff_tensor_numel(out);
    if (n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    bin_layout L;
    bin_collapse(out->ndim, out->shape, a_shape, b_shape, &L);
    const float *pa = (const float *)a->data, *pb = (const float *)b->data;
    float *y = (float *)out->data;
    if (L.nd == 0 || (L.nd == 1 && L.sa[0] == 1 && L.sb[0] == 1)) {
        const int vec = cuda_aligned16(pa) && cuda_aligned16(pb) && cuda_aligned16(y);
        k_binary_flat<<<cuda_blocks(ctx, vec ? n / 4 + 1 : n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(
            (int)kind, pa, pb, y, n, vec);
        FF_CU_LAUNCHED(k_binary_flat, err);
        return FF_OK;
    }
    k_binary_bcast<<<cuda_blocks(ctx, n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>((int)kind, L, pa, pb, y, n);
    FF_CU_LAUNCHED(k_binary_bcast, err);
    return FF_OK;
}

/* ---- modulate ------------------------------------------------------------------------- */

/* out = x * (1 + scale) + shift; x (B, L, D), shift/scale (Bs, Ls, D) with Bs, Ls in {1, B|L}. */
static __global__ void k_modulate(const float *x, const float *shift, int64_t shB, int64_t shL, const float *scale,
                                  int64_t scB, int64_t scL, float *y, int64_t L, int64_t D, int64_t n) {
    FF_CU_FOR(i, n) {
        const int64_t d = i % D, r = i / D, l = r % L, b = r / L;
        const float sh = shift[((shB > 1 ? b : 0) * shL + (shL > 1 ? l : 0)) * D + d];
        const float sc = scale[((scB > 1 ? b : 0) * scL + (scL > 1 ? l : 0)) * D + d];
        y[i] = x[i] * (1.0f + sc) + sh;
    }
}

/* (B, L) of a (..., L, D) tensor read as 3-D. */
static void as_bl(const ff_tensor *t, int64_t D, int64_t *B, int64_t *L) {
    *L = t->ndim >= 2 ? t->shape[t->ndim - 2] : 1;
    const int64_t ld = *L * D;
    *B = ld > 0 ? ff_tensor_numel(t) / ld : 1;
}

ff_status cuda_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *shift, const ff_tensor *scale,
                        ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t n = ff_tensor_numel(x);
    if (n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const int64_t D = x->shape[x->ndim - 1];
    int64_t B, L, shB, shL, scB, scL;
    as_bl(x, D, &B, &L);
    as_bl(shift, D, &shB, &shL);
    as_bl(scale, D, &scB, &scL);
    k_modulate<<<cuda_blocks(ctx, n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(
        (const float *)x->data, (const float *)shift->data, shB, shL, (const float *)scale->data, scB, scL,
        (float *)out->data, L, D, n);
    FF_CU_LAUNCHED(k_modulate, err);
    return FF_OK;
}

/* ---- rope ------------------------------------------------------------------------------ */

/* One thread per channel pair of x (B, L, H, D); cos/sin (L, D). Each
 * channel uses its own cos/sin entry (equal within a pair, as ops.h states),
 * exactly as the CPU backend does. */
static __global__ void k_rope(const float *x, const float *cs, const float *sn, float *y, int64_t L, int64_t H,
                              int64_t D, int64_t pairs) {
    const int64_t half = D / 2;
    FF_CU_FOR(p, pairs) {
        const int64_t i = p % half, row = p / half; /* row = (b * L + l) * H + h */
        const int64_t l = (row / H) % L;
        const float *c = cs + l * D + 2 * i, *s = sn + l * D + 2 * i;
        const float x0 = x[2 * p], x1 = x[2 * p + 1]; /* both read before either is written */
        y[2 * p] = x0 * c[0] - x1 * s[0];
        y[2 * p + 1] = x0 * s[1] + x1 * c[1];
    }
}

ff_status cuda_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *cos, const ff_tensor *sin, ff_tensor *out,
                    ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t pairs = ff_tensor_numel(x) / 2;
    if (pairs == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const int64_t L = x->shape[1], H = x->shape[2], D = x->shape[3];
    k_rope<<<cuda_blocks(ctx, pairs, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(
        (const float *)x->data, (const float *)cos->data, (const float *)sin->data, (float *)out->data, L, H, D, pairs);
    FF_CU_LAUNCHED(k_rope, err);
    return FF_OK;
}
