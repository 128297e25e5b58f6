/* test_scheduler: UniPC / FlowMatch schedulers (pipeline/scheduler.h).
 * The golden runner compares against diffusers; these tests pin down the
 * config contract, the schedule formulas and properties any correct solver
 * has (exactness on straight flows, the final step returning x0, history
 * and aliasing behaviour). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"
#include "pipeline/scheduler.h"
#include "tests/common/ff_test.h"

#define WAN21_UNIPC                                                                                               \
    "{\"_class_name\": \"UniPCMultistepScheduler\", \"_diffusers_version\": \"0.40.0.dev0\", \"beta_end\": 0.02, " \
    "\"beta_schedule\": \"linear\", \"beta_start\": 0.0001, \"disable_corrector\": [], "                          \
    "\"dynamic_thresholding_ratio\": 0.995, \"final_sigmas_type\": \"zero\", \"flow_shift\": 3.0, "               \
    "\"lower_order_final\": true, \"num_train_timesteps\": 1000, \"predict_x0\": true, "                          \
    "\"prediction_type\": \"flow_prediction\", \"rescale_betas_zero_snr\": false, \"sample_max_value\": 1.0, "    \
    "\"shift_terminal\": null, \"sigma_max\": null, \"sigma_min\": null, \"solver_order\": 2, \"solver_p\": null, " \
    "\"solver_type\": \"bh2\", \"steps_offset\": 0, \"thresholding\": false, \"time_shift_type\": \"exponential\", " \
    "\"timestep_spacing\": \"linspace\", \"trained_betas\": null, \"use_beta_sigmas\": false, "                   \
    "\"use_dynamic_shifting\": false, \"use_exponential_sigmas\": false, \"use_flow_sigmas\": true, "             \
    "\"use_karras_sigmas\": false}"

/* Parses text and applies it to c (kind already set); returns the status. */
static ff_status apply_text(ff_sched_config *c, const char *text, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse(text, strlen(text), "test", &doc, err);
    if (st) return st;
    st = ff_sched_config_apply_json(c, ff_json_root(doc), "test", err);
    ff_json_free(doc);
    return st;
}

static ff_status from_text(const char *text, ff_sched_config *c, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse(text, strlen(text), "test", &doc, err);
    if (st) return st;
    st = ff_sched_config_from_json(ff_json_root(doc), "test", c, err);
    ff_json_free(doc);
    return st;
}

static void test_config_wan21(void) {
    ff_err err = {0};
    ff_sched_config c;
    FF_REQUIRE_OK(from_text(WAN21_UNIPC, &c, &err), &err);
    FF_CHECK(c.kind == FF_SCHED_UNIPC);
    FF_CHECK(c.num_train_timesteps == 1000);
    FF_CHECK(c.solver_order == 2);
    FF_CHECK(c.lower_order_final == 1);
    FF_CHECK(c.solver_type == FF_SCHED_BH2);
    FF_CHECK(c.flow_shift == 3.0);
    FF_CHECK(c.final_sigma_zero == 1);
    FF_CHECK(c.has_shift_terminal == 0);
    FF_CHECK(c.n_disable_corrector == 0);
    FF_CHECK(c.thresholding == 0);
}

