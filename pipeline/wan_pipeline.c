/* wan_pipeline: WanPipeline.__call__ (pipeline_wan.py) as one function that
 * reads top to bottom: check inputs, encode the prompts, prepare latents,
 * the denoising loop (expert switch, CFG, scheduler step), de-normalise,
 * streaming VAE decode. See wan_pipeline.h for the contract. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/ff_model_dir.h"
#include "core/ff_rng.h"
#include "models/prompt.h"
#include "models/tokenizer.h"
#include "models/umt5.h"
#include "models/umt5_params.h"
#include "models/wan_transformer.h"
#include "offload/pool.h"
#include "pipeline/offload_dit.h"
#include "pipeline/wan_pipeline.h"

#define PATH_BUF 4200

struct ff_wan_pipeline {
    ff_backend *be;            /* borrowed */
    const ff_log *log;         /* borrowed, may be NULL */
    ff_model_dir *md;
    ff_wan_open_opts opts;
    char dir_tok[PATH_BUF], dir_te[PATH_BUF], dir_dit[2][PATH_BUF], dir_vae[PATH_BUF];
    ff_umt5_config te_cfg;
    ff_wandit_config dit_cfg[2];
    ff_wanvae_config vae_cfg;
    ff_sched_config sched_cfg;
    int has_t2;
    int has_boundary;
    double boundary_ratio;
    int expand_timesteps;
    /* components kept loaded between stages and runs (opts.keep), else NULL */
    ff_tok *tok;
    ff_umt5 *te;
    ff_backend *te_be;         /* text_on_host: the text encoder's CPU backend */
    ff_wandit_model *dit[2];
    ff_offload_dit *dit_off[2];
    ff_weights *dit_w[2];      /* dit_from_file: the mapping the blocks stream from */
    ff_vae *vae;
};

static int keeps(const ff_wan_pipeline *p, ff_wan_component c) { return (p->opts.keep >> c) & 1; }

const char *ff_wan_component_name(ff_wan_component c) {
    static const char *const names[FF_WAN_C_COUNT] = {"text_encoder", "transformer", "transformer_2", "vae"};
    return c >= 0 && c < FF_WAN_C_COUNT ? names[c] : "?";
}

void ff_wan_params_default(ff_wan_params *p) {
    memset(p, 0, sizeof *p);
    p->num_frames = 81;
    p->height = 480;
    p->width = 832;
    p->num_inference_steps = 50;
    p->guidance_scale = 5.0;
    p->max_sequence_length = 512;
    p->num_videos_per_prompt = 1;
    ff_wanvae_opts_default(&p->vae);
    p->vae.tiling = 0;
    p->vae.slicing = 0;
}

/* ---- open ----------------------------------------------------------------------- */

static ff_status comp_dir(ff_wan_pipeline *p, const char *name, char *buf, ff_err *err) {
    if (!ff_model_dir_has(p->md, name))
        return ff_err_set(err, FF_ERR_NOT_FOUND, "%s/model_index.json: component %s is missing (WanPipeline needs it)",
                          ff_model_dir_path(p->md), name);
    return ff_model_dir_component_dir(p->md, name, buf, PATH_BUF, err);
}

static ff_status config_path(const char *dir, char *buf, size_t n, ff_err *err) {
    if ((size_t)snprintf(buf, n, "%s/config.json", dir) >= n) return ff_err_set(err, FF_ERR_ARG, "path too long: %s", dir);
    return FF_OK;
}

