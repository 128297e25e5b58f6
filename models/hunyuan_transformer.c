/* hunyuan_transformer: HunyuanVideoTransformer3DModel's config, parameter
 * list, loading (eager, BF16, lazy from the mmap'd file), random init,
 * placement and free. See hunyuan_transformer.h for what it is and is not;
 * the host tables are in hunyuan_embed.c, the forward pass in
 * hunyuan_forward.c. */
#include "models/hunyuan_transformer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_model_dir.h"

/* ---- config ----------------------------------------------------------- */

static ff_status get_int(const ff_json *root, const char *what, const char *key, int64_t dflt, int64_t lo,
                         int64_t hi, int *out, ff_err *err) {
    int64_t v;
    if (ff_json_get_int64(root, key, dflt, &v))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" is not an integer", what, key);
    if (v < lo || v > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" = %lld outside [%lld, %lld]", what, key, (long long)v,
                          (long long)lo, (long long)hi);
    *out = (int)v;
    return FF_OK;
}

ff_status ff_hydit_config_parse(const ff_json *root, const char *what, ff_hydit_config *cfg, ff_err *err) {
    memset(cfg, 0, sizeof *cfg);
    if (!root || root->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", what);
    const char *cls = ff_json_get_string(root, "_class_name");
    if (cls && strcmp(cls, "HunyuanVideoTransformer3DModel") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: _class_name \"%s\" is not HunyuanVideoTransformer3DModel",
                          what, cls);
    const int64_t big = 1 << 20;
    ff_status st;
    if ((st = get_int(root, what, "in_channels", 16, 1, big, &cfg->in_channels, err)) ||
        (st = get_int(root, what, "out_channels", 16, 0, big, &cfg->out_channels, err)) ||
        (st = get_int(root, what, "num_attention_heads", 24, 1, 4096, &cfg->heads, err)) ||
        (st = get_int(root, what, "attention_head_dim", 128, 2, 4096, &cfg->head_dim, err)) ||
        (st = get_int(root, what, "num_layers", 20, 0, 100000, &cfg->num_layers, err)) ||
        (st = get_int(root, what, "num_single_layers", 40, 0, 100000, &cfg->num_single_layers, err)) ||
        (st = get_int(root, what, "num_refiner_layers", 2, 0, 100000, &cfg->num_refiner_layers, err)) ||
        (st = get_int(root, what, "patch_size", 2, 1, 64, &cfg->patch, err)) ||
        (st = get_int(root, what, "patch_size_t", 1, 1, 64, &cfg->patch_t, err)) ||
        (st = get_int(root, what, "text_embed_dim", 4096, 1, big, &cfg->text_embed_dim, err)) ||
        (st = get_int(root, what, "pooled_projection_dim", 768, 1, big, &cfg->pooled_projection_dim, err)))
        return st;
    if (cfg->out_channels == 0) cfg->out_channels = cfg->in_channels; /* out_channels or in_channels */
    if ((int64_t)cfg->heads * cfg->head_dim > big)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: inner dim %d x %d too large", what, cfg->heads, cfg->head_dim);
    cfg->dim = cfg->heads * cfg->head_dim;
    if (ff_json_get_double(root, "mlp_ratio", 4.0, &cfg->mlp_ratio) || !(cfg->mlp_ratio > 0) ||
        cfg->mlp_ratio > 1024)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"mlp_ratio\" must be a number in (0, 1024]", what);
    double mlp = (double)cfg->dim * cfg->mlp_ratio; /* int(hidden_size * mlp_ratio) */
    if (mlp < 1 || mlp > (double)big * 64)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: MLP width %g out of range", what, mlp);
    cfg->mlp_dim = (int)mlp;
    if (ff_json_get_bool(root, "guidance_embeds", 1, &cfg->guidance_embeds))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"guidance_embeds\" is not a boolean", what);
    double theta;
    if (ff_json_get_double(root, "rope_theta", 256.0, &theta) || !(theta > 1.0) || theta > 1e12)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"rope_theta\" must be a number > 1", what);
    cfg->rope_theta = (float)theta;
    const ff_json *ax = ff_json_get(root, "rope_axes_dim");
    if (ff_json_is_null(ax)) {
        cfg->rope_axes_dim[0] = 16, cfg->rope_axes_dim[1] = 56, cfg->rope_axes_dim[2] = 56;
    } else {
        if (ax->type != FF_JSON_ARRAY || ff_json_count(ax) != 3)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"rope_axes_dim\" must be an array of 3 integers", what);
        for (int i = 0; i < 3; i++) {
            int64_t v;
            if (ff_json_int64(ff_json_at(ax, (size_t)i), &v) || v < 0 || v > 4096 || v % 2)
                return ff_err_set(err, FF_ERR_FORMAT, "%s: \"rope_axes_dim\"[%d] must be an even integer in [0, 4096]",
                                  what, i);
            cfg->rope_axes_dim[i] = (int)v;
        }
    }
    if (cfg->rope_axes_dim[0] + cfg->rope_axes_dim[1] + cfg->rope_axes_dim[2] != cfg->head_dim)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: rope_axes_dim [%d, %d, %d] must sum to attention_head_dim %d", what,
                          cfg->rope_axes_dim[0], cfg->rope_axes_dim[1], cfg->rope_axes_dim[2], cfg->head_dim);
    const ff_json *qk = ff_json_get(root, "qk_norm");
    if (!ff_json_is_null(qk)) {
        if (qk->type != FF_JSON_STRING) return ff_err_set(err, FF_ERR_FORMAT, "%s: \"qk_norm\" is not a string", what);
        if (strcmp(qk->str, "rms_norm") != 0)
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: qk_norm \"%s\" not supported (rms_norm only)", what,
                              qk->str);
    }
    const ff_json *ic = ff_json_get(root, "image_condition_type");
    if (!ff_json_is_null(ic)) {
        if (ic->type != FF_JSON_STRING)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"image_condition_type\" is not a string", what);
        if (strcmp(ic->str, "token_replace") == 0)
            return ff_err_set(err, FF_ERR_UNSUPPORTED,
                              "%s: image_condition_type \"token_replace\" (HunyuanVideo I2V) not supported yet", what);
        if (strcmp(ic->str, "latent_concat") != 0)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: unknown image_condition_type \"%s\"", what, ic->str);
    }
    cfg->ffn_rows = 0; /* runtime knob, not from config.json: the default */
    return FF_OK;
}

