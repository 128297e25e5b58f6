/* Wan transformer against diffusers: every cases/transformer* golden case
 * (Wan 2.1, Wan 2.2 A14B transformer_2, Wan 2.2 TI2V per-token timesteps)
 * through ff_wandit_load + ff_wandit_forward_host on the CPU backend, compared by
 * rel_l2 with the case's own tolerance. Also runs one case block-streamed
 * through the hooks and asserts a bit-identical result. Skips (77) when
 * $FF_GOLDEN is absent. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/common/ff_test.h"
#include "core/ff_json.h"
#include "core/ff_safetensors.h"
#include "kernels/ops.h"
#include "models/wan_transformer.h"

static const char *golden;

typedef struct {
    ff_backend *be;
    int n;
    ff_tensor saved[FF_WANDIT_BLOCK_PARAMS_MAX];
} stream_state;

/* Block streaming on the CPU backend: each block's weights are copied into
 * backend buffers just before it runs and released after it. */
static ff_status stream_before(void *user, int index, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    stream_state *s = user;
    s->n++;
    ff_status st = FF_OK;
    for (size_t i = 0; i < n && !st; i++) {
        s->saved[i] = *ps[i].slot;
        ff_tensor d;
        if (!(st = ff_be_alloc(s->be, &d, s->saved[i].dtype, s->saved[i].ndim, s->saved[i].shape, err)) &&
            !(st = ff_be_upload(s->be, &d, &s->saved[i], err)))
            *ps[i].slot = d;
    }
    return st;
}

static ff_status stream_after(void *user, int index, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    stream_state *s = user;
    for (size_t i = 0; i < n; i++) {
        ff_be_free(s->be, ps[i].slot);
        *ps[i].slot = s->saved[i];
    }
    return FF_OK;
}

static int n_cases;

