/* umt5_params: ff_t5_params with F32 matrices and no slots (see umt5_params.h). */
#include "models/umt5_params.h"

ff_status ff_umt5_params(const ff_umt5_config *c, ff_param **out, size_t *n, ff_err *err) {
    return ff_t5_params(c, FF_F32, NULL, out, n, err);
}
