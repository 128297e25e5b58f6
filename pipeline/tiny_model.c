/* tiny_model: writes the embedded smoke-test pipeline folder (see
 * tiny_model.h). Configs are written as JSON text first and read back with
 * the real config readers, whose parameter lists then name and shape every
 * weight, so the folder can never disagree with the loaders. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ff_json.h"
#include "core/ff_rng.h"
#include "core/ff_safetensors.h"
#include "models/umt5.h"
#include "models/umt5_params.h"
#include "models/wan_transformer.h"
#include "models/wan_vae.h"
#include "models/wan_vae_params.h"
#include "pipeline/tiny_model.h"

#define TINY_SEED 20250101u
#define TINY_PATH 4200

/* ---- the sentencepiece model ------------------------------------------------ */

/* Common English words of video prompts, most likely first. */
static const char *const tiny_words[] = {
    "the", "a", "and", "of", "in", "on", "with", "at", "to", "is", "an", "over", "under", "through", "from",
    "by", "into", "while", "as", "its", "their", "his", "her", "together", "cat", "dog", "bird", "horse", "fish",
    "man", "woman", "child", "people", "car", "boat", "train", "city", "street", "forest", "tree", "trees",
    "mountain", "river", "lake", "sea", "ocean", "wave", "waves", "beach", "sky", "sun", "moon", "night", "day",
    "morning", "sunset", "rain", "snow", "fog", "misty", "cloud", "clouds", "light", "dark", "red", "blue",
    "green", "yellow", "white", "black", "golden", "small", "large", "huge", "old", "young", "slow", "fast",
    "motion", "camera", "shot", "close", "up", "view", "walks", "runs", "flies", "swims", "rides", "dances",
    "plays", "eats", "jumps", "looks", "field", "flowers", "grass", "house", "kitchen", "room", "table",
    "window", "road", "bridge", "fire", "water", "ice", "stone", "video", "cinematic", "beautiful",
    "quality", "high", "low", "blurry", "static", "detailed", "realistic", "style", "scene", "background",
    "baking", "cake", "panda", "bamboo", "fireworks", "skyline", "surfer", "balloon", "hot", "air",
    "lavender", "plain", "stormy", "open", "across", "above", "rises", "explode", "gallop", "worst", "deformed",
};

/* Capitalised words that start sentences. */
static const char *const tiny_caps[] = {"A", "The", "An", "In", "On", "Two", "Close", "Slow", "Aerial"};

static const char *const tiny_suffixes[] = {"s", "ing", "ed", "ly", "er", "es"};

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int failed;
} pbuf;

static void pb_bytes(pbuf *b, const void *d, size_t n) {
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->n + n) nc *= 2;
        uint8_t *np = realloc(b->p, nc);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void pb_varint(pbuf *b, uint64_t v) {
    uint8_t tmp[10];
    size_t k = 0;
    do {
        tmp[k] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) tmp[k] |= 0x80;
        k++;
    } while (v);
    pb_bytes(b, tmp, k);
}

static void pb_key(pbuf *b, uint32_t field, int wire) { pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }

static void pb_len(pbuf *b, uint32_t field, const void *d, size_t n) {
    pb_key(b, field, 2);
    pb_varint(b, n);
    pb_bytes(b, d, n);
}

static void pb_int(pbuf *b, uint32_t field, int64_t v) {
    pb_key(b, field, 0);
    pb_varint(b, (uint64_t)v); /* negative int32 values: ten bytes, as protobuf writes them */
}

static void pb_float(pbuf *b, uint32_t field, float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    pb_key(b, field, 5);
    pb_bytes(b, le, 4);
}

/* The piece table: strings are kept to reject duplicates. */
typedef struct {
    char piece[400][48];
    float score[400];
    int type[400];
    int n;
} piece_table;

static void add_piece(piece_table *t, const char *s, float score, int type) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->piece[i], s)) return; /* first (more likely) entry wins */
    if (t->n >= 400 || strlen(s) >= sizeof t->piece[0]) return;
    snprintf(t->piece[t->n], sizeof t->piece[0], "%s", s);
    t->score[t->n] = score;
    t->type[t->n] = type;
    t->n++;
}

#define WB "\xe2\x96\x81" /* U+2581, sentencepiece's word boundary */