ff_status ff_hydit_config_load(const char *path, ff_hydit_config *cfg, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    st = ff_hydit_config_parse(ff_json_root(doc), path, cfg, err);
    ff_json_free(doc);
    return st;
}

/* ---- parameter list ---------------------------------------------------- */

/* A list being built: out may be NULL (counting). */
typedef struct {
    ff_param *out;
    size_t n;
    int block;
    ff_dtype wdt; /* weight_dtype of ff_hydit_load_as */
    int narrow;   /* 2-D weights of this part are kept in wdt */
} plist;

static void add(plist *l, ff_tensor *slot, int ndim, const int64_t *shape, ff_dtype dt, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void add(plist *l, ff_tensor *slot, int ndim, const int64_t *shape, ff_dtype dt, const char *fmt, ...) {
    if (l->out) {
        ff_param *p = &l->out[l->n];
        memset(p, 0, sizeof *p);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->name, sizeof p->name, fmt, ap);
        va_end(ap);
        p->ndim = ndim;
        for (int i = 0; i < FF_MAX_DIMS; i++) p->shape[i] = i < ndim ? shape[i] : 1;
        p->dtype = dt;
        p->block = l->block;
        p->slot = slot;
    }
    l->n++;
}

#define SLOT(ptr, field) ((ptr) ? &(ptr)->field : NULL)

static void add_vec(plist *l, ff_tensor *slot, int64_t n, const char *name) {
    int64_t s[1] = {n};
    add(l, slot, 1, s, FF_F32, "%s", name);
}

static void add_linear(plist *l, ff_hydit_linear *lin, int64_t nout, int64_t nin, const char *prefix) {
    int64_t ws[2] = {nout, nin}, bs[1] = {nout};
    add(l, SLOT(lin, weight), 2, ws, l->narrow ? l->wdt : FF_F32, "%s.weight", prefix);
    add(l, SLOT(lin, bias), 1, bs, FF_F32, "%s.bias", prefix);
}

