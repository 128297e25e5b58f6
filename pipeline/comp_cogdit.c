/* comp_cogdit: CogVideoXTransformer3DModel as a denoiser component — its
 * config, parameter list (block index = transformer_blocks.N), activation
 * model, host loading (all, or the blocks left in the mapped file),
 * placement, and the forward pass with the chain's block hooks bridged to
 * ff_cogdit_hooks. Latents are (B, F, C, h, w); the RoPE tables of 5B / 1.5
 * models are computed by the forward as the pipeline computes them. */
#include <stdlib.h>
#include <string.h>

#include "models/cogvideox_transformer.h"
#include "pipeline/component.h"

static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    return st ? st : ff_cogdit_config_load(path, cfg, err);
}

static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    return ff_cogdit_params(cfg, NULL, dt, out, n, err);
}

/* CogVideoXPipeline batches guidance: with q->cfg one call of 2B samples
 * (uncond and cond) on one (2B, L, D) conditioning tensor. The forward's
 * own buffers (exact, ff_cogdit_activation_bytes) plus the driver's: the
 * latents in, the prediction out, the conditioning. A transformer with
 * sincos positions only takes max_text_seq_length text rows (the family
 * encodes that many), whatever the query asks. */
static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    const ff_cogdit_config *c = cfg;
    if (q->kind != FF_ACTIVITY_DENOISE)
        return ff_err_set(err, FF_ERR_ARG, "CogVideoXTransformer3DModel: no activation model for kind %d", q->kind);
    int64_t x[5];
    memcpy(x, q->latent, sizeof x);
    x[0] *= q->cfg ? 2 : 1;
    const int64_t L = c->use_rotary_positional_embeddings ? q->text_len : c->max_text_seq_length;
    size_t act = 0;
    ff_status st = ff_cogdit_activation_bytes(c, x, L, &act, err);
    if (st) return st;
    const size_t lat = (size_t)(x[0] * x[1] * x[2] * x[3] * x[4]) * 4;
    *bytes = act + 2 * lat + (size_t)(x[0] * L * c->text_embed_dim) * 4;
    return FF_OK;
}

static void comp_free(void *model) { ff_cogdit_free(model); }

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    ff_cogdit_model *m = NULL;
    ff_status st = rq->lazy ? ff_cogdit_load_lazy(rq->dir, rq->weight_dtype, &m, rq->lazy, err)
                            : ff_cogdit_load_as(rq->dir, rq->weight_dtype, &m, err);
    if (!st && !rq->host_weights && (st = ff_cogdit_place(m, rq->be, 1, err))) {
        ff_cogdit_free(m);
        m = NULL;
    }
    *out = m;
    return st;
}

static ff_status model_params(void *model, ff_param **out, size_t *n, ff_err *err) {
    ff_cogdit_model *m = model;
    ff_status st = ff_cogdit_params(&m->cfg, m, FF_F32, out, n, err);
    for (size_t i = 0; !st && i < *n; i++) (*out)[i].dtype = (*out)[i].slot->dtype;
    return st;
}

static ff_status place(void *model, ff_backend *be, ff_err *err) { return ff_cogdit_place(model, be, 1, err); }

static ff_status out_shape(const void *cfg, const int64_t *x_shape, int ndim, int64_t *oshape, ff_err *err) {
    if (ndim != 5) return ff_err_set(err, FF_ERR_SHAPE, "CogVideoXTransformer3DModel: latents must be (B, F, C, h, w)");
    return ff_cogdit_out_shape(cfg, x_shape, oshape, err);
}

static ff_status before_block(void *user, int i, ff_cogdit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    const ff_block_hooks *h = user;
    (void)blk, (void)ps, (void)n;
    return h->enter(h->user, i, err);
}

static ff_status after_block(void *user, int i, ff_cogdit_block *blk, ff_param *ps, size_t n, ff_err *err) {
    const ff_block_hooks *h = user;
    (void)blk, (void)ps, (void)n, (void)err;
    h->leave(h->user, i);
    return FF_OK;
}

static ff_status forward(void *model, ff_backend *be, const ff_denoiser_in *in, const ff_block_hooks *hooks,
                         ff_tensor *out, ff_err *err) {
    ff_cogdit_hooks ch = {before_block, after_block, (void *)hooks};
    return ff_cogdit_forward(model, be, in->x, in->timestep, in->text, NULL, hooks ? &ch : NULL, out, err);
}

static const ff_denoiser_ops ops = {out_shape, forward};

const ff_model_class ff_comp_cogdit = {
    .class_name = "CogVideoXTransformer3DModel",
    .role = FF_ROLE_DENOISER,
    .config_size = sizeof(ff_cogdit_config),
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
