/* The CPU backend gives bit-identical results whatever its thread count
 * (the farm's determinism rests on it: workers differ in cores). Checked on
 * GEMM-heavy ops large enough to span several parallel tiles: linear (F32,
 * BF16 weights, BF16 precision), conv3d over several row bands and channel
 * chunks of the oneDNN path (first / middle / last bands, a ragged chunk,
 * stride 2, BF16-all), attention over several query and key blocks with a
 * bias, and the row ops. */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"
#include "tests/common/ff_test.h"

typedef ff_status (*op_fn)(ff_backend *be, const ff_tensor *in, const ff_tensor *w, ff_tensor *out, ff_err *err);

static ff_status run_linear(ff_backend *be, const ff_tensor *x, const ff_tensor *w, ff_tensor *out, ff_err *err) {
    return ff_op_linear(be, x, w, NULL, out, err);
}

static ff_status run_conv(ff_backend *be, const ff_tensor *x, const ff_tensor *w, ff_tensor *out, ff_err *err) {
    const int stride[3] = {1, 1, 1}, pad[6] = {2, 0, 1, 1, 1, 1}; /* causal time padding */
    return ff_op_conv3d(be, x, w, NULL, stride, pad, out, err);
}

/* Runs op with 1, 2 and 3 threads and requires identical bytes. */
static void check_invariant(op_fn op, ff_tensor *x, ff_tensor *w, int out_ndim, const int64_t *out_shape) {
    ff_err err = {0};
    ff_tensor ref = {0}, got = {0};
    FF_REQUIRE_OK(ff_tensor_alloc(&ref, FF_F32, out_ndim, out_shape, &err), &err);
    FF_REQUIRE_OK(ff_tensor_alloc(&got, FF_F32, out_ndim, out_shape, &err), &err);
    for (int threads = 1; threads <= 3; threads++) {
        ff_backend *be = NULL;
        FF_REQUIRE_OK(ff_backend_cpu_create(threads, &be, &err), &err);
        FF_CHECK_OK(op(be, x, w, threads == 1 ? &ref : &got, &err), &err);
        ff_backend_free(be);
        if (threads > 1)
            FF_CHECK_MSG(memcmp(ref.data, got.data, ff_tensor_nbytes(&ref)) == 0, "%d threads differ from 1", threads);
    }
    ff_tensor_free(&ref);
    ff_tensor_free(&got);
}

static void test_linear_is_thread_invariant(void) {
    ff_err err = {0};
    ff_tensor x, w;
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 2, (int64_t)700, (int64_t)301), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&w, FF_F32, &err, 2, (int64_t)1100, (int64_t)301), &err);
    ff_test_fill_uniform(&x, 1, -1, 1);
    ff_test_fill_uniform(&w, 2, -1, 1);
    const int64_t shape[2] = {700, 1100};
    check_invariant(run_linear, &x, &w, 2, shape);
    ff_tensor_free(&x);
    ff_tensor_free(&w);
}

static void test_conv3d_is_thread_invariant(void) {
    ff_err err = {0};
    ff_tensor x, w;
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 5, (int64_t)1, (int64_t)24, (int64_t)3, (int64_t)37, (int64_t)29),
                  &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&w, FF_F32, &err, 5, (int64_t)40, (int64_t)24, (int64_t)3, (int64_t)3, (int64_t)3),
                  &err);
    ff_test_fill_uniform(&x, 3, -1, 1);
    ff_test_fill_uniform(&w, 4, -0.2f, 0.2f);
    const int64_t shape[5] = {1, 40, 3, 37, 29};
    check_invariant(run_conv, &x, &w, 5, shape);
    ff_tensor_free(&x);
    ff_tensor_free(&w);
}

/* ---- more ops, through a generic runner --------------------------------------- */

typedef ff_status (*op3_fn)(ff_backend *be, ff_tensor *const *in, ff_tensor *out, ff_err *err);

