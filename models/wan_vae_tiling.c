/* wan_vae_tiling: the chunk loops of AutoencoderKLWan (_decode, _encode),
 * spatial tiling (tiled_decode / tiled_encode with blend_v / blend_h) and
 * slicing, plus the streaming decode API.
 *
 * Decode streams: latent frame k goes through post_quant_conv and the
 * decoder with the feature cache (first_chunk for k == 0); its output chunk
 * is unpatchified, clamped, downloaded and handed to the caller. Tiled
 * decode keeps one cache set per tile and, for every latent frame, decodes
 * all tiles, blends them in raster order (each tile with the already
 * blended tile above, then the one to its left), crops each to the stride
 * and concatenates: per frame exactly diffusers' arithmetic, without ever
 * holding more than one chunk of video. Encode works the same way on input
 * chunks (frame 0, then 4 frames). Host tensors are only cropped/copied
 * here; all math runs through kernels/ops.h. */
#include <stdlib.h>
#include <string.h>

#include "models/wan_vae_internal.h"

/* ---- host copies ------------------------------------------------------- */

ff_status wanvae_host_crop(const ff_tensor *x, int64_t b0, int64_t nb, int64_t t0, int64_t nt, int64_t h0, int64_t nh,
                        int64_t w0, int64_t nw, ff_tensor *out, ff_err *err) {
    const int64_t *s = x->shape;
    if (x->ndim != 5 || x->dtype != FF_F32 || b0 < 0 || t0 < 0 || h0 < 0 || w0 < 0 || b0 + nb > s[0] ||
        t0 + nt > s[2] || h0 + nh > s[3] || w0 + nw > s[4]) {
        char buf[96];
        return ff_err_set(err, FF_ERR_ARG, "vae crop of %s out of range", ff_tensor_describe(x, buf, sizeof buf));
    }
    ff_status st = ff_tensor_allocv(out, FF_F32, err, 5, nb, s[1], nt, nh, nw);
    if (st) return st;
    const float *src = x->data;
    float *dst = out->data;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t c = 0; c < s[1]; c++)
            for (int64_t t = 0; t < nt; t++)
                for (int64_t h = 0; h < nh; h++) {
                    const float *row = src + ((((b0 + b) * s[1] + c) * s[2] + t0 + t) * s[3] + h0 + h) * s[4] + w0;
                    memcpy(dst, row, sizeof(float) * (size_t)nw);
                    dst += nw;
                }
    return FF_OK;
}

/* dst[b0 : b0 + nb, :, t0 : t0 + nt] = src (host, same C, H, W). */
static ff_status host_paste(ff_tensor *dst, const ff_tensor *src, int64_t b0, int64_t t0, ff_err *err) {
    const int64_t *d = dst->shape, *s = src->shape;
    if (src->ndim != 5 || s[1] != d[1] || s[3] != d[3] || s[4] != d[4] || b0 + s[0] > d[0] || t0 + s[2] > d[2]) {
        char a[96], b[96];
        return ff_err_set(err, FF_ERR_SHAPE, "vae: chunk %s does not fit output %s at frame %lld",
                          ff_tensor_describe(src, a, sizeof a), ff_tensor_describe(dst, b, sizeof b), (long long)t0);
    }
    size_t plane = (size_t)(s[3] * s[4]);
    for (int64_t b = 0; b < s[0]; b++)
        for (int64_t c = 0; c < s[1]; c++)
            memcpy((float *)dst->data + (((b0 + b) * d[1] + c) * d[2] + t0) * (int64_t)plane,
                   (const float *)src->data + ((b * s[1] + c) * s[2]) * (int64_t)plane, sizeof(float) * plane * (size_t)s[2]);
    return FF_OK;
}

/* ---- backend helpers --------------------------------------------------- */

ff_status wanvae_dev_slice(ff_vae *v, const ff_tensor *x, int axis, int64_t start, int64_t len, ff_tensor *out,
                           ff_err *err) {
    int64_t s[FF_MAX_DIMS];
    memcpy(s, x->shape, sizeof s);
    s[axis] = len;
    ff_status st = wanvae_alloc(v, out, x->ndim, s, err);
    if (!st && (st = ff_op_slice(v->be, x, axis, start, out, err))) wanvae_free(v, out);
    return st;
}

