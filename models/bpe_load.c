/* bpe_load: building an ff_bpe from the files a tokenizer folder ships
 * (see bpe.h): the slow CLIPTokenizer's vocab.json + merges.txt
 * (transformers tokenization_clip.py: merges are lines 1 .. 49152-256-2 of
 * merges.txt, the first line being the "#version" header), and
 * tokenizer.json (the `tokenizers` serialisation: model, normalizer,
 * pre_tokenizer, post_processor, added_tokens). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_json.h"
#include "models/bpe_internal.h"

static ff_status new_bpe(const char *what, ff_bpe **out, ff_err *err) {
    ff_bpe *t = calloc(1, sizeof *t);
    if (!t) return ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
    snprintf(t->what, sizeof t->what, "%s", what);
    t->bos = t->eos = t->pad = t->unk = t->model_unk = -1;
    *out = t;
    return FF_OK;
}

static ff_status parse_optional(const char *dir, const char *name, ff_json_doc **doc, ff_err *err) {
    char path[4200];
    struct stat sb;
    *doc = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &sb) != 0) return FF_OK;
    return ff_json_parse_file(path, doc, err);
}

/* "tok" or {"content": "tok", ...} */
static const char *token_content(const ff_json *v, int *lstrip, int *rstrip) {
    *lstrip = *rstrip = 0;
    if (!v) return NULL;
    if (v->type == FF_JSON_STRING) return v->str;
    if (v->type != FF_JSON_OBJECT) return NULL;
    ff_json_get_bool(v, "lstrip", 0, lstrip);
    ff_json_get_bool(v, "rstrip", 0, rstrip);
    return ff_json_get_string(v, "content");
}

/* tokenizer_config.json's value, else special_tokens_map.json's */
static const ff_json *special_entry(const ff_json *cfg, const ff_json *map, const char *key) {
    const ff_json *v = ff_json_get(cfg, key);
    if (v && v->type != FF_JSON_NULL) return v;
    v = ff_json_get(map, key);
    return v && v->type != FF_JSON_NULL ? v : NULL;
}

/* The id of a special token: an added token, else a vocabulary entry
 * (then it becomes an added token, as transformers adds special tokens). */
static ff_status special_id(ff_bpe *t, const ff_json *v, const char *dflt, int64_t *id, ff_err *err) {
    int l, r;
    const char *c = v ? token_content(v, &l, &r) : dflt;
    if (!v) l = r = 0;
    if (!c) return FF_OK;
    int64_t x = ff_bpe_token_to_id(t, c, strlen(c));
    if (x < 0) return ff_err_set(err, FF_ERR_FORMAT, "%s: special token '%s' is neither an added token nor in the vocabulary", t->what, c);
    *id = x;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == strlen(c) && !memcmp(t->added[i].content, c, t->added[i].len)) return FF_OK;
    return bpe_add_token(t, c, strlen(c), x, l, r, err);
}

/* added_tokens_decoder of tokenizer_config.json: {"<id>": {"content": ...}} */
static ff_status added_from_config(ff_bpe *t, const ff_json *cfg, ff_err *err) {
    const ff_json *dec = ff_json_get(cfg, "added_tokens_decoder");
    for (const ff_json *e = dec && dec->type == FF_JSON_OBJECT ? dec->child : NULL; e; e = e->next) {
        char *endp;
        long long id = strtoll(e->key, &endp, 10);
        int l, r;
        const char *c = token_content(e, &l, &r);
        if (*endp || endp == e->key || !c)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: bad added_tokens_decoder entry '%s'", t->what, e->key);
        ff_status st = bpe_add_token(t, c, strlen(c), id, l, r, err);
        if (st) return st;
    }
    return FF_OK;
}

static ff_status vocab_from_json(ff_bpe *t, const ff_json *vocab, const char *what, ff_err *err) {
    if (!vocab || vocab->type != FF_JSON_OBJECT) return ff_err_set(err, FF_ERR_FORMAT, "%s: the vocabulary is not an object", what);
    for (const ff_json *e = vocab->child; e; e = e->next) {
        int64_t id;
        if (ff_json_int64(e, &id) || id < 0) return ff_err_set(err, FF_ERR_FORMAT, "%s: vocabulary entry '%s' has no id", what, e->key);
        if (bpe_map_put(&t->vocab, e->key, strlen(e->key), id)) return ff_err_set(err, FF_ERR_NOMEM, "%s: no memory", what);
        ff_status st = bpe_set_id(t, id, e->key, strlen(e->key), err);
        if (st) return st;
    }
    return FF_OK;
}

