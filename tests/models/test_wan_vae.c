/* Tests of models/wan_vae: the streaming decode (chunk order and sizes,
 * equality with the golden decode), decode memory that does not grow with
 * the number of latent frames, tiled / sliced decode and tiled encode
 * against the golden data, config validation, weight shape checks, and a
 * non-golden config (residual, patch_size 2, other dim_mult) built from
 * random weights to show nothing is tied to the tiny golden configs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ff_json.h"
#include "core/ff_safetensors.h"
#include "models/wan_vae.h"
#include "tests/common/ff_test.h"

static const char *golden;
static ff_backend *be;

typedef struct {
    ff_st_file *in, *exp;
    double tol;
} gcase;

static int open_case(const char *name, gcase *c) {
    char p[4096];
    ff_err err = {0};
    ff_json_doc *doc = NULL;
    memset(c, 0, sizeof *c);
    snprintf(p, sizeof p, "%s/cases/%s/case.json", golden, name);
    if (ff_json_parse_file(p, &doc, &err)) return -1;
    if (ff_json_get_double(ff_json_get(ff_json_root(doc), "tolerance"), "rel_l2", 0, &c->tol)) c->tol = 0;
    ff_json_free(doc);
    snprintf(p, sizeof p, "%s/cases/%s/inputs.safetensors", golden, name);
    if (ff_st_open(p, &c->in, &err)) return -1;
    snprintf(p, sizeof p, "%s/cases/%s/expected.safetensors", golden, name);
    if (ff_st_open(p, &c->exp, &err)) return -1;
    return 0;
}

static void close_case(gcase *c) {
    ff_st_close(c->in);
    ff_st_close(c->exp);
}

static ff_vae *load_pipe(const char *pipe) {
    char p[4096];
    ff_err err = {0};
    ff_vae *v = NULL;
    snprintf(p, sizeof p, "%s/pipelines/%s", golden, pipe);
    if (ff_wanvae_load(be, p, &v, &err)) fprintf(stderr, "ff_wanvae_load: %s\n", err.msg);
    return v;
}

static double rel_to(const ff_st_file *f, const char *name, const ff_tensor *out) {
    ff_tensor ref = {0};
    ff_err err = {0};
    if (ff_st_load(f, name, FF_F32, &ref, &err)) return 1e9;
    double r = ff_tensor_same_shape(&ref, out) ? ff_rel_l2(out, &ref) : 1e9;
    ff_tensor_free(&ref);
    return r;
}

/* ---- streaming ---------------------------------------------------------- */

typedef struct {
    int calls;
    int64_t next_t;
    int64_t sizes[64];
    ff_tensor video; /* assembled (B, C, T, H, W) */
    int order_ok;
} stream_ctx;

static ff_status on_chunk(void *user, int64_t b0, int64_t t0, const ff_tensor *f, ff_err *err) {
    stream_ctx *s = user;
    if (t0 != s->next_t || b0 != 0) s->order_ok = 0;
    if (s->calls < 64) s->sizes[s->calls] = f->shape[2];
    s->calls++;
    s->next_t = t0 + f->shape[2];
    if (s->video.data) { /* paste frames [t0, t0 + nt) */
        const int64_t *d = s->video.shape, *c = f->shape;
        if (t0 + c[2] > d[2] || c[3] != d[3] || c[4] != d[4]) return ff_err_set(err, FF_ERR_SHAPE, "chunk does not fit");
        size_t plane = (size_t)(c[3] * c[4]);
        for (int64_t b = 0; b < c[0]; b++)
            for (int64_t ch = 0; ch < c[1]; ch++)
                memcpy((float *)s->video.data + ((b * d[1] + ch) * d[2] + t0) * (int64_t)plane,
                       (const float *)f->data + ((b * c[1] + ch) * c[2]) * (int64_t)plane, plane * c[2] * sizeof(float));
    }
    return FF_OK;
}

