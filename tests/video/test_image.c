/* test_image: the PNG / JPEG reader (video/image.h). Files are written here
 * with libpng / libjpeg in every variant the reader converts or refuses;
 * each accepted one must decode to the pixels Pillow's convert("RGB") gives
 * (stated independently below), each refused one must fail with its code
 * and a message naming the problem. The golden cases' image.png files must
 * decode to their U8 tensors. Builds without libpng / libjpeg check the
 * "built without" refusals instead. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"
#include "core/ff_safetensors.h"
#include "tests/common/ff_test.h"
#include "video/image.h"

#ifdef FF_HAVE_LIBPNG
#include <png.h>
#endif
#ifdef FF_HAVE_LIBJPEG
#include <jpeglib.h>
#endif

typedef struct {
    uint8_t *d;
    size_t n, cap;
} buf;

__attribute__((unused)) static void buf_put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->d = realloc(b->d, b->cap);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

__attribute__((unused)) static unsigned lcg(unsigned *s) { return (*s = *s * 1103515245u + 12345u) >> 8; }

static ff_image_limits any_size(void) {
    ff_image_limits l;
    ff_image_limits_default(&l);
    l.min_side = 1;
    return l;
}

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* ---- PNG ------------------------------------------------------------------- */
#ifdef FF_HAVE_LIBPNG

static void png_wr(png_structp p, png_bytep d, size_t n) { buf_put(png_get_io_ptr(p), d, n); }
static void png_fl(png_structp p) { (void)p; }

typedef struct {
    int w, h, bit_depth, color_type, interlace;
    const uint8_t *samples; /* packed rows as stored (16-bit big-endian) */
    png_color *palette;
    int npalette;
    const uint8_t *trns; /* palette alpha */
    int ntrns;
    const uint8_t *exif;
    int nexif;
    const char *text_key, *text; /* one iTXt/tEXt chunk */
} png_spec;

static buf write_png(const png_spec *s) {
    buf b = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop i = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &i);
        free(b.d);
        memset(&b, 0, sizeof b);
        return b;
    }
    png_set_write_fn(p, &b, png_wr, png_fl);
    png_set_IHDR(p, i, (png_uint_32)s->w, (png_uint_32)s->h, s->bit_depth, s->color_type, s->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) png_set_PLTE(p, i, s->palette, s->npalette);
    if (s->trns) png_set_tRNS(p, i, s->trns, s->ntrns, NULL);
    if (s->exif) png_set_eXIf_1(p, i, (png_uint_32)s->nexif, (png_bytep)s->exif);
    if (s->text_key) {
        png_text t;
        memset(&t, 0, sizeof t);
        t.compression = PNG_ITXT_COMPRESSION_NONE;
        t.key = (char *)s->text_key;
        t.text = (char *)s->text;
        t.itxt_length = strlen(s->text);
        png_set_text(p, i, &t, 1);
    }
    png_write_info(p, i);
    int ch = s->color_type == PNG_COLOR_TYPE_GRAY || s->color_type == PNG_COLOR_TYPE_PALETTE ? 1
           : s->color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : s->color_type == PNG_COLOR_TYPE_RGB ? 3 : 4;
    size_t rowbytes = ((size_t)s->w * (size_t)ch * (size_t)s->bit_depth + 7) / 8;
    png_bytep *rows = malloc(sizeof *rows * (size_t)s->h);
    for (int y = 0; y < s->h; y++) rows[y] = (png_bytep)s->samples + (size_t)y * rowbytes;
    png_write_image(p, rows);
    png_write_end(p, NULL);
    free(rows);
    png_destroy_write_struct(&p, &i);
    return b;
}

static const uint8_t *px(const ff_tensor *t, int y, int x) {
    return (const uint8_t *)t->data + ((size_t)y * (size_t)t->shape[1] + (size_t)x) * 3;
}

static int decode(const buf *b, const ff_image_limits *l, ff_tensor *out, ff_image_info *info, ff_err *err) {
    return ff_image_decode(b->d, b->n, "test.png", l, out, info, err);
}

