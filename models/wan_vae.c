/* wan_vae: AutoencoderKLWan's config, its module tree and weights (names
 * kept verbatim from diffusers), and the small public helpers (latent
 * (de)normalisation, postprocessing, memory counters). The blocks are in
 * wan_vae_blocks.c, the chunk loops, tiling and slicing in wan_vae_tiling.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_json.h"
#include "core/ff_model_dir.h"
#include "models/wan_vae_internal.h"

/* ---- config ------------------------------------------------------------ */

static const float default_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,
                                       -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f,  -0.3632f,
                                       -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
static const float default_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                      3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

static ff_status get_int(const ff_json *o, const char *key, int64_t dflt, int64_t lo, int *out, const char *path,
                         ff_err *err) {
    int64_t v;
    if (ff_json_get_int64(o, key, dflt, &v) || v < lo || v > (1 << 24))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be an integer >= %lld", path, key, (long long)lo);
    *out = (int)v;
    return FF_OK;
}

static ff_status get_floats(const ff_json *o, const char *key, const float *dflt, int n_dflt, float *out, int *n,
                            const char *path, ff_err *err) {
    const ff_json *a = ff_json_get(o, key);
    if (ff_json_is_null(a)) {
        memcpy(out, dflt, sizeof(float) * (size_t)n_dflt);
        *n = n_dflt;
        return FF_OK;
    }
    if (a->type != FF_JSON_ARRAY || ff_json_count(a) > FF_WANVAE_MAX_Z)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be an array of at most %d numbers", path, key, FF_WANVAE_MAX_Z);
    *n = (int)ff_json_count(a);
    for (int i = 0; i < *n; i++) {
        double d;
        if (ff_json_double(ff_json_at(a, (size_t)i), &d))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: %s[%d] is not a number", path, key, i);
        out[i] = (float)d; /* torch.tensor(list) is float32 */
    }
    return FF_OK;
}

