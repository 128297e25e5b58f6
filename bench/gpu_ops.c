/* bench/gpu_ops: per-op and per-component throughput of the CUDA backend at
 * Wan 2.1 1.3B shapes (480x832, 81 frames: 32760 tokens of width 1536,
 * 12 heads of 128, ffn 8960, 512 text tokens) and Wan VAE decoder shapes,
 * through the public ops API only (kernels/ops.h, models/wan_transformer.h).
 *
 * It prints machine-readable lines that bench/gpu.sh merges with the same
 * lines from bench/gpu_torch.py into one table against the roofline:
 *
 *   DEVICE <name_with_underscores> sm=<maj.min> sms=<n> mem_GBps=<nominal> fp32_TFLOPs=<nominal>
 *   OP <name> <shape> <ms per call> <GFLOP per call> <GB moved per call> <peak: fp32|tf32|bf16>
 *   SKIP <name> <shape> <reason...>
 *
 * GB moved is the minimum traffic (every input read once, every output
 * written once); GFLOP counts a multiply-add as 2. The nominal bandwidth is
 * memoryClockRate * 2 (DDR) * busWidth / 8, the nominal FP32 peak is
 * SMs * FP32 lanes per SM * 2 * clockRate; gpu.sh prefers datasheet figures
 * for the cards it knows.
 *
 * Timing: cudaEvent-free and portable, ff_be_sync + CLOCK_MONOTONIC: one
 * warm-up call, one timed call to size the run, then N back-to-back calls
 * (N so that they take >= --min-ms, default 50 ms) and one sync; the figure is
 * the mean. The transformer block is timed through ff_wandit_forward's
 * before/after-block hooks with a sync in each (best of --block-reps).
 *
 * usage: bench_gpu_ops [--backend cuda|cuda:N|cpu] [--min-ms MS] [--block-reps N] [--small] [--no-block]
 *   --small: tiny shapes, for checking this program on a machine without a GPU
 *            (--backend cpu --small).
 * With no CUDA device: prints "no CUDA device: <reason>" and exits 2. Exit 1
 * when an op failed; 0 otherwise (SKIP lines are not failures).
 * Not a test: no pass/fail on speed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ff_clock.h"
#include "core/ff_json.h"
#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/wan_transformer.h"

#ifdef FF_HAVE_CUDA
/* From cuda_runtime_api.h / driver_types.h, which are not on the include path
 * of bench/ (cudart is linked through ff_kernels). cudaError_t and enum
 * cudaDeviceAttr are int-sized enums; 0 is cudaSuccess. */
extern int cudaDeviceGetAttribute(int *value, int attr, int device);
enum {
    BENCH_ATTR_CLOCK_RATE = 13,     /* cudaDevAttrClockRate, kHz */
    BENCH_ATTR_SM_COUNT = 16,       /* cudaDevAttrMultiProcessorCount */
    BENCH_ATTR_MEM_CLOCK_RATE = 36, /* cudaDevAttrMemoryClockRate, kHz */
    BENCH_ATTR_BUS_WIDTH = 37,      /* cudaDevAttrGlobalMemoryBusWidth, bits */
    BENCH_ATTR_CC_MAJOR = 75,       /* cudaDevAttrComputeCapabilityMajor */
    BENCH_ATTR_CC_MINOR = 76        /* cudaDevAttrComputeCapabilityMinor */
};
#endif

/* ---- the run: backend, options, failure count ----------------------------- */

typedef struct {
    ff_backend *be;
    double min_s;
    int fails;
} bench;

static void fail_line(bench *b, const char *name, const char *shape, const ff_err *err) {
    printf("SKIP %s %s failed: %s\n", name, shape, err->msg);
    fflush(stdout);
    b->fails++;
}

/* Device tensor filled with values in [-amp, amp) from a fixed seed: a host
 * chunk is filled once and uploaded into consecutive views of t. */
