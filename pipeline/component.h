/* component (ff_model_class, ff_*_ops): what the component chain knows
 * about one model implementation — the role it plays in a pipeline and that
 * role's run interface, its config reader, its parameter list (models/
 * ff_param.h, with block indices for streaming), its activation-bytes model
 * for the planner, and load / free. One const ff_model_class per model class
 * (UMT5EncoderModel, WanTransformer3DModel, AutoencoderKLWan, ...); the
 * family tables of pipeline/chain.h name them per component, and the generic
 * driver, the planner, offload and init-model only ever go through them.
 *
 * Roles (diffusers' component kinds, sd.cpp's conditioner / diffusion model /
 * VAE):
 *   FF_ROLE_TEXT_ENCODER   prompts -> embeddings (+ mask, + pooled); the
 *                          tokenizer is part of the loaded component
 *   FF_ROLE_IMAGE_ENCODER  images -> image embeddings (CLIP vision)
 *   FF_ROLE_DENOISER       (latents, timestep, conditioning) -> prediction,
 *                          block by block with enter/leave hooks
 *   FF_ROLE_VAE            latents <-> video: streaming decode, encode,
 *                          (de)normalisation, tiling/slicing per call
 *
 * Not here: which components a pipeline has and in what order (a family
 * table, chain.h), placement policy (the driver, offload_model.h), budgets.
 *
 * Ownership: a loaded model (void *) is owned by whoever called load and is
 * released with the same class's free; it borrows the backend it was loaded
 * on. Tensors returned by role calls are owned host tensors unless stated. */
#ifndef FF_COMPONENT_H
#define FF_COMPONENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_model_dir.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"

/* models/ff_param.h's record: the pipeline's users (worker/, cluster/) see
 * models only through pipeline/, so this header names it without including it. */
typedef struct ff_param ff_param;

typedef enum {
    FF_ROLE_TEXT_ENCODER = 0,
    FF_ROLE_IMAGE_ENCODER,
    FF_ROLE_DENOISER,
    FF_ROLE_VAE,
    FF_ROLE_COUNT
} ff_role;

const char *ff_role_name(ff_role r); /* "text encoder", "image encoder", "denoiser", "vae" */

/* Called around each block of a block-structured forward pass (the ff_param
 * block index): enter may make block i's weights usable on the backend,
 * leave releases them. */
typedef struct {
    ff_status (*enter)(void *user, int block, ff_err *err);
    void (*leave)(void *user, int block);
    void *user;
} ff_block_hooks;

/* The models' per-block callbacks of the common shape (user, block, its
 * parameters, their count, err) over an ff_block_hooks passed as user:
 * what a component gives a model's forward so the placement's hooks run
 * around each block (T5, Llama, CLIP text, HunyuanVideo transformer). */
ff_status ff_block_hooks_enter_params(void *hooks, int block, ff_param *ps, size_t n, ff_err *err);
ff_status ff_block_hooks_leave_params(void *hooks, int block, ff_param *ps, size_t n, ff_err *err);

/* ---- text encoder ----------------------------------------------------------- */

typedef struct {
    const char *const *prompts; /* n >= 1 */
    int n;
    int num_videos_per_prompt;  /* each prompt's rows repeated consecutively */
    int max_sequence_length;
    /* encoders that wrap the prompt in a template (HunyuanVideo's Llama):
     * the template (NULL: the encoder's default) and the index of the first
     * prompt token (-1: computed from the tokenizer); others ignore them */
    const char *prompt_template;
    int crop_start;
} ff_text_request;

typedef struct {
    ff_tensor embeds; /* F32 host (n * nv, L, D) */
    ff_tensor mask;   /* I64 host (n * nv, L) attention mask; empty when the family does not use it */
    ff_tensor pooled; /* F32 host (n * nv, D_pooled); empty for encoders without a pooled output */
} ff_text_embeds;

void ff_text_embeds_free(ff_text_embeds *e);

