/* tokenizer: the Hugging Face sentencepiece tokenizers (slow,
 * legacy=True) of the pipelines' tokenizer/ folders: T5Tokenizer (Wan,
 * CogVideoX; spiece.model, unigram) and LlamaTokenizer (HunyuanVideo's slow
 * form; tokenizer.model, BPE with byte fallback).
 *
 * Loads the sentencepiece model (spm_model.h) and tokenizer_config.json,
 * special_tokens_map.json, added_tokens.json; the class comes from
 * tokenizer_config.json's tokenizer_class (else from the model file present).
 * Encoding a text: split it on the added tokens (</s>, <pad>, <unk>,
 * <extra_id_N>, Llama-3 header tokens, ...; matched as whole strings,
 * leftmost-longest, with their lstrip/rstrip/single_word flags), sp.encode
 * each remaining chunk (each gets its own dummy prefix), map every piece
 * string to an id (added tokens first, then sp.piece_to_id). Special tokens
 * (build_inputs_with_special_tokens): T5 appends </s> unless already last;
 * Llama prepends <bos> (add_bos_token, default on) and appends <eos>
 * (add_eos_token, default off). The batch call reproduces tokenizer(texts,
 * padding="max_length", max_length=L, truncation=True,
 * return_attention_mask=True): the text's ids cut to L minus the special
 * tokens, special tokens added, right-padded with <pad>.
 *
 * Not here: prompt cleaning (prompt.h) and templates (llama_prompt.h),
 * decoding, the non-legacy paths (legacy=false is rejected as unsupported),
 * byte-level BPE and tokenizer.json (bpe.h). */
#ifndef FF_TOKENIZER_H
#define FF_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "models/spm_model.h"

typedef struct ff_tok ff_tok;

typedef enum { FF_TOK_T5 = 0, FF_TOK_LLAMA = 1 } ff_tok_kind;

/* dir: the tokenizer folder (holds spiece.model or tokenizer.model). */
ff_status ff_tok_load(const char *dir, ff_tok **out, ff_err *err);
void ff_tok_free(ff_tok *t);
ff_tok_kind ff_tok_get_kind(const ff_tok *t);
const char *ff_tok_model_path(const ff_tok *t); /* the sentencepiece model file read */

const ff_spm *ff_tok_spm(const ff_tok *t);
int64_t ff_tok_len(const ff_tok *t); /* len(tokenizer): pieces + added tokens beyond them */
int64_t ff_tok_pad_id(const ff_tok *t);
int64_t ff_tok_eos_id(const ff_tok *t);
int64_t ff_tok_unk_id(const ff_tok *t);
int64_t ff_tok_bos_id(const ff_tok *t); /* -1 when the tokenizer has none (T5); likewise pad for some Llama ones */
/* The added token with this content, or -1. */
int64_t ff_tok_added_id(const ff_tok *t, const char *content, size_t n);
/* convert_ids_to_tokens for one id (added tokens, then pieces); NULL when
 * out of range. *len gets the byte length. */
const char *ff_tok_id_to_token(const ff_tok *t, int64_t id, size_t *len);

/* tokenizer.tokenize + convert_tokens_to_ids of one UTF-8 text (no </s>, no
 * truncation): *ids (malloc'd, caller frees), *n. */
ff_status ff_tok_encode(const ff_tok *t, const char *text, int64_t **ids, size_t *n, ff_err *err);

/* tokenizer(text) without padding or truncation: the ids with the special
 * tokens (build_inputs_with_special_tokens); *ids malloc'd (caller frees). */
ff_status ff_tok_encode_special(const ff_tok *t, const char *text, int64_t **ids, size_t *n, ff_err *err);

/* The pipelines' tokenizer call on n texts (padding="max_length",
 * truncation): ids and mask are allocated here as host I64 (n, max_length)
 * tensors (caller frees). FF_ERR_ARG when the tokenizer has no pad token. */
ff_status ff_tok_batch(const ff_tok *t, const char *const *texts, int n, int max_length, ff_tensor *ids,
                       ff_tensor *mask, ff_err *err);

/* UTF-8 helpers shared with prompt.c. ff_tok_utf8_next decodes the
 * character at s[*i] (n bytes in all), advances *i and returns the code
 * point, or -1 for malformed UTF-8. ff_tok_py_isspace is Python's
 * str.isspace for one code point (what str.strip() and re's \s use). */
int32_t ff_tok_utf8_next(const char *s, size_t n, size_t *i);
int ff_tok_py_isspace(int32_t cp);

#endif
