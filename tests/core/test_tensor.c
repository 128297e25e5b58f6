/* Unit tests of core/ff_tensor: f16/bf16 <-> f32 conversion (exhaustive
 * round trips, rounding ties, subnormals, inf/nan, and random f32 inputs
 * against a reference rounding done in double precision), shape checks and
 * their overflow rules, allocation, reshape, describe and ff_tensor_convert. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/ff_tensor.h"
#include "tests/common/ff_test.h"

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Reference: round x to a binary format with `prec` significand bits,
 * minimum exponent quantum 2^qmin and largest finite value maxv, ties to
 * even, overflow to inf. Exact in double for every float input. */
static double ref_round(float xf, int prec, int qmin, double maxv) {
    double x = xf;
    if (isnan(x) || isinf(x) || x == 0) return x;
    int e;
    frexp(x, &e); /* 2^(e-1) <= |x| < 2^e */
    int qe = e - prec;
    if (qe < qmin) qe = qmin;
    double q = ldexp(1.0, qe);
    double r = nearbyint(x / q) * q; /* default rounding mode: ties to even */
    if (fabs(r) > maxv) return copysign(INFINITY, x);
    if (r == 0) return copysign(0.0, x);
    return r;
}

static int same_value(double got, double want) {
    if (isnan(want)) return isnan(got);
    return got == want && signbit(got) == signbit(want);
}

static void test_f16_known_values(void) {
    FF_CHECK(ff_f32_to_f16(1.0f) == 0x3c00);
    FF_CHECK(ff_f32_to_f16(-2.0f) == 0xc000);
    FF_CHECK(ff_f32_to_f16(0.0f) == 0x0000);
    FF_CHECK(ff_f32_to_f16(-0.0f) == 0x8000);
    FF_CHECK(ff_f32_to_f16(65504.0f) == 0x7bff);             /* largest finite */
    FF_CHECK(ff_f32_to_f16(65519.99f) == 0x7bff);            /* just below the inf threshold */
    FF_CHECK(ff_f32_to_f16(65520.0f) == 0x7c00);             /* tie between 65504 (odd) and 65536: inf */
    FF_CHECK(ff_f32_to_f16(1e10f) == 0x7c00);
    FF_CHECK(ff_f32_to_f16(-INFINITY) == 0xfc00);
    FF_CHECK(ff_f32_to_f16(ldexpf(1, -14)) == 0x0400);       /* smallest normal */
    FF_CHECK(ff_f32_to_f16(ldexpf(1, -24)) == 0x0001);       /* smallest subnormal */
    FF_CHECK(ff_f32_to_f16(ldexpf(1, -25)) == 0x0000);       /* tie with 0: even is 0 */
    FF_CHECK(ff_f32_to_f16(nextafterf(ldexpf(1, -25), 1)) == 0x0001);
    FF_CHECK(ff_f32_to_f16(3 * ldexpf(1, -25)) == 0x0002);   /* tie 1|2 -> 2 */
    FF_CHECK(ff_f32_to_f16(5 * ldexpf(1, -25)) == 0x0002);   /* tie 2|3 -> 2 */
    FF_CHECK(ff_f32_to_f16(-ldexpf(1, -26)) == 0x8000);
    FF_CHECK(ff_f32_to_f16(ldexpf(1023, -24)) == 0x03ff);    /* largest subnormal */
    FF_CHECK(ff_f32_to_f16(ldexpf(2047, -25)) == 0x0400);    /* rounds up into the normals */
    FF_CHECK(ff_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00); /* tie -> even (1.0) */
    FF_CHECK(ff_f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02);
    FF_CHECK(ff_f32_to_f16(nextafterf(1.0f + ldexpf(1, -11), 2)) == 0x3c01);
    FF_CHECK(ff_f32_to_f16(2047.0f + 1.0f) == 0x6800);       /* 2048 */
    FF_CHECK(ff_f32_to_f16(2049.0f) == 0x6800);              /* tie -> even 2048 */
    FF_CHECK(ff_f32_to_f16(2051.0f) == 0x6802);              /* tie -> even 2052 */
    uint16_t nan = ff_f32_to_f16(NAN);
    FF_CHECK((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    FF_CHECK(isnan(ff_f16_to_f32(0x7c01)) && isnan(ff_f16_to_f32(0xfe00)));
    FF_CHECK(ff_f16_to_f32(0x7c00) == INFINITY && ff_f16_to_f32(0xfc00) == -INFINITY);
    FF_CHECK(ff_f16_to_f32(0x0001) == ldexpf(1, -24));
    FF_CHECK(ff_f16_to_f32(0x8001) == -ldexpf(1, -24));
    FF_CHECK(ff_f16_to_f32(0x03ff) == ldexpf(1023, -24));
    FF_CHECK(ff_f16_to_f32(0x3555) == 0.333251953125f);
    FF_CHECK(f32_bits(ff_f16_to_f32(0x8000)) == 0x80000000u);
}

static void test_bf16_known_values(void) {
    FF_CHECK(ff_f32_to_bf16(1.0f) == 0x3f80);
    FF_CHECK(ff_f32_to_bf16(-0.0f) == 0x8000);
    FF_CHECK(ff_f32_to_bf16(1.0f + ldexpf(1, -8)) == 0x3f80);     /* tie -> even */
    FF_CHECK(ff_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)) == 0x3f82); /* tie -> even (up) */
    FF_CHECK(ff_f32_to_bf16(nextafterf(1.0f + ldexpf(1, -8), 2)) == 0x3f81);
    FF_CHECK(ff_f32_to_bf16(bits_f32(0x7f7fffffu)) == 0x7f80);    /* FLT_MAX rounds to inf */
    FF_CHECK(ff_f32_to_bf16(bits_f32(0x7f7f7fffu)) == 0x7f7f);    /* below the tie stays finite */
    FF_CHECK(ff_f32_to_bf16(INFINITY) == 0x7f80 && ff_f32_to_bf16(-INFINITY) == 0xff80);
    FF_CHECK(ff_f32_to_bf16(bits_f32(0x00010000u)) == 0x0001);    /* subnormal, exact */
    FF_CHECK(ff_f32_to_bf16(bits_f32(0x00008000u)) == 0x0000);    /* tie with 0 */
    FF_CHECK(ff_f32_to_bf16(bits_f32(0x00018000u)) == 0x0002);    /* tie 1|2 -> 2 */
    uint16_t nan = ff_f32_to_bf16(bits_f32(0x7f800001u));         /* signalling NaN with a low payload */
    FF_CHECK(isnan(ff_bf16_to_f32(nan)));
    FF_CHECK(isnan(ff_bf16_to_f32(ff_f32_to_bf16(-NAN))));
    FF_CHECK(ff_bf16_to_f32(0x3f80) == 1.0f && ff_bf16_to_f32(0xc040) == -3.0f);
}

