/* kernels/ops.c: the backend-independent half of kernels/ops.h.
 *
 * Creates and frees backends, moves tensors on and off them, and checks every
 * op call once for all backends: dtypes (activations F32, linear/conv
 * weights F32 or BF16, ids I32/I64), that every tensor lives where the
 * backend computes, exact output shapes, broadcasting and aliasing rules.
 * A call that does not fit returns FF_ERR_SHAPE (FF_ERR_ARG for impossible
 * scalars, NULLs, wrong memory or forbidden aliasing) with a message naming
 * the op and the shapes; a backend without the op returns
 * FF_ERR_UNSUPPORTED. Only then is the backend's function called, so
 * backends may assume well-formed arguments (kernels/backend_impl.h).
 * Also the generic halves of the async-upload API: host allocation,
 * synchronous uploads and no-op events for backends without their own.
 *
 * Not here: any arithmetic (kernels/cpu/, kernels/cuda/), memory budgets
 * (offload/). */
#include "kernels/ops.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend_impl.h"

/* ---- checking helpers ------------------------------------------------------ */

/* Who is checking: the message prefix ("op linear"), the backend, the error. */
typedef struct {
    const char *what;
    const ff_backend *be;
    ff_err *err;
} opctx;

#define TRY(expr)                                                                                                  \
    do {                                                                                                           \
        ff_status st_ = (expr);                                                                                    \
        if (st_ != FF_OK) return st_;                                                                              \
    } while (0)

#define DT(d) (1u << (d))
#define M_F32 DT(FF_F32)
#define M_WEIGHT (DT(FF_F32) | DT(FF_BF16))
#define M_IDS (DT(FF_I32) | DT(FF_I64))
#define M_FLOATS (DT(FF_F32) | DT(FF_BF16) | DT(FF_F16))
#define M_ANY (DT(FF_DTYPE_COUNT) - 1u)

#define DESC 112 /* "BF16[" + 6 dims of up to 19 digits */

