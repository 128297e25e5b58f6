/* plan_apply (ff_plan_apply): what a plan (pipeline/plan.h) means for a
 * run — the chain's open options and the VAE options that carry out the
 * planner's choice. Shared by `framefarm render --vram-budget` and the farm
 * worker's --vram-budget, so both run a plan the same way:
 *   none        keep every component loaded (FF_CHAIN_KEEP_ALL)
 *   model       one component resident at a time (keep nothing)
 *   sequential  as model, with the blocks of block-structured components
 *               streamed from the file in groups of plan->group
 * plus the text encoders on the host, VAE slicing, and VAE tiling (the
 * low-memory tiled decode, with the plan's tile and stride).
 *
 * Not here: the planner itself (plan.c), pools (offload/pool.h): the
 * caller attaches a device pool with the budget and sets oo->device_pool. */
#ifndef FF_PLAN_APPLY_H
#define FF_PLAN_APPLY_H

#include "pipeline/chain.h"
#include "pipeline/plan.h"

/* Sets oo's keep, stream, group, from_file and text_on_host (other fields
 * untouched), and vae's tiling (tile, stride, low-memory order) and slicing. */
void ff_plan_apply(const ff_plan *plan, ff_chain_opts *oo, ff_vae_opts *vae);

#endif
