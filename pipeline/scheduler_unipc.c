/* scheduler_unipc: diffusers UniPCMultistepScheduler with flow sigmas and
 * flow_prediction (predict_x0 = true), the scheduler of the Wan repos.
 *
 * Mirrors set_timesteps (use_flow_sigmas branch), convert_model_output,
 * multistep_uni_p_bh_update (UniP predictor), multistep_uni_c_bh_update (UniC
 * corrector) and step(). Every scalar coefficient is computed in float32 in
 * the order torch evaluates its 0-dim tensors; elementwise updates round after
 * each operation as torch's float32 kernels do (this file must not be built
 * with -ffast-math or FMA contraction: IEEE inf at sigma = 0 is relied on). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/scheduler_impl.h"

/* ---- schedule ------------------------------------------------------------------ */

ff_status ff_sched_unipc_set_timesteps(ff_sched *s, int64_t n, ff_err *err) {
    const ff_sched_config *c = &s->cfg;
    const double T = (double)c->num_train_timesteps;
    double *sig = malloc((size_t)(n + 1) * sizeof *sig);
    if (!sig) return ff_err_set(err, FF_ERR_NOMEM, "set_timesteps: cannot allocate %lld sigmas", (long long)n);
    /* sigmas = np.linspace(1, 1 / T, n + 1)[:-1] */
    ff_sched_np_linspace(1.0, 1.0 / T, n + 1, sig);
    /* sigmas = flow_shift * sigmas / (1 + (flow_shift - 1) * sigmas) */
    for (int64_t i = 0; i < n; i++) sig[i] = c->flow_shift * sig[i] / (1.0 + (c->flow_shift - 1.0) * sig[i]);
    if (c->has_shift_terminal) ff_sched_stretch_to_terminal(sig, n, c->shift_terminal);
    /* avoid log(alpha) = log(0) at the first step */
    if (fabs(sig[0] - 1.0) < 1e-6) sig[0] -= 1e-6;
    for (int64_t i = 0; i < n; i++) {
        double t = sig[i] * T;
        if (!(fabs(t) < 9.0e18)) {
            free(sig);
            return ff_err_set(err, FF_ERR_ARG, "set_timesteps: timestep %lld is not finite (flow_shift=%g)",
                              (long long)i, c->flow_shift);
        }
        s->timesteps[i] = (double)(int64_t)t; /* torch .to(int64): truncation toward zero */
        s->sigmas[i] = (float)sig[i];
    }
    s->sigmas[n] = c->final_sigma_zero ? 0.0f : (float)sig[n - 1];
    free(sig);
    return FF_OK;
}

/* ---- float32 scalar math (torch 0-dim tensors) ------------------------------------- */

/* lambda = log(alpha) - log(sigma) with alpha = 1 - sigma (flow sigmas). */
static float lambda_of(float sigma) {
    float alpha = 1.0f - sigma;
    return logf(alpha) - logf(sigma);
}

/* torch.linalg.solve in float32 for n <= 3: LAPACK sgetrf (partial pivoting,
 * column scaled by the reciprocal pivot) + sgetrs (unit-lower then upper
 * triangular solve). Returns -1 on an exactly singular matrix, as torch
 * raises then. */
static int solve_f32(int n, float a[FF_SCHED_MAX_ORDER][FF_SCHED_MAX_ORDER], float *b, float *x) {
    int piv[FF_SCHED_MAX_ORDER];
    for (int k = 0; k < n; k++) {
        int p = k;
        for (int i = k + 1; i < n; i++)
            if (fabsf(a[i][k]) > fabsf(a[p][k])) p = i;
        piv[k] = p;
        if (a[p][k] == 0.0f) return -1;
        if (p != k)
            for (int j = 0; j < n; j++) {
                float t = a[k][j];
                a[k][j] = a[p][j];
                a[p][j] = t;
            }
        float r = 1.0f / a[k][k];
        for (int i = k + 1; i < n; i++) a[i][k] *= r;
        for (int i = k + 1; i < n; i++)
            for (int j = k + 1; j < n; j++) a[i][j] -= a[i][k] * a[k][j];
    }
    for (int k = 0; k < n; k++) x[k] = b[k];
    for (int k = 0; k < n; k++)
        if (piv[k] != k) {
            float t = x[k];
            x[k] = x[piv[k]];
            x[piv[k]] = t;
        }
    for (int k = 0; k < n; k++)
        if (x[k] != 0.0f)
            for (int i = k + 1; i < n; i++) x[i] -= x[k] * a[i][k];
    for (int k = n - 1; k >= 0; k--)
        if (x[k] != 0.0f) {
            x[k] /= a[k][k];
            for (int i = 0; i < k; i++) x[i] -= x[k] * a[i][k];
        }
    return 0;
}

