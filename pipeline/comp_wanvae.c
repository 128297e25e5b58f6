/* comp_wanvae: AutoencoderKLWan as a VAE component — config, parameter list,
 * the decode activation model the planner uses, loading, the streaming
 * decode / encode / (de)normalisation / postprocess of models/wan_vae.h, and
 * the space-split decode of models/wan_vae_dist.h for cluster/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan_vae.h"
#include "models/wan_vae_dist.h"
#include "models/wan_vae_params.h"
#include "pipeline/component.h"

/* Decode activations: bytes per latent pixel per decoder base channel
 * (measured on the tiny Wan 2.1 VAE, base 8, whose streamed decode peak is
 * flat in frames and linear in pixels; every decoder width scales with the
 * base channel count): an estimate, not an exact count. */
#define WANVAE_BYTES_PER_PX_CH 11428 /* 91424 B per latent pixel at base_dim 8 */
#define WANVAE_BLEND_TILES 2.0
#define WANVAE_BLEND_FRAME 2.0

/* The scale factors diffusers' pipeline reads (vae_scale_factor_temporal /
 * _spatial) against the network the config builds: 2 per temporal
 * downsample, 2 per level below the top, times the patch size. A config
 * that disagrees renders the wrong number or size of frames: refused here,
 * at open, before any compute. */
static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    if (st || (st = ff_wanvae_config_load(path, cfg, err))) return st;
    const ff_wanvae_config *c = cfg;
    int ft = 1, fs = c->patch_size > 0 ? c->patch_size : 1;
    for (int i = 0; i + 1 < c->n_levels; i++) {
        ft *= c->temperal_downsample[i] ? 2 : 1;
        fs *= 2;
    }
    if (c->scale_factor_temporal != ft)
        return ff_err_set(err, FF_ERR_FORMAT,
                          "%s: scale_factor_temporal %d, but temperal_downsample downsamples time by %d", path,
                          c->scale_factor_temporal, ft);
    if (c->scale_factor_spatial != fs)
        return ff_err_set(err, FF_ERR_FORMAT,
                          "%s: scale_factor_spatial %d, but dim_mult (%d levels) and patch_size %d downsample space by %d",
                          path, c->scale_factor_spatial, c->n_levels, c->patch_size, fs);
    return FF_OK;
}

static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    (void)dt; /* every weight F32 */
    return ff_wanvae_params(cfg, out, n, err);
}

/* Streamed decode: the per-pixel constant over the frame; tiled (the
 * low-memory order, ff_vae_opts.tile_low_memory: one tile decoded over all
 * frames at a time): one tile's pixels, or, when larger, the blend phase
 * (each chunk's tiles uploaded again and blended: tiles, blend temporaries,
 * rows and the full chunk frame, output channels x frames per chunk, times
 * factors measured on the tiny VAE; within 10% of the measured pool peak
 * there). Tiled only when the frame is larger than a tile, as the decode. */
static ff_status decode_bytes(const ff_wanvae_config *c, const ff_act_query *q, size_t *bytes, ff_err *err) {
    const int64_t *lat = q->latent;
    const int ss = c->scale_factor_spatial > 0 ? c->scale_factor_spatial : 8;
    const int64_t nb = q->vae.slicing ? 1 : lat[0];
    const size_t per_px = (size_t)WANVAE_BYTES_PER_PX_CH * (size_t)c->decoder_base_dim * (size_t)nb;
    const int tile = q->vae.tile_sample_min_height, stride = q->vae.tile_sample_stride_height;
    const int64_t lmin = tile / ss, lstr = stride / ss;
    int tiling = q->vae.tiling;
    if (tiling && (lmin < 1 || lstr < 1 || stride > tile))
        return ff_err_set(err, FF_ERR_ARG, "plan: VAE tile %d / stride %d px (need stride <= tile, both >= %d)", tile, stride, ss);
    if (tiling && !(lat[4] > lmin || lat[3] > lmin)) tiling = 0;
    if (!tiling) {
        *bytes = per_px * (size_t)(lat[3] * lat[4]);
        return FF_OK;
    }
    const int64_t th = lmin < lat[3] ? lmin : lat[3], tw = lmin < lat[4] ? lmin : lat[4];
    const size_t dec = per_px * (size_t)(th * tw);
    const int pp = c->patch_size > 0 ? c->patch_size : 1;
    int up_t = 1;
    for (int i = 0; i < c->n_temperal; i++) up_t *= c->temperal_downsample[i] ? 2 : 1;
    const int64_t f = ss / pp; /* patchified sample pixels per latent pixel */
    int64_t tiles_px = 0;
    for (int64_t h0 = 0; h0 < lat[3]; h0 += lstr)
        for (int64_t w0 = 0; w0 < lat[4]; w0 += lstr) {
            int64_t nh = lat[3] - h0 < lmin ? lat[3] - h0 : lmin, nw = lat[4] - w0 < lmin ? lat[4] - w0 : lmin;
            tiles_px += nh * f * nw * f;
        }
    const size_t chunk = (size_t)c->out_channels * (size_t)(lat[2] > 1 ? up_t : 1) * 4 * (size_t)nb;
    const size_t blend = (size_t)(WANVAE_BLEND_TILES * (double)tiles_px * (double)chunk +
                                  WANVAE_BLEND_FRAME * (double)(lat[3] * f * lat[4] * f) * (double)chunk);
    *bytes = dec > blend ? dec : blend;
    return FF_OK;
}