ff_status wanvae_dev_concat(ff_vae *v, ff_tensor *xs, int n, int axis, ff_tensor *out, ff_err *err) {
    const ff_tensor *ptr[64];
    int64_t s[FF_MAX_DIMS];
    if (n > 64) return ff_err_set(err, FF_ERR_UNSUPPORTED, "vae tiling: more than 64 tiles in a row or column");
    memcpy(s, xs[0].shape, sizeof s);
    s[axis] = 0;
    for (int i = 0; i < n; i++) {
        ptr[i] = &xs[i];
        s[axis] += xs[i].shape[axis];
    }
    if (n == 1) { /* take it over */
        *out = xs[0];
        memset(&xs[0], 0, sizeof xs[0]);
        return FF_OK;
    }
    ff_status st = wanvae_alloc(v, out, xs[0].ndim, s, err);
    if (!st && (st = ff_op_concat(v->be, ptr, n, axis, out, err))) wanvae_free(v, out);
    return st;
}

/* Keeps x[..., :len] along axis (in place: replaces *x). */
ff_status wanvae_dev_crop(ff_vae *v, ff_tensor *x, int axis, int64_t len, ff_err *err) {
    if (x->shape[axis] <= len) return FF_OK;
    ff_tensor y = {0};
    ff_status st = wanvae_dev_slice(v, x, axis, 0, len, &y, err);
    if (st) return st;
    wanvae_free(v, x);
    *x = y;
    return FF_OK;
}

/* diffusers blend_v (axis 3) / blend_h (axis 4): the first e rows/columns
 * of b become a[-e + y] * (1 - y/e) + b[y] * (y/e), e = min(a, b, extent). */
ff_status wanvae_blend(ff_vae *v, const ff_tensor *a, ff_tensor *b, int axis, int64_t extent, ff_err *err) {
    int64_t e = extent;
    if (a->shape[axis] < e) e = a->shape[axis];
    if (b->shape[axis] < e) e = b->shape[axis];
    if (e <= 0) return FF_OK;
    ff_tensor at = {0}, bt = {0}, rest = {0}, hw = {0}, wa = {0}, wb = {0}, nb = {0};
    int64_t ws[5] = {1, 1, 1, 1, 1};
    ws[axis] = e;
    ff_status st = wanvae_dev_slice(v, a, axis, a->shape[axis] - e, e, &at, err);
    if (!st) st = wanvae_dev_slice(v, b, axis, 0, e, &bt, err);
    if (!st) st = ff_tensor_alloc(&hw, FF_F32, 5, ws, err);
    if (st) goto done;
    for (int64_t y = 0; y < e; y++) ((float *)hw.data)[y] = (float)(1.0 - (double)y / (double)e);
    if ((st = wanvae_upload_new(v, &hw, &wa, err))) goto done;
    for (int64_t y = 0; y < e; y++) ((float *)hw.data)[y] = (float)((double)y / (double)e);
    if ((st = wanvae_upload_new(v, &hw, &wb, err))) goto done;
    if ((st = ff_op_binary(v->be, FF_BIN_MUL, &at, &wa, &at, err)) ||
        (st = ff_op_binary(v->be, FF_BIN_MUL, &bt, &wb, &bt, err)) ||
        (st = ff_op_binary(v->be, FF_BIN_ADD, &at, &bt, &at, err)))
        goto done;
    if (e == b->shape[axis]) {
        wanvae_free(v, b);
        *b = at;
        memset(&at, 0, sizeof at);
        goto done;
    }
    if ((st = wanvae_dev_slice(v, b, axis, e, b->shape[axis] - e, &rest, err))) goto done;
    wanvae_free(v, &bt);
    {
        ff_tensor parts[2] = {at, rest};
        if ((st = wanvae_dev_concat(v, parts, 2, axis, &nb, err))) goto done;
    }
    wanvae_free(v, b);
    *b = nb;
done:
    ff_tensor_free(&hw);
    wanvae_free(v, &wa);
    wanvae_free(v, &wb);
    wanvae_free(v, &at);
    wanvae_free(v, &bt);
    wanvae_free(v, &rest);
    return st;
}

/* Blends the grid (ni x nj, raster order, in place), crops every tile to
 * (sh, sw), concatenates and crops to (full_h, full_w). Tiles are consumed. */
