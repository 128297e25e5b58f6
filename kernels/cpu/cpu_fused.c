/* cpu_fused: the CPU reference of the fused ops and the BF16 activation path
 * (kernels/ops.h, last section), and the BF16-precision attention.
 *
 * These are the definitions the CUDA kernels are tested against, written
 * for clarity over speed: each op loads its inputs as F32 (a BF16 tensor
 * widened exactly), computes exactly the unfused sequence its ops.h
 * comment names, in F32 with double statistics like cpu_norm.c, and rounds
 * a BF16 output once to nearest even (ff_f32_to_bf16).
 *
 * Attention in BF16 arithmetic (ff_be_bf16_attn) emulates flash attention
 * on BF16 tensor cores: q, k, v rounded to BF16; per query, the scores
 * s = scale * q.k + bias in F32 (products of BF16 values are exact in F32),
 * m = max s, p = exp(s - m), l = sum p in F32, and out = sum bf16(p) v / l
 * with F32 sums. The GPU rounds p against a running maximum instead of the
 * final one; rounding to BF16 is relative, so the two agree to rounding
 * order. F32 attention with (B, H, L, D) operands is cpu_sdpa itself, so
 * F32 results do not change; other layouts use the same per-row loop in F32.
 * Not here: validation (kernels/ops.c), the unfused ops (cpu_norm.c,
 * cpu_elementwise.c, cpu_matmul.c, cpu_attention.c). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

#define ROWS_PAR 16384 /* elements of work below which a loop stays serial */