ff_status ff_wanvae_config_load(const char *path, ff_wanvae_config *c, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    const ff_json *o = ff_json_root(doc);
    memset(c, 0, sizeof *c);
    if (!o || o->type != FF_JSON_OBJECT) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    const char *cls = ff_json_get_string(o, "_class_name");
    if (cls && strcmp(cls, "AutoencoderKLWan") != 0) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: _class_name %s is not AutoencoderKLWan", path, cls);
        goto done;
    }
    if ((st = get_int(o, "base_dim", 96, 1, &c->base_dim, path, err))) goto done;
    if ((st = get_int(o, "decoder_base_dim", c->base_dim, 1, &c->decoder_base_dim, path, err))) goto done;
    if ((st = get_int(o, "z_dim", 16, 1, &c->z_dim, path, err))) goto done;
    if ((st = get_int(o, "num_res_blocks", 2, 0, &c->num_res_blocks, path, err))) goto done;
    if ((st = get_int(o, "in_channels", 3, 1, &c->in_channels, path, err))) goto done;
    if ((st = get_int(o, "out_channels", 3, 1, &c->out_channels, path, err))) goto done;
    if ((st = get_int(o, "patch_size", 1, 1, &c->patch_size, path, err))) goto done;
    if ((st = get_int(o, "scale_factor_temporal", 4, 1, &c->scale_factor_temporal, path, err))) goto done;
    if ((st = get_int(o, "scale_factor_spatial", 8, 1, &c->scale_factor_spatial, path, err))) goto done;
    if (ff_json_get_bool(o, "is_residual", 0, &c->is_residual)) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: is_residual must be a boolean", path);
        goto done;
    }
    {
        const ff_json *a = ff_json_get(o, "dim_mult");
        if (ff_json_is_null(a)) {
            c->n_levels = 4;
            c->dim_mult[0] = 1, c->dim_mult[1] = 2, c->dim_mult[2] = 4, c->dim_mult[3] = 4;
        } else {
            if (a->type != FF_JSON_ARRAY || ff_json_count(a) < 1 || ff_json_count(a) > FF_WANVAE_MAX_LEVELS) {
                st = ff_err_set(err, FF_ERR_FORMAT, "%s: dim_mult must be an array of 1..%d integers", path,
                                FF_WANVAE_MAX_LEVELS);
                goto done;
            }
            c->n_levels = (int)ff_json_count(a);
            for (int i = 0; i < c->n_levels; i++) {
                int64_t m;
                if (ff_json_int64(ff_json_at(a, (size_t)i), &m) || m < 1 || m > 4096) {
                    st = ff_err_set(err, FF_ERR_FORMAT, "%s: dim_mult[%d] must be a positive integer", path, i);
                    goto done;
                }
                c->dim_mult[i] = (int)m;
            }
        }
    }
    {
        const ff_json *a = ff_json_get(o, "temperal_downsample");
        if (ff_json_is_null(a)) {
            c->n_temperal = 3;
            c->temperal_downsample[0] = 0, c->temperal_downsample[1] = 1, c->temperal_downsample[2] = 1;
        } else {
            if (a->type != FF_JSON_ARRAY || ff_json_count(a) > FF_WANVAE_MAX_LEVELS) {
                st = ff_err_set(err, FF_ERR_FORMAT, "%s: temperal_downsample must be an array of booleans", path);
                goto done;
            }
            c->n_temperal = (int)ff_json_count(a);
            for (int i = 0; i < c->n_temperal; i++) {
                const ff_json *b = ff_json_at(a, (size_t)i);
                if (!b || b->type != FF_JSON_BOOL) {
                    st = ff_err_set(err, FF_ERR_FORMAT, "%s: temperal_downsample[%d] is not a boolean", path, i);
                    goto done;
                }
                c->temperal_downsample[i] = b->boolean;
            }
        }
        if (c->n_temperal < c->n_levels - 1) {
            st = ff_err_set(err, FF_ERR_FORMAT,
                            "%s: temperal_downsample has %d entries, dim_mult needs %d (diffusers indexes it per level)",
                            path, c->n_temperal, c->n_levels - 1);
            goto done;
        }
    }
    {
        const ff_json *a = ff_json_get(o, "attn_scales");
        if (!ff_json_is_null(a)) {
            if (a->type != FF_JSON_ARRAY || ff_json_count(a) > FF_WANVAE_MAX_LEVELS * 2) {
                st = ff_err_set(err, FF_ERR_FORMAT, "%s: attn_scales must be an array of numbers", path);
                goto done;
            }
            c->n_attn_scales = (int)ff_json_count(a);
            for (int i = 0; i < c->n_attn_scales; i++)
                if (ff_json_double(ff_json_at(a, (size_t)i), &c->attn_scales[i])) {
                    st = ff_err_set(err, FF_ERR_FORMAT, "%s: attn_scales[%d] is not a number", path, i);
                    goto done;
                }
        }
    }
    if (c->in_channels % (c->patch_size * c->patch_size) || c->out_channels % (c->patch_size * c->patch_size)) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: in_channels %d / out_channels %d not divisible by patch_size^2 = %d",
                        path, c->in_channels, c->out_channels, c->patch_size * c->patch_size);
        goto done;
    }
    if ((st = get_floats(o, "latents_mean", default_mean, 16, c->latents_mean, &c->n_latents_mean, path, err))) goto done;
    if ((st = get_floats(o, "latents_std", default_std, 16, c->latents_std, &c->n_latents_std, path, err))) goto done;
done:
    ff_json_free(doc);
    return st;
}

/* ---- weights ----------------------------------------------------------- */

typedef struct {
    ff_vae *v;
    const ff_weights *w;
    char name[256];
} loader;