ff_status wanvae_blend_grid(ff_vae *v, ff_tensor *tiles, int ni, int nj, int64_t blend_h, int64_t blend_w, int64_t sh,
                            int64_t sw, int64_t full_h, int64_t full_w, ff_tensor *out, ff_err *err) {
    ff_status st = FF_OK;
    ff_tensor *rows = calloc((size_t)ni, sizeof *rows);
    if (!rows) return ff_err_set(err, FF_ERR_NOMEM, "vae tiling: out of memory");
    for (int i = 0; i < ni && !st; i++)
        for (int j = 0; j < nj && !st; j++) {
            ff_tensor *t = &tiles[i * nj + j];
            if (i > 0) st = wanvae_blend(v, &tiles[(i - 1) * nj + j], t, 3, blend_h, err);
            if (!st && j > 0) st = wanvae_blend(v, &tiles[i * nj + j - 1], t, 4, blend_w, err);
        }
    /* crop to the stride (after all blends: a tile's tail feeds its neighbours) */
    for (int k = 0; k < ni * nj && !st; k++) {
        st = wanvae_dev_crop(v, &tiles[k], 3, sh, err);
        if (!st) st = wanvae_dev_crop(v, &tiles[k], 4, sw, err);
    }
    for (int i = 0; i < ni && !st; i++) st = wanvae_dev_concat(v, &tiles[i * nj], nj, 4, &rows[i], err);
    if (!st) st = wanvae_dev_concat(v, rows, ni, 3, out, err);
    if (!st) st = wanvae_dev_crop(v, out, 3, full_h, err);
    if (!st) st = wanvae_dev_crop(v, out, 4, full_w, err);
    for (int i = 0; i < ni; i++) wanvae_free(v, &rows[i]);
    for (int k = 0; k < ni * nj; k++) wanvae_free(v, &tiles[k]);
    free(rows);
    return st;
}

/* ---- decode ------------------------------------------------------------ */

/* Unpatchify + clamp a decoded chunk (consumed), download it, call fn. */
static ff_status emit(ff_vae *v, ff_tensor *y, int64_t b0, int64_t t0, ff_wanvae_frames_fn fn, void *user, ff_err *err) {
    ff_status st = FF_OK;
    ff_tensor u = {0}, h = {0};
    int p = v->cfg.patch_size;
    if (p > 1) {
        st = wanvae_unpatchify(v, y, p, &u, err);
        wanvae_free(v, y);
        if (st) return st;
        *y = u;
    }
    if (!(st = ff_op_clamp(v->be, y, -1.0f, 1.0f, y, err)) && !(st = ff_tensor_alloc(&h, FF_F32, 5, y->shape, err)))
        st = ff_be_download(v->be, &h, y, err);
    wanvae_free(v, y);
    if (!st) st = fn(user, b0, t0, &h, err);
    ff_tensor_free(&h);
    return st;
}

/* Latent frame k of tile (h0, nh, w0, nw) through post_quant_conv and one
 * decoder chunk pass on the given cache set. */
ff_status wanvae_decode_frame(ff_vae *v, const ff_tensor *z, int64_t k, int64_t h0, int64_t nh, int64_t w0,
                              int64_t nw, vae_cache *slots, ff_tensor *out, ff_err *err) {
    ff_tensor hz = {0}, dz = {0}, x = {0};
    ff_status st = wanvae_host_crop(z, 0, z->shape[0], k, 1, h0, nh, w0, nw, &hz, err);
    if (!st) st = wanvae_upload_new(v, &hz, &dz, err);
    ff_tensor_free(&hz);
    if (!st) st = wanvae_conv_plain(v, &v->post_quant_conv, &dz, &x, err);
    wanvae_free(v, &dz);
    if (st) return st;
    vae_run r = {v, slots, v->dec.n_slots, 0};
    return wanvae_decoder_chunk(&r, &x, k == 0, out, err);
}

static ff_status decode_plain(ff_vae *v, const ff_tensor *z, int64_t b0, ff_wanvae_frames_fn fn, void *user, ff_err *err) {
    vae_cache *slots = calloc((size_t)v->dec.n_slots, sizeof *slots);
    if (!slots) return ff_err_set(err, FF_ERR_NOMEM, "vae: out of memory for the feature cache");
    ff_status st = FF_OK;
    int64_t t0 = 0;
    for (int64_t k = 0; k < z->shape[2] && !st; k++) {
        ff_tensor y = {0};
        st = wanvae_decode_frame(v, z, k, 0, z->shape[3], 0, z->shape[4], slots, &y, err);
        if (st) break;
        int64_t nt = y.shape[2];
        st = emit(v, &y, b0, t0, fn, user, err);
        t0 += nt;
    }
    wanvae_cache_set_free(v, slots, v->dec.n_slots);
    free(slots);
    return st;
}

