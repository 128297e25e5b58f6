/* pil_resample (ff_pil_*): Pillow's Image.resize for 8-bit images, bit for
 * bit — libImaging/Resample.c of Pillow 9.4 (the version diffusers' and
 * transformers' preprocessing ran on for the golden data; the algorithm has
 * not changed since Pillow 4.x).
 *
 * Separable two-pass convolution in fixed point: per output sample, filter
 * weights over the input window (support scaled by the downscale factor)
 * evaluated in double, normalised to sum 1, rounded to integers with 22
 * fractional bits; each pass accumulates sample * weight from 2^21, shifts
 * right by 22 and clamps to [0, 255]. The horizontal pass runs first (only
 * when the width changes) and is stored as 8 bits; then the vertical pass
 * (only when the height changes). Same size: an exact copy (Image.resize's
 * short cut). Every band (channel) is filtered on its own, which is what
 * Pillow does for "L" and "RGB" images (RGBA is premultiplied there: not
 * offered here).
 *
 * Filters (the PIL.Image.Resampling numbers, as preprocessor_config.json's
 * "resample" stores them): LANCZOS 1 (support 3), BILINEAR 2 (1), BICUBIC 3
 * (2, a = -0.5), BOX 4 (0.5), HAMMING 5 (1). NEAREST 0 is a different
 * algorithm in Pillow (affine transform): FF_ERR_UNSUPPORTED.
 *
 * Not here: the box / reducing_gap arguments (diffusers and transformers
 * pass neither), 16-bit or float images, image I/O (video/image.h).
 * Pure functions on host memory; no allocation except the output and one
 * intermediate image. */
#ifndef FF_PIL_RESAMPLE_H
#define FF_PIL_RESAMPLE_H

#include "core/ff_err.h"
#include "core/ff_tensor.h"

typedef enum {
    FF_PIL_NEAREST = 0,
    FF_PIL_LANCZOS = 1,
    FF_PIL_BILINEAR = 2,
    FF_PIL_BICUBIC = 3,
    FF_PIL_BOX = 4,
    FF_PIL_HAMMING = 5,
} ff_pil_filter;

/* "lanczos", "bicubic", ... for messages; "?" when unknown. */
const char *ff_pil_filter_name(int filter);

/* img.resize((out_w, out_h), filter): img a host U8 tensor (H, W, C) with C
 * 1 or 3; *out an owned U8 (out_h, out_w, C). Sizes >= 1 and at most 2^20
 * a side. FF_ERR_ARG / FF_ERR_UNSUPPORTED otherwise; *out zeroed on failure. */
ff_status ff_pil_resize(const ff_tensor *img, int out_h, int out_w, int filter, ff_tensor *out, ff_err *err);

/* The integer coefficients of one axis, as Pillow's precompute_coeffs +
 * normalize_coeffs_8bpc give them: for output index i, the window
 * [bounds[2i], bounds[2i] + bounds[2i+1]) and weights k[i*ksize ...].
 * *bounds and *k are malloc'd (caller frees); returns ksize, or 0 on
 * allocation failure. Exposed for tests. */
int ff_pil_coeffs(int in_size, int out_size, int filter, int **bounds, int **k);

#endif
