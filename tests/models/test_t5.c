/* Unit tests of models/t5 (the T5-family encoder) and models/t5_prompt
 * (CogVideoX's encode_prompt) on the CPU backend:
 *  - parameter counts of the real configs (T5-v1.1-XXL of CogVideoX and
 *    UMT5-XXL of Wan: the numbers of shared/configs/README.md);
 *  - where the relative position bias lives: T5 lists one table (block 0's,
 *    outside the blocks), UMT5 one per block; a UMT5 copy of the tiny
 *    CogVideoX encoder whose every block holds block 0's table gives the T5
 *    output bit for bit, and changing block 1's table changes it (UMT5 reads
 *    its own table per layer, T5 only block 0's);
 *  - hooks once per block in order; lazy loading streamed through
 *    offload/stream.h = eager loading bit for bit; activation bytes = the
 *    measured peak, with and without a mask;
 *  - encode_prompt: no mask, padded rows kept (not zeroed),
 *    num_videos_per_prompt repeats, the "" negative, a negative batch that
 *    does not match.
 * Model tests use the golden tiny CogVideoX folder (skipped without it). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ff_safetensors.h"
#include "kernels/ops.h"
#include "models/t5.h"
#include "models/t5_prompt.h"
#include "offload/pool.h"
#include "offload/stream.h"
#include "tests/common/ff_test.h"

static char g_te[4096], g_tok[4096];

static int have_golden(void) {
    const char *g = getenv("FF_GOLDEN");
    struct stat sb;
    if (!g) return 0;
    snprintf(g_te, sizeof g_te, "%s/pipelines/tiny-cogvideox/text_encoder", g);
    snprintf(g_tok, sizeof g_tok, "%s/pipelines/tiny-cogvideox/tokenizer", g);
    return stat(g_te, &sb) == 0 && stat(g_tok, &sb) == 0;
}

static void count_config(const char *rel, int64_t want_total, int want_bias_tables, int bias_per_layer) {
    const char *g = getenv("FF_GOLDEN");
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/../configs/%s/text_encoder/config.json", g ? g : ".", rel);
    if (!g || stat(path, &sb)) {
        fprintf(stderr, "  (no shared/configs/%s: count not checked)\n", rel);
        return;
    }
    ff_err err = {0};
    ff_t5_config c;
    FF_REQUIRE_OK(ff_t5_config_read(path, &c, &err), &err);
    FF_CHECK(c.bias_per_layer == bias_per_layer);
    ff_param *ps;
    size_t n;
    FF_REQUIRE_OK(ff_t5_params(&c, FF_BF16, NULL, &ps, &n, &err), &err);
    int64_t total = 0;
    int tables = 0;
    for (size_t i = 0; i < n; i++) {
        total += ff_param_numel(&ps[i]);
        if (strstr(ps[i].name, "relative_attention_bias")) {
            tables++;
            /* T5: block 0's table, outside the blocks; UMT5: each block's own */
            if (bias_per_layer) FF_CHECK(ps[i].block >= 0 && strstr(ps[i].name, "block.") && atoi(strstr(ps[i].name, "block.") + 6) == ps[i].block);
            else FF_CHECK(ps[i].block == -1 && strstr(ps[i].name, "encoder.block.0.") != NULL);
            FF_CHECK(ps[i].dtype == FF_F32);
        }
    }
    FF_CHECK_MSG(total == want_total, "%s: %lld parameters", rel, (long long)total);
    FF_CHECK(tables == want_bias_tables);
    free(ps);
}

static void test_real_config_counts(void) {
    /* shared/configs/README.md: cogvideox-* text_encoder 4,762,310,656; Wan UMT5-XXL 5,680,910,336 */
    count_config("cogvideox-2b", INT64_C(4762310656), 1, 0);
    count_config("wan2.1-t2v-1.3b", INT64_C(5680910336), 24, 1);
}

/* ---- bias placement ------------------------------------------------------------ */

/* A UMT5 copy of the tiny T5 encoder: every block gets block 0's table;
 * perturb != 0 changes block 1's. */
