/* CogVideoX schedulers: config reading, the float64 schedule (a[999] = 0
 * after the zero-terminal-SNR rescale), trailing / leading / linspace
 * timesteps and the prev = t - T // N rule, the DDIM step at t = 999, the
 * DPM step's noise draws per step, generator errors, checkpoint round trip
 * (save after k steps, restore into a fresh scheduler, continue = the
 * uninterrupted run bit for bit) and the dynamic-CFG formula against the
 * golden pipeline case's float64 values (when ../shared/golden is present). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "core/ff_json.h"
#include "pipeline/scheduler_cogvideox.h"

/* CogVideoX-2B's scheduler_config.json */
static const char *k_2b =
    "{\"_class_name\": \"CogVideoXDDIMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", "
    "\"beta_start\": 0.00085, \"clip_sample\": false, \"clip_sample_range\": 1.0, \"num_train_timesteps\": 1000, "
    "\"prediction_type\": \"v_prediction\", \"rescale_betas_zero_snr\": true, \"sample_max_value\": 1.0, "
    "\"set_alpha_to_one\": true, \"snr_shift_scale\": 3.0, \"steps_offset\": 0, \"timestep_spacing\": \"trailing\", "
    "\"trained_betas\": null}";

static ff_status parse(const char *json, ff_cogsched_config *c, ff_err *err) {
    ff_json_doc *doc;
    ff_status st = ff_json_parse(json, strlen(json), "test config", &doc, err);
    if (st) return st;
    st = ff_cogsched_config_from_json(ff_json_root(doc), "test config", c, err);
    ff_json_free(doc);
    return st;
}

static ff_cogsched *make(ff_cogsched_kind kind, int64_t n) {
    ff_cogsched_config c;
    ff_err err = {0};
    ff_cogsched *s = NULL;
    if (parse(k_2b, &c, &err) || (c.kind = kind, ff_cogsched_create(&c, &s, &err)) ||
        ff_cogsched_set_timesteps(s, n, &err)) {
        fprintf(stderr, "scheduler: %s\n", err.msg);
        ff_cogsched_free(s);
        return NULL;
    }
    return s;
}

