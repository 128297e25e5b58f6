/* kernels/ops.h: the one op interface every model is written against.
 *
 * A backend (CPU: OpenBLAS + OpenMP; CUDA: cuBLAS, cuDNN, own kernels) is an
 * opaque handle with a table of functions (kernels/backend_impl.h). Models
 * allocate their activations with ff_be_alloc and call ff_op_*; they never see
 * CUDA or OpenBLAS. Every ff_op_* validates dtypes and shapes here, once, for
 * all backends, and returns FF_ERR_SHAPE naming the op and the shapes.
 *
 * Conventions
 *  - Tensors are contiguous row-major, on the backend (ff_be_alloc gives
 *    FF_LOC_HOST memory on the CPU backend and FF_LOC_DEVICE on CUDA).
 *  - `out` is allocated by the caller with the exact output shape; ops never
 *    allocate outputs. Unless stated, out may not alias an input.
 *    Elementwise ops (unary, binary, scale, clamp, modulate, norms, softmax,
 *    rope) allow out == the first input (in place).
 *  - Activations are F32 (except in the fused ops at the end). Weights of linear/conv may be F32 or BF16 (BF16
 *    weights are widened to F32 in the kernel; accumulation is F32).
 *  - Precision (ff_backend_set_precision): FF_PREC_F32, the default, computes
 *    every op in F32 as above. FF_PREC_BF16 rounds both GEMM inputs of
 *    linear and matmul to BF16 (round-to-nearest-even; activations and F32
 *    weights alike, BF16 weights as stored), multiplies them exactly,
 *    accumulates in F32 and writes F32 (bias added in F32): cuBLAS BF16
 *    tensor-core GEMMs on CUDA, the same rounding emulated on the CPU (so
 *    CPU and CUDA agree to F32 accumulation-order noise). Which ops keep F32
 *    activations there, for accuracy: conv3d/conv2d (the VAE, run in F32 as
 *    diffusers recommends for Wan: its ~30 stacked causal convs turn BF16
 *    inputs into rel_l2 1.3-2.1e-2 on the golden decodes, against 2-3e-3
 *    with F32 convs), norms, softmax, elementwise and layout ops.
 *    FF_PREC_BF16_ALL also runs conv3d/conv2d in BF16 (im2col columns and
 *    weight rounded): faster VAE, outside the 1e-2 class on VAE decodes.
 *    Accuracy class of FF_PREC_BF16: rel_l2 ~ 2e-3 per GEMM against F32,
 *    <= 1e-2 on every golden component case (`framefarm golden --precision
 *    bf16`: tolerance max(case, 1e-2)); end-to-end pipelines compound it.
 *    Attention in BF16 precision (sdpa and ff_op_attention, head dims <=
 *    FF_ATTN_BF16_MAX_HEAD_DIM; larger heads, the Wan VAE's 384, stay F32):
 *    flash attention's arithmetic, on BF16 tensor cores on CUDA and emulated
 *    on the CPU: q, k, v rounded to BF16, scores scale * q.k + bias and the
 *    softmax in F32, the probabilities rounded to BF16 for the P V product,
 *    F32 accumulation, normalised in F32 (rel_l2 ~ 3e-3 against F32).
 *    On CUDA, conv3d/conv2d in FF_PREC_BF16 run on TF32 tensor cores through
 *    cuDNN (as torch runs F32 convolutions by default, allow_tf32; about
 *    1e-3 per conv), while the CPU keeps them F32: both well inside the
 *    class. FF_PREC_F32 never uses TF32.
 *  - The BF16 activation path (section "fused ops" at the end): a few ops
 *    also take and give BF16 tensors, so that a model in BF16 precision can
 *    keep GEMM and attention operands at half the bytes, and fuse the
 *    elementwise steps torch eager runs one by one.
 *  - Weight layouts are PyTorch's: Linear (N, K), Conv3d (O, C, kt, kh, kw).
 *  - Ops are ordered on the backend's compute stream; results are visible to
 *    the host after ff_be_download (which synchronises). Async uploads run
 *    on a second, copy stream and are ordered with the compute stream only
 *    through events (see "async uploads" below).
 *
 * Not here: memory budgets and pools (offload/), model logic (models/). */
#ifndef FF_OPS_H
#define FF_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_tensor.h"

typedef struct ff_backend ff_backend;

typedef enum { FF_BACKEND_CPU = 0, FF_BACKEND_CUDA = 1 } ff_backend_kind;