static void write_umt5_copy(const char *name, float perturb, char *dir, size_t dn) {
    ff_err err = {0};
    ff_test_tmp_path(name, dir, dn);
    mkdir(dir, 0755);
    char src[4300], dst[4300];
    snprintf(src, sizeof src, "%s/config.json", g_te);
    FILE *f = fopen(src, "rb");
    char text[8192] = {0};
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[len] = 0;
    char *p = strstr(text, "\"model_type\": \"t5\"");
    FF_REQUIRE(p != NULL);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    f = fopen(dst, "wb");
    FF_REQUIRE(f != NULL);
    fprintf(f, "%.*s\"model_type\": \"umt5\"%s", (int)(p - text), text, p + strlen("\"model_type\": \"t5\""));
    fclose(f);
    ff_weights *w;
    FF_REQUIRE_OK(ff_weights_open(g_te, &w, &err), &err);
    ff_t5_config c;
    FF_REQUIRE_OK(ff_t5_config_read(src, &c, &err), &err);
    size_t n = ff_weights_count(w), k = 0;
    ff_tensor *ts = calloc(n + (size_t)c.num_layers, sizeof *ts);
    ff_st_item *items = calloc(n + (size_t)c.num_layers, sizeof *items);
    char (*names)[128] = calloc((size_t)c.num_layers, sizeof *names);
    for (size_t i = 0; i < n; i++, k++) {
        const ff_st_entry *e = ff_weights_at(w, i, NULL);
        FF_REQUIRE_OK(ff_weights_load(w, e->name, FF_F32, &ts[k], &err), &err);
        items[k] = (ff_st_item){e->name, &ts[k]};
    }
    for (int64_t l = 1; l < c.num_layers; l++, k++) {
        snprintf(names[l], sizeof names[l], "encoder.block.%lld.layer.0.SelfAttention.relative_attention_bias.weight", (long long)l);
        FF_REQUIRE_OK(ff_weights_load(w, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", FF_F32, &ts[k], &err), &err);
        if (l == 1 && perturb != 0)
            for (int64_t j = 0; j < ff_tensor_numel(&ts[k]); j++) ((float *)ts[k].data)[j] += perturb * (float)((j % 7) - 3);
        items[k] = (ff_st_item){names[l], &ts[k]};
    }
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    FF_CHECK_OK(ff_st_write(dst, items, k, NULL, 0, &err), &err);
    for (size_t i = 0; i < k; i++) ff_tensor_free(&ts[i]);
    free(ts), free(items), free(names);
    ff_weights_free(w);
}

static void run_forward(ff_backend *be, const char *dir, const ff_tensor *ids, const ff_tensor *mask, ff_tensor *host) {
    ff_err err = {0};
    ff_t5 *m;
    memset(host, 0, sizeof *host);
    FF_REQUIRE_OK(ff_t5_load(be, dir, FF_F32, &m, &err), &err);
    ff_tensor out;
    FF_REQUIRE_OK(ff_t5_forward(m, ids, mask, NULL, &out, &err), &err);
    FF_CHECK_OK(ff_tensor_alloc(host, FF_F32, out.ndim, out.shape, &err), &err);
    FF_CHECK_OK(ff_be_download(be, host, &out, &err), &err);
    ff_be_free(be, &out);
    ff_t5_free(m);
}

static void test_bias_placement(void) {
    ff_err err = {0};
    ff_backend *be;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    char same[4096], diff[4096];
    write_umt5_copy("t5_as_umt5", 0.0f, same, sizeof same);
    write_umt5_copy("t5_as_umt5_b1", 0.05f, diff, sizeof diff);
    ff_tensor ids, mask;
    FF_REQUIRE_OK(ff_tensor_allocv(&ids, FF_I64, &err, 2, (int64_t)2, (int64_t)40), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&mask, FF_I64, &err, 2, (int64_t)2, (int64_t)40), &err);
    for (int i = 0; i < 80; i++) ((int64_t *)ids.data)[i] = (i * 13 + 1) % 300, ((int64_t *)mask.data)[i] = i < 70;
    for (int with_mask = 0; with_mask < 2; with_mask++) {
        ff_tensor t5, u_same, u_diff;
        const ff_tensor *mk = with_mask ? &mask : NULL;
        run_forward(be, g_te, &ids, mk, &t5);
        run_forward(be, same, &ids, mk, &u_same);
        run_forward(be, diff, &ids, mk, &u_diff);
        FF_CHECK_MSG(t5.data && u_same.data && !memcmp(t5.data, u_same.data, ff_tensor_nbytes(&t5)),
                     "T5 (one shared table) != UMT5 with that table in every block (mask %d)", with_mask);
        double d = 0;
        for (int64_t i = 0; u_diff.data && i < ff_tensor_numel(&t5); i++) d += fabs(((float *)t5.data)[i] - ((float *)u_diff.data)[i]);
        FF_CHECK_MSG(d > 1e-3, "UMT5 ignored block 1's own table (mask %d)", with_mask);
        ff_tensor_free(&t5), ff_tensor_free(&u_same), ff_tensor_free(&u_diff);
    }
    /* T5's config with UMT5's weights: block 1's table is not a T5 parameter */
    char bad[4096], p[4300];
    ff_test_tmp_path("umt5_as_t5", bad, sizeof bad);
    mkdir(bad, 0755);
    snprintf(p, sizeof p, "%s/config.json", bad);
    char cfg_src[4300];
    snprintf(cfg_src, sizeof cfg_src, "%s/config.json", g_te);
    FILE *in = fopen(cfg_src, "rb"), *out = fopen(p, "wb");
    FF_REQUIRE(in && out);
    int ch;
    while ((ch = fgetc(in)) != EOF) fputc(ch, out);
    fclose(in), fclose(out);
    char src[4300], dst[4300];
    snprintf(src, sizeof src, "%s/model.safetensors", same);
    snprintf(dst, sizeof dst, "%s/model.safetensors", bad);
    unlink(dst);
    FF_CHECK(symlink(src, dst) == 0);
    ff_t5 *m = NULL;
    FF_CHECK(ff_t5_load(be, bad, FF_F32, &m, &err) == FF_ERR_FORMAT && strstr(err.msg, "block.1.layer.0.SelfAttention.relative_attention_bias"));
    ff_tensor_free(&ids), ff_tensor_free(&mask);
    ff_backend_free(be);
}

/* ---- hooks, lazy + streamed, activation bytes --------------------------------------- */

typedef struct {
    int before[64], after[64], nb, na;
    ff_offload_stream *s;
} rec;

static ff_status rb(void *u, int i, ff_param *ps, size_t n, ff_err *err) {
    rec *r = u;
    if (r->nb < 64) r->before[r->nb++] = i;
    for (size_t k = 0; k < n; k++)
        if (ps[k].block != i) return ff_err_set(err, FF_ERR_INTERNAL, "%s in block %d", ps[k].name, i);
    return r->s ? ff_offload_stream_enter(r->s, i, err) : FF_OK;
}

static ff_status ra(void *u, int i, ff_param *ps, size_t n, ff_err *err) {
    rec *r = u;
    (void)ps, (void)n, (void)err;
    if (r->na < 64) r->after[r->na++] = i;
    if (r->s) ff_offload_stream_leave(r->s, i);
    return FF_OK;
}

static void test_hooks_stream_and_bytes(void) {
    ff_err err = {0};
    ff_backend *be;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_tensor ids;
    FF_REQUIRE_OK(ff_tensor_allocv(&ids, FF_I64, &err, 2, (int64_t)3, (int64_t)11), &err);
    for (int i = 0; i < 33; i++) ((int64_t *)ids.data)[i] = (i * 29 + 7) % 320;
    ff_t5 *m;
    FF_REQUIRE_OK(ff_t5_load(be, g_te, FF_F32, &m, &err), &err);
    const int L = (int)ff_t5_get_config(m)->num_layers;
    rec r = {{0}, {0}, 0, 0, NULL};
    ff_t5_hooks hooks = {rb, ra, &r};
    ff_tensor eager;
    FF_REQUIRE_OK(ff_t5_forward(m, &ids, NULL, &hooks, &eager, &err), &err);
    FF_CHECK(r.nb == L && r.na == L);
    for (int i = 0; i < L; i++) FF_CHECK(r.before[i] == i && r.after[i] == i);
    /* activation model = measured peak (no mask, then a mask) */
    ff_tensor mask;
    FF_REQUIRE_OK(ff_tensor_allocv(&mask, FF_I64, &err, 2, (int64_t)3, (int64_t)11), &err);
    for (int i = 0; i < 33; i++) ((int64_t *)mask.data)[i] = 1;
    for (int wm = 0; wm < 2; wm++) {
        ff_pool *pool;
        FF_REQUIRE_OK(ff_pool_create("device", 0, &pool, &err), &err);
        FF_REQUIRE_OK(ff_pool_attach(pool, be, &err), &err);
        ff_tensor out;
        FF_CHECK_OK(ff_t5_forward(m, &ids, wm ? &mask : NULL, NULL, &out, &err), &err);
        ff_pool_stats ps;
        ff_pool_stats_get(pool, &ps);
        size_t want = ff_t5_activation_bytes(ff_t5_get_config(m), 3, 11, wm);
        FF_CHECK_MSG(ps.peak == want, "mask %d: peak %zu, activation model %zu", wm, ps.peak, want);
        /* an all-ones mask is no mask (the extended mask adds zeros) */
        if (wm) FF_CHECK(!memcmp(((ff_tensor *)&out)->data, eager.data, ff_tensor_nbytes(&eager)));
        ff_be_free(be, &out);
        ff_pool_detach(pool);
        ff_pool_free(pool);
    }
    /* lazy + streamed (k = 1, from the file) = eager */
    for (int mode = 0; mode < 2; mode++) {
        ff_t5 *lz;
        ff_weights *w;
        FF_REQUIRE_OK(ff_t5_load_lazy(be, g_te, FF_F32, &lz, &w, &err), &err);
        ff_param *ps;
        size_t n;
        FF_REQUIRE_OK(ff_t5_params(ff_t5_get_config(lz), FF_F32, lz, &ps, &n, &err), &err);
        ff_tensor **res = calloc(n, sizeof *res), **blk = calloc(n, sizeof *blk);
        const char **rn = calloc(n, sizeof *rn), **bn = calloc(n, sizeof *bn);
        size_t nr = 0, nbk = 0;
        for (size_t i = 0; i < n; i++) {
            FF_CHECK(ps[i].block < 0 ? ps[i].slot->data != NULL : ps[i].slot->data == NULL);
            if (ps[i].block < 0) res[nr] = ps[i].slot, rn[nr++] = ps[i].name;
            else blk[nbk] = ps[i].slot, bn[nbk++] = ps[i].name;
        }
        ff_offload_opts o;
        ff_offload_opts_default(&o);
        o.mode = mode ? FF_OFFLOAD_STREAM : FF_OFFLOAD_RESIDENT;
        o.name = "text_encoder";
        o.block_weights = w;
        ff_offload_stream *s;
        FF_REQUIRE_OK(ff_offload_stream_create(be, &o, res, rn, nr, blk, bn, L, nbk / (size_t)L, &s, &err), &err);
        rec r2 = {{0}, {0}, 0, 0, s};
        ff_t5_hooks h2 = {rb, ra, &r2};
        ff_tensor out = {0}, host = {0};
        FF_CHECK_OK(ff_offload_stream_begin(s, &err), &err);
        FF_CHECK_OK(ff_t5_forward(lz, &ids, NULL, &h2, &out, &err), &err);
        ff_offload_stream_end(s);
        if (out.data) {
            FF_CHECK_OK(ff_tensor_alloc(&host, FF_F32, out.ndim, out.shape, &err), &err);
            FF_CHECK_OK(ff_be_download(be, &host, &out, &err), &err);
            FF_CHECK_MSG(!memcmp(host.data, eager.data, ff_tensor_nbytes(&eager)), "%s != eager", mode ? "streamed" : "resident");
            ff_be_free(be, &out);
        }
        ff_tensor_free(&host);
        ff_offload_stream_free(s);
        free(res), free(blk), free(rn), free(bn), free(ps);
        ff_t5_free(lz);
        ff_weights_free(w);
    }
    ff_be_free(be, &eager);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_t5_free(m);
    ff_backend_free(be);
}

/* ---- CogVideoX encode_prompt ------------------------------------------------------ */

static void test_cogvideox_encode_prompt(void) {
    ff_err err = {0};
    ff_backend *be;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_tok *tok;
    ff_t5 *te;
    FF_REQUIRE_OK(ff_tok_load(g_tok, &tok, &err), &err);
    FF_REQUIRE_OK(ff_t5_load(be, g_te, FF_T5_AS_STORED, &te, &err), &err);
    const char *prompts[2] = {"A cat", "A dog runs"};
    ff_t5_prompt_request req = {prompts, 2, NULL, 0, 1, 3, 12, NULL};
    ff_t5_prompt_result r;
    FF_REQUIRE_OK(ff_t5_prompt_encode_cogvideox(tok, te, &req, &r, &err), &err);
    const int64_t L = 12, D = ff_t5_get_config(te)->d_model;
    FF_CHECK(r.prompt_embeds.shape[0] == 6 && r.prompt_embeds.shape[1] == L && r.prompt_embeds.shape[2] == D);
    FF_CHECK(r.input_ids.shape[0] == 2 && r.negative_input_ids.shape[0] == 2);
    const size_t row = (size_t)(L * D) * sizeof(float);
    const char *e = r.prompt_embeds.data, *ne = r.negative_prompt_embeds.data;
    /* p0, p0, p0, p1, p1, p1 */
    FF_CHECK(!memcmp(e, e + row, row) && !memcmp(e, e + 2 * row, row) && !memcmp(e + 3 * row, e + 5 * row, row) && memcmp(e, e + 3 * row, row));
    /* the padded positions are kept as the encoder gives them (not zeroed) */
    const int64_t *ids = r.input_ids.data;
    FF_CHECK(ids[L - 1] == ff_tok_pad_id(tok));
    double pad_norm = 0;
    for (int64_t d = 0; d < D; d++) pad_norm += fabs(((const float *)e)[(L - 1) * D + d]);
    FF_CHECK(pad_norm > 0);
    /* negative_prompt None -> "": </s> then padding; the same rows for both prompts */
    const int64_t *nids = r.negative_input_ids.data;
    FF_CHECK(nids[0] == ff_tok_eos_id(tok) && nids[1] == ff_tok_pad_id(tok) && nids[L] == ff_tok_eos_id(tok));
    FF_CHECK(!memcmp(ne, ne + 3 * row, row));
    ff_t5_prompt_free(&r);
    /* no CFG: no negative tensors; a negative batch of 3 for 2 prompts is refused */
    req.do_cfg = 0;
    FF_REQUIRE_OK(ff_t5_prompt_encode_cogvideox(tok, te, &req, &r, &err), &err);
    FF_CHECK(r.negative_prompt_embeds.data == NULL && r.negative_input_ids.data == NULL);
    ff_t5_prompt_free(&r);
    const char *negs[3] = {"a", "b", "c"};
    ff_t5_prompt_request bad = {prompts, 2, negs, 3, 1, 1, 12, NULL};
    FF_CHECK(ff_t5_prompt_encode_cogvideox(tok, te, &bad, &r, &err) == FF_ERR_ARG);
    ff_t5_prompt_request zero = {prompts, 2, NULL, 0, 0, 0, 12, NULL};
    FF_CHECK(ff_t5_prompt_encode_cogvideox(tok, te, &zero, &r, &err) == FF_ERR_ARG);
    ff_tok_free(tok);
    ff_t5_free(te);
    ff_backend_free(be);
}

int main(void) {
    FF_RUN(test_real_config_counts);
    if (!have_golden()) {
        if (ff_test_summary()) return 1;
        ff_test_skip("no golden tiny-cogvideox (set FF_GOLDEN): model tests not run");
    }
    FF_RUN(test_bias_placement);
    FF_RUN(test_hooks_stream_and_bytes);
    FF_RUN(test_cogvideox_encode_prompt);
    return ff_test_summary();
}
