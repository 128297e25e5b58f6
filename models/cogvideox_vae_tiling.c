/* cogvideox_vae_tiling: the loops around one coder pass, as
 * AutoencoderKLCogVideoX does them: frame batches with the conv cache
 * (_encode / _decode), spatial tiles (tiled_encode / tiled_decode: each tile
 * over all frames with its own batches and fresh cache, then blend_v /
 * blend_h in raster order, in place, crop and concatenate), slicing
 * (encode / decode one sample at a time), the public decode / encode entry
 * points and the dry run behind ff_cogvae_peak_bytes. Decoded tiles wait on
 * the host and are blended there (float32, the coefficients rounded as
 * torch rounds a Python float). Not here: the passes (cogvideox_vae_blocks.c). */
#include <stdlib.h>
#include <string.h>

#include "models/cogvideox_vae_internal.h"

/* ---- options and geometry ----------------------------------------------------- */

void ff_cogvae_opts_default(const ff_cogvae_config *cfg, ff_cogvae_opts *o) {
    memset(o, 0, sizeof *o);
    o->tile_sample_min_height = cfg->sample_height / 2;
    o->tile_sample_min_width = cfg->sample_width / 2;
    o->tile_overlap_factor_height = 1.0 / 6;
    o->tile_overlap_factor_width = 1.0 / 5;
    o->decode_frame_batch = 2;
    o->encode_frame_batch = 8;
}

/* The tile geometry of one direction, in the units diffusers uses. */
typedef struct {
    int64_t tile_in_h, tile_in_w;   /* input tile size (latents for decode, pixels for encode) */
    int64_t stride_h, stride_w;     /* overlap_* : the step between tiles, input units */
    int64_t blend_h, blend_w;       /* blend extents, output units */
    int64_t limit_h, limit_w;       /* row limits (crop), output units */
} tile_geom;

static ff_status tiles_of(const ff_cogvae_config *cfg, const ff_cogvae_opts *o, int encode, tile_geom *g,
                          ff_err *err) {
    const int64_t f = (int64_t)1 << (cfg->n_blocks - 1);
    const int64_t tsh = o->tile_sample_min_height, tsw = o->tile_sample_min_width;
    const double fh = o->tile_overlap_factor_height, fw = o->tile_overlap_factor_width;
    if (tsh < 1 || tsw < 1 || !(fh > 0 && fh < 1) || !(fw > 0 && fw < 1))
        return ff_err_set(err, FF_ERR_ARG, "VAE tiling: tiles of %lldx%lld px, overlap factors %g/%g (0 < f < 1)",
                          (long long)tsw, (long long)tsh, fh, fw);
    const int64_t tlh = (int64_t)((double)tsh / (double)f), tlw = (int64_t)((double)tsw / (double)f);
    if (!encode) {
        g->tile_in_h = tlh, g->tile_in_w = tlw;
        g->stride_h = (int64_t)((double)tlh * (1 - fh)), g->stride_w = (int64_t)((double)tlw * (1 - fw));
        g->blend_h = (int64_t)((double)tsh * fh), g->blend_w = (int64_t)((double)tsw * fw);
        g->limit_h = tsh - g->blend_h, g->limit_w = tsw - g->blend_w;
    } else {
        g->tile_in_h = tsh, g->tile_in_w = tsw;
        g->stride_h = (int64_t)((double)tsh * (1 - fh)), g->stride_w = (int64_t)((double)tsw * (1 - fw));
        g->blend_h = (int64_t)((double)tlh * fh), g->blend_w = (int64_t)((double)tlw * fw);
        g->limit_h = tlh - g->blend_h, g->limit_w = tlw - g->blend_w;
    }
    if (g->tile_in_h < 1 || g->tile_in_w < 1 || g->stride_h < 1 || g->stride_w < 1 || g->limit_h < 1 ||
        g->limit_w < 1)
        return ff_err_set(err, FF_ERR_ARG,
                          "VAE tiling: tiles of %lldx%lld px with overlap %g/%g leave no stride or crop (tiles must "
                          "be at least %lld px)",
                          (long long)tsw, (long long)tsh, fw, fh, (long long)(2 * f));
    return FF_OK;
}

