/* offload_model (ff_offload_model_*): any block-structured model on
 * offload/stream.h — its weights all resident on the backend, or its blocks
 * streamed through the forward pass's enter/leave hooks (ff_block_hooks,
 * pipeline/component.h). The model is described only by its parameter list
 * (models/ff_param.h): the entries outside the blocks (block -1) are the
 * resident part, the others form blocks 0..L-1 by their block index.
 *
 * It lives in pipeline/ because it joins a model's parameter list (models/)
 * with offload/, which sits below models.
 *
 * Layout the stream needs (offload/stream.h): non-block parameters first,
 * then the blocks in order. Consecutive blocks with the same tensor shapes
 * and dtypes form a segment with a stream (and ring) of its own (up to 4:
 * HunyuanVideo's dual-stream then single-stream blocks are two); the first
 * holds the non-block weights. Any other list is FF_ERR_UNSUPPORTED.
 *
 * Ownership: borrows the slots of the list (the model must outlive the
 * object and hold host weights: do not place it) and the backend. While it
 * exists the slots may point at backend copies; ff_offload_model_free puts
 * the host tensors back, so free it before the model. */
#ifndef FF_OFFLOAD_MODEL_H
#define FF_OFFLOAD_MODEL_H

#include <stddef.h>

#include "core/ff_err.h"
#include "kernels/ops.h"
#include "models/ff_param.h"
#include "offload/stream.h"
#include "pipeline/component.h"

typedef struct ff_offload_model ff_offload_model;

/* ps: the loaded model's parameters with slots (copied; names are copied
 * too). o->name NULL means "model". */
ff_status ff_offload_model_create(const ff_param *ps, size_t n, ff_backend *be, const ff_offload_opts *o,
                                  ff_offload_model **out, ff_err *err);
/* The same for a loaded block-structured model of class cls (its
 * model_params list). */
ff_status ff_offload_model_create_for(const ff_model_class *cls, void *model, ff_backend *be, const ff_offload_opts *o,
                                      ff_offload_model **out, ff_err *err);
/* One forward of a denoiser of class cls: with d's block hooks between
 * begin and end, or (d NULL) with every weight already usable by be. */
ff_status ff_offload_denoise(const ff_model_class *cls, void *model, ff_backend *be, ff_offload_model *d,
                             const ff_denoiser_in *in, ff_tensor *out, ff_err *err);

/* Brackets one forward pass (offload/stream.h begin/end); the hooks of
 * ff_offload_model_hooks are valid in between. */
ff_status ff_offload_model_begin(ff_offload_model *d, ff_err *err);
void ff_offload_model_end(ff_offload_model *d);
const ff_block_hooks *ff_offload_model_hooks(const ff_offload_model *d);
void ff_offload_model_stats(const ff_offload_model *d, ff_offload_stats *s);
void ff_offload_model_free(ff_offload_model *d); /* NULL is a no-op */

/* Device bytes the weights take under o (mode, k, ring, upload_dtype) for a
 * parameter list with the dtypes the model keeps (ff_model_class.params):
 * the same arithmetic as create. resident: copies kept for the whole run
 * (everything, or the non-block weights when streaming); ring: the block
 * ring; block: one block on the device (padded as the ring is). */
ff_status ff_offload_device_bytes(const ff_param *ps, size_t n, const ff_offload_opts *o, size_t *resident,
                                  size_t *ring, size_t *block, ff_err *err);

/* The same from a component class and its config (its parameter list for
 * weight_dtype). */
ff_status ff_offload_class_device_bytes(const ff_model_class *cls, const void *cfg, ff_dtype weight_dtype,
                                        const ff_offload_opts *o, size_t *resident, size_t *ring, size_t *block, ff_err *err);

/* Number of blocks of a parameter list (largest block index + 1). */
int ff_params_blocks(const ff_param *ps, size_t n);

#endif
