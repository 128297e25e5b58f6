/* ff_chunkfile (ff_cfile_*): chunk frames files — what a worker streamed
 * for one chunk, as it came, shared by the worker (--shared-dir writes them)
 * and the coordinator (part files, assembly): records of
 *   "FFCF" | t0 u32 | count u32 | width u32 | height u32 | zlen u64 | zlen bytes
 * (little-endian), each holding frames [t0, t0 + count) of the chunk as
 * zlib-compressed 8-bit RGB (ff_frames). Records follow each other without
 * gaps. Not here: naming, checksums and the rename protocol (coordinator,
 * worker). */
#ifndef FF_CHUNKFILE_H
#define FF_CHUNKFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/ff_err.h"

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

#endif
