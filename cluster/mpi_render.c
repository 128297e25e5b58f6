/* mpi_render: `framefarm mpi` — windows merged every step, distributed decode,
 * frames gathered on rank 0 (see mpi_render.h). Reads top to bottom:
 * plan, noise slice, embeddings, denoise with the merge hook, decode (time or
 * space), gather. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/mpi_nccl.h"
#include "cluster/mpi_render.h"
#include "core/ff_clock.h"
#include "core/ff_rng.h"

enum { TAG_MERGE_RIGHT = 11, TAG_MERGE_LEFT = 12, TAG_FRAME = 1000 };

typedef struct {
    const ff_mpi_render_opts *o;
    int rank, size;
    ff_mpi_plan plan;
    ff_geometry g;
    int fa;                 /* the latent frame axis of the family's layout */
    int vae_i;              /* the VAE component */
    const ff_vae_ops *vae;  /* its role interface */
    int k;                  /* my window, -1: none */
    int64_t s, e;           /* my window's latent frames */
    int64_t outer, inner;   /* a latent frame: outer blocks of inner floats ((B, C, F, h, w): B*C, h*w) */
    int64_t h, w;           /* latent frame size (the last two dims in every layout) */
    int do_cfg;
    ff_tensor embeds, negative; /* broadcast from rank 0 */
    float *hbuf, *tbuf, *rh, *rt; /* overlap exchange: my head / tail, received head / tail */
    ff_nccl *nccl;
    double t_decode0;
} mrun;

/* An MPI return code as an ff_status naming the call and the peer. */
static ff_status mpi_check(int rc, ff_err *err, const char *call, int peer) {
    if (rc == MPI_SUCCESS) return FF_OK;
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    if (peer >= 0) return ff_err_set(err, FF_ERR_IO, "%s with rank %d failed: %s", call, peer, msg);
    return ff_err_set(err, FF_ERR_IO, "%s failed: %s", call, msg);
}

static ff_status int_count(int64_t n, const char *what, int *out, ff_err *err) {
    if (n < 0 || n > INT_MAX) return ff_err_set(err, FF_ERR_UNSUPPORTED, "mpi: %s of %lld floats is over MPI's int count", what, (long long)n);
    *out = (int)n;
    return FF_OK;
}

static ff_status progress(mrun *r, ff_stage_kind stage, int64_t done, int64_t total, double t0, ff_err *err) {
    if (!r->o->on_progress) return FF_OK;
    ff_chain_progress pr = {stage, done, total, 0, 0, ff_now_s() - t0};
    return r->o->on_progress(r->o->user, &pr, err);
}

/* ---- latent frames of a host tensor in the family's layout <-> packed (outer, n, inner) ---- */

static void pack_frames(const mrun *r, const ff_tensor *x, int64_t f0, int64_t n, float *dst) {
    ff_tensor_axis_pack(x, r->fa, f0, n, dst);
}

static void unpack_frames(const mrun *r, ff_tensor *x, int64_t f0, int64_t n, const float *src) {
    ff_tensor_axis_unpack(x, r->fa, f0, n, src);
}

/* ---- 3. embeddings: rank 0 broadcasts what its text stage produced ---- */

static ff_status bcast_tensor(mrun *r, ff_tensor *t, ff_err *err) {
    int64_t hdr[4] = {t->ndim, t->shape[0], t->shape[1], t->shape[2]};
    ff_status st = mpi_check(MPI_Bcast(hdr, 4, MPI_INT64_T, 0, r->o->comm), err, "MPI_Bcast of the prompt embeddings", 0);
    if (st) return st;
    if (r->rank != 0) {
        if (hdr[0] != 3) return ff_err_set(err, FF_ERR_FORMAT, "mpi: rank 0 sent embeddings of %lld dims", (long long)hdr[0]);
        if ((st = ff_tensor_alloc(t, FF_F32, 3, hdr + 1, err))) return st;
    }
    int n = 0;
    if ((st = int_count(ff_tensor_numel(t), "the prompt embeddings", &n, err))) return st;
    return mpi_check(MPI_Bcast(t->data, n, MPI_FLOAT, 0, r->o->comm), err, "MPI_Bcast of the prompt embeddings", 0);
}