#define FILL_CHUNK ((int64_t)1 << 22)
static ff_status dev_tensor(bench *b, ff_tensor *t, ff_dtype dt, int nd, const int64_t *shape, unsigned seed,
                            float amp, ff_err *err) {
    ff_status st = ff_be_alloc(b->be, t, dt, nd, shape, err);
    if (st) return st;
    const int64_t n = ff_tensor_numel(t);
    const int64_t cn = n < FILL_CHUNK ? n : FILL_CHUNK;
    if (cn == 0) return FF_OK;
    ff_tensor host;
    if ((st = ff_tensor_alloc(&host, dt, 1, &cn, err))) {
        ff_be_free(b->be, t);
        return st;
    }
    uint32_t s = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < cn; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        const float v = amp * ((float)(s >> 8) * (2.0f / 16777216.0f) - 1.0f);
        if (dt == FF_BF16) ((uint16_t *)host.data)[i] = ff_f32_to_bf16(v);
        else ((float *)host.data)[i] = v;
    }
    const size_t es = ff_dtype_size(dt);
    for (int64_t off = 0; off < n && !st; off += cn) {
        const int64_t len = n - off < cn ? n - off : cn;
        ff_tensor dst, src;
        ff_tensor_view(&dst, dt, 1, &len, (char *)t->data + (size_t)off * es, t->loc);
        ff_tensor_view(&src, dt, 1, &len, host.data, FF_LOC_HOST);
        st = ff_be_upload(b->be, &dst, &src, err);
    }
    ff_tensor_free(&host);
    if (st) ff_be_free(b->be, t);
    return st;
}

/* Frees up to 8 device tensors (NULL entries and never-allocated ones skipped). */
static void dev_free(bench *b, ff_tensor **ts, int n) {
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->data) ff_be_free(b->be, ts[i]);
}

/* ---- ops as closures -------------------------------------------------------- */

typedef struct {
    ff_backend *be;
    const ff_tensor *x, *y, *z, *w; /* op inputs, in the op's argument order */
    ff_tensor *out;
    int groups;
    int stride[3], pad[6];
    int perm[6];
} op_args;

typedef ff_status (*op_fn)(const op_args *a, ff_err *err);

static ff_status run_linear(const op_args *a, ff_err *err) { return ff_op_linear(a->be, a->x, a->y, a->z, a->out, err); }
static ff_status run_sdpa(const op_args *a, ff_err *err) {
    const double d = (double)a->x->shape[3];
    return ff_op_sdpa(a->be, a->x, a->y, a->z, NULL, (float)(1.0 / sqrt(d)), a->out, err);
}
static ff_status run_rms(const op_args *a, ff_err *err) { return ff_op_rms_norm(a->be, a->x, a->y, 1e-6f, a->out, err); }
static ff_status run_ln(const op_args *a, ff_err *err) {
    return ff_op_layer_norm(a->be, a->x, a->y, a->z, 1e-6f, a->out, err);
}
static ff_status run_modulate(const op_args *a, ff_err *err) {
    return ff_op_modulate(a->be, a->x, a->y, a->z, a->out, err);
}
static ff_status run_rope(const op_args *a, ff_err *err) { return ff_op_rope(a->be, a->x, a->y, a->z, a->out, err); }
static ff_status run_add(const op_args *a, ff_err *err) {
    return ff_op_binary(a->be, FF_BIN_ADD, a->x, a->y, a->out, err);
}
static ff_status run_gelu(const op_args *a, ff_err *err) {
    return ff_op_unary(a->be, FF_UNARY_GELU_TANH, a->x, a->out, err);
}
static ff_status run_copy(const op_args *a, ff_err *err) { return ff_op_copy(a->be, a->x, a->out, err); }
static ff_status run_permute(const op_args *a, ff_err *err) { return ff_op_permute(a->be, a->x, a->perm, a->out, err); }
static ff_status run_conv(const op_args *a, ff_err *err) {
    return ff_op_conv3d(a->be, a->x, a->y, a->z, a->stride, a->pad, a->out, err);
}
static ff_status run_gn(const op_args *a, ff_err *err) {
    return ff_op_group_norm(a->be, a->x, a->groups, a->y, a->z, 1e-6f, a->out, err);
}
static ff_status run_l2n(const op_args *a, ff_err *err) {
    /* Wan VAE RMS_norm: F.normalize(x, dim=1) * sqrt(C) * gamma + bias */
    return ff_op_l2norm_channels(a->be, a->x, a->y, a->z, sqrtf((float)a->x->shape[1]), 1e-12f, a->out, err);
}