static int use_tiles(const ff_cogvae_opts *o, const tile_geom *g, int64_t h, int64_t w) {
    return o->tiling && (w > g->tile_in_w || h > g->tile_in_h);
}

/* Frame batch k of n over F frames with batch size fb (diffusers' start /
 * end, end clipped to F). */
static int64_t n_batches(int64_t F, int fb) { return F / fb > 1 ? F / fb : 1; }
static void batch_range(int64_t F, int fb, int64_t k, int64_t *s, int64_t *e) {
    const int64_t r = F % fb;
    *s = fb * k + (k ? r : 0);
    *e = fb * (k + 1) + r;
    if (*e > F) *e = F;
}

static ff_status check_opts(const ff_cogvae_opts *o, ff_err *err) {
    if (o->decode_frame_batch < 1 || o->encode_frame_batch < 1 || o->decode_frame_batch > (1 << 20) ||
        o->encode_frame_batch > (1 << 20))
        return ff_err_set(err, FF_ERR_ARG, "VAE: frame batch sizes %d / %d must be positive", o->decode_frame_batch,
                          o->encode_frame_batch);
    return FF_OK;
}

static ff_status check_input(const ff_cogvae_config *cfg, const int64_t s[5], int channels, const char *what,
                             ff_err *err) {
    if (s[0] < 1 || s[1] != channels || s[2] < 1 || s[3] < 1 || s[4] < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "VAE: %s (%lld, %lld, %lld, %lld, %lld), expected (B, %d, F, H, W)", what,
                          (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3], (long long)s[4],
                          channels);
    (void)cfg;
    return FF_OK;
}

/* Output extent of a tiled direction: the sum of each tile's cropped size. */
static int64_t tiled_extent(int64_t in, int64_t tile_in, int64_t stride, int64_t limit, int64_t (*out_of)(
                                const ff_cogvae_config *, int64_t), const ff_cogvae_config *cfg) {
    int64_t total = 0;
    for (int64_t i = 0; i < in; i += stride) {
        int64_t n = in - i < tile_in ? in - i : tile_in;
        int64_t o = out_of(cfg, n);
        if (o < 1) return 0; /* a tile the coder cannot take */
        total += o < limit ? o : limit;
    }
    return total;
}

static int64_t decoded_size(const ff_cogvae_config *cfg, int64_t n) { return n << (cfg->n_blocks - 1); }

ff_status ff_cogvae_decode_shape(const ff_cogvae_config *cfg, const int64_t z[5], const ff_cogvae_opts *o,
                                 int64_t out[5], ff_err *err) {
    ff_status st;
    tile_geom g;
    if ((st = check_input(cfg, z, cfg->latent_channels, "latents", err)) || (st = check_opts(o, err)) ||
        (st = tiles_of(cfg, o, 0, &g, err)))
        return st;
    int64_t T = 0;
    for (int64_t k = 0, n = n_batches(z[2], o->decode_frame_batch); k < n; k++) {
        int64_t s, e;
        batch_range(z[2], o->decode_frame_batch, k, &s, &e);
        T += cogvae_decoded_frames(cfg, e - s);
    }
    out[0] = z[0], out[1] = cfg->out_channels, out[2] = T;
    if (use_tiles(o, &g, z[3], z[4])) {
        out[3] = tiled_extent(z[3], g.tile_in_h, g.stride_h, g.limit_h, decoded_size, cfg);
        out[4] = tiled_extent(z[4], g.tile_in_w, g.stride_w, g.limit_w, decoded_size, cfg);
    } else {
        out[3] = decoded_size(cfg, z[3]), out[4] = decoded_size(cfg, z[4]);
    }
    return FF_OK;
}

