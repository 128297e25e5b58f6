/* HunyuanVideoPipeline's pieces around the model calls
 * (pipeline/hunyuan_latents.h) and the scheduler's custom sigmas
 * (ff_sched_set_sigmas): latent geometry (frames not rounded), the noise
 * seeding (one generator = the batch drawn at once; one per sample = each
 * sample's own draw), the HunyuanVideo schedule in float32 against the
 * formula, the Euler steps it drives, invert_sigmas / shift_terminal on
 * custom sigmas, the guidance tensor, true CFG, and the refusals. */
#include <math.h>
#include <string.h>

#include "core/ff_json.h"
#include "core/ff_rng.h"
#include "pipeline/hunyuan_latents.h"
#include "pipeline/scheduler.h"
#include "tests/common/ff_test.h"

static void test_geometry_and_noise(void) {
    ff_err err = {0};
    int64_t s[5];
    FF_REQUIRE_OK(ff_hunyuan_latent_shape(2, 16, 720, 1280, 129, 4, 8, s, &err), &err);
    FF_CHECK(s[0] == 2 && s[1] == 16 && s[2] == 33 && s[3] == 90 && s[4] == 160);
    FF_REQUIRE_OK(ff_hunyuan_latent_shape(1, 4, 48, 64, 10, 4, 8, s, &err), &err); /* 10 frames: not rounded */
    FF_CHECK(s[2] == 3 && s[3] == 6 && s[4] == 8);
    FF_CHECK(ff_hunyuan_latent_shape(1, 4, 4, 64, 9, 4, 8, s, &err) == FF_ERR_ARG);
    FF_CHECK(ff_hunyuan_latent_shape(0, 4, 48, 64, 9, 4, 8, s, &err) == FF_ERR_ARG);
    /* one seed per sample: sample 1 is seed 6's own draw */
    const int64_t shape[5] = {2, 4, 2, 3, 5};
    const uint64_t seeds[2] = {5, 6};
    ff_tensor t = {0}, one = {0};
    FF_REQUIRE_OK(ff_hunyuan_prepare_latents(shape, seeds, 2, &t, &err), &err);
    const int64_t shape1[5] = {1, 4, 2, 3, 5};
    FF_REQUIRE_OK(ff_hunyuan_prepare_latents(shape1, &seeds[1], 1, &one, &err), &err);
    FF_CHECK(memcmp((float *)t.data + 120, one.data, 120 * sizeof(float)) == 0);
    ff_tensor_free(&t);
    FF_CHECK(ff_hunyuan_prepare_latents(shape, seeds, 3, &t, &err) == FF_ERR_ARG && strstr(err.msg, "generators"));
    ff_tensor_free(&one);
}

static ff_sched *flowmatch(const char *json, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_sched_config cfg;
    ff_sched *s = NULL;
    if (!ff_json_parse(json, strlen(json), "t", &doc, err) &&
        !ff_sched_config_from_json(ff_json_root(doc), "t", &cfg, err))
        ff_sched_create(&cfg, &s, err);
    ff_json_free(doc);
    return s;
}

