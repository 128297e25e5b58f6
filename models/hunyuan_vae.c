/* hunyuan_vae: AutoencoderKLHunyuanVideo's config, module tree, parameter
 * list (diffusers names verbatim), strict loading onto the backend, and the
 * small public helpers (unscale, postprocess, memory counters). The blocks
 * are in hunyuan_vae_blocks.c; tiling, slicing and the peak predictions in
 * hunyuan_vae_tiling.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_json.h"
#include "core/ff_model_dir.h"
#include "models/hunyuan_vae_internal.h"

/* ---- config ------------------------------------------------------------ */

static ff_status get_int(const ff_json *o, const char *key, int64_t dflt, int64_t lo, int64_t hi, int *out,
                         const char *what, ff_err *err) {
    int64_t v;
    if (ff_json_get_int64(o, key, dflt, &v) || v < lo || v > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" must be an integer in [%lld, %lld]", what, key,
                          (long long)lo, (long long)hi);
    *out = (int)v;
    return FF_OK;
}

/* down_block_types / up_block_types: absent, or n copies of the one block
 * type this class builds. */
static ff_status check_types(const ff_json *o, const char *key, const char *type, int n, const char *what,
                             ff_err *err) {
    const ff_json *a = ff_json_get(o, key);
    if (ff_json_is_null(a)) return FF_OK;
    if (a->type != FF_JSON_ARRAY || (int)ff_json_count(a) != n)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" must list %d block types (one per block_out_channels)", what,
                          key, n);
    for (int i = 0; i < n; i++) {
        const ff_json *t = ff_json_at(a, (size_t)i);
        if (!t || t->type != FF_JSON_STRING || strcmp(t->str, type) != 0)
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: %s[%d] is not %s (the only block type of this VAE)", what,
                              key, i, type);
    }
    return FF_OK;
}

static int log2_exact(int v) {
    int k = 0;
    while ((1 << k) < v) k++;
    return (1 << k) == v ? k : -1;
}

