/* cpu_vec: every variant this CPU runs (AVX-512, AVX2, portable) gives the
 * same bits as the portable one on every kernel, ragged lengths included;
 * the vector exp is within 2 ulp of expf and keeps 0, +inf and NaN where
 * expf has them; the row kernels agree with scalar double references. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_vec.h"
#include "kernels/ops.h"
#include "tests/common/ff_test.h"

#define N 1031 /* 64 blocks of 16 and a ragged tail */

static const cpu_vec *g_v[4];
static int g_nv;

static void fill(float *x, int64_t n, unsigned seed, float lo, float hi) {
    unsigned s = seed * 2654435761u + 7;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        x[i] = lo + (hi - lo) * (float)(s >> 8) / 16777216.0f;
    }
}

static int same_bits(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof *a) == 0; }

static int64_t ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

static void test_exp_accuracy(void) {
    static float x[N], y[N];
    fill(x, N, 1, -87.0f, 88.0f);
    for (int k = 0; k < g_nv; k++) {
        FF_REQUIRE(g_v[k]->unary(FF_UNARY_EXP, x, y, N));
        int64_t worst = 0;
        for (int i = 0; i < N; i++) {
            const int64_t u = ulps(y[i], expf(x[i]));
            worst = u > worst ? u : worst;
        }
        FF_CHECK_MSG(worst <= 2, "%s exp: %lld ulp from expf", g_v[k]->name, (long long)worst);
    }
    const float sp[8] = {0.0f, -0.0f, -INFINITY, INFINITY, NAN, -100.0f, 100.0f, 1.0f};
    float o[8];
    for (int k = 0; k < g_nv; k++) {
        g_v[k]->unary(FF_UNARY_EXP, sp, o, 8);
        FF_CHECK_MSG(o[0] == 1.0f && o[1] == 1.0f && o[2] == 0.0f && isinf(o[3]) && o[3] > 0 && isnan(o[4]) &&
                         o[5] == 0.0f && isinf(o[6]) && ulps(o[7], expf(1.0f)) <= 1,
                     "%s exp special values: %g %g %g %g %g %g %g %g", g_v[k]->name, o[0], o[1], o[2], o[3], o[4],
                     o[5], o[6], o[7]);
        g_v[k]->unary(FF_UNARY_SILU, sp, o, 8);
        /* -inf / (1 + exp(inf)) is NaN, as the scalar formula (and torch's x / (1 + exp(-x))) gives */
        FF_CHECK_MSG(isnan(o[2]) && isinf(o[3]) && isnan(o[4]) && o[5] == 0.0f && o[6] == 100.0f,
                     "%s silu special values: %g %g %g %g %g", g_v[k]->name, o[2], o[3], o[4], o[5], o[6]);
    }
}

static void test_activations_match_formula(void) {
    static float x[N], y[N];
    fill(x, N, 2, -12.0f, 12.0f);
    for (int k = 0; k < g_nv; k++) {
        g_v[k]->unary(FF_UNARY_SILU, x, y, N);
        double worst = 0;
        for (int i = 0; i < N; i++) {
            const double ref = x[i] / (1.0 + exp(-(double)x[i]));
            worst = fmax(worst, fabs(y[i] - ref) / fmax(fabs(ref), 1e-3));
        }
        FF_CHECK_MSG(worst < 1e-6, "%s silu: relative error %.3g", g_v[k]->name, worst);
        g_v[k]->unary(FF_UNARY_GELU_TANH, x, y, N);
        worst = 0;
        for (int i = 0; i < N; i++) {
            const double v = x[i], ref = 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
            worst = fmax(worst, fabs(y[i] - ref) / fmax(fabs(ref), 1e-3));
        }
        FF_CHECK_MSG(worst < 1e-6, "%s gelu-tanh: relative error %.3g", g_v[k]->name, worst);
    }
}