/* Loads name, checks its shape, reshapes it to (ndim2, shape2) and uploads. */
static ff_status load_t(loader *L, const char *name, int ndim, const int64_t *expect, int ndim2, const int64_t *shape2,
                        ff_tensor *dst, ff_err *err) {
    ff_tensor h = {0};
    ff_status st = ff_weights_load(L->w, name, FF_F32, &h, err);
    if (st) return ff_err_wrap(err, "vae weights in %s", L->v->dir);
    int ok = h.ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = h.shape[i] == expect[i];
    if (!ok) {
        char got[96], want[96] = "[";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? ", " : "", (long long)expect[i]);
        strncat(want, "]", sizeof want - strlen(want) - 1);
        st = ff_err_set(err, FF_ERR_SHAPE, "vae weight %s in %s: shape %s, config.json implies %s", name, L->v->dir,
                        ff_tensor_describe(&h, got, sizeof got), want);
        ff_tensor_free(&h);
        return st;
    }
    if ((st = ff_tensor_reshape(&h, ndim2, shape2, err)) || (st = ff_be_alloc(L->v->be, dst, FF_F32, ndim2, shape2, err))) {
        ff_tensor_free(&h);
        return st;
    }
    st = ff_be_upload(L->v->be, dst, &h, err);
    ff_tensor_free(&h);
    if (st) {
        ff_be_free(L->v->be, dst);
        memset(dst, 0, sizeof *dst);
        return st;
    }
    L->v->weight_bytes += ff_tensor_nbytes(dst);
    return FF_OK;
}

static const char *nm(loader *L, const char *prefix, const char *suffix) {
    int n = snprintf(L->name, sizeof L->name, "%s.%s", prefix, suffix);
    if (n < 0 || (size_t)n >= sizeof L->name) L->name[0] = 0; /* never with diffusers' names */
    return L->name;
}

/* A WanCausalConv3d (conv2d = 0) or an nn.Conv2d stored as (O, C, 1, k, k). */
static ff_status load_conv(loader *L, const char *prefix, int cin, int cout, int kt, int kh, int kw, int conv2d,
                           vae_conv *c, ff_err *err) {
    memset(c, 0, sizeof *c);
    c->cin = cin, c->cout = cout, c->kt = kt, c->kh = kh, c->kw = kw;
    c->stride[0] = c->stride[1] = c->stride[2] = 1;
    c->pad_t = kt - 1; /* 2 * padding[0] with padding = (k - 1) / 2, or 0 */
    c->pad_h = (kh - 1) / 2, c->pad_w = (kw - 1) / 2;
    const int64_t w5[5] = {cout, cin, kt, kh, kw}, w4[4] = {cout, cin, kh, kw}, b1[1] = {cout};
    ff_status st = conv2d ? load_t(L, nm(L, prefix, "weight"), 4, w4, 5, w5, &c->w, err)
                          : load_t(L, nm(L, prefix, "weight"), 5, w5, 5, w5, &c->w, err);
    if (!st) st = load_t(L, nm(L, prefix, "bias"), 1, b1, 1, b1, &c->b, err);
    return st;
}

static ff_status load_norm(loader *L, const char *prefix, int dim, int images, vae_norm *n, ff_err *err) {
    const int64_t g[4] = {dim, 1, 1, 1}, g1[1] = {dim};
    n->dim = dim;
    return load_t(L, nm(L, prefix, "gamma"), images ? 3 : 4, g, 1, g1, &n->gamma, err);
}

static ff_status load_res(loader *L, const char *prefix, int in, int out, vae_res *r, int *slots, ff_err *err) {
    char p[256];
    ff_status st;
    memset(r, 0, sizeof *r);
    snprintf(p, sizeof p, "%s.norm1", prefix);
    if ((st = load_norm(L, p, in, 0, &r->norm1, err))) return st;
    snprintf(p, sizeof p, "%s.conv1", prefix);
    if ((st = load_conv(L, p, in, out, 3, 3, 3, 0, &r->conv1, err))) return st;
    snprintf(p, sizeof p, "%s.norm2", prefix);
    if ((st = load_norm(L, p, out, 0, &r->norm2, err))) return st;
    snprintf(p, sizeof p, "%s.conv2", prefix);
    if ((st = load_conv(L, p, out, out, 3, 3, 3, 0, &r->conv2, err))) return st;
    *slots += 2;
    if (in != out) {
        r->has_shortcut = 1;
        snprintf(p, sizeof p, "%s.conv_shortcut", prefix);
        if ((st = load_conv(L, p, in, out, 1, 1, 1, 0, &r->conv_shortcut, err))) return st;
    }
    return FF_OK;
}

