/* test_ops_cpu: every op of the CPU backend against a naive double-precision
 * reference written here, on random inputs of awkward sizes (1, odd, not a
 * multiple of any block size), BF16 weights, broadcasting and in-place use.
 * Tolerance: rel_l2 <= 1e-6 (pure data movement: exact). */
#include "tests/kernels/ops_test_util.h"

static ff_backend *be; /* the CPU backend under test (one per process) */

#define TOL 1e-6

/* ---- linear / matmul ---------------------------------------------------------- */

static void linear_case(ff_backend *bk, int64_t lead, int64_t m, int64_t k, int64_t n, int bias, ff_dtype wdt,
                        unsigned seed) {
    ff_err err = {0};
    ff_tensor x = tt_rand(seed, -1, 1, S(lead, m, k));
    ff_tensor wf = tt_rand(seed + 1, -1, 1, S(n, k));
    ff_tensor w = tt_to(&wf, wdt);
    ff_tensor b = bias ? tt_rand(seed + 2, -1, 1, S(n)) : (ff_tensor){0};
    ff_tensor out = tt_rand(seed + 3, -9, 9, S(lead, m, n)); /* garbage: must be overwritten */
    FF_CHECK_OK(ff_op_linear(bk, &x, &w, bias ? &b : NULL, &out, &err), &err);
    double *ref = tt_ref(lead * m * n);
    for (int64_t r = 0; r < lead * m; r++)
        for (int64_t j = 0; j < n; j++) {
            double s = bias ? tt_at(&b, j) : 0.0;
            for (int64_t p = 0; p < k; p++) s += tt_at(&x, r * k + p) * tt_at(&w, j * k + p);
            ref[r * n + j] = s;
        }
    CHECK_REL(&out, ref, TOL, "linear (%lld,%lld,%lld)x(%lld,%lld) bias=%d %s", (long long)lead, (long long)m,
              (long long)k, (long long)n, (long long)k, bias, ff_dtype_name(wdt));
    free(ref);
    tt_free(&x, &wf, &w, &b, &out, NULL);
}

static void test_linear(void) {
    linear_case(be, 1, 1, 1, 1, 0, FF_F32, 1);
    linear_case(be, 1, 3, 7, 5, 1, FF_F32, 2);
    linear_case(be, 1, 17, 33, 65, 1, FF_F32, 3);
    linear_case(be, 2, 33, 300, 17, 0, FF_F32, 4);  /* K not a multiple of the depth block */
    linear_case(be, 1, 65, 1, 3, 1, FF_F32, 5);     /* K = 1 */
    linear_case(be, 1, 200, 600, 300, 1, FF_F32, 6); /* several tiles in M, N and K */
    linear_case(be, 3, 7, 65, 33, 1, FF_BF16, 7);
    linear_case(be, 1, 130, 513, 270, 0, FF_BF16, 8);
    linear_case(be, 1, 3, 1100, 1000, 1, FF_BF16, 9); /* BF16 widened in more than one block */
}

/* Results must not depend on the thread count. */
static void test_linear_threads(void) {
    ff_err err = {0};
    for (int threads = 1; threads <= 3; threads += 2) {
        ff_backend *bk = NULL;
        FF_REQUIRE_OK(ff_backend_cpu_create(threads, &bk, &err), &err);
        linear_case(bk, 1, 37, 290, 71, 1, FF_F32, 10);
        linear_case(bk, 1, 37, 290, 71, 1, FF_BF16, 11);
        ff_backend_free(bk);
    }
}

static void matmul_case(int ta, int tb, int b_batched, float alpha, unsigned seed) {
    ff_err err = {0};
    const int64_t b0 = 2, b1 = 3, m = 17, k = 33, n = 9;
    ff_tensor a = ta ? tt_rand(seed, -1, 1, S(b0, b1, k, m)) : tt_rand(seed, -1, 1, S(b0, b1, m, k));
    const int64_t br = tb ? n : k, bc = tb ? k : n;
    ff_tensor b = b_batched ? tt_rand(seed + 1, -1, 1, S(b0, b1, br, bc)) : tt_rand(seed + 1, -1, 1, S(br, bc));
    ff_tensor out = tt_zeros(S(b0, b1, m, n));
    FF_CHECK_OK(ff_op_matmul(be, &a, &b, ta, tb, alpha, &out, &err), &err);
    double *ref = tt_ref(b0 * b1 * m * n);
    for (int64_t bi = 0; bi < b0 * b1; bi++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++) {
                    double av = tt_at(&a, bi * m * k + (ta ? p * m + i : i * k + p));
                    double bv = tt_at(&b, (b_batched ? bi * k * n : 0) + (tb ? j * k + p : p * n + j));
                    s += av * bv;
                }
                ref[(bi * m + i) * n + j] = alpha * s;
            }
    CHECK_REL(&out, ref, TOL, "matmul ta=%d tb=%d b_batched=%d", ta, tb, b_batched);
    free(ref);
    tt_free(&a, &b, &out, NULL);
}

static void test_matmul(void) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int bb = 0; bb < 2; bb++)
                matmul_case(ta, tb, bb, bb ? 0.5f : 1.0f, (unsigned)(20 + ta * 4 + tb * 2 + bb));
    /* plain 2-D, large enough for several tiles */
    ff_err err = {0};
    ff_tensor a = tt_rand(30, -1, 1, S(100, 270)), b = tt_rand(31, -1, 1, S(270, 260)), out = tt_zeros(S(100, 260));
    FF_CHECK_OK(ff_op_matmul(be, &a, &b, 0, 0, 1.0f, &out, &err), &err);
    double *ref = tt_ref(100 * 260);
    for (int64_t i = 0; i < 100; i++)
        for (int64_t j = 0; j < 260; j++) {
            double s = 0;
            for (int64_t p = 0; p < 270; p++) s += tt_at(&a, i * 270 + p) * tt_at(&b, p * 260 + j);
            ref[i * 260 + j] = s;
        }
    CHECK_REL(&out, ref, TOL, "matmul 2-D 100x270x260");
    free(ref);
    tt_free(&a, &b, &out, NULL);
}

/* ---- convolution ---------------------------------------------------------------- */

typedef struct {
    int64_t b, c, f, h, w, o, kt, kh, kw;
    int stride[3], pad[6];
    int bias;
    ff_dtype wdt;
} conv_cfg;

static int64_t conv_out(int64_t in, int64_t k, int s, int p0, int p1) { return (in + p0 + p1 - k) / s + 1; }

