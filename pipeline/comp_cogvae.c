/* comp_cogvae: AutoencoderKLCogVideoX as a VAE component — config, parameter
 * list, the activation model the planner uses (ff_cogvae_peak_bytes: the
 * decode run dry, exact), loading, the streaming decode (frame batches of 2
 * latent frames with the conv cache), encode, (de)normalisation between the
 * pipeline's (B, F, C, h, w) latents and the VAE's (B, C, F, h, w), and the
 * postprocess. Tiles: ff_vae_opts gives a tile and a stride in pixels; the
 * CogVideoX VAE takes a tile and an overlap factor, 1 - stride / tile (the
 * default 256 / 192 is factor 0.25). No space-split decode for cluster/. */
#include <stdlib.h>
#include <string.h>

#include "models/cogvideox_vae.h"
#include "pipeline/component.h"

static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    return st ? st : ff_cogvae_config_load(path, cfg, err);
}

static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    (void)dt; /* every weight F32 */
    return ff_cogvae_params(cfg, out, n, err);
}

static void vae_opts(const ff_cogvae_config *c, const ff_vae_opts *o, ff_cogvae_opts *v) {
    ff_cogvae_opts_default(c, v);
    v->tiling = o->tiling;
    v->slicing = o->slicing;
    if (o->tile_sample_min_height > 0) v->tile_sample_min_height = o->tile_sample_min_height;
    if (o->tile_sample_min_width > 0) v->tile_sample_min_width = o->tile_sample_min_width;
    if (o->tile_sample_min_height > 0 && o->tile_sample_stride_height > 0)
        v->tile_overlap_factor_height = 1.0 - (double)o->tile_sample_stride_height / (double)o->tile_sample_min_height;
    if (o->tile_sample_min_width > 0 && o->tile_sample_stride_width > 0)
        v->tile_overlap_factor_width = 1.0 - (double)o->tile_sample_stride_width / (double)o->tile_sample_min_width;
}

/* q->latent is the pipeline's (B, F, C, h, w): the VAE's input is (B, C, F, h, w). */
static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    const ff_cogvae_config *c = cfg;
    if (q->kind != FF_ACTIVITY_VAE_DECODE)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "AutoencoderKLCogVideoX: no activation model for this stage");
    const int64_t z[5] = {q->latent[0], q->latent[2], q->latent[1], q->latent[3], q->latent[4]};
    ff_cogvae_opts o;
    vae_opts(c, &q->vae, &o);
    return ff_cogvae_peak_bytes(c, z, &o, 0, bytes, err);
}

static void comp_free(void *model) { ff_cogvae_free(model); }

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    ff_cogvae *v = NULL;
    ff_status st = ff_cogvae_load(rq->be, rq->dir, &v, err);
    *out = v;
    return st;
}

static ff_status denormalize(void *m, const ff_tensor *latents, ff_tensor *z, ff_err *err) {
    return ff_cogvae_latents_to_z(ff_cogvae_config_of(m), latents, z, err);
}

/* scaling_factor * x (1.5: divided), (B, C, F, h, w) -> (B, F, C, h, w) */
static ff_status normalize(void *m, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    ff_tensor s = {0};
    ff_status st = ff_cogvae_scale_encoded(ff_cogvae_config_of(m), x, &s, err);
    if (st) return st;
    const int64_t B = s.shape[0], C = s.shape[1], F = s.shape[2], P = s.shape[3] * s.shape[4];
    if (!(st = ff_tensor_allocv(out, FF_F32, err, 5, B, F, C, s.shape[3], s.shape[4]))) {
        const float *src = s.data;
        float *dst = out->data;
        for (int64_t b = 0; b < B; b++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t f = 0; f < F; f++)
                    memcpy(dst + ((b * F + f) * C + c) * P, src + ((b * C + c) * F + f) * P, (size_t)P * sizeof(float));
    }
    ff_tensor_free(&s);
    return st;
}

