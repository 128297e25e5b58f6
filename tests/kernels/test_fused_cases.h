/* test_fused_cases: the cases of the fused ops and of BF16 attention
 * (kernels/ops.h, last section), shared by test_fused_ops.c (the CPU
 * backend against double-precision references) and test_flash_cuda.c
 * (cuda:0 against the same references and against the CPU backend).
 *
 * Each fc_* runner builds seeded random host inputs, runs the op on one
 * backend through the public API and returns the downloaded output (as
 * F32) next to two double references: `exact` (the op's formula on the
 * values it was given) and, for BF16 arithmetic, `rounded` (the formula on
 * the BF16-rounded operands, without the rounding of the probabilities or
 * of the output). Test-only: aborts on setup failures. */
#ifndef FF_TEST_FUSED_CASES_H
#define FF_TEST_FUSED_CASES_H

#include <math.h>

#include "tests/kernels/ops_test_util.h"

/* ---- plumbing ---------------------------------------------------------------------- */

static ff_err fc_err;

static void fc_die(const char *what) {
    fprintf(stderr, "test setup: %s: %s\n", what, fc_err.msg);
    abort();
}

/* A host tensor of dtype dt (values uniform in [lo, hi), rounded to dt). */
static ff_tensor fc_host(ff_dtype dt, const int64_t *shape, int nd, unsigned seed, float lo, float hi) {
    ff_tensor f = tt_rand(seed, lo, hi, shape, nd);
    if (dt == FF_F32) return f;
    ff_tensor t = tt_to(&f, dt);
    ff_tensor_free(&f);
    return t;
}

static ff_tensor fc_up(ff_backend *be, const ff_tensor *h) {
    ff_tensor d;
    if (ff_be_alloc(be, &d, h->dtype, h->ndim, h->shape, &fc_err) || ff_be_upload(be, &d, h, &fc_err))
        fc_die("upload");
    return d;
}

static ff_tensor fc_out(ff_backend *be, ff_dtype dt, const int64_t *shape, int nd) {
    ff_tensor d;
    if (ff_be_alloc(be, &d, dt, nd, shape, &fc_err)) fc_die("alloc");
    return d;
}

/* The download of d as an F32 host tensor; frees d. */
static ff_tensor fc_down(ff_backend *be, ff_tensor *d) {
    ff_tensor h = tt_make(d->dtype, d->shape, d->ndim);
    if (ff_be_download(be, &h, d, &fc_err)) fc_die("download");
    ff_be_free(be, d);
    if (h.dtype == FF_F32) return h;
    ff_tensor f = tt_make(FF_F32, h.shape, h.ndim);
    if (ff_tensor_convert(&f, &h, &fc_err)) fc_die("convert");
    ff_tensor_free(&h);
    return f;
}

static double fc_bf(double v) { return ff_bf16_to_f32(ff_f32_to_bf16((float)v)); }

static void fc_prec(ff_backend *be, ff_precision p) {
    if (ff_backend_set_precision(be, p, &fc_err)) fc_die("precision");
}

/* ---- attention ------------------------------------------------------------------- */

enum { FC_BIAS_NONE = 0, FC_BIAS_KEYMASK, FC_BIAS_FULL };

typedef struct {
    const char *name;
    int64_t B, H, Lq, Lk, D, Dv;
    ff_heads_layout layout;
    ff_dtype qkv, out;
    int bias;          /* FC_BIAS_*: KEYMASK (B, 1, 1, Lk) 0 / -inf, FULL (B, H, Lq, Lk) with a masked row */
    ff_precision prec; /* of the backend during the call */
    int via_sdpa;      /* call ff_op_sdpa instead (BHLD, F32 operands only) */
    int no_ref;        /* skip the double references (large shapes compared between backends) */
} fc_attn;

typedef struct {
    ff_tensor out;      /* F32 copy of the op's output, in the case's layout */
    double *exact;      /* the formula on the given operands */
    double *rounded;    /* the formula on BF16-rounded q, k, v (BF16 arithmetic) */
    int64_t masked_row; /* (b, h, i) flat index of a fully masked query row, or -1 */
    int bf16;           /* the case takes the BF16 arithmetic */
} fc_attn_result;

