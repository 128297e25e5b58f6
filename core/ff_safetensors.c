/* ff_st: see ff_safetensors.h. The header is parsed with ff_json into a
 * document that lives as long as the file: entry names and metadata strings
 * point into it. Validation happens once, in ff_st_open; afterwards every
 * accessor trusts the entry table. */
#include "ff_safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ff_json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ff_safetensors assumes a little-endian host"
#endif

struct ff_st_file {
    char *path;
    const unsigned char *map; /* whole file, PROT_READ */
    size_t map_len;
    ff_json_doc *header;
    const ff_json *meta;      /* __metadata__ object, or NULL */
    ff_st_entry *entries;     /* sorted by name */
    size_t n;
};

/* Known safetensors dtypes that framefarm does not read. */
static const char *const unsupported_dtypes[] = {"F64", "I8",     "I16",    "U16",      "U32",
                                                 "U64", "BOOL",   "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",
                                                 "F6_E2M3", "F6_E3M2", "C64", "C128"};

static ff_status fmt_err(ff_err *err, ff_status code, const char *path, const char *tensor, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* "path: tensor 'name': message" (or "path: message" without a tensor). */
static ff_status fmt_err(ff_err *err, ff_status code, const char *path, const char *tensor, const char *fmt, ...) {
    char msg[FF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (tensor) return ff_err_set(err, code, "%s: tensor '%s': %s", path, tensor, msg);
    return ff_err_set(err, code, "%s: %s", path, msg);
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const ff_st_entry *)a)->name, ((const ff_st_entry *)b)->name);
}