static void test_stream_decode_matches_golden(void) {
    gcase c;
    ff_err err = {0};
    FF_REQUIRE(open_case("vae_decode_f5", &c) == 0);
    ff_vae *v = load_pipe("tiny-wan21");
    FF_REQUIRE(v);
    ff_tensor lat = {0}, z = {0};
    FF_REQUIRE_OK(ff_st_load(c.in, "latents", FF_F32, &lat, &err), &err);
    FF_REQUIRE_OK(ff_wanvae_denormalize(v, &lat, &z, &err), &err);
    FF_CHECK(rel_to(c.exp, "latents_denormalized", &z) <= c.tol);
    int64_t shape[5];
    FF_REQUIRE_OK(ff_wanvae_decode_shape(v, &z, shape, &err), &err);
    FF_CHECK(shape[2] == 17 && shape[3] == 32 && shape[4] == 48 && shape[1] == 3);
    stream_ctx s = {0};
    s.order_ok = 1;
    FF_REQUIRE_OK(ff_tensor_alloc(&s.video, FF_F32, 5, shape, &err), &err);
    FF_CHECK_OK(ff_wanvae_decode_stream(v, &z, NULL, on_chunk, &s, &err), &err);
    /* latent frame 0 -> 1 frame, every later one -> 4 frames, in order */
    FF_CHECK(s.calls == 5 && s.order_ok && s.next_t == 17);
    FF_CHECK(s.sizes[0] == 1 && s.sizes[1] == 4 && s.sizes[4] == 4);
    double r = rel_to(c.exp, "video", &s.video);
    FF_CHECK_MSG(r <= c.tol, "rel_l2 %.3e > %.1e", r, c.tol);
    ff_wanvae_mem m;
    ff_wanvae_mem_stats(v, &m);
    FF_CHECK_MSG(m.run_cur_bytes == 0, "%zu activation bytes still allocated after decode", m.run_cur_bytes);
    ff_tensor_free(&s.video);
    ff_tensor_free(&lat);
    ff_tensor_free(&z);
    ff_wanvae_free(v);
    close_case(&c);
}

static ff_status count_only(void *user, int64_t b0, int64_t t0, const ff_tensor *f, ff_err *err) {
    (*(int64_t *)user) += f->shape[2];
    return FF_OK;
}

/* Peak backend bytes of a streaming decode of F latent frames. */
static size_t decode_peak(ff_vae *v, int64_t F, int tiled, int64_t *frames_out) {
    ff_err err = {0};
    ff_tensor z = {0};
    if (ff_tensor_allocv(&z, FF_F32, &err, 5, (int64_t)1, (int64_t)4, F, (int64_t)8, (int64_t)12)) return 0;
    ff_test_fill_uniform(&z, 7, -2.0f, 2.0f);
    ff_wanvae_opts o;
    ff_wanvae_opts_default(&o);
    if (tiled) {
        o.tiling = 1;
        o.tile_sample_min_height = o.tile_sample_min_width = 32;
        o.tile_sample_stride_height = o.tile_sample_stride_width = 24;
    }
    ff_wanvae_mem_reset_peak(v);
    *frames_out = 0;
    ff_status st = ff_wanvae_decode_stream(v, &z, &o, count_only, frames_out, &err);
    ff_tensor_free(&z);
    if (st) {
        fprintf(stderr, "decode: %s\n", err.msg);
        return 0;
    }
    ff_wanvae_mem m;
    ff_wanvae_mem_stats(v, &m);
    return m.run_peak_bytes;
}

static void test_decode_memory_flat_in_frames(void) {
    ff_vae *v = load_pipe("tiny-wan21");
    FF_REQUIRE(v);
    for (int tiled = 0; tiled < 2; tiled++) {
        int64_t n2, n3, n6, n9;
        size_t p2 = decode_peak(v, 2, tiled, &n2), p3 = decode_peak(v, 3, tiled, &n3);
        size_t p6 = decode_peak(v, 6, tiled, &n6), p9 = decode_peak(v, 9, tiled, &n9);
        FF_CHECK(n2 == 5 && n3 == 9 && n6 == 21 && n9 == 33);
        FF_CHECK(p2 > 0);
        /* the feature cache holds at most 2 frames per conv: it fills during
         * the first two chunks (frame 1 still has a 1-frame cache and the
         * temporal upsampler's zero padding), then nothing grows with F */
        FF_CHECK_MSG(p2 <= p3 && p3 - p2 < p2 / 10, "tiled=%d: peak %zu for 3 latent frames, %zu for 2", tiled, p3, p2);
        FF_CHECK_MSG(p6 == p3, "tiled=%d: peak %zu bytes for 6 latent frames, %zu for 3", tiled, p6, p3);
        FF_CHECK_MSG(p9 == p3, "tiled=%d: peak %zu bytes for 9 latent frames, %zu for 3", tiled, p9, p3);
    }
    ff_wanvae_free(v);
}

