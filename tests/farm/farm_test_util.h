/* Helpers shared by the farm tests (header-only: tests/<module>/test_*.c are
 * each one binary). */
#ifndef FF_FARM_TEST_UTIL_H
#define FF_FARM_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "core/ff_json.h"
#include "proto/ff_jobspec.h"
#include "proto/ff_wire.h"

/* A normalised spec from JSON text (NULL on failure, message in err). */
static inline Ff__JobSpec *ft_spec(const char *json, ff_err *err) {
    ff_json_doc *doc = NULL;
    if (ff_json_parse(json, strlen(json), "test job", &doc, err)) return NULL;
    Ff__JobSpec *s = NULL;
    ff_status st = ff_jobspec_from_json(ff_json_root(doc), "test job", &s, err);
    ff_json_free(doc);
    return st ? NULL : s;
}

#endif