static ff_status load_attn(loader *L, const char *prefix, int dim, vae_attn *a, ff_err *err) {
    char p[256];
    ff_status st;
    memset(a, 0, sizeof *a);
    a->dim = dim;
    snprintf(p, sizeof p, "%s.norm", prefix);
    if ((st = load_norm(L, p, dim, 1, &a->norm, err))) return st;
    const int64_t qw[4] = {3 * dim, dim, 1, 1}, qw2[2] = {3 * dim, dim}, qb[1] = {3 * dim};
    const int64_t pw[4] = {dim, dim, 1, 1}, pw2[2] = {dim, dim}, pb[1] = {dim};
    snprintf(p, sizeof p, "%s.to_qkv", prefix);
    if ((st = load_t(L, nm(L, p, "weight"), 4, qw, 2, qw2, &a->qkv_w, err))) return st;
    if ((st = load_t(L, nm(L, p, "bias"), 1, qb, 1, qb, &a->qkv_b, err))) return st;
    snprintf(p, sizeof p, "%s.proj", prefix);
    if ((st = load_t(L, nm(L, p, "weight"), 4, pw, 2, pw2, &a->proj_w, err))) return st;
    return load_t(L, nm(L, p, "bias"), 1, pb, 1, pb, &a->proj_b, err);
}

static ff_status load_resample(loader *L, const char *prefix, int dim, vae_rs_mode mode, int up_out, vae_resample *rs,
                               int *slots, ff_err *err) {
    char p[256];
    ff_status st;
    memset(rs, 0, sizeof *rs);
    rs->mode = mode;
    rs->dim = dim;
    int up = mode == RS_UP2D || mode == RS_UP3D;
    rs->out_dim = up ? up_out : dim;
    snprintf(p, sizeof p, "%s.resample.1", prefix);
    if ((st = load_conv(L, p, dim, rs->out_dim, 1, 3, 3, 1, &rs->resample, err))) return st;
    if (!up) rs->resample.stride[1] = rs->resample.stride[2] = 2, rs->resample.pad_h = rs->resample.pad_w = 0;
    snprintf(p, sizeof p, "%s.time_conv", prefix);
    if (mode == RS_UP3D) {
        if ((st = load_conv(L, p, dim, 2 * dim, 3, 1, 1, 0, &rs->time_conv, err))) return st;
        (*slots)++;
    } else if (mode == RS_DOWN3D) {
        if ((st = load_conv(L, p, dim, dim, 3, 1, 1, 0, &rs->time_conv, err))) return st;
        rs->time_conv.stride[0] = 2;
        rs->time_conv.pad_t = 0;
        (*slots)++;
    }
    return FF_OK;
}

static ff_status level_alloc(vae_level *lv, int n_res, ff_err *err) {
    lv->n_res = n_res;
    lv->res = calloc((size_t)(n_res ? n_res : 1), sizeof *lv->res);
    lv->attn = calloc((size_t)(n_res ? n_res : 1), sizeof *lv->attn);
    if (!lv->res || !lv->attn) return ff_err_set(err, FF_ERR_NOMEM, "vae: out of memory for blocks");
    return FF_OK;
}

static ff_status load_mid(loader *L, const char *prefix, int dim, vae_mid *m, int *slots, ff_err *err) {
    char p[256];
    ff_status st;
    snprintf(p, sizeof p, "%s.resnets.0", prefix);
    if ((st = load_res(L, p, dim, dim, &m->res0, slots, err))) return st;
    snprintf(p, sizeof p, "%s.attentions.0", prefix);
    if ((st = load_attn(L, p, dim, &m->attn, err))) return st;
    snprintf(p, sizeof p, "%s.resnets.1", prefix);
    return load_res(L, p, dim, dim, &m->res1, slots, err);
}

/* WanEncoder3d(in_channels, base_dim, z_dim * 2, ...). At the diffusers
 * commit of the reference data in_channels / out_channels are the encoder
 * input / decoder output channels AFTER patchify (Wan 2.2: 12 = 3 * 2 * 2). */