/* Every unsupported or malformed setting fails and names its key. */
static void test_config_rejections(void) {
    static const struct {
        const char *json, *key;
        ff_status code;
    } bad[] = {
        {"{\"use_flow_sigmas\": false}", "use_flow_sigmas", FF_ERR_UNSUPPORTED},
        {"{\"solver_order\": 4}", "solver_order", FF_ERR_UNSUPPORTED},
        {"{\"solver_order\": 0}", "solver_order", FF_ERR_UNSUPPORTED},
        {"{\"solver_order\": 2.5}", "solver_order", FF_ERR_FORMAT},
        {"{\"prediction_type\": \"epsilon\"}", "prediction_type", FF_ERR_UNSUPPORTED},
        {"{\"predict_x0\": false}", "predict_x0", FF_ERR_UNSUPPORTED},
        {"{\"solver_type\": \"bh3\"}", "solver_type", FF_ERR_UNSUPPORTED},
        {"{\"use_dynamic_shifting\": true}", "use_dynamic_shifting", FF_ERR_UNSUPPORTED},
        {"{\"use_karras_sigmas\": true}", "use_karras_sigmas", FF_ERR_UNSUPPORTED},
        {"{\"use_exponential_sigmas\": true}", "use_exponential_sigmas", FF_ERR_UNSUPPORTED},
        {"{\"use_beta_sigmas\": true}", "use_beta_sigmas", FF_ERR_UNSUPPORTED},
        {"{\"final_sigmas_type\": \"max\"}", "final_sigmas_type", FF_ERR_UNSUPPORTED},
        {"{\"timestep_spacing\": \"cosine\"}", "timestep_spacing", FF_ERR_UNSUPPORTED},
        {"{\"solver_p\": {\"a\": 1}}", "solver_p", FF_ERR_UNSUPPORTED},
        {"{\"disable_corrector\": 3}", "disable_corrector", FF_ERR_FORMAT},
        {"{\"disable_corrector\": [1, \"x\"]}", "disable_corrector", FF_ERR_FORMAT},
        {"{\"flow_shift\": \"3\"}", "flow_shift", FF_ERR_FORMAT},
        {"{\"flow_shift\": null}", "flow_shift", FF_ERR_FORMAT},
        {"{\"lower_order_final\": 1}", "lower_order_final", FF_ERR_FORMAT},
        {"{\"time_shift_type\": \"cubic\"}", "time_shift_type", FF_ERR_UNSUPPORTED},
        {"{\"shift_terminal\": 1.5}", "shift_terminal", FF_ERR_UNSUPPORTED},
        {"{\"beta_schedule\": \"sigmoid\"}", "beta_schedule", FF_ERR_UNSUPPORTED},
        {"{\"num_train_timesteps\": 0}", "num_train_timesteps", FF_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ff_err err = {0};
        ff_sched_config c;
        ff_sched_config_default(&c, FF_SCHED_UNIPC);
        ff_status st = apply_text(&c, bad[i].json, &err);
        FF_CHECK_MSG(st == bad[i].code, "%s gave %s (%s)", bad[i].json, ff_status_name(st), err.msg);
        FF_CHECK_MSG(strstr(err.msg, bad[i].key) != NULL, "%s: message \"%s\" does not name %s", bad[i].json, err.msg,
                     bad[i].key);
    }
    static const struct {
        const char *json, *key;
    } bad_fm[] = {
        {"{\"use_dynamic_shifting\": true}", "use_dynamic_shifting"},
        {"{\"stochastic_sampling\": true}", "stochastic_sampling"},
        {"{\"shift\": \"five\"}", "shift"},
        {"{\"invert_sigmas\": 0}", "invert_sigmas"},
    };
    for (size_t i = 0; i < sizeof bad_fm / sizeof bad_fm[0]; i++) {
        ff_err err = {0};
        ff_sched_config c;
        ff_sched_config_default(&c, FF_SCHED_FLOWMATCH);
        FF_CHECK(apply_text(&c, bad_fm[i].json, &err) != FF_OK);
        FF_CHECK_MSG(strstr(err.msg, bad_fm[i].key) != NULL, "message \"%s\" does not name %s", err.msg, bad_fm[i].key);
    }
    ff_err err = {0};
    ff_sched_config c;
    FF_CHECK(from_text("{\"_class_name\": \"DDIMScheduler\"}", &c, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(strstr(err.msg, "DDIMScheduler") != NULL);
    FF_CHECK(from_text("{\"flow_shift\": 3}", &c, &err) == FF_ERR_FORMAT);
    /* DPM-Solver spellings map to bh2 as in diffusers; integers are numbers */
    ff_sched_config_default(&c, FF_SCHED_UNIPC);
    FF_CHECK_OK(apply_text(&c, "{\"solver_type\": \"midpoint\", \"flow_shift\": 5, \"disable_corrector\": [0, 2]}",
                           &err),
                &err);
    FF_CHECK(c.solver_type == FF_SCHED_BH2 && c.flow_shift == 5.0 && c.n_disable_corrector == 2 &&
             c.disable_corrector[1] == 2);
}

static ff_sched *make(ff_sched_kind kind, const char *json, int64_t n) {
    ff_err err = {0};
    ff_sched_config c;
    ff_sched *s = NULL;
    ff_sched_config_default(&c, kind);
    if (json && apply_text(&c, json, &err)) {
        fprintf(stderr, "config: %s\n", err.msg);
        return NULL;
    }
    if (ff_sched_create(&c, &s, &err) || ff_sched_set_timesteps(s, n, &err)) {
        fprintf(stderr, "create: %s\n", err.msg);
        ff_sched_free(s);
        return NULL;
    }
    return s;
}

static void test_unipc_schedule(void) {
    /* s = linspace(1, 0.001, 5)[:-1] = 1, 0.75025, 0.5005, 0.25075, shifted by 3 */
    ff_sched *s = make(FF_SCHED_UNIPC, "{\"flow_shift\": 3.0}", 4);
    FF_REQUIRE(s);
    FF_CHECK(ff_sched_num_steps(s) == 4);
    FF_CHECK(ff_sched_timestep_dtype(s) == FF_I64);
    const double *t = ff_sched_timesteps(s);
    const float *sg = ff_sched_sigmas(s);
    FF_CHECK(t[0] == 999 && t[1] == 900 && t[2] == 750 && t[3] == 500); /* truncation: 999.999 -> 999 */
    FF_CHECK(sg[0] == (float)(1.0 - 1e-6));
    double s1 = 3 * 0.75025 / (1 + 2 * 0.75025);
    FF_CHECK(sg[1] == (float)s1);
    FF_CHECK(sg[4] == 0.0f);
    ff_tensor tt;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_sched_timesteps_tensor(s, &tt, &err), &err);
    FF_CHECK(tt.dtype == FF_I64 && tt.ndim == 1 && tt.shape[0] == 4 && ((int64_t *)tt.data)[2] == 750);
    ff_tensor_free(&tt);
    ff_sched_free(s);

    /* final_sigmas_type sigma_min repeats the last sigma; shift_terminal pins it */
    s = make(FF_SCHED_UNIPC, "{\"flow_shift\": 5.0, \"final_sigmas_type\": \"sigma_min\", \"shift_terminal\": 0.1}", 7);
    FF_REQUIRE(s);
    sg = ff_sched_sigmas(s);
    FF_CHECK(fabsf(sg[6] - 0.1f) < 1e-6f);
    FF_CHECK(sg[7] == sg[6]);
    for (int i = 0; i < 6; i++) FF_CHECK(sg[i] > sg[i + 1]);
    ff_sched_free(s);

    /* N = 1: one step at sigma ~ 1 */
    s = make(FF_SCHED_UNIPC, NULL, 1);
    FF_REQUIRE(s);
    FF_CHECK(ff_sched_timesteps(s)[0] == 999 && ff_sched_sigmas(s)[1] == 0.0f);
    ff_sched_free(s);
}

static void test_flowmatch_schedule(void) {
    ff_sched *s = make(FF_SCHED_FLOWMATCH, "{\"shift\": 5.0}", 4);
    FF_REQUIRE(s);
    FF_CHECK(ff_sched_timestep_dtype(s) == FF_F32);
    const double *t = ff_sched_timesteps(s);
    const float *sg = ff_sched_sigmas(s);
    FF_CHECK(sg[0] == 1.0f && t[0] == 1000.0);
    /* sigma_min is shifted twice: s*m/(1+(s-1)m) with m = 5e-3/1.004 */
    double m = 5 * 0.001 / (1 + 4 * 0.001), m2 = 5 * m / (1 + 4 * m);
    FF_CHECK(fabs(sg[3] - m2) < 1e-6);
    FF_CHECK(sg[4] == 0.0f);
    for (int i = 0; i < 4; i++) FF_CHECK((float)t[i] == sg[i] * 1000.0f);
    ff_sched_free(s);
    s = make(FF_SCHED_FLOWMATCH, "{\"shift\": 3.0, \"invert_sigmas\": true}", 3);
    FF_REQUIRE(s);
    sg = ff_sched_sigmas(s);
    FF_CHECK(sg[0] == 0.0f && sg[3] == 1.0f);
    ff_sched_free(s);
}

#define NE 96

/* Runs the whole loop on a straight flow x_sigma = (1 - sigma) x0 + sigma e
 * with the exact velocity v = e - x0; returns max |x_final - x0|. orders
 * receives the predictor order of each step (up to 16). */
static double straight_flow(ff_sched *s, int *orders) {
    float x0[NE], e[NE], x[NE], v[NE];
    ff_tensor tx, tv;
    int64_t shape[1] = {NE};
    ff_err err = {0};
    for (int i = 0; i < NE; i++) {
        x0[i] = (float)sin(0.37 * i) * 1.5f;
        e[i] = (float)cos(1.3 * i + 0.2);
        v[i] = e[i] - x0[i];
    }
    float s0 = ff_sched_sigmas(s)[0];
    for (int i = 0; i < NE; i++) x[i] = (1 - s0) * x0[i] + s0 * e[i];
    ff_tensor_view(&tx, FF_F32, 1, shape, x, FF_LOC_HOST);
    ff_tensor_view(&tv, FF_F32, 1, shape, v, FF_LOC_HOST);
    for (int64_t i = 0; i < ff_sched_num_steps(s); i++) {
        if (ff_sched_step(s, &tv, &tx, &tx, &err)) {
            fprintf(stderr, "step: %s\n", err.msg);
            return 1e30;
        }
        if (orders && i < 16) orders[i] = ff_sched_last_order(s);
    }
    double worst = 0;
    for (int i = 0; i < NE; i++) worst = fmax(worst, fabs((double)x[i] - x0[i]));
    return worst;
}

static void test_straight_flow_exact(void) {
    static const char *cfgs[] = {
        "{\"solver_order\": 1}",
        "{\"solver_order\": 2}",
        "{\"solver_order\": 3}",
        "{\"solver_order\": 2, \"solver_type\": \"bh1\"}",
        "{\"solver_order\": 3, \"solver_type\": \"bh1\", \"flow_shift\": 7.0}",
        "{\"solver_order\": 2, \"disable_corrector\": [0, 1]}",
    };
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++)
        for (int n = 1; n <= 12; n += 3) {
            ff_sched *s = make(FF_SCHED_UNIPC, cfgs[k], n);
            FF_REQUIRE(s);
            double d = straight_flow(s, NULL);
            FF_CHECK_MSG(d < 1e-5, "%s N=%d: |x - x0| = %g", cfgs[k], n, d);
            ff_sched_free(s);
        }
    ff_sched *s = make(FF_SCHED_FLOWMATCH, "{\"shift\": 5.0}", 10);
    FF_REQUIRE(s);
    double d = straight_flow(s, NULL);
    FF_CHECK_MSG(d < 1e-5, "flowmatch: |x - x0| = %g", d);
    ff_sched_free(s);
}

static void test_orders(void) {
    int o[16];
    ff_sched *s = make(FF_SCHED_UNIPC, "{\"solver_order\": 2}", 4);
    FF_REQUIRE(s);
    straight_flow(s, o);
    FF_CHECK(o[0] == 1 && o[1] == 2 && o[2] == 2 && o[3] == 1);
    ff_sched_free(s);
    s = make(FF_SCHED_UNIPC, "{\"solver_order\": 3}", 6);
    FF_REQUIRE(s);
    straight_flow(s, o);
    FF_CHECK(o[0] == 1 && o[1] == 2 && o[2] == 3 && o[3] == 3 && o[4] == 2 && o[5] == 1);
    ff_sched_free(s);
    s = make(FF_SCHED_UNIPC, "{\"solver_order\": 2, \"lower_order_final\": false, \"final_sigmas_type\": "
                             "\"sigma_min\"}", 4);
    FF_REQUIRE(s);
    straight_flow(s, o);
    FF_CHECK(o[0] == 1 && o[1] == 2 && o[2] == 2 && o[3] == 2);
    ff_sched_free(s);
}

/* With final sigma 0 the last UniPC update is x0 = x - sigma * v exactly
 * (the IEEE inf/expm1(-inf) path), whatever the history. */
static void test_last_step_is_x0(void) {
    for (int n = 1; n <= 5; n++) {
        ff_sched *s = make(FF_SCHED_UNIPC, "{\"flow_shift\": 5.0}", n);
        FF_REQUIRE(s);
        ff_tensor x, v, out;
        ff_err err = {0};
        FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 2, (int64_t)2, (int64_t)40), &err);
        FF_REQUIRE_OK(ff_tensor_allocv(&v, FF_F32, &err, 2, (int64_t)2, (int64_t)40), &err);
        FF_REQUIRE_OK(ff_tensor_allocv(&out, FF_F32, &err, 2, (int64_t)2, (int64_t)40), &err);
        ff_test_fill_uniform(&x, 1, -2, 2);
        for (int i = 0; i < n; i++) {
            ff_test_fill_uniform(&v, 10 + (unsigned)i, -1, 1);
            if (i == n - 1) {
                float sg = ff_sched_sigmas(s)[i];
                FF_REQUIRE_OK(ff_sched_step(s, &v, &x, &out, &err), &err);
                int exact = 1;
                for (int e = 0; e < 80; e++) {
                    float x0 = ((float *)x.data)[e] - sg * ((float *)v.data)[e];
                    if (((float *)out.data)[e] != x0) exact = 0;
                }
                FF_CHECK_MSG(exact, "N=%d: last step is not x0", n);
            } else {
                FF_REQUIRE_OK(ff_sched_step(s, &v, &x, &x, &err), &err);
            }
        }
        FF_CHECK(ff_sched_step(s, &v, &x, &out, &err) == FF_ERR_ARG); /* all steps done */
        ff_tensor_free(&x);
        ff_tensor_free(&v);
        ff_tensor_free(&out);
        ff_sched_free(s);
    }
}

