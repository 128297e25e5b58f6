/* cuda_internal: what the files of the CUDA backend share (internal to kernels/cuda/).
 *
 * The CUDA backend is a set of small files, one job each:
 *   cuda_backend.c      constructor, device listing, the vtable, memory, sync
 *   cuda_gemm.cu        linear and matmul through cuBLAS (F32, or BF16 tensor cores in BF16 precision)
 *   cuda_linear_act.cu  linear_act: BF16 GEMMs through cuBLASLt with bias / GELU epilogues, plans cached
 *   cuda_conv.cu        conv3d: cuDNN (cuda_cudnn.c) in the BF16 precisions, im2col + cuBLAS otherwise
 *   cuda_cudnn.c        cuDNN 9 convolution plans through the backend (graph) API, loaded at run time
 *   cuda_elementwise.cu unary, binary (broadcasting), scale, clamp, modulate, rope
 *   cuda_fused.cu       norm_modulate, qk_norm_rope, gate_residual, the linear epilogue kernels
 *   cuda_norm.cu        softmax, rms_norm, layer_norm, group_norm, l2norm_channels
 *   cuda_attention.cu   sdpa / attention: path choice and the F32 kernel (online softmax over key blocks)
 *   cuda_flash.cu       BF16 flash attention on tensor cores (mma.sync, sm_80+)
 *   cuda_layout.cu      copy/convert, slice, concat, permute, upsample, embedding
 *   cuda_pad.cu         replicate padding (pad_replicate3d)
 *   cuda_host_plan.c    host-side planning in plain C (plan cache, tiling), built and tested without CUDA
 * Every op trusts kernels/ops.c to have validated dtypes, shapes and
 * aliasing; it reports CUDA/cuBLAS failures (FF_ERR_DEVICE, naming the call,
 * file:line and CUDA's own message) and data-dependent errors (embedding ids).
 *
 * All work goes to the context's compute stream, in order; nothing here
 * synchronises except download, sync, the embedding range check and the
 * growth of the scratch buffer (cudaFree).
 *
 * This header is included by C (cuda_backend.c, compiled by the host
 * compiler) and by CUDA C++ (.cu files, nvcc); the device helpers at the end
 * are visible to nvcc only.
 * Not here: argument validation (ops.c), memory budgets (offload/). */
#ifndef FF_CUDA_INTERNAL_H
#define FF_CUDA_INTERNAL_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/backend_impl.h"

typedef struct {
    int device;                /* runtime ordinal (after CUDA_VISIBLE_DEVICES) */
    cudaStream_t compute;      /* every op and synchronous copy of this backend, in order */
    cudaStream_t copy;         /* ff_be_upload_async only; ordered with compute by events (ops.h) */
    cublasHandle_t cublas;     /* bound to `compute` */
    cublasLtHandle_t cublaslt; /* linear_act's BF16 GEMMs with epilogues (cuda_linear_act.cu) */
    void *scratch;             /* device scratch (BF16 widening, im2col), grows on demand */
    size_t scratch_bytes;
    unsigned long long *d_flag; /* device word for data-dependent errors (embedding) */
    unsigned long long *h_flag; /* pinned host mirror of d_flag */
    int sm_count;
    size_t smem_optin; /* max dynamic shared memory per block after opt-in */
    int cc_major, cc_minor; /* compute capability */
    /* cuBLASLt matmul plans of linear_act (cuda_linear_act.cu), keyed by shape and types, and their workspace */
    struct cuda_plan_cache *lt_plans;
    void *lt_ws;
    size_t lt_ws_bytes;
    /* cuDNN (cuda_cudnn.c): NULL until the first convolution that wants it; a failed load is remembered */
    struct cuda_cudnn *cudnn;
    /* a second scratch buffer for ops that need two at once (linear_act, cuDNN conv operands) */
    void *scratch2;
    size_t scratch2_bytes;
    /* conv3d counters, for tests and benchmarks: calls by cuDNN, and calls that fell back to im2col */
    int64_t conv_cudnn_calls, conv_fallback_calls;
} cuda_ctx;