/* Every 16-bit pattern survives f16 -> f32 -> f16 (NaNs stay NaN). */
static void test_half_roundtrip_exhaustive(void) {
    int bad16 = 0, badb = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ff_f16_to_f32((uint16_t)h);
        int is_nan16 = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan16) bad16 += !isnan(f) || !isnan(ff_f16_to_f32(ff_f32_to_f16(f)));
        else bad16 += ff_f32_to_f16(f) != h;
        float g = ff_bf16_to_f32((uint16_t)h);
        int is_nanb = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        if (is_nanb) badb += !isnan(g) || !isnan(ff_bf16_to_f32(ff_f32_to_bf16(g)));
        else badb += ff_f32_to_bf16(g) != h;
    }
    FF_CHECK_MSG(bad16 == 0, "%d f16 patterns do not round trip", bad16);
    FF_CHECK_MSG(badb == 0, "%d bf16 patterns do not round trip", badb);
}

/* f16->f32 is exact: compare against the value the bits define. */
static void test_f16_to_f32_exhaustive(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int e = (h >> 10) & 0x1f, m = h & 0x3ff;
        double s = (h & 0x8000) ? -1 : 1;
        double want = e == 0 ? s * ldexp(m, -24) : e == 31 ? (m ? NAN : s * INFINITY) : s * ldexp(1024 + m, e - 25);
        bad += !same_value(ff_f16_to_f32((uint16_t)h), want);
    }
    FF_CHECK_MSG(bad == 0, "%d f16 values decode wrongly", bad);
}

/* Random f32 bit patterns (every exponent) and the neighbourhood of every
 * rounding boundary against the double-precision reference. */