static void fc_attn_free(fc_attn_result *r) {
    ff_tensor_free(&r->out);
    free(r->exact);
    free(r->rounded);
}

/* Offset of (b, h, l, 0) in a layout-ordered (B, H, L, n) operand. */
static int64_t fc_at(ff_heads_layout lay, int64_t H, int64_t L, int64_t n, int64_t b, int64_t h, int64_t l) {
    return lay == FF_HEADS_BLHD ? ((b * L + l) * H + h) * n : ((b * H + h) * L + l) * n;
}

static fc_attn_result fc_attention(ff_backend *be, const fc_attn *c, unsigned seed) {
    const int blhd = c->layout == FF_HEADS_BLHD;
    int64_t qs[4] = {c->B, c->H, c->Lq, c->D}, ks[4] = {c->B, c->H, c->Lk, c->D}, vs[4] = {c->B, c->H, c->Lk, c->Dv},
            os[4] = {c->B, c->H, c->Lq, c->Dv};
    if (blhd) {
        int64_t *all[4] = {qs, ks, vs, os};
        for (int i = 0; i < 4; i++) {
            const int64_t t = all[i][1];
            all[i][1] = all[i][2], all[i][2] = t;
        }
    }
    ff_tensor q = fc_host(c->qkv, qs, 4, seed, -2.0f, 2.0f), k = fc_host(c->qkv, ks, 4, seed + 1, -2.0f, 2.0f),
              v = fc_host(c->qkv, vs, 4, seed + 2, -1.0f, 1.0f);
    ff_tensor bias = {0};
    fc_attn_result r = {.masked_row = -1};
    if (c->bias == FC_BIAS_KEYMASK) {
        bias = tt_zeros(S(c->B, 1, 1, c->Lk));
        for (int64_t b = 0; b < c->B; b++) /* every third key of batch 1 and the last key of every batch */
            for (int64_t j = 0; j < c->Lk; j++)
                if (j == c->Lk - 1 || (b == 1 && j % 3 == 1)) ((float *)bias.data)[b * c->Lk + j] = -INFINITY;
    } else if (c->bias == FC_BIAS_FULL) {
        bias = tt_rand(seed + 3, -3.0f, 1.0f, S(c->B, c->H, c->Lq, c->Lk));
        r.masked_row = (c->B - 1) * c->H * c->Lq + (c->H - 1) * c->Lq + c->Lq / 2;
        for (int64_t j = 0; j < c->Lk; j++) ((float *)bias.data)[r.masked_row * c->Lk + j] = -INFINITY;
    }
    const float scale = (float)(1.0 / sqrt((double)c->D));
    r.bf16 = c->qkv == FF_BF16 || (c->prec != FF_PREC_F32 && c->D <= FF_ATTN_BF16_MAX_HEAD_DIM &&
                                   c->Dv <= FF_ATTN_BF16_MAX_HEAD_DIM);

    /* references in double, (B, H, Lq, Dv) walked in the case's layout */
    const int64_t no = c->B * c->H * c->Lq * c->Dv;
    r.exact = tt_ref(no);
    r.rounded = tt_ref(no);
    double *s = tt_ref(c->Lk), *sr = tt_ref(c->Lk);
    for (int64_t b = 0; b < (c->no_ref ? 0 : c->B); b++)
        for (int64_t h = 0; h < c->H; h++)
            for (int64_t i = 0; i < c->Lq; i++) {
                double m = -INFINITY, mr = -INFINITY;
                const int64_t qo = fc_at(c->layout, c->H, c->Lq, c->D, b, h, i);
                for (int64_t j = 0; j < c->Lk; j++) {
                    const int64_t ko = fc_at(c->layout, c->H, c->Lk, c->D, b, h, j);
                    double dot = 0, dotr = 0;
                    for (int64_t d = 0; d < c->D; d++) {
                        dot += tt_at(&q, qo + d) * tt_at(&k, ko + d);
                        dotr += fc_bf(tt_at(&q, qo + d)) * fc_bf(tt_at(&k, ko + d));
                    }
                    double bb = 0;
                    if (c->bias == FC_BIAS_KEYMASK) bb = ((float *)bias.data)[b * c->Lk + j];
                    if (c->bias == FC_BIAS_FULL) bb = ((float *)bias.data)[((b * c->H + h) * c->Lq + i) * c->Lk + j];
                    s[j] = dot * scale + bb;
                    sr[j] = dotr * scale + bb;
                    m = fmax(m, s[j]);
                    mr = fmax(mr, sr[j]);
                }
                const int64_t oo = fc_at(c->layout, c->H, c->Lq, c->Dv, b, h, i);
                if (m == -INFINITY) continue; /* zeros */
                double l = 0, lr = 0;
                for (int64_t j = 0; j < c->Lk; j++) {
                    s[j] = exp(s[j] - m), l += s[j];
                    sr[j] = exp(sr[j] - mr), lr += sr[j];
                }
                for (int64_t j = 0; j < c->Lk; j++) {
                    const int64_t vo = fc_at(c->layout, c->H, c->Lk, c->Dv, b, h, j);
                    for (int64_t d = 0; d < c->Dv; d++) {
                        r.exact[oo + d] += s[j] / l * tt_at(&v, vo + d);
                        r.rounded[oo + d] += sr[j] / lr * fc_bf(tt_at(&v, vo + d));
                    }
                }
            }
    free(s);
    free(sr);
    /* fully masked row: its flat (b, h, i) index into a layout offset */
    if (r.masked_row >= 0) {
        const int64_t i = r.masked_row % c->Lq, h = (r.masked_row / c->Lq) % c->H, b = r.masked_row / (c->Lq * c->H);
        r.masked_row = fc_at(c->layout, c->H, c->Lq, c->Dv, b, h, i);
    }

    ff_tensor dq = fc_up(be, &q), dk = fc_up(be, &k), dv = fc_up(be, &v), db = {0};
    if (c->bias) db = fc_up(be, &bias);
    ff_tensor dout = fc_out(be, c->out, os, 4);
    /* poison: every element must be written */
    ff_tensor poison = tt_make(c->out, os, 4);
    for (int64_t i = 0; i < no; i++) {
        if (c->out == FF_BF16) ((uint16_t *)poison.data)[i] = 0x7fc0; /* NaN */
        else ((float *)poison.data)[i] = NAN;
    }
    if (ff_be_upload(be, &dout, &poison, &fc_err)) fc_die("poison");
    ff_tensor_free(&poison);
    fc_prec(be, c->prec);
    ff_status st = c->via_sdpa ? ff_op_sdpa(be, &dq, &dk, &dv, c->bias ? &db : NULL, scale, &dout, &fc_err)
                               : ff_op_attention(be, &dq, &dk, &dv, c->bias ? &db : NULL, scale, c->layout, &dout,
                                                 &fc_err);
    fc_prec(be, FF_PREC_F32);
    if (st) fc_die(c->name);
    r.out = fc_down(be, &dout);
    ff_be_free(be, &dq);
    ff_be_free(be, &dk);
    ff_be_free(be, &dv);
    ff_be_free(be, &db);
    tt_free(&q, &k, &v, &bias, NULL);
    return r;
}

