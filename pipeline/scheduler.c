/* scheduler: configuration (diffusers scheduler_config.json), lifetime,
 * accessors and the class registry of ff_sched; the algorithms live in
 * scheduler_unipc.c and scheduler_flowmatch.c. See scheduler.h and
 * scheduler_impl.h. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/scheduler_impl.h"

/* ---- names ----------------------------------------------------------------- */

static const ff_sched_class *const *registry(void); /* the classes, NULL-terminated (end of file) */

const ff_sched_class *ff_sched_class_of(ff_sched_kind kind) {
    const ff_sched_class *const *classes = registry();
    for (int i = 0; classes[i]; i++)
        if (classes[i]->kind == kind) return classes[i];
    return NULL;
}

const ff_sched_class *ff_sched_class_named(const char *class_name) {
    const ff_sched_class *const *classes = registry();
    for (int i = 0; class_name && classes[i]; i++)
        if (!strcmp(classes[i]->class_name, class_name)) return classes[i];
    return NULL;
}

const char *ff_sched_kind_name(ff_sched_kind kind) {
    const ff_sched_class *k = ff_sched_class_of(kind);
    return k ? k->class_name : "?";
}

int ff_sched_kind_from_name(const char *class_name, ff_sched_kind *out) {
    const ff_sched_class *k = ff_sched_class_named(class_name);
    if (!k) return -1;
    *out = k->kind;
    return 0;
}

/* ---- config ------------------------------------------------------------------ */

void ff_sched_config_default(ff_sched_config *c, ff_sched_kind kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->num_train_timesteps = 1000;
    c->solver_order = 2;
    c->lower_order_final = 1;
    c->solver_type = FF_SCHED_BH2;
    c->flow_shift = 1.0;
    c->final_sigma_zero = 1;
    c->dynamic_thresholding_ratio = 0.995;
    c->sample_max_value = 1.0;
    c->shift = 1.0;
    const ff_sched_class *k = ff_sched_class_of(kind);
    if (k && k->defaults) k->defaults(c);
}

/* Member readers: absent leaves *out alone; null is accepted only where the
 * diffusers signature says Optional (nullable=1, *present set to 0). */
static ff_status rd_num(const ff_json *o, const char *key, int nullable, double *out, int *present, const char *what,
                        ff_err *err) {
    const ff_json *v = ff_json_get(o, key);
    if (present) *present = 0;
    if (!v) return FF_OK;
    if (v->type == FF_JSON_NULL) {
        if (nullable) return FF_OK;
        return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be a number, not null", what, key);
    }
    if (ff_json_double(v, out)) return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be a number", what, key);
    if (present) *present = 1;
    return FF_OK;
}

static ff_status rd_int(const ff_json *o, const char *key, int64_t *out, const char *what, ff_err *err) {
    const ff_json *v = ff_json_get(o, key);
    if (!v) return FF_OK;
    if (ff_json_int64(v, out)) return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be an integer", what, key);
    return FF_OK;
}

static ff_status rd_bool(const ff_json *o, const char *key, int *out, const char *what, ff_err *err) {
    const ff_json *v = ff_json_get(o, key);
    if (!v) return FF_OK;
    if (v->type != FF_JSON_BOOL) return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be true or false", what, key);
    *out = v->boolean;
    return FF_OK;
}

/* A string member; *out stays NULL when absent. */
static ff_status rd_str(const ff_json *o, const char *key, const char **out, const char *what, ff_err *err) {
    const ff_json *v = ff_json_get(o, key);
    *out = NULL;
    if (!v) return FF_OK;
    if (v->type != FF_JSON_STRING) return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be a string", what, key);
    *out = v->str;
    return FF_OK;
}

/* A boolean that must stay false: diffusers features Wan does not use. */
static ff_status rd_must_be_false(const ff_json *o, const char *key, const char *why, const char *what, ff_err *err) {
    int b = 0;
    ff_status st = rd_bool(o, key, &b, what, err);
    if (st) return st;
    if (b) return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: %s=true is not supported (%s)", what, key, why);
    return FF_OK;
}

