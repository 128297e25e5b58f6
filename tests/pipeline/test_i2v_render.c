/* `framefarm render --image` against the golden i2v_pipeline_* cases: each
 * case's settings (pipeline folder, image.png, prompt, negative prompt,
 * seed, size, frames, steps, guidance) rendered to PNG frames (--out DIR/)
 * must equal the case's expected `frames` after diffusers' output_type="np"
 * -> uint8 conversion (round(x * 255), half to even), at most 1 level off
 * where float error straddles a rounding boundary. The settings are read
 * from each case.json, so hidden twins run the same way. Skipped when
 * ../shared/golden (FF_GOLDEN) or the binary (FF_BIN) is absent. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ff_json.h"
#include "core/ff_safetensors.h"
#include "tests/common/ff_test.h"
#include "video/image.h"

static const char *golden_dir(void) {
    const char *g = getenv("FF_GOLDEN");
    struct stat sb;
    return g && !stat(g, &sb) && S_ISDIR(sb.st_mode) ? g : NULL;
}

/* Appends ` --flag 'value'` (value single-quoted for sh) to cmd. */
static void arg(char *cmd, size_t n, const char *flag, const char *value) {
    size_t k = strlen(cmd);
    k += (size_t)snprintf(cmd + k, n - k, " %s '", flag);
    for (const char *p = value; *p && k + 5 < n; p++) {
        if (*p == '\'') k += (size_t)snprintf(cmd + k, n - k, "'\\''");
        else cmd[k++] = *p, cmd[k] = 0;
    }
    snprintf(cmd + k, n - k, "'");
}

static void arg_num(char *cmd, size_t n, const char *flag, const ff_json *opts, const char *key) {
    const ff_json *v = ff_json_get(opts, key);
    double d = 0;
    if (!v || ff_json_double(v, &d)) return;
    char b[64];
    snprintf(b, sizeof b, "%.17g", d);
    arg(cmd, n, flag, b);
}

