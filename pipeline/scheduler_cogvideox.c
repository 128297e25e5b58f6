/* scheduler_cogvideox: CogVideoXDDIMScheduler / CogVideoXDPMScheduler
 * (scheduling_ddim_cogvideox.py, scheduling_dpm_cogvideox.py): config,
 * alphas_cumprod, set_timesteps, the DDIM step and checkpoints. The DPM
 * step is in scheduler_cogvideox_dpm.c. See scheduler_cogvideox.h. */
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/scheduler_cogvideox_impl.h"

/* ---- config -------------------------------------------------------------- */

const char *ff_cogsched_kind_name(ff_cogsched_kind kind) {
    return kind == FF_COGSCHED_DPM ? "CogVideoXDPMScheduler" : "CogVideoXDDIMScheduler";
}

int ff_cogsched_kind_from_name(const char *name, ff_cogsched_kind *out) {
    if (!name) return -1;
    if (!strcmp(name, "CogVideoXDDIMScheduler")) *out = FF_COGSCHED_DDIM;
    else if (!strcmp(name, "CogVideoXDPMScheduler")) *out = FF_COGSCHED_DPM;
    else return -1;
    return 0;
}

void ff_cogsched_config_default(ff_cogsched_config *c, ff_cogsched_kind kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->num_train_timesteps = 1000;
    if (kind == FF_COGSCHED_DPM) {
        c->beta_start = 0.0001, c->beta_end = 0.02, c->beta_schedule = FF_COGSCHED_BETAS_LINEAR;
    } else {
        c->beta_start = 0.00085, c->beta_end = 0.0120, c->beta_schedule = FF_COGSCHED_BETAS_SCALED_LINEAR;
    }
    c->set_alpha_to_one = 1;
    c->steps_offset = 0;
    c->prediction_type = FF_COGSCHED_EPSILON;
    c->timestep_spacing = FF_COGSCHED_LEADING;
    c->rescale_betas_zero_snr = 0;
    c->snr_shift_scale = 3.0;
}

static ff_status get_enum(const ff_json *obj, const char *key, const char *what, const char *const *names, int n,
                          int *out, ff_err *err) {
    const ff_json *v = ff_json_get(obj, key);
    if (ff_json_is_null(v)) return FF_OK;
    if (v->type != FF_JSON_STRING) return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" is not a string", what, key);
    for (int i = 0; i < n; i++)
        if (!strcmp(v->str, names[i])) {
            *out = i;
            return FF_OK;
        }
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: %s \"%s\" not supported", what, key, v->str);
}

ff_status ff_cogsched_config_apply_json(ff_cogsched_config *c, const ff_json *obj, const char *what, ff_err *err) {
    if (!obj || obj->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", what);
    int64_t i64;
    double d;
    int b;
#define NUM(key, field, lo, hi)                                                                                \
    do {                                                                                                       \
        if (ff_json_get_double(obj, key, c->field, &d) || !(d >= (lo) && d <= (hi)))                           \
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" must be a number in [%g, %g]", what, key, (double)(lo), \
                              (double)(hi));                                                                   \
        c->field = d;                                                                                          \
    } while (0)
#define BOOL(key, field)                                                                                       \
    do {                                                                                                       \
        if (ff_json_get_bool(obj, key, c->field, &b))                                                          \
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" is not a boolean", what, key);                   \
        c->field = b;                                                                                          \
    } while (0)
    if (ff_json_get_int64(obj, "num_train_timesteps", c->num_train_timesteps, &i64) || i64 < 2 ||
        i64 > FF_COGSCHED_MAX_TRAIN)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"num_train_timesteps\" must be an integer in [2, %d]", what,
                          FF_COGSCHED_MAX_TRAIN);
    c->num_train_timesteps = i64;
    if (ff_json_get_int64(obj, "steps_offset", c->steps_offset, &i64) || i64 < 0 || i64 > FF_COGSCHED_MAX_TRAIN)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"steps_offset\" must be an integer in [0, %d]", what,
                          FF_COGSCHED_MAX_TRAIN);
    c->steps_offset = i64;
    NUM("beta_start", beta_start, 0.0, 1.0);
    NUM("beta_end", beta_end, 0.0, 1.0);
    NUM("snr_shift_scale", snr_shift_scale, 1e-6, 1e6);
    BOOL("set_alpha_to_one", set_alpha_to_one);
    BOOL("rescale_betas_zero_snr", rescale_betas_zero_snr);
