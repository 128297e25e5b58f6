/* cuda_flash: flash attention on BF16 tensor cores (mma.sync m16n8k16, sm_80+).
 *
 * out = softmax(scale * q k^T + bias) v for q (B, H, Lq, D), k (B, H, Lk, D),
 * v (B, H, Lk, Dv) in either head layout (ops.h: FF_HEADS_BHLD or BLHD, as
 * element strides from cuda_host_plan.c), F32 or BF16 operands, F32 or BF16
 * output, an optional additive F32 bias broadcast over (B, H, Lq, Lk). The
 * (Lq x Lk) scores are never stored: FlashAttention-2's loop.
 *
 * One block of 4 warps per (64 queries, b, h); warp w owns query rows
 * 16w .. 16w+15. Q, K and V tiles are staged in shared memory as BF16 rows
 * padded by 8 elements (16 bytes), so ldmatrix reads them without bank
 * conflicts; F32 operands are rounded to BF16 (nearest even) while staged,
 * BF16 ones copied as they are: by 16-byte cp.async into a second buffer
 * while the current key tile is being used, when rows and bases are aligned
 * (cuda_flash_plan_make says), element by element otherwise. Per key tile of
 * 64 keys each warp:
 *   S = Q K^T          (its Q fragments stay in registers; F32 accumulators)
 *   s = S scale log2(e) + bias log2(e); keys >= Lk are -inf
 *   m' = max(m, rowmax s); P = 2^(s - m'); O *= 2^(m - m'); l = l 2^(m - m') + rowsum P
 *   O += bf16(P) V    (P rounded to BF16 for the tensor cores; l sums the F32 P)
 * and at the end out = O / l (0 for a row whose scores were all -inf), which
 * is ops.h's BF16 attention arithmetic (emulated by kernels/cpu/cpu_fused.c).
 * Head dims up to 128: instantiations for 64 and 128, narrower heads zero
 * padded. Larger heads use the F32 kernel (cuda_attention.cu).
 * Not here: the choice of path (cuda_attention.cu), validation (ops.c). */
#include <stdint.h>

#include "kernels/cuda/cuda_host_plan.h"
#include "kernels/cuda/cuda_internal.h"

#define BQ CUDA_FLASH_BQ
#define BK CUDA_FLASH_BK
#define NTHREADS (CUDA_FLASH_WARPS * 32)
#define LOG2E 1.4426950408889634f

typedef struct {
    const void *q, *k, *v;
    const float *bias;
    void *o;
    int64_t H, Lq, Lk, D, Dv;
    int64_t qs[3], ks[3], vs[3], os[3]; /* element strides over (b, h, l) */
    int64_t bs[4];                      /* bias element strides over (b, h, q, k), 0 where broadcast */
    float scale_log2;                   /* scale * log2(e) */
    int out_bf16;
} flash_args;

/* ---- PTX helpers ------------------------------------------------------------------------ */

static __device__ __forceinline__ uint32_t smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

static __device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src));
}
static __device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
static __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

static __device__ __forceinline__ void ldsm_x4(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3, const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(smem_addr(p)));
}

static __device__ __forceinline__ void ldsm_x4_t(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3,
                                                 const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(smem_addr(p)));
}

/* d (16x8, F32) += a (16x16, BF16, row) b (16x8, BF16, col) */
static __device__ __forceinline__ void mma_bf16(float *d, const uint32_t *a, uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    __trap(); /* the host never launches this kernel below sm_80 */
#endif
}

/* 2^x on the special-function unit (ex2.approx.ftz: 2 ulp; 2^-inf = +0), as FlashAttention uses it. */
static __device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* Two floats as a BF16 pair (lo in the low half), rounded to nearest even. */
static __device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(const uint32_t *)&v;
}

/* ---- staging a 64-row tile into shared memory ------------------------------------------- */

/* Rows r0 .. r0+63 of an operand (row stride rs elements, n valid columns,
 * rows >= nrows missing) into sm (64 x (HD + PAD) BF16), zero filled. */
