/* mpi_job (ff_mpi_job_*): the job file of `framefarm mpi` — one video, the
 * fields of `framefarm render`'s flags plus how to split it across ranks.
 *
 *   {"model": "DIR",                   (absent: the embedded tiny smoke-test model)
 *    "prompt": "...", "negative_prompt": "...",
 *    "seed": 42, "frames": 81, "height": 480, "width": 832, "steps": 50,
 *    "guidance": 5.0, "guidance_2": 3.0, "max_sequence_length": 512,
 *    "fps": 16, "crf": 18, "out": "video.y4m" | "video.mp4" | "frames_dir",
 *    "tile": true | false,             (VAE tiling; absent: the model's default, as render)
 *    "tile_size": 256, "tile_stride": 192,  (pixels; absent: the model's default or diffusers')
 *    "vae_split": "time" | "space",    (distributed decode; default "time")
 *    "overlap": 2,                     (latent frames shared by neighbouring windows, >= 1)
 *    "vae_warmup": 4,                  (time split: latent frames decoded before each window for the
 *                                       VAE's causal cache and dropped; more = closer to one process)
 *    "comm": "auto" | "mpi" | "nccl",  (per-step merge transport; auto: NCCL on CUDA builds
 *                                       with a CUDA backend, else MPI on host memory)
 *    "backend": "cpu" | "cuda" | "cuda:N", "threads": 0,
 *    "timeout_s": 0,                   (watchdog: a rank without progress this long exits; 0 = off)
 *    "image": "first.png"}             (image to video: the first frame, read by every rank; the
 *                                       model runs as its image-to-video pipeline, render --image)
 * Every key is optional except prompt and out. Aliases from the farm's job
 * files: "output" = "out", "guidance_scale" = "guidance", "guidance_scale_2"
 * = "guidance_2"; "name" is accepted and ignored. Any other key is refused by
 * name (a typo must not silently render the defaults). Relative paths are
 * used as written (relative to the working directory of the ranks).
 *
 * Ownership: strings in ff_mpi_job point into the ff_json_doc kept in it;
 * ff_mpi_job_free releases it. */
#ifndef FF_MPI_JOB_H
#define FF_MPI_JOB_H

#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_json.h"

typedef enum { FF_MPI_SPLIT_TIME = 0, FF_MPI_SPLIT_SPACE = 1 } ff_mpi_split;
typedef enum { FF_MPI_COMM_AUTO = 0, FF_MPI_COMM_MPI = 1, FF_MPI_COMM_NCCL = 2 } ff_mpi_comm_kind;

typedef struct {
    const char *model, *prompt, *negative_prompt, *out, *backend, *image;
    uint64_t seed;
    int frames, height, width, steps, fps, threads, max_sequence_length; /* 0: the model's default */
    int crf;                  /* -1: 18 */
    int has_guidance, has_guidance_2;
    double guidance, guidance_2;
    int tile;                 /* -1: the model's default, 0 off, 1 on */
    int tile_size, tile_stride; /* 0: the model's default */
    ff_mpi_split vae_split;
    int overlap;
    int vae_warmup;
    ff_mpi_comm_kind comm;
    double timeout_s;
    ff_json_doc *doc;         /* owns the strings */
} ff_mpi_job;

/* Defaults: seed 42, overlap 2, vae_warmup 4, time split, auto comm, backend "cpu". */
void ff_mpi_job_default(ff_mpi_job *j);
/* Reads a job object (what names the source in messages) into j (which
 * takes ownership of doc on success and on failure). */
ff_status ff_mpi_job_from_json(ff_json_doc *doc, const char *what, ff_mpi_job *j, ff_err *err);
ff_status ff_mpi_job_load(const char *path, ff_mpi_job *j, ff_err *err);
void ff_mpi_job_free(ff_mpi_job *j);

/* "time"/"space" and "auto"/"mpi"/"nccl": 0 and *out, or -1. */
int ff_mpi_split_parse(const char *s, ff_mpi_split *out);
int ff_mpi_comm_parse(const char *s, ff_mpi_comm_kind *out);
const char *ff_mpi_split_name(ff_mpi_split s);
const char *ff_mpi_comm_name(ff_mpi_comm_kind c);

#endif