static ff_status fail(const opctx *c, ff_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static ff_status fail(const opctx *c, ff_status code, const char *fmt, ...) {
    char msg[FF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ff_err_set(c->err, code, "%s: %s", c->what, msg);
}

static const char *desc(const ff_tensor *t, char *buf) { return ff_tensor_describe(t, buf, DESC); }

static const char *loc_name(ff_loc loc) { return loc == FF_LOC_HOST ? "host" : "device"; }

/* Two or three tensors that do not fit together, and the rule they break:
 * "op linear: x F32[3, 7], w F32[4, 5]: w.shape[1] must equal x.shape[-1]". */
static ff_status misfit(const opctx *c, const char *rule, const char *n1, const ff_tensor *t1, const char *n2,
                        const ff_tensor *t2, const char *n3, const ff_tensor *t3) {
    char d1[DESC], d2[DESC], d3[DESC];
    if (n3 && t3)
        return fail(c, FF_ERR_SHAPE, "%s %s, %s %s, %s %s: %s", n1, desc(t1, d1), n2, desc(t2, d2), n3,
                    desc(t3, d3), rule);
    return fail(c, FF_ERR_SHAPE, "%s %s, %s %s: %s", n1, desc(t1, d1), n2, desc(t2, d2), rule);
}

static ff_status check_be(const opctx *c) {
    if (!c->be || !c->be->vt) return ff_err_set(c->err, FF_ERR_ARG, "%s: backend is NULL", c->what);
    return FF_OK;
}

static ff_status need_impl(const opctx *c, int present) {
    if (present) return FF_OK;
    return ff_err_set(c->err, FF_ERR_UNSUPPORTED, "%s not implemented on backend %s", c->what, c->be->name);
}

/* A tensor that exists, has one of `dtypes`, sane dims, data, and lives at loc. */
static ff_status check_at(const opctx *c, const char *name, const ff_tensor *t, unsigned dtypes, ff_loc loc) {
    char d[DESC];
    if (!t) return fail(c, FF_ERR_ARG, "%s is NULL", name);
    if (t->ndim < 0 || t->ndim > FF_MAX_DIMS) return fail(c, FF_ERR_SHAPE, "%s has %d dims", name, t->ndim);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 0) return fail(c, FF_ERR_SHAPE, "%s %s has a negative dim", name, desc(t, d));
    if ((unsigned)t->dtype >= FF_DTYPE_COUNT || !(dtypes & DT(t->dtype))) {
        char want[64] = "";
        size_t k = 0;
        for (int i = 0; i < FF_DTYPE_COUNT && k < sizeof want; i++)
            if (dtypes & DT(i))
                k += (size_t)snprintf(want + k, sizeof want - k, "%s%s", k ? " or " : "", ff_dtype_name(i));
        return fail(c, FF_ERR_SHAPE, "%s %s has dtype %s, expected %s", name, desc(t, d), ff_dtype_name(t->dtype),
                    want);
    }
    if (t->loc != loc)
        return fail(c, FF_ERR_ARG, "%s %s is in %s memory, expected %s memory (backend %s)", name, desc(t, d),
                    loc_name(t->loc), loc_name(loc), c->be->name);
    if (loc == c->be->loc && t->owner && t->owner != (const void *)c->be)
        return fail(c, FF_ERR_ARG, "%s %s belongs to backend %s, not %s (tensors of one backend are not another's)", name,
                    desc(t, d), ((const ff_backend *)t->owner)->name, c->be->name);
    if (!t->data && ff_tensor_numel(t) > 0) return fail(c, FF_ERR_ARG, "%s %s has no data", name, desc(t, d));
    return FF_OK;
}

/* Same, on the backend's own memory. */
static ff_status check(const opctx *c, const char *name, const ff_tensor *t, unsigned dtypes) {
    return check_at(c, name, t, dtypes, c->be->loc);
}

static ff_status need_ndim(const opctx *c, const char *name, const ff_tensor *t, int lo, int hi) {
    if (t->ndim >= lo && t->ndim <= hi) return FF_OK;
    char d[DESC];
    if (lo == hi) return fail(c, FF_ERR_SHAPE, "%s %s has %d dims, expected %d", name, desc(t, d), t->ndim, lo);
    return fail(c, FF_ERR_SHAPE, "%s %s has %d dims, expected %d to %d", name, desc(t, d), t->ndim, lo, hi);
}

/* The one "same shape" rule. */
static ff_status need_same(const opctx *c, const char *an, const ff_tensor *a, const char *bn, const ff_tensor *b) {
    if (ff_tensor_same_shape(a, b)) return FF_OK;
    return misfit(c, "shapes must be equal", an, a, bn, b, NULL, NULL);
}

/* out must have exactly the result shape. */
static ff_status need_result(const opctx *c, const ff_tensor *out, int ndim, const int64_t *shape) {
    ff_tensor want;
    ff_tensor_view(&want, out->dtype, ndim, shape, NULL, out->loc);
    if (ff_tensor_same_shape(out, &want)) return FF_OK;
    char d1[DESC], d2[DESC];
    return fail(c, FF_ERR_SHAPE, "out %s should be %s", desc(out, d1), desc(&want, d2));
}

/* An optional per-channel F32 vector of n values: (n) or (n, 1, ..., 1). */
static ff_status need_vector(const opctx *c, const char *name, const ff_tensor *t, int64_t n, const char *of) {
    if (!t) return FF_OK;
    TRY(check(c, name, t, M_F32));
    int ok = t->ndim >= 1 && t->shape[0] == n;
    for (int i = 1; i < t->ndim; i++) ok = ok && t->shape[i] == 1;
    if (ok) return FF_OK;
    char d[DESC];
    return fail(c, FF_ERR_SHAPE, "%s %s should be [%lld] (%s)", name, desc(t, d), (long long)n, of);
}

/* Aligns t's dims to the right of an nd-dim target shape; each must be 1 or
 * equal. Writes t's shape padded with leading 1s; 0 on success. */
static int expand_to(const ff_tensor *t, int nd, const int64_t *target, int64_t *expanded) {
    if (t->ndim > nd) return -1;
    for (int i = 0; i < nd; i++) {
        int j = i - (nd - t->ndim);
        expanded[i] = j >= 0 ? t->shape[j] : 1;
        if (expanded[i] != target[i] && expanded[i] != 1) return -1;
    }
    return 0;
}

/* NumPy broadcast shape of a and b; 0 on success. */
static int broadcast_shape(const ff_tensor *a, const ff_tensor *b, int *nd, int64_t *shape) {
    *nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < *nd; i++) {
        int ia = i - (*nd - a->ndim), ib = i - (*nd - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        shape[i] = da == 1 ? db : da;
    }
    return 0;
}

static int overlaps(const ff_tensor *a, const ff_tensor *b) {
    size_t na = ff_tensor_nbytes(a), nb = ff_tensor_nbytes(b);
    if (!na || !nb || !a->data || !b->data) return 0;
    uintptr_t pa = (uintptr_t)a->data, pb = (uintptr_t)b->data;
    return pa < pb + nb && pb < pa + na;
}

/* out may share no byte with the inputs given as NULL-terminated (name,
 * tensor) pairs (NULL tensors skipped), except that with first_in_place the
 * first input may be exactly out (same bytes, same dtype and shape). */
static ff_status check_alias(const opctx *c, const ff_tensor *out, int first_in_place, ...) {
    va_list ap;
    va_start(ap, first_in_place);
    ff_status st = FF_OK;
    for (int i = 0;; i++) {
        const char *name = va_arg(ap, const char *);
        if (!name) break;
        const ff_tensor *in = va_arg(ap, const ff_tensor *);
        if (!in || !overlaps(out, in)) continue;
        if (i == 0 && first_in_place && in->data == out->data && in->dtype == out->dtype &&
            ff_tensor_same_shape(in, out))
            continue;
        char d1[DESC], d2[DESC];
        st = fail(c, FF_ERR_ARG, "out %s overlaps %s %s%s", desc(out, d1), name, desc(in, d2),
                  i == 0 && first_in_place ? " (only exact in-place use is allowed)" : " (not allowed)");
        break;
    }
    va_end(ap);
    return st;
}

static int empty(const ff_tensor *t) { return ff_tensor_numel(t) == 0; }

/* A copy of t's header with another shape (same bytes): conv2d as conv3d. */
static ff_tensor reshaped(const ff_tensor *t, int ndim, const int64_t *shape) {
    ff_tensor v = *t;
    v.ndim = ndim;
    for (int i = 0; i < FF_MAX_DIMS; i++) v.shape[i] = i < ndim ? shape[i] : 1;
    v.owns = 0;
    return v;
}

static int norm_axis(int axis, int ndim) { return axis < 0 ? axis + ndim : axis; }

/* ---- backends ---------------------------------------------------------------- */

typedef ff_status (*backend_init_fn)(ff_backend *be, int arg, ff_err *err);

static ff_status backend_create(backend_init_fn init, int arg, ff_backend **out, ff_err *err) {
    if (!out) return ff_err_set(err, FF_ERR_ARG, "backend create: out is NULL");
    *out = NULL;
    ff_backend *be = calloc(1, sizeof *be);
    if (!be) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate a backend");
    ff_status st = init(be, arg, err);
    if (st) {
        free(be);
        return st;
    }
    *out = be;
    return FF_OK;
}

ff_status ff_backend_cpu_create(int threads, ff_backend **out, ff_err *err) {
    return backend_create(ff_cpu_backend_init, threads, out, err);
}

ff_status ff_backend_cuda_create(int device, ff_backend **out, ff_err *err) {
    if (device < 0) {
        if (out) *out = NULL;
        return ff_err_set(err, FF_ERR_ARG, "CUDA device %d: ordinals start at 0", device);
    }
    /* without CUDA this is kernels/cuda_stub's "built without CUDA" */
    return backend_create(ff_cuda_backend_init, device, out, err);
}

ff_status ff_backend_create_by_name(const char *name, int cpu_threads, ff_backend **out, ff_err *err) {
    if (out) *out = NULL;
    if (!name) return ff_err_set(err, FF_ERR_ARG, "backend name is NULL");
    if (strcmp(name, "cpu") == 0) return ff_backend_cpu_create(cpu_threads, out, err);
    if (strcmp(name, "cuda") == 0) return ff_backend_cuda_create(0, out, err);
    if (strncmp(name, "cuda:", 5) == 0) {
        const char *s = name + 5;
        char *end = NULL;
        errno = 0;
        long dev = strtol(s, &end, 10);
        if (*s >= '0' && *s <= '9' && end && *end == '\0' && errno == 0 && dev <= INT_MAX)
            return ff_backend_cuda_create((int)dev, out, err);
    }
    return ff_err_set(err, FF_ERR_ARG, "unknown backend '%s' (expected cpu, cuda or cuda:N)", name);
}

void ff_backend_free(ff_backend *be) {
    if (!be) return;
    if (be->vt && be->vt->destroy) be->vt->destroy(be);
    free(be);
}

const char *ff_backend_name(const ff_backend *be) { return be ? be->name : "(none)"; }

const char *ff_backend_info(ff_backend *be, char *buf, size_t n) {
    if (!buf || !n) return "";
    if (!be || !be->vt) {
        snprintf(buf, n, "(none)");
        return buf;
    }
    int k = snprintf(buf, n, "%s", be->name);
    if (be->vt->info && k >= 0 && (size_t)k + 2 < n) {
        snprintf(buf + k, n - (size_t)k, ": ");
        be->vt->info(be, buf + k + 2, n - (size_t)k - 2);
    }
    return buf;
}

ff_backend_kind ff_backend_kind_of(const ff_backend *be) { return be ? be->kind : FF_BACKEND_CPU; }

int ff_backend_cuda_compiled(void) {
#ifdef FF_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int ff_backend_cuda_describe(char *buf, size_t n) { return ff_cuda_describe_devices(buf, n); }

ff_status ff_backend_set_precision(ff_backend *be, ff_precision prec, ff_err *err) {
    opctx c = {"ff_backend_set_precision", be, err};
    TRY(check_be(&c));
    if ((unsigned)prec >= FF_PREC_COUNT) return fail(&c, FF_ERR_ARG, "unknown precision %d", (int)prec);
    be->prec = prec;
    return FF_OK;
}

ff_precision ff_backend_precision(const ff_backend *be) { return be ? be->prec : FF_PREC_F32; }

const char *ff_precision_name(ff_precision prec) {
    switch (prec) {
    case FF_PREC_F32: return "f32";
    case FF_PREC_BF16: return "bf16";
    case FF_PREC_BF16_ALL: return "bf16-all";
    default: return "(unknown precision)";
    }
}

int ff_precision_parse(const char *name, ff_precision *out) {
    if (!name || !out) return -1;
    if (!strcmp(name, "f32") || !strcmp(name, "fp32")) *out = FF_PREC_F32;
    else if (!strcmp(name, "bf16")) *out = FF_PREC_BF16;
    else if (!strcmp(name, "bf16-all")) *out = FF_PREC_BF16_ALL;
    else return -1;
    return 0;
}

/* ---- memory on the backend ------------------------------------------------------ */

ff_status ff_be_alloc(ff_backend *be, ff_tensor *t, ff_dtype dt, int ndim, const int64_t *shape, ff_err *err) {
    opctx c = {"ff_be_alloc", be, err};
    if (!t) return fail(&c, FF_ERR_ARG, "tensor is NULL");
    memset(t, 0, sizeof *t);
    TRY(check_be(&c));
    size_t nbytes;
    if (ndim > 0 && !shape) return fail(&c, FF_ERR_ARG, "shape is NULL");
    ff_status st = ff_shape_check(dt, ndim, shape, 0, &nbytes, err);
    if (st) {
        if (err) ff_err_wrap(err, "ff_be_alloc on %s", be->name);
        return st;
    }
    void *p = NULL;
    const ff_be_meter *m = be->meter;
    if (m) TRY(m->reserve(m->user, nbytes, err));
    st = be->vt->alloc(be, nbytes, &p, err);
    if (m) m->commit(m->user, st == FF_OK ? p : NULL, nbytes);
    if (st) return st;
    ff_tensor_view(t, dt, ndim, shape, p, be->loc);
    t->owner = be;
    return FF_OK;
}

ff_status ff_be_release(ff_backend *be, ff_tensor *t, ff_err *err) {
    if (!t) return FF_OK;
    if (t->data && t->owner && t->owner != (const void *)be) {
        char d[DESC];
        return ff_err_set(err, FF_ERR_ARG, "ff_be_free: %s belongs to backend %s, not %s: not freed", desc(t, d),
                          ((const ff_backend *)t->owner)->name, be ? be->name : "(none)");
    }
    if (be && be->vt && t->data) {
        if (be->meter) be->meter->release(be->meter->user, t->data);
        be->vt->free(be, t->data);
    }
    memset(t, 0, sizeof *t);
    return FF_OK;
}

void ff_be_free(ff_backend *be, ff_tensor *t) {
    ff_status st = ff_be_release(be, t, NULL);
    assert(st == FF_OK && "ff_be_free of another backend's tensor"); /* left allocated, never freed by the wrong one */
    (void)st;
}

void ff_backend_set_meter(ff_backend *be, const ff_be_meter *meter) {
    if (be) be->meter = meter;
}

const ff_be_meter *ff_backend_meter(const ff_backend *be) { return be ? be->meter : NULL; }

/* Host <-> backend copies: equal dtype and shape, each side where it belongs. */
static ff_status check_transfer(const opctx *c, const ff_tensor *on_be, const char *be_name, const ff_tensor *host,
                                const char *host_name) {
    TRY(check_be(c));
    TRY(check(c, be_name, on_be, M_ANY));
    TRY(check_at(c, host_name, host, M_ANY, FF_LOC_HOST));
    if (on_be->dtype != host->dtype || !ff_tensor_same_shape(on_be, host))
        return misfit(c, "dtype and shape must be equal", be_name, on_be, host_name, host, NULL, NULL);
    return FF_OK;
}

ff_status ff_be_upload(ff_backend *be, ff_tensor *dst, const ff_tensor *host_src, ff_err *err) {
    opctx c = {"ff_be_upload", be, err};
    TRY(check_transfer(&c, dst, "dst", host_src, "host_src"));
    return be->vt->upload(be, dst->data, host_src->data, ff_tensor_nbytes(dst), err);
}

ff_status ff_be_download(ff_backend *be, ff_tensor *host_dst, const ff_tensor *src, ff_err *err) {
    opctx c = {"ff_be_download", be, err};
    TRY(check_transfer(&c, src, "src", host_dst, "host_dst"));
    return be->vt->download(be, host_dst->data, src->data, ff_tensor_nbytes(src), err);
}

ff_status ff_be_sync(ff_backend *be, ff_err *err) {
    opctx c = {"ff_be_sync", be, err};
    TRY(check_be(&c));
    return be->vt->sync ? be->vt->sync(be, err) : FF_OK;
}

/* ---- async uploads and events (generic fallbacks where a backend has none) --------- */

struct ff_be_event {
    const ff_backend *be; /* the creator: an event is only used with its backend */
    void *impl;           /* the backend's handle; NULL where events are no-ops */
};

ff_status ff_be_host_alloc(ff_backend *be, ff_tensor *t, ff_dtype dt, int ndim, const int64_t *shape, ff_err *err) {
    opctx c = {"ff_be_host_alloc", be, err};
    if (!t) return fail(&c, FF_ERR_ARG, "tensor is NULL");
    memset(t, 0, sizeof *t);
    TRY(check_be(&c));
    if (ndim > 0 && !shape) return fail(&c, FF_ERR_ARG, "shape is NULL");
    size_t nbytes;
    ff_status st = ff_shape_check(dt, ndim, shape, 0, &nbytes, err);
    if (st) {
        if (err) ff_err_wrap(err, "ff_be_host_alloc on %s", be->name);
        return st;
    }
    void *p = NULL;
    if (be->vt->host_alloc) {
        TRY(be->vt->host_alloc(be, nbytes, &p, err));
    } else if (!(p = calloc(nbytes ? nbytes : 1, 1))) {
        return fail(&c, FF_ERR_NOMEM, "cannot allocate %zu bytes of host memory for backend %s", nbytes, be->name);
    }
    ff_tensor_view(t, dt, ndim, shape, p, FF_LOC_HOST);
    return FF_OK;
}

void ff_be_host_free(ff_backend *be, ff_tensor *t) {
    if (!t) return;
    if (be && be->vt && t->data) {
        if (be->vt->host_free) be->vt->host_free(be, t->data);
        else free(t->data);
    }
    memset(t, 0, sizeof *t);
}

ff_status ff_be_upload_async(ff_backend *be, ff_tensor *dst, const ff_tensor *host_src, ff_err *err) {
    opctx c = {"ff_be_upload_async", be, err};
    TRY(check_transfer(&c, dst, "dst", host_src, "host_src"));
    const size_t n = ff_tensor_nbytes(dst);
    if (!n) return FF_OK;
    if (be->vt->upload_async) return be->vt->upload_async(be, dst->data, host_src->data, n, err);
    return be->vt->upload(be, dst->data, host_src->data, n, err);
}

ff_status ff_be_event_create(ff_backend *be, ff_be_event **out, ff_err *err) {
    opctx c = {"ff_be_event_create", be, err};
    if (!out) return fail(&c, FF_ERR_ARG, "out is NULL");
    *out = NULL;
    TRY(check_be(&c));
    ff_be_event *ev = calloc(1, sizeof *ev);
    if (!ev) return fail(&c, FF_ERR_NOMEM, "cannot allocate an event");
    ev->be = be;
    if (be->vt->event_create) {
        ff_status st = be->vt->event_create(be, &ev->impl, err);
        if (st) {
            free(ev);
            return st;
        }
    }
    *out = ev;
    return FF_OK;
}

void ff_be_event_free(ff_backend *be, ff_be_event *ev) {
    if (!ev) return;
    if (ev->impl && be && be->vt && be->vt->event_free) be->vt->event_free(be, ev->impl);
    free(ev);
}

/* The event exists and belongs to this backend. */
static ff_status check_event(const opctx *c, const ff_be_event *ev) {
    TRY(check_be(c));
    if (!ev) return fail(c, FF_ERR_ARG, "event is NULL");
    if (ev->be != c->be)
        return fail(c, FF_ERR_ARG, "the event belongs to backend %s, not %s", ev->be ? ev->be->name : "(none)",
                    c->be->name);
    return FF_OK;
}

static ff_status event_record(ff_backend *be, ff_be_event *ev, int on_copy, const char *what, ff_err *err) {
    opctx c = {what, be, err};
    TRY(check_event(&c, ev));
    return ev->impl && be->vt->event_record ? be->vt->event_record(be, ev->impl, on_copy, err) : FF_OK;
}

ff_status ff_be_event_record_copy(ff_backend *be, ff_be_event *ev, ff_err *err) {
    return event_record(be, ev, 1, "ff_be_event_record_copy", err);
}

ff_status ff_be_event_record_compute(ff_backend *be, ff_be_event *ev, ff_err *err) {
    return event_record(be, ev, 0, "ff_be_event_record_compute", err);
}

ff_status ff_be_wait_event_compute(ff_backend *be, ff_be_event *ev, ff_err *err) {
    opctx c = {"ff_be_wait_event_compute", be, err};
    TRY(check_event(&c, ev));
    return ev->impl && be->vt->event_wait_compute ? be->vt->event_wait_compute(be, ev->impl, err) : FF_OK;
}

ff_status ff_be_event_sync(ff_backend *be, ff_be_event *ev, ff_err *err) {
    opctx c = {"ff_be_event_sync", be, err};
    TRY(check_event(&c, ev));
    return ev->impl && be->vt->event_sync ? be->vt->event_sync(be, ev->impl, err) : FF_OK;
}

/* ---- matrix ops -------------------------------------------------------------------- */

ff_status ff_op_linear(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_tensor *out,
                       ff_err *err) {
    opctx c = {"op linear", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "x", x, M_F32));
    TRY(need_ndim(&c, "x", x, 1, FF_MAX_DIMS));
    TRY(check(&c, "w", w, M_WEIGHT));
    TRY(need_ndim(&c, "w", w, 2, 2));
    TRY(check(&c, "out", out, M_F32));
    const int nd = x->ndim;
    if (w->shape[1] != x->shape[nd - 1])
        return misfit(&c, "w.shape[1] must equal x.shape[-1]", "x", x, "w", w, NULL, NULL);
    TRY(need_vector(&c, "b", b, w->shape[0], "w.shape[0]"));
    int64_t shape[FF_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[nd - 1] = w->shape[0];
    TRY(need_result(&c, out, nd, shape));
    TRY(check_alias(&c, out, 0, "x", x, "w", w, "b", b, NULL));
    TRY(need_impl(&c, be->vt->linear != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->linear(be, x, w, b, out, err);
}

ff_status ff_op_matmul(ff_backend *be, const ff_tensor *a, const ff_tensor *b, int trans_a, int trans_b, float alpha,
                       ff_tensor *out, ff_err *err) {
    opctx c = {"op matmul", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "a", a, M_F32));
    TRY(need_ndim(&c, "a", a, 2, FF_MAX_DIMS));
    TRY(check(&c, "b", b, M_F32));
    TRY(need_ndim(&c, "b", b, 2, FF_MAX_DIMS));
    TRY(check(&c, "out", out, M_F32));
    const int na = a->ndim, nb = b->ndim;
    const int64_t m = trans_a ? a->shape[na - 1] : a->shape[na - 2], k = trans_a ? a->shape[na - 2] : a->shape[na - 1];
    const int64_t kb = trans_b ? b->shape[nb - 1] : b->shape[nb - 2], n = trans_b ? b->shape[nb - 2] : b->shape[nb - 1];
    const int b_batched = nb > 2;
    if (b_batched && (nb != na || memcmp(a->shape, b->shape, (size_t)(na - 2) * sizeof(int64_t)) != 0))
        return misfit(&c, "b must be 2-D or have a's leading dims", "a", a, "b", b, NULL, NULL);
    if (k != kb) return misfit(&c, "the inner dims of op(a) and op(b) differ", "a", a, "b", b, NULL, NULL);
    int64_t shape[FF_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[na - 2] = m;
    shape[na - 1] = n;
    TRY(need_result(&c, out, na, shape));
    TRY(check_alias(&c, out, 0, "a", a, "b", b, NULL));
    TRY(need_impl(&c, be->vt->matmul != NULL));
    if (empty(out)) return FF_OK;
    int64_t batch = 1;
    for (int i = 0; i < na - 2; i++) batch *= a->shape[i];
    return be->vt->matmul(be, a, b, trans_a != 0, trans_b != 0, alpha, batch, m, n, k, b_batched, out, err);
}

/* Everything conv2d and conv3d check, over nsp spatial dims: x (B, C, *sp),
 * w (O, C, *k), b (O), stride[nsp] >= 1, pad[2 nsp] >= 0 (before, after per
 * dim), out (B, O, *((sp + before + after - k) / stride + 1)). */
/* frames > 0: the input has that many frames (dim 2) in place of x's own
 * (conv3d_frames: x is the first piece). */
static ff_status conv_checks_frames(const opctx *c, int nsp, const ff_tensor *x, int64_t frames, const ff_tensor *w,
                                    const ff_tensor *b, const int *stride, const int *pad, ff_tensor *out) {
    TRY(check_be(c));
    TRY(check(c, "x", x, M_F32));
    TRY(need_ndim(c, "x", x, 2 + nsp, 2 + nsp));
    TRY(check(c, "w", w, M_WEIGHT));
    TRY(need_ndim(c, "w", w, 2 + nsp, 2 + nsp));
    TRY(check(c, "out", out, M_F32));
    if (!stride || !pad) return fail(c, FF_ERR_ARG, "stride or pad is NULL");
    if (w->shape[1] != x->shape[1])
        return misfit(c, "w.shape[1] (input channels) must equal x.shape[1]", "x", x, "w", w, NULL, NULL);
    int64_t shape[FF_MAX_DIMS] = {x->shape[0], w->shape[0]};
    for (int i = 0; i < nsp; i++) {
        if (stride[i] < 1) return fail(c, FF_ERR_ARG, "stride[%d] = %d (must be >= 1)", i, stride[i]);
        if (pad[2 * i] < 0 || pad[2 * i + 1] < 0)
            return fail(c, FF_ERR_ARG, "pad[%d], pad[%d] = %d, %d (must be >= 0)", 2 * i, 2 * i + 1, pad[2 * i],
                        pad[2 * i + 1]);
        const int64_t in = (i == 0 && nsp == 3 && frames > 0) ? frames : x->shape[2 + i];
        const int64_t kd = w->shape[2 + i], padded = in + pad[2 * i] + pad[2 * i + 1];
        if (kd < 1 || padded < kd)
            return misfit(c, "the padded input is smaller than the kernel", "x", x, "w", w, NULL, NULL);
        shape[2 + i] = (padded - kd) / stride[i] + 1;
    }
    TRY(need_vector(c, "b", b, w->shape[0], "w.shape[0]"));
    TRY(need_result(c, out, 2 + nsp, shape));
    TRY(check_alias(c, out, 0, "x", x, "w", w, "b", b, NULL));
    return need_impl(c, c->be->vt->conv3d != NULL);
}

static ff_status conv_checks(const opctx *c, int nsp, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                             const int *stride, const int *pad, ff_tensor *out) {
    return conv_checks_frames(c, nsp, x, 0, w, b, stride, pad, out);
}

ff_status ff_op_conv3d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                       const int stride[3], const int pad[6], ff_tensor *out, ff_err *err) {
    opctx c = {"op conv3d", be, err};
    TRY(conv_checks(&c, 3, x, w, b, stride, pad, out));
    if (empty(out)) return FF_OK;
    return be->vt->conv3d(be, x, w, b, stride, pad, out, err);
}

#define CONV_FRAMES_MAX 8

ff_status ff_op_conv3d_frames(ff_backend *be, const ff_tensor *const *xs, int n, const ff_tensor *w,
                              const ff_tensor *b, const int stride[3], const int pad[6], ff_tensor *out, ff_err *err) {
    opctx c = {"op conv3d_frames", be, err};
    TRY(check_be(&c));
    if (!xs || n < 1 || n > CONV_FRAMES_MAX)
        return fail(&c, FF_ERR_ARG, "%d inputs (want 1 to %d)", xs ? n : 0, CONV_FRAMES_MAX);
    char name[32];
    int64_t f = 0;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "xs[%d]", i);
        TRY(check(&c, name, xs[i], M_F32));
        TRY(need_ndim(&c, name, xs[i], 5, 5));
        for (int d = 0; d < 5; d++)
            if (d != 2 && xs[i]->shape[d] != xs[0]->shape[d])
                return misfit(&c, "inputs must agree in every dim but frames (dim 2)", "xs[0]", xs[0], name, xs[i],
                              NULL, NULL);
        f += xs[i]->shape[2];
    }
    const int64_t cs[5] = {xs[0]->shape[0], xs[0]->shape[1], f, xs[0]->shape[3], xs[0]->shape[4]};
    TRY(conv_checks_frames(&c, 3, xs[0], f, w, b, stride, pad, out));
    for (int i = 1; i < n; i++) {
        snprintf(name, sizeof name, "xs[%d]", i);
        TRY(check_alias(&c, out, 0, name, xs[i], NULL));
    }
    if (empty(out)) return FF_OK;
    if (n == 1) return be->vt->conv3d(be, xs[0], w, b, stride, pad, out, err);
    if (be->vt->conv3d_frames) return be->vt->conv3d_frames(be, xs, n, w, b, stride, pad, out, err);
    ff_tensor cat = {0}; /* generic: the copy, then conv3d */
    ff_status st = ff_be_alloc(be, &cat, FF_F32, 5, cs, err);
    if (!st) st = ff_op_concat(be, xs, n, 2, &cat, err);
    if (!st) st = be->vt->conv3d(be, &cat, w, b, stride, pad, out, err);
    ff_be_free(be, &cat);
    return st;
}

ff_status ff_op_conv2d(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                       const int stride[2], const int pad[4], ff_tensor *out, ff_err *err) {
    opctx c = {"op conv2d", be, err};
    TRY(conv_checks(&c, 2, x, w, b, stride, pad, out));
    if (empty(out)) return FF_OK;
    /* (N, C, H, W) -> (N, C, 1, H, W): a conv3d with kt = 1 and no time padding */
    const int64_t xs[5] = {x->shape[0], x->shape[1], 1, x->shape[2], x->shape[3]};
    const int64_t ws[5] = {w->shape[0], w->shape[1], 1, w->shape[2], w->shape[3]};
    const int64_t os[5] = {out->shape[0], out->shape[1], 1, out->shape[2], out->shape[3]};
    const ff_tensor x5 = reshaped(x, 5, xs), w5 = reshaped(w, 5, ws);
    ff_tensor o5 = reshaped(out, 5, os);
    const int stride3[3] = {1, stride[0], stride[1]};
    const int pad6[6] = {0, 0, pad[0], pad[1], pad[2], pad[3]};
    return be->vt->conv3d(be, &x5, &w5, b, stride3, pad6, &o5, err);
}

/* ---- normalisations ------------------------------------------------------------------ */

/* x F32 with at least min_ndim dims, out F32 of x's shape (in place allowed). */
static ff_status check_pointwise(const opctx *c, const ff_tensor *x, int min_ndim, const ff_tensor *out) {
    TRY(check_be(c));
    TRY(check(c, "x", x, M_F32));
    TRY(need_ndim(c, "x", x, min_ndim, FF_MAX_DIMS));
    TRY(check(c, "out", out, M_F32));
    return need_same(c, "out", out, "x", x);
}

ff_status ff_op_group_norm(ff_backend *be, const ff_tensor *x, int groups, const ff_tensor *gamma,
                           const ff_tensor *beta, float eps, ff_tensor *out, ff_err *err) {
    opctx c = {"op group_norm", be, err};
    TRY(check_pointwise(&c, x, 2, out));
    char d[DESC];
    if (groups < 1 || x->shape[1] % groups != 0)
        return fail(&c, FF_ERR_SHAPE, "x %s: %lld channels do not split into %d groups", desc(x, d),
                    (long long)x->shape[1], groups);
    TRY(need_vector(&c, "gamma", gamma, x->shape[1], "x.shape[1]"));
    TRY(need_vector(&c, "beta", beta, x->shape[1], "x.shape[1]"));
    TRY(check_alias(&c, out, 1, "x", x, "gamma", gamma, "beta", beta, NULL));
    TRY(need_impl(&c, be->vt->group_norm != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->group_norm(be, x, groups, gamma, beta, eps, out, err);
}

ff_status ff_op_layer_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, float eps,
                           ff_tensor *out, ff_err *err) {
    opctx c = {"op layer_norm", be, err};
    TRY(check_pointwise(&c, x, 1, out));
    TRY(need_vector(&c, "w", w, x->shape[x->ndim - 1], "x.shape[-1]"));
    TRY(need_vector(&c, "b", b, x->shape[x->ndim - 1], "x.shape[-1]"));
    TRY(check_alias(&c, out, 1, "x", x, "w", w, "b", b, NULL));
    TRY(need_impl(&c, be->vt->layer_norm != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->layer_norm(be, x, w, b, eps, out, err);
}

ff_status ff_op_rms_norm(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, ff_tensor *out,
                         ff_err *err) {
    opctx c = {"op rms_norm", be, err};
    TRY(check_pointwise(&c, x, 1, out));
    TRY(need_vector(&c, "w", w, x->shape[x->ndim - 1], "x.shape[-1]"));
    TRY(check_alias(&c, out, 1, "x", x, "w", w, NULL));
    TRY(need_impl(&c, be->vt->rms_norm != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->rms_norm(be, x, w, eps, out, err);
}

ff_status ff_op_l2norm_channels(ff_backend *be, const ff_tensor *x, const ff_tensor *gamma, const ff_tensor *beta,
                                float scale, float eps, ff_tensor *out, ff_err *err) {
    opctx c = {"op l2norm_channels", be, err};
    TRY(check_pointwise(&c, x, 2, out));
    TRY(need_vector(&c, "gamma", gamma, x->shape[1], "x.shape[1]"));
    TRY(need_vector(&c, "beta", beta, x->shape[1], "x.shape[1]"));
    TRY(check_alias(&c, out, 1, "x", x, "gamma", gamma, "beta", beta, NULL));
    TRY(need_impl(&c, be->vt->l2norm_channels != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->l2norm_channels(be, x, gamma, beta, scale, eps, out, err);
}

ff_status ff_op_softmax(ff_backend *be, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    opctx c = {"op softmax", be, err};
    TRY(check_pointwise(&c, x, 1, out));
    TRY(check_alias(&c, out, 1, "x", x, NULL));
    TRY(need_impl(&c, be->vt->softmax != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->softmax(be, x, out, err);
}

/* ---- elementwise ----------------------------------------------------------------------- */

ff_status ff_op_unary(ff_backend *be, ff_unary_kind kind, const ff_tensor *x, ff_tensor *out, ff_err *err) {
    opctx c = {"op unary", be, err};
    if ((unsigned)kind >= FF_UNARY_COUNT) return fail(&c, FF_ERR_ARG, "unknown unary kind %d", (int)kind);
    TRY(check_pointwise(&c, x, 0, out));
    TRY(check_alias(&c, out, 1, "x", x, NULL));
    TRY(need_impl(&c, be->vt->unary != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->unary(be, kind, x, out, err);
}

ff_status ff_op_binary(ff_backend *be, ff_binary_kind kind, const ff_tensor *a, const ff_tensor *b, ff_tensor *out,
                       ff_err *err) {
    opctx c = {"op binary", be, err};
    if ((unsigned)kind >= FF_BIN_COUNT) return fail(&c, FF_ERR_ARG, "unknown binary kind %d", (int)kind);
    TRY(check_be(&c));
    TRY(check(&c, "a", a, M_F32));
    TRY(check(&c, "b", b, M_F32));
    TRY(check(&c, "out", out, M_F32));
    int nd;
    int64_t shape[FF_MAX_DIMS], as[FF_MAX_DIMS], bs[FF_MAX_DIMS];
    if (broadcast_shape(a, b, &nd, shape) != 0)
        return misfit(&c, "shapes do not broadcast", "a", a, "b", b, NULL, NULL);
    TRY(need_result(&c, out, nd, shape));
    expand_to(a, nd, shape, as);
    expand_to(b, nd, shape, bs);
    TRY(check_alias(&c, out, 1, "a", a, "b", b, NULL));
    TRY(need_impl(&c, be->vt->binary != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->binary(be, kind, a, as, b, bs, out, err);
}

ff_status ff_op_scale(ff_backend *be, const ff_tensor *x, float alpha, float beta, ff_tensor *out, ff_err *err) {
    opctx c = {"op scale", be, err};
    TRY(check_pointwise(&c, x, 0, out));
    TRY(check_alias(&c, out, 1, "x", x, NULL));
    TRY(need_impl(&c, be->vt->scale != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->scale(be, x, alpha, beta, out, err);
}

ff_status ff_op_clamp(ff_backend *be, const ff_tensor *x, float lo, float hi, ff_tensor *out, ff_err *err) {
    opctx c = {"op clamp", be, err};
    TRY(check_pointwise(&c, x, 0, out));
    TRY(check_alias(&c, out, 1, "x", x, NULL));
    TRY(need_impl(&c, be->vt->clamp != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->clamp(be, x, lo, hi, out, err);
}

ff_status ff_op_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *shift, const ff_tensor *scale,
                         ff_tensor *out, ff_err *err) {
    opctx c = {"op modulate", be, err};
    TRY(check_pointwise(&c, x, 3, out));
    TRY(need_ndim(&c, "x", x, 3, 3));
    TRY(check(&c, "shift", shift, M_F32));
    TRY(check(&c, "scale", scale, M_F32));
    /* shift/scale must be (B|1, L|1, D): D itself never broadcasts */
    int64_t ss[3], cs[3];
    if (expand_to(shift, 3, x->shape, ss) || ss[2] != x->shape[2])
        return misfit(&c, "shift must broadcast to x as (B|1, L|1, D)", "x", x, "shift", shift, NULL, NULL);
    if (expand_to(scale, 3, x->shape, cs) || cs[2] != x->shape[2])
        return misfit(&c, "scale must broadcast to x as (B|1, L|1, D)", "x", x, "scale", scale, NULL, NULL);
    TRY(check_alias(&c, out, 1, "x", x, "shift", shift, "scale", scale, NULL));
    TRY(need_impl(&c, be->vt->modulate != NULL));
    if (empty(out)) return FF_OK;
    const ff_tensor shift3 = reshaped(shift, 3, ss), scale3 = reshaped(scale, 3, cs);
    return be->vt->modulate(be, x, &shift3, &scale3, out, err);
}

ff_status ff_op_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *cos, const ff_tensor *sin,
                     ff_tensor *out, ff_err *err) {
    opctx c = {"op rope", be, err};
    TRY(check_pointwise(&c, x, 4, out));
    TRY(need_ndim(&c, "x", x, 4, 4));
    TRY(check(&c, "cos", cos, M_F32));
    TRY(check(&c, "sin", sin, M_F32));
    char d[DESC];
    if (x->shape[3] % 2 != 0) return fail(&c, FF_ERR_SHAPE, "x %s: the head dim must be even", desc(x, d));
    const int64_t cs_shape[2] = {x->shape[1], x->shape[3]};
    ff_tensor want;
    ff_tensor_view(&want, FF_F32, 2, cs_shape, NULL, x->loc);
    if (!ff_tensor_same_shape(cos, &want) || !ff_tensor_same_shape(sin, &want))
        return misfit(&c, "cos and sin must be (L, D) of x (B, L, H, D)", "x", x, "cos", cos, "sin", sin);
    TRY(check_alias(&c, out, 1, "x", x, "cos", cos, "sin", sin, NULL));
    TRY(need_impl(&c, be->vt->rope != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->rope(be, x, cos, sin, out, err);
}

/* ---- attention -------------------------------------------------------------------------- */

ff_status ff_op_sdpa(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                     const ff_tensor *bias, float scale, ff_tensor *out, ff_err *err) {
    opctx c = {"op sdpa", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "q", q, M_F32));
    TRY(need_ndim(&c, "q", q, 4, 4));
    TRY(check(&c, "k", k, M_F32));
    TRY(need_ndim(&c, "k", k, 4, 4));
    TRY(check(&c, "v", v, M_F32));
    TRY(need_ndim(&c, "v", v, 4, 4));
    TRY(check(&c, "out", out, M_F32));
    if (k->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] || k->shape[3] != q->shape[3] ||
        v->shape[0] != q->shape[0] || v->shape[1] != q->shape[1] || v->shape[2] != k->shape[2])
        return misfit(&c, "want q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv)", "q", q, "k", k, "v", v);
    const int64_t shape[4] = {q->shape[0], q->shape[1], q->shape[2], v->shape[3]};
    TRY(need_result(&c, out, 4, shape));
    int64_t bias_shape[4] = {1, 1, 1, 1};
    if (bias) {
        TRY(check(&c, "bias", bias, M_F32));
        const int64_t scores[4] = {q->shape[0], q->shape[1], q->shape[2], k->shape[2]};
        if (expand_to(bias, 4, scores, bias_shape) != 0)
            return misfit(&c, "bias must broadcast to (B, H, Lq, Lk)", "q", q, "k", k, "bias", bias);
    }
    TRY(check_alias(&c, out, 0, "q", q, "k", k, "v", v, "bias", bias, NULL));
    TRY(need_impl(&c, be->vt->sdpa != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->sdpa(be, q, k, v, bias, bias_shape, scale, out, err);
}

/* ---- layout ------------------------------------------------------------------------------- */

ff_status ff_op_upsample_nearest2d(ff_backend *be, const ff_tensor *x, int fh, int fw, ff_tensor *out,
                                   ff_err *err) {
    opctx c = {"op upsample_nearest2d", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "x", x, M_F32));
    TRY(need_ndim(&c, "x", x, 4, 4));
    TRY(check(&c, "out", out, M_F32));
    if (fh < 1 || fw < 1) return fail(&c, FF_ERR_ARG, "factors %d x %d (must be >= 1)", fh, fw);
    const int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2] * fh, x->shape[3] * fw};
    TRY(need_result(&c, out, 4, shape));
    TRY(check_alias(&c, out, 0, "x", x, NULL));
    TRY(need_impl(&c, be->vt->upsample_nearest2d != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->upsample_nearest2d(be, x, fh, fw, out, err);
}

ff_status ff_op_pad_replicate3d(ff_backend *be, const ff_tensor *x, const int pad[6], ff_tensor *out, ff_err *err) {
    opctx c = {"op pad_replicate3d", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "x", x, M_F32));
    TRY(need_ndim(&c, "x", x, 5, 5));
    TRY(check(&c, "out", out, M_F32));
    if (!pad) return fail(&c, FF_ERR_ARG, "pad is NULL");
    for (int i = 0; i < 6; i++)
        if (pad[i] < 0 || pad[i] > (1 << 20))
            return fail(&c, FF_ERR_ARG, "pad[%d] = %d (must be in [0, 2^20])", i, pad[i]);
    if (ff_tensor_numel(x) == 0 && ff_tensor_numel(out) != 0)
        return fail(&c, FF_ERR_SHAPE, "cannot replicate-pad an empty tensor");
    const int64_t shape[5] = {x->shape[0], x->shape[1], x->shape[2] + pad[0] + pad[1], x->shape[3] + pad[2] + pad[3],
                              x->shape[4] + pad[4] + pad[5]};
    TRY(need_result(&c, out, 5, shape));
    TRY(check_alias(&c, out, 0, "x", x, NULL));
    TRY(need_impl(&c, be->vt->pad_replicate3d != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->pad_replicate3d(be, x, pad, out, err);
}

ff_status ff_op_concat(ff_backend *be, const ff_tensor *const *xs, int n, int axis, ff_tensor *out, ff_err *err) {
    opctx c = {"op concat", be, err};
    TRY(check_be(&c));
    if (!xs || n < 1) return fail(&c, FF_ERR_ARG, "%d inputs (want at least 1)", xs ? n : 0);
    TRY(check(&c, "out", out, M_F32));
    char name[32];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "xs[%d]", i);
        TRY(check(&c, name, xs[i], M_F32));
    }
    const int nd = xs[0]->ndim, ax = norm_axis(axis, nd);
    if (ax < 0 || ax >= nd) return fail(&c, FF_ERR_ARG, "axis %d is out of range for %d dims", axis, nd);
    int64_t shape[FF_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    for (int i = 1; i < n; i++) {
        int ok = xs[i]->ndim == nd;
        for (int d = 0; ok && d < nd; d++) ok = d == ax || xs[i]->shape[d] == shape[d];
        if (!ok) {
            snprintf(name, sizeof name, "xs[%d]", i);
            return misfit(&c, "inputs must agree in every dim but the concat axis", "xs[0]", xs[0], name, xs[i],
                          NULL, NULL);
        }
        shape[ax] += xs[i]->shape[ax];
    }
    TRY(need_result(&c, out, nd, shape));
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "xs[%d]", i);
        TRY(check_alias(&c, out, 0, name, xs[i], NULL));
    }
    TRY(need_impl(&c, be->vt->concat != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->concat(be, xs, n, ax, out, err);
}

ff_status ff_op_slice(ff_backend *be, const ff_tensor *x, int axis, int64_t start, ff_tensor *out, ff_err *err) {
    opctx c = {"op slice", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "x", x, M_F32));
    TRY(check(&c, "out", out, M_F32));
    const int ax = norm_axis(axis, x->ndim);
    if (ax < 0 || ax >= x->ndim) return fail(&c, FF_ERR_ARG, "axis %d is out of range for %d dims", axis, x->ndim);
    int ok = out->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++) ok = d == ax || out->shape[d] == x->shape[d];
    if (!ok) return misfit(&c, "out must equal x in every dim but the slice axis", "x", x, "out", out, NULL, NULL);
    const int64_t len = out->shape[ax];
    if (start < 0 || start > x->shape[ax] - len) {
        char d1[DESC];
        return fail(&c, FF_ERR_SHAPE, "x %s: [%lld, %lld) along axis %d is out of range", desc(x, d1),
                    (long long)start, (long long)(start + len), ax);
    }
    TRY(check_alias(&c, out, 0, "x", x, NULL));
    TRY(need_impl(&c, be->vt->slice != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->slice(be, x, ax, start, out, err);
}

ff_status ff_op_permute(ff_backend *be, const ff_tensor *x, const int *perm, ff_tensor *out, ff_err *err) {
    opctx c = {"op permute", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "x", x, M_F32));
    TRY(check(&c, "out", out, M_F32));
    if (!perm && x->ndim > 0) return fail(&c, FF_ERR_ARG, "perm is NULL");
    int seen[FF_MAX_DIMS] = {0};
    int64_t shape[FF_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        if (perm[d] < 0 || perm[d] >= x->ndim || seen[perm[d]]) {
            char d1[DESC];
            return fail(&c, FF_ERR_ARG, "x %s: perm[%d] = %d does not make a permutation of %d dims", desc(x, d1),
                        d, perm[d], x->ndim);
        }
        seen[perm[d]] = 1;
        shape[d] = x->shape[perm[d]];
    }
    TRY(need_result(&c, out, x->ndim, shape));
    TRY(check_alias(&c, out, 0, "x", x, NULL));
    TRY(need_impl(&c, be->vt->permute != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->permute(be, x, perm, out, err);
}

ff_status ff_op_copy(ff_backend *be, const ff_tensor *src, ff_tensor *dst, ff_err *err) {
    opctx c = {"op copy", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "src", src, M_FLOATS));
    TRY(check(&c, "dst", dst, M_FLOATS));
    if (ff_tensor_numel(src) != ff_tensor_numel(dst))
        return misfit(&c, "element counts differ", "src", src, "dst", dst, NULL, NULL);
    TRY(check_alias(&c, dst, 0, "src", src, NULL));
    TRY(need_impl(&c, be->vt->copy != NULL));
    if (empty(dst)) return FF_OK;
    return be->vt->copy(be, src, dst, err);
}

ff_status ff_op_embedding(ff_backend *be, const ff_tensor *ids, const ff_tensor *table, ff_tensor *out,
                          ff_err *err) {
    opctx c = {"op embedding", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "ids", ids, M_IDS));
    TRY(need_ndim(&c, "ids", ids, 0, FF_MAX_DIMS - 1));
    TRY(check(&c, "table", table, M_F32));
    TRY(need_ndim(&c, "table", table, 2, 2));
    TRY(check(&c, "out", out, M_F32));
    int64_t shape[FF_MAX_DIMS];
    memcpy(shape, ids->shape, sizeof shape);
    shape[ids->ndim] = table->shape[1];
    TRY(need_result(&c, out, ids->ndim + 1, shape));
    TRY(check_alias(&c, out, 0, "ids", ids, "table", table, NULL));
    TRY(need_impl(&c, be->vt->embedding != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->embedding(be, ids, table, out, err);
}

/* ---- fused ops and the BF16 activation path ------------------------------------------ */

#define M_ACT (DT(FF_F32) | DT(FF_BF16)) /* an activation of the BF16 path */

ff_status ff_op_linear_act(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b, ff_act_kind act,
                           ff_tensor *out, ff_err *err) {
    opctx c = {"op linear_act", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "x", x, M_ACT));
    TRY(need_ndim(&c, "x", x, 1, FF_MAX_DIMS));
    TRY(check(&c, "w", w, M_WEIGHT));
    TRY(need_ndim(&c, "w", w, 2, 2));
    TRY(check(&c, "out", out, M_ACT));
    if ((unsigned)act >= FF_ACT_COUNT) return fail(&c, FF_ERR_ARG, "unknown activation %d", (int)act);
    const int nd = x->ndim;
    if (w->shape[1] != x->shape[nd - 1])
        return misfit(&c, "w.shape[1] must equal x.shape[-1]", "x", x, "w", w, NULL, NULL);
    if (b) {
        TRY(check(&c, "b", b, M_WEIGHT));
        if (b->ndim != 1 || b->shape[0] != w->shape[0])
            return misfit(&c, "b must be (w.shape[0])", "w", w, "b", b, NULL, NULL);
    }
    int64_t shape[FF_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[nd - 1] = w->shape[0];
    TRY(need_result(&c, out, nd, shape));
    TRY(check_alias(&c, out, 0, "x", x, "w", w, "b", b, NULL));
    TRY(need_impl(&c, be->vt->linear_act != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->linear_act(be, x, w, b, act, out, err);
}

/* An optional (B|1, L|1, D) F32 operand of x (B, L, D), expanded to 3-D in *e. */
static ff_status need_bl_d(const opctx *c, const char *name, const ff_tensor *t, const ff_tensor *x, ff_tensor *e) {
    if (!t) return FF_OK;
    TRY(check(c, name, t, M_F32));
    int64_t s[3];
    if (expand_to(t, 3, x->shape, s) || s[2] != x->shape[2]) {
        char rule[64];
        snprintf(rule, sizeof rule, "%s must broadcast to x as (B|1, L|1, D)", name);
        return misfit(c, rule, "x", x, name, t, NULL, NULL);
    }
    *e = reshaped(t, 3, s);
    return FF_OK;
}

ff_status ff_op_norm_modulate(ff_backend *be, const ff_tensor *x, const ff_tensor *w, const ff_tensor *b,
                              const ff_tensor *shift, const ff_tensor *scale, float eps, ff_tensor *out, ff_err *err) {
    opctx c = {"op norm_modulate", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "x", x, M_F32));
    TRY(need_ndim(&c, "x", x, 3, 3));
    TRY(check(&c, "out", out, M_ACT));
    if (!ff_tensor_same_shape(x, out)) return misfit(&c, "out must have x's shape", "x", x, "out", out, NULL, NULL);
    const int64_t D = x->shape[2];
    TRY(need_vector(&c, "w", w, D, "x.shape[-1]"));
    TRY(need_vector(&c, "b", b, D, "x.shape[-1]"));
    if (!shift != !scale) return fail(&c, FF_ERR_ARG, "shift and scale must both be given or both be NULL");
    ff_tensor sh3, sc3;
    TRY(need_bl_d(&c, "shift", shift, x, &sh3));
    TRY(need_bl_d(&c, "scale", scale, x, &sc3));
    if (!(eps >= 0.0f)) return fail(&c, FF_ERR_ARG, "eps %g (must be >= 0)", (double)eps);
    TRY(check_alias(&c, out, 1, "x", x, "w", w, "b", b, "shift", shift, "scale", scale, NULL));
    TRY(need_impl(&c, be->vt->norm_modulate != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->norm_modulate(be, x, w, b, shift ? &sh3 : NULL, scale ? &sc3 : NULL, eps, out, err);
}

static ff_status need_layout(const opctx *c, ff_heads_layout layout) {
    if ((unsigned)layout < FF_HEADS_COUNT) return FF_OK;
    return fail(c, FF_ERR_ARG, "unknown head layout %d", (int)layout);
}

ff_status ff_op_qk_norm_rope(ff_backend *be, const ff_tensor *x, const ff_tensor *w, float eps, const ff_tensor *cos,
                             const ff_tensor *sin, ff_heads_layout layout, ff_tensor *out, ff_err *err) {
    opctx c = {"op qk_norm_rope", be, err};
    TRY(check_be(&c));
    TRY(need_layout(&c, layout));
    TRY(check(&c, "x", x, M_ACT));
    TRY(need_ndim(&c, "x", x, 3, 3));
    TRY(check(&c, "out", out, M_ACT));
    TRY(need_ndim(&c, "out", out, 4, 4));
    const int64_t B = x->shape[0], L = x->shape[1];
    const int64_t H = layout == FF_HEADS_BLHD ? out->shape[2] : out->shape[1], hd = out->shape[3];
    const int64_t want[4] = {B, layout == FF_HEADS_BLHD ? L : H, layout == FF_HEADS_BLHD ? H : L, hd};
    if (H * hd != x->shape[2])
        return misfit(&c, "out's heads x head dim must equal x.shape[-1]", "x", x, "out", out, NULL, NULL);
    TRY(need_result(&c, out, 4, want));
    TRY(need_vector(&c, "w", w, x->shape[2], "x.shape[-1]"));
    if (!cos != !sin) return fail(&c, FF_ERR_ARG, "cos and sin must both be given or both be NULL");
    char d[DESC];
    if (hd % 2 != 0) return fail(&c, FF_ERR_SHAPE, "out %s: the head dim must be even", desc(out, d));
    if (cos) {
        TRY(check(&c, "cos", cos, M_F32));
        TRY(check(&c, "sin", sin, M_F32));
        const int64_t cs[2] = {L, hd};
        ff_tensor tw;
        ff_tensor_view(&tw, FF_F32, 2, cs, NULL, x->loc);
        if (!ff_tensor_same_shape(cos, &tw) || !ff_tensor_same_shape(sin, &tw))
            return misfit(&c, "cos and sin must be (L, head dim)", "x", x, "cos", cos, "sin", sin);
    }
    if (!(eps >= 0.0f)) return fail(&c, FF_ERR_ARG, "eps %g (must be >= 0)", (double)eps);
    TRY(check_alias(&c, out, 0, "x", x, "w", w, "cos", cos, "sin", sin, NULL));
    TRY(need_impl(&c, be->vt->qk_norm_rope != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->qk_norm_rope(be, x, w, eps, cos, sin, layout, out, err);
}

ff_status ff_op_gate_residual(ff_backend *be, const ff_tensor *h, const ff_tensor *x, const ff_tensor *gate,
                              ff_tensor *out, ff_err *err) {
    opctx c = {"op gate_residual", be, err};
    TRY(check_be(&c));
    TRY(check(&c, "h", h, M_F32));
    TRY(need_ndim(&c, "h", h, 3, 3));
    TRY(check(&c, "x", x, M_ACT));
    TRY(check(&c, "out", out, M_F32));
    TRY(need_same(&c, "h", h, "x", x));
    TRY(need_same(&c, "h", h, "out", out));
    ff_tensor g3;
    TRY(need_bl_d(&c, "gate", gate, h, &g3));
    TRY(check_alias(&c, out, 1, "h", h, "x", x, "gate", gate, NULL));
    TRY(need_impl(&c, be->vt->gate_residual != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->gate_residual(be, h, x, gate ? &g3 : NULL, out, err);
}

ff_status ff_op_attention(ff_backend *be, const ff_tensor *q, const ff_tensor *k, const ff_tensor *v,
                          const ff_tensor *bias, float scale, ff_heads_layout layout, ff_tensor *out, ff_err *err) {
    opctx c = {"op attention", be, err};
    TRY(check_be(&c));
    TRY(need_layout(&c, layout));
    TRY(check(&c, "q", q, M_ACT));
    TRY(need_ndim(&c, "q", q, 4, 4));
    TRY(check(&c, "k", k, M_ACT));
    TRY(need_ndim(&c, "k", k, 4, 4));
    TRY(check(&c, "v", v, M_ACT));
    TRY(need_ndim(&c, "v", v, 4, 4));
    TRY(check(&c, "out", out, M_ACT));
    if (k->dtype != q->dtype || v->dtype != q->dtype)
        return misfit(&c, "q, k and v must have one dtype", "q", q, "k", k, "v", v);
    /* (B, H, L, D) indices of the layout's dims */
    const int ih = layout == FF_HEADS_BLHD ? 2 : 1, il = layout == FF_HEADS_BLHD ? 1 : 2;
    const int64_t B = q->shape[0], H = q->shape[ih], Lq = q->shape[il], D = q->shape[3];
    const int64_t Lk = k->shape[il], Dv = v->shape[3];
    if (k->shape[0] != B || k->shape[ih] != H || k->shape[3] != D || v->shape[0] != B || v->shape[ih] != H ||
        v->shape[il] != Lk)
        return misfit(&c,
                      layout == FF_HEADS_BLHD ? "want q (B, Lq, H, D), k (B, Lk, H, D), v (B, Lk, H, Dv)"
                                              : "want q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv)",
                      "q", q, "k", k, "v", v);
    int64_t shape[4];
    memcpy(shape, q->shape, sizeof shape);
    shape[3] = Dv;
    TRY(need_result(&c, out, 4, shape));
    if (q->dtype == FF_BF16 && (D > FF_ATTN_BF16_MAX_HEAD_DIM || Dv > FF_ATTN_BF16_MAX_HEAD_DIM))
        return fail(&c, FF_ERR_UNSUPPORTED, "BF16 q/k/v with head dims D=%lld Dv=%lld (at most %d: use F32 operands)",
                    (long long)D, (long long)Dv, FF_ATTN_BF16_MAX_HEAD_DIM);
    int64_t bias_shape[4] = {1, 1, 1, 1};
    if (bias) {
        TRY(check(&c, "bias", bias, M_F32));
        const int64_t scores[4] = {B, H, Lq, Lk};
        if (expand_to(bias, 4, scores, bias_shape) != 0)
            return misfit(&c, "bias must broadcast to (B, H, Lq, Lk)", "q", q, "k", k, "bias", bias);
    }
    TRY(check_alias(&c, out, 0, "q", q, "k", k, "v", v, "bias", bias, NULL));
    TRY(need_impl(&c, be->vt->attention != NULL));
    if (empty(out)) return FF_OK;
    return be->vt->attention(be, q, k, v, bias, bias_shape, scale, layout, out, err);
}
