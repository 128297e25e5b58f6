/* mpi_nccl (ff_nccl_*): the NCCL transport of `framefarm mpi`'s per-step
 * overlap merge, for ranks whose backend is CUDA.
 *
 * The communicator spans the MPI communicator's ranks: rank 0 makes an
 * ncclUniqueId, MPI_Bcast hands it to every rank, each calls
 * ncclCommInitRank on its CUDA device. ff_nccl_shift moves one buffer to a
 * neighbour and takes one from the other (ncclSend + ncclRecv in one group)
 * through device staging buffers allocated on the rank's backend, on a
 * stream of its own, and waits for it. The pipeline keeps latents and the
 * guided prediction on the host (pipeline/scheduler.h), so the host data is
 * uploaded, exchanged device to device (NVLink / InfiniBand with GPUDirect
 * where NCCL finds them) and downloaded.
 *
 * Compiled for real only in CUDA builds that found libnccl (FF_HAVE_NCCL);
 * elsewhere every call returns FF_ERR_UNSUPPORTED ("built without NCCL") and
 * `framefarm mpi` merges over MPI on host memory. */
#ifndef FF_MPI_NCCL_H
#define FF_MPI_NCCL_H

#include <mpi.h>
#include <stddef.h>

#include "core/ff_err.h"
#include "kernels/ops.h"

typedef struct ff_nccl ff_nccl;

int ff_nccl_compiled(void); /* 1 when built with NCCL */

/* Collective over comm. device: the CUDA ordinal of this rank's backend. */
ff_status ff_nccl_create(MPI_Comm comm, int device, ff_nccl **out, ff_err *err);
void ff_nccl_free(ff_nccl *n); /* NULL is a no-op */

/* Sends count floats of host send to rank dest and receives count floats
 * from rank src into host recv (dest / src -1: none), through device
 * buffers of be (a CUDA backend). Every pair of neighbours must call it
 * with matching counts. */
ff_status ff_nccl_shift(ff_nccl *n, ff_backend *be, const float *send, int dest, float *recv, int src, size_t count,
                        ff_err *err);

#endif
