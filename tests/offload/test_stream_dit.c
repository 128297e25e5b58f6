/* Block streaming of the Wan transformer (offload/stream + pipeline/offload_dit)
 * on the CPU backend, where the device pool stands in for VRAM: every mode
 * (resident; streamed with k = 1, 2, 3 and rings of 2 and 3 buffers; BF16
 * weights uploaded as stored or widened to F32) gives output bit-identical
 * to the all-resident run, the measured peak of the device pool stays under
 * a budget set below the all-resident need (and the resident run fails
 * there with an over-budget error naming the tensor), the predicted weight
 * bytes equal the ones placed, the model gets its host tensors back, and a
 * failed forward leaves the copy thread joined and the next run working.
 *
 * On cuda:0, where there is one (a note is printed otherwise), the same
 * mode checks run on the real copy stream (uploads ordered with compute by
 * events only), and a stress run: an 8-layer model with blocks large
 * enough (17 MB) that copies and kernels take comparable time, 20 forwards
 * queued back to back per mode (k 1 ring 2, k 2 ring 3; no host sync in
 * between), every output bit-identical to the resident one: a missing
 * event wait (compute reading a buffer before its copy, or a copy
 * overwriting a buffer still being read) shows as a differing output. The
 * stress run also runs on the CPU backend with the small model. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "core/ff_json.h"
#include "kernels/ops.h"
#include "models/wan_transformer.h"
#include "offload/pool.h"
#include "pipeline/offload_model.h"

/* The Wan transformer through pipeline/offload_model.h: one forward with d's
 * block hooks, and the device bytes of a placement from the config. */
static ff_status dit_forward(ff_offload_model *d, ff_wandit_model *m, ff_backend *be, const ff_tensor *x, const ff_tensor *t,
                             const ff_tensor *text, ff_tensor *out, ff_err *err) {
    ff_denoiser_in in = {.x = x, .timestep = t, .text = text};
    return ff_offload_denoise(&ff_comp_wandit, m, be, d, &in, out, err);
}


/* Model width and input size of a fixture. */
typedef struct {
    int layers, heads, head_dim, ffn;
    int64_t x[5]; /* (B, C 4, F, H, W) */
} fixture_size;

/* The small model of the CPU checks: (B 2, C 4, F 3, H 4, W 6) -> 3 x 2 x 3
 * = 18 tokens; dim 24 */
static fixture_size small_size(int layers) {
    fixture_size z = {layers, 3, 8, 40, {2, 4, 3, 4, 6}};
    return z;
}

typedef struct {
    ff_backend *be;
    ff_pool *pool;
    ff_wandit_model *m;
    ff_tensor x, text, t, dx, dtext, dout;
    size_t base; /* pool bytes of the inputs and output */
} fixture;

static ff_status make_model(const fixture_size *z, ff_wandit_model **m, ff_err *err) {
    char json[512];
    snprintf(json, sizeof json,
             "{\"attention_head_dim\": %d, \"num_attention_heads\": %d, \"in_channels\": 4, \"out_channels\": 4,"
             " \"text_dim\": 10, \"freq_dim\": 16, \"ffn_dim\": %d, \"num_layers\": %d, \"patch_size\": [1, 2, 2],"
             " \"cross_attn_norm\": true}",
             z->head_dim, z->heads, z->ffn, z->layers);
    ff_json_doc *doc;
    ff_wandit_config cfg;
    ff_status st = ff_json_parse(json, strlen(json), "test config", &doc, err);
    if (st) return st;
    st = ff_wandit_config_parse(ff_json_root(doc), "test config", &cfg, err);
    ff_json_free(doc);
    if (!st) st = ff_wandit_create(&cfg, m, err);
    if (!st && (st = ff_wandit_init_random(*m, 11, err))) {
        ff_wandit_free(*m);
        *m = NULL;
    }
    return st;
}

static void fixture_free(fixture *f) {
    if (f->dx.data) ff_be_free(f->be, &f->dx);
    if (f->dtext.data) ff_be_free(f->be, &f->dtext);
    if (f->dout.data) ff_be_free(f->be, &f->dout);
    ff_tensor_free(&f->x);
    ff_tensor_free(&f->text);
    ff_tensor_free(&f->t);
    ff_wandit_free(f->m);
    if (f->pool) ff_pool_free(f->pool);
    ff_backend_free(f->be);
    memset(f, 0, sizeof *f);
}