static ff_status tile_params(const ff_wanvae_opts *o, int ratio, int64_t *lmin_h, int64_t *lmin_w, int64_t *lstr_h,
                             int64_t *lstr_w, ff_err *err) {
    *lmin_h = o->tile_sample_min_height / ratio;
    *lmin_w = o->tile_sample_min_width / ratio;
    *lstr_h = o->tile_sample_stride_height / ratio;
    *lstr_w = o->tile_sample_stride_width / ratio;
    if (*lmin_h < 1 || *lmin_w < 1 || *lstr_h < 1 || *lstr_w < 1)
        return ff_err_set(err, FF_ERR_ARG,
                          "vae tiling: tile %dx%d / stride %dx%d px give an empty latent tile or stride at ratio %d",
                          o->tile_sample_min_height, o->tile_sample_min_width, o->tile_sample_stride_height,
                          o->tile_sample_stride_width, ratio);
    return FF_OK;
}

/* AutoencoderKLWan.tiled_decode, one latent frame at a time. */
static ff_status decode_tiled(ff_vae *v, const ff_tensor *z, int64_t b0, const ff_wanvae_opts *o, ff_wanvae_frames_fn fn,
                              void *user, ff_err *err) {
    const ff_wanvae_config *c = &v->cfg;
    int64_t h = z->shape[3], w = z->shape[4], lmin_h, lmin_w, lstr_h, lstr_w;
    ff_status st = tile_params(o, c->scale_factor_spatial, &lmin_h, &lmin_w, &lstr_h, &lstr_w, err);
    if (st) return st;
    int p = c->patch_size;
    /* sample-space sizes are in patchified pixels (divided by patch_size) */
    int64_t sample_h = h * c->scale_factor_spatial / p, sample_w = w * c->scale_factor_spatial / p;
    int64_t sstr_h = o->tile_sample_stride_height / p, sstr_w = o->tile_sample_stride_width / p;
    int64_t blend_h = o->tile_sample_min_height / p - sstr_h, blend_w = o->tile_sample_min_width / p - sstr_w;
    int ni = (int)((h + lstr_h - 1) / lstr_h), nj = (int)((w + lstr_w - 1) / lstr_w), n = ni * nj;
    int ns = v->dec.n_slots;
    vae_cache *slots = calloc((size_t)n * (size_t)ns, sizeof *slots);
    ff_tensor *tiles = calloc((size_t)n, sizeof *tiles);
    if (!slots || !tiles) {
        free(slots);
        free(tiles);
        return ff_err_set(err, FF_ERR_NOMEM, "vae tiling: out of memory for %d tiles", n);
    }
    int64_t t0 = 0;
    for (int64_t k = 0; k < z->shape[2] && !st; k++) {
        for (int i = 0; i < ni && !st; i++)
            for (int j = 0; j < nj && !st; j++) {
                int64_t h0 = i * lstr_h, w0 = j * lstr_w;
                int64_t nh = h - h0 < lmin_h ? h - h0 : lmin_h, nw = w - w0 < lmin_w ? w - w0 : lmin_w;
                st = wanvae_decode_frame(v, z, k, h0, nh, w0, nw, &slots[(size_t)(i * nj + j) * (size_t)ns],
                                  &tiles[i * nj + j], err);
            }
        ff_tensor y = {0};
        if (!st) st = wanvae_blend_grid(v, tiles, ni, nj, blend_h, blend_w, sstr_h, sstr_w, sample_h, sample_w, &y, err);
        if (st) break;
        int64_t nt = y.shape[2];
        st = emit(v, &y, b0, t0, fn, user, err);
        t0 += nt;
    }
    for (int k = 0; k < n; k++) {
        wanvae_free(v, &tiles[k]);
        wanvae_cache_set_free(v, &slots[(size_t)k * (size_t)ns], ns);
    }
    free(tiles);
    free(slots);
    return st;
}

/* tiled_decode in diffusers' order (ff_wanvae_opts.tile_low_memory): each tile
 * decoded over all latent frames with a fresh cache (one cache set and one
 * tile's activations on the device at a time), its output chunks downloaded
 * to the host; then, chunk by chunk, the tiles are uploaded again and
 * blended by the same wanvae_blend_grid: the same bits as decode_tiled. */
