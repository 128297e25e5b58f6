/* test_ops_validation: the backend-independent checks of kernels/ops.c and
 * the backend API: wrong shapes and dtypes give FF_ERR_SHAPE with a message
 * naming the op and the shapes, impossible arguments and forbidden aliasing
 * FF_ERR_ARG, a missing vtable entry FF_ERR_UNSUPPORTED; never a crash.
 * Also: backend creation by name, memory round trips, empty tensors. */
#include "kernels/backend_impl.h"
#include "tests/kernels/ops_test_util.h"

static ff_backend *be;

/* expr (which reports into E) must return `code` with a message naming `op`
 * (and, for an op's FF_ERR_SHAPE, showing a shape). */
#define EXPECT(expr, code, op)                                                                                    \
    do {                                                                                                          \
        ff_err e__ = {0};                                                                                         \
        ff_err *E = &e__;                                                                                         \
        ff_status s__ = (expr);                                                                                   \
        FF_CHECK_MSG(s__ == (code), "%s gave %s (%s), want %s", #expr, ff_status_name(s__), e__.msg,              \
                     ff_status_name(code));                                                                       \
        FF_CHECK_MSG(strstr(e__.msg, op) != NULL, "message of %s does not name %s: %s", #expr, op, e__.msg);      \
        if ((code) == FF_ERR_SHAPE && strncmp(op, "op ", 3) == 0)                                                  \
            FF_CHECK_MSG(strstr(e__.msg, "[") != NULL, "message of %s shows no shape: %s", #expr, e__.msg);       \
    } while (0)

static void test_backend_create(void) {
    ff_err err = {0};
    ff_backend *b = NULL;
    FF_REQUIRE_OK(ff_backend_create_by_name("cpu", 2, &b, &err), &err);
    FF_CHECK(strcmp(ff_backend_name(b), "cpu") == 0);
    FF_CHECK(ff_backend_kind_of(b) == FF_BACKEND_CPU);
    ff_backend_free(b);
    ff_backend_free(NULL);

    const char *bad[] = {"gpu", "cuda:", "cuda:x", "cuda:1x", "cuda:-1", "", "CPU"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        b = (ff_backend *)&err; /* must be reset to NULL */
        FF_CHECK_MSG(ff_backend_create_by_name(bad[i], 0, &b, &err) == FF_ERR_ARG, "'%s' accepted", bad[i]);
        FF_CHECK(b == NULL);
    }
    FF_CHECK(ff_backend_create_by_name(NULL, 0, &b, &err) == FF_ERR_ARG);
    FF_CHECK(ff_backend_cpu_create(-1, &b, &err) == FF_ERR_ARG && b == NULL);
    FF_CHECK(ff_backend_cuda_create(-1, &b, &err) == FF_ERR_ARG && b == NULL);

    char buf[256];
    int ndev = ff_backend_cuda_describe(buf, sizeof buf);
    if (!ff_backend_cuda_compiled()) {
        FF_CHECK(ndev == 0);
        FF_CHECK(ff_backend_create_by_name("cuda", 0, &b, &err) == FF_ERR_UNSUPPORTED && b == NULL);
        FF_CHECK_MSG(strstr(err.msg, "built without CUDA") != NULL, "%s", err.msg);
        FF_CHECK(ff_backend_create_by_name("cuda:1", 0, &b, &err) == FF_ERR_UNSUPPORTED && b == NULL);
    } else if (ndev == 0) {
        FF_CHECK(ff_backend_create_by_name("cuda", 0, &b, &err) == FF_ERR_DEVICE && b == NULL);
        FF_CHECK_MSG(strstr(err.msg, "no CUDA device") != NULL, "%s", err.msg);
    }
}

static void test_memory(void) {
    ff_err err = {0};
    ff_tensor t, h = tt_rand(1, -1, 1, S(3, 5)), back = tt_zeros(S(3, 5));
    FF_REQUIRE_OK(ff_be_alloc(be, &t, FF_F32, 2, (const int64_t[]){3, 5}, &err), &err);
    FF_CHECK(t.loc == FF_LOC_HOST && t.ndim == 2 && t.shape[1] == 5);
    int zero = 1;
    for (int i = 0; i < 15; i++) zero &= ((float *)t.data)[i] == 0.0f;
    FF_CHECK_MSG(zero, "ff_be_alloc zero-fills");
    FF_CHECK_OK(ff_be_upload(be, &t, &h, &err), &err);
    FF_CHECK_OK(ff_be_sync(be, &err), &err);
    FF_CHECK_OK(ff_be_download(be, &back, &t, &err), &err);
    FF_CHECK(ff_tensor_equal(&h, &back));

    ff_tensor wrong = tt_zeros(S(5, 3)), dev = h;
    dev.loc = FF_LOC_DEVICE;
    EXPECT(ff_be_upload(be, &t, &wrong, E), FF_ERR_SHAPE, "ff_be_upload");
    EXPECT(ff_be_download(be, &wrong, &t, E), FF_ERR_SHAPE, "ff_be_download");
    EXPECT(ff_be_upload(be, &t, &dev, E), FF_ERR_ARG, "ff_be_upload");
    ff_be_free(be, &t);
    FF_CHECK(t.data == NULL);
    ff_be_free(be, &t); /* twice is harmless */

    ff_tensor z;
    FF_CHECK_OK(ff_be_alloc(be, &z, FF_BF16, 3, (const int64_t[]){2, 0, 4}, &err), &err); /* empty is fine */
    ff_be_free(be, &z);
    EXPECT(ff_be_alloc(be, &z, FF_F32, 2, (const int64_t[]){2, -1}, E), FF_ERR_SHAPE, "ff_be_alloc");
    FF_CHECK(z.data == NULL);
    EXPECT(ff_be_alloc(be, &z, FF_F32, 7, (const int64_t[]){1, 1, 1, 1, 1, 1, 1}, E), FF_ERR_SHAPE, "ff_be_alloc");
    tt_free(&h, &back, &wrong, NULL);
}

/* Tensors know their backend: another backend's tensor is refused as an
 * operand, in a transfer, and by free, naming both; the owner frees it. */
static void test_owner(void) {
    ff_err err = {0};
    ff_backend *other = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &other, &err), &err);
    snprintf(other->name, sizeof other->name, "cpu-host"); /* tell the two apart in messages */
    ff_tensor a, out, h = tt_rand(2, -1, 1, S(4, 3));
    FF_REQUIRE_OK(ff_be_alloc(be, &a, FF_F32, 2, (const int64_t[]){4, 3}, &err), &err);
    FF_REQUIRE_OK(ff_be_alloc(other, &out, FF_F32, 2, (const int64_t[]){4, 3}, &err), &err);
    FF_CHECK(a.owner == be && out.owner == other);
    EXPECT(ff_op_scale(other, &a, 2.0f, 0.0f, &out, E), FF_ERR_ARG, "belongs to backend cpu, not cpu-host");
    EXPECT(ff_op_scale(be, &a, 2.0f, 0.0f, &out, E), FF_ERR_ARG, "belongs to backend cpu-host, not cpu");
    EXPECT(ff_be_upload(other, &a, &h, E), FF_ERR_ARG, "ff_be_upload");
    EXPECT(ff_be_download(other, &h, &a, E), FF_ERR_ARG, "belongs to backend cpu");
    EXPECT(ff_be_release(other, &a, E), FF_ERR_ARG, "not freed");
    FF_CHECK(a.data != NULL); /* left alone */
    /* host tensors (no owner) still go everywhere a host tensor may; views of backend memory carry no owner */
    FF_CHECK_OK(ff_be_upload(be, &a, &h, &err), &err);
    ff_tensor view;
    ff_tensor_view(&view, FF_F32, 2, a.shape, a.data, a.loc);
    FF_CHECK_OK(ff_op_scale(other, &view, 2.0f, 0.0f, &out, &err), &err);
    FF_CHECK_OK(ff_be_release(be, &a, &err), &err);
    FF_CHECK(a.data == NULL);
    ff_be_free(other, &out);
    tt_free(&h, NULL);
    ff_backend_free(other);
}

