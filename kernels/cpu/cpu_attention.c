/* cpu_attention: scaled dot-product attention on the CPU backend, in blocks
 * of keys with an online softmax (the FlashAttention recurrence), on the
 * GEMM micro-kernel (cpu_gemm.c) and cpu_vec's column kernels, so memory is
 * O(block) per thread and the Lq x Lk score matrix never exists.
 *
 * Layouts (mr x nr: the micro-kernel's tile, e.g. 12 x 32 on AVX-512):
 *  - K and V of a head are packed once, for all its query blocks: K in
 *    panels of mr keys (for each channel, mr keys), V in panels of mr
 *    value channels (for each key, mr channels).
 *  - A work item is (batch, head, block of QB queries); its Q is packed in
 *    panels of nr queries (for each channel, nr queries).
 *  - Scores are computed transposed, S^T = scale * K Q^T, into panels of
 *    (keys x nr queries): a query's scores are a column, so the online
 *    softmax (column max, exp, column sum) is plain 16-lane vector work,
 *    and a panel of probabilities is exactly the packed B operand of the
 *    next product, O^T += V^T P^T (no repacking).
 * Per query: m' = max(m, max_j s_j); acc = acc * exp(m - m') + P V;
 * l = l * exp(m - m') + sum_j p_j; out = acc / l. A query whose scores are
 * all -inf so far is shifted by 0 instead of -inf (exp gives 0, never
 * NaN), and one that stays so gives zeros, as ops.h specifies.
 *
 * Every query block is computed the same way whatever the thread count
 * (the split into work items only decides which thread does it).
 * Not here: validation, broadcasting of the bias shape (kernels/ops.c). */
#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

#define QB 128 /* queries per work item: a multiple of every micro-kernel's nr */
#define KB 256 /* keys per block, rounded down to a multiple of mr: a score panel (KB x nr) stays in L2 */

typedef struct {
    const cpu_ctx *ctx;
    const cpu_ukernel *u;
    int64_t b, h, lq, lk, d, dv;
    float scale;
    const float *q, *k, *v, *bias;
    int64_t bs[4]; /* bias strides in elements, 0 where it broadcasts */
    float *out;
    int64_t kb;               /* keys per block: KB rounded down to a multiple of mr */
    int64_t kpanels, vpanels; /* ceil(lk / mr), ceil(dv / mr) */
    size_t kp, vp;            /* floats of one head's packed K, V */
} sdpa_args;

/* Per-thread workspace. */
typedef struct {
    float *qp;  /* QB x d, panels of nr queries */
    float *s;   /* QB / nr panels of (kpanels_blk * mr) x nr scores */
    float *o;   /* (vpanels * mr) x QB: O^T */
    float *m, *l, *mx, *shift, *corr, *sum;
} sdpa_ws;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

/* One head's K and V into their panels (zeros past lk and dv). */
static void pack_head(const sdpa_args *a, int64_t bh, float *kp, float *vp) {
    const int mr = a->u->mr;
    const float *k = a->k + bh * a->lk * a->d, *v = a->v + bh * a->lk * a->dv;
    for (int64_t p = 0; p < a->kpanels; p++) {
        float *dst = kp + p * mr * a->d;
        const int64_t rows = min64(mr, a->lk - p * mr);
        for (int64_t c = 0; c < a->d; c++) {
            for (int64_t r = 0; r < rows; r++) dst[c * mr + r] = k[(p * mr + r) * a->d + c];
            for (int64_t r = rows; r < mr; r++) dst[c * mr + r] = 0.0f;
        }
    }
    for (int64_t p = 0; p < a->vpanels; p++) {
        float *dst = vp + p * mr * a->lk;
        const int64_t cols = min64(mr, a->dv - p * mr);
        for (int64_t j = 0; j < a->lk; j++) {
            memcpy(dst + j * mr, v + j * a->dv + p * mr, (size_t)cols * sizeof(float));
            for (int64_t r = cols; r < mr; r++) dst[j * mr + r] = 0.0f;
        }
    }
}