static ff_status decode_tiled_low_memory(ff_vae *v, const ff_tensor *z, int64_t b0, const ff_wanvae_opts *o,
                                         ff_wanvae_frames_fn fn, void *user, ff_err *err) {
    const ff_wanvae_config *c = &v->cfg;
    int64_t h = z->shape[3], w = z->shape[4], F = z->shape[2], lmin_h, lmin_w, lstr_h, lstr_w;
    ff_status st = tile_params(o, c->scale_factor_spatial, &lmin_h, &lmin_w, &lstr_h, &lstr_w, err);
    if (st) return st;
    int p = c->patch_size;
    int64_t sample_h = h * c->scale_factor_spatial / p, sample_w = w * c->scale_factor_spatial / p;
    int64_t sstr_h = o->tile_sample_stride_height / p, sstr_w = o->tile_sample_stride_width / p;
    int64_t blend_h = o->tile_sample_min_height / p - sstr_h, blend_w = o->tile_sample_min_width / p - sstr_w;
    int ni = (int)((h + lstr_h - 1) / lstr_h), nj = (int)((w + lstr_w - 1) / lstr_w), n = ni * nj;
    int ns = v->dec.n_slots;
    vae_cache *slots = calloc((size_t)ns, sizeof *slots);
    ff_tensor *tiles = calloc((size_t)n, sizeof *tiles);
    ff_tensor *host = calloc((size_t)n * (size_t)F, sizeof *host); /* [tile][latent frame] */
    if (!slots || !tiles || !host) {
        free(slots);
        free(tiles);
        free(host);
        return ff_err_set(err, FF_ERR_NOMEM, "vae tiling: out of memory for %d tiles x %lld frames", n, (long long)F);
    }
    for (int i = 0; i < ni && !st; i++)
        for (int j = 0; j < nj && !st; j++) {
            int64_t h0 = i * lstr_h, w0 = j * lstr_w;
            int64_t nh = h - h0 < lmin_h ? h - h0 : lmin_h, nw = w - w0 < lmin_w ? w - w0 : lmin_w;
            for (int64_t k = 0; k < F && !st; k++) {
                ff_tensor y = {0}, *hy = &host[(size_t)(i * nj + j) * (size_t)F + (size_t)k];
                st = wanvae_decode_frame(v, z, k, h0, nh, w0, nw, slots, &y, err);
                if (!st && !(st = ff_tensor_alloc(hy, FF_F32, 5, y.shape, err))) st = ff_be_download(v->be, hy, &y, err);
                wanvae_free(v, &y);
            }
            wanvae_cache_set_free(v, slots, ns);
        }
    int64_t t0 = 0;
    for (int64_t k = 0; k < F && !st; k++) {
        for (int t = 0; t < n && !st; t++) {
            ff_tensor *hy = &host[(size_t)t * (size_t)F + (size_t)k];
            st = wanvae_upload_new(v, hy, &tiles[t], err);
            ff_tensor_free(hy);
        }
        ff_tensor y = {0};
        if (!st) st = wanvae_blend_grid(v, tiles, ni, nj, blend_h, blend_w, sstr_h, sstr_w, sample_h, sample_w, &y, err);
        if (st) break;
        int64_t nt = y.shape[2];
        st = emit(v, &y, b0, t0, fn, user, err);
        t0 += nt;
    }
    for (int t = 0; t < n; t++) wanvae_free(v, &tiles[t]);
    for (size_t q = 0; q < (size_t)n * (size_t)F; q++) ff_tensor_free(&host[q]);
    wanvae_cache_set_free(v, slots, ns);
    free(tiles);
    free(host);
    free(slots);
    return st;
}

static ff_status check_input(const ff_tensor *x, int channels, const char *what, ff_err *err) {
    if (x->dtype != FF_F32 || x->ndim != 5 || x->shape[1] != channels || x->shape[0] < 1 || x->shape[2] < 1 ||
        x->shape[3] < 1 || x->shape[4] < 1 || x->loc != FF_LOC_HOST) {
        char buf[96];
        return ff_err_set(err, FF_ERR_SHAPE, "vae %s: input %s is not a host F32 (B, %d, F, H, W) tensor", what,
                          ff_tensor_describe(x, buf, sizeof buf), channels);
    }
    return FF_OK;
}

ff_status ff_wanvae_decode_stream(ff_vae *v, const ff_tensor *z, const ff_wanvae_opts *o, ff_wanvae_frames_fn fn, void *user,
                               ff_err *err) {
    ff_wanvae_opts dflt;
    if (!o) {
        ff_wanvae_opts_default(&dflt);
        o = &dflt;
    }
    ff_status st = check_input(z, v->cfg.z_dim, "decode", err);
    if (st) return st;
    int64_t B = z->shape[0], h = z->shape[3], w = z->shape[4];
    int r = v->cfg.scale_factor_spatial;
    int tiled = o->tiling && (w > o->tile_sample_min_width / r || h > o->tile_sample_min_height / r);
    int64_t step = o->slicing ? 1 : B;
    for (int64_t b0 = 0; b0 < B && !st; b0 += step) {
        ff_tensor zs = {0};
        const ff_tensor *zb = z;
        if (step != B) {
            if ((st = wanvae_host_crop(z, b0, step, 0, z->shape[2], 0, h, 0, w, &zs, err))) break;
            zb = &zs;
        }
        if (!tiled) st = decode_plain(v, zb, b0, fn, user, err);
        else if (o->tile_low_memory) st = decode_tiled_low_memory(v, zb, b0, o, fn, user, err);
        else st = decode_tiled(v, zb, b0, o, fn, user, err);
        ff_tensor_free(&zs);
    }
    return st;
}