typedef struct {
    /* The family's _get_*_prompt_embeds for one list of prompts (CFG calls it
     * again for the negative prompts). hooks: a block-structured encoder's
     * block enter/leave (the Llama encoder streamed by blocks), NULL when its
     * weights are all usable on its backend. */
    ff_status (*encode)(void *model, const ff_text_request *rq, const ff_block_hooks *hooks, ff_text_embeds *out,
                        ff_err *err);
} ff_text_encoder_ops;

/* ---- image encoder ---------------------------------------------------------- */

typedef struct {
    /* images: n host U8 (H, W, 3) as read; out: F32 host (n, tokens, D) as
     * the family conditions on it (CLIP: hidden_states[-2]). The encoder's
     * own image processor (resize, crop, normalise) runs inside. */
    ff_status (*encode)(void *model, const ff_tensor *images, int n, const ff_block_hooks *hooks, ff_tensor *out,
                        ff_err *err);
    /* The processor alone, for intermediates (may be NULL): pixel_values
     * owned F32 (n, 3, S, S); resized (may be NULL) the owned U8 resize
     * output of image 0 (empty when the resize was the identity). */
    ff_status (*preprocess)(void *model, const ff_tensor *images, int n, ff_tensor *pixel_values, ff_tensor *resized,
                            ff_err *err);
} ff_image_encoder_ops;

/* ---- denoiser ---------------------------------------------------------------- */

/* One forward's inputs; fields a model does not take are NULL. */
typedef struct {
    const ff_tensor *x;        /* backend F32, the family's latent layout (+ conditioning channels) */
    const ff_tensor *timestep; /* HOST (B) or (B, tokens) */
    const ff_tensor *text;     /* backend F32 (B, L, D) */
    const ff_tensor *text_mask; /* HOST I64 (B, L) */
    const ff_tensor *pooled;   /* backend F32 (B, D_pooled) */
    const ff_tensor *image;    /* backend F32 (B, tokens, D_image) */
    const ff_tensor *guidance; /* HOST F32 (B) embedded guidance */
} ff_denoiser_in;

typedef struct {
    /* Output shape for an input x of x_shape (the model's unpatchify). */
    ff_status (*out_shape)(const void *cfg, const int64_t *x_shape, int ndim, int64_t *out_shape, ff_err *err);
    /* hooks may be NULL: then every block's weights must be usable by be. */
    ff_status (*forward)(void *model, ff_backend *be, const ff_denoiser_in *in, const ff_block_hooks *hooks,
                         ff_tensor *out, ff_err *err);
} ff_denoiser_ops;

/* ---- VAE -------------------------------------------------------------------- */

/* Per-call decode/encode options (diffusers enable_tiling / enable_slicing
 * and their tile sizes); a VAE ignores what it does not have. */
typedef struct {
    int tiling;                    /* spatial tiling */
    int tile_sample_min_height, tile_sample_min_width;       /* pixels (256) */
    int tile_sample_stride_height, tile_sample_stride_width; /* pixels (192) */
    int tile_low_memory;           /* tiles outer, frames inner (one tile's device peak) */
    int slicing;                   /* batch samples one at a time */
    int temporal_tiling;           /* tiles in time too (HunyuanVideo) */
    int tile_sample_min_num_frames, tile_sample_stride_num_frames; /* 0: the VAE's default */
} ff_vae_opts;

void ff_vae_opts_default(ff_vae_opts *o); /* no tiling, 256/192 px tiles, no slicing */

/* A decoded chunk: host (nb, C, nt, H, W) in [-1, 1], samples [b0, b0+nb),
 * output frames [t0, t0+nt); valid during the call. */
typedef ff_status (*ff_vae_chunk_fn)(void *user, int64_t b0, int64_t t0, const ff_tensor *video, ff_err *err);

/* The space-split decode of cluster/ (the tiled decode taken apart): a tile
 * grid made from the config alone, a rank's tiles decoded frame by frame,
 * every tile of a frame blended as the single-process tiled decode does. */