ff_status ff_hyvae_config_parse(const ff_json *o, const char *what, ff_hyvae_config *c, ff_err *err) {
    memset(c, 0, sizeof *c);
    if (!o || o->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", what);
    const char *cls = ff_json_get_string(o, "_class_name");
    if (cls && strcmp(cls, "AutoencoderKLHunyuanVideo") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: _class_name %s is not AutoencoderKLHunyuanVideo", what, cls);
    ff_status st;
    const int big = 1 << 16;
    if ((st = get_int(o, "in_channels", 3, 1, big, &c->in_channels, what, err)) ||
        (st = get_int(o, "out_channels", 3, 1, big, &c->out_channels, what, err)) ||
        (st = get_int(o, "latent_channels", 16, 1, big, &c->latent_channels, what, err)) ||
        (st = get_int(o, "layers_per_block", 2, 0, 64, &c->layers_per_block, what, err)) ||
        (st = get_int(o, "norm_num_groups", 32, 1, big, &c->norm_num_groups, what, err)) ||
        (st = get_int(o, "spatial_compression_ratio", 8, 1, 1 << 10, &c->spatial_compression_ratio, what, err)) ||
        (st = get_int(o, "temporal_compression_ratio", 4, 1, 1 << 10, &c->temporal_compression_ratio, what, err)))
        return st;
    const ff_json *a = ff_json_get(o, "block_out_channels");
    if (ff_json_is_null(a)) {
        c->n_blocks = 4;
        c->block_out_channels[0] = 128, c->block_out_channels[1] = 256;
        c->block_out_channels[2] = 512, c->block_out_channels[3] = 512;
    } else {
        if (a->type != FF_JSON_ARRAY || ff_json_count(a) < 1 || ff_json_count(a) > FF_HYVAE_MAX_BLOCKS)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"block_out_channels\" must be an array of 1..%d integers", what,
                              FF_HYVAE_MAX_BLOCKS);
        c->n_blocks = (int)ff_json_count(a);
        for (int i = 0; i < c->n_blocks; i++) {
            int64_t v;
            if (ff_json_int64(ff_json_at(a, (size_t)i), &v) || v < 1 || v > big)
                return ff_err_set(err, FF_ERR_FORMAT, "%s: block_out_channels[%d] must be a positive integer", what, i);
            c->block_out_channels[i] = (int)v;
        }
    }
    if ((st = check_types(o, "down_block_types", "HunyuanVideoDownBlock3D", c->n_blocks, what, err)) ||
        (st = check_types(o, "up_block_types", "HunyuanVideoUpBlock3D", c->n_blocks, what, err)))
        return st;
    const char *act = ff_json_get_string(o, "act_fn");
    if (act && strcmp(act, "silu") != 0 && strcmp(act, "swish") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: act_fn \"%s\" not supported (silu only)", what, act);
    double sf;
    if (ff_json_get_double(o, "scaling_factor", 0.476986, &sf) || !(sf > 0) || !isfinite(sf))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"scaling_factor\" must be a positive number", what);
    c->scaling_factor = (float)sf;
    if (ff_json_get_bool(o, "mid_block_add_attention", 1, &c->mid_block_add_attention))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"mid_block_add_attention\" is not a boolean", what);
    for (int i = 0; i < c->n_blocks; i++)
        if (c->block_out_channels[i] % c->norm_num_groups)
            return ff_err_set(err, FF_ERR_FORMAT,
                              "%s: block_out_channels[%d] = %d is not a multiple of norm_num_groups %d", what, i,
                              c->block_out_channels[i], c->norm_num_groups);
    if (c->temporal_compression_ratio != 4)
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: temporal_compression_ratio %d (HunyuanVideoDecoder3D supports 4 only)", what,
                          c->temporal_compression_ratio);
    /* the blocks must realise the stated compression (diffusers takes int(log2(ratio)) layers) */
    const int ks = log2_exact(c->spatial_compression_ratio);
    if (ks < 0 || ks > c->n_blocks || c->n_blocks < 3)
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: spatial_compression_ratio %d with %d blocks: the blocks would not compress by %d x %d "
                          "(a power of two up to 2^blocks, and 4x in time needs >= 3 blocks)",
                          what, c->spatial_compression_ratio, c->n_blocks, c->spatial_compression_ratio,
                          c->temporal_compression_ratio);
    return FF_OK;
}

ff_status ff_hyvae_config_load(const char *path, ff_hyvae_config *cfg, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    st = ff_hyvae_config_parse(ff_json_root(doc), path, cfg, err);
    ff_json_free(doc);
    return st;
}

/* ---- module tree ------------------------------------------------------------ */

static void conv_init(hyv_conv *c, int cin, int cout, int k, int st, int ss) {
    memset(c, 0, sizeof *c);
    c->cin = cin, c->cout = cout, c->k = k;
    c->stride[0] = st, c->stride[1] = ss, c->stride[2] = ss;
}

static void res_init(hyv_res *r, int cin, int cout) {
    memset(r, 0, sizeof *r);
    conv_init(&r->conv1, cin, cout, 3, 1, 1);
    conv_init(&r->conv2, cout, cout, 3, 1, 1);
    r->has_shortcut = cin != cout;
    if (r->has_shortcut) conv_init(&r->conv_shortcut, cin, cout, 1, 1, 1);
}

void hyvae_tree_free(hyv_coder *enc, hyv_coder *dec) {
    for (int i = 0; i < FF_HYVAE_MAX_BLOCKS; i++) {
        if (enc) free(enc->blocks[i].res), enc->blocks[i].res = NULL;
        if (dec) free(dec->blocks[i].res), dec->blocks[i].res = NULL;
    }
}

