/* t5_prompt (ff_t5_prompt_*): the text path of CogVideoXPipeline, prompt
 * strings to T5 embeddings — diffusers' CogVideoXPipeline._get_t5_prompt_embeds
 * and encode_prompt.
 *
 * Unlike Wan (models/prompt.h) there is no prompt cleaning and no trimming:
 * the raw prompt goes to the T5Tokenizer (padding="max_length",
 * max_length=max_sequence_length, truncation, </s> appended), the encoder
 * runs WITHOUT an attention mask, and all max_sequence_length rows are kept
 * as they come out (padded positions attended and not zeroed). Each prompt's
 * rows are repeated num_videos_per_prompt times consecutively (p0, p0, p1,
 * p1, ...). With classifier-free guidance the negative prompts go the same
 * way ("" when none is given; one negative is used for every prompt, else
 * one per prompt). __call__ then feeds cat([negative, prompt]) to one
 * transformer call (not done here).
 *
 * Not here: the tokenizer (tokenizer.h), the encoder (t5.h), the denoising
 * loop. Ownership: the result's tensors are owned host tensors
 * (ff_t5_prompt_free). */
#ifndef FF_T5_PROMPT_H
#define FF_T5_PROMPT_H

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "models/t5.h"
#include "models/tokenizer.h"

/* CogVideoXPipeline.encode_prompt's default max_sequence_length (also the
 * 1.0 transformer's max_text_seq_length). */
#define FF_T5_PROMPT_COGVIDEOX_MAX_LEN 226

typedef struct {
    const char *const *prompts; /* n_prompts >= 1 */
    int n_prompts;
    const char *const *negative; /* NULL/0: "" ; 1: used for every prompt; else exactly n_prompts */
    int n_negative;
    int do_cfg;                  /* also compute the negative embeddings */
    int num_videos_per_prompt;   /* >= 1 */
    int max_sequence_length;     /* >= 1 */
    const ff_t5_hooks *hooks;    /* passed to ff_t5_forward (block streaming); may be NULL */
} ff_t5_prompt_request;

typedef struct {
    ff_tensor prompt_embeds;          /* F32 (B*nv, L, D) */
    ff_tensor negative_prompt_embeds; /* F32 (B*nv, L, D) with CFG, else empty (data NULL) */
    ff_tensor input_ids;              /* I64 (B, L): the tokenizer output the encoder saw */
    ff_tensor negative_input_ids;     /* I64 (B, L) with CFG */
} ff_t5_prompt_result;

/* CogVideoXPipeline._get_t5_prompt_embeds for n prompts: embeds (n*nv, L, D)
 * and, when ids is not NULL, the input ids (n, L). */
ff_status ff_t5_prompt_embeds_cogvideox(const ff_tok *tok, ff_t5 *te, const char *const *prompts, int n,
                                        int num_videos_per_prompt, int max_sequence_length, const ff_t5_hooks *hooks,
                                        ff_tensor *embeds, ff_tensor *ids, ff_err *err);

/* CogVideoXPipeline.encode_prompt. */
ff_status ff_t5_prompt_encode_cogvideox(const ff_tok *tok, ff_t5 *te, const ff_t5_prompt_request *req,
                                        ff_t5_prompt_result *out, ff_err *err);
void ff_t5_prompt_free(ff_t5_prompt_result *r);

#endif
