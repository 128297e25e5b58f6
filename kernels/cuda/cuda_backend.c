/* cuda_backend: the CUDA backend's constructor, device listing, vtable,
 * memory and synchronisation.
 *
 * A backend owns one device (the runtime ordinal, i.e. after
 * CUDA_VISIBLE_DEVICES has been applied), a compute stream on which every op
 * and synchronous copy is queued in order, a copy stream for
 * ff_be_upload_async (offload prefetch; ordered with the compute stream by
 * events only, see ops.h), a cuBLAS handle bound to the compute stream, a
 * cuBLASLt handle with its matmul plans and workspace, two growing scratch
 * buffers and, from the first convolution that uses it, cuDNN (loaded at
 * run time, cuda_cudnn.c). Device memory comes from
 * cudaMalloc, zero-filled on the compute stream; pinned host memory from
 * cudaHostAlloc. With no usable device the constructor fails with
 * FF_ERR_DEVICE "no CUDA device: <reason>" and leaves nothing behind.
 *
 * The ops live in the .cu files (see cuda_internal.h); this file only wires
 * them into the table. Not here: memory budgets and pools (offload/), the
 * block-streaming logic that drives the copy stream (offload/stream.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_host_plan.h"
#include "kernels/cuda/cuda_internal.h"

/* "kernels/cuda/x.cu" out of the absolute path the build passes as __FILE__. */
static const char *short_file(const char *file) {
    const char *s = strstr(file, "kernels/cuda/");
    return s ? s : file;
}

ff_status cuda_fail(ff_err *err, const char *call, const char *file, int line, cudaError_t e) {
    return ff_err_set(err, FF_ERR_DEVICE, "cuda: %s failed at %s:%d: %s (%s)", call, short_file(file), line,
                      cudaGetErrorString(e), cudaGetErrorName(e));
}

ff_status cuda_fail_cublas(ff_err *err, const char *call, const char *file, int line, cublasStatus_t s) {
    return ff_err_set(err, FF_ERR_DEVICE, "cuda: %s failed at %s:%d: %s (cuBLAS status %d)", call, short_file(file),
                      line, cublasGetStatusString(s), (int)s);
}

unsigned cuda_blocks(const cuda_ctx *ctx, int64_t n, int threads) {
    int64_t need = (n + threads - 1) / threads;
    int64_t cap = (int64_t)(ctx->sm_count > 0 ? ctx->sm_count : 80) * 32;
    if (need > cap) need = cap;
    return need < 1 ? 1u : (unsigned)need;
}

/* Grows *buf (of *bytes) to at least nbytes. */
static ff_status grow(cuda_ctx *ctx, void **buf, size_t *bytes, size_t nbytes, void **p, ff_err *err) {
    if (nbytes > *bytes) {
        void *old = *buf;
        *buf = NULL;
        *bytes = 0;
        if (old) FF_CU(cudaFree(old), err); /* waits for its queued users */
        cudaError_t e = cudaMalloc(buf, nbytes);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError(); /* not sticky: clear it */
            *buf = NULL;
            return ff_err_set(err, FF_ERR_NOMEM, "cuda:%d: cannot allocate %zu bytes of scratch: %s", ctx->device,
                              nbytes, cudaGetErrorString(e));
        }
        if (e != cudaSuccess) return cuda_fail(err, "cudaMalloc(buf, nbytes)", __FILE__, __LINE__, e);
        *bytes = nbytes;
    }
    *p = *buf;
    return FF_OK;
}

ff_status cuda_scratch(cuda_ctx *ctx, size_t nbytes, void **p, ff_err *err) {
    return grow(ctx, &ctx->scratch, &ctx->scratch_bytes, nbytes, p, err);
}

ff_status cuda_scratch2(cuda_ctx *ctx, size_t nbytes, void **p, ff_err *err) {
    return grow(ctx, &ctx->scratch2, &ctx->scratch2_bytes, nbytes, p, err);
}

/* ---- memory ------------------------------------------------------------- */

