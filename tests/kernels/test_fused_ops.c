/* test_fused_ops: the fused ops, the BF16 activation path and BF16-precision
 * attention of kernels/ops.h on the CPU backend (kernels/cpu/cpu_fused.c),
 * the reference the CUDA kernels are tested against (test_flash_cuda.c).
 *
 * Against double-precision references (test_fused_cases.h): F32 arithmetic
 * within 1e-5; BF16 arithmetic within 4e-3 of the formula on the rounded
 * operands (what remains is the rounding of the probabilities and of a
 * BF16 output) and within the 1e-2 class of the exact one, and measurably
 * rounded (so the emulation really rounds). Also: F32 results of the fused
 * ops equal the unfused op sequences, ff_op_sdpa in BF16 precision is
 * ff_op_attention's arithmetic bit for bit, both head layouts give the same
 * numbers, and the validation errors. */
#include "tests/kernels/test_fused_cases.h"

static ff_backend *g_be;

static void test_attention_cases(void) {
    for (int i = 0; i < FC_N_ATTN; i++) {
        fc_attn_result r = fc_attention(g_be, &fc_attn_cases[i], 100u + (unsigned)i);
        fc_check_attn("cpu", &fc_attn_cases[i], &r);
        fc_attn_free(&r);
    }
}

/* The same numbers through ff_op_sdpa (BF16 precision) and ff_op_attention
 * (BHLD), and through BHLD and BLHD operands holding the same values. */
static void test_attention_routes(void) {
    fc_attn c = {"route", 2, 3, 41, 29, 64, 48, FF_HEADS_BHLD, FF_F32, FF_F32, FC_BIAS_KEYMASK, FF_PREC_BF16, 1, 0};
    fc_attn_result a = fc_attention(g_be, &c, 7);
    c.via_sdpa = 0;
    fc_attn_result b = fc_attention(g_be, &c, 7);
    FF_CHECK_MSG(ff_tensor_equal(&a.out, &b.out), "sdpa in bf16 precision differs from ff_op_attention");
    c.layout = FF_HEADS_BLHD; /* other layout, other values: compare through the references */
    fc_attn_result d = fc_attention(g_be, &c, 7);
    FF_CHECK(tt_rel(&d.out, d.rounded) <= FC_TOL_ROUNDED);
    fc_attn_free(&a), fc_attn_free(&b), fc_attn_free(&d);
}

static void test_linear_act_cases(void) {
    for (int i = 0; i < FC_N_LIN; i++) {
        fc_lin_result r = fc_linear_act(g_be, &fc_lin_cases[i], 200u + (unsigned)i);
        fc_check_lin("cpu", &fc_lin_cases[i], &r);
        fc_lin_free(&r);
    }
}

static void test_norm_modulate(void) {
    static const struct {
        int64_t B, L, D;
        int affine, mod;
        ff_dtype out;
    } cs[] = {{1, 7, 64, 0, 1, FF_F32},  {2, 13, 96, 0, 2, FF_BF16}, {2, 5, 33, 1, 0, FF_F32},
              {2, 9, 128, 1, 3, FF_BF16}, {1, 1, 1536, 0, 1, FF_F32}, {3, 4, 20, 1, 2, FF_F32}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        fc_result r = fc_norm_modulate(g_be, cs[i].B, cs[i].L, cs[i].D, cs[i].affine, cs[i].mod, cs[i].out, 300u + i);
        char what[96];
        snprintf(what, sizeof what, "norm_modulate %lldx%lldx%lld affine %d mod %d -> %s", (long long)cs[i].B,
                 (long long)cs[i].L, (long long)cs[i].D, cs[i].affine, cs[i].mod, ff_dtype_name(cs[i].out));
        fc_check("cpu", what, &r, cs[i].out == FF_BF16 ? FC_TOL_ROUNDED : FC_TOL_F32);
        fc_free(&r);
    }
}

