/* golden_rng: handlers of the rng_* cases (torch.randn, successive draws on
 * one generator, WanPipeline.prepare_latents). */
#include <string.h>

#include "cli/golden.h"
#include "core/ff_rng.h"

ff_status golden_opt_shape(const ff_json *arr, int *ndim, int64_t *shape, ff_err *err) {
    size_t n = ff_json_count(arr);
    if (!arr || arr->type != FF_JSON_ARRAY || n > FF_MAX_DIMS)
        return ff_err_set(err, FF_ERR_FORMAT, "shape must be an array of at most %d integers", FF_MAX_DIMS);
    for (size_t i = 0; i < n; i++)
        if (ff_json_int64(ff_json_at(arr, i), &shape[i]) || shape[i] < 0)
            return ff_err_set(err, FF_ERR_FORMAT, "shape entry %zu is not a non-negative integer", i);
    *ndim = (int)n;
    return FF_OK;
}

static ff_status opt_seed(const golden_case *c, uint64_t *seed, ff_err *err) {
    if (ff_json_uint64(ff_json_get(c->options, "seed"), seed))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.seed is not an unsigned integer", c->name);
    return FF_OK;
}

/* Draws one tensor of the given shape from g into outs[name]. */
static ff_status draw(ff_rng *g, int ndim, const int64_t *shape, const char *name, golden_outputs *outs,
                      ff_err *err) {
    ff_tensor t;
    ff_status st = ff_tensor_alloc(&t, FF_F32, ndim, shape, err);
    if (st) return st;
    ff_rng_randn(g, t.data, (size_t)ff_tensor_numel(&t));
    return golden_out_add(outs, name, &t, err);
}

ff_status golden_rng_randn(const golden_case *c, golden_outputs *outs, ff_err *err) {
    uint64_t seed;
    int ndim;
    int64_t shape[FF_MAX_DIMS];
    ff_status st = opt_seed(c, &seed, err);
    if (!st) st = golden_opt_shape(ff_json_get(c->options, "shape"), &ndim, shape, err);
    if (st) return st;
    ff_rng g;
    ff_rng_seed(&g, seed);
    return draw(&g, ndim, shape, "out", outs, err);
}

ff_status golden_rng_sequence(const golden_case *c, golden_outputs *outs, ff_err *err) {
    uint64_t seed;
    ff_status st = opt_seed(c, &seed, err);
    if (st) return st;
    const ff_json *shapes = ff_json_get(c->options, "shapes");
    ff_rng g;
    ff_rng_seed(&g, seed);
    for (size_t i = 0; i < ff_json_count(shapes); i++) {
        int ndim;
        int64_t shape[FF_MAX_DIMS];
        char name[32];
        if ((st = golden_opt_shape(ff_json_at(shapes, i), &ndim, shape, err))) return st;
        snprintf(name, sizeof name, "out%zu", i);
        if ((st = draw(&g, ndim, shape, name, outs, err))) return st;
    }
    return FF_OK;
}

/* WanPipeline.prepare_latents: (B, C, (F-1)/st+1, H/ss, W/ss) from
 * randn_tensor with one generator or one per sample. */
ff_status golden_rng_prepare_latents(const golden_case *c, golden_outputs *outs, ff_err *err) {
    int64_t b, ch, h, w, f, sf_t, sf_s;
    const ff_json *o = c->options;
    if (ff_json_get_int64(o, "batch_size", -1, &b) || ff_json_get_int64(o, "num_channels_latents", -1, &ch) ||
        ff_json_get_int64(o, "height", -1, &h) || ff_json_get_int64(o, "width", -1, &w) ||
        ff_json_get_int64(o, "num_frames", -1, &f) || ff_json_get_int64(o, "vae_scale_factor_temporal", 4, &sf_t) ||
        ff_json_get_int64(o, "vae_scale_factor_spatial", 8, &sf_s) || b < 1 || ch < 1 || h < 1 || w < 1 || f < 1 ||
        sf_t < 1 || sf_s < 1)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: prepare_latents options incomplete", c->name);
    const ff_json *seeds_j = ff_json_get(o, "seeds");
    size_t n_seeds = ff_json_count(seeds_j);
    uint64_t seeds[64];
    if (n_seeds < 1 || n_seeds > 64) return ff_err_set(err, FF_ERR_FORMAT, "%s: options.seeds", c->name);
    for (size_t i = 0; i < n_seeds; i++)
        if (ff_json_uint64(ff_json_at(seeds_j, i), &seeds[i]))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: seed %zu is not an unsigned integer", c->name, i);
    ff_tensor t;
    ff_status st = ff_tensor_allocv(&t, FF_F32, err, 5, b, ch, (f - 1) / sf_t + 1, h / sf_s, w / sf_s);
    if (!st) st = ff_randn_tensor(&t, seeds, n_seeds, err);
    if (!st) return golden_out_add(outs, "latents", &t, err);
    ff_tensor_free(&t);
    return st;
}