static ff_status load_encoder(loader *L, ff_err *err) {
    const ff_wanvae_config *c = &L->v->cfg;
    vae_coder *e = &L->v->enc;
    int n = c->n_levels, dims[FF_WANVAE_MAX_LEVELS + 1];
    char p[256];
    ff_status st;
    dims[0] = c->base_dim;
    for (int i = 0; i < n; i++) dims[i + 1] = c->base_dim * c->dim_mult[i];
    if ((st = load_conv(L, "encoder.conv_in", c->in_channels, dims[0], 3, 3, 3, 0, &e->conv_in, err)))
        return st;
    e->n_slots = 1;
    e->n_levels = n;
    if (!(e->levels = calloc((size_t)n, sizeof *e->levels))) return ff_err_set(err, FF_ERR_NOMEM, "vae: out of memory");
    double scale = 1.0;
    int flat = 0; /* 2.1: encoder.down_blocks is one flat list */
    for (int i = 0; i < n; i++) {
        vae_level *lv = &e->levels[i];
        int in = dims[i], out = dims[i + 1], down = i != n - 1;
        if ((st = level_alloc(lv, c->num_res_blocks, err))) return st;
        if (c->is_residual) {
            int tdown = down && c->temperal_downsample[i];
            for (int k = 0; k < c->num_res_blocks; k++) {
                snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, k);
                if ((st = load_res(L, p, k ? out : in, out, &lv->res[k], &e->n_slots, err))) return st;
            }
            if (down) {
                lv->has_resample = 1;
                snprintf(p, sizeof p, "encoder.down_blocks.%d.downsampler", i);
                if ((st = load_resample(L, p, out, tdown ? RS_DOWN3D : RS_DOWN2D, 0, &lv->rs, &e->n_slots, err)))
                    return st;
            }
            lv->sc = (vae_shortcut){1, in, out, tdown ? 2 : 1, down ? 2 : 1};
            if (((int64_t)in * lv->sc.ft * lv->sc.fs * lv->sc.fs) % out)
                return ff_err_set(err, FF_ERR_UNSUPPORTED,
                                  "vae encoder.down_blocks.%d: AvgDown3D needs in_dim*factor (%d*%d) divisible by out_dim %d",
                                  i, in, lv->sc.ft * lv->sc.fs * lv->sc.fs, out);
        } else {
            for (int k = 0; k < c->num_res_blocks; k++) {
                snprintf(p, sizeof p, "encoder.down_blocks.%d", flat++);
                if ((st = load_res(L, p, k ? out : in, out, &lv->res[k], &e->n_slots, err))) return st;
                int has_attn = 0;
                for (int a = 0; a < c->n_attn_scales; a++) has_attn |= c->attn_scales[a] == scale;
                if (has_attn) {
                    if (!(lv->attn[k] = calloc(1, sizeof *lv->attn[k])))
                        return ff_err_set(err, FF_ERR_NOMEM, "vae: out of memory");
                    snprintf(p, sizeof p, "encoder.down_blocks.%d", flat++);
                    if ((st = load_attn(L, p, out, lv->attn[k], err))) return st;
                }
            }
            if (down) {
                lv->has_resample = 1;
                snprintf(p, sizeof p, "encoder.down_blocks.%d", flat++);
                if ((st = load_resample(L, p, out, c->temperal_downsample[i] ? RS_DOWN3D : RS_DOWN2D, 0, &lv->rs,
                                        &e->n_slots, err)))
                    return st;
                scale /= 2.0;
            }
        }
    }
    if ((st = load_mid(L, "encoder.mid_block", dims[n], &e->mid, &e->n_slots, err))) return st;
    if ((st = load_norm(L, "encoder.norm_out", dims[n], 0, &e->norm_out, err))) return st;
    if ((st = load_conv(L, "encoder.conv_out", dims[n], 2 * c->z_dim, 3, 3, 3, 0, &e->conv_out, err))) return st;
    e->n_slots++;
    return FF_OK;
}