static void build_pieces(piece_table *t) {
    char buf[48];
    t->n = 0;
    add_piece(t, "<pad>", 0, 3); /* CONTROL */
    add_piece(t, "</s>", 0, 3);
    add_piece(t, "<s>", 0, 3);
    add_piece(t, "<unk>", 0, 2); /* UNKNOWN */
    for (size_t i = 0; i < sizeof tiny_words / sizeof tiny_words[0]; i++) {
        snprintf(buf, sizeof buf, WB "%s", tiny_words[i]);
        add_piece(t, buf, -3.0f - 0.01f * (float)i, 1);
    }
    for (size_t i = 0; i < sizeof tiny_caps / sizeof tiny_caps[0]; i++) {
        snprintf(buf, sizeof buf, WB "%s", tiny_caps[i]);
        add_piece(t, buf, -4.0f - 0.01f * (float)i, 1);
    }
    for (size_t i = 0; i < sizeof tiny_suffixes / sizeof tiny_suffixes[0]; i++)
        add_piece(t, tiny_suffixes[i], -6.0f - 0.01f * (float)i, 1);
    add_piece(t, WB, -7.0f, 1);
    for (int c = 33; c < 127; c++) { /* printable ASCII, with and without the word prefix */
        snprintf(buf, sizeof buf, WB "%c", c);
        add_piece(t, buf, -8.0f - 0.001f * (float)c, 1);
        snprintf(buf, sizeof buf, "%c", c);
        add_piece(t, buf, -9.0f - 0.001f * (float)c, 1);
    }
}

ff_status ff_tiny_spm_model(uint8_t **out, size_t *out_n, ff_err *err) {
    *out = NULL;
    *out_n = 0;
    piece_table *t = malloc(sizeof *t);
    if (!t) return ff_err_set(err, FF_ERR_NOMEM, "tiny model: no memory for the piece table");
    build_pieces(t);
    pbuf b = {0}, sub = {0};
    for (int i = 0; i < t->n; i++) { /* ModelProto.pieces = 1: piece 1, score 2, type 3 */
        sub.n = 0;
        pb_len(&sub, 1, t->piece[i], strlen(t->piece[i]));
        pb_float(&sub, 2, t->score[i]);
        pb_int(&sub, 3, t->type[i]);
        pb_len(&b, 1, sub.p, sub.n);
    }
    /* trainer_spec = 2: model_type UNIGRAM, vocab_size, ids and pieces of the specials */
    sub.n = 0;
    pb_int(&sub, 3, 1);
    pb_int(&sub, 4, t->n);
    pb_int(&sub, 40, 3); /* unk_id */
    pb_int(&sub, 41, 2); /* bos_id */
    pb_int(&sub, 42, 1); /* eos_id */
    pb_int(&sub, 43, 0); /* pad_id */
    pb_len(&sub, 45, "<unk>", 5);
    pb_len(&sub, 46, "<s>", 3);
    pb_len(&sub, 47, "</s>", 4);
    pb_len(&sub, 48, "<pad>", 5);
    pb_len(&b, 2, sub.p, sub.n);
    /* normalizer_spec = 3: identity (no charsmap), dummy prefix, whitespace handling */
    sub.n = 0;
    pb_len(&sub, 1, "identity", 8);
    pb_int(&sub, 3, 1);
    pb_int(&sub, 4, 1);
    pb_int(&sub, 5, 1);
    pb_len(&b, 3, sub.p, sub.n);
    free(sub.p);
    free(t);
    if (b.failed || sub.failed) {
        free(b.p);
        return ff_err_set(err, FF_ERR_NOMEM, "tiny model: no memory for spiece.model");
    }
    *out = b.p;
    *out_n = b.n;
    return FF_OK;
}

/* ---- files --------------------------------------------------------------------- */

static ff_status path_join(char *buf, size_t n, const char *dir, const char *rel, ff_err *err) {
    int k = snprintf(buf, n, "%s/%s", dir, rel);
    if (k < 0 || (size_t)k >= n) return ff_err_set(err, FF_ERR_ARG, "path too long: %s/%s", dir, rel);
    return FF_OK;
}

static ff_status write_bytes(const char *dir, const char *rel, const void *d, size_t n, ff_err *err) {
    char path[TINY_PATH];
    ff_status st = path_join(path, sizeof path, dir, rel, err);
    if (st) return st;
    FILE *f = fopen(path, "wb");
    if (!f) return ff_err_set(err, FF_ERR_IO, "%s: %s", path, strerror(errno));
    int ok = fwrite(d, 1, n, f) == n;
    ok &= fclose(f) == 0;
    return ok ? FF_OK : ff_err_set(err, FF_ERR_IO, "%s: write failed", path);
}