/* Mean seconds per call (see the top comment), or -1 with err set. */
static double time_op(bench *b, op_fn fn, const op_args *a, ff_err *err) {
    if (fn(a, err) || ff_be_sync(b->be, err)) return -1; /* warm-up: cuBLAS heuristics, scratch growth */
    double t0 = ff_now_s();
    if (fn(a, err) || ff_be_sync(b->be, err)) return -1;
    const double one = ff_now_s() - t0;
    long n = one > 0 ? (long)ceil(b->min_s / one) : 1000;
    if (n < 1) n = 1;
    if (n > 1000) n = 1000;
    t0 = ff_now_s();
    for (long i = 0; i < n; i++)
        if (fn(a, err)) return -1;
    if (ff_be_sync(b->be, err)) return -1;
    return (ff_now_s() - t0) / (double)n;
}

/* Times one op and prints its OP (or SKIP) line; returns seconds or -1. */
static double report(bench *b, const char *name, const char *shape, op_fn fn, const op_args *a, double gflop,
                     double gbytes, const char *peak) {
    ff_err err = {0};
    const double s = time_op(b, fn, a, &err);
    if (s < 0) {
        fail_line(b, name, shape, &err);
        return -1;
    }
    printf("OP %s %s %.4f %.3f %.4f %s\n", name, shape, s * 1e3, gflop, gbytes, peak);
    fflush(stdout);
    return s;
}

/* ---- the ops at their shapes --------------------------------------------------- */

/* out (T, N) = x (T, K) @ w (N, K)^T + b (N), w in wdt. */
static void bench_linear(bench *b, const char *name, int64_t T, int64_t K, int64_t N, ff_dtype wdt) {
    ff_tensor x = {0}, w = {0}, bias = {0}, out = {0};
    ff_tensor *all[] = {&x, &w, &bias, &out};
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lld->%lld", (long long)T, (long long)K, (long long)N);
    ff_err err = {0};
    if (dev_tensor(b, &x, FF_F32, 2, (const int64_t[]){T, K}, 1, 1.0f, &err) ||
        dev_tensor(b, &w, wdt, 2, (const int64_t[]){N, K}, 2, 1.0f / sqrtf((float)K), &err) ||
        dev_tensor(b, &bias, FF_F32, 1, &N, 3, 0.1f, &err) ||
        ff_be_alloc(b->be, &out, FF_F32, 2, (const int64_t[]){T, N}, &err)) {
        fail_line(b, name, shape, &err);
    } else {
        op_args a = {.be = b->be, .x = &x, .y = &w, .z = &bias, .out = &out};
        const double bytes = 4.0 * (double)(T * K + T * N + N) + (double)ff_dtype_size(wdt) * (double)(N * K);
        report(b, name, shape, run_linear, &a, 2e-9 * (double)T * (double)K * (double)N, bytes * 1e-9, "fp32");
    }
    dev_free(b, all, 4);
}

/* q (1, H, Lq, D), k/v (1, H, Lk, D); returns seconds or -1. */
static double bench_sdpa(bench *b, const char *name, int64_t H, int64_t Lq, int64_t Lk, int64_t D) {
    ff_tensor q = {0}, k = {0}, v = {0}, out = {0};
    ff_tensor *all[] = {&q, &k, &v, &out};
    char shape[64];
    if (Lq == Lk) snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)H, (long long)Lq, (long long)D);
    else snprintf(shape, sizeof shape, "%lldx%lld:%lldx%lld", (long long)H, (long long)Lq, (long long)Lk, (long long)D);
    ff_err err = {0};
    double s = -1;
    if (dev_tensor(b, &q, FF_F32, 4, (const int64_t[]){1, H, Lq, D}, 4, 1.0f, &err) ||
        dev_tensor(b, &k, FF_F32, 4, (const int64_t[]){1, H, Lk, D}, 5, 1.0f, &err) ||
        dev_tensor(b, &v, FF_F32, 4, (const int64_t[]){1, H, Lk, D}, 6, 1.0f, &err) ||
        ff_be_alloc(b->be, &out, FF_F32, 4, (const int64_t[]){1, H, Lq, D}, &err)) {
        fail_line(b, name, shape, &err);
    } else {
        op_args a = {.be = b->be, .x = &q, .y = &k, .z = &v, .out = &out};
        const double flops = 4.0 * (double)H * (double)Lq * (double)Lk * (double)D;
        const double bytes = 4.0 * (double)H * (double)D * (double)(2 * Lq + 2 * Lk);
        s = report(b, name, shape, run_sdpa, &a, flops * 1e-9, bytes * 1e-9, "fp32");
    }
    dev_free(b, all, 4);
    return s;
}

