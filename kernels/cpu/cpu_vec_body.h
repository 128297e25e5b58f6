/* cpu_vec_body: the kernels of cpu_vec.h, included by cpu_vec.c once per
 * ISA with VT (the function target attribute, possibly empty) and SFX(name)
 * (the per-ISA name) defined. Types and constants come from cpu_vec.c.
 * Every kernel walks its row in blocks of 16 lanes (vf); the tail is a
 * padded block whose extra lanes are masked out of every reduction. */

static inline __attribute__((always_inline)) VT vf SFX(ld)(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) VT void SFX(st)(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* the first n (< 16) floats of p, the other lanes = pad */
static inline __attribute__((always_inline)) VT vf SFX(ld_tail)(const float *p, int64_t n, float pad) {
    float t[16];
    for (int i = 0; i < 16; i++) t[i] = i < n ? p[i] : pad;
    return SFX(ld)(t);
}

static inline __attribute__((always_inline)) VT void SFX(st_tail)(float *p, vf v, int64_t n) {
    float t[16];
    SFX(st)(t, v);
    memcpy(p, t, (size_t)n * sizeof(float));
}

static inline __attribute__((always_inline)) VT vf SFX(splat)(float x) {
    vf v;
    for (int i = 0; i < 16; i++) v[i] = x;
    return v;
}

static inline __attribute__((always_inline)) VT vf SFX(select)(vi m, vf a, vf b) { /* m ? a : b, lane by lane (m is 0 or -1) */
    return (vf)(((vi)a & m) | ((vi)b & ~m));
}

/* exp, see cpu_vec.h */
static inline __attribute__((always_inline)) VT vf SFX(vexp)(vf x) {
    const vf hi = SFX(splat)(88.3762626647949f), lo = SFX(splat)(-87.3365447504f);
    const vi over = x > hi, under = x < lo, nan = x != x;
    vf xc = SFX(select)(over, hi, SFX(select)(under, lo, x));
    xc = SFX(select)(nan, SFX(splat)(0.0f), xc);
    const vf magic = SFX(splat)(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    const vf t = xc * SFX(splat)(1.44269504088896341f) + magic;
    const vf n = t - magic;
    const vf r = (xc - n * SFX(splat)(0.693359375f)) - n * SFX(splat)(-2.12194440e-4f);
    vf y = SFX(splat)(1.9875691500e-4f);
    y = y * r + SFX(splat)(1.3981999507e-3f);
    y = y * r + SFX(splat)(8.3334519073e-3f);
    y = y * r + SFX(splat)(4.1665795894e-2f);
    y = y * r + SFX(splat)(1.6666665459e-1f);
    y = y * r + SFX(splat)(5.0000001201e-1f);
    y = y * (r * r) + r + SFX(splat)(1.0f);
    const vi e = ((vi)t - (vi)magic + 127) << 23; /* 2^n */
    vf out = y * (vf)e;
    out = SFX(select)(over, SFX(splat)(__builtin_inff()), out);
    out = SFX(select)(under, SFX(splat)(0.0f), out);
    return SFX(select)(nan, x, out);
}

static inline __attribute__((always_inline)) VT vf SFX(unary1)(int kind, vf x) {
    const vf one = SFX(splat)(1.0f);
    switch (kind) {
    case FF_UNARY_SILU: return x / (one + SFX(vexp)(-x));
    case FF_UNARY_GELU_TANH: { /* 0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)) */
        const vf u = SFX(splat)(0.7978845608028654f) * (x + SFX(splat)(0.044715f) * x * x * x);
        return x / (one + SFX(vexp)(SFX(splat)(-2.0f) * u));
    }
    default: return SFX(vexp)(x);
    }
}

static VT int SFX(unary)(int kind, const float *x, float *o, int64_t n) {
    if (kind != FF_UNARY_SILU && kind != FF_UNARY_GELU_TANH && kind != FF_UNARY_EXP) return 0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) SFX(st)(o + i, SFX(unary1)(kind, SFX(ld)(x + i)));
    if (i < n) SFX(st_tail)(o + i, SFX(unary1)(kind, SFX(ld_tail)(x + i, n - i, 0.0f)), n - i);
    return 1;
}

/* Fixed-order reductions of the 16 lanes (pairwise: lanes i and i + 8, ...). */
static inline __attribute__((always_inline)) VT float SFX(hmax)(vf v) {
    float m[16];
    SFX(st)(m, v);
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) m[i] = m[i + w] > m[i] ? m[i + w] : m[i];
    return m[0];
}

static inline __attribute__((always_inline)) VT double SFX(hsum_d)(vd v) {
    double s[16];
    memcpy(s, &v, sizeof s);
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) s[i] += s[i + w];
    return s[0];
}