static double *conv_ref(const conv_cfg *g, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, int64_t fo,
                        int64_t ho, int64_t wo) {
    double *ref = tt_ref(g->b * g->o * fo * ho * wo);
    for (int64_t bi = 0; bi < g->b; bi++)
        for (int64_t o = 0; o < g->o; o++)
            for (int64_t t = 0; t < fo; t++)
                for (int64_t i = 0; i < ho; i++)
                    for (int64_t j = 0; j < wo; j++) {
                        double s = g->bias ? tt_at(b, o) : 0.0;
                        for (int64_t c = 0; c < g->c; c++)
                            for (int64_t dt = 0; dt < g->kt; dt++)
                                for (int64_t dh = 0; dh < g->kh; dh++)
                                    for (int64_t dw = 0; dw < g->kw; dw++) {
                                        int64_t ti = t * g->stride[0] - g->pad[0] + dt;
                                        int64_t hi = i * g->stride[1] - g->pad[2] + dh;
                                        int64_t wi = j * g->stride[2] - g->pad[4] + dw;
                                        if (ti < 0 || ti >= g->f || hi < 0 || hi >= g->h || wi < 0 || wi >= g->w)
                                            continue;
                                        s += tt_at(x, (((bi * g->c + c) * g->f + ti) * g->h + hi) * g->w + wi) *
                                             tt_at(w, (((o * g->c + c) * g->kt + dt) * g->kh + dh) * g->kw + dw);
                                    }
                        ref[(((bi * g->o + o) * fo + t) * ho + i) * wo + j] = s;
                    }
    return ref;
}

static void conv3d_case(const char *what, conv_cfg g, unsigned seed) {
    ff_err err = {0};
    const int64_t fo = conv_out(g.f, g.kt, g.stride[0], g.pad[0], g.pad[1]);
    const int64_t ho = conv_out(g.h, g.kh, g.stride[1], g.pad[2], g.pad[3]);
    const int64_t wo = conv_out(g.w, g.kw, g.stride[2], g.pad[4], g.pad[5]);
    ff_tensor x = tt_rand(seed, -1, 1, S(g.b, g.c, g.f, g.h, g.w));
    ff_tensor wf = tt_rand(seed + 1, -1, 1, S(g.o, g.c, g.kt, g.kh, g.kw));
    ff_tensor w = tt_to(&wf, g.wdt);
    ff_tensor b = g.bias ? tt_rand(seed + 2, -1, 1, S(g.o)) : (ff_tensor){0};
    ff_tensor out = tt_rand(seed + 3, -9, 9, S(g.b, g.o, fo, ho, wo));
    FF_CHECK_OK(ff_op_conv3d(be, &x, &w, g.bias ? &b : NULL, g.stride, g.pad, &out, &err), &err);
    double *ref = conv_ref(&g, &x, &w, &b, fo, ho, wo);
    CHECK_REL(&out, ref, TOL, "conv3d %s", what);
    free(ref);
    tt_free(&x, &wf, &w, &b, &out, NULL);
}

static void test_conv3d(void) {
    conv3d_case("3x3x3 pad 1", (conv_cfg){2, 3, 5, 7, 6, 4, 3, 3, 3, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 1, FF_F32}, 40);
    conv3d_case("causal time pad (2,0)",
                (conv_cfg){1, 4, 5, 6, 5, 3, 3, 3, 3, {1, 1, 1}, {2, 0, 1, 1, 1, 1}, 1, FF_F32}, 41);
    conv3d_case("1x3x3 stride 2 pad (0,1,0,1)",
                (conv_cfg){1, 3, 3, 9, 8, 5, 1, 3, 3, {1, 2, 2}, {0, 0, 0, 1, 0, 1}, 1, FF_F32}, 42);
    conv3d_case("1x1x1", (conv_cfg){2, 5, 3, 4, 7, 6, 1, 1, 1, {1, 1, 1}, {0, 0, 0, 0, 0, 0}, 1, FF_F32}, 43);
    conv3d_case("1x1x1 BF16", (conv_cfg){2, 5, 3, 4, 7, 6, 1, 1, 1, {1, 1, 1}, {0, 0, 0, 0, 0, 0}, 0, FF_BF16}, 44);
    conv3d_case("1x1x1 stride 2", (conv_cfg){1, 3, 2, 5, 5, 2, 1, 1, 1, {1, 2, 2}, {0, 0, 0, 0, 0, 0}, 1, FF_F32}, 45);
    conv3d_case("3x1x1 time stride 2", (conv_cfg){1, 2, 7, 5, 5, 2, 3, 1, 1, {2, 1, 1}, {0, 0, 0, 0, 0, 0}, 1, FF_F32},
                46);
    conv3d_case("3x3x3 BF16 causal", (conv_cfg){1, 3, 4, 5, 7, 5, 3, 3, 3, {1, 1, 1}, {2, 0, 1, 1, 1, 1}, 1, FF_BF16},
                47);
    conv3d_case("odd H*W, 1 channel", (conv_cfg){3, 1, 1, 7, 9, 1, 1, 3, 3, {1, 1, 1}, {0, 0, 1, 1, 1, 1}, 1, FF_F32},
                48);
    conv3d_case("asymmetric pad, stride (2,3,2)",
                (conv_cfg){1, 2, 6, 8, 11, 3, 2, 2, 3, {2, 3, 2}, {1, 0, 2, 0, 0, 2}, 0, FF_F32}, 49);
    /* im2col in more than one band of rows (col budget exceeded) */
    conv3d_case("3x3x3 banded", (conv_cfg){1, 32, 2, 72, 72, 8, 3, 3, 3, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 1, FF_F32},
                50);
}

static void test_conv2d(void) {
    ff_err err = {0};
    conv_cfg g = {2, 3, 1, 9, 8, 4, 1, 3, 3, {1, 2, 2}, {0, 0, 0, 1, 0, 1}, 1, FF_F32};
    ff_tensor x = tt_rand(60, -1, 1, S(2, 3, 9, 8)), w = tt_rand(61, -1, 1, S(4, 3, 3, 3));
    ff_tensor b = tt_rand(62, -1, 1, S(4));
    const int64_t ho = conv_out(9, 3, 2, 0, 1), wo = conv_out(8, 3, 2, 0, 1);
    ff_tensor out = tt_zeros(S(2, 4, ho, wo));
    const int stride[2] = {2, 2}, pad[4] = {0, 1, 0, 1};
    FF_CHECK_OK(ff_op_conv2d(be, &x, &w, &b, stride, pad, &out, &err), &err);
    double *ref = conv_ref(&g, &x, &w, &b, 1, ho, wo); /* same memory as (N, C, 1, H, W) */
    CHECK_REL(&out, ref, TOL, "conv2d 3x3 stride 2 pad (0,1,0,1)");
    free(ref);
    tt_free(&x, &w, &b, &out, NULL);

    /* 1x1 BF16 */
    conv_cfg g1 = {1, 6, 1, 5, 3, 2, 1, 1, 1, {1, 1, 1}, {0, 0, 0, 0, 0, 0}, 0, FF_BF16};
    ff_tensor x1 = tt_rand(63, -1, 1, S(1, 6, 5, 3)), w1f = tt_rand(64, -1, 1, S(2, 6, 1, 1));
    ff_tensor w1 = tt_to(&w1f, FF_BF16), o1 = tt_zeros(S(1, 2, 5, 3));
    const int s1[2] = {1, 1}, p1[4] = {0, 0, 0, 0};
    FF_CHECK_OK(ff_op_conv2d(be, &x1, &w1, NULL, s1, p1, &o1, &err), &err);
    ref = conv_ref(&g1, &x1, &w1, NULL, 1, 5, 3);
    CHECK_REL(&o1, ref, TOL, "conv2d 1x1 BF16");
    free(ref);
    tt_free(&x1, &w1f, &w1, &o1, NULL);
}