/* ukernel into c (mr x nr, row stride ldc) over depth [0, depth) in blocks of u->kc. */
static void tile(const cpu_ukernel *u, int64_t depth, const float *a, const float *b, float *c, int64_t ldc,
                 float alpha, int accumulate) {
    for (int64_t pc = 0; pc < depth; pc += u->kc) {
        const int64_t kc = min64(u->kc, depth - pc);
        u->fn(kc, a + pc * u->mr, b + pc * u->nr, c, ldc, alpha, accumulate || pc > 0);
    }
}

static void sdpa_item(const sdpa_args *a, int64_t bh, int64_t q0, int64_t qn, const float *kp, const float *vp,
                      const sdpa_ws *ws) {
    const cpu_ukernel *u = a->u;
    const int mr = u->mr, nr = u->nr;
    const int64_t bi = bh / a->h, hi = bh % a->h, npan = round_up(qn, nr) / nr, qbp = npan * nr;
    const int64_t kbr = a->kb, dvr = a->vpanels * mr;
    const float *q = a->q + (bh * a->lq + q0) * a->d;
    const float *bias = a->bias ? a->bias + bi * a->bs[0] + hi * a->bs[1] + q0 * a->bs[2] : NULL;
    for (int64_t p = 0; p < npan; p++) { /* Q^T panels, zeros past qn */
        float *dst = ws->qp + p * nr * a->d;
        const int64_t cols = min64(nr, qn - p * nr);
        for (int64_t c = 0; c < a->d; c++) {
            for (int64_t i = 0; i < cols; i++) dst[c * nr + i] = q[(p * nr + i) * a->d + c];
            for (int64_t i = cols; i < nr; i++) dst[c * nr + i] = 0.0f;
        }
    }
    for (int64_t i = 0; i < qbp; i++) ws->m[i] = -INFINITY, ws->l[i] = 0.0f;
    memset(ws->o, 0, (size_t)(dvr * qbp) * sizeof(float));
    for (int64_t k0 = 0; k0 < a->lk; k0 += kbr) {
        const int64_t kn = min64(kbr, a->lk - k0), ktiles = (kn + mr - 1) / mr;
        for (int64_t p = 0; p < npan; p++) { /* S^T panel p = scale * K_blk Q_p^T */
            float *sp = ws->s + p * kbr * nr;
            for (int64_t t = 0; t < ktiles; t++)
                tile(u, a->d, kp + (k0 / mr + t) * mr * a->d, ws->qp + p * nr * a->d, sp + t * mr * nr, nr,
                     a->scale, 0);
            if (bias) /* rows are keys, columns queries */
                for (int64_t j = 0; j < kn; j++)
                    for (int64_t i = 0; i < min64(nr, qn - p * nr); i++)
                        sp[j * nr + i] += bias[(p * nr + i) * a->bs[2] + (k0 + j) * a->bs[3]];
        }
        int any_rescale = 0;
        for (int64_t p = 0; p < npan; p++) { /* online softmax, a panel of nr queries at a time */
            float *sp = ws->s + p * kbr * nr, *m = ws->m + p * nr, *l = ws->l + p * nr;
            float *corr = ws->corr + p * nr;
            a->ctx->vec->col_max(sp, kn, nr, ws->mx);
            for (int c = 0; c < nr; c++) {
                const float mnew = ws->mx[c] > m[c] ? ws->mx[c] : m[c];
                corr[c] = m[c] == mnew ? 1.0f : expf(m[c] - mnew); /* 0 when m was -inf */
                any_rescale |= corr[c] != 1.0f && l[c] != 0.0f;
                m[c] = mnew;
                ws->shift[c] = mnew == -INFINITY ? 0.0f : mnew;
            }
            a->ctx->vec->col_exp_sum(sp, kn, nr, ws->shift, ws->sum);
            for (int c = 0; c < nr; c++) l[c] = l[c] * corr[c] + ws->sum[c];
        }
        if (any_rescale) /* acc *= corr, column by column of O^T */
            for (int64_t r = 0; r < a->dv; r++)
                for (int64_t i = 0; i < qbp; i++) ws->o[r * qbp + i] *= ws->corr[i];
        /* O^T += V_blk^T P^T: B panels are the probability panels as they are */
        const int64_t vsub = k0 * mr; /* key k0 in a V panel */
        for (int64_t p = 0; p < npan; p++)
            for (int64_t t = 0; t < a->vpanels; t++)
                u->fn(kn, vp + t * mr * a->lk + vsub, ws->s + p * kbr * nr, ws->o + t * mr * qbp + p * nr, qbp,
                      1.0f, 1);
    }
    float *o = a->out + (bh * a->lq + q0) * a->dv;
    for (int64_t i = 0; i < qn; i++) {
        const float inv = ws->l[i] > 0.0f ? 1.0f / ws->l[i] : 0.0f; /* all -inf: zeros */
        for (int64_t r = 0; r < a->dv; r++) o[i * a->dv + r] = ws->o[r * qbp + i] * inv;
    }
}

