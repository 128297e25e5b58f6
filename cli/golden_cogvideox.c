/* golden_cogvideox: handlers of the CogVideoX model-level cases
 * (../shared/golden/COGVIDEOX.md): cogvideox_latents, cogvideox_embeddings,
 * cogvideox_transformer, cogvideox_vae, scheduler_cogvideox_ddim and
 * scheduler_cogvideox_dpm. Each handler calls the module that a
 * CogVideoXPipeline run uses (models/cogvideox_*, pipeline/
 * scheduler_cogvideox.h, pipeline/cogvideox_latents.h) and names its outputs
 * as the case's expected tensors. Not here: the text path (t5_* groups) and
 * the whole pipeline (cogvideox_pipeline). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/golden.h"
#include "core/ff_rng.h"
#include "models/cogvideox_transformer.h"
#include "models/cogvideox_vae.h"
#include "pipeline/cogvideox_latents.h"
#include "pipeline/scheduler_cogvideox.h"

/* ---- helpers ------------------------------------------------------------- */

static ff_status load_input(const golden_case *c, const char *name, ff_dtype dt, ff_tensor *t, ff_err *err) {
    if (!c->inputs) return ff_err_set(err, FF_ERR_NOT_FOUND, "%s: no inputs.safetensors", c->name);
    return ff_st_load(c->inputs, name, dt, t, err);
}

static ff_status opt_int(const golden_case *c, const char *key, int64_t dflt, int64_t *out, ff_err *err) {
    if (ff_json_get_int64(c->options, key, dflt, out) || *out == INT64_MIN)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.%s is not an integer", c->name, key);
    return FF_OK;
}

static ff_status component_dir(const golden_case *c, const char *comp, char *out, size_t n, ff_err *err) {
    if (!c->pipeline[0]) return ff_err_set(err, FF_ERR_FORMAT, "%s: the case names no pipeline folder", c->name);
    if ((size_t)snprintf(out, n, "%s/%s", c->pipeline, comp) >= n)
        return ff_err_set(err, FF_ERR_ARG, "%s: pipeline path too long", c->name);
    return FF_OK;
}

/* ---- schedulers ------------------------------------------------------------- */

static ff_status sched_for_case(const golden_case *c, ff_cogsched_kind kind, ff_cogsched **s, ff_err *err) {
    char path[PATH_MAX];
    ff_cogsched_config cfg;
    ff_status st = component_dir(c, "scheduler", path, sizeof path, err);
    /* the folder's config under the case's class (CogVideoXDPMScheduler.from_config(folder config)) */
    if (!st) st = ff_cogsched_config_load_as(path, kind, &cfg, err);
    if (!st) st = ff_cogsched_create(&cfg, s, err);
    return st;
}

static ff_status add_timesteps(const ff_cogsched *s, golden_outputs *outs, ff_err *err) {
    ff_tensor t;
    ff_status st = ff_cogsched_timesteps_tensor(s, &t, err);
    return st ? st : golden_out_add(outs, "timesteps", &t, err);
}

