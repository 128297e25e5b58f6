/* plan (ff_plan_*): the memory planner. From a pipeline folder's configs
 * alone (no weights needed), the requested size / frames, the weight dtype
 * and a device budget, it predicts the peak device bytes of each stage of
 * the folder's family (the family table's stages, pipeline/family.h: Wan's
 * text encoder, transformer(s), VAE decode) under each strategy and picks
 * the cheapest that fits:
 *   none        every component resident at once (no moves at all)
 *   model       component offload: one component resident at a time
 *   sequential  component offload + the blocks of every block-structured
 *               component (Wan: the transformers) streamed in groups of k
 *               (largest k that fits; ring of 2)
 * and, for stages that still do not fit: the text encoders on the host CPU
 * backend (their output is uploaded), VAE slicing (batch > 1), then VAE
 * tiling with the largest tile that fits (the low-memory tiled decode,
 * ff_vae_opts.tile_low_memory: tiles outer, frames inner as diffusers, so
 * the device holds one tile's decode at a time; the decoded tiles wait on
 * the host). Tiling changes the output (blended tiles); --vae-tiling forces
 * it.
 *
 * Where the numbers come from (pipeline/component.h): every component's
 * weights are its class's parameter list with the dtypes it keeps for the
 * requested weight dtype (streamed blocks padded as the ring is,
 * pipeline/offload_model.h); activations are its class's activation model
 * for the stage (which includes the driver's buffers: latents, prediction,
 * conditioning). Exact on the CPU backend for the text encoder and the
 * transformer; the Wan VAE decode is an estimate from a measured per-pixel
 * constant (pipeline/comp_wanvae.c). CUDA adds backend-internal scratch
 * (cuBLAS workspace, im2col) that no pool sees; FF_PLAN_CUDA_RESERVE is
 * added to every stage on CUDA. Sizes are rounded as the family's geometry
 * rounds them (the plan describes exactly what renders).
 *
 * Not here: running anything (chain.h), pools (offload/). */
#ifndef FF_PLAN_H
#define FF_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "pipeline/chain.h"

#define FF_PLAN_CUDA_RESERVE ((size_t)512 << 20)

typedef enum { FF_PLAN_NONE = 0, FF_PLAN_MODEL = 1, FF_PLAN_SEQUENTIAL = 2 } ff_plan_offload;

typedef struct {
    int height, width, frames; /* as requested (rounded as the pipeline rounds them) */
    int batch;                 /* videos per call (num_prompts * num_videos_per_prompt) */
    int cfg;                   /* classifier-free guidance (two text embeddings, two calls per step) */
    int text_len;              /* max_sequence_length (512) */
    int steps;                 /* for bytes moved per run (0: 50) */
    ff_dtype dtype;            /* weight storage: FF_BF16 or FF_F32 */
    size_t budget;             /* device bytes; 0: unlimited (plan "none") */
    int cuda;                  /* add FF_PLAN_CUDA_RESERVE per stage */
    int offload;               /* -1 auto, else an ff_plan_offload */
    int group;                 /* sequential k; 0: largest that fits */
    int tiling;                /* -1 auto (never for memory), 0 off, 1 on */
    int text_on_host;          /* -1 auto, 0 device, 1 host */
    int slicing;               /* -1 auto, 0, 1 */
    int tile, tile_stride;     /* VAE tile / stride in pixels (tile_sample_min / stride); 0: 256 / 192.
                                  Auto tiling tries this tile, then smaller ones (largest that fits) */
    const char *pipeline_class; /* plan the folder as this class (ff_chain_opts.pipeline_class); NULL: its own */
} ff_plan_request;

void ff_plan_request_default(ff_plan_request *rq); /* 480x832, 81 frames, batch 1, cfg, 512, bf16, auto */

#define FF_PLAN_MAX_STAGES 8

typedef struct {
    int present;            /* the folder has the stage's component */
    char name[32];          /* the family's stage name: "text_encoder", "transformer", "transformer_2", "vae" */
    ff_stage_kind kind;     /* TEXT, IMAGE, ENCODE, DENOISE, DECODE */
    char strategy[96];
    size_t weights;         /* device bytes of weights during the stage (ring for streamed blocks) */
    size_t activations;     /* device bytes of activations and stage buffers */
    size_t others;          /* weights of other components kept resident (none) */
    size_t peak;            /* predicted device peak of the stage */
    size_t moved_per_step;  /* host -> device bytes per denoising step (streamed blocks) */
    size_t loaded;          /* host -> device bytes when the stage starts */
    size_t host_weights;    /* host bytes of this component's weights (streamed blocks: the non-block
                               weights + one block of staging; the blocks stay in the page cache) */
} ff_plan_stage;

/* A component of the folder, as the plan counted it. */
typedef struct {
    char name[32];          /* model_index.json key: "image_encoder" */
    char class_name[48];    /* its model class: "CLIPVisionModel" */
    int present;
    int64_t params;         /* parameters (elements) of its parameter list */
} ff_plan_component;

typedef struct {
    ff_plan_request rq;     /* after auto choices */
    char pipeline_class[64]; /* the class planned ("WanImageToVideoPipeline") */
    ff_plan_component comp[FF_CHAIN_MAX_COMPONENTS]; /* in model_cpu_offload_seq order */
    int n_components;
    int latent[5];          /* the family's latent layout: Wan (B, C, F, h, w), CogVideoX (B, F, C, h, w) */
    int frame_axis, channel_axis; /* where F and C are in latent */
    ff_plan_offload offload;
    int group;
    int text_on_host, tiling, slicing;
    int tile, tile_stride;  /* when tiling: the VAE tile and stride in pixels (low-memory tiled decode,
                               ff_wanvae_opts.tile_low_memory) */
    ff_plan_stage st[FF_PLAN_MAX_STAGES]; /* the family's stages, in its order */
    int n_stages;
    size_t peak;            /* max over stages */
    int fits;               /* peak <= budget (or no budget) */
    size_t min_budget;      /* smallest budget any strategy fits */
    size_t host_need;       /* predicted host RAM for weights + latents */
} ff_plan;

/* Predicts one fixed strategy (rq->offload etc. must not be -1 / 0 where a
 * choice is needed: auto fields take the defaults off, k 1). */
ff_status ff_plan_predict(const char *model_dir, const ff_plan_request *rq, ff_plan *out, ff_err *err);

/* Picks the cheapest strategy that fits rq->budget (fields forced in rq are
 * kept). When nothing fits: FF_ERR_BUDGET, one line naming the smallest
 * budget that would work, and *out holds the smallest plan. */
ff_status ff_plan_make(const char *model_dir, const ff_plan_request *rq, ff_plan *out, ff_err *err);

/* The largest predicted peak of the present stages of one kind (0: none). */
size_t ff_plan_kind_peak(const ff_plan *p, ff_stage_kind kind);
/* The stage named `name`, NULL when the plan has none. */
const ff_plan_stage *ff_plan_find_stage(const ff_plan *p, const char *name);

const char *ff_plan_offload_name(ff_plan_offload o); /* "none", "model", "sequential" */
/* "none|model|sequential|auto" -> -1 for auto; 0 on success. */
int ff_plan_offload_parse(const char *s, int *out);

#endif
