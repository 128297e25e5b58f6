/* golden_hunyuan: handlers of the HunyuanVideo model-level cases
 * (../shared/golden/HUNYUANVIDEO.md): hunyuan_rng (prepare_latents),
 * hunyuan_transformer (rotary tables, condition embedding, token refiner,
 * full forwards with every stage's output through the forward's taps),
 * hunyuan_scheduler (set_timesteps(sigmas=...) and the Euler step sequence)
 * and hunyuan_vae (decode / encode with the case's tiling and slicing).
 * The text encoders and the pipeline cases are other handlers' business. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/golden.h"
#include "models/hunyuan_transformer.h"
#include "models/hunyuan_vae.h"
#include "pipeline/hunyuan_latents.h"
#include "pipeline/scheduler.h"

static ff_status opt_int(const golden_case *c, const char *key, int64_t *v, ff_err *err) {
    if (ff_json_get_int64(c->options, key, INT64_MIN, v) || *v == INT64_MIN)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.%s is missing or not an integer", c->name, key);
    return FF_OK;
}

static ff_status input(const golden_case *c, const char *name, ff_dtype dt, ff_tensor *t, ff_err *err) {
    if (!c->inputs) return ff_err_set(err, FF_ERR_FORMAT, "%s: no inputs.safetensors", c->name);
    return ff_st_load(c->inputs, name, dt, t, err);
}

/* A host tensor on the case's backend (allocated; caller frees with ff_be_free). */
static ff_status to_dev(const golden_case *c, const ff_tensor *h, ff_tensor *d, ff_err *err) {
    ff_status st = ff_be_alloc(c->be, d, FF_F32, h->ndim, h->shape, err);
    if (!st && (st = ff_be_upload(c->be, d, h, err))) ff_be_free(c->be, d);
    return st;
}

/* Downloads a backend tensor into outs[name]. */
static ff_status add_dev(const golden_case *c, golden_outputs *outs, const char *name, const ff_tensor *d,
                         ff_err *err) {
    ff_tensor h;
    ff_status st = ff_tensor_alloc(&h, FF_F32, d->ndim, d->shape, err);
    if (st) return st;
    if ((st = ff_be_download(c->be, &h, d, err))) {
        ff_tensor_free(&h);
        return st;
    }
    return golden_out_add(outs, name, &h, err);
}

/* ---- hunyuan_rng ------------------------------------------------------------ */

static ff_status run_rng(const golden_case *c, golden_outputs *outs, ff_err *err) {
    int64_t b, ch, h, w, f, st_, ss;
    ff_status st;
    if ((st = opt_int(c, "batch_size", &b, err)) || (st = opt_int(c, "num_channels_latents", &ch, err)) ||
        (st = opt_int(c, "height", &h, err)) || (st = opt_int(c, "width", &w, err)) ||
        (st = opt_int(c, "num_frames", &f, err)))
        return st;
    if (ff_json_get_int64(c->options, "vae_scale_factor_temporal", FF_HUNYUAN_VAE_SCALE_T, &st_) ||
        ff_json_get_int64(c->options, "vae_scale_factor_spatial", FF_HUNYUAN_VAE_SCALE_S, &ss) || st_ < 1 ||
        st_ > 64 || ss < 1 || ss > 64)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.vae_scale_factor_* must be integers in [1, 64]", c->name);
    const ff_json *sj = ff_json_get(c->options, "seeds");
    uint64_t seeds[64];
    size_t n = ff_json_count(sj);
    if (!sj || sj->type != FF_JSON_ARRAY || n < 1 || n > 64)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.seeds must be an array of 1..64 seeds", c->name);
    for (size_t i = 0; i < n; i++)
        if (ff_json_uint64(ff_json_at(sj, i), &seeds[i]))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: seed %zu is not an unsigned integer", c->name, i);
    int64_t shape[5];
    ff_tensor t;
    if ((st = ff_hunyuan_latent_shape(b, ch, h, w, f, (int)st_, (int)ss, shape, err)) ||
        (st = ff_hunyuan_prepare_latents(shape, seeds, n, &t, err)))
        return st;
    return golden_out_add(outs, "latents", &t, err);
}

/* ---- hunyuan_scheduler ---------------------------------------------------------- */