/* ---- backends -------------------------------------------------------- */

/* threads: CPU worker threads (0 = OpenMP default). */
ff_status ff_backend_cpu_create(int threads, ff_backend **out, ff_err *err);
/* device: CUDA ordinal after CUDA_VISIBLE_DEVICES. With no usable device,
 * returns FF_ERR_DEVICE with "no CUDA device: <reason>"; in a build without
 * CUDA, FF_ERR_UNSUPPORTED "built without CUDA". */
ff_status ff_backend_cuda_create(int device, ff_backend **out, ff_err *err);
/* Parses "cpu" / "cuda" / "cuda:N" and creates the backend. */
ff_status ff_backend_create_by_name(const char *name, int cpu_threads, ff_backend **out, ff_err *err);
void ff_backend_free(ff_backend *be);

const char *ff_backend_name(const ff_backend *be); /* "cpu", "cuda:0" */
/* One line on the backend's state, for logs, benchmarks and tests: its
 * name and, on CUDA, the device, whether cuDNN is loaded (loading it on
 * first use) and how many conv3d calls ran on cuDNN or fell back to
 * im2col ("cuda:0: sm_90, 132 SMs; cuDNN 91900 (libcudnn.so.9); conv3d:
 * 12 by cuDNN, 0 by im2col fallback; flash attention: yes"). */
const char *ff_backend_info(ff_backend *be, char *buf, size_t n);
ff_backend_kind ff_backend_kind_of(const ff_backend *be);
/* Was this binary built with the CUDA backend? */
int ff_backend_cuda_compiled(void);

/* GEMM precision of linear, matmul and conv (see Conventions above). Takes
 * effect for the ops called after it (queued work keeps the precision it
 * was called with); FF_ERR_ARG for an unknown value. */
typedef enum {
    FF_PREC_F32 = 0,      /* every op in F32 (the default) */
    FF_PREC_BF16 = 1,     /* linear and matmul on BF16 inputs, F32 accumulation; conv F32 */
    FF_PREC_BF16_ALL = 2, /* FF_PREC_BF16 and conv3d/conv2d on BF16 inputs too */
    FF_PREC_COUNT
} ff_precision;
ff_status ff_backend_set_precision(ff_backend *be, ff_precision prec, ff_err *err);
ff_precision ff_backend_precision(const ff_backend *be); /* FF_PREC_F32 for NULL */
const char *ff_precision_name(ff_precision prec);        /* "f32", "bf16", "bf16-all" */
/* "f32" / "fp32" / "bf16" / "bf16-all" -> *out; 0 on success, -1 otherwise. */
int ff_precision_parse(const char *name, ff_precision *out);

/* One line per CUDA device ("0: NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB") into
 * buf, or "no CUDA device: <reason>"; returns the number of devices. */
int ff_backend_cuda_describe(char *buf, size_t n);

/* ---- memory on the backend ------------------------------------------ */

/* Allocates t on the backend (zero-filled). Freed with ff_be_free. */
ff_status ff_be_alloc(ff_backend *be, ff_tensor *t, ff_dtype dt, int ndim, const int64_t *shape, ff_err *err);
void ff_be_free(ff_backend *be, ff_tensor *t);
/* ff_be_free that says why it cannot: a tensor allocated by another backend
 * (t->owner, set by ff_be_alloc) is FF_ERR_ARG naming both backends and is
 * left untouched (ff_be_free asserts this never happens). Every op and
 * transfer refuses such a tensor as its operand in the same words: several
 * backends (the text encoder on a host backend beside CUDA, several GPUs)
 * never mix their memory. */
ff_status ff_be_release(ff_backend *be, ff_tensor *t, ff_err *err);
/* Host -> backend and backend -> host copies of equal shape and dtype. */
ff_status ff_be_upload(ff_backend *be, ff_tensor *dst, const ff_tensor *host_src, ff_err *err);
ff_status ff_be_download(ff_backend *be, ff_tensor *host_dst, const ff_tensor *src, ff_err *err);
/* Waits for all queued work; reports a failed kernel. */
ff_status ff_be_sync(ff_backend *be, ff_err *err);

