/* golden_pipeline: handler of the "pipeline" group (WanPipeline.__call__)
 * and of "i2v_pipeline" (WanImageToVideoPipeline.__call__ with the case's
 * image; also transformer_hidden_states_inputs).
 *
 * Runs the folder's family on the component chain (ff_chain_run) with the case's options (prompt / negative_prompt
 * as a string, a list or null; seed or seeds; sizes, steps, guidance_scale,
 * guidance_scale_2, max_sequence_length, num_videos_per_prompt) and, when
 * options.scheduler says the folder's scheduler was replaced
 * ("pipe.scheduler = <Class>(...)"), that class with
 * options.scheduler_config. Outputs every tensor the cases record:
 * latents_init, prompt_embeds, negative_prompt_embeds, timesteps,
 * transformer_timestep_inputs (N, B[, seq]), expert_index (N),
 * noise_pred_cond / noise_pred_uncond (N, B, C, F, h, w), latents_steps,
 * vae_decode_input, video (B, 3, T, H, W) and frames (B, T, H, W, 3), the
 * last two assembled from the streamed decode chunks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/golden.h"
#include "cli/golden_pipe.h"
#include "pipeline/chain.h"

/* per-step intermediates stacked into (N, ...) */
typedef struct {
    const char *from, *to;
    ff_tensor t;
} stack;

typedef struct {
    int64_t n_steps;
    stack stacks[6];
    golden_outputs *outs;
    ff_tensor video, frames;
} pipe_ctx;

static ff_status on_intermediate(void *user, const char *name, int64_t step, const ff_tensor *t, ff_err *err) {
    pipe_ctx *pc = user;
    if (step < 0) { /* whole tensors, recorded under their own names */
        ff_tensor copy;
        ff_status st = ff_tensor_clone(&copy, t, err);
        return st ? st : golden_out_add(pc->outs, name, &copy, err);
    }
    for (size_t i = 0; i < sizeof pc->stacks / sizeof pc->stacks[0]; i++) {
        stack *s = &pc->stacks[i];
        if (strcmp(s->from, name) != 0) continue;
        if (step >= pc->n_steps)
            return ff_err_set(err, FF_ERR_INTERNAL, "%s: step %lld beyond %lld steps", name, (long long)step,
                              (long long)pc->n_steps);
        if (t->ndim + 1 > FF_MAX_DIMS) return ff_err_set(err, FF_ERR_SHAPE, "%s: too many dims to stack", name);
        if (!s->t.data) {
            int64_t shape[FF_MAX_DIMS];
            shape[0] = pc->n_steps;
            for (int d = 0; d < t->ndim; d++) shape[d + 1] = t->shape[d];
            ff_status st = ff_tensor_alloc(&s->t, t->dtype, t->ndim + 1, shape, err);
            if (st) return st;
        }
        size_t nb = ff_tensor_nbytes(t);
        if (s->t.dtype != t->dtype || nb * (size_t)pc->n_steps != ff_tensor_nbytes(&s->t))
            return ff_err_set(err, FF_ERR_SHAPE, "%s: step %lld changes shape or dtype", name, (long long)step);
        memcpy((char *)s->t.data + (size_t)step * nb, t->data, nb);
        return FF_OK;
    }
    return FF_OK; /* not recorded by the cases */
}

/* Copies a chunk (nb, C, nt, H, W) / (nb, nt, H, W, C) into the whole video and frames. */
static ff_status on_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    pipe_ctx *pc = user;
    return golden_pipe_add_chunk(&pc->video, &pc->frames, ch, err);
}

/* options.scheduler "pipe.scheduler = <Class>(...)" replaces the folder's
 * scheduler: that class's defaults, then options.scheduler_config. */
static ff_status scheduler_override(const golden_case *c, ff_chain *p, ff_err *err) {
    const char *desc = ff_json_get_string(c->options, "scheduler");
    const ff_json *sc = ff_json_get(c->options, "scheduler_config");
    const char *cls_json = sc ? ff_json_get_string(sc, "_class_name") : NULL;
    if (!cls_json && (!desc || !strstr(desc, "pipe.scheduler"))) return FF_OK; /* the folder's scheduler */
    ff_sched_kind kind;
    const char *names[2] = {"UniPCMultistepScheduler", "FlowMatchEulerDiscreteScheduler"};
    int found = 0;
    for (int i = 0; i < 2 && !found; i++)
        if ((cls_json && !strcmp(cls_json, names[i])) || (!cls_json && strstr(desc, names[i])))
            found = !ff_sched_kind_from_name(names[i], &kind);
    if (!found)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: scheduler \"%s\" is not implemented", c->name,
                          cls_json ? cls_json : desc);
    ff_sched_config cfg;
    ff_sched_config_default(&cfg, kind);
    ff_status st;
    if (sc && (st = ff_sched_config_apply_json(&cfg, sc, "options.scheduler_config", err))) return st;
    return ff_chain_set_scheduler(p, &cfg, err);
}