static ff_status bcast_embeds(mrun *r, ff_err *err) {
    ff_status st = bcast_tensor(r, &r->embeds, err);
    if (!st && r->do_cfg) st = bcast_tensor(r, &r->negative, err);
    return st;
}

static ff_status on_intermediate(void *user, const char *name, int64_t step, const ff_tensor *t, ff_err *err) {
    mrun *r = user;
    (void)step;
    ff_status st = FF_OK;
    if (!strcmp(name, "prompt_embeds")) {
        if ((st = ff_tensor_clone(&r->embeds, t, err))) return st;
        if (!r->do_cfg) st = bcast_embeds(r, err);
    } else if (!strcmp(name, "negative_prompt_embeds")) {
        if ((st = ff_tensor_clone(&r->negative, t, err))) return st;
        st = bcast_embeds(r, err);
    }
    return st;
}

static ff_status on_pipe_progress(void *user, const ff_chain_progress *pr, ff_err *err) {
    mrun *r = user;
    return r->o->on_progress ? r->o->on_progress(r->o->user, pr, err) : FF_OK;
}

/* ---- 4. the per-step merge of overlapping windows ---- */

/* Send n floats to dest and receive n from src (-1: none): MPI or NCCL. */
static ff_status shift(mrun *r, const float *send, int dest, float *recv, int src, int64_t n, int tag, ff_err *err) {
    if (dest < 0 && src < 0) return FF_OK;
    if (r->nccl) return ff_nccl_shift(r->nccl, r->o->be, send, dest, recv, src, (size_t)n, err);
    int cnt = 0;
    ff_status st = int_count(n, "an overlap", &cnt, err);
    if (st) return st;
    int rc = MPI_Sendrecv(send, dest >= 0 ? cnt : 0, MPI_FLOAT, dest >= 0 ? dest : MPI_PROC_NULL, tag, recv,
                          src >= 0 ? cnt : 0, MPI_FLOAT, src >= 0 ? src : MPI_PROC_NULL, tag, r->o->comm, MPI_STATUS_IGNORE);
    return mpi_check(rc, err, "MPI_Sendrecv of overlapping latent frames", dest >= 0 ? dest : src);
}

static ff_status on_step(void *user, int64_t step, ff_tensor *pred, const ff_tensor *latents, ff_err *err) {
    mrun *r = user;
    (void)latents;
    const int W = r->plan.n_windows, O = r->plan.overlap, k = r->k;
    if (W < 2) return FF_OK;
    const int64_t L = pred->shape[r->fa], plane = r->inner, bc = r->outer, n = bc * O * plane;
    const int prev = k > 0 ? k - 1 : -1, next = k + 1 < W ? k + 1 : -1;
    if (prev >= 0) pack_frames(r, pred, 0, O, r->hbuf);
    if (next >= 0) pack_frames(r, pred, L - O, O, r->tbuf);
    /* my tail to the next window, the previous window's tail into rh; then heads the other way */
    ff_status st = shift(r, r->tbuf, next, r->rh, prev, n, TAG_MERGE_RIGHT, err);
    if (!st) st = shift(r, r->hbuf, prev, r->rt, next, n, TAG_MERGE_LEFT, err);
    if (st) return ff_err_wrap(err, "denoise step %lld: ", (long long)step);
    /* the same expression on both ranks: w_earlier * earlier + w_later * later */
    for (int64_t b = 0; b < bc; b++)
        for (int j = 0; j < O; j++) {
            float we, wl;
            ff_mpi_plan_merge_weights(O, j, &we, &wl);
            if (prev >= 0) {
                float *x = (float *)pred->data + (b * L + j) * plane;
                const float *y = r->rh + (b * O + j) * plane;
                for (int64_t q = 0; q < plane; q++) x[q] = we * y[q] + wl * x[q];
            }
            if (next >= 0) {
                float *x = (float *)pred->data + (b * L + L - O + j) * plane;
                const float *y = r->rt + (b * O + j) * plane;
                for (int64_t q = 0; q < plane; q++) x[q] = we * x[q] + wl * y[q];
            }
        }
    return FF_OK;
}

/* ---- 5a. gather the window cores into the whole latent video (every rank) ---- */

