/* ff_model_dir / ff_weights: reading a diffusers pipeline folder, as the
 * Wan-AI "*-Diffusers" repositories and save_pretrained() lay it out.
 *
 *   <dir>/model_index.json             _class_name, components, scalar options
 *   <dir>/<component>/config.json      (scheduler: scheduler_config.json)
 *   <dir>/<component>/NAME.safetensors   one file, or shards listed by a
 *   <dir>/<component>/NAME.safetensors.index.json  ({"weight_map": {tensor: shard}})
 *
 * ff_model_dir reads model_index.json: "_class_name" (required string), and
 * every member whose value is a two-element array of strings or nulls is a
 * component: ["diffusers", "AutoencoderKLWan"] is present, [null, null] is
 * absent (as diffusers writes an unused transformer_2). Members starting with
 * "_" are bookkeeping; all other members (boundary_ratio, expand_timesteps,
 * ...) are left for the caller to read from ff_model_dir_index().
 *
 * ff_weights is one component's weights: a single .safetensors file or a
 * sharded set, opened and validated once, presented as one name-sorted table
 * of tensors. Sharded sets contain exactly the tensors weight_map lists; each
 * shard is opened once, must be a plain file name inside the component folder
 * (no "/", no ".."), and must hold every tensor mapped to it.
 *
 * Not here: what the configs mean (models/, pipeline/), tokenizer files,
 * downloading, variants (fp16 files) other than as explicit file paths,
 * device placement of weights (offload/).
 *
 * Ownership: ff_model_dir owns its path and its parsed model_index.json;
 * strings and ff_json nodes it returns live until ff_model_dir_close.
 * ff_component_config* hand back an ff_json_doc the caller frees with
 * ff_json_free. ff_weights owns its open ff_st_files; the ff_st_file and
 * ff_st_entry pointers and names it hands out live until ff_weights_free;
 * ff_weights_load returns an owned tensor (ff_tensor_free). A weights set
 * does not depend on the ff_model_dir it came from (either may be closed
 * first). Nothing here mutates after open, so concurrent readers are safe. */
#ifndef FF_MODEL_DIR_H
#define FF_MODEL_DIR_H

#include <stddef.h>

#include "ff_err.h"
#include "ff_json.h"
#include "ff_safetensors.h"
#include "ff_tensor.h"

/* ---- the pipeline folder -------------------------------------------- */

typedef struct ff_model_dir ff_model_dir;

/* Parses <path>/model_index.json. FF_ERR_NOT_FOUND when path or the index is
 * missing, FF_ERR_FORMAT when it is not a pipeline index (no _class_name, a
 * half-null component, a component name that is not a plain folder name). */
ff_status ff_model_dir_open(const char *path, ff_model_dir **out, ff_err *err);
void ff_model_dir_close(ff_model_dir *md); /* NULL is a no-op */

const char *ff_model_dir_path(const ff_model_dir *md);  /* as given to open */
const char *ff_model_dir_class(const ff_model_dir *md); /* "_class_name", e.g. "WanPipeline" */
/* Root object of model_index.json, for scalar entries:
 * ff_json_get_double(ff_model_dir_index(md), "boundary_ratio", 0, &r). */
const ff_json *ff_model_dir_index(const ff_model_dir *md);

/* Present (non-null) components in model_index.json order. */
size_t ff_model_dir_component_count(const ff_model_dir *md);
const char *ff_model_dir_component_name(const ff_model_dir *md, size_t i); /* NULL when i >= count */
/* 1 when `name` is a present component, 0 when absent, null or not listed. */
int ff_model_dir_has(const ff_model_dir *md, const char *name);
/* Library and class of a present component (lib/cls may be NULL).
 * FF_ERR_NOT_FOUND naming the folder when it is not listed or [null, null]. */
ff_status ff_model_dir_component(const ff_model_dir *md, const char *name, const char **lib, const char **cls,
                                 ff_err *err);
/* "<dir>/<name>" into buf (FF_ERR_NOT_FOUND for absent components,
 * FF_ERR_ARG when buf is too small). */
ff_status ff_model_dir_component_dir(const ff_model_dir *md, const char *name, char *buf, size_t n, ff_err *err);

/* The component's config: <dir>/<name>/config.json, or scheduler_config.json
 * when there is no config.json. The component must be present. */
ff_status ff_component_config(const ff_model_dir *md, const char *name, ff_json_doc **out, ff_err *err);
/* Same for a component folder given by path (no model_index.json needed). */
ff_status ff_component_config_dir(const char *component_dir, ff_json_doc **out, ff_err *err);

/* ---- a component's weights ------------------------------------------- */

typedef struct ff_weights ff_weights;

/* path is a component folder, a .safetensors file or a
 * *.safetensors.index.json file. In a folder the first that exists wins:
 *   diffusion_pytorch_model.safetensors.index.json, diffusion_pytorch_model.safetensors,
 *   model.safetensors.index.json, model.safetensors,
 *   the only *.safetensors.index.json, the only *.safetensors
 * (several candidates of the last two kinds is an FF_ERR_FORMAT error;
 * none is FF_ERR_NOT_FOUND). Every file is opened and validated here. */
ff_status ff_weights_open(const char *path, ff_weights **out, ff_err *err);
/* Weights of a present component of md: ff_weights_open("<dir>/<name>"). */
ff_status ff_model_dir_weights(const ff_model_dir *md, const char *name, ff_weights **out, ff_err *err);
void ff_weights_free(ff_weights *w); /* closes every shard; NULL is a no-op */

const char *ff_weights_path(const ff_weights *w);  /* as given to open */
/* The index file when sharded, else NULL. */
const char *ff_weights_index_path(const ff_weights *w);
/* Shards sorted by file name (1 for a single file, 0 for an empty weight_map). */
size_t ff_weights_shard_count(const ff_weights *w);
const ff_st_file *ff_weights_shard(const ff_weights *w, size_t i);

/* Tensors over all shards, sorted by name. */
size_t ff_weights_count(const ff_weights *w);
/* Entry i (its name is entry->name) and, when file != NULL, the shard that
 * holds it; NULL when i >= count. */
const ff_st_entry *ff_weights_at(const ff_weights *w, size_t i, const ff_st_file **file);
/* 1 when the set holds name (for optional tensors such as biases). */
int ff_weights_has(const ff_weights *w, const char *name);
/* Binary search; file/entry may be NULL. FF_ERR_NOT_FOUND naming the weights
 * path and tensor when absent. */
ff_status ff_weights_find(const ff_weights *w, const char *name, const ff_st_file **file, const ff_st_entry **entry,
                          ff_err *err);
/* ff_st_load / ff_st_view on the shard that holds name. */
ff_status ff_weights_load(const ff_weights *w, const char *name, ff_dtype as, ff_tensor *out, ff_err *err);
ff_status ff_weights_view(const ff_weights *w, const char *name, ff_tensor *out, ff_err *err);

#endif
