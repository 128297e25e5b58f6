/* chain: the generic half of every pipeline — open a folder by its family
 * table, load-or-reuse components (keep mask, placement, block streaming),
 * meters and stats, progress and intermediates, the denoiser call and the
 * VAE decode stage. The family's __call__ (pipeline/family_*.c) reads top to
 * bottom over these. See chain.h and family.h for the contracts. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/ff_clock.h"
#include "core/ff_model_dir.h"
#include "offload/pool.h"
#include "pipeline/family.h"

#define PATH_BUF 4200

typedef struct {
    int present;
    char dir[PATH_BUF], tok_dir[PATH_BUF];
    void *cfg;                 /* the class's parsed config (config_size bytes) */
    /* kept loaded between stages and runs (opts.keep), else NULL */
    void *model;
    ff_offload_model *off;
    ff_weights *w;
    ff_backend *own_be;
    int64_t weight_bytes;
} chain_comp;

struct ff_chain {
    ff_backend *be;            /* borrowed; NULL: configs only */
    const ff_log *log;         /* borrowed, may be NULL */
    ff_model_dir *md;
    const ff_family *fam;
    ff_chain_opts opts;
    chain_comp comps[FF_CHAIN_MAX_COMPONENTS];
    void *state;               /* the family's model_index fields */
    ff_sched_config sched_cfg;
};

void ff_text_embeds_free(ff_text_embeds *e) {
    ff_tensor_free(&e->embeds);
    ff_tensor_free(&e->mask);
    ff_tensor_free(&e->pooled);
}

const char *ff_role_name(ff_role r) {
    static const char *const names[FF_ROLE_COUNT] = {"text encoder", "image encoder", "denoiser", "vae"};
    return r >= 0 && r < FF_ROLE_COUNT ? names[r] : "?";
}

ff_status ff_block_hooks_enter_params(void *hooks, int block, ff_param *ps, size_t n, ff_err *err) {
    const ff_block_hooks *h = hooks;
    (void)ps, (void)n;
    return h->enter(h->user, block, err);
}

ff_status ff_block_hooks_leave_params(void *hooks, int block, ff_param *ps, size_t n, ff_err *err) {
    const ff_block_hooks *h = hooks;
    (void)ps, (void)n, (void)err;
    h->leave(h->user, block);
    return FF_OK;
}

void ff_vae_opts_default(ff_vae_opts *o) {
    memset(o, 0, sizeof *o);
    o->tile_sample_min_height = o->tile_sample_min_width = 256;
    o->tile_sample_stride_height = o->tile_sample_stride_width = 192;
}

ff_status ff_comp_config_path(const char *dir, char *buf, size_t n, ff_err *err) {
    if ((size_t)snprintf(buf, n, "%s/config.json", dir) >= n) return ff_err_set(err, FF_ERR_ARG, "path too long: %s", dir);
    return FF_OK;
}

size_t ff_params_bytes(const ff_param *ps, size_t n) {
    size_t b = 0;
    for (size_t i = 0; i < n; i++) b += (size_t)ff_param_numel(&ps[i]) * ff_dtype_size(ps[i].dtype);
    return b;
}

/* ---- open ------------------------------------------------------------------------- */

static ff_status comp_dir(ff_chain *c, const char *name, char *buf, ff_err *err) {
    if (!ff_model_dir_has(c->md, name))
        return ff_err_set(err, FF_ERR_NOT_FOUND, "%s/model_index.json: component %s is missing (%s needs it)",
                          ff_model_dir_path(c->md), name, c->fam->class_name);
    return ff_model_dir_component_dir(c->md, name, buf, PATH_BUF, err);
}

