/* cogvideox_vae: config, module tree, parameter list, loading and the small
 * host-side helpers of AutoencoderKLCogVideoX (decode_latents' permute and
 * scale, the posterior, postprocess_video). The passes are in
 * cogvideox_vae_blocks.c, the frame-batch / tile / slice loops in
 * cogvideox_vae_tiling.c. See cogvideox_vae.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_model_dir.h"
#include "models/cogvideox_vae_internal.h"

/* ---- config ----------------------------------------------------------- */

static ff_status get_int(const ff_json *root, const char *what, const char *key, int64_t dflt, int64_t lo, int64_t hi,
                         int *out, ff_err *err) {
    int64_t v;
    if (ff_json_get_int64(root, key, dflt, &v))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" is not an integer", what, key);
    if (v < lo || v > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" = %lld outside [%lld, %lld]", what, key, (long long)v,
                          (long long)lo, (long long)hi);
    *out = (int)v;
    return FF_OK;
}

static ff_status check_types(const ff_json *root, const char *what, const char *key, const char *want, int n,
                             ff_err *err) {
    const ff_json *a = ff_json_get(root, key);
    if (ff_json_is_null(a)) return FF_OK; /* default: n blocks of `want` */
    if (a->type != FF_JSON_ARRAY || (int)ff_json_count(a) != n)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" must list %d block types (one per block_out_channels)", what,
                          key, n);
    for (int i = 0; i < n; i++) {
        const ff_json *s = ff_json_at(a, (size_t)i);
        if (!s || s->type != FF_JSON_STRING || strcmp(s->str, want) != 0)
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: %s[%d] must be \"%s\"", what, key, i, want);
    }
    return FF_OK;
}

ff_status ff_cogvae_config_parse(const ff_json *root, const char *what, ff_cogvae_config *c, ff_err *err) {
    memset(c, 0, sizeof *c);
    if (!root || root->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", what);
    const char *cls = ff_json_get_string(root, "_class_name");
    if (cls && strcmp(cls, "AutoencoderKLCogVideoX") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: _class_name \"%s\" is not AutoencoderKLCogVideoX", what, cls);
    const int big = 1 << 16;
    ff_status st;
    if ((st = get_int(root, what, "in_channels", 3, 1, big, &c->in_channels, err)) ||
        (st = get_int(root, what, "out_channels", 3, 1, big, &c->out_channels, err)) ||
        (st = get_int(root, what, "latent_channels", 16, 1, big, &c->latent_channels, err)) ||
        (st = get_int(root, what, "layers_per_block", 3, 1, 64, &c->layers_per_block, err)) ||
        (st = get_int(root, what, "norm_num_groups", 32, 1, big, &c->norm_num_groups, err)) ||
        (st = get_int(root, what, "sample_height", 480, 8, 1 << 20, &c->sample_height, err)) ||
        (st = get_int(root, what, "sample_width", 720, 8, 1 << 20, &c->sample_width, err)))
        return st;
    const ff_json *boc = ff_json_get(root, "block_out_channels");
    if (ff_json_is_null(boc)) {
        static const int dflt[4] = {128, 256, 256, 512};
        c->n_blocks = 4;
        memcpy(c->block_out_channels, dflt, sizeof dflt);
    } else {
        size_t n = ff_json_count(boc);
        if (boc->type != FF_JSON_ARRAY || n < 1 || n > FF_COGVAE_MAX_BLOCKS)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"block_out_channels\" must list 1..%d integers", what,
                              FF_COGVAE_MAX_BLOCKS);
        c->n_blocks = (int)n;
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            if (ff_json_int64(ff_json_at(boc, i), &v) || v < 1 || v > big)
                return ff_err_set(err, FF_ERR_FORMAT, "%s: block_out_channels[%zu] is not a channel count", what, i);
            c->block_out_channels[i] = (int)v;
        }
    }
    if ((st = check_types(root, what, "down_block_types", "CogVideoXDownBlock3D", c->n_blocks, err)) ||
        (st = check_types(root, what, "up_block_types", "CogVideoXUpBlock3D", c->n_blocks, err)))
        return st;
    const char *act = ff_json_get_string(root, "act_fn");
    if (act && strcmp(act, "silu") && strcmp(act, "swish"))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: act_fn \"%s\" not supported (silu)", what, act);
    double eps, tcr, sf;
    if (ff_json_get_double(root, "norm_eps", 1e-6, &eps) || !(eps >= 0 && eps < 1))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"norm_eps\" must be a number in [0, 1)", what);
    if (ff_json_get_double(root, "temporal_compression_ratio", 4, &tcr) || !(tcr >= 1 && tcr <= 64))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"temporal_compression_ratio\" must be in [1, 64]", what);
    if (ff_json_get_double(root, "scaling_factor", 1.15258426, &sf) || !(sf > 0 && sf < 1e6))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"scaling_factor\" must be a positive number", what);
    c->norm_eps = (float)eps;
    c->temporal_compress_level = (int)log2(tcr); /* int(np.log2(ratio)) */
    c->temporal_compression_ratio = 1 << c->temporal_compress_level;
    c->scaling_factor = sf;
    int q, pq;
    if (ff_json_get_bool(root, "use_quant_conv", 0, &q) || ff_json_get_bool(root, "use_post_quant_conv", 0, &pq) ||
        ff_json_get_bool(root, "invert_scale_latents", 0, &c->invert_scale_latents))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: use_quant_conv / use_post_quant_conv / invert_scale_latents must be "
                                              "booleans", what);
    if (q || pq)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: use_quant_conv / use_post_quant_conv not supported", what);
    if (c->temporal_compress_level > c->n_blocks - 1)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: temporal_compression_ratio %g needs %d down blocks with a sampler",
                          what, tcr, c->temporal_compress_level);
    for (int i = 0; i < c->n_blocks; i++)
        if (c->block_out_channels[i] % c->norm_num_groups)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: block_out_channels[%d] = %d is not a multiple of norm_num_groups "
                                                  "%d", what, i, c->block_out_channels[i], c->norm_num_groups);
    return FF_OK;
}