/* The row-wise and pointwise ops of a transformer block over x (1, T, D). */
static void bench_pointwise(bench *b, int64_t T, int64_t D, int64_t H, int64_t F) {
    const int64_t hd = D / H;
    ff_tensor x = {0}, y = {0}, out = {0}, w = {0}, bias = {0}, shift = {0}, scl = {0}, cs = {0}, sn = {0};
    ff_tensor big = {0}, bigo = {0}, half = {0};
    ff_tensor *all[] = {&x, &y, &out, &w, &bias, &shift, &scl, &cs, &sn, &big, &bigo, &half};
    ff_err err = {0};
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lld", (long long)T, (long long)D);
    const double n = (double)(T * D), gb = 4e-9 * n;
    if (dev_tensor(b, &x, FF_F32, 3, (const int64_t[]){1, T, D}, 7, 1.0f, &err) ||
        dev_tensor(b, &y, FF_F32, 3, (const int64_t[]){1, T, D}, 8, 1.0f, &err) ||
        ff_be_alloc(b->be, &out, FF_F32, 3, (const int64_t[]){1, T, D}, &err) ||
        dev_tensor(b, &w, FF_F32, 1, &D, 9, 1.0f, &err) || dev_tensor(b, &bias, FF_F32, 1, &D, 10, 0.1f, &err) ||
        dev_tensor(b, &shift, FF_F32, 3, (const int64_t[]){1, 1, D}, 11, 0.1f, &err) ||
        dev_tensor(b, &scl, FF_F32, 3, (const int64_t[]){1, 1, D}, 12, 0.1f, &err) ||
        dev_tensor(b, &cs, FF_F32, 2, (const int64_t[]){T, hd}, 13, 1.0f, &err) ||
        dev_tensor(b, &sn, FF_F32, 2, (const int64_t[]){T, hd}, 14, 1.0f, &err)) {
        fail_line(b, "pointwise", shape, &err);
        dev_free(b, all, 12);
        return;
    }
    op_args a = {.be = b->be, .x = &x, .y = &w, .out = &out};
    report(b, "rms_norm", shape, run_rms, &a, 4e-9 * n, 2 * gb, "fp32");
    a.z = &bias;
    report(b, "layer_norm", shape, run_ln, &a, 7e-9 * n, 2 * gb, "fp32");
    a = (op_args){.be = b->be, .x = &x, .y = &shift, .z = &scl, .out = &out};
    report(b, "modulate", shape, run_modulate, &a, 2e-9 * n, 2 * gb, "fp32");
    a = (op_args){.be = b->be, .x = &x, .y = &y, .out = &out};
    report(b, "add", shape, run_add, &a, 1e-9 * n, 3 * gb, "fp32");

    /* rope and the (B, L, H, hd) -> (B, H, L, hd) permute of attention */
    char hshape[64];
    snprintf(hshape, sizeof hshape, "%lldx%lldx%lld", (long long)T, (long long)H, (long long)hd);
    ff_tensor x4, o4;
    const int64_t s4[4] = {1, T, H, hd}, p4[4] = {1, H, T, hd};
    ff_tensor_view(&x4, FF_F32, 4, s4, x.data, x.loc);
    ff_tensor_view(&o4, FF_F32, 4, s4, out.data, out.loc);
    a = (op_args){.be = b->be, .x = &x4, .y = &cs, .z = &sn, .out = &o4};
    report(b, "rope", hshape, run_rope, &a, 3e-9 * n, gb * 2 + 8e-9 * (double)(T * hd), "fp32");
    ff_tensor_view(&o4, FF_F32, 4, p4, out.data, out.loc);
    a = (op_args){.be = b->be, .x = &x4, .out = &o4, .perm = {0, 2, 1, 3}};
    report(b, "permute_0213", hshape, run_permute, &a, 0, 2 * gb, "fp32");

    /* F32 -> BF16 copy (a weight or activation cast) */
    if (ff_be_alloc(b->be, &half, FF_BF16, 3, (const int64_t[]){1, T, D}, &err)) {
        fail_line(b, "copy_f32_bf16", shape, &err);
    } else {
        a = (op_args){.be = b->be, .x = &x, .out = &half};
        report(b, "copy_f32_bf16", shape, run_copy, &a, 0, 6e-9 * n, "fp32");
    }

    /* the FFN activation over (T, ffn) */
    char fshape[64];
    snprintf(fshape, sizeof fshape, "%lldx%lld", (long long)T, (long long)F);
    if (dev_tensor(b, &big, FF_F32, 2, (const int64_t[]){T, F}, 15, 1.0f, &err) ||
        ff_be_alloc(b->be, &bigo, FF_F32, 2, (const int64_t[]){T, F}, &err)) {
        fail_line(b, "gelu_tanh", fshape, &err);
    } else {
        a = (op_args){.be = b->be, .x = &big, .out = &bigo};
        report(b, "gelu_tanh", fshape, run_gelu, &a, 1.2e-8 * (double)(T * F), 8e-9 * (double)(T * F), "fp32");
    }
    dev_free(b, all, 12);
}

