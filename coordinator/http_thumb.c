/* http_thumb: see http_thumb.h. */
#include "coordinator/http_thumb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "coordinator/assemble.h"

void ff_thumb_scale(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
    for (int y = 0; y < dh; y++) {
        int y0 = (int)((int64_t)y * sh / dh), y1 = (int)((int64_t)(y + 1) * sh / dh);
        if (y1 <= y0) y1 = y0 + 1;
        for (int x = 0; x < dw; x++) {
            int x0 = (int)((int64_t)x * sw / dw), x1 = (int)((int64_t)(x + 1) * sw / dw);
            if (x1 <= x0) x1 = x0 + 1;
            uint64_t acc[3] = {0, 0, 0}, n = (uint64_t)(y1 - y0) * (uint64_t)(x1 - x0);
            for (int yy = y0; yy < y1; yy++) {
                const uint8_t *row = src + ((size_t)yy * sw + x0) * 3;
                for (int xx = x0; xx < x1; xx++, row += 3) {
                    acc[0] += row[0];
                    acc[1] += row[1];
                    acc[2] += row[2];
                }
            }
            uint8_t *o = dst + ((size_t)y * dw + x) * 3;
            for (int c = 0; c < 3; c++) o[c] = (uint8_t)((acc[c] + n / 2) / n);
        }
    }
}

static void put32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One PNG chunk (length, type, data, CRC of type+data) at out; returns its size. */
static size_t png_chunk(uint8_t *out, const char type[4], const uint8_t *data, size_t n) {
    put32be(out, (uint32_t)n);
    memcpy(out + 4, type, 4);
    if (n) memcpy(out + 8, data, n);
    put32be(out + 8 + n, (uint32_t)crc32(0L, out + 4, (uInt)(n + 4)));
    return n + 12;
}

ff_status ff_thumb_png(const uint8_t *rgb, int w, int h, uint8_t **png, size_t *len, ff_err *err) {
    *png = NULL;
    *len = 0;
    if (w < 1 || h < 1 || w > 65535 || h > 65535) return ff_err_set(err, FF_ERR_ARG, "thumbnail: bad size %dx%d", w, h);
    size_t stride = (size_t)w * 3 + 1, raw_n = stride * (size_t)h; /* filter byte 0 (none) + RGB per row */
    uint8_t *raw = malloc(raw_n);
    uLongf zn = compressBound((uLong)raw_n);
    uint8_t *out = raw ? malloc(8 + 25 + 12 + zn + 12) : NULL;
    if (!raw || !out) {
        free(raw);
        free(out);
        return ff_err_set(err, FF_ERR_NOMEM, "thumbnail: out of memory");
    }
    for (int y = 0; y < h; y++) {
        raw[(size_t)y * stride] = 0;
        memcpy(raw + (size_t)y * stride + 1, rgb + (size_t)y * w * 3, (size_t)w * 3);
    }
    static const uint8_t SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, SIG, 8);
    size_t n = 8;
    uint8_t ihdr[13];
    put32be(ihdr, (uint32_t)w);
    put32be(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* truecolour */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    n += png_chunk(out + n, "IHDR", ihdr, sizeof ihdr);
    /* IDAT: the zlib stream written straight into its chunk */
    int zr = compress2(out + n + 8, &zn, raw, (uLong)raw_n, 6);
    free(raw);
    if (zr != Z_OK) {
        free(out);
        return ff_err_set(err, FF_ERR_INTERNAL, "thumbnail: compress2 failed (%d)", zr);
    }
    put32be(out + n, (uint32_t)zn);
    memcpy(out + n + 4, "IDAT", 4);
    put32be(out + n + 8 + zn, (uint32_t)crc32(0L, out + n + 4, (uInt)(zn + 4)));
    n += zn + 12;
    n += png_chunk(out + n, "IEND", NULL, 0);
    *png = out;
    *len = n;
    return FF_OK;
}

static uint32_t get32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

ff_status ff_thumb_chunk_png(const char *state_dir, uint64_t job, uint32_t chunk, int frame, int max_w, int max_h,
                             uint8_t **png, size_t *len, ff_err *err) {
    *png = NULL;
    *len = 0;
    if (frame < 0 || max_w < 1 || max_h < 1 || max_w > FF_THUMB_MAX_SIDE || max_h > FF_THUMB_MAX_SIDE)
        return ff_err_set(err, FF_ERR_ARG, "thumbnail: frame %d at most %dx%d is out of range", frame, max_w, max_h);
    char path[4200];
    if (snprintf(path, sizeof path, "%s/chunks/%llu/%u.frames", state_dir, (unsigned long long)job, chunk) >=
        (int)sizeof path)
        return ff_err_set(err, FF_ERR_ARG, "thumbnail: state folder path too long");
    /* the frame size, from the first record's header (the reader checks every record against it) */
    FILE *f = fopen(path, "rb");
    if (!f)
        return ff_err_set(err, errno == ENOENT ? FF_ERR_NOT_FOUND : FF_ERR_IO, "job %llu chunk %u: no finished frames (%s)",
                          (unsigned long long)job, chunk, strerror(errno));
    uint8_t h[28];
    size_t got = fread(h, 1, sizeof h, f);
    fclose(f);
    int w = got == sizeof h ? (int)get32le(h + 12) : 0, hh = got == sizeof h ? (int)get32le(h + 16) : 0;
    if (got != sizeof h || memcmp(h, "FFCF", 4) || w < 1 || hh < 1 || w > 16384 || hh > 16384)
        return ff_err_set(err, FF_ERR_FORMAT, "job %llu chunk %u: frames file has no valid first record",
                          (unsigned long long)job, chunk);
    ff_cfile_reader r;
    ff_status st = ff_cfile_open(path, w, hh, &r, err);
    if (st) return st;
    const uint8_t *rgb = NULL;
    for (int i = 0; !st && i <= frame; i++) st = ff_cfile_next(&r, &rgb, err);
    if (st == FF_ERR_NOT_FOUND) ff_err_set(err, FF_ERR_NOT_FOUND, "job %llu chunk %u has no frame %d", (unsigned long long)job, chunk, frame);
    int dw = w, dh = hh;
    if (dw > max_w) dh = (int)((int64_t)dh * max_w / dw), dw = max_w;
    if (dh > max_h) dw = (int)((int64_t)dw * max_h / dh), dh = max_h;
    if (dw < 1) dw = 1;
    if (dh < 1) dh = 1;
    uint8_t *small = st ? NULL : malloc((size_t)dw * dh * 3);
    if (!st && !small) st = ff_err_set(err, FF_ERR_NOMEM, "thumbnail: out of memory");
    if (!st) {
        ff_thumb_scale(rgb, w, hh, small, dw, dh);
        st = ff_thumb_png(small, dw, dh, png, len, err);
    }
    free(small);
    ff_cfile_close(&r);
    return st;
}
