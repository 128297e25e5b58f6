/* cpu_gemm_dnnl: cpu_gemm's large single-matrix problems on oneDNN's matmul
 * (brgemm kernels: AVX-512 / AVX2, BF16 dot products where the CPU has
 * them), planned for one thread and run on a fixed grid of C tiles (see
 * cpu_dnnl.h for why).
 *
 * C (M x N) is cut into TILE_M x TILE_N tiles; each tile is one matmul of
 * strided views of A, B and C (no copies), alpha as an output scale and
 * accumulation as a sum post-op. Tiles of the same size share a primitive
 * (at most four per problem: full, ragged in M, in N, in both). Both
 * operands F32, or both BF16 (F32 accumulation and output). An F32 A with a
 * BF16 B (BF16 weights in F32 precision) widens B a block of whole tile
 * columns at a time, so the tile grid, and every tile's arithmetic, stays
 * what it is for an F32 B.
 * Not here: batches, small problems, mixed A (cpu_gemm.c keeps them). */
#ifdef FF_HAVE_DNNL

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_dnnl_internal.h"

#define TILE_M 256
#define TILE_N 256
#define MIN_FLOPS 4e6              /* below: the built-in GEMM / OpenBLAS */
#define WIDEN_FLOATS ((int64_t)1 << 22) /* 16 MiB of widened BF16 B per block */

typedef struct {
    int64_t m, n, k;
    int64_t a_rs, a_cs, b_rs, b_cs, ldc;
    int bf16, accumulate;
    float alpha;
} mm_problem;

static dnnl_status_t make_matmul(dnnl_engine_t eng, dnnl_primitive_attr_t attr, const void *arg,
                                 dnnl_primitive_desc_t *pd) {
    const mm_problem *p = arg;
    const dnnl_data_type_t dt = p->bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_dims_t ad = {p->m, p->k}, as = {p->a_rs, p->a_cs}, bd = {p->k, p->n}, bs = {p->b_rs, p->b_cs},
                      cd = {p->m, p->n}, cs = {p->ldc, 1};
    dnnl_memory_desc_t amd, bmd, cmd;
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_strides(&amd, 2, ad, dt, as)) ||
        (s = dnnl_memory_desc_init_by_strides(&bmd, 2, bd, dt, bs)) ||
        (s = dnnl_memory_desc_init_by_strides(&cmd, 2, cd, dnnl_f32, cs)))
        return s;
    if (p->alpha != 1.0f && (s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &p->alpha))) return s;
    if (p->accumulate) {
        dnnl_post_ops_t po;
        if ((s = dnnl_post_ops_create(&po))) return s;
        s = dnnl_post_ops_append_sum(po, 1.0f);
        if (!s) s = dnnl_primitive_attr_set_post_ops(attr, po);
        dnnl_post_ops_destroy(po);
        if (s) return s;
    }
    dnnl_matmul_desc_t md;
    if ((s = dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd))) return s;
    return dnnl_primitive_desc_create(pd, &md, attr, eng, NULL);
}

static const cpu_dnnl_prim *mm_prim(cpu_dnnl *d, const mm_problem *p) {
    cpu_dnnl_key key;
    memset(&key, 0, sizeof key);
    uint32_t ab;
    memcpy(&ab, &p->alpha, sizeof ab);
    const int64_t v[] = {CPU_DNNL_MATMUL, p->m,   p->n,    p->k,    p->a_rs,    p->a_cs, p->b_rs,
                         p->b_cs,         p->ldc, p->bf16, p->accumulate, (int64_t)ab};
    memcpy(key.v, v, sizeof v);
    const cpu_dnnl_prim *pr = cpu_dnnl_get(d, &key, make_matmul, p);
    return pr && strncmp(pr->impl, "ref", 3) ? pr : NULL; /* the reference kernel: slower than the fallbacks */
}

/* C[:, n0 : n0 + nn] of problem g, op(B)'s element (k, j) at
 * b[k * b_rs + (j - n0) * b_cs]; bf16 when both operands are BF16. */
