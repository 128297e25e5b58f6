/* AutoencoderKLHunyuanVideo (ff_hyvae_*) without golden data, on a random
 * tiny VAE written to $FF_TEST_TMP: the published config's parameter count,
 * config errors, the peak predictions (= the measured activation peak for
 * plain, temporal, spatial, temporal + spatial tiling and slicing, decode
 * and encode), temporal tiling (frames outside the blend = the tiles' own
 * decodes bit for bit, blended frames = diffusers' blend_t formula, a tile
 * as long as the clip = untiled), spatial tiling (the top-left tile's
 * unblended corner = its own decode, one tile = untiled), slicing (= each
 * sample alone), encode's temporal tiles, and odd sizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_compare.h"
#include "core/ff_json.h"
#include "core/ff_safetensors.h"
#include "kernels/ops.h"
#include "models/hunyuan_vae.h"
#include "tests/common/ff_test.h"

static ff_backend *be;
static ff_hyvae *vae;
static char vae_dir[4096];

static const char *tiny_json =
    "{\"_class_name\": \"AutoencoderKLHunyuanVideo\", \"in_channels\": 3, \"out_channels\": 3, \"latent_channels\": 4, "
    "\"block_out_channels\": [8, 8, 16, 16], \"layers_per_block\": 1, \"norm_num_groups\": 4, "
    "\"scaling_factor\": 0.476986, \"spatial_compression_ratio\": 8, \"temporal_compression_ratio\": 4, "
    "\"mid_block_add_attention\": true}";

static uint64_t xs = 0x2545F4914F6CDD1Dull;
static float urand(void) {
    xs ^= xs << 13, xs ^= xs >> 7, xs ^= xs << 17;
    return (float)((xs >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* A random tiny VAE as a diffusers vae/ folder. */
static ff_status write_vae(const char *dir, ff_err *err) {
    ff_json_doc *doc = NULL;
    ff_hyvae_config cfg;
    ff_status st = ff_json_parse(tiny_json, strlen(tiny_json), "tiny vae", &doc, err);
    if (!st) st = ff_hyvae_config_parse(ff_json_root(doc), "tiny vae", &cfg, err);
    ff_json_free(doc);
    if (st) return st;
    ff_param *ps;
    size_t n;
    if ((st = ff_hyvae_params(&cfg, &ps, &n, err))) return st;
    ff_tensor *ts = calloc(n, sizeof *ts);
    ff_st_item *items = calloc(n, sizeof *items);
    char path[4200];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!ts || !items || !f) {
        st = ff_err_set(err, FF_ERR_IO, "cannot write %s", path);
        goto done;
    }
    fputs(tiny_json, f);
    for (size_t i = 0; i < n && !st; i++) {
        if ((st = ff_tensor_alloc(&ts[i], FF_F32, ps[i].ndim, ps[i].shape, err))) break;
        int64_t fan_in = 1;
        for (int k = 1; k < ps[i].ndim; k++) fan_in *= ps[i].shape[k];
        const int gain = ps[i].ndim == 1 && strstr(ps[i].name, "norm") && strstr(ps[i].name, ".weight");
        const float a = ps[i].ndim > 1 ? 1.0f / sqrtf((float)fan_in) : 0.05f;
        for (int64_t k = 0; k < ff_tensor_numel(&ts[i]); k++)
            ((float *)ts[i].data)[k] = gain ? 1.0f + 0.1f * urand() : a * urand();
        items[i].name = ps[i].name, items[i].tensor = &ts[i];
    }
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
    if (!st) st = ff_st_write(path, items, n, NULL, 0, err);
done:
    if (f) fclose(f);
    for (size_t i = 0; ts && i < n; i++) ff_tensor_free(&ts[i]);
    free(ts);
    free(items);
    free(ps);
    return st;
}

static ff_tensor rand_tensor(int64_t b, int64_t c, int64_t t, int64_t h, int64_t w, unsigned seed) {
    ff_tensor x;
    ff_err err = {0};
    ff_tensor_allocv(&x, FF_F32, &err, 5, b, c, t, h, w);
    ff_test_fill_uniform(&x, seed, -1, 1);
    return x;
}

