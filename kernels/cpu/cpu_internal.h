/* cpu_internal: what the files of the CPU backend share (internal to kernels/cpu/).
 *
 * The CPU backend is a set of small files, one job each: cpu_backend.c (the
 * vtable and memory), cpu_gemm.c (the GEMM engine behind linear, matmul and
 * conv), cpu_matmul.c, cpu_conv.c, cpu_norm.c, cpu_elementwise.c,
 * cpu_attention.c, cpu_layout.c, cpu_pad.c (replicate padding),
 * cpu_precision.c (the BF16 mode's rounding of GEMM inputs) and cpu_fused.c
 * (the fused ops, the BF16 activation path and BF16-precision attention:
 * the reference of the CUDA kernels). Every op here trusts kernels/ops.c to
 * have validated dtypes, shapes and aliasing; it only reports allocation
 * failures and data-dependent errors (an embedding id out of range).
 *
 * Not here: argument validation (ops.c), anything CUDA. */
#ifndef FF_CPU_INTERNAL_H
#define FF_CPU_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "kernels/backend_impl.h"
#include "kernels/cpu/cpu_vec.h"

/* A GEMM micro-kernel: c (mr x nr, row stride ldc) = alpha * acc, or
 * c += alpha * acc when accumulate, where acc is the packed A micro-panel
 * (kc steps of mr values) times the packed B micro-panel (kc steps of nr). */
typedef void (*cpu_ukernel_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                               int accumulate);

typedef struct {
    cpu_ukernel_fn fn;
    int mr, nr;
    int kc; /* depth of a packed block: keeps a B micro-panel in L1 */
    const char *name;
} cpu_ukernel;

typedef struct cpu_dnnl cpu_dnnl; /* oneDNN state (cpu_dnnl.h); NULL without FF_HAVE_DNNL */

typedef struct {
    int threads;       /* 0 = OpenMP default */
    cpu_ukernel ukr;   /* chosen once at init from the CPU's features */
    cpu_dnnl *dnnl;    /* owned: engine, streams, primitive cache (mutated by const-ctx ops) */
    const cpu_vec *vec; /* vectorised row kernels, chosen once at init (cpu_vec.h) */
} cpu_ctx;

static inline const cpu_ctx *cpu_ctx_of(const ff_backend *be) { return (const cpu_ctx *)be->ctx; }
/* Threads for a parallel region of this backend. */
int cpu_threads(const cpu_ctx *ctx);

/* ---- GEMM (cpu_gemm.c) -------------------------------------------------
 * One operand of C = alpha * op(A) op(B). The element (r, c) of the logical
 * operand (op(A): M x K, op(B): K x N) sits at p[r * rs + c * cs] where
 * (rs, cs) = trans ? (1, ld) : (ld, 1); batch_stride is in elements (0: one
 * matrix shared by every batch). dt is FF_F32 or FF_BF16. */
typedef struct {
    const void *p;
    ff_dtype dt;
    int trans;
    int64_t ld;
    int64_t batch_stride;
} cpu_mat;

typedef struct {
    int64_t batch, m, n, k;
    float alpha;
    cpu_mat a, b;
    float *c; /* C = alpha * op(A) op(B) */
    int64_t ldc, c_batch_stride;
    int accumulate; /* 1: C += alpha * op(A) op(B) (C is read) */
    int builtin;    /* 1: the built-in GEMM even where OpenBLAS is linked (tests, bench) */
} cpu_gemm_args;

ff_status cpu_gemm(const cpu_ctx *ctx, const cpu_gemm_args *g, ff_err *err);
/* 1 when cpu_gemm hands F32 work to OpenBLAS (unless args.builtin). */
int cpu_gemm_has_blas(void);
/* The built-in GEMM in the calling thread alone, for callers that already
 * are one OpenMP work item (attention blocks); it packs into buf, which holds
 * cpu_gemm_serial_floats(ctx, g) floats. Cannot fail. */
size_t cpu_gemm_serial_floats(const cpu_ctx *ctx, const cpu_gemm_args *g);
void cpu_gemm_serial(const cpu_ctx *ctx, const cpu_gemm_args *g, float *buf);
/* The micro-kernels this CPU runs, fastest first (at most max); returns how
 * many. Tests run every one of them. */
int cpu_gemm_ukernels(cpu_ukernel *out, int max);
/* The fastest of them. */
cpu_ukernel cpu_gemm_pick_ukernel(void);

/* ---- BF16 precision (cpu_precision.c; which ops: ff_be_bf16_gemm/conv) --
 * *out (malloc'd, the caller frees it; NULL on failure) = src rounded to BF16. */
ff_status cpu_bf16_copy(const cpu_ctx *ctx, const float *src, int64_t n, uint16_t **out, ff_err *err);
/* x[i] = x[i] rounded to the nearest BF16 value, kept as F32 (im2col columns). */
void cpu_round_bf16(const cpu_ctx *ctx, float *x, int64_t n);

/* ---- ops (one file each, see the top comment) ------------------------- */
ff_status cpu_linear(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_tensor *out,
                     ff_err *err);
ff_status cpu_matmul(ff_backend *be, const ff_tensor *a, const ff_tensor *b, int trans_a, int trans_b, float alpha,
                     int64_t batch, int64_t m, int64_t n, int64_t k, int b_batched, ff_tensor *out, ff_err *err);
ff_status cpu_conv3d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, const int stride[3],
                     const int pad[6], ff_tensor *out, ff_err *err);
ff_status cpu_conv3d_frames(ff_backend *be, const ff_tensor *const *xs, int n, const ff_tensor *w, const ff_tensor *b,
                            const int stride[3], const int pad[6], ff_tensor *out, ff_err *err);
