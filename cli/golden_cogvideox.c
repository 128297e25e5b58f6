/* golden_cogvideox: handlers of the CogVideoX model-level cases
 * (../shared/golden/COGVIDEOX.md): cogvideox_latents, cogvideox_embeddings,
 * cogvideox_transformer, cogvideox_vae, scheduler_cogvideox_ddim and
 * scheduler_cogvideox_dpm. Each handler calls the module that a
 * CogVideoXPipeline run uses (models/cogvideox_*, pipeline/
 * scheduler_cogvideox.h, pipeline/cogvideox_latents.h) and names its outputs
 * as the case's expected tensors. Not here: the text path (t5_* groups) and
 * the whole pipeline (cogvideox_pipeline). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/golden.h"
#include "core/ff_rng.h"
#include "pipeline/scheduler_cogvideox.h"

/* ---- helpers ------------------------------------------------------------- */

static ff_status load_input(const golden_case *c, const char *name, ff_dtype dt, ff_tensor *t, ff_err *err) {
    if (!c->inputs) return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no inputs.safetensors", c->name);
    return ff_st_load(c->inputs, name, dt, t, err);
}

static ff_status opt_int(const golden_case *c, const char *key, int64_t dflt, int64_t *out, ff_err *err) {
    if (ff_json_get_int64(c->options, key, dflt, out) || *out == INT64_MIN)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.%s is not an integer", c->name, key);
    return FF_OK;
}

static ff_status component_dir(const golden_case *c, const char *comp, char *out, size_t n, ff_err *err) {
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: the case names no pipeline folder", c->name);
    if ((size_t)snprintf(out, n, "%s/%s", c->pipeline, comp) >= n)
        return ff_err_set(err, FF_ERR_ARG, "%s: pipeline path too long", c->name);
    return FF_OK;
}

/* ---- schedulers ------------------------------------------------------------- */

static ff_status sched_for_case(const golden_case *c, ff_cogsched_kind kind, ff_cogsched **s, ff_err *err) {
    char path[PATH_MAX];
    ff_cogsched_config cfg;
    ff_status st = component_dir(c, "scheduler", path, sizeof path, err);
    /* the folder's config under the case's class (CogVideoXDPMScheduler.from_config(folder config)) */
    if (!st) st = ff_cogsched_config_load_as(path, kind, &cfg, err);
    if (!st) st = ff_cogsched_create(&cfg, s, err);
    return st;
}

static ff_status add_timesteps(const ff_cogsched *s, golden_outputs *outs, ff_err *err) {
    ff_tensor t;
    ff_status st = ff_cogsched_timesteps_tensor(s, &t, err);
    return st ? st : golden_out_add(outs, "timesteps", &t, err);
}

