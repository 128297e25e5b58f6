/* bpe (ff_bpe_*): byte-level BPE tokenizers — the CLIPTokenizer of
 * vocab.json + merges.txt (HunyuanVideo's tokenizer_2, CLIP text models) and
 * tokenizer.json files of the Hugging Face `tokenizers` library with a BPE
 * model (Llama-3's, GPT-2's, CLIP's fast one).
 *
 * Encoding a text:
 *  1. split it on the added tokens (special tokens such as <|endoftext|>,
 *     <|begin_of_text|>, <|eot_id|>; exact match, leftmost-longest, with
 *     their lstrip/rstrip flags), then for every other chunk:
 *  2. normalise: CLIP's slow BasicTokenizer (ftfy absent: drop NUL, U+FFFD
 *     and control characters, whitespace -> ' ', spaces around CJK
 *     ideographs, NFC, split on whitespace, lower-case, join with ' '), or a
 *     tokenizer.json normalizer (NFC, Lowercase, Replace, Sequence);
 *  3. pre-tokenise with the model's regex — one of the known patterns:
 *     CLIP's, GPT-2's, Llama-3's (unknown patterns are FF_ERR_UNSUPPORTED) —
 *     and map each piece's UTF-8 bytes to the byte-level alphabet
 *     (bytes_to_unicode: printable bytes stand for themselves, the others
 *     are shifted to U+0100..);
 *  4. BPE each word: its symbols (the last one + end_of_word_suffix, "</w>"
 *     for CLIP) merged by merges rank, lowest first, every occurrence left to
 *     right; ignore_merges (Llama-3): a word that is itself in the
 *     vocabulary is one token;
 *  5. ids from the vocabulary (an unknown symbol is unk, or an error when
 *     the model has none).
 * Special tokens (post-processor): CLIP [bos] ids [eos]; tokenizer.json's
 * TemplateProcessing / RobertaProcessing / BertProcessing single template,
 * or a Llama tokenizer_config.json's add_bos_token / add_eos_token. The
 * batch call is tokenizer(texts, padding="max_length", max_length,
 * truncation=True): ids cut to max_length minus the special tokens, right
 * padding with the pad token.
 *
 * Not here: sentencepiece tokenizers (tokenizer.h), decoding, pairs of
 * sequences, ftfy's text repair (not applied, as in the golden data),
 * WordPiece / Unigram tokenizer.json models. Unicode tables: bpe_unicode.h.
 * Ownership: ff_bpe owns everything it loaded; strings it returns live until
 * ff_bpe_free. */
#ifndef FF_BPE_H
#define FF_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"

typedef struct ff_bpe ff_bpe;

/* A CLIPTokenizer folder (slow tokenizer: vocab.json, merges.txt,
 * tokenizer_config.json / special_tokens_map.json for the special tokens). */
ff_status ff_bpe_load_clip(const char *dir, ff_bpe **out, ff_err *err);
/* A tokenizer.json with a byte-level BPE model. dir holds tokenizer.json and
 * optionally tokenizer_config.json / special_tokens_map.json (pad token,
 * add_bos_token / add_eos_token of Llama tokenizers). */
ff_status ff_bpe_load_json(const char *dir, ff_bpe **out, ff_err *err);
void ff_bpe_free(ff_bpe *t);

int64_t ff_bpe_len(const ff_bpe *t); /* len(tokenizer): vocabulary + added tokens beyond it */
int64_t ff_bpe_bos_id(const ff_bpe *t); /* -1 when absent */
int64_t ff_bpe_eos_id(const ff_bpe *t);
int64_t ff_bpe_pad_id(const ff_bpe *t);
int64_t ff_bpe_unk_id(const ff_bpe *t);
/* The id of a token string (added tokens, then the vocabulary), or -1. */
int64_t ff_bpe_token_to_id(const ff_bpe *t, const char *s, size_t n);
/* convert_ids_to_tokens for one id; NULL when unknown. */
const char *ff_bpe_id_to_token(const ff_bpe *t, int64_t id, size_t *len);

/* tokenize + convert_tokens_to_ids of one UTF-8 text, no special tokens:
 * *ids malloc'd (caller frees). FF_ERR_ARG for invalid UTF-8. */
ff_status ff_bpe_encode(const ff_bpe *t, const char *text, int64_t **ids, size_t *n, ff_err *err);
/* Same with the post-processor's special tokens, no padding/truncation. */
ff_status ff_bpe_encode_special(const ff_bpe *t, const char *text, int64_t **ids, size_t *n, ff_err *err);
/* tokenizer(texts, padding="max_length", max_length, truncation=True): host
 * I64 (n, max_length) ids and attention mask (caller frees). */
ff_status ff_bpe_batch(const ff_bpe *t, const char *const *texts, int n, int max_length, ff_tensor *ids, ff_tensor *mask,
                       ff_err *err);

/* The pre-tokenised words of a text (steps 2-3: byte-level strings, before
 * BPE; added tokens are not words): *words is one malloc'd block of n
 * NUL-terminated strings behind n pointers (free(*words) frees all). */
ff_status ff_bpe_pretokenize(const ff_bpe *t, const char *text, char ***words, size_t *n, ff_err *err);

#endif
