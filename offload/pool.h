/* pool (ff_pool_*): memory pools with a byte budget, current and peak use.
 *
 * A device pool is attached to a backend (ff_pool_attach): from then on every
 * ff_be_alloc on that backend is counted against the pool's budget and an
 * allocation that would exceed it fails with FF_ERR_BUDGET:
 *   "over budget: needs 48.0 MiB (32.0 MiB in use), budget 64.0 MiB, in transformer/blocks.3"
 * instead of an out-of-memory crash. On the CPU backend the device pool
 * stands in for VRAM: the same budget and peak, over host memory. The pool
 * is a budget-tracking layer over the backend's own allocator (cudaMalloc on
 * CUDA, calloc on CPU), not an arena: it never hands out a byte the backend
 * did not allocate, and a free returns it to the backend at once.
 *
 * A host pool (ff_pool_host_alloc/free) is the same accounting over host
 * memory, for the staging buffers of block streaming; ff_pool_host_alloc_pinned
 * counts a backend's page-locked host memory (ff_be_host_alloc: cudaHostAlloc
 * on CUDA, calloc on CPU) the same way.
 *
 * The label names what is running ("transformer/blocks.3"); callers set it
 * per stage and block so that a budget error says where it happened. Peaks
 * can be reset per stage (ff_pool_reset_peak) and read back.
 *
 * Thread-safe: one mutex guards the counters and the pointer table (block
 * streaming allocates on one thread and copies on another).
 *
 * Ownership: ff_pool_create returns an owned pool (ff_pool_free). An attached
 * pool must be detached (ff_pool_detach) before it or the backend is freed;
 * blocks still allocated when a pool is freed are the caller's leak (their
 * count is in ff_pool_stats). Not here: what to place where (offload.h),
 * the planner (plan.h). */
#ifndef FF_POOL_H
#define FF_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "kernels/ops.h"

typedef struct ff_pool ff_pool;

/* The label buffer size: "<component>/<block>" */
#define FF_POOL_LABEL_MAX 96

typedef struct {
    size_t budget;    /* 0: unlimited */
    size_t cur;       /* bytes allocated now */
    size_t peak;      /* most bytes allocated at once since create / the last reset */
    size_t n_blocks;  /* live allocations */
    size_t n_allocs;  /* allocations granted since create */
    size_t n_refused; /* allocations refused for the budget */
} ff_pool_stats;

/* name: "device" / "host", used in messages. budget 0 = unlimited. */
ff_status ff_pool_create(const char *name, size_t budget, ff_pool **out, ff_err *err);
void ff_pool_free(ff_pool *p); /* NULL is a no-op; must be detached */

/* Routes every ff_be_alloc / ff_be_free of be through p (ops.h ff_be_meter).
 * Blocks allocated before attach are not counted (their free is ignored).
 * FF_ERR_ARG when be already has a meter. */
ff_status ff_pool_attach(ff_pool *p, ff_backend *be, ff_err *err);
/* Removes p's hook from the backend it is attached to (no-op if none). */
void ff_pool_detach(ff_pool *p);

void ff_pool_set_budget(ff_pool *p, size_t budget);
/* printf-style label for budget errors ("transformer/blocks.3"). */
void ff_pool_set_label(ff_pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies the current label into buf (n bytes). */
void ff_pool_label(ff_pool *p, char *buf, size_t n);

void ff_pool_stats_get(ff_pool *p, ff_pool_stats *s);
/* peak = cur (start of a stage). */
void ff_pool_reset_peak(ff_pool *p);

/* Host pool: nbytes of zeroed host memory counted against the budget. */
ff_status ff_pool_host_alloc(ff_pool *p, size_t nbytes, void **ptr, ff_err *err);
void ff_pool_host_free(ff_pool *p, void *ptr); /* NULL is a no-op */
/* Host pool over pinned memory: t from ff_be_host_alloc(be, ...), its bytes
 * counted against the budget (FF_ERR_BUDGET before the backend is called).
 * Freed with ff_pool_host_free_pinned (same pool and backend). */
ff_status ff_pool_host_alloc_pinned(ff_pool *p, ff_backend *be, ff_tensor *t, ff_dtype dt, int ndim,
                                    const int64_t *shape, ff_err *err);
void ff_pool_host_free_pinned(ff_pool *p, ff_backend *be, ff_tensor *t); /* t->data NULL is a no-op */

/* "1.50 GiB" / "12.0 MiB" / "512 B" into buf; returns buf. */
const char *ff_pool_fmt_bytes(size_t bytes, char *buf, size_t n);
/* Parses "8GiB", "8G", "512MiB", "1.5GB", "1073741824" (binary units for
 * K/M/G/T with or without "iB"; "B" suffix optional). 0 on success. */
int ff_pool_parse_bytes(const char *s, size_t *out);

#endif
