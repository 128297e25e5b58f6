/* clip: config, parameter list, loading, random init, placement of
 * transformers' CLIPVisionModel / CLIPTextModel (configuration_clip.py,
 * modeling_clip.py). The forward passes are in clip_forward.c; see clip.h. */
#include "models/clip.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- config ------------------------------------------------------------- */

static ff_status get_int(const ff_json *o, const char *what, const char *key, int64_t dflt, int64_t lo, int64_t hi,
                         int *out, ff_err *err) {
    int64_t v;
    if (ff_json_get_int64(o, key, dflt, &v))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" is not an integer", what, key);
    if (v < lo || v > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" = %lld outside [%lld, %lld]", what, key, (long long)v,
                          (long long)lo, (long long)hi);
    *out = (int)v;
    return FF_OK;
}

static int arch_is(const ff_json *root, const char *prefix) {
    const ff_json *a = ff_json_get(root, "architectures");
    if (!a || a->type != FF_JSON_ARRAY) return 0;
    for (const ff_json *e = a->child; e; e = e->next)
        if (e->type == FF_JSON_STRING && !strncmp(e->str, prefix, strlen(prefix))) return 1;
    return 0;
}

ff_status ff_clip_config_parse(const ff_json *root, const char *what, int want, ff_clip_config *cfg, ff_err *err) {
    memset(cfg, 0, sizeof *cfg);
    if (!root || root->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", what);
    const char *mt = ff_json_get_string(root, "model_type");
    int kind = -1;
    if (mt && !strcmp(mt, "clip_vision_model")) kind = FF_CLIP_VISION;
    else if (mt && !strcmp(mt, "clip_text_model")) kind = FF_CLIP_TEXT;
    else if (mt && strcmp(mt, "clip") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not a CLIP model", what, mt);
    const ff_json *o = root;
    if (kind < 0) { /* a full CLIPConfig, or no model_type: go by `want` or the architecture */
        if (want < 0) want = arch_is(root, "CLIPVisionModel") ? FF_CLIP_VISION : arch_is(root, "CLIPTextModel") ? FF_CLIP_TEXT : -1;
        if (want < 0)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: cannot tell a CLIP vision from a text model (model_type %s)",
                              what, mt ? mt : "absent");
        kind = want;
        if (mt) { /* "clip": the tower's sub-config (absent: its defaults) */
            o = ff_json_get(root, kind == FF_CLIP_VISION ? "vision_config" : "text_config");
            if (ff_json_is_null(o)) o = NULL;
            else if (o->type != FF_JSON_OBJECT)
                return ff_err_set(err, FF_ERR_FORMAT, "%s: %s is not an object", what,
                                  kind == FF_CLIP_VISION ? "vision_config" : "text_config");
        }
    } else if (want >= 0 && want != kind) {
        return ff_err_set(err, FF_ERR_FORMAT, "%s: a CLIP %s model where a %s model is expected", what,
                          kind == FF_CLIP_VISION ? "vision" : "text", want == FF_CLIP_VISION ? "vision" : "text");
    }
    cfg->kind = (ff_clip_kind)kind;
    const int vis = kind == FF_CLIP_VISION;
    const int64_t big = 1 << 20;
    ff_status st;
    /* CLIPVisionConfig / CLIPTextConfig defaults */
    if ((st = get_int(o, what, "hidden_size", vis ? 768 : 512, 1, big, &cfg->hidden, err)) ||
        (st = get_int(o, what, "intermediate_size", vis ? 3072 : 2048, 1, big, &cfg->intermediate, err)) ||
        (st = get_int(o, what, "num_hidden_layers", 12, 0, 10000, &cfg->layers, err)) ||
        (st = get_int(o, what, "num_attention_heads", vis ? 12 : 8, 1, 4096, &cfg->heads, err)))
        return st;
    if (cfg->hidden % cfg->heads)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: hidden_size %d is not divisible by num_attention_heads %d", what,
                          cfg->hidden, cfg->heads);
    cfg->head_dim = cfg->hidden / cfg->heads;
    if (vis) {
        if ((st = get_int(o, what, "image_size", 224, 1, 1 << 16, &cfg->image_size, err)) ||
            (st = get_int(o, what, "patch_size", 32, 1, 1 << 16, &cfg->patch_size, err)) ||
            (st = get_int(o, what, "num_channels", 3, 1, 64, &cfg->num_channels, err)))
            return st;
        if (cfg->image_size < cfg->patch_size)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: image_size %d smaller than patch_size %d", what, cfg->image_size,
                              cfg->patch_size);
    } else {
        int eos;
        if ((st = get_int(o, what, "vocab_size", 49408, 1, 1 << 26, &cfg->vocab_size, err)) ||
            (st = get_int(o, what, "max_position_embeddings", 77, 1, 1 << 20, &cfg->max_positions, err)) ||
            (st = get_int(o, what, "eos_token_id", 49407, -1, 1 << 30, &eos, err)))
            return st;
        cfg->eos_token_id = eos;
    }
    double eps;
    if (ff_json_get_double(o, "layer_norm_eps", 1e-5, &eps) || !(eps >= 0) || eps > 1)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"layer_norm_eps\" must be a number in [0, 1]", what);
    cfg->eps = (float)eps;
    const char *act = o ? ff_json_get_string(o, "hidden_act") : NULL;
    if (!act) act = "quick_gelu";
    if (!strcmp(act, "quick_gelu")) cfg->act = FF_UNARY_QUICK_GELU;
    else if (!strcmp(act, "gelu")) cfg->act = FF_UNARY_GELU_ERF;
    else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh")) cfg->act = FF_UNARY_GELU_TANH;
    else if (!strcmp(act, "relu")) cfg->act = FF_UNARY_RELU;
    else if (!strcmp(act, "silu") || !strcmp(act, "swish")) cfg->act = FF_UNARY_SILU;
    else
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: hidden_act \"%s\" not supported (gelu, quick_gelu, gelu_new, gelu_pytorch_tanh, relu, silu)",
                          what, act);
    return FF_OK;
}