template <int HD, bool IN_BF16, bool ASYNC>
static __device__ __forceinline__ void load_tile(__nv_bfloat16 *sm, const void *g, int64_t rs, int64_t r0,
                                                 int64_t nrows, int64_t n) {
    constexpr int CPR = HD / 8; /* 16-byte chunks per row */
    constexpr int RS = HD + CUDA_FLASH_PAD;
    for (int c = threadIdx.x; c < 64 * CPR; c += NTHREADS) {
        const int r = c / CPR, c8 = (c % CPR) * 8;
        __nv_bfloat16 *dst = sm + r * RS + c8;
        const int64_t gr = r0 + r;
        if (gr >= nrows || c8 >= n) {
            *(uint4 *)dst = make_uint4(0u, 0u, 0u, 0u);
            continue;
        }
        const int64_t off = gr * rs + c8;
        if constexpr (ASYNC) { /* n % 8 == 0 here (plan): the whole chunk is valid */
            cp_async16(dst, (const __nv_bfloat16 *)g + off);
        } else {
            float f[8];
#pragma unroll
            for (int e = 0; e < 8; e++) {
                f[e] = 0.0f;
                if (c8 + e < n)
                    f[e] = IN_BF16 ? __bfloat162float(((const __nv_bfloat16 *)g)[off + e])
                                   : ((const float *)g)[off + e];
            }
            *(uint4 *)dst = make_uint4(pack_bf16(f[0], f[1]), pack_bf16(f[2], f[3]), pack_bf16(f[4], f[5]),
                                       pack_bf16(f[6], f[7]));
        }
    }
}

/* ---- the kernel ----------------------------------------------------------------------- */