static void test_matrix_errors(void) {
    ff_tensor x = tt_rand(1, -1, 1, S(4, 7)), w = tt_rand(2, -1, 1, S(5, 7)), b = tt_zeros(S(5));
    ff_tensor out = tt_zeros(S(4, 5)), bad_out = tt_zeros(S(4, 6)), w_bad = tt_rand(3, -1, 1, S(5, 6));
    ff_tensor x16 = tt_to(&x, FF_BF16), w16 = tt_to(&w, FF_F16), b6 = tt_zeros(S(6));
    EXPECT(ff_op_linear(be, &x, &w_bad, NULL, &out, E), FF_ERR_SHAPE, "op linear");
    EXPECT(ff_op_linear(be, &x, &w, NULL, &bad_out, E), FF_ERR_SHAPE, "op linear");
    EXPECT(ff_op_linear(be, &x, &w, &b6, &out, E), FF_ERR_SHAPE, "op linear");
    EXPECT(ff_op_linear(be, &x16, &w, NULL, &out, E), FF_ERR_SHAPE, "op linear"); /* activations are F32 */
    EXPECT(ff_op_linear(be, &x, &w16, NULL, &out, E), FF_ERR_SHAPE, "op linear"); /* F16 weights: no */
    EXPECT(ff_op_linear(be, NULL, &w, NULL, &out, E), FF_ERR_ARG, "op linear");
    EXPECT(ff_op_linear(NULL, &x, &w, NULL, &out, E), FF_ERR_ARG, "op linear");
    ff_tensor xd = x;
    xd.loc = FF_LOC_DEVICE; /* not this backend's memory */
    EXPECT(ff_op_linear(be, &xd, &w, NULL, &out, E), FF_ERR_ARG, "op linear");
    /* out == x is never allowed for linear */
    ff_tensor sq = tt_rand(4, -1, 1, S(7, 7)), xs = tt_rand(5, -1, 1, S(3, 7));
    EXPECT(ff_op_linear(be, &xs, &sq, NULL, &xs, E), FF_ERR_ARG, "op linear");

    ff_tensor a = tt_rand(6, -1, 1, S(2, 3, 4)), mb = tt_rand(7, -1, 1, S(3, 4, 5)), mo = tt_zeros(S(2, 3, 5));
    ff_tensor k_bad = tt_rand(8, -1, 1, S(5, 5));
    EXPECT(ff_op_matmul(be, &a, &mb, 0, 0, 1.0f, &mo, E), FF_ERR_SHAPE, "op matmul"); /* leading dims differ */
    EXPECT(ff_op_matmul(be, &a, &k_bad, 0, 0, 1.0f, &mo, E), FF_ERR_SHAPE, "op matmul");
    ff_tensor v1 = tt_zeros(S(4));
    EXPECT(ff_op_matmul(be, &v1, &k_bad, 0, 0, 1.0f, &mo, E), FF_ERR_SHAPE, "op matmul");
    tt_free(&x, &w, &b, &out, &bad_out, &w_bad, &x16, &w16, &b6, &sq, &xs, &a, &mb, &mo, &k_bad, &v1, NULL);
}

