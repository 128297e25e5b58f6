/* cuda_attention: scaled dot-product attention: the choice of path, and the
 * F32 kernel.
 *
 * out = softmax(scale * q k^T + bias) v with q (B, H, Lq, D), k (B, H, Lk, D),
 * v (B, H, Lk, Dv) stored in either head layout of ops.h (element strides
 * from cuda_host_plan.c), bias (additive, F32) already expanded to 4 dims by
 * ops.c (bias_shape holds 1 where it broadcasts) or NULL.
 *
 * Which path (ops.h, ff_be_bf16_attn): BF16 operands, or the BF16
 * precisions with head dims <= 128, take flash attention on BF16 tensor
 * cores (cuda_flash.cu, sm_80+); everything else, the golden F32 runs and
 * the Wan VAE's 384-channel head included, this file's F32 kernel. Should
 * the flash kernel refuse a shape (a grid too large, too little shared
 * memory, a pre-sm_80 device) F32 operands fall back to the F32 kernel,
 * which is more accurate; BF16 operands report the refusal.
 *
 * The F32 kernel: one thread block per (b, h, tile of BQ queries): 4 warps,
 * each owning QPW query rows. The block walks the keys in blocks of 32
 * staged in shared memory (K rows padded by one float so that lane j
 * reading key j is free of bank conflicts); lane j scores key j against the
 * warp's queries, the warp updates each row's running max / sum (online
 * softmax) with shuffles, and the P V product is accumulated in registers,
 * lane t holding output channels t, t + 32, ... The (Lq x Lk) score matrix
 * is never materialised. A row whose every score is -inf gives zeros.
 * Two instantiations: Dv <= 128 (QPW 8, a 32-query tile) and Dv <= 384
 * (QPW 2, for the Wan VAE's single-head attention over 384 channels).
 * Plain FP32 on CUDA cores: exact to 1e-5 against the CPU, not fast.
 * Not here: the materialising softmax op (cuda_norm.cu). */
#include <stdint.h>
#include <string.h>

#include "kernels/cuda/cuda_host_plan.h"
#include "kernels/cuda/cuda_internal.h"

#define SDPA_WARPS 4
#define SDPA_BK 32 /* keys per block: one per lane */

typedef struct {
    const float *q, *k, *v, *bias;
    void *o;
    int64_t BH, H, Lq, Lk, D, Dv;
    int64_t qs[3], ks[3], vs[3], os[3]; /* element strides over (b, h, l) of each operand's layout */
    int64_t bs[4]; /* bias element strides over (B, H, Lq, Lk), 0 where broadcast */
    int64_t tiles; /* query tiles per (b, h) */
    float scale;
    int out_bf16; /* out is BF16 (rounded once at the end) */
} sdpa_args;

