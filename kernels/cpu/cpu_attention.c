/* cpu_attention: scaled dot-product attention on the CPU backend, in blocks
 * of keys with an online softmax (the FlashAttention recurrence), so memory
 * is O(block) per thread and the Lq x Lk score matrix never exists.
 *
 * Work item = (batch, head, block of QB queries), one per OpenMP iteration.
 * For every block of KB keys the item computes the scores S = scale * Q K^T
 * with the built-in GEMM (serial, in this thread), adds the bias, and keeps
 * per query the running max m, the running sum l of exp(s - m) and the
 * running weighted sum of values acc:
 *   m' = max(m, max_j s_j); acc = acc * exp(m - m') + P V, P = exp(S - m')
 * and out = acc / l at the end. Scores that are all -inf so far contribute
 * nothing (exp(-inf - -inf) would be NaN), and a row that stays all -inf
 * gives zeros, as ops.h specifies.
 * Not here: validation, broadcasting of the bias shape (kernels/ops.c). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

#define QB 128 /* queries per work item: K is packed once per QB queries */
#define KB 256 /* keys per block: S (QB x KB) stays in L2 */

typedef struct {
    const cpu_ctx *ctx;
    int64_t b, h, lq, lk, d, dv;
    float scale;
    const float *q, *k, *v, *bias;
    int64_t bs[4]; /* bias strides in elements, 0 where it broadcasts */
    float *out;
} sdpa_args;

/* Workspace of one thread: S, acc, m, l and the GEMM's packing space. */
typedef struct {
    float *s, *acc, *m, *l, *pack;
} sdpa_ws;

static cpu_gemm_args qk_gemm(const sdpa_args *a, const float *q, const float *k, int64_t qn, int64_t kn, float *s) {
    return (cpu_gemm_args){
        .batch = 1, .m = qn, .n = kn, .k = a->d, .alpha = a->scale,
        .a = {q, FF_F32, 0, a->d, 0},
        .b = {k, FF_F32, 1, a->d, 0}, /* K rows: op(B) = K^T */
        .c = s, .ldc = KB, .builtin = 1,
    };
}

static cpu_gemm_args pv_gemm(const sdpa_args *a, const float *p, const float *v, int64_t qn, int64_t kn,
                             float *acc) {
    return (cpu_gemm_args){
        .batch = 1, .m = qn, .n = a->dv, .k = kn, .alpha = 1.0f,
        .a = {p, FF_F32, 0, KB, 0},
        .b = {v, FF_F32, 0, a->dv, 0},
        .c = acc, .ldc = a->dv, .accumulate = 1, .builtin = 1,
    };
}

/* Turns row i of S into probabilities against the running max and rescales
 * that row's acc and l; returns 0 when the row has no finite score yet.
 * The max, exp and sum run on cpu_vec (16 lanes at a time). */
static int online_softmax_row(const sdpa_args *a, float *s, int64_t kn, const float *brow, float *m, float *l,
                              float *acc) {
    if (brow) {
        if (a->bs[3] == 1)
            for (int64_t j = 0; j < kn; j++) s[j] += brow[j];
        else
            for (int64_t j = 0; j < kn; j++) s[j] += brow[0]; /* broadcast along keys */
    }
    const float mx = a->ctx->vec->row_max(s, kn);
    const float mnew = mx > *m ? mx : *m;
    if (mnew == -INFINITY) { /* every score so far is -inf: P = 0 */
        memset(s, 0, (size_t)kn * sizeof(float));
        return 0;
    }
    if (*m != mnew) {
        const float corr = expf(*m - mnew); /* 0 when m was -inf */
        *l *= corr;
        cpu_scal(acc, corr, a->dv);
        *m = mnew;
    }
    float sum;
    a->ctx->vec->exp_shift_sum(s, kn, mnew, &sum);
    *l += sum;
    return 1;
}