ff_status cpu_sdpa(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v, const ff_tensor *bias,
                   const int64_t *bias_shape, float scale, ff_tensor *out, ff_err *err) {
    const cpu_ctx *ctx = cpu_ctx_of(be);
    sdpa_args a = {
        .ctx = ctx, .u = &ctx->ukr,
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
    const int mr = a.u->mr;
    assert(QB % a.u->nr == 0 && a.u->nr % 8 == 0 && a.u->nr <= 64);
    a.kb = KB / mr * mr;
    a.kpanels = (a.lk + mr - 1) / mr, a.vpanels = (a.dv + mr - 1) / mr;
    a.kp = (size_t)(a.kpanels * mr * a.d), a.vp = (size_t)(a.vpanels * mr * a.lk);
    const int64_t heads = a.b * a.h, nqb = (a.lq + QB - 1) / QB;
    const int nt = cpu_threads(ctx);
    /* heads are packed a group at a time: enough items for every thread,
     * and K / V copies of a few heads, not of all of them */
    int64_t group = heads < nt ? heads : nt;
    if (group < 1) group = 1;
    const size_t per_thread = (size_t)(QB * a.d + QB * a.kb + a.vpanels * mr * QB + 6 * QB);
    const size_t floats = (a.kp + a.vp) * (size_t)group + per_thread * (size_t)nt;
    float *buf = aligned_alloc(64, ((floats * sizeof(float)) + 63) / 64 * 64);
    if (!buf) return ff_err_set(err, FF_ERR_NOMEM, "cpu sdpa: cannot allocate %zu bytes of workspace", floats * 4);
    float *packs = buf, *wsb = buf + (a.kp + a.vp) * (size_t)group;
    for (int64_t h0 = 0; h0 < heads; h0 += group) {
        const int64_t gn = min64(group, heads - h0);
#pragma omp parallel for num_threads(nt) if (gn > 1)
        for (int64_t g = 0; g < gn; g++) pack_head(&a, h0 + g, packs + (a.kp + a.vp) * (size_t)g,
                                                   packs + (a.kp + a.vp) * (size_t)g + a.kp);
        const int64_t items = gn * nqb;
        const int nthr = items < nt ? (int)items : nt;
#pragma omp parallel for num_threads(nthr) schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            float *base = wsb + per_thread * (size_t)omp_get_thread_num();
            const sdpa_ws ws = {
                .qp = base, .s = base + QB * a.d, .o = base + QB * a.d + QB * a.kb,
                .m = base + QB * a.d + QB * a.kb + a.vpanels * mr * QB,
            };
            sdpa_ws w = ws;
            w.l = w.m + QB, w.mx = w.l + QB, w.shift = w.mx + QB, w.corr = w.shift + QB, w.sum = w.corr + QB;
            const int64_t g = it / nqb, q0 = (it % nqb) * QB;
            const float *kp = packs + (a.kp + a.vp) * (size_t)g;
            sdpa_item(&a, h0 + g, q0, min64(QB, a.lq - q0), kp, kp + a.kp, &w);
        }
    }
    free(buf);
    return FF_OK;
}