/* ---- normalisations ------------------------------------------------------------- */

static void group_norm_case(const int64_t *shape, int nd, int groups, int affine, float offset, int in_place,
                            unsigned seed) {
    ff_err err = {0};
    ff_tensor x = tt_rand(seed, offset - 1, offset + 1, shape, nd);
    const int64_t c = shape[1], n = ff_tensor_numel(&x), s = n / (shape[0] * c), cpg = c / groups;
    ff_tensor g = affine ? tt_rand(seed + 1, 0.5f, 1.5f, S(c)) : (ff_tensor){0};
    ff_tensor bt = affine ? tt_rand(seed + 2, -1, 1, S(c, 1, 1)) : (ff_tensor){0}; /* (C, 1, 1) is a vector too */
    double *ref = tt_ref(n);
    for (int64_t bi = 0; bi < shape[0]; bi++)
        for (int gi = 0; gi < groups; gi++) {
            const int64_t base = (bi * c + gi * cpg) * s, cnt = cpg * s;
            double mean = 0, var = 0;
            for (int64_t i = 0; i < cnt; i++) mean += tt_at(&x, base + i);
            mean /= (double)cnt;
            for (int64_t i = 0; i < cnt; i++) var += (tt_at(&x, base + i) - mean) * (tt_at(&x, base + i) - mean);
            var /= (double)cnt;
            for (int64_t i = 0; i < cnt; i++) {
                int64_t ch = gi * cpg + i / s;
                double y = (tt_at(&x, base + i) - mean) / sqrt(var + 1e-5);
                ref[base + i] = affine ? y * tt_at(&g, ch) + tt_at(&bt, ch) : y;
            }
        }
    ff_tensor out = in_place ? x : tt_zeros(shape, nd);
    FF_CHECK_OK(ff_op_group_norm(be, &x, groups, affine ? &g : NULL, affine ? &bt : NULL, 1e-5f, &out, &err), &err);
    CHECK_REL(&out, ref, TOL, "group_norm groups=%d affine=%d offset=%g in_place=%d", groups, affine, offset,
              in_place);
    free(ref);
    if (!in_place) ff_tensor_free(&out);
    tt_free(&x, &g, &bt, NULL);
}

static void test_group_norm(void) {
    group_norm_case(S(2, 6, 5, 3, 7), 3, 1, 0.0f, 0, 70);
    group_norm_case(S(1, 32, 4, 4), 32, 0, 0.0f, 0, 71);
    group_norm_case(S(3, 4, 1), 1, 1, 0.0f, 1, 72);
    group_norm_case(S(2, 8, 33, 17), 4, 1, 50.0f, 0, 73); /* large mean: needs a good variance */
}

static void row_norm_ref(const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, int rms, double *ref) {
    const int64_t d = x->shape[x->ndim - 1], rows = ff_tensor_numel(x) / d;
    for (int64_t r = 0; r < rows; r++) {
        double mean = 0, var = 0;
        for (int64_t j = 0; j < d; j++) mean += tt_at(x, r * d + j);
        mean /= (double)d;
        for (int64_t j = 0; j < d; j++) {
            double v = tt_at(x, r * d + j) - (rms ? 0.0 : mean);
            var += v * v;
        }
        var /= (double)d;
        for (int64_t j = 0; j < d; j++) {
            double y = (tt_at(x, r * d + j) - (rms ? 0.0 : mean)) / sqrt(var + 1e-6);
            if (w) y *= tt_at(w, j);
            if (b) y += tt_at(b, j);
            ref[r * d + j] = y;
        }
    }
}

static void layer_norm_case(const int64_t *shape, int nd, int affine, float offset, int in_place, unsigned seed) {
    ff_err err = {0};
    const int64_t d = shape[nd - 1];
    ff_tensor x = tt_rand(seed, offset - 1, offset + 1, shape, nd);
    ff_tensor w = affine ? tt_rand(seed + 1, 0.5f, 1.5f, S(d)) : (ff_tensor){0};
    ff_tensor b = affine ? tt_rand(seed + 2, -1, 1, S(d)) : (ff_tensor){0};
    double *ref = tt_ref(ff_tensor_numel(&x));
    row_norm_ref(&x, affine ? &w : NULL, affine ? &b : NULL, 0, ref);
    ff_tensor out = in_place ? x : tt_zeros(shape, nd);
    FF_CHECK_OK(ff_op_layer_norm(be, &x, affine ? &w : NULL, affine ? &b : NULL, 1e-6f, &out, &err), &err);
    CHECK_REL(&out, ref, TOL, "layer_norm D=%lld affine=%d offset=%g", (long long)d, affine, offset);
    free(ref);
    if (!in_place) ff_tensor_free(&out);
    tt_free(&x, &w, &b, NULL);
}

static void test_layer_norm(void) {
    layer_norm_case(S(3, 17), 1, 0.0f, 0, 80);
    layer_norm_case(S(2, 5, 1536), 1, 100.0f, 0, 81);
    layer_norm_case(S(7, 65), 0, 0.0f, 1, 82);
    /* D = 1: every output is exactly beta (x - mean = 0) */
    ff_err err = {0};
    ff_tensor x = tt_rand(83, -1, 1, S(5, 1)), w = tt_rand(84, -1, 1, S(1)), b = tt_rand(85, -1, 1, S(1));
    ff_tensor out = tt_zeros(S(5, 1));
    FF_CHECK_OK(ff_op_layer_norm(be, &x, &w, &b, 1e-6f, &out, &err), &err);
    for (int i = 0; i < 5; i++) FF_CHECK(((float *)out.data)[i] == ((float *)b.data)[0]);
    tt_free(&x, &w, &b, &out, NULL);
}