ff_status ff_chain_open(ff_backend *be, const char *dir, const ff_chain_opts *opts, const ff_log *log, ff_chain **out,
                        ff_err *err) {
    *out = NULL;
    ff_chain *c = calloc(1, sizeof *c);
    if (!c) return ff_err_set(err, FF_ERR_NOMEM, "pipeline: no memory");
    c->be = be;
    c->log = log;
    if (opts) c->opts = *opts;
    if (c->opts.weight_dtype == 0) c->opts.weight_dtype = FF_F32;
    ff_status st;
    if (c->opts.weight_dtype != FF_F32 && c->opts.weight_dtype != FF_BF16) {
        st = ff_err_set(err, FF_ERR_ARG, "pipeline: transformer weights must be F32 or BF16");
        goto fail;
    }
    if ((st = ff_model_dir_open(dir, &c->md, err))) goto fail;
    const char *cls = c->opts.pipeline_class ? c->opts.pipeline_class : ff_model_dir_class(c->md);
    if (!(c->fam = ff_family_find(cls))) {
        char list[512];
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "%s/model_index.json: _class_name %s is not supported (supported: %s)", dir,
                        cls, ff_family_supported(list, sizeof list));
        goto fail;
    }
    const ff_family *f = c->fam;
    assert(f->n_components <= FF_CHAIN_MAX_COMPONENTS);
    if (f->state_size && !(c->state = calloc(1, f->state_size))) {
        st = ff_err_set(err, FF_ERR_NOMEM, "pipeline: no memory");
        goto fail;
    }
    if (f->index_read && (st = f->index_read(c, ff_model_dir_index(c->md), c->state, err))) goto fail;
    /* components: each must be listed, have its folder and a config its class accepts */
    char sched_dir[PATH_BUF];
    for (int i = 0; i < f->n_components; i++) {
        const ff_family_component *fc = &f->components[i];
        chain_comp *k = &c->comps[i];
        k->present = !fc->optional || ff_model_dir_has(c->md, fc->name);
        if (!k->present) continue;
        if ((fc->tokenizer && (st = comp_dir(c, fc->tokenizer, k->tok_dir, err))) || (st = comp_dir(c, fc->name, k->dir, err)))
            goto fail;
    }
    if ((st = comp_dir(c, "scheduler", sched_dir, err)) || (st = ff_sched_config_load(sched_dir, &c->sched_cfg, err))) goto fail;
    for (int i = 0; i < f->n_components; i++) {
        const ff_model_class *mc = f->components[i].cls;
        chain_comp *k = &c->comps[i];
        if (!k->present) continue;
        if (!(k->cfg = calloc(1, mc->config_size))) {
            st = ff_err_set(err, FF_ERR_NOMEM, "pipeline: no memory");
            goto fail;
        }
        if ((st = mc->config_read(k->dir, k->cfg, err))) goto fail;
    }
    if (f->check && (st = f->check(c, err))) goto fail;
    if (be && (st = ff_chain_check_files(c, err))) goto fail;
    *out = c;
    return FF_OK;
fail:
    ff_chain_close(c);
    return st;
}

static void comp_unload(const ff_chain *c, int i, void *model, ff_offload_model *off, ff_weights *w, ff_backend *own_be) {
    ff_offload_model_free(off); /* host tensors back before the model goes */
    if (model) c->fam->components[i].cls->free(model);
    ff_weights_free(w);
    ff_backend_free(own_be);
}

void ff_chain_close(ff_chain *c) {
    if (!c) return;
    for (int i = c->fam ? c->fam->n_components - 1 : -1; i >= 0; i--) {
        chain_comp *k = &c->comps[i];
        comp_unload(c, i, k->model, k->off, k->w, k->own_be);
        free(k->cfg);
    }
    free(c->state);
    ff_model_dir_close(c->md);
    free(c);
}

const ff_family *ff_chain_family(const ff_chain *c) { return c->fam; }

ff_status ff_chain_image_class(const char *dir, const char **cls, char *index_class, size_t n, ff_err *err) {
    ff_model_dir *md = NULL;
    *cls = NULL;
    ff_status st = ff_model_dir_open(dir, &md, err);
    if (st) return st;
    const ff_family *f = ff_family_find(ff_model_dir_class(md));
    if (index_class && n) snprintf(index_class, n, "%s", ff_model_dir_class(md));
    ff_model_dir_close(md);
    if (f && f->takes_image) *cls = f->class_name;
    else if (f && f->image_class) *cls = f->image_class;
    return FF_OK;
}
const char *ff_chain_dir(const ff_chain *c) { return ff_model_dir_path(c->md); }
const char *ff_chain_class_name(const ff_chain *c) { return c->fam->class_name; }
const ff_chain_opts *ff_chain_get_opts(const ff_chain *c) { return &c->opts; }
const void *ff_chain_family_state(const ff_chain *c) { return c->state; }
const ff_log *ff_chain_log(const ff_chain *c) { return c->log; }
int ff_chain_takes_prompt_embeds(const ff_chain *c) { return !c->fam->needs_prompts; }
int ff_chain_n_components(const ff_chain *c) { return c->fam->n_components; }

