/* ff_model_defaults: the render defaults a model folder may carry in
 * model_index.json ("_framefarm_defaults", "_framefarm_model"). One reader
 * for every front door: `render`, `mpi`, a farm job file's absent fields
 * (proto/ff_jobspec.h) and the worker's VAE tiles, so that `mpi -np 1` and a
 * one-item farm job render what `render` renders. Absent or unreadable
 * entries keep diffusers' Wan defaults (480x832, 81 frames, 50 steps,
 * guidance 5, 16 fps, 256/192 px VAE tiles, tiling off).
 *
 * Not here: checking the folder (pipeline/chain.h opens it). */
#ifndef FF_MODEL_DEFAULTS_H
#define FF_MODEL_DEFAULTS_H

typedef struct {
    int height, width, frames, steps, fps, tile_min_h, tile_min_w, tile_stride_h, tile_stride_w, has_tile;
    double guidance;
    char label[256]; /* "_framefarm_model", "" when absent */
} ff_model_defaults;

/* Never fails: a missing or malformed model_index.json leaves the defaults
 * (opening the pipeline reports the error). */
void ff_model_defaults_read(const char *model, ff_model_defaults *d);

#endif