ff_status ff_cogvae_encode_shape(const ff_cogvae_config *cfg, const int64_t x[5], const ff_cogvae_opts *o,
                                 int64_t out[5], ff_err *err) {
    ff_status st;
    tile_geom g;
    if ((st = check_input(cfg, x, cfg->in_channels, "video", err)) || (st = check_opts(o, err)) ||
        (st = tiles_of(cfg, o, 1, &g, err)))
        return st;
    int64_t T = 0;
    for (int64_t k = 0, n = n_batches(x[2], o->encode_frame_batch); k < n; k++) {
        int64_t s, e;
        batch_range(x[2], o->encode_frame_batch, k, &s, &e);
        T += cogvae_encoded_frames(cfg, e - s);
    }
    out[0] = x[0], out[1] = 2 * cfg->latent_channels, out[2] = T;
    if (use_tiles(o, &g, x[3], x[4])) {
        out[3] = tiled_extent(x[3], g.tile_in_h, g.stride_h, g.limit_h, cogvae_encoded_size, cfg);
        out[4] = tiled_extent(x[4], g.tile_in_w, g.stride_w, g.limit_w, cogvae_encoded_size, cfg);
    } else {
        out[3] = cogvae_encoded_size(cfg, x[3]), out[4] = cogvae_encoded_size(cfg, x[4]);
    }
    if (out[3] < 1 || out[4] < 1)
        return ff_err_set(err, FF_ERR_SHAPE,
                          "VAE: a %lldx%lld video (or one of its tiles) is too small to encode (%d downsamplers)",
                          (long long)x[4], (long long)x[3], cfg->n_blocks - 1);
    return FF_OK;
}

/* ---- host copies ------------------------------------------------------------------------ */

/* x[b0:b0+nb, :, t0:t0+nt, h0:h0+nh, w0:w0+nw] of a host 5-D tensor into a
 * new owned host tensor (shape only when dry). */
static ff_status host_crop(const ff_tensor *x, int dry, int64_t b0, int64_t nb, int64_t t0, int64_t nt, int64_t h0,
                           int64_t nh, int64_t w0, int64_t nw, ff_tensor *out, ff_err *err) {
    const int64_t C = x->shape[1], T = x->shape[2], H = x->shape[3], W = x->shape[4];
    int64_t s[5] = {nb, C, nt, nh, nw};
    if (dry) {
        ff_tensor_view(out, FF_F32, 5, s, NULL, FF_LOC_HOST);
        return FF_OK;
    }
    ff_status st = ff_tensor_alloc(out, FF_F32, 5, s, err);
    if (st) return st;
    const float *src = x->data;
    float *dst = out->data;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < nt; t++)
                for (int64_t y = 0; y < nh; y++)
                    memcpy(dst + (((b * C + c) * nt + t) * nh + y) * nw,
                           src + ((((b0 + b) * C + c) * T + t0 + t) * H + h0 + y) * W + w0, (size_t)nw * sizeof(float));
    return FF_OK;
}

/* dst[:, :, t0:t0+src.T, h0:h0+src.H', w0:w0+src.W'] = src[..., :nh, :nw]
 * (all batch samples and channels of src). */
static void host_paste(ff_tensor *dst, int64_t b0, int64_t t0, int64_t h0, int64_t w0, const ff_tensor *src, int64_t nh,
                       int64_t nw) {
    const int64_t B = src->shape[0], C = src->shape[1], T = src->shape[2], sh = src->shape[3], sw = src->shape[4];
    const int64_t DT = dst->shape[2], DH = dst->shape[3], DW = dst->shape[4];
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t y = 0; y < nh; y++)
                    memcpy((float *)dst->data + ((((b0 + b) * C + c) * DT + t0 + t) * DH + h0 + y) * DW + w0,
                           (const float *)src->data + (((b * C + c) * T + t) * sh + y) * sw, (size_t)nw * sizeof(float));
}

/* blend_v (axis 3) / blend_h (axis 4) of tile a into the start of tile b, in
 * place: b[.., y, ..] = a[.., -e + y, ..] * (1 - y / e) + b[.., y, ..] * (y / e). */