static void test_narrowing_against_reference(void) {
    uint64_t s = 0x243F6A8885A308D3ull;
    int bad16 = 0, badb = 0;
    const double max16 = 65504.0, maxb = ldexp(255, 120); /* (2 - 2^-7) * 2^127 */
    for (int i = 0; i < 2000000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint32_t u = (uint32_t)(s >> 32);
        if (i & 1) { /* concentrate on the f16 range and on halfway points */
            uint32_t e = 100 + (uint32_t)(s % 45);
            u = (u & 0x807fffffu) | (e << 23);
            if (i & 2) u = (u & ~0x1fffu) | 0x1000u; /* exact f16 tie in the normal range */
        }
        float x = bits_f32(u);
        float h = ff_f16_to_f32(ff_f32_to_f16(x));
        float b = ff_bf16_to_f32(ff_f32_to_bf16(x));
        if (!same_value(h, ref_round(x, 11, -24, max16))) {
            if (bad16++ < 5) fprintf(stderr, "f16(%a) = %a, want %a\n", x, h, ref_round(x, 11, -24, max16));
        }
        if (!same_value(b, ref_round(x, 8, -133, maxb))) {
            if (badb++ < 5) fprintf(stderr, "bf16(%a) = %a, want %a\n", x, b, ref_round(x, 8, -133, maxb));
        }
    }
    FF_CHECK_MSG(bad16 == 0, "%d f16 roundings differ", bad16);
    FF_CHECK_MSG(badb == 0, "%d bf16 roundings differ", badb);
}

static void test_shape_check(void) {
    ff_err err = {0};
    size_t nb = 0;
    int64_t s1[] = {2, 3, 4};
    FF_CHECK(ff_shape_check(FF_F32, 3, s1, 0, &nb, &err) == FF_OK && nb == 96);
    FF_CHECK(ff_shape_check(FF_F32, 3, s1, 96, &nb, &err) == FF_OK);
    FF_CHECK(ff_shape_check(FF_F32, 3, s1, 95, &nb, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "limit") != NULL);
    FF_CHECK(ff_shape_check(FF_F32, 0, NULL, 0, &nb, &err) == FF_OK && nb == 4); /* scalar */
    int64_t neg[] = {2, -1};
    FF_CHECK(ff_shape_check(FF_F32, 2, neg, 0, &nb, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "negative") != NULL);
    int64_t seven[7] = {1, 1, 1, 1, 1, 1, 1};
    FF_CHECK(ff_shape_check(FF_F32, 7, seven, 0, &nb, &err) == FF_ERR_SHAPE);
    FF_CHECK(ff_shape_check(FF_F32, -1, seven, 0, &nb, &err) == FF_ERR_SHAPE);
    FF_CHECK(ff_shape_check((ff_dtype)99, 1, seven, 0, &nb, &err) == FF_ERR_ARG);
    int64_t big[] = {(int64_t)1 << 62, (int64_t)1 << 62};
    FF_CHECK(ff_shape_check(FF_F16, 2, big, 0, &nb, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "overflow") != NULL);
    int64_t edge[] = {(int64_t)1 << 60, 4}; /* 2^62 elements * 4 bytes = 2^64 */
    FF_CHECK(ff_shape_check(FF_F32, 2, edge, 0, &nb, &err) == FF_ERR_SHAPE);
    int64_t below[] = {(int64_t)1 << 60, 3}; /* 3 * 2^62 bytes fits */
    FF_CHECK(ff_shape_check(FF_F32, 2, below, 0, &nb, &err) == FF_OK && nb == (size_t)3 << 62);
    int64_t maxdim[] = {INT64_MAX};
    FF_CHECK(ff_shape_check(FF_F16, 1, maxdim, 0, &nb, &err) == FF_OK && nb == (size_t)INT64_MAX * 2);
    FF_CHECK(ff_shape_check(FF_I64, 1, maxdim, 0, &nb, &err) == FF_ERR_SHAPE);
    /* A zero dim makes the tensor empty however big the others are. */
    int64_t zero[] = {(int64_t)1 << 62, (int64_t)1 << 62, 0};
    FF_CHECK(ff_shape_check(FF_F32, 3, zero, 0, &nb, &err) == FF_OK && nb == 0);
    ff_tensor v;
    ff_tensor_view(&v, FF_F32, 3, zero, NULL, FF_LOC_HOST);
    FF_CHECK(ff_tensor_numel(&v) == 0 && ff_tensor_nbytes(&v) == 0); /* no signed overflow on the way */
}

