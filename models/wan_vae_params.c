/* wan_vae_params: AutoencoderKLWan's weight names and shapes from its config.
 * Mirrors the module tree ff_wanvae_load walks (wan_vae.c load_encoder /
 * load_decoder): WanEncoder3d (2.1: one flat down_blocks list of resnets,
 * attentions and resamples; 2.2 residual: down_blocks.i.resnets.k and
 * down_blocks.i.downsampler), the mid block, WanDecoder3d (up_blocks.i.resnets.k
 * and upsamplers.0 / upsampler), quant_conv and post_quant_conv. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan_vae_params.h"

typedef struct {
    ff_param *v;
    size_t n, cap;
    ff_status st;
    ff_err *err;
} plist;

static void add(plist *L, const char *prefix, const char *suffix, int ndim, ...) {
    if (L->st) return;
    if (L->n == L->cap) {
        size_t nc = L->cap ? 2 * L->cap : 256;
        ff_param *nv = realloc(L->v, nc * sizeof *nv);
        if (!nv) {
            L->st = ff_err_set(L->err, FF_ERR_NOMEM, "vae params: no memory for %zu entries", nc);
            return;
        }
        L->v = nv;
        L->cap = nc;
    }
    ff_param *p = &L->v[L->n];
    int k = snprintf(p->name, sizeof p->name, "%s.%s", prefix, suffix);
    if (k < 0 || (size_t)k >= sizeof p->name) {
        L->st = ff_err_set(L->err, FF_ERR_INTERNAL, "vae params: name %s.%s too long", prefix, suffix);
        return;
    }
    p->ndim = ndim;
    p->dtype = FF_F32;
    p->block = -1;
    p->slot = NULL;
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < FF_MAX_DIMS; i++) p->shape[i] = i < ndim ? va_arg(ap, int64_t) : 1;
    va_end(ap);
    L->n++;
}

#define I(x) ((int64_t)(x))

/* WanCausalConv3d */
static void conv3d(plist *L, const char *prefix, int cin, int cout, int kt, int kh, int kw) {
    add(L, prefix, "weight", 5, I(cout), I(cin), I(kt), I(kh), I(kw));
    add(L, prefix, "bias", 1, I(cout));
}

/* nn.Conv2d */
static void conv2d(plist *L, const char *prefix, int cin, int cout, int k) {
    add(L, prefix, "weight", 4, I(cout), I(cin), I(k), I(k));
    add(L, prefix, "bias", 1, I(cout));
}

static void norm(plist *L, const char *prefix, int dim, int images) {
    if (images) add(L, prefix, "gamma", 3, I(dim), I(1), I(1));
    else add(L, prefix, "gamma", 4, I(dim), I(1), I(1), I(1));
}

static void sub(char *buf, size_t n, const char *prefix, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void sub(char *buf, size_t n, const char *prefix, const char *fmt, ...) {
    int k = snprintf(buf, n, "%s.", prefix);
    va_list ap;
    va_start(ap, fmt);
    if (k >= 0 && (size_t)k < n) vsnprintf(buf + k, n - (size_t)k, fmt, ap);
    va_end(ap);
}

/* WanResidualBlock */
static void res(plist *L, const char *prefix, int in, int out) {
    char p[FF_PARAM_NAME_MAX];
    sub(p, sizeof p, prefix, "norm1");
    norm(L, p, in, 0);
    sub(p, sizeof p, prefix, "conv1");
    conv3d(L, p, in, out, 3, 3, 3);
    sub(p, sizeof p, prefix, "norm2");
    norm(L, p, out, 0);
    sub(p, sizeof p, prefix, "conv2");
    conv3d(L, p, out, out, 3, 3, 3);
    if (in != out) {
        sub(p, sizeof p, prefix, "conv_shortcut");
        conv3d(L, p, in, out, 1, 1, 1);
    }
}

/* WanAttentionBlock */
static void attn(plist *L, const char *prefix, int dim) {
    char p[FF_PARAM_NAME_MAX];
    sub(p, sizeof p, prefix, "norm");
    norm(L, p, dim, 1);
    sub(p, sizeof p, prefix, "to_qkv");
    conv2d(L, p, dim, 3 * dim, 1);
    sub(p, sizeof p, prefix, "proj");
    conv2d(L, p, dim, dim, 1);
}

/* WanResample: resample.1 (conv2d 3x3) and, for the 3-D modes, time_conv. */
static void resample(plist *L, const char *prefix, int dim, int up, int temporal, int up_out) {
    char p[FF_PARAM_NAME_MAX];
    sub(p, sizeof p, prefix, "resample.1");
    conv2d(L, p, dim, up ? up_out : dim, 3);
    if (!temporal) return;
    sub(p, sizeof p, prefix, "time_conv");
    conv3d(L, p, dim, up ? 2 * dim : dim, 3, 1, 1);
}

static void mid(plist *L, const char *prefix, int dim) {
    char p[FF_PARAM_NAME_MAX];
    sub(p, sizeof p, prefix, "resnets.0");
    res(L, p, dim, dim);
    sub(p, sizeof p, prefix, "attentions.0");
    attn(L, p, dim);
    sub(p, sizeof p, prefix, "resnets.1");
    res(L, p, dim, dim);
}

static void encoder(plist *L, const ff_wanvae_config *c) {
    int n = c->n_levels, dims[FF_WANVAE_MAX_LEVELS + 1];
    char p[FF_PARAM_NAME_MAX];
    dims[0] = c->base_dim;
    for (int i = 0; i < n; i++) dims[i + 1] = c->base_dim * c->dim_mult[i];
    conv3d(L, "encoder.conv_in", c->in_channels, dims[0], 3, 3, 3);
    double scale = 1.0;
    int flat = 0;
    for (int i = 0; i < n && !L->st; i++) {
        int in = dims[i], out = dims[i + 1], down = i != n - 1;
        if (c->is_residual) {
            for (int k = 0; k < c->num_res_blocks; k++) {
                snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, k);
                res(L, p, k ? out : in, out);
            }
            if (down) {
                snprintf(p, sizeof p, "encoder.down_blocks.%d.downsampler", i);
                resample(L, p, out, 0, c->temperal_downsample[i], 0);
            }
            int ft = down && c->temperal_downsample[i] ? 2 : 1, fs = down ? 2 : 1;
            if (((int64_t)in * ft * fs * fs) % out)
                L->st = ff_err_set(L->err, FF_ERR_UNSUPPORTED,
                                   "vae encoder.down_blocks.%d: AvgDown3D needs in_dim*factor (%d*%d) divisible by out_dim %d",
                                   i, in, ft * fs * fs, out);
        } else {
            for (int k = 0; k < c->num_res_blocks; k++) {
                snprintf(p, sizeof p, "encoder.down_blocks.%d", flat++);
                res(L, p, k ? out : in, out);
                int has_attn = 0;
                for (int a = 0; a < c->n_attn_scales; a++) has_attn |= c->attn_scales[a] == scale;
                if (has_attn) {
                    snprintf(p, sizeof p, "encoder.down_blocks.%d", flat++);
                    attn(L, p, out);
                }
            }
            if (down) {
                snprintf(p, sizeof p, "encoder.down_blocks.%d", flat++);
                resample(L, p, out, 0, c->temperal_downsample[i], 0);
                scale /= 2.0;
            }
        }
    }
    mid(L, "encoder.mid_block", dims[n]);
    norm(L, "encoder.norm_out", dims[n], 0);
    conv3d(L, "encoder.conv_out", dims[n], 2 * c->z_dim, 3, 3, 3);
}