ff_status ff_wan_pipeline_open(ff_backend *be, const char *dir, const ff_wan_open_opts *opts, const ff_log *log,
                               ff_wan_pipeline **out, ff_err *err) {
    *out = NULL;
    ff_wan_pipeline *p = calloc(1, sizeof *p);
    if (!p) return ff_err_set(err, FF_ERR_NOMEM, "pipeline: no memory");
    p->be = be;
    p->log = log;
    if (opts) p->opts = *opts;
    else p->opts.dit_weight_dtype = FF_F32;
    if (p->opts.dit_weight_dtype != FF_F32 && p->opts.dit_weight_dtype != FF_BF16) {
        free(p);
        return ff_err_set(err, FF_ERR_ARG, "pipeline: transformer weights must be F32 or BF16");
    }
    char path[PATH_BUF + 32], sched_dir[PATH_BUF];
    ff_status st = ff_model_dir_open(dir, &p->md, err);
    if (st) goto fail;
    const char *cls = ff_model_dir_class(p->md);
    if (strcmp(cls, "WanPipeline") != 0) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s/model_index.json: _class_name %s is not supported (WanPipeline only)",
                        dir, cls);
        goto fail;
    }
    const ff_json *idx = ff_model_dir_index(p->md);
    double br = 0;
    const ff_json *brj = ff_json_get(idx, "boundary_ratio");
    p->has_boundary = !ff_json_is_null(brj);
    if (ff_json_get_double(idx, "boundary_ratio", 0, &br) || (p->has_boundary && !(br >= 0 && br <= 1))) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s/model_index.json: boundary_ratio must be null or a number in [0, 1]", dir);
        goto fail;
    }
    p->boundary_ratio = br;
    if (ff_json_get_bool(idx, "expand_timesteps", 0, &p->expand_timesteps)) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s/model_index.json: expand_timesteps must be a boolean", dir);
        goto fail;
    }
    /* components: each must be listed, have its folder and a config we accept */
    if ((st = comp_dir(p, "tokenizer", p->dir_tok, err)) || (st = comp_dir(p, "text_encoder", p->dir_te, err)) ||
        (st = comp_dir(p, "transformer", p->dir_dit[0], err)) || (st = comp_dir(p, "vae", p->dir_vae, err)) ||
        (st = comp_dir(p, "scheduler", sched_dir, err)))
        goto fail;
    p->has_t2 = ff_model_dir_has(p->md, "transformer_2");
    if (p->has_t2 && (st = comp_dir(p, "transformer_2", p->dir_dit[1], err))) goto fail;
    if (p->has_boundary && !p->has_t2) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s/model_index.json: boundary_ratio is set but transformer_2 is absent", dir);
        goto fail;
    }
    if ((st = ff_sched_config_load(sched_dir, &p->sched_cfg, err))) goto fail;
    if ((st = config_path(p->dir_te, path, sizeof path, err)) || (st = ff_umt5_config_read(path, &p->te_cfg, err))) goto fail;
    for (int e = 0; e < 1 + p->has_t2; e++)
        if ((st = config_path(p->dir_dit[e], path, sizeof path, err)) || (st = ff_wandit_config_load(path, &p->dit_cfg[e], err)))
            goto fail;
    if ((st = config_path(p->dir_vae, path, sizeof path, err)) || (st = ff_wanvae_config_load(path, &p->vae_cfg, err))) goto fail;
    /* the components must fit together */
    for (int e = 0; e < 1 + p->has_t2; e++) {
        const ff_wandit_config *d = &p->dit_cfg[e];
        if (d->text_dim != p->te_cfg.d_model) {
            st = ff_err_set(err, FF_ERR_SHAPE, "%s: text_dim %d, but the text encoder's d_model is %lld", p->dir_dit[e],
                            d->text_dim, (long long)p->te_cfg.d_model);
            goto fail;
        }
        if (d->in_channels != p->vae_cfg.z_dim || d->out_channels != p->vae_cfg.z_dim) {
            st = ff_err_set(err, FF_ERR_SHAPE, "%s: in/out_channels %d/%d, but the VAE's z_dim is %d", p->dir_dit[e],
                            d->in_channels, d->out_channels, p->vae_cfg.z_dim);
            goto fail;
        }
        if (e == 1 && memcmp(d->patch, p->dit_cfg[0].patch, sizeof d->patch) != 0) {
            st = ff_err_set(err, FF_ERR_SHAPE, "%s: patch_size differs from transformer's", p->dir_dit[1]);
            goto fail;
        }
    }
    *out = p;
    return FF_OK;
fail:
    ff_wan_pipeline_close(p);
    return st;
}

void ff_wan_pipeline_close(ff_wan_pipeline *p) {
    if (!p) return;
    ff_wanvae_free(p->vae);
    for (int e = 0; e < 2; e++) {
        ff_offload_dit_free(p->dit_off[e]); /* host tensors back before the model goes */
        ff_wandit_free(p->dit[e]);
        ff_weights_free(p->dit_w[e]);
    }
    ff_umt5_free(p->te);
    ff_backend_free(p->te_be);
    ff_tok_free(p->tok);
    ff_model_dir_close(p->md);
    free(p);
}

ff_status ff_wan_pipeline_set_scheduler(ff_wan_pipeline *p, const ff_sched_config *c, ff_err *err) {
    ff_sched *s = NULL;
    ff_status st = ff_sched_create(c, &s, err); /* validates */
    ff_sched_free(s);
    if (!st) p->sched_cfg = *c;
    return st;
}

void ff_wan_pipeline_get_info(const ff_wan_pipeline *p, ff_wan_pipeline_info *info) {
    memset(info, 0, sizeof *info);
    info->dir = ff_model_dir_path(p->md);
    info->latent_channels = p->dit_cfg[0].in_channels;
    info->vae_scale_temporal = p->vae_cfg.scale_factor_temporal;
    info->vae_scale_spatial = p->vae_cfg.scale_factor_spatial;
    memcpy(info->patch, p->dit_cfg[0].patch, sizeof info->patch);
    info->video_channels = p->vae_cfg.out_channels / (p->vae_cfg.patch_size * p->vae_cfg.patch_size);
    info->has_transformer_2 = p->has_t2;
    info->has_boundary = p->has_boundary;
    info->boundary_ratio = p->boundary_ratio;
    info->expand_timesteps = p->expand_timesteps;
    info->scheduler = p->sched_cfg.kind;
    info->num_train_timesteps = p->sched_cfg.num_train_timesteps;
}

