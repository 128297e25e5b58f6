/* plan_apply: see plan_apply.h. */
#include "pipeline/plan_apply.h"

void ff_plan_apply(const ff_plan *plan, ff_wan_open_opts *oo, ff_wanvae_opts *vae) {
    oo->keep = plan->offload == FF_PLAN_NONE ? FF_WAN_KEEP_ALL : 0;
    oo->dit_offload = plan->offload == FF_PLAN_SEQUENTIAL;
    oo->dit_group = plan->offload == FF_PLAN_SEQUENTIAL ? plan->group : 0;
    oo->dit_from_file = plan->offload == FF_PLAN_SEQUENTIAL;
    oo->text_on_host = plan->text_on_host;
    vae->tiling = plan->tiling;
    if (plan->tiling) {
        vae->tile_sample_min_height = vae->tile_sample_min_width = plan->tile;
        vae->tile_sample_stride_height = vae->tile_sample_stride_width = plan->tile_stride;
        vae->tile_low_memory = 1;
    }
    vae->slicing = plan->slicing;
}
