/* ff_chunkfile: see ff_chunkfile.h. */
#include "proto/ff_chunkfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ff_frames.h"

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

ff_status ff_cfile_append(FILE *f, int t0, int count, int width, int height, const uint8_t *z, size_t zn, ff_err *err) {
    uint8_t h[28];
    memcpy(h, "FFCF", 4);
    put32(h + 4, (uint32_t)t0);
    put32(h + 8, (uint32_t)count);
    put32(h + 12, (uint32_t)width);
    put32(h + 16, (uint32_t)height);
    put32(h + 20, (uint32_t)(zn & 0xffffffffu));
    put32(h + 24, (uint32_t)((uint64_t)zn >> 32));
    if (fwrite(h, 1, sizeof h, f) != sizeof h || fwrite(z, 1, zn, f) != zn)
        return ff_err_set(err, FF_ERR_IO, "writing chunk frames: %s", strerror(errno));
    return FF_OK;
}

ff_status ff_cfile_open(const char *path, int width, int height, ff_cfile_reader *r, ff_err *err) {
    memset(r, 0, sizeof *r);
    r->width = width;
    r->height = height;
    if (!(r->path = strdup(path))) return ff_err_set(err, FF_ERR_NOMEM, "out of memory");
    if (!(r->f = fopen(path, "rb"))) {
        ff_status st = ff_err_set(err, FF_ERR_IO, "chunk frames %s: %s", path, strerror(errno));
        free(r->path);
        r->path = NULL;
        return st;
    }
    return FF_OK;
}

void ff_cfile_close(ff_cfile_reader *r) {
    if (r->f) fclose(r->f);
    free(r->buf);
    free(r->path);
    memset(r, 0, sizeof *r);
}

ff_status ff_cfile_next(ff_cfile_reader *r, const uint8_t **frame, ff_err *err) {
    size_t fb = (size_t)r->width * r->height * 3;
    if (r->buf && r->next_t < r->rec_t0 + r->rec_count) {
        *frame = r->buf + (size_t)(r->next_t - r->rec_t0) * fb;
        r->next_t++;
        return FF_OK;
    }
    uint8_t h[28];
    size_t got = fread(h, 1, sizeof h, r->f);
    if (got == 0 && feof(r->f)) return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: end of frames", r->path);
    if (got != sizeof h || memcmp(h, "FFCF", 4))
        return ff_err_set(err, FF_ERR_FORMAT, "chunk frames %s: bad record header after frame %d", r->path, r->next_t);
    int t0 = (int)get32(h + 4), count = (int)get32(h + 8), w = (int)get32(h + 12), hh = (int)get32(h + 16);
    uint64_t zn = get32(h + 20) | (uint64_t)get32(h + 24) << 32;
    if (t0 != r->next_t || count < 1 || count > 4096 || w != r->width || hh != r->height || zn == 0 || zn > (1u << 30))
        return ff_err_set(err, FF_ERR_FORMAT, "chunk frames %s: record t0 %d (want %d), %d frames of %dx%d (want %dx%d)",
                          r->path, t0, r->next_t, count, w, hh, r->width, r->height);
    uint8_t *z = malloc(zn), *nb = realloc(r->buf, fb * (size_t)count);
    if (!z || !nb) {
        free(z);
        if (nb) r->buf = nb;
        return ff_err_set(err, FF_ERR_NOMEM, "chunk frames %s: out of memory", r->path);
    }
    r->buf = nb;
    ff_status st = FF_OK;
    if (fread(z, 1, zn, r->f) != zn) st = ff_err_set(err, FF_ERR_FORMAT, "chunk frames %s: truncated record", r->path);
    if (!st) st = ff_frames_inflate(z, zn, r->buf, fb * (size_t)count, err);
    free(z);
    if (st) return st;
    r->rec_t0 = t0;
    r->rec_count = count;
    *frame = r->buf;
    r->next_t = t0 + 1;
    return FF_OK;
}
