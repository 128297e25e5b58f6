/* offload_dit (ff_offload_dit_*): the Wan transformer on offload/stream.h —
 * its weights all resident on the backend, or its blocks streamed through
 * the forward pass's before/after-block hooks (see offload/stream.h for the
 * ring, the copy thread and the byte counts).
 *
 * It lives in pipeline/ because it needs both models/ (the parameter list
 * and hooks of ff_wandit_*) and offload/ (which sits below models).
 *
 * Ownership: borrows the model (which must outlive it, and must hold host
 * weights: do not ff_wandit_place it) and the backend. While it exists the
 * model's tensors may point at backend copies; ff_offload_dit_free puts the
 * host tensors back, so free it before ff_wandit_free. */
#ifndef FF_OFFLOAD_DIT_H
#define FF_OFFLOAD_DIT_H

#include <stddef.h>

#include "core/ff_err.h"
#include "kernels/ops.h"
#include "models/wan_transformer.h"
#include "offload/stream.h"

typedef struct ff_offload_dit ff_offload_dit;

/* o->name NULL means "transformer". */
ff_status ff_offload_dit_create(ff_wandit_model *m, ff_backend *be, const ff_offload_opts *o, ff_offload_dit **out,
                                ff_err *err);
/* ff_wandit_forward with the mode's hooks (arguments as ff_wandit_forward). */
ff_status ff_offload_dit_forward(ff_offload_dit *d, const ff_tensor *hidden_states, const ff_tensor *timestep,
                                 const ff_tensor *encoder_hidden_states, ff_tensor *out, ff_err *err);
void ff_offload_dit_stats(const ff_offload_dit *d, ff_offload_stats *s);
void ff_offload_dit_free(ff_offload_dit *d); /* NULL is a no-op */

/* Host storage dtype of a parameter as ff_wandit_load_as(weight_dtype) keeps it. */
ff_dtype ff_offload_dit_stored_dtype(const ff_param *p, ff_dtype weight_dtype);

/* Device bytes the weights take under o (mode, k, ring, upload_dtype) for a
 * model loaded with ff_wandit_load_as(weight_dtype), from the config alone: the
 * same arithmetic as create. resident: copies kept for the whole run
 * (everything, or the non-block weights when streaming); ring: the block
 * ring; block: one block on the device. */
ff_status ff_offload_dit_device_bytes(const ff_wandit_config *cfg, ff_dtype weight_dtype, const ff_offload_opts *o,
                                      size_t *resident, size_t *ring, size_t *block, ff_err *err);

#endif