/* ---- async uploads: pinned host memory, a copy stream, events --------
 *
 * For overlapping weight uploads with compute (offload/stream.h). Every
 * backend has a COMPUTE stream (every op, ff_be_alloc's zero-fill,
 * ff_be_upload, ff_be_download) and a COPY stream (ff_be_upload_async only).
 * Work on one stream runs in the order it was queued; the two streams are
 * ordered with each other only through events:
 *
 *  - ff_be_upload_async queues host -> backend on the copy stream. It does
 *    NOT wait for compute work queued before it: if queued kernels still
 *    read dst (a ring buffer being reused), first record an event on the
 *    compute stream after them and ff_be_event_sync it (the host waits).
 *    Likewise a buffer fresh from ff_be_alloc still has its zero-fill queued
 *    on the compute stream: ff_be_sync once before the first async upload
 *    into it.
 *  - Compute work that reads dst must be queued after
 *    ff_be_event_record_copy(ev) (recorded after the upload) and
 *    ff_be_wait_event_compute(ev): the compute stream then waits for the
 *    copy on the device, without blocking the host.
 *  - host_src must stay allocated and unchanged until the copy is done:
 *    record an event on the copy stream after it and ff_be_event_sync it
 *    before reusing or freeing host_src. Use memory from ff_be_host_alloc
 *    (pinned): from pageable memory CUDA may stage the copy and block the
 *    calling thread, so nothing overlaps.
 *  - An event is a marker of the work queued on a stream when it was
 *    recorded; recording again moves it. A wait or sync on an event that
 *    was never recorded returns at once, so the host must order record
 *    before wait (a mutex / condition variable when they are on different
 *    threads). An event belongs to the backend that created it.
 *  - The copy stream and the compute stream may be driven from different
 *    threads (a copy thread: ff_be_upload_async, ff_be_event_record_copy,
 *    ff_be_event_sync; the compute thread: ops, ff_be_wait_event_compute,
 *    ff_be_event_record_compute); one thread per stream.
 *
 * CPU backend: host memory is plain malloc, ff_be_upload_async is a
 * synchronous memcpy (done when it returns) and the event calls are no-ops,
 * so the same calling code is correct there (only the host's own ordering
 * matters). */

/* A host tensor (FF_LOC_HOST, zero-filled) in page-locked memory
 * (cudaHostAlloc on CUDA, calloc on CPU). Not counted by the backend's meter
 * (it is host memory). Freed with ff_be_host_free, by the same backend. */
ff_status ff_be_host_alloc(ff_backend *be, ff_tensor *t, ff_dtype dt, int ndim, const int64_t *shape, ff_err *err);
void ff_be_host_free(ff_backend *be, ff_tensor *t);
/* Host -> backend copy (equal dtype and shape) queued on the copy stream. */
ff_status ff_be_upload_async(ff_backend *be, ff_tensor *dst, const ff_tensor *host_src, ff_err *err);

typedef struct ff_be_event ff_be_event;
ff_status ff_be_event_create(ff_backend *be, ff_be_event **out, ff_err *err);
void ff_be_event_free(ff_backend *be, ff_be_event *ev); /* NULL is a no-op; ev must not be waited on */
/* Marks the work queued so far on the copy / compute stream. */
ff_status ff_be_event_record_copy(ff_backend *be, ff_be_event *ev, ff_err *err);
ff_status ff_be_event_record_compute(ff_backend *be, ff_be_event *ev, ff_err *err);
/* Compute work queued after this call waits for ev's work (device-side). */
ff_status ff_be_wait_event_compute(ff_backend *be, ff_be_event *ev, ff_err *err);
/* The host waits until ev's work is done; reports a failed copy or kernel. */
ff_status ff_be_event_sync(ff_backend *be, ff_be_event *ev, ff_err *err);

/* An accounting hook on ff_be_alloc / ff_be_free (offload/pool.h installs
 * one: budgets, current and peak bytes). Before the backend allocates,
 * reserve(nbytes) may refuse (FF_ERR_BUDGET with its message, and the
 * backend is not called); after, commit(ptr, nbytes) records the block
 * (ptr NULL: the backend failed, give the reservation back); ff_be_free
 * calls release(ptr) before freeing. Every byte ff_be_alloc hands out
 * passes through it; backend-internal scratch (cuBLAS workspace, im2col)
 * does not. The callbacks must be thread-safe if allocations happen on
 * several threads. NULL removes the hook; the hook is borrowed. */
