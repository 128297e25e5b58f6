/* golden_clip: handlers of the clip_vision and clip_text groups.
 *  - CLIPVisionModel.forward(pixel_values, output_hidden_states=True):
 *    embeddings, every hidden_states[i] (stacked) and hidden_states[-2]
 *    (image_embeds, what Wan uses);
 *  - WanImageToVideoPipeline.encode_image(images): CLIPImageProcessor on
 *    each image (image_processor/preprocessor_config.json), stacked, then
 *    hidden_states[-2] of image_encoder;
 *  - CLIPTextModel.forward(input_ids): last_hidden_state, pooler_output and
 *    the pooled row per sample (pooled_index). */
#include <stdio.h>
#include <string.h>

#include "cli/golden.h"
#include "models/clip.h"
#include "models/image_processor.h"
#include "pipeline/wan_i2v_latents.h"

static ff_status load_clip(const golden_case *c, const char *component, int kind, ff_clip_model **m, ff_err *err) {
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: needs a pipeline folder", c->name);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", c->pipeline, component);
    ff_status st = ff_clip_load(dir, kind, FF_F32, m, err);
    if (!st && (st = ff_clip_place(*m, c->be, 1, err))) {
        ff_clip_free(*m);
        *m = NULL;
    }
    return st;
}

/* hidden_states[0..L] stacked into (L+1, B, T, D), embeddings, and hidden_states[-2]. */
static ff_status run_vision_forward(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (!c->inputs) return ff_err_set(err, FF_ERR_FORMAT, "%s: no inputs.safetensors", c->name);
    ff_clip_model *m = NULL;
    ff_tensor pv = {0}, hs = {0}, one = {0}, emb = {0}, demb = {0}, dpv = {0};
    ff_status st = load_clip(c, c->component ? c->component : "image_encoder", FF_CLIP_VISION, &m, err);
    if (st) return st;
    const int L = m->cfg.layers;
    if ((st = ff_st_load(c->inputs, "pixel_values", FF_F32, &pv, err))) goto done;
    const int64_t B = pv.shape[0], T = ff_clip_seq_len(&m->cfg, 0), D = m->cfg.hidden;
    if ((st = ff_tensor_allocv(&hs, FF_F32, err, 4, (int64_t)L + 1, B, T, D))) goto done;
    for (int i = 0; i <= L; i++) {
        if ((st = ff_clip_vision_forward_host(m, c->be, &pv, i, NULL, &one, err))) goto done;
        memcpy((float *)hs.data + (size_t)i * (size_t)(B * T * D), one.data, ff_tensor_nbytes(&one));
        if (i == L - 1 && (st = golden_out_add(outs, "image_embeds", &one, err))) goto done;
        ff_tensor_free(&one);
    }
    {
        const int64_t es[3] = {B, T, D};
        if ((st = ff_be_alloc(c->be, &dpv, FF_F32, 4, pv.shape, err)) || (st = ff_be_upload(c->be, &dpv, &pv, err)) ||
            (st = ff_be_alloc(c->be, &demb, FF_F32, 3, es, err)) ||
            (st = ff_clip_vision_embeddings(m, c->be, &dpv, &demb, err)) ||
            (st = ff_tensor_alloc(&emb, FF_F32, 3, es, err)) || (st = ff_be_download(c->be, &emb, &demb, err)))
            goto done;
    }
    if (!(st = golden_out_add(outs, "embeddings", &emb, err))) st = golden_out_add(outs, "hidden_states", &hs, err);
done:
    if (dpv.data) ff_be_free(c->be, &dpv);
    if (demb.data) ff_be_free(c->be, &demb);
    ff_tensor_free(&pv), ff_tensor_free(&hs), ff_tensor_free(&one), ff_tensor_free(&emb);
    ff_clip_free(m);
    return st;
}

/* WanImageToVideoPipeline.encode_image: processor on each image, stacked,
 * image_encoder(...).hidden_states[-2]. */
static ff_status run_encode_image(const golden_case *c, golden_outputs *outs, ff_err *err) {
    enum { MAX_IMAGES = 8 };
    ff_tensor imgs[MAX_IMAGES];
    int n = 0;
    ff_status st = FF_OK;
    memset(imgs, 0, sizeof imgs);
    if (!c->inputs) return ff_err_set(err, FF_ERR_FORMAT, "%s: no inputs.safetensors", c->name);
    if (ff_st_find(c->inputs, "image")) st = golden_image_input(c, "image", &imgs[n++], err);
    for (int i = 0; !st && i < MAX_IMAGES; i++) {
        char key[16];
        snprintf(key, sizeof key, "image%d", i);
        if (!ff_st_find(c->inputs, key)) break;
        st = golden_image_input(c, key, &imgs[n++], err);
    }
    ff_clip_model *m = NULL;
    ff_tensor pv = {0}, emb = {0};
    char path[4200];
    ff_imgproc_clip_config pc;
    snprintf(path, sizeof path, "%s/image_processor/preprocessor_config.json", c->pipeline);
    if (!st && !n) st = ff_err_set(err, FF_ERR_FORMAT, "%s: no image / image0.. inputs", c->name);
    if (!st) st = ff_imgproc_clip_config_load(path, &pc, err);
    if (!st) st = load_clip(c, "image_encoder", FF_CLIP_VISION, &m, err);
    if (!st) st = ff_wani2v_encode_image(m, c->be, &pc, imgs, n, NULL, &emb, &pv, err);
    if (!st) st = golden_out_add(outs, "image_embeds", &emb, err);
    if (!st) st = golden_out_add(outs, "pixel_values", &pv, err);
    for (int i = 0; i < n; i++) ff_tensor_free(&imgs[i]);
    ff_tensor_free(&pv), ff_tensor_free(&emb);
    ff_clip_free(m);
    return st;
}

ff_status golden_clip_vision(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (!strncmp(c->op, "CLIPVisionModel.forward", 23)) return run_vision_forward(c, outs, err);
    if (!strncmp(c->op, "WanImageToVideoPipeline.encode_image", 36)) return run_encode_image(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no clip_vision handler", c->name, c->op);
}

ff_status golden_clip_text(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (strncmp(c->op, "CLIPTextModel.forward", 21) != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no clip_text handler", c->name, c->op);
    if (!c->inputs) return ff_err_set(err, FF_ERR_FORMAT, "%s: no inputs.safetensors", c->name);
    ff_clip_model *m = NULL;
    ff_tensor ids = {0}, last = {0}, pooled = {0}, index = {0};
    ff_status st = load_clip(c, c->component ? c->component : "text_encoder_2", FF_CLIP_TEXT, &m, err);
    if (st) return st;
    if ((st = ff_st_load(c->inputs, "input_ids", FF_I64, &ids, err))) goto done;
    if (ids.ndim != 2) {
        st = ff_err_set(err, FF_ERR_SHAPE, "%s: input_ids must be (B, L)", c->name);
        goto done;
    }
    if ((st = ff_clip_text_forward_host(m, c->be, &ids, NULL, &last, &pooled, err))) goto done;
    if ((st = ff_tensor_allocv(&index, FF_I64, err, 1, ids.shape[0]))) goto done;
    ff_clip_text_pooled_index(&m->cfg, &ids, index.data);
    if (!(st = golden_out_add(outs, "last_hidden_state", &last, err)) &&
        !(st = golden_out_add(outs, "pooler_output", &pooled, err)))
        st = golden_out_add(outs, "pooled_index", &index, err);
done:
    ff_tensor_free(&ids), ff_tensor_free(&last), ff_tensor_free(&pooled), ff_tensor_free(&index);
    ff_clip_free(m);
    return st;
}
