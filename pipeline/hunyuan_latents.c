/* hunyuan_latents: HunyuanVideoPipeline's latent geometry, initial noise,
 * schedule, embedded guidance and true CFG (see hunyuan_latents.h). The
 * arithmetic follows pipeline_hunyuan_video.py line by line, in the dtypes
 * torch and numpy use there. */
#include "pipeline/hunyuan_latents.h"

#include <math.h>
#include <stdlib.h>

#include "core/ff_rng.h"

ff_status ff_hunyuan_latent_shape(int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t num_frames,
                                  int st, int ss, int64_t shape[5], ff_err *err) {
    if (batch < 1 || channels < 1 || height < 1 || width < 1 || num_frames < 1 || st < 1 || ss < 1)
        return ff_err_set(err, FF_ERR_ARG,
                          "prepare_latents: batch %lld, %lld channels, %lldx%lld, %lld frames, scale %d/%d must all "
                          "be positive",
                          (long long)batch, (long long)channels, (long long)height, (long long)width,
                          (long long)num_frames, st, ss);
    shape[0] = batch;
    shape[1] = channels;
    shape[2] = (num_frames - 1) / st + 1;
    shape[3] = height / ss;
    shape[4] = width / ss;
    if (shape[3] < 1 || shape[4] < 1)
        return ff_err_set(err, FF_ERR_ARG, "prepare_latents: %lldx%lld pixels is smaller than one latent pixel (%d)",
                          (long long)height, (long long)width, ss);
    return FF_OK;
}

ff_status ff_hunyuan_prepare_latents(const int64_t shape[5], const uint64_t *seeds, size_t n_seeds, ff_tensor *out,
                                     ff_err *err) {
    if (n_seeds != 1 && n_seeds != (size_t)shape[0])
        return ff_err_set(err, FF_ERR_ARG,
                          "prepare_latents: %zu generators for a batch of %lld (want 1 or one per sample)", n_seeds,
                          (long long)shape[0]);
    ff_status st = ff_tensor_alloc(out, FF_F32, 5, shape, err);
    if (st) return st;
    if ((st = ff_randn_tensor(out, seeds, n_seeds, err))) ff_tensor_free(out);
    return st;
}

ff_status ff_hunyuan_set_timesteps(ff_sched *s, int64_t n, ff_err *err) {
    if (n < 1 || n > (1 << 20))
        return ff_err_set(err, FF_ERR_ARG, "num_inference_steps %lld outside [1, 2^20]", (long long)n);
    double *sig = malloc((size_t)n * sizeof *sig);
    if (!sig) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate %lld sigmas", (long long)n);
    /* np.linspace(1.0, 0.0, n + 1)[:-1]: i * step + start, step = (stop - start) / n */
    const double step = -1.0 / (double)n;
    for (int64_t i = 0; i < n; i++) sig[i] = (double)i * step + 1.0;
    ff_status st = ff_sched_set_sigmas(s, sig, n, err);
    free(sig);
    return st;
}

ff_status ff_hunyuan_guidance(int64_t batch, double guidance_scale, ff_tensor *out, ff_err *err) {
    if (batch < 1) return ff_err_set(err, FF_ERR_ARG, "guidance: batch %lld", (long long)batch);
    if (!isfinite(guidance_scale)) return ff_err_set(err, FF_ERR_ARG, "guidance_scale is not a finite number");
    ff_status st = ff_tensor_allocv(out, FF_F32, err, 1, batch);
    if (st) return st;
    const float g = (float)guidance_scale * 1000.0f; /* float32 tensor times a Python float */
    for (int64_t i = 0; i < batch; i++) ((float *)out->data)[i] = g;
    return FF_OK;
}

ff_status ff_hunyuan_true_cfg(ff_tensor *cond, const ff_tensor *uncond, double true_cfg_scale, ff_err *err) {
    if (cond->dtype != FF_F32 || uncond->dtype != FF_F32 || !ff_tensor_same_shape(cond, uncond) ||
        cond->loc != FF_LOC_HOST || uncond->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_SHAPE, "true CFG: cond and uncond must be host F32 tensors of one shape");
    const float s = (float)true_cfg_scale;
    float *c = cond->data;
    const float *u = uncond->data;
    for (int64_t i = 0; i < ff_tensor_numel(cond); i++) {
        const float d = c[i] - u[i];
        c[i] = u[i] + s * d;
    }
    return FF_OK;
}
