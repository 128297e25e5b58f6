/* test_video: Y4M and PNG writers read back by independent parsers (Y4M
 * header/planes with the inverse BT.601 transform; PNG signature, IHDR,
 * chunk CRCs, zlib/stored-deflate framing, Adler-32, unfiltered pixels), the
 * VAE-layout converter and the 8-bit quantiser. MP4 is in test_video_mp4.c. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/common/ff_test.h"
#include "video/video.h"

/* Deterministic smooth RGB frames in [0, 1]: (T, H, W, 3). */
static void make_frames(ff_tensor *t, int T, int H, int W) {
    ff_err err = {0};
    if (ff_tensor_allocv(t, FF_F32, &err, 4, (int64_t)T, (int64_t)H, (int64_t)W, (int64_t)3)) return;
    float *d = t->data;
    for (int f = 0; f < T; f++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float *p = d + (((size_t)f * H + y) * W + x) * 3;
                p[0] = (float)x / (float)(W > 1 ? W - 1 : 1);
                p[1] = (float)y / (float)(H > 1 ? H - 1 : 1);
                p[2] = 0.5f + 0.4f * (float)sin(0.3 * f + 0.1 * x);
            }
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* ---- Y4M ----------------------------------------------------------------------- */

static void check_y4m(int W, int H, int chroma, int T) {
    char path[512], name[64];
    ff_err err = {0};
    snprintf(name, sizeof name, "video_%dx%d_c%d.y4m", W, H, chroma);
    ff_test_tmp_path(name, path, sizeof path);
    ff_tensor fr;
    make_frames(&fr, T, H, W);
    FF_REQUIRE(fr.data);
    ff_video_opts o;
    ff_video_opts_default(&o, FF_VIDEO_Y4M, W, H);
    o.y4m_chroma = chroma;
    o.fps_num = 24;
    ff_video_writer *w = NULL;
    FF_REQUIRE_OK(ff_video_open(path, &o, &w, &err), &err);
    /* streamed: the first frame alone, then the rest as one chunk */
    ff_tensor first, rest;
    int64_t s1[4] = {1, H, W, 3}, s2[4] = {T - 1, H, W, 3};
    ff_tensor_view(&first, FF_F32, 4, s1, fr.data, FF_LOC_HOST);
    ff_tensor_view(&rest, FF_F32, 4, s2, (float *)fr.data + (size_t)H * W * 3, FF_LOC_HOST);
    FF_CHECK_OK(ff_video_write_frames(w, &first, &err), &err);
    FF_CHECK_OK(ff_video_write_frames(w, &rest, &err), &err);
    FF_CHECK(ff_video_frames_written(w) == T);
    FF_CHECK_OK(ff_video_close(w, &err), &err);

    size_t n;
    unsigned char *b = slurp(path, &n);
    FF_REQUIRE(b);
    unsigned char *nl = memchr(b, '\n', n);
    FF_REQUIRE(nl);
    char hdr[256];
    size_t hl = (size_t)(nl - b);
    FF_REQUIRE(hl < sizeof hdr);
    memcpy(hdr, b, hl);
    hdr[hl] = 0;
    int hw = 0, hh = 0, fn = 0, fd = 0;
    FF_CHECK(sscanf(hdr, "YUV4MPEG2 W%d H%d F%d:%d", &hw, &hh, &fn, &fd) == 4);
    FF_CHECK(hw == W && hh == H && fn == 24 && fd == 1);
    FF_CHECK(strstr(hdr, chroma == 444 ? " C444" : " C420jpeg") != NULL);
    FF_CHECK(strstr(hdr, " Ip") != NULL);
    int cw = chroma == 444 ? W : (W + 1) / 2, ch = chroma == 444 ? H : (H + 1) / 2;
    size_t fsz = (size_t)W * H + 2 * (size_t)cw * ch;
    FF_CHECK_MSG(n == hl + 1 + (size_t)T * (6 + fsz), "file size %zu", n);
    size_t off = hl + 1;
    int frames = 0, plane_off = 0;
    double worst = 0;
    const float *src = fr.data;
    uint8_t *q = malloc((size_t)W * H * 3);
    FF_REQUIRE(q);
    while (off + 6 <= n) {
        FF_REQUIRE(memcmp(b + off, "FRAME\n", 6) == 0);
        off += 6;
        FF_REQUIRE(off + fsz <= n);
        const unsigned char *Y = b + off, *U = Y + (size_t)W * H, *V = U + (size_t)cw * ch;
        /* Y and (subsampled) chroma against BT.601 limited range from the 8-bit RGB */
        ff_video_quantize(src + (size_t)frames * W * H * 3, (int64_t)W * H * 3, q);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const uint8_t *p = q + ((size_t)y * W + x) * 3;
                double yy = 16 + (65.481 * p[0] + 128.553 * p[1] + 24.966 * p[2]) / 255;
                if (fabs(Y[y * W + x] - yy) > 0.5 + 1e-3) plane_off++;
            }
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                double cb = 0, cr = 0;
                int k = 0, sub = chroma == 444 ? 1 : 2;
                for (int dy = 0; dy < sub && y * sub + dy < H; dy++)
                    for (int dx = 0; dx < sub && x * sub + dx < W; dx++) {
                        const uint8_t *p = q + ((size_t)(y * sub + dy) * W + (size_t)(x * sub + dx)) * 3;
                        cb += 128 + (-37.797 * p[0] - 74.203 * p[1] + 112.0 * p[2]) / 255;
                        cr += 128 + (112.0 * p[0] - 93.786 * p[1] - 18.214 * p[2]) / 255;
                        k++;
                    }
                if (fabs(U[y * cw + x] - cb / k) > 0.5 + 1e-3 || fabs(V[y * cw + x] - cr / k) > 0.5 + 1e-3) plane_off++;
            }
        /* and 4:4:4 round-trips to RGB through the inverse transform */
        for (int y = 0; chroma == 444 && y < H; y++)
            for (int x = 0; x < W; x++) {
                int ci = y * W + x;
                double yy = (Y[ci] - 16.0) / 219.0, pb = (U[ci] - 128.0) / 224.0, pr = (V[ci] - 128.0) / 224.0;
                double rgb[3] = {yy + 1.402 * pr, yy - 0.344136 * pb - 0.714136 * pr, yy + 1.772 * pb};
                const float *p = src + (((size_t)frames * H + y) * W + x) * 3;
                for (int c = 0; c < 3; c++) worst = fmax(worst, fabs(rgb[c] - p[c]));
            }
        off += fsz;
        frames++;
    }
    FF_CHECK(frames == T);
    FF_CHECK_MSG(plane_off == 0, "%dx%d C%d: %d samples off by more than rounding", W, H, chroma, plane_off);
    FF_CHECK_MSG(worst <= 3.0 / 255, "%dx%d C%d: max RGB error %.4f", W, H, chroma, worst);
    free(q);
    free(b);
    ff_tensor_free(&fr);
    remove(path);
}

