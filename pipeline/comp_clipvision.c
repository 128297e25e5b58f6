/* comp_clipvision: transformers' CLIPVisionModel (+ its CLIPImageProcessor)
 * as an image-encoder component — WanImageToVideoPipeline.encode_image:
 * the processor (image_processor/preprocessor_config.json, read at load),
 * then hidden_states[-2] of the vision tower (models/clip.h), through
 * pipeline/wan_i2v_latents.h. Loaded whole onto the backend (not streamed:
 * 0.63 B parameters for ViT-H/14, a tenth of the text encoder). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/clip.h"
#include "models/image_processor.h"
#include "pipeline/component.h"
#include "pipeline/wan_i2v_latents.h"

typedef struct {
    ff_clip_model *m;
    ff_backend *be;
    ff_imgproc_clip_config proc;
} clipvision_comp;

static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    if (!st) st = ff_clip_config_load(path, FF_CLIP_VISION, cfg, err);
    if (!st && ((ff_clip_config *)cfg)->kind != FF_CLIP_VISION)
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: not a CLIP vision model config", path);
    return st;
}

static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    return ff_clip_params(cfg, NULL, dt == FF_BF16 ? FF_BF16 : FF_F32, out, n, err);
}

/* One image (batch 1: the pipeline encodes the first frame once and repeats
 * the embeddings), plus the pixel values in and the embeddings out. */
static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    const ff_clip_config *c = cfg;
    if (q->kind != FF_ACTIVITY_IMAGE) return ff_err_set(err, FF_ERR_ARG, "CLIPVisionModel: no activation model for kind %d", q->kind);
    const int64_t T = ff_clip_seq_len(c, 0);
    size_t act = 0;
    ff_status st = ff_clip_activation_bytes(c, 1, T, &act, err);
    if (st) return st;
    *bytes = act + (size_t)(c->num_channels * c->image_size * c->image_size) * 4 + (size_t)(T * c->hidden) * 4;
    return FF_OK;
}

static void comp_free(void *model) {
    clipvision_comp *m = model;
    if (!m) return;
    ff_clip_free(m->m);
    free(m);
}

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    *out = NULL;
    if (!rq->tokenizer_dir)
        return ff_err_set(err, FF_ERR_ARG, "%s: CLIPVisionModel needs its image_processor folder", rq->dir);
    clipvision_comp *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "image encoder: no memory");
    m->be = rq->be;
    char path[4200];
    ff_status st = FF_OK;
    if ((size_t)snprintf(path, sizeof path, "%s/preprocessor_config.json", rq->tokenizer_dir) >= sizeof path)
        st = ff_err_set(err, FF_ERR_ARG, "path too long: %s", rq->tokenizer_dir);
    if (!st) st = ff_imgproc_clip_config_load(path, &m->proc, err);
    if (!st) st = ff_clip_load(rq->dir, FF_CLIP_VISION, rq->weight_dtype == FF_BF16 ? FF_BF16 : FF_F32, &m->m, err);
    if (!st && (st = ff_clip_place(m->m, rq->be, 1, err))) ff_err_wrap(err, "placing %s: ", rq->dir);
    if (!st && m->proc.do_center_crop && (m->proc.crop_h != m->m->cfg.image_size || m->proc.crop_w != m->m->cfg.image_size))
        st = ff_err_set(err, FF_ERR_SHAPE, "%s: crop_size %dx%d, but the image encoder's image_size is %d", path,
                        m->proc.crop_w, m->proc.crop_h, m->m->cfg.image_size);
    if (st) {
        comp_free(m);
        return st;
    }
    *out = m;
    return FF_OK;
}

static ff_status encode(void *model, const ff_tensor *images, int n, const ff_block_hooks *hooks, ff_tensor *out,
                        ff_err *err) {
    clipvision_comp *m = model;
    (void)hooks; /* not block-structured: never streamed */
    return ff_wani2v_encode_image(m->m, m->be, &m->proc, images, n, NULL, out, NULL, err);
}

static ff_status preprocess(void *model, const ff_tensor *images, int n, ff_tensor *pixel_values, ff_tensor *resized,
                            ff_err *err) {
    clipvision_comp *m = model;
    ff_tensor *rs = NULL;
    if (resized) {
        memset(resized, 0, sizeof *resized);
        if (!(rs = calloc((size_t)n, sizeof *rs))) return ff_err_set(err, FF_ERR_NOMEM, "image encoder: no memory");
    }
    ff_status st = ff_imgproc_clip_preprocess(&m->proc, images, n, pixel_values, rs, NULL, err);
    if (rs) {
        int h = 0, w = 0;
        ff_imgproc_clip_resize_size(&m->proc, (int)images[0].shape[0], (int)images[0].shape[1], &h, &w);
        if (!st && (h != images[0].shape[0] || w != images[0].shape[1])) *resized = rs[0], memset(&rs[0], 0, sizeof rs[0]);
        for (int i = 0; i < n; i++) ff_tensor_free(&rs[i]);
        free(rs);
    }
    return st;
}

/* init-model: the image processor of a tiny model (CLIPImageProcessor with
 * OpenAI CLIP's mean/std, bicubic, 32-px shortest edge and crop: the tiny
 * encoder's image_size). */
static ff_status tiny_processor(const char *dir, ff_err *err) {
    static const char json[] =
        "{\"crop_size\": {\"height\": 32, \"width\": 32}, \"do_center_crop\": true, \"do_convert_rgb\": true,\n"
        " \"do_normalize\": true, \"do_rescale\": true, \"do_resize\": true,\n"
        " \"image_mean\": [0.48145466, 0.4578275, 0.40821073], \"image_processor_type\": \"CLIPImageProcessor\",\n"
        " \"image_std\": [0.26862954, 0.26130258, 0.27577711], \"resample\": 3, \"rescale_factor\": 0.00392156862745098,\n"
        " \"size\": {\"shortest_edge\": 32}}\n";
    char path[4200];
    if ((size_t)snprintf(path, sizeof path, "%s/preprocessor_config.json", dir) >= sizeof path)
        return ff_err_set(err, FF_ERR_ARG, "path too long: %s", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return ff_err_set(err, FF_ERR_IO, "cannot write %s", path);
    int ok = fputs(json, f) >= 0;
    ok &= fclose(f) == 0;
    return ok ? FF_OK : ff_err_set(err, FF_ERR_IO, "cannot write %s", path);
}

static const ff_image_encoder_ops ops = {encode, preprocess};

const ff_model_class ff_comp_clipvision = {
    .class_name = "CLIPVisionModel",
    .role = FF_ROLE_IMAGE_ENCODER,
    .config_size = sizeof(ff_clip_config),
    .config_read = config_read,
    .params = params,
    .act_bytes = act_bytes,
    .load = load,
    .free = comp_free,
    .weights_file = "model.safetensors",
    .tiny_tokenizer = tiny_processor,
    .ops = &ops,
};
