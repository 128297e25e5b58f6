/* cpu_backend: the CPU backend's constructor, its vtable and its memory.
 *
 * "Device" memory of the CPU backend is host memory (FF_LOC_HOST), so upload
 * and download are memcpy and sync has nothing to wait for. The ops live in
 * the other cpu_*.c files; this file only wires them into the table.
 * Not here: memory budgets (offload/ wraps this backend in a budgeted pool). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_dnnl.h"
#include "kernels/cpu/cpu_internal.h"

int cpu_threads(const cpu_ctx *ctx) { return ctx->threads > 0 ? ctx->threads : omp_get_max_threads(); }

static ff_status cpu_alloc(ff_backend *be, size_t nbytes, void **ptr, ff_err *err) {
    /* calloc: large blocks come from mmap and are zero without a pass over them */
    void *p = calloc(nbytes ? nbytes : 1, 1);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes", nbytes);
    *ptr = p;
    return FF_OK;
}

static void cpu_free(ff_backend *be, void *ptr) { free(ptr); }

static ff_status cpu_upload(ff_backend *be, void *dst, const void *host_src, size_t nbytes, ff_err *err) {
    if (nbytes) memmove(dst, host_src, nbytes);
    return FF_OK;
}

static ff_status cpu_download(ff_backend *be, void *host_dst, const void *src, size_t nbytes, ff_err *err) {
    if (nbytes) memmove(host_dst, src, nbytes);
    return FF_OK;
}

static ff_status cpu_sync(ff_backend *be, ff_err *err) { return FF_OK; }

static void cpu_destroy(ff_backend *be) {
#ifdef FF_HAVE_DNNL
    cpu_dnnl_free(((cpu_ctx *)be->ctx)->dnnl);
#endif
    free(be->ctx);
    be->ctx = NULL;
}

static const ff_backend_vtable cpu_vtable = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .sync = cpu_sync,
    .destroy = cpu_destroy,
    .linear = cpu_linear,
    .matmul = cpu_matmul,
    .conv3d = cpu_conv3d,
    .conv3d_frames = cpu_conv3d_frames,
    .group_norm = cpu_group_norm,
    .layer_norm = cpu_layer_norm,
    .rms_norm = cpu_rms_norm,
    .l2norm_channels = cpu_l2norm_channels,
    .unary = cpu_unary,
    .softmax = cpu_softmax,
    .binary = cpu_binary,
    .scale = cpu_scale,
    .clamp = cpu_clamp,
    .modulate = cpu_modulate,
    .sdpa = cpu_sdpa_prec, /* cpu_sdpa, or the BF16 arithmetic in the BF16 precisions (cpu_fused.c) */
    .rope = cpu_rope,
    .upsample_nearest2d = cpu_upsample_nearest2d,
    .pad_replicate3d = cpu_pad_replicate3d,
    .concat = cpu_concat,
    .slice = cpu_slice,
    .permute = cpu_permute,
    .copy = cpu_copy,
    .embedding = cpu_embedding,
    .linear_act = cpu_linear_act,
    .norm_modulate = cpu_norm_modulate,
    .qk_norm_rope = cpu_qk_norm_rope,
    .gate_residual = cpu_gate_residual,
    .attention = cpu_attention,
};

ff_status ff_cpu_backend_init(ff_backend *be, int threads, ff_err *err) {
    if (threads < 0) return ff_err_set(err, FF_ERR_ARG, "cpu backend: %d threads (want >= 0; 0 = default)", threads);
    cpu_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return ff_err_set(err, FF_ERR_NOMEM, "cpu backend: cannot allocate its context");
    ctx->threads = threads;
    ctx->ukr = cpu_gemm_pick_ukernel();
    ctx->vec = cpu_vec_pick();
#ifdef FF_HAVE_DNNL
    ff_status st = cpu_dnnl_create(&ctx->dnnl, err);
    if (st) {
        free(ctx);
        return st;
    }
#endif
    be->kind = FF_BACKEND_CPU;
    snprintf(be->name, sizeof be->name, "cpu");
    be->loc = FF_LOC_HOST;
    be->vt = &cpu_vtable;
    be->ctx = ctx;
    return FF_OK;
}
