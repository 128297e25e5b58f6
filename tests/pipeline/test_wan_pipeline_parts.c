/* ff_chain_params' hooks for running parts of the pipeline (cluster/ mpirun
 * mode), on the embedded tiny model:
 *  - prompt_embeds / negative_prompt_embeds given (the text encoder is not
 *    run) give the same latents as encoding the prompt;
 *  - out_latents (output_type='latent') hands over the final latents, which
 *    equal the last "latents" intermediate, and skips the decode;
 *  - on_step sees the guided noise prediction of every step before the
 *    scheduler: leaving it alone changes nothing, changing it changes the
 *    latents, an error from it stops the run;
 *  - bad embeddings are refused with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/tiny_model.h"
#include "pipeline/chain.h"
#include "tests/common/ff_test.h"

static char g_dir[4200], g_base[4096];
static ff_backend *g_be;

typedef struct {
    ff_tensor embeds, negative, last_latents;
    int n_frames_calls, n_steps, scale_step; /* scale_step >= 0: halve that step's prediction */
    int fail_step;
} capture;

static ff_status on_intermediate(void *user, const char *name, int64_t step, const ff_tensor *t, ff_err *err) {
    capture *c = user;
    ff_tensor *dst = !strcmp(name, "prompt_embeds")            ? &c->embeds
                     : !strcmp(name, "negative_prompt_embeds") ? &c->negative
                     : !strcmp(name, "latents")                ? &c->last_latents
                                                               : NULL;
    (void)step;
    if (!dst) return FF_OK;
    ff_tensor_free(dst);
    return ff_tensor_clone(dst, t, err);
}

static ff_status on_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    (void)ch;
    (void)err;
    ((capture *)user)->n_frames_calls++;
    return FF_OK;
}

static ff_status on_step(void *user, int64_t step, ff_tensor *noise_pred, const ff_tensor *latents, ff_err *err) {
    capture *c = user;
    c->n_steps++;
    if (!ff_tensor_same_shape(noise_pred, latents)) return ff_err_set(err, FF_ERR_SHAPE, "on_step: shapes differ");
    if (step == c->fail_step) return ff_err_set(err, FF_ERR_IO, "on_step: peer gone at step %lld", (long long)step);
    if (step == c->scale_step) {
        float *v = noise_pred->data;
        for (int64_t k = 0; k < ff_tensor_numel(noise_pred); k++) v[k] *= 0.5f;
    }
    return FF_OK;
}

static void params(const ff_chain *p, ff_chain_params *prm, const char **prompt, const uint64_t *seed, capture *c) {
    ff_chain_params_default(p, prm);
    prm->prompts = prompt;
    prm->n_prompts = 1;
    prm->seeds = seed;
    prm->n_seeds = 1;
    prm->num_frames = 9;
    prm->height = 64;
    prm->width = 64;
    prm->num_inference_steps = 4;
    prm->guidance_scale = 5.0;
    prm->user = c;
}

static void test_parts(void) {
    ff_err err = {0};
    ff_chain *p = NULL;
    FF_REQUIRE_OK(ff_chain_open(g_be, g_dir, NULL, NULL, &p, &err), &err);
    const char *prompt = "a red boat";
    uint64_t seed = 7;
    capture ref = {.scale_step = -1, .fail_step = -1}, given = {.scale_step = -1, .fail_step = -1};
    ff_chain_params prm;

    /* the whole pipeline: embeddings, the last latents, decoded frames */
    params(p, &prm, &prompt, &seed, &ref);
    prm.on_intermediate = on_intermediate;
    prm.on_frames = on_frames;
    FF_CHECK_OK(ff_chain_run(p, &prm, NULL, &err), &err);
    FF_REQUIRE(ref.embeds.data && ref.negative.data && ref.last_latents.data && ref.n_frames_calls > 0);

    /* given embeddings + output_type='latent' + a no-op on_step: same latents, no decode */
    ff_tensor out = {0};
    params(p, &prm, NULL, &seed, &given);
    prm.n_prompts = 0;
    prm.prompt_embeds = &ref.embeds;
    prm.negative_prompt_embeds = &ref.negative;
    prm.out_latents = &out;
    prm.on_step = on_step;
    prm.on_frames = on_frames;
    FF_CHECK_OK(ff_chain_run(p, &prm, NULL, &err), &err);
    FF_CHECK(given.n_frames_calls == 0);
    FF_CHECK(given.n_steps == 4);
    FF_CHECK_MSG(out.data && ff_tensor_equal(&out, &ref.last_latents), "given embeddings changed the latents");
    ff_tensor_free(&out);

    /* on_step changes the prediction: the latents change */
    given.scale_step = 2;
    FF_CHECK_OK(ff_chain_run(p, &prm, NULL, &err), &err);
    FF_CHECK(out.data && !ff_tensor_equal(&out, &ref.last_latents));
    ff_tensor_free(&out);

    /* an error from on_step stops the run and is passed through */
    given.scale_step = -1;
    given.fail_step = 1;
    given.n_steps = 0;
    FF_CHECK(ff_chain_run(p, &prm, NULL, &err) == FF_ERR_IO);
    FF_CHECK(strstr(err.msg, "peer gone at step 1") != NULL && given.n_steps == 2 && !out.data);

    /* CFG without negative embeddings; a 2-D tensor as embeddings */
    given.fail_step = -1;
    prm.negative_prompt_embeds = NULL;
    FF_CHECK(ff_chain_run(p, &prm, NULL, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "negative_prompt_embeds") != NULL);
    ff_tensor flat = ref.embeds;
    flat.ndim = 2;
    flat.owns = 0;
    prm.prompt_embeds = &flat;
    FF_CHECK(ff_chain_run(p, &prm, NULL, &err) == FF_ERR_SHAPE);
    FF_CHECK(strstr(err.msg, "prompt_embeds") != NULL);

    ff_tensor_free(&ref.embeds);
    ff_tensor_free(&ref.negative);
    ff_tensor_free(&ref.last_latents);
    ff_chain_close(p);
}

int main(void) {
    ff_test_tmp_path("wan_pipeline_parts_test", g_base, sizeof g_base);
    snprintf(g_dir, sizeof g_dir, "%s/tiny", g_base);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_base);
    if (system(cmd) != 0) return 1;
    ff_err err = {0};
    if (ff_tiny_model_create(FF_TINY_DEFAULT, g_dir, 0, &err) || ff_backend_cpu_create(0, &g_be, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    FF_RUN(test_parts);
    ff_backend_free(g_be);
    int rc = ff_test_summary();
    if (!rc && system(cmd) != 0) return 1;
    return rc;
}
