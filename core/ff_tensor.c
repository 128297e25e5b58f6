/* ff_tensor: see ff_tensor.h. */
#include "ff_tensor.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dtype_names[FF_DTYPE_COUNT] = {"F32", "F16", "BF16", "I32", "I64", "U8"};
static const size_t dtype_sizes[FF_DTYPE_COUNT] = {4, 2, 2, 4, 8, 1};

size_t ff_dtype_size(ff_dtype dt) { return (unsigned)dt < FF_DTYPE_COUNT ? dtype_sizes[dt] : 0; }

const char *ff_dtype_name(ff_dtype dt) { return (unsigned)dt < FF_DTYPE_COUNT ? dtype_names[dt] : "?"; }

int ff_dtype_from_name(const char *name, ff_dtype *out) {
    for (int i = 0; i < FF_DTYPE_COUNT; i++)
        if (strcmp(name, dtype_names[i]) == 0) {
            *out = (ff_dtype)i;
            return 0;
        }
    return -1;
}

int64_t ff_tensor_numel(const ff_tensor *t) {
    for (int i = 0; i < t->ndim; i++) /* a zero dim after huge ones must not overflow the product */
        if (t->shape[i] == 0) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t ff_tensor_nbytes(const ff_tensor *t) { return (size_t)ff_tensor_numel(t) * ff_dtype_size(t->dtype); }

ff_status ff_shape_check(ff_dtype dt, int ndim, const int64_t *shape, size_t limit_bytes, size_t *nbytes_out,
                         ff_err *err) {
    if ((unsigned)dt >= FF_DTYPE_COUNT) return ff_err_set(err, FF_ERR_ARG, "unknown dtype %d", (int)dt);
    if (ndim < 0 || ndim > FF_MAX_DIMS)
        return ff_err_set(err, FF_ERR_SHAPE, "%d dims (at most %d supported)", ndim, FF_MAX_DIMS);
    size_t n = ff_dtype_size(dt);
    int zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return ff_err_set(err, FF_ERR_SHAPE, "negative dim %lld", (long long)shape[i]);
        if (shape[i] == 0) zero = 1;
    }
    if (zero) n = 0;
    else
        for (int i = 0; i < ndim; i++) {
            uint64_t d = (uint64_t)shape[i];
            if (d > SIZE_MAX / n) return ff_err_set(err, FF_ERR_SHAPE, "shape overflows the address space");
            n *= (size_t)d;
        }
    if (limit_bytes && n > limit_bytes)
        return ff_err_set(err, FF_ERR_SHAPE, "tensor of %zu bytes exceeds the limit of %zu", n, limit_bytes);
    if (nbytes_out) *nbytes_out = n;
    return FF_OK;
}

static void set_shape(ff_tensor *t, ff_dtype dt, int ndim, const int64_t *shape) {
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < FF_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
}

ff_status ff_tensor_alloc(ff_tensor *t, ff_dtype dt, int ndim, const int64_t *shape, ff_err *err) {
    memset(t, 0, sizeof *t);
    size_t nbytes;
    ff_status st = ff_shape_check(dt, ndim, shape, 0, &nbytes, err);
    if (st) return st;
    void *p = calloc(nbytes ? nbytes : 1, 1);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate %zu bytes for a tensor", nbytes);
    set_shape(t, dt, ndim, shape);
    t->data = p;
    t->loc = FF_LOC_HOST;
    t->owns = 1;
    return FF_OK;
}

ff_status ff_tensor_allocv(ff_tensor *t, ff_dtype dt, ff_err *err, int ndim, ...) {
    int64_t shape[FF_MAX_DIMS];
    if (ndim < 0 || ndim > FF_MAX_DIMS) {
        memset(t, 0, sizeof *t);
        return ff_err_set(err, FF_ERR_SHAPE, "%d dims (at most %d supported)", ndim, FF_MAX_DIMS);
    }
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) shape[i] = va_arg(ap, int64_t);
    va_end(ap);
    return ff_tensor_alloc(t, dt, ndim, shape, err);
}

