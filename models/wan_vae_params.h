/* wan_vae_params (ff_wanvae_params): the parameter list of an AutoencoderKLWan
 * computed from its config alone — every diffusers weight name with its
 * stored shape, exactly the tensors ff_wanvae_load reads (and nothing else), in
 * module order: encoder, decoder, quant_conv, post_quant_conv.
 *
 * For writers of VAE checkpoints (the embedded smoke-test model), the
 * memory planner and parameter counts. Not here: loading (wan_vae.h). */
#ifndef FF_WAN_VAE_PARAMS_H
#define FF_WAN_VAE_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "models/ff_param.h"
#include "models/wan_vae.h"

/* ff_param entries ("decoder.up_blocks.0.resnets.1.conv2.weight"), shapes as
 * stored: conv3d (O, C, kt, kh, kw), conv2d (O, C, kh, kw), norm gamma
 * (C, 1, 1, 1) or (C, 1, 1) for 2-D norms; dtype F32 (ff_wanvae_load keeps
 * every weight in F32); block -1 (the VAE is not block-streamed); slot NULL.
 * *out is malloc'd (caller frees), *n its length. FF_ERR_UNSUPPORTED for
 * configs ff_wanvae_load rejects (the same residual channel constraints). */
ff_status ff_wanvae_params(const ff_wanvae_config *cfg, ff_param **out, size_t *n, ff_err *err);

#endif
