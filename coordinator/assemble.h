/* assemble (ff_cfile_*, ff_assemble_*): chunk frames files and the final
 * video.
 *
 * A chunk frames file is what a worker streamed for one chunk, as it came:
 * records of
 *   "FFCF" | t0 u32 | count u32 | width u32 | height u32 | zlen u64 | zlen bytes
 * (little-endian), each holding frames [t0, t0 + count) of the chunk as
 * zlib-compressed 8-bit RGB (ff_frames). Records follow each other without
 * gaps. The coordinator appends to "<idx>.part-<task>" while a chunk
 * renders and renames it to "<idx>.frames" once the worker says done and
 * the frame count matches.
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

/* Appends one record (already compressed frames) to f. */
ff_status ff_cfile_append(FILE *f, int t0, int count, int width, int height, const uint8_t *z, size_t zn, ff_err *err);

typedef struct {
    FILE *f;
    char *path;
    int width, height;
    int next_t;            /* next frame index to hand out */
    uint8_t *buf;          /* frames of the current record */
    int rec_t0, rec_count;
} ff_cfile_reader;

ff_status ff_cfile_open(const char *path, int width, int height, ff_cfile_reader *r, ff_err *err);
/* Frame next_t (width * height * 3 bytes, valid until the next call);
 * FF_ERR_NOT_FOUND at the end of the file; FF_ERR_FORMAT for a gap, a size
 * mismatch or a corrupt record. */
ff_status ff_cfile_next(ff_cfile_reader *r, const uint8_t **frame, ff_err *err);
void ff_cfile_close(ff_cfile_reader *r);

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
