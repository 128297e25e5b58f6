/* cpu_elementwise: pointwise ops on the CPU backend: unary activations,
 * binary arithmetic with broadcasting, scale, clamp, AdaLN modulate, rope.
 *
 * Each output element depends only on the input elements at the same
 * position (rope: the same channel pair), so out == first input (in place)
 * is safe everywhere. Activations follow the formulas in kernels/ops.h, in
 * float; SiLU, GELU-tanh, exp and modulate run on cpu_vec (vectorised exp,
 * GELU-tanh as v / (1 + exp(-2u)), the same value without tanh's
 * cancellation), the rest in loops the compiler vectorises.
 * Not here: validation and broadcast-shape computation (kernels/ops.c). */
#include <math.h>
#include <omp.h>

#include "kernels/cpu/cpu_internal.h"

#define SPAN 16384 /* elements per OpenMP work item */

static int64_t spans(int64_t n) { return (n + SPAN - 1) / SPAN; }

/* ---- unary ---------------------------------------------------------------- */

static void unary_span(ff_unary_kind kind, const float *x, float *o, int64_t n) {
    switch (kind) {
    case FF_UNARY_SILU:
        for (int64_t i = 0; i < n; i++) o[i] = x[i] / (1.0f + expf(-x[i]));
        break;
    case FF_UNARY_GELU_TANH:
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            o[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        }
        break;
    case FF_UNARY_GELU_ERF:
        for (int64_t i = 0; i < n; i++) o[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
        break;
    case FF_UNARY_RELU:
        for (int64_t i = 0; i < n; i++) o[i] = x[i] > 0.0f ? x[i] : (x[i] == x[i] ? 0.0f : x[i]); /* NaN stays */
        break;
    case FF_UNARY_EXP:
        for (int64_t i = 0; i < n; i++) o[i] = expf(x[i]);
        break;
    case FF_UNARY_QUICK_GELU: /* input * torch.sigmoid(1.702 * input) */
        for (int64_t i = 0; i < n; i++) o[i] = x[i] * (1.0f / (1.0f + expf(-(1.702f * x[i]))));
        break;
    default: break;
    }
}

ff_status cpu_unary(ff_backend *be, ff_unary_kind kind, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    const int64_t n = ff_tensor_numel(x), ns = spans(n);
    const float *xd = x->data;
    float *od = out->data;
    const cpu_vec *v = cpu_ctx_of(be)->vec;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (ns > 1)
    for (int64_t s = 0; s < ns; s++) {
        const int64_t i0 = s * SPAN, len = n - i0 < SPAN ? n - i0 : SPAN;
        if (!v->unary(kind, xd + i0, od + i0, len)) unary_span(kind, xd + i0, od + i0, len);
    }
    return FF_OK;
}

/* ---- binary with broadcasting ---------------------------------------------- */

/* Broadcast iteration space after dropping size-1 dims and merging dims that
 * are laid out contiguously for both operands: (1, L, 1) vs (B, 1, D) stays
 * 3-D, (B, L, D) vs (B, L, D) becomes one dim. Strides are in elements, 0
 * where an operand broadcasts. */
typedef struct {
    int nd;
    int64_t n[FF_MAX_DIMS], sa[FF_MAX_DIMS], sb[FF_MAX_DIMS];
} bcast_iter;

static void contiguous_strides(const int64_t *shape, int nd, int64_t *st) {
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= shape[i];
    }
}

static void bcast_init(bcast_iter *it, int nd, const int64_t *out, const int64_t *as, const int64_t *bs) {
    int64_t sta[FF_MAX_DIMS], stb[FF_MAX_DIMS];
    contiguous_strides(as, nd, sta);
    contiguous_strides(bs, nd, stb);
    it->nd = 0;
    for (int i = 0; i < nd; i++) {
        if (out[i] == 1) continue;
        int64_t sa = as[i] == 1 ? 0 : sta[i], sb = bs[i] == 1 ? 0 : stb[i];
        int k = it->nd - 1;
        if (k >= 0 && it->sa[k] == sa * out[i] && it->sb[k] == sb * out[i]) { /* merge into the previous dim */
            it->n[k] *= out[i];
            it->sa[k] = sa;
            it->sb[k] = sb;
            continue;
        }
        it->n[it->nd] = out[i];
        it->sa[it->nd] = sa;
        it->sb[it->nd] = sb;
        it->nd++;
    }
    if (it->nd == 0) { /* every dim is 1: one element */
        it->nd = 1;
        it->n[0] = 1;
        it->sa[0] = it->sb[0] = 1;
    }
}

/* o[i] = a[i * as] OP b[i * bs] with as, bs in {0, 1}: unit-stride loops
 * for the vectoriser, the broadcast operand hoisted. */
#define BIN_SPAN(OP)                                                                                               \
    do {                                                                                                           \
        if (as && bs)                                                                                              \
            for (int64_t i = 0; i < n; i++) o[i] = a[i] OP b[i];                                                   \
        else if (as) {                                                                                             \
            const float bv = b[0];                                                                                 \
            for (int64_t i = 0; i < n; i++) o[i] = a[i] OP bv;                                                     \
        } else if (bs) {                                                                                           \
            const float av = a[0];                                                                                 \
            for (int64_t i = 0; i < n; i++) o[i] = av OP b[i];                                                     \
        } else {                                                                                                   \
            const float v = a[0] OP b[0];                                                                          \
            for (int64_t i = 0; i < n; i++) o[i] = v;                                                              \
        }                                                                                                          \
    } while (0)

