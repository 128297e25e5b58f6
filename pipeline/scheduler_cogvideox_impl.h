/* scheduler_cogvideox_impl: the state shared by scheduler_cogvideox.c
 * (config, schedule, timesteps, DDIM step, checkpoints) and
 * scheduler_cogvideox_dpm.c (the DPM-Solver++(2M) SDE step). Internal to
 * pipeline/. */
#ifndef FF_SCHEDULER_COGVIDEOX_IMPL_H
#define FF_SCHEDULER_COGVIDEOX_IMPL_H

#include "pipeline/scheduler_cogvideox.h"

struct ff_cogsched {
    ff_cogsched_config cfg;
    double *alphas_cumprod;    /* (num_train_timesteps) float64 */
    double final_alpha;        /* final_alpha_cumprod */
    int64_t n;                 /* inference steps; 0 before set_timesteps */
    int64_t *timesteps;        /* (n) */
    int64_t index;             /* next step */
    float *old_x0;             /* DPM: x0 of the previous step (old_numel floats), NULL before the first */
    int64_t old_numel;
    ff_rng *gens;              /* DPM generators (n_gens), owned copies */
    size_t n_gens;
};

/* alphas_cumprod[t] for 0 <= t < T, final_alpha_cumprod for t < 0. */
double cogsched_alpha(const ff_cogsched *s, int64_t t);
/* pred_original_sample of prediction_type: float64 coefficients rounded to
 * float32, float32 tensor math (as torch with 0-dim float64 tensors). */
void cogsched_pred_x0(const ff_cogsched *s, double alpha_t, const float *model_output, const float *sample, float *x0,
                      int64_t n);
/* Checks the tensors of a step (equal numel, F32, host); *numel. */
ff_status cogsched_check_step(const ff_cogsched *s, const ff_tensor *model_output, const ff_tensor *sample,
                              const ff_tensor *prev, const ff_tensor *x0, int64_t *numel, ff_err *err);

/* The DPM step at step index s->index (scheduler_cogvideox_dpm.c). */
ff_status cogsched_dpm_step(ff_cogsched *s, const float *model_output, const float *sample, float *prev, float *x0,
                            int64_t batch, int64_t numel, ff_tensor *noise_out, int *n_noise, ff_err *err);

#endif
