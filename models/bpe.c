/* bpe: byte-level BPE encoding (see bpe.h). Mirrors transformers 4.57
 * tokenization_clip.py (CLIPTokenizer.bpe / _tokenize /
 * build_inputs_with_special_tokens), tokenization_utils.py
 * (PreTrainedTokenizer.tokenize: the added-token split) and the
 * `tokenizers` BPE model (ignore_merges, end_of_word_suffix, unk). */
#include "models/bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/bpe_internal.h"
#include "models/bpe_unicode.h"

/* ---- the string map ------------------------------------------------------------- */

static uint64_t hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int map_grow(bpe_map *m) {
    size_t nc = m->cap ? 2 * m->cap : 1024;
    bpe_map g = {calloc(nc, sizeof(char *)), calloc(nc, sizeof(uint32_t)), calloc(nc, sizeof(int64_t)), nc, 0};
    if (!g.keys || !g.lens || !g.vals) {
        free(g.keys), free(g.lens), free(g.vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = hash(m->keys[i], m->lens[i]) & (nc - 1);
        while (g.keys[j]) j = (j + 1) & (nc - 1);
        g.keys[j] = m->keys[i], g.lens[j] = m->lens[i], g.vals[j] = m->vals[i];
        g.n++;
    }
    free(m->keys), free(m->lens), free(m->vals);
    *m = g;
    return 0;
}

int bpe_map_put(bpe_map *m, const char *k, size_t n, int64_t v) {
    if (n > UINT32_MAX) return -1;
    if ((m->n + 1) * 2 > m->cap && map_grow(m)) return -1;
    size_t j = hash(k, n) & (m->cap - 1);
    for (; m->keys[j]; j = (j + 1) & (m->cap - 1))
        if (m->lens[j] == n && !memcmp(m->keys[j], k, n)) {
            m->vals[j] = v;
            return 0;
        }
    char *c = malloc(n + 1);
    if (!c) return -1;
    memcpy(c, k, n);
    c[n] = 0;
    m->keys[j] = c, m->lens[j] = (uint32_t)n, m->vals[j] = v;
    m->n++;
    return 0;
}

int64_t bpe_map_get(const bpe_map *m, const char *k, size_t n) {
    if (!m->cap) return -1;
    for (size_t j = hash(k, n) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1))
        if (m->lens[j] == n && !memcmp(m->keys[j], k, n)) return m->vals[j];
    return -1;
}

void bpe_map_free(bpe_map *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys), free(m->lens), free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- tokens and ids --------------------------------------------------------------- */

ff_status bpe_set_id(ff_bpe *t, int64_t id, const char *s, size_t n, ff_err *err) {
    if (id < 0 || id > (INT64_C(1) << 26)) return ff_err_set(err, FF_ERR_FORMAT, "%s: token id %lld out of range", t->what, (long long)id);
    if (id >= t->n_ids) {
        int64_t nc = t->n_ids ? t->n_ids : 1024;
        while (nc <= id) nc *= 2;
        char **a = realloc(t->id_tok, (size_t)nc * sizeof *a);
        if (!a) return ff_err_set(err, FF_ERR_NOMEM, "%s: no memory", t->what);
        memset(a + t->n_ids, 0, (size_t)(nc - t->n_ids) * sizeof *a);
        t->id_tok = a;
        t->n_ids = nc;
    }
    char *c = malloc(n + 1);
    if (!c) return ff_err_set(err, FF_ERR_NOMEM, "%s: no memory", t->what);
    memcpy(c, s, n);
    c[n] = 0;
    free(t->id_tok[id]);
    t->id_tok[id] = c;
    return FF_OK;
}