/* The scalars of one UniP/UniC update from sigma_s0 = sigmas[s0] to
 * sigma_t = sigmas[t] with `order` (the K = order-1 older outputs sit at
 * sigmas[s0 - k], k = 1..K). */
typedef struct {
    int order;
    float rks[FF_SCHED_MAX_ORDER];  /* rk of the older outputs, then 1 */
    float rhos[FF_SCHED_MAX_ORDER]; /* rhos_p (K entries) or rhos_c (order entries) */
    int n_rhos;
    float c_x;   /* sigma_t / sigma_s0 */
    float c_m0;  /* alpha_t * h_phi_1 */
    float c_res; /* alpha_t * B_h */
} unipc_coef;

static ff_status coefficients(const ff_sched *s, int64_t t, int64_t s0, int order, int corrector, unipc_coef *k,
                              ff_err *err) {
    const float *sg = s->sigmas;
    float sigma_t = sg[t], sigma_s0 = sg[s0];
    float alpha_t = 1.0f - sigma_t;
    float lambda_t = lambda_of(sigma_t), lambda_s0 = lambda_of(sigma_s0);
    float h = lambda_t - lambda_s0;
    k->order = order;
    for (int i = 1; i < order; i++) k->rks[i - 1] = (lambda_of(sg[s0 - i]) - lambda_s0) / h;
    k->rks[order - 1] = 1.0f;

    float hh = -h; /* predict_x0 */
    float h_phi_1 = expm1f(hh);
    float h_phi_k = h_phi_1 / hh - 1.0f;
    float B_h = s->cfg.solver_type == FF_SCHED_BH1 ? hh : expm1f(hh);
    float R[FF_SCHED_MAX_ORDER][FF_SCHED_MAX_ORDER], b[FF_SCHED_MAX_ORDER];
    int64_t factorial_i = 1;
    for (int i = 1; i <= order; i++) {
        for (int j = 0; j < order; j++) /* torch.pow(rks, i - 1) */
            R[i - 1][j] = i == 1 ? 1.0f : i == 2 ? k->rks[j] : k->rks[j] * k->rks[j];
        b[i - 1] = h_phi_k * (float)factorial_i / B_h;
        factorial_i *= i + 1;
        h_phi_k = h_phi_k / hh - (float)(1.0 / (double)factorial_i);
    }

    k->n_rhos = 0;
    if (corrector) {
        k->n_rhos = order;
        if (order == 1) k->rhos[0] = 0.5f;
        else if (solve_f32(order, R, b, k->rhos))
            return ff_err_set(err, FF_ERR_ARG, "UniC step %lld: singular %dx%d system (repeated sigmas?)",
                              (long long)t, order, order);
    } else if (order >= 2) {
        k->n_rhos = order - 1;
        if (order == 2) k->rhos[0] = 0.5f;
        else if (solve_f32(order - 1, R, b, k->rhos))
            return ff_err_set(err, FF_ERR_ARG, "UniP step %lld: singular %dx%d system (repeated sigmas?)",
                              (long long)s0, order - 1, order - 1);
    }
    k->c_x = sigma_t / sigma_s0;
    k->c_m0 = alpha_t * h_phi_1;
    k->c_res = alpha_t * B_h;
    return FF_OK;
}

/* ---- dynamic thresholding (diffusers _threshold_sample) ---------------------------------- */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void threshold_x0(const ff_sched *s, float *x0, float *tmp) {
    int64_t batch = s->batch > 0 ? s->batch : 1, per = s->numel / batch;
    if (per < 1) return;
    float q = (float)s->cfg.dynamic_thresholding_ratio;
    for (int64_t bi = 0; bi < batch; bi++) {
        float *v = x0 + bi * per;
        for (int64_t i = 0; i < per; i++) tmp[i] = fabsf(v[i]);
        qsort(tmp, (size_t)per, sizeof *tmp, cmp_float);
        /* torch.quantile, linear interpolation, in float32 */
        float rank = q * (float)(per - 1);
        int64_t lo = (int64_t)rank, hi = (int64_t)ceilf(rank);
        if (lo < 0) lo = 0;
        if (hi > per - 1) hi = per - 1;
        float w = rank - (float)lo, a = tmp[lo], e = tmp[hi];
        float th = w < 0.5f ? a + w * (e - a) : e - (e - a) * (1.0f - w);
        th = fminf(fmaxf(th, 1.0f), (float)s->cfg.sample_max_value);
        for (int64_t i = 0; i < per; i++) v[i] = fminf(fmaxf(v[i], -th), th) / th;
    }
}

