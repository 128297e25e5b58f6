/* chain (ff_chain_*): the component chain — a diffusers pipeline folder run
 * by its family table.
 *
 * A family (ff_family, pipeline/family.h) is one const table per diffusers
 * pipeline class, like Redis' dictType: the pipeline class name, its
 * model_cpu_offload_seq, its components in that order (each a model class
 * of pipeline/component.h with its role), its stages for the planner, a
 * geometry function and its __call__ written top to bottom. ff_chain_open
 * picks the family from model_index.json's _class_name (an unknown class is
 * FF_ERR_UNSUPPORTED naming the supported ones), reads every component's
 * config, and hands runs to the family's __call__ over the generic driver:
 *
 *  - components are loaded at their first use and freed after their stage,
 *    or kept loaded across stages and runs (opts.keep, a mask over the
 *    family's components in table order; offload "none" keeps all);
 *  - a block-structured component (one whose class lists its loaded
 *    parameters) is placed through pipeline/offload_model.h: resident copies
 *    counted by an attached device pool, or (opts.stream) its blocks
 *    streamed in groups of opts.group, from the mmap'd file with
 *    opts.from_file; every other component loads onto the backend;
 *  - text encoders run on a CPU backend of their own with opts.text_on_host;
 *  - time, peak RSS and backend bytes per component (ff_chain_stats),
 *    progress per stage, decoded frames chunk by chunk, and the golden
 *    intermediates by name.
 * Every choice renders the same bits.
 *
 * Not here: model math (models/), budgets and the strategy choice
 * (plan.h), video files, printing (only the log given to open gets
 * warnings).
 *
 * Ownership: the chain borrows its backend (which must outlive it) and log;
 * it owns its parsed configs and the components it keeps. Tensors passed to
 * callbacks are host tensors valid only during the call. One run at a time
 * per chain. */
#ifndef FF_CHAIN_H
#define FF_CHAIN_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_log.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "pipeline/component.h"
#include "pipeline/scheduler.h"

#define FF_CHAIN_MAX_COMPONENTS 8
#define FF_CHAIN_KEEP_ALL 0xffu

typedef struct ff_family ff_family;
typedef struct ff_chain ff_chain;
struct ff_pool;

/* Offload choices (all zero by default: one component at a time, weights
 * as loaded, no pool). */
typedef struct {
    ff_dtype weight_dtype;     /* denoiser matrices: FF_F32 (0 = default) or FF_BF16 */
    int stream;                /* block-structured components stream their blocks */
    int group;                 /* blocks per upload when streaming (0: 1) */
    int widen;                 /* BF16 weights widened to F32 on upload */
    int from_file;             /* streaming: blocks read from the file's mapping at each upload */
    int text_on_host;          /* text encoders on a CPU backend of their own */
    struct ff_pool *device_pool; /* attached to the backend: labelled per stage and block */
    unsigned keep;             /* components kept loaded: mask of 1 << component index */
    const char *pipeline_class; /* run the folder as this pipeline class (diffusers'
                                   <Class>.from_pretrained(dir)); NULL: model_index.json's _class_name */
} ff_chain_opts;

/* Reads <dir>/model_index.json, picks the family by _class_name (or
 * opts->pipeline_class), reads the
 * scheduler config and every component's config; loads no weights. be may
 * be NULL for a configs-only chain (plan, init-model checks): it cannot run.
 * Errors name the file: a missing folder or index FF_ERR_NOT_FOUND, an
 * unknown pipeline class or scheduler FF_ERR_UNSUPPORTED, components that
 * do not fit together FF_ERR_SHAPE / FF_ERR_FORMAT. opts and log may be NULL. */
ff_status ff_chain_open(ff_backend *be, const char *dir, const ff_chain_opts *opts, const ff_log *log, ff_chain **out,
                        ff_err *err);
/* What open checks in the files when it has a backend (a chain that can run),
 * before any compute (pipeline/chain_check.c): every present component's
 * weight files open and parse, and every parameter the file holds has the
 * size its config implies (FF_ERR_SHAPE naming the tensor and both shapes). */
ff_status ff_chain_check_files(const ff_chain *c, ff_err *err);
void ff_chain_close(ff_chain *c); /* NULL is a no-op */

const ff_family *ff_chain_family(const ff_chain *c);
const char *ff_chain_dir(const ff_chain *c);
const char *ff_chain_class_name(const ff_chain *c); /* "WanPipeline" */
/* The class to open dir with when an image conditions the video:
 * model_index.json's class when its family takes images, else that
 * family's image-to-video twin (WanPipeline -> WanImageToVideoPipeline, as
 * diffusers users load Wan2.2-TI2V-5B), NULL when there is none; *index_class
 * (may be NULL) gets model_index.json's. Reads only model_index.json. */
ff_status ff_chain_image_class(const char *dir, const char **cls, char *index_class, size_t n, ff_err *err);
const ff_chain_opts *ff_chain_get_opts(const ff_chain *c);

