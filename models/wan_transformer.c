/* wan_transformer: diffusers WanTransformer3DModel (transformer_wan.py) on
 * kernels/ops.h. See wan_transformer.h for what it is and is not; the
 * numerics follow shared/golden/README.md section 4 "WanTransformer3DModel".
 *
 * Config, parameter list, loading and placement live here; the RoPE and
 * timestep tables are in wan_rope.c, the forward pass in wan_forward.c. */
#include "models/wan_transformer.h"

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

ff_status ff_wandit_config_parse(const ff_json *root, const char *what, ff_wandit_config *cfg, ff_err *err) {
    memset(cfg, 0, sizeof *cfg);
    if (!root || root->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", what);
    const char *cls = ff_json_get_string(root, "_class_name");
    if (cls && strcmp(cls, "WanTransformer3DModel") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: _class_name \"%s\" is not WanTransformer3DModel", what, cls);

    const ff_json *ps = ff_json_get(root, "patch_size");
    if (ff_json_is_null(ps)) {
        cfg->patch[0] = 1, cfg->patch[1] = 2, cfg->patch[2] = 2;
    } else {
        if (ps->type != FF_JSON_ARRAY || ff_json_count(ps) != 3)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"patch_size\" must be an array of 3 integers", what);
        for (int i = 0; i < 3; i++) {
            int64_t v;
            if (ff_json_int64(ff_json_at(ps, (size_t)i), &v) || v < 1 || v > 64)
                return ff_err_set(err, FF_ERR_FORMAT, "%s: \"patch_size\"[%d] must be an integer in [1, 64]", what, i);
            cfg->patch[i] = (int)v;
        }
    }
    ff_status st;
    const int64_t big = 1 << 20;
    if ((st = get_int(root, what, "num_attention_heads", 40, 1, 4096, &cfg->heads, err)) ||
        (st = get_int(root, what, "attention_head_dim", 128, 2, 4096, &cfg->head_dim, err)) ||
        (st = get_int(root, what, "in_channels", 16, 1, big, &cfg->in_channels, err)) ||
        (st = get_int(root, what, "out_channels", 0, 0, big, &cfg->out_channels, err)) ||
        (st = get_int(root, what, "text_dim", 4096, 1, big, &cfg->text_dim, err)) ||
        (st = get_int(root, what, "freq_dim", 256, 1, big, &cfg->freq_dim, err)) ||
        (st = get_int(root, what, "ffn_dim", 13824, 1, big, &cfg->ffn_dim, err)) ||
        (st = get_int(root, what, "num_layers", 40, 0, 100000, &cfg->num_layers, err)) ||
        (st = get_int(root, what, "rope_max_seq_len", 1024, 1, big, &cfg->rope_max_seq_len, err)))
        return st;
    if (cfg->out_channels == 0) cfg->out_channels = cfg->in_channels; /* out_channels or in_channels */
    /* Image conditioning (Wan 2.1 I2V / FLF2V): image_embedder and the added
     * k/v projections of attn2; null (absent) is 0. */
    if ((st = get_int(root, what, "image_dim", 0, 0, big, &cfg->image_dim, err)) ||
        (st = get_int(root, what, "added_kv_proj_dim", 0, 0, big, &cfg->added_kv_proj_dim, err)) ||
        (st = get_int(root, what, "pos_embed_seq_len", 0, 0, big, &cfg->pos_embed_seq_len, err)))
        return st;
    if (!cfg->image_dim != !cfg->added_kv_proj_dim)
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: \"%s\" is set without \"%s\" (image tokens joined to the text context): not supported, "
                          "Wan I2V sets both",
                          what, cfg->image_dim ? "image_dim" : "added_kv_proj_dim",
                          cfg->image_dim ? "added_kv_proj_dim" : "image_dim");
    if (!cfg->image_dim) cfg->pos_embed_seq_len = 0; /* no image_embedder, no pos_embed */
    if (cfg->head_dim % 2)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: attention_head_dim %d must be even (rotary pairs)", what,
                          cfg->head_dim);
    if ((int64_t)cfg->heads * cfg->head_dim > big)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: inner dim %d x %d too large", what, cfg->heads, cfg->head_dim);
    cfg->dim = cfg->heads * cfg->head_dim;
    if (cfg->added_kv_proj_dim && cfg->added_kv_proj_dim != cfg->dim)
        return ff_err_set(err, FF_ERR_FORMAT,
                          "%s: added_kv_proj_dim %d must equal the inner dim %d (add_k_proj reads the embedded image)",
                          what, cfg->added_kv_proj_dim, cfg->dim);
    if (ff_json_get_bool(root, "cross_attn_norm", 1, &cfg->cross_attn_norm))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"cross_attn_norm\" is not a boolean", what);
    double eps;
    if (ff_json_get_double(root, "eps", 1e-6, &eps) || !(eps >= 0) || eps > 1)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"eps\" must be a number in [0, 1]", what);
    cfg->eps = (float)eps;
    /* qk_norm: diffusers' WanAttention builds norm_q / norm_k (RMSNorm over
     * the full inner dim) whatever this says; any other value is only
     * accepted when it is the same thing. */
    const ff_json *qk = ff_json_get(root, "qk_norm");
    if (!ff_json_is_null(qk)) {
        if (qk->type != FF_JSON_STRING)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"qk_norm\" is not a string", what);
        if (strcmp(qk->str, "rms_norm_across_heads") != 0)
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: qk_norm \"%s\" not supported (rms_norm_across_heads only)",
                              what, qk->str);
    }
    return FF_OK;
}