/* Renders one case and compares its frames. */
static void check_case(const char *g, const char *name) {
    char path[8192], out[2048], cmd[16384];
    ff_err err = {0};
    snprintf(path, sizeof path, "%s/cases/%s/case.json", g, name);
    ff_json_doc *doc = NULL;
    FF_REQUIRE_OK(ff_json_parse_file(path, &doc, &err), &err);
    const ff_json *root = ff_json_root(doc), *o = ff_json_get(root, "options");
    const char *pipe = ff_json_get_string(root, "pipeline"), *prompt = ff_json_get_string(o, "prompt");
    const char *neg = ff_json_get_string(o, "negative_prompt");
    const char *png = ff_json_get_string(ff_json_get(o, "png"), "image");
    if (!pipe || !prompt || !png) {
        FF_CHECK_MSG(0, "%s: case.json lacks pipeline / prompt / png.image", name);
        ff_json_free(doc);
        return;
    }
    snprintf(out, sizeof out, "%s/i2v_render_%s/", getenv("FF_TEST_TMP") ? getenv("FF_TEST_TMP") : "/tmp", name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && '%s' render", out, out, getenv("FF_BIN"));
    snprintf(path, sizeof path, "%s/%s", g, pipe);
    arg(cmd, sizeof cmd, "--model", path);
    snprintf(path, sizeof path, "%s/cases/%s/%s", g, name, png);
    arg(cmd, sizeof cmd, "--image", path);
    arg(cmd, sizeof cmd, "--prompt", prompt);
    if (neg) arg(cmd, sizeof cmd, "--negative-prompt", neg);
    arg_num(cmd, sizeof cmd, "--seed", o, "seed");
    arg_num(cmd, sizeof cmd, "--height", o, "height");
    arg_num(cmd, sizeof cmd, "--width", o, "width");
    arg_num(cmd, sizeof cmd, "--frames", o, "num_frames");
    arg_num(cmd, sizeof cmd, "--steps", o, "num_inference_steps");
    arg_num(cmd, sizeof cmd, "--guidance", o, "guidance_scale");
    arg_num(cmd, sizeof cmd, "--guidance-2", o, "guidance_scale_2");
    arg_num(cmd, sizeof cmd, "--max-sequence-length", o, "max_sequence_length");
    arg(cmd, sizeof cmd, "--out", out);
    size_t k = strlen(cmd);
    snprintf(cmd + k, sizeof cmd - k, " > '%s/../i2v_render_%s.log' 2>&1", out, name);
    ff_json_free(doc);
    int rc = system(cmd);
    FF_REQUIRE(rc == 0 || (fprintf(stderr, "%s: render failed: %s\n", name, cmd), 0));

    /* expected frames (1, T, H, W, 3) in [0, 1] */
    snprintf(path, sizeof path, "%s/cases/%s/expected.safetensors", g, name);
    ff_st_file *ef = NULL;
    ff_tensor fr = {0};
    FF_REQUIRE_OK(ff_st_open(path, &ef, &err), &err);
    ff_status st = ff_st_load(ef, "frames", FF_F32, &fr, &err);
    ff_st_close(ef);
    FF_REQUIRE_OK(st, &err);
    FF_REQUIRE(fr.ndim == 5 && fr.shape[0] == 1 && fr.shape[4] == 3);
    const int64_t T = fr.shape[1], H = fr.shape[2], W = fr.shape[3];
    int64_t off1 = 0, worse = 0, n = 0;
    for (int64_t t = 0; t < T; t++) {
        snprintf(path, sizeof path, "%sframe_%05lld.png", out, (long long)t);
        ff_image_limits lim;
        ff_image_limits_default(&lim);
        lim.min_side = 1;
        ff_tensor img = {0};
        st = ff_image_read(path, &lim, &img, NULL, &err);
        FF_CHECK_OK(st, &err);
        if (st) break;
        FF_CHECK_MSG(img.shape[0] == H && img.shape[1] == W, "%s: frame %lld is %lldx%lld, want %lldx%lld", name,
                     (long long)t, (long long)img.shape[1], (long long)img.shape[0], (long long)W, (long long)H);
        if (img.shape[0] == H && img.shape[1] == W) {
            const float *e = (const float *)fr.data + t * H * W * 3;
            const uint8_t *a = img.data;
            for (int64_t i = 0; i < H * W * 3; i++, n++) {
                float x = e[i] < 0 ? 0 : e[i] > 1 ? 1 : e[i];
                int want = (int)nearbyintf(x * 255.0f), d = abs((int)a[i] - want);
                off1 += d == 1;
                worse += d > 1;
            }
        }
        ff_tensor_free(&img);
    }
    snprintf(path, sizeof path, "%sframe_%05lld.png", out, (long long)T);
    struct stat sb;
    FF_CHECK_MSG(stat(path, &sb) != 0, "%s: more frames than the %lld expected", name, (long long)T);
    fprintf(stderr, "%s: %lld frames %lldx%lld, %lld samples, %lld one level off, %lld further\n", name, (long long)T,
            (long long)W, (long long)H, (long long)n, (long long)off1, (long long)worse);
    FF_CHECK_MSG(n == T * H * W * 3 && worse == 0 && off1 * 1000 <= n, "%s: %lld samples off by more than 1, %lld by 1", name,
                 (long long)worse, (long long)off1);
    ff_tensor_free(&fr);
}

static void test_golden_i2v_renders(void) {
    const char *g = golden_dir();
    char path[4096];
    snprintf(path, sizeof path, "%s/cases", g);
    DIR *d = opendir(path);
    FF_REQUIRE(d != NULL);
    int cases = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "i2v_pipeline_", 13) != 0) continue;
        check_case(g, de->d_name);
        cases++;
    }
    closedir(d);
    FF_CHECK_MSG(cases > 0, "no i2v_pipeline_* case in %s", path);
}

int main(void) {
    if (!golden_dir()) ff_test_skip("FF_GOLDEN (../shared/golden) is absent");
    if (!getenv("FF_BIN")) ff_test_skip("FF_BIN (the framefarm binary) is not set");
    if (!ff_image_have_png()) ff_test_skip("built without PNG support");
    FF_RUN(test_golden_i2v_renders);
    return ff_test_summary();
}
