/* scheduler_cogvideox (ff_cogsched_*): the two schedulers of diffusers'
 * CogVideoX pipelines, created from a scheduler/scheduler_config.json:
 *
 *  - CogVideoXDDIMScheduler (the folder scheduler of every CogVideoX repo):
 *    deterministic DDIM (eta and the generator are ignored, as diffusers
 *    ignores them).
 *  - CogVideoXDPMScheduler: DPM-Solver++(2M) SDE. Every step draws
 *    randn_tensor(sample.shape) from the pipeline's generator (twice on steps
 *    that have a previous x0 and are not the last), so the generator state is
 *    part of this scheduler's state: the scheduler holds its own copy of the
 *    generator(s) (ff_cogsched_set_generators), advances it as diffusers
 *    advances the pipeline's, and hands it back (ff_cogsched_generators).
 *
 * Numerics (../shared/golden/COGVIDEOX.md section 3 "Schedulers"): betas,
 * alphas_cumprod (cumprod, SNR shift a / (s + (1 - s) a), zero-terminal-SNR
 * rescale) and every step coefficient are float64 as torch computes them;
 * each coefficient is rounded to float32 when it multiplies a tensor and the
 * tensor arithmetic is float32. Timesteps are int64 ("trailing": numpy's
 * round(arange(T, 0, -T/N)) - 1; "leading", "linspace" as diffusers). step()
 * uses prev = t - T // N, not the next timestep, and final_alpha_cumprod
 * when prev < 0. IEEE inf at a_t = 0 (t = 999 after the rescale) and at the
 * final alpha 1 is left to propagate exactly as torch does.
 *
 * Rejected with FF_ERR_UNSUPPORTED naming the key: trained_betas,
 * beta_schedule other than linear / scaled_linear / squaredcos_cap_v2,
 * timestep_spacing other than leading / linspace / trailing. clip_sample,
 * thresholding and sample_max_value are accepted and ignored, as the
 * CogVideoX step ignores them.
 *
 * State: the timesteps, the step index, the previous x0 (DPM) and the
 * generators. ff_cogsched_state_size / _save / _restore serialise the
 * mutable part (step index, previous x0, generators) into a caller buffer,
 * so that a denoising loop can be checkpointed and resumed bit for bit.
 *
 * Not here: the model call, guidance (pipeline/), device tensors. Steps work
 * on F32 HOST tensors, like pipeline/scheduler.h. One scheduler drives one
 * denoising loop at a time; it is not thread-safe. */
#ifndef FF_SCHEDULER_COGVIDEOX_H
#define FF_SCHEDULER_COGVIDEOX_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_rng.h"
#include "core/ff_tensor.h"

typedef enum { FF_COGSCHED_DDIM = 0, FF_COGSCHED_DPM = 1 } ff_cogsched_kind;

typedef enum { FF_COGSCHED_EPSILON = 0, FF_COGSCHED_SAMPLE, FF_COGSCHED_V_PREDICTION } ff_cogsched_prediction;
typedef enum { FF_COGSCHED_BETAS_LINEAR = 0, FF_COGSCHED_BETAS_SCALED_LINEAR, FF_COGSCHED_BETAS_SQUAREDCOS } ff_cogsched_betas;
typedef enum { FF_COGSCHED_LEADING = 0, FF_COGSCHED_LINSPACE, FF_COGSCHED_TRAILING } ff_cogsched_spacing;

#define FF_COGSCHED_MAX_TRAIN 100000 /* num_train_timesteps limit */
#define FF_COGSCHED_MAX_GEN 64       /* generators (one per sample) */

typedef struct {
    ff_cogsched_kind kind;
    int64_t num_train_timesteps;     /* 1000 */
    double beta_start, beta_end;     /* DDIM 0.00085 / 0.012, DPM 0.0001 / 0.02 */
    ff_cogsched_betas beta_schedule; /* DDIM scaled_linear, DPM linear */
    int set_alpha_to_one;            /* final_alpha_cumprod = 1 (else alphas_cumprod[0]) */
    int64_t steps_offset;            /* "leading" only */
    ff_cogsched_prediction prediction_type; /* epsilon (CogVideoX repos: v_prediction) */
    ff_cogsched_spacing timestep_spacing;   /* leading (CogVideoX repos: trailing) */
    int rescale_betas_zero_snr;      /* false (CogVideoX repos: true) */
    double snr_shift_scale;          /* 3.0 */
} ff_cogsched_config;

typedef struct ff_cogsched ff_cogsched;

/* "CogVideoXDDIMScheduler" / "CogVideoXDPMScheduler". */
const char *ff_cogsched_kind_name(ff_cogsched_kind kind);
/* 0 and *out for a known _class_name, -1 otherwise. */
int ff_cogsched_kind_from_name(const char *class_name, ff_cogsched_kind *out);

/* diffusers' constructor defaults of kind. */
void ff_cogsched_config_default(ff_cogsched_config *c, ff_cogsched_kind kind);
/* Overrides the fields obj sets (keys of neither class are ignored, as
 * diffusers ignores them); `what` names the source in messages. */
