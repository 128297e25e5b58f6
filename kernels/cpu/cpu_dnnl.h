/* cpu_dnnl: the CPU backend's use of oneDNN (internal to kernels/cpu/),
 * compiled only with FF_HAVE_DNNL (Debian libdnnl-dev).
 *
 * One cpu_dnnl per CPU backend (cpu_ctx.dnnl, created with it, freed with
 * it): the oneDNN CPU engine, one stream per worker thread and a cache of
 * primitives keyed by their whole problem (shapes, strides, paddings,
 * dtypes), so a convolution or GEMM shape is planned and JIT-compiled once.
 *
 * Thread-count invariance (the farm's determinism, tests/kernels/
 * test_thread_invariance.c): oneDNN picks blockings, and with them
 * summation orders, from the thread count it sees. So every primitive
 * here is created for ONE thread and run on a fixed grid of tiles whose
 * sizes depend only on the problem shape; the backend's threads share the
 * tiles. Each output element is thus computed by the same single-threaded
 * kernel, with the same order of additions, whatever --threads is.
 *
 * Not thread-safe: one backend is driven by one compute thread (ops.h);
 * the parallelism is inside each call.
 * Not here: the im2col / BLAS fallbacks (cpu_conv.c, cpu_gemm.c), which
 * run when oneDNN is absent or has no primitive for a problem. */
#ifndef FF_CPU_DNNL_H
#define FF_CPU_DNNL_H

#include "kernels/cpu/cpu_internal.h"

#ifdef FF_HAVE_DNNL

/* The engine and an empty cache; FF_ERR_DEVICE when oneDNN cannot start. */
ff_status cpu_dnnl_create(cpu_dnnl **out, ff_err *err);
void cpu_dnnl_free(cpu_dnnl *d);

/* conv3d as in backend_impl.h on oneDNN, over the frames of xs[0..nx)
 * taken in order (conv3d_frames; nx = 1 for conv3d), read in place. bf16:
 * FF_PREC_BF16_ALL (src and weights rounded to BF16, F32 accumulation and
 * output). FF_ERR_UNSUPPORTED (err untouched, out untouched) when oneDNN
 * has no primitive for this problem: the caller falls back to im2col. */
ff_status cpu_dnnl_conv3d(const cpu_ctx *ctx, const ff_tensor *const *xs, int nx, const ff_tensor *w,
                          const ff_tensor *b, const int stride[3], const int pad[6], int bf16, ff_tensor *out,
                          ff_err *err);

/* cpu_gemm's problem on oneDNN matmul, batch 1, both operands of one dtype
 * (F32, or BF16 with F32 accumulation). FF_ERR_UNSUPPORTED (err untouched)
 * when this problem is not for oneDNN (small, batched, mixed dtypes). */
ff_status cpu_dnnl_gemm(const cpu_ctx *ctx, const cpu_gemm_args *g, ff_err *err);

/* "oneDNN 2.6.3 (cpu isa avx512_core_bf16)" */
void cpu_dnnl_describe(char *buf, size_t n);

#endif
#endif