ff_status ff_wan_pipeline_geometry(const ff_wan_pipeline *p, int64_t batch, int num_frames, int height, int width,
                                   ff_wan_geometry *g, ff_err *err) {
    memset(g, 0, sizeof *g);
    const int st_ = p->vae_cfg.scale_factor_temporal, ss = p->vae_cfg.scale_factor_spatial;
    if (num_frames < 1 || num_frames > (1 << 20))
        return ff_err_set(err, FF_ERR_ARG, "num_frames %d must be in [1, %d]", num_frames, 1 << 20);
    if (height < 1 || width < 1 || height > (1 << 16) || width > (1 << 16))
        return ff_err_set(err, FF_ERR_ARG, "height %d x width %d: both must be in [1, 65536]", height, width);
    /* check_inputs: `height and width have to be divisible by 16` */
    if (height % 16 || width % 16)
        return ff_err_set(err, FF_ERR_ARG, "height %d and width %d must be multiples of 16 (Wan latents are 1/%d, patches %dx%d)",
                          height, width, ss, p->dit_cfg[0].patch[1], p->dit_cfg[0].patch[2]);
    /* num_frames % vae_scale_factor_temporal != 1 -> F // st * st + 1 */
    g->num_frames = num_frames;
    if (num_frames % st_ != 1 % st_) g->num_frames = num_frames / st_ * st_ + 1;
    if (g->num_frames < 1) g->num_frames = 1;
    g->frames_rounded = g->num_frames != num_frames;
    /* multiples of vae_scale_factor_spatial * patch_size */
    const int mh = ss * p->dit_cfg[0].patch[1], mw = ss * p->dit_cfg[0].patch[2];
    g->height = height / mh * mh;
    g->width = width / mw * mw;
    if (!g->height || !g->width)
        return ff_err_set(err, FF_ERR_ARG, "height %d x width %d is below this model's minimum %dx%d (VAE factor %d x patch)",
                          height, width, mh, mw, ss);
    g->size_rounded = g->height != height || g->width != width;
    g->latent_shape[0] = batch;
    g->latent_shape[1] = p->dit_cfg[0].in_channels;
    g->latent_shape[2] = (g->num_frames - 1) / st_ + 1;
    g->latent_shape[3] = g->height / ss;
    g->latent_shape[4] = g->width / ss;
    if (g->latent_shape[2] % p->dit_cfg[0].patch[0])
        return ff_err_set(err, FF_ERR_ARG, "%d frames give %lld latent frames, not a multiple of the temporal patch %d",
                          g->num_frames, (long long)g->latent_shape[2], p->dit_cfg[0].patch[0]);
    return FF_OK;
}

/* ---- time and memory ------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int64_t rss_peak(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return (int64_t)ru.ru_maxrss * 1024;
}

/* Resets the kernel's peak-RSS mark (Linux /proc/self/clear_refs "5"), so
 * getrusage reports the peak since this call. 0 when not allowed here. */
static int rss_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    ok &= fclose(f) == 0;
    return ok;
}

typedef struct {
    ff_wan_stats *s;
    int reset;                          /* per-component peaks */
    double t0[FF_WAN_C_COUNT];
} meter;

static void meter_begin(meter *m, ff_wan_component c) {
    if (m->reset) {
        int64_t before = rss_peak();
        if (before > m->s->peak_rss_bytes) m->s->peak_rss_bytes = before;
        m->s->rss_per_component = rss_reset();
    }
    m->s->c[c].used = 1;
    m->t0[c] = now_s();
}

static void meter_loaded(meter *m, ff_wan_component c) {
    double t = now_s();
    m->s->c[c].load_s += t - m->t0[c];
    m->t0[c] = t;
}

static void meter_end(meter *m, ff_wan_component c) {
    m->s->c[c].run_s += now_s() - m->t0[c];
    int64_t peak = rss_peak();
    if (peak > m->s->c[c].peak_rss_bytes) m->s->c[c].peak_rss_bytes = peak;
    if (peak > m->s->peak_rss_bytes) m->s->peak_rss_bytes = peak;
}

/* ---- the run -------------------------------------------------------------------- */

typedef struct {
    ff_wan_pipeline *p;
    const ff_wan_params *prm;
    meter m;
    int do_cfg;
    int64_t B;       /* batch: prompts * videos per prompt */
    ff_tensor latents; /* host F32 (B, C, F, h, w) */
} run_ctx;

static ff_status emit(run_ctx *r, const char *name, int64_t step, const ff_tensor *t, ff_err *err) {
    if (!r->prm->on_intermediate) return FF_OK;
    return r->prm->on_intermediate(r->prm->user, name, step, t, err);
}

static ff_status progress(run_ctx *r, ff_wan_stage stage, int64_t done, int64_t total, int expert, double t,
                          double stage_t0, ff_err *err) {
    if (!r->prm->on_progress) return FF_OK;
    ff_wan_progress pr = {stage, done, total, expert, t, now_s() - stage_t0};
    return r->prm->on_progress(r->prm->user, &pr, err);
}

