/* test_ops_bf16: the BF16 precisions (ops.h: ff_backend_set_precision) of
 * linear, matmul (FF_PREC_BF16) and conv3d/conv2d (FF_PREC_BF16_ALL; in
 * FF_PREC_BF16 conv stays F32 bit for bit on the CPU, and is TF32 through
 * cuDNN on CUDA, within 3e-3 of F32).
 *
 * Against a double-precision reference on random inputs, on the CPU backend
 * always (BF16 emulated) and on cuda:0 where there is one (BF16 tensor
 * cores), each case checks that in BF16 precision
 *  - the result is in the documented accuracy class against the exact
 *    product of the unrounded inputs: 1e-5 < rel_l2 <= 1e-2 (the lower
 *    bound shows the inputs really are rounded);
 *  - it is the exact product of the BF16-rounded inputs up to F32
 *    accumulation: rel_l2 <= 1e-5 on CPU, 1e-4 on CUDA (tensor-core
 *    accumulation order), so both backends round the same way;
 * and that switching back to F32 gives the F32 result again (<= 1e-5).
 * On CUDA, sizes that make the BF16 path work in several chunks (rounded
 * activations, batches, im2col columns) are compared with the CPU's BF16
 * emulation. Exits 0 when the CPU part passes; the CUDA part prints why it
 * was skipped. */
#include "tests/kernels/ops_test_util.h"

#define TOL_F32 1e-5
#define TOL_BF16 1e-2  /* the accuracy class (golden --precision bf16) */
#define MIN_ROUNDED 1e-5 /* below this, nothing was rounded */

static ff_backend *g_be;  /* the backend under test */
static ff_backend *g_cpu; /* the CPU backend (CUDA's large cases compare with it) */
static double g_tol_exact;

/* ---- moving tensors ------------------------------------------------------------------ */

static ff_tensor on_be(ff_backend *be, const ff_tensor *h) {
    ff_tensor d;
    ff_err err = {0};
    if (ff_be_alloc(be, &d, h->dtype, h->ndim, h->shape, &err) || ff_be_upload(be, &d, h, &err)) {
        fprintf(stderr, "test: %s\n", err.msg);
        abort();
    }
    return d;
}

static ff_tensor out_on_be(ff_backend *be, const int64_t *shape, int ndim) {
    ff_tensor d;
    ff_err err = {0};
    if (ff_be_alloc(be, &d, FF_F32, ndim, shape, &err)) {
        fprintf(stderr, "test: %s\n", err.msg);
        abort();
    }
    return d;
}

static ff_tensor to_host(ff_backend *be, const ff_tensor *d) {
    ff_tensor h = tt_make(d->dtype, d->shape, d->ndim);
    ff_err err = {0};
    if (ff_be_download(be, &h, d, &err)) {
        fprintf(stderr, "test: %s\n", err.msg);
        abort();
    }
    return h;
}

/* Element i of t, rounded to BF16 when round. */
static double val(const ff_tensor *t, int64_t i, int round) {
    const double v = tt_at(t, i);
    return round ? (double)ff_bf16_to_f32(ff_f32_to_bf16((float)v)) : v;
}

/* The three checks of a BF16-mode result (out) and an F32-mode one (out_f). */
static void check_bf16(const char *what, const ff_tensor *out, const ff_tensor *out_f, const double *ref,
                       const double *ref_rounded) {
    const double r = tt_rel(out, ref), rr = tt_rel(out, ref_rounded), rf = tt_rel(out_f, ref);
    fprintf(stderr, "  %-44s bf16 vs exact %.2e, vs rounded inputs %.2e; f32 %.2e\n", what, r, rr, rf);
    FF_CHECK_MSG(r > MIN_ROUNDED && r <= TOL_BF16, "%s on %s: bf16 vs exact rel_l2 %.3g, want in (%.0e, %.0e]", what,
                 ff_backend_name(g_be), r, MIN_ROUNDED, TOL_BF16);
    FF_CHECK_MSG(rr <= g_tol_exact, "%s on %s: bf16 vs exact product of rounded inputs rel_l2 %.3g > %.0e", what,
                 ff_backend_name(g_be), rr, g_tol_exact);
    FF_CHECK_MSG(rf <= TOL_F32, "%s on %s: back in f32, rel_l2 %.3g > %.0e", what, ff_backend_name(g_be), rf, TOL_F32);
}

