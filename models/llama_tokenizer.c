/* llama_tokenizer: one interface over the two forms of a Llama tokenizer
 * folder (see llama_tokenizer.h). */
#include "models/llama_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_json.h"

struct ff_llama_tok {
    ff_tok *spm;
    ff_bpe *bpe;
};

static int exists(const char *dir, const char *name) {
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

ff_status ff_llama_tok_load(const char *dir, ff_llama_tok **out, ff_err *err) {
    *out = NULL;
    ff_llama_tok *t = calloc(1, sizeof *t);
    if (!t) return ff_err_set(err, FF_ERR_NOMEM, "llama tokenizer: no memory");
    int json = exists(dir, "tokenizer.json"), model = exists(dir, "tokenizer.model");
    if (json && model) { /* the slow class reads tokenizer.model */
        char path[4200];
        ff_json_doc *doc = NULL;
        snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
        if (exists(dir, "tokenizer_config.json") && ff_json_parse_file(path, &doc, NULL) == FF_OK) {
            const char *cls = ff_json_get_string(ff_json_root(doc), "tokenizer_class");
            if (cls && !strcmp(cls, "LlamaTokenizer")) json = 0;
            ff_json_free(doc);
        }
    }
    ff_status st;
    if (json) st = ff_bpe_load_json(dir, &t->bpe, err);
    else if (model) st = ff_tok_load(dir, &t->spm, err);
    else st = ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no tokenizer.json or tokenizer.model", dir);
    if (st) {
        free(t);
        return st;
    }
    if (t->spm && ff_tok_get_kind(t->spm) != FF_TOK_LLAMA) {
        ff_tok_free(t->spm);
        free(t);
        return ff_err_set(err, FF_ERR_FORMAT, "%s: a T5 tokenizer, not a Llama one", dir);
    }
    *out = t;
    return FF_OK;
}

void ff_llama_tok_free(ff_llama_tok *t) {
    if (!t) return;
    ff_tok_free(t->spm);
    ff_bpe_free(t->bpe);
    free(t);
}

const ff_tok *ff_llama_tok_spm(const ff_llama_tok *t) { return t->spm; }
const ff_bpe *ff_llama_tok_bpe(const ff_llama_tok *t) { return t->bpe; }

ff_status ff_llama_tok_encode_special(const ff_llama_tok *t, const char *text, int64_t **ids, size_t *n, ff_err *err) {
    return t->spm ? ff_tok_encode_special(t->spm, text, ids, n, err) : ff_bpe_encode_special(t->bpe, text, ids, n, err);
}

ff_status ff_llama_tok_batch(const ff_llama_tok *t, const char *const *texts, int n, int max_length, ff_tensor *ids,
                             ff_tensor *mask, ff_err *err) {
    return t->spm ? ff_tok_batch(t->spm, texts, n, max_length, ids, mask, err)
                  : ff_bpe_batch(t->bpe, texts, n, max_length, ids, mask, err);
}

const char *ff_llama_tok_id_to_token(const ff_llama_tok *t, int64_t id, size_t *len) {
    return t->spm ? ff_tok_id_to_token(t->spm, id, len) : ff_bpe_id_to_token(t->bpe, id, len);
}