static int64_t umt5_weight_bytes(const ff_umt5_config *c) {
    ff_param *ps;
    size_t n;
    int64_t total = 0;
    if (ff_umt5_params(c, &ps, &n, NULL)) return 0;
    for (size_t i = 0; i < n; i++) total += ps[i].shape[0] * (ps[i].ndim > 1 ? ps[i].shape[1] : 1) * 4;
    free(ps);
    return total;
}

/* encode_prompt: load tokenizer + text encoder, encode, free them. */
static ff_status stage_text(run_ctx *r, ff_prompt_embeds *pe, ff_err *err) {
    ff_wan_pipeline *p = r->p;
    const ff_wan_params *prm = r->prm;
    ff_tok *tok = NULL;
    ff_umt5 *te = NULL;
    double t0 = now_s();
    ff_status st = progress(r, FF_WAN_STAGE_TEXT, 0, 1, 0, 0, t0, err);
    if (st) return st;
    meter_begin(&r->m, FF_WAN_C_TEXT_ENCODER);
    ff_backend *te_be = p->be, *host_be = NULL; /* offload: text encoder on a CPU backend of its own */
    if (p->opts.device_pool) ff_pool_set_label(p->opts.device_pool, "text_encoder");
    if (p->te) { /* kept loaded by an earlier run */
        tok = p->tok, te = p->te, host_be = p->te_be;
    } else {
        if (p->opts.text_on_host) { /* on CPU too: a backend without the device pool's meter */
            if ((st = ff_backend_cpu_create(0, &host_be, err))) goto done;
            te_be = host_be;
        }
        if ((st = ff_tok_load(p->dir_tok, &tok, err)) || (st = ff_umt5_load(te_be, p->dir_te, &te, err))) goto done;
        r->m.s->c[FF_WAN_C_TEXT_ENCODER].loaded = 1;
        if (keeps(p, FF_WAN_C_TEXT_ENCODER)) p->tok = tok, p->te = te, p->te_be = host_be;
    }
    meter_loaded(&r->m, FF_WAN_C_TEXT_ENCODER);
    ff_prompt_request req = {prm->prompts, prm->n_prompts, prm->negative_prompts, prm->n_negative, r->do_cfg,
                             prm->num_videos_per_prompt, prm->max_sequence_length};
    if ((st = ff_prompt_encode(tok, te, &req, pe, err))) goto done;
done:
    if (te != p->te) { /* not kept */
        ff_umt5_free(te);
        ff_backend_free(host_be);
        ff_tok_free(tok);
    }
    meter_end(&r->m, FF_WAN_C_TEXT_ENCODER);
    r->m.s->c[FF_WAN_C_TEXT_ENCODER].backend_weight_bytes = umt5_weight_bytes(&p->te_cfg);
    if (st) return st;
    if ((st = emit(r, "prompt_embeds", -1, &pe->prompt_embeds, err))) return st;
    if (r->do_cfg && (st = emit(r, "negative_prompt_embeds", -1, &pe->negative_prompt_embeds, err))) return st;
    return progress(r, FF_WAN_STAGE_TEXT, 1, 1, 0, 0, t0, err);
}

/* The denoising loop's device state: the expert in use and its buffers. */
typedef struct {
    ff_wandit_model *model;
    ff_offload_dit *off;   /* offload state of model, or NULL (ff_wandit_place) */
    ff_weights *w;         /* dit_from_file: the mapping its blocks stream from */
    int expert;            /* 1 or 2; 0 = none loaded */
    ff_tensor dx, dcond, duncond, dout; /* backend: latents, text (cond/uncond), prediction */
    int64_t weight_bytes, act_bytes;
} dit_state;

static void dit_unload(run_ctx *r, dit_state *d) {
    ff_backend *be = r->p->be;
    if (d->expert) {
        ff_wan_component c = d->expert == 1 ? FF_WAN_C_TRANSFORMER : FF_WAN_C_TRANSFORMER_2;
        if (d->model != r->p->dit[d->expert - 1]) { /* not kept */
            ff_offload_dit_free(d->off); /* host tensors back before the model goes */
            ff_wandit_free(d->model);
            ff_weights_free(d->w);
        }
        d->off = NULL;
        d->w = NULL;
        meter_end(&r->m, c);
        ff_wan_component_stats *cs = &r->m.s->c[c];
        cs->backend_weight_bytes = d->weight_bytes;
        int64_t io = (int64_t)(ff_tensor_nbytes(&d->dx) + ff_tensor_nbytes(&d->dcond) + ff_tensor_nbytes(&d->duncond) +
                               ff_tensor_nbytes(&d->dout));
        if (d->weight_bytes + d->act_bytes + io > cs->backend_peak_bytes) cs->backend_peak_bytes = d->weight_bytes + d->act_bytes + io;
    }
    d->model = NULL;
    d->expert = 0;
    ff_tensor *ts[4] = {&d->dx, &d->dcond, &d->duncond, &d->dout};
    for (int i = 0; i < 4; i++)
        if (ts[i]->data) {
            ff_be_free(be, ts[i]);
            memset(ts[i], 0, sizeof *ts[i]);
        }
}

