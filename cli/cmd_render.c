/* framefarm render [--model DIR] --prompt TEXT [--negative-prompt TEXT]
 *     [--seed N] [--frames N] [--height PX] [--width PX] [--steps N]
 *     [--guidance G] [--guidance-2 G] [--max-sequence-length N] [--fps N]
 *     [--crf N] [--tile|--no-tile] [--backend cpu|cuda[:N]] [--device N] [--threads N]
 *     [--precision f32|bf16|bf16-all]
 *     [--vram-budget SIZE] [--offload none|model|sequential|auto] [--group K]
 *     [--vae-tiling] [--vae-slicing] [--stats] --out FILE.mp4|FILE.y4m|DIR/
 *
 * Prompt to video file in one process (pipeline/wan_pipeline.h): frames are
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
 * ff_wan_open_opts and ff_wanvae_opts, printing one line per stage; a device
 * pool with the budget is attached to the backend, so the budget is
 * enforced and --stats shows the measured peak against it. --offload,
 * --group, --vae-tiling, --vae-slicing force those choices (with or
 * without a budget). Without any of these flags the pipeline runs as
 * before (component offload, no pool). Every strategy gives the same
 * video; tiling gives the tiled video (as --tile does). */
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
#include "cli/model_defaults.h"
#include "core/ff_json.h"
#include "core/ff_log.h"
#include "offload/pool.h"
#include "pipeline/plan.h"
#include "pipeline/plan_apply.h"
#include "pipeline/tiny_model.h"
#include "pipeline/wan_pipeline.h"
#include "video/video.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: framefarm render [--model DIR] --prompt TEXT --out NAME.mp4|NAME.y4m|DIR/ [options]\n"
            "  --model DIR              a diffusers Wan pipeline folder (default: the embedded SMOKE-TEST model,\n"
            "                           random weights, noise-like videos, in ~/.cache/framefarm/tiny)\n"
            "  --prompt TEXT            at most 16384 bytes of UTF-8 (required)\n"
            "  --out PATH               NAME.mp4 (H.264), NAME.y4m, or DIR/ (PNG frames) (required)\n"
            "  --negative-prompt TEXT   default: none\n"
            "  --seed N                 default 42\n"
            "  --frames N               default: the model's _framefarm_defaults, else 81 (rounded to 4k+1)\n"
            "  --height PX, --width PX  default: the model's, else 480 x 832 (multiples of 16)\n"
            "  --steps N                default: the model's, else 50\n"
            "  --guidance G             default: the model's, else 5.0 (0..100)\n"
            "  --guidance-2 G           Wan 2.2 A14B low-noise expert (0..100); default: --guidance\n"
            "  --max-sequence-length N  default 512\n"
            "  --fps N                  default: the model's, else 16\n"
            "  --crf N                  MP4 quality 0..51, default 18\n"
            "  --tile | --no-tile       VAE tiling; default: on when the model names its tiles (the smoke-test model does), else off\n"
            "  --backend cpu|cuda[:N]   default cpu;  --device N: cuda:N\n"
            "  --precision f32|bf16|bf16-all  GEMM precision, default f32\n"
            "  --threads N              CPU threads, default 0 (every core)\n"
            "  --stats                  time and peak memory per component\n"
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
    size_t stage_peak[3];       /* measured device peak per ff_wan_stage */
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