static ff_status rd_shift_terminal(ff_sched_config *c, const ff_json *o, const char *what, ff_err *err) {
    int present;
    double v = 0;
    ff_status st = rd_num(o, "shift_terminal", 1, &v, &present, what, err);
    if (st) return st;
    if (!ff_json_get(o, "shift_terminal")) return FF_OK;
    /* diffusers tests `if self.config.shift_terminal:`: null and 0.0 mean off */
    c->has_shift_terminal = present && v != 0.0;
    c->shift_terminal = c->has_shift_terminal ? v : 0.0;
    if (c->has_shift_terminal && !(v < 1.0))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: shift_terminal=%g must be below 1", what, v);
    return FF_OK;
}

static ff_status rd_time_shift_type(const ff_json *o, const char *what, ff_err *err) {
    const char *s;
    ff_status st = rd_str(o, "time_shift_type", &s, what, err);
    if (st) return st;
    if (s && strcmp(s, "exponential") != 0 && strcmp(s, "linear") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: time_shift_type \"%s\" (expected exponential or linear)", what,
                          s);
    return FF_OK;
}

/* Keys both schedulers check the same way. */
static ff_status apply_common(ff_sched_config *c, const ff_json *o, const char *what, ff_err *err) {
    ff_status st;
    if ((st = rd_int(o, "num_train_timesteps", &c->num_train_timesteps, what, err))) return st;
    if ((st = rd_shift_terminal(c, o, what, err))) return st;
    if ((st = rd_time_shift_type(o, what, err))) return st;
    if ((st = rd_must_be_false(o, "use_dynamic_shifting", "needs a resolution-dependent mu; use a static shift", what,
                               err)))
        return st;
    if ((st = rd_must_be_false(o, "use_karras_sigmas", "only the flow sigma schedule is implemented", what, err)))
        return st;
    if ((st = rd_must_be_false(o, "use_exponential_sigmas", "only the flow sigma schedule is implemented", what, err)))
        return st;
    if ((st = rd_must_be_false(o, "use_beta_sigmas", "only the flow sigma schedule is implemented", what, err)))
        return st;
    return FF_OK;
}

