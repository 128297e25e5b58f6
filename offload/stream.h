/* stream (ff_offload_stream_*): weights of a block-structured model kept
 * resident on a backend, or streamed block by block from host memory.
 *
 * The caller describes the model as slots (ff_tensor * pointers into the
 * model's weight structs, each holding a host tensor): `resident` slots used
 * outside the blocks, and L blocks of per_block slots each (every block
 * storing the same shapes and dtypes, as a transformer's blocks do).
 *
 *  FF_OFFLOAD_RESIDENT  every slot gets a backend copy at create
 *                       (ff_be_alloc, so an attached device pool counts it)
 *                       and points at it until free.
 *  FF_OFFLOAD_STREAM    the resident slots get backend copies; the blocks
 *                       stay on the host and are uploaded in groups of k
 *                       blocks into a ring of `ring` device buffers (each k
 *                       blocks wide). A copy thread (pthread + condition
 *                       variables) stages the next groups into pinned host
 *                       buffers (ff_be_host_alloc) and queues their uploads
 *                       on the backend's copy stream (ff_be_upload_async)
 *                       while the compute thread runs the current one.
 *                       enter(i) waits until block i's group is queued,
 *                       makes the compute stream wait for its copy (an
 *                       event, no host sync) and points block i's slots at
 *                       it; leave(i) points them back at the host tensors
 *                       and, after the last block of a group, marks the
 *                       compute work that reads the buffer (an event) and
 *                       hands the buffer back to the copy thread, which
 *                       waits for that event before rewriting it.
 * On CUDA the upload of group i+1 overlaps the compute of group i (copy and
 * compute streams ordered by events; the only host waits are the copy
 * thread's). On the CPU backend the same code and thread run with memcpy
 * uploads and no-op events, so ordering bugs show in CI.
 *
 * Weights stored on the host in BF16 may be widened to F32 on upload
 * (upload_dtype = FF_F32): exact, twice the device bytes of those tensors,
 * through a host staging buffer (counted in host_pool when given).
 *
 * Host staging (STREAM): two pinned buffers, each the larger of the biggest
 * block tensor and min(k blocks, 16 MiB); small tensors are batched into
 * one upload. Counted in host_pool (ff_pool_host_alloc_pinned) when given,
 * and in ff_offload_stats.staging_bytes.
 *
 * Blocks straight from the file (block_weights, with block_names): no host
 * copy of the blocks is kept; each upload takes the tensor's bytes from the
 * mapping (the page cache is the host copy), converts them when the stored
 * dtype differs (stored -> host dtype as ff_st_load / ff_tensor_convert
 * would -> upload dtype, the last step into the pinned staging, earlier
 * steps through at most two buffers of the largest block tensor) and drops
 * the mapping's pages (madvise MADV_DONTNEED), so the process's resident
 * set holds one tensor of the file at a time. The
 * same bits as uploading host tensors loaded with ff_wandit_load_as.
 *
 * Device bytes: RESIDENT all tensors; STREAM resident tensors + ring * k *
 * block_bytes, block_bytes = one block's tensors each padded to 256 bytes
 * (ff_offload_block_bytes). Outputs are bit-identical between modes: the
 * device copies hold the same bytes (or their exact widening).
 *
 * Not here: which model (pipeline/offload_dit.h adapts the Wan transformer's
 * hooks), choosing a strategy (pipeline/plan.h), budgets (pool.h).
 *
 * Ownership: borrows the backend and the slots (the model must outlive the
 * stream and not change its weights meanwhile); owns its device copies,
 * ring, staging and thread. ff_offload_stream_free puts every host tensor
 * back in its slot. One run (begin .. end) at a time, on one thread. */
#ifndef FF_OFFLOAD_STREAM_H
#define FF_OFFLOAD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_model_dir.h"
#include "kernels/ops.h"
#include "offload/pool.h"

typedef enum { FF_OFFLOAD_RESIDENT = 0, FF_OFFLOAD_STREAM = 1 } ff_offload_mode;

typedef struct {
    ff_offload_mode mode;
    int group;             /* STREAM: k blocks per upload (>= 1; capped at L) */
    int ring;              /* STREAM: ring buffers (>= 2; 0 = 2) */
    ff_dtype upload_dtype; /* FF_DTYPE_COUNT: as stored; FF_F32: widen BF16 on upload */
    ff_pool *device_pool;  /* optional: its label names the block running / being placed */
    ff_pool *host_pool;    /* optional: the staging buffer is counted here */
    const char *name;      /* component name for labels and messages ("transformer") */
    const ff_weights *block_weights; /* optional, borrowed: block slots hold shape-only tensors (data NULL,
                                        the host dtype) and every upload reads the tensor of that name from
                                        this mmap'd weights set (see below) */
} ff_offload_opts;

void ff_offload_opts_default(ff_offload_opts *o); /* RESIDENT, k 1, ring 2, as stored, name NULL ("model") */

typedef struct {
    size_t resident_bytes;  /* backend copies made at create */
    size_t ring_bytes;      /* STREAM: ring * k * block_bytes */
    size_t block_bytes;     /* one block on the device (padded) */
    size_t staging_bytes;   /* host staging: widening, file conversion, pinned upload buffers */
    int64_t block_uploads;  /* blocks uploaded by the copy thread since create */
    int64_t bytes_uploaded; /* host -> device bytes since create (resident copies included) */
    int64_t waits;          /* times enter() had to wait for an upload (timing-dependent) */
    int64_t runs;
} ff_offload_stats;

/* The device span of one block: tensor byte sizes each padded to 256. */
size_t ff_offload_block_bytes(const size_t *tensor_bytes, size_t n);

typedef struct ff_offload_stream ff_offload_stream;

/* resident: n_resident slots; blocks: L * per_block slots, block-major;
 * names (same layout, may be NULL) for messages. Copies what the mode keeps
 * resident and allocates the ring; an attached pool over budget fails here
 * with FF_ERR_BUDGET naming "<name>/<tensor>". */
ff_status ff_offload_stream_create(ff_backend *be, const ff_offload_opts *o, ff_tensor *const *resident,
                                   const char *const *resident_names, size_t n_resident, ff_tensor *const *blocks,
                                   const char *const *block_names, int L, size_t per_block, ff_offload_stream **out,
                                   ff_err *err);
/* A run over the blocks in order 0..L-1 (a forward pass): begin starts the
 * copy thread; enter/leave bracket each block; end stops the thread and puts
 * every block's host tensors back (after an error too). */
ff_status ff_offload_stream_begin(ff_offload_stream *s, ff_err *err);
ff_status ff_offload_stream_enter(ff_offload_stream *s, int block, ff_err *err);
void ff_offload_stream_leave(ff_offload_stream *s, int block);
void ff_offload_stream_end(ff_offload_stream *s);
ff_offload_mode ff_offload_stream_mode(const ff_offload_stream *s);
void ff_offload_stream_stats(const ff_offload_stream *s, ff_offload_stats *st);
void ff_offload_stream_free(ff_offload_stream *s); /* NULL is a no-op */

#endif
