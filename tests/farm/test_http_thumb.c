/* coordinator/http_thumb: a finished chunk's frame as a small PNG — read
 * from a real chunk frames file (assemble.h format, two records), scaled
 * by box averaging (exact on a blocky pattern), encoded as a PNG whose
 * signature, IHDR, chunk CRCs and zlib stream are checked by decoding it
 * here; a missing file, a frame past the end and a corrupt file are
 * refused with their codes. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "coordinator/assemble.h"
#include "coordinator/http_thumb.h"
#include "proto/ff_frames.h"
#include "tests/common/ff_test.h"

#define W 64
#define H 36

/* Frame t: 4x4 blocks of one colour each, depending on the block and t. */
static void make_frame(uint8_t *rgb, int t) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgb + ((size_t)y * W + x) * 3;
            p[0] = (uint8_t)(x / 4 * 16);
            p[1] = (uint8_t)(y / 4 * 28);
            p[2] = (uint8_t)(t * 100);
        }
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Decodes an 8-bit RGB, filter-0 PNG as ff_thumb_png writes it; checks every CRC. */
static uint8_t *decode_png(const uint8_t *png, size_t n, int *w, int *h) {
    static const uint8_t SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n < 8 || memcmp(png, SIG, 8)) return NULL;
    size_t off = 8;
    uint8_t *z = NULL, *rgb = NULL;
    size_t zn = 0;
    int seen_end = 0;
    *w = *h = 0;
    while (off + 12 <= n && !seen_end) {
        uint32_t len = be32(png + off);
        if (off + 12 + len > n) break;
        const uint8_t *type = png + off + 4, *data = png + off + 8;
        if ((uint32_t)crc32(0L, type, len + 4) != be32(data + len)) break;
        if (!memcmp(type, "IHDR", 4) && len == 13) {
            *w = (int)be32(data);
            *h = (int)be32(data + 4);
            if (data[8] != 8 || data[9] != 2 || data[12] != 0) break;
        } else if (!memcmp(type, "IDAT", 4)) {
            uint8_t *nz = realloc(z, zn + len);
            if (!nz) break;
            z = nz;
            memcpy(z + zn, data, len);
            zn += len;
        } else if (!memcmp(type, "IEND", 4)) {
            seen_end = off + 12 == n;
        }
        off += 12 + len;
    }
    if (seen_end && *w > 0 && *h > 0) {
        uLongf raw_n = (uLongf)(*w * 3 + 1) * *h;
        uint8_t *raw = malloc(raw_n);
        if (raw && uncompress(raw, &raw_n, z, zn) == Z_OK && raw_n == (uLongf)(*w * 3 + 1) * *h &&
            (rgb = malloc((size_t)*w * *h * 3))) {
            for (int y = 0; y < *h; y++) {
                if (raw[(size_t)y * (*w * 3 + 1)] != 0) { /* filter type: none */
                    free(rgb);
                    rgb = NULL;
                    break;
                }
                memcpy(rgb + (size_t)y * *w * 3, raw + (size_t)y * (*w * 3 + 1) + 1, (size_t)*w * 3);
            }
        }
        free(raw);
    }
    free(z);
    return rgb;
}

