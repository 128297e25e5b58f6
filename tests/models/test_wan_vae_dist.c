/* models/wan_vae_dist: tiles decoded by separate ff_wanvae_tiles sets (as
 * separate processes would), their raw outputs passed through host copies
 * and blended by ff_wanvae_tiles_blend, give exactly the chunks of
 * ff_wanvae_decode_stream with the same tiling options — every split of the
 * grid, square and non-square grids, a frame smaller than one tile (one
 * tile, the plain decode), the embedded tiny model (Wan 2.1 layout) and,
 * when ../shared/golden is present, tiny-wan22-ti2v (patch_size 2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_rng.h"
#include "models/wan_vae_dist.h"
#include "pipeline/tiny_model.h"
#include "tests/common/ff_test.h"

static ff_backend *be;

typedef struct {
    ff_tensor chunks[64];
    int64_t t0[64];
    int n;
} chunks;

static ff_status keep(void *user, int64_t b0, int64_t t0, const ff_tensor *frames, ff_err *err) {
    chunks *c = user;
    (void)b0;
    if (c->n >= 64) return ff_err_set(err, FF_ERR_ARG, "too many chunks");
    c->t0[c->n] = t0;
    return ff_tensor_clone(&c->chunks[c->n++], frames, err);
}

/* Tiles split into `parts` contiguous sets, decoded frame by frame, blended. */
static void check_split(ff_vae *v, const ff_tensor *z, const ff_wanvae_opts *o, const chunks *ref, int parts,
                        int want_tiles, const char *what) {
    ff_err err = {0};
    ff_wanvae_tile_grid g;
    FF_REQUIRE_OK(ff_wanvae_tile_grid_make(ff_wanvae_config_of(v), z->shape[3], z->shape[4], o, &g, &err), &err);
    FF_CHECK_MSG(g.n == want_tiles, "%s: %d tiles, want %d", what, g.n, want_tiles);
    ff_wanvae_tiles *sets[8] = {0};
    int t0[9];
    for (int r = 0; r <= parts; r++) t0[r] = g.n * r / parts;
    for (int r = 0; r < parts; r++) FF_REQUIRE_OK(ff_wanvae_tiles_create(v, &g, t0[r], t0[r + 1] - t0[r], &sets[r], &err), &err);
    ff_tensor *raw = calloc((size_t)g.n, sizeof *raw);
    int64_t t = 0;
    for (int64_t k = 0; k < z->shape[2]; k++) {
        for (int r = 0; r < parts; r++) FF_CHECK_OK(ff_wanvae_tiles_decode_frame(sets[r], z, k, &raw[t0[r]], &err), &err);
        ff_tensor video = {0};
        FF_CHECK_OK(ff_wanvae_tiles_blend(v, &g, raw, &video, &err), &err);
        FF_CHECK_MSG(k < ref->n && ref->t0[k] == t && ff_tensor_equal(&video, &ref->chunks[k]),
                     "%s, %d part(s): chunk %lld differs from the streaming tiled decode", what, parts, (long long)k);
        t += video.shape[2];
        ff_tensor_free(&video);
        for (int i = 0; i < g.n; i++) ff_tensor_free(&raw[i]);
    }
    free(raw);
    for (int r = 0; r < parts; r++) ff_wanvae_tiles_free(sets[r]);
}

static void check_model(const char *dir, int64_t h, int64_t w, int tile, int stride, int want_tiles, int max_parts,
                        const char *what) {
    ff_err err = {0};
    ff_vae *v = NULL;
    FF_REQUIRE_OK(ff_wanvae_load(be, dir, &v, &err), &err);
    const ff_wanvae_config *c = ff_wanvae_config_of(v);
    ff_tensor z = {0};
    FF_REQUIRE_OK(ff_tensor_allocv(&z, FF_F32, &err, 5, (int64_t)1, (int64_t)c->z_dim, (int64_t)3, h, w), &err);
    uint64_t seed = 11;
    FF_REQUIRE_OK(ff_randn_tensor(&z, &seed, 1, &err), &err);
    ff_wanvae_opts o;
    ff_wanvae_opts_default(&o);
    o.tiling = tile > 0;
    if (tile > 0) {
        o.tile_sample_min_height = o.tile_sample_min_width = tile;
        o.tile_sample_stride_height = o.tile_sample_stride_width = stride;
    }
    chunks ref = {0};
    FF_CHECK_OK(ff_wanvae_decode_stream(v, &z, &o, keep, &ref, &err), &err);
    FF_CHECK(ref.n == 3);
    for (int parts = 1; parts <= max_parts; parts += parts < 2 ? 1 : 2) check_split(v, &z, &o, &ref, parts, want_tiles, what);
    for (int i = 0; i < ref.n; i++) ff_tensor_free(&ref.chunks[i]);
    ff_tensor_free(&z);
    ff_wanvae_free(v);
}

static char g_tiny[4200];

static void test_tiny(void) {
    check_model(g_tiny, 16, 16, 64, 48, 9, 4, "tiny 128x128, tiles 64/48"); /* the render default; 1, 2, 4 parts */
    check_model(g_tiny, 10, 16, 64, 48, 6, 3, "tiny 80x128, tiles 64/48");  /* 2 x 3 grid */
    check_model(g_tiny, 6, 6, 64, 48, 1, 1, "tiny 48x48 (one tile)");       /* not tiled */
    check_model(g_tiny, 8, 8, 0, 0, 1, 1, "tiny 64x64 tiling off");
}

static void test_wan22(void) {
    const char *golden = getenv("FF_GOLDEN");
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/pipelines/tiny-wan22-ti2v", golden ? golden : "");
    FILE *f = NULL;
    char probe[4300];
    snprintf(probe, sizeof probe, "%s/vae/config.json", dir);
    if (!golden || !(f = fopen(probe, "r"))) {
        printf("SKIP part: no tiny-wan22-ti2v in FF_GOLDEN\n");
        return;
    }
    fclose(f);
    check_model(dir, 3, 4, 32, 16, 12, 2, "wan22 ti2v (patch 2), tiles 32/16");
}

int main(void) {
    char base[4096], cmd[8300];
    ff_test_tmp_path("wan_vae_dist_test", base, sizeof base);
    snprintf(g_tiny, sizeof g_tiny, "%s/tiny", base);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) return 1;
    ff_err err = {0};
    if (ff_tiny_model_create(FF_TINY_DEFAULT, g_tiny, 0, &err) || ff_backend_cpu_create(0, &be, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_tiny);
    FF_RUN(test_wan22);
    ff_backend_free(be);
    int rc = ff_test_summary();
    if (!rc && system(cmd) != 0) return 1;
    return rc;
}