static void test_schedule(void) {
    ff_err err = {0};
    ff_sched *s = flowmatch("{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"shift\": 7.0}", &err);
    FF_REQUIRE(s != NULL);
    FF_REQUIRE_OK(ff_hunyuan_set_timesteps(s, 4, &err), &err);
    FF_REQUIRE(ff_sched_num_steps(s) == 4 && ff_sched_timestep_dtype(s) == FF_F32);
    const float *sg = ff_sched_sigmas(s);
    const double *ts = ff_sched_timesteps(s);
    for (int i = 0; i < 4; i++) { /* float32: 7s / (1 + 6s) of s = 1 - i/4 */
        const float v = (float)(1.0 - i * 0.25), want = (7.0f * v) / (1.0f + 6.0f * v);
        FF_CHECK_MSG(sg[i] == want && ts[i] == (double)(want * 1000.0f), "step %d: sigma %.9g want %.9g", i, sg[i],
                     want);
    }
    FF_CHECK(sg[0] == 1.0f && sg[4] == 0.0f);
    /* Euler steps over the schedule: x + (s_{i+1} - s_i) v */
    float x = 2.0f, v = -0.5f, prev;
    ff_tensor tx, tv, tp;
    const int64_t one[1] = {1};
    ff_tensor_view(&tx, FF_F32, 1, one, &x, FF_LOC_HOST);
    ff_tensor_view(&tv, FF_F32, 1, one, &v, FF_LOC_HOST);
    ff_tensor_view(&tp, FF_F32, 1, one, &prev, FF_LOC_HOST);
    float want = 2.0f;
    for (int i = 0; i < 4; i++) {
        FF_CHECK_OK(ff_sched_step(s, &tv, &tx, &tp, &err), &err);
        want = want + (sg[i + 1] - sg[i]) * -0.5f;
        x = prev;
    }
    FF_CHECK(x == want);
    /* refusals */
    FF_CHECK(ff_hunyuan_set_timesteps(s, 0, &err) == FF_ERR_ARG);
    const double nan_sig[2] = {1.0, NAN};
    FF_CHECK(ff_sched_set_sigmas(s, nan_sig, 2, &err) == FF_ERR_ARG);
    ff_sched_free(s);
    ff_sched_config uc;
    ff_sched_config_default(&uc, FF_SCHED_UNIPC);
    ff_sched *u = NULL;
    FF_REQUIRE_OK(ff_sched_create(&uc, &u, &err), &err);
    const double sig[2] = {1.0, 0.5};
    FF_CHECK(ff_sched_set_sigmas(u, sig, 2, &err) == FF_ERR_UNSUPPORTED);
    ff_sched_free(u);
    /* invert_sigmas: 1 - sigma, terminal 1; shift_terminal: the last sigma stretched to it */
    s = flowmatch("{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"shift\": 3.0, \"invert_sigmas\": true}",
                  &err);
    FF_REQUIRE(s != NULL);
    FF_CHECK_OK(ff_hunyuan_set_timesteps(s, 2, &err), &err);
    FF_CHECK(ff_sched_sigmas(s)[0] == 0.0f && ff_sched_sigmas(s)[2] == 1.0f);
    ff_sched_free(s);
    s = flowmatch("{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"shift\": 3.0, \"shift_terminal\": 0.1}",
                  &err);
    FF_REQUIRE(s != NULL);
    FF_CHECK_OK(ff_hunyuan_set_timesteps(s, 5, &err), &err);
    FF_CHECK_MSG(fabsf(ff_sched_sigmas(s)[4] - 0.1f) < 1e-6f, "stretched last sigma %.9g", ff_sched_sigmas(s)[4]);
    ff_sched_free(s);
}

static void test_guidance_and_cfg(void) {
    ff_err err = {0};
    ff_tensor g = {0};
    FF_REQUIRE_OK(ff_hunyuan_guidance(3, 3.5, &g, &err), &err);
    FF_CHECK(g.shape[0] == 3 && ((float *)g.data)[2] == 3500.0f);
    ff_tensor_free(&g);
    FF_CHECK(ff_hunyuan_guidance(1, INFINITY, &g, &err) == FF_ERR_ARG);
    float c[3] = {1.0f, -2.0f, 0.25f}, u[3] = {0.5f, 1.0f, 0.25f};
    ff_tensor tc, tu;
    const int64_t n[1] = {3};
    ff_tensor_view(&tc, FF_F32, 1, n, c, FF_LOC_HOST);
    ff_tensor_view(&tu, FF_F32, 1, n, u, FF_LOC_HOST);
    FF_CHECK_OK(ff_hunyuan_true_cfg(&tc, &tu, 4.0, &err), &err);
    FF_CHECK(c[0] == 0.5f + 4.0f * 0.5f && c[1] == 1.0f + 4.0f * -3.0f && c[2] == 0.25f);
    const int64_t m[1] = {2};
    ff_tensor_view(&tu, FF_F32, 1, m, u, FF_LOC_HOST);
    FF_CHECK(ff_hunyuan_true_cfg(&tc, &tu, 4.0, &err) == FF_ERR_SHAPE);
}

int main(void) {
    FF_RUN(test_geometry_and_noise);
    FF_RUN(test_schedule);
    FF_RUN(test_guidance_and_cfg);
    return ff_test_summary();
}
