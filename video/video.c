/* video: the format-independent part of the writers (options, frame
 * conversion, dispatch to video_y4m.c / video_png.c / video_mp4.c). See
 * video.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "video/video_impl.h"

void ff_video_opts_default(ff_video_opts *o, ff_video_format format, int width, int height) {
    memset(o, 0, sizeof *o);
    o->format = format;
    o->width = width;
    o->height = height;
    o->fps_num = 16;
    o->fps_den = 1;
    o->y4m_chroma = 420;
    o->crf = 18;
    o->preset = NULL;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

ff_video_format ff_video_format_for_path(const char *path) {
    if (ends_with(path, ".y4m")) return FF_VIDEO_Y4M;
    if (ends_with(path, ".mp4")) return FF_VIDEO_MP4;
    return FF_VIDEO_PNG;
}

ff_status ff_video_out_format(const char *path, ff_video_format *fmt, ff_err *err) {
    size_t n = path ? strlen(path) : 0;
    if (!n) return ff_err_set(err, FF_ERR_ARG, "empty path: use " FF_VIDEO_OUT_KINDS);
    if (path[n - 1] == '/') {
        if (n == 1) return ff_err_set(err, FF_ERR_ARG, "'/': the root folder cannot hold the frames");
        *fmt = FF_VIDEO_PNG;
    } else if (ends_with(path, ".y4m") && n > 4 && path[n - 5] != '/') {
        *fmt = FF_VIDEO_Y4M;
    } else if (ends_with(path, ".mp4") && n > 4 && path[n - 5] != '/') {
        *fmt = FF_VIDEO_MP4;
    } else {
        return ff_err_set(err, FF_ERR_ARG, "'%s': not a known kind of output: use " FF_VIDEO_OUT_KINDS, path);
    }
    return FF_OK;
}

ff_status ff_video_out_check(const char *path, ff_video_format *fmt, ff_err *err) {
    ff_status st = ff_video_out_format(path, fmt, err);
    if (st) return st;
    if (*fmt == FF_VIDEO_MP4 && !ff_video_mp4_available())
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "'%s': this build has no MP4 writer (built without FFmpeg): use "
                          "NAME.y4m or DIR/", path);
    size_t n = strlen(path);
    char *dir = malloc(n + 1);
    if (!dir) return ff_err_set(err, FF_ERR_NOMEM, "'%s': out of memory", path);
    memcpy(dir, path, n + 1);
    while (n > 1 && dir[n - 1] == '/') dir[--n] = 0; /* DIR/ -> DIR */
    struct stat sb;
    int exists = stat(dir, &sb) == 0;
    if (exists && *fmt == FF_VIDEO_PNG && !S_ISDIR(sb.st_mode))
        st = ff_err_set(err, FF_ERR_ARG, "'%s' exists and is not a folder", path);
    else if (exists && *fmt != FF_VIDEO_PNG && S_ISDIR(sb.st_mode))
        st = ff_err_set(err, FF_ERR_ARG, "'%s' is a folder (a folder of PNG frames is written as DIR/)", path);
    if (!st && !(exists && *fmt == FF_VIDEO_PNG)) { /* the folder that will hold it */
        char *slash = strrchr(dir, '/');
        if (!slash) snprintf(dir, n + 1, ".");
        else if (slash == dir) dir[1] = 0;
        else *slash = 0;
    }
    if (!st && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        st = ff_err_set(err, FF_ERR_NOT_FOUND, "'%s': the folder %s does not exist", path, dir);
    if (!st) { /* can a file be created there? (access() says yes to root on a read-only mount) */
        size_t pn = strlen(dir) + 32;
        char *probe = malloc(pn);
        int fd = -1;
        if (probe) {
            snprintf(probe, pn, "%s/.ff-probe-XXXXXX", dir);
            fd = mkstemp(probe);
        }
        if (fd < 0)
            st = ff_err_set(err, probe ? FF_ERR_ARG : FF_ERR_NOMEM, "'%s': cannot create files in %s: %s", path, dir,
                            probe ? strerror(errno) : "out of memory");
        else {
            close(fd);
            unlink(probe);
        }
        free(probe);
    }
    free(dir);
    return st;
}

const char *ff_video_format_name(ff_video_format f) {
    switch (f) {
    case FF_VIDEO_Y4M: return "y4m";
    case FF_VIDEO_PNG: return "png";
    case FF_VIDEO_MP4: return "mp4";
    }
    return "?";
}

int ff_video_have_mp4(void) { return ff_video_mp4_available(); }