static inline float ld_f(const void *p, ff_dtype dt, int64_t i) {
    return dt == FF_BF16 ? cpu_bf16(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline void st_f(void *p, ff_dtype dt, int64_t i, float v) {
    if (dt == FF_BF16) ((uint16_t *)p)[i] = ff_f32_to_bf16(v);
    else ((float *)p)[i] = v;
}

static inline float round_bf16(float v) { return cpu_bf16(ff_f32_to_bf16(v)); }

static ff_status nomem(ff_err *err, const char *what, int64_t n) {
    return ff_err_set(err, FF_ERR_NOMEM, "cpu backend: cannot allocate %lld floats for %s", (long long)n, what);
}

/* A malloc'd F32 copy of n elements of t (any float dtype); NULL on failure. */
static float *widened(const ff_backend *be, const ff_tensor *t, int64_t n) {
    float *f = malloc((size_t)(n > 0 ? n : 1) * sizeof *f);
    if (!f) return NULL;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (n > ROWS_PAR)
    for (int64_t i = 0; i < n; i++) f[i] = ld_f(t->data, t->dtype, i);
    return f;
}

/* ---- linear_act ---------------------------------------------------------------- */

/* The activations of ops.h, as cpu_elementwise.c evaluates them. */
static inline float act_apply(ff_act_kind act, float v) {
    switch (act) {
    case FF_ACT_GELU_TANH: return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    case FF_ACT_SILU: return v / (1.0f + expf(-v));
    default: return v;
    }
}

ff_status cpu_linear_act(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_act_kind act,
                         ff_tensor *out, ff_err *err) {
    const int64_t nx = ff_tensor_numel(x), no = ff_tensor_numel(out);
    ff_tensor xf = *x, of = *out, bf;
    float *xbuf = NULL, *obuf = NULL, *bbuf = NULL;
    ff_status st = FF_OK;
    if (x->dtype != FF_F32) { /* widened exactly: in BF16 precision cpu_linear's rounding leaves it as is */
        if (!(xbuf = widened(be, x, nx))) return nomem(err, "a widened linear input", nx);
        ff_tensor_view(&xf, FF_F32, x->ndim, x->shape, xbuf, x->loc);
    }
    if (b && b->dtype != FF_F32) {
        if (!(bbuf = widened(be, b, b->shape[0]))) {
            st = nomem(err, "a widened bias", b->shape[0]);
            goto done;
        }
        ff_tensor_view(&bf, FF_F32, 1, b->shape, bbuf, b->loc);
        b = &bf;
    }
    if (out->dtype != FF_F32) {
        if (!(obuf = malloc((size_t)no * sizeof *obuf))) {
            st = nomem(err, "a linear accumulator", no);
            goto done;
        }
        ff_tensor_view(&of, FF_F32, out->ndim, out->shape, obuf, out->loc);
    }
    if ((st = cpu_linear(be, &xf, w, b, &of, err))) goto done;
    if (act != FF_ACT_NONE || obuf) {
        const float *acc = of.data;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (no > ROWS_PAR)
        for (int64_t i = 0; i < no; i++) st_f(out->data, out->dtype, i, act_apply(act, acc[i]));
    }
done:
    free(xbuf);
    free(obuf);
    free(bbuf);
    return st;
}

/* ---- norm_modulate, qk_norm_rope, gate_residual -------------------------------------- */

/* Row (b, l) of a (B|1, L|1, D) operand. */
static inline const float *bl_row(const ff_tensor *t, int64_t b, int64_t l, int64_t d) {
    return (const float *)t->data + ((t->shape[0] > 1 ? b : 0) * t->shape[1] + (t->shape[1] > 1 ? l : 0)) * d;
}

ff_status cpu_norm_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                            const ff_tensor *shift, const ff_tensor *scale, float eps, ff_tensor *out, ff_err *err) {
    const int64_t nb = x->shape[0], nl = x->shape[1], d = x->shape[2];
    const float *wd = w ? w->data : NULL, *bd = b ? b->data : NULL;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (nb * nl * d > ROWS_PAR)
    for (int64_t r = 0; r < nb * nl; r++) {
        const float *xr = (const float *)x->data + r * d;
        double s = 0.0, ss = 0.0;
        for (int64_t j = 0; j < d; j++) s += xr[j];
        const double mean = s / (double)d;
        for (int64_t j = 0; j < d; j++) ss += (xr[j] - mean) * (xr[j] - mean);
        const float rstd = (float)(1.0 / sqrt(ss / (double)d + (double)eps));
        const float *sh = shift ? bl_row(shift, r / nl, r % nl, d) : NULL;
        const float *sc = scale ? bl_row(scale, r / nl, r % nl, d) : NULL;
        for (int64_t j = 0; j < d; j++) { /* ff_op_layer_norm, then ff_op_modulate */
            float y = (float)(xr[j] - mean) * rstd;
            if (wd) y *= wd[j];
            if (bd) y += bd[j];
            if (sc) y = y * (1.0f + sc[j]) + sh[j];
            st_f(out->data, out->dtype, r * d + j, y);
        }
    }
    return FF_OK;
}

ff_status cpu_qk_norm_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, const ff_tensor *cos,
                           const ff_tensor *sin, ff_heads_layout layout, ff_tensor *out, ff_err *err) {
    const int64_t nb = x->shape[0], nl = x->shape[1], row = x->shape[2], hd = out->shape[3], nh = row / hd;
    const float *wd = w ? w->data : NULL;
    float *buf = malloc((size_t)(cpu_threads(cpu_ctx_of(be)) * row) * sizeof *buf);
    if (!buf) return nomem(err, "qk_norm_rope rows", cpu_threads(cpu_ctx_of(be)) * row);
#pragma omp parallel num_threads(cpu_threads(cpu_ctx_of(be))) if (nb * nl * row > ROWS_PAR)
    {
        float *y = buf + (int64_t)omp_get_thread_num() * row;
#pragma omp for
        for (int64_t r = 0; r < nb * nl; r++) {
            const int64_t bi = r / nl, li = r % nl;
            double ss = 0.0;
            for (int64_t j = 0; j < row; j++) {
                y[j] = ld_f(x->data, x->dtype, r * row + j);
                ss += (double)y[j] * y[j];
            }
            const float inv = (float)(1.0 / sqrt(ss / (double)row + (double)eps));
            for (int64_t j = 0; j < row; j++) y[j] = wd ? y[j] * inv * wd[j] : y[j] * inv; /* ff_op_rms_norm */
            if (cos) { /* ff_op_rope on each head */
                const float *c = (const float *)cos->data + li * hd, *s = (const float *)sin->data + li * hd;
                for (int64_t h = 0; h < nh; h++)
                    for (int64_t i = 0; i < hd; i += 2) {
                        float *p = y + h * hd + i;
                        const float x0 = p[0], x1 = p[1];
                        p[0] = x0 * c[i] - x1 * s[i];
                        p[1] = x0 * s[i + 1] + x1 * c[i + 1];
                    }
            }
            for (int64_t h = 0; h < nh; h++) {
                const int64_t o = layout == FF_HEADS_BLHD ? r * row + h * hd : ((bi * nh + h) * nl + li) * hd;
                for (int64_t i = 0; i < hd; i++) st_f(out->data, out->dtype, o + i, y[h * hd + i]);
            }
        }
    }
    free(buf);
    return FF_OK;
}

