/* Wan transformer without weights: config parsing, the parameter list of the
 * real Wan 2.1 / 2.2 configs (exact parameter counts and per-block bytes),
 * the rotary and timestep tables, and a forward pass on random weights that
 * checks batching, per-token timesteps and the block hooks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "core/ff_json.h"
#include "kernels/ops.h"
#include "models/wan_transformer.h"

static int configs_dir(char *buf, size_t n) {
    const char *g = getenv("FF_GOLDEN");
    if (!g) return -1;
    snprintf(buf, n, "%s/../configs", g); /* shared/golden -> shared/configs */
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/wan2.1-t2v-1.3b/transformer/config.json", buf);
    FILE *f = fopen(probe, "rb");
    if (!f) return -1;
    fclose(f);
    return 0;
}

static ff_status parse_str(const char *json, ff_wandit_config *cfg, ff_err *err) {
    ff_json_doc *doc;
    ff_status st = ff_json_parse(json, strlen(json), "test config", &doc, err);
    if (st) return st;
    st = ff_wandit_config_parse(ff_json_root(doc), "test config", cfg, err);
    ff_json_free(doc);
    return st;
}

/* Published classes: Wan2.1-T2V-1.3B and Wan2.1/2.2 T2V 14B (both A14B experts
 * share the 14B config). Exact counts from the shape list:
 *  block = 6D (scale_shift_table) + 2 x [4 (D^2 + D) + 2D] (attn1, attn2: q k v
 *          out with bias + norm_q/norm_k) + 2D (norm2) + 2 D ffn + ffn + D (FFN)
 *  non-block = patch_embedding D*16*1*2*2 + D, time_embedder D*256 + D + D^2 + D,
 *          time_proj 6D*D + 6D, text_embedder D*4096 + D + D^2 + D,
 *          scale_shift_table 2D, proj_out 64 D + 64.
 *  1.3B: D = 1536, ffn 8960, 30 layers: block 46,440,704; non-block 25,775,680;
 *        total 25,775,680 + 30 x 46,440,704 = 1,418,996,800 (~1.42 B, "1.3B").
 *  14B:  D = 5120, ffn 13824, 40 layers: block 351,394,304; non-block 232,719,424;
 *        total 232,719,424 + 40 x 351,394,304 = 14,288,491,584 (~14.3 B, "14B"). */
static void check_real(const char *dir, const char *name, const char *comp, int64_t total, int64_t per_block,
                       int64_t non_block, int layers) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s/%s/config.json", dir, name, comp);
    ff_wandit_config cfg;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_wandit_config_load(path, &cfg, &err), &err);
    FF_CHECK(cfg.num_layers == layers);
    ff_wandit_counts c;
    FF_REQUIRE_OK(ff_wandit_count_params(&cfg, &c, &err), &err);
    ff_param *ps;
    size_t n;
    FF_REQUIRE_OK(ff_wandit_params(&cfg, NULL, &ps, &n, &err), &err);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t e = 1;
        for (int k = 0; k < ps[i].ndim; k++) e *= ps[i].shape[k];
        sum += e;
    }
    /* 15 tensors outside the blocks (+ 8 of the image_embedder), 27 per block (+ 5 of attn2's image branch) */
    FF_CHECK(n == 15 + (cfg.image_dim ? 8u : 0u) + (size_t)layers * (27 + (cfg.added_kv_proj_dim ? 5u : 0u)));
    FF_CHECK(!strcmp(ps[0].name, "patch_embedding.weight"));
    FF_CHECK(!strcmp(ps[n - 1].name, layers == 30 ? "blocks.29.ffn.net.2.bias" : "blocks.39.ffn.net.2.bias"));
    free(ps);
    printf("%s/%s: %lld parameters (%.3f B), non-block %lld, per block %lld = %.1f MiB F32 / %.1f MiB BF16, "
           "%d blocks\n",
           name, comp, (long long)c.total, (double)c.total / 1e9, (long long)c.non_block, (long long)c.per_block,
           (double)c.per_block * 4 / 1048576.0, (double)c.per_block * 2 / 1048576.0, layers);
    FF_CHECK_MSG(c.total == total, "%s total %lld", name, (long long)c.total);
    FF_CHECK_MSG(c.per_block == per_block, "%s per block %lld", name, (long long)c.per_block);
    FF_CHECK_MSG(c.non_block == non_block, "%s non-block %lld", name, (long long)c.non_block);
    FF_CHECK(sum == c.total);
}

