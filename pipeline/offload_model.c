/* offload_model: a parameter list's slots wired to ff_offload_stream (see
 * offload_model.h). */
#include "pipeline/offload_model.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* The blocks in segments of consecutive blocks of one layout (a Wan
 * transformer: one segment; HunyuanVideo's: the dual-stream blocks, then
 * the single-stream ones), each on a stream of its own; the first also
 * holds the non-block weights. */
#define MAX_SEGS 4

typedef struct {
    int first, L;        /* global index of its first block, its block count */
    size_t nr, pb;       /* resident entries (segment 0: the non-block ones), entries per block */
    size_t at;           /* index of its first entry in the list (after the resident ones) */
} seg_layout;

struct ff_offload_model {
    ff_offload_stream *s[MAX_SEGS];
    seg_layout seg[MAX_SEGS];
    int nseg;
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

static int same_layout(const ff_param *a, const ff_param *c) {
    int same = a->ndim == c->ndim && a->dtype == c->dtype;
    for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == c->shape[d];
    return same;
}

/* Checks the stream's layout: the non-block entries first, then blocks
 * 0..L-1 in order, in at most MAX_SEGS segments of consecutive blocks whose
 * entries are shaped and typed alike; fills seg[0..*nseg). */
static ff_status layout(const ff_param *ps, size_t n, const char *what, seg_layout *seg, int *nseg, ff_err *err) {
    size_t nr = 0;
    while (nr < n && ps[nr].block < 0) nr++;
    const int L = ff_params_blocks(ps, n);
    *nseg = 0;
    size_t i = nr;
    for (int b = 0; b < L;) {
        size_t per = 0;
        while (i + per < n && ps[i + per].block == b) per++;
        if (!per)
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: parameters are not non-block first, then blocks 0..%d in order", what,
                              L - 1);
        if (*nseg == MAX_SEGS)
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: more than %d kinds of blocks", what, MAX_SEGS);
        seg_layout *sg = &seg[(*nseg)++];
        sg->first = b, sg->pb = per, sg->at = i, sg->nr = *nseg == 1 ? nr : 0, sg->L = 0;
        /* the blocks that repeat block `first`'s layout */
        for (; b < L; b++, sg->L++) {
            size_t j = 0;
            while (j < per && i + j < n && ps[i + j].block == b && same_layout(&ps[sg->at + j], &ps[i + j])) j++;
            if (j < per || (i + per < n && ps[i + per].block == b)) break;
            i += per;
        }
    }
    if (i != n)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: parameters are not non-block first, then %d blocks in order (%zu in all)",
                          what, L, n);
    return FF_OK;
}

