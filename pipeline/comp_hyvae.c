/* comp_hyvae: AutoencoderKLHunyuanVideo as a VAE component — config,
 * parameter list, the exact decode activation model (ff_hyvae_decode_peak:
 * the decode's allocation sequence counted without running), loading, and
 * decode / encode with the chain's options mapped onto ff_hyvae_opts
 * (temporal_tiling = use_framewise_*). The decode is one call per video
 * (tiles blended on the host), handed over per latent frame. No
 * space-split decode for cluster/ (dist NULL). */
#include <stdlib.h>
#include <string.h>

#include "models/hunyuan_vae.h"
#include "pipeline/component.h"

static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    return st ? st : ff_hyvae_config_load(path, cfg, err);
}

static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    (void)dt; /* every weight F32 */
    return ff_hyvae_params(cfg, out, n, err);
}

static void hy_opts(const ff_vae_opts *o, ff_hyvae_opts *h) {
    ff_hyvae_opts_default(h);
    h->framewise = o->temporal_tiling;
    if (o->tile_sample_min_num_frames > 0) h->tile_sample_min_num_frames = o->tile_sample_min_num_frames;
    if (o->tile_sample_stride_num_frames > 0) h->tile_sample_stride_num_frames = o->tile_sample_stride_num_frames;
    h->tiling = o->tiling;
    if (o->tile_sample_min_height > 0) h->tile_sample_min_height = o->tile_sample_min_height;
    if (o->tile_sample_min_width > 0) h->tile_sample_min_width = o->tile_sample_min_width;
    if (o->tile_sample_stride_height > 0) h->tile_sample_stride_height = o->tile_sample_stride_height;
    if (o->tile_sample_stride_width > 0) h->tile_sample_stride_width = o->tile_sample_stride_width;
    h->slicing = o->slicing;
}

static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    ff_hyvae_opts h;
    hy_opts(&q->vae, &h);
    if (q->kind == FF_ACTIVITY_VAE_DECODE) return ff_hyvae_decode_peak(cfg, &h, q->latent, bytes, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "AutoencoderKLHunyuanVideo: no activation model for %s",
                      q->kind == FF_ACTIVITY_VAE_ENCODE ? "the encode (text to video only)" : "this stage");
}

static void comp_free(void *model) { ff_hyvae_free(model); }

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    ff_hyvae *v = NULL;
    ff_status st = ff_hyvae_load(rq->be, rq->dir, &v, err);
    *out = v;
    return st;
}

static ff_status denormalize(void *m, const ff_tensor *latents, ff_tensor *z, ff_err *err) {
    return ff_hyvae_unscale(ff_hyvae_config_of(m), latents, z, err);
}

static ff_status normalize(void *m, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    (void)m, (void)x, (void)out;
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "AutoencoderKLHunyuanVideo: no latent normalisation (text to video only)");
}

static ff_status decode_shape(void *m, const ff_tensor *z, int64_t shape[5], ff_err *err) {
    if (z->ndim != 5) return ff_err_set(err, FF_ERR_SHAPE, "vae decode: latents must be (B, C, F, h, w)");
    return ff_hyvae_decode_shape(ff_hyvae_config_of(m), z->shape, shape, err);
}

/* The whole decode, then handed out one latent frame's output frames at a
 * time (1, then temporal_compression_ratio each), as the streaming decoders
 * do: cluster/'s time split sends and cross-fades per latent frame. */
static ff_status decode_stream(void *m, const ff_tensor *z, const ff_vae_opts *o, ff_vae_chunk_fn fn, void *user, ff_err *err) {
    ff_hyvae_opts h;
    hy_opts(o, &h);
    ff_tensor video = {0};
    ff_status st = ff_hyvae_opts_check(ff_hyvae_config_of(m), &h, err);
    if (!st) st = ff_hyvae_decode(m, z, &h, &video, err);
    const int64_t T = video.data ? video.shape[2] : 0, st_ = ff_hyvae_config_of(m)->temporal_compression_ratio;
    for (int64_t t0 = 0; !st && t0 < T;) {
        const int64_t nt = t0 == 0 ? 1 : (T - t0 < st_ ? T - t0 : st_);
        ff_tensor part = {0};
        if (!(st = ff_tensor_axis_slice(&video, 2, t0, nt, &part, err))) st = fn(user, 0, t0, &part, err);
        ff_tensor_free(&part);
        t0 += nt;
    }
    ff_tensor_free(&video);
    return st;
}

static ff_status encode(void *m, const ff_tensor *video, const ff_vae_opts *o, ff_tensor *mean, ff_tensor *logvar, ff_err *err) {
    ff_hyvae_opts h;
    hy_opts(o, &h);
    ff_status st = ff_hyvae_opts_check(ff_hyvae_config_of(m), &h, err);
    return st ? st : ff_hyvae_encode(m, video, &h, mean, logvar, err);
}

static ff_status postprocess(void *m, const ff_tensor *video, ff_tensor *frames, ff_err *err) {
    (void)m;
    return ff_hyvae_postprocess_frames(video, frames, err);
}

static void mem(const void *m, size_t *weight_bytes, size_t *run_peak_bytes) {
    ff_hyvae_mem s;
    ff_hyvae_mem_stats(m, &s);
    *weight_bytes = s.weight_bytes;
    *run_peak_bytes = s.run_peak_bytes;
}

static void mem_reset(void *m) { ff_hyvae_mem_reset_peak(m); }

static const ff_vae_ops ops = {denormalize, normalize, decode_shape, decode_stream, encode, postprocess, mem, mem_reset, NULL};

const ff_model_class ff_comp_hyvae = {
    .class_name = "AutoencoderKLHunyuanVideo",
    .role = FF_ROLE_VAE,
    .config_size = sizeof(ff_hyvae_config),
    .config_read = config_read,
    .params = params,
    .act_bytes = act_bytes,
    .load = load,
    .free = comp_free,
    .weights_file = "diffusion_pytorch_model.safetensors",
    .ops = &ops,
};
