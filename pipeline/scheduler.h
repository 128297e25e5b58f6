/* scheduler: the noise schedulers of the Wan pipelines, created from a
 * diffusers scheduler/scheduler_config.json.
 *
 *  - UniPCMultistepScheduler (the folder scheduler of every Wan 2.1 / 2.2
 *    repo): flow sigmas (use_flow_sigmas=true), prediction_type
 *    flow_prediction, predict_x0, solver_type bh1/bh2, solver_order 1..3,
 *    lower_order_final, disable_corrector, final_sigmas_type zero/sigma_min,
 *    flow_shift, shift_terminal, dynamic thresholding.
 *  - FlowMatchEulerDiscreteScheduler: shift, shift_terminal, invert_sigmas.
 *
 * Numerics follow diffusers (../shared/golden/README.md "Schedulers"): the
 * schedule is built in float64 as numpy does, sigmas are float32, UniPC
 * timesteps are int64 by TRUNCATING sigma*1000, FlowMatch timesteps are
 * float32; every UniPC coefficient is a float32 scalar (logf, expm1f), the
 * small corrector/predictor systems are solved in float32 (LU with partial
 * pivoting), and IEEE inf at the final sigma = 0 is left to propagate exactly
 * as torch does (the last UniPC update then evaluates to x0).
 *
 * Settings diffusers has but Wan does not use are rejected with
 * FF_ERR_UNSUPPORTED naming the field (karras/exponential/beta sigmas,
 * use_dynamic_shifting, non-flow UniPC schedules, solver_p,
 * stochastic_sampling, solver_order > 3).
 *
 * Each scheduler is a class table (scheduler_impl.h: name, timestep dtype,
 * config reader, set_timesteps, step) found by ff_sched_config.kind or the
 * config's _class_name; ff_sched dispatches through it.
 *
 * Not here: the model call and classifier-free guidance (pipeline/), device
 * tensors. ff_sched_step works on F32 HOST tensors: the latents are tiny next
 * to the transformer (a 480p 81-frame Wan 2.1 latent is 8 MiB), so the
 * pipeline downloads the guided noise prediction and keeps latents on the
 * host. The scheduler owns its multistep history (previous model outputs and
 * the last sample), sized at the first step; one scheduler drives one
 * denoising loop at a time. */
#ifndef FF_SCHEDULER_H
#define FF_SCHEDULER_H

#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_rng.h"
#include "core/ff_tensor.h"
#include "pipeline/scheduler_cogvideox.h"

typedef enum {
    FF_SCHED_UNIPC = 0,
    FF_SCHED_FLOWMATCH = 1,
    FF_SCHED_COGVIDEOX_DDIM = 2, /* CogVideoXDDIMScheduler (pipeline/scheduler_cogvideox.h) */
    FF_SCHED_COGVIDEOX_DPM = 3   /* CogVideoXDPMScheduler */
} ff_sched_kind;

typedef enum { FF_SCHED_BH1 = 1, FF_SCHED_BH2 = 2 } ff_sched_solver_type;

#define FF_SCHED_MAX_ORDER 3           /* UniPC solver_order 1..3 */
#define FF_SCHED_MAX_DISABLE 256       /* entries of disable_corrector */

/* The supported subset of both diffusers configs. Fields that only one
 * scheduler reads say so. Build one with ff_sched_config_default (diffusers'
 * __init__ defaults) and/or the JSON readers below. */
typedef struct {
    ff_sched_kind kind;
    int64_t num_train_timesteps;     /* both; > 0 */
    int has_shift_terminal;          /* both: shift_terminal set (non-null, non-zero) */
    double shift_terminal;           /* both: stretch so the last sigma equals it */
    /* UniPCMultistepScheduler */
    int solver_order;                /* 1..FF_SCHED_MAX_ORDER */
    int lower_order_final;           /* order 1 (or lower) at the last steps */
    ff_sched_solver_type solver_type;
    double flow_shift;               /* sigma' = s*sigma / (1 + (s-1)*sigma) */
    int final_sigma_zero;            /* final_sigmas_type: 1 "zero", 0 "sigma_min" */
    int thresholding;                /* dynamic thresholding of x0 */
    double dynamic_thresholding_ratio, sample_max_value;
    int n_disable_corrector;
    int64_t disable_corrector[FF_SCHED_MAX_DISABLE]; /* step indices i: no UniC at step i+1 */
    /* FlowMatchEulerDiscreteScheduler */
    double shift;                    /* static shift (use_dynamic_shifting=false) */
    int invert_sigmas;               /* sigmas = 1 - sigmas, final sigma 1 */
    /* CogVideoXDDIMScheduler / CogVideoXDPMScheduler: their whole config
       (num_train_timesteps above is kept equal to cog.num_train_timesteps) */
    ff_cogsched_config cog;
} ff_sched_config;

typedef struct ff_sched ff_sched;

/* "UniPCMultistepScheduler" / "FlowMatchEulerDiscreteScheduler". */
const char *ff_sched_kind_name(ff_sched_kind kind);
/* 0 and *out for a known _class_name, -1 otherwise. */
int ff_sched_kind_from_name(const char *class_name, ff_sched_kind *out);

/* diffusers' constructor defaults for kind (UniPC: flow sigmas and
 * flow_prediction, which are not diffusers' defaults but the only mode
 * supported). */