/* The cases: odd lengths (no multiple of a tile), head dims that are not a
 * multiple of 16, Dv != D, batch 2, both layouts, masks, every dtype mix,
 * both precisions, ff_op_sdpa's BF16 routing and the >128 F32 fallback. */
static const fc_attn fc_attn_cases[] = {
    {"f32 bhld self 1x2x37x37 d40", 1, 2, 37, 37, 40, 40, FF_HEADS_BHLD, FF_F32, FF_F32, 0, FF_PREC_F32, 0, 0},
    {"f32 blhd cross 2x3x45:19 d24 dv40", 2, 3, 45, 19, 24, 40, FF_HEADS_BLHD, FF_F32, FF_F32, 0, FF_PREC_F32, 0, 0},
    {"bf16-prec f32 ops bhld 2x2x70x70 d64 keymask", 2, 2, 70, 70, 64, 64, FF_HEADS_BHLD, FF_F32, FF_F32,
     FC_BIAS_KEYMASK, FF_PREC_BF16, 0, 0},
    {"bf16 ops blhd 2x3x129x67 d128 -> bf16", 2, 3, 129, 67, 128, 128, FF_HEADS_BLHD, FF_BF16, FF_BF16, 0,
     FF_PREC_BF16, 0, 0},
    {"bf16 ops blhd 1x2x100x131 d128 full bias", 1, 2, 100, 131, 128, 128, FF_HEADS_BLHD, FF_BF16, FF_F32,
     FC_BIAS_FULL, FF_PREC_F32, 0, 0},
    {"bf16 ops bhld 2x1x65x200 d72 dv56 -> bf16", 2, 1, 65, 200, 72, 56, FF_HEADS_BHLD, FF_BF16, FF_BF16,
     FC_BIAS_KEYMASK, FF_PREC_BF16, 0, 0},
    {"bf16 ops bhld 1x4x33x33 d16 (tiny head)", 1, 4, 33, 33, 16, 16, FF_HEADS_BHLD, FF_BF16, FF_F32, 0, FF_PREC_F32,
     0, 0},
    {"sdpa in bf16 precision 2x2x50x77 d128 full bias", 2, 2, 50, 77, 128, 128, FF_HEADS_BHLD, FF_F32, FF_F32,
     FC_BIAS_FULL, FF_PREC_BF16, 1, 0},
    {"sdpa in bf16 precision d384 stays f32", 1, 1, 40, 40, 384, 384, FF_HEADS_BHLD, FF_F32, FF_F32, 0,
     FF_PREC_BF16, 1, 0},
    {"f32 ops blhd in bf16 precision d192 stays f32", 1, 2, 30, 30, 192, 192, FF_HEADS_BLHD, FF_F32, FF_F32, 0,
     FF_PREC_BF16, 0, 0},
    {"bf16 ops blhd single key 1x2x9x1 d32", 1, 2, 9, 1, 32, 32, FF_HEADS_BLHD, FF_BF16, FF_BF16, 0, FF_PREC_BF16, 0, 0},
};
#define FC_N_ATTN ((int)(sizeof fc_attn_cases / sizeof fc_attn_cases[0]))

