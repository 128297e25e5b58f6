/* The planner on the published HunyuanVideo configs
 * (../shared/configs/hunyuanvideo, hunyuanvideo-community/HunyuanVideo):
 *  - every component's parameter list sums to the count of
 *    ../shared/configs/README.md exactly (transformer 12,821,012,544,
 *    Llama text encoder 7,505,186,816, CLIP text 123,060,480, VAE
 *    246,478,803), and the transformer's list streams as two block kinds
 *    (20 dual-stream + 40 single-stream blocks);
 *  - plans at 544x960 and 720x1280, 129 frames, BF16, for 24 / 48 / 80 GiB
 *    CUDA budgets fit, stay under the budget, and use less movement as the
 *    budget grows: 24 GiB streams the blocks of the Llama encoder and of the
 *    transformer, 48 GiB loads one component at a time, 80 GiB at 544x960
 *    keeps everything resident; an 8 GiB budget is refused naming the
 *    smallest plan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/ff_param.h"
#include "offload/pool.h"
#include "pipeline/chain.h"
#include "pipeline/offload_model.h"
#include "pipeline/plan.h"
#include "tests/common/ff_test.h"

static char dir[4200];

static void test_param_counts(void) {
    ff_err err = {0};
    ff_chain *c = NULL;
    FF_REQUIRE_OK(ff_chain_open(NULL, dir, NULL, NULL, &c, &err), &err);
    FF_CHECK(!strcmp(ff_chain_class_name(c), "HunyuanVideoPipeline"));
    static const struct {
        const char *name;
        int64_t count;
    } want[] = {{"text_encoder", 7505186816LL}, {"text_encoder_2", 123060480LL}, {"transformer", 12821012544LL}, {"vae", 246478803LL}};
    FF_REQUIRE(ff_chain_n_components(c) == 4);
    for (int i = 0; i < 4; i++) {
        FF_CHECK(!strcmp(ff_chain_component_name(c, i), want[i].name));
        const ff_model_class *mc = ff_chain_component_class(c, i);
        ff_param *ps = NULL;
        size_t n = 0;
        FF_REQUIRE_OK(mc->params(ff_chain_component_config(c, i), FF_BF16, &ps, &n, &err), &err);
        int64_t total = 0;
        for (size_t k = 0; k < n; k++) total += ff_param_numel(&ps[k]);
        FF_CHECK_MSG(total == want[i].count, "%s: %lld parameters, README %lld", want[i].name, (long long)total,
                     (long long)want[i].count);
        fprintf(stderr, "%s (%s): %lld parameters, %d blocks\n", want[i].name, mc->class_name, (long long)total,
                ff_params_blocks(ps, n));
        if (i == 2) { /* two block shapes stream: the ring holds the larger one */
            FF_CHECK(ff_params_blocks(ps, n) == 60);
            ff_offload_opts o;
            ff_offload_opts_default(&o);
            o.mode = FF_OFFLOAD_STREAM;
            size_t r, ring, blk;
            FF_CHECK_OK(ff_offload_device_bytes(ps, n, &o, &r, &ring, &blk, &err), &err);
            FF_CHECK(r > 0 && ring > 0 && blk > 0);
        }
        if (i == 0) FF_CHECK(ff_params_blocks(ps, n) == 32);
        free(ps);
    }
    ff_chain_close(c);
}

static void plan_at(int h, int w, int gib, const char *want_offload) {
    ff_err err = {0};
    ff_plan_request rq;
    ff_plan_request_default(&rq);
    rq.height = h, rq.width = w, rq.frames = 129, rq.text_len = 256, rq.cfg = 0, rq.cuda = 1;
    rq.budget = (size_t)gib << 30;
    ff_plan p;
    FF_REQUIRE_OK(ff_plan_make(dir, &rq, &p, &err), &err);
    FF_CHECK(p.fits && p.peak <= rq.budget);
    FF_CHECK(p.latent[0] == 1 && p.latent[1] == 16 && p.latent[2] == 33 && p.latent[3] == h / 8 && p.latent[4] == w / 8);
    FF_CHECK_MSG(!strcmp(ff_plan_offload_name(p.offload), want_offload), "%dx%d, %d GiB: offload %s, want %s", w, h, gib,
                 ff_plan_offload_name(p.offload), want_offload);
    if (p.offload == FF_PLAN_SEQUENTIAL) {
        FF_CHECK(!strncmp(ff_plan_find_stage(&p, "text_encoder")->strategy, "stream blocks", 13));
        FF_CHECK(!strncmp(ff_plan_find_stage(&p, "transformer")->strategy, "stream blocks", 13));
    }
    char b[32];
    fprintf(stderr, "%dx%d x129, %d GiB: offload %s k=%d, tiling %d, peak %s\n", w, h, gib, ff_plan_offload_name(p.offload),
            p.group, p.tiling, ff_pool_fmt_bytes(p.peak, b, sizeof b));
    for (int i = 0; i < p.n_stages; i++)
        fprintf(stderr, "  %-15s %-40s peak %s\n", p.st[i].name, p.st[i].strategy, ff_pool_fmt_bytes(p.st[i].peak, b, sizeof b));
}

static void test_plans(void) {
    plan_at(544, 960, 24, "sequential");
    plan_at(544, 960, 48, "model");
    plan_at(544, 960, 80, "none");
    plan_at(720, 1280, 24, "sequential");
    plan_at(720, 1280, 48, "model");
    plan_at(720, 1280, 80, "model");
    ff_err err = {0};
    ff_plan_request rq;
    ff_plan_request_default(&rq);
    rq.height = 720, rq.width = 1280, rq.frames = 129, rq.text_len = 256, rq.cfg = 0, rq.cuda = 1, rq.budget = (size_t)8 << 30;
    ff_plan p;
    FF_CHECK(ff_plan_make(dir, &rq, &p, &err) == FF_ERR_BUDGET);
    FF_CHECK_MSG(strstr(err.msg, "the smallest plan"), "%s", err.msg);
}

int main(void) {
    const char *g = getenv("FF_GOLDEN");
    snprintf(dir, sizeof dir, "%s/../configs/hunyuanvideo", g ? g : "");
    char probe[4300];
    snprintf(probe, sizeof probe, "%s/model_index.json", dir);
    FILE *f = g ? fopen(probe, "rb") : NULL;
    if (!f) ff_test_skip("no ../shared/configs/hunyuanvideo");
    fclose(f);
    FF_RUN(test_param_counts);
    FF_RUN(test_plans);
    return ff_test_summary();
}
