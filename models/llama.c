/* llama: LlamaConfig, the rotary frequencies and the weights of the Llama
 * text encoder (see llama.h). Mirrors transformers 4.57
 * configuration_llama.py (defaults), modeling_rope_utils.py
 * (_compute_default_rope_parameters, _compute_linear_scaling_rope_parameters,
 * _compute_dynamic_ntk_parameters, _compute_llama3_parameters: float32
 * tensor math with Python-float scalars) and LlamaModel's module tree. */
#include "models/llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/llama_internal.h"
#include "models/param_load.h"

/* ---- config ------------------------------------------------------------------ */

static ff_status get_int(const ff_json *r, const char *what, const char *key, int64_t dflt, int64_t lo, int64_t hi,
                         int64_t *out, ff_err *err) {
    const ff_json *v = ff_json_get(r, key);
    if (ff_json_is_null(v)) {
        *out = dflt;
    } else if (ff_json_int64(v, out)) {
        return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be an integer", what, key);
    }
    if (*out < lo || *out > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: %s = %lld outside [%lld, %lld]", what, key, (long long)*out, (long long)lo,
                          (long long)hi);
    return FF_OK;
}

static ff_status get_num(const ff_json *r, const char *what, const char *key, double dflt, double *out, ff_err *err) {
    const ff_json *v = ff_json_get(r, key);
    if (ff_json_is_null(v)) *out = dflt;
    else if (ff_json_double(v, out) || !isfinite(*out))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be a number", what, key);
    return FF_OK;
}

/* transformers' ACT2FN names used by Llama-style configs */
static int act_kind(const char *name, ff_unary_kind *out) {
    if (!strcmp(name, "silu") || !strcmp(name, "swish")) *out = FF_UNARY_SILU;
    else if (!strcmp(name, "gelu")) *out = FF_UNARY_GELU_ERF;
    else if (!strcmp(name, "gelu_new") || !strcmp(name, "gelu_pytorch_tanh") || !strcmp(name, "gelu_fast"))
        *out = FF_UNARY_GELU_TANH;
    else if (!strcmp(name, "relu")) *out = FF_UNARY_RELU;
    else return -1;
    return 0;
}