/* The step sequence of the case: x = sample; x, x0 = step(model_outputs[i], ...). */
static ff_status sched_steps(const golden_case *c, ff_cogsched *s, int64_t n, golden_outputs *outs, ff_err *err) {
    char a[96], b[96];
    ff_tensor sample = {0}, mo = {0}, prev = {0}, x0s = {0}, noises = {0}, draws = {0}, noise_buf[2] = {{0}};
    ff_status st;
    if ((st = load_input(c, "sample", FF_F32, &sample, err)) || (st = load_input(c, "model_outputs", FF_F32, &mo, err)))
        goto done;
    const int64_t numel = ff_tensor_numel(&sample);
    if (sample.ndim >= FF_MAX_DIMS || mo.ndim != sample.ndim + 1 || mo.shape[0] < n ||
        ff_tensor_numel(&mo) != mo.shape[0] * numel) {
        st = ff_err_set(err, FF_ERR_SHAPE, "%s: model_outputs %s do not hold %lld steps of sample %s", c->name,
                        ff_tensor_describe(&mo, a, sizeof a), (long long)n, ff_tensor_describe(&sample, b, sizeof b));
        goto done;
    }
    int64_t shape[FF_MAX_DIMS], nshape[FF_MAX_DIMS];
    shape[0] = n;
    for (int d = 0; d < sample.ndim; d++) shape[d + 1] = nshape[d + 1] = sample.shape[d];
    nshape[0] = 2 * n; /* at most two draws per step */
    if ((st = ff_tensor_alloc(&prev, FF_F32, sample.ndim + 1, shape, err)) ||
        (st = ff_tensor_alloc(&x0s, FF_F32, sample.ndim + 1, shape, err)) ||
        (st = ff_tensor_alloc(&noises, FF_F32, sample.ndim + 1, nshape, err)) ||
        (st = ff_tensor_allocv(&draws, FF_I64, err, 1, n)) ||
        (st = ff_tensor_alloc(&noise_buf[0], FF_F32, sample.ndim, sample.shape, err)) ||
        (st = ff_tensor_alloc(&noise_buf[1], FF_F32, sample.ndim, sample.shape, err)))
        goto done;
    int64_t n_noises = 0;
    for (int64_t i = 0; i < n; i++) {
        ff_tensor m_i, p_i, x_i;
        ff_tensor_view(&m_i, FF_F32, sample.ndim, sample.shape, (float *)mo.data + i * numel, FF_LOC_HOST);
        ff_tensor_view(&p_i, FF_F32, sample.ndim, sample.shape, (float *)prev.data + i * numel, FF_LOC_HOST);
        ff_tensor_view(&x_i, FF_F32, sample.ndim, sample.shape, (float *)x0s.data + i * numel, FF_LOC_HOST);
        int nn = 0;
        if ((st = ff_cogsched_step(s, &m_i, &sample, &p_i, &x_i, noise_buf, &nn, err))) {
            ff_err_wrap(err, "%s: step %lld: ", c->name, (long long)i);
            goto done;
        }
        for (int k = 0; k < nn; k++, n_noises++)
            memcpy((float *)noises.data + n_noises * numel, noise_buf[k].data, (size_t)numel * sizeof(float));
        ((int64_t *)draws.data)[i] = nn;
        memcpy(sample.data, p_i.data, (size_t)numel * sizeof(float));
    }
    if ((st = golden_out_add(outs, "prev_samples", &prev, err)) ||
        (st = golden_out_add(outs, "pred_original_samples", &x0s, err)))
        goto done;
    if (ff_cogsched_get_config(s)->kind == FF_COGSCHED_DPM) {
        noises.shape[0] = n_noises; /* keep the draws made */
        if ((st = golden_out_add(outs, "noises", &noises, err)) ||
            (st = golden_out_add(outs, "noise_draws_per_step", &draws, err)))
            goto done;
    }
done:
    ff_tensor_free(&sample);
    ff_tensor_free(&mo);
    ff_tensor_free(&prev);
    ff_tensor_free(&x0s);
    ff_tensor_free(&noises);
    ff_tensor_free(&draws);
    ff_tensor_free(&noise_buf[0]);
    ff_tensor_free(&noise_buf[1]);
    return st;
}

ff_status golden_cogvideox_scheduler(const golden_case *c, golden_outputs *outs, ff_err *err) {
    const ff_cogsched_kind kind = strncmp(c->op, "CogVideoXDPMScheduler", 21) == 0 ? FF_COGSCHED_DPM : FF_COGSCHED_DDIM;
    ff_cogsched *s = NULL;
    ff_status st = sched_for_case(c, kind, &s, err);
    if (st) return st;
    if (strstr(c->op, "alphas_cumprod")) {
        ff_tensor a;
        const int64_t T = ff_cogsched_get_config(s)->num_train_timesteps;
        if (!(st = ff_tensor_allocv(&a, FF_F32, err, 1, T))) {
            const double *ac = ff_cogsched_alphas_cumprod(s);
            for (int64_t i = 0; i < T; i++) ((float *)a.data)[i] = (float)ac[i];
            st = golden_out_add(outs, "alphas_cumprod", &a, err);
        }
        ff_cogsched_free(s);
        return st;
    }
    int64_t n = 0;
    if (!(st = opt_int(c, "num_inference_steps", -1, &n, err)) && n < 1)
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.num_inference_steps must be positive", c->name);
    if (!st) st = ff_cogsched_set_timesteps(s, n, err);
    if (!st) st = add_timesteps(s, outs, err);
    if (!st && strstr(c->op, ".set_timesteps")) {
        ff_tensor p;
        if (!(st = ff_tensor_allocv(&p, FF_I64, err, 1, n))) {
            for (int64_t i = 0; i < n; i++) ((int64_t *)p.data)[i] = ff_cogsched_prev_timestep(s, i);
            st = golden_out_add(outs, "prev_timesteps", &p, err);
        }
    } else if (!st && strstr(c->op, ".step")) {
        if (kind == FF_COGSCHED_DPM) {
            int64_t seed;
            ff_rng g;
            if (!(st = opt_int(c, "generator_seed", -1, &seed, err)) && seed < 0)
                st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.generator_seed missing", c->name);
            if (!st) {
                ff_rng_seed(&g, (uint64_t)seed);
                st = ff_cogsched_set_generators(s, &g, 1, err);
            }
        }
        if (!st) st = sched_steps(c, s, n, outs, err);
    } else if (!st) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no handler", c->name, c->op);
    }
    ff_cogsched_free(s);
    return st;
}