static void test_png_rgb_rgba(void) {
    ff_image_limits l = any_size();
    unsigned seed = 1;
    for (int alpha = 0; alpha < 2; alpha++)
        for (int il = 0; il < 2; il++) {
            const int W = 37, H = 23, ch = alpha ? 4 : 3;
            uint8_t *s = malloc((size_t)W * H * ch);
            for (int i = 0; i < W * H * ch; i++) s[i] = (uint8_t)lcg(&seed);
            png_spec sp = {W, H, 8, alpha ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB,
                           il ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, s, NULL, 0, NULL, 0, NULL, 0, NULL, NULL};
            buf b = write_png(&sp);
            ff_tensor t;
            ff_image_info info;
            ff_err err = {0};
            FF_CHECK_OK(decode(&b, &l, &t, &info, &err), &err);
            FF_CHECK(t.dtype == FF_U8 && t.ndim == 3 && t.shape[0] == H && t.shape[1] == W && t.shape[2] == 3);
            int same = 1;
            for (int i = 0; t.data && i < W * H; i++) same &= !memcmp((uint8_t *)t.data + i * 3, s + i * ch, 3);
            FF_CHECK_MSG(same, "alpha %d interlace %d", alpha, il);
            FF_CHECK(info.format == FF_IMAGE_FMT_PNG && info.alpha_dropped == alpha && info.interlaced == il);
            FF_CHECK(info.orientation == 1);
            ff_tensor_free(&t);
            free(b.d);
            free(s);
        }
}

static void test_png_gray_depths(void) {
    ff_image_limits l = any_size();
    static const int depths[4] = {1, 2, 4, 8};
    for (int k = 0; k < 4; k++) {
        const int bd = depths[k], W = 19, H = 5, maxv = (1 << bd) - 1;
        /* values v = (x + y) % (maxv + 1), packed MSB first */
        const size_t rowbytes = ((size_t)W * bd + 7) / 8;
        uint8_t *s = calloc(rowbytes * H, 1);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int v = (x + y) % (maxv + 1), bit = x * bd;
                s[y * rowbytes + bit / 8] |= (uint8_t)(v << (8 - bd - bit % 8));
            }
        png_spec sp = {W, H, bd, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, s, NULL, 0, NULL, 0, NULL, 0, NULL, NULL};
        buf b = write_png(&sp);
        ff_tensor t;
        ff_err err = {0};
        FF_CHECK_OK(decode(&b, &l, &t, NULL, &err), &err);
        int ok = t.data != NULL;
        for (int y = 0; ok && y < H; y++)
            for (int x = 0; ok && x < W; x++) {
                int v = (x + y) % (maxv + 1) * (255 / maxv); /* Pillow: 1 -> 255, L;2 x85, L;4 x17 */
                const uint8_t *p = px(&t, y, x);
                ok = p[0] == v && p[1] == v && p[2] == v;
            }
        FF_CHECK_MSG(ok, "gray %d-bit replicated and scaled", bd);
        ff_tensor_free(&t);
        free(b.d);
        free(s);
    }
}

static void test_png_16bit(void) {
    ff_image_limits l = any_size();
    const int W = 6, H = 4;
    /* RGB 16: sample (hi, lo) -> hi */
    uint8_t s[6 * 4 * 8];
    for (int i = 0; i < W * H * 4; i++) s[2 * i] = (uint8_t)(i * 7), s[2 * i + 1] = (uint8_t)(255 - i);
    png_spec rgb = {W, H, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, s, NULL, 0, NULL, 0, NULL, 0, NULL, NULL};
    buf b = write_png(&rgb);
    ff_tensor t;
    ff_image_info info;
    ff_err err = {0};
    FF_CHECK_OK(decode(&b, &l, &t, &info, &err), &err);
    int ok = t.data != NULL;
    for (int i = 0; ok && i < W * H * 3; i++) ok = ((uint8_t *)t.data)[i] == s[2 * i];
    FF_CHECK_MSG(ok, "16-bit RGB keeps the high byte");
    FF_CHECK(info.src_bit_depth == 16);
    ff_tensor_free(&t);
    free(b.d);

    /* gray + alpha 16: L replicated from the high byte, alpha dropped */
    png_spec la = {W, H, 16, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, s, NULL, 0, NULL, 0, NULL, 0, NULL, NULL};
    b = write_png(&la);
    FF_CHECK_OK(decode(&b, &l, &t, NULL, &err), &err);
    ok = t.data != NULL;
    for (int i = 0; ok && i < W * H; i++)
        ok = px(&t, i / W, i % W)[0] == s[4 * i] && px(&t, i / W, i % W)[2] == s[4 * i];
    FF_CHECK_MSG(ok, "16-bit gray+alpha keeps the high byte of L");
    ff_tensor_free(&t);
    free(b.d);

    /* gray 16 without alpha: refused */
    png_spec g = {W, H, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, s, NULL, 0, NULL, 0, NULL, 0, NULL, NULL};
    b = write_png(&g);
    ff_status st = decode(&b, &l, &t, NULL, &err);
    FF_CHECK(st == FF_ERR_UNSUPPORTED && contains(err.msg, "16-bit grayscale") && contains(err.msg, "test.png"));
    FF_CHECK(t.data == NULL);
    free(b.d);
}