/* one merge "a b" (split on whitespace, as tuple(merge.split())) */
static ff_status add_merge(ff_bpe *t, const char *line, size_t n, int64_t rank, ff_err *err) {
    size_t i = 0, a0, a1, b0, b1;
    while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    a0 = i;
    while (i < n && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') i++;
    a1 = i;
    while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    b0 = i;
    while (i < n && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') i++;
    b1 = i;
    while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (a1 == a0 || b1 == b0 || i != n) return FF_OK; /* not a pair: never matches a bigram */
    char key[1024];
    if (a1 - a0 + b1 - b0 + 2 > sizeof key) return ff_err_set(err, FF_ERR_FORMAT, "%s: merge %lld is too long", t->what, (long long)rank);
    memcpy(key, line + a0, a1 - a0);
    key[a1 - a0] = ' ';
    memcpy(key + a1 - a0 + 1, line + b0, b1 - b0);
    const size_t kl = a1 - a0 + 1 + b1 - b0;
    /* dict(zip(merges, ranks)) / the tokenizers HashMap: a repeated merge keeps its later rank */
    if (bpe_map_put(&t->merges, key, kl, rank)) return ff_err_set(err, FF_ERR_NOMEM, "%s: no memory", t->what);
    return FF_OK;
}

/* ---- CLIPTokenizer (slow) ---------------------------------------------------------------- */

ff_status ff_bpe_load_clip(const char *dir, ff_bpe **out, ff_err *err) {
    *out = NULL;
    char path[4200];
    ff_bpe *t;
    ff_json_doc *voc = NULL, *cfg_doc = NULL, *map_doc = NULL;
    char *text = NULL;
    ff_status st = new_bpe(dir, &t, err);
    if (st) return st;
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    if ((st = ff_json_parse_file(path, &voc, err)) || (st = vocab_from_json(t, ff_json_root(voc), path, err))) goto fail;
    /* merges.txt: read().strip().split("\n")[1 : 49152 - 256 - 2 + 1] */
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        st = ff_err_set(err, errno == ENOENT ? FF_ERR_NOT_FOUND : FF_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) || sb.st_size > (64 << 20)) {
        fclose(f);
        st = ff_err_set(err, FF_ERR_IO, "%s: not a file below 64 MiB", path);
        goto fail;
    }
    text = malloc((size_t)sb.st_size + 1);
    size_t got = text ? fread(text, 1, (size_t)sb.st_size, f) : 0;
    fclose(f);
    if (!text || got != (size_t)sb.st_size) {
        st = ff_err_set(err, text ? FF_ERR_IO : FF_ERR_NOMEM, "%s: cannot read", path);
        goto fail;
    }
    text[got] = 0;
    size_t b = 0, e = got;
    while (b < e && (text[b] == ' ' || text[b] == '\n' || text[b] == '\t' || text[b] == '\r')) b++; /* strip() */
    while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\n' || text[e - 1] == '\t' || text[e - 1] == '\r')) e--;
    int64_t line = 0;
    for (size_t i = b; i <= e && line <= 49152 - 256 - 2;) {
        size_t j = i;
        while (j < e && text[j] != '\n') j++;
        if (line >= 1 && (st = add_merge(t, text + i, j - i, line - 1, err))) goto fail;
        line++;
        i = j + 1;
    }
    strcpy(t->eow, "</w>");
    t->basic_clip = 1;
    t->clip_cache = 1;
    t->regex = BPE_RE_CLIP;
    /* special tokens: CLIPTokenizer defaults */
    if ((st = parse_optional(dir, "tokenizer_config.json", &cfg_doc, err)) ||
        (st = parse_optional(dir, "special_tokens_map.json", &map_doc, err)))
        goto fail;
    const ff_json *cfg = ff_json_root(cfg_doc), *map = ff_json_root(map_doc);
    if ((st = added_from_config(t, cfg, err)) ||
        (st = special_id(t, special_entry(cfg, map, "unk_token"), "<|endoftext|>", &t->unk, err)) ||
        (st = special_id(t, special_entry(cfg, map, "bos_token"), "<|startoftext|>", &t->bos, err)) ||
        (st = special_id(t, special_entry(cfg, map, "eos_token"), "<|endoftext|>", &t->eos, err)) ||
        (st = special_id(t, special_entry(cfg, map, "pad_token"), "<|endoftext|>", &t->pad, err)))
        goto fail;
    t->model_unk = t->unk; /* encoder.get(token, encoder.get(unk_token)) */
    t->prefix[t->n_prefix++] = t->bos; /* build_inputs_with_special_tokens: bos + ids + eos */
    t->suffix[t->n_suffix++] = t->eos;
    free(text);
    ff_json_free(voc);
    ff_json_free(cfg_doc);
    ff_json_free(map_doc);
    *out = t;
    return FF_OK;
fail:
    free(text);
    ff_json_free(voc);
    ff_json_free(cfg_doc);
    ff_json_free(map_doc);
    ff_bpe_free(t);
    return st;
}

/* ---- tokenizer.json --------------------------------------------------------------------- */

static ff_status json_normalizer(ff_bpe *t, const ff_json *n, ff_err *err) {
    if (ff_json_is_null(n)) return FF_OK;
    const char *type = ff_json_get_string(n, "type");
    if (!type) return ff_err_set(err, FF_ERR_FORMAT, "%s: normalizer without a type", t->what);
    if (!strcmp(type, "Sequence")) {
        const ff_json *list = ff_json_get(n, "normalizers");
        for (const ff_json *e = list ? list->child : NULL; e; e = e->next) {
            ff_status st = json_normalizer(t, e, err);
            if (st) return st;
        }
        return FF_OK;
    }
    if (t->n_norm == BPE_MAX_NORM) return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: more than %d normalizers", t->what, BPE_MAX_NORM);
    if (!strcmp(type, "NFC")) {
        t->norm[t->n_norm++] = BPE_NORM_NFC;
    } else if (!strcmp(type, "Lowercase")) {
        t->norm[t->n_norm++] = BPE_NORM_LOWER;
    } else if (!strcmp(type, "Replace")) {
        const char *re = ff_json_get_string(ff_json_get(n, "pattern"), "Regex"), *content = ff_json_get_string(n, "content");
        if (!re || strcmp(re, "\\s+") || !content || strcmp(content, " "))
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: Replace normalizer other than \\s+ -> ' ' is not supported", t->what);
        t->norm[t->n_norm++] = BPE_NORM_SPACES;
    } else {
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: normalizer %s is not supported (NFC, Lowercase, Replace, Sequence)", t->what,
                          type);
    }
    return FF_OK;
}

