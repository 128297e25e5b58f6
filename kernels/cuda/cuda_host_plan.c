/* cuda_host_plan: see cuda_host_plan.h. */
#include "kernels/cuda/cuda_host_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- plan cache: a small array, linear search (tens of entries), LRU by a use counter ---- */

typedef struct {
    unsigned char key[CUDA_PLAN_KEY_MAX];
    size_t n;
    void *plan;
    uint64_t used; /* 0: free slot */
} plan_slot;

struct cuda_plan_cache {
    plan_slot *slots;
    int cap;
    uint64_t clock;
    cuda_plan_free_fn free_fn;
    void *user;
    cuda_plan_stats stats;
};

ff_status cuda_plan_cache_create(int capacity, cuda_plan_free_fn free_fn, void *user, cuda_plan_cache **out,
                                 ff_err *err) {
    *out = NULL;
    if (capacity < 1) return ff_err_set(err, FF_ERR_ARG, "plan cache: capacity %d (want >= 1)", capacity);
    cuda_plan_cache *c = calloc(1, sizeof *c);
    if (c) c->slots = calloc((size_t)capacity, sizeof *c->slots);
    if (!c || !c->slots) {
        free(c);
        return ff_err_set(err, FF_ERR_NOMEM, "plan cache: cannot allocate %d slots", capacity);
    }
    c->cap = capacity;
    c->free_fn = free_fn;
    c->user = user;
    *out = c;
    return FF_OK;
}

static void drop(cuda_plan_cache *c, plan_slot *s) {
    if (c->free_fn && s->plan) c->free_fn(c->user, s->plan);
    memset(s, 0, sizeof *s);
}

void cuda_plan_cache_free(cuda_plan_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->cap; i++)
        if (c->slots[i].used) drop(c, &c->slots[i]);
    free(c->slots);
    free(c);
}

static plan_slot *find(cuda_plan_cache *c, const void *key, size_t n) {
    if (n > CUDA_PLAN_KEY_MAX) return NULL;
    for (int i = 0; i < c->cap; i++) {
        plan_slot *s = &c->slots[i];
        if (s->used && s->n == n && memcmp(s->key, key, n) == 0) return s;
    }
    return NULL;
}

void *cuda_plan_cache_get(cuda_plan_cache *c, const void *key, size_t n) {
    plan_slot *s = find(c, key, n);
    if (!s) {
        c->stats.misses++;
        return NULL;
    }
    c->stats.hits++;
    s->used = ++c->clock;
    return s->plan;
}

ff_status cuda_plan_cache_put(cuda_plan_cache *c, const void *key, size_t n, void *plan, ff_err *err) {
    if (n > CUDA_PLAN_KEY_MAX)
        return ff_err_set(err, FF_ERR_ARG, "plan cache: key of %zu bytes (at most %d)", n, CUDA_PLAN_KEY_MAX);
    if (!plan) return ff_err_set(err, FF_ERR_ARG, "plan cache: NULL plan");
    plan_slot *s = find(c, key, n);
    if (s) {
        if (s->plan != plan) drop(c, s);
    } else {
        plan_slot *lru = NULL;
        for (int i = 0; i < c->cap && !s; i++) {
            if (!c->slots[i].used) s = &c->slots[i];
            else if (!lru || c->slots[i].used < lru->used) lru = &c->slots[i];
        }
        if (!s) {
            drop(c, lru);
            c->stats.evictions++;
            s = lru;
        }
    }
    memcpy(s->key, key, n);
    s->n = n;
    s->plan = plan;
    s->used = ++c->clock;
    return FF_OK;
}

int cuda_plan_cache_size(const cuda_plan_cache *c) {
    int k = 0;
    for (int i = 0; i < c->cap; i++) k += c->slots[i].used != 0;
    return k;
}

cuda_plan_stats cuda_plan_cache_stats(const cuda_plan_cache *c) { return c->stats; }

/* ---- attention ---------------------------------------------------------------- */

void cuda_head_strides(int layout, int64_t H, int64_t L, int64_t n, int64_t s[3]) {
    if (layout == 1) {
        s[0] = L * H * n;
        s[1] = n;
        s[2] = H * n;
    } else {
        s[0] = H * L * n;
        s[1] = L * n;
        s[2] = n;
    }
}

int cuda_flash_plan_make(const cuda_flash_shape *s, cuda_flash_plan *p, char *why, size_t n) {
    memset(p, 0, sizeof *p);
    const int64_t hmax = s->D > s->Dv ? s->D : s->Dv;
    if (hmax > 128 || s->D < 1 || s->Dv < 1) {
        snprintf(why, n, "head dims D=%lld Dv=%lld (the flash kernel takes 1..128)", (long long)s->D,
                 (long long)s->Dv);
        return -1;
    }
    p->hd = hmax <= 64 ? 64 : 128;
    const int64_t tiles = (s->Lq + CUDA_FLASH_BQ - 1) / CUDA_FLASH_BQ, bh = s->B * s->H;
    if (tiles > 0x7fffffff || bh > 65535) {
        snprintf(why, n, "%lld query tiles x %lld (batch x head) rows exceed the grid", (long long)tiles,
                 (long long)bh);
        return -1;
    }
    p->grid_x = (unsigned)tiles;
    p->grid_y = (unsigned)bh;
    const size_t row = (size_t)(p->hd + CUDA_FLASH_PAD) * 2; /* bytes of a padded BF16 row */
    p->smem = row * (CUDA_FLASH_BQ + 4 * CUDA_FLASH_BK);    /* Q, K and V double buffered */
    if (p->smem > s->smem_optin) {
        snprintf(why, n, "the flash kernel needs %zu bytes of shared memory (the device allows %zu)", p->smem,
                 s->smem_optin);
        return -1;
    }
    cuda_head_strides(s->layout, s->H, s->Lq, s->D, p->qs);
    cuda_head_strides(s->layout, s->H, s->Lk, s->D, p->ks);
    cuda_head_strides(s->layout, s->H, s->Lk, s->Dv, p->vs);
    cuda_head_strides(s->layout, s->H, s->Lq, s->Dv, p->os);
    /* 16-byte copies need 8-element rows (every stride is a multiple of D or Dv) and aligned bases */
    p->async16 = s->in_bf16 && s->D % 8 == 0 && s->Dv % 8 == 0 && (s->addr_or & 15u) == 0;
    return 0;
}

/* ---- group norm ---------------------------------------------------------------- */

#define GN_MIN_CHUNK 4096 /* elements: below this a block's fixed costs dominate */

void cuda_group_norm_plan(int64_t groups, int64_t n, int sm_count, cuda_gn_plan *p) {
    p->groups = groups;
    p->n = n;
    const int64_t target = (int64_t)(sm_count > 0 ? sm_count : 80) * 8; /* blocks in flight, several per SM */
    int64_t splits = groups > 0 ? (target + groups - 1) / groups : 1;
    const int64_t most = n > GN_MIN_CHUNK ? (n + GN_MIN_CHUNK - 1) / GN_MIN_CHUNK : 1;
    if (splits > most) splits = most;
    if (splits < 1) splits = 1;
    int64_t chunk = (n + splits - 1) / splits;
    chunk = (chunk + 3) & ~(int64_t)3; /* whole float4 steps where the group is aligned */
    if (chunk < 1) chunk = 1;
    p->splits = chunk > 0 ? (n + chunk - 1) / chunk : 1; /* never an empty block */
    if (p->splits < 1) p->splits = 1;
    p->chunk = chunk;
}