static ff_status run_scheduler(const golden_case *c, golden_outputs *outs, ff_err *err) {
    int64_t n;
    ff_status st = opt_int(c, "num_inference_steps", &n, err);
    if (st) return st;
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: scheduler case without a pipeline", c->name);
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/scheduler", c->pipeline) >= sizeof path)
        return ff_err_set(err, FF_ERR_ARG, "%s: pipeline path too long", c->name);
    ff_sched *s = NULL;
    ff_tensor t = {0}, sample = {0}, mo = {0}, prev = {0};
    if ((st = ff_sched_load(path, &s, err))) return st;
    if ((st = ff_hunyuan_set_timesteps(s, n, err))) goto done;
    if ((st = ff_sched_timesteps_tensor(s, &t, err)) || (st = golden_out_add(outs, "timesteps", &t, err))) goto done;
    if ((st = ff_sched_sigmas_tensor(s, &t, err)) || (st = golden_out_add(outs, "sigmas", &t, err))) goto done;
    if (!strstr(c->op, ".step")) goto done;
    /* the pipeline's loop: x = step(model_outputs[i], t_i, x); the first step index is 0 */
    if ((st = input(c, "sample", FF_F32, &sample, err)) || (st = input(c, "model_outputs", FF_F32, &mo, err)))
        goto done;
    const int64_t numel = ff_tensor_numel(&sample);
    if (sample.ndim >= FF_MAX_DIMS || mo.shape[0] < n || ff_tensor_numel(&mo) != mo.shape[0] * numel) {
        st = ff_err_set(err, FF_ERR_SHAPE, "%s: model_outputs do not hold %lld steps of the sample", c->name,
                        (long long)n);
        goto done;
    }
    int64_t shape[FF_MAX_DIMS];
    shape[0] = n;
    for (int d = 0; d < sample.ndim; d++) shape[d + 1] = sample.shape[d];
    if ((st = ff_tensor_alloc(&prev, FF_F32, sample.ndim + 1, shape, err))) goto done;
    for (int64_t i = 0; i < n; i++) {
        ff_tensor m_i, out_i;
        ff_tensor_view(&m_i, FF_F32, sample.ndim, sample.shape, (float *)mo.data + i * numel, FF_LOC_HOST);
        ff_tensor_view(&out_i, FF_F32, sample.ndim, sample.shape, (float *)prev.data + i * numel, FF_LOC_HOST);
        if ((st = ff_sched_step(s, &m_i, &sample, &out_i, err))) goto done;
        memcpy(sample.data, out_i.data, (size_t)numel * sizeof(float));
    }
    st = golden_out_add(outs, "prev_samples", &prev, err);
done:
    ff_sched_free(s);
    ff_tensor_free(&sample);
    ff_tensor_free(&mo);
    ff_tensor_free(&prev);
    return st;
}

/* ---- hunyuan_transformer ------------------------------------------------------- */

typedef struct {
    const golden_case *c;
    golden_outputs *outs;
} tap_ctx;

static ff_status tap_out(void *user, const char *name, const ff_tensor *t, ff_err *err) {
    tap_ctx *tc = user;
    return add_dev(tc->c, tc->outs, name, t, err);
}

static ff_status run_rope(const golden_case *c, ff_hydit_model *m, golden_outputs *outs, ff_err *err) {
    int ndim;
    int64_t hs[FF_MAX_DIMS];
    ff_status st = golden_opt_shape(ff_json_get(c->options, "hidden_states_shape"), &ndim, hs, err);
    if (st) return ff_err_wrap(err, "%s: options.hidden_states_shape: ", c->name);
    if (ndim != 5) return ff_err_set(err, FF_ERR_FORMAT, "%s: hidden_states_shape must have 5 dims", c->name);
    /* only the shape of hidden_states matters */
    const int64_t pf = hs[2] / m->cfg.patch_t, ph = hs[3] / m->cfg.patch, pw = hs[4] / m->cfg.patch;
    ff_tensor co = {0}, si = {0};
    if ((st = ff_tensor_allocv(&co, FF_F32, err, 2, pf * ph * pw, (int64_t)m->cfg.head_dim)) ||
        (st = ff_tensor_allocv(&si, FF_F32, err, 2, pf * ph * pw, (int64_t)m->cfg.head_dim)) ||
        (st = ff_hydit_rope_tables(&m->cfg, pf, ph, pw, co.data, si.data, err)) ||
        (st = golden_out_add(outs, "freqs_cos", &co, err)) || (st = golden_out_add(outs, "freqs_sin", &si, err))) {
        ff_tensor_free(&co);
        ff_tensor_free(&si);
    }
    return st;
}

