/* framefarm render [--model DIR] --prompt TEXT [--image FILE] [--negative-prompt TEXT]
 *     [--seed N] [--frames N] [--height PX] [--width PX] [--steps N]
 *     [--guidance G] [--guidance-2 G] [--max-sequence-length N] [--fps N]
 *     [--crf N] [--tile|--no-tile] [--backend cpu|cuda[:N]] [--device N] [--threads N]
 *     [--precision f32|bf16|bf16-all]
 *     [--vram-budget SIZE] [--offload none|model|sequential|auto] [--group K]
 *     [--vae-tiling] [--vae-slicing] [--stats] --out FILE.mp4|FILE.y4m|DIR/
 *
 * Prompt to video file in one process (pipeline/chain.h): frames are
 * written as the VAE's streaming decode produces them. Without --model the
 * embedded smoke-test model is used (created on first use in
 * $XDG_CACHE_HOME/framefarm/tiny or ~/.cache/framefarm/tiny). Defaults come
 * from the model's "_framefarm_defaults" in model_index.json when it has
 * them, else diffusers' (480x832, 81 frames, 50 steps, guidance 5, 16 fps).
 * Progress goes to stderr (a bar on a terminal, plain lines otherwise);
 * information and --stats to stdout.
 *
 * Memory (pipeline/plan.h): --vram-budget runs the planner for this
 * render and applies its choice (offload none: every component kept
 * resident; model: one at a time; sequential: transformer blocks streamed
 * from the file in groups of k; text encoder on the host; VAE slicing; VAE
 * tiling, low-memory order, largest tile that fits) through
 * ff_chain_opts and ff_vae_opts, printing one line per stage; a device
 * pool with the budget is attached to the backend, so the budget is
 * enforced and --stats shows the measured peak against it. --offload,
 * --group, --vae-tiling, --vae-slicing force those choices (with or
 * without a budget). Without any of these flags the pipeline runs as
 * before (component offload, no pool). Every strategy gives the same
 * video; tiling gives the tiled video (as --tile does).
 *
 * Image to video: --image FILE (PNG or JPEG, video/image.h) conditions the
 * video on a picture. The pipeline class comes from model_index.json
 * (WanImageToVideoPipeline: Wan 2.1 I2V, Wan 2.2 I2V-A14B); a WanPipeline
 * folder whose transformer fits (Wan 2.2 TI2V-5B) runs as
 * WanImageToVideoPipeline, as diffusers users load it. The picture is
 * resized to --height x --width (Lanczos, aspect ratio not kept). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/backend_opts.h"
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/opts.h"
#include "core/ff_json.h"
#include "core/ff_log.h"
#include "core/ff_model_defaults.h"
#include "offload/pool.h"
#include "pipeline/plan.h"
#include "pipeline/plan_apply.h"
#include "pipeline/tiny_model.h"
#include "pipeline/chain.h"
#include "video/image.h"
#include "video/video.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: framefarm render [--model DIR] --prompt TEXT --out NAME.mp4|NAME.y4m|DIR/ [options]\n"
            "  --model DIR              a diffusers Wan pipeline folder (default: the embedded SMOKE-TEST model,\n"
            "                           random weights, noise-like videos, in ~/.cache/framefarm/tiny)\n"
            "  --prompt TEXT            at most 16384 bytes of UTF-8 (required)\n"
            "  --out PATH               NAME.mp4 (H.264), NAME.y4m, or DIR/ (PNG frames) (required)\n"
            "  --image FILE             image to video: the first frame (PNG or JPEG, 8-bit RGB/gray/palette,\n"
            "                           16 px or more a side); the model must take an image (Wan I2V, TI2V)\n"
            "  --negative-prompt TEXT   default: none\n"
            "  --seed N                 default 42\n"
            "  --frames N               default: the model's _framefarm_defaults, else 81 (rounded to 4k+1)\n"
            "  --height PX, --width PX  default: the model's, else 480 x 832 (multiples of 16)\n"
            "  --steps N                default: the model's, else 50\n"
            "  --guidance G             default: the model's, else 5.0 (0..100)\n"
            "  --guidance-2 G           Wan 2.2 A14B low-noise expert (0..100); default: --guidance\n"
            "  --max-sequence-length N  default: the model family's (Wan 512, CogVideoX 226)\n"
            "  --fps N                  default: the model's, else 16\n"
            "  --crf N                  MP4 quality 0..51, default 18\n"
            "  --tile | --no-tile       VAE tiling; default: on when the model names its tiles (the smoke-test model does), else off\n"
            "  --backend cpu|cuda[:N]   default cpu;  --device N: cuda:N\n"
            "  --precision f32|bf16|bf16-all  GEMM precision, default f32\n"
            "  --threads N              CPU threads, default 0 (every core)\n"
            "  --stats                  time and peak memory per component\n"
            "  --dynamic-cfg            CogVideoX: guidance grows over the steps (use_dynamic_cfg)\n"
            "  --vram-budget SIZE       plan offload / tiling / slicing to fit the device budget (and enforce it);\n"
            "                           default: none (no planner)\n"
            "  --offload none|model|sequential|auto, --group K, --vae-tiling, --vae-slicing\n"
            "                           force the planner's choices (default: auto, the planner's)\n");
}

typedef struct {
    int is_tty;
} progress_state;

/* What the pipeline's callbacks see. */
typedef struct {
    progress_state ps;
    ff_video_writer *w;
    ff_pool *pool;              /* the device pool (planner runs), else NULL */
    size_t stage_peak[5];       /* measured device peak per ff_stage_kind */
    int stage;                  /* the stage whose peak is being measured, -1 none */
} render_user;

