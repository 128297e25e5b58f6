/* video: streamed writers for rendered frames — Y4M, a folder of PNG frames,
 * and MP4 (H.264 through libavcodec/libavformat/libswscale).
 *
 * A writer is opened with the frame size and rate, takes frames as they come
 * (one at a time or a chunk of T frames, e.g. per temporal window) and is
 * finished by ff_video_close. Nothing is buffered beyond one frame, so a
 * worker can stream a long video chunk by chunk.
 *
 * Frame convention: float32 (T, H, W, 3) RGB in [0, 1] — WanPipeline's
 * output_type='np' frames for one video. ff_video_frames_from_vae converts
 * the VAE's (B, 3, T, H, W) video in [-1, 1] to that layout
 * (clamp(x * 0.5 + 0.5, 0, 1), as the pipeline does). Quantisation to 8 bits
 * is round(clamp(x, 0, 1) * 255) (PIL's numpy_to_pil; diffusers'
 * export_to_video truncates instead).
 *
 * Formats:
 *  - Y4M: "YUV4MPEG2" with BT.601 limited-range YCbCr, chroma C420jpeg (2x2
 *    box average, the default: what encoders and players expect) or C444
 *    (lossless chroma, for piping into tools). Odd sizes are allowed.
 *  - PNG: <folder>/frame_00000.png, ... 8-bit RGB, written without zlib:
 *    stored (uncompressed) deflate blocks with their Adler-32, chunk CRCs.
 *    Each file is written to a temporary name and renamed when complete.
 *  - MP4: H.264 yuv420p (libx264 with crf/preset when available), BT.709
 *    tagged, even width and height. Built only where FFmpeg was found (the
 *    farm build); otherwise opening one fails with FF_ERR_UNSUPPORTED.
 *
 * Not here: reading videos, audio, container metadata beyond the frame rate.
 * Nothing is printed (FFmpeg's log is silenced per codec context). */
#ifndef FF_VIDEO_H
#define FF_VIDEO_H

#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"

typedef enum { FF_VIDEO_Y4M = 0, FF_VIDEO_PNG = 1, FF_VIDEO_MP4 = 2 } ff_video_format;

typedef struct {
    ff_video_format format;
    int width, height;       /* pixels, >= 1 */
    int fps_num, fps_den;    /* frame rate as a fraction (16/1 for Wan 2.1, 24/1 for Wan 2.2) */
    int y4m_chroma;          /* Y4M: 420 (default) or 444 */
    int crf;                 /* MP4: constant rate factor 0..51 (default 18; 0 = lossless) */
    const char *preset;      /* MP4: x264 preset (NULL = "medium"); not owned */
} ff_video_opts;

typedef struct ff_video_writer ff_video_writer;

/* Defaults for a format and frame size: 16 fps, Y4M 4:2:0, crf 18. */
void ff_video_opts_default(ff_video_opts *o, ff_video_format format, int width, int height);
/* From a path: *.y4m, *.mp4; anything else (a folder) is PNG frames.
 * Returns the format. Lenient: for a path already checked with
 * ff_video_out_format (what every command does with a path a user gave). */
ff_video_format ff_video_format_for_path(const char *path);

/* The output rule of every command (render --out, mpi "out", farm jobs'
 * "output"): "NAME.mp4" (H.264), "NAME.y4m", or "DIR/" (a trailing slash:
 * a folder of PNG frames); extensions are case-insensitive. Anything else
 * ("x.avi", "x.y4m.txt", "frames") is FF_ERR_ARG with a message listing
 * the three, so a typo never silently becomes a folder of PNGs. */
#define FF_VIDEO_OUT_KINDS "NAME.mp4, NAME.y4m or DIR/ (a folder of PNG frames)"
ff_status ff_video_out_format(const char *path, ff_video_format *fmt, ff_err *err);
/* ff_video_out_format, then what can be known before rendering: MP4 needs
 * a build with FFmpeg (FF_ERR_UNSUPPORTED); the folder the file goes into
 * (for DIR/: DIR when it exists, else its parent) must exist
 * (FF_ERR_NOT_FOUND) and take a new file (FF_ERR_ARG: a probe file is
 * created there and removed, so permissions, read-only mounts and full
 * inode tables all show); an existing DIR/ must be a folder and an
 * existing file must not be one. Messages name the path. */
ff_status ff_video_out_check(const char *path, ff_video_format *fmt, ff_err *err);
const char *ff_video_format_name(ff_video_format f);
/* 1 when MP4 writing was compiled in. */
int ff_video_have_mp4(void);

/* Creates path (a file; the folder for PNG, created if missing). On
 * success *out is owned by the caller until ff_video_close. */
ff_status ff_video_open(const char *path, const ff_video_opts *o, ff_video_writer **out, ff_err *err);
/* One frame of packed 8-bit RGB, (H, W, 3). */
ff_status ff_video_write_rgb8(ff_video_writer *w, const uint8_t *rgb, ff_err *err);
/* T frames: F32 host (T, H, W, 3) or (1, T, H, W, 3) in [0, 1] (clamped). */
ff_status ff_video_write_frames(ff_video_writer *w, const ff_tensor *frames, ff_err *err);
int64_t ff_video_frames_written(const ff_video_writer *w);
/* Finishes the file (MP4: flushes the encoder, writes the index) and frees w
 * (also when it fails; w may be NULL). After a write error, close still
 * releases everything. */
ff_status ff_video_close(ff_video_writer *w, ff_err *err);

/* (B, 3, T, H, W) F32 in [-1, 1] -> owned (T, H, W, 3) F32 in [0, 1] for
 * sample b. */
ff_status ff_video_frames_from_vae(const ff_tensor *video, int64_t b, ff_tensor *frames, ff_err *err);
/* n floats in [0, 1] -> bytes: round(clamp(x, 0, 1) * 255); NaN -> 0
 * (core's ff_quantize_u8). */
void ff_video_quantize(const float *src, int64_t n, uint8_t *dst);

#endif