/* Components in the family's order (model_cpu_offload_seq): those the folder
 * has (an optional one it lacks is not present). */
int ff_chain_n_components(const ff_chain *c);
const char *ff_chain_component_name(const ff_chain *c, int i); /* "transformer_2"; "?" out of range */
int ff_chain_component_present(const ff_chain *c, int i);
const ff_model_class *ff_chain_component_class(const ff_chain *c, int i);
const void *ff_chain_component_config(const ff_chain *c, int i);
const char *ff_chain_component_dir(const ff_chain *c, int i);
/* Index of the nth present component with role r, -1 when none. */
int ff_chain_find_role(const ff_chain *c, ff_role r, int nth);

/* A present component loaded on the chain's backend outside a run (cluster/
 * decodes with the VAE). The caller owns *model: ff_chain_component_free. */
ff_status ff_chain_component_load(ff_chain *c, int i, void **model, ff_err *err);
void ff_chain_component_free(const ff_chain *c, int i, void *model);

/* pipe.scheduler = <another scheduler>: later runs use it. */
ff_status ff_chain_set_scheduler(ff_chain *c, const ff_sched_config *cfg, ff_err *err);
const ff_sched_config *ff_chain_scheduler(const ff_chain *c);

/* 1 when runs may take diffusers' prompt_embeds= (ff_chain_params) instead
 * of prompts; 0 when the family needs the prompts themselves (HunyuanVideo:
 * its transformer also takes the Llama mask and the pooled CLIP embedding):
 * cluster/ then encodes the prompt on every rank. */
int ff_chain_takes_prompt_embeds(const ff_chain *c);

/* ---- geometry --------------------------------------------------------------- */

/* The sizes a request really renders at, from the family's geometry. */
typedef struct {
    int num_frames, height, width;    /* after rounding */
    int frames_rounded, size_rounded; /* 1 when the request was changed */
    int64_t latent_shape[5];          /* the family's latent layout */
    int frame_axis, channel_axis;     /* where latent frames / channels are in latent_shape */
    int temporal_factor, spatial_factor; /* VAE compression */
    int patch[3];                     /* denoiser patch (t, h, w) */
} ff_geometry;

/* The family's rounding and checks (FF_ERR_ARG naming the constraint); no
 * warning is logged here. */
ff_status ff_chain_geometry(const ff_chain *c, int64_t batch, int num_frames, int height, int width, ff_geometry *g,
                            ff_err *err);
/* Output frames decoded from n latent frames (Wan: 1 + 4 (n - 1)). */
int64_t ff_chain_pixel_frames(const ff_chain *c, int64_t latent_frames);

/* ---- callbacks ---------------------------------------------------------------- */

/* Stages as progress reports them (the first three keep their numbers: the
 * farm's wire protocol carries them). */
typedef enum {
    FF_STAGE_TEXT = 0,    /* text encoder(s) */
    FF_STAGE_DENOISE = 1, /* the denoising loop */
    FF_STAGE_DECODE = 2,  /* VAE decode */
    FF_STAGE_IMAGE = 3,   /* image encoder (image-to-video) */
    FF_STAGE_ENCODE = 4   /* VAE encode of the condition (image-to-video) */
} ff_stage_kind;

typedef struct {
    ff_stage_kind stage;
    int64_t done, total; /* TEXT: 0 or 1 of 1; DENOISE: steps; DECODE: output frames (per sample) */
    int expert;          /* DENOISE: 1 = the first denoiser, 2 = the second (Wan 2.2 A14B transformer_2) */
    double timestep;     /* DENOISE: t of the step just done */
    double stage_elapsed_s; /* wall time since the stage began (loading included) */
} ff_chain_progress;

/* Called at the start of each stage (done = 0) and after each step or
 * decoded chunk. A non-OK return stops the run and is passed through. */
typedef ff_status (*ff_chain_progress_fn)(void *user, const ff_chain_progress *pr, ff_err *err);

typedef struct {
    int64_t b0, t0;          /* first batch sample and first output frame of this chunk */
    int64_t batch, num_frames; /* totals of the whole output */
    const ff_tensor *video;  /* (nb, C, nt, H, W) in [-1, 1], as vae.decode returns it */
    const ff_tensor *frames; /* (nb, nt, H, W, C) in [0, 1]: output_type 'np' */
} ff_chain_chunk;
typedef ff_status (*ff_chain_frames_fn)(void *user, const ff_chain_chunk *chunk, ff_err *err);

/* Intermediates by name (step = -1 unless per step); each family documents
 * its own (Wan: family_wan.c), the golden cases compare them. */
typedef ff_status (*ff_chain_intermediate_fn)(void *user, const char *name, int64_t step, const ff_tensor *t,
                                              ff_err *err);

/* Called at every denoising step i with the guided prediction (host F32, the
 * latent shape), which it may change in place, and the current latents (read
 * only): the scheduler step is affine in it, so cluster/ averages
 * overlapping latent windows here. */
