/* bench/offload_stream: seconds per WanTransformer3DModel forward with the
 * weights resident on the backend vs block-streamed (offload/stream.h, k = 1
 * and 2, ring 2): how much of the upload time the copy stream hides behind
 * compute. Random weights; blocks large enough for uploads to matter (the
 * default is the Wan2.1-1.3B width: 12 heads x 128 = 1536, ffn 8960, 8
 * layers, BF16 matrices as Wan ships them, 93 MB a block; 4096 tokens).
 *
 * usage: bench_offload_stream [--backend cpu|cuda|cuda:N] [--threads N] [--layers N] [--heads N]
 *        [--head-dim N] [--ffn N] [--text-len N] [--text-dim N] [--grid F,H,W] [--reps N]
 *        [--weights bf16|f32]
 *   GPU (< 60 s on an H100/H200):  bench_offload_stream --backend cuda
 *   CPU dry run:  bench_offload_stream --backend cpu --heads 4 --head-dim 32 --ffn 512 --layers 4
 *                 --grid 1,16,16 --text-len 32 --text-dim 64 --reps 2
 *
 * Prints one row per mode: s/forward (mean of --reps after one warm-up),
 * overhead vs resident, the device pool's peak over the mode (weights,
 * ring, activations; backend scratch such as the cuBLAS workspace is not
 * counted), the times a block had to wait for its upload, and whether the
 * output is bit-identical to the resident one. Never pass/fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ff_clock.h"
#include "core/ff_json.h"
#include "kernels/ops.h"
#include "models/wan_transformer.h"
#include "offload/pool.h"
#include "pipeline/offload_model.h"


static void fill(ff_tensor *t, unsigned seed) {
    float *d = t->data;
    unsigned s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < ff_tensor_numel(t); i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        d[i] = (float)(s >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

typedef struct {
    int layers, heads, head_dim, ffn, text_len, text_dim, reps, threads, bf16;
    int64_t grid[3];
    const char *backend;
} bench_args;

static int usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--backend cpu|cuda|cuda:N] [--threads N] [--layers N] [--heads N] [--head-dim N] [--ffn N]\n"
            "          [--text-len N] [--text-dim N] [--grid F,H,W] [--reps N] [--weights bf16|f32]\n",
            argv0);
    return 2;
}

static ff_status make_model(const bench_args *a, ff_wandit_model **m, ff_err *err) {
    char json[640];
    snprintf(json, sizeof json,
             "{\"_class_name\": \"WanTransformer3DModel\", \"attention_head_dim\": %d, \"cross_attn_norm\": true,"
             " \"eps\": 1e-06, \"ffn_dim\": %d, \"freq_dim\": 256, \"in_channels\": 16, \"num_attention_heads\": %d,"
             " \"num_layers\": %d, \"out_channels\": 16, \"patch_size\": [1, 2, 2], \"qk_norm\": \"rms_norm_across_heads\","
             " \"rope_max_seq_len\": 1024, \"text_dim\": %d}",
             a->head_dim, a->ffn, a->heads, a->layers, a->text_dim);
    ff_json_doc *doc;
    ff_wandit_config cfg;
    ff_status st = ff_json_parse(json, strlen(json), "bench config", &doc, err);
    if (st) return st;
    st = ff_wandit_config_parse(ff_json_root(doc), "bench config", &cfg, err);
    ff_json_free(doc);
    if (!st) st = ff_wandit_create(&cfg, m, err);
    if (!st) st = ff_wandit_init_random(*m, 7, err);
    if (st || !a->bf16) return st;
    /* BF16 matrices, as the Wan checkpoints store them (F32 norms, biases, time embedder) */
    ff_param *ps;
    size_t np;
    if ((st = ff_wandit_params(&(*m)->cfg, *m, &ps, &np, err))) return st;
    for (size_t i = 0; i < np && !st; i++) {
        if (ff_wandit_param_dtype(&ps[i], FF_BF16) != FF_BF16) continue;
        ff_tensor b = {0};
        if (!(st = ff_tensor_alloc(&b, FF_BF16, ps[i].slot->ndim, ps[i].slot->shape, err)) &&
            !(st = ff_tensor_convert(&b, ps[i].slot, err))) {
            ff_tensor_free(ps[i].slot);
            *ps[i].slot = b;
        } else {
            ff_tensor_free(&b);
        }
    }
    free(ps);
    return st;
}