const char *ff_chain_component_name(const ff_chain *c, int i) {
    return i >= 0 && i < c->fam->n_components ? c->fam->components[i].name : "?";
}

int ff_chain_component_present(const ff_chain *c, int i) { return i >= 0 && i < c->fam->n_components && c->comps[i].present; }

const ff_model_class *ff_chain_component_class(const ff_chain *c, int i) {
    assert(i >= 0 && i < c->fam->n_components);
    return c->fam->components[i].cls;
}

const void *ff_chain_component_config(const ff_chain *c, int i) {
    assert(ff_chain_component_present(c, i));
    return c->comps[i].cfg;
}

const char *ff_chain_component_dir(const ff_chain *c, int i) {
    assert(ff_chain_component_present(c, i));
    return c->comps[i].dir;
}

int ff_chain_find_role(const ff_chain *c, ff_role r, int nth) {
    for (int i = 0; i < c->fam->n_components; i++)
        if (c->comps[i].present && c->fam->components[i].cls->role == r && nth-- == 0) return i;
    return -1;
}

ff_status ff_chain_set_scheduler(ff_chain *c, const ff_sched_config *cfg, ff_err *err) {
    ff_sched *s = NULL;
    ff_status st = ff_sched_create(cfg, &s, err); /* validates */
    ff_sched_free(s);
    if (!st) c->sched_cfg = *cfg;
    return st;
}

const ff_sched_config *ff_chain_scheduler(const ff_chain *c) { return &c->sched_cfg; }

ff_status ff_chain_geometry(const ff_chain *c, int64_t batch, int num_frames, int height, int width, ff_geometry *g,
                            ff_err *err) {
    memset(g, 0, sizeof *g);
    if (num_frames < 1 || num_frames > (1 << 20))
        return ff_err_set(err, FF_ERR_ARG, "num_frames %d must be in [1, %d]", num_frames, 1 << 20);
    if (height < 1 || width < 1 || height > (1 << 16) || width > (1 << 16))
        return ff_err_set(err, FF_ERR_ARG, "height %d x width %d: both must be in [1, 65536]", height, width);
    return c->fam->geometry(c, batch, num_frames, height, width, g, err);
}

int64_t ff_chain_pixel_frames(const ff_chain *c, int64_t latent_frames) { return c->fam->pixel_frames(c, latent_frames); }

void ff_chain_params_default(const ff_chain *c, ff_chain_params *p) { c->fam->params_default(p); }

/* ---- loading a component ------------------------------------------------------------- */

/* Loads component i on its backend (own_be: a CPU backend made for a text
 * encoder on the host) and places it: block-structured models through
 * offload_model when streaming or when a pool counts the device, else
 * everything onto the backend. */
static ff_status comp_load(ff_chain *c, int i, ff_comp_use *u, ff_err *err) {
    const ff_family_component *fc = &c->fam->components[i];
    const ff_model_class *mc = fc->cls;
    chain_comp *k = &c->comps[i];
    const int block = mc->model_params != NULL, stream = block && c->opts.stream;
    ff_status st;
    u->be = c->be;
    u->weight_bytes = 0;
    if (mc->role == FF_ROLE_TEXT_ENCODER && c->opts.text_on_host) {
        /* on the CPU too: a backend of its own, without the device pool's meter */
        if ((st = ff_backend_cpu_create(0, &u->own_be, err))) return st;
        u->be = u->own_be;
    }
    ff_load_request rq = {u->be, k->dir, fc->tokenizer ? k->tok_dir : NULL, c->opts.weight_dtype, block,
                          stream && c->opts.from_file ? &u->w : NULL};
    if ((st = mc->load(&rq, &u->model, err))) return st;
    ff_param *ps = NULL;
    size_t np = 0;
    if (!block) { /* weights as its config lists them, F32 */
        if (mc->params && !mc->params(k->cfg, FF_F32, &ps, &np, NULL)) u->weight_bytes = (int64_t)ff_params_bytes(ps, np);
        free(ps);
        return FF_OK;
    }
    if ((st = mc->model_params(u->model, &ps, &np, err))) return st;
    if (stream || c->opts.device_pool) {
        ff_offload_opts oo;
        ff_offload_opts_default(&oo);
        oo.mode = stream ? FF_OFFLOAD_STREAM : FF_OFFLOAD_RESIDENT;
        oo.group = c->opts.group > 0 ? c->opts.group : 1;
        oo.upload_dtype = c->opts.widen ? FF_F32 : FF_DTYPE_COUNT;
        oo.device_pool = c->opts.device_pool;
        oo.name = fc->name;
        oo.block_weights = stream ? u->w : NULL;
        st = ff_offload_model_create(ps, np, u->be, &oo, &u->off, err); /* the list just made: no second listing */
    } else if (mc->place && (st = mc->place(u->model, u->be, err))) {
        ff_err_wrap(err, "placing %s on %s: ", k->dir, ff_backend_name(u->be));
    }
    for (size_t j = 0; !st && j < np; j++) u->weight_bytes += (int64_t)ff_tensor_nbytes(ps[j].slot);
    free(ps);
    return st;
}

