/* golden_t5: handlers of the T5-family text golden groups.
 *
 * Wan (groups tokenizer, text_encoder): "sentencepiece model contents"
 * (golden_text.c), the T5Tokenizer call as WanPipeline makes it
 * (prompt_clean checked against input_values.cleaned_prompts, input_ids,
 * attention_mask; expected_values.tokens and the raw sentencepiece
 * encodings are checked here too), UMT5EncoderModel.forward and
 * WanPipeline.encode_prompt (prompt_embeds, negative_prompt_embeds,
 * seq_lens).
 * CogVideoX (groups t5_tokenizer, t5_encoder): the same model-contents case,
 * the T5Tokenizer call on the raw prompts (tokens, sentencepiece pieces and
 * ids, untruncated lengths checked), T5EncoderModel.forward without a mask
 * and CogVideoXPipeline.encode_prompt (models/t5_prompt.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/golden.h"
#include "cli/golden_text.h"
#include "core/ff_model_dir.h"
#include "models/prompt.h"
#include "models/t5.h"
#include "models/t5_prompt.h"
#include "models/tokenizer.h"
#include "models/umt5.h"

/* ---- tokenizer ------------------------------------------------------------------ */

/* expected_values[key] is a list (per prompt) of lists of piece strings or ids. */
static ff_status check_pieces(const golden_case *c, const ff_json *ev, const char *key, const ff_tok *tok, const char *const *texts,
                              int n, ff_err *err) {
    const ff_json *all = ff_json_get(ev, key);
    if (!all) return FF_OK;
    const ff_spm *m = ff_tok_spm(tok);
    for (int b = 0; b < n; b++) {
        const ff_json *want = ff_json_at(all, (size_t)b);
        ff_spm_encoding e;
        ff_status st = ff_spm_encode(m, texts[b], strlen(texts[b]), &e, err);
        if (st) return st;
        int ok = want && ff_json_count(want) == e.n;
        for (size_t i = 0; ok && i < e.n; i++) {
            const ff_json *w = ff_json_at(want, i);
            char buf[8];
            size_t len;
            const char *s = ff_spm_token_str(&e, i, buf, &len);
            int64_t id;
            ok = w->type == FF_JSON_STRING ? gt_json_str_eq(w, s, len) : !ff_json_int64(w, &id) && id == e.tokens[i].id;
        }
        ff_spm_encoding_free(&e);
        if (!ok) return ff_err_set(err, FF_ERR_FORMAT, "%s: expected_values.%s[%d] differs from our sentencepiece encoding", c->name, key, b);
    }
    return FF_OK;
}

static ff_status tokenizer_call(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char dir[4096];
    const char **prompts = NULL, **cleaned_want = NULL;
    char **cleaned = NULL;
    int n = 0, n_clean = 0, max_len = 0;
    ff_tok *tok = NULL;
    ff_tensor ids = {0}, mask = {0};
    ff_status st = gt_component_dir(c, NULL, dir, sizeof dir, err);
    if (st) return st;
    if ((st = gt_opt_int(c, "max_sequence_length", 512, 1, 1 << 20, &max_len, err)) ||
        (st = gt_string_list(c, "prompts", &prompts, &n, err)) || (st = gt_string_list(c, "cleaned_prompts", &cleaned_want, &n_clean, err)))
        goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: input_values.prompts is missing or empty", c->name);
        goto done;
    }
    if ((st = ff_tok_load(dir, &tok, err))) goto done;
    cleaned = calloc((size_t)n, sizeof *cleaned);
    if (!cleaned) {
        st = ff_err_set(err, FF_ERR_NOMEM, "no memory");
        goto done;
    }
    for (int b = 0; b < n; b++) {
        if ((st = ff_prompt_clean(prompts[b], &cleaned[b], err))) goto done;
        if (b < n_clean && strcmp(cleaned[b], cleaned_want[b])) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: prompt_clean(prompts[%d]) = '%s', expected '%s'", c->name, b, cleaned[b],
                            cleaned_want[b]);
            goto done;
        }
    }
    if ((st = ff_tok_batch(tok, (const char *const *)cleaned, n, max_len, &ids, &mask, err))) goto done;
    /* the readable forms the case records */
    const ff_json *ev = NULL;
    {
        char path[4200];
        ff_json_doc *doc = NULL;
        snprintf(path, sizeof path, "%s/case.json", c->dir);
        if ((st = ff_json_parse_file(path, &doc, err))) goto done;
        ev = ff_json_get(ff_json_root(doc), "expected_values");
        const ff_json *toks = ff_json_get(ev, "tokens");
        for (int b = 0; toks && !st && b < n; b++) {
            const ff_json *row = ff_json_at(toks, (size_t)b);
            int ok = row && ff_json_count(row) == (size_t)max_len;
            for (int j = 0; ok && j < max_len; j++) {
                size_t len;
                const char *s = ff_tok_id_to_token(tok, ((int64_t *)ids.data)[b * max_len + j], &len);
                ok = s && gt_json_str_eq(ff_json_at(row, (size_t)j), s, len);
            }
            if (!ok) st = ff_err_set(err, FF_ERR_FORMAT, "%s: expected_values.tokens[%d] differs from our tokens", c->name, b);
        }
        if (!st) st = check_pieces(c, ev, "sentencepiece_pieces_of_cleaned_prompt", tok, (const char *const *)cleaned, n, err);
        if (!st) st = check_pieces(c, ev, "sentencepiece_ids_of_cleaned_prompt", tok, (const char *const *)cleaned, n, err);
        ff_json_free(doc);
        if (st) goto done;
    }
    if ((st = golden_out_add(outs, "input_ids", &ids, err)) || (st = golden_out_add(outs, "attention_mask", &mask, err))) goto done;
