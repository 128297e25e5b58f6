/* model_defaults (cli-internal): the render defaults a model folder may carry
 * in model_index.json ("_framefarm_defaults", "_framefarm_model"), read the
 * same way by `render` and `mpi` so that `mpi -np 1` renders what `render`
 * renders. Absent or unreadable entries keep diffusers' Wan defaults. */
#ifndef FF_CLI_MODEL_DEFAULTS_H
#define FF_CLI_MODEL_DEFAULTS_H

typedef struct {
    int height, width, frames, steps, fps, tile_min_h, tile_min_w, tile_stride_h, tile_stride_w, has_tile;
    double guidance;
    char label[256]; /* "_framefarm_model", "" when absent */
} ff_model_defaults;

/* Never fails: a missing or malformed model_index.json leaves the defaults
 * (opening the pipeline reports the error). */
void ff_model_defaults_read(const char *model, ff_model_defaults *d);

#endif
