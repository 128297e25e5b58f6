/* cpu_vec: the three builds of cpu_vec_body.h and the run-time choice
 * between them (see cpu_vec.h). */
#include "kernels/cpu/cpu_vec.h"

#include <string.h>

#include "kernels/ops.h"

/* The wide vectors below only pass between static functions of this file
 * (inlined), never across a library boundary: the ABI note does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

/* 16-lane logical vectors; the compiler splits them into the ISA's registers */
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef double vd __attribute__((vector_size(128)));

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FF_VEC_X86 1

#define VT __attribute__((target("avx512f")))
#define SFX(name) name##_avx512
#define SFX_NAME "avx512"
#include "kernels/cpu/cpu_vec_body.h"
#undef VT
#undef SFX
#undef SFX_NAME

#define VT __attribute__((target("avx2")))
#define SFX(name) name##_avx2
#define SFX_NAME "avx2"
#include "kernels/cpu/cpu_vec_body.h"
#undef VT
#undef SFX
#undef SFX_NAME
#endif

#define VT
#define SFX(name) name##_portable
#define SFX_NAME "portable"
#include "kernels/cpu/cpu_vec_body.h"
#undef VT
#undef SFX
#undef SFX_NAME

int cpu_vec_all(const cpu_vec **out, int max) {
    int n = 0;
#ifdef FF_VEC_X86
    __builtin_cpu_init();
    if (n < max && __builtin_cpu_supports("avx512f")) out[n++] = &table_avx512;
    if (n < max && __builtin_cpu_supports("avx2")) out[n++] = &table_avx2;
#endif
    if (n < max) out[n++] = &table_portable;
    return n;
}

const cpu_vec *cpu_vec_pick(void) {
    const cpu_vec *v[4];
    cpu_vec_all(v, 4);
    return v[0];
}
