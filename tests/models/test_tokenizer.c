/* Unit tests of models/prompt (prompt_clean, html.unescape) and
 * models/tokenizer (T5Tokenizer: added tokens, truncation, </s>, padding,
 * config-less defaults). Expected strings come from Python 3.11's
 * html.unescape / re.sub; the tokenizer tests use the golden tiny tokenizer
 * (skipped with exit 77 when ../shared/golden is absent). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/prompt.h"
#include "models/tokenizer.h"
#include "tests/common/ff_test.h"

static const char *const clean_cases[][2] = {
    {"  Tom &amp; Jerry\012\012  run   fast\011 ", "Tom & Jerry run fast"},
    {"&amp;amp;", "&"},
    {"&#39;quoted&#39;", "'quoted'"},
    {"&#x41;&#X62;&#99", "Abc"},
    {"&notit; &notin;", "\302\254it; \342\210\211"},
    {"&#0;|&#128;|&#xD800;|&#1;|&#x110000;|&#99999999999999999999;",
     "\357\277\275|\342\202\254|\357\277\275||\357\277\275|\357\277\275"},
    {"&bogus; & &; &#; &#x; a&b", "&bogus; & &; &#; &#x; a&b"},
    {"a\343\200\200b\302\240c\342\200\250d\034e", "a b c d e"},
    {"&lt;tag&gt; &quot;x&quot; &nbsp;y", "<tag> \042x\042 y"},
    {"&ampfoo &amp;lt; &AMP &Eacute;t&eacute;", "&foo < & \303\211t\303\251"},
    {"caf\303\251 \346\235\261\344\272\254 \360\237\230\200", "caf\303\251 \346\235\261\344\272\254 \360\237\230\200"},
    {"&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;", "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;"},
    {"&acE; &NotEqualTilde; &thinsp;x", "\342\210\276\314\263 \342\211\202\314\270 x"},
    {"\011\012", ""},
    {"", ""},
};

static void test_prompt_clean_matches_python(void) {
    for (size_t i = 0; i < sizeof clean_cases / sizeof clean_cases[0]; i++) {
        ff_err err = {0};
        char *out = NULL;
        FF_CHECK_OK(ff_prompt_clean(clean_cases[i][0], &out, &err), &err);
        FF_CHECK_MSG(out && !strcmp(out, clean_cases[i][1]), "case %zu: got '%s' want '%s'", i, out ? out : "(null)",
                     clean_cases[i][1]);
        free(out);
    }
}

static void test_prompt_clean_rejects_bad_utf8(void) {
    ff_err err = {0};
    char *out = NULL;
    FF_CHECK(ff_prompt_clean("ab\xff", &out, &err) == FF_ERR_ARG);
    FF_CHECK(out == NULL);
    FF_CHECK(strstr(err.msg, "UTF-8") != NULL);
    FF_CHECK(ff_prompt_clean("\xed\xa0\x80", &out, &err) == FF_ERR_ARG); /* a surrogate */
}

static void test_py_isspace(void) {
    const int32_t yes[] = {9, 10, 11, 12, 13, 0x1c, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000};
    const int32_t no[] = {0, 8, 0x21, 0x200b, 0x180e, 0xfeff, 0x2581, 'a'};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) FF_CHECK_MSG(ff_tok_py_isspace(yes[i]), "U+%04X", (unsigned)yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) FF_CHECK_MSG(!ff_tok_py_isspace(no[i]), "U+%04X", (unsigned)no[i]);
}

static char tok_dir[4096];

static int have_golden(void) {
    const char *g = getenv("FF_GOLDEN");
    struct stat sb;
    if (!g) return 0;
    snprintf(tok_dir, sizeof tok_dir, "%s/pipelines/tiny-wan21/tokenizer", g);
    return stat(tok_dir, &sb) == 0;
}

static void encode(const ff_tok *t, const char *text, int64_t *ids, size_t cap, size_t *n) {
    ff_err err = {0};
    int64_t *v = NULL;
    *n = 0;
    FF_CHECK_OK(ff_tok_encode(t, text, &v, n, &err), &err);
    if (*n > cap) *n = cap;
    if (v) memcpy(ids, v, *n * sizeof *v);
    free(v);
}

static void test_golden_tokenizer_basics(void) {
    ff_err err = {0};
    ff_tok *t;
    FF_REQUIRE_OK(ff_tok_load(tok_dir, &t, &err), &err);
    FF_CHECK(ff_tok_len(t) == 264);
    FF_CHECK(ff_tok_pad_id(t) == 0 && ff_tok_eos_id(t) == 1 && ff_tok_unk_id(t) == 3);
    FF_CHECK(ff_tok_added_id(t, "<extra_id_0>", 12) == 263);
    FF_CHECK(ff_tok_added_id(t, "<extra_id_7>", 12) == 256);
    FF_CHECK(ff_tok_added_id(t, "<extra_id_8>", 12) == -1);
    size_t len;
    const char *s = ff_tok_id_to_token(t, 260, &len);
    FF_CHECK(s && len == 12 && !memcmp(s, "<extra_id_3>", 12));
    s = ff_tok_id_to_token(t, 9, &len);
    FF_CHECK(s && len == 3 && !memcmp(s, "\xe2\x96\x81", 3));
    FF_CHECK(ff_tok_id_to_token(t, 264, &len) == NULL);

    /* extra ids strip the spaces around them */
    int64_t a[64], b[64];
    size_t na, nb;
    encode(t, "a cat <extra_id_0> sleeps", a, 64, &na);
    encode(t, "a cat<extra_id_0>sleeps", b, 64, &nb);
    FF_CHECK(na == nb && na > 0 && !memcmp(a, b, na * sizeof *a));
    /* </s> in the text is the eos id itself; each side is encoded on its own */
    encode(t, "hello </s> world", a, 64, &na);
    FF_CHECK(na == 9 && a[5] == 1);
    encode(t, "hello", b, 64, &nb);
    FF_CHECK(nb == 5 && !memcmp(a, b, 5 * sizeof *a));
    /* a whitespace-only text gives no ids; unknown runs merge into one <unk> */
    encode(t, "   ", a, 64, &na);
    FF_CHECK(na == 0);
    encode(t, "\xe6\x9d\xb1\xe4\xba\xac", a, 64, &na); /* two unknown CJK characters */
    FF_CHECK(na == 2 && a[0] == 9 && a[1] == 3);
    ff_tok_free(t);
}