ff_status hyvae_build(const ff_hyvae_config *c, hyv_coder *enc, hyv_coder *dec, hyv_conv *quant,
                      hyv_conv *post_quant, ff_err *err) {
    memset(enc, 0, sizeof *enc);
    memset(dec, 0, sizeof *dec);
    const int n = c->n_blocks, ks = log2_exact(c->spatial_compression_ratio), kt = 2; /* log2(4) */
    const int *ch = c->block_out_channels, last = ch[n - 1];
    /* HunyuanVideoEncoder3D */
    conv_init(&enc->conv_in, c->in_channels, ch[0], 3, 1, 1);
    enc->n_blocks = n;
    for (int i = 0; i < n; i++) {
        hyv_block *b = &enc->blocks[i];
        const int cin = i == 0 ? ch[0] : ch[i - 1], cout = ch[i], final = i == n - 1;
        const int sp = i < ks, tm = i >= n - 1 - kt && !final;
        b->n_res = c->layers_per_block;
        b->res = calloc((size_t)(b->n_res ? b->n_res : 1), sizeof *b->res);
        if (!b->res) goto oom;
        for (int j = 0; j < b->n_res; j++) res_init(&b->res[j], j == 0 ? cin : cout, cout);
        b->has_sampler = sp || tm;
        if (b->has_sampler) conv_init(&b->sampler, cout, cout, 3, tm ? 2 : 1, sp ? 2 : 1);
    }
    res_init(&enc->mid_res0, last, last);
    res_init(&enc->mid_res1, last, last);
    enc->has_attn = c->mid_block_add_attention;
    conv_init(&enc->conv_out, last, 2 * c->latent_channels, 3, 1, 1);
    /* HunyuanVideoDecoder3D */
    conv_init(&dec->conv_in, c->latent_channels, last, 3, 1, 1);
    res_init(&dec->mid_res0, last, last);
    res_init(&dec->mid_res1, last, last);
    dec->has_attn = c->mid_block_add_attention;
    dec->n_blocks = n;
    for (int i = 0; i < n; i++) {
        hyv_block *b = &dec->blocks[i];
        const int cin = i == 0 ? last : ch[n - i], cout = ch[n - 1 - i], final = i == n - 1;
        const int sp = i < ks, tm = i >= n - 1 - kt && !final;
        b->n_res = c->layers_per_block + 1;
        b->res = calloc((size_t)b->n_res, sizeof *b->res);
        if (!b->res) goto oom;
        for (int j = 0; j < b->n_res; j++) res_init(&b->res[j], j == 0 ? cin : cout, cout);
        b->has_sampler = sp || tm;
        b->ft = tm ? 2 : 1, b->fs = sp ? 2 : 1;
        if (b->has_sampler) conv_init(&b->sampler, cout, cout, 3, 1, 1);
    }
    conv_init(&dec->conv_out, ch[0], c->out_channels, 3, 1, 1);
    conv_init(quant, 2 * c->latent_channels, 2 * c->latent_channels, 1, 1, 1);
    conv_init(post_quant, c->latent_channels, c->latent_channels, 1, 1, 1);
    return FF_OK;
oom:
    hyvae_tree_free(enc, dec);
    return ff_err_set(err, FF_ERR_NOMEM, "vae: cannot allocate the module tree");
}

/* ---- parameter list ------------------------------------------------------------ */

typedef struct {
    ff_param *out; /* NULL: count */
    size_t n;
} plist;

static void add(plist *l, ff_tensor *slot, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void add(plist *l, ff_tensor *slot, int ndim, const int64_t *shape, const char *fmt, ...) {
    if (l->out) {
        ff_param *p = &l->out[l->n];
        memset(p, 0, sizeof *p);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->name, sizeof p->name, fmt, ap);
        va_end(ap);
        p->ndim = ndim;
        for (int i = 0; i < FF_MAX_DIMS; i++) p->shape[i] = i < ndim ? shape[i] : 1;
        p->dtype = FF_F32;
        p->block = -1;
        p->slot = slot;
    }
    l->n++;
}

/* `conv` is ".conv" for the causal convs (their Conv3d is a child), "" for quant convs. */
static void add_conv(plist *l, hyv_conv *c, const char *prefix, const char *conv) {
    const int64_t ws[5] = {c->cout, c->cin, c->k, c->k, c->k}, bs[1] = {c->cout};
    add(l, &c->w, 5, ws, "%s%s.weight", prefix, conv);
    add(l, &c->b, 1, bs, "%s%s.bias", prefix, conv);
}

static void add_gn(plist *l, hyv_gn *g, int64_t ch, const char *prefix) {
    add(l, &g->w, 1, &ch, "%s.weight", prefix);
    add(l, &g->b, 1, &ch, "%s.bias", prefix);
}

