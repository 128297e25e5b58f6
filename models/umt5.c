/* umt5: transformers UMT5EncoderModel (modeling_umt5.py) against
 * kernels/ops.h; see umt5.h. The structs follow the checkpoint's module tree
 * (shared, encoder.block.N.layer.{0: SelfAttention + layer_norm,
 * 1: DenseReluDense + layer_norm}, encoder.final_layer_norm). */
#include "models/umt5.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"
#include "core/ff_model_dir.h"

/* encoder.block.N */
typedef struct {
    /* layer.0: UMT5LayerSelfAttention */
    ff_tensor ln0;           /* layer.0.layer_norm.weight (D) */
    ff_tensor q, k, v;       /* layer.0.SelfAttention.{q,k,v}.weight (H*d_kv, D) */
    ff_tensor o;             /* layer.0.SelfAttention.o.weight (D, H*d_kv) */
    ff_tensor rel_bias;      /* layer.0.SelfAttention.relative_attention_bias.weight (num_buckets, H) */
    /* layer.1: UMT5LayerFF */
    ff_tensor ln1;           /* layer.1.layer_norm.weight (D) */
    ff_tensor wi_0, wi_1;    /* DenseReluDense.wi_0 / wi_1 (d_ff, D); non-gated: wi in wi_0 */
    ff_tensor wo;            /* DenseReluDense.wo.weight (D, d_ff) */
} umt5_block;

struct ff_umt5 {
    ff_backend *be;
    ff_umt5_config cfg;
    ff_tensor shared;    /* shared.weight (vocab_size, D) = encoder.embed_tokens */
    umt5_block *blocks;  /* num_layers */
    ff_tensor final_ln;  /* encoder.final_layer_norm.weight (D) */
};

/* ---- config ------------------------------------------------------------------ */

static ff_status get_pos(const ff_json *root, const char *path, const char *key, int64_t dflt, int64_t *out, ff_err *err) {
    if (ff_json_get_int64(root, key, dflt, out) || *out < 1 || *out > (1 << 30))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: %s must be a positive integer", path, key);
    return FF_OK;
}

ff_status ff_umt5_config_read(const char *path, ff_umt5_config *cfg, ff_err *err) {
    ff_json_doc *doc;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    const ff_json *r = ff_json_root(doc);
    memset(cfg, 0, sizeof *cfg);
    /* UMT5Config defaults where a key is absent */
    const char *mt = ff_json_get_string(r, "model_type");
    if (mt && strcmp(mt, "umt5") != 0) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (umt5 only: T5/mT5 share one position bias table)", path, mt);
        goto done;
    }
    if ((st = get_pos(r, path, "vocab_size", 250112, &cfg->vocab_size, err)) ||
        (st = get_pos(r, path, "d_model", 512, &cfg->d_model, err)) || (st = get_pos(r, path, "d_kv", 64, &cfg->d_kv, err)) ||
        (st = get_pos(r, path, "d_ff", 1024, &cfg->d_ff, err)) ||
        (st = get_pos(r, path, "num_layers", 8, &cfg->num_layers, err)) ||
        (st = get_pos(r, path, "num_heads", 6, &cfg->num_heads, err)) ||
        (st = get_pos(r, path, "relative_attention_num_buckets", 32, &cfg->num_buckets, err)) ||
        (st = get_pos(r, path, "relative_attention_max_distance", 128, &cfg->max_distance, err)))
        goto done;
    double eps;
    if (ff_json_get_double(r, "layer_norm_epsilon", 1e-6, &eps) || !(eps >= 0)) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: layer_norm_epsilon must be a number >= 0", path);
        goto done;
    }
    cfg->eps = (float)eps;
    /* the bucket formula needs max_exact = num_buckets / 4 >= 1 and a log-range above it */
    if (cfg->num_buckets < 4 || cfg->max_distance <= cfg->num_buckets / 4) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED,
                        "%s: relative_attention_num_buckets=%lld, relative_attention_max_distance=%lld: need buckets >= 4 "
                        "and max_distance > buckets/4",
                        path, (long long)cfg->num_buckets, (long long)cfg->max_distance);
        goto done;
    }
    /* T5Config: feed_forward_proj "[gated-]act"; "gated-gelu" means gelu_new */
    const char *ff = ff_json_get_string(r, "feed_forward_proj");
    if (!ff) ff = "gated-gelu";
    const char *act = ff;
    cfg->gated = 0;
    if (!strncmp(ff, "gated-", 6)) {
        cfg->gated = 1;
        act = ff + 6;
    }
    if (strchr(act, '-')) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: feed_forward_proj '%s' is not '[gated-]<act>'", path, ff);
        goto done;
    }
    if (!strcmp(ff, "gated-gelu") || !strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh"))
        cfg->act = FF_UNARY_GELU_TANH;
    else if (!strcmp(act, "gelu"))
        cfg->act = FF_UNARY_GELU_ERF;
    else if (!strcmp(act, "relu"))
        cfg->act = FF_UNARY_RELU;
    else if (!strcmp(act, "silu") || !strcmp(act, "swish"))
        cfg->act = FF_UNARY_SILU;
    else {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: activation '%s' (feed_forward_proj '%s') is not supported", path, act, ff);
        goto done;
    }
done:
    ff_json_free(doc);
    return st;
}