done:
    if (cleaned)
        for (int b = 0; b < n; b++) free(cleaned[b]);
    free(cleaned);
    free(prompts);
    free(cleaned_want);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_tok_free(tok);
    return st;
}

ff_status golden_tokenizer(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (GT_OP_IS(c, "sentencepiece model contents")) return gt_spm_contents(c, outs, err);
    if (GT_OP_IS(c, "tokenizer")) return tokenizer_call(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: tokenizer op '%s' has no handler", c->name, c->op);
}

/* ---- text encoder ---------------------------------------------------------------- */

static ff_status encoder_forward(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char dir[4096];
    ff_status st = gt_component_dir(c, c->component && *c->component ? c->component : "text_encoder", dir, sizeof dir, err);
    if (st) return st;
    if (!c->inputs) return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no inputs.safetensors", c->name);
    ff_tensor ids = {0}, mask = {0}, dev = {0}, host = {0};
    ff_t5 *te = NULL;
    if ((st = ff_st_load(c->inputs, "input_ids", FF_I64, &ids, err))) return st;
    if (ff_st_find(c->inputs, "attention_mask") && (st = ff_st_load(c->inputs, "attention_mask", FF_I64, &mask, err))) goto done;
    if ((st = ff_t5_load(c->be, dir, FF_T5_AS_STORED, &te, err))) goto done;
    if ((st = ff_t5_forward(te, &ids, mask.data ? &mask : NULL, NULL, &dev, err))) goto done;
    if ((st = ff_tensor_alloc(&host, FF_F32, dev.ndim, dev.shape, err)) || (st = ff_be_download(c->be, &host, &dev, err))) goto done;
    st = golden_out_add(outs, "last_hidden_state", &host, err);
done:
    if (te) ff_be_free(c->be, &dev);
    ff_tensor_free(&host);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_t5_free(te);
    return st;
}

static ff_status encode_prompt_case(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char tdir[4096], edir[4096], path[4200];
    const char **prompts = NULL, **neg = NULL;
    int n = 0, nn = 0, max_len = 0, nv = 0;
    ff_tok *tok = NULL;
    ff_umt5 *te = NULL;
    ff_json_doc *doc = NULL;
    ff_prompt_embeds pe = {0};
    ff_status st;
    if ((st = gt_component_dir(c, "tokenizer", tdir, sizeof tdir, err)) || (st = gt_component_dir(c, "text_encoder", edir, sizeof edir, err)) ||
        (st = gt_opt_int(c, "max_sequence_length", 226, 1, 1 << 20, &max_len, err)) ||
        (st = gt_opt_int(c, "num_videos_per_prompt", 1, 1, 1 << 16, &nv, err)))
        return st;
    if ((st = gt_string_list(c, "prompts", &prompts, &n, err))) goto done;
    if (!n && (st = gt_string_list(c, "prompt", &prompts, &n, err))) goto done;
    if ((st = gt_string_list(c, "negative_prompts", &neg, &nn, err))) goto done;
    if (!nn && (st = gt_string_list(c, "negative_prompt", &neg, &nn, err))) goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: input_values has no prompt(s)", c->name);
        goto done;
    }
    /* do_classifier_free_guidance as the recorded call passes it */
    snprintf(path, sizeof path, "%s/case.json", c->dir);
    if ((st = ff_json_parse_file(path, &doc, err))) goto done;
    const char *call = ff_json_get_string(ff_json_root(doc), "call");
    int cfg = call && strstr(call, "do_classifier_free_guidance=True") != NULL;
    if ((st = ff_tok_load(tdir, &tok, err)) || (st = ff_umt5_load(c->be, edir, &te, err))) goto done;
    ff_prompt_request req = {prompts, n, neg, nn, cfg, nv, max_len};
    if ((st = ff_prompt_encode(tok, te, &req, &pe, err))) goto done;
    if ((st = golden_out_add(outs, "prompt_embeds", &pe.prompt_embeds, err)) ||
        (st = golden_out_add(outs, "seq_lens", &pe.seq_lens, err)))
        goto done;
    if (cfg && ((st = golden_out_add(outs, "negative_prompt_embeds", &pe.negative_prompt_embeds, err)) ||
                (st = golden_out_add(outs, "negative_seq_lens", &pe.negative_seq_lens, err))))
        goto done;
done:
    ff_prompt_embeds_free(&pe);
    ff_json_free(doc);
    free(prompts);
    free(neg);
    ff_tok_free(tok);
    ff_umt5_free(te);
    return st;
}

