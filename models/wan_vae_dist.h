/* wan_vae_dist (ff_wanvae_tiles_*): the VAE's tiled decode taken apart, so that
 * several processes can decode the tiles of one video and one process can
 * blend them (cluster/'s patch-parallel decode, `--vae-split space`).
 *
 * The pieces are those of ff_wanvae_decode_stream with tiling (wan_vae.h), op
 * for op: the same tile grid (diffusers' tiled_decode: latent tiles of
 * tile_sample_min / scale_factor_spatial every tile_sample_stride /
 * scale_factor_spatial), the same per-tile decode (post_quant_conv and the
 * decoder chunk pass on the tile's own feature cache, latent frame after
 * latent frame), and the same blend (blend_v then blend_h in raster order,
 * crop to the stride, concatenate, crop to the frame, unpatchify, clamp) on
 * the backend. Raw tile outputs travel through host memory, which changes no
 * bit (ff_wanvae_opts.tile_low_memory does the same). So a blend of tiles
 * decoded anywhere equals the single-process tiled decode, bit for bit; a
 * test checks it. When the frame is not larger than one tile (or tiling is
 * off) the grid is one tile covering the frame, decoded and emitted as the
 * plain decode does.
 *
 * Not here: which process decodes which tile, moving tiles between
 * processes (cluster/).
 *
 * Ownership: ff_wanvae_tiles borrows its ff_vae (which must outlive it) and
 * owns the feature caches of its tiles. Raw tiles and blended chunks are
 * owned host tensors the caller frees with ff_tensor_free. */
#ifndef FF_WAN_VAE_DIST_H
#define FF_WAN_VAE_DIST_H

#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "models/wan_vae.h"

typedef struct {
    int tiled;                     /* 0: one tile, the whole frame (plain decode) */
    int ni, nj, n;                 /* tile rows, columns, count; tile t = i * nj + j (raster order) */
    int64_t h, w;                  /* latent frame size */
    int64_t lmin_h, lmin_w, lstr_h, lstr_w; /* latent tile size and stride */
    int64_t blend_h, blend_w;      /* blend extents, patchified pixels */
    int64_t sstr_h, sstr_w;        /* output stride, patchified pixels */
    int64_t sample_h, sample_w;    /* output frame, patchified pixels */
} ff_wanvae_tile_grid;

/* The grid ff_wanvae_decode_stream(o) uses for latents of h x w, for a VAE of
 * config c (ff_wanvae_config_of, or ff_wanvae_config_load without the weights). */
ff_status ff_wanvae_tile_grid_make(const ff_wanvae_config *c, int64_t h, int64_t w, const ff_wanvae_opts *o, ff_wanvae_tile_grid *g,
                                ff_err *err);
/* Latent rectangle of tile t: rows [h0, h0 + nh), columns [w0, w0 + nw). */
void ff_wanvae_tile_rect(const ff_wanvae_tile_grid *g, int t, int64_t *h0, int64_t *nh, int64_t *w0, int64_t *nw);

/* Tiles [t0, t0 + n) of a grid, each with its feature cache. */
typedef struct ff_wanvae_tiles ff_wanvae_tiles;
ff_status ff_wanvae_tiles_create(ff_vae *vae, const ff_wanvae_tile_grid *g, int t0, int n, ff_wanvae_tiles **out, ff_err *err);
void ff_wanvae_tiles_free(ff_wanvae_tiles *ts); /* NULL is a no-op */

/* Decodes latent frame k (frames in order from 0) of every tile of ts from
 * de-normalised latents z (host F32 (B, z_dim, F, h, w), the whole frame):
 * raw[i] becomes tile t0 + i's raw decoder output, host F32
 * (B, out_channels, nt, th, tw) (patchified, not blended, not clamped). raw
 * holds n tensors. */
ff_status ff_wanvae_tiles_decode_frame(ff_wanvae_tiles *ts, const ff_tensor *z, int64_t k, ff_tensor *raw, ff_err *err);

/* Blends one chunk: raw holds all g->n raw tiles of one latent frame (host,
 * from ff_wanvae_tiles_decode_frame of any process); *video becomes the chunk
 * (B, C, nt, H, W) in [-1, 1] exactly as ff_wanvae_decode_stream hands it to
 * its callback. raw is not modified. */
ff_status ff_wanvae_tiles_blend(ff_vae *vae, const ff_wanvae_tile_grid *g, const ff_tensor *raw, ff_tensor *video,
                             ff_err *err);

#endif
