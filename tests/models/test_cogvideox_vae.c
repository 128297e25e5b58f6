/* CogVideoX VAE: parameter counts of the published configs, the dry-run
 * peak model = the measured peak (decode, tiled decode, sliced decode,
 * encode, tiled encode), output shapes = ff_cogvae_decode_shape /
 * encode_shape, slicing = per-sample decode, one frame batch = the default
 * batching where diffusers agrees (F <= 3) and not where it differs (F = 4,
 * GroupNorm over the batch), streaming = whole decode, tiling edge cases
 * (tiles larger than the input: the untiled path; tiles that do not divide
 * the input; degenerate tiles refused). Tiny VAE from ../shared/golden
 * (SKIP when absent). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "kernels/ops.h"
#include "models/cogvideox_vae.h"

static char g_golden[4200];
static ff_backend *g_be;
static ff_cogvae *g_vae;

static int shared_dir(const char *sub, const char *probe, char *buf, size_t n) {
    const char *g = getenv("FF_GOLDEN");
    if (!g) return -1;
    snprintf(buf, n, "%s/%s", g, sub);
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", buf, probe);
    FILE *f = fopen(p, "rb");
    if (!f) return -1;
    fclose(f);
    return 0;
}

static int bits_equal(const ff_tensor *a, const ff_tensor *b) {
    return ff_tensor_same_shape(a, b) && memcmp(a->data, b->data, ff_tensor_nbytes(a)) == 0;
}

static void test_param_counts(void) {
    char dir[4200];
    if (shared_dir("../configs", "cogvideox-2b/vae/config.json", dir, sizeof dir)) {
        fprintf(stderr, "  (../shared/configs absent: parameter counts not checked)\n");
        return;
    }
    const char *names[3] = {"cogvideox-2b", "cogvideox-5b", "cogvideox1.5-5b"};
    for (int i = 0; i < 3; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s/vae/config.json", dir, names[i]);
        ff_cogvae_config cfg;
        ff_err err = {0};
        FF_REQUIRE_OK(ff_cogvae_config_load(path, &cfg, &err), &err);
        ff_param *ps;
        size_t n;
        FF_REQUIRE_OK(ff_cogvae_params(&cfg, &ps, &n, &err), &err);
        int64_t total = 0;
        for (size_t k = 0; k < n; k++) total += ff_param_numel(&ps[k]);
        FF_CHECK_MSG(total == 215583907LL, "%s: %lld VAE parameters, README says 215,583,907", names[i],
                     (long long)total);
        FF_CHECK(cfg.invert_scale_latents == (i == 2));
        size_t wb;
        FF_CHECK_OK(ff_cogvae_weight_bytes(&cfg, &wb, &err), &err);
        FF_CHECK(wb == (size_t)total * 4);
        free(ps);
    }
}

static ff_tensor random5(int64_t b, int64_t c, int64_t t, int64_t h, int64_t w, unsigned seed, float lo, float hi) {
    ff_tensor x;
    ff_err err = {0};
    if (ff_tensor_allocv(&x, FF_F32, &err, 5, b, c, t, h, w)) memset(&x, 0, sizeof x);
    else ff_test_fill_uniform(&x, seed, lo, hi);
    return x;
}

/* Decode with o; checks the shape model and that the dry run predicted the
 * measured peak. */
static ff_status decode_checked(const ff_tensor *z, const ff_cogvae_opts *o, ff_tensor *video, const char *what) {
    ff_err err = {0};
    ff_cogvae_mem_reset_peak(g_vae);
    ff_cogvae_mem m0;
    ff_cogvae_mem_stats(g_vae, &m0);
    ff_status st = ff_cogvae_decode(g_vae, z, o, video, &err);
    FF_CHECK_MSG(st == FF_OK, "%s: %s", what, err.msg);
    if (st) return st;
    ff_cogvae_mem m;
    ff_cogvae_mem_stats(g_vae, &m);
    size_t pred = 0;
    int64_t shape[5];
    FF_CHECK_OK(ff_cogvae_peak_bytes(ff_cogvae_config_of(g_vae), z->shape, o, 0, &pred, &err), &err);
    FF_CHECK_MSG(pred == m.run_peak_bytes - m0.run_cur_bytes, "%s: predicted peak %zu, measured %zu", what, pred,
                 m.run_peak_bytes - m0.run_cur_bytes);
    FF_CHECK(m.run_cur_bytes == m0.run_cur_bytes); /* everything freed */
    FF_CHECK_OK(ff_cogvae_decode_shape(ff_cogvae_config_of(g_vae), z->shape, o, shape, &err), &err);
    for (int i = 0; i < 5; i++) FF_CHECK_MSG(shape[i] == video->shape[i], "%s: dim %d %lld vs %lld", what, i,
                                             (long long)shape[i], (long long)video->shape[i]);
    return FF_OK;
}

