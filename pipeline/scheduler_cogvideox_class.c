/* scheduler_cogvideox_class: CogVideoXDDIMScheduler and CogVideoXDPMScheduler
 * as ff_sched classes (scheduler_impl.h), so that a CogVideoX folder's
 * scheduler is read, overridden and created like every other one (chain,
 * worker, render). The work is done by pipeline/scheduler_cogvideox.h's
 * ff_cogsched, which ff_sched_cogvideox hands to CogVideoXPipeline's loop for
 * what the generic step does not return (x0, the DPM noise draws, one
 * generator per sample). Through the generic ff_sched_step the DPM scheduler
 * draws from the borrowed ff_sched_set_generator generator and advances it.
 * Timesteps are int64; sigmas are sqrt((1 - a_t) / a_t) of the steps and 0. */
#include <math.h>
#include <string.h>

#include "pipeline/scheduler_impl.h"

static ff_cogsched_kind cog_kind(const ff_sched_config *c) {
    return c->kind == FF_SCHED_COGVIDEOX_DPM ? FF_COGSCHED_DPM : FF_COGSCHED_DDIM;
}

static void defaults(ff_sched_config *c) {
    ff_cogsched_config_default(&c->cog, cog_kind(c));
    c->num_train_timesteps = c->cog.num_train_timesteps;
}

static ff_status apply_json(ff_sched_config *c, const ff_json *o, const char *what, ff_err *err) {
    c->cog.num_train_timesteps = c->num_train_timesteps;
    ff_status st = ff_cogsched_config_apply_json(&c->cog, o, what, err);
    c->cog.kind = cog_kind(c);
    c->num_train_timesteps = c->cog.num_train_timesteps;
    return st;
}

/* Creating validates the config and builds alphas_cumprod. */
static ff_status check(const ff_sched_config *c, ff_err *err) {
    ff_cogsched_config cc = c->cog;
    cc.kind = cog_kind(c);
    cc.num_train_timesteps = c->num_train_timesteps;
    ff_cogsched *s = NULL;
    ff_status st = ff_cogsched_create(&cc, &s, err);
    ff_cogsched_free(s);
    return st;
}

static ff_status set_timesteps(ff_sched *s, int64_t n, ff_err *err) {
    if (!s->cog) {
        ff_cogsched_config cc = s->cfg.cog;
        cc.kind = cog_kind(&s->cfg);
        cc.num_train_timesteps = s->cfg.num_train_timesteps;
        ff_status st = ff_cogsched_create(&cc, &s->cog, err);
        if (st) return st;
    }
    ff_status st = ff_cogsched_set_timesteps(s->cog, n, err);
    if (st) return st;
    const int64_t *ts = ff_cogsched_timesteps(s->cog);
    const double *a = ff_cogsched_alphas_cumprod(s->cog);
    for (int64_t i = 0; i < n; i++) {
        s->timesteps[i] = (double)ts[i];
        s->sigmas[i] = (float)sqrt((1.0 - a[ts[i]]) / a[ts[i]]);
    }
    s->sigmas[n] = 0.0f;
    return FF_OK;
}

static ff_status step(ff_sched *s, const ff_tensor *model_output, const ff_tensor *sample, ff_tensor *prev, ff_err *err) {
    ff_status st;
    if (s->rng && (st = ff_cogsched_set_generators(s->cog, s->rng, 1, err))) return st;
    st = ff_cogsched_step(s->cog, model_output, sample, prev, NULL, NULL, NULL, err);
    if (s->rng) {
        size_t n = 0;
        const ff_rng *g = ff_cogsched_generators(s->cog, &n);
        if (n == 1) *s->rng = g[0];
    }
    if (!st) s->step_index = ff_cogsched_step_index(s->cog);
    return st;
}

static void destroy(ff_sched *s) {
    ff_cogsched_free(s->cog);
    s->cog = NULL;
}

ff_cogsched *ff_sched_cogvideox(ff_sched *s) { return s->cls->destroy == destroy ? s->cog : NULL; }

const ff_sched_class ff_sched_cogvideox_ddim_class = {"CogVideoXDDIMScheduler", FF_SCHED_COGVIDEOX_DDIM, FF_I64, apply_json,
                                                      check, set_timesteps, step, defaults, destroy};
const ff_sched_class ff_sched_cogvideox_dpm_class = {"CogVideoXDPMScheduler", FF_SCHED_COGVIDEOX_DPM, FF_I64, apply_json,
                                                     check, set_timesteps, step, defaults, destroy};
