/* cuda_linear_act: out = act(x @ w^T + b) (ops.h ff_op_linear_act) for the
 * BF16 activation path.
 *
 * BF16 GEMM (the BF16 precisions, or x and w both BF16, whose products are
 * exact in F32 either way): BF16 x and w are used as stored; an F32 x is
 * rounded into scratch in chunks of rows, an F32 w once per call. The GEMM
 * is one cuBLASLt matmul per chunk writing out's dtype directly (F32
 * accumulation), with the bias and GELU in its epilogue (CUBLASLT_EPILOGUE_
 * BIAS / GELU / GELU_BIAS: cuBLASLt's GELU is the tanh form of ops.h);
 * SiLU runs in place afterwards. Row-major out (M, N) = x (M, K) w (N, K)^T
 * is column-major out^T (N, M) = op_T(w) op_N(x), so the bias is a vector of
 * out^T's rows, as cuBLASLt's epilogue wants it. A matmul plan (descriptors,
 * layouts and the heuristic's first algorithm) is cached per shape, dtypes,
 * epilogue and pointer alignment in ctx->lt_plans; the workspace (32 MiB)
 * is allocated once. An F32 bias with a BF16 output that cuBLASLt does not
 * take is rounded to BF16 first (torch's bf16 Linear holds its bias in
 * BF16). When cuBLASLt offers no algorithm at all, the GEMM goes to
 * cublasGemmEx into an F32 buffer and cuda_bias_act applies bias,
 * activation and rounding: the same arithmetic, more traffic.
 *
 * F32 GEMM (FF_PREC_F32 with an F32 operand): a BF16 x is widened into
 * scratch, cuda_linear runs the GEMM into an F32 buffer (out itself when
 * it is F32), and cuda_bias_act finishes. Chunks of rows bound the scratch.
 * Not here: ff_op_linear (cuda_gemm.cu), validation (ops.c). */
#include <limits.h>
#include <string.h>

#include "kernels/cuda/cuda_host_plan.h"
#include "kernels/cuda/cuda_internal.h"

#define LT_WS_BYTES ((size_t)32 << 20)
#define CHUNK_BYTES ((size_t)64 << 20)
#define LT_PLANS 64

static int fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

static cudaDataType_t cu_type(ff_dtype dt) { return dt == FF_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

/* The largest power of two <= 16 dividing the address. */
static int align_of(const void *p) {
    const uintptr_t a = (uintptr_t)p;
    int al = 16;
    while (al > 1 && (a & (uintptr_t)(al - 1))) al >>= 1;
    return al;
}

/* ---- cuBLASLt plans ---------------------------------------------------------------- */

typedef struct {
    int64_t m, n, k;
    int32_t wdt, odt, bdt, epi, align;
} lt_key;

typedef struct {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
    int usable; /* 0: cuBLASLt had no algorithm; remembered so the heuristic is not asked again */
} lt_plan;

static void lt_plan_destroy(void *user, void *p) {
    lt_plan *pl = (lt_plan *)p;
    if (pl->lc) cublasLtMatrixLayoutDestroy(pl->lc);
    if (pl->lb) cublasLtMatrixLayoutDestroy(pl->lb);
    if (pl->la) cublasLtMatrixLayoutDestroy(pl->la);
    if (pl->op) cublasLtMatmulDescDestroy(pl->op);
    free(pl);
}

#define LT(call, err)                                                                                                  \
    do {                                                                                                               \
        cublasStatus_t s__ = (call);                                                                                   \
        if (s__ != CUBLAS_STATUS_SUCCESS) {                                                                            \
            st = cuda_fail_cublas((err), #call, __FILE__, __LINE__, s__);                                              \
            goto fail;                                                                                                 \
        }                                                                                                              \
    } while (0)

/* Builds the plan for key (descriptors and, if cuBLASLt has one, an algorithm). */
static ff_status lt_plan_build(cuda_ctx *ctx, const lt_key *key, lt_plan **out, ff_err *err) {
    ff_status st = FF_OK;
    lt_plan *pl = (lt_plan *)calloc(1, sizeof *pl);
    cublasLtMatmulPreference_t pref = NULL;
    if (!pl) return ff_err_set(err, FF_ERR_NOMEM, "cuda: cannot allocate a cuBLASLt plan");
    {
        const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
        const cublasLtEpilogue_t epi = (cublasLtEpilogue_t)key->epi;
        LT(cublasLtMatmulDescCreate(&pl->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), err);
        LT(cublasLtMatmulDescSetAttribute(pl->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), err);
        LT(cublasLtMatmulDescSetAttribute(pl->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), err);
        LT(cublasLtMatmulDescSetAttribute(pl->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), err);
        if (key->bdt >= 0) {
            const cudaDataType_t bt = cu_type((ff_dtype)key->bdt);
            LT(cublasLtMatmulDescSetAttribute(pl->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt), err);
        }
        /* column-major: A = w as (K, N), B = x as (K, M), C = D = out^T as (N, M) */
        LT(cublasLtMatrixLayoutCreate(&pl->la, cu_type((ff_dtype)key->wdt), (uint64_t)key->k, (uint64_t)key->n,
                                      key->k),
           err);
        LT(cublasLtMatrixLayoutCreate(&pl->lb, CUDA_R_16BF, (uint64_t)key->k, (uint64_t)key->m, key->k), err);
        LT(cublasLtMatrixLayoutCreate(&pl->lc, cu_type((ff_dtype)key->odt), (uint64_t)key->n, (uint64_t)key->m,
                                      key->n),
           err);
        LT(cublasLtMatmulPreferenceCreate(&pref), err);
        const size_t ws = LT_WS_BYTES;
        const uint32_t al = (uint32_t)key->align;
        LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), err);
        LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof al), err);
        LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof al), err);
        LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof al), err);
        LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof al), err);
        cublasLtMatmulHeuristicResult_t res;
        int nres = 0;
        memset(&res, 0, sizeof res);
        /* no algorithm is not an error: the plan remembers it and the caller takes the generic path */
        const cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(ctx->cublaslt, pl->op, pl->la, pl->lb, pl->lc,
                                                                 pl->lc, pref, 1, &res, &nres);
        pl->usable = hs == CUBLAS_STATUS_SUCCESS && nres > 0 && res.state == CUBLAS_STATUS_SUCCESS;
        if (pl->usable) pl->algo = res.algo;
        cublasLtMatmulPreferenceDestroy(pref);
        pref = NULL;
    }
    *out = pl;
    return FF_OK;
