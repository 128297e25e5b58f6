/* comp_wandit: WanTransformer3DModel as a denoiser component — its config,
 * parameter list (block index = blocks.N), activation model, host loading
 * (all, or the blocks left in the mapped file), placement, and the forward
 * pass with the chain's block hooks bridged to ff_wandit_hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan_transformer.h"
#include "pipeline/component.h"

static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    return st ? st : ff_wandit_config_load(path, cfg, err);
}

static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    return ff_wandit_params_as(cfg, dt, NULL, out, n, err);
}

/* The forward's activations (ff_wandit_activation_bytes_image, one
 * timestep value) plus the driver's buffers: the input x (the latents, +
 * mask and condition channels of image to video: in_channels from the
 * config), the prediction, text cond (+ uncond) and the image embeddings. */
#define WANDIT_CLIP_ROWS 257 /* ViT-H/14 at 224 px, the image encoder of every Wan 2.1 I2V */
static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    const ff_wandit_config *c = cfg;
    if (q->kind != FF_ACTIVITY_DENOISE)
        return ff_err_set(err, FF_ERR_ARG, "WanTransformer3DModel: no activation model for kind %d", q->kind);
    int64_t x[5];
    memcpy(x, q->latent, sizeof x);
    x[1] = c->in_channels;
    const int64_t img = c->image_dim > 0 ? (q->image_len > 0 ? q->image_len : WANDIT_CLIP_ROWS) : 0;
    size_t act = 0;
    ff_status st = ff_wandit_activation_bytes_image(c, x, q->text_len, img, q->per_token, 1, &act, err);
    if (st) return st;
    const size_t px = (size_t)(x[0] * x[2] * x[3] * x[4]) * 4;
    *bytes = act + px * (size_t)(c->in_channels + c->out_channels) +
             (size_t)(1 + !!q->cfg) * (size_t)(x[0] * q->text_len * c->text_dim) * 4 + (size_t)(x[0] * img * c->image_dim) * 4;
    return FF_OK;
}

static void comp_free(void *model) { ff_wandit_free(model); }

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    ff_wandit_model *m = NULL;
    ff_status st = rq->lazy ? ff_wandit_load_lazy(rq->dir, rq->weight_dtype, &m, rq->lazy, err)
                            : ff_wandit_load_as(rq->dir, rq->weight_dtype, &m, err);
    if (!st && !rq->host_weights && (st = ff_wandit_place(m, rq->be, 1, err))) {
        ff_wandit_free(m);
        m = NULL;
    }
    *out = m;
    return st;
}

/* The loaded model's list, each entry typed as its slot holds it. */
static ff_status model_params(void *model, ff_param **out, size_t *n, ff_err *err) {
    ff_wandit_model *m = model;
    ff_status st = ff_wandit_params(&m->cfg, m, out, n, err);
    for (size_t i = 0; !st && i < *n; i++) (*out)[i].dtype = (*out)[i].slot->dtype;
    return st;
}

static ff_status place(void *model, ff_backend *be, ff_err *err) { return ff_wandit_place(model, be, 1, err); }

static ff_status out_shape(const void *cfg, const int64_t *x_shape, int ndim, int64_t *oshape, ff_err *err) {
    ff_tensor x;
    ff_tensor_view(&x, FF_F32, ndim, x_shape, NULL, FF_LOC_HOST);
    return ff_wandit_out_shape(cfg, &x, oshape, err);
}

static ff_status before_block(void *user, int i, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    const ff_block_hooks *h = user;
    (void)blk, (void)ps, (void)n;
    return h->enter(h->user, i, err);
}

static ff_status after_block(void *user, int i, ff_wandit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    const ff_block_hooks *h = user;
    (void)blk, (void)ps, (void)n, (void)err;
    h->leave(h->user, i);
    return FF_OK;
}

static ff_status forward(void *model, ff_backend *be, const ff_denoiser_in *in, const ff_block_hooks *hooks,
                         ff_tensor *out, ff_err *err) {
    ff_wandit_hooks wh = {before_block, after_block, (void *)hooks};
    return ff_wandit_forward_image(model, be, in->x, in->timestep, in->text, in->image, hooks ? &wh : NULL, out, err);
}

static const ff_denoiser_ops ops = {out_shape, forward};

const ff_model_class ff_comp_wandit = {
    .class_name = "WanTransformer3DModel",
    .role = FF_ROLE_DENOISER,
    .config_size = sizeof(ff_wandit_config),
    .config_read = config_read,
    .params = params,
    .act_bytes = act_bytes,
    .load = load,
    .free = comp_free,
    .model_params = model_params,
    .place = place,
    .weights_file = "diffusion_pytorch_model.safetensors",
    .ops = &ops,
};
