/* worker_render keeps the model loaded between tasks of the same model:
 * two tasks of one model on one ff_wrender load every component once, and
 * their frames are the bytes the pipeline gives when it reloads everything
 * per run (a pipeline opened without keep, each item rendered alone from
 * its seed, as `framefarm render` does). With a --vram-budget the planner
 * decides: a roomy budget keeps everything loaded, a budget that only fits
 * component offload reloads per run (same bytes), one that fits nothing
 * fails the task with FF_ERR_BUDGET. In-process, on the embedded tiny
 * model, CPU backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/plan.h"
#include "pipeline/tiny_model.h"
#include "pipeline/chain.h"
#include "tests/common/ff_test.h"
#include "tests/farm/farm_test_util.h"
#include "video/video.h"
#include "worker/worker_render.h"

/* WanPipeline's components in its family table (text_encoder, transformer, transformer_2, vae) */
enum { WAN_TEXT = 0, WAN_DIT, WAN_DIT2, WAN_VAE };

static char g_model[600];

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} bytes;

static ff_status put(bytes *b, const uint8_t *p, size_t n, ff_err *err) {
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        uint8_t *nb = realloc(b->buf, cap);
        if (!nb) return ff_err_set(err, FF_ERR_NOMEM, "test: out of memory");
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    return FF_OK;
}

static ff_status w_progress(void *user, int stage, int64_t done, int64_t total, ff_err *err) {
    (void)user, (void)stage, (void)done, (void)total, (void)err;
    return FF_OK;
}

static ff_status w_frames(void *user, int t0, int count, int width, int height, const uint8_t *rgb, ff_err *err) {
    (void)t0;
    return put(user, rgb, (size_t)count * width * height * 3, err);
}

static ff_status p_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    const ff_tensor *f = ch->frames; /* (1, nt, H, W, 3) */
    size_t n = (size_t)(f->shape[1] * f->shape[2] * f->shape[3] * f->shape[4]);
    uint8_t *q = malloc(n);
    if (!q) return ff_err_set(err, FF_ERR_NOMEM, "test: out of memory");
    ff_video_quantize((const float *)f->data, (int64_t)n, q);
    ff_status st = put(user, q, n, err);
    free(q);
    return st;
}

#define FRAMES 9
#define LAT 3 /* latent frames of FRAMES */

static Ff__JobSpec *make_spec(ff_err *err) {
    char json[1200];
    snprintf(json, sizeof json,
             "{\"model\": \"%s\", \"prompts\": [\"a cat\", \"a dog runs on the beach\"], \"seeds\": [7, 8], "
             "\"width\": 64, \"height\": 64, \"frames\": %d, \"steps\": 2, \"output\": \"/tmp/unused.y4m\"}",
             g_model, FRAMES);
    return ft_spec(json, err);
}

/* Renders item `item` (one window: the whole video) on r into out. */
static ff_status render_task(ff_wrender *r, Ff__JobSpec *s, uint32_t item, bytes *out, ff_err *err) {
    Ff__ChunkTask t = FF__CHUNK_TASK__INIT;
    t.task_id = 100 + item;
    t.job_id = 1;
    t.chunk = item;
    t.item = item;
    t.lat_start = 0;
    t.lat_count = LAT;
    t.lat_total = LAT;
    t.spec = s;
    ff_wrender_cb cb = {w_progress, w_frames, out, NULL};
    out->len = 0;
    return ff_wrender_run(r, &t, &cb, err);
}

/* The reference: a pipeline opened without keep (every component loaded
 * and freed per run), each item from its seed. */
static void reference(Ff__JobSpec *s, bytes ref[2]) {
    ff_err err = {0};
    ff_backend *be = NULL;
    ff_chain *p = NULL;
    FF_REQUIRE_OK(ff_backend_create_by_name("cpu", 1, &be, &err), &err);
    FF_CHECK_OK(ff_chain_open(be, g_model, NULL, NULL, &p, &err), &err);
    for (uint32_t i = 0; p && i < 2; i++) {
        const char *prompt, *neg;
        uint64_t seed;
        ff_jobspec_item(s, i, &prompt, &neg, &seed);
        ff_chain_params prm;
        ff_chain_params_default(p, &prm);
        prm.prompts = &prompt;
        prm.n_prompts = 1;
        prm.seeds = &seed;
        prm.n_seeds = 1;
        prm.num_frames = FRAMES;
        prm.height = s->height;
        prm.width = s->width;
        prm.num_inference_steps = s->steps;
        prm.guidance_scale = s->guidance_scale;
        prm.max_sequence_length = s->max_sequence_length;
        prm.on_frames = p_frames;
        prm.user = &ref[i];
        ff_chain_stats stats;
        FF_CHECK_OK(ff_chain_run(p, &prm, &stats, &err), &err);
        /* before: every run loads every component again */
        FF_CHECK(stats.c[WAN_TEXT].loaded == 1 && stats.c[WAN_DIT].loaded == 1 && stats.c[WAN_VAE].loaded == 1);
    }
    ff_chain_close(p);
    ff_backend_free(be);
}

