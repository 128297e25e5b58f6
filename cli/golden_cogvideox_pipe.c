/* golden_cogvideox_pipe: handler of the "cogvideox_pipeline" group
 * (CogVideoXPipeline.__call__), run on the component chain (ff_chain_run)
 * with the case's options: prompt / negative_prompt (a string, a list or
 * null), seed or seeds, sizes, steps, guidance_scale, use_dynamic_cfg,
 * max_sequence_length, num_videos_per_prompt, and a replaced scheduler
 * ("pipe.scheduler = <Class>.from_config(pipe.scheduler.config)": that
 * class's defaults, the folder's scheduler config, then
 * options.scheduler_config). Per-step intermediates are stacked in step
 * order (N, ...); the DPM noise draws (0 to 2 per step) in draw order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/golden.h"
#include "cli/golden_pipe.h"
#include "pipeline/chain.h"

#define MAX_STEPS 1024
#define MAX_ROWS (2 * MAX_STEPS)

/* rows of one intermediate, concatenated in arrival order at the end */
typedef struct {
    const char *from, *to;
    ff_tensor rows[MAX_ROWS];
    int n;
} stack;

typedef struct {
    stack stacks[8];
    int n_stacks;
    golden_outputs *outs;
    ff_tensor video, frames;
} pipe_ctx;

static ff_status on_intermediate(void *user, const char *name, int64_t step, const ff_tensor *t, ff_err *err) {
    pipe_ctx *pc = user;
    if (step < 0) {
        ff_tensor copy;
        ff_status st = ff_tensor_clone(&copy, t, err);
        return st ? st : golden_out_add(pc->outs, name, &copy, err);
    }
    for (int i = 0; i < pc->n_stacks; i++) {
        stack *s = &pc->stacks[i];
        if (strcmp(s->from, name) != 0) continue;
        if (s->n >= MAX_ROWS) return ff_err_set(err, FF_ERR_ARG, "%s: more than %d rows", name, MAX_ROWS);
        if (t->ndim + 1 > FF_MAX_DIMS) return ff_err_set(err, FF_ERR_SHAPE, "%s: too many dims to stack", name);
        if (s->n && (s->rows[0].dtype != t->dtype || !ff_tensor_same_shape(&s->rows[0], t)))
            return ff_err_set(err, FF_ERR_SHAPE, "%s: step %lld changes shape or dtype", name, (long long)step);
        return ff_tensor_clone(&s->rows[s->n++], t, err);
    }
    return FF_OK;
}

static ff_status stack_out(stack *s, golden_outputs *outs, ff_err *err) {
    if (!s->n) return FF_OK;
    const ff_tensor *r0 = &s->rows[0];
    int64_t shape[FF_MAX_DIMS];
    shape[0] = s->n;
    for (int d = 0; d < r0->ndim; d++) shape[d + 1] = r0->shape[d];
    ff_tensor all;
    ff_status st = ff_tensor_alloc(&all, r0->dtype, r0->ndim + 1, shape, err);
    if (st) return st;
    const size_t nb = ff_tensor_nbytes(r0);
    for (int i = 0; i < s->n; i++) memcpy((char *)all.data + (size_t)i * nb, s->rows[i].data, nb);
    return golden_out_add(outs, s->to, &all, err);
}

/* A decoded chunk (nb, C, nt, H, W) / (nb, nt, H, W, C) into the whole video and frames. */
static ff_status on_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    pipe_ctx *pc = user;
    return golden_pipe_add_chunk(&pc->video, &pc->frames, ch, err);
}

/* pipe.scheduler = <Class>.from_config(pipe.scheduler.config) */
static ff_status scheduler_override(const golden_case *c, ff_chain *p, ff_err *err) {
    const char *desc = ff_json_get_string(c->options, "scheduler");
    const ff_json *sc = ff_json_get(c->options, "scheduler_config");
    const char *cls = sc ? ff_json_get_string(sc, "_class_name") : NULL;
    if (!cls && (!desc || !strstr(desc, "pipe.scheduler"))) return FF_OK;
    const char *names[] = {"CogVideoXDPMScheduler", "CogVideoXDDIMScheduler", "UniPCMultistepScheduler",
                           "FlowMatchEulerDiscreteScheduler"};
    ff_sched_kind kind;
    int found = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !found; i++)
        if ((cls && !strcmp(cls, names[i])) || (!cls && strstr(desc, names[i])))
            found = !ff_sched_kind_from_name(names[i], &kind);
    if (!found) return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: scheduler \"%s\" is not implemented", c->name, cls ? cls : desc);
    char path[4200];
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", c->pipeline);
    ff_json_doc *doc = NULL;
    ff_sched_config cfg;
    ff_sched_config_default(&cfg, kind);
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (!st) st = ff_sched_config_apply_json(&cfg, ff_json_root(doc), path, err);
    ff_json_free(doc);
    if (!st && sc) st = ff_sched_config_apply_json(&cfg, sc, "options.scheduler_config", err);
    return st ? st : ff_chain_set_scheduler(p, &cfg, err);
}