/* x[:, :, t0:t0+nt, h0:h0+nh, w0:w0+nw] (a copy). */
static ff_tensor sub(const ff_tensor *x, int64_t t0, int64_t nt, int64_t h0, int64_t nh, int64_t w0, int64_t nw) {
    ff_tensor y;
    ff_err err = {0};
    const int64_t BC = x->shape[0] * x->shape[1], T = x->shape[2], H = x->shape[3], W = x->shape[4];
    ff_tensor_allocv(&y, FF_F32, &err, 5, x->shape[0], x->shape[1], nt, nh, nw);
    for (int64_t p = 0; p < BC; p++)
        for (int64_t t = 0; t < nt; t++)
            for (int64_t r = 0; r < nh; r++)
                memcpy((float *)y.data + ((p * nt + t) * nh + r) * nw,
                       (const float *)x->data + ((p * T + t0 + t) * H + h0 + r) * W + w0, (size_t)nw * sizeof(float));
    return y;
}

static int equal(const ff_tensor *a, const ff_tensor *b) { return a->data && b->data && ff_tensor_equal(a, b); }

/* ---- counts and config --------------------------------------------------------------- */

static void test_real_count(void) {
    const char *g = getenv("FF_GOLDEN");
    char path[4200];
    snprintf(path, sizeof path, "%s/../configs/hunyuanvideo/vae/config.json", g ? g : "../shared/golden");
    struct stat sb;
    if (stat(path, &sb) != 0) {
        printf("real config absent (%s): not checked\n", path);
        return;
    }
    ff_err err = {0};
    ff_hyvae_config cfg;
    FF_REQUIRE_OK(ff_hyvae_config_load(path, &cfg, &err), &err);
    size_t bytes;
    FF_REQUIRE_OK(ff_hyvae_weight_bytes(&cfg, &bytes, &err), &err);
    FF_CHECK_MSG(bytes / 4 == 246478803u, "%zu parameters (shared/configs/README.md: 246,478,803)", bytes / 4);
    /* 720p, 129 frames (33 latent frames): the default framewise decode holds one 16-frame tile at a time */
    ff_hyvae_opts o;
    ff_hyvae_opts_default(&o);
    const int64_t z[5] = {1, 16, 33, 90, 160};
    size_t plain = 0, framewise = 0, tiled = 0;
    FF_CHECK_OK(ff_hyvae_decode_peak(&cfg, &o, z, &framewise, &err), &err);
    o.tiling = 1;
    FF_CHECK_OK(ff_hyvae_decode_peak(&cfg, &o, z, &tiled, &err), &err);
    o.tiling = 0, o.framewise = 0;
    FF_CHECK_OK(ff_hyvae_decode_peak(&cfg, &o, z, &plain, &err), &err);
    printf("720x1280x129 decode activation peak: single pass %.1f GiB, framewise %.1f GiB, + spatial tiles %.2f GiB\n",
           plain / 1073741824.0, framewise / 1073741824.0, tiled / 1073741824.0);
    FF_CHECK(tiled < framewise && framewise < plain);
}

