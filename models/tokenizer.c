/* tokenizer: Hugging Face T5Tokenizer and LlamaTokenizer (slow,
 * legacy=True) over a diffusers tokenizer/ folder; see tokenizer.h. Mirrors
 * transformers 4.57 tokenization_t5.py (T5Tokenizer.__init__, tokenize,
 * _tokenize, _convert_token_to_id, _add_eos_if_not_present),
 * tokenization_llama.py (add_bos_token / add_eos_token,
 * build_inputs_with_special_tokens) and tokenization_utils.py
 * (PreTrainedTokenizer.tokenize: added-token split and strip flags;
 * prepare_for_model: truncation, special tokens, padding). */
#include "models/tokenizer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_json.h"

typedef struct {
    char *content;
    size_t len;
    int64_t id;
    int lstrip, rstrip, single_word;
} added_tok;

struct ff_tok {
    ff_tok_kind kind;
    char model_path[4096]; /* spiece.model / tokenizer.model */
    ff_spm *spm;
    added_tok *added; /* _added_tokens_decoder, in insertion order */
    int n_added, cap_added;
    int64_t pad_id, eos_id, unk_id, bos_id; /* -1 when the tokenizer has none */
    int add_bos, add_eos;                   /* Llama: add_bos_token, add_eos_token */
};

/* ---- UTF-8 and Python whitespace ------------------------------------------ */

int32_t ff_tok_utf8_next(const char *s, size_t n, size_t *i) {
    const uint8_t *u = (const uint8_t *)s + *i;
    size_t left = n - *i;
    if (!left) return -1;
    uint32_t c = u[0], cp;
    size_t len;
    if (c < 0x80) {
        *i += 1;
        return (int32_t)c;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return -1;
    }
    if (left < len) return -1;
    for (size_t k = 1; k < len; k++) {
        if ((u[k] & 0xc0) != 0x80) return -1;
        cp = cp << 6 | (u[k] & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    *i += len;
    return (int32_t)cp;
}

/* CPython's _PyUnicode_IsWhitespace (bidirectional WS/B/S or category Zs). */
int ff_tok_py_isspace(int32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Byte length of the leading whitespace of s (str.lstrip). */
static size_t lstrip_len(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        int32_t cp = ff_tok_utf8_next(s, n, &j);
        if (cp < 0 || !ff_tok_py_isspace(cp)) break;
        i = j;
    }
    return i;
}

/* Length of s without its trailing whitespace (str.rstrip). */
static size_t rstrip_len(const char *s, size_t n) {
    while (n > 0) {
        size_t start = n - 1;
        while (start > 0 && ((uint8_t)s[start] & 0xc0) == 0x80) start--;
        size_t j = start;
        int32_t cp = ff_tok_utf8_next(s, n, &j);
        if (cp < 0 || !ff_tok_py_isspace(cp)) break;
        n = start;
    }
    return n;
}

/* ---- loading ------------------------------------------------------------------ */

static const added_tok *find_added_content(const ff_tok *t, const char *s, size_t n) {
    for (int i = t->n_added - 1; i >= 0; i--) /* {content: id} comprehension: the last one wins */
        if (t->added[i].len == n && memcmp(t->added[i].content, s, n) == 0) return &t->added[i];
    return NULL;
}

/* _added_tokens_decoder[id] = AddedToken(content, ...) */
static ff_status set_added(ff_tok *t, const char *content, size_t len, int64_t id, int lstrip, int rstrip, int single_word,
                           ff_err *err) {
    if (!len) return ff_err_set(err, FF_ERR_FORMAT, "tokenizer: added token %lld has empty content", (long long)id);
    if (id < 0 || id > INT32_MAX) return ff_err_set(err, FF_ERR_FORMAT, "tokenizer: added token id %lld out of range", (long long)id);
    char *c = malloc(len + 1);
    if (!c) return ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
    memcpy(c, content, len);
    c[len] = 0;
    for (int i = 0; i < t->n_added; i++) {
        if (t->added[i].id == id) {
            free(t->added[i].content);
            t->added[i] = (added_tok){c, len, id, lstrip, rstrip, single_word};
            return FF_OK;
        }
    }
    if (t->n_added == t->cap_added) {
        int nc = t->cap_added ? 2 * t->cap_added : 32;
        added_tok *na = realloc(t->added, (size_t)nc * sizeof *na);
        if (!na) {
            free(c);
            return ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory for %d added tokens", nc);
        }
        t->added = na;
        t->cap_added = nc;
    }
    t->added[t->n_added++] = (added_tok){c, len, id, lstrip, rstrip, single_word};
    return FF_OK;
}

/* A special-token entry: "</s>" or {"content": "</s>", "lstrip": ...}. */
static const char *token_content(const ff_json *v, int *lstrip, int *rstrip, int *single_word) {
    *lstrip = *rstrip = *single_word = 0;
    if (!v) return NULL;
    if (v->type == FF_JSON_STRING) return v->str;
    if (v->type != FF_JSON_OBJECT) return NULL;
    ff_json_get_bool(v, "lstrip", 0, lstrip);
    ff_json_get_bool(v, "rstrip", 0, rstrip);
    ff_json_get_bool(v, "single_word", 0, single_word);
    return ff_json_get_string(v, "content");
}

static int64_t vocab_or_added(const ff_tok *t, const char *s) {
    const added_tok *a = find_added_content(t, s, strlen(s));
    if (a) return a->id;
    int id = ff_spm_piece_to_id(t->spm, s, strlen(s));
    const ff_spm_piece *p = ff_spm_piece_at(t->spm, id);
    if (p && p->len == strlen(s) && memcmp(p->piece, s, p->len) == 0) return id;
    return -1;
}

int64_t ff_tok_len(const ff_tok *t) {
    int64_t n = ff_spm_size(t->spm);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id >= ff_spm_size(t->spm)) n++;
    return n;
}

/* PreTrainedTokenizer.__init__: special tokens not yet added get the vocab
 * id of their content, or the next free id. */
static ff_status add_special(ff_tok *t, const ff_json *v, ff_err *err) {
    int l, r, sw;
    const char *c = token_content(v, &l, &r, &sw);
    if (!c || find_added_content(t, c, strlen(c))) return FF_OK;
    int64_t id = vocab_or_added(t, c);
    if (id < 0) id = ff_tok_len(t);
    return set_added(t, c, strlen(c), id, l, r, sw, err);
}

static ff_status parse_optional(const char *dir, const char *name, ff_json_doc **doc, ff_err *err) {
    char path[4096];
    struct stat sb;
    *doc = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &sb) != 0) return FF_OK;
    return ff_json_parse_file(path, doc, err);
}