static void test_qk_norm_rope(void) {
    static const struct {
        int64_t B, L, H, hd;
        int affine, rope;
        ff_heads_layout lay;
        ff_dtype x, out;
    } cs[] = {{1, 11, 2, 8, 1, 1, FF_HEADS_BLHD, FF_F32, FF_F32},   {2, 7, 3, 16, 1, 1, FF_HEADS_BHLD, FF_F32, FF_BF16},
              {2, 5, 4, 32, 0, 1, FF_HEADS_BHLD, FF_BF16, FF_BF16}, {1, 9, 2, 24, 1, 0, FF_HEADS_BLHD, FF_BF16, FF_F32},
              {1, 3, 12, 128, 1, 1, FF_HEADS_BLHD, FF_BF16, FF_BF16}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        fc_result r = fc_qk_norm_rope(g_be, cs[i].B, cs[i].L, cs[i].H, cs[i].hd, cs[i].affine, cs[i].rope, cs[i].lay,
                                      cs[i].x, cs[i].out, 400u + i);
        char what[112];
        snprintf(what, sizeof what, "qk_norm_rope %lldx%lldx%lldx%lld %s rope %d %s -> %s", (long long)cs[i].B,
                 (long long)cs[i].L, (long long)cs[i].H, (long long)cs[i].hd,
                 cs[i].lay == FF_HEADS_BLHD ? "blhd" : "bhld", cs[i].rope, ff_dtype_name(cs[i].x),
                 ff_dtype_name(cs[i].out));
        fc_check("cpu", what, &r, cs[i].out == FF_BF16 ? FC_TOL_ROUNDED : FC_TOL_F32);
        fc_free(&r);
    }
}

static void test_gate_residual(void) {
    static const struct {
        int64_t B, L, D;
        int gate;
        ff_dtype x;
        int in_place;
    } cs[] = {{1, 7, 64, 1, FF_F32, 1}, {2, 5, 33, 2, FF_BF16, 0}, {2, 9, 48, 3, FF_F32, 0},
              {2, 3, 16, 0, FF_BF16, 1}, {1, 1, 5, 1, FF_F32, 0}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        fc_result r = fc_gate_residual(g_be, cs[i].B, cs[i].L, cs[i].D, cs[i].gate, cs[i].x, cs[i].in_place, 500u + i);
        char what[96];
        snprintf(what, sizeof what, "gate_residual %lldx%lldx%lld gate %d x %s%s", (long long)cs[i].B,
                 (long long)cs[i].L, (long long)cs[i].D, cs[i].gate, ff_dtype_name(cs[i].x),
                 cs[i].in_place ? " in place" : "");
        fc_check("cpu", what, &r, FC_TOL_F32);
        fc_free(&r);
    }
}