static void test_png_palette_and_gray_alpha(void) {
    ff_image_limits l = any_size();
    png_color pal[5] = {{10, 20, 30}, {200, 100, 0}, {0, 255, 1}, {7, 7, 7}, {255, 254, 253}};
    uint8_t trns[5] = {0, 128, 255, 3, 9};
    const int W = 9, H = 3;
    for (int bd = 4; bd <= 8; bd += 4) {
        const size_t rowbytes = ((size_t)W * bd + 7) / 8;
        uint8_t *s = calloc(rowbytes * H, 1);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int v = (x * 3 + y) % 5, bit = x * bd;
                s[y * rowbytes + bit / 8] |= (uint8_t)(v << (8 - bd - bit % 8));
            }
        png_spec sp = {W, H, bd, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, s, pal, 5, trns, 5, NULL, 0, NULL, NULL};
        buf b = write_png(&sp);
        ff_tensor t;
        ff_image_info info;
        ff_err err = {0};
        FF_CHECK_OK(decode(&b, &l, &t, &info, &err), &err);
        int ok = t.data != NULL;
        for (int y = 0; ok && y < H; y++)
            for (int x = 0; ok && x < W; x++) {
                const png_color *c = &pal[(x * 3 + y) % 5];
                const uint8_t *p = px(&t, y, x);
                ok = p[0] == c->red && p[1] == c->green && p[2] == c->blue; /* tRNS ignored */
            }
        FF_CHECK_MSG(ok, "palette %d-bit looked up, tRNS ignored", bd);
        FF_CHECK(info.palette && info.alpha_dropped);
        ff_tensor_free(&t);
        free(b.d);
        free(s);
    }
    uint8_t la[2 * 9 * 3];
    for (int i = 0; i < W * H; i++) la[2 * i] = (uint8_t)(i * 9), la[2 * i + 1] = (uint8_t)(i * 5);
    png_spec sp = {W, H, 8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, la, NULL, 0, NULL, 0, NULL, 0, NULL, NULL};
    buf b = write_png(&sp);
    ff_tensor t;
    ff_err err = {0};
    FF_CHECK_OK(decode(&b, &l, &t, NULL, &err), &err);
    int ok = t.data != NULL;
    for (int i = 0; ok && i < W * H; i++) {
        const uint8_t *p = px(&t, i / W, i % W);
        ok = p[0] == la[2 * i] && p[1] == la[2 * i] && p[2] == la[2 * i];
    }
    FF_CHECK_MSG(ok, "gray+alpha: replicated, alpha dropped");
    ff_tensor_free(&t);
    free(b.d);
}

static buf small_rgb_png(int W, int H) {
    uint8_t *s = malloc((size_t)W * H * 3);
    unsigned seed = 9;
    for (int i = 0; i < W * H * 3; i++) s[i] = (uint8_t)lcg(&seed);
    png_spec sp = {W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, s, NULL, 0, NULL, 0, NULL, 0, NULL, NULL};
    buf b = write_png(&sp);
    free(s);
    return b;
}

static void test_png_broken(void) {
    ff_image_limits l = any_size();
    buf b = small_rgb_png(40, 30);
    ff_tensor t;
    ff_err err = {0};
    /* cut in the middle of the image data, and right before IEND */
    size_t cuts[3] = {b.n / 2, b.n - 12, b.n - 1};
    for (int i = 0; i < 3; i++) {
        ff_status st = ff_image_decode(b.d, cuts[i], "cut.png", &l, &t, NULL, &err);
        FF_CHECK_MSG(st == FF_ERR_FORMAT && contains(err.msg, "truncated PNG") && contains(err.msg, "cut.png"),
                     "cut at %zu of %zu: %s", cuts[i], b.n, err.msg);
        FF_CHECK(t.data == NULL);
    }
    /* a flipped byte inside IDAT: CRC error of a critical chunk */
    uint8_t *c = malloc(b.n);
    memcpy(c, b.d, b.n);
    uint8_t *idat = memmem(c, b.n, "IDAT", 4);
    FF_REQUIRE(idat != NULL);
    idat[10] ^= 0x40;
    ff_status st = ff_image_decode(c, b.n, "crc.png", &l, &t, NULL, &err);
    FF_CHECK_MSG(st == FF_ERR_FORMAT && contains(err.msg, "corrupt PNG"), "%s", err.msg);
    free(c);
    free(b.d);
}

