/* Unit tests of models/bpe (byte-level BPE) and models/bpe_unicode:
 *  - a Llama-3 style tokenizer.json written here from the public format
 *    (byte-level vocabulary, merges, ignore_merges, the Llama-3 Split regex
 *    + ByteLevel, added special tokens, TemplateProcessing with BOS; pad and
 *    add_bos_token from tokenizer_config.json): ids of crafted texts, the
 *    empty text, non-ASCII bytes, added tokens, truncation and padding;
 *  - a GPT-2 style one (ByteLevel with its regex and add_prefix_space) and
 *    the formats we refuse (unknown regex, WordPiece);
 *  - the regexes' corner cases (digits in threes, contractions, newlines,
 *    trailing spaces), Unicode helpers (NFC incl. Hangul, canonical order,
 *    lower with final sigma and U+0130);
 *  - the slow CLIPTokenizer over the golden tiny folder: empty prompt,
 *    truncation at 77 keeping <|endoftext|>, NFC, control characters,
 *    CJK spacing, lower case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/bpe.h"
#include "models/bpe_unicode.h"
#include "tests/common/ff_test.h"

/* bytes_to_unicode of one byte, as UTF-8, for building vocabularies */
static const char *bsym(int b, char *buf) {
    int cp;
    if ((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae) cp = b;
    else {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xa1 && x <= 0xac) || x >= 0xae)) n++;
        cp = 256 + n;
    }
    size_t k = ff_bpe_uni_encode1((uint32_t)cp, buf);
    buf[k] = 0;
    return buf;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static const char *LLAMA3_RE =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* ids 0..255: the byte symbols (id = byte); 256.. merges' results */
