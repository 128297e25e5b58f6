/* comp_hydit: HunyuanVideoTransformer3DModel as a denoiser component — its
 * config, parameter list (block index: dual-stream blocks 0..N-1, then the
 * single-stream blocks), activation model, host loading (all, or the blocks
 * left in the mapped file), placement, and the forward pass (text mask,
 * pooled CLIP embedding and embedded guidance from ff_denoiser_in) with the
 * chain's block hooks bridged to ff_hydit_hooks. */
#include <stdlib.h>
#include <string.h>

#include "models/hunyuan_transformer.h"
#include "pipeline/component.h"

static ff_status config_read(const char *dir, void *cfg, ff_err *err) {
    char path[4200];
    ff_status st = ff_comp_config_path(dir, path, sizeof path, err);
    return st ? st : ff_hydit_config_load(path, cfg, err);
}

static ff_status params(const void *cfg, ff_dtype dt, ff_param **out, size_t *n, ff_err *err) {
    return ff_hydit_params(cfg, NULL, dt, out, n, err);
}

/* The forward's buffers (ff_hydit_activation_bytes, exact) plus the
 * driver's: latents in, prediction out, and the conditioning the family
 * uploads per branch (prompt embeddings (B, L, text_embed_dim) and the
 * pooled CLIP embedding (B, pooled_projection_dim)), twice with true CFG. */
static ff_status act_bytes(const void *cfg, const ff_act_query *q, size_t *bytes, ff_err *err) {
    const ff_hydit_config *c = cfg;
    if (q->kind != FF_ACTIVITY_DENOISE)
        return ff_err_set(err, FF_ERR_ARG, "HunyuanVideoTransformer3DModel: no activation model for kind %d", q->kind);
    size_t act = 0;
    ff_status st = ff_hydit_activation_bytes(c, q->latent, q->text_len, &act, err);
    if (st) return st;
    const int64_t *l = q->latent;
    const size_t lat_bytes = (size_t)(l[0] * l[1] * l[2] * l[3] * l[4]) * 4;
    const size_t cond = (size_t)(l[0] * q->text_len * c->text_embed_dim + l[0] * c->pooled_projection_dim) * 4;
    *bytes = act + 2 * lat_bytes + (size_t)(1 + !!q->cfg) * cond;
    return FF_OK;
}

static void comp_free(void *model) { ff_hydit_free(model); }

static ff_status load(const ff_load_request *rq, void **out, ff_err *err) {
    ff_hydit_model *m = NULL;
    ff_status st = rq->lazy ? ff_hydit_load_lazy(rq->dir, rq->weight_dtype, &m, rq->lazy, err)
                            : ff_hydit_load_as(rq->dir, rq->weight_dtype, &m, err);
    if (!st && !rq->host_weights && (st = ff_hydit_place(m, rq->be, 1, err))) {
        ff_hydit_free(m);
        m = NULL;
    }
    *out = m;
    return st;
}

static ff_status model_params(void *model, ff_param **out, size_t *n, ff_err *err) {
    ff_hydit_model *m = model;
    ff_status st = ff_hydit_params(&m->cfg, m, m->weight_dtype, out, n, err);
    for (size_t i = 0; !st && i < *n; i++) (*out)[i].dtype = (*out)[i].slot->dtype;
    return st;
}

static ff_status place(void *model, ff_backend *be, ff_err *err) { return ff_hydit_place(model, be, 1, err); }

static ff_status out_shape(const void *cfg, const int64_t *x_shape, int ndim, int64_t *oshape, ff_err *err) {
    ff_tensor x;
    ff_tensor_view(&x, FF_F32, ndim, x_shape, NULL, FF_LOC_HOST);
    return ff_hydit_out_shape(cfg, &x, oshape, err);
}

static ff_status forward(void *model, ff_backend *be, const ff_denoiser_in *in, const ff_block_hooks *hooks,
                         ff_tensor *out, ff_err *err) {
    ff_hydit_hooks hh = {ff_block_hooks_enter_params, ff_block_hooks_leave_params, (void *)hooks};
    ff_hydit_inputs hi = {in->x, in->timestep, in->text, in->text_mask, in->pooled, in->guidance};
    return ff_hydit_forward(model, be, &hi, hooks ? &hh : NULL, NULL, out, err);
}

static const ff_denoiser_ops ops = {out_shape, forward};

/* Unit-scale noise predictions from the seeded random weights. */
static float init_gain(const void *cfg, const ff_param *p) {
    (void)cfg;
    return !strcmp(p->name, "proj_out.weight") ? 1.7f : 1.0f;
}

const ff_model_class ff_comp_hydit = {
    .class_name = "HunyuanVideoTransformer3DModel",
    .role = FF_ROLE_DENOISER,
    .config_size = sizeof(ff_hydit_config),
    .config_read = config_read,
    .params = params,
    .act_bytes = act_bytes,
    .load = load,
    .free = comp_free,
    .model_params = model_params,
    .place = place,
    .weights_file = "diffusion_pytorch_model.safetensors",
    .init_gain = init_gain,
    .ops = &ops,
};