ff_status bpe_add_token(ff_bpe *t, const char *content, size_t len, int64_t id, int lstrip, int rstrip, ff_err *err) {
    if (!len) return ff_err_set(err, FF_ERR_FORMAT, "%s: added token %lld is empty", t->what, (long long)id);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && !memcmp(t->added[i].content, content, len)) {
            t->added[i].id = id, t->added[i].lstrip = lstrip, t->added[i].rstrip = rstrip;
            return bpe_set_id(t, id, content, len, err);
        }
    if (t->n_added == t->cap_added) {
        int nc = t->cap_added ? 2 * t->cap_added : 16;
        bpe_added *a = realloc(t->added, (size_t)nc * sizeof *a);
        if (!a) return ff_err_set(err, FF_ERR_NOMEM, "%s: no memory", t->what);
        t->added = a;
        t->cap_added = nc;
    }
    char *c = malloc(len + 1);
    if (!c) return ff_err_set(err, FF_ERR_NOMEM, "%s: no memory", t->what);
    memcpy(c, content, len);
    c[len] = 0;
    t->added[t->n_added++] = (bpe_added){c, len, id, lstrip, rstrip};
    return bpe_set_id(t, id, content, len, err);
}

void ff_bpe_free(ff_bpe *t) {
    if (!t) return;
    bpe_map_free(&t->vocab);
    bpe_map_free(&t->merges);
    for (int64_t i = 0; i < t->n_ids; i++) free(t->id_tok[i]);
    free(t->id_tok);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t);
}

int64_t ff_bpe_len(const ff_bpe *t) {
    int64_t n = (int64_t)t->vocab.n;
    for (int i = 0; i < t->n_added; i++)
        if (bpe_map_get(&t->vocab, t->added[i].content, t->added[i].len) < 0) n++;
    return n;
}
int64_t ff_bpe_bos_id(const ff_bpe *t) { return t->bos; }
int64_t ff_bpe_eos_id(const ff_bpe *t) { return t->eos; }
int64_t ff_bpe_pad_id(const ff_bpe *t) { return t->pad; }
int64_t ff_bpe_unk_id(const ff_bpe *t) { return t->unk; }

int64_t ff_bpe_token_to_id(const ff_bpe *t, const char *s, size_t n) {
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && !memcmp(t->added[i].content, s, n)) return t->added[i].id;
    return bpe_map_get(&t->vocab, s, n);
}

const char *ff_bpe_id_to_token(const ff_bpe *t, int64_t id, size_t *len) {
    if (id < 0 || id >= t->n_ids || !t->id_tok[id]) return NULL;
    *len = strlen(t->id_tok[id]);
    return t->id_tok[id];
}

/* ---- BPE of one word ------------------------------------------------------------ */

typedef struct {
    int64_t *v;
    size_t n, cap;
} idvec;

static int push(idvec *d, int64_t id) {
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 64;
        int64_t *a = realloc(d->v, nc * sizeof *a);
        if (!a) return -1;
        d->v = a;
        d->cap = nc;
    }
    d->v[d->n++] = id;
    return 0;
}

static size_t utf8_len(uint8_t c) { return c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4; }

/* The symbol string -> id (unk, or dropped when the model has no unk). */
static int emit(const ff_bpe *t, const char *s, size_t n, idvec *out) {
    int64_t id = bpe_map_get(&t->vocab, s, n);
    if (id < 0) id = t->model_unk;
    if (id < 0) return 0; /* tokenizers' BPE without unk_token skips it */
    return push(out, id);
}

/* Candidate merges, ordered by (rank, left symbol index). */
typedef struct {
    int64_t rank;
    size_t left, right, size; /* symbol indices; byte size of the pair when queued */
} bpe_cand;

typedef struct {
    bpe_cand *v;
    size_t n, cap;
} cand_heap;

static int cand_before(const bpe_cand *a, const bpe_cand *b) { return a->rank < b->rank || (a->rank == b->rank && a->left < b->left); }

static int cand_push(cand_heap *h, bpe_cand c) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? 2 * h->cap : 64;
        bpe_cand *a = realloc(h->v, nc * sizeof *a);
        if (!a) return -1;
        h->v = a;
        h->cap = nc;
    }
    size_t i = h->n++;
    h->v[i] = c;
    while (i && cand_before(&h->v[i], &h->v[(i - 1) / 2])) {
        bpe_cand t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static bpe_cand cand_pop(cand_heap *h) {
    bpe_cand top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && cand_before(&h->v[l], &h->v[m])) m = l;
        if (r < h->n && cand_before(&h->v[r], &h->v[m])) m = r;
        if (m == i) break;
        bpe_cand t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
    return top;
}