/* Frees the expert in use and loads `expert` with its buffers. */
static ff_status dit_switch(run_ctx *r, dit_state *d, int expert, const ff_prompt_embeds *pe, int per_token,
                            ff_err *err) {
    ff_wan_pipeline *p = r->p;
    ff_backend *be = p->be;
    dit_unload(r, d);
    ff_wan_component c = expert == 1 ? FF_WAN_C_TRANSFORMER : FF_WAN_C_TRANSFORMER_2;
    const char *dir = p->dir_dit[expert - 1];
    meter_begin(&r->m, c);
    ff_status st = FF_OK;
    const int stream = p->opts.dit_offload == FF_OFFLOAD_STREAM;
    if (p->dit[expert - 1]) { /* kept loaded by an earlier stage or run */
        d->model = p->dit[expert - 1], d->off = p->dit_off[expert - 1], d->w = p->dit_w[expert - 1];
        d->expert = expert;
    } else {
        if (stream && p->opts.dit_from_file) st = ff_wandit_load_lazy(dir, p->opts.dit_weight_dtype, &d->model, &d->w, err);
        else st = ff_wandit_load_as(dir, p->opts.dit_weight_dtype, &d->model, err);
        if (st) {
            meter_end(&r->m, c);
            return st;
        }
        d->expert = expert;
        r->m.s->c[c].loaded = 1;
    }
    if (d->off || d->model == p->dit[expert - 1]) {
        /* placed when it was kept */
    } else if (stream || p->opts.device_pool) {
        ff_offload_opts oo;
        ff_offload_opts_default(&oo);
        oo.mode = p->opts.dit_offload == FF_OFFLOAD_STREAM ? FF_OFFLOAD_STREAM : FF_OFFLOAD_RESIDENT;
        oo.group = p->opts.dit_group > 0 ? p->opts.dit_group : 1;
        oo.upload_dtype = p->opts.dit_widen ? FF_F32 : FF_DTYPE_COUNT;
        oo.device_pool = p->opts.device_pool;
        oo.name = expert == 1 ? "transformer" : "transformer_2";
        oo.block_weights = stream ? d->w : NULL;
        if ((st = ff_offload_dit_create(d->model, be, &oo, &d->off, err))) return st;
    } else if ((st = ff_wandit_place(d->model, be, 1, err)))
        return ff_err_wrap(err, "placing %s on %s: ", dir, ff_backend_name(be));
    if (keeps(p, c) && !p->dit[expert - 1])
        p->dit[expert - 1] = d->model, p->dit_off[expert - 1] = d->off, p->dit_w[expert - 1] = d->w;
    ff_param *ps;
    size_t np;
    d->weight_bytes = 0;
    if (!ff_wandit_params(&d->model->cfg, d->model, &ps, &np, NULL)) {
        for (size_t i = 0; i < np; i++) d->weight_bytes += (int64_t)ff_tensor_nbytes(ps[i].slot);
        free(ps);
    }
    size_t act = 0;
    if (!ff_wandit_activation_bytes(&d->model->cfg, r->latents.shape, pe->prompt_embeds.shape[1], per_token, 1, &act, NULL))
        d->act_bytes = (int64_t)act;
    int64_t oshape[5];
    const ff_tensor *text[2] = {&pe->prompt_embeds, &pe->negative_prompt_embeds};
    ff_tensor *dtext[2] = {&d->dcond, &d->duncond};
    if ((st = ff_wandit_out_shape(&d->model->cfg, &r->latents, oshape, err))) return st;
    if ((st = ff_be_alloc(be, &d->dx, FF_F32, 5, r->latents.shape, err)) || (st = ff_be_alloc(be, &d->dout, FF_F32, 5, oshape, err)))
        return st;
    for (int i = 0; i < 1 + r->do_cfg; i++)
        if ((st = ff_be_alloc(be, dtext[i], FF_F32, text[i]->ndim, text[i]->shape, err)) ||
            (st = ff_be_upload(be, dtext[i], text[i], err)))
            return st;
    meter_loaded(&r->m, c);
    return FF_OK;
}

/* One transformer call: latents (host) -> out (host, latent shape). */
static ff_status dit_call(run_ctx *r, dit_state *d, const ff_tensor *tstep, ff_tensor *dtext, ff_tensor *out, ff_err *err) {
    ff_backend *be = r->p->be;
    ff_status st = ff_be_upload(be, &d->dx, &r->latents, err);
    if (!st && d->off) st = ff_offload_dit_forward(d->off, &d->dx, tstep, dtext, &d->dout, err);
    else if (!st) st = ff_wandit_forward(d->model, be, &d->dx, tstep, dtext, NULL, &d->dout, err);
    if (!st) st = ff_be_download(be, out, &d->dout, err);
    return st;
}

