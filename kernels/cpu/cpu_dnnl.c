/* cpu_dnnl: oneDNN engine, streams and the primitive cache of one CPU
 * backend (see cpu_dnnl.h and cpu_dnnl_internal.h).
 *
 * Primitives are created inside a one-thread OpenMP region whose
 * nthreads-var is set to 1: oneDNN (built on OpenMP) then plans them for a
 * single thread, and the setting ends with the region, so nothing global
 * changes. The cache is a small array with least-recently-used eviction;
 * a key is the whole problem, compared bytewise. */
#ifdef FF_HAVE_DNNL

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_dnnl_internal.h"

#define CACHE_CAP 512 /* primitives kept per backend (a Wan VAE decode uses ~150) */

ff_status cpu_dnnl_create(cpu_dnnl **out, ff_err *err) {
    *out = NULL;
    cpu_dnnl *d = calloc(1, sizeof *d);
    if (!d) return ff_err_set(err, FF_ERR_NOMEM, "cpu backend: cannot allocate the oneDNN state");
    d->cap = CACHE_CAP;
    d->ent = calloc((size_t)d->cap, sizeof *d->ent);
    if (!d->ent || dnnl_engine_create(&d->eng, dnnl_cpu, 0) != dnnl_success) {
        free(d->ent);
        free(d);
        return ff_err_set(err, FF_ERR_DEVICE, "cpu backend: oneDNN has no CPU engine");
    }
    *out = d;
    return FF_OK;
}

void cpu_dnnl_free(cpu_dnnl *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) dnnl_primitive_destroy(d->ent[i].prim);
    for (int i = 0; i < d->nstreams; i++) dnnl_stream_destroy(d->streams[i]);
    free(d->streams);
    free(d->ent);
    dnnl_engine_destroy(d->eng);
    free(d);
}

void cpu_dnnl_describe(char *buf, size_t n) {
    const dnnl_version_t *v = dnnl_version();
    static const char *const isa[] = {"?", "sse41", "avx", "avx2", "avx512_core", "avx512_core_vnni",
                                      "avx512_core_bf16", "amx"};
    const dnnl_cpu_isa_t got = dnnl_get_effective_cpu_isa();
    const char *name = got == dnnl_cpu_isa_sse41              ? isa[1]
                       : got == dnnl_cpu_isa_avx              ? isa[2]
                       : got == dnnl_cpu_isa_avx2             ? isa[3]
                       : got == dnnl_cpu_isa_avx512_core      ? isa[4]
                       : got == dnnl_cpu_isa_avx512_core_vnni ? isa[5]
                       : got == dnnl_cpu_isa_avx512_core_bf16 ? isa[6]
                       : got == dnnl_cpu_isa_avx512_core_amx  ? isa[7]
                                                              : isa[0];
    snprintf(buf, n, "oneDNN %d.%d.%d (cpu isa %s)", v->major, v->minor, v->patch, name);
}

ff_status cpu_dnnl_streams(cpu_dnnl *d, int n, ff_err *err) {
    if (n <= d->nstreams) return FF_OK;
    dnnl_stream_t *s = realloc(d->streams, (size_t)n * sizeof *s);
    if (!s) return ff_err_set(err, FF_ERR_NOMEM, "cpu backend: cannot allocate oneDNN streams");
    d->streams = s;
    for (; d->nstreams < n; d->nstreams++)
        if (dnnl_stream_create(&d->streams[d->nstreams], d->eng, dnnl_stream_default_flags) != dnnl_success)
            return ff_err_set(err, FF_ERR_DEVICE, "cpu backend: cannot create a oneDNN stream");
    return FF_OK;
}

/* ---- the cache ----------------------------------------------------------- */

const cpu_dnnl_prim *cpu_dnnl_find(cpu_dnnl *d, const cpu_dnnl_key *key) {
    for (int i = 0; i < d->n; i++)
        if (!memcmp(&d->ent[i].key, key, sizeof *key)) {
            d->ent[i].used = ++d->clock;
            return &d->ent[i];
        }
    return NULL;
}

