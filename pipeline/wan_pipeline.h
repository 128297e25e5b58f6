/* wan_pipeline (ff_wan_pipeline_*): diffusers' WanPipeline.__call__ (text to
 * video, Wan 2.1 and Wan 2.2) over a pipeline folder.
 *
 * The component chain of model_index.json: tokenizer -> text_encoder (UMT5,
 * encode_prompt) -> transformer, and for Wan 2.2 A14B transformer_2,
 * switched by boundary_ratio (steps with t >= boundary_ratio *
 * num_train_timesteps use `transformer` with guidance_scale, the others
 * `transformer_2` with guidance_scale_2) -> the scheduler loop -> latent
 * de-normalisation -> the VAE's streaming decode. Classifier-free guidance
 * (guidance_scale > 1) calls the transformer twice per step, the cond batch
 * then the uncond batch, and mixes uncond + g * (cond - uncond) in float32.
 * expand_timesteps (Wan 2.2 TI2V) feeds one timestep per token.
 * num_frames is rounded to 4k+1 as diffusers does (with a warning);
 * height/width must be multiples of 16 and are rounded down to the VAE
 * spatial factor times the transformer patch (with a warning).
 *
 * Components run one after another and by default only the running one is
 * resident: the text encoder is loaded, run and freed, then each
 * transformer for the steps that use it, then the VAE; ff_wan_open_opts.keep
 * keeps chosen components loaded across stages and runs instead. Time and
 * memory per component are recorded in ff_wan_stats.
 *
 * Callbacks: decoded frames arrive chunk by chunk as the VAE's streaming
 * decode produces them (on_frames); on_progress reports each stage and step;
 * on_intermediate hands out every tensor golden checks compare
 * (prompt_embeds, latents per step, noise predictions, vae_decode_input).
 *
 * Not here: offload budgets (offload/), image conditioning (I2V), video
 * files (video/), printing (only the log the caller passes in gets warnings).
 *
 * Ownership: the pipeline borrows its backend (which must outlive it) and
 * log; it owns its parsed configs and, during a run, the component it is
 * running. Tensors passed to callbacks are host tensors valid only during
 * the call. One run at a time per pipeline. */
#ifndef FF_WAN_PIPELINE_H
#define FF_WAN_PIPELINE_H

#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_log.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/wan_vae.h"
#include "pipeline/scheduler.h"

typedef struct ff_wan_pipeline ff_wan_pipeline;

/* Offload (pipeline/offload_dit.h, offload/pool.h), all zero by default:
 * dit_offload selects how the transformer's weights live while it runs
 * (FF_OFFLOAD_RESIDENT copies, or FF_OFFLOAD_STREAM: blocks streamed in
 * groups of dit_group through a ring of 2), used when dit_offload is STREAM
 * or device_pool is set (else ff_wandit_place as before). device_pool, when
 * attached to the backend, gets its label set per stage and block.
 * text_on_host runs the text encoder on a CPU backend of its own (also when
 * the pipeline's backend is the CPU, so that its device pool does not count
 * it).
 * keep is a mask of (1 << ff_wan_component): those components are loaded
 * at their first use and stay loaded (on the backend, or as the block
 * stream's resident part) across stages and across runs of this pipeline
 * object, until ff_wan_pipeline_close (offload "none" is FF_WAN_KEEP_ALL;
 * a farm worker reusing the pipeline loads nothing twice). dit_from_file,
 * when streaming, reads the transformer's blocks from the mmap'd
 * safetensors at each upload (ff_wandit_load_lazy + offload/stream.h
 * block_weights) instead of holding them as host tensors. Every choice
 * gives the same bits. */
typedef struct {
    ff_dtype dit_weight_dtype; /* transformer matrices: FF_F32 (default) or FF_BF16 */
    int dit_offload;           /* ff_offload_mode: 0 resident, 1 stream */
    int dit_group;             /* blocks per upload when streaming (0: 1) */
    int dit_widen;             /* 1: BF16 weights widened to F32 on upload (else as stored) */
    int text_on_host;
    struct ff_pool *device_pool;
    int keep;                  /* components kept loaded (mask of 1 << ff_wan_component) */
    int dit_from_file;         /* streaming: blocks read from the file's mapping at each upload */
} ff_wan_open_opts;

#define FF_WAN_KEEP_ALL 0xf