static void decoder(plist *L, const ff_wanvae_config *c) {
    int n = c->n_levels, dims[FF_WANVAE_MAX_LEVELS + 1];
    char p[FF_PARAM_NAME_MAX];
    dims[0] = c->decoder_base_dim * c->dim_mult[n - 1];
    for (int i = 0; i < n; i++) dims[i + 1] = c->decoder_base_dim * c->dim_mult[n - 1 - i];
    conv3d(L, "decoder.conv_in", c->z_dim, dims[0], 3, 3, 3);
    mid(L, "decoder.mid_block", dims[0]);
    for (int i = 0; i < n && !L->st; i++) {
        int in = dims[i], out = dims[i + 1], up = i != n - 1;
        if (i > 0 && !c->is_residual) in /= 2; /* the 2.1 upsampler halves the channels */
        int tup = up && c->temperal_downsample[c->n_temperal - 1 - i];
        for (int k = 0; k < c->num_res_blocks + 1; k++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, k);
            res(L, p, k ? out : in, out);
        }
        if (!up) continue;
        snprintf(p, sizeof p, c->is_residual ? "decoder.up_blocks.%d.upsampler" : "decoder.up_blocks.%d.upsamplers.0", i);
        resample(L, p, out, 1, tup, c->is_residual ? out : out / 2);
        if (c->is_residual && ((int64_t)out * (tup ? 2 : 1) * 4) % in)
            L->st = ff_err_set(L->err, FF_ERR_UNSUPPORTED,
                               "vae decoder.up_blocks.%d: DupUp3D needs out_dim*factor (%d*%d) divisible by in_dim %d", i,
                               out, (tup ? 2 : 1) * 4, in);
    }
    norm(L, "decoder.norm_out", dims[n], 0);
    conv3d(L, "decoder.conv_out", dims[n], c->out_channels, 3, 3, 3);
}

ff_status ff_wanvae_params(const ff_wanvae_config *cfg, ff_param **out, size_t *n, ff_err *err) {
    *out = NULL;
    *n = 0;
    if (cfg->n_levels < 1 || cfg->n_levels > FF_WANVAE_MAX_LEVELS || cfg->n_temperal < cfg->n_levels - 1)
        return ff_err_set(err, FF_ERR_FORMAT, "vae params: %d levels with %d temperal_downsample entries", cfg->n_levels,
                          cfg->n_temperal);
    plist L = {NULL, 0, 0, FF_OK, err};
    encoder(&L, cfg);
    decoder(&L, cfg);
    conv3d(&L, "quant_conv", 2 * cfg->z_dim, 2 * cfg->z_dim, 1, 1, 1);
    conv3d(&L, "post_quant_conv", cfg->z_dim, cfg->z_dim, 1, 1, 1);
    if (L.st) {
        free(L.v);
        return L.st;
    }
    *out = L.v;
    *n = L.n;
    return FF_OK;
}