/* The step sequence of the case: x = sample; x, x0 = step(model_outputs[i], ...). */
static ff_status sched_steps(const golden_case *c, ff_cogsched *s, int64_t n, golden_outputs *outs, ff_err *err) {
    char a[96], b[96];
    ff_tensor sample = {0}, mo = {0}, prev = {0}, x0s = {0}, noises = {0}, draws = {0}, noise_buf[2] = {{0}};
    ff_status st;
    if ((st = load_input(c, "sample", FF_F32, &sample, err)) || (st = load_input(c, "model_outputs", FF_F32, &mo, err)))
        goto done;
    const int64_t numel = ff_tensor_numel(&sample);
    if (sample.ndim >= FF_MAX_DIMS || mo.ndim != sample.ndim + 1 || mo.shape[0] < n ||
        ff_tensor_numel(&mo) != mo.shape[0] * numel) {
        st = ff_err_set(err, FF_ERR_SHAPE, "%s: model_outputs %s do not hold %lld steps of sample %s", c->name,
                        ff_tensor_describe(&mo, a, sizeof a), (long long)n, ff_tensor_describe(&sample, b, sizeof b));
        goto done;
    }
    int64_t shape[FF_MAX_DIMS], nshape[FF_MAX_DIMS];
    shape[0] = n;
    for (int d = 0; d < sample.ndim; d++) shape[d + 1] = nshape[d + 1] = sample.shape[d];
    nshape[0] = 2 * n; /* at most two draws per step */
    if ((st = ff_tensor_alloc(&prev, FF_F32, sample.ndim + 1, shape, err)) ||
        (st = ff_tensor_alloc(&x0s, FF_F32, sample.ndim + 1, shape, err)) ||
        (st = ff_tensor_alloc(&noises, FF_F32, sample.ndim + 1, nshape, err)) ||
        (st = ff_tensor_allocv(&draws, FF_I64, err, 1, n)) ||
        (st = ff_tensor_alloc(&noise_buf[0], FF_F32, sample.ndim, sample.shape, err)) ||
        (st = ff_tensor_alloc(&noise_buf[1], FF_F32, sample.ndim, sample.shape, err)))
        goto done;
    int64_t n_noises = 0;
    for (int64_t i = 0; i < n; i++) {
        ff_tensor m_i, p_i, x_i;
        ff_tensor_view(&m_i, FF_F32, sample.ndim, sample.shape, (float *)mo.data + i * numel, FF_LOC_HOST);
        ff_tensor_view(&p_i, FF_F32, sample.ndim, sample.shape, (float *)prev.data + i * numel, FF_LOC_HOST);
        ff_tensor_view(&x_i, FF_F32, sample.ndim, sample.shape, (float *)x0s.data + i * numel, FF_LOC_HOST);
        int nn = 0;
        if ((st = ff_cogsched_step(s, &m_i, &sample, &p_i, &x_i, noise_buf, &nn, err))) {
            ff_err_wrap(err, "%s: step %lld: ", c->name, (long long)i);
            goto done;
        }
        for (int k = 0; k < nn; k++, n_noises++)
            memcpy((float *)noises.data + n_noises * numel, noise_buf[k].data, (size_t)numel * sizeof(float));
        ((int64_t *)draws.data)[i] = nn;
        memcpy(sample.data, p_i.data, (size_t)numel * sizeof(float));
    }
    if ((st = golden_out_add(outs, "prev_samples", &prev, err)) ||
        (st = golden_out_add(outs, "pred_original_samples", &x0s, err)))
        goto done;
    if (ff_cogsched_get_config(s)->kind == FF_COGSCHED_DPM) {
        noises.shape[0] = n_noises; /* keep the draws made */
        if ((st = golden_out_add(outs, "noises", &noises, err)) ||
            (st = golden_out_add(outs, "noise_draws_per_step", &draws, err)))
            goto done;
    }
done:
    ff_tensor_free(&sample);
    ff_tensor_free(&mo);
    ff_tensor_free(&prev);
    ff_tensor_free(&x0s);
    ff_tensor_free(&noises);
    ff_tensor_free(&draws);
    ff_tensor_free(&noise_buf[0]);
    ff_tensor_free(&noise_buf[1]);
    return st;
}