static void test_decode_batching(void) {
    ff_cogvae_opts o, one;
    ff_cogvae_opts_default(ff_cogvae_config_of(g_vae), &o);
    one = o;
    one.decode_frame_batch = 1000; /* everything in one batch */
    /* F = 3: diffusers' batches are one batch of 3 -> identical */
    ff_tensor z3 = random5(1, 4, 3, 2, 4, 11, -2, 2), a = {0}, b = {0};
    if (!decode_checked(&z3, &o, &a, "F=3") && !decode_checked(&z3, &one, &b, "F=3 one batch"))
        FF_CHECK(bits_equal(&a, &b) && a.shape[2] == 9 && a.shape[3] == 16 && a.shape[4] == 32);
    ff_tensor_free(&a);
    ff_tensor_free(&b);
    /* F = 4: batches (0,1), (2,3) with the conv cache; GroupNorm per batch makes one batch differ */
    ff_tensor z4 = random5(1, 4, 4, 2, 2, 12, -2, 2);
    if (!decode_checked(&z4, &o, &a, "F=4") && !decode_checked(&z4, &one, &b, "F=4 one batch")) {
        FF_CHECK(a.shape[2] == 16 && b.shape[2] == 16);
        double r = ff_rel_l2(&b, &a);
        FF_CHECK_MSG(r > 1e-2, "F=4: one batch vs two batches rel_l2 %.3e (GroupNorm statistics differ)", r);
    }
    ff_tensor_free(&a);
    ff_tensor_free(&b);
    ff_tensor_free(&z3);
    ff_tensor_free(&z4);
}

typedef struct {
    ff_tensor *whole;
    int64_t next_t;
    int calls, bad;
} stream_check;

static ff_status on_frames(void *user, int64_t b0, int64_t t0, const ff_tensor *frames, ff_err *err) {
    stream_check *s = user;
    (void)err;
    s->calls++;
    if (b0 != 0 || t0 != s->next_t) s->bad = 1;
    const ff_tensor *w = s->whole;
    const int64_t C = w->shape[1], T = w->shape[2], hw = w->shape[3] * w->shape[4];
    for (int64_t c = 0; c < C; c++)
        for (int64_t t = 0; t < frames->shape[2]; t++)
            if (memcmp((const float *)frames->data + (c * frames->shape[2] + t) * hw,
                       (const float *)w->data + (c * T + t0 + t) * hw, (size_t)hw * 4))
                s->bad = 1;
    s->next_t += frames->shape[2];
    return FF_OK;
}

static void test_stream(void) {
    ff_cogvae_opts o;
    ff_cogvae_opts_default(ff_cogvae_config_of(g_vae), &o);
    ff_err err = {0};
    ff_tensor z = random5(1, 4, 5, 2, 2, 13, -2, 2), whole = {0};
    FF_REQUIRE_OK(ff_cogvae_decode(g_vae, &z, &o, &whole, &err), &err);
    stream_check s = {&whole, 0, 0, 0};
    FF_CHECK_OK(ff_cogvae_decode_stream(g_vae, &z, &o, on_frames, &s, &err), &err);
    FF_CHECK(s.calls == 2 && !s.bad && s.next_t == 17); /* batches (0,1,2) -> 9, (3,4) -> 8 */
    ff_tensor_free(&z);
    ff_tensor_free(&whole);
}

static void test_slicing(void) {
    ff_cogvae_opts o;
    ff_cogvae_opts_default(ff_cogvae_config_of(g_vae), &o);
    ff_err err = {0};
    ff_tensor z = random5(2, 4, 2, 2, 2, 14, -2, 2), sliced = {0}, batched = {0}, one = {0};
    o.slicing = 1;
    if (decode_checked(&z, &o, &sliced, "sliced")) goto done;
    o.slicing = 0;
    if (decode_checked(&z, &o, &batched, "batched")) goto done;
    FF_CHECK(ff_rel_l2(&batched, &sliced) < 1e-6);
    {
        ff_tensor z1;
        const int64_t per = ff_tensor_numel(&z) / 2;
        ff_tensor_view(&z1, FF_F32, 5, (int64_t[5]){1, 4, 2, 2, 2}, (float *)z.data + per, FF_LOC_HOST);
        FF_REQUIRE_OK(ff_cogvae_decode(g_vae, &z1, &o, &one, &err), &err);
        ff_tensor second;
        ff_tensor_view(&second, FF_F32, 5, one.shape, (float *)sliced.data + ff_tensor_numel(&one), FF_LOC_HOST);
        FF_CHECK(bits_equal(&one, &second)); /* slicing = each sample alone */
    }
done:
    ff_tensor_free(&z);
    ff_tensor_free(&sliced);
    ff_tensor_free(&batched);
    ff_tensor_free(&one);
}

