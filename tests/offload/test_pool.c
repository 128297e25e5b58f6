/* offload/pool: budgets, current and peak bytes, the over-budget message,
 * accounting of every ff_be_alloc through the backend meter, frees of
 * re-viewed tensors, host pools, byte parsing and formatting. */
#include <stdint.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "kernels/ops.h"
#include "offload/pool.h"

static void test_backend_accounting(void) {
    ff_err err = {0};
    ff_backend *be = NULL;
    ff_pool *p = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    FF_REQUIRE_OK(ff_pool_create("device", 4096, &p, &err), &err);
    ff_tensor before = {0};
    FF_REQUIRE_OK(ff_be_alloc(be, &before, FF_F32, 1, (int64_t[]){8}, &err), &err); /* not counted */
    FF_REQUIRE_OK(ff_pool_attach(p, be, &err), &err);
    ff_pool *q = NULL;
    FF_REQUIRE_OK(ff_pool_create("other", 0, &q, &err), &err);
    FF_CHECK(ff_pool_attach(q, be, &err) == FF_ERR_ARG); /* one meter per backend */
    ff_pool_free(q);

    ff_tensor a = {0}, b = {0}, c = {0};
    ff_pool_stats s;
    FF_REQUIRE_OK(ff_be_alloc(be, &a, FF_F32, 2, (int64_t[]){16, 16}, &err), &err); /* 1024 B */
    FF_REQUIRE_OK(ff_be_alloc(be, &b, FF_BF16, 1, (int64_t[]){1024}, &err), &err);  /* 2048 B */
    ff_pool_stats_get(p, &s);
    FF_CHECK(s.cur == 3072 && s.peak == 3072 && s.n_blocks == 2 && s.budget == 4096);

    ff_pool_set_label(p, "transformer/blocks.%d", 3);
    ff_err e2 = {0};
    FF_CHECK(ff_be_alloc(be, &c, FF_F32, 1, (int64_t[]){512}, &e2) == FF_ERR_BUDGET); /* 2048 B: 5120 > 4096 */
    FF_CHECK(c.data == NULL);
    FF_CHECK_MSG(strstr(e2.msg, "over budget") && strstr(e2.msg, "needs 2.00 KiB") &&
                     strstr(e2.msg, "budget 4.00 KiB") && strstr(e2.msg, "in transformer/blocks.3"),
                 "%s", e2.msg);
    ff_pool_stats_get(p, &s);
    FF_CHECK(s.cur == 3072 && s.n_refused == 1);

    /* a freed tensor is found by pointer even after a reshape */
    FF_REQUIRE_OK(ff_tensor_reshape(&a, 1, (int64_t[]){256}, &err), &err);
    a.shape[0] = 1; /* even a lying shape: the pool remembers the size */
    ff_be_free(be, &a);
    ff_pool_stats_get(p, &s);
    FF_CHECK(s.cur == 2048 && s.peak == 3072);
    ff_pool_reset_peak(p);
    ff_pool_stats_get(p, &s);
    FF_CHECK(s.peak == 2048);
    FF_CHECK_OK(ff_be_alloc(be, &c, FF_F32, 1, (int64_t[]){512}, &err), &err); /* fits now */
    ff_be_free(be, &c);
    ff_be_free(be, &b);
    ff_be_free(be, &before); /* allocated before attach: ignored by the pool */
    ff_pool_stats_get(p, &s);
    FF_CHECK(s.cur == 0 && s.n_blocks == 0 && s.peak == 4096);

    /* many blocks: the pointer table grows and shrinks */
    ff_tensor many[300];
    int ok = 1;
    for (int i = 0; i < 300; i++) ok &= ff_be_alloc(be, &many[i], FF_F32, 1, (int64_t[]){1}, &err) == FF_OK;
    FF_CHECK(ok);
    for (int i = 0; i < 300; i += 2) ff_be_free(be, &many[i]);
    ff_pool_stats_get(p, &s);
    FF_CHECK(s.cur == 150 * 4 && s.n_blocks == 150);
    for (int i = 1; i < 300; i += 2) ff_be_free(be, &many[i]);
    ff_pool_stats_get(p, &s);
    FF_CHECK(s.cur == 0 && s.n_blocks == 0);

    ff_pool_set_budget(p, 0); /* unlimited */
    FF_CHECK_OK(ff_be_alloc(be, &c, FF_F32, 1, (int64_t[]){100000}, &err), &err);
    ff_be_free(be, &c);
    ff_pool_detach(p);
    FF_CHECK(ff_backend_meter(be) == NULL);
    ff_pool_free(p);
    ff_backend_free(be);
}

static void test_host_pool(void) {
    ff_err err = {0};
    ff_pool *p = NULL;
    FF_REQUIRE_OK(ff_pool_create("host", 1000, &p, &err), &err);
    void *a = NULL, *b = NULL;
    FF_REQUIRE_OK(ff_pool_host_alloc(p, 600, &a, &err), &err);
    FF_CHECK(((unsigned char *)a)[599] == 0);
    ff_pool_set_label(p, "transformer/staging");
    ff_err e2 = {0};
    FF_CHECK(ff_pool_host_alloc(p, 600, &b, &e2) == FF_ERR_BUDGET && b == NULL);
    FF_CHECK(strstr(e2.msg, "host pool") && strstr(e2.msg, "transformer/staging"));
    ff_pool_host_free(p, a);
    FF_CHECK_OK(ff_pool_host_alloc(p, 1000, &b, &err), &err);
    ff_pool_stats s;
    ff_pool_stats_get(p, &s);
    FF_CHECK(s.cur == 1000 && s.peak == 1000);
    ff_pool_host_free(p, b);
    ff_pool_host_free(p, NULL);
    ff_pool_free(p);
}

static void test_bytes(void) {
    size_t v = 0;
    FF_CHECK(ff_pool_parse_bytes("8GiB", &v) == 0 && v == (size_t)8 << 30);
    FF_CHECK(ff_pool_parse_bytes("8G", &v) == 0 && v == (size_t)8 << 30);
    FF_CHECK(ff_pool_parse_bytes("512MiB", &v) == 0 && v == (size_t)512 << 20);
    FF_CHECK(ff_pool_parse_bytes("1.5GB", &v) == 0 && v == (size_t)3 << 29);
    FF_CHECK(ff_pool_parse_bytes("4096", &v) == 0 && v == 4096);
    FF_CHECK(ff_pool_parse_bytes("100k", &v) == 0 && v == 102400);
    FF_CHECK(ff_pool_parse_bytes("", &v) != 0);
    FF_CHECK(ff_pool_parse_bytes("8 parsecs", &v) != 0);
    FF_CHECK(ff_pool_parse_bytes("-1G", &v) != 0);
    char buf[32];
    FF_CHECK(!strcmp(ff_pool_fmt_bytes(512, buf, sizeof buf), "512 B"));
    FF_CHECK(!strcmp(ff_pool_fmt_bytes((size_t)3 << 29, buf, sizeof buf), "1.50 GiB"));
    FF_CHECK(!strcmp(ff_pool_fmt_bytes((size_t)80 << 30, buf, sizeof buf), "80.0 GiB"));
}

int main(void) {
    FF_RUN(test_backend_accounting);
    FF_RUN(test_host_pool);
    FF_RUN(test_bytes);
    return ff_test_summary();
}