static void blend(const ff_tensor *a, ff_tensor *b, int axis, int64_t extent) {
    const int64_t la = a->shape[axis], lb = b->shape[axis];
    int64_t e = extent;
    if (la < e) e = la;
    if (lb < e) e = lb;
    const int64_t outer = b->shape[0] * b->shape[1] * b->shape[2];
    const int64_t H = b->shape[3], W = b->shape[4], AH = a->shape[3], AW = a->shape[4];
    for (int64_t y = 0; y < e; y++) {
        const float wa = (float)(1 - (double)y / (double)e), wb = (float)((double)y / (double)e);
        for (int64_t o = 0; o < outer; o++) {
            if (axis == 3) {
                const float *pa = (const float *)a->data + (o * AH + (la - e + y)) * AW;
                float *pb = (float *)b->data + (o * H + y) * W;
                for (int64_t x = 0; x < W; x++) {
                    float u = pa[x] * wa, v = pb[x] * wb;
                    pb[x] = u + v;
                }
            } else {
                for (int64_t r = 0; r < H; r++) {
                    const float *pa = (const float *)a->data + (o * AH + r) * AW + (la - e + y);
                    float *pb = (float *)b->data + (o * H + r) * W + y;
                    float u = *pa * wa, v = *pb * wb;
                    *pb = u + v;
                }
            }
        }
    }
}

/* ---- one input region over its frame batches ----------------------------------------------- */

/* Receives a pass output (on the backend) of frames [t0, t0 + nt). */
typedef ff_status (*batch_fn)(void *user, int64_t t0, const ff_tensor *dev, ff_err *err);

/* The coder over the frame batches of x[b0:b0+nb, :, :, h0:h0+nh, w0:w0+nw]
 * with a fresh conv cache (diffusers' loop inside _encode / _decode and
 * inside each tile of tiled_*). */
static ff_status run_region(ff_cogvae *v, int dry, int decoder, const ff_tensor *x, int64_t b0, int64_t nb, int64_t h0,
                            int64_t nh, int64_t w0, int64_t nw, int fb, batch_fn fn, void *user, ff_err *err) {
    const cv_coder *k = decoder ? &v->dec : &v->enc;
    cv_run r;
    memset(&r, 0, sizeof r);
    r.vae = v, r.dry = dry, r.n_cache = k->n_slots;
    r.cache = calloc((size_t)(k->n_slots ? k->n_slots : 1), sizeof *r.cache);
    if (!r.cache) return ff_err_set(err, FF_ERR_NOMEM, "VAE: cannot allocate %d cache slots", k->n_slots);
    ff_status st = FF_OK;
    const int64_t F = x->shape[2];
    int64_t t_out = 0;
    for (int64_t b = 0, n = n_batches(F, fb); b < n && !st; b++) {
        int64_t s, e;
        batch_range(F, fb, b, &s, &e);
        ff_tensor host = {0}, dev = {0}, out = {0};
        st = host_crop(x, dry, b0, nb, s, e - s, h0, nh, w0, nw, &host, err);
        if (!st) st = cogvae_upload(&r, &host, &dev, err);
        if (!dry) ff_tensor_free(&host);
        if (!st) st = decoder ? cogvae_decoder_pass(&r, &dev, &out, err) : cogvae_encoder_pass(&r, &dev, &out, err);
        if (!st && fn) st = fn(user, t_out, &out, err);
        if (!st) t_out += out.shape[2];
        cogvae_free(&r, &out);
        cogvae_free(&r, &dev);
    }
    cogvae_cache_free(&r, r.cache, r.n_cache);
    free(r.cache);
    return st;
}

/* Downloads a pass output into dst at (b0, t0, h0, w0). */
typedef struct {
    ff_cogvae *vae;
    ff_tensor *dst;
    int64_t b0, h0, w0;
} paste_ctx;