/* Per-stage device peaks: a stage's peak runs from its start to the next one's. */
static void stage_mark(render_user *ru, int stage) {
    if (!ru->pool) return;
    ff_pool_stats s;
    ff_pool_stats_get(ru->pool, &s);
    if (ru->stage >= 0 && s.peak > ru->stage_peak[ru->stage]) ru->stage_peak[ru->stage] = s.peak;
    ru->stage = stage;
    ff_pool_reset_peak(ru->pool);
}

static ff_status on_progress(void *user, const ff_chain_progress *pr, ff_err *err) {
    progress_state *ps = &((render_user *)user)->ps;
    (void)err;
    static const char *const names[] = {"text encoder", "denoise", "decode", "image encoder", "vae encode"};
    const char *name = names[pr->stage];
    /* the decode stage's peak starts after the last step (the VAE is loaded before its first progress call) */
    if (pr->done == 0 && pr->stage != FF_STAGE_DECODE) stage_mark((render_user *)user, (int)pr->stage);
    if (pr->stage == FF_STAGE_DENOISE && pr->done == pr->total) stage_mark((render_user *)user, FF_STAGE_DECODE);
    if (pr->stage == FF_STAGE_TEXT) {
        if (pr->done == 0) fprintf(stderr, "encoding the prompt\n");
        return FF_OK;
    }
    if (pr->done == 0 && pr->stage == FF_STAGE_DECODE && !ps->is_tty)
        fprintf(stderr, "decoding %lld frames\n", (long long)pr->total);
    if (pr->done == 0) return FF_OK;
    const char *unit = pr->stage == FF_STAGE_DENOISE ? "step" : "frame";
    double per = pr->stage_elapsed_s / (double)pr->done;
    double eta = per * (double)(pr->total - pr->done);
    if (ps->is_tty) {
        char bar[31];
        int fill = pr->total ? (int)(30 * pr->done / pr->total) : 30;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
        bar[30] = 0;
        fprintf(stderr, "\r%-8s [%s] %lld/%lld  %.2f s/%s  ETA %.0fs ", name, bar, (long long)pr->done,
                (long long)pr->total, per, unit, eta);
        if (pr->done >= pr->total) fputc('\n', stderr);
    } else if (pr->stage == FF_STAGE_DENOISE) {
        fprintf(stderr, "%s step %lld/%lld (t=%g, transformer%s)  %.2f s/step  ETA %.0fs\n", name, (long long)pr->done,
                (long long)pr->total, pr->timestep, pr->expert == 2 ? "_2" : "", per, eta);
    } else if (pr->done >= pr->total) {
        fprintf(stderr, "decoded %lld frames  %.2f s/frame\n", (long long)pr->total, per);
    }
    fflush(stderr);
    return FF_OK;
}