static void test_conv_errors(void) {
    ff_tensor x = tt_rand(1, -1, 1, S(1, 3, 2, 5, 5)), w = tt_rand(2, -1, 1, S(4, 3, 3, 3, 3));
    ff_tensor out = tt_zeros(S(1, 4, 2, 5, 5)), w_c = tt_rand(3, -1, 1, S(4, 2, 3, 3, 3));
    const int s1[3] = {1, 1, 1}, s0[3] = {1, 0, 1};
    const int p1[6] = {2, 0, 1, 1, 1, 1}, pneg[6] = {2, 0, -1, 1, 1, 1}, p0[6] = {0, 0, 0, 0, 0, 0};
    ff_err err = {0};
    FF_CHECK_OK(ff_op_conv3d(be, &x, &w, NULL, s1, p1, &out, &err), &err);
    EXPECT(ff_op_conv3d(be, &x, &w_c, NULL, s1, p1, &out, E), FF_ERR_SHAPE, "op conv3d");
    EXPECT(ff_op_conv3d(be, &x, &w, NULL, s1, p0, &out, E), FF_ERR_SHAPE, "op conv3d"); /* T 2 < kt 3 */
    EXPECT(ff_op_conv3d(be, &x, &w, NULL, s0, p1, &out, E), FF_ERR_ARG, "op conv3d");
    EXPECT(ff_op_conv3d(be, &x, &w, NULL, s1, pneg, &out, E), FF_ERR_ARG, "op conv3d");
    EXPECT(ff_op_conv3d(be, &x, &w, NULL, NULL, p1, &out, E), FF_ERR_ARG, "op conv3d");
    const int p_out[6] = {2, 0, 1, 1, 0, 0}; /* W' = 3, out has 5 */
    EXPECT(ff_op_conv3d(be, &x, &w, NULL, s1, p_out, &out, E), FF_ERR_SHAPE, "op conv3d");

    ff_tensor x2 = tt_rand(4, -1, 1, S(1, 3, 5, 5)), w2 = tt_rand(5, -1, 1, S(4, 3, 3, 3));
    ff_tensor o2 = tt_zeros(S(1, 4, 3, 3)), o2_bad = tt_zeros(S(1, 4, 3, 4));
    const int s2[2] = {1, 1}, pad2[4] = {0, 0, 0, 0};
    FF_CHECK_OK(ff_op_conv2d(be, &x2, &w2, NULL, s2, pad2, &o2, &err), &err);
    EXPECT(ff_op_conv2d(be, &x2, &w2, NULL, s2, pad2, &o2_bad, E), FF_ERR_SHAPE, "op conv2d");
    EXPECT(ff_op_conv2d(be, &x, &w2, NULL, s2, pad2, &o2, E), FF_ERR_SHAPE, "op conv2d"); /* 5-D x */
    tt_free(&x, &w, &out, &w_c, &x2, &w2, &o2, &o2_bad, NULL);
}

