/* ff_json: see ff_json.h. Recursive descent with an explicit depth limit;
 * nodes and decoded strings live in one arena per document. */
#include "ff_json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSON_FILE_LIMIT ((size_t)64 << 20)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    unsigned char mem[];
} arena_block;

struct ff_json_doc {
    arena_block *blocks;
    ff_json *root;
};

typedef struct {
    const char *p, *end, *begin;
    const char *what;
    ff_json_doc *doc;
    ff_err *err;
} parser;

static void *arena_alloc(ff_json_doc *d, size_t n) {
    n = (n + 15) & ~(size_t)15;
    arena_block *b = d->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = d->blocks;
        b->used = 0;
        b->cap = cap;
        d->blocks = b;
    }
    void *r = b->mem + b->used;
    b->used += n;
    return r;
}

static ff_status fail(parser *ps, const char *msg) {
    return ff_err_set(ps->err, FF_ERR_FORMAT, "%s: bad JSON at byte %zu: %s", ps->what, (size_t)(ps->p - ps->begin),
                      msg);
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static ff_json *new_node(parser *ps, ff_json_type t) {
    ff_json *n = arena_alloc(ps->doc, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->type = t;
    return n;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
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

/* Decodes the string at ps->p (opening quote) into the arena. */
static ff_status parse_string(parser *ps, const char **out, size_t *out_len) {
    ps->p++; /* opening quote */
    const char *s = ps->p;
    while (s < ps->end && *s != '"') {
        if (*s == '\\' && ++s == ps->end) break; /* never step past end */
        s++;
    }
    if (s >= ps->end) return fail(ps, "unterminated string");
    size_t raw = (size_t)(s - ps->p);
    char *o = arena_alloc(ps->doc, raw + 1); /* decoded is never longer than raw */
    if (!o) return ff_err_set(ps->err, FF_ERR_NOMEM, "%s: out of memory parsing JSON", ps->what);
    size_t k = 0;
    while (ps->p < s) {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) return fail(ps, "control character in string");
        if (c != '\\') {
            o[k++] = (char)c;
            ps->p++;
            continue;
        }
        ps->p++;
        char e = *ps->p++;
        switch (e) {
        case '"': o[k++] = '"'; break;
        case '\\': o[k++] = '\\'; break;
        case '/': o[k++] = '/'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (s - ps->p < 4 || hex4(ps->p, &cp)) return fail(ps, "bad \\u escape");
            ps->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00) { /* surrogate pair */
                unsigned lo;
                if (s - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || hex4(ps->p + 2, &lo) || lo < 0xdc00 ||
                    lo > 0xdfff)
                    return fail(ps, "unpaired surrogate");
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000)
                return fail(ps, "unpaired surrogate");
            k += put_utf8(o + k, cp); /* \uXXXX is 6 raw bytes, at most 4 out */
            break;
        }
        default: return fail(ps, "bad escape");
        }
    }
    o[k] = '\0';
    ps->p = s + 1;
    *out = o;
    *out_len = k;
    return FF_OK;
}

static ff_status parse_value(parser *ps, int depth, ff_json **out);

static ff_status parse_number(parser *ps, ff_json *n) {
    const char *s = ps->p;
    if (s < ps->end && *s == '-') s++;
    if (s >= ps->end || !(*s >= '0' && *s <= '9')) return fail(ps, "bad number");
    if (*s == '0') s++;
    else
        while (s < ps->end && *s >= '0' && *s <= '9') s++;
    if (s < ps->end && *s == '.') {
        s++;
        if (s >= ps->end || !(*s >= '0' && *s <= '9')) return fail(ps, "bad fraction");
        while (s < ps->end && *s >= '0' && *s <= '9') s++;
    }
    if (s < ps->end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < ps->end && (*s == '+' || *s == '-')) s++;
        if (s >= ps->end || !(*s >= '0' && *s <= '9')) return fail(ps, "bad exponent");
        while (s < ps->end && *s >= '0' && *s <= '9') s++;
    }
    size_t len = (size_t)(s - ps->p);
    char *txt = arena_alloc(ps->doc, len + 1);
    if (!txt) return ff_err_set(ps->err, FF_ERR_NOMEM, "%s: out of memory parsing JSON", ps->what);
    memcpy(txt, ps->p, len);
    txt[len] = '\0';
    n->str = txt;
    n->len = len;
    n->number = strtod(txt, NULL);
    ps->p = s;
    return FF_OK;
}