static void test_real_configs(void) {
    char dir[4096];
    if (configs_dir(dir, sizeof dir)) {
        printf("real configs absent (FF_GOLDEN/../configs): not checked\n");
        return;
    }
    check_real(dir, "wan2.1-t2v-1.3b", "transformer", 1418996800LL, 46440704LL, 25775680LL, 30);
    check_real(dir, "wan2.1-t2v-14b", "transformer", 14288491584LL, 351394304LL, 232719424LL, 40);
    check_real(dir, "wan2.2-t2v-a14b", "transformer", 14288491584LL, 351394304LL, 232719424LL, 40);
    check_real(dir, "wan2.2-t2v-a14b", "transformer_2", 14288491584LL, 351394304LL, 232719424LL, 40);
    /* Image-to-video (shared/configs/README.md): Wan 2.1 I2V 14B adds per block
     * attn2.add_k_proj / add_v_proj (D^2 + D each) + norm_added_k (D) =
     * 52,444,160, the image_embedder (LayerNorm 1280, Linear 1280->1280, Linear
     * 1280->5120, LayerNorm 5120) = 8,211,200 and 20 more patch_embedding input
     * channels (36 - 16) x 4 x 5120 = 409,600. Wan 2.2 I2V-A14B only the
     * wider patch_embedding; TI2V-5B: D = 3072, ffn 14336, 30 layers, 48 channels. */
    check_real(dir, "wan2.1-i2v-14b-480p", "transformer", 16394878784LL, 403838464LL, 241340224LL, 40);
    check_real(dir, "wan2.1-i2v-14b-720p", "transformer", 16394878784LL, 403838464LL, 241340224LL, 40);
    check_real(dir, "wan2.2-i2v-a14b", "transformer", 14288901184LL, 351394304LL, 233129024LL, 40);
    check_real(dir, "wan2.2-i2v-a14b", "transformer_2", 14288901184LL, 351394304LL, 233129024LL, 40);
    check_real(dir, "wan2.2-ti2v-5b", "transformer", 4999787712LL, 163656704LL, 90086592LL, 30);
}

/* Activation bytes of one forward, for the planner: 1.3B at 480p, 81 frames
 * (latent 21 x 60 x 104 -> 32760 tokens), 512 text rows, one timestep. */
static void test_activation_bytes(void) {
    ff_wandit_config cfg;
    ff_err err = {0};
    FF_REQUIRE_OK(parse_str("{\"num_attention_heads\": 12, \"ffn_dim\": 8960, \"num_layers\": 30}", &cfg, &err),
                  &err);
    const int64_t x[5] = {1, 16, 21, 60, 104}, N = 32760, D = 1536, L = 512;
    size_t bytes = 0, tok = 0;
    FF_REQUIRE_OK(ff_wandit_activation_bytes(&cfg, x, L, 0, 1, &bytes, &err), &err);
    /* h, norm, projections (B*max(N,L)*D), arena = max(3 N D, N ffn) = N ffn, text,
     * rope cos/sin, then one timestep row: temb, 6 tproj, modU, id, modA/modB, freq, 6D */
    int64_t f = 3 * N * D + N * 8960 + L * D + 2 * N * 128 + D + 6 * D + D + 2 * D + 256 + 6 * D;
    FF_CHECK_MSG(bytes == (size_t)f * 4 + 4, "%zu bytes, formula %lld", bytes, (long long)(f * 4 + 4));
    printf("1.3B forward activations at 32760 tokens: %.2f GiB (weights: 5.29 GiB F32)\n",
           (double)bytes / 1073741824.0);
    /* per-token timesteps with 2 distinct values (TI2V) add per-token modulation only */
    FF_REQUIRE_OK(ff_wandit_activation_bytes(&cfg, x, L, 1, 2, &tok, &err), &err);
    FF_CHECK(tok == bytes + (size_t)(2 * (N - 1) * D * 4 + (N - 1) * 4 + (D + 6 * D + D + 256 + 6 * D) * 4));
}