template <int HD, bool IN_BF16, bool ASYNC>
static __global__ void __launch_bounds__(NTHREADS, 2) k_flash(flash_args a) {
    constexpr int RS = HD + CUDA_FLASH_PAD;
    constexpr int KSTEPS = HD / 16; /* k-steps of Q K^T */
    constexpr int NT_O = HD / 8;    /* 8-column tiles of O */
    extern __shared__ __align__(16) unsigned char smem_raw[];
    __nv_bfloat16 *Qs = (__nv_bfloat16 *)smem_raw;
    __nv_bfloat16 *Ks = Qs + BQ * RS; /* 2 x (BK x RS): double buffered when ASYNC */
    __nv_bfloat16 *Vs = Ks + 2 * BK * RS;

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3; /* fragment row group and column pair */
    const int64_t bh = blockIdx.y, b = bh / a.H, h = bh % a.H;
    const int64_t q0 = (int64_t)blockIdx.x * BQ;
    const void *qg = IN_BF16 ? (const void *)((const __nv_bfloat16 *)a.q + b * a.qs[0] + h * a.qs[1])
                             : (const void *)((const float *)a.q + b * a.qs[0] + h * a.qs[1]);
    const void *kg = IN_BF16 ? (const void *)((const __nv_bfloat16 *)a.k + b * a.ks[0] + h * a.ks[1])
                             : (const void *)((const float *)a.k + b * a.ks[0] + h * a.ks[1]);
    const void *vg = IN_BF16 ? (const void *)((const __nv_bfloat16 *)a.v + b * a.vs[0] + h * a.vs[1])
                             : (const void *)((const float *)a.v + b * a.vs[0] + h * a.vs[1]);
    const float *biasg = a.bias ? a.bias + b * a.bs[0] + h * a.bs[1] : NULL;
    const int64_t ntiles = (a.Lk + BK - 1) / BK;

    load_tile<HD, IN_BF16, ASYNC>(Qs, qg, a.qs[2], q0, a.Lq, a.D);
    if (ASYNC) {
        load_tile<HD, IN_BF16, ASYNC>(Ks, kg, a.ks[2], 0, a.Lk, a.D);
        load_tile<HD, IN_BF16, ASYNC>(Vs, vg, a.vs[2], 0, a.Lk, a.Dv);
        cp_async_commit();
    }

    uint32_t qf[KSTEPS][4];
    float o[NT_O][4];
#pragma unroll
    for (int i = 0; i < NT_O; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY; /* running max of rows g and g + 8 (log2 domain) */
    float l0 = 0.0f, l1 = 0.0f;           /* this thread's part of the running sums */
    const int64_t row0 = q0 + warp * 16 + g, row1 = row0 + 8;

    for (int64_t j = 0; j < ntiles; j++) {
        const int st = ASYNC ? (int)(j & 1) : 0;
        const __nv_bfloat16 *Kt = Ks + st * BK * RS, *Vt = Vs + st * BK * RS;
        if (ASYNC) {
            if (j + 1 < ntiles) { /* the next tile into the other buffer, while this one is used */
                __nv_bfloat16 *Kn = Ks + (st ^ 1) * BK * RS, *Vn = Vs + (st ^ 1) * BK * RS;
                load_tile<HD, IN_BF16, ASYNC>(Kn, kg, a.ks[2], (j + 1) * BK, a.Lk, a.D);
                load_tile<HD, IN_BF16, ASYNC>(Vn, vg, a.vs[2], (j + 1) * BK, a.Lk, a.Dv);
                cp_async_commit();
                cp_async_wait<1>();
            } else {
                cp_async_wait<0>();
            }
        } else {
            load_tile<HD, IN_BF16, ASYNC>(Ks, kg, a.ks[2], j * BK, a.Lk, a.D);
            load_tile<HD, IN_BF16, ASYNC>(Vs, vg, a.vs[2], j * BK, a.Lk, a.Dv);
        }
        __syncthreads();
        if (j == 0) { /* this warp's 16 query rows as A fragments, kept for every key tile */
#pragma unroll
            for (int kk = 0; kk < KSTEPS; kk++)
                ldsm_x4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3],
                        Qs + (warp * 16 + (lane & 15)) * RS + kk * 16 + (lane >> 4) * 8);
        }

        /* S (16 x 64) = Q K^T */
        float s[8][4];
#pragma unroll
        for (int i = 0; i < 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KSTEPS; kk++) {
#pragma unroll
            for (int np = 0; np < 4; np++) { /* key tiles 2np, 2np + 1 */
                uint32_t b0, b1, b2, b3;
                ldsm_x4(b0, b1, b2, b3, Kt + (np * 16 + (lane & 7) + (lane >> 4) * 8) * RS + kk * 16 +
                                            ((lane >> 3) & 1) * 8);
                mma_bf16(s[2 * np], qf[kk], b0, b1);
                mma_bf16(s[2 * np + 1], qf[kk], b2, b3);
            }
        }

        /* scores in the log2 domain, bias, masked keys; row maxima */
        const int64_t kb = j * BK;
        float mx0 = -INFINITY, mx1 = -INFINITY;
        if (!biasg && kb + BK <= a.Lk) { /* a full tile without bias (uniform): scale only */
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) s[nt][e] *= a.scale_log2;
                mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
                mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
            }
        } else {
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int64_t key = kb + nt * 8 + 2 * t + (e & 1), row = e < 2 ? row0 : row1;
                    float v = s[nt][e] * a.scale_log2;
                    if (key >= a.Lk) v = -INFINITY;
                    else if (biasg && row < a.Lq) v += biasg[row * a.bs[2] + key * a.bs[3]] * LOG2E;
                    s[nt][e] = v;
                    if (e < 2) mx0 = fmaxf(mx0, v);
                    else mx1 = fmaxf(mx1, v);
                }
            }
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        /* a row with no finite score yet: exponents against 0 give p = 0 and keep O, l at 0 */
        const float mu0 = mn0 == -INFINITY ? 0.0f : mn0, mu1 = mn1 == -INFINITY ? 0.0f : mn1;
        const float c0 = fast_exp2(m0 - mu0), c1 = fast_exp2(m1 - mu1);
        m0 = mn0;
        m1 = mn1;
        float ps0 = 0.0f, ps1 = 0.0f;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            s[nt][0] = fast_exp2(s[nt][0] - mu0);
            s[nt][1] = fast_exp2(s[nt][1] - mu0);
            s[nt][2] = fast_exp2(s[nt][2] - mu1);
            s[nt][3] = fast_exp2(s[nt][3] - mu1);
            ps0 += s[nt][0] + s[nt][1];
            ps1 += s[nt][2] + s[nt][3];
        }
        l0 = l0 * c0 + ps0;
        l1 = l1 * c1 + ps1;
#pragma unroll
        for (int i = 0; i < NT_O; i++) {
            o[i][0] *= c0;
            o[i][1] *= c0;
            o[i][2] *= c1;
            o[i][3] *= c1;
        }

        /* O += bf16(P) V: P's accumulator layout is the A fragment layout of two key tiles */
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            uint32_t pa[4];
            pa[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
            pa[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
            pa[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pa[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int dp = 0; dp < NT_O / 2; dp++) { /* output column tiles 2dp, 2dp + 1 */
                uint32_t b0, b1, b2, b3;
                ldsm_x4_t(b0, b1, b2, b3, Vt + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * RS + dp * 16 +
                                              (lane >> 4) * 8);
                mma_bf16(o[2 * dp], pa, b0, b1);
                mma_bf16(o[2 * dp + 1], pa, b2, b3);
            }
        }
        __syncthreads(); /* every warp is done with this buffer before it is refilled */
    }

    /* out = O / l, the row sums completed across the 4 threads of a row */
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    const int64_t ob = b * a.os[0] + h * a.os[1];
#pragma unroll
    for (int i = 0; i < NT_O; i++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int64_t row = e < 2 ? row0 : row1, col = i * 8 + 2 * t + (e & 1);
            if (row >= a.Lq || col >= a.Dv) continue;
            const float v = o[i][e] * (e < 2 ? inv0 : inv1);
            const int64_t off = ob + row * a.os[2] + col;
            if (a.out_bf16) ((__nv_bfloat16 *)a.o)[off] = __float2bfloat16_rn(v);
            else ((float *)a.o)[off] = v;
        }
    }
}

