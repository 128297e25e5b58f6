/* tiny_bpe: the tiny HunyuanVideo model's byte-level BPE tokenizers (see
 * tiny_bpe.h). A vocabulary is the 256 byte symbols (bytes_to_unicode
 * order, as openai's and Llama-3's), then the merge results in merge order;
 * a word's merges join its symbols left to right, so every merge result is
 * a new prefix of a word and each token has exactly one merge. */
#include "pipeline/tiny_bpe.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/bpe_unicode.h"
#include "models/llama_prompt.h"

#define TOK_MAX 48
#define TABLE_MAX 2048

/* Words of video prompts beside the template's. */
static const char *const prompt_words[] = {
    "a", "the", "and", "of", "in", "on", "with", "at", "over", "under", "through", "cat", "dog", "bird", "horse",
    "man", "woman", "child", "car", "boat", "city", "street", "forest", "tree", "mountain", "river", "lake", "sea",
    "ocean", "wave", "waves", "beach", "sky", "sun", "night", "sunset", "rain", "snow", "misty", "light", "red",
    "blue", "green", "golden", "small", "huge", "slow", "camera", "walks", "runs", "flies", "rides", "eats", "grass",
    "fox", "dusk", "panda", "bamboo", "fireworks", "skyline", "surfer", "blurry", "quality", "low", "static",
    "realistic", "cinematic", "A", "The", "An",
};

typedef struct {
    char tok[TABLE_MAX][TOK_MAX]; /* UTF-8 symbols */
    int n;
    char merge[TABLE_MAX][2 * TOK_MAX + 2]; /* "left right" */
    int nm;
} bpe_table;

static int find(const bpe_table *t, const char *s) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->tok[i], s)) return i;
    return -1;
}

/* bytes_to_unicode: ! .. ~, ¡ .. ¬, ® .. ÿ stand for themselves, the
 * other bytes in order become U+0100 + their rank; the table lists the
 * printable ones first, as openai's vocabulary does. */