/* Runs 6 steps of random outputs; in_place chooses prev == sample. */
static void run_random(ff_sched *s, int in_place, float *result) {
    ff_tensor x, v, out;
    ff_err err = {0};
    if (ff_tensor_allocv(&x, FF_F32, &err, 1, (int64_t)50) || ff_tensor_allocv(&v, FF_F32, &err, 1, (int64_t)50) ||
        ff_tensor_allocv(&out, FF_F32, &err, 1, (int64_t)50))
        return;
    ff_test_fill_uniform(&x, 3, -1, 1);
    for (int i = 0; i < 6; i++) {
        ff_test_fill_uniform(&v, 20 + (unsigned)i, -1, 1);
        if (in_place) {
            FF_CHECK_OK(ff_sched_step(s, &v, &x, &x, &err), &err);
        } else {
            FF_CHECK_OK(ff_sched_step(s, &v, &x, &out, &err), &err);
            memcpy(x.data, out.data, 50 * sizeof(float));
        }
    }
    memcpy(result, x.data, 50 * sizeof(float));
    ff_tensor_free(&x);
    ff_tensor_free(&v);
    ff_tensor_free(&out);
}

static void test_alias_and_reset(void) {
    float a[50], b[50], c[50];
    ff_sched *s = make(FF_SCHED_UNIPC, "{\"solver_order\": 3}", 6);
    FF_REQUIRE(s);
    run_random(s, 0, a);
    ff_sched_reset(s);
    run_random(s, 1, b);
    FF_CHECK(memcmp(a, b, sizeof a) == 0);
    ff_err err = {0};
    FF_CHECK_OK(ff_sched_set_timesteps(s, 6, &err), &err);
    run_random(s, 0, c);
    FF_CHECK(memcmp(a, c, sizeof a) == 0);
    ff_sched_free(s);
}