static inline cuda_ctx *cuda_ctx_of(const ff_backend *be) { return (cuda_ctx *)be->ctx; }

/* Turn a failed CUDA runtime / cuBLAS call into FF_ERR_DEVICE:
 * "cuda: <call> failed at kernels/cuda/x.cu:42: <cudaGetErrorString> (<name>)". */
ff_status cuda_fail(ff_err *err, const char *call, const char *file, int line, cudaError_t e);
ff_status cuda_fail_cublas(ff_err *err, const char *call, const char *file, int line, cublasStatus_t s);

/* Every CUDA runtime call of the backend goes through FF_CU, every cuBLAS
 * call through FF_CUBLAS, and every kernel launch is followed by
 * FF_CU_LAUNCHED(name) (cudaGetLastError), all returning from the caller. */
#define FF_CU(call, err)                                                                                               \
    do {                                                                                                               \
        cudaError_t e__ = (call);                                                                                      \
        if (e__ != cudaSuccess) return cuda_fail((err), #call, __FILE__, __LINE__, e__);                               \
    } while (0)

#define FF_CUBLAS(call, err)                                                                                           \
    do {                                                                                                               \
        cublasStatus_t s__ = (call);                                                                                   \
        if (s__ != CUBLAS_STATUS_SUCCESS) return cuda_fail_cublas((err), #call, __FILE__, __LINE__, s__);              \
    } while (0)

#define FF_CU_LAUNCHED(kernel, err)                                                                                    \
    do {                                                                                                               \
        cudaError_t e__ = cudaGetLastError();                                                                          \
        if (e__ != cudaSuccess) return cuda_fail((err), "launch of " #kernel, __FILE__, __LINE__, e__);                \
    } while (0)

/* Make this backend's device current for the calling thread (several
 * backends on several devices may share a process). */
#define FF_CU_ENTER(ctx, err) FF_CU(cudaSetDevice((ctx)->device), err)

/* The context's scratch buffer with at least nbytes (contents undefined).
 * Growing it frees the old one (cudaFree waits for queued work). Valid until
 * the next call; one op uses it at a time. Its size (<= 64 MiB for BF16
 * linear, <= 128 MiB of im2col columns plus a widened BF16 conv weight; in
 * BF16 precision <= 64 MiB of rounded activations plus a rounded F32 weight,
 * or <= 128 MiB of BF16 columns plus the conv weight) is not yet counted by
 * offload/'s budgets: TODO when offload lands. */
ff_status cuda_scratch(cuda_ctx *ctx, size_t nbytes, void **p, ff_err *err);
/* The same for the second scratch buffer (ctx->scratch2). */
ff_status cuda_scratch2(cuda_ctx *ctx, size_t nbytes, void **p, ff_err *err);

/* Blocks for a grid-stride loop over n items: enough to fill the device,
 * never more than the items need. */
unsigned cuda_blocks(const cuda_ctx *ctx, int64_t n, int threads);

/* dst (F32, n) = src (F32, BF16 or F16, n) widened, on the compute stream. */
ff_status cuda_widen_f32(cuda_ctx *ctx, const void *src, ff_dtype dt, float *dst, int64_t n, ff_err *err);
/* dst (BF16, n) = src (F32, n) rounded to nearest even, on the compute
 * stream (the BF16 precision mode's GEMM operands). */
ff_status cuda_round_bf16(cuda_ctx *ctx, const float *src, void *dst, int64_t n, ff_err *err);
/* n rounded up to a multiple of 256 (sub-buffers of the scratch). */
size_t cuda_align256(size_t n);
/* out (rows, n) += bias (n) (bias F32, BF16 or F16), on the compute stream. */
ff_status cuda_add_bias(cuda_ctx *ctx, float *out, const void *bias, ff_dtype bias_dt, int64_t rows, int64_t n,
                        int64_t row_stride, ff_err *err);

/* ---- ops (one file each, see the top comment) ------------------------- */
ff_status cuda_linear(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_tensor *out,
                      ff_err *err);
ff_status cuda_matmul(ff_backend *be, const ff_tensor *a, const ff_tensor *b, int trans_a, int trans_b, float alpha,
                      int64_t batch, int64_t m, int64_t n, int64_t k, int b_batched, ff_tensor *out, ff_err *err);
ff_status cuda_conv3d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, const int stride[3],
                      const int pad[6], ff_tensor *out, ff_err *err);
ff_status cuda_group_norm(ff_backend *be, const ff_tensor *x, int groups, const ff_tensor *gamma, const ff_tensor *beta,
                          float eps, ff_tensor *out, ff_err *err);
ff_status cuda_layer_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, float eps,
                          ff_tensor *out, ff_err *err);
ff_status cuda_rms_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, ff_tensor *out, ff_err *err);
ff_status cuda_l2norm_channels(ff_backend *be, const ff_tensor *x, const ff_tensor *gamma, const ff_tensor *beta,
                               float scale, float eps, ff_tensor *out, ff_err *err);