static ff_status apply_unipc(ff_sched_config *c, const ff_json *o, const char *what, ff_err *err) {
    ff_status st;
    const char *s;
    double d;
    int b, present;
    int64_t i64;

    /* The VP beta schedule: diffusers builds it in __init__ even with flow
     * sigmas (where it is unused), so its fields are checked, not used. */
    if ((st = rd_num(o, "beta_start", 0, &d, NULL, what, err))) return st;
    if ((st = rd_num(o, "beta_end", 0, &d, NULL, what, err))) return st;
    if ((st = rd_str(o, "beta_schedule", &s, what, err))) return st;
    if (s && strcmp(s, "linear") != 0 && strcmp(s, "scaled_linear") != 0 && strcmp(s, "squaredcos_cap_v2") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: beta_schedule \"%s\" is not implemented in diffusers either",
                          what, s);
    const ff_json *tb = ff_json_get(o, "trained_betas");
    if (tb && tb->type != FF_JSON_NULL && tb->type != FF_JSON_ARRAY)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: trained_betas must be null or an array", what);
    if ((st = rd_must_be_false(o, "rescale_betas_zero_snr", "a VP-schedule option; flow sigmas are used", what, err)))
        return st;
    if ((st = rd_num(o, "sigma_min", 1, &d, NULL, what, err))) return st; /* karras only */
    if ((st = rd_num(o, "sigma_max", 1, &d, NULL, what, err))) return st;

    i64 = c->solver_order;
    if ((st = rd_int(o, "solver_order", &i64, what, err))) return st;
    if (i64 < 1 || i64 > FF_SCHED_MAX_ORDER)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: solver_order=%lld (supported: 1..%d)", what, (long long)i64,
                          FF_SCHED_MAX_ORDER);
    c->solver_order = (int)i64;

    if ((st = rd_str(o, "prediction_type", &s, what, err))) return st;
    if (s && strcmp(s, "flow_prediction") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: prediction_type \"%s\" (only flow_prediction is supported)",
                          what, s);
    if ((st = rd_bool(o, "thresholding", &c->thresholding, what, err))) return st;
    if ((st = rd_num(o, "dynamic_thresholding_ratio", 0, &c->dynamic_thresholding_ratio, NULL, what, err))) return st;
    if ((st = rd_num(o, "sample_max_value", 0, &c->sample_max_value, NULL, what, err))) return st;
    b = 1;
    if ((st = rd_bool(o, "predict_x0", &b, what, err))) return st;
    if (!b)
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: predict_x0=false (diffusers has no noise-prediction form of flow_prediction)", what);
    if ((st = rd_str(o, "solver_type", &s, what, err))) return st;
    if (s) {
        if (strcmp(s, "bh1") == 0) c->solver_type = FF_SCHED_BH1;
        /* diffusers maps the DPM-Solver names to bh2 */
        else if (!strcmp(s, "bh2") || !strcmp(s, "midpoint") || !strcmp(s, "heun") || !strcmp(s, "logrho"))
            c->solver_type = FF_SCHED_BH2;
        else
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: solver_type \"%s\" (expected bh1 or bh2)", what, s);
    }
    if ((st = rd_bool(o, "lower_order_final", &c->lower_order_final, what, err))) return st;
    const ff_json *dc = ff_json_get(o, "disable_corrector");
    if (dc) {
        if (dc->type != FF_JSON_ARRAY)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: disable_corrector must be an array of step indices", what);
        size_t n = ff_json_count(dc);
        if (n > FF_SCHED_MAX_DISABLE)
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: disable_corrector has %zu entries (at most %d)", what, n,
                              FF_SCHED_MAX_DISABLE);
        for (size_t k = 0; k < n; k++)
            if (ff_json_int64(ff_json_at(dc, k), &c->disable_corrector[k]))
                return ff_err_set(err, FF_ERR_FORMAT, "%s: disable_corrector[%zu] is not an integer", what, k);
        c->n_disable_corrector = (int)n;
    }
    const ff_json *sp = ff_json_get(o, "solver_p");
    if (sp && sp->type != FF_JSON_NULL)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: solver_p (an external predictor scheduler) is not supported",
                          what);
    b = 1;
    if ((st = rd_bool(o, "use_flow_sigmas", &b, what, err))) return st;
    if (!b)
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: use_flow_sigmas=false (only the flow-matching schedule of Wan is supported)", what);
    if ((st = rd_num(o, "flow_shift", 0, &c->flow_shift, &present, what, err))) return st;
    /* With flow sigmas the timesteps come from the sigmas: timestep_spacing
     * and steps_offset are validated as diffusers does but have no effect. */
    if ((st = rd_str(o, "timestep_spacing", &s, what, err))) return st;
    if (s && strcmp(s, "linspace") != 0 && strcmp(s, "leading") != 0 && strcmp(s, "trailing") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: timestep_spacing \"%s\" (linspace, leading or trailing)", what,
                          s);
    i64 = 0;
    if ((st = rd_int(o, "steps_offset", &i64, what, err))) return st;
    if ((st = rd_str(o, "final_sigmas_type", &s, what, err))) return st;
    if (s) {
        if (strcmp(s, "zero") == 0) c->final_sigma_zero = 1;
        else if (strcmp(s, "sigma_min") == 0) c->final_sigma_zero = 0;
        else
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: final_sigmas_type \"%s\" (zero or sigma_min)", what, s);
    }
    return apply_common(c, o, what, err);
}