typedef struct {
    ff_status (*grid_make)(const void *cfg, int64_t h, int64_t w, const ff_vae_opts *o, void **grid, int *n_tiles,
                           ff_err *err);
    void (*grid_free)(void *grid);
    ff_status (*tiles_create)(void *model, const void *grid, int t0, int n, void **tiles, ff_err *err);
    /* raw[0..n) (this object's tiles) of latent frame k, frames in order from 0 */
    ff_status (*tiles_decode_frame)(void *tiles, const ff_tensor *z, int64_t k, ff_tensor *raw, ff_err *err);
    ff_status (*tiles_blend)(void *model, const void *grid, const ff_tensor *raw, ff_tensor *video, ff_err *err);
    void (*tiles_free)(void *tiles);
} ff_vae_dist_ops;

typedef struct {
    /* the pipeline's latents -> the decoder's input (scale / shift) */
    ff_status (*denormalize)(void *model, const ff_tensor *latents, ff_tensor *z, ff_err *err);
    /* the encoder's output -> the pipeline's latents */
    ff_status (*normalize)(void *model, const ff_tensor *x, ff_tensor *out, ff_err *err);
    ff_status (*decode_shape)(void *model, const ff_tensor *z, int64_t shape[5], ff_err *err);
    ff_status (*decode_stream)(void *model, const ff_tensor *z, const ff_vae_opts *o, ff_vae_chunk_fn fn, void *user,
                               ff_err *err);
    /* video host F32 (B, C, T, H, W) in [-1, 1] -> posterior mean (and logvar, may be NULL) */
    ff_status (*encode)(void *model, const ff_tensor *video, const ff_vae_opts *o, ff_tensor *mean, ff_tensor *logvar,
                        ff_err *err);
    /* postprocess_video(output_type='np'): (B, C, T, H, W) -> (B, T, H, W, C) in [0, 1] */
    ff_status (*postprocess)(void *model, const ff_tensor *video, ff_tensor *frames, ff_err *err);
    /* backend bytes: weights, and the peak of the runs since mem_reset */
    void (*mem)(const void *model, size_t *weight_bytes, size_t *run_peak_bytes);
    void (*mem_reset)(void *model);
    const ff_vae_dist_ops *dist; /* NULL: no space-split decode */
} ff_vae_ops;

/* ---- the model class ---------------------------------------------------------- */

/* What load gets. */
typedef struct {
    ff_backend *be;            /* the backend the model will run on */
    const char *dir;           /* the component folder */
    const char *tokenizer_dir; /* text encoders: the tokenizer folder; image encoders: the image
                                  processor's; else NULL */
    ff_dtype weight_dtype;     /* denoisers: the big matrices' dtype (F32 or BF16) */
    int host_weights;          /* block-structured models: keep weights on the host (the driver places or
                                  streams them); else the model loads onto be */
    ff_weights **lazy;         /* non-NULL: leave the blocks in the file, mapped; *lazy gets the mapping
                                  (owned by the caller, freed after the model) */
} ff_load_request;

/* The planner's question to a component: device bytes of one stage's
 * activations (weights excluded), including the buffers the driver keeps on
 * the device for the call (inputs, outputs, conditioning). */
typedef enum {
    FF_ACTIVITY_TEXT = 0,
    FF_ACTIVITY_IMAGE,
    FF_ACTIVITY_DENOISE,
    FF_ACTIVITY_VAE_DECODE,
    FF_ACTIVITY_VAE_ENCODE
} ff_activity_kind;

typedef struct {
    ff_activity_kind kind;
    int64_t batch;            /* TEXT/IMAGE: sequences encoded in one call */
    int64_t text_len;         /* TEXT: tokens; DENOISE: conditioning rows */
    int64_t text_dim;         /* DENOISE: conditioning width (the text encoder's output) */
    int64_t latent[5];        /* DENOISE / VAE: the latent shape in the family's layout */
    int cfg;                  /* DENOISE: conditioning buffers for cond and uncond */
    int per_token;            /* DENOISE: one timestep per token */
    int64_t image_len;        /* DENOISE: image context rows per sample (Wan 2.1 I2V); 0: none or the
                                 model's usual (the planner does not know the image encoder's) */
    ff_vae_opts vae;          /* VAE: tiling (low-memory order) and slicing as planned */
} ff_act_query;

