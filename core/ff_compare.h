/* ff_compare: relative L2 distance between tensors, as the golden README
 * defines it; shared by unit tests, golden tests and the golden runner. */
#ifndef FF_COMPARE_H
#define FF_COMPARE_H

#include "ff_tensor.h"

/* ||out - ref||_2 / ||ref||_2 over all elements in double precision (the
 * plain norm of out when ref is all zero). Both host tensors of any float or
 * integer dtype with the same numel; returns -1 when numel differs. NaN in
 * out gives +inf. */
double ff_rel_l2(const ff_tensor *out, const ff_tensor *ref);

/* 1 when both have the same numel and every element is equal (as doubles). */
int ff_tensor_equal(const ff_tensor *a, const ff_tensor *b);

#endif
