/* WanImageToVideoPipeline.prepare_latents and the step inputs
 * (pipeline/wan_i2v_latents.h) on the embedded tiny model's Wan 2.1 VAE
 * (z 4, 8x spatial, 4x temporal), without golden data:
 *  - the noise is randn_tensor of the seed(s) (one generator, or one per
 *    sample), drawn as if before the encode; given latents are used as is;
 *  - the raw condition is the VAE's encode of [image, black frames] (or
 *    [image, black, last_image]; TI2V: the image alone), built here
 *    independently, normalised with the VAE's mean/std and repeated per
 *    sample;
 *  - the mask layout: all T channels 1 on latent frame 0, 0 elsewhere, and
 *    channel T-1 of the last latent frame with a last image; TI2V's
 *    first_frame_mask 0 on frame 0 only;
 *  - condition = cat(mask, latent), the concat / blend / per-token timestep
 *    helpers, and the refusals. The comparison with diffusers is the golden
 *    group i2v_latents. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_rng.h"
#include "pipeline/tiny_model.h"
#include "pipeline/wan_i2v_latents.h"
#include "tests/common/ff_test.h"

static ff_vae *g_vae;
static ff_backend *g_be;

static float at5(const ff_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d, int64_t e) {
    const int64_t *s = t->shape;
    return ((const float *)t->data)[(((a * s[1] + b) * s[2] + c) * s[3] + d) * s[4] + e];
}

static void make_image(ff_tensor *t, int H, int W, unsigned seed) {
    ff_err err = {0};
    if (ff_tensor_allocv(t, FF_F32, &err, 4, 1LL, 3LL, (int64_t)H, (int64_t)W)) return;
    ff_test_fill_uniform(t, seed, -1, 1);
}

/* encode(video) normalised, independently of ff_wani2v. */
static ff_status reference_condition(const ff_tensor *video, ff_tensor *norm, ff_err *err) {
    ff_tensor raw = {0};
    ff_status st = ff_wanvae_encode(g_vae, video, NULL, &raw, NULL, err);
    if (!st) st = ff_wanvae_normalize(g_vae, &raw, norm, err);
    ff_tensor_free(&raw);
    return st;
}

static void test_wan21_layout(void) {
    ff_err err = {0};
    const int H = 16, W = 24, nf = 9, B = 2; /* latent (F 3, h 2, w 3) */
    ff_tensor img = {0}, video = {0}, norm = {0}, noise = {0};
    make_image(&img, H, W, 5);
    uint64_t seed = 77;
    ff_wani2v_params p = {.batch = B, .num_frames = nf, .height = H, .width = W, .seeds = &seed, .n_seeds = 1};
    ff_wani2v_latents l;
    FF_REQUIRE_OK(ff_wani2v_prepare_latents(g_vae, &img, &p, NULL, &l, &err), &err);
    FF_CHECK(l.latents.shape[0] == 2 && l.latents.shape[1] == 4 && l.latents.shape[2] == 3 && l.latents.shape[3] == 2 &&
             l.latents.shape[4] == 3);
    FF_CHECK(l.condition.shape[1] == 8 && l.mask.shape[1] == 4 && l.latent_condition_raw.shape[0] == 1);
    /* noise: randn_tensor((B, z, F, h, w), Generator.manual_seed(77)) */
    FF_REQUIRE_OK(ff_tensor_alloc(&noise, FF_F32, 5, l.latents.shape, &err), &err);
    FF_REQUIRE_OK(ff_randn_tensor(&noise, &seed, 1, &err), &err);
    FF_CHECK(ff_tensor_equal(&noise, &l.latents));
    /* condition latent: encode([image, 8 black frames]), normalised */
    FF_REQUIRE_OK(ff_tensor_allocv(&video, FF_F32, &err, 5, 1LL, 3LL, (int64_t)nf, (int64_t)H, (int64_t)W), &err);
    for (int c = 0; c < 3; c++) memcpy((float *)video.data + (size_t)c * nf * H * W, (float *)img.data + c * H * W, (size_t)H * W * 4);
    FF_REQUIRE_OK(reference_condition(&video, &norm, &err), &err);
    int ok = 1;
    for (int b = 0; b < B; b++)
        for (int z = 0; z < 4; z++)
            for (int f = 0; f < 3; f++)
                for (int y = 0; y < 2; y++)
                    for (int x = 0; x < 3; x++) {
                        const float n = at5(&norm, 0, z, f, y, x);
                        ok &= at5(&l.latent_condition, b, z, f, y, x) == n && at5(&l.condition, b, 4 + z, f, y, x) == n;
                        for (int j = 0; j < 4 && z == 0; j++) {
                            const float mv = f == 0 ? 1.0f : 0.0f;
                            ok &= at5(&l.mask, b, j, f, y, x) == mv && at5(&l.condition, b, j, f, y, x) == mv;
                        }
                    }
    FF_CHECK_MSG(ok, "condition = cat([mask: 1 on latent frame 0], normalised encode) for every sample");
    /* the step input: cat([latents, condition]) */
    ff_tensor in = {0};
    FF_REQUIRE_OK(ff_wani2v_model_input(&l.latents, &l.condition, &in, &err), &err);
    FF_CHECK(in.shape[1] == 12 && at5(&in, 1, 2, 1, 1, 2) == at5(&l.latents, 1, 2, 1, 1, 2) &&
             at5(&in, 1, 9, 1, 1, 2) == at5(&l.condition, 1, 5, 1, 1, 2));
    ff_tensor_free(&in);
    FF_CHECK(ff_wani2v_model_input(&l.latents, &l.latent_condition_raw, &in, &err) == FF_ERR_SHAPE);
    ff_wani2v_latents_free(&l);

    /* one generator per sample; given latents are used as they are */
    uint64_t seeds[2] = {77, 78};
    p.seeds = seeds, p.n_seeds = 2;
    FF_REQUIRE_OK(ff_wani2v_prepare_latents(g_vae, &img, &p, NULL, &l, &err), &err);
    for (int b = 0; b < 2; b++) { /* sample b: randn((1, ...)) of its own generator */
        ff_tensor one = {0};
        int64_t s1[5] = {1, 4, 3, 2, 3};
        FF_REQUIRE_OK(ff_tensor_alloc(&one, FF_F32, 5, s1, &err), &err);
        FF_REQUIRE_OK(ff_randn_tensor(&one, &seeds[b], 1, &err), &err);
        FF_CHECK(!memcmp((float *)l.latents.data + b * 72, one.data, 72 * 4));
        ff_tensor_free(&one);
    }
    ff_wani2v_latents_free(&l);
    p.latents = &noise, p.seeds = NULL, p.n_seeds = 0;
    FF_REQUIRE_OK(ff_wani2v_prepare_latents(g_vae, &img, &p, NULL, &l, &err), &err);
    FF_CHECK(ff_tensor_equal(&l.latents, &noise));
    ff_wani2v_latents_free(&l);
    ff_tensor_free(&img), ff_tensor_free(&video), ff_tensor_free(&norm), ff_tensor_free(&noise);
}

