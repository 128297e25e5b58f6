/* golden_pipe: the pieces every whole-pipeline golden handler uses (golden_pipe.h). */
#include "cli/golden_pipe.h"

#include <stdlib.h>
#include <string.h>

ff_status golden_opt_strings(const golden_case *c, const char *key, const char ***items, int *n, ff_err *err) {
    *items = NULL;
    *n = 0;
    const ff_json *v = ff_json_get(c->options, key);
    if (ff_json_is_null(v)) return FF_OK;
    const size_t cnt = v->type == FF_JSON_STRING ? 1 : v->type == FF_JSON_ARRAY ? ff_json_count(v) : 0;
    if ((v->type != FF_JSON_STRING && v->type != FF_JSON_ARRAY) || cnt > 4096)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.%s is not a string or a list of strings", c->name, key);
    if (!(*items = calloc(cnt ? cnt : 1, sizeof **items))) return ff_err_set(err, FF_ERR_NOMEM, "no memory");
    for (size_t i = 0; i < cnt; i++) {
        const ff_json *e = v->type == FF_JSON_STRING ? v : ff_json_at(v, i);
        if (!e || e->type != FF_JSON_STRING || strlen(e->str) != e->len) {
            free(*items);
            *items = NULL;
            return ff_err_set(err, FF_ERR_FORMAT, "%s: options.%s[%zu] is not a string", c->name, key, i);
        }
        (*items)[i] = e->str;
    }
    *n = (int)cnt;
    return FF_OK;
}

ff_status golden_opt_int(const golden_case *c, const char *key, int64_t dflt, int64_t lo, int64_t hi, int *out,
                         ff_err *err) {
    int64_t v;
    if (ff_json_get_int64(c->options, key, dflt, &v) || v < lo || v > hi)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.%s must be an integer in [%lld, %lld]", c->name, key,
                          (long long)lo, (long long)hi);
    *out = (int)v;
    return FF_OK;
}

ff_status golden_pipe_add_chunk(ff_tensor *video, ff_tensor *frames, const ff_chain_chunk *ch, ff_err *err) {
    const ff_tensor *v = ch->video, *f = ch->frames;
    const int64_t nb = v->shape[0], C = v->shape[1], nt = v->shape[2], H = v->shape[3], W = v->shape[4];
    ff_status st;
    if (!video->data && ((st = ff_tensor_allocv(video, FF_F32, err, 5, ch->batch, C, ch->num_frames, H, W)) ||
                         (st = ff_tensor_allocv(frames, FF_F32, err, 5, ch->batch, ch->num_frames, H, W, C))))
        return st;
    if (ch->b0 + nb > ch->batch || ch->t0 + nt > ch->num_frames || video->shape[1] != C || video->shape[3] != H ||
        video->shape[4] != W)
        return ff_err_set(err, FF_ERR_SHAPE, "decode chunk b0=%lld t0=%lld does not fit the video", (long long)ch->b0,
                          (long long)ch->t0);
    const int64_t T = ch->num_frames, plane = H * W;
    float *vd = video->data, *fd = frames->data;
    const float *vs = v->data, *fs = f->data;
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < nt; t++)
                memcpy(vd + (((ch->b0 + b) * C + c) * T + ch->t0 + t) * plane, vs + ((b * C + c) * nt + t) * plane,
                       (size_t)plane * sizeof(float));
        memcpy(fd + ((ch->b0 + b) * T + ch->t0) * plane * C, fs + b * nt * plane * C, (size_t)(nt * plane * C) * sizeof(float));
    }
    return FF_OK;
}