ff_status ff_cogvae_config_load(const char *path, ff_cogvae_config *cfg, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    st = ff_cogvae_config_parse(ff_json_root(doc), path, cfg, err);
    ff_json_free(doc);
    return st;
}

const ff_cogvae_config *ff_cogvae_config_of(const ff_cogvae *vae) { return &vae->cfg; }

/* ---- module tree -------------------------------------------------------- */

static void conv_init(cv_conv *c, int cin, int cout, int kt, int kh, int kw, int *slots) {
    memset(c, 0, sizeof *c);
    c->cin = cin, c->cout = cout, c->kt = kt, c->kh = kh, c->kw = kw;
    c->slot = kt > 1 ? (*slots)++ : -1;
}

static void gn_init(cv_gn *g, int c, float eps) {
    memset(g, 0, sizeof *g);
    g->c = c, g->eps = eps;
}

static void res_init(cv_res *r, int cin, int cout, int spatial, const ff_cogvae_config *cfg, int *slots) {
    memset(r, 0, sizeof *r);
    r->cin = cin, r->cout = cout, r->spatial = spatial;
    if (spatial) {
        gn_init(&r->snorm1.norm, cin, 1e-6f);
        conv_init(&r->snorm1.conv_y, cfg->latent_channels, cin, 1, 1, 1, slots);
        conv_init(&r->snorm1.conv_b, cfg->latent_channels, cin, 1, 1, 1, slots);
    } else {
        gn_init(&r->norm1, cin, cfg->norm_eps);
    }
    conv_init(&r->conv1, cin, cout, 3, 3, 3, slots);
    if (spatial) {
        gn_init(&r->snorm2.norm, cout, 1e-6f);
        conv_init(&r->snorm2.conv_y, cfg->latent_channels, cout, 1, 1, 1, slots);
        conv_init(&r->snorm2.conv_b, cfg->latent_channels, cout, 1, 1, 1, slots);
    } else {
        gn_init(&r->norm2, cout, cfg->norm_eps);
    }
    conv_init(&r->conv2, cout, cout, 3, 3, 3, slots);
    r->has_shortcut = cin != cout;
    if (r->has_shortcut) conv_init(&r->shortcut, cin, cout, 1, 1, 1, slots);
}

