/* Parameter lists from configs (ff_wanvae_params, ff_umt5_params) against the
 * golden pipelines' real diffusers/transformers checkpoints: the same names
 * with the same shapes, nothing missing and nothing extra (Wan 2.1 VAE, Wan
 * 2.2 residual patch-2 VAE, UMT5). Skips without the golden data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_model_dir.h"
#include "models/umt5_params.h"
#include "models/wan_vae_params.h"
#include "tests/common/ff_test.h"

static char g_root[4096];

/* Compares a list of (name, ndim, shape) with the tensors of a weights folder. */
static void check_against(const char *dir, size_t n, const char *(*name_at)(const void *, size_t),
                          const int64_t *(*shape_at)(const void *, size_t, int *), const void *list) {
    ff_err err = {0};
    ff_weights *w = NULL;
    FF_REQUIRE_OK(ff_weights_open(dir, &w, &err), &err);
    FF_CHECK_MSG(ff_weights_count(w) == n, "%s: %zu tensors in the file, %zu in the list", dir, ff_weights_count(w), n);
    for (size_t i = 0; i < n; i++) {
        const ff_st_entry *e = NULL;
        const char *name = name_at(list, i);
        if (ff_weights_find(w, name, NULL, &e, &err)) {
            FF_CHECK_MSG(0, "%s: listed %s is not in the file", dir, name);
            continue;
        }
        int nd;
        const int64_t *sh = shape_at(list, i, &nd);
        int same = e->ndim == nd;
        for (int d = 0; same && d < nd; d++) same = e->shape[d] == sh[d];
        FF_CHECK_MSG(same, "%s: %s shape differs", dir, name);
    }
    ff_weights_free(w);
}

static const char *vae_name(const void *l, size_t i) { return ((const ff_param *)l)[i].name; }
static const int64_t *vae_shape(const void *l, size_t i, int *nd) {
    *nd = ((const ff_param *)l)[i].ndim;
    return ((const ff_param *)l)[i].shape;
}
static const char *te_name(const void *l, size_t i) { return ((const ff_param *)l)[i].name; }
static const int64_t *te_shape(const void *l, size_t i, int *nd) {
    *nd = ((const ff_param *)l)[i].ndim;
    return ((const ff_param *)l)[i].shape;
}

static void vae_case(const char *pipeline) {
    char dir[4200], cfg_path[4300];
    snprintf(dir, sizeof dir, "%s/pipelines/%s/vae", g_root, pipeline);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    ff_err err = {0};
    ff_wanvae_config cfg;
    ff_param *ps = NULL;
    size_t n = 0;
    FF_REQUIRE_OK(ff_wanvae_config_load(cfg_path, &cfg, &err), &err);
    FF_REQUIRE_OK(ff_wanvae_params(&cfg, &ps, &n, &err), &err);
    check_against(dir, n, vae_name, vae_shape, ps);
    free(ps);
}

static void test_vae_wan21(void) { vae_case("tiny-wan21"); }
static void test_vae_wan22_ti2v(void) { vae_case("tiny-wan22-ti2v"); }

static void test_umt5(void) {
    char dir[4200], cfg_path[4300];
    snprintf(dir, sizeof dir, "%s/pipelines/tiny-wan21/text_encoder", g_root);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    ff_err err = {0};
    ff_umt5_config cfg;
    ff_param *ps = NULL;
    size_t n = 0;
    FF_REQUIRE_OK(ff_umt5_config_read(cfg_path, &cfg, &err), &err);
    FF_REQUIRE_OK(ff_umt5_params(&cfg, &ps, &n, &err), &err);
    check_against(dir, n, te_name, te_shape, ps);
    /* a non-gated FFN lists wi instead of wi_0 / wi_1 */
    free(ps);
    cfg.gated = 0;
    FF_REQUIRE_OK(ff_umt5_params(&cfg, &ps, &n, &err), &err);
    int wi = 0, wi0 = 0;
    for (size_t i = 0; i < n; i++) {
        wi += strstr(ps[i].name, "DenseReluDense.wi.weight") != NULL;
        wi0 += strstr(ps[i].name, "wi_0") != NULL;
    }
    FF_CHECK(wi == cfg.num_layers && wi0 == 0);
    free(ps);
}

static void test_vae_attn_scales(void) {
    /* attention blocks in the 2.1 encoder's flat list shift the indices */
    char cfg_path[4300];
    snprintf(cfg_path, sizeof cfg_path, "%s/pipelines/tiny-wan21/vae/config.json", g_root);
    ff_err err = {0};
    ff_wanvae_config cfg;
    FF_REQUIRE_OK(ff_wanvae_config_load(cfg_path, &cfg, &err), &err);
    cfg.n_attn_scales = 1;
    cfg.attn_scales[0] = 1.0;
    ff_param *ps = NULL;
    size_t n = 0;
    FF_REQUIRE_OK(ff_wanvae_params(&cfg, &ps, &n, &err), &err);
    int found = 0;
    for (size_t i = 0; i < n; i++) found |= !strcmp(ps[i].name, "encoder.down_blocks.1.to_qkv.weight");
    FF_CHECK(found);
    free(ps);
}

int main(void) {
    const char *g = getenv("FF_GOLDEN");
    struct stat sb;
    if (!g) ff_test_skip("FF_GOLDEN unset");
    snprintf(g_root, sizeof g_root, "%s", g);
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/pipelines/tiny-wan21/model_index.json", g_root);
    if (stat(probe, &sb)) ff_test_skip("golden pipelines absent");
    FF_RUN(test_vae_wan21);
    FF_RUN(test_vae_wan22_ti2v);
    FF_RUN(test_umt5);
    FF_RUN(test_vae_attn_scales);
    return ff_test_summary();
}