static void sdpa_item(const sdpa_args *a, int64_t bi, int64_t hi, int64_t q0, int64_t qn, const sdpa_ws *ws) {
    const int64_t bh = bi * a->h + hi;
    const float *q = a->q + (bh * a->lq + q0) * a->d;
    const float *k = a->k + bh * a->lk * a->d, *v = a->v + bh * a->lk * a->dv;
    const float *bias = a->bias ? a->bias + bi * a->bs[0] + hi * a->bs[1] + q0 * a->bs[2] : NULL;
    for (int64_t i = 0; i < qn; i++) ws->m[i] = -INFINITY, ws->l[i] = 0.0f;
    memset(ws->acc, 0, (size_t)(qn * a->dv) * sizeof(float));
    for (int64_t k0 = 0; k0 < a->lk; k0 += KB) {
        const int64_t kn = a->lk - k0 < KB ? a->lk - k0 : KB;
        cpu_gemm_args g = qk_gemm(a, q, k + k0 * a->d, qn, kn, ws->s);
        cpu_gemm_serial(a->ctx, &g, ws->pack);
        int any = 0;
        for (int64_t i = 0; i < qn; i++)
            any |= online_softmax_row(a, ws->s + i * KB, kn, bias ? bias + i * a->bs[2] + k0 * a->bs[3] : NULL,
                                      ws->m + i, ws->l + i, ws->acc + i * a->dv);
        if (!any) continue;
        g = pv_gemm(a, ws->s, v + k0 * a->dv, qn, kn, ws->acc);
        cpu_gemm_serial(a->ctx, &g, ws->pack);
    }
    float *o = a->out + (bh * a->lq + q0) * a->dv;
    for (int64_t i = 0; i < qn; i++) {
        const float inv = ws->l[i] > 0.0f ? 1.0f / ws->l[i] : 0.0f; /* all -inf: zeros */
        a->ctx->vec->scale_row(ws->acc + i * a->dv, o + i * a->dv, a->dv, inv, NULL);
    }
}

ff_status cpu_sdpa(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v, const ff_tensor *bias,
                   const int64_t *bias_shape, float scale, ff_tensor *out, ff_err *err) {
    sdpa_args a = {
        .ctx = cpu_ctx_of(be),
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
    const int64_t qb = a.lq < QB ? a.lq : QB, kb = a.lk < KB ? a.lk : KB;
    const cpu_gemm_args qk = qk_gemm(&a, NULL, NULL, qb, kb, NULL), pv = pv_gemm(&a, NULL, NULL, qb, kb, NULL);
    size_t pack = cpu_gemm_serial_floats(a.ctx, &qk);
    if (cpu_gemm_serial_floats(a.ctx, &pv) > pack) pack = cpu_gemm_serial_floats(a.ctx, &pv);
    const size_t per_thread = (size_t)(qb * KB + qb * a.dv + 2 * qb) + pack;
    const int nt = cpu_threads(a.ctx);
    const int64_t nqb = (a.lq + QB - 1) / QB, items = a.b * a.h * nqb;
    const int nthr = items < nt ? (int)items : nt;
    float *buf = malloc(per_thread * (size_t)nthr * sizeof(float));
    if (!buf)
        return ff_err_set(err, FF_ERR_NOMEM, "cpu sdpa: cannot allocate %zu bytes of workspace",
                          per_thread * (size_t)nthr * sizeof(float));
#pragma omp parallel for num_threads(nthr) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        float *base = buf + per_thread * (size_t)omp_get_thread_num();
        const sdpa_ws ws = {base, base + qb * KB, base + qb * KB + qb * a.dv, base + qb * KB + qb * a.dv + qb,
                            base + qb * KB + qb * a.dv + 2 * qb};
        const int64_t bh = it / nqb, q0 = (it % nqb) * QB;
        sdpa_item(&a, bh / a.h, bh % a.h, q0, a.lq - q0 < QB ? a.lq - q0 : QB, &ws);
    }
    free(buf);
    return FF_OK;
}
