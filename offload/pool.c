/* pool: budget accounting over a backend's allocator (see pool.h).
 *
 * Live blocks are kept in an open-addressing table keyed by pointer (linear
 * probing, tombstones, grown at 1/2 load) so that a free knows its size even
 * when the caller reshaped or re-viewed the tensor. A reservation is counted
 * in `cur` before the backend allocates, so two threads can never both fit
 * into the last free bytes. */
#include "offload/pool.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



#define TOMB ((void *)(uintptr_t)1)

typedef struct {
    void *ptr; /* NULL: empty, TOMB: deleted */
    size_t nbytes;
} slot;

struct ff_pool {
    char name[16];
    pthread_mutex_t mu;
    size_t budget, cur, peak, n_live, n_allocs, n_refused;
    char label[FF_POOL_LABEL_MAX];
    slot *tab;
    size_t cap, used; /* used: live + tombstones */
    ff_be_meter meter;
    ff_backend *be; /* attached backend or NULL */
};

const char *ff_pool_fmt_bytes(size_t b, char *buf, size_t n) {
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (b < 1024) {
        snprintf(buf, n, "%zu B", b);
        return buf;
    }
    double v = (double)b;
    int u = -1;
    while (v >= 1024.0 && u < 3) v /= 1024.0, u++;
    snprintf(buf, n, v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, units[u]);
    return buf;
}

int ff_pool_parse_bytes(const char *s, size_t *out) {
    if (!s || !*s) return -1;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno || end == s || !(v >= 0)) return -1;
    while (*end == ' ') end++;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0, end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024, end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024, end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024, end++; break;
    default: break;
    }
    if (mul > 1 && *end == 'i') end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return -1;
    double r = floor(v * mul + 0.5);
    if (r > 1.8e19) return -1;
    *out = (size_t)r;
    return 0;
}

/* ---- pointer table (mutex held) ------------------------------------------ */

static size_t hash_ptr(const void *p, size_t cap) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)(x & (cap - 1));
}

static int tab_grow(ff_pool *p) {
    size_t ncap = p->cap ? p->cap * 2 : 64;
    if (p->n_live * 4 < p->cap) ncap = p->cap; /* mostly tombstones: rehash in place size */
    slot *nt = calloc(ncap, sizeof *nt);
    if (!nt) return -1;
    for (size_t i = 0; i < p->cap; i++) {
        void *q = p->tab[i].ptr;
        if (!q || q == TOMB) continue;
        size_t h = hash_ptr(q, ncap);
        while (nt[h].ptr) h = (h + 1) & (ncap - 1);
        nt[h] = p->tab[i];
    }
    free(p->tab);
    p->tab = nt;
    p->cap = ncap;
    p->used = p->n_live;
    return 0;
}

static int tab_put(ff_pool *p, void *ptr, size_t nbytes) {
    if ((p->used + 1) * 2 > p->cap && tab_grow(p)) return -1;
    size_t h = hash_ptr(ptr, p->cap);
    while (p->tab[h].ptr && p->tab[h].ptr != TOMB) h = (h + 1) & (p->cap - 1);
    if (!p->tab[h].ptr) p->used++;
    p->tab[h].ptr = ptr;
    p->tab[h].nbytes = nbytes;
    p->n_live++;
    return 0;
}

/* Removes ptr; returns its size, or SIZE_MAX when it is not in the table. */
static size_t tab_take(ff_pool *p, const void *ptr) {
    if (!p->cap) return SIZE_MAX;
    size_t h = hash_ptr(ptr, p->cap);
    for (size_t k = 0; k < p->cap && p->tab[h].ptr; k++, h = (h + 1) & (p->cap - 1)) {
        if (p->tab[h].ptr == ptr) {
            size_t nb = p->tab[h].nbytes;
            p->tab[h].ptr = TOMB;
            p->n_live--;
            return nb;
        }
    }
    return SIZE_MAX;
}

/* ---- accounting ------------------------------------------------------------ */

static ff_status over_budget(ff_pool *p, size_t nbytes, ff_err *err) {
    char a[32], b[32], c[32];
    p->n_refused++;
    return ff_err_set(err, FF_ERR_BUDGET, "over budget: %s pool needs %s (%s in use), budget %s, in %s", p->name,
                      ff_pool_fmt_bytes(nbytes, a, sizeof a), ff_pool_fmt_bytes(p->cur, b, sizeof b),
                      ff_pool_fmt_bytes(p->budget, c, sizeof c), p->label[0] ? p->label : "(unlabelled)");
}

static ff_status reserve(void *user, size_t nbytes, ff_err *err) {
    ff_pool *p = user;
    pthread_mutex_lock(&p->mu);
    ff_status st = FF_OK;
    if (p->budget && (nbytes > p->budget || p->cur > p->budget - nbytes))
        st = over_budget(p, nbytes, err);
    else {
        p->cur += nbytes;
        if (p->cur > p->peak) p->peak = p->cur;
    }
    pthread_mutex_unlock(&p->mu);
    return st;
}

static void commit(void *user, void *ptr, size_t nbytes) {
    ff_pool *p = user;
    pthread_mutex_lock(&p->mu);
    if (!ptr || tab_put(p, ptr, nbytes)) {
        /* failed allocation, or no room to remember the block: do not count it
         * (a block we cannot find at free time must not stay in cur forever) */
        p->cur -= nbytes;
    } else {
        p->n_allocs++;
    }
    pthread_mutex_unlock(&p->mu);
}