static ff_status on_progress(void *user, const ff_wan_progress *pr, ff_err *err) {
    progress_state *ps = &((render_user *)user)->ps;
    (void)err;
    static const char *const names[] = {"text encoder", "denoise", "decode"};
    const char *name = names[pr->stage];
    /* the decode stage's peak starts after the last step (the VAE is loaded before its first progress call) */
    if (pr->done == 0 && pr->stage != FF_WAN_STAGE_DECODE) stage_mark((render_user *)user, (int)pr->stage);
    if (pr->stage == FF_WAN_STAGE_DENOISE && pr->done == pr->total) stage_mark((render_user *)user, FF_WAN_STAGE_DECODE);
    if (pr->stage == FF_WAN_STAGE_TEXT) {
        if (pr->done == 0) fprintf(stderr, "encoding the prompt\n");
        return FF_OK;
    }
    if (pr->done == 0 && pr->stage == FF_WAN_STAGE_DECODE && !ps->is_tty)
        fprintf(stderr, "decoding %lld frames\n", (long long)pr->total);
    if (pr->done == 0) return FF_OK;
    const char *unit = pr->stage == FF_WAN_STAGE_DENOISE ? "step" : "frame";
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
    } else if (pr->stage == FF_WAN_STAGE_DENOISE) {
        fprintf(stderr, "%s step %lld/%lld (t=%g, transformer%s)  %.2f s/step  ETA %.0fs\n", name, (long long)pr->done,
                (long long)pr->total, pr->timestep, pr->expert == 2 ? "_2" : "", per, eta);
    } else if (pr->done >= pr->total) {
        fprintf(stderr, "decoded %lld frames  %.2f s/frame\n", (long long)pr->total, per);
    }
    fflush(stderr);
    return FF_OK;
}

static ff_status on_frames(void *user, const ff_wan_chunk *ch, ff_err *err) {
    return ff_video_write_frames(((render_user *)user)->w, ch->frames, err); /* (1, nt, H, W, 3) */
}