void ff_tensor_view(ff_tensor *t, ff_dtype dt, int ndim, const int64_t *shape, void *data, ff_loc loc) {
    memset(t, 0, sizeof *t);
    set_shape(t, dt, ndim, shape);
    t->data = data;
    t->loc = loc;
    t->owns = 0;
}

ff_status ff_tensor_clone(ff_tensor *dst, const ff_tensor *src, ff_err *err) {
    if (src->loc != FF_LOC_HOST) return ff_err_set(err, FF_ERR_ARG, "ff_tensor_clone: source is not on the host");
    ff_status st = ff_tensor_alloc(dst, src->dtype, src->ndim, src->shape, err);
    if (st) return st;
    memcpy(dst->data, src->data, ff_tensor_nbytes(src));
    return FF_OK;
}

void ff_tensor_free(ff_tensor *t) {
    if (!t) return;
    if (t->owns) free(t->data);
    memset(t, 0, sizeof *t);
}

ff_status ff_tensor_reshape(ff_tensor *t, int ndim, const int64_t *shape, ff_err *err) {
    size_t nb;
    ff_status st = ff_shape_check(t->dtype, ndim, shape, 0, &nb, err);
    if (st) return st;
    if (nb != ff_tensor_nbytes(t)) {
        char buf[96];
        return ff_err_set(err, FF_ERR_SHAPE, "cannot reshape %s to %d dims with a different element count",
                          ff_tensor_describe(t, buf, sizeof buf), ndim);
    }
    set_shape(t, t->dtype, ndim, shape);
    return FF_OK;
}

int ff_tensor_same_shape(const ff_tensor *a, const ff_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *ff_tensor_describe(const ff_tensor *t, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "%s[", ff_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* ---- dtype conversion ------------------------------------------------ */

float ff_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ff_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                           /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float ff_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) u = sign | 0x7f800000u | (man << 13);
    else u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ff_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); /* NaN */
    if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
    if (absu < 0x38800000u) {                                  /* f16 subnormal or zero */
        if (absu < 0x33000000u) return (uint16_t)sign;           /* below half the smallest subnormal */
        uint32_t e = absu >> 23;
        uint32_t man = (absu & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t v = absu - 0x38000000u; /* rebias exponent 127 -> 15 */
    uint32_t half = v >> 13;
    uint32_t rem = v & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) half++;
    return (uint16_t)(sign | half);
}

static double load_elem(const void *p, ff_dtype dt, size_t i) {
    switch (dt) {
    case FF_F32: return ((const float *)p)[i];
    case FF_F16: return ff_f16_to_f32(((const uint16_t *)p)[i]);
    case FF_BF16: return ff_bf16_to_f32(((const uint16_t *)p)[i]);
    case FF_I32: return ((const int32_t *)p)[i];
    case FF_I64: return (double)((const int64_t *)p)[i];
    case FF_U8: return ((const uint8_t *)p)[i];
    default: return 0;
    }
}

/* Float -> integer truncates toward zero like a C cast, but saturates out of
 * range values and maps NaN to 0 (a plain cast is undefined behaviour there). */
static int64_t to_int(double v, double lo, double hi) {
    if (v != v) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return hi >= 9223372036854775807.0 ? INT64_MAX : (int64_t)hi;
    return (int64_t)v;
}

