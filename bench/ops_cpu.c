/* bench/ops_cpu: how fast the CPU backend's ops run on this machine, next
 * to this machine's own yardsticks measured in the same run: memcpy
 * bandwidth and OpenBLAS sgemm (where linked). Prints one table; never a
 * pass/fail test.
 *
 * Usage: bench_ops_cpu [threads]   (0 or absent = OpenMP default)
 * The GEMM rows call the backend's GEMM engine directly (an internal header
 * of kernels/cpu) so that the built-in GEMM and OpenBLAS are timed side by
 * side in one binary. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ff_clock.h"
#include "core/ff_tensor.h"
#include "kernels/backend_impl.h"
#include "kernels/cpu/cpu_internal.h"
#include "kernels/kernels_info.h"
#include "kernels/ops.h"

static void fill(ff_tensor *t, unsigned seed) {
    uint32_t s = seed * 2654435761u + 1;
    int64_t n = ff_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float v = (float)(s >> 8) * (1.0f / 16777216.0f) - 0.5f;
        if (t->dtype == FF_F32) ((float *)t->data)[i] = v;
        else ((uint16_t *)t->data)[i] = ff_f32_to_bf16(v);
    }
}

static ff_tensor make(ff_dtype dt, int nd, const int64_t *shape, unsigned seed) {
    ff_tensor t;
    ff_err err = {0};
    if (ff_tensor_alloc(&t, dt, nd, shape, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(1);
    }
    fill(&t, seed);
    return t;
}

/* Runs fn until ~0.3 s have passed (at least 2 runs after a warm-up);
 * returns the best time of one run. */
typedef int (*bench_fn)(void *arg);
static double best_time(bench_fn fn, void *arg) {
    if (fn(arg)) return NAN;
    double best = INFINITY, start = ff_now_s();
    for (int i = 0; i < 2 || ff_now_s() - start < 0.3; i++) {
        double t0 = ff_now_s();
        if (fn(arg)) return NAN;
        double t = ff_now_s() - t0;
        if (t < best) best = t;
        if (i > 50) break;
    }
    return best;
}

static void row(const char *op, const char *shape, double seconds, double amount, const char *unit) {
    printf("%-28s %-26s %10.3f %10.1f %s\n", op, shape, seconds * 1e3, amount / seconds * 1e-9, unit);
}

/* ---- yardsticks and ops ------------------------------------------------------ */

typedef struct {
    void *dst;
    const void *src;
    size_t n;
} memcpy_arg;

static int do_memcpy(void *p) {
    memcpy_arg *a = p;
    memcpy(a->dst, a->src, a->n);
    return 0;
}

typedef struct {
    const cpu_ctx *ctx;
    cpu_gemm_args g;
} gemm_arg;

static int do_gemm(void *p) {
    gemm_arg *a = p;
    ff_err err = {0};
    return cpu_gemm(a->ctx, &a->g, &err) != FF_OK;
}

typedef struct {
    ff_backend *be;
    ff_tensor *x, *w, *b, *y, *out;
    int stride[3], pad[6];
} op_arg;

static int do_linear(void *p) {
    op_arg *a = p;
    ff_err err = {0};
    return ff_op_linear(a->be, a->x, a->w, a->b, a->out, &err) != FF_OK;
}

static int do_add(void *p) {
    op_arg *a = p;
    ff_err err = {0};
    return ff_op_binary(a->be, FF_BIN_ADD, a->x, a->y, a->out, &err) != FF_OK;
}

static int do_silu(void *p) {
    op_arg *a = p;
    ff_err err = {0};
    return ff_op_unary(a->be, FF_UNARY_SILU, a->x, a->out, &err) != FF_OK;
}

static int do_conv(void *p) {
    op_arg *a = p;
    ff_err err = {0};
    return ff_op_conv3d(a->be, a->x, a->w, a->b, a->stride, a->pad, a->out, &err) != FF_OK;
}

static int do_sdpa(void *p) {
    op_arg *a = p;
    ff_err err = {0};
    return ff_op_sdpa(a->be, a->x, a->w, a->y, NULL, 0.088f, a->out, &err) != FF_OK;
}