static ff_status on_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    return ff_video_write_frames(((render_user *)user)->w, ch->frames, err); /* (1, nt, H, W, 3) */
}

static void print_stats(const ff_chain *p, const ff_chain_stats *s) {
    printf("%-14s %8s %8s %14s %14s\n", "component", "load s", "run s", "peak RSS MiB", "backend MiB");
    for (int c = 0; c < ff_chain_n_components(p); c++) {
        const ff_component_stats *cs = &s->c[c];
        if (!cs->used) continue;
        char be[32];
        if (cs->backend_peak_bytes) snprintf(be, sizeof be, "%.1f", (double)cs->backend_peak_bytes / 1048576.0);
        else if (cs->backend_weight_bytes) snprintf(be, sizeof be, "%.1f (weights)", (double)cs->backend_weight_bytes / 1048576.0);
        else snprintf(be, sizeof be, "-");
        printf("%-14s %8.2f %8.2f %14.1f %14s\n", ff_chain_component_name(p, c), cs->load_s, cs->run_s,
               (double)cs->peak_rss_bytes / 1048576.0, be);
    }
    printf("total %.2f s, peak RSS %.1f MiB%s\n", s->total_s, (double)s->peak_rss_bytes / 1048576.0,
           s->rss_per_component ? "" : " (per-component RSS is the process peak so far)");
}

/* cgroup v2 memory.max in bytes; 0 when unset ("max") or unreadable. */
static size_t cgroup_memory_max(void) {
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    if (!f) return 0;
    unsigned long long v = 0;
    int ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    return ok ? (size_t)v : 0;
}

/* The planner's choice, one line per stage. */
static void print_plan(const ff_plan *p, size_t budget) {
    char a[32], b[32], c[32];
    printf("plan: offload %s", ff_plan_offload_name(p->offload));
    if (p->offload == FF_PLAN_SEQUENTIAL) printf(" (k=%d)", p->group);
    printf("%s", p->text_on_host ? ", text encoder on host" : "");
    if (p->tiling) printf(", vae tiling %d/%d px", p->tile, p->tile_stride);
    printf("%s; predicted device peak %s of budget %s\n", p->slicing ? ", vae slicing" : "",
           ff_pool_fmt_bytes(p->peak, a, sizeof a), budget ? ff_pool_fmt_bytes(budget, b, sizeof b) : "unlimited");
    for (int i = 0; i < p->n_stages; i++) {
        const ff_plan_stage *st = &p->st[i];
        if (!st->present) continue;
        printf("plan: %-13s %-36s peak %10s (weights %s)\n", st->name, st->strategy,
               ff_pool_fmt_bytes(st->peak, a, sizeof a), ff_pool_fmt_bytes(st->weights, b, sizeof b));
    }
    size_t cg = cgroup_memory_max();
    printf("plan: host RAM %s for weights + latents; cgroup memory.max %s%s\n", ff_pool_fmt_bytes(p->host_need, a, sizeof a),
           cg ? ff_pool_fmt_bytes(cg, c, sizeof c) : "not set", cg && p->host_need > cg ? " (DOES NOT FIT)" : "");
}

static int exit_code(ff_status st) { return ff_cli_exit_code(st); }

/* ---- the command line --------------------------------------------------------------- */

typedef struct {
    const char *model, *prompt, *neg, *out, *backend, *device, *image;
    long seed, frames, height, width, steps, fps, crf, threads, msl;
    double guidance, guidance2; /* NAN: the model's default / none */
    int tile, stats;            /* tile: -1 the model's default, 0 --no-tile, 1 --tile */
    int dynamic_cfg;            /* --dynamic-cfg (families without it ignore it) */
    /* memory: planner inputs (-2 / 0: not given) */
    size_t vram_budget;
    int have_budget, offload, vae_tiling, vae_slicing;
    long group;
    ff_precision prec;          /* --precision: GEMMs of the backend (kernels/ops.h) */
} render_args;