/* UMT5Attention._relative_position_bucket, bidirectional (encoder), with
 * torch's float32 arithmetic: log(a / max_exact) / log(max_distance /
 * max_exact) * (n - max_exact), truncated toward zero. */
int64_t ff_umt5_bucket(const ff_umt5_config *cfg, int64_t rel) {
    int64_t n = cfg->num_buckets / 2;
    int64_t bucket = rel > 0 ? n : 0;
    int64_t a = rel < 0 ? -rel : rel;
    int64_t max_exact = n / 2;
    if (a < max_exact) return bucket + a;
    float ratio = (float)a / (float)max_exact;
    float den = (float)log((double)cfg->max_distance / (double)max_exact); /* a Python float, cast to the tensor's dtype */
    float x = logf(ratio) / den;
    x = x * (float)(n - max_exact);
    int64_t large = max_exact + (int64_t)x;
    if (large > n - 1) large = n - 1;
    return bucket + large;
}

/* ---- weights ------------------------------------------------------------------ */

static void free_weight(ff_backend *be, ff_tensor *t) {
    if (t->owns) ff_tensor_free(t);
    else ff_be_free(be, t);
}

/* Loads name with the expected shape; matrices may stay BF16 (ops widen
 * them), everything else is F32. On a non-CPU backend the tensor moves to it. */
static ff_status load_w(ff_umt5 *m, const ff_weights *w, const char *name, int ndim, int64_t d0, int64_t d1, int matrix,
                        ff_tensor *dst, ff_err *err) {
    const ff_st_entry *e;
    ff_status st = ff_weights_find(w, name, NULL, &e, err);
    if (st) return st;
    int64_t want[2] = {d0, d1};
    int ok = e->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = e->shape[i] == want[i];
    if (!ok) {
        if (ndim == 1)
            return ff_err_set(err, FF_ERR_SHAPE, "%s: %s has %d dims [%lld, ...], config says [%lld]", ff_weights_path(w), name,
                              e->ndim, (long long)e->shape[0], (long long)d0);
        return ff_err_set(err, FF_ERR_SHAPE, "%s: %s has %d dims [%lld, %lld], config says [%lld, %lld]", ff_weights_path(w),
                          name, e->ndim, (long long)e->shape[0], (long long)(e->ndim > 1 ? e->shape[1] : 1), (long long)d0,
                          (long long)d1);
    }
    ff_dtype as = matrix && e->dtype == FF_BF16 ? FF_BF16 : FF_F32;
    ff_tensor h;
    if ((st = ff_weights_load(w, name, as, &h, err))) return st;
    if (ff_backend_kind_of(m->be) == FF_BACKEND_CPU) {
        *dst = h;
        return FF_OK;
    }
    ff_tensor d;
    if ((st = ff_be_alloc(m->be, &d, h.dtype, h.ndim, h.shape, err)) || (st = ff_be_upload(m->be, &d, &h, err))) {
        ff_be_free(m->be, &d);
        ff_tensor_free(&h);
        return ff_err_wrap(err, "uploading %s: ", name);
    }
    ff_tensor_free(&h);
    *dst = d;
    return FF_OK;
}

void ff_umt5_free(ff_umt5 *m) {
    if (!m) return;
    free_weight(m->be, &m->shared);
    free_weight(m->be, &m->final_ln);
    if (m->blocks) {
        for (int64_t i = 0; i < m->cfg.num_layers; i++) {
            umt5_block *b = &m->blocks[i];
            ff_tensor *ts[] = {&b->ln0, &b->q, &b->k, &b->v, &b->o, &b->rel_bias, &b->ln1, &b->wi_0, &b->wi_1, &b->wo};
            for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) free_weight(m->be, ts[k]);
        }
        free(m->blocks);
    }
    free(m);
}

