/* stream: resident and block-streamed weights (see stream.h).
 *
 * The ring protocol (STREAM). The host side, one mutex + one condition
 * variable:
 *   slot_busy[r]   1 from the moment the copy thread claims buffer r until
 *                  the compute thread has left the last block of the group
 *                  in it;
 *   slot_group[r]  the group whose upload into r is queued (and `filled[r]`
 *                  recorded after it), else -1.
 * The device side, events (kernels/ops.h "async uploads"):
 *   filled[r]      recorded on the copy stream after the uploads of a group
 *                  into r; the compute stream waits for it;
 *   consumed[r]    recorded on the compute stream after the kernels of the
 *                  last block that read r were queued; the copy thread
 *                  host-waits for it before rewriting r;
 *   staged[q]      recorded on the copy stream after an upload out of pinned
 *                  staging buffer q; the copy thread host-waits for it
 *                  before refilling q.
 * Copy thread, for g = 0 .. G-1: wait until !slot_busy[g % R], claim it;
 * then, outside the lock, ff_be_event_sync(consumed[r]) (when recorded),
 * fill staging buffers from the host tensors or the file and queue
 * ff_be_upload_async of each into r, record filled[r]; publish slot_group
 * = g. Compute thread, entering the first block of group g: wait until
 * slot_group[g % R] == g, then ff_be_wait_event_compute(filled[r]) (no host
 * wait for the copy); leaving the last block of group g: record
 * consumed[r], then slot_busy = 0, slot_group = -1, wake the copier.
 * Every record happens before the mutex hand-over that lets the other
 * thread wait on it (an event never recorded would not be waited for), and
 * an event is never recorded while the other thread may wait on it. So the
 * upload of group g+1 runs on the copy stream while group g computes, a
 * buffer is rewritten only after the kernels reading it have run, and a
 * staging buffer only after its copy is done; the only host waits are the
 * copy thread's. end() records every consumed[r] (a failed run may leave a
 * group entered and never left), so the next run's copier waits for it.
 * On the CPU backend the uploads are memcpys and the events no-ops: the
 * mutex protocol alone orders the threads. */
#include "offload/stream.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALIGN 256
#define NSTAGE 2                /* pinned staging buffers: one filled while the other uploads */
#define STAGE_CHUNK (16u << 20) /* small tensors are batched into uploads of up to this many bytes */

struct ff_offload_stream {
    ff_backend *be;
    ff_offload_opts o;
    char name[48];
    size_t n;            /* n_resident + L * pb slots: resident first, then blocks */
    size_t nr, pb;
    ff_tensor **slot;    /* n */
    const char **names;  /* n, entries may be NULL */
    ff_tensor *host;     /* n: the host tensors found at create */
    ff_tensor *dev;      /* n: backend copies made at create */
    size_t *boff;        /* pb: offset of each block tensor inside one block's span */
    size_t *bsz;         /* pb: its bytes on the backend (unpadded) */
    ff_dtype *bdt;       /* pb: its backend dtype */
    size_t block_bytes;
    int L, k, R, G, stream;
    ff_tensor *ring;     /* R buffers of k * block_bytes */
    void *staging;       /* widening of host tensors */
    size_t staging_bytes, widen_bytes; /* all staging; the widening buffer */
    /* block_weights: per slot the bytes in the mapping (NULL: a host tensor) */
    const void **src;
    ff_dtype *src_dt;
    size_t *src_n;
    void *fbuf[3];       /* unaligned raw copy, conversion buffers X and Y */
    size_t fbuf_n[3];
    /* STREAM, the copy stream (see the protocol above) */
    ff_be_event **filled, **consumed; /* R each */
    int *consumed_rec;                /* R: consumed[r] recorded at least once (guarded by mu) */
    ff_tensor stage[NSTAGE];          /* pinned (ff_be_host_alloc) staging of stage_bytes each */
    ff_be_event *staged[NSTAGE];
    int staged_rec[NSTAGE], next_stage; /* the copy thread's (one run at a time) */
    size_t stage_bytes;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_ok, running;
    pthread_t th;
    int *slot_busy, *slot_group;
    int cancel;
    ff_status th_st;
    ff_err th_err;
    ff_offload_stats st;
};

static ff_dtype dev_dtype(ff_dtype host, ff_dtype upload) {
    return upload == FF_F32 && host == FF_BF16 ? FF_F32 : host;
}

