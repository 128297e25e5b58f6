/* golden_scheduler: handlers of the scheduler_* cases (pipeline issue).
 *
 * "<Class>.set_timesteps" cases: outputs timesteps and sigmas.
 * "<Class>.step sequence" cases: set_timesteps(N), then
 *   x = inputs.sample; x = step(inputs.model_outputs[i], x) for each step,
 * outputs prev_samples (N, ...sample shape), timesteps, sigmas and, for
 * UniPC, orders (the predictor order of each step).
 *
 * The config: the pipeline folder's scheduler/scheduler_config.json when the
 * case names a pipeline whose scheduler is the case's class, otherwise the
 * class defaults; then options.scheduler_config, then the top-level options
 * (flow_shift, solver_order, ... as the generator passed them). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/golden.h"
#include "pipeline/scheduler.h"

static ff_status case_config(const golden_case *c, ff_sched_config *cfg, ff_err *err) {
    ff_sched_kind kind;
    const char *dot = strchr(c->op, '.');
    char cls[128];
    size_t n = dot ? (size_t)(dot - c->op) : strlen(c->op);
    if (n >= sizeof cls) n = sizeof cls - 1;
    memcpy(cls, c->op, n);
    cls[n] = 0;
    if (ff_sched_kind_from_name(cls, &kind))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: scheduler class \"%s\" is not implemented", c->name, cls);
    ff_status st;
    ff_sched_config_default(cfg, kind);
    if (c->pipeline[0]) {
        char path[PATH_MAX];
        ff_sched_config folder;
        if ((size_t)snprintf(path, sizeof path, "%s/scheduler", c->pipeline) >= sizeof path)
            return ff_err_set(err, FF_ERR_ARG, "%s: pipeline path too long", c->name);
        if ((st = ff_sched_config_load(path, &folder, err))) return st;
        if (folder.kind == kind) *cfg = folder;
    }
    const ff_json *sc = ff_json_get(c->options, "scheduler_config");
    if (sc && (st = ff_sched_config_apply_json(cfg, sc, "options.scheduler_config", err))) return st;
    if (c->options && (st = ff_sched_config_apply_json(cfg, c->options, "options", err))) return st;
    return FF_OK;
}

/* Adds the schedule of s as "timesteps" and "sigmas". */
static ff_status add_schedule(const ff_sched *s, golden_outputs *outs, ff_err *err) {
    ff_tensor t;
    ff_status st = ff_sched_timesteps_tensor(s, &t, err);
    if (!st) st = golden_out_add(outs, "timesteps", &t, err);
    if (!st) st = ff_sched_sigmas_tensor(s, &t, err);
    if (!st) st = golden_out_add(outs, "sigmas", &t, err);
    return st;
}

static ff_status run_steps(const golden_case *c, ff_sched *s, int64_t n, golden_outputs *outs, ff_err *err) {
    char a[96], b[96];
    ff_tensor sample = {0}, mo = {0}, prev = {0}, orders = {0};
    ff_status st;
    if (!c->inputs) return ff_err_set(err, FF_ERR_FORMAT, "%s: a step sequence case needs inputs.safetensors", c->name);
    if ((st = ff_st_load(c->inputs, "sample", FF_F32, &sample, err))) goto done;
    if ((st = ff_st_load(c->inputs, "model_outputs", FF_F32, &mo, err))) goto done;
    int64_t numel = ff_tensor_numel(&sample);
    if (sample.ndim >= FF_MAX_DIMS || mo.ndim != sample.ndim + 1 || mo.shape[0] < n ||
        ff_tensor_numel(&mo) != mo.shape[0] * numel) {
        st = ff_err_set(err, FF_ERR_SHAPE, "%s: model_outputs %s do not hold %lld steps of sample %s", c->name,
                        ff_tensor_describe(&mo, a, sizeof a), (long long)n, ff_tensor_describe(&sample, b, sizeof b));
        goto done;
    }
    int64_t shape[FF_MAX_DIMS];
    shape[0] = n;
    for (int d = 0; d < sample.ndim; d++) shape[d + 1] = sample.shape[d];
    if ((st = ff_tensor_alloc(&prev, FF_F32, sample.ndim + 1, shape, err))) goto done;
    if ((st = ff_tensor_allocv(&orders, FF_I64, err, 1, n))) goto done;
    for (int64_t i = 0; i < n; i++) {
        ff_tensor m_i, out_i;
        ff_tensor_view(&m_i, FF_F32, sample.ndim, sample.shape, (float *)mo.data + i * numel, FF_LOC_HOST);
        ff_tensor_view(&out_i, FF_F32, sample.ndim, sample.shape, (float *)prev.data + i * numel, FF_LOC_HOST);
        /* step i reads x (sample, or the output of step i-1) and writes prev[i] */
        if ((st = ff_sched_step(s, &m_i, &sample, &out_i, err))) {
            ff_err_wrap(err, "%s: step %lld: ", c->name, (long long)i);
            goto done;
        }
        memcpy(sample.data, out_i.data, (size_t)numel * sizeof(float));
        ((int64_t *)orders.data)[i] = ff_sched_last_order(s);
    }
    if ((st = golden_out_add(outs, "prev_samples", &prev, err))) goto done;
    if (ff_sched_get_config(s)->kind == FF_SCHED_UNIPC && (st = golden_out_add(outs, "orders", &orders, err)))
        goto done;
done:
    ff_tensor_free(&sample);
    ff_tensor_free(&mo);
    ff_tensor_free(&prev);
    ff_tensor_free(&orders);
    return st;
}

ff_status golden_scheduler(const golden_case *c, golden_outputs *outs, ff_err *err) {
    int is_steps = strstr(c->op, ".step") != NULL, is_ts = strstr(c->op, ".set_timesteps") != NULL;
    if (!is_steps && !is_ts) return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no handler", c->name, c->op);
    int64_t n;
    if (ff_json_get_int64(c->options, "num_inference_steps", -1, &n) || n < 1)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.num_inference_steps must be a positive integer", c->name);
    ff_sched_config cfg;
    ff_sched *s = NULL;
    ff_status st = case_config(c, &cfg, err);
    if (!st) st = ff_sched_create(&cfg, &s, err);
    if (!st) st = ff_sched_set_timesteps(s, n, err);
    if (!st) st = add_schedule(s, outs, err);
    if (!st && is_steps) st = run_steps(c, s, n, outs, err);
    ff_sched_free(s);
    return st;
}