static void test_norm_errors(void) {
    ff_tensor x = tt_rand(1, -1, 1, S(2, 6, 5)), out = tt_zeros(S(2, 6, 5)), out_bad = tt_zeros(S(2, 5, 6));
    ff_tensor g6 = tt_zeros(S(6)), g5 = tt_zeros(S(5)), g61 = tt_zeros(S(6, 2));
    EXPECT(ff_op_group_norm(be, &x, 4, NULL, NULL, 1e-5f, &out, E), FF_ERR_SHAPE, "op group_norm");
    EXPECT(ff_op_group_norm(be, &x, 0, NULL, NULL, 1e-5f, &out, E), FF_ERR_SHAPE, "op group_norm");
    EXPECT(ff_op_group_norm(be, &x, 3, &g5, NULL, 1e-5f, &out, E), FF_ERR_SHAPE, "op group_norm");
    EXPECT(ff_op_group_norm(be, &x, 3, &g61, NULL, 1e-5f, &out, E), FF_ERR_SHAPE, "op group_norm");
    EXPECT(ff_op_group_norm(be, &x, 3, NULL, NULL, 1e-5f, &out_bad, E), FF_ERR_SHAPE, "op group_norm");
    EXPECT(ff_op_layer_norm(be, &x, &g6, NULL, 1e-5f, &out, E), FF_ERR_SHAPE, "op layer_norm");
    EXPECT(ff_op_rms_norm(be, &x, &g6, 1e-5f, &out, E), FF_ERR_SHAPE, "op rms_norm");
    EXPECT(ff_op_l2norm_channels(be, &x, &g5, NULL, 1.0f, 1e-12f, &out, E), FF_ERR_SHAPE, "op l2norm_channels");
    EXPECT(ff_op_softmax(be, &x, &out_bad, E), FF_ERR_SHAPE, "op softmax");
    /* the norm weight may not be the output */
    ff_tensor row = tt_rand(2, -1, 1, S(6)), w = tt_rand(3, -1, 1, S(6));
    EXPECT(ff_op_rms_norm(be, &row, &w, 1e-5f, &w, E), FF_ERR_ARG, "op rms_norm");
    tt_free(&x, &out, &out_bad, &g6, &g5, &g61, &row, &w, NULL);
}

