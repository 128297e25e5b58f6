/* Component residency and block streaming from the file in the whole
 * pipeline (CPU backend, device pool attached), on the embedded tiny model
 * and, when present, the golden tiny Wan 2.2 A14B pipeline (two experts):
 *  - keep = FF_CHAIN_KEEP_ALL (offload "none"): two runs of one pipeline
 *    object give the frames of a plain run; the first run loads every
 *    component, the second loads none (they stayed resident: the pool still
 *    holds their weights between the runs) and its pool peak is no higher;
 *    closing the pipeline gives every byte back;
 *  - transformer blocks streamed straight from the mmap'd safetensors
 *    (dit_from_file), k = 1 and 2, F32 and BF16 weights (BF16 stored, or
 *    widened to F32 on upload), with and without keep: the frames of the
 *    plain run with the same weight dtype. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "kernels/ops.h"
#include "offload/pool.h"
#include "pipeline/tiny_model.h"
#include "pipeline/chain.h"

typedef struct {
    unsigned char *buf;
    size_t n, cap;
} frames;

static ff_status on_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    frames *f = user;
    size_t n = ff_tensor_nbytes(ch->frames);
    if (f->n + n > f->cap) {
        size_t cap = (f->n + n) * 2;
        unsigned char *q = realloc(f->buf, cap);
        if (!q) return ff_err_set(err, FF_ERR_NOMEM, "test: frames");
        f->buf = q, f->cap = cap;
    }
    memcpy(f->buf + f->n, ch->frames->data, n);
    f->n += n;
    return FF_OK;
}

static ff_status run_once(ff_chain *p, frames *f, ff_chain_stats *stats, ff_err *err) {
    static const char *const prompts[1] = {"a red fox in the snow"};
    static const uint64_t seeds[1] = {7};
    ff_chain_params prm;
    ff_chain_params_default(p, &prm);
    prm.prompts = prompts;
    prm.n_prompts = 1;
    prm.seeds = seeds;
    prm.n_seeds = 1;
    prm.num_frames = 5;
    prm.height = 32;
    prm.width = 48;
    prm.num_inference_steps = 3;
    prm.guidance_scale = 4.0;
    prm.max_sequence_length = 16;
    prm.on_frames = on_frames;
    prm.user = f;
    f->n = 0;
    return ff_chain_run(p, &prm, stats, err);
}

static int same(const frames *a, const frames *b) { return a->n == b->n && a->n && !memcmp(a->buf, b->buf, a->n); }

static void check_model(const char *dir, int has_t2) {
    ff_err err = {0};
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    for (int dt = 0; dt < 2; dt++) {
        ff_chain_opts base = {0};
        base.weight_dtype = dt ? FF_BF16 : FF_F32;
        frames ref = {0};
        ff_chain *p = NULL;
        FF_REQUIRE_OK(ff_chain_open(be, dir, &base, NULL, &p, &err), &err);
        FF_CHECK_OK(run_once(p, &ref, NULL, &err), &err);
        ff_chain_close(p);

        /* keep everything resident across two runs */
        {
            ff_pool *pool = NULL;
            FF_REQUIRE_OK(ff_pool_create("device", 0, &pool, &err), &err);
            FF_REQUIRE_OK(ff_pool_attach(pool, be, &err), &err);
            ff_chain_opts oo = base;
            oo.keep = FF_CHAIN_KEEP_ALL;
            oo.device_pool = pool;
            frames f = {0};
            ff_chain_stats s1, s2;
            ff_pool_stats ps1, ps2, between;
            FF_REQUIRE_OK(ff_chain_open(be, dir, &oo, NULL, &p, &err), &err);
            FF_CHECK_OK(run_once(p, &f, &s1, &err), &err);
            FF_CHECK_MSG(same(&f, &ref), "%s dtype %d keep: run 1 frames differ", dir, dt);
            ff_pool_stats_get(pool, &ps1);
            ff_pool_stats_get(pool, &between);
            ff_pool_reset_peak(pool);
            FF_CHECK_OK(run_once(p, &f, &s2, &err), &err);
            FF_CHECK_MSG(same(&f, &ref), "%s dtype %d keep: run 2 frames differ", dir, dt);
            ff_pool_stats_get(pool, &ps2);
            FF_CHECK(ff_chain_n_components(p) == 4 && ff_chain_component_present(p, 2) == has_t2);
            for (int c = 0; c < ff_chain_n_components(p); c++) {
                if (!ff_chain_component_present(p, c)) continue;
                FF_CHECK_MSG(s1.c[c].used && s1.c[c].loaded, "%s: run 1 did not load %s", dir, ff_chain_component_name(p, c));
                FF_CHECK_MSG(s2.c[c].used && !s2.c[c].loaded, "%s: run 2 loaded %s again", dir, ff_chain_component_name(p, c));
            }
            FF_CHECK_MSG(between.cur > 0 && ps2.cur == between.cur, "%s: resident weights %zu after run 1, %zu after run 2",
                         dir, between.cur, ps2.cur);
            FF_CHECK_MSG(ps2.peak <= ps1.peak, "%s: run 2 peak %zu above run 1's %zu", dir, ps2.peak, ps1.peak);
            ff_chain_close(p);
            ff_pool_stats_get(pool, &ps2);
            FF_CHECK_MSG(ps2.cur == 0, "%s: %zu bytes left after close", dir, ps2.cur);
            fprintf(stderr, "%s dtype %d keep all: resident between runs %zu, peaks %zu / %zu\n", dir, dt, between.cur,
                    ps1.peak, ps2.peak);
            ff_pool_detach(pool);
            ff_pool_free(pool);
            free(f.buf);
        }

        /* blocks streamed straight from the file */
        for (int k = 1; k <= 2; k++)
            for (int widen = 0; widen <= dt; widen++)
                for (int keep = 0; keep < 2; keep++) {
                    ff_pool *pool = NULL;
                    FF_REQUIRE_OK(ff_pool_create("device", 0, &pool, &err), &err);
                    FF_REQUIRE_OK(ff_pool_attach(pool, be, &err), &err);
                    ff_chain_opts oo = base;
                    oo.stream = 1;
                    oo.group = k;
                    oo.widen = widen;
                    oo.from_file = 1;
                    oo.device_pool = pool;
                    oo.keep = keep ? FF_CHAIN_KEEP_ALL : 0;
                    frames f = {0};
                    FF_REQUIRE_OK(ff_chain_open(be, dir, &oo, NULL, &p, &err), &err);
                    for (int run = 0; run < 1 + keep; run++) {
                        ff_status st = run_once(p, &f, NULL, &err);
                        FF_CHECK_MSG(st == FF_OK, "%s: %s", dir, err.msg);
                        FF_CHECK_MSG(same(&f, &ref), "%s dtype %d k %d widen %d keep %d run %d: frames differ", dir, dt,
                                     k, widen, keep, run);
                    }
                    ff_chain_close(p);
                    ff_pool_stats s;
                    ff_pool_stats_get(pool, &s);
                    FF_CHECK(s.cur == 0);
                    ff_pool_detach(pool);
                    ff_pool_free(pool);
                    free(f.buf);
                }
        free(ref.buf);
    }
    ff_backend_free(be);
}

static void test_tiny(void) {
    char dir[4200];
    ff_test_tmp_path("pipeline_keep_tiny", dir, sizeof dir);
    ff_err err = {0};
    FF_REQUIRE_OK(ff_tiny_model_ensure(FF_TINY_DEFAULT, dir, NULL, &err), &err);
    check_model(dir, 0);
}

static void test_golden_a14b(void) {
    const char *g = getenv("FF_GOLDEN");
    char dir[4200], probe[4300];
    snprintf(dir, sizeof dir, "%s/pipelines/tiny-wan22-a14b", g ? g : "");
    snprintf(probe, sizeof probe, "%s/model_index.json", dir);
    FILE *f = g ? fopen(probe, "rb") : NULL;
    if (!f) {
        fprintf(stderr, "no golden tiny-wan22-a14b: skipped\n");
        return;
    }
    fclose(f);
    check_model(dir, 1);
}

int main(void) {
    FF_RUN(test_tiny);
    FF_RUN(test_golden_a14b);
    return ff_test_summary();
}