typedef struct {
    ff_status (*reserve)(void *user, size_t nbytes, ff_err *err);
    void (*commit)(void *user, void *ptr, size_t nbytes);
    void (*release)(void *user, void *ptr);
    void *user;
} ff_be_meter;
void ff_backend_set_meter(ff_backend *be, const ff_be_meter *meter);
const ff_be_meter *ff_backend_meter(const ff_backend *be); /* NULL when none */

/* ---- ops ------------------------------------------------------------- */

/* out (..., N) = x (..., K) @ w (N, K)^T + b (N) ; b may be NULL. */
ff_status ff_op_linear(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_tensor *out,
                       ff_err *err);

/* out (..., M, N) = alpha * op(a) @ op(b), op = transpose of the last two
 * dims when trans_* is set. a is (..., M, K) (or (..., K, M)); b has the same
 * leading dims as a, or is 2-D and shared by every batch. */
ff_status ff_op_matmul(ff_backend *be, const ff_tensor *a, const ff_tensor *b, int trans_a, int trans_b, float alpha,
                       ff_tensor *out, ff_err *err);

/* 3-D convolution. x (B, C, F, H, W), w (O, C, kt, kh, kw), b (O) or NULL,
 * stride {st, sh, sw}, pad {t_front, t_back, h_top, h_bottom, w_left,
 * w_right} of zeros (causal time padding: t_front = kt-1, t_back = 0).
 * out (B, O, F', H', W') with F' = (F + t_front + t_back - kt) / st + 1 etc. */
ff_status ff_op_conv3d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                       const int stride[3], const int pad[6], ff_tensor *out, ff_err *err);

/* 2-D convolution: x (N, C, H, W), w (O, C, kh, kw), pad {top, bottom, left,
 * right}; a conv3d with kt = 1 underneath. */
ff_status ff_op_conv2d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                       const int stride[2], const int pad[4], ff_tensor *out, ff_err *err);

/* conv3d over the frames of n tensors taken in order along dim 2: exactly
 * ff_op_conv3d(cat(xs, dim=2), ...), without the concatenated copy where
 * the backend reads the pieces in place (the CPU backend; a backend without
 * it gets the copy in a scratch tensor from ff_be_alloc, freed before
 * return). A causal conv with its cached frames in front (Wan's VAE) thus
 * never holds cache + chunk twice. xs[i] (B, C, F_i, H, W), equal but for
 * F_i, 1 <= n <= 8; w, b, stride, pad, out as ff_op_conv3d with F = sum F_i. */
ff_status ff_op_conv3d_frames(ff_backend *be, const ff_tensor *const *xs, int n, const ff_tensor *w,
                              const ff_tensor *b, const int stride[3], const int pad[6], ff_tensor *out, ff_err *err);

/* GroupNorm over x (B, C, *): mean/var per (batch, group) over C/groups
 * channels and all trailing positions; gamma/beta (C) or NULL. */
ff_status ff_op_group_norm(ff_backend *be, const ff_tensor *x, int groups, const ff_tensor *gamma,
                           const ff_tensor *beta, float eps, ff_tensor *out, ff_err *err);

/* LayerNorm over the last dim D; w, b (D) or NULL (no affine). */
ff_status ff_op_layer_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, float eps,
                           ff_tensor *out, ff_err *err);

/* RMSNorm over the last dim: out = x * rsqrt(mean(x^2) + eps) * w; w (D) or NULL. */
ff_status ff_op_rms_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, ff_tensor *out,
                         ff_err *err);

/* Channel L2 norm (Wan VAE's RMS_norm): x (B, C, *);
 * out = x / max(||x[b, :, s]||_2, eps) * scale * gamma[c] + beta[c];
 * gamma, beta (C) or NULL. */
ff_status ff_op_l2norm_channels(ff_backend *be, const ff_tensor *x, const ff_tensor *gamma, const ff_tensor *beta,
                                float scale, float eps, ff_tensor *out, ff_err *err);

typedef enum {
    FF_UNARY_SILU = 0,   /* x * sigmoid(x) */
    FF_UNARY_GELU_TANH,  /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    FF_UNARY_GELU_ERF,   /* 0.5 x (1 + erf(x / sqrt(2))) */
    FF_UNARY_RELU,
    FF_UNARY_EXP,
    FF_UNARY_QUICK_GELU, /* x * sigmoid(1.702 x) (transformers' quick_gelu, CLIP) */
    FF_UNARY_COUNT
} ff_unary_kind;
ff_status ff_op_unary(ff_backend *be, ff_unary_kind kind, const ff_tensor *x, ff_tensor *out, ff_err *err);