static void release(void *user, void *ptr) {
    ff_pool *p = user;
    pthread_mutex_lock(&p->mu);
    size_t nb = tab_take(p, ptr);
    if (nb != SIZE_MAX) p->cur -= nb;
    pthread_mutex_unlock(&p->mu);
}

/* ---- public ------------------------------------------------------------------ */

ff_status ff_pool_create(const char *name, size_t budget, ff_pool **out, ff_err *err) {
    *out = NULL;
    ff_pool *p = calloc(1, sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate a memory pool");
    if (pthread_mutex_init(&p->mu, NULL)) {
        free(p);
        return ff_err_set(err, FF_ERR_INTERNAL, "pool: pthread_mutex_init failed");
    }
    snprintf(p->name, sizeof p->name, "%s", name ? name : "pool");
    p->budget = budget;
    p->meter.reserve = reserve;
    p->meter.commit = commit;
    p->meter.release = release;
    p->meter.user = p;
    *out = p;
    return FF_OK;
}

void ff_pool_free(ff_pool *p) {
    if (!p) return;
    ff_pool_detach(p);
    pthread_mutex_destroy(&p->mu);
    free(p->tab);
    free(p);
}

ff_status ff_pool_attach(ff_pool *p, ff_backend *be, ff_err *err) {
    if (!p || !be) return ff_err_set(err, FF_ERR_ARG, "ff_pool_attach: pool or backend is NULL");
    if (ff_backend_meter(be) && ff_backend_meter(be) != &p->meter)
        return ff_err_set(err, FF_ERR_ARG, "ff_pool_attach: backend %s already has a memory pool", ff_backend_name(be));
    if (p->be && p->be != be)
        return ff_err_set(err, FF_ERR_ARG, "ff_pool_attach: the %s pool is already attached to %s", p->name,
                          ff_backend_name(p->be));
    ff_backend_set_meter(be, &p->meter);
    p->be = be;
    return FF_OK;
}

void ff_pool_detach(ff_pool *p) {
    if (!p || !p->be) return;
    if (ff_backend_meter(p->be) == &p->meter) ff_backend_set_meter(p->be, NULL);
    p->be = NULL;
}

void ff_pool_set_budget(ff_pool *p, size_t budget) {
    pthread_mutex_lock(&p->mu);
    p->budget = budget;
    pthread_mutex_unlock(&p->mu);
}

void ff_pool_set_label(ff_pool *p, const char *fmt, ...) {
    char buf[FF_POOL_LABEL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&p->mu);
    memcpy(p->label, buf, sizeof buf);
    pthread_mutex_unlock(&p->mu);
}

void ff_pool_label(ff_pool *p, char *buf, size_t n) {
    pthread_mutex_lock(&p->mu);
    snprintf(buf, n, "%s", p->label);
    pthread_mutex_unlock(&p->mu);
}

void ff_pool_stats_get(ff_pool *p, ff_pool_stats *s) {
    pthread_mutex_lock(&p->mu);
    s->budget = p->budget;
    s->cur = p->cur;
    s->peak = p->peak;
    s->n_blocks = p->n_live;
    s->n_allocs = p->n_allocs;
    s->n_refused = p->n_refused;
    pthread_mutex_unlock(&p->mu);
}

void ff_pool_reset_peak(ff_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->peak = p->cur;
    pthread_mutex_unlock(&p->mu);
}

ff_status ff_pool_host_alloc(ff_pool *p, size_t nbytes, void **ptr, ff_err *err) {
    *ptr = NULL;
    ff_status st = reserve(p, nbytes, err);
    if (st) return st;
    void *q = calloc(nbytes ? nbytes : 1, 1);
    commit(p, q, nbytes);
    if (!q) return ff_err_set(err, FF_ERR_NOMEM, "%s pool: cannot allocate %zu bytes", p->name, nbytes);
    *ptr = q;
    return FF_OK;
}

void ff_pool_host_free(ff_pool *p, void *ptr) {
    if (!ptr) return;
    release(p, ptr);
    free(ptr);
}

ff_status ff_pool_host_alloc_pinned(ff_pool *p, ff_backend *be, ff_tensor *t, ff_dtype dt, int ndim,
                                    const int64_t *shape, ff_err *err) {
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > FF_MAX_DIMS || (ndim && !shape) || (int)dt < 0 || dt >= FF_DTYPE_COUNT)
        return ff_err_set(err, FF_ERR_ARG, "ff_pool_host_alloc_pinned: bad shape or dtype");
    size_t nbytes = ff_dtype_size(dt);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && nbytes > SIZE_MAX / (size_t)shape[i]))
            return ff_err_set(err, FF_ERR_ARG, "ff_pool_host_alloc_pinned: bad shape");
        nbytes *= (size_t)shape[i];
    }
    ff_status st = reserve(p, nbytes, err);
    if (st) return st;
    st = ff_be_host_alloc(be, t, dt, ndim, shape, err);
    commit(p, st ? NULL : t->data, nbytes);
    return st;
}

void ff_pool_host_free_pinned(ff_pool *p, ff_backend *be, ff_tensor *t) {
    if (!t->data) return;
    release(p, t->data);
    ff_be_host_free(be, t);
}
