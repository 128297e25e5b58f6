/* CogVideoX latent geometry and prepare_latents: frame counts (F =
 * (num_frames - 1) // 4 + 1, the VAE's decoded frames 1, 8, 9, 16, 17, 49),
 * the 1.5 padding frame at the start, randn_tensor with one generator (the
 * generator advances: a second draw continues the sequence, as the DPM
 * scheduler's draws do in diffusers) and with one generator per sample,
 * dropping the padding frames. */
#include <stdio.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "pipeline/cogvideox_latents.h"

static void test_geometry(void) {
    ff_coglat_geometry g;
    ff_err err = {0};
    const int64_t nf[6] = {1, 5, 9, 13, 17, 49}, F[6] = {1, 2, 3, 4, 5, 13}, out[6] = {1, 8, 9, 16, 17, 49};
    for (int i = 0; i < 6; i++) {
        FF_REQUIRE_OK(ff_coglat_geometry_of(nf[i], 480, 720, 0, 4, 8, &g, &err), &err);
        FF_CHECK(g.latent_frames == F[i] && g.frames == F[i] && g.additional_frames == 0);
        FF_CHECK_MSG(g.output_frames == out[i], "num_frames %lld: %lld output frames", (long long)nf[i],
                     (long long)g.output_frames);
        FF_CHECK(g.height == 60 && g.width == 90);
    }
    /* CogVideoX 1.5: 17 frames -> 5 latent frames, padded to 6 (one noise frame in front) */
    FF_REQUIRE_OK(ff_coglat_geometry_of(17, 32, 32, 2, 4, 8, &g, &err), &err);
    FF_CHECK(g.latent_frames == 5 && g.additional_frames == 1 && g.frames == 6 && g.prepare_num_frames == 21);
    FF_CHECK(g.output_frames == 17);
    FF_REQUIRE_OK(ff_coglat_geometry_of(81, 768, 1360, 2, 4, 8, &g, &err), &err);
    FF_CHECK(g.latent_frames == 21 && g.frames == 22 && g.height == 96 && g.width == 170);
    FF_REQUIRE_OK(ff_coglat_geometry_of(13, 32, 32, 2, 4, 8, &g, &err), &err);
    FF_CHECK(g.additional_frames == 0 && g.frames == 4);
    FF_CHECK(ff_coglat_geometry_of(0, 32, 32, 0, 4, 8, &g, &err) == FF_ERR_ARG);
    FF_CHECK(ff_coglat_geometry_of(9, 4, 32, 0, 4, 8, &g, &err) == FF_ERR_ARG);
}

static void test_prepare(void) {
    ff_coglat_geometry g;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_coglat_geometry_of(9, 48, 64, 0, 4, 8, &g, &err), &err);
    ff_rng gen, ref;
    ff_rng_seed(&gen, 42);
    ff_rng_seed(&ref, 42);
    ff_tensor lat;
    FF_REQUIRE_OK(ff_coglat_prepare(&gen, 1, 2, 4, &g, 1.0, &lat, &err), &err);
    FF_CHECK(lat.ndim == 5 && lat.shape[0] == 2 && lat.shape[1] == 3 && lat.shape[2] == 4 && lat.shape[3] == 6 &&
             lat.shape[4] == 8);
    /* one generator: one torch.randn over the whole (B, F, C, h, w) tensor */
    const int64_t n = ff_tensor_numel(&lat);
    float buf[2 * 3 * 4 * 6 * 8 + 16];
    ff_rng_randn(&ref, buf, (size_t)n);
    FF_CHECK(memcmp(buf, lat.data, (size_t)n * 4) == 0);
    /* the generator advanced exactly as torch's: the next draw continues */
    float a[16], b[16];
    ff_rng_randn(&gen, a, 16);
    ff_rng_randn(&ref, b, 16);
    FF_CHECK(memcmp(a, b, sizeof a) == 0);
    ff_tensor_free(&lat);
    /* a list: sample b from generator b */
    ff_rng two[2];
    ff_rng_seed(&two[0], 5);
    ff_rng_seed(&two[1], 6);
    FF_REQUIRE_OK(ff_coglat_prepare(two, 2, 2, 4, &g, 1.0, &lat, &err), &err);
    ff_rng s6;
    ff_rng_seed(&s6, 6);
    ff_rng_randn(&s6, buf, (size_t)(n / 2));
    FF_CHECK(memcmp(buf, (float *)lat.data + n / 2, (size_t)(n / 2) * 4) == 0);
    ff_tensor dropped;
    FF_REQUIRE_OK(ff_coglat_drop_padding(&lat, 1, &dropped, &err), &err);
    FF_CHECK(dropped.shape[1] == 2);
    const int64_t per = 4 * 6 * 8;
    FF_CHECK(memcmp(dropped.data, (float *)lat.data + per, (size_t)per * 4) == 0);
    FF_CHECK(memcmp((float *)dropped.data + 2 * per, (float *)lat.data + 4 * per, (size_t)per * 4) == 0);
    ff_tensor_free(&dropped);
    FF_CHECK(ff_coglat_drop_padding(&lat, 3, &dropped, &err) == FF_ERR_SHAPE);
    ff_tensor_free(&lat);
    FF_CHECK(ff_coglat_prepare(two, 2, 3, 4, &g, 1.0, &lat, &err) == FF_ERR_ARG); /* 2 generators, batch 3 */
}

int main(void) {
    FF_RUN(test_geometry);
    FF_RUN(test_prepare);
    return ff_test_summary();
}
