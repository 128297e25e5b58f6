/* Deterministic fuzzing of ff_st_open (label fuzz: runs under ASan+UBSan).
 *
 * Starting from valid files written by ff_st_write, and from headers built
 * with deliberate lies, thousands of inputs are written to disk and opened:
 * truncation at every length, bit flips and byte overwrites in the header and
 * its length field, JSON damage, lying offsets, huge and negative shapes,
 * wrong dtypes, overlapping spans, header lengths beyond the file. Each must
 * either fail with an error that names the file, or open into a table whose
 * every tensor lies inside the data section, with no overlaps, and whose
 * loaded bytes equal the file's bytes at that place. Fixed seeds. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ff_safetensors.h"
#include "tests/common/ff_test.h"

typedef struct {
    uint64_t s;
} rng;

static uint64_t next(rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}
static uint32_t below(rng *r, uint32_t n) { return n ? (uint32_t)((next(r) >> 11) % n) : 0; }

typedef struct {
    unsigned char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (!np) abort();
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...) {
    char t[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    put(b, t, (size_t)n < sizeof t ? (size_t)n : sizeof t - 1);
}

typedef struct {
    const char *path;
    int opened, rejected, broken;
} fuzz_ctx;

static uint64_t rd64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int cmp_u64pair(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Writes bytes to ctx->path, opens, checks the outcome. */
static void try_bytes(fuzz_ctx *ctx, const unsigned char *bytes, size_t len) {
    unlink(ctx->path); /* a fresh file: rewriting through O_TRUNC makes ext4 flush on every close */
    FILE *fp = fopen(ctx->path, "wb");
    if (!fp || (len && fwrite(bytes, 1, len, fp) != len) || fclose(fp) != 0) {
        perror(ctx->path);
        exit(1);
    }
    ff_err err = {0};
    ff_st_file *f = (ff_st_file *)&err; /* must be reset */
    ff_status st = ff_st_open(ctx->path, &f, &err);
    if (st) {
        int ok = f == NULL && err.code == st && strstr(err.msg, ctx->path) != NULL &&
                 (st == FF_ERR_FORMAT || st == FF_ERR_UNSUPPORTED || st == FF_ERR_SHAPE);
        if (!ok && ctx->broken++ < 5) fprintf(stderr, "bad failure [%s]: %s\n", ff_status_name(st), err.msg);
        ctx->rejected++;
        return;
    }
    ctx->opened++;
    int bad = 0;
    uint64_t data_start = 8 + rd64(bytes);
    size_t n = ff_st_count(f);
    uint64_t(*spans)[2] = malloc((n ? n : 1) * sizeof *spans);
    if (!spans) abort();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const ff_st_entry *e = ff_st_entry_at(f, i);
        size_t nb;
        bad |= ff_shape_check(e->dtype, e->ndim, e->shape, 0, &nb, NULL) != FF_OK || nb != e->nbytes;
        bad |= e->offset < data_start || e->offset > len || e->nbytes > len - e->offset;
        bad |= ff_st_find(f, e->name) != e;
        if (i) bad |= strcmp(ff_st_entry_at(f, i - 1)->name, e->name) >= 0;
        if (bad) break;
        if (e->nbytes) {
            spans[m][0] = e->offset;
            spans[m][1] = e->offset + e->nbytes;
            m++;
        }
        ff_tensor t;
        if (ff_st_load(f, e->name, e->dtype, &t, &err) != FF_OK) bad = 1;
        else {
            bad |= memcmp(t.data, bytes + e->offset, e->nbytes) != 0;
            ff_tensor_free(&t);
        }
        if (e->dtype == FF_F16 || e->dtype == FF_BF16) {
            if (ff_st_load(f, e->name, FF_F32, &t, &err) != FF_OK) bad = 1;
            ff_tensor_free(&t);
        }
        if (ff_st_view(f, e->name, &t, &err) == FF_OK) bad |= t.data != (const void *)ff_st_entry_data(f, e);
    }
    qsort(spans, m, sizeof *spans, cmp_u64pair);
    for (size_t i = 1; i < m; i++) bad |= spans[i - 1][1] > spans[i][0];
    free(spans);
    if (bad && ctx->broken++ < 5) fprintf(stderr, "accepted an inconsistent file (%zu bytes)\n", len);
    ff_st_close(f);
}

/* ---- base files ---------------------------------------------------------- */

static void read_file(const char *path, buf *out) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        exit(1);
    }
    unsigned char t[4096];
    size_t k;
    while ((k = fread(t, 1, sizeof t, fp)) > 0) put(out, t, k);
    fclose(fp);
}

