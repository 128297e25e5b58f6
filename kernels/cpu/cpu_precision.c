/* cpu_precision: the CPU backend's BF16 precision modes (ops.h: FF_PREC_BF16,
 * FF_PREC_BF16_ALL), emulated.
 *
 * In BF16 precision linear and matmul (and conv3d in FF_PREC_BF16_ALL;
 * the rule is ff_be_bf16_gemm / ff_be_bf16_conv) round both GEMM inputs to BF16
 * (round-to-nearest-even, as __float2bfloat16_rn on the GPU and torch's
 * .to(torch.bfloat16)) and then run the ordinary F32-accumulating GEMM: a
 * product of two BF16 values is exact in F32, so the result is what a BF16
 * tensor-core GEMM with F32 accumulation computes, up to summation order.
 * The rounded copies are BF16 (half the bytes of the F32 operand), which the
 * GEMM engine already widens while packing. Not faster than F32 here: the
 * point is the same accuracy class as the CUDA backend's BF16 path, so that
 * CPU tests and golden runs show it.
 * Not here: the GEMM (cpu_gemm.c), which ops use it (cpu_matmul.c, cpu_conv.c). */
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

ff_status cpu_bf16_copy(const cpu_ctx *ctx, const float *src, int64_t n, uint16_t **out, ff_err *err) {
    uint16_t *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    *out = d;
    if (!d)
        return ff_err_set(err, FF_ERR_NOMEM, "cpu backend: cannot allocate %lld BF16 values for a bf16 GEMM operand",
                          (long long)n);
#pragma omp parallel for num_threads(cpu_threads(ctx)) if (n > 65536)
    for (int64_t i = 0; i < n; i++) d[i] = ff_f32_to_bf16(src[i]);
    return FF_OK;
}

void cpu_round_bf16(const cpu_ctx *ctx, float *x, int64_t n) {
#pragma omp parallel for num_threads(cpu_threads(ctx)) if (n > 65536)
    for (int64_t i = 0; i < n; i++) x[i] = cpu_bf16(ff_f32_to_bf16(x[i]));
}