typedef struct ff_model_class {
    const char *class_name;   /* as model_index.json names it: "WanTransformer3DModel" */
    ff_role role;
    size_t config_size;       /* bytes of the parsed config */
    /* component folder -> parsed config (config_size bytes at cfg) */
    ff_status (*config_read)(const char *component_dir, void *cfg, ff_err *err);
    /* the parameter list from the config alone, dtypes as loaded with weight_dtype (slots NULL) */
    ff_status (*params)(const void *cfg, ff_dtype weight_dtype, ff_param **out, size_t *n, ff_err *err);
    ff_status (*act_bytes)(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err);
    ff_status (*load)(const ff_load_request *rq, void **model, ff_err *err);
    void (*free)(void *model);
    /* block-structured models only (else NULL): the loaded model's parameters with slots, for
       placement and block streaming (offload_model.h) */
    ff_status (*model_params)(void *model, ff_param **out, size_t *n, ff_err *err);
    /* block-structured models: every weight onto be (a no-op for host backends), the resident run
       without a pool */
    ff_status (*place)(void *model, ff_backend *be, ff_err *err);
    /* the checkpoint file init-model writes ("diffusion_pytorch_model.safetensors") */
    const char *weights_file;
    /* init-model: per-parameter scale of its seeded random weights (NULL: 1) */
    float (*init_gain)(const void *cfg, const ff_param *p);
    /* init-model, text encoders: writes a small tokenizer of this encoder's kind into dir */
    ff_status (*tiny_tokenizer)(const char *dir, ff_err *err);
    /* the role's run interface: ff_text_encoder_ops, ff_image_encoder_ops, ff_denoiser_ops or ff_vae_ops */
    const void *ops;
} ff_model_class;

#define FF_TEXT_OPS(cls) ((const ff_text_encoder_ops *)(cls)->ops)
#define FF_IMAGE_OPS(cls) ((const ff_image_encoder_ops *)(cls)->ops)
#define FF_DENOISER_OPS(cls) ((const ff_denoiser_ops *)(cls)->ops)
#define FF_VAE_OPS(cls) ((const ff_vae_ops *)(cls)->ops)

/* <component_dir>/config.json into buf (FF_ERR_ARG when it does not fit):
 * the file the config readers of the component classes read. */
ff_status ff_comp_config_path(const char *component_dir, char *buf, size_t n, ff_err *err);

/* Sums the bytes of a parameter list (each entry's numel * dtype size). */
size_t ff_params_bytes(const ff_param *ps, size_t n);

/* The model classes framefarm implements (pipeline/comp_*.c). */
extern const ff_model_class ff_comp_umt5;   /* UMT5EncoderModel + T5Tokenizer (text encoder) */
extern const ff_model_class ff_comp_wandit; /* WanTransformer3DModel (denoiser) */
extern const ff_model_class ff_comp_wanvae; /* AutoencoderKLWan (VAE) */
extern const ff_model_class ff_comp_clipvision; /* CLIPVisionModel + CLIPImageProcessor (image encoder) */
extern const ff_model_class ff_comp_t5;     /* T5EncoderModel + T5Tokenizer (text encoder, CogVideoX) */
extern const ff_model_class ff_comp_cogdit; /* CogVideoXTransformer3DModel (denoiser) */
extern const ff_model_class ff_comp_cogvae; /* AutoencoderKLCogVideoX (VAE) */
extern const ff_model_class ff_comp_llama;    /* LlamaModel + LlamaTokenizer(Fast) (text encoder, block-structured) */
extern const ff_model_class ff_comp_cliptext; /* CLIPTextModel + CLIPTokenizer (text encoder, pooled output) */
extern const ff_model_class ff_comp_hydit;    /* HunyuanVideoTransformer3DModel (denoiser) */
extern const ff_model_class ff_comp_hyvae;    /* AutoencoderKLHunyuanVideo (VAE) */

#endif