static void add_res(plist *l, hyv_res *r, const char *prefix) {
    char p[FF_PARAM_NAME_MAX];
    snprintf(p, sizeof p, "%s.norm1", prefix);
    add_gn(l, &r->norm1, r->conv1.cin, p);
    snprintf(p, sizeof p, "%s.conv1", prefix);
    add_conv(l, &r->conv1, p, ".conv");
    snprintf(p, sizeof p, "%s.norm2", prefix);
    add_gn(l, &r->norm2, r->conv2.cin, p);
    snprintf(p, sizeof p, "%s.conv2", prefix);
    add_conv(l, &r->conv2, p, ".conv");
    if (r->has_shortcut) {
        snprintf(p, sizeof p, "%s.conv_shortcut", prefix);
        add_conv(l, &r->conv_shortcut, p, ".conv");
    }
}

static void add_mid(plist *l, hyv_coder *c, int64_t ch, const char *coder) {
    char p[FF_PARAM_NAME_MAX];
    snprintf(p, sizeof p, "%s.mid_block.resnets.0", coder);
    add_res(l, &c->mid_res0, p);
    snprintf(p, sizeof p, "%s.mid_block.resnets.1", coder);
    add_res(l, &c->mid_res1, p);
    if (c->has_attn) {
        hyv_attn *a = &c->mid_attn;
        const int64_t w[2] = {ch, ch};
        snprintf(p, sizeof p, "%s.mid_block.attentions.0.group_norm", coder);
        add_gn(l, &a->group_norm, ch, p);
        snprintf(p, sizeof p, "%s.mid_block.attentions.0", coder);
        add(l, &a->q_w, 2, w, "%s.to_q.weight", p);
        add(l, &a->q_b, 1, &ch, "%s.to_q.bias", p);
        add(l, &a->k_w, 2, w, "%s.to_k.weight", p);
        add(l, &a->k_b, 1, &ch, "%s.to_k.bias", p);
        add(l, &a->v_w, 2, w, "%s.to_v.weight", p);
        add(l, &a->v_b, 1, &ch, "%s.to_v.bias", p);
        add(l, &a->o_w, 2, w, "%s.to_out.0.weight", p);
        add(l, &a->o_b, 1, &ch, "%s.to_out.0.bias", p);
    }
}

/* Every parameter of the tree, in module order. */
static void tree_params(const ff_hyvae_config *c, hyv_coder *enc, hyv_coder *dec, hyv_conv *quant, hyv_conv *post,
                        plist *l) {
    const int n = c->n_blocks;
    const int64_t last = c->block_out_channels[n - 1], first = c->block_out_channels[0];
    char p[FF_PARAM_NAME_MAX];
    add_conv(l, &enc->conv_in, "encoder.conv_in", ".conv");
    for (int i = 0; i < n; i++) {
        hyv_block *b = &enc->blocks[i];
        for (int j = 0; j < b->n_res; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, j);
            add_res(l, &b->res[j], p);
        }
        if (b->has_sampler) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            add_conv(l, &b->sampler, p, ".conv");
        }
    }
    add_mid(l, enc, last, "encoder");
    add_gn(l, &enc->norm_out, last, "encoder.conv_norm_out");
    add_conv(l, &enc->conv_out, "encoder.conv_out", ".conv");
    add_conv(l, &dec->conv_in, "decoder.conv_in", ".conv");
    for (int i = 0; i < n; i++) {
        hyv_block *b = &dec->blocks[i];
        for (int j = 0; j < b->n_res; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, j);
            add_res(l, &b->res[j], p);
        }
        if (b->has_sampler) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            add_conv(l, &b->sampler, p, ".conv");
        }
    }
    add_mid(l, dec, last, "decoder");
    add_gn(l, &dec->norm_out, first, "decoder.conv_norm_out");
    add_conv(l, &dec->conv_out, "decoder.conv_out", ".conv");
    add_conv(l, quant, "quant_conv", "");
    add_conv(l, post, "post_quant_conv", "");
}

