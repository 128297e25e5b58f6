/* cuda_stub: the CUDA backend's two entry points in a build without CUDA.
 *
 * CMake compiles this file instead of kernels/cuda/ when no nvcc was found or
 * FRAMEFARM_CUDA=OFF, so that kernels/ops.c links the same way in every
 * build and a request for the CUDA backend fails with one clear sentence.
 * Not here: anything that touches a GPU. */
#include <stdio.h>

#include "kernels/backend_impl.h"

ff_status ff_cuda_backend_init(ff_backend *be, int device, ff_err *err) {
    (void)be;
    (void)device;
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "built without CUDA (configure with FRAMEFARM_CUDA=ON)");
}

int ff_cuda_describe_devices(char *buf, size_t n) {
    if (buf && n) snprintf(buf, n, "no CUDA device: built without CUDA");
    return 0;
}
