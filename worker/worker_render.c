/* worker_render: see worker_render.h. */
#include "worker/worker_render.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"
#include "core/ff_model_defaults.h"
#include "core/ff_rng.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "offload/pool.h"
#include "pipeline/chain.h"
#include "pipeline/plan.h"
#include "pipeline/plan_apply.h"
#include "pipeline/scheduler.h"
#include "proto/ff_jobspec.h"

struct ff_wrender {
    int test;
    const ff_log *log;
    ff_backend *be;
    size_t budget;        /* 0: none */
    ff_pool *pool;        /* the device pool enforcing budget (attached to be), else NULL */
    ff_chain *p;
    char *model;          /* folder p was opened on */
    char *dit_weights;    /* and with which weights */
    const char *cls;      /* and as which pipeline class (NULL: its own) */
    ff_chain_opts oo;     /* and with which options */
    int loads[FF_CHAIN_MAX_COMPONENTS], runs;
};

ff_status ff_wrender_create(const ff_wrender_opts *o, const ff_log *log, ff_wrender **out, ff_err *err) {
    ff_wrender *r = calloc(1, sizeof *r);
    if (!r) return ff_err_set(err, FF_ERR_NOMEM, "worker: out of memory");
    r->test = o->test_no_render;
    r->log = log;
    r->budget = o->vram_budget > 0 ? (size_t)o->vram_budget : 0;
    if (!r->test) {
        ff_status st = ff_backend_create_by_name(o->backend ? o->backend : "cpu", o->threads, &r->be, err);
        if (!st && r->budget && !(st = ff_pool_create("device", r->budget, &r->pool, err)))
            st = ff_pool_attach(r->pool, r->be, err);
        if (st) {
            ff_wrender_free(r);
            return st;
        }
    }
    *out = r;
    return FF_OK;
}

void ff_wrender_free(ff_wrender *r) {
    if (!r) return;
    ff_chain_close(r->p); /* frees what it kept loaded: before the pool goes */
    ff_pool_detach(r->pool);
    ff_pool_free(r->pool);
    ff_backend_free(r->be);
    free(r->model);
    free(r->dit_weights);
    free(r);
}

void ff_wrender_loads(const ff_wrender *r, int loads[FF_CHAIN_MAX_COMPONENTS], int *runs) {
    for (int i = 0; i < FF_CHAIN_MAX_COMPONENTS; i++) loads[i] = r->loads[i];
    if (runs) *runs = r->runs;
}

const char *ff_wrender_backend_name(const ff_wrender *r) { return r->test ? "test-no-render" : ff_backend_name(r->be); }
const char *ff_wrender_loaded_model(const ff_wrender *r) { return r->model; }

/* ---- TEST MODE ---------------------------------------------------------------- */

static ff_status run_test(const Ff__ChunkTask *t, const ff_wrender_cb *cb, ff_err *err) {
    const Ff__JobSpec *s = t->spec;
    const char *prompt, *neg;
    uint64_t seed;
    ff_jobspec_item(s, t->item, &prompt, &neg, &seed);
    ff_status st = cb->progress(cb->user, 0, 1, 1, err);
    for (int i = 1; !st && i <= s->steps; i++) st = cb->progress(cb->user, 1, i, s->steps, err);
    int frames = ff_jobspec_window_frames(t->lat_count), W = s->width, H = s->height;
    size_t fb = (size_t)W * H * 3;
    uint8_t *buf = st ? NULL : malloc(fb * 4);
    if (!st && !buf) st = ff_err_set(err, FF_ERR_NOMEM, "test render: out of memory");
    for (int t0 = 0; !st && t0 < frames; t0 += 4) {
        int cnt = frames - t0 < 4 ? frames - t0 : 4;
        for (int k = 0; k < cnt; k++) {
            int g = ff_jobspec_window_first_frame(t->lat_start) + t0 + k;
            for (size_t px = 0; px < fb; px++) buf[(size_t)k * fb + px] = ff_wrender_test_value(seed, t->item, g, (int)(px % 251));
        }
        st = cb->frames(cb->user, t0, cnt, W, H, buf, err);
        if (!st) st = cb->progress(cb->user, 2, t0 + cnt, frames, err);
    }
    free(buf);
    return st;
}

/* ---- the pipeline ---------------------------------------------------------------- */

typedef struct {
    const ff_wrender_cb *cb;
    uint8_t *rgb;
    size_t cap;
} run_ctx;

