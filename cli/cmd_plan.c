/* framefarm plan: the memory planner's choice for a pipeline folder, as a
 * table (stage, strategy, predicted device peak, bytes moved per step), and
 * host RAM against the cgroup limit and MemTotal. Configs only: no weights
 * are read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "offload/pool.h"
#include "pipeline/chain.h"
#include "pipeline/plan.h"

static void usage(FILE *f) {
    fprintf(f, "usage: framefarm plan --model DIR [--height 480] [--width 832] [--frames 81] --budget 8GiB\n"
               "                      [--dtype bf16|f32] [--offload none|model|sequential|auto] [--group K]\n"
               "                      [--vae-tiling] [--slicing] [--text-on-host] [--batch N] [--no-cfg]\n"
               "                      [--text-len 512] [--steps 50] [--backend cpu|cuda] [--image-to-video]\n"
               "  --image-to-video: plan the folder as its image-to-video pipeline (a WanPipeline folder such as\n"
               "  Wan2.2-TI2V-5B as WanImageToVideoPipeline; automatic for WanImageToVideoPipeline folders)\n");
}

/* Bytes from a "key value" line of a file (MemTotal: N kB), or a plain number. */
static int read_limit(const char *path, const char *key, size_t *out) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        if (key) {
            size_t k = strlen(key);
            if (strncmp(line, key, k) != 0) continue;
            unsigned long long kb = 0;
            if (sscanf(line + k, " %llu", &kb) == 1) *out = (size_t)kb * 1024, found = 0;
            break;
        }
        if (!strncmp(line, "max", 3)) break; /* no limit */
        unsigned long long v = 0;
        if (sscanf(line, "%llu", &v) == 1) *out = (size_t)v, found = 0;
        break;
    }
    fclose(f);
    return found;
}