static void test_alloc_reshape_describe(void) {
    ff_err err = {0};
    ff_tensor t;
    FF_REQUIRE_OK(ff_tensor_allocv(&t, FF_BF16, &err, 3, (int64_t)2, (int64_t)3, (int64_t)4), &err);
    FF_CHECK(t.owns && t.ndim == 3 && t.shape[3] == 1 && t.shape[5] == 1);
    FF_CHECK(ff_tensor_numel(&t) == 24 && ff_tensor_nbytes(&t) == 48);
    for (int i = 0; i < 24; i++) FF_CHECK(((uint16_t *)t.data)[i] == 0);
    char buf[64];
    FF_CHECK(strcmp(ff_tensor_describe(&t, buf, sizeof buf), "BF16[2, 3, 4]") == 0);
    char tiny[6];
    ff_tensor_describe(&t, tiny, sizeof tiny);
    FF_CHECK(strlen(tiny) == 5);
    int64_t s2[] = {6, 4};
    FF_CHECK_OK(ff_tensor_reshape(&t, 2, s2, &err), &err);
    FF_CHECK(t.ndim == 2 && t.shape[0] == 6 && t.shape[2] == 1);
    int64_t s3[] = {5, 5};
    FF_CHECK(ff_tensor_reshape(&t, 2, s3, &err) == FF_ERR_SHAPE);
    ff_tensor c;
    FF_REQUIRE_OK(ff_tensor_clone(&c, &t, &err), &err);
    FF_CHECK(c.owns && c.data != t.data && ff_tensor_same_shape(&c, &t));
    ff_tensor_free(&c);
    ff_tensor_free(&t);
    FF_CHECK(t.data == NULL && t.owns == 0);
    ff_tensor_free(NULL);
    FF_CHECK(ff_tensor_allocv(&t, FF_F32, &err, 7, (int64_t)1) == FF_ERR_SHAPE && t.data == NULL);
    int64_t huge[] = {(int64_t)1 << 62, 4};
    FF_CHECK(ff_tensor_alloc(&t, FF_F32, 2, huge, &err) == FF_ERR_SHAPE && t.data == NULL);
    ff_dtype dt;
    FF_CHECK(ff_dtype_from_name("BF16", &dt) == 0 && dt == FF_BF16);
    FF_CHECK(ff_dtype_from_name("bf16", &dt) == -1);
    FF_CHECK(strcmp(ff_dtype_name(FF_I64), "I64") == 0 && strcmp(ff_dtype_name((ff_dtype)42), "?") == 0);
    FF_CHECK(ff_dtype_size(FF_I64) == 8 && ff_dtype_size(FF_F16) == 2 && ff_dtype_size((ff_dtype)42) == 0);
}

static void test_convert(void) {
    ff_err err = {0};
    ff_tensor f, i32, i64, h;
    FF_REQUIRE_OK(ff_tensor_allocv(&f, FF_F32, &err, 1, (int64_t)8), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&i32, FF_I32, &err, 1, (int64_t)8), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&i64, FF_I64, &err, 1, (int64_t)8), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&h, FF_F16, &err, 2, (int64_t)2, (int64_t)4), &err);
    const float in[8] = {1.5f, -2.7f, NAN, INFINITY, -INFINITY, 3e9f, -3e9f, 1e19f};
    memcpy(f.data, in, sizeof in);
    FF_CHECK_OK(ff_tensor_convert(&i32, &f, &err), &err);
    const int32_t want32[8] = {1, -2, 0, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, INT32_MAX};
    FF_CHECK(memcmp(i32.data, want32, sizeof want32) == 0);
    FF_CHECK_OK(ff_tensor_convert(&i64, &f, &err), &err);
    const int64_t want64[8] = {1, -2, 0, INT64_MAX, INT64_MIN, 3000000000LL, -3000000000LL, INT64_MAX};
    FF_CHECK(memcmp(i64.data, want64, sizeof want64) == 0);
    FF_CHECK_OK(ff_tensor_convert(&i32, &i64, &err), &err);
    FF_CHECK(((int32_t *)i32.data)[0] == 1 && ((int32_t *)i32.data)[1] == -2);
    ((int32_t *)i32.data)[2] = -77;
    FF_CHECK_OK(ff_tensor_convert(&i64, &i32, &err), &err);
    FF_CHECK(((int64_t *)i64.data)[2] == -77);
    FF_CHECK_OK(ff_tensor_convert(&h, &f, &err), &err); /* different shape, same numel */
    FF_CHECK(((uint16_t *)h.data)[0] == 0x3e00 && ((uint16_t *)h.data)[3] == 0x7c00);
    ff_tensor small;
    FF_REQUIRE_OK(ff_tensor_allocv(&small, FF_F32, &err, 1, (int64_t)3), &err);
    FF_CHECK(ff_tensor_convert(&small, &f, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "F32[8]") && strstr(err.msg, "F32[3]"));
    ff_tensor_free(&small);
    /* U8 (images): saturating, truncating like the integer types; back to F32 exactly */
    ff_tensor u8, back;
    FF_REQUIRE_OK(ff_tensor_allocv(&u8, FF_U8, &err, 1, (int64_t)8), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&back, FF_F32, &err, 1, (int64_t)8), &err);
    const float pix[8] = {0.f, 255.f, 300.f, -4.f, 127.9f, NAN, 1.f, 254.5f};
    memcpy(f.data, pix, sizeof pix);
    FF_CHECK_OK(ff_tensor_convert(&u8, &f, &err), &err);
    const uint8_t want8[8] = {0, 255, 255, 0, 127, 0, 1, 254};
    FF_CHECK(memcmp(u8.data, want8, sizeof want8) == 0);
    FF_CHECK_OK(ff_tensor_convert(&back, &u8, &err), &err);
    FF_CHECK(((float *)back.data)[1] == 255.f && ((float *)back.data)[4] == 127.f);
    FF_CHECK(ff_dtype_size(FF_U8) == 1 && strcmp(ff_dtype_name(FF_U8), "U8") == 0);
    ff_tensor_free(&u8);
    ff_tensor_free(&back);
    ff_tensor_free(&f);
    ff_tensor_free(&i32);
    ff_tensor_free(&i64);
    ff_tensor_free(&h);
}

