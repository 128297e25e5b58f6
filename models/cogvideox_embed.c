/* cogvideox_embed: the host-side tables of the CogVideoX transformer, in the
 * precision diffusers computes them:
 *  - the sinusoidal timestep embedding (Timesteps / get_timestep_embedding),
 *    float32;
 *  - the 3-D sincos positions of CogVideoX 1.0 (CogVideoXPatchEmbed.
 *    _get_positional_embeddings -> get_3d_sincos_pos_embed), float64 math on
 *    float32 positions, rounded to float32 once;
 *  - the 3-D rotary tables of CogVideoX-5B and 1.5 (CogVideoXPipeline.
 *    _prepare_rotary_positional_embeddings -> get_3d_rotary_pos_embed),
 *    float32 angles and cos/sin.
 * Not here: applying them (cogvideox_forward.c). */
#include <math.h>
#include <stdlib.h>

#include "models/cogvideox_transformer.h"

/* get_timestep_embedding(t, dim, flip_sin_to_cos, downscale_freq_shift,
 * scale=1, max_period=10000) as torch computes it in float32. */
void ff_cogdit_timestep_embedding(const float *t, int64_t n, int dim, int flip, float shift, float *out) {
    const int half = dim / 2;
    const float neg_log_max = (float)-log(10000.0);
    const float denom = (float)half - shift;
    for (int64_t r = 0; r < n; r++) {
        float *o = out + r * dim;
        for (int i = 0; i < half; i++) {
            float e = neg_log_max * (float)i;
            e = e / denom;
            float arg = t[r] * expf(e);
            float sv = sinf(arg), cv = cosf(arg);
            o[flip ? i : half + i] = cv;
            o[flip ? half + i : i] = sv;
        }
        if (dim % 2) o[dim - 1] = 0.0f;
    }
}

ff_status ff_cogdit_grid(const ff_cogdit_config *cfg, int64_t F, int64_t h, int64_t w, int64_t grid[3], ff_err *err) {
    const int p = cfg->patch_size, pt = cfg->patch_size_t;
    if (F < 1 || h < p || w < p || h % p || w % p || (pt && F % pt))
        return ff_err_set(err, FF_ERR_SHAPE,
                          "transformer: latent input of %lld frames x %lld x %lld does not split into patches of "
                          "%d x %d x %d (pad frames to a multiple of patch_size_t; height and width must be "
                          "multiples of %d latents)",
                          (long long)F, (long long)h, (long long)w, pt ? pt : 1, p, p, p);
    grid[0] = pt ? F / pt : F;
    grid[1] = h / p;
    grid[2] = w / p;
    return FF_OK;
}

/* get_1d_sincos_pos_embed_from_grid(d, pos): [sin(pos * w_i) | cos(pos * w_i)],
 * w_i = 1 / 10000^(i / (d/2)) in float64. */
static void sincos_1d(int d, double pos, float *out) {
    const int half = d / 2;
    for (int i = 0; i < half; i++) {
        double omega = (double)i / (d / 2.0);
        omega = 1.0 / pow(10000.0, omega);
        double a = pos * omega;
        out[i] = (float)sin(a);
        out[half + i] = (float)cos(a);
    }
}

ff_status ff_cogdit_sincos_table(const ff_cogdit_config *cfg, int64_t frames, int64_t h, int64_t w, float *out,
                                 ff_err *err) {
    const int D = cfg->dim, ds = 3 * D / 4, dt = D / 4;
    if (D % 16) return ff_err_set(err, FF_ERR_ARG, "sincos positions: inner dim %d is not a multiple of 16", D);
    const int p = cfg->patch_size;
    const int64_t gh = h / p, gw = w / p;
    if (frames < 1 || gh < 1 || gw < 1)
        return ff_err_set(err, FF_ERR_ARG, "sincos positions: %lld frames, %lld x %lld latents", (long long)frames,
                          (long long)h, (long long)w);
    const float ss = (float)cfg->spatial_interpolation_scale, ts = (float)cfg->temporal_interpolation_scale;
    float *col = malloc((size_t)gw * (ds / 2) * sizeof *col), *row = malloc((size_t)gh * (ds / 2) * sizeof *row);
    if (!col || !row) {
        free(col);
        free(row);
        return ff_err_set(err, FF_ERR_NOMEM, "sincos positions: cannot allocate %lld x %lld tables", (long long)gh,
                          (long long)gw);
    }
    /* positions in float32 (arange / scale), promoted to float64 for the products */
    for (int64_t x = 0; x < gw; x++) sincos_1d(ds / 2, (double)((float)x / ss), col + x * (ds / 2));
    for (int64_t y = 0; y < gh; y++) sincos_1d(ds / 2, (double)((float)y / ss), row + y * (ds / 2));
    float *tp = malloc((size_t)dt * sizeof *tp);
    if (!tp) {
        free(col);
        free(row);
        return ff_err_set(err, FF_ERR_NOMEM, "sincos positions: cannot allocate %d floats", dt);
    }
    int64_t tok = 0;
    for (int64_t t = 0; t < frames; t++) {
        sincos_1d(dt, (double)((float)t / ts), tp);
        for (int64_t y = 0; y < gh; y++)
            for (int64_t x = 0; x < gw; x++, tok++) {
                float *o = out + tok * D; /* [temporal | from the column | from the row] */
                for (int i = 0; i < dt; i++) o[i] = tp[i];
                for (int i = 0; i < ds / 2; i++) o[dt + i] = col[x * (ds / 2) + i];
                for (int i = 0; i < ds / 2; i++) o[dt + ds / 2 + i] = row[y * (ds / 2) + i];
            }
    }
    free(col);
    free(row);
    free(tp);
    return FF_OK;
}

