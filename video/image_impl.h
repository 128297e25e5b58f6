/* image_impl (video-internal): what image.c shares with the per-format
 * decoders image_png.c and image_jpeg.c. */
#ifndef FF_IMAGE_IMPL_H
#define FF_IMAGE_IMPL_H

#include "video/image.h"

/* Checks a header's size against lim (FF_ERR_ARG naming what). */
ff_status ff_image_check_size(const char *what, int width, int height, const ff_image_limits *lim, ff_err *err);

/* Each decodes data[0..n) into an owned U8 (H, W, 3) tensor in stored
 * orientation and sets info (orientation: the one found, not applied yet).
 * FF_ERR_UNSUPPORTED "built without ..." when the library is missing. */
ff_status ff_image_png_decode(const uint8_t *data, size_t n, const char *what, const ff_image_limits *lim,
                              ff_tensor *out, ff_image_info *info, ff_err *err);
ff_status ff_image_jpeg_decode(const uint8_t *data, size_t n, const char *what, const ff_image_limits *lim,
                               ff_tensor *out, ff_image_info *info, ff_err *err);
int ff_image_png_compiled(void);
int ff_image_jpeg_compiled(void);

/* Gray / gray+alpha / RGB / RGBA rows of 8-bit samples (ch channels) -> RGB. */
void ff_image_to_rgb(const uint8_t *src, int ch, int64_t npix, uint8_t *dst);

#endif
