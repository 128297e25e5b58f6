/* The CPU backend gives bit-identical results whatever its thread count
 * (the farm's determinism rests on it: workers differ in cores). Checked on
 * GEMM-heavy ops large enough to span several parallel tiles. */
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

int main(void) {
    FF_RUN(test_linear_is_thread_invariant);
    FF_RUN(test_conv3d_is_thread_invariant);
    return ff_test_summary();
}