ff_status cuda_softmax(ff_backend *be, const ff_tensor *x, ff_tensor *out, ff_err *err);
ff_status cuda_unary(ff_backend *be, ff_unary_kind kind, const ff_tensor *x, ff_tensor *out, ff_err *err);
ff_status cuda_binary(ff_backend *be, ff_binary_kind kind, const ff_tensor *a, const int64_t *a_shape,
                      const ff_tensor *b, const int64_t *b_shape, ff_tensor *out, ff_err *err);
ff_status cuda_scale(ff_backend *be, const ff_tensor *x, float alpha, float beta, ff_tensor *out, ff_err *err);
ff_status cuda_clamp(ff_backend *be, const ff_tensor *x, float lo, float hi, ff_tensor *out, ff_err *err);
ff_status cuda_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *shift, const ff_tensor *scale,
                        ff_tensor *out, ff_err *err);
ff_status cuda_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *cos, const ff_tensor *sin, ff_tensor *out,
                    ff_err *err);
ff_status cuda_sdpa(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v, const ff_tensor *bias,
                    const int64_t *bias_shape, float scale, ff_tensor *out, ff_err *err);
ff_status cuda_pad_replicate3d(ff_backend *be, const ff_tensor *x, const int pad[6], ff_tensor *out, ff_err *err);
ff_status cuda_upsample_nearest2d(ff_backend *be, const ff_tensor *x, int fh, int fw, ff_tensor *out, ff_err *err);
ff_status cuda_concat(ff_backend *be, const ff_tensor *const *xs, int n, int axis, ff_tensor *out, ff_err *err);
ff_status cuda_slice(ff_backend *be, const ff_tensor *x, int axis, int64_t start, ff_tensor *out, ff_err *err);
ff_status cuda_permute(ff_backend *be, const ff_tensor *x, const int *perm, ff_tensor *out, ff_err *err);
ff_status cuda_copy(ff_backend *be, const ff_tensor *src, ff_tensor *dst, ff_err *err);
ff_status cuda_embedding(ff_backend *be, const ff_tensor *ids, const ff_tensor *table, ff_tensor *out, ff_err *err);
ff_status cuda_linear_act(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_act_kind act,
                          ff_tensor *out, ff_err *err);
ff_status cuda_norm_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                             const ff_tensor *shift, const ff_tensor *scale, float eps, ff_tensor *out, ff_err *err);
ff_status cuda_qk_norm_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, const ff_tensor *cos,
                            const ff_tensor *sin, ff_heads_layout layout, ff_tensor *out, ff_err *err);
ff_status cuda_gate_residual(ff_backend *be, const ff_tensor *h, const ff_tensor *x, const ff_tensor *gate,
                             ff_tensor *out, ff_err *err);