/* ---- linear_act ------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int64_t M, K, N;
    ff_dtype xdt, wdt, bdt, out; /* bdt FF_DTYPE_COUNT: no bias */
    ff_act_kind act;
    ff_precision prec;
} fc_lin;

typedef struct {
    ff_tensor out;
    double *exact, *rounded; /* on the given / on the BF16-rounded GEMM inputs (act of the F32-exact accumulator) */
    int rounds;              /* the GEMM inputs are rounded (BF16 precision) */
} fc_lin_result;

static void fc_lin_free(fc_lin_result *r) {
    ff_tensor_free(&r->out);
    free(r->exact);
    free(r->rounded);
}

static double fc_act(ff_act_kind a, double v) {
    if (a == FF_ACT_GELU_TANH) return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    if (a == FF_ACT_SILU) return v / (1.0 + exp(-v));
    return v;
}

static fc_lin_result fc_linear_act(ff_backend *be, const fc_lin *c, unsigned seed) {
    /* inputs scaled so that pre-activations span about [-3, 3] (GELU's curved part) */
    const float a = (float)sqrt(3.0 / (double)c->K);
    ff_tensor x = fc_host(c->xdt, S(c->M, c->K), seed, -1.7f, 1.7f);
    ff_tensor w = fc_host(c->wdt, S(c->N, c->K), seed + 1, -2 * a, 2 * a);
    ff_tensor b = {0};
    if (c->bdt != FF_DTYPE_COUNT) b = fc_host(c->bdt, S(c->N), seed + 2, -0.5f, 0.5f);
    fc_lin_result r = {.rounds = c->prec != FF_PREC_F32};
    r.exact = tt_ref(c->M * c->N);
    r.rounded = tt_ref(c->M * c->N);
    for (int64_t i = 0; i < c->M; i++)
        for (int64_t j = 0; j < c->N; j++) {
            double acc = 0, accr = 0;
            for (int64_t t = 0; t < c->K; t++) {
                acc += tt_at(&x, i * c->K + t) * tt_at(&w, j * c->K + t);
                accr += fc_bf(tt_at(&x, i * c->K + t)) * fc_bf(tt_at(&w, j * c->K + t));
            }
            const double bb = b.data ? tt_at(&b, j) : 0.0;
            r.exact[i * c->N + j] = fc_act(c->act, acc + bb);
            r.rounded[i * c->N + j] = fc_act(c->act, accr + bb);
        }
    ff_tensor dx = fc_up(be, &x), dw = fc_up(be, &w), db = {0};
    if (b.data) db = fc_up(be, &b);
    ff_tensor dout = fc_out(be, c->out, S(c->M, c->N));
    fc_prec(be, c->prec);
    ff_status st = ff_op_linear_act(be, &dx, &dw, b.data ? &db : NULL, c->act, &dout, &fc_err);
    fc_prec(be, FF_PREC_F32);
    if (st) fc_die(c->name);
    r.out = fc_down(be, &dout);
    ff_be_free(be, &dx);
    ff_be_free(be, &dw);
    ff_be_free(be, &db);
    tt_free(&x, &w, &b, NULL);
    return r;
}

