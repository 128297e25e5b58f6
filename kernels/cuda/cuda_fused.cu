/* cuda_fused: the fused ops of the BF16 activation path (ops.h, last
 * section) and the epilogue kernels of linear_act.
 *
 *  norm_modulate   one block per row: the row is cached in shared memory
 *                  (F32), mean and variance two-pass from there, then
 *                  LayerNorm, affine, (1 + scale) and shift in one write
 *  qk_norm_rope    one block per (b, l) row of H * hd: RMS over the whole
 *                  row from shared memory, then weight, rotation of each
 *                  channel pair and the store into (B, L, H, hd) or
 *                  (B, H, L, hd)
 *  gate_residual   flat: out = h + x * gate[row], gate broadcast over rows
 *  bias_act        out = act(acc + bias) rounded to out's dtype (linear_act's
 *                  generic epilogue), act in place (SiLU after cuBLASLt)
 * Loads of BF16 are exact; stores to BF16 round to nearest even once. The
 * arithmetic is cpu_fused.c's in F32 (the CPU takes statistics in double:
 * the two agree to ~1e-6 in F32, to BF16 rounding in BF16).
 * Not here: validation (ops.c), the GEMMs (cuda_linear_act.cu). */
#include "kernels/cuda/cuda_internal.h"

#define FF_CU_THREADS 256

static __device__ __forceinline__ float ld_any(const void *p, ff_dtype dt, int64_t i) {
    return dt == FF_BF16 ? __bfloat162float(((const __nv_bfloat16 *)p)[i]) : ((const float *)p)[i];
}

static __device__ __forceinline__ void st_any(void *p, ff_dtype dt, int64_t i, float v) {
    if (dt == FF_BF16) ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
    else ((float *)p)[i] = v;
}

static __device__ __forceinline__ float act_apply(int act, float v) {
    if (act == FF_ACT_GELU_TANH) return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    if (act == FF_ACT_SILU) return v / (1.0f + expf(-v));
    return v;
}

/* Threads per row: a multiple of 32, no more than the row needs, at most 256. */
static int row_threads(int64_t d) {
    int t = 32;
    while (t < 256 && t < d) t *= 2;
    return t;
}

static unsigned row_blocks(int64_t rows) { return (unsigned)(rows < (1 << 20) ? rows : (1 << 20)); }

/* Rows above this many F32 values are read twice from global memory instead of cached. */
#define ROW_CACHE_MAX (12 * 1024)

/* ---- norm_modulate ------------------------------------------------------------------ */

typedef struct {
    const float *x;
    const float *w, *b;      /* (D) or NULL */
    const float *sh, *sc;    /* (Bs, Ls, D) or NULL */
    int64_t shB, shL, scB, scL;
    void *out;
    ff_dtype odt;
    int64_t rows, L, D;
    float eps;
    int cache;               /* the row fits the dynamic shared memory */
} nm_args;

static __global__ void k_norm_modulate(nm_args a) {
    extern __shared__ float row[];
    __shared__ float red[33];
    for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
        const float *xr = a.x + r * a.D;
        const float *src = a.cache ? row : xr;
        float s = 0.0f;
        for (int64_t i = threadIdx.x; i < a.D; i += blockDim.x) {
            const float v = xr[i];
            if (a.cache) row[i] = v;
            s += v;
        }
        const float mean = cuda_block_reduce(s, red, 0) / (float)a.D; /* its barriers publish row[] */
        float v2 = 0.0f;
        for (int64_t i = threadIdx.x; i < a.D; i += blockDim.x) v2 += (src[i] - mean) * (src[i] - mean);
        const float rstd = 1.0f / sqrtf(cuda_block_reduce(v2, red, 0) / (float)a.D + a.eps);
        const int64_t bi = r / a.L, li = r % a.L;
        const float *sh = a.sh ? a.sh + ((a.shB > 1 ? bi : 0) * a.shL + (a.shL > 1 ? li : 0)) * a.D : NULL;
        const float *sc = a.sc ? a.sc + ((a.scB > 1 ? bi : 0) * a.scL + (a.scL > 1 ? li : 0)) * a.D : NULL;
        for (int64_t i = threadIdx.x; i < a.D; i += blockDim.x) {
            float y = (src[i] - mean) * rstd;
            if (a.w) y *= a.w[i];
            if (a.b) y += a.b[i];
            if (sc) y = y * (1.0f + sc[i]) + sh[i];
            st_any(a.out, a.odt, r * a.D + i, y);
        }
        __syncthreads(); /* row[] is rewritten by the next row */
    }
}

