/* umt5_params (ff_umt5_params): the older, 2-D-only form of the T5-family
 * encoder's parameter list (ff_t5_params in models/t5.h, which also gives
 * dtype, block index and slot), kept for pipeline/ and the tiny-model
 * writer: the checkpoint names ff_umt5_load reads (shared.weight,
 * encoder.block.N.layer.*, encoder.final_layer_norm.weight) with their
 * shapes, in load order. Not here: loading (t5.h). */
#ifndef FF_UMT5_PARAMS_H
#define FF_UMT5_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "models/umt5.h"

#define FF_UMT5_PARAM_NAME_MAX FF_PARAM_NAME_MAX

typedef struct {
    char name[FF_UMT5_PARAM_NAME_MAX];
    int ndim;            /* 1 or 2 */
    int64_t shape[2];
} ff_umt5_param;

/* *out is malloc'd (caller frees), *n its length. */
ff_status ff_umt5_params(const ff_umt5_config *cfg, ff_umt5_param **out, size_t *n, ff_err *err);

#endif
