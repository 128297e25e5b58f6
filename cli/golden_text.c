/* golden_text: helpers of the text-side golden handlers (see golden_text.h). */
#include "cli/golden_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_model_dir.h"
#include "models/spm_model.h"

ff_status gt_component_dir(const golden_case *c, const char *name, char *buf, size_t n, ff_err *err) {
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: case has no pipeline folder", c->name);
    if (!name) name = c->component && *c->component ? c->component : "tokenizer";
    ff_model_dir *md;
    ff_status st = ff_model_dir_open(c->pipeline, &md, err);
    if (st) return st;
    st = ff_model_dir_component_dir(md, name, buf, n, err);
    ff_model_dir_close(md);
    return st;
}

ff_status gt_opt_int(const golden_case *c, const char *key, int64_t dflt, int64_t lo, int64_t hi, int *out, ff_err *err) {
    int64_t v;
    if (ff_json_get_int64(c->options, key, dflt, &v) || v < lo || v > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.%s must be an integer in [%lld, %lld]", c->name, key,
                          (long long)lo, (long long)hi);
    *out = (int)v;
    return FF_OK;
}

ff_status gt_string_list(const golden_case *c, const char *key, const char ***items, int *n, ff_err *err) {
    *items = NULL;
    *n = 0;
    const ff_json *v = ff_json_get(c->input_values, key);
    if (!v) return FF_OK;
    if (v->type != FF_JSON_STRING && v->type != FF_JSON_ARRAY)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: input_values.%s is not a string or a list", c->name, key);
    size_t cnt = v->type == FF_JSON_STRING ? 1 : ff_json_count(v);
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

int gt_json_str_eq(const ff_json *e, const char *s, size_t n) {
    return e && e->type == FF_JSON_STRING && e->len == n && memcmp(e->str, s, n) == 0;
}

ff_status gt_case_doc(const golden_case *c, ff_json_doc **doc, ff_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/case.json", c->dir);
    return ff_json_parse_file(path, doc, err);
}

ff_status gt_check_tokens(const golden_case *c, const ff_json *tokens, const int64_t *ids, int rows, int len,
                          gt_id_to_token to_token, const void *tok, ff_err *err) {
    if (!tokens) return FF_OK;
    int flat = rows == 1 && ff_json_count(tokens) && ff_json_at(tokens, 0)->type == FF_JSON_STRING;
    for (int b = 0; b < rows; b++) {
        const ff_json *row = flat ? tokens : ff_json_at(tokens, (size_t)b);
        int ok = row && ff_json_count(row) == (size_t)len;
        for (int j = 0; ok && j < len; j++) {
            size_t n;
            const char *s = to_token(tok, ids[(size_t)b * (size_t)len + (size_t)j], &n);
            ok = s && gt_json_str_eq(ff_json_at(row, (size_t)j), s, n);
        }
        if (!ok) return ff_err_set(err, FF_ERR_FORMAT, "%s: expected_values.tokens[%d] differs from our tokens", c->name, b);
    }
    return FF_OK;
}

ff_status gt_out_copy(golden_outputs *outs, const char *name, const ff_tensor *t, ff_err *err) {
    ff_tensor cp;
    ff_status st = ff_tensor_clone(&cp, t, err);
    if (st) return st;
    st = golden_out_add(outs, name, &cp, err);
    ff_tensor_free(&cp);
    return st;
}

ff_status gt_spm_contents(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char dir[4096];
    ff_status st = gt_component_dir(c, NULL, dir, sizeof dir, err);
    if (st) return st;
    ff_tok *tok;
    if ((st = ff_tok_load(dir, &tok, err))) return st;
    const ff_spm *m = ff_tok_spm(tok);
    const char *path = ff_tok_model_path(tok);
    int n = ff_spm_size(m);
    ff_tensor scores = {0}, types = {0};
    ff_json_doc *doc = NULL;
    int piece_size = 0;
    if ((st = gt_opt_int(c, "piece_size", n, 1, 1 << 30, &piece_size, err))) goto done;
    if (piece_size != n) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: %d pieces, options.piece_size says %d", path, n, piece_size);
        goto done;
    }
    if ((st = ff_tensor_allocv(&scores, FF_F32, err, 1, (int64_t)n)) || (st = ff_tensor_allocv(&types, FF_I32, err, 1, (int64_t)n)))
        goto done;
    if ((st = gt_case_doc(c, &doc, err))) goto done;
    const ff_json *pieces = ff_json_get(ff_json_get(ff_json_root(doc), "expected_values"), "pieces");
    if (pieces && ff_json_count(pieces) != (size_t)n) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: %d pieces, expected_values.pieces has %zu", path, n, ff_json_count(pieces));
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const ff_spm_piece *p = ff_spm_piece_at(m, i);
        ((float *)scores.data)[i] = p->score;
        ((int32_t *)types.data)[i] = p->type;
        if (pieces && !gt_json_str_eq(ff_json_at(pieces, (size_t)i), p->piece, p->len)) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: piece %d is '%.*s', expected_values.pieces differs", path, i, (int)p->len,
                            p->piece);
            goto done;
        }
    }
    /* the model and normalizer settings and the added tokens the case records */
    ff_spm_info info;
    ff_spm_get_info(m, &info);
    static const char *const types_by_code[] = {"?", "UNIGRAM", "BPE", "WORD", "CHAR"};
    const char *rule = ff_json_get_string(c->options, "normalization_rule_name");
    const char *mtype = ff_json_get_string(c->options, "model_type");
    int adp = info.add_dummy_prefix, rew = info.remove_extra_whitespaces, bfb = info.byte_fallback;
    if ((rule && strcmp(rule, info.name)) ||
        (mtype && (info.model_type < 1 || info.model_type > 4 || strcmp(mtype, types_by_code[info.model_type]))) ||
        ff_json_get_bool(c->options, "add_dummy_prefix", adp, &adp) || adp != info.add_dummy_prefix ||
        ff_json_get_bool(c->options, "remove_extra_whitespaces", rew, &rew) || rew != info.remove_extra_whitespaces ||
        ff_json_get_bool(c->options, "byte_fallback", bfb, &bfb) || bfb != info.byte_fallback) {
        st = ff_err_set(err, FF_ERR_FORMAT,
                        "%s: model spec (type %d, %s, add_dummy_prefix=%d, remove_extra_whitespaces=%d, byte_fallback=%d) "
                        "differs from the case options",
                        path, info.model_type, info.name, info.add_dummy_prefix, info.remove_extra_whitespaces,
                        info.byte_fallback);
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
