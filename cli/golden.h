/* golden (cli-internal): the case runner behind `framefarm golden`.
 *
 * A case folder holds case.json, inputs.safetensors (optional) and
 * expected.safetensors (../shared/golden/README.md section 2). The runner
 * finds a handler for the case's group/op, lets it compute named output
 * tensors on the chosen backend, and compares each output that has an
 * expected tensor of the same name by rel_l2 (integers: exact). Handlers live
 * in golden_<group>.c, one per model family; a case without a handler is a
 * SKIP naming the issue that will add it. */
#ifndef FF_GOLDEN_H
#define FF_GOLDEN_H

#include "core/ff_json.h"
#include "core/ff_safetensors.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"

typedef struct {
    const char *root;          /* golden root (holds cases/ and pipelines/) */
    const char *dir;           /* this case's folder */
    const char *name, *group, *op, *component;
    char pipeline[4096];       /* absolute pipeline folder, "" when null */
    const ff_json *options;    /* may be NULL */
    const ff_json *input_values;
    const ff_st_file *inputs;  /* NULL when the case has no inputs file */
    ff_backend *be;
} golden_case;

#define GOLDEN_MAX_OUTPUTS 64

typedef struct {
    char name[64];
    ff_tensor t; /* owned host tensor */
} golden_output;

typedef struct {
    golden_output items[GOLDEN_MAX_OUTPUTS];
    int n;
} golden_outputs;

/* Moves *t (an owned host tensor) into outs under name; *t is zeroed. */
ff_status golden_out_add(golden_outputs *outs, const char *name, ff_tensor *t, ff_err *err);
void golden_outs_free(golden_outputs *outs);

/* A handler computes the case's outputs. FF_ERR_UNSUPPORTED from a handler
 * turns into SKIP with its message. */
typedef ff_status (*golden_handler)(const golden_case *c, golden_outputs *outs, ff_err *err);

/* The handler for c, or NULL with *why saying which issue adds it. */
golden_handler golden_find_handler(const golden_case *c, const char **why);

/* Handlers, by family. */
ff_status golden_rng_randn(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_rng_sequence(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_rng_prepare_latents(const golden_case *c, golden_outputs *outs, ff_err *err);

/* Model families (each in its own golden_<family>.c). */
ff_status golden_tokenizer(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_text_encoder(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_transformer(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_vae(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_scheduler(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_pipeline(const golden_case *c, golden_outputs *outs, ff_err *err);
/* HunyuanVideo model level: hunyuan_rng, hunyuan_transformer, hunyuan_scheduler, hunyuan_vae. */
ff_status golden_hunyuan(const golden_case *c, golden_outputs *outs, ff_err *err);
/* T5 family of CogVideoX (golden_t5.c). */
ff_status golden_t5_tokenizer(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_t5_encoder(const golden_case *c, golden_outputs *outs, ff_err *err);
/* Llama and CLIP text side of HunyuanVideo (golden_llama.c, golden_clip_tok.c). */
ff_status golden_llama_tokenizer(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_llama_encoder(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_clip_tokenizer(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_hunyuan_text(const golden_case *c, golden_outputs *outs, ff_err *err);
/* HunyuanVideoPipeline.__call__ on the component chain (golden_hunyuan_pipeline.c). */
ff_status golden_hunyuan_pipeline(const golden_case *c, golden_outputs *outs, ff_err *err);

/* CogVideoX model-level cases (golden_cogvideox.c). */
ff_status golden_cogvideox_scheduler(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_cogvideox_latents(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_cogvideox_embeddings(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_cogvideox_transformer(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_cogvideox_vae(const golden_case *c, golden_outputs *outs, ff_err *err);
/* CogVideoXPipeline.__call__ on the component chain (golden_cogvideox_pipe.c). */
ff_status golden_cogvideox_pipeline(const golden_case *c, golden_outputs *outs, ff_err *err);
/* Image-to-video and CLIP (golden_i2v.c, golden_clip.c). */
ff_status golden_i2v_preprocess(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_i2v_transformer(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_i2v_latents(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_clip_vision(const golden_case *c, golden_outputs *outs, ff_err *err);
ff_status golden_clip_text(const golden_case *c, golden_outputs *outs, ff_err *err);
/* The case's U8 input image `name`; when options.png names a file for it and
 * PNG reading is built in, that file is read too and must decode to the
 * same pixels. */
ff_status golden_image_input(const golden_case *c, const char *name, ff_tensor *out, ff_err *err);

/* Reads options[key] as an int64 shape array (at most FF_MAX_DIMS). */
ff_status golden_opt_shape(const ff_json *arr, int *ndim, int64_t *shape, ff_err *err);

#endif
