/* framefarm transformer --model DIR/transformer --in X.safetensors
 *                       --out Y.safetensors [--backend cpu|cuda[:N]] [--threads N]
 *                       [--weights f32|bf16]
 * One WanTransformer3DModel forward. X holds hidden_states (B, C, F, H, W)
 * F32, timestep (B,) or per token (B, N) (F32, I64 or I32) and
 * encoder_hidden_states (B, L, text_dim) F32, named as in the golden inputs;
 * Y receives noise_pred (B, C_out, F, H, W) F32. --weights bf16 keeps the
 * big matrices in BF16 (ff_wandit_load_as). hidden_states whose frames,
 * height or width are not multiples of the patch are refused (the model, as
 * diffusers, would crop them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/ff_safetensors.h"
#include "kernels/ops.h"
#include "models/wan_transformer.h"

static void usage(void) {
    fprintf(stderr, "usage: framefarm transformer --model DIR/transformer --in X.safetensors --out Y.safetensors "
                    "[--backend cpu|cuda[:N]] [--threads N] [--weights f32|bf16]\n"
                    "  X: hidden_states (B,C,F,H,W) F32, timestep (B,) or (B,N) F32/I64, "
                    "encoder_hidden_states (B,L,text_dim) F32\n"
                    "  Y: noise_pred (B,C_out,F,H,W) F32\n");
}

int ff_cmd_transformer(int argc, char **argv) {
    const char *model = NULL, *in = NULL, *outp = NULL, *backend = "cpu";
    int threads = 0;
    ff_dtype wdt = FF_F32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--in") && i + 1 < argc) in = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) outp = argv[++i];
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc && !strcmp(argv[i + 1], "f32")) wdt = FF_F32, i++;
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc && !strcmp(argv[i + 1], "bf16")) wdt = FF_BF16, i++;
        else {
            usage();
            return FF_EXIT_USAGE;
        }
    }
    if (!model || !in || !outp || threads < 0) {
        usage();
        return FF_EXIT_USAGE;
    }

    ff_err err = {0};
    ff_backend *be = NULL;
    if (ff_backend_create_by_name(backend, threads, &be, &err)) {
        ff_cli_report("transformer", &err);
        return FF_EXIT_USAGE;
    }
    int rc = FF_EXIT_FAIL;
    ff_wandit_model *m = NULL;
    ff_st_file *f = NULL;
    ff_tensor x = {0}, t = {0}, text = {0}, y = {0};
    const ff_st_entry *te;
    if (ff_wandit_load_as(model, wdt, &m, &err) || ff_st_open(in, &f, &err)) goto done;
    if (!(te = ff_st_find(f, "timestep"))) {
        ff_err_set(&err, FF_ERR_NOT_FOUND, "%s: no tensor named timestep", in);
        goto done;
    }
    if (ff_st_load(f, "hidden_states", FF_F32, &x, &err) || ff_st_load(f, "timestep", te->dtype, &t, &err) ||
        ff_st_load(f, "encoder_hidden_states", FF_F32, &text, &err))
        goto done;
    if (x.ndim == 5) /* the model crops what its patches do not cover (as torch's strided conv): refused here */
        for (int a = 0; a < 3; a++)
            if (x.shape[2 + a] % m->cfg.patch[a]) {
                char d[96];
                ff_err_set(&err, FF_ERR_SHAPE,
                           "%s: hidden_states %s: frames, height and width must be multiples of patch_size [%d, %d, %d] "
                           "(the rest would be cropped)",
                           in, ff_tensor_describe(&x, d, sizeof d), m->cfg.patch[0], m->cfg.patch[1], m->cfg.patch[2]);
                goto done;
            }
    if (ff_wandit_place(m, be, 1, &err)) goto done;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (ff_wandit_forward_host(m, be, &x, &t, &text, NULL, &y, &err)) goto done;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ff_st_item item = {"noise_pred", &y};
    if (ff_st_write(outp, &item, 1, NULL, 0, &err)) goto done;
    char d[96];
    fprintf(stderr, "framefarm transformer: noise_pred %s -> %s (%.3f s on %s)\n", ff_tensor_describe(&y, d, sizeof d),
            outp, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), ff_backend_name(be));
    rc = FF_EXIT_OK;
done:
    if (rc != FF_EXIT_OK) ff_cli_report("transformer", &err);
    ff_tensor_free(&x);
    ff_tensor_free(&t);
    ff_tensor_free(&text);
    ff_tensor_free(&y);
    ff_st_close(f);
    ff_wandit_free(m);
    ff_backend_free(be);
    return rc;
}
