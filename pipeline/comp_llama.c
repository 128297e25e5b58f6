/* comp_llama: LlamaModel (+ its LlamaTokenizer / LlamaTokenizerFast) as a
 * text-encoder component — HunyuanVideo's _get_llama_prompt_embeds
 * (models/llama_prompt.h: template, crop_start, hidden_states[-3]) with the
 * chain's request. Block-structured (block = decoder layer), so the 8B
 * encoder of the real model streams its layers like a transformer: the
 * chain's block hooks are bridged to ff_llama_hooks. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "models/llama.h"
#include "models/llama_prompt.h"
#include "models/llama_tokenizer.h"
#include "pipeline/component.h"
#include "pipeline/tiny_bpe.h"

typedef struct {
    ff_llama_tok *tok;
    ff_llama *te;
} llama_comp;

static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    return st ? st : ff_llama_config_read(path, cfg, err);
}

/* offload/ streams lists laid out non-block first, then the blocks:
 * ff_llama_params puts the final norm after the layers, so move it up
 * (a stable partition). */
static ff_status nonblock_first(ff_param *ps, size_t n, ff_err *err) {
    ff_param *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) return ff_err_set(err, FF_ERR_NOMEM, "llama: no memory for %zu parameters", n);
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if ((ps[i].block < 0) == (pass == 0)) tmp[k++] = ps[i];
    memcpy(ps, tmp, n * sizeof *ps);
    free(tmp);
    return FF_OK;
}

/* Matrices in the chain's weight dtype (F32 or BF16), embeddings and norms F32. */
static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    ff_status st = ff_llama_params(cfg, dt, NULL, out, n, err);
    if (!st && (st = nonblock_first(*out, *n, err))) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* The template's tokens plus the prompt's: the encoder runs crop_start +
 * max_sequence_length positions. The activation model assumes the default
 * crop_start (95, diffusers' DEFAULT_PROMPT_TEMPLATE), which is what runs
 * unless a template with another crop_start is given. */
static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    if (q->kind != FF_ACTIVITY_TEXT) return ff_err_set(err, FF_ERR_ARG, "LlamaModel: no activation model for kind %d", q->kind);
    *bytes = ff_llama_activation_bytes(cfg, q->batch, FF_LLAMA_PROMPT_DEFAULT_CROP_START + q->text_len);
    return FF_OK;
}

static void comp_free(void *model) {
    llama_comp *m = model;
    if (!m) return;
    ff_llama_free(m->te);
    ff_llama_tok_free(m->tok);
    free(m);
}

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    *out = NULL;
    llama_comp *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "text encoder: no memory");
    ff_status st = ff_llama_tok_load(rq->tokenizer_dir, &m->tok, err);
    if (!st) {
        if (rq->lazy) st = ff_llama_load_lazy(rq->be, rq->dir, rq->weight_dtype, &m->te, rq->lazy, err);
        else if (rq->host_weights) st = ff_llama_load_host(rq->be, rq->dir, rq->weight_dtype, &m->te, err);
        else st = ff_llama_load(rq->be, rq->dir, rq->weight_dtype, &m->te, err);
    }
    if (st) {
        comp_free(m);
        return st;
    }
    *out = m;
    return FF_OK;
}

static ff_status model_params(void *model, ff_param **out, size_t *n, ff_err *err) {
    llama_comp *m = model;
    ff_status st = ff_llama_params(ff_llama_get_config(m->te), FF_F32, m->te, out, n, err);
    for (size_t i = 0; !st && i < *n; i++) (*out)[i].dtype = (*out)[i].slot->dtype;
    if (!st && (st = nonblock_first(*out, *n, err))) {
        free(*out);
        *out = NULL;
    }
    return st;
}

static ff_status place(void *model, ff_backend *be, ff_err *err) {
    llama_comp *m = model;
    (void)be; /* loaded for its backend */
    return ff_llama_place(m->te, 1, err);
}

/* prompt_embeds (B*nv, L, D) and its int64 mask, cropped at crop_start. */
static ff_status encode(void *model, const ff_text_request *rq, const ff_block_hooks *hooks, ff_text_embeds *out,
                        ff_err *err) {
    llama_comp *m = model;
    memset(out, 0, sizeof *out);
    ff_llama_hooks lh = {ff_block_hooks_enter_params, ff_block_hooks_leave_params, NULL, (void *)hooks};
    ff_llama_prompt_request req = {rq->prompts, rq->n, rq->prompt_template, rq->crop_start, rq->num_videos_per_prompt,
                                   rq->max_sequence_length, FF_LLAMA_PROMPT_DEFAULT_SKIP, hooks ? &lh : NULL};
    ff_llama_prompt_result res;
    ff_status st = ff_llama_prompt_embeds(m->tok, m->te, &req, &res, err);
    if (st) return st;
    out->embeds = res.prompt_embeds;
    out->mask = res.attention_mask;
    ff_tensor_free(&res.input_ids);
    return FF_OK;
}

static const ff_text_encoder_ops ops = {encode};

const ff_model_class ff_comp_llama = {
    .class_name = "LlamaModel",
    .role = FF_ROLE_TEXT_ENCODER,
    .config_size = sizeof(ff_llama_config),
    .config_read = config_read,
    .params = params,
    .act_bytes = act_bytes,
    .load = load,
    .free = comp_free,
    .model_params = model_params,
    .place = place,
    .weights_file = "model.safetensors",
    .tiny_tokenizer = ff_tiny_llama_tokenizer_write,
    .ops = &ops,
};
