/* offload_dit: ff_wandit_* parameter slots and hooks wired to ff_offload_stream
 * (see offload_dit.h). */
#include "pipeline/offload_dit.h"

#include <stdlib.h>
#include <string.h>

struct ff_offload_dit {
    ff_wandit_model *m;
    ff_backend *be;
    ff_offload_stream *s;
    ff_param *ps; /* the names the stream's messages point into */
};

static size_t numel_of(const ff_param *p) {
    size_t e = 1;
    for (int i = 0; i < p->ndim; i++) e *= (size_t)p->shape[i];
    return e;
}

ff_dtype ff_offload_dit_stored_dtype(const ff_param *p, ff_dtype weight_dtype) {
    if (weight_dtype == FF_F32) return FF_F32;
    size_t n = strlen(p->name);
    if (n < 7 || strcmp(p->name + n - 7, ".weight") != 0) return FF_F32;
    if (!strncmp(p->name, "condition_embedder.time_embedder", 32)) return FF_F32;
    if (p->ndim == 2 || !strcmp(p->name, "patch_embedding.weight")) return weight_dtype;
    return FF_F32;
}

ff_status ff_offload_dit_device_bytes(const ff_wandit_config *cfg, ff_dtype weight_dtype, const ff_offload_opts *o,
                                      size_t *resident, size_t *ring, size_t *block, ff_err *err) {
    ff_param *ps;
    size_t np;
    ff_status st = ff_wandit_params(cfg, NULL, &ps, &np, err);
    if (st) return st;
    size_t nonblock = 0, all = 0;
    size_t bt[FF_WANDIT_BLOCK_PARAMS_MAX], nbt = 0;
    for (size_t i = 0; i < np; i++) {
        ff_dtype dt = ff_offload_dit_stored_dtype(&ps[i], weight_dtype);
        if (o->upload_dtype == FF_F32 && dt == FF_BF16) dt = FF_F32;
        size_t b = numel_of(&ps[i]) * ff_dtype_size(dt);
        all += b;
        if (ps[i].block < 0) nonblock += b;
        else if (ps[i].block == 0 && nbt < FF_WANDIT_BLOCK_PARAMS_MAX) bt[nbt++] = b;
    }
    free(ps);
    int k = o->group < 1 ? 1 : o->group, r = o->ring < 2 ? 2 : o->ring;
    if (k > cfg->num_layers && cfg->num_layers > 0) k = cfg->num_layers;
    *block = ff_offload_block_bytes(bt, nbt);
    if (o->mode == FF_OFFLOAD_STREAM && cfg->num_layers > 0) {
        *resident = nonblock;
        *ring = (size_t)r * (size_t)k * *block;
    } else {
        *resident = all;
        *ring = 0;
    }
    return FF_OK;
}

static ff_status before_block(void *user, int i, ff_wandit_block *blk, ff_param *params, size_t n, ff_err *err) {
    ff_offload_dit *d = user;
    (void)blk, (void)params, (void)n;
    return ff_offload_stream_enter(d->s, i, err);
}

static ff_status after_block(void *user, int i, ff_wandit_block *blk, ff_param *params, size_t n, ff_err *err) {
    ff_offload_dit *d = user;
    (void)blk, (void)params, (void)n, (void)err;
    ff_offload_stream_leave(d->s, i);
    return FF_OK;
}

ff_status ff_offload_dit_create(ff_wandit_model *m, ff_backend *be, const ff_offload_opts *oi, ff_offload_dit **out,
                                ff_err *err) {
    *out = NULL;
    if (!m || !be || !oi) return ff_err_set(err, FF_ERR_ARG, "ff_offload_dit_create: NULL argument");
    ff_offload_dit *d = calloc(1, sizeof *d);
    ff_param *ps = NULL;
    ff_tensor **slots = NULL;
    const char **names = NULL;
    size_t np = 0;
    ff_status st;
    if (!d) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the transformer offload state");
    d->m = m;
    d->be = be;
    if ((st = ff_wandit_params(&m->cfg, m, &ps, &np, err))) goto done;
    slots = calloc(np ? np : 1, sizeof *slots);
    names = calloc(np ? np : 1, sizeof *names);
    if (!slots || !names) {
        st = ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the transformer slot table");
        goto done;
    }
    size_t nr = 0;
    for (size_t i = 0; i < np; i++) {
        slots[i] = ps[i].slot;
        names[i] = ps[i].name;
        if (ps[i].block < 0) nr = i + 1;
    }
    const size_t pb = ff_wandit_block_params(&m->cfg, 0, NULL, NULL);
    if (nr + (size_t)m->cfg.num_layers * pb != np) {
        st = ff_err_set(err, FF_ERR_INTERNAL, "transformer parameter list is not non-block first, then blocks");
        goto done;
    }
    ff_offload_opts o = *oi;
    if (!o.name) o.name = "transformer";
    st = ff_offload_stream_create(be, &o, slots, names, nr, slots + nr, names + nr, m->cfg.num_layers, pb, &d->s,
                                  err);
done:
    free(slots);
    free(names);
    d->ps = ps;
    if (st) {
        ff_offload_dit_free(d);
        return st;
    }
    *out = d;
    return FF_OK;
}

ff_status ff_offload_dit_forward(ff_offload_dit *d, const ff_tensor *x, const ff_tensor *timestep,
                                 const ff_tensor *text, ff_tensor *out, ff_err *err) {
    ff_wandit_hooks hooks = {before_block, after_block, d};
    ff_status st = ff_offload_stream_begin(d->s, err);
    if (st) return st;
    st = ff_wandit_forward(d->m, d->be, x, timestep, text, &hooks, out, err);
    ff_offload_stream_end(d->s);
    return st;
}

void ff_offload_dit_stats(const ff_offload_dit *d, ff_offload_stats *s) { ff_offload_stream_stats(d->s, s); }

void ff_offload_dit_free(ff_offload_dit *d) {
    if (!d) return;
    ff_offload_stream_free(d->s);
    free(d->ps);
    free(d);
}
