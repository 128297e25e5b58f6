/* cogvideox_latents: CogVideoXPipeline's latent geometry, prepare_latents
 * and the removal of the 1.5 padding frames. See cogvideox_latents.h. */
#include "pipeline/cogvideox_latents.h"

#include <string.h>

ff_status ff_coglat_geometry_of(int64_t num_frames, int64_t height, int64_t width, int patch_size_t, int vae_t,
                                int vae_s, ff_coglat_geometry *g, ff_err *err) {
    memset(g, 0, sizeof *g);
    if (vae_t < 1 || vae_s < 1 || patch_size_t < 0)
        return ff_err_set(err, FF_ERR_ARG, "CogVideoX geometry: scale factors %d/%d, patch_size_t %d", vae_t, vae_s,
                          patch_size_t);
    if (num_frames < 1 || num_frames > (1 << 20))
        return ff_err_set(err, FF_ERR_ARG, "CogVideoX: num_frames %lld outside [1, %d]", (long long)num_frames,
                          1 << 20);
    if (height < vae_s || width < vae_s || height > (1 << 20) || width > (1 << 20))
        return ff_err_set(err, FF_ERR_ARG, "CogVideoX: %lldx%lld px is outside [%d, %d] (one latent pixel is %d px)",
                          (long long)width, (long long)height, vae_s, 1 << 20, vae_s);
    g->num_frames = num_frames;
    g->latent_frames = (num_frames - 1) / vae_t + 1;
    if (patch_size_t > 0 && g->latent_frames % patch_size_t)
        g->additional_frames = patch_size_t - g->latent_frames % patch_size_t;
    g->frames = g->latent_frames + g->additional_frames;
    g->prepare_num_frames = num_frames + g->additional_frames * vae_t;
    g->height = height / vae_s;
    g->width = width / vae_s;
    /* the VAE's 2-latent-frame batches (batch 0 takes 2 + F % 2 frames); a
     * batch of T frames decodes to 1 + (T - 1) * st frames when T is odd,
     * T * st when even */
    const int64_t F = g->latent_frames;
    const int64_t first = F < 2 ? F : 2 + F % 2;
    g->output_frames = (first % 2 ? 1 + (first - 1) * vae_t : first * vae_t) + (F - first) / 2 * 2 * vae_t;
    return FF_OK;
}

ff_status ff_coglat_randn(ff_rng *gens, size_t n_gens, ff_tensor *t, ff_err *err) {
    if (t->dtype != FF_F32 || t->loc != FF_LOC_HOST || !t->data)
        return ff_err_set(err, FF_ERR_ARG, "randn_tensor: target must be an F32 host tensor");
    const size_t n = (size_t)ff_tensor_numel(t);
    if (n_gens == 1) {
        ff_rng_randn(&gens[0], t->data, n);
        return FF_OK;
    }
    if (t->ndim < 1 || n_gens != (size_t)t->shape[0])
        return ff_err_set(err, FF_ERR_ARG, "randn_tensor: %zu generators for a batch of %lld", n_gens,
                          t->ndim ? (long long)t->shape[0] : 0LL);
    const size_t per = n / n_gens;
    for (size_t b = 0; b < n_gens; b++) ff_rng_randn(&gens[b], (float *)t->data + b * per, per);
    return FF_OK;
}

ff_status ff_coglat_prepare(ff_rng *gens, size_t n_gens, int64_t batch, int64_t channels, const ff_coglat_geometry *g,
                            double init_noise_sigma, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    if (batch < 1 || channels < 1 || (n_gens != 1 && (int64_t)n_gens != batch))
        return ff_err_set(err, FF_ERR_ARG,
                          "prepare_latents: %zu generators for a batch of %lld (one, or one per sample), %lld channels",
                          n_gens, (long long)batch, (long long)channels);
    ff_status st = ff_tensor_allocv(out, FF_F32, err, 5, batch, g->frames, channels, g->height, g->width);
    if (st) return st;
    if ((st = ff_coglat_randn(gens, n_gens, out, err))) {
        ff_tensor_free(out);
        return st;
    }
    const float s = (float)init_noise_sigma;
    if (s != 1.0f) {
        float *d = out->data;
        for (int64_t i = 0, n = ff_tensor_numel(out); i < n; i++) d[i] *= s;
    }
    return FF_OK;
}

ff_status ff_coglat_drop_padding(const ff_tensor *x, int64_t k, ff_tensor *out, ff_err *err) {
    char buf[96];
    memset(out, 0, sizeof *out);
    if (x->ndim != 5 || x->dtype != FF_F32 || x->loc != FF_LOC_HOST || k < 0 || k >= x->shape[1])
        return ff_err_set(err, FF_ERR_SHAPE, "latents %s: cannot drop %lld leading frames",
                          ff_tensor_describe(x, buf, sizeof buf), (long long)k);
    const int64_t B = x->shape[0], F = x->shape[1], per = x->shape[2] * x->shape[3] * x->shape[4];
    ff_status st = ff_tensor_allocv(out, FF_F32, err, 5, B, F - k, x->shape[2], x->shape[3], x->shape[4]);
    if (st) return st;
    for (int64_t b = 0; b < B; b++)
        memcpy((float *)out->data + b * (F - k) * per, (const float *)x->data + (b * F + k) * per,
               (size_t)((F - k) * per) * sizeof(float));
    return FF_OK;
}
