/* tiny_model: writes a family's embedded smoke-test pipeline folder (see
 * tiny_model.h). Configs are written as JSON text first and read back with
 * the component classes' config readers, whose parameter lists then name and
 * shape every weight, so the folder can never disagree with the loaders. */
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
#include "pipeline/family.h"
#include "pipeline/tiny_model.h"

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

/* ---- the T5 tokenizer ------------------------------------------------------------- */

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

ff_status ff_tiny_t5_tokenizer_write(const char *dir, ff_err *err) {
    uint8_t *spm = NULL;
    size_t spm_n = 0;
    ff_status st;
    if ((st = write_text(dir, "tokenizer_config.json", tokenizer_config_json, err)) ||
        (st = write_text(dir, "special_tokens_map.json", special_tokens_json, err)) || (st = ff_tiny_spm_model(&spm, &spm_n, err)))
        return st;
    st = write_bytes(dir, "spiece.model", spm, spm_n, err);
    free(spm);
    return st;
}

/* ---- weights ----------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* torch randn scaled per kind of tensor: norm gains 1 + 0.1 n, biases 0.02 n,
 * tables 0.5 n / sqrt(last dim), embeddings n, matrices and kernels
 * n / sqrt(fan_in) (times `gain`). */
static ff_status random_param(ff_rng *g, const ff_param *p, float gain, ff_tensor *t, ff_err *err) {
    const char *name = p->name;
    const int ndim = p->ndim;
    const int64_t *shape = p->shape;
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

/* Draws every parameter of the component in dir (in its class's list order,
 * from one generator) and writes them as one safetensors file with
 * {"format": "pt"} metadata. The config is read back with the class's reader,
 * so the weights always fit what the loader expects. */
static ff_status component_weights(const ff_model_class *mc, const char *dir, uint64_t seed, ff_err *err) {
    char path[TINY_PATH];
    void *cfg = calloc(1, mc->config_size);
    ff_param *ps = NULL;
    size_t n = 0;
    ff_tensor *ts = NULL;
    ff_st_item *items = NULL;
    ff_status st;
    if (!cfg) return ff_err_set(err, FF_ERR_NOMEM, "tiny model: no memory");
    if ((st = path_join(path, sizeof path, dir, mc->weights_file, err)) || (st = mc->config_read(dir, cfg, err)) ||
        (st = mc->params(cfg, FF_F32, &ps, &n, err)))
        goto done;
    ts = calloc(n ? n : 1, sizeof *ts);
    items = calloc(n ? n : 1, sizeof *items);
    if (!ts || !items) {
        st = ff_err_set(err, FF_ERR_NOMEM, "tiny model: no memory for %zu tensors", n);
        goto done;
    }
    ff_rng g;
    ff_rng_seed(&g, seed);
    for (size_t i = 0; i < n && !st; i++) {
        st = random_param(&g, &ps[i], mc->init_gain ? mc->init_gain(cfg, &ps[i]) : 1.0f, &ts[i], err);
        items[i] = (ff_st_item){ps[i].name, &ts[i]};
    }
    const char *meta[2] = {"format", "pt"};
    if (!st) st = ff_st_write(path, items, n, meta, 1, err);
done:
    for (size_t i = 0; ts && i < n; i++) ff_tensor_free(&ts[i]);
    free(ts);
    free(items);
    free(ps);
    free(cfg);
    return st;
}

/* The family's tiny folder: scheduler, every component's config (and a
 * text encoder's tokenizer), then the weights (seed + 1, + 2, ... in
 * component order), model_index.json last: a folder with it is complete. */
static ff_status write_all(const ff_family *f, const char *dir, ff_err *err) {
    const ff_tiny_spec *t = f->tiny;
    char sub[TINY_PATH];
    ff_status st;
    if ((st = make_dir(dir, "scheduler", err)) || (st = write_text(dir, "scheduler/scheduler_config.json", t->scheduler_json, err)))
        return st;
    for (int i = 0; i < f->n_components; i++) {
        const ff_family_component *fc = &f->components[i];
        if (!t->component_json[i]) continue;
        if ((st = make_dir(dir, fc->name, err)) || (st = path_join(sub, sizeof sub, dir, fc->name, err)) ||
            (st = write_text(sub, "config.json", t->component_json[i], err)))
            return st;
        if (fc->tokenizer) {
            if (!fc->cls->tiny_tokenizer)
                return ff_err_set(err, FF_ERR_INTERNAL, "tiny model: %s has no tokenizer writer", fc->cls->class_name);
            if ((st = make_dir(dir, fc->tokenizer, err)) || (st = path_join(sub, sizeof sub, dir, fc->tokenizer, err)) ||
                (st = fc->cls->tiny_tokenizer(sub, err)))
                return st;
        }
    }
    uint64_t k = 0;
    for (int i = 0; i < f->n_components; i++) {
        if (!t->component_json[i]) continue;
        if ((st = path_join(sub, sizeof sub, dir, f->components[i].name, err)) ||
            (st = component_weights(f->components[i].cls, sub, t->seed + ++k, err)))
            return st;
    }
    return write_text(dir, "model_index.json", t->model_index_json, err);
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

int ff_tiny_model_current(const char *name, const char *dir) {
    const ff_family *f = ff_family_find_tiny(name);
    char path[TINY_PATH];
    if (!f || snprintf(path, sizeof path, "%s/model_index.json", dir) >= (int)sizeof path) return 0;
    ff_json_doc *doc = NULL;
    if (ff_json_parse_file(path, &doc, NULL) != FF_OK) return 0;
    int64_t v = -1;
    const char *cls = ff_json_get_string(ff_json_root(doc), "_class_name");
    int ok = !ff_json_get_int64(ff_json_root(doc), "_framefarm_tiny_version", -1, &v) && v == f->tiny->version && cls &&
             !strcmp(cls, f->class_name);
    ff_json_free(doc);
    return ok;
}

ff_status ff_tiny_model_create(const char *name, const char *dir, int replace, ff_err *err) {
    const ff_family *f = ff_family_find_tiny(name);
    if (!f) {
        char list[512];
        size_t k = 0;
        list[0] = 0;
        for (const ff_family *const *a = ff_family_all(); *a && k < sizeof list; a++)
            if ((*a)->tiny) k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", k ? ", " : "", (*a)->tiny->name);
        return ff_err_set(err, FF_ERR_ARG, "no embedded model named '%s' (the embedded ones: %s)", name, list);
    }
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
    if ((st = write_all(f, tmp, err))) {
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
        if (ff_tiny_model_current(name, target)) {
            if (moved_old) rm_tree(old);
            return FF_OK;
        }
        if (moved_old) (void)rename(old, target);
        return ff_err_set(err, FF_ERR_IO, "rename %s -> %s: %s", tmp, target, strerror(e));
    }
    if (moved_old) rm_tree(old);
    return FF_OK;
}

ff_status ff_tiny_model_ensure(const char *name, const char *dir, int *created, ff_err *err) {
    if (created) *created = 0;
    if (ff_tiny_model_current(name, dir)) return FF_OK;
    ff_status st = ff_tiny_model_create(name, dir, 1, err);
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
