/* cpu_attention: scaled dot-product attention on the CPU backend, in blocks
 * of keys with an online softmax (the FlashAttention recurrence), so memory
 * is O(block) per thread and the Lq x Lk score matrix never exists.
 *
 * Work item = (batch, head, block of QB queries); each thread keeps, per
 * query of its block, the running max m, the running sum l of exp(s - m) and
 * the running weighted sum of values acc. For every block of KB keys:
 *   m' = max(m, max_j s_j); acc = acc * exp(m - m') + sum_j exp(s_j - m') v_j
 * and out = acc / l at the end. Scores that are all -inf so far contribute
 * nothing (exp(-inf - -inf) would be NaN), and a row that stays all -inf
 * gives zeros, as ops.h specifies.
 * Not here: validation, broadcasting of the bias shape (kernels/ops.c). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

#define QB 32  /* queries per work item */
#define KB 128 /* keys per block: K and V blocks (KB x D) stay in L2 */

typedef struct {
    int64_t b, h, lq, lk, d, dv;
    float scale;
    const float *q, *k, *v, *bias;
    int64_t bs[4]; /* bias strides in elements, 0 where it broadcasts */
    float *out;
} sdpa_args;

/* One (batch, head, query block); ws holds QB*KB scores, QB*Dv acc, 2*QB m/l. */
static void sdpa_block(const sdpa_args *a, int64_t bi, int64_t hi, int64_t q0, int64_t qn, float *ws) {
    float *sc = ws, *acc = sc + QB * KB, *m = acc + QB * a->dv, *l = m + QB;
    const int64_t bh = bi * a->h + hi;
    const float *q = a->q + (bh * a->lq + q0) * a->d;
    const float *k = a->k + bh * a->lk * a->d, *v = a->v + bh * a->lk * a->dv;
    const float *bias = a->bias ? a->bias + bi * a->bs[0] + hi * a->bs[1] + q0 * a->bs[2] : NULL;
    for (int64_t i = 0; i < qn; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    memset(acc, 0, (size_t)(qn * a->dv) * sizeof(float));
    for (int64_t k0 = 0; k0 < a->lk; k0 += KB) {
        const int64_t kn = a->lk - k0 < KB ? a->lk - k0 : KB;
        for (int64_t i = 0; i < qn; i++) {
            float *s = sc + i * KB;
            const float *qi = q + i * a->d;
            const float *brow = bias ? bias + i * a->bs[2] + k0 * a->bs[3] : NULL;
            float mx = -INFINITY;
            for (int64_t j = 0; j < kn; j++) {
                float x = cpu_dot(qi, k + (k0 + j) * a->d, a->d) * a->scale;
                if (brow) x += brow[j * a->bs[3]];
                s[j] = x;
                mx = x > mx ? x : mx;
            }
            const float mnew = mx > m[i] ? mx : m[i];
            if (mnew == -INFINITY) continue; /* every score so far is -inf */
            float *ai = acc + i * a->dv;
            if (m[i] != mnew) {
                const float corr = expf(m[i] - mnew); /* 0 when m was -inf */
                l[i] *= corr;
                cpu_scal(ai, corr, a->dv);
                m[i] = mnew;
            }
            float li = 0.0f;
            for (int64_t j = 0; j < kn; j++) {
                const float p = expf(s[j] - mnew);
                li += p;
                if (p != 0.0f) cpu_axpy(ai, p, v + (k0 + j) * a->dv, a->dv);
            }
            l[i] += li;
        }
    }
    float *o = a->out + (bh * a->lq + q0) * a->dv;
    for (int64_t i = 0; i < qn; i++) {
        const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f; /* all -inf: zeros */
        for (int64_t j = 0; j < a->dv; j++) o[i * a->dv + j] = acc[i * a->dv + j] * inv;
    }
}

ff_status cpu_sdpa(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v, const ff_tensor *bias,
                   const int64_t *bias_shape, float scale, ff_tensor *out, ff_err *err) {
    sdpa_args a = {
        .b = q->shape[0], .h = q->shape[1], .lq = q->shape[2], .lk = k->shape[2],
        .d = q->shape[3], .dv = v->shape[3], .scale = scale,
        .q = q->data, .k = k->data, .v = v->data, .bias = bias ? bias->data : NULL, .out = out->data,
    };
    if (bias) { /* contiguous strides of the expanded bias shape, 0 on broadcast dims */
        const int64_t full[4] = {a.b, a.h, a.lq, a.lk};
        int64_t s = 1;
        for (int i = 3; i >= 0; i--) {
            a.bs[i] = (bias_shape[i] == 1 && full[i] != 1) ? 0 : s;
            s *= bias_shape[i];
        }
    }
    const int nt = cpu_threads(cpu_ctx_of(be));
    const int64_t nqb = (a.lq + QB - 1) / QB, items = a.b * a.h * nqb;
    const int nthr = items < nt ? (int)items : nt;
    const size_t per_thread = (size_t)(QB * KB + QB * a.dv + 2 * QB);
    float *ws = malloc(per_thread * (size_t)nthr * sizeof(float));
    if (!ws)
        return ff_err_set(err, FF_ERR_NOMEM, "cpu sdpa: cannot allocate %zu bytes of workspace",
                          per_thread * (size_t)nthr * sizeof(float));
#pragma omp parallel for num_threads(nthr) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        const int64_t bh = it / nqb, q0 = (it % nqb) * QB;
        sdpa_block(&a, bh / a.h, bh % a.h, q0, a.lq - q0 < QB ? a.lq - q0 : QB,
                   ws + per_thread * (size_t)omp_get_thread_num());
    }
    free(ws);
    return FF_OK;
}