/* A causal 3x3x3 conv of the Wan VAE decoder: x (1, C, Fr, Hh, Ww) -> (1, C, Fr, Hh, Ww). */
static void bench_conv(bench *b, int64_t C, int64_t Fr, int64_t Hh, int64_t Ww) {
    ff_tensor x = {0}, w = {0}, bias = {0}, out = {0};
    ff_tensor *all[] = {&x, &w, &bias, &out};
    char shape[64];
    snprintf(shape, sizeof shape, "1x%lldx%lldx%lldx%lld_k3", (long long)C, (long long)Fr, (long long)Hh,
             (long long)Ww);
    ff_err err = {0};
    const int64_t xs[5] = {1, C, Fr, Hh, Ww};
    if (dev_tensor(b, &x, FF_F32, 5, xs, 16, 1.0f, &err) ||
        dev_tensor(b, &w, FF_F32, 5, (const int64_t[]){C, C, 3, 3, 3}, 17, 1.0f / sqrtf(27.0f * (float)C), &err) ||
        dev_tensor(b, &bias, FF_F32, 1, &C, 18, 0.1f, &err) || ff_be_alloc(b->be, &out, FF_F32, 5, xs, &err)) {
        fail_line(b, "conv3d", shape, &err);
    } else {
        op_args a = {.be = b->be, .x = &x, .y = &w, .z = &bias, .out = &out, .stride = {1, 1, 1},
                     .pad = {2, 0, 1, 1, 1, 1}};
        const double P = (double)(Fr * Hh * Ww);
        const double flops = 2.0 * (double)C * P * (double)(C * 27);
        const double bytes = 4.0 * (2.0 * (double)C * P + (double)(C * C * 27 + C));
        report(b, "conv3d", shape, run_conv, &a, flops * 1e-9, bytes * 1e-9, "fp32");
    }
    dev_free(b, all, 4);
}

