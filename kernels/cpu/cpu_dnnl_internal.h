/* cpu_dnnl_internal: what cpu_dnnl.c, cpu_conv_dnnl.c and cpu_gemm_dnnl.c
 * share (internal to kernels/cpu/, FF_HAVE_DNNL builds only): the state
 * behind cpu_dnnl, the primitive cache and single-threaded execution.
 * See cpu_dnnl.h for the contract. */
#ifndef FF_CPU_DNNL_INTERNAL_H
#define FF_CPU_DNNL_INTERNAL_H

#ifdef FF_HAVE_DNNL

#include <oneapi/dnnl/dnnl.h>

#include "kernels/cpu/cpu_dnnl.h"

enum { CPU_DNNL_REORDER = 1, CPU_DNNL_CONV = 2, CPU_DNNL_MATMUL = 3 };

/* A problem, compared bytewise (memset to 0 before filling): v[0] is the
 * kind, the rest of v its sizes; md holds memory descriptors where the
 * problem is given by them (reorders). */
typedef struct {
    int64_t v[32];
    dnnl_memory_desc_t md[2];
} cpu_dnnl_key;

typedef struct {
    cpu_dnnl_key key;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t md[3]; /* src, weights, dst as the primitive chose them (zeros when absent) */
    size_t scratch;           /* bytes of user scratchpad one execution needs */
    char impl[48];            /* oneDNN's implementation name, for benches */
    uint64_t used;            /* clock of the last lookup (LRU) */
} cpu_dnnl_prim;

struct cpu_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t *streams; /* one per worker thread */
    int nstreams;
    cpu_dnnl_prim *ent;
    int n, cap;
    uint64_t clock;
};

/* Makes a primitive descriptor for arg with attr (scratchpad user mode set). */
typedef dnnl_status_t (*cpu_dnnl_make_fn)(dnnl_engine_t eng, dnnl_primitive_attr_t attr, const void *arg,
                                          dnnl_primitive_desc_t *pd);

/* The cached primitive for key, made (for one thread) by make on a miss;
 * NULL when oneDNN has no implementation. The pointer is valid until the
 * next cpu_dnnl_get / cpu_dnnl_reorder call, which may evict it: look up
 * every primitive a call needs first, then run. */
const cpu_dnnl_prim *cpu_dnnl_get(cpu_dnnl *d, const cpu_dnnl_key *key, cpu_dnnl_make_fn make, const void *arg);
const cpu_dnnl_prim *cpu_dnnl_find(cpu_dnnl *d, const cpu_dnnl_key *key);
/* A (single-threaded) reorder from one layout to another. */
const cpu_dnnl_prim *cpu_dnnl_reorder(cpu_dnnl *d, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to);
/* At least n streams (call before a parallel region that uses tids < n). */
ff_status cpu_dnnl_streams(cpu_dnnl *d, int n, ff_err *err);
/* Executes p on thread tid's stream with n (arg, pointer, md) triples and
 * scratch (p->scratch bytes, or NULL when 0); 1 on success. */
int cpu_dnnl_exec(cpu_dnnl *d, const cpu_dnnl_prim *p, int tid, int n, const int *args, void *const *ptrs,
                  const dnnl_memory_desc_t *const *mds, void *scratch);

#endif
#endif