static void test_png_limits(void) {
    ff_image_limits l;
    ff_image_limits_default(&l);
    ff_tensor t;
    ff_err err = {0};
    buf b = small_rgb_png(1, 1);
    ff_status st = decode(&b, &l, &t, NULL, &err); /* default minimum: 16 a side */
    FF_CHECK_MSG(st == FF_ERR_ARG && contains(err.msg, "1x1") && contains(err.msg, "minimum"), "%s", err.msg);
    ff_image_limits one = any_size();
    FF_CHECK_OK(decode(&b, &one, &t, NULL, &err), &err);
    FF_CHECK(t.shape[0] == 1 && t.shape[1] == 1);
    ff_tensor_free(&t);
    free(b.d);
    b = small_rgb_png(65, 16);
    l.max_side = 64;
    st = decode(&b, &l, &t, NULL, &err);
    FF_CHECK_MSG(st == FF_ERR_ARG && contains(err.msg, "65x16") && contains(err.msg, "limit"), "%s", err.msg);
    ff_image_limits_default(&l);
    l.max_pixels = 65 * 16 - 1;
    st = decode(&b, &l, &t, NULL, &err);
    FF_CHECK(st == FF_ERR_ARG);
    ff_image_limits_default(&l);
    l.max_file_bytes = b.n - 1;
    st = decode(&b, &l, &t, NULL, &err);
    FF_CHECK_MSG(st == FF_ERR_ARG && contains(err.msg, "byte limit"), "%s", err.msg);
    free(b.d);
}

/* A minimal big- or little-endian TIFF block with one orientation entry. */
static size_t exif_block(uint8_t *d, int le, int type, uint32_t value, int prefix) {
    size_t k = 0;
    if (prefix) memcpy(d, "Exif\0\0", 6), k = 6;
    uint8_t *t = d + k;
#define P16(p, v) (le ? ((p)[0] = (uint8_t)(v), (p)[1] = (uint8_t)((v) >> 8)) : ((p)[0] = (uint8_t)((v) >> 8), (p)[1] = (uint8_t)(v)))
#define P32(p, v) (le ? (P16(p, (v) & 0xffff), P16((p) + 2, (v) >> 16)) : (P16(p, (v) >> 16), P16((p) + 2, (v) & 0xffff)))
    memcpy(t, le ? "II*\0" : "MM\0*", 4);
    P32(t + 4, 8u);
    P16(t + 8, 2u);             /* two entries */
    P16(t + 10, 0x010fu);       /* Make, ignored */
    P16(t + 12, 2u);
    P32(t + 14, 4u);
    memcpy(t + 18, "ACME", 4);
    P16(t + 22, 0x0112u);       /* Orientation */
    P16(t + 24, (uint32_t)type);
    P32(t + 26, 1u);
    memset(t + 30, 0, 4);
    if (type == 3) P16(t + 30, value);
    else P32(t + 30, value);
    P32(t + 34, 0u);
#undef P16
#undef P32
    return k + 38;
}

static void test_exif_parse(void) {
    uint8_t d[64];
    for (int le = 0; le < 2; le++)
        for (int prefix = 0; prefix < 2; prefix++)
            for (uint32_t v = 1; v <= 8; v++) {
                size_t n = exif_block(d, le, 3, v, prefix);
                FF_CHECK(ff_image_exif_orientation(d, n) == (int)v);
                n = exif_block(d, le, 4, v, prefix);
                FF_CHECK(ff_image_exif_orientation(d, n) == (int)v);
            }
    size_t n = exif_block(d, 1, 3, 6, 0);
    for (size_t cut = 0; cut < n - 4; cut++) /* never past the end (the last 4 bytes, next-IFD offset, are not needed) */
        FF_CHECK(ff_image_exif_orientation(d, cut) == 0);
    n = exif_block(d, 1, 5, 6, 0);                                                        /* RATIONAL: not valid */
    FF_CHECK(ff_image_exif_orientation(d, n) == 0);
    n = exif_block(d, 0, 3, 6, 0);
    d[7] = 200; /* IFD offset past the end */
    FF_CHECK(ff_image_exif_orientation(d, n) == 0);
    FF_CHECK(ff_image_exif_orientation((const uint8_t *)"XX*\0\0\0\0\x08", 8) == 0);
}