typedef ff_status (*ff_chain_step_fn)(void *user, int64_t step, ff_tensor *noise_pred, const ff_tensor *latents,
                                      ff_err *err);

/* ---- a run -------------------------------------------------------------------- */

typedef struct {
    const char *const *prompts;   /* n_prompts >= 1 */
    int n_prompts;
    const char *const *negative_prompts; /* NULL/0: "" for every prompt; 1: shared; else n_prompts */
    int n_negative;
    const uint64_t *seeds;        /* 1: one generator for the batch; B*nv: a generator per video */
    int n_seeds;
    const ff_tensor *latents;     /* diffusers' latents=: initial noise, F32 host of exactly the
                                     geometry's latent_shape (seeds are then not used) */
    int num_frames, height, width;
    int num_inference_steps;
    double guidance_scale;        /* CFG when > 1 */
    int has_guidance_scale_2;     /* two-expert families: else guidance_scale_2 = guidance_scale */
    double guidance_scale_2;
    int max_sequence_length;
    int num_videos_per_prompt;
    int use_dynamic_cfg;          /* CogVideoX: guidance grows over the steps (use_dynamic_cfg); others ignore it */
    const ff_tensor *image;       /* image-to-video families: U8 host (1, H, W, 3); else must be NULL */
    double true_cfg_scale;        /* HunyuanVideo: true CFG when > 1 and a negative prompt is given
                                     (its default 1.0: embedded guidance only); others ignore it */
    const char *prompt_template;  /* HunyuanVideo: prompt_template["template"] (NULL: diffusers' default) */
    int crop_start;               /* HunyuanVideo: prompt_template["crop_start"] (-1: computed from the
                                     tokenizer; the default 95 is the published Llama-3 tokenizer's) */
    ff_vae_opts vae;              /* tiling / slicing of the VAE */
    int reset_peak_rss;           /* measure peak RSS per component (/proc/self/clear_refs) */
    ff_chain_frames_fn on_frames; /* may be NULL */
    ff_chain_progress_fn on_progress; /* may be NULL */
    ff_chain_intermediate_fn on_intermediate; /* may be NULL */
    void *user;
    /* Running parts of the pipeline (cluster/ mpirun mode; all unset by default):
     * prompt_embeds / negative_prompt_embeds: diffusers' prompt_embeds= and
     *   negative_prompt_embeds= (F32 host, as the intermediates of those names
     *   hand them out; the negative one required with CFG): the text encoder
     *   does not run, prompts may be NULL, num_videos_per_prompt must be 1.
     * on_step: see ff_chain_step_fn.
     * out_latents: output_type='latent': the final latents are moved into it
     *   (owned host F32, the caller frees it) and the VAE decode is skipped.
     * window_num_frames > 0 (image to video in time windows): this run is
     *   latent frames [window_start, window_start + n) of a video of
     *   window_num_frames pixel frames (num_frames is the window's, latents
     *   its noise); the image conditioning is built for the whole video and
     *   sliced, so each window is conditioned as that frame range of the
     *   single run. */
    const ff_tensor *prompt_embeds, *negative_prompt_embeds;
    ff_chain_step_fn on_step;
    ff_tensor *out_latents;
    /* Another thread sets *cancel (non-zero) to stop the run at the next
     * block boundary of a denoiser forward (and at every stage, step and
     * decoded chunk): ff_chain_run then fails with FF_ERR_ARG "cancelled"
     * within one transformer block, not one whole step. NULL: never. */
    const atomic_int *cancel;
    int64_t window_start;
    int window_num_frames;
} ff_chain_params;

/* The family's __call__ defaults (Wan: 480x832, 81 frames, 50 steps,
 * guidance 5, max_sequence_length 512, one video per prompt, no tiling);
 * prompts and seeds must still be set. */
void ff_chain_params_default(const ff_chain *c, ff_chain_params *p);

typedef struct {
    int used;
    int loaded;               /* loads by this run (0: it was already resident, opts.keep) */
    double load_s, run_s;
    int64_t peak_rss_bytes;   /* peak resident set while this component was loaded */
    int64_t backend_weight_bytes; /* 0 when unknown */
    int64_t backend_peak_bytes;   /* weights + peak activations, 0 when unknown */
} ff_component_stats;

typedef struct {
    ff_component_stats c[FF_CHAIN_MAX_COMPONENTS]; /* by component index */
    double total_s;
    int64_t peak_rss_bytes;       /* getrusage ru_maxrss over the run */
    int rss_per_component;        /* 1: peaks were reset per component, 0: each is the process peak so far */
} ff_chain_stats;

/* VAE tiling options a run can use: sizes >= 1 and the stride at most the
 * tile (FF_ERR_ARG); ff_chain_run checks prm->vae with it before any work. */
ff_status ff_chain_check_vae_opts(const ff_chain *c, const ff_vae_opts *o, ff_err *err);

/* Runs the family's __call__. stats may be NULL. */
ff_status ff_chain_run(ff_chain *c, const ff_chain_params *prm, ff_chain_stats *stats, ff_err *err);

#endif