static void print_stats(const ff_wan_stats *s) {
    printf("%-14s %8s %8s %14s %14s\n", "component", "load s", "run s", "peak RSS MiB", "backend MiB");
    for (int c = 0; c < FF_WAN_C_COUNT; c++) {
        const ff_wan_component_stats *cs = &s->c[c];
        if (!cs->used) continue;
        char be[32];
        if (cs->backend_peak_bytes) snprintf(be, sizeof be, "%.1f", (double)cs->backend_peak_bytes / 1048576.0);
        else if (cs->backend_weight_bytes) snprintf(be, sizeof be, "%.1f (weights)", (double)cs->backend_weight_bytes / 1048576.0);
        else snprintf(be, sizeof be, "-");
        printf("%-14s %8.2f %8.2f %14.1f %14s\n", ff_wan_component_name((ff_wan_component)c), cs->load_s, cs->run_s,
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
    for (int i = 0; i < FF_PLAN_STAGES; i++) {
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

int ff_cmd_render(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *neg = NULL, *out = NULL, *backend = NULL, *device = NULL;
    long seed = 42, frames = 0, height = 0, width = 0, steps = 0, fps = 0, crf = 18, threads = 0, msl = 512;
    double guidance = NAN, guidance2 = NAN;
    int tile = -1, stats = 0;
    /* memory: planner inputs (-1 / 0: not given) */
    size_t vram_budget = 0;
    int have_budget = 0, offload = -2, vae_tiling = 0, vae_slicing = 0;
    long group = 0;
    ff_precision prec = FF_PREC_F32; /* --precision: GEMMs of the backend (kernels/ops.h) */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return FF_EXIT_OK;
        } else if (!strcmp(a, "--tile")) {
            tile = 1;
            continue;
        } else if (!strcmp(a, "--no-tile")) {
            tile = 0;
            continue;
        } else if (!strcmp(a, "--stats")) {
            stats = 1;
            continue;
        } else if (!strcmp(a, "--vae-tiling")) {
            vae_tiling = 1;
            continue;
        } else if (!strcmp(a, "--vae-slicing")) {
            vae_slicing = 1;
            continue;
        } else if (!val) {
            fprintf(stderr, "framefarm render: unknown or incomplete option '%s' (see framefarm render --help)\n", a);
            return FF_EXIT_USAGE;
        }
        if (!strcmp(a, "--model")) model = val;
        else if (!strcmp(a, "--prompt")) prompt = val;
        else if (!strcmp(a, "--negative-prompt")) neg = val;
        else if (!strcmp(a, "--out")) out = val;
        else if (!strcmp(a, "--backend")) backend = val;
        else if (!strcmp(a, "--device")) device = val; /* cuda:N (cli/backend_opts.h) */
        else if (!strcmp(a, "--precision"))
            bad = ff_precision_parse(val, &prec) ? ff_cli_bad_value("render", a, val, "f32, bf16 or bf16-all") : 0;
        else if (!strcmp(a, "--seed")) bad = ff_cli_long("render", a, val, 0, 0x7fffffffffffffffL, &seed);
        else if (!strcmp(a, "--frames")) bad = ff_cli_long("render", a, val, 1, 1 << 20, &frames);
        else if (!strcmp(a, "--height")) bad = ff_cli_long("render", a, val, 1, 1 << 16, &height);
        else if (!strcmp(a, "--width")) bad = ff_cli_long("render", a, val, 1, 1 << 16, &width);
        else if (!strcmp(a, "--steps")) bad = ff_cli_long("render", a, val, 1, 100000, &steps);
        else if (!strcmp(a, "--fps")) bad = ff_cli_long("render", a, val, 1, 1000, &fps);
        else if (!strcmp(a, "--crf")) bad = ff_cli_long("render", a, val, 0, 51, &crf);
        else if (!strcmp(a, "--threads")) bad = ff_cli_long("render", a, val, 0, 4096, &threads);
        else if (!strcmp(a, "--max-sequence-length")) bad = ff_cli_long("render", a, val, 1, 1 << 16, &msl);
        else if (!strcmp(a, "--guidance")) bad = ff_cli_double("render", a, val, 0, 100, &guidance);
        else if (!strcmp(a, "--guidance-2")) bad = ff_cli_double("render", a, val, 0, 100, &guidance2);
        else if (!strcmp(a, "--vram-budget"))
            bad = ff_pool_parse_bytes(val, &vram_budget) || !vram_budget
                      ? ff_cli_bad_value("render", a, val, "bytes > 0: 536870912, 512M, 8G, 8GiB")
                      : 0,
            have_budget = 1;
        else if (!strcmp(a, "--offload"))
            bad = ff_plan_offload_parse(val, &offload) ? ff_cli_bad_value("render", a, val, "none, model, sequential or auto") : 0;
        else if (!strcmp(a, "--group")) bad = ff_cli_long("render", a, val, 1, 1 << 16, &group);
        else {
            fprintf(stderr, "framefarm render: unknown option '%s' (see framefarm render --help)\n", a);
            return FF_EXIT_USAGE;
        }
        if (bad) return FF_EXIT_USAGE; /* the reason and the accepted values are printed */
        i++;
    }
    if (!prompt || !out) {
        fprintf(stderr, "framefarm render: --prompt and --out are required (see framefarm render --help)\n");
        return FF_EXIT_USAGE;
    }
    char be_name[64], why[256];
    if (ff_cli_backend_name(backend, device, be_name, sizeof be_name, why, sizeof why)) {
        fprintf(stderr, "framefarm render: %s\n", why);
        return FF_EXIT_USAGE;
    }
    ff_video_format fmt;
    int bad_in = ff_cli_check_prompt("render", "--prompt", prompt);
    if (!bad_in && neg) bad_in = ff_cli_check_prompt("render", "--negative-prompt", neg);
    if (!bad_in) bad_in = ff_cli_check_out("render", "--out", out, &fmt); /* before any work: kind, folder, writable */
    if (bad_in) return bad_in;

    ff_err err = {0};
    ff_status st;
    char default_dir[4096] = "";
    if (!model) { /* the embedded smoke-test model */
        int created = 0;
        if ((st = ff_tiny_model_default_dir(default_dir, sizeof default_dir, &err)) ||
            (st = ff_tiny_model_ensure(default_dir, &created, &err))) {
            ff_cli_report("render", &err);
            return exit_code(st);
        }
        model = default_dir;
        printf("model: the embedded tiny SMOKE-TEST model (random weights: the video will be noise-like), %s %s\n",
               created ? "created in" : "from", model);
    }
    ff_model_defaults md;
    ff_model_defaults_read(model, &md);
    if (md.label[0] && strcmp(model, default_dir) != 0) printf("model: %s (%s)\n", model, md.label);

    ff_log log;
    ff_log_init(&log, FF_LOG_WARN, stderr);
    ff_backend *be = NULL;
    ff_wan_pipeline *p = NULL;
    ff_video_writer *w = NULL;
    ff_pool *pool = NULL;
    int rc = FF_EXIT_FAIL, created_file = 0;
    const int planned = have_budget || offload != -2 || group || vae_tiling || vae_slicing;
    ff_plan plan;
    memset(&plan, 0, sizeof plan);
    ff_wan_open_opts oo = {0};
    oo.dit_weight_dtype = FF_F32;
    if (group && offload != -2 && offload != FF_PLAN_SEQUENTIAL) {
        fprintf(stderr, "framefarm render: --group is for --offload sequential\n");
        return FF_EXIT_USAGE;
    }
    if (vae_tiling && tile == 0) {
        fprintf(stderr, "framefarm render: --vae-tiling and --no-tile contradict each other\n");
        return FF_EXIT_USAGE;
    }
    if ((st = ff_backend_create_by_name(be_name, (int)threads, &be, &err)) ||
        (st = ff_backend_set_precision(be, prec, &err))) {
        ff_cli_report("render", &err);
        ff_backend_free(be);
        return FF_EXIT_USAGE;
    }
    if ((st = ff_wan_pipeline_open(be, model, NULL, &log, &p, &err))) goto done;

    ff_wan_params prm;
    ff_wan_params_default(&prm);
    uint64_t seed_u = (uint64_t)seed;
    prm.prompts = &prompt;
    prm.n_prompts = 1;
    prm.negative_prompts = neg ? &neg : NULL;
    prm.n_negative = neg ? 1 : 0;
    prm.seeds = &seed_u;
    prm.n_seeds = 1;
    prm.num_frames = frames ? (int)frames : md.frames;
    prm.height = height ? (int)height : md.height;
    prm.width = width ? (int)width : md.width;
    prm.num_inference_steps = steps ? (int)steps : md.steps;
    prm.guidance_scale = isnan(guidance) ? md.guidance : guidance;
    prm.has_guidance_scale_2 = !isnan(guidance2);
    prm.guidance_scale_2 = guidance2;
    prm.max_sequence_length = (int)msl;
    prm.reset_peak_rss = stats;
    if (tile == 1 || (tile == -1 && md.has_tile)) {
        prm.vae.tiling = 1;
        prm.vae.tile_sample_min_height = md.tile_min_h;
        prm.vae.tile_sample_min_width = md.tile_min_w;
        prm.vae.tile_sample_stride_height = md.tile_stride_h;
        prm.vae.tile_sample_stride_width = md.tile_stride_w;
    }
    ff_wan_geometry g;
    if ((st = ff_wan_pipeline_geometry(p, 1, prm.num_frames, prm.height, prm.width, &g, &err))) goto done;

    if (planned) { /* the planner's choice for this render, applied */
        ff_plan_request rq;
        ff_plan_request_default(&rq);
        rq.height = g.height, rq.width = g.width, rq.frames = g.num_frames;
        rq.batch = 1, rq.cfg = prm.guidance_scale > 1.0, rq.text_len = prm.max_sequence_length;
        rq.steps = prm.num_inference_steps, rq.dtype = FF_F32, rq.budget = vram_budget;
        rq.cuda = ff_backend_kind_of(be) == FF_BACKEND_CUDA;
        rq.offload = offload == -2 ? -1 : offload;
        rq.group = (int)group;
        rq.slicing = vae_slicing ? 1 : -1;
        rq.tile = md.tile_min_h;
        if (tile == 0) rq.tiling = 0;
        else if (tile == 1 || prm.vae.tiling || vae_tiling) /* the model's / --tile's tiles exactly */
            rq.tiling = 1, rq.tile_stride = md.tile_stride_h;
        else rq.tiling = -1; /* largest tile that fits (stride 3/4), if tiling is needed */
        if ((st = ff_plan_make(model, &rq, &plan, &err))) goto done;
        print_plan(&plan, vram_budget);
        ff_plan_apply(&plan, &oo, &prm.vae);
        if ((st = ff_pool_create("device", vram_budget, &pool, &err)) || (st = ff_pool_attach(pool, be, &err))) goto done;
        oo.device_pool = pool;
        ff_wan_pipeline_close(p); /* reopened with the plan's options */
        p = NULL;
        if ((st = ff_wan_pipeline_open(be, model, &oo, &log, &p, &err))) goto done;
    }

    ff_video_opts vo;
    ff_video_opts_default(&vo, fmt, g.width, g.height);
    vo.fps_num = fps ? (int)fps : md.fps;
    vo.fps_den = 1;
    vo.crf = (int)crf;
    struct stat sb;
    int existed = stat(out, &sb) == 0;
    if ((st = ff_video_open(out, &vo, &w, &err))) goto done;
    created_file = !existed && fmt != FF_VIDEO_PNG;
    printf("rendering %d frames at %dx%d, %d steps, guidance %g, seed %ld, VAE tiling %s, backend %s -> %s\n", g.num_frames,
           g.width, g.height, prm.num_inference_steps, prm.guidance_scale, seed, prm.vae.tiling ? "on" : "off",
           ff_backend_name(be), out);
    fflush(stdout);

    render_user ru = {{isatty(fileno(stderr))}, w, pool, {0, 0, 0}, -1};
    ff_wan_stats stv;
    prm.on_progress = on_progress;
    prm.on_frames = on_frames;
    prm.user = &ru;
    st = ff_wan_pipeline_run(p, &prm, &stv, &err);
    stage_mark(&ru, -1);
    if (st) goto done;
    ff_status cst = ff_video_close(w, &err);
    w = NULL;
    if ((st = cst)) goto done;
    printf("wrote %s (%d frames, %dx%d, %d fps, %s)\n", out, g.num_frames, g.width, g.height, vo.fps_num,
           ff_video_format_name(fmt));
    if (stats) print_stats(&stv);
    if (stats && pool) {
        static const char *const sn[3] = {"text encoder", "denoise", "decode"};
        char a[32], b[32], c[32];
        size_t peak = 0;
        for (int i = 0; i < 3; i++) {
            if (ru.stage_peak[i] > peak) peak = ru.stage_peak[i];
            printf("device peak %-12s %10s (predicted %s)\n", sn[i], ff_pool_fmt_bytes(ru.stage_peak[i], a, sizeof a),
                   ff_pool_fmt_bytes(i == 0 ? plan.st[FF_PLAN_TEXT].peak
                                     : i == 2 ? plan.st[FF_PLAN_VAE].peak
                                              : (plan.st[FF_PLAN_DIT1].peak > plan.st[FF_PLAN_DIT2].peak
                                                     ? plan.st[FF_PLAN_DIT1].peak
                                                     : plan.st[FF_PLAN_DIT2].peak),
                                     b, sizeof b));
        }
        printf("device peak %zu B (%s) of budget %s (predicted %s)\n", peak, ff_pool_fmt_bytes(peak, a, sizeof a),
               vram_budget ? ff_pool_fmt_bytes(vram_budget, b, sizeof b) : "unlimited",
               ff_pool_fmt_bytes(plan.peak, c, sizeof c));
    }
    rc = FF_EXIT_OK;
done:
    if (w) {
        ff_err ignore = {0};
        (void)ff_video_close(w, &ignore);
    }
    if (st) {
        ff_cli_report("render", &err);
        rc = exit_code(st);
        if (created_file) (void)unlink(out); /* no half-written video */
    }
    ff_wan_pipeline_close(p); /* frees what it kept resident: before the pool goes */
    ff_pool_detach(pool);
    ff_pool_free(pool);
    ff_backend_free(be);
    return rc;
}