ff_status ff_chain_component_load(ff_chain *c, int i, void **model, ff_err *err) {
    *model = NULL;
    if (!c->be) return ff_err_set(err, FF_ERR_ARG, "pipeline: opened without a backend (configs only)");
    assert(ff_chain_component_present(c, i));
    const ff_family_component *fc = &c->fam->components[i];
    ff_load_request rq = {c->be, c->comps[i].dir, fc->tokenizer ? c->comps[i].tok_dir : NULL, c->opts.weight_dtype, 0, NULL};
    return fc->cls->load(&rq, model, err);
}

void ff_chain_component_free(const ff_chain *c, int i, void *model) {
    if (model) c->fam->components[i].cls->free(model);
}

/* ---- time and memory ------------------------------------------------------------------- */

double ff_run_now(void) { return ff_now_s(); }

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

static void meter_begin(ff_run *r, int i) {
    if (r->reset_rss) {
        int64_t before = rss_peak();
        if (before > r->stats->peak_rss_bytes) r->stats->peak_rss_bytes = before;
        r->stats->rss_per_component = rss_reset();
    }
    r->stats->c[i].used = 1;
    r->t0[i] = ff_now_s();
}

static void meter_loaded(ff_run *r, int i) {
    double t = ff_now_s();
    r->stats->c[i].load_s += t - r->t0[i];
    r->t0[i] = t;
}

static void meter_end(ff_run *r, int i) {
    ff_component_stats *cs = &r->stats->c[i];
    cs->run_s += ff_now_s() - r->t0[i];
    int64_t peak = rss_peak();
    if (peak > cs->peak_rss_bytes) cs->peak_rss_bytes = peak;
    if (peak > r->stats->peak_rss_bytes) r->stats->peak_rss_bytes = peak;
}

/* ---- the driver ---------------------------------------------------------------------- */

ff_status ff_run_emit(ff_run *r, const char *name, int64_t step, const ff_tensor *t, ff_err *err) {
    if (!r->prm->on_intermediate) return FF_OK;
    return r->prm->on_intermediate(r->prm->user, name, step, t, err);
}

ff_status ff_run_progress(ff_run *r, ff_stage_kind stage, int64_t done, int64_t total, int expert, double t,
                          double stage_t0, ff_err *err) {
    if (r->prm->cancel && atomic_load(r->prm->cancel)) return ff_err_set(err, FF_ERR_ARG, "cancelled");
    if (!r->prm->on_progress) return FF_OK;
    ff_chain_progress pr = {stage, done, total, expert, t, ff_now_s() - stage_t0};
    return r->prm->on_progress(r->prm->user, &pr, err);
}

static int keeps(const ff_chain *c, int i) { return (c->opts.keep >> i) & 1; }