static ff_status write_text(const char *dir, const char *rel, const char *text, ff_err *err) {
    return write_bytes(dir, rel, text, strlen(text), err);
}

static ff_status make_dir(const char *dir, const char *rel, ff_err *err) {
    char path[TINY_PATH];
    ff_status st = path_join(path, sizeof path, dir, rel, err);
    if (st) return st;
    if (mkdir(path, 0755) && errno != EEXIST) return ff_err_set(err, FF_ERR_IO, "mkdir %s: %s", path, strerror(errno));
    return FF_OK;
}

/* mkdir -p of every parent of path (not path itself). */
static ff_status make_parents(const char *path, ff_err *err) {
    char buf[TINY_PATH];
    if (strlen(path) >= sizeof buf) return ff_err_set(err, FF_ERR_ARG, "path too long: %s", path);
    strcpy(buf, path);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(buf, 0755) && errno != EEXIST) {
            ff_status st = ff_err_set(err, FF_ERR_IO, "mkdir %s: %s", buf, strerror(errno));
            return st;
        }
        *s = '/';
    }
    return FF_OK;
}

/* ---- configs --------------------------------------------------------------------- */

static const char *const model_index_json =
    "{\n"
    "  \"_class_name\": \"WanPipeline\",\n"
    "  \"_diffusers_version\": \"0.35.0\",\n"
    "  \"_framefarm_model\": \"tiny smoke-test model: seeded random weights, its videos are noise-like\",\n"
    "  \"_framefarm_tiny_version\": 1,\n"
    "  \"_framefarm_defaults\": {\"height\": 128, \"width\": 128, \"num_frames\": 17, \"num_inference_steps\": 10,\n"
    "    \"guidance_scale\": 5.0, \"fps\": 16, \"tile_sample_min_height\": 64, \"tile_sample_min_width\": 64,\n"
    "    \"tile_sample_stride_height\": 48, \"tile_sample_stride_width\": 48},\n"
    "  \"boundary_ratio\": null,\n"
    "  \"expand_timesteps\": false,\n"
    "  \"scheduler\": [\"diffusers\", \"UniPCMultistepScheduler\"],\n"
    "  \"text_encoder\": [\"transformers\", \"UMT5EncoderModel\"],\n"
    "  \"tokenizer\": [\"transformers\", \"T5Tokenizer\"],\n"
    "  \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"],\n"
    "  \"transformer_2\": [null, null],\n"
    "  \"vae\": [\"diffusers\", \"AutoencoderKLWan\"]\n"
    "}\n";

static const char *const scheduler_json =
    "{\n"
    "  \"_class_name\": \"UniPCMultistepScheduler\",\n"
    "  \"_diffusers_version\": \"0.35.0\",\n"
    "  \"beta_end\": 0.02, \"beta_schedule\": \"linear\", \"beta_start\": 0.0001, \"disable_corrector\": [],\n"
    "  \"dynamic_thresholding_ratio\": 0.995, \"final_sigmas_type\": \"zero\", \"flow_shift\": 3.0,\n"
    "  \"lower_order_final\": true, \"num_train_timesteps\": 1000, \"predict_x0\": true,\n"
    "  \"prediction_type\": \"flow_prediction\", \"rescale_betas_zero_snr\": false, \"sample_max_value\": 1.0,\n"
    "  \"solver_order\": 2, \"solver_p\": null, \"solver_type\": \"bh2\", \"steps_offset\": 0, \"thresholding\": false,\n"
    "  \"timestep_spacing\": \"linspace\", \"trained_betas\": null, \"use_beta_sigmas\": false,\n"
    "  \"use_dynamic_shifting\": false, \"use_exponential_sigmas\": false, \"use_flow_sigmas\": true,\n"
    "  \"use_karras_sigmas\": false\n"
    "}\n";