static void set_prec(ff_precision p) {
    ff_err err = {0};
    if (ff_backend_set_precision(g_be, p, &err)) {
        fprintf(stderr, "test: %s\n", err.msg);
        abort();
    }
}

/* ---- linear ---------------------------------------------------------------------------- */

static void linear_case(int64_t m, int64_t k, int64_t n, int bias, ff_dtype wdt, unsigned seed) {
    ff_err err = {0};
    ff_tensor x = tt_rand(seed, -1, 1, S(m, k)), wf = tt_rand(seed + 1, -0.5f, 0.5f, S(n, k));
    ff_tensor w = tt_to(&wf, wdt), b = tt_rand(seed + 2, -1, 1, S(n));
    double *ref[2] = {tt_ref(m * n), tt_ref(m * n)};
    for (int round = 0; round < 2; round++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = bias ? tt_at(&b, j) : 0.0; /* bias: F32, never rounded */
                for (int64_t p = 0; p < k; p++) s += val(&x, i * k + p, round) * val(&w, j * k + p, round);
                ref[round][i * n + j] = s;
            }
    ff_tensor dx = on_be(g_be, &x), dw = on_be(g_be, &w), db = on_be(g_be, &b), dout = out_on_be(g_be, S(m, n));
    ff_tensor out[2]; /* [0] bf16 mode, [1] f32 mode */
    for (int mode = 0; mode < 2; mode++) {
        set_prec(mode == 0 ? FF_PREC_BF16 : FF_PREC_F32);
        FF_CHECK_OK(ff_op_linear(g_be, &dx, &dw, bias ? &db : NULL, &dout, &err), &err);
        out[mode] = to_host(g_be, &dout);
    }
    char what[96];
    snprintf(what, sizeof what, "linear %lldx%lld->%lld %s%s", (long long)m, (long long)k, (long long)n,
             ff_dtype_name(wdt), bias ? " + bias" : "");
    check_bf16(what, &out[0], &out[1], ref[0], ref[1]);
    free(ref[0]);
    free(ref[1]);
    ff_be_free(g_be, &dx);
    ff_be_free(g_be, &dw);
    ff_be_free(g_be, &db);
    ff_be_free(g_be, &dout);
    tt_free(&x, &wf, &w, &b, &out[0], &out[1], NULL);
}

static void test_linear(void) {
    linear_case(37, 96, 70, 1, FF_F32, 1);
    linear_case(37, 96, 70, 0, FF_BF16, 2);
    linear_case(5, 300, 33, 1, FF_BF16, 3);
    linear_case(64, 257, 19, 0, FF_F32, 4); /* odd K: no vector tail lines up */
}

/* ---- matmul ---------------------------------------------------------------------------- */

static void matmul_case(int ta, int tb, int b_batched, float alpha, unsigned seed) {
    ff_err err = {0};
    const int64_t nb = 3, m = 17, k = 40, n = 13;
    ff_tensor a = ta ? tt_rand(seed, -1, 1, S(nb, k, m)) : tt_rand(seed, -1, 1, S(nb, m, k));
    const int64_t br = tb ? n : k, bc = tb ? k : n;
    ff_tensor b = b_batched ? tt_rand(seed + 1, -1, 1, S(nb, br, bc)) : tt_rand(seed + 1, -1, 1, S(br, bc));
    double *ref[2] = {tt_ref(nb * m * n), tt_ref(nb * m * n)};
    for (int round = 0; round < 2; round++)
        for (int64_t bi = 0; bi < nb; bi++)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double s = 0;
                    for (int64_t p = 0; p < k; p++)
                        s += val(&a, bi * m * k + (ta ? p * m + i : i * k + p), round) *
                             val(&b, (b_batched ? bi * k * n : 0) + (tb ? j * k + p : p * n + j), round);
                    ref[round][(bi * m + i) * n + j] = alpha * s;
                }
    ff_tensor da = on_be(g_be, &a), dbm = on_be(g_be, &b), dout = out_on_be(g_be, S(nb, m, n));
    ff_tensor out[2];
    for (int mode = 0; mode < 2; mode++) {
        set_prec(mode == 0 ? FF_PREC_BF16 : FF_PREC_F32);
        FF_CHECK_OK(ff_op_matmul(g_be, &da, &dbm, ta, tb, alpha, &dout, &err), &err);
        out[mode] = to_host(g_be, &dout);
    }
    char what[96];
    snprintf(what, sizeof what, "matmul ta=%d tb=%d b %s alpha=%g", ta, tb, b_batched ? "batched" : "2-d",
             (double)alpha);
    check_bf16(what, &out[0], &out[1], ref[0], ref[1]);
    free(ref[0]);
    free(ref[1]);
    ff_be_free(g_be, &da);
    ff_be_free(g_be, &dbm);
    ff_be_free(g_be, &dout);
    tt_free(&a, &b, &out[0], &out[1], NULL);
}