ff_status ff_cogsched_config_apply_json(ff_cogsched_config *c, const ff_json *obj, const char *what, ff_err *err);
/* kind from obj's "_class_name" (required), defaults of that class, then
 * apply_json. (diffusers' CogVideoXDPMScheduler.from_config(ddim.config) =
 * default(DPM) + apply_json(the DDIM file): see ff_cogsched_config_load_as.) */
ff_status ff_cogsched_config_from_json(const ff_json *obj, const char *what, ff_cogsched_config *c, ff_err *err);
/* path: a scheduler folder (scheduler_config.json in it) or the file. */
ff_status ff_cogsched_config_load(const char *path, ff_cogsched_config *c, ff_err *err);
/* <Class>.from_config(file): the file's values under kind's class (the
 * file's _class_name may be either CogVideoX scheduler). */
ff_status ff_cogsched_config_load_as(const char *path, ff_cogsched_kind kind, ff_cogsched_config *c, ff_err *err);

/* Validates c, builds betas and alphas_cumprod. *out: ff_cogsched_free. */
ff_status ff_cogsched_create(const ff_cogsched_config *c, ff_cogsched **out, ff_err *err);
void ff_cogsched_free(ff_cogsched *s); /* NULL is a no-op */
const ff_cogsched_config *ff_cogsched_get_config(const ff_cogsched *s);

/* alphas_cumprod (num_train_timesteps float64 values) and final_alpha_cumprod. */
const double *ff_cogsched_alphas_cumprod(const ff_cogsched *s);
double ff_cogsched_final_alpha_cumprod(const ff_cogsched *s);
/* scheduler.init_noise_sigma (1.0). */
double ff_cogsched_init_noise_sigma(const ff_cogsched *s);

/* set_timesteps(n): n timesteps, step index 0, previous x0 forgotten.
 * FF_ERR_ARG when n < 1 or n > num_train_timesteps (diffusers' limit). */
ff_status ff_cogsched_set_timesteps(ff_cogsched *s, int64_t n, ff_err *err);
int64_t ff_cogsched_num_steps(const ff_cogsched *s); /* 0 before set_timesteps */
const int64_t *ff_cogsched_timesteps(const ff_cogsched *s);
/* The timestep step() pairs with timesteps[i]: timesteps[i] - T // N. */
int64_t ff_cogsched_prev_timestep(const ff_cogsched *s, int64_t i);
/* Owned host copy of the timesteps, I64 (N,). */
ff_status ff_cogsched_timesteps_tensor(const ff_cogsched *s, ff_tensor *out, ff_err *err);

/* DPM: the generators step() draws from (copied in: the caller's stay
 * untouched). n == 1: one generator for the whole sample (randn_tensor with
 * one generator); n == sample.shape[0]: one per batch sample (a list). Must
 * be set before the first DPM step; DDIM ignores them. */
ff_status ff_cogsched_set_generators(ff_cogsched *s, const ff_rng *gens, size_t n, ff_err *err);
/* The scheduler's generators as they are now (after its draws); *n their count. */
const ff_rng *ff_cogsched_generators(const ff_cogsched *s, size_t *n);

/* Index of the step the next ff_cogsched_step performs. */
int64_t ff_cogsched_step_index(const ff_cogsched *s);

/* One step at timesteps[step index] (DPM: timestep_back = the previous
 * timestep, old x0 = the previous step's x0, as CogVideoXPipeline passes
 * them), then the index advances. model_output, sample, prev and x0 (may be
 * NULL) are F32 host tensors of equal numel; prev and x0 are allocated by
 * the caller; prev may alias sample. The first tensor dim is the batch (the
 * per-sample generators split on it). noise_out (DPM, may be NULL) receives
 * the randn draws of this step: up to 2 tensors of the sample's numel;
 * *n_noise (may be NULL) their count (0 for DDIM). */
ff_status ff_cogsched_step(ff_cogsched *s, const ff_tensor *model_output, const ff_tensor *sample, ff_tensor *prev,
                           ff_tensor *x0, ff_tensor *noise_out, int *n_noise, ff_err *err);

/* Checkpointing of the mutable state (step index, previous x0, generators)
 * into a caller buffer of ff_cogsched_state_size bytes; restore into a
 * scheduler with the same config and timesteps. FF_ERR_FORMAT for a buffer
 * that does not match (size, magic, step count). */
size_t ff_cogsched_state_size(const ff_cogsched *s);
ff_status ff_cogsched_state_save(const ff_cogsched *s, void *buf, size_t n, ff_err *err);
ff_status ff_cogsched_state_restore(ff_cogsched *s, const void *buf, size_t n, ff_err *err);

/* CogVideoXPipeline's use_dynamic_cfg guidance at integer timestep t of an
 * N-step loop, in Python float64 as diffusers writes it:
 * 1 + g * (1 - cos(pi * ((N - t) / N) ** 5.0)) / 2. */
double ff_cogsched_dynamic_cfg(double guidance_scale, int64_t n_steps, int64_t t);

#endif