/* ---- step ------------------------------------------------------------------------------ */

static int corrector_disabled(const ff_sched_config *c, int64_t i) {
    for (int k = 0; k < c->n_disable_corrector; k++)
        if (c->disable_corrector[k] == i) return 1;
    return 0;
}

ff_status ff_sched_unipc_step(ff_sched *s, const float *model_output, const float *sample, float *prev, ff_err *err) {
    const ff_sched_config *c = &s->cfg;
    const int64_t i = s->step_index, n = s->numel;
    const int so = c->solver_order;
    ff_status st;

    /* convert_model_output: x0 = sample - sigma * v */
    float sigma = s->sigmas[i];
    for (int64_t e = 0; e < n; e++) s->conv[e] = sample[e] - sigma * model_output[e];
    if (c->thresholding) threshold_x0(s, s->conv, s->scratch);

    /* UniC corrector on the current sample with the new output, order = the
     * previous step's predictor order; history not shifted yet. */
    if (i > 0 && !corrector_disabled(c, i - 1) && s->has_last_sample) {
        unipc_coef k;
        if ((st = coefficients(s, i, i - 1, s->last_order, 1, &k, err))) return st;
        const float *x = s->last_sample, *m0 = s->hist[so - 1], *mt = s->conv;
        const float *m1 = k.order > 1 ? s->hist[so - 2] : NULL, *m2 = k.order > 2 ? s->hist[so - 3] : NULL;
        float rho_t = k.rhos[k.order - 1];
        for (int64_t e = 0; e < n; e++) {
            float xt_ = k.c_x * x[e] - k.c_m0 * m0[e];
            float corr = 0.0f; /* diffusers: corr_res = 0 (a Python int) for order 1 */
            if (m1) corr = k.rhos[0] * ((m1[e] - m0[e]) / k.rks[0]);
            if (m2) corr = corr + k.rhos[1] * ((m2[e] - m0[e]) / k.rks[1]);
            float d1_t = mt[e] - m0[e];
            s->scratch[e] = xt_ - k.c_res * (corr + rho_t * d1_t);
        }
        float *t = s->last_sample;
        s->last_sample = s->scratch;
        s->scratch = t;
    } else {
        memcpy(s->last_sample, sample, (size_t)n * sizeof(float));
    }
    s->has_last_sample = 1;

    /* model_outputs: drop the oldest, append the converted output */
    float *oldest = s->hist[0];
    for (int k = 0; k < so - 1; k++) s->hist[k] = s->hist[k + 1];
    s->hist[so - 1] = s->conv;
    s->conv = oldest;
    if (s->n_hist < so) s->n_hist++;

    int this_order = c->lower_order_final ? (int)(so < s->n - i ? so : s->n - i) : so;
    if (this_order > s->lower_order_nums + 1) this_order = s->lower_order_nums + 1; /* warm-up */
    s->last_order = this_order;

    /* UniP predictor from last_sample to sigmas[i + 1] */
    unipc_coef k;
    if ((st = coefficients(s, i + 1, i, this_order, 0, &k, err))) return st;
    const float *x = s->last_sample, *m0 = s->hist[so - 1];
    const float *m1 = this_order > 1 ? s->hist[so - 2] : NULL, *m2 = this_order > 2 ? s->hist[so - 3] : NULL;
    float zero_res = k.c_res * 0.0f; /* alpha_t * B_h * 0: NaN when B_h is infinite, as in torch */
    for (int64_t e = 0; e < n; e++) {
        float xt_ = k.c_x * x[e] - k.c_m0 * m0[e];
        if (!m1) {
            prev[e] = xt_ - zero_res;
            continue;
        }
        float pred = k.rhos[0] * ((m1[e] - m0[e]) / k.rks[0]);
        if (m2) pred = pred + k.rhos[1] * ((m2[e] - m0[e]) / k.rks[1]);
        prev[e] = xt_ - k.c_res * pred;
    }

    if (s->lower_order_nums < so) s->lower_order_nums++;
    s->step_index++;
    return FF_OK;
}
