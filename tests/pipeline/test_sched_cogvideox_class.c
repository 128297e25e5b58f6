/* The CogVideoX schedulers as ff_sched classes (pipeline/scheduler_cogvideox_class.c):
 * a CogVideoX scheduler_config.json is read by the generic reader with every
 * CogVideoX key, the generic timesteps and steps are exactly those of
 * ff_cogsched (DDIM, and DPM drawing from the borrowed generator, which
 * advances as the pipeline's does), ff_sched_cogvideox hands the scheduler
 * to the CogVideoX loop, and the other classes have none. */
#include <string.h>

#include "tests/common/ff_test.h"
#include "pipeline/scheduler.h"

static const char *const cfg_json =
    "{\"_class_name\": \"CogVideoXDDIMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\","
    " \"beta_start\": 0.00085, \"clip_sample\": false, \"num_train_timesteps\": 1000, \"prediction_type\": \"v_prediction\","
    " \"rescale_betas_zero_snr\": true, \"set_alpha_to_one\": true, \"snr_shift_scale\": 3.0, \"steps_offset\": 0,"
    " \"timestep_spacing\": \"trailing\"}";

static void check_kind(ff_sched_kind kind) {
    ff_err err = {0};
    ff_json_doc *doc = NULL;
    FF_REQUIRE_OK(ff_json_parse(cfg_json, strlen(cfg_json), "test", &doc, &err), &err);
    ff_sched_config c;
    ff_sched_config_default(&c, kind);
    FF_REQUIRE_OK(ff_sched_config_apply_json(&c, ff_json_root(doc), "test", &err), &err);
    ff_json_free(doc);
    FF_CHECK(c.num_train_timesteps == 1000 && c.cog.snr_shift_scale == 3.0 && c.cog.rescale_betas_zero_snr);
    FF_CHECK(c.cog.prediction_type == FF_COGSCHED_V_PREDICTION && c.cog.timestep_spacing == FF_COGSCHED_TRAILING);
    ff_sched *s = NULL;
    FF_REQUIRE_OK(ff_sched_create(&c, &s, &err), &err);
    FF_CHECK(ff_sched_cogvideox(s) == NULL); /* before set_timesteps */
    FF_REQUIRE_OK(ff_sched_set_timesteps(s, 3, &err), &err);
    FF_CHECK(ff_sched_timestep_dtype(s) == FF_I64);
    ff_cogsched_config cc = c.cog;
    cc.kind = kind == FF_SCHED_COGVIDEOX_DPM ? FF_COGSCHED_DPM : FF_COGSCHED_DDIM;
    ff_cogsched *ref = NULL;
    FF_REQUIRE_OK(ff_cogsched_create(&cc, &ref, &err), &err);
    FF_REQUIRE_OK(ff_cogsched_set_timesteps(ref, 3, &err), &err);
    const int64_t *rt = ff_cogsched_timesteps(ref);
    for (int i = 0; i < 3; i++) FF_CHECK(ff_sched_timesteps(s)[i] == (double)rt[i]);
    FF_CHECK(rt[0] == 999 && ff_sched_cogvideox(s) != NULL);
    /* the generic step (generator borrowed) against ff_cogsched with a copy of the same generator */
    ff_rng g, gref;
    ff_rng_seed(&g, 7);
    gref = g;
    ff_sched_set_generator(s, &g);
    FF_REQUIRE_OK(ff_cogsched_set_generators(ref, &gref, 1, &err), &err);
    ff_tensor x = {0}, xr = {0}, mo = {0};
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 2, (int64_t)2, (int64_t)40), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&mo, FF_F32, &err, 2, (int64_t)2, (int64_t)40), &err);
    ff_test_fill_uniform(&x, 1, -1, 1);
    FF_REQUIRE_OK(ff_tensor_clone(&xr, &x, &err), &err);
    for (int i = 0; i < 3; i++) {
        ff_test_fill_uniform(&mo, 10 + (unsigned)i, -1, 1);
        FF_REQUIRE_OK(ff_sched_step(s, &mo, &x, &x, &err), &err);
        FF_REQUIRE_OK(ff_cogsched_step(ref, &mo, &xr, &xr, NULL, NULL, NULL, &err), &err);
        FF_CHECK(ff_tensor_equal(&x, &xr));
        FF_CHECK(ff_sched_step_index(s) == i + 1);
    }
    size_t n = 0;
    const ff_rng *after = ff_cogsched_generators(ref, &n);
    FF_CHECK(n == 1 && !memcmp(&g, &after[0], sizeof g)); /* the borrowed generator advanced as diffusers' */
    ff_rng fresh;
    ff_rng_seed(&fresh, 7);
    FF_CHECK((kind == FF_SCHED_COGVIDEOX_DPM) == !!memcmp(&g, &fresh, sizeof g)); /* DDIM draws nothing */
    ff_tensor_free(&x);
    ff_tensor_free(&xr);
    ff_tensor_free(&mo);
    ff_cogsched_free(ref);
    ff_sched_free(s);
}

static void test_ddim(void) { check_kind(FF_SCHED_COGVIDEOX_DDIM); }
static void test_dpm(void) { check_kind(FF_SCHED_COGVIDEOX_DPM); }

static void test_names_and_others(void) {
    ff_sched_kind k;
    FF_CHECK(!ff_sched_kind_from_name("CogVideoXDDIMScheduler", &k) && k == FF_SCHED_COGVIDEOX_DDIM);
    FF_CHECK(!ff_sched_kind_from_name("CogVideoXDPMScheduler", &k) && k == FF_SCHED_COGVIDEOX_DPM);
    FF_CHECK(!strcmp(ff_sched_kind_name(FF_SCHED_COGVIDEOX_DPM), "CogVideoXDPMScheduler"));
    ff_err err = {0};
    ff_sched_config c;
    ff_sched_config_default(&c, FF_SCHED_UNIPC);
    ff_sched *s = NULL;
    FF_REQUIRE_OK(ff_sched_create(&c, &s, &err), &err);
    FF_REQUIRE_OK(ff_sched_set_timesteps(s, 4, &err), &err);
    FF_CHECK(ff_sched_cogvideox(s) == NULL);
    ff_sched_free(s);
    /* a CogVideoX config value the class rejects is an error at create */
    ff_sched_config_default(&c, FF_SCHED_COGVIDEOX_DDIM);
    c.cog.num_train_timesteps = c.num_train_timesteps = 0;
    FF_CHECK(ff_sched_create(&c, &s, &err) != FF_OK);
}

int main(void) {
    FF_RUN(test_ddim);
    FF_RUN(test_dpm);
    FF_RUN(test_names_and_others);
    return ff_test_summary();
}