typedef struct {
    const char *name;
    ff_offload_mode mode;
    int k;
    double s_per_fwd;
    size_t peak;
    int64_t waits;
    int same;
} mode_row;

static ff_status run_mode(ff_backend *be, ff_pool *pool, ff_wandit_model *m, const ff_tensor *dx, const ff_tensor *dt,
                          const ff_tensor *dtext, ff_tensor *dout, ff_tensor *y, int reps, mode_row *row,
                          ff_err *err) {
    ff_offload_opts o;
    ff_offload_opts_default(&o);
    o.mode = row->mode;
    o.group = row->k;
    o.ring = 2;
    o.device_pool = pool;
    ff_offload_model *d = NULL;
    ff_pool_reset_peak(pool);
    ff_status st = ff_offload_model_create_for(&ff_comp_wandit, m, be, &o, &d, err);
    const ff_denoiser_in in = {.x = dx, .timestep = dt, .text = dtext};
    if (!st) st = ff_offload_denoise(&ff_comp_wandit, m, be, d, &in, dout, err); /* warm-up */
    if (!st) st = ff_be_sync(be, err);
    ff_offload_stats s0, s1;
    if (!st) ff_offload_model_stats(d, &s0);
    const double t0 = ff_now_s();
    for (int r = 0; r < reps && !st; r++) st = ff_offload_denoise(&ff_comp_wandit, m, be, d, &in, dout, err);
    if (!st) st = ff_be_sync(be, err);
    row->s_per_fwd = (ff_now_s() - t0) / reps;
    if (!st) {
        ff_offload_model_stats(d, &s1);
        row->waits = s1.waits - s0.waits;
        st = ff_be_download(be, y, dout, err);
    }
    ff_offload_model_free(d);
    ff_pool_stats ps;
    ff_pool_stats_get(pool, &ps);
    row->peak = ps.peak;
    return st;
}

