/* ff_test_vcompare: per-frame comparison of two decoded videos for the
 * mpirun tests (tests/cluster/mpi_*.sh).
 *
 *   ff_test_vcompare A.safetensors B.safetensors [--plan F N O] [--min-psnr DB] [--max-abs X]
 *
 * A and B hold "video" F32 (1, C, T, H, W) in [-1, 1] (framefarm mpi
 * --save-video, framefarm vae decode). Prints one line per frame: PSNR (peak
 * to peak 2) and max |A - B|; with --plan F N O (latent frames, ranks,
 * overlap) frames whose latent frame lies in two windows of that plan
 * (cluster/mpi_plan.h) are marked "overlap" and not checked. The checked
 * frames must have PSNR >= --min-psnr and max |diff| <= --max-abs (either
 * may be omitted). Prints the worst checked frame; exit 0 pass, 1 fail, 2 usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/mpi_plan.h"
#include "core/ff_safetensors.h"

static int load(const char *path, ff_tensor *t) {
    ff_err err = {0};
    ff_st_file *f = NULL;
    if (ff_st_open(path, &f, &err) || ff_st_load(f, "video", FF_F32, t, &err)) {
        fprintf(stderr, "vcompare: %s\n", err.msg);
        ff_st_close(f);
        return -1;
    }
    ff_st_close(f);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: ff_test_vcompare A B [--plan F N O] [--min-psnr DB] [--max-abs X]\n");
        return 2;
    }
    long pf = 0, pn = 0, po = 0;
    double min_psnr = -1, max_abs = -1;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--plan") && i + 3 < argc) {
            pf = atol(argv[i + 1]), pn = atol(argv[i + 2]), po = atol(argv[i + 3]);
            i += 3;
        } else if (!strcmp(argv[i], "--min-psnr") && i + 1 < argc) {
            min_psnr = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--max-abs") && i + 1 < argc) {
            max_abs = atof(argv[++i]);
        } else {
            fprintf(stderr, "vcompare: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }
    ff_tensor a = {0}, b = {0};
    if (load(argv[1], &a) || load(argv[2], &b)) return 2;
    if (!ff_tensor_same_shape(&a, &b) || a.ndim != 5) {
        char x[96], y[96];
        fprintf(stderr, "vcompare: shapes %s and %s differ\n", ff_tensor_describe(&a, x, sizeof x), ff_tensor_describe(&b, y, sizeof y));
        return 1;
    }
    ff_mpi_plan plan = {0};
    ff_err err = {0};
    if (pf && ff_mpi_plan_make(pf, (int)pn, (int)po, 4, &plan, &err)) {
        fprintf(stderr, "vcompare: %s\n", err.msg);
        return 2;
    }
    if (pf && ff_mpi_plan_pixel_frames(&plan) != a.shape[2]) {
        fprintf(stderr, "vcompare: the plan has %lld frames, the videos %lld\n", (long long)ff_mpi_plan_pixel_frames(&plan),
                (long long)a.shape[2]);
        return 2;
    }
    const int64_t C = a.shape[1], T = a.shape[2], plane = a.shape[3] * a.shape[4];
    const float *pa = a.data, *pb = b.data;
    double worst_psnr = INFINITY, worst_abs = 0;
    int fails = 0, checked = 0;
    for (int64_t t = 0; t < T; t++) {
        double se = 0, mx = 0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < plane; i++) {
                double d = (double)pa[(c * T + t) * plane + i] - (double)pb[(c * T + t) * plane + i];
                se += d * d;
                if (fabs(d) > mx) mx = fabs(d);
            }
        double mse = se / (double)(C * plane), psnr = mse > 0 ? 10.0 * log10(4.0 / mse) : INFINITY;
        int in_overlap = 0;
        if (pf) {
            int64_t f = t == 0 ? 0 : (t - 1) / 4 + 1;
            in_overlap = ff_mpi_plan_in_overlap(&plan, f);
        }
        int bad = !in_overlap && ((min_psnr >= 0 && !(psnr >= min_psnr)) || (max_abs >= 0 && !(mx <= max_abs)));
        printf("frame %3lld: PSNR %7.2f dB  max|diff| %.6f  %s%s\n", (long long)t, psnr, mx, in_overlap ? "overlap" : "checked",
               bad ? "  FAIL" : "");
        if (!in_overlap) {
            checked++;
            if (psnr < worst_psnr) worst_psnr = psnr;
            if (mx > worst_abs) worst_abs = mx;
        }
        fails += bad;
    }
    printf("checked %d of %lld frames: worst PSNR %.2f dB, worst max|diff| %.6f (limits: PSNR >= %g, max|diff| <= %g)\n",
           checked, (long long)T, worst_psnr, worst_abs, min_psnr, max_abs);
    ff_mpi_plan_free(&plan);
    ff_tensor_free(&a);
    ff_tensor_free(&b);
    return fails ? 1 : 0;
}
