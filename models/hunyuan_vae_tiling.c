/* hunyuan_vae_tiling: AutoencoderKLHunyuanVideo's decode / encode entry
 * points: slicing, temporal tiling (_temporal_tiled_decode / _encode),
 * spatial tiling (tiled_decode / tiled_encode), and the peak predictions.
 *
 * Every tile is one device pass (hunyuan_vae_blocks.c) whose result is
 * downloaded at once; drops, blends (diffusers blend_t / blend_v / blend_h:
 * weights 1 - x/e and x/e computed in double, applied as float32 scalars,
 * in place and in raster order), crops and concatenations happen on the
 * host. The temporal loop keeps only the previous tile (its tail is all the
 * next blend reads) and writes each tile's kept frames into the output as
 * soon as the next tile has been blended against it. */
#include <stdlib.h>
#include <string.h>

#include "models/hunyuan_vae_internal.h"

#define TRY(expr)                     \
    do {                              \
        if ((st = (expr))) goto done; \
    } while (0)

void ff_hyvae_opts_default(ff_hyvae_opts *o) {
    memset(o, 0, sizeof *o);
    o->framewise = 1;
    o->tile_sample_min_num_frames = 16;
    o->tile_sample_stride_num_frames = 12;
    o->tile_sample_min_height = o->tile_sample_min_width = 256;
    o->tile_sample_stride_height = o->tile_sample_stride_width = 192;
}

ff_status ff_hyvae_opts_check(const ff_hyvae_config *cfg, const ff_hyvae_opts *o, ff_err *err) {
    const int ss = cfg->spatial_compression_ratio, tc = cfg->temporal_compression_ratio;
    const struct {
        const char *what;
        int min, stride, unit;
    } dims[3] = {{"num_frames", o->tile_sample_min_num_frames, o->tile_sample_stride_num_frames, tc},
                 {"height", o->tile_sample_min_height, o->tile_sample_stride_height, ss},
                 {"width", o->tile_sample_min_width, o->tile_sample_stride_width, ss}};
    for (int i = 0; i < 3; i++)
        if (dims[i].stride < dims[i].unit || dims[i].min < dims[i].stride || dims[i].min > (1 << 20))
            return ff_err_set(err, FF_ERR_ARG,
                              "vae tiling: tile_sample_min_%s %d / tile_sample_stride_%s %d: the stride must be at "
                              "least %d (one latent step) and at most the tile",
                              dims[i].what, dims[i].min, dims[i].what, dims[i].stride, dims[i].unit);
    return FF_OK;
}

ff_status ff_hyvae_decode_shape(const ff_hyvae_config *cfg, const int64_t z[5], int64_t out[5], ff_err *err) {
    if (z[0] < 1 || z[1] != cfg->latent_channels || z[2] < 1 || z[3] < 1 || z[4] < 1)
        return ff_err_set(
            err, FF_ERR_SHAPE, "vae decode: latents (%lld, %lld, %lld, %lld, %lld), expected (B, %d, F, h, w)",
            (long long)z[0], (long long)z[1], (long long)z[2], (long long)z[3], (long long)z[4], cfg->latent_channels);
    out[0] = z[0];
    out[1] = cfg->out_channels;
    out[2] = (z[2] - 1) * cfg->temporal_compression_ratio + 1;
    out[3] = z[3] * cfg->spatial_compression_ratio;
    out[4] = z[4] * cfg->spatial_compression_ratio;
    return FF_OK;
}

ff_status ff_hyvae_encode_shape(const ff_hyvae_config *cfg, const int64_t x[5], int64_t out[5], ff_err *err) {
    const int ss = cfg->spatial_compression_ratio;
    if (x[0] < 1 || x[1] != cfg->in_channels || x[2] < 1 || x[3] < 1 || x[4] < 1)
        return ff_err_set(
            err, FF_ERR_SHAPE, "vae encode: video (%lld, %lld, %lld, %lld, %lld), expected (B, %d, T, H, W)",
            (long long)x[0], (long long)x[1], (long long)x[2], (long long)x[3], (long long)x[4], cfg->in_channels);
    /* the untiled pass: every stride-2 causal conv maps n to (n - 1) / 2 + 1, i.e. ceil(n / 2) */
    out[0] = x[0];
    out[1] = cfg->latent_channels;
    out[2] = (x[2] - 1) / cfg->temporal_compression_ratio + 1;
    out[3] = (x[3] + ss - 1) / ss;
    out[4] = (x[4] + ss - 1) / ss;
    return FF_OK;
}