/* At FF_PREC_F32 with F32 tensors, the fused ops are the unfused sequences. */
static void test_fused_equals_unfused(void) {
    ff_tensor x = tt_rand(1, -2, 2, S(2, 6, 40)), sh = tt_rand(2, -1, 1, S(2, 1, 40)), sc = tt_rand(3, -1, 1, S(2, 1, 40));
    ff_tensor a = tt_zeros(S(2, 6, 40)), b = tt_zeros(S(2, 6, 40));
    FF_REQUIRE_OK(ff_op_layer_norm(g_be, &x, NULL, NULL, 1e-6f, &a, &fc_err), &fc_err);
    FF_REQUIRE_OK(ff_op_modulate(g_be, &a, &sh, &sc, &a, &fc_err), &fc_err);
    FF_REQUIRE_OK(ff_op_norm_modulate(g_be, &x, NULL, NULL, &sh, &sc, 1e-6f, &b, &fc_err), &fc_err);
    FF_CHECK(ff_rel_l2(&b, &a) <= 1e-6);
    /* gate_residual == binary mul + add */
    ff_tensor h = tt_rand(4, -1, 1, S(2, 6, 40)), h2 = tt_zeros(S(2, 6, 40)), t = tt_zeros(S(2, 6, 40));
    memcpy(h2.data, h.data, ff_tensor_nbytes(&h));
    FF_REQUIRE_OK(ff_op_binary(g_be, FF_BIN_MUL, &x, &sc, &t, &fc_err), &fc_err);
    FF_REQUIRE_OK(ff_op_binary(g_be, FF_BIN_ADD, &h, &t, &h, &fc_err), &fc_err);
    FF_REQUIRE_OK(ff_op_gate_residual(g_be, &h2, &x, &sc, &h2, &fc_err), &fc_err);
    FF_CHECK(ff_tensor_equal(&h, &h2));
    /* qk_norm_rope (BHLD) == rms_norm, rope, permute */
    ff_tensor q = tt_rand(5, -1, 1, S(2, 6, 40)), w = tt_rand(6, 0.5f, 1.5f, S(40));
    ff_tensor cs = tt_rand(7, -1, 1, S(6, 8)), sn = tt_rand(8, -1, 1, S(6, 8));
    ff_tensor r1 = tt_zeros(S(2, 6, 40)), r2 = tt_zeros(S(2, 5, 6, 8)), r3 = tt_zeros(S(2, 5, 6, 8));
    FF_REQUIRE_OK(ff_op_rms_norm(g_be, &q, &w, 1e-6f, &r1, &fc_err), &fc_err);
    ff_tensor r1v = r1;
    int64_t s4[4] = {2, 6, 5, 8};
    ff_tensor_view(&r1v, FF_F32, 4, s4, r1.data, FF_LOC_HOST);
    FF_REQUIRE_OK(ff_op_rope(g_be, &r1v, &cs, &sn, &r1v, &fc_err), &fc_err);
    static const int perm[4] = {0, 2, 1, 3};
    FF_REQUIRE_OK(ff_op_permute(g_be, &r1v, perm, &r2, &fc_err), &fc_err);
    FF_REQUIRE_OK(ff_op_qk_norm_rope(g_be, &q, &w, 1e-6f, &cs, &sn, FF_HEADS_BHLD, &r3, &fc_err), &fc_err);
    FF_CHECK(ff_rel_l2(&r3, &r2) <= 1e-6);
    /* linear_act (none, F32) == linear */
    ff_tensor lw = tt_rand(9, -0.3f, 0.3f, S(24, 40)), lb = tt_rand(10, -0.1f, 0.1f, S(24));
    ff_tensor l1 = tt_zeros(S(2, 6, 24)), l2 = tt_zeros(S(2, 6, 24));
    FF_REQUIRE_OK(ff_op_linear(g_be, &x, &lw, &lb, &l1, &fc_err), &fc_err);
    FF_REQUIRE_OK(ff_op_linear_act(g_be, &x, &lw, &lb, FF_ACT_NONE, &l2, &fc_err), &fc_err);
    FF_CHECK(ff_tensor_equal(&l1, &l2));
    tt_free(&x, &sh, &sc, &a, &b, &h, &h2, &t, &q, &w, &cs, &sn, &r1, &r2, &r3, &lw, &lb, &l1, &l2, NULL);
}

