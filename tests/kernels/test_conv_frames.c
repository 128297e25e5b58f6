/* ff_op_conv3d_frames: the same bits as ff_op_conv3d on the concatenated
 * frames (causal cache + chunk, three pieces, a time stride that leaves
 * the last frames unread, BF16-all), and clear errors for bad pieces. */
#include <string.h>

#include "kernels/ops.h"
#include "tests/common/ff_test.h"

static ff_backend *g_be;

/* pieces of f[i] frames of (1, c, *, h, w); conv with kt x 3 x 3, stride, pad; compare. */
static void check_case(const char *what, int n, const int64_t *f, int64_t c, int64_t o, int64_t h, int64_t w,
                       int kt, const int stride[3], const int pad[6], ff_precision prec) {
    ff_err err = {0};
    ff_tensor xs[4], cat, wt, b, ref, got;
    int64_t ft = 0;
    for (int i = 0; i < n; i++) {
        FF_REQUIRE_OK(ff_tensor_allocv(&xs[i], FF_F32, &err, 5, (int64_t)1, c, f[i], h, w), &err);
        ff_test_fill_uniform(&xs[i], 20 + (unsigned)i, -1, 1);
        ft += f[i];
    }
    FF_REQUIRE_OK(ff_tensor_allocv(&cat, FF_F32, &err, 5, (int64_t)1, c, ft, h, w), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&wt, FF_F32, &err, 5, o, c, (int64_t)kt, (int64_t)3, (int64_t)3), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&b, FF_F32, &err, 1, o), &err);
    ff_test_fill_uniform(&wt, 30, -0.2f, 0.2f);
    ff_test_fill_uniform(&b, 31, -1, 1);
    const ff_tensor *ptrs[4] = {&xs[0], &xs[1], &xs[2], &xs[3]};
    FF_REQUIRE_OK(ff_op_concat(g_be, ptrs, n, 2, &cat, &err), &err);
    const int64_t fo = (ft + pad[0] + pad[1] - kt) / stride[0] + 1, ho = (h + pad[2] + pad[3] - 3) / stride[1] + 1,
                  wo = (w + pad[4] + pad[5] - 3) / stride[2] + 1;
    FF_REQUIRE_OK(ff_tensor_allocv(&ref, FF_F32, &err, 5, (int64_t)1, o, fo, ho, wo), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&got, FF_F32, &err, 5, (int64_t)1, o, fo, ho, wo), &err);
    FF_REQUIRE_OK(ff_backend_set_precision(g_be, prec, &err), &err);
    FF_CHECK_OK(ff_op_conv3d(g_be, &cat, &wt, &b, stride, pad, &ref, &err), &err);
    FF_CHECK_OK(ff_op_conv3d_frames(g_be, ptrs, n, &wt, &b, stride, pad, &got, &err), &err);
    FF_CHECK_MSG(ff_tensor_equal(&ref, &got), "%s: conv3d_frames differs from conv3d on the concatenation", what);
    FF_REQUIRE_OK(ff_backend_set_precision(g_be, FF_PREC_F32, &err), &err);
    for (int i = 0; i < n; i++) ff_tensor_free(&xs[i]);
    ff_tensor_free(&cat);
    ff_tensor_free(&wt);
    ff_tensor_free(&b);
    ff_tensor_free(&ref);
    ff_tensor_free(&got);
}

static void test_same_as_concat(void) {
    const int s1[3] = {1, 1, 1}, causal[6] = {0, 0, 1, 1, 1, 1}, st2[3] = {2, 1, 1}, tp[6] = {2, 0, 1, 1, 1, 1};
    const int64_t cache_chunk[2] = {2, 4}, three[3] = {1, 2, 2}, strided[2] = {2, 3};
    check_case("cache + chunk, 24 -> 40, 40x40", 2, cache_chunk, 24, 40, 40, 40, 3, s1, causal, FF_PREC_F32);
    check_case("three pieces, 16 -> 80 (ragged chunk), 70x30", 3, three, 16, 80, 70, 30, 3, s1, causal, FF_PREC_F32);
    check_case("time stride 2, last frame unread", 2, strided, 8, 16, 12, 12, 2, st2, tp, FF_PREC_F32);
    check_case("cache + chunk, bf16-all", 2, cache_chunk, 24, 40, 20, 20, 3, s1, causal, FF_PREC_BF16_ALL);
}

static void test_errors(void) {
    ff_err err = {0};
    ff_tensor a, bad, wt, out;
    FF_REQUIRE_OK(ff_tensor_allocv(&a, FF_F32, &err, 5, (int64_t)1, (int64_t)4, (int64_t)2, (int64_t)5, (int64_t)5),
                  &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&bad, FF_F32, &err, 5, (int64_t)1, (int64_t)4, (int64_t)1, (int64_t)6, (int64_t)5),
                  &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&wt, FF_F32, &err, 5, (int64_t)2, (int64_t)4, (int64_t)3, (int64_t)3, (int64_t)3),
                  &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&out, FF_F32, &err, 5, (int64_t)1, (int64_t)2, (int64_t)1, (int64_t)3, (int64_t)3),
                  &err);
    const int s1[3] = {1, 1, 1}, p0[6] = {0, 0, 0, 0, 0, 0};
    const ff_tensor *two[2] = {&a, &bad};
    FF_CHECK(ff_op_conv3d_frames(g_be, two, 2, &wt, NULL, s1, p0, &out, &err) == FF_ERR_SHAPE);
    FF_CHECK_MSG(strstr(err.msg, "conv3d_frames") && strstr(err.msg, "xs[1]"), "message: %s", err.msg);
    FF_CHECK(ff_op_conv3d_frames(g_be, two, 0, &wt, NULL, s1, p0, &out, &err) == FF_ERR_ARG);
    const ff_tensor *ok[2] = {&a, &a}; /* 4 frames: out should have 2 */
    FF_CHECK(ff_op_conv3d_frames(g_be, ok, 2, &wt, NULL, s1, p0, &out, &err) == FF_ERR_SHAPE);
    ff_tensor_free(&a);
    ff_tensor_free(&bad);
    ff_tensor_free(&wt);
    ff_tensor_free(&out);
}

int main(void) {
    ff_err err = {0};
    if (ff_backend_cpu_create(2, &g_be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    FF_RUN(test_same_as_concat);
    FF_RUN(test_errors);
    ff_backend_free(g_be);
    return ff_test_summary();
}
