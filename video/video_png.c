/* video_png: a folder of PNG frames (frame_00000.png, ...), encoded without
 * zlib.
 *
 * Each file: signature, IHDR (8-bit RGB, no interlace), IDAT chunks carrying
 * one zlib stream made of stored (uncompressed, BTYPE=00) deflate blocks of
 * at most 65535 bytes — one block per IDAT chunk — over the scanlines, each
 * prefixed with filter type 0; the stream ends with its Adler-32; IEND.
 * Files are about 3*W*H bytes: the point is a dependency-free, exact output
 * that any decoder reads, not small files (use mp4 for that). A frame is
 * written to "<name>.tmp" and renamed when complete, so a reader never sees
 * half a frame. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "video/video_impl.h"

#define PNG_BLOCK 65535u

typedef struct {
    uint32_t table[256];
    uint32_t crc;
} crc32_state;

static void crc_init_table(uint32_t *t) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[n] = c;
    }
}

static void crc_add(crc32_state *c, const uint8_t *p, size_t n) {
    uint32_t v = c->crc;
    for (size_t i = 0; i < n; i++) v = c->table[(v ^ p[i]) & 0xff] ^ (v >> 8);
    c->crc = v;
}

static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes one chunk: length, type, data, CRC(type + data). */
static int put_chunk(FILE *f, crc32_state *c, const char *type, const uint8_t *data, uint32_t n) {
    uint8_t hdr[8], tail[4];
    be32(hdr, n);
    memcpy(hdr + 4, type, 4);
    c->crc = 0xffffffffu;
    crc_add(c, hdr + 4, 4);
    crc_add(c, data, n);
    be32(tail, c->crc ^ 0xffffffffu);
    return fwrite(hdr, 1, 8, f) == 8 && (n == 0 || fwrite(data, 1, n, f) == n) && fwrite(tail, 1, 4, f) == 4 ? 0 : -1;
}

ff_status ff_video_png_encode(FILE *f, const uint8_t *rgb, int width, int height, const char *what, ff_err *err) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const size_t row = (size_t)width * 3, raw = (size_t)height * (row + 1);
    crc32_state c;
    uint8_t ihdr[13];
    /* zlib header (2) + block header (5) + block + Adler-32 (4) */
    uint8_t *chunk = malloc(2 + 5 + PNG_BLOCK + 4);
    if (!chunk) return ff_err_set(err, FF_ERR_NOMEM, "png %s: cannot allocate", what);
    crc_init_table(c.table);
    be32(ihdr, (uint32_t)width);
    be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering (we use filter 0 on every row) */
    ihdr[12] = 0; /* no interlace */
    int bad = fwrite(sig, 1, 8, f) != 8 || put_chunk(f, &c, "IHDR", ihdr, 13);

    uint32_t a1 = 1, a2 = 0; /* Adler-32 of the raw stream */
    size_t done = 0;         /* raw bytes emitted */
    size_t y = 0, x = 0;     /* position in the scanline stream: row y, byte x (0 = filter byte) */
    while (!bad && done < raw) {
        size_t n = raw - done < PNG_BLOCK ? raw - done : PNG_BLOCK, k = 0;
        uint8_t *p = chunk;
        if (done == 0) {
            *p++ = 0x78; /* CM 8, 32K window */
            *p++ = 0x01; /* FCHECK: 0x7801 % 31 == 0, no dict, fastest */
        }
        int final = done + n == raw;
        *p++ = (uint8_t)final; /* BFINAL, BTYPE 00 */
        p[0] = (uint8_t)n;
        p[1] = (uint8_t)(n >> 8);
        p[2] = (uint8_t)~n;
        p[3] = (uint8_t)(~n >> 8);
        p += 4;
        uint8_t *data = p;
        while (k < n) {
            if (x == 0) {
                data[k++] = 0; /* filter type None */
                x = 1;
                continue;
            }
            size_t take = row - (x - 1);
            if (take > n - k) take = n - k;
            memcpy(data + k, rgb + y * row + (x - 1), take);
            k += take;
            x += take;
            if (x == row + 1) {
                x = 0;
                y++;
            }
        }
        for (size_t i = 0; i < n; i++) { /* n <= 65535: no overflow before the modulo */
            a1 += data[i];
            a2 += a1;
            if ((i & 4095) == 4095) {
                a1 %= 65521u;
                a2 %= 65521u;
            }
        }
        a1 %= 65521u;
        a2 %= 65521u;
        p += n;
        if (final) {
            be32(p, (a2 << 16) | a1);
            p += 4;
        }
        done += n;
        bad = put_chunk(f, &c, "IDAT", chunk, (uint32_t)(p - chunk));
    }
    if (!bad) bad = put_chunk(f, &c, "IEND", NULL, 0);
    free(chunk);
    if (bad) return ff_err_set(err, FF_ERR_IO, "png %s: write failed: %s", what, strerror(errno));
    return FF_OK;
}

static ff_status png_write(ff_video_writer *w, const uint8_t *rgb, ff_err *err) {
    char path[PATH_MAX], tmp[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/frame_%05lld.png", w->path, (long long)w->frames) >= sizeof path ||
        (size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return ff_err_set(err, FF_ERR_ARG, "frame path too long");
    FILE *f = fopen(tmp, "wb");
    if (!f) return ff_err_set(err, FF_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    ff_status st = ff_video_png_encode(f, rgb, w->o.width, w->o.height, tmp, err);
    if (fclose(f) != 0 && !st) st = ff_err_set(err, FF_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0) st = ff_err_set(err, FF_ERR_IO, "cannot rename %s: %s", tmp, strerror(errno));
    if (st) remove(tmp);
    return st;
}

static ff_status png_close(ff_video_writer *w, ff_err *err) {
    (void)err;
    w->impl = NULL;
    return FF_OK;
}

static const ff_video_ops png_ops = {png_write, png_close};

ff_status ff_video_png_open(ff_video_writer *w, ff_err *err) {
    struct stat sb;
    if (mkdir(w->path, 0777) != 0 && errno != EEXIST)
        return ff_err_set(err, errno == ENOENT ? FF_ERR_NOT_FOUND : FF_ERR_IO, "png %s: cannot create the folder: %s",
                          w->path, strerror(errno));
    if (stat(w->path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ff_err_set(err, FF_ERR_IO, "png %s: exists and is not a folder", w->path);
    w->impl = NULL;
    w->ops = &png_ops;
    return FF_OK;
}
