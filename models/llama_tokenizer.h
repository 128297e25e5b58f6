/* llama_tokenizer (ff_llama_tok_*): the tokenizer of a Llama text encoder's
 * tokenizer/ folder, whichever form it ships in:
 *  - sentencepiece (tokenizer.model, slow LlamaTokenizer: tokenizer.h), as
 *    the golden tiny HunyuanVideo folder and Llama-2 style models;
 *  - tokenizer.json (byte-level BPE, LlamaTokenizerFast /
 *    PreTrainedTokenizerFast: bpe.h), as the published HunyuanVideo
 *    (Llama-3) folder.
 * tokenizer.json is used when present unless tokenizer_config.json names the
 * slow LlamaTokenizer and tokenizer.model exists (what transformers'
 * from_pretrained of that class reads).
 *
 * Not here: the prompt template and crop (llama_prompt.h). Ownership: owns
 * the tokenizer it loaded. */
#ifndef FF_LLAMA_TOKENIZER_H
#define FF_LLAMA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "models/bpe.h"
#include "models/tokenizer.h"

typedef struct ff_llama_tok ff_llama_tok;

ff_status ff_llama_tok_load(const char *dir, ff_llama_tok **out, ff_err *err);
void ff_llama_tok_free(ff_llama_tok *t);

/* The underlying tokenizer: exactly one is non-NULL. */
const ff_tok *ff_llama_tok_spm(const ff_llama_tok *t);
const ff_bpe *ff_llama_tok_bpe(const ff_llama_tok *t);

/* tokenizer(text) with the special tokens (BOS), no padding/truncation:
 * *ids malloc'd (caller frees). */
ff_status ff_llama_tok_encode_special(const ff_llama_tok *t, const char *text, int64_t **ids, size_t *n, ff_err *err);
/* tokenizer(texts, max_length, padding="max_length", truncation=True,
 * return_attention_mask=True): host I64 (n, max_length) (caller frees). */
ff_status ff_llama_tok_batch(const ff_llama_tok *t, const char *const *texts, int n, int max_length, ff_tensor *ids,
                             ff_tensor *mask, ff_err *err);
const char *ff_llama_tok_id_to_token(const ff_llama_tok *t, int64_t id, size_t *len);

#endif
