/* The memory planner against measurement on the golden tiny pipelines (CPU
 * backend, device pool attached): for each stage the predicted device peak
 * is within 10% of the pool's measured peak running that stage's component
 * the way the pipeline does (text encoder forward; transformer forward
 * resident and block-streamed with k = 1, with the pipeline's latents,
 * prediction and text buffers; VAE streamed decode). Also: strategy choice
 * order and the one-line error for a budget nothing fits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "kernels/ops.h"
#include "models/umt5.h"
#include "models/wan_transformer.h"
#include "models/wan_vae.h"
#include "offload/pool.h"
#include "pipeline/offload_model.h"
#include "pipeline/plan.h"

/* The Wan transformer through pipeline/offload_model.h: one forward with d's
 * block hooks, and the device bytes of a placement from the config. */
static ff_status dit_forward(ff_offload_model *d, ff_wandit_model *m, ff_backend *be, const ff_tensor *x, const ff_tensor *t,
                             const ff_tensor *text, ff_tensor *out, ff_err *err) {
    ff_denoiser_in in = {.x = x, .timestep = t, .text = text};
    return ff_offload_denoise(&ff_comp_wandit, m, be, d, &in, out, err);
}


static int pipe_dir(const char *name, char *buf, size_t n) {
    const char *g = getenv("FF_GOLDEN");
    if (!g) return -1;
    snprintf(buf, n, "%s/pipelines/%s", g, name);
    char probe[4300];
    snprintf(probe, sizeof probe, "%s/model_index.json", buf);
    FILE *f = fopen(probe, "rb");
    if (!f) return -1;
    fclose(f);
    return 0;
}

static int within(size_t pred, size_t meas, double tol) {
    return fabs((double)pred - (double)meas) <= tol * (double)meas;
}

#define H 64
#define W 96
#define FRAMES 9
#define TEXT_LEN 16

