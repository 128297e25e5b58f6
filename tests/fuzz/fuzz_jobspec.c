/* libFuzzer entry point for job files (clang only; not a ctest test;
 * scripts/test.sh runs it for a bounded time on tests/fuzz/corpus/
 * fuzz_jobspec). The input is a job file as `framefarm submit` reads it:
 * JSON into ff_jobspec_from_json. An accepted spec must pass
 * ff_jobspec_check, survive a clone (pack/unpack) unchanged, and give
 * every item's output path; a refused one says why (FF_ERR_FORMAT or
 * FF_ERR_ARG, with a message). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"
#include "proto/ff_jobspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    ff_err err = {0};
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse(copy, size, "job.json", &doc, &err);
    free(copy);
    if (st) return 0;
    Ff__JobSpec *s = NULL;
    st = ff_jobspec_from_json(ff_json_root(doc), "job.json", &s, &err);
    ff_json_free(doc);
    if (st) {
        if ((st != FF_ERR_FORMAT && st != FF_ERR_ARG && st != FF_ERR_NOMEM) || !err.msg[0]) abort();
        return 0;
    }
    if (ff_jobspec_check(s, &err)) abort();
    Ff__JobSpec *c = NULL;
    if (ff_jobspec_clone(s, &c, &err)) abort();
    size_t a = ff__job_spec__get_packed_size(s), b = ff__job_spec__get_packed_size(c);
    if (a != b) abort();
    size_t items = ff_jobspec_items(s);
    char out[4200];
    for (size_t i = 0; i < items && i < 64; i++) (void)ff_jobspec_item_output(s, i, out, sizeof out, &err);
    ff_jobspec_free(c);
    ff_jobspec_free(s);
    return 0;
}
