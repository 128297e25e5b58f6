/* tiny_bpe (ff_tiny_*_tokenizer_write): the byte-level BPE tokenizers of the
 * embedded tiny HunyuanVideo model, written in the real formats its loaders
 * read (models/bpe.h):
 *  - a CLIPTokenizer folder (vocab.json in openai's layout: the 256 byte
 *    symbols, the same with "</w>", one entry per merge, <|startoftext|>,
 *    <|endoftext|>; merges.txt; tokenizer_config.json;
 *    special_tokens_map.json);
 *  - a Llama-3 style tokenizer.json (byte-level BPE with ignore_merges, the
 *    Llama-3 Split regex + ByteLevel, TemplateProcessing with
 *    <|begin_of_text|>, the header tokens <|start_header_id|>,
 *    <|end_header_id|>, <|eot_id|> and <|end_of_text|> as added tokens) with
 *    its tokenizer_config.json (PreTrainedTokenizerFast, pad =
 *    <|end_of_text|>).
 * Merges build whole words of the HunyuanVideo prompt template and of
 * common prompt words, left to right; every other text falls back to byte
 * symbols. The same bytes every time.
 *
 * Not here: the models (tiny_model.h writes them from the family table). */
#ifndef FF_TINY_BPE_H
#define FF_TINY_BPE_H

#include <stdint.h>

#include "core/ff_err.h"

/* Token ids the tiny Llama tokenizer uses: every id is below this. */
#define FF_TINY_LLAMA_VOCAB 2048
#define FF_TINY_CLIP_VOCAB 2048

ff_status ff_tiny_clip_tokenizer_write(const char *dir, ff_err *err);
ff_status ff_tiny_llama_tokenizer_write(const char *dir, ff_err *err);

#endif
