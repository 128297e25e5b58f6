/* Unit tests of models/llama (the Llama text encoder) on the CPU backend:
 * parameter counts of the real HunyuanVideo text encoder config (the
 * numbers of shared/configs/README.md), config validation, rotary
 * frequencies (default / linear / dynamic / llama3) against double-precision
 * formulas, the forward against a naive reference written from
 * transformers' formulas (grouped-query attention with kv heads < heads,
 * rotate_half RoPE, causal + padding mask, biases), the hooks (once per
 * layer that runs, in order; hidden_index skips the layers above it),
 * lazy loading streamed through offload/stream.h = eager loading bit for
 * bit, and the activation-bytes model = the measured peak. The models are
 * random, written to a scratch folder by the test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_safetensors.h"
#include "kernels/ops.h"
#include "models/llama.h"
#include "offload/pool.h"
#include "offload/stream.h"
#include "tests/common/ff_test.h"

static ff_status parse(const char *json, ff_llama_config *c, ff_err *err) {
    ff_json_doc *doc;
    ff_status st = ff_json_parse(json, strlen(json), "test config", &doc, err);
    if (st) return st;
    st = ff_llama_config_parse(ff_json_root(doc), "test config", c, err);
    ff_json_free(doc);
    return st;
}

/* ---- parameter counts --------------------------------------------------------- */

static void test_real_config_counts(void) {
    const char *g = getenv("FF_GOLDEN");
    char path[4200];
    snprintf(path, sizeof path, "%s/../configs/hunyuanvideo/text_encoder/config.json", g ? g : ".");
    struct stat sb;
    if (!g || stat(path, &sb)) {
        fprintf(stderr, "  (no shared/configs: real-config counts not checked)\n");
        return;
    }
    ff_err err = {0};
    ff_llama_config c;
    FF_REQUIRE_OK(ff_llama_config_read(path, &c, &err), &err);
    FF_CHECK(c.num_layers == 32 && c.num_heads == 32 && c.num_kv_heads == 8 && c.head_dim == 128);
    FF_CHECK(c.rope_type == FF_LLAMA_ROPE_DEFAULT && c.rope_theta == 500000.0);
    ff_param *ps;
    size_t n;
    FF_REQUIRE_OK(ff_llama_params(&c, FF_BF16, NULL, &ps, &n, &err), &err);
    int64_t total = 0, block0 = 0, nonblock = 0;
    size_t per_block[64] = {0};
    for (size_t i = 0; i < n; i++) {
        total += ff_param_numel(&ps[i]);
        if (ps[i].block < 0) nonblock += ff_param_numel(&ps[i]);
        else {
            FF_REQUIRE(ps[i].block < 64);
            per_block[ps[i].block]++;
            if (ps[i].block == 0) block0 += ff_param_numel(&ps[i]);
            /* every layer has the same shapes as layer 0 (streamable) */
            const ff_param *z = &ps[1 + (i - 1) % 9];
            FF_CHECK(z->ndim == ps[i].ndim && z->shape[0] == ps[i].shape[0] && z->shape[1] == ps[i].shape[1] && z->dtype == ps[i].dtype);
        }
        FF_CHECK(ps[i].dtype == (ps[i].ndim == 2 && ps[i].block >= 0 ? FF_BF16 : FF_F32));
    }
    /* shared/configs/README.md: hunyuanvideo text_encoder 7,505,186,816 */
    FF_CHECK_MSG(total == INT64_C(7505186816), "total %lld", (long long)total);
    FF_CHECK_MSG(block0 == INT64_C(218112000), "per layer %lld", (long long)block0);
    FF_CHECK_MSG(nonblock == INT64_C(525598720) + 4096, "outside the layers %lld", (long long)nonblock);
    for (int b = 0; b < 32; b++) FF_CHECK(per_block[b] == 9);
    FF_CHECK(!strcmp(ps[0].name, "embed_tokens.weight") && !strcmp(ps[n - 1].name, "norm.weight"));
    FF_CHECK(!strcmp(ps[2].name, "layers.0.self_attn.q_proj.weight"));
    free(ps);
}

