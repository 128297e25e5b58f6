/* kernels/backend_impl.h: what a backend implements (internal to kernels/).
 *
 * kernels/ops.c validates every call (dtypes, shapes, aliasing) and then
 * calls these functions, so a backend may assume well-formed arguments:
 * contiguous tensors in its own memory, out shaped exactly as ops.h states.
 * A backend returns FF_OK or an error (allocation, CUDA failure). A NULL
 * entry means "not implemented on this backend" and ops.c reports
 * FF_ERR_UNSUPPORTED naming the op and backend. */
#ifndef FF_BACKEND_IMPL_H
#define FF_BACKEND_IMPL_H

#include "kernels/ops.h"

typedef struct ff_backend_vtable {
    /* memory */
    ff_status (*alloc)(ff_backend *be, size_t nbytes, void **ptr, ff_err *err); /* zero-filled */
    void (*free)(ff_backend *be, void *ptr);
    ff_status (*upload)(ff_backend *be, void *dst, const void *host_src, size_t nbytes, ff_err *err);
    ff_status (*download)(ff_backend *be, void *host_dst, const void *src, size_t nbytes, ff_err *err);
    ff_status (*sync)(ff_backend *be, ff_err *err);
    void (*destroy)(ff_backend *be); /* frees be->ctx */
    void (*info)(ff_backend *be, char *buf, size_t n); /* optional: ff_backend_info's line after the name */

    /* async uploads (ops.h). All optional: without host_alloc ops.c uses
     * calloc/free, without upload_async the synchronous upload, and without
     * event_create events are no-ops (right for a backend whose uploads are
     * done when they return). An event is the backend's own handle. */
    ff_status (*host_alloc)(ff_backend *be, size_t nbytes, void **ptr, ff_err *err); /* zero-filled */
    void (*host_free)(ff_backend *be, void *ptr);
    ff_status (*upload_async)(ff_backend *be, void *dst, const void *host_src, size_t nbytes, ff_err *err);
    ff_status (*event_create)(ff_backend *be, void **ev, ff_err *err);
    void (*event_free)(ff_backend *be, void *ev);
    ff_status (*event_record)(ff_backend *be, void *ev, int on_copy_stream, ff_err *err);
    ff_status (*event_wait_compute)(ff_backend *be, void *ev, ff_err *err);
    ff_status (*event_sync)(ff_backend *be, void *ev, ff_err *err);

    /* ops: arguments already validated by ops.c */
    ff_status (*linear)(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_tensor *out,
                        ff_err *err);
    /* batch = product of leading dims of out; b_batched = 0 when b is 2-D. */
    ff_status (*matmul)(ff_backend *be, const ff_tensor *a, const ff_tensor *b, int trans_a, int trans_b, float alpha,
                        int64_t batch, int64_t m, int64_t n, int64_t k, int b_batched, ff_tensor *out, ff_err *err);
    ff_status (*conv3d)(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                        const int stride[3], const int pad[6], ff_tensor *out, ff_err *err);
    /* optional: conv3d over the frame-wise concatenation of xs (ops.c
     * concatenates into scratch and calls conv3d where it is NULL) */
    ff_status (*conv3d_frames)(ff_backend *be, const ff_tensor *const *xs, int n, const ff_tensor *w,
                               const ff_tensor *b, const int stride[3], const int pad[6], ff_tensor *out, ff_err *err);
    ff_status (*group_norm)(ff_backend *be, const ff_tensor *x, int groups, const ff_tensor *gamma,
                            const ff_tensor *beta, float eps, ff_tensor *out, ff_err *err);
    ff_status (*layer_norm)(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, float eps,
                            ff_tensor *out, ff_err *err);
    ff_status (*rms_norm)(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, ff_tensor *out,
                          ff_err *err);
    ff_status (*l2norm_channels)(ff_backend *be, const ff_tensor *x, const ff_tensor *gamma, const ff_tensor *beta,
                                 float scale, float eps, ff_tensor *out, ff_err *err);
    ff_status (*unary)(ff_backend *be, ff_unary_kind kind, const ff_tensor *x, ff_tensor *out, ff_err *err);
    ff_status (*softmax)(ff_backend *be, const ff_tensor *x, ff_tensor *out, ff_err *err);
    /* a and b already expanded to out's ndim: a_shape/b_shape hold 1 where
     * they broadcast. */
    ff_status (*binary)(ff_backend *be, ff_binary_kind kind, const ff_tensor *a, const int64_t *a_shape,
                        const ff_tensor *b, const int64_t *b_shape, ff_tensor *out, ff_err *err);
    ff_status (*scale)(ff_backend *be, const ff_tensor *x, float alpha, float beta, ff_tensor *out, ff_err *err);
    ff_status (*clamp)(ff_backend *be, const ff_tensor *x, float lo, float hi, ff_tensor *out, ff_err *err);
    /* shift/scale given as 3-D (B|1, L|1, D). */
    ff_status (*modulate)(ff_backend *be, const ff_tensor *x, const ff_tensor *shift, const ff_tensor *scale,
                          ff_tensor *out, ff_err *err);
    /* bias already expanded to 4 dims (bias_shape entries 1 where broadcast). */
    ff_status (*sdpa)(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                      const ff_tensor *bias, const int64_t *bias_shape, float scale, ff_tensor *out, ff_err *err);
    ff_status (*rope)(ff_backend *be, const ff_tensor *x, const ff_tensor *cos, const ff_tensor *sin, ff_tensor *out,
                      ff_err *err);
    ff_status (*upsample_nearest2d)(ff_backend *be, const ff_tensor *x, int fh, int fw, ff_tensor *out, ff_err *err);
    ff_status (*pad_replicate3d)(ff_backend *be, const ff_tensor *x, const int pad[6], ff_tensor *out, ff_err *err);
    ff_status (*concat)(ff_backend *be, const ff_tensor *const *xs, int n, int axis, ff_tensor *out, ff_err *err);
    ff_status (*slice)(ff_backend *be, const ff_tensor *x, int axis, int64_t start, ff_tensor *out, ff_err *err);
    ff_status (*permute)(ff_backend *be, const ff_tensor *x, const int *perm, ff_tensor *out, ff_err *err);
    ff_status (*copy)(ff_backend *be, const ff_tensor *src, ff_tensor *dst, ff_err *err);
    ff_status (*embedding)(ff_backend *be, const ff_tensor *ids, const ff_tensor *table, ff_tensor *out,
                           ff_err *err);

    /* fused ops and the BF16 activation path (ops.h, end). shift/scale and
     * gate already expanded to 3-D (B|1, L|1, D), or NULL; bias of
     * attention expanded to 4 dims as sdpa's. */
    ff_status (*linear_act)(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                            ff_act_kind act, ff_tensor *out, ff_err *err);
    ff_status (*norm_modulate)(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                               const ff_tensor *shift, const ff_tensor *scale, float eps, ff_tensor *out,
                               ff_err *err);
    ff_status (*qk_norm_rope)(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, const ff_tensor *cos,
                              const ff_tensor *sin, ff_heads_layout layout, ff_tensor *out, ff_err *err);
    ff_status (*gate_residual)(ff_backend *be, const ff_tensor *h, const ff_tensor *x, const ff_tensor *gate,
                               ff_tensor *out, ff_err *err);
    ff_status (*attention)(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                           const ff_tensor *bias, const int64_t *bias_shape, float scale, ff_heads_layout layout,
                           ff_tensor *out, ff_err *err);
} ff_backend_vtable;

