/* image_processor: diffusers' VaeImageProcessor.preprocess (PIL path) and
 * transformers' CLIPImageProcessor (image_processing_clip.py with
 * image_transforms.resize / center_crop / rescale / normalize), restated on
 * uint8 HWC images. See image_processor.h. */
#include "models/image_processor.h"

#include <stdlib.h>
#include <string.h>

#include "models/pil_resample.h"

/* ---- VaeImageProcessor ---------------------------------------------------- */

ff_status ff_imgproc_vae_preprocess(const ff_tensor *img, int height, int width, int vae_scale_factor, int resample,
                                    ff_tensor *out, ff_tensor *resized, ff_err *err) {
    memset(out, 0, sizeof *out);
    if (resized) memset(resized, 0, sizeof *resized);
    if (vae_scale_factor < 1) return ff_err_set(err, FF_ERR_ARG, "image preprocess: vae_scale_factor %d", vae_scale_factor);
    /* get_default_height_width: x - x % vae_scale_factor */
    const int h = height - height % vae_scale_factor, w = width - width % vae_scale_factor;
    if (h < 1 || w < 1)
        return ff_err_set(err, FF_ERR_ARG, "image preprocess: height %d x width %d rounds to %dx%d (vae_scale_factor %d)",
                          height, width, h, w, vae_scale_factor);
    ff_tensor r;
    ff_status st = ff_pil_resize(img, h, w, resample, &r, err); /* an exact copy when the size matches */
    if (st) return ff_err_wrap(err, "image preprocess: ");
    if ((st = ff_tensor_allocv(out, FF_F32, err, 4, (int64_t)1, (int64_t)3, (int64_t)h, (int64_t)w))) {
        ff_tensor_free(&r);
        return st;
    }
    const uint8_t *s = r.data;
    float *d = out->data;
    const size_t hw = (size_t)h * w;
    for (size_t p = 0; p < hw; p++)
        for (int c = 0; c < 3; c++) {
            float v = (float)s[p * 3 + c] / 255.0f; /* pil_to_numpy: astype(float32) / 255.0 */
            d[(size_t)c * hw + p] = 2.0f * v - 1.0f; /* normalize: 2 * images - 1.0 */
        }
    if (resized) *resized = r;
    else ff_tensor_free(&r);
    return FF_OK;
}

/* ---- CLIPImageProcessor --------------------------------------------------- */

static ff_status get_flag(const ff_json *root, const char *what, const char *key, int *out, ff_err *err) {
    if (ff_json_get_bool(root, key, 1, out)) return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" is not a boolean", what, key);
    return FF_OK;
}

/* size-like entry: an integer, {"shortest_edge": n} or {"height": h, "width": w}. */
static ff_status get_size(const ff_json *v, const char *what, const char *key, int allow_short, int *shortest, int *h,
                          int *w, ff_err *err) {
    int64_t a, b;
    *shortest = 0;
    if (v->type == FF_JSON_NUMBER) {
        if (ff_json_int64(v, &a) || a < 1 || a > 65536)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" must be a positive integer", what, key);
        if (allow_short) *shortest = (int)a; /* get_size_dict(int, default_to_square=False) */
        else *h = *w = (int)a;
        return FF_OK;
    }
    if (v->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" is not a size", what, key);
    if (allow_short && !ff_json_is_null(ff_json_get(v, "shortest_edge"))) {
        if (ff_json_get_int64(v, "shortest_edge", 0, &a) || a < 1 || a > 65536)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\".shortest_edge must be a positive integer", what, key);
        if (!ff_json_is_null(ff_json_get(v, "longest_edge")))
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: \"%s\".longest_edge is not supported", what, key);
        *shortest = (int)a;
        return FF_OK;
    }
    if (ff_json_get_int64(v, "height", 0, &a) || ff_json_get_int64(v, "width", 0, &b) || a < 1 || b < 1 || a > 65536 ||
        b > 65536)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" needs %sheight and width", what, key,
                          allow_short ? "shortest_edge, or " : "");
    *h = (int)a, *w = (int)b;
    return FF_OK;
}