static void test_golden_batch_truncation_and_padding(void) {
    ff_err err = {0};
    ff_tok *t;
    FF_REQUIRE_OK(ff_tok_load(tok_dir, &t, &err), &err);
    const char *texts[] = {"", "a cat", "a very long prompt about a cat and a dog that goes on and on and on", "end </s>",
                           "x </s> </s> </s> </s> </s> </s> </s>"};
    ff_tensor ids, mask;
    const int L = 8;
    FF_REQUIRE_OK(ff_tok_batch(t, texts, 5, L, &ids, &mask, &err), &err);
    FF_CHECK(ids.dtype == FF_I64 && ids.ndim == 2 && ids.shape[0] == 5 && ids.shape[1] == L);
    const int64_t *pi = ids.data, *pm = mask.data;
    /* "" -> [</s>, pad...] */
    FF_CHECK(pi[0] == 1 && pm[0] == 1);
    for (int j = 1; j < L; j++) FF_CHECK(pi[j] == 0 && pm[j] == 0);
    /* the long prompt: 7 sentencepiece ids + </s>, all real */
    FF_CHECK(pi[2 * L + L - 1] == 1);
    for (int j = 0; j < L; j++) FF_CHECK(pm[2 * L + j] == 1);
    for (int j = 0; j < L - 1; j++) FF_CHECK(pi[2 * L + j] != 1 && pi[2 * L + j] != 0);
    /* a text that already ends with </s> gets no second one */
    int n3 = 0;
    for (int j = 0; j < L; j++) n3 += (int)pm[3 * L + j];
    FF_CHECK(n3 >= 2 && pi[3 * L + n3 - 1] == 1 && pi[3 * L + n3 - 2] != 1);
    /* truncation keeping a literal </s> last: no extra </s>, length L-1 */
    int n4 = 0;
    for (int j = 0; j < L; j++) n4 += (int)pm[4 * L + j];
    FF_CHECK_MSG(n4 == L - 1 && pi[4 * L + L - 2] == 1 && pi[4 * L + L - 1] == 0, "n4=%d", n4);
    /* the mask is a prefix of ones */
    for (int b = 0; b < 5; b++)
        for (int j = 1; j < L; j++) FF_CHECK(pm[b * L + j] <= pm[b * L + j - 1]);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    FF_CHECK(ff_tok_batch(t, texts, 1, 0, &ids, &mask, &err) == FF_ERR_ARG);
    ff_tok_free(t);
}

/* A folder with only spiece.model: T5Tokenizer's defaults (100 extra ids
 * with id = pieces - 1 + 100 - N, </s>/<unk>/<pad> from the vocabulary). */
static void test_defaults_without_configs(void) {
    char dir[4096], src[4200], dst[4200];
    ff_test_tmp_path("tok_defaults", dir, sizeof dir);
    mkdir(dir, 0755);
    snprintf(src, sizeof src, "%s/spiece.model", tok_dir);
    snprintf(dst, sizeof dst, "%s/spiece.model", dir);
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    FF_REQUIRE(in && out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) FF_CHECK(fwrite(buf, 1, n, out) == n);
    fclose(in);
    fclose(out);
    ff_err err = {0};
    ff_tok *t;
    FF_REQUIRE_OK(ff_tok_load(dir, &t, &err), &err);
    FF_CHECK(ff_tok_len(t) == 356);
    FF_CHECK(ff_tok_added_id(t, "<extra_id_0>", 12) == 355);
    FF_CHECK(ff_tok_added_id(t, "<extra_id_99>", 13) == 256);
    FF_CHECK(ff_tok_eos_id(t) == 1 && ff_tok_pad_id(t) == 0 && ff_tok_unk_id(t) == 3);
    ff_tok_free(t);
    /* a missing spiece.model is NOT_FOUND naming the path */
    remove(dst);
    FF_CHECK(ff_tok_load(dir, &t, &err) == FF_ERR_NOT_FOUND);
    FF_CHECK(strstr(err.msg, "spiece.model") != NULL);
}

int main(void) {
    FF_RUN(test_prompt_clean_matches_python);
    FF_RUN(test_prompt_clean_rejects_bad_utf8);
    FF_RUN(test_py_isspace);
    if (!have_golden()) {
        if (ff_test_summary()) return 1;
        ff_test_skip("golden tokenizer not found (FF_GOLDEN unset or ../shared/golden absent)");
    }
    FF_RUN(test_golden_tokenizer_basics);
    FF_RUN(test_golden_batch_truncation_and_padding);
    FF_RUN(test_defaults_without_configs);
    return ff_test_summary();
}
