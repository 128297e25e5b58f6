/* test_cuda_host: the CUDA backend's host-side planning
 * (kernels/cuda/cuda_host_plan.c), which needs no GPU and runs everywhere:
 *  - the plan cache: hits and misses by key bytes, replacement, LRU
 *    eviction that frees exactly the evicted plan, limits, statistics;
 *  - attention operand strides in both head layouts, against the index
 *    arithmetic of (B, H, L, D) and (B, L, H, D) arrays;
 *  - the flash kernel's tiling: head-dim instantiation, grid covering every
 *    query row and (batch, head), shared memory within the device limit,
 *    async copies only where rows and bases are 16-byte aligned, refusals;
 *  - the group-norm split: every element of a group in exactly one
 *    non-empty block, enough blocks to fill the device. */
#include <string.h>

#include "kernels/cuda/cuda_host_plan.h"
#include "tests/common/ff_test.h"

static ff_err err;

typedef struct {
    int freed[16];
} free_log;

static void log_free(void *user, void *plan) {
    free_log *l = user;
    l->freed[(int)(intptr_t)plan]++;
}

static void test_plan_cache(void) {
    free_log log = {{0}};
    cuda_plan_cache *c = NULL;
    FF_CHECK(cuda_plan_cache_create(0, log_free, &log, &c, &err) == FF_ERR_ARG);
    FF_REQUIRE_OK(cuda_plan_cache_create(3, log_free, &log, &c, &err), &err);
    int64_t k1[4] = {1, 2, 3, 4}, k2[4] = {1, 2, 3, 5}, k3[2] = {1, 2}, k4[4] = {9, 9, 9, 9};
    FF_CHECK(cuda_plan_cache_get(c, k1, sizeof k1) == NULL);
    FF_CHECK_OK(cuda_plan_cache_put(c, k1, sizeof k1, (void *)(intptr_t)1, &err), &err);
    FF_CHECK_OK(cuda_plan_cache_put(c, k2, sizeof k2, (void *)(intptr_t)2, &err), &err);
    FF_CHECK_OK(cuda_plan_cache_put(c, k3, sizeof k3, (void *)(intptr_t)3, &err), &err);
    FF_CHECK(cuda_plan_cache_get(c, k1, sizeof k1) == (void *)(intptr_t)1);
    FF_CHECK(cuda_plan_cache_get(c, k2, sizeof k2) == (void *)(intptr_t)2);
    FF_CHECK(cuda_plan_cache_get(c, k3, sizeof k3) == (void *)(intptr_t)3);
    FF_CHECK(cuda_plan_cache_get(c, k1, 3 * sizeof(int64_t)) == NULL); /* a prefix is another key */
    FF_CHECK(cuda_plan_cache_size(c) == 3);
    /* k1 is now the least recently used after touching k2, k3 */
    FF_CHECK(cuda_plan_cache_get(c, k2, sizeof k2) != NULL);
    FF_CHECK(cuda_plan_cache_get(c, k3, sizeof k3) != NULL);
    FF_CHECK_OK(cuda_plan_cache_put(c, k4, sizeof k4, (void *)(intptr_t)4, &err), &err);
    FF_CHECK(log.freed[1] == 1 && log.freed[2] == 0 && log.freed[3] == 0);
    FF_CHECK(cuda_plan_cache_get(c, k1, sizeof k1) == NULL);
    FF_CHECK(cuda_plan_cache_get(c, k4, sizeof k4) == (void *)(intptr_t)4);
    /* replacing a key frees the old plan; storing the same plan again does not */
    FF_CHECK_OK(cuda_plan_cache_put(c, k4, sizeof k4, (void *)(intptr_t)5, &err), &err);
    FF_CHECK(log.freed[4] == 1);
    FF_CHECK_OK(cuda_plan_cache_put(c, k4, sizeof k4, (void *)(intptr_t)5, &err), &err);
    FF_CHECK(log.freed[5] == 0);
    unsigned char big[CUDA_PLAN_KEY_MAX + 1] = {0};
    FF_CHECK(cuda_plan_cache_put(c, big, sizeof big, (void *)(intptr_t)6, &err) == FF_ERR_ARG);
    FF_CHECK(cuda_plan_cache_put(c, k1, sizeof k1, NULL, &err) == FF_ERR_ARG);
    FF_CHECK(cuda_plan_cache_get(c, big, sizeof big) == NULL);
    const cuda_plan_stats st = cuda_plan_cache_stats(c);
    FF_CHECK(st.evictions == 1);
    FF_CHECK(st.hits == 6 && st.misses == 4);
    cuda_plan_cache_free(c);
    FF_CHECK(log.freed[2] == 1 && log.freed[3] == 1 && log.freed[5] == 1 && log.freed[6] == 0);
    cuda_plan_cache_free(NULL);
}