static const char *const tokenizer_config_json =
    "{\n"
    "  \"add_prefix_space\": true,\n"
    "  \"added_tokens_decoder\": {\n"
    "    \"0\": {\"content\": \"<pad>\", \"lstrip\": false, \"normalized\": false, \"rstrip\": false, \"single_word\": false, \"special\": true},\n"
    "    \"1\": {\"content\": \"</s>\", \"lstrip\": false, \"normalized\": false, \"rstrip\": false, \"single_word\": false, \"special\": true},\n"
    "    \"3\": {\"content\": \"<unk>\", \"lstrip\": false, \"normalized\": false, \"rstrip\": false, \"single_word\": false, \"special\": true}\n"
    "  },\n"
    "  \"additional_special_tokens\": [],\n"
    "  \"clean_up_tokenization_spaces\": false,\n"
    "  \"eos_token\": \"</s>\",\n"
    "  \"extra_ids\": 0,\n"
    "  \"legacy\": true,\n"
    "  \"model_max_length\": 512,\n"
    "  \"pad_token\": \"<pad>\",\n"
    "  \"sp_model_kwargs\": {},\n"
    "  \"tokenizer_class\": \"T5Tokenizer\",\n"
    "  \"unk_token\": \"<unk>\"\n"
    "}\n";

static const char *const special_tokens_json =
    "{\n"
    "  \"eos_token\": {\"content\": \"</s>\", \"lstrip\": false, \"normalized\": false, \"rstrip\": false, \"single_word\": false},\n"
    "  \"pad_token\": {\"content\": \"<pad>\", \"lstrip\": false, \"normalized\": false, \"rstrip\": false, \"single_word\": false},\n"
    "  \"unk_token\": {\"content\": \"<unk>\", \"lstrip\": false, \"normalized\": false, \"rstrip\": false, \"single_word\": false}\n"
    "}\n";

/* vocab_size (embedding rows) is above the tokenizer's length, as in umt5-xxl. */
static const char *const text_encoder_json =
    "{\n"
    "  \"architectures\": [\"UMT5EncoderModel\"], \"classifier_dropout\": 0.0, \"d_ff\": 64, \"d_kv\": 8,\n"
    "  \"d_model\": 32, \"decoder_start_token_id\": 0, \"dense_act_fn\": \"gelu_new\", \"dropout_rate\": 0.1,\n"
    "  \"dtype\": \"float32\", \"eos_token_id\": 1, \"feed_forward_proj\": \"gated-gelu\", \"initializer_factor\": 1.0,\n"
    "  \"is_encoder_decoder\": true, \"is_gated_act\": true, \"layer_norm_epsilon\": 1e-06, \"model_type\": \"umt5\",\n"
    "  \"num_decoder_layers\": 2, \"num_heads\": 4, \"num_layers\": 2, \"pad_token_id\": 0,\n"
    "  \"relative_attention_max_distance\": 128, \"relative_attention_num_buckets\": 32, \"scalable_attention\": true,\n"
    "  \"tie_word_embeddings\": false, \"tokenizer_class\": \"T5Tokenizer\", \"use_cache\": true, \"vocab_size\": 384\n"
    "}\n";

static const char *const transformer_json =
    "{\n"
    "  \"_class_name\": \"WanTransformer3DModel\", \"_diffusers_version\": \"0.35.0\", \"added_kv_proj_dim\": null,\n"
    "  \"attention_head_dim\": 16, \"cross_attn_norm\": true, \"eps\": 1e-06, \"ffn_dim\": 64, \"freq_dim\": 256,\n"
    "  \"image_dim\": null, \"in_channels\": 4, \"num_attention_heads\": 2, \"num_layers\": 2, \"out_channels\": 4,\n"
    "  \"patch_size\": [1, 2, 2], \"pos_embed_seq_len\": null, \"qk_norm\": \"rms_norm_across_heads\",\n"
    "  \"rope_max_seq_len\": 1024, \"text_dim\": 32\n"
    "}\n";

static const char *const vae_json =
    "{\n"
    "  \"_class_name\": \"AutoencoderKLWan\", \"_diffusers_version\": \"0.35.0\", \"attn_scales\": [], \"base_dim\": 8,\n"
    "  \"decoder_base_dim\": null, \"dim_mult\": [1, 2, 4, 4], \"dropout\": 0.0, \"in_channels\": 3,\n"
    "  \"is_residual\": false, \"latents_mean\": [-0.31, 0.12, 0.47, -0.08], \"latents_std\": [1.9, 0.8, 1.3, 2.4],\n"
    "  \"num_res_blocks\": 2, \"out_channels\": 3, \"patch_size\": null, \"scale_factor_spatial\": 8,\n"
    "  \"scale_factor_temporal\": 4, \"temperal_downsample\": [false, true, true], \"z_dim\": 4\n"
    "}\n";

