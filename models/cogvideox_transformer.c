/* cogvideox_transformer: config, parameter list, loading, random init and
 * placement of diffusers' CogVideoXTransformer3DModel. The host tables are
 * in cogvideox_embed.c, the forward pass in cogvideox_forward.c. See
 * cogvideox_transformer.h. */
#include "models/cogvideox_transformer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- config ----------------------------------------------------------- */

static ff_status get_int(const ff_json *root, const char *what, const char *key, int64_t dflt, int64_t lo,
                         int64_t hi, int *out, ff_err *err) {
    int64_t v;
    const ff_json *j = ff_json_get(root, key);
    if (ff_json_is_null(j)) v = dflt;
    else if (ff_json_int64(j, &v))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" is not an integer", what, key);
    if (v < lo || v > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" = %lld outside [%lld, %lld]", what, key, (long long)v,
                          (long long)lo, (long long)hi);
    *out = (int)v;
    return FF_OK;
}

static ff_status get_bool(const ff_json *root, const char *what, const char *key, int dflt, int *out, ff_err *err) {
    if (ff_json_get_bool(root, key, dflt, out))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" is not a boolean", what, key);
    return FF_OK;
}

static ff_status get_act(const ff_json *root, const char *what, const char *key, const char *dflt, int ff_style,
                         ff_cogdit_act *out, ff_err *err) {
    const char *v = ff_json_get_string(root, key);
    if (!v) {
        if (!ff_json_is_null(ff_json_get(root, key)))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" is not a string", what, key);
        v = dflt;
    }
    if (ff_style) { /* FeedForward activation_fn */
        if (!strcmp(v, "gelu-approximate")) *out = FF_COGDIT_ACT_GELU_TANH;
        else if (!strcmp(v, "gelu")) *out = FF_COGDIT_ACT_GELU;
        else return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: %s \"%s\" not supported", what, key, v);
    } else { /* get_activation */
        if (!strcmp(v, "silu") || !strcmp(v, "swish")) *out = FF_COGDIT_ACT_SILU;
        else if (!strcmp(v, "gelu")) *out = FF_COGDIT_ACT_GELU;
        else if (!strcmp(v, "relu")) *out = FF_COGDIT_ACT_RELU;
        else return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: %s \"%s\" not supported", what, key, v);
    }
    return FF_OK;
}

static ff_status get_num(const ff_json *root, const char *what, const char *key, double dflt, double lo, double hi,
                         double *out, ff_err *err) {
    if (ff_json_get_double(root, key, dflt, out) || !(*out >= lo && *out <= hi))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" must be a number in [%g, %g]", what, key, lo, hi);
    return FF_OK;
}

