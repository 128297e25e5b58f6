/* prompt: the text path of WanPipeline, prompt strings to embeddings.
 *
 * ff_prompt_clean is diffusers' prompt_clean (ftfy.fix_text skipped, as in
 * the golden data; html.unescape twice; \s+ collapsed to one space; strip).
 * ff_prompt_encode is WanPipeline.encode_prompt: clean, tokenize to
 * max_sequence_length with padding, run UMT5, keep the first seq_len rows of
 * each sample and zero the rest, repeat each prompt num_videos_per_prompt
 * times consecutively; with classifier-free guidance the same for the
 * negative prompts ("" when none are given).
 *
 * Not here: the tokenizer (tokenizer.h) and the encoder (umt5.h). */
#ifndef FF_PROMPT_H
#define FF_PROMPT_H

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "models/tokenizer.h"
#include "models/umt5.h"

/* *out: malloc'd, NUL-terminated cleaned text (caller frees). The input
 * must be valid UTF-8. */
ff_status ff_prompt_clean(const char *text, char **out, ff_err *err);
/* html.unescape (Python 3.11) of a UTF-8 string. */
ff_status ff_prompt_html_unescape(const char *text, char **out, ff_err *err);

typedef struct {
    const char *const *prompts; /* n_prompts >= 1 */
    int n_prompts;
    const char *const *negative; /* NULL/0: "" ; 1: used for every prompt; else n_prompts */
    int n_negative;
    int do_cfg;                  /* also compute the negative embeddings */
    int num_videos_per_prompt;   /* >= 1 */
    int max_sequence_length;     /* >= 1 (pipeline default 512; encode_prompt default 226) */
} ff_prompt_request;

typedef struct {
    ff_tensor prompt_embeds;          /* F32 (B*n, L, D), host */
    ff_tensor negative_prompt_embeds; /* F32 (B*n, L, D), host; empty (data NULL) without CFG */
    ff_tensor seq_lens;               /* I64 (B): tokens incl. </s> of each prompt */
    ff_tensor negative_seq_lens;      /* I64 (B) with CFG */
} ff_prompt_embeds;

/* WanPipeline._get_t5_prompt_embeds for n prompts: embeds (n*nv, L, D) and
 * seq_lens (n), both host tensors allocated here. */
ff_status ff_prompt_t5_embeds(const ff_tok *tok, ff_umt5 *te, const char *const *prompts, int n, int num_videos_per_prompt,
                              int max_sequence_length, ff_tensor *embeds, ff_tensor *seq_lens, ff_err *err);

ff_status ff_prompt_encode(const ff_tok *tok, ff_umt5 *te, const ff_prompt_request *req, ff_prompt_embeds *out, ff_err *err);
void ff_prompt_embeds_free(ff_prompt_embeds *e);

#endif