/* ---- host helpers ----------------------------------------------------------------- */

/* x[b0:b0+nb, :, t0:t0+nt, h0:h0+nh, w0:w0+nw] of a host 5-D tensor (a copy). */
static ff_status crop(const ff_tensor *x, int64_t b0, int64_t nb, int64_t t0, int64_t nt, int64_t h0, int64_t nh,
                      int64_t w0, int64_t nw, ff_tensor *out, ff_err *err) {
    const int64_t C = x->shape[1], T = x->shape[2], H = x->shape[3], W = x->shape[4];
    ff_status st = ff_tensor_allocv(out, FF_F32, err, 5, nb, C, nt, nh, nw);
    if (st) return st;
    const float *s = x->data;
    float *d = out->data;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < nt; t++)
                for (int64_t y = 0; y < nh; y++)
                    memcpy(d + (((b * C + c) * nt + t) * nh + y) * nw,
                           s + ((((b0 + b) * C + c) * T + t0 + t) * H + h0 + y) * W + w0, (size_t)nw * sizeof(float));
    return FF_OK;
}

/* Copies src[:, :, 0:nt, 0:nh, 0:nw] into dst at (b0, t0, h0, w0). */
static void place(const ff_tensor *src, int64_t nt, int64_t nh, int64_t nw, ff_tensor *dst, int64_t b0, int64_t t0,
                  int64_t h0, int64_t w0) {
    const int64_t B = src->shape[0], C = src->shape[1], T = src->shape[2], H = src->shape[3], W = src->shape[4];
    const int64_t DT = dst->shape[2], DH = dst->shape[3], DW = dst->shape[4];
    const float *s = src->data;
    float *d = dst->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < nt; t++)
                for (int64_t y = 0; y < nh; y++)
                    memcpy(d + ((((b0 + b) * C + c) * DT + t0 + t) * DH + h0 + y) * DW + w0,
                           s + (((b * C + c) * T + t) * H + y) * W, (size_t)nw * sizeof(float));
}

/* diffusers blend_t / blend_v / blend_h (axis 2 / 3 / 4): for x < e =
 * min(a_len, b_len, extent): b[x] = a[a_len - e + x] * (1 - x/e) + b[x] * (x/e),
 * in place on b; a and b agree in every other dim. */
static void blend(const ff_tensor *a, ff_tensor *b, int axis, int64_t extent) {
    int64_t e = extent;
    if (a->shape[axis] < e) e = a->shape[axis];
    if (b->shape[axis] < e) e = b->shape[axis];
    if (e <= 0) return;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= b->shape[d];
    for (int d = axis + 1; d < 5; d++) inner *= b->shape[d];
    const int64_t la = a->shape[axis], lb = b->shape[axis];
    const float *ad = a->data;
    float *bd = b->data;
    for (int64_t x = 0; x < e; x++) {
        const double r = (double)x / (double)e;
        const float wa = (float)(1.0 - r), wb = (float)r; /* Python floats, applied to float32 tensors */
        for (int64_t o = 0; o < outer; o++) {
            const float *ar = ad + (o * la + la - e + x) * inner;
            float *br = bd + (o * lb + x) * inner;
            for (int64_t i = 0; i < inner; i++) {
                const float pa = ar[i] * wa, pb = br[i] * wb;
                br[i] = pa + pb;
            }
        }
    }
}

/* x[:, :, from:] along time (a copy replacing *x). */
static ff_status drop_first(ff_tensor *x, int64_t from, ff_err *err) {
    ff_tensor y;
    ff_status st = crop(x, 0, x->shape[0], from, x->shape[2] - from, 0, x->shape[3], 0, x->shape[4], &y, err);
    if (st) return st;
    ff_tensor_free(x);
    *x = y;
    return FF_OK;
}

/* ---- device passes ---------------------------------------------------------------- */