#undef NUM
#undef BOOL
    /* clip_sample, clip_sample_range, sample_max_value: the CogVideoX step
     * does not read them (only their types are checked). */
    if (ff_json_get_bool(obj, "clip_sample", 0, &b))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"clip_sample\" is not a boolean", what);
    if (!ff_json_is_null(ff_json_get(obj, "trained_betas")))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: trained_betas not supported", what);
    static const char *const betas[] = {"linear", "scaled_linear", "squaredcos_cap_v2"};
    static const char *const preds[] = {"epsilon", "sample", "v_prediction"};
    static const char *const spacing[] = {"leading", "linspace", "trailing"};
    int e;
    ff_status st;
    e = (int)c->beta_schedule;
    if ((st = get_enum(obj, "beta_schedule", what, betas, 3, &e, err))) return st;
    c->beta_schedule = (ff_cogsched_betas)e;
    e = (int)c->prediction_type;
    if ((st = get_enum(obj, "prediction_type", what, preds, 3, &e, err))) return st;
    c->prediction_type = (ff_cogsched_prediction)e;
    e = (int)c->timestep_spacing;
    if ((st = get_enum(obj, "timestep_spacing", what, spacing, 3, &e, err))) return st;
    c->timestep_spacing = (ff_cogsched_spacing)e;
    return FF_OK;
}

ff_status ff_cogsched_config_from_json(const ff_json *obj, const char *what, ff_cogsched_config *c, ff_err *err) {
    ff_cogsched_kind kind;
    const char *cls = ff_json_get_string(obj, "_class_name");
    if (ff_cogsched_kind_from_name(cls, &kind))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: _class_name \"%s\" is not a CogVideoX scheduler", what,
                          cls ? cls : "(missing)");
    ff_cogsched_config_default(c, kind);
    return ff_cogsched_config_apply_json(c, obj, what, err);
}

static ff_status read_file(const char *path, ff_json_doc **doc, char *used, size_t n, ff_err *err) {
    snprintf(used, n, "%s", path);
    ff_status st = ff_json_parse_file(path, doc, err);
    if (st == FF_ERR_IO || st == FF_ERR_NOT_FOUND) {
        if ((size_t)snprintf(used, n, "%s/scheduler_config.json", path) >= n)
            return ff_err_set(err, FF_ERR_ARG, "%s: path too long", path);
        st = ff_json_parse_file(used, doc, err);
    }
    return st;
}

ff_status ff_cogsched_config_load(const char *path, ff_cogsched_config *c, ff_err *err) {
    ff_json_doc *doc = NULL;
    char used[PATH_MAX];
    ff_status st = read_file(path, &doc, used, sizeof used, err);
    if (!st) st = ff_cogsched_config_from_json(ff_json_root(doc), used, c, err);
    ff_json_free(doc);
    return st;
}

ff_status ff_cogsched_config_load_as(const char *path, ff_cogsched_kind kind, ff_cogsched_config *c, ff_err *err) {
    ff_json_doc *doc = NULL;
    char used[PATH_MAX];
    ff_status st = read_file(path, &doc, used, sizeof used, err);
    if (!st) {
        ff_cogsched_kind file_kind;
        const char *cls = ff_json_get_string(ff_json_root(doc), "_class_name");
        if (cls && ff_cogsched_kind_from_name(cls, &file_kind))
            st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: _class_name \"%s\" is not a CogVideoX scheduler", used, cls);
    }
    if (!st) {
        ff_cogsched_config_default(c, kind);
        st = ff_cogsched_config_apply_json(c, ff_json_root(doc), used, err);
    }
    ff_json_free(doc);
    return st;
}

/* ---- schedule -------------------------------------------------------------- */

/* torch.linspace(start, end, n) element i (CPU scalar kernel: from the start
 * for the first half, from the end for the second). */
static double linspace_at(double start, double end, int64_t n, int64_t i) {
    if (n == 1) return start;
    double step = (end - start) / (double)(n - 1);
    return i < n / 2 ? start + step * (double)i : end - step * (double)(n - i - 1);
}
static float linspace_at_f32(float start, float end, int64_t n, int64_t i) {
    if (n == 1) return start;
    float step = (end - start) / (float)(n - 1);
    return i < n / 2 ? start + step * (float)i : end - step * (float)(n - i - 1);
}

