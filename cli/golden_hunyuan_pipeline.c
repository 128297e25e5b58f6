/* golden_hunyuan_pipeline: handler of the "hunyuan_pipeline" group
 * (HunyuanVideoPipeline.__call__).
 *
 * Runs the folder on the component chain (ff_chain_run) with the case's
 * options: prompt / negative_prompt (a string, a list or null),
 * true_cfg_scale, seed or seeds, sizes, steps, guidance_scale,
 * max_sequence_length, num_videos_per_prompt, and the prompt template
 * (options.prompt_template as diffusers takes it, else the default template
 * with options.crop_start). Outputs every tensor the cases record: the
 * whole-run intermediates under their own names (latents_init,
 * prompt_embeds, prompt_attention_mask, pooled_prompt_embeds and the
 * negative ones, guidance, timesteps, sigmas, vae_decode_input), the
 * per-step ones stacked (transformer_timestep_inputs (N, B), noise_pred_cond
 * / noise_pred_uncond and latents_steps (N, B, C, F, h, w)), video
 * (B, 3, T, H, W) and frames (B, T, H, W, 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/golden.h"
#include "cli/golden_pipe.h"
#include "models/llama_prompt.h"
#include "pipeline/chain.h"

#define N_STACKS 4

typedef struct {
    const char *from, *to;
    ff_tensor t;
} hy_stack;

typedef struct {
    int64_t n_steps;
    hy_stack stacks[N_STACKS];
    golden_outputs *outs;
    ff_tensor video, frames;
} hy_ctx;

static ff_status on_intermediate(void *user, const char *name, int64_t step, const ff_tensor *t, ff_err *err) {
    hy_ctx *pc = user;
    if (step < 0) {
        ff_tensor copy;
        ff_status st = ff_tensor_clone(&copy, t, err);
        return st ? st : golden_out_add(pc->outs, name, &copy, err);
    }
    for (int i = 0; i < N_STACKS; i++) {
        hy_stack *s = &pc->stacks[i];
        if (strcmp(s->from, name) != 0) continue;
        if (step >= pc->n_steps || t->ndim + 1 > FF_MAX_DIMS)
            return ff_err_set(err, FF_ERR_INTERNAL, "%s: step %lld of %lld cannot be stacked", name, (long long)step,
                              (long long)pc->n_steps);
        if (!s->t.data) {
            int64_t shape[FF_MAX_DIMS];
            shape[0] = pc->n_steps;
            for (int d = 0; d < t->ndim; d++) shape[d + 1] = t->shape[d];
            ff_status st = ff_tensor_alloc(&s->t, t->dtype, t->ndim + 1, shape, err);
            if (st) return st;
        }
        const size_t nb = ff_tensor_nbytes(t);
        if (s->t.dtype != t->dtype || nb * (size_t)pc->n_steps != ff_tensor_nbytes(&s->t))
            return ff_err_set(err, FF_ERR_SHAPE, "%s: step %lld changes shape or dtype", name, (long long)step);
        memcpy((char *)s->t.data + (size_t)step * nb, t->data, nb);
    }
    return FF_OK;
}

/* The decoded chunk (nb, C, nt, H, W) / (nb, nt, H, W, C) into the whole video and frames. */
static ff_status on_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    hy_ctx *pc = user;
    return golden_pipe_add_chunk(&pc->video, &pc->frames, ch, err);
}

static ff_status opt_double(const golden_case *c, const char *key, double dflt, double *out, ff_err *err) {
    if (ff_json_get_double(c->options, key, dflt, out))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.%s is not a number", c->name, key);
    return FF_OK;
}

/* seed, or seeds (a generator per video) */
static ff_status opt_seeds(const golden_case *c, uint64_t *seeds, int cap, int *n, ff_err *err) {
    const ff_json *sj = ff_json_get(c->options, "seeds");
    if (!sj || sj->type != FF_JSON_ARRAY) {
        *n = 1;
        if (ff_json_uint64(ff_json_get(c->options, "seed"), &seeds[0]))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: options.seed is not an unsigned integer", c->name);
        return FF_OK;
    }
    const size_t k = ff_json_count(sj);
    if (k < 1 || k > (size_t)cap) return ff_err_set(err, FF_ERR_FORMAT, "%s: options.seeds has %zu entries", c->name, k);
    for (size_t i = 0; i < k; i++)
        if (ff_json_uint64(ff_json_at(sj, i), &seeds[i]))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: options.seeds[%zu] is not an unsigned integer", c->name, i);
    *n = (int)k;
    return FF_OK;
}