static void test_config_errors(void) {
    ff_wandit_config cfg;
    ff_err err = {0};
    /* image_dim and added_kv_proj_dim come together; add_k_proj reads the embedded image (inner dim) */
    FF_CHECK(parse_str("{\"image_dim\": 1280}", &cfg, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(strstr(err.msg, "\"image_dim\" is set without \"added_kv_proj_dim\"") != NULL);
    FF_CHECK(parse_str("{\"added_kv_proj_dim\": 5120}", &cfg, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(parse_str("{\"image_dim\": 1280, \"added_kv_proj_dim\": 4096}", &cfg, &err) == FF_ERR_FORMAT);
    FF_CHECK(strstr(err.msg, "added_kv_proj_dim 4096 must equal the inner dim 5120") != NULL);
    FF_REQUIRE_OK(parse_str("{\"image_dim\": 1280, \"added_kv_proj_dim\": 5120, \"in_channels\": 36, "
                            "\"pos_embed_seq_len\": null}", &cfg, &err), &err);
    FF_CHECK(cfg.image_dim == 1280 && cfg.added_kv_proj_dim == 5120 && cfg.pos_embed_seq_len == 0);
    FF_CHECK(ff_wandit_block_params(&cfg, 0, NULL, NULL) == 32);
    FF_REQUIRE_OK(parse_str("{\"pos_embed_seq_len\": 514}", &cfg, &err), &err); /* ignored without image_dim */
    FF_CHECK(cfg.pos_embed_seq_len == 0);
    FF_CHECK(parse_str("{\"patch_size\": [1, 2]}", &cfg, &err) == FF_ERR_FORMAT);
    FF_CHECK(parse_str("{\"attention_head_dim\": 15}", &cfg, &err) == FF_ERR_FORMAT);
    FF_CHECK(parse_str("{\"num_attention_heads\": 0}", &cfg, &err) == FF_ERR_FORMAT);
    FF_CHECK(parse_str("{\"_class_name\": \"AutoencoderKLWan\"}", &cfg, &err) == FF_ERR_UNSUPPORTED);
    /* defaults are diffusers' __init__ defaults; out_channels null -> in_channels */
    FF_REQUIRE_OK(parse_str("{\"out_channels\": null, \"in_channels\": 36, \"cross_attn_norm\": false}", &cfg, &err),
                  &err);
    FF_CHECK(cfg.heads == 40 && cfg.head_dim == 128 && cfg.dim == 5120 && cfg.ffn_dim == 13824);
    FF_CHECK(cfg.in_channels == 36 && cfg.out_channels == 36 && !cfg.cross_attn_norm);
    FF_CHECK(cfg.patch[0] == 1 && cfg.patch[1] == 2 && cfg.patch[2] == 2 && cfg.freq_dim == 256);
    FF_CHECK(fabsf(cfg.eps - 1e-6f) < 1e-12f && cfg.rope_max_seq_len == 1024);
    FF_CHECK(ff_wandit_block_params(&cfg, 0, NULL, NULL) == 25); /* no norm2 */
}

static void test_timestep_embedding(void) {
    float t[3] = {0.0f, 999.0f, 37.5f}, e[3 * 9];
    ff_wandit_timestep_embedding(t, 3, 9, e); /* odd freq_dim: half 4, zero pad */
    for (int i = 0; i < 4; i++) {
        FF_CHECK(e[i] == 1.0f && e[4 + i] == 0.0f); /* t = 0: [cos | sin] = [1 | 0] */
    }
    FF_CHECK(e[8] == 0.0f && e[17] == 0.0f && e[26] == 0.0f);
    /* i = 0: frequency 1 */
    FF_CHECK(fabsf(e[9] - cosf(999.0f)) < 1e-6f && fabsf(e[9 + 4] - sinf(999.0f)) < 1e-6f);
    /* i = 2: f = exp(-ln(1e4) * 2 / 4) = 0.01 */
    FF_CHECK(fabs(e[18 + 2] - cos(0.375)) < 1e-5 && fabs(e[18 + 6] - sin(0.375)) < 1e-5);
}

static void test_rope_tables(void) {
    ff_wandit_config cfg = {.head_dim = 12, .rope_max_seq_len = 8};
    ff_err err = {0};
    float c[2 * 3 * 4 * 12], s[2 * 3 * 4 * 12];
    FF_REQUIRE_OK(ff_wandit_rope_tables(&cfg, 2, 3, 4, c, s, &err), &err);
    /* head_dim 12: t 4 channels (2 pairs), h 4, w 4; freqs per axis 1, 1/100 */
    int64_t tok = (1 * 3 + 2) * 4 + 3; /* f = 1, y = 2, x = 3 */
    const float *co = c + tok * 12, *so = s + tok * 12;
    const double pos[3] = {1, 2, 3}, fr[2] = {1.0, 0.01};
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 2; k++) {
            int ch = a * 4 + 2 * k;
            FF_CHECK(co[ch] == (float)cos(pos[a] * fr[k]) && co[ch + 1] == co[ch]);
            FF_CHECK(so[ch] == (float)sin(pos[a] * fr[k]) && so[ch + 1] == so[ch]);
        }
    /* token 0 is the identity rotation */
    for (int i = 0; i < 12; i++) FF_CHECK(c[i] == 1.0f && s[i] == 0.0f);
    FF_CHECK(ff_wandit_rope_tables(&cfg, 9, 1, 1, c, s, &err) == FF_ERR_ARG);

    /* head_dim 16 (the tiny golden models, 16 % 6 != 0): channels split
     * [t 8 | h 4 | w 4] (not [6 | 5 | 5]); pair 5 (channels 10, 11) is the
     * second h pair: row index, frequency 1/100. */
    ff_wandit_config c16 = {.head_dim = 16, .rope_max_seq_len = 8};
    float cc[4 * 16], ss[4 * 16];
    FF_REQUIRE_OK(ff_wandit_rope_tables(&c16, 1, 2, 2, cc, ss, &err), &err);
    const float *c2 = cc + 2 * 16, *s2 = ss + 2 * 16; /* y = 1, x = 0 */
    FF_CHECK(c2[10] == (float)cos(1 * 0.01) && s2[11] == (float)sin(1 * 0.01));
    FF_CHECK(c2[6] == 1.0f && s2[6] == 0.0f);        /* t pair 3: frame 0 */
    FF_CHECK(c2[12] == 1.0f && c2[14] == 1.0f);      /* w pairs: column 0 */
    FF_CHECK(c2[8] == (float)cos(1.0));              /* h pair 0: frequency 1 */
}

/* ---- forward on random weights ---------------------------------------- */

static ff_status tiny_model(int with_norm2, ff_wandit_model **m, ff_err *err) {
    ff_wandit_config cfg;
    char json[512];
    snprintf(json, sizeof json,
             "{\"attention_head_dim\": 12, \"num_attention_heads\": 2, \"in_channels\": 3, \"out_channels\": 5,"
             " \"text_dim\": 7, \"freq_dim\": 17, \"ffn_dim\": 20, \"num_layers\": 2, \"patch_size\": [2, 1, 2],"
             " \"cross_attn_norm\": %s}",
             with_norm2 ? "true" : "false");
    ff_status st = parse_str(json, &cfg, err);
    if (st) return st;
    if ((st = ff_wandit_create(&cfg, m, err))) return st;
    if ((st = ff_wandit_init_random(*m, 7, err))) {
        ff_wandit_free(*m);
        *m = NULL;
    }
    return st;
}

typedef struct {
    int before, after, last_index;
    size_t n_params;
    int names_ok;
    ff_tensor saved[FF_WANDIT_BLOCK_PARAMS_MAX];
} hook_state;

/* A streaming stand-in: before a block, swap each weight for a fresh copy
 * (as an upload would); after it, free the copy and restore the original. */
static ff_status hook_before(void *user, int index, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    hook_state *h = user;
    h->before++;
    h->last_index = index;
    h->n_params = n;
    char want[64];
    snprintf(want, sizeof want, "blocks.%d.scale_shift_table", index);
    if (strcmp(ps[0].name, want) != 0 || ps[0].slot != &blk->scale_shift_table) h->names_ok = 0;
    for (size_t i = 0; i < n; i++) {
        h->saved[i] = *ps[i].slot;
        ff_status st = ff_tensor_clone(ps[i].slot, &h->saved[i], err);
        if (st) return st;
    }
    return FF_OK;
}

static ff_status hook_after(void *user, int index, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    hook_state *h = user;
    h->after++;
    for (size_t i = 0; i < n; i++) {
        ff_tensor_free(ps[i].slot);
        *ps[i].slot = h->saved[i];
    }
    return FF_OK;
}

static void test_forward_random(void) {
    ff_err err = {0};
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_wandit_model *m = NULL;
    ff_tensor x = {0}, x1 = {0}, text = {0}, text1 = {0}, t = {0}, t1 = {0}, tt = {0};
    ff_tensor y = {0}, y1 = {0}, yh = {0}, yt = {0};
    if (tiny_model(1, &m, &err)) {
        FF_CHECK_OK(err.code, &err);
        goto done;
    }
    /* B = 2, C = 3, F = 5 (odd: truncated to 4 by pt = 2), H = 3, W = 4 -> grid (2, 3, 2), N = 12 */
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 5, 2LL, 3LL, 5LL, 3LL, 4LL), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&text, FF_F32, &err, 3, 2LL, 9LL, 7LL), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&t, FF_I64, &err, 1, 2LL), &err);
    ff_test_fill_uniform(&x, 1, -1, 1);
    ff_test_fill_uniform(&text, 2, -1, 1);
    ((int64_t *)t.data)[0] = 999;
    ((int64_t *)t.data)[1] = 250;
    FF_REQUIRE_OK(ff_wandit_forward_host(m, be, &x, &t, &text, NULL, &y, &err), &err);
    FF_CHECK(y.shape[0] == 2 && y.shape[1] == 5 && y.shape[2] == 4 && y.shape[3] == 3 && y.shape[4] == 4);
    double norm = 0;
    for (int64_t i = 0; i < ff_tensor_numel(&y); i++) norm += (double)((float *)y.data)[i] * ((float *)y.data)[i];
    FF_CHECK(norm > 0 && isfinite(norm));

    /* sample 1 alone gives the same result as in the batch */
    int64_t per_x = 3 * 5 * 3 * 4, per_y = ff_tensor_numel(&y) / 2;
    FF_REQUIRE_OK(ff_tensor_allocv(&x1, FF_F32, &err, 5, 1LL, 3LL, 5LL, 3LL, 4LL), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&text1, FF_F32, &err, 3, 1LL, 9LL, 7LL), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&t1, FF_F32, &err, 1, 1LL), &err);
    memcpy(x1.data, (float *)x.data + per_x, (size_t)per_x * 4);
    memcpy(text1.data, (float *)text.data + 9 * 7, 9 * 7 * 4);
    ((float *)t1.data)[0] = 250.0f;
    FF_REQUIRE_OK(ff_wandit_forward_host(m, be, &x1, &t1, &text1, NULL, &y1, &err), &err);
    ff_tensor ys;
    ff_tensor_view(&ys, FF_F32, 5, y1.shape, (float *)y.data + per_y, FF_LOC_HOST);
    double r = ff_rel_l2(&y1, &ys);
    FF_CHECK_MSG(r < 1e-6, "batch vs single rel_l2 %.3e", r);

    /* per-token timesteps all equal to the sample's value: same result */
    FF_REQUIRE_OK(ff_tensor_allocv(&tt, FF_F32, &err, 2, 2LL, 12LL), &err);
    for (int i = 0; i < 24; i++) ((float *)tt.data)[i] = i < 12 ? 999.0f : 250.0f;
    FF_REQUIRE_OK(ff_wandit_forward_host(m, be, &x, &tt, &text, NULL, &yt, &err), &err);
    r = ff_rel_l2(&yt, &y);
    FF_CHECK_MSG(r < 1e-6, "per-token vs per-sample rel_l2 %.3e", r);
    /* ... and a different value on one token changes the output */
    ((float *)tt.data)[3] = 0.0f;
    ff_tensor_free(&yt);
    FF_REQUIRE_OK(ff_wandit_forward_host(m, be, &x, &tt, &text, NULL, &yt, &err), &err);
    FF_CHECK(ff_rel_l2(&yt, &y) > 1e-4);

    /* hooks: called around every block with its 27 named weights; swapping
     * the weights for copies changes nothing, bit for bit */
    hook_state hs = {.names_ok = 1, .last_index = -1};
    ff_wandit_hooks hooks = {hook_before, hook_after, &hs};
    FF_REQUIRE_OK(ff_wandit_forward_host(m, be, &x, &t, &text, &hooks, &yh, &err), &err);
    FF_CHECK(hs.before == 2 && hs.after == 2 && hs.last_index == 1 && hs.n_params == 27 && hs.names_ok);
    FF_CHECK(ff_tensor_equal(&yh, &y));

    /* shape errors name the tensor */
    ff_tensor bad;
    int64_t bs[1] = {3};
    float bd[3] = {0};
    ff_tensor_view(&bad, FF_F32, 1, bs, bd, FF_LOC_HOST);
    ff_tensor yb = {0};
    FF_CHECK(ff_wandit_forward_host(m, be, &x, &bad, &text, NULL, &yb, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "timestep") != NULL);
    FF_CHECK(ff_wandit_forward_host(m, be, &x, &t, &text1, NULL, &yb, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "encoder_hidden_states") != NULL);