static const ff_json *special_entry(const ff_json *cfg, const ff_json *map, const char *key) {
    const ff_json *v = ff_json_get(cfg, key);
    if (v && v->type != FF_JSON_NULL) return v;
    v = ff_json_get(map, key);
    return v && v->type != FF_JSON_NULL ? v : NULL;
}

static int file_exists(const char *dir, const char *name) {
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The class from tokenizer_config.json (or the model file present):
 * T5Tokenizer reads spiece.model, LlamaTokenizer tokenizer.model. */
static ff_status pick_kind(const char *dir, const ff_json *cfg, ff_tok *t, ff_err *err) {
    const char *cls = ff_json_get_string(cfg, "tokenizer_class");
    if (cls && (!strcmp(cls, "T5Tokenizer") || !strcmp(cls, "T5TokenizerFast"))) {
        t->kind = FF_TOK_T5;
    } else if (cls && (!strcmp(cls, "LlamaTokenizer") || !strcmp(cls, "LlamaTokenizerFast"))) {
        t->kind = FF_TOK_LLAMA;
    } else if (cls) {
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s/tokenizer_config.json: tokenizer_class %s is not supported here (T5Tokenizer, LlamaTokenizer; "
                          "byte-level BPE tokenizers: models/bpe.h)",
                          dir, cls);
    } else {
        t->kind = file_exists(dir, "spiece.model") || !file_exists(dir, "tokenizer.model") ? FF_TOK_T5 : FF_TOK_LLAMA;
    }
    snprintf(t->model_path, sizeof t->model_path, "%s/%s", dir, t->kind == FF_TOK_T5 ? "spiece.model" : "tokenizer.model");
    return FF_OK;
}

/* T5Tokenizer.__init__: the <extra_id_N> sentinels, ids len(sp) + extra_ids - 1 - N. */
static ff_status t5_extra_ids(const char *dir, const ff_json *cfg, const ff_json *map, ff_tok *t, ff_err *err) {
    int64_t extra_ids = 100;
    if (ff_json_get_int64(cfg, "extra_ids", 100, &extra_ids) || extra_ids < 0 || extra_ids > 100000)
        return ff_err_set(err, FF_ERR_FORMAT, "%s/tokenizer_config.json: bad extra_ids", dir);
    const ff_json *extra_list = special_entry(cfg, map, "additional_special_tokens");
    int64_t n_extra = extra_ids;
    if (extra_list && extra_list->type == FF_JSON_ARRAY) {
        int64_t found = 0;
        for (const ff_json *e = extra_list->child; e; e = e->next) {
            int l, r, sw;
            const char *c = token_content(e, &l, &r, &sw);
            if (c && strstr(c, "<extra_id_")) found++;
        }
        if (found >= 1) {
            if (extra_ids > 0 && extra_ids != found)
                return ff_err_set(err, FF_ERR_FORMAT, "%s: %lld extra_ids but %lld <extra_id_N> in additional_special_tokens", dir,
                                  (long long)extra_ids, (long long)found);
            n_extra = found;
        }
    }
    int64_t sp_n = ff_spm_size(t->spm);
    for (int64_t i = 0; i < n_extra; i++) {
        char name[48];
        int k = snprintf(name, sizeof name, "<extra_id_%lld>", (long long)i);
        ff_status st = set_added(t, name, (size_t)k, sp_n - 1 + extra_ids - i, 1, 1, 0, err);
        if (st) return st;
    }
    return FF_OK;
}

ff_status ff_tok_load(const char *dir, ff_tok **out, ff_err *err) {
    *out = NULL;
    ff_tok *t = calloc(1, sizeof *t);
    if (!t) return ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
    t->pad_id = t->eos_id = t->unk_id = t->bos_id = -1;
    ff_json_doc *cfg_doc = NULL, *map_doc = NULL, *added_doc = NULL;
    ff_status st;
    if ((st = parse_optional(dir, "tokenizer_config.json", &cfg_doc, err)) ||
        (st = parse_optional(dir, "special_tokens_map.json", &map_doc, err)) ||
        (st = parse_optional(dir, "added_tokens.json", &added_doc, err)))
        goto fail;
    const ff_json *cfg = ff_json_root(cfg_doc), *map = ff_json_root(map_doc);
    if ((st = pick_kind(dir, cfg, t, err)) || (st = ff_spm_load(t->model_path, &t->spm, err))) goto fail;
    int legacy = 1;
    if (ff_json_get_bool(cfg, "legacy", 1, &legacy)) legacy = 1;
    if (!legacy) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s/tokenizer_config.json: legacy=false tokenization is not supported", dir);
        goto fail;
    }
    if (t->kind == FF_TOK_LLAMA) {
        if (ff_json_get_bool(cfg, "add_bos_token", 1, &t->add_bos) || ff_json_get_bool(cfg, "add_eos_token", 0, &t->add_eos)) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s/tokenizer_config.json: add_bos_token / add_eos_token must be booleans", dir);
            goto fail;
        }
    } else if ((st = t5_extra_ids(dir, cfg, map, t, err))) {
        goto fail;
    }
    /* added_tokens_decoder from the config, or the legacy added_tokens.json */
    const ff_json *dec = ff_json_get(cfg, "added_tokens_decoder");
    if (dec && dec->type == FF_JSON_OBJECT) {
        for (const ff_json *e = dec->child; e; e = e->next) {
            char *endp;
            long long id = strtoll(e->key, &endp, 10);
            int l, r, sw;
            const char *c = token_content(e, &l, &r, &sw);
            if (*endp || endp == e->key || !c) {
                st = ff_err_set(err, FF_ERR_FORMAT, "%s/tokenizer_config.json: bad added_tokens_decoder entry '%s'", dir, e->key);
                goto fail;
            }
            if ((st = set_added(t, c, strlen(c), id, l, r, sw, err))) goto fail;
        }
    } else if (added_doc) {
        const ff_json *a = ff_json_root(added_doc);
        for (const ff_json *e = a ? a->child : NULL; e; e = e->next) {
            int64_t id;
            if (!e->key || ff_json_int64(e, &id)) {
                st = ff_err_set(err, FF_ERR_FORMAT, "%s/added_tokens.json: bad entry", dir);
                goto fail;
            }
            if ((st = set_added(t, e->key, strlen(e->key), id, 0, 0, 0, err))) goto fail;
        }
    }
    /* special tokens (the class defaults when absent: T5 </s> <unk> <pad>;
     * Llama <s> </s> <unk>, no pad) and the other additional ones */
    static const char *const keys[] = {"eos_token", "unk_token", "pad_token", "bos_token"};
    static const char *const t5_dflt[] = {"</s>", "<unk>", "<pad>", NULL};
    static const char *const llama_dflt[] = {"</s>", "<unk>", NULL, "<s>"};
    int64_t *ids[] = {&t->eos_id, &t->unk_id, &t->pad_id, &t->bos_id};
    for (int i = 0; i < 4; i++) {
        const ff_json *v = special_entry(cfg, map, keys[i]);
        const char *dflt = t->kind == FF_TOK_T5 ? t5_dflt[i] : llama_dflt[i];
        ff_json fallback = {0};
        if (!v && !dflt) continue;
        if (!v) {
            fallback.type = FF_JSON_STRING;
            fallback.str = dflt;
            fallback.len = strlen(dflt);
            v = &fallback;
        }
        if ((st = add_special(t, v, err))) goto fail;
        int l, r, sw;
        const char *c = token_content(v, &l, &r, &sw);
        const added_tok *a = c ? find_added_content(t, c, strlen(c)) : NULL;
        if (!a) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: %s has no content", dir, keys[i]);
            goto fail;
        }
        *ids[i] = a->id;
    }
    if (t->kind == FF_TOK_LLAMA && t->add_bos && t->bos_id < 0) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: add_bos_token is set but there is no bos_token", dir);
        goto fail;
    }
    const ff_json *extra_list = special_entry(cfg, map, "additional_special_tokens");
    if (extra_list && extra_list->type == FF_JSON_ARRAY)
        for (const ff_json *e = extra_list->child; e; e = e->next)
            if ((st = add_special(t, e, err))) goto fail;
    ff_json_free(cfg_doc);
    ff_json_free(map_doc);
    ff_json_free(added_doc);
    *out = t;
    return FF_OK;