static void test_last_image(void) {
    ff_err err = {0};
    const int H = 16, W = 16, nf = 9;
    ff_tensor img = {0}, last = {0}, video = {0}, norm = {0};
    make_image(&img, H, W, 6);
    make_image(&last, H, W, 7);
    uint64_t seed = 1;
    ff_wani2v_params p = {.batch = 1, .num_frames = nf, .height = H, .width = W, .seeds = &seed, .n_seeds = 1,
                          .last_image = &last};
    ff_wani2v_latents l;
    FF_REQUIRE_OK(ff_wani2v_prepare_latents(g_vae, &img, &p, NULL, &l, &err), &err);
    /* mask: frame 0 all channels; pixel frame nf-1 -> index 4 + nf - 2 = 11 -> latent frame 2, channel 3 */
    int ok = 1;
    for (int j = 0; j < 4; j++)
        for (int f = 0; f < 3; f++) {
            const float want = f == 0 || (f == 2 && j == 3) ? 1.0f : 0.0f;
            ok &= at5(&l.mask, 0, j, f, 1, 1) == want;
        }
    FF_CHECK_MSG(ok, "first-last-frame mask");
    FF_REQUIRE_OK(ff_tensor_allocv(&video, FF_F32, &err, 5, 1LL, 3LL, (int64_t)nf, (int64_t)H, (int64_t)W), &err);
    for (int c = 0; c < 3; c++) {
        memcpy((float *)video.data + (size_t)c * nf * H * W, (float *)img.data + c * H * W, (size_t)H * W * 4);
        memcpy((float *)video.data + ((size_t)c * nf + nf - 1) * H * W, (float *)last.data + c * H * W, (size_t)H * W * 4);
    }
    FF_REQUIRE_OK(reference_condition(&video, &norm, &err), &err);
    FF_CHECK(ff_tensor_equal(&norm, &l.latent_condition));
    ff_wani2v_latents_free(&l);
    ff_tensor_free(&img), ff_tensor_free(&last), ff_tensor_free(&video), ff_tensor_free(&norm);
}

