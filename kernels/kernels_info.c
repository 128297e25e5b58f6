/* kernels_info: see kernels_info.h. */
#include "kernels/kernels_info.h"

#include <omp.h>
#include <stdio.h>

#include "kernels/cpu/cpu_dnnl.h"

#ifdef FF_HAVE_OPENBLAS
#include <cblas.h>
#endif

const char *ff_kernels_cpu_info(char *buf, size_t n) {
    char dnnl[96] = "no oneDNN";
#ifdef FF_HAVE_DNNL
    cpu_dnnl_describe(dnnl, sizeof dnnl);
#endif
#ifdef FF_HAVE_OPENBLAS
    snprintf(buf, n, "%s, OpenBLAS (%s, core %s), OpenMP %d threads", dnnl, openblas_get_config(),
             openblas_get_corename(), omp_get_max_threads());
#else
    snprintf(buf, n, "%s, built-in GEMM (no OpenBLAS), OpenMP %d threads", dnnl, omp_get_max_threads());
#endif
    return buf;
}

#ifdef FF_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

const char *ff_kernels_cuda_info(char *buf, size_t n) {
    int rt = 0, drv = 0, cb_maj = 0, cb_min = 0, cb_pat = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv); /* 0 when no driver is loaded */
    cublasGetProperty(MAJOR_VERSION, &cb_maj);
    cublasGetProperty(MINOR_VERSION, &cb_min);
    cublasGetProperty(PATCH_LEVEL, &cb_pat);
    size_t k = (size_t)snprintf(buf, n, "CUDA runtime %d.%d, driver %d.%d, cuBLAS %d.%d.%d", rt / 1000,
                                (rt % 1000) / 10, drv / 1000, (drv % 1000) / 10, cb_maj, cb_min, cb_pat);
    if (k < n) snprintf(buf + k, n - k, ", cuDNN loaded at run time (see a backend's info)");
    return buf;
}
#else
const char *ff_kernels_cuda_info(char *buf, size_t n) {
    snprintf(buf, n, "not built (configure with FRAMEFARM_CUDA=ON and nvcc available)");
    return buf;
}
#endif