static void test_elementwise_errors(void) {
    ff_err err = {0};
    ff_tensor a = tt_rand(1, -1, 1, S(4, 1, 6)), b = tt_rand(2, -1, 1, S(5, 1)), out = tt_zeros(S(4, 5, 6));
    FF_CHECK_OK(ff_op_binary(be, FF_BIN_ADD, &a, &b, &out, &err), &err);
    ff_tensor b_bad = tt_rand(3, -1, 1, S(5, 2)), out_bad = tt_zeros(S(4, 5, 1));
    EXPECT(ff_op_binary(be, FF_BIN_ADD, &a, &b_bad, &out, E), FF_ERR_SHAPE, "op binary");
    EXPECT(ff_op_binary(be, FF_BIN_ADD, &a, &b, &out_bad, E), FF_ERR_SHAPE, "op binary");
    EXPECT(ff_op_binary(be, FF_BIN_COUNT, &a, &b, &out, E), FF_ERR_ARG, "op binary");
    /* out may alias a (in place), never b, and never a broadcast a */
    ff_tensor p = tt_rand(4, -1, 1, S(3, 4)), q = tt_rand(5, -1, 1, S(3, 4));
    FF_CHECK_OK(ff_op_binary(be, FF_BIN_MUL, &p, &q, &p, &err), &err);
    EXPECT(ff_op_binary(be, FF_BIN_MUL, &p, &q, &q, E), FF_ERR_ARG, "op binary");
    ff_tensor big = tt_zeros(S(3, 4)), head;
    ff_tensor_view(&head, FF_F32, 1, (const int64_t[]){4}, big.data, FF_LOC_HOST);
    EXPECT(ff_op_binary(be, FF_BIN_ADD, &head, &q, &big, E), FF_ERR_ARG, "op binary");
    /* in place means exactly in place: a one-element shift is an error */
    ff_tensor shifted;
    ff_tensor_view(&shifted, FF_F32, 1, (const int64_t[]){8}, (float *)big.data + 1, FF_LOC_HOST);
    ff_tensor first8;
    ff_tensor_view(&first8, FF_F32, 1, (const int64_t[]){8}, big.data, FF_LOC_HOST);
    EXPECT(ff_op_unary(be, FF_UNARY_SILU, &first8, &shifted, E), FF_ERR_ARG, "op unary");
    EXPECT(ff_op_unary(be, FF_UNARY_COUNT, &p, &q, E), FF_ERR_ARG, "op unary");
    EXPECT(ff_op_unary(be, FF_UNARY_RELU, &p, &out, E), FF_ERR_SHAPE, "op unary");
    EXPECT(ff_op_scale(be, &p, 1.0f, 0.0f, &out, E), FF_ERR_SHAPE, "op scale");
    EXPECT(ff_op_clamp(be, &p, 0.0f, 1.0f, &out, E), FF_ERR_SHAPE, "op clamp");

    ff_tensor x = tt_rand(6, -1, 1, S(2, 3, 8)), mo = tt_zeros(S(2, 3, 8));
    ff_tensor sh_ok = tt_zeros(S(2, 1, 8)), sh_d = tt_zeros(S(2, 1, 1)), sh_b = tt_zeros(S(3, 1, 8));
    FF_CHECK_OK(ff_op_modulate(be, &x, &sh_ok, &sh_ok, &mo, &err), &err);
    EXPECT(ff_op_modulate(be, &x, &sh_d, &sh_ok, &mo, E), FF_ERR_SHAPE, "op modulate"); /* D never broadcasts */
    EXPECT(ff_op_modulate(be, &x, &sh_ok, &sh_b, &mo, E), FF_ERR_SHAPE, "op modulate");
    EXPECT(ff_op_modulate(be, &out, &sh_ok, &sh_ok, &out, E), FF_ERR_SHAPE, "op modulate");

    ff_tensor r = tt_rand(7, -1, 1, S(1, 3, 2, 5)), ro = tt_zeros(S(1, 3, 2, 5)), cs = tt_zeros(S(3, 5));
    EXPECT(ff_op_rope(be, &r, &cs, &cs, &ro, E), FF_ERR_SHAPE, "op rope"); /* odd D */
    ff_tensor r4 = tt_rand(8, -1, 1, S(1, 3, 2, 4)), r4o = tt_zeros(S(1, 3, 2, 4)), cs_bad = tt_zeros(S(4, 4));
    EXPECT(ff_op_rope(be, &r4, &cs_bad, &cs_bad, &r4o, E), FF_ERR_SHAPE, "op rope");
    tt_free(&a, &b, &out, &b_bad, &out_bad, &p, &q, &big, &x, &mo, &sh_ok, &sh_d, &sh_b, &r, &ro, &cs, &r4, &r4o,
            &cs_bad, NULL);
}