/* ---- weights ----------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* torch randn scaled per kind of tensor: norm gains 1 + 0.1 n, biases 0.02 n,
 * tables 0.5 n / sqrt(last dim), embeddings n, matrices and kernels
 * n / sqrt(fan_in) (times `gain`). */
static ff_status random_param(ff_rng *g, const char *name, int ndim, const int64_t *shape, float gain, ff_tensor *t,
                              ff_err *err) {
    ff_status st = ff_tensor_alloc(t, FF_F32, ndim, shape, err);
    if (st) return st;
    int64_t n = ff_tensor_numel(t);
    float *d = t->data;
    ff_rng_randn(g, d, (size_t)n);
    int is_gain = ends_with(name, ".gamma") || (strstr(name, "norm") && ends_with(name, ".weight"));
    float fan_in = 1;
    for (int i = 1; i < ndim; i++) fan_in *= (float)shape[i];
    float scale, offset = 0;
    if (is_gain) scale = 0.1f, offset = 1.0f;
    else if (ends_with(name, ".bias")) scale = 0.02f;
    else if (strstr(name, "scale_shift_table") || strstr(name, "relative_attention_bias"))
        scale = 0.5f / sqrtf((float)shape[ndim - 1]);
    else if (!strcmp(name, "shared.weight")) scale = 1.0f;
    else scale = gain / sqrtf(fan_in);
    for (int64_t k = 0; k < n; k++) d[k] = offset + scale * d[k];
    return FF_OK;
}

typedef struct {
    char name[128];
    int ndim;
    int64_t shape[FF_MAX_DIMS];
    float gain;
} wspec;

/* Draws every tensor of specs (in order, from one generator) and writes them
 * as one safetensors file with {"format": "pt"} metadata. */
static ff_status write_weights(const char *path, const wspec *specs, size_t n, uint64_t seed, ff_err *err) {
    ff_tensor *ts = calloc(n ? n : 1, sizeof *ts);
    ff_st_item *items = calloc(n ? n : 1, sizeof *items);
    ff_status st = FF_OK;
    if (!ts || !items) {
        st = ff_err_set(err, FF_ERR_NOMEM, "tiny model: no memory for %zu tensors", n);
        goto done;
    }
    ff_rng g;
    ff_rng_seed(&g, seed);
    for (size_t i = 0; i < n && !st; i++) {
        st = random_param(&g, specs[i].name, specs[i].ndim, specs[i].shape, specs[i].gain, &ts[i], err);
        items[i] = (ff_st_item){specs[i].name, &ts[i]};
    }
    const char *meta[2] = {"format", "pt"};
    if (!st) st = ff_st_write(path, items, n, meta, 1, err);
done:
    for (size_t i = 0; ts && i < n; i++) ff_tensor_free(&ts[i]);
    free(ts);
    free(items);
    return st;
}

static ff_status text_encoder_weights(const char *dir, ff_err *err) {
    char cfg_path[TINY_PATH], path[TINY_PATH];
    ff_umt5_config cfg;
    ff_param *ps = NULL;
    wspec *sp = NULL;
    size_t n = 0;
    ff_status st;
    if ((st = path_join(cfg_path, sizeof cfg_path, dir, "text_encoder/config.json", err)) ||
        (st = path_join(path, sizeof path, dir, "text_encoder/model.safetensors", err)) ||
        (st = ff_umt5_config_read(cfg_path, &cfg, err)) || (st = ff_umt5_params(&cfg, &ps, &n, err)))
        return st;
    if (!(sp = calloc(n, sizeof *sp))) {
        free(ps);
        return ff_err_set(err, FF_ERR_NOMEM, "tiny model: no memory");
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(sp[i].name, sizeof sp[i].name, "%s", ps[i].name);
        sp[i].ndim = ps[i].ndim;
        sp[i].shape[0] = ps[i].shape[0];
        sp[i].shape[1] = ps[i].shape[1];
        /* T5 has no 1/sqrt(d_kv) in attention: q carries it, as in T5's init */
        sp[i].gain = strstr(ps[i].name, ".q.weight") ? 1.0f / sqrtf((float)cfg.d_kv) : 1.0f;
    }
    st = write_weights(path, sp, n, TINY_SEED + 1, err);
    free(sp);
    free(ps);
    return st;
}

