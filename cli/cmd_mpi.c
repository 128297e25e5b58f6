/* mpirun -np N framefarm mpi [--vae-split time|space] [--overlap N]
 *     [--vae-warmup N] [--comm auto|mpi|nccl] [--out PATH] [--backend cpu|cuda[:N]] [--threads N]
 *     [--timeout S] [--save-latents F.safetensors] [--save-video F.safetensors] JOB.json
 *
 * One video rendered by the ranks of MPI_COMM_WORLD (cluster/mpi_render.h):
 * overlapping time windows merged at every step, a distributed VAE decode,
 * rank 0 writing the video as frames arrive. The job file format is in
 * cluster/mpi_job.h; options given here override it. Without "model" the
 * embedded smoke-test model is used (rank 0 creates it; on several nodes
 * give a shared model folder). Defaults come from the model's
 * "_framefarm_defaults" as in `framefarm render`, so `-np 1` writes exactly
 * the video `render` writes.
 *
 * Output: rank 0 prints the plan and progress; every rank prints one line
 * "rank R/N pid P: ..." with its window or tiles. A rank whose run fails
 * prints "framefarm mpi: rank R: <error>" and aborts the job (MPI_Abort), so
 * no rank waits forever on it; a rank killed outright is noticed by mpirun,
 * which stops the others. --timeout S (job "timeout_s") adds a watchdog: a
 * rank that makes no progress for S seconds (no step, no frame) prints why
 * and exits 1. --save-latents and --save-video are for checks: rank 0
 * writes the final latents ("latents", normalised) and the whole decoded
 * video ("video", F32 (1, 3, T, H, W) in [-1, 1], as `framefarm vae
 * decode` writes it; this keeps the whole video in rank 0's memory).
 * Image to video: the job's "image" (every rank reads it) runs the model as
 * its image-to-video pipeline; every window is conditioned as its frames of
 * the whole video, so `-np 1` writes exactly the video `render --image`
 * writes. */
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/opts.h"
#include "cluster/mpi_job.h"
#include "cluster/mpi_nccl.h"
#include "cluster/mpi_render.h"
#include "core/ff_clock.h"
#include "core/ff_json.h"
#include "core/ff_log.h"
#include "core/ff_model_defaults.h"
#include "core/ff_safetensors.h"
#include "pipeline/tiny_model.h"
#include "pipeline/chain.h"
#include "video/image.h"
#include "video/video.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mpirun -np N framefarm mpi [--vae-split time|space] [--overlap N] [--vae-warmup N]\n"
            "       [--comm auto|mpi|nccl]"
            " [--out PATH] [--backend cpu|cuda[:N]] [--threads N] [--timeout S]\n"
            "       [--save-latents F.safetensors] [--save-video F.safetensors] JOB.json\n"
            "  JOB.json: {\"prompt\": \"...\", \"out\": \"video.y4m\", \"model\": DIR, \"negative_prompt\": \"...\",\n"
            "    \"seed\": 42, \"frames\": 81, \"height\": 480, \"width\": 832, \"steps\": 50, \"guidance\": 5.0,\n"
            "    \"guidance_2\": 3.0, \"fps\": 16, \"crf\": 18, \"tile\": true, \"tile_size\": 256, \"tile_stride\": 192,\n"
            "    \"vae_split\": \"time\"|\"space\", \"overlap\": 2, \"vae_warmup\": 4, \"comm\": \"auto\"|\"mpi\"|\"nccl\",\n"
            "    \"backend\": \"cpu\", \"threads\": 0, \"timeout_s\": 0, \"image\": \"first.png\"}\n"
            "  windows: one per rank on latent frames, neighbours sharing `overlap` latent frames, merged with a\n"
            "  linear ramp at every step; --vae-split time: each rank decodes its window after --vae-warmup earlier\n"
            "  latent frames (overlaps cross-faded),"
            " space: each rank decodes VAE tiles of every frame (blended on rank 0 = the tiled decode, bit for bit)\n");
}

/* ---- the watchdog: a rank without progress for timeout_s exits ---- */

typedef struct {
    atomic_llong beat_ms;      /* CLOCK_MONOTONIC ms of the last progress */
    atomic_int stage;          /* ff_stage_kind of the last progress */
    atomic_llong done, total;
    atomic_int stop;
    double timeout_s;
    int rank;
} watchdog;

