/* hunyuan_latents (ff_hunyuan_*): the pieces of HunyuanVideoPipeline.__call__
 * around the model calls that its family table calls: the latent geometry
 * and initial noise (prepare_latents, seeded exactly like
 * torch.Generator("cpu")), the schedule (set_timesteps with the pipeline's
 * sigmas = np.linspace(1, 0, N + 1)[:-1] and the folder's shift), the
 * embedded guidance tensor and true-CFG combination.
 *
 * Not here: the loop itself and the component chain (the family table),
 * the transformer and VAE (models/hunyuan_*), the text encoders.
 * Every output tensor is an owned host tensor (ff_tensor_free). */
#ifndef FF_HUNYUAN_LATENTS_H
#define FF_HUNYUAN_LATENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"
#include "pipeline/scheduler.h"

/* The pipeline's vae_scale_factor_temporal / _spatial when the VAE config
 * does not say otherwise (AutoencoderKLHunyuanVideo defaults). */
#define FF_HUNYUAN_VAE_SCALE_T 4
#define FF_HUNYUAN_VAE_SCALE_S 8

/* prepare_latents' shape: (batch, channels, (num_frames - 1) // st + 1,
 * height // ss, width // ss). num_frames is NOT rounded (HunyuanVideo takes
 * any frame count). FF_ERR_ARG for non-positive sizes or an empty grid. */
ff_status ff_hunyuan_latent_shape(int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t num_frames,
                                  int st, int ss, int64_t shape[5], ff_err *err);

/* HunyuanVideoPipeline.prepare_latents(latents=None): randn_tensor(shape)
 * in float32 with one generator (n_seeds == 1) or one per sample
 * (n_seeds == batch, sample i from seeds[i]). *out: owned host F32. */
ff_status ff_hunyuan_prepare_latents(const int64_t shape[5], const uint64_t *seeds, size_t n_seeds, ff_tensor *out,
                                     ff_err *err);

/* retrieve_timesteps(scheduler, N, sigmas=np.linspace(1.0, 0.0, N + 1)[:-1])
 * on a FlowMatchEulerDiscreteScheduler (ff_sched_set_sigmas). */
ff_status ff_hunyuan_set_timesteps(ff_sched *s, int64_t num_inference_steps, ff_err *err);

/* guidance = torch.tensor([guidance_scale] * batch, float32) * 1000.0:
 * *out (batch,) owned host F32. */
ff_status ff_hunyuan_guidance(int64_t batch, double guidance_scale, ff_tensor *out, ff_err *err);

/* True CFG (true_cfg_scale > 1 with a negative prompt):
 * noise = uncond + scale * (cond - uncond) in float32, into cond (in place;
 * host F32 tensors of equal shape). */
ff_status ff_hunyuan_true_cfg(ff_tensor *cond, const ff_tensor *uncond, double true_cfg_scale, ff_err *err);

#endif
