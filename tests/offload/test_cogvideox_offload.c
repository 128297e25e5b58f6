/* Offload of CogVideoXPipeline on the embedded tiny-cogvideox model (CPU
 * backend, a device pool attached and budgeted at the planner's prediction):
 * every strategy — everything kept resident, component offload, the T5
 * encoder and the transformer block-streamed with k = 1 and k = 2 (blocks
 * read from the mapped file), the text encoder on the host — and VAE slicing
 * and tiling give frames and final latents bit-identical to the plain run
 * with the same VAE options; the pool's measured peak of every stage equals
 * the planner's prediction for that strategy (exact: every buffer is in the
 * activation models) and stays under the budget. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "kernels/ops.h"
#include "offload/pool.h"
#include "pipeline/chain.h"
#include "pipeline/plan.h"
#include "pipeline/tiny_model.h"

#define H 64
#define W 64
#define FRAMES 9
#define TEXT_LEN 226 /* the tiny transformer's max_text_seq_length (sincos) */

static char g_dir[4300];

typedef struct {
    ff_pool *pool;
    int stage;            /* the stage running, -1 before the first */
    size_t peak[3];       /* TEXT, DENOISE, DECODE */
    unsigned char *fbuf;
    size_t nbytes, cap;
    ff_tensor latents;    /* vae_decode_input */
} probe;

static void account(probe *pb) {
    if (!pb->pool || pb->stage < 0) return;
    ff_pool_stats s;
    ff_pool_stats_get(pb->pool, &s);
    if (s.peak > pb->peak[pb->stage]) pb->peak[pb->stage] = s.peak;
}

static ff_status on_progress(void *user, const ff_chain_progress *pr, ff_err *err) {
    probe *pb = user;
    (void)err;
    account(pb);
    if (pr->done == 0 && pb->pool) {
        ff_pool_reset_peak(pb->pool);
        pb->stage = pr->stage == FF_STAGE_TEXT ? 0 : pr->stage == FF_STAGE_DENOISE ? 1 : 2;
    }
    return FF_OK;
}

static ff_status on_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    probe *pb = user;
    size_t n = ff_tensor_nbytes(ch->frames);
    if (pb->nbytes + n > pb->cap) {
        size_t cap = (pb->nbytes + n) * 2;
        unsigned char *q = realloc(pb->fbuf, cap);
        if (!q) return ff_err_set(err, FF_ERR_NOMEM, "test: frames");
        pb->fbuf = q, pb->cap = cap;
    }
    memcpy(pb->fbuf + pb->nbytes, ch->frames->data, n);
    pb->nbytes += n;
    return FF_OK;
}

static ff_status on_inter(void *user, const char *name, int64_t step, const ff_tensor *t, ff_err *err) {
    probe *pb = user;
    (void)step;
    if (strcmp(name, "vae_decode_input") != 0) return FF_OK;
    ff_tensor_free(&pb->latents);
    return ff_tensor_clone(&pb->latents, t, err);
}

static void probe_free(probe *pb) {
    free(pb->fbuf);
    ff_tensor_free(&pb->latents);
}

static ff_status run(ff_backend *be, const ff_chain_opts *oo, int tiling, int slicing, probe *pb, ff_err *err) {
    ff_chain *p = NULL;
    ff_status st = ff_chain_open(be, g_dir, oo, NULL, &p, err);
    if (st) return st;
    static const char *const prompts[2] = {"a red fox in the snow", "waves at dusk"};
    static const uint64_t seeds[1] = {42};
    ff_chain_params prm;
    ff_chain_params_default(p, &prm);
    prm.prompts = prompts;
    prm.n_prompts = 2;
    prm.seeds = seeds;
    prm.n_seeds = 1;
    prm.num_frames = FRAMES;
    prm.height = H;
    prm.width = W;
    prm.num_inference_steps = 2;
    prm.guidance_scale = 6.0;
    prm.use_dynamic_cfg = 1;
    prm.max_sequence_length = TEXT_LEN;
    prm.vae.tiling = tiling;
    prm.vae.tile_sample_min_height = prm.vae.tile_sample_min_width = 32;
    prm.vae.tile_sample_stride_height = prm.vae.tile_sample_stride_width = 16;
    prm.vae.slicing = slicing;
    prm.on_frames = on_frames;
    prm.on_progress = on_progress;
    prm.on_intermediate = on_inter;
    prm.user = pb;
    pb->stage = -1;
    st = ff_chain_run(p, &prm, NULL, err);
    account(pb);
    ff_chain_close(p);
    return st;
}

typedef struct {
    const char *name;
    int offload, group, from_file, text_on_host, tiling, slicing;
} strategy;