ff_status cpu_gate_residual(ff_backend *be, const ff_tensor *h, const ff_tensor *x, const ff_tensor *gate,
                            ff_tensor *out, ff_err *err) {
    const int64_t nb = h->shape[0], nl = h->shape[1], d = h->shape[2];
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (nb * nl * d > ROWS_PAR)
    for (int64_t r = 0; r < nb * nl; r++) {
        const float *hr = (const float *)h->data + r * d;
        const float *g = gate ? bl_row(gate, r / nl, r % nl, d) : NULL;
        float *o = (float *)out->data + r * d;
        for (int64_t j = 0; j < d; j++) {
            const float xv = ld_f(x->data, x->dtype, r * d + j);
            o[j] = hr[j] + (g ? xv * g[j] : xv); /* ff_op_binary mul, then add */
        }
    }
    return FF_OK;
}

/* ---- attention ------------------------------------------------------------------ */

typedef struct {
    int64_t B, H, Lq, Lk, D, Dv;
    int64_t qs[3], ks[3], vs[3], os[3]; /* element strides over (b, h, l); the last dim is contiguous */
    int64_t bs[4];                      /* bias strides over (B, H, Lq, Lk), 0 where it broadcasts */
} attn_geom;

/* Strides of a (B, H, L, D)-indexed operand stored in `layout`. */
static void layout_strides(ff_heads_layout layout, int64_t H, int64_t L, int64_t D, int64_t s[3]) {
    if (layout == FF_HEADS_BLHD) s[0] = L * H * D, s[1] = D, s[2] = H * D;
    else s[0] = H * L * D, s[1] = L * D, s[2] = D;
}

/* t (indexed by g's strides) gathered into a contiguous (B, H, L, n) F32
 * copy, rounded to BF16 when bf16. */
static float *gather_heads(const ff_backend *be, const ff_tensor *t, const int64_t s[3], int64_t B, int64_t H,
                           int64_t L, int64_t n, int bf16) {
    float *f = malloc((size_t)(B * H * L * n > 0 ? B * H * L * n : 1) * sizeof *f);
    if (!f) return NULL;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (B * H * L * n > ROWS_PAR)
    for (int64_t r = 0; r < B * H * L; r++) {
        const int64_t b = r / (H * L), h = (r / L) % H, l = r % L;
        const int64_t src = b * s[0] + h * s[1] + l * s[2];
        for (int64_t i = 0; i < n; i++) {
            const float v = ld_f(t->data, t->dtype, src + i);
            f[r * n + i] = bf16 ? round_bf16(v) : v;
        }
    }
    return f;
}