static void test_tiling(void) {
    const ff_cogvae_config *cfg = ff_cogvae_config_of(g_vae);
    ff_cogvae_opts o, plain;
    ff_cogvae_opts_default(cfg, &o);
    plain = o;
    ff_err err = {0};
    ff_tensor z = random5(1, 4, 2, 3, 5, 15, -2, 2), a = {0}, b = {0};
    /* tiles larger than the input: the untiled path, same bits */
    o.tiling = 1;
    o.tile_sample_min_height = 64, o.tile_sample_min_width = 64;
    if (!decode_checked(&z, &o, &a, "big tiles") && !decode_checked(&z, &plain, &b, "untiled"))
        FF_CHECK(bits_equal(&a, &b));
    ff_tensor_free(&a);
    /* 16 x 24 px tiles (2 x 3 latents), overlap 1/2, 1/3: strides 1 and 2 latents, 3 x 3 tiles over 3 x 5 latents
     * whose last row / column are cut at the border; output rows = sum of the cropped tiles */
    o.tile_sample_min_height = 16, o.tile_sample_min_width = 24;
    o.tile_overlap_factor_height = 0.5, o.tile_overlap_factor_width = 1.0 / 3;
    if (!decode_checked(&z, &o, &a, "tiled 2x3 latents")) {
        FF_CHECK(a.shape[3] == 24 && a.shape[4] == 40); /* 8 + 8 + 8 rows, 16 + 16 + 8 columns */
        FF_CHECK(ff_rel_l2(&a, &b) > 1e-3); /* tiles see less context (own GroupNorm statistics) */
    }
    ff_tensor_free(&a);
    /* tiles that do not divide the input */
    o.tile_sample_min_height = 16, o.tile_sample_min_width = 16;
    o.tile_overlap_factor_height = 0.25, o.tile_overlap_factor_width = 0.25;
    decode_checked(&z, &o, &a, "tiled 2x2 latents, 0.25");
    ff_tensor_free(&a);
    /* degenerate tiles are refused */
    o.tile_sample_min_height = 4;
    FF_CHECK(ff_cogvae_decode(g_vae, &z, &o, &a, &err) == FF_ERR_ARG);
    o.tile_sample_min_height = 16, o.tile_overlap_factor_width = 0;
    FF_CHECK(ff_cogvae_decode(g_vae, &z, &o, &a, &err) == FF_ERR_ARG);
    ff_tensor_free(&z);
    ff_tensor_free(&b);
}

