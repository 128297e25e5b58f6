/* golden_transformer: handler of the "transformer" group
 * (WanTransformer3DModel.forward on pipelines/<p>/<component>, component
 * transformer or transformer_2). Inputs hidden_states (B, C, F, H, W) F32,
 * timestep (B,) or per token (B, N) F32/I64, encoder_hidden_states
 * (B, L, text_dim) F32; output noise_pred (B, C_out, F, H, W). */
#include <stdio.h>
#include <string.h>

#include "cli/golden.h"
#include "models/wan_transformer.h"

ff_status golden_transformer(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (strcmp(c->op, "WanTransformer3DModel.forward") != 0)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no transformer handler", c->name, c->op);
    if (!c->pipeline[0] || !c->component || (strcmp(c->component, "transformer") != 0 &&
                                             strcmp(c->component, "transformer_2") != 0))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: needs a pipeline and a transformer / transformer_2 component",
                          c->name);
    if (!c->inputs) return ff_err_set(err, FF_ERR_FORMAT, "%s: no inputs.safetensors", c->name);

    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", c->pipeline, c->component);
    ff_wandit_model *m = NULL;
    ff_tensor x = {0}, t = {0}, text = {0}, y = {0};
    ff_status st = ff_wandit_load(dir, &m, err);
    if (st) return st;
    const ff_st_entry *te = ff_st_find(c->inputs, "timestep");
    if (!te) {
        st = ff_err_set(err, FF_ERR_NOT_FOUND, "%s: inputs.safetensors has no timestep", c->name);
        goto done;
    }
    if ((st = ff_st_load(c->inputs, "hidden_states", FF_F32, &x, err)) ||
        (st = ff_st_load(c->inputs, "timestep", te->dtype, &t, err)) ||
        (st = ff_st_load(c->inputs, "encoder_hidden_states", FF_F32, &text, err)))
        goto done;
    if ((st = ff_wandit_place(m, c->be, 1, err))) goto done;
    if ((st = ff_wandit_forward_host(m, c->be, &x, &t, &text, NULL, &y, err))) goto done;
    st = golden_out_add(outs, "noise_pred", &y, err);
done:
    ff_tensor_free(&x);
    ff_tensor_free(&t);
    ff_tensor_free(&text);
    ff_tensor_free(&y);
    ff_wandit_free(m);
    return st;
}