static ff_status apply_flowmatch(ff_sched_config *c, const ff_json *o, const char *what, ff_err *err) {
    ff_status st;
    double d;
    if ((st = rd_num(o, "shift", 0, &c->shift, NULL, what, err))) return st;
    /* only read with use_dynamic_shifting (rejected in apply_common) */
    if ((st = rd_num(o, "base_shift", 1, &d, NULL, what, err))) return st;
    if ((st = rd_num(o, "max_shift", 1, &d, NULL, what, err))) return st;
    if ((st = rd_num(o, "base_image_seq_len", 1, &d, NULL, what, err))) return st;
    if ((st = rd_num(o, "max_image_seq_len", 1, &d, NULL, what, err))) return st;
    if ((st = rd_bool(o, "invert_sigmas", &c->invert_sigmas, what, err))) return st;
    if ((st = rd_must_be_false(o, "stochastic_sampling", "it draws noise inside step()", what, err))) return st;
    return apply_common(c, o, what, err);
}

ff_status ff_sched_config_apply_json(ff_sched_config *c, const ff_json *obj, const char *what, ff_err *err) {
    if (!what) what = "scheduler config";
    if (!obj || obj->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", what);
    const ff_sched_class *k = ff_sched_class_of(c->kind);
    if (!k) return ff_err_set(err, FF_ERR_ARG, "%s: unknown scheduler kind %d", what, (int)c->kind);
    ff_status st = k->apply_json(c, obj, what, err);
    if (st) return st;
    if (c->num_train_timesteps < 1)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: num_train_timesteps=%lld must be positive", what,
                          (long long)c->num_train_timesteps);
    return FF_OK;
}

ff_status ff_sched_config_from_json(const ff_json *obj, const char *what, ff_sched_config *c, ff_err *err) {
    if (!what) what = "scheduler config";
    const char *cls = ff_json_get_string(obj, "_class_name");
    ff_sched_kind kind;
    if (!cls) return ff_err_set(err, FF_ERR_FORMAT, "%s: no _class_name", what);
    if (ff_sched_kind_from_name(cls, &kind)) {
        const ff_sched_class *const *classes = registry();
        char list[512];
        size_t k = 0;
        list[0] = 0;
        for (int i = 0; classes[i] && k < sizeof list; i++)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", classes[i]->class_name);
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: _class_name \"%s\" (supported: %s)", what, cls, list);
    }
    ff_sched_config_default(c, kind);
    return ff_sched_config_apply_json(c, obj, what, err);
}

ff_status ff_sched_config_load(const char *path, ff_sched_config *c, ff_err *err) {
    char file[PATH_MAX];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if ((size_t)snprintf(file, sizeof file, "%s/scheduler_config.json", path) >= sizeof file)
            return ff_err_set(err, FF_ERR_ARG, "scheduler path too long: %s", path);
    } else {
        if ((size_t)snprintf(file, sizeof file, "%s", path) >= sizeof file)
            return ff_err_set(err, FF_ERR_ARG, "scheduler path too long: %s", path);
    }
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(file, &doc, err);
    if (st) return st;
    st = ff_sched_config_from_json(ff_json_root(doc), file, c, err);
    ff_json_free(doc);
    return st;
}

/* ---- lifetime ------------------------------------------------------------------ */

static void free_history(ff_sched *s) {
    for (int i = 0; i < FF_SCHED_MAX_ORDER; i++) {
        free(s->hist[i]);
        s->hist[i] = NULL;
    }
    free(s->last_sample);
    free(s->scratch);
    free(s->conv);
    s->last_sample = s->scratch = s->conv = NULL;
    s->numel = 0;
}