static ff_status json_pretokenizer(ff_bpe *t, const ff_json *p, int *byte_level, ff_err *err) {
    if (ff_json_is_null(p)) return FF_OK;
    const char *type = ff_json_get_string(p, "type");
    if (!type) return ff_err_set(err, FF_ERR_FORMAT, "%s: pre_tokenizer without a type", t->what);
    if (!strcmp(type, "Sequence")) {
        const ff_json *list = ff_json_get(p, "pretokenizers");
        for (const ff_json *e = list ? list->child : NULL; e; e = e->next) {
            ff_status st = json_pretokenizer(t, e, byte_level, err);
            if (st) return st;
        }
        return FF_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        int use_regex = 1;
        ff_json_get_bool(p, "add_prefix_space", 0, &t->add_prefix_space);
        ff_json_get_bool(p, "use_regex", 1, &use_regex);
        *byte_level = 1;
        if (use_regex) {
            if (t->regex != BPE_RE_NONE)
                return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: a Split and a ByteLevel regex both split the text", t->what);
            t->regex = BPE_RE_GPT2;
            t->keep_gaps = 1;
        }
        return FF_OK;
    }
    if (!strcmp(type, "Split")) {
        const char *re = ff_json_get_string(ff_json_get(p, "pattern"), "Regex");
        const char *behavior = ff_json_get_string(p, "behavior");
        int invert = 0;
        ff_json_get_bool(p, "invert", 0, &invert);
        bpe_regex r = re ? bpe_regex_of(re) : BPE_RE_NONE;
        if (r == BPE_RE_NONE || t->regex != BPE_RE_NONE)
            return ff_err_set(err, FF_ERR_UNSUPPORTED,
                              "%s: Split pattern %s is not one of the known ones (Llama-3, GPT-2, CLIP)", t->what, re ? re : "(not a regex)");
        if (behavior && !strcmp(behavior, "Isolated") && !invert) t->keep_gaps = 1; /* matches and the text between them */
        else if (behavior && !strcmp(behavior, "Removed") && invert) t->keep_gaps = 0; /* matches only */
        else
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: Split behavior %s (invert %d) is not supported", t->what,
                              behavior ? behavior : "?", invert);
        t->regex = r;
        return FF_OK;
    }
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: pre_tokenizer %s is not supported (ByteLevel, Split, Sequence)", t->what, type);
}