static ff_status on_progress(void *user, const ff_chain_progress *pr, ff_err *err) {
    run_ctx *rc = user;
    /* the wire has text, denoise, decode: image to video's image encoder and VAE encode are part of
       the conditioning before the loop, reported as the text stage */
    int stage = pr->stage == FF_STAGE_IMAGE || pr->stage == FF_STAGE_ENCODE ? FF_STAGE_TEXT : (int)pr->stage;
    return rc->cb->progress(rc->cb->user, stage, pr->done, pr->total, err);
}

static ff_status on_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    run_ctx *rc = user;
    const ff_tensor *f = ch->frames; /* (nb, nt, H, W, C) */
    int64_t nt = f->shape[1], H = f->shape[2], W = f->shape[3], C = f->shape[4];
    if (f->shape[0] != 1 || C != 3 || ch->b0 != 0)
        return ff_err_set(err, FF_ERR_SHAPE, "worker: decoded frames of %lld samples x %lld channels, expected 1 x 3",
                          (long long)f->shape[0], (long long)C);
    size_t n = (size_t)(nt * H * W * C);
    if (n > rc->cap) {
        uint8_t *nb = realloc(rc->rgb, n);
        if (!nb) return ff_err_set(err, FF_ERR_NOMEM, "worker: out of memory for %zu bytes of frames", n);
        rc->rgb = nb;
        rc->cap = n;
    }
    ff_quantize_u8((const float *)f->data, (int64_t)n, rc->rgb);
    return rc->cb->frames(rc->cb->user, (int)ch->t0, (int)nt, (int)W, (int)H, rc->rgb, err);
}

/* The pipeline for s opened with oo: kept when the model, the weights and
 * the options are those it was opened with, else (re)opened. */
static ff_status ensure_pipeline(ff_wrender *r, const Ff__JobSpec *s, const ff_chain_opts *oo, ff_err *err) {
    const int same_cls = (!r->cls && !oo->pipeline_class) || (r->cls && oo->pipeline_class && !strcmp(r->cls, oo->pipeline_class));
    if (r->p && same_cls && !strcmp(r->model, s->model) && !strcmp(r->dit_weights, s->dit_weights) &&
        r->oo.keep == oo->keep && r->oo.stream == oo->stream && r->oo.group == oo->group &&
        r->oo.from_file == oo->from_file && r->oo.text_on_host == oo->text_on_host)
        return FF_OK;
    ff_chain_close(r->p);
    r->p = NULL;
    free(r->model);
    free(r->dit_weights);
    r->model = r->dit_weights = NULL;
    ff_status st = ff_chain_open(r->be, s->model, oo, r->log, &r->p, err);
    if (st) return st;
    r->oo = *oo;
    r->cls = oo->pipeline_class; /* a family's class name: static */
    if (!(r->model = strdup(s->model)) || !(r->dit_weights = strdup(s->dit_weights)))
        return ff_err_set(err, FF_ERR_NOMEM, "worker: out of memory");
    /* the farm cuts videos in latent frames of FF_JOBSPEC_LAT_T video frames */
    ff_geometry g;
    if ((st = ff_chain_geometry(r->p, 1, s->frames, s->height, s->width, &g, err)) || g.temporal_factor != FF_JOBSPEC_LAT_T) {
        ff_chain_close(r->p);
        r->p = NULL;
        return st ? st : ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: VAE temporal factor %d, the farm cuts videos for factor %d",
                                    s->model, g.temporal_factor, FF_JOBSPEC_LAT_T);
    }
    return FF_OK;
}

/* Open options (and VAE options of prm) for a window of `frames` frames of
 * s: without a budget every component stays loaded; with one, the
 * planner's choice for this size, enforced by the pool. */
