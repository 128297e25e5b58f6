/* The CogVideoX transformer under offload/stream.h: its ff_param list
 * (non-block first, then equal blocks) and block hooks drive block
 * streaming unchanged. Resident, streamed in groups of 1 and 2, and
 * streamed straight from the mmap'd file (ff_cogdit_load_lazy +
 * block_weights) all give the resident output bit for bit; every run
 * uploads each block once. Tiny 1.5 pipeline from ../shared/golden (SKIP
 * when absent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "models/cogvideox_transformer.h"
#include "offload/stream.h"

static char g_dir[4400];

typedef struct {
    ff_offload_stream *s;
} hook_ctx;

static ff_status before(void *u, int i, ff_cogdit_block *b, ff_param *p, size_t n, ff_err *err) {
    (void)b, (void)p, (void)n;
    return ff_offload_stream_enter(((hook_ctx *)u)->s, i, err);
}
static ff_status after(void *u, int i, ff_cogdit_block *b, ff_param *p, size_t n, ff_err *err) {
    (void)b, (void)p, (void)n, (void)err;
    ff_offload_stream_leave(((hook_ctx *)u)->s, i);
    return FF_OK;
}

/* One forward of m through a stream made with o; *out owned host. */
static ff_status streamed(ff_cogdit_model *m, ff_backend *be, const ff_offload_opts *o, const ff_tensor *x,
                          const ff_tensor *t, const ff_tensor *text, ff_tensor *out, int64_t *uploads, ff_err *err) {
    ff_param *ps = NULL;
    size_t np = 0;
    ff_status st = ff_cogdit_params(&m->cfg, m, FF_F32, &ps, &np, err);
    if (st) return st;
    ff_tensor **slots = calloc(np, sizeof *slots);
    const char **names = calloc(np, sizeof *names);
    size_t nr = 0;
    for (size_t i = 0; i < np; i++) {
        slots[i] = ps[i].slot;
        names[i] = ps[i].name;
        if (ps[i].block < 0) nr = i + 1;
    }
    const size_t pb = ff_cogdit_block_params(&m->cfg, 0, NULL, FF_F32, NULL);
    FF_CHECK(nr + (size_t)m->cfg.num_layers * pb == np);
    hook_ctx h = {NULL};
    st = ff_offload_stream_create(be, o, slots, names, nr, slots + nr, names + nr, m->cfg.num_layers, pb, &h.s, err);
    if (!st) st = ff_offload_stream_begin(h.s, err);
    if (!st) {
        ff_cogdit_hooks hooks = {before, after, &h};
        st = ff_cogdit_forward_host(m, be, x, t, text, NULL, &hooks, out, err);
        ff_offload_stream_end(h.s);
        ff_offload_stats stats;
        ff_offload_stream_stats(h.s, &stats);
        *uploads = stats.block_uploads;
    }
    ff_offload_stream_free(h.s);
    free(slots);
    free(names);
    free(ps);
    return st;
}

static void test_stream(void) {
    ff_err err = {0};
    ff_backend *be;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_cogdit_model *m = NULL, *lazy = NULL;
    ff_weights *w = NULL;
    ff_tensor x = {0}, t = {0}, text = {0}, ref = {0}, out = {0};
    if (ff_cogdit_load(g_dir, &m, &err)) {
        FF_CHECK_MSG(0, "%s", err.msg);
        goto done;
    }
    FF_CHECK_OK(ff_tensor_allocv(&x, FF_F32, &err, 5, (int64_t)2, (int64_t)2, (int64_t)m->cfg.in_channels, (int64_t)4,
                                 (int64_t)4),
                &err);
    FF_CHECK_OK(ff_tensor_allocv(&text, FF_F32, &err, 3, (int64_t)2, (int64_t)7, (int64_t)m->cfg.text_embed_dim), &err);
    FF_CHECK_OK(ff_tensor_allocv(&t, FF_I64, &err, 1, (int64_t)1), &err);
    ff_test_fill_uniform(&x, 3, -1, 1);
    ff_test_fill_uniform(&text, 4, -1, 1);
    ((int64_t *)t.data)[0] = 500;
    FF_REQUIRE_OK(ff_cogdit_forward_host(m, be, &x, &t, &text, NULL, NULL, &ref, &err), &err);

    ff_offload_opts o;
    ff_offload_opts_default(&o);
    int64_t up = -1;
    FF_CHECK_OK(streamed(m, be, &o, &x, &t, &text, &out, &up, &err), &err);
    FF_CHECK(ff_tensor_same_shape(&out, &ref) && !memcmp(out.data, ref.data, ff_tensor_nbytes(&ref)));
    ff_tensor_free(&out);
    for (int k = 1; k <= 2; k++) {
        o.mode = FF_OFFLOAD_STREAM;
        o.group = k;
        FF_CHECK_OK(streamed(m, be, &o, &x, &t, &text, &out, &up, &err), &err);
        FF_CHECK_MSG(!memcmp(out.data, ref.data, ff_tensor_nbytes(&ref)), "streamed k=%d differs", k);
        FF_CHECK(up == m->cfg.num_layers);
        ff_tensor_free(&out);
    }
    /* blocks straight from the file */
    FF_REQUIRE_OK(ff_cogdit_load_lazy(g_dir, FF_F32, &lazy, &w, &err), &err);
    o.group = 1;
    o.block_weights = w;
    FF_CHECK_OK(streamed(lazy, be, &o, &x, &t, &text, &out, &up, &err), &err);
    FF_CHECK_MSG(ff_tensor_same_shape(&out, &ref) && !memcmp(out.data, ref.data, ff_tensor_nbytes(&ref)),
                 "streamed from the file differs");
done:
    ff_tensor_free(&x);
    ff_tensor_free(&t);
    ff_tensor_free(&text);
    ff_tensor_free(&ref);
    ff_tensor_free(&out);
    ff_cogdit_free(m);
    ff_cogdit_free(lazy);
    ff_weights_free(w);
    ff_backend_free(be);
}

int main(void) {
    const char *g = getenv("FF_GOLDEN");
    snprintf(g_dir, sizeof g_dir, "%s/pipelines/tiny-cogvideox15/transformer", g ? g : "");
    char probe[4500];
    snprintf(probe, sizeof probe, "%s/config.json", g_dir);
    FILE *f = g ? fopen(probe, "rb") : NULL;
    if (!f) ff_test_skip("../shared/golden/pipelines/tiny-cogvideox15 absent");
    fclose(f);
    FF_RUN(test_stream);
    return ff_test_summary();
}