ff_status ff_clip_config_load(const char *path, int want, ff_clip_config *cfg, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    st = ff_clip_config_parse(ff_json_root(doc), path, want, cfg, err);
    ff_json_free(doc);
    return st;
}

int64_t ff_clip_seq_len(const ff_clip_config *cfg, int64_t text_len) {
    if (cfg->kind == FF_CLIP_VISION) {
        const int64_t g = cfg->image_size / cfg->patch_size;
        return 1 + g * g;
    }
    return text_len;
}

/* ---- parameter list ------------------------------------------------------- */

static const char *prefix_of(const ff_clip_config *cfg) {
    return cfg->kind == FF_CLIP_VISION ? "vision_model." : "text_model.";
}

static void add(ff_param *out, size_t *n, int block, ff_tensor *slot, ff_dtype dt, int ndim, const int64_t *shape,
                const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static void add(ff_param *out, size_t *n, int block, ff_tensor *slot, ff_dtype dt, int ndim, const int64_t *shape,
                const char *fmt, ...) {
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

/* Linear (weight in wdt) or LayerNorm (nout only: weight and bias (D)). */
static void add_affine(ff_param *out, size_t *n, int block, ff_clip_affine *a, ff_dtype wdt, int64_t nout, int64_t nin,
                       const char *pfx, const char *name) {
    int64_t ws[2] = {nout, nin}, bs[1] = {nout};
    if (nin > 0) add(out, n, block, SLOT(a, weight), wdt, 2, ws, "%s%s.weight", pfx, name);
    else add(out, n, block, SLOT(a, weight), FF_F32, 1, bs, "%s%s.weight", pfx, name);
    add(out, n, block, SLOT(a, bias), FF_F32, 1, bs, "%s%s.bias", pfx, name);
}

size_t ff_clip_layer_params(const ff_clip_config *cfg, int index, ff_clip_layer *l, ff_dtype wdt, ff_param *out) {
    size_t n = 0;
    char pfx[FF_PARAM_NAME_MAX];
    snprintf(pfx, sizeof pfx, "%sencoder.layers.%d.", prefix_of(cfg), index);
    const int64_t D = cfg->hidden, I = cfg->intermediate;
    add_affine(out, &n, index, SLOT(l, k_proj), wdt, D, D, pfx, "self_attn.k_proj");
    add_affine(out, &n, index, SLOT(l, v_proj), wdt, D, D, pfx, "self_attn.v_proj");
    add_affine(out, &n, index, SLOT(l, q_proj), wdt, D, D, pfx, "self_attn.q_proj");
    add_affine(out, &n, index, SLOT(l, out_proj), wdt, D, D, pfx, "self_attn.out_proj");
    add_affine(out, &n, index, SLOT(l, layer_norm1), wdt, D, 0, pfx, "layer_norm1");
    add_affine(out, &n, index, SLOT(l, fc1), wdt, I, D, pfx, "mlp.fc1");
    add_affine(out, &n, index, SLOT(l, fc2), wdt, D, I, pfx, "mlp.fc2");
    add_affine(out, &n, index, SLOT(l, layer_norm2), wdt, D, 0, pfx, "layer_norm2");
    return n;
}

static size_t nonlayer_params(const ff_clip_config *cfg, ff_clip_model *m, ff_param *out) {
    size_t n = 0;
    const char *p = prefix_of(cfg);
    const int64_t D = cfg->hidden;
    if (cfg->kind == FF_CLIP_VISION) {
        const int64_t ds[1] = {D}, pw[4] = {D, cfg->num_channels, cfg->patch_size, cfg->patch_size};
        const int64_t pos[2] = {ff_clip_seq_len(cfg, 0), D};
        add(out, &n, -1, SLOT(m, class_embedding), FF_F32, 1, ds, "%sembeddings.class_embedding", p);
        add(out, &n, -1, SLOT(m, patch_embedding), FF_F32, 4, pw, "%sembeddings.patch_embedding.weight", p);
        add(out, &n, -1, SLOT(m, position_embedding), FF_F32, 2, pos, "%sembeddings.position_embedding.weight", p);
        add_affine(out, &n, -1, SLOT(m, pre_layrnorm), FF_F32, D, 0, p, "pre_layrnorm");
        add_affine(out, &n, -1, SLOT(m, post_layernorm), FF_F32, D, 0, p, "post_layernorm");
    } else {
        const int64_t tok[2] = {cfg->vocab_size, D}, pos[2] = {cfg->max_positions, D};
        add(out, &n, -1, SLOT(m, token_embedding), FF_F32, 2, tok, "%sembeddings.token_embedding.weight", p);
        add(out, &n, -1, SLOT(m, position_embedding), FF_F32, 2, pos, "%sembeddings.position_embedding.weight", p);
        add_affine(out, &n, -1, SLOT(m, final_layer_norm), FF_F32, D, 0, p, "final_layer_norm");
    }
    return n;
}

ff_status ff_clip_params(const ff_clip_config *cfg, ff_clip_model *m, ff_dtype wdt, ff_param **out, size_t *n,
                         ff_err *err) {
    *out = NULL, *n = 0;
    if (m && cfg->layers > 0 && !m->layers) return ff_err_set(err, FF_ERR_ARG, "ff_clip_params: model has no layer table");
    const size_t total = nonlayer_params(cfg, NULL, NULL) + (size_t)cfg->layers * FF_CLIP_LAYER_PARAMS;
    ff_param *p = calloc(total, sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the list of %zu CLIP parameters", total);
    size_t k = nonlayer_params(cfg, m, p);
    for (int i = 0; i < cfg->layers; i++) k += ff_clip_layer_params(cfg, i, m ? &m->layers[i] : NULL, wdt, p + k);
    *out = p, *n = k;
    return FF_OK;
}

void ff_clip_count_params(const ff_clip_config *cfg, ff_clip_counts *out) {
    ff_param ps[FF_CLIP_LAYER_PARAMS];
    memset(out, 0, sizeof *out);
    size_t n = ff_clip_layer_params(cfg, 0, NULL, FF_F32, ps);
    for (size_t i = 0; i < n; i++) out->per_layer += ff_param_numel(&ps[i]);
    n = nonlayer_params(cfg, NULL, ps);
    for (size_t i = 0; i < n; i++) out->non_layer += ff_param_numel(&ps[i]);
    out->total = out->non_layer + (int64_t)cfg->layers * out->per_layer;
}

/* ---- create, load, random init, free, place ---------------------------------- */

ff_status ff_clip_create(const ff_clip_config *cfg, ff_clip_model **out, ff_err *err) {
    ff_clip_model *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate a CLIP model");
    m->cfg = *cfg;
    if (cfg->layers > 0 && !(m->layers = calloc((size_t)cfg->layers, sizeof *m->layers))) {
        free(m);
        return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate %d CLIP layers", cfg->layers);
    }
    for (int i = 0; i < cfg->layers; i++) m->layers[i].index = i;
    *out = m;
    return FF_OK;
}

/* Tensors a checkpoint may carry that this model does not use (transformers
 * ignores them or they belong to another class / the other tower). */
static int ignorable(const ff_clip_config *cfg, const char *name) {
    const size_t n = strlen(name);
    if (n >= 13 && !strcmp(name + n - 13, ".position_ids")) return 1;
    if (!strncmp(name, "visual_projection.", 18) || !strncmp(name, "text_projection.", 16) || !strcmp(name, "logit_scale"))
        return 1;
    return !strncmp(name, cfg->kind == FF_CLIP_VISION ? "text_model." : "vision_model.",
                    cfg->kind == FF_CLIP_VISION ? 11 : 13);
}

static int cmp_name(const void *a, const void *b) { return strcmp(((const ff_param *)a)->name, ((const ff_param *)b)->name); }

static ff_status load_one(ff_weights *w, const ff_param *p, ff_err *err) {
    if (p->dtype == FF_F32) return ff_weights_load(w, p->name, FF_F32, p->slot, err);
    const ff_st_entry *e;
    ff_status st = ff_weights_find(w, p->name, NULL, &e, err);
    if (st) return st;
    if (e->dtype == p->dtype) return ff_weights_load(w, p->name, p->dtype, p->slot, err);
    ff_tensor f;
    if ((st = ff_weights_load(w, p->name, FF_F32, &f, err))) return st;
    if (!(st = ff_tensor_alloc(p->slot, p->dtype, f.ndim, f.shape, err)) && (st = ff_tensor_convert(p->slot, &f, err)))
        ff_tensor_free(p->slot);
    ff_tensor_free(&f);
    return st;
}

static ff_status load_impl(const char *dir, int want, ff_dtype wdt, ff_clip_model **out, ff_weights **weights_out,
                           ff_err *err) {
    *out = NULL;
    if (weights_out) *weights_out = NULL;
    if (wdt != FF_F32 && wdt != FF_BF16)
        return ff_err_set(err, FF_ERR_ARG, "%s: CLIP weights as %s (F32 or BF16 only)", dir, ff_dtype_name(wdt));
    ff_json_doc *doc = NULL;
    ff_weights *w = NULL;
    ff_clip_model *m = NULL;
    ff_param *ps = NULL;
    size_t np = 0;
    ff_clip_config cfg;
    char what[4200];
    snprintf(what, sizeof what, "%s/config.json", dir);
    ff_status st = ff_component_config_dir(dir, &doc, err);
    if (st) goto done;
    if ((st = ff_clip_config_parse(ff_json_root(doc), what, want, &cfg, err))) goto done;
    if ((st = ff_weights_open(dir, &w, err))) goto done;
    if ((st = ff_clip_create(&cfg, &m, err))) goto done;
    if ((st = ff_clip_params(&cfg, m, wdt, &ps, &np, err))) goto done;
    const char *cls = cfg.kind == FF_CLIP_VISION ? "CLIPVisionModel" : "CLIPTextModel";
    for (size_t i = 0; i < np; i++) {
        const ff_st_entry *e;
        if ((st = ff_weights_find(w, ps[i].name, NULL, &e, err))) {
            ff_err_wrap(err, "%s (%s, %d layers): missing weight: ", cls, dir, cfg.layers);
            goto done;
        }
        int same = e->ndim == ps[i].ndim;
        for (int k = 0; same && k < e->ndim; k++) same = e->shape[k] == ps[i].shape[k];
        if (!same) {
            char got[96], wantd[96];
            ff_tensor a, b;
            ff_tensor_view(&a, e->dtype, e->ndim, e->shape, NULL, FF_LOC_HOST);
            ff_tensor_view(&b, FF_F32, ps[i].ndim, ps[i].shape, NULL, FF_LOC_HOST);
            st = ff_err_set(err, FF_ERR_SHAPE, "%s: weight %s is %s, config.json implies %s", dir, ps[i].name,
                            ff_tensor_describe(&a, got, sizeof got), ff_tensor_describe(&b, wantd, sizeof wantd));
            goto done;
        }
        if (weights_out && ps[i].block >= 0) { /* lazy: shape and dtype only */
            ff_tensor_view(ps[i].slot, ps[i].dtype, ps[i].ndim, ps[i].shape, NULL, FF_LOC_HOST);
            continue;
        }
        if ((st = load_one(w, &ps[i], err))) goto done;
    }
    qsort(ps, np, sizeof *ps, cmp_name);
    for (size_t i = 0; i < ff_weights_count(w); i++) {
        const ff_st_entry *e = ff_weights_at(w, i, NULL);
        ff_param key;
        snprintf(key.name, sizeof key.name, "%s", e->name);
        if (ignorable(&cfg, e->name) || bsearch(&key, ps, np, sizeof *ps, cmp_name)) continue;
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: unexpected weight %s (not a %s parameter for this config.json)", dir,
                        e->name, cls);
        goto done;
    }
done:
    free(ps);
    ff_json_free(doc);
    if (st) {
        ff_weights_free(w);
        ff_clip_free(m);
        return st;
    }
    if (weights_out) *weights_out = w;
    else ff_weights_free(w);
    *out = m;
    return FF_OK;
}

ff_status ff_clip_load(const char *dir, int want, ff_dtype wdt, ff_clip_model **out, ff_err *err) {
    return load_impl(dir, want, wdt, out, NULL, err);
}

ff_status ff_clip_load_lazy(const char *dir, int want, ff_dtype wdt, ff_clip_model **out, ff_weights **weights,
                            ff_err *err) {
    return load_impl(dir, want, wdt, out, weights, err);
}

static uint64_t xorshift64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

ff_status ff_clip_init_random(ff_clip_model *m, uint64_t seed, ff_err *err) {
    ff_param *ps;
    size_t np;
    ff_status st = ff_clip_params(&m->cfg, m, FF_F32, &ps, &np, err);
    if (st) return st;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < np && !st; i++) {
        ff_tensor *t = ps[i].slot;
        if ((st = ff_tensor_alloc(t, FF_F32, ps[i].ndim, ps[i].shape, err))) break;
        float a = 0.02f;
        const int is_linear = ps[i].ndim == 2 && !strstr(ps[i].name, "embedding");
        if (is_linear) a = 1.0f / sqrtf((float)ps[i].shape[1]);
        if (ps[i].ndim == 4) a = 1.0f / sqrtf((float)(ps[i].shape[1] * ps[i].shape[2] * ps[i].shape[3]));
        const int is_gain = ps[i].ndim == 1 && strstr(ps[i].name, "norm") && strstr(ps[i].name, ".weight");
        float *d = t->data;
        for (int64_t k = 0; k < ff_tensor_numel(t); k++) {
            float u = (float)((xorshift64(&s) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
            d[k] = is_gain ? 1.0f + 0.1f * u : a * u;
        }
    }
    free(ps);
    return st;
}

static void free_tensor(ff_clip_model *m, ff_tensor *t) {
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

void ff_clip_free(ff_clip_model *m) {
    if (!m) return;
    ff_param *ps;
    size_t np;
    if (ff_clip_params(&m->cfg, m, FF_F32, &ps, &np, NULL) == FF_OK) {
        for (size_t i = 0; i < np; i++) free_tensor(m, ps[i].slot);
        free(ps);
    }
    free(m->layers);
    free(m);
}

static ff_status place_one(ff_clip_model *m, ff_backend *be, ff_tensor *t, const char *name, ff_err *err) {
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

ff_status ff_clip_place(ff_clip_model *m, ff_backend *be, int with_layers, ff_err *err) {
    ff_param *ps;
    size_t np;
    ff_status st = ff_clip_params(&m->cfg, m, FF_F32, &ps, &np, err);
    if (st) return st;
    for (size_t i = 0; i < np && !st; i++)
        if (with_layers || ps[i].block < 0) st = place_one(m, be, ps[i].slot, ps[i].name, err);
    free(ps);
    return st;
}
