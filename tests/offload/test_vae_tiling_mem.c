/* VAE tiling that lowers the device peak (ff_wanvae_opts.tile_low_memory, tiles
 * outer and frames inner as diffusers' tiled_decode) on the embedded tiny
 * model's VAE (CPU backend, device pool attached): the decoded video is
 * bit-identical to the streaming tiled decode (frames outer) at the same
 * tile size, for several tile sizes, frame counts and a batch of 2 (with and
 * without slicing); its pool peak is below the streaming tiled and the
 * untiled peaks when the tile is smaller than the frame; and the planner's
 * VAE prediction for it (pipeline/plan.h) is within 10% of the measured
 * pool peak. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "kernels/ops.h"
#include "models/wan_vae.h"
#include "offload/pool.h"
#include "pipeline/plan.h"
#include "pipeline/tiny_model.h"

static char g_dir[4200];

static int within(size_t pred, size_t meas, double tol) {
    return fabs((double)pred - (double)meas) <= tol * (double)meas;
}

/* Decodes z with o, returns the video and the pool peak (weights included). */
static ff_status decode(ff_backend *be, ff_pool *pool, const ff_tensor *z, const ff_wanvae_opts *o, ff_tensor *vid,
                        size_t *peak, ff_err *err) {
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/vae", g_dir);
    ff_vae *v = NULL;
    ff_pool_reset_peak(pool);
    ff_status st = ff_wanvae_load(be, sub, &v, err);
    if (!st) st = ff_wanvae_decode(v, z, o, vid, err);
    ff_pool_stats s;
    ff_pool_stats_get(pool, &s);
    *peak = s.peak;
    ff_wanvae_free(v);
    return st;
}

static void test_low_memory_tiling(void) {
    ff_err err = {0};
    ff_backend *be = NULL;
    ff_pool *pool = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    FF_REQUIRE_OK(ff_pool_create("device", 0, &pool, &err), &err);
    FF_REQUIRE_OK(ff_pool_attach(pool, be, &err), &err);
    /* (B, frames, H, W, tile, stride) in pixels */
    static const int cases[][6] = {{1, 9, 128, 128, 64, 48}, {1, 5, 192, 128, 64, 48}, {2, 5, 128, 96, 64, 32},
                                   {1, 9, 256, 256, 128, 96}, {1, 5, 256, 192, 96, 64}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int B = cases[c][0], T = cases[c][1], Hp = cases[c][2], Wp = cases[c][3];
        int64_t zs[5] = {B, 4, (T - 1) / 4 + 1, Hp / 8, Wp / 8};
        ff_tensor z = {0};
        FF_REQUIRE_OK(ff_tensor_alloc(&z, FF_F32, 5, zs, &err), &err);
        ff_test_fill_uniform(&z, 11 + (unsigned)c, -1, 1);
        for (int sl = 0; sl < (B > 1 ? 2 : 1); sl++) {
            ff_wanvae_opts o;
            ff_wanvae_opts_default(&o);
            o.slicing = sl;
            o.tiling = 0;
            ff_tensor plain = {0}, stream = {0}, low = {0};
            size_t p_plain = 0, p_stream = 0, p_low = 0;
            FF_CHECK_OK(decode(be, pool, &z, &o, &plain, &p_plain, &err), &err);
            o.tiling = 1;
            o.tile_sample_min_height = o.tile_sample_min_width = cases[c][4];
            o.tile_sample_stride_height = o.tile_sample_stride_width = cases[c][5];
            FF_CHECK_OK(decode(be, pool, &z, &o, &stream, &p_stream, &err), &err);
            o.tile_low_memory = 1;
            FF_CHECK_OK(decode(be, pool, &z, &o, &low, &p_low, &err), &err);
            FF_CHECK_MSG(ff_tensor_equal(&stream, &low), "case %zu: low-memory tiled video differs from streaming tiled", c);
            FF_CHECK_MSG(p_low < p_stream && p_low < p_plain, "case %zu: low-memory peak %zu, streaming tiled %zu, plain %zu",
                         c, p_low, p_stream, p_plain);
            /* the planner's prediction for this decode */
            ff_plan_request rq;
            ff_plan_request_default(&rq);
            rq.height = Hp, rq.width = Wp, rq.frames = T, rq.batch = B, rq.dtype = FF_F32, rq.text_len = 16;
            rq.offload = FF_PLAN_MODEL, rq.text_on_host = 0, rq.slicing = sl, rq.tiling = 1;
            rq.tile = cases[c][4], rq.tile_stride = cases[c][5];
            ff_plan p;
            FF_CHECK_OK(ff_plan_predict(g_dir, &rq, &p, &err), &err);
            size_t pred = ff_plan_find_stage(&p, "vae")->peak;
            FF_CHECK_MSG(within(pred, p_low, 0.10), "case %zu slicing %d: predicted %zu, measured %zu", c, sl, pred, p_low);
            fprintf(stderr, "B%d %d frames %dx%d tile %d/%d slicing %d: plain %zu, streaming tiled %zu, low-memory %zu "
                            "(predicted %zu)\n", B, T, Hp, Wp, cases[c][4], cases[c][5], sl, p_plain, p_stream, p_low, pred);
            ff_tensor_free(&plain);
            ff_tensor_free(&stream);
            ff_tensor_free(&low);
        }
        ff_tensor_free(&z);
    }
    ff_pool_detach(pool);
    ff_pool_free(pool);
    ff_backend_free(be);
}

int main(void) {
    ff_test_tmp_path("vae_tiling_mem_tiny", g_dir, sizeof g_dir);
    ff_err err = {0};
    if (ff_tiny_model_ensure(FF_TINY_DEFAULT, g_dir, NULL, &err)) {
        fprintf(stderr, "tiny model: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_low_memory_tiling);
    return ff_test_summary();
}