static ff_status choose_options(ff_wrender *r, const Ff__JobSpec *s, int frames, ff_chain_opts *oo, ff_vae_opts *vae,
                                ff_err *err) {
    memset(oo, 0, sizeof *oo);
    oo->weight_dtype = !strcmp(s->dit_weights, "bf16") ? FF_BF16 : FF_F32;
    if (s->image || s->has_image_rgb) { /* image to video: the folder's image-to-video class */
        char idx[128] = "";
        ff_status st = ff_chain_image_class(s->model, &oo->pipeline_class, idx, sizeof idx, err);
        if (st) return st;
        if (!oo->pipeline_class)
            return ff_err_set(err, FF_ERR_ARG, "%s (%s) does not take an image", s->model, idx);
        if (!s->has_image_rgb) return ff_err_set(err, FF_ERR_ARG, "job: image %s came without its pixels", s->image);
    }
    if (!r->budget) {
        oo->keep = FF_CHAIN_KEEP_ALL;
        return FF_OK;
    }
    ff_plan_request rq;
    ff_plan_request_default(&rq);
    rq.pipeline_class = oo->pipeline_class;
    rq.height = s->height, rq.width = s->width, rq.frames = frames, rq.batch = 1;
    rq.cfg = s->guidance_scale > 1.0 || (s->has_guidance_scale_2 && s->guidance_scale_2 > 1.0);
    if (s->max_sequence_length > 0) rq.text_len = s->max_sequence_length;
    rq.steps = s->steps, rq.dtype = oo->weight_dtype, rq.budget = r->budget;
    rq.cuda = ff_backend_kind_of(r->be) == FF_BACKEND_CUDA;
    rq.tiling = vae->tiling ? 1 : 0; /* the job's tiling, never one for memory: it changes the frames */
    if (vae->tiling) rq.tile = vae->tile_sample_min_height, rq.tile_stride = vae->tile_sample_stride_height;
    ff_plan plan;
    ff_status st = ff_plan_make(s->model, &rq, &plan, err);
    if (st) return st;
    int tiling = vae->tiling, tile = vae->tile_sample_min_height, stride = vae->tile_sample_stride_height;
    ff_plan_apply(&plan, oo, vae);
    if (tiling) { /* the job's tiles, in the order it asked for */
        vae->tile_sample_min_height = vae->tile_sample_min_width = tile;
        vae->tile_sample_stride_height = vae->tile_sample_stride_width = stride;
        vae->tile_low_memory = 0;
    }
    oo->device_pool = r->pool;
    FF_DEBUG(r->log, "plan for %dx%d, %d frames within %zu bytes: offload %s, predicted peak %zu bytes", s->width,
             s->height, frames, r->budget, ff_plan_offload_name(plan.offload), plan.peak);
    return FF_OK;
}

/* The folder's scheduler with the job's overrides (or without any). */
static ff_status set_scheduler(ff_wrender *r, const Ff__JobSpec *s, ff_err *err) {
    char path[4200];
    if (snprintf(path, sizeof path, "%s/scheduler", s->model) >= (int)sizeof path)
        return ff_err_set(err, FF_ERR_ARG, "model path too long");
    ff_sched_config c;
    ff_status st = ff_sched_config_load(path, &c, err);
    if (st) return st;
    if (s->scheduler_json) {
        ff_json_doc *doc = NULL;
        if ((st = ff_json_parse(s->scheduler_json, strlen(s->scheduler_json), "job scheduler overrides", &doc, err)))
            return st;
        st = ff_sched_config_apply_json(&c, ff_json_root(doc), "job scheduler overrides", err);
        ff_json_free(doc);
        if (st) return st;
    }
    return ff_chain_set_scheduler(r->p, &c, err);
}

/* The job's and the plan's VAE choices over the family's defaults (the
 * rest, such as HunyuanVideo's framewise decoding, stays the pipeline's). */
static void vae_overlay(ff_vae_opts *dst, const ff_vae_opts *job) {
    dst->tiling = job->tiling;
    dst->tile_sample_min_height = job->tile_sample_min_height;
    dst->tile_sample_min_width = job->tile_sample_min_width;
    dst->tile_sample_stride_height = job->tile_sample_stride_height;
    dst->tile_sample_stride_width = job->tile_sample_stride_width;
    dst->tile_low_memory = job->tile_low_memory;
    dst->slicing = job->slicing;
}