done:
    ff_tensor *all[] = {&x, &x1, &text, &text1, &t, &t1, &tt, &y, &y1, &yh, &yt};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ff_tensor_free(all[i]);
    ff_wandit_free(m);
    ff_backend_free(be);
}

static void test_forward_no_norm2(void) {
    ff_err err = {0};
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_wandit_model *m = NULL;
    ff_tensor x = {0}, text = {0}, t = {0}, y = {0};
    if (!tiny_model(0, &m, &err) && !ff_tensor_allocv(&x, FF_F32, &err, 5, 1LL, 3LL, 2LL, 2LL, 2LL) &&
        !ff_tensor_allocv(&text, FF_F32, &err, 3, 1LL, 4LL, 7LL) && !ff_tensor_allocv(&t, FF_F32, &err, 0)) {
        ff_test_fill_uniform(&x, 3, -1, 1);
        ff_test_fill_uniform(&text, 4, -1, 1);
        ((float *)t.data)[0] = 500.0f;
        FF_CHECK_OK(ff_wandit_forward_host(m, be, &x, &t, &text, NULL, &y, &err), &err);
        FF_CHECK(y.ndim == 5 && y.shape[2] == 2 && y.shape[3] == 2 && y.shape[4] == 2);
    } else {
        FF_CHECK_OK(err.code, &err);
    }
    ff_tensor_free(&x);
    ff_tensor_free(&text);
    ff_tensor_free(&t);
    ff_tensor_free(&y);
    ff_wandit_free(m);
    ff_backend_free(be);
}