static ff_status cuda_alloc(ff_backend *be, size_t nbytes, void **ptr, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    FF_CU_ENTER(ctx, err);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, nbytes ? nbytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        return ff_err_set(err, FF_ERR_NOMEM, "%s: cannot allocate %zu bytes (%zu of %zu bytes free)", be->name, nbytes,
                          free_b, total_b);
    }
    if (e != cudaSuccess) return cuda_fail(err, "cudaMalloc(&p, nbytes)", __FILE__, __LINE__, e);
    if (nbytes) {
        e = cudaMemsetAsync(p, 0, nbytes, ctx->compute);
        if (e != cudaSuccess) {
            cudaFree(p);
            return cuda_fail(err, "cudaMemsetAsync(p, 0, nbytes, ctx->compute)", __FILE__, __LINE__, e);
        }
    }
    *ptr = p;
    return FF_OK;
}

static void cuda_free(ff_backend *be, void *ptr) {
    if (!ptr) return;
    cuda_ctx *ctx = cuda_ctx_of(be);
    /* void: nothing to report to; cudaFree waits for the queued users of ptr. */
    if (cudaSetDevice(ctx->device) == cudaSuccess) cudaFree(ptr);
}

static ff_status cuda_upload(ff_backend *be, void *dst, const void *host_src, size_t nbytes, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (!nbytes) return FF_OK;
    FF_CU_ENTER(ctx, err);
    /* From pageable memory the runtime stages host_src before returning, so
     * the caller may reuse it at once. */
    FF_CU(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, ctx->compute), err);
    return FF_OK;
}

static ff_status cuda_download(ff_backend *be, void *host_dst, const void *src, size_t nbytes, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    FF_CU_ENTER(ctx, err);
    if (nbytes) FF_CU(cudaMemcpyAsync(host_dst, src, nbytes, cudaMemcpyDeviceToHost, ctx->compute), err);
    FF_CU(cudaStreamSynchronize(ctx->compute), err);
    FF_CU(cudaGetLastError(), err);
    return FF_OK;
}

static ff_status cuda_sync(ff_backend *be, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    FF_CU_ENTER(ctx, err);
    FF_CU(cudaStreamSynchronize(ctx->copy), err);
    FF_CU(cudaStreamSynchronize(ctx->compute), err);
    FF_CU(cudaGetLastError(), err);
    return FF_OK;
}

/* ---- async uploads: pinned host memory, the copy stream, events (ops.h) ---- */

static ff_status cuda_host_alloc(ff_backend *be, size_t nbytes, void **ptr, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    FF_CU_ENTER(ctx, err);
    void *p = NULL;
    /* portable: pinned for every device, should several backends share it */
    cudaError_t e = cudaHostAlloc(&p, nbytes ? nbytes : 1, cudaHostAllocPortable);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return ff_err_set(err, FF_ERR_NOMEM, "%s: cannot allocate %zu bytes of pinned host memory", be->name, nbytes);
    }
    if (e != cudaSuccess)
        return cuda_fail(err, "cudaHostAlloc(&p, nbytes, cudaHostAllocPortable)", __FILE__, __LINE__, e);
    if (nbytes) memset(p, 0, nbytes);
    *ptr = p;
    return FF_OK;
}

static void cuda_host_free(ff_backend *be, void *ptr) {
    if (!ptr) return;
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (cudaSetDevice(ctx->device) == cudaSuccess) cudaFreeHost(ptr);
    cudaGetLastError();
}

static ff_status cuda_upload_async(ff_backend *be, void *dst, const void *host_src, size_t nbytes, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    FF_CU_ENTER(ctx, err);
    FF_CU(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, ctx->copy), err);
    return FF_OK;
}

static ff_status cuda_event_create(ff_backend *be, void **ev, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    FF_CU_ENTER(ctx, err);
    cudaEvent_t e = NULL;
    FF_CU(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), err);
    *ev = (void *)e;
    return FF_OK;
}

static void cuda_event_free(ff_backend *be, void *ev) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    if (cudaSetDevice(ctx->device) == cudaSuccess) cudaEventDestroy((cudaEvent_t)ev);
    cudaGetLastError();
}

static ff_status cuda_event_record(ff_backend *be, void *ev, int on_copy_stream, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    FF_CU_ENTER(ctx, err);
    FF_CU(cudaEventRecord((cudaEvent_t)ev, on_copy_stream ? ctx->copy : ctx->compute), err);
    return FF_OK;
}

static ff_status cuda_event_wait_compute(ff_backend *be, void *ev, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    FF_CU_ENTER(ctx, err);
    FF_CU(cudaStreamWaitEvent(ctx->compute, (cudaEvent_t)ev, 0), err);
    return FF_OK;
}