static void test_encode(void) {
    const ff_cogvae_config *cfg = ff_cogvae_config_of(g_vae);
    ff_cogvae_opts o;
    ff_cogvae_opts_default(cfg, &o);
    ff_err err = {0};
    /* frame batches: T = 1, 8, 9, 17 -> 1, 2, 3, 5 latent frames */
    const int64_t T[4] = {1, 8, 9, 17}, F[4] = {1, 2, 3, 5};
    for (int i = 0; i < 4; i++) {
        int64_t xs[5] = {1, 3, T[i], 24, 40}, out[5];
        FF_CHECK_OK(ff_cogvae_encode_shape(cfg, xs, &o, out, &err), &err);
        FF_CHECK(out[1] == 2 * cfg->latent_channels && out[2] == F[i] && out[3] == 3 && out[4] == 5);
    }
    ff_tensor x = random5(1, 3, 9, 16, 24, 16, -1, 1), mean = {0}, logvar = {0};
    ff_cogvae_mem_reset_peak(g_vae);
    ff_cogvae_mem m0, m;
    ff_cogvae_mem_stats(g_vae, &m0);
    FF_REQUIRE_OK(ff_cogvae_encode(g_vae, &x, &o, &mean, &logvar, &err), &err);
    ff_cogvae_mem_stats(g_vae, &m);
    size_t pred;
    FF_CHECK_OK(ff_cogvae_peak_bytes(cfg, x.shape, &o, 1, &pred, &err), &err);
    FF_CHECK_MSG(pred == m.run_peak_bytes - m0.run_cur_bytes, "encode: predicted %zu, measured %zu", pred,
                 m.run_peak_bytes - m0.run_cur_bytes);
    FF_CHECK(mean.shape[1] == cfg->latent_channels && mean.shape[2] == 3 && mean.shape[3] == 2 && mean.shape[4] == 3);
    for (int64_t i = 0, n = ff_tensor_numel(&logvar); i < n; i++)
        if (((float *)logvar.data)[i] < -30 || ((float *)logvar.data)[i] > 20) FF_CHECK(0);
    ff_tensor_free(&mean);
    ff_tensor_free(&logvar);
    ff_tensor_free(&x);
    /* tiled encode: 16 x 16 px tiles, stride 8 px, over 24 x 24 px (the last tiles are 8 px: one latent) */
    x = random5(1, 3, 9, 24, 24, 18, -1, 1);
    o.tiling = 1;
    o.tile_sample_min_height = 16, o.tile_sample_min_width = 16;
    o.tile_overlap_factor_height = 0.5, o.tile_overlap_factor_width = 0.5;
    ff_cogvae_mem_reset_peak(g_vae);
    ff_cogvae_mem_stats(g_vae, &m0);
    if (ff_cogvae_encode(g_vae, &x, &o, &mean, NULL, &err) == FF_OK) {
        ff_cogvae_mem_stats(g_vae, &m);
        FF_CHECK_OK(ff_cogvae_peak_bytes(cfg, x.shape, &o, 1, &pred, &err), &err);
        FF_CHECK(pred == m.run_peak_bytes - m0.run_cur_bytes);
        int64_t out[5];
        FF_CHECK_OK(ff_cogvae_encode_shape(cfg, x.shape, &o, out, &err), &err);
        FF_CHECK(out[3] == mean.shape[3] && out[4] == mean.shape[4] && out[3] == 3 && out[4] == 3);
    } else {
        FF_CHECK_MSG(0, "tiled encode: %s", err.msg);
    }
    ff_tensor_free(&mean);
    /* wrong channel count; a tile too small for the downsamplers (diffusers' conv fails there too) */
    ff_tensor bad = random5(1, 4, 1, 16, 16, 1, -1, 1);
    FF_CHECK(ff_cogvae_encode(g_vae, &bad, &o, &mean, NULL, &err) == FF_ERR_SHAPE);
    ff_tensor_free(&bad);
    bad = random5(1, 3, 1, 20, 20, 1, -1, 1); /* 16 px tiles at 0, 8, 16: the last is 4 px */
    FF_CHECK(ff_cogvae_encode(g_vae, &bad, &o, &mean, NULL, &err) == FF_ERR_SHAPE);
    ff_tensor_free(&bad);
    ff_tensor_free(&x);
}

static void test_latents_to_z(void) {
    const ff_cogvae_config *cfg = ff_cogvae_config_of(g_vae);
    ff_err err = {0};
    ff_tensor lat = random5(2, 3, 4, 2, 2, 17, -1, 1), z;
    FF_REQUIRE_OK(ff_cogvae_latents_to_z(cfg, &lat, &z, &err), &err);
    FF_CHECK(z.shape[1] == 4 && z.shape[2] == 3);
    const float s = (float)(1.0 / cfg->scaling_factor);
    /* z[b, c, f] = s * latents[b, f, c] */
    const float *l = lat.data, *zz = z.data;
    FF_CHECK(zz[((1 * 4 + 2) * 3 + 1) * 4 + 3] == s * l[((1 * 3 + 1) * 4 + 2) * 4 + 3]);
    ff_tensor_free(&lat);
    ff_tensor_free(&z);
}

int main(void) {
    FF_RUN(test_param_counts);
    if (shared_dir(".", "pipelines/tiny-cogvideox/vae/config.json", g_golden, sizeof g_golden)) {
        if (ff_test_g.failures) return ff_test_summary();
        ff_test_skip("../shared/golden/pipelines/tiny-cogvideox absent: VAE runs not checked");
    }
    ff_err err = {0};
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/pipelines/tiny-cogvideox", g_golden);
    if (ff_backend_cpu_create(2, &g_be, &err) || ff_cogvae_load(g_be, dir, &g_vae, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    FF_RUN(test_latents_to_z);
    FF_RUN(test_decode_batching);
    FF_RUN(test_stream);
    FF_RUN(test_slicing);
    FF_RUN(test_tiling);
    FF_RUN(test_encode);
    ff_cogvae_free(g_vae);
    ff_backend_free(g_be);
    return ff_test_summary();
}