static void test_config_errors(void) {
    const struct {
        const char *json;
        ff_status want;
        const char *word;
    } bad[] = {
        {"{\"temporal_compression_ratio\": 8}", FF_ERR_UNSUPPORTED, "temporal_compression_ratio"},
        {"{\"act_fn\": \"gelu\"}", FF_ERR_UNSUPPORTED, "act_fn"},
        {"{\"block_out_channels\": [8, 12], \"norm_num_groups\": 4}", FF_ERR_UNSUPPORTED, "blocks"},
        {"{\"block_out_channels\": [8, 8, 8, 10], \"norm_num_groups\": 4}", FF_ERR_FORMAT, "norm_num_groups"},
        {"{\"up_block_types\": [\"UpDecoderBlock2D\"]}", FF_ERR_FORMAT, "up_block_types"},
        {"{\"spatial_compression_ratio\": 6}", FF_ERR_UNSUPPORTED, "spatial_compression_ratio"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ff_err err = {0};
        ff_json_doc *doc = NULL;
        ff_hyvae_config cfg;
        FF_REQUIRE_OK(ff_json_parse(bad[i].json, strlen(bad[i].json), "t", &doc, &err), &err);
        ff_status st = ff_hyvae_config_parse(ff_json_root(doc), "t", &cfg, &err);
        FF_CHECK_MSG(st == bad[i].want && strstr(err.msg, bad[i].word), "%s: got %d \"%s\"", bad[i].json, (int)st,
                     err.msg);
        ff_json_free(doc);
    }
    ff_err err = {0};
    ff_hyvae_opts o;
    ff_hyvae_opts_default(&o);
    o.tile_sample_stride_height = 300; /* stride > tile */
    FF_CHECK(ff_hyvae_opts_check(ff_hyvae_config_of(vae), &o, &err) == FF_ERR_ARG && strstr(err.msg, "height"));
    ff_hyvae_opts_default(&o);
    o.tile_sample_stride_num_frames = 2; /* less than one latent frame */
    FF_CHECK(ff_hyvae_opts_check(ff_hyvae_config_of(vae), &o, &err) == FF_ERR_ARG);
    ff_tensor z = rand_tensor(1, 5, 2, 2, 2, 1), v = {0};
    FF_CHECK(ff_hyvae_decode(vae, &z, NULL, &v, &err) == FF_ERR_SHAPE); /* 5 latent channels */
    ff_tensor_free(&z);
}

/* ---- peaks --------------------------------------------------------------------------- */

static void check_peak(const char *what, int decode, const ff_tensor *x, const ff_hyvae_opts *o) {
    ff_err err = {0};
    ff_hyvae_mem m;
    ff_hyvae_mem_reset_peak(vae);
    ff_hyvae_mem_stats(vae, &m);
    FF_CHECK(m.run_cur_bytes == 0);
    ff_tensor a = {0}, b = {0};
    size_t want = 0;
    if (decode) {
        FF_CHECK_OK(ff_hyvae_decode(vae, x, o, &a, &err), &err);
        FF_CHECK_OK(ff_hyvae_decode_peak(ff_hyvae_config_of(vae), o, x->shape, &want, &err), &err);
    } else {
        FF_CHECK_OK(ff_hyvae_encode(vae, x, o, &a, &b, &err), &err);
        FF_CHECK_OK(ff_hyvae_encode_peak(ff_hyvae_config_of(vae), o, x->shape, &want, &err), &err);
    }
    ff_hyvae_mem_stats(vae, &m);
    FF_CHECK_MSG(m.run_peak_bytes == want && want > 0, "%s: measured peak %zu, predicted %zu", what,
                 m.run_peak_bytes, want);
    FF_CHECK(m.run_cur_bytes == 0);
    ff_tensor_free(&a);
    ff_tensor_free(&b);
}

static void test_peaks(void) {
    ff_hyvae_opts o;
    ff_tensor z6 = rand_tensor(1, 4, 6, 3, 5, 2), z2 = rand_tensor(2, 4, 2, 4, 3, 3),
              x = rand_tensor(1, 3, 21, 24, 16, 4);
    ff_hyvae_opts_default(&o);
    check_peak("decode framewise", 1, &z6, &o);
    check_peak("encode framewise", 0, &x, &o);
    o.framewise = 0;
    check_peak("decode single pass", 1, &z6, &o);
    check_peak("encode single pass", 0, &x, &o);
    o.tiling = 1, o.tile_sample_min_height = o.tile_sample_min_width = 16;
    o.tile_sample_stride_height = o.tile_sample_stride_width = 8;
    check_peak("decode spatial", 1, &z6, &o);
    check_peak("encode spatial", 0, &x, &o);
    o.framewise = 1, o.tile_sample_min_num_frames = 8, o.tile_sample_stride_num_frames = 4;
    check_peak("decode temporal + spatial", 1, &z6, &o);
    check_peak("encode temporal + spatial", 0, &x, &o);
    ff_hyvae_opts_default(&o);
    o.slicing = 1;
    check_peak("decode sliced", 1, &z2, &o);
    o.slicing = 0;
    check_peak("decode batch", 1, &z2, &o);
    ff_tensor_free(&z6);
    ff_tensor_free(&z2);
    ff_tensor_free(&x);
}

/* ---- temporal tiling ------------------------------------------------------------------- */

static void test_temporal_decode(void) {
    ff_err err = {0};
    ff_hyvae_opts o;
    ff_hyvae_opts_default(&o); /* 16 / 12 sample frames: latent tiles of 5 every 3, blend over 4 frames */
    ff_tensor z = rand_tensor(1, 4, 6, 2, 3, 5), out = {0}, t0 = {0}, t1 = {0};
    FF_REQUIRE_OK(ff_hyvae_decode(vae, &z, &o, &out, &err), &err);
    FF_REQUIRE(out.shape[2] == 21 && out.shape[3] == 16 && out.shape[4] == 24);
    ff_tensor z0 = sub(&z, 0, 5, 0, 2, 0, 3), z1 = sub(&z, 3, 3, 0, 2, 0, 3);
    FF_REQUIRE_OK(ff_hyvae_decode_tile(vae, &z0, &t0, &err), &err);
    FF_REQUIRE_OK(ff_hyvae_decode_tile(vae, &z1, &t1, &err), &err);
    FF_REQUIRE(t0.shape[2] == 17 && t1.shape[2] == 9);
    /* frames 0..12 are tile 0's; frames 13..16 blend tile 0's 13..16 with tile 1's 1..4; 17..20 are tile 1's 5..8 */
    const int64_t HW = 16 * 24;
    int64_t bad_plain = 0, bad_blend = 0;
    for (int64_t c = 0; c < 3; c++)
        for (int64_t f = 0; f < 21; f++)
            for (int64_t k = 0; k < HW; k++) {
                const float got = ((float *)out.data)[(c * 21 + f) * HW + k];
                float want;
                if (f < 13) {
                    want = ((float *)t0.data)[(c * 17 + f) * HW + k];
                } else if (f < 17) {
                    const int64_t x = f - 13;
                    const float wa = (float)(1.0 - (double)x / 4.0), wb = (float)((double)x / 4.0);
                    const float pa = ((float *)t0.data)[(c * 17 + f) * HW + k] * wa;
                    const float pb = ((float *)t1.data)[(c * 9 + 1 + x) * HW + k] * wb;
                    want = pa + pb;
                    bad_blend += got != want;
                    continue;
                } else {
                    want = ((float *)t1.data)[(c * 9 + f - 12) * HW + k];
                }
                bad_plain += got != want;
            }
    FF_CHECK_MSG(bad_plain == 0, "%lld unblended frame values differ from the tiles' own decodes",
                 (long long)bad_plain);
    FF_CHECK_MSG(bad_blend == 0, "%lld blended values differ from blend_t", (long long)bad_blend);
    /* a tile as long as the clip: one pass, the untiled result */
    ff_tensor a = {0}, b = {0};
    o.tile_sample_min_num_frames = 24, o.tile_sample_stride_num_frames = 20;
    FF_CHECK_OK(ff_hyvae_decode(vae, &z, &o, &a, &err), &err);
    o.framewise = 0;
    FF_CHECK_OK(ff_hyvae_decode(vae, &z, &o, &b, &err), &err);
    FF_CHECK_MSG(equal(&a, &b), "a tile covering the clip differs from the untiled decode");
    /* 7 latent frames: the last tile has one latent frame and keeps nothing after its drop */
    ff_tensor z7 = rand_tensor(1, 4, 7, 2, 2, 6), v7 = {0};
    ff_hyvae_opts_default(&o);
    FF_CHECK_OK(ff_hyvae_decode(vae, &z7, &o, &v7, &err), &err);
    FF_CHECK(v7.data && v7.shape[2] == 25);
    ff_tensor *all[] = {&z, &out, &t0, &t1, &z0, &z1, &a, &b, &z7, &v7};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ff_tensor_free(all[i]);
}

static void test_temporal_encode(void) {
    ff_err err = {0};
    ff_hyvae_opts o;
    ff_hyvae_opts_default(&o); /* video tiles of 17 frames every 12; latent blend over 16/4 - 12/4 = 1 frame */
    ff_tensor x = rand_tensor(1, 3, 21, 16, 8, 7), mean = {0}, h0 = {0}, h1 = {0};
    FF_REQUIRE_OK(ff_hyvae_encode(vae, &x, &o, &mean, NULL, &err), &err);
    FF_REQUIRE(mean.shape[1] == 4 && mean.shape[2] == 6 && mean.shape[3] == 2 && mean.shape[4] == 1);
    ff_tensor x0 = sub(&x, 0, 17, 0, 16, 0, 8), x1 = sub(&x, 12, 9, 0, 16, 0, 8);
    FF_REQUIRE_OK(ff_hyvae_encode_tile(vae, &x0, &h0, &err), &err);
    FF_REQUIRE_OK(ff_hyvae_encode_tile(vae, &x1, &h1, &err), &err);
    FF_REQUIRE(h0.shape[1] == 8 && h0.shape[2] == 5 && h1.shape[2] == 3);
    /* latent frames 0..3 are tile 0's; frame 4 = blend weight 0 on tile 1: tile 0's frame 4; frame 5 = tile 1's 2 */
    const int64_t P = 2 * 1;
    int64_t bad = 0;
    for (int64_t c = 0; c < 4; c++)
        for (int64_t f = 0; f < 6; f++)
            for (int64_t k = 0; k < P; k++) {
                const float got = ((float *)mean.data)[(c * 6 + f) * P + k];
                const float want =
                    f < 5 ? ((float *)h0.data)[(c * 5 + f) * P + k] : ((float *)h1.data)[(c * 3 + 2) * P + k];
                bad += got != want;
            }
    FF_CHECK_MSG(bad == 0, "%lld encoded values differ from the tiles' own encodes", (long long)bad);
    ff_tensor *all[] = {&x, &mean, &h0, &h1, &x0, &x1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ff_tensor_free(all[i]);
}

/* ---- spatial tiling, slicing, odd sizes ----------------------------------------------------------- */

static void test_spatial_and_slicing(void) {
    ff_err err = {0};
    ff_hyvae_opts o;
    ff_hyvae_opts_default(&o);
    o.tiling = 1, o.tile_sample_min_height = 24, o.tile_sample_min_width = 24;
    o.tile_sample_stride_height = 16, o.tile_sample_stride_width = 16;
    ff_tensor z = rand_tensor(1, 4, 2, 5, 4, 8), out = {0}, t00 = {0};
    FF_REQUIRE_OK(ff_hyvae_decode(vae, &z, &o, &out, &err), &err);
    FF_REQUIRE(out.shape[3] == 40 && out.shape[4] == 32);
    ff_tensor z00 = sub(&z, 0, 2, 0, 3, 0, 3);
    FF_REQUIRE_OK(ff_hyvae_decode_tile(vae, &z00, &t00, &err), &err);
    /* the top-left tile is never blended into: its first 16 x 16 pixels are the output's */
    ff_tensor a = sub(&out, 0, 5, 0, 16, 0, 16), b = sub(&t00, 0, 5, 0, 16, 0, 16);
    FF_CHECK_MSG(equal(&a, &b), "the top-left tile's corner differs from its own decode");
    ff_tensor_free(&a);
    ff_tensor_free(&b);
    /* a tile larger than the frame: untiled */
    o.tile_sample_min_height = o.tile_sample_min_width = 64;
    FF_CHECK_OK(ff_hyvae_decode(vae, &z, &o, &a, &err), &err);
    o.tiling = 0;
    FF_CHECK_OK(ff_hyvae_decode(vae, &z, &o, &b, &err), &err);
    FF_CHECK_MSG(equal(&a, &b), "one spatial tile differs from the untiled decode");
    ff_tensor_free(&a);
    ff_tensor_free(&b);
    /* slicing: each sample decoded alone, the same bits as decoding it by hand */
    ff_tensor z2 = rand_tensor(2, 4, 2, 2, 3, 9), s = {0}, one = {0}, batched = {0};
    ff_hyvae_opts_default(&o);
    o.slicing = 1;
    FF_CHECK_OK(ff_hyvae_decode(vae, &z2, &o, &s, &err), &err);
    o.slicing = 0;
    FF_CHECK_OK(ff_hyvae_decode(vae, &z2, &o, &batched, &err), &err);
    FF_CHECK(s.data && batched.data && ff_rel_l2(&s, &batched) <= 1e-6);
    for (int64_t bb = 0; bb < 2 && s.data; bb++) {
        ff_tensor zb, sb;
        const int64_t zn = ff_tensor_numel(&z2) / 2, sn = ff_tensor_numel(&s) / 2;
        ff_tensor_allocv(&zb, FF_F32, &err, 5, 1, 4, 2, 2, 3);
        memcpy(zb.data, (float *)z2.data + bb * zn, (size_t)zn * sizeof(float));
        FF_CHECK_OK(ff_hyvae_decode(vae, &zb, &o, &one, &err), &err);
        ff_tensor_view(&sb, FF_F32, 5, one.shape, (float *)s.data + bb * sn, FF_LOC_HOST);
        FF_CHECK_MSG(one.data && ff_tensor_equal(&one, &sb), "sliced sample %lld != its own decode", (long long)bb);
        ff_tensor_free(&one);
        ff_tensor_free(&zb);
    }
    ff_tensor *all[] = {&z, &out, &t00, &z00, &z2, &s, &batched};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ff_tensor_free(all[i]);
}

static void test_odd_sizes(void) {
    ff_err err = {0};
    ff_tensor z = rand_tensor(1, 4, 1, 3, 5, 10), v = {0}, x = rand_tensor(1, 3, 6, 20, 12, 11), m = {0}, lv = {0};
    FF_CHECK_OK(ff_hyvae_decode(vae, &z, NULL, &v, &err), &err);
    FF_CHECK(v.data && v.shape[2] == 1 && v.shape[3] == 24 && v.shape[4] == 40);
    FF_CHECK_OK(ff_hyvae_encode(vae, &x, NULL, &m, &lv, &err), &err);
    /* 6 frames -> 2 latent frames; 20 x 12 pixels -> ceil: 3 x 2 (the untiled pass) */
    FF_CHECK(m.data && m.shape[2] == 2 && m.shape[3] == 3 && m.shape[4] == 2);
    int in_range = lv.data != NULL;
    for (int64_t i = 0; in_range && i < ff_tensor_numel(&lv); i++)
        in_range = ((float *)lv.data)[i] >= -30.0f && ((float *)lv.data)[i] <= 20.0f;
    FF_CHECK(in_range);
    ff_tensor f = {0};
    FF_CHECK_OK(ff_hyvae_postprocess_frames(&v, &f, &err), &err);
    FF_CHECK(f.data && f.shape[1] == 1 && f.shape[4] == 3);
    ff_tensor *all[] = {&z, &v, &x, &m, &lv, &f};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ff_tensor_free(all[i]);
}

int main(void) {
    ff_err err = {0};
    if (ff_backend_cpu_create(1, &be, &err) != FF_OK) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    ff_test_tmp_path("hunyuan_vae", vae_dir, sizeof vae_dir);
    if (write_vae(vae_dir, &err) || ff_hyvae_load(be, vae_dir, &vae, &err)) {
        fprintf(stderr, "tiny vae: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_real_count);
    FF_RUN(test_config_errors);
    FF_RUN(test_peaks);
    FF_RUN(test_temporal_decode);
    FF_RUN(test_temporal_encode);
    FF_RUN(test_spatial_and_slicing);
    FF_RUN(test_odd_sizes);
    ff_hyvae_free(vae);
    ff_backend_free(be);
    return ff_test_summary();
}