/* WanDecoder3d(decoder_base_dim, z_dim, ..., temperal_upsample =
 * temperal_downsample[::-1], out_channels). */
static ff_status load_decoder(loader *L, ff_err *err) {
    const ff_wanvae_config *c = &L->v->cfg;
    vae_coder *d = &L->v->dec;
    int n = c->n_levels, dims[FF_WANVAE_MAX_LEVELS + 1];
    char p[256];
    ff_status st;
    dims[0] = c->decoder_base_dim * c->dim_mult[n - 1];
    for (int i = 0; i < n; i++) dims[i + 1] = c->decoder_base_dim * c->dim_mult[n - 1 - i];
    if ((st = load_conv(L, "decoder.conv_in", c->z_dim, dims[0], 3, 3, 3, 0, &d->conv_in, err))) return st;
    d->n_slots = 1;
    if ((st = load_mid(L, "decoder.mid_block", dims[0], &d->mid, &d->n_slots, err))) return st;
    d->n_levels = n;
    if (!(d->levels = calloc((size_t)n, sizeof *d->levels))) return ff_err_set(err, FF_ERR_NOMEM, "vae: out of memory");
    for (int i = 0; i < n; i++) {
        vae_level *lv = &d->levels[i];
        int in = dims[i], out = dims[i + 1], up = i != n - 1;
        if (i > 0 && !c->is_residual) in /= 2; /* the 2.1 upsampler halves the channels */
        int tup = up && c->temperal_downsample[c->n_temperal - 1 - i];
        if ((st = level_alloc(lv, c->num_res_blocks + 1, err))) return st;
        for (int k = 0; k < c->num_res_blocks + 1; k++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, k);
            if ((st = load_res(L, p, k ? out : in, out, &lv->res[k], &d->n_slots, err))) return st;
        }
        if (!up) continue;
        lv->has_resample = 1;
        snprintf(p, sizeof p, c->is_residual ? "decoder.up_blocks.%d.upsampler" : "decoder.up_blocks.%d.upsamplers.0", i);
        if ((st = load_resample(L, p, out, tup ? RS_UP3D : RS_UP2D, c->is_residual ? out : out / 2, &lv->rs,
                                &d->n_slots, err)))
            return st;
        if (c->is_residual) {
            lv->sc = (vae_shortcut){1, in, out, tup ? 2 : 1, 2};
            if (((int64_t)out * lv->sc.ft * 4) % in)
                return ff_err_set(err, FF_ERR_UNSUPPORTED,
                                  "vae decoder.up_blocks.%d: DupUp3D needs out_dim*factor (%d*%d) divisible by in_dim %d",
                                  i, out, lv->sc.ft * 4, in);
        }
    }
    int last = dims[n];
    if ((st = load_norm(L, "decoder.norm_out", last, 0, &d->norm_out, err))) return st;
    if ((st = load_conv(L, "decoder.conv_out", last, c->out_channels, 3, 3, 3, 0, &d->conv_out, err)))
        return st;
    d->n_slots++;
    return FF_OK;
}

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

