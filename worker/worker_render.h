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
 * (ff_video_quantize), in order, as the VAE's streaming decode produces them.
 *
 * The pipeline stays open between tasks of the same model (its configs, the
 * backend); a task for another model reopens it. The job's scheduler
 * overrides apply to the model's scheduler_config.json for that task only.
 *
 * TEST MODE (test_no_render): no model is opened; frames are a
 * deterministic function of (seed, item, video frame index), "steps" are
 * counted without work. It exists for the coordinator's benchmarks and
 * tests and is reachable only from the worker's command line, never from a
 * job file. */
#ifndef FF_WORKER_RENDER_H
#define FF_WORKER_RENDER_H

#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_log.h"
#include "framefarm.pb-c.h"

typedef struct {
    /* stage 0 text, 1 denoise, 2 decode; a non-OK return stops the render */
    ff_status (*progress)(void *user, int stage, int64_t done, int64_t total, ff_err *err);
    /* frames [t0, t0 + count) of the window, (count, H, W, 3) bytes */
    ff_status (*frames)(void *user, int t0, int count, int width, int height, const uint8_t *rgb, ff_err *err);
    void *user;
} ff_wrender_cb;

typedef struct ff_wrender ff_wrender;

/* backend: "cpu", "cuda", "cuda:N" (ignored in test mode). */
ff_status ff_wrender_create(const char *backend, int threads, int test_no_render, const ff_log *log, ff_wrender **out,
                            ff_err *err);
void ff_wrender_free(ff_wrender *r);
const char *ff_wrender_backend_name(const ff_wrender *r);
const char *ff_wrender_loaded_model(const ff_wrender *r); /* NULL when none */

ff_status ff_wrender_run(ff_wrender *r, const Ff__ChunkTask *t, const ff_wrender_cb *cb, ff_err *err);

/* TEST MODE frame contents, shared with the tests that check assembly:
 * byte value of video frame g of item `item` with seed `seed`. */
static inline uint8_t ff_wrender_test_value(uint64_t seed, uint32_t item, int g, int px) {
    uint64_t h = seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)item << 32) ^ (uint64_t)g;
    h ^= h >> 29;
    return (uint8_t)((h + (uint64_t)px * 13u) & 0xff);
}

#endif