static void test_matmul(void) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int bb = 0; bb < 2; bb++)
                matmul_case(ta, tb, bb, bb ? 0.5f : 1.0f, (unsigned)(20 + ta * 4 + tb * 2 + bb));
}

/* ---- conv3d / conv2d -------------------------------------------------------------------- */

typedef struct {
    int64_t b, c, f, h, w, o, kt, kh, kw;
    int stride[3], pad[6];
    int bias;
    ff_dtype wdt;
} conv_cfg;

static int64_t conv_out(int64_t in, int64_t k, int s, int p0, int p1) { return (in + p0 + p1 - k) / s + 1; }

static void conv_ref(const conv_cfg *g, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, int64_t fo,
                     int64_t ho, int64_t wo, int round, double *ref) {
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
                                        s += val(x, (((bi * g->c + c) * g->f + ti) * g->h + hi) * g->w + wi, round) *
                                             val(w, (((o * g->c + c) * g->kt + dt) * g->kh + dh) * g->kw + dw, round);
                                    }
                        ref[(((bi * g->o + o) * fo + t) * ho + i) * wo + j] = s;
                    }
}

/* conv2d when the case has kt = 1, f = 1 and as2d set (it runs as a conv3d underneath). */
static void conv_case(const char *name, conv_cfg g, int as2d, unsigned seed) {
    ff_err err = {0};
    const int64_t fo = conv_out(g.f, g.kt, g.stride[0], g.pad[0], g.pad[1]);
    const int64_t ho = conv_out(g.h, g.kh, g.stride[1], g.pad[2], g.pad[3]);
    const int64_t wo = conv_out(g.w, g.kw, g.stride[2], g.pad[4], g.pad[5]);
    ff_tensor x = tt_rand(seed, -1, 1, S(g.b, g.c, g.f, g.h, g.w));
    ff_tensor wf = tt_rand(seed + 1, -0.3f, 0.3f, S(g.o, g.c, g.kt, g.kh, g.kw));
    ff_tensor w = tt_to(&wf, g.wdt), b = tt_rand(seed + 2, -1, 1, S(g.o));
    const int64_t n = g.b * g.o * fo * ho * wo;
    double *ref[2] = {tt_ref(n), tt_ref(n)};
    for (int round = 0; round < 2; round++) conv_ref(&g, &x, &w, &b, fo, ho, wo, round, ref[round]);
    ff_tensor dx = on_be(g_be, &x), dw = on_be(g_be, &w), db = on_be(g_be, &b);
    ff_tensor dout = out_on_be(g_be, S(g.b, g.o, fo, ho, wo));
    if (as2d) { /* the same bytes seen as 4-D */
        ff_tensor_reshape(&dx, 4, (const int64_t[]){g.b, g.c, g.h, g.w}, &err);
        ff_tensor_reshape(&dw, 4, (const int64_t[]){g.o, g.c, g.kh, g.kw}, &err);
        ff_tensor_reshape(&dout, 4, (const int64_t[]){g.b, g.o, ho, wo}, &err);
    }
    const int st2[2] = {g.stride[1], g.stride[2]}, pad2[4] = {g.pad[2], g.pad[3], g.pad[4], g.pad[5]};
    ff_tensor out[3]; /* [0] bf16-all, [1] f32, [2] bf16 (conv in F32) */
    const ff_precision modes[3] = {FF_PREC_BF16_ALL, FF_PREC_F32, FF_PREC_BF16};
    for (int mode = 0; mode < 3; mode++) {
        set_prec(modes[mode]);
        if (as2d) FF_CHECK_OK(ff_op_conv2d(g_be, &dx, &dw, g.bias ? &db : NULL, st2, pad2, &dout, &err), &err);
        else FF_CHECK_OK(ff_op_conv3d(g_be, &dx, &dw, g.bias ? &db : NULL, g.stride, g.pad, &dout, &err), &err);
        out[mode] = to_host(g_be, &dout);
    }
    char what[96];
    snprintf(what, sizeof what, "%s %s %s, bf16-all", as2d ? "conv2d" : "conv3d", name, ff_dtype_name(g.wdt));
    check_bf16(what, &out[0], &out[1], ref[0], ref[1]);
    if (ff_backend_kind_of(g_be) == FF_BACKEND_CPU) {
        FF_CHECK_MSG(ff_tensor_equal(&out[2], &out[1]), "%s on %s: FF_PREC_BF16 changed a conv (it stays F32)", what,
                     ff_backend_name(g_be));
    } else { /* CUDA: TF32 tensor cores through cuDNN (or F32 im2col without cuDNN), within ~1e-3 of F32 */
        const double r = ff_rel_l2(&out[2], &out[1]);
        FF_CHECK_MSG(r <= 3e-3, "%s on %s: FF_PREC_BF16 conv (TF32) rel_l2 %.3g to F32 > 3e-3", what,
                     ff_backend_name(g_be), r);
    }
    free(ref[0]);
    free(ref[1]);
    ff_be_free(g_be, &dx);
    ff_be_free(g_be, &dw);
    ff_be_free(g_be, &db);
    ff_be_free(g_be, &dout);
    tt_free(&x, &wf, &w, &b, &out[0], &out[1], &out[2], NULL);
}