ff_status golden_cogvideox_scheduler(const golden_case *c, golden_outputs *outs, ff_err *err) {
    const ff_cogsched_kind kind = strncmp(c->op, "CogVideoXDPMScheduler", 21) == 0 ? FF_COGSCHED_DPM : FF_COGSCHED_DDIM;
    ff_cogsched *s = NULL;
    ff_status st = sched_for_case(c, kind, &s, err);
    if (st) return st;
    if (strstr(c->op, "alphas_cumprod")) {
        ff_tensor a;
        const int64_t T = ff_cogsched_get_config(s)->num_train_timesteps;
        if (!(st = ff_tensor_allocv(&a, FF_F32, err, 1, T))) {
            const double *ac = ff_cogsched_alphas_cumprod(s);
            for (int64_t i = 0; i < T; i++) ((float *)a.data)[i] = (float)ac[i];
            st = golden_out_add(outs, "alphas_cumprod", &a, err);
        }
        ff_cogsched_free(s);
        return st;
    }
    int64_t n = 0;
    if (!(st = opt_int(c, "num_inference_steps", -1, &n, err)) && n < 1)
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.num_inference_steps must be positive", c->name);
    if (!st) st = ff_cogsched_set_timesteps(s, n, err);
    if (!st) st = add_timesteps(s, outs, err);
    if (!st && strstr(c->op, ".set_timesteps")) {
        ff_tensor p;
        if (!(st = ff_tensor_allocv(&p, FF_I64, err, 1, n))) {
            for (int64_t i = 0; i < n; i++) ((int64_t *)p.data)[i] = ff_cogsched_prev_timestep(s, i);
            st = golden_out_add(outs, "prev_timesteps", &p, err);
        }
    } else if (!st && strstr(c->op, ".step")) {
        if (kind == FF_COGSCHED_DPM) {
            int64_t seed;
            ff_rng g;
            if (!(st = opt_int(c, "generator_seed", -1, &seed, err)) && seed < 0)
                st = ff_err_set(err, FF_ERR_FORMAT, "%s: options.generator_seed missing", c->name);
            if (!st) {
                ff_rng_seed(&g, (uint64_t)seed);
                st = ff_cogsched_set_generators(s, &g, 1, err);
            }
        }
        if (!st) st = sched_steps(c, s, n, outs, err);
    } else if (!st) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no handler", c->name, c->op);
    }
    ff_cogsched_free(s);
    return st;
}

/* ---- prepare_latents ------------------------------------------------------------ */

ff_status golden_cogvideox_latents(const golden_case *c, golden_outputs *outs, ff_err *err) {
    int64_t b, ch, h, w, f, st_t, st_s;
    ff_status st;
    if ((st = opt_int(c, "batch_size", -1, &b, err)) || (st = opt_int(c, "num_channels_latents", -1, &ch, err)) ||
        (st = opt_int(c, "height", -1, &h, err)) || (st = opt_int(c, "width", -1, &w, err)) ||
        (st = opt_int(c, "num_frames", -1, &f, err)) || (st = opt_int(c, "vae_scale_factor_temporal", 4, &st_t, err)) ||
        (st = opt_int(c, "vae_scale_factor_spatial", 8, &st_s, err)))
        return st;
    double sigma = 1.0;
    if (ff_json_get_double(c->options, "init_noise_sigma", 1.0, &sigma))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.init_noise_sigma is not a number", c->name);
    const ff_json *sj = ff_json_get(c->options, "seeds");
    size_t n_seeds = ff_json_count(sj);
    if (!sj || sj->type != FF_JSON_ARRAY || n_seeds < 1 || n_seeds > 64)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.seeds must list 1..64 seeds", c->name);
    ff_rng gens[64];
    for (size_t i = 0; i < n_seeds; i++) {
        uint64_t seed;
        if (ff_json_uint64(ff_json_at(sj, i), &seed))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: options.seeds[%zu] is not a seed", c->name, i);
        ff_rng_seed(&gens[i], seed);
    }
    ff_coglat_geometry g;
    ff_tensor lat;
    /* prepare_latents itself: the 1.5 padding is __call__'s, before it */
    if ((st = ff_coglat_geometry_of(f, h, w, 0, (int)st_t, (int)st_s, &g, err))) return st;
    if ((st = ff_coglat_prepare(gens, n_seeds, b, ch, &g, sigma, &lat, err))) return st;
    return golden_out_add(outs, "latents", &lat, err);
}

/* ---- positional embeddings ----------------------------------------------------------- */

/* The case's transformer config: the pipeline's transformer/config.json, or
 * the class defaults; then the options the generator passed. */
