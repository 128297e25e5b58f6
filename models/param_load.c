/* param_load: checkpoint -> ff_param slots (see param_load.h). */
#include "models/param_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ff_status load_one(const ff_weights *w, const ff_st_entry *e, const ff_param *p, ff_err *err) {
    if (p->dtype == FF_F32 || e->dtype == p->dtype) return ff_weights_load(w, p->name, p->dtype, p->slot, err);
    ff_tensor f;
    ff_status st = ff_weights_load(w, p->name, FF_F32, &f, err);
    if (st) return st;
    if (!(st = ff_tensor_alloc(p->slot, p->dtype, f.ndim, f.shape, err)) && (st = ff_tensor_convert(p->slot, &f, err)))
        ff_tensor_free(p->slot);
    ff_tensor_free(&f);
    return st;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

ff_status ff_param_load_weights(const ff_weights *w, ff_param *ps, size_t n, const ff_param_load_opts *o, ff_err *err) {
    ff_status st;
    for (size_t i = 0; i < n; i++) {
        const ff_param *p = &ps[i];
        const ff_st_entry *e;
        if ((st = ff_weights_find(w, p->name, NULL, &e, err))) return st;
        int ok = e->ndim == p->ndim;
        for (int d = 0; ok && d < p->ndim; d++) ok = e->shape[d] == p->shape[d];
        if (!ok) {
            char got[96], want[96];
            ff_tensor a, b;
            ff_tensor_view(&a, e->dtype, e->ndim, e->shape, NULL, FF_LOC_HOST);
            ff_tensor_view(&b, p->dtype, p->ndim, p->shape, NULL, FF_LOC_HOST);
            return ff_err_set(err, FF_ERR_SHAPE, "%s: %s is %s, config.json implies %s", ff_weights_path(w), p->name,
                              ff_tensor_describe(&a, got, sizeof got), ff_tensor_describe(&b, want, sizeof want));
        }
        if (p->dtype != FF_F32 && p->dtype != FF_BF16)
            return ff_err_set(err, FF_ERR_ARG, "%s: %s asked as %s (F32 or BF16 only)", ff_weights_path(w), p->name,
                              ff_dtype_name(p->dtype));
        if (o && o->lazy && p->block >= 0) {
            ff_tensor_view(p->slot, p->dtype, p->ndim, p->shape, NULL, FF_LOC_HOST);
            continue;
        }
        if ((st = load_one(w, e, p, err))) return st;
    }
    /* strict: every tensor of the file is a parameter */
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names) return ff_err_set(err, FF_ERR_NOMEM, "%s: no memory", ff_weights_path(w));
    for (size_t i = 0; i < n; i++) names[i] = ps[i].name;
    qsort(names, n, sizeof *names, cmp_name);
    st = FF_OK;
    for (size_t i = 0; i < ff_weights_count(w) && !st; i++) {
        const char *name = ff_weights_at(w, i, NULL)->name;
        if ((o && o->ignore && o->ignore(name)) || bsearch(&name, names, n, sizeof *names, cmp_name)) continue;
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: unexpected weight %s (not a %s parameter for this config.json)",
                        ff_weights_path(w), name, o && o->model ? o->model : "model");
    }
    free(names);
    return st;
}

ff_status ff_param_load_place(ff_backend *be, ff_param *ps, size_t n, int with_blocks, ff_err *err) {
    if (ff_backend_kind_of(be) == FF_BACKEND_CPU) return FF_OK;
    for (size_t i = 0; i < n; i++) {
        ff_tensor *t = ps[i].slot;
        if ((!with_blocks && ps[i].block >= 0) || !t->data || t->loc != FF_LOC_HOST) continue;
        ff_tensor d;
        ff_status st = ff_be_alloc(be, &d, t->dtype, t->ndim, t->shape, err);
        if (!st && (st = ff_be_upload(be, &d, t, err))) ff_be_free(be, &d);
        if (st) return ff_err_wrap(err, "uploading %s: ", ps[i].name);
        ff_tensor_free(t);
        *t = d;
    }
    return FF_OK;
}

void ff_param_load_release(ff_backend *be, ff_param *ps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        ff_tensor *t = ps[i].slot;
        if (!t) continue;
        if (t->data && t->owns) ff_tensor_free(t);
        else if (t->data && be) ff_be_free(be, t);
        memset(t, 0, sizeof *t);
    }
}