/* Softmax over the last dim (max-subtracted, F32). */
ff_status ff_op_softmax(ff_backend *be, const ff_tensor *x, ff_tensor *out, ff_err *err);

typedef enum { FF_BIN_ADD = 0, FF_BIN_SUB, FF_BIN_MUL, FF_BIN_DIV, FF_BIN_COUNT } ff_binary_kind;
/* out = a (op) b with NumPy broadcasting (dims aligned from the right; a
 * size-1 dim stretches). out has the broadcast shape; out may alias a (not b). */
ff_status ff_op_binary(ff_backend *be, ff_binary_kind kind, const ff_tensor *a, const ff_tensor *b, ff_tensor *out,
                       ff_err *err);

/* out = alpha * x + beta. */
ff_status ff_op_scale(ff_backend *be, const ff_tensor *x, float alpha, float beta, ff_tensor *out, ff_err *err);

/* out = min(max(x, lo), hi). */
ff_status ff_op_clamp(ff_backend *be, const ff_tensor *x, float lo, float hi, ff_tensor *out, ff_err *err);

/* AdaLN modulation: out = x * (1 + scale) + shift, x (B, L, D); shift and
 * scale broadcast to it ((B|1, L|1, D)). */
ff_status ff_op_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *shift, const ff_tensor *scale,
                         ff_tensor *out, ff_err *err);

/* Scaled dot-product attention, computed in blocks of keys with an online
 * softmax: the (Lq x Lk) score matrix is never materialised.
 * q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv), out (B, H, Lq, Dv);
 * bias (additive, F32) broadcastable to (B, H, Lq, Lk) or NULL;
 * out = softmax(scale * q k^T + bias) v. A row whose every score is -inf
 * gives zeros. */
ff_status ff_op_sdpa(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                     const ff_tensor *bias, float scale, ff_tensor *out, ff_err *err);

/* Rotary embedding on interleaved channel pairs: x (B, L, H, D) with D even,
 * cos/sin (L, D) (each angle repeated for both channels of its pair):
 * out[2i] = x[2i] c - x[2i+1] s ; out[2i+1] = x[2i] s + x[2i+1] c. */
ff_status ff_op_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *cos, const ff_tensor *sin,
                     ff_tensor *out, ff_err *err);

/* Nearest upsampling by integer factors: x (N, C, H, W) -> (N, C, H*fh, W*fw).
 * (torch 'nearest' and 'nearest-exact' agree for integer factors.) */
ff_status ff_op_upsample_nearest2d(ff_backend *be, const ff_tensor *x, int fh, int fw, ff_tensor *out,
                                   ff_err *err);

/* Replicate ("edge") padding of the last three dims: x (N, C, F, H, W) ->
 * out (N, C, F + t_front + t_back, H + h_top + h_bottom, W + w_left +
 * w_right), pad {t_front, t_back, h_top, h_bottom, w_left, w_right} >= 0;
 * every out position copies the nearest x position (torch F.pad(...,
 * mode="replicate"), as HunyuanVideo's causal convs pad before Conv3d). */
ff_status ff_op_pad_replicate3d(ff_backend *be, const ff_tensor *x, const int pad[6], ff_tensor *out, ff_err *err);

/* Concatenation of n tensors along axis (all other dims equal). */
ff_status ff_op_concat(ff_backend *be, const ff_tensor *const *xs, int n, int axis, ff_tensor *out, ff_err *err);

/* out = x[..., start : start + len, ...] along axis (copy). */
ff_status ff_op_slice(ff_backend *be, const ff_tensor *x, int axis, int64_t start, ff_tensor *out, ff_err *err);

/* out = x.permute(perm) made contiguous; out's shape is x's permuted. */
ff_status ff_op_permute(ff_backend *be, const ff_tensor *x, const int *perm, ff_tensor *out, ff_err *err);

/* Copy with dtype conversion between F32, BF16 and F16 (same numel; shapes
 * may differ, as in a reshape). */
ff_status ff_op_copy(ff_backend *be, const ff_tensor *src, ff_tensor *dst, ff_err *err);

/* Row gather: ids (...) I32/I64, table (V, D) -> out (..., D). Out-of-range
 * ids are an FF_ERR_ARG error naming the id. */
ff_status ff_op_embedding(ff_backend *be, const ff_tensor *ids, const ff_tensor *table, ff_tensor *out,
                          ff_err *err);