static void test_config(void) {
    ff_cogsched_config c;
    ff_err err = {0};
    FF_REQUIRE_OK(parse(k_2b, &c, &err), &err);
    FF_CHECK(c.kind == FF_COGSCHED_DDIM && c.prediction_type == FF_COGSCHED_V_PREDICTION &&
             c.timestep_spacing == FF_COGSCHED_TRAILING && c.rescale_betas_zero_snr && c.snr_shift_scale == 3.0);
    FF_CHECK(parse("{\"_class_name\": \"DDIMScheduler\"}", &c, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(parse("{\"_class_name\": \"CogVideoXDPMScheduler\", \"trained_betas\": [0.1]}", &c, &err) ==
             FF_ERR_UNSUPPORTED);
    FF_CHECK(parse("{\"_class_name\": \"CogVideoXDPMScheduler\", \"timestep_spacing\": \"karras\"}", &c, &err) ==
             FF_ERR_UNSUPPORTED);
    FF_CHECK(parse("{\"_class_name\": \"CogVideoXDPMScheduler\", \"num_train_timesteps\": 0}", &c, &err) ==
             FF_ERR_FORMAT);
    /* class defaults: the DPM scheduler's own, unless the file sets them */
    FF_REQUIRE_OK(parse("{\"_class_name\": \"CogVideoXDPMScheduler\"}", &c, &err), &err);
    FF_CHECK(c.beta_schedule == FF_COGSCHED_BETAS_LINEAR && c.beta_start == 0.0001 && c.beta_end == 0.02);
}

static void test_schedule(void) {
    ff_cogsched *s = make(FF_COGSCHED_DDIM, 4);
    FF_REQUIRE(s != NULL);
    const double *a = ff_cogsched_alphas_cumprod(s);
    FF_CHECK(a[999] == 0.0 && ff_cogsched_final_alpha_cumprod(s) == 1.0 && a[0] < 1.0 && a[0] > 0.99);
    int mono = 1;
    for (int i = 1; i < 1000; i++) mono &= a[i] < a[i - 1];
    FF_CHECK(mono);
    ff_err err = {0};
    const int64_t want4[4] = {999, 749, 499, 249};
    FF_CHECK(memcmp(ff_cogsched_timesteps(s), want4, sizeof want4) == 0);
    FF_CHECK_OK(ff_cogsched_set_timesteps(s, 3, &err), &err);
    const int64_t want3[3] = {999, 666, 332}; /* round(arange(1000, 0, -333.33)) - 1 */
    FF_CHECK(memcmp(ff_cogsched_timesteps(s), want3, sizeof want3) == 0);
    /* step() pairs t with t - 1000 // 3 = t - 333, not the next timestep */
    FF_CHECK(ff_cogsched_prev_timestep(s, 0) == 666 && ff_cogsched_prev_timestep(s, 2) == -1);
    FF_CHECK_OK(ff_cogsched_set_timesteps(s, 7, &err), &err);
    FF_CHECK(ff_cogsched_timesteps(s)[1] == 856 && ff_cogsched_prev_timestep(s, 1) == 714); /* 1000/7 = 142.857 */
    FF_CHECK_OK(ff_cogsched_set_timesteps(s, 1000, &err), &err);
    FF_CHECK(ff_cogsched_timesteps(s)[999] == 0);
    FF_CHECK(ff_cogsched_set_timesteps(s, 0, &err) == FF_ERR_ARG);
    FF_CHECK(ff_cogsched_set_timesteps(s, 1001, &err) == FF_ERR_ARG);
    ff_cogsched_free(s);

    /* leading (+ steps_offset) and linspace spacings */
    ff_cogsched_config c;
    FF_REQUIRE_OK(parse("{\"_class_name\": \"CogVideoXDDIMScheduler\", \"steps_offset\": 1}", &c, &err), &err);
    FF_REQUIRE_OK(ff_cogsched_create(&c, &s, &err), &err);
    FF_CHECK_OK(ff_cogsched_set_timesteps(s, 4, &err), &err);
    const int64_t lead[4] = {751, 501, 251, 1};
    FF_CHECK(memcmp(ff_cogsched_timesteps(s), lead, sizeof lead) == 0);
    ff_cogsched_free(s);
    FF_REQUIRE_OK(parse("{\"_class_name\": \"CogVideoXDDIMScheduler\", \"timestep_spacing\": \"linspace\"}", &c, &err),
                  &err);
    FF_REQUIRE_OK(ff_cogsched_create(&c, &s, &err), &err);
    FF_CHECK_OK(ff_cogsched_set_timesteps(s, 4, &err), &err);
    const int64_t lin[4] = {999, 666, 333, 0};
    FF_CHECK(memcmp(ff_cogsched_timesteps(s), lin, sizeof lin) == 0);
    ff_cogsched_free(s);
}

static void test_ddim_first_step(void) {
    ff_cogsched *s = make(FF_COGSCHED_DDIM, 4);
    FF_REQUIRE(s != NULL);
    ff_err err = {0};
    ff_tensor x, v, prev, x0;
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 2, (int64_t)2, (int64_t)8), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&v, FF_F32, &err, 2, (int64_t)2, (int64_t)8), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&prev, FF_F32, &err, 2, (int64_t)2, (int64_t)8), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&x0, FF_F32, &err, 2, (int64_t)2, (int64_t)8), &err);
    ff_test_fill_uniform(&x, 1, -1, 1);
    ff_test_fill_uniform(&v, 2, -1, 1);
    int nn = -1;
    FF_CHECK_OK(ff_cogsched_step(s, &v, &x, &prev, &x0, NULL, &nn, &err), &err);
    FF_CHECK(nn == 0 && ff_cogsched_step_index(s) == 1);
    /* t = 999: a_t = 0, so x0 = -v and prev = sqrt(1 - a_prev) x + sqrt(a_prev) x0 */
    const double ap = ff_cogsched_alphas_cumprod(s)[749];
    int ok = 1;
    for (int i = 0; i < 16; i++) {
        const float xv = ((float *)x.data)[i], vv = ((float *)v.data)[i];
        ok &= ((float *)x0.data)[i] == -vv;
        float want = (float)sqrt(1 - ap) * xv + (float)sqrt(ap) * -vv;
        ok &= fabsf(((float *)prev.data)[i] - want) <= 1e-6f;
    }
    FF_CHECK(ok);
    /* prev may alias sample */
    FF_CHECK_OK(ff_cogsched_step(s, &v, &x, &x, NULL, NULL, NULL, &err), &err);
    ff_tensor wrong;
    FF_REQUIRE_OK(ff_tensor_allocv(&wrong, FF_F32, &err, 1, (int64_t)15), &err);
    FF_CHECK(ff_cogsched_step(s, &wrong, &x, &prev, NULL, NULL, NULL, &err) == FF_ERR_SHAPE);
    ff_tensor_free(&wrong);
    FF_CHECK_OK(ff_cogsched_step(s, &v, &x, &prev, NULL, NULL, NULL, &err), &err);
    FF_CHECK_OK(ff_cogsched_step(s, &v, &x, &prev, NULL, NULL, NULL, &err), &err);
    FF_CHECK(ff_cogsched_step(s, &v, &x, &prev, NULL, NULL, NULL, &err) == FF_ERR_ARG); /* all 4 done */
    ff_tensor_free(&x);
    ff_tensor_free(&v);
    ff_tensor_free(&prev);
    ff_tensor_free(&x0);
    ff_cogsched_free(s);
}

/* Runs steps [from, to) of a DPM loop on x with model outputs from a fixed
 * sequence; returns the draws of each step in draws[]. */