ff_status ff_offload_device_bytes(const ff_param *ps, size_t n, const ff_offload_opts *o, size_t *resident,
                                  size_t *ring, size_t *block, ff_err *err) {
    seg_layout seg[MAX_SEGS];
    int nseg = 0;
    ff_status st = layout(ps, n, o->name ? o->name : "model", seg, &nseg, err);
    if (st) return st;
    size_t nonblock = 0, all = 0;
    for (size_t i = 0; i < n; i++) {
        ff_dtype dt = ps[i].dtype;
        if (o->upload_dtype == FF_F32 && dt == FF_BF16) dt = FF_F32;
        size_t b = (size_t)ff_param_numel(&ps[i]) * ff_dtype_size(dt);
        all += b;
        if (ps[i].block < 0) nonblock += b;
    }
    const int r = o->ring < 2 ? 2 : o->ring;
    *ring = 0, *block = 0;
    for (int g = 0; g < nseg; g++) {
        size_t *bt = calloc(seg[g].pb ? seg[g].pb : 1, sizeof *bt);
        if (!bt) return ff_err_set(err, FF_ERR_NOMEM, "offload: no memory for %zu sizes", seg[g].pb);
        for (size_t j = 0; j < seg[g].pb; j++) {
            const ff_param *p = &ps[seg[g].at + j];
            ff_dtype dt = p->dtype;
            if (o->upload_dtype == FF_F32 && dt == FF_BF16) dt = FF_F32;
            bt[j] = (size_t)ff_param_numel(p) * ff_dtype_size(dt);
        }
        const size_t bb = ff_offload_block_bytes(bt, seg[g].pb);
        free(bt);
        int k = o->group < 1 ? 1 : o->group;
        if (k > seg[g].L) k = seg[g].L;
        if (bb > *block) *block = bb;
        *ring += (size_t)r * (size_t)k * bb;
    }
    if (o->mode == FF_OFFLOAD_STREAM && nseg > 0) {
        *resident = nonblock;
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

/* The segment holding global block i. */
static int seg_of(const ff_offload_model *d, int i) {
    int g = 0;
    while (g + 1 < d->nseg && i >= d->seg[g + 1].first) g++;
    return g;
}

static ff_status enter(void *user, int block, ff_err *err) {
    ff_offload_model *d = user;
    const int g = seg_of(d, block);
    return ff_offload_stream_enter(d->s[g], block - d->seg[g].first, err);
}

static void leave(void *user, int block) {
    ff_offload_model *d = user;
    const int g = seg_of(d, block);
    ff_offload_stream_leave(d->s[g], block - d->seg[g].first);
}

ff_status ff_offload_model_create(const ff_param *ps, size_t n, ff_backend *be, const ff_offload_opts *oi,
                                  ff_offload_model **out, ff_err *err) {
    *out = NULL;
    if (!ps || !be || !oi) return ff_err_set(err, FF_ERR_ARG, "ff_offload_model_create: NULL argument");
    ff_offload_opts o = *oi;
    if (!o.name) o.name = "model";
    ff_offload_model *d = calloc(1, sizeof *d);
    if (!d) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the offload state of %s", o.name);
    ff_status st = layout(ps, n, o.name, d->seg, &d->nseg, err);
    if (st) {
        free(d);
        return st;
    }
    ff_tensor **slots = calloc(n ? n : 1, sizeof *slots);
    const char **names = calloc(n ? n : 1, sizeof *names);
    d->ps = malloc((n ? n : 1) * sizeof *d->ps);
    if (!slots || !names || !d->ps) {
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
    if (d->nseg == 0) { /* no blocks: everything resident */
        d->nseg = 1;
        d->seg[0] = (seg_layout){0, 0, n, 0, n};
    }
    for (int g = 0; g < d->nseg && !st; g++) {
        const seg_layout *sg = &d->seg[g];
        st = ff_offload_stream_create(be, &o, slots, names, sg->nr, slots + sg->at, names + sg->at, sg->L, sg->pb, &d->s[g], err);
    }
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

ff_status ff_offload_model_begin(ff_offload_model *d, ff_err *err) {
    ff_status st = FF_OK;
    int g = 0;
    for (; g < d->nseg && !st; g++) st = ff_offload_stream_begin(d->s[g], err);
    if (st)
        for (g -= 2; g >= 0; g--) ff_offload_stream_end(d->s[g]);
    return st;
}

void ff_offload_model_end(ff_offload_model *d) {
    for (int g = 0; g < d->nseg; g++) ff_offload_stream_end(d->s[g]);
}

const ff_block_hooks *ff_offload_model_hooks(const ff_offload_model *d) { return &d->hooks; }

void ff_offload_model_stats(const ff_offload_model *d, ff_offload_stats *s) {
    memset(s, 0, sizeof *s);
    for (int g = 0; g < d->nseg; g++) {
        ff_offload_stats t;
        ff_offload_stream_stats(d->s[g], &t);
        s->resident_bytes += t.resident_bytes;
        s->ring_bytes += t.ring_bytes;
        if (t.block_bytes > s->block_bytes) s->block_bytes = t.block_bytes;
        s->staging_bytes += t.staging_bytes;
        s->block_uploads += t.block_uploads;
        s->bytes_uploaded += t.bytes_uploaded;
        s->waits += t.waits;
        if (t.runs > s->runs) s->runs = t.runs;
    }
}

void ff_offload_model_free(ff_offload_model *d) {
    if (!d) return;
    for (int g = d->nseg - 1; g >= 0; g--) ff_offload_stream_free(d->s[g]);
    free(d->ps);
    free(d);
}