/* Reads <dir>/model_index.json (_class_name WanPipeline), the scheduler
 * config and every component's config; no weights are loaded yet. Errors
 * name the file: a missing folder or index is FF_ERR_NOT_FOUND, another
 * pipeline class or an unknown scheduler class FF_ERR_UNSUPPORTED, a
 * boundary_ratio without transformer_2 FF_ERR_FORMAT. opts and log may be
 * NULL. */
ff_status ff_wan_pipeline_open(ff_backend *be, const char *dir, const ff_wan_open_opts *opts, const ff_log *log,
                               ff_wan_pipeline **out, ff_err *err);
void ff_wan_pipeline_close(ff_wan_pipeline *p); /* NULL is a no-op */

/* pipe.scheduler = <another scheduler>: later runs use c instead of the
 * folder's scheduler_config.json. */
ff_status ff_wan_pipeline_set_scheduler(ff_wan_pipeline *p, const ff_sched_config *c, ff_err *err);

typedef struct {
    const char *dir;
    int latent_channels;      /* transformer in_channels */
    int vae_scale_temporal;   /* vae scale_factor_temporal */
    int vae_scale_spatial;    /* vae scale_factor_spatial */
    int patch[3];             /* transformer patch_size */
    int video_channels;       /* decoded channels (3) */
    int has_transformer_2;
    int has_boundary;
    double boundary_ratio;
    int expand_timesteps;
    ff_sched_kind scheduler;
    int64_t num_train_timesteps;
} ff_wan_pipeline_info;
void ff_wan_pipeline_get_info(const ff_wan_pipeline *p, ff_wan_pipeline_info *info);

/* The sizes a request really renders at. */
typedef struct {
    int num_frames, height, width;  /* after rounding */
    int frames_rounded, size_rounded; /* 1 when the request was changed */
    int64_t latent_shape[5];        /* (batch, C, (F-1)/st+1, H/ss, W/ss) */
} ff_wan_geometry;

/* Rounds num_frames to 4k+1 (diffusers: F // st * st + 1, at least 1) and
 * checks height/width: FF_ERR_ARG "height 100 is not a multiple of 16" (or
 * not positive), then rounding down to multiples of vae_scale_spatial *
 * patch (FF_ERR_ARG if that leaves 0). No warning is logged here. */
ff_status ff_wan_pipeline_geometry(const ff_wan_pipeline *p, int64_t batch, int num_frames, int height, int width,
                                   ff_wan_geometry *g, ff_err *err);

/* ---- callbacks ----------------------------------------------------------- */

typedef enum { FF_WAN_STAGE_TEXT = 0, FF_WAN_STAGE_DENOISE = 1, FF_WAN_STAGE_DECODE = 2 } ff_wan_stage;

typedef struct {
    ff_wan_stage stage;
    int64_t done, total; /* TEXT: 0 or 1 of 1; DENOISE: steps; DECODE: output frames (per sample) */
    int expert;          /* DENOISE: 1 = transformer, 2 = transformer_2 */
    double timestep;     /* DENOISE: t of the step just done */
    double stage_elapsed_s; /* wall time since the stage began (loading included) */
} ff_wan_progress;

/* Called at the start of each stage (done = 0) and after each step or
 * decoded chunk. A non-OK return stops the run and is passed through. */
typedef ff_status (*ff_wan_progress_fn)(void *user, const ff_wan_progress *pr, ff_err *err);

typedef struct {
    int64_t b0, t0;          /* first batch sample and first output frame of this chunk */
    int64_t batch, num_frames; /* totals of the whole output */
    const ff_tensor *video;  /* (nb, C, nt, H, W) in [-1, 1], as vae.decode returns it */
    const ff_tensor *frames; /* (nb, nt, H, W, C) in [0, 1]: output_type 'np' */
} ff_wan_chunk;
typedef ff_status (*ff_wan_frames_fn)(void *user, const ff_wan_chunk *chunk, ff_err *err);

/* Intermediates, by name (step = -1 unless per step):
 *   "prompt_embeds", "negative_prompt_embeds" (CFG only)   (B, L, D)
 *   "timesteps"                 scheduler.timesteps (N) I64 (UniPC) / F32 (FlowMatch)
 *   "latents_init"              prepare_latents output (B, C, F, h, w)
 *   "transformer_timestep" (i)  the timestep tensor given to the transformer: (B) or (B, seq_len)
 *   "expert_index" (i)          I64 0-dim: 1 = transformer, 2 = transformer_2
 *   "noise_pred_cond" (i), "noise_pred_uncond" (i, CFG only)  raw transformer outputs
 *   "latents" (i)               latents after scheduler step i
 *   "vae_decode_input"          de-normalised final latents */