static ff_status case_dit_config(const golden_case *c, ff_cogdit_config *cfg, ff_err *err) {
    char path[PATH_MAX];
    ff_status st;
    if (c->pipeline[0]) {
        if ((st = component_dir(c, "transformer/config.json", path, sizeof path, err))) return st;
        if ((st = ff_cogdit_config_load(path, cfg, err))) return st;
    } else {
        ff_json_doc *doc = NULL;
        if ((st = ff_json_parse("{}", 2, "defaults", &doc, err))) return st;
        st = ff_cogdit_config_parse(ff_json_root(doc), "CogVideoXTransformer3DModel defaults", cfg, err);
        ff_json_free(doc);
        if (st) return st;
    }
    struct {
        const char *key;
        int *field;
    } ints[] = {{"attention_head_dim", &cfg->head_dim}, {"sample_height", &cfg->sample_height},
                {"sample_width", &cfg->sample_width},    {"patch_size", &cfg->patch_size}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int64_t v;
        if ((st = opt_int(c, ints[i].key, *ints[i].field, &v, err))) return st;
        *ints[i].field = (int)v;
    }
    const ff_json *pt = ff_json_get(c->options, "patch_size_t");
    if (pt) {
        int64_t v = 0;
        if (!ff_json_is_null(pt) && ff_json_int64(pt, &v))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: options.patch_size_t", c->name);
        cfg->patch_size_t = (int)v;
    }
    cfg->dim = cfg->heads * cfg->head_dim;
    return FF_OK;
}

ff_status golden_cogvideox_embeddings(const golden_case *c, golden_outputs *outs, ff_err *err) {
    ff_cogdit_config cfg;
    ff_status st = case_dit_config(c, &cfg, err);
    if (st) return st;
    if (strstr(c->op, "_get_positional_embeddings")) {
        int64_t f, h, w;
        if ((st = opt_int(c, "latent_frames", -1, &f, err)) || (st = opt_int(c, "latent_height", -1, &h, err)) ||
            (st = opt_int(c, "latent_width", -1, &w, err)))
            return st;
        const int64_t n = f * (h / cfg.patch_size) * (w / cfg.patch_size), L = cfg.max_text_seq_length;
        ff_tensor t;
        if ((st = ff_tensor_allocv(&t, FF_F32, err, 3, (int64_t)1, L + n, (int64_t)cfg.dim))) return st;
        /* text rows stay zero */
        if ((st = ff_cogdit_sincos_table(&cfg, f, h, w, (float *)t.data + L * cfg.dim, err))) {
            ff_tensor_free(&t);
            return st;
        }
        return golden_out_add(outs, "pos_embedding", &t, err);
    }
    if (strstr(c->op, "_prepare_rotary_positional_embeddings")) {
        int64_t f, h, w;
        if ((st = opt_int(c, "num_latent_frames", -1, &f, err)) || (st = opt_int(c, "height", -1, &h, err)) ||
            (st = opt_int(c, "width", -1, &w, err)))
            return st;
        int64_t grid[3];
        const int64_t lh = h / 8, lw = w / 8; /* vae_scale_factor_spatial */
        const int pt = cfg.patch_size_t;
        grid[0] = pt ? (f + pt - 1) / pt : f, grid[1] = lh / cfg.patch_size, grid[2] = lw / cfg.patch_size;
        const int64_t n = grid[0] * grid[1] * grid[2];
        ff_tensor tc, ts;
        if ((st = ff_tensor_allocv(&tc, FF_F32, err, 2, n, (int64_t)cfg.head_dim))) return st;
        if ((st = ff_tensor_allocv(&ts, FF_F32, err, 2, n, (int64_t)cfg.head_dim))) {
            ff_tensor_free(&tc);
            return st;
        }
        if ((st = ff_cogdit_rope_tables(&cfg, f, lh, lw, tc.data, ts.data, err)) ||
            (st = golden_out_add(outs, "freqs_cos", &tc, err)) || (st = golden_out_add(outs, "freqs_sin", &ts, err))) {
            ff_tensor_free(&tc);
            ff_tensor_free(&ts);
        }
        return st;
    }
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no handler", c->name, c->op);
}

