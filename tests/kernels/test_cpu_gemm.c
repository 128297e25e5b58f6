/* test_cpu_gemm: the CPU backend's GEMM engine (kernels/cpu/cpu_gemm.c)
 * directly, against a double-precision reference: every micro-kernel this
 * CPU runs, the built-in path and (where linked) the OpenBLAS path, both
 * transposes, BF16 on either operand, batches with a shared B, ldc > N,
 * accumulation into C, K = 0, the serial entry point, and 1 or 3 threads
 * (the built-in path must give bit-identical results). */
#include "kernels/cpu/cpu_internal.h"
#include "tests/kernels/ops_test_util.h"

typedef struct {
    int64_t batch, m, n, k;
    int ta, tb;
    ff_dtype adt, bdt;
    int shared_b;
    int64_t ldc_pad;
    float alpha;
    int accumulate; /* C starts at 1234.5 everywhere; with accumulate the sum adds to it */
} gemm_case;

/* Runs one case on ctx (mode 0: default path, 1: built-in, 2: serial);
 * returns C (owned) for the bit-identity check. */
static float *run_case(const cpu_ctx *ctx, const gemm_case *g, int mode, unsigned seed) {
    const int64_t a_rows = g->ta ? g->k : g->m, a_cols = g->ta ? g->m : g->k;
    const int64_t b_rows = g->tb ? g->n : g->k, b_cols = g->tb ? g->k : g->n;
    const int64_t nb = g->shared_b ? 1 : g->batch, ldc = g->n + g->ldc_pad;
    ff_tensor af = tt_rand(seed, -1, 1, S(g->batch, a_rows, a_cols));
    ff_tensor bf = tt_rand(seed + 1, -1, 1, S(nb, b_rows, b_cols));
    ff_tensor a = tt_to(&af, g->adt), b = tt_to(&bf, g->bdt);
    float *c = malloc((size_t)(g->batch * g->m * ldc) * sizeof(float));
    if (!c) abort();
    for (int64_t i = 0; i < g->batch * g->m * ldc; i++) c[i] = 1234.5f; /* padding must stay */
    cpu_gemm_args args = {
        .batch = g->batch, .m = g->m, .n = g->n, .k = g->k, .alpha = g->alpha,
        .a = {a.data, g->adt, g->ta, a_cols, a_rows * a_cols},
        .b = {b.data, g->bdt, g->tb, b_cols, g->shared_b ? 0 : b_rows * b_cols},
        .c = c, .ldc = ldc, .c_batch_stride = g->m * ldc, .accumulate = g->accumulate, .builtin = mode != 0,
    };
    ff_err err = {0};
    if (mode == 2) {
        float *pack = malloc(cpu_gemm_serial_floats(ctx, &args) * sizeof(float));
        if (!pack) abort();
        cpu_gemm_serial(ctx, &args, pack);
        free(pack);
    } else {
        FF_CHECK_OK(cpu_gemm(ctx, &args, &err), &err);
    }
    ff_tensor out = tt_zeros(S(g->batch, g->m, g->n));
    double *ref = tt_ref(g->batch * g->m * g->n);
    int pad_ok = 1;
    for (int64_t bi = 0; bi < g->batch; bi++)
        for (int64_t i = 0; i < g->m; i++) {
            for (int64_t j = 0; j < g->n; j++) {
                double s = 0;
                for (int64_t p = 0; p < g->k; p++) {
                    double av = tt_at(&a, bi * a_rows * a_cols + (g->ta ? p * a_cols + i : i * a_cols + p));
                    double bv = tt_at(&b, (g->shared_b ? 0 : bi) * b_rows * b_cols +
                                              (g->tb ? j * b_cols + p : p * b_cols + j));
                    s += av * bv;
                }
                ref[(bi * g->m + i) * g->n + j] = g->alpha * s + (g->accumulate ? 1234.5 : 0.0);
                ((float *)out.data)[(bi * g->m + i) * g->n + j] = c[(bi * g->m + i) * ldc + j];
            }
            for (int64_t j = g->n; j < ldc; j++) pad_ok &= c[(bi * g->m + i) * ldc + j] == 1234.5f;
        }
    CHECK_REL(&out, ref, 1e-6, "gemm %s %s b%lld m%lld n%lld k%lld ta%d tb%d %s x %s", ctx->ukr.name,
              mode == 2 ? "serial" : mode ? "built-in" : "default", (long long)g->batch, (long long)g->m,
              (long long)g->n, (long long)g->k, g->ta, g->tb, ff_dtype_name(g->adt), ff_dtype_name(g->bdt));
    FF_CHECK_MSG(pad_ok, "gemm wrote past N into the ldc padding");
    free(ref);
    tt_free(&af, &bf, &a, &b, &out, NULL);
    return c;
}

