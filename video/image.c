/* image: format detection, limits, file reading, EXIF orientation and the
 * exif_transpose transforms; the decoders are image_png.c and image_jpeg.c.
 * See image.h for what is converted and what is refused. */
#include "video/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "video/image_impl.h"

void ff_image_limits_default(ff_image_limits *l) {
    l->min_side = FF_IMAGE_MIN_SIDE;
    l->max_side = FF_IMAGE_MAX_SIDE;
    l->max_pixels = FF_IMAGE_MAX_PIXELS;
    l->max_file_bytes = FF_IMAGE_MAX_FILE_BYTES;
}

int ff_image_have_png(void) { return ff_image_png_compiled(); }
int ff_image_have_jpeg(void) { return ff_image_jpeg_compiled(); }

ff_status ff_image_check_size(const char *what, int width, int height, const ff_image_limits *lim, ff_err *err) {
    if (width < 1 || height < 1)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: image header says %dx%d pixels", what, width, height);
    if (width < lim->min_side || height < lim->min_side)
        return ff_err_set(err, FF_ERR_ARG,
                          "%s: image is %dx%d pixels, smaller than the %dx%d minimum for a conditioning image", what,
                          width, height, lim->min_side, lim->min_side);
    if (width > lim->max_side || height > lim->max_side || (int64_t)width * height > lim->max_pixels)
        return ff_err_set(err, FF_ERR_ARG,
                          "%s: image is %dx%d pixels, over the limit (%d pixels a side, %lld pixels in all)", what,
                          width, height, lim->max_side, (long long)lim->max_pixels);
    return FF_OK;
}

void ff_image_to_rgb(const uint8_t *src, int ch, int64_t npix, uint8_t *dst) {
    for (int64_t i = 0; i < npix; i++, src += ch, dst += 3) {
        if (ch <= 2) { /* L / LA -> RGB: replicate, drop alpha */
            dst[0] = dst[1] = dst[2] = src[0];
        } else {       /* RGB / RGBA -> RGB: drop alpha */
            dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
        }
    }
}

/* ---- EXIF orientation --------------------------------------------------- */

static uint32_t rd16(const uint8_t *p, int le) { return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int ff_image_exif_orientation(const uint8_t *d, size_t n) {
    if (!d) return 0;
    if (n >= 6 && !memcmp(d, "Exif\0\0", 6)) d += 6, n -= 6; /* PIL Exif.load strips it */
    if (n < 8) return 0;
    int le;
    if (!memcmp(d, "II*\0", 4)) le = 1;
    else if (!memcmp(d, "MM\0*", 4)) le = 0;
    else return 0;
    uint32_t ifd = rd32(d + 4, le);
    if (ifd > n || n - ifd < 2) return 0;
    uint32_t count = rd16(d + ifd, le);
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) return 0;
        if (rd16(d + e, le) != 0x0112) continue;
        uint32_t type = rd16(d + e + 2, le), cnt = rd32(d + e + 4, le);
        if (cnt < 1 || (type != 3 && type != 4)) return 0;
        uint32_t v = type == 3 ? rd16(d + e + 8, le) : rd32(d + e + 8, le); /* SHORT / LONG, inline */
        return v > 65535 ? 0 : (int)v;
    }
    return 0;
}

ff_status ff_image_orient(ff_tensor *img, int o, ff_err *err) {
    if (o < 2 || o > 8) return FF_OK;
    if (img->dtype != FF_U8 || img->ndim != 3 || img->shape[2] != 3 || img->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_ARG, "image orientation: expected a host U8 (H, W, 3) tensor");
    const int64_t H = img->shape[0], W = img->shape[1];
    const int swap = o >= 5; /* TRANSPOSE, ROTATE_270, TRANSVERSE, ROTATE_90 swap the axes */
    const int64_t OH = swap ? W : H, OW = swap ? H : W;
    ff_tensor out;
    ff_status st = ff_tensor_allocv(&out, FF_U8, err, 3, OH, OW, (int64_t)3);
    if (st) return ff_err_wrap(err, "image orientation: ");
    const uint8_t *s = img->data;
    uint8_t *d = out.data;
    for (int64_t y = 0; y < OH; y++)
        for (int64_t x = 0; x < OW; x++) {
            int64_t sy, sx; /* out[y][x] = in[sy][sx], Pillow's Geometry.c transposes */
            switch (o) {
            case 2: sy = y, sx = W - 1 - x; break;                  /* FLIP_LEFT_RIGHT */
            case 3: sy = H - 1 - y, sx = W - 1 - x; break;          /* ROTATE_180 */
            case 4: sy = H - 1 - y, sx = x; break;                  /* FLIP_TOP_BOTTOM */
            case 5: sy = x, sx = y; break;                          /* TRANSPOSE */
            case 6: sy = H - 1 - x, sx = y; break;                  /* ROTATE_270 (clockwise) */
            case 7: sy = H - 1 - x, sx = W - 1 - y; break;          /* TRANSVERSE */
            default: sy = x, sx = W - 1 - y; break;                 /* 8: ROTATE_90 (counter-clockwise) */
            }
            memcpy(d + (y * OW + x) * 3, s + (sy * W + sx) * 3, 3);
        }
    ff_tensor_free(img);
    *img = out;
    return FF_OK;
}