#define FC_NOBIAS FF_DTYPE_COUNT
static const fc_lin fc_lin_cases[] = {
    {"f32 x f32 w gelu f32 out", 37, 96, 70, FF_F32, FF_F32, FF_F32, FF_F32, FF_ACT_GELU_TANH, FF_PREC_F32},
    {"bf16 x bf16 w gelu f32 out (bf16)", 37, 96, 70, FF_BF16, FF_BF16, FF_BF16, FF_F32, FF_ACT_GELU_TANH,
     FF_PREC_BF16},
    {"bf16 x bf16 w bias -> bf16 (bf16)", 130, 64, 48, FF_BF16, FF_BF16, FF_BF16, FF_BF16, FF_ACT_NONE, FF_PREC_BF16},
    {"bf16 x bf16 w gelu -> bf16 (bf16)", 130, 64, 200, FF_BF16, FF_BF16, FF_BF16, FF_BF16, FF_ACT_GELU_TANH,
     FF_PREC_BF16},
    {"f32 x f32 w f32 bias -> bf16 (bf16)", 29, 40, 24, FF_F32, FF_F32, FF_F32, FF_BF16, FF_ACT_NONE, FF_PREC_BF16},
    {"bf16 x f32 w silu f32 out (f32)", 19, 33, 17, FF_BF16, FF_F32, FC_NOBIAS, FF_F32, FF_ACT_SILU, FF_PREC_F32},
    {"f32 x bf16 w no bias silu -> bf16 (bf16)", 64, 128, 96, FF_F32, FF_BF16, FC_NOBIAS, FF_BF16, FF_ACT_SILU,
     FF_PREC_BF16},
};
#define FC_N_LIN ((int)(sizeof fc_lin_cases / sizeof fc_lin_cases[0]))


/* ---- norm_modulate, qk_norm_rope, gate_residual ------------------------------------------ */

typedef struct {
    ff_tensor out;
    double *exact;
} fc_result;

static void fc_free(fc_result *r) {
    ff_tensor_free(&r->out);
    free(r->exact);
}

/* Row (b, l) of a (B|1, L|1, D) host operand, element j. */
static double fc_bl(const ff_tensor *t, int64_t b, int64_t l, int64_t j) {
    const int64_t D = t->shape[2];
    return tt_at(t, ((t->shape[0] > 1 ? b : 0) * t->shape[1] + (t->shape[1] > 1 ? l : 0)) * D + j);
}