static void add_mlp2(plist *l, ff_hydit_mlp2 *m, int64_t d, int64_t in, const char *prefix) {
    char p[FF_PARAM_NAME_MAX];
    snprintf(p, sizeof p, "%s.linear_1", prefix);
    add_linear(l, SLOT(m, linear_1), d, in, p);
    snprintf(p, sizeof p, "%s.linear_2", prefix);
    add_linear(l, SLOT(m, linear_2), d, d, p);
}

#define LIN(l, m, field, nout, nin, ...)                                    \
    do {                                                                    \
        char p_[FF_PARAM_NAME_MAX];                                         \
        snprintf(p_, sizeof p_, __VA_ARGS__);                               \
        add_linear((l), SLOT((m), field), (nout), (nin), p_);               \
    } while (0)

static void dual_params(const ff_hydit_config *c, int i, ff_hydit_dual *b, plist *l) {
    const int64_t D = c->dim, F = c->mlp_dim, hd = c->head_dim;
    char p[FF_PARAM_NAME_MAX];
    LIN(l, b, norm1, 6 * D, D, "transformer_blocks.%d.norm1.linear", i);
    LIN(l, b, norm1_context, 6 * D, D, "transformer_blocks.%d.norm1_context.linear", i);
    LIN(l, b, to_q, D, D, "transformer_blocks.%d.attn.to_q", i);
    LIN(l, b, to_k, D, D, "transformer_blocks.%d.attn.to_k", i);
    LIN(l, b, to_v, D, D, "transformer_blocks.%d.attn.to_v", i);
    LIN(l, b, add_q_proj, D, D, "transformer_blocks.%d.attn.add_q_proj", i);
    LIN(l, b, add_k_proj, D, D, "transformer_blocks.%d.attn.add_k_proj", i);
    LIN(l, b, add_v_proj, D, D, "transformer_blocks.%d.attn.add_v_proj", i);
    LIN(l, b, to_out, D, D, "transformer_blocks.%d.attn.to_out.0", i);
    LIN(l, b, to_add_out, D, D, "transformer_blocks.%d.attn.to_add_out", i);
    snprintf(p, sizeof p, "transformer_blocks.%d.attn.norm_q.weight", i);
    add_vec(l, SLOT(b, norm_q), hd, p);
    snprintf(p, sizeof p, "transformer_blocks.%d.attn.norm_k.weight", i);
    add_vec(l, SLOT(b, norm_k), hd, p);
    snprintf(p, sizeof p, "transformer_blocks.%d.attn.norm_added_q.weight", i);
    add_vec(l, SLOT(b, norm_added_q), hd, p);
    snprintf(p, sizeof p, "transformer_blocks.%d.attn.norm_added_k.weight", i);
    add_vec(l, SLOT(b, norm_added_k), hd, p);
    LIN(l, b, ff_in, F, D, "transformer_blocks.%d.ff.net.0.proj", i);
    LIN(l, b, ff_out, D, F, "transformer_blocks.%d.ff.net.2", i);
    LIN(l, b, ffc_in, F, D, "transformer_blocks.%d.ff_context.net.0.proj", i);
    LIN(l, b, ffc_out, D, F, "transformer_blocks.%d.ff_context.net.2", i);
}

static void single_params(const ff_hydit_config *c, int i, ff_hydit_single *b, plist *l) {
    const int64_t D = c->dim, F = c->mlp_dim, hd = c->head_dim;
    char p[FF_PARAM_NAME_MAX];
    LIN(l, b, norm, 3 * D, D, "single_transformer_blocks.%d.norm.linear", i);
    LIN(l, b, to_q, D, D, "single_transformer_blocks.%d.attn.to_q", i);
    LIN(l, b, to_k, D, D, "single_transformer_blocks.%d.attn.to_k", i);
    LIN(l, b, to_v, D, D, "single_transformer_blocks.%d.attn.to_v", i);
    snprintf(p, sizeof p, "single_transformer_blocks.%d.attn.norm_q.weight", i);
    add_vec(l, SLOT(b, norm_q), hd, p);
    snprintf(p, sizeof p, "single_transformer_blocks.%d.attn.norm_k.weight", i);
    add_vec(l, SLOT(b, norm_k), hd, p);
    LIN(l, b, proj_mlp, F, D, "single_transformer_blocks.%d.proj_mlp", i);
    LIN(l, b, proj_out, D, D + F, "single_transformer_blocks.%d.proj_out", i);
}

