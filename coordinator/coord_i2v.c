/* coord_i2v: the dependency between successive windows of an
 * image-to-video item (coordinator/chunking.h): window k > 0 starts from
 * the last decoded frame of window k - 1, so it is dispatched only once
 * that window is done, with that frame in place of the job's image in the
 * task's spec (pixels and crc32, as the client puts the job's image). Other
 * items' windows run in parallel. */
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_internal.h"
#include "proto/ff_chunkfile.h"

const chunk *coord_chunk_after(const job *j, const chunk *ch) {
    if (!ff_jobspec_is_i2v(j->spec) || ch->lat_start == 0 || ch->idx == 0) return NULL;
    const chunk *prev = &j->chunks[ch->idx - 1]; /* windows of an item are consecutive chunks */
    return prev->item == ch->item ? prev : NULL;
}

int coord_chunk_ready(const job *j, const chunk *ch) {
    const chunk *prev = coord_chunk_after(j, ch);
    return !prev || prev->state == FF_CS_DONE;
}

int coord_job_has_ready(const job *j) {
    if (!ff_jobspec_is_i2v(j->spec)) return 1;
    int seen = 0;
    for (uint32_t i = j->scan_from; i < j->n_chunks && seen < 256; i++) {
        const chunk *ch = &j->chunks[i];
        if (ch->state != FF_CS_QUEUED) continue;
        seen++;
        if (coord_chunk_ready(j, ch)) return 1;
    }
    return 0;
}

ff_status coord_i2v_task_spec(ff_coord *c, const job *j, const chunk *ch, Ff__JobSpec *copy, uint8_t **pixels,
                              ff_err *err) {
    *pixels = NULL;
    const chunk *prev = coord_chunk_after(j, ch);
    if (!prev) return FF_OK;
    const Ff__JobSpec *s = j->spec;
    char p[4200];
    ff_status st = ff_store_chunk_path(c->store, j->id, prev->idx, ".frames", p, sizeof p, err);
    if (st) return st;
    ff_cfile_reader r;
    if ((st = ff_cfile_open(p, s->width, s->height, &r, err))) return st;
    const size_t fb = (size_t)s->width * (size_t)s->height * 3;
    uint8_t *last = malloc(fb);
    int got = 0;
    if (!last) st = ff_err_set(err, FF_ERR_NOMEM, "job %llu chunk %u: out of memory", (unsigned long long)j->id, ch->idx);
    const uint8_t *f;
    while (!st && !(st = ff_cfile_next(&r, &f, err))) memcpy(last, f, fb), got++;
    if (st == FF_ERR_NOT_FOUND) st = got ? FF_OK : ff_err_set(err, FF_ERR_FORMAT, "%s holds no frame", p);
    ff_cfile_close(&r);
    if (!st) {
        *copy = *s; /* shallow: only the image differs, and copy does not own any of it */
        copy->image_rgb.data = NULL, copy->image_rgb.len = 0, copy->has_image_rgb = 0;
        st = ff_jobspec_set_image(copy, last, s->width, s->height, err);
        *pixels = copy->image_rgb.data; /* the caller frees it after sending */
    }
    free(last);
    if (st) ff_err_wrap(err, "job %llu chunk %u, the last frame of chunk %u: ", (unsigned long long)j->id, ch->idx,
                        prev->idx);
    return st;
}