ff_status ff_wanvae_decode_shape(const ff_vae *v, const ff_tensor *z, int64_t shape[5], ff_err *err) {
    ff_status st = check_input(z, v->cfg.z_dim, "decode", err);
    if (st) return st;
    int64_t up_t = 1, up_s = 1;
    for (int i = 0; i < v->dec.n_levels; i++) {
        const vae_level *lv = &v->dec.levels[i];
        if (!lv->has_resample) continue;
        up_s *= 2;
        if (lv->rs.mode == RS_UP3D) up_t *= 2;
    }
    shape[0] = z->shape[0];
    shape[1] = v->cfg.out_channels / (v->cfg.patch_size * v->cfg.patch_size);
    shape[2] = 1 + up_t * (z->shape[2] - 1);
    shape[3] = z->shape[3] * up_s * v->cfg.patch_size;
    shape[4] = z->shape[4] * up_s * v->cfg.patch_size;
    return FF_OK;
}

typedef struct {
    ff_tensor *video;
} collect_ctx;

static ff_status collect(void *user, int64_t b0, int64_t t0, const ff_tensor *frames, ff_err *err) {
    collect_ctx *c = user;
    return host_paste(c->video, frames, b0, t0, err);
}

ff_status ff_wanvae_decode(ff_vae *v, const ff_tensor *z, const ff_wanvae_opts *o, ff_tensor *video, ff_err *err) {
    int64_t shape[5];
    memset(video, 0, sizeof *video);
    ff_status st = ff_wanvae_decode_shape(v, z, shape, err);
    if (st) return st;
    if (o && o->tiling) { /* tiling crops to h*r, w*r (r = scale_factor_spatial) */
        int r = v->cfg.scale_factor_spatial;
        int tiled = z->shape[4] > o->tile_sample_min_width / r || z->shape[3] > o->tile_sample_min_height / r;
        if (tiled) {
            int64_t sh = z->shape[3] * r / v->cfg.patch_size * v->cfg.patch_size;
            int64_t sw = z->shape[4] * r / v->cfg.patch_size * v->cfg.patch_size;
            if (sh < shape[3]) shape[3] = sh;
            if (sw < shape[4]) shape[4] = sw;
        }
    }
    if ((st = ff_tensor_alloc(video, FF_F32, 5, shape, err))) return st;
    collect_ctx c = {video};
    if ((st = ff_wanvae_decode_stream(v, z, o, collect, &c, err))) ff_tensor_free(video);
    return st;
}

/* ---- encode ------------------------------------------------------------ */

/* Input frames [t0, t0 + nt) of samples as a patchified backend tensor. */
static ff_status upload_chunk(ff_vae *v, const ff_tensor *x, int64_t t0, int64_t nt, ff_tensor *out, ff_err *err) {
    ff_tensor hx = {0}, dx = {0};
    ff_status st = wanvae_host_crop(x, 0, x->shape[0], t0, nt, 0, x->shape[3], 0, x->shape[4], &hx, err);
    if (!st) st = wanvae_upload_new(v, &hx, &dx, err);
    ff_tensor_free(&hx);
    if (st) return st;
    if (v->cfg.patch_size <= 1) {
        *out = dx;
        return FF_OK;
    }
    st = wanvae_patchify(v, &dx, v->cfg.patch_size, out, err);
    wanvae_free(v, &dx);
    return st;
}

/* encoder chunk + quant_conv on x (consumed). */
static ff_status encode_piece(ff_vae *v, ff_tensor *x, vae_cache *slots, ff_tensor *out, ff_err *err) {
    ff_tensor e = {0};
    vae_run r = {v, slots, v->enc.n_slots, 0};
    ff_status st = wanvae_encoder_chunk(&r, x, &e, err);
    if (st) return st;
    st = wanvae_conv_plain(v, &v->quant_conv, &e, out, err);
    wanvae_free(v, &e);
    return st;
}

