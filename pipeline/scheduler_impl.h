/* scheduler_impl (pipeline-internal): the ff_sched object shared by
 * scheduler.c (config, lifetime, accessors) and the two algorithms
 * scheduler_unipc.c and scheduler_flowmatch.c. Not a public header. */
#ifndef FF_SCHEDULER_IMPL_H
#define FF_SCHEDULER_IMPL_H

#include "pipeline/scheduler.h"

struct ff_sched {
    ff_sched_config cfg;
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
};

/* numpy.linspace(start, stop, num) in float64 (num >= 1). */
void ff_sched_np_linspace(double start, double stop, int64_t num, double *out);
/* diffusers stretch_shift_to_terminal on n float64 sigmas, in place. */
void ff_sched_stretch_to_terminal(double *sig, int64_t n, double shift_terminal);

ff_status ff_sched_unipc_set_timesteps(ff_sched *s, int64_t n, ff_err *err);
ff_status ff_sched_unipc_step(ff_sched *s, const float *model_output, const float *sample, float *prev, ff_err *err);
ff_status ff_sched_flowmatch_set_timesteps(ff_sched *s, int64_t n, ff_err *err);
ff_status ff_sched_flowmatch_step(ff_sched *s, const float *model_output, const float *sample, float *prev, int64_t n,
                                  ff_err *err);

#endif
