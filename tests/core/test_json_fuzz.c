/* Deterministic fuzzing of core/ff_json (label fuzz: runs under ASan+UBSan).
 *
 * 1. Differential round trips: random documents are written twice from the
 *    same random choices, once "fancy" (random whitespace, every escape form,
 *    surrogate pairs, upper/lower hex) and once canonical; parsing the fancy
 *    text and printing the tree canonically must give the canonical text.
 * 2. Mutations: those documents with bytes flipped, inserted, deleted,
 *    duplicated or truncated, plus random JSON-alphabet soup; every input must
 *    parse into a well-formed tree or fail with FF_ERR_FORMAT, never crash.
 * Every input is parsed from an exact-size heap buffer so that ASan sees any
 * read past its end. Fixed seeds: failures reproduce. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"
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
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) abort();
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }
static void putc_(buf *b, char c) { put(b, &c, 1); }

static void fancy_ws(rng *r, buf *f) {
    static const char ws[] = " \t\n\r";
    if (below(r, 3) == 0)
        for (uint32_t n = below(r, 3) + 1; n; n--) putc_(f, ws[below(r, 4)]);
}

static size_t utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static void hex_escape(rng *r, buf *f, uint32_t u) {
    char t[8];
    snprintf(t, sizeof t, below(r, 2) ? "\\u%04x" : "\\u%04X", u);
    puts_(f, t);
}

/* The canonical form of one string byte sequence (as the printer writes it). */
static void canon_bytes(buf *c, const char *s, size_t n) {
    putc_(c, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char t[8];
        if (ch < 0x20) {
            snprintf(t, sizeof t, "\\u%04x", ch);
            puts_(c, t);
        } else if (ch == '"') puts_(c, "\\\"");
        else if (ch == '\\') puts_(c, "\\\\");
        else putc_(c, (char)ch);
    }
    putc_(c, '"');
}

static void gen_string(rng *r, buf *f, buf *c, int is_key) {
    static const uint32_t pool[] = {'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\b', '\f', '\r', 0, 1, 0x1f,
                                    0x7f, 0xe9, 0x7ff, 0x800, 0x20ac, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000,
                                    0x1f600, 0x10ffff};
    uint32_t n = below(r, 6) == 0 ? below(r, 40) : below(r, 6);
    buf raw = {0};
    putc_(f, '"');
    for (uint32_t i = 0; i < n; i++) {
        uint32_t cp = below(r, 3) ? 'a' + below(r, 26) : pool[below(r, sizeof pool / sizeof *pool)];
        if (cp == 0 && is_key) cp = 1; /* member names cannot hold NUL (test_json checks the error) */
        char u[4];
        size_t k = utf8(u, cp);
        put(&raw, u, k);
        uint32_t how = below(r, 3);
        if (cp == '"') puts_(f, how ? "\\\"" : "\\u0022");
        else if (cp == '\\') puts_(f, how ? "\\\\" : "\\u005C");
        else if (cp == '/' && how == 0) puts_(f, "\\/");
        else if (cp < 0x20) {
            const char *sh = cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : cp == '\b' ? "\\b" : cp == '\f' ? "\\f"
                             : cp == '\r' ? "\\r" : NULL;
            if (sh && how) puts_(f, sh);
            else hex_escape(r, f, cp);
        } else if (how == 0 && cp >= 0x10000) {
            hex_escape(r, f, 0xd800 + ((cp - 0x10000) >> 10));
            hex_escape(r, f, 0xdc00 + ((cp - 0x10000) & 0x3ff));
        } else if (how == 0) hex_escape(r, f, cp);
        else put(f, u, k);
    }
    putc_(f, '"');
    canon_bytes(c, raw.p ? raw.p : "", raw.len);
    free(raw.p);
}

static void gen_number(rng *r, buf *f, buf *c) {
    char t[64];
    switch (below(r, 7)) {
    case 0: snprintf(t, sizeof t, "%llu", (unsigned long long)next(r)); break;
    case 1: snprintf(t, sizeof t, "-%llu", (unsigned long long)(next(r) >> below(r, 64))); break;
    case 2: snprintf(t, sizeof t, "%u", below(r, 10)); break;
    case 3: snprintf(t, sizeof t, "%.17g", ldexp((double)(int64_t)next(r), (int)below(r, 200) - 100)); break;
    case 4: snprintf(t, sizeof t, "%d.%03de%s%u", (int)below(r, 1000) - 500, (int)below(r, 1000),
                     below(r, 2) ? "-" : "+", below(r, 30)); break;
    case 5: snprintf(t, sizeof t, "%s", below(r, 2) ? "NaN" : below(r, 2) ? "Infinity" : "-Infinity"); break;
    default: snprintf(t, sizeof t, "123456789012345678901234567890"); break;
    }
    puts_(f, t); /* numbers keep their source text: canonical == fancy */
    puts_(c, t);
}

