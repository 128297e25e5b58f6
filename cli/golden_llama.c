/* golden_llama: handlers of the Llama text golden groups (HunyuanVideo).
 *
 * llama_tokenizer: "sentencepiece model contents" (golden_text.c); the
 * tokenizer on the bare prompt template (template_ids, and crop_start =
 * len - 2 checked against expected_values / options); the tokenizer call
 * of _get_llama_prompt_embeds on the formatted prompts (input_ids,
 * attention_mask; expected_values.tokens checked).
 * llama_encoder: LlamaModel.forward with output_hidden_states (every
 * hidden state, stacked) and HunyuanVideoPipeline._get_llama_prompt_embeds
 * (prompt_embeds, prompt_attention_mask, and input_ids when recorded; the
 * crop_start computed when the case passes none).
 * hunyuan_text: HunyuanVideoPipeline.encode_prompt (Llama + CLIP:
 * prompt_embeds, pooled_prompt_embeds, prompt_attention_mask).
 * The template is options.template when the case records it, else
 * diffusers' DEFAULT_PROMPT_TEMPLATE["template"] (what the calls use). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/golden.h"
#include "cli/golden_text.h"
#include "models/bpe.h"
#include "models/clip.h"
#include "models/hunyuan_text.h"
#include "models/llama.h"
#include "models/llama_prompt.h"
#include "models/llama_tokenizer.h"

static const char *case_template(const golden_case *c) {
    const char *t = ff_json_get_string(c->options, "template");
    return t ? t : ff_llama_prompt_default_template;
}

static const char *tok_to_token(const void *tok, int64_t id, size_t *len) { return ff_llama_tok_id_to_token(tok, id, len); }

/* ---- llama_tokenizer -------------------------------------------------------------- */

static ff_status template_case(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char dir[4096];
    ff_llama_tok *tok = NULL;
    ff_json_doc *doc = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    ff_tensor t = {0};
    ff_status st = gt_component_dir(c, NULL, dir, sizeof dir, err);
    if (st) return st;
    if ((st = ff_llama_tok_load(dir, &tok, err)) || (st = ff_llama_tok_encode_special(tok, case_template(c), &ids, &n, err))) goto done;
    const int crop = (int)n - 2;
    int64_t want;
    if ((st = gt_case_doc(c, &doc, err))) goto done;
    const ff_json *ev = ff_json_get(ff_json_root(doc), "expected_values");
    if ((!ff_json_int64(ff_json_get(ev, "crop_start"), &want) && want != crop) ||
        (!ff_json_get_int64(c->options, "crop_start", crop, &want) && want != crop)) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: crop_start = len(template ids) - 2 = %d, the case says %lld", c->name, crop, (long long)want);
        goto done;
    }
    if ((st = ff_tensor_allocv(&t, FF_I64, err, 2, (int64_t)1, (int64_t)n))) goto done;
    memcpy(t.data, ids, n * sizeof *ids);
    if ((st = gt_check_tokens(c, ff_json_get(ev, "tokens"), ids, 1, (int)n, tok_to_token, tok, err))) goto done;
    st = golden_out_add(outs, "template_ids", &t, err);
done:
    ff_tensor_free(&t);
    free(ids);
    ff_json_free(doc);
    ff_llama_tok_free(tok);
    return st;
}

static ff_status prompts_case(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char dir[4096];
    const char **prompts = NULL;
    char **texts = NULL;
    int n = 0, crop = 0, msl = 0, max_len = 0;
    ff_llama_tok *tok = NULL;
    ff_json_doc *doc = NULL;
    ff_tensor ids = {0}, mask = {0};
    ff_status st;
    if ((st = gt_component_dir(c, NULL, dir, sizeof dir, err)) || (st = gt_string_list(c, "prompts", &prompts, &n, err)) ||
        (st = ff_llama_tok_load(dir, &tok, err)))
        goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: input_values.prompts is missing or empty", c->name);
        goto done;
    }
    /* max_length = crop_start + max_sequence_length (crop_start computed when absent) */
    if ((st = gt_opt_int(c, "max_sequence_length", FF_LLAMA_PROMPT_DEFAULT_MAX_LEN, 1, 1 << 20, &msl, err))) goto done;
    if (ff_json_get(c->options, "crop_start")) st = gt_opt_int(c, "crop_start", 0, 0, 1 << 20, &crop, err);
    else st = ff_llama_prompt_crop_start(tok, case_template(c), &crop, err);
    if (st || (st = gt_opt_int(c, "max_length", crop + msl, 1, 1 << 21, &max_len, err))) goto done;
    texts = calloc((size_t)n, sizeof *texts);
    if (!texts) {
        st = ff_err_set(err, FF_ERR_NOMEM, "no memory");
        goto done;
    }
    for (int b = 0; b < n && !st; b++) st = ff_llama_prompt_format(case_template(c), prompts[b], &texts[b], err);
    if (st || (st = ff_llama_tok_batch(tok, (const char *const *)texts, n, max_len, &ids, &mask, err))) goto done;
    if ((st = gt_case_doc(c, &doc, err)) ||
        (st = gt_check_tokens(c, ff_json_get(ff_json_get(ff_json_root(doc), "expected_values"), "tokens"), ids.data, n, max_len,
                              tok_to_token, tok, err)))
        goto done;
    if ((st = golden_out_add(outs, "input_ids", &ids, err)) || (st = golden_out_add(outs, "attention_mask", &mask, err))) goto done;
