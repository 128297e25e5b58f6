/* mpi_plan: windows, overlap weights and tile runs of `framefarm mpi` (see
 * mpi_plan.h). */
#include <stdlib.h>
#include <string.h>

#include "cluster/mpi_plan.h"

ff_status ff_mpi_plan_make(int64_t frames, int n_ranks, int overlap, int t_factor, ff_mpi_plan *p, ff_err *err) {
    memset(p, 0, sizeof *p);
    if (frames < 1 || n_ranks < 1 || overlap < 1 || t_factor < 1)
        return ff_err_set(err, FF_ERR_ARG, "mpi plan: %lld latent frames, %d ranks, overlap %d (each must be >= 1)",
                          (long long)frames, n_ranks, overlap);
    int64_t w = frames / overlap;
    if (w > n_ranks) w = n_ranks;
    if (w < 1) w = 1;
    p->n_ranks = n_ranks, p->n_windows = (int)w, p->frames = frames, p->overlap = overlap, p->t_factor = t_factor;
    p->core = malloc(sizeof *p->core * (size_t)(w + 1));
    if (!p->core) return ff_err_set(err, FF_ERR_NOMEM, "mpi plan: out of memory");
    for (int64_t k = 0; k <= w; k++) p->core[k] = k * frames / w;
    return FF_OK;
}

void ff_mpi_plan_free(ff_mpi_plan *p) {
    free(p->core);
    memset(p, 0, sizeof *p);
}

void ff_mpi_plan_window(const ff_mpi_plan *p, int k, int64_t *s, int64_t *e) {
    *s = k > 0 ? p->core[k] - p->overlap : 0;
    if (*s < 0) *s = 0;
    *e = p->core[k + 1];
}

int ff_mpi_plan_owner(const ff_mpi_plan *p, int64_t f) {
    int k = 0;
    while (k + 1 < p->n_windows && p->core[k + 1] <= f) k++;
    return k;
}

void ff_mpi_plan_merge_weights(int overlap, int j, float *w_earlier, float *w_later) {
    double x = (double)(j + 1) / (double)(overlap + 1);
    *w_later = (float)x;
    *w_earlier = (float)(1.0 - x);
}

int ff_mpi_plan_in_overlap(const ff_mpi_plan *p, int64_t f) {
    int m = ff_mpi_plan_owner(p, f);
    return m + 1 < p->n_windows && f >= p->core[m + 1] - p->overlap;
}

int64_t ff_mpi_plan_pixel_first(const ff_mpi_plan *p, int64_t f) { return f ? (int64_t)p->t_factor * (f - 1) + 1 : 0; }
int64_t ff_mpi_plan_pixel_count(const ff_mpi_plan *p, int64_t f) { return f ? p->t_factor : 1; }
int64_t ff_mpi_plan_pixel_frames(const ff_mpi_plan *p) { return 1 + (int64_t)p->t_factor * (p->frames - 1); }

void ff_mpi_plan_decode_pixel(const ff_mpi_plan *p, int64_t f, int64_t q, int *owner, int *later, float *w_later) {
    int m = ff_mpi_plan_owner(p, f);
    *owner = m, *later = -1, *w_later = 0.0f;
    if (m + 1 >= p->n_windows) return;
    int64_t s, e;
    ff_mpi_plan_window(p, m + 1, &s, &e);
    if (f <= s || f >= p->core[m + 1]) return; /* before the window, its warm-up frame, or its own core */
    int64_t n = (int64_t)p->t_factor * (p->overlap - 1), i = (int64_t)p->t_factor * (f - s - 1) + q;
    *later = m + 1;
    *w_later = (float)((double)(i + 1) / (double)(n + 1));
}

int ff_mpi_plan_decode_kept(const ff_mpi_plan *p, int k, int64_t f) {
    int64_t s, e;
    ff_mpi_plan_window(p, k, &s, &e);
    return f >= s && f < e && (k == 0 || f > s);
}

void ff_mpi_plan_tiles(int n_tiles, int n_ranks, int r, int *t0, int *n) {
    int64_t a = (int64_t)n_tiles * r / n_ranks, b = (int64_t)n_tiles * (r + 1) / n_ranks;
    *t0 = (int)a;
    *n = (int)(b - a);
}