/* The per-row attention loop of the top comment, over contiguous (B, H, L, *) copies. */
static ff_status attention_rows(ff_backend *be, const attn_geom *g, const float *q, const float *k, const float *v,
                                const float *bias, float scale, int bf16, ff_tensor *out, ff_err *err) {
    const int nt = cpu_threads(cpu_ctx_of(be));
    const int64_t per = g->Lk + g->Dv;
    float *ws = malloc((size_t)(nt * per) * sizeof *ws);
    if (!ws) return nomem(err, "attention rows", nt * per);
#pragma omp parallel num_threads(nt) if (g->B * g->H * g->Lq * g->Lk > ROWS_PAR)
    {
        float *s = ws + (int64_t)omp_get_thread_num() * per, *acc = s + g->Lk;
#pragma omp for schedule(dynamic, 16)
        for (int64_t r = 0; r < g->B * g->H * g->Lq; r++) {
            const int64_t b = r / (g->H * g->Lq), h = (r / g->Lq) % g->H, i = r % g->Lq, bh = b * g->H + h;
            const float *qr = q + r * g->D;
            float m = -INFINITY;
            for (int64_t j = 0; j < g->Lk; j++) {
                float sc = cpu_dot(qr, k + (bh * g->Lk + j) * g->D, g->D) * scale;
                if (bias) sc += bias[b * g->bs[0] + h * g->bs[1] + i * g->bs[2] + j * g->bs[3]];
                s[j] = sc;
                if (sc > m) m = sc;
            }
            for (int64_t c = 0; c < g->Dv; c++) acc[c] = 0.0f;
            float l = 0.0f;
            if (m != -INFINITY) { /* a row of only -inf scores gives zeros */
                for (int64_t j = 0; j < g->Lk; j++) {
                    const float p = expf(s[j] - m);
                    l += p;
                    if (p != 0.0f) cpu_axpy(acc, bf16 ? round_bf16(p) : p, v + (bh * g->Lk + j) * g->Dv, g->Dv);
                }
            }
            const float inv = l > 0.0f ? 1.0f / l : 0.0f;
            const int64_t o = b * g->os[0] + h * g->os[1] + i * g->os[2];
            for (int64_t c = 0; c < g->Dv; c++) st_f(out->data, out->dtype, o + c, acc[c] * inv);
        }
    }
    free(ws);
    return FF_OK;
}

ff_status cpu_attention(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                        const ff_tensor *bias, const int64_t *bias_shape, float scale, ff_heads_layout layout,
                        ff_tensor *out, ff_err *err) {
    const int blhd = layout == FF_HEADS_BLHD;
    attn_geom g = {.B = q->shape[0], .H = q->shape[blhd ? 2 : 1], .Lq = q->shape[blhd ? 1 : 2],
                   .Lk = k->shape[blhd ? 1 : 2], .D = q->shape[3], .Dv = v->shape[3]};
    const int bf16 = ff_be_bf16_attn(be, q->dtype, g.D, g.Dv);
    if (!bf16 && layout == FF_HEADS_BHLD && q->dtype == FF_F32 && out->dtype == FF_F32)
        return cpu_sdpa(be, q, k, v, bias, bias_shape, scale, out, err); /* the F32 path, unchanged */
    if (g.Lk == 0) { /* no keys: every row is empty */
        memset(out->data, 0, ff_tensor_nbytes(out));
        return FF_OK;
    }
    layout_strides(layout, g.H, g.Lq, g.D, g.qs);
    layout_strides(layout, g.H, g.Lk, g.D, g.ks);
    layout_strides(layout, g.H, g.Lk, g.Dv, g.vs);
    layout_strides(layout, g.H, g.Lq, g.Dv, g.os);
    int64_t stride = 1;
    for (int d = 3; d >= 0; d--) {
        const int64_t n = bias ? bias_shape[d] : 1;
        g.bs[d] = n == 1 ? 0 : stride;
        stride *= n;
    }
    float *qf = gather_heads(be, q, g.qs, g.B, g.H, g.Lq, g.D, bf16);
    float *kf = gather_heads(be, k, g.ks, g.B, g.H, g.Lk, g.D, bf16);
    float *vf = gather_heads(be, v, g.vs, g.B, g.H, g.Lk, g.Dv, bf16);
    ff_status st;
    if (!qf || !kf || !vf) st = nomem(err, "attention operands", g.B * g.H * (g.Lq * g.D + g.Lk * (g.D + g.Dv)));
    else st = attention_rows(be, &g, qf, kf, vf, bias ? bias->data : NULL, scale, bf16, out, err);
    free(qf);
    free(kf);
    free(vf);
    return st;
}

/* ff_op_sdpa: the BF16 arithmetic in the BF16 precisions (ff_be_bf16_attn), cpu_sdpa otherwise. */
ff_status cpu_sdpa_prec(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                        const ff_tensor *bias, const int64_t *bias_shape, float scale, ff_tensor *out, ff_err *err) {
    if (!ff_be_bf16_attn(be, q->dtype, q->shape[3], v->shape[3]))
        return cpu_sdpa(be, q, k, v, bias, bias_shape, scale, out, err);
    return cpu_attention(be, q, k, v, bias, bias_shape, scale, FF_HEADS_BHLD, out, err);
}