static int cmp_entry_span(const void *a, const void *b) {
    const ff_st_entry *x = *(const ff_st_entry *const *)a, *y = *(const ff_st_entry *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

/* The member `key` of obj; *count how often it occurs (JSON keeps duplicates). */
static const ff_json *member(const ff_json *obj, const char *key, int *count) {
    const ff_json *found = NULL;
    *count = 0;
    for (const ff_json *c = obj->child; c; c = c->next)
        if (strcmp(c->key, key) == 0) {
            found = c;
            (*count)++;
        }
    return found;
}

static ff_status parse_dtype(const char *path, const char *name, const ff_json *v, ff_dtype *dt, ff_err *err) {
    if (!v || v->type != FF_JSON_STRING) return fmt_err(err, FF_ERR_FORMAT, path, name, "\"dtype\" is not a string");
    if (ff_dtype_from_name(v->str, dt) == 0) return FF_OK;
    for (size_t i = 0; i < sizeof unsupported_dtypes / sizeof *unsupported_dtypes; i++)
        if (strcmp(v->str, unsupported_dtypes[i]) == 0)
            return fmt_err(err, FF_ERR_UNSUPPORTED, path, name,
                           "unsupported dtype %s (framefarm reads F32, F16, BF16, I32, I64, U8)", v->str);
    return fmt_err(err, FF_ERR_FORMAT, path, name, "unknown dtype \"%.40s\"", v->str);
}

static ff_status parse_entry(const char *path, const ff_json *v, uint64_t data_len, ff_st_entry *e, ff_err *err) {
    const char *name = v->key;
    e->name = name;
    if (v->type != FF_JSON_OBJECT) return fmt_err(err, FF_ERR_FORMAT, path, name, "entry is not a JSON object");
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    const ff_json *f[3];
    for (int i = 0; i < 3; i++) {
        int count;
        f[i] = member(v, fields[i], &count);
        if (count == 0) return fmt_err(err, FF_ERR_FORMAT, path, name, "missing \"%s\"", fields[i]);
        if (count > 1) return fmt_err(err, FF_ERR_FORMAT, path, name, "\"%s\" given %d times", fields[i], count);
    }
    ff_status st = parse_dtype(path, name, f[0], &e->dtype, err);
    if (st) return st;

    const ff_json *shape = f[1];
    if (shape->type != FF_JSON_ARRAY) return fmt_err(err, FF_ERR_FORMAT, path, name, "\"shape\" is not an array");
    if (shape->len > FF_MAX_DIMS)
        return fmt_err(err, FF_ERR_UNSUPPORTED, path, name, "shape has %zu dims (at most %d supported)", shape->len,
                       FF_MAX_DIMS);
    e->ndim = (int)shape->len;
    for (int i = 0; i < FF_MAX_DIMS; i++) e->shape[i] = 1;
    int i = 0;
    for (const ff_json *d = shape->child; d; d = d->next, i++) {
        int64_t x;
        if (ff_json_int64(d, &x) || x < 0)
            return fmt_err(err, FF_ERR_FORMAT, path, name, "shape[%d] is not a non-negative integer (%.40s)", i,
                           d->type == FF_JSON_NUMBER ? d->str : "not a number");
        e->shape[i] = x;
    }
    size_t nbytes;
    st = ff_shape_check(e->dtype, e->ndim, e->shape, 0, &nbytes, err);
    if (st) return fmt_err(err, st, path, name, "%s", err ? err->msg : "bad shape");
    e->nbytes = nbytes;

    const ff_json *offs = f[2];
    uint64_t b, en;
    if (offs->type != FF_JSON_ARRAY || offs->len != 2 || ff_json_uint64(offs->child, &b) ||
        ff_json_uint64(offs->child->next, &en))
        return fmt_err(err, FF_ERR_FORMAT, path, name, "\"data_offsets\" is not [begin, end] (two non-negative integers)");
    if (b > en)
        return fmt_err(err, FF_ERR_FORMAT, path, name, "data_offsets [%llu, %llu]: begin after end",
                       (unsigned long long)b, (unsigned long long)en);
    if (en - b != nbytes)
        return fmt_err(err, FF_ERR_FORMAT, path, name,
                       "data_offsets [%llu, %llu] span %llu bytes but %s%s needs %zu", (unsigned long long)b,
                       (unsigned long long)en, (unsigned long long)(en - b), ff_dtype_name(e->dtype),
                       e->ndim ? " shape" : " scalar", nbytes);
    if (en > data_len)
        return fmt_err(err, FF_ERR_FORMAT, path, name,
                       "data_offsets [%llu, %llu] go past the end of the data section (%llu bytes)",
                       (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_len);
    e->offset = b; /* made absolute by the caller */
    return FF_OK;
}

static ff_status parse_metadata(const char *path, const ff_json *m, ff_err *err) {
    if (m->type == FF_JSON_NULL) return FF_OK;
    if (m->type != FF_JSON_OBJECT) return fmt_err(err, FF_ERR_FORMAT, path, NULL, "__metadata__ is not an object");
    for (const ff_json *c = m->child; c; c = c->next)
        if (c->type != FF_JSON_STRING)
            return fmt_err(err, FF_ERR_FORMAT, path, NULL, "__metadata__ value of '%s' is not a string", c->key);
    return FF_OK;
}

/* Validates the parsed header of f (map, map_len set) and builds entries. */
static ff_status build_entries(ff_st_file *f, uint64_t hlen, ff_err *err) {
    const char *path = f->path;
    const ff_json *root = ff_json_root(f->header);
    if (root->type != FF_JSON_OBJECT) return fmt_err(err, FF_ERR_FORMAT, path, NULL, "header is not a JSON object");
    uint64_t data_start = 8 + hlen;
    uint64_t data_len = (uint64_t)f->map_len - data_start;
    size_t n = 0;
    int n_meta = 0;
    for (const ff_json *c = root->child; c; c = c->next) {
        if (strcmp(c->key, "__metadata__") == 0) {
            if (++n_meta > 1) return fmt_err(err, FF_ERR_FORMAT, path, NULL, "__metadata__ given twice");
            ff_status st = parse_metadata(path, c, err);
            if (st) return st;
            if (c->type == FF_JSON_OBJECT) f->meta = c;
        } else
            n++;
    }
    f->entries = calloc(n ? n : 1, sizeof *f->entries);
    if (!f->entries) return fmt_err(err, FF_ERR_NOMEM, path, NULL, "out of memory for %zu entries", n);
    size_t k = 0;
    for (const ff_json *c = root->child; c; c = c->next) {
        if (strcmp(c->key, "__metadata__") == 0) continue;
        ff_status st = parse_entry(path, c, data_len, &f->entries[k], err);
        if (st) return st;
        f->entries[k].offset += data_start;
        k++;
    }
    f->n = n;
    qsort(f->entries, n, sizeof *f->entries, cmp_entry_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(f->entries[i - 1].name, f->entries[i].name) == 0)
            return fmt_err(err, FF_ERR_FORMAT, path, f->entries[i].name, "name appears twice in the header");

    /* Overlap: sort the non-empty spans by start; each must end before the next begins. */
    const ff_st_entry **span = malloc((n ? n : 1) * sizeof *span);
    if (!span) return fmt_err(err, FF_ERR_NOMEM, path, NULL, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (f->entries[i].nbytes) span[m++] = &f->entries[i];
    qsort(span, m, sizeof *span, cmp_entry_span);
    ff_status st = FF_OK;
    for (size_t i = 1; i < m; i++)
        if (span[i - 1]->offset + span[i - 1]->nbytes > span[i]->offset) {
            st = fmt_err(err, FF_ERR_FORMAT, path, span[i]->name,
                         "data [%llu, %llu) overlaps tensor '%s' [%llu, %llu)",
                         (unsigned long long)(span[i]->offset - data_start),
                         (unsigned long long)(span[i]->offset - data_start + span[i]->nbytes), span[i - 1]->name,
                         (unsigned long long)(span[i - 1]->offset - data_start),
                         (unsigned long long)(span[i - 1]->offset - data_start + span[i - 1]->nbytes));
            break;
        }
    free(span);
    return st;
}

void ff_st_close(ff_st_file *f) {
    if (!f) return;
    if (f->map) munmap((void *)f->map, f->map_len);
    ff_json_free(f->header);
    free(f->entries);
    free(f->path);
    free(f);
}

ff_status ff_st_open(const char *path, ff_st_file **out, ff_err *err) {
    *out = NULL;
    if (!path) return ff_err_set(err, FF_ERR_ARG, "ff_st_open: NULL path");
    ff_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", path);
    }
    ff_status st = FF_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        st = ff_err_set(err, e == ENOENT ? FF_ERR_NOT_FOUND : FF_ERR_IO, "%s: cannot open: %s", path, strerror(e));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        st = ff_err_set(err, FF_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        st = ff_err_set(err, FF_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    if (sb.st_size < 8) {
        close(fd);
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: file is %lld bytes, too short for the 8-byte header length", path,
                        (long long)sb.st_size);
        goto fail;
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        st = ff_err_set(err, FF_ERR_IO, "%s: file too large to map", path);
        goto fail;
    }
    f->map_len = (size_t)sb.st_size;
    void *p = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (p == MAP_FAILED) {
        st = ff_err_set(err, FF_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, f->map_len, strerror(map_errno));
        goto fail;
    }
    f->map = p;

    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->map[i];
    if (hlen > FF_ST_MAX_HEADER) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: header length %llu exceeds the limit of %llu bytes", path,
                        (unsigned long long)hlen, (unsigned long long)FF_ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > (uint64_t)f->map_len - 8) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: header length %llu goes past the end of the file (%zu bytes)", path,
                        (unsigned long long)hlen, f->map_len);
        goto fail;
    }
    st = ff_json_parse((const char *)f->map + 8, (size_t)hlen, path, &f->header, err);
    if (st) goto fail;
    st = build_entries(f, hlen, err);
    if (st) goto fail;
    *out = f;
    return FF_OK;
fail:
    ff_st_close(f);
    return st;
}

const char *ff_st_path(const ff_st_file *f) { return f->path; }

size_t ff_st_count(const ff_st_file *f) { return f->n; }

const ff_st_entry *ff_st_entry_at(const ff_st_file *f, size_t i) { return i < f->n ? &f->entries[i] : NULL; }

const ff_st_entry *ff_st_find(const ff_st_file *f, const char *name) {
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->entries[mid].name);
        if (c == 0) return &f->entries[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *ff_st_metadata(const ff_st_file *f, const char *key) { return f->meta ? ff_json_get_string(f->meta, key) : NULL; }

const void *ff_st_entry_data(const ff_st_file *f, const ff_st_entry *e) { return f->map + e->offset; }

static ff_status not_found(const ff_st_file *f, const char *name, ff_err *err) {
    return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no tensor '%s' (the file holds %zu tensors)", f->path, name, f->n);
}

ff_status ff_st_view(const ff_st_file *f, const char *name, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    const ff_st_entry *e = ff_st_find(f, name);
    if (!e) return not_found(f, name, err);
    const unsigned char *p = f->map + e->offset;
    if (e->nbytes && (uintptr_t)p % ff_dtype_size(e->dtype) != 0)
        return fmt_err(err, FF_ERR_FORMAT, f->path, name,
                       "%s data at file offset %llu is not %zu-byte aligned (use ff_st_load)", ff_dtype_name(e->dtype),
                       (unsigned long long)e->offset, ff_dtype_size(e->dtype));
    ff_tensor_view(out, e->dtype, e->ndim, e->shape, (void *)p, FF_LOC_HOST);
    return FF_OK;
}

/* Gives the mapping's pages under [p, p + n) back once they are copied, so
 * that loading a model does not hold the file and its copy in memory at
 * the same time (the pages stay in the page cache; a later read of the
 * mapping faults them in again, unchanged: the mapping is read-only). */
static void drop_mapped(const void *p, size_t n) {
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = ((uintptr_t)p + pg - 1) / pg * pg, b = ((uintptr_t)p + n) / pg * pg; /* whole pages only */
    if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

ff_status ff_st_load(const ff_st_file *f, const char *name, ff_dtype as, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    const ff_st_entry *e = ff_st_find(f, name);
    if (!e) return not_found(f, name, err);
    int widen = as == FF_F32 && (e->dtype == FF_F16 || e->dtype == FF_BF16);
    if (as != e->dtype && !widen)
        return fmt_err(err, FF_ERR_UNSUPPORTED, f->path, name, "cannot load %s data as %s (only F16/BF16 -> F32)",
                       ff_dtype_name(e->dtype), ff_dtype_name(as));
    ff_status st = ff_tensor_alloc(out, as, e->ndim, e->shape, err);
    if (st) return fmt_err(err, st, f->path, name, "%s", err ? err->msg : "cannot allocate");
    const unsigned char *src = f->map + e->offset;
    if (!widen) {
        if (e->nbytes) memcpy(out->data, src, (size_t)e->nbytes);
    } else {
        float *dst = out->data;
        size_t n = (size_t)(e->nbytes / 2);
        for (size_t i = 0; i < n; i++) { /* memcpy: the source may be misaligned */
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = e->dtype == FF_F16 ? ff_f16_to_f32(h) : ff_bf16_to_f32(h);
        }
    }
    drop_mapped(src, (size_t)e->nbytes);
    return FF_OK;
}

/* ---- writer ---------------------------------------------------------- */

static int cmp_item_name(const void *a, const void *b) {
    return strcmp((*(const ff_st_item *const *)a)->name, (*(const ff_st_item *const *)b)->name);
}

static ff_status check_items(const char *path, const ff_st_item **sorted, size_t n, const char *const *meta,
                             size_t n_meta, size_t *nbytes, ff_err *err) {
    for (size_t i = 0; i < n; i++) {
        const ff_st_item *it = sorted[i];
        const ff_tensor *t = it->tensor;
        if (strcmp(it->name, "__metadata__") == 0)
            return ff_err_set(err, FF_ERR_ARG, "%s: \"__metadata__\" cannot be a tensor name", path);
        if (i && strcmp(sorted[i - 1]->name, it->name) == 0)
            return ff_err_set(err, FF_ERR_ARG, "%s: tensor '%s' given twice", path, it->name);
        if (!t) return ff_err_set(err, FF_ERR_ARG, "%s: tensor '%s': NULL tensor", path, it->name);
        if (t->loc != FF_LOC_HOST)
            return ff_err_set(err, FF_ERR_ARG, "%s: tensor '%s': not on the host", path, it->name);
        ff_status st = ff_shape_check(t->dtype, t->ndim, t->shape, 0, &nbytes[i], err);
        if (st) return fmt_err(err, FF_ERR_ARG, path, it->name, "%s", err ? err->msg : "bad shape");
        if (nbytes[i] && !t->data) return ff_err_set(err, FF_ERR_ARG, "%s: tensor '%s': NULL data", path, it->name);
    }
    for (size_t i = 0; i < n_meta; i++) {
        if (!meta[2 * i] || !meta[2 * i + 1])
            return ff_err_set(err, FF_ERR_ARG, "%s: metadata pair %zu has a NULL key or value", path, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(meta[2 * j], meta[2 * i]) == 0)
                return ff_err_set(err, FF_ERR_ARG, "%s: metadata key '%s' given twice", path, meta[2 * i]);
    }
    return FF_OK;
}

/* Builds the padded JSON header into a malloc'd buffer. */
static ff_status build_header(const char *path, const ff_st_item **sorted, const size_t *nbytes, size_t n,
                              const char *const *meta, size_t n_meta, char **out, size_t *out_len, ff_err *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "%s: cannot build the header", path);
    fputc('{', m);
    if (n_meta) {
        fputs("\"__metadata__\":{", m);
        for (size_t i = 0; i < n_meta; i++) {
            if (i) fputc(',', m);
            ff_json_write_string(m, meta[2 * i]);
            fputc(':', m);
            ff_json_write_string(m, meta[2 * i + 1]);
        }
        fputc('}', m);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const ff_tensor *t = sorted[i]->tensor;
        if (i || n_meta) fputc(',', m);
        ff_json_write_string(m, sorted[i]->name);
        fprintf(m, ":{\"dtype\":\"%s\",\"shape\":[", ff_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) fprintf(m, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        fprintf(m, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                (unsigned long long)(off + nbytes[i]));
        off += nbytes[i];
    }
    fputc('}', m);
    int bad = ferror(m);
    if (fclose(m) != 0 || bad || !buf) {
        free(buf);
        return ff_err_set(err, FF_ERR_NOMEM, "%s: cannot build the header", path);
    }
    size_t padded = (len + 7) & ~(size_t)7;
    char *p = realloc(buf, padded ? padded : 8);
    if (!p) {
        free(buf);
        return ff_err_set(err, FF_ERR_NOMEM, "%s: cannot build the header", path);
    }
    memset(p + len, ' ', padded - len);
    *out = p;
    *out_len = padded;
    return FF_OK;
}

static ff_status write_all(FILE *fp, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, fp) == n ? FF_OK : FF_ERR_IO; }

ff_status ff_st_write(const char *path, const ff_st_item *items, size_t n, const char *const *meta, size_t n_meta,
                      ff_err *err) {
    if (!path || (n && !items) || (n_meta && !meta))
        return ff_err_set(err, FF_ERR_ARG, "ff_st_write: NULL path, items or metadata");
    for (size_t i = 0; i < n; i++)
        if (!items[i].name) return ff_err_set(err, FF_ERR_ARG, "%s: item %zu has no name", path, i);
    const ff_st_item **sorted = malloc((n ? n : 1) * sizeof *sorted);
    size_t *nbytes = malloc((n ? n : 1) * sizeof *nbytes);
    char *header = NULL, *tmp = NULL;
    FILE *fp = NULL;
    ff_status st = FF_OK;
    if (!sorted || !nbytes) {
        st = ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) sorted[i] = &items[i];
    qsort(sorted, n, sizeof *sorted, cmp_item_name);
    st = check_items(path, sorted, n, meta, n_meta, nbytes, err);
    if (st) goto done;
    size_t hlen = 0;
    st = build_header(path, sorted, nbytes, n, meta, n_meta, &header, &hlen, err);
    if (st) goto done;
    if ((uint64_t)hlen > FF_ST_MAX_HEADER) {
        st = ff_err_set(err, FF_ERR_ARG, "%s: header of %zu bytes exceeds the limit", path, hlen);
        goto done;
    }
    if (asprintf(&tmp, "%s.tmp", path) < 0) {
        tmp = NULL;
        st = ff_err_set(err, FF_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    fp = fopen(tmp, "wb");
    if (!fp) {
        st = ff_err_set(err, FF_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    st = write_all(fp, len8, 8);
    if (!st) st = write_all(fp, header, hlen);
    for (size_t i = 0; i < n && !st; i++) st = write_all(fp, sorted[i]->tensor->data, nbytes[i]);
    if (!st && (fflush(fp) != 0 || fsync(fileno(fp)) != 0)) st = FF_ERR_IO;
    int e = errno;
    if (fclose(fp) != 0 && !st) {
        e = errno;
        st = FF_ERR_IO;
    }
    fp = NULL;
    if (st) {
        st = ff_err_set(err, FF_ERR_IO, "%s: write failed: %s", tmp, strerror(e));
        goto done;
    }
    if (rename(tmp, path) != 0) {
        st = ff_err_set(err, FF_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        goto done;
    }
done:
    if (st && tmp) unlink(tmp);
    free(tmp);
    free(header);
    free(nbytes);
    free(sorted);
    return st;
}
