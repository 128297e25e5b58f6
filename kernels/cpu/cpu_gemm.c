/* cpu_gemm: C = alpha * op(A) op(B), the one GEMM engine behind the CPU
 * backend's linear, matmul and conv3d.
 *
 * With OpenBLAS (FF_HAVE_OPENBLAS) F32 operands go straight to cblas_sgemm;
 * a BF16 operand is widened to F32 a block of rows at a time (a few MiB),
 * never as a whole weight. Without OpenBLAS (the GPU machines' image) a
 * built-in GEMM runs: BLIS-style cache blocking (KC x MC panels of A, KC x NC
 * panels of B packed per tile, BF16 widened while packing), a register-tiled
 * micro-kernel chosen once from the CPU's features (AVX2+FMA 6x16, else a
 * portable 4x8), and one OpenMP work item per (batch, MC x NC tile of C).
 * Each tile of C is owned by one thread, so results do not depend on the
 * thread count.
 *
 * Not here: shape validation (kernels/ops.c), im2col (cpu_conv.c). */
#include <limits.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

#ifdef FF_HAVE_OPENBLAS
#include <cblas.h>
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FF_X86_KERNELS 1
#include <immintrin.h>
#endif

#define KC 256          /* depth of one packed block: a B micro-panel (KC x 16 floats) stays in L1 */
#define TILE_PANELS 16  /* MC = 16 micro-rows of A, NC = 16 micro-columns of B (sized for L2) */
#define MR_MAX 8
#define NR_MAX 16

/* ---- micro-kernels --------------------------------------------------------- */

/* Portable 4x8: eight 4-lane accumulators + two B vectors fit 16 SSE registers. */
static void ukr_generic_4x8(int64_t kc, const float *a, const float *b, float *ct) {
    cpu_v4 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
    for (int64_t p = 0; p < kc; p++) {
        const cpu_v4 b0 = cpu_v4_load(b), b1 = cpu_v4_load(b + 4);
        c00 += a[0] * b0, c01 += a[0] * b1;
        c10 += a[1] * b0, c11 += a[1] * b1;
        c20 += a[2] * b0, c21 += a[2] * b1;
        c30 += a[3] * b0, c31 += a[3] * b1;
        a += 4;
        b += 8;
    }
    cpu_v4_store(ct + 0, c00), cpu_v4_store(ct + 4, c01);
    cpu_v4_store(ct + 8, c10), cpu_v4_store(ct + 12, c11);
    cpu_v4_store(ct + 16, c20), cpu_v4_store(ct + 20, c21);
    cpu_v4_store(ct + 24, c30), cpu_v4_store(ct + 28, c31);
}

#ifdef FF_X86_KERNELS
/* AVX2 + FMA 6x16: 12 accumulators + 2 B vectors + 1 broadcast = 15 of 16 ymm. */
#define ROW6(r)                                                                                                    \
    do {                                                                                                           \
        __m256 ar = _mm256_broadcast_ss(a + (r));                                                                  \
        c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);                                                                \
        c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);                                                                \
    } while (0)

__attribute__((target("avx2,fma"))) static void ukr_avx2_6x16(int64_t kc, const float *a, const float *b,
                                                               float *ct) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        ROW6(0);
        ROW6(1);
        ROW6(2);
        ROW6(3);
        ROW6(4);
        ROW6(5);
        a += 6;
        b += 16;
    }
    _mm256_storeu_ps(ct + 0, c00);
    _mm256_storeu_ps(ct + 8, c01);
    _mm256_storeu_ps(ct + 16, c10);
    _mm256_storeu_ps(ct + 24, c11);
    _mm256_storeu_ps(ct + 32, c20);
    _mm256_storeu_ps(ct + 40, c21);
    _mm256_storeu_ps(ct + 48, c30);
    _mm256_storeu_ps(ct + 56, c31);
    _mm256_storeu_ps(ct + 64, c40);
    _mm256_storeu_ps(ct + 72, c41);
    _mm256_storeu_ps(ct + 80, c50);
    _mm256_storeu_ps(ct + 88, c51);
}
#undef ROW6
#endif

