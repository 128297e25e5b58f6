/* mpi_plan (ff_mpi_plan_*): how `framefarm mpi` splits one video across N
 * ranks — pure arithmetic, no MPI, shared by the ranks (which all compute
 * the same plan) and the tests.
 *
 * Time windows on LATENT frames. The F latent frames are cut into W cores
 * [c_k, c_k+1), c_k = floor(k F / W), as even as possible; window k is its
 * core extended back by the overlap O: [s_k, e_k) = [c_k - O, c_k+1) (window
 * 0 starts at 0). Any latent window of L frames is a valid video window
 * (1 + 4 (L - 1) pixel frames). W = min(N, F / O) (at least 1), so every core
 * but the last holds at least O frames and a latent frame lies in at most two
 * windows; ranks k >= W hold no window (they still decode tiles with
 * --vae-split space). N = 1 is one window, the whole video: render.
 *
 * Merging every step: in the overlap [s_k, c_k) of windows k-1 (earlier) and
 * k (later), overlap frame j (0 <= j < O) is
 *   w_earlier(j) * earlier + w_later(j) * later,
 *   w_later(j) = (j + 1) / (O + 1), w_earlier(j) = 1 - w_later(j) (floats),
 * a linear ramp; both ranks evaluate this same expression, so they keep
 * bit-identical overlaps.
 *
 * Temporal decode: rank k decodes its whole window; its first latent frame
 * s_k is warm-up for the causal cache (its output is dropped); the pixel
 * frames of latent frames s_k + 1 .. c_k - 1 are cross-faded with window
 * k-1's: pixel i of those n = 4 (O - 1) frames takes later weight
 * (i + 1) / (n + 1). Everything from c_k on comes from window k alone.
 *
 * Spatial decode: the G tiles of the VAE's tile grid, in raster order, are
 * cut into N contiguous runs: rank r decodes tiles [G r / N, G (r+1) / N).
 *
 * Ownership: ff_mpi_plan_make allocates the arrays, ff_mpi_plan_free frees
 * them. */
#ifndef FF_MPI_PLAN_H
#define FF_MPI_PLAN_H

#include <stdint.h>

#include "core/ff_err.h"

typedef struct {
    int n_ranks;        /* N */
    int n_windows;      /* W <= N */
    int64_t frames;     /* F latent frames */
    int overlap;        /* O >= 1 */
    int t_factor;       /* pixel frames per latent frame after the first (VAE temporal factor, 4) */
    int64_t *core;      /* W + 1 core boundaries c_0 = 0 .. c_W = F */
} ff_mpi_plan;

/* FF_ERR_ARG for F < 1, N < 1, O < 1 or t_factor < 1. */
ff_status ff_mpi_plan_make(int64_t frames, int n_ranks, int overlap, int t_factor, ff_mpi_plan *p, ff_err *err);
void ff_mpi_plan_free(ff_mpi_plan *p);

/* Window k (0 <= k < W): latent frames [*s, *e). */
void ff_mpi_plan_window(const ff_mpi_plan *p, int k, int64_t *s, int64_t *e);
/* The window whose core holds latent frame f. */
int ff_mpi_plan_owner(const ff_mpi_plan *p, int64_t f);
/* Overlap ramp weights of overlap frame j of O (see above). */
void ff_mpi_plan_merge_weights(int overlap, int j, float *w_earlier, float *w_later);
/* 1 when latent frame f lies in two windows. */
int ff_mpi_plan_in_overlap(const ff_mpi_plan *p, int64_t f);

/* Pixel frames of latent frame f: first = f ? t (f - 1) + 1 : 0, count = f ? t : 1. */
int64_t ff_mpi_plan_pixel_first(const ff_mpi_plan *p, int64_t f);
int64_t ff_mpi_plan_pixel_count(const ff_mpi_plan *p, int64_t f);
int64_t ff_mpi_plan_pixel_frames(const ff_mpi_plan *p); /* 1 + t (F - 1) */

/* Temporal decode of pixel frame q (0 <= q < count) of latent frame f: the
 * window that owns it (*owner) and, when it is cross-faded, *later = owner + 1
 * and its weight *w_later (else *later = -1, *w_later = 0). */
void ff_mpi_plan_decode_pixel(const ff_mpi_plan *p, int64_t f, int64_t q, int *owner, int *later, float *w_later);
/* 1 when window k's decode of latent frame f is kept (f in the window and
 * not its warm-up frame s_k, k > 0). */
int ff_mpi_plan_decode_kept(const ff_mpi_plan *p, int k, int64_t f);

/* Spatial decode: rank r's tiles [*t0, *t0 + *n) of n_tiles. */
void ff_mpi_plan_tiles(int n_tiles, int n_ranks, int r, int *t0, int *n);

#endif