ff_status ff_wrender_run(ff_wrender *r, const Ff__ChunkTask *t, const ff_wrender_cb *cb, ff_err *err) {
    if (r->test) return run_test(t, cb, err);
    const Ff__JobSpec *s = t->spec;
    /* the window's frames in the wire protocol's unit (the model's temporal factor is checked to be it) */
    const int frames = ff_jobspec_window_frames(t->lat_count), total_frames = ff_jobspec_window_frames(t->lat_total);
    ff_chain_params prm;
    ff_chain_opts oo;
    ff_vae_opts vae;
    ff_vae_opts_default(&vae);
    if (s->vae_tiling && (s->vae_tile_size <= 0 || s->vae_tile_stride <= 0)) { /* 0: the model's tiles, as render */
        ff_model_defaults md;
        ff_model_defaults_read(s->model, &md);
        vae.tile_sample_min_height = md.tile_min_h, vae.tile_sample_min_width = md.tile_min_w;
        vae.tile_sample_stride_height = md.tile_stride_h, vae.tile_sample_stride_width = md.tile_stride_w;
    }
    if (s->vae_tile_size > 0) vae.tile_sample_min_height = vae.tile_sample_min_width = s->vae_tile_size;
    if (s->vae_tile_stride > 0) vae.tile_sample_stride_height = vae.tile_sample_stride_width = s->vae_tile_stride;
    vae.tiling = s->vae_tiling;
    vae.slicing = s->vae_slicing;
    ff_status st = choose_options(r, s, frames, &oo, &vae, err);
    if (!st) st = ensure_pipeline(r, s, &oo, err);
    if (!st) st = set_scheduler(r, s, err);
    if (st) return st;
    ff_chain_params_default(r->p, &prm);
    vae_overlay(&prm.vae, &vae);
    ff_geometry g, gw;
    if ((st = ff_chain_geometry(r->p, 1, total_frames, s->height, s->width, &g, err)) ||
        (st = ff_chain_geometry(r->p, 1, frames, s->height, s->width, &gw, err)))
        return st;
    if (g.size_rounded || g.frames_rounded || g.latent_shape[g.frame_axis] != t->lat_total)
        return ff_err_set(err, FF_ERR_ARG, "%s renders %dx%d, %d frames as %dx%d, %d frames: pick a size this model takes",
                          s->model, s->width, s->height, total_frames, g.width, g.height, g.num_frames);
    if (ff_chain_pixel_frames(r->p, t->lat_count) != frames) /* the window decodes to another frame count */
        return ff_err_set(err, FF_ERR_ARG, "%s decodes a window of %d latent frames to %lld frames, not the farm's %d: "
                          "pick chunk_frames (and frames) with an odd number of latent frames", s->model, t->lat_count,
                          (long long)ff_chain_pixel_frames(r->p, t->lat_count), frames);
    /* the item's whole noise, then the window's slice along the latent frames */
    const char *prompt, *neg;
    uint64_t seed;
    ff_jobspec_item(s, t->item, &prompt, &neg, &seed);
    ff_tensor full = {0}, win = {0};
    if ((st = ff_tensor_alloc(&full, FF_F32, 5, g.latent_shape, err)) || (st = ff_randn_tensor(&full, &seed, 1, err)) ||
        (st = ff_tensor_axis_slice(&full, g.frame_axis, t->lat_start, t->lat_count, &win, err)))
        goto done;
    ff_tensor_free(&full);
    prm.prompts = &prompt;
    prm.n_prompts = 1;
    prm.negative_prompts = &neg;
    prm.n_negative = neg[0] ? 1 : 0;
    if (!neg[0]) prm.negative_prompts = NULL;
    prm.seeds = &seed;
    prm.n_seeds = 1;
    prm.latents = &win;
    prm.num_frames = frames;
    prm.height = s->height;
    prm.width = s->width;
    prm.num_inference_steps = s->steps;
    prm.guidance_scale = s->guidance_scale;
    prm.has_guidance_scale_2 = s->has_guidance_scale_2;
    prm.guidance_scale_2 = s->guidance_scale_2;
    prm.max_sequence_length = s->max_sequence_length;
    ff_tensor image; /* the job's first frame (checked by ff_jobspec_check where the task arrived) */
    if (s->has_image_rgb) {
        const int64_t ishape[3] = {s->image_height, s->image_width, 3};
        ff_tensor_view(&image, FF_U8, 3, ishape, s->image_rgb.data, FF_LOC_HOST);
        prm.image = &image;
    }
    run_ctx rc = {cb, NULL, 0};
    prm.on_progress = on_progress;
    prm.on_frames = on_frames;
    prm.user = &rc;
    prm.cancel = cb->cancel;
    ff_chain_stats stats;
    memset(&stats, 0, sizeof stats);
    st = ff_chain_run(r->p, &prm, &stats, err);
    free(rc.rgb);
    if (!st) {
        r->runs++;
        for (int i = 0; i < ff_chain_n_components(r->p); i++) r->loads[i] += stats.c[i].loaded;
    }
done:
    ff_tensor_free(&full);
    ff_tensor_free(&win);
    return st;
}