static void *watchdog_main(void *arg) {
    watchdog *w = arg;
    static const char *const stages[] = {"text encoder", "denoise step", "decoded frame"};
    while (!atomic_load(&w->stop)) {
        struct timespec nap = {0, 200 * 1000 * 1000};
        nanosleep(&nap, NULL);
        long long idle = ff_now_ms() - atomic_load(&w->beat_ms);
        if ((double)idle < w->timeout_s * 1000.0) continue;
        char msg[400];
        int st = atomic_load(&w->stage);
        int n = snprintf(msg, sizeof msg,
                         "framefarm mpi: rank %d: no progress for %lld s (last: %s %lld/%lld): a peer rank died or hangs; "
                         "exiting\n",
                         w->rank, idle / 1000, st >= 0 && st <= 2 ? stages[st] : "start",
                         (long long)atomic_load(&w->done), (long long)atomic_load(&w->total));
        if (n > 0) (void)!write(STDERR_FILENO, msg, (size_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1));
        _exit(FF_EXIT_FAIL); /* mpirun sees a rank end without MPI_Finalize and stops the job */
    }
    return NULL;
}

/* ---- callbacks ---- */

typedef struct {
    int rank, size;
    watchdog *wd;
    ff_video_writer *w;         /* rank 0 */
    const char *save_latents;   /* rank 0 */
    const char *save_video;     /* rank 0 */
    ff_tensor video;            /* --save-video: the whole video (rank 0) */
    int keep_video;
    int last_stage;             /* the last progress printed (waits repeat it) */
    int64_t last_done;
} mpi_user;

static void beat(mpi_user *u, int stage, int64_t done, int64_t total) {
    if (!u->wd) return;
    atomic_store(&u->wd->stage, stage);
    atomic_store(&u->wd->done, (long long)done);
    atomic_store(&u->wd->total, (long long)total);
    atomic_store(&u->wd->beat_ms, ff_now_ms());
}

static ff_status on_plan(void *user, const ff_mpi_render_info *in, ff_err *err) {
    mpi_user *u = user;
    (void)err;
    const ff_mpi_plan *p = in->plan;
    char what[256];
    if (in->window >= 0) {
        int64_t s, e;
        ff_mpi_plan_window(p, in->window, &s, &e);
        int64_t a = ff_mpi_plan_pixel_first(p, s), b = ff_mpi_plan_pixel_first(p, e - 1) + ff_mpi_plan_pixel_count(p, e - 1);
        snprintf(what, sizeof what, "window %d: latent frames [%lld, %lld) (frames %lld-%lld), core [%lld, %lld)", in->window,
                 (long long)s, (long long)e, (long long)a, (long long)b - 1, (long long)p->core[in->window],
                 (long long)p->core[in->window + 1]);
    } else {
        snprintf(what, sizeof what, "no window (the video has %lld latent frames)", (long long)p->frames);
    }
    printf("rank %d/%d pid %ld: %s", u->rank, u->size, (long)getpid(), what);
    if (in->n_tiles > 0) printf("; VAE tiles [%d, %d) of %d", in->tile_t0, in->tile_t0 + in->tile_n, in->n_tiles);
    printf("\n");
    fflush(stdout);
    beat(u, -1, 0, 0);
    return FF_OK;
}

static ff_status on_progress(void *user, const ff_chain_progress *pr, ff_err *err) {
    mpi_user *u = user;
    (void)err;
    beat(u, (int)pr->stage, pr->done, pr->total);
    if (u->rank != 0 || ((int)pr->stage == u->last_stage && pr->done == u->last_done)) return FF_OK;
    u->last_stage = (int)pr->stage, u->last_done = pr->done;
    if (pr->stage == FF_STAGE_TEXT && pr->done == 0) fprintf(stderr, "encoding the prompt\n");
    else if (pr->stage == FF_STAGE_DENOISE && pr->done > 0)
        fprintf(stderr, "denoise step %lld/%lld (t=%g)  %.2f s/step\n", (long long)pr->done, (long long)pr->total, pr->timestep,
                pr->stage_elapsed_s / (double)pr->done);
    else if (pr->stage == FF_STAGE_DECODE && pr->done == 0) fprintf(stderr, "decoding %lld frames\n", (long long)pr->total);
    else if (pr->stage == FF_STAGE_DECODE && pr->done >= pr->total)
        fprintf(stderr, "wrote %lld frames  %.2f s/frame\n", (long long)pr->total, pr->stage_elapsed_s / (double)pr->total);
    fflush(stderr);
    return FF_OK;
}