ff_status ff_wandit_config_load(const char *path, ff_wandit_config *cfg, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    st = ff_wandit_config_parse(ff_json_root(doc), path, cfg, err);
    ff_json_free(doc);
    return st;
}

/* ---- parameter list ---------------------------------------------------- */

static void add_param(ff_param *out, size_t *n, int block, ff_tensor *slot, int ndim, const int64_t *shape,
                      const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void add_param(ff_param *out, size_t *n, int block, ff_tensor *slot, int ndim, const int64_t *shape,
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
        p->dtype = FF_F32;
        p->block = block;
        p->slot = slot;
    }
    (*n)++;
}

#define SLOT(ptr, field) ((ptr) ? &(ptr)->field : NULL)

static void add_linear(ff_param *out, size_t *n, int block, ff_wandit_linear *l, int64_t nout, int64_t nin,
                       const char *prefix) {
    int64_t ws[2] = {nout, nin}, bs[1] = {nout};
    add_param(out, n, block, SLOT(l, weight), 2, ws, "%s.weight", prefix);
    add_param(out, n, block, SLOT(l, bias), 1, bs, "%s.bias", prefix);
}

static void add_attn(ff_param *out, size_t *n, int block, ff_wandit_attn *a, int64_t d, const char *prefix) {
    char p[FF_PARAM_NAME_MAX];
    int64_t ds[1] = {d};
    snprintf(p, sizeof p, "%s.to_q", prefix);
    add_linear(out, n, block, SLOT(a, to_q), d, d, p);
    snprintf(p, sizeof p, "%s.to_k", prefix);
    add_linear(out, n, block, SLOT(a, to_k), d, d, p);
    snprintf(p, sizeof p, "%s.to_v", prefix);
    add_linear(out, n, block, SLOT(a, to_v), d, d, p);
    snprintf(p, sizeof p, "%s.to_out.0", prefix);
    add_linear(out, n, block, SLOT(a, to_out), d, d, p);
    add_param(out, n, block, SLOT(a, norm_q), 1, ds, "%s.norm_q.weight", prefix);
    add_param(out, n, block, SLOT(a, norm_k), 1, ds, "%s.norm_k.weight", prefix);
}