static ff_status allgather_latents(mrun *r, const ff_tensor *mine, ff_tensor *full, ff_err *err) {
    const int N = r->size;
    const int64_t per = r->outer * r->inner; /* floats per latent frame */
    int *counts = calloc((size_t)N, sizeof *counts), *displs = calloc((size_t)N, sizeof *displs);
    float *send = NULL, *recv = NULL;
    ff_status st = FF_OK;
    if (!counts || !displs) st = ff_err_set(err, FF_ERR_NOMEM, "mpi: out of memory");
    int64_t total = 0;
    for (int q = 0; q < N && !st; q++) {
        int64_t n = q < r->plan.n_windows ? (r->plan.core[q + 1] - r->plan.core[q]) * per : 0;
        if (!(st = int_count(n, "a window core", &counts[q], err)) && !(st = int_count(total, "the latents", &displs[q], err)))
            total += n;
    }
    if (!st) st = ff_tensor_alloc(full, FF_F32, 5, r->g.latent_shape, err);
    if (!st && (!(send = malloc(sizeof(float) * (size_t)(counts[r->rank] + 1))) || !(recv = malloc(sizeof(float) * (size_t)(total + 1)))))
        st = ff_err_set(err, FF_ERR_NOMEM, "mpi: out of memory for the latents");
    if (!st && r->k >= 0) pack_frames(r, mine, r->plan.core[r->k] - r->s, r->plan.core[r->k + 1] - r->plan.core[r->k], send);
    if (!st)
        st = mpi_check(MPI_Allgatherv(send, counts[r->rank], MPI_FLOAT, recv, counts, displs, MPI_FLOAT, r->o->comm), err,
                       "MPI_Allgatherv of the final latents", -1);
    for (int q = 0; q < r->plan.n_windows && !st; q++)
        unpack_frames(r, full, r->plan.core[q], r->plan.core[q + 1] - r->plan.core[q], recv + displs[q]);
    free(send);
    free(recv);
    free(counts);
    free(displs);
    if (st) ff_tensor_free(full);
    return st;
}

/* ---- 5b. rank 0's output: frames in order, postprocessed as the pipeline does ---- */

typedef struct {
    mrun *r;
    void *vae;              /* the loaded VAE component (r->vae's model) */
    int64_t first, chunk;   /* first latent frame of my window's decode (warm-up included), chunks so far */
    int64_t C, H, W;        /* decoded frame size, known from rank 0's first chunk */
    int64_t written;        /* pixel frames handed out (rank 0) */
    /* ranks > 0 (time split): frames in flight to rank 0 */
    MPI_Request *req;
    float **bufs;
    int n_req, cap_req;
} dec_ctx;

static ff_status emit_chunk(dec_ctx *d, int64_t t0, const ff_tensor *video, ff_err *err) {
    mrun *r = d->r;
    ff_tensor np = {0};
    ff_status st = FF_OK;
    int64_t total = ff_mpi_plan_pixel_frames(&r->plan);
    if (r->o->on_frames) {
        if ((st = r->vae->postprocess(d->vae, video, &np, err))) return st;
        ff_chain_chunk ch = {0, t0, 1, total, video, &np};
        st = r->o->on_frames(r->o->user, &ch, err);
        ff_tensor_free(&np);
        if (st) return st;
    }
    d->written += video->shape[2];
    return progress(r, FF_STAGE_DECODE, d->written, total, r->t_decode0, err);
}

/* Receives window `from`'s decode of latent frame f (time split). */
static ff_status recv_frames(dec_ctx *d, int from, int64_t f, ff_tensor *out, ff_err *err) {
    mrun *r = d->r;
    int64_t nt = ff_mpi_plan_pixel_count(&r->plan, f);
    ff_status st = ff_tensor_allocv(out, FF_F32, err, 5, (int64_t)1, d->C, nt, d->H, d->W);
    int n = 0;
    if (!st) st = int_count(ff_tensor_numel(out), "a decoded latent frame", &n, err);
    if (st) return st;
    MPI_Status ms;
    int got = -1;
    int rc = MPI_Recv(out->data, n, MPI_FLOAT, from, TAG_FRAME + (int)f, r->o->comm, &ms);
    if (rc == MPI_SUCCESS) rc = MPI_Get_count(&ms, MPI_FLOAT, &got);
    if ((st = mpi_check(rc, err, "MPI_Recv of decoded frames", from))) return st;
    if (got != n)
        return ff_err_set(err, FF_ERR_FORMAT, "mpi: rank %d sent %d floats for latent frame %lld, expected %d", from, got,
                          (long long)f, n);
    return FF_OK;
}

