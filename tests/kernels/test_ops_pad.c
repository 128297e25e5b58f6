/* test_ops_pad: ff_op_pad_replicate3d (HunyuanVideo's causal-conv padding).
 *
 * CPU: against a reference written here (every output position copies the
 * clamped input position), bit-exact, on odd shapes, zero pads, pads wider
 * than the input (torch's replicate mode allows them) and the causal pad
 * (T 2|0, H 1|1, W 1|1). Validation: rank, negative pad, wrong out shape,
 * aliasing. CUDA (when this build has it and a device is present): the same
 * cases, bit-equal to the CPU; otherwise that half prints why it did not run
 * (the CPU half still counts). */
#include <stdio.h>
#include <string.h>

#include "core/ff_compare.h"
#include "tests/kernels/ops_test_util.h"

static ff_backend *cpu, *cuda; /* cuda NULL where there is none */

static int64_t clampi(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

static void pad_case(const int64_t xs[5], const int pad[6], unsigned seed) {
    ff_err err = {0};
    const int64_t os[5] = {xs[0], xs[1], xs[2] + pad[0] + pad[1], xs[3] + pad[2] + pad[3], xs[4] + pad[4] + pad[5]};
    ff_tensor x = tt_rand(seed, -1, 1, xs, 5), out = tt_rand(seed + 1, -9, 9, os, 5); /* garbage to overwrite */
    FF_CHECK_OK(ff_op_pad_replicate3d(cpu, &x, pad, &out, &err), &err);
    double *ref = tt_ref(ff_tensor_numel(&out));
    int64_t i = 0;
    for (int64_t p = 0; p < xs[0] * xs[1]; p++)
        for (int64_t f = 0; f < os[2]; f++)
            for (int64_t h = 0; h < os[3]; h++)
                for (int64_t w = 0; w < os[4]; w++, i++) {
                    const int64_t sf = clampi(f - pad[0], xs[2]), sh = clampi(h - pad[2], xs[3]),
                                  sw = clampi(w - pad[4], xs[4]);
                    ref[i] = tt_at(&x, ((p * xs[2] + sf) * xs[3] + sh) * xs[4] + sw);
                }
    CHECK_REL(&out, ref, 0.0, "pad_replicate3d x (%lld,%lld,%lld,%lld,%lld) pad {%d,%d,%d,%d,%d,%d}",
              (long long)xs[0], (long long)xs[1], (long long)xs[2], (long long)xs[3], (long long)xs[4], pad[0],
              pad[1], pad[2], pad[3], pad[4], pad[5]);
    if (cuda) { /* the same on the device, bit-equal */
        ff_tensor dx = {0}, dout = {0}, back = tt_zeros(os, 5);
        FF_CHECK_OK(ff_be_alloc(cuda, &dx, FF_F32, 5, xs, &err), &err);
        FF_CHECK_OK(ff_be_alloc(cuda, &dout, FF_F32, 5, os, &err), &err);
        if (dx.data && dout.data) {
            FF_CHECK_OK(ff_be_upload(cuda, &dx, &x, &err), &err);
            FF_CHECK_OK(ff_op_pad_replicate3d(cuda, &dx, pad, &dout, &err), &err);
            FF_CHECK_OK(ff_be_download(cuda, &back, &dout, &err), &err);
            FF_CHECK_MSG(ff_tensor_equal(&back, &out), "cuda pad_replicate3d differs from cpu");
        }
        ff_be_free(cuda, &dx);
        ff_be_free(cuda, &dout);
        ff_tensor_free(&back);
    }
    free(ref);
    tt_free(&x, &out, NULL);
}

static void test_pad_values(void) {
    const int causal[6] = {2, 0, 1, 1, 1, 1}, none[6] = {0, 0, 0, 0, 0, 0}, wide[6] = {3, 4, 5, 2, 0, 7},
              one[6] = {1, 1, 1, 1, 1, 1};
    pad_case((const int64_t[]){1, 3, 5, 7, 9}, causal, 1);
    pad_case((const int64_t[]){2, 1, 1, 1, 1}, causal, 2);  /* a single pixel and frame */
    pad_case((const int64_t[]){1, 2, 3, 4, 5}, none, 3);
    pad_case((const int64_t[]){1, 2, 2, 3, 1}, wide, 4);    /* pads wider than the input */
    pad_case((const int64_t[]){3, 5, 4, 17, 33}, one, 5);   /* rows past a vector width */
}

static void test_pad_validation(void) {
    ff_err err = {0};
    const int causal[6] = {2, 0, 1, 1, 1, 1}, neg[6] = {-1, 0, 0, 0, 0, 0};
    ff_tensor x = tt_zeros(S(1, 2, 3, 4, 5)), good = tt_zeros(S(1, 2, 5, 6, 7)), bad = tt_zeros(S(1, 2, 5, 6, 8));
    ff_tensor x4 = tt_zeros(S(2, 3, 4, 5));
    FF_CHECK(ff_op_pad_replicate3d(cpu, &x, causal, &good, &err) == FF_OK);
    FF_CHECK(ff_op_pad_replicate3d(cpu, &x, causal, &bad, &err) == FF_ERR_SHAPE && strstr(err.msg, "pad_replicate3d"));
    FF_CHECK(ff_op_pad_replicate3d(cpu, &x, neg, &good, &err) == FF_ERR_ARG && strstr(err.msg, "pad[0]"));
    FF_CHECK(ff_op_pad_replicate3d(cpu, &x4, causal, &good, &err) != FF_OK);
    FF_CHECK(ff_op_pad_replicate3d(cpu, &x, NULL, &good, &err) == FF_ERR_ARG);
    FF_CHECK(ff_op_pad_replicate3d(cpu, &x, (const int[6]){0, 0, 0, 0, 0, 0}, &x, &err) != FF_OK); /* out == x */
    tt_free(&x, &good, &bad, &x4, NULL);
}

int main(void) {
    ff_err err = {0};
    if (ff_backend_cpu_create(0, &cpu, &err) != FF_OK) {
        fprintf(stderr, "ff_backend_cpu_create: %s\n", err.msg);
        return 1;
    }
    if (ff_backend_cuda_create(0, &cuda, &err) != FF_OK) {
        fprintf(stderr, "test_ops_pad: CUDA half not run: %s\n", err.msg);
        cuda = NULL;
    }
    FF_RUN(test_pad_values);
    FF_RUN(test_pad_validation);
    if (cuda) ff_backend_free(cuda);
    ff_backend_free(cpu);
    return ff_test_summary();
}