static void test_step_errors(void) {
    ff_err err = {0};
    ff_sched_config c;
    ff_sched *s = NULL;
    ff_sched_config_default(&c, FF_SCHED_UNIPC);
    FF_REQUIRE_OK(ff_sched_create(&c, &s, &err), &err);
    ff_tensor a, b, i64;
    FF_REQUIRE_OK(ff_tensor_allocv(&a, FF_F32, &err, 1, (int64_t)8), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&b, FF_F32, &err, 1, (int64_t)9), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&i64, FF_I64, &err, 1, (int64_t)8), &err);
    FF_CHECK(ff_sched_step(s, &a, &a, &a, &err) == FF_ERR_ARG); /* before set_timesteps */
    FF_CHECK(ff_sched_set_timesteps(s, 0, &err) == FF_ERR_ARG);
    FF_REQUIRE_OK(ff_sched_set_timesteps(s, 3, &err), &err);
    FF_CHECK(ff_sched_step(s, &b, &a, &a, &err) == FF_ERR_SHAPE);
    FF_CHECK(ff_sched_step(s, &i64, &a, &a, &err) == FF_ERR_ARG);
    FF_CHECK_OK(ff_sched_step(s, &a, &a, &a, &err), &err);
    FF_CHECK(ff_sched_step(s, &b, &b, &b, &err) == FF_ERR_SHAPE); /* history holds 8 elements */
    ff_sched_reset(s);
    FF_CHECK_OK(ff_sched_step(s, &b, &b, &b, &err), &err);
    FF_CHECK(ff_sched_step_index(s) == 1);
    FF_CHECK_OK(ff_sched_set_begin_index(s, 2, &err), &err);
    FF_CHECK(ff_sched_step_index(s) == 2);
    FF_CHECK(ff_sched_set_begin_index(s, 3, &err) == FF_ERR_ARG);
    ff_tensor_free(&a);
    ff_tensor_free(&b);
    ff_tensor_free(&i64);
    ff_sched_free(s);
}

