/* llama_prompt (ff_llama_prompt_*): HunyuanVideo's Llama text path —
 * diffusers' HunyuanVideoPipeline._get_llama_prompt_embeds: the prompt
 * template, crop_start, the tokenizer call and hidden_states[-(skip+1)].
 *
 *  text = template.format(prompt) (str.format with one "{}"; no prompt
 *         cleaning);
 *  crop_start: given, or (-1) computed as diffusers does when the template
 *         has none: len(tokenizer(template)) - 2 (drops the "{}" piece and
 *         the final <|eot_id|>), i.e. the index of the first prompt token;
 *  ids, mask = tokenizer(texts, max_length = crop_start + max_sequence_length,
 *         padding="max_length", truncation=True) (right padding; long
 *         prompts lose their tail, the final <|eot_id|> included);
 *  prompt_embeds = LlamaModel(ids, mask).hidden_states[-(skip + 1)]
 *         [:, crop_start:] (no final norm for skip > 0; padded rows kept),
 *  mask[:, crop_start:] (int64); crop only when crop_start > 0;
 *  each prompt's rows repeated num_videos_per_prompt times (p0, p0, p1, ...).
 *
 * The template is the caller's: ff_llama_prompt_default_template is
 * diffusers' DEFAULT_PROMPT_TEMPLATE["template"], whose hard-coded
 * crop_start 95 belongs to the published Llama-3 tokenizer; another
 * tokenizer needs its own value (pass -1 to compute it).
 *
 * Not here: the CLIP half of HunyuanVideoPipeline.encode_prompt, the
 * tokenizers (llama_tokenizer.h), the encoder (llama.h). Ownership: the
 * result's tensors are owned host tensors (ff_llama_prompt_free). */
#ifndef FF_LLAMA_PROMPT_H
#define FF_LLAMA_PROMPT_H

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_tensor.h"
#include "models/llama.h"
#include "models/llama_tokenizer.h"

/* DEFAULT_PROMPT_TEMPLATE["template"] of pipeline_hunyuan_video.py. */
extern const char ff_llama_prompt_default_template[];
/* DEFAULT_PROMPT_TEMPLATE["crop_start"]: right for the published Llama-3
 * tokenizer only. */
#define FF_LLAMA_PROMPT_DEFAULT_CROP_START 95
/* _get_llama_prompt_embeds' defaults. */
#define FF_LLAMA_PROMPT_DEFAULT_MAX_LEN 256
#define FF_LLAMA_PROMPT_DEFAULT_SKIP 2

/* A prompt_template as HunyuanVideoPipeline.__call__ takes it, from JSON
 * (job options, a model's defaults): NULL or null -> diffusers'
 * DEFAULT_PROMPT_TEMPLATE (the default template, crop_start 95, as diffusers
 * runs it); an object {"template": str, "crop_start": int | null} -> its
 * template (the default when absent) and crop_start (-1 when absent or null:
 * computed from the tokenizer, as diffusers does). *tmpl points into v or
 * at ff_llama_prompt_default_template. FF_ERR_FORMAT for anything else. */
ff_status ff_llama_prompt_template_parse(const ff_json *v, const char **tmpl, int *crop_start, ff_err *err);

/* Python's template.format(prompt) for a template with one "{}" (or "{0}")
 * and "{{" / "}}" escapes; anything else is FF_ERR_ARG. *out malloc'd. */
ff_status ff_llama_prompt_format(const char *tmpl, const char *prompt, char **out, ff_err *err);

/* crop_start when the template has none: len(tokenizer(template)) - 2. */
ff_status ff_llama_prompt_crop_start(const ff_llama_tok *tok, const char *tmpl, int *crop_start, ff_err *err);

typedef struct {
    const char *const *prompts; /* n_prompts >= 1 */
    int n_prompts;
    const char *tmpl;           /* NULL: ff_llama_prompt_default_template */
    int crop_start;             /* >= 0, or -1: computed (ff_llama_prompt_crop_start) */
    int num_videos_per_prompt;  /* >= 1 */
    int max_sequence_length;    /* >= 1 */
    int num_hidden_layers_to_skip; /* >= 0: hidden_states[-(skip + 1)] */
    const ff_llama_hooks *hooks;   /* passed to ff_llama_forward (block streaming); may be NULL */
} ff_llama_prompt_request;

typedef struct {
    ff_tensor prompt_embeds;  /* F32 (B*nv, L', hidden) with L' = max_sequence_length when cropped */
    ff_tensor attention_mask; /* I64 (B*nv, L') */
    ff_tensor input_ids;      /* I64 (B, crop_start + max_sequence_length): the tokenizer output */
    int crop_start;           /* the value used */
} ff_llama_prompt_result;

ff_status ff_llama_prompt_embeds(const ff_llama_tok *tok, ff_llama *te, const ff_llama_prompt_request *req,
                                 ff_llama_prompt_result *out, ff_err *err);
void ff_llama_prompt_free(ff_llama_prompt_result *r);

#endif
