/* hunyuan_text (ff_hytext_*): HunyuanVideoPipeline.encode_prompt —
 * both text encoders of HunyuanVideo:
 *   prompt_embeds, prompt_attention_mask = _get_llama_prompt_embeds(prompt,
 *       prompt_template, num_videos_per_prompt, max_sequence_length)
 *       (llama_prompt.h: template, crop_start, hidden_states[-(skip+1)]);
 *   pooled_prompt_embeds = _get_clip_prompt_embeds(prompt, ...):
 *       tokenizer_2(prompt, padding="max_length", max_length=77,
 *       truncation=True) -> CLIPTextModel(ids).pooler_output (the EOS row),
 *       each prompt's row repeated num_videos_per_prompt times.
 * CLIP always sees `prompt` (diffusers accepts prompt_2 but, at the golden
 * commit, feeds prompt to CLIP). No prompt cleaning. The negative prompt of
 * true CFG is encoded by calling this again with it.
 *
 * Not here: the models and tokenizers themselves (llama.h, clip.h, bpe.h,
 * llama_tokenizer.h), the float32 cast of the mask the pipeline makes before
 * the transformer. Ownership: results are owned host tensors
 * (ff_hytext_free); the models are borrowed and must be usable by
 * their backends (placed, or streamed through the hooks). */
#ifndef FF_HYTEXT_H
#define FF_HYTEXT_H

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "models/bpe.h"
#include "models/clip.h"
#include "models/llama_prompt.h"

/* The max_length encode_prompt passes to _get_clip_prompt_embeds. */
#define FF_HYTEXT_CLIP_MAX_LEN 77

/* _get_clip_prompt_embeds: pooled (n * nv, clip hidden) F32 host. The CLIP
 * model runs on `be` (its weights must be usable there). */
ff_status ff_hytext_clip_pooled(const ff_bpe *tok2, ff_clip_model *clip, ff_backend *be, const char *const *prompts,
                                      int n, int num_videos_per_prompt, int max_length, const ff_clip_hooks *hooks,
                                      ff_tensor *pooled, ff_err *err);

typedef struct {
    ff_llama_prompt_request llama; /* prompts, template, crop_start, num_videos_per_prompt, max_sequence_length,
                                      num_hidden_layers_to_skip, Llama hooks */
    ff_backend *clip_be;           /* where the CLIP text model runs */
    const ff_clip_hooks *clip_hooks; /* may be NULL */
} ff_hytext_request;

typedef struct {
    ff_tensor prompt_embeds;         /* F32 (B*nv, L, llama hidden) */
    ff_tensor pooled_prompt_embeds;  /* F32 (B*nv, clip hidden) */
    ff_tensor prompt_attention_mask; /* I64 (B*nv, L) */
    int crop_start;                  /* the value used */
} ff_hytext_result;

ff_status ff_hytext_encode(const ff_llama_tok *tok, ff_llama *te, const ff_bpe *tok2, ff_clip_model *te2,
                                 const ff_hytext_request *req, ff_hytext_result *out, ff_err *err);
void ff_hytext_free(ff_hytext_result *r);

#endif
