/* wan_vae_dist: the tiled decode in pieces (see wan_vae_dist.h). The helpers
 * below repeat wan_vae_tiling.c's decode_frame, blend, blend_grid and emit op
 * for op (that file keeps them static); tests/models/test_wan_vae_dist.c
 * checks that the pieces reproduce ff_vae_decode_stream bit for bit, so a
 * change there that is not mirrored here fails a test. */
#include <stdlib.h>
#include <string.h>

#include "models/wan_vae_dist.h"
#include "models/wan_vae_internal.h"

ff_status ff_vae_tile_grid_make(const ff_vae_config *c, int64_t h, int64_t w, const ff_vae_opts *o, ff_vae_tile_grid *g,
                                ff_err *err) {
    memset(g, 0, sizeof *g);
    if (h < 1 || w < 1) return ff_err_set(err, FF_ERR_ARG, "vae tiles: latent frame %lldx%lld", (long long)h, (long long)w);
    int r = c->scale_factor_spatial, p = c->patch_size;
    g->h = h, g->w = w;
    g->tiled = o->tiling && (w > o->tile_sample_min_width / r || h > o->tile_sample_min_height / r);
    if (!g->tiled) { /* one tile: the whole frame, emitted as decode_plain does */
        g->ni = g->nj = g->n = 1;
        g->lmin_h = g->lstr_h = h, g->lmin_w = g->lstr_w = w;
        return FF_OK;
    }
    /* tile_params + decode_tiled's sizes */
    g->lmin_h = o->tile_sample_min_height / r;
    g->lmin_w = o->tile_sample_min_width / r;
    g->lstr_h = o->tile_sample_stride_height / r;
    g->lstr_w = o->tile_sample_stride_width / r;
    if (g->lmin_h < 1 || g->lmin_w < 1 || g->lstr_h < 1 || g->lstr_w < 1)
        return ff_err_set(err, FF_ERR_ARG,
                          "vae tiling: tile %dx%d / stride %dx%d px give an empty latent tile or stride at ratio %d",
                          o->tile_sample_min_height, o->tile_sample_min_width, o->tile_sample_stride_height,
                          o->tile_sample_stride_width, r);
    g->sample_h = h * r / p, g->sample_w = w * r / p;
    g->sstr_h = o->tile_sample_stride_height / p, g->sstr_w = o->tile_sample_stride_width / p;
    g->blend_h = o->tile_sample_min_height / p - g->sstr_h, g->blend_w = o->tile_sample_min_width / p - g->sstr_w;
    g->ni = (int)((h + g->lstr_h - 1) / g->lstr_h), g->nj = (int)((w + g->lstr_w - 1) / g->lstr_w);
    if (g->ni > 64 || g->nj > 64)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "vae tiling: more than 64 tiles in a row or column (%d x %d)", g->ni, g->nj);
    g->n = g->ni * g->nj;
    return FF_OK;
}

void ff_vae_tile_rect(const ff_vae_tile_grid *g, int t, int64_t *h0, int64_t *nh, int64_t *w0, int64_t *nw) {
    int i = t / g->nj, j = t % g->nj;
    *h0 = i * g->lstr_h, *w0 = j * g->lstr_w;
    *nh = g->h - *h0 < g->lmin_h ? g->h - *h0 : g->lmin_h;
    *nw = g->w - *w0 < g->lmin_w ? g->w - *w0 : g->lmin_w;
}

/* ---- per-tile decode ------------------------------------------------------- */

struct ff_vae_tiles {
    ff_vae *vae;               /* borrowed */
    ff_vae_tile_grid g;
    int t0, n;
    vae_cache *slots;          /* n * dec.n_slots */
};

