/* video_impl (video-internal): the writer object shared by video.c and the
 * per-format backends video_y4m.c, video_png.c, video_mp4.c. */
#ifndef FF_VIDEO_IMPL_H
#define FF_VIDEO_IMPL_H

#include <stdio.h>

#include "video/video.h"

typedef struct {
    /* one frame of packed RGB8 (H, W, 3) */
    ff_status (*write)(ff_video_writer *w, const uint8_t *rgb, ff_err *err);
    /* finish the output and free impl (called once, also after errors) */
    ff_status (*close)(ff_video_writer *w, ff_err *err);
} ff_video_ops;

struct ff_video_writer {
    ff_video_opts o;
    char *path;              /* owned copy */
    int64_t frames;          /* frames written */
    uint8_t *rgb;            /* scratch frame for ff_video_write_frames */
    const ff_video_ops *ops;
    void *impl;              /* backend state, owned by the backend */
};

/* Each sets w->ops and w->impl, or returns an error with nothing allocated. */
ff_status ff_video_y4m_open(ff_video_writer *w, ff_err *err);
ff_status ff_video_png_open(ff_video_writer *w, ff_err *err);
ff_status ff_video_mp4_open(ff_video_writer *w, ff_err *err);
int ff_video_mp4_available(void);

/* Writes rgb (h, w, 3) as a complete 8-bit RGB PNG to f (stored deflate). */
ff_status ff_video_png_encode(FILE *f, const uint8_t *rgb, int width, int height, const char *what, ff_err *err);

#endif
