/* bpe_internal: the ff_bpe struct shared by bpe.c (encoding), bpe_load.c
 * (vocab.json + merges.txt, tokenizer.json) and bpe_pretok.c (normalisers
 * and pre-tokenisers). Not a public header. */
#ifndef FF_BPE_INTERNAL_H
#define FF_BPE_INTERNAL_H

#include "models/bpe.h"

/* string -> int64 map (open addressing; keys owned by the map) */
typedef struct {
    char **keys;
    uint32_t *lens;
    int64_t *vals;
    size_t cap, n; /* cap: power of two */
} bpe_map;

int bpe_map_put(bpe_map *m, const char *k, size_t n, int64_t v); /* -1: no memory; overwrites */
int64_t bpe_map_get(const bpe_map *m, const char *k, size_t n);  /* -1 when absent */
void bpe_map_free(bpe_map *m);

typedef struct {
    char *content;
    size_t len;
    int64_t id;
    int lstrip, rstrip;
} bpe_added;

/* Normalisers (steps applied in order). */
typedef enum { BPE_NORM_NFC = 1, BPE_NORM_NFD, BPE_NORM_LOWER, BPE_NORM_SPACES /* Replace(\s+ -> ' ') */ } bpe_norm;
/* Pre-tokeniser regexes we know. */
typedef enum { BPE_RE_NONE = 0, BPE_RE_CLIP, BPE_RE_CLIP_FAST, BPE_RE_GPT2, BPE_RE_LLAMA3 } bpe_regex;

#define BPE_MAX_NORM 8
#define BPE_MAX_SPECIAL 4

struct ff_bpe {
    char what[4200];     /* source, for messages */
    /* model */
    bpe_map vocab;       /* token -> id */
    char **id_tok;       /* id -> token (vocab and added), NULL holes */
    int64_t n_ids;       /* max id + 1 */
    bpe_map merges;      /* "a b" -> rank */
    char eow[16];        /* end_of_word_suffix ("</w>" for CLIP) */
    int ignore_merges;
    int clip_cache;      /* CLIPTokenizer.bpe's cache: <|startoftext|> / <|endoftext|> stay whole */
    int64_t model_unk;   /* the id an unknown symbol becomes; -1: it is dropped (tokenizer.json without unk_token) */
    /* text -> words */
    int basic_clip;      /* the slow CLIPTokenizer's BasicTokenizer (no ftfy) */
    bpe_norm norm[BPE_MAX_NORM];
    int n_norm;
    bpe_regex regex;
    int keep_gaps;       /* Split behavior Isolated: text between matches is a word too */
    int add_prefix_space;
    /* added tokens and specials */
    bpe_added *added;
    int n_added, cap_added;
    int64_t bos, eos, pad, unk;
    int64_t prefix[BPE_MAX_SPECIAL], suffix[BPE_MAX_SPECIAL]; /* post-processor of one sequence */
    int n_prefix, n_suffix;
};

/* bpe_pretok.c: the words (byte-level strings) of one chunk of text
 * (without added tokens): normalise, split, map bytes. *words is one
 * malloc'd block (see ff_bpe_pretokenize). */
ff_status bpe_words(const ff_bpe *t, const char *text, size_t n, char ***words, size_t *nw, ff_err *err);
/* The regex of a Split pre-tokeniser / ByteLevel(use_regex), or BPE_RE_NONE
 * for an unknown pattern. */
bpe_regex bpe_regex_of(const char *pattern);
/* bytes_to_unicode(): the code point that stands for byte b. */
uint32_t bpe_byte_cp(uint8_t b);

/* bpe.c */
ff_status bpe_add_token(ff_bpe *t, const char *content, size_t len, int64_t id, int lstrip, int rstrip, ff_err *err);
ff_status bpe_set_id(ff_bpe *t, int64_t id, const char *s, size_t n, ff_err *err); /* id_tok[id] = s */

#endif
