/* family (ff_family): the const table that makes a diffusers pipeline class
 * runnable on the component chain, and the driver calls its __call__ uses.
 * For the family writers of pipeline/family_*.c; everyone else goes through
 * pipeline/chain.h.
 *
 * A family table names, in diffusers' model_cpu_offload_seq order, its
 * components (model_index.json key, model class with its role, tokenizer
 * key, optional or not), the stages the planner predicts (each a component
 * doing one kind of work: the VAE twice in image-to-video, encode before
 * the loop and decode after), its geometry (latent layout, temporal and
 * spatial factors, rounding), the model_index.json fields of its own, and
 * its __call__ written top to bottom against the driver below: component
 * acquire/release (load-or-reuse, keep mask, meters, pool labels), the
 * denoiser call (upload, block streaming, download), the VAE decode stage,
 * progress and intermediates. A new family adds one table, its files, and
 * one line in pipeline/families.c.
 *
 * Not here: the model math (models/), the strategy (plan.h). */
#ifndef FF_FAMILY_H
#define FF_FAMILY_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_json.h"
#include "pipeline/chain.h"
#include "pipeline/offload_model.h"

typedef struct {
    const char *name;          /* model_index.json key: "text_encoder", "transformer_2" */
    const ff_model_class *cls; /* its model class (and role) */
    const char *tokenizer;     /* text encoders: the key of its tokenizer ("tokenizer"); image
                                  encoders: of its image processor ("image_processor"); else NULL */
    int optional;              /* may be absent or [null, null] (Wan's transformer_2) */
} ff_family_component;

/* One stage of the family's run, as the planner predicts it. */
typedef struct {
    const char *name;          /* plan line: "text_encoder", "transformer", "vae" */
    ff_stage_kind kind;        /* TEXT, IMAGE, ENCODE, DENOISE, DECODE */
    int component;             /* index into the family's components */
} ff_family_stage;

/* init-model's tiny smoke-test model of the family: the texts written as
 * they are, every component's weights drawn from its class's parameter list
 * (seed + component index + 1, torch-compatible randn, scaled per kind and by
 * the class's init_gain). */
typedef struct {
    const char *name;            /* init-model NAME ("tiny") */
    int version;                 /* "_framefarm_tiny_version" in model_index_json */
    const char *model_index_json;
    const char *scheduler_json;
    const char *const *component_json; /* per component (NULL: not written) */
    uint64_t seed;
} ff_tiny_spec;

struct ff_run;

struct ff_family {
    const char *class_name;          /* "WanPipeline" */
    const char *offload_seq;         /* diffusers' model_cpu_offload_seq */
    const ff_family_component *components;
    int n_components;
    const ff_family_stage *stages;
    int n_stages;
    size_t state_size;               /* bytes of the family's own model_index fields (chain-owned) */
    /* model_index.json fields of the family (boundary_ratio, ...) into state */
    ff_status (*index_read)(ff_chain *c, const ff_json *model_index, void *state, ff_err *err);
    /* after every config is read: do the components fit together? */
    ff_status (*check)(const ff_chain *c, ff_err *err);
    ff_status (*geometry)(const ff_chain *c, int64_t batch, int num_frames, int height, int width, ff_geometry *g,
                          ff_err *err);
    int64_t (*pixel_frames)(const ff_chain *c, int64_t latent_frames);
    void (*params_default)(ff_chain_params *p);
    /* __call__ */
    ff_status (*call)(struct ff_run *r, ff_err *err);
    const ff_tiny_spec *tiny;        /* NULL: no embedded tiny model */
    int takes_image;                 /* __call__ is image to video (ff_chain_params.image) */
    const char *image_class;         /* text-to-video families: the class that runs the same folder
                                        from an image (NULL: none) */
    int needs_prompts;               /* given prompt_embeds are not enough (ff_chain_takes_prompt_embeds) */
};

/* ---- the registry (pipeline/families.c) ---------------------------------------- */

/* The family of a pipeline class, NULL when unknown. */
const ff_family *ff_family_find(const char *class_name);
/* "WanPipeline, ..." for messages, into buf (returned). */
const char *ff_family_supported(char *buf, size_t n);
/* The family whose tiny model is named `name` ("tiny"), NULL when none. */
const ff_family *ff_family_find_tiny(const char *name);
/* Every registered family, NULL-terminated. */
const ff_family *const *ff_family_all(void);

/* ---- what a family's code reads of the chain -------------------------------------- */

const void *ff_chain_family_state(const ff_chain *c);
const ff_log *ff_chain_log(const ff_chain *c);