static ff_status run_tiles(const cpu_ctx *ctx, const cpu_gemm_args *g, const void *a, int64_t a_rs, int64_t a_cs,
                           const void *b, int64_t b_rs, int64_t b_cs, int64_t n0, int64_t nn, int bf16, int dry,
                           ff_err *err) {
    cpu_dnnl *d = ctx->dnnl;
    const int64_t tm = (g->m + TILE_M - 1) / TILE_M, tn = (nn + TILE_N - 1) / TILE_N;
    const cpu_dnnl_prim *prim[2][2] = {{0}};
    size_t scratch = 0;
    for (int em = 0; em < 2; em++)
        for (int en = 0; en < 2; en++) {
            const int64_t m = em ? g->m % TILE_M : (g->m < TILE_M ? g->m : TILE_M);
            const int64_t n = en ? nn % TILE_N : (nn < TILE_N ? nn : TILE_N);
            if (!m || !n || (em && g->m <= TILE_M) || (en && nn <= TILE_N)) continue;
            const mm_problem p = {m, n, g->k, a_rs, a_cs, b_rs, b_cs, g->ldc, bf16, g->accumulate, g->alpha};
            if (!(prim[em][en] = mm_prim(d, &p))) return FF_ERR_UNSUPPORTED;
            scratch = prim[em][en]->scratch > scratch ? prim[em][en]->scratch : scratch;
        }
    if (dry) return FF_OK; /* planned: every primitive exists */
    const int nt = cpu_threads(ctx);
    ff_status st = cpu_dnnl_streams(d, nt, err);
    if (st) return st;
    scratch = (scratch + 63) / 64 * 64;
    char *scr = scratch ? aligned_alloc(64, scratch * (size_t)nt) : NULL;
    if (scratch && !scr) return ff_err_set(err, FF_ERR_NOMEM, "cpu gemm: cannot allocate oneDNN scratchpads");
    const size_t es = bf16 ? 2 : 4;
    const int64_t tiles = tm * tn;
    const int nthr = tiles < nt ? (int)tiles : nt;
    int bad = 0;
#pragma omp parallel for num_threads(nthr) schedule(dynamic, 1)
    for (int64_t t = 0; t < tiles; t++) {
        const int tid = omp_get_thread_num();
        const int64_t i0 = (t / tn) * TILE_M, j0 = (t % tn) * TILE_N;
        const int em = g->m > TILE_M && i0 + TILE_M > g->m, en = nn > TILE_N && j0 + TILE_N > nn;
        const cpu_dnnl_prim *p = prim[em][en];
        void *ptr[3] = {(char *)a + (size_t)(i0 * a_rs) * es, (char *)b + (size_t)(j0 * b_cs) * es,
                        g->c + i0 * g->ldc + n0 + j0};
        const dnnl_memory_desc_t *mds[3] = {&p->md[0], &p->md[1], &p->md[2]};
        const int args[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
        if (!cpu_dnnl_exec(d, p, tid, 3, args, ptr, mds, scr ? scr + (size_t)tid * scratch : NULL)) {
#pragma omp atomic write
            bad = 1;
        }
    }
    free(scr);
    return bad ? ff_err_set(err, FF_ERR_DEVICE, "cpu gemm: oneDNN matmul failed") : FF_OK;
}

ff_status cpu_dnnl_gemm(const cpu_ctx *ctx, const cpu_gemm_args *g, ff_err *err) {
    if (!ctx->dnnl || g->batch != 1 || g->builtin || 2.0 * (double)g->m * (double)g->n * (double)g->k < MIN_FLOPS)
        return FF_ERR_UNSUPPORTED;
    const ff_dtype adt = g->a.dt, bdt = g->b.dt;
    if (adt == FF_BF16 && bdt != FF_BF16) return FF_ERR_UNSUPPORTED;
    const int64_t a_rs = g->a.trans ? 1 : g->a.ld, a_cs = g->a.trans ? g->a.ld : 1;
    const int64_t b_rs = g->b.trans ? 1 : g->b.ld, b_cs = g->b.trans ? g->b.ld : 1;
    if (adt == bdt) return run_tiles(ctx, g, g->a.p, a_rs, a_cs, g->b.p, b_rs, b_cs, 0, g->n, adt == FF_BF16, 0, err);

    /* F32 A, BF16 B: widen blocks of whole tile columns of op(B), stored
     * column by column (element (k, j) at w[j * K + k]) */
    int64_t nch = WIDEN_FLOATS / g->k / TILE_N * TILE_N;
    if (nch < TILE_N) nch = TILE_N;
    if (nch > g->n) nch = g->n;
    ff_status st = run_tiles(ctx, g, NULL, a_rs, a_cs, NULL, 1, g->k, 0, nch, 0, 1, err); /* plan before C changes */
    if (!st && g->n % nch) st = run_tiles(ctx, g, NULL, a_rs, a_cs, NULL, 1, g->k, 0, g->n % nch, 0, 1, err);
    if (st) return st;
    float *wb = malloc((size_t)(nch * g->k) * sizeof *wb);
    if (!wb) return ff_err_set(err, FF_ERR_NOMEM, "cpu gemm: cannot allocate %lld floats to widen BF16",
                               (long long)(nch * g->k));
    const uint16_t *bp = g->b.p;
    for (int64_t n0 = 0; n0 < g->n && !st; n0 += nch) {
        const int64_t nn = g->n - n0 < nch ? g->n - n0 : nch, k = g->k;
#pragma omp parallel for num_threads(cpu_threads(ctx)) if (nn * k > 65536)
        for (int64_t j = 0; j < nn; j++)
            for (int64_t kk = 0; kk < k; kk++) wb[j * k + kk] = cpu_bf16(bp[kk * b_rs + (n0 + j) * b_cs]);
        st = run_tiles(ctx, g, g->a.p, a_rs, a_cs, wb, 1, k, n0, nn, 0, 0, err);
    }
    free(wb);
    return st;
}

#endif