static ff_status unipc_check(const ff_sched_config *c, ff_err *err) {
    if (c->solver_order < 1 || c->solver_order > FF_SCHED_MAX_ORDER)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "solver_order=%d (supported: 1..%d)", c->solver_order, FF_SCHED_MAX_ORDER);
    if (c->solver_type != FF_SCHED_BH1 && c->solver_type != FF_SCHED_BH2)
        return ff_err_set(err, FF_ERR_ARG, "unknown solver_type %d", (int)c->solver_type);
    if (c->n_disable_corrector < 0 || c->n_disable_corrector > FF_SCHED_MAX_DISABLE)
        return ff_err_set(err, FF_ERR_ARG, "disable_corrector count %d", c->n_disable_corrector);
    if (!(c->flow_shift > 0.0)) return ff_err_set(err, FF_ERR_UNSUPPORTED, "flow_shift=%g must be positive", c->flow_shift);
    return FF_OK;
}

static ff_status flowmatch_check(const ff_sched_config *c, ff_err *err) {
    if (!(c->shift > 0.0)) return ff_err_set(err, FF_ERR_UNSUPPORTED, "shift=%g must be positive", c->shift);
    return FF_OK;
}

ff_status ff_sched_create(const ff_sched_config *c, ff_sched **out, ff_err *err) {
    *out = NULL;
    const ff_sched_class *k = ff_sched_class_of(c->kind);
    if (!k) return ff_err_set(err, FF_ERR_ARG, "unknown scheduler kind %d", (int)c->kind);
    if (c->num_train_timesteps < 1) return ff_err_set(err, FF_ERR_ARG, "num_train_timesteps must be positive");
    ff_status st = k->check(c, err);
    if (st) return st;
    if (c->has_shift_terminal && !(c->shift_terminal < 1.0))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "shift_terminal=%g must be below 1", c->shift_terminal);
    ff_sched *s = calloc(1, sizeof *s);
    if (!s) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate a scheduler");
    s->cls = k;
    s->cfg = *c;
    *out = s;
    return FF_OK;
}

ff_status ff_sched_load(const char *path, ff_sched **out, ff_err *err) {
    ff_sched_config c;
    *out = NULL;
    ff_status st = ff_sched_config_load(path, &c, err);
    return st ? st : ff_sched_create(&c, out, err);
}

void ff_sched_free(ff_sched *s) {
    if (!s) return;
    if (s->cls->destroy) s->cls->destroy(s);
    free_history(s);
    free(s->timesteps);
    free(s->sigmas);
    free(s);
}

const ff_sched_config *ff_sched_get_config(const ff_sched *s) { return &s->cfg; }

void ff_sched_set_generator(ff_sched *s, ff_rng *rng) { s->rng = rng; }

void ff_sched_reset(ff_sched *s) {
    s->step_index = s->begin_index;
    s->n_hist = 0;
    s->has_last_sample = 0;
    s->lower_order_nums = 0;
    s->last_order = 0;
}

/* ---- schedule -------------------------------------------------------------------- */

void ff_sched_np_linspace(double start, double stop, int64_t num, double *out) {
    /* numpy: y = arange(num) * step + start with step = (stop - start) / (num - 1),
     * then y[-1] = stop; a single point is just start. */
    if (num == 1) {
        out[0] = start;
        return;
    }
    double step = (stop - start) / (double)(num - 1);
    if (step == 0) {
        for (int64_t i = 0; i < num; i++) out[i] = (double)i / (double)(num - 1) * (stop - start) + start;
    } else {
        for (int64_t i = 0; i < num; i++) out[i] = (double)i * step + start;
    }
    out[num - 1] = stop;
}

void ff_sched_stretch_to_terminal(double *sig, int64_t n, double shift_terminal) {
    /* one_minus_z = 1 - t; scale = one_minus_z[-1] / (1 - shift_terminal);
     * t = 1 - one_minus_z / scale */
    double scale = (1.0 - sig[n - 1]) / (1.0 - shift_terminal);
    for (int64_t i = 0; i < n; i++) sig[i] = 1.0 - (1.0 - sig[i]) / scale;
}