ff_status ff_run_acquire(ff_run *r, int i, ff_comp_use *u, ff_err *err) {
    ff_chain *c = r->c;
    chain_comp *k = &c->comps[i];
    assert(ff_chain_component_present(c, i) && c->be);
    memset(u, 0, sizeof *u);
    u->comp = i;
    if (r->prm->cancel && atomic_load(r->prm->cancel)) /* before loading or running the next component */
        return ff_err_set(err, FF_ERR_ARG, "cancelled (before %s)", c->fam->components[i].name);
    meter_begin(r, i);
    if (c->opts.device_pool) ff_pool_set_label(c->opts.device_pool, "%s", c->fam->components[i].name);
    ff_status st = FF_OK;
    if (k->model) { /* kept loaded by an earlier stage or run */
        u->model = k->model, u->off = k->off, u->w = k->w, u->own_be = k->own_be;
        u->be = k->own_be ? k->own_be : c->be;
        u->weight_bytes = k->weight_bytes;
    } else {
        st = comp_load(c, i, u, err);
        if (u->model) r->stats->c[i].loaded = 1;
        if (st) {
            comp_unload(c, i, u->model, u->off, u->w, u->own_be);
            memset(u, 0, sizeof *u);
            u->comp = -1;
            meter_end(r, i);
            return st;
        }
        if (keeps(c, i)) k->model = u->model, k->off = u->off, k->w = u->w, k->own_be = u->own_be, k->weight_bytes = u->weight_bytes;
    }
    meter_loaded(r, i);
    return FF_OK;
}

void ff_run_release(ff_run *r, ff_comp_use *u) {
    if (u->comp < 0 || !u->model) return;
    ff_chain *c = r->c;
    const int i = u->comp;
    assert(i < c->fam->n_components && r->stats->c[i].used);
    if (u->model != c->comps[i].model) comp_unload(c, i, u->model, u->off, u->w, u->own_be); /* not kept */
    meter_end(r, i);
    if (u->weight_bytes) r->stats->c[i].backend_weight_bytes = u->weight_bytes;
    memset(u, 0, sizeof *u);
    u->comp = -1;
}

ff_status ff_run_encode_text(ff_run *r, const ff_comp_use *u, const ff_text_request *rq, ff_text_embeds *out,
                             ff_err *err) {
    const ff_model_class *mc = r->c->fam->components[u->comp].cls;
    assert(mc->role == FF_ROLE_TEXT_ENCODER);
    const ff_text_encoder_ops *ops = FF_TEXT_OPS(mc);
    if (!u->off) return ops->encode(u->model, rq, NULL, out, err);
    ff_status st = ff_offload_model_begin(u->off, err);
    if (st) return st;
    st = ops->encode(u->model, rq, ff_offload_model_hooks(u->off), out, err);
    ff_offload_model_end(u->off);
    return st;
}

ff_status ff_run_encode_prompts(ff_run *r, int comp, int num_videos_per_prompt, int max_sequence_length,
                                ff_tensor *cond, ff_tensor *uncond, ff_err *err) {
    const ff_chain_params *prm = r->prm;
    ff_comp_use u;
    ff_text_embeds te = {0}, tn = {0};
    const char **neg = NULL;
    double t0 = ff_run_now();
    ff_status st = ff_run_progress(r, FF_STAGE_TEXT, 0, 1, 0, 0, t0, err);
    if (st || (st = ff_run_acquire(r, comp, &u, err))) return st;
    ff_text_request rq = {prm->prompts, prm->n_prompts, num_videos_per_prompt, max_sequence_length, NULL, 0};
    if ((st = ff_run_encode_text(r, &u, &rq, &te, err))) goto done;
    if (r->do_cfg) {
        if (!(neg = malloc((size_t)prm->n_prompts * sizeof *neg))) {
            st = ff_err_set(err, FF_ERR_NOMEM, "encode_prompt: no memory");
            goto done;
        }
        for (int b = 0; b < prm->n_prompts; b++)
            neg[b] = !prm->negative_prompts || prm->n_negative < 1 ? "" : prm->negative_prompts[prm->n_negative == 1 ? 0 : b];
        rq.prompts = neg;
        if ((st = ff_run_encode_text(r, &u, &rq, &tn, err))) goto done;
    }
    *cond = te.embeds, *uncond = tn.embeds;
    memset(&te.embeds, 0, sizeof te.embeds);
    memset(&tn.embeds, 0, sizeof tn.embeds);
done:
    free(neg);
    ff_text_embeds_free(&te);
    ff_text_embeds_free(&tn);
    ff_run_release(r, &u);
    if (st) return st;
    if ((st = ff_run_emit(r, "prompt_embeds", -1, cond, err))) return st;
    if (r->do_cfg && (st = ff_run_emit(r, "negative_prompt_embeds", -1, uncond, err))) return st;
    return ff_run_progress(r, FF_STAGE_TEXT, 1, 1, 0, 0, t0, err);
}