static void test_chunk_thumbnail(void) {
    char state[512], dir[600], path[700];
    ff_test_tmp_path("thumb_state", state, sizeof state);
    snprintf(dir, sizeof dir, "%s/chunks", state);
    mkdir(state, 0755);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/chunks/5", state);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/3.frames", dir);
    ff_err err = {0};
    /* frames 0..1 in one record, frame 2 in another */
    uint8_t *frames = malloc((size_t)W * H * 3 * 3);
    FF_REQUIRE(frames != NULL);
    for (int t = 0; t < 3; t++) make_frame(frames + (size_t)t * W * H * 3, t);
    FILE *f = fopen(path, "wb");
    FF_REQUIRE(f != NULL);
    uint8_t *z = NULL;
    size_t zn = 0;
    FF_REQUIRE_OK(ff_frames_deflate(frames, (size_t)W * H * 3 * 2, 6, &z, &zn, &err), &err);
    FF_CHECK_OK(ff_cfile_append(f, 0, 2, W, H, z, zn, &err), &err);
    free(z);
    FF_REQUIRE_OK(ff_frames_deflate(frames + (size_t)W * H * 3 * 2, (size_t)W * H * 3, 6, &z, &zn, &err), &err);
    FF_CHECK_OK(ff_cfile_append(f, 2, 1, W, H, z, zn, &err), &err);
    free(z);
    fclose(f);

    for (int t = 0; t < 3; t++) {
        uint8_t *png = NULL;
        size_t n = 0;
        FF_REQUIRE_OK(ff_thumb_chunk_png(state, 5, 3, t, 16, 16, &png, &n, &err), &err);
        int w = 0, h = 0;
        uint8_t *rgb = decode_png(png, n, &w, &h);
        FF_REQUIRE(rgb != NULL);
        FF_CHECK_MSG(w == 16 && h == 9, "%dx%d", w, h); /* 64x36 at most 16 wide: aspect kept */
        /* each output pixel averages one 4x4 block of one colour: exact */
        int bad = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
                bad += p[0] != x * 16 || p[1] != y * 28 || p[2] != t * 100;
            }
        FF_CHECK_MSG(bad == 0, "frame %d: %d pixels differ", t, bad);
        free(rgb);
        free(png);
    }
    /* never scaled up */
    uint8_t *png = NULL;
    size_t n = 0;
    FF_REQUIRE_OK(ff_thumb_chunk_png(state, 5, 3, 0, FF_THUMB_MAX_SIDE, FF_THUMB_MAX_SIDE, &png, &n, &err), &err);
    int w = 0, h = 0;
    uint8_t *rgb = decode_png(png, n, &w, &h);
    FF_CHECK(rgb && w == W && h == H && !memcmp(rgb, frames, (size_t)W * H * 3));
    free(rgb);
    free(png);
    /* refusals */
    FF_CHECK(ff_thumb_chunk_png(state, 5, 3, 3, 16, 16, &png, &n, &err) == FF_ERR_NOT_FOUND && !png);
    FF_CHECK(ff_thumb_chunk_png(state, 5, 4, 0, 16, 16, &png, &n, &err) == FF_ERR_NOT_FOUND && !png);
    FF_CHECK(ff_thumb_chunk_png(state, 6, 3, 0, 16, 16, &png, &n, &err) == FF_ERR_NOT_FOUND && !png);
    FF_CHECK(ff_thumb_chunk_png(state, 5, 3, 0, 0, 16, &png, &n, &err) == FF_ERR_ARG);
    FF_CHECK(ff_thumb_chunk_png(state, 5, 3, 0, FF_THUMB_MAX_SIDE + 1, 16, &png, &n, &err) == FF_ERR_ARG);
    snprintf(path, sizeof path, "%s/7.frames", dir);
    f = fopen(path, "wb");
    FF_REQUIRE(f != NULL);
    fputs("not a frames file at all, just text", f);
    fclose(f);
    FF_CHECK(ff_thumb_chunk_png(state, 5, 7, 0, 16, 16, &png, &n, &err) == FF_ERR_FORMAT && !png);
    free(frames);
}

static void test_scale_and_png(void) {
    /* 3x3 -> 2x2: uneven boxes (1 and 2 wide) still average their own pixels */
    const uint8_t src[27] = {0, 0, 0, 30, 30, 30, 90, 90, 90, 0, 0, 0, 30, 30, 30, 90, 90, 90,
                             60, 60, 60, 60, 60, 60, 60, 60, 60};
    uint8_t dst[12];
    ff_thumb_scale(src, 3, 3, dst, 2, 2);
    FF_CHECK(dst[0] == 0 && dst[3] == 60 && dst[6] == 30 && dst[9] == 60);
    uint8_t *png = NULL;
    size_t n = 0;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_thumb_png(src, 3, 3, &png, &n, &err), &err);
    int w, h;
    uint8_t *rgb = decode_png(png, n, &w, &h);
    FF_CHECK(rgb && w == 3 && h == 3 && !memcmp(rgb, src, sizeof src));
    free(rgb);
    free(png);
    FF_CHECK(ff_thumb_png(src, 0, 3, &png, &n, &err) == FF_ERR_ARG);
}

int main(void) {
    FF_RUN(test_chunk_thumbnail);
    FF_RUN(test_scale_and_png);
    return ff_test_summary();
}
