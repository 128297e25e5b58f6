/* golden_umt5: handlers of the tokenizer and text_encoder golden groups.
 *
 * tokenizer: "sentencepiece model contents" (scores, types; the pieces and
 * the added-token ids are checked here against expected_values/options and
 * a mismatch is an error), and the tokenizer calls as WanPipeline makes them
 * (prompt_clean checked against input_values.cleaned_prompts, input_ids and
 * attention_mask; expected_values.tokens and the raw sentencepiece ids are
 * checked here too).
 * text_encoder: UMT5EncoderModel.forward (last_hidden_state) and
 * WanPipeline.encode_prompt (prompt_embeds, negative_prompt_embeds,
 * seq_lens). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/golden.h"
#include "core/ff_model_dir.h"
#include "models/prompt.h"
#include "models/tokenizer.h"
#include "models/umt5.h"

static ff_status component_dir(const golden_case *c, const char *name, char *buf, size_t n, ff_err *err) {
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: case has no pipeline folder", c->name);
    ff_model_dir *md;
    ff_status st = ff_model_dir_open(c->pipeline, &md, err);
    if (st) return st;
    st = ff_model_dir_component_dir(md, name, buf, n, err);
    ff_model_dir_close(md);
    return st;
}

static ff_status opt_int(const golden_case *c, const char *key, int64_t dflt, int64_t lo, int64_t hi, int *out, ff_err *err) {
    int64_t v;
    if (ff_json_get_int64(c->options, key, dflt, &v) || v < lo || v > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.%s must be an integer in [%lld, %lld]", c->name, key,
                          (long long)lo, (long long)hi);
    *out = (int)v;
    return FF_OK;
}

/* A list of strings (or one string) from input_values[key]; *items point
 * into the case's JSON. */
static ff_status string_list(const golden_case *c, const char *key, const char ***items, int *n, ff_err *err) {
    *items = NULL;
    *n = 0;
    const ff_json *v = ff_json_get(c->input_values, key);
    if (!v) return FF_OK;
    size_t cnt = v->type == FF_JSON_STRING ? 1 : v->type == FF_JSON_ARRAY ? ff_json_count(v) : 0;
    if (v->type != FF_JSON_STRING && v->type != FF_JSON_ARRAY)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: input_values.%s is not a string or a list", c->name, key);
    *items = calloc(cnt ? cnt : 1, sizeof **items);
    if (!*items) return ff_err_set(err, FF_ERR_NOMEM, "no memory");
    for (size_t i = 0; i < cnt; i++) {
        const ff_json *e = v->type == FF_JSON_STRING ? v : ff_json_at(v, i);
        if (!e || e->type != FF_JSON_STRING || strlen(e->str) != e->len) {
            free(*items);
            *items = NULL;
            return ff_err_set(err, FF_ERR_FORMAT, "%s: input_values.%s[%zu] is not a string", c->name, key, i);
        }
        (*items)[i] = e->str;
    }
    *n = (int)cnt;
    return FF_OK;
}

static int json_str_eq(const ff_json *e, const char *s, size_t n) {
    return e && e->type == FF_JSON_STRING && e->len == n && memcmp(e->str, s, n) == 0;
}

/* ---- tokenizer ------------------------------------------------------------------ */

static ff_status spm_contents(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char dir[4096], path[4200];
    ff_status st = component_dir(c, c->component && *c->component ? c->component : "tokenizer", dir, sizeof dir, err);
    if (st) return st;
    snprintf(path, sizeof path, "%s/spiece.model", dir);
    ff_tok *tok;
    if ((st = ff_tok_load(dir, &tok, err))) return st;
    const ff_spm *m = ff_tok_spm(tok);
    int n = ff_spm_size(m);
    ff_tensor scores = {0}, types = {0};
    ff_json_doc *doc = NULL;
    int piece_size = 0;
    if ((st = opt_int(c, "piece_size", n, 1, 1 << 30, &piece_size, err))) goto done;
    if (piece_size != n) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: %d pieces, options.piece_size says %d", path, n, piece_size);
        goto done;
    }
    if ((st = ff_tensor_allocv(&scores, FF_F32, err, 1, (int64_t)n)) || (st = ff_tensor_allocv(&types, FF_I32, err, 1, (int64_t)n)))
        goto done;
    snprintf(path, sizeof path, "%s/case.json", c->dir);
    if ((st = ff_json_parse_file(path, &doc, err))) goto done;
    const ff_json *pieces = ff_json_get(ff_json_get(ff_json_root(doc), "expected_values"), "pieces");
    if (pieces && ff_json_count(pieces) != (size_t)n) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: %d pieces, expected_values.pieces has %zu", dir, n, ff_json_count(pieces));
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const ff_spm_piece *p = ff_spm_piece_at(m, i);
        ((float *)scores.data)[i] = p->score;
        ((int32_t *)types.data)[i] = p->type;
        if (pieces && !json_str_eq(ff_json_at(pieces, (size_t)i), p->piece, p->len)) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: piece %d is '%.*s', expected_values.pieces differs", dir, i, (int)p->len, p->piece);
            goto done;
        }
    }
    snprintf(path, sizeof path, "%s/spiece.model", dir);
    /* normalizer settings and the added tokens the case records */
    ff_spm_info info;
    ff_spm_get_info(m, &info);
    const char *rule = ff_json_get_string(c->options, "normalization_rule_name");
    int adp = info.add_dummy_prefix, rew = info.remove_extra_whitespaces;
    if ((rule && strcmp(rule, info.name)) || ff_json_get_bool(c->options, "add_dummy_prefix", adp, &adp) ||
        adp != info.add_dummy_prefix || ff_json_get_bool(c->options, "remove_extra_whitespaces", rew, &rew) ||
        rew != info.remove_extra_whitespaces) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: normalizer spec (%s, add_dummy_prefix=%d, remove_extra_whitespaces=%d) "
                                            "differs from the case options",
                        path, info.name, info.add_dummy_prefix, info.remove_extra_whitespaces);
        goto done;
    }
    const ff_json *added = ff_json_get(c->options, "added_tokens");
    for (const ff_json *e = added ? added->child : NULL; e; e = e->next) {
        int64_t want, got = ff_tok_added_id(tok, e->key, strlen(e->key));
        if (ff_json_int64(e, &want) || got != want) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: added token %s has id %lld, expected %s", dir, e->key, (long long)got,
                            e->str ? e->str : "?");
            goto done;
        }
    }
    if ((st = golden_out_add(outs, "scores", &scores, err)) || (st = golden_out_add(outs, "types", &types, err))) goto done;