/* The list of a tree; slots point into it. */
static ff_status list_tree(const ff_hyvae_config *c, hyv_coder *enc, hyv_coder *dec, hyv_conv *quant, hyv_conv *post,
                           ff_param **out, size_t *n, ff_err *err) {
    plist cnt = {NULL, 0};
    tree_params(c, enc, dec, quant, post, &cnt);
    ff_param *ps = calloc(cnt.n, sizeof *ps);
    if (!ps) return ff_err_set(err, FF_ERR_NOMEM, "vae: cannot allocate the list of %zu parameters", cnt.n);
    plist l = {ps, 0};
    tree_params(c, enc, dec, quant, post, &l);
    *out = ps;
    *n = l.n;
    return FF_OK;
}

ff_status ff_hyvae_params(const ff_hyvae_config *cfg, ff_param **out, size_t *n, ff_err *err) {
    *out = NULL;
    *n = 0;
    hyv_coder enc, dec;
    hyv_conv quant, post;
    ff_status st = hyvae_build(cfg, &enc, &dec, &quant, &post, err);
    if (st) return st;
    st = list_tree(cfg, &enc, &dec, &quant, &post, out, n, err);
    if (!st)
        for (size_t i = 0; i < *n; i++) (*out)[i].slot = NULL; /* shape-only: the tree is gone */
    hyvae_tree_free(&enc, &dec);
    return st;
}

ff_status ff_hyvae_weight_bytes(const ff_hyvae_config *cfg, size_t *bytes, ff_err *err) {
    ff_param *ps;
    size_t n;
    ff_status st = ff_hyvae_params(cfg, &ps, &n, err);
    if (st) return st;
    size_t b = 0;
    for (size_t i = 0; i < n; i++) b += (size_t)ff_param_numel(&ps[i]) * sizeof(float);
    free(ps);
    *bytes = b;
    return FF_OK;
}

/* ---- load / free ------------------------------------------------------------------ */

static int cmp_param_name(const void *a, const void *b) {
    return strcmp(((const ff_param *)a)->name, ((const ff_param *)b)->name);
}