ff_status cuda_attention(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                         const ff_tensor *bias, const int64_t *bias_shape, float scale, ff_heads_layout layout,
                         ff_tensor *out, ff_err *err);

/* ---- helpers between the files ------------------------------------------ */

/* BF16 flash attention (cuda_flash.cu); layout 0 BHLD, 1 BLHD. FF_ERR_UNSUPPORTED
 * for shapes or devices it does not take (cuda_attention.cu then decides). */
ff_status cuda_flash_attention(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                               const ff_tensor *bias, const int64_t *bias_shape, float scale, int layout,
                               ff_tensor *out, ff_err *err);
int cuda_flash_supported(const cuda_ctx *ctx); /* sm_80 or newer */

/* out (rows, n) [dtype odt] = act(acc (rows, n, row stride acc_ld, F32; NULL: zeros) + bias (n) [bdt] or 0),
 * on the compute stream (cuda_fused.cu). act: ff_act_kind. */
ff_status cuda_bias_act(cuda_ctx *ctx, const float *acc, int64_t acc_ld, const void *bias, ff_dtype bdt, int act,
                        void *out, ff_dtype odt, int64_t rows, int64_t n, ff_err *err);
/* x (n elements, F32 or BF16) = act(x) in place (cuda_fused.cu). */
ff_status cuda_act_inplace(cuda_ctx *ctx, void *x, ff_dtype dt, int act, int64_t n, ff_err *err);

/* cuDNN convolution (cuda_cudnn.c). FF_ERR_UNSUPPORTED when cuDNN is not
 * usable here or has no plan for the shape (the caller falls back to
 * im2col); any other error is a real failure. bf16: operands rounded to
 * BF16 (FF_PREC_BF16_ALL), else F32 operands on TF32 tensor cores. Adds
 * no bias. x, w F32 or BF16 as the tensors are (w BF16 is widened or used). */
ff_status cuda_cudnn_conv3d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const int stride[3],
                            const int pad[6], int bf16, ff_tensor *out, ff_err *err);
void cuda_cudnn_release(cuda_ctx *ctx); /* frees plans, the handle and the library */
/* "cuDNN 91900 (libcudnn.so.9)" or why it is not used, into buf. */
const char *cuda_cudnn_describe(cuda_ctx *ctx, char *buf, size_t n);

/* Products of a shape's dims over [from, to). */
static inline int64_t cuda_prod(const int64_t *shape, int from, int to) {
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= shape[i];
    return p;
}

#ifdef __cplusplus
}
#endif

/* ---- device helpers (nvcc only) ----------------------------------------- */
#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <cuda_fp16.h>

/* Grid-stride loop over [0, n) with 64-bit indices. */
#define FF_CU_FOR(i, n)                                                                                                \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__device__ __forceinline__ float cuda_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float cuda_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum (or max) over the whole block, returned to every thread. sh holds 33
 * floats of shared memory; blockDim.x is a multiple of 32. */
__device__ __forceinline__ float cuda_block_reduce(float v, float *sh, int is_max) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = is_max ? cuda_warp_max(v) : cuda_warp_sum(v);
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    if (wid == 0) {
        float t = lane < nw ? sh[lane] : (is_max ? -INFINITY : 0.0f);
        t = is_max ? cuda_warp_max(t) : cuda_warp_sum(t);
        if (lane == 0) sh[32] = t;
    }
    __syncthreads();
    const float r = sh[32];
    __syncthreads(); /* sh may be reused by the next reduction */
    return r;
}

/* Element i of a F32, BF16 or F16 array, as float. */
__device__ __forceinline__ float cuda_load_f32(const void *p, ff_dtype dt, int64_t i) {
    if (dt == FF_BF16) return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    if (dt == FF_F16) return __half2float(((const __half *)p)[i]);
    return ((const float *)p)[i];
}

static inline int cuda_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }
#endif

#endif