static void gen_value(rng *r, buf *f, buf *c, int depth) {
    uint32_t k = depth >= 12 ? below(r, 5) : below(r, 8);
    switch (k) {
    case 0: puts_(f, "null"); puts_(c, "null"); break;
    case 1: puts_(f, "true"); puts_(c, "true"); break;
    case 2: puts_(f, "false"); puts_(c, "false"); break;
    case 3: gen_number(r, f, c); break;
    case 4: gen_string(r, f, c, 0); break;
    default: {
        int obj = k == 5 || (k == 7 && below(r, 2));
        uint32_t n = below(r, 5);
        putc_(f, obj ? '{' : '[');
        putc_(c, obj ? '{' : '[');
        for (uint32_t i = 0; i < n; i++) {
            if (i) {
                fancy_ws(r, f);
                putc_(f, ',');
                putc_(c, ',');
            }
            fancy_ws(r, f);
            if (obj) {
                gen_string(r, f, c, 1);
                fancy_ws(r, f);
                putc_(f, ':');
                putc_(c, ':');
                fancy_ws(r, f);
            }
            gen_value(r, f, c, depth + 1);
        }
        fancy_ws(r, f);
        putc_(f, obj ? '}' : ']');
        putc_(c, obj ? '}' : ']');
    }
    }
}

/* Prints a parsed tree canonically and checks its invariants. */
static int print_canon(const ff_json *v, buf *c, int depth) {
    int bad = depth > FF_JSON_MAX_DEPTH;
    switch (v->type) {
    case FF_JSON_NULL: puts_(c, "null"); break;
    case FF_JSON_BOOL: puts_(c, v->boolean ? "true" : "false"); bad |= v->boolean != 0 && v->boolean != 1; break;
    case FF_JSON_NUMBER: {
        puts_(c, v->str);
        bad |= strlen(v->str) != v->len;
        uint64_t u;
        int64_t i;
        double d;
        (void)ff_json_uint64(v, &u);
        (void)ff_json_int64(v, &i);
        bad |= ff_json_double(v, &d) != 0;
        break;
    }
    case FF_JSON_STRING:
        bad |= v->str[v->len] != '\0';
        canon_bytes(c, v->str, v->len);
        break;
    case FF_JSON_ARRAY:
    case FF_JSON_OBJECT: {
        int obj = v->type == FF_JSON_OBJECT;
        putc_(c, obj ? '{' : '[');
        size_t n = 0;
        for (const ff_json *ch = v->child; ch; ch = ch->next, n++) {
            if (n) putc_(c, ',');
            if (obj) {
                if (!ch->key) return 1;
                canon_bytes(c, ch->key, strlen(ch->key));
                putc_(c, ':');
                bad |= ff_json_get(v, ch->key) == NULL;
            } else
                bad |= ch->key != NULL || ff_json_at(v, n) != ch;
            bad |= print_canon(ch, c, depth + 1);
        }
        bad |= n != v->len || ff_json_count(v) != n;
        putc_(c, obj ? '}' : ']');
        break;
    }
    default: bad = 1;
    }
    return bad;
}

/* Parses exactly n bytes from a fresh heap copy; 0 ok, 1 clean error, 2 broken. */
static int parse_checked(const char *s, size_t n, buf *canon_out) {
    char *copy = malloc(n ? n : 1);
    if (!copy) abort();
    memcpy(copy, s, n);
    ff_err err = {0};
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse(copy, n, "fuzz.json", &doc, &err);
    free(copy); /* the tree must not point into the input */
    if (st) {
        int ok = st == FF_ERR_FORMAT && doc == NULL && strstr(err.msg, "fuzz.json") != NULL;
        if (!ok) fprintf(stderr, "bad failure: %s %s\n", ff_status_name(st), err.msg);
        return ok ? 1 : 2;
    }
    buf c = {0};
    int bad = print_canon(ff_json_root(doc), &c, 0);
    ff_json_free(doc);
    if (canon_out) *canon_out = c;
    else free(c.p);
    return bad ? 2 : 0;
}