/* ---- launch ------------------------------------------------------------------------- */

template <int HD, bool IN_BF16, bool ASYNC>
static ff_status launch(cuda_ctx *ctx, const cuda_flash_plan *p, const flash_args &a, ff_err *err) {
    if (p->smem > 48 * 1024)
        FF_CU(cudaFuncSetAttribute(k_flash<HD, IN_BF16, ASYNC>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   (int)p->smem),
              err);
    k_flash<HD, IN_BF16, ASYNC><<<dim3(p->grid_x, p->grid_y), NTHREADS, p->smem, ctx->compute>>>(a);
    FF_CU_LAUNCHED(k_flash, err);
    return FF_OK;
}

template <int HD>
static ff_status launch_hd(cuda_ctx *ctx, const cuda_flash_plan *p, int in_bf16, const flash_args &a, ff_err *err) {
    if (!in_bf16) return launch<HD, false, false>(ctx, p, a, err);
    if (p->async16) return launch<HD, true, true>(ctx, p, a, err);
    return launch<HD, true, false>(ctx, p, a, err);
}

int cuda_flash_supported(const cuda_ctx *ctx) { return ctx->cc_major >= 8; }

ff_status cuda_flash_attention(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                               const ff_tensor *bias, const int64_t *bias_shape, float scale, int layout,
                               ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int blhd = layout == 1;
    cuda_flash_shape s;
    s.B = q->shape[0];
    s.H = q->shape[blhd ? 2 : 1];
    s.Lq = q->shape[blhd ? 1 : 2];
    s.Lk = k->shape[blhd ? 1 : 2];
    s.D = q->shape[3];
    s.Dv = v->shape[3];
    s.layout = layout;
    s.in_bf16 = q->dtype == FF_BF16;
    s.addr_or = (uintptr_t)q->data | (uintptr_t)k->data | (uintptr_t)v->data;
    s.smem_optin = ctx->smem_optin;
    cuda_flash_plan p;
    char why[160];
    if (!cuda_flash_supported(ctx))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: BF16 flash attention needs sm_80 or newer (device is sm_%d%d)",
                          be->name, ctx->cc_major, ctx->cc_minor);
    if (cuda_flash_plan_make(&s, &p, why, sizeof why))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: flash attention: %s", be->name, why);
    if (s.B * s.H == 0 || s.Lq == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    if (s.Lk == 0) { /* no keys: every row is empty */
        FF_CU(cudaMemsetAsync(out->data, 0, ff_tensor_nbytes(out), ctx->compute), err);
        return FF_OK;
    }
    flash_args a;
    a.q = q->data;
    a.k = k->data;
    a.v = v->data;
    a.o = out->data;
    a.bias = bias ? (const float *)bias->data : NULL;
    a.H = s.H;
    a.Lq = s.Lq;
    a.Lk = s.Lk;
    a.D = s.D;
    a.Dv = s.Dv;
    for (int i = 0; i < 3; i++) {
        a.qs[i] = p.qs[i];
        a.ks[i] = p.ks[i];
        a.vs[i] = p.vs[i];
        a.os[i] = p.os[i];
    }
    int64_t stride = 1; /* bias is contiguous over its expanded shape; broadcast dims step 0 */
    for (int d = 3; d >= 0; d--) {
        const int64_t n = bias ? bias_shape[d] : 1;
        a.bs[d] = n == 1 ? 0 : stride;
        stride *= n;
    }
    a.scale_log2 = scale * LOG2E;
    a.out_bf16 = out->dtype == FF_BF16;
    return p.hd == 64 ? launch_hd<64>(ctx, &p, s.in_bf16, a, err) : launch_hd<128>(ctx, &p, s.in_bf16, a, err);
}