/* Runs op with 1, 2 and 3 threads in precision prec; identical bytes. */
static void check_invariant3(const char *what, op3_fn op, ff_tensor *const *in, ff_precision prec, int out_ndim,
                             const int64_t *out_shape) {
    ff_err err = {0};
    ff_tensor ref = {0}, got = {0};
    FF_REQUIRE_OK(ff_tensor_alloc(&ref, FF_F32, out_ndim, out_shape, &err), &err);
    FF_REQUIRE_OK(ff_tensor_alloc(&got, FF_F32, out_ndim, out_shape, &err), &err);
    for (int threads = 1; threads <= 3; threads++) {
        ff_backend *be = NULL;
        FF_REQUIRE_OK(ff_backend_cpu_create(threads, &be, &err), &err);
        FF_REQUIRE_OK(ff_backend_set_precision(be, prec, &err), &err);
        FF_CHECK_OK(op(be, in, threads == 1 ? &ref : &got, &err), &err);
        ff_backend_free(be);
        if (threads > 1)
            FF_CHECK_MSG(memcmp(ref.data, got.data, ff_tensor_nbytes(&ref)) == 0, "%s: %d threads differ from 1", what,
                         threads);
    }
    ff_tensor_free(&ref);
    ff_tensor_free(&got);
}

static ff_status op_linear_b(ff_backend *be, ff_tensor *const *in, ff_tensor *out, ff_err *err) {
    return ff_op_linear(be, in[0], in[1], in[2], out, err);
}

static void test_linear_variants(void) {
    ff_err err = {0};
    ff_tensor x, w, wb, b;
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 2, (int64_t)300, (int64_t)520), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&w, FF_F32, &err, 2, (int64_t)700, (int64_t)520), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&b, FF_F32, &err, 1, (int64_t)700), &err);
    ff_test_fill_uniform(&x, 5, -1, 1);
    ff_test_fill_uniform(&w, 6, -0.1f, 0.1f);
    ff_test_fill_uniform(&b, 7, -1, 1);
    FF_REQUIRE_OK(ff_tensor_allocv(&wb, FF_BF16, &err, 2, (int64_t)700, (int64_t)520), &err);
    FF_REQUIRE_OK(ff_tensor_convert(&wb, &w, &err), &err);
    const int64_t shape[2] = {300, 700};
    ff_tensor *const f32[3] = {&x, &w, &b}, *const bf[3] = {&x, &wb, &b};
    check_invariant3("linear, BF16 weights", op_linear_b, bf, FF_PREC_F32, 2, shape);
    check_invariant3("linear, BF16 precision", op_linear_b, f32, FF_PREC_BF16, 2, shape);
    ff_tensor_free(&x);
    ff_tensor_free(&w);
    ff_tensor_free(&wb);
    ff_tensor_free(&b);
}

typedef struct {
    int stride[3], pad[6];
} conv_geom_t;

static const conv_geom_t *g_conv;

static ff_status op_conv(ff_backend *be, ff_tensor *const *in, ff_tensor *out, ff_err *err) {
    return ff_op_conv3d(be, in[0], in[1], in[2], g_conv->stride, g_conv->pad, out, err);
}

/* 24 -> 80 channels (a 64 and a ragged 16 chunk) over 70 x 70: three row
 * bands (first, middle, last kinds); then the Wan downsample (stride 2,
 * pad right / bottom only) and the same problem in BF16-all. */
static void test_conv_tiles(void) {
    ff_err err = {0};
    ff_tensor x, w, b;
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 5, (int64_t)1, (int64_t)24, (int64_t)2, (int64_t)70, (int64_t)70),
                  &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&w, FF_F32, &err, 5, (int64_t)80, (int64_t)24, (int64_t)3, (int64_t)3, (int64_t)3),
                  &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&b, FF_F32, &err, 1, (int64_t)80), &err);
    ff_test_fill_uniform(&x, 8, -1, 1);
    ff_test_fill_uniform(&w, 9, -0.1f, 0.1f);
    ff_test_fill_uniform(&b, 10, -1, 1);
    ff_tensor *const in[3] = {&x, &w, &b};
    const conv_geom_t causal = {{1, 1, 1}, {2, 0, 1, 1, 1, 1}};
    g_conv = &causal;
    const int64_t s1[5] = {1, 80, 2, 70, 70};
    check_invariant3("conv3d 24->80, 70x70", op_conv, in, FF_PREC_F32, 5, s1);
    check_invariant3("conv3d 24->80, 70x70, bf16-all", op_conv, in, FF_PREC_BF16_ALL, 5, s1);
    ff_tensor w2;
    FF_REQUIRE_OK(ff_tensor_allocv(&w2, FF_F32, &err, 5, (int64_t)80, (int64_t)24, (int64_t)1, (int64_t)3, (int64_t)3),
                  &err);
    ff_test_fill_uniform(&w2, 11, -0.1f, 0.1f);
    ff_tensor *const in2[3] = {&x, &w2, &b};
    const conv_geom_t down = {{1, 2, 2}, {0, 0, 0, 1, 0, 1}};
    g_conv = &down;
    const int64_t s2[5] = {1, 80, 2, 35, 35};
    check_invariant3("conv3d stride 2 (downsample)", op_conv, in2, FF_PREC_F32, 5, s2);
    ff_tensor_free(&x);
    ff_tensor_free(&w);
    ff_tensor_free(&w2);
    ff_tensor_free(&b);
}

