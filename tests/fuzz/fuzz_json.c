/* libFuzzer entry point for ff_json_parse (clang only; not a ctest test).
 * Build as tests/fuzz/fuzz_safetensors.c describes, target fuzz_json. The
 * input is parsed from an exact-size copy, so reads past the end are caught;
 * a parsed tree is walked completely. The deterministic counterpart that runs
 * in CI is tests/core/test_json_fuzz.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk(const ff_json *v) {
    size_t n = 1;
    if (v->type == FF_JSON_STRING && v->str[v->len] != '\0') abort();
    for (const ff_json *c = v->child; c; c = c->next) {
        if (v->type == FF_JSON_OBJECT && (!c->key || ff_json_get(v, c->key) == NULL)) abort();
        n += walk(c);
    }
    int64_t i;
    uint64_t u;
    (void)ff_json_int64(v, &i);
    (void)ff_json_uint64(v, &u);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    ff_err err = {0};
    ff_json_doc *doc;
    if (ff_json_parse(copy, size, "fuzz", &doc, &err) == FF_OK) {
        free(copy);
        copy = NULL;
        (void)walk(ff_json_root(doc));
        ff_json_free(doc);
    } else if (err.code != FF_ERR_FORMAT && err.code != FF_ERR_NOMEM)
        abort();
    free(copy);
    return 0;
}
