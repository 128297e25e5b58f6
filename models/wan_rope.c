/* wan_rope: the host-side tables of the Wan transformer: the sinusoidal
 * timestep embedding (diffusers Timesteps / get_timestep_embedding) and the
 * 3-D rotary tables (WanRotaryPosEmbed). Both are small and computed on the
 * host in the precision diffusers uses, then uploaded by the forward pass.
 * Not here: applying them (ff_op_rope, linear layers in wan_forward.c). */
#include <math.h>
#include <stdlib.h>

#include "models/wan_transformer.h"

/* get_timestep_embedding(t, freq_dim, flip_sin_to_cos=True,
 * downscale_freq_shift=0, scale=1, max_period=10000), all in float32 as
 * torch computes it: exponent = float(-ln(10000)) * i / half; f = exp(exponent);
 * arg = float(t) * f; emb = [cos(arg) | sin(arg)] (flipped), zero pad if odd. */
void ff_wandit_timestep_embedding(const float *t, int64_t n, int freq_dim, float *out) {
    int half = freq_dim / 2;
    const float neg_log_max = (float)-log(10000.0);
    for (int64_t r = 0; r < n; r++) {
        float *o = out + r * freq_dim;
        for (int i = 0; i < half; i++) {
            float e = neg_log_max * (float)i;
            e = e / (float)half;
            float f = expf(e);
            float arg = t[r] * f;
            o[i] = cosf(arg);
            o[half + i] = sinf(arg);
        }
        if (freq_dim % 2) o[freq_dim - 1] = 0.0f;
    }
}

/* WanRotaryPosEmbed: head_dim channels split into t_dim, h_dim, w_dim
 * (h_dim = w_dim = 2*(head_dim//6), t_dim = the rest), each the table of
 * get_1d_rotary_pos_embed(dim, rope_max_seq_len, 10000, use_real=True,
 * repeat_interleave_real=True, freqs_dtype=float64) indexed by the frame, row
 * and column of the token. Angles are float64 (pos * freq), cos/sin are
 * rounded to float32 afterwards. (Some later diffusers revisions split the
 * columns by head_dim//3 in forward(); that differs when head_dim % 6 != 0,
 * e.g. the tiny golden models' 16, and the golden diffusers commit does
 * not do it: the golden cases pass at ~5e-7 with this split, ~2e-4 with
 * the other.) apply_rotary_emb takes the cosine of pair i from channel 2i
 * and the sine from channel 2i+1; both are the same angle here, and both
 * channels of a pair get it so that ff_op_rope may read either. */
ff_status ff_wandit_rope_tables(const ff_wandit_config *cfg, int64_t pf, int64_t ph, int64_t pw, float *cos_out,
                             float *sin_out, ff_err *err) {
    const int hd = cfg->head_dim;
    const int64_t grid[3] = {pf, ph, pw};
    static const char *const axis_name[3] = {"frames", "height", "width"};
    for (int a = 0; a < 3; a++)
        if (grid[a] < 1 || grid[a] > cfg->rope_max_seq_len)
            return ff_err_set(err, FF_ERR_ARG,
                              "rotary embedding: %lld post-patch %s outside [1, rope_max_seq_len = %d]",
                              (long long)grid[a], axis_name[a], cfg->rope_max_seq_len);
    double *freq = malloc((size_t)hd * sizeof *freq);
    int *axis = malloc((size_t)hd * sizeof *axis);
    if (!freq || !axis) {
        free(freq);
        free(axis);
        return ff_err_set(err, FF_ERR_NOMEM, "rotary embedding: cannot allocate %d columns", hd);
    }
    const int hw_dim = 2 * (hd / 6);
    const int seg[3] = {hd - 2 * hw_dim, hw_dim, hw_dim};
    int c = 0;
    for (int s = 0; s < 3; s++)
        for (int j = 0; j < seg[s]; j++, c++) /* 1 / 10000^(arange(0, dim, 2) / dim), each repeated twice */
            freq[c] = 1.0 / pow(10000.0, (double)(2 * (j / 2)) / (double)seg[s]);
    c = 0;
    for (int s = 0; s < 3; s++)
        for (int j = 0; j < seg[s]; j++) axis[c++] = s;

    int64_t tok = 0;
    for (int64_t f = 0; f < pf; f++)
        for (int64_t y = 0; y < ph; y++)
            for (int64_t x = 0; x < pw; x++, tok++) {
                const double pos[3] = {(double)f, (double)y, (double)x};
                float *co = cos_out + tok * hd, *so = sin_out + tok * hd;
                for (int i = 0; i < hd / 2; i++) {
                    float cv = (float)cos(pos[axis[2 * i]] * freq[2 * i]);
                    float sv = (float)sin(pos[axis[2 * i + 1]] * freq[2 * i + 1]);
                    co[2 * i] = co[2 * i + 1] = cv;
                    so[2 * i] = so[2 * i + 1] = sv;
                }
            }
    free(freq);
    free(axis);
    return FF_OK;
}
