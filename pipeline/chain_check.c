/* chain_check: what ff_chain_open checks in the files before anything runs
 * (chain.h, "before any compute"): every present component's weights open
 * and parse (every shard's header validated by core/ff_model_dir.h), and
 * every parameter its class lists from the config that the file holds has
 * as many elements as the shape the config implies. A corrupt VAE or a text-encoder config that
 * does not match its weights is then an error at open, not after the
 * denoising loop. A parameter the file lacks is left to the component's
 * loader (checkpoints name some tensors more than one way). */
#include <stdio.h>
#include <stdlib.h>

#include "core/ff_model_dir.h"
#include "models/ff_param.h"
#include "pipeline/chain.h"

static void describe(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static ff_status check_component(const ff_chain *c, int i, ff_err *err) {
    const ff_model_class *mc = ff_chain_component_class(c, i);
    const char *dir = ff_chain_component_dir(c, i);
    ff_weights *w = NULL;
    ff_param *ps = NULL;
    size_t n = 0;
    ff_status st = ff_weights_open(dir, &w, err);
    if (st) return ff_err_wrap(err, "component %s", ff_chain_component_name(c, i));
    if (mc->params && (st = mc->params(ff_chain_component_config(c, i), FF_F32, &ps, &n, err))) goto done;
    for (size_t k = 0; k < n; k++) {
        const ff_st_entry *e = NULL;
        if (!ff_weights_has(w, ps[k].name) || ff_weights_find(w, ps[k].name, NULL, &e, err)) continue;
        /* element counts: a loader may take a stored layout of the same size (a conv kernel kept flat) */
        int64_t have_n = 1;
        for (int d = 0; d < e->ndim; d++) have_n *= e->shape[d];
        if (have_n != ff_param_numel(&ps[k])) {
            char have[96], want[96];
            describe(have, sizeof have, e->ndim, e->shape);
            describe(want, sizeof want, ps[k].ndim, ps[k].shape);
            st = ff_err_set(err, FF_ERR_SHAPE, "%s: %s is %s in the weights, but config.json implies %s", dir, ps[k].name,
                            have, want);
            goto done;
        }
    }
done:
    free(ps);
    ff_weights_free(w);
    return st;
}

ff_status ff_chain_check_files(const ff_chain *c, ff_err *err) {
    for (int i = 0; i < ff_chain_n_components(c); i++) {
        if (!ff_chain_component_present(c, i)) continue;
        ff_status st = check_component(c, i, err);
        if (st) return st;
    }
    return FF_OK;
}

ff_status ff_chain_check_vae_opts(const ff_chain *c, const ff_vae_opts *o, ff_err *err) {
    if (!o->tiling) return FF_OK;
    if (o->tile_sample_min_height < 1 || o->tile_sample_min_width < 1 || o->tile_sample_stride_height < 1 ||
        o->tile_sample_stride_width < 1)
        return ff_err_set(err, FF_ERR_ARG, "%s: VAE tiles %dx%d px with stride %dx%d px: every size must be >= 1",
                          ff_chain_dir(c), o->tile_sample_min_height, o->tile_sample_min_width,
                          o->tile_sample_stride_height, o->tile_sample_stride_width);
    if (o->tile_sample_stride_height > o->tile_sample_min_height || o->tile_sample_stride_width > o->tile_sample_min_width)
        return ff_err_set(err, FF_ERR_ARG,
                          "%s: VAE tile stride %dx%d px is larger than the tile %dx%d px (tiles would leave gaps): "
                          "the stride must be <= the tile",
                          ff_chain_dir(c), o->tile_sample_stride_height, o->tile_sample_stride_width,
                          o->tile_sample_min_height, o->tile_sample_min_width);
    return FF_OK;
}