static void test_y4m(void) {
    check_y4m(16, 8, 444, 3);
    check_y4m(16, 8, 420, 3);
    check_y4m(7, 5, 420, 2); /* odd sizes: chroma planes round up */
}

/* ---- PNG ------------------------------------------------------------------------- */

static uint32_t crc_bitwise(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xffffffffu;
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decodes our PNG (stored deflate only) into rgb (W*H*3); returns 0 when
 * every structural check passes. */
static int decode_png(const char *path, int W, int H, unsigned char *rgb) {
    size_t n;
    unsigned char *b = slurp(path, &n);
    if (!b) return -1;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int ok = n > 8 && memcmp(b, sig, 8) == 0;
    size_t off = 8, zl = 0;
    unsigned char *z = malloc(n);
    int seen_ihdr = 0, seen_iend = 0;
    while (ok && off + 12 <= n && !seen_iend) {
        uint32_t len = rd32(b + off);
        if (off + 12 + len > n) {
            ok = 0;
            break;
        }
        const unsigned char *type = b + off + 4, *data = b + off + 8;
        FF_CHECK_MSG(crc_bitwise(type, 4 + (size_t)len) == rd32(data + len), "chunk %.4s CRC", (const char *)type);
        if (crc_bitwise(type, 4 + (size_t)len) != rd32(data + len)) ok = 0;
        if (!memcmp(type, "IHDR", 4)) {
            ok = ok && !seen_ihdr && off == 8 && len == 13 && rd32(data) == (uint32_t)W && rd32(data + 4) == (uint32_t)H &&
                 data[8] == 8 && data[9] == 2 && data[10] == 0 && data[11] == 0 && data[12] == 0;
            seen_ihdr = 1;
        } else if (!memcmp(type, "IDAT", 4)) {
            memcpy(z + zl, data, len);
            zl += len;
        } else if (!memcmp(type, "IEND", 4)) {
            seen_iend = len == 0;
        }
        off += 12 + len;
    }
    ok = ok && seen_ihdr && seen_iend && off == n;
    FF_CHECK_MSG(ok, "%s: PNG chunk structure", path);
    /* zlib: CMF/FLG, stored blocks, Adler-32 */
    size_t rawn = (size_t)H * (3 * (size_t)W + 1), got = 0, p = 2;
    unsigned char *raw = malloc(rawn + 1);
    ok = ok && zl >= 6 && (z[0] & 0x0f) == 8 && ((z[0] << 8) | z[1]) % 31 == 0 && !(z[1] & 0x20);
    int final = 0;
    while (ok && !final) {
        if (p + 5 > zl) {
            ok = 0;
            break;
        }
        final = z[p] & 1;
        if ((z[p] >> 1) & 3) ok = 0; /* BTYPE must be 00 (stored) */
        unsigned len = z[p + 1] | z[p + 2] << 8, nlen = z[p + 3] | z[p + 4] << 8;
        if ((len ^ 0xffffu) != nlen || p + 5 + len > zl || got + len > rawn) {
            ok = 0;
            break;
        }
        memcpy(raw + got, z + p + 5, len);
        got += len;
        p += 5 + len;
    }
    ok = ok && got == rawn && p + 4 == zl;
    if (ok) {
        uint32_t a = 1, s2 = 0;
        for (size_t i = 0; i < rawn; i++) {
            a = (a + raw[i]) % 65521u;
            s2 = (s2 + a) % 65521u;
        }
        ok = rd32(z + p) == (s2 << 16 | a);
        FF_CHECK_MSG(ok, "%s: Adler-32", path);
    }
    for (int y = 0; ok && y < H; y++) {
        const unsigned char *r = raw + (size_t)y * (3 * (size_t)W + 1);
        if (r[0] != 0) ok = 0; /* filter None */
        memcpy(rgb + (size_t)y * W * 3, r + 1, (size_t)W * 3);
    }
    free(raw);
    free(z);
    free(b);
    return ok ? 0 : -1;
}

static void check_png(int W, int H, int T) {
    char dir[512], file[600];
    ff_err err = {0};
    char name[64];
    snprintf(name, sizeof name, "video_png_%dx%d", W, H);
    ff_test_tmp_path(name, dir, sizeof dir);
    ff_tensor fr;
    make_frames(&fr, T, H, W);
    FF_REQUIRE(fr.data);
    ff_video_opts o;
    ff_video_opts_default(&o, FF_VIDEO_PNG, W, H);
    ff_video_writer *w = NULL;
    FF_REQUIRE_OK(ff_video_open(dir, &o, &w, &err), &err);
    FF_CHECK_OK(ff_video_write_frames(w, &fr, &err), &err);
    FF_CHECK_OK(ff_video_close(w, &err), &err);
    size_t per = (size_t)W * H * 3;
    unsigned char *want = malloc(per), *got = malloc(per);
    FF_REQUIRE(want && got);
    for (int f = 0; f < T; f++) {
        snprintf(file, sizeof file, "%s/frame_%05d.png", dir, f);
        ff_video_quantize((const float *)fr.data + (size_t)f * per, (int64_t)per, want);
        FF_CHECK_MSG(decode_png(file, W, H, got) == 0, "%s does not decode", file);
        FF_CHECK_MSG(memcmp(want, got, per) == 0, "%s pixels differ", file);
        remove(file);
    }
    snprintf(file, sizeof file, "%s/frame_%05d.png", dir, T);
    FF_CHECK(access(file, F_OK) != 0);
    /* nothing else (no .tmp leftovers) in the folder */
    DIR *d = opendir(dir);
    int extra = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') extra++;
    if (d) closedir(d);
    FF_CHECK(extra == 0);
    rmdir(dir);
    free(want);
    free(got);
    ff_tensor_free(&fr);
}

static void test_png(void) {
    check_png(8, 4, 2);
    check_png(200, 150, 1); /* 90150 raw bytes: two stored blocks, two IDAT chunks */
    check_png(1, 1, 1);
}

/* ---- conversions and errors ---------------------------------------------------------- */

static void test_quantize(void) {
    float in[7] = {0.0f, 1.0f, 0.5f, 0.2f, -1.0f, 2.0f, NAN};
    uint8_t out[7];
    ff_video_quantize(in, 7, out);
    FF_CHECK(out[0] == 0 && out[1] == 255 && out[2] == 128 && out[3] == 51 && out[4] == 0 && out[5] == 255 &&
             out[6] == 0);
}

static void test_frames_from_vae(void) {
    ff_err err = {0};
    ff_tensor v, f;
    FF_REQUIRE_OK(ff_tensor_allocv(&v, FF_F32, &err, 5, (int64_t)2, (int64_t)3, (int64_t)2, (int64_t)3, (int64_t)4),
                  &err);
    float *d = v.data;
    for (int i = 0; i < 2 * 3 * 2 * 3 * 4; i++) d[i] = -1.5f + 0.0625f * (float)i;
    FF_REQUIRE_OK(ff_video_frames_from_vae(&v, 1, &f, &err), &err);
    FF_CHECK(f.ndim == 4 && f.shape[0] == 2 && f.shape[1] == 3 && f.shape[2] == 4 && f.shape[3] == 3);
    int ok = 1;
    for (int t = 0; t < 2; t++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                for (int c = 0; c < 3; c++) {
                    float src = d[((((1 * 3 + c) * 2 + t) * 3 + y) * 4) + x];
                    float want = fminf(fmaxf(src * 0.5f + 0.5f, 0.0f), 1.0f);
                    if (((float *)f.data)[((t * 3 + y) * 4 + x) * 3 + c] != want) ok = 0;
                }
    FF_CHECK(ok);
    ff_tensor_free(&f);
    FF_CHECK(ff_video_frames_from_vae(&v, 2, &f, &err) == FF_ERR_ARG);
    ff_tensor_free(&v);
}

static void test_errors(void) {
    ff_err err = {0};
    ff_video_opts o;
    ff_video_writer *w = NULL;
    char path[512];
    ff_video_opts_default(&o, FF_VIDEO_Y4M, 8, 4);
    o.y4m_chroma = 422;
    FF_CHECK(ff_video_open(ff_test_tmp_path("bad.y4m", path, sizeof path), &o, &w, &err) == FF_ERR_ARG && !w);
    o.y4m_chroma = 420;
    o.fps_num = 0;
    FF_CHECK(ff_video_open(path, &o, &w, &err) == FF_ERR_ARG);
    o.fps_num = 16;
    FF_CHECK(ff_video_open("/nonexistent-dir/x.y4m", &o, &w, &err) != FF_OK && !w);
    /* PNG folder where a file exists */
    FILE *f = fopen(ff_test_tmp_path("not_a_dir", path, sizeof path), "wb");
    if (f) fclose(f);
    ff_video_opts_default(&o, FF_VIDEO_PNG, 8, 4);
    FF_CHECK(ff_video_open(path, &o, &w, &err) == FF_ERR_IO);
    remove(path);
    /* frames of the wrong size are refused and nothing is written */
    ff_video_opts_default(&o, FF_VIDEO_Y4M, 8, 4);
    FF_REQUIRE_OK(ff_video_open(ff_test_tmp_path("shape.y4m", path, sizeof path), &o, &w, &err), &err);
    ff_tensor fr;
    make_frames(&fr, 1, 4, 6);
    FF_CHECK(ff_video_write_frames(w, &fr, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "(T, 4, 8, 3)") != NULL);
    FF_CHECK(ff_video_frames_written(w) == 0);
    FF_CHECK_OK(ff_video_close(w, &err), &err);
    ff_tensor_free(&fr);
    remove(path);
    FF_CHECK(ff_video_format_for_path("a/b.MP4") == FF_VIDEO_MP4);
    FF_CHECK(ff_video_format_for_path("a/b.y4m") == FF_VIDEO_Y4M);
    FF_CHECK(ff_video_format_for_path("a/frames") == FF_VIDEO_PNG);
}

/* The output rule shared by render, mpi and farm jobs, and the checks made before rendering. */
static void test_out_rule(void) {
    ff_err err = {0};
    ff_video_format f;
    FF_CHECK(ff_video_out_format("a/b.MP4", &f, &err) == FF_OK && f == FF_VIDEO_MP4);
    FF_CHECK(ff_video_out_format("b.y4m", &f, &err) == FF_OK && f == FF_VIDEO_Y4M);
    FF_CHECK(ff_video_out_format("a/frames/", &f, &err) == FF_OK && f == FF_VIDEO_PNG);
    const char *bad[] = {"x.avi", "x.y4m.txt", "frames", "a/.mp4", "", "/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FF_CHECK_MSG(ff_video_out_format(bad[i], &f, &err) == FF_ERR_ARG, "%s", bad[i]);
        if (i < 3) FF_CHECK_MSG(strstr(err.msg, bad[i]) && strstr(err.msg, FF_VIDEO_OUT_KINDS), "%s", err.msg);
    }
    char dir[512], path[600];
    ff_test_tmp_path("outcheck", dir, sizeof dir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/v.y4m", dir);
    FF_CHECK_OK(ff_video_out_check(path, &f, &err), &err);
    snprintf(path, sizeof path, "%s/pngs/", dir);
    FF_CHECK_OK(ff_video_out_check(path, &f, &err), &err);
    snprintf(path, sizeof path, "%s/missing/v.y4m", dir);
    FF_CHECK(ff_video_out_check(path, &f, &err) == FF_ERR_NOT_FOUND);
    FF_CHECK_MSG(strstr(err.msg, "does not exist"), "%s", err.msg);
    FF_CHECK(ff_video_out_check(dir, &f, &err) == FF_ERR_ARG); /* no kind */
    snprintf(path, sizeof path, "%s.y4m", dir); /* a folder named like a file */
    mkdir(path, 0755);
    FF_CHECK(ff_video_out_check(path, &f, &err) == FF_ERR_ARG);
    FF_CHECK_MSG(strstr(err.msg, "is a folder"), "%s", err.msg);
    rmdir(path);
    /* a folder no file can be created in (as root, permissions do not stop us: /proc does) */
    const char *ro = "/proc/v.y4m";
    if (geteuid() != 0) {
        snprintf(path, sizeof path, "%s/ro", dir);
        mkdir(path, 0555);
        snprintf(path, sizeof path, "%s/ro/v.y4m", dir);
        ro = path;
    }
    FF_CHECK(ff_video_out_check(ro, &f, &err) == FF_ERR_ARG);
    FF_CHECK_MSG(strstr(err.msg, "cannot create files in"), "%s", err.msg);
    /* nothing left behind by the probes */
    DIR *d = opendir(dir);
    int left = 0;
    for (struct dirent *e; d && (e = readdir(d));) left += !strncmp(e->d_name, ".ff-probe", 9);
    if (d) closedir(d);
    FF_CHECK(left == 0);
}

int main(void) {
    FF_RUN(test_out_rule);
    FF_RUN(test_y4m);
    FF_RUN(test_png);
    FF_RUN(test_quantize);
    FF_RUN(test_frames_from_vae);
    FF_RUN(test_errors);
    return ff_test_summary();
}