/* Two tasks on one worker renderer: loads per component, bytes vs ref. */
static void two_tasks(const char *what, int64_t budget, int want_loads, Ff__JobSpec *s, const bytes ref[2]) {
    ff_err err = {0};
    ff_wrender *r = NULL;
    ff_wrender_opts o = {"cpu", 1, budget, 0};
    FF_REQUIRE_OK(ff_wrender_create(&o, NULL, &r, &err), &err);
    bytes out = {0};
    for (uint32_t i = 0; i < 2; i++) {
        FF_CHECK_OK(render_task(r, s, i, &out, &err), &err);
        FF_CHECK_MSG(out.len == ref[i].len && out.len > 0 && !memcmp(out.buf, ref[i].buf, out.len),
                     "%s, item %u: %zu bytes, differ from the reference (%zu bytes)", what, i, out.len, ref[i].len);
    }
    int loads[FF_CHAIN_MAX_COMPONENTS], runs = 0;
    ff_wrender_loads(r, loads, &runs);
    FF_CHECK(runs == 2);
    FF_CHECK_MSG(loads[WAN_TEXT] == want_loads && loads[WAN_DIT] == want_loads && loads[WAN_VAE] == want_loads &&
                     loads[WAN_DIT2] == 0,
                 "%s: loads text %d transformer %d transformer_2 %d vae %d, expected %d each", what, loads[WAN_TEXT],
                 loads[WAN_DIT], loads[WAN_DIT2], loads[WAN_VAE], want_loads);
    free(out.buf);
    ff_wrender_free(r);
}

static void test_keeps_model_loaded(void) {
    ff_err err = {0};
    Ff__JobSpec *s = make_spec(&err);
    FF_REQUIRE(s);
    bytes ref[2] = {{0}, {0}};
    reference(s, ref);
    FF_REQUIRE(ref[0].len == (size_t)FRAMES * 64 * 64 * 3 && ref[1].len == ref[0].len);
    FF_CHECK(memcmp(ref[0].buf, ref[1].buf, ref[0].len) != 0);

    two_tasks("no budget", 0, 1, s, ref);
    two_tasks("a roomy budget", (int64_t)1 << 36, 1, s, ref);

    /* a budget that fits component offload but not every component at once */
    ff_plan_request rq;
    ff_plan_request_default(&rq);
    rq.height = 64, rq.width = 64, rq.frames = FRAMES, rq.batch = 1, rq.cfg = s->guidance_scale > 1.0;
    rq.text_len = s->max_sequence_length, rq.steps = s->steps, rq.dtype = FF_F32, rq.tiling = 0;
    rq.offload = FF_PLAN_NONE;
    ff_plan pn, pm;
    FF_REQUIRE_OK(ff_plan_predict(g_model, &rq, &pn, &err), &err);
    rq.offload = FF_PLAN_MODEL;
    FF_REQUIRE_OK(ff_plan_predict(g_model, &rq, &pm, &err), &err);
    FF_CHECK_MSG(pm.peak < pn.peak, "model offload peak %zu, none %zu", pm.peak, pn.peak);
    if (pm.peak < pn.peak) two_tasks("a budget for component offload", (int64_t)pm.peak, 2, s, ref);

    /* a budget nothing fits: the task fails, naming the budget */
    ff_wrender *r = NULL;
    ff_wrender_opts o = {"cpu", 1, 4096, 0};
    FF_REQUIRE_OK(ff_wrender_create(&o, NULL, &r, &err), &err);
    bytes out = {0};
    ff_status st = render_task(r, s, 0, &out, &err);
    FF_CHECK_MSG(st == FF_ERR_BUDGET, "status %d: %s", (int)st, err.msg);
    free(out.buf);
    ff_wrender_free(r);

    free(ref[0].buf);
    free(ref[1].buf);
    ff_jobspec_free(s);
}

int main(void) {
    char tmp[512];
    ff_test_tmp_path("farm_wrender", tmp, sizeof tmp);
    snprintf(g_model, sizeof g_model, "%s/tiny", tmp);
    ff_err err = {0};
    if (!ff_tiny_model_current(FF_TINY_DEFAULT, g_model) && ff_tiny_model_create(FF_TINY_DEFAULT, g_model, 1, &err)) {
        fprintf(stderr, "tiny model: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_keeps_model_loaded);
    return ff_test_summary();
}