/* ---- decoding ------------------------------------------------------------ */

static const char *sniff_other(const uint8_t *d, size_t n) {
    if (n >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6))) return "GIF";
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return "WebP";
    if (n >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4))) return "TIFF";
    if (n >= 2 && !memcmp(d, "BM", 2)) return "BMP";
    if (n >= 12 && !memcmp(d + 4, "ftyp", 4)) {
        if (!memcmp(d + 8, "avif", 4)) return "AVIF";
        if (!memcmp(d + 8, "heic", 4) || !memcmp(d + 8, "heix", 4) || !memcmp(d + 8, "mif1", 4)) return "HEIF";
    }
    if (n >= 12 && !memcmp(d, "\0\0\0\x0cjP  ", 8)) return "JPEG 2000";
    if (n >= 4 && !memcmp(d, "qoif", 4)) return "QOI";
    return NULL;
}

ff_status ff_image_decode(const uint8_t *data, size_t n, const char *what, const ff_image_limits *lim,
                          ff_tensor *out, ff_image_info *info, ff_err *err) {
    memset(out, 0, sizeof *out);
    ff_image_limits dl;
    if (!lim) ff_image_limits_default(&dl), lim = &dl;
    ff_image_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    info->orientation = 1;
    if (!what) what = "image";
    if (n > lim->max_file_bytes)
        return ff_err_set(err, FF_ERR_ARG, "%s: %zu bytes, over the %zu-byte limit for an image file", what, n,
                          lim->max_file_bytes);
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ff_status st;
    if (n >= 8 && !memcmp(data, png_sig, 8)) {
        st = ff_image_png_decode(data, n, what, lim, out, info, err);
    } else if (n >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
        st = ff_image_jpeg_decode(data, n, what, lim, out, info, err);
    } else {
        const char *other = sniff_other(data, n);
        if (other)
            return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: %s images are not supported (PNG or JPEG only)", what,
                              other);
        if (n == 0) return ff_err_set(err, FF_ERR_FORMAT, "%s: empty file, not an image", what);
        return ff_err_set(err, FF_ERR_FORMAT, "%s: not a PNG or JPEG image (unknown signature)", what);
    }
    if (st) return st;
    if ((st = ff_image_orient(out, info->orientation, err))) {
        ff_tensor_free(out);
        return ff_err_wrap(err, "%s: ", what);
    }
    return FF_OK;
}

ff_status ff_image_read(const char *path, const ff_image_limits *lim, ff_tensor *out, ff_image_info *info,
                        ff_err *err) {
    memset(out, 0, sizeof *out);
    ff_image_limits dl;
    if (!lim) ff_image_limits_default(&dl), lim = &dl;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ff_err_set(err, errno == ENOENT ? FF_ERR_NOT_FOUND : FF_ERR_IO, "%s: cannot open image: %s", path,
                          strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return ff_err_set(err, FF_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > lim->max_file_bytes) {
        fclose(f);
        return ff_err_set(err, FF_ERR_ARG, "%s: %lld bytes, over the %zu-byte limit for an image file", path,
                          (long long)sb.st_size, lim->max_file_bytes);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return ff_err_set(err, FF_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != n || rerr) {
        free(buf);
        return ff_err_set(err, FF_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    ff_status st = ff_image_decode(buf, n, path, lim, out, info, err);
    free(buf);
    return st;
}