static ff_status transformer_weights(const char *dir, ff_err *err) {
    char cfg_path[TINY_PATH], path[TINY_PATH];
    ff_wandit_config cfg;
    ff_param *ps = NULL;
    wspec *sp = NULL;
    size_t n = 0;
    ff_status st;
    if ((st = path_join(cfg_path, sizeof cfg_path, dir, "transformer/config.json", err)) ||
        (st = path_join(path, sizeof path, dir, "transformer/diffusion_pytorch_model.safetensors", err)) ||
        (st = ff_wandit_config_load(cfg_path, &cfg, err)) || (st = ff_wandit_params(&cfg, NULL, &ps, &n, err)))
        return st;
    if (!(sp = calloc(n, sizeof *sp))) {
        free(ps);
        return ff_err_set(err, FF_ERR_NOMEM, "tiny model: no memory");
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(sp[i].name, sizeof sp[i].name, "%s", ps[i].name);
        sp[i].ndim = ps[i].ndim;
        memcpy(sp[i].shape, ps[i].shape, sizeof sp[i].shape);
        sp[i].gain = 1.0f;
    }
    st = write_weights(path, sp, n, TINY_SEED + 2, err);
    free(sp);
    free(ps);
    return st;
}

static ff_status vae_weights(const char *dir, ff_err *err) {
    char cfg_path[TINY_PATH], path[TINY_PATH];
    ff_wanvae_config cfg;
    ff_param *ps = NULL;
    wspec *sp = NULL;
    size_t n = 0;
    ff_status st;
    if ((st = path_join(cfg_path, sizeof cfg_path, dir, "vae/config.json", err)) ||
        (st = path_join(path, sizeof path, dir, "vae/diffusion_pytorch_model.safetensors", err)) ||
        (st = ff_wanvae_config_load(cfg_path, &cfg, err)) || (st = ff_wanvae_params(&cfg, &ps, &n, err)))
        return st;
    if (!(sp = calloc(n, sizeof *sp))) {
        free(ps);
        return ff_err_set(err, FF_ERR_NOMEM, "tiny model: no memory");
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(sp[i].name, sizeof sp[i].name, "%s", ps[i].name);
        sp[i].ndim = ps[i].ndim;
        memcpy(sp[i].shape, ps[i].shape, sizeof sp[i].shape);
        /* a decoded picture that uses the [-1, 1] range without saturating */
        sp[i].gain = !strcmp(ps[i].name, "decoder.conv_out.weight") ? 0.5f : 1.0f;
    }
    st = write_weights(path, sp, n, TINY_SEED + 3, err);
    free(sp);
    free(ps);
    return st;
}

static ff_status write_all(const char *dir, ff_err *err) {
    uint8_t *spm = NULL;
    size_t spm_n = 0;
    ff_status st;
    const char *subdirs[] = {"scheduler", "tokenizer", "text_encoder", "transformer", "vae"};
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++)
        if ((st = make_dir(dir, subdirs[i], err))) return st;
    if ((st = write_text(dir, "scheduler/scheduler_config.json", scheduler_json, err)) ||
        (st = write_text(dir, "tokenizer/tokenizer_config.json", tokenizer_config_json, err)) ||
        (st = write_text(dir, "tokenizer/special_tokens_map.json", special_tokens_json, err)) ||
        (st = write_text(dir, "text_encoder/config.json", text_encoder_json, err)) ||
        (st = write_text(dir, "transformer/config.json", transformer_json, err)) ||
        (st = write_text(dir, "vae/config.json", vae_json, err)))
        return st;
    if ((st = ff_tiny_spm_model(&spm, &spm_n, err))) return st;
    st = write_bytes(dir, "tokenizer/spiece.model", spm, spm_n, err);
    free(spm);
    if (st || (st = text_encoder_weights(dir, err)) || (st = transformer_weights(dir, err)) || (st = vae_weights(dir, err)))
        return st;
    /* last: a folder with model_index.json is complete */
    return write_text(dir, "model_index.json", model_index_json, err);
}