static ff_status parse_rope_scaling(const ff_json *rs, const char *what, ff_llama_config *c, ff_err *err) {
    c->rope_type = FF_LLAMA_ROPE_DEFAULT;
    c->rope_factor = 1.0;
    c->rope_original_max_position_embeddings = c->max_position_embeddings;
    if (ff_json_is_null(rs)) return FF_OK;
    if (rs->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: rope_scaling must be null or an object", what);
    const char *type = ff_json_get_string(rs, "rope_type");
    if (!type) type = ff_json_get_string(rs, "type"); /* the older key */
    if (!type || !strcmp(type, "default")) return FF_OK;
    ff_status st;
    if ((st = get_num(rs, what, "factor", 1.0, &c->rope_factor, err))) return st;
    if (!(c->rope_factor >= 1.0) && strcmp(type, "linear"))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: rope_scaling.factor must be >= 1", what);
    if (!(c->rope_factor > 0)) return ff_err_set(err, FF_ERR_FORMAT, "%s: rope_scaling.factor must be > 0", what);
    if (!strcmp(type, "linear")) {
        c->rope_type = FF_LLAMA_ROPE_LINEAR;
    } else if (!strcmp(type, "dynamic")) {
        c->rope_type = FF_LLAMA_ROPE_DYNAMIC;
    } else if (!strcmp(type, "llama3")) {
        c->rope_type = FF_LLAMA_ROPE_LLAMA3;
        if ((st = get_num(rs, what, "low_freq_factor", NAN, &c->rope_low_freq_factor, err)) ||
            (st = get_num(rs, what, "high_freq_factor", NAN, &c->rope_high_freq_factor, err)) ||
            (st = get_int(rs, what, "original_max_position_embeddings", -1, 1, INT64_C(1) << 40,
                          &c->rope_original_max_position_embeddings, err)))
            return ff_err_wrap(err, "rope_scaling (llama3): ");
        if (!(c->rope_high_freq_factor > c->rope_low_freq_factor) || !(c->rope_low_freq_factor > 0))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: rope_scaling llama3 needs high_freq_factor > low_freq_factor > 0", what);
    } else {
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: rope_scaling type '%s' is not supported (default, linear, dynamic, llama3)", what, type);
    }
    return FF_OK;
}

ff_status ff_llama_config_parse(const ff_json *r, const char *what, ff_llama_config *c, ff_err *err) {
    memset(c, 0, sizeof *c);
    const char *mt = ff_json_get_string(r, "model_type");
    if (mt && strcmp(mt, "llama"))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (llama)", what, mt);
    ff_status st;
    const int64_t big = INT64_C(1) << 30;
    /* LlamaConfig defaults where a key is absent */
    if ((st = get_int(r, what, "vocab_size", 32000, 1, big, &c->vocab_size, err)) ||
        (st = get_int(r, what, "hidden_size", 4096, 1, big, &c->hidden_size, err)) ||
        (st = get_int(r, what, "intermediate_size", 11008, 1, big, &c->intermediate_size, err)) ||
        (st = get_int(r, what, "num_hidden_layers", 32, 0, 4096, &c->num_layers, err)) ||
        (st = get_int(r, what, "num_attention_heads", 32, 1, 65536, &c->num_heads, err)) ||
        (st = get_int(r, what, "num_key_value_heads", c->num_heads, 1, 65536, &c->num_kv_heads, err)) ||
        (st = get_int(r, what, "head_dim", c->hidden_size / c->num_heads, 1, 65536, &c->head_dim, err)) ||
        (st = get_int(r, what, "max_position_embeddings", 2048, 1, INT64_C(1) << 40, &c->max_position_embeddings, err)))
        return st;
    if (c->num_heads % c->num_kv_heads)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld", what,
                          (long long)c->num_heads, (long long)c->num_kv_heads);
    if (c->head_dim % 2) return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: head_dim %lld is odd (RoPE needs pairs)", what, (long long)c->head_dim);
    double eps, theta;
    if ((st = get_num(r, what, "rms_norm_eps", 1e-6, &eps, err)) || (st = get_num(r, what, "rope_theta", 10000.0, &theta, err)))
        return st;
    if (!(eps >= 0) || !(theta > 0)) return ff_err_set(err, FF_ERR_FORMAT, "%s: rms_norm_eps must be >= 0 and rope_theta > 0", what);
    c->rms_norm_eps = (float)eps;
    c->rope_theta = theta;
    if (ff_json_get_bool(r, "attention_bias", 0, &c->attention_bias))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: attention_bias must be a boolean", what);
    if (ff_json_get_bool(r, "mlp_bias", 0, &c->mlp_bias)) return ff_err_set(err, FF_ERR_FORMAT, "%s: mlp_bias must be a boolean", what);
    int64_t tp;
    if ((st = get_int(r, what, "pretraining_tp", 1, 1, 1024, &tp, err))) return st;
    /* pretraining_tp > 1 only splits the matmuls in transformers' forward: the same math */
    const char *act = ff_json_get_string(r, "hidden_act");
    if (!act) act = "silu";
    if (act_kind(act, &c->act)) return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported", what, act);
    const ff_json *prf = ff_json_get(r, "partial_rotary_factor");
    double pr = 1.0;
    if (!ff_json_is_null(prf) && (ff_json_double(prf, &pr) || pr != 1.0))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: partial_rotary_factor other than 1 is not supported", what);
    return parse_rope_scaling(ff_json_get(r, "rope_scaling"), what, c, err);
}

ff_status ff_llama_config_read(const char *path, ff_llama_config *cfg, ff_err *err) {
    ff_json_doc *doc;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    st = ff_llama_config_parse(ff_json_root(doc), path, cfg, err);
    ff_json_free(doc);
    return st;
}

/* ---- rotary frequencies ------------------------------------------------------- */

/* _compute_default_rope_parameters: 1 / base ** (arange(0, dim, 2).float() / dim), float32 */
static void default_inv_freq(double base, int64_t dim, float *inv) {
    for (int64_t j = 0; j < dim / 2; j++) {
        float e = (float)(2 * j) / (float)dim;
        inv[j] = 1.0f / powf((float)base, e);
    }
}

void ff_llama_rope_inv_freq(const ff_llama_config *c, int64_t L, float *inv) {
    const int64_t dim = c->head_dim, half = dim / 2;
    switch (c->rope_type) {
    case FF_LLAMA_ROPE_DEFAULT:
        default_inv_freq(c->rope_theta, dim, inv);
        break;
    case FF_LLAMA_ROPE_LINEAR:
        default_inv_freq(c->rope_theta, dim, inv);
        for (int64_t j = 0; j < half; j++) inv[j] /= (float)c->rope_factor;
        break;
    case FF_LLAMA_ROPE_DYNAMIC: {
        /* dynamic_rope_update: recomputed with seq_len = max position + 1 once it exceeds the original length */
        double base = c->rope_theta;
        const double orig = (double)c->max_position_embeddings;
        if ((double)L > orig)
            base = base * pow(c->rope_factor * (double)L / orig - (c->rope_factor - 1.0), (double)dim / (double)(dim - 2));
        default_inv_freq(base, dim, inv);
        break;
    }
    case FF_LLAMA_ROPE_LLAMA3: {
        default_inv_freq(c->rope_theta, dim, inv);
        const double old_ctx = (double)c->rope_original_max_position_embeddings;
        const float factor = (float)c->rope_factor, low = (float)c->rope_low_freq_factor, high = (float)c->rope_high_freq_factor;
        const float low_wavelen = (float)(old_ctx / c->rope_low_freq_factor);
        const float high_wavelen = (float)(old_ctx / c->rope_high_freq_factor);
        for (int64_t j = 0; j < half; j++) {
            float wavelen = (float)(2 * M_PI) / inv[j];
            float f = wavelen > low_wavelen ? inv[j] / factor : inv[j];
            float smooth = ((float)old_ctx / wavelen - low) / (high - low);
            float smoothed = (1.0f - smooth) * f / factor + smooth * f;
            int medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
            inv[j] = medium ? smoothed : f;
        }
        break;
    }
    }
}