ff_status ff_umt5_load(ff_backend *be, const char *dir, ff_umt5 **out, ff_err *err) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    ff_umt5 *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "umt5: no memory");
    m->be = be;
    ff_weights *w = NULL;
    ff_status st = ff_umt5_config_read(path, &m->cfg, err);
    if (st) goto fail;
    const ff_umt5_config *c = &m->cfg;
    const int64_t D = c->d_model, inner = c->num_heads * c->d_kv, H = c->num_heads;
    m->blocks = calloc((size_t)c->num_layers, sizeof *m->blocks);
    if (!m->blocks) {
        st = ff_err_set(err, FF_ERR_NOMEM, "umt5: no memory for %lld blocks", (long long)c->num_layers);
        goto fail;
    }
    if ((st = ff_weights_open(dir, &w, err))) goto fail;
    /* embed_tokens is tied to shared; some exports only carry the former */
    const char *emb = ff_weights_has(w, "shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
    if ((st = load_w(m, w, emb, 2, c->vocab_size, D, 0, &m->shared, err)) ||
        (st = load_w(m, w, "encoder.final_layer_norm.weight", 1, D, 0, 0, &m->final_ln, err)))
        goto fail;
    for (int64_t i = 0; i < c->num_layers; i++) {
        umt5_block *b = &m->blocks[i];
        char n[160];
#define LOAD(suffix, nd, d0, d1, mat, dst)                                                         \
    do {                                                                                           \
        snprintf(n, sizeof n, "encoder.block.%lld.%s", (long long)i, suffix);                      \
        if ((st = load_w(m, w, n, nd, d0, d1, mat, dst, err))) goto fail;                          \
    } while (0)
        LOAD("layer.0.layer_norm.weight", 1, D, 0, 0, &b->ln0);
        LOAD("layer.0.SelfAttention.q.weight", 2, inner, D, 1, &b->q);
        LOAD("layer.0.SelfAttention.k.weight", 2, inner, D, 1, &b->k);
        LOAD("layer.0.SelfAttention.v.weight", 2, inner, D, 1, &b->v);
        LOAD("layer.0.SelfAttention.o.weight", 2, D, inner, 1, &b->o);
        LOAD("layer.0.SelfAttention.relative_attention_bias.weight", 2, c->num_buckets, H, 0, &b->rel_bias);
        LOAD("layer.1.layer_norm.weight", 1, D, 0, 0, &b->ln1);
        if (c->gated) {
            LOAD("layer.1.DenseReluDense.wi_0.weight", 2, c->d_ff, D, 1, &b->wi_0);
            LOAD("layer.1.DenseReluDense.wi_1.weight", 2, c->d_ff, D, 1, &b->wi_1);
        } else {
            LOAD("layer.1.DenseReluDense.wi.weight", 2, c->d_ff, D, 1, &b->wi_0);
        }
        LOAD("layer.1.DenseReluDense.wo.weight", 2, D, c->d_ff, 1, &b->wo);
#undef LOAD
    }
    ff_weights_free(w);
    *out = m;
    return FF_OK;
fail:
    ff_weights_free(w);
    ff_umt5_free(m);
    return ff_err_wrap(err, "text encoder %s: ", dir);
}

const ff_umt5_config *ff_umt5_get_config(const ff_umt5 *m) { return &m->cfg; }
ff_backend *ff_umt5_backend(const ff_umt5 *m) { return m->be; }

/* ---- forward ---------------------------------------------------------------------- */

/* A borrowed view of t with another shape (same element count). */
static ff_tensor view_as(const ff_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t shape[4] = {d0, d1, d2, d3};
    ff_tensor v;
    ff_tensor_view(&v, t->dtype, ndim, shape, t->data, t->loc);
    return v;
}

typedef struct {
    ff_tensor ids, buckets, mask;    /* (B, L) I64, (L, L) I64, (B, 1, 1, L) F32 */
    ff_tensor h, x, tmp;             /* (B, L, D) */
    ff_tensor q, k, v, att;          /* (B, L, H*d_kv) */
    ff_tensor qh, kh, vh, atth;      /* (B, H, L, d_kv) */
    ff_tensor pb, pbh, bias;         /* (L, L, H), (H, L, L), (B|1, H, L, L) */
    ff_tensor f0, f1;                /* (B, L, d_ff) */
} umt5_run;