static ff_status paste_batch(void *user, int64_t t0, const ff_tensor *dev, ff_err *err) {
    paste_ctx *p = user;
    ff_tensor h;
    ff_status st = ff_tensor_alloc(&h, FF_F32, 5, dev->shape, err);
    if (!st && !(st = ff_be_download(p->vae->be, &h, dev, err)))
        host_paste(p->dst, p->b0, t0, p->h0, p->w0, &h, h.shape[3], h.shape[4]);
    ff_tensor_free(&h);
    return st;
}

/* Tiled: every tile over all frames (its own batches, fresh cache) into a
 * host tile, then blend_v / blend_h in raster order in place, crop to the
 * row limits and assemble into *out (nb, C, T, Hout, Wout). Dry: the passes
 * only. */
static ff_status run_tiled(ff_cogvae *v, int dry, int decoder, const ff_tensor *x, int64_t b0, int64_t nb, int fb,
                           const tile_geom *g, const int64_t out_shape[5], ff_tensor *out, ff_err *err) {
    const int64_t H = x->shape[3], W = x->shape[4];
    const int64_t ni = (H + g->stride_h - 1) / g->stride_h, nj = (W + g->stride_w - 1) / g->stride_w;
    int64_t (*size_of)(const ff_cogvae_config *, int64_t) = decoder ? decoded_size : cogvae_encoded_size;
    ff_tensor *tiles = calloc((size_t)(ni * nj), sizeof *tiles);
    if (!tiles) return ff_err_set(err, FF_ERR_NOMEM, "VAE tiling: cannot allocate %lld tiles", (long long)(ni * nj));
    ff_status st = FF_OK;
    for (int64_t i = 0; i < ni && !st; i++)
        for (int64_t j = 0; j < nj && !st; j++) {
            const int64_t h0 = i * g->stride_h, w0 = j * g->stride_w;
            const int64_t nh = H - h0 < g->tile_in_h ? H - h0 : g->tile_in_h;
            const int64_t nw = W - w0 < g->tile_in_w ? W - w0 : g->tile_in_w;
            ff_tensor *t = &tiles[i * nj + j];
            if (!dry) {
                int64_t ts[5] = {nb, out_shape[1], out_shape[2], size_of(&v->cfg, nh), size_of(&v->cfg, nw)};
                if ((st = ff_tensor_alloc(t, FF_F32, 5, ts, err))) break;
            }
            paste_ctx pc = {v, t, 0, 0, 0};
            st = run_region(v, dry, decoder, x, b0, nb, h0, nh, w0, nw, fb, dry ? NULL : paste_batch, &pc, err);
        }
    if (!st && !dry) {
        int64_t os[5] = {nb, out_shape[1], out_shape[2], out_shape[3], out_shape[4]};
        st = ff_tensor_alloc(out, FF_F32, 5, os, err);
    }
    if (!st && !dry) {
        int64_t y = 0;
        for (int64_t i = 0; i < ni; i++) {
            int64_t x0 = 0, rows = 0;
            for (int64_t j = 0; j < nj; j++) {
                ff_tensor *t = &tiles[i * nj + j];
                if (i > 0) blend(&tiles[(i - 1) * nj + j], t, 3, g->blend_h);
                if (j > 0) blend(&tiles[i * nj + j - 1], t, 4, g->blend_w);
                const int64_t ch = t->shape[3] < g->limit_h ? t->shape[3] : g->limit_h;
                const int64_t cw = t->shape[4] < g->limit_w ? t->shape[4] : g->limit_w;
                host_paste(out, 0, 0, y, x0, t, ch, cw);
                x0 += cw;
                rows = ch;
            }
            y += rows;
        }
    }
    for (int64_t i = 0; i < ni * nj; i++) ff_tensor_free(&tiles[i]);
    free(tiles);
    return st;
}

/* ---- decode / encode drivers ------------------------------------------------------------------ */

typedef struct {
    ff_cogvae *vae;
    int64_t b0;
    ff_cogvae_frames_fn fn;
    void *user;
} stream_ctx;