/* Latent frame f of the video (time split): the owner's frames, cross-faded
 * with the next window's in the overlap; `own` is rank 0's decode when it
 * owns f, else NULL. */
static ff_status time_emit(dec_ctx *d, int64_t f, const ff_tensor *own, ff_err *err) {
    mrun *r = d->r;
    int owner, later;
    float wl;
    ff_mpi_plan_decode_pixel(&r->plan, f, 0, &owner, &later, &wl);
    ff_tensor a = {0}, b = {0};
    ff_status st = FF_OK;
    if (!own) st = recv_frames(d, owner, f, &a, err);
    else st = ff_tensor_clone(&a, own, err);
    if (!st && later >= 0) st = recv_frames(d, later, f, &b, err);
    if (!st && later >= 0) { /* out = w_earlier * earlier + w_later * later, per pixel frame */
        const int64_t nt = a.shape[2], plane = d->H * d->W;
        for (int64_t q = 0; q < nt; q++) {
            int o2, l2;
            float w_later;
            ff_mpi_plan_decode_pixel(&r->plan, f, q, &o2, &l2, &w_later);
            const float w_earlier = 1.0f - w_later;
            for (int64_t c = 0; c < d->C; c++) {
                float *x = (float *)a.data + (c * nt + q) * plane;
                const float *y = (const float *)b.data + (c * nt + q) * plane;
                for (int64_t i = 0; i < plane; i++) x[i] = w_earlier * x[i] + w_later * y[i];
            }
        }
    }
    if (!st) st = emit_chunk(d, ff_mpi_plan_pixel_first(&r->plan, f), &a, err);
    ff_tensor_free(&a);
    ff_tensor_free(&b);
    return st;
}