/* group_norm (32 groups, affine) and the VAE's channel L2 norm over x (1, C, Fr, Hh, Ww). */
static void bench_vae_norms(bench *b, int64_t C, int64_t Fr, int64_t Hh, int64_t Ww) {
    ff_tensor x = {0}, g = {0}, be_ = {0}, out = {0};
    ff_tensor *all[] = {&x, &g, &be_, &out};
    char shape[64];
    snprintf(shape, sizeof shape, "1x%lldx%lldx%lldx%lld", (long long)C, (long long)Fr, (long long)Hh, (long long)Ww);
    ff_err err = {0};
    const int64_t xs[5] = {1, C, Fr, Hh, Ww};
    const double n = (double)(C * Fr * Hh * Ww);
    if (dev_tensor(b, &x, FF_F32, 5, xs, 19, 1.0f, &err) || dev_tensor(b, &g, FF_F32, 1, &C, 20, 1.0f, &err) ||
        dev_tensor(b, &be_, FF_F32, 1, &C, 21, 0.1f, &err) || ff_be_alloc(b->be, &out, FF_F32, 5, xs, &err)) {
        fail_line(b, "group_norm", shape, &err);
    } else {
        op_args a = {.be = b->be, .x = &x, .y = &g, .z = &be_, .out = &out, .groups = 32};
        char gshape[80];
        snprintf(gshape, sizeof gshape, "%s_g32", shape);
        report(b, "group_norm", gshape, run_gn, &a, 7e-9 * n, 8e-9 * n, "fp32");
        report(b, "l2norm_channels", shape, run_l2n, &a, 5e-9 * n, 8e-9 * n, "fp32");
    }
    dev_free(b, all, 4);
}

/* ---- one Wan transformer block (and the 1-layer model around it) ------------------ */

typedef struct {
    ff_backend *be;
    double t0, total;
} block_timer;

static ff_status timer_before(void *user, int index, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    block_timer *bt = user;
    ff_status st = ff_be_sync(bt->be, err);
    bt->t0 = ff_now_s();
    return st;
}

static ff_status timer_after(void *user, int index, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    block_timer *bt = user;
    ff_status st = ff_be_sync(bt->be, err);
    bt->total += ff_now_s() - bt->t0;
    return st;
}

static void bench_block(bench *b, int64_t f, int64_t h, int64_t w, int reps) {
    static const char json[] =
        "{\"attention_head_dim\": 128, \"num_attention_heads\": 12, \"ffn_dim\": 8960, \"freq_dim\": 256,"
        " \"in_channels\": 16, \"out_channels\": 16, \"text_dim\": 4096, \"num_layers\": 1,"
        " \"patch_size\": [1, 2, 2], \"cross_attn_norm\": true, \"eps\": 1e-6}";
    const int64_t T = f * (h / 2) * (w / 2), Lt = 512;
    char shape[64], fshape[64];
    snprintf(shape, sizeof shape, "T%lld:%lld", (long long)T, (long long)Lt);
    snprintf(fshape, sizeof fshape, "1x16x%lldx%lldx%lld", (long long)f, (long long)h, (long long)w);
    ff_err err = {0};
    ff_json_doc *doc = NULL;
    ff_wandit_config cfg;
    ff_wandit_model *m = NULL;
    ff_tensor x = {0}, text = {0}, out = {0}, t = {0};
    ff_tensor *all[] = {&x, &text, &out};
    int64_t os[5];
    if (ff_json_parse(json, strlen(json), "bench config", &doc, &err) ||
        ff_wandit_config_parse(ff_json_root(doc), "bench config", &cfg, &err) || ff_wandit_create(&cfg, &m, &err) ||
        ff_wandit_init_random(m, 1, &err) || ff_wandit_place(m, b->be, 1, &err) ||
        dev_tensor(b, &x, FF_F32, 5, (const int64_t[]){1, 16, f, h, w}, 22, 1.0f, &err) ||
        dev_tensor(b, &text, FF_F32, 3, (const int64_t[]){1, Lt, cfg.text_dim}, 23, 1.0f, &err) ||
        ff_wandit_out_shape(&cfg, &x, os, &err) || ff_be_alloc(b->be, &out, FF_F32, 5, os, &err) ||
        ff_tensor_allocv(&t, FF_F32, &err, 1, 1LL)) {
        fail_line(b, "dit_block", shape, &err);
    } else {
        ((float *)t.data)[0] = 999.0f;
        const double D = cfg.dim, Fd = cfg.ffn_dim, Tn = (double)T, L = (double)Lt, hd = cfg.head_dim;
        const double flops = 2.0 * Tn * D * D * 4      /* attn1 q, k, v, out */
                             + 2.0 * Tn * D * D * 2    /* attn2 q, out */
                             + 2.0 * L * D * D * 2     /* attn2 k, v */
                             + 2.0 * Tn * D * Fd * 2   /* ffn */
                             + 4.0 * cfg.heads * Tn * Tn * hd /* self-attention */
                             + 4.0 * cfg.heads * Tn * L * hd; /* cross-attention */
        ff_wandit_counts c;
        ff_wandit_count_params(&cfg, &c, &err);
        const double wbytes = 4.0 * (double)c.per_block; /* weights only: the block is compute-bound */
        block_timer bt = {b->be, 0, 0};
        ff_wandit_hooks hooks = {timer_before, timer_after, &bt};
        double best_blk = INFINITY, best_fwd = INFINITY;
        int ok = 1;
        for (int r = 0; r < reps + 1 && ok; r++) { /* r == 0: warm-up */
            bt.total = 0;
            double t0 = ff_now_s();
            if (ff_wandit_forward(m, b->be, &x, &t, &text, &hooks, &out, &err) || ff_be_sync(b->be, &err)) ok = 0;
            const double dt = ff_now_s() - t0;
            if (r > 0 && bt.total < best_blk) best_blk = bt.total;
            if (r > 0 && dt < best_fwd) best_fwd = dt;
        }
        if (!ok) {
            fail_line(b, "dit_block", shape, &err);
        } else {
            printf("OP dit_block %s %.4f %.3f %.4f fp32\n", shape, best_blk * 1e3, flops * 1e-9, wbytes * 1e-9);
            printf("OP dit_forward_1layer %s %.4f %.3f %.4f fp32\n", fshape, best_fwd * 1e3, flops * 1e-9,
                   4e-9 * (double)c.total);
            fflush(stdout);
        }
    }
    dev_free(b, all, 3);
    ff_tensor_free(&t);
    ff_wandit_free(m); /* frees the placed weights on the backend too */
    ff_json_free(doc);
}

