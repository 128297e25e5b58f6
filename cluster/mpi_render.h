/* mpi_render (ff_mpi_render): one video rendered by the ranks of an MPI
 * communicator — `mpirun -np N framefarm mpi job.json`.
 *
 *  1. Every rank computes the same plan (cluster/mpi_plan.h): overlapping
 *     time windows on latent frames, one per rank (fewer when the video is
 *     short; the others idle until the decode).
 *  2. Initial noise: every rank draws the ONE latent noise tensor of the
 *     seed (diffusers' randn_tensor, as `framefarm render`) and keeps its
 *     window's slice, so one rank is exactly `render`.
 *  3. Rank 0 encodes the prompt (its pipeline's text stage) and broadcasts
 *     the embeddings (MPI_Bcast); the others denoise with them. A family
 *     that cannot take given embeddings (ff_chain_takes_prompt_embeds 0:
 *     HunyuanVideo) encodes the prompt on every rank with a window instead
 *     (the same bits on every rank: same code, same threads).
 *  4. Every denoising step, each rank predicts its window; before the
 *     scheduler step the guided predictions of overlapping latent frames are
 *     merged with a linear ramp (cluster/mpi_plan.h), exchanged with the
 *     neighbour windows: MPI_Sendrecv on host memory, or NCCL send/recv on
 *     device memory (cluster/mpi_nccl.h). The step is affine in the
 *     prediction, so this averages the windows' next latents (MultiDiffusion)
 *     while keeping each window's multistep history identical on the shared
 *     frames; overlaps stay bit-identical across ranks.
 *  5. Decode through the family's VAE component (its role interface,
 *     pipeline/component.h), by split:
 *     time:  the final latents are assembled on every rank
 *            (MPI_Allgatherv of the window cores; latents are 1/48 of the
 *            video); each rank decodes its window starting vae_warmup
 *            latent frames earlier, so the causal caches have seen that much
 *            history (the warm-up and the window's first frame are dropped;
 *            from frame 0 on it is exactly the single-process decode), sends
 *            its kept frames to rank 0
 *            (MPI_Isend per latent frame), rank 0 cross-fades the overlaps
 *            and hands out frames in order as they arrive.
 *     space: with the assembled latents each rank decodes a contiguous run of the VAE's tiles
 *            for every latent frame (the VAE's ff_vae_dist_ops; a VAE
 *            without them is FF_ERR_UNSUPPORTED), rank 0 gathers
 *            the raw tiles of each frame (MPI_Gatherv) and blends them as the
 *            single-process tiled decode does: bit-identical to it.
 *  Rank 0 calls on_frames in frame order while later frames are still being
 *  decoded elsewhere; no rank holds more of the video than its window (time)
 *  or one frame of tiles (space, rank 0).
 *
 * Errors: the communicator's error handler is set to MPI_ERRORS_RETURN;
 * failed MPI calls become FF_ERR_IO naming the call and the peer. A rank
 * whose run fails returns the error; the caller (cli/cmd_mpi.c) reports it
 * and aborts the job (MPI_Abort), since its peers may wait on it forever.
 *
 * Not here: MPI_Init, printing, video files (cli/). */
#ifndef FF_MPI_RENDER_H
#define FF_MPI_RENDER_H

#include <mpi.h>
#include <stdint.h>

#include "cluster/mpi_job.h"
#include "cluster/mpi_plan.h"
#include "core/ff_err.h"
#include "kernels/ops.h"
#include "pipeline/chain.h"

/* What the ranks agreed on, handed to on_plan before any work. */
typedef struct {
    const ff_mpi_plan *plan;
    const ff_geometry *geometry;
    int n_tiles;        /* space split: tiles of the grid (1: not tiled) */
    int tile_t0, tile_n; /* space split: this rank's tiles */
    int window;          /* this rank's window, -1: none */
    int use_nccl;
} ff_mpi_render_info;

typedef struct {
    MPI_Comm comm;
    ff_backend *be;               /* this rank's backend (borrowed) */
    ff_chain *pipe;               /* opened on every rank on the same model (borrowed) */
    const char *prompt, *negative_prompt; /* read on rank 0 only */
    uint64_t seed;
    int num_frames, height, width, steps, max_sequence_length;
    double guidance;
    int has_guidance_2;
    double guidance_2;
    ff_vae_opts vae;              /* time: the decode's tiling (as render); space: the tile grid */
    const ff_tensor *image;       /* image to video: U8 host (H, W, 3) on every rank (pipe opened as its
                                     image-to-video class); each window is conditioned as its frames of the
                                     whole video (ff_chain_params.window_*); NULL: text to video */
    ff_mpi_split split;
    int overlap;                  /* latent frames, >= 1 */
    int vae_warmup;               /* time split: latent frames decoded before a window, >= 0 */
    int use_nccl;                 /* merge over NCCL (needs a CUDA backend and an NCCL build) */
    int nccl_device;              /* CUDA ordinal of be */
    int gather_latents;           /* rank 0: on_latents gets the final (normalised) latents */
    ff_status (*on_plan)(void *user, const ff_mpi_render_info *info, ff_err *err);   /* every rank */
    ff_chain_progress_fn on_progress; /* every rank: TEXT (rank 0), DENOISE (its window), DECODE */
    ff_chain_frames_fn on_frames; /* rank 0: the video's frames in order */
    ff_status (*on_latents)(void *user, const ff_tensor *latents, ff_err *err); /* rank 0 */
    void *user;
} ff_mpi_render_opts;

/* Collective over o->comm: every rank calls it with the same job. */
ff_status ff_mpi_render(const ff_mpi_render_opts *o, ff_err *err);

#endif