template <int VPL, int QPW>
static __global__ void __launch_bounds__(SDPA_WARPS * 32) k_sdpa(sdpa_args a) {
    extern __shared__ float smem[];
    const int BQ = SDPA_WARPS * QPW;
    const int64_t D = a.D, Dv = a.Dv, Dp = a.D + 1;
    float *Qs = smem;              /* (BQ, D) */
    float *Ks = Qs + BQ * D;       /* (BK, D + 1) */
    float *Vs = Ks + SDPA_BK * Dp; /* (BK, Dv) */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nthr = blockDim.x;

    const int64_t bh = blockIdx.x / a.tiles, q0 = (blockIdx.x % a.tiles) * BQ;
    const int64_t b = bh / a.H, h = bh % a.H;
    const float *qg = a.q + b * a.qs[0] + h * a.qs[1];
    const float *kg = a.k + b * a.ks[0] + h * a.ks[1];
    const float *vg = a.v + b * a.vs[0] + h * a.vs[1];
    const float *biasg = a.bias ? a.bias + b * a.bs[0] + h * a.bs[1] : NULL;

    for (int64_t i = threadIdx.x; i < BQ * D; i += nthr) {
        const int64_t r = i / D, c = i - r * D;
        Qs[i] = q0 + r < a.Lq ? qg[(q0 + r) * a.qs[2] + c] : 0.0f;
    }

    float m[QPW], l[QPW], acc[QPW][VPL];
#pragma unroll
    for (int qi = 0; qi < QPW; qi++) {
        m[qi] = -INFINITY;
        l[qi] = 0.0f;
#pragma unroll
        for (int t = 0; t < VPL; t++) acc[qi][t] = 0.0f;
    }

    for (int64_t kb = 0; kb < a.Lk; kb += SDPA_BK) {
        __syncthreads(); /* the previous key block is consumed (and Qs is loaded) */
        for (int64_t i = threadIdx.x; i < SDPA_BK * D; i += nthr) {
            const int64_t r = i / D, c = i - r * D;
            Ks[r * Dp + c] = kb + r < a.Lk ? kg[(kb + r) * a.ks[2] + c] : 0.0f;
        }
        for (int64_t i = threadIdx.x; i < SDPA_BK * Dv; i += nthr) {
            const int64_t r = i / Dv, c = i - r * Dv;
            Vs[i] = kb + r < a.Lk ? vg[(kb + r) * a.vs[2] + c] : 0.0f;
        }
        __syncthreads();

        /* scores of key kb + lane against this warp's queries */
        float s[QPW];
#pragma unroll
        for (int qi = 0; qi < QPW; qi++) s[qi] = 0.0f;
        const float *krow = Ks + lane * Dp;
        const float *qw = Qs + (int64_t)warp * QPW * D;
        for (int64_t d = 0; d < D; d++) {
            const float kd = krow[d];
#pragma unroll
            for (int qi = 0; qi < QPW; qi++) s[qi] += qw[qi * D + d] * kd;
        }

        const int64_t key = kb + lane;
#pragma unroll
        for (int qi = 0; qi < QPW; qi++) {
            const int64_t qrow = q0 + warp * QPW + qi;
            float sc = -INFINITY;
            if (key < a.Lk) {
                sc = s[qi] * a.scale;
                if (biasg && qrow < a.Lq) sc += biasg[qrow * a.bs[2] + key * a.bs[3]];
            }
            const float mnew = fmaxf(m[qi], cuda_warp_max(sc));
            float p = 0.0f, corr = 1.0f;
            if (mnew != -INFINITY) {
                p = expf(sc - mnew);       /* 0 for a -inf score */
                corr = expf(m[qi] - mnew); /* 0 while the row had only -inf */
            }
            l[qi] = l[qi] * corr + cuda_warp_sum(p);
            m[qi] = mnew;
#pragma unroll
            for (int t = 0; t < VPL; t++) acc[qi][t] *= corr;
            s[qi] = p;
        }

        /* acc += P V: lane t owns output channels t + 32 u */
        const int nk = a.Lk - kb < SDPA_BK ? (int)(a.Lk - kb) : SDPA_BK;
        for (int j = 0; j < nk; j++) {
            float pj[QPW];
#pragma unroll
            for (int qi = 0; qi < QPW; qi++) pj[qi] = __shfl_sync(0xffffffffu, s[qi], j);
            const float *vrow = Vs + j * Dv;
#pragma unroll
            for (int t = 0; t < VPL; t++) {
                const int64_t dv = lane + 32 * t;
                const float vv = dv < Dv ? vrow[dv] : 0.0f;
#pragma unroll
                for (int qi = 0; qi < QPW; qi++) acc[qi][t] += pj[qi] * vv;
            }
        }
    }

#pragma unroll
    for (int qi = 0; qi < QPW; qi++) {
        const int64_t qrow = q0 + warp * QPW + qi;
        if (qrow >= a.Lq) continue;
        const float inv = l[qi] > 0.0f ? 1.0f / l[qi] : 0.0f;
        const int64_t orow = b * a.os[0] + h * a.os[1] + qrow * a.os[2];
#pragma unroll
        for (int t = 0; t < VPL; t++) {
            const int64_t dv = lane + 32 * t;
            if (dv >= Dv) continue;
            if (a.out_bf16) ((__nv_bfloat16 *)a.o)[orow + dv] = __float2bfloat16_rn(acc[qi][t] * inv);
            else ((float *)a.o)[orow + dv] = acc[qi][t] * inv;
        }
    }
}

