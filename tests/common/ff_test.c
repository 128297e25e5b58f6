/* ff_test: see ff_test.h. */
#include "ff_test.h"

#include <stdint.h>
#include <string.h>

ff_test_state ff_test_g;

int ff_test_summary(void) {
    fprintf(stderr, "%d tests, %d checks, %d failures\n", ff_test_g.tests, ff_test_g.checks, ff_test_g.failures);
    return ff_test_g.failures ? 1 : 0;
}

void ff_test_skip(const char *why) {
    printf("SKIP: %s\n", why);
    fflush(stdout);
    exit(77);
}

const char *ff_test_tmp_path(const char *name, char *buf, size_t n) {
    const char *dir = getenv("FF_TEST_TMP");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

void ff_test_fill_uniform(ff_tensor *t, unsigned seed, float lo, float hi) {
    uint64_t s = 0x9E3779B97F4A7C15ull ^ seed;
    float *d = t->data;
    int64_t n = ff_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u = (double)(s >> 11) * (1.0 / 9007199254740992.0);
        d[i] = (float)(lo + (hi - lo) * u);
    }
}