static void test_strategies(void) {
    ff_err err = {0};
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    static const strategy ss[] = {
        {"none (all kept)", FF_PLAN_NONE, 0, 0, 0, 0, 0},
        {"model", FF_PLAN_MODEL, 0, 0, 0, 0, 0},
        {"sequential k=1", FF_PLAN_SEQUENTIAL, 1, 0, 0, 0, 0},
        {"sequential k=2 from file", FF_PLAN_SEQUENTIAL, 2, 1, 0, 0, 0},
        {"model, text on host", FF_PLAN_MODEL, 0, 0, 1, 0, 0},
        {"model, VAE slicing", FF_PLAN_MODEL, 0, 0, 0, 0, 1},
        {"sequential k=1, VAE tiling", FF_PLAN_SEQUENTIAL, 1, 0, 0, 1, 0},
    };
    probe ref[2][2];
    memset(ref, 0, sizeof ref);
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 2; s++) FF_REQUIRE_OK(run(be, NULL, t, s, &ref[t][s], &err), &err);
    /* the VAE options change the output (tiles are blended), offload never does */
    FF_CHECK(ref[0][0].nbytes == ref[1][0].nbytes && memcmp(ref[0][0].fbuf, ref[1][0].fbuf, ref[0][0].nbytes));
    for (size_t i = 0; i < sizeof ss / sizeof ss[0]; i++) {
        const strategy *sg = &ss[i];
        ff_plan_request rq;
        ff_plan_request_default(&rq);
        rq.height = H, rq.width = W, rq.frames = FRAMES, rq.text_len = TEXT_LEN, rq.dtype = FF_F32, rq.batch = 2;
        rq.cfg = 1, rq.offload = sg->offload, rq.group = sg->group, rq.text_on_host = sg->text_on_host;
        rq.tiling = sg->tiling, rq.slicing = sg->slicing, rq.tile = 32, rq.tile_stride = 16;
        ff_plan plan;
        FF_REQUIRE_OK(ff_plan_predict(g_dir, &rq, &plan, &err), &err);
        ff_pool *pool = NULL;
        FF_REQUIRE_OK(ff_pool_create("device", plan.peak, &pool, &err), &err);
        FF_REQUIRE_OK(ff_pool_attach(pool, be, &err), &err);
        ff_chain_opts oo = {0};
        oo.weight_dtype = FF_F32;
        oo.device_pool = pool;
        oo.stream = sg->offload == FF_PLAN_SEQUENTIAL;
        oo.group = sg->group;
        oo.from_file = sg->from_file;
        oo.text_on_host = sg->text_on_host;
        oo.keep = sg->offload == FF_PLAN_NONE ? FF_CHAIN_KEEP_ALL : 0;
        probe pb = {0};
        pb.pool = pool;
        ff_status st = run(be, &oo, sg->tiling, sg->slicing, &pb, &err);
        FF_CHECK_MSG(st == FF_OK, "%s: %s", sg->name, err.msg);
        const probe *r = &ref[sg->tiling][sg->slicing];
        if (!st) {
            FF_CHECK_MSG(pb.nbytes == r->nbytes && !memcmp(pb.fbuf, r->fbuf, r->nbytes), "%s: frames differ", sg->name);
            FF_CHECK_MSG(ff_tensor_equal(&pb.latents, &r->latents), "%s: latents differ", sg->name);
            static const char *const names[3] = {"text_encoder", "transformer", "vae"};
            for (int k = 0; k < 3; k++) {
                const ff_plan_stage *ps = ff_plan_find_stage(&plan, names[k]);
                FF_REQUIRE(ps != NULL);
                fprintf(stderr, "%-28s %-13s measured %9zu predicted %9zu (%s)\n", sg->name, names[k], pb.peak[k], ps->peak,
                        ps->strategy);
                /* all kept: a stage's prediction counts the components loaded later too */
                if (sg->offload == FF_PLAN_NONE) FF_CHECK(pb.peak[k] <= ps->peak);
                else FF_CHECK_MSG(pb.peak[k] == ps->peak, "%s %s: measured %zu, predicted %zu", sg->name, names[k],
                                  pb.peak[k], ps->peak);
                FF_CHECK(pb.peak[k] <= plan.peak);
            }
            ff_pool_stats s;
            ff_pool_stats_get(pool, &s);
            FF_CHECK(s.cur == 0); /* everything given back */
        }
        probe_free(&pb);
        ff_pool_detach(pool);
        ff_pool_free(pool);
    }
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 2; s++) probe_free(&ref[t][s]);
    ff_backend_free(be);
}

/* A budget one byte under the largest stage (the VAE decode at 64x64) fails, naming it. */
static void test_over_budget(void) {
    ff_err err = {0};
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_plan_request rq;
    ff_plan_request_default(&rq);
    rq.height = H, rq.width = W, rq.frames = FRAMES, rq.text_len = TEXT_LEN, rq.dtype = FF_F32, rq.batch = 2;
    rq.offload = FF_PLAN_MODEL, rq.tiling = 0, rq.slicing = 0, rq.text_on_host = 0;
    ff_plan plan;
    FF_REQUIRE_OK(ff_plan_predict(g_dir, &rq, &plan, &err), &err);
    ff_pool *pool = NULL;
    FF_REQUIRE_OK(ff_pool_create("device", ff_plan_find_stage(&plan, "vae")->peak - 1, &pool, &err), &err);
    FF_REQUIRE_OK(ff_pool_attach(pool, be, &err), &err);
    ff_chain_opts oo = {0};
    oo.device_pool = pool;
    probe pb = {0};
    ff_err e2 = {0};
    FF_CHECK(run(be, &oo, 0, 0, &pb, &e2) == FF_ERR_BUDGET);
    FF_REQUIRE(ff_plan_find_stage(&plan, "vae")->peak == plan.peak);
    FF_CHECK_MSG(strstr(e2.msg, "over budget") && strstr(e2.msg, "in vae"), "%s", e2.msg);
    probe_free(&pb);
    ff_pool_detach(pool);
    ff_pool_free(pool);
    ff_backend_free(be);
}

int main(void) {
    char base[4096];
    ff_test_tmp_path("cogvideox_offload", base, sizeof base);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) return 1;
    snprintf(g_dir, sizeof g_dir, "%s/tiny-cogvideox", base);
    ff_err err = {0};
    if (ff_tiny_model_create("tiny-cogvideox", g_dir, 0, &err)) {
        fprintf(stderr, "init-model: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_strategies);
    FF_RUN(test_over_budget);
    return ff_test_summary();
}