static int parse_budget(const char *v, void *dst) {
    render_args *a = dst;
    a->have_budget = 1;
    return ff_pool_parse_bytes(v, &a->vram_budget) || !a->vram_budget;
}
static int parse_offload(const char *v, void *dst) { return ff_plan_offload_parse(v, dst); }
static int parse_precision(const char *v, void *dst) { return ff_precision_parse(v, dst); }

/* Options into a (FF_OPT_* of cli/opts.h); then the checks that need no model. -1: go on, else the exit code. */
static int parse_args(int argc, char **argv, render_args *a) {
    memset(a, 0, sizeof *a);
    a->seed = 42, a->crf = 18, a->msl = 0, a->guidance = a->guidance2 = NAN, a->tile = -1, a->offload = -2;
    a->prec = FF_PREC_F32;
    const ff_opt opts[] = {
        {"--tile", FF_OPT_FLAG, &a->tile, 1, 0, NULL, NULL},
        {"--no-tile", FF_OPT_FLAG, &a->tile, 0, 0, NULL, NULL},
        {"--stats", FF_OPT_FLAG, &a->stats, 1, 0, NULL, NULL},
        {"--dynamic-cfg", FF_OPT_FLAG, &a->dynamic_cfg, 1, 0, NULL, NULL},
        {"--vae-tiling", FF_OPT_FLAG, &a->vae_tiling, 1, 0, NULL, NULL},
        {"--vae-slicing", FF_OPT_FLAG, &a->vae_slicing, 1, 0, NULL, NULL},
        {"--model", FF_OPT_STR, &a->model, 0, 0, NULL, NULL},
        {"--prompt", FF_OPT_STR, &a->prompt, 0, 0, NULL, NULL},
        {"--negative-prompt", FF_OPT_STR, &a->neg, 0, 0, NULL, NULL},
        {"--image", FF_OPT_STR, &a->image, 0, 0, NULL, NULL},
        {"--out", FF_OPT_STR, &a->out, 0, 0, NULL, NULL},
        {"--backend", FF_OPT_STR, &a->backend, 0, 0, NULL, NULL},
        {"--device", FF_OPT_STR, &a->device, 0, 0, NULL, NULL}, /* cuda:N (cli/backend_opts.h) */
        {"--precision", FF_OPT_FUNC, &a->prec, 0, 0, parse_precision, "f32, bf16 or bf16-all"},
        {"--seed", FF_OPT_LONG, &a->seed, 0, 0x7fffffffffffffffL, NULL, NULL},
        {"--frames", FF_OPT_LONG, &a->frames, 1, 1 << 20, NULL, NULL},
        {"--height", FF_OPT_LONG, &a->height, 1, 1 << 16, NULL, NULL},
        {"--width", FF_OPT_LONG, &a->width, 1, 1 << 16, NULL, NULL},
        {"--steps", FF_OPT_LONG, &a->steps, 1, 100000, NULL, NULL},
        {"--fps", FF_OPT_LONG, &a->fps, 1, 1000, NULL, NULL},
        {"--crf", FF_OPT_LONG, &a->crf, 0, 51, NULL, NULL},
        {"--threads", FF_OPT_LONG, &a->threads, 0, 4096, NULL, NULL},
        {"--max-sequence-length", FF_OPT_LONG, &a->msl, 1, 1 << 16, NULL, NULL},
        {"--guidance", FF_OPT_DOUBLE, &a->guidance, 0, 100, NULL, NULL},
        {"--guidance-2", FF_OPT_DOUBLE, &a->guidance2, 0, 100, NULL, NULL},
        {"--vram-budget", FF_OPT_FUNC, a, 0, 0, parse_budget, "bytes > 0: 536870912, 512M, 8G, 8GiB"},
        {"--offload", FF_OPT_FUNC, &a->offload, 0, 0, parse_offload, "none, model, sequential or auto"},
        {"--group", FF_OPT_LONG, &a->group, 1, 1 << 16, NULL, NULL},
    };
    int r = ff_opt_parse("render", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL, NULL);
    if (r == FF_OPT_HELP) {
        usage(stdout);
        return FF_EXIT_OK;
    }
    if (r) return FF_EXIT_USAGE;
    if (!a->prompt || !a->out) {
        fprintf(stderr, "framefarm render: --prompt and --out are required (see framefarm render --help)\n");
        return FF_EXIT_USAGE;
    }
    if (a->group && a->offload != -2 && a->offload != FF_PLAN_SEQUENTIAL) {
        fprintf(stderr, "framefarm render: --group is for --offload sequential\n");
        return FF_EXIT_USAGE;
    }
    if (a->vae_tiling && a->tile == 0) {
        fprintf(stderr, "framefarm render: --vae-tiling and --no-tile contradict each other\n");
        return FF_EXIT_USAGE;
    }
    return -1;
}