/* ---- tiling / slicing against the golden -------------------------------- */

static void decode_case(const char *name, const char *pipe, int tile_h, int tile_w, int str_h, int str_w, int slice) {
    gcase c;
    ff_err err = {0};
    FF_REQUIRE(open_case(name, &c) == 0);
    ff_vae *v = load_pipe(pipe);
    FF_REQUIRE(v);
    ff_tensor lat = {0}, z = {0}, video = {0};
    ff_wanvae_opts o;
    ff_wanvae_opts_default(&o);
    o.tiling = tile_h > 0;
    if (o.tiling) {
        o.tile_sample_min_height = tile_h, o.tile_sample_min_width = tile_w;
        o.tile_sample_stride_height = str_h, o.tile_sample_stride_width = str_w;
    }
    o.slicing = slice;
    FF_REQUIRE_OK(ff_st_load(c.in, "latents", FF_F32, &lat, &err), &err);
    FF_REQUIRE_OK(ff_wanvae_denormalize(v, &lat, &z, &err), &err);
    FF_CHECK_OK(ff_wanvae_decode(v, &z, &o, &video, &err), &err);
    double r = rel_to(c.exp, "video", &video);
    FF_CHECK_MSG(r <= c.tol, "%s: rel_l2 %.3e > %.1e", name, r, c.tol);
    if (o.tiling) { /* and untiled is what diffusers' plain decode gives */
        ff_tensor plain = {0};
        o.tiling = 0;
        FF_CHECK_OK(ff_wanvae_decode(v, &z, &o, &plain, &err), &err);
        r = rel_to(c.exp, "video_untiled", &plain);
        FF_CHECK_MSG(r <= c.tol, "%s untiled: rel_l2 %.3e", name, r);
        ff_tensor_free(&plain);
    }
    ff_tensor_free(&lat);
    ff_tensor_free(&z);
    ff_tensor_free(&video);
    ff_wanvae_free(v);
    close_case(&c);
}

static void test_tiled_decode_matches_golden(void) {
    decode_case("vae_decode_tiled_f3", "tiny-wan21", 32, 32, 16, 24, 0);
    decode_case("vae22_decode_tiled_f2", "tiny-wan22-ti2v", 32, 32, 16, 16, 0);
}

static void test_sliced_decode_matches_golden(void) { decode_case("vae_slicing_b2_f3", "tiny-wan21", 0, 0, 0, 0, 1); }

static void test_tiled_encode_matches_golden(void) {
    gcase c;
    ff_err err = {0};
    FF_REQUIRE(open_case("vae_encode_tiled_f5", &c) == 0);
    ff_vae *v = load_pipe("tiny-wan21");
    FF_REQUIRE(v);
    ff_tensor x = {0}, mean = {0}, logvar = {0};
    ff_wanvae_opts o;
    ff_wanvae_opts_default(&o);
    o.tiling = 1;
    o.tile_sample_min_height = o.tile_sample_min_width = 32;
    o.tile_sample_stride_height = o.tile_sample_stride_width = 16;
    FF_REQUIRE_OK(ff_st_load(c.in, "video", FF_F32, &x, &err), &err);
    FF_CHECK_OK(ff_wanvae_encode(v, &x, &o, &mean, &logvar, &err), &err);
    FF_CHECK(rel_to(c.exp, "mean", &mean) <= c.tol);
    FF_CHECK(rel_to(c.exp, "logvar", &logvar) <= c.tol);
    ff_tensor_free(&x);
    ff_tensor_free(&mean);
    ff_tensor_free(&logvar);
    ff_wanvae_free(v);
    close_case(&c);
}

