/* ff_rng: torch-compatible random numbers, so a seed gives users the same
 * starting noise as diffusers.
 *
 * Reproduces torch.Generator("cpu").manual_seed(seed) (mt19937 seeded with
 * the low 32 bits) followed by torch.randn(shape) for float32, including the
 * two code paths of torch's CPU normal kernel (scalar Box-Muller in double
 * with a cached spare below 16 elements; 16-wide float Box-Muller with a
 * redraw of the last 16 values otherwise) and diffusers' randn_tensor (one
 * generator for the batch, or one generator per sample). See
 * ../shared/golden/README.md "Random numbers". Not a general-purpose RNG:
 * only what diffusers' pipelines draw. */
#ifndef FF_RNG_H
#define FF_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "ff_err.h"
#include "ff_tensor.h"

typedef struct {
    uint32_t mt[624];
    int idx;
    int has_spare;  /* torch's next_double_normal_sample */
    double spare;
} ff_rng;

/* torch.Generator("cpu").manual_seed(seed): 64-bit seeds are truncated. */
void ff_rng_seed(ff_rng *g, uint64_t seed);
uint32_t ff_rng_u32(ff_rng *g);

/* torch.randn(n elements, dtype=float32, generator=g) into out. */
void ff_rng_randn(ff_rng *g, float *out, size_t n);

/* diffusers randn_tensor(shape, generator, float32) into t (F32, host):
 * n_seeds == 1: one generator draws the whole tensor; n_seeds == shape[0]:
 * sample i is drawn by its own generator seeded with seeds[i]. */
ff_status ff_randn_tensor(ff_tensor *t, const uint64_t *seeds, size_t n_seeds, ff_err *err);

#endif
