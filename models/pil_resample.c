/* pil_resample: Pillow 9.4 libImaging/Resample.c for 8 bits per sample
 * (precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc,
 * ImagingResampleVertical_8bpc, ImagingResampleInner), restated here. The
 * filter formulas keep Pillow's evaluation order: the double weights feed an
 * integer rounding, so a different order could move a weight by one unit. */
#include "models/pil_resample.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

static double box_filter(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double hamming_filter(double x) {
    if (x < 0.0) x = -x;
    if (x == 0.0) return 1.0;
    if (x >= 1.0) return 0.0;
    x = x * M_PI;
    return sin(x) / x * (0.54 + 0.46 * cos(x));
}

static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc_filter(double x) {
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x) { return -3.0 <= x && x < 3.0 ? sinc_filter(x) * sinc_filter(x / 3) : 0.0; }

typedef struct {
    double (*f)(double);
    double support;
    const char *name;
} filter_def;

static const filter_def *filter_of(int filter) {
    static const filter_def defs[6] = {
        {NULL, 0.0, "nearest"},          {lanczos_filter, 3.0, "lanczos"}, {bilinear_filter, 1.0, "bilinear"},
        {bicubic_filter, 2.0, "bicubic"}, {box_filter, 0.5, "box"},         {hamming_filter, 1.0, "hamming"},
    };
    return filter >= 0 && filter < 6 ? &defs[filter] : NULL;
}

const char *ff_pil_filter_name(int filter) {
    const filter_def *d = filter_of(filter);
    return d ? d->name : "?";
}

int ff_pil_coeffs(int in_size, int out_size, int filter, int **bounds_out, int **k_out) {
    *bounds_out = NULL, *k_out = NULL;
    const filter_def *fd = filter_of(filter);
    if (!fd || !fd->f || in_size < 1 || out_size < 1) return 0;
    /* precompute_coeffs with box (0, in_size) */
    double scale = (double)in_size / out_size, filterscale = scale;
    if (filterscale < 1.0) filterscale = 1.0;
    const double support = fd->support * filterscale;
    const int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = malloc(sizeof *bounds * 2 * (size_t)out_size);
    double *kk = malloc(sizeof *kk * (size_t)out_size * (size_t)ksize);
    int *k = malloc(sizeof *k * (size_t)out_size * (size_t)ksize);
    if (!bounds || !kk || !k) {
        free(bounds), free(kk), free(k);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        const double center = 0.0 + (xx + 0.5) * scale, ss = 1.0 / filterscale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5); /* C casts truncate toward zero, as Pillow's */
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *w = &kk[(size_t)xx * ksize];
        int x = 0;
        for (; x < xmax; x++) {
            double v = fd->f((x + xmin - center + 0.5) * ss);
            w[x] = v;
            ww += v;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) w[x] /= ww;
        for (; x < ksize; x++) w[x] = 0;
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    /* normalize_coeffs_8bpc */
    for (size_t i = 0; i < (size_t)out_size * (size_t)ksize; i++)
        k[i] = kk[i] < 0 ? (int)(-0.5 + kk[i] * (1 << PRECISION_BITS)) : (int)(0.5 + kk[i] * (1 << PRECISION_BITS));
    free(kk);
    *bounds_out = bounds, *k_out = k;
    return ksize;
}

static uint8_t clip8(int64_t in) {
    if (in >= ((int64_t)1 << PRECISION_BITS << 8)) return 255;
    if (in <= 0) return 0;
    return (uint8_t)(in >> PRECISION_BITS);
}

/* One pass over an (H, W, C) image along `axis` (1: width, 0: height).
 * Pillow sums in a 32-bit int; with weights normalised to 1 the sum stays far
 * below 2^31, so the 64-bit sum here is the same number. */
static void pass(const uint8_t *in, int H, int W, int C, int axis, int out_n, const int *bounds, const int *k, int ksize,
                 uint8_t *out) {
    const int OH = axis == 0 ? out_n : H, OW = axis == 1 ? out_n : W;
    for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++) {
            const int i = axis == 1 ? x : y, lo = bounds[2 * i], n = bounds[2 * i + 1];
            const int *w = &k[(size_t)i * ksize];
            for (int c = 0; c < C; c++) {
                int64_t ss = (int64_t)1 << (PRECISION_BITS - 1);
                if (axis == 1)
                    for (int t = 0; t < n; t++) ss += (int64_t)in[((size_t)y * W + (size_t)(lo + t)) * C + c] * w[t];
                else
                    for (int t = 0; t < n; t++) ss += (int64_t)in[((size_t)(lo + t) * W + (size_t)x) * C + c] * w[t];
                out[((size_t)y * OW + x) * C + c] = clip8(ss);
            }
        }
}

ff_status ff_pil_resize(const ff_tensor *img, int out_h, int out_w, int filter, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    char b[96];
    if (img->dtype != FF_U8 || img->ndim != 3 || (img->shape[2] != 1 && img->shape[2] != 3) || img->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_ARG, "resize: image %s, expected a host U8 (H, W, 1|3) tensor",
                          ff_tensor_describe(img, b, sizeof b));
    const int lim = 1 << 20;
    if (out_h < 1 || out_w < 1 || out_h > lim || out_w > lim || img->shape[0] < 1 || img->shape[1] < 1 ||
        img->shape[0] > lim || img->shape[1] > lim)
        return ff_err_set(err, FF_ERR_ARG, "resize: %s -> %dx%d (sides must be in [1, %d])",
                          ff_tensor_describe(img, b, sizeof b), out_w, out_h, lim);
    const filter_def *fd = filter_of(filter);
    if (!fd || !fd->f)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "resize: filter %d (%s) not supported (lanczos, bilinear, bicubic, "
                          "box, hamming)", filter, ff_pil_filter_name(filter));
    const int H = (int)img->shape[0], W = (int)img->shape[1], C = (int)img->shape[2];
    ff_status st = ff_tensor_allocv(out, FF_U8, err, 3, (int64_t)out_h, (int64_t)out_w, (int64_t)C);
    if (st) return ff_err_wrap(err, "resize: ");
    if (out_h == H && out_w == W) { /* Image.resize: same size -> self.copy() */
        memcpy(out->data, img->data, ff_tensor_nbytes(img));
        return FF_OK;
    }
    int *bh = NULL, *kh = NULL, *bv = NULL, *kv = NULL;
    uint8_t *tmp = NULL;
    const int need_h = out_w != W, need_v = out_h != H;
    int ksh = need_h ? ff_pil_coeffs(W, out_w, filter, &bh, &kh) : 1;
    int ksv = need_v ? ff_pil_coeffs(H, out_h, filter, &bv, &kv) : 1;
    if (!ksh || !ksv || (need_h && need_v && !(tmp = malloc((size_t)H * out_w * C)))) {
        st = ff_err_set(err, FF_ERR_NOMEM, "resize: cannot allocate the filter tables for %dx%d -> %dx%d", W, H, out_w,
                        out_h);
        ff_tensor_free(out);
        goto done;
    }
    /* Pillow computes only the rows the vertical pass reads; the others are never used. */
    if (need_h && need_v) {
        pass(img->data, H, W, C, 1, out_w, bh, kh, ksh, tmp);
        pass(tmp, H, out_w, C, 0, out_h, bv, kv, ksv, out->data);
    } else if (need_h) {
        pass(img->data, H, W, C, 1, out_w, bh, kh, ksh, out->data);
    } else {
        pass(img->data, H, W, C, 0, out_h, bv, kv, ksv, out->data);
    }
done:
    free(bh), free(kh), free(bv), free(kv), free(tmp);
    return st;
}