/* Dynamic thresholding (diffusers _threshold_sample) on a 1-step run: the
 * output is clamp(x0, -s, s) / s with s = clamp(quantile(|x0|), 1, max). */
static void test_thresholding(void) {
    ff_sched *s = make(FF_SCHED_UNIPC, "{\"thresholding\": true, \"sample_max_value\": 1.5}", 1);
    FF_REQUIRE(s);
    ff_tensor x, v;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 2, (int64_t)2, (int64_t)200), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&v, FF_F32, &err, 2, (int64_t)2, (int64_t)200), &err);
    float *xd = x.data;
    for (int i = 0; i < 200; i++) xd[i] = 3.0f * (float)(i - 100) / 100.0f; /* batch 0: |x0| up to 3 */
    for (int i = 200; i < 400; i++) xd[i] = 0.5f * (float)(i - 300) / 100.0f; /* batch 1: |x0| <= 0.5 */
    FF_REQUIRE_OK(ff_sched_step(s, &v, &x, &x, &err), &err);             /* v = 0: x0 = x */
    FF_CHECK(xd[0] == -1.0f && xd[199] == 1.0f);                         /* clamped at 1.5, / 1.5 */
    FF_CHECK(fabsf(xd[150] - (3.0f * 50 / 100.0f) / 1.5f) < 1e-6f);
    FF_CHECK(fabsf(xd[350] - 0.25f) < 1e-7f); /* s clamps up to 1: unchanged */
    ff_tensor_free(&x);
    ff_tensor_free(&v);
    ff_sched_free(s);
}

