/* ff_test: the tiny assertion harness of framefarm's unit tests.
 *
 * A test file is a main() that calls FF_RUN(fn) for each test function and
 * returns ff_test_summary(). Checks record a failure with file:line and keep
 * going; FF_REQUIRE stops the current test function. Tests that cannot run
 * here (no golden data) call ff_test_skip() and exit 77, which ctest reports
 * as skipped, never passed. Not cmocka: the same binaries run on the lent GPU
 * machines, which have no cmocka. */
#ifndef FF_TEST_H
#define FF_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "core/ff_compare.h"
#include "core/ff_tensor.h"

typedef struct {
    int checks, failures, tests;
} ff_test_state;

extern ff_test_state ff_test_g; /* test binaries only: one per process */

#define FF_CHECK(cond)                                                                  \
    do {                                                                                \
        ff_test_g.checks++;                                                             \
        if (!(cond)) {                                                                  \
            ff_test_g.failures++;                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                               \
    } while (0)

#define FF_CHECK_MSG(cond, ...)                                                         \
    do {                                                                                \
        ff_test_g.checks++;                                                             \
        if (!(cond)) {                                                                  \
            ff_test_g.failures++;                                                       \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
        }                                                                               \
    } while (0)

#define FF_REQUIRE(cond)                                                                \
    do {                                                                                \
        ff_test_g.checks++;                                                             \
        if (!(cond)) {                                                                  \
            ff_test_g.failures++;                                                       \
            fprintf(stderr, "%s:%d: required check failed: %s\n", __FILE__, __LINE__, #cond); \
            return;                                                                     \
        }                                                                               \
    } while (0)

/* Status must be FF_OK; prints the error message otherwise. */
#define FF_CHECK_OK(expr, errp)                                                         \
    do {                                                                                \
        ff_status st__ = (expr);                                                        \
        ff_test_g.checks++;                                                             \
        if (st__ != FF_OK) {                                                            \
            ff_test_g.failures++;                                                       \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, (errp)->msg); \
        }                                                                               \
    } while (0)

#define FF_REQUIRE_OK(expr, errp)                                                       \
    do {                                                                                \
        ff_status st__ = (expr);                                                        \
        ff_test_g.checks++;                                                             \
        if (st__ != FF_OK) {                                                            \
            ff_test_g.failures++;                                                       \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, (errp)->msg); \
            return;                                                                     \
        }                                                                               \
    } while (0)

#define FF_RUN(fn)                                                                      \
    do {                                                                                \
        int before__ = ff_test_g.failures;                                              \
        ff_test_g.tests++;                                                              \
        fn();                                                                           \
        fprintf(stderr, "%s %s\n", ff_test_g.failures == before__ ? "ok  " : "FAIL", #fn); \
    } while (0)

int ff_test_summary(void);
/* Prints "SKIP: <why>" and exits 77. */
void ff_test_skip(const char *why);
/* A scratch directory for this test binary ($FF_TEST_TMP or /tmp), and a
 * path in it: returns buf. */
const char *ff_test_tmp_path(const char *name, char *buf, size_t n);
/* Fills t (F32, host) with uniform values in [lo, hi) from a fixed xorshift
 * sequence seeded by seed. */
void ff_test_fill_uniform(ff_tensor *t, unsigned seed, float lo, float hi);

#endif