/* Special tokens of one sequence from a post-processor. */
static ff_status json_post(ff_bpe *t, const ff_json *p, ff_err *err) {
    if (ff_json_is_null(p)) return FF_OK;
    const char *type = ff_json_get_string(p, "type");
    if (!type) return ff_err_set(err, FF_ERR_FORMAT, "%s: post_processor without a type", t->what);
    if (!strcmp(type, "Sequence")) {
        const ff_json *list = ff_json_get(p, "processors");
        for (const ff_json *e = list ? list->child : NULL; e; e = e->next) {
            ff_status st = json_post(t, e, err);
            if (st) return st;
        }
        return FF_OK;
    }
    if (!strcmp(type, "ByteLevel")) return FF_OK; /* offsets only */
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        int64_t cls, sep;
        if (ff_json_int64(ff_json_at(ff_json_get(p, "cls"), 1), &cls) || ff_json_int64(ff_json_at(ff_json_get(p, "sep"), 1), &sep))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: %s without cls/sep ids", t->what, type);
        t->n_prefix = t->n_suffix = 0;
        t->prefix[t->n_prefix++] = cls;
        t->suffix[t->n_suffix++] = sep;
        return FF_OK;
    }
    if (!strcmp(type, "TemplateProcessing")) {
        const ff_json *single = ff_json_get(p, "single"), *specials = ff_json_get(p, "special_tokens");
        int seen_seq = 0;
        t->n_prefix = t->n_suffix = 0;
        for (const ff_json *e = single ? single->child : NULL; e; e = e->next) {
            if (ff_json_get(e, "Sequence")) {
                seen_seq = 1;
                continue;
            }
            const char *name = ff_json_get_string(ff_json_get(e, "SpecialToken"), "id");
            const ff_json *ids = name ? ff_json_get(ff_json_get(specials, name), "ids") : NULL;
            for (const ff_json *x = ids ? ids->child : NULL; x; x = x->next) {
                int64_t id;
                int *cnt = seen_seq ? &t->n_suffix : &t->n_prefix;
                if (ff_json_int64(x, &id) || *cnt == BPE_MAX_SPECIAL)
                    return ff_err_set(err, FF_ERR_FORMAT, "%s: TemplateProcessing special token %s", t->what, name);
                (seen_seq ? t->suffix : t->prefix)[(*cnt)++] = id;
            }
            if (!ids) return ff_err_set(err, FF_ERR_FORMAT, "%s: TemplateProcessing names an unknown special token", t->what);
        }
        return FF_OK;
    }
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: post_processor %s is not supported", t->what, type);
}