/* Splits the quant_conv output chunk (consumed) into mean and clamped
 * logvar and pastes them into the host outputs at frame t0. */
static ff_status store_moments(ff_vae *v, ff_tensor *m, int64_t b0, int64_t t0, ff_tensor *mean, ff_tensor *logvar,
                               ff_err *err) {
    int64_t z = v->cfg.z_dim;
    ff_tensor dm = {0}, dl = {0}, hm = {0}, hl = {0};
    ff_status st = wanvae_dev_slice(v, m, 1, 0, z, &dm, err);
    if (!st && logvar) st = wanvae_dev_slice(v, m, 1, z, z, &dl, err);
    wanvae_free(v, m);
    if (!st && logvar) st = ff_op_clamp(v->be, &dl, -30.0f, 20.0f, &dl, err);
    if (!st) st = ff_tensor_alloc(&hm, FF_F32, 5, dm.shape, err);
    if (!st) st = ff_be_download(v->be, &hm, &dm, err);
    if (!st) st = host_paste(mean, &hm, b0, t0, err);
    if (!st && logvar) {
        if (!(st = ff_tensor_alloc(&hl, FF_F32, 5, dl.shape, err)) && !(st = ff_be_download(v->be, &hl, &dl, err)))
            st = host_paste(logvar, &hl, b0, t0, err);
    }
    wanvae_free(v, &dm);
    wanvae_free(v, &dl);
    ff_tensor_free(&hm);
    ff_tensor_free(&hl);
    return st;
}

/* _encode / tiled_encode of samples [b0, b0 + B) of x. */
static ff_status encode_samples(ff_vae *v, const ff_tensor *x, int64_t b0, const ff_wanvae_opts *o, int tiled,
                                ff_tensor *mean, ff_tensor *logvar, ff_err *err) {
    const ff_wanvae_config *c = &v->cfg;
    int p = c->patch_size;
    int64_t T = x->shape[2], Hp = x->shape[3] / p, Wp = x->shape[4] / p;
    int64_t n_chunks = 1 + (T - 1) / 4; /* diffusers: frame 0, then chunks of 4 */
    int64_t lmin_h = 0, lmin_w = 0, lstr_h = 1, lstr_w = 1, sstr_h = 1, sstr_w = 1, smin_h = Hp, smin_w = Wp;
    ff_status st = FF_OK;
    int r_enc = c->scale_factor_spatial / p;
    if (tiled) {
        if (c->scale_factor_spatial % p)
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "vae tiled encode: scale_factor_spatial %d not divisible by patch_size %d",
                              c->scale_factor_spatial, p);
        if ((st = tile_params(o, r_enc, &lmin_h, &lmin_w, &lstr_h, &lstr_w, err))) return st;
        /* tiles are cut from the patchified input in (undivided) sample pixels */
        smin_h = o->tile_sample_min_height, smin_w = o->tile_sample_min_width;
        sstr_h = o->tile_sample_stride_height, sstr_w = o->tile_sample_stride_width;
    } else {
        sstr_h = Hp, sstr_w = Wp;
    }
    int ni = (int)((Hp + sstr_h - 1) / sstr_h), nj = (int)((Wp + sstr_w - 1) / sstr_w), n = ni * nj;
    int ns = v->enc.n_slots;
    vae_cache *slots = calloc((size_t)n * (size_t)ns, sizeof *slots);
    ff_tensor *tiles = calloc((size_t)n, sizeof *tiles);
    if (!slots || !tiles) {
        free(slots);
        free(tiles);
        return ff_err_set(err, FF_ERR_NOMEM, "vae encode: out of memory for %d tiles", n);
    }
    int64_t t_out = 0;
    for (int64_t ci = 0; ci < n_chunks && !st; ci++) {
        int64_t t0 = ci == 0 ? 0 : 1 + 4 * (ci - 1), nt = ci == 0 ? 1 : 4;
        ff_tensor xc = {0}, m = {0};
        if ((st = upload_chunk(v, x, t0, nt, &xc, err))) break;
        if (!tiled) {
            st = encode_piece(v, &xc, slots, &m, err);
        } else {
            for (int i = 0; i < ni && !st; i++)
                for (int j = 0; j < nj && !st; j++) {
                    int64_t h0 = i * sstr_h, w0 = j * sstr_w;
                    int64_t nh = Hp - h0 < smin_h ? Hp - h0 : smin_h, nw = Wp - w0 < smin_w ? Wp - w0 : smin_w;
                    ff_tensor a = {0}, b = {0};
                    st = wanvae_dev_slice(v, &xc, 3, h0, nh, &a, err);
                    if (!st) st = wanvae_dev_slice(v, &a, 4, w0, nw, &b, err);
                    wanvae_free(v, &a);
                    if (!st) st = encode_piece(v, &b, &slots[(size_t)(i * nj + j) * (size_t)ns], &tiles[i * nj + j], err);
                }
            wanvae_free(v, &xc);
            if (!st)
                st = wanvae_blend_grid(v, tiles, ni, nj, lmin_h - lstr_h, lmin_w - lstr_w, lstr_h, lstr_w, Hp / r_enc,
                                Wp / r_enc, &m, err);
        }
        if (st) break;
        int64_t nt_out = m.shape[2];
        st = store_moments(v, &m, b0, t_out, mean, logvar, err);
        t_out += nt_out;
    }
    for (int k = 0; k < n; k++) {
        wanvae_free(v, &tiles[k]);
        wanvae_cache_set_free(v, &slots[(size_t)k * (size_t)ns], ns);
    }
    free(tiles);
    free(slots);
    if (!st && t_out != mean->shape[2])
        st = ff_err_set(err, FF_ERR_SHAPE, "vae encode: produced %lld latent frames, expected %lld", (long long)t_out,
                        (long long)mean->shape[2]);
    return st;
}