/* Creates the primitive of pd (taking pd) and files it under key. */
static const cpu_dnnl_prim *cache_put(cpu_dnnl *d, const cpu_dnnl_key *key, dnnl_primitive_desc_t pd) {
    cpu_dnnl_prim p = {.key = *key};
    const dnnl_memory_desc_t *md;
    const dnnl_query_t q[3] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md};
    for (int i = 0; i < 3; i++)
        if ((md = dnnl_primitive_desc_query_md(pd, q[i], 0))) p.md[i] = *md;
    if ((md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0))) p.scratch = dnnl_memory_desc_get_size(md);
    const char *impl = "";
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(p.impl, sizeof p.impl, "%s", impl);
    dnnl_status_t s = dnnl_primitive_create(&p.prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) return NULL;
    int slot = d->n;
    if (d->n == d->cap) { /* evict the least recently used */
        slot = 0;
        for (int i = 1; i < d->n; i++)
            if (d->ent[i].used < d->ent[slot].used) slot = i;
        dnnl_primitive_destroy(d->ent[slot].prim);
    } else {
        d->n++;
    }
    p.used = ++d->clock;
    d->ent[slot] = p;
    return &d->ent[slot];
}

/* Runs make(arg) -> pd in a one-thread region with nthreads-var 1, so that
 * oneDNN plans for one thread; NULL when there is no implementation. */
const cpu_dnnl_prim *cpu_dnnl_get(cpu_dnnl *d, const cpu_dnnl_key *key, cpu_dnnl_make_fn make, const void *arg) {
    const cpu_dnnl_prim *p = cpu_dnnl_find(d, key);
    if (p) return p;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
#pragma omp parallel num_threads(1)
    {
        omp_set_num_threads(1); /* this region's ICV only */
        if (make(d->eng, attr, arg, &pd) != dnnl_success) pd = NULL;
        if (pd) p = cache_put(d, key, pd);
    }
    dnnl_primitive_attr_destroy(attr);
    return p;
}

/* ---- reorders -------------------------------------------------------------- */

typedef struct {
    const dnnl_memory_desc_t *from, *to;
} reorder_arg;

static dnnl_status_t make_reorder(dnnl_engine_t eng, dnnl_primitive_attr_t attr, const void *a,
                                  dnnl_primitive_desc_t *pd) {
    const reorder_arg *r = a;
    return dnnl_reorder_primitive_desc_create(pd, r->from, eng, r->to, eng, attr);
}

const cpu_dnnl_prim *cpu_dnnl_reorder(cpu_dnnl *d, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to) {
    cpu_dnnl_key key;
    memset(&key, 0, sizeof key);
    key.v[0] = CPU_DNNL_REORDER;
    memcpy(key.md, from, sizeof *from);
    memcpy(key.md + 1, to, sizeof *to);
    const reorder_arg r = {from, to};
    return cpu_dnnl_get(d, &key, make_reorder, &r);
}

/* ---- execution ---------------------------------------------------------------- */

int cpu_dnnl_exec(cpu_dnnl *d, const cpu_dnnl_prim *p, int tid, int n, const int *args, void *const *ptrs,
                  const dnnl_memory_desc_t *const *mds, void *scratch) {
    /* This task's ICV only (every caller runs inside its own OpenMP region):
     * the primitive's parallel_nd then runs serially, as it was planned. In
     * a team of one (--threads 1, a farm worker's share) the region is
     * inactive, so without it oneDNN opened a nested team of nthreads-var
     * threads -- new threads on every call. */
    omp_set_num_threads(1);
    dnnl_exec_arg_t ea[8];
    dnnl_memory_t mem[8];
    int k = 0, ok = 1;
    for (int i = 0; i < n && i < 7; i++, k++) {
        if (dnnl_memory_create(&mem[k], mds[i], d->eng, ptrs[i]) != dnnl_success) {
            ok = 0;
            break;
        }
        ea[k] = (dnnl_exec_arg_t){args[i], mem[k]};
    }
    if (ok && p->scratch) {
        dnnl_memory_desc_t smd;
        const dnnl_dims_t dims = {(int64_t)p->scratch};
        if (dnnl_memory_desc_init_by_tag(&smd, 1, dims, dnnl_u8, dnnl_a) != dnnl_success ||
            dnnl_memory_create(&mem[k], &smd, d->eng, scratch) != dnnl_success)
            ok = 0;
        else
            ea[k] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[k]}, k++;
    }
    if (ok && dnnl_primitive_execute(p->prim, d->streams[tid], k, ea) != dnnl_success) ok = 0;
    for (int i = 0; i < k; i++) dnnl_memory_destroy(mem[i]);
    return ok;
}

#endif