static void test_config_errors(void) {
    ff_err err = {0};
    ff_llama_config c;
    FF_CHECK_OK(parse("{\"hidden_size\": 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 2}", &c, &err), &err);
    FF_CHECK(c.head_dim == 16 && c.num_kv_heads == 2 && c.act == FF_UNARY_SILU && c.rms_norm_eps == 1e-6f);
    FF_CHECK(parse("{\"num_attention_heads\": 32, \"num_key_value_heads\": 3}", &c, &err) == FF_ERR_FORMAT);
    FF_CHECK(parse("{\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}", &c, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(strstr(err.msg, "yarn") != NULL);
    FF_CHECK(parse("{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}}", &c, &err) == FF_ERR_FORMAT);
    FF_CHECK(parse("{\"hidden_act\": \"tanh\"}", &c, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(parse("{\"model_type\": \"mistral\"}", &c, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(parse("{\"head_dim\": 7}", &c, &err) == FF_ERR_UNSUPPORTED);
    FF_CHECK(parse("{\"rms_norm_eps\": \"x\"}", &c, &err) == FF_ERR_FORMAT);
    FF_CHECK_OK(parse("{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}", &c, &err), &err);
    FF_CHECK(c.rope_type == FF_LLAMA_ROPE_LINEAR && c.rope_factor == 2.0);
}

/* ---- rotary frequencies --------------------------------------------------------- */

static void test_rope_inv_freq(void) {
    ff_err err = {0};
    ff_llama_config c;
    float inv[64];
    FF_REQUIRE_OK(parse("{\"hidden_size\": 1024, \"num_attention_heads\": 8, \"rope_theta\": 500000.0}", &c, &err), &err);
    ff_llama_rope_inv_freq(&c, 10, inv);
    for (int j = 0; j < 64; j++) {
        double want = pow(500000.0, -2.0 * j / 128.0);
        FF_CHECK_MSG(fabs(inv[j] - want) <= 2e-6 * want, "default j=%d %g vs %g", j, inv[j], want);
    }
    FF_REQUIRE_OK(parse("{\"hidden_size\": 1024, \"num_attention_heads\": 8, \"rope_scaling\": {\"rope_type\": \"linear\", "
                        "\"factor\": 4.0}}",
                        &c, &err),
                  &err);
    ff_llama_rope_inv_freq(&c, 10, inv);
    for (int j = 0; j < 64; j++) FF_CHECK(fabs(inv[j] - pow(10000.0, -2.0 * j / 128.0) / 4) <= 2e-6 * inv[j]);
    /* llama3 (Llama 3.1's values): long wavelengths / 8, short ones kept, a smooth band between */
    FF_REQUIRE_OK(parse("{\"hidden_size\": 1024, \"num_attention_heads\": 8, \"rope_theta\": 500000.0, \"rope_scaling\": "
                        "{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                        "\"original_max_position_embeddings\": 8192}}",
                        &c, &err),
                  &err);
    ff_llama_rope_inv_freq(&c, 10, inv);
    int low = 0, high = 0, mid = 0;
    for (int j = 0; j < 64; j++) {
        double f = pow(500000.0, -2.0 * j / 128.0), wl = 2 * M_PI / f, want;
        if (wl < 8192.0 / 4) want = f, high++;
        else if (wl > 8192.0) want = f / 8, low++;
        else {
            double s = (8192.0 / wl - 1.0) / 3.0;
            want = (1 - s) * f / 8 + s * f;
            mid++;
        }
        FF_CHECK_MSG(fabs(inv[j] - want) <= 1e-5 * want, "llama3 j=%d %g vs %g", j, inv[j], want);
    }
    FF_CHECK(low > 0 && high > 0 && mid > 0);
    /* dynamic NTK: unchanged up to max_position_embeddings, a larger base beyond */
    FF_REQUIRE_OK(parse("{\"hidden_size\": 64, \"num_attention_heads\": 4, \"max_position_embeddings\": 16, \"rope_scaling\": "
                        "{\"rope_type\": \"dynamic\", \"factor\": 2.0}}",
                        &c, &err),
                  &err);
    float a[8], b[8];
    ff_llama_rope_inv_freq(&c, 16, a);
    ff_llama_rope_inv_freq(&c, 40, b);
    double base = 10000.0 * pow(2.0 * 40 / 16 - 1.0, 16.0 / 14.0);
    for (int j = 0; j < 8; j++) {
        FF_CHECK(fabs(a[j] - pow(10000.0, -2.0 * j / 16)) <= 2e-6 * a[j]);
        FF_CHECK(fabs(b[j] - pow(base, -2.0 * j / 16)) <= 2e-6 * b[j]);
    }
}

/* ---- a random model on disk and a reference forward ---------------------------------- */

typedef struct {
    char dir[4096];
    ff_llama_config c;
} tiny;

static void write_model(tiny *t, const char *name, const char *cfg_json, unsigned seed) {
    ff_err err = {0};
    ff_test_tmp_path(name, t->dir, sizeof t->dir);
    mkdir(t->dir, 0755);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", t->dir);
    FILE *f = fopen(path, "wb");
    FF_REQUIRE(f != NULL);
    fputs(cfg_json, f);
    fclose(f);
    FF_REQUIRE_OK(parse(cfg_json, &t->c, &err), &err);
    ff_param *ps;
    size_t n;
    FF_REQUIRE_OK(ff_llama_params(&t->c, FF_F32, NULL, &ps, &n, &err), &err);
    ff_tensor *ts = calloc(n, sizeof *ts);
    ff_st_item *items = calloc(n, sizeof *items);
    FF_REQUIRE(ts && items);
    for (size_t i = 0; i < n; i++) {
        FF_REQUIRE_OK(ff_tensor_alloc(&ts[i], FF_F32, ps[i].ndim, ps[i].shape, &err), &err);
        int norm = strstr(ps[i].name, "norm") != NULL;
        float a = ps[i].ndim == 2 && !strstr(ps[i].name, "embed") ? 1.0f / sqrtf((float)ps[i].shape[1]) : 0.5f;
        ff_test_fill_uniform(&ts[i], seed + (unsigned)i * 7919u, norm ? 0.8f : -a, norm ? 1.2f : a);
        if (strstr(ps[i].name, ".bias")) ff_test_fill_uniform(&ts[i], seed + (unsigned)i, -0.1f, 0.1f);
        items[i] = (ff_st_item){ps[i].name, &ts[i]};
    }
    snprintf(path, sizeof path, "%s/model.safetensors", t->dir);
    FF_CHECK_OK(ff_st_write(path, items, n, NULL, 0, &err), &err);
    for (size_t i = 0; i < n; i++) ff_tensor_free(&ts[i]);
    free(ts);
    free(items);
    free(ps);
}

static const float *tensor_of(const ff_weights *w, const char *name, ff_tensor *keep) {
    ff_err err = {0};
    if (ff_weights_load(w, name, FF_F32, keep, &err)) return NULL;
    return keep->data;
}

/* transformers' LlamaModel, literally: repeat_kv, rotate_half, eager
 * attention with the causal + padding mask, in double. all: (N+1, B, L, D). */
static void reference(const tiny *t, const int64_t *ids, const int64_t *mask, int B, int L, double *all) {
    const ff_llama_config *c = &t->c;
    const int D = (int)c->hidden_size, H = (int)c->num_heads, KV = (int)c->num_kv_heads, hd = (int)c->head_dim, I = (int)c->intermediate_size;
    const int N = (int)c->num_layers, half = hd / 2, rep = H / KV;
    ff_err err = {0};
    ff_weights *w;
    if (ff_weights_open(t->dir, &w, &err)) return;
    ff_tensor keep[16] = {{0}};
    char n[128];
    const float *emb = tensor_of(w, "embed_tokens.weight", &keep[0]);
    double *h = malloc(sizeof(double) * B * L * D), *x = malloc(sizeof(double) * B * L * D);
    double *q = malloc(sizeof(double) * B * L * H * hd), *k = malloc(sizeof(double) * B * L * KV * hd), *v = malloc(sizeof(double) * B * L * KV * hd);
    double *att = malloc(sizeof(double) * B * L * H * hd), *g = malloc(sizeof(double) * I), *u = malloc(sizeof(double) * I), *p = malloc(sizeof(double) * L);
    for (int i = 0; i < B * L; i++)
        for (int d = 0; d < D; d++) h[i * D + d] = emb[ids[i] * D + d];
    memcpy(all, h, sizeof(double) * B * L * D);
#define W(slot, fmt) (snprintf(n, sizeof n, fmt, l), tensor_of(w, n, &keep[slot]))
    for (int l = 0; l < N; l++) {
        const float *ln1 = W(1, "layers.%d.input_layernorm.weight"), *wq = W(2, "layers.%d.self_attn.q_proj.weight"),
                    *wk = W(3, "layers.%d.self_attn.k_proj.weight"), *wv = W(4, "layers.%d.self_attn.v_proj.weight"),
                    *wo = W(5, "layers.%d.self_attn.o_proj.weight"), *ln2 = W(6, "layers.%d.post_attention_layernorm.weight"),
                    *wg = W(7, "layers.%d.mlp.gate_proj.weight"), *wu = W(8, "layers.%d.mlp.up_proj.weight"),
                    *wd = W(9, "layers.%d.mlp.down_proj.weight");
        const float *bq = c->attention_bias ? W(10, "layers.%d.self_attn.q_proj.bias") : NULL,
                    *bk = c->attention_bias ? W(11, "layers.%d.self_attn.k_proj.bias") : NULL,
                    *bv = c->attention_bias ? W(12, "layers.%d.self_attn.v_proj.bias") : NULL,
                    *bo = c->attention_bias ? W(13, "layers.%d.self_attn.o_proj.bias") : NULL,
                    *bg = c->mlp_bias ? W(14, "layers.%d.mlp.gate_proj.bias") : NULL,
                    *bu = c->mlp_bias ? W(15, "layers.%d.mlp.up_proj.bias") : NULL;
        snprintf(n, sizeof n, "layers.%d.mlp.down_proj.bias", l);
        ff_tensor kb = {0};
        const float *bd = c->mlp_bias ? tensor_of(w, n, &kb) : NULL;
        for (int i = 0; i < B * L; i++) { /* RMSNorm, q/k/v */
            double ss = 0;
            for (int d = 0; d < D; d++) ss += h[i * D + d] * h[i * D + d];
            double r = 1.0 / sqrt(ss / D + c->rms_norm_eps);
            for (int d = 0; d < D; d++) x[i * D + d] = ln1[d] * h[i * D + d] * r;
            for (int o = 0; o < H * hd; o++) {
                double s = bq ? bq[o] : 0;
                for (int d = 0; d < D; d++) s += wq[o * D + d] * x[i * D + d];
                q[i * H * hd + o] = s;
            }
            for (int o = 0; o < KV * hd; o++) {
                double s = bk ? bk[o] : 0, s2 = bv ? bv[o] : 0;
                for (int d = 0; d < D; d++) s += wk[o * D + d] * x[i * D + d], s2 += wv[o * D + d] * x[i * D + d];
                k[i * KV * hd + o] = s, v[i * KV * hd + o] = s2;
            }
        }
        for (int b = 0; b < B; b++) /* q*cos + rotate_half(q)*sin */
            for (int i = 0; i < L; i++)
                for (int j = 0; j < half; j++) {
                    double f = pow(c->rope_theta, -2.0 * j / hd), cs = cos(i * f), sn = sin(i * f);
                    for (int hh = 0; hh < H + KV; hh++) {
                        double *r = hh < H ? &q[((b * L + i) * H + hh) * hd] : &k[((b * L + i) * KV + hh - H) * hd];
                        double x1 = r[j], x2 = r[j + half];
                        r[j] = x1 * cs - x2 * sn;
                        r[j + half] = x2 * cs + x1 * sn;
                    }
                }
        for (int b = 0; b < B; b++) /* softmax(q k^T / sqrt(hd) + mask) v, kv head = head / rep */
            for (int hh = 0; hh < H; hh++)
                for (int i = 0; i < L; i++) {
                    const int kh = hh / rep;
                    double mx = -INFINITY, den = 0;
                    for (int j = 0; j < L; j++) {
                        if (j > i || (mask && !mask[b * L + j])) {
                            p[j] = -INFINITY;
                            continue;
                        }
                        double s = 0;
                        for (int d = 0; d < hd; d++) s += q[((b * L + i) * H + hh) * hd + d] * k[((b * L + j) * KV + kh) * hd + d];
                        p[j] = s / sqrt((double)hd);
                        if (p[j] > mx) mx = p[j];
                    }
                    for (int j = 0; j < L; j++) den += p[j] == -INFINITY ? 0 : exp(p[j] - mx);
                    for (int d = 0; d < hd; d++) {
                        double s = 0;
                        for (int j = 0; j < L; j++)
                            if (p[j] != -INFINITY) s += exp(p[j] - mx) / den * v[((b * L + j) * KV + kh) * hd + d];
                        att[((b * L + i) * H + hh) * hd + d] = s;
                    }
                }
        for (int i = 0; i < B * L; i++) {
            for (int o = 0; o < D; o++) {
                double s = bo ? bo[o] : 0;
                for (int e = 0; e < H * hd; e++) s += wo[o * H * hd + e] * att[i * H * hd + e];
                h[i * D + o] += s;
            }
            double ss = 0;
            for (int d = 0; d < D; d++) ss += h[i * D + d] * h[i * D + d];
            double r = 1.0 / sqrt(ss / D + c->rms_norm_eps);
            for (int d = 0; d < D; d++) x[i * D + d] = ln2[d] * h[i * D + d] * r;
            for (int o = 0; o < I; o++) {
                double s = bg ? bg[o] : 0, s2 = bu ? bu[o] : 0;
                for (int d = 0; d < D; d++) s += wg[o * D + d] * x[i * D + d], s2 += wu[o * D + d] * x[i * D + d];
                g[o] = s / (1 + exp(-s)) * s2;
            }
            for (int o = 0; o < D; o++) {
                double s = bd ? bd[o] : 0;
                for (int e = 0; e < I; e++) s += wd[o * I + e] * g[e];
                h[i * D + o] += s;
            }
        }
        memcpy(all + (size_t)(l + 1) * B * L * D, h, sizeof(double) * B * L * D);
        ff_tensor_free(&kb);
        for (int s = 1; s < 16; s++) ff_tensor_free(&keep[s]);
    }
#undef W
    const float *nw = tensor_of(w, "norm.weight", &keep[1]);
    double *last = all + (size_t)N * B * L * D;
    for (int i = 0; i < B * L; i++) {
        double ss = 0;
        for (int d = 0; d < D; d++) ss += last[i * D + d] * last[i * D + d];
        double r = 1.0 / sqrt(ss / D + c->rms_norm_eps);
        for (int d = 0; d < D; d++) last[i * D + d] = nw[d] * last[i * D + d] * r;
    }
    for (int s = 0; s < 16; s++) ff_tensor_free(&keep[s]);
    free(h), free(x), free(q), free(k), free(v), free(att), free(g), free(u), free(p);
    ff_weights_free(w);
}

typedef struct {
    ff_backend *be;
    float *all;     /* (N+1, B, L, D) */
    int seen[64];   /* hidden_state indices in call order */
    int n_seen;
    int before[64], after[64], n_before, n_after;
    ff_offload_stream *s;
} recorder;

static ff_status rec_hidden(void *user, int index, const ff_tensor *h, ff_err *err) {
    recorder *r = user;
    if (r->n_seen < 64) r->seen[r->n_seen++] = index;
    if (!r->all) return FF_OK;
    ff_tensor dst;
    ff_tensor_view(&dst, FF_F32, h->ndim, h->shape, r->all + (size_t)index * (size_t)ff_tensor_numel(h), FF_LOC_HOST);
    return ff_be_download(r->be, &dst, h, err);
}

static ff_status rec_before(void *user, int index, ff_param *ps, size_t n, ff_err *err) {
    recorder *r = user;
    if (r->n_before < 64) r->before[r->n_before++] = index;
    for (size_t i = 0; i < n; i++)
        if (ps[i].block != index) return ff_err_set(err, FF_ERR_INTERNAL, "param %s of block %d in layer %d", ps[i].name, ps[i].block, index);
    return r->s ? ff_offload_stream_enter(r->s, index, err) : FF_OK;
}

static ff_status rec_after(void *user, int index, ff_param *ps, size_t n, ff_err *err) {
    recorder *r = user;
    (void)ps, (void)n, (void)err;
    if (r->n_after < 64) r->after[r->n_after++] = index;
    if (r->s) ff_offload_stream_leave(r->s, index);
    return FF_OK;
}

static double rel_l2_d(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
    return sqrt(num / (den ? den : 1));
}

static void check_against_reference(const char *name, const char *cfg) {
    tiny t;
    write_model(&t, name, cfg, 17);
    ff_err err = {0};
    ff_backend *be;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_llama *m;
    FF_REQUIRE_OK(ff_llama_load(be, t.dir, FF_F32, &m, &err), &err);
    enum { B = 2, L = 7 };
    const int N = (int)t.c.num_layers, D = (int)t.c.hidden_size;
    ff_tensor ids, mask;
    FF_REQUIRE_OK(ff_tensor_allocv(&ids, FF_I64, &err, 2, (int64_t)B, (int64_t)L), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&mask, FF_I64, &err, 2, (int64_t)B, (int64_t)L), &err);
    for (int i = 0; i < B * L; i++) {
        ((int64_t *)ids.data)[i] = (i * 37 + 5) % t.c.vocab_size;
        ((int64_t *)mask.data)[i] = !(i / L == 1 && i % L >= 4); /* row 1: 4 tokens then padding */
    }
    float *all = calloc((size_t)(N + 1) * B * L * D, sizeof *all);
    double *want = calloc((size_t)(N + 1) * B * L * D, sizeof *want);
    recorder r = {be, all, {0}, 0, {0}, {0}, 0, 0, NULL};
    ff_llama_hooks hooks = {rec_before, rec_after, rec_hidden, &r};
    ff_tensor out;
    FF_REQUIRE_OK(ff_llama_forward(m, &ids, &mask, -1, &hooks, &out, &err), &err);
    reference(&t, ids.data, mask.data, B, L, want);
    for (int s = 0; s <= N; s++) {
        double e = rel_l2_d(all + (size_t)s * B * L * D, want + (size_t)s * B * L * D, (size_t)B * L * D);
        FF_CHECK_MSG(e <= 1e-5, "%s: hidden_states[%d] rel_l2 %.3g", name, s, e);
    }
    /* the output is hidden_states[N]; hooks once per layer, in order */
    FF_CHECK(!memcmp(out.data, all + (size_t)N * B * L * D, sizeof(float) * B * L * D));
    FF_CHECK(r.n_before == N && r.n_after == N && r.n_seen == N + 1);
    for (int i = 0; i < N; i++) FF_CHECK(r.before[i] == i && r.after[i] == i);
    for (int i = 0; i <= N; i++) FF_CHECK(r.seen[i] == i);
    ff_be_free(be, &out);
    /* hidden_states[-3]: layers N-1 and N never run; the result is hidden_states[N-2] exactly */
    recorder r2 = {be, NULL, {0}, 0, {0}, {0}, 0, 0, NULL};
    ff_llama_hooks h2 = {rec_before, rec_after, rec_hidden, &r2};
    FF_REQUIRE_OK(ff_llama_forward(m, &ids, &mask, -3, &h2, &out, &err), &err);
    FF_CHECK(r2.n_before == N - 2 && r2.n_after == N - 2 && r2.n_seen == N - 1);
    FF_CHECK(!memcmp(out.data, all + (size_t)(N - 2) * B * L * D, sizeof(float) * B * L * D));
    ff_be_free(be, &out);
    FF_CHECK(ff_llama_forward(m, &ids, &mask, N + 1, NULL, &out, &err) == FF_ERR_ARG);
    ((int64_t *)ids.data)[3] = t.c.vocab_size;
    FF_CHECK(ff_llama_forward(m, &ids, &mask, -1, NULL, &out, &err) == FF_ERR_ARG);
    free(all);
    free(want);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_llama_free(m);
    ff_backend_free(be);
}

static void test_forward_gqa(void) {
    /* kv heads < heads (2 q heads per kv head), biases on q/k/v/o */
    check_against_reference("llama_gqa",
                            "{\"vocab_size\": 50, \"hidden_size\": 32, \"intermediate_size\": 40, \"num_hidden_layers\": 4, "
                            "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"attention_bias\": true, "
                            "\"rope_theta\": 500000.0, \"rms_norm_eps\": 1e-05}");
    /* multi-query (one kv head), head_dim given, MLP biases */
    check_against_reference("llama_mqa",
                            "{\"vocab_size\": 40, \"hidden_size\": 24, \"intermediate_size\": 48, \"num_hidden_layers\": 3, "
                            "\"num_attention_heads\": 4, \"num_key_value_heads\": 1, \"head_dim\": 10, \"mlp_bias\": true}");
    /* plain multi-head */
    check_against_reference("llama_mha",
                            "{\"vocab_size\": 30, \"hidden_size\": 16, \"intermediate_size\": 24, \"num_hidden_layers\": 3, "
                            "\"num_attention_heads\": 2, \"num_key_value_heads\": 2}");
}

/* ---- lazy + streamed = eager; activation bytes = peak ----------------------------------- */

static const char *k_cfg =
    "{\"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 48, \"num_hidden_layers\": 4, "
    "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"rope_theta\": 10000.0}";

static void stream_forward(ff_backend *be, const char *dir, ff_offload_mode mode, const ff_tensor *ids, const ff_tensor *mask,
                           int hidden_index, ff_tensor *out_host) {
    ff_err err = {0};
    ff_llama *m;
    ff_weights *w;
    FF_REQUIRE_OK(ff_llama_load_lazy(be, dir, FF_F32, &m, &w, &err), &err);
    ff_param *ps;
    size_t n;
    FF_REQUIRE_OK(ff_llama_params(ff_llama_get_config(m), FF_F32, m, &ps, &n, &err), &err);
    ff_tensor **res = calloc(n, sizeof *res), **blk = calloc(n, sizeof *blk);
    const char **rn = calloc(n, sizeof *rn), **bn = calloc(n, sizeof *bn);
    size_t nr = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        FF_CHECK(ps[i].block < 0 ? ps[i].slot->data != NULL : ps[i].slot->data == NULL); /* layers left unloaded */
        if (ps[i].block < 0) res[nr] = ps[i].slot, rn[nr++] = ps[i].name;
        else blk[nb] = ps[i].slot, bn[nb++] = ps[i].name;
    }
    const int L = (int)ff_llama_get_config(m)->num_layers;
    ff_offload_opts o;
    ff_offload_opts_default(&o);
    o.mode = mode;
    o.group = 1;
    o.name = "text_encoder";
    o.block_weights = w;
    ff_offload_stream *s = NULL;
    FF_REQUIRE_OK(ff_offload_stream_create(be, &o, res, rn, nr, blk, bn, L, nb / (size_t)L, &s, &err), &err);
    recorder r = {be, NULL, {0}, 0, {0}, {0}, 0, 0, s};
    ff_llama_hooks hooks = {rec_before, rec_after, NULL, &r};
    ff_tensor out = {0};
    FF_CHECK_OK(ff_offload_stream_begin(s, &err), &err);
    FF_CHECK_OK(ff_llama_forward(m, ids, mask, hidden_index, &hooks, &out, &err), &err);
    ff_offload_stream_end(s);
    if (out.data) {
        FF_CHECK_OK(ff_tensor_alloc(out_host, FF_F32, out.ndim, out.shape, &err), &err);
        FF_CHECK_OK(ff_be_download(be, out_host, &out, &err), &err);
        ff_be_free(be, &out);
    }
    ff_offload_stream_free(s);
    free(res), free(blk), free(rn), free(bn), free(ps);
    ff_llama_free(m);
    ff_weights_free(w);
}

static void test_lazy_streamed_equals_eager(void) {
    tiny t;
    write_model(&t, "llama_stream", k_cfg, 99);
    ff_err err = {0};
    ff_backend *be;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_tensor ids, mask;
    FF_REQUIRE_OK(ff_tensor_allocv(&ids, FF_I64, &err, 2, (int64_t)2, (int64_t)9), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&mask, FF_I64, &err, 2, (int64_t)2, (int64_t)9), &err);
    for (int i = 0; i < 18; i++) ((int64_t *)ids.data)[i] = (i * 11 + 3) % 64, ((int64_t *)mask.data)[i] = i < 15;
    ff_llama *m;
    FF_REQUIRE_OK(ff_llama_load(be, t.dir, FF_F32, &m, &err), &err);
    for (int hi = -1; hi >= -3; hi -= 2) {
        ff_tensor eager, streamed = {0}, resident = {0};
        FF_REQUIRE_OK(ff_llama_forward(m, &ids, &mask, hi, NULL, &eager, &err), &err);
        stream_forward(be, t.dir, FF_OFFLOAD_STREAM, &ids, &mask, hi, &streamed);
        stream_forward(be, t.dir, FF_OFFLOAD_RESIDENT, &ids, &mask, hi, &resident);
        FF_CHECK_MSG(streamed.data && !memcmp(streamed.data, eager.data, ff_tensor_nbytes(&eager)), "streamed != eager (index %d)", hi);
        FF_CHECK_MSG(resident.data && !memcmp(resident.data, eager.data, ff_tensor_nbytes(&eager)), "resident != eager (index %d)", hi);
        ff_be_free(be, &eager);
        ff_tensor_free(&streamed);
        ff_tensor_free(&resident);
    }
    /* the planner's activation model is the measured peak */
    ff_pool *pool;
    FF_REQUIRE_OK(ff_pool_create("device", 0, &pool, &err), &err);
    FF_REQUIRE_OK(ff_pool_attach(pool, be, &err), &err);
    ff_tensor out;
    FF_CHECK_OK(ff_llama_forward(m, &ids, &mask, -1, NULL, &out, &err), &err);
    ff_pool_stats ps;
    ff_pool_stats_get(pool, &ps);
    size_t want = ff_llama_activation_bytes(ff_llama_get_config(m), 2, 9);
    FF_CHECK_MSG(ps.peak == want, "peak %zu, activation model %zu", ps.peak, want);
    ff_be_free(be, &out);
    ff_pool_detach(pool);
    ff_pool_free(pool);
    /* strictness: a tensor the model does not have */
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", t.dir);
    FILE *f = fopen(path, "wb");
    fputs("{\"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 48, \"num_hidden_layers\": 3, "
          "\"num_attention_heads\": 4, \"num_key_value_heads\": 2}",
          f);
    fclose(f);
    ff_llama *bad = NULL;
    FF_CHECK(ff_llama_load(be, t.dir, FF_F32, &bad, &err) == FF_ERR_FORMAT && strstr(err.msg, "layers.3.") != NULL);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_llama_free(m);
    ff_backend_free(be);
}

int main(void) {
    FF_RUN(test_real_config_counts);
    FF_RUN(test_config_errors);
    FF_RUN(test_rope_inv_freq);
    FF_RUN(test_forward_gqa);
    FF_RUN(test_lazy_streamed_equals_eager);
    return ff_test_summary();
}