static ff_status get_triple(const ff_json *root, const char *what, const char *key, const float *dflt, float *out,
                            ff_err *err) {
    const ff_json *v = ff_json_get(root, key);
    if (ff_json_is_null(v)) {
        memcpy(out, dflt, 3 * sizeof *out);
        return FF_OK;
    }
    double d;
    if (v->type == FF_JSON_NUMBER && !ff_json_double(v, &d)) { /* a scalar applies to every channel */
        out[0] = out[1] = out[2] = (float)d;
        return FF_OK;
    }
    if (v->type != FF_JSON_ARRAY || ff_json_count(v) != 3)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\" must be 3 numbers", what, key);
    for (int i = 0; i < 3; i++) {
        if (ff_json_double(ff_json_at(v, (size_t)i), &d))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: \"%s\"[%d] is not a number", what, key, i);
        out[i] = (float)d; /* np.array(mean, dtype=float32) */
    }
    return FF_OK;
}

ff_status ff_imgproc_clip_config_parse(const ff_json *root, const char *what, ff_imgproc_clip_config *cfg,
                                       ff_err *err) {
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memset(cfg, 0, sizeof *cfg);
    if (!root || root->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: not a JSON object", what);
    const char *type = ff_json_get_string(root, "image_processor_type");
    if (!type) type = ff_json_get_string(root, "feature_extractor_type");
    if (type && strcmp(type, "CLIPImageProcessor") != 0 && strcmp(type, "CLIPImageProcessorFast") != 0 &&
        strcmp(type, "CLIPFeatureExtractor") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: image processor \"%s\" is not CLIPImageProcessor", what, type);
    ff_status st;
    if ((st = get_flag(root, what, "do_convert_rgb", &cfg->do_convert_rgb, err)) ||
        (st = get_flag(root, what, "do_resize", &cfg->do_resize, err)) ||
        (st = get_flag(root, what, "do_center_crop", &cfg->do_center_crop, err)) ||
        (st = get_flag(root, what, "do_rescale", &cfg->do_rescale, err)) ||
        (st = get_flag(root, what, "do_normalize", &cfg->do_normalize, err)))
        return st;
    const ff_json *size = ff_json_get(root, "size");
    cfg->shortest_edge = 224;
    if (!ff_json_is_null(size) &&
        (st = get_size(size, what, "size", 1, &cfg->shortest_edge, &cfg->size_h, &cfg->size_w, err)))
        return st;
    const ff_json *crop = ff_json_get(root, "crop_size");
    cfg->crop_h = cfg->crop_w = 224;
    int unused;
    if (!ff_json_is_null(crop) && (st = get_size(crop, what, "crop_size", 0, &unused, &cfg->crop_h, &cfg->crop_w, err)))
        return st;
    int64_t rs;
    if (ff_json_get_int64(root, "resample", FF_PIL_BICUBIC, &rs) || rs < 0 || rs > 5)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"resample\" must be a PIL filter number 0..5", what);
    cfg->resample = (int)rs;
    if (cfg->do_resize && rs == FF_PIL_NEAREST)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: resample 0 (nearest) is not supported", what);
    if (ff_json_get_double(root, "rescale_factor", 1.0 / 255.0, &cfg->rescale_factor))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: \"rescale_factor\" is not a number", what);
    if ((st = get_triple(root, what, "image_mean", clip_mean, cfg->mean, err)) ||
        (st = get_triple(root, what, "image_std", clip_std, cfg->std, err)))
        return st;
    return FF_OK;
}

ff_status ff_imgproc_clip_config_load(const char *path, ff_imgproc_clip_config *cfg, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    st = ff_imgproc_clip_config_parse(ff_json_root(doc), path, cfg, err);
    ff_json_free(doc);
    return st;
}

void ff_imgproc_clip_resize_size(const ff_imgproc_clip_config *cfg, int H, int W, int *out_h, int *out_w) {
    if (!cfg->do_resize) {
        *out_h = H, *out_w = W;
    } else if (cfg->shortest_edge > 0) {
        /* get_resize_output_image_size(default_to_square=False): Python int(S * long / short) */
        const int S = cfg->shortest_edge, shrt = W <= H ? W : H, lng = W <= H ? H : W;
        const int new_long = (int)((double)((int64_t)S * lng) / (double)shrt);
        if (W <= H) *out_h = new_long, *out_w = S;
        else *out_h = S, *out_w = new_long;
    } else {
        *out_h = cfg->size_h, *out_w = cfg->size_w;
    }
}