typedef ff_status (*ff_wan_intermediate_fn)(void *user, const char *name, int64_t step, const ff_tensor *t,
                                            ff_err *err);

/* Called at every denoising step i with the guided noise prediction (the
 * model output the scheduler is about to step with; host F32, the latent
 * shape), which it may change in place, and the current latents (read only).
 * The scheduler step is affine in the model output, so changing it is how a
 * caller averages overlapping latent windows across processes (cluster/)
 * while every window's multistep history stays consistent. */
typedef ff_status (*ff_wan_step_fn)(void *user, int64_t step, ff_tensor *noise_pred, const ff_tensor *latents,
                                    ff_err *err);

/* ---- a run ---------------------------------------------------------------- */

typedef struct {
    const char *const *prompts;   /* n_prompts >= 1 */
    int n_prompts;
    const char *const *negative_prompts; /* NULL/0: "" for every prompt; 1: shared; else n_prompts */
    int n_negative;
    const uint64_t *seeds;        /* 1: one generator for the batch; B*nv: a generator per video */
    int n_seeds;
    const ff_tensor *latents;     /* diffusers' latents=: initial noise, F32 host of exactly the
                                     geometry's latent_shape (seeds are then not used; may be NULL):
                                     the farm passes each chunk its slice of one noise tensor */
    int num_frames, height, width;
    int num_inference_steps;
    double guidance_scale;        /* CFG when > 1 */
    int has_guidance_scale_2;     /* else guidance_scale_2 = guidance_scale */
    double guidance_scale_2;
    int max_sequence_length;
    int num_videos_per_prompt;
    ff_wanvae_opts vae;              /* tiling / slicing of the decode */
    int reset_peak_rss;           /* measure peak RSS per component (resets the process's
                                     peak mark through /proc/self/clear_refs) */
    ff_wan_frames_fn on_frames;   /* may be NULL */
    ff_wan_progress_fn on_progress; /* may be NULL */
    ff_wan_intermediate_fn on_intermediate; /* may be NULL */
    void *user;
    /* Running parts of the pipeline (cluster/ mpirun mode; all unset by default):
     * prompt_embeds / negative_prompt_embeds: diffusers' prompt_embeds= and
     *   negative_prompt_embeds=, F32 host (B, L, D) as the "prompt_embeds" and
     *   "negative_prompt_embeds" intermediates hand them out (negative required
     *   with CFG). The text encoder is not run; prompts are not used (may be
     *   NULL), the batch is B and num_videos_per_prompt must be 1.
     * on_step: see ff_wan_step_fn (may be NULL).
     * out_latents: diffusers' output_type='latent': when set, the final
     *   (normalised) latents are moved into it (owned host F32, the caller
     *   frees it) and the VAE decode is skipped. */
    const ff_tensor *prompt_embeds, *negative_prompt_embeds;
    ff_wan_step_fn on_step;
    ff_tensor *out_latents;
} ff_wan_params;

/* WanPipeline.__call__ defaults: 480x832, 81 frames, 50 steps, guidance 5,
 * max_sequence_length 512, one video per prompt, no tiling; prompts and
 * seeds must still be set. */
void ff_wan_params_default(ff_wan_params *p);

typedef enum {
    FF_WAN_C_TEXT_ENCODER = 0,
    FF_WAN_C_TRANSFORMER,
    FF_WAN_C_TRANSFORMER_2,
    FF_WAN_C_VAE,
    FF_WAN_C_COUNT
} ff_wan_component;

typedef struct {
    int used;
    int loaded;               /* 1: this run loaded it; 0: it was already resident (opts.keep) */
    double load_s, run_s;
    int64_t peak_rss_bytes;   /* peak resident set while this component was loaded (see below) */
    int64_t backend_weight_bytes; /* 0 when the model does not report it */
    int64_t backend_peak_bytes;   /* weights + peak activations, 0 when unknown */
} ff_wan_component_stats;

typedef struct {
    ff_wan_component_stats c[FF_WAN_C_COUNT];
    double total_s;
    int64_t peak_rss_bytes;       /* getrusage ru_maxrss over the run */
    int rss_per_component;        /* 1: peaks were reset per component (/proc/self/clear_refs),
                                     0: each is the process peak so far */
} ff_wan_stats;

const char *ff_wan_component_name(ff_wan_component c); /* "text_encoder", ... */

/* Runs the pipeline. stats may be NULL. */
ff_status ff_wan_pipeline_run(ff_wan_pipeline *p, const ff_wan_params *prm, ff_wan_stats *stats, ff_err *err);

#endif