static inline __attribute__((always_inline)) VT float SFX(hsum)(vf v) {
    float s[16];
    SFX(st)(s, v);
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) s[i] += s[i + w];
    return s[0];
}

static VT float SFX(row_max)(const float *s, int64_t n) {
    vf m = SFX(splat)(-__builtin_inff());
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const vf v = SFX(ld)(s + i);
        m = SFX(select)(v > m, v, m);
    }
    if (i < n) {
        const vf v = SFX(ld_tail)(s + i, n - i, -__builtin_inff());
        m = SFX(select)(v > m, v, m);
    }
    return SFX(hmax)(m);
}

static VT void SFX(exp_shift_sum)(float *s, int64_t n, float mnew, float *sum) {
    const vf mv = SFX(splat)(mnew);
    vf acc = SFX(splat)(0.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const vf e = SFX(vexp)(SFX(ld)(s + i) - mv);
        SFX(st)(s + i, e);
        acc += e;
    }
    if (i < n) { /* padded lanes: exp(-inf) = 0 adds nothing */
        const vf e = SFX(vexp)(SFX(ld_tail)(s + i, n - i, -__builtin_inff()) - mv);
        SFX(st_tail)(s + i, e, n - i);
        acc += e;
    }
    *sum = SFX(hsum)(acc);
}

static VT void SFX(softmax_row)(const float *x, float *o, int64_t n) {
    const vf mv = SFX(splat)(SFX(row_max)(x, n));
    vd acc = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const vf e = SFX(vexp)(SFX(ld)(x + i) - mv);
        SFX(st)(o + i, e);
        acc += __builtin_convertvector(e, vd);
    }
    if (i < n) {
        const vf e = SFX(vexp)(SFX(ld_tail)(x + i, n - i, -__builtin_inff()) - mv);
        SFX(st_tail)(o + i, e, n - i);
        acc += __builtin_convertvector(e, vd);
    }
    const vf inv = SFX(splat)((float)(1.0 / SFX(hsum_d)(acc)));
    for (i = 0; i + 16 <= n; i += 16) SFX(st)(o + i, SFX(ld)(o + i) * inv);
    if (i < n) SFX(st_tail)(o + i, SFX(ld_tail)(o + i, n - i, 0.0f) * inv, n - i);
}

static VT double SFX(sum)(const float *x, int64_t n) {
    vd acc = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc += __builtin_convertvector(SFX(ld)(x + i), vd);
    if (i < n) acc += __builtin_convertvector(SFX(ld_tail)(x + i, n - i, 0.0f), vd);
    return SFX(hsum_d)(acc);
}

static VT double SFX(sumsq)(const float *x, int64_t n, double c) {
    vd acc = {0}, cv;
    for (int l = 0; l < 16; l++) cv[l] = c;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const vd d = __builtin_convertvector(SFX(ld)(x + i), vd) - cv;
        acc += d * d;
    }
    if (i < n) {
        vd d = __builtin_convertvector(SFX(ld_tail)(x + i, n - i, 0.0f), vd) - cv;
        for (int l = (int)(n - i); l < 16; l++) d[l] = 0.0; /* padded lanes add nothing */
        acc += d * d;
    }
    return SFX(hsum_d)(acc);
}

/* (float)(x - mean) * rstd for 16 lanes */
static inline __attribute__((always_inline)) VT vf SFX(centre)(vf x, vd mv, vf rv) {
    return __builtin_convertvector(__builtin_convertvector(x, vd) - mv, vf) * rv;
}

static VT void SFX(norm_row)(const float *x, float *o, int64_t n, double mean, float rstd, const float *w,
                             const float *b) {
    vd mv;
    for (int l = 0; l < 16; l++) mv[l] = mean;
    const vf rv = SFX(splat)(rstd);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        vf y = SFX(centre)(SFX(ld)(x + i), mv, rv);
        if (w) y *= SFX(ld)(w + i);
        if (b) y += SFX(ld)(b + i);
        SFX(st)(o + i, y);
    }
    if (i < n) {
        vf y = SFX(centre)(SFX(ld_tail)(x + i, n - i, 0.0f), mv, rv);
        if (w) y *= SFX(ld_tail)(w + i, n - i, 0.0f);
        if (b) y += SFX(ld_tail)(b + i, n - i, 0.0f);
        SFX(st_tail)(o + i, y, n - i);
    }
}