cpu_ukernel cpu_gemm_pick_ukernel(void) {
#ifdef FF_X86_KERNELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (cpu_ukernel){ukr_avx2_6x16, 6, 16, "avx2-fma 6x16"};
#endif
    return (cpu_ukernel){ukr_generic_4x8, 4, 8, "generic 4x8"};
}

/* ---- operand access ---------------------------------------------------------- */

/* Strides of the logical operand: element (r, c) at p[r * rs + c * cs]. */
static void mat_strides(const cpu_mat *x, int64_t *rs, int64_t *cs) {
    *rs = x->trans ? 1 : x->ld;
    *cs = x->trans ? x->ld : 1;
}

static const void *mat_at(const cpu_mat *x, int64_t batch, int64_t offset) {
    size_t es = x->dt == FF_BF16 ? 2 : 4;
    return (const char *)x->p + (size_t)(batch * x->batch_stride + offset) * es;
}

static void zero_c(const cpu_gemm_args *g) {
    for (int64_t bi = 0; bi < g->batch; bi++)
        for (int64_t i = 0; i < g->m; i++) memset(g->c + bi * g->c_batch_stride + i * g->ldc, 0, (size_t)g->n * 4);
}

/* ---- built-in GEMM ------------------------------------------------------------- */

/* Packs rows [0, rows) x depth [0, kc) of an operand (element (r, k) at
 * p[r * rs + k * cs]) into micro-panels of `width` rows, k-major inside a
 * panel; rows past the end are zero so the micro-kernel never branches.
 * always_inline so that each dtype gets its own loop. */
static inline __attribute__((always_inline)) void pack_panels_dt(float *dst, const void *p, int bf16, int64_t rs,
                                                                  int64_t cs, int64_t rows, int64_t kc, int width) {
    for (int64_t r0 = 0; r0 < rows; r0 += width) {
        int64_t nr = rows - r0 < width ? rows - r0 : width;
        for (int64_t k = 0; k < kc; k++) {
            for (int64_t r = 0; r < nr; r++) {
                int64_t idx = (r0 + r) * rs + k * cs;
                dst[r] = bf16 ? cpu_bf16(((const uint16_t *)p)[idx]) : ((const float *)p)[idx];
            }
            for (int64_t r = nr; r < width; r++) dst[r] = 0.0f;
            dst += width;
        }
    }
}

static void pack_panels(float *dst, const void *p, ff_dtype dt, int64_t rs, int64_t cs, int64_t rows, int64_t kc,
                        int width) {
    if (dt == FF_BF16) pack_panels_dt(dst, p, 1, rs, cs, rows, kc, width);
    else pack_panels_dt(dst, p, 0, rs, cs, rows, kc, width);
}

/* c (mi x nj of C) = or += alpha * ct */
static void store_tile(float *c, int64_t ldc, const float *ct, int nr, int64_t mi, int64_t nj, float alpha,
                       int first) {
    for (int64_t i = 0; i < mi; i++) {
        float *crow = c + i * ldc;
        const float *trow = ct + i * nr;
        if (first)
            for (int64_t j = 0; j < nj; j++) crow[j] = alpha * trow[j];
        else
            for (int64_t j = 0; j < nj; j++) crow[j] += alpha * trow[j];
    }
}

