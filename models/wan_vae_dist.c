/* wan_vae_dist: the tiled decode in pieces (see wan_vae_dist.h). The frame
 * decode and the blend are wan_vae_tiling.c's own (wanvae_decode_frame,
 * wanvae_blend_grid in wan_vae_internal.h); only the final unpatchify + clamp
 * mirrors its emit. tests/models/test_wan_vae_dist.c checks that the pieces
 * reproduce ff_wanvae_decode_stream bit for bit. */
#include <stdlib.h>
#include <string.h>

#include "models/wan_vae_dist.h"
#include "models/wan_vae_internal.h"

ff_status ff_wanvae_tile_grid_make(const ff_wanvae_config *c, int64_t h, int64_t w, const ff_wanvae_opts *o, ff_wanvae_tile_grid *g,
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

void ff_wanvae_tile_rect(const ff_wanvae_tile_grid *g, int t, int64_t *h0, int64_t *nh, int64_t *w0, int64_t *nw) {
    int i = t / g->nj, j = t % g->nj;
    *h0 = i * g->lstr_h, *w0 = j * g->lstr_w;
    *nh = g->h - *h0 < g->lmin_h ? g->h - *h0 : g->lmin_h;
    *nw = g->w - *w0 < g->lmin_w ? g->w - *w0 : g->lmin_w;
}

/* ---- per-tile decode ------------------------------------------------------- */

struct ff_wanvae_tiles {
    ff_vae *vae;               /* borrowed */
    ff_wanvae_tile_grid g;
    int t0, n;
    vae_cache *slots;          /* n * dec.n_slots */
};

ff_status ff_wanvae_tiles_create(ff_vae *vae, const ff_wanvae_tile_grid *g, int t0, int n, ff_wanvae_tiles **out, ff_err *err) {
    *out = NULL;
    if (t0 < 0 || n < 0 || t0 + n > g->n)
        return ff_err_set(err, FF_ERR_ARG, "vae tiles: tiles [%d, %d) of a grid of %d", t0, t0 + n, g->n);
    ff_wanvae_tiles *ts = calloc(1, sizeof *ts);
    if (!ts) return ff_err_set(err, FF_ERR_NOMEM, "vae tiles: out of memory");
    ts->vae = vae, ts->g = *g, ts->t0 = t0, ts->n = n;
    if (n && !(ts->slots = calloc((size_t)n * (size_t)vae->dec.n_slots, sizeof *ts->slots))) {
        free(ts);
        return ff_err_set(err, FF_ERR_NOMEM, "vae tiles: out of memory for %d feature caches", n);
    }
    *out = ts;
    return FF_OK;
}

void ff_wanvae_tiles_free(ff_wanvae_tiles *ts) {
    if (!ts) return;
    for (int i = 0; i < ts->n; i++) wanvae_cache_set_free(ts->vae, &ts->slots[(size_t)i * (size_t)ts->vae->dec.n_slots], ts->vae->dec.n_slots);
    free(ts->slots);
    free(ts);
}

ff_status ff_wanvae_tiles_decode_frame(ff_wanvae_tiles *ts, const ff_tensor *z, int64_t k, ff_tensor *raw, ff_err *err) {
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
        ff_wanvae_tile_rect(&ts->g, ts->t0 + i, &h0, &nh, &w0, &nw);
        ff_tensor y = {0};
        st = wanvae_decode_frame(v, z, k, h0, nh, w0, nw, &ts->slots[(size_t)i * (size_t)v->dec.n_slots], &y, err);
        if (!st && !(st = ff_tensor_alloc(&raw[i], FF_F32, 5, y.shape, err))) st = ff_be_download(v->be, &raw[i], &y, err);
        wanvae_free(v, &y);
    }
    if (st)
        for (int i = 0; i < ts->n; i++) ff_tensor_free(&raw[i]);
    return st;
}

ff_status ff_wanvae_tiles_blend(ff_vae *v, const ff_wanvae_tile_grid *g, const ff_tensor *raw, ff_tensor *video,
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
            st = wanvae_upload_new(v, &raw[t], &tiles[t], err);
        }
    }
    ff_tensor y = {0}, u = {0};
    if (!st) {
        if (g->tiled) {
            st = wanvae_blend_grid(v, tiles, g->ni, g->nj, g->blend_h, g->blend_w, g->sstr_h, g->sstr_w, g->sample_h,
                                g->sample_w, &y, err);
        } else {
            y = tiles[0];
            memset(&tiles[0], 0, sizeof tiles[0]);
        }
    }
    /* wan_vae_tiling.c emit: unpatchify, clamp, download */
    int p = v->cfg.patch_size;
    if (!st && p > 1) {
        st = wanvae_unpatchify(v, &y, p, &u, err);
        wanvae_free(v, &y);
        y = u;
    }
    if (!st && !(st = ff_op_clamp(v->be, &y, -1.0f, 1.0f, &y, err)) && !(st = ff_tensor_alloc(video, FF_F32, 5, y.shape, err)))
        st = ff_be_download(v->be, video, &y, err);
    wanvae_free(v, &y);
    for (int t = 0; t < g->n; t++) wanvae_free(v, &tiles[t]);
    free(tiles);
    if (st) ff_tensor_free(video);
    return st;
}