static void test_rms_norm(void) {
    ff_err err = {0};
    for (int affine = 0; affine < 2; affine++) {
        ff_tensor x = affine ? tt_rand(90, -2, 2, S(7, 33)) : tt_rand(91, -2, 2, S(2, 3, 128));
        const int64_t d = x.shape[x.ndim - 1];
        ff_tensor w = affine ? tt_rand(92, 0.5f, 1.5f, S(d)) : (ff_tensor){0};
        double *ref = tt_ref(ff_tensor_numel(&x));
        row_norm_ref(&x, affine ? &w : NULL, NULL, 1, ref);
        ff_tensor out = tt_zeros(x.shape, x.ndim);
        FF_CHECK_OK(ff_op_rms_norm(be, &x, affine ? &w : NULL, 1e-6f, &out, &err), &err);
        CHECK_REL(&out, ref, TOL, "rms_norm affine=%d", affine);
        FF_CHECK_OK(ff_op_rms_norm(be, &x, affine ? &w : NULL, 1e-6f, &x, &err), &err); /* in place */
        CHECK_REL(&x, ref, TOL, "rms_norm in place affine=%d", affine);
        free(ref);
        tt_free(&x, &w, &out, NULL);
    }
}

static void l2norm_case(const int64_t *shape, int nd, int affine, int zero_column, unsigned seed) {
    ff_err err = {0};
    ff_tensor x = tt_rand(seed, -1, 1, shape, nd);
    const int64_t c = shape[1], s = ff_tensor_numel(&x) / (shape[0] * c);
    if (zero_column)
        for (int64_t ci = 0; ci < c; ci++) ((float *)x.data)[ci * s] = 0.0f; /* ||x[0, :, 0]|| = 0 */
    ff_tensor g = affine ? tt_rand(seed + 1, 0.5f, 1.5f, S(c, 1, 1, 1)) : (ff_tensor){0};
    ff_tensor bt = affine ? tt_rand(seed + 2, -1, 1, S(c)) : (ff_tensor){0};
    const float scale = sqrtf((float)c), eps = 1e-12f;
    double *ref = tt_ref(ff_tensor_numel(&x));
    for (int64_t bi = 0; bi < shape[0]; bi++)
        for (int64_t j = 0; j < s; j++) {
            double ss = 0;
            for (int64_t ci = 0; ci < c; ci++) {
                const double v = tt_at(&x, (bi * c + ci) * s + j);
                ss += v * v;
            }
            double nrm = fmax(sqrt(ss), eps);
            for (int64_t ci = 0; ci < c; ci++) {
                double y = tt_at(&x, (bi * c + ci) * s + j) / nrm * scale;
                ref[(bi * c + ci) * s + j] = affine ? y * tt_at(&g, ci) + tt_at(&bt, ci) : y;
            }
        }
    ff_tensor out = tt_zeros(shape, nd);
    FF_CHECK_OK(ff_op_l2norm_channels(be, &x, affine ? &g : NULL, affine ? &bt : NULL, scale, eps, &out, &err), &err);
    CHECK_REL(&out, ref, TOL, "l2norm_channels C=%lld affine=%d", (long long)c, affine);
    free(ref);
    tt_free(&x, &g, &bt, &out, NULL);
}

static void test_l2norm_channels(void) {
    l2norm_case(S(2, 5, 3, 7, 9), 1, 0, 100);
    l2norm_case(S(1, 16, 300), 0, 1, 101); /* S > the position block */
    l2norm_case(S(3, 1, 2, 2), 1, 1, 102);
}

static void test_softmax(void) {
    ff_err err = {0};
    const struct { int64_t rows, d; float range; } cases[] = {{7, 33, 3}, {3, 1, 3}, {2, 1000, 30}};
    for (int ci = 0; ci < 3; ci++) {
        const int64_t rows = cases[ci].rows, d = cases[ci].d;
        ff_tensor x = tt_rand(110 + (unsigned)ci, -cases[ci].range, cases[ci].range, S(rows, d));
        double *ref = tt_ref(rows * d);
        for (int64_t r = 0; r < rows; r++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < d; j++) mx = fmax(mx, tt_at(&x, r * d + j));
            for (int64_t j = 0; j < d; j++) sum += exp(tt_at(&x, r * d + j) - mx);
            for (int64_t j = 0; j < d; j++) ref[r * d + j] = exp(tt_at(&x, r * d + j) - mx) / sum;
        }
        FF_CHECK_OK(ff_op_softmax(be, &x, &x, &err), &err); /* in place */
        CHECK_REL(&x, ref, TOL, "softmax %lldx%lld", (long long)rows, (long long)d);
        free(ref);
        ff_tensor_free(&x);
    }
}

/* ---- elementwise -------------------------------------------------------------------- */

static double unary_ref(ff_unary_kind kind, double x) {
    switch (kind) {
    case FF_UNARY_SILU: return x / (1.0 + exp(-x));
    case FF_UNARY_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case FF_UNARY_GELU_ERF: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case FF_UNARY_RELU: return x > 0 ? x : 0;
    case FF_UNARY_EXP: return exp(x);
    case FF_UNARY_QUICK_GELU: return x / (1.0 + exp(-1.702 * x));
    default: return NAN;
    }
}

static void test_unary(void) {
    ff_err err = {0};
    for (int kind = 0; kind < FF_UNARY_COUNT; kind++) {
        ff_tensor x = tt_rand(120 + (unsigned)kind, -8, 8, S(3, 17001)); /* > one work span */
        ff_tensor out = tt_zeros(S(3, 17001));
        const int64_t n = ff_tensor_numel(&x);
        double *ref = tt_ref(n);
        for (int64_t i = 0; i < n; i++) ref[i] = unary_ref((ff_unary_kind)kind, tt_at(&x, i));
        FF_CHECK_OK(ff_op_unary(be, (ff_unary_kind)kind, &x, &out, &err), &err);
        CHECK_REL(&out, ref, TOL, "unary kind %d", kind);
        FF_CHECK_OK(ff_op_unary(be, (ff_unary_kind)kind, &x, &x, &err), &err);
        CHECK_REL(&x, ref, TOL, "unary kind %d in place", kind);
        free(ref);
        tt_free(&x, &out, NULL);
    }
    /* a 0-dim tensor is one element */
    ff_tensor s = tt_make(FF_F32, NULL, 0), so = tt_make(FF_F32, NULL, 0);
    ((float *)s.data)[0] = 1.5f;
    FF_CHECK_OK(ff_op_unary(be, FF_UNARY_SILU, &s, &so, &err), &err);
    FF_CHECK(fabs(((float *)so.data)[0] - unary_ref(FF_UNARY_SILU, 1.5)) < 1e-6);
    tt_free(&s, &so, NULL);
}