ff_status ff_wanvae_encode(ff_vae *v, const ff_tensor *x, const ff_wanvae_opts *o, ff_tensor *mean, ff_tensor *logvar,
                        ff_err *err) {
    ff_wanvae_opts dflt;
    if (!o) {
        ff_wanvae_opts_default(&dflt);
        o = &dflt;
    }
    memset(mean, 0, sizeof *mean);
    if (logvar) memset(logvar, 0, sizeof *logvar);
    const ff_wanvae_config *c = &v->cfg;
    ff_status st = check_input(x, c->in_channels / (c->patch_size * c->patch_size), "encode", err);
    if (st) return st;
    int64_t B = x->shape[0], H = x->shape[3], W = x->shape[4];
    int tiled = o->tiling && (W > o->tile_sample_min_width || H > o->tile_sample_min_height);
    /* latent size: one frame per chunk (encoder temporal factor 4 by default) */
    int64_t down_s = 1, down_t = 1; /* spatial / temporal factors of the encoder */
    for (int i = 0; i < v->enc.n_levels; i++) {
        const vae_level *lv = &v->enc.levels[i];
        if (!lv->has_resample) continue;
        down_s *= 2;
        if (lv->rs.mode == RS_DOWN3D) down_t *= 2;
    }
    int p = c->patch_size;
    if (H % p || W % p)
        return ff_err_set(err, FF_ERR_SHAPE, "vae encode: height %lld and width %lld must be divisible by patch_size %d",
                          (long long)H, (long long)W, p);
    int64_t n_chunks = 1 + (x->shape[2] - 1) / 4;
    int64_t F = 1 + (n_chunks - 1) * ((4 + down_t - 1) / down_t);
    int64_t h = H / p, w = W / p;
    for (int64_t s = 1; s < down_s; s *= 2) { /* ZeroPad2d(0, 1, 0, 1) + 3x3 stride 2 */
        h = (h + 1 - 3) / 2 + 1;
        w = (w + 1 - 3) / 2 + 1;
    }
    if (tiled && c->scale_factor_spatial / p >= 1) { /* tiled_encode crops to H / r_enc */
        int64_t r_enc = c->scale_factor_spatial / p;
        if (H / p / r_enc < h) h = H / p / r_enc;
        if (W / p / r_enc < w) w = W / p / r_enc;
    }
    if ((st = ff_tensor_allocv(mean, FF_F32, err, 5, B, (int64_t)c->z_dim, F, h, w))) return st;
    if (logvar && (st = ff_tensor_allocv(logvar, FF_F32, err, 5, B, (int64_t)c->z_dim, F, h, w))) goto fail;
    int64_t step = o->slicing ? 1 : B;
    for (int64_t b0 = 0; b0 < B && !st; b0 += step) {
        ff_tensor xs = {0};
        const ff_tensor *xb = x;
        if (step != B) {
            if ((st = wanvae_host_crop(x, b0, step, 0, x->shape[2], 0, H, 0, W, &xs, err))) break;
            xb = &xs;
        }
        st = encode_samples(v, xb, b0, o, tiled, mean, logvar, err);
        ff_tensor_free(&xs);
    }
    if (!st) return FF_OK;
fail:
    ff_tensor_free(mean);
    if (logvar) ff_tensor_free(logvar);
    return st;
}