fail:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    lt_plan_destroy(NULL, pl);
    return st;
}

/* The cached plan for key, built on a miss; NULL plan (FF_OK) when cuBLASLt has no algorithm. */
static ff_status lt_plan_get(cuda_ctx *ctx, const lt_key *key, lt_plan **out, ff_err *err) {
    *out = NULL;
    if (!ctx->lt_plans) {
        ff_status st = cuda_plan_cache_create(LT_PLANS, lt_plan_destroy, NULL, &ctx->lt_plans, err);
        if (st) return st;
    }
    lt_plan *pl = (lt_plan *)cuda_plan_cache_get(ctx->lt_plans, key, sizeof *key);
    if (!pl) {
        ff_status st = lt_plan_build(ctx, key, &pl, err);
        if (st) return st;
        if ((st = cuda_plan_cache_put(ctx->lt_plans, key, sizeof *key, pl, err))) {
            lt_plan_destroy(NULL, pl);
            return st;
        }
    }
    *out = pl->usable ? pl : NULL;
    return FF_OK;
}

static ff_status lt_workspace(cuda_ctx *ctx, ff_err *err) {
    if (ctx->lt_ws) return FF_OK;
    cudaError_t e = cudaMalloc(&ctx->lt_ws, LT_WS_BYTES);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        ctx->lt_ws = NULL;
        return ff_err_set(err, FF_ERR_NOMEM, "cuda:%d: cannot allocate %zu bytes of cuBLASLt workspace", ctx->device,
                          LT_WS_BYTES);
    }
    if (e != cudaSuccess) return cuda_fail(err, "cudaMalloc(&ctx->lt_ws)", __FILE__, __LINE__, e);
    ctx->lt_ws_bytes = LT_WS_BYTES;
    return FF_OK;
}

/* ---- the BF16 GEMM path ---------------------------------------------------------------- */

