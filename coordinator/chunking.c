/* chunking: see chunking.h. */
#include "coordinator/chunking.h"

#include <stdlib.h>

#include "proto/ff_jobspec.h"

void ff_chunk_params(const Ff__JobSpec *s, int *c_lat, int *o_lat) {
    int L = ff_jobspec_lat_total(s);
    if (!s->chunk_frames) {
        *c_lat = L;
        *o_lat = 0;
        return;
    }
    *c_lat = (s->chunk_frames - 1) / 4 + 1;
    *o_lat = ff_jobspec_is_i2v(s) ? 1 : (s->chunk_overlap + 2) / 4 + 1; /* image to video: one shared frame */
    if (L <= *c_lat) {
        *c_lat = L;
        *o_lat = 0;
    }
}

static size_t item_count(const Ff__JobSpec *s) {
    int C, O, L = ff_jobspec_lat_total(s);
    ff_chunk_params(s, &C, &O);
    if (C >= L) return 1;
    int stride = C - O;
    return (size_t)((L - O + stride - 1) / stride);
}

ff_status ff_chunk_item_windows(const Ff__JobSpec *s, uint32_t item, ff_chunk_window *out, size_t n_max, size_t *n,
                                ff_err *err) {
    int C, O, L = ff_jobspec_lat_total(s);
    ff_chunk_params(s, &C, &O);
    size_t cnt = item_count(s);
    if (cnt > n_max) return ff_err_set(err, FF_ERR_ARG, "chunking: %zu windows do not fit in %zu", cnt, n_max);
    if (C - O < 1) return ff_err_set(err, FF_ERR_ARG, "chunking: overlap %d latent frames leaves no stride in %d", O, C);
    for (size_t k = 0; k < cnt; k++) {
        int st = (int)k * (C - O);
        out[k].item = item;
        out[k].lat_start = st;
        out[k].lat_count = st + C <= L ? C : L - st;
    }
    *n = cnt;
    return FF_OK;
}

size_t ff_chunk_count(const Ff__JobSpec *s) { return item_count(s) * ff_jobspec_items(s); }

ff_status ff_chunk_plan(const Ff__JobSpec *s, ff_chunk_window **out, size_t *n, ff_err *err) {
    size_t per = item_count(s), items = ff_jobspec_items(s);
    ff_chunk_window *w = malloc(per * items * sizeof *w);
    if (!w) return ff_err_set(err, FF_ERR_NOMEM, "chunking %zu items x %zu windows: out of memory", items, per);
    for (size_t i = 0; i < items; i++) {
        size_t got;
        ff_status st = ff_chunk_item_windows(s, (uint32_t)i, w + i * per, per, &got, err);
        if (st) {
            free(w);
            return st;
        }
    }
    *out = w;
    *n = per * items;
    return FF_OK;
}

void ff_chunk_blend(const uint8_t *a, const uint8_t *b, size_t nbytes, int j, int n, uint8_t *out) {
    unsigned wb = (unsigned)j + 1, wa = (unsigned)n + 1 - wb, den = (unsigned)n + 1;
    for (size_t i = 0; i < nbytes; i++) out[i] = (uint8_t)((a[i] * wa + b[i] * wb + den / 2) / den);
}
