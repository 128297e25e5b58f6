/* Unit tests of core/ff_model_dir: the golden tiny pipelines (when
 * $FF_GOLDEN is present: components, null components, configs, scalar
 * options, weights), a sharded component written here (index.json + two
 * shards), how weights files are picked in a folder, and the errors for
 * missing files, broken indexes and shard paths that leave the folder. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ff_model_dir.h"
#include "tests/common/ff_test.h"

/* ---- helpers ----------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* A fresh, empty scratch folder $FF_TEST_TMP/<name>; returns buf. */
static const char *fresh_dir(const char *name, char *buf, size_t n) {
    ff_test_tmp_path(name, buf, n);
    nftw(buf, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (mkdir(buf, 0755) != 0) {
        perror(buf);
        exit(1);
    }
    return buf;
}

static void mkdirf(const char *dir, const char *sub) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        perror(p);
        exit(1);
    }
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

/* Writes dir/name with F32 tensors names[i] of shape [i + 1] filled with
 * value base + i. */
static void write_shard(const char *dir, const char *name, const char *const *names, int n, float base) {
    ff_err err = {0};
    ff_tensor t[8];
    ff_st_item items[8];
    for (int i = 0; i < n; i++) {
        if (ff_tensor_allocv(&t[i], FF_F32, &err, 1, (int64_t)i + 1)) exit(1);
        for (int k = 0; k <= i; k++) ((float *)t[i].data)[k] = base + (float)i;
        items[i] = (ff_st_item){names[i], &t[i]};
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (ff_st_write(p, items, (size_t)n, NULL, 0, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    for (int i = 0; i < n; i++) ff_tensor_free(&t[i]);
}

#define CHECK_ERR(expr, code, ...)                                                                         \
    do {                                                                                                   \
        ff_err e__ = {0};                                                                                  \
        ff_err *err_ = &e__;                                                                               \
        (void)err_;                                                                                        \
        ff_status s__ = (expr);                                                                            \
        FF_CHECK_MSG(s__ == (code), "%s -> %s, want %s (%s)", #expr, ff_status_name(s__), ff_status_name(code), \
                     e__.msg);                                                                             \
        const char *const needles__[] = {__VA_ARGS__, NULL};                                               \
        for (const char *const *nd = needles__; *nd; nd++)                                                 \
            FF_CHECK_MSG(strstr(e__.msg, *nd) != NULL, "message lacks \"%s\": %s", *nd, e__.msg);          \
        if (getenv("FF_TEST_VERBOSE")) fprintf(stderr, "  [%s] %s\n", ff_status_name(s__), e__.msg);       \
    } while (0)

static const char *golden_pipeline(const char *name, char *buf, size_t n) {
    const char *root = getenv("FF_GOLDEN");
    struct stat sb;
    if (!root) return NULL;
    snprintf(buf, n, "%s/pipelines/%s", root, name);
    return stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode) ? buf : NULL;
}

/* ---- golden pipelines ---------------------------------------------------- */

static void test_golden_wan21(void) {
    char path[1024];
    if (!golden_pipeline("tiny-wan21", path, sizeof path)) {
        fprintf(stderr, "  (golden tiny-wan21 absent: skipped)\n");
        return;
    }
    ff_err err = {0};
    ff_model_dir *md;
    FF_REQUIRE_OK(ff_model_dir_open(path, &md, &err), &err);
    FF_CHECK(strcmp(ff_model_dir_class(md), "WanPipeline") == 0);
    FF_CHECK(strcmp(ff_model_dir_path(md), path) == 0);
    const char *want[] = {"scheduler", "text_encoder", "tokenizer", "transformer", "vae"};
    FF_CHECK(ff_model_dir_component_count(md) == 5);
    for (size_t i = 0; i < 5; i++) {
        FF_CHECK(ff_model_dir_component_name(md, i) && strcmp(ff_model_dir_component_name(md, i), want[i]) == 0);
        FF_CHECK(ff_model_dir_has(md, want[i]));
    }
    FF_CHECK(ff_model_dir_component_name(md, 5) == NULL);
    FF_CHECK(!ff_model_dir_has(md, "transformer_2") && !ff_model_dir_has(md, "boundary_ratio"));
    const char *lib, *cls;
    FF_CHECK_OK(ff_model_dir_component(md, "vae", &lib, &cls, &err), &err);
    FF_CHECK(strcmp(lib, "diffusers") == 0 && strcmp(cls, "AutoencoderKLWan") == 0);
    FF_CHECK_OK(ff_model_dir_component(md, "text_encoder", &lib, NULL, &err), &err);
    FF_CHECK(strcmp(lib, "transformers") == 0);
    CHECK_ERR(ff_model_dir_component(md, "transformer_2", &lib, &cls, err_), FF_ERR_NOT_FOUND, "transformer_2",
              "null", "model_index.json");
    CHECK_ERR(ff_model_dir_component(md, "controlnet", NULL, NULL, err_), FF_ERR_NOT_FOUND, "controlnet");
    CHECK_ERR(ff_model_dir_component(md, "boundary_ratio", NULL, NULL, err_), FF_ERR_NOT_FOUND, "not a component");
    /* scalar options */
    const ff_json *idx = ff_model_dir_index(md);
    double br;
    int expand;
    FF_CHECK(ff_json_get_double(idx, "boundary_ratio", -1, &br) == 0 && br == -1); /* null */
    FF_CHECK(ff_json_get_bool(idx, "expand_timesteps", 1, &expand) == 0 && expand == 0);
    /* configs */
    ff_json_doc *cfg;
    FF_REQUIRE_OK(ff_component_config(md, "vae", &cfg, &err), &err);
    int64_t z;
    FF_CHECK(ff_json_get_int64(ff_json_root(cfg), "z_dim", 0, &z) == 0 && z == 4);
    ff_json_free(cfg);
    FF_REQUIRE_OK(ff_component_config(md, "scheduler", &cfg, &err), &err); /* scheduler_config.json */
    double shift;
    FF_CHECK(ff_json_get_double(ff_json_root(cfg), "flow_shift", 0, &shift) == 0 && shift == 3.0);
    FF_CHECK(strcmp(ff_json_get_string(ff_json_root(cfg), "_class_name"), "UniPCMultistepScheduler") == 0);
    ff_json_free(cfg);
    CHECK_ERR(ff_component_config(md, "tokenizer", &cfg, err_), FF_ERR_NOT_FOUND, "tokenizer", "config.json");
    CHECK_ERR(ff_component_config(md, "transformer_2", &cfg, err_), FF_ERR_NOT_FOUND, "transformer_2");
    char dir[1024];
    FF_CHECK_OK(ff_model_dir_component_dir(md, "vae", dir, sizeof dir, &err), &err);
    FF_CHECK(strstr(dir, "tiny-wan21/vae") != NULL);
    char tiny[8];
    CHECK_ERR(ff_model_dir_component_dir(md, "vae", tiny, sizeof tiny, err_), FF_ERR_ARG, "vae");

    /* weights */
    ff_weights *w;
    FF_REQUIRE_OK(ff_model_dir_weights(md, "vae", &w, &err), &err);
    FF_CHECK(ff_weights_index_path(w) == NULL && ff_weights_shard_count(w) == 1);
    FF_CHECK(strstr(ff_st_path(ff_weights_shard(w, 0)), "diffusion_pytorch_model.safetensors") != NULL);
    FF_CHECK(ff_weights_count(w) > 100);
    const ff_st_file *sf;
    const ff_st_entry *e;
    FF_CHECK_OK(ff_weights_find(w, "decoder.conv_in.bias", &sf, &e, &err), &err);
    FF_CHECK(e && e->dtype == FF_F32 && e->shape[0] == 32 && sf == ff_weights_shard(w, 0));
    ff_tensor t;
    FF_CHECK_OK(ff_weights_load(w, "decoder.conv_in.bias", FF_F32, &t, &err), &err);
    FF_CHECK(t.owns && ff_tensor_numel(&t) == 32 && isfinite(((float *)t.data)[0]));
    ff_tensor_free(&t);
    FF_CHECK(ff_weights_has(w, "decoder.conv_in.weight") && !ff_weights_has(w, "decoder.conv_in"));
    CHECK_ERR(ff_weights_find(w, "decoder.nope", NULL, NULL, err_), FF_ERR_NOT_FOUND, "decoder.nope",
              "diffusion_pytorch_model.safetensors");
    CHECK_ERR(ff_weights_load(w, "decoder.nope", FF_F32, &t, err_), FF_ERR_NOT_FOUND, "decoder.nope");
    for (size_t i = 1; i < ff_weights_count(w); i++)
        FF_CHECK(strcmp(ff_weights_at(w, i - 1, NULL)->name, ff_weights_at(w, i, NULL)->name) < 0);
    FF_CHECK(ff_weights_at(w, ff_weights_count(w), NULL) == NULL);
    ff_weights_free(w);
    FF_REQUIRE_OK(ff_model_dir_weights(md, "text_encoder", &w, &err), &err); /* model.safetensors */
    FF_CHECK(strstr(ff_st_path(ff_weights_shard(w, 0)), "model.safetensors") != NULL);
    FF_CHECK(ff_weights_count(w) > 10);
    ff_weights_free(w);
    CHECK_ERR(ff_model_dir_weights(md, "tokenizer", &w, err_), FF_ERR_NOT_FOUND, "tokenizer", ".safetensors");
    CHECK_ERR(ff_model_dir_weights(md, "transformer_2", &w, err_), FF_ERR_NOT_FOUND, "transformer_2");
    ff_model_dir_close(md);
}

static void test_golden_wan22(void) {
    char path[1024];
    if (!golden_pipeline("tiny-wan22-a14b", path, sizeof path)) {
        fprintf(stderr, "  (golden tiny-wan22-a14b absent: skipped)\n");
        return;
    }
    ff_err err = {0};
    ff_model_dir *md;
    FF_REQUIRE_OK(ff_model_dir_open(path, &md, &err), &err);
    FF_CHECK(ff_model_dir_component_count(md) == 6 && ff_model_dir_has(md, "transformer_2"));
    const char *cls;
    FF_CHECK_OK(ff_model_dir_component(md, "transformer_2", NULL, &cls, &err), &err);
    FF_CHECK(strcmp(cls, "WanTransformer3DModel") == 0);
    double br;
    FF_CHECK(ff_json_get_double(ff_model_dir_index(md), "boundary_ratio", 0, &br) == 0 && br == 0.875);
    ff_json_doc *cfg;
    FF_REQUIRE_OK(ff_component_config(md, "transformer_2", &cfg, &err), &err);
    int64_t layers;
    FF_CHECK(ff_json_get_int64(ff_json_root(cfg), "num_layers", 0, &layers) == 0 && layers == 2);
    ff_json_free(cfg);
    ff_weights *w1, *w2;
    FF_REQUIRE_OK(ff_model_dir_weights(md, "transformer", &w1, &err), &err);
    FF_REQUIRE_OK(ff_model_dir_weights(md, "transformer_2", &w2, &err), &err);
    ff_model_dir_close(md); /* weights outlive the folder handle */
    FF_CHECK(ff_weights_count(w1) == ff_weights_count(w2) && ff_weights_count(w1) > 0);
    for (size_t i = 0; i < ff_weights_count(w1); i++) {
        const ff_st_entry *a = ff_weights_at(w1, i, NULL), *b = ff_weights_at(w2, i, NULL);
        FF_CHECK(strcmp(a->name, b->name) == 0 && a->nbytes == b->nbytes);
    }
    ff_weights_free(w1);
    ff_weights_free(w2);

    if (golden_pipeline("tiny-wan22-ti2v", path, sizeof path)) {
        FF_REQUIRE_OK(ff_model_dir_open(path, &md, &err), &err);
        int expand;
        FF_CHECK(ff_json_get_bool(ff_model_dir_index(md), "expand_timesteps", 0, &expand) == 0 && expand == 1);
        FF_CHECK(!ff_model_dir_has(md, "transformer_2"));
        ff_model_dir_close(md);
    }
}

/* ---- a sharded component written here ------------------------------------ */

static void make_sharded_pipeline(const char *root) {
    write_text(root, "model_index.json",
               "{\"_class_name\": \"WanPipeline\", \"_diffusers_version\": \"0.35.0\", \"boundary_ratio\": 0.9,"
               " \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"], \"transformer_2\": [null, null],"
               " \"vae\": [\"diffusers\", \"AutoencoderKLWan\"], \"flags\": [1, 2]}");
    mkdirf(root, "transformer");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/transformer", root);
    write_text(dir, "config.json", "{\"_class_name\": \"WanTransformer3DModel\", \"num_layers\": 40}");
    const char *s1[] = {"blocks.0.attn1.to_q.weight", "blocks.0.attn1.to_k.weight"};
    const char *s2[] = {"blocks.1.attn1.to_q.weight", "proj_out.weight", "unlisted.extra"};
    write_shard(dir, "diffusion_pytorch_model-00001-of-00002.safetensors", s1, 2, 10.0f);
    write_shard(dir, "diffusion_pytorch_model-00002-of-00002.safetensors", s2, 3, 20.0f);
    write_text(dir, "diffusion_pytorch_model.safetensors.index.json",
               "{\"metadata\": {\"total_size\": 32}, \"weight_map\": {"
               "\"proj_out.weight\": \"diffusion_pytorch_model-00002-of-00002.safetensors\","
               "\"blocks.0.attn1.to_q.weight\": \"diffusion_pytorch_model-00001-of-00002.safetensors\","
               "\"blocks.1.attn1.to_q.weight\": \"diffusion_pytorch_model-00002-of-00002.safetensors\","
               "\"blocks.0.attn1.to_k.weight\": \"diffusion_pytorch_model-00001-of-00002.safetensors\"}}");
}

static void test_sharded_weights(void) {
    char root[1024];
    fresh_dir("md_sharded", root, sizeof root);
    make_sharded_pipeline(root);
    ff_err err = {0};
    ff_model_dir *md;
    FF_REQUIRE_OK(ff_model_dir_open(root, &md, &err), &err);
    FF_CHECK(ff_model_dir_component_count(md) == 2); /* transformer, vae; "flags" is an option */
    FF_CHECK(!ff_model_dir_has(md, "flags"));
    ff_weights *w;
    FF_REQUIRE_OK(ff_model_dir_weights(md, "transformer", &w, &err), &err);
    FF_CHECK(ff_weights_index_path(w) && strstr(ff_weights_index_path(w), ".safetensors.index.json"));
    FF_CHECK(ff_weights_shard_count(w) == 2);
    FF_CHECK(ff_weights_count(w) == 4); /* exactly weight_map: "unlisted.extra" is not part of the set */
    FF_CHECK(!ff_weights_has(w, "unlisted.extra"));
    const char *sorted[] = {"blocks.0.attn1.to_k.weight", "blocks.0.attn1.to_q.weight", "blocks.1.attn1.to_q.weight",
                            "proj_out.weight"};
    const float first[] = {11, 10, 20, 21};
    const int shard_of[] = {0, 0, 1, 1};
    for (size_t i = 0; i < 4; i++) {
        const ff_st_file *sf;
        const ff_st_entry *e = ff_weights_at(w, i, &sf);
        FF_REQUIRE(e);
        FF_CHECK(strcmp(e->name, sorted[i]) == 0);
        FF_CHECK(sf == ff_weights_shard(w, (size_t)shard_of[i]));
        const ff_st_file *sf2;
        const ff_st_entry *e2;
        FF_CHECK_OK(ff_weights_find(w, sorted[i], &sf2, &e2, &err), &err);
        FF_CHECK(e2 == e && sf2 == sf);
        ff_tensor t;
        FF_REQUIRE_OK(ff_weights_load(w, sorted[i], FF_F32, &t, &err), &err);
        FF_CHECK(((float *)t.data)[0] == first[i]);
        ff_tensor_free(&t);
        FF_CHECK_OK(ff_weights_view(w, sorted[i], &t, &err), &err);
        FF_CHECK(((float *)t.data)[0] == first[i] && !t.owns);
    }
    CHECK_ERR(ff_weights_find(w, "unlisted.extra", NULL, NULL, err_), FF_ERR_NOT_FOUND, "unlisted.extra",
              "index.json");
    ff_weights_free(w);
    ff_json_doc *cfg;
    FF_REQUIRE_OK(ff_component_config(md, "transformer", &cfg, &err), &err);
    ff_json_free(cfg);
    /* listed but no folder */
    CHECK_ERR(ff_component_config(md, "vae", &cfg, err_), FF_ERR_NOT_FOUND, "vae");
    CHECK_ERR(ff_model_dir_weights(md, "vae", &w, err_), FF_ERR_NOT_FOUND, "vae");
    ff_model_dir_close(md);

    /* The index file and a shard can also be opened directly. */
    char p[1200];
    snprintf(p, sizeof p, "%s/transformer/diffusion_pytorch_model.safetensors.index.json", root);
    FF_REQUIRE_OK(ff_weights_open(p, &w, &err), &err);
    FF_CHECK(ff_weights_count(w) == 4 && strcmp(ff_weights_path(w), p) == 0);
    ff_weights_free(w);
    snprintf(p, sizeof p, "%s/transformer/diffusion_pytorch_model-00002-of-00002.safetensors", root);
    FF_REQUIRE_OK(ff_weights_open(p, &w, &err), &err);
    FF_CHECK(ff_weights_count(w) == 3 && ff_weights_index_path(w) == NULL);
    ff_weights_free(w);
}

static void test_sharded_errors(void) {
    char root[1024], dir[1100];
    fresh_dir("md_shard_errors", root, sizeof root);
    snprintf(dir, sizeof dir, "%s/c", root);
    mkdirf(root, "c");
    const char *a[] = {"a.w"}, *b[] = {"b.w"};
    write_shard(dir, "s1.safetensors", a, 1, 1);
    write_shard(dir, "s2.safetensors", b, 1, 2);
    write_shard(root, "outside.safetensors", b, 1, 3);
    ff_weights *w = NULL;
    const char *idx = "model.safetensors.index.json";

    write_text(dir, idx, "{\"weight_map\": {\"a.w\": \"s1.safetensors\", \"b.w\": \"s1.safetensors\"}}");
    CHECK_ERR(ff_weights_open(dir, &w, err_), FF_ERR_FORMAT, "'b.w'", "s1.safetensors", idx);
    FF_CHECK(w == NULL);
    write_text(dir, idx, "{\"weight_map\": {\"a.w\": \"s1.safetensors\", \"b.w\": \"../outside.safetensors\"}}");
    CHECK_ERR(ff_weights_open(dir, &w, err_), FF_ERR_FORMAT, "'b.w'", "../outside.safetensors", idx);
    write_text(dir, idx, "{\"weight_map\": {\"b.w\": \"..\"}}");
    CHECK_ERR(ff_weights_open(dir, &w, err_), FF_ERR_FORMAT, "'..'");
    char absj[2600];
    snprintf(absj, sizeof absj, "{\"weight_map\": {\"b.w\": \"%s/outside.safetensors\"}}", root);
    write_text(dir, idx, absj);
    CHECK_ERR(ff_weights_open(dir, &w, err_), FF_ERR_FORMAT, "not a file inside");
    write_text(dir, idx, "{\"weight_map\": {\"a.w\": \"s1.safetensors\", \"b.w\": \"s3.safetensors\"}}");
    CHECK_ERR(ff_weights_open(dir, &w, err_), FF_ERR_NOT_FOUND, idx, "s3.safetensors");
    write_text(dir, idx, "{\"weight_map\": {\"a.w\": 5}}");
    CHECK_ERR(ff_weights_open(dir, &w, err_), FF_ERR_FORMAT, "'a.w'", idx);
    write_text(dir, idx, "{\"metadata\": {}}");
    CHECK_ERR(ff_weights_open(dir, &w, err_), FF_ERR_FORMAT, "weight_map", idx);
    write_text(dir, idx, "{\"weight_map\": {\"a.w\": \"s1.safetensors\", \"a.w\": \"s1.safetensors\"}}");
    CHECK_ERR(ff_weights_open(dir, &w, err_), FF_ERR_FORMAT, "'a.w'", "twice");
    write_text(dir, idx, "{\"weight_map\": {\"a.w\": \"s1.safetensors\",}");
    CHECK_ERR(ff_weights_open(dir, &w, err_), FF_ERR_FORMAT, idx, "bad JSON");
    /* A corrupt shard: the error names the index, the shard and the problem. */
    write_text(dir, "s2.safetensors", "garbage!");
    write_text(dir, idx, "{\"weight_map\": {\"a.w\": \"s1.safetensors\", \"b.w\": \"s2.safetensors\"}}");
    CHECK_ERR(ff_weights_open(dir, &w, err_), FF_ERR_FORMAT, idx, "s2.safetensors");
    FF_CHECK(w == NULL);
    /* an empty weight_map is a valid, empty set */
    write_text(dir, idx, "{\"weight_map\": {}}");
    ff_err err = {0};
    FF_CHECK_OK(ff_weights_open(dir, &w, &err), &err);
    if (w) FF_CHECK(ff_weights_count(w) == 0 && ff_weights_shard_count(w) == 0);
    ff_weights_free(w);
}

/* Which file a folder's weights come from. */
static void test_weights_file_choice(void) {
    char root[1024], d[1100];
    fresh_dir("md_choice", root, sizeof root);
    snprintf(d, sizeof d, "%s/c", root);
    mkdirf(root, "c");
    ff_err err = {0};
    ff_weights *w;
    CHECK_ERR(ff_weights_open(d, &w, err_), FF_ERR_NOT_FOUND, "no *.safetensors");
    char missing[1200];
    snprintf(missing, sizeof missing, "%s/none", root);
    CHECK_ERR(ff_weights_open(missing, &w, err_), FF_ERR_NOT_FOUND, "none");

    const char *x[] = {"x"}, *y[] = {"y"}, *z[] = {"z"};
    write_shard(d, "weights.safetensors", x, 1, 0); /* the only one: picked by the scan */
    FF_REQUIRE_OK(ff_weights_open(d, &w, &err), &err);
    FF_CHECK(ff_weights_has(w, "x"));
    ff_weights_free(w);
    write_shard(d, "other.safetensors", y, 1, 0); /* two candidates: ambiguous */
    CHECK_ERR(ff_weights_open(d, &w, err_), FF_ERR_FORMAT, "2 *.safetensors", "which one");
    write_shard(d, "model.safetensors", z, 1, 0); /* a conventional name wins */
    FF_REQUIRE_OK(ff_weights_open(d, &w, &err), &err);
    FF_CHECK(ff_weights_has(w, "z") && !ff_weights_has(w, "x"));
    ff_weights_free(w);
    write_shard(d, "diffusion_pytorch_model.safetensors", x, 1, 0); /* diffusers' name wins over transformers' */
    FF_REQUIRE_OK(ff_weights_open(d, &w, &err), &err);
    FF_CHECK(ff_weights_has(w, "x") && !ff_weights_has(w, "z"));
    ff_weights_free(w);
    write_text(d, "diffusion_pytorch_model.safetensors.index.json",
               "{\"weight_map\": {\"y\": \"other.safetensors\", \"x\": \"weights.safetensors\"}}");
    FF_REQUIRE_OK(ff_weights_open(d, &w, &err), &err); /* the index wins, as in diffusers */
    FF_CHECK(ff_weights_count(w) == 2 && ff_weights_shard_count(w) == 2);
    ff_weights_free(w);
    /* a lone non-conventional index is picked by the scan */
    char d2[1100];
    snprintf(d2, sizeof d2, "%s/c2", root);
    mkdirf(root, "c2");
    write_shard(d2, "a.safetensors", x, 1, 0);
    write_shard(d2, "b.safetensors", y, 1, 0);
    write_text(d2, "custom.safetensors.index.json",
               "{\"weight_map\": {\"y\": \"b.safetensors\", \"x\": \"a.safetensors\"}}");
    FF_REQUIRE_OK(ff_weights_open(d2, &w, &err), &err);
    FF_CHECK(ff_weights_count(w) == 2);
    ff_weights_free(w);
    write_text(d2, "second.safetensors.index.json", "{\"weight_map\": {}}");
    CHECK_ERR(ff_weights_open(d2, &w, err_), FF_ERR_FORMAT, "index.json", "which one");
}

static void test_model_index_errors(void) {
    char root[1024];
    fresh_dir("md_index", root, sizeof root);
    ff_model_dir *md = NULL;
    char missing[1200];
    snprintf(missing, sizeof missing, "%s/absent", root);
    CHECK_ERR(ff_model_dir_open(missing, &md, err_), FF_ERR_NOT_FOUND, "absent");
    CHECK_ERR(ff_model_dir_open(root, &md, err_), FF_ERR_NOT_FOUND, "no model_index.json");
    write_text(root, "model_index.json", "[]");
    CHECK_ERR(ff_model_dir_open(root, &md, err_), FF_ERR_FORMAT, "model_index.json");
    write_text(root, "model_index.json", "{\"vae\": [\"diffusers\", \"AutoencoderKLWan\"]}");
    CHECK_ERR(ff_model_dir_open(root, &md, err_), FF_ERR_FORMAT, "_class_name");
    write_text(root, "model_index.json", "{\"_class_name\": \"WanPipeline\", \"vae\": [\"diffusers\", null]}");
    CHECK_ERR(ff_model_dir_open(root, &md, err_), FF_ERR_FORMAT, "'vae'", "null");
    write_text(root, "model_index.json", "{\"_class_name\": \"WanPipeline\", \"../vae\": [\"diffusers\", \"X\"]}");
    CHECK_ERR(ff_model_dir_open(root, &md, err_), FF_ERR_FORMAT, "'../vae'");
    write_text(root, "model_index.json", "{\"_class_name\": \"P\", \"vae\": [\"a\", \"b\"], \"vae\": [\"a\", \"c\"]}");
    CHECK_ERR(ff_model_dir_open(root, &md, err_), FF_ERR_FORMAT, "'vae'", "twice");
    write_text(root, "model_index.json", "{\"_class_name\": \"P\", \"vae\": [\"a\", \"b\"");
    CHECK_ERR(ff_model_dir_open(root, &md, err_), FF_ERR_FORMAT, "model_index.json", "bad JSON");
    FF_CHECK(md == NULL);
    /* a component folder without any config */
    write_text(root, "model_index.json", "{\"_class_name\": \"P\", \"vae\": [\"a\", \"b\"], \"_x\": [\"a\", \"b\"]}");
    mkdirf(root, "vae");
    ff_err err = {0};
    FF_REQUIRE_OK(ff_model_dir_open(root, &md, &err), &err);
    FF_CHECK(ff_model_dir_component_count(md) == 1); /* "_x" is bookkeeping */
    ff_json_doc *cfg;
    CHECK_ERR(ff_component_config(md, "vae", &cfg, err_), FF_ERR_NOT_FOUND, "vae", "config.json");
    char vdir[1200];
    snprintf(vdir, sizeof vdir, "%s/vae", root);
    write_text(vdir, "config.json", "[1]");
    CHECK_ERR(ff_component_config(md, "vae", &cfg, err_), FF_ERR_FORMAT, "config.json", "not a JSON object");
    write_text(vdir, "config.json", "{\"z_dim\": 16");
    CHECK_ERR(ff_component_config(md, "vae", &cfg, err_), FF_ERR_FORMAT, "vae/config.json");
    ff_model_dir_close(md);
    CHECK_ERR(ff_component_config_dir(missing, &cfg, err_), FF_ERR_NOT_FOUND, "absent");
}

int main(void) {
    FF_RUN(test_golden_wan21);
    FF_RUN(test_golden_wan22);
    FF_RUN(test_sharded_weights);
    FF_RUN(test_sharded_errors);
    FF_RUN(test_weights_file_choice);
    FF_RUN(test_model_index_errors);
    return ff_test_summary();
}