ff_status ff_video_open(const char *path, const ff_video_opts *o, ff_video_writer **out, ff_err *err) {
    *out = NULL;
    if (!path || !*path) return ff_err_set(err, FF_ERR_ARG, "video: empty output path");
    if (o->width < 1 || o->height < 1 || o->width > 65536 || o->height > 65536)
        return ff_err_set(err, FF_ERR_ARG, "video %s: frame size %dx%d", path, o->width, o->height);
    if (o->fps_num < 1 || o->fps_den < 1)
        return ff_err_set(err, FF_ERR_ARG, "video %s: frame rate %d/%d must be positive", path, o->fps_num, o->fps_den);
    if (o->format == FF_VIDEO_Y4M && o->y4m_chroma != 420 && o->y4m_chroma != 444)
        return ff_err_set(err, FF_ERR_ARG, "video %s: y4m_chroma %d (420 or 444)", path, o->y4m_chroma);
    if (o->format == FF_VIDEO_MP4 && (o->crf < 0 || o->crf > 51))
        return ff_err_set(err, FF_ERR_ARG, "video %s: crf %d (0..51)", path, o->crf);
    ff_video_writer *w = calloc(1, sizeof *w);
    if (!w) return ff_err_set(err, FF_ERR_NOMEM, "video %s: cannot allocate a writer", path);
    w->o = *o;
    w->o.preset = NULL; /* not owned: the mp4 backend copies it at open */
    w->path = strdup(path);
    w->rgb = malloc((size_t)o->width * (size_t)o->height * 3);
    if (!w->path || !w->rgb) {
        free(w->path);
        free(w->rgb);
        free(w);
        return ff_err_set(err, FF_ERR_NOMEM, "video %s: cannot allocate a %dx%d frame", path, o->width, o->height);
    }
    ff_status st;
    switch (o->format) {
    case FF_VIDEO_Y4M: st = ff_video_y4m_open(w, err); break;
    case FF_VIDEO_PNG: st = ff_video_png_open(w, err); break;
    case FF_VIDEO_MP4:
        w->o.preset = o->preset;
        st = ff_video_mp4_open(w, err);
        w->o.preset = NULL;
        break;
    default: st = ff_err_set(err, FF_ERR_ARG, "video %s: unknown format %d", path, (int)o->format);
    }
    if (st) {
        free(w->path);
        free(w->rgb);
        free(w);
        return st;
    }
    *out = w;
    return FF_OK;
}

ff_status ff_video_write_rgb8(ff_video_writer *w, const uint8_t *rgb, ff_err *err) {
    if (!w || !rgb) return ff_err_set(err, FF_ERR_ARG, "video: write with a NULL writer or frame");
    ff_status st = w->ops->write(w, rgb, err);
    if (st) return ff_err_wrap(err, "video %s frame %lld: ", w->path, (long long)w->frames);
    w->frames++;
    return FF_OK;
}

void ff_video_quantize(const float *src, int64_t n, uint8_t *dst) { ff_quantize_u8(src, n, dst); }

ff_status ff_video_write_frames(ff_video_writer *w, const ff_tensor *frames, ff_err *err) {
    char d[96];
    if (!w || !frames || !frames->data) return ff_err_set(err, FF_ERR_ARG, "video: write with a NULL writer or frames");
    int nd = frames->ndim;
    const int64_t *sh = frames->shape;
    int ok = frames->dtype == FF_F32 && frames->loc == FF_LOC_HOST && (nd == 4 || (nd == 5 && sh[0] == 1));
    const int64_t *thw = sh + (nd - 4);
    if (!ok || thw[1] != w->o.height || thw[2] != w->o.width || thw[3] != 3)
        return ff_err_set(err, FF_ERR_SHAPE, "video %s: frames %s, expected F32 host (T, %d, %d, 3)", w->path,
                          ff_tensor_describe(frames, d, sizeof d), w->o.height, w->o.width);
    int64_t per = (int64_t)w->o.width * w->o.height * 3;
    for (int64_t t = 0; t < thw[0]; t++) {
        ff_video_quantize((const float *)frames->data + t * per, per, w->rgb);
        ff_status st = ff_video_write_rgb8(w, w->rgb, err);
        if (st) return st;
    }
    return FF_OK;
}

int64_t ff_video_frames_written(const ff_video_writer *w) { return w->frames; }

ff_status ff_video_close(ff_video_writer *w, ff_err *err) {
    if (!w) return FF_OK;
    ff_status st = w->ops->close(w, err);
    if (st) ff_err_wrap(err, "video %s: ", w->path);
    free(w->path);
    free(w->rgb);
    free(w);
    return st;
}

ff_status ff_video_frames_from_vae(const ff_tensor *video, int64_t b, ff_tensor *frames, ff_err *err) {
    char d[96];
    memset(frames, 0, sizeof *frames);
    if (!video || video->dtype != FF_F32 || video->loc != FF_LOC_HOST || video->ndim != 5 || video->shape[1] != 3)
        return ff_err_set(err, FF_ERR_SHAPE, "video: VAE output %s, expected F32 host (B, 3, T, H, W)",
                          video ? ff_tensor_describe(video, d, sizeof d) : "NULL");
    if (b < 0 || b >= video->shape[0])
        return ff_err_set(err, FF_ERR_ARG, "video: sample %lld of a batch of %lld", (long long)b,
                          (long long)video->shape[0]);
    int64_t T = video->shape[2], H = video->shape[3], W = video->shape[4], plane = T * H * W;
    ff_status st = ff_tensor_allocv(frames, FF_F32, err, 4, T, H, W, (int64_t)3);
    if (st) return st;
    const float *src = (const float *)video->data + b * 3 * plane;
    float *dst = frames->data;
    for (int64_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            /* VaeImageProcessor.denormalize: (x * 0.5 + 0.5).clamp(0, 1) */
            float v = src[c * plane + i] * 0.5f + 0.5f;
            dst[i * 3 + c] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
    return FF_OK;
}
