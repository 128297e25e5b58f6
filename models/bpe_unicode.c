/* bpe_unicode: Unicode data for the BPE tokenizers (see bpe_unicode.h).
 * NFC follows UAX #15 (decompose canonically, order marks by combining
 * class, recompose primary composites unless blocked); lower() follows
 * CPython's unicodeobject.c (full lower-case mapping, U+03A3 in the
 * Final_Sigma context becomes U+03C2). */
#include "models/bpe_unicode.h"

#include <stdlib.h>
#include <string.h>

#include "models/bpe_unicode_tables.inc"

enum { CAT_LU = 1, CAT_LL, CAT_LT, CAT_LM, CAT_LO, CAT_MN, CAT_MC, CAT_ME, CAT_ND, CAT_NL, CAT_NO };

static int cat_of(uint32_t cp) {
    if (cp >= 0x110000) return 0;
    size_t lo = 0, hi = sizeof uni_cat_runs / sizeof uni_cat_runs[0];
    while (hi - lo > 1) { /* last run starting at or before cp */
        size_t mid = (lo + hi) / 2;
        if (uni_cat_runs[mid].start <= cp) lo = mid;
        else hi = mid;
    }
    return uni_cat_runs[lo].cat;
}

const char *ff_bpe_uni_category(uint32_t cp) { return uni_cat_names[cat_of(cp)]; }

int ff_bpe_uni_is_letter(uint32_t cp) {
    int c = cat_of(cp);
    return c >= CAT_LU && c <= CAT_LO;
}

int ff_bpe_uni_is_number(uint32_t cp) {
    int c = cat_of(cp);
    return c >= CAT_ND && c <= CAT_NO;
}

int ff_bpe_uni_is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

int ff_bpe_uni_is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* ---- UTF-8 ------------------------------------------------------------------ */

ff_status ff_bpe_uni_decode(const char *s, size_t n, uint32_t **cps, size_t *ncp, ff_err *err) {
    *cps = malloc((n ? n : 1) * sizeof **cps);
    *ncp = 0;
    if (!*cps) return ff_err_set(err, FF_ERR_NOMEM, "unicode: no memory for %zu bytes", n);
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        uint32_t c = u[i], cp;
        size_t len;
        if (c < 0x80) len = 1, cp = c;
        else if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07;
        else goto bad;
        if (n - i < len) goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xc0) != 0x80) goto bad;
            cp = cp << 6 | (u[i + k] & 0x3f);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) goto bad;
        (*cps)[(*ncp)++] = cp;
        i += len;
        continue;
    bad:
        free(*cps);
        *cps = NULL;
        *ncp = 0;
        return ff_err_set(err, FF_ERR_ARG, "text is not valid UTF-8 at byte %zu", i);
    }
    return FF_OK;
}

size_t ff_bpe_uni_encode1(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- lower ------------------------------------------------------------------ */

static const struct uni_lower *lower_entry(uint32_t cp) {
    size_t lo = 0, hi = sizeof uni_lower_map / sizeof uni_lower_map[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uni_lower_map[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof uni_lower_map / sizeof uni_lower_map[0] && uni_lower_map[lo].cp == cp ? &uni_lower_map[lo] : NULL;
}

static int in_ranges(const struct uni_range *r, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r[mid].hi < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && r[lo].lo <= cp && cp <= r[lo].hi;
}

/* Cased / Case_Ignorable as CPython's lower() sees them (generated tables). */
static int is_cased(uint32_t cp) { return in_ranges(uni_cased, sizeof uni_cased / sizeof uni_cased[0], cp); }
static int is_case_ignorable(uint32_t cp) {
    return in_ranges(uni_case_ignorable, sizeof uni_case_ignorable / sizeof uni_case_ignorable[0], cp);
}

/* \p{cased}\p{case-ignorable}* U+03A3 !(\p{case-ignorable}* \p{cased}) */
static int final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(s[j - 1])) j--;
    if (j == 0 || !is_cased(s[j - 1])) return 0;
    j = i + 1;
    while (j < n && is_case_ignorable(s[j])) j++;
    return j == n || !is_cased(s[j]);
}

size_t ff_bpe_uni_lower(const uint32_t *s, size_t n, uint32_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0x3a3) {
            out[k++] = final_sigma(s, n, i) ? 0x3c2 : 0x3c3;
            continue;
        }
        const struct uni_lower *e = lower_entry(s[i]);
        if (!e) {
            out[k++] = s[i];
            continue;
        }
        out[k++] = e->l0;
        if (e->l1) out[k++] = e->l1;
    }
    return k;
}