ff_status cogvae_build(ff_cogvae *v, ff_err *err) {
    const ff_cogvae_config *cfg = &v->cfg;
    const int n = cfg->n_blocks, *C = cfg->block_out_channels;
    for (int d = 0; d < 2; d++) {
        cv_coder *k = d ? &v->dec : &v->enc;
        memset(k, 0, sizeof *k);
        k->decoder = d;
        k->n_levels = n;
        k->levels = calloc((size_t)n, sizeof *k->levels);
        if (!k->levels) return ff_err_set(err, FF_ERR_NOMEM, "VAE: cannot allocate the module tree");
        int slots = 0;
        const int top = d ? C[n - 1] : C[0]; /* decoder: reversed block_out_channels */
        conv_init(&k->conv_in, d ? cfg->latent_channels : cfg->in_channels, top, 3, 3, 3, &slots);
        if (d) { /* decoder: mid block, then up blocks */
            for (int j = 0; j < 2; j++) res_init(&k->mid[j], C[n - 1], C[n - 1], 1, cfg, &slots);
        }
        int out = top;
        for (int i = 0; i < n; i++) {
            cv_level *l = &k->levels[i];
            const int in = out;
            out = d ? C[n - 1 - i] : C[i];
            l->n_res = d ? cfg->layers_per_block + 1 : cfg->layers_per_block;
            l->res = calloc((size_t)l->n_res, sizeof *l->res);
            if (!l->res) return ff_err_set(err, FF_ERR_NOMEM, "VAE: cannot allocate the module tree");
            for (int j = 0; j < l->n_res; j++) res_init(&l->res[j], j == 0 ? in : out, out, d, cfg, &slots);
            l->has_sampler = i != n - 1;
            l->compress_time = i < cfg->temporal_compress_level;
            if (l->has_sampler) conv_init(&l->sampler, out, out, 1, 3, 3, &slots);
        }
        if (!d) {
            for (int j = 0; j < 2; j++) res_init(&k->mid[j], C[n - 1], C[n - 1], 0, cfg, &slots);
            gn_init(&k->norm_out, C[n - 1], 1e-6f);
            conv_init(&k->conv_out, C[n - 1], 2 * cfg->latent_channels, 3, 3, 3, &slots);
        } else {
            gn_init(&k->snorm_out.norm, C[0], 1e-6f);
            conv_init(&k->snorm_out.conv_y, cfg->latent_channels, C[0], 1, 1, 1, &slots);
            conv_init(&k->snorm_out.conv_b, cfg->latent_channels, C[0], 1, 1, 1, &slots);
            conv_init(&k->conv_out, C[0], cfg->out_channels, 3, 3, 3, &slots);
        }
        k->n_slots = slots;
    }
    return FF_OK;
}

/* ---- parameter walk -------------------------------------------------------- */

typedef struct {
    ff_param *out; /* NULL: count */
    size_t n;
} plist;