fail:
    ff_json_free(cfg_doc);
    ff_json_free(map_doc);
    ff_json_free(added_doc);
    ff_tok_free(t);
    return st;
}

void ff_tok_free(ff_tok *t) {
    if (!t) return;
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    ff_spm_free(t->spm);
    free(t);
}

const ff_spm *ff_tok_spm(const ff_tok *t) { return t->spm; }
int64_t ff_tok_pad_id(const ff_tok *t) { return t->pad_id; }
int64_t ff_tok_eos_id(const ff_tok *t) { return t->eos_id; }
int64_t ff_tok_unk_id(const ff_tok *t) { return t->unk_id; }
int64_t ff_tok_bos_id(const ff_tok *t) { return t->bos_id; }
ff_tok_kind ff_tok_get_kind(const ff_tok *t) { return t->kind; }
const char *ff_tok_model_path(const ff_tok *t) { return t->model_path; }

int64_t ff_tok_added_id(const ff_tok *t, const char *content, size_t n) {
    const added_tok *a = find_added_content(t, content, n);
    return a ? a->id : -1;
}

const char *ff_tok_id_to_token(const ff_tok *t, int64_t id, size_t *len) {
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) {
            *len = t->added[i].len;
            return t->added[i].content;
        }
    const ff_spm_piece *p = id <= INT32_MAX ? ff_spm_piece_at(t->spm, (int)id) : NULL;
    if (!p) return NULL;
    *len = p->len;
    return p->piece;
}