struct ff_backend {
    ff_backend_kind kind;
    char name[32];
    ff_loc loc; /* where this backend's tensors live */
    const ff_backend_vtable *vt;
    void *ctx;  /* backend-private state, owned by the backend */
    const ff_be_meter *meter; /* accounting hook of ff_be_alloc/ff_be_free, or NULL (ops.h) */
    ff_precision prec; /* GEMM precision, read by linear/matmul/conv3d at each call (ops.h) */
};

/* The precision rule of ops.h, shared by the backends: do this call's GEMM
 * inputs get rounded to BF16? linear and matmul in FF_PREC_BF16 and
 * FF_PREC_BF16_ALL; conv3d only in FF_PREC_BF16_ALL. */
static inline int ff_be_bf16_gemm(const ff_backend *be) { return be->prec != FF_PREC_F32; }
static inline int ff_be_bf16_conv(const ff_backend *be) { return be->prec == FF_PREC_BF16_ALL; }
/* Does attention with these operands take the BF16 (flash) arithmetic of
 * ops.h? BF16 operands always; F32 ones in the BF16 precisions when both
 * head dims fit the flash tiles (the Wan VAE's 384-channel head stays F32). */
static inline int ff_be_bf16_attn(const ff_backend *be, ff_dtype qkv, int64_t d, int64_t dv) {
    if (qkv == FF_BF16) return 1;
    return be->prec != FF_PREC_F32 && d <= FF_ATTN_BF16_MAX_HEAD_DIM && dv <= FF_ATTN_BF16_MAX_HEAD_DIM;
}

/* Constructors of the two backends (kernels/cpu, kernels/cuda). */
ff_status ff_cpu_backend_init(ff_backend *be, int threads, ff_err *err);
ff_status ff_cuda_backend_init(ff_backend *be, int device, ff_err *err);
int ff_cuda_describe_devices(char *buf, size_t n);

#endif