static void run_free(ff_backend *be, umt5_run *r) {
    ff_tensor *ts[] = {&r->ids, &r->buckets, &r->mask, &r->h, &r->x, &r->tmp, &r->q, &r->k, &r->v, &r->att,
                       &r->qh, &r->kh, &r->vh, &r->atth, &r->pb, &r->pbh, &r->bias, &r->f0, &r->f1};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ff_be_free(be, ts[i]);
}

static ff_status upload_host(ff_backend *be, const ff_tensor *host, ff_tensor *dst, ff_err *err) {
    ff_status st = ff_be_alloc(be, dst, host->dtype, host->ndim, host->shape, err);
    if (!st) st = ff_be_upload(be, dst, host, err);
    return st;
}

/* (B, L, H*d_kv) -> (B, H, L, d_kv) */
static ff_status split_heads(ff_backend *be, const ff_tensor *x, int64_t H, int64_t dk, ff_tensor *out, ff_err *err) {
    static const int perm[4] = {0, 2, 1, 3};
    ff_tensor v = view_as(x, 4, x->shape[0], x->shape[1], H, dk);
    return ff_op_permute(be, &v, perm, out, err);
}

ff_status ff_umt5_forward(ff_umt5 *m, const ff_tensor *ids, const ff_tensor *mask, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    const ff_umt5_config *c = &m->cfg;
    ff_backend *be = m->be;
    if (!ids || ids->ndim != 2 || ids->dtype != FF_I64 || ids->loc != FF_LOC_HOST || ids->shape[0] < 1 || ids->shape[1] < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "umt5: input_ids must be a host I64 (B, L) tensor");
    if (mask && (mask->dtype != FF_I64 || mask->loc != FF_LOC_HOST || !ff_tensor_same_shape(mask, ids)))
        return ff_err_set(err, FF_ERR_SHAPE, "umt5: attention_mask must be a host I64 tensor shaped like input_ids");
    const int64_t B = ids->shape[0], L = ids->shape[1], D = c->d_model, H = c->num_heads, dk = c->d_kv, inner = H * dk;
    const int64_t *pid = ids->data;
    for (int64_t i = 0; i < B * L; i++)
        if (pid[i] < 0 || pid[i] >= c->vocab_size)
            return ff_err_set(err, FF_ERR_ARG, "umt5: input_ids[%lld][%lld] = %lld outside the vocabulary [0, %lld)",
                              (long long)(i / L), (long long)(i % L), (long long)pid[i], (long long)c->vocab_size);
    umt5_run r = {0};
    ff_tensor host = {0};
    ff_status st;
#define TRY(expr)                          \
    do {                                   \
        if ((st = (expr)) != FF_OK) goto done; \
    } while (0)
    TRY(upload_host(be, ids, &r.ids, err));
    /* relative_position_bucket (L, L): key j - query i, the same for every layer */
    TRY(ff_tensor_allocv(&host, FF_I64, err, 2, L, L));
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = 0; j < L; j++) ((int64_t *)host.data)[i * L + j] = ff_umt5_bucket(c, j - i);
    TRY(upload_host(be, &host, &r.buckets, err));
    ff_tensor_free(&host);
    /* extended mask (B, 1, 1, L): (1 - mask) * finfo(float32).min */
    if (mask) {
        TRY(ff_tensor_allocv(&host, FF_F32, err, 4, B, (int64_t)1, (int64_t)1, L));
        for (int64_t i = 0; i < B * L; i++)
            ((float *)host.data)[i] = (1.0f - (float)((const int64_t *)mask->data)[i]) * -FLT_MAX;
        TRY(upload_host(be, &host, &r.mask, err));
        ff_tensor_free(&host);
    }
    const int64_t sBLD[3] = {B, L, D}, sBLI[3] = {B, L, inner}, sBHLd[4] = {B, H, L, dk}, sBLF[3] = {B, L, c->d_ff};
    const int64_t sLLH[3] = {L, L, H}, sHLL[3] = {H, L, L}, sBias[4] = {mask ? B : 1, H, L, L};
    TRY(ff_be_alloc(be, &r.h, FF_F32, 3, sBLD, err));
    TRY(ff_be_alloc(be, &r.x, FF_F32, 3, sBLD, err));
    TRY(ff_be_alloc(be, &r.tmp, FF_F32, 3, sBLD, err));
    TRY(ff_be_alloc(be, &r.q, FF_F32, 3, sBLI, err));
    TRY(ff_be_alloc(be, &r.k, FF_F32, 3, sBLI, err));
    TRY(ff_be_alloc(be, &r.v, FF_F32, 3, sBLI, err));
    TRY(ff_be_alloc(be, &r.att, FF_F32, 3, sBLI, err));
    TRY(ff_be_alloc(be, &r.qh, FF_F32, 4, sBHLd, err));
    TRY(ff_be_alloc(be, &r.kh, FF_F32, 4, sBHLd, err));
    TRY(ff_be_alloc(be, &r.vh, FF_F32, 4, sBHLd, err));
    TRY(ff_be_alloc(be, &r.atth, FF_F32, 4, sBHLd, err));
    TRY(ff_be_alloc(be, &r.pb, FF_F32, 3, sLLH, err));
    TRY(ff_be_alloc(be, &r.pbh, FF_F32, 3, sHLL, err));
    if (mask) TRY(ff_be_alloc(be, &r.bias, FF_F32, 4, sBias, err));
    TRY(ff_be_alloc(be, &r.f0, FF_F32, 3, sBLF, err));
    if (c->gated) TRY(ff_be_alloc(be, &r.f1, FF_F32, 3, sBLF, err));
    TRY(ff_be_alloc(be, out, FF_F32, 3, sBLD, err));

    /* hidden_states = embed_tokens(input_ids) (no scaling) */
    TRY(ff_op_embedding(be, &r.ids, &m->shared, &r.h, err));
    static const int perm_bias[3] = {2, 0, 1}, perm_merge[4] = {0, 2, 1, 3};
    for (int64_t i = 0; i < c->num_layers; i++) {
        const umt5_block *b = &m->blocks[i];
        /* layer.0: h += o(attention(layer_norm(h))) */
        TRY(ff_op_rms_norm(be, &r.h, &b->ln0, c->eps, &r.x, err));
        TRY(ff_op_linear(be, &r.x, &b->q, NULL, &r.q, err));
        TRY(ff_op_linear(be, &r.x, &b->k, NULL, &r.k, err));
        TRY(ff_op_linear(be, &r.x, &b->v, NULL, &r.v, err));
        TRY(split_heads(be, &r.q, H, dk, &r.qh, err));
        TRY(split_heads(be, &r.k, H, dk, &r.kh, err));
        TRY(split_heads(be, &r.v, H, dk, &r.vh, err));
        /* compute_bias: relative_attention_bias(buckets).permute(2, 0, 1)[None] (+ mask) */
        TRY(ff_op_embedding(be, &r.buckets, &b->rel_bias, &r.pb, err));
        TRY(ff_op_permute(be, &r.pb, perm_bias, &r.pbh, err));
        ff_tensor pos = view_as(&r.pbh, 4, 1, H, L, L);
        if (mask) {
            TRY(ff_op_binary(be, FF_BIN_ADD, &pos, &r.mask, &r.bias, err));
        }
        /* softmax(q k^T + position_bias) v: T5 does not scale by 1/sqrt(d_kv) */
        TRY(ff_op_sdpa(be, &r.qh, &r.kh, &r.vh, mask ? &r.bias : &pos, 1.0f, &r.atth, err));
        ff_tensor att4 = view_as(&r.att, 4, B, L, H, dk);
        TRY(ff_op_permute(be, &r.atth, perm_merge, &att4, err));
        TRY(ff_op_linear(be, &r.att, &b->o, NULL, &r.tmp, err));
        TRY(ff_op_binary(be, FF_BIN_ADD, &r.h, &r.tmp, &r.h, err));
        /* layer.1: h += wo(act(wi_0 x) * wi_1 x) (gated) or wo(act(wi x)) */
        TRY(ff_op_rms_norm(be, &r.h, &b->ln1, c->eps, &r.x, err));
        TRY(ff_op_linear(be, &r.x, &b->wi_0, NULL, &r.f0, err));
        TRY(ff_op_unary(be, c->act, &r.f0, &r.f0, err));
        if (c->gated) {
            TRY(ff_op_linear(be, &r.x, &b->wi_1, NULL, &r.f1, err));
            TRY(ff_op_binary(be, FF_BIN_MUL, &r.f0, &r.f1, &r.f0, err));
        }
        TRY(ff_op_linear(be, &r.f0, &b->wo, NULL, &r.tmp, err));
        TRY(ff_op_binary(be, FF_BIN_ADD, &r.h, &r.tmp, &r.h, err));
    }
    TRY(ff_op_rms_norm(be, &r.h, &m->final_ln, c->eps, out, err));
#undef TRY
done:
    ff_tensor_free(&host);
    run_free(be, &r);
    if (st) {
        ff_be_free(be, out);
        ff_err_wrap(err, "umt5 forward (B=%lld, L=%lld): ", (long long)B, (long long)L);
    }
    return st;
}