/* One pass over a host input: upload, decode (or encode) pass, download. */
static ff_status device_pass(ff_hyvae *v, int decode, const ff_tensor *in, ff_tensor *out, ff_err *err) {
    hyv_pass p = {v->be, &v->cfg, 0, v->run_cur, v->run_peak};
    ff_tensor d = {0}, y = {0};
    ff_status st;
    memset(out, 0, sizeof *out);
    TRY(hyvae_act(&p, &d, 5, in->shape, err));
    TRY(ff_be_upload(v->be, &d, in, err));
    if (decode)
        TRY(hyvae_decode_pass(&p, &v->dec, &v->post_quant_conv, &d, &y, err));
    else
        TRY(hyvae_encode_pass(&p, &v->enc, &v->quant_conv, &d, &y, err));
    TRY(ff_tensor_alloc(out, FF_F32, 5, y.shape, err));
    if ((st = ff_be_download(v->be, out, &y, err))) ff_tensor_free(out);
done:
    hyvae_drop(&p, &d);
    hyvae_drop(&p, &y);
    v->run_cur = p.cur;
    if (p.peak > v->run_peak) v->run_peak = p.peak;
    return st;
}

/* The same pass counted (dry) from an empty device: its activation peak. */
static ff_status dry_pass(const ff_hyvae_config *cfg, const hyv_coder *enc, const hyv_coder *dec, const hyv_conv *q,
                          const hyv_conv *pq, int decode, const int64_t shape[5], size_t *peak, ff_err *err) {
    hyv_pass p = {NULL, cfg, 1, 0, 0};
    ff_tensor d = {0}, y = {0};
    ff_status st = hyvae_act(&p, &d, 5, shape, err);
    if (!st) st = decode ? hyvae_decode_pass(&p, dec, pq, &d, &y, err) : hyvae_encode_pass(&p, enc, q, &d, &y, err);
    hyvae_drop(&p, &d);
    hyvae_drop(&p, &y);
    if (!st && p.peak > *peak) *peak = p.peak;
    return st;
}

/* ---- spatial tiling (tiled_decode / tiled_encode) ----------------------------------- */

/* Tile grid of a spatial extent: starts 0, stride, 2*stride, ... < n. */
static int64_t n_tiles(int64_t n, int64_t stride) { return (n + stride - 1) / stride; }

/* Does this tile (latent h, w for decode; pixels for encode) take the spatial tiled path? */
static int spatial_tiled(const ff_hyvae_config *cfg, const ff_hyvae_opts *o, int decode, int64_t h, int64_t w) {
    if (!o->tiling) return 0;
    const int ss = decode ? cfg->spatial_compression_ratio : 1;
    return w > o->tile_sample_min_width / ss || h > o->tile_sample_min_height / ss;
}

/* tiled_decode (decode) / tiled_encode (encode) of a host input x (B, C,
 * T, H, W): tiles of the input every `stride` in input units, each one
 * device pass; raster blends over the output overlap, crops to the output
 * stride, concatenation, crop to the full output. */