static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    if (q->kind == FF_ACTIVITY_VAE_DECODE) return decode_bytes(cfg, q, bytes, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "AutoencoderKLWan: no activation model for %s",
                      q->kind == FF_ACTIVITY_VAE_ENCODE ? "the encode (not measured yet)" : "this stage");
}

static void comp_free(void *model) { ff_wanvae_free(model); }

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    ff_vae *v = NULL;
    ff_status st = ff_wanvae_load(rq->be, rq->dir, &v, err);
    *out = v;
    return st;
}

static void vae_opts(const ff_vae_opts *o, ff_wanvae_opts *w) {
    ff_wanvae_opts_default(w);
    w->tiling = o->tiling;
    w->tile_sample_min_height = o->tile_sample_min_height;
    w->tile_sample_min_width = o->tile_sample_min_width;
    w->tile_sample_stride_height = o->tile_sample_stride_height;
    w->tile_sample_stride_width = o->tile_sample_stride_width;
    w->slicing = o->slicing;
    w->tile_low_memory = o->tile_low_memory;
}

static ff_status denormalize(void *m, const ff_tensor *latents, ff_tensor *z, ff_err *err) {
    return ff_wanvae_denormalize(m, latents, z, err);
}

static ff_status normalize(void *m, const ff_tensor *x, ff_tensor *out, ff_err *err) { return ff_wanvae_normalize(m, x, out, err); }

static ff_status decode_shape(void *m, const ff_tensor *z, int64_t shape[5], ff_err *err) {
    return ff_wanvae_decode_shape(m, z, shape, err);
}

static ff_status decode_stream(void *m, const ff_tensor *z, const ff_vae_opts *o, ff_vae_chunk_fn fn, void *user, ff_err *err) {
    ff_wanvae_opts w;
    vae_opts(o, &w);
    return ff_wanvae_decode_stream(m, z, &w, fn, user, err);
}

static ff_status encode(void *m, const ff_tensor *video, const ff_vae_opts *o, ff_tensor *mean, ff_tensor *logvar, ff_err *err) {
    ff_wanvae_opts w;
    vae_opts(o, &w);
    return ff_wanvae_encode(m, video, &w, mean, logvar, err);
}

static ff_status postprocess(void *m, const ff_tensor *video, ff_tensor *frames, ff_err *err) {
    return ff_wanvae_postprocess_frames(m, video, frames, err);
}

static void mem(const void *m, size_t *weight_bytes, size_t *run_peak_bytes) {
    ff_wanvae_mem s;
    ff_wanvae_mem_stats(m, &s);
    *weight_bytes = s.weight_bytes;
    *run_peak_bytes = s.run_peak_bytes;
}

static void mem_reset(void *m) { ff_wanvae_mem_reset_peak(m); }

/* ---- the space-split decode ---- */

static ff_status grid_make(const void *cfg, int64_t h, int64_t w, const ff_vae_opts *o, void **grid, int *n_tiles, ff_err *err) {
    ff_wanvae_tile_grid *g = calloc(1, sizeof *g);
    if (!g) return ff_err_set(err, FF_ERR_NOMEM, "vae: no memory");
    ff_wanvae_opts wo;
    vae_opts(o, &wo);
    ff_status st = ff_wanvae_tile_grid_make(cfg, h, w, &wo, g, err);
    if (st) {
        free(g);
        return st;
    }
    *grid = g;
    *n_tiles = g->n;
    return FF_OK;
}

static void grid_free(void *grid) { free(grid); }

static ff_status tiles_create(void *m, const void *grid, int t0, int n, void **tiles, ff_err *err) {
    ff_wanvae_tiles *ts = NULL;
    ff_status st = ff_wanvae_tiles_create(m, grid, t0, n, &ts, err);
    *tiles = ts;
    return st;
}

static ff_status tiles_decode_frame(void *tiles, const ff_tensor *z, int64_t k, ff_tensor *raw, ff_err *err) {
    return ff_wanvae_tiles_decode_frame(tiles, z, k, raw, err);
}

static ff_status tiles_blend(void *m, const void *grid, const ff_tensor *raw, ff_tensor *video, ff_err *err) {
    return ff_wanvae_tiles_blend(m, grid, raw, video, err);
}

static void tiles_free(void *tiles) { ff_wanvae_tiles_free(tiles); }

static const ff_vae_dist_ops dist = {grid_make, grid_free, tiles_create, tiles_decode_frame, tiles_blend, tiles_free};

static const ff_vae_ops ops = {denormalize, normalize, decode_shape, decode_stream, encode, postprocess, mem, mem_reset, &dist};

/* A decoded picture that uses the [-1, 1] range without saturating. */
static float init_gain(const void *cfg, const ff_param *p) {
    (void)cfg;
    return !strcmp(p->name, "decoder.conv_out.weight") ? 0.5f : 1.0f;
}

const ff_model_class ff_comp_wanvae = {
    .class_name = "AutoencoderKLWan",
    .role = FF_ROLE_VAE,
    .config_size = sizeof(ff_wanvae_config),
    .config_read = config_read,
    .params = params,
    .act_bytes = act_bytes,
    .load = load,
    .free = comp_free,
    .weights_file = "diffusion_pytorch_model.safetensors",
    .init_gain = init_gain,
    .ops = &ops,
};