/* be: a backend the fixture takes over (freed with it, also on failure). */
static ff_status fixture_init_on(fixture *f, ff_backend *be, const fixture_size *z, ff_err *err) {
    memset(f, 0, sizeof *f);
    f->be = be;
    ff_status st;
    if ((st = ff_pool_create("device", 0, &f->pool, err)) || (st = ff_pool_attach(f->pool, f->be, err)) ||
        (st = make_model(z, &f->m, err)))
        return st;
    const int64_t B = z->x[0];
    /* text (B, 5, 10) */
    if ((st = ff_tensor_alloc(&f->x, FF_F32, 5, z->x, err)) ||
        (st = ff_tensor_allocv(&f->text, FF_F32, err, 3, (long long)B, 5LL, 10LL)) ||
        (st = ff_tensor_allocv(&f->t, FF_I64, err, 1, (long long)B)))
        return st;
    ff_test_fill_uniform(&f->x, 3, -1, 1);
    ff_test_fill_uniform(&f->text, 4, -1, 1);
    for (int64_t b = 0; b < B; b++) ((int64_t *)f->t.data)[b] = b % 2 ? 120 : 900;
    if ((st = ff_be_alloc(f->be, &f->dx, FF_F32, 5, f->x.shape, err)) ||
        (st = ff_be_alloc(f->be, &f->dtext, FF_F32, 3, f->text.shape, err)) ||
        (st = ff_be_alloc(f->be, &f->dout, FF_F32, 5, f->x.shape, err)) ||
        (st = ff_be_upload(f->be, &f->dx, &f->x, err)) || (st = ff_be_upload(f->be, &f->dtext, &f->text, err)))
        return st;
    ff_pool_stats s;
    ff_pool_stats_get(f->pool, &s);
    f->base = s.cur;
    return FF_OK;
}

static ff_status fixture_init(fixture *f, int layers, ff_err *err) {
    ff_backend *be = NULL;
    const fixture_size z = small_size(layers);
    memset(f, 0, sizeof *f);
    ff_status st = ff_backend_cpu_create(1, &be, err);
    return st ? st : fixture_init_on(f, be, &z, err);
}

/* cuda:0, or NULL with a printed note (no device, or a build without CUDA). */
static ff_backend *cuda_or_note(const char *what) {
    ff_backend *be = NULL;
    ff_err e = {0};
    if (ff_backend_cuda_create(0, &be, &e)) {
        fprintf(stderr, "-- %s on cuda:0: skipped (%s)\n", what, e.msg);
        return NULL;
    }
    return be;
}

/* One offloaded run: create, forward twice (the ring is reused), download
 * the output, free. *peak: pool peak over it. */
static ff_status run_mode(fixture *f, const ff_offload_opts *o, ff_tensor *y, size_t *peak, ff_offload_stats *stats,
                          ff_err *err) {
    ff_offload_model *d = NULL;
    ff_offload_opts named = *o;
    if (!named.name) named.name = "transformer"; /* the chain names it after the component */
    ff_pool_reset_peak(f->pool);
    ff_status st = ff_offload_model_create_for(&ff_comp_wandit, f->m, f->be, &named, &d, err);
    for (int rep = 0; rep < 2 && !st; rep++) st = dit_forward(d, f->m, f->be, &f->dx, &f->t, &f->dtext, &f->dout, err);
    if (!st) st = ff_tensor_alloc(y, FF_F32, 5, f->dout.shape, err);
    if (!st) st = ff_be_download(f->be, y, &f->dout, err);
    if (d && stats) ff_offload_model_stats(d, stats);
    ff_offload_model_free(d);
    ff_pool_stats s;
    ff_pool_stats_get(f->pool, &s);
    *peak = s.peak;
    return st;
}

/* Host data pointers of every parameter, to check they come back. */
static void **host_ptrs(ff_wandit_model *m, size_t *n) {
    ff_param *ps;
    if (ff_wandit_params(&m->cfg, m, &ps, n, NULL)) return NULL;
    void **p = malloc(*n * sizeof *p);
    for (size_t i = 0; p && i < *n; i++) p[i] = ps[i].slot->data;
    free(ps);
    return p;
}