/* 16394878784 -> "16,394,878,784" (as shared/configs' README writes counts) */
static const char *thousands(int64_t v, char *buf, size_t n) {
    char d[32];
    int k = snprintf(d, sizeof d, "%lld", (long long)v), o = 0;
    for (int i = 0; i < k && o + 2 < (int)n; i++) {
        if (i && (k - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = d[i];
    }
    buf[o] = 0;
    return buf;
}

static int parse_int(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 1 << 20) return -1;
    *out = (int)v;
    return 0;
}

int ff_cmd_plan(int argc, char **argv) {
    ff_plan_request rq;
    ff_plan_request_default(&rq);
    const char *model = NULL;
    int have_budget = 0, i2v = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return FF_EXIT_OK;
        } else if (!strcmp(a, "--vae-tiling")) rq.tiling = 1;
        else if (!strcmp(a, "--slicing")) rq.slicing = 1;
        else if (!strcmp(a, "--text-on-host")) rq.text_on_host = 1;
        else if (!strcmp(a, "--no-cfg")) rq.cfg = 0;
        else if (!strcmp(a, "--image-to-video")) i2v = 1;
        else if (!v) bad = 1;
        else {
            i++;
            if (!strcmp(a, "--model")) model = v;
            else if (!strcmp(a, "--height")) bad = parse_int(v, &rq.height);
            else if (!strcmp(a, "--width")) bad = parse_int(v, &rq.width);
            else if (!strcmp(a, "--frames")) bad = parse_int(v, &rq.frames);
            else if (!strcmp(a, "--batch")) bad = parse_int(v, &rq.batch);
            else if (!strcmp(a, "--group")) bad = parse_int(v, &rq.group);
            else if (!strcmp(a, "--text-len")) bad = parse_int(v, &rq.text_len);
            else if (!strcmp(a, "--steps")) bad = parse_int(v, &rq.steps);
            else if (!strcmp(a, "--budget")) bad = ff_pool_parse_bytes(v, &rq.budget), have_budget = 1;
            else if (!strcmp(a, "--offload")) bad = ff_plan_offload_parse(v, &rq.offload);
            else if (!strcmp(a, "--dtype")) {
                if (!strcmp(v, "bf16")) rq.dtype = FF_BF16;
                else if (!strcmp(v, "f32")) rq.dtype = FF_F32;
                else bad = 1;
            } else if (!strcmp(a, "--backend")) {
                if (!strncmp(v, "cuda", 4)) rq.cuda = 1;
                else if (strcmp(v, "cpu")) bad = 1;
            } else bad = 1;
        }
        if (bad) {
            fprintf(stderr, "framefarm plan: bad or incomplete option '%s'\n", a);
            usage(stderr);
            return FF_EXIT_USAGE;
        }
    }
    if (!model || !have_budget) {
        fprintf(stderr, "framefarm plan: --model and --budget are required\n");
        usage(stderr);
        return FF_EXIT_USAGE;
    }
    ff_plan p;
    ff_err err = {0};
    ff_status st = FF_OK;
    if (i2v) { /* the folder's image-to-video class */
        char idx[128] = "";
        if (!(st = ff_chain_image_class(model, &rq.pipeline_class, idx, sizeof idx, &err)) && !rq.pipeline_class)
            st = ff_err_set(&err, FF_ERR_ARG, "%s (%s) has no image-to-video pipeline", model, idx);
    }
    if (!st) st = ff_plan_make(model, &rq, &p, &err);
    if (st) {
        ff_cli_report("plan", &err);
        return st == FF_ERR_BUDGET ? FF_EXIT_FAIL : FF_EXIT_USAGE;
    }
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
    printf("plan: %s, %dx%d, %d frames, batch %d%s, %s weights (BF16 matrices stored on the host as BF16, "
           "used as BF16), budget %s%s\n",
           model, rq.height, rq.width, rq.frames, rq.batch, rq.cfg ? " x2 (CFG)" : "",
           rq.dtype == FF_BF16 ? "bf16" : "f32", ff_pool_fmt_bytes(rq.budget, b1, sizeof b1),
           rq.cuda ? " (+ CUDA reserve per stage)" : "");
    printf("pipeline %s;", p.pipeline_class);
    for (int i = 0; i < p.n_components; i++) {
        char n[40];
        if (p.comp[i].present) printf(" %s %s parameters%s", p.comp[i].name, thousands(p.comp[i].params, n, sizeof n),
                                      i + 1 < p.n_components ? "," : "");
    }
    printf("\n");
    const char *dims[5] = {"B", "?", "?", "h", "w"};
    if (p.frame_axis > 0 && p.frame_axis < 3) dims[p.frame_axis] = "F";
    if (p.channel_axis > 0 && p.channel_axis < 3) dims[p.channel_axis] = "C";
    printf("latents (%s, %s, %s, %s, %s) = (%d, %d, %d, %d, %d)\n", dims[0], dims[1], dims[2], dims[3], dims[4], p.latent[0],
           p.latent[1], p.latent[2], p.latent[3], p.latent[4]);
    printf("strategy: offload %s", ff_plan_offload_name(p.offload));
    if (p.offload == FF_PLAN_SEQUENTIAL) printf(" (k=%d)", p.group);
    printf("%s", p.text_on_host ? ", text encoder on host" : "");
    if (p.tiling) printf(", vae tiling %d/%d px", p.tile, p.tile_stride);
    printf("%s\n\n", p.slicing ? ", vae slicing" : "");
    printf("%-14s %-34s %11s %11s %11s %11s %12s\n", "stage", "strategy", "weights", "activations", "others",
           "peak", "moved/step");
    for (int i = 0; i < p.n_stages; i++) {
        const ff_plan_stage *s = &p.st[i];
        if (!s->present) continue;
        printf("%-14s %-34s %11s %11s %11s %11s %12s\n", s->name, s->strategy,
               ff_pool_fmt_bytes(s->weights, b1, sizeof b1), ff_pool_fmt_bytes(s->activations, b2, sizeof b2),
               ff_pool_fmt_bytes(s->others, b3, sizeof b3), ff_pool_fmt_bytes(s->peak, b4, sizeof b4),
               ff_pool_fmt_bytes(s->moved_per_step, b5, sizeof b5));
    }
    printf("\npredicted device peak %s of budget %s: %s (smallest plan: %s)\n", ff_pool_fmt_bytes(p.peak, b1, sizeof b1),
           ff_pool_fmt_bytes(rq.budget, b2, sizeof b2), p.fits ? "fits" : "does not fit",
           ff_pool_fmt_bytes(p.min_budget, b6, sizeof b6));
    size_t cg = 0, mt = 0;
    int has_cg = read_limit("/sys/fs/cgroup/memory.max", NULL, &cg) == 0;
    int has_mt = read_limit("/proc/meminfo", "MemTotal:", &mt) == 0;
    printf("host RAM: %s for the largest component's weights + latents; cgroup limit %s; MemTotal %s%s\n",
           ff_pool_fmt_bytes(p.host_need, b3, sizeof b3), has_cg ? ff_pool_fmt_bytes(cg, b4, sizeof b4) : "none",
           has_mt ? ff_pool_fmt_bytes(mt, b5, sizeof b5) : "unknown",
           (has_cg && p.host_need > cg) || (has_mt && p.host_need > mt) ? " (DOES NOT FIT in host RAM)" : "");
    return FF_EXIT_OK;
}