static double bin_ref(ff_binary_kind k, double a, double b) {
    switch (k) {
    case FF_BIN_ADD: return a + b;
    case FF_BIN_SUB: return a - b;
    case FF_BIN_MUL: return a * b;
    case FF_BIN_DIV: return a / b;
    default: return NAN;
    }
}

static int64_t numel_of(const int64_t *shape, int nd) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    return n;
}

/* Offset of an out index in an operand of shape ts (nt dims, right-aligned). */
static int64_t bcast_offset(const int64_t *idx, int nd, const int64_t *ts, int nt) {
    int64_t off = 0;
    for (int i = 0; i < nt; i++) {
        int64_t oi = idx[nd - nt + i];
        off = off * ts[i] + (ts[i] == 1 ? 0 : oi);
    }
    return off;
}

static void binary_case(const int64_t *as, int an, const int64_t *bs, int bn, const int64_t *os, int on, int in_place,
                        unsigned seed) {
    ff_err err = {0};
    for (int kind = 0; kind < FF_BIN_COUNT; kind++) {
        ff_tensor a = tt_rand(seed, -1, 1, as, an);
        ff_tensor b = tt_rand(seed + 1, 0.5f, 2.0f, bs, bn); /* away from 0 for DIV */
        const int64_t n = numel_of(os, on);
        double *ref = tt_ref(n);
        int64_t idx[FF_MAX_DIMS] = {0};
        for (int64_t i = 0; i < n; i++) {
            int64_t rem = i;
            for (int d = on - 1; d >= 0; d--) idx[d] = rem % os[d], rem /= os[d];
            ref[i] = bin_ref((ff_binary_kind)kind, tt_at(&a, bcast_offset(idx, on, as, an)),
                             tt_at(&b, bcast_offset(idx, on, bs, bn)));
        }
        ff_tensor out = in_place ? a : tt_zeros(os, on);
        FF_CHECK_OK(ff_op_binary(be, (ff_binary_kind)kind, &a, &b, &out, &err), &err);
        CHECK_REL(&out, ref, TOL, "binary kind %d, %d-D vs %d-D, in_place=%d", kind, an, bn, in_place);
        free(ref);
        if (!in_place) ff_tensor_free(&out);
        tt_free(&a, &b, NULL);
    }
}

static void test_binary(void) {
    binary_case(S(2, 3, 17), S(2, 3, 17), S(2, 3, 17), 0, 130);
    binary_case(S(1, 17, 1), S(4, 1, 33), S(4, 17, 33), 0, 131);
    binary_case(S(4, 5, 6), S(6), S(4, 5, 6), 1, 132);
    binary_case(S(6), S(4, 5, 6), S(4, 5, 6), 0, 133);
    binary_case(S(3, 1, 5), S(1), S(3, 1, 5), 0, 134);
    binary_case(S(2, 1, 3, 1), S(1, 4, 1, 5), S(2, 4, 3, 5), 0, 135);
    binary_case(S(3, 40000), S(3, 1), S(3, 40000), 1, 136); /* rows longer than one work span */
    binary_case(S(2, 7, 1), S(2, 7, 1), S(2, 7, 1), 0, 137);
}

static void test_scale_clamp(void) {
    ff_err err = {0};
    ff_tensor x = tt_rand(140, -3, 3, S(5, 33333)), out = tt_zeros(S(5, 33333));
    const int64_t n = ff_tensor_numel(&x);
    double *ref = tt_ref(n);
    for (int64_t i = 0; i < n; i++) ref[i] = 0.75 * tt_at(&x, i) - 0.5;
    FF_CHECK_OK(ff_op_scale(be, &x, 0.75f, -0.5f, &out, &err), &err);
    CHECK_REL(&out, ref, TOL, "scale");
    for (int64_t i = 0; i < n; i++) ref[i] = fmin(fmax(tt_at(&x, i), -1.0), 2.0);
    FF_CHECK_OK(ff_op_clamp(be, &x, -1.0f, 2.0f, &x, &err), &err); /* in place */
    CHECK_REL(&x, ref, 0.0, "clamp");
    ((float *)x.data)[7] = NAN;
    FF_CHECK_OK(ff_op_clamp(be, &x, -1.0f, 2.0f, &out, &err), &err);
    FF_CHECK(isnan(((float *)out.data)[7])); /* torch.clamp keeps NaN */
    free(ref);
    tt_free(&x, &out, NULL);
}

static void modulate_case(const int64_t *ss, int sn, const int64_t *cs, int cn, int in_place, unsigned seed) {
    ff_err err = {0};
    const int64_t b = 2, l = 7, d = 33;
    ff_tensor x = tt_rand(seed, -1, 1, S(b, l, d));
    ff_tensor sh = tt_rand(seed + 1, -1, 1, ss, sn), sc = tt_rand(seed + 2, -1, 1, cs, cn);
    double *ref = tt_ref(b * l * d);
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t li = 0; li < l; li++)
            for (int64_t j = 0; j < d; j++) {
                const int64_t idx[3] = {bi, li, j};
                const double scv = tt_at(&sc, bcast_offset(idx, 3, cs, cn));
                const double shv = tt_at(&sh, bcast_offset(idx, 3, ss, sn));
                ref[(bi * l + li) * d + j] = tt_at(&x, (bi * l + li) * d + j) * (1.0 + scv) + shv;
            }
    ff_tensor out = in_place ? x : tt_zeros(S(b, l, d));
    FF_CHECK_OK(ff_op_modulate(be, &x, &sh, &sc, &out, &err), &err);
    CHECK_REL(&out, ref, TOL, "modulate shift %d-D scale %d-D", sn, cn);
    free(ref);
    if (!in_place) ff_tensor_free(&out);
    tt_free(&x, &sh, &sc, NULL);
}

static void test_modulate(void) {
    modulate_case(S(2, 1, 33), S(1, 7, 33), 0, 150);
    modulate_case(S(33), S(2, 7, 33), 1, 151);
    modulate_case(S(1, 1, 33), S(7, 33), 0, 152);
}