/* ---- the device line -------------------------------------------------------- */

static void device_line(ff_backend *be, int device) {
    char desc[512];
    if (ff_backend_kind_of(be) != FF_BACKEND_CUDA) {
        printf("DEVICE %s sm=0.0 sms=0 mem_GBps=0 fp32_TFLOPs=0\n", ff_backend_name(be));
        return;
    }
    ff_backend_cuda_describe(desc, sizeof desc);
    /* "0: NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB" -> the line of `device`, name only */
    char name[256] = "unknown";
    const char *line = desc;
    for (int i = 0; i < device && line; i++) {
        line = strchr(line, '\n');
        if (line) line++;
    }
    if (line) {
        const char *p = strstr(line, ": "), *e = p ? strchr(p, ',') : NULL;
        if (p && e && e - p - 2 < (long)sizeof name) {
            memcpy(name, p + 2, (size_t)(e - p - 2));
            name[e - p - 2] = '\0';
        }
    }
    for (char *c = name; *c; c++)
        if (*c == ' ') *c = '_';
    double gbps = 0, tflops = 0;
    int maj = 0, min = 0, sms = 0;
#ifdef FF_HAVE_CUDA
    int mclk = 0, bus = 0, clk = 0;
    if (cudaDeviceGetAttribute(&mclk, BENCH_ATTR_MEM_CLOCK_RATE, device) == 0 &&
        cudaDeviceGetAttribute(&bus, BENCH_ATTR_BUS_WIDTH, device) == 0)
        gbps = (double)mclk * 1e3 * 2.0 * (double)bus / 8.0 * 1e-9;
    if (cudaDeviceGetAttribute(&maj, BENCH_ATTR_CC_MAJOR, device) == 0 &&
        cudaDeviceGetAttribute(&min, BENCH_ATTR_CC_MINOR, device) == 0 &&
        cudaDeviceGetAttribute(&sms, BENCH_ATTR_SM_COUNT, device) == 0 &&
        cudaDeviceGetAttribute(&clk, BENCH_ATTR_CLOCK_RATE, device) == 0) {
        const int lanes = (maj == 8 && min == 0) || maj < 8 ? 64 : 128; /* FP32 lanes per SM */
        tflops = (double)sms * lanes * 2.0 * (double)clk * 1e3 * 1e-12;
    }
#endif
    printf("# %s\n", desc);
    printf("# nominal HBM bandwidth %.0f GB/s (memoryClockRate x 2 x busWidth), nominal FP32 peak %.1f TFLOP/s\n",
           gbps, tflops);
    printf("DEVICE %s sm=%d.%d sms=%d mem_GBps=%.0f fp32_TFLOPs=%.1f\n", name, maj, min, sms, gbps, tflops);
}

