/* test_ops_async: the async-upload API of kernels/ops.h (pinned host memory,
 * ff_be_upload_async on the copy stream, events between the streams).
 *
 * Runs on the CPU backend always (synchronous copies, no-op events: the
 * calling code must be right there too) and on cuda:0 where there is one
 * (a real copy stream; a missing wait shows as wrong data). Checks:
 *  - one upload: async copy, event recorded on the copy stream, the compute
 *    stream waits for it, an op reads the buffer: exact result;
 *  - a ring of 2 device buffers and 2 pinned staging buffers reused 50
 *    times, as offload/stream drives it (compute waits for the copy, the
 *    host waits for the compute that read a buffer before rewriting it),
 *    once from one thread and once with a copy thread: every iteration's
 *    data arrives exactly;
 *  - argument checks: NULL / foreign events, mismatched tensors.
 * Exits 0 when the CPU part passes, whether or not CUDA was there (the
 * CUDA part prints why it was skipped). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kernels/ops.h"
#include "tests/common/ff_test.h"

#define RING 2
#define ITERS 50
#define N ((int64_t)1 << 18) /* floats per buffer: 1 MiB */

static ff_backend *g_be;
static ff_err err;

/* Iteration i's data: integers below 2^24 (exact in F32). */
static float pattern(int i, int64_t j) { return (float)((i * 7919 + j * 31) % 65521); }

static ff_tensor dev_view(ff_tensor *t, int64_t off, int64_t n) {
    ff_tensor v;
    ff_tensor_view(&v, FF_F32, 1, &n, (float *)t->data + off, t->loc);
    return v;
}

/* ---- one upload, then an op reads it ---------------------------------------------- */

static void test_upload_then_op(void) {
    const int64_t shape[1] = {N};
    ff_tensor host, dev, out, back;
    ff_be_event *ev = NULL;
    FF_REQUIRE_OK(ff_be_host_alloc(g_be, &host, FF_F32, 1, shape, &err), &err);
    FF_CHECK(host.loc == FF_LOC_HOST && host.data != NULL);
    FF_CHECK(((float *)host.data)[0] == 0.0f && ((float *)host.data)[N - 1] == 0.0f); /* zero-filled */
    for (int64_t j = 0; j < N; j++) ((float *)host.data)[j] = pattern(3, j);
    FF_REQUIRE_OK(ff_be_alloc(g_be, &dev, FF_F32, 1, shape, &err), &err);
    FF_REQUIRE_OK(ff_be_alloc(g_be, &out, FF_F32, 1, shape, &err), &err);
    FF_REQUIRE_OK(ff_tensor_alloc(&back, FF_F32, 1, shape, &err), &err);
    FF_REQUIRE_OK(ff_be_event_create(g_be, &ev, &err), &err);
    FF_REQUIRE_OK(ff_be_sync(g_be, &err), &err); /* the zero-fills of fresh buffers are done */

    FF_CHECK_OK(ff_be_upload_async(g_be, &dev, &host, &err), &err);
    FF_CHECK_OK(ff_be_event_record_copy(g_be, ev, &err), &err);
    FF_CHECK_OK(ff_be_wait_event_compute(g_be, ev, &err), &err);
    FF_CHECK_OK(ff_op_scale(g_be, &dev, 2.0f, 1.0f, &out, &err), &err);
    FF_CHECK_OK(ff_be_download(g_be, &back, &out, &err), &err);
    FF_CHECK_OK(ff_be_event_sync(g_be, ev, &err), &err); /* host may reuse `host` from here */
    int64_t bad = 0;
    for (int64_t j = 0; j < N; j++) bad += ((float *)back.data)[j] != 2.0f * pattern(3, j) + 1.0f;
    FF_CHECK_MSG(bad == 0, "%s: %lld of %lld values wrong after upload_async + wait", ff_backend_name(g_be),
                 (long long)bad, (long long)N);

    /* an empty upload is a no-op */
    const int64_t zero[1] = {0};
    ff_tensor he, de;
    ff_tensor_view(&he, FF_F32, 1, zero, NULL, FF_LOC_HOST);
    ff_tensor_view(&de, FF_F32, 1, zero, NULL, out.loc);
    FF_CHECK_OK(ff_be_upload_async(g_be, &de, &he, &err), &err);

    ff_be_event_free(g_be, ev);
    ff_tensor_free(&back);
    ff_be_free(g_be, &out);
    ff_be_free(g_be, &dev);
    ff_be_host_free(g_be, &host);
    FF_CHECK(host.data == NULL);
}

/* ---- a ring of 2 buffers reused 50 times ------------------------------------------- */

typedef struct {
    ff_tensor stage[RING]; /* pinned host staging */
    ff_tensor ring[RING];  /* device buffers */
    ff_tensor outs;        /* (ITERS * N): what iteration i read from its buffer */
    ff_be_event *ready[RING], *done[RING];
    /* threaded variant: the host's own ordering (record before wait) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int filled[RING]; /* iteration whose data is queued into ring[r], or -1 */
    int busy[RING];   /* ring[r] handed to the copy side and not yet read */
    ff_status copy_st;
    ff_err copy_err;
} ring_state;