static ff_status stage_denoise(run_ctx *r, ff_sched *s, const ff_prompt_embeds *pe, ff_err *err) {
    ff_wan_pipeline *p = r->p;
    const ff_wan_params *prm = r->prm;
    const int64_t N = ff_sched_num_steps(s), B = r->B;
    const double *ts = ff_sched_timesteps(s);
    const double boundary = p->boundary_ratio * (double)p->sched_cfg.num_train_timesteps;
    const int64_t *ls = r->latents.shape;
    /* expand_timesteps: (ones(F, h, w)[:, ::2, ::2] * t).flatten() per sample */
    const int64_t seq = ls[2] * ((ls[3] + 1) / 2) * ((ls[4] + 1) / 2);
    ff_tensor tstep = {0}, cond = {0}, uncond = {0}, eidx = {0};
    dit_state d = {0};
    double t0 = now_s();
    ff_status st;
    if (p->expand_timesteps) st = ff_tensor_allocv(&tstep, FF_F32, err, 2, B, seq);
    else st = ff_tensor_allocv(&tstep, ff_sched_timestep_dtype(s), err, 1, B);
    if (st || (st = ff_tensor_alloc(&cond, FF_F32, 5, ls, err)) || (st = ff_tensor_alloc(&uncond, FF_F32, 5, ls, err)) ||
        (st = ff_tensor_alloc(&eidx, FF_I64, 0, tstep.shape, err))) /* a 0-dim tensor */
        goto done;
    if ((st = progress(r, FF_WAN_STAGE_DENOISE, 0, N, 0, N ? ts[0] : 0, t0, err))) goto done;
    for (int64_t i = 0; i < N; i++) {
        const double t = ts[i];
        const int expert = !p->has_boundary || t >= boundary ? 1 : 2;
        const double g = expert == 1 || !prm->has_guidance_scale_2 ? prm->guidance_scale : prm->guidance_scale_2;
        if (expert != d.expert && (st = dit_switch(r, &d, expert, pe, p->expand_timesteps, err))) goto done;
        /* timestep = t.expand(B), or the per-token form */
        int64_t nt = ff_tensor_numel(&tstep);
        for (int64_t k = 0; k < nt; k++) {
            if (tstep.dtype == FF_I64) ((int64_t *)tstep.data)[k] = (int64_t)t;
            else ((float *)tstep.data)[k] = (float)t;
        }
        ((int64_t *)eidx.data)[0] = expert;
        if ((st = emit(r, "transformer_timestep", i, &tstep, err)) || (st = emit(r, "expert_index", i, &eidx, err))) goto done;
        if ((st = dit_call(r, &d, &tstep, &d.dcond, &cond, err))) goto done;
        if ((st = emit(r, "noise_pred_cond", i, &cond, err))) goto done;
        if (r->do_cfg) {
            if ((st = dit_call(r, &d, &tstep, &d.duncond, &uncond, err))) goto done;
            if ((st = emit(r, "noise_pred_uncond", i, &uncond, err))) goto done;
            /* noise_pred = noise_uncond + g * (noise_pred - noise_uncond), float32 */
            const float gf = (float)g;
            float *c = cond.data;
            const float *u = uncond.data;
            int64_t n = ff_tensor_numel(&cond);
            for (int64_t k = 0; k < n; k++) {
                float diff = c[k] - u[k];
                float scaled = gf * diff;
                c[k] = u[k] + scaled;
            }
        }
        if (prm->on_step && (st = prm->on_step(prm->user, i, &cond, &r->latents, err))) goto done;
        if ((st = ff_sched_step(s, &cond, &r->latents, &r->latents, err))) {
            ff_err_wrap(err, "scheduler step %lld: ", (long long)i);
            goto done;
        }
        if ((st = emit(r, "latents", i, &r->latents, err))) goto done;
        if ((st = progress(r, FF_WAN_STAGE_DENOISE, i + 1, N, expert, t, t0, err))) goto done;
    }
done:
    dit_unload(r, &d);
    ff_tensor_free(&tstep);
    ff_tensor_free(&cond);
    ff_tensor_free(&uncond);
    ff_tensor_free(&eidx);
    return st;
}

typedef struct {
    run_ctx *r;
    ff_vae *vae;
    int64_t batch, frames;
    int64_t done;     /* frames delivered (all samples) */
    double t0;
} decode_ctx;

static ff_status on_chunk(void *user, int64_t b0, int64_t t0, const ff_tensor *video, ff_err *err) {
    decode_ctx *dc = user;
    run_ctx *r = dc->r;
    ff_status st = FF_OK;
    if (r->prm->on_frames) {
        ff_tensor np = {0};
        if ((st = ff_wanvae_postprocess_frames(dc->vae, video, &np, err))) return st;
        ff_wan_chunk ch = {b0, t0, dc->batch, dc->frames, video, &np};
        st = r->prm->on_frames(r->prm->user, &ch, err);
        ff_tensor_free(&np);
        if (st) return st;
    }
    dc->done += video->shape[0] * video->shape[2];
    /* progress in frames per sample (slicing decodes sample after sample) */
    return progress(r, FF_WAN_STAGE_DECODE, dc->done / (dc->batch ? dc->batch : 1), dc->frames, 0, 0, dc->t0, err);
}