ff_status golden_text_encoder(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (GT_OP_IS(c, "UMT5EncoderModel.forward")) return encoder_forward(c, outs, err);
    if (GT_OP_IS(c, "WanPipeline.encode_prompt")) return encode_prompt_case(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: text_encoder op '%s' has no handler", c->name, c->op);
}

/* ---- CogVideoX: t5_tokenizer ------------------------------------------------------ */

static const char *tok_to_token(const void *tok, int64_t id, size_t *len) { return ff_tok_id_to_token(tok, id, len); }

/* T5Tokenizer as CogVideoXPipeline._get_t5_prompt_embeds calls it: the raw
 * prompts (no cleaning), padding to max_length, truncation, </s>. */
static ff_status cog_tokenizer_call(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char dir[4096];
    const char **prompts = NULL;
    int n = 0, max_len = 0;
    ff_tok *tok = NULL;
    ff_json_doc *doc = NULL;
    ff_tensor ids = {0}, mask = {0};
    ff_status st;
    if ((st = gt_component_dir(c, NULL, dir, sizeof dir, err)) ||
        (st = gt_opt_int(c, "max_sequence_length", FF_T5_PROMPT_COGVIDEOX_MAX_LEN, 1, 1 << 20, &max_len, err)) ||
        (st = gt_string_list(c, "prompts", &prompts, &n, err)))
        goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: input_values.prompts is missing or empty", c->name);
        goto done;
    }
    if ((st = ff_tok_load(dir, &tok, err)) || (st = ff_tok_batch(tok, prompts, n, max_len, &ids, &mask, err))) goto done;
    if ((st = gt_case_doc(c, &doc, err))) goto done;
    const ff_json *ev = ff_json_get(ff_json_root(doc), "expected_values");
    if ((st = gt_check_tokens(c, ff_json_get(ev, "tokens"), ids.data, n, max_len, tok_to_token, tok, err)) ||
        (st = check_pieces(c, ev, "sentencepiece_pieces", tok, prompts, n, err)) ||
        (st = check_pieces(c, ev, "sentencepiece_ids", tok, prompts, n, err)))
        goto done;
    /* untruncated lengths: the tokens plus </s> */
    const ff_json *ul = ff_json_get(ev, "untruncated_lengths");
    for (int b = 0; ul && b < n; b++) {
        int64_t *v, want;
        size_t len;
        if ((st = ff_tok_encode(tok, prompts[b], &v, &len, err))) goto done;
        int64_t got = (int64_t)len + (len == 0 || v[len - 1] != ff_tok_eos_id(tok));
        free(v);
        if (ff_json_int64(ff_json_at(ul, (size_t)b), &want) || want != got) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: prompt %d has %lld tokens untruncated, expected_values says otherwise", c->name, b,
                            (long long)got);
            goto done;
        }
    }
    if ((st = golden_out_add(outs, "input_ids", &ids, err)) || (st = golden_out_add(outs, "attention_mask", &mask, err))) goto done;