/* betas_for_alpha_bar(T, max_beta=0.999, "cosine") in Python float64, then float32. */
static float squaredcos_beta(int64_t i, int64_t T) {
    double t1 = (double)i / (double)T, t2 = (double)(i + 1) / (double)T;
    double a1 = cos((t1 + 0.008) / 1.008 * M_PI / 2), a2 = cos((t2 + 0.008) / 1.008 * M_PI / 2);
    double b = 1 - (a2 * a2) / (a1 * a1);
    return (float)(b < 0.999 ? b : 0.999);
}

/* alphas_cumprod exactly as the diffusers constructor: float64 for
 * scaled_linear (its betas are float64), float32 otherwise (torch's cumprod
 * accumulates float32 in double and rounds each output). */
static ff_status build_alphas(ff_cogsched *s, ff_err *err) {
    const ff_cogsched_config *c = &s->cfg;
    const int64_t T = c->num_train_timesteps;
    double *a = malloc((size_t)T * sizeof *a);
    if (!a) return ff_err_set(err, FF_ERR_NOMEM, "scheduler: cannot allocate %lld alphas", (long long)T);
    if (c->beta_schedule == FF_COGSCHED_BETAS_SCALED_LINEAR) {
        const double b0 = sqrt(c->beta_start), b1 = sqrt(c->beta_end);
        double acc = 1.0;
        for (int64_t i = 0; i < T; i++) {
            double beta = linspace_at(b0, b1, T, i);
            beta = beta * beta;
            acc *= 1.0 - beta;
            a[i] = acc;
        }
        const double sh = c->snr_shift_scale;
        for (int64_t i = 0; i < T; i++) a[i] = a[i] / (sh + (1 - sh) * a[i]);
        if (c->rescale_betas_zero_snr) {
            const double q0 = sqrt(a[0]), qT = sqrt(a[T - 1]);
            const double f = q0 / (q0 - qT);
            for (int64_t i = 0; i < T; i++) {
                double q = (sqrt(a[i]) - qT) * f;
                a[i] = q * q;
            }
        }
    } else {
        double acc = 1.0;
        for (int64_t i = 0; i < T; i++) {
            float beta = c->beta_schedule == FF_COGSCHED_BETAS_LINEAR
                             ? linspace_at_f32((float)c->beta_start, (float)c->beta_end, T, i)
                             : squaredcos_beta(i, T);
            acc *= (double)(1.0f - beta);
            a[i] = (double)(float)acc;
        }
        const float sh = (float)c->snr_shift_scale, one_minus = (float)(1 - c->snr_shift_scale);
        for (int64_t i = 0; i < T; i++) {
            float v = (float)a[i];
            a[i] = (double)(v / (sh + one_minus * v));
        }
        if (c->rescale_betas_zero_snr) {
            const float q0 = sqrtf((float)a[0]), qT = sqrtf((float)a[T - 1]);
            const float f = q0 / (q0 - qT);
            for (int64_t i = 0; i < T; i++) {
                float q = (sqrtf((float)a[i]) - qT) * f;
                a[i] = (double)(q * q);
            }
        }
    }
    s->alphas_cumprod = a;
    s->final_alpha = c->set_alpha_to_one ? 1.0 : a[0];
    return FF_OK;
}

ff_status ff_cogsched_create(const ff_cogsched_config *c, ff_cogsched **out, ff_err *err) {
    *out = NULL;
    if (c->num_train_timesteps < 2 || c->num_train_timesteps > FF_COGSCHED_MAX_TRAIN)
        return ff_err_set(err, FF_ERR_ARG, "scheduler: num_train_timesteps %lld outside [2, %d]",
                          (long long)c->num_train_timesteps, FF_COGSCHED_MAX_TRAIN);
    if (!(c->snr_shift_scale > 0))
        return ff_err_set(err, FF_ERR_ARG, "scheduler: snr_shift_scale %g must be positive", c->snr_shift_scale);
    ff_cogsched *s = calloc(1, sizeof *s);
    if (!s) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the scheduler");
    s->cfg = *c;
    ff_status st = build_alphas(s, err);
    if (st) {
        free(s);
        return st;
    }
    *out = s;
    return FF_OK;
}

void ff_cogsched_free(ff_cogsched *s) {
    if (!s) return;
    free(s->alphas_cumprod);
    free(s->timesteps);
    free(s->old_x0);
    free(s->gens);
    free(s);
}

const ff_cogsched_config *ff_cogsched_get_config(const ff_cogsched *s) { return &s->cfg; }
const double *ff_cogsched_alphas_cumprod(const ff_cogsched *s) { return s->alphas_cumprod; }
double ff_cogsched_final_alpha_cumprod(const ff_cogsched *s) { return s->final_alpha; }
double ff_cogsched_init_noise_sigma(const ff_cogsched *s) {
    (void)s;
    return 1.0;
}