ff_status ff_cogdit_config_parse(const ff_json *root, const char *what, ff_cogdit_config *cfg, ff_err *err) {
    memset(cfg, 0, sizeof *cfg);
    if (!root || root->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", what);
    const char *cls = ff_json_get_string(root, "_class_name");
    if (cls && strcmp(cls, "CogVideoXTransformer3DModel") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: _class_name \"%s\" is not CogVideoXTransformer3DModel", what,
                          cls);
    const int64_t big = 1 << 20;
    ff_status st;
    double eps, ssc, tsc;
    if ((st = get_int(root, what, "num_attention_heads", 30, 1, 4096, &cfg->heads, err)) ||
        (st = get_int(root, what, "attention_head_dim", 64, 2, 4096, &cfg->head_dim, err)) ||
        (st = get_int(root, what, "in_channels", 16, 1, big, &cfg->in_channels, err)) ||
        (st = get_int(root, what, "out_channels", 16, 1, big, &cfg->out_channels, err)) ||
        (st = get_bool(root, what, "flip_sin_to_cos", 1, &cfg->flip_sin_to_cos, err)) ||
        (st = get_int(root, what, "freq_shift", 0, -big, big, &cfg->freq_shift, err)) ||
        (st = get_int(root, what, "time_embed_dim", 512, 1, big, &cfg->time_embed_dim, err)) ||
        (st = get_int(root, what, "ofs_embed_dim", 0, 0, big, &cfg->ofs_embed_dim, err)) ||
        (st = get_int(root, what, "text_embed_dim", 4096, 1, big, &cfg->text_embed_dim, err)) ||
        (st = get_int(root, what, "num_layers", 30, 0, 100000, &cfg->num_layers, err)) ||
        (st = get_bool(root, what, "attention_bias", 1, &cfg->attention_bias, err)) ||
        (st = get_int(root, what, "sample_width", 90, 1, big, &cfg->sample_width, err)) ||
        (st = get_int(root, what, "sample_height", 60, 1, big, &cfg->sample_height, err)) ||
        (st = get_int(root, what, "sample_frames", 49, 1, big, &cfg->sample_frames, err)) ||
        (st = get_int(root, what, "patch_size", 2, 1, 64, &cfg->patch_size, err)) ||
        (st = get_int(root, what, "temporal_compression_ratio", 4, 1, 64, &cfg->temporal_compression_ratio, err)) ||
        (st = get_int(root, what, "max_text_seq_length", 226, 1, big, &cfg->max_text_seq_length, err)) ||
        (st = get_act(root, what, "activation_fn", "gelu-approximate", 1, &cfg->activation, err)) ||
        (st = get_act(root, what, "timestep_activation_fn", "silu", 0, &cfg->timestep_activation, err)) ||
        (st = get_bool(root, what, "norm_elementwise_affine", 1, &cfg->norm_elementwise_affine, err)) ||
        (st = get_num(root, what, "norm_eps", 1e-5, 0, 1, &eps, err)) ||
        (st = get_num(root, what, "spatial_interpolation_scale", 1.875, 1e-6, 1e6, &ssc, err)) ||
        (st = get_num(root, what, "temporal_interpolation_scale", 1.0, 1e-6, 1e6, &tsc, err)) ||
        (st = get_bool(root, what, "use_rotary_positional_embeddings", 0, &cfg->use_rotary_positional_embeddings,
                       err)) ||
        (st = get_bool(root, what, "patch_bias", 1, &cfg->patch_bias, err)))
        return st;
    /* patch_size_t: null (the default, CogVideoX 1.0) -> 0 */
    if (!ff_json_is_null(ff_json_get(root, "patch_size_t")) &&
        (st = get_int(root, what, "patch_size_t", 0, 1, 64, &cfg->patch_size_t, err)))
        return st;
    if (ff_json_is_null(ff_json_get(root, "out_channels")) && ff_json_get(root, "out_channels"))
        cfg->out_channels = cfg->in_channels; /* out_channels: null -> in_channels */
    cfg->norm_eps = (float)eps;
    cfg->spatial_interpolation_scale = ssc;
    cfg->temporal_interpolation_scale = tsc;
    int learned;
    if ((st = get_bool(root, what, "use_learned_positional_embeddings", 0, &learned, err))) return st;
    if (learned)
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: use_learned_positional_embeddings (CogVideoX-5B-I2V) not supported yet", what);
    if ((int64_t)cfg->heads * cfg->head_dim > big)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: inner dim %d x %d too large", what, cfg->heads, cfg->head_dim);
    cfg->dim = cfg->heads * cfg->head_dim;
    cfg->ff_inner_dim = 4 * cfg->dim;
    if (cfg->head_dim % 2)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: attention_head_dim %d must be even (rotary pairs)", what,
                          cfg->head_dim);
    if (cfg->use_rotary_positional_embeddings && (cfg->head_dim / 4) % 2 + (cfg->head_dim / 8 * 3) % 2)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: attention_head_dim %d does not split into even rotary parts", what,
                          cfg->head_dim);
    if (!cfg->use_rotary_positional_embeddings && (cfg->dim % 16))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: inner dim %d must be a multiple of 16 (3-D sincos positions)", what,
                          cfg->dim);
    if (cfg->ofs_embed_dim && cfg->ofs_embed_dim != cfg->time_embed_dim)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: ofs_embed_dim %d must equal time_embed_dim %d (they are added)",
                          what, cfg->ofs_embed_dim, cfg->time_embed_dim);
    return FF_OK;
}

ff_status ff_cogdit_config_load(const char *path, ff_cogdit_config *cfg, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    st = ff_cogdit_config_parse(ff_json_root(doc), path, cfg, err);
    ff_json_free(doc);
    return st;
}

/* ---- parameter list ---------------------------------------------------- */

