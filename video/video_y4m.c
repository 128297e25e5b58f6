/* video_y4m: YUV4MPEG2 writer.
 *
 * Header "YUV4MPEG2 W<w> H<h> F<num>:<den> Ip A1:1 C420jpeg|C444
 * XCOLORRANGE=LIMITED", then per frame "FRAME\n" and the Y, Cb, Cr planes.
 * RGB -> YCbCr is BT.601 limited range (Y 16..235, C 16..240) computed in
 * float from the 8-bit RGB; 4:2:0 chroma is the average of each 2x2 block
 * (centre-sited, "420jpeg"; the last row/column of an odd size averages
 * the pixels it has). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "video/video_impl.h"

typedef struct {
    FILE *f;
    int cw, ch;        /* chroma plane size */
    uint8_t *planes;   /* Y (w*h), Cb, Cr (cw*ch each) */
    float *cb, *cr;    /* full-resolution chroma before subsampling */
} y4m_state;

static uint8_t clamp_u8(float v) {
    v = nearbyintf(v);
    return v < 0.0f ? 0 : v > 255.0f ? 255 : (uint8_t)v;
}

static ff_status y4m_write(ff_video_writer *w, const uint8_t *rgb, ff_err *err) {
    y4m_state *s = w->impl;
    int W = w->o.width, H = w->o.height;
    uint8_t *Y = s->planes, *U = Y + (size_t)W * H, *V = U + (size_t)s->cw * s->ch;
    for (size_t i = 0; i < (size_t)W * H; i++) {
        float r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
        Y[i] = clamp_u8(16.0f + (65.481f * r + 128.553f * g + 24.966f * b) / 255.0f);
        s->cb[i] = 128.0f + (-37.797f * r - 74.203f * g + 112.0f * b) / 255.0f;
        s->cr[i] = 128.0f + (112.0f * r - 93.786f * g - 18.214f * b) / 255.0f;
    }
    if (w->o.y4m_chroma == 444) {
        for (size_t i = 0; i < (size_t)W * H; i++) {
            U[i] = clamp_u8(s->cb[i]);
            V[i] = clamp_u8(s->cr[i]);
        }
    } else {
        for (int y = 0; y < s->ch; y++)
            for (int x = 0; x < s->cw; x++) {
                float su = 0, sv = 0;
                int n = 0;
                for (int dy = 0; dy < 2 && 2 * y + dy < H; dy++)
                    for (int dx = 0; dx < 2 && 2 * x + dx < W; dx++) {
                        size_t i = (size_t)(2 * y + dy) * W + (size_t)(2 * x + dx);
                        su += s->cb[i];
                        sv += s->cr[i];
                        n++;
                    }
                U[(size_t)y * s->cw + x] = clamp_u8(su / (float)n);
                V[(size_t)y * s->cw + x] = clamp_u8(sv / (float)n);
            }
    }
    size_t bytes = (size_t)W * H + 2 * (size_t)s->cw * s->ch;
    if (fputs("FRAME\n", s->f) == EOF || fwrite(s->planes, 1, bytes, s->f) != bytes)
        return ff_err_set(err, FF_ERR_IO, "write failed: %s", strerror(errno));
    return FF_OK;
}

static void y4m_free(y4m_state *s) {
    free(s->planes);
    free(s->cb);
    free(s->cr);
    free(s);
}

static ff_status y4m_close(ff_video_writer *w, ff_err *err) {
    y4m_state *s = w->impl;
    ff_status st = FF_OK;
    if (fclose(s->f) != 0) st = ff_err_set(err, FF_ERR_IO, "close failed: %s", strerror(errno));
    y4m_free(s);
    w->impl = NULL;
    return st;
}

static const ff_video_ops y4m_ops = {y4m_write, y4m_close};

ff_status ff_video_y4m_open(ff_video_writer *w, ff_err *err) {
    int W = w->o.width, H = w->o.height;
    y4m_state *s = calloc(1, sizeof *s);
    if (!s) return ff_err_set(err, FF_ERR_NOMEM, "y4m %s: cannot allocate", w->path);
    s->cw = w->o.y4m_chroma == 444 ? W : (W + 1) / 2;
    s->ch = w->o.y4m_chroma == 444 ? H : (H + 1) / 2;
    size_t npix = (size_t)W * H;
    s->planes = malloc(npix + 2 * (size_t)s->cw * s->ch);
    s->cb = malloc(npix * sizeof(float));
    s->cr = malloc(npix * sizeof(float));
    if (!s->planes || !s->cb || !s->cr) {
        y4m_free(s);
        return ff_err_set(err, FF_ERR_NOMEM, "y4m %s: cannot allocate a %dx%d frame", w->path, W, H);
    }
    s->f = fopen(w->path, "wb");
    if (!s->f) {
        int e = errno;
        y4m_free(s);
        return ff_err_set(err, e == ENOENT ? FF_ERR_NOT_FOUND : FF_ERR_IO, "y4m %s: cannot create: %s", w->path,
                          strerror(e));
    }
    if (fprintf(s->f, "YUV4MPEG2 W%d H%d F%d:%d Ip A1:1 %s XCOLORRANGE=LIMITED\n", W, H, w->o.fps_num, w->o.fps_den,
                w->o.y4m_chroma == 444 ? "C444" : "C420jpeg") < 0) {
        fclose(s->f);
        y4m_free(s);
        return ff_err_set(err, FF_ERR_IO, "y4m %s: cannot write the header", w->path);
    }
    w->impl = s;
    w->ops = &y4m_ops;
    return FF_OK;
}