/* ---- transformer -------------------------------------------------------------------- */

ff_status golden_cogvideox_transformer(const golden_case *c, golden_outputs *outs, ff_err *err) {
    char dir[PATH_MAX];
    ff_cogdit_model *m = NULL;
    ff_tensor x = {0}, t = {0}, text = {0}, rc = {0}, rs = {0}, out = {0}, temb = {0}, emb = {0};
    ff_tensor dx = {0}, dtext = {0}, dout = {0}, dtemb = {0}, demb = {0};
    ff_backend *be = c->be;
    ff_status st;
    if ((st = component_dir(c, "transformer", dir, sizeof dir, err))) return st;
    if ((st = ff_cogdit_load(dir, &m, err))) return st;
    if ((st = ff_cogdit_place(m, be, 1, err))) goto done;
    if ((st = load_input(c, "hidden_states", FF_F32, &x, err)) || (st = load_input(c, "timestep", FF_I64, &t, err)) ||
        (st = load_input(c, "encoder_hidden_states", FF_F32, &text, err)))
        goto done;
    ff_cogdit_extras ex = {0};
    if (c->inputs && ff_st_find(c->inputs, "rotary_cos")) {
        if ((st = load_input(c, "rotary_cos", FF_F32, &rc, err)) || (st = load_input(c, "rotary_sin", FF_F32, &rs, err)))
            goto done;
        ex.rope_cos = &rc, ex.rope_sin = &rs;
    }
    if (x.ndim != 5) {
        st = ff_err_set(err, FF_ERR_SHAPE, "%s: hidden_states must be 5-D", c->name);
        goto done;
    }
    int64_t oshape[5], grid[3];
    if ((st = ff_cogdit_out_shape(&m->cfg, x.shape, oshape, err)) ||
        (st = ff_cogdit_grid(&m->cfg, x.shape[1], x.shape[3], x.shape[4], grid, err)))
        goto done;
    const int64_t B = x.shape[0], S = text.shape[1] + grid[0] * grid[1] * grid[2];
    int64_t ts[2] = {B, m->cfg.time_embed_dim}, es[3] = {B, S, m->cfg.dim};
    if ((st = ff_be_alloc(be, &dx, FF_F32, 5, x.shape, err)) ||
        (st = ff_be_alloc(be, &dtext, FF_F32, 3, text.shape, err)) ||
        (st = ff_be_alloc(be, &dout, FF_F32, 5, oshape, err)) || (st = ff_be_alloc(be, &dtemb, FF_F32, 2, ts, err)) ||
        (st = ff_be_alloc(be, &demb, FF_F32, 3, es, err)))
        goto done;
    if ((st = ff_be_upload(be, &dx, &x, err)) || (st = ff_be_upload(be, &dtext, &text, err))) goto done;
    ex.temb = &dtemb, ex.embeds = &demb;
    if ((st = ff_cogdit_forward(m, be, &dx, &t, &dtext, &ex, NULL, &dout, err))) goto done;
    if ((st = ff_tensor_alloc(&out, FF_F32, 5, oshape, err)) || (st = ff_be_download(be, &out, &dout, err)) ||
        (st = golden_out_add(outs, "noise_pred", &out, err)))
        goto done;
    if ((st = ff_tensor_alloc(&temb, FF_F32, 2, ts, err)) || (st = ff_be_download(be, &temb, &dtemb, err)) ||
        (st = golden_out_add(outs, "temb", &temb, err)))
        goto done;
    if ((st = ff_tensor_alloc(&emb, FF_F32, 3, es, err)) || (st = ff_be_download(be, &emb, &demb, err)) ||
        (st = golden_out_add(outs, "patch_embed_out", &emb, err)))
        goto done;
done:
    ff_tensor *host[] = {&x, &t, &text, &rc, &rs, &out, &temb, &emb};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++) ff_tensor_free(host[i]);
    ff_tensor *dev[] = {&dx, &dtext, &dout, &dtemb, &demb};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]->data) ff_be_free(be, dev[i]);
    ff_cogdit_free(m);
    return st;
}

