/* wan_i2v_latents: WanImageToVideoPipeline.prepare_latents and the per-step
 * transformer inputs of its __call__ (pipeline_wan_i2v.py), on host tensors.
 * See wan_i2v_latents.h. */
#include "pipeline/wan_i2v_latents.h"

#include <string.h>

#include "core/ff_rng.h"

ff_status ff_wani2v_encode_image(ff_clip_model *enc, ff_backend *be, const ff_imgproc_clip_config *proc,
                                 const ff_tensor *images, int n, const ff_clip_hooks *hooks, ff_tensor *image_embeds,
                                 ff_tensor *pixel_values, ff_err *err) {
    memset(image_embeds, 0, sizeof *image_embeds);
    if (pixel_values) memset(pixel_values, 0, sizeof *pixel_values);
    if (enc->cfg.kind != FF_CLIP_VISION || enc->cfg.layers < 1)
        return ff_err_set(err, FF_ERR_ARG, "encode_image: image_encoder is not a CLIP vision model with layers");
    ff_tensor pv;
    ff_status st = ff_imgproc_clip_preprocess(proc, images, n, &pv, NULL, NULL, err);
    if (st) return ff_err_wrap(err, "encode_image: ");
    if ((st = ff_clip_vision_forward_host(enc, be, &pv, enc->cfg.layers - 1, hooks, image_embeds, err)))
        ff_err_wrap(err, "encode_image: ");
    if (!st && pixel_values) *pixel_values = pv;
    else ff_tensor_free(&pv);
    return st;
}

void ff_wani2v_latents_free(ff_wani2v_latents *l) {
    if (!l) return;
    ff_tensor_free(&l->latents);
    ff_tensor_free(&l->condition);
    ff_tensor_free(&l->mask);
    ff_tensor_free(&l->latent_condition);
    ff_tensor_free(&l->latent_condition_raw);
}

static int shape_is(const ff_tensor *t, int ndim, const int64_t *s) {
    if (t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != s[i]) return 0;
    return 1;
}

static ff_status need_shape(const ff_tensor *t, const char *what, int ndim, const int64_t *s, ff_err *err) {
    if (t->dtype == FF_F32 && t->loc == FF_LOC_HOST && shape_is(t, ndim, s)) return FF_OK;
    char a[96], b[96];
    ff_tensor want;
    ff_tensor_view(&want, FF_F32, ndim, s, NULL, FF_LOC_HOST);
    return ff_err_set(err, FF_ERR_SHAPE, "i2v latents: %s is %s, expected host %s", what, ff_tensor_describe(t, a, sizeof a),
                      ff_tensor_describe(&want, b, sizeof b));
}

