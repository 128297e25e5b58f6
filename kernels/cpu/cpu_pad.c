/* cpu_pad: the CPU backend's replicate padding (ff_op_pad_replicate3d),
 * the padding HunyuanVideo's causal 3-D convolutions apply before Conv3d.
 * Each output row copies its clamped source row and extends both ends with
 * the edge value. Not here: validation (ops.c), zero padding (conv3d pads
 * with zeros itself). */
#include "kernels/cpu/cpu_internal.h"

static inline int64_t clamp_idx(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

ff_status cpu_pad_replicate3d(ff_backend *be, const ff_tensor *x, const int pad[6], ff_tensor *out, ff_err *err) {
    (void)err;
    const int64_t planes = x->shape[0] * x->shape[1];
    const int64_t F = x->shape[2], H = x->shape[3], W = x->shape[4];
    const int64_t Fo = out->shape[2], Ho = out->shape[3], Wo = out->shape[4];
    const int64_t rows = planes * Fo * Ho;
    const float *xd = x->data;
    float *od = out->data;
#pragma omp parallel for num_threads(cpu_threads(cpu_ctx_of(be))) if (rows * Wo > 65536)
    for (int64_t r = 0; r < rows; r++) { /* output row r = (plane, fo, ho) */
        const int64_t ho = r % Ho, fo = (r / Ho) % Fo, pl = r / (Ho * Fo);
        const int64_t f = clamp_idx(fo - pad[0], F), h = clamp_idx(ho - pad[2], H);
        const float *src = xd + ((pl * F + f) * H + h) * W;
        float *dst = od + r * Wo;
        for (int64_t j = 0; j < pad[4]; j++) dst[j] = src[0];
        memcpy(dst + pad[4], src, (size_t)W * sizeof(float));
        for (int64_t j = pad[4] + W; j < Wo; j++) dst[j] = src[W - 1];
    }
    return FF_OK;
}