static ff_status spatial_tiled_pass(ff_hyvae *v, const ff_hyvae_opts *o, int decode, const ff_tensor *x,
                                    ff_tensor *out, ff_err *err) {
    const int ss = v->cfg.spatial_compression_ratio;
    const int64_t H = x->shape[3], W = x->shape[4];
    /* input-unit tile and stride; output-unit blend and crop */
    int64_t in_min_h, in_min_w, in_st_h, in_st_w, bl_h, bl_w, out_st_h, out_st_w, full_h, full_w;
    if (decode) {
        in_min_h = o->tile_sample_min_height / ss, in_min_w = o->tile_sample_min_width / ss;
        in_st_h = o->tile_sample_stride_height / ss, in_st_w = o->tile_sample_stride_width / ss;
        bl_h = o->tile_sample_min_height - o->tile_sample_stride_height;
        bl_w = o->tile_sample_min_width - o->tile_sample_stride_width;
        out_st_h = o->tile_sample_stride_height, out_st_w = o->tile_sample_stride_width;
        full_h = H * ss, full_w = W * ss;
    } else {
        in_min_h = o->tile_sample_min_height, in_min_w = o->tile_sample_min_width;
        in_st_h = o->tile_sample_stride_height, in_st_w = o->tile_sample_stride_width;
        bl_h = in_min_h / ss - in_st_h / ss, bl_w = in_min_w / ss - in_st_w / ss;
        out_st_h = in_st_h / ss, out_st_w = in_st_w / ss;
        full_h = H / ss, full_w = W / ss;
    }
    const int64_t ni = n_tiles(H, in_st_h), nj = n_tiles(W, in_st_w);
    ff_tensor *tiles = calloc((size_t)(ni * nj), sizeof *tiles);
    if (!tiles) return ff_err_set(err, FF_ERR_NOMEM, "vae tiling: out of memory for %lld tiles", (long long)(ni * nj));
    ff_status st = FF_OK;
    for (int64_t i = 0; i < ni; i++)
        for (int64_t j = 0; j < nj; j++) {
            const int64_t h0 = i * in_st_h, w0 = j * in_st_w;
            const int64_t nh = H - h0 < in_min_h ? H - h0 : in_min_h, nw = W - w0 < in_min_w ? W - w0 : in_min_w;
            ff_tensor t = {0};
            TRY(crop(x, 0, x->shape[0], 0, x->shape[2], h0, nh, w0, nw, &t, err));
            st = device_pass(v, decode, &t, &tiles[i * nj + j], err);
            ff_tensor_free(&t);
            if (st) goto done;
        }
    /* blend the tile above and the left one into each tile, in raster order, in place */
    for (int64_t i = 0; i < ni; i++)
        for (int64_t j = 0; j < nj; j++) {
            if (i > 0) blend(&tiles[(i - 1) * nj + j], &tiles[i * nj + j], 3, bl_h);
            if (j > 0) blend(&tiles[i * nj + j - 1], &tiles[i * nj + j], 4, bl_w);
        }
    /* crop each to the stride, concatenate (rows of tiles, then rows), crop to the full size */
    {
        const ff_tensor *t0 = &tiles[0];
        TRY(ff_tensor_allocv(out, FF_F32, err, 5, t0->shape[0], t0->shape[1], t0->shape[2], full_h, full_w));
        int64_t y0 = 0;
        for (int64_t i = 0; i < ni && y0 < full_h; i++) {
            const ff_tensor *ti = &tiles[i * nj];
            int64_t rh = ti->shape[3] < out_st_h ? ti->shape[3] : out_st_h;
            if (y0 + rh > full_h) rh = full_h - y0;
            int64_t x0 = 0;
            for (int64_t j = 0; j < nj && x0 < full_w; j++) {
                const ff_tensor *t = &tiles[i * nj + j];
                int64_t cw = t->shape[4] < out_st_w ? t->shape[4] : out_st_w;
                if (x0 + cw > full_w) cw = full_w - x0;
                place(t, t->shape[2], rh, cw, out, 0, 0, y0, x0);
                x0 += cw;
            }
            y0 += rh;
        }
    }
done:
    for (int64_t k = 0; k < ni * nj; k++) ff_tensor_free(&tiles[k]);
    free(tiles);
    return st;
}

/* One (temporal) tile: spatially tiled when enabled and larger than a tile, else one pass. */
static ff_status tile_pass(ff_hyvae *v, const ff_hyvae_opts *o, int decode, const ff_tensor *x, ff_tensor *out,
                           ff_err *err) {
    if (spatial_tiled(&v->cfg, o, decode, x->shape[3], x->shape[4]))
        return spatial_tiled_pass(v, o, decode, x, out, err);
    return device_pass(v, decode, x, out, err);
}

/* ---- temporal tiling (_temporal_tiled_decode / _encode) ----------------------------- */

/* Temporal loop over x (B, C, T_in, H, W): input tiles x[:, :, i : i + in_min + 1]
 * for i in range(0, T_in, in_stride); tile k > 0 drops its first output
 * frame and is blended with the previous (blended) tile over `bl` frames;
 * tile 0 keeps out_stride + 1 frames, the others out_stride; output cropped
 * to n_out frames, written into out (allocated here). */