static int printable(int b) { return (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae; }

static void byte_symbol(int b, char *out) {
    uint32_t cp = (uint32_t)b;
    if (!printable(b)) {
        cp = 256;
        for (int x = 0; x < b; x++) cp += !printable(x);
    }
    out[ff_bpe_uni_encode1(cp, out)] = 0;
}

static void add_bytes(bpe_table *t, const char *suffix) {
    for (int pass = 0; pass < 2; pass++)
        for (int b = 0; b < 256; b++)
            if (printable(b) == (pass == 0)) {
                byte_symbol(b, t->tok[t->n]);
                strcat(t->tok[t->n], suffix);
                t->n++;
            }
}

/* Merges joining syms[0..n) left to right (new prefixes only). */
static void add_chain(bpe_table *t, char syms[][TOK_MAX], int n) {
    char cur[TOK_MAX];
    snprintf(cur, sizeof cur, "%s", syms[0]);
    for (int i = 1; i < n; i++) {
        char next[TOK_MAX];
        const size_t a = strlen(cur), b = strlen(syms[i]);
        if (a + b >= TOK_MAX) return;
        memcpy(next, cur, a);
        memcpy(next + a, syms[i], b + 1);
        if (find(t, next) < 0) {
            if (t->n == TABLE_MAX || t->nm == TABLE_MAX) return;
            snprintf(t->tok[t->n++], TOK_MAX, "%s", next);
            snprintf(t->merge[t->nm++], sizeof t->merge[0], "%s %s", cur, syms[i]);
        }
        snprintf(cur, sizeof cur, "%s", next);
    }
}

/* A word's symbols: optional byte-level space ("Ġ"), its letters, and an
 * end-of-word suffix on the last one (CLIP's "</w>"). */
static void add_word(bpe_table *t, const char *w, size_t len, int space, const char *eow, int lower) {
    char syms[TOK_MAX][TOK_MAX];
    int n = 0;
    if (space) byte_symbol(' ', syms[n++]);
    for (size_t i = 0; i < len && n < TOK_MAX; i++) {
        syms[n][0] = lower ? (char)tolower((unsigned char)w[i]) : w[i];
        syms[n++][1] = 0;
    }
    if (n && strlen(syms[n - 1]) + strlen(eow) < TOK_MAX) strcat(syms[n - 1], eow);
    if (n > 1) add_chain(t, syms, n);
}

/* The template's words (with the space before them when there is one), then the prompt words. */
static void add_words(bpe_table *t, const char *eow, int lower, int spaces) {
    const char *s = ff_llama_prompt_default_template;
    for (size_t i = 0; s[i];) {
        if (!isalpha((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (isalpha((unsigned char)s[j])) j++;
        add_word(t, s + i, j - i, spaces && i > 0 && s[i - 1] == ' ', eow, lower);
        i = j;
    }
    for (size_t k = 0; k < sizeof prompt_words / sizeof prompt_words[0]; k++) {
        const char *w = prompt_words[k];
        add_word(t, w, strlen(w), spaces && islower((unsigned char)w[0]), eow, lower);
    }
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static ff_status open_file(const char *dir, const char *name, FILE **f, ff_err *err) {
    char path[4200];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return ff_err_set(err, FF_ERR_ARG, "path too long: %s", dir);
    if (!(*f = fopen(path, "wb"))) return ff_err_set(err, FF_ERR_IO, "cannot write %s", path);
    return FF_OK;
}

static ff_status close_file(FILE *f, const char *dir, const char *name, ff_err *err) {
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    return bad ? ff_err_set(err, FF_ERR_IO, "cannot write %s/%s", dir, name) : FF_OK;
}

static ff_status write_text(const char *dir, const char *name, const char *text, ff_err *err) {
    FILE *f;
    ff_status st = open_file(dir, name, &f, err);
    if (st) return st;
    fputs(text, f);
    return close_file(f, dir, name, err);
}

/* ---- CLIPTokenizer ---------------------------------------------------------------- */

static const char *const clip_config_json =
    "{\n  \"bos_token\": \"<|startoftext|>\",\n  \"clean_up_tokenization_spaces\": false,\n"
    "  \"eos_token\": \"<|endoftext|>\",\n  \"errors\": \"replace\",\n  \"model_max_length\": 77,\n"
    "  \"pad_token\": \"<|endoftext|>\",\n  \"tokenizer_class\": \"CLIPTokenizer\",\n  \"unk_token\": \"<|endoftext|>\"\n}\n";

static const char *const clip_special_json =
    "{\n  \"bos_token\": \"<|startoftext|>\",\n  \"eos_token\": \"<|endoftext|>\",\n"
    "  \"pad_token\": \"<|endoftext|>\",\n  \"unk_token\": \"<|endoftext|>\"\n}\n";

ff_status ff_tiny_clip_tokenizer_write(const char *dir, ff_err *err) {
    bpe_table *t = calloc(1, sizeof *t);
    if (!t) return ff_err_set(err, FF_ERR_NOMEM, "tiny tokenizer: no memory");
    add_bytes(t, "");
    add_bytes(t, "</w>");
    add_words(t, "</w>", 1, 0);
    FILE *f = NULL;
    ff_status st = t->n + 2 > FF_TINY_CLIP_VOCAB ? ff_err_set(err, FF_ERR_INTERNAL, "tiny CLIP vocabulary of %d", t->n + 2)
                                                 : open_file(dir, "vocab.json", &f, err);
    if (!st) {
        fputs("{", f);
        for (int i = 0; i < t->n; i++) {
            json_str(f, t->tok[i]);
            fprintf(f, ": %d, ", i);
        }
        fprintf(f, "\"<|startoftext|>\": %d, \"<|endoftext|>\": %d}\n", t->n, t->n + 1);
        st = close_file(f, dir, "vocab.json", err);
    }
    if (!st && !(st = open_file(dir, "merges.txt", &f, err))) {
        fputs("#version: 0.2\n", f);
        for (int i = 0; i < t->nm; i++) fprintf(f, "%s\n", t->merge[i]);
        st = close_file(f, dir, "merges.txt", err);
    }
    if (!st) st = write_text(dir, "tokenizer_config.json", clip_config_json, err);
    if (!st) st = write_text(dir, "special_tokens_map.json", clip_special_json, err);
    free(t);
    return st;
}

/* ---- Llama-3 style tokenizer.json -------------------------------------------------- */

static const char *const llama3_regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char *const llama_specials[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                             "<|eot_id|>"};

static const char *const llama_config_json =
    "{\n  \"bos_token\": \"<|begin_of_text|>\",\n  \"clean_up_tokenization_spaces\": true,\n"
    "  \"eos_token\": \"<|end_of_text|>\",\n  \"model_max_length\": 131072,\n  \"pad_token\": \"<|end_of_text|>\",\n"
    "  \"padding_side\": \"right\",\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\"\n}\n";

ff_status ff_tiny_llama_tokenizer_write(const char *dir, ff_err *err) {
    bpe_table *t = calloc(1, sizeof *t);
    if (!t) return ff_err_set(err, FF_ERR_NOMEM, "tiny tokenizer: no memory");
    add_bytes(t, "");
    { /* "\n\n" and the template's "{}" as single tokens, as in Llama-3 */
        char syms[2][TOK_MAX];
        byte_symbol('\n', syms[0]);
        byte_symbol('\n', syms[1]);
        add_chain(t, syms, 2);
        strcpy(syms[0], "{"), strcpy(syms[1], "}");
        add_chain(t, syms, 2);
    }
    add_words(t, "", 0, 1);
    const int nspec = (int)(sizeof llama_specials / sizeof llama_specials[0]);
    FILE *f = NULL;
    ff_status st = t->n + nspec > FF_TINY_LLAMA_VOCAB
                       ? ff_err_set(err, FF_ERR_INTERNAL, "tiny Llama vocabulary of %d", t->n + nspec)
                       : open_file(dir, "tokenizer.json", &f, err);
    if (!st) {
        fputs("{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,\n\"added_tokens\": [", f);
        for (int i = 0; i < nspec; i++)
            fprintf(f, "%s{\"id\": %d, \"content\": \"%s\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                       "\"normalized\": false, \"special\": true}",
                    i ? ",\n  " : "", t->n + i, llama_specials[i]);
        fputs("],\n\"normalizer\": null,\n\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
              "\"pattern\": {\"Regex\": ", f);
        json_str(f, llama3_regex);
        fputs("}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
              "\"trim_offsets\": true, \"use_regex\": false}]},\n", f);
        fprintf(f, "\"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\", \"add_prefix_space\": "
                   "true, \"trim_offsets\": false, \"use_regex\": true}, {\"type\": \"TemplateProcessing\", \"single\": "
                   "[{\"SpecialToken\": {\"id\": \"<|begin_of_text|>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", "
                   "\"type_id\": 0}}], \"pair\": [], \"special_tokens\": {\"<|begin_of_text|>\": {\"id\": \"<|begin_of_text|>\", "
                   "\"ids\": [%d], \"tokens\": [\"<|begin_of_text|>\"]}}}]},\n",
                t->n);
        fputs("\"decoder\": {\"type\": \"ByteLevel\"},\n\"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
              "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false, "
              "\"ignore_merges\": true, \"vocab\": {", f);
        for (int i = 0; i < t->n; i++) {
            json_str(f, t->tok[i]);
            fprintf(f, ": %d%s", i, i + 1 < t->n ? ", " : "");
        }
        fputs("},\n\"merges\": [", f);
        for (int i = 0; i < t->nm; i++) {
            json_str(f, t->merge[i]);
            fputs(i + 1 < t->nm ? ", " : "", f);
        }
        fputs("]}}\n", f);
        st = close_file(f, dir, "tokenizer.json", err);
    }
    if (!st) st = write_text(dir, "tokenizer_config.json", llama_config_json, err);
    free(t);
    return st;
}
