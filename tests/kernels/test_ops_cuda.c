/* test_ops_cuda: every op of the CUDA backend against the CPU backend.
 *
 * Each test builds the same random inputs (ff_test_fill_uniform) on both
 * backends through the public API only (kernels/ops.h), runs the op on both
 * and compares the downloads: relative L2 <= 1e-5 for arithmetic in F32,
 * bit equality for pure data movement. Shapes are small but odd (tails that
 * do not fill a vector, a warp or a tile) and cover broadcasting, in-place
 * use, BF16 weights and masked attention rows.
 *
 * Where there is no CUDA device (this machine, CI) or the build has no CUDA,
 * the test prints why and exits 77, which ctest reports as skipped. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ff_compare.h"
#include "kernels/ops.h"
#include "tests/common/ff_test.h"

#define TOL 1e-5

static ff_backend *g_be[2]; /* [0] cpu (the reference), [1] cuda */
static ff_err err;

/* One tensor on both backends (on[0] cpu, on[1] cuda) and its host source. */
typedef struct {
    ff_tensor host;
    ff_tensor on[2];
} pair;

/* Run `call` on both backends; inside it, T(p) is p's tensor on that backend. */
#define T(p) (&(p).on[s_])
#define BOTH(call)                                                                                                     \
    for (int s_ = 0; s_ < 2; s_++) {                                                                                   \
        ff_backend *be_ = g_be[s_];                                                                                    \
        (void)be_;                                                                                                     \
        FF_REQUIRE_OK((call), &err);                                                                                   \
    }

static void pair_free(pair *p) {
    ff_tensor_free(&p->host);
    for (int s = 0; s < 2; s++) ff_be_free(g_be[s], &p->on[s]);
}

/* Uniform [lo, hi) values (seeded), converted to dt, on both backends. */
static ff_status input(pair *p, ff_dtype dt, int nd, const int64_t *shape, unsigned seed, float lo, float hi) {
    memset(p, 0, sizeof *p);
    ff_tensor f;
    ff_status st = ff_tensor_alloc(&f, FF_F32, nd, shape, &err);
    if (st) return st;
    ff_test_fill_uniform(&f, seed, lo, hi);
    if (dt == FF_F32) {
        p->host = f;
    } else {
        st = ff_tensor_alloc(&p->host, dt, nd, shape, &err);
        if (!st) st = ff_tensor_convert(&p->host, &f, &err);
        ff_tensor_free(&f);
        if (st) return st;
    }
    for (int s = 0; s < 2; s++) {
        st = ff_be_alloc(g_be[s], &p->on[s], dt, nd, shape, &err);
        if (!st) st = ff_be_upload(g_be[s], &p->on[s], &p->host, &err);
        if (st) return st;
    }
    return FF_OK;
}

/* A host tensor of the caller's making (ids, cos/sin), on both backends. */
static ff_status input_from(pair *p, const ff_tensor *host) {
    memset(p, 0, sizeof *p);
    ff_status st = ff_tensor_clone(&p->host, host, &err);
    for (int s = 0; !st && s < 2; s++) {
        st = ff_be_alloc(g_be[s], &p->on[s], host->dtype, host->ndim, host->shape, &err);
        if (!st) st = ff_be_upload(g_be[s], &p->on[s], &p->host, &err);
    }
    return st;
}

/* A zeroed output of dtype dt on both backends. */
static ff_status output(pair *p, ff_dtype dt, int nd, const int64_t *shape) {
    memset(p, 0, sizeof *p);
    for (int s = 0; s < 2; s++) {
        ff_status st = ff_be_alloc(g_be[s], &p->on[s], dt, nd, shape, &err);
        if (st) return st;
    }
    return FF_OK;
}

/* Downloads both sides of p and checks rel_l2(cuda, cpu) <= tol (tol 0:
 * bitwise equal). */