int main(int argc, char **argv) {
    bench_args a = {8, 12, 128, 8960, 512, 4096, 3, 0, 1, {4, 64, 64}, "cpu"};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage(argv[0]);
        if (!strcmp(argv[i], "--backend")) a.backend = v;
        else if (!strcmp(argv[i], "--threads")) a.threads = atoi(v);
        else if (!strcmp(argv[i], "--layers")) a.layers = atoi(v);
        else if (!strcmp(argv[i], "--heads")) a.heads = atoi(v);
        else if (!strcmp(argv[i], "--head-dim")) a.head_dim = atoi(v);
        else if (!strcmp(argv[i], "--ffn")) a.ffn = atoi(v);
        else if (!strcmp(argv[i], "--text-len")) a.text_len = atoi(v);
        else if (!strcmp(argv[i], "--text-dim")) a.text_dim = atoi(v);
        else if (!strcmp(argv[i], "--reps")) a.reps = atoi(v);
        else if (!strcmp(argv[i], "--weights") && (!strcmp(v, "bf16") || !strcmp(v, "f32"))) a.bf16 = !strcmp(v, "bf16");
        else if (!strcmp(argv[i], "--grid")) {
            long long f, h, w;
            if (sscanf(v, "%lld,%lld,%lld", &f, &h, &w) != 3) return usage(argv[0]);
            a.grid[0] = f, a.grid[1] = h, a.grid[2] = w;
        } else {
            return usage(argv[0]);
        }
        i++;
    }
    if (a.layers < 1 || a.heads < 1 || a.head_dim < 2 || a.ffn < 1 || a.text_len < 1 || a.text_dim < 1 || a.reps < 1)
        return usage(argv[0]);

    ff_err err = {0};
    ff_backend *be = NULL;
    ff_pool *pool = NULL;
    ff_wandit_model *m = NULL;
    ff_tensor x = {0}, text = {0}, t = {0}, y = {0}, ref = {0}, dx = {0}, dtext = {0}, dout = {0};
    const double tc = ff_now_s();
    ff_status st = ff_backend_create_by_name(a.backend, a.threads, &be, &err);
    if (!st) st = ff_pool_create("device", 0, &pool, &err);
    if (!st) st = ff_pool_attach(pool, be, &err);
    if (!st) st = make_model(&a, &m, &err);
    const int64_t xs[5] = {1, 16, a.grid[0], a.grid[1], a.grid[2]};
    if (!st) st = ff_tensor_alloc(&x, FF_F32, 5, xs, &err);
    if (!st) st = ff_tensor_allocv(&text, FF_F32, &err, 3, 1LL, (long long)a.text_len, (long long)a.text_dim);
    if (!st) st = ff_tensor_allocv(&t, FF_I64, &err, 1, 1LL);
    int64_t os[5];
    if (!st) st = ff_wandit_out_shape(&m->cfg, &x, os, &err);
    if (!st) st = ff_tensor_alloc(&y, FF_F32, 5, os, &err);
    if (!st) st = ff_tensor_alloc(&ref, FF_F32, 5, os, &err);
    if (!st) {
        fill(&x, 1);
        fill(&text, 2);
        ((int64_t *)t.data)[0] = 500;
        st = ff_be_alloc(be, &dx, FF_F32, 5, xs, &err);
    }
    if (!st) st = ff_be_alloc(be, &dtext, FF_F32, 3, text.shape, &err);
    if (!st) st = ff_be_alloc(be, &dout, FF_F32, 5, os, &err);
    if (!st) st = ff_be_upload(be, &dx, &x, &err);
    if (!st) st = ff_be_upload(be, &dtext, &text, &err);
    if (st) {
        fprintf(stderr, "bench_offload_stream: %s\n", err.msg);
        return 1;
    }
    const int64_t tokens = a.grid[0] * (a.grid[1] / 2) * (a.grid[2] / 2);
    ff_offload_opts o;
    ff_offload_opts_default(&o);
    o.mode = FF_OFFLOAD_STREAM;
    size_t res_b, ring_b, blk_b;
    st = ff_offload_class_device_bytes(&ff_comp_wandit, &m->cfg, a.bf16 ? FF_BF16 : FF_F32, &o, &res_b, &ring_b, &blk_b,
                                       &err);
    char b1[32], b2[32];
    printf("backend %s: dim %d (%d heads x %d), ffn %d, %d layers, %s matrices, %lld tokens, text %d x %d; "
           "block %s, all blocks %s (setup %.1f s)\n",
           ff_backend_name(be), m->cfg.dim, a.heads, a.head_dim, a.ffn, a.layers, a.bf16 ? "BF16" : "F32",
           (long long)tokens, a.text_len, a.text_dim, ff_pool_fmt_bytes(blk_b, b1, sizeof b1),
           ff_pool_fmt_bytes(blk_b * (size_t)a.layers, b2, sizeof b2), ff_now_s() - tc);

    mode_row rows[3] = {{"resident", FF_OFFLOAD_RESIDENT, 1, 0, 0, 0, 1},
                        {"stream k=1", FF_OFFLOAD_STREAM, 1, 0, 0, 0, 0},
                        {"stream k=2", FF_OFFLOAD_STREAM, 2, 0, 0, 0, 0}};
    for (int r = 0; r < 3 && !st; r++) {
        st = run_mode(be, pool, m, &dx, &t, &dtext, &dout, r ? &y : &ref, a.reps, &rows[r], &err);
        if (!st && r) rows[r].same = !memcmp(y.data, ref.data, ff_tensor_nbytes(&ref));
    }
    if (st) {
        fprintf(stderr, "bench_offload_stream: %s\n", err.msg);
    } else {
        printf("%-11s %11s %9s %14s %6s %s\n", "mode", "s/forward", "overhead", "device peak", "waits", "output");
        for (int r = 0; r < 3; r++)
            printf("%-11s %11.4f %8.1f%% %14s %6lld %s\n", rows[r].name, rows[r].s_per_fwd,
                   100.0 * (rows[r].s_per_fwd / rows[0].s_per_fwd - 1.0), ff_pool_fmt_bytes(rows[r].peak, b1, sizeof b1),
                   (long long)rows[r].waits, r == 0 ? "reference" : rows[r].same ? "bit-identical" : "DIFFERS");
        printf("(%d forwards per mode after one warm-up; uploads: %s per forward)\n", a.reps,
               ff_pool_fmt_bytes(blk_b * (size_t)a.layers, b1, sizeof b1));
    }
    ff_be_free(be, &dx);
    ff_be_free(be, &dtext);
    ff_be_free(be, &dout);
    ff_tensor_free(&x);
    ff_tensor_free(&text);
    ff_tensor_free(&t);
    ff_tensor_free(&y);
    ff_tensor_free(&ref);
    ff_wandit_free(m);
    ff_pool_detach(pool);
    ff_pool_free(pool);
    ff_backend_free(be);
    return st ? 1 : 0;
}
