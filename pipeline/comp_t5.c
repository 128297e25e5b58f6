/* comp_t5: transformers' T5EncoderModel (+ its T5Tokenizer) as a text-encoder
 * component — CogVideoXPipeline's _get_t5_prompt_embeds (raw prompt, padded
 * to max_sequence_length, no attention mask, every row kept, repeated per
 * video) through models/t5_prompt.h. Block-structured: its parameter list
 * carries the layer index (the shared relative bias table of block 0 is
 * outside the blocks), so the chain can keep it resident or stream its
 * layers through the forward's hooks like a transformer. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/t5.h"
#include "models/t5_prompt.h"
#include "models/tokenizer.h"
#include "pipeline/component.h"
#include "pipeline/tiny_model.h"

typedef struct {
    ff_tok *tok;
    ff_t5 *te;
} t5_comp;

static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    return st ? st : ff_t5_config_read(path, cfg, err);
}

/* offload_model.h's layout: the non-block entries (shared, block 0's bias
 * table, final_layer_norm) first, then the layers in order. */
static void nonblock_first(ff_param *ps, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ps[i].block < 0) {
            ff_param t = ps[i];
            memmove(&ps[k + 1], &ps[k], (i - k) * sizeof *ps);
            ps[k++] = t;
        }
}

/* As loaded for the request: the matrices in the weight dtype asked for
 * (the load keeps a checkpoint's BF16 matrices BF16), the rest F32. */
static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    ff_status st = ff_t5_params(cfg, dt == FF_BF16 ? FF_BF16 : FF_F32, NULL, out, n, err);
    if (!st) nonblock_first(*out, *n);
    return st;
}

/* ff_t5_forward's buffers for one call of `batch` prompts (no mask). */
static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    if (q->kind != FF_ACTIVITY_TEXT) return ff_err_set(err, FF_ERR_ARG, "T5EncoderModel: no activation model for kind %d", q->kind);
    *bytes = ff_t5_activation_bytes(cfg, q->batch, q->text_len, 0);
    return FF_OK;
}

static void comp_free(void *model) {
    t5_comp *m = model;
    if (!m) return;
    ff_t5_free(m->te);
    ff_tok_free(m->tok);
    free(m);
}

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    *out = NULL;
    t5_comp *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "text encoder: no memory");
    ff_status st = ff_tok_load(rq->tokenizer_dir, &m->tok, err);
    if (!st) {
        if (rq->lazy) st = ff_t5_load_lazy(rq->be, rq->dir, FF_T5_AS_STORED, &m->te, rq->lazy, err);
        else if (rq->host_weights) st = ff_t5_load_host(rq->be, rq->dir, FF_T5_AS_STORED, &m->te, err);
        else st = ff_t5_load(rq->be, rq->dir, FF_T5_AS_STORED, &m->te, err);
    }
    if (st) {
        comp_free(m);
        return st;
    }
    *out = m;
    return FF_OK;
}

static ff_status model_params(void *model, ff_param **out, size_t *n, ff_err *err) {
    t5_comp *m = model;
    ff_status st = ff_t5_params(ff_t5_get_config(m->te), FF_F32, m->te, out, n, err);
    for (size_t i = 0; !st && i < *n; i++) (*out)[i].dtype = (*out)[i].slot->dtype;
    if (!st) nonblock_first(*out, *n);
    return st;
}

static ff_status place(void *model, ff_backend *be, ff_err *err) {
    t5_comp *m = model;
    (void)be; /* the backend it was loaded for */
    return ff_t5_place(m->te, 1, err);
}

static ff_status encode(void *model, const ff_text_request *rq, const ff_block_hooks *hooks, ff_text_embeds *out,
                        ff_err *err) {
    t5_comp *m = model;
    ff_t5_hooks th = {ff_block_hooks_enter_params, ff_block_hooks_leave_params, (void *)hooks};
    memset(out, 0, sizeof *out);
    return ff_t5_prompt_embeds_cogvideox(m->tok, m->te, rq->prompts, rq->n, rq->num_videos_per_prompt,
                                         rq->max_sequence_length, hooks ? &th : NULL, &out->embeds, NULL, err);
}

/* T5 has no 1/sqrt(d_kv) in attention: q carries it, as in T5's init. */
static float init_gain(const void *cfg, const ff_param *p) {
    const ff_t5_config *c = cfg;
    return strstr(p->name, ".q.weight") ? 1.0f / sqrtf((float)c->d_kv) : 1.0f;
}

static const ff_text_encoder_ops ops = {encode};

const ff_model_class ff_comp_t5 = {
    .class_name = "T5EncoderModel",
    .role = FF_ROLE_TEXT_ENCODER,
    .config_size = sizeof(ff_t5_config),
    .config_read = config_read,
    .params = params,
    .act_bytes = act_bytes,
    .load = load,
    .free = comp_free,
    .model_params = model_params,
    .place = place,
    .weights_file = "model.safetensors",
    .init_gain = init_gain,
    .tiny_tokenizer = ff_tiny_t5_tokenizer_write,
    .ops = &ops,
};
