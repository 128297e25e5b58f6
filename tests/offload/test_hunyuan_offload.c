/* Offload of the HunyuanVideo pipeline (the embedded tiny-hunyuanvideo
 * model written by init-model's code, CPU backend, a budgeted device pool
 * attached): component offload with every component resident in its stage,
 * and block streaming (k = 1, k = 2, k = 1 from the file) of the Llama
 * encoder, the CLIP encoder and the transformer (its dual- and
 * single-stream blocks, two block shapes) give frames and final latents
 * bit-identical to the plain run, with true CFG and framewise VAE decoding
 * (17 frames: 5 latent frames, two temporal tiles). Each stage's budget is
 * the planner's prediction for that strategy, and the pool's measured peak
 * of each stage (text encoders, transformer, VAE decode) equals the
 * prediction exactly. One byte under the predicted text stage of the
 * streamed Llama encoder, and under the resident transformer stage, fails
 * with an over-budget error naming the component. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "offload/pool.h"
#include "pipeline/chain.h"
#include "pipeline/plan.h"
#include "pipeline/tiny_model.h"
#include "tests/common/ff_test.h"

#define H 48
#define W 32
#define FRAMES 17
#define TEXT_LEN 16
#define STEPS 2

typedef struct {
    ff_pool *pool;
    size_t budget[3];   /* text, denoise, decode (0: none) */
    size_t peak[3];     /* measured */
    int stage;          /* -1 none, else the index being measured */
    unsigned char *fbuf;
    size_t nbytes, cap;
    ff_tensor latents;
} probe;

static void stage_end(probe *pb) {
    if (!pb->pool || pb->stage < 0) return;
    ff_pool_stats s;
    ff_pool_stats_get(pb->pool, &s);
    pb->peak[pb->stage] = s.peak;
    pb->stage = -1;
}

static void stage_begin(probe *pb, int k) {
    stage_end(pb);
    if (!pb->pool) return;
    ff_pool_reset_peak(pb->pool);
    ff_pool_set_budget(pb->pool, pb->budget[k]);
    pb->stage = k;
}