/* --model, or the embedded smoke-test model (created on first use). */
static ff_status resolve_model(render_args *a, char *default_dir, size_t n, ff_err *err) {
    if (a->model) return FF_OK;
    int created = 0;
    ff_status st = ff_tiny_model_default_dir(default_dir, n, err);
    if (!st) st = ff_tiny_model_ensure(FF_TINY_DEFAULT, default_dir, &created, err);
    if (st) return st;
    a->model = default_dir;
    printf("model: the embedded tiny SMOKE-TEST model (random weights: the video will be noise-like), %s %s\n",
           created ? "created in" : "from", a->model);
    return FF_OK;
}

/* The run's parameters: the command line over the model's defaults. */
static void fill_params(const ff_chain *p, const render_args *a, const ff_model_defaults *md, const uint64_t *seed,
                        ff_chain_params *prm) {
    ff_chain_params_default(p, prm);
    prm->prompts = &a->prompt;
    prm->n_prompts = 1;
    prm->negative_prompts = a->neg ? &a->neg : NULL;
    prm->n_negative = a->neg ? 1 : 0;
    prm->seeds = seed;
    prm->n_seeds = 1;
    prm->num_frames = a->frames ? (int)a->frames : md->frames;
    prm->height = a->height ? (int)a->height : md->height;
    prm->width = a->width ? (int)a->width : md->width;
    prm->num_inference_steps = a->steps ? (int)a->steps : md->steps;
    prm->guidance_scale = isnan(a->guidance) ? md->guidance : a->guidance;
    prm->has_guidance_scale_2 = !isnan(a->guidance2);
    prm->guidance_scale_2 = a->guidance2;
    if (a->msl) prm->max_sequence_length = (int)a->msl; /* else the family's default */
    prm->reset_peak_rss = a->stats;
    prm->use_dynamic_cfg = a->dynamic_cfg;
    if (a->tile == 1 || (a->tile == -1 && md->has_tile)) {
        prm->vae.tiling = 1;
        prm->vae.tile_sample_min_height = md->tile_min_h;
        prm->vae.tile_sample_min_width = md->tile_min_w;
        prm->vae.tile_sample_stride_height = md->tile_stride_h;
        prm->vae.tile_sample_stride_width = md->tile_stride_w;
    }
}

static int planned(const render_args *a) {
    return a->have_budget || a->offload != -2 || a->group || a->vae_tiling || a->vae_slicing;
}

/* The planner's choice for this render (pipeline/plan.h), printed and
 * applied: a device pool with the budget on the backend, the chain reopened
 * with the plan's options, prm's VAE options. */