static int same_ptrs(ff_wandit_model *m, void **want, size_t n) {
    size_t n2;
    void **now = host_ptrs(m, &n2);
    int ok = now && n2 == n && !memcmp(now, want, n * sizeof *now);
    free(now);
    return ok;
}

/* be: taken over (NULL: skipped). */
static void modes_bit_identical(ff_backend *be) {
    ff_err err = {0};
    fixture f;
    if (!be) return;
    const fixture_size z = small_size(8);
    if (fixture_init_on(&f, be, &z, &err)) {
        FF_CHECK_OK(err.code, &err);
        fixture_free(&f);
        return;
    }
    fprintf(stderr, "-- modes on %s\n", ff_backend_name(f.be));
    size_t np;
    void **orig = host_ptrs(f.m, &np);
    FF_REQUIRE(orig);

    ff_offload_opts o;
    ff_offload_opts_default(&o);
    o.device_pool = f.pool;
    ff_tensor ref = {0};
    size_t peak_res = 0;
    ff_offload_stats st;
    FF_REQUIRE_OK(run_mode(&f, &o, &ref, &peak_res, &st, &err), &err);
    FF_CHECK(same_ptrs(f.m, orig, np));
    size_t res_b, ring_b, blk_b;
    FF_CHECK_OK(ff_offload_class_device_bytes(&ff_comp_wandit, &f.m->cfg, FF_F32, &o, &res_b, &ring_b, &blk_b, &err),
                        &err);
    FF_CHECK(st.resident_bytes == res_b && ring_b == 0);
    size_t act = 0;
    FF_CHECK_OK(ff_wandit_activation_bytes(&f.m->cfg, f.x.shape, f.text.shape[1], 0, 0, &act, &err), &err);
    /* the pool saw exactly: inputs/output + weights + activations */
    FF_CHECK_MSG(peak_res == f.base + res_b + act, "peak %zu, base %zu + weights %zu + activations %zu", peak_res,
                 f.base, res_b, act);

    /* budget below the all-resident need: resident fails, streaming fits */
    const size_t budget = peak_res - blk_b; /* one (padded) block less than resident */
    ff_pool_set_budget(f.pool, budget);
    {
        ff_tensor y = {0};
        size_t pk;
        ff_err e2 = {0};
        FF_CHECK(run_mode(&f, &o, &y, &pk, NULL, &e2) == FF_ERR_BUDGET);
        FF_CHECK_MSG(strstr(e2.msg, "over budget") && strstr(e2.msg, "in transformer/"), "%s", e2.msg);
        ff_tensor_free(&y);
        FF_CHECK(same_ptrs(f.m, orig, np));
        ff_pool_stats s;
        ff_pool_stats_get(f.pool, &s);
        FF_CHECK(s.cur == f.base); /* nothing leaked by the failed create */
    }
    const int ks[] = {1, 2, 3, 1, 2}, rings[] = {2, 2, 2, 3, 3};
    for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++) {
        o.mode = FF_OFFLOAD_STREAM;
        o.group = ks[c];
        o.ring = rings[c];
        ff_tensor y = {0};
        size_t pk = 0;
        FF_CHECK_OK(run_mode(&f, &o, &y, &pk, &st, &err), &err);
        FF_CHECK_MSG(ff_tensor_equal(&y, &ref), "%s k %d ring %d: rel l2 %g", ff_backend_name(f.be), ks[c], rings[c],
                     ff_rel_l2(&y, &ref));
        FF_CHECK_MSG(pk <= budget && pk < peak_res, "k %d ring %d: peak %zu, budget %zu", ks[c], rings[c], pk, budget);
        {
            FF_CHECK_OK(ff_offload_class_device_bytes(&ff_comp_wandit, &f.m->cfg, FF_F32, &o, &res_b, &ring_b, &blk_b, &err),
                        &err);
            FF_CHECK(st.resident_bytes == res_b && st.ring_bytes == ring_b && st.block_bytes == blk_b);
            FF_CHECK(pk == f.base + res_b + ring_b + act);
            FF_CHECK(st.block_uploads == 2 * 8); /* two forwards of 8 blocks */
            FF_CHECK(st.runs == 2);
        }
        FF_CHECK(same_ptrs(f.m, orig, np));
        ff_tensor_free(&y);
    }
    ff_pool_stats s;
    ff_pool_stats_get(f.pool, &s);
    FF_CHECK(s.cur == f.base);
    ff_tensor_free(&ref);
    free(orig);
    fixture_free(&f);
}

