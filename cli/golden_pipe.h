/* golden_pipe (cli-internal): what the golden handlers of whole pipelines
 * (golden_pipeline.c, golden_cogvideox_pipe.c, golden_hunyuan_pipeline.c)
 * share: options read from case.json, and the decoded video gathered from
 * the chain's decode chunks as diffusers returns it. */
#ifndef FF_GOLDEN_PIPE_H
#define FF_GOLDEN_PIPE_H

#include "cli/golden.h"
#include "pipeline/chain.h"

/* options.KEY: a string, a list of strings, or null/absent (*n = 0). *items
 * (freed by the caller) point into the case JSON. */
ff_status golden_opt_strings(const golden_case *c, const char *key, const char ***items, int *n, ff_err *err);
/* options.KEY as an integer in [lo, hi] (dflt when absent). */
ff_status golden_opt_int(const golden_case *c, const char *key, int64_t dflt, int64_t lo, int64_t hi, int *out,
                         ff_err *err);

/* A decode chunk (nb, C, nt, H, W) / frames (nb, nt, H, W, C) copied into
 * the whole video (B, C, T, H, W) and frames (B, T, H, W, C), allocated
 * (host F32) at the first chunk; the caller frees both. */
ff_status golden_pipe_add_chunk(ff_tensor *video, ff_tensor *frames, const ff_chain_chunk *ch, ff_err *err);

#endif
