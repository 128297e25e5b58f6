/* ff_frames: see ff_frames.h. */
#include "proto/ff_frames.h"

#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

ff_status ff_frames_deflate(const uint8_t *rgb, size_t n, int level, uint8_t **out, size_t *out_n, ff_err *err) {
    if (n > UINT_MAX / 2) return ff_err_set(err, FF_ERR_ARG, "compressing %zu bytes of frames: too large for one piece", n);
    uLongf cap = compressBound((uLong)n);
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return ff_err_set(err, FF_ERR_NOMEM, "compressing %zu bytes of frames: out of memory", n);
    int rc = compress2(buf, &cap, rgb, (uLong)n, level);
    if (rc != Z_OK) {
        free(buf);
        return ff_err_set(err, FF_ERR_INTERNAL, "zlib compress2 failed (%d) on %zu bytes", rc, n);
    }
    *out = buf;
    *out_n = cap;
    return FF_OK;
}

ff_status ff_frames_inflate(const uint8_t *z, size_t zn, uint8_t *out, size_t expect, ff_err *err) {
    if (zn > UINT_MAX || expect > UINT_MAX)
        return ff_err_set(err, FF_ERR_FORMAT, "frames: %zu compressed / %zu raw bytes is too large", zn, expect);
    z_stream s = {0};
    if (inflateInit(&s) != Z_OK) return ff_err_set(err, FF_ERR_NOMEM, "frames: zlib inflateInit failed");
    s.next_in = (Bytef *)z;
    s.avail_in = (uInt)zn;
    s.next_out = out;
    s.avail_out = (uInt)expect;
    int rc = inflate(&s, Z_FINISH);
    size_t got = expect - s.avail_out;
    size_t left_in = s.avail_in;
    inflateEnd(&s);
    if (rc != Z_STREAM_END || got != expect || left_in != 0)
        return ff_err_set(err, FF_ERR_FORMAT,
                          "frames: compressed stream of %zu bytes does not hold exactly %zu bytes (zlib %d, got %zu, %zu "
                          "bytes left over)",
                          zn, expect, rc, got, left_in);
    return FF_OK;
}