ff_status ff_bpe_load_json(const char *dir, ff_bpe **out, ff_err *err) {
    *out = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    ff_bpe *t;
    ff_json_doc *doc = NULL, *cfg_doc = NULL, *map_doc = NULL;
    ff_status st = new_bpe(path, &t, err);
    if (st) return st;
    if ((st = ff_json_parse_file(path, &doc, err))) goto fail;
    const ff_json *root = ff_json_root(doc), *model = ff_json_get(root, "model");
    const char *mtype = ff_json_get_string(model, "type");
    if (!model || (mtype && strcmp(mtype, "BPE"))) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: model type %s is not supported (BPE)", path, mtype ? mtype : "?");
        goto fail;
    }
    int byte_fallback = 0;
    ff_json_get_bool(model, "byte_fallback", 0, &byte_fallback);
    const char *cont = ff_json_get_string(model, "continuing_subword_prefix"), *eow = ff_json_get_string(model, "end_of_word_suffix");
    if (byte_fallback || (cont && *cont)) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: byte_fallback / continuing_subword_prefix BPE models are not supported", path);
        goto fail;
    }
    if (eow && strlen(eow) >= sizeof t->eow) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: end_of_word_suffix too long", path);
        goto fail;
    }
    snprintf(t->eow, sizeof t->eow, "%s", eow ? eow : "");
    ff_json_get_bool(model, "ignore_merges", 0, &t->ignore_merges);
    if ((st = vocab_from_json(t, ff_json_get(model, "vocab"), path, err))) goto fail;
    const ff_json *merges = ff_json_get(model, "merges");
    int64_t rank = 0;
    for (const ff_json *e = merges ? merges->child : NULL; e; e = e->next, rank++) {
        if (e->type == FF_JSON_STRING) {
            st = add_merge(t, e->str, e->len, rank, err);
        } else if (e->type == FF_JSON_ARRAY && ff_json_count(e) == 2 && ff_json_at(e, 0)->type == FF_JSON_STRING &&
                   ff_json_at(e, 1)->type == FF_JSON_STRING) {
            const ff_json *a = ff_json_at(e, 0), *b = ff_json_at(e, 1);
            char *key = malloc(a->len + b->len + 2);
            if (!key) st = ff_err_set(err, FF_ERR_NOMEM, "%s: no memory", path);
            else {
                memcpy(key, a->str, a->len);
                key[a->len] = ' ';
                memcpy(key + a->len + 1, b->str, b->len);
                if (bpe_map_put(&t->merges, key, a->len + b->len + 1, rank))
                    st = ff_err_set(err, FF_ERR_NOMEM, "%s: no memory", path);
                free(key);
            }
        } else {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: merge %lld is neither \"a b\" nor [a, b]", path, (long long)rank);
        }
        if (st) goto fail;
    }
    int byte_level = 0;
    if ((st = json_normalizer(t, ff_json_get(root, "normalizer"), err)) ||
        (st = json_pretokenizer(t, ff_json_get(root, "pre_tokenizer"), &byte_level, err)))
        goto fail;
    if (!byte_level) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: not a byte-level BPE (no ByteLevel pre_tokenizer)", path);
        goto fail;
    }
    /* added tokens: [{"id", "content", "lstrip", "rstrip", "special", ...}] */
    const ff_json *added = ff_json_get(root, "added_tokens");
    for (const ff_json *e = added ? added->child : NULL; e; e = e->next) {
        int64_t id;
        int l, r;
        const char *c = token_content(e, &l, &r);
        if (!c || ff_json_int64(ff_json_get(e, "id"), &id)) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: bad added_tokens entry", path);
            goto fail;
        }
        if ((st = bpe_add_token(t, c, strlen(c), id, l, r, err))) goto fail;
    }
    const char *unk = ff_json_get_string(model, "unk_token");
    if (unk) t->model_unk = ff_bpe_token_to_id(t, unk, strlen(unk)); /* else unknown symbols are dropped */
    if ((st = json_post(t, ff_json_get(root, "post_processor"), err))) goto fail;
    /* the transformers wrapper: special tokens, and Llama's add_bos_token / add_eos_token */
    if ((st = parse_optional(dir, "tokenizer_config.json", &cfg_doc, err)) ||
        (st = parse_optional(dir, "special_tokens_map.json", &map_doc, err)))
        goto fail;
    const ff_json *cfg = ff_json_root(cfg_doc), *map = ff_json_root(map_doc);
    if ((st = added_from_config(t, cfg, err)) || (st = special_id(t, special_entry(cfg, map, "bos_token"), NULL, &t->bos, err)) ||
        (st = special_id(t, special_entry(cfg, map, "eos_token"), NULL, &t->eos, err)) ||
        (st = special_id(t, special_entry(cfg, map, "pad_token"), NULL, &t->pad, err)) ||
        (st = special_id(t, special_entry(cfg, map, "unk_token"), NULL, &t->unk, err)))
        goto fail;
    int add_bos, add_eos;
    const int has_bos = ff_json_get(cfg, "add_bos_token") != NULL, has_eos = ff_json_get(cfg, "add_eos_token") != NULL;
    if (has_bos || has_eos) { /* LlamaTokenizerFast.update_post_processor */
        ff_json_get_bool(cfg, "add_bos_token", 1, &add_bos);
        ff_json_get_bool(cfg, "add_eos_token", 0, &add_eos);
        if ((add_bos && t->bos < 0) || (add_eos && t->eos < 0)) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: add_bos_token / add_eos_token without that token", dir);
            goto fail;
        }
        t->n_prefix = t->n_suffix = 0;
        if (add_bos) t->prefix[t->n_prefix++] = t->bos;
        if (add_eos) t->suffix[t->n_suffix++] = t->eos;
    }
    ff_json_free(doc);
    ff_json_free(cfg_doc);
    ff_json_free(map_doc);
    *out = t;
    return FF_OK;
fail:
    ff_json_free(doc);
    ff_json_free(cfg_doc);
    ff_json_free(map_doc);
    ff_bpe_free(t);
    return st;
}