static ff_status ring_open(ring_state *s) {
    memset(s, 0, sizeof *s);
    const int64_t shape[1] = {N}, oshape[1] = {ITERS * N};
    ff_status st = FF_OK;
    for (int r = 0; r < RING && !st; r++) {
        s->filled[r] = -1;
        st = ff_be_host_alloc(g_be, &s->stage[r], FF_F32, 1, shape, &err);
        if (!st) st = ff_be_alloc(g_be, &s->ring[r], FF_F32, 1, shape, &err);
        if (!st) st = ff_be_event_create(g_be, &s->ready[r], &err);
        if (!st) st = ff_be_event_create(g_be, &s->done[r], &err);
    }
    if (!st) st = ff_be_alloc(g_be, &s->outs, FF_F32, 1, oshape, &err);
    if (!st) st = ff_be_sync(g_be, &err); /* zero-fills done before the copy stream writes */
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return st;
}

static void ring_close(ring_state *s) {
    ff_err e;
    (void)ff_be_sync(g_be, &e);
    for (int r = 0; r < RING; r++) {
        ff_be_event_free(g_be, s->ready[r]);
        ff_be_event_free(g_be, s->done[r]);
        ff_be_free(g_be, &s->ring[r]);
        ff_be_host_free(g_be, &s->stage[r]);
    }
    ff_be_free(g_be, &s->outs);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

/* Copy side of iteration i: wait until the compute stream no longer reads
 * ring[r] (nor the upload out of stage[r] runs), refill the staging buffer,
 * queue the upload and mark it. */
static ff_status ring_copy(ring_state *s, int i, ff_err *e) {
    const int r = i % RING;
    ff_status st = ff_be_event_sync(g_be, s->done[r], e); /* never recorded yet for i < RING: returns at once */
    if (st) return st;
    float *h = s->stage[r].data;
    for (int64_t j = 0; j < N; j++) h[j] = pattern(i, j);
    if ((st = ff_be_upload_async(g_be, &s->ring[r], &s->stage[r], e))) return st;
    return ff_be_event_record_copy(g_be, s->ready[r], e);
}

/* Compute side of iteration i: wait (on the device) for the upload, read
 * the buffer into outs[i], mark the read. */
static ff_status ring_compute(ring_state *s, int i, ff_err *e) {
    const int r = i % RING;
    ff_status st = ff_be_wait_event_compute(g_be, s->ready[r], e);
    ff_tensor dst = dev_view(&s->outs, (int64_t)i * N, N);
    if (!st) st = ff_op_scale(g_be, &s->ring[r], 1.0f, 0.0f, &dst, e);
    if (!st) st = ff_be_event_record_compute(g_be, s->done[r], e);
    return st;
}

static void ring_check(ring_state *s, const char *how) {
    ff_tensor back;
    const int64_t oshape[1] = {ITERS * N};
    FF_REQUIRE_OK(ff_tensor_alloc(&back, FF_F32, 1, oshape, &err), &err);
    FF_CHECK_OK(ff_be_download(g_be, &back, &s->outs, &err), &err);
    int bad_iters = 0, first_bad = -1;
    for (int i = 0; i < ITERS; i++) {
        const float *o = (const float *)back.data + (int64_t)i * N;
        int64_t bad = 0;
        for (int64_t j = 0; j < N; j++) bad += o[j] != pattern(i, j);
        if (bad && first_bad < 0) first_bad = i;
        bad_iters += bad != 0;
    }
    FF_CHECK_MSG(bad_iters == 0, "%s, %s: %d of %d iterations read wrong data (first: %d)", ff_backend_name(g_be),
                 how, bad_iters, ITERS, first_bad);
    ff_tensor_free(&back);
}

static void test_ring_one_thread(void) {
    ring_state s;
    ff_status st = ring_open(&s);
    FF_CHECK_OK(st, &err);
    for (int i = 0; !st && i < ITERS; i++) {
        st = ring_copy(&s, i, &err);
        if (!st) st = ring_compute(&s, i, &err);
        FF_CHECK_OK(st, &err);
    }
    if (!st) ring_check(&s, "one thread");
    ring_close(&s);
}

static void *copy_thread(void *arg) {
    ring_state *s = arg;
    for (int i = 0; i < ITERS; i++) {
        const int r = i % RING;
        pthread_mutex_lock(&s->mu);
        while (s->busy[r] && !s->copy_st) pthread_cond_wait(&s->cv, &s->mu);
        const int stop = s->copy_st != FF_OK;
        s->busy[r] = 1;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        ff_err e = {0};
        ff_status st = ring_copy(s, i, &e); /* done[r] was recorded before busy[r] was cleared */
        pthread_mutex_lock(&s->mu);
        if (st) s->copy_st = st, s->copy_err = e;
        else s->filled[r] = i;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        if (st) break;
    }
    return NULL;
}

static void test_ring_copy_thread(void) {
    ring_state s;
    ff_status st = ring_open(&s);
    FF_CHECK_OK(st, &err);
    pthread_t th;
    const int started = !st && pthread_create(&th, NULL, copy_thread, &s) == 0;
    FF_CHECK(st || started);
    if (!started) st = FF_ERR_INTERNAL;
    for (int i = 0; !st && i < ITERS; i++) {
        const int r = i % RING;
        pthread_mutex_lock(&s.mu);
        while (s.filled[r] != i && !s.copy_st) pthread_cond_wait(&s.cv, &s.mu);
        st = s.copy_st;
        if (st) err = s.copy_err;
        pthread_mutex_unlock(&s.mu);
        if (!st) st = ring_compute(&s, i, &err); /* records done[r] ... */
        pthread_mutex_lock(&s.mu);
        s.filled[r] = -1;
        s.busy[r] = 0; /* ... before the copy thread may look at it */
        if (st && !s.copy_st) s.copy_st = st;
        pthread_cond_broadcast(&s.cv);
        pthread_mutex_unlock(&s.mu);
        FF_CHECK_OK(st, &err);
    }
    if (started) {
        pthread_join(th, NULL);
        if (!st) ring_check(&s, "copy thread");
    }
    ring_close(&s);
}

/* ---- argument checks ------------------------------------------------------------------ */

static void test_arguments(void) {
    ff_backend *other = NULL;
    ff_be_event *ev = NULL, *foreign = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &other, &err), &err);
    FF_REQUIRE_OK(ff_be_event_create(g_be, &ev, &err), &err);
    FF_REQUIRE_OK(ff_be_event_create(other, &foreign, &err), &err);

    ff_status st = ff_be_wait_event_compute(g_be, foreign, &err);
    FF_CHECK_MSG(st == FF_ERR_ARG && strstr(err.msg, "belongs to backend"), "foreign event: %s (%s)",
                 ff_status_name(st), err.msg);
    st = ff_be_event_sync(g_be, NULL, &err);
    FF_CHECK_MSG(st == FF_ERR_ARG && strstr(err.msg, "event is NULL"), "NULL event: %s (%s)", ff_status_name(st),
                 err.msg);
    st = ff_be_event_record_copy(NULL, ev, &err);
    FF_CHECK_MSG(st == FF_ERR_ARG, "NULL backend: %s (%s)", ff_status_name(st), err.msg);
    FF_CHECK_OK(ff_be_event_sync(g_be, ev, &err), &err); /* never recorded: returns at once */

    const int64_t s4[1] = {4}, s5[1] = {5};
    ff_tensor h, d;
    FF_REQUIRE_OK(ff_be_host_alloc(g_be, &h, FF_F32, 1, s4, &err), &err);
    FF_REQUIRE_OK(ff_be_alloc(g_be, &d, FF_F32, 1, s5, &err), &err);
    st = ff_be_upload_async(g_be, &d, &h, &err);
    FF_CHECK_MSG(st == FF_ERR_SHAPE && strstr(err.msg, "ff_be_upload_async"), "shape mismatch: %s (%s)",
                 ff_status_name(st), err.msg);
    ff_be_host_free(g_be, &h);
    ff_be_free(g_be, &d);
    ff_tensor none;
    st = ff_be_host_alloc(g_be, &none, FF_F32, 1, NULL, &err);
    FF_CHECK_MSG(st == FF_ERR_ARG && none.data == NULL, "NULL shape: %s (%s)", ff_status_name(st), err.msg);
    ff_be_event_free(g_be, NULL);
    ff_be_event_free(g_be, ev);
    ff_be_event_free(other, foreign);
    ff_backend_free(other);
}

static void run_all(void) {
    fprintf(stderr, "-- backend %s\n", ff_backend_name(g_be));
    FF_RUN(test_upload_then_op);
    FF_RUN(test_ring_one_thread);
    FF_RUN(test_ring_copy_thread);
    FF_RUN(test_arguments);
}

int main(void) {
    if (ff_backend_cpu_create(0, &g_be, &err) != FF_OK) {
        fprintf(stderr, "ff_backend_cpu_create: %s\n", err.msg);
        return 1;
    }
    run_all();
    ff_backend_free(g_be);
    g_be = NULL;

    ff_status st = ff_backend_cuda_create(0, &g_be, &err);
    if (st == FF_ERR_DEVICE || st == FF_ERR_UNSUPPORTED) {
        fprintf(stderr, "-- cuda: skipped (%s)\n", err.msg);
    } else if (st) {
        fprintf(stderr, "ff_backend_cuda_create: %s\n", err.msg);
        return 1;
    } else {
        run_all();
        ff_backend_free(g_be);
    }
    return ff_test_summary();
}