double cogsched_alpha(const ff_cogsched *s, int64_t t) {
    assert(t < s->cfg.num_train_timesteps);
    if (t < 0) return s->final_alpha;
    return s->alphas_cumprod[t];
}

/* ---- timesteps -------------------------------------------------------------- */

ff_status ff_cogsched_set_timesteps(ff_cogsched *s, int64_t n, ff_err *err) {
    const int64_t T = s->cfg.num_train_timesteps;
    if (n < 1 || n > T)
        return ff_err_set(err, FF_ERR_ARG, "scheduler: num_inference_steps %lld outside [1, num_train_timesteps = %lld]",
                          (long long)n, (long long)T);
    int64_t *ts = malloc((size_t)n * sizeof *ts);
    if (!ts) return ff_err_set(err, FF_ERR_NOMEM, "scheduler: cannot allocate %lld timesteps", (long long)n);
    switch (s->cfg.timestep_spacing) {
    case FF_COGSCHED_LINSPACE: { /* np.linspace(0, T-1, n).round()[::-1] */
        double step = n > 1 ? (double)(T - 1) / (double)(n - 1) : 0;
        for (int64_t i = 0; i < n; i++) {
            double v = (n > 1 && i == n - 1) ? (double)(T - 1) : (double)i * step;
            ts[n - 1 - i] = (int64_t)nearbyint(v);
        }
        break;
    }
    case FF_COGSCHED_LEADING: { /* (arange(0, n) * (T // n)).round()[::-1] + steps_offset */
        int64_t ratio = T / n;
        for (int64_t i = 0; i < n; i++) ts[n - 1 - i] = i * ratio + s->cfg.steps_offset;
        break;
    }
    case FF_COGSCHED_TRAILING: { /* np.round(np.arange(T, 0, -T / n)) - 1 */
        const double ratio = (double)T / (double)n, delta = -ratio;
        /* numpy: length = ceil((stop - start) / delta); buffer[0] = start,
         * buffer[1] = start + delta, buffer[i] = start + i * (buffer[1] - start) */
        int64_t len = (int64_t)ceil((0.0 - (double)T) / delta);
        if (len != n) {
            free(ts);
            return ff_err_set(err, FF_ERR_INTERNAL, "scheduler: trailing arange has %lld entries for %lld steps",
                              (long long)len, (long long)n);
        }
        const double start = (double)T, d1 = (start + delta) - start;
        for (int64_t i = 0; i < n; i++) {
            double v = i == 0 ? start : (i == 1 ? start + delta : start + (double)i * d1);
            ts[i] = (int64_t)nearbyint(v) - 1;
        }
        break;
    }
    }
    for (int64_t i = 0; i < n; i++)
        if (ts[i] < 0 || ts[i] >= T) {
            int64_t bad = ts[i];
            free(ts);
            return ff_err_set(err, FF_ERR_ARG, "scheduler: timestep %lld outside [0, %lld) (steps_offset %lld)",
                              (long long)bad, (long long)T, (long long)s->cfg.steps_offset);
        }
    free(s->timesteps);
    s->timesteps = ts;
    s->n = n;
    s->index = 0;
    free(s->old_x0);
    s->old_x0 = NULL;
    s->old_numel = 0;
    return FF_OK;
}

int64_t ff_cogsched_num_steps(const ff_cogsched *s) { return s->n; }
const int64_t *ff_cogsched_timesteps(const ff_cogsched *s) { return s->timesteps; }
int64_t ff_cogsched_step_index(const ff_cogsched *s) { return s->index; }

int64_t ff_cogsched_prev_timestep(const ff_cogsched *s, int64_t i) {
    return s->timesteps[i] - s->cfg.num_train_timesteps / s->n;
}

ff_status ff_cogsched_timesteps_tensor(const ff_cogsched *s, ff_tensor *out, ff_err *err) {
    if (!s->n) return ff_err_set(err, FF_ERR_ARG, "scheduler: set_timesteps was not called");
    ff_status st = ff_tensor_allocv(out, FF_I64, err, 1, s->n);
    if (!st) memcpy(out->data, s->timesteps, (size_t)s->n * sizeof(int64_t));
    return st;
}