/* ---- a run, as the driver keeps it ------------------------------------------------- */

typedef struct ff_run {
    ff_chain *c;
    const ff_chain_params *prm;
    ff_chain_stats *stats;
    int reset_rss;                  /* per-component RSS peaks */
    double t0[FF_CHAIN_MAX_COMPONENTS];
    int do_cfg;
    int64_t B;                      /* batch: prompts * videos per prompt (or the embeddings' batch) */
    ff_geometry g;
    ff_tensor latents;              /* host F32, the family's latent layout */
} ff_run;

ff_status ff_run_emit(ff_run *r, const char *name, int64_t step, const ff_tensor *t, ff_err *err);
ff_status ff_run_progress(ff_run *r, ff_stage_kind stage, int64_t done, int64_t total, int expert, double t,
                          double stage_t0, ff_err *err);
double ff_run_now(void); /* CLOCK_MONOTONIC seconds */

/* A component in use during a run. */
typedef struct {
    int comp;                 /* component index, -1 none */
    void *model;
    ff_backend *be;           /* the backend it runs on (text_on_host: its own) */
    ff_backend *own_be;       /* text_on_host: the CPU backend made for it */
    ff_offload_model *off;    /* block-structured: its placement, else NULL */
    ff_weights *w;            /* from_file: the mapping its blocks stream from */
    int64_t weight_bytes;     /* backend bytes of its weights (0 unknown) */
} ff_comp_use;

/* Load-or-reuse component i for a stage (pool label, meter, keep mask,
 * placement); the component's stats record the load. */
ff_status ff_run_acquire(ff_run *r, int i, ff_comp_use *u, ff_err *err);
/* Ends its stage: frees it unless kept, meters the end. u is reset. */
void ff_run_release(ff_run *r, ff_comp_use *u);

/* The text encoder role of a component acquired with ff_run_acquire: its
 * encode, with the block hooks of its placement when it is streamed. */
ff_status ff_run_encode_text(ff_run *r, const ff_comp_use *u, const ff_text_request *rq, ff_text_embeds *out,
                             ff_err *err);

/* diffusers' encode_prompt of a pipeline with one text encoder (Wan,
 * CogVideoX): text stage progress, load-or-reuse component comp, the
 * prompts, then with CFG the negative prompts ("" when none are given; a
 * single one serves every prompt), release, and the intermediates
 * "prompt_embeds" / "negative_prompt_embeds". *cond and *uncond (host F32)
 * belong to the caller; *uncond stays empty without CFG. */
ff_status ff_run_encode_prompts(ff_run *r, int comp, int num_videos_per_prompt, int max_sequence_length,
                                ff_tensor *cond, ff_tensor *uncond, ff_err *err);

/* A denoiser with its device buffers: the input, the output, and the
 * uploaded conditioning tensors of the family (text cond/uncond, ...). */
#define FF_RUN_MAX_COND 8
typedef struct {
    ff_comp_use u;
    int expert;                 /* 1-based denoiser index of the family (0: none loaded) */
    ff_tensor dx, dout;         /* backend: latents in, prediction out */
    ff_tensor dcond[FF_RUN_MAX_COND];
    int n_cond;
    int64_t act_bytes;
} ff_denoiser_run;

/* Frees the denoiser in use (unless kept) with its buffers, then acquires
 * component i as expert, allocates dx/dout for x_shape, uploads cond[0..n)
 * (host F32) into dcond, and records q's activation bytes for the stats. */
ff_status ff_run_denoiser_switch(ff_run *r, ff_denoiser_run *d, int i, int expert, const int64_t *x_shape, int ndim,
                                 const ff_tensor *const *cond, int n_cond, const ff_act_query *q, ff_err *err);
/* One forward: uploads x (host F32) into dx, runs with in (its x is set to
 * dx; block hooks when streamed), downloads dout into out (host F32). */
ff_status ff_run_denoiser_call(ff_run *r, ff_denoiser_run *d, const ff_tensor *x, ff_denoiser_in *in, ff_tensor *out,
                               ff_err *err);
void ff_run_denoiser_unload(ff_run *r, ff_denoiser_run *d);

/* The decode stage of VAE component i: acquire, denormalize latents (host,
 * the layout the VAE decodes: (B, C, F, h, w)), emit "vae_decode_input",
 * stream-decode with prm->vae, hand postprocessed chunks to on_frames,
 * progress in output frames per sample, release. */
ff_status ff_run_decode(ff_run *r, int i, const ff_tensor *latents, ff_err *err);

#endif