static void refiner_params(const ff_hydit_config *c, int i, ff_hydit_refiner_block *b, plist *l) {
    const int64_t D = c->dim, R = 4 * D; /* the refiner's FF ratio is 4.0 whatever mlp_ratio says */
    char p[FF_PARAM_NAME_MAX];
    const char *pre = "context_embedder.token_refiner.refiner_blocks";
    snprintf(p, sizeof p, "%s.%d.norm1.weight", pre, i);
    add_vec(l, SLOT(b, norm1_w), D, p);
    snprintf(p, sizeof p, "%s.%d.norm1.bias", pre, i);
    add_vec(l, SLOT(b, norm1_b), D, p);
    LIN(l, b, to_q, D, D, "%s.%d.attn.to_q", pre, i);
    LIN(l, b, to_k, D, D, "%s.%d.attn.to_k", pre, i);
    LIN(l, b, to_v, D, D, "%s.%d.attn.to_v", pre, i);
    LIN(l, b, to_out, D, D, "%s.%d.attn.to_out.0", pre, i);
    snprintf(p, sizeof p, "%s.%d.norm2.weight", pre, i);
    add_vec(l, SLOT(b, norm2_w), D, p);
    snprintf(p, sizeof p, "%s.%d.norm2.bias", pre, i);
    add_vec(l, SLOT(b, norm2_b), D, p);
    LIN(l, b, ff_in, R, D, "%s.%d.ff.net.0.proj", pre, i);
    LIN(l, b, ff_out, D, R, "%s.%d.ff.net.2", pre, i);
    LIN(l, b, norm_out, 2 * D, D, "%s.%d.norm_out.linear", pre, i);
}

/* Non-block parameters in module order; the refiner's part counted in *n_ref. */
static void nonblock_params(const ff_hydit_config *c, ff_hydit_model *m, plist *l, size_t *n_ref) {
    const int64_t D = c->dim, Dt = c->text_embed_dim;
    const int64_t pc = (int64_t)c->patch_t * c->patch * c->patch * c->out_channels;
    const int64_t xw[5] = {D, c->in_channels, c->patch_t, c->patch, c->patch};
    l->block = -1;
    l->narrow = 0;
    add(l, SLOT(m, x_embedder_w), 5, xw, FF_F32, "x_embedder.proj.weight");
    add_vec(l, SLOT(m, x_embedder_b), D, "x_embedder.proj.bias");
    size_t r0 = l->n;
    add_mlp2(l, SLOT(m, ctx_timestep_embedder), D, 256, "context_embedder.time_text_embed.timestep_embedder");
    add_mlp2(l, SLOT(m, ctx_text_embedder), D, Dt, "context_embedder.time_text_embed.text_embedder");
    l->narrow = 1;
    add_linear(l, SLOT(m, ctx_proj_in), D, Dt, "context_embedder.proj_in");
    for (int i = 0; i < c->num_refiner_layers; i++) refiner_params(c, i, m ? &m->refiner[i] : NULL, l);
    if (n_ref) *n_ref = l->n - r0;
    l->narrow = 0;
    add_mlp2(l, SLOT(m, timestep_embedder), D, 256, "time_text_embed.timestep_embedder");
    add_mlp2(l, SLOT(m, text_embedder), D, c->pooled_projection_dim, "time_text_embed.text_embedder");
    if (c->guidance_embeds) add_mlp2(l, SLOT(m, guidance_embedder), D, 256, "time_text_embed.guidance_embedder");
    l->narrow = 1;
    add_linear(l, SLOT(m, norm_out), 2 * D, D, "norm_out.linear");
    add_linear(l, SLOT(m, proj_out), pc, D, "proj_out");
}

size_t ff_hydit_block_params(const ff_hydit_config *cfg, int index, ff_hydit_model *m, ff_dtype weight_dtype,
                             ff_param *out) {
    plist l = {out, 0, index, weight_dtype, 1};
    if (index < 0 || index >= ff_hydit_n_blocks(cfg)) return 0;
    if (index < cfg->num_layers)
        dual_params(cfg, index, m ? &m->dual[index] : NULL, &l);
    else
        single_params(cfg, index - cfg->num_layers, m ? &m->single[index - cfg->num_layers] : NULL, &l);
    return l.n;
}