/* Three valid files: small mixed dtypes + metadata, 6-D + zero-size, empty. */
static void make_bases(buf bases[3]) {
    ff_err err = {0};
    char path[512];
    ff_test_tmp_path("st_fuzz_base.safetensors", path, sizeof path);
    ff_tensor a, b, c, d, z, six;
    if (ff_tensor_allocv(&a, FF_F32, &err, 2, (int64_t)2, (int64_t)2) ||
        ff_tensor_allocv(&b, FF_F16, &err, 1, (int64_t)3) || ff_tensor_allocv(&c, FF_I64, &err, 1, (int64_t)2) ||
        ff_tensor_allocv(&d, FF_BF16, &err, 0) || ff_tensor_allocv(&z, FF_I32, &err, 2, (int64_t)0, (int64_t)5) ||
        ff_tensor_allocv(&six, FF_F32, &err, 6, (int64_t)1, (int64_t)2, (int64_t)1, (int64_t)2, (int64_t)1,
                         (int64_t)1)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    ff_test_fill_uniform(&a, 3, -1, 1);
    ff_test_fill_uniform(&six, 4, -1, 1);
    for (int i = 0; i < 3; i++) ((uint16_t *)b.data)[i] = (uint16_t)(0x3c00 + i);
    ((int64_t *)c.data)[0] = -1;
    ((int64_t *)c.data)[1] = 1234567890123;
    ((uint16_t *)d.data)[0] = 0x3f80;
    const char *meta[] = {"format", "pt", "k", "v"};
    ff_st_item items1[] = {{"w", &a}, {"h", &b}, {"idx", &c}, {"s", &d}};
    ff_st_item items2[] = {{"six", &six}, {"zero", &z}, {"a", &a}};
    struct {
        const ff_st_item *items;
        size_t n, n_meta;
    } spec[3] = {{items1, 4, 2}, {items2, 3, 0}, {NULL, 0, 1}};
    for (int i = 0; i < 3; i++) {
        if (ff_st_write(path, spec[i].items, spec[i].n, meta, spec[i].n_meta, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        bases[i] = (buf){0};
        read_file(path, &bases[i]);
    }
    ff_tensor *all[] = {&a, &b, &c, &d, &z, &six};
    for (int i = 0; i < 6; i++) ff_tensor_free(all[i]);
}

/* ---- the fuzz passes ---------------------------------------------------- */

static void report(const char *what, const fuzz_ctx *ctx) {
    fprintf(stderr, "  %s: %d opened, %d rejected\n", what, ctx->opened, ctx->rejected);
    FF_CHECK_MSG(ctx->broken == 0, "%s: %d inputs broke the contract", what, ctx->broken);
}

static void test_truncation_at_every_length(void) {
    char path[512];
    fuzz_ctx ctx = {ff_test_tmp_path("st_fuzz.safetensors", path, sizeof path), 0, 0, 0};
    buf bases[3];
    make_bases(bases);
    for (int b = 0; b < 3; b++) {
        for (size_t len = 0; len <= bases[b].len; len++) try_bytes(&ctx, bases[b].p, len);
        /* the same with the length field fixed up to the truncated header */
        for (size_t len = 8; len <= 8 + rd64(bases[b].p) && len <= bases[b].len; len++) {
            unsigned char *t = malloc(len);
            FF_REQUIRE(t);
            memcpy(t, bases[b].p, len);
            uint64_t h = len - 8;
            for (int i = 0; i < 8; i++) t[i] = (unsigned char)(h >> (8 * i));
            try_bytes(&ctx, t, len);
            free(t);
        }
    }
    FF_CHECK(ctx.opened >= 3); /* the untruncated bases open */
    report("truncation", &ctx);
    for (int b = 0; b < 3; b++) free(bases[b].p);
}

static const char specials[] = "{}[]\":,0123456789-.eE \\u\x00\xff";

static void test_byte_mutations(void) {
    char path[512];
    fuzz_ctx ctx = {ff_test_tmp_path("st_fuzz.safetensors", path, sizeof path), 0, 0, 0};
    buf bases[3];
    make_bases(bases);
    rng r = {0x853C49E6748FEA9Bull};
    for (int it = 0; it < 25000; it++) {
        const buf *base = &bases[below(&r, 3)];
        unsigned char *t = malloc(base->len + 64);
        FF_REQUIRE(t);
        memcpy(t, base->p, base->len);
        size_t len = base->len;
        size_t hlen = (size_t)rd64(t);
        for (uint32_t m = below(&r, 4) + 1; m; m--) {
            switch (below(&r, 6)) {
            case 0: t[below(&r, 8)] ^= (unsigned char)(1u << below(&r, 8)); break; /* length field bit */
            case 1: t[8 + below(&r, (uint32_t)hlen)] ^= (unsigned char)(1u << below(&r, 8)); break;
            case 2: t[8 + below(&r, (uint32_t)hlen)] = (unsigned char)specials[below(&r, sizeof specials - 1)]; break;
            case 3: t[below(&r, (uint32_t)len)] = (unsigned char)next(&r); break; /* anywhere */
            case 4: {                                                              /* length field value */
                static const uint64_t v[] = {0, 1, 7, 8, (uint64_t)-1, (uint64_t)1 << 63, 100u << 20, (100u << 20) + 1};
                uint64_t h = below(&r, 2) ? v[below(&r, 8)] : hlen + below(&r, 17) - 8;
                if (below(&r, 2)) h = len - 8 + below(&r, 3) - 1;
                for (int i = 0; i < 8; i++) t[i] = (unsigned char)(h >> (8 * i));
                break;
            }
            default: len = below(&r, (uint32_t)len + 1); break; /* truncate */
            }
        }
        try_bytes(&ctx, t, len);
        free(t);
    }
    report("byte mutations", &ctx);
    FF_CHECK(ctx.opened > 100 && ctx.rejected > 1000);
    for (int b = 0; b < 3; b++) free(bases[b].p);
}

/* Headers assembled from parts that are each valid or each a lie. */
static const char *const dtypes[] = {"F32", "F16", "BF16", "I32", "I64", "F64", "I8", "U8", "BOOL", "F8_E4M3", "",
                                     "f32", "F32 "};
static const size_t dsize[] = {4, 2, 2, 4, 8};

static void gen_header(rng *r, buf *h, uint64_t data_len) {
    int n = (int)below(r, 6);
    uint64_t cursor = 0;
    put(h, "{", 1);
    int first = 1;
    if (below(r, 4) == 0) {
        switch (below(r, 5)) {
        case 0: putf(h, "\"__metadata__\":{\"a\":\"b\"}"); break;
        case 1: putf(h, "\"__metadata__\":{\"a\":1}"); break;
        case 2: putf(h, "\"__metadata__\":[]"); break;
        case 3: putf(h, "\"__metadata__\":null"); break;
        default: putf(h, "\"__metadata__\":{},\"__metadata__\":{}"); break;
        }
        first = 0;
    }
    for (int i = 0; i < n; i++) {
        if (!first) put(h, ",", 1);
        first = 0;
        /* name: few choices so duplicates happen */
        putf(h, "\"t%u\":", below(r, 8));
        if (below(r, 40) == 0) {
            putf(h, below(r, 2) ? "[]" : "5");
            continue;
        }
        put(h, "{", 1);
        /* dtype */
        uint32_t di = below(r, 10) ? below(r, 5) : below(r, sizeof dtypes / sizeof *dtypes);
        int omit = (int)below(r, 30);
        if (omit != 1) {
            if (below(r, 50) == 0) putf(h, "\"dtype\":7,");
            else putf(h, "\"dtype\":\"%s\",", dtypes[di]);
        }
        /* shape */
        int ndim = below(r, 8) ? (int)below(r, 4) : (int)below(r, 9);
        uint64_t numel = 1;
        int overflow = 0;
        if (omit != 2) {
            putf(h, "\"shape\":[");
            for (int d = 0; d < ndim; d++) {
                static const char *const lies[] = {"4611686018427387904", "9223372036854775807",
                                                   "18446744073709551616", "-1", "1.5", "\"3\"", "null", "1e3",
                                                   "2147483648", "0"};
                if (below(r, 12) == 0) {
                    const char *l = lies[below(r, 10)];
                    putf(h, "%s%s", d ? "," : "", l);
                    overflow = 1;
                } else {
                    uint32_t v = below(r, 4);
                    putf(h, "%s%u", d ? "," : "", v);
                    numel *= v;
                }
            }
            putf(h, "],");
        }
        uint64_t nb = di < 5 ? numel * dsize[di] : numel;
        /* data_offsets: mostly consistent, sometimes lying */
        uint64_t b = cursor, e = cursor + nb;
        switch (below(r, 8)) {
        case 0: b = below(r, 2) ? cursor - (uint64_t)below(r, 8) : data_len + below(r, 3); e = b + nb; break;
        case 1: e = b + nb + below(r, 5) - 2; break;
        case 2: b = (uint64_t)-1 - below(r, 4); e = b + nb; break; /* wraps */
        case 3: { uint64_t tmp = b; b = e; e = tmp; } break;
        default: break;
        }
        if (omit != 3) {
            switch (below(r, 40)) {
            case 0: putf(h, "\"data_offsets\":[%llu]", (unsigned long long)b); break;
            case 1: putf(h, "\"data_offsets\":[-%llu,%llu]", (unsigned long long)b, (unsigned long long)e); break;
            case 2: putf(h, "\"data_offsets\":[%llu,%llu,0]", (unsigned long long)b, (unsigned long long)e); break;
            case 3: putf(h, "\"data_offsets\":[%llu.0,%llu]", (unsigned long long)b, (unsigned long long)e); break;
            default: putf(h, "\"data_offsets\":[%llu,%llu]", (unsigned long long)b, (unsigned long long)e); break;
            }
        } else
            putf(h, "\"x\":0");
        if (below(r, 30) == 0) putf(h, ",\"dtype\":\"F32\"");
        put(h, "}", 1);
        if (!overflow && below(r, 6)) cursor = e;
    }
    put(h, "}", 1);
}

static void test_structured_lies(void) {
    char path[512];
    fuzz_ctx ctx = {ff_test_tmp_path("st_fuzz.safetensors", path, sizeof path), 0, 0, 0};
    rng r = {0xBF58476D1CE4E5B9ull};
    for (int it = 0; it < 30000; it++) {
        uint64_t data_len = below(&r, 4) ? below(&r, 160) : 0;
        buf h = {0};
        gen_header(&r, &h, data_len);
        /* pad, or damage the JSON */
        uint32_t damage = below(&r, 10);
        if (damage == 0 && h.len > 1) h.p[below(&r, (uint32_t)h.len)] = (unsigned char)specials[below(&r, 24)];
        else if (damage == 1) h.len = below(&r, (uint32_t)h.len + 1);
        else
            while (h.len % 8) put(&h, " ", 1);
        buf file = {0};
        uint64_t hl = h.len;
        if (below(&r, 12) == 0) hl += below(&r, 2) ? data_len + 1 + below(&r, 8) : (uint64_t)0 - below(&r, 4);
        unsigned char len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hl >> (8 * i));
        put(&file, len8, 8);
        put(&file, h.p, h.len);
        for (uint64_t i = 0; i < data_len; i++) {
            unsigned char byte = (unsigned char)next(&r);
            put(&file, &byte, 1);
        }
        try_bytes(&ctx, file.p, file.len);
        free(h.p);
        free(file.p);
    }
    report("structured lies", &ctx);
    FF_CHECK(ctx.opened > 500 && ctx.rejected > 2000);
}

/* Valid layouts, then one span shifted by a few elements: overlaps and
 * out-of-range ends must be caught, shifts into gaps may pass. */
static void test_overlapping_spans(void) {
    char path[512];
    fuzz_ctx ctx = {ff_test_tmp_path("st_fuzz.safetensors", path, sizeof path), 0, 0, 0};
    rng r = {0x94D049BB133111EBull};
    int overlaps_seen = 0;
    for (int it = 0; it < 3000; it++) {
        int n = (int)below(&r, 4) + 2;
        uint64_t b[6], e[6], cursor = 0;
        for (int i = 0; i < n; i++) {
            b[i] = cursor;
            e[i] = cursor + 4 * (below(&r, 4) + 1);
            cursor = e[i];
        }
        int victim = (int)below(&r, (uint32_t)n);
        int64_t shift = 4 * ((int64_t)below(&r, 5) - 2);
        if ((int64_t)b[victim] + shift >= 0) {
            b[victim] += (uint64_t)shift;
            e[victim] += (uint64_t)shift;
        }
        int overlap = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (i != j && b[i] < e[j] && b[j] < e[i]) overlap = 1;
        int out = 0;
        for (int i = 0; i < n; i++) out |= e[i] > cursor;
        buf h = {0};
        put(&h, "{", 1);
        for (int i = 0; i < n; i++)
            putf(&h, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[%llu],\"data_offsets\":[%llu,%llu]}", i ? "," : "", i,
                 (unsigned long long)((e[i] - b[i]) / 4), (unsigned long long)b[i], (unsigned long long)e[i]);
        put(&h, "}", 1);
        buf file = {0};
        unsigned char len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
        put(&file, len8, 8);
        put(&file, h.p, h.len);
        for (uint64_t i = 0; i < cursor; i++) put(&file, "\x5a", 1);
        int before = ctx.opened;
        try_bytes(&ctx, file.p, file.len);
        int opened = ctx.opened > before;
        overlaps_seen += overlap;
        FF_CHECK_MSG(opened == !(overlap || out), "overlap=%d out=%d opened=%d: %s", overlap, out, opened,
                     (const char *)h.p);
        free(h.p);
        free(file.p);
    }
    FF_CHECK(overlaps_seen > 500);
    report("overlapping spans", &ctx);
}

int main(void) {
    FF_RUN(test_truncation_at_every_length);
    FF_RUN(test_byte_mutations);
    FF_RUN(test_structured_lies);
    FF_RUN(test_overlapping_spans);
    return ff_test_summary();
}