/* Frees the sends rank 0 has taken. */
static ff_status reap_sends(dec_ctx *d, int wait_all, ff_err *err) {
    int keep = 0;
    for (int i = 0; i < d->n_req; i++) {
        int done = 0, rc = wait_all ? MPI_Wait(&d->req[i], MPI_STATUS_IGNORE) : MPI_Test(&d->req[i], &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_check(rc, err, "MPI_Isend of decoded frames", 0);
        if (wait_all || done) {
            free(d->bufs[i]);
        } else {
            d->req[keep] = d->req[i];
            d->bufs[keep++] = d->bufs[i];
        }
    }
    d->n_req = keep;
    return FF_OK;
}

/* The VAE stream callback of my window (time split): one call per latent frame. */
static ff_status on_window_chunk(void *user, int64_t b0, int64_t t0, const ff_tensor *video, ff_err *err) {
    dec_ctx *d = user;
    mrun *r = d->r;
    (void)b0, (void)t0;
    const int64_t f = d->first + d->chunk++;
    ff_status st = FF_OK;
    if (r->rank == 0) {
        if (f == 0) d->C = video->shape[1], d->H = video->shape[3], d->W = video->shape[4];
        return time_emit(d, f, video, err);
    }
    if (!ff_mpi_plan_decode_kept(&r->plan, r->k, f)) return FF_OK; /* warm-up */
    int n = 0;
    if ((st = int_count(ff_tensor_numel(video), "a decoded latent frame", &n, err))) return st;
    if (d->n_req == d->cap_req) {
        int cap = d->cap_req ? 2 * d->cap_req : 16;
        MPI_Request *nr = realloc(d->req, sizeof *nr * (size_t)cap);
        if (nr) d->req = nr;
        float **nb = realloc(d->bufs, sizeof *nb * (size_t)cap);
        if (nb) d->bufs = nb;
        if (!nr || !nb) return ff_err_set(err, FF_ERR_NOMEM, "mpi: out of memory for frames in flight");
        d->cap_req = cap;
    }
    float *buf = malloc(ff_tensor_nbytes(video));
    if (!buf) return ff_err_set(err, FF_ERR_NOMEM, "mpi: out of memory for frames in flight");
    memcpy(buf, video->data, ff_tensor_nbytes(video));
    int rc = MPI_Isend(buf, n, MPI_FLOAT, 0, TAG_FRAME + (int)f, r->o->comm, &d->req[d->n_req]);
    if (rc != MPI_SUCCESS) {
        free(buf);
        return mpi_check(rc, err, "MPI_Isend of decoded frames", 0);
    }
    d->bufs[d->n_req++] = buf;
    if ((st = reap_sends(d, 0, err))) return st;
    return progress(r, FF_STAGE_DECODE, ff_mpi_plan_pixel_first(&r->plan, f) + ff_mpi_plan_pixel_count(&r->plan, f),
                    ff_mpi_plan_pixel_frames(&r->plan), r->t_decode0, err);
}

/* My window's decode starts vae_warmup latent frames before it (from the
 * assembled latents), so the causal caches have seen that much history;
 * from latent frame 0 on, it is exactly the single-process decode. */
static ff_status decode_time(mrun *r, void *vae, const ff_tensor *full, ff_err *err) {
    dec_ctx d = {r, vae, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, 0};
    ff_tensor z = {0}, part = {0};
    ff_status st = FF_OK;
    if (r->k >= 0) {
        int64_t d0 = r->k > 0 ? r->s - r->o->vae_warmup : 0;
        if (d0 < 0) d0 = 0;
        d.first = d0;
        if (!(st = ff_tensor_axis_slice(full, r->fa, d0, r->e - d0, &part, err)) && !(st = r->vae->denormalize(vae, &part, &z, err)))
            st = r->vae->decode_stream(vae, &z, &r->o->vae, on_window_chunk, &d, err);
    }
    ff_tensor_free(&part);
    if (!st && r->rank == 0) /* the rest of the video, from the other windows, in order */
        for (int64_t f = r->e; f < r->plan.frames && !st; f++) st = time_emit(&d, f, NULL, err);
    if (!st && d.n_req) st = reap_sends(&d, 1, err);
    for (int i = 0; i < d.n_req; i++) free(d.bufs[i]); /* after an error: the job is aborted anyway */
    free(d.req);
    free(d.bufs);
    ff_tensor_free(&z);
    return st;
}

/* ---- 5c. space split: tiles decoded everywhere, blended on rank 0 ---- */

static ff_status decode_space(mrun *r, void *vae, const ff_tensor *full, const void *grid, int n_tiles, int t0, int nt,
                              ff_err *err) {
    const int N = r->size;
    const ff_vae_dist_ops *dist = r->vae->dist;
    dec_ctx d = {r, vae, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, 0};
    void *ts = NULL;
    ff_tensor z = {0};
    ff_tensor *raw = calloc((size_t)n_tiles, sizeof *raw);
    int64_t *hdr = calloc((size_t)n_tiles * 5 + 1, sizeof *hdr);
    int *hcounts = calloc((size_t)N, sizeof *hcounts), *hdispls = calloc((size_t)N, sizeof *hdispls);
    int *counts = calloc((size_t)N, sizeof *counts), *displs = calloc((size_t)N, sizeof *displs);
    float *send = NULL, *recv = NULL;
    ff_status st = FF_OK;
    if (!raw || !hdr || !hcounts || !hdispls || !counts || !displs) st = ff_err_set(err, FF_ERR_NOMEM, "mpi: out of memory");
    for (int q = 0; q < N && !st; q++) {
        int a, n;
        ff_mpi_plan_tiles(n_tiles, N, q, &a, &n);
        hcounts[q] = 5 * n, hdispls[q] = 5 * a;
    }
    if (!st) st = r->vae->denormalize(vae, full, &z, err);
    if (!st) st = dist->tiles_create(vae, grid, t0, nt, &ts, err);
    for (int64_t f = 0; f < r->plan.frames && !st; f++) {
        /* my tiles of latent frame f, packed */
        if ((st = dist->tiles_decode_frame(ts, &z, f, &raw[t0], err))) break;
        int64_t mine = 0;
        for (int i = 0; i < nt; i++) {
            memcpy(&hdr[5 * (t0 + i)], raw[t0 + i].shape, 5 * sizeof(int64_t));
            mine += ff_tensor_numel(&raw[t0 + i]);
        }
        int nmine = 0;
        if ((st = int_count(mine, "a frame's tiles", &nmine, err))) break;
        free(send);
        if (!(send = malloc(sizeof(float) * (size_t)(mine + 1)))) {
            st = ff_err_set(err, FF_ERR_NOMEM, "mpi: out of memory for tiles");
            break;
        }
        for (int64_t i = 0, off = 0; i < nt; off += ff_tensor_numel(&raw[t0 + i]), i++)
            memcpy(send + off, raw[t0 + i].data, ff_tensor_nbytes(&raw[t0 + i]));
        for (int i = 0; i < nt; i++) ff_tensor_free(&raw[t0 + i]);
        /* shapes, then data, to rank 0 */
        st = mpi_check(MPI_Gatherv(r->rank ? &hdr[5 * t0] : MPI_IN_PLACE, 5 * nt, MPI_INT64_T, hdr, hcounts, hdispls,
                                   MPI_INT64_T, 0, r->o->comm),
                       err, "MPI_Gatherv of tile shapes", -1);
        int64_t total = 0;
        for (int q = 0; q < N && !st && r->rank == 0; q++) {
            int64_t n = 0;
            for (int t = hdispls[q] / 5; t < (hdispls[q] + hcounts[q]) / 5; t++)
                n += hdr[5 * t] * hdr[5 * t + 1] * hdr[5 * t + 2] * hdr[5 * t + 3] * hdr[5 * t + 4];
            if (!(st = int_count(n, "a rank's tiles", &counts[q], err)) && !(st = int_count(total, "a frame's tiles", &displs[q], err)))
                total += n;
        }
        if (st) break;
        if (r->rank == 0) {
            free(recv);
            if (!(recv = malloc(sizeof(float) * (size_t)(total + 1)))) {
                st = ff_err_set(err, FF_ERR_NOMEM, "mpi: out of memory for a frame's tiles");
                break;
            }
        }
        if ((st = mpi_check(MPI_Gatherv(send, nmine, MPI_FLOAT, recv, counts, displs, MPI_FLOAT, 0, r->o->comm), err,
                            "MPI_Gatherv of decoded tiles", -1)))
            break;
        if (r->rank != 0) {
            st = progress(r, FF_STAGE_DECODE, f + 1, r->plan.frames, r->t_decode0, err);
            continue;
        }
        /* rank 0: every tile of frame f, blended as the tiled decode does */
        int64_t off = 0;
        for (int t = 0; t < n_tiles && !st; t++) {
            if (!(st = ff_tensor_alloc(&raw[t], FF_F32, 5, &hdr[5 * t], err))) {
                memcpy(raw[t].data, recv + off, ff_tensor_nbytes(&raw[t]));
                off += ff_tensor_numel(&raw[t]);
            }
        }
        ff_tensor video = {0};
        if (!st) st = dist->tiles_blend(vae, grid, raw, &video, err);
        for (int t = 0; t < n_tiles; t++) ff_tensor_free(&raw[t]);
        if (!st) st = emit_chunk(&d, ff_mpi_plan_pixel_first(&r->plan, f), &video, err);
        ff_tensor_free(&video);
    }
    for (int t = 0; raw && t < n_tiles; t++) ff_tensor_free(&raw[t]);
    if (ts) dist->tiles_free(ts);
    ff_tensor_free(&z);
    free(raw);
    free(hdr);
    free(hcounts);
    free(hdispls);
    free(counts);
    free(displs);
    free(send);
    free(recv);
    return st;
}

/* An MPI_Ibarrier polled every 10 ms, with a DENOISE progress report each second. */
static ff_status wait_all(mrun *r, int64_t steps, ff_err *err) {
    MPI_Request req;
    ff_status st = mpi_check(MPI_Ibarrier(r->o->comm, &req), err, "MPI_Ibarrier after the denoise", -1);
    double t0 = ff_now_s(), last = t0;
    for (int done = 0; !st;) {
        if ((st = mpi_check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), err, "MPI_Ibarrier after the denoise", -1)) || done) break;
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL);
        if (ff_now_s() - last >= 1.0) {
            last = ff_now_s();
            st = progress(r, FF_STAGE_DENOISE, r->k >= 0 ? steps : 0, steps, t0, err);
        }
    }
    return st;
}