/* Python round(): half to even. */
static int64_t py_round(double v) { return (int64_t)nearbyint(v); }

void ff_cogdit_crop_region(int64_t gh, int64_t gw, int64_t base_w, int64_t base_h, int64_t crop[4]) {
    const double r = (double)gh / (double)gw;
    int64_t rh, rw;
    if (r > (double)base_h / (double)base_w) {
        rh = base_h;
        rw = py_round((double)base_h / (double)gh * (double)gw);
    } else {
        rw = base_w;
        rh = py_round((double)base_w / (double)gw * (double)gh);
    }
    const int64_t top = py_round((double)(base_h - rh) / 2.0), left = py_round((double)(base_w - rw) / 2.0);
    crop[0] = top, crop[1] = left, crop[2] = top + rh, crop[3] = left + rw;
}

/* torch.linspace(start, end, n, dtype=float32) (CPU scalar kernel). */
static float linspace_f32(double start_d, double end_d, int64_t n, int64_t i) {
    const float start = (float)start_d, end = (float)end_d;
    if (n == 1) return start;
    const float step = (end - start) / (float)(n - 1);
    return i < n / 2 ? start + step * (float)i : end - step * (float)(n - i - 1);
}

/* get_1d_rotary_pos_embed(d, pos, theta=10000, use_real, repeat_interleave_real)
 * for one position: cos/sin of float32 angles pos * f_i, f_i = 1 /
 * 10000^(2i/d) in float32, each repeated for both channels of the pair. */
static void rope_1d(int d, float pos, float *co, float *so) {
    for (int i = 0; i < d / 2; i++) {
        float e = (float)(2 * i) / (float)d;
        float f = 1.0f / powf(10000.0f, e);
        float a = pos * f;
        co[2 * i] = co[2 * i + 1] = (float)cos((double)a);
        so[2 * i] = so[2 * i + 1] = (float)sin((double)a);
    }
}

ff_status ff_cogdit_rope_tables(const ff_cogdit_config *cfg, int64_t F, int64_t h, int64_t w, float *cos_out,
                                float *sin_out, ff_err *err) {
    const int hd = cfg->head_dim, dim_t = hd / 4, dim_h = hd / 8 * 3, dim_w = hd / 8 * 3;
    if (dim_t % 2 || dim_h % 2 || dim_t + dim_h + dim_w != hd)
        return ff_err_set(err, FF_ERR_ARG, "rotary embedding: attention_head_dim %d must be a multiple of 16", hd);
    const int p = cfg->patch_size, pt = cfg->patch_size_t;
    if (F < 1 || h < p || w < p)
        return ff_err_set(err, FF_ERR_ARG, "rotary embedding: %lld frames, %lld x %lld latents", (long long)F,
                          (long long)h, (long long)w);
    const int64_t gh = h / p, gw = w / p;
    const int64_t base_w = cfg->sample_width / p, base_h = cfg->sample_height / p;
    const int64_t T = pt ? (F + pt - 1) / pt : F;
    float *pos_t = malloc((size_t)T * sizeof *pos_t), *pos_h = malloc((size_t)gh * sizeof *pos_h),
          *pos_w = malloc((size_t)gw * sizeof *pos_w);
    if (!pos_t || !pos_h || !pos_w) {
        free(pos_t);
        free(pos_h);
        free(pos_w);
        return ff_err_set(err, FF_ERR_NOMEM, "rotary embedding: cannot allocate the grid");
    }
    if (!pt) { /* CogVideoX 1.0: 'linspace' grid inside the crop region */
        int64_t c[4];
        ff_cogdit_crop_region(gh, gw, base_w, base_h, c);
        for (int64_t i = 0; i < gh; i++)
            pos_h[i] = linspace_f32((double)c[0], (double)c[2] * (double)(gh - 1) / (double)gh, gh, i);
        for (int64_t i = 0; i < gw; i++)
            pos_w[i] = linspace_f32((double)c[1], (double)c[3] * (double)(gw - 1) / (double)gw, gw, i);
        for (int64_t i = 0; i < T; i++) pos_t[i] = linspace_f32(0.0, (double)T * (double)(T - 1) / (double)T, T, i);
    } else { /* CogVideoX 1.5: 'slice' of the max_size grid */
        if (gh > base_h || gw > base_w) {
            free(pos_t);
            free(pos_h);
            free(pos_w);
            return ff_err_set(err, FF_ERR_ARG,
                              "rotary embedding: a %lld x %lld patch grid exceeds the model's %lld x %lld "
                              "(sample_height / patch_size x sample_width / patch_size; diffusers fails here too)",
                              (long long)gh, (long long)gw, (long long)base_h, (long long)base_w);
        }
        for (int64_t i = 0; i < gh; i++) pos_h[i] = (float)i;
        for (int64_t i = 0; i < gw; i++) pos_w[i] = (float)i;
        for (int64_t i = 0; i < T; i++) pos_t[i] = (float)i;
    }
    int64_t tok = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t y = 0; y < gh; y++)
            for (int64_t x = 0; x < gw; x++, tok++) {
                float *co = cos_out + tok * hd, *so = sin_out + tok * hd;
                rope_1d(dim_t, pos_t[t], co, so);
                rope_1d(dim_h, pos_h[y], co + dim_t, so + dim_t);
                rope_1d(dim_w, pos_w[x], co + dim_t + dim_h, so + dim_t + dim_h);
            }
    free(pos_t);
    free(pos_h);
    free(pos_w);
    return FF_OK;
}
