/* mpi_nccl: NCCL send/recv of the overlap merge (see mpi_nccl.h). Built for
 * real with FF_HAVE_NCCL (CUDA builds that found libnccl); stubs otherwise. */
#include <stdlib.h>
#include <string.h>

#include "cluster/mpi_nccl.h"

#if FF_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

struct ff_nccl {
    ncclComm_t comm;
    cudaStream_t stream;
    int device;
    ff_tensor dsend, drecv; /* staging buffers on the backend, grown on demand */
    ff_backend *be;         /* owner of the staging buffers */
};

int ff_nccl_compiled(void) { return 1; }

ff_status ff_nccl_create(MPI_Comm comm, int device, ff_nccl **out, ff_err *err) {
    *out = NULL;
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    ncclResult_t nr = ncclSuccess;
    if (rank == 0) nr = ncclGetUniqueId(&id);
    int bad = nr != ncclSuccess; /* every rank learns whether rank 0 got an id */
    int rc = MPI_Bcast(&bad, 1, MPI_INT, 0, comm);
    if (rc == MPI_SUCCESS && !bad) rc = MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, comm);
    if (rc != MPI_SUCCESS) return ff_err_set(err, FF_ERR_IO, "nccl: MPI_Bcast of the ncclUniqueId failed (code %d)", rc);
    if (bad) return ff_err_set(err, FF_ERR_DEVICE, "nccl: rank 0's ncclGetUniqueId failed: %s", ncclGetErrorString(nr));
    cudaError_t ce = cudaSetDevice(device);
    if (ce != cudaSuccess) return ff_err_set(err, FF_ERR_DEVICE, "nccl: cudaSetDevice(%d): %s", device, cudaGetErrorString(ce));
    ff_nccl *n = calloc(1, sizeof *n);
    if (!n) return ff_err_set(err, FF_ERR_NOMEM, "nccl: out of memory");
    n->device = device;
    if ((ce = cudaStreamCreateWithFlags(&n->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        free(n);
        return ff_err_set(err, FF_ERR_DEVICE, "nccl: cudaStreamCreate: %s", cudaGetErrorString(ce));
    }
    if ((nr = ncclCommInitRank(&n->comm, size, id, rank)) != ncclSuccess) {
        cudaStreamDestroy(n->stream);
        free(n);
        return ff_err_set(err, FF_ERR_DEVICE, "nccl: ncclCommInitRank (rank %d of %d, device %d): %s", rank, size, device,
                          ncclGetErrorString(nr));
    }
    *out = n;
    return FF_OK;
}

void ff_nccl_free(ff_nccl *n) {
    if (!n) return;
    if (n->be) {
        if (n->dsend.data) ff_be_free(n->be, &n->dsend);
        if (n->drecv.data) ff_be_free(n->be, &n->drecv);
    }
    ncclCommDestroy(n->comm);
    cudaStreamDestroy(n->stream);
    free(n);
}

static ff_status staging(ff_nccl *n, ff_backend *be, ff_tensor *t, size_t count, ff_err *err) {
    if (t->data && (size_t)ff_tensor_numel(t) >= count) return FF_OK;
    if (t->data) ff_be_free(be, t);
    memset(t, 0, sizeof *t);
    int64_t shape[1] = {(int64_t)count};
    n->be = be;
    return ff_be_alloc(be, t, FF_F32, 1, shape, err);
}

ff_status ff_nccl_shift(ff_nccl *n, ff_backend *be, const float *send, int dest, float *recv, int src, size_t count,
                        ff_err *err) {
    if (!count || (dest < 0 && src < 0)) return FF_OK;
    if (ff_backend_kind_of(be) != FF_BACKEND_CUDA)
        return ff_err_set(err, FF_ERR_ARG, "nccl: the backend is %s, not CUDA", ff_backend_name(be));
    ff_status st = staging(n, be, &n->dsend, count, err);
    if (!st) st = staging(n, be, &n->drecv, count, err);
    if (st) return st;
    int64_t shape[1] = {(int64_t)count};
    ff_tensor hs, hr, ds, dr;
    ff_tensor_view(&ds, FF_F32, 1, shape, n->dsend.data, FF_LOC_DEVICE);
    ff_tensor_view(&dr, FF_F32, 1, shape, n->drecv.data, FF_LOC_DEVICE);
    if (dest >= 0) {
        ff_tensor_view(&hs, FF_F32, 1, shape, (void *)send, FF_LOC_HOST);
        if ((st = ff_be_upload(be, &ds, &hs, err)) || (st = ff_be_sync(be, err))) return st;
    }
    ncclResult_t nr = ncclGroupStart();
    if (nr == ncclSuccess && dest >= 0) nr = ncclSend(ds.data, count, ncclFloat, dest, n->comm, n->stream);
    if (nr == ncclSuccess && src >= 0) nr = ncclRecv(dr.data, count, ncclFloat, src, n->comm, n->stream);
    ncclResult_t ne = ncclGroupEnd();
    if (nr == ncclSuccess) nr = ne;
    if (nr != ncclSuccess)
        return ff_err_set(err, FF_ERR_IO, "nccl: send to rank %d / receive from rank %d: %s", dest, src, ncclGetErrorString(nr));
    cudaError_t ce = cudaStreamSynchronize(n->stream);
    if (ce != cudaSuccess) return ff_err_set(err, FF_ERR_DEVICE, "nccl: stream: %s", cudaGetErrorString(ce));
    if (src >= 0) {
        ff_tensor_view(&hr, FF_F32, 1, shape, recv, FF_LOC_HOST);
        if ((st = ff_be_download(be, &hr, &dr, err))) return st;
    }
    return FF_OK;
}

#else /* built without NCCL */

struct ff_nccl {
    int unused;
};

int ff_nccl_compiled(void) { return 0; }

ff_status ff_nccl_create(MPI_Comm comm, int device, ff_nccl **out, ff_err *err) {
    (void)comm;
    (void)device;
    *out = NULL;
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "nccl: built without NCCL (a CUDA build finds libnccl); use comm \"mpi\"");
}

void ff_nccl_free(ff_nccl *n) { free(n); }

ff_status ff_nccl_shift(ff_nccl *n, ff_backend *be, const float *send, int dest, float *recv, int src, size_t count,
                        ff_err *err) {
    (void)n, (void)be, (void)send, (void)dest, (void)recv, (void)src, (void)count;
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "nccl: built without NCCL");
}

#endif
