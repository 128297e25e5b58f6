/* ff_compare: see ff_compare.h. */
#include "ff_compare.h"

#include <math.h>

static double elem(const ff_tensor *t, int64_t i) {
    switch (t->dtype) {
    case FF_F32: return ((const float *)t->data)[i];
    case FF_F16: return ff_f16_to_f32(((const uint16_t *)t->data)[i]);
    case FF_BF16: return ff_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case FF_I32: return ((const int32_t *)t->data)[i];
    case FF_I64: return (double)((const int64_t *)t->data)[i];
    case FF_U8: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

double ff_rel_l2(const ff_tensor *out, const ff_tensor *ref) {
    int64_t n = ff_tensor_numel(out);
    if (n != ff_tensor_numel(ref)) return -1;
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double o = elem(out, i), r = elem(ref, i);
        if (isnan(o) && !isnan(r)) return INFINITY;
        num += (o - r) * (o - r);
        den += r * r;
    }
    if (den == 0) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += elem(out, i) * elem(out, i);
        return sqrt(s);
    }
    return sqrt(num) / sqrt(den);
}

int ff_tensor_equal(const ff_tensor *a, const ff_tensor *b) {
    int64_t n = ff_tensor_numel(a);
    if (n != ff_tensor_numel(b)) return 0;
    for (int64_t i = 0; i < n; i++)
        if (elem(a, i) != elem(b, i)) return 0;
    return 1;
}