static ff_status op_sdpa(ff_backend *be, ff_tensor *const *in, ff_tensor *out, ff_err *err) {
    return ff_op_sdpa(be, in[0], in[1], in[2], in[3], 0.125f, out, err);
}

/* 3 heads, 300 queries (3 blocks, a ragged one), 600 keys (3 key blocks),
 * an additive (1, H, Lq, Lk) bias with some -inf. */
static void test_sdpa(void) {
    ff_err err = {0};
    ff_tensor q, k, v, bias;
    FF_REQUIRE_OK(ff_tensor_allocv(&q, FF_F32, &err, 4, (int64_t)1, (int64_t)3, (int64_t)300, (int64_t)64), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&k, FF_F32, &err, 4, (int64_t)1, (int64_t)3, (int64_t)600, (int64_t)64), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&v, FF_F32, &err, 4, (int64_t)1, (int64_t)3, (int64_t)600, (int64_t)40), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&bias, FF_F32, &err, 4, (int64_t)1, (int64_t)3, (int64_t)300, (int64_t)600), &err);
    ff_test_fill_uniform(&q, 12, -1, 1);
    ff_test_fill_uniform(&k, 13, -1, 1);
    ff_test_fill_uniform(&v, 14, -1, 1);
    ff_test_fill_uniform(&bias, 15, -2, 2);
    float *bd = bias.data;
    for (int64_t i = 0; i < ff_tensor_numel(&bias); i += 7) bd[i] = -INFINITY;
    ff_tensor *const in[4] = {&q, &k, &v, &bias};
    const int64_t shape[4] = {1, 3, 300, 40};
    check_invariant3("sdpa with bias", op_sdpa, in, FF_PREC_F32, 4, shape);
    ff_tensor *const nob[4] = {&q, &k, &v, NULL};
    check_invariant3("sdpa", op_sdpa, nob, FF_PREC_F32, 4, shape);
    ff_tensor_free(&q);
    ff_tensor_free(&k);
    ff_tensor_free(&v);
    ff_tensor_free(&bias);
}

static ff_status op_rows(ff_backend *be, ff_tensor *const *in, ff_tensor *out, ff_err *err) {
    ff_status st = ff_op_group_norm(be, in[0], 8, NULL, NULL, 1e-5f, out, err);
    if (!st) st = ff_op_unary(be, FF_UNARY_GELU_TANH, out, out, err);
    if (!st) st = ff_op_softmax(be, out, out, err);
    if (!st) st = ff_op_layer_norm(be, out, NULL, NULL, 1e-6f, out, err);
    if (!st) st = ff_op_rms_norm(be, out, NULL, 1e-6f, out, err);
    return st;
}

static void test_row_ops(void) {
    ff_err err = {0};
    ff_tensor x;
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 3, (int64_t)2, (int64_t)64, (int64_t)3001), &err);
    ff_test_fill_uniform(&x, 16, -3, 3);
    ff_tensor *const in[1] = {&x};
    const int64_t shape[3] = {2, 64, 3001};
    check_invariant3("group_norm, gelu, softmax, layer_norm, rms_norm", op_rows, in, FF_PREC_F32, 3, shape);
    ff_tensor_free(&x);
}

int main(void) {
    FF_RUN(test_linear_is_thread_invariant);
    FF_RUN(test_conv3d_is_thread_invariant);
    FF_RUN(test_linear_variants);
    FF_RUN(test_conv_tiles);
    FF_RUN(test_sdpa);
    FF_RUN(test_row_ops);
    return ff_test_summary();
}
