/* The CogVideoX family table on the golden tiny folders (configs only): the
 * registry finds it, its components in model_cpu_offload_seq order with
 * their roles, the (B, F, C, h, w) geometry (F = (frames - 1) / 4 + 1; 1.5
 * pads an odd F by one frame; sizes rounded down to multiples of 16; the
 * frames an F decodes to: 1, 8, 9, 16, 17 for F = 1..5), the __call__
 * defaults, and its embedded smoke-test model. Skips without the golden
 * data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "pipeline/chain.h"
#include "pipeline/family.h"

static char g_pipes[4096];

static ff_chain *open_pipe(const char *name) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", g_pipes, name);
    ff_err err = {0};
    ff_chain *c = NULL;
    FF_CHECK_OK(ff_chain_open(NULL, dir, NULL, NULL, &c, &err), &err);
    return c;
}

static void test_table(void) {
    const ff_family *f = ff_family_find("CogVideoXPipeline");
    FF_REQUIRE(f != NULL);
    FF_CHECK(!strcmp(f->offload_seq, "text_encoder->transformer->vae"));
    FF_CHECK(ff_family_find_tiny("tiny-cogvideox") == f);
    char buf[256];
    FF_CHECK(strstr(ff_family_supported(buf, sizeof buf), "CogVideoXPipeline") != NULL);
    ff_chain *c = open_pipe("tiny-cogvideox");
    FF_REQUIRE(c != NULL);
    FF_CHECK(ff_chain_family(c) == f && ff_chain_n_components(c) == 3);
    static const char *const names[3] = {"text_encoder", "transformer", "vae"};
    static const ff_role roles[3] = {FF_ROLE_TEXT_ENCODER, FF_ROLE_DENOISER, FF_ROLE_VAE};
    for (int i = 0; i < 3; i++) {
        FF_CHECK(!strcmp(ff_chain_component_name(c, i), names[i]));
        FF_CHECK(ff_chain_component_class(c, i)->role == roles[i]);
    }
    FF_CHECK(ff_chain_scheduler(c)->kind == FF_SCHED_COGVIDEOX_DDIM && ff_chain_scheduler(c)->cog.snr_shift_scale == 3.0);
    ff_chain_params p;
    ff_chain_params_default(c, &p);
    FF_CHECK(p.num_frames == 49 && p.height == 480 && p.width == 720 && p.guidance_scale == 6.0 && p.max_sequence_length == 226);
    static const int64_t px[6] = {0, 1, 8, 9, 16, 17};
    for (int n = 0; n < 6; n++) FF_CHECK(ff_chain_pixel_frames(c, n) == px[n]);
    ff_chain_close(c);
}

static void test_geometry(void) {
    ff_err err = {0};
    ff_geometry g;
    ff_chain *c = open_pipe("tiny-cogvideox");
    FF_REQUIRE(c != NULL);
    FF_REQUIRE_OK(ff_chain_geometry(c, 2, 9, 48, 64, &g, &err), &err);
    const int64_t a[5] = {2, 3, 4, 6, 8};
    FF_CHECK(!memcmp(g.latent_shape, a, sizeof a) && g.frame_axis == 1 && g.channel_axis == 2);
    FF_CHECK(g.num_frames == 9 && !g.frames_rounded && !g.size_rounded && g.temporal_factor == 4 && g.spatial_factor == 8);
    FF_REQUIRE_OK(ff_chain_geometry(c, 1, 13, 40, 72, &g, &err), &err); /* 4 latent frames decode to 16 */
    FF_CHECK(g.latent_shape[1] == 4 && g.num_frames == 16 && g.frames_rounded);
    FF_CHECK(g.height == 32 && g.width == 64 && g.size_rounded);
    FF_CHECK(ff_chain_geometry(c, 1, 9, 8, 64, &g, &err) == FF_ERR_ARG); /* below one patch */
    ff_chain_close(c);
    c = open_pipe("tiny-cogvideox15");
    FF_REQUIRE(c != NULL);
    FF_REQUIRE_OK(ff_chain_geometry(c, 1, 9, 32, 48, &g, &err), &err); /* 3 latent frames + 1 padding */
    const int64_t b[5] = {1, 4, 4, 4, 6};
    FF_CHECK(!memcmp(g.latent_shape, b, sizeof b) && g.num_frames == 9 && !g.frames_rounded && g.patch[0] == 2);
    FF_REQUIRE_OK(ff_chain_geometry(c, 1, 13, 32, 48, &g, &err), &err); /* 4: no padding */
    FF_CHECK(g.latent_shape[1] == 4 && g.num_frames == 16);
    ff_chain_close(c);
}

int main(void) {
    const char *g = getenv("FF_GOLDEN");
    if (!g) ff_test_skip("FF_GOLDEN not set");
    snprintf(g_pipes, sizeof g_pipes, "%s/pipelines", g);
    char probe[4300];
    snprintf(probe, sizeof probe, "%s/tiny-cogvideox15/model_index.json", g_pipes);
    FILE *f = fopen(probe, "rb");
    if (!f) ff_test_skip("no golden CogVideoX pipelines");
    fclose(f);
    FF_RUN(test_table);
    FF_RUN(test_geometry);
    return ff_test_summary();
}