/* ---- image conditioning (Wan 2.1 I2V / FLF2V) on random weights --------- */

static ff_status tiny_i2v(int pos_rows, ff_wandit_model **m, ff_err *err) {
    ff_wandit_config cfg;
    char json[512];
    snprintf(json, sizeof json,
             "{\"attention_head_dim\": 12, \"num_attention_heads\": 2, \"in_channels\": 3, \"out_channels\": 2,"
             " \"text_dim\": 7, \"freq_dim\": 16, \"ffn_dim\": 20, \"num_layers\": 2, \"image_dim\": 10,"
             " \"added_kv_proj_dim\": 24, \"pos_embed_seq_len\": %d}",
             pos_rows);
    ff_status st = parse_str(json, &cfg, err);
    if (st) return st;
    if ((st = ff_wandit_create(&cfg, m, err))) return st;
    if ((st = ff_wandit_init_random(*m, 11, err))) {
        ff_wandit_free(*m);
        *m = NULL;
    }
    return st;
}

/* WanImageEmbedding in double: [+ pos], LayerNorm(eps 1e-5, affine), Linear,
 * exact GELU, Linear, LayerNorm. x (rows, id) -> out (rows, D). */
static void ref_image_embed(const ff_wandit_model *m, const float *x, int64_t rows, double *out) {
    const int64_t id = m->cfg.image_dim, D = m->cfg.dim;
    double *a = malloc(sizeof *a * (size_t)(id + id + D));
    double *b = a + id, *c = b + id;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < id; i++) {
            a[i] = x[r * id + i];
            if (m->cfg.pos_embed_seq_len) a[i] += ((float *)m->img_pos_embed.data)[(r % m->cfg.pos_embed_seq_len) * id + i];
        }
        const float *w1 = m->img_norm1_weight.data, *b1 = m->img_norm1_bias.data;
        double mu = 0, var = 0;
        for (int64_t i = 0; i < id; i++) mu += a[i] / id;
        for (int64_t i = 0; i < id; i++) var += (a[i] - mu) * (a[i] - mu) / id;
        for (int64_t i = 0; i < id; i++) a[i] = (a[i] - mu) / sqrt(var + 1e-5) * w1[i] + b1[i];
        for (int64_t o = 0; o < id; o++) {
            double v = ((float *)m->img_ff_in.bias.data)[o];
            for (int64_t i = 0; i < id; i++) v += ((float *)m->img_ff_in.weight.data)[o * id + i] * a[i];
            b[o] = 0.5 * v * (1 + erf(v / sqrt(2.0)));
        }
        for (int64_t o = 0; o < D; o++) {
            double v = ((float *)m->img_ff_out.bias.data)[o];
            for (int64_t i = 0; i < id; i++) v += ((float *)m->img_ff_out.weight.data)[o * id + i] * b[i];
            c[o] = v;
        }
        const float *w2 = m->img_norm2_weight.data, *b2 = m->img_norm2_bias.data;
        mu = var = 0;
        for (int64_t i = 0; i < D; i++) mu += c[i] / D;
        for (int64_t i = 0; i < D; i++) var += (c[i] - mu) * (c[i] - mu) / D;
        for (int64_t i = 0; i < D; i++) out[r * D + i] = (c[i] - mu) / sqrt(var + 1e-5) * w2[i] + b2[i];
    }
    free(a);
}