static void test_conv(void) {
    conv_case("3x3x3 causal", (conv_cfg){2, 4, 5, 9, 8, 6, 3, 3, 3, {1, 1, 1}, {2, 0, 1, 1, 1, 1}, 1, FF_F32}, 0, 40);
    conv_case("3x3x3 stride (1,2,2)", (conv_cfg){1, 4, 5, 9, 8, 6, 3, 3, 3, {1, 2, 2}, {2, 0, 1, 1, 1, 1}, 1, FF_BF16},
              0, 41);
    conv_case("1x1x1", (conv_cfg){2, 16, 3, 4, 7, 6, 1, 1, 1, {1, 1, 1}, {0, 0, 0, 0, 0, 0}, 1, FF_F32}, 0, 42);
    conv_case("1x1x1 no bias", (conv_cfg){1, 16, 3, 4, 7, 6, 1, 1, 1, {1, 1, 1}, {0, 0, 0, 0, 0, 0}, 0, FF_BF16}, 0,
              43);
    conv_case("3x3 stride 2", (conv_cfg){2, 3, 1, 11, 10, 5, 1, 3, 3, {1, 2, 2}, {0, 0, 1, 1, 1, 1}, 1, FF_F32}, 1, 44);
}

/* ---- the API ----------------------------------------------------------------------------- */

