/* test_flash_cuda: the CUDA backend's new kernels on cuda:0 against double
 * references and the CPU backend:
 *  - BF16 flash attention (cuda_flash.cu) and the F32 kernel with head
 *    layouts: every case of test_fused_cases.h (odd lengths, masks and a
 *    fully masked row, batch 2, both layouts, D != Dv, heads of 16..128,
 *    F32/BF16 operands and outputs, ff_op_sdpa's routing, the >128 F32
 *    fallback), then the same case on the CPU: rel_l2(cuda, cpu) <= 5e-3;
 *    and multi-tile shapes (1031 keys: the cp.async double buffer, the
 *    element-wise loader of unaligned rows, F32 operands) against the CPU;
 *  - linear_act through cuBLASLt epilogues (bias, GELU, bias + GELU, SiLU)
 *    and its generic path, at small and 1.3B-width shapes;
 *  - norm_modulate, qk_norm_rope, gate_residual;
 *  - conv3d through cuDNN in FF_PREC_BF16 (TF32) and FF_PREC_BF16_ALL:
 *    within the class of the CPU's F32 conv and really on cuDNN (the
 *    backend's counters), or an explicit SKIP line when cuDNN is absent;
 *  - group_norm split over several blocks per group, against the CPU.
 * Where there is no CUDA device or the build has none, it says so and
 * exits 77 (ctest: skipped): it never passes without running on a GPU. */
#include <string.h>

#include "tests/kernels/test_fused_cases.h"

#define TOL_VS_CPU 5e-3 /* two BF16 computations of one formula, different accumulation order */

static ff_backend *g_cpu, *g_cuda;

static void vs_cpu(const char *what, const ff_tensor *cuda_out, const ff_tensor *cpu_out, double tol) {
    const double r = ff_rel_l2(cuda_out, cpu_out);
    FF_CHECK_MSG(r >= 0.0 && r <= tol, "%s: rel_l2(cuda, cpu) = %.3g > %.0e", what, r, tol);
}

static void test_attention_cases(void) {
    for (int i = 0; i < FC_N_ATTN; i++) {
        const fc_attn *c = &fc_attn_cases[i];
        fc_attn_result g = fc_attention(g_cuda, c, 100u + (unsigned)i);
        fc_check_attn("cuda:0", c, &g);
        fc_attn_result h = fc_attention(g_cpu, c, 100u + (unsigned)i);
        vs_cpu(c->name, &g.out, &h.out, g.bf16 ? TOL_VS_CPU : 1e-5);
        fc_attn_free(&g);
        fc_attn_free(&h);
    }
}

/* Shapes with many key tiles, against the CPU backend only (double references would be slow). */
static void test_attention_multitile(void) {
    static const fc_attn cs[] = {
        {"bf16 blhd 2x3x1031x1031 d128 (cp.async)", 2, 3, 1031, 1031, 128, 128, FF_HEADS_BLHD, FF_BF16, FF_BF16, 0,
         FF_PREC_BF16, 0, 1},
        {"bf16 bhld 1x2x300x777 d64 keymask", 1, 2, 300, 777, 64, 64, FF_HEADS_BHLD, FF_BF16, FF_F32, FC_BIAS_KEYMASK,
         FF_PREC_BF16, 0, 1},
        {"f32 ops bf16 prec 2x2x257x600 d128 (staged rounding)", 2, 2, 257, 600, 128, 128, FF_HEADS_BHLD, FF_F32,
         FF_F32, 0, FF_PREC_BF16, 1, 1},
        {"bf16 blhd 1x2x130x515 d36 (unaligned rows)", 1, 2, 130, 515, 36, 36, FF_HEADS_BLHD, FF_BF16, FF_F32, 0,
         FF_PREC_BF16, 0, 1},
        {"f32 blhd 1x2x200x700 d384 (F32 kernel, strided)", 1, 2, 200, 700, 384, 384, FF_HEADS_BLHD, FF_F32, FF_F32, 0,
         FF_PREC_F32, 0, 1},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        fc_attn_result g = fc_attention(g_cuda, &cs[i], 900u + (unsigned)i);
        fc_attn_result h = fc_attention(g_cpu, &cs[i], 900u + (unsigned)i);
        const double r = ff_rel_l2(&g.out, &h.out);
        fprintf(stderr, "  attention %-52s rel_l2(cuda, cpu) %.2e\n", cs[i].name, r);
        vs_cpu(cs[i].name, &g.out, &h.out, g.bf16 ? TOL_VS_CPU : 1e-5);
        fc_attn_free(&g);
        fc_attn_free(&h);
    }
}