/* ---- VAE ------------------------------------------------------------------------------ */

/* options.tiling: false or enable_tiling's keyword arguments ("x or
 * self.x": a missing or 0 value keeps the default). */
static ff_status vae_opts(const golden_case *c, const ff_cogvae_config *cfg, ff_cogvae_opts *o, ff_err *err) {
    ff_cogvae_opts_default(cfg, o);
    const ff_json *t = ff_json_get(c->options, "tiling");
    if (t && t->type == FF_JSON_OBJECT) {
        o->tiling = 1;
        int64_t v;
        if (ff_json_get_int64(t, "tile_sample_min_height", 0, &v) || v < 0 || v > (1 << 20))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: options.tiling.tile_sample_min_height", c->name);
        if (v) o->tile_sample_min_height = (int)v;
        if (ff_json_get_int64(t, "tile_sample_min_width", 0, &v) || v < 0 || v > (1 << 20))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: options.tiling.tile_sample_min_width", c->name);
        if (v) o->tile_sample_min_width = (int)v;
        double f;
        if (ff_json_get_double(t, "tile_overlap_factor_height", 0, &f))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: options.tiling.tile_overlap_factor_height", c->name);
        if (f) o->tile_overlap_factor_height = f;
        if (ff_json_get_double(t, "tile_overlap_factor_width", 0, &f))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: options.tiling.tile_overlap_factor_width", c->name);
        if (f) o->tile_overlap_factor_width = f;
    } else if (t && t->type == FF_JSON_BOOL && t->boolean) {
        o->tiling = 1;
    }
    int slicing = 0;
    if (ff_json_get_bool(c->options, "slicing", 0, &slicing))
        return ff_err_set(err, FF_ERR_FORMAT, "%s: options.slicing is not a boolean", c->name);
    o->slicing = slicing || strstr(c->op, "enable_slicing") != NULL;
    return FF_OK;
}

static ff_status vae_decode_case(const golden_case *c, ff_cogvae *vae, const ff_cogvae_opts *o, golden_outputs *outs,
                                 ff_err *err) {
    ff_tensor in = {0}, z = {0}, video = {0}, frames = {0}, extra = {0};
    ff_status st;
    const int from_latents = strncmp(c->op, "CogVideoXPipeline.decode_latents", 32) == 0;
    if (from_latents) { /* pipeline latents (B, F, C, h, w): decode_latents */
        if ((st = load_input(c, "latents", FF_F32, &in, err)) ||
            (st = ff_cogvae_decode_latents(vae, &in, o, &video, &z, err)) ||
            (st = golden_out_add(outs, "vae_decode_input", &z, err)))
            goto done;
    } else { /* vae.decode(z) */
        if ((st = load_input(c, "z", FF_F32, &z, err)) || (st = ff_cogvae_decode(vae, &z, o, &video, err))) goto done;
    }
    if ((st = ff_cogvae_postprocess_frames(&video, &frames, err))) goto done;
    if (o->tiling) { /* the plain decode of the same z */
        ff_cogvae_opts plain = *o;
        plain.tiling = 0;
        if ((st = ff_cogvae_decode(vae, &z, &plain, &extra, err)) ||
            (st = golden_out_add(outs, "video_untiled", &extra, err)))
            goto done;
    }
    if (o->slicing) { /* each sample alone, and the whole batch at once */
        ff_cogvae_opts batched = *o;
        batched.slicing = 0;
        const int64_t B = z.shape[0], per = ff_tensor_numel(&z) / B;
        ff_tensor all, one;
        if ((st = ff_tensor_alloc(&all, FF_F32, 5, video.shape, err))) goto done;
        for (int64_t b = 0; b < B && !st; b++) {
            ff_tensor zb;
            int64_t s[5] = {1, z.shape[1], z.shape[2], z.shape[3], z.shape[4]};
            ff_tensor_view(&zb, FF_F32, 5, s, (float *)z.data + b * per, FF_LOC_HOST);
            if (!(st = ff_cogvae_decode(vae, &zb, &batched, &one, err))) {
                memcpy((float *)all.data + b * ff_tensor_numel(&one), one.data, ff_tensor_nbytes(&one));
                ff_tensor_free(&one);
            }
        }
        if (st || (st = golden_out_add(outs, "video_per_sample", &all, err))) {
            ff_tensor_free(&all);
            goto done;
        }
        if ((st = ff_cogvae_decode(vae, &z, &batched, &extra, err)) ||
            (st = golden_out_add(outs, "video_batched", &extra, err)))
            goto done;
    }
    if ((st = golden_out_add(outs, "video", &video, err)) || (st = golden_out_add(outs, "frames", &frames, err)))
        goto done;
done:
    ff_tensor_free(&in);
    ff_tensor_free(&z);
    ff_tensor_free(&video);
    ff_tensor_free(&frames);
    ff_tensor_free(&extra);
    return st;
}