ff_status ff_cogsched_set_generators(ff_cogsched *s, const ff_rng *gens, size_t n, ff_err *err) {
    if (n < 1 || n > FF_COGSCHED_MAX_GEN)
        return ff_err_set(err, FF_ERR_ARG, "scheduler: %zu generators (1..%d)", n, FF_COGSCHED_MAX_GEN);
    ff_rng *g = malloc(n * sizeof *g);
    if (!g) return ff_err_set(err, FF_ERR_NOMEM, "scheduler: cannot allocate %zu generators", n);
    memcpy(g, gens, n * sizeof *g);
    free(s->gens);
    s->gens = g;
    s->n_gens = n;
    return FF_OK;
}

const ff_rng *ff_cogsched_generators(const ff_cogsched *s, size_t *n) {
    *n = s->n_gens;
    return s->gens;
}

double ff_cogsched_dynamic_cfg(double g, int64_t n_steps, int64_t t) {
    double base = (double)(n_steps - t) / (double)n_steps;
    return 1 + g * (1 - cos(M_PI * pow(base, 5.0))) / 2;
}

/* ---- step ------------------------------------------------------------------- */

void cogsched_pred_x0(const ff_cogsched *s, double alpha_t, const float *mo, const float *x, float *x0, int64_t n) {
    const double beta_t = 1 - alpha_t;
    switch (s->cfg.prediction_type) {
    case FF_COGSCHED_EPSILON: { /* (sample - beta^0.5 * eps) / alpha^0.5 */
        const float cb = (float)sqrt(beta_t), ca = (float)sqrt(alpha_t);
        for (int64_t i = 0; i < n; i++) x0[i] = (x[i] - cb * mo[i]) / ca;
        break;
    }
    case FF_COGSCHED_SAMPLE:
        if (x0 != mo) memmove(x0, mo, (size_t)n * sizeof *x0);
        break;
    case FF_COGSCHED_V_PREDICTION: { /* alpha^0.5 * sample - beta^0.5 * v */
        const float ca = (float)sqrt(alpha_t), cb = (float)sqrt(beta_t);
        for (int64_t i = 0; i < n; i++) {
            float p = ca * x[i], q = cb * mo[i];
            x0[i] = p - q;
        }
        break;
    }
    }
}

ff_status cogsched_check_step(const ff_cogsched *s, const ff_tensor *mo, const ff_tensor *x, const ff_tensor *prev,
                              const ff_tensor *x0, int64_t *numel, ff_err *err) {
    char a[96], b[96];
    if (!s->n) return ff_err_set(err, FF_ERR_ARG, "scheduler: set_timesteps was not called");
    if (s->index >= s->n)
        return ff_err_set(err, FF_ERR_ARG, "scheduler: all %lld steps are done (call set_timesteps again)",
                          (long long)s->n);
    const ff_tensor *ts[4] = {mo, x, prev, x0};
    const char *names[4] = {"model_output", "sample", "prev", "x0"};
    const int64_t n = ff_tensor_numel(x);
    for (int i = 0; i < 4; i++) {
        if (!ts[i]) continue;
        if (ts[i]->dtype != FF_F32 || ts[i]->loc != FF_LOC_HOST || ff_tensor_numel(ts[i]) != n || !ts[i]->data)
            return ff_err_set(err, FF_ERR_SHAPE, "scheduler step: %s %s must be an F32 host tensor like sample %s",
                              names[i], ff_tensor_describe(ts[i], a, sizeof a), ff_tensor_describe(x, b, sizeof b));
    }
    *numel = n;
    return FF_OK;
}

/* CogVideoXDDIMScheduler.step (eta, generator ignored). */
static void ddim_step(ff_cogsched *s, const float *mo, const float *x, float *prev, float *x0, int64_t n) {
    const int64_t t = s->timesteps[s->index], tp = ff_cogsched_prev_timestep(s, s->index);
    const double a_t = cogsched_alpha(s, t), a_prev = cogsched_alpha(s, tp);
    cogsched_pred_x0(s, a_t, mo, x, x0, n);
    const double ca = sqrt((1 - a_prev) / (1 - a_t));
    const double cb = sqrt(a_prev) - sqrt(a_t) * ca;
    const float fa = (float)ca, fb = (float)cb;
    for (int64_t i = 0; i < n; i++) {
        float p = fa * x[i], q = fb * x0[i];
        prev[i] = p + q;
    }
}