static ff_status on_progress(void *user, const ff_chain_progress *pr, ff_err *err) {
    probe *pb = user;
    (void)err;
    const int k = pr->stage == FF_STAGE_TEXT ? 0 : pr->stage == FF_STAGE_DENOISE ? 1 : pr->stage == FF_STAGE_DECODE ? 2 : -1;
    /* the VAE loads before its stage's first progress: its stage (and
     * budget) begins when the denoising loop ends */
    if (k == 0 || (k == 1 && pr->done == 0)) {
        if (pr->done == 0) stage_begin(pb, k);
        else if (pr->done == pr->total) stage_end(pb);
    } else if (k == 1 && pr->done == pr->total) {
        stage_begin(pb, 2);
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

static ff_status run(ff_backend *be, const char *dir, const ff_chain_opts *oo, probe *pb, ff_err *err) {
    ff_chain *p = NULL;
    ff_status st = ff_chain_open(be, dir, oo, NULL, &p, err);
    if (st) return st;
    static const char *const prompts[1] = {"A red fox runs through the snow at dusk."};
    static const char *const neg[1] = {"blurry, low quality"};
    static const uint64_t seeds[1] = {7};
    ff_chain_params prm;
    ff_chain_params_default(p, &prm);
    prm.prompts = prompts, prm.n_prompts = 1;
    prm.negative_prompts = neg, prm.n_negative = 1;
    prm.true_cfg_scale = 3.0;
    prm.seeds = seeds, prm.n_seeds = 1;
    prm.num_frames = FRAMES, prm.height = H, prm.width = W;
    prm.num_inference_steps = STEPS;
    prm.max_sequence_length = TEXT_LEN;
    prm.on_frames = on_frames, prm.on_progress = on_progress, prm.on_intermediate = on_inter;
    prm.user = pb;
    pb->nbytes = 0;
    pb->stage = -1;
    st = ff_chain_run(p, &prm, NULL, err);
    stage_end(pb); /* the decode stage ends with the run */
    ff_chain_close(p);
    return st;
}

static void probe_free(probe *pb) {
    ff_tensor_free(&pb->latents);
    free(pb->fbuf);
}

static size_t stage_peak(const ff_plan *pl, const char *name) {
    const ff_plan_stage *s = ff_plan_find_stage(pl, name);
    return s && s->present ? s->peak : 0;
}

static void test_offload(void) {
    char dir[4096];
    ff_err err = {0};
    ff_test_tmp_path("hunyuan_offload_model", dir, sizeof dir);
    FF_REQUIRE_OK(ff_tiny_model_create("tiny-hunyuanvideo", dir, 1, &err), &err);
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);

    probe ref = {0};
    FF_REQUIRE_OK(run(be, dir, NULL, &ref, &err), &err);
    FF_REQUIRE(ref.nbytes == (size_t)FRAMES * H * W * 3 * sizeof(float));

    ff_plan_request rq;
    ff_plan_request_default(&rq);
    rq.height = H, rq.width = W, rq.frames = FRAMES, rq.text_len = TEXT_LEN, rq.dtype = FF_F32, rq.batch = 1, rq.cfg = 1;
    rq.steps = STEPS, rq.tiling = 0, rq.text_on_host = 0, rq.slicing = 0;
    static const char *const names[4] = {"model", "sequential k=1", "sequential k=2", "sequential k=1 from file"};
    for (int strat = 0; strat < 4; strat++) {
        rq.offload = strat ? FF_PLAN_SEQUENTIAL : FF_PLAN_MODEL;
        rq.group = strat == 2 ? 2 : 1;
        ff_plan pl;
        FF_REQUIRE_OK(ff_plan_predict(dir, &rq, &pl, &err), &err);
        const size_t te = stage_peak(&pl, "text_encoder"), te2 = stage_peak(&pl, "text_encoder_2");
        const size_t want[3] = {te > te2 ? te : te2, stage_peak(&pl, "transformer"), stage_peak(&pl, "vae")};
        FF_CHECK(want[0] == ff_plan_kind_peak(&pl, FF_STAGE_TEXT));
        ff_pool *pool = NULL;
        FF_REQUIRE_OK(ff_pool_create("device", 0, &pool, &err), &err);
        FF_REQUIRE_OK(ff_pool_attach(pool, be, &err), &err);
        ff_chain_opts oo = {0};
        oo.weight_dtype = FF_F32;
        oo.device_pool = pool;
        oo.stream = strat > 0;
        oo.group = rq.group;
        oo.from_file = strat == 3;
        probe pb = {0};
        pb.pool = pool;
        memcpy(pb.budget, want, sizeof want);
        ff_status st = run(be, dir, &oo, &pb, &err);
        FF_CHECK_MSG(st == FF_OK, "%s: %s", names[strat], err.msg);
        if (!st) {
            FF_CHECK_MSG(pb.nbytes == ref.nbytes && !memcmp(pb.fbuf, ref.fbuf, ref.nbytes), "%s: frames differ", names[strat]);
            FF_CHECK_MSG(ff_tensor_equal(&pb.latents, &ref.latents), "%s: final latents differ", names[strat]);
            static const char *const stage[3] = {"text encoders", "transformer", "vae decode"};
            for (int k = 0; k < 3; k++) {
                FF_CHECK_MSG(pb.peak[k] == want[k], "%s, %s: measured peak %zu, predicted %zu", names[strat], stage[k],
                             pb.peak[k], want[k]);
                fprintf(stderr, "%s, %s: peak %zu B = predicted %zu B (budget)\n", names[strat], stage[k], pb.peak[k], want[k]);
            }
            ff_pool_stats s;
            ff_pool_stats_get(pool, &s);
            FF_CHECK(s.cur == 0);
        }
        probe_free(&pb);
        if (strat == 1) { /* the streamed Llama encoder one byte under its prediction */
            probe bad = {0};
            bad.pool = pool;
            bad.budget[0] = te - 1;
            ff_err e2 = {0};
            FF_CHECK(run(be, dir, &oo, &bad, &e2) == FF_ERR_BUDGET);
            FF_CHECK_MSG(strstr(e2.msg, "over budget") && strstr(e2.msg, "text_encoder"), "%s", e2.msg);
            probe_free(&bad);
            FF_CHECK_MSG(te > te2, "the Llama stage (%zu) is the larger text stage (%zu)", te, te2);
        }
        if (strat == 0) { /* the resident transformer one byte under its prediction */
            probe bad = {0};
            bad.pool = pool;
            bad.budget[1] = want[1] - 1;
            ff_err e2 = {0};
            FF_CHECK(run(be, dir, &oo, &bad, &e2) == FF_ERR_BUDGET);
            FF_CHECK_MSG(strstr(e2.msg, "over budget") && strstr(e2.msg, "transformer"), "%s", e2.msg);
            probe_free(&bad);
        }
        ff_pool_detach(pool);
        ff_pool_free(pool);
    }
    probe_free(&ref);
    ff_backend_free(be);
}

int main(void) {
    FF_RUN(test_offload);
    return ff_test_summary();
}