static ff_status temporal_tiled(ff_hyvae *v, const ff_hyvae_opts *o, int decode, const ff_tensor *x, int64_t in_min,
                                int64_t in_stride, int64_t out_stride, int64_t bl, int64_t n_out, ff_tensor *out,
                                ff_err *err) {
    const int64_t T = x->shape[2];
    ff_tensor prev = {0}, cur = {0}, xt = {0};
    int64_t pos = 0, keep_prev = 0;
    ff_status st = FF_OK;
    for (int64_t i = 0, k = 0; i < T; i += in_stride, k++) {
        const int64_t nt = T - i < in_min + 1 ? T - i : in_min + 1;
        TRY(crop(x, 0, x->shape[0], i, nt, 0, x->shape[3], 0, x->shape[4], &xt, err));
        TRY(tile_pass(v, o, decode, &xt, &cur, err));
        ff_tensor_free(&xt);
        if (!out->data)
            TRY(ff_tensor_allocv(out, FF_F32, err, 5, cur.shape[0], cur.shape[1], n_out, cur.shape[3], cur.shape[4]));
        if (k > 0) {
            TRY(drop_first(&cur, 1, err));
            blend(&prev, &cur, 2, bl);
            /* prev is final now: its first keep_prev frames go out */
            int64_t n = prev.shape[2] < keep_prev ? prev.shape[2] : keep_prev;
            if (pos + n > n_out) n = n_out - pos;
            if (n > 0) place(&prev, n, prev.shape[3], prev.shape[4], out, 0, pos, 0, 0);
            pos += n > 0 ? n : 0;
            ff_tensor_free(&prev);
        }
        prev = cur;
        memset(&cur, 0, sizeof cur);
        keep_prev = k == 0 ? out_stride + 1 : out_stride;
    }
    {
        int64_t n = prev.shape[2] < keep_prev ? prev.shape[2] : keep_prev;
        if (pos + n > n_out) n = n_out - pos;
        if (n > 0) place(&prev, n, prev.shape[3], prev.shape[4], out, 0, pos, 0, 0);
        pos += n > 0 ? n : 0;
    }
    if (pos != n_out)
        st = ff_err_set(err, FF_ERR_ARG, "vae temporal tiling: the tiles cover %lld of %lld frames", (long long)pos,
                        (long long)n_out);
done:
    ff_tensor_free(&prev);
    ff_tensor_free(&cur);
    ff_tensor_free(&xt);
    if (st) ff_tensor_free(out);
    return st;
}

/* _decode / _encode of one group of samples. */
static ff_status group_pass(ff_hyvae *v, const ff_hyvae_opts *o, int decode, const ff_tensor *x, ff_tensor *out,
                            ff_err *err) {
    const int tc = v->cfg.temporal_compression_ratio;
    const int64_t T = x->shape[2];
    memset(out, 0, sizeof *out);
    if (decode && o->framewise && T > o->tile_sample_min_num_frames / tc)
        return temporal_tiled(v, o, 1, x, o->tile_sample_min_num_frames / tc, o->tile_sample_stride_num_frames / tc,
                              o->tile_sample_stride_num_frames,
                              o->tile_sample_min_num_frames - o->tile_sample_stride_num_frames, (T - 1) * tc + 1, out,
                              err);
    if (!decode && o->framewise && T > o->tile_sample_min_num_frames)
        return temporal_tiled(v, o, 0, x, o->tile_sample_min_num_frames, o->tile_sample_stride_num_frames,
                              o->tile_sample_stride_num_frames / tc,
                              o->tile_sample_min_num_frames / tc - o->tile_sample_stride_num_frames / tc,
                              (T - 1) / tc + 1, out, err);
    return tile_pass(v, o, decode, x, out, err);
}

/* decode / encode with slicing: each sample alone, or the batch at once. */
static ff_status run(ff_hyvae *v, const ff_hyvae_opts *o, int decode, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    ff_status st = ff_hyvae_opts_check(&v->cfg, o, err);
    if (st) return st;
    const int64_t B = x->shape[0];
    if (!o->slicing || B == 1) return group_pass(v, o, decode, x, out, err);
    ff_tensor xb = {0}, yb = {0};
    for (int64_t b = 0; b < B; b++) {
        TRY(crop(x, b, 1, 0, x->shape[2], 0, x->shape[3], 0, x->shape[4], &xb, err));
        TRY(group_pass(v, o, decode, &xb, &yb, err));
        ff_tensor_free(&xb);
        if (!out->data)
            TRY(ff_tensor_allocv(out, FF_F32, err, 5, B, yb.shape[1], yb.shape[2], yb.shape[3], yb.shape[4]));
        place(&yb, yb.shape[2], yb.shape[3], yb.shape[4], out, b, 0, 0, 0);
        ff_tensor_free(&yb);
    }
done:
    ff_tensor_free(&xb);
    ff_tensor_free(&yb);
    if (st) ff_tensor_free(out);
    return st;
}

