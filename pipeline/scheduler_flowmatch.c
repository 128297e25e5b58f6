/* scheduler_flowmatch: diffusers FlowMatchEulerDiscreteScheduler (static
 * shift), the Euler flow-matching sampler some Wan setups swap in.
 *
 * __init__ builds sigma_max / sigma_min in float32 (already shifted once);
 * set_timesteps spaces timesteps linearly between them in float64, shifts
 * AGAIN in float64, casts to float32, and timesteps = sigmas * T in float32.
 * set_timesteps(sigmas=...) (ff_sched_set_sigmas) takes the caller's sigmas
 * as float32 and shifts them in float32 instead (numpy keeps the float32
 * array's dtype against Python scalars).
 * step: x + (sigma_{i+1} - sigma_i) * v in float32. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "pipeline/scheduler_impl.h"

/* __init__: sigmas = linspace(1, T, T, float32)[::-1] / T, shifted in float32;
 * returns (sigma_max, sigma_min) = (sigmas[0], sigmas[-1]) as Python floats. */
static void init_sigma_range(const ff_sched_config *c, double *sigma_max, double *sigma_min) {
    float T = (float)c->num_train_timesteps;
    float shift = (float)c->shift, shift_m1 = (float)(c->shift - 1.0);
    float hi = T / T, lo = 1.0f / T;
    hi = shift * hi / (1.0f + shift_m1 * hi);
    lo = shift * lo / (1.0f + shift_m1 * lo);
    *sigma_max = hi;
    *sigma_min = lo;
}

ff_status ff_sched_flowmatch_set_timesteps(ff_sched *s, int64_t n, ff_err *err) {
    const ff_sched_config *c = &s->cfg;
    const double T = (double)c->num_train_timesteps;
    double smax, smin;
    init_sigma_range(c, &smax, &smin);
    double *sig = malloc((size_t)n * sizeof *sig);
    if (!sig) return ff_err_set(err, FF_ERR_NOMEM, "set_timesteps: cannot allocate %lld sigmas", (long long)n);
    /* timesteps = np.linspace(sigma_max * T, sigma_min * T, n); sigmas = timesteps / T */
    ff_sched_np_linspace(smax * T, smin * T, n, sig);
    for (int64_t i = 0; i < n; i++) {
        sig[i] = sig[i] / T;
        sig[i] = c->shift * sig[i] / (1.0 + (c->shift - 1.0) * sig[i]);
    }
    if (c->has_shift_terminal) ff_sched_stretch_to_terminal(sig, n, c->shift_terminal);
    float Tf = (float)c->num_train_timesteps;
    for (int64_t i = 0; i < n; i++) {
        float v = (float)sig[i];
        if (c->invert_sigmas) v = 1.0f - v;
        s->sigmas[i] = v;
        s->timesteps[i] = (double)(v * Tf);
    }
    s->sigmas[n] = c->invert_sigmas ? 1.0f : 0.0f;
    free(sig);
    return FF_OK;
}

ff_status ff_sched_flowmatch_step(ff_sched *s, const float *model_output, const float *sample, float *prev, int64_t n,
                                  ff_err *err) {
    (void)err;
    const int64_t i = s->step_index;
    float dt = s->sigmas[i + 1] - s->sigmas[i];
    for (int64_t e = 0; e < n; e++) prev[e] = sample[e] + dt * model_output[e];
    s->last_order = 1;
    s->step_index++;
    return FF_OK;
}

/* set_timesteps(sigmas=...): steps 1-6 of diffusers' set_timesteps on the
 * float32 array: shift (numpy: Python-float scalars take the array's
 * float32), stretch_shift_to_terminal (its scale factor is a float32 scalar
 * over a Python float, i.e. float64, applied to the array as float32),
 * torch's float32 timesteps, the terminal sigma. */
ff_status ff_sched_set_sigmas(ff_sched *s, const double *sigmas, int64_t n, ff_err *err) {
    const ff_sched_config *c = &s->cfg;
    if (c->kind != FF_SCHED_FLOWMATCH)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "set_timesteps(sigmas=...): %s has no custom sigmas",
                          ff_sched_kind_name(c->kind));
    if (n < 1 || (uint64_t)n > (uint64_t)(SIZE_MAX / sizeof(double)) - 1)
        return ff_err_set(err, FF_ERR_ARG, "set_timesteps(sigmas=...): %lld sigmas (want >= 1)", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(sigmas[i]))
            return ff_err_set(err, FF_ERR_ARG, "set_timesteps(sigmas=...): sigma %lld is not finite", (long long)i);
    double *ts = malloc((size_t)n * sizeof *ts);
    float *sg = malloc((size_t)(n + 1) * sizeof *sg);
    if (!ts || !sg) {
        free(ts);
        free(sg);
        return ff_err_set(err, FF_ERR_NOMEM, "set_timesteps(sigmas=...): cannot allocate %lld steps", (long long)n);
    }
    const float shift = (float)c->shift, shift_m1 = (float)(c->shift - 1.0);
    for (int64_t i = 0; i < n; i++) {
        float v = (float)sigmas[i];
        float num = shift * v, den = 1.0f + shift_m1 * v;
        sg[i] = num / den;
    }
    if (c->has_shift_terminal) {
        const double scale = (double)(1.0f - sg[n - 1]) / (1.0 - c->shift_terminal);
        const float scale_f = (float)scale;
        for (int64_t i = 0; i < n; i++) sg[i] = 1.0f - (1.0f - sg[i]) / scale_f;
    }
    const float T = (float)c->num_train_timesteps;
    for (int64_t i = 0; i < n; i++) {
        if (c->invert_sigmas) sg[i] = 1.0f - sg[i];
        ts[i] = (double)(sg[i] * T);
    }
    sg[n] = c->invert_sigmas ? 1.0f : 0.0f;
    free(s->timesteps);
    free(s->sigmas);
    s->timesteps = ts;
    s->sigmas = sg;
    s->n = n;
    s->begin_index = 0;
    ff_sched_reset(s);
    return FF_OK;
}