static void free_dev(ff_backend *be, ff_tensor *t) {
    if (!t->data) return;
    ff_be_free(be, t);
    memset(t, 0, sizeof *t);
}

void ff_run_denoiser_unload(ff_run *r, ff_denoiser_run *d) {
    ff_backend *be = d->u.be;
    if (d->expert) {
        const int i = d->u.comp;
        const int64_t w = d->u.weight_bytes;
        ff_run_release(r, &d->u);
        ff_component_stats *cs = &r->stats->c[i];
        cs->backend_weight_bytes = w;
        if (w + d->act_bytes > cs->backend_peak_bytes) cs->backend_peak_bytes = w + d->act_bytes;
    }
    d->expert = 0;
    d->u.comp = -1;
    if (!be) return;
    free_dev(be, &d->dx);
    free_dev(be, &d->dout);
    for (int k = 0; k < d->n_cond; k++) free_dev(be, &d->dcond[k]);
    d->n_cond = 0;
}

ff_status ff_run_denoiser_switch(ff_run *r, ff_denoiser_run *d, int i, int expert, const int64_t *x_shape, int ndim,
                                 const ff_tensor *const *cond, int n_cond, const ff_act_query *q, ff_err *err) {
    assert(n_cond <= FF_RUN_MAX_COND && expert > 0);
    ff_run_denoiser_unload(r, d);
    const ff_model_class *mc = r->c->fam->components[i].cls;
    const ff_denoiser_ops *ops = FF_DENOISER_OPS(mc);
    ff_status st = ff_run_acquire(r, i, &d->u, err);
    if (st) return st;
    d->expert = expert;
    size_t act = 0;
    if (mc->act_bytes && !mc->act_bytes(r->c->comps[i].cfg, q, &act, NULL)) d->act_bytes = (int64_t)act;
    int64_t oshape[5];
    ff_backend *be = d->u.be;
    if ((st = ops->out_shape(r->c->comps[i].cfg, x_shape, ndim, oshape, err))) return st;
    if ((st = ff_be_alloc(be, &d->dx, FF_F32, ndim, x_shape, err)) || (st = ff_be_alloc(be, &d->dout, FF_F32, ndim, oshape, err)))
        return st;
    for (int k = 0; k < n_cond; k++, d->n_cond++)
        if ((st = ff_be_alloc(be, &d->dcond[k], FF_F32, cond[k]->ndim, cond[k]->shape, err)) ||
            (st = ff_be_upload(be, &d->dcond[k], cond[k], err)))
            return st;
    return FF_OK;
}

/* prm->cancel checked before every block, around the placement hooks (if any). */
typedef struct {
    const atomic_int *cancel;
    const ff_block_hooks *inner;
} cancel_hooks;

static ff_status cancel_enter(void *user, int block, ff_err *err) {
    const cancel_hooks *h = user;
    if (atomic_load(h->cancel)) return ff_err_set(err, FF_ERR_ARG, "cancelled (before transformer block %d)", block);
    return h->inner ? h->inner->enter(h->inner->user, block, err) : FF_OK;
}

static void cancel_leave(void *user, int block) {
    const cancel_hooks *h = user;
    if (h->inner) h->inner->leave(h->inner->user, block);
}

static ff_status denoise_cancellable(ff_run *r, ff_denoiser_run *d, ff_denoiser_in *in, ff_err *err) {
    const ff_model_class *cls = r->c->fam->components[d->u.comp].cls;
    if (!r->prm->cancel) return ff_offload_denoise(cls, d->u.model, d->u.be, d->u.off, in, &d->dout, err);
    cancel_hooks ch = {r->prm->cancel, d->u.off ? ff_offload_model_hooks(d->u.off) : NULL};
    const ff_block_hooks h = {cancel_enter, cancel_leave, &ch};
    ff_status st = d->u.off ? ff_offload_model_begin(d->u.off, err) : FF_OK;
    if (st) return st;
    st = FF_DENOISER_OPS(cls)->forward(d->u.model, d->u.be, in, &h, &d->dout, err);
    if (d->u.off) ff_offload_model_end(d->u.off);
    return st;
}