static ff_status apply_plan(const render_args *a, const ff_model_defaults *md, const ff_geometry *g, ff_backend *be,
                            const ff_log *log, const char *cls, ff_chain **p, ff_chain_params *prm, ff_plan *plan,
                            ff_pool **pool, ff_err *err) {
    ff_plan_request rq;
    ff_plan_request_default(&rq);
    rq.pipeline_class = cls;
    rq.height = g->height, rq.width = g->width, rq.frames = g->num_frames;
    rq.batch = 1, rq.cfg = prm->guidance_scale > 1.0, rq.text_len = prm->max_sequence_length;
    rq.steps = prm->num_inference_steps, rq.dtype = FF_F32, rq.budget = a->vram_budget;
    rq.cuda = ff_backend_kind_of(be) == FF_BACKEND_CUDA;
    rq.offload = a->offload == -2 ? -1 : a->offload;
    rq.group = (int)a->group;
    rq.slicing = a->vae_slicing ? 1 : -1;
    rq.tile = md->tile_min_h;
    if (a->tile == 0) rq.tiling = 0;
    else if (a->tile == 1 || prm->vae.tiling || a->vae_tiling) /* the model's / --tile's tiles exactly */
        rq.tiling = 1, rq.tile_stride = md->tile_stride_h;
    else rq.tiling = -1; /* largest tile that fits (stride 3/4), if tiling is needed */
    ff_status st = ff_plan_make(a->model, &rq, plan, err);
    if (st) return st;
    print_plan(plan, a->vram_budget);
    ff_chain_opts oo = {0};
    oo.weight_dtype = FF_F32;
    oo.pipeline_class = cls;
    ff_plan_apply(plan, &oo, &prm->vae);
    if ((st = ff_pool_create("device", a->vram_budget, pool, err)) || (st = ff_pool_attach(*pool, be, err))) return st;
    oo.device_pool = *pool;
    ff_chain_close(*p); /* reopened with the plan's options */
    *p = NULL;
    return ff_chain_open(be, a->model, &oo, log, p, err);
}

/* --stats with a pool: measured device peaks per stage against the plan. */
static void print_device_peaks(const render_user *ru, const ff_plan *plan, size_t budget) {
    static const char *const sn[3] = {"text encoder", "denoise", "decode"};
    char a[32], b[32], c[32];
    size_t peak = 0;
    for (int i = 0; i < 3; i++) {
        if (ru->stage_peak[i] > peak) peak = ru->stage_peak[i];
        printf("device peak %-12s %10s (predicted %s)\n", sn[i], ff_pool_fmt_bytes(ru->stage_peak[i], a, sizeof a),
               ff_pool_fmt_bytes(ff_plan_kind_peak(plan, (ff_stage_kind)i), b, sizeof b));
    }
    printf("device peak %zu B (%s) of budget %s (predicted %s)\n", peak, ff_pool_fmt_bytes(peak, a, sizeof a),
           budget ? ff_pool_fmt_bytes(budget, b, sizeof b) : "unlimited", ff_pool_fmt_bytes(plan->peak, c, sizeof c));
}

/* --image: the picture (read before any model work, errors name the file)
 * and the class to run the folder as; without it, a model that needs an
 * image is refused here. */
static ff_status image_class(const render_args *a, ff_tensor *image, const char **cls, ff_err *err) {
    char index_class[128] = "";
    const char *ic = NULL;
    ff_status st = ff_chain_image_class(a->model, &ic, index_class, sizeof index_class, err);
    if (st) return st;
    if (!a->image) {
        if (ic && !strcmp(ic, index_class))
            return ff_err_set(err, FF_ERR_ARG, "%s is image to video (%s): give the first frame with --image FILE", a->model,
                              index_class);
        return FF_OK;
    }
    if (!ic)
        return ff_err_set(err, FF_ERR_ARG, "%s (%s) does not take an image: --image needs an image-to-video model", a->model,
                          index_class);
    if ((st = ff_image_read(a->image, NULL, image, NULL, err))) return st;
    *cls = ic;
    return FF_OK;
}

/* ---- the command ------------------------------------------------------------------------ */

