/* bench/gpu_speed: framefarm's side of the GPU speed table of issue 14
 * (bench/gpu_speed.sh runs it next to bench/gpu_torch.py --speed and writes
 * bench/results/gpu_speed.json).
 *
 * Rows, in the BF16 precision (ops.h FF_PREC_BF16: BF16 tensor cores for
 * GEMMs and attention, TF32 cuDNN convolutions):
 *   sdpa_self_bf16              ff_op_attention, BF16 (1, 32760, 12, 128) q/k/v and out, (B, L, H, D)
 *   sdpa_cross_bf16             the same with 512 keys (the text)
 *   dit_block_bf16              the mean WanTransformerBlock time inside the forward below (hooks sync
 *                               around each block)
 *   dit_forward_1.3b_480p_bf16  ff_wandit_forward of MODEL/transformer loaded with BF16 matrices, latent
 *                               (1, 16, 21, 60, 104) (480x832, 81 frames), 512 text tokens, t = 999
 *   vae_decode_480p_81f         ff_wanvae_decode_stream of MODEL/vae (F32 weights as diffusers keeps them)
 *                               over the same latent, untiled, frames downloaded to the host as they come
 * MODEL is the folder bench/gpu_torch.py --make-model wrote: the same random
 * weights torch times. Output lines:
 *   SPEED <name> <shape> <ms>
 *   INFO <text>
 *   SKIP <name> <shape> <reason>
 * Timing: ff_be_sync + CLOCK_MONOTONIC around the calls after a warm-up
 * (cuBLASLt / cuDNN plans built there): the median of --reps runs for the
 * forward and the attention rows, one timed run for the decode (after a
 * warm-up decode of 3 latent frames, which builds every convolution plan).
 *
 * usage: bench_gpu_speed --model DIR [--backend cuda|cuda:N|cpu] [--reps N] [--rows a,b,...] [--small]
 *   --small: tiny shapes and the model's own sizes (a check of this program on the CPU).
 * Exit 2 without a device, 1 when a row failed. Not a test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ff_tensor.h"
#include "kernels/ops.h"
#include "models/wan_transformer.h"
#include "models/wan_vae.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    ff_backend *be;
    int reps, small, fails;
    const char *rows; /* NULL: all */
} bench;