static void bench_gemm(const cpu_ctx *ctx, int64_t m, int64_t k, int64_t n, ff_dtype wdt) {
    ff_tensor x = make(FF_F32, 2, (const int64_t[]){m, k}, 1), w = make(wdt, 2, (const int64_t[]){n, k}, 2);
    ff_tensor out = make(FF_F32, 2, (const int64_t[]){m, n}, 3);
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lldx%lld %s", (long long)m, (long long)k, (long long)n, ff_dtype_name(wdt));
    gemm_arg a = {ctx, {.batch = 1, .m = m, .n = n, .k = k, .alpha = 1.0f, .a = {x.data, FF_F32, 0, k, 0},
                        .b = {w.data, wdt, 1, k, 0}, .c = out.data, .ldc = n}};
    const double flops = 2.0 * (double)m * (double)n * (double)k;
    if (cpu_gemm_has_blas()) {
        a.g.builtin = 0;
        row(wdt == FF_F32 ? "gemm: OpenBLAS sgemm" : "gemm: OpenBLAS + widening", shape, best_time(do_gemm, &a),
            flops, "GFLOP/s");
    }
    a.g.builtin = 1;
    row("gemm: built-in", shape, best_time(do_gemm, &a), flops, "GFLOP/s");
    ff_tensor_free(&x);
    ff_tensor_free(&w);
    ff_tensor_free(&out);
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 0;
    ff_err err = {0};
    ff_backend *be = NULL;
    if (ff_backend_cpu_create(threads, &be, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    const cpu_ctx *ctx = cpu_ctx_of(be);
    char info[160];
    printf("framefarm bench ops_cpu: %s; micro-kernel %s; %d threads\n\n", ff_kernels_cpu_info(info, sizeof info),
           ctx->ukr.name, cpu_threads(ctx));
    printf("%-28s %-26s %10s %10s\n", "op", "shape", "best ms", "rate");

    /* memory yardstick: memcpy of 256 MiB (GB/s counts read + write) */
    const size_t nbytes = (size_t)256 << 20;
    char *src = malloc(nbytes), *dst = malloc(nbytes);
    if (!src || !dst) return 1;
    memset(src, 1, nbytes);
    memset(dst, 0, nbytes);
    memcpy_arg ma = {dst, src, nbytes};
    row("memcpy (1 thread)", "256 MiB", best_time(do_memcpy, &ma), 2.0 * (double)nbytes, "GB/s");
    free(src);
    free(dst);

    const int64_t ne = (int64_t)32 << 20;
    ff_tensor ex = make(FF_F32, 1, &ne, 4), ey = make(FF_F32, 1, &ne, 5), eo = make(FF_F32, 1, &ne, 6);
    op_arg ea = {.be = be, .x = &ex, .y = &ey, .out = &eo};
    row("binary add", "32M F32", best_time(do_add, &ea), 12.0 * (double)ne, "GB/s");
    row("unary silu", "32M F32", best_time(do_silu, &ea), 8.0 * (double)ne, "GB/s");
    ff_tensor_free(&ex);
    ff_tensor_free(&ey);
    ff_tensor_free(&eo);

    bench_gemm(ctx, 512, 1536, 1536, FF_F32);
    bench_gemm(ctx, 2048, 1536, 1536, FF_F32);
    bench_gemm(ctx, 512, 1536, 8960, FF_BF16);
    bench_gemm(ctx, 32, 4096, 4096, FF_F32);

    /* the op layer end to end: linear with BF16 weights and bias */
    {
        ff_tensor x = make(FF_F32, 3, (const int64_t[]){1, 1024, 1536}, 7);
        ff_tensor w = make(FF_BF16, 2, (const int64_t[]){1536, 1536}, 8);
        ff_tensor b = make(FF_F32, 1, (const int64_t[]){1536}, 9);
        ff_tensor out = make(FF_F32, 3, (const int64_t[]){1, 1024, 1536}, 10);
        op_arg la = {.be = be, .x = &x, .w = &w, .b = &b, .out = &out};
        row("ff_op_linear (+bias)", "1024x1536x1536 BF16", best_time(do_linear, &la), 2.0 * 1024 * 1536 * 1536,
            "GFLOP/s");
        ff_tensor_free(&x);
        ff_tensor_free(&w);
        ff_tensor_free(&b);
        ff_tensor_free(&out);
    }
    /* a Wan VAE decoder conv: 3x3x3, causal time padding */
    {
        const int64_t c = 96, f = 3, h = 96, wd = 96;
        ff_tensor x = make(FF_F32, 5, (const int64_t[]){1, c, f, h, wd}, 11);
        ff_tensor w = make(FF_F32, 5, (const int64_t[]){c, c, 3, 3, 3}, 12), b = make(FF_F32, 1, &c, 13);
        ff_tensor out = make(FF_F32, 5, (const int64_t[]){1, c, f, h, wd}, 14);
        op_arg ca = {.be = be, .x = &x, .w = &w, .b = &b, .out = &out, .stride = {1, 1, 1}, .pad = {2, 0, 1, 1, 1, 1}};
        row("ff_op_conv3d 3x3x3", "96->96 ch, 3x96x96", best_time(do_conv, &ca),
            2.0 * (double)(c * f * h * wd) * (double)(c * 27), "GFLOP/s");
        ff_tensor_free(&x);
        ff_tensor_free(&w);
        ff_tensor_free(&b);
        ff_tensor_free(&out);
    }
    /* attention: 12 heads of 128, 1024 tokens */
    {
        const int64_t shape[4] = {1, 12, 1024, 128};
        ff_tensor q = make(FF_F32, 4, shape, 15), k = make(FF_F32, 4, shape, 16), v = make(FF_F32, 4, shape, 17);
        ff_tensor out = make(FF_F32, 4, shape, 18);
        op_arg sa = {.be = be, .x = &q, .w = &k, .y = &v, .out = &out};
        row("ff_op_sdpa", "12 heads, 1024 tok, D 128", best_time(do_sdpa, &sa), 4.0 * 12 * 1024 * 1024 * 128,
            "GFLOP/s");
        ff_tensor_free(&q);
        ff_tensor_free(&k);
        ff_tensor_free(&v);
        ff_tensor_free(&out);
    }
    ff_backend_free(be);
    return 0;
}
