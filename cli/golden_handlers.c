/* golden_handlers: which handler computes which golden case. One row per
 * (group, op prefix); groups whose model is not built yet say which issue
 * adds them, so their cases are SKIP, not FAIL. */
#include <string.h>

#include "cli/golden.h"

typedef struct {
    const char *group;
    const char *op_prefix; /* "" matches every op of the group */
    golden_handler run;
    const char *missing;   /* reason printed when run is NULL */
} handler_row;

static const handler_row rows[] = {
    {"rng", "torch.randn (successive", golden_rng_sequence, NULL},
    {"rng", "torch.randn", golden_rng_randn, NULL},
    {"rng", "WanPipeline.prepare_latents", golden_rng_prepare_latents, NULL},
    {"tokenizer", "", golden_tokenizer, NULL},
    {"text_encoder", "", golden_text_encoder, NULL},
    {"transformer", "", golden_transformer, NULL},
    {"scheduler", "", golden_scheduler, NULL},
    {"vae", "", golden_vae, NULL},
    {"vae22", "", golden_vae, NULL},
    {"pipeline", "", golden_pipeline, NULL},
    {"cogvideox_latents", "", golden_cogvideox_latents, NULL},
    {"cogvideox_embeddings", "", golden_cogvideox_embeddings, NULL},
    {"cogvideox_transformer", "", golden_cogvideox_transformer, NULL},
    {"cogvideox_vae", "", golden_cogvideox_vae, NULL},
    {"scheduler_cogvideox_ddim", "", golden_cogvideox_scheduler, NULL},
    {"scheduler_cogvideox_dpm", "", golden_cogvideox_scheduler, NULL},
    {"cogvideox_pipeline", "", golden_cogvideox_pipeline, NULL},
    {"i2v_preprocess", "", golden_i2v_preprocess, NULL},
    {"i2v_transformer", "", golden_i2v_transformer, NULL},
    {"i2v_latents", "", golden_i2v_latents, NULL},
    {"clip_vision", "", golden_clip_vision, NULL},
    {"i2v_pipeline", "", golden_pipeline, NULL},
    {"clip_text", "", golden_clip_text, NULL},
    {"hunyuan_rng", "", golden_hunyuan, NULL},
    {"hunyuan_transformer", "", golden_hunyuan, NULL},
    {"hunyuan_scheduler", "", golden_hunyuan, NULL},
    {"hunyuan_vae", "", golden_hunyuan, NULL},
    {"t5_tokenizer", "", golden_t5_tokenizer, NULL},
    {"t5_encoder", "", golden_t5_encoder, NULL},
    {"llama_tokenizer", "", golden_llama_tokenizer, NULL},
    {"llama_encoder", "", golden_llama_encoder, NULL},
    {"clip_tokenizer", "", golden_clip_tokenizer, NULL},
    {"hunyuan_text", "", golden_hunyuan_text, NULL},
    {"hunyuan_pipeline", "", golden_hunyuan_pipeline, NULL},
};

golden_handler golden_find_handler(const golden_case *c, const char **why) {
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const handler_row *r = &rows[i];
        if (strcmp(r->group, c->group) != 0 || strncmp(c->op, r->op_prefix, strlen(r->op_prefix)) != 0) continue;
        if (!r->run) *why = r->missing;
        return r->run;
    }
    *why = "no handler for this group/op";
    return NULL;
}