static void test_rope(void) {
    ff_err err = {0};
    const int64_t shapes[2][4] = {{2, 5, 3, 8}, {1, 4, 2, 2}};
    for (int t = 0; t < 2; t++) {
        const int64_t *s = shapes[t], b = s[0], l = s[1], h = s[2], d = s[3];
        ff_tensor x = tt_rand(160 + (unsigned)t, -1, 1, s, 4);
        ff_tensor ang = tt_rand(170 + (unsigned)t, -3, 3, S(l, d / 2));
        ff_tensor c = tt_zeros(S(l, d)), sn = tt_zeros(S(l, d));
        for (int64_t li = 0; li < l; li++)
            for (int64_t i = 0; i < d; i++) { /* each angle repeated for both channels of its pair */
                ((float *)c.data)[li * d + i] = cosf(((float *)ang.data)[li * (d / 2) + i / 2]);
                ((float *)sn.data)[li * d + i] = sinf(((float *)ang.data)[li * (d / 2) + i / 2]);
            }
        double *ref = tt_ref(b * l * h * d);
        for (int64_t r = 0; r < b * l * h; r++) {
            const int64_t li = (r / h) % l;
            for (int64_t i = 0; i < d; i += 2) {
                double x0 = tt_at(&x, r * d + i), x1 = tt_at(&x, r * d + i + 1);
                double cv = tt_at(&c, li * d + i), sv = tt_at(&sn, li * d + i);
                ref[r * d + i] = x0 * cv - x1 * sv;
                ref[r * d + i + 1] = x0 * sv + x1 * cv;
            }
        }
        ff_tensor out = tt_zeros(s, 4);
        FF_CHECK_OK(ff_op_rope(be, &x, &c, &sn, &out, &err), &err);
        CHECK_REL(&out, ref, TOL, "rope D=%lld", (long long)d);
        FF_CHECK_OK(ff_op_rope(be, &x, &c, &sn, &x, &err), &err);
        CHECK_REL(&x, ref, TOL, "rope in place D=%lld", (long long)d);
        free(ref);
        tt_free(&x, &ang, &c, &sn, &out, NULL);
    }
}

/* ---- attention ----------------------------------------------------------------------- */

typedef struct {
    int64_t b, h, lq, lk, d, dv;
    const int64_t *bias_shape; /* NULL: no bias */
    int bias_nd;
    int mask; /* 0 none, 1 some -inf, 2 causal, 3 one fully -inf row, 4 anti-causal */
} sdpa_cfg;

static void sdpa_case(const char *what, sdpa_cfg g, unsigned seed) {
    ff_err err = {0};
    ff_tensor q = tt_rand(seed, -1, 1, S(g.b, g.h, g.lq, g.d)), k = tt_rand(seed + 1, -1, 1, S(g.b, g.h, g.lk, g.d));
    ff_tensor v = tt_rand(seed + 2, -1, 1, S(g.b, g.h, g.lk, g.dv));
    ff_tensor bias = g.bias_shape ? tt_rand(seed + 3, -2, 2, g.bias_shape, g.bias_nd) : (ff_tensor){0};
    const float scale = 1.0f / sqrtf((float)g.d) * 2.0f; /* sharper than usual */
    int64_t bshape[4] = {1, 1, 1, 1};
    for (int i = 0; i < g.bias_nd; i++) bshape[4 - g.bias_nd + i] = g.bias_shape[i];
    float *bd = bias.data;
    const int64_t bn = ff_tensor_numel(&bias);
    if (g.mask == 1)
        for (int64_t i = 0; i < bn; i += 3) bd[i] = -INFINITY;
    if (g.mask == 2) /* (Lq, Lk) causal */
        for (int64_t i = 0; i < g.lq; i++)
            for (int64_t j = i + 1; j < g.lk; j++) bd[i * g.lk + j] = -INFINITY;
    if (g.mask == 4) /* (Lq, Lk), -inf for keys before the query: late rows see only -inf in early key blocks */
        for (int64_t i = 0; i < g.lq; i++)
            for (int64_t j = 0; j < i && j < g.lk; j++) bd[i * g.lk + j] = -INFINITY;
    if (g.mask == 3) /* row (b=1, h=2, q=5) of a full bias */
        for (int64_t j = 0; j < g.lk; j++) bd[((1 * g.h + 2) * g.lq + 5) * g.lk + j] = -INFINITY;
    double *ref = tt_ref(g.b * g.h * g.lq * g.dv), *s = tt_ref(g.lk);
    for (int64_t bi = 0; bi < g.b; bi++)
        for (int64_t hi = 0; hi < g.h; hi++)
            for (int64_t i = 0; i < g.lq; i++) {
                const int64_t bh = bi * g.h + hi;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < g.lk; j++) {
                    double dot = 0;
                    for (int64_t p = 0; p < g.d; p++)
                        dot += tt_at(&q, (bh * g.lq + i) * g.d + p) * tt_at(&k, (bh * g.lk + j) * g.d + p);
                    s[j] = dot * scale;
                    if (g.bias_shape) {
                        const int64_t idx[4] = {bi, hi, i, j};
                        int64_t off = 0;
                        for (int t = 0; t < 4; t++) off = off * bshape[t] + (bshape[t] == 1 ? 0 : idx[t]);
                        s[j] += tt_at(&bias, off);
                    }
                    mx = fmax(mx, s[j]);
                }
                double *o = ref + (bh * g.lq + i) * g.dv;
                if (mx == -INFINITY) continue; /* fully masked row: zeros */
                for (int64_t j = 0; j < g.lk; j++) sum += exp(s[j] - mx);
                for (int64_t j = 0; j < g.lk; j++) {
                    double p = exp(s[j] - mx) / sum;
                    for (int64_t e = 0; e < g.dv; e++) o[e] += p * tt_at(&v, (bh * g.lk + j) * g.dv + e);
                }
            }
    ff_tensor out = tt_rand(seed + 4, -9, 9, S(g.b, g.h, g.lq, g.dv));
    FF_CHECK_OK(ff_op_sdpa(be, &q, &k, &v, g.bias_shape ? &bias : NULL, scale, &out, &err), &err);
    CHECK_REL(&out, ref, 1e-5, "sdpa %s", what);
    if (g.mask == 3) {
        const float *row = (const float *)out.data + ((1 * g.h + 2) * g.lq + 5) * g.dv;
        int zeros = 1;
        for (int64_t e = 0; e < g.dv; e++) zeros &= row[e] == 0.0f;
        FF_CHECK_MSG(zeros, "sdpa: a fully -inf row must give zeros");
    }
    free(ref);
    free(s);
    tt_free(&q, &k, &v, &bias, &out, NULL);
}

