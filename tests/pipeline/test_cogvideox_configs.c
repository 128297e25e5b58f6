/* The CogVideoX family on the real configs of ../shared/configs (no
 * weights): every component's parameter list from its class (the lists the
 * planner, init-model and the loaders use) counts exactly the parameters of
 * ../shared/configs/README.md (counted there with the real diffusers /
 * transformers classes), and the planner fits each pipeline into a 24 GiB
 * budget at its native size and into 8 GiB by offloading, streaming and
 * tiling. Skips without the configs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "models/ff_param.h"
#include "pipeline/chain.h"
#include "pipeline/component.h"
#include "pipeline/plan.h"

typedef struct {
    const char *folder;
    int height, width, frames;
    int64_t text_encoder, transformer, vae; /* README "Parameter counts" */
} config_case;

static const config_case cases[] = {
    {"cogvideox-2b", 480, 720, 49, 4762310656LL, 1693783872LL, 215583907LL},
    {"cogvideox-5b", 480, 720, 49, 4762310656LL, 5570283072LL, 215583907LL},
    {"cogvideox1.5-5b", 768, 1360, 81, 4762310656LL, 5570676352LL, 215583907LL},
};

static char g_configs[4096];

static void check_case(const config_case *k) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", g_configs, k->folder);
    ff_err err = {0};
    ff_chain *c = NULL;
    FF_REQUIRE_OK(ff_chain_open(NULL, dir, NULL, NULL, &c, &err), &err);
    FF_CHECK(!strcmp(ff_chain_class_name(c), "CogVideoXPipeline"));
    const int64_t want[3] = {k->text_encoder, k->transformer, k->vae};
    FF_REQUIRE(ff_chain_n_components(c) == 3);
    for (int i = 0; i < 3; i++) {
        const ff_model_class *mc = ff_chain_component_class(c, i);
        ff_param *ps = NULL;
        size_t n = 0;
        FF_REQUIRE_OK(mc->params(ff_chain_component_config(c, i), FF_F32, &ps, &n, &err), &err);
        int64_t total = 0;
        for (size_t j = 0; j < n; j++) total += ff_param_numel(&ps[j]);
        fprintf(stderr, "%s %s (%s): %lld parameters in %zu tensors\n", k->folder, ff_chain_component_name(c, i),
                mc->class_name, (long long)total, n);
        FF_CHECK_MSG(total == want[i], "%s %s: %lld parameters, README says %lld", k->folder, ff_chain_component_name(c, i),
                     (long long)total, (long long)want[i]);
        free(ps);
    }
    ff_chain_close(c);
    /* the planner at the native size: 24 GiB fits, 8 GiB fits with streaming / tiling */
    ff_plan_request rq;
    ff_plan_request_default(&rq);
    rq.height = k->height, rq.width = k->width, rq.frames = k->frames, rq.text_len = 226;
    const size_t budgets[2] = {(size_t)24 << 30, (size_t)8 << 30};
    for (int b = 0; b < 2; b++) {
        rq.budget = budgets[b];
        ff_plan p;
        FF_CHECK_OK(ff_plan_make(dir, &rq, &p, &err), &err);
        FF_CHECK(p.fits && p.peak <= rq.budget && p.n_stages == 3);
        fprintf(stderr, "%s %dx%d %d frames, budget %zu GiB: offload %s k=%d, tiling %d, peak %zu\n", k->folder, k->width,
                k->height, k->frames, budgets[b] >> 30, ff_plan_offload_name(p.offload), p.group, p.tiling, p.peak);
    }
}

static void test_configs(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

int main(void) {
    const char *g = getenv("FF_GOLDEN");
    if (!g) ff_test_skip("FF_GOLDEN not set");
    snprintf(g_configs, sizeof g_configs, "%s/../configs", g);
    char probe[4300];
    snprintf(probe, sizeof probe, "%s/cogvideox-2b/model_index.json", g_configs);
    FILE *f = fopen(probe, "rb");
    if (!f) ff_test_skip("no ../shared/configs");
    fclose(f);
    FF_RUN(test_configs);
    return ff_test_summary();
}