/* ---- the folder ---------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *path) { (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* 0: absent; 1: an empty folder; 2: a framefarm tiny model (any version); 3: something else. */
static int classify(const char *dir) {
    struct stat sb;
    if (stat(dir, &sb)) return 0;
    if (!S_ISDIR(sb.st_mode)) return 3;
    char path[TINY_PATH];
    if (snprintf(path, sizeof path, "%s/model_index.json", dir) >= (int)sizeof path) return 3;
    ff_json_doc *doc = NULL;
    if (ff_json_parse_file(path, &doc, NULL) == FF_OK) {
        int tiny = ff_json_get(ff_json_root(doc), "_framefarm_tiny_version") != NULL;
        ff_json_free(doc);
        return tiny ? 2 : 3;
    }
    DIR *d = opendir(dir);
    if (!d) return 3;
    int empty = 1;
    struct dirent *de;
    while (empty && (de = readdir(d))) empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    closedir(d);
    return empty ? 1 : 3;
}

int ff_tiny_model_current(const char *dir) {
    char path[TINY_PATH];
    if (snprintf(path, sizeof path, "%s/model_index.json", dir) >= (int)sizeof path) return 0;
    ff_json_doc *doc = NULL;
    if (ff_json_parse_file(path, &doc, NULL) != FF_OK) return 0;
    int64_t v = -1;
    int ok = !ff_json_get_int64(ff_json_root(doc), "_framefarm_tiny_version", -1, &v) && v == FF_TINY_MODEL_VERSION;
    ff_json_free(doc);
    return ok;
}

ff_status ff_tiny_model_create(const char *dir, int replace, ff_err *err) {
    char tmp[TINY_PATH], old[TINY_PATH];
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--; /* "DIR/" names DIR */
    if (!len) return ff_err_set(err, FF_ERR_ARG, "tiny model: empty folder name");
    if (snprintf(tmp, sizeof tmp, "%.*s.tmp.%ld", (int)len, dir, (long)getpid()) >= (int)sizeof tmp ||
        snprintf(old, sizeof old, "%.*s.old.%ld", (int)len, dir, (long)getpid()) >= (int)sizeof old)
        return ff_err_set(err, FF_ERR_ARG, "path too long: %s", dir);
    char target[TINY_PATH];
    snprintf(target, sizeof target, "%.*s", (int)len, dir);
    int kind = classify(target);
    if (kind == 3) return ff_err_set(err, FF_ERR_ARG, "%s exists and is not an empty folder or a framefarm tiny model; not replacing it", target);
    if (kind == 2 && !replace)
        return ff_err_set(err, FF_ERR_ARG, "%s already holds a framefarm tiny model (use --force to rewrite it)", target);
    ff_status st = make_parents(target, err);
    if (st) return st;
    rm_tree(tmp);
    if (mkdir(tmp, 0755)) return ff_err_set(err, FF_ERR_IO, "mkdir %s: %s", tmp, strerror(errno));
    if ((st = write_all(tmp, err))) {
        rm_tree(tmp);
        return st;
    }
    int moved_old = 0;
    if (kind == 2) {
        if (rename(target, old)) {
            st = ff_err_set(err, FF_ERR_IO, "rename %s: %s", target, strerror(errno));
            rm_tree(tmp);
            return st;
        }
        moved_old = 1;
    }
    if (rename(tmp, target)) { /* an empty folder is replaced; a concurrent writer may have won */
        int e = errno;
        rm_tree(tmp);
        if (ff_tiny_model_current(target)) {
            if (moved_old) rm_tree(old);
            return FF_OK;
        }
        if (moved_old) (void)rename(old, target);
        return ff_err_set(err, FF_ERR_IO, "rename %s -> %s: %s", tmp, target, strerror(e));
    }
    if (moved_old) rm_tree(old);
    return FF_OK;
}

ff_status ff_tiny_model_ensure(const char *dir, int *created, ff_err *err) {
    if (created) *created = 0;
    if (ff_tiny_model_current(dir)) return FF_OK;
    ff_status st = ff_tiny_model_create(dir, 1, err);
    if (!st && created) *created = 1;
    return st;
}

ff_status ff_tiny_model_default_dir(char *buf, size_t n, ff_err *err) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int k;
    if (xdg && xdg[0] == '/') k = snprintf(buf, n, "%s/framefarm/tiny", xdg);
    else if (home && home[0]) k = snprintf(buf, n, "%s/.cache/framefarm/tiny", home);
    else return ff_err_set(err, FF_ERR_NOT_FOUND, "neither XDG_CACHE_HOME nor HOME is set: pass --model DIR");
    if (k < 0 || (size_t)k >= n) return ff_err_set(err, FF_ERR_ARG, "default model path too long");
    return FF_OK;
}
