/* Pillow resampling (models/pil_resample.h) and the two image processors
 * (models/image_processor.h) without golden data: hand-derived Pillow
 * results (BILINEAR 2 -> 4, BOX 2:1), coefficient tables (windows inside the
 * image, integer weights summing to 2^22 within rounding), the vertical
 * pass equal to the transposed horizontal pass, the same-size copy,
 * refusals; CLIPImageProcessor's size rule (truncated long side), center
 * crop with transformers' zero padding, rescale/normalise values, config
 * parsing; VaeImageProcessor's size rounding and 2x/255-1. The bit-exact
 * comparison with Pillow itself is the golden group i2v_preprocess. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"
#include "models/image_processor.h"
#include "models/pil_resample.h"
#include "tests/common/ff_test.h"

static ff_tensor img_u8(int H, int W, int C, const uint8_t *data) {
    ff_tensor t;
    ff_err err = {0};
    if (ff_tensor_allocv(&t, FF_U8, &err, 3, (int64_t)H, (int64_t)W, (int64_t)C)) memset(&t, 0, sizeof t);
    else if (data) memcpy(t.data, data, (size_t)H * W * C);
    return t;
}

static void test_hand_results(void) {
    ff_err err = {0};
    /* BILINEAR [0, 255] -> 4 samples: centres 0.25, 0.75, 1.25, 1.75 give
     * windows {0}, {0: .75, 1: .25}, {0: .25, 1: .75}, {1} -> 0, 64, 191, 255 */
    uint8_t row[2] = {0, 255};
    ff_tensor a = img_u8(1, 2, 1, row), o;
    FF_REQUIRE_OK(ff_pil_resize(&a, 1, 4, FF_PIL_BILINEAR, &o, &err), &err);
    const uint8_t *v = o.data;
    FF_CHECK_MSG(v[0] == 0 && v[1] == 64 && v[2] == 191 && v[3] == 255, "%d %d %d %d", v[0], v[1], v[2], v[3]);
    ff_tensor_free(&o);
    ff_tensor_free(&a);
    /* BOX 2:1 on both axes: each pass (a + b + 1) >> 1 (weights 2^21 each) */
    uint8_t px[4 * 4 * 3];
    unsigned s = 7;
    for (int i = 0; i < 48; i++) px[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 16);
    a = img_u8(4, 4, 3, px);
    FF_REQUIRE_OK(ff_pil_resize(&a, 2, 2, FF_PIL_BOX, &o, &err), &err);
    int ok = 1;
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++)
            for (int c = 0; c < 3; c++) {
                int r[2];
                for (int k = 0; k < 2; k++) /* horizontal pass on rows 2y + k, stored as 8 bits */
                    r[k] = (px[((2 * y + k) * 4 + 2 * x) * 3 + c] + px[((2 * y + k) * 4 + 2 * x + 1) * 3 + c] + 1) >> 1;
                ok &= ((uint8_t *)o.data)[(y * 2 + x) * 3 + c] == ((r[0] + r[1] + 1) >> 1);
            }
    FF_CHECK_MSG(ok, "box 2:1 = two rounded pair averages");
    ff_tensor_free(&o);
    /* same size: an exact copy, whatever the filter */
    FF_REQUIRE_OK(ff_pil_resize(&a, 4, 4, FF_PIL_LANCZOS, &o, &err), &err);
    FF_CHECK(!memcmp(o.data, px, 48));
    ff_tensor_free(&o);
    ff_tensor_free(&a);
}

static void test_coeffs(void) {
    const int sizes[][2] = {{45, 32}, {27, 43}, {61, 48}, {20, 64}, {832, 224}, {7, 7}, {1, 5}, {300, 3}};
    for (int f = 1; f <= 5; f++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            int *b, *k;
            const int in = sizes[i][0], out = sizes[i][1];
            int ks = ff_pil_coeffs(in, out, f, &b, &k);
            FF_REQUIRE(ks > 0);
            int ok = 1;
            for (int o = 0; o < out; o++) {
                int64_t sum = 0;
                ok &= b[2 * o] >= 0 && b[2 * o + 1] >= 1 && b[2 * o] + b[2 * o + 1] <= in && b[2 * o + 1] <= ks;
                for (int t = 0; t < ks; t++) sum += k[o * ks + t];
                ok &= llabs(sum - (1 << 22)) <= ks; /* each weight rounded by at most 1/2 */
            }
            FF_CHECK_MSG(ok, "%s %d -> %d", ff_pil_filter_name(f), in, out);
            free(b), free(k);
        }
    int *b, *k;
    FF_CHECK(ff_pil_coeffs(10, 5, FF_PIL_NEAREST, &b, &k) == 0);
}