static void test_api(void) {
    ff_err err = {0};
    ff_backend *fresh = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &fresh, &err), &err);
    FF_CHECK(ff_backend_precision(fresh) == FF_PREC_F32); /* the default */
    FF_CHECK(ff_backend_precision(NULL) == FF_PREC_F32);
    ff_status st = ff_backend_set_precision(fresh, (ff_precision)7, &err);
    FF_CHECK_MSG(st == FF_ERR_ARG && strstr(err.msg, "unknown precision 7"), "bad precision: %s (%s)",
                 ff_status_name(st), err.msg);
    FF_CHECK(ff_backend_set_precision(NULL, FF_PREC_BF16, &err) == FF_ERR_ARG);
    FF_CHECK_OK(ff_backend_set_precision(fresh, FF_PREC_BF16, &err), &err);
    FF_CHECK(ff_backend_precision(fresh) == FF_PREC_BF16);
    ff_backend_free(fresh);
    ff_precision p = FF_PREC_COUNT;
    FF_CHECK(ff_precision_parse("bf16", &p) == 0 && p == FF_PREC_BF16);
    FF_CHECK(ff_precision_parse("f32", &p) == 0 && p == FF_PREC_F32);
    FF_CHECK(ff_precision_parse("fp32", &p) == 0 && p == FF_PREC_F32);
    FF_CHECK(ff_precision_parse("bf16-all", &p) == 0 && p == FF_PREC_BF16_ALL);
    FF_CHECK(ff_precision_parse("fp16", &p) == -1 && ff_precision_parse(NULL, &p) == -1);
    FF_CHECK(!strcmp(ff_precision_name(FF_PREC_BF16), "bf16") && !strcmp(ff_precision_name(FF_PREC_F32), "f32"));
    FF_CHECK(!strcmp(ff_precision_name(FF_PREC_BF16_ALL), "bf16-all"));
}

/* ---- CUDA: several chunks of the BF16 path, against the CPU's emulation ------------------ */

/* Runs op on g_be and on g_cpu in precision prec and compares (rel_l2 <= 1e-4). */
typedef ff_status (*op_fn)(ff_backend *be, ff_tensor *const *in, ff_tensor *out, ff_err *err);

static void against_cpu(const char *what, ff_precision prec, op_fn op, ff_tensor *const *host_in, int n_in,
                        const int64_t *oshape, int ond) {
    ff_err err = {0};
    ff_backend *bes[2] = {g_cpu, g_be};
    ff_tensor res[2];
    for (int s = 0; s < 2; s++) {
        ff_tensor d[4], *dp[4];
        for (int i = 0; i < n_in; i++) d[i] = on_be(bes[s], host_in[i]), dp[i] = &d[i];
        ff_tensor o = out_on_be(bes[s], oshape, ond);
        FF_CHECK_OK(ff_backend_set_precision(bes[s], prec, &err), &err);
        FF_CHECK_OK(op(bes[s], dp, &o, &err), &err);
        res[s] = to_host(bes[s], &o);
        FF_CHECK_OK(ff_backend_set_precision(bes[s], FF_PREC_F32, &err), &err);
        ff_be_free(bes[s], &o);
        for (int i = 0; i < n_in; i++) ff_be_free(bes[s], &d[i]);
    }
    const double r = ff_rel_l2(&res[1], &res[0]);
    FF_CHECK_MSG(r >= 0 && r <= 1e-4, "%s: %s on %s vs cpu rel_l2 %.3g > 1e-4", what, ff_precision_name(prec),
                 ff_backend_name(g_be), r);
    fprintf(stderr, "  %s: rel_l2(%s, cpu) = %.3g\n", what, ff_backend_name(g_be), r);
    ff_tensor_free(&res[0]);
    ff_tensor_free(&res[1]);
}

static ff_status op_linear(ff_backend *be, ff_tensor *const *in, ff_tensor *out, ff_err *err) {
    return ff_op_linear(be, in[0], in[1], in[2], out, err);
}

static ff_status op_matmul_tb(ff_backend *be, ff_tensor *const *in, ff_tensor *out, ff_err *err) {
    return ff_op_matmul(be, in[0], in[1], 0, 1, 0.25f, out, err);
}

static ff_status op_conv_causal(ff_backend *be, ff_tensor *const *in, ff_tensor *out, ff_err *err) {
    const int stride[3] = {1, 1, 1}, pad[6] = {2, 0, 1, 1, 1, 1};
    return ff_op_conv3d(be, in[0], in[1], in[2], stride, pad, out, err);
}

static ff_status op_conv_1x1(ff_backend *be, ff_tensor *const *in, ff_tensor *out, ff_err *err) {
    const int stride[3] = {1, 1, 1}, pad[6] = {0};
    return ff_op_conv3d(be, in[0], in[1], in[2], stride, pad, out, err);
}