static ff_status cuda_event_sync(ff_backend *be, void *ev, ff_err *err) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    FF_CU_ENTER(ctx, err);
    FF_CU(cudaEventSynchronize((cudaEvent_t)ev), err);
    FF_CU(cudaGetLastError(), err);
    return FF_OK;
}

/* Releases whatever part of ctx was built (constructor failures included). */
static void ctx_release(cuda_ctx *ctx) {
    if (!ctx) return;
    if (cudaSetDevice(ctx->device) == cudaSuccess) {
        if (ctx->copy) cudaStreamSynchronize(ctx->copy);
        if (ctx->compute) cudaStreamSynchronize(ctx->compute);
        cuda_cudnn_release(ctx);
        cuda_plan_cache_free(ctx->lt_plans); /* before its handle */
        if (ctx->lt_ws) cudaFree(ctx->lt_ws);
        if (ctx->scratch2) cudaFree(ctx->scratch2);
        if (ctx->cublaslt) cublasLtDestroy(ctx->cublaslt);
        if (ctx->cublas) cublasDestroy(ctx->cublas);
        if (ctx->scratch) cudaFree(ctx->scratch);
        if (ctx->d_flag) cudaFree(ctx->d_flag);
        if (ctx->h_flag) cudaFreeHost(ctx->h_flag);
        if (ctx->copy) cudaStreamDestroy(ctx->copy);
        if (ctx->compute) cudaStreamDestroy(ctx->compute);
    }
    cudaGetLastError();
    free(ctx);
}

static void cuda_destroy(ff_backend *be) {
    ctx_release(cuda_ctx_of(be));
    be->ctx = NULL;
}

static void cuda_info(ff_backend *be, char *buf, size_t n) {
    cuda_ctx *ctx = cuda_ctx_of(be);
    char dnn[FF_ERR_MSG_MAX + 64];
    cuda_cudnn_describe(ctx, dnn, sizeof dnn);
    snprintf(buf, n, "sm_%d%d, %d SMs; %s; conv3d: %lld by cuDNN, %lld by im2col fallback; flash attention: %s",
             ctx->cc_major, ctx->cc_minor, ctx->sm_count, dnn, (long long)ctx->conv_cudnn_calls,
             (long long)ctx->conv_fallback_calls, cuda_flash_supported(ctx) ? "yes" : "no (needs sm_80)");
}

static const ff_backend_vtable cuda_vtable = {
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .sync = cuda_sync,
    .destroy = cuda_destroy,
    .info = cuda_info,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .upload_async = cuda_upload_async,
    .event_create = cuda_event_create,
    .event_free = cuda_event_free,
    .event_record = cuda_event_record,
    .event_wait_compute = cuda_event_wait_compute,
    .event_sync = cuda_event_sync,
    .linear = cuda_linear,
    .matmul = cuda_matmul,
    .conv3d = cuda_conv3d,
    .group_norm = cuda_group_norm,
    .layer_norm = cuda_layer_norm,
    .rms_norm = cuda_rms_norm,
    .l2norm_channels = cuda_l2norm_channels,
    .unary = cuda_unary,
    .softmax = cuda_softmax,
    .binary = cuda_binary,
    .scale = cuda_scale,
    .clamp = cuda_clamp,
    .modulate = cuda_modulate,
    .sdpa = cuda_sdpa,
    .rope = cuda_rope,
    .upsample_nearest2d = cuda_upsample_nearest2d,
    .pad_replicate3d = cuda_pad_replicate3d,
    .concat = cuda_concat,
    .slice = cuda_slice,
    .permute = cuda_permute,
    .copy = cuda_copy,
    .embedding = cuda_embedding,
    .linear_act = cuda_linear_act,
    .norm_modulate = cuda_norm_modulate,
    .qk_norm_rope = cuda_qk_norm_rope,
    .gate_residual = cuda_gate_residual,
    .attention = cuda_attention,
};

/* ---- constructor ---------------------------------------------------------- */