/* A real pipeline folder (the golden tiny pipelines) when FF_GOLDEN is set. */
static void test_load_folder(void) {
    const char *root = getenv("FF_GOLDEN");
    char path[1024];
    if (!root || !*root) return;
    snprintf(path, sizeof path, "%s/pipelines/tiny-wan22-ti2v/scheduler", root);
    FILE *f = fopen(path, "r");
    if (!f) return; /* golden data not present: covered by the inline config tests */
    fclose(f);
    ff_err err = {0};
    ff_sched *s = NULL;
    FF_REQUIRE_OK(ff_sched_load(path, &s, &err), &err);
    FF_CHECK(ff_sched_get_config(s)->kind == FF_SCHED_UNIPC && ff_sched_get_config(s)->flow_shift == 5.0);
    ff_sched_free(s);
    FF_CHECK(ff_sched_load("/nonexistent/scheduler", &s, &err) != FF_OK && !s);
    ff_sched_config c;
    ff_sched_config_default(&c, FF_SCHED_UNIPC);
    c.flow_shift = 0;
    FF_CHECK(ff_sched_create(&c, &s, &err) == FF_ERR_UNSUPPORTED && strstr(err.msg, "flow_shift"));
}

int main(void) {
    FF_RUN(test_config_wan21);
    FF_RUN(test_config_rejections);
    FF_RUN(test_unipc_schedule);
    FF_RUN(test_flowmatch_schedule);
    FF_RUN(test_straight_flow_exact);
    FF_RUN(test_orders);
    FF_RUN(test_last_step_is_x0);
    FF_RUN(test_alias_and_reset);
    FF_RUN(test_step_errors);
    FF_RUN(test_thresholding);
    FF_RUN(test_load_folder);
    return ff_test_summary();
}