/* affine: w and b; mod: 0 none, 1 (1, 1, D), 2 (B, 1, D), 3 (B, L, D) shift/scale. */
static fc_result fc_norm_modulate(ff_backend *be, int64_t B, int64_t L, int64_t D, int affine, int mod, ff_dtype odt,
                                  unsigned seed) {
    ff_tensor x = tt_rand(seed, -2.0f, 3.0f, S(B, L, D)), w = {0}, b = {0}, sh = {0}, sc = {0};
    if (affine) {
        w = tt_rand(seed + 1, 0.5f, 1.5f, S(D));
        b = tt_rand(seed + 2, -0.3f, 0.3f, S(D));
    }
    const int64_t mb = mod >= 2 ? B : 1, ml = mod == 3 ? L : 1;
    if (mod) {
        sh = tt_rand(seed + 3, -0.5f, 0.5f, S(mb, ml, D));
        sc = tt_rand(seed + 4, -0.5f, 0.5f, S(mb, ml, D));
    }
    fc_result r = {.exact = tt_ref(B * L * D)};
    for (int64_t bi = 0; bi < B; bi++)
        for (int64_t li = 0; li < L; li++) {
            const int64_t o = (bi * L + li) * D;
            double m = 0, v = 0;
            for (int64_t j = 0; j < D; j++) m += tt_at(&x, o + j);
            m /= (double)D;
            for (int64_t j = 0; j < D; j++) v += (tt_at(&x, o + j) - m) * (tt_at(&x, o + j) - m);
            const double rs = 1.0 / sqrt(v / (double)D + 1e-6);
            for (int64_t j = 0; j < D; j++) {
                double y = (tt_at(&x, o + j) - m) * rs;
                if (affine) y = y * tt_at(&w, j) + tt_at(&b, j);
                if (mod) y = y * (1.0 + fc_bl(&sc, bi, li, j)) + fc_bl(&sh, bi, li, j);
                r.exact[o + j] = y;
            }
        }
    ff_tensor dx = fc_up(be, &x), dw = {0}, db = {0}, dsh = {0}, dsc = {0};
    if (affine) dw = fc_up(be, &w), db = fc_up(be, &b);
    if (mod) dsh = fc_up(be, &sh), dsc = fc_up(be, &sc);
    ff_tensor dout = fc_out(be, odt, S(B, L, D));
    if (ff_op_norm_modulate(be, &dx, affine ? &dw : NULL, affine ? &db : NULL, mod ? &dsh : NULL, mod ? &dsc : NULL,
                            1e-6f, &dout, &fc_err))
        fc_die("norm_modulate");
    r.out = fc_down(be, &dout);
    ff_be_free(be, &dx), ff_be_free(be, &dw), ff_be_free(be, &db), ff_be_free(be, &dsh), ff_be_free(be, &dsc);
    tt_free(&x, &w, &b, &sh, &sc, NULL);
    return r;
}