ff_status cuda_norm_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                             const ff_tensor *shift, const ff_tensor *scale, float eps, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    nm_args a;
    a.x = (const float *)x->data;
    a.w = w ? (const float *)w->data : NULL;
    a.b = b ? (const float *)b->data : NULL;
    a.sh = shift ? (const float *)shift->data : NULL;
    a.sc = scale ? (const float *)scale->data : NULL;
    a.shB = shift ? shift->shape[0] : 1;
    a.shL = shift ? shift->shape[1] : 1;
    a.scB = scale ? scale->shape[0] : 1;
    a.scL = scale ? scale->shape[1] : 1;
    a.out = out->data;
    a.odt = out->dtype;
    a.L = x->shape[1];
    a.D = x->shape[2];
    a.rows = x->shape[0] * a.L;
    a.eps = eps;
    a.cache = a.D <= ROW_CACHE_MAX;
    if (a.rows == 0 || a.D == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const size_t smem = a.cache ? (size_t)a.D * sizeof(float) : 0;
    k_norm_modulate<<<row_blocks(a.rows), row_threads(a.D), smem, ctx->compute>>>(a);
    FF_CU_LAUNCHED(k_norm_modulate, err);
    return FF_OK;
}

/* ---- qk_norm_rope ---------------------------------------------------------------------- */

typedef struct {
    const void *x;
    ff_dtype xdt;
    const float *w;             /* (H * hd) or NULL */
    const float *cs, *sn;       /* (L, hd) or NULL */
    void *out;
    ff_dtype odt;
    int64_t rows, L, H, hd, row; /* row = H * hd */
    float eps;
    int blhd, cache;
} qk_args;

static __global__ void k_qk_norm_rope(qk_args a) {
    extern __shared__ float y[];
    __shared__ float red[33];
    for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
        float ss = 0.0f;
        for (int64_t i = threadIdx.x; i < a.row; i += blockDim.x) {
            const float v = ld_any(a.x, a.xdt, r * a.row + i);
            if (a.cache) y[i] = v;
            ss += v * v;
        }
        const float inv = 1.0f / sqrtf(cuda_block_reduce(ss, red, 0) / (float)a.row + a.eps);
        const int64_t bi = r / a.L, li = r % a.L;
        for (int64_t p = threadIdx.x; p < a.row / 2; p += blockDim.x) { /* hd is even (ops.c): a pair is in one head */
            const int64_t c = 2 * p, h = c / a.hd, i = c - h * a.hd;
            float x0 = (a.cache ? y[c] : ld_any(a.x, a.xdt, r * a.row + c)) * inv;
            float x1 = (a.cache ? y[c + 1] : ld_any(a.x, a.xdt, r * a.row + c + 1)) * inv;
            if (a.w) {
                x0 *= a.w[c];
                x1 *= a.w[c + 1];
            }
            float o0 = x0, o1 = x1;
            if (a.cs) { /* ff_op_rope: each channel its own cos / sin entry */
                const float *cs = a.cs + li * a.hd + i, *sn = a.sn + li * a.hd + i;
                o0 = x0 * cs[0] - x1 * sn[0];
                o1 = x0 * sn[1] + x1 * cs[1];
            }
            const int64_t o = a.blhd ? r * a.row + c : ((bi * a.H + h) * a.L + li) * a.hd + i;
            st_any(a.out, a.odt, o, o0);
            st_any(a.out, a.odt, o + 1, o1);
        }
        __syncthreads(); /* y[] is rewritten by the next row */
    }
}

ff_status cuda_qk_norm_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, const ff_tensor *cos,
                            const ff_tensor *sin, ff_heads_layout layout, ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    qk_args a;
    a.x = x->data;
    a.xdt = x->dtype;
    a.w = w ? (const float *)w->data : NULL;
    a.cs = cos ? (const float *)cos->data : NULL;
    a.sn = sin ? (const float *)sin->data : NULL;
    a.out = out->data;
    a.odt = out->dtype;
    a.blhd = layout == FF_HEADS_BLHD;
    a.L = x->shape[1];
    a.row = x->shape[2];
    a.hd = out->shape[3];
    a.H = a.row / a.hd;
    a.rows = x->shape[0] * a.L;
    a.eps = eps;
    a.cache = a.row <= ROW_CACHE_MAX;
    if (a.rows == 0 || a.row == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const size_t smem = a.cache ? (size_t)a.row * sizeof(float) : 0;
    k_qk_norm_rope<<<row_blocks(a.rows), row_threads(a.row / 2), smem, ctx->compute>>>(a);
    FF_CU_LAUNCHED(k_qk_norm_rope, err);
    return FF_OK;
}

/* ---- gate_residual ------------------------------------------------------------------- */