static void expect_close(const char *what, const pair *p, double tol) {
    ff_tensor h[2];
    memset(h, 0, sizeof h);
    int ok = 1;
    for (int s = 0; s < 2 && ok; s++) {
        ok = ff_tensor_alloc(&h[s], p->on[s].dtype, p->on[s].ndim, p->on[s].shape, &err) == FF_OK &&
             ff_be_download(g_be[s], &h[s], &p->on[s], &err) == FF_OK;
    }
    FF_CHECK_MSG(ok, "%s: download failed: %s", what, err.msg);
    if (ok) {
        if (tol == 0.0) {
            FF_CHECK_MSG(ff_tensor_equal(&h[1], &h[0]), "%s: cuda and cpu differ (want bit equality)", what);
        } else {
            const double r = ff_rel_l2(&h[1], &h[0]);
            FF_CHECK_MSG(r >= 0.0 && r <= tol, "%s: rel_l2(cuda, cpu) = %.3g > %.1g", what, r, tol);
        }
    }
    ff_tensor_free(&h[0]);
    ff_tensor_free(&h[1]);
}

/* ---- GEMM-backed ops --------------------------------------------------------- */

static void linear_case(const char *what, int nd, const int64_t *xs, int64_t n, ff_dtype wdt, int with_bias) {
    const int64_t k = xs[nd - 1];
    const int64_t ws[2] = {n, k}, bs[1] = {n};
    int64_t os[FF_MAX_DIMS];
    memcpy(os, xs, sizeof(int64_t) * (size_t)nd);
    os[nd - 1] = n;
    pair x, w, b, o;
    memset(&b, 0, sizeof b);
    FF_REQUIRE_OK(input(&x, FF_F32, nd, xs, 1, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(input(&w, wdt, 2, ws, 2, -0.5f, 0.5f), &err);
    if (with_bias) FF_REQUIRE_OK(input(&b, FF_F32, 1, bs, 3, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(output(&o, FF_F32, nd, os), &err);
    BOTH(ff_op_linear(be_, T(x), T(w), with_bias ? T(b) : NULL, T(o), &err));
    expect_close(what, &o, TOL);
    pair_free(&x);
    pair_free(&w);
    pair_free(&b);
    pair_free(&o);
}

static void test_linear(void) {
    const int64_t x3[3] = {2, 7, 33}, x2[2] = {64, 256}, x1[1] = {5};
    linear_case("linear f32 + bias", 3, x3, 19, FF_F32, 1);
    linear_case("linear f32", 2, x2, 320, FF_F32, 0);
    linear_case("linear bf16 + bias", 3, x3, 19, FF_BF16, 1);
    linear_case("linear bf16", 2, x2, 320, FF_BF16, 0);
    linear_case("linear 1-d", 1, x1, 3, FF_F32, 1);
}

static void test_matmul(void) {
    const int64_t M = 17, N = 13, K = 24, B = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int batched_b = 0; batched_b < 2; batched_b++) {
                const int64_t as[3] = {B, ta ? K : M, ta ? M : K};
                const int64_t bs3[3] = {B, tb ? N : K, tb ? K : N};
                const int64_t os[3] = {B, M, N};
                pair a, b, o;
                FF_REQUIRE_OK(input(&a, FF_F32, 3, as, 10, -1.0f, 1.0f), &err);
                FF_REQUIRE_OK(input(&b, FF_F32, batched_b ? 3 : 2, batched_b ? bs3 : bs3 + 1, 11, -1.0f, 1.0f), &err);
                FF_REQUIRE_OK(output(&o, FF_F32, 3, os), &err);
                BOTH(ff_op_matmul(be_, T(a), T(b), ta, tb, 0.5f, T(o), &err));
                char what[64];
                snprintf(what, sizeof what, "matmul ta=%d tb=%d b %s", ta, tb, batched_b ? "batched" : "2-d");
                expect_close(what, &o, TOL);
                pair_free(&a);
                pair_free(&b);
                pair_free(&o);
            }
}

static void conv3d_case(const char *what, const int64_t *xs, const int64_t *ws, const int *stride, const int *pad,
                        ff_dtype wdt, int with_bias) {
    int64_t os[5] = {xs[0], ws[0], 0, 0, 0};
    for (int i = 0; i < 3; i++) os[2 + i] = (xs[2 + i] + pad[2 * i] + pad[2 * i + 1] - ws[2 + i]) / stride[i] + 1;
    const int64_t bs[1] = {ws[0]};
    pair x, w, b, o;
    memset(&b, 0, sizeof b);
    FF_REQUIRE_OK(input(&x, FF_F32, 5, xs, 20, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(input(&w, wdt, 5, ws, 21, -0.3f, 0.3f), &err);
    if (with_bias) FF_REQUIRE_OK(input(&b, FF_F32, 1, bs, 22, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(output(&o, FF_F32, 5, os), &err);
    BOTH(ff_op_conv3d(be_, T(x), T(w), with_bias ? T(b) : NULL, stride, pad, T(o), &err));
    expect_close(what, &o, TOL);
    pair_free(&x);
    pair_free(&w);
    pair_free(&b);
    pair_free(&o);
}

static void test_conv(void) {
    const int64_t xs[5] = {2, 4, 5, 9, 8}, w333[5] = {6, 4, 3, 3, 3}, w111[5] = {7, 4, 1, 1, 1};
    const int s1[3] = {1, 1, 1}, s122[3] = {1, 2, 2};
    const int causal[6] = {2, 0, 1, 1, 1, 1}, none[6] = {0};
    conv3d_case("conv3d 3x3x3 causal", xs, w333, s1, causal, FF_F32, 1);
    conv3d_case("conv3d 3x3x3 stride 2 bf16", xs, w333, s122, causal, FF_BF16, 1);
    conv3d_case("conv3d 1x1x1", xs, w111, s1, none, FF_F32, 1);
    conv3d_case("conv3d 1x1x1 bf16 no bias", xs, w111, s1, none, FF_BF16, 0);

    /* conv2d goes through the backend's conv3d with kt = 1 */
    const int64_t x2[4] = {2, 3, 11, 10}, w2[4] = {5, 3, 3, 3}, o2[4] = {2, 5, 6, 5}, b2[1] = {5};
    const int st2[2] = {2, 2}, pad2[4] = {1, 1, 1, 1};
    pair x, w, b, o;
    FF_REQUIRE_OK(input(&x, FF_F32, 4, x2, 23, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(input(&w, FF_F32, 4, w2, 24, -0.3f, 0.3f), &err);
    FF_REQUIRE_OK(input(&b, FF_F32, 1, b2, 25, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(output(&o, FF_F32, 4, o2), &err);
    BOTH(ff_op_conv2d(be_, T(x), T(w), T(b), st2, pad2, T(o), &err));
    expect_close("conv2d 3x3 stride 2", &o, TOL);
    pair_free(&x);
    pair_free(&w);
    pair_free(&b);
    pair_free(&o);
}

/* ---- normalisations and softmax ------------------------------------------------ */

static void test_norms(void) {
    const int64_t xs[3] = {3, 5, 200}, ds[1] = {200};
    pair x, w, b, o;
    FF_REQUIRE_OK(input(&x, FF_F32, 3, xs, 30, -2.0f, 3.0f), &err);
    FF_REQUIRE_OK(input(&w, FF_F32, 1, ds, 31, 0.5f, 1.5f), &err);
    FF_REQUIRE_OK(input(&b, FF_F32, 1, ds, 32, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(output(&o, FF_F32, 3, xs), &err);
    BOTH(ff_op_layer_norm(be_, T(x), T(w), T(b), 1e-6f, T(o), &err));
    expect_close("layer_norm affine", &o, TOL);
    BOTH(ff_op_layer_norm(be_, T(x), NULL, NULL, 1e-6f, T(o), &err));
    expect_close("layer_norm plain", &o, TOL);
    BOTH(ff_op_rms_norm(be_, T(x), T(w), 1e-6f, T(o), &err));
    expect_close("rms_norm", &o, TOL);
    BOTH(ff_op_rms_norm(be_, T(x), NULL, 1e-6f, T(o), &err));
    expect_close("rms_norm no weight", &o, TOL);
    BOTH(ff_op_softmax(be_, T(x), T(o), &err));
    expect_close("softmax", &o, TOL);
    BOTH(ff_op_softmax(be_, T(x), T(x), &err)); /* in place */
    expect_close("softmax in place", &x, TOL);
    pair_free(&x);
    pair_free(&w);
    pair_free(&b);
    pair_free(&o);

    /* channel norms over (B, C, F, H, W) */
    const int64_t vs[5] = {2, 8, 3, 5, 7}, cs[1] = {8};
    FF_REQUIRE_OK(input(&x, FF_F32, 5, vs, 33, -2.0f, 2.0f), &err);
    FF_REQUIRE_OK(input(&w, FF_F32, 1, cs, 34, 0.5f, 1.5f), &err);
    FF_REQUIRE_OK(input(&b, FF_F32, 1, cs, 35, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(output(&o, FF_F32, 5, vs), &err);
    BOTH(ff_op_group_norm(be_, T(x), 4, T(w), T(b), 1e-6f, T(o), &err));
    expect_close("group_norm", &o, TOL);
    BOTH(ff_op_group_norm(be_, T(x), 8, NULL, NULL, 1e-5f, T(o), &err));
    expect_close("group_norm no affine", &o, TOL);
    BOTH(ff_op_l2norm_channels(be_, T(x), T(w), T(b), sqrtf(8.0f), 1e-12f, T(o), &err));
    expect_close("l2norm_channels", &o, TOL);
    BOTH(ff_op_l2norm_channels(be_, T(x), NULL, NULL, 2.0f, 1e-12f, T(x), &err));
    expect_close("l2norm_channels in place", &x, TOL);
    pair_free(&x);
    pair_free(&w);
    pair_free(&b);
    pair_free(&o);
}

/* ---- elementwise ------------------------------------------------------------------ */

static void test_unary_scale_clamp(void) {
    const int64_t xs[2] = {7, 143}; /* 1001 elements: a float4 tail */
    pair x, o;
    FF_REQUIRE_OK(input(&x, FF_F32, 2, xs, 40, -6.0f, 6.0f), &err);
    FF_REQUIRE_OK(output(&o, FF_F32, 2, xs), &err);
    static const char *names[FF_UNARY_COUNT] = {"silu", "gelu_tanh", "gelu_erf", "relu", "exp", "quick_gelu"};
    for (int k = 0; k < FF_UNARY_COUNT; k++) {
        BOTH(ff_op_unary(be_, (ff_unary_kind)k, T(x), T(o), &err));
        expect_close(names[k], &o, TOL);
    }
    BOTH(ff_op_scale(be_, T(x), -1.5f, 0.25f, T(o), &err));
    expect_close("scale", &o, TOL);
    BOTH(ff_op_clamp(be_, T(x), -2.0f, 3.5f, T(o), &err));
    expect_close("clamp", &o, 0.0);
    BOTH(ff_op_unary(be_, FF_UNARY_SILU, T(x), T(x), &err)); /* in place */
    expect_close("silu in place", &x, TOL);
    pair_free(&x);
    pair_free(&o);
}

static void binary_case(const char *what, int na, const int64_t *as, int nb, const int64_t *bs, int no,
                        const int64_t *os) {
    pair a, b, o;
    FF_REQUIRE_OK(input(&a, FF_F32, na, as, 50, -2.0f, 2.0f), &err);
    FF_REQUIRE_OK(input(&b, FF_F32, nb, bs, 51, 0.5f, 2.0f), &err); /* no zeros: DIV */
    FF_REQUIRE_OK(output(&o, FF_F32, no, os), &err);
    static const char *names[FF_BIN_COUNT] = {"add", "sub", "mul", "div"};
    for (int k = 0; k < FF_BIN_COUNT; k++) {
        BOTH(ff_op_binary(be_, (ff_binary_kind)k, T(a), T(b), T(o), &err));
        char name[96];
        snprintf(name, sizeof name, "binary %s %s", names[k], what);
        expect_close(name, &o, TOL);
    }
    pair_free(&a);
    pair_free(&b);
    pair_free(&o);
}

static void test_binary(void) {
    const int64_t s4[4] = {2, 3, 4, 5}, s3b[3] = {3, 1, 5}, col[2] = {4, 1}, row[2] = {1, 5}, o2[2] = {4, 5};
    const int64_t one[1] = {1}, s6[6] = {2, 1, 3, 2, 1, 5}, s6b[6] = {1, 2, 3, 1, 4, 1}, o6[6] = {2, 2, 3, 2, 4, 5};
    const int64_t odd[1] = {1001};
    binary_case("same shape", 4, s4, 4, s4, 4, s4);
    binary_case("odd length", 1, odd, 1, odd, 1, odd);
    binary_case("(2,3,4,5) x (3,1,5)", 4, s4, 3, s3b, 4, s4);
    binary_case("(4,1) x (1,5)", 2, col, 2, row, 2, o2);
    binary_case("x scalar", 4, s4, 1, one, 4, s4);
    binary_case("6-d both broadcast", 6, s6, 6, s6b, 6, o6);

    /* in place: out == a */
    pair a, b;
    FF_REQUIRE_OK(input(&a, FF_F32, 4, s4, 52, -2.0f, 2.0f), &err);
    FF_REQUIRE_OK(input(&b, FF_F32, 3, s3b, 53, -2.0f, 2.0f), &err);
    BOTH(ff_op_binary(be_, FF_BIN_ADD, T(a), T(b), T(a), &err));
    expect_close("binary add in place", &a, TOL);
    pair_free(&a);
    pair_free(&b);
}

static void test_modulate(void) {
    const int64_t xs[3] = {2, 7, 40}, shs[3] = {2, 1, 40}, scs[3] = {1, 7, 40}, full[3] = {2, 7, 40}, d[1] = {40};
    pair x, sh, sc, o, sc1;
    FF_REQUIRE_OK(input(&x, FF_F32, 3, xs, 60, -2.0f, 2.0f), &err);
    FF_REQUIRE_OK(input(&sh, FF_F32, 3, shs, 61, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(input(&sc, FF_F32, 3, scs, 62, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(input(&sc1, FF_F32, 1, d, 63, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(output(&o, FF_F32, 3, full), &err);
    BOTH(ff_op_modulate(be_, T(x), T(sh), T(sc), T(o), &err));
    expect_close("modulate (B,1,D) (1,L,D)", &o, TOL);
    BOTH(ff_op_modulate(be_, T(x), T(sh), T(sc1), T(x), &err));
    expect_close("modulate (D) in place", &x, TOL);
    pair_free(&x);
    pair_free(&sh);
    pair_free(&sc);
    pair_free(&sc1);
    pair_free(&o);
}

static void test_rope(void) {
    const int64_t xs[4] = {2, 5, 3, 8}, cs[2] = {5, 8};
    ff_tensor hc, hs;
    FF_REQUIRE_OK(ff_tensor_alloc(&hc, FF_F32, 2, cs, &err), &err);
    FF_REQUIRE_OK(ff_tensor_alloc(&hs, FF_F32, 2, cs, &err), &err);
    float *c = hc.data, *s = hs.data;
    for (int l = 0; l < 5; l++)
        for (int i = 0; i < 4; i++) { /* one angle per pair, repeated for both channels */
            const float ang = (float)(l + 1) * powf(10000.0f, -(float)i / 4.0f);
            c[l * 8 + 2 * i] = c[l * 8 + 2 * i + 1] = cosf(ang);
            s[l * 8 + 2 * i] = s[l * 8 + 2 * i + 1] = sinf(ang);
        }
    pair x, pc, ps, o;
    FF_REQUIRE_OK(input(&x, FF_F32, 4, xs, 70, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(input_from(&pc, &hc), &err);
    FF_REQUIRE_OK(input_from(&ps, &hs), &err);
    FF_REQUIRE_OK(output(&o, FF_F32, 4, xs), &err);
    BOTH(ff_op_rope(be_, T(x), T(pc), T(ps), T(o), &err));
    expect_close("rope", &o, TOL);
    BOTH(ff_op_rope(be_, T(x), T(pc), T(ps), T(x), &err));
    expect_close("rope in place", &x, TOL);
    ff_tensor_free(&hc);
    ff_tensor_free(&hs);
    pair_free(&x);
    pair_free(&pc);
    pair_free(&ps);
    pair_free(&o);
}

/* ---- attention ------------------------------------------------------------------------ */

static void sdpa_case(const char *what, int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t D, int64_t Dv,
                      const int64_t *bias_shape, int mask) {
    const int64_t qs[4] = {B, H, Lq, D}, ks[4] = {B, H, Lk, D}, vs[4] = {B, H, Lk, Dv}, os[4] = {B, H, Lq, Dv};
    pair q, k, v, bias, o;
    memset(&bias, 0, sizeof bias);
    FF_REQUIRE_OK(input(&q, FF_F32, 4, qs, 80, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(input(&k, FF_F32, 4, ks, 81, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(input(&v, FF_F32, 4, vs, 82, -1.0f, 1.0f), &err);
    if (bias_shape) {
        ff_tensor hb;
        FF_REQUIRE_OK(ff_tensor_alloc(&hb, FF_F32, 4, bias_shape, &err), &err);
        ff_test_fill_uniform(&hb, 83, -2.0f, 2.0f);
        if (mask) { /* a padding mask: the last third of the keys are -inf; with a per-query
                     * bias, query 0's whole row too (that row must come out as zeros) */
            float *p = hb.data;
            const int64_t rows = ff_tensor_numel(&hb) / bias_shape[3];
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < bias_shape[3]; j++)
                    if (j >= 2 * bias_shape[3] / 3 || (bias_shape[2] > 1 && r % bias_shape[2] == 0))
                        p[r * bias_shape[3] + j] = -INFINITY;
        }
        ff_status st = input_from(&bias, &hb);
        ff_tensor_free(&hb);
        FF_REQUIRE_OK(st, &err);
    }
    FF_REQUIRE_OK(output(&o, FF_F32, 4, os), &err);
    const float scale = 1.0f / sqrtf((float)D);
    BOTH(ff_op_sdpa(be_, T(q), T(k), T(v), bias_shape ? T(bias) : NULL, scale, T(o), &err));
    expect_close(what, &o, TOL);
    pair_free(&q);
    pair_free(&k);
    pair_free(&v);
    pair_free(&bias);
    pair_free(&o);
}

static void test_sdpa(void) {
    sdpa_case("sdpa D=64", 2, 3, 37, 70, 64, 64, NULL, 0);
    sdpa_case("sdpa D=128 long", 1, 2, 65, 300, 128, 128, NULL, 0);
    sdpa_case("sdpa D=32 Dv=48", 1, 2, 9, 33, 32, 48, NULL, 0);
    const int64_t full[4] = {2, 3, 37, 70}, keys[4] = {2, 1, 1, 70}, heads[4] = {1, 3, 37, 70};
    sdpa_case("sdpa full bias", 2, 3, 37, 70, 64, 64, full, 0);
    sdpa_case("sdpa key padding mask (-inf)", 2, 3, 37, 70, 64, 64, keys, 1);
    sdpa_case("sdpa per-head bias, mask, an all -inf row", 2, 3, 37, 70, 64, 64, heads, 1);
    sdpa_case("sdpa VAE D=384 one head", 1, 1, 50, 45, 384, 384, NULL, 0);
}

/* ---- layout ----------------------------------------------------------------------------- */

static void test_layout(void) {
    const int64_t xs[4] = {2, 3, 4, 5};
    pair x, o;
    FF_REQUIRE_OK(input(&x, FF_F32, 4, xs, 90, -1.0f, 1.0f), &err);

    const int64_t us[4] = {2, 3, 8, 15};
    FF_REQUIRE_OK(output(&o, FF_F32, 4, us), &err);
    BOTH(ff_op_upsample_nearest2d(be_, T(x), 2, 3, T(o), &err));
    expect_close("upsample_nearest2d 2x3", &o, 0.0);
    pair_free(&o);

    const int perms[4][4] = {{0, 2, 3, 1}, {3, 2, 1, 0}, {0, 1, 2, 3}, {1, 0, 2, 3}};
    for (int p = 0; p < 4; p++) {
        int64_t ps[4];
        for (int d = 0; d < 4; d++) ps[d] = xs[perms[p][d]];
        FF_REQUIRE_OK(output(&o, FF_F32, 4, ps), &err);
        BOTH(ff_op_permute(be_, T(x), perms[p], T(o), &err));
        char what[48];
        snprintf(what, sizeof what, "permute {%d,%d,%d,%d}", perms[p][0], perms[p][1], perms[p][2], perms[p][3]);
        expect_close(what, &o, 0.0);
        pair_free(&o);
    }

    const int64_t ss[4] = {2, 2, 4, 5};
    FF_REQUIRE_OK(output(&o, FF_F32, 4, ss), &err);
    BOTH(ff_op_slice(be_, T(x), 1, 1, T(o), &err));
    expect_close("slice axis 1", &o, 0.0);
    pair_free(&o);
    const int64_t sl[4] = {2, 3, 4, 3};
    FF_REQUIRE_OK(output(&o, FF_F32, 4, sl), &err);
    BOTH(ff_op_slice(be_, T(x), -1, 2, T(o), &err));
    expect_close("slice last axis (odd widths)", &o, 0.0);
    pair_free(&o);

    const int64_t ys[4] = {2, 3, 4, 2}, zs[4] = {2, 3, 4, 1}, cs[4] = {2, 3, 4, 8};
    pair y, z;
    FF_REQUIRE_OK(input(&y, FF_F32, 4, ys, 91, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(input(&z, FF_F32, 4, zs, 92, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(output(&o, FF_F32, 4, cs), &err);
    for (int s_ = 0; s_ < 2; s_++) {
        const ff_tensor *parts[3] = {T(x), T(y), T(z)};
        FF_REQUIRE_OK(ff_op_concat(g_be[s_], parts, 3, 3, T(o), &err), &err);
    }
    expect_close("concat last axis", &o, 0.0);
    pair_free(&o);
    const int64_t c0[4] = {4, 3, 4, 5};
    FF_REQUIRE_OK(output(&o, FF_F32, 4, c0), &err);
    for (int s_ = 0; s_ < 2; s_++) {
        const ff_tensor *parts[2] = {T(x), T(x)};
        FF_REQUIRE_OK(ff_op_concat(g_be[s_], parts, 2, 0, T(o), &err), &err);
    }
    expect_close("concat axis 0", &o, 0.0);
    pair_free(&o);
    pair_free(&y);
    pair_free(&z);
    pair_free(&x);
}

static void test_copy(void) {
    const int64_t xs[2] = {9, 37}, flat[1] = {333};
    pair x, h16, b16, back;
    FF_REQUIRE_OK(input(&x, FF_F32, 2, xs, 100, -70000.0f, 70000.0f), &err); /* F16 overflows to inf */
    FF_REQUIRE_OK(output(&b16, FF_BF16, 1, flat), &err);
    FF_REQUIRE_OK(output(&h16, FF_F16, 2, xs), &err);
    FF_REQUIRE_OK(output(&back, FF_F32, 2, xs), &err);
    BOTH(ff_op_copy(be_, T(x), T(b16), &err));
    expect_close("copy F32 -> BF16 (reshaped)", &b16, 0.0);
    BOTH(ff_op_copy(be_, T(x), T(h16), &err));
    expect_close("copy F32 -> F16", &h16, 0.0);
    BOTH(ff_op_copy(be_, T(b16), T(back), &err));
    expect_close("copy BF16 -> F32", &back, 0.0);
    BOTH(ff_op_copy(be_, T(b16), T(h16), &err));
    expect_close("copy BF16 -> F16", &h16, 0.0);
    BOTH(ff_op_copy(be_, T(h16), T(back), &err));
    expect_close("copy F16 -> F32", &back, 0.0);
    BOTH(ff_op_copy(be_, T(x), T(back), &err));
    expect_close("copy F32 -> F32", &back, 0.0);
    pair_free(&x);
    pair_free(&h16);
    pair_free(&b16);
    pair_free(&back);
}

static void test_embedding(void) {
    const int64_t ts[2] = {50, 24}, is[2] = {3, 7}, os[3] = {3, 7, 24};
    pair table, o;
    FF_REQUIRE_OK(input(&table, FF_F32, 2, ts, 110, -1.0f, 1.0f), &err);
    FF_REQUIRE_OK(output(&o, FF_F32, 3, os), &err);
    for (int wide = 0; wide < 2; wide++) {
        ff_tensor hid;
        FF_REQUIRE_OK(ff_tensor_alloc(&hid, wide ? FF_I64 : FF_I32, 2, is, &err), &err);
        for (int i = 0; i < 21; i++) {
            const int id = (i * 17 + 3) % 50;
            if (wide)
                ((int64_t *)hid.data)[i] = id;
            else
                ((int32_t *)hid.data)[i] = id;
        }
        pair ids;
        ff_status st = input_from(&ids, &hid);
        FF_REQUIRE_OK(st, &err);
        BOTH(ff_op_embedding(be_, T(ids), T(table), T(o), &err));
        expect_close(wide ? "embedding I64" : "embedding I32", &o, 0.0);
        pair_free(&ids);

        /* an id out of range is FF_ERR_ARG naming it */
        if (wide)
            ((int64_t *)hid.data)[5] = 50;
        else
            ((int32_t *)hid.data)[5] = -1;
        FF_REQUIRE_OK(input_from(&ids, &hid), &err);
        ff_status gst = ff_op_embedding(g_be[1], &ids.on[1], &table.on[1], &o.on[1], &err);
        FF_CHECK_MSG(gst == FF_ERR_ARG, "embedding bad id: status %s (%s)", ff_status_name(gst), err.msg);
        FF_CHECK_MSG(strstr(err.msg, wide ? "id 50 at position 5" : "id -1 at position 5") != NULL,
                     "embedding bad id message: %s", err.msg);
        FF_CHECK_OK(ff_be_sync(g_be[1], &err), &err); /* the backend stays usable */
        pair_free(&ids);
        ff_tensor_free(&hid);
    }
    pair_free(&table);
    pair_free(&o);
}

int main(void) {
    ff_status st = ff_backend_cuda_create(0, &g_be[1], &err);
    if (st == FF_ERR_DEVICE || st == FF_ERR_UNSUPPORTED) ff_test_skip(err.msg);
    if (st != FF_OK) {
        fprintf(stderr, "ff_backend_cuda_create: %s\n", err.msg);
        return 1;
    }
    if (ff_backend_cpu_create(0, &g_be[0], &err) != FF_OK) {
        fprintf(stderr, "ff_backend_cpu_create: %s\n", err.msg);
        ff_backend_free(g_be[1]);
        return 1;
    }
    char devs[512];
    ff_backend_cuda_describe(devs, sizeof devs);
    fprintf(stderr, "%s against cpu; devices:\n%s\n", ff_backend_name(g_be[1]), devs);

    FF_RUN(test_linear);
    FF_RUN(test_matmul);
    FF_RUN(test_conv);
    FF_RUN(test_norms);
    FF_RUN(test_unary_scale_clamp);
    FF_RUN(test_binary);
    FF_RUN(test_modulate);
    FF_RUN(test_rope);
    FF_RUN(test_sdpa);
    FF_RUN(test_layout);
    FF_RUN(test_copy);
    FF_RUN(test_embedding);

    ff_err serr;
    FF_CHECK_OK(ff_be_sync(g_be[1], &serr), &serr);
    ff_backend_free(g_be[0]);
    ff_backend_free(g_be[1]);
    return ff_test_summary();
}
