/* External check of models/spm_model against sentencepiece itself: runs
 * Debian's spm_encode --output_format=id on the golden spiece.model for a
 * list of UTF-8 prompts (accents, CJK, emoji, full-width forms, ligatures,
 * combining marks, odd whitespace, control characters) and compares the ids
 * with ff_spm_encode. Skipped (exit 77) when spm_encode (apt package
 * "sentencepiece") or the golden data is absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/spm_model.h"
#include "tests/common/ff_test.h"

static const char *const prompts[] = {
    "A cat and a dog baking a cake together in a kitchen.",
    "naive cafe: na\xc3\xafve caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac Z\xc3\xbcrich",
    "Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e, pi\xc3\xb1" "a colada, \xc3\x85ngstr\xc3\xb6m, \xc3\x98resund, stra\xc3\x9f" "e",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88\xe3\x80\x81\xe4\xb8\xad\xe6\x96\x87\xe3\x80\x82\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
    "emoji \xf0\x9f\x98\x80\xf0\x9f\x8e\x89\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd and flags \xf0\x9f\x87\xab\xf0\x9f\x87\xb7",
    "\xef\xbc\xa6\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c\xe3\x80\x80\xef\xbd\x97\xef\xbd\x89\xef\xbd\x84\xef\xbd\x94\xef\xbd\x88 \xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x81",
    "\xe2\x91\xa0 \xe2\x91\xb3 \xef\xac\x81 \xef\xac\x82 \xe3\x8e\x8f \xe3\x8e\xa1 \xe2\x84\xab \xe2\x84\xa6 \xe2\x85\xab \xc2\xbd x\xc2\xb2",
    "e\xcc\x81 a\xcc\x88 n\xcc\x83 cafe\xcc\x81 \xef\xbe\x8a\xef\xbe\x9f\xef\xbe\x9d \xef\xbd\xb6\xef\xbe\x9e",
    "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac \xd0\xa0\xd1\x83\xd1\x81\xd1\x81\xd0\xba\xd0\xb8\xd0\xb9 \xd8\xa7\xd9\x84\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\xd8\xa9 \xd7\xa2\xd7\x91\xd7\xa8\xd7\x99\xd7\xaa \xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\xa8\xe0\xa5\x8d\xe0\xa4\xa6\xe0\xa5\x80",
    "tab\there\xe3\x80\x80ideographic\xc2\xa0nbsp\xe2\x80\x8bzero\xe2\x80\x8dwidth\xef\xbb\xbf bom",
    "control\x01\x02 chars\x7f and \xe2\x80\x98" "curly\xe2\x80\x99 \xe2\x80\x9cquotes\xe2\x80\x9d \xe2\x80\x94 dash \xe2\x80\xa6",
    "   leading, trailing and   inner   spaces   ",
    "\xe2\x96\x81" "already\xe2\x96\x81spaced \xe2\x96\x81\xe2\x96\x81 twice",
    "Shot number 123, take 4. 3.14159 1,000,000 $9.99 50% #tag @you",
    "\xc7\x85 \xc7\x88 \xc7\x8b \xc4\xb3 \xc5\x89 \xc5\xbf \xe2\x80\xa2 \xe2\x84\xa2 \xc2\xa9 \xc2\xae",
    "mixed: A\xef\xbd\x82" "c \xe3\x82\xab\xe3\x82\x99 \xe2\x80\xa8 sep \xe2\x81\x9f mid",
    "",
};

int main(void) {
    const char *g = getenv("FF_GOLDEN");
    char model[4096], in_path[4096], out_path[4096], cmd[12800];
    struct stat sb;
    if (!g) ff_test_skip("FF_GOLDEN unset");
    snprintf(model, sizeof model, "%s/pipelines/tiny-wan21/tokenizer/spiece.model", g);
    if (stat(model, &sb) != 0) ff_test_skip("golden spiece.model absent");
    if (system("command -v spm_encode >/dev/null 2>&1") != 0)
        ff_test_skip("spm_encode not installed (apt-get install sentencepiece)");
    ff_test_tmp_path("spm_prompts.txt", in_path, sizeof in_path);
    ff_test_tmp_path("spm_ids.txt", out_path, sizeof out_path);
    FILE *f = fopen(in_path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", in_path);
        return 1;
    }
    const size_t n = sizeof prompts / sizeof prompts[0];
    for (size_t i = 0; i < n; i++) fprintf(f, "%s\n", prompts[i]);
    fclose(f);
    snprintf(cmd, sizeof cmd, "spm_encode --model='%s' --output_format=id < '%s' > '%s'", model, in_path, out_path);
    if (system(cmd) != 0) {
        fprintf(stderr, "spm_encode failed: %s\n", cmd);
        return 1;
    }
    ff_err err = {0};
    ff_spm *m;
    if (ff_spm_load(model, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    f = fopen(out_path, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s\n", out_path);
        return 1;
    }
    char line[65536];
    for (size_t i = 0; i < n; i++) {
        FF_CHECK_MSG(fgets(line, sizeof line, f) != NULL, "spm_encode gave no line %zu", i);
        ff_spm_encoding e;
        ff_status st = ff_spm_encode(m, prompts[i], strlen(prompts[i]), &e, &err);
        FF_CHECK_OK(st, &err);
        if (st) continue;
        char mine[65536];
        size_t off = 0;
        mine[0] = 0;
        for (size_t k = 0; k < e.n && off < sizeof mine - 16; k++)
            off += (size_t)snprintf(mine + off, sizeof mine - off, "%s%d", k ? " " : "", e.tokens[k].id);
        line[strcspn(line, "\n")] = 0;
        FF_CHECK_MSG(!strcmp(mine, line), "prompt %zu '%s':\n  spm_encode: %s\n  ours:       %s", i, prompts[i], line, mine);
        ff_spm_encoding_free(&e);
    }
    fclose(f);
    ff_spm_free(m);
    return ff_test_summary();
}
