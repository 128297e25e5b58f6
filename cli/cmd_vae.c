/* framefarm vae decode|encode --model DIR --in X.safetensors --out Y.safetensors
 *     [--tile] [--no-tile] [--tile-size PX] [--tile-stride PX] [--slice]
 *     [--no-denormalize] [--stats] [--backend cpu|cuda[:N]] [--threads N]
 *
 * decode: reads "latents" (or the file's only tensor), (B, z, F, h, w) in the
 *   pipeline's normalised space, de-normalises them as WanPipeline does
 *   (unless --no-denormalize: already VAE latents) and writes "video"
 *   (B, C, T, H, W) in [-1, 1].
 * encode: reads "video" (or the only tensor) and writes "mean", "logvar"
 *   and "latents" (the normalised mode, as WanVideoToVideoPipeline).
 * --model is a pipeline folder or its vae/ folder. --stats prints the peak
 * RSS and the peak backend bytes (weights + activations). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "core/ff_safetensors.h"
#include "models/wan_vae.h"

static void usage(FILE *f) {
    fprintf(f, "usage: framefarm vae decode|encode --model DIR --in X.safetensors --out Y.safetensors\n"
               "       [--tile] [--no-tile] [--tile-size PX] [--tile-stride PX] [--slice] [--no-denormalize]\n"
               "       [--stats] [--backend cpu|cuda[:N]] [--threads N]\n");
}

static int parse_px(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > (1 << 20)) return -1;
    *out = (int)v;
    return 0;
}

/* The named tensor, or the file's only tensor. */
static ff_status load_named(const char *path, const char *name, ff_tensor *t, ff_err *err) {
    ff_st_file *f = NULL;
    ff_status st = ff_st_open(path, &f, err);
    if (st) return st;
    const char *use = name;
    if (!ff_st_find(f, name)) {
        if (ff_st_count(f) != 1) {
            st = ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no tensor '%s' (and not exactly one tensor)", path, name);
            ff_st_close(f);
            return st;
        }
        use = ff_st_entry_at(f, 0)->name;
    }
    st = ff_st_load(f, use, FF_F32, t, err);
    ff_st_close(f);
    return st;
}

int ff_cmd_vae(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : NULL, *model = NULL, *in = NULL, *out = NULL, *backend = "cpu";
    int threads = 0, stats = 0, denorm = 1, size = 0, stride = 0;
    ff_wanvae_opts o;
    ff_wanvae_opts_default(&o);
    if (!mode || (strcmp(mode, "decode") && strcmp(mode, "encode"))) {
        usage(stderr);
        return FF_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--model") && val) model = val;
        else if (!strcmp(a, "--in") && val) in = val;
        else if (!strcmp(a, "--out") && val) out = val;
        else if (!strcmp(a, "--backend") && val) backend = val;
        else if (!strcmp(a, "--threads") && val) {
            char *end;
            long t = strtol(val, &end, 10);
            if (*end || t < 0 || t > 4096) {
                fprintf(stderr, "framefarm vae: bad --threads '%s'\n", val);
                return FF_EXIT_USAGE;
            }
            threads = (int)t;
        } else if (!strcmp(a, "--tile-size") && val) {
            if (parse_px(val, &size)) {
                fprintf(stderr, "framefarm vae: bad --tile-size '%s'\n", val);
                return FF_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--tile-stride") && val) {
            if (parse_px(val, &stride)) {
                fprintf(stderr, "framefarm vae: bad --tile-stride '%s'\n", val);
                return FF_EXIT_USAGE;
            }
        } else {
            takes = 0;
            if (!strcmp(a, "--tile")) o.tiling = 1;
            else if (!strcmp(a, "--no-tile")) o.tiling = 0, size = stride = 0;
            else if (!strcmp(a, "--slice")) o.slicing = 1;
            else if (!strcmp(a, "--stats")) stats = 1;
            else if (!strcmp(a, "--no-denormalize")) denorm = 0;
            else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                usage(stdout);
                return FF_EXIT_OK;
            } else {
                fprintf(stderr, "framefarm vae: unknown or incomplete option '%s'\n", a);
                usage(stderr);
                return FF_EXIT_USAGE;
            }
        }
        i += takes;
    }
    if (!model || !in || !out) {
        usage(stderr);
        return FF_EXIT_USAGE;
    }
    if (size || stride) {
        o.tiling = 1;
        if (size) o.tile_sample_min_height = o.tile_sample_min_width = size;
        if (stride) o.tile_sample_stride_height = o.tile_sample_stride_width = stride;
    }

    ff_err err = {0};
    ff_backend *be = NULL;
    ff_vae *vae = NULL;
    ff_tensor x = {0}, z = {0}, y = {0}, logvar = {0}, lat = {0};
    int rc = FF_EXIT_FAIL;
    ff_status st = ff_backend_create_by_name(backend, threads, &be, &err);
    if (st) {
        ff_cli_report("vae", &err);
        return FF_EXIT_USAGE;
    }
    if ((st = ff_wanvae_load(be, model, &vae, &err))) goto done;
    if (!strcmp(mode, "decode")) {
        if ((st = load_named(in, "latents", &x, &err))) goto done;
        if (denorm) {
            if ((st = ff_wanvae_denormalize(vae, &x, &z, &err))) goto done;
        } else if ((st = ff_tensor_clone(&z, &x, &err))) {
            goto done;
        }
        if ((st = ff_wanvae_decode(vae, &z, &o, &y, &err))) goto done;
        ff_st_item items[1] = {{"video", &y}};
        st = ff_st_write(out, items, 1, NULL, 0, &err);
    } else {
        if ((st = load_named(in, "video", &x, &err))) goto done;
        if ((st = ff_wanvae_encode(vae, &x, &o, &y, &logvar, &err))) goto done;
        if ((st = ff_wanvae_normalize(vae, &y, &lat, &err))) goto done;
        ff_st_item items[3] = {{"mean", &y}, {"logvar", &logvar}, {"latents", &lat}};
        st = ff_st_write(out, items, 3, NULL, 0, &err);
    }
    if (st) goto done;
    if (stats) {
        struct rusage ru;
        ff_wanvae_mem m;
        ff_wanvae_mem_stats(vae, &m);
        getrusage(RUSAGE_SELF, &ru);
        printf("peak_rss_bytes %lld\n", (long long)ru.ru_maxrss * 1024);
        printf("backend_weight_bytes %zu\n", m.weight_bytes);
        printf("backend_peak_activation_bytes %zu\n", m.run_peak_bytes);
        printf("backend_peak_bytes %zu\n", m.weight_bytes + m.run_peak_bytes);
    }
    rc = FF_EXIT_OK;
done:
    if (st) {
        ff_cli_report("vae", &err);
        rc = (st == FF_ERR_ARG || st == FF_ERR_NOT_FOUND || st == FF_ERR_DEVICE) ? FF_EXIT_USAGE : FF_EXIT_FAIL;
    }
    ff_tensor_free(&x);
    ff_tensor_free(&z);
    ff_tensor_free(&y);
    ff_tensor_free(&logvar);
    ff_tensor_free(&lat);
    ff_wanvae_free(vae);
    ff_backend_free(be);
    return rc;
}