static ff_status on_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    mpi_user *u = user;
    ff_status st = ff_video_write_frames(u->w, ch->frames, err);
    if (st || !u->keep_video) return st;
    const ff_tensor *v = ch->video; /* (1, C, nt, H, W) */
    if (!u->video.data && (st = ff_tensor_allocv(&u->video, FF_F32, err, 5, (int64_t)1, v->shape[1], ch->num_frames,
                                                 v->shape[3], v->shape[4])))
        return st;
    const int64_t plane = v->shape[3] * v->shape[4], T = u->video.shape[2], nt = v->shape[2];
    if (ch->t0 + nt > T || v->shape[3] != u->video.shape[3] || v->shape[4] != u->video.shape[4])
        return ff_err_set(err, FF_ERR_SHAPE, "mpi: frames %lld.. do not fit the video", (long long)ch->t0);
    for (int64_t c = 0; c < v->shape[1]; c++)
        memcpy((float *)u->video.data + (c * T + ch->t0) * plane, (const float *)v->data + c * nt * plane,
               sizeof(float) * (size_t)(nt * plane));
    return FF_OK;
}

static ff_status on_latents(void *user, const ff_tensor *latents, ff_err *err) {
    mpi_user *u = user;
    if (!u->save_latents) return FF_OK;
    ff_st_item items[1] = {{"latents", latents}};
    return ff_st_write(u->save_latents, items, 1, NULL, 0, err);
}

static int exit_code(ff_status st) { return ff_cli_exit_code(st); }

/* CUDA ordinal for "cuda" (the node-local rank modulo the devices) or "cuda:N". */
static ff_status pick_backend(const char *name, MPI_Comm comm, char *buf, size_t n, int *device, ff_err *err) {
    *device = 0;
    if (strcmp(name, "cuda") != 0) {
        snprintf(buf, n, "%s", name);
        if (!strncmp(name, "cuda:", 5)) *device = atoi(name + 5);
        return FF_OK;
    }
    MPI_Comm node;
    int local = 0;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &local);
        MPI_Comm_free(&node);
    }
    char desc[2048];
    int count = ff_backend_cuda_describe(desc, sizeof desc);
    if (count < 1) return ff_err_set(err, FF_ERR_DEVICE, "%s", desc);
    *device = local % count;
    snprintf(buf, n, "cuda:%d", *device);
    return FF_OK;
}

/* ---- the command line and the job ---- */

typedef struct {
    const char *job_path, *out, *backend, *save_latents, *save_video, *split, *comm;
    long overlap, threads, warmup;
    double timeout;
} mpi_args;

static int parse_timeout(const char *v, void *dst) {
    double *t = dst;
    return ff_opt_double(v, t) || !(*t >= 0 && *t <= 1e9);
}

/* Options (cli/opts.h); -1: go on, else the exit code. */
static int parse_args(int argc, char **argv, mpi_args *a) {
    memset(a, 0, sizeof *a);
    a->threads = -1, a->warmup = -1, a->timeout = -1;
    const ff_opt opts[] = {
        {"--vae-split", FF_OPT_STR, &a->split, 0, 0, NULL, NULL},
        {"--comm", FF_OPT_STR, &a->comm, 0, 0, NULL, NULL},
        {"--out", FF_OPT_STR, &a->out, 0, 0, NULL, NULL},
        {"--backend", FF_OPT_STR, &a->backend, 0, 0, NULL, NULL},
        {"--save-latents", FF_OPT_STR, &a->save_latents, 0, 0, NULL, NULL},
        {"--save-video", FF_OPT_STR, &a->save_video, 0, 0, NULL, NULL},
        {"--overlap", FF_OPT_LONG, &a->overlap, 1, 1 << 16, NULL, NULL},
        {"--vae-warmup", FF_OPT_LONG, &a->warmup, 0, 1 << 20, NULL, NULL},
        {"--threads", FF_OPT_LONG, &a->threads, 0, 4096, NULL, NULL},
        {"--timeout", FF_OPT_FUNC, &a->timeout, 0, 0, parse_timeout, "seconds in 0..1e9"},
    };
    int r = ff_opt_parse("mpi", argc, argv, opts, sizeof opts / sizeof opts[0], &a->job_path, 1, "job file", NULL);
    if (r == FF_OPT_HELP) {
        usage(stdout);
        return FF_EXIT_OK;
    }
    if (r) return FF_EXIT_USAGE;
    if (!a->job_path) {
        fprintf(stderr, "framefarm mpi: no job file (see framefarm mpi --help)\n");
        return FF_EXIT_USAGE;
    }
    return -1;
}

