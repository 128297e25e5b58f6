/* ff_rng: see ff_rng.h. Mirrors ATen's CPUGeneratorImpl, mt19937 and
 * normal_kernel (aten/src/ATen/native/cpu/DistributionTemplates.h). */
#include "ff_rng.h"

#include <math.h>
#include <string.h>

#define MT_N 624
#define MT_M 397

void ff_rng_seed(ff_rng *g, uint64_t seed) {
    g->mt[0] = (uint32_t)(seed & 0xffffffffu);
    for (int i = 1; i < MT_N; i++) g->mt[i] = 1812433253u * (g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) + (uint32_t)i;
    g->idx = MT_N;
    g->has_spare = 0;
    g->spare = 0;
}

static void mt_twist(ff_rng *g) {
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (g->mt[i] & 0x80000000u) | (g->mt[(i + 1) % MT_N] & 0x7fffffffu);
        uint32_t v = g->mt[(i + MT_M) % MT_N] ^ (y >> 1);
        if (y & 1u) v ^= 0x9908b0dfu;
        g->mt[i] = v;
    }
    g->idx = 0;
}

uint32_t ff_rng_u32(ff_rng *g) {
    if (g->idx >= MT_N) mt_twist(g);
    uint32_t y = g->mt[g->idx++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* at::uniform_real_distribution<double>(0, 1): 53 bits of random64(). */
static double uniform53(ff_rng *g) {
    uint64_t hi = ff_rng_u32(g);
    uint64_t lo = ff_rng_u32(g);
    uint64_t x = (hi << 32) | lo;
    return (double)(x & ((1ull << 53) - 1)) * ldexp(1.0, -53);
}

/* at::normal_distribution<double>: Box-Muller, caching the sine half. */
static double normal_scalar(ff_rng *g) {
    if (g->has_spare) {
        g->has_spare = 0;
        return g->spare;
    }
    double u1 = uniform53(g);
    double u2 = uniform53(g);
    double r = sqrt(-2.0 * log(1.0 - u2));
    double theta = 2.0 * M_PI * u1;
    g->spare = r * sin(theta);
    g->has_spare = 1;
    return r * cos(theta);
}

/* at::uniform_real_distribution<float>(0, 1): 24 bits of one draw. */
static float uniform24(ff_rng *g) { return (float)(ff_rng_u32(g) & 0xffffffu) * (1.0f / 16777216.0f); }

/* normal_fill_16: in float, as torch's vectorised path computes it. */
static void normal_fill_16(float *d) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * M_PI * (double)u2);
        d[j] = radius * cosf(theta);
        d[j + 8] = radius * sinf(theta);
    }
}

void ff_rng_randn(ff_rng *g, float *out, size_t n) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = (float)normal_scalar(g);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = uniform24(g);
    for (size_t i = 0; i + 16 <= n; i += 16) normal_fill_16(out + i);
    if (n % 16 != 0) { /* torch recomputes the last 16 values from fresh uniforms */
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = uniform24(g);
        normal_fill_16(tail);
    }
}

ff_status ff_randn_tensor(ff_tensor *t, const uint64_t *seeds, size_t n_seeds, ff_err *err) {
    if (t->dtype != FF_F32 || t->loc != FF_LOC_HOST)
        return ff_err_set(err, FF_ERR_ARG, "randn_tensor: target must be an F32 host tensor");
    size_t n = (size_t)ff_tensor_numel(t);
    ff_rng g;
    if (n_seeds == 1) {
        ff_rng_seed(&g, seeds[0]);
        ff_rng_randn(&g, t->data, n);
        return FF_OK;
    }
    if (t->ndim < 1 || n_seeds != (size_t)t->shape[0])
        return ff_err_set(err, FF_ERR_ARG, "randn_tensor: %zu generators for a batch of %lld", n_seeds,
                          t->ndim ? (long long)t->shape[0] : 0LL);
    size_t per = t->shape[0] ? n / (size_t)t->shape[0] : 0;
    for (size_t b = 0; b < n_seeds; b++) {
        ff_rng_seed(&g, seeds[b]);
        ff_rng_randn(&g, (float *)t->data + b * per, per);
    }
    return FF_OK;
}