/* ---- fused ops and the BF16 activation path ---------------------------
 *
 * Ops for a model's BF16-precision forward (diffusers under
 * torch_dtype=torch.bfloat16 keeps GEMM operands and attention in BF16 and
 * norms / modulation in F32: these ops put those boundaries inside one
 * kernel). Where a tensor below may be BF16, the op widens it exactly on
 * load and rounds a BF16 output to nearest even once, from the F32 result;
 * all arithmetic in between is F32, so at FF_PREC_F32 with F32 tensors every
 * op equals the unfused sequence named in its comment up to F32 rounding
 * order. Reference implementations: kernels/cpu/cpu_fused.c. */

/* Head layouts of attention operands: (B, H, L, D) (ff_op_sdpa's) or
 * (B, L, H, D) (a linear's (B, L, H*D) output as is: no permute). */
typedef enum { FF_HEADS_BHLD = 0, FF_HEADS_BLHD = 1, FF_HEADS_COUNT } ff_heads_layout;

/* The largest q/k and v head dims of BF16 attention (flash kernel tiles). */
#define FF_ATTN_BF16_MAX_HEAD_DIM 128

typedef enum { FF_ACT_NONE = 0, FF_ACT_GELU_TANH, FF_ACT_SILU, FF_ACT_COUNT } ff_act_kind;

/* out (..., N) = act(x (..., K) @ w (N, K)^T + b): ff_op_linear then
 * ff_op_unary. x F32 or BF16, out F32 or BF16, w F32 or BF16, b (N) or
 * NULL. The GEMM inputs follow the precision as in ff_op_linear (a BF16 x
 * is used as stored; at FF_PREC_F32 it is widened and the GEMM is F32); the
 * bias and the activation are applied to the F32 accumulator. On CUDA with
 * a BF16 out the bias and GELU run in cuBLASLt's epilogue. */
ff_status ff_op_linear_act(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_act_kind act,
                           ff_tensor *out, ff_err *err);

/* AdaLN in one pass: out = LayerNorm(x; w, b, eps) * (1 + scale) + shift
 * (ff_op_layer_norm then ff_op_modulate). x F32 (B, L, D); w, b (D) or NULL
 * (no affine); shift and scale F32 broadcasting as (B|1, L|1, D), both or
 * neither (plain LayerNorm); out F32 or BF16 (B, L, D), may be x when F32. */
ff_status ff_op_norm_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                              const ff_tensor *shift, const ff_tensor *scale, float eps, ff_tensor *out, ff_err *err);

/* Wan's q / k preparation in one pass: RMSNorm across heads over the whole
 * last dim of x (B, L, H*hd) (w (H*hd) or NULL), then, when cos and sin are
 * given ((L, hd) F32, ff_op_rope's interleaved-pair convention), the rotary
 * embedding of each head, written in `layout`: out (B, L, H, hd) or
 * (B, H, L, hd); hd even. x F32 or BF16, out F32 or BF16; out may not overlap x. */
ff_status ff_op_qk_norm_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, const ff_tensor *cos,
                             const ff_tensor *sin, ff_heads_layout layout, ff_tensor *out, ff_err *err);

/* Gated residual: out = h + x * gate (gate NULL: out = h + x). h F32
 * (B, L, D); x F32 or BF16 (B, L, D); gate F32 broadcasting as
 * (B|1, L|1, D); out F32 (B, L, D), may be h. */
ff_status ff_op_gate_residual(ff_backend *be, const ff_tensor *h, const ff_tensor *x, const ff_tensor *gate,
                              ff_tensor *out, ff_err *err);

/* ff_op_sdpa with a head layout and BF16 operands: q (B, H, Lq, D) or
 * (B, Lq, H, D), k and v likewise with Lk (and Dv), out likewise with Lq
 * and Dv; bias as ff_op_sdpa's, broadcastable to (B, H, Lq, Lk) whatever
 * the layout. q, k, v one dtype, F32 or BF16; out F32 or BF16. BF16
 * arithmetic (see Conventions) when q/k/v are BF16 or the precision is
 * BF16 and the head dims are <= FF_ATTN_BF16_MAX_HEAD_DIM; BF16 operands
 * with larger head dims are refused (FF_ERR_UNSUPPORTED). */
ff_status ff_op_attention(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                          const ff_tensor *bias, float scale, ff_heads_layout layout, ff_tensor *out, ff_err *err);

#endif