ff_status cpu_group_norm(ff_backend *be, const ff_tensor *x, int groups, const ff_tensor *gamma,
                         const ff_tensor *beta, float eps, ff_tensor *out, ff_err *err);
ff_status cpu_layer_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, float eps,
                         ff_tensor *out, ff_err *err);
ff_status cpu_rms_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, ff_tensor *out,
                       ff_err *err);
ff_status cpu_l2norm_channels(ff_backend *be, const ff_tensor *x, const ff_tensor *gamma, const ff_tensor *beta,
                              float scale, float eps, ff_tensor *out, ff_err *err);
ff_status cpu_softmax(ff_backend *be, const ff_tensor *x, ff_tensor *out, ff_err *err);
ff_status cpu_unary(ff_backend *be, ff_unary_kind kind, const ff_tensor *x, ff_tensor *out, ff_err *err);
ff_status cpu_binary(ff_backend *be, ff_binary_kind kind, const ff_tensor *a, const int64_t *a_shape,
                     const ff_tensor *b, const int64_t *b_shape, ff_tensor *out, ff_err *err);
ff_status cpu_scale(ff_backend *be, const ff_tensor *x, float alpha, float beta, ff_tensor *out, ff_err *err);
ff_status cpu_clamp(ff_backend *be, const ff_tensor *x, float lo, float hi, ff_tensor *out, ff_err *err);
ff_status cpu_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *shift, const ff_tensor *scale,
                       ff_tensor *out, ff_err *err);
ff_status cpu_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *cos, const ff_tensor *sin, ff_tensor *out,
                   ff_err *err);
ff_status cpu_sdpa(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v, const ff_tensor *bias,
                   const int64_t *bias_shape, float scale, ff_tensor *out, ff_err *err);
ff_status cpu_pad_replicate3d(ff_backend *be, const ff_tensor *x, const int pad[6], ff_tensor *out, ff_err *err);
ff_status cpu_upsample_nearest2d(ff_backend *be, const ff_tensor *x, int fh, int fw, ff_tensor *out, ff_err *err);
ff_status cpu_concat(ff_backend *be, const ff_tensor *const *xs, int n, int axis, ff_tensor *out, ff_err *err);
ff_status cpu_slice(ff_backend *be, const ff_tensor *x, int axis, int64_t start, ff_tensor *out, ff_err *err);
ff_status cpu_permute(ff_backend *be, const ff_tensor *x, const int *perm, ff_tensor *out, ff_err *err);
ff_status cpu_copy(ff_backend *be, const ff_tensor *src, ff_tensor *dst, ff_err *err);
ff_status cpu_embedding(ff_backend *be, const ff_tensor *ids, const ff_tensor *table, ff_tensor *out, ff_err *err);

/* ---- fused ops and BF16-precision attention (cpu_fused.c) -------------- */
ff_status cpu_linear_act(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_act_kind act,
                         ff_tensor *out, ff_err *err);
ff_status cpu_norm_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                            const ff_tensor *shift, const ff_tensor *scale, float eps, ff_tensor *out, ff_err *err);
ff_status cpu_qk_norm_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, const ff_tensor *cos,
                           const ff_tensor *sin, ff_heads_layout layout, ff_tensor *out, ff_err *err);
ff_status cpu_gate_residual(ff_backend *be, const ff_tensor *h, const ff_tensor *x, const ff_tensor *gate,
                            ff_tensor *out, ff_err *err);
ff_status cpu_attention(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                        const ff_tensor *bias, const int64_t *bias_shape, float scale, ff_heads_layout layout,
                        ff_tensor *out, ff_err *err);
/* The vtable's sdpa: cpu_sdpa, or cpu_attention's BF16 arithmetic where ff_be_bf16_attn says so. */
ff_status cpu_sdpa_prec(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                        const ff_tensor *bias, const int64_t *bias_shape, float scale, ff_tensor *out, ff_err *err);

/* ---- small shared helpers ----------------------------------------------- */

/* BF16 -> F32 is a shift; inline because packing calls it per element. */
static inline float cpu_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* 4-lane float vectors (GCC/Clang vector extensions, one SSE register; wider
 * types would change the ABI of these helpers): the hot loops that -O2
 * leaves scalar (dot products need reassociation) use them explicitly. */
typedef float cpu_v4 __attribute__((vector_size(16)));

static inline cpu_v4 cpu_v4_load(const float *p) {
    cpu_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void cpu_v4_store(float *p, cpu_v4 v) { memcpy(p, &v, sizeof v); }

static inline float cpu_dot(const float *a, const float *b, int64_t n) {
    cpu_v4 s0 = {0}, s1 = {0}; /* two chains hide the add latency */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += cpu_v4_load(a + i) * cpu_v4_load(b + i);
        s1 += cpu_v4_load(a + i + 4) * cpu_v4_load(b + i + 4);
    }
    for (; i + 4 <= n; i += 4) s0 += cpu_v4_load(a + i) * cpu_v4_load(b + i);
    s0 += s1;
    float r = (s0[0] + s0[2]) + (s0[1] + s0[3]);
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

/* y += alpha * x */
static inline void cpu_axpy(float *y, float alpha, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) cpu_v4_store(y + i, cpu_v4_load(y + i) + alpha * cpu_v4_load(x + i));
    for (; i < n; i++) y[i] += alpha * x[i];
}

/* y *= alpha */
static inline void cpu_scal(float *y, float alpha, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) cpu_v4_store(y + i, alpha * cpu_v4_load(y + i));
    for (; i < n; i++) y[i] *= alpha;
}

/* Products of a shape's dims over [from, to). */
static inline int64_t cpu_prod(const int64_t *shape, int from, int to) {
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= shape[i];
    return p;
}

#endif