static int want(const bench *b, const char *name) {
    if (!b->rows) return 1;
    const size_t n = strlen(name);
    for (const char *p = b->rows; (p = strstr(p, name)); p += n)
        if ((p == b->rows || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

static void skip(bench *b, const char *name, const char *shape, const ff_err *err) {
    printf("SKIP %s %s failed: %s\n", name, shape, err->msg);
    fflush(stdout);
    b->fails++;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A device tensor of seeded values in [-amp, amp) (dt F32 or BF16). */
static ff_status dev_rand(ff_backend *be, ff_tensor *t, ff_dtype dt, int nd, const int64_t *shape, unsigned seed,
                          float amp, ff_err *err) {
    ff_tensor h;
    ff_status st = ff_tensor_alloc(&h, dt, nd, shape, err);
    if (st) return st;
    uint32_t s = seed * 2654435761u + 12345u;
    const int64_t n = ff_tensor_numel(&h);
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        const float v = amp * ((float)(s >> 8) * (2.0f / 16777216.0f) - 1.0f);
        if (dt == FF_BF16) ((uint16_t *)h.data)[i] = ff_f32_to_bf16(v);
        else ((float *)h.data)[i] = v;
    }
    st = ff_be_alloc(be, t, dt, nd, shape, err);
    if (!st) st = ff_be_upload(be, t, &h, err);
    ff_tensor_free(&h);
    return st;
}

/* Seeded values in [-1, 1) into a host F32 tensor. */
static void host_fill(ff_tensor *t, unsigned seed) {
    uint32_t s = seed * 2654435761u + 12345u;
    const int64_t n = ff_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        ((float *)t->data)[i] = (float)(s >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

/* ---- attention ------------------------------------------------------------------- */

static void bench_attention(bench *b, const char *name, int64_t L, int64_t Lk) {
    const int64_t H = 12, D = 128;
    char shape[64];
    if (L == Lk) snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)H, (long long)L, (long long)D);
    else snprintf(shape, sizeof shape, "%lldx%lld:%lldx%lld", (long long)H, (long long)L, (long long)Lk, (long long)D);
    ff_tensor q = {0}, k = {0}, v = {0}, o = {0};
    ff_err err = {0};
    const float scale = (float)(1.0 / sqrt((double)D));
    if (dev_rand(b->be, &q, FF_BF16, 4, (const int64_t[]){1, L, H, D}, 1, 2.0f, &err) ||
        dev_rand(b->be, &k, FF_BF16, 4, (const int64_t[]){1, Lk, H, D}, 2, 2.0f, &err) ||
        dev_rand(b->be, &v, FF_BF16, 4, (const int64_t[]){1, Lk, H, D}, 3, 1.0f, &err) ||
        ff_be_alloc(b->be, &o, FF_BF16, 4, (const int64_t[]){1, L, H, D}, &err) ||
        ff_op_attention(b->be, &q, &k, &v, NULL, scale, FF_HEADS_BLHD, &o, &err) || ff_be_sync(b->be, &err)) {
        skip(b, name, shape, &err);
    } else {
        /* several calls per sample so that each sample is >= ~20 ms */
        double t0 = now();
        if (ff_op_attention(b->be, &q, &k, &v, NULL, scale, FF_HEADS_BLHD, &o, &err) || ff_be_sync(b->be, &err)) {
            skip(b, name, shape, &err);
        } else {
            const double one = now() - t0;
            int per = one > 0 ? (int)ceil(0.02 / one) : 1;
            if (per < 1) per = 1;
            if (per > 200) per = 200;
            double ms[16];
            int n = b->reps < 16 ? b->reps : 16, ok = 1;
            for (int r = 0; r < n && ok; r++) {
                t0 = now();
                for (int i = 0; i < per && ok; i++)
                    ok = !ff_op_attention(b->be, &q, &k, &v, NULL, scale, FF_HEADS_BLHD, &o, &err);
                ok = ok && !ff_be_sync(b->be, &err);
                ms[r] = (now() - t0) * 1e3 / per;
            }
            if (!ok) skip(b, name, shape, &err);
            else printf("SPEED %s %s %.4f\n", name, shape, median(ms, n));
        }
    }
    fflush(stdout);
    ff_be_free(b->be, &q), ff_be_free(b->be, &k), ff_be_free(b->be, &v), ff_be_free(b->be, &o);
}

/* ---- the transformer ----------------------------------------------------------------- */

typedef struct {
    ff_backend *be;
    double t0, total;
    int blocks;
} block_timer;

static ff_status timer_before(void *user, int index, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    block_timer *bt = user;
    ff_status st = ff_be_sync(bt->be, err);
    bt->t0 = now();
    return st;
}

static ff_status timer_after(void *user, int index, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    block_timer *bt = user;
    ff_status st = ff_be_sync(bt->be, err);
    bt->total += now() - bt->t0;
    bt->blocks++;
    return st;
}

static void bench_transformer(bench *b, const char *model) {
    char dir[1024], shape[96];
    snprintf(dir, sizeof dir, "%s/transformer", model);
    const int64_t f = b->small ? 1 : 21, hh = b->small ? 8 : 60, ww = b->small ? 8 : 104, Lt = b->small ? 16 : 512;
    snprintf(shape, sizeof shape, "1x16x%lldx%lldx%lld:%lld", (long long)f, (long long)hh, (long long)ww,
             (long long)Lt);
    ff_err err = {0};
    ff_wandit_model *m = NULL;
    ff_tensor x = {0}, text = {0}, out = {0}, t = {0};
    int64_t os[5];
    const double tl = now();
    if (ff_wandit_load_as(dir, FF_BF16, &m, &err) || ff_wandit_place(m, b->be, 1, &err) ||
        dev_rand(b->be, &x, FF_F32, 5, (const int64_t[]){1, m->cfg.in_channels, f, hh, ww}, 4, 1.0f, &err) ||
        dev_rand(b->be, &text, FF_F32, 3, (const int64_t[]){1, Lt, m->cfg.text_dim}, 5, 1.0f, &err) ||
        ff_wandit_out_shape(&m->cfg, &x, os, &err) || ff_be_alloc(b->be, &out, FF_F32, 5, os, &err) ||
        ff_tensor_allocv(&t, FF_F32, &err, 1, 1LL)) {
        skip(b, "dit_forward_1.3b_480p_bf16", shape, &err);
        goto done;
    }
    printf("INFO transformer %s: %d layers, dim %d, loaded with BF16 matrices in %.1f s\n", dir, m->cfg.num_layers,
           m->cfg.dim, now() - tl);
    ((float *)t.data)[0] = 999.0f;
    {
        double fwd[16], blk[16];
        const int n = b->reps < 16 ? b->reps : 16;
        block_timer bt = {b->be, 0, 0, 0};
        ff_wandit_hooks hooks = {timer_before, timer_after, &bt};
        int ok = !ff_wandit_forward(m, b->be, &x, &t, &text, NULL, &out, &err) && !ff_be_sync(b->be, &err); /* warm */
        for (int r = 0; r < n && ok; r++) {
            const double t0 = now();
            ok = !ff_wandit_forward(m, b->be, &x, &t, &text, NULL, &out, &err) && !ff_be_sync(b->be, &err);
            fwd[r] = (now() - t0) * 1e3;
        }
        for (int r = 0; r < n && ok && want(b, "dit_block_bf16"); r++) {
            bt.total = 0, bt.blocks = 0;
            ok = !ff_wandit_forward(m, b->be, &x, &t, &text, &hooks, &out, &err);
            blk[r] = bt.blocks ? bt.total * 1e3 / bt.blocks : 0;
        }
        if (!ok) {
            skip(b, "dit_forward_1.3b_480p_bf16", shape, &err);
        } else {
            if (want(b, "dit_block_bf16")) {
                char bshape[64];
                snprintf(bshape, sizeof bshape, "T%lld:%lld", (long long)(f * hh / 2 * ww / 2), (long long)Lt);
                printf("SPEED dit_block_bf16 %s %.4f\n", bshape, median(blk, n));
            }
            printf("SPEED dit_forward_1.3b_480p_bf16 %s %.4f\n", shape, median(fwd, n));
        }
    }
done:
    fflush(stdout);
    ff_be_free(b->be, &x), ff_be_free(b->be, &text), ff_be_free(b->be, &out);
    ff_tensor_free(&t);
    ff_wandit_free(m);
}

/* ---- the VAE ---------------------------------------------------------------------------- */

static ff_status drop_frames(void *user, int64_t b0, int64_t t0, const ff_tensor *frames, ff_err *err) {
    int64_t *count = user;
    *count += frames->shape[2];
    return FF_OK;
}

static void bench_vae(bench *b, const char *model) {
    const int64_t f = b->small ? 1 : 21, hh = b->small ? 8 : 60, ww = b->small ? 8 : 104;
    char shape[64];
    snprintf(shape, sizeof shape, "1x16x%lldx%lldx%lld", (long long)f, (long long)hh, (long long)ww);
    ff_err err = {0};
    ff_vae *vae = NULL;
    ff_tensor z = {0}, zw = {0};
    ff_wanvae_opts o;
    ff_wanvae_opts_default(&o);
    o.tiling = 0; /* diffusers' default: AutoencoderKLWan.decode without enable_tiling */
    o.slicing = 0;
    int64_t frames = 0;
    if (ff_wanvae_load(b->be, model, &vae, &err)) {
        skip(b, "vae_decode_480p_81f", shape, &err);
        goto done;
    }
    const int64_t zc = ff_wanvae_config_of(vae)->z_dim;
    if (ff_tensor_allocv(&z, FF_F32, &err, 5, 1LL, zc, f, hh, ww) ||
        ff_tensor_allocv(&zw, FF_F32, &err, 5, 1LL, zc, f < 3 ? f : 3LL, hh, ww)) {
        skip(b, "vae_decode_480p_81f", shape, &err);
        goto done;
    }
    host_fill(&z, 6);
    host_fill(&zw, 7);
    {
        /* warm-up: 3 latent frames build every convolution plan (the decoder runs frame by frame) */
        const double tw = now();
        if (ff_wanvae_decode_stream(vae, &zw, &o, drop_frames, &frames, &err) || ff_be_sync(b->be, &err)) {
            skip(b, "vae_decode_480p_81f", shape, &err);
            goto done;
        }
        printf("INFO vae warm-up decode of %lld latent frames: %.2f s\n", (long long)zw.shape[2], now() - tw);
        frames = 0;
        const double t0 = now();
        if (ff_wanvae_decode_stream(vae, &z, &o, drop_frames, &frames, &err) || ff_be_sync(b->be, &err)) {
            skip(b, "vae_decode_480p_81f", shape, &err);
            goto done;
        }
        printf("SPEED vae_decode_480p_81f %s %.4f\n", shape, (now() - t0) * 1e3);
        printf("INFO vae decoded %lld frames\n", (long long)frames);
    }
done:
    fflush(stdout);
    ff_tensor_free(&z);
    ff_tensor_free(&zw);
    ff_wanvae_free(vae);
}

int main(int argc, char **argv) {
    const char *backend = "cuda", *model = NULL;
    bench b = {NULL, 5, 0, 0, NULL};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) b.reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) b.rows = argv[++i];
        else if (!strcmp(argv[i], "--small")) b.small = 1;
        else {
            fprintf(stderr, "usage: %s --model DIR [--backend cuda|cuda:N|cpu] [--reps N] [--rows a,b,...] [--small]\n",
                    argv[0]);
            return 2;
        }
    }
    if (b.reps < 1) b.reps = 1;
    ff_err err = {0};
    ff_status st = ff_backend_create_by_name(backend, 0, &b.be, &err);
    if (st) {
        printf("no CUDA device: %s\n", err.msg);
        return st == FF_ERR_DEVICE || st == FF_ERR_UNSUPPORTED ? 2 : 1;
    }
    if ((st = ff_backend_set_precision(b.be, FF_PREC_BF16, &err))) {
        printf("%s\n", err.msg);
        return 1;
    }
    char info[1024];
    printf("INFO %s (precision bf16)\n", ff_backend_info(b.be, info, sizeof info));
    fflush(stdout);
    const int64_t L = b.small ? 300 : 32760;
    if (want(&b, "sdpa_self_bf16")) bench_attention(&b, "sdpa_self_bf16", L, L);
    if (want(&b, "sdpa_cross_bf16")) bench_attention(&b, "sdpa_cross_bf16", L, b.small ? 16 : 512);
    if (model && (want(&b, "dit_forward_1.3b_480p_bf16") || want(&b, "dit_block_bf16"))) bench_transformer(&b, model);
    if (model && want(&b, "vae_decode_480p_81f")) bench_vae(&b, model);
    if (!model) printf("INFO no --model: the transformer and VAE rows were not run\n");
    printf("INFO %s\n", ff_backend_info(b.be, info, sizeof info));
    ff_backend_free(b.be);
    return b.fails ? 1 : 0;
}