static void add_param(ff_param *out, size_t *n, int block, ff_tensor *slot, ff_dtype dt, int ndim,
                      const int64_t *shape, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static void add_param(ff_param *out, size_t *n, int block, ff_tensor *slot, ff_dtype dt, int ndim,
                      const int64_t *shape, const char *fmt, ...) {
    if (out) {
        ff_param *p = &out[*n];
        memset(p, 0, sizeof *p);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->name, sizeof p->name, fmt, ap);
        va_end(ap);
        p->ndim = ndim;
        for (int i = 0; i < FF_MAX_DIMS; i++) p->shape[i] = i < ndim ? shape[i] : 1;
        p->dtype = dt;
        p->block = block;
        p->slot = slot;
    }
    (*n)++;
}

#define SLOT(ptr, field) ((ptr) ? &(ptr)->field : NULL)

/* A Linear: weight in wdt (the narrowable matrices), bias F32 when present. */
static void add_linear(ff_param *out, size_t *n, int block, ff_cogdit_linear *l, ff_dtype wdt, int64_t nout,
                       int64_t nin, int bias, const char *prefix) {
    int64_t ws[2] = {nout, nin}, bs[1] = {nout};
    add_param(out, n, block, SLOT(l, weight), wdt, 2, ws, "%s.weight", prefix);
    if (bias) add_param(out, n, block, SLOT(l, bias), FF_F32, 1, bs, "%s.bias", prefix);
}

static void add_norm(ff_param *out, size_t *n, int block, ff_cogdit_norm *nm, int64_t d, int affine,
                     const char *prefix) {
    if (!affine) return;
    int64_t ds[1] = {d};
    add_param(out, n, block, SLOT(nm, weight), FF_F32, 1, ds, "%s.weight", prefix);
    add_param(out, n, block, SLOT(nm, bias), FF_F32, 1, ds, "%s.bias", prefix);
}

size_t ff_cogdit_block_params(const ff_cogdit_config *cfg, int i, ff_cogdit_block *blk, ff_dtype wdt, ff_param *out) {
    size_t n = 0;
    const int64_t d = cfg->dim, te = cfg->time_embed_dim, inner = cfg->ff_inner_dim;
    const int aff = cfg->norm_elementwise_affine;
    char p[FF_PARAM_NAME_MAX];
#define NAME(suffix) (snprintf(p, sizeof p, "transformer_blocks.%d." suffix, i), p)
    add_linear(out, &n, i, SLOT(blk, norm1_linear), wdt, 6 * d, te, 1, NAME("norm1.linear"));
    add_norm(out, &n, i, SLOT(blk, norm1_norm), d, aff, NAME("norm1.norm"));
    add_linear(out, &n, i, SLOT(blk, to_q), wdt, d, d, cfg->attention_bias, NAME("attn1.to_q"));
    add_linear(out, &n, i, SLOT(blk, to_k), wdt, d, d, cfg->attention_bias, NAME("attn1.to_k"));
    add_linear(out, &n, i, SLOT(blk, to_v), wdt, d, d, cfg->attention_bias, NAME("attn1.to_v"));
    add_norm(out, &n, i, SLOT(blk, norm_q), cfg->head_dim, 1, NAME("attn1.norm_q"));
    add_norm(out, &n, i, SLOT(blk, norm_k), cfg->head_dim, 1, NAME("attn1.norm_k"));
    add_linear(out, &n, i, SLOT(blk, to_out), wdt, d, d, 1, NAME("attn1.to_out.0"));
    add_linear(out, &n, i, SLOT(blk, norm2_linear), wdt, 6 * d, te, 1, NAME("norm2.linear"));
    add_norm(out, &n, i, SLOT(blk, norm2_norm), d, aff, NAME("norm2.norm"));
    add_linear(out, &n, i, SLOT(blk, ff_in), wdt, inner, d, 1, NAME("ff.net.0.proj"));
    add_linear(out, &n, i, SLOT(blk, ff_out), wdt, d, inner, 1, NAME("ff.net.2"));
#undef NAME
    return n;
}

