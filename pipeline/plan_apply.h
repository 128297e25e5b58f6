/* plan_apply (ff_plan_apply): what a plan (pipeline/plan.h) means for a
 * run — the pipeline's open options and the VAE decode options that carry
 * out the planner's choice. Shared by `framefarm render --vram-budget` and
 * the farm worker's --vram-budget, so both run a plan the same way:
 *   none        keep every component loaded (FF_WAN_KEEP_ALL)
 *   model       one component resident at a time (keep nothing)
 *   sequential  as model, with the transformer's blocks streamed from the
 *               file in groups of plan->group
 * plus the text encoder on the host, VAE slicing, and VAE tiling (the
 * low-memory tiled decode, with the plan's tile and stride).
 *
 * Not here: the planner itself (plan.c), pools (offload/pool.h): the
 * caller attaches a device pool with the budget and sets oo->device_pool. */
#ifndef FF_PLAN_APPLY_H
#define FF_PLAN_APPLY_H

#include "models/wan_vae.h"
#include "pipeline/plan.h"
#include "pipeline/wan_pipeline.h"

/* Sets oo's keep, dit_offload, dit_group, dit_from_file and text_on_host
 * (other fields untouched), and vae's tiling (tile, stride, low-memory
 * order) and slicing. */
void ff_plan_apply(const ff_plan *plan, ff_wan_open_opts *oo, ff_wanvae_opts *vae);

#endif