static const gemm_case cases[] = {
    {1, 1, 1, 1, 0, 0, FF_F32, FF_F32, 0, 0, 1.0f, 0},
    {1, 7, 17, 33, 0, 1, FF_F32, FF_F32, 0, 3, 1.0f, 0},
    {1, 65, 3, 300, 1, 0, FF_F32, FF_F32, 0, 0, 0.5f, 0},
    {3, 33, 65, 17, 1, 1, FF_F32, FF_F32, 1, 1, 1.0f, 0},
    {2, 100, 270, 513, 0, 1, FF_F32, FF_BF16, 0, 0, 1.0f, 0},  /* linear with BF16 weights */
    {1, 37, 290, 260, 0, 0, FF_BF16, FF_F32, 0, 5, 1.0f, 0},   /* conv: BF16 weights as A */
    {2, 13, 21, 70, 1, 0, FF_BF16, FF_BF16, 1, 0, -2.0f, 0},
    {1, 200, 300, 600, 0, 0, FF_F32, FF_F32, 0, 0, 1.0f, 0},   /* several tiles in M, N and K */
    {5, 6, 16, 256, 0, 1, FF_F32, FF_F32, 0, 0, 1.0f, 0},      /* exactly one micro-tile, KC deep */
    {2, 30, 50, 400, 0, 1, FF_F32, FF_BF16, 0, 2, 0.5f, 1}, /* C += (attention's P V) */
    {1, 3, 2, 0, 0, 0, FF_F32, FF_F32, 0, 1, 1.0f, 1},      /* K = 0 adds nothing */
    {1, 3, 2, 0, 0, 0, FF_F32, FF_F32, 0, 1, 1.0f, 0},      /* K = 0 gives zeros */
    {1, 5, 2100, 20, 0, 1, FF_F32, FF_BF16, 0, 0, 1.0f, 0},   /* N over one packed block of B */
    {1, 2100, 5, 20, 1, 0, FF_F32, FF_F32, 0, 0, 1.0f, 1},    /* M over one packed chunk of A */
};

static void test_gemm_all_paths(void) {
    cpu_ukernel ks[4];
    const int nk = cpu_gemm_ukernels(ks, 4);
    FF_REQUIRE(nk >= 1);
    for (int ki = 0; ki < nk; ki++)
        for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
            const cpu_ctx one = {1, ks[ki], NULL, cpu_vec_pick()}, three = {3, ks[ki], NULL, cpu_vec_pick()};
            float *c1 = run_case(&one, &cases[ci], 1, 10 + (unsigned)ci);
            float *c3 = run_case(&three, &cases[ci], 1, 10 + (unsigned)ci);
            const gemm_case *g = &cases[ci];
            FF_CHECK_MSG(memcmp(c1, c3, (size_t)(g->batch * g->m * (g->n + g->ldc_pad)) * sizeof(float)) == 0,
                         "built-in GEMM (%s) differs between 1 and 3 threads, case %zu", ks[ki].name, ci);
            free(c1);
            free(c3);
            free(run_case(&three, &cases[ci], 0, 10 + (unsigned)ci)); /* OpenBLAS where linked */
            free(run_case(&three, &cases[ci], 2, 10 + (unsigned)ci)); /* this thread alone */
        }
}

int main(void) {
    FF_RUN(test_gemm_all_paths);
    return ff_test_summary();
}