static void run_case(const char *name) {
    char path[4400], dir[4400];
    ff_err err = {0};
    ff_json_doc *doc = NULL;
    ff_st_file *in = NULL, *ex = NULL;
    ff_wandit_model *m = NULL;
    ff_backend *be = NULL;
    ff_tensor x = {0}, t = {0}, text = {0}, ref = {0}, y = {0}, ys = {0};
    snprintf(path, sizeof path, "%s/cases/%s/case.json", golden, name);
    FF_REQUIRE_OK(ff_json_parse_file(path, &doc, &err), &err);
    const ff_json *root = ff_json_root(doc);
    const char *pipe = ff_json_get_string(root, "pipeline"), *comp = ff_json_get_string(root, "component");
    double tol = -1;
    ff_json_get_double(ff_json_get(root, "tolerance"), "rel_l2", -1, &tol);
    FF_CHECK(pipe && comp && tol > 0);
    if (!pipe || !comp || tol <= 0) goto done;
    snprintf(dir, sizeof dir, "%s/%s/%s", golden, pipe, comp);
    FF_CHECK_OK(ff_wandit_load(dir, &m, &err), &err);
    if (!m) goto done;
    snprintf(path, sizeof path, "%s/cases/%s/inputs.safetensors", golden, name);
    FF_CHECK_OK(ff_st_open(path, &in, &err), &err);
    snprintf(path, sizeof path, "%s/cases/%s/expected.safetensors", golden, name);
    FF_CHECK_OK(ff_st_open(path, &ex, &err), &err);
    if (!in || !ex) goto done;
    const ff_st_entry *te = ff_st_find(in, "timestep");
    FF_CHECK(te != NULL);
    if (!te) goto done;
    FF_CHECK_OK(ff_st_load(in, "hidden_states", FF_F32, &x, &err), &err);
    FF_CHECK_OK(ff_st_load(in, "timestep", te->dtype, &t, &err), &err);
    FF_CHECK_OK(ff_st_load(in, "encoder_hidden_states", FF_F32, &text, &err), &err);
    FF_CHECK_OK(ff_st_load(ex, "noise_pred", FF_F32, &ref, &err), &err);
    FF_CHECK_OK(ff_backend_cpu_create(0, &be, &err), &err);
    if (!x.data || !t.data || !text.data || !ref.data || !be) goto done;
    FF_CHECK_OK(ff_wandit_forward_host(m, be, &x, &t, &text, NULL, &y, &err), &err);
    if (!y.data) goto done;
    FF_CHECK(ff_tensor_same_shape(&y, &ref));
    double r = ff_rel_l2(&y, &ref);
    printf("%-44s rel_l2 %.3e (tolerance %.0e)\n", name, r, tol);
    FF_CHECK_MSG(r >= 0 && r <= tol, "%s: rel_l2 %.3e > %.1e", name, r, tol);
    n_cases++;

    if (!strcmp(name, "transformer_b2_cfg_t999")) { /* block streaming through the hooks: identical bits */
        stream_state ss = {.be = be};
        ff_wandit_hooks hooks = {stream_before, stream_after, &ss};
        FF_CHECK_OK(ff_wandit_forward_host(m, be, &x, &t, &text, &hooks, &ys, &err), &err);
        FF_CHECK(ss.n == m->cfg.num_layers);
        FF_CHECK(ys.data && ff_tensor_equal(&ys, &y));
    }
    if (!strcmp(name, "transformer_f3_t37p5_odd")) { /* BF16 matrices: close, not exact */
        ff_wandit_model *mb = NULL;
        ff_tensor yb = {0};
        FF_CHECK_OK(ff_wandit_load_as(dir, FF_BF16, &mb, &err), &err);
        if (mb) {
            FF_CHECK(mb->blocks[0].attn1.to_q.weight.dtype == FF_BF16 && mb->blocks[0].attn1.to_q.bias.dtype == FF_F32);
            FF_CHECK(mb->time_linear_1.weight.dtype == FF_F32 && mb->patch_embedding_weight.dtype == FF_BF16);
            FF_CHECK_OK(ff_wandit_forward_host(mb, be, &x, &t, &text, NULL, &yb, &err), &err);
            double rb = yb.data ? ff_rel_l2(&yb, &ref) : -1;
            printf("%-44s rel_l2 %.3e with BF16 weights\n", name, rb);
            FF_CHECK_MSG(rb > 0 && rb < 2e-2, "BF16 weights rel_l2 %.3e", rb);
        }
        ff_tensor_free(&yb);
        ff_wandit_free(mb);
    }
done:
    ff_tensor_free(&x);
    ff_tensor_free(&t);
    ff_tensor_free(&text);
    ff_tensor_free(&ref);
    ff_tensor_free(&y);
    ff_tensor_free(&ys);
    ff_st_close(in);
    ff_st_close(ex);
    ff_wandit_free(m);
    ff_backend_free(be);
    ff_json_free(doc);
}

/* Writes <dir>/config.json (copied) and <dir>/diffusion_pytorch_model.safetensors
 * holding the tiny-wan21 weights, minus `drop`, with `replace` given a wrong
 * shape, plus `extra` when non-NULL. */
static ff_status write_variant(const char *dir, const char *drop, const char *replace, const char *extra, ff_err *err) {
    char src[4200], dst[4400];
    snprintf(src, sizeof src, "%s/pipelines/tiny-wan21/transformer/config.json", golden);
    snprintf(dst, sizeof dst, "mkdir -p '%s' && cp '%s' '%s/config.json'", dir, src, dir);
    if (system(dst) != 0) return ff_err_set(err, FF_ERR_IO, "cannot prepare %s", dir);
    snprintf(src, sizeof src, "%s/pipelines/tiny-wan21/transformer/diffusion_pytorch_model.safetensors", golden);
    ff_st_file *f = NULL;
    ff_status st = ff_st_open(src, &f, err);
    if (st) return st;
    size_t n = ff_st_count(f), k = 0;
    ff_st_item *items = calloc(n + 1, sizeof *items);
    ff_tensor *views = calloc(n + 1, sizeof *views);
    float zeros[64] = {0};
    if (!items || !views) st = ff_err_set(err, FF_ERR_NOMEM, "test: no memory");
    for (size_t i = 0; i < n && !st; i++) {
        const ff_st_entry *e = ff_st_entry_at(f, i);
        if (drop && !strcmp(e->name, drop)) continue;
        if (replace && !strcmp(e->name, replace)) {
            int64_t sh[1] = {3};
            ff_tensor_view(&views[k], FF_F32, 1, sh, zeros, FF_LOC_HOST);
        } else if ((st = ff_st_view(f, e->name, &views[k], err))) {
            break;
        }
        items[k].name = e->name;
        items[k].tensor = &views[k];
        k++;
    }
    if (!st && extra) {
        int64_t sh[1] = {4};
        ff_tensor_view(&views[k], FF_F32, 1, sh, zeros, FF_LOC_HOST);
        items[k].name = extra;
        items[k].tensor = &views[k];
        k++;
    }
    snprintf(dst, sizeof dst, "%s/diffusion_pytorch_model.safetensors", dir);
    if (!st) st = ff_st_write(dst, items, k, NULL, 0, err);
    free(items);
    free(views);
    ff_st_close(f);
    return st;
}