static void test_ti2v_mode(void) {
    ff_err err = {0};
    const int H = 16, W = 32, nf = 9, B = 2; /* F 3, h 2, w 4 */
    ff_tensor img = {0}, video = {0}, norm = {0};
    make_image(&img, H, W, 8);
    uint64_t seed = 5;
    ff_wani2v_params p = {.batch = B, .num_frames = nf, .height = H, .width = W, .seeds = &seed, .n_seeds = 1,
                          .expand_timesteps = 1};
    ff_wani2v_latents l;
    FF_REQUIRE_OK(ff_wani2v_prepare_latents(g_vae, &img, &p, NULL, &l, &err), &err);
    FF_CHECK(l.condition.shape[0] == 2 && l.condition.shape[2] == 1 && l.mask.shape[0] == 1 && l.mask.shape[1] == 1 &&
             l.mask.shape[2] == 3);
    int ok = 1;
    for (int f = 0; f < 3; f++) ok &= at5(&l.mask, 0, 0, f, 1, 3) == (f == 0 ? 0.0f : 1.0f);
    FF_CHECK_MSG(ok, "first_frame_mask");
    /* the condition: encode(image as one frame), normalised */
    int64_t vs[5] = {1, 3, 1, H, W};
    ff_tensor_view(&video, FF_F32, 5, vs, img.data, FF_LOC_HOST);
    FF_REQUIRE_OK(reference_condition(&video, &norm, &err), &err);
    FF_CHECK(!memcmp(norm.data, l.condition.data, ff_tensor_nbytes(&norm)) &&
             !memcmp(norm.data, (float *)l.condition.data + ff_tensor_numel(&norm), ff_tensor_nbytes(&norm)));
    /* blend: frame 0 = condition, later frames = latents */
    ff_tensor x = {0}, ts = {0};
    FF_REQUIRE_OK(ff_wani2v_ti2v_blend(&l.latents, &l.condition, &l.mask, &x, &err), &err);
    ok = 1;
    for (int b = 0; b < B; b++)
        for (int z = 0; z < 4; z++)
            for (int f = 0; f < 3; f++)
                for (int y = 0; y < 2; y++)
                    for (int q = 0; q < 4; q++)
                        ok &= at5(&x, b, z, f, y, q) ==
                              (f == 0 ? at5(&l.condition, b, z, 0, y, q) : at5(&l.latents, b, z, f, y, q));
    FF_CHECK_MSG(ok, "TI2V blend");
    /* per-token timesteps (mask[0, 0][:, ::2, ::2] * t) expanded: 3 frames x 1 x 2 tokens */
    FF_REQUIRE_OK(ff_wani2v_ti2v_timesteps(&l.mask, 812.0f, B, &ts, &err), &err);
    FF_CHECK(ts.ndim == 2 && ts.shape[0] == 2 && ts.shape[1] == 6);
    const float *tv = ts.data;
    FF_CHECK(tv[0] == 0 && tv[1] == 0 && tv[2] == 812.0f && tv[5] == 812.0f && tv[6] == 0 && tv[11] == 812.0f);
    FF_CHECK(ff_wani2v_ti2v_blend(&l.latents, &l.mask, &l.mask, &x, &err) == FF_ERR_SHAPE);
    ff_tensor_free(&x), ff_tensor_free(&ts);
    ff_wani2v_latents_free(&l);
    ff_tensor_free(&img), ff_tensor_free(&norm);
}

static void test_refusals(void) {
    ff_err err = {0};
    ff_tensor img = {0};
    make_image(&img, 16, 16, 9);
    uint64_t seed = 1;
    ff_wani2v_latents l;
    ff_wani2v_params p = {.batch = 1, .num_frames = 8, .height = 16, .width = 16, .seeds = &seed, .n_seeds = 1};
    FF_CHECK(ff_wani2v_prepare_latents(g_vae, &img, &p, NULL, &l, &err) == FF_ERR_ARG);
    FF_CHECK(strstr(err.msg, "num_frames 8") != NULL);
    p.num_frames = 5, p.height = 20;
    FF_CHECK(ff_wani2v_prepare_latents(g_vae, &img, &p, NULL, &l, &err) == FF_ERR_ARG);
    FF_CHECK(strstr(err.msg, "multiples") != NULL);
    p.height = 24; /* image is 16 high */
    FF_CHECK(ff_wani2v_prepare_latents(g_vae, &img, &p, NULL, &l, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "image") != NULL);
    p.height = 16, p.batch = 3, p.n_seeds = 2;
    FF_CHECK(ff_wani2v_prepare_latents(g_vae, &img, &p, NULL, &l, &err) == FF_ERR_ARG);
    FF_CHECK(strstr(err.msg, "seeds") != NULL);
    p.batch = 1, p.n_seeds = 1, p.expand_timesteps = 1, p.last_image = &img;
    FF_CHECK(ff_wani2v_prepare_latents(g_vae, &img, &p, NULL, &l, &err) == FF_ERR_ARG);
    FF_CHECK(l.latents.data == NULL && l.condition.data == NULL);
    ff_tensor_free(&img);
}

int main(void) {
    char base[4096], dir[4200];
    ff_err err = {0};
    ff_test_tmp_path("wan_i2v_latents_test", base, sizeof base);
    snprintf(dir, sizeof dir, "%s/tiny", base);
    if (ff_tiny_model_ensure(FF_TINY_DEFAULT, dir, NULL, &err) || ff_backend_cpu_create(0, &g_be, &err) ||
        ff_wanvae_load(g_be, dir, &g_vae, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_wan21_layout);
    FF_RUN(test_last_image);
    FF_RUN(test_ti2v_mode);
    FF_RUN(test_refusals);
    ff_wanvae_free(g_vae);
    ff_backend_free(g_be);
    return ff_test_summary();
}