int ff_cmd_render(int argc, char **argv) {
    render_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    char be_name[64], why[256];
    if (ff_cli_backend_name(a.backend, a.device, be_name, sizeof be_name, why, sizeof why)) {
        fprintf(stderr, "framefarm render: %s\n", why);
        return FF_EXIT_USAGE;
    }
    ff_video_format fmt;
    int bad_in = ff_cli_check_prompt("render", "--prompt", a.prompt);
    if (!bad_in && a.neg) bad_in = ff_cli_check_prompt("render", "--negative-prompt", a.neg);
    if (!bad_in) bad_in = ff_cli_check_out("render", "--out", a.out, &fmt); /* before any work: kind, folder, writable */
    if (bad_in) return bad_in;

    ff_err err = {0};
    ff_status st;
    char default_dir[4096] = "";
    if ((st = resolve_model(&a, default_dir, sizeof default_dir, &err))) {
        ff_cli_report("render", &err);
        return exit_code(st);
    }
    ff_model_defaults md;
    ff_model_defaults_read(a.model, &md);
    if (md.label[0] && strcmp(a.model, default_dir) != 0) printf("model: %s (%s)\n", a.model, md.label);

    ff_log log;
    ff_log_init(&log, FF_LOG_WARN, stderr);
    ff_backend *be = NULL;
    ff_chain *p = NULL;
    ff_video_writer *w = NULL;
    ff_pool *pool = NULL;
    int created_file = 0;
    rc = FF_EXIT_FAIL;
    ff_plan plan;
    memset(&plan, 0, sizeof plan);
    if ((st = ff_backend_create_by_name(be_name, (int)a.threads, &be, &err)) ||
        (st = ff_backend_set_precision(be, a.prec, &err))) {
        ff_cli_report("render", &err);
        ff_backend_free(be);
        return FF_EXIT_USAGE;
    }
    ff_tensor image = {0};
    const char *cls = NULL;
    if ((st = image_class(&a, &image, &cls, &err))) goto done;
    ff_chain_opts co = {0};
    co.pipeline_class = cls;
    if ((st = ff_chain_open(be, a.model, &co, &log, &p, &err))) goto done;
    ff_chain_params prm;
    uint64_t seed_u = (uint64_t)a.seed;
    fill_params(p, &a, &md, &seed_u, &prm);
    if (a.image) prm.image = &image;
    ff_geometry g;
    if ((st = ff_chain_geometry(p, 1, prm.num_frames, prm.height, prm.width, &g, &err))) goto done;
    if (planned(&a) && (st = apply_plan(&a, &md, &g, be, &log, cls, &p, &prm, &plan, &pool, &err))) goto done;
    if ((st = ff_chain_check_vae_opts(p, &prm.vae, &err))) goto done; /* before the output file exists */

    ff_video_opts vo;
    ff_video_opts_default(&vo, fmt, g.width, g.height);
    vo.fps_num = a.fps ? (int)a.fps : md.fps;
    vo.fps_den = 1;
    vo.crf = (int)a.crf;
    struct stat sb;
    int existed = stat(a.out, &sb) == 0;
    if ((st = ff_video_open(a.out, &vo, &w, &err))) goto done;
    created_file = !existed && fmt != FF_VIDEO_PNG;
    if (a.image)
        printf("image to video (%s) from %s (%lldx%lld)\n", ff_chain_class_name(p), a.image, (long long)image.shape[1],
               (long long)image.shape[0]);
    printf("rendering %d frames at %dx%d, %d steps, guidance %g, seed %ld, VAE tiling %s, backend %s -> %s\n", g.num_frames,
           g.width, g.height, prm.num_inference_steps, prm.guidance_scale, a.seed, prm.vae.tiling ? "on" : "off",
           ff_backend_name(be), a.out);
    fflush(stdout);

    render_user ru = {{isatty(fileno(stderr))}, w, pool, {0, 0, 0, 0, 0}, -1};
    ff_chain_stats stv;
    prm.on_progress = on_progress;
    prm.on_frames = on_frames;
    prm.user = &ru;
    st = ff_chain_run(p, &prm, &stv, &err);
    stage_mark(&ru, -1);
    if (st) goto done;
    ff_status cst = ff_video_close(w, &err);
    w = NULL;
    if ((st = cst)) goto done;
    printf("wrote %s (%d frames, %dx%d, %d fps, %s)\n", a.out, g.num_frames, g.width, g.height, vo.fps_num,
           ff_video_format_name(fmt));
    if (a.stats) print_stats(p, &stv);
    if (a.stats && pool) print_device_peaks(&ru, &plan, a.vram_budget);
    rc = FF_EXIT_OK;
done:
    if (w) {
        ff_err ignore = {0};
        (void)ff_video_close(w, &ignore);
    }
    if (st) {
        ff_cli_report("render", &err);
        rc = exit_code(st);
        if (created_file) (void)unlink(a.out); /* no half-written video */
    }
    ff_chain_close(p); /* frees what it kept resident: before the pool goes */
    ff_pool_detach(pool);
    ff_pool_free(pool);
    ff_backend_free(be);
    ff_tensor_free(&image);
    return rc;
}