/* ---- NFC -------------------------------------------------------------------- */

enum { S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7, L_COUNT = 19, V_COUNT = 21, T_COUNT = 28 };
#define N_COUNT (V_COUNT * T_COUNT)
#define S_COUNT (L_COUNT * N_COUNT)

static int ccc_of(uint32_t cp) {
    size_t lo = 0, hi = sizeof uni_ccc_map / sizeof uni_ccc_map[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uni_ccc_map[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof uni_ccc_map / sizeof uni_ccc_map[0] && uni_ccc_map[lo].cp == cp ? uni_ccc_map[lo].ccc : 0;
}

static const struct uni_decomp *decomp_of(uint32_t cp) {
    size_t lo = 0, hi = sizeof uni_decomp_map / sizeof uni_decomp_map[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uni_decomp_map[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof uni_decomp_map / sizeof uni_decomp_map[0] && uni_decomp_map[lo].cp == cp ? &uni_decomp_map[lo] : NULL;
}

/* The primary composite of (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    size_t lo = 0, hi = sizeof uni_comp_map / sizeof uni_comp_map[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct uni_comp *e = &uni_comp_map[mid];
        if (e->a < a || (e->a == a && e->b < b)) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof uni_comp_map / sizeof uni_comp_map[0] && uni_comp_map[lo].a == a && uni_comp_map[lo].b == b
               ? uni_comp_map[lo].c
               : 0;
}

ff_status ff_bpe_uni_nfc(const uint32_t *s, size_t n, uint32_t **out, size_t *on, ff_err *err) {
    *out = NULL;
    *on = 0;
    uint32_t *d = malloc((4 * n + 1) * sizeof *d); /* a canonical decomposition is at most 4 code points */
    if (!d) return ff_err_set(err, FF_ERR_NOMEM, "unicode: no memory for NFC of %zu code points", n);
    /* canonical decomposition */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t c = s[i];
        if (c >= S_BASE && c < S_BASE + S_COUNT) {
            const uint32_t si = c - S_BASE;
            d[k++] = L_BASE + si / N_COUNT;
            d[k++] = V_BASE + (si % N_COUNT) / T_COUNT;
            if (si % T_COUNT) d[k++] = T_BASE + si % T_COUNT;
            continue;
        }
        const struct uni_decomp *e = c < 0xC0 ? NULL : decomp_of(c);
        if (!e) {
            d[k++] = c;
            continue;
        }
        for (int j = 0; j < 4 && e->d[j]; j++) d[k++] = e->d[j];
    }
    /* canonical ordering: stable sort of each run of non-starters by class */
    for (size_t i = 1; i < k; i++) {
        const uint32_t c = d[i];
        const int cc = ccc_of(c);
        if (!cc) continue;
        size_t j = i;
        while (j > 0 && ccc_of(d[j - 1]) > cc) {
            d[j] = d[j - 1];
            j--;
        }
        d[j] = c;
    }
    /* composition: a mark joins the last starter unless a character between
     * them is a starter or has a class >= its own */
    size_t m = 0;
    long starter = -1;
    for (size_t i = 0; i < k; i++) {
        const uint32_t c = d[i];
        const int cc = ccc_of(c);
        if (starter >= 0) {
            const int last_cc = (size_t)starter == m - 1 ? -1 : ccc_of(d[m - 1]);
            const int blocked = last_cc >= 0 && (last_cc == 0 || last_cc >= cc);
            const uint32_t comp = blocked ? 0 : compose(d[starter], c);
            if (comp) {
                d[starter] = comp;
                continue;
            }
        }
        if (cc == 0) starter = (long)m;
        d[m++] = c;
    }
    *out = d;
    *on = m;
    return FF_OK;
}