static void test_sdpa_errors(void) {
    ff_err err = {0};
    ff_tensor q = tt_rand(1, -1, 1, S(2, 3, 5, 8)), k = tt_rand(2, -1, 1, S(2, 3, 7, 8));
    ff_tensor v = tt_rand(3, -1, 1, S(2, 3, 7, 4)), out = tt_zeros(S(2, 3, 5, 4));
    ff_tensor k_bad = tt_rand(4, -1, 1, S(2, 3, 7, 6)), v_bad = tt_rand(5, -1, 1, S(2, 3, 6, 4));
    ff_tensor bias_ok = tt_zeros(S(2, 1, 5, 7)), bias_bad = tt_zeros(S(3, 1, 1, 7)), bias5 = tt_zeros(S(1, 1, 1, 1, 7));
    FF_CHECK_OK(ff_op_sdpa(be, &q, &k, &v, &bias_ok, 1.0f, &out, &err), &err);
    EXPECT(ff_op_sdpa(be, &q, &k_bad, &v, NULL, 1.0f, &out, E), FF_ERR_SHAPE, "op sdpa");
    EXPECT(ff_op_sdpa(be, &q, &k, &v_bad, NULL, 1.0f, &out, E), FF_ERR_SHAPE, "op sdpa");
    EXPECT(ff_op_sdpa(be, &q, &k, &v, &bias_bad, 1.0f, &out, E), FF_ERR_SHAPE, "op sdpa");
    EXPECT(ff_op_sdpa(be, &q, &k, &v, &bias5, 1.0f, &out, E), FF_ERR_SHAPE, "op sdpa");
    EXPECT(ff_op_sdpa(be, &q, &k, &v, NULL, 1.0f, &q, E), FF_ERR_SHAPE, "op sdpa"); /* out shape first */
    ff_tensor qq = tt_rand(6, -1, 1, S(2, 3, 5, 4)), kk = tt_rand(7, -1, 1, S(2, 3, 5, 4));
    EXPECT(ff_op_sdpa(be, &qq, &kk, &kk, NULL, 1.0f, &qq, E), FF_ERR_ARG, "op sdpa"); /* out == q */

    /* Lk = 0: every row is empty -> zeros (as a fully -inf row) */
    ff_tensor k0 = tt_zeros(S(2, 3, 0, 8)), v0 = tt_zeros(S(2, 3, 0, 4)), o0 = tt_rand(8, 1, 2, S(2, 3, 5, 4));
    FF_CHECK_OK(ff_op_sdpa(be, &q, &k0, &v0, NULL, 1.0f, &o0, &err), &err);
    double zsum = 0;
    for (int64_t i = 0; i < ff_tensor_numel(&o0); i++) zsum += fabs(tt_at(&o0, i));
    FF_CHECK(zsum == 0.0);
    tt_free(&q, &k, &v, &out, &k_bad, &v_bad, &bias_ok, &bias_bad, &bias5, &qq, &kk, &k0, &v0, &o0, NULL);
}