/* ---- the run ---- */

ff_status ff_mpi_render(const ff_mpi_render_opts *o, ff_err *err) {
    mrun r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.k = -1;
    MPI_Comm_set_errhandler(o->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(o->comm, &r.rank);
    MPI_Comm_size(o->comm, &r.size);
    r.do_cfg = o->guidance > 1.0;
    ff_tensor win = {0}, final = {0}, full = {0};
    void *vae = NULL, *grid = NULL;
    int n_tiles = 0;
    ff_status st;

    /* 1. the plan (every rank computes the same one) */
    if ((r.vae_i = ff_chain_find_role(o->pipe, FF_ROLE_VAE, 0)) < 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "mpi: %s has no VAE", ff_chain_dir(o->pipe));
    const ff_model_class *vcls = ff_chain_component_class(o->pipe, r.vae_i);
    r.vae = FF_VAE_OPS(vcls);
    if ((st = ff_chain_geometry(o->pipe, 1, o->num_frames, o->height, o->width, &r.g, err))) return st;
    const int64_t *ls = r.g.latent_shape;
    r.fa = r.g.frame_axis;
    r.h = ls[3], r.w = ls[4];
    r.outer = 1, r.inner = 1;
    for (int d = 0; d < r.fa; d++) r.outer *= ls[d];
    for (int d = r.fa + 1; d < 5; d++) r.inner *= ls[d];
    /* windows are merged and decoded in the unit of 1 + t (n - 1) frames per n latent frames; a model that
       decodes its latents otherwise (padding frames, frame batches) cannot be split in time */
    if (ff_chain_pixel_frames(o->pipe, ls[r.fa]) != 1 + (int64_t)r.g.temporal_factor * (ls[r.fa] - 1))
        return ff_err_set(err, FF_ERR_UNSUPPORTED,
                          "mpi: %s denoises %lld latent frames for %d frames, not the 1 + %d (n - 1) frames the windows are "
                          "merged in: pick a frame count with an odd number of latent frames and no padding",
                          ff_chain_dir(o->pipe), (long long)ls[r.fa], r.g.num_frames, r.g.temporal_factor);
    if ((st = ff_mpi_plan_make(ls[r.fa], r.size, o->overlap, r.g.temporal_factor, &r.plan, err))) return st;
    if (r.rank < r.plan.n_windows) {
        r.k = r.rank;
        ff_mpi_plan_window(&r.plan, r.k, &r.s, &r.e);
        if (r.g.patch[0] > 1 && (r.e - r.s) % r.g.patch[0]) {
            st = ff_err_set(err, FF_ERR_UNSUPPORTED, "mpi: window %d has %lld latent frames, not a multiple of the temporal patch %d",
                            r.k, (long long)(r.e - r.s), r.g.patch[0]);
            goto done;
        }
    }
    int tile_t0 = 0, tile_n = 0;
    if (o->split == FF_MPI_SPLIT_SPACE) { /* the tile grid, from the VAE's config (weights come at the decode) */
        if (!r.vae->dist) {
            st = ff_err_set(err, FF_ERR_UNSUPPORTED, "mpi: the %s VAE has no space-split decode (use --vae-split time)",
                            vcls->class_name);
            goto done;
        }
        if ((st = r.vae->dist->grid_make(ff_chain_component_config(o->pipe, r.vae_i), r.h, r.w, &o->vae, &grid, &n_tiles, err)))
            goto done;
        ff_mpi_plan_tiles(n_tiles, r.size, r.rank, &tile_t0, &tile_n);
    }
    if (o->use_nccl && (st = ff_nccl_create(o->comm, o->nccl_device, &r.nccl, err))) goto done;
    ff_mpi_render_info info = {&r.plan, &r.g, n_tiles, tile_t0, tile_n, r.k, r.nccl != NULL};
    if (o->on_plan && (st = o->on_plan(o->user, &info, err))) goto done;

    /* 2. noise: my window's slice of the seed's one latent noise tensor */
    if (r.k >= 0) {
        ff_tensor noise = {0};
        if (!(st = ff_tensor_alloc(&noise, FF_F32, 5, ls, err)) && !(st = ff_randn_tensor(&noise, &o->seed, 1, err)))
            st = ff_tensor_axis_slice(&noise, r.fa, r.s, r.e - r.s, &win, err);
        ff_tensor_free(&noise);
        if (st) goto done;
        const int64_t ov = r.outer * r.plan.overlap * r.inner;
        r.hbuf = malloc(sizeof(float) * (size_t)ov), r.tbuf = malloc(sizeof(float) * (size_t)ov);
        r.rh = malloc(sizeof(float) * (size_t)ov), r.rt = malloc(sizeof(float) * (size_t)ov);
        if (!r.hbuf || !r.tbuf || !r.rh || !r.rt) {
            st = ff_err_set(err, FF_ERR_NOMEM, "mpi: out of memory for the overlap buffers");
            goto done;
        }
    }

    /* 3. + 4. embeddings and the denoising loop of my window: rank 0 encodes the prompt and
       broadcasts the embeddings, or (a family that needs the prompts) every window encodes it */
    const int bcast = ff_chain_takes_prompt_embeds(o->pipe);
    if (bcast && r.rank != 0 && (st = bcast_embeds(&r, err))) goto done;
    if (r.k >= 0) {
        ff_chain_params prm;
        ff_chain_params_default(o->pipe, &prm);
        const char *neg = o->negative_prompt;
        if (r.rank == 0 || !bcast) {
            prm.prompts = &o->prompt;
            prm.n_prompts = 1;
            prm.negative_prompts = neg ? &neg : NULL;
            prm.n_negative = neg ? 1 : 0;
            if (bcast) prm.on_intermediate = on_intermediate;
        } else {
            prm.prompt_embeds = &r.embeds;
            prm.negative_prompt_embeds = r.do_cfg ? &r.negative : NULL;
        }
        prm.latents = &win;
        prm.num_frames = (int)ff_chain_pixel_frames(o->pipe, r.e - r.s);
        prm.image = o->image;
        if (o->image) prm.window_start = r.s, prm.window_num_frames = r.g.num_frames;
        prm.height = r.g.height;
        prm.width = r.g.width;
        prm.num_inference_steps = o->steps;
        prm.guidance_scale = o->guidance;
        prm.has_guidance_scale_2 = o->has_guidance_2;
        prm.guidance_scale_2 = o->guidance_2;
        prm.max_sequence_length = o->max_sequence_length;
        prm.on_step = on_step;
        prm.on_progress = on_pipe_progress;
        prm.out_latents = &final;
        prm.user = &r;
        if ((st = ff_chain_run(o->pipe, &prm, NULL, err))) goto done;
    }
    ff_tensor_free(&win);
    /* every rank waits here for the slowest window, reporting progress while it waits (idle ranks
       wait the whole denoise: a watchdog must not take that for a hang) */
    if ((st = wait_all(&r, o->steps, err))) goto done;

    /* 5. decode */
    if ((st = ff_chain_component_load(o->pipe, r.vae_i, &vae, err))) goto done;
    r.t_decode0 = ff_now_s();
    if ((st = allgather_latents(&r, &final, &full, err))) goto done; /* both splits: warm-up or tiles */
    ff_tensor_free(&final);
    if (r.rank == 0 && o->gather_latents && o->on_latents && (st = o->on_latents(o->user, &full, err))) goto done;
    if ((st = progress(&r, FF_STAGE_DECODE, 0, ff_mpi_plan_pixel_frames(&r.plan), r.t_decode0, err))) goto done;
    if (o->split == FF_MPI_SPLIT_SPACE) st = decode_space(&r, vae, &full, grid, n_tiles, tile_t0, tile_n, err);
    else st = decode_time(&r, vae, &full, err);
done:
    ff_chain_component_free(o->pipe, r.vae_i, vae);
    if (grid) r.vae->dist->grid_free(grid);
    ff_nccl_free(r.nccl);
    ff_tensor_free(&win);
    ff_tensor_free(&final);
    ff_tensor_free(&full);
    ff_tensor_free(&r.embeds);
    ff_tensor_free(&r.negative);
    free(r.hbuf);
    free(r.tbuf);
    free(r.rh);
    free(r.rt);
    ff_mpi_plan_free(&r.plan);
    return st;
}
