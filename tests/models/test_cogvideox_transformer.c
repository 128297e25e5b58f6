/* CogVideoX transformer: parameter counts of the published configs
 * (../shared/configs/README.md), config errors, the block hooks (once per
 * block, in order; a hook that swaps a block's weights for copies gives the
 * same bits), lazy loading (blocks read from the file by a hook) = eager bit
 * for bit, RoPE computed inside = the pipeline's tables passed in, the
 * exact activation-bytes model against a backend meter, batch = per-sample.
 * The tiny pipelines come from ../shared/golden (SKIP when absent). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "core/ff_json.h"
#include "core/ff_model_dir.h"
#include "kernels/ops.h"
#include "models/cogvideox_transformer.h"

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

static ff_status parse_str(const char *json, ff_cogdit_config *cfg, ff_err *err) {
    ff_json_doc *doc;
    ff_status st = ff_json_parse(json, strlen(json), "test config", &doc, err);
    if (st) return st;
    st = ff_cogdit_config_parse(ff_json_root(doc), "test config", cfg, err);
    ff_json_free(doc);
    return st;
}

/* ../shared/configs/README.md "Parameter counts": the real classes built
 * from these configs. */
static void test_param_counts(void) {
    char dir[4200];
    if (shared_dir("../configs", "cogvideox-2b/transformer/config.json", dir, sizeof dir)) {
        fprintf(stderr, "  (../shared/configs absent: parameter counts not checked)\n");
        return;
    }
    const struct {
        const char *name;
        int64_t total;
    } want[] = {{"cogvideox-2b", 1693783872LL}, {"cogvideox-5b", 5570283072LL}, {"cogvideox1.5-5b", 5570676352LL}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s/transformer/config.json", dir, want[i].name);
        ff_cogdit_config cfg;
        ff_err err = {0};
        FF_REQUIRE_OK(ff_cogdit_config_load(path, &cfg, &err), &err);
        ff_cogdit_counts c;
        ff_cogdit_count_params(&cfg, &c);
        FF_CHECK_MSG(c.total == want[i].total, "%s: %lld parameters, README says %lld", want[i].name,
                     (long long)c.total, (long long)want[i].total);
        ff_param *ps;
        size_t n;
        FF_REQUIRE_OK(ff_cogdit_params(&cfg, NULL, FF_BF16, &ps, &n, &err), &err);
        int64_t sum = 0, blocks = 0;
        int last = -1, ordered = 1;
        for (size_t k = 0; k < n; k++) {
            sum += ff_param_numel(&ps[k]);
            if (ps[k].block >= 0) blocks += ff_param_numel(&ps[k]);
            if (ps[k].block < last) ordered = 0;
            if (ps[k].block >= 0) last = ps[k].block;
            /* BF16 only for the Linear matrices outside the time / patch embeddings */
            if (ps[k].dtype == FF_BF16)
                FF_CHECK_MSG(ps[k].ndim == 2 && !strstr(ps[k].name, "time_embedding") &&
                                 !strstr(ps[k].name, "patch_embed.proj"),
                             "%s narrowed", ps[k].name);
        }
        FF_CHECK(sum == c.total);
        FF_CHECK(blocks == c.per_block * cfg.num_layers);
        FF_CHECK(ordered);
        printf("%s: %lld parameters (%lld per block x %d + %lld)\n", want[i].name, (long long)c.total,
               (long long)c.per_block, cfg.num_layers, (long long)c.non_block);
        free(ps);
    }
}

