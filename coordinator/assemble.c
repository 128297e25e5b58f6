/* assemble: see assemble.h. */
#include "coordinator/assemble.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/ff_frames.h"
#include "video/video.h"

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

typedef struct {
    ff_video_writer *vw;
    ff_assemble_frame_fn on_frame;
    void *user;
    int written;
} out_ctx;

static ff_status write_frame(out_ctx *o, const uint8_t *rgb, ff_err *err) {
    ff_status st = ff_video_write_rgb8(o->vw, rgb, err);
    if (st) return st;
    if (o->on_frame && o->on_frame(o->user, o->written)) return ff_err_set(err, FF_ERR_ARG, "cancelled");
    o->written++;
    return FF_OK;
}

ff_status ff_assemble_item(const Ff__JobSpec *spec, const ff_chunk_window *w, const char *const *paths, size_t n,
                           const char *out_path, ff_assemble_frame_fn on_frame, void *user, ff_err *err) {
    ff_video_format fmt = ff_video_format_for_path(out_path);
    ff_video_opts o;
    ff_video_opts_default(&o, fmt, spec->width, spec->height);
    o.fps_num = spec->fps;
    o.fps_den = 1;
    char tmp[4200];
    const char *target = out_path;
    if (fmt != FF_VIDEO_PNG) {
        const char *slash = strrchr(out_path, '/');
        size_t dlen = slash ? (size_t)(slash - out_path + 1) : 0;
        if (snprintf(tmp, sizeof tmp, "%.*s.partial-%s", (int)dlen, out_path, out_path + dlen) >= (int)sizeof tmp)
            return ff_err_set(err, FF_ERR_ARG, "output path too long: %s", out_path);
        target = tmp;
        unlink(tmp); /* a leftover (or planted) file or symlink there is removed, not written through */
    }
    size_t fb = (size_t)spec->width * spec->height * 3;
    ff_video_writer *vw = NULL;
    ff_status st = ff_video_open(target, &o, &vw, err);
    if (st) return st;
    out_ctx oc = {vw, on_frame, user, 0};
    uint8_t *tail = NULL, *mix = malloc(fb);
    int tail_n = 0;
    if (!mix) st = ff_err_set(err, FF_ERR_NOMEM, "assembling %s: out of memory", out_path);
    for (size_t k = 0; !st && k < n; k++) {
        ff_cfile_reader r;
        if ((st = ff_cfile_open(paths[k], spec->width, spec->height, &r, err))) break;
        int start = ff_chunk_first_frame(w[k].lat_start), frames = ff_chunk_frames(w[k].lat_count);
        int end = start + frames - 1;
        int next_start = k + 1 < n ? ff_chunk_first_frame(w[k + 1].lat_start) : end + 1;
        int prev_n = tail_n; /* overlap with the previous window: frames start .. start + prev_n - 1 */
        uint8_t *new_tail = NULL;
        int new_n = end >= next_start ? end - next_start + 1 : 0;
        if (new_n && !(new_tail = malloc(fb * (size_t)new_n))) st = ff_err_set(err, FF_ERR_NOMEM, "assembling: out of memory");
        for (int f = 0; !st && f < frames; f++) {
            const uint8_t *px;
            if ((st = ff_cfile_next(&r, &px, err))) {
                if (st == FF_ERR_NOT_FOUND)
                    st = ff_err_set(err, FF_ERR_FORMAT, "chunk frames %s: %d frames, the window needs %d", paths[k], f, frames);
                break;
            }
            int g = start + f;
            if (f < prev_n) {
                ff_chunk_blend(tail + (size_t)f * fb, px, fb, f, prev_n, mix);
                st = write_frame(&oc, mix, err);
            } else if (g >= next_start) {
                memcpy(new_tail + (size_t)(g - next_start) * fb, px, fb);
            } else {
                st = write_frame(&oc, px, err);
            }
        }
        if (!st) {
            const uint8_t *extra;
            ff_err e2;
            if (ff_cfile_next(&r, &extra, &e2) != FF_ERR_NOT_FOUND)
                st = ff_err_set(err, FF_ERR_FORMAT, "chunk frames %s: more than the window's %d frames", paths[k], frames);
        }
        ff_cfile_close(&r);
        free(tail);
        tail = new_tail;
        tail_n = new_n;
    }
    if (!st && tail_n) st = ff_err_set(err, FF_ERR_INTERNAL, "assembling %s: %d overlap frames left over", out_path, tail_n);
    free(tail);
    free(mix);
    ff_status cst = ff_video_close(vw, st ? NULL : err);
    if (!st) st = cst;
    if (!st && fmt != FF_VIDEO_PNG && rename(target, out_path))
        st = ff_err_set(err, FF_ERR_IO, "renaming %s to %s: %s", target, out_path, strerror(errno));
    if (st && fmt != FF_VIDEO_PNG) unlink(target);
    return st;
}
