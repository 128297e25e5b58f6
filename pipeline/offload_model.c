/* offload_model: a parameter list's slots wired to ff_offload_stream (see
 * offload_model.h). */
#include "pipeline/offload_model.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct ff_offload_model {
    ff_offload_stream *s;
    ff_param *ps;         /* copy of the list: the names the stream's messages point into */
    size_t n;
    ff_block_hooks hooks;
};

int ff_params_blocks(const ff_param *ps, size_t n) {
    int L = 0;
    for (size_t i = 0; i < n; i++)
        if (ps[i].block + 1 > L) L = ps[i].block + 1;
    return L;
}

/* Checks the stream's layout: nr non-block entries, then L blocks of pb
 * entries, block b's entry j shaped and typed as block 0's entry j. */
static ff_status layout(const ff_param *ps, size_t n, const char *what, size_t *nr, int *L, size_t *pb, ff_err *err) {
    *nr = 0;
    while (*nr < n && ps[*nr].block < 0) (*nr)++;
    *L = ff_params_blocks(ps, n);
    size_t per = 0;
    while (*nr + per < n && ps[*nr + per].block == 0) per++;
    *pb = per;
    if (*nr + (size_t)*L * per != n)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: parameters are not non-block first, then %d blocks of %zu (%zu in all)",
                          what, *L, per, n);
    for (int b = 1; b < *L; b++)
        for (size_t j = 0; j < per; j++) {
            const ff_param *a = &ps[*nr + j], *c = &ps[*nr + (size_t)b * per + j];
            int same = c->block == b && a->ndim == c->ndim && a->dtype == c->dtype;
            for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == c->shape[d];
            if (!same)
                return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: block %d's %s differs from block 0's %s (blocks of one shape only)",
                                  what, b, c->name, a->name);
        }
    return FF_OK;
}

ff_status ff_offload_device_bytes(const ff_param *ps, size_t n, const ff_offload_opts *o, size_t *resident,
                                  size_t *ring, size_t *block, ff_err *err) {
    size_t nonblock = 0, all = 0, *bt = calloc(n ? n : 1, sizeof *bt), nbt = 0;
    if (!bt) return ff_err_set(err, FF_ERR_NOMEM, "offload: no memory for %zu sizes", n);
    const int L = ff_params_blocks(ps, n);
    for (size_t i = 0; i < n; i++) {
        ff_dtype dt = ps[i].dtype;
        if (o->upload_dtype == FF_F32 && dt == FF_BF16) dt = FF_F32;
        size_t b = (size_t)ff_param_numel(&ps[i]) * ff_dtype_size(dt);
        all += b;
        if (ps[i].block < 0) nonblock += b;
        else if (ps[i].block == 0) bt[nbt++] = b;
    }
    int k = o->group < 1 ? 1 : o->group, r = o->ring < 2 ? 2 : o->ring;
    if (k > L && L > 0) k = L;
    *block = ff_offload_block_bytes(bt, nbt);
    free(bt);
    if (o->mode == FF_OFFLOAD_STREAM && L > 0) {
        *resident = nonblock;
        *ring = (size_t)r * (size_t)k * *block;
    } else {
        *resident = all;
        *ring = 0;
    }
    return FF_OK;
}

ff_status ff_offload_class_device_bytes(const ff_model_class *cls, const void *cfg, ff_dtype weight_dtype,
                                        const ff_offload_opts *o, size_t *resident, size_t *ring, size_t *block, ff_err *err) {
    ff_param *ps = NULL;
    size_t n = 0;
    ff_status st = cls->params(cfg, weight_dtype, &ps, &n, err);
    if (!st) st = ff_offload_device_bytes(ps, n, o, resident, ring, block, err);
    free(ps);
    return st;
}

static ff_status enter(void *user, int block, ff_err *err) {
    ff_offload_model *d = user;
    return ff_offload_stream_enter(d->s, block, err);
}

static void leave(void *user, int block) {
    ff_offload_model *d = user;
    ff_offload_stream_leave(d->s, block);
}

ff_status ff_offload_model_create(const ff_param *ps, size_t n, ff_backend *be, const ff_offload_opts *oi,
                                  ff_offload_model **out, ff_err *err) {
    *out = NULL;
    if (!ps || !be || !oi) return ff_err_set(err, FF_ERR_ARG, "ff_offload_model_create: NULL argument");
    ff_offload_opts o = *oi;
    if (!o.name) o.name = "model";
    size_t nr, pb;
    int L;
    ff_status st = layout(ps, n, o.name, &nr, &L, &pb, err);
    if (st) return st;
    ff_offload_model *d = calloc(1, sizeof *d);
    ff_tensor **slots = calloc(n ? n : 1, sizeof *slots);
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (d) d->ps = malloc((n ? n : 1) * sizeof *d->ps);
    if (!d || !slots || !names || !d->ps) {
        st = ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the offload state of %s", o.name);
        goto done;
    }
    memcpy(d->ps, ps, n * sizeof *ps);
    d->n = n;
    for (size_t i = 0; i < n; i++) {
        assert(ps[i].slot); /* a loaded model's list */
        slots[i] = d->ps[i].slot;
        names[i] = d->ps[i].name;
    }
    d->hooks = (ff_block_hooks){enter, leave, d};
    st = ff_offload_stream_create(be, &o, slots, names, nr, slots + nr, names + nr, L, pb, &d->s, err);
done:
    free(slots);
    free(names);
    if (st) {
        ff_offload_model_free(d);
        return st;
    }
    *out = d;
    return FF_OK;
}

ff_status ff_offload_model_create_for(const ff_model_class *cls, void *model, ff_backend *be, const ff_offload_opts *o,
                                      ff_offload_model **out, ff_err *err) {
    *out = NULL;
    if (!cls->model_params)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s is not block-structured (no parameter slots to place)", cls->class_name);
    ff_param *ps = NULL;
    size_t n = 0;
    ff_status st = cls->model_params(model, &ps, &n, err);
    if (!st) st = ff_offload_model_create(ps, n, be, o, out, err);
    free(ps);
    return st;
}

ff_status ff_offload_denoise(const ff_model_class *cls, void *model, ff_backend *be, ff_offload_model *d,
                             const ff_denoiser_in *in, ff_tensor *out, ff_err *err) {
    assert(cls->role == FF_ROLE_DENOISER);
    const ff_denoiser_ops *ops = FF_DENOISER_OPS(cls);
    if (!d) return ops->forward(model, be, in, NULL, out, err);
    ff_status st = ff_offload_model_begin(d, err);
    if (st) return st;
    st = ops->forward(model, be, in, ff_offload_model_hooks(d), out, err);
    ff_offload_model_end(d);
    return st;
}

ff_status ff_offload_model_begin(ff_offload_model *d, ff_err *err) { return ff_offload_stream_begin(d->s, err); }
void ff_offload_model_end(ff_offload_model *d) { ff_offload_stream_end(d->s); }
const ff_block_hooks *ff_offload_model_hooks(const ff_offload_model *d) { return &d->hooks; }
void ff_offload_model_stats(const ff_offload_model *d, ff_offload_stats *s) { ff_offload_stream_stats(d->s, s); }

void ff_offload_model_free(ff_offload_model *d) {
    if (!d) return;
    ff_offload_stream_free(d->s);
    free(d->ps);
    free(d);
}
