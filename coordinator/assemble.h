/* assemble (ff_assemble_*): the final video from chunk frames files
 * (proto/ff_chunkfile.h). The coordinator appends to "<idx>.part-<task>"
 * while a chunk renders and renames it to "<idx>.frames" once the worker
 * says done and the frame count matches.
 *
 * ff_assemble_item reads one item's chunk files in window order and writes
 * its video (format from the output path: .y4m, .mp4 or a PNG folder),
 * cross-fading overlapping frames (chunking.h). Files are written under a
 * temporary name in the same folder and renamed when complete, so a video
 * at the output path is always whole. */
#ifndef FF_ASSEMBLE_H
#define FF_ASSEMBLE_H

#include <stdint.h>
#include <stdio.h>

#include "coordinator/chunking.h"
#include "core/ff_err.h"
#include "framefarm.pb-c.h"
#include "proto/ff_chunkfile.h"

/* Called after each frame written (frame: index in this item's video);
 * nonzero stops the assembly (FF_ERR_ARG "cancelled", nothing left at the
 * output path for .y4m and .mp4; a PNG folder keeps the frames written). */
typedef int (*ff_assemble_frame_fn)(void *user, int frame);

/* Writes item `item` of spec to out_path from its chunk files (paths[k]
 * for windows w[k], k < n, in order). Every file must hold exactly its
 * window's frames. on_frame may be NULL. A file left at the temporary name
 * (an earlier crash, or something planted there) is removed first, never
 * written through. */
ff_status ff_assemble_item(const Ff__JobSpec *spec, const ff_chunk_window *w, const char *const *paths, size_t n,
                           const char *out_path, ff_assemble_frame_fn on_frame, void *user, ff_err *err);

#endif