ff_status ff_wani2v_prepare_latents(ff_vae *vae, const ff_tensor *image, const ff_wani2v_params *p,
                                    const ff_wanvae_opts *vae_opts, ff_wani2v_latents *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    const ff_wanvae_config *vc = ff_wanvae_config_of(vae);
    const int Tf = vc->scale_factor_temporal, s = vc->scale_factor_spatial;
    const int64_t B = p->batch, z = vc->z_dim, H = p->height, W = p->width, nf = p->num_frames;
    if (B < 1 || nf < 1 || H < 1 || W < 1)
        return ff_err_set(err, FF_ERR_ARG, "i2v latents: batch %lld, %lld frames, %lldx%lld pixels", (long long)B,
                          (long long)nf, (long long)W, (long long)H);
    if (H % s || W % s)
        return ff_err_set(err, FF_ERR_ARG, "i2v latents: %lldx%lld pixels are not multiples of the VAE's %d",
                          (long long)W, (long long)H, s);
    if (!p->expand_timesteps && (nf - 1) % Tf)
        return ff_err_set(err, FF_ERR_ARG, "i2v latents: num_frames %lld is not %d k + 1 (the mask has %d channels per "
                          "latent frame)", (long long)nf, Tf, Tf);
    if (p->last_image && (p->expand_timesteps || nf < 2))
        return ff_err_set(err, FF_ERR_ARG, "i2v latents: a last image needs %s",
                          p->expand_timesteps ? "a first-last-frame model (expand_timesteps is set)" : "2 frames or more");
    const int64_t F = (nf - 1) / Tf + 1, h = H / s, w = W / s;
    const int64_t img_shape[4] = {1, 3, H, W}, lat_shape[5] = {B, z, F, h, w};
    ff_status st;
    if ((st = need_shape(image, "image", 4, img_shape, err)) ||
        (p->last_image && (st = need_shape(p->last_image, "last_image", 4, img_shape, err))))
        return st;

    /* latents = randn_tensor(shape, generator) (or the caller's), before the encode */
    if (p->latents) {
        if ((st = need_shape(p->latents, "latents", 5, lat_shape, err))) return st;
        if ((st = ff_tensor_clone(&out->latents, p->latents, err))) return st;
    } else {
        if (!p->seeds || (p->n_seeds != 1 && p->n_seeds != B))
            return ff_err_set(err, FF_ERR_ARG, "i2v latents: %d seeds for a batch of %lld (give one, or one per video)",
                              p->n_seeds, (long long)B);
        if ((st = ff_tensor_alloc(&out->latents, FF_F32, 5, lat_shape, err)) ||
            (st = ff_randn_tensor(&out->latents, p->seeds, (size_t)p->n_seeds, err)))
            goto fail;
    }

    /* video_condition: the image (TI2V: alone), black frames, [last_image] */
    ff_tensor video = {0}, norm = {0};
    const int64_t T = p->expand_timesteps ? 1 : nf, vs[5] = {1, 3, T, H, W};
    if ((st = ff_tensor_alloc(&video, FF_F32, 5, vs, err))) goto fail; /* zero-filled */
    {
        const float *src = image->data, *last = p->last_image ? p->last_image->data : NULL;
        float *d = video.data;
        const size_t hw = (size_t)(H * W);
        for (int c = 0; c < 3; c++) {
            memcpy(d + ((size_t)c * T) * hw, src + (size_t)c * hw, hw * sizeof *d);
            if (last) memcpy(d + ((size_t)c * T + (size_t)(T - 1)) * hw, last + (size_t)c * hw, hw * sizeof *d);
        }
    }
    ff_wanvae_opts plain;
    if (!vae_opts) ff_wanvae_opts_default(&plain), vae_opts = &plain;
    st = ff_wanvae_encode(vae, &video, vae_opts, &out->latent_condition_raw, NULL, err); /* mode() = mean */
    ff_tensor_free(&video);
    if (st) goto fail;
    const int64_t Fz = p->expand_timesteps ? 1 : F, raw_shape[5] = {1, z, Fz, h, w};
    if ((st = need_shape(&out->latent_condition_raw, "vae.encode(video_condition)", 5, raw_shape, err))) goto fail;
    if ((st = ff_wanvae_normalize(vae, &out->latent_condition_raw, &norm, err))) goto fail;

    /* latent_condition.repeat(B, 1, 1, 1, 1) */
    const int64_t lc_shape[5] = {B, z, Fz, h, w};
    if ((st = ff_tensor_alloc(&out->latent_condition, FF_F32, 5, lc_shape, err))) {
        ff_tensor_free(&norm);
        goto fail;
    }
    const size_t per = (size_t)ff_tensor_numel(&norm);
    for (int64_t b = 0; b < B; b++) memcpy((float *)out->latent_condition.data + (size_t)b * per, norm.data, per * 4);
    ff_tensor_free(&norm);

    if (p->expand_timesteps) { /* first_frame_mask (1, 1, F, h, w): 0 on latent frame 0 */
        const int64_t ms[5] = {1, 1, F, h, w};
        if ((st = ff_tensor_alloc(&out->mask, FF_F32, 5, ms, err)) ||
            (st = ff_tensor_clone(&out->condition, &out->latent_condition, err)))
            goto fail;
        float *m = out->mask.data;
        for (int64_t i = h * w; i < F * h * w; i++) m[i] = 1.0f;
        return FF_OK;
    }

    /* mask_lat_size: pixel frames m (1 on the image, and on last_image),
     * frame 0 repeated T times, viewed (B, F, T, h, w), transposed (1, 2) */
    const int64_t ms[5] = {B, Tf, F, h, w}, cs[5] = {B, Tf + z, F, h, w};
    if ((st = ff_tensor_alloc(&out->mask, FF_F32, 5, ms, err)) ||
        (st = ff_tensor_alloc(&out->condition, FF_F32, 5, cs, err)))
        goto fail;
    {
        float *m = out->mask.data, *c = out->condition.data;
        const size_t hw = (size_t)(h * w), fhw = (size_t)F * hw;
        for (int64_t b = 0; b < B; b++) {
            for (int64_t f = 0; f < F; f++)
                for (int64_t j = 0; j < Tf; j++) {
                    const int64_t k = f * Tf + j;                     /* index in [frame 0 x T, frames 1 ..] */
                    const int64_t pix = k < Tf ? 0 : k - Tf + 1;      /* pixel frame it came from */
                    const float v = pix == 0 || (p->last_image && pix == nf - 1) ? 1.0f : 0.0f;
                    float *dst = m + ((size_t)(b * Tf + j) * F + (size_t)f) * hw;
                    for (size_t i = 0; i < hw; i++) dst[i] = v;
                }
            /* condition = cat([mask, latent_condition], dim=1) */
            memcpy(c + (size_t)b * (size_t)(Tf + z) * fhw, m + (size_t)b * (size_t)Tf * fhw, (size_t)Tf * fhw * 4);
            memcpy(c + ((size_t)b * (size_t)(Tf + z) + (size_t)Tf) * fhw,
                   (float *)out->latent_condition.data + (size_t)b * (size_t)z * fhw, (size_t)z * fhw * 4);
        }
    }
    return FF_OK;
fail:
    ff_wani2v_latents_free(out);
    return st;
}

