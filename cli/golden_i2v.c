/* golden_i2v: handlers of the image-to-video groups (shared/golden/I2V.md):
 *  - i2v_preprocess: VideoProcessor.preprocess (LANCZOS resize, 2x/255-1)
 *    and CLIPImageProcessor (shortest-edge BICUBIC resize, center crop,
 *    rescale, normalise) on the case's image;
 *  - i2v_latents: WanImageToVideoPipeline.prepare_latents (noise, VAE-encoded
 *    condition, mask; TI2V first-frame mask);
 *  - i2v_transformer: WanTransformer3DModel.forward with the image branch
 *    (encoder_hidden_states_image) or the 36-channel A14B / TI2V inputs.
 * CLIP vision and text cases are in golden_clip.c. Image inputs come from
 * the case's PNG through video/image.h when PNG support is built in (and
 * must equal the stored U8 tensor), else from the tensor. */
#include <stdio.h>
#include <string.h>

#include "cli/golden.h"
#include "core/ff_compare.h"
#include "core/ff_model_dir.h"
#include "models/image_processor.h"
#include "models/pil_resample.h"
#include "models/wan_transformer.h"
#include "pipeline/wan_i2v_latents.h"
#include "video/image.h"

ff_status golden_image_input(const golden_case *c, const char *name, ff_tensor *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    if (!c->inputs) return ff_err_set(err, FF_ERR_FORMAT, "%s: no inputs.safetensors", c->name);
    ff_status st = ff_st_load(c->inputs, name, FF_U8, out, err);
    if (st) return st;
    const char *png = ff_json_get_string(ff_json_get(c->options, "png"), name);
    if (!png || !ff_image_have_png()) return FF_OK;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", c->dir, png);
    ff_image_limits lim;
    ff_image_limits_default(&lim);
    lim.min_side = 1; /* the cases' images are small on purpose */
    ff_tensor fromfile;
    if ((st = ff_image_read(path, &lim, &fromfile, NULL, err))) {
        ff_tensor_free(out);
        return st;
    }
    int same = ff_tensor_equal(&fromfile, out);
    ff_tensor_free(&fromfile);
    if (!same) {
        ff_tensor_free(out);
        return ff_err_set(err, FF_ERR_FORMAT, "%s: %s does not decode to the stored %s tensor", c->name, path, name);
    }
    return FF_OK;
}

static ff_status opt_int(const golden_case *c, const char *key, int64_t lo, int64_t hi, int *out, ff_err *err) {
    int64_t v;
    if (!ff_json_get(c->options, key) || ff_json_get_int64(c->options, key, 0, &v) || v < lo || v > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.%s must be an integer in [%lld, %lld]", c->name, key,
                          (long long)lo, (long long)hi);
    *out = (int)v;
    return FF_OK;
}

/* vae/config.json's scale_factor_spatial (the pipeline's vae_scale_factor_spatial). */
static ff_status vae_scale_factor(const golden_case *c, int *out, ff_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/vae/config.json", c->pipeline);
    ff_json_doc *doc = NULL;
    ff_status st = ff_json_parse_file(path, &doc, err);
    if (st) return st;
    int64_t v;
    if (ff_json_get_int64(ff_json_root(doc), "scale_factor_spatial", 8, &v) || v < 1 || v > 64)
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: scale_factor_spatial must be an integer in [1, 64]", path);
    else *out = (int)v;
    ff_json_free(doc);
    return st;
}

static ff_status run_vae_preprocess(const golden_case *c, golden_outputs *outs, ff_err *err) {
    int h, w, s;
    ff_status st;
    if ((st = opt_int(c, "height", 1, 1 << 16, &h, err)) || (st = opt_int(c, "width", 1, 1 << 16, &w, err)) ||
        (st = vae_scale_factor(c, &s, err)))
        return st;
    ff_tensor img, pre = {0}, resized = {0};
    if ((st = golden_image_input(c, "image", &img, err))) return st;
    st = ff_imgproc_vae_preprocess(&img, h, w, s, FF_PIL_LANCZOS, &pre, &resized, err);
    if (!st) st = golden_out_add(outs, "resized", &resized, err);
    if (!st) st = golden_out_add(outs, "image_preprocessed", &pre, err);
    ff_tensor_free(&img);
    ff_tensor_free(&pre);
    ff_tensor_free(&resized);
    return st;
}