/* exif_transpose's display orientation, stated by the corners: where the
 * stored image's top-left (TL), top-right (TR), bottom-left (BL) pixels end
 * up for each EXIF value (EXIF 2.32, table of Orientation). */
static void test_orientation_corners(void) {
    const int W = 5, H = 3;
    ff_tensor base;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_tensor_allocv(&base, FF_U8, &err, 3, (int64_t)H, (int64_t)W, (int64_t)3), &err);
    for (int i = 0; i < W * H * 3; i++) ((uint8_t *)base.data)[i] = (uint8_t)i;
    const uint8_t TL = 0, TR = (uint8_t)((W - 1) * 3), BL = (uint8_t)((H - 1) * W * 3);
    /* for each orientation: display corners [top-left, top-right, bottom-left] hold stored ... */
    struct {
        int o;
        uint8_t tl, tr, bl;
        int swap;
    } cases[] = {
        {2, TR, TL, (uint8_t)(BL + (W - 1) * 3), 0}, /* mirrored horizontally */
        {3, (uint8_t)(BL + (W - 1) * 3), BL, TR, 0},  /* rotated 180 */
        {4, BL, (uint8_t)(BL + (W - 1) * 3), TL, 0},  /* mirrored vertically */
        {5, TL, BL, TR, 1},                           /* transposed */
        {6, BL, TL, (uint8_t)(BL + (W - 1) * 3), 1},  /* stored rotated 90 ccw: display = 90 cw */
        {7, (uint8_t)(BL + (W - 1) * 3), TR, BL, 1},  /* transversed */
        {8, TR, (uint8_t)(BL + (W - 1) * 3), TL, 1},  /* display = 90 ccw */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ff_tensor t;
        FF_REQUIRE_OK(ff_tensor_clone(&t, &base, &err), &err);
        FF_CHECK_OK(ff_image_orient(&t, cases[i].o, &err), &err);
        const int oh = cases[i].swap ? W : H, ow = cases[i].swap ? H : W;
        FF_CHECK(t.shape[0] == oh && t.shape[1] == ow);
        FF_CHECK_MSG(px(&t, 0, 0)[0] == cases[i].tl && px(&t, 0, ow - 1)[0] == cases[i].tr &&
                         px(&t, oh - 1, 0)[0] == cases[i].bl,
                     "orientation %d: corners %d %d %d", cases[i].o, px(&t, 0, 0)[0], px(&t, 0, ow - 1)[0],
                     px(&t, oh - 1, 0)[0]);
        ff_tensor_free(&t);
    }
    FF_CHECK_OK(ff_image_orient(&base, 1, &err), &err); /* 1 and unknown values: untouched */
    FF_CHECK_OK(ff_image_orient(&base, 9, &err), &err);
    FF_CHECK(base.shape[0] == H && ((uint8_t *)base.data)[TR] == TR);
    ff_tensor_free(&base);
}

static void test_png_orientation_sources(void) {
    ff_image_limits l = any_size();
    const int W = 4, H = 2;
    uint8_t s[4 * 2 * 3];
    for (int i = 0; i < W * H * 3; i++) s[i] = (uint8_t)(i * 11);
    uint8_t ex[64];
    size_t nex = exif_block(ex, 0, 3, 6, 0);
    png_spec a = {W, H, 8, PNG_COLOR_TYPE_RGB, 0, s, NULL, 0, NULL, 0, ex, (int)nex, NULL, NULL};
    /* Pillow's "Raw profile type exif": header lines, then hex */
    char raw[256];
    int k = snprintf(raw, sizeof raw, "\nexif\n      %zu\n", nex + 6);
    k += snprintf(raw + k, sizeof raw - (size_t)k, "457869660000");
    for (size_t i = 0; i < nex; i++) k += snprintf(raw + k, sizeof raw - (size_t)k, "%02x", ex[i]);
    png_spec r = {W, H, 8, PNG_COLOR_TYPE_RGB, 0, s, NULL, 0, NULL, 0, NULL, 0, "Raw profile type exif", raw};
    png_spec x = {W, H, 8, PNG_COLOR_TYPE_RGB, 0, s, NULL, 0, NULL, 0, NULL, 0, "XML:com.adobe.xmp",
                  "<x:xmpmeta><rdf:Description tiff:Orientation=\"6\"/></x:xmpmeta>"};
    png_spec *specs[3] = {&a, &r, &x};
    for (int i = 0; i < 3; i++) {
        buf b = write_png(specs[i]);
        ff_tensor t;
        ff_image_info info;
        ff_err err = {0};
        FF_CHECK_OK(decode(&b, &l, &t, &info, &err), &err);
        FF_CHECK_MSG(info.orientation == 6 && t.shape[0] == W && t.shape[1] == H, "source %d: orientation %d", i,
                     info.orientation);
        /* ROTATE_270: display (0, 0) is stored bottom-left */
        FF_CHECK(t.data && px(&t, 0, 0)[0] == s[(H - 1) * W * 3]);
        ff_tensor_free(&t);
        free(b.d);
    }
}