/* An untiled batch: download and hand to the caller. */
static ff_status stream_batch(void *user, int64_t t0, const ff_tensor *dev, ff_err *err) {
    stream_ctx *s = user;
    ff_tensor h;
    ff_status st = ff_tensor_alloc(&h, FF_F32, 5, dev->shape, err);
    if (!st) st = ff_be_download(s->vae->be, &h, dev, err);
    if (!st && s->fn) st = s->fn(s->user, s->b0, t0, &h, err);
    ff_tensor_free(&h);
    return st;
}

static ff_status need_host_input(const ff_tensor *x, int dry, const char *what, ff_err *err) {
    char b[96];
    if (x->ndim != 5 || x->dtype != FF_F32 || (!dry && (x->loc != FF_LOC_HOST || !x->data)))
        return ff_err_set(err, FF_ERR_SHAPE, "VAE: %s %s must be an F32 host tensor (B, C, F, H, W)", what,
                          ff_tensor_describe(x, b, sizeof b));
    return FF_OK;
}

static ff_status decode_impl(ff_cogvae *v, int dry, const ff_tensor *z, const ff_cogvae_opts *o,
                             ff_cogvae_frames_fn fn, void *user, ff_err *err) {
    int64_t oshape[5];
    tile_geom g;
    ff_status st = need_host_input(z, dry, "latents", err);
    if (!st) st = ff_cogvae_decode_shape(&v->cfg, z->shape, o, oshape, err);
    if (!st) st = tiles_of(&v->cfg, o, 0, &g, err);
    if (st) return st;
    const int64_t B = z->shape[0], step = o->slicing && B > 1 ? 1 : B;
    for (int64_t b0 = 0; b0 < B && !st; b0 += step) {
        if (!use_tiles(o, &g, z->shape[3], z->shape[4])) {
            stream_ctx sc = {v, b0, fn, user};
            st = run_region(v, dry, 1, z, b0, step, 0, z->shape[3], 0, z->shape[4], o->decode_frame_batch,
                            dry ? NULL : stream_batch, &sc, err);
        } else {
            ff_tensor video = {0};
            st = run_tiled(v, dry, 1, z, b0, step, o->decode_frame_batch, &g, oshape, &video, err);
            if (!st && !dry && fn) st = fn(user, b0, 0, &video, err);
            ff_tensor_free(&video);
        }
    }
    return st;
}

/* h (B, 2 * latent_channels, F', h', w') of the encoder, host (dry: shape only). */
static ff_status encode_impl(ff_cogvae *v, int dry, const ff_tensor *x, const ff_cogvae_opts *o, ff_tensor *h,
                             ff_err *err) {
    int64_t oshape[5];
    tile_geom g;
    memset(h, 0, sizeof *h);
    ff_status st = need_host_input(x, dry, "video", err);
    if (!st) st = ff_cogvae_encode_shape(&v->cfg, x->shape, o, oshape, err);
    if (!st) st = tiles_of(&v->cfg, o, 1, &g, err);
    if (st) return st;
    if (!dry && (st = ff_tensor_alloc(h, FF_F32, 5, oshape, err))) return st;
    const int64_t B = x->shape[0], step = o->slicing && B > 1 ? 1 : B;
    for (int64_t b0 = 0; b0 < B && !st; b0 += step) {
        if (!use_tiles(o, &g, x->shape[3], x->shape[4])) {
            paste_ctx pc = {v, h, b0, 0, 0};
            st = run_region(v, dry, 0, x, b0, step, 0, x->shape[3], 0, x->shape[4], o->encode_frame_batch,
                            dry ? NULL : paste_batch, &pc, err);
        } else {
            ff_tensor part = {0};
            st = run_tiled(v, dry, 0, x, b0, step, o->encode_frame_batch, &g, oshape, &part, err);
            if (!st && !dry) host_paste(h, b0, 0, 0, 0, &part, part.shape[3], part.shape[4]);
            ff_tensor_free(&part);
        }
    }
    if (st) ff_tensor_free(h);
    return st;
}