static ff_status run_clip_preprocess(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/image_processor/preprocessor_config.json", c->pipeline);
    ff_imgproc_clip_config cfg;
    ff_status st = ff_imgproc_clip_config_load(path, &cfg, err);
    if (st) return st;
    ff_tensor img, pv = {0}, resized = {0}, cropped = {0};
    if ((st = golden_image_input(c, "image", &img, err))) return st;
    st = ff_imgproc_clip_preprocess(&cfg, &img, 1, &pv, &resized, &cropped, err);
    if (!st) st = golden_out_add(outs, "resized", &resized, err);
    if (!st) st = golden_out_add(outs, "cropped", &cropped, err);
    if (!st) st = golden_out_add(outs, "pixel_values", &pv, err);
    ff_tensor_free(&img);
    ff_tensor_free(&pv);
    ff_tensor_free(&resized);
    ff_tensor_free(&cropped);
    return st;
}

ff_status golden_i2v_preprocess(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: needs a pipeline folder", c->name);
    if (!strncmp(c->op, "VideoProcessor.preprocess", 25)) return run_vae_preprocess(c, outs, err);
    if (!strncmp(c->op, "CLIPImageProcessor", 18)) return run_clip_preprocess(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no i2v_preprocess handler", c->name, c->op);
}

/* ---- i2v_transformer ------------------------------------------------------ */

ff_status golden_i2v_transformer(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (strncmp(c->op, "WanTransformer3DModel.forward", 29) != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no i2v_transformer handler", c->name, c->op);
    if (!c->pipeline[0] || !c->component ||
        (strcmp(c->component, "transformer") != 0 && strcmp(c->component, "transformer_2") != 0))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: needs a pipeline and a transformer / transformer_2 component",
                          c->name);
    if (!c->inputs) return ff_err_set(err, FF_ERR_FORMAT, "%s: no inputs.safetensors", c->name);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", c->pipeline, c->component);
    ff_wandit_model *m = NULL;
    ff_tensor x = {0}, t = {0}, text = {0}, img = {0}, y = {0}, ctx = {0}, dimg = {0}, dctx = {0};
    ff_status st = ff_wandit_load(dir, &m, err);
    if (st) return st;
    const ff_st_entry *te = ff_st_find(c->inputs, "timestep");
    const int has_img = ff_st_find(c->inputs, "encoder_hidden_states_image") != NULL;
    if (!te) {
        st = ff_err_set(err, FF_ERR_NOT_FOUND, "%s: inputs.safetensors has no timestep", c->name);
        goto done;
    }
    if ((st = ff_st_load(c->inputs, "hidden_states", FF_F32, &x, err)) ||
        (st = ff_st_load(c->inputs, "timestep", te->dtype, &t, err)) ||
        (st = ff_st_load(c->inputs, "encoder_hidden_states", FF_F32, &text, err)) ||
        (has_img && (st = ff_st_load(c->inputs, "encoder_hidden_states_image", FF_F32, &img, err))))
        goto done;
    if ((st = ff_wandit_place(m, c->be, 1, err))) goto done;
    if ((st = ff_wandit_forward_host_image(m, c->be, &x, &t, &text, has_img ? &img : NULL, NULL, &y, err))) goto done;
    if ((st = golden_out_add(outs, "noise_pred", &y, err))) goto done;
    if (has_img) { /* condition_embedder.image_embedder on its own */
        int64_t rows;
        if ((st = ff_wandit_image_rows(&m->cfg, &img, m->cfg.pos_embed_seq_len ? img.shape[0] / 2 : img.shape[0],
                                       &rows, err)))
            goto done;
        const int64_t cs[3] = {m->cfg.pos_embed_seq_len ? img.shape[0] / 2 : img.shape[0], rows, m->cfg.dim};
        if ((st = ff_be_alloc(c->be, &dimg, FF_F32, 3, img.shape, err)) || (st = ff_be_upload(c->be, &dimg, &img, err)) ||
            (st = ff_be_alloc(c->be, &dctx, FF_F32, 3, cs, err)) ||
            (st = ff_wandit_image_embed(m, c->be, &dimg, &dctx, err)) ||
            (st = ff_tensor_alloc(&ctx, FF_F32, 3, cs, err)) || (st = ff_be_download(c->be, &ctx, &dctx, err)))
            goto done;
        st = golden_out_add(outs, "image_context", &ctx, err);
    }
done:
    if (dimg.data) ff_be_free(c->be, &dimg);
    if (dctx.data) ff_be_free(c->be, &dctx);
    ff_tensor_free(&x), ff_tensor_free(&t), ff_tensor_free(&text), ff_tensor_free(&img);
    ff_tensor_free(&y), ff_tensor_free(&ctx);
    ff_wandit_free(m);
    return st;
}

/* ---- i2v_latents ---------------------------------------------------------- */

ff_status golden_i2v_latents(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (strncmp(c->op, "WanImageToVideoPipeline.prepare_latents", 39) != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no i2v_latents handler", c->name, c->op);
    if (!c->pipeline[0] || !c->inputs) return ff_err_set(err, FF_ERR_FORMAT, "%s: needs a pipeline and inputs", c->name);
    ff_wani2v_params p;
    memset(&p, 0, sizeof p);
    int batch, zc;
    ff_status st;
    if ((st = opt_int(c, "batch_size", 1, 4096, &batch, err)) || (st = opt_int(c, "height", 1, 1 << 16, &p.height, err)) ||
        (st = opt_int(c, "width", 1, 1 << 16, &p.width, err)) ||
        (st = opt_int(c, "num_frames", 1, 1 << 16, &p.num_frames, err)) ||
        (st = opt_int(c, "num_channels_latents", 1, 4096, &zc, err)))
        return st;
    /* options.seed (one generator) or options.seeds (one per sample), as the rng cases */
    uint64_t seeds[64];
    const ff_json *sj = ff_json_get(c->options, "seeds");
    size_t n_seeds = sj ? ff_json_count(sj) : 1;
    if (n_seeds < 1 || n_seeds > 64) return ff_err_set(err, FF_ERR_FORMAT, "%s: options.seeds", c->name);
    for (size_t i = 0; i < n_seeds; i++)
        if (ff_json_uint64(sj ? ff_json_at(sj, i) : ff_json_get(c->options, "seed"), &seeds[i]))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: options.seed%s is not an unsigned integer", c->name, sj ? "s" : "");
    /* expand_timesteps as the pipeline reads it: model_index.json */
    ff_model_dir *md = NULL;
    if ((st = ff_model_dir_open(c->pipeline, &md, err))) return st;
    int expand = 0;
    if (ff_json_get_bool(ff_model_dir_index(md), "expand_timesteps", 0, &expand))
        st = ff_err_set(err, FF_ERR_FORMAT, "%s/model_index.json: expand_timesteps is not a boolean", c->pipeline);
    ff_model_dir_close(md);
    if (st) return st;
    p.batch = batch, p.expand_timesteps = expand, p.seeds = seeds, p.n_seeds = (int)n_seeds;

    ff_vae *vae = NULL;
    ff_tensor image = {0}, last = {0};
    ff_wani2v_latents l;
    memset(&l, 0, sizeof l);
    if ((st = ff_wanvae_load(c->be, c->pipeline, &vae, err))) return st;
    if (ff_wanvae_config_of(vae)->z_dim != zc) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: num_channels_latents %d, the VAE's z_dim is %d", c->name, zc,
                        ff_wanvae_config_of(vae)->z_dim);
        goto done;
    }
    if ((st = ff_st_load(c->inputs, "image", FF_F32, &image, err))) goto done;
    if (ff_st_find(c->inputs, "last_image")) { /* first-last-frame models */
        if ((st = ff_st_load(c->inputs, "last_image", FF_F32, &last, err))) goto done;
        p.last_image = &last;
    }
    if ((st = ff_wani2v_prepare_latents(vae, &image, &p, NULL, &l, err))) goto done;
    if ((st = golden_out_add(outs, "latents", &l.latents, err)) ||
        (st = golden_out_add(outs, "latent_condition", &l.latent_condition, err)) ||
        (st = golden_out_add(outs, "latent_condition_raw", &l.latent_condition_raw, err)))
        goto done;
    if (expand) st = golden_out_add(outs, "first_frame_mask", &l.mask, err);
    else if (!(st = golden_out_add(outs, "mask", &l.mask, err))) st = golden_out_add(outs, "condition", &l.condition, err);
done:
    ff_wani2v_latents_free(&l);
    ff_tensor_free(&image);
    ff_tensor_free(&last);
    ff_wanvae_free(vae);
    return st;
}