static double rel_to_ref(const ff_tensor *t, const double *ref) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < ff_tensor_numel(t); i++) {
        double d = ((float *)t->data)[i] - ref[i];
        num += d * d, den += ref[i] * ref[i];
    }
    return sqrt(num / den);
}

static ff_status embed_host(ff_wandit_model *m, ff_backend *be, const ff_tensor *img, int64_t B, int64_t rows,
                            ff_tensor *out, ff_err *err) {
    ff_tensor d = {0}, o = {0};
    const int64_t os[3] = {B, rows, m->cfg.dim};
    ff_status st;
    if (!(st = ff_be_alloc(be, &d, FF_F32, 3, img->shape, err)) && !(st = ff_be_upload(be, &d, img, err)) &&
        !(st = ff_be_alloc(be, &o, FF_F32, 3, os, err)) && !(st = ff_wandit_image_embed(m, be, &d, &o, err)) &&
        !(st = ff_tensor_alloc(out, FF_F32, 3, os, err)))
        st = ff_be_download(be, out, &o, err);
    if (d.data) ff_be_free(be, &d);
    if (o.data) ff_be_free(be, &o);
    return st;
}

static void test_forward_image(void) {
    ff_err err = {0};
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_wandit_model *m = NULL, *t2v = NULL;
    ff_tensor x = {0}, text = {0}, t = {0}, img = {0}, img2 = {0}, ctx = {0}, y = {0}, y2 = {0}, yh = {0}, yb = {0};
    ff_tensor x1 = {0}, text1 = {0}, img1 = {0}, y1 = {0};
    double *ref = NULL;
    if (tiny_i2v(0, &m, &err) || tiny_model(1, &t2v, &err)) {
        FF_CHECK_OK(err.code, &err);
        goto done;
    }
    /* B = 2, grid (3, 2, 2) with patch (1, 2, 2): 12 tokens; 5 text rows; 4 image rows */
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 5, 2LL, 3LL, 3LL, 4LL, 4LL), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&text, FF_F32, &err, 3, 2LL, 5LL, 7LL), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&img, FF_F32, &err, 3, 2LL, 4LL, 10LL), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&t, FF_I64, &err, 1, 2LL), &err);
    ff_test_fill_uniform(&x, 21, -1, 1);
    ff_test_fill_uniform(&text, 22, -1, 1);
    ff_test_fill_uniform(&img, 23, -2, 2);
    ((int64_t *)t.data)[0] = 999, ((int64_t *)t.data)[1] = 433;

    /* image_embedder against the double reference */
    FF_REQUIRE_OK(embed_host(m, be, &img, 2, 4, &ctx, &err), &err);
    ref = malloc(sizeof *ref * 8 * 24);
    ref_image_embed(m, img.data, 8, ref);
    FF_CHECK_MSG(rel_to_ref(&ctx, ref) < 1e-5, "image_embedder rel %.3e", rel_to_ref(&ctx, ref));

    FF_REQUIRE_OK(ff_wandit_forward_host_image(m, be, &x, &t, &text, &img, NULL, &y, &err), &err);
    FF_CHECK(y.shape[0] == 2 && y.shape[1] == 2 && y.shape[2] == 3 && y.shape[3] == 4 && y.shape[4] == 4);
    /* the image matters */
    FF_REQUIRE_OK(ff_tensor_clone(&img2, &img, &err), &err);
    ff_test_fill_uniform(&img2, 24, -2, 2);
    FF_REQUIRE_OK(ff_wandit_forward_host_image(m, be, &x, &t, &text, &img2, NULL, &y2, &err), &err);
    FF_CHECK_MSG(ff_rel_l2(&y2, &y) > 1e-3, "another image: rel %.3e", ff_rel_l2(&y2, &y));
    /* sample 1 alone = sample 1 of the batch */
    FF_REQUIRE_OK(ff_tensor_allocv(&x1, FF_F32, &err, 5, 1LL, 3LL, 3LL, 4LL, 4LL), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&text1, FF_F32, &err, 3, 1LL, 5LL, 7LL), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&img1, FF_F32, &err, 3, 1LL, 4LL, 10LL), &err);
    memcpy(x1.data, (float *)x.data + 3 * 3 * 16, 3 * 3 * 16 * 4);
    memcpy(text1.data, (float *)text.data + 35, 35 * 4);
    memcpy(img1.data, (float *)img.data + 40, 40 * 4);
    int64_t t1v = 433;
    ff_tensor t1;
    int64_t t1s[1] = {1};
    ff_tensor_view(&t1, FF_I64, 1, t1s, &t1v, FF_LOC_HOST);
    FF_REQUIRE_OK(ff_wandit_forward_host_image(m, be, &x1, &t1, &text1, &img1, NULL, &y1, &err), &err);
    ff_tensor ys;
    ff_tensor_view(&ys, FF_F32, 5, y1.shape, (float *)y.data + ff_tensor_numel(&y1), FF_LOC_HOST);
    FF_CHECK_MSG(ff_rel_l2(&y1, &ys) < 1e-6, "batch vs single %.3e", ff_rel_l2(&y1, &ys));

    /* hooks see 32 weights per block, attn2's image branch among them; copies change nothing */
    hook_state hs = {.names_ok = 1, .last_index = -1};
    ff_wandit_hooks hooks = {hook_before, hook_after, &hs};
    FF_REQUIRE_OK(ff_wandit_forward_host_image(m, be, &x, &t, &text, &img, &hooks, &yh, &err), &err);
    FF_CHECK(hs.before == 2 && hs.after == 2 && hs.n_params == 32 && hs.names_ok);
    FF_CHECK(ff_tensor_equal(&yh, &y));
    ff_param bp[FF_WANDIT_BLOCK_PARAMS_MAX];
    size_t nb = ff_wandit_block_params(&m->cfg, 1, &m->blocks[1], bp);
    int found = 0;
    for (size_t i = 0; i < nb; i++)
        found += !strcmp(bp[i].name, "blocks.1.attn2.norm_added_k.weight") && bp[i].slot == &m->blocks[1].attn2.norm_added_k &&
                 bp[i].block == 1;
    FF_CHECK(nb == 32 && found == 1);

    /* errors: no image for an I2V model, an image for a T2V one, a wrong batch */
    FF_CHECK(ff_wandit_forward_host(m, be, &x, &t, &text, NULL, &yb, &err) == FF_ERR_ARG);
    FF_CHECK(strstr(err.msg, "encoder_hidden_states_image") != NULL);
    FF_CHECK(ff_wandit_forward_host_image(m, be, &x, &t, &text, &img1, NULL, &yb, &err) == FF_ERR_SHAPE);
    {
        ff_tensor xt = {0}, tt = {0}, it = {0};
        FF_REQUIRE_OK(ff_tensor_allocv(&xt, FF_F32, &err, 5, 1LL, 3LL, 2LL, 2LL, 2LL), &err);
        FF_REQUIRE_OK(ff_tensor_allocv(&tt, FF_F32, &err, 3, 1LL, 4LL, 7LL), &err);
        FF_REQUIRE_OK(ff_tensor_allocv(&it, FF_F32, &err, 3, 1LL, 4LL, 10LL), &err);
        FF_CHECK(ff_wandit_forward_host_image(t2v, be, &xt, &t1, &tt, &it, NULL, &yb, &err) == FF_ERR_ARG);
        FF_CHECK(strstr(err.msg, "without an image branch") != NULL);
        ff_tensor_free(&xt), ff_tensor_free(&tt), ff_tensor_free(&it);
    }

    /* activation bytes: the image context and the embedder's two scratch buffers */
    {
        const int64_t xs[5] = {2, 3, 3, 4, 4};
        size_t b0, b4;
        FF_REQUIRE_OK(ff_wandit_activation_bytes(&m->cfg, xs, 5, 0, 0, &b0, &err), &err);
        FF_REQUIRE_OK(ff_wandit_activation_bytes_image(&m->cfg, xs, 5, 4, 0, 0, &b4, &err), &err);
        FF_CHECK(b4 == b0 + (size_t)(2 * 4 * 24 + 2 * (2 * 4 * 10)) * 4);
        FF_CHECK(ff_wandit_activation_bytes_image(&t2v->cfg, xs, 5, 4, 0, 0, &b4, &err) == FF_ERR_ARG);
    }
