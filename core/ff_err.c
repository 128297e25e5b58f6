/* ff_err: see ff_err.h. */
#include "ff_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

ff_status ff_err_set(ff_err *e, ff_status code, const char *fmt, ...) {
    if (!e) return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

ff_status ff_err_wrap(ff_err *e, const char *fmt, ...) {
    if (!e) return FF_ERR_INTERNAL;
    char prefix[FF_ERR_MSG_MAX];
    char old[FF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t k = strlen(prefix);
    while (k && (prefix[k - 1] == ' ' || prefix[k - 1] == ':')) k--; /* "what: " and "what" read the same */
    if (k > sizeof e->msg - 3) k = sizeof e->msg - 3;
    memcpy(e->msg, prefix, k);
    e->msg[k++] = ':';
    e->msg[k++] = ' ';
    size_t rest = strnlen(old, sizeof old - 1);
    if (rest > sizeof e->msg - 1 - k) rest = sizeof e->msg - 1 - k;
    memcpy(e->msg + k, old, rest);
    e->msg[k + rest] = '\0';
    return e->code;
}

void ff_err_clear(ff_err *e) {
    if (!e) return;
    e->code = FF_OK;
    e->msg[0] = '\0';
}

const char *ff_status_name(ff_status s) {
    switch (s) {
    case FF_OK: return "ok";
    case FF_ERR_IO: return "io";
    case FF_ERR_FORMAT: return "format";
    case FF_ERR_SHAPE: return "shape";
    case FF_ERR_NOMEM: return "nomem";
    case FF_ERR_ARG: return "arg";
    case FF_ERR_UNSUPPORTED: return "unsupported";
    case FF_ERR_DEVICE: return "device";
    case FF_ERR_BUDGET: return "budget";
    case FF_ERR_NOT_FOUND: return "not_found";
    case FF_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}