/* out = h + x * gate[(b|0, l|0)]; 4 elements per step when D % 4 == 0 and pointers are aligned. */
template <bool VEC>
static __global__ void k_gate_residual(const float *h, const void *x, ff_dtype xdt, const float *gate, int64_t gB,
                                       int64_t gL, float *out, int64_t L, int64_t D, int64_t n) {
    const int64_t step = VEC ? 4 : 1;
    FF_CU_FOR(j, n / step) {
        const int64_t i = j * step, r = i / D, d = i - r * D;
        const int64_t bi = r / L, li = r % L;
        const float *g = gate ? gate + ((gB > 1 ? bi : 0) * gL + (gL > 1 ? li : 0)) * D + d : NULL;
        if (VEC) {
            const float4 hv = *(const float4 *)(h + i);
            float4 xv;
            if (xdt == FF_BF16) {
                const uint2 raw = *(const uint2 *)((const __nv_bfloat16 *)x + i);
                xv = make_float4(__uint_as_float(raw.x << 16), __uint_as_float(raw.x & 0xffff0000u),
                                 __uint_as_float(raw.y << 16), __uint_as_float(raw.y & 0xffff0000u));
            } else {
                xv = *(const float4 *)((const float *)x + i);
            }
            if (g) {
                const float4 gv = *(const float4 *)g;
                xv.x *= gv.x, xv.y *= gv.y, xv.z *= gv.z, xv.w *= gv.w;
            }
            *(float4 *)(out + i) = make_float4(hv.x + xv.x, hv.y + xv.y, hv.z + xv.z, hv.w + xv.w);
        } else {
            const float xv = ld_any(x, xdt, i);
            out[i] = h[i] + (g ? xv * g[0] : xv);
        }
    }
}

ff_status cuda_gate_residual(ff_backend *be, const ff_tensor *h, const ff_tensor *x, const ff_tensor *gate,
                             ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t n = ff_tensor_numel(h), L = h->shape[1], D = h->shape[2];
    if (n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    const float *g = gate ? (const float *)gate->data : NULL;
    const int64_t gB = gate ? gate->shape[0] : 1, gL = gate ? gate->shape[1] : 1;
    const int vec = D % 4 == 0 && cuda_aligned16(h->data) && cuda_aligned16(out->data) && (!g || cuda_aligned16(g)) &&
                    ((uintptr_t)x->data & (x->dtype == FF_BF16 ? 7u : 15u)) == 0;
    if (vec) {
        k_gate_residual<true><<<cuda_blocks(ctx, n / 4, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(
            (const float *)h->data, x->data, x->dtype, g, gB, gL, (float *)out->data, L, D, n);
    } else {
        k_gate_residual<false><<<cuda_blocks(ctx, n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(
            (const float *)h->data, x->data, x->dtype, g, gB, gL, (float *)out->data, L, D, n);
    }
    FF_CU_LAUNCHED(k_gate_residual, err);
    return FF_OK;
}

/* ---- linear_act's epilogues ------------------------------------------------------------- */

static __global__ void k_bias_act(const float *acc, int64_t acc_ld, const void *bias, ff_dtype bdt, int act,
                                  void *out, ff_dtype odt, int64_t rows, int64_t n) {
    FF_CU_FOR(i, rows * n) {
        const int64_t r = i / n, c = i - r * n;
        float v = acc ? acc[r * acc_ld + c] : 0.0f;
        if (bias) v += ld_any(bias, bdt, c);
        st_any(out, odt, i, act_apply(act, v));
    }
}

ff_status cuda_bias_act(cuda_ctx *ctx, const float *acc, int64_t acc_ld, const void *bias, ff_dtype bdt, int act,
                        void *out, ff_dtype odt, int64_t rows, int64_t n, ff_err *err) {
    if (rows <= 0 || n <= 0) return FF_OK;
    k_bias_act<<<cuda_blocks(ctx, rows * n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(acc, acc_ld, bias, bdt,
                                                                                              act, out, odt, rows, n);
    FF_CU_LAUNCHED(k_bias_act, err);
    return FF_OK;
}

static __global__ void k_act_inplace(void *x, ff_dtype dt, int act, int64_t n) {
    FF_CU_FOR(i, n) st_any(x, dt, i, act_apply(act, ld_any(x, dt, i)));
}

ff_status cuda_act_inplace(cuda_ctx *ctx, void *x, ff_dtype dt, int act, int64_t n, ff_err *err) {
    if (n <= 0 || act == FF_ACT_NONE) return FF_OK;
    k_act_inplace<<<cuda_blocks(ctx, n, FF_CU_THREADS), FF_CU_THREADS, 0, ctx->compute>>>(x, dt, act, n);
    FF_CU_LAUNCHED(k_act_inplace, err);
    return FF_OK;
}