ff_status golden_pipeline(const golden_case *c, golden_outputs *outs, ff_err *err) {
    /* "<PipelineClass>.__call__": the folder is opened as that class (diffusers' Class.from_pretrained) */
    char cls[128];
    const char *dot = strstr(c->op, ".__call__");
    if (!dot || dot[9] || (size_t)(dot - c->op) >= sizeof cls)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no pipeline handler", c->name, c->op);
    memcpy(cls, c->op, (size_t)(dot - c->op));
    cls[dot - c->op] = 0;
    ff_chain_opts oo = {0};
    oo.pipeline_class = cls;
    ff_tensor image = {0};
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: pipeline case without a pipeline folder", c->name);
    const char **prompts = NULL, **neg = NULL;
    int n = 0, nn = 0;
    uint64_t seeds[4096];
    ff_chain_params prm;
    ff_chain *p = NULL;
    pipe_ctx pc = {0};
    pc.outs = outs;
    pc.stacks[0] = (stack){"transformer_timestep", "transformer_timestep_inputs", {0}};
    pc.stacks[1] = (stack){"expert_index", "expert_index", {0}};
    pc.stacks[2] = (stack){"noise_pred_cond", "noise_pred_cond", {0}};
    pc.stacks[3] = (stack){"noise_pred_uncond", "noise_pred_uncond", {0}};
    pc.stacks[4] = (stack){"latents", "latents_steps", {0}};
    pc.stacks[5] = (stack){"transformer_hidden_states", "transformer_hidden_states_inputs", {0}};
    ff_status st;
    if ((st = ff_chain_open(c->be, c->pipeline, &oo, NULL, &p, err))) goto done;
    ff_chain_params_default(p, &prm);
    if (c->inputs && ff_st_find(c->inputs, "image")) { /* image to video: the case's picture (and its PNG) */
        if ((st = golden_image_input(c, "image", &image, err))) goto done;
        prm.image = &image;
    }
    if ((st = golden_opt_strings(c, "prompt", &prompts, &n, err)) || (st = golden_opt_strings(c, "negative_prompt", &neg, &nn, err))) goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.prompt is missing", c->name);
        goto done;
    }
    prm.prompts = prompts;
    prm.n_prompts = n;
    prm.negative_prompts = neg;
    prm.n_negative = nn;
    if ((st = golden_opt_int(c, "height", 480, 1, 1 << 16, &prm.height, err)) || (st = golden_opt_int(c, "width", 832, 1, 1 << 16, &prm.width, err)) ||
        (st = golden_opt_int(c, "num_frames", 81, 1, 1 << 20, &prm.num_frames, err)) ||
        (st = golden_opt_int(c, "num_inference_steps", 50, 1, 100000, &prm.num_inference_steps, err)) ||
        (st = golden_opt_int(c, "max_sequence_length", 512, 1, 1 << 16, &prm.max_sequence_length, err)) ||
        (st = golden_opt_int(c, "num_videos_per_prompt", 1, 1, 4096, &prm.num_videos_per_prompt, err)))
        goto done;
    if (ff_json_get_double(c->options, "guidance_scale", 5.0, &prm.guidance_scale)) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.guidance_scale is not a number", c->name);
        goto done;
    }
    const ff_json *g2 = ff_json_get(c->options, "guidance_scale_2");
    if (!ff_json_is_null(g2)) {
        prm.has_guidance_scale_2 = 1;
        if (ff_json_double(g2, &prm.guidance_scale_2)) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.guidance_scale_2 is not a number", c->name);
            goto done;
        }
    }
    const ff_json *sj = ff_json_get(c->options, "seeds");
    if (sj && sj->type == FF_JSON_ARRAY) { /* a generator list */
        size_t k = ff_json_count(sj);
        if (k < 1 || k > sizeof seeds / sizeof seeds[0]) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.seeds has %zu entries", c->name, k);
            goto done;
        }
        for (size_t i = 0; i < k; i++)
            if (ff_json_uint64(ff_json_at(sj, i), &seeds[i])) {
                st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.seeds[%zu] is not an unsigned integer", c->name, i);
                goto done;
            }
        prm.n_seeds = (int)k;
    } else {
        if (ff_json_uint64(ff_json_get(c->options, "seed"), &seeds[0])) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.seed is not an unsigned integer", c->name);
            goto done;
        }
        prm.n_seeds = 1;
    }
    prm.seeds = seeds;
    pc.n_steps = prm.num_inference_steps;
    prm.on_intermediate = on_intermediate;
    prm.on_frames = on_frames;
    prm.user = &pc;
    if ((st = scheduler_override(c, p, err))) goto done;
    if ((st = ff_chain_run(p, &prm, NULL, err))) goto done;
    for (size_t i = 0; i < sizeof pc.stacks / sizeof pc.stacks[0]; i++)
        if (pc.stacks[i].t.data && (st = golden_out_add(outs, pc.stacks[i].to, &pc.stacks[i].t, err))) goto done;
    if (pc.video.data && ((st = golden_out_add(outs, "video", &pc.video, err)) || (st = golden_out_add(outs, "frames", &pc.frames, err))))
        goto done;
done:
    for (size_t i = 0; i < sizeof pc.stacks / sizeof pc.stacks[0]; i++) ff_tensor_free(&pc.stacks[i].t);
    ff_tensor_free(&pc.video);
    ff_tensor_free(&pc.frames);
    ff_tensor_free(&image);
    ff_chain_close(p);
    free(prompts);
    free(neg);
    return st;
}