/* Launches one instantiation, opting in to more than 48 KiB of shared memory when needed. */
template <int VPL, int QPW>
static ff_status launch_sdpa(const ff_backend *be, cuda_ctx *ctx, sdpa_args a, ff_err *err) {
    const int64_t BQ = SDPA_WARPS * QPW;
    const size_t smem = (size_t)(BQ * a.D + SDPA_BK * (a.D + 1) + SDPA_BK * a.Dv) * sizeof(float);
    if (smem > ctx->smem_optin)
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: sdpa with head dims D=%lld Dv=%lld needs %zu bytes of shared memory (device allows %zu)",
                          be->name, (long long)a.D, (long long)a.Dv, smem, ctx->smem_optin);
    if (smem > 48 * 1024)
        FF_CU(cudaFuncSetAttribute(k_sdpa<VPL, QPW>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), err);
    a.tiles = (a.Lq + BQ - 1) / BQ;
    const int64_t blocks = a.BH * a.tiles;
    if (blocks > INT32_MAX)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: sdpa with %lld (batch x head) rows of %lld queries is too big",
                          be->name, (long long)a.BH, (long long)a.Lq);
    k_sdpa<VPL, QPW><<<(unsigned)blocks, SDPA_WARPS * 32, smem, ctx->compute>>>(a);
    FF_CU_LAUNCHED(k_sdpa, err);
    return FF_OK;
}

/* The F32 kernel over q, k, v in `layout` (F32 operands), out F32 or BF16. */
static ff_status sdpa_f32(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                          const ff_tensor *bias, const int64_t *bias_shape, float scale, int layout, ff_tensor *out,
                          ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int blhd = layout == 1;
    sdpa_args a;
    a.q = (const float *)q->data;
    a.k = (const float *)k->data;
    a.v = (const float *)v->data;
    a.o = out->data;
    a.out_bf16 = out->dtype == FF_BF16;
    a.bias = bias ? (const float *)bias->data : NULL;
    a.H = q->shape[blhd ? 2 : 1];
    a.BH = q->shape[0] * a.H;
    a.Lq = q->shape[blhd ? 1 : 2];
    a.Lk = k->shape[blhd ? 1 : 2];
    a.D = q->shape[3];
    a.Dv = v->shape[3];
    a.scale = scale;
    a.tiles = 0;
    cuda_head_strides(layout, a.H, a.Lq, a.D, a.qs);
    cuda_head_strides(layout, a.H, a.Lk, a.D, a.ks);
    cuda_head_strides(layout, a.H, a.Lk, a.Dv, a.vs);
    cuda_head_strides(layout, a.H, a.Lq, a.Dv, a.os);
    /* bias is contiguous over its own (expanded) shape; broadcast dims step 0 */
    int64_t stride = 1;
    for (int d = 3; d >= 0; d--) {
        const int64_t n = bias ? bias_shape[d] : 1;
        a.bs[d] = n == 1 ? 0 : stride;
        stride *= n;
    }
    if (a.BH == 0 || a.Lq == 0 || a.Dv == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    if (a.Lk == 0) { /* no keys: every row is empty, out = 0 */
        FF_CU(cudaMemsetAsync(a.o, 0, ff_tensor_nbytes(out), ctx->compute), err);
        return FF_OK;
    }
    if (a.Dv <= 128) return launch_sdpa<4, 8>(be, ctx, a, err);
    if (a.Dv <= 384) return launch_sdpa<12, 2>(be, ctx, a, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: sdpa with value head dim %lld (CUDA kernel supports <= 384)",
                      be->name, (long long)a.Dv);
}

/* The path of the top comment. */
static ff_status attend(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                        const ff_tensor *bias, const int64_t *bias_shape, float scale, int layout, ff_tensor *out,
                        ff_err *err) {
    if (ff_be_bf16_attn(be, q->dtype, q->shape[3], v->shape[3])) {
        ff_err why;
        memset(&why, 0, sizeof why);
        ff_status st = cuda_flash_attention(be, q, k, v, bias, bias_shape, scale, layout, out, &why);
        if (st != FF_ERR_UNSUPPORTED || q->dtype == FF_BF16) {
            if (st && err) *err = why;
            return st;
        }
    }
    return sdpa_f32(be, q, k, v, bias, bias_shape, scale, layout, out, err);
}

ff_status cuda_sdpa(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v, const ff_tensor *bias,
                    const int64_t *bias_shape, float scale, ff_tensor *out, ff_err *err) {
    return attend(be, q, k, v, bias, bias_shape, scale, 0, out, err);
}

ff_status cuda_attention(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                         const ff_tensor *bias, const int64_t *bias_shape, float scale, ff_heads_layout layout,
                         ff_tensor *out, ff_err *err) {
    return attend(be, q, k, v, bias, bias_shape, scale, layout == FF_HEADS_BLHD ? 1 : 0, out, err);
}