/* ---- public entry points ------------------------------------------------------------------------ */

ff_status ff_cogvae_decode_stream(ff_cogvae *v, const ff_tensor *z, const ff_cogvae_opts *o, ff_cogvae_frames_fn fn,
                                  void *user, ff_err *err) {
    return decode_impl(v, 0, z, o, fn, user, err);
}

typedef struct {
    ff_tensor *video;
} collect_ctx;

static ff_status collect(void *user, int64_t b0, int64_t t0, const ff_tensor *frames, ff_err *err) {
    collect_ctx *c = user;
    host_paste(c->video, b0, t0, 0, 0, frames, frames->shape[3], frames->shape[4]);
    (void)err;
    return FF_OK;
}

ff_status ff_cogvae_decode(ff_cogvae *v, const ff_tensor *z, const ff_cogvae_opts *o, ff_tensor *video, ff_err *err) {
    memset(video, 0, sizeof *video);
    int64_t oshape[5];
    ff_status st = need_host_input(z, 0, "latents", err);
    if (!st) st = ff_cogvae_decode_shape(&v->cfg, z->shape, o, oshape, err);
    if (!st) st = ff_tensor_alloc(video, FF_F32, 5, oshape, err);
    if (st) return st;
    collect_ctx c = {video};
    if ((st = decode_impl(v, 0, z, o, collect, &c, err))) ff_tensor_free(video);
    return st;
}

ff_status ff_cogvae_encode(ff_cogvae *v, const ff_tensor *x, const ff_cogvae_opts *o, ff_tensor *mean,
                           ff_tensor *logvar, ff_err *err) {
    memset(mean, 0, sizeof *mean);
    if (logvar) memset(logvar, 0, sizeof *logvar);
    ff_tensor h;
    ff_status st = encode_impl(v, 0, x, o, &h, err);
    if (st) return st;
    /* DiagonalGaussianDistribution: mean, logvar = h.chunk(2, dim=1); logvar = clamp(logvar, -30, 20) */
    const int64_t B = h.shape[0], L = h.shape[1] / 2, per = h.shape[2] * h.shape[3] * h.shape[4];
    int64_t s[5] = {B, L, h.shape[2], h.shape[3], h.shape[4]};
    if (!(st = ff_tensor_alloc(mean, FF_F32, 5, s, err)) && logvar) st = ff_tensor_alloc(logvar, FF_F32, 5, s, err);
    if (!st)
        for (int64_t b = 0; b < B; b++) {
            const float *src = (const float *)h.data + b * 2 * L * per;
            memcpy((float *)mean->data + b * L * per, src, (size_t)(L * per) * sizeof(float));
            if (!logvar) continue;
            float *lv = (float *)logvar->data + b * L * per;
            for (int64_t i = 0; i < L * per; i++) {
                float q = src[L * per + i];
                lv[i] = q < -30.0f ? -30.0f : (q > 20.0f ? 20.0f : q);
            }
        }
    ff_tensor_free(&h);
    if (st) {
        ff_tensor_free(mean);
        if (logvar) ff_tensor_free(logvar);
    }
    return st;
}

ff_status ff_cogvae_peak_bytes(const ff_cogvae_config *cfg, const int64_t x_shape[5], const ff_cogvae_opts *o,
                               int encode, size_t *bytes, ff_err *err) {
    ff_cogvae v;
    memset(&v, 0, sizeof v);
    v.cfg = *cfg;
    ff_status st = cogvae_build(&v, err);
    if (!st) {
        ff_tensor x;
        ff_tensor_view(&x, FF_F32, 5, x_shape, NULL, FF_LOC_HOST);
        if (encode) {
            ff_tensor h;
            st = encode_impl(&v, 1, &x, o, &h, err);
        } else {
            st = decode_impl(&v, 1, &x, o, NULL, NULL, err);
        }
    }
    cogvae_destroy(&v);
    *bytes = st ? 0 : v.run_peak;
    return st;
}
