/* image (ff_image_*): reading a still image (PNG, JPEG) into 8-bit RGB, as
 * diffusers' load_image does it — PIL.Image.open, ImageOps.exif_transpose,
 * .convert("RGB") — for image-to-video conditioning.
 *
 * Output: an owned host U8 tensor (H, W, 3), row-major HWC, exactly
 * numpy.array(load_image(path)) for every image we accept.
 *
 * What is converted, what is refused (Pillow 9.4 semantics):
 *  - PNG 8-bit RGB: as is. RGBA: alpha dropped (Pillow's convert does not
 *    composite). Gray (1/2/4/8-bit): replicated to R = G = B (1-bit -> 0/255,
 *    2-bit x85, 4-bit x17). Gray + alpha: alpha dropped, replicated.
 *    Palette (1/2/4/8-bit): looked up; a tRNS chunk is ignored (as is any
 *    gAMA/cHRM/iCCP/sRGB chunk: no colour management, as Pillow). Interlaced
 *    (Adam7) files are fine.
 *  - PNG 16-bit RGB / RGBA / gray+alpha: the high byte of each sample (what
 *    Pillow's RGB;16B / RGBA;16B / LA;16B unpackers keep).
 *  - PNG 16-bit gray (without alpha): REFUSED (FF_ERR_UNSUPPORTED). Pillow
 *    opens it as mode "I" and convert("RGB") clips every value above 255 to
 *    white instead of scaling: diffusers would condition on a near-white
 *    picture. Convert such files to 8-bit first.
 *  - JPEG baseline / progressive, YCbCr or RGB: decoded by libjpeg(-turbo)
 *    with its defaults (islow IDCT, fancy upsampling), as Pillow does on the
 *    same library. Grayscale JPEG: replicated.
 *  - JPEG CMYK / YCCK: REFUSED (FF_ERR_UNSUPPORTED). Pillow's naive CMYK ->
 *    RGB formula ignores the colour profile such files carry (print
 *    separations); convert them to RGB with a colour-managed tool.
 *  - EXIF orientation (JPEG APP1 "Exif", PNG eXIf chunk or "Raw profile
 *    type exif" text, PNG XMP tiff:Orientation) is applied as
 *    ImageOps.exif_transpose does (values 2..8; others ignored).
 *  - Truncated files (data ends before the image does, PNG without IEND),
 *    corrupt compressed data, bad critical-chunk CRCs: FF_ERR_FORMAT naming
 *    the file. Other formats (GIF, WebP, BMP, TIFF, ...): FF_ERR_UNSUPPORTED
 *    naming the format found.
 *  - Size limits (ff_image_limits): width and height in [min_side,
 *    max_side], width*height <= max_pixels, file <= max_file_bytes; checked
 *    from the header, before any pixel is decoded. The default minimum side
 *    (16 pixels, the smallest Wan frame) refuses 1x1 tracking pixels and
 *    thumbnails that cannot be meant as a first frame.
 *
 * Builds without libpng / libjpeg (the minimal GPU image) return
 * FF_ERR_UNSUPPORTED "built without PNG support" / "... JPEG support".
 *
 * Not here: resizing (models/pil_resample.h), writing images (video.h: PNG
 * frame folders), colour management, animation (first frame only is not
 * offered: APNG and MPO are read as their first image by libpng/libjpeg, as
 * Pillow does). Nothing is printed. */
#ifndef FF_IMAGE_H
#define FF_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"

#define FF_IMAGE_MIN_SIDE 16
#define FF_IMAGE_MAX_SIDE 16384
#define FF_IMAGE_MAX_PIXELS ((int64_t)1 << 27)        /* 134 M pixels: 384 MiB of RGB */
#define FF_IMAGE_MAX_FILE_BYTES ((size_t)256 << 20)  /* 256 MiB */

typedef struct {
    int min_side, max_side; /* accepted width and height */
    int64_t max_pixels;     /* width * height */
    size_t max_file_bytes;  /* encoded size */
} ff_image_limits;

/* The defaults above. */
void ff_image_limits_default(ff_image_limits *l);

typedef enum { FF_IMAGE_FMT_PNG = 1, FF_IMAGE_FMT_JPEG = 2 } ff_image_format;

/* What the file held and what was done to it (for messages and tests). */
typedef struct {
    ff_image_format format;
    int src_width, src_height;  /* as stored, before the EXIF transpose */
    int src_channels;           /* 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha (PNG palette: 3 or 4 with tRNS) */
    int src_bit_depth;          /* 1, 2, 4, 8 or 16 */
    int palette;                /* PNG colour type 3 */
    int interlaced;             /* PNG Adam7 or progressive JPEG */
    int alpha_dropped;          /* an alpha channel / tRNS was ignored */
    int orientation;            /* EXIF orientation found (1 when none), applied when 2..8 */
} ff_image_info;

/* 1 when PNG / JPEG reading was compiled in. */
int ff_image_have_png(void);
int ff_image_have_jpeg(void);

/* Reads path (format from its first bytes, not its name) into *out, an
 * owned U8 host tensor (H, W, 3). lim NULL: the defaults. info may be NULL.
 * Errors name the path: FF_ERR_NOT_FOUND / FF_ERR_IO for the file,
 * FF_ERR_FORMAT for malformed or truncated data, FF_ERR_UNSUPPORTED for
 * formats and variants listed above, FF_ERR_ARG for an image outside lim.
 * *out is zeroed on failure. */
ff_status ff_image_read(const char *path, const ff_image_limits *lim, ff_tensor *out, ff_image_info *info,
                        ff_err *err);

/* Same from memory (a file's bytes, e.g. received by a worker); `what`
 * names the source in messages. */
ff_status ff_image_decode(const uint8_t *data, size_t n, const char *what, const ff_image_limits *lim,
                          ff_tensor *out, ff_image_info *info, ff_err *err);

/* ---- pieces, exposed for tests ---------------------------------------- */

/* The orientation (tag 0x0112 of IFD0, SHORT or LONG) in an EXIF block
 * (TIFF header "II*\0" / "MM\0*", optionally preceded by "Exif\0\0"); 0
 * when the block is malformed or has no such tag. Never reads outside
 * data[0..n). */
int ff_image_exif_orientation(const uint8_t *data, size_t n);

/* ImageOps.exif_transpose's transform for orientation o (2..8) of an (H, W,
 * 3) U8 tensor, in place (the tensor is replaced; (W, H, 3) for 5..8). 1 and
 * other values leave it unchanged. */
ff_status ff_image_orient(ff_tensor *img, int orientation, ff_err *err);

#endif
