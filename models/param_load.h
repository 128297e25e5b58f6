/* param_load (ff_param_load_*): filling a model's ff_param list (the
 * tensors its config implies) from a checkpoint, placing it on a backend
 * and freeing it — the loading steps every block-structured model repeats
 * (used by models/t5 and models/llama).
 *
 *  - ff_param_load_weights: for every parameter, find the tensor of that
 *    name, check its shape (FF_ERR_SHAPE naming file, tensor and both
 *    shapes), and load it into *slot as a host tensor of the parameter's
 *    dtype (F32, or BF16 rounded to nearest even as torch's .to(bfloat16),
 *    copied as stored when the file is BF16); with `lazy`, block parameters
 *    (block >= 0) only get a shape-only tensor (data NULL, that dtype) for
 *    block streaming straight from the file (offload/stream.h). Then the
 *    strict check: every tensor of the file must be a parameter or accepted
 *    by `ignore` (FF_ERR_FORMAT naming the first that is not).
 *  - ff_param_load_place: host tensors to backend tensors (ff_be_alloc +
 *    upload; a no-op on the CPU backend, whose tensors live on the host).
 *  - ff_param_load_release: frees every slot (owned host tensors with
 *    ff_tensor_free, backend tensors with ff_be_free) and zeroes it.
 *
 * Not here: which parameters a model has (its *_params), streaming policy
 * (offload/, pipeline/). The list and its slots are the caller's. */
#ifndef FF_PARAM_LOAD_H
#define FF_PARAM_LOAD_H

#include <stddef.h>

#include "core/ff_err.h"
#include "core/ff_model_dir.h"
#include "kernels/ops.h"
#include "models/ff_param.h"

typedef struct {
    int lazy;                          /* leave block parameters shape-only */
    int (*ignore)(const char *name);   /* file tensors that are not parameters but allowed; may be NULL */
    const char *model;                 /* "T5EncoderModel" etc., for the strict-check message */
} ff_param_load_opts;

ff_status ff_param_load_weights(const ff_weights *w, ff_param *ps, size_t n, const ff_param_load_opts *o, ff_err *err);
/* with_blocks = 0: only the parameters outside the blocks (block < 0). */
ff_status ff_param_load_place(ff_backend *be, ff_param *ps, size_t n, int with_blocks, ff_err *err);
void ff_param_load_release(ff_backend *be, ff_param *ps, size_t n);

#endif