static ff_status run_cond(const golden_case *c, ff_hydit_model *m, golden_outputs *outs, ff_err *err) {
    ff_tensor t = {0}, g = {0}, hp = {0}, dp = {0};
    ff_tensor d[5] = {{0}};
    ff_status st;
    if ((st = input(c, "timestep", FF_F32, &t, err)) || (st = input(c, "pooled_projection", FF_F32, &hp, err)))
        goto done;
    if (c->inputs && ff_st_find(c->inputs, "guidance") && (st = input(c, "guidance", FF_F32, &g, err))) goto done;
    if ((st = to_dev(c, &hp, &dp, err))) goto done;
    const int64_t B = hp.shape[0], D = m->cfg.dim;
    const int64_t sd[2] = {B, D}, sp[2] = {B, 256};
    for (int i = 0; i < 5; i++)
        if ((st = ff_be_alloc(c->be, &d[i], FF_F32, 2, i == 1 ? sp : sd, err))) goto done;
    ff_hydit_cond_parts parts = {&d[1], &d[2], m->cfg.guidance_embeds ? &d[3] : NULL, &d[4]};
    if ((st = ff_hydit_condition_embed(m, c->be, &t, &dp, g.data ? &g : NULL, &d[0], &parts, err))) goto done;
    static const char *names[5] = {"temb", "timestep_proj", "timestep_emb", "guidance_emb", "pooled_emb"};
    for (int i = 0; i < 5 && !st; i++)
        if (i != 3 || m->cfg.guidance_embeds) st = add_dev(c, outs, names[i], &d[i], err);
done:
    ff_tensor_free(&t);
    ff_tensor_free(&g);
    ff_tensor_free(&hp);
    ff_be_free(c->be, &dp);
    for (int i = 0; i < 5; i++) ff_be_free(c->be, &d[i]);
    return st;
}

static ff_status run_refiner(const golden_case *c, ff_hydit_model *m, golden_outputs *outs, ff_err *err) {
    ff_tensor text = {0}, t = {0}, mask = {0}, dtext = {0}, dout = {0};
    ff_status st;
    if ((st = input(c, "encoder_hidden_states", FF_F32, &text, err)) || (st = input(c, "timestep", FF_F32, &t, err)) ||
        (st = input(c, "attention_mask", FF_F32, &mask, err)) || (st = to_dev(c, &text, &dtext, err)))
        goto done;
    {
        const int64_t os[3] = {text.shape[0], text.shape[1], m->cfg.dim};
        if ((st = ff_be_alloc(c->be, &dout, FF_F32, 3, os, err))) goto done;
    }
    tap_ctx tc = {c, outs};
    ff_hydit_taps taps = {tap_out, &tc};
    if ((st = ff_hydit_token_refiner(m, c->be, &dtext, &t, &mask, &taps, &dout, err))) goto done;
    st = add_dev(c, outs, "text_refined", &dout, err);
done:
    ff_tensor_free(&text);
    ff_tensor_free(&t);
    ff_tensor_free(&mask);
    ff_be_free(c->be, &dtext);
    ff_be_free(c->be, &dout);
    return st;
}

static ff_status run_forward(const golden_case *c, ff_hydit_model *m, golden_outputs *outs, ff_err *err) {
    ff_tensor x = {0}, t = {0}, text = {0}, mask = {0}, pooled = {0}, g = {0};
    ff_tensor dx = {0}, dtext = {0}, dpooled = {0}, dout = {0};
    ff_status st;
    if ((st = input(c, "hidden_states", FF_F32, &x, err)) || (st = input(c, "timestep", FF_F32, &t, err)) ||
        (st = input(c, "encoder_hidden_states", FF_F32, &text, err)) ||
        (st = input(c, "encoder_attention_mask", FF_F32, &mask, err)) ||
        (st = input(c, "pooled_projections", FF_F32, &pooled, err)))
        goto done;
    if (ff_st_find(c->inputs, "guidance") && (st = input(c, "guidance", FF_F32, &g, err))) goto done;
    if ((st = to_dev(c, &x, &dx, err)) || (st = to_dev(c, &text, &dtext, err)) ||
        (st = to_dev(c, &pooled, &dpooled, err)))
        goto done;
    int64_t os[5];
    if ((st = ff_hydit_out_shape(&m->cfg, &x, os, err)) || (st = ff_be_alloc(c->be, &dout, FF_F32, 5, os, err)))
        goto done;
    tap_ctx tc = {c, outs};
    ff_hydit_taps taps = {tap_out, &tc};
    ff_hydit_inputs in = {&dx, &t, &dtext, &mask, &dpooled, g.data ? &g : NULL};
    if ((st = ff_hydit_forward(m, c->be, &in, NULL, &taps, &dout, err))) goto done;
    st = add_dev(c, outs, "noise_pred", &dout, err);
done:
    ff_tensor *hs[] = {&x, &t, &text, &mask, &pooled, &g};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) ff_tensor_free(hs[i]);
    ff_tensor *ds[] = {&dx, &dtext, &dpooled, &dout};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) ff_be_free(c->be, ds[i]);
    return st;
}