static void test_png_file(void) {
    char path[512];
    ff_test_tmp_path("image_test.png", path, sizeof path);
    buf b = small_rgb_png(20, 17);
    FILE *f = fopen(path, "wb");
    FF_REQUIRE(f && fwrite(b.d, 1, b.n, f) == b.n);
    fclose(f);
    ff_tensor t, u;
    ff_err err = {0};
    FF_CHECK_OK(ff_image_read(path, NULL, &t, NULL, &err), &err);
    FF_CHECK_OK(ff_image_decode(b.d, b.n, "mem", NULL, &u, NULL, &err), &err);
    FF_CHECK(t.data && u.data && ff_tensor_equal(&t, &u));
    ff_tensor_free(&t);
    ff_tensor_free(&u);
    free(b.d);
    ff_status st = ff_image_read("/nonexistent/dir/x.png", NULL, &t, NULL, &err);
    FF_CHECK(st == FF_ERR_NOT_FOUND && contains(err.msg, "/nonexistent/dir/x.png"));
    ff_test_tmp_path("", path, sizeof path);
    st = ff_image_read(path, NULL, &t, NULL, &err); /* a folder */
    FF_CHECK(st == FF_ERR_IO);
}

#endif /* FF_HAVE_LIBPNG */

/* ---- JPEG ------------------------------------------------------------------ */
#ifdef FF_HAVE_LIBJPEG

static buf write_jpeg(int W, int H, int comps, J_COLOR_SPACE cs, const uint8_t *exif, size_t nexif, int progressive) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &mem, &n);
    c.image_width = (JDIMENSION)W, c.image_height = (JDIMENSION)H;
    c.input_components = comps, c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 92, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (exif) jpeg_write_marker(&c, JPEG_APP0 + 1, exif, (unsigned)nexif);
    uint8_t *row = malloc((size_t)W * comps);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < W; x++)
            for (int k = 0; k < comps; k++) /* smooth content: corners far apart in value */
                row[x * comps + k] = (uint8_t)(k * 30 + x * 120 / W + c.next_scanline * 60 / H);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    buf b = {mem, n, n};
    return b;
}

static void test_jpeg_rgb_gray(void) {
    ff_image_limits l = any_size();
    for (int prog = 0; prog < 2; prog++) {
        buf b = write_jpeg(48, 32, 3, JCS_RGB, NULL, 0, prog);
        ff_tensor t;
        ff_image_info info;
        ff_err err = {0};
        FF_CHECK_OK(ff_image_decode(b.d, b.n, "t.jpg", &l, &t, &info, &err), &err);
        FF_CHECK(t.shape[0] == 32 && t.shape[1] == 48 && info.format == FF_IMAGE_FMT_JPEG && info.interlaced == prog);
        /* lossy: the smooth input comes back within a few levels */
        int worst = 0;
        for (int y = 0; t.data && y < 32; y++)
            for (int x = 0; x < 48; x++)
                for (int k = 0; k < 3; k++) {
                    int want = k * 30 + x * 120 / 48 + y * 60 / 32, d = abs(px(&t, y, x)[k] - want);
                    if (d > worst) worst = d;
                }
        FF_CHECK_MSG(worst <= 12, "JPEG round trip off by %d", worst);
        ff_tensor_free(&t);
        free(b.d);
    }
    buf b = write_jpeg(40, 24, 1, JCS_GRAYSCALE, NULL, 0, 0);
    ff_tensor t;
    ff_err err = {0};
    FF_CHECK_OK(ff_image_decode(b.d, b.n, "g.jpg", &l, &t, NULL, &err), &err);
    int ok = t.data != NULL;
    for (int i = 0; ok && i < 40 * 24; i++) {
        const uint8_t *p = (uint8_t *)t.data + i * 3;
        ok = p[0] == p[1] && p[1] == p[2];
    }
    FF_CHECK_MSG(ok, "grayscale JPEG replicated");
    ff_tensor_free(&t);
    free(b.d);
}

