/* image_jpeg: JPEG decoding through libjpeg(-turbo) (setjmp error manager,
 * memory source), with Pillow's conversions to RGB (see image.h). Built as
 * a stub that refuses every JPEG when CMake did not find libjpeg. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "video/image_impl.h"

#ifndef FF_HAVE_LIBJPEG

int ff_image_jpeg_compiled(void) { return 0; }

ff_status ff_image_jpeg_decode(const uint8_t *data, size_t n, const char *what, const ff_image_limits *lim,
                               ff_tensor *out, ff_image_info *info, ff_err *err) {
    (void)data, (void)n, (void)lim, (void)out, (void)info;
    return ff_err_set(err, FF_ERR_UNSUPPORTED,
                      "%s: JPEG image, but framefarm was built without JPEG support (libjpeg)", what);
}

#else

#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>

int ff_image_jpeg_compiled(void) { return 1; }

/* Everything the error path needs lives here, not in locals (setjmp). */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
    uint8_t *raw; /* decoded rows */
} jpeg_job;

static void on_error_exit(j_common_ptr c) {
    jpeg_job *j = (jpeg_job *)c->err;
    (*c->err->format_message)(c, j->msg);
    longjmp(j->jb, 1);
}

/* Warnings are ignored (as Pillow does: "Corrupt JPEG data: N extraneous
 * bytes" files open there), except running out of data: the memory source
 * then feeds a fake EOI and libjpeg fills the rest with gray. */
static void on_message(j_common_ptr c, int level) {
    jpeg_job *j = (jpeg_job *)c->err;
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) j->truncated = 1;
}

static ff_status run(jpeg_job *j, struct jpeg_decompress_struct *ci, const uint8_t *data, size_t n, const char *what,
                     const ff_image_limits *lim, ff_tensor *out, ff_image_info *info, ff_err *err) {
    ff_status st;
    jpeg_mem_src(ci, data, (unsigned long)n);
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xffff);
    if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: JPEG without an image", what);
    if ((st = ff_image_check_size(what, (int)ci->image_width, (int)ci->image_height, lim, err))) return st;
    info->format = FF_IMAGE_FMT_JPEG;
    info->src_width = (int)ci->image_width, info->src_height = (int)ci->image_height;
    info->src_channels = ci->num_components;
    info->src_bit_depth = ci->data_precision;
    info->interlaced = ci->progressive_mode != 0;
    info->orientation = 1; /* saved markers live in the image pool: read them before finish_decompress frees it */
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && !memcmp(m->data, "Exif\0\0", 6)) {
            int o = ff_image_exif_orientation(m->data, m->data_length); /* the first Exif block, as Pillow */
            info->orientation = o >= 1 ? o : 1;
            break;
        }
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE: ci->out_color_space = JCS_GRAYSCALE; break; /* Pillow "L", replicated below */
    case JCS_YCbCr:
    case JCS_RGB: ci->out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK:
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "%s: CMYK JPEG not supported (no colour management: convert it to RGB first)", what);
    default:
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: JPEG with %d components in colour space %d not supported",
                          what, ci->num_components, (int)ci->jpeg_color_space);
    }
    jpeg_start_decompress(ci);
    const int ch = ci->output_components;
    const size_t W = ci->output_width, H = ci->output_height, row = W * (size_t)ch;
    if ((ch != 1 && ch != 3) || W != ci->image_width || H != ci->image_height)
        return ff_err_set(err, FF_ERR_INTERNAL, "%s: unexpected JPEG output (%d channels, %zux%zu)", what, ch, W, H);
    if (!(j->raw = malloc(row * H)))
        return ff_err_set(err, FF_ERR_NOMEM, "%s: cannot allocate %zux%zu JPEG pixels", what, W, H);
    while (ci->output_scanline < H) {
        JSAMPROW r = j->raw + (size_t)ci->output_scanline * row;
        jpeg_read_scanlines(ci, &r, 1);
    }
    jpeg_finish_decompress(ci);
    if (j->truncated) return ff_err_set(err, FF_ERR_FORMAT, "%s: truncated JPEG (data ends before the image)", what);
    if ((st = ff_tensor_allocv(out, FF_U8, err, 3, (int64_t)H, (int64_t)W, (int64_t)3))) return st;
    ff_image_to_rgb(j->raw, ch, (int64_t)(W * H), out->data);
    return FF_OK;
}

ff_status ff_image_jpeg_decode(const uint8_t *data, size_t n, const char *what, const ff_image_limits *lim,
                               ff_tensor *out, ff_image_info *info, ff_err *err) {
    struct jpeg_decompress_struct ci;
    jpeg_job j;
    memset(&j, 0, sizeof j);
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&j.pub);
    j.pub.error_exit = on_error_exit;
    j.pub.emit_message = on_message;
    ff_status st;
    if (setjmp(j.jb)) {
        ff_tensor_free(out);
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: %s JPEG: %s", what, j.truncated ? "truncated" : "corrupt", j.msg);
    } else {
        jpeg_create_decompress(&ci);
        st = run(&j, &ci, data, n, what, lim, out, info, err);
    }
    jpeg_destroy_decompress(&ci);
    free(j.raw);
    if (st) ff_tensor_free(out);
    return st;
}

#endif