done:
    ff_json_free(doc);
    ff_tensor_free(&scores);
    ff_tensor_free(&types);
    ff_tok_free(tok);
    return st;
}

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
            ok = w->type == FF_JSON_STRING ? json_str_eq(w, s, len) : !ff_json_int64(w, &id) && id == e.tokens[i].id;
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
    ff_status st = component_dir(c, c->component && *c->component ? c->component : "tokenizer", dir, sizeof dir, err);
    if (st) return st;
    if ((st = opt_int(c, "max_sequence_length", 512, 1, 1 << 20, &max_len, err)) ||
        (st = string_list(c, "prompts", &prompts, &n, err)) || (st = string_list(c, "cleaned_prompts", &cleaned_want, &n_clean, err)))
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
                ok = s && json_str_eq(ff_json_at(row, (size_t)j), s, len);
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
    if (!strncmp(c->op, "sentencepiece model contents", 28)) return spm_contents(c, outs, err);
    if (!strncmp(c->op, "tokenizer", 9)) return tokenizer_call(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: tokenizer op '%s' has no handler", c->name, c->op);
}

/* ---- text encoder ---------------------------------------------------------------- */

static ff_status encoder_forward(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char dir[4096];
    ff_status st = component_dir(c, c->component && *c->component ? c->component : "text_encoder", dir, sizeof dir, err);
    if (st) return st;
    if (!c->inputs) return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no inputs.safetensors", c->name);
    ff_tensor ids = {0}, mask = {0}, dev = {0}, host = {0};
    ff_umt5 *te = NULL;
    if ((st = ff_st_load(c->inputs, "input_ids", FF_I64, &ids, err))) return st;
    if (ff_st_find(c->inputs, "attention_mask") && (st = ff_st_load(c->inputs, "attention_mask", FF_I64, &mask, err))) goto done;
    if ((st = ff_umt5_load(c->be, dir, &te, err))) goto done;
    if ((st = ff_umt5_forward(te, &ids, mask.data ? &mask : NULL, &dev, err))) goto done;
    if ((st = ff_tensor_alloc(&host, FF_F32, dev.ndim, dev.shape, err)) || (st = ff_be_download(c->be, &host, &dev, err))) goto done;
    st = golden_out_add(outs, "last_hidden_state", &host, err);
done:
    if (te) ff_be_free(c->be, &dev);
    ff_tensor_free(&host);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_umt5_free(te);
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
    if ((st = component_dir(c, "tokenizer", tdir, sizeof tdir, err)) || (st = component_dir(c, "text_encoder", edir, sizeof edir, err)) ||
        (st = opt_int(c, "max_sequence_length", 226, 1, 1 << 20, &max_len, err)) ||
        (st = opt_int(c, "num_videos_per_prompt", 1, 1, 1 << 16, &nv, err)))
        return st;
    if ((st = string_list(c, "prompts", &prompts, &n, err))) goto done;
    if (!n && (st = string_list(c, "prompt", &prompts, &n, err))) goto done;
    if ((st = string_list(c, "negative_prompts", &neg, &nn, err))) goto done;
    if (!nn && (st = string_list(c, "negative_prompt", &neg, &nn, err))) goto done;
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
    if (!strncmp(c->op, "UMT5EncoderModel.forward", 24)) return encoder_forward(c, outs, err);
    if (!strncmp(c->op, "WanPipeline.encode_prompt", 25)) return encode_prompt_case(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: text_encoder op '%s' has no handler", c->name, c->op);
}