static int match_lit(parser *ps, const char *lit) {
    size_t l = strlen(lit);
    if ((size_t)(ps->end - ps->p) < l || memcmp(ps->p, lit, l) != 0) return 0;
    ps->p += l;
    return 1;
}

/* The children of a finished array by index (ff_json_at in O(1)). */
static ff_status index_array(parser *ps, ff_json *n) {
    if (n->len > SIZE_MAX / sizeof *n->items) return fail(ps, "array too long");
    ff_json **items = arena_alloc(ps->doc, n->len * sizeof *items);
    if (!items) return ff_err_set(ps->err, FF_ERR_NOMEM, "%s: out of memory parsing JSON", ps->what);
    size_t i = 0;
    for (ff_json *c = n->child; c; c = c->next) items[i++] = c;
    n->items = items;
    return FF_OK;
}

static ff_status parse_container(parser *ps, int depth, ff_json *n, int is_obj) {
    char close = is_obj ? '}' : ']';
    ps->p++;
    skip_ws(ps);
    ff_json **tail = &n->child;
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return FF_OK;
    }
    for (;;) {
        const char *key = NULL;
        size_t klen = 0;
        skip_ws(ps);
        if (is_obj) {
            if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "expected a member name");
            const char *kstart = ps->p;
            ff_status st = parse_string(ps, &key, &klen);
            if (st) return st;
            if (strlen(key) != klen) { /* keys are C strings: "a\u0000b" would read as "a" */
                ps->p = kstart;
                return fail(ps, "member name contains \\u0000");
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return fail(ps, "expected ':'");
            ps->p++;
        }
        ff_json *child;
        ff_status st = parse_value(ps, depth + 1, &child);
        if (st) return st;
        child->key = key;
        *tail = child;
        tail = &child->next;
        n->len++;
        skip_ws(ps);
        if (ps->p >= ps->end) return fail(ps, "unterminated container");
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            return is_obj ? FF_OK : index_array(ps, n);
        }
        return fail(ps, "expected ',' or a closing bracket");
    }
}

static ff_status parse_value(parser *ps, int depth, ff_json **out) {
    if (depth > FF_JSON_MAX_DEPTH) return fail(ps, "nested too deeply");
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, "unexpected end");
    ff_json *n = new_node(ps, FF_JSON_NULL);
    if (!n) return ff_err_set(ps->err, FF_ERR_NOMEM, "%s: out of memory parsing JSON", ps->what);
    *out = n;
    char c = *ps->p;
    switch (c) {
    case '{': n->type = FF_JSON_OBJECT; return parse_container(ps, depth, n, 1);
    case '[': n->type = FF_JSON_ARRAY; return parse_container(ps, depth, n, 0);
    case '"': n->type = FF_JSON_STRING; return parse_string(ps, &n->str, &n->len);
    case 't': n->type = FF_JSON_BOOL; n->boolean = 1; return match_lit(ps, "true") ? FF_OK : fail(ps, "bad literal");
    case 'f': n->type = FF_JSON_BOOL; return match_lit(ps, "false") ? FF_OK : fail(ps, "bad literal");
    case 'n': return match_lit(ps, "null") ? FF_OK : fail(ps, "bad literal");
    default:
        /* Python's json writes NaN, Infinity and -Infinity; accept them (configs carry them). */
        if (match_lit(ps, "NaN")) { n->type = FF_JSON_NUMBER; n->number = NAN; n->str = "NaN"; n->len = 3; return FF_OK; }
        if (match_lit(ps, "Infinity")) {
            n->type = FF_JSON_NUMBER; n->number = INFINITY; n->str = "Infinity"; n->len = 8; return FF_OK;
        }
        if (match_lit(ps, "-Infinity")) {
            n->type = FF_JSON_NUMBER; n->number = -INFINITY; n->str = "-Infinity"; n->len = 9; return FF_OK;
        }
        n->type = FF_JSON_NUMBER;
        return parse_number(ps, n);
    }
}

void ff_json_free(ff_json_doc *doc) {
    if (!doc) return;
    arena_block *b = doc->blocks;
    while (b) {
        arena_block *nx = b->next;
        free(b);
        b = nx;
    }
    free(doc);
}

