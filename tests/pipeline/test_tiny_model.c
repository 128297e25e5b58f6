/* The embedded smoke-test model: the folder it writes loads with every
 * strict loader (tokenizer, UMT5, transformer, VAE, the pipeline), the same
 * version writes the same bytes, its spiece.model tokenizes as Debian's
 * spm_encode does (when installed), and creation never replaces a folder it
 * did not write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/spm_model.h"
#include "models/tokenizer.h"
#include "models/umt5.h"
#include "models/wan_transformer.h"
#include "models/wan_vae.h"
#include "pipeline/tiny_model.h"
#include "pipeline/chain.h"
#include "tests/common/ff_test.h"

static char g_dir[4200], g_dir2[4200];

static int read_file(const char *path, char **buf, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)len + 1);
    *n = *buf && fread(*buf, 1, (size_t)len, f) == (size_t)len ? (size_t)len : 0;
    fclose(f);
    return *buf && *n == (size_t)len ? 0 : -1;
}

static void test_create_and_load(void) {
    ff_err err = {0};
    FF_REQUIRE_OK(ff_tiny_model_create(FF_TINY_DEFAULT, g_dir, 0, &err), &err);
    FF_CHECK(ff_tiny_model_current(FF_TINY_DEFAULT, g_dir));
    char p[4400];
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_tok *tok = NULL;
    snprintf(p, sizeof p, "%s/tokenizer", g_dir);
    FF_CHECK_OK(ff_tok_load(p, &tok, &err), &err);
    ff_umt5 *te = NULL;
    snprintf(p, sizeof p, "%s/text_encoder", g_dir);
    FF_CHECK_OK(ff_umt5_load(be, p, &te, &err), &err);
    if (tok && te) FF_CHECK(ff_tok_len(tok) <= ff_umt5_get_config(te)->vocab_size);
    ff_wandit_model *dit = NULL;
    snprintf(p, sizeof p, "%s/transformer", g_dir);
    FF_CHECK_OK(ff_wandit_load(p, &dit, &err), &err); /* strict: no missing or unexpected tensor */
    ff_vae *vae = NULL;
    FF_CHECK_OK(ff_wanvae_load(be, g_dir, &vae, &err), &err);
    ff_chain *pl = NULL;
    FF_CHECK_OK(ff_chain_open(be, g_dir, NULL, NULL, &pl, &err), &err);
    ff_chain_close(pl);
    ff_wanvae_free(vae);
    ff_wandit_free(dit);
    ff_umt5_free(te);
    ff_tok_free(tok);
    ff_backend_free(be);
}

static void test_tokenizer(void) {
    ff_err err = {0};
    char p[4400];
    ff_tok *tok = NULL;
    snprintf(p, sizeof p, "%s/tokenizer", g_dir);
    FF_REQUIRE_OK(ff_tok_load(p, &tok, &err), &err);
    FF_CHECK(ff_tok_pad_id(tok) == 0 && ff_tok_eos_id(tok) == 1 && ff_tok_unk_id(tok) == 3);
    const char *texts[1] = {"A cat and a dog, caf\xc3\xa9."};
    ff_tensor ids = {0}, mask = {0};
    FF_REQUIRE_OK(ff_tok_batch(tok, texts, 1, 16, &ids, &mask, &err), &err);
    const int64_t *id = ids.data;
    /* whole words are single pieces; unknown characters are <unk>; </s> then padding */
    const char *want[] = {"\xe2\x96\x81" "A", "\xe2\x96\x81" "cat", "\xe2\x96\x81" "and", "\xe2\x96\x81" "a",
                          "\xe2\x96\x81" "dog", ",", "\xe2\x96\x81" "c", "a", "f", "<unk>", ".", "</s>", "<pad>"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t len = 0;
        const char *s = ff_tok_id_to_token(tok, id[i], &len);
        FF_CHECK_MSG(s && len == strlen(want[i]) && !memcmp(s, want[i], len), "token %zu: got '%.*s', want '%s'", i,
                     (int)len, s ? s : "", want[i]);
    }
    FF_CHECK(((int64_t *)mask.data)[11] == 1 && ((int64_t *)mask.data)[12] == 0);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_tok_free(tok);
}

