/* bench/cpu_side_by_side: the framefarm side of bench/cpu_side_by_side.sh.
 *
 * usage: bench_cpu_side_by_side CASE DIR OUT [--threads N] [--reps N] [--backend cpu|cuda]
 *   CASE  vae128 | vae256 (AutoencoderKLWan.decode of DIR/in_CASE's
 *         "latents", no tiling, output clamped to [-1, 1] as diffusers);
 *         dit1024 | dit4096 (one WanTransformer3DModel forward of
 *         DIR/in_CASE's hidden_states, timestep, encoder_hidden_states);
 *         umt5 (UMT5EncoderModel last_hidden_state of input_ids /
 *         attention_mask)
 *   DIR   the folder bench/cpu_side_by_side.py make wrote (vae/,
 *         transformer/, text_encoder/ as save_pretrained writes them)
 *   OUT   safetensors file for the output (one tensor, "out")
 * Prints "time_s BEST T1 T2 ..." (seconds of the model call alone, weights
 * already loaded, as the torch side measures) and "backend <info>". Peak
 * RSS is the caller's to read (wait4), so that it covers the whole process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ff_safetensors.h"
#include "kernels/kernels_info.h"
#include "kernels/ops.h"
#include "models/umt5.h"
#include "models/wan_transformer.h"
#include "models/wan_vae.h"

#define MAX_REPS 16

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ff_status load(const char *dir, const char *cs, const char *name, ff_dtype dt, ff_tensor *t, ff_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/in_%s.safetensors", dir, cs);
    ff_st_file *f = NULL;
    ff_status st = ff_st_open(path, &f, err);
    if (!st) st = ff_st_load(f, name, dt, t, err);
    ff_st_close(f);
    return st;
}

static ff_status run_vae(ff_backend *be, const char *dir, const char *cs, int reps, double *times, ff_tensor *y,
                         ff_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vae", dir);
    ff_vae *vae = NULL;
    ff_tensor z = {0};
    ff_status st = ff_wanvae_load(be, path, &vae, err);
    if (!st) st = load(dir, cs, "latents", FF_F32, &z, err);
    ff_wanvae_opts o;
    ff_wanvae_opts_default(&o);
    o.tiling = 0; /* diffusers' default: enable_tiling() not called */
    for (int r = 0; r < reps && !st; r++) {
        ff_tensor_free(y);
        const double t0 = now();
        st = ff_wanvae_decode(vae, &z, &o, y, err);
        times[r] = now() - t0;
    }
    ff_tensor_free(&z);
    ff_wanvae_free(vae);
    return st;
}

static ff_status run_dit(ff_backend *be, const char *dir, const char *cs, int reps, double *times, ff_tensor *y,
                         ff_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/transformer", dir);
    ff_wandit_model *m = NULL;
    ff_tensor x = {0}, t = {0}, text = {0};
    ff_status st = ff_wandit_load_as(path, FF_F32, &m, err);
    if (!st) st = ff_wandit_place(m, be, 1, err);
    if (!st) st = load(dir, cs, "hidden_states", FF_F32, &x, err);
    if (!st) st = load(dir, cs, "timestep", FF_I64, &t, err);
    if (!st) st = load(dir, cs, "encoder_hidden_states", FF_F32, &text, err);
    for (int r = 0; r < reps && !st; r++) {
        ff_tensor_free(y);
        const double t0 = now();
        st = ff_wandit_forward_host(m, be, &x, &t, &text, NULL, y, err);
        times[r] = now() - t0;
    }
    ff_tensor_free(&x);
    ff_tensor_free(&t);
    ff_tensor_free(&text);
    ff_wandit_free(m);
    return st;
}

static ff_status run_umt5(ff_backend *be, const char *dir, const char *cs, int reps, double *times, ff_tensor *y,
                          ff_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/text_encoder", dir);
    ff_umt5 *m = NULL;
    ff_tensor ids = {0}, mask = {0}, dev = {0};
    ff_status st = ff_umt5_load(be, path, &m, err);
    if (!st) st = load(dir, cs, "input_ids", FF_I64, &ids, err);
    if (!st) st = load(dir, cs, "attention_mask", FF_I64, &mask, err);
    for (int r = 0; r < reps && !st; r++) {
        ff_be_free(be, &dev);
        const double t0 = now();
        st = ff_umt5_forward(m, &ids, &mask, &dev, err);
        if (!st) {
            ff_tensor_free(y);
            st = ff_tensor_alloc(y, FF_F32, dev.ndim, dev.shape, err);
        }
        if (!st) st = ff_be_download(be, y, &dev, err);
        times[r] = now() - t0;
    }
    ff_be_free(be, &dev);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_umt5_free(m);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s CASE DIR OUT [--threads N] [--reps N] [--backend cpu|cuda]\n", argv[0]);
        return 2;
    }
    const char *cs = argv[1], *dir = argv[2], *outp = argv[3], *backend = "cpu";
    int threads = 0, reps = 1;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else {
            fprintf(stderr, "%s: unknown option '%s'\n", argv[0], argv[i]);
            return 2;
        }
    }
    if (threads < 0 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "%s: --threads >= 0 and 1 <= --reps <= %d\n", argv[0], MAX_REPS);
        return 2;
    }
    ff_err err = {0};
    ff_backend *be = NULL;
    ff_tensor y = {0};
    double times[MAX_REPS];
    ff_status st = ff_backend_create_by_name(backend, threads, &be, &err);
    if (!st) {
        if (!strncmp(cs, "vae", 3)) st = run_vae(be, dir, cs, reps, times, &y, &err);
        else if (!strncmp(cs, "dit", 3)) st = run_dit(be, dir, cs, reps, times, &y, &err);
        else if (!strcmp(cs, "umt5")) st = run_umt5(be, dir, cs, reps, times, &y, &err);
        else st = ff_err_set(&err, FF_ERR_ARG, "unknown case '%s' (vae128, vae256, dit1024, dit4096, umt5)", cs);
    }
    if (!st) {
        ff_st_item item = {"out", &y};
        st = ff_st_write(outp, &item, 1, NULL, 0, &err);
    }
    if (st) {
        fprintf(stderr, "bench_cpu_side_by_side %s: %s\n", cs, err.msg);
    } else {
        double best = times[0];
        printf("time_s");
        for (int r = 0; r < reps; r++) best = times[r] < best ? times[r] : best;
        printf(" %.4f", best);
        for (int r = 0; r < reps; r++) printf(" %.4f", times[r]);
        char info[512];
        printf("\nbackend %s: %s\n", ff_backend_name(be), ff_kernels_cpu_info(info, sizeof info));
    }
    ff_tensor_free(&y);
    ff_backend_free(be);
    return st ? 1 : 0;
}