static void test_head_strides(void) {
    const int64_t B = 2, H = 3, L = 5, D = 7;
    for (int lay = 0; lay < 2; lay++) {
        int64_t s[3];
        cuda_head_strides(lay, H, L, D, s);
        int ok = 1;
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t l = 0; l < L; l++) {
                    const int64_t want = lay ? ((b * L + l) * H + h) * D : ((b * H + h) * L + l) * D;
                    ok = ok && b * s[0] + h * s[1] + l * s[2] == want;
                }
        FF_CHECK_MSG(ok, "layout %d strides (%lld, %lld, %lld)", lay, (long long)s[0], (long long)s[1],
                     (long long)s[2]);
    }
}

static void test_flash_plan(void) {
    char why[160];
    cuda_flash_plan p;
    cuda_flash_shape s = {.B = 2, .H = 12, .Lq = 32760, .Lk = 32760, .D = 128, .Dv = 128, .layout = 1, .in_bf16 = 1,
                          .addr_or = 0x7f0000000000u, .smem_optin = 232448};
    FF_REQUIRE(cuda_flash_plan_make(&s, &p, why, sizeof why) == 0);
    FF_CHECK(p.hd == 128);
    FF_CHECK((int64_t)p.grid_x * CUDA_FLASH_BQ >= s.Lq && (int64_t)(p.grid_x - 1) * CUDA_FLASH_BQ < s.Lq);
    FF_CHECK(p.grid_y == 24);
    FF_CHECK(p.smem <= s.smem_optin && p.smem == (size_t)(128 + CUDA_FLASH_PAD) * 2 * (64 + 4 * 64));
    FF_CHECK(p.async16 == 1);
    FF_CHECK(p.qs[1] == 128 && p.qs[2] == 12 * 128 && p.os[0] == 32760LL * 12 * 128);
    /* small and odd head dims: the 64 instantiation, zero padded; no 16-byte copies of 8-unaligned rows */
    s.D = 40, s.Dv = 24, s.layout = 0, s.Lq = 37;
    FF_REQUIRE(cuda_flash_plan_make(&s, &p, why, sizeof why) == 0);
    FF_CHECK(p.hd == 64 && p.grid_x == 1 && p.async16 == 1 && p.vs[1] == s.Lk * 24);
    s.D = 36;
    FF_REQUIRE(cuda_flash_plan_make(&s, &p, why, sizeof why) == 0);
    FF_CHECK(p.async16 == 0);
    s.D = 40, s.addr_or = 0x1008; /* 8-byte aligned base */
    FF_REQUIRE(cuda_flash_plan_make(&s, &p, why, sizeof why) == 0);
    FF_CHECK(p.async16 == 0);
    s.addr_or = 0, s.in_bf16 = 0; /* F32 operands are converted while staged */
    FF_REQUIRE(cuda_flash_plan_make(&s, &p, why, sizeof why) == 0);
    FF_CHECK(p.async16 == 0);
    s.D = 72, s.Dv = 16;
    FF_REQUIRE(cuda_flash_plan_make(&s, &p, why, sizeof why) == 0);
    FF_CHECK(p.hd == 128);
    /* refusals, with a reason */
    s.D = 192;
    FF_CHECK(cuda_flash_plan_make(&s, &p, why, sizeof why) == -1 && strstr(why, "head dims"));
    s.D = 64, s.B = 70000, s.H = 1;
    FF_CHECK(cuda_flash_plan_make(&s, &p, why, sizeof why) == -1 && strstr(why, "grid"));
    s.B = 1, s.smem_optin = 48 * 1024;
    s.D = 128;
    FF_CHECK(cuda_flash_plan_make(&s, &p, why, sizeof why) == -1 && strstr(why, "shared memory"));
}

static void test_group_norm_plan(void) {
    static const struct {
        int64_t groups, n;
        int sms;
    } cs[] = {{32, 12 * 4 * 120 * 208, 132}, {64, 3 * 3 * 8 * 8, 132}, {1, 1, 132}, {2, 4097, 8}, {1, 1 << 24, 0},
              {1, 8193, 132}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        cuda_gn_plan p;
        cuda_group_norm_plan(cs[i].groups, cs[i].n, cs[i].sms, &p);
        FF_CHECK(p.splits >= 1 && p.chunk >= 1);
        FF_CHECK_MSG((p.splits - 1) * p.chunk < p.n && p.splits * p.chunk >= p.n,
                     "groups %lld n %lld: %lld splits of %lld leave a block empty or elements uncovered",
                     (long long)cs[i].groups, (long long)cs[i].n, (long long)p.splits, (long long)p.chunk);
        if (cs[i].n >= 1 << 20) FF_CHECK(p.groups * p.splits >= 132 * 4 || p.chunk <= 8192);
    }
    cuda_gn_plan p;
    cuda_group_norm_plan(32, 12 * 4 * 120 * 208, 132, &p); /* the 480p VAE decoder's group norms */
    FF_CHECK(p.groups * p.splits >= 132 * 8);
}

int main(void) {
    FF_RUN(test_plan_cache);
    FF_RUN(test_head_strides);
    FF_RUN(test_flash_plan);
    FF_RUN(test_group_norm_plan);
    return ff_test_summary();
}