static void test_jpeg_refused(void) {
    ff_image_limits l = any_size();
    ff_tensor t;
    ff_err err = {0};
    buf b = write_jpeg(32, 32, 4, JCS_CMYK, NULL, 0, 0);
    ff_status st = ff_image_decode(b.d, b.n, "cmyk.jpg", &l, &t, NULL, &err);
    FF_CHECK_MSG(st == FF_ERR_UNSUPPORTED && contains(err.msg, "CMYK") && contains(err.msg, "cmyk.jpg"), "%s",
                 err.msg);
    FF_CHECK(t.data == NULL);
    free(b.d);
    b = write_jpeg(64, 48, 3, JCS_RGB, NULL, 0, 0);
    size_t cuts[2] = {b.n / 2, b.n - 2}; /* inside the scan; only the EOI marker missing (Pillow refuses both) */
    for (int i = 0; i < 2; i++) {
        st = ff_image_decode(b.d, cuts[i], "cut.jpg", &l, &t, NULL, &err);
        FF_CHECK_MSG(st == FF_ERR_FORMAT && contains(err.msg, "truncated JPEG"), "cut %zu: %s", cuts[i], err.msg);
        FF_CHECK(t.data == NULL);
    }
    st = ff_image_decode(b.d, 20, "head.jpg", &l, &t, NULL, &err); /* cut inside the headers */
    FF_CHECK_MSG(st == FF_ERR_FORMAT && contains(err.msg, "head.jpg"), "%s", err.msg);
    uint8_t *c = malloc(b.n);
    memcpy(c, b.d, b.n);
    for (size_t i = 2; i + 1 < b.n; i++)
        if (c[i] == 0xff && c[i + 1] == 0xc0) { /* SOF0 -> a marker libjpeg refuses (SOF13, hierarchical) */
            c[i + 1] = 0xcd;
            break;
        }
    st = ff_image_decode(c, b.n, "bad.jpg", &l, &t, NULL, &err);
    FF_CHECK_MSG(st == FF_ERR_FORMAT && contains(err.msg, "corrupt JPEG"), "%s", err.msg);
    free(c);
    free(b.d);
}

static void test_jpeg_orientation(void) {
    ff_image_limits l = any_size();
    buf plain = write_jpeg(40, 24, 3, JCS_RGB, NULL, 0, 0);
    ff_tensor ref;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_image_decode(plain.d, plain.n, "plain.jpg", &l, &ref, NULL, &err), &err);
    for (int o = 1; o <= 8; o++)
        for (int le = 0; le < 2; le++) {
            uint8_t ex[64];
            size_t nex = exif_block(ex, le, 3, (uint32_t)o, 1);
            buf b = write_jpeg(40, 24, 3, JCS_RGB, ex, nex, 0);
            ff_tensor t, want;
            ff_image_info info;
            FF_CHECK_OK(ff_image_decode(b.d, b.n, "o.jpg", &l, &t, &info, &err), &err);
            FF_CHECK_OK(ff_tensor_clone(&want, &ref, &err), &err);
            FF_CHECK_OK(ff_image_orient(&want, o, &err), &err);
            FF_CHECK_MSG(info.orientation == o && t.data && ff_tensor_equal(&t, &want), "orientation %d le %d: found %d",
                         o, le, info.orientation);
            ff_tensor_free(&t);
            ff_tensor_free(&want);
            free(b.d);
        }
    ff_tensor_free(&ref);
    free(plain.d);
}

#endif /* FF_HAVE_LIBJPEG */

static void test_not_images(void) {
    ff_tensor t;
    ff_err err = {0};
    ff_status st = ff_image_decode((const uint8_t *)"GIF89a\1\0\1\0", 10, "a.gif", NULL, &t, NULL, &err);
    FF_CHECK(st == FF_ERR_UNSUPPORTED && contains(err.msg, "GIF") && contains(err.msg, "PNG or JPEG"));
    st = ff_image_decode((const uint8_t *)"RIFF\0\0\0\0WEBPVP8 ", 16, "a.webp", NULL, &t, NULL, &err);
    FF_CHECK(st == FF_ERR_UNSUPPORTED && contains(err.msg, "WebP"));
    st = ff_image_decode((const uint8_t *)"hello world", 11, "a.txt", NULL, &t, NULL, &err);
    FF_CHECK(st == FF_ERR_FORMAT && contains(err.msg, "not a PNG or JPEG"));
    st = ff_image_decode((const uint8_t *)"", 0, "empty.png", NULL, &t, NULL, &err);
    FF_CHECK(st == FF_ERR_FORMAT && contains(err.msg, "empty"));
    FF_CHECK(t.data == NULL);
}