static ff_status run_transformer(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: transformer case without a pipeline", c->name);
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", c->pipeline, c->component ? c->component : "transformer") >=
        sizeof dir)
        return ff_err_set(err, FF_ERR_ARG, "%s: pipeline path too long", c->name);
    ff_hydit_model *m = NULL;
    ff_status st = ff_hydit_load(dir, &m, err);
    if (!st) st = ff_hydit_place(m, c->be, 1, err);
    if (st) {
        ff_hydit_free(m);
        return st;
    }
    if (strncmp(c->op, "HunyuanVideoRotaryPosEmbed", 26) == 0) st = run_rope(c, m, outs, err);
    else if (strncmp(c->op, "HunyuanVideoConditionEmbedding", 30) == 0) st = run_cond(c, m, outs, err);
    else if (strncmp(c->op, "HunyuanVideoTokenRefiner", 24) == 0) st = run_refiner(c, m, outs, err);
    else if (strncmp(c->op, "HunyuanVideoTransformer3DModel.forward", 38) == 0) st = run_forward(c, m, outs, err);
    else st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no handler", c->name, c->op);
    ff_hydit_free(m);
    return st;
}

/* ---- hunyuan_vae ------------------------------------------------------------------ */

/* options.tiling: false, or enable_tiling's keyword arguments (a missing or 0
 * value keeps the current one, as `x or self.x`); options.slicing or an op
 * naming enable_slicing; options.use_framewise_decoding (default true). */
static ff_status vae_opts(const golden_case *c, ff_hyvae_opts *o, ff_err *err) {
    ff_hyvae_opts_default(o);
    const ff_json *t = ff_json_get(c->options, "tiling");
    if (t && t->type == FF_JSON_OBJECT) {
        static const char *keys[6] = {"tile_sample_min_height",    "tile_sample_min_width",
                                      "tile_sample_min_num_frames", "tile_sample_stride_height",
                                      "tile_sample_stride_width",  "tile_sample_stride_num_frames"};
        int *dst[6] = {&o->tile_sample_min_height,    &o->tile_sample_min_width,   &o->tile_sample_min_num_frames,
                       &o->tile_sample_stride_height, &o->tile_sample_stride_width, &o->tile_sample_stride_num_frames};
        o->tiling = 1;
        for (int i = 0; i < 6; i++) {
            int64_t v;
            if (ff_json_get_int64(t, keys[i], 0, &v) || v < 0 || v > (1 << 20))
                return ff_err_set(err, FF_ERR_FORMAT, "%s: options.tiling.%s is not a size", c->name, keys[i]);
            if (v) *dst[i] = (int)v;
        }
    } else if (t && t->type == FF_JSON_BOOL) {
        o->tiling = t->boolean;
    } else if (t && t->type != FF_JSON_NULL) {
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.tiling must be a boolean or an object", c->name);
    }
    int slicing = 0, framewise = 1;
    if (ff_json_get_bool(c->options, "slicing", 0, &slicing) ||
        ff_json_get_bool(c->options, "use_framewise_decoding", 1, &framewise))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.slicing / use_framewise_decoding must be booleans",
                          c->name);
    o->slicing = slicing || strstr(c->op, "enable_slicing") != NULL;
    o->framewise = framewise;
    return FF_OK;
}

