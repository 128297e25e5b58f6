/* ff_json: a small, bounds-checked JSON reader (RFC 8259) for config files,
 * safetensors headers, case files and job specs.
 *
 * ff_json_parse builds an immutable tree owned by one ff_json_doc; every
 * node pointer stays valid until ff_json_free. Numbers keep their source text
 * so that 64-bit integers (seeds above 2^53) are read exactly. Depth and size
 * are limited so hostile input cannot exhaust the stack. Member names are
 * NUL-terminated C strings, so a name containing \u0000 is rejected (string
 * values may contain NUL: use len). Not a writer: see
 * ff_json_write_string for the one escaping helper writers need. */
#ifndef FF_JSON_H
#define FF_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ff_err.h"

typedef enum { FF_JSON_NULL, FF_JSON_BOOL, FF_JSON_NUMBER, FF_JSON_STRING, FF_JSON_ARRAY, FF_JSON_OBJECT } ff_json_type;

typedef struct ff_json ff_json;
struct ff_json {
    ff_json_type type;
    int boolean;
    double number;       /* FF_JSON_NUMBER: value as double */
    const char *str;     /* FF_JSON_STRING: decoded UTF-8, NUL-terminated; NUMBER: source text */
    size_t len;          /* string length in bytes (may contain NUL), or child count */
    const char *key;     /* member name when inside an object, else NULL */
    ff_json *child;      /* first child (array/object) */
    ff_json *next;       /* next sibling */
    ff_json **items;     /* ARRAY with children: the children by index (len entries), so
                            ff_json_at is O(1); NULL otherwise (a node built by hand) */
};

typedef struct ff_json_doc ff_json_doc;

#define FF_JSON_MAX_DEPTH 64

/* Parses len bytes. `what` names the source in error messages
 * ("vae/config.json"). On success *doc owns the tree. */
ff_status ff_json_parse(const char *text, size_t len, const char *what, ff_json_doc **doc, ff_err *err);
/* Reads and parses a whole file (limit 64 MiB). */
ff_status ff_json_parse_file(const char *path, ff_json_doc **doc, ff_err *err);
const ff_json *ff_json_root(const ff_json_doc *doc);
void ff_json_free(ff_json_doc *doc);

/* Lookups return NULL when absent or of another kind. ff_json_get is
 * linear in the object's members (objects are small: configs, job specs);
 * ff_json_at is O(1) on parsed arrays, so walking an array of n elements
 * by index is O(n) (job files with 100k prompts). */
const ff_json *ff_json_get(const ff_json *obj, const char *key);
const ff_json *ff_json_at(const ff_json *arr, size_t i);
size_t ff_json_count(const ff_json *arr_or_obj);

/* Typed getters: return 0 and fill *out, or -1 when missing/wrong type/out of
 * range. Integers must be written without fraction or exponent. */
int ff_json_int64(const ff_json *v, int64_t *out);
int ff_json_uint64(const ff_json *v, uint64_t *out);
int ff_json_double(const ff_json *v, double *out);
int ff_json_is_null(const ff_json *v); /* also 1 when v is NULL (absent) */

/* Convenience on an object member with a default when absent or null;
 * returns -1 only when present with the wrong type. */
int ff_json_get_int64(const ff_json *obj, const char *key, int64_t dflt, int64_t *out);
int ff_json_get_double(const ff_json *obj, const char *key, double dflt, double *out);
int ff_json_get_bool(const ff_json *obj, const char *key, int dflt, int *out);
const char *ff_json_get_string(const ff_json *obj, const char *key); /* NULL if absent */

/* Writes s as a JSON string literal (quotes and escapes) to f. */
void ff_json_write_string(FILE *f, const char *s);

#endif
