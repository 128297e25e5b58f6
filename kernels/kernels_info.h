/* kernels_info: what the kernels were built with, for `framefarm doctor`. */
#ifndef FF_KERNELS_INFO_H
#define FF_KERNELS_INFO_H

#include <stddef.h>

/* "oneDNN 2.6.3 (cpu isa ...)" or "no oneDNN", then "OpenBLAS 0.3.21
 * (OPENMP, Haswell, 2 threads)" or "built-in GEMM (no OpenBLAS)", plus the
 * OpenMP thread count; returns buf. */
const char *ff_kernels_cpu_info(char *buf, size_t n);
/* "CUDA runtime 13.0, cuBLAS 13.x, cuDNN 9.x" or "not built"; returns buf. */
const char *ff_kernels_cuda_info(char *buf, size_t n);

#endif