/* The job file with the command line's overrides. -1: go on, else the exit code (job freed). */
static int load_job(const mpi_args *a, ff_mpi_job *job) {
    ff_err err = {0};
    ff_status st = ff_mpi_job_load(a->job_path, job, &err);
    if (st) {
        ff_cli_report("mpi", &err);
        ff_mpi_job_free(job);
        return FF_EXIT_USAGE;
    }
    if ((a->split && ff_mpi_split_parse(a->split, &job->vae_split) &&
         ff_cli_bad_value("mpi", "--vae-split", a->split, "time or space")) ||
        (a->comm && ff_mpi_comm_parse(a->comm, &job->comm) && ff_cli_bad_value("mpi", "--comm", a->comm, "auto, mpi or nccl"))) {
        ff_mpi_job_free(job);
        return FF_EXIT_USAGE;
    }
    if (a->out) job->out = a->out;
    if (a->backend) job->backend = a->backend;
    if (a->overlap) job->overlap = (int)a->overlap;
    if (a->warmup >= 0) job->vae_warmup = (int)a->warmup;
    if (a->threads >= 0) job->threads = (int)a->threads;
    if (a->timeout >= 0) job->timeout_s = a->timeout;
    /* the output rule on every rank; the folder is checked where it is written (rank 0) */
    ff_video_format fmt;
    if ((st = ff_video_out_format(job->out, &fmt, &err)) ||
        (fmt == FF_VIDEO_MP4 && !ff_video_have_mp4() &&
         (st = ff_err_set(&err, FF_ERR_UNSUPPORTED, "'%s': this build has no MP4 writer: use NAME.y4m or DIR/", job->out)))) {
        fprintf(stderr, "framefarm mpi: out %s\n", err.msg);
        ff_mpi_job_free(job);
        return FF_EXIT_USAGE;
    }
    return -1;
}

/* The render settings of the job over the model's defaults (as render reads them). */
static void fill_opts(const ff_mpi_job *job, const ff_model_defaults *md, ff_mpi_render_opts *o) {
    o->prompt = job->prompt;
    o->negative_prompt = job->negative_prompt;
    o->seed = job->seed;
    o->num_frames = job->frames ? job->frames : md->frames;
    o->height = job->height ? job->height : md->height;
    o->width = job->width ? job->width : md->width;
    o->steps = job->steps ? job->steps : md->steps;
    o->max_sequence_length = job->max_sequence_length ? job->max_sequence_length : 512;
    o->guidance = job->has_guidance ? job->guidance : md->guidance;
    o->has_guidance_2 = job->has_guidance_2;
    o->guidance_2 = job->guidance_2;
    ff_chain_params dp; /* the family's VAE defaults (HunyuanVideo decodes framewise) */
    ff_chain_params_default(o->pipe, &dp);
    o->vae = dp.vae;
    if (job->tile == 1 || (job->tile == -1 && md->has_tile) || job->vae_split == FF_MPI_SPLIT_SPACE) {
        o->vae.tiling = 1;
        if (md->has_tile) {
            o->vae.tile_sample_min_height = md->tile_min_h, o->vae.tile_sample_min_width = md->tile_min_w;
            o->vae.tile_sample_stride_height = md->tile_stride_h, o->vae.tile_sample_stride_width = md->tile_stride_w;
        }
        if (job->tile_size) o->vae.tile_sample_min_height = o->vae.tile_sample_min_width = job->tile_size;
        if (job->tile_stride) o->vae.tile_sample_stride_height = o->vae.tile_sample_stride_width = job->tile_stride;
    }
    o->split = job->vae_split;
    o->overlap = job->overlap;
    o->vae_warmup = job->vae_warmup;
}

