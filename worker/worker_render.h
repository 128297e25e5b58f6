/* worker_render (ff_wrender_*): "render this chunk task into frames" — the
 * narrow interface between the worker's network loop and the pipeline.
 *
 * ff_wrender_run renders latent frames [lat_start, lat_start + lat_count) of
 * item `item` of the task's job: it draws the item's whole initial noise,
 * randn_tensor((1, C, lat_total, h, w), seeds[item]) as diffusers does for
 * one video, takes the window's slice along the frame axis and hands it to
 * WanPipeline as its `latents`, so a window's result does not depend on who
 * renders it, and a job of one window renders exactly what `framefarm
 * render` does with the same settings. Decoded frames come out 8-bit RGB
 * (ff_quantize_u8), in order, as the VAE's streaming decode produces them.
 *
 * The pipeline stays open between tasks of the same model, and so do its
 * components: without a budget it is opened with keep = FF_CHAIN_KEEP_ALL,
 * so a worker rendering many tasks of one model loads each component once
 * (ff_wrender_loads counts the loads). With vram_budget the planner
 * (pipeline/plan.h) picks the strategy for each task's size (offload none
 * keeps everything loaded; model / sequential offload reload per run, as
 * the budget requires; ff_plan_apply) and a device pool with the budget is
 * attached to the backend, so the budget is enforced: a task that fits no
 * strategy fails with FF_ERR_BUDGET. The job's own VAE tiling is kept (the
 * planner never tiles on its own: tiling changes the frames, and every
 * worker must render the same bytes). The pipeline is reopened when the
 * model, the weights or the plan's open options change. A task for another
 * model reopens it. The job's scheduler overrides apply to the model's
 * scheduler_config.json for that task only. Every choice renders the same
 * bytes.
 *
 * TEST MODE (test_no_render): no model is opened; frames are a
 * deterministic function of (seed, item, video frame index), "steps" are
 * counted without work. It exists for the coordinator's benchmarks and
 * tests and is reachable only from the worker's command line, never from a
 * job file. */
#ifndef FF_WORKER_RENDER_H
#define FF_WORKER_RENDER_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_log.h"
#include "framefarm.pb-c.h"
#include "pipeline/chain.h"

typedef struct {
    /* stage 0 text, 1 denoise, 2 decode; a non-OK return stops the render */
    ff_status (*progress)(void *user, int stage, int64_t done, int64_t total, ff_err *err);
    /* frames [t0, t0 + count) of the window, (count, H, W, 3) bytes */
    ff_status (*frames)(void *user, int t0, int count, int width, int height, const uint8_t *rgb, ff_err *err);
    void *user;
    /* set by another thread: the render stops at the next transformer block
     * (pipeline/chain.h ff_chain_params.cancel); NULL: never */
    const atomic_int *cancel;
} ff_wrender_cb;

typedef struct ff_wrender ff_wrender;

typedef struct {
    const char *backend;  /* "cpu" (NULL), "cuda", "cuda:N" (ignored in test mode) */
    int threads;          /* CPU threads (0: OpenMP default) */
    int64_t vram_budget;  /* device bytes: plan and enforce (0: no budget, keep everything loaded) */
    int test_no_render;   /* TEST MODE */
} ff_wrender_opts;

ff_status ff_wrender_create(const ff_wrender_opts *o, const ff_log *log, ff_wrender **out, ff_err *err);
void ff_wrender_free(ff_wrender *r);
const char *ff_wrender_backend_name(const ff_wrender *r);
const char *ff_wrender_loaded_model(const ff_wrender *r); /* NULL when none */

/* How many times each component (by index in the model's family table) was
 * loaded by this object's runs so far (ff_component_stats.loaded summed over
 * runs); *runs: finished pipeline runs. */
void ff_wrender_loads(const ff_wrender *r, int loads[FF_CHAIN_MAX_COMPONENTS], int *runs);

ff_status ff_wrender_run(ff_wrender *r, const Ff__ChunkTask *t, const ff_wrender_cb *cb, ff_err *err);

/* TEST MODE frame contents, shared with the tests that check assembly:
 * byte value of video frame g of item `item` with seed `seed`. */
static inline uint8_t ff_wrender_test_value(uint64_t seed, uint32_t item, int g, int px) {
    uint64_t h = seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)item << 32) ^ (uint64_t)g;
    h ^= h >> 29;
    return (uint8_t)((h + (uint64_t)px * 13u) & 0xff);
}

#endif