/* Ranges along an axis: latent frames in (B, C, F, h, w) (axis 2) and
 * (B, F, C, h, w) (axis 1) layouts; pack/unpack round trip; bad ranges. */
static void test_axis_ranges(void) {
    ff_err err = {0};
    ff_tensor x = {0}, s = {0};
    FF_REQUIRE_OK(ff_tensor_allocv(&x, FF_F32, &err, 5, (int64_t)2, (int64_t)3, (int64_t)5, (int64_t)2, (int64_t)4), &err);
    float *d = x.data;
    for (int64_t i = 0; i < ff_tensor_numel(&x); i++) d[i] = (float)i;
    for (int axis = 1; axis <= 2; axis++) {
        FF_REQUIRE_OK(ff_tensor_axis_slice(&x, axis, 1, 2, &s, &err), &err);
        FF_CHECK(s.shape[axis] == 2 && s.ndim == 5);
        int ok = 1;
        const float *v = s.data;
        for (int64_t a = 0; a < 2; a++)
            for (int64_t b = 0; b < s.shape[1]; b++)
                for (int64_t c = 0; c < s.shape[2]; c++)
                    for (int64_t h = 0; h < 2; h++)
                        for (int64_t w = 0; w < 4; w++) {
                            int64_t src[5] = {a, b, c, h, w};
                            src[axis] += 1;
                            int64_t o = (((src[0] * 3 + src[1]) * 5 + src[2]) * 2 + src[3]) * 4 + src[4];
                            int64_t k = (((a * s.shape[1] + b) * s.shape[2] + c) * 2 + h) * 4 + w;
                            ok &= v[k] == d[o];
                        }
        FF_CHECK_MSG(ok, "axis %d: slice [1, 3) picks the wrong elements", axis);
        /* unpack the slice into the last two frames, pack it back: the same block */
        ff_tensor y = {0};
        const int64_t at = x.shape[axis] - 2;
        FF_REQUIRE_OK(ff_tensor_clone(&y, &x, &err), &err);
        ff_tensor_axis_unpack(&y, axis, at, 2, s.data);
        float *back = malloc(ff_tensor_nbytes(&s));
        ff_tensor_axis_pack(&y, axis, at, 2, back);
        FF_CHECK(back && !memcmp(back, s.data, ff_tensor_nbytes(&s)));
        free(back);
        ff_tensor_free(&y);
        ff_tensor_free(&s);
    }
    FF_CHECK(ff_tensor_axis_slice(&x, 2, 4, 2, &s, &err) == FF_ERR_ARG && !s.data);
    FF_CHECK(ff_tensor_axis_slice(&x, 5, 0, 1, &s, &err) == FF_ERR_ARG);
    FF_CHECK(ff_tensor_axis_slice(&x, 1, 0, 0, &s, &err) == FF_ERR_ARG);
    ff_tensor_free(&x);
}

int main(void) {
    FF_RUN(test_axis_ranges);
    FF_RUN(test_f16_known_values);
    FF_RUN(test_bf16_known_values);
    FF_RUN(test_half_roundtrip_exhaustive);
    FF_RUN(test_f16_to_f32_exhaustive);
    FF_RUN(test_narrowing_against_reference);
    FF_RUN(test_shape_check);
    FF_RUN(test_alloc_reshape_describe);
    FF_RUN(test_convert);
    return ff_test_summary();
}