static void test_layout_errors(void) {
    ff_err err = {0};
    ff_tensor a = tt_rand(1, -1, 1, S(2, 3)), b = tt_rand(2, -1, 1, S(2, 4)), c = tt_rand(3, -1, 1, S(3, 4));
    ff_tensor out = tt_zeros(S(2, 7)), out_bad = tt_zeros(S(2, 8));
    const ff_tensor *ab[2] = {&a, &b}, *ac[2] = {&a, &c};
    FF_CHECK_OK(ff_op_concat(be, ab, 2, -1, &out, &err), &err);
    EXPECT(ff_op_concat(be, ab, 2, 1, &out_bad, E), FF_ERR_SHAPE, "op concat");
    EXPECT(ff_op_concat(be, ac, 2, 1, &out, E), FF_ERR_SHAPE, "op concat");
    EXPECT(ff_op_concat(be, ab, 2, 2, &out, E), FF_ERR_ARG, "op concat");
    EXPECT(ff_op_concat(be, ab, 0, 1, &out, E), FF_ERR_ARG, "op concat");
    const ff_tensor *ao[2] = {&a, &out};
    EXPECT(ff_op_concat(be, ao, 2, 1, &out, E), FF_ERR_SHAPE, "op concat");

    ff_tensor s = tt_zeros(S(2, 3));
    FF_CHECK_OK(ff_op_slice(be, &out, 1, 4, &s, &err), &err);
    EXPECT(ff_op_slice(be, &out, 1, 5, &s, E), FF_ERR_SHAPE, "op slice");
    EXPECT(ff_op_slice(be, &out, 1, -1, &s, E), FF_ERR_SHAPE, "op slice");
    EXPECT(ff_op_slice(be, &out, 0, 0, &s, E), FF_ERR_SHAPE, "op slice");
    EXPECT(ff_op_slice(be, &out, -3, 0, &s, E), FF_ERR_ARG, "op slice");

    ff_tensor x = tt_rand(4, -1, 1, S(2, 3, 4)), px = tt_zeros(S(4, 3, 2)), px_bad = tt_zeros(S(4, 2, 3));
    FF_CHECK_OK(ff_op_permute(be, &x, (const int[]){2, 1, 0}, &px, &err), &err);
    EXPECT(ff_op_permute(be, &x, (const int[]){2, 1, 0}, &px_bad, E), FF_ERR_SHAPE, "op permute");
    EXPECT(ff_op_permute(be, &x, (const int[]){2, 2, 0}, &px, E), FF_ERR_ARG, "op permute");
    EXPECT(ff_op_permute(be, &x, (const int[]){3, 1, 0}, &px, E), FF_ERR_ARG, "op permute");
    EXPECT(ff_op_permute(be, &x, NULL, &px, E), FF_ERR_ARG, "op permute");

    ff_tensor up = tt_zeros(S(1, 2, 4, 6)), upx = tt_rand(5, -1, 1, S(1, 2, 2, 3));
    FF_CHECK_OK(ff_op_upsample_nearest2d(be, &upx, 2, 2, &up, &err), &err);
    EXPECT(ff_op_upsample_nearest2d(be, &upx, 2, 3, &up, E), FF_ERR_SHAPE, "op upsample_nearest2d");
    EXPECT(ff_op_upsample_nearest2d(be, &upx, 0, 2, &up, E), FF_ERR_ARG, "op upsample_nearest2d");

    ff_tensor c_bad = tt_zeros(S(7)), ids = tt_make(FF_I32, S(2, 3));
    EXPECT(ff_op_copy(be, &a, &c_bad, E), FF_ERR_SHAPE, "op copy");
    EXPECT(ff_op_copy(be, &ids, &a, E), FF_ERR_SHAPE, "op copy"); /* ints are not floats */
    EXPECT(ff_op_copy(be, &a, &a, E), FF_ERR_ARG, "op copy");

    ff_tensor table = tt_rand(6, -1, 1, S(10, 4)), eo = tt_zeros(S(2, 3, 4)), eo_bad = tt_zeros(S(6, 4));
    FF_CHECK_OK(ff_op_embedding(be, &ids, &table, &eo, &err), &err);
    EXPECT(ff_op_embedding(be, &ids, &table, &eo_bad, E), FF_ERR_SHAPE, "op embedding");
    EXPECT(ff_op_embedding(be, &a, &table, &eo, E), FF_ERR_SHAPE, "op embedding"); /* F32 ids */
    tt_free(&a, &b, &c, &out, &out_bad, &s, &x, &px, &px_bad, &up, &upx, &c_bad, &ids, &table, &eo, &eo_bad, NULL);
}