static void write_json(const char *dir, const char *pre_tokenizer, int ignore_merges, const char *model_type, const char *config) {
    char path[4200], b1[8];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fprintf(f, "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,\n\"added_tokens\": [");
    fprintf(f, "{\"id\": 300, \"content\": \"<|begin_of_text|>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
               "\"normalized\": false, \"special\": true},");
    fprintf(f, "{\"id\": 301, \"content\": \"<|eot_id|>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
               "\"normalized\": false, \"special\": true},");
    fprintf(f, "{\"id\": 302, \"content\": \"<|end_of_text|>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
               "\"normalized\": false, \"special\": true}],\n");
    fprintf(f, "\"normalizer\": null,\n\"pre_tokenizer\": %s,\n", pre_tokenizer);
    fprintf(f, "\"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
               "\"trim_offsets\": false, \"use_regex\": true}, {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
               "{\"id\": \"<|begin_of_text|>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [], "
               "\"special_tokens\": {\"<|begin_of_text|>\": {\"id\": \"<|begin_of_text|>\", \"ids\": [300], \"tokens\": "
               "[\"<|begin_of_text|>\"]}}}]},\n");
    fprintf(f, "\"decoder\": {\"type\": \"ByteLevel\"},\n\"model\": {\"type\": \"%s\", \"dropout\": null, \"unk_token\": null, "
               "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false, "
               "\"ignore_merges\": %s, \"vocab\": {",
            model_type, ignore_merges ? "true" : "false");
    for (int b = 0; b < 256; b++) {
        json_str(f, bsym(b, b1));
        fprintf(f, ": %d, ", b);
    }
    fprintf(f, "\"he\": 256, \"ll\": 257, \"hell\": 258, \"\xc4\xa0w\": 259, \"or\": 260, \"\xc4\xa0wor\": 261, \"\xc4\xa0world\": 262},\n");
    /* both spellings of a merge: "a b" and ["a", "b"] */
    fprintf(f, "\"merges\": [\"h e\", [\"l\", \"l\"], \"he ll\", \"\xc4\xa0 w\", \"o r\", [\"\xc4\xa0w\", \"or\"]]}}\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    f = fopen(path, "wb");
    if (!f) return;
    fputs(config, f);
    fclose(f);
}

static const char *PRE_LLAMA3_FMT =
    "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"%s\"}, \"behavior\": "
    "\"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
    "\"use_regex\": false}]}";

static void llama3_pre(char *buf, size_t n) {
    char esc[512];
    size_t k = 0;
    for (const char *s = LLAMA3_RE; *s; s++) {
        if (*s == '\\' || *s == '"') esc[k++] = '\\';
        esc[k++] = *s;
    }
    esc[k] = 0;
    snprintf(buf, n, PRE_LLAMA3_FMT, esc);
}

static void check_ids(const ff_bpe *t, const char *text, const int64_t *want, size_t nw) {
    ff_err err = {0};
    int64_t *ids;
    size_t n;
    FF_REQUIRE_OK(ff_bpe_encode_special(t, text, &ids, &n, &err), &err);
    int ok = n == nw && !memcmp(ids, want, n * sizeof *ids);
    FF_CHECK_MSG(ok, "'%s': %zu ids (first %lld)", text, n, n ? (long long)ids[0] : -1LL);
    free(ids);
}

static void test_llama3_json(void) {
    char dir[4096], pre[1024];
    ff_err err = {0};
    ff_test_tmp_path("bpe_llama3", dir, sizeof dir);
    llama3_pre(pre, sizeof pre);
    write_json(dir, pre, 1, "BPE", "{\"tokenizer_class\": \"PreTrainedTokenizerFast\", \"pad_token\": \"<|end_of_text|>\"}");
    ff_bpe *t;
    FF_REQUIRE_OK(ff_bpe_load_json(dir, &t, &err), &err);
    FF_CHECK(ff_bpe_pad_id(t) == 302 && ff_bpe_len(t) == 266);
    /* "hello" -> he, ll, hell (ranks 0, 1, 2) + o; " world" is in the vocabulary (ignore_merges) */
    check_ids(t, "hello world", (const int64_t[]){300, 258, 'o', 262}, 4);
    check_ids(t, "", (const int64_t[]){300}, 1);
    /* added tokens; é as its two bytes; digits in threes */
    check_ids(t, "<|eot_id|>hi", (const int64_t[]){300, 301, 'h', 'i'}, 4);
    check_ids(t, "\xc3\xa9", (const int64_t[]){300, 0xc3, 0xa9}, 3);
    check_ids(t, "12345", (const int64_t[]){300, '1', '2', '3', '4', '5'}, 6);
    char **w;
    size_t nw;
    FF_REQUIRE_OK(ff_bpe_pretokenize(t, "12345 I'M here\n\n  x  ", &w, &nw, &err), &err);
    /* 123 | 45 | " I" | 'M | " here" | \n\n | " " | " x" | "  " (byte-level: space = Ġ, \n = Ċ) */
    const char *want[] = {"123", "45", "\xc4\xa0I", "'M", "\xc4\xa0here", "\xc4\x8a\xc4\x8a", "\xc4\xa0", "\xc4\xa0x", "\xc4\xa0\xc4\xa0"};
    FF_CHECK_MSG(nw == 9, "%zu words", nw);
    for (size_t i = 0; i < nw && i < 9; i++) FF_CHECK_MSG(!strcmp(w[i], want[i]), "word %zu '%s'", i, w[i]);
    free(w);
    /* batch: truncation keeps BOS, padding with <|end_of_text|> */
    const char *texts[2] = {"hello world", "hi"};
    ff_tensor ids, mask;
    FF_REQUIRE_OK(ff_bpe_batch(t, texts, 2, 3, &ids, &mask, &err), &err);
    const int64_t *p = ids.data, *m = mask.data;
    FF_CHECK(p[0] == 300 && p[1] == 258 && p[2] == 'o' && m[0] && m[1] && m[2]);
    FF_CHECK(p[3] == 300 && p[4] == 'h' && p[5] == 'i');
    ff_tensor_free(&ids), ff_tensor_free(&mask);
    FF_REQUIRE_OK(ff_bpe_batch(t, texts + 1, 1, 5, &ids, &mask, &err), &err);
    p = ids.data, m = mask.data;
    FF_CHECK(p[3] == 302 && p[4] == 302 && m[2] == 1 && m[3] == 0);
    ff_tensor_free(&ids), ff_tensor_free(&mask);
    int64_t *bad;
    FF_CHECK(ff_bpe_encode(t, "\xff", &bad, &nw, &err) == FF_ERR_ARG); /* not UTF-8 */
    ff_bpe_free(t);
    /* without ignore_merges the merges decide: Ġwor + l + d; add_bos_token false drops BOS */
    write_json(dir, pre, 0, "BPE", "{\"add_bos_token\": false, \"bos_token\": \"<|begin_of_text|>\"}");
    FF_REQUIRE_OK(ff_bpe_load_json(dir, &t, &err), &err);
    check_ids(t, "hello world", (const int64_t[]){258, 'o', 261, 'l', 'd'}, 5);
    FF_CHECK(ff_bpe_batch(t, texts, 2, 4, &ids, &mask, &err) == FF_ERR_ARG); /* no pad token */
    ff_bpe_free(t);
}

static void test_gpt2_json_and_refusals(void) {
    char dir[4096];
    ff_err err = {0};
    ff_test_tmp_path("bpe_gpt2", dir, sizeof dir);
    write_json(dir, "{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true}", 1, "BPE", "{}");
    ff_bpe *t;
    FF_REQUIRE_OK(ff_bpe_load_json(dir, &t, &err), &err);
    char **w;
    size_t nw;
    FF_REQUIRE_OK(ff_bpe_pretokenize(t, "hello world's 42", &w, &nw, &err), &err);
    FF_CHECK(nw == 4 && !strcmp(w[0], "\xc4\xa0hello") && !strcmp(w[1], "\xc4\xa0world") && !strcmp(w[2], "'s") && !strcmp(w[3], "\xc4\xa0" "42"));
    free(w);
    ff_bpe_free(t);
    write_json(dir, "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+\"}, \"behavior\": \"Isolated\", \"invert\": false}", 1, "BPE", "{}");
    FF_CHECK(ff_bpe_load_json(dir, &t, &err) == FF_ERR_UNSUPPORTED && strstr(err.msg, "Split pattern"));
    write_json(dir, "{\"type\": \"ByteLevel\", \"use_regex\": true}", 1, "WordPiece", "{}");
    FF_CHECK(ff_bpe_load_json(dir, &t, &err) == FF_ERR_UNSUPPORTED);
    ff_test_tmp_path("bpe_none", dir, sizeof dir);
    FF_CHECK(ff_bpe_load_json(dir, &t, &err) == FF_ERR_NOT_FOUND); /* no tokenizer.json */
}

/* ---- Unicode ------------------------------------------------------------------ */

static int nfc_eq(const uint32_t *in, size_t n, const uint32_t *want, size_t nw) {
    uint32_t *o;
    size_t on;
    ff_err err = {0};
    if (ff_bpe_uni_nfc(in, n, &o, &on, &err)) return 0;
    int ok = on == nw && !memcmp(o, want, nw * sizeof *o);
    free(o);
    return ok;
}

static void test_unicode(void) {
    FF_CHECK(nfc_eq((const uint32_t[]){'e', 0x301}, 2, (const uint32_t[]){0xe9}, 1));
    FF_CHECK(nfc_eq((const uint32_t[]){0x1100, 0x1161, 0x11a8}, 3, (const uint32_t[]){0xac01}, 1)); /* Hangul L V T */
    /* canonical order: dot below (220) before acute (230); then both compose in turn */
    FF_CHECK(nfc_eq((const uint32_t[]){'a', 0x301, 0x323}, 3, (const uint32_t[]){0x1ea1, 0x301}, 2));
    FF_CHECK(nfc_eq((const uint32_t[]){0x212b}, 1, (const uint32_t[]){0xc5}, 1)); /* ANGSTROM SIGN -> Å */
    uint32_t lo[16];
    const uint32_t odos[9] = {0x39f, 0x394, 0x39f, 0x3a3, ' ', 0x3a3, 'A', 0x130, 0};
    size_t n = ff_bpe_uni_lower(odos, 8, lo);
    /* ΟΔΟΣ -> οδος (final), a lone Σ -> σ, İ -> i + U+0307 */
    FF_CHECK(n == 9 && lo[3] == 0x3c2 && lo[5] == 0x3c3 && lo[6] == 'a' && lo[7] == 'i' && lo[8] == 0x307);
    FF_CHECK(ff_bpe_uni_is_letter(0x6771) && ff_bpe_uni_is_number(0x663) && ff_bpe_uni_is_space(0x3000) && !ff_bpe_uni_is_space(0x1c));
    FF_CHECK(!strcmp(ff_bpe_uni_category(0x200b), "Cf") && ff_bpe_uni_is_cjk(0x4eac));
}

/* ---- the slow CLIPTokenizer ----------------------------------------------------- */

static void test_clip_slow(void) {
    const char *g = getenv("FF_GOLDEN");
    char dir[4096];
    struct stat sb;
    snprintf(dir, sizeof dir, "%s/pipelines/tiny-hunyuanvideo/tokenizer_2", g ? g : ".");
    if (!g || stat(dir, &sb)) {
        fprintf(stderr, "  (no golden tokenizer_2: CLIP checks not run)\n");
        return;
    }
    ff_err err = {0};
    ff_bpe *t;
    FF_REQUIRE_OK(ff_bpe_load_clip(dir, &t, &err), &err);
    const int64_t bos = ff_bpe_bos_id(t), eos = ff_bpe_eos_id(t);
    FF_CHECK(bos == 832 && eos == 833 && ff_bpe_pad_id(t) == 833);
    char long_text[2200] = {0};
    for (int i = 0; i < 400; i++) strcat(long_text, "cat ");
    const char *texts[2] = {"", long_text};
    ff_tensor ids, mask;
    FF_REQUIRE_OK(ff_bpe_batch(t, texts, 2, 77, &ids, &mask, &err), &err);
    const int64_t *p = ids.data;
    FF_CHECK(p[0] == bos && p[1] == eos && p[2] == eos && p[76] == eos); /* "" -> bos eos, padded with eos */
    FF_CHECK(p[77] == bos && p[77 + 76] == eos && p[77 + 75] != eos);     /* 75 tokens kept, then eos */
    ff_tensor_free(&ids), ff_tensor_free(&mask);
    /* same ids: NFC, lower case, dropped control characters, whitespace kinds */
    const char *pairs[][2] = {{"cafe\xcc\x81", "caf\xc3\xa9"}, {"A CAT WALKS", "a cat walks"}, {"gr\x01" "ass", "grass"},
                              {"a\xe3\x80\x80" "b\t\nc", "a b c"}, {"\xe6\x9d\xb1\xe4\xba\xac", "\xe6\x9d\xb1 \xe4\xba\xac"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        int64_t *a, *b;
        size_t na, nb;
        FF_REQUIRE_OK(ff_bpe_encode(t, pairs[i][0], &a, &na, &err), &err);
        FF_REQUIRE_OK(ff_bpe_encode(t, pairs[i][1], &b, &nb, &err), &err);
        FF_CHECK_MSG(na == nb && !memcmp(a, b, na * sizeof *a), "'%s' vs '%s'", pairs[i][0], pairs[i][1]);
        free(a), free(b);
    }
    char **w;
    size_t nw;
    FF_REQUIRE_OK(ff_bpe_pretokenize(t, "\xe6\x9d\xb1\xe4\xba\xac!?", &w, &nw, &err), &err);
    FF_CHECK(nw == 3 && !strcmp(w[2], "!?")); /* CJK characters apart, punctuation runs together */
    free(w);
    /* the same files as a CLIPTokenizerFast tokenizer.json (NFC, \s+ -> ' ', lower case; CLIP's Split
     * without the literals; </w>; RobertaProcessing) give the same ids on these prompts */
    char fdir[4096], path[4200];
    ff_test_tmp_path("bpe_clip_fast", fdir, sizeof fdir);
    mkdir(fdir, 0755);
    snprintf(path, sizeof path, "%s/tokenizer.json", fdir);
    FILE *f = fopen(path, "wb"), *vf, *mf;
    FF_REQUIRE(f != NULL);
    fputs("{\"added_tokens\": [{\"id\": 832, \"content\": \"<|startoftext|>\", \"special\": true}, {\"id\": 833, \"content\": "
          "\"<|endoftext|>\", \"special\": true}], \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, "
          "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\\\\s+\"}, \"content\": \" \"}, {\"type\": \"Lowercase\"}]}, "
          "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
          "\"'s|'t|'re|'ve|'m|'ll|'d|[\\\\p{L}]+|[\\\\p{N}]|[^\\\\s\\\\p{L}\\\\p{N}]+\"}, \"behavior\": \"Removed\", \"invert\": true}, "
          "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]}, \"post_processor\": {\"type\": "
          "\"RobertaProcessing\", \"sep\": [\"<|endoftext|>\", 833], \"cls\": [\"<|startoftext|>\", 832]}, \"model\": {\"type\": "
          "\"BPE\", \"unk_token\": \"<|endoftext|>\", \"continuing_subword_prefix\": \"\", \"end_of_word_suffix\": \"</w>\", "
          "\"vocab\": ",
          f);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FF_REQUIRE((vf = fopen(path, "rb")) != NULL);
    int ch;
    while ((ch = fgetc(vf)) != EOF) fputc(ch, f);
    fclose(vf);
    fputs(", \"merges\": [", f);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    FF_REQUIRE((mf = fopen(path, "rb")) != NULL);
    char line[512];
    int first = 1, lineno = 0;
    while (fgets(line, sizeof line, mf)) {
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r')) line[--l] = 0;
        if (lineno++ == 0 || !l) continue; /* #version */
        fputs(first ? "" : ", ", f);
        json_str(f, line);
        first = 0;
    }
    fclose(mf);
    fputs("]}}", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", fdir);
    f = fopen(path, "wb");
    FF_REQUIRE(f != NULL);
    fputs("{\"pad_token\": \"<|endoftext|>\"}", f);
    fclose(f);
    ff_bpe *fast;
    FF_REQUIRE_OK(ff_bpe_load_json(fdir, &fast, &err), &err);
    const char *ascii[] = {"A cat walks on the grass, realistic.", "Hello, world! (test) -- 3.14; 'quotes' and \"double\"? #tag",
                           "  Tom &amp; Jerry\n\n  run   fast\t ", "", "Shot number 123, take 4."};
    ff_tensor a1, m1, a2, m2;
    FF_REQUIRE_OK(ff_bpe_batch(t, ascii, 5, 77, &a1, &m1, &err), &err);
    FF_REQUIRE_OK(ff_bpe_batch(fast, ascii, 5, 77, &a2, &m2, &err), &err);
    FF_CHECK(!memcmp(a1.data, a2.data, ff_tensor_nbytes(&a1)));
    ff_tensor_free(&a1), ff_tensor_free(&m1), ff_tensor_free(&a2), ff_tensor_free(&m2);
    ff_bpe_free(fast);
    ff_bpe_free(t);
}

int main(void) {
    FF_RUN(test_llama3_json);
    FF_RUN(test_gpt2_json_and_refusals);
    FF_RUN(test_unicode);
    FF_RUN(test_clip_slow);
    return ff_test_summary();
}
