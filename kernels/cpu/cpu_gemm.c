/* cpu_gemm: C = alpha * op(A) op(B), the one GEMM engine behind the CPU
 * backend's linear, matmul and conv3d.
 *
 * With oneDNN (FF_HAVE_DNNL) large single matrices go to its matmul on a
 * fixed tile grid (cpu_gemm_dnnl.c); what it declines comes here.
 * With OpenBLAS (FF_HAVE_OPENBLAS) F32 operands go straight to cblas_sgemm;
 * a BF16 operand is widened to F32 a block of rows at a time (a few MiB),
 * never as a whole weight. Without OpenBLAS (the GPU machines' image) the
 * built-in GEMM runs: GotoBLAS blocking with packing shared by all threads
 * (BF16 widened while packing), a register-tiled micro-kernel chosen once
 * from the CPU's features (AVX-512 12x32, AVX2+FMA 6x16, else a portable
 * 4x8), and a static split of C between threads, so that results do not
 * depend on the thread count. Batches of small matrices (attention heads)
 * go one matrix per thread instead.
 *
 * Not here: shape validation (kernels/ops.c), im2col (cpu_conv.c). */
#include <limits.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_dnnl.h"
#include "kernels/cpu/cpu_internal.h"

#ifdef FF_HAVE_OPENBLAS
#include <cblas.h>
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FF_X86_KERNELS 1
#include <immintrin.h>
#endif

#define NC 2048   /* columns of B packed per depth block (shared by all threads, L3) */
#define MCH 2048  /* rows of A packed per depth block (shared by all threads, L3) */
#define ITEM_MR 16  /* a work item is ITEM_MR micro-rows x ITEM_N columns of C */
#define ITEM_N 256
#define MR_MAX 16   /* bounds of every micro-kernel's tile (edge scratch) */
#define NR_MAX 32

/* ---- micro-kernels ----------------------------------------------------------
 * c (mr x nr, row stride ldc) = alpha * acc (+ c when accumulate), acc =
 * sum over kc of the packed A micro-panel (kc steps of mr values) times the
 * packed B micro-panel (kc steps of nr values). Rows are spelled out with
 * X-macros so that every accumulator is a named register variable. */

/* Portable 4x8: eight 4-lane accumulators + two B vectors fit 16 SSE registers. */
static void ukr_generic_4x8(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                            int accumulate) {
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
#define G_STORE(r)                                                                                                 \
    do {                                                                                                           \
        float *cr = c + (r) * ldc;                                                                                 \
        cpu_v4 x0 = alpha * c##r##0, x1 = alpha * c##r##1;                                                         \
        if (accumulate) x0 += cpu_v4_load(cr), x1 += cpu_v4_load(cr + 4);                                          \
        cpu_v4_store(cr, x0), cpu_v4_store(cr + 4, x1);                                                            \
    } while (0)
    G_STORE(0);
    G_STORE(1);
    G_STORE(2);
    G_STORE(3);
#undef G_STORE
}

#ifdef FF_X86_KERNELS
#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

/* AVX2 + FMA 6x16: 12 accumulators + 2 B vectors + 1 broadcast = 15 of 16 ymm. */
#define A2_DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
#define A2_FMA(r)                                                                                                  \
    {                                                                                                              \
        const __m256 ar = _mm256_broadcast_ss(a + (r));                                                            \
        c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);                                                                \
        c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);                                                                \
    }
#define A2_STORE(r)                                                                                                \
    {                                                                                                              \
        float *cr = c + (r) * ldc;                                                                                 \
        __m256 x0 = _mm256_mul_ps(av, c##r##0), x1 = _mm256_mul_ps(av, c##r##1);                                  \
        if (accumulate) {                                                                                          \
            x0 = _mm256_add_ps(x0, _mm256_loadu_ps(cr));                                                           \
            x1 = _mm256_add_ps(x1, _mm256_loadu_ps(cr + 8));                                                       \
        }                                                                                                          \
        _mm256_storeu_ps(cr, x0);                                                                                  \
        _mm256_storeu_ps(cr + 8, x1);                                                                              \
    }

__attribute__((target("avx2,fma"))) static void ukr_avx2_6x16(int64_t kc, const float *a, const float *b, float *c,
                                                               int64_t ldc, float alpha, int accumulate) {
    ROWS6(A2_DECL)
    for (int64_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        ROWS6(A2_FMA)
        a += 6;
        b += 16;
    }
    const __m256 av = _mm256_set1_ps(alpha);
    ROWS6(A2_STORE)
}

/* AVX-512 12x32: 24 accumulators + 2 B vectors + 1 broadcast = 27 of 32 zmm. */
#define A5_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define A5_FMA(r)                                                                                                  \
    {                                                                                                              \
        const __m512 ar = _mm512_set1_ps(a[r]);                                                                    \
        c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);                                                                \
        c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);                                                                \
    }