static void test_without_libraries(void) {
    static const uint8_t png_sig[16] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    static const uint8_t jpg_sig[4] = {0xff, 0xd8, 0xff, 0xe0};
    ff_tensor t;
    ff_err err = {0};
    if (!ff_image_have_png()) {
        ff_status st = ff_image_decode(png_sig, sizeof png_sig, "x.png", NULL, &t, NULL, &err);
        FF_CHECK(st == FF_ERR_UNSUPPORTED && contains(err.msg, "built without PNG support"));
    }
    if (!ff_image_have_jpeg()) {
        ff_status st = ff_image_decode(jpg_sig, sizeof jpg_sig, "x.jpg", NULL, &t, NULL, &err);
        FF_CHECK(st == FF_ERR_UNSUPPORTED && contains(err.msg, "built without JPEG support"));
    }
#ifdef FF_HAVE_LIBPNG
    FF_CHECK(ff_image_have_png());
#endif
#ifdef FF_HAVE_LIBJPEG
    FF_CHECK(ff_image_have_jpeg());
#endif
}

/* Every golden case's PNG (option "png": {tensor: file}) decodes to its U8
 * input tensor. */
static void test_golden_pngs(void) {
    const char *root = getenv("FF_GOLDEN");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/cases", root ? root : "");
    DIR *d = root ? opendir(dir) : NULL;
    if (!d || !ff_image_have_png()) {
        if (d) closedir(d);
        fprintf(stderr, "test_golden_pngs: no golden data or no libpng: not checked\n");
        return;
    }
    int checked = 0;
    ff_image_limits l = any_size();
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[8192];
        snprintf(p, sizeof p, "%s/%s/case.json", dir, de->d_name);
        ff_json_doc *doc = NULL;
        ff_err err = {0};
        if (ff_json_parse_file(p, &doc, &err)) continue;
        const ff_json *png = ff_json_get(ff_json_get(ff_json_root(doc), "options"), "png");
        if (png && png->type == FF_JSON_OBJECT) {
            ff_st_file *in = NULL;
            snprintf(p, sizeof p, "%s/%s/inputs.safetensors", dir, de->d_name);
            FF_CHECK_OK(ff_st_open(p, &in, &err), &err);
            for (const ff_json *m = png->child; in && m; m = m->next) {
                const char *key = m->key, *file = m->type == FF_JSON_STRING ? m->str : NULL;
                if (!key || !file) continue;
                ff_tensor want, got;
                snprintf(p, sizeof p, "%s/%s/%s", dir, de->d_name, file);
                FF_CHECK_OK(ff_st_load(in, key, FF_U8, &want, &err), &err);
                FF_CHECK_OK(ff_image_read(p, &l, &got, NULL, &err), &err);
                FF_CHECK_MSG(want.data && got.data && ff_tensor_equal(&want, &got), "%s", p);
                checked++;
                ff_tensor_free(&want);
                ff_tensor_free(&got);
            }
            ff_st_close(in);
        }
        ff_json_free(doc);
    }
    closedir(d);
    fprintf(stderr, "test_golden_pngs: %d golden PNG images = their U8 tensors\n", checked);
}

int main(void) {
#ifdef FF_HAVE_LIBPNG
    FF_RUN(test_png_rgb_rgba);
    FF_RUN(test_png_gray_depths);
    FF_RUN(test_png_16bit);
    FF_RUN(test_png_palette_and_gray_alpha);
    FF_RUN(test_png_broken);
    FF_RUN(test_png_limits);
    FF_RUN(test_exif_parse);
    FF_RUN(test_orientation_corners);
    FF_RUN(test_png_orientation_sources);
    FF_RUN(test_png_file);
#endif
#ifdef FF_HAVE_LIBJPEG
    FF_RUN(test_jpeg_rgb_gray);
    FF_RUN(test_jpeg_refused);
    FF_RUN(test_jpeg_orientation);
#endif
    FF_RUN(test_not_images);
    FF_RUN(test_without_libraries);
    FF_RUN(test_golden_pngs);
    return ff_test_summary();
}