static void test_linear_act(void) {
    for (int i = 0; i < FC_N_LIN; i++) {
        fc_lin_result g = fc_linear_act(g_cuda, &fc_lin_cases[i], 200u + (unsigned)i);
        fc_check_lin("cuda:0", &fc_lin_cases[i], &g);
        fc_lin_free(&g);
    }
    /* 1.3B widths: FFN in (GELU, bias) and out, BF16 in and out, against the CPU */
    static const fc_lin big[] = {
        {"ffn_in 700x1536->2240 gelu bf16", 700, 1536, 2240, FF_BF16, FF_BF16, FF_BF16, FF_BF16, FF_ACT_GELU_TANH,
         FF_PREC_BF16},
        {"ffn_out 700x2240->1536 f32 out", 700, 2240, 1536, FF_BF16, FF_BF16, FF_BF16, FF_F32, FF_ACT_NONE,
         FF_PREC_BF16},
        {"f32 x, bf16 out, f32 bias 513x1536->1536", 513, 1536, 1536, FF_F32, FF_BF16, FF_F32, FF_BF16, FF_ACT_NONE,
         FF_PREC_BF16},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        fc_lin_result g = fc_linear_act(g_cuda, &big[i], 700u + (unsigned)i);
        fc_lin_result h = fc_linear_act(g_cpu, &big[i], 700u + (unsigned)i);
        const double r = ff_rel_l2(&g.out, &h.out);
        fprintf(stderr, "  linear_act %-46s rel_l2(cuda, cpu) %.2e, vs rounded inputs %.2e\n", big[i].name, r,
                tt_rel(&g.out, g.rounded));
        vs_cpu(big[i].name, &g.out, &h.out, big[i].out == FF_BF16 ? TOL_VS_CPU : 1e-4);
        fc_lin_free(&g);
        fc_lin_free(&h);
    }
}

static void test_fused_elementwise(void) {
    fc_result r;
    r = fc_norm_modulate(g_cuda, 2, 37, 1536, 0, 2, FF_BF16, 1);
    fc_check("cuda:0", "norm_modulate 2x37x1536 (B,1,D) -> bf16", &r, FC_TOL_ROUNDED);
    fc_free(&r);
    r = fc_norm_modulate(g_cuda, 1, 9, 13000, 1, 3, FF_F32, 2); /* a row too long for the shared-memory cache */
    fc_check("cuda:0", "norm_modulate 1x9x13000 affine (B,L,D)", &r, FC_TOL_F32);
    fc_free(&r);
    r = fc_norm_modulate(g_cuda, 2, 5, 33, 1, 1, FF_F32, 3);
    fc_check("cuda:0", "norm_modulate 2x5x33", &r, FC_TOL_F32);
    fc_free(&r);
    r = fc_qk_norm_rope(g_cuda, 2, 33, 12, 128, 1, 1, FF_HEADS_BLHD, FF_BF16, FF_BF16, 4);
    fc_check("cuda:0", "qk_norm_rope 2x33x12x128 blhd bf16", &r, FC_TOL_ROUNDED);
    fc_free(&r);
    r = fc_qk_norm_rope(g_cuda, 1, 17, 3, 24, 0, 1, FF_HEADS_BHLD, FF_F32, FF_F32, 5);
    fc_check("cuda:0", "qk_norm_rope 1x17x3x24 bhld f32", &r, FC_TOL_F32);
    fc_free(&r);
    r = fc_qk_norm_rope(g_cuda, 2, 7, 2, 6, 1, 0, FF_HEADS_BHLD, FF_BF16, FF_F32, 6);
    fc_check("cuda:0", "qk_norm_rope 2x7x2x6 no rope", &r, FC_TOL_F32);
    fc_free(&r);
    r = fc_gate_residual(g_cuda, 2, 33, 1536, 2, FF_BF16, 1, 7);
    fc_check("cuda:0", "gate_residual 2x33x1536 bf16 x in place (vector path)", &r, FC_TOL_F32);
    fc_free(&r);
    r = fc_gate_residual(g_cuda, 1, 5, 33, 3, FF_F32, 0, 8);
    fc_check("cuda:0", "gate_residual 1x5x33 (scalar path)", &r, FC_TOL_F32);
    fc_free(&r);
    r = fc_gate_residual(g_cuda, 2, 4, 16, 0, FF_F32, 1, 9);
    fc_check("cuda:0", "gate_residual no gate", &r, FC_TOL_F32);
    fc_free(&r);
}