static void test_cuda_chunks(void) {
    /* linear: rounded x in 64 MiB chunks of rows (8192 rows of K = 4096) -> 2 chunks; F32 and BF16 weights */
    {
        ff_tensor x = tt_rand(60, -1, 1, S(9000, 4096)), wf = tt_rand(61, -0.5f, 0.5f, S(24, 4096));
        ff_tensor wb = tt_to(&wf, FF_BF16), b = tt_rand(62, -1, 1, S(24));
        ff_tensor *const in_f[] = {&x, &wf, &b}, *const in_b[] = {&x, &wb, &b};
        against_cpu("linear 9000x4096->24 F32 w (2 chunks)", FF_PREC_BF16, op_linear, in_f, 3, S(9000, 24));
        against_cpu("linear 9000x4096->24 BF16 w (2 chunks)", FF_PREC_BF16, op_linear, in_b, 3, S(9000, 24));
        tt_free(&x, &wf, &wb, &b, NULL);
    }
    /* matmul: batches of 2048x8192 (32 MiB rounded each) -> one batch per chunk */
    {
        ff_tensor a = tt_rand(63, -1, 1, S(3, 2048, 8192)), bm = tt_rand(64, -1, 1, S(3, 40, 8192));
        ff_tensor *const in[] = {&a, &bm};
        against_cpu("matmul 3x(2048x8192 @ 8192x40) (3 chunks)", FF_PREC_BF16, op_matmul_tb, in, 2, S(3, 2048, 40));
        tt_free(&a, &bm, NULL);
    }
    /* conv3d (bf16-all): 128 MiB of BF16 columns hold 155344 positions of R = 16 * 27 -> 2 chunks per item */
    {
        ff_tensor x = tt_rand(65, -1, 1, S(2, 16, 4, 200, 200)), w = tt_rand(66, -0.3f, 0.3f, S(8, 16, 3, 3, 3));
        ff_tensor b = tt_rand(67, -1, 1, S(8)), w1 = tt_rand(68, -0.3f, 0.3f, S(8, 16, 1, 1, 1));
        ff_tensor w1b = tt_to(&w1, FF_BF16);
        ff_tensor *const in3[] = {&x, &w, &b}, *const in1[] = {&x, &w1b, &b};
        against_cpu("conv3d 3x3x3 2x16x4x200x200 (2 chunks)", FF_PREC_BF16_ALL, op_conv_causal, in3, 3,
                    S(2, 8, 4, 200, 200));
        against_cpu("conv3d 1x1x1 2x16x4x200x200 BF16 w", FF_PREC_BF16_ALL, op_conv_1x1, in1, 3, S(2, 8, 4, 200, 200));
        tt_free(&x, &w, &b, &w1, &w1b, NULL);
    }
}

static void run_all(void) {
    fprintf(stderr, "-- backend %s\n", ff_backend_name(g_be));
    FF_RUN(test_linear);
    FF_RUN(test_matmul);
    FF_RUN(test_conv);
    set_prec(FF_PREC_F32);
}

int main(void) {
    ff_err err = {0};
    if (ff_backend_cpu_create(0, &g_cpu, &err) != FF_OK) {
        fprintf(stderr, "ff_backend_cpu_create: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_api);
    g_be = g_cpu;
    g_tol_exact = 1e-5;
    run_all();

    ff_status st = ff_backend_cuda_create(0, &g_be, &err);
    if (st == FF_ERR_DEVICE || st == FF_ERR_UNSUPPORTED) {
        fprintf(stderr, "-- cuda: skipped (%s)\n", err.msg);
    } else if (st) {
        fprintf(stderr, "ff_backend_cuda_create: %s\n", err.msg);
        ff_backend_free(g_cpu);
        return 1;
    } else {
        g_tol_exact = 1e-4;
        run_all();
        FF_RUN(test_cuda_chunks);
        ff_backend_free(g_be);
    }
    ff_backend_free(g_cpu);
    return ff_test_summary();
}
