/* comp_umt5: UMT5EncoderModel (+ its T5Tokenizer) as a text-encoder
 * component — Wan's encode_prompt (_get_t5_prompt_embeds: clean, tokenize
 * to max_sequence_length, run, keep each prompt's seq_len rows and zero the
 * rest, repeat per video) through models/prompt.h. The one place the chain
 * touches the UMT5 API (models/umt5.h becomes a T5 encoder with a UMT5
 * switch behind this same class). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/prompt.h"
#include "models/tokenizer.h"
#include "models/umt5.h"
#include "models/umt5_params.h"
#include "pipeline/component.h"
#include "pipeline/tiny_model.h"

typedef struct {
    ff_tok *tok;
    ff_umt5 *te;
} umt5_comp;

static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    return st ? st : ff_umt5_config_read(path, cfg, err);
}

/* As ff_umt5_load keeps them: q/k/v/o and the FFN matrices in the checkpoint's
 * dtype (BF16 checkpoints stay BF16), shared, relative bias and norms F32. */
static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    ff_status st = ff_umt5_params(cfg, out, n, err);
    for (size_t i = 0; !st && i < *n; i++) {
        ff_param *p = &(*out)[i];
        int matrix = p->ndim == 2 && strstr(p->name, "encoder.block.") && !strstr(p->name, "relative_attention_bias");
        p->dtype = matrix && dt == FF_BF16 ? FF_BF16 : FF_F32;
    }
    return st;
}

/* Every buffer ff_umt5_forward allocates for a (B, L) batch, and its output. */
static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    const ff_umt5_config *c = cfg;
    if (q->kind != FF_ACTIVITY_TEXT) return ff_err_set(err, FF_ERR_ARG, "UMT5EncoderModel: no activation model for kind %d", q->kind);
    const int64_t B = q->batch, L = q->text_len;
    const int64_t D = c->d_model, H = c->num_heads, I = c->num_heads * c->d_kv, F = c->d_ff;
    int64_t b = B * L * 8 + L * L * 8 + B * L * 4;   /* ids, buckets, mask */
    b += 3 * B * L * D * 4;                          /* h, x, tmp */
    b += 4 * B * L * I * 4 + 4 * B * L * I * 4;      /* q k v att, split heads */
    b += 2 * L * L * H * 4 + B * H * L * L * 4;      /* position bias (two layouts), bias + mask */
    b += (c->gated ? 2 : 1) * B * L * F * 4;         /* FFN */
    b += B * L * D * 4;                              /* last_hidden_state */
    *bytes = (size_t)b;
    return FF_OK;
}

static void comp_free(void *model) {
    umt5_comp *m = model;
    if (!m) return;
    ff_umt5_free(m->te);
    ff_tok_free(m->tok);
    free(m);
}

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    *out = NULL;
    umt5_comp *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "text encoder: no memory");
    ff_status st = ff_tok_load(rq->tokenizer_dir, &m->tok, err);
    if (!st) st = ff_umt5_load(rq->be, rq->dir, &m->te, err);
    if (st) {
        comp_free(m);
        return st;
    }
    *out = m;
    return FF_OK;
}

static ff_status encode(void *model, const ff_text_request *rq, const ff_block_hooks *hooks, ff_text_embeds *out,
                        ff_err *err) {
    umt5_comp *m = model;
    assert(!hooks); /* not block-structured: never streamed */
    ff_tensor seq_lens = {0};
    memset(out, 0, sizeof *out);
    ff_status st = ff_prompt_t5_embeds(m->tok, m->te, rq->prompts, rq->n, rq->num_videos_per_prompt,
                                       rq->max_sequence_length, &out->embeds, &seq_lens, err);
    ff_tensor_free(&seq_lens); /* the embeddings are zero past each prompt's length: no mask needed */
    return st;
}

/* T5 has no 1/sqrt(d_kv) in attention: q carries it, as in T5's init. */
static float init_gain(const void *cfg, const ff_param *p) {
    const ff_umt5_config *c = cfg;
    return strstr(p->name, ".q.weight") ? 1.0f / sqrtf((float)c->d_kv) : 1.0f;
}

static const ff_text_encoder_ops ops = {encode};

const ff_model_class ff_comp_umt5 = {
    .class_name = "UMT5EncoderModel",
    .role = FF_ROLE_TEXT_ENCODER,
    .config_size = sizeof(ff_umt5_config),
    .config_read = config_read,
    .params = params,
    .act_bytes = act_bytes,
    .load = load,
    .free = comp_free,
    .weights_file = "model.safetensors",
    .init_gain = init_gain,
    .tiny_tokenizer = ff_tiny_t5_tokenizer_write,
    .ops = &ops,
};