typedef struct {
    const ff_bpe *t;
    const char *w;
    size_t *off, *len;  /* symbol spans (len 0: merged away) */
    long *prev, *next;  /* neighbours, -1 at the ends */
    char *key;
    cand_heap heap;
} bpe_work;

/* Queues the pair (l, r) when merges.txt has it. */
static int queue_pair(bpe_work *k, long l, long r) {
    if (l < 0 || r < 0) return 0;
    const size_t ll = k->len[l], rl = k->len[r];
    memcpy(k->key, k->w + k->off[l], ll);
    k->key[ll] = ' ';
    memcpy(k->key + ll + 1, k->w + k->off[r], rl);
    int64_t rank = bpe_map_get(&k->t->merges, k->key, ll + 1 + rl);
    return rank < 0 ? 0 : cand_push(&k->heap, (bpe_cand){rank, (size_t)l, (size_t)r, ll + rl});
}

/* CLIPTokenizer.bpe: symbols are spans of w (the word + end_of_word_suffix,
 * the suffix belonging to the last character); repeatedly every occurrence
 * of the lowest-ranked adjacent pair is merged, left to right. Done with a
 * heap of candidate pairs by (rank, position): all queued occurrences of the
 * lowest rank are taken together, left to right (an occurrence overlapping
 * one just merged is stale and skipped), and only then are the pairs the
 * merges created considered — exactly the rounds of the Python loop, in
 * O(n log n) instead of O(n^2) per word. */
static ff_status bpe_word(const ff_bpe *t, const char *word, idvec *out, ff_err *err) {
    const size_t wl = strlen(word), el = strlen(t->eow);
    if (!wl) return FF_OK;
    if (t->clip_cache && (!strcmp(word, "<|startoftext|>") || !strcmp(word, "<|endoftext|>")))
        return emit(t, word, wl, out) ? ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory") : FF_OK;
    if (t->ignore_merges && bpe_map_get(&t->vocab, word, wl) >= 0)
        return push(out, bpe_map_get(&t->vocab, word, wl)) ? ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory") : FF_OK;
    bpe_work k = {t, NULL, NULL, NULL, NULL, NULL, NULL, {0}};
    char *w = malloc(wl + el + 1);
    bpe_cand *round = NULL;
    k.w = w;
    k.off = malloc((wl + 1) * sizeof *k.off), k.len = malloc((wl + 1) * sizeof *k.len);
    k.prev = malloc((wl + 1) * sizeof *k.prev), k.next = malloc((wl + 1) * sizeof *k.next);
    k.key = malloc(2 * (wl + el) + 2);
    ff_status st = FF_OK;
    if (!w || !k.off || !k.len || !k.prev || !k.next || !k.key) goto nomem;
    memcpy(w, word, wl);
    memcpy(w + wl, t->eow, el + 1);
    size_t ns = 0;
    for (size_t i = 0; i < wl;) {
        size_t cl = utf8_len((uint8_t)w[i]);
        if (cl > wl - i) cl = wl - i;
        k.off[ns] = i, k.len[ns] = cl, k.prev[ns] = (long)ns - 1, k.next[ns] = (long)ns + 1;
        ns++;
        i += cl;
    }
    k.len[ns - 1] += el;
    k.next[ns - 1] = -1;
    for (size_t i = 0; i + 1 < ns; i++)
        if (queue_pair(&k, (long)i, (long)i + 1)) goto nomem;
    if (!(round = malloc(ns * sizeof *round))) goto nomem;
    while (k.heap.n) {
        /* one round: every queued occurrence of the lowest rank, left to right */
        size_t nr = 0;
        const int64_t rank = k.heap.v[0].rank;
        while (k.heap.n && k.heap.v[0].rank == rank) round[nr++] = cand_pop(&k.heap);
        for (size_t i = 0; i < nr; i++) {
            const bpe_cand c = round[i];
            if (!k.len[c.left] || !k.len[c.right] || k.next[c.left] != (long)c.right || k.len[c.left] + k.len[c.right] != c.size)
                continue; /* stale: a neighbour merged first */
            k.len[c.left] += k.len[c.right];
            k.len[c.right] = 0;
            k.next[c.left] = k.next[c.right];
            if (k.next[c.right] >= 0) k.prev[k.next[c.right]] = (long)c.left;
        }
        for (size_t i = 0; i < nr; i++) { /* the pairs the merges made, for the next rounds */
            const bpe_cand c = round[i];
            if (!k.len[c.left] || k.len[c.right]) continue; /* not merged in this round */
            if (queue_pair(&k, k.prev[c.left], (long)c.left) || queue_pair(&k, (long)c.left, k.next[c.left])) goto nomem;
        }
    }
    for (long i = 0; i >= 0 && !st; i = k.next[i])
        if (emit(t, w + k.off[i], k.len[i], out)) goto nomem;
    goto done;
nomem:
    st = ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory for a %zu-byte word", wl);
done:
    free(w), free(k.off), free(k.len), free(k.prev), free(k.next), free(k.key), free(k.heap.v), free(round);
    return st;
}