/* out rows [0, m) = act(xb (m, k) BF16 @ wb^T + b): one cuBLASLt matmul, or GemmEx + cuda_bias_act. */
static ff_status gemm_bf16_rows(cuda_ctx *ctx, const void *xb, const void *wb, ff_dtype wdt, const ff_tensor *b,
                                ff_act_kind act, void *o, ff_dtype odt, int64_t m, int64_t n, int64_t k,
                                ff_err *err) {
    const int gelu = act == FF_ACT_GELU_TANH;
    lt_key key;
    memset(&key, 0, sizeof key);
    key.m = m, key.n = n, key.k = k;
    key.wdt = wdt, key.odt = odt, key.bdt = b ? (int32_t)b->dtype : -1;
    key.epi = b ? (gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                : (gelu ? CUBLASLT_EPILOGUE_GELU : CUBLASLT_EPILOGUE_DEFAULT);
    int al = align_of(xb);
    if (align_of(wb) < al) al = align_of(wb);
    if (align_of(o) < al) al = align_of(o);
    key.align = al;
    lt_plan *pl = NULL;
    ff_status st = lt_plan_get(ctx, &key, &pl, err);
    if (st) return st;
    const void *bp = b ? b->data : NULL;
    if (!pl && b && b->dtype == FF_F32 && odt == FF_BF16) {
        /* cuBLASLt may want a BF16 bias with a BF16 output: round it (as torch's bf16 Linear holds it) */
        key.bdt = FF_BF16;
        if ((st = lt_plan_get(ctx, &key, &pl, err))) return st;
        if (pl) {
            void *s = NULL;
            if ((st = cuda_scratch(ctx, (size_t)n * 2, &s, err)) ||
                (st = cuda_round_bf16(ctx, (const float *)b->data, s, n, err)))
                return st;
            bp = s;
        }
    }
    const float one = 1.0f, zero = 0.0f;
    if (pl) {
        if ((st = lt_workspace(ctx, err))) return st;
        if (b) {
            FF_CUBLAS(cublasLtMatmulDescSetAttribute(pl->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp), err);
        }
        FF_CUBLAS(cublasLtMatmul(ctx->cublaslt, pl->op, &one, wb, pl->la, xb, pl->lb, &zero, o, pl->lc, o, pl->lc,
                                 &pl->algo, ctx->lt_ws, ctx->lt_ws_bytes, ctx->compute),
                  err);
        return act == FF_ACT_SILU ? cuda_act_inplace(ctx, o, odt, act, m * n, err) : FF_OK;
    }
    /* generic: F32 accumulator (out itself when F32, else scratch rows), then bias / act / rounding */
    int64_t mc = m;
    if (odt != FF_F32) {
        mc = (int64_t)(CHUNK_BYTES / 4) / n;
        if (mc < 1) mc = 1;
        if (mc > m) mc = m;
    }
    const size_t osz = ff_dtype_size(odt);
    for (int64_t m0 = 0; m0 < m; m0 += mc) {
        const int64_t rows = m - m0 < mc ? m - m0 : mc;
        char *orow = (char *)o + (size_t)(m0 * n) * osz;
        float *acc = (float *)orow;
        if (odt != FF_F32) {
            void *s = NULL;
            if ((st = cuda_scratch(ctx, (size_t)(rows * n) * sizeof(float), &s, err))) return st;
            acc = (float *)s;
        }
        FF_CUBLAS(cublasGemmEx(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)rows, (int)k, &one, wb,
                               cu_type(wdt), (int)k, (const char *)xb + (size_t)(m0 * k) * 2, CUDA_R_16BF, (int)k,
                               &zero, acc, CUDA_R_32F, (int)n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  err);
        if ((st = cuda_bias_act(ctx, acc, n, b ? b->data : NULL, b ? b->dtype : FF_F32, act, orow, odt, rows, n,
                                err)))
            return st;
    }
    return FF_OK;
}

static ff_status linear_act_bf16(cuda_ctx *ctx, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                                 ff_act_kind act, ff_tensor *out, int64_t m, int64_t n, int64_t k, ff_err *err) {
    const size_t osz = ff_dtype_size(out->dtype);
    /* rows per chunk: an F32 x is rounded in chunks of CHUNK_BYTES; a BF16 x goes whole */
    int64_t mc = x->dtype == FF_BF16 ? m : (int64_t)(CHUNK_BYTES / 2) / k;
    if (mc < 1) mc = 1;
    if (mc > m) mc = m;
    /* scratch2: [w rounded (F32 w only), 256-aligned][x rows rounded (F32 x only)] */
    const size_t wbytes = w->dtype == FF_BF16 ? 0 : cuda_align256((size_t)(n * k) * 2);
    const size_t xbytes = x->dtype == FF_BF16 ? 0 : (size_t)(mc * k) * 2;
    void *s2 = NULL;
    ff_status st;
    if (wbytes + xbytes && (st = cuda_scratch2(ctx, wbytes + xbytes, &s2, err))) return st;
    const void *wb = w->data;
    ff_dtype wdt = w->dtype;
    if (wbytes) {
        if ((st = cuda_round_bf16(ctx, (const float *)w->data, s2, n * k, err))) return st;
        wb = s2;
        wdt = FF_BF16;
    }
    for (int64_t m0 = 0; m0 < m; m0 += mc) {
        const int64_t rows = m - m0 < mc ? m - m0 : mc;
        const void *xb = (const char *)x->data + (size_t)(m0 * k) * 2;
        if (xbytes) {
            xb = (char *)s2 + wbytes;
            if ((st = cuda_round_bf16(ctx, (const float *)x->data + m0 * k, (void *)xb, rows * k, err))) return st;
        }
        if ((st = gemm_bf16_rows(ctx, xb, wb, wdt, b, act, (char *)out->data + (size_t)(m0 * n) * osz, out->dtype,
                                 rows, n, k, err)))
            return st;
    }
    return FF_OK;
}

/* ---- the F32 GEMM path ------------------------------------------------------------------ */

static ff_status linear_act_f32(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                                ff_act_kind act, ff_tensor *out, int64_t m, int64_t n, int64_t k, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int widen = x->dtype != FF_F32, acc_scratch = out->dtype != FF_F32;
    int64_t mc = m;
    if (widen || acc_scratch) {
        mc = (int64_t)(CHUNK_BYTES / 4) / ((widen ? k : 0) + (acc_scratch ? n : 0));
        if (mc < 1) mc = 1;
        if (mc > m) mc = m;
    }
    /* scratch2: [x rows widened, 256-aligned][F32 accumulator rows]; cuda_linear uses ctx->scratch itself */
    const size_t xbytes = widen ? cuda_align256((size_t)(mc * k) * 4) : 0;
    const size_t abytes = acc_scratch ? (size_t)(mc * n) * 4 : 0;
    void *s2 = NULL;
    ff_status st;
    if (xbytes + abytes && (st = cuda_scratch2(ctx, xbytes + abytes, &s2, err))) return st;
    const size_t osz = ff_dtype_size(out->dtype);
    for (int64_t m0 = 0; m0 < m; m0 += mc) {
        const int64_t rows = m - m0 < mc ? m - m0 : mc;
        const int64_t xs[2] = {rows, k}, os[2] = {rows, n};
        ff_tensor xv, av;
        if (widen) {
            if ((st = cuda_widen_f32(ctx, (const char *)x->data + (size_t)(m0 * k) * 2, x->dtype, (float *)s2,
                                     rows * k, err)))
                return st;
            ff_tensor_view(&xv, FF_F32, 2, xs, s2, x->loc);
        } else {
            ff_tensor_view(&xv, FF_F32, 2, xs, (float *)x->data + m0 * k, x->loc);
        }
        void *acc = acc_scratch ? (char *)s2 + xbytes : (char *)out->data + (size_t)(m0 * n) * 4;
        ff_tensor_view(&av, FF_F32, 2, os, acc, out->loc);
        if ((st = cuda_linear(be, &xv, w, NULL, &av, err))) return st;
        if ((b || act != FF_ACT_NONE || acc_scratch) &&
            (st = cuda_bias_act(ctx, (const float *)acc, n, b ? b->data : NULL, b ? b->dtype : FF_F32, act,
                                (char *)out->data + (size_t)(m0 * n) * osz, out->dtype, rows, n, err)))
            return st;
    }
    return FF_OK;
}

ff_status cuda_linear_act(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_act_kind act,
                          ff_tensor *out, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    const int64_t k = x->shape[x->ndim - 1], n = w->shape[0];
    const int64_t m = k > 0 ? ff_tensor_numel(x) / k : (n > 0 ? ff_tensor_numel(out) / n : 0);
    if (m == 0 || n == 0) return FF_OK;
    FF_CU_ENTER(ctx, err);
    if (k == 0) /* empty sum: act(bias or 0) */
        return cuda_bias_act(ctx, NULL, n, b ? b->data : NULL, b ? b->dtype : FF_F32, act, out->data, out->dtype, m,
                             n, err);
    if (!fits_int(m) || !fits_int(n) || !fits_int(k))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: linear_act with M=%lld N=%lld K=%lld exceeds cuBLAS's int dims",
                          be->name, (long long)m, (long long)n, (long long)k);
    if (ff_be_bf16_gemm(be) || (x->dtype == FF_BF16 && w->dtype == FF_BF16))
        return linear_act_bf16(ctx, x, w, b, act, out, m, n, k, err);
    return linear_act_f32(be, x, w, b, act, out, m, n, k, err);
}