/* BF16 matrices on the host: streamed as stored == resident as stored;
 * widened to F32 on upload: streamed == resident, and the device holds
 * F32 copies (more bytes). */
static void test_bf16_weights(void) {
    ff_err err = {0};
    fixture f;
    if (fixture_init(&f, 6, &err)) {
        FF_CHECK_OK(err.code, &err);
        fixture_free(&f);
        return;
    }
    ff_param *ps;
    size_t np;
    FF_REQUIRE_OK(ff_wandit_params(&f.m->cfg, f.m, &ps, &np, &err), &err);
    for (size_t i = 0; i < np; i++) {
        if (ff_wandit_param_dtype(&ps[i], FF_BF16) != FF_BF16) continue;
        ff_tensor b = {0};
        FF_REQUIRE_OK(ff_tensor_alloc(&b, FF_BF16, ps[i].slot->ndim, ps[i].slot->shape, &err), &err);
        FF_REQUIRE_OK(ff_tensor_convert(&b, ps[i].slot, &err), &err);
        ff_tensor_free(ps[i].slot);
        *ps[i].slot = b;
    }
    free(ps);
    for (int widen = 0; widen < 2; widen++) {
        ff_offload_opts o;
        ff_offload_opts_default(&o);
        o.device_pool = f.pool;
        o.upload_dtype = widen ? FF_F32 : FF_DTYPE_COUNT;
        ff_tensor ref = {0}, y = {0};
        size_t pk_res, pk;
        ff_offload_stats st;
        FF_REQUIRE_OK(run_mode(&f, &o, &ref, &pk_res, &st, &err), &err);
        size_t res_b, ring_b, blk_b;
        FF_CHECK_OK(ff_offload_class_device_bytes(&ff_comp_wandit, &f.m->cfg, FF_BF16, &o, &res_b, &ring_b, &blk_b, &err),
                    &err);
        FF_CHECK(st.resident_bytes == res_b);
        FF_CHECK(widen ? st.staging_bytes > 0 : st.staging_bytes == 0);
        o.mode = FF_OFFLOAD_STREAM;
        o.group = 2;
        FF_CHECK_OK(run_mode(&f, &o, &y, &pk, &st, &err), &err);
        FF_CHECK_MSG(ff_tensor_equal(&y, &ref), "widen %d: rel l2 %g", widen, ff_rel_l2(&y, &ref));
        FF_CHECK(pk < pk_res);
        FF_CHECK_OK(ff_offload_class_device_bytes(&ff_comp_wandit, &f.m->cfg, FF_BF16, &o, &res_b, &ring_b, &blk_b, &err),
                    &err);
        FF_CHECK(st.ring_bytes == ring_b && st.block_bytes == blk_b);
        ff_tensor_free(&ref);
        ff_tensor_free(&y);
    }
    fixture_free(&f);
}

/* A forward that fails (wrong text width) stops the copy thread and leaves
 * the model intact; the next forward works. */
static void test_failed_forward(void) {
    ff_err err = {0};
    fixture f;
    if (fixture_init(&f, 4, &err)) {
        FF_CHECK_OK(err.code, &err);
        fixture_free(&f);
        return;
    }
    size_t np;
    void **orig = host_ptrs(f.m, &np);
    ff_offload_opts o;
    ff_offload_opts_default(&o);
    o.mode = FF_OFFLOAD_STREAM;
    o.device_pool = f.pool;
    ff_offload_model *d = NULL;
    FF_REQUIRE_OK(ff_offload_model_create_for(&ff_comp_wandit, f.m, f.be, &o, &d, &err), &err);
    ff_tensor bad = {0};
    FF_REQUIRE_OK(ff_be_alloc(f.be, &bad, FF_F32, 3, (int64_t[]){2, 5, 9}, &err), &err);
    ff_err e2 = {0};
    FF_CHECK(dit_forward(d, f.m, f.be, &f.dx, &f.t, &bad, &f.dout, &e2) == FF_ERR_SHAPE);
    FF_CHECK_OK(dit_forward(d, f.m, f.be, &f.dx, &f.t, &f.dtext, &f.dout, &err), &err);
    ff_be_free(f.be, &bad);
    ff_offload_model_free(d);
    FF_CHECK(same_ptrs(f.m, orig, np));
    free(orig);
    fixture_free(&f);
}