done:
    free(ref);
    ff_tensor *all[] = {&x, &text, &t, &img, &img2, &ctx, &y, &y2, &yh, &yb, &x1, &text1, &img1, &y1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ff_tensor_free(all[i]);
    ff_wandit_free(m);
    ff_wandit_free(t2v);
    ff_backend_free(be);
}

/* FLF2V: pos_embed_seq_len = 2T, two images per sample viewed as one
 * (B, 2T, image_dim) sequence plus pos_embed. */
static void test_image_pos_embed(void) {
    ff_err err = {0};
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_wandit_model *m = NULL;
    ff_tensor img = {0}, ctx = {0}, x = {0}, text = {0}, y = {0}, yb = {0};
    double *ref = NULL;
    if (tiny_i2v(6, &m, &err)) {
        FF_CHECK_OK(err.code, &err);
        goto done;
    }
    FF_CHECK(m->img_pos_embed.ndim == 3 && m->img_pos_embed.shape[1] == 6 && m->img_pos_embed.shape[2] == 10);
    FF_REQUIRE_OK(ff_tensor_allocv(&img, FF_F32, &err, 3, 4LL, 3LL, 10LL), &err); /* 2 samples x 2 images x 3 rows */
    ff_test_fill_uniform(&img, 31, -1, 1);
    int64_t rows;
    FF_REQUIRE_OK(ff_wandit_image_rows(&m->cfg, &img, 2, &rows, &err), &err);
    FF_CHECK(rows == 6);
    FF_REQUIRE_OK(embed_host(m, be, &img, 2, 6, &ctx, &err), &err);
    ref = malloc(sizeof *ref * 12 * 24);
    ref_image_embed(m, img.data, 12, ref);
    FF_CHECK_MSG(rel_to_ref(&ctx, ref) < 1e-5, "pos_embed image_embedder rel %.3e", rel_to_ref(&ctx, ref));
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 5, 2LL, 3LL, 1LL, 2LL, 2LL), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&text, FF_F32, &err, 3, 2LL, 3LL, 7LL), &err);
    int64_t tv = 500;
    ff_tensor t;
    int64_t ts[1] = {1};
    ff_tensor_view(&t, FF_I64, 1, ts, &tv, FF_LOC_HOST);
    FF_CHECK_OK(ff_wandit_forward_host_image(m, be, &x, &t, &text, &img, NULL, &y, &err), &err);
    /* one image per sample does not fit pos_embed_seq_len */
    ff_tensor half;
    int64_t hs[3] = {2, 3, 10};
    ff_tensor_view(&half, FF_F32, 3, hs, img.data, FF_LOC_HOST);
    FF_CHECK(ff_wandit_forward_host_image(m, be, &x, &t, &text, &half, NULL, &yb, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "two images per sample") != NULL);
done:
    free(ref);
    ff_tensor_free(&img), ff_tensor_free(&ctx), ff_tensor_free(&x), ff_tensor_free(&text), ff_tensor_free(&y);
    ff_tensor_free(&yb);
    ff_wandit_free(m);
    ff_backend_free(be);
}

int main(void) {
    FF_RUN(test_config_errors);
    FF_RUN(test_real_configs);
    FF_RUN(test_activation_bytes);
    FF_RUN(test_timestep_embedding);
    FF_RUN(test_rope_tables);
    FF_RUN(test_forward_random);
    FF_RUN(test_forward_no_norm2);
    FF_RUN(test_forward_image);
    FF_RUN(test_image_pos_embed);
    return ff_test_summary();
}