static ff_status check_host(const ff_tensor *t, const char *what, ff_err *err) {
    char b[96];
    if (t->ndim != 5 || t->dtype != FF_F32 || t->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_SHAPE, "vae: %s %s must be a host F32 (B, C, T, H, W) tensor", what,
                          ff_tensor_describe(t, b, sizeof b));
    return FF_OK;
}

ff_status ff_hyvae_decode(ff_hyvae *v, const ff_tensor *z, const ff_hyvae_opts *o, ff_tensor *video, ff_err *err) {
    int64_t os[5];
    ff_status st = check_host(z, "latents", err);
    if (!st) st = ff_hyvae_decode_shape(&v->cfg, z->shape, os, err);
    if (st) return st;
    ff_hyvae_opts dflt;
    if (!o) ff_hyvae_opts_default(&dflt), o = &dflt;
    return run(v, o, 1, z, video, err);
}

ff_status ff_hyvae_encode(ff_hyvae *v, const ff_tensor *x, const ff_hyvae_opts *o, ff_tensor *mean,
                          ff_tensor *logvar, ff_err *err) {
    int64_t ls[5];
    memset(mean, 0, sizeof *mean);
    if (logvar) memset(logvar, 0, sizeof *logvar);
    ff_status st = check_host(x, "video", err);
    if (!st) st = ff_hyvae_encode_shape(&v->cfg, x->shape, ls, err);
    if (st) return st;
    ff_hyvae_opts dflt;
    if (!o) ff_hyvae_opts_default(&dflt), o = &dflt;
    ff_tensor h = {0};
    if ((st = run(v, o, 0, x, &h, err))) return st;
    /* DiagonalGaussianDistribution: mean, logvar = chunk(h, 2, dim=1); logvar clamped to [-30, 20] */
    const int64_t B = h.shape[0], Z = v->cfg.latent_channels, inner = h.shape[2] * h.shape[3] * h.shape[4];
    if ((st = ff_tensor_allocv(mean, FF_F32, err, 5, B, (int64_t)Z, h.shape[2], h.shape[3], h.shape[4]))) goto done;
    if (logvar &&
        (st = ff_tensor_allocv(logvar, FF_F32, err, 5, B, (int64_t)Z, h.shape[2], h.shape[3], h.shape[4])))
        goto done;
    for (int64_t b = 0; b < B; b++) {
        const float *src = (const float *)h.data + b * 2 * Z * inner;
        memcpy((float *)mean->data + b * Z * inner, src, (size_t)(Z * inner) * sizeof(float));
        if (logvar) {
            float *lv = (float *)logvar->data + b * Z * inner;
            for (int64_t i = 0; i < Z * inner; i++) {
                const float s = src[Z * inner + i];
                lv[i] = s < -30.0f ? -30.0f : s > 20.0f ? 20.0f : s;
            }
        }
    }
done:
    ff_tensor_free(&h);
    if (st) {
        ff_tensor_free(mean);
        if (logvar) ff_tensor_free(logvar);
    }
    return st;
}

ff_status ff_hyvae_decode_tile(ff_hyvae *v, const ff_tensor *z, ff_tensor *video, ff_err *err) {
    int64_t os[5];
    ff_status st = check_host(z, "latents", err);
    if (!st) st = ff_hyvae_decode_shape(&v->cfg, z->shape, os, err);
    if (!st) st = device_pass(v, 1, z, video, err);
    return st;
}

ff_status ff_hyvae_encode_tile(ff_hyvae *v, const ff_tensor *x, ff_tensor *h, ff_err *err) {
    int64_t ls[5];
    ff_status st = check_host(x, "video", err);
    if (!st) st = ff_hyvae_encode_shape(&v->cfg, x->shape, ls, err);
    if (!st) st = device_pass(v, 0, x, h, err);
    return st;
}

/* ---- peak predictions ------------------------------------------------------------------- */

/* The passes a decode / encode of x_shape runs (the same tile walk as run(),
 * shapes only), each counted dry; the largest peak. */
#define TILE_LENGTHS_MAX 64

/* The distinct tile lengths min(n - i, len) over the starts i = 0, stride,
 * ... < n into out: their count, or -1 when there are more than
 * TILE_LENGTHS_MAX (the caller then walks every tile). */