ff_status ff_sched_set_timesteps(ff_sched *s, int64_t n, ff_err *err) {
    if (n < 1) return ff_err_set(err, FF_ERR_ARG, "set_timesteps: num_inference_steps=%lld must be >= 1", (long long)n);
    if ((uint64_t)n > (uint64_t)(SIZE_MAX / sizeof(double)) - 1)
        return ff_err_set(err, FF_ERR_ARG, "set_timesteps: %lld steps", (long long)n);
    double *ts = malloc((size_t)n * sizeof *ts);
    float *sg = malloc((size_t)(n + 1) * sizeof *sg);
    if (!ts || !sg) {
        free(ts);
        free(sg);
        return ff_err_set(err, FF_ERR_NOMEM, "set_timesteps: cannot allocate %lld steps", (long long)n);
    }
    free(s->timesteps);
    free(s->sigmas);
    s->timesteps = ts;
    s->sigmas = sg;
    s->n = n;
    ff_status st = s->cls->set_timesteps(s, n, err);
    if (st) {
        s->n = 0;
        return st;
    }
    s->begin_index = 0;
    ff_sched_reset(s);
    return FF_OK;
}

ff_status ff_sched_set_begin_index(ff_sched *s, int64_t begin, ff_err *err) {
    if (begin < 0 || begin >= (s->n ? s->n : 1))
        return ff_err_set(err, FF_ERR_ARG, "set_begin_index(%lld) with %lld steps", (long long)begin, (long long)s->n);
    s->begin_index = begin;
    ff_sched_reset(s);
    return FF_OK;
}

int64_t ff_sched_num_steps(const ff_sched *s) { return s->n; }

ff_dtype ff_sched_timestep_dtype(const ff_sched *s) { return s->cls->timestep_dtype; }

const double *ff_sched_timesteps(const ff_sched *s) { return s->timesteps; }

const float *ff_sched_sigmas(const ff_sched *s) { return s->sigmas; }

int64_t ff_sched_step_index(const ff_sched *s) { return s->step_index; }

int ff_sched_last_order(const ff_sched *s) { return s->last_order; }

ff_status ff_sched_timesteps_tensor(const ff_sched *s, ff_tensor *out, ff_err *err) {
    if (!s->n) return ff_err_set(err, FF_ERR_ARG, "timesteps requested before set_timesteps");
    ff_dtype dt = ff_sched_timestep_dtype(s);
    ff_status st = ff_tensor_allocv(out, dt, err, 1, s->n);
    if (st) return st;
    for (int64_t i = 0; i < s->n; i++) {
        if (dt == FF_I64) ((int64_t *)out->data)[i] = (int64_t)s->timesteps[i];
        else ((float *)out->data)[i] = (float)s->timesteps[i];
    }
    return FF_OK;
}

ff_status ff_sched_sigmas_tensor(const ff_sched *s, ff_tensor *out, ff_err *err) {
    if (!s->n) return ff_err_set(err, FF_ERR_ARG, "sigmas requested before set_timesteps");
    ff_status st = ff_tensor_allocv(out, FF_F32, err, 1, s->n + 1);
    if (st) return st;
    memcpy(out->data, s->sigmas, (size_t)(s->n + 1) * sizeof(float));
    return FF_OK;
}

/* ---- step --------------------------------------------------------------------------- */

static ff_status check_host_f32(const ff_tensor *t, const char *name, int64_t numel, ff_err *err) {
    char d[96];
    if (!t || !t->data) return ff_err_set(err, FF_ERR_ARG, "scheduler step: %s is NULL", name);
    if (t->dtype != FF_F32 || t->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_ARG, "scheduler step: %s %s must be an F32 host tensor", name,
                          ff_tensor_describe(t, d, sizeof d));
    if (ff_tensor_numel(t) != numel)
        return ff_err_set(err, FF_ERR_SHAPE, "scheduler step: %s %s has %lld elements, expected %lld", name,
                          ff_tensor_describe(t, d, sizeof d), (long long)ff_tensor_numel(t), (long long)numel);
    return FF_OK;
}