ff_status ff_hydit_params(const ff_hydit_config *cfg, ff_hydit_model *m, ff_dtype weight_dtype, ff_param **out,
                          size_t *n, ff_err *err) {
    *out = NULL;
    *n = 0;
    plist cnt = {NULL, 0, -1, weight_dtype, 0};
    nonblock_params(cfg, NULL, &cnt, NULL);
    size_t total = cnt.n;
    for (int i = 0; i < ff_hydit_n_blocks(cfg); i++) total += ff_hydit_block_params(cfg, i, NULL, weight_dtype, NULL);
    ff_param *p = calloc(total ? total : 1, sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the list of %zu transformer parameters", total);
    plist l = {p, 0, -1, weight_dtype, 0};
    nonblock_params(cfg, m, &l, NULL);
    for (int i = 0; i < ff_hydit_n_blocks(cfg); i++) l.n += ff_hydit_block_params(cfg, i, m, weight_dtype, p + l.n);
    if (l.n != total) {
        free(p);
        return ff_err_set(err, FF_ERR_ARG, "ff_hydit_params: listed %zu of %zu parameters", l.n, total);
    }
    *out = p;
    *n = l.n;
    return FF_OK;
}

ff_status ff_hydit_count_params(const ff_hydit_config *cfg, ff_hydit_counts *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    ff_param buf[FF_HYDIT_BLOCK_PARAMS_MAX];
    if (cfg->num_layers > 0) {
        size_t n = ff_hydit_block_params(cfg, 0, NULL, FF_F32, buf);
        for (size_t i = 0; i < n; i++) out->per_dual += ff_param_numel(&buf[i]);
    }
    if (cfg->num_single_layers > 0) {
        size_t n = ff_hydit_block_params(cfg, cfg->num_layers, NULL, FF_F32, buf);
        for (size_t i = 0; i < n; i++) out->per_single += ff_param_numel(&buf[i]);
    }
    plist cnt = {NULL, 0, -1, FF_F32, 0};
    nonblock_params(cfg, NULL, &cnt, NULL);
    ff_param *nb = calloc(cnt.n, sizeof *nb);
    if (!nb) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the list of %zu transformer parameters", cnt.n);
    plist l = {nb, 0, -1, FF_F32, 0};
    size_t n_ref = 0;
    nonblock_params(cfg, NULL, &l, &n_ref);
    for (size_t i = 0; i < l.n; i++) { /* the refiner's entries follow x_embedder's two */
        out->non_block += ff_param_numel(&nb[i]);
        if (i >= 2 && i < 2 + n_ref) out->refiner += ff_param_numel(&nb[i]);
    }
    free(nb);
    out->total = out->non_block + (int64_t)cfg->num_layers * out->per_dual +
                 (int64_t)cfg->num_single_layers * out->per_single;
    return FF_OK;
}

/* ---- create, load, random init, placement, free ------------------------ */

ff_status ff_hydit_create(const ff_hydit_config *cfg, ff_hydit_model **out, ff_err *err) {
    ff_hydit_model *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the transformer model");
    m->cfg = *cfg;
    m->weight_dtype = FF_F32;
    if (cfg->num_refiner_layers > 0) m->refiner = calloc((size_t)cfg->num_refiner_layers, sizeof *m->refiner);
    if (cfg->num_layers > 0) m->dual = calloc((size_t)cfg->num_layers, sizeof *m->dual);
    if (cfg->num_single_layers > 0) m->single = calloc((size_t)cfg->num_single_layers, sizeof *m->single);
    if ((cfg->num_refiner_layers > 0 && !m->refiner) || (cfg->num_layers > 0 && !m->dual) ||
        (cfg->num_single_layers > 0 && !m->single)) {
        ff_hydit_free(m);
        return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate %d + %d + %d transformer blocks", cfg->num_refiner_layers,
                          cfg->num_layers, cfg->num_single_layers);
    }
    *out = m;
    return FF_OK;
}

static int cmp_param_name(const void *a, const void *b) {
    return strcmp(((const ff_param *)a)->name, ((const ff_param *)b)->name);
}