/* ---- encoding --------------------------------------------------------------------- */

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* A text chunk between added tokens: words, then BPE. */
static ff_status encode_chunk(const ff_bpe *t, const char *s, size_t n, idvec *out, ff_err *err) {
    char **words;
    size_t nw;
    ff_status st = bpe_words(t, s, n, &words, &nw, err);
    for (size_t i = 0; !st && i < nw; i++) st = bpe_word(t, words[i], out, err);
    free(words);
    return st;
}

/* Split on the added tokens (leftmost, longest; lstrip / rstrip eat the
 * whitespace beside them) and encode the rest. */
static ff_status encode_ids(const ff_bpe *t, const char *text, idvec *out, ff_err *err) {
    const size_t n = strlen(text);
    size_t start = 0, i = 0;
    ff_status st = FF_OK;
    while (i < n && !st) {
        const bpe_added *best = NULL;
        for (int k = 0; k < t->n_added; k++) {
            const bpe_added *a = &t->added[k];
            if (a->content[0] == text[i] && a->len <= n - i && (!best || a->len > best->len) && !memcmp(text + i, a->content, a->len))
                best = a;
        }
        if (!best) {
            i++;
            continue;
        }
        size_t end = i;
        if (best->lstrip)
            while (end > start && is_ws(text[end - 1])) end--;
        if (end > start) st = encode_chunk(t, text + start, end - start, out, err);
        if (!st && push(out, best->id)) st = ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
        i += best->len;
        if (best->rstrip)
            while (i < n && is_ws(text[i])) i++;
        start = i;
    }
    if (!st && n > start) st = encode_chunk(t, text + start, n - start, out, err);
    return st;
}

ff_status ff_bpe_encode(const ff_bpe *t, const char *text, int64_t **ids, size_t *n, ff_err *err) {
    idvec v = {0};
    ff_status st = encode_ids(t, text, &v, err);
    if (st) {
        free(v.v);
        *ids = NULL;
        *n = 0;
        return st;
    }
    *ids = v.v;
    *n = v.n;
    if (!*ids) *ids = malloc(sizeof **ids); /* an empty text: a valid, empty array */
    return *ids ? FF_OK : ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
}

/* ids[0..len) with the post-processor's tokens into row; returns its length. */
static size_t with_special(const ff_bpe *t, const int64_t *ids, size_t len, int64_t *row) {
    size_t k = 0;
    for (int i = 0; i < t->n_prefix; i++) row[k++] = t->prefix[i];
    if (len) memcpy(row + k, ids, len * sizeof *ids);
    k += len;
    for (int i = 0; i < t->n_suffix; i++) row[k++] = t->suffix[i];
    return k;
}