/* The watchdog thread when the job has a timeout; 1 when it runs. */
static int watchdog_start(watchdog *wd, pthread_t *th, double timeout_s, int rank) {
    memset(wd, 0, sizeof *wd);
    if (!(timeout_s > 0)) return 0;
    wd->timeout_s = timeout_s, wd->rank = rank;
    atomic_store(&wd->beat_ms, ff_now_ms());
    atomic_store(&wd->stage, -1);
    return pthread_create(th, NULL, watchdog_main, wd) == 0;
}

/* Rank 0: the output file, and the run's first line. */
static ff_status open_output(const ff_mpi_job *job, const ff_model_defaults *md, const ff_geometry *g,
                             const ff_mpi_render_opts *o, int size, ff_backend *be, mpi_user *u, int *created_file,
                             ff_err *err) {
    ff_video_format fmt = ff_video_format_for_path(job->out);
    ff_video_opts vo;
    ff_video_opts_default(&vo, fmt, g->width, g->height);
    vo.fps_num = job->fps ? job->fps : md->fps;
    vo.fps_den = 1;
    vo.crf = job->crf >= 0 ? job->crf : 18;
    struct stat sb;
    int existed = stat(job->out, &sb) == 0;
    ff_status st = ff_video_open(job->out, &vo, &u->w, err);
    if (st) return st;
    *created_file = !existed && fmt != FF_VIDEO_PNG;
    printf("rendering %d frames at %dx%d, %d steps, guidance %g, seed %llu on %d rank(s): overlap %d latent frames, "
           "VAE split %s (warm-up %d), tiling %s, merge over %s, backend %s -> %s\n",
           g->num_frames, g->width, g->height, o->steps, o->guidance, (unsigned long long)o->seed, size, o->overlap,
           ff_mpi_split_name(o->split), o->vae_warmup, o->vae.tiling ? "on" : "off", o->use_nccl ? "NCCL" : "MPI (host)",
           ff_backend_name(be), job->out);
    fflush(stdout);
    return FF_OK;
}

/* Rank 0 after the run: close the video, --save-video, the last line. */
static ff_status finish_output(const ff_mpi_job *job, const ff_geometry *g, mpi_user *u, ff_err *err) {
    ff_status st = ff_video_close(u->w, err);
    u->w = NULL;
    if (st) return st;
    if (u->keep_video) {
        ff_st_item items[1] = {{"video", &u->video}};
        if ((st = ff_st_write(u->save_video, items, 1, NULL, 0, err))) return st;
    }
    printf("wrote %s (%d frames, %dx%d, %s)\n", job->out, g->num_frames, g->width, g->height,
           ff_video_format_name(ff_video_format_for_path(job->out)));
    return FF_OK;
}

