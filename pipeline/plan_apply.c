/* plan_apply: see plan_apply.h. */
#include "pipeline/plan_apply.h"

void ff_plan_apply(const ff_plan *plan, ff_chain_opts *oo, ff_vae_opts *vae) {
    oo->keep = plan->offload == FF_PLAN_NONE ? FF_CHAIN_KEEP_ALL : 0;
    oo->stream = plan->offload == FF_PLAN_SEQUENTIAL;
    oo->group = plan->offload == FF_PLAN_SEQUENTIAL ? plan->group : 0;
    oo->from_file = plan->offload == FF_PLAN_SEQUENTIAL;
    oo->text_on_host = plan->text_on_host;
    vae->tiling = plan->tiling;
    if (plan->tiling) {
        vae->tile_sample_min_height = vae->tile_sample_min_width = plan->tile;
        vae->tile_sample_stride_height = vae->tile_sample_stride_width = plan->tile_stride;
        vae->tile_low_memory = 1;
    }
    vae->slicing = plan->slicing;
}