/* Loads one parameter into its slot in p->dtype (converting from the file's
 * dtype as torch's .to() would). */
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

/* ff_hydit_load_as, or (weights_out != NULL) ff_hydit_load_lazy. */
static ff_status load_impl(const char *component_dir, ff_dtype wdt, ff_hydit_model **out, ff_weights **weights_out,
                           ff_err *err) {
    *out = NULL;
    if (weights_out) *weights_out = NULL;
    if (wdt != FF_F32 && wdt != FF_BF16)
        return ff_err_set(err, FF_ERR_ARG, "%s: transformer weights as %s (F32 or BF16 only)", component_dir,
                          ff_dtype_name(wdt));
    ff_json_doc *doc = NULL;
    ff_weights *w = NULL;
    ff_hydit_model *m = NULL;
    ff_param *ps = NULL;
    size_t np = 0;
    ff_hydit_config cfg;
    char what[4200];
    snprintf(what, sizeof what, "%s/config.json", component_dir);
    ff_status st = ff_component_config_dir(component_dir, &doc, err);
    if (st) goto done;
    if ((st = ff_hydit_config_parse(ff_json_root(doc), what, &cfg, err))) goto done;
    if ((st = ff_weights_open(component_dir, &w, err))) goto done;
    if ((st = ff_hydit_create(&cfg, &m, err))) goto done;
    m->weight_dtype = wdt;
    if ((st = ff_hydit_params(&cfg, m, wdt, &ps, &np, err))) goto done;
    for (size_t i = 0; i < np; i++) {
        const ff_st_entry *e;
        if ((st = ff_weights_find(w, ps[i].name, NULL, &e, err))) {
            ff_err_wrap(err, "HunyuanVideoTransformer3DModel (%s, %d + %d layers): missing weight: ", component_dir,
                        cfg.num_layers, cfg.num_single_layers);
            goto done;
        }
        int same = e->ndim == ps[i].ndim;
        for (int k = 0; same && k < e->ndim; k++) same = e->shape[k] == ps[i].shape[k];
        if (!same) {
            char got[96], want[96];
            ff_tensor a, b;
            ff_tensor_view(&a, e->dtype, e->ndim, e->shape, NULL, FF_LOC_HOST);
            ff_tensor_view(&b, FF_F32, ps[i].ndim, ps[i].shape, NULL, FF_LOC_HOST);
            st = ff_err_set(err, FF_ERR_SHAPE, "%s: weight %s is %s, config.json implies %s", component_dir, ps[i].name,
                            ff_tensor_describe(&a, got, sizeof got), ff_tensor_describe(&b, want, sizeof want));
            goto done;
        }
        if (weights_out && ps[i].block >= 0) { /* lazy: shape and host dtype only, no data */
            ff_tensor_view(ps[i].slot, ps[i].dtype, ps[i].ndim, ps[i].shape, NULL, FF_LOC_HOST);
            continue;
        }
        if ((st = load_param(w, e, &ps[i], err))) goto done;
    }
    /* Strict load: every tensor of the file must be a parameter. */
    qsort(ps, np, sizeof *ps, cmp_param_name);
    for (size_t i = 0; i < ff_weights_count(w); i++) {
        const ff_st_entry *e = ff_weights_at(w, i, NULL);
        ff_param key;
        snprintf(key.name, sizeof key.name, "%s", e->name);
        if (bsearch(&key, ps, np, sizeof *ps, cmp_param_name)) continue;
        st =
            ff_err_set(err, FF_ERR_FORMAT,
                       "%s: unexpected weight %s (not a HunyuanVideoTransformer3DModel parameter for this config.json)",
                       component_dir, e->name);
        goto done;
    }
done:
    free(ps);
    ff_json_free(doc);
    if (st) {
        ff_weights_free(w);
        ff_hydit_free(m);
        return st;
    }
    if (weights_out) *weights_out = w;
    else ff_weights_free(w);
    *out = m;
    return FF_OK;
}

ff_status ff_hydit_load(const char *component_dir, ff_hydit_model **out, ff_err *err) {
    return load_impl(component_dir, FF_F32, out, NULL, err);
}