/* Python floor division. */
static int floordiv(int a, int b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* image_transforms.center_crop: the (ch, cw) window at top = (h - ch) // 2,
 * left = (w - cw) // 2, zeros where it leaves the image (the padded case). */
static ff_status center_crop(const ff_tensor *img, int ch, int cw, ff_tensor *out, ff_err *err) {
    const int h = (int)img->shape[0], w = (int)img->shape[1];
    ff_status st = ff_tensor_allocv(out, FF_U8, err, 3, (int64_t)ch, (int64_t)cw, (int64_t)3); /* zero-filled */
    if (st) return st;
    const int top = floordiv(h - ch, 2), left = floordiv(w - cw, 2);
    const uint8_t *s = img->data;
    uint8_t *d = out->data;
    for (int y = 0; y < ch; y++) {
        const int sy = y + top;
        if (sy < 0 || sy >= h) continue;
        for (int x = 0; x < cw; x++) {
            const int sx = x + left;
            if (sx >= 0 && sx < w) memcpy(d + ((size_t)y * cw + x) * 3, s + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    return FF_OK;
}

ff_status ff_imgproc_clip_preprocess(const ff_imgproc_clip_config *cfg, const ff_tensor *images, int n,
                                     ff_tensor *pixel_values, ff_tensor *resized, ff_tensor *cropped, ff_err *err) {
    memset(pixel_values, 0, sizeof *pixel_values);
    if (resized) memset(resized, 0, sizeof *resized * (size_t)(n > 0 ? n : 0));
    if (cropped) memset(cropped, 0, sizeof *cropped * (size_t)(n > 0 ? n : 0));
    if (n < 1) return ff_err_set(err, FF_ERR_ARG, "CLIP image processor: no images");
    ff_status st = FF_OK;
    int oh = 0, ow = 0;
    for (int i = 0; i < n && !st; i++) {
        const ff_tensor *img = &images[i];
        char b[96];
        if (img->dtype != FF_U8 || img->ndim != 3 || img->shape[2] != 3 || img->loc != FF_LOC_HOST) {
            st = ff_err_set(err, FF_ERR_ARG, "CLIP image processor: image %d is %s, expected host U8 (H, W, 3)", i,
                            ff_tensor_describe(img, b, sizeof b));
            break;
        }
        ff_tensor r = {0}, c = {0};
        int rh, rw;
        ff_imgproc_clip_resize_size(cfg, (int)img->shape[0], (int)img->shape[1], &rh, &rw);
        if (rh < 1 || rw < 1) {
            st = ff_err_set(err, FF_ERR_ARG, "CLIP image processor: image %d (%s) resizes to %dx%d", i,
                            ff_tensor_describe(img, b, sizeof b), rw, rh);
            break;
        }
        if ((st = ff_pil_resize(img, rh, rw, cfg->resample, &r, err))) break; /* copy when do_resize is off */
        if (cfg->do_center_crop) st = center_crop(&r, cfg->crop_h, cfg->crop_w, &c, err);
        else st = ff_tensor_clone(&c, &r, err);
        if (!st && i == 0) {
            oh = (int)c.shape[0], ow = (int)c.shape[1];
            st = ff_tensor_allocv(pixel_values, FF_F32, err, 4, (int64_t)n, (int64_t)3, (int64_t)oh, (int64_t)ow);
        } else if (!st && (c.shape[0] != oh || c.shape[1] != ow)) {
            st = ff_err_set(err, FF_ERR_SHAPE, "CLIP image processor: image %d gives %lldx%lld pixels, image 0 %dx%d", i,
                            (long long)c.shape[1], (long long)c.shape[0], ow, oh);
        }
        if (!st) {
            const uint8_t *s = c.data;
            const size_t hw = (size_t)oh * ow;
            float *d = (float *)pixel_values->data + (size_t)i * 3 * hw;
            for (size_t p = 0; p < hw; p++)
                for (int ch = 0; ch < 3; ch++) {
                    float v = (float)s[p * 3 + ch];
                    if (cfg->do_rescale) v = (float)((double)s[p * 3 + ch] * cfg->rescale_factor); /* float64 *, cast */
                    if (cfg->do_normalize) v = (v - cfg->mean[ch]) / cfg->std[ch];              /* float32 */
                    d[(size_t)ch * hw + p] = v;
                }
        }
        if (resized && !st) resized[i] = r;
        else ff_tensor_free(&r);
        if (cropped && !st) cropped[i] = c;
        else ff_tensor_free(&c);
    }
    if (st) {
        ff_tensor_free(pixel_values);
        for (int i = 0; i < n; i++) {
            if (resized) ff_tensor_free(&resized[i]);
            if (cropped) ff_tensor_free(&cropped[i]);
        }
    }
    return st;
}