ff_status ff_cogsched_step(ff_cogsched *s, const ff_tensor *model_output, const ff_tensor *sample, ff_tensor *prev,
                           ff_tensor *x0_out, ff_tensor *noise_out, int *n_noise, ff_err *err) {
    int64_t n;
    if (n_noise) *n_noise = 0;
    ff_status st = cogsched_check_step(s, model_output, sample, prev, x0_out, &n, err);
    if (st) return st;
    /* x0 goes to x0_out when given (it must not alias the inputs: prev may
     * alias sample, so x0 cannot live in prev) */
    float *x0 = x0_out ? x0_out->data : malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!x0) return ff_err_set(err, FF_ERR_NOMEM, "scheduler: cannot allocate %lld floats", (long long)n);
    if (s->cfg.kind == FF_COGSCHED_DDIM) {
        ddim_step(s, model_output->data, sample->data, prev->data, x0, n);
    } else {
        const int64_t batch = sample->ndim > 0 ? sample->shape[0] : 1;
        st = cogsched_dpm_step(s, model_output->data, sample->data, prev->data, x0, batch, n, noise_out, n_noise, err);
    }
    if (!st) s->index++;
    if (!x0_out) free(x0);
    return st;
}

/* ---- checkpoints --------------------------------------------------------------- */

#define STATE_MAGIC 0x31444743u /* "CGD1" */

typedef struct {
    uint32_t magic, kind;
    int64_t n_steps, index, old_numel;
    uint64_t n_gens;
} state_header;

size_t ff_cogsched_state_size(const ff_cogsched *s) {
    return sizeof(state_header) + (size_t)s->old_numel * sizeof(float) + s->n_gens * sizeof(ff_rng);
}

ff_status ff_cogsched_state_save(const ff_cogsched *s, void *buf, size_t n, ff_err *err) {
    if (n != ff_cogsched_state_size(s))
        return ff_err_set(err, FF_ERR_ARG, "scheduler state: buffer of %zu bytes, need %zu", n,
                          ff_cogsched_state_size(s));
    state_header h = {STATE_MAGIC, (uint32_t)s->cfg.kind, s->n, s->index, s->old_numel, s->n_gens};
    char *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    if (s->old_numel) memcpy(p, s->old_x0, (size_t)s->old_numel * sizeof(float));
    p += (size_t)s->old_numel * sizeof(float);
    if (s->n_gens) memcpy(p, s->gens, s->n_gens * sizeof(ff_rng));
    return FF_OK;
}

ff_status ff_cogsched_state_restore(ff_cogsched *s, const void *buf, size_t n, ff_err *err) {
    state_header h;
    if (n < sizeof h) return ff_err_set(err, FF_ERR_FORMAT, "scheduler state: %zu bytes is too short", n);
    memcpy(&h, buf, sizeof h);
    if (h.magic != STATE_MAGIC || h.kind != (uint32_t)s->cfg.kind)
        return ff_err_set(err, FF_ERR_FORMAT, "scheduler state: not a %s state", ff_cogsched_kind_name(s->cfg.kind));
    if (h.n_steps != s->n || h.index < 0 || h.index > s->n)
        return ff_err_set(err, FF_ERR_FORMAT, "scheduler state: step %lld of %lld, scheduler has %lld steps",
                          (long long)h.index, (long long)h.n_steps, (long long)s->n);
    if (h.old_numel < 0 || h.n_gens > FF_COGSCHED_MAX_GEN ||
        n != sizeof h + (size_t)h.old_numel * sizeof(float) + (size_t)h.n_gens * sizeof(ff_rng))
        return ff_err_set(err, FF_ERR_FORMAT, "scheduler state: %zu bytes do not match its header", n);
    const char *p = (const char *)buf + sizeof h;
    float *old = NULL;
    ff_rng *gens = NULL;
    if (h.old_numel && !(old = malloc((size_t)h.old_numel * sizeof *old)))
        return ff_err_set(err, FF_ERR_NOMEM, "scheduler state: cannot allocate x0");
    if (h.n_gens && !(gens = malloc((size_t)h.n_gens * sizeof *gens))) {
        free(old);
        return ff_err_set(err, FF_ERR_NOMEM, "scheduler state: cannot allocate generators");
    }
    if (old) memcpy(old, p, (size_t)h.old_numel * sizeof *old);
    p += (size_t)h.old_numel * sizeof(float);
    if (gens) memcpy(gens, p, (size_t)h.n_gens * sizeof *gens);
    free(s->old_x0);
    free(s->gens);
    s->old_x0 = old;
    s->old_numel = h.old_numel;
    s->gens = gens;
    s->n_gens = (size_t)h.n_gens;
    s->index = h.index;
    return FF_OK;
}