static void test_modes_bit_identical(void) {
    ff_backend *be = NULL;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    modes_bit_identical(be);
}

static void test_modes_bit_identical_cuda(void) { modes_bit_identical(cuda_or_note("mode checks")); }

/* N forwards queued back to back on one offload state (no download in
 * between: every forward writes its own output), then every output
 * compared with the resident run's. be: taken over (NULL: skipped). */
#define STRESS_RUNS 20
static void stress(ff_backend *be, const fixture_size *z) {
    ff_err err = {0};
    fixture f;
    if (!be) return;
    if (fixture_init_on(&f, be, z, &err)) {
        FF_CHECK_OK(err.code, &err);
        fixture_free(&f);
        return;
    }
    ff_tensor outs[STRESS_RUNS] = {{0}}, ref = {0}, y = {0};
    ff_offload_opts o;
    ff_offload_opts_default(&o);
    ff_offload_model *d = NULL;
    size_t pk;
    FF_REQUIRE_OK(run_mode(&f, &o, &ref, &pk, NULL, &err), &err); /* resident */
    FF_REQUIRE_OK(ff_tensor_alloc(&y, FF_F32, 5, f.dout.shape, &err), &err);
    for (int c = 0; c < STRESS_RUNS; c++)
        FF_REQUIRE_OK(ff_be_alloc(f.be, &outs[c], FF_F32, 5, f.dout.shape, &err), &err);
    const int ks[] = {1, 2}, rings[] = {2, 3};
    for (int c = 0; c < 2; c++) {
        o.mode = FF_OFFLOAD_STREAM;
        o.group = ks[c];
        o.ring = rings[c];
        FF_REQUIRE_OK(ff_offload_model_create_for(&ff_comp_wandit, f.m, f.be, &o, &d, &err), &err);
        for (int r = 0; r < STRESS_RUNS; r++)
            FF_CHECK_OK(dit_forward(d, f.m, f.be, &f.dx, &f.t, &f.dtext, &outs[r], &err), &err);
        int bad = 0;
        for (int r = 0; r < STRESS_RUNS; r++) {
            FF_CHECK_OK(ff_be_download(f.be, &y, &outs[r], &err), &err);
            if (!ff_tensor_equal(&y, &ref)) {
                bad++;
                fprintf(stderr, "%s k %d ring %d: forward %d of %d differs from resident: rel l2 %g\n",
                        ff_backend_name(f.be), ks[c], rings[c], r, STRESS_RUNS, ff_rel_l2(&y, &ref));
            }
        }
        FF_CHECK_MSG(bad == 0, "%s k %d ring %d: %d of %d streamed forwards differ", ff_backend_name(f.be), ks[c],
                     rings[c], bad, STRESS_RUNS);
        ff_offload_stats st;
        ff_offload_model_stats(d, &st);
        FF_CHECK(st.runs == STRESS_RUNS && st.block_uploads == (int64_t)STRESS_RUNS * z->layers);
        fprintf(stderr, "-- stress %s k %d ring %d: %d forwards, %lld waits for uploads\n", ff_backend_name(f.be),
                ks[c], rings[c], STRESS_RUNS, (long long)st.waits);
        ff_offload_model_free(d);
        d = NULL;
    }
    for (int c = 0; c < STRESS_RUNS; c++) ff_be_free(f.be, &outs[c]);
    ff_tensor_free(&ref);
    ff_tensor_free(&y);
    fixture_free(&f);
}

static void test_stress_cpu(void) {
    ff_backend *be = NULL;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    const fixture_size z = small_size(8);
    stress(be, &z);
}

/* dim 512 (8 heads x 64), ffn 2048: 17 MB of F32 weights a block; (1, 4, 8,
 * 32, 32) -> 8 x 16 x 16 = 2048 tokens */
static void test_stress_cuda(void) {
    const fixture_size z = {8, 8, 64, 2048, {1, 4, 8, 32, 32}};
    stress(cuda_or_note("stress run"), &z);
}

int main(void) {
    FF_RUN(test_modes_bit_identical);
    FF_RUN(test_modes_bit_identical_cuda);
    FF_RUN(test_stress_cpu);
    FF_RUN(test_stress_cuda);
    FF_RUN(test_bf16_weights);
    FF_RUN(test_failed_forward);
    return ff_test_summary();
}