ff_status golden_cogvideox_pipeline(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (strcmp(c->op, "CogVideoXPipeline.__call__") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no pipeline handler", c->name, c->op);
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: pipeline case without a pipeline folder", c->name);
    const char **prompts = NULL, **neg = NULL;
    int n = 0, nn = 0;
    static const char *const names[][2] = {{"transformer_timestep", "transformer_timestep_inputs"},
                                           {"noise_pred_cond", "noise_pred_cond"},
                                           {"noise_pred_uncond", "noise_pred_uncond"},
                                           {"guidance_scale", "guidance_scales"},
                                           {"pred_original_sample", "pred_original_samples"},
                                           {"latents", "latents_steps"},
                                           {"dpm_noise", "dpm_noises"}};
    uint64_t seeds[64];
    ff_chain_params prm;
    ff_chain *p = NULL;
    pipe_ctx *pc = calloc(1, sizeof *pc);
    if (!pc) return ff_err_set(err, FF_ERR_NOMEM, "no memory");
    pc->outs = outs;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        pc->stacks[pc->n_stacks].from = names[i][0], pc->stacks[pc->n_stacks++].to = names[i][1];
    ff_status st;
    if ((st = ff_chain_open(c->be, c->pipeline, NULL, NULL, &p, err))) goto done;
    ff_chain_params_default(p, &prm);
    if ((st = golden_opt_strings(c, "prompt", &prompts, &n, err)) || (st = golden_opt_strings(c, "negative_prompt", &neg, &nn, err))) goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.prompt is missing", c->name);
        goto done;
    }
    prm.prompts = prompts, prm.n_prompts = n;
    prm.negative_prompts = neg, prm.n_negative = nn;
    if ((st = golden_opt_int(c, "height", 480, 1, 1 << 16, &prm.height, err)) || (st = golden_opt_int(c, "width", 720, 1, 1 << 16, &prm.width, err)) ||
        (st = golden_opt_int(c, "num_frames", 49, 1, 1 << 20, &prm.num_frames, err)) ||
        (st = golden_opt_int(c, "num_inference_steps", 50, 1, MAX_STEPS, &prm.num_inference_steps, err)) ||
        (st = golden_opt_int(c, "max_sequence_length", 226, 1, 1 << 16, &prm.max_sequence_length, err)) ||
        (st = golden_opt_int(c, "num_videos_per_prompt", 1, 1, 64, &prm.num_videos_per_prompt, err)))
        goto done;
    if (ff_json_get_double(c->options, "guidance_scale", 6.0, &prm.guidance_scale) ||
        ff_json_get_bool(c->options, "use_dynamic_cfg", 0, &prm.use_dynamic_cfg)) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.guidance_scale / use_dynamic_cfg has the wrong type", c->name);
        goto done;
    }
    const ff_json *sj = ff_json_get(c->options, "seeds");
    prm.n_seeds = sj && sj->type == FF_JSON_ARRAY ? (int)ff_json_count(sj) : 1;
    if (prm.n_seeds < 1 || prm.n_seeds > 64) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.seeds has %d entries", c->name, prm.n_seeds);
        goto done;
    }
    for (int i = 0; i < prm.n_seeds; i++)
        if (ff_json_uint64(sj && sj->type == FF_JSON_ARRAY ? ff_json_at(sj, (size_t)i) : ff_json_get(c->options, "seed"), &seeds[i])) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.seed(s) is not an unsigned integer", c->name);
            goto done;
        }
    prm.seeds = seeds;
    prm.on_intermediate = on_intermediate;
    prm.on_frames = on_frames;
    prm.user = pc;
    if ((st = scheduler_override(c, p, err)) || (st = ff_chain_run(p, &prm, NULL, err))) goto done;
    for (int i = 0; i < pc->n_stacks; i++)
        if ((st = stack_out(&pc->stacks[i], outs, err))) goto done;
    if (pc->video.data && ((st = golden_out_add(outs, "video", &pc->video, err)) || (st = golden_out_add(outs, "frames", &pc->frames, err))))
        goto done;
done:
    for (int i = 0; i < pc->n_stacks; i++)
        for (int k = 0; k < pc->stacks[i].n; k++) ff_tensor_free(&pc->stacks[i].rows[k]);
    ff_tensor_free(&pc->video);
    ff_tensor_free(&pc->frames);
    free(pc);
    ff_chain_close(p);
    free(prompts);
    free(neg);
    return st;
}