static void test_spm_encode_agrees(void) {
    if (system("command -v spm_encode >/dev/null 2>&1") != 0) {
        fprintf(stderr, "spm_encode not installed: cross-check not run\n");
        return;
    }
    static const char *const prompts[] = {
        "A cat and a dog baking a cake together in a kitchen.", "Two horses gallop   across an open plain!",
        "  leading and trailing  ", "unknown \xe6\x9d\xb1\xe4\xba\xac and caf\xc3\xa9 text 123 #tag @you", "walking quickly",
        "UPPER lower MiXeD", ""};
    const size_t n = sizeof prompts / sizeof prompts[0];
    char in[4096], outp[4096], model[4400], cmd[13000];
    ff_test_tmp_path("tiny_spm_in.txt", in, sizeof in);
    ff_test_tmp_path("tiny_spm_out.txt", outp, sizeof outp);
    snprintf(model, sizeof model, "%s/tokenizer/spiece.model", g_dir);
    FILE *f = fopen(in, "w");
    FF_REQUIRE(f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s\n", prompts[i]);
    fclose(f);
    snprintf(cmd, sizeof cmd, "spm_encode --model='%s' --output_format=id < '%s' > '%s'", model, in, outp);
    FF_REQUIRE(system(cmd) == 0);
    ff_err err = {0};
    ff_spm *m = NULL;
    FF_REQUIRE_OK(ff_spm_load(model, &m, &err), &err);
    f = fopen(outp, "r");
    FF_REQUIRE(f);
    char line[8192];
    for (size_t i = 0; i < n && fgets(line, sizeof line, f); i++) {
        ff_spm_encoding e;
        FF_REQUIRE_OK(ff_spm_encode(m, prompts[i], strlen(prompts[i]), &e, &err), &err);
        char ours[8192] = "";
        for (size_t k = 0; k < e.n; k++)
            snprintf(ours + strlen(ours), sizeof ours - strlen(ours), "%s%d", k ? " " : "", e.tokens[k].id);
        line[strcspn(line, "\n")] = 0;
        FF_CHECK_MSG(!strcmp(ours, line), "prompt %zu: ours '%s', spm_encode '%s'", i, ours, line);
        ff_spm_encoding_free(&e);
    }
    fclose(f);
    ff_spm_free(m);
}

static void test_reproducible(void) {
    ff_err err = {0};
    FF_REQUIRE_OK(ff_tiny_model_create(FF_TINY_DEFAULT, g_dir2, 0, &err), &err);
    const char *files[] = {"model_index.json", "tokenizer/spiece.model", "text_encoder/model.safetensors",
                           "transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[4400], b[4400], *da = NULL, *db = NULL;
        size_t na = 0, nb = 0;
        snprintf(a, sizeof a, "%s/%s", g_dir, files[i]);
        snprintf(b, sizeof b, "%s/%s", g_dir2, files[i]);
        FF_CHECK(read_file(a, &da, &na) == 0 && read_file(b, &db, &nb) == 0);
        FF_CHECK_MSG(na == nb && da && db && !memcmp(da, db, na), "%s differs between two writes", files[i]);
        free(da);
        free(db);
    }
}

static void test_refuses_foreign_folders(void) {
    ff_err err = {0};
    char dir[4096], file[4200];
    ff_test_tmp_path("tiny_foreign", dir, sizeof dir);
    snprintf(file, sizeof file, "%s/keep.txt", dir);
    mkdir(dir, 0755);
    FILE *f = fopen(file, "w");
    FF_REQUIRE(f);
    fputs("keep", f);
    fclose(f);
    FF_CHECK(ff_tiny_model_create(FF_TINY_DEFAULT, dir, 1, &err) == FF_ERR_ARG);
    struct stat sb;
    FF_CHECK(stat(file, &sb) == 0);
    /* an existing tiny model: only with replace; ensure leaves a current one alone */
    FF_CHECK(ff_tiny_model_create(FF_TINY_DEFAULT, g_dir, 0, &err) == FF_ERR_ARG);
    FF_CHECK_OK(ff_tiny_model_create(FF_TINY_DEFAULT, g_dir, 1, &err), &err);
    int created = -1;
    FF_CHECK_OK(ff_tiny_model_ensure(FF_TINY_DEFAULT, g_dir, &created, &err), &err);
    FF_CHECK(created == 0);
    unlink(file);
    rmdir(dir);
}

int main(void) {
    char base[4096];
    ff_test_tmp_path("tiny_model_test", base, sizeof base);
    snprintf(g_dir, sizeof g_dir, "%s/a/tiny", base);
    snprintf(g_dir2, sizeof g_dir2, "%s/b/tiny", base);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) return 1;
    FF_RUN(test_create_and_load);
    FF_RUN(test_tokenizer);
    FF_RUN(test_spm_encode_agrees);
    FF_RUN(test_reproducible);
    FF_RUN(test_refuses_foreign_folders);
    int rc = ff_test_summary();
    if (!rc && system(cmd) != 0) return 1;
    return rc;
}