/* Every kernel of every variant against the portable one, bit for bit. */
static void test_variants_agree(void) {
    const cpu_vec *p = g_v[g_nv - 1];
    static float x[N], w[N], b[N], y0[N], y1[N];
    fill(x, N, 3, -5.0f, 7.0f);
    fill(w, N, 4, 0.5f, 1.5f);
    fill(b, N, 5, -1.0f, 1.0f);
    const int64_t lens[4] = {N, 16, 7, 1};
    for (int k = 0; k < g_nv - 1; k++) {
        const cpu_vec *v = g_v[k];
        for (int li = 0; li < 4; li++) {
            const int64_t n = lens[li];
            for (int kind = 0; kind < FF_UNARY_COUNT; kind++)
                if (p->unary(kind, x, y0, n)) {
                    v->unary(kind, x, y1, n);
                    FF_CHECK_MSG(same_bits(y0, y1, n), "%s unary %d n=%lld differs", v->name, kind, (long long)n);
                }
            p->softmax_row(x, y0, n);
            v->softmax_row(x, y1, n);
            FF_CHECK_MSG(same_bits(y0, y1, n), "%s softmax n=%lld differs", v->name, (long long)n);
            FF_CHECK(p->row_max(x, n) == v->row_max(x, n));
            FF_CHECK(p->sum(x, n) == v->sum(x, n) && p->sumsq(x, n, 0.25) == v->sumsq(x, n, 0.25));
            float s0, s1;
            memcpy(y0, x, sizeof x);
            memcpy(y1, x, sizeof x);
            p->exp_shift_sum(y0, n, 7.0f, &s0);
            v->exp_shift_sum(y1, n, 7.0f, &s1);
            FF_CHECK_MSG(same_bits(y0, y1, n) && s0 == s1, "%s exp_shift_sum n=%lld differs", v->name, (long long)n);
            p->norm_row(x, y0, n, 0.3, 1.7f, w, b);
            v->norm_row(x, y1, n, 0.3, 1.7f, w, b);
            FF_CHECK_MSG(same_bits(y0, y1, n), "%s norm_row differs", v->name);
            p->norm_span(x, y0, n, -0.3, 0.7f, 1.1f, 0.2f);
            v->norm_span(x, y1, n, -0.3, 0.7f, 1.1f, 0.2f);
            FF_CHECK_MSG(same_bits(y0, y1, n), "%s norm_span differs", v->name);
            p->scale_row(x, y0, n, 0.9f, w);
            v->scale_row(x, y1, n, 0.9f, w);
            FF_CHECK_MSG(same_bits(y0, y1, n), "%s scale_row differs", v->name);
            p->modulate_row(x, y0, n, b, w);
            v->modulate_row(x, y1, n, b, w);
            FF_CHECK_MSG(same_bits(y0, y1, n), "%s modulate_row differs", v->name);
        }
        const int nrs[3] = {8, 16, 32};
        for (int ni = 0; ni < 3; ni++)
            for (int64_t rows = 1; rows <= 5; rows += 2) {
                const int nr = nrs[ni];
                float m0[32], m1[32], sh[32], s0[32], s1[32];
                p->col_max(x, rows, nr, m0);
                v->col_max(x, rows, nr, m1);
                FF_CHECK_MSG(!memcmp(m0, m1, (size_t)nr * 4), "%s col_max nr=%d differs", v->name, nr);
                for (int c = 0; c < nr; c++) sh[c] = m0[c];
                memcpy(y0, x, sizeof x);
                memcpy(y1, x, sizeof x);
                p->col_exp_sum(y0, rows, nr, sh, s0);
                v->col_exp_sum(y1, rows, nr, sh, s1);
                FF_CHECK_MSG(same_bits(y0, y1, rows * nr) && !memcmp(s0, s1, (size_t)nr * 4),
                             "%s col_exp_sum nr=%d rows=%lld differs", v->name, nr, (long long)rows);
            }
    }
}

/* The row kernels against scalar references. */
static void test_rows_correct(void) {
    const cpu_vec *v = g_v[0];
    static float x[N], y[N];
    fill(x, N, 6, -3.0f, 3.0f);
    v->softmax_row(x, y, N);
    double mx = -INFINITY, z = 0, worst = 0;
    for (int i = 0; i < N; i++) mx = fmax(mx, x[i]);
    for (int i = 0; i < N; i++) z += exp(x[i] - mx);
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(y[i] - exp(x[i] - mx) / z) * z);
    FF_CHECK_MSG(worst < 1e-6, "softmax: error %.3g", worst);
    double s = 0, ss = 0;
    for (int i = 0; i < N; i++) s += x[i], ss += (x[i] - 0.5) * (x[i] - 0.5);
    FF_CHECK(fabs(v->sum(x, N) - s) <= 1e-9 * fabs(s) + 1e-9 && fabs(v->sumsq(x, N, 0.5) - ss) <= 1e-9 * ss);
    const int nr = 16;
    const int64_t rows = 5;
    float m[16], sum[16];
    v->col_max(x, rows, nr, m);
    for (int c = 0; c < nr; c++) {
        float want = -INFINITY;
        for (int64_t r = 0; r < rows; r++) want = x[r * nr + c] > want ? x[r * nr + c] : want;
        FF_CHECK(m[c] == want);
    }
    memcpy(y, x, sizeof x);
    v->col_exp_sum(y, rows, nr, m, sum);
    for (int c = 0; c < nr; c++) {
        double want = 0;
        for (int64_t r = 0; r < rows; r++) want += exp((double)x[r * nr + c] - m[c]);
        FF_CHECK_MSG(fabs(sum[c] - want) <= 1e-6 * want, "col_exp_sum column %d: %g vs %g", c, sum[c], want);
    }
}

int main(void) {
    g_nv = cpu_vec_all(g_v, 4);
    FF_CHECK(g_nv >= 1 && !strcmp(g_v[g_nv - 1]->name, "portable"));
    if (g_nv < 1) return ff_test_summary();
    FF_RUN(test_exp_accuracy);
    FF_RUN(test_activations_match_formula);
    FF_RUN(test_variants_agree);
    FF_RUN(test_rows_correct);
    return ff_test_summary();
}