static ff_status stage_decode(run_ctx *r, ff_err *err) {
    ff_wan_pipeline *p = r->p;
    ff_vae *vae = NULL;
    ff_tensor z = {0};
    decode_ctx dc = {r, NULL, 0, 0, 0, now_s()};
    meter_begin(&r->m, FF_WAN_C_VAE);
    if (p->opts.device_pool) ff_pool_set_label(p->opts.device_pool, "vae");
    ff_status st = FF_OK;
    if (p->vae) {
        vae = p->vae; /* kept loaded by an earlier run */
    } else {
        if ((st = ff_wanvae_load(p->be, p->dir_vae, &vae, err))) goto done;
        r->m.s->c[FF_WAN_C_VAE].loaded = 1;
        if (keeps(p, FF_WAN_C_VAE)) p->vae = vae;
    }
    meter_loaded(&r->m, FF_WAN_C_VAE);
    dc.vae = vae;
    if ((st = ff_wanvae_denormalize(vae, &r->latents, &z, err))) goto done;
    if ((st = emit(r, "vae_decode_input", -1, &z, err))) goto done;
    int64_t vshape[5];
    if ((st = ff_wanvae_decode_shape(vae, &z, vshape, err))) goto done;
    dc.batch = vshape[0];
    dc.frames = vshape[2];
    if ((st = progress(r, FF_WAN_STAGE_DECODE, 0, dc.frames, 0, 0, dc.t0, err))) goto done;
    ff_wanvae_mem_reset_peak(vae);
    st = ff_wanvae_decode_stream(vae, &z, &r->prm->vae, on_chunk, &dc, err);
done:
    if (vae) {
        ff_wanvae_mem m;
        ff_wanvae_mem_stats(vae, &m);
        r->m.s->c[FF_WAN_C_VAE].backend_weight_bytes = (int64_t)m.weight_bytes;
        r->m.s->c[FF_WAN_C_VAE].backend_peak_bytes = (int64_t)(m.weight_bytes + m.run_peak_bytes);
    }
    if (vae != p->vae) ff_wanvae_free(vae);
    meter_end(&r->m, FF_WAN_C_VAE);
    ff_tensor_free(&z);
    return st;
}

/* Given embeddings (diffusers' prompt_embeds=): F32 host (B, L, D), the
 * negative one of the same shape with CFG. */
static ff_status check_embeds(const ff_wan_params *prm, int do_cfg, ff_err *err) {
    const ff_tensor *e = prm->prompt_embeds, *n = prm->negative_prompt_embeds;
    char b[96];
    if (e->dtype != FF_F32 || e->loc != FF_LOC_HOST || e->ndim != 3 || e->shape[0] < 1 || e->shape[1] < 1 || e->shape[2] < 1)
        return ff_err_set(err, FF_ERR_SHAPE, "pipeline: prompt_embeds %s is not a host F32 (B, L, D) tensor",
                          ff_tensor_describe(e, b, sizeof b));
    if (prm->num_videos_per_prompt != 1)
        return ff_err_set(err, FF_ERR_ARG, "pipeline: num_videos_per_prompt must be 1 with given prompt_embeds");
    if (do_cfg && (!n || n->dtype != FF_F32 || n->loc != FF_LOC_HOST || !ff_tensor_same_shape(e, n)))
        return ff_err_set(err, FF_ERR_SHAPE, "pipeline: guidance needs negative_prompt_embeds of the shape of prompt_embeds %s",
                          ff_tensor_describe(e, b, sizeof b));
    return FF_OK;
}

static ff_status check_params(const ff_wan_params *prm, ff_err *err) {
    if (prm->prompt_embeds) {
        ff_status st = check_embeds(prm, prm->guidance_scale > 1.0, err);
        if (st) return st;
    } else if (!prm->prompts || prm->n_prompts < 1) {
        return ff_err_set(err, FF_ERR_ARG, "pipeline: no prompt");
    }
    for (int i = 0; !prm->prompt_embeds && i < prm->n_prompts; i++)
        if (!prm->prompts[i]) return ff_err_set(err, FF_ERR_ARG, "pipeline: prompt %d is NULL", i);
    if (!prm->prompt_embeds && (prm->n_negative < 0 || (prm->n_negative > 1 && prm->n_negative != prm->n_prompts) ||
                                (prm->n_negative > 0 && !prm->negative_prompts)))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: %d negative prompts for %d prompts (give none, one, or one per prompt)",
                          prm->n_negative, prm->n_prompts);
    if (prm->num_videos_per_prompt < 1 || prm->num_videos_per_prompt > 4096)
        return ff_err_set(err, FF_ERR_ARG, "pipeline: num_videos_per_prompt %d must be in [1, 4096]", prm->num_videos_per_prompt);
    if (prm->num_inference_steps < 1 || prm->num_inference_steps > 100000)
        return ff_err_set(err, FF_ERR_ARG, "pipeline: num_inference_steps %d must be in [1, 100000]", prm->num_inference_steps);
    if (prm->max_sequence_length < 1 || prm->max_sequence_length > (1 << 16))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: max_sequence_length %d must be in [1, 65536]", prm->max_sequence_length);
    if (!isfinite(prm->guidance_scale) || (prm->has_guidance_scale_2 && !isfinite(prm->guidance_scale_2)))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: guidance scales must be finite");
    int64_t B = (int64_t)prm->n_prompts * prm->num_videos_per_prompt;
    if (prm->prompt_embeds) B = prm->prompt_embeds->shape[0];
    if (!prm->latents && (!prm->seeds || (prm->n_seeds != 1 && prm->n_seeds != B)))
        return ff_err_set(err, FF_ERR_ARG, "pipeline: %d seeds for a batch of %lld videos (give one, or one per video)",
                          prm->n_seeds, (long long)B);
    return FF_OK;
}