ff_status ff_wanvae_load(ff_backend *be, const char *dir, ff_vae **out, ff_err *err) {
    *out = NULL;
    ff_vae *v = calloc(1, sizeof *v);
    if (!v) return ff_err_set(err, FF_ERR_NOMEM, "vae: out of memory");
    v->be = be;
    char cfg_path[4200];
    snprintf(v->dir, sizeof v->dir, "%s/vae", dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", v->dir);
    if (!is_file(cfg_path)) { /* not a pipeline folder: the vae folder itself */
        snprintf(v->dir, sizeof v->dir, "%s", dir);
        snprintf(cfg_path, sizeof cfg_path, "%s/config.json", v->dir);
    }
    ff_weights *w = NULL;
    ff_status st = ff_wanvae_config_load(cfg_path, &v->cfg, err);
    if (!st) st = ff_weights_open(v->dir, &w, err);
    if (st) goto fail;
    loader L = {v, w, {0}};
    if ((st = load_encoder(&L, err)) || (st = load_decoder(&L, err))) goto fail;
    const ff_wanvae_config *c = &v->cfg;
    if ((st = load_conv(&L, "quant_conv", 2 * c->z_dim, 2 * c->z_dim, 1, 1, 1, 0, &v->quant_conv, err)) ||
        (st = load_conv(&L, "post_quant_conv", c->z_dim, c->z_dim, 1, 1, 1, 0, &v->post_quant_conv, err)))
        goto fail;
    ff_weights_free(w);
    *out = v;
    return FF_OK;
fail:
    ff_weights_free(w);
    ff_wanvae_free(v);
    return st;
}

/* ---- free -------------------------------------------------------------- */

static void free_w(ff_backend *be, ff_tensor *t) {
    if (t->data) ff_be_free(be, t);
    memset(t, 0, sizeof *t);
}

static void free_conv(ff_backend *be, vae_conv *c) {
    free_w(be, &c->w);
    free_w(be, &c->b);
}

static void free_res(ff_backend *be, vae_res *r) {
    free_w(be, &r->norm1.gamma);
    free_w(be, &r->norm2.gamma);
    free_conv(be, &r->conv1);
    free_conv(be, &r->conv2);
    free_conv(be, &r->conv_shortcut);
}

static void free_attn(ff_backend *be, vae_attn *a) {
    free_w(be, &a->norm.gamma);
    free_w(be, &a->qkv_w);
    free_w(be, &a->qkv_b);
    free_w(be, &a->proj_w);
    free_w(be, &a->proj_b);
}

static void free_coder(ff_backend *be, vae_coder *c) {
    free_conv(be, &c->conv_in);
    free_conv(be, &c->conv_out);
    free_w(be, &c->norm_out.gamma);
    free_res(be, &c->mid.res0);
    free_res(be, &c->mid.res1);
    free_attn(be, &c->mid.attn);
    for (int i = 0; c->levels && i < c->n_levels; i++) {
        vae_level *lv = &c->levels[i];
        for (int k = 0; k < lv->n_res; k++) {
            if (lv->res) free_res(be, &lv->res[k]);
            if (lv->attn && lv->attn[k]) {
                free_attn(be, lv->attn[k]);
                free(lv->attn[k]);
            }
        }
        free_conv(be, &lv->rs.resample);
        free_conv(be, &lv->rs.time_conv);
        free(lv->res);
        free(lv->attn);
    }
    free(c->levels);
}

void ff_wanvae_free(ff_vae *v) {
    if (!v) return;
    free_coder(v->be, &v->enc);
    free_coder(v->be, &v->dec);
    free_conv(v->be, &v->quant_conv);
    free_conv(v->be, &v->post_quant_conv);
    free(v);
}

const ff_wanvae_config *ff_wanvae_config_of(const ff_vae *v) { return &v->cfg; }

void ff_wanvae_opts_default(ff_wanvae_opts *o) {
    memset(o, 0, sizeof *o);
    o->tile_sample_min_height = o->tile_sample_min_width = 256;
    o->tile_sample_stride_height = o->tile_sample_stride_width = 192;
}

void ff_wanvae_mem_stats(const ff_vae *v, ff_wanvae_mem *m) {
    m->weight_bytes = v->weight_bytes;
    m->run_cur_bytes = v->run_cur;
    m->run_peak_bytes = v->run_peak;
}

void ff_wanvae_mem_reset_peak(ff_vae *v) { v->run_peak = v->run_cur; }

/* ---- latent normalisation, postprocessing ------------------------------ */

/* x (B, C, ...) host -> out = (x op1 a_c) op2 b_c with per-channel a, b. */
static ff_status per_channel(ff_vae *v, const ff_tensor *x, ff_binary_kind op1, const float *a, ff_binary_kind op2,
                             const float *b, ff_tensor *out, const char *what, ff_err *err) {
    int64_t C = x->ndim >= 2 ? x->shape[1] : 0;
    memset(out, 0, sizeof *out);
    if (x->dtype != FF_F32 || x->ndim < 2 || C != v->cfg.z_dim || v->cfg.n_latents_mean != C ||
        v->cfg.n_latents_std != C) {
        char buf[96];
        return ff_err_set(err, FF_ERR_SHAPE, "vae %s: latents %s, z_dim %d, %d means, %d stds", what,
                          ff_tensor_describe(x, buf, sizeof buf), v->cfg.z_dim, v->cfg.n_latents_mean,
                          v->cfg.n_latents_std);
    }
    int64_t cs[FF_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) cs[i] = i == 1 ? C : 1;
    ff_tensor ha = {0}, hb = {0}, da = {0}, db = {0}, dx = {0};
    ff_status st = ff_tensor_alloc(&ha, FF_F32, x->ndim, cs, err);
    if (!st) st = ff_tensor_alloc(&hb, FF_F32, x->ndim, cs, err);
    if (st) goto done;
    memcpy(ha.data, a, sizeof(float) * (size_t)C);
    memcpy(hb.data, b, sizeof(float) * (size_t)C);
    if ((st = wanvae_upload_new(v, &ha, &da, err)) || (st = wanvae_upload_new(v, &hb, &db, err)) ||
        (st = wanvae_upload_new(v, x, &dx, err)))
        goto done;
    if ((st = ff_op_binary(v->be, op1, &dx, &da, &dx, err)) || (st = ff_op_binary(v->be, op2, &dx, &db, &dx, err)))
        goto done;
    if ((st = ff_tensor_alloc(out, FF_F32, x->ndim, x->shape, err))) goto done;
    if ((st = ff_be_download(v->be, out, &dx, err))) ff_tensor_free(out);
done:
    ff_tensor_free(&ha);
    ff_tensor_free(&hb);
    wanvae_free(v, &da);
    wanvae_free(v, &db);
    wanvae_free(v, &dx);
    return st;
}

ff_status ff_wanvae_denormalize(ff_vae *v, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    float inv[FF_WANVAE_MAX_Z];
    for (int i = 0; i < v->cfg.n_latents_std; i++) inv[i] = 1.0f / v->cfg.latents_std[i];
    return per_channel(v, x, FF_BIN_DIV, inv, FF_BIN_ADD, v->cfg.latents_mean, out, "denormalize", err);
}

ff_status ff_wanvae_normalize(ff_vae *v, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    float inv[FF_WANVAE_MAX_Z];
    for (int i = 0; i < v->cfg.n_latents_std; i++) inv[i] = 1.0f / v->cfg.latents_std[i];
    return per_channel(v, x, FF_BIN_SUB, v->cfg.latents_mean, FF_BIN_MUL, inv, out, "normalize", err);
}

ff_status ff_wanvae_postprocess_frames(ff_vae *v, const ff_tensor *video, ff_tensor *frames, ff_err *err) {
    memset(frames, 0, sizeof *frames);
    if (video->dtype != FF_F32 || video->ndim != 5) {
        char buf[96];
        return ff_err_set(err, FF_ERR_SHAPE, "vae postprocess: video %s is not F32 (B, C, T, H, W)",
                          ff_tensor_describe(video, buf, sizeof buf));
    }
    const int64_t *s = video->shape;
    const int64_t fs[5] = {s[0], s[2], s[3], s[4], s[1]};
    const int perm[5] = {0, 2, 3, 4, 1};
    ff_tensor dv = {0}, df = {0};
    ff_status st = wanvae_upload_new(v, video, &dv, err);
    if (!st) st = ff_op_scale(v->be, &dv, 0.5f, 0.5f, &dv, err);
    if (!st) st = ff_op_clamp(v->be, &dv, 0.0f, 1.0f, &dv, err);
    if (!st) st = wanvae_alloc(v, &df, 5, fs, err);
    if (!st) st = ff_op_permute(v->be, &dv, perm, &df, err);
    if (!st) st = ff_tensor_alloc(frames, FF_F32, 5, fs, err);
    if (!st && (st = ff_be_download(v->be, frames, &df, err))) ff_tensor_free(frames);
    wanvae_free(v, &dv);
    wanvae_free(v, &df);
    return st;
}