static VT void SFX(norm_span)(const float *x, float *o, int64_t n, double mean, float rstd, float sc, float sh) {
    vd mv;
    for (int l = 0; l < 16; l++) mv[l] = mean;
    const vf rv = SFX(splat)(rstd), scv = SFX(splat)(sc), shv = SFX(splat)(sh);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) SFX(st)(o + i, SFX(centre)(SFX(ld)(x + i), mv, rv) * scv + shv);
    if (i < n) SFX(st_tail)(o + i, SFX(centre)(SFX(ld_tail)(x + i, n - i, 0.0f), mv, rv) * scv + shv, n - i);
}

static VT void SFX(scale_row)(const float *x, float *o, int64_t n, float inv, const float *w) {
    const vf iv = SFX(splat)(inv);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        vf y = SFX(ld)(x + i) * iv;
        if (w) y *= SFX(ld)(w + i);
        SFX(st)(o + i, y);
    }
    if (i < n) {
        vf y = SFX(ld_tail)(x + i, n - i, 0.0f) * iv;
        if (w) y *= SFX(ld_tail)(w + i, n - i, 0.0f);
        SFX(st_tail)(o + i, y, n - i);
    }
}

static VT void SFX(modulate_row)(const float *x, float *o, int64_t n, const float *sh, const float *sc) {
    const vf one = SFX(splat)(1.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) SFX(st)(o + i, SFX(ld)(x + i) * (one + SFX(ld)(sc + i)) + SFX(ld)(sh + i));
    if (i < n)
        SFX(st_tail)(o + i,
                     SFX(ld_tail)(x + i, n - i, 0.0f) * (one + SFX(ld_tail)(sc + i, n - i, 0.0f)) +
                         SFX(ld_tail)(sh + i, n - i, 0.0f),
                     n - i);
}

/* The panel is walked as one contiguous array in 16-lane blocks; block i
 * holds columns (16 i + lane) % nr, so a pattern of max(16, nr) / 16 blocks
 * repeats. A ragged end (nr = 8, odd rows) is padded with -inf. */
static VT void SFX(col_max)(const float *p, int64_t rows, int nr, float *mx) {
    const int pat = nr >= 16 ? nr / 16 : 1;
    const int64_t n = rows * nr;
    vf acc[4];
    for (int k = 0; k < pat; k++) acc[k] = SFX(splat)(-__builtin_inff());
    int64_t i = 0;
    for (int k = 0; i + 16 <= n; i += 16, k = k + 1 == pat ? 0 : k + 1) {
        const vf v = SFX(ld)(p + i);
        acc[k] = SFX(select)(v > acc[k], v, acc[k]);
    }
    if (i < n) { /* nr = 8, pat = 1 */
        const vf v = SFX(ld_tail)(p + i, n - i, -__builtin_inff());
        acc[0] = SFX(select)(v > acc[0], v, acc[0]);
    }
    if (nr >= 16)
        for (int c = 0; c < nr; c++) mx[c] = acc[c / 16][c % 16];
    else
        for (int c = 0; c < nr; c++) mx[c] = acc[0][c + 8] > acc[0][c] ? acc[0][c + 8] : acc[0][c];
}

static VT void SFX(col_exp_sum)(float *p, int64_t rows, int nr, const float *shift, float *sum) {
    const int pat = nr >= 16 ? nr / 16 : 1;
    const int64_t n = rows * nr;
    vf acc[4], sh[4];
    for (int k = 0; k < pat; k++) {
        acc[k] = SFX(splat)(0.0f);
        for (int l = 0; l < 16; l++) sh[k][l] = shift[(16 * k + l) % nr];
    }
    int64_t i = 0;
    for (int k = 0; i + 16 <= n; i += 16, k = k + 1 == pat ? 0 : k + 1) {
        const vf e = SFX(vexp)(SFX(ld)(p + i) - sh[k]);
        SFX(st)(p + i, e);
        acc[k] += e;
    }
    if (i < n) {
        const vf e = SFX(vexp)(SFX(ld_tail)(p + i, n - i, -__builtin_inff()) - sh[0]);
        SFX(st_tail)(p + i, e, n - i);
        acc[0] += e;
    }
    if (nr >= 16)
        for (int c = 0; c < nr; c++) sum[c] = acc[c / 16][c % 16];
    else
        for (int c = 0; c < nr; c++) sum[c] = acc[0][c] + acc[0][c + 8];
}

static const cpu_vec SFX(table) = {
    SFX_NAME,          SFX(unary), SFX(softmax_row), SFX(row_max),   SFX(exp_shift_sum), SFX(sum),
    SFX(sumsq),        SFX(norm_row), SFX(norm_span), SFX(scale_row), SFX(modulate_row), SFX(col_max),
    SFX(col_exp_sum),
};
