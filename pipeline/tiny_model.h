/* tiny_model (ff_tiny_*): the embedded default model, a SMOKE-TEST model.
 *
 * Writes a small Wan 2.1-layout pipeline folder, as the Wan-AI *-Diffusers
 * repositories lay it out: model_index.json (WanPipeline),
 * scheduler/scheduler_config.json (UniPC, flow_shift 3 as Wan 2.1 480p),
 * tokenizer/ (a sentencepiece unigram spiece.model generated here in the
 * protobuf wire format, identity normalisation, ~360 pieces: <pad> </s> <s>
 * <unk>, common English words, printable ASCII with and without the U+2581
 * word prefix; tokenizer_config.json, special_tokens_map.json),
 * text_encoder/ (UMT5 config.json + model.safetensors), transformer/ and
 * vae/ (config.json + diffusion_pytorch_model.safetensors). Weights are
 * seeded random values (torch-compatible randn, fixed seed) under the real
 * diffusers names and shapes, derived from each config by ff_umt5_params,
 * ff_wandit_params and ff_wanvae_params, so the strict loaders accept them. The
 * same version always writes the same bytes.
 *
 * Its videos are noise-like: it exists so that `framefarm render` works out
 * of the box and exercises every stage (CFG, UniPC, VAE temporal chunking
 * and spatial tiling) in well under a minute on two CPU cores. model_index
 * carries "_framefarm_model" (that label), "_framefarm_tiny_version" and
 * "_framefarm_defaults" (128x128, 17 frames, 10 steps, 16 fps, VAE tiles of
 * 64 px with stride 48: smaller than the frame), which diffusers ignores
 * (keys starting with "_").
 *
 * Not here: rendering (wan_pipeline.h), anything a real model needs. */
#ifndef FF_TINY_MODEL_H
#define FF_TINY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"

#define FF_TINY_MODEL_VERSION 1

/* The serialized spiece.model (malloc'd, caller frees). */
ff_status ff_tiny_spm_model(uint8_t **buf, size_t *n, ff_err *err);

/* Writes the model into dir (parents are created). dir must be absent or
 * empty, or (with replace) hold an earlier framefarm tiny model, which is
 * then replaced; anything else is FF_ERR_ARG (never deletes a folder it did
 * not write). The folder appears atomically (written beside it, then
 * renamed). */
ff_status ff_tiny_model_create(const char *dir, int replace, ff_err *err);

/* 1 when dir holds a tiny model of this version. */
int ff_tiny_model_current(const char *dir);

/* Creates dir unless it already holds the current tiny model; *created
 * (may be NULL) says whether it wrote one. */
ff_status ff_tiny_model_ensure(const char *dir, int *created, ff_err *err);

/* The default folder: $XDG_CACHE_HOME/framefarm/tiny, else
 * $HOME/.cache/framefarm/tiny. */
ff_status ff_tiny_model_default_dir(char *buf, size_t n, ff_err *err);

#endif
