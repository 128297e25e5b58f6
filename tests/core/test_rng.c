/* Unit tests of core/ff_rng: the mt19937 stream, torch's two randn paths
 * and their generator-state consumption, randn_tensor with generator lists.
 * (The golden rng_* cases check the values against torch itself.) */
#include <math.h>
#include <string.h>

#include "core/ff_rng.h"
#include "tests/common/ff_test.h"

static void test_mt19937_reference_outputs(void) {
    ff_rng g;
    ff_rng_seed(&g, 5489); /* std::mt19937 default seed: 10000th output is 4123659995 */
    uint32_t v = 0;
    FF_CHECK(ff_rng_u32(&g) == 3499211612u);
    for (int i = 1; i < 10000; i++) v = ff_rng_u32(&g);
    FF_CHECK(v == 4123659995u);
    ff_rng_seed(&g, 0);
    FF_CHECK(ff_rng_u32(&g) == 2357136044u);
}

static void test_seed_truncates_to_32_bits(void) {
    ff_rng a, b;
    ff_rng_seed(&a, 7);
    ff_rng_seed(&b, (1ull << 32) + 7);
    for (int i = 0; i < 100; i++) FF_CHECK(ff_rng_u32(&a) == ff_rng_u32(&b));
}

static void test_torch_randn_seed0_first_values(void) {
    /* torch.manual_seed(0); torch.randn(5) -> [1.5410, -0.2934, -2.1788, 0.5684, -1.0845] */
    const float want[5] = {1.5410f, -0.2934f, -2.1788f, 0.5684f, -1.0845f};
    ff_rng g;
    float out[5];
    ff_rng_seed(&g, 0);
    ff_rng_randn(&g, out, 5);
    for (int i = 0; i < 5; i++) FF_CHECK_MSG(fabsf(out[i] - want[i]) < 1e-4f, "i=%d got %f", i, out[i]);
}

/* The scalar path caches the sine half: an odd-length draw leaves a spare
 * that the next scalar draw returns first. */
static void test_scalar_path_spare_carries_over(void) {
    ff_rng a, b;
    float one[3], two[3];
    ff_rng_seed(&a, 42);
    ff_rng_randn(&a, one, 3);
    ff_rng_seed(&b, 42);
    ff_rng_randn(&b, two, 1);
    ff_rng_randn(&b, two + 1, 2);
    FF_CHECK(memcmp(one, two, sizeof one) == 0);
}

/* The vector path consumes one 32-bit draw per element plus 16 for a ragged
 * tail, and never touches the spare. */
static void test_vector_path_state_consumption(void) {
    ff_rng a, b;
    float buf[40];
    ff_rng_seed(&a, 3);
    ff_rng_randn(&a, buf, 20); /* 20 + 16 draws */
    ff_rng_seed(&b, 3);
    for (int i = 0; i < 36; i++) ff_rng_u32(&b);
    FF_CHECK(ff_rng_u32(&a) == ff_rng_u32(&b));
    ff_rng_seed(&a, 3);
    ff_rng_randn(&a, buf, 32); /* exact multiple: 32 draws */
    ff_rng_seed(&b, 3);
    for (int i = 0; i < 32; i++) ff_rng_u32(&b);
    FF_CHECK(ff_rng_u32(&a) == ff_rng_u32(&b));
    int finite = 1;
    for (int i = 0; i < 32; i++) finite &= isfinite(buf[i]) != 0;
    FF_CHECK(finite);
}

static void test_randn_tensor_generator_list(void) {
    ff_err err = {0};
    ff_tensor t, ref;
    FF_REQUIRE_OK(ff_tensor_allocv(&t, FF_F32, &err, 3, (int64_t)2, (int64_t)4, (int64_t)5), &err);
    uint64_t seeds[2] = {5, 6};
    FF_CHECK_OK(ff_randn_tensor(&t, seeds, 2, &err), &err);
    FF_REQUIRE_OK(ff_tensor_allocv(&ref, FF_F32, &err, 1, (int64_t)20), &err);
    ff_rng g;
    ff_rng_seed(&g, 6);
    ff_rng_randn(&g, ref.data, 20);
    FF_CHECK(memcmp((float *)t.data + 20, ref.data, 20 * sizeof(float)) == 0);
    uint64_t three[3] = {1, 2, 3};
    FF_CHECK(ff_randn_tensor(&t, three, 3, &err) == FF_ERR_ARG);
    ff_tensor_free(&t);
    ff_tensor_free(&ref);
}

int main(void) {
    FF_RUN(test_mt19937_reference_outputs);
    FF_RUN(test_seed_truncates_to_32_bits);
    FF_RUN(test_torch_randn_seed0_first_values);
    FF_RUN(test_scalar_path_spare_carries_over);
    FF_RUN(test_vector_path_state_consumption);
    FF_RUN(test_randn_tensor_generator_list);
    return ff_test_summary();
}
