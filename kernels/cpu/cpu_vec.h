/* cpu_vec: the CPU backend's vectorised row kernels (internal to
 * kernels/cpu/): exp and the activations built on it, softmax rows, the
 * online-softmax step of attention, normalisation statistics and the
 * normalise / modulate passes.
 *
 * One source (cpu_vec_body.h) is compiled three times: for AVX-512, for
 * AVX2 and portably (GCC vector extensions; SSE2 on x86-64, NEON on arm64),
 * and cpu_vec_pick() chooses at run time from the CPU's features. Every
 * variant works on the same 16-lane logical vectors (a 64-byte vector type
 * the compiler splits into what the ISA has) with plain IEEE operations in
 * the same order (no FMA contraction under -std=c11), so the three give
 * bit-identical results; ragged tails go through a padded 16-lane block.
 * Each function handles one row (or span) in the calling thread: callers
 * own the parallel split, which therefore never changes a result.
 *
 * exp: Cody-Waite reduction by ln 2 and a degree-6 polynomial (Cephes'
 * expf), within 2 ulp of expf on [-87.3, 88.37]; below it gives 0 (no
 * denormals), above +inf; NaN stays NaN.
 * Not here: GEMM micro-kernels (cpu_gemm.c), the parallel loops. */
#ifndef FF_CPU_VEC_H
#define FF_CPU_VEC_H

#include <stdint.h>

typedef struct {
    const char *name; /* "avx512", "avx2", "portable" */
    /* o[i] = f(x[i]) for FF_UNARY_SILU, GELU_TANH, EXP (o may be x); 0 when
     * kind is not one of them (the caller keeps its scalar loop) */
    int (*unary)(int kind, const float *x, float *o, int64_t n);
    /* o = softmax(x) over n (max-subtracted, sum in double; o may be x) */
    void (*softmax_row)(const float *x, float *o, int64_t n);
    /* Online-softmax step of one query row over a block of n scores:
     * returns the block's max of s; with mnew given, s[j] = exp(s[j] - mnew)
     * and the block's sum is returned through *sum. */
    float (*row_max)(const float *s, int64_t n);
    void (*exp_shift_sum)(float *s, int64_t n, float mnew, float *sum);
    /* sums in double: sum(x), sum((x - c)^2) */
    double (*sum)(const float *x, int64_t n);
    double (*sumsq)(const float *x, int64_t n, double c);
    /* o[i] = (float)(x[i] - mean) * rstd * (w ? w[i] : 1) + (b ? b[i] : 0) (x - mean in double) */
    void (*norm_row)(const float *x, float *o, int64_t n, double mean, float rstd, const float *w, const float *b);
    /* o[i] = (float)(x[i] - mean) * rstd * sc + sh, sc and sh scalars (group norm channels) */
    void (*norm_span)(const float *x, float *o, int64_t n, double mean, float rstd, float sc, float sh);
    /* o[i] = x[i] * inv * (w ? w[i] : 1) (RMSNorm) */
    void (*scale_row)(const float *x, float *o, int64_t n, float inv, const float *w);
    /* o[i] = x[i] * (1 + sc[i]) + sh[i] (AdaLN modulate) */
    void (*modulate_row)(const float *x, float *o, int64_t n, const float *sh, const float *sc);
    /* Column steps of attention on a panel p of rows x nr floats (row-major,
     * nr a multiple of 8 up to 64): mx[c] = max over rows of p[r][c];
     * p[r][c] = exp(p[r][c] - shift[c]) and sum[c] = the column's sum. */
    void (*col_max)(const float *p, int64_t rows, int nr, float *mx);
    void (*col_exp_sum)(float *p, int64_t rows, int nr, const float *shift, float *sum);
} cpu_vec;

/* The fastest variant this CPU runs. */
const cpu_vec *cpu_vec_pick(void);
/* Every variant this CPU runs, fastest first (tests compare them); returns the count. */
int cpu_vec_all(const cpu_vec **out, int max);

#endif