ff_status ff_json_parse(const char *text, size_t len, const char *what, ff_json_doc **doc, ff_err *err) {
    *doc = NULL;
    ff_json_doc *d = calloc(1, sizeof *d);
    if (!d) return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", what);
    parser ps = {text, text + len, text, what, d, err};
    ff_status st = parse_value(&ps, 0, &d->root);
    if (!st) {
        skip_ws(&ps);
        if (ps.p != ps.end) st = fail(&ps, "trailing characters after the value");
    }
    if (st) {
        ff_json_free(d);
        return st;
    }
    *doc = d;
    return FF_OK;
}

ff_status ff_json_parse_file(const char *path, ff_json_doc **doc, ff_err *err) {
    *doc = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ff_err_set(err, errno == ENOENT ? FF_ERR_NOT_FOUND : FF_ERR_IO, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > JSON_FILE_LIMIT + 1) {
                free(buf);
                fclose(f);
                return ff_err_set(err, FF_ERR_FORMAT, "%s: JSON file larger than 64 MiB", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return ff_err_set(err, FF_ERR_IO, "%s: read error", path);
    }
    ff_status st = ff_json_parse(buf ? buf : "", len, path, doc, err);
    free(buf);
    return st;
}

const ff_json *ff_json_root(const ff_json_doc *doc) { return doc ? doc->root : NULL; }

const ff_json *ff_json_get(const ff_json *obj, const char *key) {
    if (!obj || obj->type != FF_JSON_OBJECT) return NULL;
    const ff_json *found = NULL;
    for (const ff_json *c = obj->child; c; c = c->next)
        if (strcmp(c->key, key) == 0) found = c; /* last duplicate wins, as in Python */
    return found;
}

const ff_json *ff_json_at(const ff_json *arr, size_t i) {
    if (!arr || arr->type != FF_JSON_ARRAY) return NULL;
    if (arr->items) return i < arr->len ? arr->items[i] : NULL;
    const ff_json *c = arr->child; /* a node built by hand */
    while (c && i--) c = c->next;
    return c;
}

size_t ff_json_count(const ff_json *v) {
    return v && (v->type == FF_JSON_ARRAY || v->type == FF_JSON_OBJECT) ? v->len : 0;
}

/* -?[0-9]+ : no fraction, exponent, NaN or Infinity. */
static int is_integer_text(const ff_json *v) {
    if (!v || v->type != FF_JSON_NUMBER) return 0;
    const char *s = v->str + (v->str[0] == '-');
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

int ff_json_uint64(const ff_json *v, uint64_t *out) {
    if (!is_integer_text(v) || v->str[0] == '-') return -1;
    uint64_t r = 0;
    for (const char *s = v->str; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (r > (UINT64_MAX - d) / 10) return -1;
        r = r * 10 + d;
    }
    *out = r;
    return 0;
}

int ff_json_int64(const ff_json *v, int64_t *out) {
    if (!is_integer_text(v)) return -1;
    const char *s = v->str;
    int neg = *s == '-';
    uint64_t r = 0;
    for (s += neg; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (r > (UINT64_MAX - d) / 10) return -1;
        r = r * 10 + d;
    }
    if (!neg && r > (uint64_t)INT64_MAX) return -1;
    if (neg && r > (uint64_t)INT64_MAX + 1) return -1;
    *out = neg ? (int64_t)(0 - r) : (int64_t)r;
    return 0;
}

int ff_json_double(const ff_json *v, double *out) {
    if (!v || v->type != FF_JSON_NUMBER) return -1;
    *out = v->number;
    return 0;
}

int ff_json_is_null(const ff_json *v) { return !v || v->type == FF_JSON_NULL; }

int ff_json_get_int64(const ff_json *obj, const char *key, int64_t dflt, int64_t *out) {
    const ff_json *v = ff_json_get(obj, key);
    if (ff_json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    return ff_json_int64(v, out);
}

int ff_json_get_double(const ff_json *obj, const char *key, double dflt, double *out) {
    const ff_json *v = ff_json_get(obj, key);
    if (ff_json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    return ff_json_double(v, out);
}

int ff_json_get_bool(const ff_json *obj, const char *key, int dflt, int *out) {
    const ff_json *v = ff_json_get(obj, key);
    if (ff_json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (v->type != FF_JSON_BOOL) return -1;
    *out = v->boolean;
    return 0;
}

const char *ff_json_get_string(const ff_json *obj, const char *key) {
    const ff_json *v = ff_json_get(obj, key);
    return v && v->type == FF_JSON_STRING ? v->str : NULL;
}

void ff_json_write_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}
