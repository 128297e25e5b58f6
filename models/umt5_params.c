/* umt5_params: ff_t5_params in the older 2-D record (see umt5_params.h). */
#include <stdio.h>
#include <stdlib.h>

#include "models/umt5_params.h"

ff_status ff_umt5_params(const ff_umt5_config *c, ff_umt5_param **out, size_t *n, ff_err *err) {
    *out = NULL;
    *n = 0;
    ff_param *ps;
    size_t np;
    ff_status st = ff_t5_params(c, FF_F32, NULL, &ps, &np, err);
    if (st) return st;
    ff_umt5_param *p = calloc(np ? np : 1, sizeof *p);
    if (!p) {
        free(ps);
        return ff_err_set(err, FF_ERR_NOMEM, "umt5 params: no memory for %zu entries", np);
    }
    for (size_t i = 0; i < np; i++) {
        snprintf(p[i].name, sizeof p[i].name, "%s", ps[i].name);
        p[i].ndim = ps[i].ndim;
        p[i].shape[0] = ps[i].shape[0];
        p[i].shape[1] = ps[i].ndim > 1 ? ps[i].shape[1] : 1;
    }
    free(ps);
    *out = p;
    *n = np;
    return FF_OK;
}