static ff_status run_dpm(ff_cogsched *s, ff_tensor *x, int from, int to, int *draws, ff_err *err) {
    ff_tensor mo;
    ff_status st = ff_tensor_alloc(&mo, FF_F32, x->ndim, x->shape, err);
    for (int i = from; !st && i < to; i++) {
        ff_test_fill_uniform(&mo, 100 + (unsigned)i, -1, 1);
        st = ff_cogsched_step(s, &mo, x, x, NULL, NULL, &draws[i], err);
    }
    ff_tensor_free(&mo);
    return st;
}

static void test_dpm_round_trip(void) {
    const int N = 5;
    ff_err err = {0};
    ff_rng g;
    ff_rng_seed(&g, 1234);
    ff_cogsched *a = make(FF_COGSCHED_DPM, N), *b = make(FF_COGSCHED_DPM, N), *c = make(FF_COGSCHED_DPM, N);
    FF_REQUIRE(a && b && c);
    ff_tensor xa, xb;
    FF_REQUIRE_OK(ff_tensor_allocv(&xa, FF_F32, &err, 3, (int64_t)2, (int64_t)3, (int64_t)5), &err);
    ff_test_fill_uniform(&xa, 9, -1, 1);
    FF_REQUIRE_OK(ff_tensor_clone(&xb, &xa, &err), &err);
    ff_tensor mo = xa;
    FF_CHECK(ff_cogsched_step(a, &mo, &xa, &xb, NULL, NULL, NULL, &err) == FF_ERR_ARG); /* no generator */
    FF_CHECK(strstr(err.msg, "generator") != NULL);
    ff_rng three[3] = {g, g, g};
    FF_CHECK_OK(ff_cogsched_set_generators(a, three, 3, &err), &err);
    FF_CHECK(ff_cogsched_step(a, &mo, &xa, &xb, NULL, NULL, NULL, &err) == FF_ERR_ARG); /* 3 for a batch of 2 */
    memcpy(xb.data, xa.data, ff_tensor_nbytes(&xa));

    /* uninterrupted */
    FF_REQUIRE_OK(ff_cogsched_set_generators(a, &g, 1, &err), &err);
    int da[8] = {0}, db[8] = {0};
    FF_REQUIRE_OK(run_dpm(a, &xa, 0, N, da, &err), &err);
    const int want[5] = {1, 2, 2, 2, 1}; /* first and last steps draw once */
    FF_CHECK(memcmp(da, want, sizeof want) == 0);
    /* interrupted after 2 steps: save, restore into c, continue */
    FF_REQUIRE_OK(ff_cogsched_set_generators(b, &g, 1, &err), &err);
    FF_REQUIRE_OK(run_dpm(b, &xb, 0, 2, db, &err), &err);
    size_t n = ff_cogsched_state_size(b);
    void *buf = malloc(n);
    FF_REQUIRE(buf != NULL);
    FF_REQUIRE_OK(ff_cogsched_state_save(b, buf, n, &err), &err);
    FF_CHECK(ff_cogsched_state_restore(c, buf, n - 1, &err) == FF_ERR_FORMAT);
    FF_REQUIRE_OK(ff_cogsched_state_restore(c, buf, n, &err), &err);
    FF_CHECK(ff_cogsched_step_index(c) == 2);
    FF_REQUIRE_OK(run_dpm(c, &xb, 2, N, db, &err), &err);
    FF_CHECK(memcmp(da, db, sizeof da) == 0);
    FF_CHECK_MSG(memcmp(xa.data, xb.data, ff_tensor_nbytes(&xa)) == 0, "restored run differs");
    size_t ng;
    const ff_rng *ga = ff_cogsched_generators(a, &ng), *gc = ff_cogsched_generators(c, &ng);
    FF_CHECK(memcmp(ga, gc, sizeof *ga) == 0); /* same generator state afterwards */
    /* a state of another scheduler kind is refused */
    ff_cogsched *d = make(FF_COGSCHED_DDIM, N);
    FF_CHECK(ff_cogsched_state_restore(d, buf, n, &err) == FF_ERR_FORMAT);
    ff_cogsched_free(d);
    free(buf);
    ff_tensor_free(&xa);
    ff_tensor_free(&xb);
    ff_cogsched_free(a);
    ff_cogsched_free(b);
    ff_cogsched_free(c);
}

static void test_dynamic_cfg(void) {
    /* cogvideox_pipeline_dynamic_cfg: guidance_scale 6, 3 steps at t = 999, 666, 332 */
    const double want[3] = {1.0000000386950705, 6.999999981398925, 3.7481633040187146};
    const int64_t t[3] = {999, 666, 332};
    for (int i = 0; i < 3; i++) {
        double g = ff_cogsched_dynamic_cfg(6.0, 3, t[i]);
        FF_CHECK_MSG(fabs(g - want[i]) <= 1e-12 * fabs(want[i]), "t=%lld: %.17g vs %.17g", (long long)t[i], g,
                     want[i]);
    }
}

int main(void) {
    FF_RUN(test_config);
    FF_RUN(test_schedule);
    FF_RUN(test_ddim_first_step);
    FF_RUN(test_dpm_round_trip);
    FF_RUN(test_dynamic_cfg);
    return ff_test_summary();
}