/* Builds every resource of ctx on its device; ctx_release undoes a partial one. */
static ff_status ctx_build(cuda_ctx *ctx, ff_err *err) {
    FF_CU(cudaSetDevice(ctx->device), err);
    FF_CU(cudaStreamCreateWithFlags(&ctx->compute, cudaStreamNonBlocking), err);
    FF_CU(cudaStreamCreateWithFlags(&ctx->copy, cudaStreamNonBlocking), err);
    FF_CUBLAS(cublasCreate(&ctx->cublas), err);
    FF_CUBLAS(cublasSetStream(ctx->cublas, ctx->compute), err);
    /* Plain FP32 GEMMs (no TF32): the CUDA results must match the CPU
     * backend to 1e-5 relative L2. */
    FF_CUBLAS(cublasSetMathMode(ctx->cublas, CUBLAS_DEFAULT_MATH), err);
    FF_CUBLAS(cublasLtCreate(&ctx->cublaslt), err);
    FF_CU(cudaMalloc((void **)&ctx->d_flag, sizeof *ctx->d_flag), err);
    FF_CU(cudaMallocHost((void **)&ctx->h_flag, sizeof *ctx->h_flag), err);
    FF_CU(cudaDeviceGetAttribute(&ctx->sm_count, cudaDevAttrMultiProcessorCount, ctx->device), err);
    int optin = 0;
    FF_CU(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, ctx->device), err);
    ctx->smem_optin = (size_t)optin;
    FF_CU(cudaDeviceGetAttribute(&ctx->cc_major, cudaDevAttrComputeCapabilityMajor, ctx->device), err);
    FF_CU(cudaDeviceGetAttribute(&ctx->cc_minor, cudaDevAttrComputeCapabilityMinor, ctx->device), err);
    return FF_OK;
}

ff_status ff_cuda_backend_init(ff_backend *be, int device, ff_err *err) {
    if (device < 0) return ff_err_set(err, FF_ERR_ARG, "cuda:%d: a device ordinal is >= 0", device);
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return ff_err_set(err, FF_ERR_DEVICE, "no CUDA device: cudaGetDeviceCount: %s", cudaGetErrorString(e));
    }
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    if (count == 0)
        return ff_err_set(err, FF_ERR_DEVICE, "no CUDA device: cudaGetDeviceCount found 0 devices%s%s",
                          visible ? " with CUDA_VISIBLE_DEVICES=" : "", visible ? visible : "");
    if (device >= count) {
        if (visible)
            return ff_err_set(err, FF_ERR_DEVICE,
                              "no CUDA device: cuda:%d requested, %d visible (CUDA_VISIBLE_DEVICES=%s)", device, count,
                              visible);
        return ff_err_set(err, FF_ERR_DEVICE, "no CUDA device: cuda:%d requested, %d visible", device, count);
    }

    cuda_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return ff_err_set(err, FF_ERR_NOMEM, "cuda:%d: cannot allocate the backend context", device);
    ctx->device = device;
    ff_status st = ctx_build(ctx, err);
    if (st) {
        ff_err_wrap(err, "cuda:%d: backend init", device);
        ctx_release(ctx);
        return st;
    }
    be->kind = FF_BACKEND_CUDA;
    snprintf(be->name, sizeof be->name, "cuda:%d", device);
    be->loc = FF_LOC_DEVICE;
    be->vt = &cuda_vtable;
    be->ctx = ctx;
    return FF_OK;
}

/* ---- device listing --------------------------------------------------------- */

static void append(char *buf, size_t n, size_t *at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t n, size_t *at, const char *fmt, ...) {
    if (!buf || *at >= n) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *at, n - *at, fmt, ap);
    va_end(ap);
    if (k > 0) *at += (size_t)k < n - *at ? (size_t)k : n - *at;
}

int ff_cuda_describe_devices(char *buf, size_t n) {
    size_t at = 0;
    if (buf && n) buf[0] = '\0';
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        append(buf, n, &at, "no CUDA device: cudaGetDeviceCount: %s", cudaGetErrorString(e));
        return 0;
    }
    if (count == 0) {
        append(buf, n, &at, "no CUDA device: cudaGetDeviceCount found 0 devices");
        return 0;
    }
    for (int i = 0; i < count; i++) {
        struct cudaDeviceProp p;
        e = cudaGetDeviceProperties(&p, i);
        if (e != cudaSuccess) {
            cudaGetLastError();
            append(buf, n, &at, "%s%d: (cudaGetDeviceProperties: %s)", i ? "\n" : "", i, cudaGetErrorString(e));
            continue;
        }
        append(buf, n, &at, "%s%d: %s, sm_%d%d, %.1f GiB", i ? "\n" : "", i, p.name, p.major, p.minor,
               (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    }
    return count;
}
