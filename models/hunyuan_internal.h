/* hunyuan_internal: what the forward-pass files of the HunyuanVideo
 * transformer share (internal to models/): the run state (every activation
 * buffer of one call, see hunyuan_forward.c for the layout), tensor views,
 * and the module functions of hunyuan_blocks.c (condition embedding, token
 * refiner, dual- and single-stream blocks) that hunyuan_forward.c drives. */
#ifndef FF_HUNYUAN_INTERNAL_H
#define FF_HUNYUAN_INTERNAL_H

#include "models/hunyuan_transformer.h"

#define HYDIT_LN_EPS 1e-6f /* every LayerNorm and RMSNorm of the model */

/* A borrowed view of ndim dims starting off elements into base. */
static inline ff_tensor hydit_view(const ff_tensor *base, int64_t off, int ndim, const int64_t *shape) {
    ff_tensor t;
    ff_tensor_view(&t, base->dtype, ndim, shape, (char *)base->data + off * (int64_t)ff_dtype_size(base->dtype),
                   base->loc);
    return t;
}
static inline ff_tensor hydit_view2(const ff_tensor *b, int64_t off, int64_t d0, int64_t d1) {
    int64_t s[2] = {d0, d1};
    return hydit_view(b, off, 2, s);
}
static inline ff_tensor hydit_view3(const ff_tensor *b, int64_t off, int64_t d0, int64_t d1, int64_t d2) {
    int64_t s[3] = {d0, d1, d2};
    return hydit_view(b, off, 3, s);
}
static inline ff_tensor hydit_view4(const ff_tensor *b, int64_t off, int64_t d0, int64_t d1, int64_t d2,
                                    int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    return hydit_view(b, off, 4, s);
}

static inline ff_status hydit_linear(ff_backend *be, const ff_tensor *x, const ff_hydit_linear *l, ff_tensor *out,
                                     ff_err *err) {
    return ff_op_linear(be, x, &l->weight, &l->bias, out, err);
}

/* One call's state: dims and every backend buffer (hunyuan_forward.c). */
typedef struct {
    ff_backend *be;
    const ff_hydit_config *cfg;
    const ff_hydit_taps *taps;
    int64_t B, N, L, S, D, H, hd, F, R, pc; /* R: feed-forward rows per chunk; pc: proj_out width */
    ff_tensor stream, nrm, tmp, out, qkv, fh, cat;
    ff_tensor rope_cos, rope_sin, bias, bias_ref;
    ff_tensor tproj, gproj, temb, stemb, rtemb, e1, e2;
    ff_tensor pooled, counts, mrow, emb6, modv, modt;
} hyd_state;

/* Hands t to the taps under name (no-op without taps). */
ff_status hydit_tap(const hyd_state *s, const char *name, const ff_tensor *t, ff_err *err);

/* HunyuanVideoConditionEmbedding.forward into s->temb from s->tproj /
 * s->gproj (uploaded) and pooled (B, pooled_dim); parts optional. */
ff_status hydit_cond_embed(hyd_state *s, const ff_hydit_model *m, const ff_tensor *pooled,
                           const ff_hydit_cond_parts *parts, ff_err *err);
/* HunyuanVideoTokenRefiner.forward: text (B, L, text_dim) -> x (B, L, D). */
ff_status hydit_token_refiner(hyd_state *s, const ff_hydit_model *m, const ff_tensor *text, ff_tensor *x,
                              ff_err *err);
/* emb = linear(st (B, D)) (B, k*D) permuted chunk-major into mod (k, B, D). */
ff_status hydit_modulation(hyd_state *s, const ff_tensor *st_, const ff_hydit_linear *lin, int k, ff_tensor *mod,
                           ff_err *err);
/* Chunk j of a chunk-major modulation, as (B, 1, D). */
static inline ff_tensor hydit_chunk(const hyd_state *s, const ff_tensor *mod, int j) {
    return hydit_view3(mod, (int64_t)j * s->B * s->D, s->B, 1, s->D);
}
/* HunyuanVideoTransformerBlock.forward on the stream's hv / ht. */
ff_status hydit_dual_block(hyd_state *s, const ff_hydit_dual *b, ff_err *err);
/* HunyuanVideoSingleTransformerBlock.forward on the stream's joint x. */
ff_status hydit_single_block(hyd_state *s, const ff_hydit_single *b, ff_err *err);

#endif