int ff_cmd_mpi(int argc, char **argv) {
    mpi_args a;
    ff_mpi_job job;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0 || (rc = load_job(&a, &job)) >= 0) return rc;

    int provided = 0, rank = 0, size = 1;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "framefarm mpi: MPI_Init failed\n");
        ff_mpi_job_free(&job);
        return FF_EXIT_FAIL;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

    watchdog wd;
    pthread_t wd_thread;
    int wd_started = watchdog_start(&wd, &wd_thread, job.timeout_s, rank);
    mpi_user u = {rank, size, wd_started ? &wd : NULL, NULL, a.save_latents, a.save_video, {0}, a.save_video != NULL, -1, -1};
    ff_log log;
    ff_log_init(&log, FF_LOG_WARN, stderr);
    ff_err err = {0};
    ff_status st = FF_OK;
    ff_backend *be = NULL;
    ff_chain *p = NULL;
    int created_file = 0;
    rc = FF_EXIT_FAIL;
    ff_tensor image = {0};
    char default_dir[4096] = "", be_name[64];
    int device = 0;

    /* the output's folder, where it is written, before any work */
    ff_video_format fmt;
    if (rank == 0 && (st = ff_video_out_check(job.out, &fmt, &err))) {
        ff_err_wrap(&err, "out");
        goto done;
    }
    /* the model: the embedded tiny one is created by rank 0 only */
    const char *model = job.model;
    if (!model) {
        int created = 0;
        if ((st = ff_tiny_model_default_dir(default_dir, sizeof default_dir, &err))) goto done;
        if (rank == 0 && (st = ff_tiny_model_ensure(FF_TINY_DEFAULT, default_dir, &created, &err))) goto done;
        if (rank == 0)
            printf("model: the embedded tiny SMOKE-TEST model (random weights: the video will be noise-like), %s %s\n",
                   created ? "created in" : "from", default_dir);
        MPI_Barrier(MPI_COMM_WORLD);
        model = default_dir;
    }
    ff_model_defaults md;
    ff_model_defaults_read(model, &md);
    if ((st = pick_backend(job.backend, MPI_COMM_WORLD, be_name, sizeof be_name, &device, &err))) goto done;
    if ((st = ff_backend_create_by_name(be_name, job.threads, &be, &err))) goto done;
    ff_chain_opts co = {0};
    if (job.image) { /* image to video: every rank reads the picture; the folder's image-to-video class */
        char idx[128] = "";
        if ((st = ff_image_read(job.image, NULL, &image, NULL, &err)) ||
            (st = ff_chain_image_class(model, &co.pipeline_class, idx, sizeof idx, &err)))
            goto done;
        if (!co.pipeline_class) {
            st = ff_err_set(&err, FF_ERR_ARG, "%s (%s) does not take an image", model, idx);
            goto done;
        }
    }
    if ((st = ff_chain_open(be, model, &co, &log, &p, &err))) goto done;
    if (job.comm == FF_MPI_COMM_NCCL && (!ff_nccl_compiled() || ff_backend_kind_of(be) != FF_BACKEND_CUDA)) {
        st = ff_err_set(&err, FF_ERR_ARG, "comm nccl needs a CUDA backend (this rank has %s) in a build with NCCL (%s)",
                        ff_backend_name(be), ff_nccl_compiled() ? "this one is" : "this one is not");
        goto done;
    }

    ff_mpi_render_opts o;
    memset(&o, 0, sizeof o);
    o.comm = MPI_COMM_WORLD;
    o.be = be;
    o.pipe = p;
    fill_opts(&job, &md, &o);
    o.image = job.image ? &image : NULL;
    o.use_nccl = job.comm == FF_MPI_COMM_NCCL ||
                 (job.comm == FF_MPI_COMM_AUTO && ff_nccl_compiled() && ff_backend_kind_of(be) == FF_BACKEND_CUDA);
    o.nccl_device = device;
    o.gather_latents = a.save_latents != NULL;
    o.on_plan = on_plan;
    o.on_progress = on_progress;
    o.on_frames = on_frames;
    o.on_latents = on_latents;
    o.user = &u;

    ff_geometry g;
    if ((st = ff_chain_geometry(p, 1, o.num_frames, o.height, o.width, &g, &err))) goto done;
    if (rank == 0 && (st = open_output(&job, &md, &g, &o, size, be, &u, &created_file, &err))) goto done;
    if ((st = ff_mpi_render(&o, &err))) goto done;
    if (rank == 0 && (st = finish_output(&job, &g, &u, &err))) goto done;
    rc = FF_EXIT_OK;
done:
    if (u.w) {
        ff_err ignore = {0};
        (void)ff_video_close(u.w, &ignore);
    }
    if (st) {
        fprintf(stderr, "framefarm mpi: rank %d: %s\n", rank, err.msg[0] ? err.msg : ff_status_name(st));
        fflush(stderr);
        rc = exit_code(st);
        if (rank == 0 && created_file) (void)unlink(job.out); /* no half-written video */
    }
    if (wd_started) {
        atomic_store(&wd.stop, 1);
        pthread_join(wd_thread, NULL);
    }
    ff_tensor_free(&u.video);
    ff_tensor_free(&image);
    ff_chain_close(p);
    ff_backend_free(be);
    ff_mpi_job_free(&job);
    if (st && size > 1) MPI_Abort(MPI_COMM_WORLD, rc); /* the peers may wait on this rank forever */
    MPI_Finalize();
    return rc;
}
