/* hunyuan_embed: the host-side tables of the HunyuanVideo transformer: the
 * sinusoidal projection of timesteps and guidance (diffusers Timesteps) and
 * the 3-D rotary tables (HunyuanVideoRotaryPosEmbed). Both are small, are
 * computed on the host in float32 as torch computes them, and are uploaded
 * by the forward pass. Not here: applying them (hunyuan_forward.c). */
#include <math.h>
#include <stdlib.h>

#include "models/hunyuan_transformer.h"

/* Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0) =
 * get_timestep_embedding in float32: exponent_i = float(-ln(10000)) * i
 * (float32) / 128; f_i = exp(exponent_i); arg = float(t) * f_i (float32);
 * [cos(arg) | sin(arg)]. Guidance values reach 1e4 and more radians: the
 * cosine and sine are taken in double (exact range reduction) and rounded
 * once, within an ulp of torch's float32 kernels. */
void ff_hydit_timestep_proj(const float *t, int64_t n, float *out) {
    enum { HALF = 128 };
    const float neg_log_max = (float)-log(10000.0);
    float f[HALF];
    for (int i = 0; i < HALF; i++) {
        float e = neg_log_max * (float)i;
        e = e / (float)HALF;
        f[i] = expf(e);
    }
    for (int64_t r = 0; r < n; r++) {
        float *o = out + r * 2 * HALF;
        for (int i = 0; i < HALF; i++) {
            const float arg = t[r] * f[i];
            o[i] = (float)cos((double)arg);
            o[HALF + i] = (float)sin((double)arg);
        }
    }
}

/* HunyuanVideoRotaryPosEmbed.forward: for axis a in (t, h, w) with d_a =
 * rope_axes_dim[a] channels, get_1d_rotary_pos_embed(d_a, grid_a, theta,
 * use_real=True) in float32: freq_j = 1 / theta^(float32(2j) / d_a) (float32
 * pow and division), angle = float32(pos_a) * freq_j (float32), cos/sin of
 * the float32 angle, each repeated for both channels of pair j
 * (repeat_interleave(2)); the axes are concatenated [t | h | w]. Token n =
 * (t * ph + h) * pw + w (meshgrid "ij", flattened). */
ff_status ff_hydit_rope_tables(const ff_hydit_config *cfg, int64_t pf, int64_t ph, int64_t pw, float *cos_out,
                               float *sin_out, ff_err *err) {
    const int hd = cfg->head_dim;
    const int64_t grid[3] = {pf, ph, pw};
    for (int a = 0; a < 3; a++)
        if (grid[a] < 1 || grid[a] > (1 << 24))
            return ff_err_set(err, FF_ERR_ARG, "rotary embedding: post-patch grid %lld x %lld x %lld out of range",
                              (long long)pf, (long long)ph, (long long)pw);
    float *freq = malloc((size_t)hd / 2 * sizeof *freq);
    int *axis = malloc((size_t)hd / 2 * sizeof *axis);
    if (!freq || !axis) {
        free(freq);
        free(axis);
        return ff_err_set(err, FF_ERR_NOMEM, "rotary embedding: cannot allocate %d columns", hd);
    }
    const float theta = cfg->rope_theta;
    int c = 0;
    for (int a = 0; a < 3; a++) {
        const int d = cfg->rope_axes_dim[a];
        for (int j = 0; j < d / 2; j++, c++) {
            const float e = (float)(2 * j) / (float)d;
            const float p = (float)pow((double)theta, (double)e);
            freq[c] = 1.0f / p;
            axis[c] = a;
        }
    }
    int64_t tok = 0;
    for (int64_t f = 0; f < pf; f++)
        for (int64_t y = 0; y < ph; y++)
            for (int64_t x = 0; x < pw; x++, tok++) {
                const float pos[3] = {(float)f, (float)y, (float)x};
                float *co = cos_out + tok * hd, *so = sin_out + tok * hd;
                for (int i = 0; i < hd / 2; i++) {
                    const float ang = pos[axis[i]] * freq[i];
                    co[2 * i] = co[2 * i + 1] = (float)cos((double)ang);
                    so[2 * i] = so[2 * i + 1] = (float)sin((double)ang);
                }
            }
    free(freq);
    free(axis);
    return FF_OK;
}
