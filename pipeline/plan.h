/* plan (ff_plan_*): the memory planner. From a pipeline folder's configs
 * alone (no weights needed), the requested size / frames, the weight dtype
 * and a device budget, it predicts the peak device bytes of each stage of
 * WanPipeline (text encoder, transformer(s), VAE decode) under each
 * strategy and picks the cheapest that fits:
 *   none        every component resident at once (no moves at all)
 *   model       component offload: one component resident at a time
 *   sequential  component offload + the transformer's blocks streamed in
 *               groups of k (largest k that fits; ring of 2)
 * and, for stages that still do not fit: the text encoder on the host CPU
 * backend (its output is uploaded), VAE slicing (batch > 1), then VAE tiling
 * with the largest tile that fits (the low-memory tiled decode,
 * ff_wanvae_opts.tile_low_memory: tiles outer, frames inner as diffusers, so
 * the device holds one tile's decode at a time; the decoded tiles wait on
 * the host). Tiling changes the output (blended tiles); --vae-tiling forces
 * it.
 *
 * Where the numbers come from:
 *  - transformer weights: ff_wandit_params + the host storage dtype of
 *    ff_wandit_load_as (BF16 matrices, F32 rest), padded per block as the ring
 *    is (pipeline/offload_dit.h); activations: ff_wandit_activation_bytes plus
 *    the pipeline's latents/prediction/text buffers. Exact on the CPU backend.
 *  - text encoder: ff_umt5_params (matrices BF16 when dtype is BF16, the
 *    embedding and norms F32, as ff_umt5_load keeps them) + the buffers
 *    ff_umt5_forward allocates (exact).
 *  - VAE: ff_wanvae_params (F32) + decode activations from a per-pixel constant:
 *    FF_PLAN_VAE_BYTES_PER_PX_CH bytes per latent pixel per decoder base
 *    channel (measured on the tiny Wan 2.1 VAE, base 8, whose streamed decode
 *    peak is flat in frames and linear in pixels; every decoder width scales
 *    with the base channel count). An estimate, not an exact count. Tiled:
 *    the same constant over the largest tile's pixels, or, when larger, the
 *    blend phase (each chunk's tiles and the full chunk frame, output
 *    channels x frames per chunk, times factors measured on the tiny VAE);
 *    within 10% of the measured pool peak there (tests/offload).
 * CUDA adds backend-internal scratch (cuBLAS workspace, im2col) that no
 * pool sees; FF_PLAN_CUDA_RESERVE is added to every stage on CUDA.
 *
 * Not here: running anything (pipeline/wan_pipeline.h), pools (offload/). */
#ifndef FF_PLAN_H
#define FF_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"

#define FF_PLAN_VAE_BYTES_PER_PX_CH 11428 /* 91424 B per latent pixel at base_dim 8 */
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
} ff_plan_request;

void ff_plan_request_default(ff_plan_request *rq); /* 480x832, 81 frames, batch 1, cfg, 512, bf16, auto */

enum { FF_PLAN_TEXT = 0, FF_PLAN_DIT1, FF_PLAN_DIT2, FF_PLAN_VAE, FF_PLAN_STAGES };

typedef struct {
    int present;
    char name[32];          /* "text_encoder", "transformer", "transformer_2", "vae" */
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

typedef struct {
    ff_plan_request rq;     /* after auto choices */
    int latent[5];          /* (B, C, F, h, w) */
    ff_plan_offload offload;
    int group;
    int text_on_host, tiling, slicing;
    int tile, tile_stride;  /* when tiling: the VAE tile and stride in pixels (low-memory tiled decode,
                               ff_wanvae_opts.tile_low_memory) */
    ff_plan_stage st[FF_PLAN_STAGES];
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

const char *ff_plan_offload_name(ff_plan_offload o); /* "none", "model", "sequential" */
/* "none|model|sequential|auto" -> -1 for auto; 0 on success. */
int ff_plan_offload_parse(const char *s, int *out);

#endif