/* Strict loading: a missing tensor, a wrong shape and an unexpected tensor
 * are errors naming the tensor; the untouched copy loads. */
static void test_load_errors(void) {
    char dir[4096];
    ff_err err = {0};
    ff_wandit_model *m = NULL;
    ff_test_tmp_path("dit_variant", dir, sizeof dir);
    FF_REQUIRE_OK(write_variant(dir, NULL, NULL, NULL, &err), &err);
    FF_CHECK_OK(ff_wandit_load(dir, &m, &err), &err);
    ff_wandit_free(m);
    m = NULL;
    FF_REQUIRE_OK(write_variant(dir, "blocks.1.attn2.norm_k.weight", NULL, NULL, &err), &err);
    FF_CHECK(ff_wandit_load(dir, &m, &err) == FF_ERR_NOT_FOUND && !m);
    FF_CHECK_MSG(strstr(err.msg, "blocks.1.attn2.norm_k.weight") != NULL, "%s", err.msg);
    FF_REQUIRE_OK(write_variant(dir, NULL, "proj_out.bias", NULL, &err), &err);
    FF_CHECK(ff_wandit_load(dir, &m, &err) == FF_ERR_SHAPE && !m);
    FF_CHECK_MSG(strstr(err.msg, "proj_out.bias") != NULL && strstr(err.msg, "[16]") != NULL, "%s", err.msg);
    FF_REQUIRE_OK(write_variant(dir, NULL, NULL, "blocks.2.norm2.weight", &err), &err);
    FF_CHECK(ff_wandit_load(dir, &m, &err) == FF_ERR_FORMAT && !m);
    FF_CHECK_MSG(strstr(err.msg, "unexpected weight blocks.2.norm2.weight") != NULL, "%s", err.msg);
    /* ignored on load, as diffusers' _keys_to_ignore_on_load_unexpected */
    FF_REQUIRE_OK(write_variant(dir, NULL, NULL, "blocks.0.attn2.norm_added_q.weight", &err), &err);
    FF_CHECK_OK(ff_wandit_load(dir, &m, &err), &err);
    ff_wandit_free(m);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_golden_cases(void) {
    char cases[4200];
    snprintf(cases, sizeof cases, "%s/cases", golden);
    DIR *d = opendir(cases);
    FF_REQUIRE(d != NULL);
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 256)
        if (!strncmp(de->d_name, "transformer", 11)) names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        if (names[i]) run_case(names[i]);
        free(names[i]);
    }
    FF_CHECK_MSG(n_cases >= 9 && n_cases == n, "%d of %d transformer cases ran", n_cases, n);
}

int main(void) {
    golden = getenv("FF_GOLDEN");
    struct stat sb;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/cases", golden ? golden : "");
    if (!golden || stat(probe, &sb) != 0) ff_test_skip("golden data absent ($FF_GOLDEN/cases): transformer not checked");
    FF_RUN(test_golden_cases);
    FF_RUN(test_load_errors);
    return ff_test_summary();
}