done:
    if (texts)
        for (int b = 0; b < n; b++) free(texts[b]);
    free(texts);
    free(prompts);
    ff_json_free(doc);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_llama_tok_free(tok);
    return st;
}

ff_status golden_llama_tokenizer(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (GT_OP_IS(c, "sentencepiece model contents")) return gt_spm_contents(c, outs, err);
    if (GT_OP_IS(c, "LlamaTokenizer on the bare prompt template")) return template_case(c, outs, err);
    if (GT_OP_IS(c, "LlamaTokenizer")) return prompts_case(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: llama_tokenizer op '%s' has no handler", c->name, c->op);
}

/* ---- llama_encoder --------------------------------------------------------------- */

typedef struct {
    ff_backend *be;
    ff_tensor *all; /* host (N+1, B, L, D) */
} hidden_sink;

static ff_status keep_hidden(void *user, int index, const ff_tensor *h, ff_err *err) {
    hidden_sink *s = user;
    const size_t each = (size_t)ff_tensor_numel(h);
    ff_tensor dst;
    ff_tensor_view(&dst, FF_F32, h->ndim, h->shape, (float *)s->all->data + (size_t)index * each, FF_LOC_HOST);
    return ff_be_download(s->be, &dst, h, err);
}

static ff_status forward_case(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char dir[4096];
    ff_tensor ids = {0}, mask = {0}, out = {0}, all = {0};
    ff_llama *m = NULL;
    ff_status st = gt_component_dir(c, c->component && *c->component ? c->component : "text_encoder", dir, sizeof dir, err);
    if (st) return st;
    if (!c->inputs) return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no inputs.safetensors", c->name);
    if ((st = ff_st_load(c->inputs, "input_ids", FF_I64, &ids, err))) return st;
    if (ff_st_find(c->inputs, "attention_mask") && (st = ff_st_load(c->inputs, "attention_mask", FF_I64, &mask, err))) goto done;
    if ((st = ff_llama_load(c->be, dir, FF_F32, &m, err))) goto done;
    const ff_llama_config *cfg = ff_llama_get_config(m);
    if ((st = ff_tensor_allocv(&all, FF_F32, err, 4, cfg->num_layers + 1, ids.shape[0], ids.shape[1], cfg->hidden_size))) goto done;
    hidden_sink sink = {c->be, &all};
    ff_llama_hooks hooks = {NULL, NULL, keep_hidden, &sink};
    if ((st = ff_llama_forward(m, &ids, mask.data ? &mask : NULL, -1, &hooks, &out, err))) goto done;
    st = golden_out_add(outs, "hidden_states", &all, err);
done:
    if (m && out.data) ff_be_free(c->be, &out);
    ff_tensor_free(&all);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_llama_free(m);
    return st;
}

static ff_status prompt_embeds_case(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char tdir[4096], edir[4096];
    const char **prompts = NULL;
    int n = 0, msl = 0, nv = 0, skip = 0, crop = -1;
    ff_llama_tok *tok = NULL;
    ff_llama *m = NULL;
    ff_llama_prompt_result r = {0};
    ff_status st;
    if ((st = gt_component_dir(c, "tokenizer", tdir, sizeof tdir, err)) || (st = gt_component_dir(c, "text_encoder", edir, sizeof edir, err)) ||
        (st = gt_opt_int(c, "max_sequence_length", FF_LLAMA_PROMPT_DEFAULT_MAX_LEN, 1, 1 << 20, &msl, err)) ||
        (st = gt_opt_int(c, "num_videos_per_prompt", 1, 1, 1 << 16, &nv, err)) ||
        (st = gt_opt_int(c, "num_hidden_layers_to_skip", FF_LLAMA_PROMPT_DEFAULT_SKIP, 0, 4096, &skip, err)))
        return st;
    /* the options carry the call's prompt_template: "template" when not the default, "crop_start" when given */
    const char *tmpl;
    if ((st = ff_llama_prompt_template_parse(c->options, &tmpl, &crop, err))) return st;
    if ((st = gt_string_list(c, "prompts", &prompts, &n, err))) goto done;
    if (!n && (st = gt_string_list(c, "prompt", &prompts, &n, err))) goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: input_values has no prompt(s)", c->name);
        goto done;
    }
    if ((st = ff_llama_tok_load(tdir, &tok, err)) || (st = ff_llama_load(c->be, edir, FF_F32, &m, err))) goto done;
    ff_llama_prompt_request req = {prompts, n, tmpl, crop, nv, msl, skip, NULL};
    if ((st = ff_llama_prompt_embeds(tok, m, &req, &r, err))) goto done;
    int64_t want;
    if (!ff_json_get_int64(c->options, "crop_start_computed", r.crop_start, &want) && want != r.crop_start) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: computed crop_start %d, the case says %lld", c->name, r.crop_start, (long long)want);
        goto done;
    }
    if ((st = golden_out_add(outs, "prompt_embeds", &r.prompt_embeds, err)) ||
        (st = golden_out_add(outs, "prompt_attention_mask", &r.attention_mask, err)) ||
        (st = golden_out_add(outs, "input_ids", &r.input_ids, err)))
        goto done;