/* ---- conv3d on cuDNN, group_norm ------------------------------------------------------ */

static long long conv_count(const char *key) {
    char info[1024];
    ff_backend_info(g_cuda, info, sizeof info);
    const char *p = strstr(info, key);
    return p ? atoll(p + strlen(key)) : -1;
}

static ff_tensor run_conv(ff_backend *be, ff_precision prec, const ff_tensor *x, const ff_tensor *w,
                          const ff_tensor *b, const int st[3], const int pad[6], const int64_t *os) {
    ff_tensor dx = fc_up(be, x), dw = fc_up(be, w), db = fc_up(be, b), dout = fc_out(be, FF_F32, os, 5);
    fc_prec(be, prec);
    ff_status s = ff_op_conv3d(be, &dx, &dw, &db, st, pad, &dout, &fc_err);
    fc_prec(be, FF_PREC_F32);
    if (s) fc_die("conv3d");
    ff_tensor h = fc_down(be, &dout);
    ff_be_free(be, &dx), ff_be_free(be, &dw), ff_be_free(be, &db);
    return h;
}

static void test_conv_cudnn(void) {
    char info[1024];
    ff_backend_info(g_cuda, info, sizeof info);
    fprintf(stderr, "  %s\n", info);
    if (strstr(info, "no cuDNN")) {
        printf("SKIP cudnn conv: %s\n", strstr(info, "no cuDNN"));
        return;
    }
    static const struct {
        const char *name;
        int64_t x[5];
        int64_t o, k[3];
        int st[3], pad[6];
        ff_dtype wdt;
    } cs[] = {
        {"causal 3x3x3 2x24x5x18x30", {2, 24, 5, 18, 30}, 32, {3, 3, 3}, {1, 1, 1}, {2, 0, 1, 1, 1, 1}, FF_F32},
        {"stride (1,2,2) 1x16x3x33x21 bf16 w", {1, 16, 3, 33, 21}, 16, {3, 3, 3}, {1, 2, 2}, {2, 0, 0, 1, 0, 1}, FF_BF16},
        {"1x1x1 1x64x2x20x24", {1, 64, 2, 20, 24}, 40, {1, 1, 1}, {1, 1, 1}, {0, 0, 0, 0, 0, 0}, FF_F32},
        {"time 3x1x1 1x8x6x10x12", {1, 8, 6, 10, 12}, 8, {3, 1, 1}, {1, 1, 1}, {2, 0, 0, 0, 0, 0}, FF_F32},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        const int64_t C = cs[i].x[1], O = cs[i].o;
        int64_t os[5] = {cs[i].x[0], O, 0, 0, 0};
        for (int d = 0; d < 3; d++)
            os[2 + d] = (cs[i].x[2 + d] + cs[i].pad[2 * d] + cs[i].pad[2 * d + 1] - cs[i].k[d]) / cs[i].st[d] + 1;
        ff_tensor x = tt_rand(31 + (unsigned)i, -1, 1, cs[i].x, 5);
        ff_tensor w = fc_host(cs[i].wdt, S(O, C, cs[i].k[0], cs[i].k[1], cs[i].k[2]), 41 + (unsigned)i, -0.2f, 0.2f);
        ff_tensor b = tt_rand(51 + (unsigned)i, -0.1f, 0.1f, S(O));
        ff_tensor ref = run_conv(g_cpu, FF_PREC_F32, &x, &w, &b, cs[i].st, cs[i].pad, os);
        const long long n0 = conv_count("conv3d: ");
        ff_tensor t32 = run_conv(g_cuda, FF_PREC_BF16, &x, &w, &b, cs[i].st, cs[i].pad, os);
        const long long n1 = conv_count("conv3d: "), f1 = conv_count("by cuDNN, ");
        ff_tensor tb = run_conv(g_cuda, FF_PREC_BF16_ALL, &x, &w, &b, cs[i].st, cs[i].pad, os);
        const long long n2 = conv_count("conv3d: "), f2 = conv_count("by cuDNN, ");
        const double r32 = ff_rel_l2(&t32, &ref), rb = ff_rel_l2(&tb, &ref);
        fprintf(stderr, "  conv3d %-36s tf32 vs f32 %.2e, bf16 vs f32 %.2e (cuDNN calls %lld -> %lld -> %lld; "
                        "bf16-all %s)\n",
                cs[i].name, r32, rb, n0, n1, n2, n2 == n1 + 1 ? "on cuDNN" : "on the im2col fallback");
        FF_CHECK_MSG(n1 == n0 + 1, "conv3d %s: FF_PREC_BF16 did not run on cuDNN (%s)", cs[i].name, info);
        /* BF16 operands with an F32 output: cuDNN or, where it has no such engine, the BF16 im2col path */
        FF_CHECK_MSG(n2 == n1 + 1 || f2 == f1 + 1, "conv3d %s: FF_PREC_BF16_ALL ran on neither path", cs[i].name);
        FF_CHECK_MSG(r32 <= 3e-3, "conv3d %s: TF32 rel_l2 %.3g > 3e-3", cs[i].name, r32);
        FF_CHECK_MSG(rb > FC_MIN_ROUNDED && rb <= FC_TOL_CLASS, "conv3d %s: BF16 rel_l2 %.3g", cs[i].name, rb);
        tt_free(&x, &w, &b, &ref, &t32, &tb, NULL);
    }
}

