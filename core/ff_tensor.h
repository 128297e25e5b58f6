/* ff_tensor: a contiguous, row-major n-d array (up to 6 dims) and its dtype.
 *
 * A tensor either owns its storage (ff_tensor_alloc*, freed by
 * ff_tensor_free) or borrows it (ff_tensor_view: an mmap'd safetensors span, a
 * device buffer owned by a pool). `loc` says where the bytes live; core only
 * ever touches FF_LOC_HOST data. This module does no math: ops live in
 * kernels/ops.h. Not for strided views; slicing copies. */
#ifndef FF_TENSOR_H
#define FF_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "ff_err.h"

#define FF_MAX_DIMS 6

/* U8: images (8-bit pixels) in golden cases and conditioning inputs; no op takes it. */
typedef enum { FF_F32 = 0, FF_F16, FF_BF16, FF_I32, FF_I64, FF_U8, FF_DTYPE_COUNT } ff_dtype;

typedef enum { FF_LOC_HOST = 0, FF_LOC_DEVICE = 1 } ff_loc;

typedef struct {
    ff_dtype dtype;
    int ndim;                     /* 0 = scalar (numel 1) */
    int64_t shape[FF_MAX_DIMS];   /* unused trailing entries are 1 */
    void *data;
    ff_loc loc;
    int owns;                     /* 1: data is malloc'd by ff_tensor_alloc* */
    const void *owner;            /* the allocator whose memory data is (kernels: the ff_backend of ff_be_alloc);
                                     NULL for plain host memory and views. Opaque here: kernels/ops.c checks it */
} ff_tensor;

size_t ff_dtype_size(ff_dtype dt);
const char *ff_dtype_name(ff_dtype dt);             /* "F32", "BF16", ... (safetensors spelling) */
int ff_dtype_from_name(const char *name, ff_dtype *out); /* 0 on success, -1 unknown */

/* Number of elements; 0 when any dim is 0. Shapes are validated at creation
 * so this never overflows for a tensor made here. */
int64_t ff_tensor_numel(const ff_tensor *t);
size_t ff_tensor_nbytes(const ff_tensor *t);

/* Checks ndim and dims (>= 0) and that numel * itemsize fits in size_t and
 * below limit_bytes (0 = no limit); on success *nbytes_out (may be NULL). */
ff_status ff_shape_check(ff_dtype dt, int ndim, const int64_t *shape, size_t limit_bytes,
                         size_t *nbytes_out, ff_err *err);

/* Owned host tensor, zero-filled. */
ff_status ff_tensor_alloc(ff_tensor *t, ff_dtype dt, int ndim, const int64_t *shape, ff_err *err);
/* Owned host tensor; shape given as ndim int64 varargs. */
ff_status ff_tensor_allocv(ff_tensor *t, ff_dtype dt, ff_err *err, int ndim, ...);
/* Borrowed view over existing bytes (not freed by ff_tensor_free). */
void ff_tensor_view(ff_tensor *t, ff_dtype dt, int ndim, const int64_t *shape, void *data, ff_loc loc);
/* Owned deep copy of a host tensor. */
ff_status ff_tensor_clone(ff_tensor *dst, const ff_tensor *src, ff_err *err);
/* Frees owned storage (no-op for views) and zeroes the struct. */
void ff_tensor_free(ff_tensor *t);

/* Same element count, new shape (metadata only). */
ff_status ff_tensor_reshape(ff_tensor *t, int ndim, const int64_t *shape, ff_err *err);
int ff_tensor_same_shape(const ff_tensor *a, const ff_tensor *b);
/* "F32[1, 4, 3, 6, 8]" into buf; returns buf. */
const char *ff_tensor_describe(const ff_tensor *t, char *buf, size_t n);

/* Host dtype conversion of n elements, round-to-nearest-even for narrowing
 * (as torch's .to()); NaN stays NaN. */
float ff_bf16_to_f32(uint16_t h);
uint16_t ff_f32_to_bf16(float f);
float ff_f16_to_f32(uint16_t h);
uint16_t ff_f32_to_f16(float f);
/* Converts any float or int dtype into dst's dtype (same numel, host).
 * Float -> int truncates toward zero, saturates at the integer range and maps
 * NaN to 0. */
ff_status ff_tensor_convert(ff_tensor *dst, const ff_tensor *src, ff_err *err);

/* n floats in [0, 1] -> bytes: round(clamp(x, 0, 1) * 255) half to even
 * (numpy's .round() in diffusers' numpy_to_pil), NaN -> 0: the 8-bit frames
 * of video writers and of the farm's wire. */
void ff_quantize_u8(const float *src, int64_t n, uint8_t *dst);

/* Ranges along one axis of a host tensor, seen as (outer, shape[axis],
 * inner): latent frames of a video latent in any layout ((B, C, F, h, w)
 * axis 2, (B, F, C, h, w) axis 1). pack copies [start, start + n) into dst
 * as (outer, n, inner); unpack writes such a block back; slice makes an
 * owned tensor of the range (the axis becomes n). */
void ff_tensor_axis_pack(const ff_tensor *t, int axis, int64_t start, int64_t n, void *dst);
void ff_tensor_axis_unpack(ff_tensor *t, int axis, int64_t start, int64_t n, const void *src);
ff_status ff_tensor_axis_slice(const ff_tensor *t, int axis, int64_t start, int64_t n, ff_tensor *out, ff_err *err);

#endif
