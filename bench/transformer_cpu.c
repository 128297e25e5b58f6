/* bench/transformer_cpu: seconds per WanTransformer3DModel forward and peak
 * RSS on the CPU backend, at the real Wan2.1-T2V-1.3B width (12 heads x 128,
 * ffn 8960, text_dim 4096, 512 text tokens) with few layers and random
 * weights, for three token counts (increasing, so that the process-wide peak
 * RSS after each run is that run's peak).
 *
 * usage: bench_transformer_cpu [--layers N] [--threads N] [--reps N] [--backend cpu|cuda]
 *        [--grid F,H,W]... (latent sizes; default 1,32,32 4,32,32 4,64,64 =
 *        256, 1024 and 4096 tokens with patch 1x2x2) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/ff_clock.h"
#include "core/ff_json.h"
#include "kernels/ops.h"
#include "models/wan_transformer.h"

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is KiB on Linux */
}

/* Block timing through the offload hooks. */
typedef struct {
    double t0, blocks;
} block_timer;

static ff_status timer_before(void *user, int index, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    ((block_timer *)user)->t0 = ff_now_s();
    return FF_OK;
}

static ff_status timer_after(void *user, int index, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    block_timer *bt = user;
    bt->blocks += ff_now_s() - bt->t0;
    return FF_OK;
}

static void fill(ff_tensor *t, unsigned seed) {
    float *d = t->data;
    unsigned s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < ff_tensor_numel(t); i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        d[i] = (float)(s >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

int main(int argc, char **argv) {
    int layers = 1, threads = 0, reps = 1, ngrid = 0;
    const char *backend = "cpu";
    int64_t grids[8][3];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--grid") && i + 1 < argc && ngrid < 8) {
            long long f, h, w;
            if (sscanf(argv[++i], "%lld,%lld,%lld", &f, &h, &w) != 3) return 2;
            grids[ngrid][0] = f, grids[ngrid][1] = h, grids[ngrid][2] = w, ngrid++;
        } else {
            fprintf(stderr, "usage: %s [--layers N] [--threads N] [--reps N] [--backend cpu|cuda] [--grid F,H,W]...\n",
                    argv[0]);
            return 2;
        }
    }
    if (!ngrid) {
        static const int64_t dflt[3][3] = {{1, 32, 32}, {4, 32, 32}, {4, 64, 64}};
        memcpy(grids, dflt, sizeof dflt);
        ngrid = 3;
    }
    if (layers < 1 || reps < 1) return 2;
    char json[512];
    snprintf(json, sizeof json,
             "{\"attention_head_dim\": 128, \"num_attention_heads\": 12, \"ffn_dim\": 8960, \"freq_dim\": 256,"
             " \"in_channels\": 16, \"out_channels\": 16, \"text_dim\": 4096, \"num_layers\": %d,"
             " \"patch_size\": [1, 2, 2], \"cross_attn_norm\": true, \"eps\": 1e-6}",
             layers);
    ff_err err = {0};
    ff_json_doc *doc = NULL;
    ff_wandit_config cfg;
    ff_wandit_model *m = NULL;
    ff_backend *be = NULL;
    if (ff_json_parse(json, strlen(json), "bench config", &doc, &err) ||
        ff_wandit_config_parse(ff_json_root(doc), "bench config", &cfg, &err) || ff_wandit_create(&cfg, &m, &err) ||
        ff_wandit_init_random(m, 1, &err) || ff_backend_create_by_name(backend, threads, &be, &err) ||
        ff_wandit_place(m, be, 1, &err)) {
        fprintf(stderr, "bench_transformer_cpu: %s\n", err.msg);
        return 1;
    }
    ff_json_free(doc);
    ff_wandit_counts c;
    ff_wandit_count_params(&cfg, &c, &err);
    printf("Wan transformer forward, backend %s, 1.3B width: D=%d (%d x %d), ffn %d, text 512 x %d, %d layer(s),"
           " %lld parameters (%.1f MiB F32), random weights\n",
           ff_backend_name(be), cfg.dim, cfg.heads, cfg.head_dim, cfg.ffn_dim, cfg.text_dim, layers,
           (long long)c.total, (double)c.total * 4 / 1048576.0);
    printf("| latent (B,C,F,H,W) | tokens | s / forward | s / block (in blocks) | peak RSS MiB |\n");
    printf("| --- | ---: | ---: | ---: | ---: |\n");
    fflush(stdout);
    int rc = 0;
    for (int g = 0; g < ngrid && !rc; g++) {
        ff_tensor x = {0}, t = {0}, text = {0}, y = {0};
        int64_t N = grids[g][0] * (grids[g][1] / 2) * (grids[g][2] / 2);
        if (ff_tensor_allocv(&x, FF_F32, &err, 5, 1LL, 16LL, grids[g][0], grids[g][1], grids[g][2]) ||
            ff_tensor_allocv(&text, FF_F32, &err, 3, 1LL, 512LL, (int64_t)cfg.text_dim) ||
            ff_tensor_allocv(&t, FF_F32, &err, 1, 1LL)) {
            rc = 1;
        } else {
            fill(&x, 1);
            fill(&text, 2);
            ((float *)t.data)[0] = 999.0f;
            double best = 1e30, best_blk = 0;
            for (int r = 0; r < reps && !rc; r++) {
                block_timer bt = {0};
                ff_wandit_hooks hooks = {timer_before, timer_after, &bt};
                double t0 = ff_now_s();
                if (ff_wandit_forward_host(m, be, &x, &t, &text, &hooks, &y, &err)) rc = 1;
                double dt = ff_now_s() - t0;
                if (dt < best) best = dt, best_blk = bt.blocks / layers;
                ff_tensor_free(&y);
            }
            if (!rc)
                printf("| (1,16,%lld,%lld,%lld) | %lld | %.3f | %.3f | %.0f |\n", (long long)grids[g][0],
                       (long long)grids[g][1], (long long)grids[g][2], (long long)N, best, best_blk,
                       peak_rss_mib());
            fflush(stdout);
        }
        ff_tensor_free(&x);
        ff_tensor_free(&t);
        ff_tensor_free(&text);
    }
    if (rc) fprintf(stderr, "bench_transformer_cpu: %s\n", err.msg);
    ff_wandit_free(m);
    ff_backend_free(be);
    return rc;
}