/* One MC x NC tile of C for batch bi, over the whole depth K. */
static void gemm_tile(const cpu_ctx *ctx, const cpu_gemm_args *g, int64_t bi, int64_t i0, int64_t mc, int64_t j0,
                      int64_t nc, float *pa, float *pb) {
    const int mr = ctx->ukr.mr, nr = ctx->ukr.nr;
    int64_t a_rs, a_cs, b_rs, b_cs;
    mat_strides(&g->a, &a_rs, &a_cs);
    mat_strides(&g->b, &b_rs, &b_cs);
    float *c = g->c + bi * g->c_batch_stride + i0 * g->ldc + j0;
    float ct[MR_MAX * NR_MAX] __attribute__((aligned(64)));
    for (int64_t pc = 0; pc < g->k; pc += KC) {
        int64_t kc = g->k - pc < KC ? g->k - pc : KC;
        pack_panels(pa, mat_at(&g->a, bi, i0 * a_rs + pc * a_cs), g->a.dt, a_rs, a_cs, mc, kc, mr);
        /* B's micro-panels run along N: its "rows" are op(B)'s columns */
        pack_panels(pb, mat_at(&g->b, bi, pc * b_rs + j0 * b_cs), g->b.dt, b_cs, b_rs, nc, kc, nr);
        for (int64_t jr = 0; jr < nc; jr += nr) {
            int64_t nj = nc - jr < nr ? nc - jr : nr;
            for (int64_t ir = 0; ir < mc; ir += mr) {
                int64_t mi = mc - ir < mr ? mc - ir : mr;
                ctx->ukr.fn(kc, pa + ir * kc, pb + jr * kc, ct);
                store_tile(c + ir * g->ldc + jr, g->ldc, ct, nr, mi, nj, g->alpha, pc == 0);
            }
        }
    }
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static ff_status gemm_builtin(const cpu_ctx *ctx, const cpu_gemm_args *g, ff_err *err) {
    const int mr = ctx->ukr.mr, nr = ctx->ukr.nr;
    const int nt = cpu_threads(ctx);
    int64_t mc = (int64_t)TILE_PANELS * mr, nc = (int64_t)TILE_PANELS * nr;
    /* Few tiles (small M or N): shrink them so that every thread gets work. */
    while (g->batch * ceil_div(g->m, mc) * ceil_div(g->n, nc) < 2 * nt) {
        if (nc > 2 * nr && nc / nr >= mc / mr && nc / 2 < g->n) nc /= 2;
        else if (mc > 2 * mr && mc / 2 < g->m) mc /= 2;
        else break;
    }
    const int64_t tm = ceil_div(g->m, mc), tn = ceil_div(g->n, nc), ntiles = g->batch * tm * tn;
    const int nthr = ntiles < nt ? (int)ntiles : nt;
    const size_t per_thread = (size_t)(mc * KC + KC * nc); /* floats; multiple of 16, so 64-byte aligned */
    float *bufs = aligned_alloc(64, per_thread * (size_t)nthr * sizeof(float));
    if (!bufs)
        return ff_err_set(err, FF_ERR_NOMEM, "cpu gemm: cannot allocate %zu bytes of packing buffers",
                          per_thread * (size_t)nthr * sizeof(float));
    const double flops = 2.0 * (double)g->batch * (double)g->m * (double)g->n * (double)g->k;
#pragma omp parallel for num_threads(nthr) schedule(dynamic, 1) if (flops > 2e6)
    for (int64_t t = 0; t < ntiles; t++) {
        float *pa = bufs + per_thread * (size_t)omp_get_thread_num();
        int64_t bi = t / (tm * tn), rem = t % (tm * tn);
        int64_t i0 = (rem / tn) * mc, j0 = (rem % tn) * nc;
        gemm_tile(ctx, g, bi, i0, g->m - i0 < mc ? g->m - i0 : mc, j0, g->n - j0 < nc ? g->n - j0 : nc, pa,
                  pa + mc * KC);
    }
    free(bufs);
    return FF_OK;
}

/* ---- OpenBLAS ------------------------------------------------------------------- */
#ifdef FF_HAVE_OPENBLAS

#define WIDEN_FLOATS ((int64_t)1 << 20) /* 4 MiB of widened BF16 rows per cblas call */

/* dst (rn x k, row-major) = rows [r0, r0 + rn) of a BF16 operand (element
 * (r, c) at p[r * rs + c * cs]), widened to F32. */
static void widen_rows(const cpu_ctx *ctx, float *dst, const uint16_t *p, int64_t rs, int64_t cs, int64_t r0,
                       int64_t rn, int64_t k) {
#pragma omp parallel for num_threads(cpu_threads(ctx)) if (rn * k > 65536)
    for (int64_t r = 0; r < rn; r++)
        for (int64_t c = 0; c < k; c++) dst[r * k + c] = cpu_bf16(p[(r0 + r) * rs + c * cs]);
}

static int fits_blas_int(const cpu_gemm_args *g) {
    return g->m <= INT_MAX && g->n <= INT_MAX && g->k <= INT_MAX && g->a.ld <= INT_MAX && g->b.ld <= INT_MAX &&
           g->ldc <= INT_MAX;
}

static ff_status gemm_blas(const cpu_ctx *ctx, const cpu_gemm_args *g, ff_err *err) {
    const int abf = g->a.dt == FF_BF16, bbf = g->b.dt == FF_BF16;
    int64_t a_rs, a_cs, b_rs, b_cs;
    mat_strides(&g->a, &a_rs, &a_cs);
    mat_strides(&g->b, &b_rs, &b_cs);
    int64_t mch = g->m, nch = g->n;
    if (abf && WIDEN_FLOATS / g->k < mch) mch = WIDEN_FLOATS / g->k > 0 ? WIDEN_FLOATS / g->k : 1;
    if (bbf && WIDEN_FLOATS / g->k < nch) nch = WIDEN_FLOATS / g->k > 0 ? WIDEN_FLOATS / g->k : 1;
    float *wa = abf ? malloc((size_t)(mch * g->k) * sizeof(float)) : NULL;
    float *wb = bbf ? malloc((size_t)(nch * g->k) * sizeof(float)) : NULL;
    if ((abf && !wa) || (bbf && !wb)) {
        free(wa);
        free(wb);
        return ff_err_set(err, FF_ERR_NOMEM, "cpu gemm: cannot allocate BF16 widening buffers");
    }
    /* OpenBLAS (OpenMP build) sizes its team from the calling thread's ICV. */
    const int saved_threads = omp_get_max_threads();
    if (ctx->threads > 0) omp_set_num_threads(ctx->threads);
    for (int64_t bi = 0; bi < g->batch; bi++) {
        const void *A = mat_at(&g->a, bi, 0), *B = mat_at(&g->b, bi, 0);
        float *C = g->c + bi * g->c_batch_stride;
        for (int64_t i0 = 0; i0 < g->m; i0 += mch) {
            int64_t mb = g->m - i0 < mch ? g->m - i0 : mch;
            const float *ap;
            int64_t lda;
            enum CBLAS_TRANSPOSE ta;
            if (abf) {
                widen_rows(ctx, wa, A, a_rs, a_cs, i0, mb, g->k);
                ap = wa, lda = g->k, ta = CblasNoTrans;
            } else {
                ap = (const float *)A + i0 * a_rs, lda = g->a.ld, ta = g->a.trans ? CblasTrans : CblasNoTrans;
            }
            for (int64_t j0 = 0; j0 < g->n; j0 += nch) {
                int64_t nb = g->n - j0 < nch ? g->n - j0 : nch;
                const float *bp;
                int64_t ldb;
                enum CBLAS_TRANSPOSE tb;
                if (bbf) { /* rows of op(B)^T, i.e. columns of op(B) */
                    widen_rows(ctx, wb, B, b_cs, b_rs, j0, nb, g->k);
                    bp = wb, ldb = g->k, tb = CblasTrans;
                } else {
                    bp = (const float *)B + j0 * b_cs, ldb = g->b.ld, tb = g->b.trans ? CblasTrans : CblasNoTrans;
                }
                cblas_sgemm(CblasRowMajor, ta, tb, (int)mb, (int)nb, (int)g->k, g->alpha, ap, (int)lda, bp,
                            (int)ldb, 0.0f, C + i0 * g->ldc + j0, (int)g->ldc);
            }
        }
    }
    if (ctx->threads > 0) omp_set_num_threads(saved_threads);
    free(wa);
    free(wb);
    return FF_OK;
}
#endif

ff_status cpu_gemm(const cpu_ctx *ctx, const cpu_gemm_args *g, ff_err *err) {
    if (g->batch <= 0 || g->m <= 0 || g->n <= 0) return FF_OK;
    if (g->k <= 0) { /* empty sum */
        zero_c(g);
        return FF_OK;
    }
#ifdef FF_HAVE_OPENBLAS
    if (fits_blas_int(g)) return gemm_blas(ctx, g, err);
#endif
    return gemm_builtin(ctx, g, err);
}