static int tile_lengths(int64_t n, int64_t len, int64_t stride, int64_t *out) {
    int k = 0;
    for (int64_t i = 0; i < n; i += stride) {
        const int64_t l = n - i < len ? n - i : len;
        int seen = 0;
        for (int j = 0; j < k && !seen; j++) seen = out[j] == l;
        if (seen) continue;
        if (k == TILE_LENGTHS_MAX) return -1;
        out[k++] = l;
    }
    return k;
}

static ff_status predict(const ff_hyvae_config *cfg, const ff_hyvae_opts *o, int decode, const int64_t x_shape[5],
                         size_t *bytes, ff_err *err) {
    *bytes = 0;
    ff_status st = ff_hyvae_opts_check(cfg, o, err);
    if (st) return st;
    int64_t dummy[5];
    if ((st = decode ? ff_hyvae_decode_shape(cfg, x_shape, dummy, err)
                     : ff_hyvae_encode_shape(cfg, x_shape, dummy, err)))
        return st;
    hyv_coder enc, dec;
    hyv_conv q, pq;
    if ((st = hyvae_build(cfg, &enc, &dec, &q, &pq, err))) return st;
    const int tc = cfg->temporal_compression_ratio, ss = cfg->spatial_compression_ratio;
    const int64_t B = o->slicing ? 1 : x_shape[0], T = x_shape[2], H = x_shape[3], W = x_shape[4];
    /* temporal tiles: (start step, tile length) of the input */
    int64_t t_min = T, t_stride = T;
    if (decode && o->framewise && T > o->tile_sample_min_num_frames / tc)
        t_min = o->tile_sample_min_num_frames / tc + 1, t_stride = o->tile_sample_stride_num_frames / tc;
    if (!decode && o->framewise && T > o->tile_sample_min_num_frames)
        t_min = o->tile_sample_min_num_frames + 1, t_stride = o->tile_sample_stride_num_frames;
    /* spatial tiles */
    int64_t h_min = H, h_stride = H, w_min = W, w_stride = W;
    if (spatial_tiled(cfg, o, decode, H, W)) {
        const int u = decode ? ss : 1;
        h_min = o->tile_sample_min_height / u, h_stride = o->tile_sample_stride_height / u;
        w_min = o->tile_sample_min_width / u, w_stride = o->tile_sample_stride_width / u;
    }
    /* each tile runs alone, so its pass depends on its shape only: one dry
     * pass per distinct (frames, height, width) gives the same peak as one
     * per tile (the planner asks for many tile sizes of large videos) */
    size_t peak = 0;
    int64_t lt[TILE_LENGTHS_MAX], lh[TILE_LENGTHS_MAX], lw[TILE_LENGTHS_MAX];
    const int nt_ = tile_lengths(T, t_min, t_stride, lt), nh = tile_lengths(H, h_min, h_stride, lh),
              nw = tile_lengths(W, w_min, w_stride, lw);
    if (nt_ >= 0 && nh >= 0 && nw >= 0) {
        for (int a = 0; a < nt_ && !st; a++)
            for (int b = 0; b < nh && !st; b++)
                for (int c = 0; c < nw && !st; c++) {
                    const int64_t shape[5] = {B, x_shape[1], lt[a], lh[b], lw[c]};
                    st = dry_pass(cfg, &enc, &dec, &q, &pq, decode, shape, &peak, err);
                }
    } else {
        for (int64_t i = 0; i < T && !st; i += t_stride)
            for (int64_t y = 0; y < H && !st; y += h_stride)
                for (int64_t x = 0; x < W && !st; x += w_stride) {
                    const int64_t shape[5] = {B, x_shape[1], T - i < t_min ? T - i : t_min, H - y < h_min ? H - y : h_min,
                                              W - x < w_min ? W - x : w_min};
                    st = dry_pass(cfg, &enc, &dec, &q, &pq, decode, shape, &peak, err);
                }
    }
    hyvae_tree_free(&enc, &dec);
    *bytes = peak;
    return st;
}

ff_status ff_hyvae_decode_peak(const ff_hyvae_config *cfg, const ff_hyvae_opts *o, const int64_t z_shape[5],
                               size_t *bytes, ff_err *err) {
    return predict(cfg, o, 1, z_shape, bytes, err);
}

ff_status ff_hyvae_encode_peak(const ff_hyvae_config *cfg, const ff_hyvae_opts *o, const int64_t x_shape[5],
                               size_t *bytes, ff_err *err) {
    return predict(cfg, o, 0, x_shape, bytes, err);
}