static size_t nonblock_params(const ff_cogdit_config *cfg, ff_cogdit_model *m, ff_dtype wdt, ff_param *out) {
    size_t n = 0;
    const int64_t d = cfg->dim, te = cfg->time_embed_dim, p = cfg->patch_size, c = cfg->in_channels;
    const int aff = cfg->norm_elementwise_affine;
    int64_t ds[1] = {d};
    if (!cfg->patch_size_t) { /* Conv2d(C, D, k = s = p, bias = patch_bias) */
        int64_t ws[4] = {d, c, p, p};
        add_param(out, &n, -1, SLOT(m, patch_weight), FF_F32, 4, ws, "patch_embed.proj.weight");
        if (cfg->patch_bias) add_param(out, &n, -1, SLOT(m, patch_bias), FF_F32, 1, ds, "patch_embed.proj.bias");
    } else { /* nn.Linear(C * p * p * p_t, D): always with bias (patch_bias only reaches the Conv2d) */
        int64_t ws[2] = {d, c * p * p * cfg->patch_size_t};
        add_param(out, &n, -1, SLOT(m, patch_weight), FF_F32, 2, ws, "patch_embed.proj.weight");
        add_param(out, &n, -1, SLOT(m, patch_bias), FF_F32, 1, ds, "patch_embed.proj.bias");
    }
    add_linear(out, &n, -1, SLOT(m, text_proj), wdt, d, cfg->text_embed_dim, 1, "patch_embed.text_proj");
    add_linear(out, &n, -1, SLOT(m, time_linear_1), FF_F32, te, d, 1, "time_embedding.linear_1");
    add_linear(out, &n, -1, SLOT(m, time_linear_2), FF_F32, te, te, 1, "time_embedding.linear_2");
    if (cfg->ofs_embed_dim) {
        const int64_t o = cfg->ofs_embed_dim;
        add_linear(out, &n, -1, SLOT(m, ofs_linear_1), FF_F32, o, o, 1, "ofs_embedding.linear_1");
        add_linear(out, &n, -1, SLOT(m, ofs_linear_2), FF_F32, o, o, 1, "ofs_embedding.linear_2");
    }
    add_norm(out, &n, -1, SLOT(m, norm_final), d, aff, "norm_final");
    add_linear(out, &n, -1, SLOT(m, norm_out_linear), wdt, 2 * d, te, 1, "norm_out.linear");
    add_norm(out, &n, -1, SLOT(m, norm_out_norm), d, aff, "norm_out.norm");
    const int64_t po = p * p * (cfg->patch_size_t ? cfg->patch_size_t : 1) * cfg->out_channels;
    add_linear(out, &n, -1, SLOT(m, proj_out), wdt, po, d, 1, "proj_out");
    return n;
}

