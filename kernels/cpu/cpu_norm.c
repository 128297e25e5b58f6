/* cpu_norm: normalisations and softmax on the CPU backend: group_norm,
 * layer_norm, rms_norm, l2norm_channels (Wan VAE's RMS_norm), softmax.
 *
 * Statistics (sums, means, variances) are accumulated in double and the
 * variance is two-pass, which is at least as accurate as PyTorch's float
 * Welford/cascade sums; the normalised output is then computed in float.
 * The row loops are cpu_vec's (AVX-512 / AVX2 / portable, same bits).
 * Every op reads all of a row's statistics before writing it, so out == x
 * (in place) is safe.
 * Not here: validation (kernels/ops.c). */
#include <math.h>
#include <omp.h>

#include "kernels/cpu/cpu_internal.h"

/* mean and 1/sqrt(biased var + eps) of n values. The mean stays double: x -
 * mean is taken in double, so a large common offset (|mean| >> std) costs no
 * precision before the result is rounded to float. */
static void moments(const cpu_vec *v, const float *x, int64_t n, float eps, double *mean, float *rstd) {
    double m = n ? v->sum(x, n) / (double)n : 0.0;
    double var = n ? v->sumsq(x, n, m) / (double)n : 0.0;
    *mean = m;
    *rstd = (float)(1.0 / sqrt(var + (double)eps));
}

ff_status cpu_group_norm(ff_backend *be, const ff_tensor *x, int groups, const ff_tensor *gamma,
                         const ff_tensor *beta, float eps, ff_tensor *out, ff_err *err) {
    const int64_t nb = x->shape[0], c = x->shape[1], s = cpu_prod(x->shape, 2, x->ndim);
    const int64_t cpg = c / groups, n = cpg * s; /* a group's channels are contiguous */
    const float *g = gamma ? gamma->data : NULL, *bt = beta ? beta->data : NULL;
    const cpu_vec *v = cpu_ctx_of(be)->vec;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) schedule(dynamic, 1)
    for (int64_t item = 0; item < nb * groups; item++) {
        const float *xi = (const float *)x->data + item * n;
        float *oi = (float *)out->data + item * n;
        double mean;
        float rstd;
        moments(v, xi, n, eps, &mean, &rstd);
        const int64_t c0 = (item % groups) * cpg;
        for (int64_t ci = 0; ci < cpg; ci++)
            v->norm_span(xi + ci * s, oi + ci * s, s, mean, rstd, g ? g[c0 + ci] : 1.0f, bt ? bt[c0 + ci] : 0.0f);
    }
    return FF_OK;
}

ff_status cpu_layer_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, float eps,
                         ff_tensor *out, ff_err *err) {
    const int64_t d = x->shape[x->ndim - 1], rows = ff_tensor_numel(x) / d;
    const float *wd = w ? w->data : NULL, *bd = b ? b->data : NULL;
    const cpu_vec *v = cpu_ctx_of(be)->vec;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (rows * d > 16384)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)x->data + r * d;
        double mean;
        float rstd;
        moments(v, xr, d, eps, &mean, &rstd);
        v->norm_row(xr, (float *)out->data + r * d, d, mean, rstd, wd, bd);
    }
    return FF_OK;
}

ff_status cpu_rms_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, ff_tensor *out,
                       ff_err *err) {
    const int64_t d = x->shape[x->ndim - 1], rows = ff_tensor_numel(x) / d;
    const float *wd = w ? w->data : NULL;
    const cpu_vec *v = cpu_ctx_of(be)->vec;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (rows * d > 16384)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)x->data + r * d;
        const float inv = (float)(1.0 / sqrt(v->sumsq(xr, d, 0.0) / (double)d + (double)eps));
        v->scale_row(xr, (float *)out->data + r * d, d, inv, wd);
    }
    return FF_OK;
}

#define L2_BLOCK 256 /* positions per work item: channels are S floats apart */

ff_status cpu_l2norm_channels(ff_backend *be, const ff_tensor *x, const ff_tensor *gamma, const ff_tensor *beta,
                              float scale, float eps, ff_tensor *out, ff_err *err) {
    const int64_t nb = x->shape[0], c = x->shape[1], s = cpu_prod(x->shape, 2, x->ndim);
    const int64_t nblk = (s + L2_BLOCK - 1) / L2_BLOCK;
    const float *g = gamma ? gamma->data : NULL, *bt = beta ? beta->data : NULL;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (nb * c * s > 16384)
    for (int64_t item = 0; item < nb * nblk; item++) {
        const int64_t bi = item / nblk, s0 = (item % nblk) * L2_BLOCK;
        const int64_t sn = s - s0 < L2_BLOCK ? s - s0 : L2_BLOCK;
        const float *xb = (const float *)x->data + bi * c * s + s0;
        float *ob = (float *)out->data + bi * c * s + s0;
        double acc[L2_BLOCK];
        float inv[L2_BLOCK];
        for (int64_t j = 0; j < sn; j++) acc[j] = 0.0;
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t j = 0; j < sn; j++) acc[j] += (double)xb[ci * s + j] * xb[ci * s + j];
        /* F.normalize: x / max(||x||, eps) */
        for (int64_t j = 0; j < sn; j++) inv[j] = (float)(1.0 / fmax(sqrt(acc[j]), (double)eps));
        for (int64_t ci = 0; ci < c; ci++) {
            const float sc = (g ? g[ci] : 1.0f) * scale, sh = bt ? bt[ci] : 0.0f;
            for (int64_t j = 0; j < sn; j++) ob[ci * s + j] = xb[ci * s + j] * inv[j] * sc + sh;
        }
    }
    return FF_OK;
}

ff_status cpu_softmax(ff_backend *be, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    const int64_t d = x->shape[x->ndim - 1], rows = ff_tensor_numel(x) / d;
    const cpu_vec *v = cpu_ctx_of(be)->vec;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (rows * d > 16384)
    for (int64_t r = 0; r < rows; r++) v->softmax_row((const float *)x->data + r * d, (float *)out->data + r * d, d);
    return FF_OK;
}
