/* scheduler_cogvideox_dpm: CogVideoXDPMScheduler.step (DPM-Solver++(2M)
 * SDE, scheduling_dpm_cogvideox.py) as CogVideoXPipeline calls it:
 * step(noise_pred, old_pred_original_sample, t, timesteps[i-1] or None,
 * latents, generator=g). Every coefficient is a float64 scalar (get_variables
 * / get_mult), rounded to float32 where it multiplies a tensor; the noise is
 * randn_tensor(sample.shape, generator) drawn once, and a second time on
 * steps with a previous x0 that are not the last. See
 * scheduler_cogvideox.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/scheduler_cogvideox_impl.h"

/* lambda = log(sqrt(a / (1 - a))): -inf at a = 0, +inf at a = 1. */
static double lambda_of(double a) { return log(sqrt(a / (1 - a))); }

/* randn_tensor(shape, generator): one generator draws everything; a list
 * draws sample b with generator b. */
static ff_status draw_noise(ff_cogsched *s, float *noise, int64_t batch, int64_t numel, ff_err *err) {
    if (!s->n_gens)
        return ff_err_set(err, FF_ERR_ARG, "CogVideoXDPMScheduler: no generator (ff_cogsched_set_generators)");
    if (s->n_gens == 1) {
        ff_rng_randn(&s->gens[0], noise, (size_t)numel);
        return FF_OK;
    }
    if ((int64_t)s->n_gens != batch || numel % batch)
        return ff_err_set(err, FF_ERR_ARG, "CogVideoXDPMScheduler: %zu generators for a batch of %lld", s->n_gens,
                          (long long)batch);
    const int64_t per = numel / batch;
    for (int64_t b = 0; b < batch; b++) ff_rng_randn(&s->gens[b], noise + b * per, (size_t)per);
    return FF_OK;
}

static void keep_noise(ff_tensor *noise_out, int *n_noise, const float *noise, int64_t numel) {
    if (!n_noise) return;
    if (noise_out) memcpy(noise_out[*n_noise].data, noise, (size_t)numel * sizeof(float));
    (*n_noise)++;
}

ff_status cogsched_dpm_step(ff_cogsched *s, const float *mo, const float *x, float *prev, float *x0, int64_t batch,
                            int64_t n, ff_tensor *noise_out, int *n_noise, ff_err *err) {
    const int64_t i = s->index;
    const int64_t t = s->timesteps[i], tp = ff_cogsched_prev_timestep(s, i);
    const int has_back = i > 0;
    const double a_t = cogsched_alpha(s, t), a_prev = cogsched_alpha(s, tp);
    const double a_back = has_back ? cogsched_alpha(s, s->timesteps[i - 1]) : 0;
    int n_dummy = 0;
    if (!n_noise) n_noise = noise_out ? &n_dummy : NULL;
    if (has_back && s->old_x0 && s->old_numel != n)
        return ff_err_set(err, FF_ERR_SHAPE, "CogVideoXDPMScheduler: sample of %lld values, previous step had %lld",
                          (long long)n, (long long)s->old_numel);

    /* the old x0 must survive until the second-order update: x0 may not alias it */
    cogsched_pred_x0(s, a_t, mo, x, x0, n);

    /* get_variables / get_mult */
    const double lamb = lambda_of(a_t), lamb_next = lambda_of(a_prev);
    const double h = lamb_next - lamb;
    const double mult1 = sqrt((1 - a_prev) / (1 - a_t)) * exp(-h);
    const double mult2 = expm1(-2 * h) * sqrt(a_prev);
    const double mult_noise = sqrt(1 - a_prev) * sqrt(1 - exp(-2 * h));
    const float f1 = (float)mult1, f2 = (float)mult2, fn = (float)mult_noise;

    float *noise = malloc((size_t)(n ? n : 1) * sizeof *noise);
    float *keep = malloc((size_t)(n ? n : 1) * sizeof *keep);
    if (!noise || !keep) {
        free(noise);
        free(keep);
        return ff_err_set(err, FF_ERR_NOMEM, "CogVideoXDPMScheduler: cannot allocate %lld floats", (long long)n);
    }
    memcpy(keep, x, (size_t)n * sizeof *keep); /* prev may alias sample */
    ff_status st = draw_noise(s, noise, batch, n, err);
    if (st) goto done;
    keep_noise(noise_out, n_noise, noise, n);
    /* prev_sample = mult1 * sample - mult2 * x0 + mult_noise * noise */
    for (int64_t k = 0; k < n; k++) {
        float a = f1 * keep[k], b = f2 * x0[k], c = fn * noise[k];
        prev[k] = (a - b) + c;
    }
    if (s->old_x0 && has_back && tp >= 0) {
        /* second order: D = (1 + 1/(2r)) x0 - 1/(2r) old_x0; a second draw */
        const double lamb_prev = lambda_of(a_back);
        const double h_last = lamb - lamb_prev, r = h_last / h;
        const float f3 = (float)(1 + 1 / (2 * r)), f4 = (float)(1 / (2 * r));
        if ((st = draw_noise(s, noise, batch, n, err))) goto done;
        keep_noise(noise_out, n_noise, noise, n);
        for (int64_t k = 0; k < n; k++) {
            float p = f3 * x0[k], q = f4 * s->old_x0[k];
            float d = p - q;
            float a = f1 * keep[k], b = f2 * d, c = fn * noise[k];
            prev[k] = (a - b) + c;
        }
    }
    /* x0 becomes old_pred_original_sample of the next step */
    if (s->old_numel != n) {
        float *o = realloc(s->old_x0, (size_t)(n ? n : 1) * sizeof *o);
        if (!o) {
            st = ff_err_set(err, FF_ERR_NOMEM, "CogVideoXDPMScheduler: cannot keep x0");
            goto done;
        }
        s->old_x0 = o;
        s->old_numel = n;
    }
    memcpy(s->old_x0, x0, (size_t)n * sizeof *x0);
done:
    free(noise);
    free(keep);
    return st;
}