ff_status ff_cogdit_params(const ff_cogdit_config *cfg, ff_cogdit_model *m, ff_dtype wdt, ff_param **out, size_t *n,
                           ff_err *err) {
    *out = NULL;
    *n = 0;
    if (m && cfg->num_layers > 0 && !m->blocks)
        return ff_err_set(err, FF_ERR_ARG, "ff_cogdit_params: model has no block table");
    size_t total = nonblock_params(cfg, NULL, wdt, NULL) +
                   (size_t)cfg->num_layers * ff_cogdit_block_params(cfg, 0, NULL, wdt, NULL);
    ff_param *p = calloc(total ? total : 1, sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the list of %zu transformer parameters", total);
    size_t k = nonblock_params(cfg, m, wdt, p);
    for (int i = 0; i < cfg->num_layers; i++)
        k += ff_cogdit_block_params(cfg, i, m ? &m->blocks[i] : NULL, wdt, p + k);
    *out = p;
    *n = k;
    return FF_OK;
}

void ff_cogdit_count_params(const ff_cogdit_config *cfg, ff_cogdit_counts *out) {
    ff_param blk[FF_COGDIT_BLOCK_PARAMS_MAX], nb[32];
    memset(out, 0, sizeof *out);
    size_t n = ff_cogdit_block_params(cfg, 0, NULL, FF_F32, blk);
    for (size_t i = 0; i < n; i++) out->per_block += ff_param_numel(&blk[i]);
    n = nonblock_params(cfg, NULL, FF_F32, nb);
    for (size_t i = 0; i < n; i++) out->non_block += ff_param_numel(&nb[i]);
    out->total = out->non_block + (int64_t)cfg->num_layers * out->per_block;
}

/* ---- loading, random init, placement, free ----------------------------- */

ff_status ff_cogdit_create(const ff_cogdit_config *cfg, ff_cogdit_model **out, ff_err *err) {
    ff_cogdit_model *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the transformer model");
    m->cfg = *cfg;
    if (cfg->num_layers > 0) {
        m->blocks = calloc((size_t)cfg->num_layers, sizeof *m->blocks);
        if (!m->blocks) {
            free(m);
            return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate %d transformer blocks", cfg->num_layers);
        }
        for (int i = 0; i < cfg->num_layers; i++) m->blocks[i].index = i;
    }
    *out = m;
    return FF_OK;
}

static int cmp_param_name(const void *a, const void *b) {
    return strcmp(((const ff_param *)a)->name, ((const ff_param *)b)->name);
}

/* p->slot <- the file's tensor in p->dtype (F32 from any float dtype; BF16
 * as stored or rounded to nearest even). */
static ff_status load_param(ff_weights *w, const ff_st_entry *e, const ff_param *p, ff_err *err) {
    if (p->dtype == FF_F32 || e->dtype == p->dtype) return ff_weights_load(w, p->name, p->dtype, p->slot, err);
    ff_tensor f;
    ff_status st = ff_weights_load(w, p->name, FF_F32, &f, err);
    if (st) return st;
    if (!(st = ff_tensor_alloc(p->slot, p->dtype, f.ndim, f.shape, err)) && (st = ff_tensor_convert(p->slot, &f, err)))
        ff_tensor_free(p->slot);
    ff_tensor_free(&f);
    return st;
}

static ff_status load_impl(const char *dir, ff_dtype wdt, ff_cogdit_model **out, ff_weights **weights_out,
                           ff_err *err) {
    *out = NULL;
    if (weights_out) *weights_out = NULL;
    if (wdt != FF_F32 && wdt != FF_BF16)
        return ff_err_set(err, FF_ERR_ARG, "%s: transformer weights as %s (F32 or BF16 only)", dir, ff_dtype_name(wdt));
    ff_json_doc *doc = NULL;
    ff_weights *w = NULL;
    ff_cogdit_model *m = NULL;
    ff_param *ps = NULL;
    size_t np = 0;
    ff_cogdit_config cfg;
    char what[4200];
    snprintf(what, sizeof what, "%s/config.json", dir);
    ff_status st = ff_component_config_dir(dir, &doc, err);
    if (st) goto done;
    if ((st = ff_cogdit_config_parse(ff_json_root(doc), what, &cfg, err))) goto done;
    if ((st = ff_weights_open(dir, &w, err))) goto done;
    if ((st = ff_cogdit_create(&cfg, &m, err))) goto done;
    if ((st = ff_cogdit_params(&cfg, m, wdt, &ps, &np, err))) goto done;
    for (size_t i = 0; i < np; i++) {
        const ff_st_entry *e;
        if ((st = ff_weights_find(w, ps[i].name, NULL, &e, err))) {
            ff_err_wrap(err, "CogVideoXTransformer3DModel (%s, %d layers): missing weight: ", dir, cfg.num_layers);
            goto done;
        }
        int same = e->ndim == ps[i].ndim;
        for (int k = 0; same && k < e->ndim; k++) same = e->shape[k] == ps[i].shape[k];
        if (!same) {
            char got[96], want[96];
            ff_tensor a, b;
            ff_tensor_view(&a, e->dtype, e->ndim, e->shape, NULL, FF_LOC_HOST);
            ff_tensor_view(&b, FF_F32, ps[i].ndim, ps[i].shape, NULL, FF_LOC_HOST);
            st = ff_err_set(err, FF_ERR_SHAPE, "%s: weight %s is %s, config.json implies %s", dir, ps[i].name,
                            ff_tensor_describe(&a, got, sizeof got), ff_tensor_describe(&b, want, sizeof want));
            goto done;
        }
        if (weights_out && ps[i].block >= 0) { /* lazy: shape and host dtype only */
            ff_tensor_view(ps[i].slot, ps[i].dtype, ps[i].ndim, ps[i].shape, NULL, FF_LOC_HOST);
            continue;
        }
        if ((st = load_param(w, e, &ps[i], err))) goto done;
    }
    /* strict: every tensor of the file is a parameter */
    qsort(ps, np, sizeof *ps, cmp_param_name);
    for (size_t i = 0; i < ff_weights_count(w); i++) {
        const ff_st_entry *e = ff_weights_at(w, i, NULL);
        ff_param key;
        snprintf(key.name, sizeof key.name, "%s", e->name);
        if (bsearch(&key, ps, np, sizeof *ps, cmp_param_name)) continue;
        st = ff_err_set(err, FF_ERR_FORMAT,
                        "%s: unexpected weight %s (not a CogVideoXTransformer3DModel parameter for this config.json)",
                        dir, e->name);
        goto done;
    }
done:
    free(ps);
    ff_json_free(doc);
    if (st) {
        ff_weights_free(w);
        ff_cogdit_free(m);
        return st;
    }
    if (weights_out) *weights_out = w;
    else ff_weights_free(w);
    *out = m;
    return FF_OK;
}

ff_status ff_cogdit_load_as(const char *dir, ff_dtype wdt, ff_cogdit_model **out, ff_err *err) {
    return load_impl(dir, wdt, out, NULL, err);
}

ff_status ff_cogdit_load(const char *dir, ff_cogdit_model **out, ff_err *err) {
    return load_impl(dir, FF_F32, out, NULL, err);
}

ff_status ff_cogdit_load_lazy(const char *dir, ff_dtype wdt, ff_cogdit_model **out, ff_weights **weights,
                              ff_err *err) {
    return load_impl(dir, wdt, out, weights, err);
}

static uint64_t xorshift64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

ff_status ff_cogdit_init_random(ff_cogdit_model *m, uint64_t seed, ff_err *err) {
    ff_param *ps;
    size_t np;
    ff_status st = ff_cogdit_params(&m->cfg, m, FF_F32, &ps, &np, err);
    if (st) return st;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < np && !st; i++) {
        ff_tensor *t = ps[i].slot;
        if ((st = ff_tensor_alloc(t, FF_F32, ps[i].ndim, ps[i].shape, err))) break;
        int64_t fan_in = 1;
        for (int k = 1; k < ps[i].ndim; k++) fan_in *= ps[i].shape[k];
        const int is_norm = strstr(ps[i].name, "norm") && !strstr(ps[i].name, "linear");
        const int is_weight = strstr(ps[i].name, ".weight") != NULL;
        float a = ps[i].ndim >= 2 ? 1.0f / sqrtf((float)fan_in) : 0.02f;
        float *d = t->data;
        for (int64_t k = 0, n = ff_tensor_numel(t); k < n; k++) {
            float u = (float)((xorshift64(&s) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
            d[k] = is_norm && is_weight ? 1.0f + 0.1f * u : a * u;
        }
    }
    free(ps);
    return st;
}

static void free_tensor(ff_cogdit_model *m, ff_tensor *t) {
    if (!t->data) {
        memset(t, 0, sizeof *t);
        return;
    }
    if (t->loc != FF_LOC_HOST) {
        if (m->be) ff_be_free(m->be, t);
    } else {
        ff_tensor_free(t);
    }
    memset(t, 0, sizeof *t);
}

void ff_cogdit_free(ff_cogdit_model *m) {
    if (!m) return;
    ff_param *ps;
    size_t np;
    if (ff_cogdit_params(&m->cfg, m, FF_F32, &ps, &np, NULL) == FF_OK) {
        for (size_t i = 0; i < np; i++) free_tensor(m, ps[i].slot);
        free(ps);
    }
    free(m->blocks);
    free(m);
}

static ff_status place_one(ff_cogdit_model *m, ff_backend *be, ff_tensor *t, const char *name, ff_err *err) {
    if (!t->data || t->loc != FF_LOC_HOST || ff_backend_kind_of(be) == FF_BACKEND_CPU) return FF_OK;
    ff_tensor d;
    ff_status st = ff_be_alloc(be, &d, t->dtype, t->ndim, t->shape, err);
    if (st) return ff_err_wrap(err, "uploading %s: ", name);
    if ((st = ff_be_upload(be, &d, t, err))) {
        ff_be_free(be, &d);
        return ff_err_wrap(err, "uploading %s: ", name);
    }
    ff_tensor_free(t);
    *t = d;
    m->be = be;
    return FF_OK;
}

ff_status ff_cogdit_place(ff_cogdit_model *m, ff_backend *be, int with_blocks, ff_err *err) {
    ff_param *ps;
    size_t np;
    ff_status st = ff_cogdit_params(&m->cfg, m, FF_F32, &ps, &np, err);
    if (st) return st;
    for (size_t i = 0; i < np && !st; i++)
        if (with_blocks || ps[i].block < 0) st = place_one(m, be, ps[i].slot, ps[i].name, err);
    free(ps);
    return st;
}