static void test_sdpa(void) {
    sdpa_case("no bias, Lk 300", (sdpa_cfg){2, 3, 17, 300, 16, 24, NULL, 0, 0}, 200);
    sdpa_case("bias (1,1,Lq,Lk)", (sdpa_cfg){2, 3, 17, 300, 16, 24, (const int64_t[]){1, 1, 17, 300}, 4, 0}, 201);
    sdpa_case("bias (B,1,1,Lk) with -inf", (sdpa_cfg){2, 3, 17, 300, 16, 24, (const int64_t[]){2, 1, 1, 300}, 4, 1},
              202);
    sdpa_case("full bias with a fully -inf row",
              (sdpa_cfg){2, 3, 17, 300, 16, 24, (const int64_t[]){2, 3, 17, 300}, 4, 3}, 203);
    sdpa_case("bias (Lk)", (sdpa_cfg){1, 2, 33, 129, 8, 8, (const int64_t[]){129}, 1, 0}, 204);
    sdpa_case("Lq 1 Lk 1", (sdpa_cfg){1, 1, 1, 1, 4, 5, NULL, 0, 0}, 205);
    sdpa_case("causal 70", (sdpa_cfg){1, 2, 70, 70, 32, 32, (const int64_t[]){70, 70}, 2, 2}, 206);
    sdpa_case("Lk 128, D 3", (sdpa_cfg){2, 1, 40, 128, 3, 7, NULL, 0, 0}, 207);
    sdpa_case("Lk 257, D 128", (sdpa_cfg){1, 2, 65, 257, 128, 128, NULL, 0, 0}, 208);
    /* several query blocks and key blocks, with whole key blocks masked for some rows */
    sdpa_case("causal 300", (sdpa_cfg){1, 1, 300, 300, 8, 8, (const int64_t[]){300, 300}, 2, 2}, 209);
    sdpa_case("anti-causal 300", (sdpa_cfg){1, 1, 300, 300, 8, 8, (const int64_t[]){300, 300}, 2, 4}, 210);
    sdpa_case("Lq 130, bias (1,1,Lq,Lk) with -inf",
              (sdpa_cfg){2, 2, 130, 300, 16, 16, (const int64_t[]){1, 1, 130, 300}, 4, 1}, 211);
}

/* ---- layout ------------------------------------------------------------------------------- */

static void test_upsample(void) {
    ff_err err = {0};
    const int f[3][2] = {{2, 2}, {1, 3}, {3, 1}};
    for (int t = 0; t < 3; t++) {
        const int fh = f[t][0], fw = f[t][1];
        ff_tensor x = tt_rand(210, -1, 1, S(2, 3, 5, 7)), out = tt_zeros(S(2, 3, 5 * fh, 7 * fw));
        FF_CHECK_OK(ff_op_upsample_nearest2d(be, &x, fh, fw, &out, &err), &err);
        double *ref = tt_ref(ff_tensor_numel(&out));
        for (int64_t p = 0; p < 6; p++)
            for (int64_t i = 0; i < 5 * fh; i++)
                for (int64_t j = 0; j < 7 * fw; j++)
                    ref[(p * 5 * fh + i) * 7 * fw + j] = tt_at(&x, (p * 5 + i / fh) * 7 + j / fw);
        CHECK_REL(&out, ref, 0.0, "upsample %dx%d", fh, fw);
        free(ref);
        tt_free(&x, &out, NULL);
    }
}

static void test_concat_slice(void) {
    ff_err err = {0};
    for (int axis = -1; axis < 3; axis++) {
        const int ax = axis < 0 ? 2 : axis;
        int64_t s0[3] = {2, 3, 4}, s1[3] = {2, 3, 4}, s2[3] = {2, 3, 4};
        s0[ax] = 1, s1[ax] = 5, s2[ax] = 2;
        ff_tensor a = tt_rand(220, -1, 1, s0, 3), b = tt_rand(221, -1, 1, s1, 3), c = tt_rand(222, -1, 1, s2, 3);
        int64_t so[3] = {2, 3, 4};
        so[ax] = 8;
        ff_tensor out = tt_zeros(so, 3);
        const ff_tensor *xs[3] = {&a, &b, &c};
        FF_CHECK_OK(ff_op_concat(be, xs, 3, axis, &out, &err), &err);
        double *ref = tt_ref(ff_tensor_numel(&out));
        for (int64_t i = 0; i < so[0]; i++)
            for (int64_t j = 0; j < so[1]; j++)
                for (int64_t k = 0; k < so[2]; k++) {
                    int64_t idx[3] = {i, j, k}, part = 0;
                    while (idx[ax] >= xs[part]->shape[ax]) idx[ax] -= xs[part++]->shape[ax];
                    const int64_t *ps = xs[part]->shape;
                    ref[(i * so[1] + j) * so[2] + k] = tt_at(xs[part], (idx[0] * ps[1] + idx[1]) * ps[2] + idx[2]);
                }
        CHECK_REL(&out, ref, 0.0, "concat axis %d", axis);
        free(ref);
        /* slicing the parts back out must give them exactly */
        int64_t start = 0;
        for (int i = 0; i < 3; i++) {
            ff_tensor part = tt_zeros(xs[i]->shape, 3);
            FF_CHECK_OK(ff_op_slice(be, &out, axis, start, &part, &err), &err);
            FF_CHECK_MSG(ff_tensor_equal(&part, xs[i]), "concat/slice axis %d part %d", axis, i);
            start += xs[i]->shape[ax];
            ff_tensor_free(&part);
        }
        tt_free(&a, &b, &c, &out, NULL);
    }
    /* one input: a copy */
    ff_tensor a = tt_rand(223, -1, 1, S(3, 5)), out = tt_zeros(S(3, 5));
    const ff_tensor *xs[1] = {&a};
    FF_CHECK_OK(ff_op_concat(be, xs, 1, 0, &out, &err), &err);
    FF_CHECK(ff_tensor_equal(&a, &out));
    tt_free(&a, &out, NULL);
}

static void test_slice(void) {
    ff_err err = {0};
    ff_tensor x = tt_rand(230, -1, 1, S(4, 5, 6));
    const struct { int axis; int64_t start, len; } cases[] = {{1, 2, 3}, {-1, 0, 6}, {0, 3, 1}, {2, 5, 1}};
    for (int t = 0; t < 4; t++) {
        const int ax = cases[t].axis < 0 ? 2 : cases[t].axis;
        int64_t so[3] = {4, 5, 6};
        so[ax] = cases[t].len;
        ff_tensor out = tt_zeros(so, 3);
        FF_CHECK_OK(ff_op_slice(be, &x, cases[t].axis, cases[t].start, &out, &err), &err);
        double *ref = tt_ref(ff_tensor_numel(&out));
        for (int64_t i = 0; i < so[0]; i++)
            for (int64_t j = 0; j < so[1]; j++)
                for (int64_t k = 0; k < so[2]; k++) {
                    int64_t src[3] = {i, j, k};
                    src[ax] += cases[t].start;
                    ref[(i * so[1] + j) * so[2] + k] = tt_at(&x, (src[0] * 5 + src[1]) * 6 + src[2]);
                }
        CHECK_REL(&out, ref, 0.0, "slice case %d", t);
        free(ref);
        ff_tensor_free(&out);
    }
    ff_tensor_free(&x);
}