#define EXPECT(call, code)                                                                                             \
    do {                                                                                                               \
        ff_status st__ = (call);                                                                                       \
        FF_CHECK_MSG(st__ == (code), "%s returned %d (%s), want %d", #call, (int)st__, fc_err.msg, (int)(code));       \
    } while (0)

static void test_validation(void) {
    ff_tensor x = tt_zeros(S(2, 4, 8)), xb = tt_make(FF_BF16, S(2, 4, 8)), o4 = tt_zeros(S(2, 4, 2, 4));
    ff_tensor sh = tt_zeros(S(1, 1, 8)), bad = tt_zeros(S(1, 1, 7)), w = tt_zeros(S(8)), o = tt_zeros(S(2, 4, 8));
    EXPECT(ff_op_norm_modulate(g_be, &x, NULL, NULL, &sh, NULL, 1e-6f, &o, &fc_err), FF_ERR_ARG);
    EXPECT(ff_op_norm_modulate(g_be, &x, NULL, NULL, &sh, &bad, 1e-6f, &o, &fc_err), FF_ERR_SHAPE);
    EXPECT(ff_op_norm_modulate(g_be, &xb, NULL, NULL, NULL, NULL, 1e-6f, &o, &fc_err), FF_ERR_SHAPE); /* x F32 only */
    EXPECT(ff_op_norm_modulate(g_be, &x, NULL, NULL, NULL, NULL, -1.0f, &o, &fc_err), FF_ERR_ARG);
    EXPECT(ff_op_gate_residual(g_be, &x, &xb, &bad, &o, &fc_err), FF_ERR_SHAPE);
    EXPECT(ff_op_gate_residual(g_be, &x, &xb, &sh, &xb, &fc_err), FF_ERR_SHAPE); /* out F32 only */
    EXPECT(ff_op_qk_norm_rope(g_be, &x, &w, 1e-6f, NULL, NULL, (ff_heads_layout)7, &o4, &fc_err), FF_ERR_ARG);
    EXPECT(ff_op_qk_norm_rope(g_be, &x, &w, 1e-6f, &x, NULL, FF_HEADS_BLHD, &o4, &fc_err), FF_ERR_ARG);
    ff_tensor o4b = tt_zeros(S(2, 4, 3, 4)); /* 3 x 4 != 8 */
    EXPECT(ff_op_qk_norm_rope(g_be, &x, &w, 1e-6f, NULL, NULL, FF_HEADS_BLHD, &o4b, &fc_err), FF_ERR_SHAPE);
    FF_CHECK_OK(ff_op_qk_norm_rope(g_be, &x, &w, 1e-6f, NULL, NULL, FF_HEADS_BLHD, &o4, &fc_err), &fc_err);
    ff_tensor lw = tt_zeros(S(5, 8)), lo = tt_make(FF_BF16, S(2, 4, 5));
    EXPECT(ff_op_linear_act(g_be, &x, &lw, NULL, (ff_act_kind)9, &lo, &fc_err), FF_ERR_ARG);
    EXPECT(ff_op_linear_act(g_be, &x, &lw, &w, FF_ACT_NONE, &lo, &fc_err), FF_ERR_SHAPE); /* bias (8) != 5 */
    FF_CHECK_OK(ff_op_linear_act(g_be, &xb, &lw, NULL, FF_ACT_SILU, &lo, &fc_err), &fc_err);
    /* attention: one dtype for q/k/v, layouts, BF16 head dim limit */
    ff_tensor q = tt_make(FF_BF16, S(1, 5, 2, 192)), qf = tt_zeros(S(1, 5, 2, 192)), ao = tt_zeros(S(1, 5, 2, 192));
    ff_tensor q2 = tt_make(FF_BF16, S(1, 5, 2, 192)), k2 = tt_make(FF_BF16, S(1, 5, 2, 192));
    EXPECT(ff_op_attention(g_be, &q, &q2, &k2, NULL, 1.0f, FF_HEADS_BLHD, &ao, &fc_err), FF_ERR_UNSUPPORTED);
    EXPECT(ff_op_attention(g_be, &qf, &q2, &k2, NULL, 1.0f, FF_HEADS_BLHD, &ao, &fc_err), FF_ERR_SHAPE);
    EXPECT(ff_op_attention(g_be, &qf, &qf, &qf, NULL, 1.0f, FF_HEADS_BLHD, &qf, &fc_err), FF_ERR_ARG); /* out is q */
    FF_CHECK_OK(ff_op_attention(g_be, &qf, &qf, &qf, NULL, 1.0f, FF_HEADS_BLHD, &ao, &fc_err), &fc_err);
    ff_tensor kbad = tt_zeros(S(1, 5, 3, 192));
    EXPECT(ff_op_attention(g_be, &qf, &kbad, &kbad, NULL, 1.0f, FF_HEADS_BLHD, &ao, &fc_err), FF_ERR_SHAPE);
    EXPECT(ff_op_attention(g_be, &qf, &qf, &qf, NULL, 1.0f, FF_HEADS_COUNT, &ao, &fc_err), FF_ERR_ARG);
    tt_free(&x, &xb, &o4, &sh, &bad, &w, &o, &o4b, &lw, &lo, &q, &qf, &ao, &q2, &k2, &kbad, NULL);
}

int main(void) {
    ff_err err = {0};
    if (ff_backend_cpu_create(0, &g_be, &err)) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_attention_cases);
    FF_RUN(test_attention_routes);
    FF_RUN(test_linear_act_cases);
    FF_RUN(test_norm_modulate);
    FF_RUN(test_qk_norm_rope);
    FF_RUN(test_gate_residual);
    FF_RUN(test_fused_equals_unfused);
    FF_RUN(test_validation);
    ff_backend_free(g_be);
    return ff_test_summary();
}