size_t ff_wandit_block_params(const ff_wandit_config *cfg, int index, ff_wandit_block *blk, ff_param *out) {
    size_t n = 0;
    int64_t d = cfg->dim, f = cfg->ffn_dim;
    int64_t sst[3] = {1, 6, d}, ds[1] = {d};
    char p[FF_PARAM_NAME_MAX];
    add_param(out, &n, index, SLOT(blk, scale_shift_table), 3, sst, "blocks.%d.scale_shift_table", index);
    snprintf(p, sizeof p, "blocks.%d.attn1", index);
    add_attn(out, &n, index, SLOT(blk, attn1), d, p);
    snprintf(p, sizeof p, "blocks.%d.attn2", index);
    add_attn(out, &n, index, SLOT(blk, attn2), d, p);
    if (cfg->added_kv_proj_dim) { /* I2V: attn2's image branch */
        snprintf(p, sizeof p, "blocks.%d.attn2.add_k_proj", index);
        add_linear(out, &n, index, blk ? &blk->attn2.add_k_proj : NULL, d, cfg->added_kv_proj_dim, p);
        snprintf(p, sizeof p, "blocks.%d.attn2.add_v_proj", index);
        add_linear(out, &n, index, blk ? &blk->attn2.add_v_proj : NULL, d, cfg->added_kv_proj_dim, p);
        add_param(out, &n, index, blk ? &blk->attn2.norm_added_k : NULL, 1, ds, "blocks.%d.attn2.norm_added_k.weight",
                  index);
    }
    if (cfg->cross_attn_norm) {
        add_param(out, &n, index, SLOT(blk, norm2_weight), 1, ds, "blocks.%d.norm2.weight", index);
        add_param(out, &n, index, SLOT(blk, norm2_bias), 1, ds, "blocks.%d.norm2.bias", index);
    }
    snprintf(p, sizeof p, "blocks.%d.ffn.net.0.proj", index);
    add_linear(out, &n, index, SLOT(blk, ffn_in), f, d, p);
    snprintf(p, sizeof p, "blocks.%d.ffn.net.2", index);
    add_linear(out, &n, index, SLOT(blk, ffn_out), d, f, p);
    return n;
}

static size_t nonblock_params(const ff_wandit_config *cfg, ff_wandit_model *m, ff_param *out) {
    size_t n = 0;
    int64_t d = cfg->dim;
    int64_t pw[5] = {d, cfg->in_channels, cfg->patch[0], cfg->patch[1], cfg->patch[2]}, ds[1] = {d};
    int64_t sst[3] = {1, 2, d};
    int64_t pc = (int64_t)cfg->patch[0] * cfg->patch[1] * cfg->patch[2] * cfg->out_channels;
    add_param(out, &n, -1, SLOT(m, patch_embedding_weight), 5, pw, "patch_embedding.weight");
    add_param(out, &n, -1, SLOT(m, patch_embedding_bias), 1, ds, "patch_embedding.bias");
    add_linear(out, &n, -1, SLOT(m, time_linear_1), d, cfg->freq_dim, "condition_embedder.time_embedder.linear_1");
    add_linear(out, &n, -1, SLOT(m, time_linear_2), d, d, "condition_embedder.time_embedder.linear_2");
    add_linear(out, &n, -1, SLOT(m, time_proj), 6 * d, d, "condition_embedder.time_proj");
    add_linear(out, &n, -1, SLOT(m, text_linear_1), d, cfg->text_dim, "condition_embedder.text_embedder.linear_1");
    add_linear(out, &n, -1, SLOT(m, text_linear_2), d, d, "condition_embedder.text_embedder.linear_2");
    if (cfg->image_dim) { /* WanImageEmbedding */
        const int64_t id = cfg->image_dim, is[1] = {id}, pe[3] = {1, cfg->pos_embed_seq_len, id};
        if (cfg->pos_embed_seq_len)
            add_param(out, &n, -1, SLOT(m, img_pos_embed), 3, pe, "condition_embedder.image_embedder.pos_embed");
        add_param(out, &n, -1, SLOT(m, img_norm1_weight), 1, is, "condition_embedder.image_embedder.norm1.weight");
        add_param(out, &n, -1, SLOT(m, img_norm1_bias), 1, is, "condition_embedder.image_embedder.norm1.bias");
        add_linear(out, &n, -1, SLOT(m, img_ff_in), id, id, "condition_embedder.image_embedder.ff.net.0.proj");
        add_linear(out, &n, -1, SLOT(m, img_ff_out), d, id, "condition_embedder.image_embedder.ff.net.2");
        add_param(out, &n, -1, SLOT(m, img_norm2_weight), 1, ds, "condition_embedder.image_embedder.norm2.weight");
        add_param(out, &n, -1, SLOT(m, img_norm2_bias), 1, ds, "condition_embedder.image_embedder.norm2.bias");
    }
    add_param(out, &n, -1, SLOT(m, scale_shift_table), 3, sst, "scale_shift_table");
    add_linear(out, &n, -1, SLOT(m, proj_out), pc, d, "proj_out");
    return n;
}