ff_status ff_bpe_encode_special(const ff_bpe *t, const char *text, int64_t **ids, size_t *n, ff_err *err) {
    int64_t *v;
    size_t len;
    ff_status st = ff_bpe_encode(t, text, &v, &len, err);
    if (st) return st;
    int64_t *row = malloc((len + (size_t)(t->n_prefix + t->n_suffix) + 1) * sizeof *row);
    if (!row) {
        free(v);
        return ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
    }
    *n = with_special(t, v, len, row);
    free(v);
    *ids = row;
    return FF_OK;
}

ff_status ff_bpe_batch(const ff_bpe *t, const char *const *texts, int n, int max_length, ff_tensor *ids, ff_tensor *mask,
                       ff_err *err) {
    memset(ids, 0, sizeof *ids);
    memset(mask, 0, sizeof *mask);
    const size_t ns = (size_t)(t->n_prefix + t->n_suffix);
    if (n < 1 || max_length < 1 || (size_t)max_length < ns)
        return ff_err_set(err, FF_ERR_ARG, "%s: need at least one text and max_length >= %zu (got %d, %d)", t->what, ns, n,
                          max_length);
    if (t->pad < 0)
        return ff_err_set(err, FF_ERR_ARG, "%s: padding to max_length needs a pad_token, and this tokenizer has none", t->what);
    ff_status st;
    if ((st = ff_tensor_allocv(ids, FF_I64, err, 2, (int64_t)n, (int64_t)max_length)) ||
        (st = ff_tensor_allocv(mask, FF_I64, err, 2, (int64_t)n, (int64_t)max_length))) {
        ff_tensor_free(ids);
        return st;
    }
    for (int b = 0; b < n; b++) {
        int64_t *v;
        size_t len;
        if ((st = ff_bpe_encode(t, texts[b], &v, &len, err))) {
            ff_err_wrap(err, "prompt %d: ", b);
            ff_tensor_free(ids);
            ff_tensor_free(mask);
            return st;
        }
        if (len + ns > (size_t)max_length) len = (size_t)max_length - ns; /* truncation keeps the special tokens */
        int64_t *row = (int64_t *)ids->data + (size_t)b * (size_t)max_length, *mrow = (int64_t *)mask->data + (size_t)b * (size_t)max_length;
        const size_t k = with_special(t, v, len, row);
        free(v);
        for (size_t j = 0; j < (size_t)max_length; j++) {
            if (j >= k) row[j] = t->pad;
            mrow[j] = j < k;
        }
    }
    return FF_OK;
}

ff_status ff_bpe_pretokenize(const ff_bpe *t, const char *text, char ***words, size_t *n, ff_err *err) {
    /* the words of every chunk between added tokens, in one block */
    *words = NULL;
    *n = 0;
    const size_t len = strlen(text);
    char *buf = NULL, **all = NULL;
    size_t bytes = 0, na = 0, start = 0, i = 0;
    ff_status st = FF_OK;
    while (i <= len && !st) {
        const bpe_added *best = NULL;
        for (int k = 0; i < len && k < t->n_added; k++) {
            const bpe_added *a = &t->added[k];
            if (a->len <= len - i && (!best || a->len > best->len) && !memcmp(text + i, a->content, a->len)) best = a;
        }
        if (!best && i < len) {
            i++;
            continue;
        }
        if (i > start) { /* append this chunk's words to buf as NUL-terminated strings */
            char **w;
            size_t nw;
            if ((st = bpe_words(t, text + start, i - start, &w, &nw, err))) break;
            for (size_t k = 0; k < nw && !st; k++) {
                const size_t l = strlen(w[k]) + 1;
                char *nb = realloc(buf, bytes + l);
                if (!nb) st = ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
                else {
                    memcpy(nb + bytes, w[k], l);
                    buf = nb;
                    bytes += l;
                    na++;
                }
            }
            free(w);
        }
        if (!best) break;
        i += best->len;
        start = i;
    }
    if (!st && !(all = malloc(na * sizeof *all + bytes + 1))) st = ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
    if (!st) {
        char *q = (char *)(all + na);
        if (bytes) memcpy(q, buf, bytes);
        for (size_t k = 0; k < na; k++) {
            all[k] = q;
            q += strlen(q) + 1;
        }
        *words = all;
        *n = na;
    }
    free(buf);
    return st;
}
