/* golden_vae: handler of the vae_* and vae22_* cases (AutoencoderKLWan).
 *
 * Decode cases: WanPipeline's de-normalisation of `latents`
 * (latents_denormalized), decode with the case's tiling / slicing options
 * (video), postprocess_video 'np' (frames); the tiled case also decodes
 * untiled (video_untiled), the slicing case also decodes the whole batch at
 * once (video_batched). Encode cases: mean, logvar (clamped), mode (= mean)
 * and the WanVideoToVideoPipeline normalisation (latents_normalized); the
 * tiled case also encodes untiled (mean_untiled). */
#include <string.h>

#include "cli/golden.h"
#include "models/wan_vae.h"

/* options.tiling: false, or {tile_sample_min_height, ...} as enable_tiling
 * (a missing or 0 value keeps the default, as `x or self.x`). */
static ff_status read_opts(const golden_case *c, ff_wanvae_opts *o, ff_err *err) {
    ff_wanvae_opts_default(o);
    const ff_json *t = ff_json_get(c->options, "tiling");
    if (t && t->type == FF_JSON_OBJECT) {
        const char *keys[4] = {"tile_sample_min_height", "tile_sample_min_width", "tile_sample_stride_height",
                               "tile_sample_stride_width"};
        int *dst[4] = {&o->tile_sample_min_height, &o->tile_sample_min_width, &o->tile_sample_stride_height,
                       &o->tile_sample_stride_width};
        o->tiling = 1;
        for (int i = 0; i < 4; i++) {
            int64_t v;
            if (ff_json_get_int64(t, keys[i], 0, &v) || v < 0 || v > (1 << 20))
                return ff_err_set(err, FF_ERR_FORMAT, "%s: options.tiling.%s is not a pixel count", c->name, keys[i]);
            if (v) *dst[i] = (int)v;
        }
    } else if (t && t->type != FF_JSON_BOOL && t->type != FF_JSON_NULL) {
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.tiling must be false or an object", c->name);
    } else if (t && t->type == FF_JSON_BOOL && t->boolean) {
        o->tiling = 1;
    }
    int slicing = 0;
    if (ff_json_get_bool(c->options, "slicing", 0, &slicing))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.slicing is not a boolean", c->name);
    o->slicing = slicing || strstr(c->op, "enable_slicing") != NULL;
    return FF_OK;
}

static ff_status load_input(const golden_case *c, const char *name, ff_tensor *t, ff_err *err) {
    if (!c->inputs) return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no inputs.safetensors", c->name);
    return ff_st_load(c->inputs, name, FF_F32, t, err);
}

static ff_status run_decode(const golden_case *c, ff_vae *vae, const ff_wanvae_opts *o, golden_outputs *outs,
                            ff_err *err) {
    ff_tensor lat = {0}, z = {0}, video = {0}, frames = {0}, extra = {0};
    ff_status st = load_input(c, "latents", &lat, err);
    if (!st) st = ff_wanvae_denormalize(vae, &lat, &z, err);
    if (!st) st = ff_wanvae_decode(vae, &z, o, &video, err);
    if (!st) st = ff_wanvae_postprocess_frames(vae, &video, &frames, err);
    if (!st && o->tiling) { /* the plain decode of the same latents */
        ff_wanvae_opts plain = *o;
        plain.tiling = 0;
        if (!(st = ff_wanvae_decode(vae, &z, &plain, &extra, err))) st = golden_out_add(outs, "video_untiled", &extra, err);
    }
    if (!st && o->slicing) { /* the whole batch in one pass */
        ff_wanvae_opts batched = *o;
        batched.slicing = 0;
        if (!(st = ff_wanvae_decode(vae, &z, &batched, &extra, err))) st = golden_out_add(outs, "video_batched", &extra, err);
    }
    if (!st) st = golden_out_add(outs, "latents_denormalized", &z, err);
    if (!st) st = golden_out_add(outs, "video", &video, err);
    if (!st) st = golden_out_add(outs, "frames", &frames, err);
    ff_tensor_free(&lat);
    ff_tensor_free(&z);
    ff_tensor_free(&video);
    ff_tensor_free(&frames);
    ff_tensor_free(&extra);
    return st;
}

static ff_status run_encode(const golden_case *c, ff_vae *vae, const ff_wanvae_opts *o, golden_outputs *outs,
                            ff_err *err) {
    ff_tensor x = {0}, mean = {0}, logvar = {0}, mode = {0}, norm = {0}, extra = {0};
    ff_status st = load_input(c, "video", &x, err);
    if (!st) st = ff_wanvae_encode(vae, &x, o, &mean, &logvar, err);
    if (!st) st = ff_tensor_clone(&mode, &mean, err); /* DiagonalGaussianDistribution.mode() */
    if (!st) st = ff_wanvae_normalize(vae, &mode, &norm, err);
    if (!st && o->tiling) {
        ff_wanvae_opts plain = *o;
        plain.tiling = 0;
        if (!(st = ff_wanvae_encode(vae, &x, &plain, &extra, NULL, err))) st = golden_out_add(outs, "mean_untiled", &extra, err);
    }
    if (!st) st = golden_out_add(outs, "mean", &mean, err);
    if (!st) st = golden_out_add(outs, "logvar", &logvar, err);
    if (!st) st = golden_out_add(outs, "mode", &mode, err);
    if (!st) st = golden_out_add(outs, "latents_normalized", &norm, err);
    ff_tensor_free(&x);
    ff_tensor_free(&mean);
    ff_tensor_free(&logvar);
    ff_tensor_free(&mode);
    ff_tensor_free(&norm);
    ff_tensor_free(&extra);
    return st;
}

ff_status golden_vae(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: vae case without a pipeline", c->name);
    int encode = strstr(c->op, ".encode") != NULL;
    int decode = strstr(c->op, ".decode") != NULL;
    if (!encode && !decode) return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: unknown vae op '%s'", c->name, c->op);
    ff_wanvae_opts o;
    ff_status st = read_opts(c, &o, err);
    if (st) return st;
    ff_vae *vae = NULL;
    if ((st = ff_wanvae_load(c->be, c->pipeline, &vae, err))) return st;
    st = encode ? run_encode(c, vae, &o, outs, err) : run_decode(c, vae, &o, outs, err);
    ff_wanvae_free(vae);
    return st;
}
