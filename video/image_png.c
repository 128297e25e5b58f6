/* image_png: PNG decoding through libpng 1.6 (setjmp error handling, reading
 * from memory), with Pillow's conversions to RGB (see image.h). Built as a
 * stub that refuses every PNG when CMake did not find libpng. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "video/image_impl.h"

#ifndef FF_HAVE_LIBPNG

int ff_image_png_compiled(void) { return 0; }

ff_status ff_image_png_decode(const uint8_t *data, size_t n, const char *what, const ff_image_limits *lim,
                              ff_tensor *out, ff_image_info *info, ff_err *err) {
    (void)data, (void)n, (void)lim, (void)out, (void)info;
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: PNG image, but framefarm was built without PNG support (libpng)",
                      what);
}

#else

#include <png.h>

int ff_image_png_compiled(void) { return 1; }

/* Everything the error path frees lives here, not in locals (setjmp). */
typedef struct {
    const uint8_t *data;
    size_t n, pos;
    int truncated;
    char msg[200];
    uint8_t *raw;       /* decoded rows, ch channels */
    png_bytep *rows;
} png_job;

static void on_error(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; } /* Pillow ignores them too */

static void on_read(png_structp png, png_bytep out, size_t len) {
    png_job *j = png_get_io_ptr(png);
    if (len > j->n - j->pos) {
        j->truncated = 1;
        png_error(png, "unexpected end of file");
    }
    memcpy(out, j->data + j->pos, len);
    j->pos += len;
}

/* Pillow's "Raw profile type exif" text: hex after the third newline. */
static int raw_profile_orientation(const char *txt, size_t len) {
    size_t i = 0;
    for (int nl = 0; i < len && nl < 3; i++)
        if (txt[i] == '\n') nl++;
    size_t cap = (len - i) / 2 + 1, k = 0;
    uint8_t *b = malloc(cap);
    if (!b) return 0;
    int hi = -1, bad = 0;
    for (; i < len && !bad; i++) {
        char c = txt[i];
        if (c == '\n' || c == ' ' || c == '\t' || c == '\r') continue;
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0) bad = 1;
        else if (hi < 0) hi = v;
        else b[k++] = (uint8_t)(hi << 4 | v), hi = -1;
    }
    int o = bad || hi >= 0 ? 0 : ff_image_exif_orientation(b, k);
    free(b);
    return o;
}

/* Pillow's XMP rule: tiff:Orientation(="|>)([0-9]). */
static int xmp_orientation(const char *txt, size_t len) {
    static const char key[] = "tiff:Orientation";
    const size_t kl = sizeof key - 1;
    for (size_t i = 0; i + kl <= len; i++) {
        if (memcmp(txt + i, key, kl) != 0) continue;
        size_t p = i + kl; /* ="D or >D */
        if (p + 2 < len && txt[p] == '=' && txt[p + 1] == '"' && txt[p + 2] >= '0' && txt[p + 2] <= '9')
            return txt[p + 2] - '0';
        if (p + 1 < len && txt[p] == '>' && txt[p + 1] >= '0' && txt[p + 1] <= '9') return txt[p + 1] - '0';
    }
    return 0;
}

/* PngImageFile.getexif + exif_transpose's source of the orientation: the
 * eXIf chunk, else "Raw profile type exif"; XMP when neither has the tag. */
static int png_orientation(png_structp png, png_infop a, png_infop b) {
    int o = 0, have_exif = 0;
#ifdef PNG_eXIf_SUPPORTED
    png_infop infos[2] = {a, b};
    for (int i = 0; i < 2 && !have_exif; i++) {
        png_uint_32 n = 0;
        png_bytep ex = NULL;
        if (png_get_eXIf_1(png, infos[i], &n, &ex) && ex) have_exif = 1, o = ff_image_exif_orientation(ex, n);
    }
#endif
    png_infop ts[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        png_textp t = NULL;
        int nt = 0;
        png_get_text(png, ts[i], &t, &nt);
        for (int k = 0; k < nt; k++) {
            size_t len = t[k].compression >= PNG_ITXT_COMPRESSION_NONE ? t[k].itxt_length : t[k].text_length;
            if (!t[k].text) continue;
            if (!have_exif && !strcmp(t[k].key, "Raw profile type exif")) have_exif = 1, o = raw_profile_orientation(t[k].text, len);
        }
        for (int k = 0; k < nt && !o; k++)
            if (t[k].text && !strcmp(t[k].key, "XML:com.adobe.xmp"))
                o = xmp_orientation(t[k].text, t[k].compression >= PNG_ITXT_COMPRESSION_NONE ? t[k].itxt_length
                                                                                            : t[k].text_length);
    }
    return o;
}