ff_status golden_hunyuan_pipeline(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (strcmp(c->op, "HunyuanVideoPipeline.__call__") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no pipeline handler", c->name, c->op);
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: pipeline case without a pipeline folder", c->name);
    const char **prompts = NULL, **neg = NULL;
    int n = 0, nn = 0;
    uint64_t *seeds = calloc(4096, sizeof *seeds);
    ff_chain_params prm;
    ff_chain *p = NULL;
    hy_ctx pc = {0};
    pc.outs = outs;
    pc.stacks[0] = (hy_stack){"transformer_timestep", "transformer_timestep_inputs", {0}};
    pc.stacks[1] = (hy_stack){"noise_pred_cond", "noise_pred_cond", {0}};
    pc.stacks[2] = (hy_stack){"noise_pred_uncond", "noise_pred_uncond", {0}};
    pc.stacks[3] = (hy_stack){"latents", "latents_steps", {0}};
    ff_status st = FF_OK;
    if (!seeds) {
        st = ff_err_set(err, FF_ERR_NOMEM, "no memory");
        goto done;
    }
    if ((st = ff_chain_open(c->be, c->pipeline, NULL, NULL, &p, err))) goto done;
    ff_chain_params_default(p, &prm);
    if ((st = golden_opt_strings(c, "prompt", &prompts, &n, err)) || (st = golden_opt_strings(c, "negative_prompt", &neg, &nn, err))) goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.prompt is missing", c->name);
        goto done;
    }
    prm.prompts = prompts, prm.n_prompts = n;
    prm.negative_prompts = neg, prm.n_negative = nn;
    if ((st = golden_opt_int(c, "height", prm.height, 1, 1 << 16, &prm.height, err)) ||
        (st = golden_opt_int(c, "width", prm.width, 1, 1 << 16, &prm.width, err)) ||
        (st = golden_opt_int(c, "num_frames", prm.num_frames, 1, 1 << 20, &prm.num_frames, err)) ||
        (st = golden_opt_int(c, "num_inference_steps", prm.num_inference_steps, 1, 100000, &prm.num_inference_steps, err)) ||
        (st = golden_opt_int(c, "max_sequence_length", prm.max_sequence_length, 1, 1 << 16, &prm.max_sequence_length, err)) ||
        (st = golden_opt_int(c, "num_videos_per_prompt", 1, 1, 4096, &prm.num_videos_per_prompt, err)) ||
        (st = opt_double(c, "guidance_scale", prm.guidance_scale, &prm.guidance_scale, err)) ||
        (st = opt_double(c, "true_cfg_scale", prm.true_cfg_scale, &prm.true_cfg_scale, err)) ||
        (st = opt_seeds(c, seeds, 4096, &prm.n_seeds, err)))
        goto done;
    /* prompt_template={"template": ..., "crop_start": ...}, or the default template with crop_start */
    const ff_json *tj = ff_json_get(c->options, "prompt_template");
    if (tj) {
        if ((st = ff_llama_prompt_template_parse(tj, &prm.prompt_template, &prm.crop_start, err))) goto done;
    } else {
        const ff_json *cs = ff_json_get(c->options, "crop_start");
        if (cs && !ff_json_is_null(cs) && (st = golden_opt_int(c, "crop_start", 0, 0, 1 << 16, &prm.crop_start, err))) goto done;
        if (cs && ff_json_is_null(cs)) prm.crop_start = -1;
    }
    prm.seeds = seeds;
    pc.n_steps = prm.num_inference_steps;
    prm.on_intermediate = on_intermediate;
    prm.on_frames = on_frames;
    prm.user = &pc;
    if ((st = ff_chain_run(p, &prm, NULL, err))) goto done;
    for (int i = 0; i < N_STACKS; i++)
        if (pc.stacks[i].t.data && (st = golden_out_add(outs, pc.stacks[i].to, &pc.stacks[i].t, err))) goto done;
    if (pc.video.data && ((st = golden_out_add(outs, "video", &pc.video, err)) || (st = golden_out_add(outs, "frames", &pc.frames, err))))
        goto done;
done:
    for (int i = 0; i < N_STACKS; i++) ff_tensor_free(&pc.stacks[i].t);
    ff_tensor_free(&pc.video);
    ff_tensor_free(&pc.frames);
    ff_chain_close(p);
    free(prompts);
    free(neg);
    free(seeds);
    return st;
}