ff_status ff_wani2v_model_input(const ff_tensor *latents, const ff_tensor *cond, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    char a[96], b[96];
    int ok = latents->ndim == 5 && cond->ndim == 5 && latents->dtype == FF_F32 && cond->dtype == FF_F32 &&
             latents->loc == FF_LOC_HOST && cond->loc == FF_LOC_HOST;
    for (int i = 0; ok && i < 5; i++) ok = i == 1 || latents->shape[i] == cond->shape[i];
    if (!ok)
        return ff_err_set(err, FF_ERR_SHAPE, "i2v model input: latents %s and condition %s do not concatenate on dim 1",
                          ff_tensor_describe(latents, a, sizeof a), ff_tensor_describe(cond, b, sizeof b));
    const int64_t B = latents->shape[0], zl = latents->shape[1], zc = cond->shape[1];
    const int64_t os[5] = {B, zl + zc, latents->shape[2], latents->shape[3], latents->shape[4]};
    ff_status st = ff_tensor_alloc(out, FF_F32, 5, os, err);
    if (st) return st;
    const size_t vol = (size_t)(latents->shape[2] * latents->shape[3] * latents->shape[4]);
    for (int64_t i = 0; i < B; i++) {
        float *d = (float *)out->data + (size_t)i * (size_t)(zl + zc) * vol;
        memcpy(d, (const float *)latents->data + (size_t)i * (size_t)zl * vol, (size_t)zl * vol * 4);
        memcpy(d + (size_t)zl * vol, (const float *)cond->data + (size_t)i * (size_t)zc * vol, (size_t)zc * vol * 4);
    }
    return FF_OK;
}

ff_status ff_wani2v_ti2v_blend(const ff_tensor *latents, const ff_tensor *cond, const ff_tensor *mask, ff_tensor *out,
                               ff_err *err) {
    memset(out, 0, sizeof *out);
    char a[96], b[96], c[96];
    const int64_t *ls = latents->shape;
    const int64_t cs[5] = {ls[0], ls[1], 1, ls[3], ls[4]}, ms[5] = {1, 1, ls[2], ls[3], ls[4]};
    if (latents->ndim != 5 || latents->dtype != FF_F32 || cond->dtype != FF_F32 || mask->dtype != FF_F32 ||
        !shape_is(cond, 5, cs) || !shape_is(mask, 5, ms))
        return ff_err_set(err, FF_ERR_SHAPE, "ti2v blend: latents %s, condition %s, mask %s (expected (B, z, F, h, w), "
                          "(B, z, 1, h, w), (1, 1, F, h, w))",
                          ff_tensor_describe(latents, a, sizeof a), ff_tensor_describe(cond, b, sizeof b),
                          ff_tensor_describe(mask, c, sizeof c));
    ff_status st = ff_tensor_alloc(out, FF_F32, 5, ls, err);
    if (st) return st;
    const int64_t B = ls[0], Z = ls[1], F = ls[2], hw = ls[3] * ls[4];
    const float *l = latents->data, *cd = cond->data, *m = mask->data;
    float *d = out->data;
    for (int64_t bz = 0; bz < B * Z; bz++)
        for (int64_t f = 0; f < F; f++)
            for (int64_t i = 0; i < hw; i++) {
                const float mv = m[f * hw + i];
                d[(bz * F + f) * hw + i] = (1.0f - mv) * cd[bz * hw + i] + mv * l[(bz * F + f) * hw + i];
            }
    return FF_OK;
}

ff_status ff_wani2v_ti2v_timesteps(const ff_tensor *mask, float t, int64_t B, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    char a[96];
    if (mask->ndim != 5 || mask->shape[0] != 1 || mask->shape[1] != 1 || mask->dtype != FF_F32 || B < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "ti2v timesteps: mask %s, expected (1, 1, F, h, w) F32; batch %lld",
                          ff_tensor_describe(mask, a, sizeof a), (long long)B);
    const int64_t F = mask->shape[2], h = mask->shape[3], w = mask->shape[4];
    const int64_t hh = (h + 1) / 2, ww = (w + 1) / 2, n = F * hh * ww;
    ff_status st = ff_tensor_allocv(out, FF_F32, err, 2, B, n);
    if (st) return st;
    const float *m = mask->data;
    float *d = out->data;
    int64_t k = 0;
    for (int64_t f = 0; f < F; f++)
        for (int64_t y = 0; y < h; y += 2)
            for (int64_t x = 0; x < w; x += 2) d[k++] = m[(f * h + y) * w + x] * t;
    for (int64_t b = 1; b < B; b++) memcpy(d + b * n, d, (size_t)n * sizeof *d);
    return FF_OK;
}