#define A5_STORE(r)                                                                                                \
    {                                                                                                              \
        float *cr = c + (r) * ldc;                                                                                 \
        __m512 x0 = _mm512_mul_ps(av, c##r##0), x1 = _mm512_mul_ps(av, c##r##1);                                  \
        if (accumulate) {                                                                                          \
            x0 = _mm512_add_ps(x0, _mm512_loadu_ps(cr));                                                           \
            x1 = _mm512_add_ps(x1, _mm512_loadu_ps(cr + 16));                                                      \
        }                                                                                                          \
        _mm512_storeu_ps(cr, x0);                                                                                  \
        _mm512_storeu_ps(cr + 16, x1);                                                                             \
    }

__attribute__((target("avx512f"))) static void ukr_avx512_12x32(int64_t kc, const float *a, const float *b, float *c,
                                                                 int64_t ldc, float alpha, int accumulate) {
    ROWS12(A5_DECL)
    for (int64_t p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        ROWS12(A5_FMA)
        a += 12;
        b += 32;
    }
    const __m512 av = _mm512_set1_ps(alpha);
    ROWS12(A5_STORE)
}
#endif

int cpu_gemm_ukernels(cpu_ukernel *out, int max) {
    int n = 0;
#ifdef FF_X86_KERNELS
    __builtin_cpu_init();
    /* kc keeps a B micro-panel (kc x nr floats) within 24 KiB of L1 */
    if (n < max && __builtin_cpu_supports("avx512f"))
        out[n++] = (cpu_ukernel){ukr_avx512_12x32, 12, 32, 192, "avx512 12x32"};
    if (n < max && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        out[n++] = (cpu_ukernel){ukr_avx2_6x16, 6, 16, 256, "avx2-fma 6x16"};
#endif
    if (n < max) out[n++] = (cpu_ukernel){ukr_generic_4x8, 4, 8, 256, "generic 4x8"};
    return n;
}

cpu_ukernel cpu_gemm_pick_ukernel(void) {
    cpu_ukernel k[4];
    cpu_gemm_ukernels(k, 4);
    return k[0];
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

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- built-in GEMM -------------------------------------------------------------
 * GotoBLAS loop order. For each chunk of MCH rows of A and each depth block
 * of KC: all threads pack A's chunk (micro-panels of mr rows); then for each
 * NC columns of B: all threads pack B's block (micro-panels of nr columns),
 * and split C's (rows x ITEM_N) items between them. Packing is thus paid once
 * per block, not once per thread, and a micro-panel of B stays in L1 while
 * the micro-panels of A stream from L2. The partition of work is static and
 * every element of C is summed in the same order whatever the thread count. */

/* Packs rows [0, rows) x depth [0, kc) of one micro-panel (element (r, k) at
 * p[r * rs + k * cs]) k-major, zero past `rows` so the micro-kernel never
 * branches. always_inline so that each dtype gets its own loop. */
static inline __attribute__((always_inline)) void pack_panel_dt(float *dst, const void *p, int bf16, int64_t rs,
                                                                 int64_t cs, int64_t rows, int64_t kc, int width) {
    if (rows == width && cs == 1) { /* rows contiguous in k: read each row once, write strided */
        for (int64_t r = 0; r < width; r++)
            for (int64_t k = 0; k < kc; k++)
                dst[k * width + r] = bf16 ? cpu_bf16(((const uint16_t *)p)[r * rs + k])
                                          : ((const float *)p)[r * rs + k];
        return;
    }
    for (int64_t k = 0; k < kc; k++, dst += width) {
        for (int64_t r = 0; r < rows; r++) {
            const int64_t idx = r * rs + k * cs;
            dst[r] = bf16 ? cpu_bf16(((const uint16_t *)p)[idx]) : ((const float *)p)[idx];
        }
        for (int64_t r = rows; r < width; r++) dst[r] = 0.0f;
    }
}

static void pack_panel(float *dst, const void *p, ff_dtype dt, int64_t rs, int64_t cs, int64_t rows, int64_t kc,
                       int width) {
    if (dt == FF_BF16) pack_panel_dt(dst, p, 1, rs, cs, rows, kc, width);
    else pack_panel_dt(dst, p, 0, rs, cs, rows, kc, width);
}

typedef struct {
    const cpu_ctx *ctx;
    const cpu_gemm_args *g;
    int64_t a_rs, a_cs, b_rs, b_cs;
    int64_t kc_max;
} gemm_plan;

static void sync_threads(int nthr) {
    if (nthr > 1) {
#pragma omp barrier
    }
}

/* One item: rows [i0, i0 + mi) of the packed A chunk times columns
 * [j0, j0 + nj) of the packed B block, into C at (ci, cj). */
static void gemm_item(const gemm_plan *pl, const float *pa, const float *pb, int64_t kc, int64_t i0, int64_t mi,
                      int64_t j0, int64_t nj, float *c, int accumulate) {
    const cpu_ukernel *u = &pl->ctx->ukr;
    const int64_t ldc = pl->g->ldc;
    const float alpha = pl->g->alpha;
    float ct[MR_MAX * NR_MAX] __attribute__((aligned(64)));
    for (int64_t jr = 0; jr < nj; jr += u->nr) {
        const int64_t nn = min64(u->nr, nj - jr);
        for (int64_t ir = 0; ir < mi; ir += u->mr) {
            const int64_t mm = min64(u->mr, mi - ir);
            const float *ap = pa + (i0 + ir) * kc, *bp = pb + (j0 + jr) * kc;
            float *cp = c + (i0 + ir) * ldc + j0 + jr;
            if (mm == u->mr && nn == u->nr) {
                u->fn(kc, ap, bp, cp, ldc, alpha, accumulate);
                continue;
            }
            u->fn(kc, ap, bp, ct, u->nr, 1.0f, 0); /* edge: through a full-size scratch tile */
            for (int64_t i = 0; i < mm; i++)
                for (int64_t j = 0; j < nn; j++)
                    cp[i * ldc + j] = alpha * ct[i * u->nr + j] + (accumulate ? cp[i * ldc + j] : 0.0f);
        }
    }
}

/* C[bi] by threads (tid of nthr; all of them call this, or one thread alone). */
static void gemm_matrix(const gemm_plan *pl, int64_t bi, float *pa, float *pb, int tid, int nthr) {
    const cpu_gemm_args *g = pl->g;
    const int mr = pl->ctx->ukr.mr, nr = pl->ctx->ukr.nr;
    const int64_t item_m = (int64_t)ITEM_MR * mr;
    float *c = g->c + bi * g->c_batch_stride;
    for (int64_t m0 = 0; m0 < g->m; m0 += MCH) {
        const int64_t mch = min64(MCH, g->m - m0);
        for (int64_t pc = 0; pc < g->k; pc += pl->kc_max) {
            const int64_t kc = min64(pl->kc_max, g->k - pc);
            const int64_t npa = ceil_div(mch, mr);
            for (int64_t q = tid; q < npa; q += nthr)
                pack_panel(pa + q * mr * kc, mat_at(&g->a, bi, (m0 + q * mr) * pl->a_rs + pc * pl->a_cs), g->a.dt,
                           pl->a_rs, pl->a_cs, min64(mr, mch - q * mr), kc, mr);
            for (int64_t n0 = 0; n0 < g->n; n0 += NC) {
                const int64_t nc = min64(NC, g->n - n0), npb = ceil_div(nc, nr);
                /* B's micro-panels run along N: its "rows" are op(B)'s columns */
                for (int64_t q = tid; q < npb; q += nthr)
                    pack_panel(pb + q * nr * kc, mat_at(&g->b, bi, pc * pl->b_rs + (n0 + q * nr) * pl->b_cs),
                               g->b.dt, pl->b_cs, pl->b_rs, min64(nr, nc - q * nr), kc, nr);
                sync_threads(nthr); /* A chunk and B block packed */
                const int64_t tm = ceil_div(mch, item_m), tn = ceil_div(nc, ITEM_N);
                for (int64_t it = tid; it < tm * tn; it += nthr) {
                    const int64_t i0 = (it / tn) * item_m, j0 = (it % tn) * ITEM_N;
                    gemm_item(pl, pa, pb, kc, i0, min64(item_m, mch - i0), j0, min64(ITEM_N, nc - j0),
                              c + m0 * g->ldc + n0, pc > 0 || g->accumulate);
                }
                sync_threads(nthr); /* before the buffers are packed again */
            }
        }
    }
}

static ff_status gemm_builtin(const cpu_ctx *ctx, const cpu_gemm_args *g, ff_err *err) {
    gemm_plan pl = {ctx, g, 0, 0, 0, 0, ctx->ukr.kc};
    mat_strides(&g->a, &pl.a_rs, &pl.a_cs);
    mat_strides(&g->b, &pl.b_rs, &pl.b_cs);
    const int mr = ctx->ukr.mr, nr = ctx->ukr.nr, nt = cpu_threads(ctx);
    const int64_t kc = min64(pl.kc_max, g->k);
    const size_t a_floats = (size_t)(ceil_div(min64(MCH, g->m), mr) * mr * kc);
    const size_t b_floats = (size_t)(ceil_div(min64(NC, g->n), nr) * nr * kc);
    const size_t per_set = (a_floats + b_floats + 15) / 16 * 16; /* 64-byte multiples for aligned_alloc */
    const double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    /* Many small matrices (attention-like batches): one matrix per thread,
     * each with its own buffers. Otherwise all threads share each matrix. */
    const int per_batch = g->batch > 1 && (g->batch >= 2 * nt || flops < 8e6);
    int nthr = flops * (double)g->batch < 4e6 ? 1 : nt;
    if (per_batch && g->batch < nthr) nthr = (int)g->batch;
    const size_t sets = per_batch ? (size_t)nthr : 1;
    float *buf = aligned_alloc(64, per_set * sets * sizeof(float));
    if (!buf)
        return ff_err_set(err, FF_ERR_NOMEM, "cpu gemm: cannot allocate %zu bytes of packing buffers",
                          per_set * sets * sizeof(float));
    if (per_batch) {
#pragma omp parallel for num_threads(nthr) schedule(dynamic, 1)
        for (int64_t bi = 0; bi < g->batch; bi++) {
            float *mine = buf + per_set * (size_t)omp_get_thread_num();
            gemm_matrix(&pl, bi, mine, mine + a_floats, 0, 1);
        }
    } else if (nthr > 1) {
#pragma omp parallel num_threads(nthr)
        {
            const int tid = omp_get_thread_num(), team = omp_get_num_threads();
            for (int64_t bi = 0; bi < g->batch; bi++) gemm_matrix(&pl, bi, buf, buf + a_floats, tid, team);
        }
    } else {
        for (int64_t bi = 0; bi < g->batch; bi++) gemm_matrix(&pl, bi, buf, buf + a_floats, 0, 1);
    }
    free(buf);
    return FF_OK;
}

size_t cpu_gemm_serial_floats(const cpu_ctx *ctx, const cpu_gemm_args *g) {
    const int64_t kc = min64(ctx->ukr.kc, g->k > 0 ? g->k : 1);
    return (size_t)((ceil_div(min64(MCH, g->m), ctx->ukr.mr) * ctx->ukr.mr +
                     ceil_div(min64(NC, g->n), ctx->ukr.nr) * ctx->ukr.nr) * kc);
}

void cpu_gemm_serial(const cpu_ctx *ctx, const cpu_gemm_args *g, float *buf) {
    if (g->m <= 0 || g->n <= 0) return;
    if (g->k <= 0) {
        if (!g->accumulate) zero_c(g);
        return;
    }
    gemm_plan pl = {ctx, g, 0, 0, 0, 0, ctx->ukr.kc};
    mat_strides(&g->a, &pl.a_rs, &pl.a_cs);
    mat_strides(&g->b, &pl.b_rs, &pl.b_cs);
    const int64_t kc = min64(pl.kc_max, g->k);
    float *pb = buf + ceil_div(min64(MCH, g->m), ctx->ukr.mr) * ctx->ukr.mr * kc;
    for (int64_t bi = 0; bi < g->batch; bi++) gemm_matrix(&pl, bi, buf, pb, 0, 1);
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

/* One row-major sgemm call: C (m, n) = alpha op(A) op(B) + beta C. */
typedef struct {
    enum CBLAS_TRANSPOSE ta, tb;
    int64_t m, n, k;
    float alpha;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float beta;
    float *c;
    int64_t ldc;
} blas_call;

/* Output tiles of a fixed size, each one single-threaded sgemm (OpenBLAS runs
 * serially inside an OpenMP region). OpenBLAS's own threading splits the
 * matrix by thread count and its edge kernels round differently, so the
 * result would change with --threads; fixed tiles make every element's
 * arithmetic independent of how many threads share the work, as with the
 * built-in GEMM. */
#define BLAS_TILE_M 256
#define BLAS_TILE_N 512
static void blas_tiled(const cpu_ctx *ctx, const blas_call *bc) {
    const int64_t tm = ceil_div(bc->m, BLAS_TILE_M), tn = ceil_div(bc->n, BLAS_TILE_N), tiles = tm * tn;
    const int nt = cpu_threads(ctx);
    const int nthr = tiles < nt ? (int)tiles : nt;
#pragma omp parallel for num_threads(nthr) schedule(dynamic, 1)
    for (int64_t t = 0; t < tiles; t++) {
        omp_set_num_threads(1); /* this task's ICV: OpenBLAS then runs serially, also in a team of one */
        const int64_t i0 = (t / tn) * BLAS_TILE_M, j0 = (t % tn) * BLAS_TILE_N;
        const int64_t mi = min64(BLAS_TILE_M, bc->m - i0), nj = min64(BLAS_TILE_N, bc->n - j0);
        const float *a = bc->ta == CblasNoTrans ? bc->a + i0 * bc->lda : bc->a + i0;
        const float *b = bc->tb == CblasNoTrans ? bc->b + j0 : bc->b + j0 * bc->ldb;
        cblas_sgemm(CblasRowMajor, bc->ta, bc->tb, (int)mi, (int)nj, (int)bc->k, bc->alpha, a, (int)bc->lda, b,
                    (int)bc->ldb, bc->beta, bc->c + i0 * bc->ldc + j0, (int)bc->ldc);
    }
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
                const blas_call bc = {ta, tb, mb, nb, g->k, g->alpha, ap, lda, bp, ldb,
                                      g->accumulate ? 1.0f : 0.0f, C + i0 * g->ldc + j0, g->ldc};
                blas_tiled(ctx, &bc);
            }
        }
    }
    free(wa);
    free(wb);
    return FF_OK;
}
#endif

int cpu_gemm_has_blas(void) {
#ifdef FF_HAVE_OPENBLAS
    return 1;
#else
    return 0;
#endif
}

ff_status cpu_gemm(const cpu_ctx *ctx, const cpu_gemm_args *g, ff_err *err) {
    if (g->batch <= 0 || g->m <= 0 || g->n <= 0) return FF_OK;
    if (g->k <= 0) { /* empty sum */
        if (!g->accumulate) zero_c(g);
        return FF_OK;
    }
#ifdef FF_HAVE_DNNL
    ff_status ds = cpu_dnnl_gemm(ctx, g, err);
    if (ds != FF_ERR_UNSUPPORTED) return ds;
#endif
#ifdef FF_HAVE_OPENBLAS
    if (!g->builtin && fits_blas_int(g)) return gemm_blas(ctx, g, err);
#endif
    return gemm_builtin(ctx, g, err);
}