ff_status ff_run_denoiser_call(ff_run *r, ff_denoiser_run *d, const ff_tensor *x, ff_denoiser_in *in, ff_tensor *out,
                               ff_err *err) {
    assert(d->expert > 0);
    ff_backend *be = d->u.be;
    in->x = &d->dx;
    ff_status st = ff_be_upload(be, &d->dx, x, err);
    if (!st) st = denoise_cancellable(r, d, in, err);
    if (!st) st = ff_be_download(be, out, &d->dout, err);
    return st;
}

/* ---- the decode stage ------------------------------------------------------------------- */

typedef struct {
    ff_run *r;
    const ff_vae_ops *ops;
    void *vae;
    int64_t batch, frames;
    int64_t done;     /* frames delivered (all samples) */
    double t0;
} decode_ctx;

static ff_status on_chunk(void *user, int64_t b0, int64_t t0, const ff_tensor *video, ff_err *err) {
    decode_ctx *dc = user;
    ff_run *r = dc->r;
    ff_status st = FF_OK;
    if (r->prm->cancel && atomic_load(r->prm->cancel)) return ff_err_set(err, FF_ERR_ARG, "cancelled (decoding)");
    if (r->prm->on_frames) {
        ff_tensor np = {0};
        if ((st = dc->ops->postprocess(dc->vae, video, &np, err))) return st;
        ff_chain_chunk ch = {b0, t0, dc->batch, dc->frames, video, &np};
        st = r->prm->on_frames(r->prm->user, &ch, err);
        ff_tensor_free(&np);
        if (st) return st;
    }
    dc->done += video->shape[0] * video->shape[2];
    /* progress in frames per sample (slicing decodes sample after sample) */
    return ff_run_progress(r, FF_STAGE_DECODE, dc->done / (dc->batch ? dc->batch : 1), dc->frames, 0, 0, dc->t0, err);
}

ff_status ff_run_decode(ff_run *r, int i, const ff_tensor *latents, ff_err *err) {
    const ff_vae_ops *ops = FF_VAE_OPS(r->c->fam->components[i].cls);
    ff_comp_use u;
    ff_tensor z = {0};
    decode_ctx dc = {r, ops, NULL, 0, 0, 0, ff_now_s()};
    ff_status st = ff_run_acquire(r, i, &u, err);
    if (st) return st;
    dc.vae = u.model;
    if ((st = ops->denormalize(u.model, latents, &z, err))) goto done;
    if ((st = ff_run_emit(r, "vae_decode_input", -1, &z, err))) goto done;
    int64_t vshape[5];
    if ((st = ops->decode_shape(u.model, &z, vshape, err))) goto done;
    dc.batch = vshape[0];
    dc.frames = vshape[2];
    if ((st = ff_run_progress(r, FF_STAGE_DECODE, 0, dc.frames, 0, 0, dc.t0, err))) goto done;
    ops->mem_reset(u.model);
    st = ops->decode_stream(u.model, &z, &r->prm->vae, on_chunk, &dc, err);
done:;
    size_t wb = 0, peak = 0;
    ops->mem(u.model, &wb, &peak);
    ff_component_stats *cs = &r->stats->c[i];
    cs->backend_weight_bytes = (int64_t)wb;
    cs->backend_peak_bytes = (int64_t)(wb + peak);
    u.weight_bytes = 0;
    ff_run_release(r, &u);
    ff_tensor_free(&z);
    return st;
}

/* ---- a run ---------------------------------------------------------------------------------- */

ff_status ff_chain_run(ff_chain *c, const ff_chain_params *prm, ff_chain_stats *stats, ff_err *err) {
    ff_chain_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!c->be) return ff_err_set(err, FF_ERR_ARG, "pipeline: %s was opened without a backend", ff_chain_dir(c));
    ff_status vst = ff_chain_check_vae_opts(c, &prm->vae, err);
    if (vst) return vst;
    ff_run r;
    memset(&r, 0, sizeof r);
    r.c = c;
    r.prm = prm;
    r.stats = stats;
    r.reset_rss = prm->reset_peak_rss;
    double t_start = ff_now_s();
    ff_status st = c->fam->call(&r, err);
    ff_tensor_free(&r.latents);
    stats->total_s = ff_now_s() - t_start;
    int64_t peak = rss_peak();
    if (peak > stats->peak_rss_bytes) stats->peak_rss_bytes = peak;
    return st;
}
