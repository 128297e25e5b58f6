/* assemble: see assemble.h. */
#include "coordinator/assemble.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/ff_frames.h"
#include "video/video.h"

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