ff_status ff_hyvae_load(ff_backend *be, const char *dir, ff_hyvae **out, ff_err *err) {
    *out = NULL;
    char comp[4200], cfgpath[4300];
    struct stat sb;
    snprintf(comp, sizeof comp, "%s/vae", dir);
    if (stat(comp, &sb) != 0 || !S_ISDIR(sb.st_mode)) snprintf(comp, sizeof comp, "%s", dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/config.json", comp);
    ff_hyvae *v = calloc(1, sizeof *v);
    if (!v) return ff_err_set(err, FF_ERR_NOMEM, "vae: out of memory");
    v->be = be;
    ff_weights *w = NULL;
    ff_param *ps = NULL;
    size_t np = 0;
    ff_status st = ff_hyvae_config_load(cfgpath, &v->cfg, err);
    if (st) goto done;
    if ((st = hyvae_build(&v->cfg, &v->enc, &v->dec, &v->quant_conv, &v->post_quant_conv, err))) goto done;
    if ((st = list_tree(&v->cfg, &v->enc, &v->dec, &v->quant_conv, &v->post_quant_conv, &ps, &np, err))) goto done;
    if ((st = ff_weights_open(comp, &w, err))) goto done;
    for (size_t i = 0; i < np; i++) {
        ff_tensor h = {0};
        if ((st = ff_weights_load(w, ps[i].name, FF_F32, &h, err))) {
            ff_err_wrap(err, "AutoencoderKLHunyuanVideo (%s): ", comp);
            goto done;
        }
        int same = h.ndim == ps[i].ndim;
        for (int k = 0; same && k < h.ndim; k++) same = h.shape[k] == ps[i].shape[k];
        if (!same) {
            char got[96], want[96];
            ff_tensor b;
            ff_tensor_view(&b, FF_F32, ps[i].ndim, ps[i].shape, NULL, FF_LOC_HOST);
            st = ff_err_set(err, FF_ERR_SHAPE, "%s: weight %s is %s, config.json implies %s", comp, ps[i].name,
                            ff_tensor_describe(&h, got, sizeof got), ff_tensor_describe(&b, want, sizeof want));
            ff_tensor_free(&h);
            goto done;
        }
        st = ff_be_alloc(be, ps[i].slot, FF_F32, h.ndim, h.shape, err);
        if (!st) st = ff_be_upload(be, ps[i].slot, &h, err);
        if (!st) v->weight_bytes += ff_tensor_nbytes(&h);
        ff_tensor_free(&h);
        if (st) {
            ff_err_wrap(err, "vae: uploading %s: ", ps[i].name);
            goto done;
        }
    }
    qsort(ps, np, sizeof *ps, cmp_param_name);
    for (size_t i = 0; i < ff_weights_count(w); i++) {
        const ff_st_entry *e = ff_weights_at(w, i, NULL);
        ff_param key;
        snprintf(key.name, sizeof key.name, "%s", e->name);
        if (bsearch(&key, ps, np, sizeof *ps, cmp_param_name)) continue;
        st = ff_err_set(err, FF_ERR_FORMAT,
                        "%s: unexpected weight %s (not an AutoencoderKLHunyuanVideo parameter for this config.json)",
                        comp, e->name);
        goto done;
    }
done:
    free(ps);
    ff_weights_free(w);
    if (st) {
        ff_hyvae_free(v);
        return st;
    }
    *out = v;
    return FF_OK;
}

void ff_hyvae_free(ff_hyvae *v) {
    if (!v) return;
    ff_param *ps;
    size_t np;
    if (v->dec.blocks[0].res &&
        list_tree(&v->cfg, &v->enc, &v->dec, &v->quant_conv, &v->post_quant_conv, &ps, &np, NULL) == FF_OK) {
        for (size_t i = 0; i < np; i++)
            if (ps[i].slot->data) ff_be_free(v->be, ps[i].slot);
        free(ps);
    }
    hyvae_tree_free(&v->enc, &v->dec);
    free(v);
}

const ff_hyvae_config *ff_hyvae_config_of(const ff_hyvae *v) { return &v->cfg; }

void ff_hyvae_mem_stats(const ff_hyvae *v, ff_hyvae_mem *m) {
    m->weight_bytes = v->weight_bytes;
    m->run_cur_bytes = v->run_cur;
    m->run_peak_bytes = v->run_peak;
}

void ff_hyvae_mem_reset_peak(ff_hyvae *v) { v->run_peak = v->run_cur; }

/* ---- small helpers ------------------------------------------------------------------ */

ff_status ff_hyvae_unscale(const ff_hyvae_config *cfg, const ff_tensor *latents, ff_tensor *out, ff_err *err) {
    if (latents->dtype != FF_F32 || latents->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_ARG, "vae: latents must be a host F32 tensor");
    ff_status st = ff_tensor_clone(out, latents, err);
    if (st) return st;
    float *d = out->data;
    for (int64_t i = 0; i < ff_tensor_numel(out); i++) d[i] = d[i] / cfg->scaling_factor;
    return FF_OK;
}

ff_status ff_hyvae_postprocess_frames(const ff_tensor *video, ff_tensor *frames, ff_err *err) {
    char b[96];
    if (video->ndim != 5 || video->dtype != FF_F32 || video->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_SHAPE, "postprocess: video %s, expected host F32 (B, C, T, H, W)",
                          ff_tensor_describe(video, b, sizeof b));
    const int64_t B = video->shape[0], C = video->shape[1], T = video->shape[2], H = video->shape[3],
                  W = video->shape[4];
    ff_status st = ff_tensor_allocv(frames, FF_F32, err, 5, B, T, H, W, C);
    if (st) return st;
    const float *s = video->data;
    float *d = frames->data;
    for (int64_t bb = 0; bb < B; bb++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t y = 0; y < H; y++)
                    for (int64_t x = 0; x < W; x++) {
                        float v = s[(((bb * C + c) * T + t) * H + y) * W + x] * 0.5f + 0.5f;
                        v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                        d[(((bb * T + t) * H + y) * W + x) * C + c] = v;
                    }
    return FF_OK;
}