static void measure_pipeline(const char *name) {
    char dir[4200], sub[4300];
    if (pipe_dir(name, dir, sizeof dir)) {
        fprintf(stderr, "(%s absent: skipped)\n", name);
        return;
    }
    ff_err err = {0};
    ff_plan_request rq;
    ff_plan_request_default(&rq);
    rq.height = H, rq.width = W, rq.frames = FRAMES, rq.text_len = TEXT_LEN, rq.dtype = FF_F32;
    rq.offload = FF_PLAN_MODEL, rq.tiling = 0, rq.text_on_host = 0, rq.slicing = 0;
    ff_plan pm, ps;
    FF_REQUIRE_OK(ff_plan_predict(dir, &rq, &pm, &err), &err);
    rq.offload = FF_PLAN_SEQUENTIAL, rq.group = 1;
    FF_REQUIRE_OK(ff_plan_predict(dir, &rq, &ps, &err), &err);

    ff_backend *be = NULL;
    ff_pool *pool = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    FF_REQUIRE_OK(ff_pool_create("device", 0, &pool, &err), &err);
    FF_REQUIRE_OK(ff_pool_attach(pool, be, &err), &err);
    ff_pool_stats s;

    /* text encoder: load + one forward of (1, TEXT_LEN) with a mask */
    {
        snprintf(sub, sizeof sub, "%s/text_encoder", dir);
        ff_umt5 *te = NULL;
        ff_tensor ids = {0}, mask = {0}, out = {0};
        ff_pool_reset_peak(pool);
        FF_REQUIRE_OK(ff_umt5_load(be, sub, &te, &err), &err);
        FF_REQUIRE_OK(ff_tensor_allocv(&ids, FF_I64, &err, 2, 1LL, (int64_t)TEXT_LEN), &err);
        FF_REQUIRE_OK(ff_tensor_allocv(&mask, FF_I64, &err, 2, 1LL, (int64_t)TEXT_LEN), &err);
        for (int i = 0; i < TEXT_LEN; i++) ((int64_t *)ids.data)[i] = i + 3, ((int64_t *)mask.data)[i] = i < 5;
        FF_CHECK_OK(ff_umt5_forward(te, &ids, &mask, &out, &err), &err);
        ff_pool_stats_get(pool, &s);
        ff_be_free(be, &out);
        ff_umt5_free(te);
        ff_tensor_free(&ids);
        ff_tensor_free(&mask);
        /* on the CPU backend the weights are host tensors the pool does not see: add them */
        size_t meas = s.peak + ff_plan_find_stage(&pm, "text_encoder")->weights;
        FF_CHECK_MSG(within(ff_plan_find_stage(&pm, "text_encoder")->peak, meas, 0.10), "%s text: predicted %zu, measured %zu", name,
                     ff_plan_find_stage(&pm, "text_encoder")->peak, meas);
        fprintf(stderr, "%s text_encoder: predicted %zu, measured %zu (weights %zu host-side)\n", name,
                ff_plan_find_stage(&pm, "text_encoder")->peak, meas, ff_plan_find_stage(&pm, "text_encoder")->weights);
    }

    /* transformer: resident and streamed (k = 1), the pipeline's buffers */
    for (int e = 0; e < 2; e++) {
        const ff_plan_stage *sm = ff_plan_find_stage(&pm, e ? "transformer_2" : "transformer"),
                            *ss = ff_plan_find_stage(&ps, e ? "transformer_2" : "transformer");
        if (!sm || !sm->present) continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, e ? "transformer_2" : "transformer");
        ff_wandit_model *m = NULL;
        FF_REQUIRE_OK(ff_wandit_load_as(sub, FF_F32, &m, &err), &err);
        int64_t lat[5];
        for (int i = 0; i < 5; i++) lat[i] = pm.latent[i];
        for (int mode = 0; mode < 2; mode++) {
            const ff_plan_stage *pst = mode ? ss : sm;
            ff_pool_reset_peak(pool);
            ff_offload_opts o;
            ff_offload_opts_default(&o);
            o.mode = mode ? FF_OFFLOAD_STREAM : FF_OFFLOAD_RESIDENT;
            o.group = 1;
            o.device_pool = pool;
            ff_offload_model *d = NULL;
            ff_tensor dx = {0}, dout = {0}, dc = {0}, du = {0}, t = {0};
            FF_REQUIRE_OK(ff_offload_model_create_for(&ff_comp_wandit, m, be, &o, &d, &err), &err);
            int64_t ts[3] = {1, TEXT_LEN, m->cfg.text_dim};
            FF_CHECK_OK(ff_be_alloc(be, &dx, FF_F32, 5, lat, &err), &err);
            FF_CHECK_OK(ff_be_alloc(be, &dout, FF_F32, 5, lat, &err), &err);
            FF_CHECK_OK(ff_be_alloc(be, &dc, FF_F32, 3, ts, &err), &err);
            FF_CHECK_OK(ff_be_alloc(be, &du, FF_F32, 3, ts, &err), &err);
            FF_CHECK_OK(ff_tensor_allocv(&t, FF_I64, &err, 1, 1LL), &err);
            ((int64_t *)t.data)[0] = 500;
            FF_CHECK_OK(dit_forward(d, m, be, &dx, &t, &dc, &dout, &err), &err);
            FF_CHECK_OK(dit_forward(d, m, be, &dx, &t, &du, &dout, &err), &err);
            ff_pool_stats_get(pool, &s);
            ff_be_free(be, &dx), ff_be_free(be, &dout), ff_be_free(be, &dc), ff_be_free(be, &du);
            ff_tensor_free(&t);
            ff_offload_model_free(d);
            FF_CHECK_MSG(within(pst->peak, s.peak, 0.10), "%s %s mode %d: predicted %zu, measured %zu", name, pst->name,
                         mode, pst->peak, s.peak);
            fprintf(stderr, "%s %s (%s): predicted %zu, measured %zu\n", name, pst->name, mode ? "sequential k=1" : "model",
                    pst->peak, s.peak);
        }
        ff_wandit_free(m);
    }

    /* VAE: load + streamed decode of the latents */
    {
        snprintf(sub, sizeof sub, "%s/vae", dir);
        ff_vae *v = NULL;
        ff_tensor z = {0}, vid = {0};
        ff_pool_reset_peak(pool);
        FF_REQUIRE_OK(ff_wanvae_load(be, sub, &v, &err), &err);
        int64_t zs[5] = {1, ff_wanvae_config_of(v)->z_dim, pm.latent[2], pm.latent[3], pm.latent[4]};
        FF_REQUIRE_OK(ff_tensor_alloc(&z, FF_F32, 5, zs, &err), &err);
        ff_test_fill_uniform(&z, 5, -1, 1);
        ff_wanvae_opts vo;
        ff_wanvae_opts_default(&vo);
        vo.tiling = 0;
        FF_CHECK_OK(ff_wanvae_decode(v, &z, &vo, &vid, &err), &err);
        ff_pool_stats_get(pool, &s);
        ff_wanvae_free(v);
        ff_tensor_free(&z);
        ff_tensor_free(&vid);
        FF_CHECK_MSG(within(ff_plan_find_stage(&pm, "vae")->peak, s.peak, 0.10), "%s vae: predicted %zu, measured %zu", name,
                     ff_plan_find_stage(&pm, "vae")->peak, s.peak);
        fprintf(stderr, "%s vae: predicted %zu, measured %zu\n", name, ff_plan_find_stage(&pm, "vae")->peak, s.peak);
    }
    ff_pool_free(pool);
    ff_backend_free(be);
}

