/* Golden tests of models/umt5 + models/prompt against diffusers/transformers
 * (../shared/golden, via FF_GOLDEN; exit 77 when absent): the
 * text_encoder_forward case (UMT5EncoderModel.forward on its input_ids and
 * attention_mask) and the encode_prompt_cfg case (WanPipeline.encode_prompt
 * with a negative prompt), each within its case.json tolerance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_json.h"
#include "core/ff_safetensors.h"
#include "kernels/ops.h"
#include "models/prompt.h"
#include "models/umt5.h"
#include "tests/common/ff_test.h"

static const char *golden;

static double case_tolerance(const ff_json *root) {
    double tol = -1;
    if (ff_json_get_double(ff_json_get(root, "tolerance"), "rel_l2", -1, &tol)) tol = -1;
    return tol;
}

static void test_text_encoder_forward(void) {
    char path[4096], te_dir[4096];
    ff_err err = {0};
    ff_json_doc *doc;
    snprintf(path, sizeof path, "%s/cases/text_encoder_forward/case.json", golden);
    FF_REQUIRE_OK(ff_json_parse_file(path, &doc, &err), &err);
    double tol = case_tolerance(ff_json_root(doc));
    FF_CHECK(tol > 0);
    ff_json_free(doc);
    ff_st_file *in, *exp;
    snprintf(path, sizeof path, "%s/cases/text_encoder_forward/inputs.safetensors", golden);
    FF_REQUIRE_OK(ff_st_open(path, &in, &err), &err);
    snprintf(path, sizeof path, "%s/cases/text_encoder_forward/expected.safetensors", golden);
    FF_REQUIRE_OK(ff_st_open(path, &exp, &err), &err);
    ff_tensor ids, mask, ref, dev, out;
    FF_REQUIRE_OK(ff_st_load(in, "input_ids", FF_I64, &ids, &err), &err);
    FF_REQUIRE_OK(ff_st_load(in, "attention_mask", FF_I64, &mask, &err), &err);
    FF_REQUIRE_OK(ff_st_load(exp, "last_hidden_state", FF_F32, &ref, &err), &err);
    ff_backend *be;
    ff_umt5 *m;
    FF_REQUIRE_OK(ff_backend_cpu_create(0, &be, &err), &err);
    snprintf(te_dir, sizeof te_dir, "%s/pipelines/tiny-wan21/text_encoder", golden);
    FF_REQUIRE_OK(ff_umt5_load(be, te_dir, &m, &err), &err);
    FF_REQUIRE_OK(ff_umt5_forward(m, &ids, &mask, &dev, &err), &err);
    FF_REQUIRE_OK(ff_tensor_alloc(&out, FF_F32, dev.ndim, dev.shape, &err), &err);
    FF_REQUIRE_OK(ff_be_download(be, &out, &dev, &err), &err);
    FF_CHECK(ff_tensor_same_shape(&out, &ref));
    double r = ff_rel_l2(&out, &ref);
    fprintf(stderr, "  text_encoder_forward rel_l2 = %.3e (tolerance %.1e)\n", r, tol);
    FF_CHECK(r >= 0 && r <= tol);
    ff_be_free(be, &dev);
    ff_tensor_free(&out);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_tensor_free(&ref);
    ff_umt5_free(m);
    ff_backend_free(be);
    ff_st_close(in);
    ff_st_close(exp);
}

static void test_encode_prompt_cfg(void) {
    char path[4096], dir[4096];
    ff_err err = {0};
    ff_json_doc *doc;
    snprintf(path, sizeof path, "%s/cases/encode_prompt_cfg/case.json", golden);
    FF_REQUIRE_OK(ff_json_parse_file(path, &doc, &err), &err);
    const ff_json *root = ff_json_root(doc), *iv = ff_json_get(root, "input_values");
    double tol = case_tolerance(root);
    int64_t L = 0;
    FF_CHECK(ff_json_get_int64(ff_json_get(root, "options"), "max_sequence_length", 0, &L) == 0 && L > 0);
    const char *p = ff_json_get_string(iv, "prompt"), *n = ff_json_get_string(iv, "negative_prompt");
    FF_REQUIRE(p && n && tol > 0);
    ff_backend *be;
    ff_umt5 *m;
    ff_tok *tok;
    FF_REQUIRE_OK(ff_backend_cpu_create(0, &be, &err), &err);
    snprintf(dir, sizeof dir, "%s/pipelines/tiny-wan21/text_encoder", golden);
    FF_REQUIRE_OK(ff_umt5_load(be, dir, &m, &err), &err);
    snprintf(dir, sizeof dir, "%s/pipelines/tiny-wan21/tokenizer", golden);
    FF_REQUIRE_OK(ff_tok_load(dir, &tok, &err), &err);
    ff_prompt_request req = {&p, 1, &n, 1, 1, 1, (int)L};
    ff_prompt_embeds pe;
    FF_REQUIRE_OK(ff_prompt_encode(tok, m, &req, &pe, &err), &err);
    ff_st_file *exp;
    snprintf(path, sizeof path, "%s/cases/encode_prompt_cfg/expected.safetensors", golden);
    FF_REQUIRE_OK(ff_st_open(path, &exp, &err), &err);
    const char *names[2] = {"prompt_embeds", "negative_prompt_embeds"};
    const ff_tensor *outs[2] = {&pe.prompt_embeds, &pe.negative_prompt_embeds};
    for (int i = 0; i < 2; i++) {
        ff_tensor ref;
        FF_REQUIRE_OK(ff_st_load(exp, names[i], FF_F32, &ref, &err), &err);
        FF_CHECK(ff_tensor_same_shape(outs[i], &ref));
        double r = ff_rel_l2(outs[i], &ref);
        fprintf(stderr, "  encode_prompt_cfg %s rel_l2 = %.3e (tolerance %.1e)\n", names[i], r, tol);
        FF_CHECK(r >= 0 && r <= tol);
        ff_tensor_free(&ref);
    }
    ff_st_close(exp);
    ff_prompt_embeds_free(&pe);
    ff_tok_free(tok);
    ff_umt5_free(m);
    ff_backend_free(be);
    ff_json_free(doc);
}

int main(void) {
    golden = getenv("FF_GOLDEN");
    char probe[4096];
    struct stat sb;
    snprintf(probe, sizeof probe, "%s/cases/text_encoder_forward/case.json", golden ? golden : "");
    if (!golden || stat(probe, &sb) != 0) ff_test_skip("golden data not found (FF_GOLDEN unset or ../shared/golden absent)");
    FF_RUN(test_text_encoder_forward);
    FF_RUN(test_encode_prompt_cfg);
    return ff_test_summary();
}