ff_status ff_vae_tiles_create(ff_vae *vae, const ff_vae_tile_grid *g, int t0, int n, ff_vae_tiles **out, ff_err *err) {
    *out = NULL;
    if (t0 < 0 || n < 0 || t0 + n > g->n)
        return ff_err_set(err, FF_ERR_ARG, "vae tiles: tiles [%d, %d) of a grid of %d", t0, t0 + n, g->n);
    ff_vae_tiles *ts = calloc(1, sizeof *ts);
    if (!ts) return ff_err_set(err, FF_ERR_NOMEM, "vae tiles: out of memory");
    ts->vae = vae, ts->g = *g, ts->t0 = t0, ts->n = n;
    if (n && !(ts->slots = calloc((size_t)n * (size_t)vae->dec.n_slots, sizeof *ts->slots))) {
        free(ts);
        return ff_err_set(err, FF_ERR_NOMEM, "vae tiles: out of memory for %d feature caches", n);
    }
    *out = ts;
    return FF_OK;
}

void ff_vae_tiles_free(ff_vae_tiles *ts) {
    if (!ts) return;
    for (int i = 0; i < ts->n; i++) vae_cache_set_free(ts->vae, &ts->slots[(size_t)i * (size_t)ts->vae->dec.n_slots], ts->vae->dec.n_slots);
    free(ts->slots);
    free(ts);
}

/* wan_vae_tiling.c decode_frame: latent frame k of a tile through
 * post_quant_conv and one decoder chunk pass on the tile's cache set. */
static ff_status decode_frame(ff_vae *v, const ff_tensor *z, int64_t k, int64_t h0, int64_t nh, int64_t w0,
                              int64_t nw, vae_cache *slots, ff_tensor *out, ff_err *err) {
    ff_tensor hz = {0}, dz = {0}, x = {0};
    ff_status st = vae_host_crop(z, 0, z->shape[0], k, 1, h0, nh, w0, nw, &hz, err);
    if (!st) st = vae_upload_new(v, &hz, &dz, err);
    ff_tensor_free(&hz);
    if (!st) st = vae_conv_plain(v, &v->post_quant_conv, &dz, &x, err);
    vae_free(v, &dz);
    if (st) return st;
    vae_run r = {v, slots, v->dec.n_slots, 0};
    return vae_decoder_chunk(&r, &x, k == 0, out, err);
}

ff_status ff_vae_tiles_decode_frame(ff_vae_tiles *ts, const ff_tensor *z, int64_t k, ff_tensor *raw, ff_err *err) {
    ff_vae *v = ts->vae;
    for (int i = 0; i < ts->n; i++) memset(&raw[i], 0, sizeof raw[i]);
    if (z->ndim != 5 || z->dtype != FF_F32 || z->loc != FF_LOC_HOST || z->shape[1] != v->cfg.z_dim ||
        z->shape[3] != ts->g.h || z->shape[4] != ts->g.w || k < 0 || k >= z->shape[2]) {
        char b[96];
        return ff_err_set(err, FF_ERR_SHAPE, "vae tiles: latents %s, frame %lld do not fit the grid's %lldx%lld frame",
                          ff_tensor_describe(z, b, sizeof b), (long long)k, (long long)ts->g.h, (long long)ts->g.w);
    }
    ff_status st = FF_OK;
    for (int i = 0; i < ts->n && !st; i++) {
        int64_t h0, nh, w0, nw;
        ff_vae_tile_rect(&ts->g, ts->t0 + i, &h0, &nh, &w0, &nw);
        ff_tensor y = {0};
        st = decode_frame(v, z, k, h0, nh, w0, nw, &ts->slots[(size_t)i * (size_t)v->dec.n_slots], &y, err);
        if (!st && !(st = ff_tensor_alloc(&raw[i], FF_F32, 5, y.shape, err))) st = ff_be_download(v->be, &raw[i], &y, err);
        vae_free(v, &y);
    }
    if (st)
        for (int i = 0; i < ts->n; i++) ff_tensor_free(&raw[i]);
    return st;
}

/* ---- blend (wan_vae_tiling.c dev_slice / dev_concat / dev_crop / blend / blend_grid) ---- */