done:
    ff_json_free(doc);
    free(prompts);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_tok_free(tok);
    return st;
}

ff_status golden_t5_tokenizer(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (GT_OP_IS(c, "sentencepiece model contents")) return gt_spm_contents(c, outs, err);
    if (GT_OP_IS(c, "T5Tokenizer")) return cog_tokenizer_call(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: t5_tokenizer op '%s' has no handler", c->name, c->op);
}

/* ---- CogVideoX: t5_encoder ------------------------------------------------------- */

/* CogVideoXPipeline.encode_prompt(prompt, negative_prompt, do_classifier_free_guidance,
 * num_videos_per_prompt, max_sequence_length) as the recorded call makes it. */
static ff_status cog_encode_prompt(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char tdir[4096], edir[4096];
    const char **prompts = NULL, **neg = NULL;
    int n = 0, nn = 0, max_len = 0, nv = 0;
    ff_tok *tok = NULL;
    ff_t5 *te = NULL;
    ff_json_doc *doc = NULL;
    ff_t5_prompt_result pe = {0};
    ff_status st;
    if ((st = gt_component_dir(c, "tokenizer", tdir, sizeof tdir, err)) ||
        (st = gt_component_dir(c, "text_encoder", edir, sizeof edir, err)) ||
        (st = gt_opt_int(c, "max_sequence_length", FF_T5_PROMPT_COGVIDEOX_MAX_LEN, 1, 1 << 20, &max_len, err)) ||
        (st = gt_opt_int(c, "num_videos_per_prompt", 1, 1, 1 << 16, &nv, err)))
        return st;
    if ((st = gt_string_list(c, "prompts", &prompts, &n, err))) goto done;
    if (!n && (st = gt_string_list(c, "prompt", &prompts, &n, err))) goto done;
    if ((st = gt_string_list(c, "negative_prompts", &neg, &nn, err))) goto done;
    if (!nn && (st = gt_string_list(c, "negative_prompt", &neg, &nn, err))) goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: input_values has no prompt(s)", c->name);
        goto done;
    }
    if ((st = gt_case_doc(c, &doc, err))) goto done;
    const char *call = ff_json_get_string(ff_json_root(doc), "call");
    int cfg = call && strstr(call, "do_classifier_free_guidance=True") != NULL;
    if ((st = ff_tok_load(tdir, &tok, err)) || (st = ff_t5_load(c->be, edir, FF_T5_AS_STORED, &te, err))) goto done;
    ff_t5_prompt_request req = {prompts, n, neg, nn, cfg, nv, max_len, NULL};
    if ((st = ff_t5_prompt_encode_cogvideox(tok, te, &req, &pe, err))) goto done;
    if ((st = golden_out_add(outs, "prompt_embeds", &pe.prompt_embeds, err)) ||
        (st = golden_out_add(outs, "input_ids", &pe.input_ids, err)))
        goto done;
    if (cfg && ((st = golden_out_add(outs, "negative_prompt_embeds", &pe.negative_prompt_embeds, err)) ||
                (st = golden_out_add(outs, "negative_input_ids", &pe.negative_input_ids, err))))
        goto done;
done:
    ff_t5_prompt_free(&pe);
    ff_json_free(doc);
    free(prompts);
    free(neg);
    ff_tok_free(tok);
    ff_t5_free(te);
    return st;
}

ff_status golden_t5_encoder(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (GT_OP_IS(c, "T5EncoderModel.forward")) return encoder_forward(c, outs, err);
    if (GT_OP_IS(c, "CogVideoXPipeline.encode_prompt")) return cog_encode_prompt(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: t5_encoder op '%s' has no handler", c->name, c->op);
}
