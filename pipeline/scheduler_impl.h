/* scheduler_impl (pipeline-internal): the ff_sched object and the scheduler
 * class table shared by scheduler.c (config, lifetime, accessors, the
 * registry of classes) and the algorithms (scheduler_unipc.c,
 * scheduler_flowmatch.c, ...). A scheduler class is a const table of its
 * diffusers class name, timestep dtype, config reader and checks, and its
 * set_timesteps / step; ff_sched dispatches through it. A new scheduler
 * adds its files, its ff_sched_kind, its table and one registry line in
 * scheduler.c. Not a public header. */
#ifndef FF_SCHEDULER_IMPL_H
#define FF_SCHEDULER_IMPL_H

#include "pipeline/scheduler.h"

typedef struct ff_sched_class {
    const char *class_name;    /* diffusers' _class_name */
    ff_sched_kind kind;
    ff_dtype timestep_dtype;   /* the dtype diffusers' timesteps have (the denoiser receives them) */
    /* reads every key of the class's config from obj (unsupported values FF_ERR_UNSUPPORTED naming the key) */
    ff_status (*apply_json)(ff_sched_config *c, const ff_json *obj, const char *what, ff_err *err);
    /* the class's checks at create (beyond num_train_timesteps and shift_terminal) */
    ff_status (*check)(const ff_sched_config *c, ff_err *err);
    /* fills s->timesteps (n) and s->sigmas (n + 1) */
    ff_status (*set_timesteps)(ff_sched *s, int64_t n, ff_err *err);
    /* one step at s->step_index on checked F32 host tensors of the same numel; advances the index */
    ff_status (*step)(ff_sched *s, const ff_tensor *model_output, const ff_tensor *sample, ff_tensor *prev, ff_err *err);
    /* optional: the class's own constructor defaults (after the common ones), and its teardown */
    void (*defaults)(ff_sched_config *c);
    void (*destroy)(ff_sched *s);
} ff_sched_class;

/* The class of kind / of a _class_name; NULL when none. */
const ff_sched_class *ff_sched_class_of(ff_sched_kind kind);
const ff_sched_class *ff_sched_class_named(const char *class_name);

struct ff_sched {
    const ff_sched_class *cls;
    ff_sched_config cfg;
    ff_rng *rng;               /* ff_sched_set_generator (schedulers that draw noise in step), borrowed */
    int64_t n;                 /* number of steps; 0 before set_timesteps */
    double *timesteps;         /* (n,) int64 or float32 values */
    float *sigmas;             /* (n + 1,) */
    int64_t begin_index;
    int64_t step_index;        /* next step */
    int last_order;            /* this_order of the last step (1 for FlowMatch) */
    /* UniPC multistep history, sized at the first step (numel elements each) */
    int64_t numel;
    float *hist[FF_SCHED_MAX_ORDER]; /* converted model outputs; hist[order-1] newest */
    int n_hist;                /* how many hist slots hold outputs */
    float *last_sample;        /* the (corrected) sample the last predictor started from */
    float *scratch;            /* corrector output before it becomes last_sample */
    float *conv;               /* this step's converted model output (x0) */
    int has_last_sample;
    int lower_order_nums;
    int64_t batch;             /* sample.shape[0] of the current step (thresholding) */
    ff_cogsched *cog;          /* the CogVideoX classes: the scheduler doing the work */
};

/* The CogVideoX classes (scheduler_cogvideox_class.c). */
extern const ff_sched_class ff_sched_cogvideox_ddim_class;
extern const ff_sched_class ff_sched_cogvideox_dpm_class;

/* numpy.linspace(start, stop, num) in float64 (num >= 1). */
void ff_sched_np_linspace(double start, double stop, int64_t num, double *out);
/* diffusers stretch_shift_to_terminal on n float64 sigmas, in place. */
void ff_sched_stretch_to_terminal(double *sig, int64_t n, double shift_terminal);

/* The UniPC history sized for numel (scheduler.c). */
ff_status ff_sched_history_ensure(ff_sched *s, int64_t numel, ff_err *err);

ff_status ff_sched_unipc_set_timesteps(ff_sched *s, int64_t n, ff_err *err);
ff_status ff_sched_unipc_step(ff_sched *s, const float *model_output, const float *sample, float *prev, ff_err *err);
ff_status ff_sched_flowmatch_set_timesteps(ff_sched *s, int64_t n, ff_err *err);
ff_status ff_sched_flowmatch_step(ff_sched *s, const float *model_output, const float *sample, float *prev, int64_t n,
                                  ff_err *err);

#endif