ff_status ff_sched_history_ensure(ff_sched *s, int64_t numel, ff_err *err) {
    if (s->numel == numel) return FF_OK;
    if (s->n_hist || s->has_last_sample)
        return ff_err_set(err, FF_ERR_SHAPE,
                          "scheduler step: sample has %lld elements but the history holds %lld (reset first)",
                          (long long)numel, (long long)s->numel);
    free_history(s);
    if ((uint64_t)numel > SIZE_MAX / sizeof(float)) return ff_err_set(err, FF_ERR_SHAPE, "scheduler step: too large");
    size_t bytes = (size_t)(numel ? numel : 1) * sizeof(float);
    for (int i = 0; i < s->cfg.solver_order; i++)
        if (!(s->hist[i] = malloc(bytes))) goto oom;
    if (!(s->last_sample = malloc(bytes)) || !(s->scratch = malloc(bytes)) || !(s->conv = malloc(bytes))) goto oom;
    s->numel = numel;
    return FF_OK;
oom:
    free_history(s);
    return ff_err_set(err, FF_ERR_NOMEM, "scheduler step: cannot allocate the history (%zu bytes each)", bytes);
}

ff_status ff_sched_step(ff_sched *s, const ff_tensor *model_output, const ff_tensor *sample, ff_tensor *prev,
                        ff_err *err) {
    if (!s->n) return ff_err_set(err, FF_ERR_ARG, "scheduler step before set_timesteps");
    if (s->step_index >= s->n)
        return ff_err_set(err, FF_ERR_ARG, "scheduler step %lld: all %lld steps are done (set_timesteps or reset)",
                          (long long)s->step_index, (long long)s->n);
    if (!sample || !sample->data) return ff_err_set(err, FF_ERR_ARG, "scheduler step: sample is NULL");
    int64_t numel = ff_tensor_numel(sample);
    ff_status st;
    if ((st = check_host_f32(sample, "sample", numel, err))) return st;
    if ((st = check_host_f32(model_output, "model_output", numel, err))) return st;
    if ((st = check_host_f32(prev, "prev_sample", numel, err))) return st;
    return s->cls->step(s, model_output, sample, prev, err);
}

/* ---- the classes ------------------------------------------------------------------------- */

static ff_status unipc_step(ff_sched *s, const ff_tensor *model_output, const ff_tensor *sample, ff_tensor *prev,
                            ff_err *err) {
    if (s->cfg.thresholding && (sample->ndim < 1 || sample->shape[0] < 1))
        return ff_err_set(err, FF_ERR_SHAPE, "scheduler step: thresholding needs a (B, ...) sample");
    ff_status st = ff_sched_history_ensure(s, ff_tensor_numel(sample), err);
    if (st) return st;
    s->batch = sample->ndim >= 1 ? sample->shape[0] : 1;
    return ff_sched_unipc_step(s, model_output->data, sample->data, prev->data, err);
}

static ff_status flowmatch_step(ff_sched *s, const ff_tensor *model_output, const ff_tensor *sample, ff_tensor *prev,
                                ff_err *err) {
    return ff_sched_flowmatch_step(s, model_output->data, sample->data, prev->data, ff_tensor_numel(sample), err);
}

static const ff_sched_class unipc_class = {"UniPCMultistepScheduler", FF_SCHED_UNIPC, FF_I64, apply_unipc,
                                           unipc_check, ff_sched_unipc_set_timesteps, unipc_step, NULL, NULL};
static const ff_sched_class flowmatch_class = {"FlowMatchEulerDiscreteScheduler", FF_SCHED_FLOWMATCH, FF_F32,
                                               apply_flowmatch, flowmatch_check, ff_sched_flowmatch_set_timesteps,
                                               flowmatch_step, NULL, NULL};

/* The registry: one line per scheduler class. */
static const ff_sched_class *const classes[] = {
    &unipc_class,
    &flowmatch_class,
    &ff_sched_cogvideox_ddim_class,
    &ff_sched_cogvideox_dpm_class,
    NULL,
};

static const ff_sched_class *const *registry(void) { return classes; }