static size_t align_up(size_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

size_t ff_offload_block_bytes(const size_t *tensor_bytes, size_t n) {
    size_t b = 0;
    for (size_t i = 0; i < n; i++) b += align_up(tensor_bytes[i]);
    return b;
}

void ff_offload_opts_default(ff_offload_opts *o) {
    memset(o, 0, sizeof *o);
    o->mode = FF_OFFLOAD_RESIDENT;
    o->group = 1;
    o->ring = 2;
    o->upload_dtype = FF_DTYPE_COUNT;
}

static const char *slot_name(const ff_offload_stream *s, size_t i) {
    return s->names[i] ? s->names[i] : "(unnamed tensor)";
}

/* dst (backend) <- host src, widening through the staging buffer. */
static ff_status upload_one(ff_offload_stream *s, ff_tensor *dst, const ff_tensor *src, ff_err *err) {
    if (dst->dtype == src->dtype) return ff_be_upload(s->be, dst, src, err);
    ff_tensor tmp;
    ff_tensor_view(&tmp, dst->dtype, src->ndim, src->shape, s->staging, FF_LOC_HOST);
    if (ff_tensor_nbytes(&tmp) > s->widen_bytes)
        return ff_err_set(err, FF_ERR_INTERNAL, "%s: staging buffer too small", s->name);
    ff_status st = ff_tensor_convert(&tmp, src, err);
    if (!st) st = ff_be_upload(s->be, dst, &tmp, err);
    return st;
}

/* Gives the mapping's pages under [p, p + n) back (the file stays in the page cache). */
static void drop_pages(const void *p, size_t n) {
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p / pg * pg, b = ((uintptr_t)p + n + pg - 1) / pg * pg;
    if (n) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Conversion steps from the stored dtype to the device dtype of slot i, as
 * loading (stored -> host dtype, F16 -> BF16 through F32) then uploading
 * (host -> device dtype) would do them; returns the count (0..3). */
static int file_chain(ff_dtype sd, ff_dtype hd, ff_dtype dd, ff_dtype chain[3]) {
    int n = 0;
    if (sd != hd) {
        if (sd != FF_F32 && hd != FF_F32) chain[n++] = FF_F32;
        chain[n++] = hd;
    }
    if (dd != hd) chain[n++] = dd;
    return n;
}

/* dst (backend) <- slot i's tensor read from the file. */
static ff_status upload_file(ff_offload_stream *s, size_t i, ff_tensor *dst, ff_err *err) {
    const ff_tensor *h = &s->host[i];
    const void *raw = s->src[i];
    const void *data = raw;
    if ((uintptr_t)raw % ff_dtype_size(s->src_dt[i])) {
        memcpy(s->fbuf[0], raw, s->src_n[i]);
        data = s->fbuf[0];
    }
    ff_dtype chain[3];
    int n = file_chain(s->src_dt[i], h->dtype, dst->dtype, chain);
    ff_tensor cur;
    ff_tensor_view(&cur, s->src_dt[i], h->ndim, h->shape, (void *)data, FF_LOC_HOST);
    ff_status st = FF_OK;
    for (int c = 0; c < n && !st; c++) {
        ff_tensor next;
        ff_tensor_view(&next, chain[c], h->ndim, h->shape, s->fbuf[1 + (c & 1)], FF_LOC_HOST);
        st = ff_tensor_convert(&next, &cur, err);
        cur = next;
    }
    if (!st) st = ff_be_upload(s->be, dst, &cur, err);
    drop_pages(raw, s->src_n[i]);
    return st;
}

/* dst (backend) <- slot i (a host tensor, or the file). */
static ff_status upload_slot(ff_offload_stream *s, size_t i, ff_tensor *dst, ff_err *err) {
    return s->src && s->src[i] ? upload_file(s, i, dst, err) : upload_one(s, dst, &s->host[i], err);
}

/* Slot i (block tensor j) in its backend dtype, written to host memory dst
 * (a pinned staging buffer): copied or converted from the host tensor, or
 * read from the file's mapping through the conversion chain, the last step
 * writing into dst. The same bits as upload_slot would upload. */
static ff_status stage_slot(ff_offload_stream *s, size_t i, size_t j, void *dst, ff_err *err) {
    const ff_tensor *h = &s->host[i];
    ff_tensor out;
    ff_tensor_view(&out, s->bdt[j], h->ndim, h->shape, dst, FF_LOC_HOST);
    if (!(s->src && s->src[i])) {
        if (h->dtype != out.dtype) return ff_tensor_convert(&out, h, err);
        if (s->bsz[j]) memcpy(dst, h->data, s->bsz[j]);
        return FF_OK;
    }
    const void *raw = s->src[i];
    ff_dtype chain[3];
    const int n = file_chain(s->src_dt[i], h->dtype, out.dtype, chain);
    ff_status st = FF_OK;
    if (!n) {
        if (s->src_n[i]) memcpy(dst, raw, s->src_n[i]);
    } else {
        const void *data = raw;
        if ((uintptr_t)raw % ff_dtype_size(s->src_dt[i])) {
            memcpy(s->fbuf[0], raw, s->src_n[i]);
            data = s->fbuf[0];
        }
        ff_tensor cur;
        ff_tensor_view(&cur, s->src_dt[i], h->ndim, h->shape, (void *)data, FF_LOC_HOST);
        for (int c = 0; c < n && !st; c++) {
            ff_tensor next = out;
            if (c < n - 1) ff_tensor_view(&next, chain[c], h->ndim, h->shape, s->fbuf[1 + (c & 1)], FF_LOC_HOST);
            st = ff_tensor_convert(&next, &cur, err);
            cur = next;
        }
    }
    drop_pages(raw, s->src_n[i]);
    return st;
}

/* Block b's tensor j inside ring buffer r. */
static ff_tensor ring_view(const ff_offload_stream *s, int r, int b, size_t j) {
    const ff_tensor *h = &s->host[s->nr + (size_t)b * s->pb + j];
    ff_tensor v;
    size_t off = (size_t)(b % s->k) * s->block_bytes + s->boff[j];
    ff_tensor_view(&v, s->bdt[j], h->ndim, h->shape, (char *)s->ring[r].data + off, s->ring[r].loc);
    return v;
}

static int group_size(const ff_offload_stream *s, int g) {
    int b0 = g * s->k;
    return b0 + s->k <= s->L ? s->k : s->L - b0;
}

/* The u-th tensor of a group (block u / pb, tensor u % pb): its offset in a
 * ring buffer and its padded size there (the group's tensors are contiguous). */
static size_t group_off(const ff_offload_stream *s, size_t u) {
    return u / s->pb * s->block_bytes + s->boff[u % s->pb];
}

static size_t group_end(const ff_offload_stream *s, size_t u) { return group_off(s, u) + align_up(s->bsz[u % s->pb]); }

/* A F32 view of bytes [off, off + n) of base (n a multiple of 4). */
static ff_tensor byte_view(void *base, size_t off, size_t n, ff_loc loc) {
    ff_tensor v;
    int64_t shape[1] = {(int64_t)(n / 4)};
    ff_tensor_view(&v, FF_F32, 1, shape, (char *)base + off, loc);
    return v;
}

/* Queues group g's upload into ring buffer r on the copy stream: the group's
 * tensors in runs that fit a staging buffer (one large tensor, or many
 * small ones), each run staged into the next pinned buffer (after its
 * previous upload is done) and uploaded with one ff_be_upload_async. */
static ff_status upload_group(ff_offload_stream *s, int g, int r, int64_t *bytes, ff_err *err) {
    const int b0 = g * s->k;
    const size_t n = (size_t)group_size(s, g) * s->pb;
    ff_status st;
    for (size_t t = 0, e; t < n; t = e) {
        const size_t off0 = group_off(s, t);
        for (e = t + 1; e < n && group_end(s, e) - off0 <= s->stage_bytes;) e++;
        const size_t span = group_end(s, e - 1) - off0;
        const int q = s->next_stage;
        s->next_stage = (q + 1) % NSTAGE;
        if (s->staged_rec[q] && (st = ff_be_event_sync(s->be, s->staged[q], err)))
            return ff_err_wrap(err, "%s: waiting for a staging upload", s->name);
        for (size_t u = t; u < e; u++) {
            const size_t i = s->nr + ((size_t)b0 + u / s->pb) * s->pb + u % s->pb;
            if ((st = stage_slot(s, i, u % s->pb, (char *)s->stage[q].data + (group_off(s, u) - off0), err)))
                return ff_err_wrap(err, "%s: uploading %s", s->name, slot_name(s, i));
            *bytes += (int64_t)s->bsz[u % s->pb];
        }
        ff_tensor dst = byte_view(s->ring[r].data, off0, span, s->ring[r].loc);
        ff_tensor src = byte_view(s->stage[q].data, 0, span, FF_LOC_HOST);
        if ((st = ff_be_upload_async(s->be, &dst, &src, err)) ||
            (st = ff_be_event_record_copy(s->be, s->staged[q], err)))
            return ff_err_wrap(err, "%s: uploading blocks.%d", s->name, b0 + (int)(t / s->pb));
        s->staged_rec[q] = 1;
    }
    return ff_be_event_record_copy(s->be, s->filled[r], err);
}

/* STREAM: the pinned staging buffers and the events; the ring's zero-fills
 * (queued on the compute stream) done before the first async upload. */
static ff_status stream_setup(ff_offload_stream *s, ff_err *err) {
    size_t big = 0;
    for (size_t j = 0; j < s->pb; j++)
        if (align_up(s->bsz[j]) > big) big = align_up(s->bsz[j]);
    const size_t group = (size_t)s->k * s->block_bytes;
    s->stage_bytes = group < STAGE_CHUNK ? group : STAGE_CHUNK;
    if (s->stage_bytes < big) s->stage_bytes = big;
    const int64_t shape[1] = {(int64_t)(s->stage_bytes / 4)};
    ff_status st;
    if (s->o.host_pool) ff_pool_set_label(s->o.host_pool, "%s/pinned staging", s->name);
    for (int q = 0; q < NSTAGE; q++) {
        st = s->o.host_pool ? ff_pool_host_alloc_pinned(s->o.host_pool, s->be, &s->stage[q], FF_F32, 1, shape, err)
                            : ff_be_host_alloc(s->be, &s->stage[q], FF_F32, 1, shape, err);
        if (st) return ff_err_wrap(err, "%s: pinned staging", s->name);
        s->staging_bytes += s->stage_bytes;
        if ((st = ff_be_event_create(s->be, &s->staged[q], err))) return st;
    }
    for (int r = 0; r < s->R; r++)
        if ((st = ff_be_event_create(s->be, &s->filled[r], err)) ||
            (st = ff_be_event_create(s->be, &s->consumed[r], err)))
            return st;
    return ff_be_sync(s->be, err);
}

static void *copy_thread(void *arg) {
    ff_offload_stream *s = arg;
    for (int g = 0; g < s->G; g++) {
        const int r = g % s->R;
        pthread_mutex_lock(&s->mu);
        while (s->slot_busy[r] && !s->cancel) pthread_cond_wait(&s->cv, &s->mu);
        if (s->cancel) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        s->slot_busy[r] = 1;
        s->slot_group[r] = -1;
        const int consumed = s->consumed_rec[r];
        pthread_mutex_unlock(&s->mu);

        ff_err e = {0};
        int64_t bytes = 0;
        /* the kernels that read r last have run (host wait, this thread only) */
        ff_status st = consumed ? ff_be_event_sync(s->be, s->consumed[r], &e) : FF_OK;
        if (!st) st = upload_group(s, g, r, &bytes, &e);

        pthread_mutex_lock(&s->mu);
        s->st.bytes_uploaded += bytes;
        if (st) {
            s->th_st = st;
            s->th_err = e;
        } else {
            s->slot_group[r] = g;
            s->st.block_uploads += group_size(s, g);
        }
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        if (st) break;
    }
    return NULL;
}

/* ---- a run ------------------------------------------------------------------------- */

ff_status ff_offload_stream_begin(ff_offload_stream *s, ff_err *err) {
    if (s->running) return ff_err_set(err, FF_ERR_ARG, "%s: offload run already begun", s->name);
    s->st.runs++;
    if (s->o.device_pool) ff_pool_set_label(s->o.device_pool, "%s/activations", s->name);
    if (!s->stream) return FF_OK;
    s->cancel = 0;
    s->th_st = FF_OK;
    memset(&s->th_err, 0, sizeof s->th_err);
    for (int r = 0; r < s->R; r++) s->slot_busy[r] = 0, s->slot_group[r] = -1;
    if (pthread_create(&s->th, NULL, copy_thread, s))
        return ff_err_set(err, FF_ERR_INTERNAL, "%s: cannot start the block upload thread", s->name);
    s->running = 1;
    return FF_OK;
}

ff_status ff_offload_stream_enter(ff_offload_stream *s, int i, ff_err *err) {
    if (i < 0 || i >= s->L) return ff_err_set(err, FF_ERR_ARG, "%s: no block %d (%d blocks)", s->name, i, s->L);
    if (s->o.device_pool) ff_pool_set_label(s->o.device_pool, "%s/blocks.%d", s->name, i);
    if (!s->stream) return FF_OK;
    if (!s->running) return ff_err_set(err, FF_ERR_ARG, "%s: block %d entered outside a run", s->name, i);
    const int g = i / s->k, r = g % s->R;
    if (i % s->k == 0) {
        pthread_mutex_lock(&s->mu);
        int waited = 0;
        while (s->slot_group[r] != g && !s->th_st) {
            waited = 1;
            pthread_cond_wait(&s->cv, &s->mu);
        }
        s->st.waits += waited;
        ff_status st = s->slot_group[r] == g ? FF_OK : s->th_st;
        if (st && err) *err = s->th_err;
        pthread_mutex_unlock(&s->mu);
        if (st) return st;
        /* the compute stream waits for the group's copy; the host does not */
        if ((st = ff_be_wait_event_compute(s->be, s->filled[r], err)))
            return ff_err_wrap(err, "%s: waiting for blocks.%d", s->name, i);
    }
    for (size_t j = 0; j < s->pb; j++) *s->slot[s->nr + (size_t)i * s->pb + j] = ring_view(s, r, i, j);
    return FF_OK;
}

/* Records consumed[r] after the compute work queued so far (the kernels
 * reading ring buffer r); 1 when recorded. Should the record fail, the
 * compute thread waits for that work itself (then there is nothing left to
 * wait for; an error path only) and 0 is returned. */
static int mark_consumed(ff_offload_stream *s, int r) {
    if (!ff_be_event_record_compute(s->be, s->consumed[r], NULL)) return 1;
    (void)ff_be_sync(s->be, NULL);
    return 0;
}

void ff_offload_stream_leave(ff_offload_stream *s, int i) {
    if (!s->stream || !s->running || i < 0 || i >= s->L) return;
    for (size_t j = 0; j < s->pb; j++) {
        size_t k = s->nr + (size_t)i * s->pb + j;
        *s->slot[k] = s->host[k];
    }
    if (i % s->k == s->k - 1 || i == s->L - 1) {
        const int r = (i / s->k) % s->R;
        const int rec = mark_consumed(s, r);
        pthread_mutex_lock(&s->mu);
        s->consumed_rec[r] |= rec;
        s->slot_busy[r] = 0;
        s->slot_group[r] = -1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
}

void ff_offload_stream_end(ff_offload_stream *s) {
    if (s->o.device_pool) ff_pool_set_label(s->o.device_pool, "%s", s->name);
    if (!s->stream || !s->running) return;
    pthread_mutex_lock(&s->mu);
    s->cancel = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    s->running = 0;
    /* a failed run may have left a group entered but not left: the next
     * run's copier must wait for everything queued so far */
    for (int r = 0; r < s->R; r++) s->consumed_rec[r] |= mark_consumed(s, r);
    for (size_t k = s->nr; k < s->n; k++) *s->slot[k] = s->host[k];
}

ff_offload_mode ff_offload_stream_mode(const ff_offload_stream *s) { return s->o.mode; }

void ff_offload_stream_stats(const ff_offload_stream *s, ff_offload_stats *st) { *st = s->st; }

/* ---- create / free ------------------------------------------------------------------- */

void ff_offload_stream_free(ff_offload_stream *s) {
    if (!s) return;
    if (s->running) ff_offload_stream_end(s);
    /* queued copies out of staging / kernels reading the ring end before they are freed */
    if (s->stream && s->ring) (void)ff_be_sync(s->be, NULL);
    if (s->slot && s->host)
        for (size_t i = 0; i < s->n; i++) {
            if (s->host[i].data || s->dev[i].data) *s->slot[i] = s->host[i];
            if (s->dev[i].data) ff_be_free(s->be, &s->dev[i]);
        }
    if (s->ring)
        for (int r = 0; r < s->R; r++)
            if (s->ring[r].data) ff_be_free(s->be, &s->ring[r]);
    if (s->staging) {
        if (s->o.host_pool) ff_pool_host_free(s->o.host_pool, s->staging);
        else free(s->staging);
    }
    for (int q = 0; q < NSTAGE; q++) {
        if (s->o.host_pool) ff_pool_host_free_pinned(s->o.host_pool, s->be, &s->stage[q]);
        else ff_be_host_free(s->be, &s->stage[q]);
        ff_be_event_free(s->be, s->staged[q]);
    }
    for (int r = 0; s->filled && r < s->R; r++) ff_be_event_free(s->be, s->filled[r]);
    for (int r = 0; s->consumed && r < s->R; r++) ff_be_event_free(s->be, s->consumed[r]);
    free(s->filled);
    free(s->consumed);
    free(s->consumed_rec);
    for (int b = 0; b < 3; b++) {
        if (s->fbuf[b] && s->o.host_pool) ff_pool_host_free(s->o.host_pool, s->fbuf[b]);
        else free(s->fbuf[b]);
    }
    free(s->src);
    free(s->src_dt);
    free(s->src_n);
    if (s->sync_ok) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
    }
    free(s->slot);
    free(s->names);
    free(s->host);
    free(s->dev);
    free(s->boff);
    free(s->bsz);
    free(s->bdt);
    free(s->ring);
    free(s->slot_busy);
    free(s->slot_group);
    free(s);
}

/* ---- create, in steps ---- */

/* The slot, name, host/device and ring tables; the slots taken from the caller. */
static ff_status create_tables(ff_offload_stream *s, ff_tensor *const *resident, const char *const *resident_names,
                               ff_tensor *const *blocks, const char *const *block_names, ff_err *err) {
    ff_status st = FF_OK;
    const size_t n1 = s->n ? s->n : 1, p1 = s->pb ? s->pb : 1;
    s->slot = calloc(n1, sizeof *s->slot);
    s->names = calloc(n1, sizeof *s->names);
    s->host = calloc(n1, sizeof *s->host);
    s->dev = calloc(n1, sizeof *s->dev);
    s->boff = calloc(p1, sizeof *s->boff);
    s->bsz = calloc(p1, sizeof *s->bsz);
    s->bdt = calloc(p1, sizeof *s->bdt);
    s->ring = calloc((size_t)s->R, sizeof *s->ring);
    s->slot_busy = calloc((size_t)s->R, sizeof *s->slot_busy);
    s->slot_group = calloc((size_t)s->R, sizeof *s->slot_group);
    s->filled = calloc((size_t)s->R, sizeof *s->filled);
    s->consumed = calloc((size_t)s->R, sizeof *s->consumed);
    s->consumed_rec = calloc((size_t)s->R, sizeof *s->consumed_rec);
    if (!s->slot || !s->names || !s->host || !s->dev || !s->boff || !s->bsz || !s->bdt || !s->ring ||
        !s->slot_busy || !s->slot_group || !s->filled || !s->consumed || !s->consumed_rec) {
        st = ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the offload tables of %s", s->name);
        return st;
    }
    for (int r = 0; r < s->R; r++) s->slot_group[r] = -1;
    for (size_t i = 0; i < s->n; i++) {
        int res = i < s->nr;
        s->slot[i] = res ? resident[i] : blocks[i - s->nr];
        s->names[i] = res ? (resident_names ? resident_names[i] : NULL)
                          : (block_names ? block_names[i - s->nr] : NULL);
        if (!s->slot[i]) {
            st = ff_err_set(err, FF_ERR_ARG, "%s: slot %zu is NULL", s->name, i);
            return st;
        }
    }
    return st;
}

/* Blocks from the file: every block tensor found in the mapping, and the
 * staging its conversions need. */
static ff_status create_file_sources(ff_offload_stream *s, ff_err *err) {
    ff_status st = FF_OK;
    /* blocks from the file: find every block tensor in the mapping */
    if (s->o.block_weights && s->L > 0 && s->pb > 0) {
        s->src = calloc(s->n, sizeof *s->src);
        s->src_dt = calloc(s->n, sizeof *s->src_dt);
        s->src_n = calloc(s->n, sizeof *s->src_n);
        if (!s->src || !s->src_dt || !s->src_n) {
            st = ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the file table of %s", s->name);
            return st;
        }
        for (size_t i = s->nr; i < s->n; i++) {
            const ff_tensor *t = s->slot[i];
            const ff_st_file *f;
            const ff_st_entry *e;
            if (!s->names[i]) {
                st = ff_err_set(err, FF_ERR_ARG, "%s: streaming from the file needs block tensor names", s->name);
                return st;
            }
            if ((st = ff_weights_find(s->o.block_weights, s->names[i], &f, &e, err))) return st;
            if (t->data || e->ndim != t->ndim || memcmp(e->shape, t->shape, sizeof e->shape) != 0 ||
                (e->dtype != FF_F32 && e->dtype != FF_BF16 && e->dtype != FF_F16)) {
                char d1[96];
                st = ff_err_set(err, FF_ERR_ARG, "%s: %s in %s (%s) does not match the model's shape-only %s slot",
                                s->name, s->names[i], ff_st_path(f), ff_dtype_name(e->dtype),
                                ff_tensor_describe(t, d1, sizeof d1));
                return st;
            }
            s->src[i] = ff_st_entry_data(f, e);
            s->src_dt[i] = e->dtype;
            s->src_n[i] = (size_t)e->nbytes;
            ff_dtype chain[3];
            const size_t numel = (size_t)ff_tensor_numel(t);
            int nc = file_chain(e->dtype, t->dtype, dev_dtype(t->dtype, s->o.upload_dtype), chain);
            /* streamed: the last step writes into pinned staging (stage_slot); an
             * unaligned tensor needs an aligned copy only when converted */
            const int last = s->stream ? nc - 1 : nc;
            if ((uintptr_t)s->src[i] % ff_dtype_size(e->dtype) && s->src_n[i] > s->fbuf_n[0] &&
                (!s->stream || nc > 0))
                s->fbuf_n[0] = s->src_n[i];
            for (int c = 0; c < last; c++)
                if (numel * ff_dtype_size(chain[c]) > s->fbuf_n[1 + (c & 1)])
                    s->fbuf_n[1 + (c & 1)] = numel * ff_dtype_size(chain[c]);
        }
        for (int b = 0; b < 3; b++) {
            if (!s->fbuf_n[b]) continue;
            if (s->o.host_pool) {
                ff_pool_set_label(s->o.host_pool, "%s/file staging", s->name);
                if ((st = ff_pool_host_alloc(s->o.host_pool, s->fbuf_n[b], &s->fbuf[b], err))) return st;
            } else if (!(s->fbuf[b] = malloc(s->fbuf_n[b]))) {
                st = ff_err_set(err, FF_ERR_NOMEM, "%s: cannot allocate %zu bytes of staging", s->name, s->fbuf_n[b]);
                return st;
            }
            s->staging_bytes += s->fbuf_n[b];
        }
    }
    return st;
}

/* The host tensors snapshotted, one block's device layout (every block like
 * block 0), and the staging for widening on upload. */
static ff_status create_layout(ff_offload_stream *s, ff_err *err) {
    ff_status st = FF_OK;
    /* snapshot the host tensors */
    size_t widen = 0;
    for (size_t i = 0; i < s->n; i++) {
        const ff_tensor *t = s->slot[i];
        if (!t->data && ff_tensor_numel(t) > 0 && !(s->src && s->src[i])) {
            st = ff_err_set(err, FF_ERR_ARG, "%s: %s is not loaded", s->name, slot_name(s, i));
            return st;
        }
        if (t->loc != FF_LOC_HOST) {
            st = ff_err_set(err, FF_ERR_ARG, "%s: %s is already on the backend (offload takes host weights)",
                            s->name, slot_name(s, i));
            return st;
        }
        s->host[i] = *t;
        ff_dtype dd = dev_dtype(t->dtype, s->o.upload_dtype);
        size_t nb = (size_t)ff_tensor_numel(t) * ff_dtype_size(dd);
        /* streamed blocks are widened into pinned staging instead */
        if (dd != t->dtype && nb > widen && !(s->src && s->src[i]) && !(s->stream && i >= s->nr)) widen = nb;
    }
    /* one block's layout; every block must store its tensors like block 0 */
    for (size_t j = 0; j < s->pb && s->L > 0; j++) {
        const ff_tensor *h0 = &s->host[s->nr + j];
        s->bdt[j] = dev_dtype(h0->dtype, s->o.upload_dtype);
        s->boff[j] = s->block_bytes;
        s->bsz[j] = (size_t)ff_tensor_numel(h0) * ff_dtype_size(s->bdt[j]);
        s->block_bytes += align_up(s->bsz[j]);
        for (int b = 1; b < s->L; b++) {
            size_t i = s->nr + (size_t)b * s->pb + j;
            if (s->host[i].dtype != h0->dtype || !ff_tensor_same_shape(&s->host[i], h0)) {
                char d1[96], d2[96];
                st = ff_err_set(err, FF_ERR_ARG, "%s: %s is %s but block 0 stores it as %s", s->name,
                                slot_name(s, i), ff_tensor_describe(&s->host[i], d1, sizeof d1),
                                ff_tensor_describe(h0, d2, sizeof d2));
                return st;
            }
        }
    }
    if (widen) {
        s->staging_bytes += widen;
        s->widen_bytes = widen;
        if (s->o.host_pool) {
            ff_pool_set_label(s->o.host_pool, "%s/staging", s->name);
            if ((st = ff_pool_host_alloc(s->o.host_pool, widen, &s->staging, err))) return st;
        } else if (!(s->staging = malloc(widen))) {
            st = ff_err_set(err, FF_ERR_NOMEM, "%s: cannot allocate %zu bytes of staging", s->name, widen);
            return st;
        }
    }
    return st;
}

/* Backend copies: everything (RESIDENT) or the resident slots (STREAM), then
 * the ring and the copy thread's state. */
static ff_status create_placement(ff_offload_stream *s, ff_err *err) {
    ff_status st = FF_OK;
    ff_backend *be = s->be;
    for (size_t i = 0; i < s->n; i++) {
        if (s->stream && i >= s->nr) break;
        const ff_tensor *h = &s->host[i];
        if (s->o.device_pool) ff_pool_set_label(s->o.device_pool, "%s/%s", s->name, slot_name(s, i));
        if ((st = ff_be_alloc(be, &s->dev[i], dev_dtype(h->dtype, s->o.upload_dtype), h->ndim, h->shape, err)) ||
            (st = upload_slot(s, i, &s->dev[i], err))) {
            ff_err_wrap(err, "%s: placing %s", s->name, slot_name(s, i));
            return st;
        }
        s->st.resident_bytes += ff_tensor_nbytes(&s->dev[i]);
        s->st.bytes_uploaded += (int64_t)ff_tensor_nbytes(&s->dev[i]);
        *s->slot[i] = s->dev[i];
    }
    if (s->stream) {
        int64_t shape[1] = {(int64_t)((size_t)s->k * s->block_bytes / 4)};
        for (int r = 0; r < s->R; r++) {
            if (s->o.device_pool)
                ff_pool_set_label(s->o.device_pool, "%s/ring.%d (%d blocks)", s->name, r, s->k);
            if ((st = ff_be_alloc(be, &s->ring[r], FF_F32, 1, shape, err))) {
                ff_err_wrap(err, "%s: block ring", s->name);
                return st;
            }
        }
        s->st.ring_bytes = (size_t)s->R * (size_t)s->k * s->block_bytes;
        if ((st = stream_setup(s, err))) return st;
    }
    return st;
}

ff_status ff_offload_stream_create(ff_backend *be, const ff_offload_opts *oi, ff_tensor *const *resident,
                                   const char *const *resident_names, size_t n_resident, ff_tensor *const *blocks,
                                   const char *const *block_names, int L, size_t per_block, ff_offload_stream **out,
                                   ff_err *err) {
    *out = NULL;
    if (!be || !oi || (n_resident && !resident) || L < 0 || (L && per_block && !blocks))
        return ff_err_set(err, FF_ERR_ARG, "ff_offload_stream_create: bad arguments");
    ff_offload_stream *s = calloc(1, sizeof *s);
    if (!s) return ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the offload state");
    ff_status st = FF_OK;
    s->be = be;
    s->o = *oi;
    snprintf(s->name, sizeof s->name, "%s", oi->name ? oi->name : "model");
    s->o.name = s->name;
    if (s->o.ring < 2) s->o.ring = 2;
    if (s->o.group < 1) s->o.group = 1;
    if (L > 0 && s->o.group > L) s->o.group = L;
    s->L = L;
    s->k = s->o.group;
    s->R = s->o.ring;
    s->G = L > 0 ? (L + s->k - 1) / s->k : 0;
    s->stream = s->o.mode == FF_OFFLOAD_STREAM && L > 0 && per_block > 0;
    s->nr = n_resident;
    s->pb = per_block;
    s->n = n_resident + (size_t)L * per_block;
    if (pthread_mutex_init(&s->mu, NULL)) {
        free(s);
        return ff_err_set(err, FF_ERR_INTERNAL, "offload: pthread_mutex_init failed");
    }
    if (pthread_cond_init(&s->cv, NULL)) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return ff_err_set(err, FF_ERR_INTERNAL, "offload: pthread_cond_init failed");
    }
    s->sync_ok = 1;
    if ((st = create_tables(s, resident, resident_names, blocks, block_names, err)) ||
        (st = create_file_sources(s, err)) ||
        (st = create_layout(s, err)) || (st = create_placement(s, err)))
        goto fail;
    s->st.block_bytes = s->block_bytes;
    s->st.staging_bytes = s->staging_bytes;
    if (s->o.device_pool) ff_pool_set_label(s->o.device_pool, "%s", s->name);
    *out = s;
    return FF_OK;
fail:
    ff_offload_stream_free(s);
    return st;
}
