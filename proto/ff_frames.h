/* ff_frames (ff_frames_*): lossless compression of 8-bit RGB frames for the
 * wire and for chunk files (zlib deflate). Inflating checks that the stream
 * holds exactly the bytes the header promised: a short, long or corrupt
 * stream is FF_ERR_FORMAT, never a partial frame. */
#ifndef FF_FRAMES_H
#define FF_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"

/* rgb (n bytes) -> malloc'd *out (owned by the caller). level 1..9. */
ff_status ff_frames_deflate(const uint8_t *rgb, size_t n, int level, uint8_t **out, size_t *out_n, ff_err *err);
/* Exactly `expect` bytes into out. */
ff_status ff_frames_inflate(const uint8_t *z, size_t zn, uint8_t *out, size_t expect, ff_err *err);

#endif