static fc_result fc_qk_norm_rope(ff_backend *be, int64_t B, int64_t L, int64_t H, int64_t hd, int affine, int rope,
                                 ff_heads_layout lay, ff_dtype xdt, ff_dtype odt, unsigned seed) {
    const int64_t row = H * hd;
    ff_tensor x = fc_host(xdt, S(B, L, row), seed, -2.0f, 2.0f), w = {0}, cs = {0}, sn = {0};
    if (affine) w = tt_rand(seed + 1, 0.5f, 1.5f, S(row));
    if (rope) { /* real rotations: pairs share an angle */
        cs = tt_zeros(S(L, hd));
        sn = tt_zeros(S(L, hd));
        for (int64_t l = 0; l < L; l++)
            for (int64_t i = 0; i < hd; i += 2) {
                const double th = (double)l * pow(10000.0, -(double)i / (double)hd);
                ((float *)cs.data)[l * hd + i] = ((float *)cs.data)[l * hd + i + 1] = (float)cos(th);
                ((float *)sn.data)[l * hd + i] = ((float *)sn.data)[l * hd + i + 1] = (float)sin(th);
            }
    }
    fc_result r = {.exact = tt_ref(B * L * row)};
    double *y = tt_ref(row);
    for (int64_t b = 0; b < B; b++)
        for (int64_t l = 0; l < L; l++) {
            double ss = 0;
            for (int64_t j = 0; j < row; j++) ss += tt_at(&x, (b * L + l) * row + j) * tt_at(&x, (b * L + l) * row + j);
            const double inv = 1.0 / sqrt(ss / (double)row + 1e-6);
            for (int64_t j = 0; j < row; j++) y[j] = tt_at(&x, (b * L + l) * row + j) * inv * (affine ? tt_at(&w, j) : 1.0);
            for (int64_t h = 0; h < H; h++) {
                const int64_t o = fc_at(lay, H, L, hd, b, h, l);
                for (int64_t i = 0; i < hd; i += 2) {
                    const double x0 = y[h * hd + i], x1 = y[h * hd + i + 1];
                    if (rope) {
                        const double c = tt_at(&cs, l * hd + i), s_ = tt_at(&sn, l * hd + i);
                        r.exact[o + i] = x0 * c - x1 * s_;
                        r.exact[o + i + 1] = x0 * s_ + x1 * c;
                    } else {
                        r.exact[o + i] = x0;
                        r.exact[o + i + 1] = x1;
                    }
                }
            }
        }
    free(y);
    ff_tensor dx = fc_up(be, &x), dw = {0}, dc = {0}, ds = {0};
    if (affine) dw = fc_up(be, &w);
    if (rope) dc = fc_up(be, &cs), ds = fc_up(be, &sn);
    ff_tensor dout = lay == FF_HEADS_BLHD ? fc_out(be, odt, S(B, L, H, hd)) : fc_out(be, odt, S(B, H, L, hd));
    if (ff_op_qk_norm_rope(be, &dx, affine ? &dw : NULL, 1e-6f, rope ? &dc : NULL, rope ? &ds : NULL, lay, &dout,
                           &fc_err))
        fc_die("qk_norm_rope");
    r.out = fc_down(be, &dout);
    ff_be_free(be, &dx), ff_be_free(be, &dw), ff_be_free(be, &dc), ff_be_free(be, &ds);
    tt_free(&x, &w, &cs, &sn, NULL);
    return r;
}

/* gate: 0 none, 1 (1, 1, D), 2 (B, 1, D), 3 (B, L, D); in_place: out is h. */
static fc_result fc_gate_residual(ff_backend *be, int64_t B, int64_t L, int64_t D, int gate, ff_dtype xdt,
                                  int in_place, unsigned seed) {
    ff_tensor h = tt_rand(seed, -2.0f, 2.0f, S(B, L, D)), x = fc_host(xdt, S(B, L, D), seed + 1, -1.0f, 1.0f), g = {0};
    const int64_t gb = gate >= 2 ? B : 1, gl = gate == 3 ? L : 1;
    if (gate) g = tt_rand(seed + 2, -1.0f, 1.0f, S(gb, gl, D));
    fc_result r = {.exact = tt_ref(B * L * D)};
    for (int64_t bi = 0; bi < B; bi++)
        for (int64_t li = 0; li < L; li++)
            for (int64_t j = 0; j < D; j++) {
                const int64_t o = (bi * L + li) * D + j;
                r.exact[o] = tt_at(&h, o) + tt_at(&x, o) * (gate ? fc_bl(&g, bi, li, j) : 1.0);
            }
    ff_tensor dh = fc_up(be, &h), dx = fc_up(be, &x), dg = {0};
    if (gate) dg = fc_up(be, &g);
    ff_tensor dout = in_place ? dh : fc_out(be, FF_F32, S(B, L, D));
    if (ff_op_gate_residual(be, &dh, &dx, gate ? &dg : NULL, &dout, &fc_err)) fc_die("gate_residual");
    r.out = fc_down(be, &dout);
    if (!in_place) ff_be_free(be, &dh);
    ff_be_free(be, &dx), ff_be_free(be, &dg);
    tt_free(&h, &x, &g, NULL);
    return r;
}


/* ---- the checks, with the backend's tolerances -------------------------------------------- */

#define FC_TOL_F32 1e-5      /* F32 arithmetic against double */
#define FC_TOL_ROUNDED 4e-3  /* BF16 arithmetic against the formula on rounded operands (P and out rounding) */
#define FC_TOL_CLASS 1e-2    /* the BF16 accuracy class (ops.h) */
#define FC_MIN_ROUNDED 1e-5  /* below this nothing was rounded */

