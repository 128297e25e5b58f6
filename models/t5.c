/* t5: config, weights and placement of the T5-family encoder (see t5.h).
 * Mirrors transformers 4.57 modeling_t5.py / modeling_umt5.py
 * (T5Config/UMT5Config, T5Attention._relative_position_bucket,
 * has_relative_attention_bias = layer 0 only for T5, every layer for UMT5). */
#include "models/t5.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"
#include "models/param_load.h"
#include "models/t5_internal.h"

/* ---- config ------------------------------------------------------------------ */

static ff_status get_pos(const ff_json *root, const char *path, const char *key, int64_t dflt, int64_t *out, ff_err *err) {
    if (ff_json_get_int64(root, key, dflt, out) || *out < 1 || *out > (1 << 30))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be a positive integer", path, key);
    return FF_OK;
}

/* T5Config: feed_forward_proj "[gated-]act"; "gated-gelu" means gelu_new. */
static ff_status parse_ff_proj(const ff_json *r, const char *path, ff_t5_config *cfg, ff_err *err) {
    const char *ff = ff_json_get_string(r, "feed_forward_proj");
    if (!ff) ff = "gated-gelu";
    const char *act = ff;
    cfg->gated = 0;
    if (!strncmp(ff, "gated-", 6)) {
        cfg->gated = 1;
        act = ff + 6;
    }
    if (strchr(act, '-')) return ff_err_set(err, FF_ERR_FORMAT, "%s: feed_forward_proj '%s' is not '[gated-]<act>'", path, ff);
    if (!strcmp(ff, "gated-gelu") || !strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh"))
        cfg->act = FF_UNARY_GELU_TANH;
    else if (!strcmp(act, "gelu"))
        cfg->act = FF_UNARY_GELU_ERF;
    else if (!strcmp(act, "relu"))
        cfg->act = FF_UNARY_RELU;
    else if (!strcmp(act, "silu") || !strcmp(act, "swish"))
        cfg->act = FF_UNARY_SILU;
    else
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: activation '%s' (feed_forward_proj '%s') is not supported", path, act,
                          ff);
    return FF_OK;
}

ff_status ff_t5_config_read(const char *path, ff_t5_config *cfg, ff_err *err) {
    ff_json_doc *doc;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    const ff_json *r = ff_json_root(doc);
    memset(cfg, 0, sizeof *cfg);
    const char *mt = ff_json_get_string(r, "model_type");
    if (!mt || !strcmp(mt, "umt5")) {
        cfg->bias_per_layer = 1;
    } else if (!strcmp(mt, "t5") || !strcmp(mt, "mt5")) {
        cfg->bias_per_layer = 0;
    } else {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (t5, mt5, umt5)", path, mt);
        goto done;
    }
    /* T5Config / UMT5Config defaults where a key is absent */
    if ((st = get_pos(r, path, "vocab_size", cfg->bias_per_layer ? 250112 : 32128, &cfg->vocab_size, err)) ||
        (st = get_pos(r, path, "d_model", 512, &cfg->d_model, err)) || (st = get_pos(r, path, "d_kv", 64, &cfg->d_kv, err)) ||
        (st = get_pos(r, path, "d_ff", cfg->bias_per_layer ? 1024 : 2048, &cfg->d_ff, err)) ||
        (st = get_pos(r, path, "num_layers", cfg->bias_per_layer ? 8 : 6, &cfg->num_layers, err)) ||
        (st = get_pos(r, path, "num_heads", cfg->bias_per_layer ? 6 : 8, &cfg->num_heads, err)) ||
        (st = get_pos(r, path, "relative_attention_num_buckets", 32, &cfg->num_buckets, err)) ||
        (st = get_pos(r, path, "relative_attention_max_distance", 128, &cfg->max_distance, err)))
        goto done;
    double eps;
    if (ff_json_get_double(r, "layer_norm_epsilon", 1e-6, &eps) || !(eps >= 0)) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: layer_norm_epsilon must be a number >= 0", path);
        goto done;
    }
    cfg->eps = (float)eps;
    /* the bucket formula needs max_exact = num_buckets / 4 >= 1 and a log-range above it */
    if (cfg->num_buckets < 4 || cfg->max_distance <= cfg->num_buckets / 4) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED,
                        "%s: relative_attention_num_buckets=%lld, relative_attention_max_distance=%lld: need buckets >= 4 "
                        "and max_distance > buckets/4",
                        path, (long long)cfg->num_buckets, (long long)cfg->max_distance);
        goto done;
    }
    st = parse_ff_proj(r, path, cfg, err);
done:
    ff_json_free(doc);
    return st;
}

/* T5Attention._relative_position_bucket, bidirectional (encoder), with
 * torch's float32 arithmetic: log(a / max_exact) / log(max_distance /
 * max_exact) * (n - max_exact), truncated toward zero. */
int64_t ff_t5_bucket(const ff_t5_config *cfg, int64_t rel) {
    int64_t n = cfg->num_buckets / 2;
    int64_t bucket = rel > 0 ? n : 0;
    int64_t a = rel < 0 ? -rel : rel;
    int64_t max_exact = n / 2;
    if (a < max_exact) return bucket + a;
    float ratio = (float)a / (float)max_exact;
    float den = (float)log((double)cfg->max_distance / (double)max_exact); /* a Python float, cast to the tensor's dtype */
    float x = logf(ratio) / den;
    x = x * (float)(n - max_exact);
    int64_t large = max_exact + (int64_t)x;
    if (large > n - 1) large = n - 1;
    return bucket + large;
}