ff_status ff_wan_pipeline_run(ff_wan_pipeline *p, const ff_wan_params *prm, ff_wan_stats *stats, ff_err *err) {
    ff_wan_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    run_ctx r = {p, prm, {stats, prm->reset_peak_rss, {0}}, 0, 0, {0}};
    ff_prompt_embeds pe = {0};
    ff_sched *s = NULL;
    ff_wan_geometry g;
    double t_start = now_s();
    ff_status st = check_params(prm, err);
    if (st) return st;
    r.B = prm->prompt_embeds ? prm->prompt_embeds->shape[0] : (int64_t)prm->n_prompts * prm->num_videos_per_prompt;
    r.do_cfg = prm->guidance_scale > 1.0;
    if ((st = ff_wan_pipeline_geometry(p, r.B, prm->num_frames, prm->height, prm->width, &g, err))) return st;
    if (g.frames_rounded)
        FF_WARN(p->log, "num_frames - 1 has to be divisible by %d: rounding %d frames to %d",
                p->vae_cfg.scale_factor_temporal, prm->num_frames, g.num_frames);
    if (g.size_rounded)
        FF_WARN(p->log, "height and width must be multiples of %d x %d for this model: rendering %dx%d instead of %dx%d",
                p->vae_cfg.scale_factor_spatial * p->dit_cfg[0].patch[1], p->vae_cfg.scale_factor_spatial * p->dit_cfg[0].patch[2],
                g.width, g.height, prm->width, prm->height);

    /* 1. encode_prompt (or the given embeddings) */
    if (prm->prompt_embeds) {
        if ((st = ff_tensor_clone(&pe.prompt_embeds, prm->prompt_embeds, err))) goto done;
        if (r.do_cfg && (st = ff_tensor_clone(&pe.negative_prompt_embeds, prm->negative_prompt_embeds, err))) goto done;
    } else if ((st = stage_text(&r, &pe, err))) {
        goto done;
    }
    /* 2. timesteps */
    if ((st = ff_sched_create(&p->sched_cfg, &s, err)) || (st = ff_sched_set_timesteps(s, prm->num_inference_steps, err)))
        goto done;
    {
        ff_tensor tt;
        if ((st = ff_sched_timesteps_tensor(s, &tt, err))) goto done;
        st = emit(&r, "timesteps", -1, &tt, err);
        ff_tensor_free(&tt);
        if (st) goto done;
    }
    /* 3. prepare_latents: randn_tensor((B, C, F, h, w), generator) */
    if (prm->latents) { /* given initial latents (diffusers' latents=) */
        const ff_tensor *l0 = prm->latents;
        int ok = l0->dtype == FF_F32 && l0->loc == FF_LOC_HOST && l0->ndim == 5;
        for (int d = 0; ok && d < 5; d++) ok = l0->shape[d] == g.latent_shape[d];
        if (!ok) {
            char b[96];
            st = ff_err_set(err, FF_ERR_SHAPE, "pipeline: latents %s do not match the latent shape (%lld, %lld, %lld, %lld, %lld) F32",
                            ff_tensor_describe(l0, b, sizeof b), (long long)g.latent_shape[0], (long long)g.latent_shape[1],
                            (long long)g.latent_shape[2], (long long)g.latent_shape[3], (long long)g.latent_shape[4]);
            goto done;
        }
        if ((st = ff_tensor_clone(&r.latents, l0, err))) goto done;
    } else if ((st = ff_tensor_alloc(&r.latents, FF_F32, 5, g.latent_shape, err)) ||
               (st = ff_randn_tensor(&r.latents, prm->seeds, (size_t)prm->n_seeds, err)))
        goto done;
    if ((st = emit(&r, "latents_init", -1, &r.latents, err))) goto done;
    /* 4. denoising loop */
    if ((st = stage_denoise(&r, s, &pe, err))) goto done;
    ff_prompt_embeds_free(&pe);
    /* 5. de-normalise and decode (output_type='latent': hand the latents over) */
    if (prm->out_latents) {
        *prm->out_latents = r.latents;
        memset(&r.latents, 0, sizeof r.latents);
    } else {
        st = stage_decode(&r, err);
    }
done:
    ff_sched_free(s);
    ff_prompt_embeds_free(&pe);
    ff_tensor_free(&r.latents);
    stats->total_s = now_s() - t_start;
    int64_t peak = rss_peak();
    if (peak > stats->peak_rss_bytes) stats->peak_rss_bytes = peak;
    return st;
}