static void test_tiny_wan21(void) { measure_pipeline("tiny-wan21"); }
static void test_tiny_a14b(void) { measure_pipeline("tiny-wan22-a14b"); }

/* Choice order and the too-small error on a real config. */
static void test_choices(void) {
    char dir[4200];
    const char *g = getenv("FF_GOLDEN");
    if (!g) return;
    snprintf(dir, sizeof dir, "%s/../configs/wan2.1-t2v-14b", g);
    ff_err err = {0};
    ff_plan_request rq;
    ff_plan_request_default(&rq);
    ff_plan p, p2;
    rq.budget = (size_t)80 << 30;
    if (ff_plan_make(dir, &rq, &p, &err)) {
        FF_CHECK_MSG(0, "%s", err.msg);
        return;
    }
    FF_CHECK(p.fits && p.offload == FF_PLAN_NONE && p.peak <= rq.budget);
    rq.budget = (size_t)24 << 30; /* 14B in BF16 (26.7 GiB) does not fit whole: stream its blocks */
    FF_REQUIRE_OK(ff_plan_make(dir, &rq, &p, &err), &err);
    FF_CHECK(p.fits && p.offload == FF_PLAN_SEQUENTIAL && p.group >= 1 && p.peak <= rq.budget);
    rq.group = p.group + 1; /* the largest k: one more does not fit */
    rq.offload = FF_PLAN_SEQUENTIAL;
    rq.text_on_host = p.text_on_host;
    FF_REQUIRE_OK(ff_plan_predict(dir, &rq, &p2, &err), &err);
    FF_CHECK(!p2.fits);
    rq.group = 0, rq.offload = -1, rq.text_on_host = -1;
    rq.budget = (size_t)1 << 30;
    ff_err e2 = {0};
    FF_CHECK(ff_plan_make(dir, &rq, &p, &e2) == FF_ERR_BUDGET);
    FF_CHECK_MSG(strstr(e2.msg, "too small") && strstr(e2.msg, "needs") && !strchr(e2.msg, '\n'), "%s", e2.msg);
    FF_CHECK(p.min_budget > rq.budget);
    /* the named smallest budget does work */
    rq.budget = p.min_budget;
    FF_CHECK_OK(ff_plan_make(dir, &rq, &p2, &err), &err);
}

int main(void) {
    if (!getenv("FF_GOLDEN")) ff_test_skip("FF_GOLDEN not set");
    FF_RUN(test_tiny_wan21);
    FF_RUN(test_tiny_a14b);
    FF_RUN(test_choices);
    return ff_test_summary();
}
