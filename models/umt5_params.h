/* umt5_params (ff_umt5_params): the parameter list of a UMT5EncoderModel
 * computed from its config alone — ff_t5_params (models/t5.h) with F32
 * matrices and no slots: the checkpoint names ff_umt5_load reads
 * (shared.weight, encoder.block.N.layer.*, encoder.final_layer_norm.weight)
 * with their shapes; block = N for encoder.block.N.*, -1 for the rest; the
 * memory planner applies the checkpoint's dtype to the matrices. For writers
 * of text-encoder checkpoints (the embedded smoke-test model), the planner
 * and parameter counts. Not here: loading (t5.h). */
#ifndef FF_UMT5_PARAMS_H
#define FF_UMT5_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "models/ff_param.h"
#include "models/umt5.h"

/* *out is malloc'd (caller frees), *n its length. */
ff_status ff_umt5_params(const ff_umt5_config *cfg, ff_param **out, size_t *n, ff_err *err);

#endif
