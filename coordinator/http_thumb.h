/* http_thumb (ff_thumb_*): small PNG previews of finished frames for the
 * status page (http.c: /api/jobs/J/chunks/C/thumb.png).
 *
 * The frames come from a finished chunk's frames file in the coordinator's
 * state folder (store.h: DIR/chunks/J/C.frames, assemble.h format), read
 * with the same reader the assembly uses; they exist while the job runs
 * and, with coordinator --keep-chunks, after it. The frame is scaled down
 * with a box filter to at most max_w x max_h (aspect kept, never up) and
 * encoded as an 8-bit RGB PNG (zlib). Reading only: a file that is missing
 * (not finished, or dropped after assembly) is FF_ERR_NOT_FOUND.
 *
 * Not here: video outputs (mp4/y4m/png folders are not read back). */
#ifndef FF_HTTP_THUMB_H
#define FF_HTTP_THUMB_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"

#define FF_THUMB_MAX_SIDE 512

/* Frame `frame` of chunk `chunk` of job `job` as a PNG (*png malloc'd,
 * owned by the caller). max_w/max_h: 1..FF_THUMB_MAX_SIDE. */
ff_status ff_thumb_chunk_png(const char *state_dir, uint64_t job, uint32_t chunk, int frame, int max_w, int max_h,
                             uint8_t **png, size_t *len, ff_err *err);

/* Box-filter downscale of packed RGB (sw x sh) into (dw x dh), dw <= sw, dh <= sh. */
void ff_thumb_scale(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);
/* Packed RGB (w x h) as a PNG (*png malloc'd). */
ff_status ff_thumb_png(const uint8_t *rgb, int w, int h, uint8_t **png, size_t *len, ff_err *err);

#endif