ff_status ff_hydit_load_as(const char *component_dir, ff_dtype weight_dtype, ff_hydit_model **out, ff_err *err) {
    return load_impl(component_dir, weight_dtype, out, NULL, err);
}

ff_status ff_hydit_load_lazy(const char *component_dir, ff_dtype weight_dtype, ff_hydit_model **out,
                             ff_weights **weights, ff_err *err) {
    return load_impl(component_dir, weight_dtype, out, weights, err);
}

static uint64_t xorshift64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

ff_status ff_hydit_init_random(ff_hydit_model *m, uint64_t seed, ff_err *err) {
    ff_param *ps;
    size_t np;
    ff_status st = ff_hydit_params(&m->cfg, m, FF_F32, &ps, &np, err);
    if (st) return st;
    m->weight_dtype = FF_F32;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < np && !st; i++) {
        ff_tensor *t = ps[i].slot;
        if (t->data) continue;
        if ((st = ff_tensor_alloc(t, FF_F32, ps[i].ndim, ps[i].shape, err))) break;
        int64_t fan_in = 1;
        for (int k = 1; k < ps[i].ndim; k++) fan_in *= ps[i].shape[k];
        const int is_norm = strstr(ps[i].name, "norm") && ps[i].ndim == 1 && strstr(ps[i].name, ".weight");
        const float a = ps[i].ndim >= 2 ? 1.0f / sqrtf((float)fan_in) : 0.02f;
        float *d = t->data;
        for (int64_t k = 0; k < ff_tensor_numel(t); k++) {
            float u = (float)((xorshift64(&s) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
            d[k] = is_norm ? 1.0f + 0.1f * u : a * u;
        }
    }
    free(ps);
    return st;
}

static void free_tensor(ff_hydit_model *m, ff_tensor *t) {
    if (!t->data) { /* shape-only (lazy) or empty */
        memset(t, 0, sizeof *t);
        return;
    }
    if (t->loc != FF_LOC_HOST) {
        if (m->be) ff_be_free(m->be, t); /* placed by ff_hydit_place */
    } else {
        ff_tensor_free(t);
    }
    memset(t, 0, sizeof *t);
}

void ff_hydit_free(ff_hydit_model *m) {
    if (!m) return;
    ff_param *ps;
    size_t np;
    if ((m->refiner || m->cfg.num_refiner_layers == 0) && (m->dual || m->cfg.num_layers == 0) &&
        (m->single || m->cfg.num_single_layers == 0) &&
        ff_hydit_params(&m->cfg, m, m->weight_dtype, &ps, &np, NULL) == FF_OK) {
        for (size_t i = 0; i < np; i++) free_tensor(m, ps[i].slot);
        free(ps);
    }
    free(m->refiner);
    free(m->dual);
    free(m->single);
    free(m);
}

static ff_status place_one(ff_hydit_model *m, ff_backend *be, ff_tensor *t, const char *name, ff_err *err) {
    if (!t->data || t->loc != FF_LOC_HOST || ff_backend_kind_of(be) == FF_BACKEND_CPU) return FF_OK;
    if (m->be && m->be != be)
        return ff_err_set(err, FF_ERR_ARG, "transformer: %s: the model is already placed on %s", name,
                          ff_backend_name(m->be));
    ff_tensor d;
    ff_status st = ff_be_alloc(be, &d, t->dtype, t->ndim, t->shape, err);
    if (st) return ff_err_wrap(err, "uploading %s: ", name);
    if ((st = ff_be_upload(be, &d, t, err))) {
        ff_be_free(be, &d);
        return ff_err_wrap(err, "uploading %s: ", name);
    }
    ff_tensor_free(t);
    *t = d; /* backend memory: freed with ff_be_free */
    m->be = be;
    return FF_OK;
}

ff_status ff_hydit_place(ff_hydit_model *m, ff_backend *be, int with_blocks, ff_err *err) {
    ff_param *ps;
    size_t np;
    ff_status st = ff_hydit_params(&m->cfg, m, m->weight_dtype, &ps, &np, err);
    if (st) return st;
    for (size_t i = 0; i < np && !st; i++)
        if (with_blocks || ps[i].block < 0) st = place_one(m, be, ps[i].slot, ps[i].name, err);
    free(ps);
    return st;
}