/* The vertical pass is the horizontal one on the transposed image. */
static void test_vertical_is_transposed_horizontal(void) {
    ff_err err = {0};
    const int H = 23, W = 9;
    uint8_t px[23 * 9], tp[9 * 23];
    unsigned s = 3;
    for (int i = 0; i < H * W; i++) px[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 16);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) tp[x * H + y] = px[y * W + x];
    for (int f = 1; f <= 5; f++) {
        ff_tensor a = img_u8(H, W, 1, px), b = img_u8(W, H, 1, tp), oa, ob;
        FF_REQUIRE_OK(ff_pil_resize(&a, 15, W, f, &oa, &err), &err); /* height only */
        FF_REQUIRE_OK(ff_pil_resize(&b, W, 15, f, &ob, &err), &err); /* width only */
        int ok = 1;
        for (int y = 0; y < 15; y++)
            for (int x = 0; x < W; x++) ok &= ((uint8_t *)oa.data)[y * W + x] == ((uint8_t *)ob.data)[x * 15 + y];
        FF_CHECK_MSG(ok, "filter %s", ff_pil_filter_name(f));
        ff_tensor_free(&a), ff_tensor_free(&b), ff_tensor_free(&oa), ff_tensor_free(&ob);
    }
}

static void test_resize_refusals(void) {
    ff_err err = {0};
    ff_tensor a = img_u8(4, 4, 3, NULL), o;
    FF_CHECK(ff_pil_resize(&a, 2, 2, FF_PIL_NEAREST, &o, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(strstr(err.msg, "nearest") != NULL && o.data == NULL);
    FF_CHECK(ff_pil_resize(&a, 0, 2, FF_PIL_BICUBIC, &o, &err) == FF_ERR_ARG);
    FF_CHECK(ff_pil_resize(&a, 2, 2, 9, &o, &err) == FF_ERR_UNSUPPORTED);
    ff_tensor_free(&a);
    a = img_u8(4, 4, 4, NULL); /* RGBA: Pillow premultiplies, not offered */
    FF_CHECK(ff_pil_resize(&a, 2, 2, FF_PIL_BICUBIC, &o, &err) == FF_ERR_ARG);
    ff_tensor_free(&a);
}

static ff_status clip_cfg(const char *json, ff_imgproc_clip_config *c, ff_err *err) {
    ff_json_doc *doc;
    ff_status st = ff_json_parse(json, strlen(json), "preprocessor_config.json", &doc, err);
    if (!st) st = ff_imgproc_clip_config_parse(ff_json_root(doc), "preprocessor_config.json", c, err);
    ff_json_free(doc);
    return st;
}

static void test_clip_processor(void) {
    ff_imgproc_clip_config c;
    ff_err err = {0};
    /* defaults: 224 shortest edge / crop, bicubic, OpenAI mean/std */
    FF_REQUIRE_OK(clip_cfg("{}", &c, &err), &err);
    FF_CHECK(c.shortest_edge == 224 && c.crop_h == 224 && c.crop_w == 224 && c.resample == FF_PIL_BICUBIC);
    FF_CHECK(c.mean[0] == 0.48145466f && c.std[2] == 0.27577711f && c.do_center_crop && c.do_normalize);
    int h, w;
    ff_imgproc_clip_resize_size(&c, 480, 832, &h, &w); /* int(224 * 832 / 480) = int(388.27) */
    FF_CHECK(h == 224 && w == 388);
    ff_imgproc_clip_resize_size(&c, 1000, 600, &h, &w); /* portrait: int(224 * 1000 / 600) = 373 */
    FF_CHECK(h == 373 && w == 224);
    FF_REQUIRE_OK(clip_cfg("{\"size\": 32, \"crop_size\": 20, \"image_processor_type\": \"CLIPImageProcessor\"}", &c,
                           &err),
                  &err);
    FF_CHECK(c.shortest_edge == 32 && c.crop_h == 20 && c.crop_w == 20);
    FF_REQUIRE_OK(clip_cfg("{\"size\": {\"height\": 30, \"width\": 40}}", &c, &err), &err);
    ff_imgproc_clip_resize_size(&c, 7, 9, &h, &w);
    FF_CHECK(c.shortest_edge == 0 && h == 30 && w == 40);
    FF_CHECK(clip_cfg("{\"image_processor_type\": \"SiglipImageProcessor\"}", &c, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(clip_cfg("{\"image_mean\": [0.5, 0.5]}", &c, &err) == FF_ERR_FORMAT);
    FF_CHECK(clip_cfg("{\"size\": {\"shortest_edge\": 0}}", &c, &err) == FF_ERR_FORMAT);

    /* crop larger than the image (no resize): transformers pads with zeros,
     * top = (10 - 12) // 2 = -1, left = (10 - 14) // 2 = -2 */
    FF_REQUIRE_OK(clip_cfg("{\"do_resize\": false, \"crop_size\": {\"height\": 12, \"width\": 14}}", &c, &err), &err);
    uint8_t px[10 * 10 * 3];
    for (int i = 0; i < 300; i++) px[i] = (uint8_t)(i % 251 + 1);
    ff_tensor im = img_u8(10, 10, 3, px), pv, cropped, resized;
    FF_REQUIRE_OK(ff_imgproc_clip_preprocess(&c, &im, 1, &pv, &resized, &cropped, &err), &err);
    FF_CHECK(cropped.shape[0] == 12 && cropped.shape[1] == 14 && pv.shape[2] == 12 && pv.shape[3] == 14);
    int ok = 1;
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 14; x++) {
            const int sy = y - 1, sx = x - 2;
            const uint8_t want = sy >= 0 && sy < 10 && sx >= 0 && sx < 10 ? px[(sy * 10 + sx) * 3] : 0;
            ok &= ((uint8_t *)cropped.data)[(y * 14 + x) * 3] == want;
        }
    FF_CHECK_MSG(ok, "zero-padded center crop");
    /* pixel values: float32(float64(u8) * (1/255)), then (v - mean) / std in float32, CHW */
    const uint8_t u = ((uint8_t *)cropped.data)[(5 * 14 + 6) * 3 + 1];
    const float want = ((float)((double)u * (1.0 / 255.0)) - 0.4578275f) / 0.26130258f;
    FF_CHECK(((float *)pv.data)[1 * 12 * 14 + 5 * 14 + 6] == want);
    FF_CHECK(((float *)pv.data)[0] == (0.0f - 0.48145466f) / 0.26862954f); /* a padded pixel */
    ff_tensor_free(&pv), ff_tensor_free(&cropped), ff_tensor_free(&resized);
    /* two images of different sizes without a crop do not stack */
    FF_REQUIRE_OK(clip_cfg("{\"do_center_crop\": false, \"size\": 8}", &c, &err), &err);
    ff_tensor two[2] = {img_u8(10, 10, 3, px), img_u8(10, 5, 3, px)};
    FF_CHECK(ff_imgproc_clip_preprocess(&c, two, 2, &pv, NULL, NULL, &err) == FF_ERR_SHAPE);
    FF_CHECK(pv.data == NULL);
    ff_tensor_free(&two[0]), ff_tensor_free(&two[1]), ff_tensor_free(&im);
}

static void test_vae_preprocess(void) {
    ff_err err = {0};
    uint8_t px[40 * 37 * 3];
    for (int i = 0; i < 40 * 37 * 3; i++) px[i] = (uint8_t)(i * 7);
    ff_tensor im = img_u8(40, 37, 3, px), out, resized;
    /* height 37 -> 32, width 20 -> 16 (multiples of 8), LANCZOS resize, 2 x / 255 - 1 */
    FF_REQUIRE_OK(ff_imgproc_vae_preprocess(&im, 37, 20, 8, FF_PIL_LANCZOS, &out, &resized, &err), &err);
    FF_CHECK(out.ndim == 4 && out.shape[0] == 1 && out.shape[1] == 3 && out.shape[2] == 32 && out.shape[3] == 16);
    FF_CHECK(resized.shape[0] == 32 && resized.shape[1] == 16);
    int ok = 1;
    for (int p = 0; p < 32 * 16; p++)
        for (int c = 0; c < 3; c++) {
            const float v = (float)((uint8_t *)resized.data)[p * 3 + c] / 255.0f;
            ok &= ((float *)out.data)[c * 512 + p] == 2.0f * v - 1.0f;
        }
    FF_CHECK(ok);
    ff_tensor_free(&out), ff_tensor_free(&resized);
    /* the same size: the pixels themselves; 0 -> -1, 255 -> 1 exactly */
    px[0] = 0, px[1] = 255;
    ff_tensor_free(&im);
    im = img_u8(40, 37, 3, px);
    FF_REQUIRE_OK(ff_imgproc_vae_preprocess(&im, 40, 37, 1, FF_PIL_LANCZOS, &out, NULL, &err), &err);
    FF_CHECK(((float *)out.data)[0] == -1.0f && ((float *)out.data)[40 * 37] == 1.0f);
    ff_tensor_free(&out);
    FF_CHECK(ff_imgproc_vae_preprocess(&im, 7, 20, 8, FF_PIL_LANCZOS, &out, NULL, &err) == FF_ERR_ARG);
    ff_tensor_free(&im);
}

int main(void) {
    FF_RUN(test_hand_results);
    FF_RUN(test_coeffs);
    FF_RUN(test_vertical_is_transposed_horizontal);
    FF_RUN(test_resize_refusals);
    FF_RUN(test_clip_processor);
    FF_RUN(test_vae_preprocess);
    return ff_test_summary();
}