/* ---- weights ------------------------------------------------------------------ */

void ff_llama_free(ff_llama *m) {
    if (!m) return;
    ff_param *ps;
    size_t n;
    if (m->layers && ff_llama_params(&m->cfg, m->matrix_dtype, m, &ps, &n, NULL) == FF_OK) {
        ff_param_load_release(m->be, ps, n);
        free(ps);
    }
    free(m->layers);
    free(m);
}

/* tensors of LlamaForCausalLM / older exports that LlamaModel does not use */
static int ignore_extra(const char *name) {
    return !strcmp(name, "lm_head.weight") || strstr(name, "rotary_emb.inv_freq") != NULL;
}

static ff_status load_impl(ff_backend *be, const char *dir, ff_dtype matrix_dtype, int place, ff_llama **out,
                           ff_weights **weights_out, ff_err *err) {
    *out = NULL;
    if (weights_out) *weights_out = NULL;
    if (matrix_dtype != FF_F32 && matrix_dtype != FF_BF16)
        return ff_err_set(err, FF_ERR_ARG, "llama %s: matrices as %s (F32 or BF16 only)", dir,
                          matrix_dtype < FF_DTYPE_COUNT ? ff_dtype_name(matrix_dtype) : "?");
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    ff_llama *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "llama: no memory");
    m->be = be;
    m->matrix_dtype = matrix_dtype;
    ff_weights *w = NULL;
    ff_param *ps = NULL;
    size_t np = 0;
    ff_status st = ff_llama_config_read(path, &m->cfg, err);
    if (st) goto fail;
    m->layers = calloc((size_t)m->cfg.num_layers + 1, sizeof *m->layers);
    if (!m->layers) {
        st = ff_err_set(err, FF_ERR_NOMEM, "llama: no memory for %lld layers", (long long)m->cfg.num_layers);
        goto fail;
    }
    if ((st = ff_weights_open(dir, &w, err))) goto fail;
    if (!ff_weights_has(w, "embed_tokens.weight") && ff_weights_has(w, "model.embed_tokens.weight")) strcpy(m->prefix, "model.");
    if ((st = ff_llama_params(&m->cfg, matrix_dtype, m, &ps, &np, err))) goto fail;
    ff_param_load_opts o = {weights_out != NULL, ignore_extra, "LlamaModel"};
    if ((st = ff_param_load_weights(w, ps, np, &o, err)) || (!weights_out && place && (st = ff_param_load_place(be, ps, np, 1, err))))
        goto fail;
    free(ps);
    if (weights_out) *weights_out = w;
    else ff_weights_free(w);
    *out = m;
    return FF_OK;
fail:
    free(ps);
    ff_weights_free(w);
    ff_llama_free(m);
    return ff_err_wrap(err, "text encoder %s: ", dir);
}

ff_status ff_llama_load(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_llama **out, ff_err *err) {
    return load_impl(be, dir, matrix_dtype, 1, out, NULL, err);
}

ff_status ff_llama_load_host(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_llama **out, ff_err *err) {
    return load_impl(be, dir, matrix_dtype, 0, out, NULL, err);
}

ff_status ff_llama_load_lazy(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_llama **out, ff_weights **weights,
                             ff_err *err) {
    return load_impl(be, dir, matrix_dtype, 0, out, weights, err);
}

ff_status ff_llama_place(ff_llama *m, int with_blocks, ff_err *err) {
    ff_param *ps;
    size_t n;
    ff_status st = ff_llama_params(&m->cfg, m->matrix_dtype, m, &ps, &n, err);
    if (st) return st;
    st = ff_param_load_place(m->be, ps, n, with_blocks, err);
    free(ps);
    return st;
}

const ff_llama_config *ff_llama_get_config(const ff_llama *m) { return &m->cfg; }
ff_backend *ff_llama_backend(const ff_llama *m) { return m->be; }