static ff_status vae_encode_case(const golden_case *c, ff_cogvae *vae, const ff_cogvae_opts *o, golden_outputs *outs,
                                 ff_err *err) {
    ff_tensor x = {0}, mean = {0}, logvar = {0}, mode = {0}, scaled = {0}, sample = {0}, extra = {0};
    ff_status st;
    if ((st = load_input(c, "video", FF_F32, &x, err)) || (st = ff_cogvae_encode(vae, &x, o, &mean, &logvar, err)))
        goto done;
    if ((st = ff_tensor_clone(&mode, &mean, err)) || (st = ff_tensor_clone(&scaled, &mean, err))) goto done;
    { /* latents_scaled = scaling_factor * mode (the case's convention, whatever invert_scale_latents says) */
        const float sf = (float)ff_cogvae_config_of(vae)->scaling_factor;
        float *d = scaled.data;
        for (int64_t i = 0, n = ff_tensor_numel(&scaled); i < n; i++) d[i] = sf * d[i];
    }
    int64_t seed = -1;
    if ((st = opt_int(c, "posterior_sample_seed", -1, &seed, err))) goto done;
    if (seed >= 0) {
        ff_rng g;
        ff_rng_seed(&g, (uint64_t)seed);
        if ((st = ff_cogvae_posterior_sample(&mean, &logvar, &g, 1, &sample, err)) ||
            (st = golden_out_add(outs, "posterior_sample", &sample, err)))
            goto done;
    }
    if (o->tiling) {
        ff_cogvae_opts plain = *o;
        plain.tiling = 0;
        if ((st = ff_cogvae_encode(vae, &x, &plain, &extra, NULL, err)) ||
            (st = golden_out_add(outs, "mean_untiled", &extra, err)))
            goto done;
    }
    if ((st = golden_out_add(outs, "mean", &mean, err)) || (st = golden_out_add(outs, "logvar", &logvar, err)) ||
        (st = golden_out_add(outs, "mode", &mode, err)) || (st = golden_out_add(outs, "latents_scaled", &scaled, err)))
        goto done;
done:
    ff_tensor *ts[] = {&x, &mean, &logvar, &mode, &scaled, &sample, &extra};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ff_tensor_free(ts[i]);
    return st;
}

ff_status golden_cogvideox_vae(const golden_case *c, golden_outputs *outs, ff_err *err) {
    ff_cogvae *vae = NULL;
    ff_cogvae_opts o;
    ff_status st = c->pipeline[0] ? ff_cogvae_load(c->be, c->pipeline, &vae, err)
                                  : ff_err_set(err, FF_ERR_FORMAT, "%s: the case names no pipeline", c->name);
    if (!st) st = vae_opts(c, ff_cogvae_config_of(vae), &o, err);
    if (!st) {
        if (strstr(c->op, ".encode")) st = vae_encode_case(c, vae, &o, outs, err);
        else if (strstr(c->op, "decode")) st = vae_decode_case(c, vae, &o, outs, err);
        else st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: op \"%s\" has no handler", c->name, c->op);
    }
    ff_cogvae_free(vae);
    return st;
}