static ff_status dev_slice(ff_vae *v, const ff_tensor *x, int axis, int64_t start, int64_t len, ff_tensor *out,
                           ff_err *err) {
    int64_t s[FF_MAX_DIMS];
    memcpy(s, x->shape, sizeof s);
    s[axis] = len;
    ff_status st = vae_alloc(v, out, x->ndim, s, err);
    if (!st && (st = ff_op_slice(v->be, x, axis, start, out, err))) vae_free(v, out);
    return st;
}

static ff_status dev_concat(ff_vae *v, ff_tensor *xs, int n, int axis, ff_tensor *out, ff_err *err) {
    const ff_tensor *ptr[64];
    int64_t s[FF_MAX_DIMS];
    if (n > 64) return ff_err_set(err, FF_ERR_UNSUPPORTED, "vae tiling: more than 64 tiles in a row or column");
    memcpy(s, xs[0].shape, sizeof s);
    s[axis] = 0;
    for (int i = 0; i < n; i++) {
        ptr[i] = &xs[i];
        s[axis] += xs[i].shape[axis];
    }
    if (n == 1) {
        *out = xs[0];
        memset(&xs[0], 0, sizeof xs[0]);
        return FF_OK;
    }
    ff_status st = vae_alloc(v, out, xs[0].ndim, s, err);
    if (!st && (st = ff_op_concat(v->be, ptr, n, axis, out, err))) vae_free(v, out);
    return st;
}

static ff_status dev_crop(ff_vae *v, ff_tensor *x, int axis, int64_t len, ff_err *err) {
    if (x->shape[axis] <= len) return FF_OK;
    ff_tensor y = {0};
    ff_status st = dev_slice(v, x, axis, 0, len, &y, err);
    if (st) return st;
    vae_free(v, x);
    *x = y;
    return FF_OK;
}

/* blend_v (axis 3) / blend_h (axis 4): a[-e + y] * (1 - y/e) + b[y] * (y/e). */
static ff_status blend(ff_vae *v, const ff_tensor *a, ff_tensor *b, int axis, int64_t extent, ff_err *err) {
    int64_t e = extent;
    if (a->shape[axis] < e) e = a->shape[axis];
    if (b->shape[axis] < e) e = b->shape[axis];
    if (e <= 0) return FF_OK;
    ff_tensor at = {0}, bt = {0}, rest = {0}, hw = {0}, wa = {0}, wb = {0}, nb = {0};
    int64_t ws[5] = {1, 1, 1, 1, 1};
    ws[axis] = e;
    ff_status st = dev_slice(v, a, axis, a->shape[axis] - e, e, &at, err);
    if (!st) st = dev_slice(v, b, axis, 0, e, &bt, err);
    if (!st) st = ff_tensor_alloc(&hw, FF_F32, 5, ws, err);
    if (st) goto done;
    for (int64_t y = 0; y < e; y++) ((float *)hw.data)[y] = (float)(1.0 - (double)y / (double)e);
    if ((st = vae_upload_new(v, &hw, &wa, err))) goto done;
    for (int64_t y = 0; y < e; y++) ((float *)hw.data)[y] = (float)((double)y / (double)e);
    if ((st = vae_upload_new(v, &hw, &wb, err))) goto done;
    if ((st = ff_op_binary(v->be, FF_BIN_MUL, &at, &wa, &at, err)) ||
        (st = ff_op_binary(v->be, FF_BIN_MUL, &bt, &wb, &bt, err)) ||
        (st = ff_op_binary(v->be, FF_BIN_ADD, &at, &bt, &at, err)))
        goto done;
    if (e == b->shape[axis]) {
        vae_free(v, b);
        *b = at;
        memset(&at, 0, sizeof at);
        goto done;
    }
    if ((st = dev_slice(v, b, axis, e, b->shape[axis] - e, &rest, err))) goto done;
    vae_free(v, &bt);
    {
        ff_tensor parts[2] = {at, rest};
        if ((st = dev_concat(v, parts, 2, axis, &nb, err))) goto done;
    }
    vae_free(v, b);
    *b = nb;
done:
    ff_tensor_free(&hw);
    vae_free(v, &wa);
    vae_free(v, &wb);
    vae_free(v, &at);
    vae_free(v, &bt);
    vae_free(v, &rest);
    return st;
}