void ff_sched_config_default(ff_sched_config *c, ff_sched_kind kind);
/* Overrides the fields of c that obj (a JSON object) sets; reads every key of
 * the diffusers config of c->kind, rejects unsupported values naming the key
 * (FF_ERR_UNSUPPORTED) and wrong types (FF_ERR_FORMAT). Keys that belong to
 * neither scheduler are ignored, as diffusers ignores them. `what` names the
 * source in messages ("tiny-wan21/scheduler/scheduler_config.json"). */
ff_status ff_sched_config_apply_json(ff_sched_config *c, const ff_json *obj, const char *what, ff_err *err);
/* kind from obj's "_class_name" (required), then defaults + apply_json. */
ff_status ff_sched_config_from_json(const ff_json *obj, const char *what, ff_sched_config *c, ff_err *err);
/* path: a scheduler folder (reads scheduler_config.json in it) or a file. */
ff_status ff_sched_config_load(const char *path, ff_sched_config *c, ff_err *err);

/* Validates c and creates a scheduler (no timesteps yet). *out is owned by the
 * caller: ff_sched_free. */
ff_status ff_sched_create(const ff_sched_config *c, ff_sched **out, ff_err *err);
/* ff_sched_config_load + ff_sched_create. */
ff_status ff_sched_load(const char *path, ff_sched **out, ff_err *err);
void ff_sched_free(ff_sched *s);
const ff_sched_config *ff_sched_get_config(const ff_sched *s);

/* diffusers set_timesteps(n): builds n timesteps and n+1 sigmas, resets the
 * history and sets the begin index to 0 (WanPipeline's set_begin_index(0)). */
ff_status ff_sched_set_timesteps(ff_sched *s, int64_t n, ff_err *err);
/* FlowMatchEulerDiscreteScheduler.set_timesteps(sigmas=...) (custom sigmas,
 * as HunyuanVideoPipeline passes np.linspace(1, 0, N+1)[:-1]): the n values
 * are cast to float32 (np.array(sigmas).astype(np.float32)), shifted IN
 * FLOAT32 (shift*s / (1 + (shift-1)*s)), stretched to shift_terminal when
 * set, inverted when invert_sigmas; timesteps = sigmas * num_train_timesteps
 * (float32); the terminal sigma (0, or 1 inverted) is appended. Resets the
 * history and the begin index as ff_sched_set_timesteps. FF_ERR_UNSUPPORTED
 * for UniPC (diffusers' UniPC has no custom sigmas), FF_ERR_ARG for n < 1 or
 * a non-finite value. */
ff_status ff_sched_set_sigmas(ff_sched *s, const double *sigmas, int64_t n, ff_err *err);
/* First step index (img2img-style partial schedules); clears the history. */
ff_status ff_sched_set_begin_index(ff_sched *s, int64_t begin, ff_err *err);
/* Forgets the multistep history and restarts at the begin index; keeps the
 * timesteps (e.g. before rendering the next video with the same schedule). */
void ff_sched_reset(ff_sched *s);

int64_t ff_sched_num_steps(const ff_sched *s);        /* 0 before set_timesteps */
/* FF_I64 for UniPC, FF_F32 for FlowMatch: the dtype diffusers' timesteps have
 * and the transformer receives. */
ff_dtype ff_sched_timestep_dtype(const ff_sched *s);
/* num_steps values; exact for both dtypes (int64 < 2^53, float32). */
const double *ff_sched_timesteps(const ff_sched *s);
const float *ff_sched_sigmas(const ff_sched *s);      /* num_steps + 1 values */
/* Owned host copies: timesteps (N,) in ff_sched_timestep_dtype, sigmas (N+1,) F32. */
ff_status ff_sched_timesteps_tensor(const ff_sched *s, ff_tensor *out, ff_err *err);
ff_status ff_sched_sigmas_tensor(const ff_sched *s, ff_tensor *out, ff_err *err);

/* Index of the step the next ff_sched_step performs (its timestep is
 * ff_sched_timesteps(s)[i]). */
int64_t ff_sched_step_index(const ff_sched *s);

/* One denoising step: prev = step(model_output, sample) at the current step
 * index, then the index advances. All three are F32 host tensors of the same
 * numel; prev is allocated by the caller and may alias sample or
 * model_output. The history must keep the same numel until the next
 * set_timesteps/reset. */
ff_status ff_sched_step(ff_sched *s, const ff_tensor *model_output, const ff_tensor *sample, ff_tensor *prev,
                        ff_err *err);
/* The generator a scheduler that draws noise inside step() takes it from
 * (diffusers' step(..., generator=)); its state advances with every step,
 * so it is part of the scheduler's state across a run. Borrowed; NULL for
 * none. UniPC and FlowMatch (as configured here) draw nothing. */
void ff_sched_set_generator(ff_sched *s, ff_rng *rng);

/* The CogVideoX scheduler behind s (its x0, its per-sample generators,
 * its noise draws: CogVideoXPipeline's loop uses them), NULL for the other
 * classes or before set_timesteps. Borrowed from s. */
ff_cogsched *ff_sched_cogvideox(ff_sched *s);

/* UniPC: the predictor order used by the last step (diffusers' this_order);
 * 1 for FlowMatch, 0 before the first step. */
int ff_sched_last_order(const ff_sched *s);

#endif