static void test_group_norm_split(void) {
    /* 64 channels, 32 groups, 4 x 40 x 60 positions: 19200 values per group, several blocks each */
    ff_tensor x = tt_rand(61, -3, 5, S(2, 64, 4, 40, 60)), g = tt_rand(62, 0.5f, 1.5f, S(64)),
              b = tt_rand(63, -0.5f, 0.5f, S(64));
    ff_tensor outs[2];
    ff_backend *bes[2] = {g_cpu, g_cuda};
    for (int s = 0; s < 2; s++) {
        ff_tensor dx = fc_up(bes[s], &x), dg = fc_up(bes[s], &g), db = fc_up(bes[s], &b);
        if (ff_op_group_norm(bes[s], &dx, 32, &dg, &db, 1e-6f, &dx, &fc_err)) fc_die("group_norm"); /* in place */
        outs[s] = fc_down(bes[s], &dx);
        ff_be_free(bes[s], &dg), ff_be_free(bes[s], &db);
    }
    const double r = ff_rel_l2(&outs[1], &outs[0]);
    fprintf(stderr, "  group_norm 2x64x4x40x60 g32 in place: rel_l2(cuda, cpu) %.2e\n", r);
    FF_CHECK(r <= 1e-5);
    tt_free(&x, &g, &b, &outs[0], &outs[1], NULL);
}

int main(void) {
    ff_err err = {0};
    if (!ff_backend_cuda_compiled()) {
        printf("SKIP: built without CUDA\n");
        return 77;
    }
    if (ff_backend_cuda_create(0, &g_cuda, &err)) {
        printf("SKIP: %s\n", err.msg);
        return 77;
    }
    if (ff_backend_cpu_create(0, &g_cpu, &err)) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    char info[1024];
    printf("cuda:0 against double references and the CPU backend: %s\n", ff_backend_info(g_cuda, info, sizeof info));
    FF_RUN(test_attention_cases);
    FF_RUN(test_attention_multitile);
    FF_RUN(test_linear_act);
    FF_RUN(test_fused_elementwise);
    FF_RUN(test_conv_cudnn);
    FF_RUN(test_group_norm_split);
    ff_backend_free(g_cuda);
    ff_backend_free(g_cpu);
    return ff_test_summary();
}