ff_status ff_image_png_decode(const uint8_t *data, size_t n, const char *what, const ff_image_limits *lim,
                              ff_tensor *out, ff_image_info *info, ff_err *err) {
    png_job j;
    memset(&j, 0, sizeof j);
    j.data = data, j.n = n;
    ff_status st = FF_OK;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, on_error, on_warning);
    png_infop pi = png ? png_create_info_struct(png) : NULL, pe = png ? png_create_info_struct(png) : NULL;
    if (!png || !pi || !pe) {
        png_destroy_read_struct(&png, &pi, &pe);
        return ff_err_set(err, FF_ERR_NOMEM, "%s: cannot create a PNG reader", what);
    }
    if (setjmp(png_jmpbuf(png))) {
        if (j.truncated) st = ff_err_set(err, FF_ERR_FORMAT, "%s: truncated PNG (%s)", what, j.msg);
        else st = ff_err_set(err, FF_ERR_FORMAT, "%s: corrupt PNG: %s", what, j.msg);
        goto done;
    }
    png_set_read_fn(png, &j, on_read);
    png_read_info(png, pi);
    png_uint_32 w = 0, h = 0;
    int bd = 0, ct = 0, il = 0;
    png_get_IHDR(png, pi, &w, &h, &bd, &ct, &il, NULL, NULL);
    if ((st = ff_image_check_size(what, (int)w, (int)h, lim, err))) goto done;
    const int trns = png_get_valid(png, pi, PNG_INFO_tRNS) != 0;
    info->format = FF_IMAGE_FMT_PNG;
    info->src_width = (int)w, info->src_height = (int)h, info->src_bit_depth = bd;
    info->palette = ct == PNG_COLOR_TYPE_PALETTE;
    info->interlaced = il != PNG_INTERLACE_NONE;
    info->src_channels = ct == PNG_COLOR_TYPE_GRAY ? 1 : ct == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                       : ct == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : ct == PNG_COLOR_TYPE_PALETTE && trns ? 4 : 3;
    info->alpha_dropped = (ct & PNG_COLOR_MASK_ALPHA) != 0 || trns;
    if (bd == 16 && ct == PNG_COLOR_TYPE_GRAY) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED,
                        "%s: 16-bit grayscale PNG not supported (Pillow, and so diffusers' load_image, clips its "
                        "values to 255 instead of scaling them); convert it to 8-bit first",
                        what);
        goto done;
    }
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);             /* lookup (+ tRNS as alpha, dropped) */
    if (ct == PNG_COLOR_TYPE_GRAY && bd < 8) png_set_expand_gray_1_2_4_to_8(png); /* x255 / x85 / x17 as Pillow */
    if (bd == 16) png_set_strip_16(png);                                       /* high byte, as RGB;16B */
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, pi);
    const int ch = png_get_channels(png, pi);
    const size_t rowbytes = png_get_rowbytes(png, pi);
    if (png_get_bit_depth(png, pi) != 8 || ch < 1 || ch > 4 || rowbytes != (size_t)w * (size_t)ch) {
        st = ff_err_set(err, FF_ERR_INTERNAL, "%s: unexpected PNG layout after conversion (%d channels, %zu bytes a row)",
                        what, ch, rowbytes);
        goto done;
    }
    j.raw = malloc(rowbytes * h);
    j.rows = malloc(sizeof *j.rows * h);
    if (!j.raw || !j.rows) {
        st = ff_err_set(err, FF_ERR_NOMEM, "%s: cannot allocate %ux%u PNG pixels", what, (unsigned)w, (unsigned)h);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) j.rows[y] = j.raw + (size_t)y * rowbytes;
    png_read_image(png, j.rows);
    png_read_end(png, pe); /* through IEND: a file cut after its last IDAT is truncated too */
    if ((st = ff_tensor_allocv(out, FF_U8, err, 3, (int64_t)h, (int64_t)w, (int64_t)3))) goto done;
    ff_image_to_rgb(j.raw, ch, (int64_t)w * h, out->data);
    {
        int o = png_orientation(png, pi, pe);
        info->orientation = o >= 1 ? o : 1;
    }
done:
    png_destroy_read_struct(&png, &pi, &pe);
    free(j.raw);
    free(j.rows);
    if (st) ff_tensor_free(out);
    return st;
}

#endif