done:
    ff_llama_prompt_free(&r);
    free(prompts);
    ff_llama_tok_free(tok);
    ff_llama_free(m);
    return st;
}

ff_status golden_llama_encoder(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (GT_OP_IS(c, "LlamaModel.forward")) return forward_case(c, outs, err);
    if (GT_OP_IS(c, "HunyuanVideoPipeline._get_llama_prompt_embeds")) return prompt_embeds_case(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: llama_encoder op '%s' has no handler", c->name, c->op);
}

/* ---- hunyuan_text ------------------------------------------------------------- */

static ff_status encode_prompt_case(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char tdir[4096], edir[4096], t2dir[4096], e2dir[4096];
    const char **prompts = NULL;
    int n = 0, msl = 0, nv = 0, skip = 0, crop = -1, clip_len = 0;
    const char *tmpl;
    ff_llama_tok *tok = NULL;
    ff_llama *m = NULL;
    ff_bpe *tok2 = NULL;
    ff_clip_model *clip = NULL;
    ff_hytext_result r = {0};
    ff_status st;
    if ((st = gt_component_dir(c, "tokenizer", tdir, sizeof tdir, err)) || (st = gt_component_dir(c, "text_encoder", edir, sizeof edir, err)) ||
        (st = gt_component_dir(c, "tokenizer_2", t2dir, sizeof t2dir, err)) ||
        (st = gt_component_dir(c, "text_encoder_2", e2dir, sizeof e2dir, err)) ||
        (st = gt_opt_int(c, "max_sequence_length", FF_LLAMA_PROMPT_DEFAULT_MAX_LEN, 1, 1 << 20, &msl, err)) ||
        (st = gt_opt_int(c, "num_videos_per_prompt", 1, 1, 1 << 16, &nv, err)) ||
        (st = gt_opt_int(c, "num_hidden_layers_to_skip", FF_LLAMA_PROMPT_DEFAULT_SKIP, 0, 4096, &skip, err)) ||
        (st = gt_opt_int(c, "clip_max_length", FF_HYTEXT_CLIP_MAX_LEN, 1, 1 << 16, &clip_len, err)) ||
        (st = ff_llama_prompt_template_parse(c->options, &tmpl, &crop, err)))
        return st;
    if (clip_len != FF_HYTEXT_CLIP_MAX_LEN)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: encode_prompt feeds CLIP 77 tokens; the case says %d", c->name, clip_len);
    if ((st = gt_string_list(c, "prompts", &prompts, &n, err))) goto done;
    if (!n && (st = gt_string_list(c, "prompt", &prompts, &n, err))) goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: input_values has no prompt(s)", c->name);
        goto done;
    }
    if ((st = ff_llama_tok_load(tdir, &tok, err)) || (st = ff_llama_load(c->be, edir, FF_F32, &m, err)) ||
        (st = ff_bpe_load_clip(t2dir, &tok2, err)) || (st = ff_clip_load(e2dir, FF_CLIP_TEXT, FF_F32, &clip, err)) ||
        (st = ff_clip_place(clip, c->be, 1, err)))
        goto done;
    ff_hytext_request req = {{prompts, n, tmpl, crop, nv, msl, skip, NULL}, c->be, NULL};
    if ((st = ff_hytext_encode(tok, m, tok2, clip, &req, &r, err))) goto done;
    if ((st = golden_out_add(outs, "prompt_embeds", &r.prompt_embeds, err)) ||
        (st = golden_out_add(outs, "pooled_prompt_embeds", &r.pooled_prompt_embeds, err)) ||
        (st = golden_out_add(outs, "prompt_attention_mask", &r.prompt_attention_mask, err)))
        goto done;
done:
    ff_hytext_free(&r);
    free(prompts);
    ff_llama_tok_free(tok);
    ff_llama_free(m);
    ff_bpe_free(tok2);
    ff_clip_free(clip);
    return st;
}

ff_status golden_hunyuan_text(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (GT_OP_IS(c, "HunyuanVideoPipeline.encode_prompt")) return encode_prompt_case(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: hunyuan_text op '%s' has no handler", c->name, c->op);
}