static void add(plist *pl, ff_tensor *slot, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void add(plist *pl, ff_tensor *slot, int ndim, const int64_t *shape, const char *fmt, ...) {
    if (pl->out) {
        ff_param *p = &pl->out[pl->n];
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
    pl->n++;
}

/* A conv under prefix: "<prefix>.weight" (a sampler's Conv2d is stored 4-D). */
static void add_conv(plist *pl, cv_conv *c, int conv2d, const char *prefix) {
    int64_t ws5[5] = {c->cout, c->cin, c->kt, c->kh, c->kw}, ws4[4] = {c->cout, c->cin, c->kh, c->kw}, bs[1] = {c->cout};
    if (conv2d) add(pl, &c->w, 4, ws4, "%s.weight", prefix);
    else add(pl, &c->w, 5, ws5, "%s.weight", prefix);
    add(pl, &c->b, 1, bs, "%s.bias", prefix);
}

static void add_gn(plist *pl, cv_gn *g, const char *prefix) {
    int64_t s[1] = {g->c};
    add(pl, &g->w, 1, s, "%s.weight", prefix);
    add(pl, &g->b, 1, s, "%s.bias", prefix);
}

static void add_snorm(plist *pl, cv_snorm *s, const char *prefix) {
    char p[FF_PARAM_NAME_MAX];
    snprintf(p, sizeof p, "%s.norm_layer", prefix);
    add_gn(pl, &s->norm, p);
    snprintf(p, sizeof p, "%s.conv_y.conv", prefix);
    add_conv(pl, &s->conv_y, 0, p);
    snprintf(p, sizeof p, "%s.conv_b.conv", prefix);
    add_conv(pl, &s->conv_b, 0, p);
}

static void add_res(plist *pl, cv_res *r, const char *prefix) {
    char p[FF_PARAM_NAME_MAX];
    snprintf(p, sizeof p, "%s.norm1", prefix);
    if (r->spatial) add_snorm(pl, &r->snorm1, p);
    else add_gn(pl, &r->norm1, p);
    snprintf(p, sizeof p, "%s.conv1.conv", prefix);
    add_conv(pl, &r->conv1, 0, p);
    snprintf(p, sizeof p, "%s.norm2", prefix);
    if (r->spatial) add_snorm(pl, &r->snorm2, p);
    else add_gn(pl, &r->norm2, p);
    snprintf(p, sizeof p, "%s.conv2.conv", prefix);
    add_conv(pl, &r->conv2, 0, p);
    if (r->has_shortcut) {
        snprintf(p, sizeof p, "%s.conv_shortcut", prefix); /* CogVideoXSafeConv3d: no .conv */
        add_conv(pl, &r->shortcut, 0, p);
    }
}

static void walk(ff_cogvae *v, plist *pl) {
    char p[FF_PARAM_NAME_MAX];
    for (int d = 0; d < 2; d++) {
        cv_coder *k = d ? &v->dec : &v->enc;
        const char *who = d ? "decoder" : "encoder";
        snprintf(p, sizeof p, "%s.conv_in.conv", who);
        add_conv(pl, &k->conv_in, 0, p);
        if (d)
            for (int j = 0; j < 2; j++) {
                snprintf(p, sizeof p, "decoder.mid_block.resnets.%d", j);
                add_res(pl, &k->mid[j], p);
            }
        for (int i = 0; i < k->n_levels; i++) {
            cv_level *l = &k->levels[i];
            for (int j = 0; j < l->n_res; j++) {
                snprintf(p, sizeof p, "%s.%s.%d.resnets.%d", who, d ? "up_blocks" : "down_blocks", i, j);
                add_res(pl, &l->res[j], p);
            }
            if (l->has_sampler) {
                snprintf(p, sizeof p, "%s.%s.%d.%s.0.conv", who, d ? "up_blocks" : "down_blocks", i,
                         d ? "upsamplers" : "downsamplers");
                add_conv(pl, &l->sampler, 1, p);
            }
        }
        if (!d) {
            for (int j = 0; j < 2; j++) {
                snprintf(p, sizeof p, "encoder.mid_block.resnets.%d", j);
                add_res(pl, &k->mid[j], p);
            }
            add_gn(pl, &k->norm_out, "encoder.norm_out");
        } else {
            add_snorm(pl, &k->snorm_out, "decoder.norm_out");
        }
        snprintf(p, sizeof p, "%s.conv_out.conv", who);
        add_conv(pl, &k->conv_out, 0, p);
    }
}

ff_status cogvae_tree_params(ff_cogvae *v, ff_param **out, size_t *n, ff_err *err) {
    plist pl = {NULL, 0};
    walk(v, &pl);
    ff_param *p = calloc(pl.n ? pl.n : 1, sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the list of %zu VAE parameters", pl.n);
    pl.out = p, pl.n = 0;
    walk(v, &pl);
    *out = p;
    *n = pl.n;
    return FF_OK;
}

void cogvae_destroy(ff_cogvae *v) {
    ff_param *ps;
    size_t np;
    if (cogvae_tree_params(v, &ps, &np, NULL) == FF_OK) {
        for (size_t i = 0; i < np; i++) {
            ff_tensor *t = ps[i].slot;
            if (!t->data) continue;
            if (v->be) ff_be_free(v->be, t);
            else ff_tensor_free(t);
        }
        free(ps);
    }
    for (int d = 0; d < 2; d++) {
        cv_coder *k = d ? &v->dec : &v->enc;
        for (int i = 0; k->levels && i < k->n_levels; i++) free(k->levels[i].res);
        free(k->levels);
        k->levels = NULL;
    }
}

ff_status ff_cogvae_params(const ff_cogvae_config *cfg, ff_param **out, size_t *n, ff_err *err) {
    *out = NULL;
    *n = 0;
    ff_cogvae v;
    memset(&v, 0, sizeof v);
    v.cfg = *cfg;
    ff_status st = cogvae_build(&v, err);
    if (!st) st = cogvae_tree_params(&v, out, n, err);
    if (!st)
        for (size_t i = 0; i < *n; i++) (*out)[i].slot = NULL; /* a shape-only list */
    cogvae_destroy(&v);
    return st;
}

ff_status ff_cogvae_weight_bytes(const ff_cogvae_config *cfg, size_t *bytes, ff_err *err) {
    ff_param *ps;
    size_t n;
    ff_status st = ff_cogvae_params(cfg, &ps, &n, err);
    if (st) return st;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += (size_t)ff_param_numel(&ps[i]) * sizeof(float);
    free(ps);
    *bytes = total;
    return FF_OK;
}

/* ---- loading ------------------------------------------------------------ */

static int cmp_param_name(const void *a, const void *b) {
    return strcmp(((const ff_param *)a)->name, ((const ff_param *)b)->name);
}

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

ff_status ff_cogvae_load(ff_backend *be, const char *dir, ff_cogvae **out, ff_err *err) {
    *out = NULL;
    char vdir[4200], what[4300];
    snprintf(vdir, sizeof vdir, "%s/vae", dir);
    if (!is_dir(vdir)) snprintf(vdir, sizeof vdir, "%s", dir);
    snprintf(what, sizeof what, "%s/config.json", vdir);
    ff_json_doc *doc = NULL;
    ff_weights *w = NULL;
    ff_param *ps = NULL;
    size_t np = 0;
    ff_cogvae *v = calloc(1, sizeof *v);
    if (!v) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the VAE");
    ff_status st = ff_component_config_dir(vdir, &doc, err);
    if (!st) st = ff_cogvae_config_parse(ff_json_root(doc), what, &v->cfg, err);
    if (!st) st = cogvae_build(v, err);
    if (!st) st = ff_weights_open(vdir, &w, err);
    if (!st) st = cogvae_tree_params(v, &ps, &np, err);
    v->be = be;
    for (size_t i = 0; !st && i < np; i++) {
        const ff_st_entry *e;
        if ((st = ff_weights_find(w, ps[i].name, NULL, &e, err))) {
            ff_err_wrap(err, "AutoencoderKLCogVideoX (%s): missing weight: ", vdir);
            break;
        }
        int same = e->ndim == ps[i].ndim;
        for (int k = 0; same && k < e->ndim; k++) same = e->shape[k] == ps[i].shape[k];
        if (!same) {
            char got[96], want[96];
            ff_tensor a, b;
            ff_tensor_view(&a, e->dtype, e->ndim, e->shape, NULL, FF_LOC_HOST);
            ff_tensor_view(&b, FF_F32, ps[i].ndim, ps[i].shape, NULL, FF_LOC_HOST);
            st = ff_err_set(err, FF_ERR_SHAPE, "%s: weight %s is %s, config.json implies %s", vdir, ps[i].name,
                            ff_tensor_describe(&a, got, sizeof got), ff_tensor_describe(&b, want, sizeof want));
            break;
        }
        ff_tensor host;
        if ((st = ff_weights_load(w, ps[i].name, FF_F32, &host, err))) break;
        if (host.ndim == 4) { /* a sampler's Conv2d (O, C, kh, kw) as a (O, C, 1, kh, kw) conv3d */
            int64_t s5[5] = {host.shape[0], host.shape[1], 1, host.shape[2], host.shape[3]};
            ff_tensor_reshape(&host, 5, s5, NULL);
        }
        if (!(st = ff_be_alloc(be, ps[i].slot, FF_F32, host.ndim, host.shape, err))) {
            if ((st = ff_be_upload(be, ps[i].slot, &host, err))) ff_be_free(be, ps[i].slot);
            else v->weight_bytes += ff_tensor_nbytes(&host);
        }
        ff_tensor_free(&host);
        if (st) ff_err_wrap(err, "VAE weight %s: ", ps[i].name);
    }
    if (!st) { /* strict: every tensor of the file is a parameter */
        qsort(ps, np, sizeof *ps, cmp_param_name);
        for (size_t i = 0; i < ff_weights_count(w); i++) {
            const ff_st_entry *e = ff_weights_at(w, i, NULL);
            ff_param key;
            snprintf(key.name, sizeof key.name, "%s", e->name);
            if (bsearch(&key, ps, np, sizeof *ps, cmp_param_name)) continue;
            st = ff_err_set(err, FF_ERR_FORMAT,
                            "%s: unexpected weight %s (not an AutoencoderKLCogVideoX parameter for this config.json)",
                            vdir, e->name);
            break;
        }
    }
    free(ps);
    ff_weights_free(w);
    ff_json_free(doc);
    if (st) {
        ff_cogvae_free(v);
        return st;
    }
    *out = v;
    return FF_OK;
}

void ff_cogvae_free(ff_cogvae *v) {
    if (!v) return;
    cogvae_destroy(v);
    free(v);
}

void ff_cogvae_mem_stats(const ff_cogvae *v, ff_cogvae_mem *m) {
    m->weight_bytes = v->weight_bytes;
    m->run_cur_bytes = v->run_cur;
    m->run_peak_bytes = v->run_peak;
}

void ff_cogvae_mem_reset_peak(ff_cogvae *v) { v->run_peak = v->run_cur; }

/* ---- host helpers ----------------------------------------------------------- */

static ff_status need_host5(const ff_tensor *x, const char *what, ff_err *err) {
    char b[96];
    if (x->ndim != 5 || x->dtype != FF_F32 || x->loc != FF_LOC_HOST || !x->data)
        return ff_err_set(err, FF_ERR_SHAPE, "VAE: %s %s must be an F32 host tensor of 5 dims", what,
                          ff_tensor_describe(x, b, sizeof b));
    return FF_OK;
}

ff_status ff_cogvae_latents_to_z(const ff_cogvae_config *cfg, const ff_tensor *lat, ff_tensor *z, ff_err *err) {
    memset(z, 0, sizeof *z);
    ff_status st = need_host5(lat, "latents", err);
    if (st) return st;
    const int64_t B = lat->shape[0], F = lat->shape[1], C = lat->shape[2], hw = lat->shape[3] * lat->shape[4];
    if ((st = ff_tensor_allocv(z, FF_F32, err, 5, B, C, F, lat->shape[3], lat->shape[4]))) return st;
    const float s = (float)(1.0 / cfg->scaling_factor); /* 1 / scaling_factor (a Python float) * latents */
    const float *src = lat->data;
    float *dst = z->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < F; f++)
            for (int64_t c = 0; c < C; c++) {
                const float *in = src + ((b * F + f) * C + c) * hw;
                float *o = dst + ((b * C + c) * F + f) * hw;
                for (int64_t i = 0; i < hw; i++) o[i] = s * in[i];
            }
    return FF_OK;
}

ff_status ff_cogvae_decode_latents(ff_cogvae *vae, const ff_tensor *lat, const ff_cogvae_opts *o, ff_tensor *video,
                                   ff_tensor *z_out, ff_err *err) {
    memset(video, 0, sizeof *video);
    ff_tensor z;
    ff_status st = ff_cogvae_latents_to_z(&vae->cfg, lat, &z, err);
    if (st) return st;
    st = ff_cogvae_decode(vae, &z, o, video, err);
    if (!st && z_out) *z_out = z;
    else ff_tensor_free(&z);
    return st;
}

ff_status ff_cogvae_posterior_sample(const ff_tensor *mean, const ff_tensor *logvar, ff_rng *gens, size_t n_gens,
                                     ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    ff_status st;
    if ((st = need_host5(mean, "mean", err)) || (st = need_host5(logvar, "logvar", err))) return st;
    if (!ff_tensor_same_shape(mean, logvar)) return ff_err_set(err, FF_ERR_SHAPE, "VAE: mean and logvar differ");
    if ((st = ff_tensor_alloc(out, FF_F32, 5, mean->shape, err))) return st;
    ff_tensor eps;
    if ((st = ff_tensor_alloc(&eps, FF_F32, 5, mean->shape, err))) {
        ff_tensor_free(out);
        return st;
    }
    /* randn_tensor(mean.shape, generator): one generator, or one per sample */
    const size_t n = (size_t)ff_tensor_numel(mean);
    if (n_gens == 1) {
        ff_rng_randn(&gens[0], eps.data, n);
    } else if ((int64_t)n_gens == mean->shape[0]) {
        for (size_t b = 0; b < n_gens; b++) ff_rng_randn(&gens[b], (float *)eps.data + b * (n / n_gens), n / n_gens);
    } else {
        ff_tensor_free(&eps);
        ff_tensor_free(out);
        return ff_err_set(err, FF_ERR_ARG, "VAE posterior: %zu generators for a batch of %lld", n_gens,
                          (long long)mean->shape[0]);
    }
    const float *m = mean->data, *lv = logvar->data, *e = eps.data;
    float *o = out->data;
    for (size_t i = 0; i < n; i++) {
        float sd = expf(0.5f * lv[i]);
        o[i] = m[i] + sd * e[i];
    }
    ff_tensor_free(&eps);
    return FF_OK;
}

ff_status ff_cogvae_scale_encoded(const ff_cogvae_config *cfg, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_status st = ff_tensor_clone(out, x, err);
    if (st) return st;
    const float s = cfg->invert_scale_latents ? (float)(1.0 / cfg->scaling_factor) : (float)cfg->scaling_factor;
    float *d = out->data;
    for (int64_t i = 0, n = ff_tensor_numel(out); i < n; i++) d[i] = s * d[i];
    return FF_OK;
}

ff_status ff_cogvae_postprocess_frames(const ff_tensor *video, ff_tensor *frames, ff_err *err) {
    memset(frames, 0, sizeof *frames);
    ff_status st = need_host5(video, "video", err);
    if (st) return st;
    const int64_t B = video->shape[0], C = video->shape[1], T = video->shape[2], hw = video->shape[3] * video->shape[4];
    if ((st = ff_tensor_allocv(frames, FF_F32, err, 5, B, T, video->shape[3], video->shape[4], C))) return st;
    const float *v = video->data;
    float *f = frames->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < T; t++) {
                const float *in = v + ((b * C + c) * T + t) * hw;
                float *o = f + (b * T + t) * hw * C + c;
                for (int64_t i = 0; i < hw; i++) {
                    float x = in[i] / 2 + 0.5f;
                    o[i * C] = x < 0 ? 0 : (x > 1 ? 1 : x);
                }
            }
    return FF_OK;
}