ff_status ff_tensor_convert(ff_tensor *dst, const ff_tensor *src, ff_err *err) {
    if (dst->loc != FF_LOC_HOST || src->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_ARG, "ff_tensor_convert: tensors must be on the host");
    if (ff_tensor_numel(dst) != ff_tensor_numel(src)) {
        char a[96], b[96];
        return ff_err_set(err, FF_ERR_SHAPE, "convert %s -> %s: element counts differ",
                          ff_tensor_describe(src, a, sizeof a), ff_tensor_describe(dst, b, sizeof b));
    }
    size_t n = (size_t)ff_tensor_numel(src);
    if (dst->dtype == src->dtype) {
        memmove(dst->data, src->data, n * ff_dtype_size(src->dtype));
        return FF_OK;
    }
    if (src->dtype == FF_I64 && dst->dtype == FF_I32) { /* exact integer path */
        for (size_t i = 0; i < n; i++) ((int32_t *)dst->data)[i] = (int32_t)((const int64_t *)src->data)[i];
        return FF_OK;
    }
    if (src->dtype == FF_I32 && dst->dtype == FF_I64) {
        for (size_t i = 0; i < n; i++) ((int64_t *)dst->data)[i] = ((const int32_t *)src->data)[i];
        return FF_OK;
    }
    for (size_t i = 0; i < n; i++) {
        double v = load_elem(src->data, src->dtype, i);
        switch (dst->dtype) {
        case FF_F32: ((float *)dst->data)[i] = (float)v; break;
        case FF_F16: ((uint16_t *)dst->data)[i] = ff_f32_to_f16((float)v); break;
        case FF_BF16: ((uint16_t *)dst->data)[i] = ff_f32_to_bf16((float)v); break;
        case FF_I32: ((int32_t *)dst->data)[i] = (int32_t)to_int(v, -2147483648.0, 2147483647.0); break;
        case FF_I64: ((int64_t *)dst->data)[i] = to_int(v, -9223372036854775808.0, 9223372036854775807.0); break;
        case FF_U8: ((uint8_t *)dst->data)[i] = (uint8_t)to_int(v, 0.0, 255.0); break;
        default: return ff_err_set(err, FF_ERR_ARG, "unknown dtype");
        }
    }
    return FF_OK;
}

/* ---- ranges along an axis ---- */

static void axis_dims(const ff_tensor *t, int axis, int64_t *outer, int64_t *inner) {
    assert(axis >= 0 && axis < t->ndim && t->loc == FF_LOC_HOST);
    *outer = 1, *inner = 1;
    for (int d = 0; d < axis; d++) *outer *= t->shape[d];
    for (int d = axis + 1; d < t->ndim; d++) *inner *= t->shape[d];
}

void ff_tensor_axis_pack(const ff_tensor *t, int axis, int64_t start, int64_t n, void *dst) {
    int64_t outer, inner;
    axis_dims(t, axis, &outer, &inner);
    const int64_t F = t->shape[axis];
    const size_t es = ff_dtype_size(t->dtype);
    assert(start >= 0 && n >= 0 && start + n <= F);
    const char *src = t->data;
    char *d = dst;
    for (int64_t o = 0; o < outer; o++) {
        memcpy(d, src + (size_t)((o * F + start) * inner) * es, (size_t)(n * inner) * es);
        d += (size_t)(n * inner) * es;
    }
}

void ff_tensor_axis_unpack(ff_tensor *t, int axis, int64_t start, int64_t n, const void *src) {
    int64_t outer, inner;
    axis_dims(t, axis, &outer, &inner);
    const int64_t F = t->shape[axis];
    const size_t es = ff_dtype_size(t->dtype);
    assert(start >= 0 && n >= 0 && start + n <= F);
    char *dst = t->data;
    const char *s = src;
    for (int64_t o = 0; o < outer; o++) {
        memcpy(dst + (size_t)((o * F + start) * inner) * es, s, (size_t)(n * inner) * es);
        s += (size_t)(n * inner) * es;
    }
}

ff_status ff_tensor_axis_slice(const ff_tensor *t, int axis, int64_t start, int64_t n, ff_tensor *out, ff_err *err) {
    if (axis < 0 || axis >= t->ndim || start < 0 || n < 1 || start + n > t->shape[axis] || t->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_ARG, "slice [%lld, %lld) of axis %d of a %d-dim tensor", (long long)start,
                          (long long)(start + n), axis, t->ndim);
    int64_t shape[FF_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[axis] = n;
    ff_status st = ff_tensor_alloc(out, t->dtype, t->ndim, shape, err);
    if (!st) ff_tensor_axis_pack(t, axis, start, n, out->data); /* (outer, n, inner) is out's own layout */
    return st;
}

void ff_quantize_u8(const float *src, int64_t n, uint8_t *dst) {
    for (int64_t i = 0; i < n; i++) {
        float x = src[i];
        dst[i] = x > 0.0f ? (x < 1.0f ? (uint8_t)nearbyintf(x * 255.0f) : 255) : 0;
    }
}
