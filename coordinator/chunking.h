/* chunking (ff_chunk_*): how the coordinator cuts a job into chunk tasks,
 * and how chunk frames are put back together.
 *
 * A job of N items becomes N groups of chunks. An item whose video is
 * longer than the job's chunk length (chunk_frames, e.g. the model's native
 * 81) is cut into windows of latent frames that overlap by O latent frames:
 *   C = (chunk_frames - 1) / 4 + 1,  O = ceil((overlap - 1) / 4) + 1,
 *   window k = [k (C - O), min(k (C - O) + C, L)),  L = (frames - 1) / 4 + 1.
 * A window [s, s + n) decodes to 1 + 4 (n - 1) frames that stand for the
 * video's frames 4s .. 4(s + n - 1) (a window's first latent decodes to one
 * frame, the last of the four its latent stands for). Consecutive windows
 * share 4 (O - 1) + 1 frames, which are cross-faded linearly (integer
 * arithmetic, so every coordinator writes the same bytes): frame j of
 * n overlapping frames is (a (n + 1 - (j + 1)) + b (j + 1) + (n + 1) / 2) /
 * (n + 1), a from the earlier window, b from the later one.
 * Every window's initial noise is its slice of the item's one noise tensor
 * (the worker draws it from the item's seed), so a job's output does not
 * depend on who rendered which window, in which order, or how often. It
 * does depend on the chunking settings, which are part of the job.
 *
 * Image-to-video jobs: successive windows with O = 1 (they share one frame,
 * cross-faded as above). Window k > 0 is conditioned on the last decoded
 * frame of window k - 1 instead of the job's image, so it runs only after
 * that window is done (coord_i2v.c); items still run in parallel. This is a
 * different video from one long window: each window is a clip of its own
 * that continues the previous one's last frame.
 *
 * Not here: scheduling (coord.c), files (assemble.c). */
#ifndef FF_CHUNKING_H
#define FF_CHUNKING_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "framefarm.pb-c.h"
#include "proto/ff_jobspec.h"

typedef struct {
    uint32_t item;
    int lat_start, lat_count;
} ff_chunk_window;

/* Latent chunk length C and overlap O of a normalised spec (C = L when the
 * spec does not cut). */
void ff_chunk_params(const Ff__JobSpec *s, int *c_lat, int *o_lat);
/* Windows of one item: *n and the windows into out (n_max entries). */
ff_status ff_chunk_item_windows(const Ff__JobSpec *s, uint32_t item, ff_chunk_window *out, size_t n_max, size_t *n,
                                ff_err *err);
/* Number of chunks of the whole job (all items). */
size_t ff_chunk_count(const Ff__JobSpec *s);
/* All chunks, item by item, windows in order: malloc'd array (*out). */
ff_status ff_chunk_plan(const Ff__JobSpec *s, ff_chunk_window **out, size_t *n, ff_err *err);

/* Frames a window decodes to, and the video frame its first one stands for. */
static inline int ff_chunk_frames(int lat_count) { return ff_jobspec_window_frames(lat_count); }
static inline int ff_chunk_first_frame(int lat_start) { return ff_jobspec_window_first_frame(lat_start); }

/* Cross-fade of overlap frame j of n: out = blend(a, b), nbytes each. */
void ff_chunk_blend(const uint8_t *a, const uint8_t *b, size_t nbytes, int j, int n, uint8_t *out);

#endif