static ff_status vae_decode_case(const golden_case *c, ff_hyvae *v, const ff_hyvae_opts *o, golden_outputs *outs,
                                 ff_err *err) {
    const ff_hyvae_config *cfg = ff_hyvae_config_of(v);
    ff_tensor lat = {0}, z = {0}, video = {0}, frames = {0}, extra = {0}, zt = {0};
    ff_status st;
    if ((st = input(c, "latents", FF_F32, &lat, err)) || (st = ff_hyvae_unscale(cfg, &lat, &z, err)) ||
        (st = ff_hyvae_decode(v, &z, o, &video, err)) || (st = ff_hyvae_postprocess_frames(&video, &frames, err)))
        goto done;
    const int64_t F = z.shape[2], tc = cfg->temporal_compression_ratio;
    const int temporal = o->framewise && F > o->tile_sample_min_num_frames / tc;
    if (temporal || o->tiling) { /* the single pass over all frames, for comparison */
        ff_hyvae_opts plain = *o;
        plain.framewise = 0, plain.tiling = 0;
        if ((st = ff_hyvae_decode(v, &z, &plain, &extra, err)) ||
            (st = golden_out_add(outs, "video_single_pass", &extra, err)))
            goto done;
    }
    /* The first temporal tile's decoder output. Only tile 0: the generator recorded each tile's output
     * tensor, and diffusers' _temporal_tiled_decode blends the view decoded[:, :, 1:] of every later tile
     * in place (blend_t), so the stored temporal_tile{k>0}_decoded hold frames 1..blend already blended
     * with the previous tile: not the decoder output the notes describe (the final video checks that). */
    if (temporal && !o->tiling) {
        const int64_t n = o->tile_sample_min_num_frames / tc + 1, nt = F < n ? F : n;
        if ((st = ff_tensor_allocv(&zt, FF_F32, err, 5, z.shape[0], z.shape[1], nt, z.shape[3], z.shape[4])))
            goto done;
        const int64_t plane = z.shape[3] * z.shape[4];
        for (int64_t bc = 0; bc < z.shape[0] * z.shape[1]; bc++)
            memcpy((float *)zt.data + bc * nt * plane, (const float *)z.data + bc * F * plane,
                   (size_t)(nt * plane) * sizeof(float));
        if ((st = ff_hyvae_decode_tile(v, &zt, &extra, err)) ||
            (st = golden_out_add(outs, "temporal_tile0_decoded", &extra, err)))
            goto done;
    }
    if (o->slicing) { /* each sample decoded alone = the batch sliced by hand */
        ff_hyvae_opts batched = *o;
        batched.slicing = 0;
        if ((st = ff_hyvae_decode(v, &z, &batched, &extra, err)) ||
            (st = golden_out_add(outs, "video_per_sample", &extra, err)))
            goto done;
    }
    if ((st = golden_out_add(outs, "latents_scaled", &z, err)) || (st = golden_out_add(outs, "video", &video, err)) ||
        (st = golden_out_add(outs, "frames", &frames, err)))
        goto done;
done:
    ff_tensor *all[] = {&lat, &z, &video, &frames, &extra, &zt};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ff_tensor_free(all[i]);
    return st;
}

static ff_status vae_encode_case(const golden_case *c, ff_hyvae *v, const ff_hyvae_opts *o, golden_outputs *outs,
                                 ff_err *err) {
    const ff_hyvae_config *cfg = ff_hyvae_config_of(v);
    ff_tensor x = {0}, mean = {0}, logvar = {0}, extra = {0};
    ff_status st;
    if ((st = input(c, "video", FF_F32, &x, err)) || (st = ff_hyvae_encode(v, &x, o, &mean, &logvar, err))) goto done;
    const int temporal = o->framewise && x.shape[2] > o->tile_sample_min_num_frames;
    const int spatial = o->tiling && (x.shape[3] > o->tile_sample_min_height || x.shape[4] > o->tile_sample_min_width);
    (void)cfg;
    if (temporal || spatial) {
        ff_hyvae_opts plain = *o;
        plain.framewise = 0, plain.tiling = 0;
        if ((st = ff_hyvae_encode(v, &x, &plain, &extra, NULL, err)) ||
            (st = golden_out_add(outs, "mean_single_pass", &extra, err)))
            goto done;
    }
    if ((st = golden_out_add(outs, "mean", &mean, err)) || (st = golden_out_add(outs, "logvar", &logvar, err)))
        goto done;
done:
    ff_tensor_free(&x);
    ff_tensor_free(&mean);
    ff_tensor_free(&logvar);
    ff_tensor_free(&extra);
    return st;
}

static ff_status run_vae(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: vae case without a pipeline", c->name);
    const int encode = strstr(c->op, ".encode") != NULL, decode = strstr(c->op, ".decode") != NULL;
    if (!encode && !decode) return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: unknown vae op '%s'", c->name, c->op);
    ff_hyvae_opts o;
    ff_status st = vae_opts(c, &o, err);
    if (st) return st;
    ff_hyvae *v = NULL;
    if ((st = ff_hyvae_load(c->be, c->pipeline, &v, err))) return st;
    st = encode ? vae_encode_case(c, v, &o, outs, err) : vae_decode_case(c, v, &o, outs, err);
    ff_hyvae_free(v);
    return st;
}

/* ---- entry ---------------------------------------------------------------------- */

ff_status golden_hunyuan(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (strcmp(c->group, "hunyuan_rng") == 0) return run_rng(c, outs, err);
    if (strcmp(c->group, "hunyuan_scheduler") == 0) return run_scheduler(c, outs, err);
    if (strcmp(c->group, "hunyuan_transformer") == 0) return run_transformer(c, outs, err);
    if (strcmp(c->group, "hunyuan_vae") == 0) return run_vae(c, outs, err);
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: group %s is not a HunyuanVideo model-level group", c->name,
                      c->group);
}