ff_status ff_wandit_params(const ff_wandit_config *cfg, ff_wandit_model *m, ff_param **out, size_t *n, ff_err *err) {
    *out = NULL;
    *n = 0;
    if (m && cfg->num_layers > 0 && !m->blocks)
        return ff_err_set(err, FF_ERR_ARG, "ff_wandit_params: model has no block table");
    size_t total = nonblock_params(cfg, NULL, NULL) + (size_t)cfg->num_layers * ff_wandit_block_params(cfg, 0, NULL, NULL);
    ff_param *p = calloc(total ? total : 1, sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the list of %zu transformer parameters", total);
    size_t k = nonblock_params(cfg, m, p);
    for (int i = 0; i < cfg->num_layers; i++) k += ff_wandit_block_params(cfg, i, m ? &m->blocks[i] : NULL, p + k);
    *out = p;
    *n = k;
    return FF_OK;
}

/* Parameters that ff_wandit_load_as may narrow: matrices outside the fp32 modules. */
static int narrowable(const ff_param *p) {
    return (p->ndim == 2 || p->ndim == 5) && !strstr(p->name, "time_embedder");
}

ff_dtype ff_wandit_param_dtype(const ff_param *p, ff_dtype weight_dtype) {
    return weight_dtype == FF_F32 || !narrowable(p) ? FF_F32 : weight_dtype;
}

ff_status ff_wandit_params_as(const ff_wandit_config *cfg, ff_dtype weight_dtype, ff_wandit_model *m, ff_param **out,
                              size_t *n, ff_err *err) {
    ff_status st = ff_wandit_params(cfg, m, out, n, err);
    for (size_t i = 0; !st && i < *n; i++) (*out)[i].dtype = ff_wandit_param_dtype(&(*out)[i], weight_dtype);
    return st;
}


ff_status ff_wandit_count_params(const ff_wandit_config *cfg, ff_wandit_counts *out, ff_err *err) {
    ff_param blk[FF_WANDIT_BLOCK_PARAMS_MAX], nb[32];
    memset(out, 0, sizeof *out);
    size_t n = ff_wandit_block_params(cfg, 0, NULL, blk);
    for (size_t i = 0; i < n; i++) out->per_block += ff_param_numel(&blk[i]);
    n = nonblock_params(cfg, NULL, nb);
    for (size_t i = 0; i < n; i++) out->non_block += ff_param_numel(&nb[i]);
    out->total = out->non_block + (int64_t)cfg->num_layers * out->per_block;
    (void)err;
    return FF_OK;
}

/* ---- loading, random init, placement, free ----------------------------- */

ff_status ff_wandit_create(const ff_wandit_config *cfg, ff_wandit_model **out, ff_err *err) {
    ff_wandit_model *m = calloc(1, sizeof *m);
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

/* diffusers ignores these unexpected keys on load (_keys_to_ignore_on_load_unexpected). */
static int ignored_key(const char *name) { return strstr(name, "norm_added_q") != NULL; }

static int cmp_param_name(const void *a, const void *b) {
    return strcmp(((const ff_param *)a)->name, ((const ff_param *)b)->name);
}

static ff_status load_param(ff_weights *w, const ff_st_entry *e, const ff_param *p, ff_dtype dt, ff_err *err) {
    if (dt == FF_F32 || !narrowable(p)) return ff_weights_load(w, p->name, FF_F32, p->slot, err);
    if (e->dtype == dt) return ff_weights_load(w, p->name, dt, p->slot, err);
    ff_tensor f;
    ff_status st = ff_weights_load(w, p->name, FF_F32, &f, err);
    if (st) return st;
    if (!(st = ff_tensor_alloc(p->slot, dt, f.ndim, f.shape, err)) && (st = ff_tensor_convert(p->slot, &f, err)))
        ff_tensor_free(p->slot);
    ff_tensor_free(&f);
    return st;
}

ff_status ff_wandit_load(const char *component_dir, ff_wandit_model **out, ff_err *err) {
    return ff_wandit_load_as(component_dir, FF_F32, out, err);
}

/* ff_wandit_load_as, or (weights_out != NULL) ff_wandit_load_lazy: block parameters
 * left as shape-only descriptions and the open weights handed to the caller. */
static ff_status load_impl(const char *component_dir, ff_dtype weight_dtype, ff_wandit_model **out,
                           ff_weights **weights_out, ff_err *err) {
    *out = NULL;
    if (weights_out) *weights_out = NULL;
    ff_json_doc *doc = NULL;
    ff_weights *w = NULL;
    ff_wandit_model *m = NULL;
    ff_param *ps = NULL;
    size_t np = 0;
    ff_wandit_config cfg;
    char what[4200];
    snprintf(what, sizeof what, "%s/config.json", component_dir);
    ff_status st = ff_component_config_dir(component_dir, &doc, err);
    if (st) goto done;
    if ((st = ff_wandit_config_parse(ff_json_root(doc), what, &cfg, err))) goto done;
    if ((st = ff_weights_open(component_dir, &w, err))) goto done;
    if ((st = ff_wandit_create(&cfg, &m, err))) goto done;
    if ((st = ff_wandit_params(&cfg, m, &ps, &np, err))) goto done;
    for (size_t i = 0; i < np; i++) {
        const ff_st_entry *e;
        if ((st = ff_weights_find(w, ps[i].name, NULL, &e, err))) {
            ff_err_wrap(err, "WanTransformer3DModel (%s, %d layers): missing weight: ", component_dir, cfg.num_layers);
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
            ff_dtype hd = ff_wandit_param_dtype(&ps[i], weight_dtype);
            ff_tensor_view(ps[i].slot, hd, ps[i].ndim, ps[i].shape, NULL, FF_LOC_HOST);
            continue;
        }
        if ((st = load_param(w, e, &ps[i], weight_dtype, err))) goto done;
    }
    /* Strict load: every tensor of the file must be a parameter. */
    qsort(ps, np, sizeof *ps, cmp_param_name);
    for (size_t i = 0; i < ff_weights_count(w); i++) {
        const ff_st_entry *e = ff_weights_at(w, i, NULL);
        ff_param key;
        snprintf(key.name, sizeof key.name, "%s", e->name);
        if (ignored_key(e->name) || bsearch(&key, ps, np, sizeof *ps, cmp_param_name)) continue;
        st = ff_err_set(err, FF_ERR_FORMAT,
                        "%s: unexpected weight %s (not a WanTransformer3DModel parameter for this config.json)",
                        component_dir, e->name);
        goto done;
    }
done:
    free(ps);
    ff_json_free(doc);
    if (st) {
        ff_weights_free(w);
        ff_wandit_free(m);
        return st;
    }
    if (weights_out) *weights_out = w;
    else ff_weights_free(w);
    *out = m;
    return FF_OK;
}

ff_status ff_wandit_load_as(const char *component_dir, ff_dtype weight_dtype, ff_wandit_model **out, ff_err *err) {
    if (weight_dtype != FF_F32 && weight_dtype != FF_BF16) {
        *out = NULL;
        return ff_err_set(err, FF_ERR_ARG, "%s: transformer weights as %s (F32 or BF16 only)", component_dir,
                          ff_dtype_name(weight_dtype));
    }
    return load_impl(component_dir, weight_dtype, out, NULL, err);
}

ff_status ff_wandit_load_lazy(const char *component_dir, ff_dtype weight_dtype, ff_wandit_model **out, ff_weights **weights,
                           ff_err *err) {
    if (weight_dtype != FF_F32 && weight_dtype != FF_BF16) {
        *out = NULL, *weights = NULL;
        return ff_err_set(err, FF_ERR_ARG, "%s: transformer weights as %s (F32 or BF16 only)", component_dir,
                          ff_dtype_name(weight_dtype));
    }
    return load_impl(component_dir, weight_dtype, out, weights, err);
}

static uint64_t xorshift64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

ff_status ff_wandit_init_random(ff_wandit_model *m, uint64_t seed, ff_err *err) {
    ff_param *ps;
    size_t np;
    ff_status st = ff_wandit_params(&m->cfg, m, &ps, &np, err);
    if (st) return st;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < np && !st; i++) {
        ff_tensor *t = ps[i].slot;
        if ((st = ff_tensor_alloc(t, FF_F32, ps[i].ndim, ps[i].shape, err))) break;
        float a = 0.02f;
        if (ps[i].ndim == 2) a = 1.0f / sqrtf((float)ps[i].shape[1]);
        if (ps[i].ndim == 5) a = 1.0f / sqrtf((float)(ps[i].shape[1] * ps[i].shape[2] * ps[i].shape[3] * ps[i].shape[4]));
        int is_norm = strstr(ps[i].name, "norm") != NULL && strstr(ps[i].name, ".weight") != NULL;
        float *d = t->data;
        int64_t n = ff_tensor_numel(t);
        for (int64_t k = 0; k < n; k++) {
            float u = (float)((xorshift64(&s) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
            d[k] = is_norm ? 1.0f + 0.1f * u : a * u;
        }
    }
    free(ps);
    return st;
}

static void free_tensor(ff_wandit_model *m, ff_tensor *t) {
    if (!t->data) return;
    if (t->loc != FF_LOC_HOST) {
        if (m->be) ff_be_free(m->be, t); /* placed by ff_wandit_place */
    } else {
        ff_tensor_free(t);
    }
    memset(t, 0, sizeof *t);
}

void ff_wandit_free(ff_wandit_model *m) {
    if (!m) return;
    ff_param *ps;
    size_t np;
    if (ff_wandit_params(&m->cfg, m, &ps, &np, NULL) == FF_OK) {
        for (size_t i = 0; i < np; i++) free_tensor(m, ps[i].slot);
        free(ps);
    }
    free(m->blocks);
    free(m);
}

static ff_status place_one(ff_wandit_model *m, ff_backend *be, ff_tensor *t, const char *name, ff_err *err) {
    if (!t->data || t->loc != FF_LOC_HOST || ff_backend_kind_of(be) == FF_BACKEND_CPU) return FF_OK;
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

ff_status ff_wandit_place(ff_wandit_model *m, ff_backend *be, int with_blocks, ff_err *err) {
    ff_param *ps;
    size_t np;
    ff_status st = ff_wandit_params(&m->cfg, m, &ps, &np, err);
    if (st) return st;
    for (size_t i = 0; i < np && !st; i++)
        if (with_blocks || ps[i].block < 0) st = place_one(m, be, ps[i].slot, ps[i].name, err);
    free(ps);
    return st;
}
