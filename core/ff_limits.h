/* ff_limits (ff_limits_*, ff_utf8_*, FF_MAX_*): the limits user input meets
 * at every front door, and their checks, so that `render`, `framefarm mpi`
 * job files and farm jobs (submit, coordinator, worker) refuse the same
 * things with the same words, before any work is done.
 *
 *  - A prompt (or negative prompt) is at most FF_MAX_PROMPT_BYTES bytes of
 *    valid UTF-8 without NUL. UMT5/T5 read at most max_sequence_length (512)
 *    tokens, a few KiB of text; a 10 MB prompt would only cost memory and
 *    time in the tokenizer before being cut.
 *  - Images a job conditions on (image-to-video) arrive through
 *    ff_image_read / ff_image_decode, whose ff_image_limits (video/image.h:
 *    file bytes, sides, pixels, checked from the header before decoding)
 *    are the image limits; a job field or flag naming an image passes them.
 *
 * Farm-only limits (items, chunks, queue, replies, retention) live with the
 * farm: proto/ff_jobspec.h and coordinator/coord.h.
 * Not here: numeric ranges of individual flags (each command says them). */
#ifndef FF_LIMITS_H
#define FF_LIMITS_H

#include <stddef.h>

#include "ff_err.h"

#define FF_MAX_PROMPT_BYTES 16384

/* 1 when s[0..n) is valid UTF-8 (no overlong forms, no surrogates, nothing
 * above U+10FFFF); else 0 with *bad_at (may be NULL) the offset of the first
 * byte of the offending sequence. */
int ff_utf8_valid(const char *s, size_t n, size_t *bad_at);

/* A prompt of len bytes: refused (FF_ERR_ARG, naming `what`, e.g. "prompt"
 * or "job: prompt 3") when longer than FF_MAX_PROMPT_BYTES, containing a NUL
 * byte or not valid UTF-8. */
ff_status ff_limits_check_prompt(const char *s, size_t len, const char *what, ff_err *err);

#endif
