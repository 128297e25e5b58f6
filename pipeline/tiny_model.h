/* tiny_model (ff_tiny_*): the embedded default models, SMOKE-TEST models.
 *
 * Writes a family's tiny pipeline folder (the family table's ff_tiny_spec,
 * pipeline/family.h) as the diffusers repositories lay it out:
 * model_index.json, scheduler/scheduler_config.json, every component's
 * config.json and weights under the real names and shapes (derived from the
 * config by the component class's parameter list, so the strict loaders
 * accept them), and a text encoder's tokenizer written by its class. Weights
 * are seeded random values (torch-compatible randn, fixed seed per
 * component). The same version always writes the same bytes.
 *
 * "tiny" is the Wan 2.1-layout model render uses without --model: UMT5
 * (tokenizer: a sentencepiece unigram spiece.model generated here in the
 * protobuf wire format, identity normalisation, ~360 pieces: <pad> </s> <s>
 * <unk>, common English words, printable ASCII with and without the U+2581
 * word prefix), UniPC with flow_shift 3, 128x128 / 17 frames / 10 steps and
 * VAE tiles of 64 px (smaller than the frame) in "_framefarm_defaults".
 * model_index carries "_framefarm_model" (that label) and
 * "_framefarm_tiny_version", which diffusers ignores (keys starting with "_").
 * Its videos are noise-like: it exists so that `framefarm render` works out
 * of the box and exercises every stage in well under a minute on two CPU
 * cores.
 *
 * Not here: rendering (chain.h), anything a real model needs. */
#ifndef FF_TINY_MODEL_H
#define FF_TINY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"

#define FF_TINY_DEFAULT "tiny" /* the model render uses without --model */

/* The serialized spiece.model (malloc'd, caller frees). */
ff_status ff_tiny_spm_model(uint8_t **buf, size_t *n, ff_err *err);

/* The T5 tokenizer files of the tiny models (spiece.model,
 * tokenizer_config.json, special_tokens_map.json) into the folder dir. */
ff_status ff_tiny_t5_tokenizer_write(const char *dir, ff_err *err);

/* Writes the embedded model `name` into dir (parents are created); an
 * unknown name is FF_ERR_ARG naming the embedded ones. dir must be absent or
 * empty, or (with replace) hold an earlier framefarm tiny model, which is
 * then replaced; anything else is FF_ERR_ARG (never deletes a folder it did
 * not write). The folder appears atomically (written beside it, then
 * renamed). */
ff_status ff_tiny_model_create(const char *name, const char *dir, int replace, ff_err *err);

/* 1 when dir holds the embedded model `name` of this version. */
int ff_tiny_model_current(const char *name, const char *dir);

/* Creates dir unless it already holds the current tiny model; *created
 * (may be NULL) says whether it wrote one. */
ff_status ff_tiny_model_ensure(const char *name, const char *dir, int *created, ff_err *err);

/* The default folder: $XDG_CACHE_HOME/framefarm/tiny, else
 * $HOME/.cache/framefarm/tiny. */
ff_status ff_tiny_model_default_dir(char *buf, size_t n, ff_err *err);

#endif