static void test_config_errors(void) {
    ff_cogdit_config cfg;
    ff_err err = {0};
    FF_CHECK(parse_str("{\"use_learned_positional_embeddings\": true, \"use_rotary_positional_embeddings\": true}",
                       &cfg, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(strstr(err.msg, "use_learned_positional_embeddings") != NULL);
    FF_CHECK(parse_str("{\"activation_fn\": \"geglu\"}", &cfg, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(parse_str("{\"_class_name\": \"WanTransformer3DModel\"}", &cfg, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(parse_str("{\"attention_head_dim\": 15}", &cfg, &err) == FF_ERR_FORMAT);
    FF_CHECK(parse_str("{\"ofs_embed_dim\": 64, \"time_embed_dim\": 512}", &cfg, &err) == FF_ERR_FORMAT);
    FF_CHECK_OK(parse_str("{\"patch_size_t\": null, \"out_channels\": null, \"in_channels\": 8}", &cfg, &err), &err);
    FF_CHECK(cfg.patch_size_t == 0 && cfg.out_channels == 8 && cfg.dim == 30 * 64 && cfg.ff_inner_dim == 4 * cfg.dim);
    FF_CHECK_OK(parse_str("{\"patch_size_t\": 2, \"use_rotary_positional_embeddings\": true}", &cfg, &err), &err);
    FF_CHECK(cfg.patch_size_t == 2);
    int64_t grid[3], out[5];
    FF_CHECK(ff_cogdit_grid(&cfg, 3, 8, 8, grid, &err) == FF_ERR_SHAPE); /* 3 frames, p_t 2 */
    FF_CHECK(strstr(err.msg, "patch_size_t") != NULL);
    FF_CHECK(ff_cogdit_grid(&cfg, 4, 9, 8, grid, &err) == FF_ERR_SHAPE);
    FF_CHECK_OK(ff_cogdit_grid(&cfg, 4, 6, 8, grid, &err), &err);
    FF_CHECK(grid[0] == 2 && grid[1] == 3 && grid[2] == 4);
    int64_t x[5] = {1, 4, 16, 6, 8};
    FF_CHECK_OK(ff_cogdit_out_shape(&cfg, x, out, &err), &err);
    FF_CHECK(out[1] == 4 && out[2] == 16 && out[3] == 6 && out[4] == 8);
    /* the 1.5 'slice' grid cannot exceed sample_height / p x sample_width / p */
    float c[64 * 64], s[64 * 64];
    FF_CHECK_OK(parse_str("{\"patch_size_t\": 2, \"use_rotary_positional_embeddings\": true, \"sample_height\": 4, "
                          "\"sample_width\": 4, \"attention_head_dim\": 16}",
                          &cfg, &err),
                &err);
    FF_CHECK(ff_cogdit_rope_tables(&cfg, 2, 6, 4, c, s, &err) == FF_ERR_ARG);
    FF_CHECK_OK(ff_cogdit_rope_tables(&cfg, 2, 4, 4, c, s, &err), &err);
}

/* get_resize_crop_region_for_grid, Python round half to even. */
static void test_crop_region(void) {
    int64_t c[4];
    ff_cogdit_crop_region(5, 13, 45, 30, c); /* COGVIDEOX.md cogvideox5b_rope_f3_h80_w208 */
    FF_CHECK(c[0] == 6 && c[1] == 0 && c[2] == 23 && c[3] == 45);
    ff_cogdit_crop_region(6, 3, 45, 30, c); /* cogvideox5b_rope_f2_h96_w48 */
    FF_CHECK(c[0] == 0 && c[1] == 15 && c[2] == 30 && c[3] == 30);
    ff_cogdit_crop_region(30, 45, 45, 30, c); /* the base grid itself */
    FF_CHECK(c[0] == 0 && c[1] == 0 && c[2] == 30 && c[3] == 45);
}

/* ofs_embed_dim (the 1.5 image-to-video transformer): the ofs embedding is
 * required and added to temb; random weights, CogVideoX 1.0 layout with
 * norm_elementwise_affine false and patch_bias false. */
static void test_ofs_random(void) {
    ff_cogdit_config cfg;
    ff_err err = {0};
    FF_REQUIRE_OK(parse_str("{\"num_attention_heads\": 2, \"attention_head_dim\": 16, \"in_channels\": 4, "
                            "\"out_channels\": 6, \"time_embed_dim\": 24, \"ofs_embed_dim\": 24, \"text_embed_dim\": "
                            "8, \"num_layers\": 2, \"max_text_seq_length\": 5, \"norm_elementwise_affine\": false, "
                            "\"patch_bias\": false}",
                            &cfg, &err),
                  &err);
    ff_cogdit_model *m;
    FF_REQUIRE_OK(ff_cogdit_create(&cfg, &m, &err), &err);
    FF_REQUIRE_OK(ff_cogdit_init_random(m, 3, &err), &err);
    FF_CHECK(m->norm_final.weight.data == NULL && m->patch_bias.data == NULL && m->ofs_linear_1.weight.data != NULL);
    ff_backend *be;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_tensor x, t, text, ofs, a = {0}, b = {0};
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 5, (int64_t)1, (int64_t)2, (int64_t)4, (int64_t)4, (int64_t)2),
                  &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&text, FF_F32, &err, 3, (int64_t)1, (int64_t)5, (int64_t)8), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&t, FF_F32, &err, 1, (int64_t)1), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&ofs, FF_F32, &err, 1, (int64_t)1), &err);
    ff_test_fill_uniform(&x, 1, -1, 1);
    ff_test_fill_uniform(&text, 2, -1, 1);
    ((float *)t.data)[0] = 700.5f;
    FF_CHECK(ff_cogdit_forward_host(m, be, &x, &t, &text, NULL, NULL, &a, &err) == FF_ERR_ARG); /* ofs missing */
    ff_cogdit_extras ex = {0};
    ex.ofs = &ofs;
    ((float *)ofs.data)[0] = 2.0f;
    FF_CHECK_OK(ff_cogdit_forward_host(m, be, &x, &t, &text, &ex, NULL, &a, &err), &err);
    ((float *)ofs.data)[0] = 0.0f;
    FF_CHECK_OK(ff_cogdit_forward_host(m, be, &x, &t, &text, &ex, NULL, &b, &err), &err);
    FF_CHECK(a.data && b.data && a.shape[2] == 6 && ff_rel_l2(&a, &b) > 1e-4); /* ofs reaches the output */
    ff_tensor_free(&a);
    ff_tensor_free(&b);
    ff_tensor_free(&x);
    ff_tensor_free(&t);
    ff_tensor_free(&text);
    ff_tensor_free(&ofs);
    ff_cogdit_free(m);
    ff_backend_free(be);
}

/* ---- forward checks on the tiny pipelines ---------------------------------------- */

typedef struct {
    int calls, next, bad_order;
    ff_weights *w;       /* lazy: read the block from here */
    ff_tensor saved[FF_COGDIT_BLOCK_PARAMS_MAX];
    int copy;            /* swap the block's tensors for copies */
} hook_state;

static ff_status before(void *user, int index, ff_cogdit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    hook_state *h = user;
    (void)blk;
    if (index != h->next) h->bad_order = 1;
    h->calls++;
    for (size_t i = 0; i < n; i++) {
        h->saved[i] = *ps[i].slot;
        ff_tensor t;
        ff_status st = h->w ? ff_weights_load(h->w, ps[i].name, ps[i].slot->dtype, &t, err)
                            : (h->copy ? ff_tensor_clone(&t, ps[i].slot, err) : FF_OK);
        if (st) return st;
        if (h->w || h->copy) *ps[i].slot = t;
    }
    return FF_OK;
}

static ff_status after(void *user, int index, ff_cogdit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    hook_state *h = user;
    (void)blk, (void)err;
    if (index != h->next) h->bad_order = 1;
    h->next++;
    for (size_t i = 0; i < n; i++) {
        if (h->w || h->copy) ff_tensor_free(ps[i].slot);
        *ps[i].slot = h->saved[i];
    }
    return FF_OK;
}

static int bits_equal(const ff_tensor *a, const ff_tensor *b) {
    return ff_tensor_same_shape(a, b) && memcmp(a->data, b->data, ff_tensor_nbytes(a)) == 0;
}

typedef struct {
    size_t cur, peak;
} meter_state;
static ff_status m_reserve(void *u, size_t n, ff_err *err) {
    (void)u, (void)n, (void)err;
    return FF_OK;
}
#define MAX_LIVE 4096
static void *live_ptr[MAX_LIVE];
static size_t live_size[MAX_LIVE];
static void m_commit(void *u, void *p, size_t n) {
    meter_state *m = u;
    if (!p) return;
    for (int i = 0; i < MAX_LIVE; i++)
        if (!live_ptr[i]) {
            live_ptr[i] = p, live_size[i] = n;
            break;
        }
    m->cur += n;
    if (m->cur > m->peak) m->peak = m->cur;
}
static void m_release(void *u, void *p) {
    meter_state *m = u;
    for (int i = 0; i < MAX_LIVE; i++)
        if (live_ptr[i] == p) {
            m->cur -= live_size[i];
            live_ptr[i] = NULL;
            return;
        }
}

/* One tiny pipeline: inputs from a fixed seed, then every variant of the
 * forward against the plain one. */
static void check_pipeline(const char *golden, const char *name, int64_t F, int64_t h, int64_t w) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/pipelines/%s/transformer", golden, name);
    ff_err err = {0};
    ff_backend *be = NULL;
    ff_cogdit_model *m = NULL, *lazy = NULL;
    ff_weights *wts = NULL;
    ff_tensor x = {0}, t = {0}, text = {0}, ref = {0}, o = {0}, x1 = {0}, t1 = {0}, text1 = {0}, o1 = {0};
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    if (ff_cogdit_load(dir, &m, &err)) {
        FF_CHECK_MSG(0, "%s", err.msg);
        goto done;
    }
    const ff_cogdit_config *cfg = &m->cfg;
    const int64_t B = 2, L = cfg->max_text_seq_length;
    FF_CHECK_OK(ff_tensor_allocv(&x, FF_F32, &err, 5, B, F, (int64_t)cfg->in_channels, h, w), &err);
    FF_CHECK_OK(ff_tensor_allocv(&text, FF_F32, &err, 3, B, L, (int64_t)cfg->text_embed_dim), &err);
    FF_CHECK_OK(ff_tensor_allocv(&t, FF_I64, &err, 1, B), &err);
    ff_test_fill_uniform(&x, 7, -2, 2);
    ff_test_fill_uniform(&text, 8, -1, 1);
    ((int64_t *)t.data)[0] = 999, ((int64_t *)t.data)[1] = 321;
    FF_REQUIRE_OK(ff_cogdit_forward_host(m, be, &x, &t, &text, NULL, NULL, &ref, &err), &err);
    FF_CHECK(ref.shape[1] == F && ref.shape[2] == cfg->out_channels);

    /* hooks: once per block in order; swapping the weights for copies gives the same bits */
    hook_state hs = {0};
    hs.copy = 1;
    ff_cogdit_hooks hooks = {before, after, &hs};
    FF_REQUIRE_OK(ff_cogdit_forward_host(m, be, &x, &t, &text, NULL, &hooks, &o, &err), &err);
    FF_CHECK(hs.calls == cfg->num_layers && hs.next == cfg->num_layers && !hs.bad_order);
    FF_CHECK_MSG(bits_equal(&o, &ref), "%s: hooked forward differs", name);
    ff_tensor_free(&o);

    /* lazy: blocks are shape-only until a hook reads them from the file */
    FF_REQUIRE_OK(ff_cogdit_load_lazy(dir, FF_F32, &lazy, &wts, &err), &err);
    FF_CHECK(lazy->blocks[0].to_q.weight.data == NULL && lazy->blocks[0].to_q.weight.ndim == 2);
    FF_CHECK(lazy->proj_out.weight.data != NULL);
    hook_state hl = {0};
    hl.w = wts;
    ff_cogdit_hooks lhooks = {before, after, &hl};
    FF_REQUIRE_OK(ff_cogdit_forward_host(lazy, be, &x, &t, &text, NULL, &lhooks, &o, &err), &err);
    FF_CHECK_MSG(bits_equal(&o, &ref), "%s: lazy forward differs from eager", name);
    FF_CHECK(lazy->blocks[0].to_q.weight.data == NULL); /* put back */
    ff_tensor_free(&o);

    /* BF16 matrices (ff_cogdit_load_as): within BF16 rounding of the F32 run */
    {
        ff_cogdit_model *mb = NULL;
        FF_REQUIRE_OK(ff_cogdit_load_as(dir, FF_BF16, &mb, &err), &err);
        FF_CHECK(mb->blocks[0].to_q.weight.dtype == FF_BF16 && mb->time_linear_1.weight.dtype == FF_F32 &&
                 mb->patch_weight.dtype == FF_F32);
        if (ff_cogdit_forward_host(mb, be, &x, &t, &text, NULL, NULL, &o, &err) == FF_OK) {
            double r = ff_rel_l2(&o, &ref);
            FF_CHECK_MSG(r > 0 && r < 1e-2, "%s: BF16 weights rel_l2 %.3e", name, r);
        } else {
            FF_CHECK_MSG(0, "%s", err.msg);
        }
        ff_tensor_free(&o);
        ff_cogdit_free(mb);
    }

    /* RoPE: the pipeline's tables passed in = computed inside */
    if (cfg->use_rotary_positional_embeddings) {
        int64_t grid[3];
        FF_REQUIRE_OK(ff_cogdit_grid(cfg, F, h, w, grid, &err), &err);
        const int64_t N = grid[0] * grid[1] * grid[2];
        ff_tensor rc, rs;
        FF_REQUIRE_OK(ff_tensor_allocv(&rc, FF_F32, &err, 2, N, (int64_t)cfg->head_dim), &err);
        FF_REQUIRE_OK(ff_tensor_allocv(&rs, FF_F32, &err, 2, N, (int64_t)cfg->head_dim), &err);
        FF_CHECK_OK(ff_cogdit_rope_tables(cfg, F, h, w, rc.data, rs.data, &err), &err);
        ff_cogdit_extras ex = {0};
        ex.rope_cos = &rc, ex.rope_sin = &rs;
        FF_CHECK_OK(ff_cogdit_forward_host(m, be, &x, &t, &text, &ex, NULL, &o, &err), &err);
        FF_CHECK(bits_equal(&o, &ref));
        ff_tensor_free(&o);
        /* a table of the wrong size is refused */
        rc.shape[0] = N - 1, rs.shape[0] = N - 1;
        FF_CHECK(ff_cogdit_forward_host(m, be, &x, &t, &text, &ex, NULL, &o, &err) == FF_ERR_SHAPE);
        rc.shape[0] = N, rs.shape[0] = N;
        ff_tensor_free(&rc);
        ff_tensor_free(&rs);
    } else {
        /* sincos models need L = max_text_seq_length */
        ff_tensor short_text;
        FF_REQUIRE_OK(ff_tensor_allocv(&short_text, FF_F32, &err, 3, B, L - 1, (int64_t)cfg->text_embed_dim), &err);
        FF_CHECK(ff_cogdit_forward_host(m, be, &x, &t, &short_text, NULL, NULL, &o, &err) == FF_ERR_SHAPE);
        FF_CHECK(strstr(err.msg, "max_text_seq_length") != NULL);
        ff_tensor_free(&short_text);
    }

    /* activation bytes: exactly what the forward allocates */
    {
        ff_tensor dx, dt, dout;
        FF_REQUIRE_OK(ff_be_alloc(be, &dx, FF_F32, 5, x.shape, &err), &err);
        FF_REQUIRE_OK(ff_be_alloc(be, &dt, FF_F32, 3, text.shape, &err), &err);
        FF_REQUIRE_OK(ff_be_alloc(be, &dout, FF_F32, 5, ref.shape, &err), &err);
        FF_CHECK_OK(ff_be_upload(be, &dx, &x, &err), &err);
        FF_CHECK_OK(ff_be_upload(be, &dt, &text, &err), &err);
        meter_state ms = {0, 0};
        ff_be_meter meter = {m_reserve, m_commit, m_release, &ms};
        ff_backend_set_meter(be, &meter);
        FF_CHECK_OK(ff_cogdit_forward(m, be, &dx, &t, &dt, NULL, NULL, &dout, &err), &err);
        ff_backend_set_meter(be, NULL);
        size_t pred = 0;
        FF_CHECK_OK(ff_cogdit_activation_bytes(cfg, x.shape, L, &pred, &err), &err);
        FF_CHECK_MSG(pred == ms.peak && ms.cur == 0, "%s: predicted %zu activation bytes, measured peak %zu", name,
                     pred, ms.peak);
        ff_be_free(be, &dx);
        ff_be_free(be, &dt);
        ff_be_free(be, &dout);
    }

    /* batch of two = each sample alone (joint attention and norms are per sample) */
    {
        const int64_t xs = ff_tensor_numel(&x) / B, ts = ff_tensor_numel(&text) / B, os = ff_tensor_numel(&ref) / B;
        double worst = 0;
        for (int64_t b = 0; b < B; b++) {
            FF_REQUIRE_OK(ff_tensor_allocv(&x1, FF_F32, &err, 5, (int64_t)1, x.shape[1], x.shape[2], x.shape[3],
                                           x.shape[4]),
                          &err);
            FF_REQUIRE_OK(ff_tensor_allocv(&text1, FF_F32, &err, 3, (int64_t)1, text.shape[1], text.shape[2]), &err);
            FF_REQUIRE_OK(ff_tensor_allocv(&t1, FF_I64, &err, 1, (int64_t)1), &err);
            memcpy(x1.data, (float *)x.data + b * xs, (size_t)xs * 4);
            memcpy(text1.data, (float *)text.data + b * ts, (size_t)ts * 4);
            ((int64_t *)t1.data)[0] = ((int64_t *)t.data)[b];
            FF_REQUIRE_OK(ff_cogdit_forward_host(m, be, &x1, &t1, &text1, NULL, NULL, &o1, &err), &err);
            ff_tensor refb;
            ff_tensor_view(&refb, FF_F32, 5, o1.shape, (float *)ref.data + b * os, FF_LOC_HOST);
            double r = ff_rel_l2(&o1, &refb);
            if (r > worst) worst = r;
            ff_tensor_free(&x1);
            ff_tensor_free(&text1);
            ff_tensor_free(&t1);
            ff_tensor_free(&o1);
        }
        FF_CHECK_MSG(worst < 1e-6, "%s: batch vs per-sample rel_l2 %.3e", name, worst);
    }
done:
    ff_tensor_free(&x);
    ff_tensor_free(&t);
    ff_tensor_free(&text);
    ff_tensor_free(&ref);
    ff_tensor_free(&o);
    ff_cogdit_free(m);
    ff_cogdit_free(lazy);
    ff_weights_free(wts);
    ff_backend_free(be);
}

static const char *golden_root(void) {
    static char dir[4200];
    return shared_dir(".", "pipelines/tiny-cogvideox/transformer/config.json", dir, sizeof dir) ? NULL : dir;
}

static void test_tiny_cogvideox(void) {
    if (golden_root()) check_pipeline(golden_root(), "tiny-cogvideox", 3, 4, 6);
}
static void test_tiny_cogvideox15(void) {
    if (golden_root()) check_pipeline(golden_root(), "tiny-cogvideox15", 4, 4, 6);
}

int main(void) {
    FF_RUN(test_param_counts);
    FF_RUN(test_config_errors);
    FF_RUN(test_crop_region);
    FF_RUN(test_ofs_random);
    if (!golden_root()) {
        if (ff_test_g.failures) return ff_test_summary();
        ff_test_skip("../shared/golden/pipelines/tiny-cogvideox absent: forward checks not run");
    }
    FF_RUN(test_tiny_cogvideox);
    FF_RUN(test_tiny_cogvideox15);
    return ff_test_summary();
}