/* Empty tensors validate and do nothing; K = 0 sums are empty (out = bias). */
static void test_empty(void) {
    ff_err err = {0};
    ff_tensor x0 = tt_zeros(S(0, 7)), w = tt_rand(1, -1, 1, S(5, 7)), o0 = tt_zeros(S(0, 5));
    FF_CHECK_OK(ff_op_linear(be, &x0, &w, NULL, &o0, &err), &err);
    ff_tensor xk = tt_zeros(S(3, 0)), wk = tt_zeros(S(5, 0)), b = tt_rand(2, -1, 1, S(5));
    ff_tensor ok = tt_rand(3, 5, 6, S(3, 5));
    FF_CHECK_OK(ff_op_linear(be, &xk, &wk, &b, &ok, &err), &err);
    int eq = 1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) eq &= ((float *)ok.data)[i * 5 + j] == ((float *)b.data)[j];
    FF_CHECK_MSG(eq, "linear with K = 0 gives the bias");
    ff_tensor e = tt_zeros(S(2, 0, 3)), eo = tt_zeros(S(2, 0, 3));
    FF_CHECK_OK(ff_op_unary(be, FF_UNARY_GELU_TANH, &e, &eo, &err), &err);
    FF_CHECK_OK(ff_op_layer_norm(be, &e, NULL, NULL, 1e-5f, &eo, &err), &err);
    tt_free(&x0, &w, &o0, &xk, &wk, &b, &ok, &e, &eo, NULL);
}

/* A backend without an op: FF_ERR_UNSUPPORTED naming op and backend. */
static void test_unsupported(void) {
    static const ff_backend_vtable empty_vt = {0};
    ff_backend fake = {.kind = FF_BACKEND_CPU, .name = "fake", .loc = FF_LOC_HOST, .vt = &empty_vt, .ctx = NULL};
    ff_tensor x = tt_rand(1, -1, 1, S(2, 3)), w = tt_rand(2, -1, 1, S(4, 3)), out = tt_zeros(S(2, 4));
    ff_err err = {0};
    FF_CHECK(ff_op_linear(&fake, &x, &w, NULL, &out, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK_MSG(strstr(err.msg, "op linear not implemented on backend fake") != NULL, "%s", err.msg);
    FF_CHECK(ff_op_softmax(&fake, &x, &x, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK_MSG(strstr(err.msg, "softmax") && strstr(err.msg, "fake"), "%s", err.msg);
    /* shape errors are still reported first */
    FF_CHECK(ff_op_linear(&fake, &x, &x, NULL, &out, &err) == FF_ERR_SHAPE);
    tt_free(&x, &w, &out, NULL);
}

int main(void) {
    ff_err err = {0};
    if (ff_backend_cpu_create(0, &be, &err)) {
        fprintf(stderr, "cannot create the CPU backend: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_backend_create);
    FF_RUN(test_memory);
    FF_RUN(test_owner);
    FF_RUN(test_matrix_errors);
    FF_RUN(test_conv_errors);
    FF_RUN(test_norm_errors);
    FF_RUN(test_elementwise_errors);
    FF_RUN(test_sdpa_errors);
    FF_RUN(test_layout_errors);
    FF_RUN(test_empty);
    FF_RUN(test_unsupported);
    ff_backend_free(be);
    return ff_test_summary();
}