static void test_roundtrip_random_documents(void) {
    rng r = {0x9E3779B97F4A7C15ull};
    int mismatches = 0, broken = 0;
    for (int it = 0; it < 10000; it++) {
        buf f = {0}, c = {0};
        fancy_ws(&r, &f);
        gen_value(&r, &f, &c, 0);
        fancy_ws(&r, &f);
        buf got = {0};
        int res = parse_checked(f.p, f.len, &got);
        if (res != 0) {
            if (broken++ < 3) fprintf(stderr, "valid document rejected (%d): %s\n", res, f.p);
        } else if (got.len != c.len || memcmp(got.p, c.p, c.len) != 0) {
            if (mismatches++ < 3) fprintf(stderr, "round trip differs:\n in  %s\n got %s\n want %s\n", f.p, got.p, c.p);
        }
        free(got.p);
        free(f.p);
        free(c.p);
    }
    FF_CHECK_MSG(broken == 0, "%d valid documents rejected", broken);
    FF_CHECK_MSG(mismatches == 0, "%d documents decoded differently", mismatches);
}

static const char alphabet[] = "{}[]\":,\\/ u0123456789abcdefABCDEF.eE+-ntrufalsNIy\x01\x7f\xc3\xa9\xed\xa0\x80";

static void mutate(rng *r, buf *b) {
    uint32_t kind = below(r, 6);
    size_t n = b->len;
    if (n == 0) {
        putc_(b, alphabet[below(r, sizeof alphabet - 1)]);
        return;
    }
    size_t at = below(r, (uint32_t)n);
    switch (kind) {
    case 0: b->p[at] = alphabet[below(r, sizeof alphabet - 1)]; break;      /* replace */
    case 1: b->p[at] ^= (char)(1u << below(r, 8)); break;                   /* bit flip */
    case 2: memmove(b->p + at, b->p + at + 1, n - at); b->len--; break;      /* delete */
    case 3: {                                                                /* insert */
        char ch = alphabet[below(r, sizeof alphabet - 1)];
        put(b, "", 1);
        memmove(b->p + at + 1, b->p + at, n - at);
        b->p[at] = ch;
        b->len = n + 1;
        break;
    }
    case 4: b->len = at; break; /* truncate */
    default: {                  /* duplicate a chunk */
        size_t len = below(r, 16) + 1;
        if (at + len > n) len = n - at;
        char tmp[16];
        memcpy(tmp, b->p + at, len);
        put(b, tmp, len);
        break;
    }
    }
}

static void test_mutated_documents(void) {
    rng r = {0xD1B54A32D192ED03ull};
    int ok = 0, errs = 0, broken = 0;
    for (int it = 0; it < 100000; it++) {
        buf f = {0}, c = {0};
        gen_value(&r, &f, &c, 0);
        free(c.p);
        for (uint32_t m = below(&r, 4) + 1; m; m--) mutate(&r, &f);
        int res = parse_checked(f.p ? f.p : "", f.len, NULL);
        if (res == 0) ok++;
        else if (res == 1) errs++;
        else if (broken++ < 3) fprintf(stderr, "broken result for: %.*s\n", (int)f.len, f.p);
        free(f.p);
    }
    FF_CHECK_MSG(broken == 0, "%d mutated inputs gave a malformed tree or a bad error", broken);
    FF_CHECK(ok > 1000 && errs > 1000); /* both paths exercised */
    fprintf(stderr, "  mutations: %d parsed, %d rejected\n", ok, errs);
}

static void test_random_soup(void) {
    rng r = {0x2545F4914F6CDD1Dull};
    int broken = 0;
    for (int it = 0; it < 20000; it++) {
        char s[64];
        uint32_t n = below(&r, sizeof s);
        for (uint32_t i = 0; i < n; i++)
            s[i] = below(&r, 8) ? alphabet[below(&r, sizeof alphabet - 1)] : (char)below(&r, 256);
        broken += parse_checked(s, n, NULL) == 2;
    }
    FF_CHECK(broken == 0);
    /* deep nesting made of mutations of brackets */
    for (int it = 0; it < 200; it++) {
        uint32_t n = below(&r, 300);
        char *s = malloc(n + 1);
        FF_REQUIRE(s);
        for (uint32_t i = 0; i < n; i++) s[i] = "[{\"a\":]}1,"[below(&r, 10)];
        broken += parse_checked(s, n, NULL) == 2;
        free(s);
    }
    FF_CHECK(broken == 0);
}

int main(void) {
    FF_RUN(test_roundtrip_random_documents);
    FF_RUN(test_mutated_documents);
    FF_RUN(test_random_soup);
    return ff_test_summary();
}