/* ---- config and weights ------------------------------------------------- */

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static void test_config_defaults_and_errors(void) {
    char dir[512], path[600];
    ff_err err = {0};
    ff_wanvae_config c;
    ff_test_tmp_path("vae_cfg", dir, sizeof dir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FF_REQUIRE(write_file(path, "{\"_class_name\": \"AutoencoderKLWan\"}") == 0);
    FF_REQUIRE_OK(ff_wanvae_config_load(path, &c, &err), &err);
    FF_CHECK(c.base_dim == 96 && c.decoder_base_dim == 96 && c.z_dim == 16 && c.n_levels == 4 && c.num_res_blocks == 2);
    FF_CHECK(c.n_temperal == 3 && !c.temperal_downsample[0] && c.temperal_downsample[2]);
    FF_CHECK(c.patch_size == 1 && c.scale_factor_spatial == 8 && c.n_latents_std == 16);
    FF_REQUIRE(write_file(path, "{\"dim_mult\": [1, 2, 4, 4], \"temperal_downsample\": [true]}") == 0);
    FF_CHECK(ff_wanvae_config_load(path, &c, &err) == FF_ERR_FORMAT && strstr(err.msg, "temperal_downsample"));
    FF_REQUIRE(write_file(path, "{\"base_dim\": 0}") == 0);
    FF_CHECK(ff_wanvae_config_load(path, &c, &err) == FF_ERR_FORMAT && strstr(err.msg, "base_dim"));
    FF_REQUIRE(write_file(path, "{\"patch_size\": 2, \"in_channels\": 3}") == 0);
    FF_CHECK(ff_wanvae_config_load(path, &c, &err) == FF_ERR_FORMAT && strstr(err.msg, "patch_size"));
}

/* A config that does not fit the weights names the first tensor that differs. */
static void test_weight_shape_mismatch_is_named(void) {
    char dir[512], path[600], src[4200];
    ff_err err = {0};
    ff_vae *v = NULL;
    ff_test_tmp_path("vae_badcfg", dir, sizeof dir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FF_REQUIRE(write_file(path, "{\"base_dim\": 16, \"z_dim\": 4, \"dim_mult\": [1, 2, 4, 4]}") == 0);
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
    snprintf(src, sizeof src, "%s/pipelines/tiny-wan21/vae/diffusion_pytorch_model.safetensors", golden);
    unlink(path);
    FF_REQUIRE(symlink(src, path) == 0);
    FF_CHECK(ff_wanvae_load(be, dir, &v, &err) == FF_ERR_SHAPE && strstr(err.msg, "encoder.conv_in.weight"));
    FF_CHECK(v == NULL);
}

/* ---- a config unlike the golden ones ------------------------------------ */

/* Every tensor a diffusers AutoencoderKLWan of the config would hold: we
 * learn the names from the loader's errors, so build them by loading
 * repeatedly is not possible; instead write the shapes out explicitly. */
typedef struct {
    char names[512][96];
    ff_tensor ts[512];
    int n;
} wset;

static void wadd(wset *w, unsigned *seed, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d,
                 int64_t e) {
    const int64_t s[5] = {a, b, c, d, e};
    ff_err err = {0};
    if (w->n >= 512 || ff_tensor_alloc(&w->ts[w->n], FF_F32, ndim, s, &err)) return;
    float scale = 0.5f;
    if (ndim >= 2) scale = 1.0f / (float)(b * (ndim > 2 ? c : 1) * (ndim > 3 ? d : 1) * (ndim > 4 ? e : 1));
    ff_test_fill_uniform(&w->ts[w->n], (*seed)++, -scale * 1.7f, scale * 1.7f);
    if (strstr(name, "gamma")) ff_test_fill_uniform(&w->ts[w->n], (*seed)++, 0.8f, 1.2f);
    snprintf(w->names[w->n], sizeof w->names[0], "%s", name);
    w->n++;
}

static void wconv(wset *w, unsigned *seed, const char *p, int cin, int cout, int k) {
    char n[96];
    snprintf(n, sizeof n, "%s.weight", p);
    wadd(w, seed, n, 5, cout, cin, k, k, k);
    snprintf(n, sizeof n, "%s.bias", p);
    wadd(w, seed, n, 1, cout, 1, 1, 1, 1);
}

static void wres(wset *w, unsigned *seed, const char *p, int in, int out) {
    char n[96];
    snprintf(n, sizeof n, "%s.norm1.gamma", p);
    wadd(w, seed, n, 4, in, 1, 1, 1, 1);
    snprintf(n, sizeof n, "%s.conv1", p);
    wconv(w, seed, n, in, out, 3);
    snprintf(n, sizeof n, "%s.norm2.gamma", p);
    wadd(w, seed, n, 4, out, 1, 1, 1, 1);
    snprintf(n, sizeof n, "%s.conv2", p);
    wconv(w, seed, n, out, out, 3);
    if (in != out) {
        snprintf(n, sizeof n, "%s.conv_shortcut", p);
        wconv(w, seed, n, in, out, 1);
    }
}

static void wmid(wset *w, unsigned *seed, const char *p, int d) {
    char n[96];
    snprintf(n, sizeof n, "%s.resnets.0", p);
    wres(w, seed, n, d, d);
    snprintf(n, sizeof n, "%s.resnets.1", p);
    wres(w, seed, n, d, d);
    snprintf(n, sizeof n, "%s.attentions.0.norm.gamma", p);
    wadd(w, seed, n, 3, d, 1, 1, 1, 1);
    snprintf(n, sizeof n, "%s.attentions.0.to_qkv.weight", p);
    wadd(w, seed, n, 4, 3 * d, d, 1, 1, 1);
    snprintf(n, sizeof n, "%s.attentions.0.to_qkv.bias", p);
    wadd(w, seed, n, 1, 3 * d, 1, 1, 1, 1);
    snprintf(n, sizeof n, "%s.attentions.0.proj.weight", p);
    wadd(w, seed, n, 4, d, d, 1, 1, 1);
    snprintf(n, sizeof n, "%s.attentions.0.proj.bias", p);
    wadd(w, seed, n, 1, d, 1, 1, 1, 1);
}

static void wresample(wset *w, unsigned *seed, const char *p, int dim, int out, int time, int up) {
    char n[96];
    snprintf(n, sizeof n, "%s.resample.1.weight", p);
    wadd(w, seed, n, 4, out, dim, 3, 3, 1);
    snprintf(n, sizeof n, "%s.resample.1.bias", p);
    wadd(w, seed, n, 1, out, 1, 1, 1, 1);
    if (time) {
        snprintf(n, sizeof n, "%s.time_conv.weight", p);
        wadd(w, seed, n, 5, up ? 2 * dim : dim, dim, 3, 1, 1);
        snprintf(n, sizeof n, "%s.time_conv.bias", p);
        wadd(w, seed, n, 1, up ? 2 * dim : dim, 1, 1, 1, 1);
    }
}

/* Wan 2.2 layout with dim_mult [1, 2, 2], num_res_blocks 1, base 4,
 * decoder base 6, z 3, patch 2, temperal_downsample [true, false]. */
static void test_other_config_residual_patch2(void) {
    char dir[512], path[600], n[96];
    ff_err err = {0};
    ff_test_tmp_path("vae_other", dir, sizeof dir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FF_REQUIRE(write_file(path, "{\"_class_name\": \"AutoencoderKLWan\", \"base_dim\": 4, \"decoder_base_dim\": 6, "
                                "\"z_dim\": 3, \"dim_mult\": [1, 2, 2], \"num_res_blocks\": 1, \"attn_scales\": [], "
                                "\"temperal_downsample\": [true, false], \"is_residual\": true, \"in_channels\": 12, "
                                "\"out_channels\": 12, \"patch_size\": 2, \"scale_factor_spatial\": 8, "
                                "\"latents_mean\": [0.1, -0.2, 0.3], \"latents_std\": [1.5, 0.7, 1.1]}") == 0);
    static wset w;
    unsigned seed = 11;
    memset(&w, 0, sizeof w);
    /* encoder: dims [4, 4, 8, 8] */
    int ed[4] = {4, 4, 8, 8};
    wconv(&w, &seed, "encoder.conv_in", 12, 4, 3);
    for (int i = 0; i < 3; i++) {
        snprintf(n, sizeof n, "encoder.down_blocks.%d.resnets.0", i);
        wres(&w, &seed, n, ed[i], ed[i + 1]);
        if (i < 2) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d.downsampler", i);
            wresample(&w, &seed, n, ed[i + 1], ed[i + 1], i == 0, 0);
        }
    }
    wmid(&w, &seed, "encoder.mid_block", 8);
    wadd(&w, &seed, "encoder.norm_out.gamma", 4, 8, 1, 1, 1, 1);
    wconv(&w, &seed, "encoder.conv_out", 8, 6, 3);
    wconv(&w, &seed, "quant_conv", 6, 6, 1);
    wconv(&w, &seed, "post_quant_conv", 3, 3, 1);
    /* decoder: dims [12, 12, 12, 6]; temperal_upsample = [false, true] */
    int dd[4] = {12, 12, 12, 6};
    wconv(&w, &seed, "decoder.conv_in", 3, 12, 3);
    wmid(&w, &seed, "decoder.mid_block", 12);
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 2; k++) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.resnets.%d", i, k);
            wres(&w, &seed, n, k ? dd[i + 1] : dd[i], dd[i + 1]);
        }
        if (i < 2) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.upsampler", i);
            wresample(&w, &seed, n, dd[i + 1], dd[i + 1], i == 1, 1);
        }
    }
    wadd(&w, &seed, "decoder.norm_out.gamma", 4, 6, 1, 1, 1, 1);
    wconv(&w, &seed, "decoder.conv_out", 6, 12, 3);
    ff_st_item items[512];
    for (int i = 0; i < w.n; i++) items[i] = (ff_st_item){w.names[i], &w.ts[i]};
    snprintf(path, sizeof path, "%s/diffusion_pytorch_model.safetensors", dir);
    FF_REQUIRE_OK(ff_st_write(path, items, (size_t)w.n, NULL, 0, &err), &err);
    for (int i = 0; i < w.n; i++) ff_tensor_free(&w.ts[i]);

    ff_vae *v = NULL;
    FF_REQUIRE_OK(ff_wanvae_load(be, dir, &v, &err), &err);
    /* encode (1, 3, 5, 16, 24): patch 2 -> 8x12, two 2x downsamples -> 2x3;
     * temporal: one 3d downsample -> chunks of 4 give 2 frames */
    ff_tensor x = {0}, mean = {0}, logvar = {0}, video = {0}, sliced = {0}, z2 = {0};
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 5, (int64_t)1, (int64_t)3, (int64_t)5, (int64_t)16, (int64_t)24),
                  &err);
    ff_test_fill_uniform(&x, 3, -1.0f, 1.0f);
    FF_CHECK_OK(ff_wanvae_encode(v, &x, NULL, &mean, &logvar, &err), &err);
    FF_CHECK(mean.shape[1] == 3 && mean.shape[2] == 3 && mean.shape[3] == 2 && mean.shape[4] == 3);
    /* decode a batch of 2: the time upsample doubles, the space upsamples x4, patch x2 */
    FF_REQUIRE_OK(ff_tensor_allocv(&z2, FF_F32, &err, 5, (int64_t)2, (int64_t)3, (int64_t)3, (int64_t)2, (int64_t)3),
                  &err);
    ff_test_fill_uniform(&z2, 5, -1.5f, 1.5f);
    ff_wanvae_opts o;
    ff_wanvae_opts_default(&o);
    FF_CHECK_OK(ff_wanvae_decode(v, &z2, &o, &video, &err), &err);
    FF_CHECK(video.shape[0] == 2 && video.shape[1] == 3 && video.shape[2] == 5 && video.shape[3] == 16 &&
             video.shape[4] == 24);
    o.slicing = 1;
    FF_CHECK_OK(ff_wanvae_decode(v, &z2, &o, &sliced, &err), &err);
    FF_CHECK_MSG(ff_rel_l2(&sliced, &video) < 1e-5, "sliced vs batched %.3e", ff_rel_l2(&sliced, &video));
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < ff_tensor_numel(&video); i++) {
        float f = ((float *)video.data)[i];
        lo = f < lo ? f : lo, hi = f > hi ? f : hi;
    }
    FF_CHECK(lo >= -1.0f && hi <= 1.0f && hi > lo);
    ff_tensor_free(&x);
    ff_tensor_free(&mean);
    ff_tensor_free(&logvar);
    ff_tensor_free(&video);
    ff_tensor_free(&sliced);
    ff_tensor_free(&z2);
    ff_wanvae_free(v);
}

int main(void) {
    ff_err err = {0};
    golden = getenv("FF_GOLDEN");
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/pipelines/tiny-wan21/vae/config.json", golden ? golden : "");
    if (!golden || access(probe, R_OK) != 0) ff_test_skip("golden data not found (FF_GOLDEN)");
    if (ff_backend_cpu_create(1, &be, &err)) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_config_defaults_and_errors);
    FF_RUN(test_stream_decode_matches_golden);
    FF_RUN(test_decode_memory_flat_in_frames);
    FF_RUN(test_tiled_decode_matches_golden);
    FF_RUN(test_sliced_decode_matches_golden);
    FF_RUN(test_tiled_encode_matches_golden);
    FF_RUN(test_weight_shape_mismatch_is_named);
    FF_RUN(test_other_config_residual_patch2);
    ff_backend_free(be);
    return ff_test_summary();
}
