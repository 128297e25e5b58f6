/* ff_param: one model parameter as every model family lists it — its
 * diffusers / transformers checkpoint name, its stored shape and the dtype it
 * is kept in, the block it belongs to (for block streaming), and, when the
 * list describes a loaded model, the tensor that holds it.
 *
 * Every model (text encoders, image encoders, transformers, VAEs of each
 * family) exposes its parameters as an array of ff_param computed from its
 * config alone (slot NULL): the memory planner sums bytes per block and
 * outside the blocks, init-model writes tiny checkpoints from it, parameter
 * counts are checked against the published sizes, and offload streams a
 * block by walking the entries with that block index.
 *
 * Not here: loading (each model's own file), placement (offload/). */
#ifndef FF_PARAM_H
#define FF_PARAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_tensor.h"

#define FF_PARAM_NAME_MAX 128

typedef struct ff_param {
    char name[FF_PARAM_NAME_MAX]; /* "blocks.3.attn1.to_q.weight" */
    int ndim;
    int64_t shape[FF_MAX_DIMS];   /* as stored in the checkpoint */
    ff_dtype dtype;               /* the dtype the model keeps it in once loaded */
    int block;                    /* index of the streamable block, -1 outside the blocks */
    ff_tensor *slot;              /* the tensor holding it in a loaded model; NULL in a shape-only list */
} ff_param;

/* Elements of p (product of its shape). */
static inline int64_t ff_param_numel(const ff_param *p) {
    int64_t n = 1;
    for (int i = 0; i < p->ndim; i++) n *= p->shape[i];
    return n;
}

#endif
