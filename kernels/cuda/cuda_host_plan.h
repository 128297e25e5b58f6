/* cuda_host_plan: the CUDA backend's host-side decisions, in plain C.
 *
 * What a kernel launch or a library plan depends on, computed without a
 * GPU, so that it is compiled in every build (CMake builds this file even
 * without CUDA) and unit-tested on the CPU (tests/kernels/test_cuda_host.c):
 *  - a bounded cache of plans keyed by bytes (cuDNN convolution plans,
 *    cuBLASLt matmul plans): LRU eviction, the plan's owner frees it;
 *  - the element strides of attention operands in both head layouts;
 *  - the flash attention kernel's tiling (head-dim instantiation, tile
 *    sizes, grid, shared memory, whether 16-byte async copies are legal);
 *  - the split of a group norm over several blocks per group.
 * Nothing here touches CUDA; the kernels live in the .cu files.
 * Not thread-safe: a backend is driven by one compute thread (ops.h). */
#ifndef FF_CUDA_HOST_PLAN_H
#define FF_CUDA_HOST_PLAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/ff_err.h" /* C declarations, also from the .cu files */

/* ---- plan cache -------------------------------------------------------- */

#define CUDA_PLAN_KEY_MAX 192 /* bytes of a key */

typedef struct cuda_plan_cache cuda_plan_cache;
/* Frees one plan (called on eviction and by cuda_plan_cache_free). */
typedef void (*cuda_plan_free_fn)(void *user, void *plan);

typedef struct {
    int64_t hits, misses, evictions;
} cuda_plan_stats;

/* capacity >= 1 plans; free_fn may be NULL (plans not owned). */
ff_status cuda_plan_cache_create(int capacity, cuda_plan_free_fn free_fn, void *user, cuda_plan_cache **out,
                                 ff_err *err);
void cuda_plan_cache_free(cuda_plan_cache *c); /* frees every plan; NULL is a no-op */
/* The plan stored under key (n bytes), or NULL (a miss); a hit becomes the
 * most recently used. */
void *cuda_plan_cache_get(cuda_plan_cache *c, const void *key, size_t n);
/* Stores plan under key (replacing, and freeing, a plan already there);
 * when full, frees the least recently used one first. FF_ERR_ARG when the
 * key is longer than CUDA_PLAN_KEY_MAX or plan is NULL (the caller keeps
 * and frees the plan). */
ff_status cuda_plan_cache_put(cuda_plan_cache *c, const void *key, size_t n, void *plan, ff_err *err);
int cuda_plan_cache_size(const cuda_plan_cache *c);
cuda_plan_stats cuda_plan_cache_stats(const cuda_plan_cache *c);

/* ---- attention operands ------------------------------------------------ */

/* Element strides over (b, h, l) of a (B, H, L, n)-indexed operand stored
 * (B, H, L, n) (layout 0, FF_HEADS_BHLD) or (B, L, H, n) (layout 1); the
 * last dim is contiguous. */
void cuda_head_strides(int layout, int64_t H, int64_t L, int64_t n, int64_t s[3]);

/* ---- flash attention tiling ---------------------------------------------- */

#define CUDA_FLASH_BQ 64   /* queries per block: 4 warps x 16 rows */
#define CUDA_FLASH_BK 64   /* keys per step */
#define CUDA_FLASH_WARPS 4
#define CUDA_FLASH_PAD 8   /* BF16 elements of padding per shared-memory row (conflict-free ldmatrix) */

typedef struct {
    int64_t B, H, Lq, Lk, D, Dv;
    int layout;         /* 0 BHLD, 1 BLHD */
    int in_bf16;        /* q, k, v BF16 (else F32, rounded while staged) */
    uintptr_t addr_or;  /* q, k, v base addresses OR-ed together (alignment) */
    size_t smem_optin;  /* the device's dynamic shared memory limit per block */
} cuda_flash_shape;

typedef struct {
    int hd;              /* the kernel's head-dim instantiation: 64 or 128 (>= D, Dv; zero padded) */
    unsigned grid_x;     /* query tiles */
    unsigned grid_y;     /* B * H */
    size_t smem;         /* dynamic shared memory bytes */
    int async16;         /* K/V/Q tiles by 16-byte cp.async (BF16, aligned rows) */
    int64_t qs[3], ks[3], vs[3], os[3];
} cuda_flash_plan;

/* 0 and *p filled, or -1 with the reason in why (head dims above 128,
 * too many (batch x head) rows or query tiles for the grid, too little
 * shared memory). */
int cuda_flash_plan_make(const cuda_flash_shape *s, cuda_flash_plan *p, char *why, size_t n);

/* ---- group norm split ---------------------------------------------------- */

typedef struct {
    int64_t groups; /* B * G */
    int64_t n;      /* elements per group */
    int64_t splits; /* blocks per group */
    int64_t chunk;  /* elements per block (the last one may have fewer, never zero) */
} cuda_gn_plan;

/* Enough blocks to fill sm_count multiprocessors several times over, each
 * with at least a few thousand elements. */
void cuda_group_norm_plan(int64_t groups, int64_t n, int sm_count, cuda_gn_plan *p);

#ifdef __cplusplus
}
#endif

#endif
