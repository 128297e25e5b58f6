/* cpu_layout: ops that move data without arithmetic on the CPU backend:
 * concat, slice, permute, copy (with F32/BF16/F16 conversion),
 * upsample_nearest2d and embedding (row gather, with its id range check).
 *
 * Everything is expressed as runs of contiguous bytes (memcpy) where the
 * layout allows it; element sizes come from the dtype, so these work for
 * any dtype ops.c lets through.
 * Not here: validation (kernels/ops.c). */
#include <omp.h>
#include <stdio.h>

#include "kernels/cpu/cpu_internal.h"

#define PAR_BYTES (1 << 18) /* below this a parallel region costs more than it saves */

ff_status cpu_concat(ff_backend *be, const ff_tensor *const *xs, int n, int axis, ff_tensor *out, ff_err *err) {
    const size_t es = ff_dtype_size(out->dtype);
    const int64_t outer = cpu_prod(out->shape, 0, axis), inner = cpu_prod(out->shape, axis + 1, out->ndim);
    const size_t out_row = (size_t)(out->shape[axis] * inner) * es;
    const int nt = cpu_threads(cpu_ctx_of(be));
    size_t offset = 0;
    for (int t = 0; t < n; t++) {
        const size_t row = (size_t)(xs[t]->shape[axis] * inner) * es;
        const char *src = xs[t]->data;
        char *dst = (char *)out->data + offset;
#pragma omp parallel for num_threads(nt) if ((size_t)outer * row > PAR_BYTES)
        for (int64_t o = 0; o < outer; o++) memcpy(dst + (size_t)o * out_row, src + (size_t)o * row, row);
        offset += row;
    }
    return FF_OK;
}

ff_status cpu_slice(ff_backend *be, const ff_tensor *x, int axis, int64_t start, ff_tensor *out, ff_err *err) {
    const size_t es = ff_dtype_size(x->dtype);
    const int64_t outer = cpu_prod(x->shape, 0, axis), inner = cpu_prod(x->shape, axis + 1, x->ndim);
    const size_t in_row = (size_t)(x->shape[axis] * inner) * es, out_row = (size_t)(out->shape[axis] * inner) * es;
    const char *src = (const char *)x->data + (size_t)(start * inner) * es;
    char *dst = out->data;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if ((size_t)outer * out_row > PAR_BYTES)
    for (int64_t o = 0; o < outer; o++) memcpy(dst + (size_t)o * out_row, src + (size_t)o * in_row, out_row);
    return FF_OK;
}

ff_status cpu_permute(ff_backend *be, const ff_tensor *x, const int *perm, ff_tensor *out, ff_err *err) {
    const int nd = x->ndim;
    const size_t es = ff_dtype_size(x->dtype);
    int64_t xst[FF_MAX_DIMS], st[FF_MAX_DIMS]; /* st[d]: x's stride along out's dim d */
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        xst[d] = s;
        s *= x->shape[d];
    }
    for (int d = 0; d < nd; d++) st[d] = xst[perm[d]];
    /* out is walked row by row (its last dim); a row is one memcpy when x's
     * last dim stays last, else a strided gather */
    const int64_t inner = nd ? out->shape[nd - 1] : 1, rows = ff_tensor_numel(out) / (inner ? inner : 1);
    const int64_t istride = nd ? st[nd - 1] : 1;
    const char *src = x->data;
    char *dst = out->data;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if ((size_t)(rows * inner) * es > PAR_BYTES)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = 0, rem = r;
        for (int d = nd - 2; d >= 0; d--) {
            off += (rem % out->shape[d]) * st[d];
            rem /= out->shape[d];
        }
        char *o = dst + (size_t)(r * inner) * es;
        if (istride == 1) memcpy(o, src + (size_t)off * es, (size_t)inner * es);
        else if (es == 4)
            for (int64_t j = 0; j < inner; j++) ((uint32_t *)o)[j] = ((const uint32_t *)src)[off + j * istride];
        else
            for (int64_t j = 0; j < inner; j++) memcpy(o + (size_t)j * es, src + (size_t)(off + j * istride) * es, es);
    }
    return FF_OK;
}

static float load_float(const void *p, ff_dtype dt, int64_t i) {
    switch (dt) {
    case FF_BF16: return cpu_bf16(((const uint16_t *)p)[i]);
    case FF_F16: return ff_f16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

static void store_float(void *p, ff_dtype dt, int64_t i, float v) {
    switch (dt) {
    case FF_BF16: ((uint16_t *)p)[i] = ff_f32_to_bf16(v); break;
    case FF_F16: ((uint16_t *)p)[i] = ff_f32_to_f16(v); break;
    default: ((float *)p)[i] = v; break;
    }
}

ff_status cpu_copy(ff_backend *be, const ff_tensor *src, ff_tensor *dst, ff_err *err) {
    const int64_t n = ff_tensor_numel(src);
    if (src->dtype == dst->dtype) {
        memcpy(dst->data, src->data, (size_t)n * ff_dtype_size(src->dtype));
        return FF_OK;
    }
    /* every F16 and BF16 value is exact in F32, so going through float is exact
     * up to the final rounding (round-to-nearest-even, as torch's .to()) */
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (n > 65536)
    for (int64_t i = 0; i < n; i++) store_float(dst->data, dst->dtype, i, load_float(src->data, src->dtype, i));
    return FF_OK;
}

ff_status cpu_upsample_nearest2d(ff_backend *be, const ff_tensor *x, int fh, int fw, ff_tensor *out, ff_err *err) {
    const int64_t planes = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3], wo = w * fw;
    const float *xd = x->data;
    float *od = out->data;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (planes * h * wo * fh > 65536)
    for (int64_t r = 0; r < planes * h; r++) { /* input row r -> fh output rows */
        const float *src = xd + r * w;
        float *dst = od + r * fh * wo;
        for (int64_t j = 0; j < wo; j++) dst[j] = src[j / fw];
        for (int i = 1; i < fh; i++) memcpy(dst + i * wo, dst, (size_t)wo * sizeof(float));
    }
    return FF_OK;
}

ff_status cpu_embedding(ff_backend *be, const ff_tensor *ids, const ff_tensor *table, ff_tensor *out, ff_err *err) {
    const int64_t n = ff_tensor_numel(ids), vocab = table->shape[0], d = table->shape[1];
    const int wide = ids->dtype == FF_I64;
    for (int64_t i = 0; i < n; i++) { /* check every id before writing anything */
        const int64_t id = wide ? ((const int64_t *)ids->data)[i] : ((const int32_t *)ids->data)[i];
        if (id < 0 || id >= vocab)
            return ff_err_set(err, FF_ERR_ARG, "op embedding: id %lld at position %lld is outside the table [0, %lld)",
                              (long long)id, (long long)i, (long long)vocab);
    }
    const size_t es = ff_dtype_size(table->dtype), row = (size_t)d * es;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if ((size_t)n * row > PAR_BYTES)
    for (int64_t i = 0; i < n; i++) {
        const int64_t id = wide ? ((const int64_t *)ids->data)[i] : ((const int32_t *)ids->data)[i];
        memcpy((char *)out->data + (size_t)i * row, (const char *)table->data + (size_t)id * row, row);
    }
    return FF_OK;
}