int main(int argc, char **argv) {
    const char *backend = "cuda";
    double min_ms = 50;
    int small = 0, block = 1, block_reps = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--min-ms") && i + 1 < argc) min_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--block-reps") && i + 1 < argc) block_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--small")) small = 1;
        else if (!strcmp(argv[i], "--no-block")) block = 0;
        else {
            fprintf(stderr, "usage: %s [--backend cuda|cuda:N|cpu] [--min-ms MS] [--block-reps N] [--small] "
                            "[--no-block]\n", argv[0]);
            return 2;
        }
    }
    if (block_reps < 1) block_reps = 1;
    ff_err err = {0};
    bench b = {NULL, min_ms * 1e-3, 0};
    ff_status st = ff_backend_create_by_name(backend, 0, &b.be, &err);
    if (st) {
        if (st == FF_ERR_UNSUPPORTED && strncmp(backend, "cuda", 4) == 0) printf("no CUDA device: %s\n", err.msg);
        else printf("%s\n", err.msg); /* "no CUDA device: <reason>" from the backend */
        return st == FF_ERR_DEVICE || st == FF_ERR_UNSUPPORTED ? 2 : 1;
    }
    const int device = !strncmp(backend, "cuda:", 5) ? atoi(backend + 5) : 0;
    printf("# bench_gpu_ops on %s%s; min %.0f ms of calls per op\n", ff_backend_name(b.be),
           small ? " (--small shapes)" : "", min_ms);
    device_line(b.be, device);
    fflush(stdout);

    /* Wan 2.1 1.3B at 480x832, 81 frames: latent (16, 21, 60, 104) -> 21 x 30 x 52 tokens */
    const int64_t T = small ? 256 : 32760, D = 1536, H = 12, F = 8960, hd = 128, Lt = 512;
    bench_linear(&b, "linear", T, D, D, FF_F32);
    bench_linear(&b, "linear", T, D, F, FF_F32);
    bench_linear(&b, "linear", T, F, D, FF_F32);
    bench_linear(&b, "linear_bf16w", T, D, F, FF_BF16);

    const int64_t L1 = small ? 128 : 8192, L2 = small ? 512 : 32760;
    const double s1 = bench_sdpa(&b, "sdpa", H, L1, L1, hd);
    const double est = s1 * ((double)L2 / (double)L1) * ((double)L2 / (double)L1);
    if (s1 > 0 && est < 2.0) bench_sdpa(&b, "sdpa", H, L2, L2, hd);
    else printf("SKIP sdpa %lldx%lldx%lld estimated %.1f s per call from L=%lld (limit 2 s)\n", (long long)H,
                (long long)L2, (long long)hd, est, (long long)L1);
    bench_sdpa(&b, "sdpa", H, T, Lt, hd);

    bench_pointwise(&b, T, D, H, F);

    /* Wan VAE decoder: a 384-channel mid/up conv at 60x104 latent resolution
     * (three frames, causal time padding) and the 96-channel last up block at 480x832 */
    if (small) {
        bench_conv(&b, 32, 3, 12, 20);
        bench_vae_norms(&b, 64, 2, 12, 20);
    } else {
        bench_conv(&b, 384, 3, 60, 104);
        bench_conv(&b, 96, 4, 480, 832);
        bench_vae_norms(&b, 384, 4, 120, 208);
    }

    if (block) {
        if (small) bench_block(&b, 1, 16, 16, 1);
        else bench_block(&b, 21, 60, 104, block_reps);
    }
    printf("# done: %d failed\n", b.fails);
    ff_backend_free(b.be);
    return b.fails ? 1 : 0;
}