static void permute_case(const int64_t *shape, int nd, const int *perm, unsigned seed) {
    ff_err err = {0};
    ff_tensor x = tt_rand(seed, -1, 1, shape, nd);
    int64_t so[FF_MAX_DIMS], xst[FF_MAX_DIMS];
    for (int d = 0; d < nd; d++) so[d] = shape[perm[d]];
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) xst[d] = s, s *= shape[d];
    ff_tensor out = tt_zeros(so, nd);
    FF_CHECK_OK(ff_op_permute(be, &x, perm, &out, &err), &err);
    const int64_t n = ff_tensor_numel(&x);
    double *ref = tt_ref(n);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int d = nd - 1; d >= 0; d--) {
            off += (rem % so[d]) * xst[perm[d]];
            rem /= so[d];
        }
        ref[i] = tt_at(&x, off);
    }
    CHECK_REL(&out, ref, 0.0, "permute %d-D", nd);
    free(ref);
    tt_free(&x, &out, NULL);
}

static void test_permute(void) {
    permute_case(S(2, 3, 4, 5), (const int[]){0, 2, 1, 3}, 240);
    permute_case(S(2, 3, 4, 5), (const int[]){3, 2, 1, 0}, 241);
    permute_case(S(2, 3, 4, 5), (const int[]){1, 0, 3, 2}, 242);
    permute_case(S(7, 9), (const int[]){1, 0}, 243);
    permute_case(S(2, 3, 1, 4, 5), (const int[]){0, 2, 1, 3, 4}, 244);
    permute_case(S(2, 3, 1, 4, 5, 3), (const int[]){5, 0, 4, 1, 3, 2}, 245);
    permute_case(S(3, 4), (const int[]){0, 1}, 246);
}

static void test_copy(void) {
    ff_err err = {0};
    ff_tensor x = tt_rand(250, -100, 100, S(6, 41));
    const int64_t n = ff_tensor_numel(&x);
    ff_tensor bf = tt_make(FF_BF16, S(246)), h = tt_make(FF_F16, S(2, 123)), back = tt_zeros(S(6, 41));
    FF_CHECK_OK(ff_op_copy(be, &x, &bf, &err), &err); /* and a reshape */
    int same = 1;
    for (int64_t i = 0; i < n; i++) same &= ((uint16_t *)bf.data)[i] == ff_f32_to_bf16(((float *)x.data)[i]);
    FF_CHECK_MSG(same, "F32 -> BF16 rounds to nearest even");
    FF_CHECK_OK(ff_op_copy(be, &x, &h, &err), &err);
    same = 1;
    for (int64_t i = 0; i < n; i++) same &= ((uint16_t *)h.data)[i] == ff_f32_to_f16(((float *)x.data)[i]);
    FF_CHECK_MSG(same, "F32 -> F16 rounds to nearest even");
    FF_CHECK_OK(ff_op_copy(be, &bf, &back, &err), &err);
    same = 1;
    for (int64_t i = 0; i < n; i++) same &= ((float *)back.data)[i] == ff_bf16_to_f32(((uint16_t *)bf.data)[i]);
    FF_CHECK_MSG(same, "BF16 -> F32 is exact");
    ff_tensor bf2 = tt_make(FF_BF16, S(6, 41));
    FF_CHECK_OK(ff_op_copy(be, &h, &bf2, &err), &err);
    same = 1;
    for (int64_t i = 0; i < n; i++)
        same &= ((uint16_t *)bf2.data)[i] == ff_f32_to_bf16(ff_f16_to_f32(((uint16_t *)h.data)[i]));
    FF_CHECK_MSG(same, "F16 -> BF16 goes through F32");
    ff_tensor y = tt_zeros(S(246));
    FF_CHECK_OK(ff_op_copy(be, &x, &y, &err), &err);
    FF_CHECK(ff_tensor_equal(&x, &y));
    tt_free(&x, &bf, &h, &back, &bf2, &y, NULL);
}

static void test_embedding(void) {
    ff_err err = {0};
    ff_tensor table = tt_rand(260, -1, 1, S(11, 7));
    ff_tensor ids32 = tt_make(FF_I32, S(2, 3)), ids64 = tt_make(FF_I64, S(5));
    const int32_t v32[6] = {0, 10, 3, 3, 7, 1};
    const int64_t v64[5] = {10, 0, 5, 9, 2};
    memcpy(ids32.data, v32, sizeof v32);
    memcpy(ids64.data, v64, sizeof v64);
    ff_tensor o32 = tt_zeros(S(2, 3, 7)), o64 = tt_zeros(S(5, 7));
    FF_CHECK_OK(ff_op_embedding(be, &ids32, &table, &o32, &err), &err);
    FF_CHECK_OK(ff_op_embedding(be, &ids64, &table, &o64, &err), &err);
    int ok = 1;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 7; j++) ok &= ((float *)o32.data)[i * 7 + j] == ((float *)table.data)[v32[i] * 7 + j];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 7; j++) ok &= ((float *)o64.data)[i * 7 + j] == ((float *)table.data)[v64[i] * 7 + j];
    FF_CHECK_MSG(ok, "embedding gathers rows exactly");
    /* out-of-range ids: FF_ERR_ARG naming the id, nothing else touched */
    ((int32_t *)ids32.data)[4] = 11;
    FF_CHECK(ff_op_embedding(be, &ids32, &table, &o32, &err) == FF_ERR_ARG);
    FF_CHECK_MSG(strstr(err.msg, "11") != NULL, "message names the id: %s", err.msg);
    ((int64_t *)ids64.data)[2] = -1;
    FF_CHECK(ff_op_embedding(be, &ids64, &table, &o64, &err) == FF_ERR_ARG);
    FF_CHECK_MSG(strstr(err.msg, "-1") != NULL, "message names the id: %s", err.msg);
    tt_free(&table, &ids32, &ids64, &o32, &o64, NULL);
}

int main(void) {
    ff_err err = {0};
    if (ff_backend_cpu_create(0, &be, &err)) {
        fprintf(stderr, "cannot create the CPU backend: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_linear);
    FF_RUN(test_linear_threads);
    FF_RUN(test_matmul);
    FF_RUN(test_conv3d);
    FF_RUN(test_conv2d);
    FF_RUN(test_group_norm);
    FF_RUN(test_layer_norm);
    FF_RUN(test_rms_norm);
    FF_RUN(test_l2norm_channels);
    FF_RUN(test_softmax);
    FF_RUN(test_unary);
    FF_RUN(test_binary);
    FF_RUN(test_scale_clamp);
    FF_RUN(test_modulate);
    FF_RUN(test_rope);
    FF_RUN(test_sdpa);
    FF_RUN(test_upsample);
    FF_RUN(test_concat_slice);
    FF_RUN(test_slice);
    FF_RUN(test_permute);
    FF_RUN(test_copy);
    FF_RUN(test_embedding);
    ff_backend_free(be);
    return ff_test_summary();
}