static ff_status blend_grid(ff_vae *v, ff_tensor *tiles, const ff_vae_tile_grid *g, ff_tensor *out, ff_err *err) {
    const int ni = g->ni, nj = g->nj;
    ff_status st = FF_OK;
    ff_tensor *rows = calloc((size_t)ni, sizeof *rows);
    if (!rows) return ff_err_set(err, FF_ERR_NOMEM, "vae tiling: out of memory");
    for (int i = 0; i < ni && !st; i++)
        for (int j = 0; j < nj && !st; j++) {
            ff_tensor *t = &tiles[i * nj + j];
            if (i > 0) st = blend(v, &tiles[(i - 1) * nj + j], t, 3, g->blend_h, err);
            if (!st && j > 0) st = blend(v, &tiles[i * nj + j - 1], t, 4, g->blend_w, err);
        }
    for (int k = 0; k < ni * nj && !st; k++) {
        st = dev_crop(v, &tiles[k], 3, g->sstr_h, err);
        if (!st) st = dev_crop(v, &tiles[k], 4, g->sstr_w, err);
    }
    for (int i = 0; i < ni && !st; i++) st = dev_concat(v, &tiles[i * nj], nj, 4, &rows[i], err);
    if (!st) st = dev_concat(v, rows, ni, 3, out, err);
    if (!st) st = dev_crop(v, out, 3, g->sample_h, err);
    if (!st) st = dev_crop(v, out, 4, g->sample_w, err);
    for (int i = 0; i < ni; i++) vae_free(v, &rows[i]);
    for (int k = 0; k < ni * nj; k++) vae_free(v, &tiles[k]);
    free(rows);
    return st;
}

ff_status ff_vae_tiles_blend(ff_vae *v, const ff_vae_tile_grid *g, const ff_tensor *raw, ff_tensor *video,
                             ff_err *err) {
    memset(video, 0, sizeof *video);
    ff_tensor *tiles = calloc((size_t)g->n, sizeof *tiles);
    if (!tiles) return ff_err_set(err, FF_ERR_NOMEM, "vae tiles: out of memory for %d tiles", g->n);
    ff_status st = FF_OK;
    for (int t = 0; t < g->n && !st; t++) {
        if (raw[t].ndim != 5 || raw[t].dtype != FF_F32 || raw[t].shape[2] != raw[0].shape[2]) {
            char b[96];
            st = ff_err_set(err, FF_ERR_SHAPE, "vae tiles: raw tile %d is %s", t, ff_tensor_describe(&raw[t], b, sizeof b));
        } else {
            st = vae_upload_new(v, &raw[t], &tiles[t], err);
        }
    }
    ff_tensor y = {0}, u = {0};
    if (!st) {
        if (g->tiled) {
            st = blend_grid(v, tiles, g, &y, err);
        } else {
            y = tiles[0];
            memset(&tiles[0], 0, sizeof tiles[0]);
        }
    }
    /* wan_vae_tiling.c emit: unpatchify, clamp, download */
    int p = v->cfg.patch_size;
    if (!st && p > 1) {
        st = vae_unpatchify(v, &y, p, &u, err);
        vae_free(v, &y);
        y = u;
    }
    if (!st && !(st = ff_op_clamp(v->be, &y, -1.0f, 1.0f, &y, err)) && !(st = ff_tensor_alloc(video, FF_F32, 5, y.shape, err)))
        st = ff_be_download(v->be, video, &y, err);
    vae_free(v, &y);
    for (int t = 0; t < g->n; t++) vae_free(v, &tiles[t]);
    free(tiles);
    if (st) ff_tensor_free(video);
    return st;
}