/* ---- encoding ------------------------------------------------------------------ */

typedef struct {
    char *s; /* owned, may be empty */
    size_t n;
    const added_tok *tok; /* non-NULL: this chunk is that added token */
} chunk;

typedef struct {
    int64_t *v;
    size_t n, cap;
} idvec;

static int ids_push(idvec *d, int64_t id) {
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 64;
        int64_t *nv = realloc(d->v, nc * sizeof *nv);
        if (!nv) return -1;
        d->v = nv;
        d->cap = nc;
    }
    d->v[d->n++] = id;
    return 0;
}

static int chunk_push(chunk **cs, size_t *n, size_t *cap, const char *s, size_t len, const added_tok *tok) {
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        chunk *nv = realloc(*cs, nc * sizeof *nv);
        if (!nv) return -1;
        *cs = nv;
        *cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = 0;
    (*cs)[(*n)++] = (chunk){c, len, tok};
    return 0;
}

/* Trie.split: cut text at every added token (leftmost, longest). */
static int split_added(const ff_tok *t, const char *text, size_t n, chunk **cs, size_t *nc) {
    size_t cap = 0, start = 0, i = 0;
    *cs = NULL;
    *nc = 0;
    while (i < n) {
        const added_tok *best = NULL;
        for (int k = 0; k < t->n_added; k++) {
            const added_tok *a = &t->added[k];
            if (a->len <= n - i && (!best || a->len > best->len) && memcmp(text + i, a->content, a->len) == 0) best = a;
        }
        if (!best) {
            i++;
            continue;
        }
        if (i > start && chunk_push(cs, nc, &cap, text + start, i - start, NULL)) return -1;
        if (chunk_push(cs, nc, &cap, text + i, best->len, best)) return -1;
        i += best->len;
        start = i;
    }
    if (n > start && chunk_push(cs, nc, &cap, text + start, n - start, NULL)) return -1;
    return 0;
}

