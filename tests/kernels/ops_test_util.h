/* ops_test_util: helpers shared by the kernels/ op tests: tensor makers,
 * element access in double, and the rel_l2 check against a double-precision
 * reference. Test-only; aborts on allocation failure (a test cannot go on). */
#ifndef FF_OPS_TEST_UTIL_H
#define FF_OPS_TEST_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_compare.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "tests/common/ff_test.h"

/* Shape literal: S(2, 3, 4) */
#define S(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

static inline ff_tensor tt_make(ff_dtype dt, const int64_t *shape, int ndim) {
    ff_tensor t;
    ff_err err = {0};
    if (ff_tensor_alloc(&t, dt, ndim, shape, &err)) {
        fprintf(stderr, "test: %s\n", err.msg);
        abort();
    }
    return t;
}

static inline ff_tensor tt_zeros(const int64_t *shape, int ndim) { return tt_make(FF_F32, shape, ndim); }

/* F32 tensor of uniform values in [lo, hi) from seed. */
static inline ff_tensor tt_rand(unsigned seed, float lo, float hi, const int64_t *shape, int ndim) {
    ff_tensor t = tt_make(FF_F32, shape, ndim);
    ff_test_fill_uniform(&t, seed, lo, hi);
    return t;
}

/* The same values rounded to dt (BF16 weights); src unchanged. */
static inline ff_tensor tt_to(const ff_tensor *src, ff_dtype dt) {
    ff_tensor t = tt_make(dt, src->shape, src->ndim);
    ff_err err = {0};
    if (ff_tensor_convert(&t, src, &err)) abort();
    return t;
}

/* Element i of a float tensor of any float dtype, as double. */
static inline double tt_at(const ff_tensor *t, int64_t i) {
    switch (t->dtype) {
    case FF_F32: return ((const float *)t->data)[i];
    case FF_BF16: return ff_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case FF_F16: return ff_f16_to_f32(((const uint16_t *)t->data)[i]);
    case FF_I32: return ((const int32_t *)t->data)[i];
    case FF_I64: return (double)((const int64_t *)t->data)[i];
    case FF_U8: return ((const uint8_t *)t->data)[i];
    default: abort();
    }
}

static inline double *tt_ref(int64_t n) {
    double *r = calloc((size_t)(n ? n : 1), sizeof(double));
    if (!r) abort();
    return r;
}

/* ff_rel_l2 of out against a double reference (rounded to F32 for the
 * comparison: that adds at most ~6e-8 relative error). */
static inline double tt_rel(const ff_tensor *out, const double *ref) {
    ff_tensor r = tt_make(FF_F32, out->shape, out->ndim);
    int64_t n = ff_tensor_numel(out);
    for (int64_t i = 0; i < n; i++) ((float *)r.data)[i] = (float)ref[i];
    double d = ff_rel_l2(out, &r);
    ff_tensor_free(&r);
    return d;
}

#define CHECK_REL(out, ref, tol, ...)                                                                              \
    do {                                                                                                           \
        double rel__ = tt_rel((out), (ref));                                                                       \
        char what__[160];                                                                                          \
        snprintf(what__, sizeof what__, __VA_ARGS__);                                                              \
        FF_CHECK_MSG(rel__ <= (tol), "%s: rel_l2 %.3g > %.1g", what__, rel__, (double)(tol));                     \
    } while (0)

/* Frees any number of tensors (NULL-terminated). */
static inline void tt_free(ff_tensor *t, ...) {
    va_list ap;
    va_start(ap, t);
    for (; t; t = va_arg(ap, ff_tensor *)) ff_tensor_free(t);
    va_end(ap);
}

#endif