static void binary_span(ff_binary_kind kind, const float *a, int64_t as, const float *b, int64_t bs, float *o,
                        int64_t n) {
    switch (kind) {
    case FF_BIN_ADD: BIN_SPAN(+); break;
    case FF_BIN_SUB: BIN_SPAN(-); break;
    case FF_BIN_MUL: BIN_SPAN(*); break;
    case FF_BIN_DIV: BIN_SPAN(/); break;
    default: break;
    }
}
#undef BIN_SPAN

ff_status cpu_binary(ff_backend *be, ff_binary_kind kind, const ff_tensor *a, const int64_t *a_shape,
                     const ff_tensor *b, const int64_t *b_shape, ff_tensor *out, ff_err *err) {
    bcast_iter it;
    bcast_init(&it, out->ndim, out->shape, a_shape, b_shape);
    const int last = it.nd - 1;
    const int64_t inner = it.n[last], rows = ff_tensor_numel(out) / inner, per_row = spans(inner);
    const float *ad = a->data, *bd = b->data;
    float *od = out->data;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (rows * inner > SPAN)
    for (int64_t item = 0; item < rows * per_row; item++) {
        const int64_t row = item / per_row, j0 = (item % per_row) * SPAN;
        int64_t oa = 0, ob = 0, rem = row;
        for (int d = last - 1; d >= 0; d--) { /* row index -> operand offsets */
            const int64_t idx = rem % it.n[d];
            rem /= it.n[d];
            oa += idx * it.sa[d];
            ob += idx * it.sb[d];
        }
        const int64_t as = it.sa[last], bs = it.sb[last];
        binary_span(kind, ad + oa + j0 * as, as, bd + ob + j0 * bs, bs, od + row * inner + j0,
                    inner - j0 < SPAN ? inner - j0 : SPAN);
    }
    return FF_OK;
}

/* ---- scale, clamp ------------------------------------------------------------ */

ff_status cpu_scale(ff_backend *be, const ff_tensor *x, float alpha, float beta, ff_tensor *out, ff_err *err) {
    const int64_t n = ff_tensor_numel(x);
    const float *xd = x->data;
    float *od = out->data;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (n > SPAN)
    for (int64_t i = 0; i < n; i++) od[i] = alpha * xd[i] + beta;
    return FF_OK;
}

ff_status cpu_clamp(ff_backend *be, const ff_tensor *x, float lo, float hi, ff_tensor *out, ff_err *err) {
    const int64_t n = ff_tensor_numel(x);
    const float *xd = x->data;
    float *od = out->data;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (n > SPAN)
    for (int64_t i = 0; i < n; i++) {
        const float v = xd[i] < lo ? lo : xd[i]; /* comparisons with NaN are false: NaN passes through */
        od[i] = v > hi ? hi : v;
    }
    return FF_OK;
}

/* ---- modulate, rope ---------------------------------------------------------- */

ff_status cpu_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *shift, const ff_tensor *scale,
                       ff_tensor *out, ff_err *err) {
    const int64_t nb = x->shape[0], l = x->shape[1], d = x->shape[2];
    const cpu_vec *v = cpu_ctx_of(be)->vec;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (nb * l * d > SPAN)
    for (int64_t r = 0; r < nb * l; r++) {
        const int64_t bi = r / l, li = r % l;
        /* shift/scale are (B|1, L|1, D): pick their row for (bi, li) */
        const float *sh = (const float *)shift->data +
                          ((shift->shape[0] > 1 ? bi : 0) * shift->shape[1] + (shift->shape[1] > 1 ? li : 0)) * d;
        const float *sc = (const float *)scale->data +
                          ((scale->shape[0] > 1 ? bi : 0) * scale->shape[1] + (scale->shape[1] > 1 ? li : 0)) * d;
        v->modulate_row((const float *)x->data + r * d, (float *)out->data + r * d, d, sh, sc);
    }
    return FF_OK;
}

ff_status cpu_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *cos, const ff_tensor *sin, ff_tensor *out,
                   ff_err *err) {
    const int64_t nb = x->shape[0], l = x->shape[1], h = x->shape[2], d = x->shape[3];
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (nb * l * h * d > SPAN)
    for (int64_t r = 0; r < nb * l * h; r++) {
        const int64_t li = (r / h) % l;
        const float *c = (const float *)cos->data + li * d, *s = (const float *)sin->data + li * d;
        const float *xr = (const float *)x->data + r * d;
        float *orow = (float *)out->data + r * d;
        for (int64_t i = 0; i < d; i += 2) {
            const float x0 = xr[i], x1 = xr[i + 1]; /* both read before either is written: in place is safe */
            orow[i] = x0 * c[i] - x1 * s[i];
            orow[i + 1] = x0 * s[i + 1] + x1 * c[i + 1];
        }
    }
    return FF_OK;
}