static void chunks_free(chunk *cs, size_t n) {
    for (size_t i = 0; i < n; i++) free(cs[i].s);
    free(cs);
}

/* In-place strip of a chunk's string. */
static void chunk_lstrip(chunk *c) {
    size_t k = lstrip_len(c->s, c->n);
    memmove(c->s, c->s + k, c->n - k + 1);
    c->n -= k;
}

static void chunk_rstrip(chunk *c) {
    c->n = rstrip_len(c->s, c->n);
    c->s[c->n] = 0;
}

/* Appends b to a (single_word merges). */
static int chunk_append(chunk *a, const chunk *b) {
    char *s = realloc(a->s, a->n + b->n + 1);
    if (!s) return -1;
    memcpy(s + a->n, b->s, b->n + 1);
    a->s = s;
    a->n += b->n;
    return 0;
}

ff_status ff_tok_encode(const ff_tok *t, const char *text, int64_t **ids, size_t *n, ff_err *err) {
    *ids = NULL;
    *n = 0;
    size_t len = strlen(text);
    for (size_t i = 0; i < len;)
        if (ff_tok_utf8_next(text, len, &i) < 0)
            return ff_err_set(err, FF_ERR_ARG, "tokenizer: text is not valid UTF-8 at byte %zu", i);
    chunk *cs;
    size_t nc;
    idvec out = {0};
    ff_status st = FF_OK;
    if (split_added(t, text, len, &cs, &nc)) {
        chunks_free(cs, nc);
        return ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory to split %zu bytes", len);
    }
    /* PreTrainedTokenizer.tokenize: strip around added tokens */
    for (size_t i = 0; i < nc; i++) {
        const added_tok *a = cs[i].tok;
        if (!a) continue;
        chunk *left = i > 0 ? &cs[i - 1] : NULL, *right = i + 1 < nc ? &cs[i + 1] : NULL;
        if (a->rstrip && right && right->n) chunk_lstrip(right);
        if (a->lstrip && left && left->n) chunk_rstrip(left);
        if (a->single_word && left && left->n && left->s[left->n - 1] != ' ') {
            if (chunk_append(left, &cs[i])) goto nomem;
            cs[i].n = 0;
            cs[i].s[0] = 0;
        } else if (a->single_word && right && right->n && right->s[0] != ' ') {
            if (chunk_append(&cs[i], right)) goto nomem;
            cs[i].tok = NULL; /* no longer the token's exact content */
            right->n = 0;
            right->s[0] = 0;
        }
    }
    for (size_t i = 0; i < nc; i++) {
        chunk *c = &cs[i];
        if (!c->n) continue;
        if (c->tok && c->n == c->tok->len) {
            if (ids_push(&out, c->tok->id)) goto nomem;
            continue;
        }
        ff_spm_encoding e;
        if ((st = ff_spm_encode(t->spm, c->s, c->n, &e, err))) goto fail;
        for (size_t k = 0; k < e.n; k++) {
            char buf[8];
            size_t pl;
            const char *p = ff_spm_token_str(&e, k, buf, &pl);
            const added_tok *a = find_added_content(t, p, pl);
            int64_t id = a ? a->id : ff_spm_piece_to_id(t->spm, p, pl);
            if (ids_push(&out, id)) {
                ff_spm_encoding_free(&e);
                goto nomem;
            }
        }
        ff_spm_encoding_free(&e);
    }
    chunks_free(cs, nc);
    *ids = out.v;
    *n = out.n;
    return FF_OK;
nomem:
    st = ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
fail:
    chunks_free(cs, nc);
    free(out.v);
    return st;
}