static void fc_check_attn(const char *bename, const fc_attn *c, const fc_attn_result *r) {
    const double re = tt_rel(&r->out, r->exact), rr = tt_rel(&r->out, r->rounded);
    fprintf(stderr, "  %-8s attention %-48s %s: vs exact %.2e, vs rounded operands %.2e\n", bename, c->name,
            r->bf16 ? "bf16" : "f32 ", re, rr);
    int finite = 1;
    for (int64_t i = 0; i < ff_tensor_numel(&r->out); i++) finite = finite && isfinite(((float *)r->out.data)[i]);
    FF_CHECK_MSG(finite, "%s attention %s: non-finite output (an element was not written, or NaN)", bename, c->name);
    if (!r->bf16) {
        FF_CHECK_MSG(re <= FC_TOL_F32, "%s attention %s: f32 rel_l2 %.3g > %.0e", bename, c->name, re, FC_TOL_F32);
    } else {
        FF_CHECK_MSG(rr <= FC_TOL_ROUNDED, "%s attention %s: bf16 vs rounded operands rel_l2 %.3g > %.0e", bename,
                     c->name, rr, FC_TOL_ROUNDED);
        FF_CHECK_MSG(re <= FC_TOL_CLASS, "%s attention %s: bf16 vs exact rel_l2 %.3g > %.0e", bename, c->name, re,
                     FC_TOL_CLASS);
        if (c->Lk > 1) /* a single key has p = 1: nothing to round */
            FF_CHECK_MSG(rr > FC_MIN_ROUNDED, "%s attention %s: the probabilities were not rounded to bf16 (%.3g)",
                         bename, c->name, rr);
        if (c->qkv == FF_F32)
            FF_CHECK_MSG(re > FC_MIN_ROUNDED, "%s attention %s: q/k/v were not rounded to bf16 (%.3g)", bename,
                         c->name, re);
    }
    if (r->masked_row >= 0) {
        int zero = 1;
        for (int64_t d = 0; d < c->Dv; d++) zero = zero && ((float *)r->out.data)[r->masked_row + d] == 0.0f;
        FF_CHECK_MSG(zero, "%s attention %s: a fully masked row is not zero", bename, c->name);
    }
}

static void fc_check_lin(const char *bename, const fc_lin *c, const fc_lin_result *r) {
    const double re = tt_rel(&r->out, r->exact), rr = tt_rel(&r->out, r->rounded);
    fprintf(stderr, "  %-8s linear_act %-47s: vs exact %.2e, vs rounded inputs %.2e\n", bename, c->name, re, rr);
    /* out BF16 adds its own rounding (~1e-3); an F32 out of rounded inputs is exact up to F32 sums */
    const double tol = c->out == FF_BF16 ? FC_TOL_ROUNDED : FC_TOL_F32;
    FF_CHECK_MSG((r->rounds ? rr : re) <= tol, "%s linear_act %s: rel_l2 %.3g > %.0e", bename, c->name,
                 r->rounds ? rr : re, tol);
    FF_CHECK_MSG(re <= FC_TOL_CLASS, "%s linear_act %s: vs exact rel_l2 %.3g > %.0e", bename, c->name, re, FC_TOL_CLASS);
    if (c->out == FF_F32 && c->act == FF_ACT_GELU_TANH) {
        /* the tanh GELU, not erf's: pointwise, they differ by up to ~5e-4 on [-3, 3] */
        double worst = 0;
        const double *ref = r->rounds ? r->rounded : r->exact;
        for (int64_t i = 0; i < ff_tensor_numel(&r->out); i++)
            worst = fmax(worst, fabs(((float *)r->out.data)[i] - ref[i]));
        FF_CHECK_MSG(worst <= 1e-4, "%s linear_act %s: max |out - ref| %.3g > 1e-4 (which GELU?)", bename, c->name,
                     worst);
    }
}

/* A fused-op result against its double reference. */
static void fc_check(const char *bename, const char *what, const fc_result *r, double tol) {
    const double re = tt_rel(&r->out, r->exact);
    FF_CHECK_MSG(re <= tol, "%s %s: rel_l2 %.3g > %.1g", bename, what, re, tol);
}

#endif
