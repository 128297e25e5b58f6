/* outroot (ff_outroot_*): where a coordinator may write videos — its
 * output roots (coordinator --output-root DIR, repeatable; default
 * <state>/outputs) — and the check every job output passes, at submit and
 * again before each video is written.
 *
 * An output is accepted when:
 *  - it is an absolute path without "." or ".." components;
 *  - it follows the output rule (video/video.h: NAME.mp4, NAME.y4m, DIR/);
 *  - the folder that will hold it exists and, resolved (realpath: every
 *    symlink on the way followed), is a root or inside one, so neither a
 *    path nor a symlinked folder leads out;
 *  - the output itself, when it exists, is not a symlink (rename() would
 *    replace a file, but a symlinked DIR/ would be written through);
 *  - a file can be created in that folder (a probe file, removed).
 * Otherwise FF_ERR_ARG (FF_ERR_NOT_FOUND for a missing folder) with the
 * reason and the roots. Roots are resolved once, when the coordinator
 * starts; they must exist (the default one is created).
 *
 * Files are created with the process umask (nothing here changes modes).
 * The check cannot stop another local user who can write inside a root
 * from swapping a folder for a symlink between the check and the write;
 * the second check right before writing narrows that to the write itself.
 *
 * Not here: the paths of one job's items (ff_jobspec_item_output), writing. */
#ifndef FF_OUTROOT_H
#define FF_OUTROOT_H

#include <stddef.h>

#include "core/ff_err.h"

typedef struct ff_outroot ff_outroot;

/* Resolves the n roots (each must be an existing folder). */
ff_status ff_outroot_create(const char *const *roots, size_t n, ff_outroot **out, ff_err *err);
void ff_outroot_free(ff_outroot *r);
size_t ff_outroot_count(const ff_outroot *r);
const char *ff_outroot_at(const ff_outroot *r, size_t i); /* resolved */

/* The check above for one output path. */
ff_status ff_outroot_check(const ff_outroot *r, const char *output, ff_err *err);

#endif