/* ---- weights ------------------------------------------------------------------ */

void ff_t5_free(ff_t5 *m) {
    if (!m) return;
    ff_param *ps;
    size_t n;
    if (m->blocks && ff_t5_params(&m->cfg, m->matrix_dtype, m, &ps, &n, NULL) == FF_OK) {
        ff_param_load_release(m->be, ps, n);
        free(ps);
    }
    free(m->blocks);
    free(m);
}

/* Matrices: q/k/v/o and the FFN weights (ff_t5_params gives them matrix_dtype). */
static int is_matrix_name(const char *name) {
    return (strstr(name, ".SelfAttention.") && !strstr(name, "relative_attention_bias")) || strstr(name, ".DenseReluDense.");
}

/* transformers saves the tied encoder.embed_tokens.weight beside shared.weight in some exports */
static int ignore_tied(const char *name) { return !strcmp(name, "encoder.embed_tokens.weight"); }

static ff_status load_impl(ff_backend *be, const char *dir, ff_dtype matrix_dtype, int place, ff_t5 **out,
                           ff_weights **weights_out, ff_err *err) {
    *out = NULL;
    if (weights_out) *weights_out = NULL;
    if (matrix_dtype != FF_F32 && matrix_dtype != FF_BF16 && matrix_dtype != FF_T5_AS_STORED)
        return ff_err_set(err, FF_ERR_ARG, "t5 %s: matrices as %s (F32, BF16 or as stored only)", dir,
                          matrix_dtype == FF_T5_AS_STORED ? "?" : ff_dtype_name(matrix_dtype));
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    ff_t5 *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "t5: no memory");
    m->be = be;
    m->matrix_dtype = matrix_dtype;
    ff_weights *w = NULL;
    ff_param *ps = NULL;
    size_t np = 0;
    ff_status st = ff_t5_config_read(path, &m->cfg, err);
    if (st) goto fail;
    m->blocks = calloc((size_t)m->cfg.num_layers, sizeof *m->blocks);
    if (!m->blocks) {
        st = ff_err_set(err, FF_ERR_NOMEM, "t5: no memory for %lld blocks", (long long)m->cfg.num_layers);
        goto fail;
    }
    if ((st = ff_weights_open(dir, &w, err)) || (st = ff_t5_params(&m->cfg, matrix_dtype, m, &ps, &np, err))) goto fail;
    /* some exports carry only the tied alias of shared */
    if (!ff_weights_has(w, ps[0].name) && ff_weights_has(w, "encoder.embed_tokens.weight"))
        snprintf(ps[0].name, sizeof ps[0].name, "encoder.embed_tokens.weight");
    /* as stored: BF16 matrices stay BF16, everything else F32 */
    if (matrix_dtype == FF_T5_AS_STORED)
        for (size_t i = 0; i < np; i++) {
            const ff_st_entry *e;
            if (is_matrix_name(ps[i].name) && ff_weights_find(w, ps[i].name, NULL, &e, NULL) == FF_OK && e->dtype == FF_BF16)
                ps[i].dtype = FF_BF16;
        }
    ff_param_load_opts o = {weights_out != NULL, ignore_tied, m->cfg.bias_per_layer ? "UMT5EncoderModel" : "T5EncoderModel"};
    if ((st = ff_param_load_weights(w, ps, np, &o, err))) {
        if (st == FF_ERR_FORMAT && !m->cfg.bias_per_layer && strstr(err ? err->msg : "", "relative_attention_bias"))
            ff_err_wrap(err, "model_type t5/mt5 keeps one position bias table (block 0): ");
        goto fail;
    }
    if (!weights_out && place && (st = ff_param_load_place(be, ps, np, 1, err))) goto fail;
    free(ps);
    if (weights_out) *weights_out = w;
    else ff_weights_free(w);
    *out = m;
    return FF_OK;
fail:
    free(ps);
    ff_weights_free(w);
    ff_t5_free(m);
    return ff_err_wrap(err, "text encoder %s: ", dir);
}

ff_status ff_t5_load(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_t5 **out, ff_err *err) {
    return load_impl(be, dir, matrix_dtype, 1, out, NULL, err);
}

ff_status ff_t5_load_host(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_t5 **out, ff_err *err) {
    return load_impl(be, dir, matrix_dtype, 0, out, NULL, err);
}

ff_status ff_t5_load_lazy(ff_backend *be, const char *dir, ff_dtype matrix_dtype, ff_t5 **out, ff_weights **weights,
                          ff_err *err) {
    return load_impl(be, dir, matrix_dtype, 1, out, weights, err);
}

ff_status ff_t5_place(ff_t5 *m, int with_blocks, ff_err *err) {
    ff_param *ps;
    size_t n;
    ff_status st = ff_t5_params(&m->cfg, m->matrix_dtype, m, &ps, &n, err);
    if (st) return st;
    st = ff_param_load_place(m->be, ps, n, with_blocks, err);
    free(ps);
    return st;
}

const ff_t5_config *ff_t5_get_config(const ff_t5 *m) { return &m->cfg; }
ff_backend *ff_t5_backend(const ff_t5 *m) { return m->be; }