/* num_special_tokens_to_add(pair=False) */
static size_t n_special(const ff_tok *t) { return t->kind == FF_TOK_T5 ? 1 : (size_t)(t->add_bos + t->add_eos); }

/* build_inputs_with_special_tokens of ids[0..len) into row (room for
 * len + n_special(t)); returns the new length. */
static size_t with_special(const ff_tok *t, const int64_t *ids, size_t len, int64_t *row) {
    size_t k = 0;
    if (t->kind == FF_TOK_LLAMA && t->add_bos) row[k++] = t->bos_id;
    if (len) memmove(row + k, ids, len * sizeof *ids);
    k += len;
    if (t->kind == FF_TOK_T5) {
        if (len == 0 || ids[len - 1] != t->eos_id) row[k++] = t->eos_id; /* _add_eos_if_not_present */
    } else if (t->add_eos) {
        row[k++] = t->eos_id;
    }
    return k;
}

ff_status ff_tok_encode_special(const ff_tok *t, const char *text, int64_t **ids, size_t *n, ff_err *err) {
    int64_t *v;
    size_t len;
    ff_status st = ff_tok_encode(t, text, &v, &len, err);
    if (st) return st;
    int64_t *row = malloc((len + n_special(t) + 1) * sizeof *row);
    if (!row) {
        free(v);
        *ids = NULL;
        *n = 0;
        return ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
    }
    *n = with_special(t, v, len, row);
    free(v);
    *ids = row;
    return FF_OK;
}

ff_status ff_tok_batch(const ff_tok *t, const char *const *texts, int n, int max_length, ff_tensor *ids, ff_tensor *mask,
                       ff_err *err) {
    memset(ids, 0, sizeof *ids);
    memset(mask, 0, sizeof *mask);
    if (n < 1 || max_length < 1)
        return ff_err_set(err, FF_ERR_ARG, "tokenizer: need at least one text and max_length >= 1 (got %d, %d)", n, max_length);
    const size_t ns = n_special(t);
    if ((size_t)max_length < ns)
        return ff_err_set(err, FF_ERR_ARG, "tokenizer: max_length %d leaves no room for the %zu special tokens", max_length, ns);
    if (t->pad_id < 0)
        return ff_err_set(err, FF_ERR_ARG, "tokenizer %s: padding to max_length needs a pad_token, and this tokenizer has none",
                          t->model_path);
    ff_status st;
    if ((st = ff_tensor_allocv(ids, FF_I64, err, 2, (int64_t)n, (int64_t)max_length)) ||
        (st = ff_tensor_allocv(mask, FF_I64, err, 2, (int64_t)n, (int64_t)max_length))) {
        ff_tensor_free(ids);
        return st;
    }
    int64_t *pi = ids->data, *pm = mask->data;
    for (int b = 0; b < n; b++) {
        int64_t *v;
        size_t len;
        if ((st = ff_tok_encode(t, texts[b], &v, &len, err))) {
            ff_err_wrap(err, "prompt %d", b);
            ff_tensor_free(ids);
            ff_tensor_free(mask);
            return st;
        }
        /* truncation (room kept for the special tokens), then build_inputs_with_special_tokens */
        if (len + ns > (size_t)max_length) len = (size_t)max_length - ns;
        int64_t *row = pi + (size_t)b * (size_t)max_length, *mrow = pm + (size_t)b * (size_t)max_length;
        size_t k = with_special(t, v, len, row); /* <= max_length */
        free(v);
        /* right padding with <pad> */
        for (size_t j = 0; j < (size_t)max_length; j++) {
            if (j >= k) row[j] = t->pad_id;
            mrow[j] = j < k;
        }
    }
    return FF_OK;
}