static ff_status decode_shape(void *m, const ff_tensor *z, int64_t shape[5], ff_err *err) {
    const ff_cogvae_config *c = ff_cogvae_config_of(m);
    ff_vae_opts d;
    ff_vae_opts_default(&d);
    ff_cogvae_opts o;
    vae_opts(c, &d, &o);
    return ff_cogvae_decode_shape(c, z->shape, &o, shape, err);
}

/* The decoder hands out a frame batch (2 latent frames, the first batch
 * 2 + F % 2) at a time; the chain's users (cluster/'s window decode) take a
 * chunk per latent frame, as the Wan VAE streams: a batch of T latent frames
 * decodes to 1 + st (T - 1) frames when T is odd (its first latent frame is
 * one frame), st T when even, so it is cut into those pieces. Same bytes. */
typedef struct {
    ff_vae_chunk_fn fn;
    void *user;
    int64_t st;
} split_ctx;

static ff_status split_chunk(void *user, int64_t b0, int64_t t0, const ff_tensor *video, ff_err *err) {
    const split_ctx *sc = user;
    const int64_t nb = video->shape[0], C = video->shape[1], nt = video->shape[2], plane = video->shape[3] * video->shape[4];
    const int odd = nt % sc->st != 0;
    if (nt <= 1 || (odd && nt % sc->st != 1 % sc->st)) return sc->fn(sc->user, b0, t0, video, err);
    ff_tensor part = {0};
    ff_status st = FF_OK;
    for (int64_t q = 0; q < nt && !st;) {
        const int64_t n = odd && q == 0 ? 1 : sc->st;
        if (!(st = ff_tensor_allocv(&part, FF_F32, err, 5, nb, C, n, video->shape[3], video->shape[4]))) {
            for (int64_t bc = 0; bc < nb * C; bc++)
                memcpy((float *)part.data + bc * n * plane, (const float *)video->data + (bc * nt + q) * plane,
                       (size_t)(n * plane) * sizeof(float));
            st = sc->fn(sc->user, b0, t0 + q, &part, err);
        }
        ff_tensor_free(&part);
        q += n;
    }
    return st;
}

static ff_status decode_stream(void *m, const ff_tensor *z, const ff_vae_opts *o, ff_vae_chunk_fn fn, void *user, ff_err *err) {
    ff_cogvae_opts v;
    const ff_cogvae_config *c = ff_cogvae_config_of(m);
    vae_opts(c, o, &v);
    split_ctx sc = {fn, user, c->temporal_compression_ratio};
    return ff_cogvae_decode_stream(m, z, &v, split_chunk, &sc, err);
}

static ff_status encode(void *m, const ff_tensor *video, const ff_vae_opts *o, ff_tensor *mean, ff_tensor *logvar, ff_err *err) {
    ff_cogvae_opts v;
    vae_opts(ff_cogvae_config_of(m), o, &v);
    return ff_cogvae_encode(m, video, &v, mean, logvar, err);
}

static ff_status postprocess(void *m, const ff_tensor *video, ff_tensor *frames, ff_err *err) {
    (void)m;
    return ff_cogvae_postprocess_frames(video, frames, err);
}

static void mem(const void *m, size_t *weight_bytes, size_t *run_peak_bytes) {
    ff_cogvae_mem s;
    ff_cogvae_mem_stats(m, &s);
    *weight_bytes = s.weight_bytes;
    *run_peak_bytes = s.run_peak_bytes;
}

static void mem_reset(void *m) { ff_cogvae_mem_reset_peak(m); }

static const ff_vae_ops ops = {denormalize, normalize, decode_shape, decode_stream, encode, postprocess, mem, mem_reset, NULL};

const ff_model_class ff_comp_cogvae = {
    .class_name = "AutoencoderKLCogVideoX",
    .role = FF_ROLE_VAE,
    .config_size = sizeof(ff_cogvae_config),
    .config_read = config_read,
    .params = params,
    .act_bytes = act_bytes,
    .load = load,
    .free = comp_free,
    .weights_file = "diffusion_pytorch_model.safetensors",
    .ops = &ops,
};
