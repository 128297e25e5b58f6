/* comp_cliptext: CLIPTextModel (+ its CLIPTokenizer, byte-level BPE from
 * vocab.json / merges.txt) as a text-encoder component with a pooled
 * output only — HunyuanVideo's _get_clip_prompt_embeds (models/
 * hunyuan_text.h): tokenizer_2(prompt, max_length) -> pooler_output, each
 * prompt's row repeated per video. Block-structured (block = encoder
 * layer); weights F32 whatever the chain's dtype (the CLIP-L tower is small). */
#include <stdlib.h>
#include <string.h>

#include "models/bpe.h"
#include "models/clip.h"
#include "models/hunyuan_text.h"
#include "pipeline/component.h"
#include "pipeline/tiny_bpe.h"

typedef struct {
    ff_bpe *tok;
    ff_clip_model *te;
    ff_backend *be;
} clip_comp;

static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    return st ? st : ff_clip_config_load(path, FF_CLIP_TEXT, cfg, err);
}

static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    (void)dt;
    return ff_clip_params(cfg, NULL, FF_F32, out, n, err);
}

/* The forward's activations for one call (batch prompts of text_len
 * tokens, bounded by the position table) and the pooled output. */
static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    const ff_clip_config *c = cfg;
    if (q->kind != FF_ACTIVITY_TEXT) return ff_err_set(err, FF_ERR_ARG, "CLIPTextModel: no activation model for kind %d", q->kind);
    int64_t T = FF_HYTEXT_CLIP_MAX_LEN < c->max_positions ? FF_HYTEXT_CLIP_MAX_LEN : c->max_positions;
    size_t act = 0;
    ff_status st = ff_clip_activation_bytes(c, q->batch, T, &act, err);
    if (st) return st;
    *bytes = act + (size_t)(q->batch * c->hidden) * 4;
    return FF_OK;
}

static void comp_free(void *model) {
    clip_comp *m = model;
    if (!m) return;
    ff_clip_free(m->te);
    ff_bpe_free(m->tok);
    free(m);
}

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    *out = NULL;
    clip_comp *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "text encoder 2: no memory");
    m->be = rq->be;
    ff_status st = ff_bpe_load_clip(rq->tokenizer_dir, &m->tok, err);
    if (!st) {
        if (rq->lazy) st = ff_clip_load_lazy(rq->dir, FF_CLIP_TEXT, FF_F32, &m->te, rq->lazy, err);
        else st = ff_clip_load(rq->dir, FF_CLIP_TEXT, FF_F32, &m->te, err);
    }
    if (!st && !rq->host_weights) st = ff_clip_place(m->te, rq->be, 1, err);
    if (st) {
        comp_free(m);
        return st;
    }
    *out = m;
    return FF_OK;
}

static ff_status model_params(void *model, ff_param **out, size_t *n, ff_err *err) {
    clip_comp *m = model;
    ff_status st = ff_clip_params(&m->te->cfg, m->te, FF_F32, out, n, err);
    for (size_t i = 0; !st && i < *n; i++) (*out)[i].dtype = (*out)[i].slot->dtype;
    return st;
}

static ff_status place(void *model, ff_backend *be, ff_err *err) {
    clip_comp *m = model;
    return ff_clip_place(m->te, be, 1, err);
}

/* pooled (n * nv, D); max_sequence_length is the tokenizer's max_length (77). */
static ff_status encode(void *model, const ff_text_request *rq, const ff_block_hooks *hooks, ff_text_embeds *out,
                        ff_err *err) {
    clip_comp *m = model;
    memset(out, 0, sizeof *out);
    ff_clip_hooks ch = {ff_block_hooks_enter_params, ff_block_hooks_leave_params, (void *)hooks};
    return ff_hytext_clip_pooled(m->tok, m->te, m->be, rq->prompts, rq->n, rq->num_videos_per_prompt,
                                 rq->max_sequence_length, hooks ? &ch : NULL, &out->pooled, err);
}

static const ff_text_encoder_ops ops = {encode};

const ff_model_class ff_comp_cliptext = {
    .class_name = "CLIPTextModel",
    .role = FF_ROLE_TEXT_ENCODER,
    .config_size = sizeof(ff_clip_config),
    .config_read = config_read,
    .params = params,
    .act_bytes = act_bytes,
    .load = load,
    .free = comp_free,
    .model_params = model_params,
    .place = place,
    .weights_file = "model.safetensors",
    .tiny_tokenizer = ff_tiny_clip_tokenizer_write,
    .ops = &ops,
};
