/* plan: predicted device peaks per stage of a family's table and the choice
 * of strategy (see plan.h). Every byte count comes from a component class
 * (parameter list, activation model); the strategy search is here. */
#include "pipeline/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <assert.h>

#include "offload/pool.h"
#include "pipeline/family.h"

void ff_plan_request_default(ff_plan_request *rq) {
    memset(rq, 0, sizeof *rq);
    rq->height = 480;
    rq->width = 832;
    rq->frames = 81;
    rq->batch = 1;
    rq->cfg = 1;
    rq->text_len = 512;
    rq->steps = 50;
    rq->dtype = FF_BF16;
    rq->offload = -1;
    rq->tiling = -1;
    rq->text_on_host = -1;
    rq->slicing = -1;
}

const char *ff_plan_offload_name(ff_plan_offload o) {
    return o == FF_PLAN_NONE ? "none" : o == FF_PLAN_MODEL ? "model" : o == FF_PLAN_SEQUENTIAL ? "sequential" : "?";
}

int ff_plan_offload_parse(const char *s, int *out) {
    static const char *names[] = {"none", "model", "sequential"};
    if (!s) return -1;
    if (!strcmp(s, "auto")) return *out = -1, 0;
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) return *out = i, 0;
    return -1;
}

/* ---- what the table says --------------------------------------------------------- */

/* One component's weights as the plan sees them. */
typedef struct {
    int present, streamable;
    ff_param *ps;           /* its parameter list, dtypes for the request */
    size_t n;
    size_t bytes;           /* all of it, as loaded */
    int blocks;             /* streamable: number of blocks */
} plan_comp;

typedef struct {
    const ff_chain *c;
    plan_comp comp[FF_CHAIN_MAX_COMPONENTS];
} plan_cfgs;

static void cfgs_free(plan_cfgs *pc) {
    for (int i = 0; i < FF_CHAIN_MAX_COMPONENTS; i++) free(pc->comp[i].ps);
}

static ff_status cfgs_read(const ff_chain *c, ff_dtype dt, plan_cfgs *pc, ff_err *err) {
    memset(pc, 0, sizeof *pc);
    pc->c = c;
    for (int i = 0; i < ff_chain_n_components(c); i++) {
        plan_comp *k = &pc->comp[i];
        if (!(k->present = ff_chain_component_present(c, i))) continue;
        const ff_model_class *mc = ff_chain_component_class(c, i);
        k->streamable = mc->model_params != NULL;
        ff_status st = mc->params(ff_chain_component_config(c, i), dt, &k->ps, &k->n, err);
        if (st) return st;
        k->bytes = ff_params_bytes(k->ps, k->n);
        k->blocks = ff_params_blocks(k->ps, k->n);
    }
    return FF_OK;
}

static ff_status act_bytes(const plan_cfgs *pc, int i, const ff_act_query *q, size_t *out, ff_err *err) {
    const ff_model_class *mc = ff_chain_component_class(pc->c, i);
    if (!mc->act_bytes) return ff_err_set(err, FF_ERR_UNSUPPORTED, "plan: %s has no activation model", mc->class_name);
    return mc->act_bytes(ff_chain_component_config(pc->c, i), q, out, err);
}

static const char *kept(const ff_plan *p, const char *evicted) { return p->offload == FF_PLAN_NONE ? "resident" : evicted; }

/* ---- one prediction ----------------------------------------------------------------- */

static ff_status predict(const plan_cfgs *pc, const ff_plan_request *rq, ff_plan *p, ff_err *err) {
    memset(p, 0, sizeof *p);
    const ff_chain *c = pc->c;
    const ff_family *f = ff_chain_family(c);
    p->rq = *rq;
    p->offload = rq->offload < 0 ? FF_PLAN_MODEL : (ff_plan_offload)rq->offload;
    p->text_on_host = rq->text_on_host > 0;
    p->tiling = rq->tiling > 0;
    p->slicing = rq->slicing > 0;
    ff_status st;
    const int64_t B = rq->batch > 0 ? rq->batch : 1, L = rq->text_len > 0 ? rq->text_len : 512;
    ff_geometry g;
    if ((st = ff_chain_geometry(c, B, rq->frames, rq->height, rq->width, &g, err))) return ff_err_wrap(err, "plan: ");
    const int64_t *lat = g.latent_shape;
    for (int i = 0; i < 5; i++) p->latent[i] = (int)lat[i];
    p->frame_axis = g.frame_axis, p->channel_axis = g.channel_axis;
    const size_t lat_bytes = (size_t)(lat[0] * lat[1] * lat[2] * lat[3] * lat[4]) * 4;
    const size_t reserve = rq->cuda ? FF_PLAN_CUDA_RESERVE : 0;
    const int ss = g.spatial_factor;
    p->tile = rq->tile > 0 ? rq->tile : 256;
    p->tile_stride = rq->tile_stride > 0 ? rq->tile_stride : 192;
    if (p->tiling && (p->tile / ss < 1 || p->tile_stride / ss < 1 || p->tile_stride > p->tile))
        return ff_err_set(err, FF_ERR_ARG, "plan: VAE tile %d / stride %d px (need stride <= tile, both >= %d)", p->tile,
                          p->tile_stride, ss);
    /* as the VAE's decode: tiled only when the frame is larger than a tile */
    if (p->tiling && !(lat[4] > p->tile / ss || lat[3] > p->tile / ss)) p->tiling = 0;

    /* weights of each component when resident on the device (text encoders on the host: none) */
    size_t w_dev[FF_CHAIN_MAX_COMPONENTS] = {0}, all_resident = 0;
    for (int i = 0; i < ff_chain_n_components(c); i++) {
        if (!pc->comp[i].present) continue;
        const int on_host = p->text_on_host && ff_chain_component_class(c, i)->role == FF_ROLE_TEXT_ENCODER;
        w_dev[i] = on_host ? 0 : pc->comp[i].bytes;
        all_resident += w_dev[i];
    }
    ff_offload_opts res;
    ff_offload_opts_default(&res);

    snprintf(p->pipeline_class, sizeof p->pipeline_class, "%s", f->class_name);
    p->n_components = ff_chain_n_components(c);
    for (int i = 0; i < p->n_components; i++) {
        ff_plan_component *pcm = &p->comp[i];
        snprintf(pcm->name, sizeof pcm->name, "%s", ff_chain_component_name(c, i));
        snprintf(pcm->class_name, sizeof pcm->class_name, "%s", ff_chain_component_class(c, i)->class_name);
        pcm->present = pc->comp[i].present;
        for (size_t j = 0; pcm->present && j < pc->comp[i].n; j++) pcm->params += ff_param_numel(&pc->comp[i].ps[j]);
    }
    assert(f->n_stages <= FF_PLAN_MAX_STAGES);
    p->n_stages = f->n_stages;
    for (int si = 0; si < f->n_stages; si++) {
        const ff_family_stage *fs = &f->stages[si];
        const plan_comp *k = &pc->comp[fs->component];
        ff_plan_stage *s = &p->st[si];
        snprintf(s->name, sizeof s->name, "%s", fs->name);
        s->kind = fs->kind;
        if (!k->present) continue;
        s->present = 1;
        const int i = fs->component;
        const int on_host = p->text_on_host && ff_chain_component_class(c, i)->role == FF_ROLE_TEXT_ENCODER;
        const int stream = k->streamable && p->offload == FF_PLAN_SEQUENTIAL && k->blocks > 0;
        const char *verb = fs->kind == FF_STAGE_DECODE ? "load, decode, evict" : "load, run, evict";
        ff_act_query q = {.batch = B, .text_len = L, .cfg = rq->cfg};
        memcpy(q.latent, lat, sizeof q.latent);
        s->host_weights = k->bytes;
        s->others = p->offload == FF_PLAN_NONE ? all_resident - w_dev[i] : 0;
        /* activations */
        size_t act = 0;
        if (on_host) {
            act = 0;
        } else {
            switch (fs->kind) {
            case FF_STAGE_TEXT: q.kind = FF_ACTIVITY_TEXT; break;
            case FF_STAGE_IMAGE: q.kind = FF_ACTIVITY_IMAGE; break;
            case FF_STAGE_DENOISE: q.kind = FF_ACTIVITY_DENOISE; break;
            case FF_STAGE_DECODE: q.kind = FF_ACTIVITY_VAE_DECODE; break;
            case FF_STAGE_ENCODE: q.kind = FF_ACTIVITY_VAE_ENCODE; break;
            }
            if (q.kind == FF_ACTIVITY_VAE_DECODE || q.kind == FF_ACTIVITY_VAE_ENCODE) {
                /* the family's VAE defaults (HunyuanVideo: framewise temporal tiles), then the plan's choices */
                ff_chain_params dp;
                ff_chain_params_default(c, &dp);
                q.vae = dp.vae;
                q.vae.tiling = p->tiling, q.vae.slicing = p->slicing, q.vae.tile_low_memory = 1;
                q.vae.tile_sample_min_height = q.vae.tile_sample_min_width = p->tile;
                q.vae.tile_sample_stride_height = q.vae.tile_sample_stride_width = p->tile_stride;
            }
            if ((st = act_bytes(pc, i, &q, &act, err))) return st;
        }
        s->activations = act;
        /* weights */
        if (on_host) {
            snprintf(s->strategy, sizeof s->strategy, "on host CPU backend");
        } else if (stream) {
            ff_offload_opts o = res;
            o.mode = FF_OFFLOAD_STREAM;
            o.group = rq->group > 0 ? rq->group : 1;
            size_t r, ring, blk;
            if ((st = ff_offload_device_bytes(k->ps, k->n, &o, &r, &ring, &blk, err))) return st;
            const int kk = o.group > k->blocks ? k->blocks : o.group;
            p->group = kk;
            s->weights = r + ring;
            s->loaded = r;
            s->host_weights = r + blk; /* blocks read from the file's mapping (page cache) through staging */
            if (fs->kind == FF_STAGE_DENOISE) s->moved_per_step = (size_t)k->blocks * blk * (rq->cfg ? 2 : 1);
            snprintf(s->strategy, sizeof s->strategy, "stream blocks, k=%d of %d, ring 2", kk, k->blocks);
        } else {
            s->weights = k->bytes;
            s->loaded = p->offload == FF_PLAN_NONE && fs->kind != FF_STAGE_TEXT ? 0 : k->bytes;
            if (fs->kind == FF_STAGE_DECODE && p->tiling)
                snprintf(s->strategy, sizeof s->strategy, "%s, tiled %d/%d px%s", kept(p, verb), p->tile, p->tile_stride,
                         p->slicing ? ", sliced" : "");
            else if (fs->kind == FF_STAGE_DECODE)
                snprintf(s->strategy, sizeof s->strategy, "%s%s", kept(p, verb), p->slicing ? ", sliced" : "");
            else snprintf(s->strategy, sizeof s->strategy, "%s", kept(p, verb));
        }
    }

    size_t host = 0;
    for (int i = 0; i < p->n_stages; i++) {
        ff_plan_stage *s = &p->st[i];
        if (!s->present) continue;
        s->peak = s->weights + s->activations + s->others + reserve;
        if (s->peak > p->peak) p->peak = s->peak;
        if (s->host_weights > host) host = s->host_weights;
    }
    p->host_need = host + 3 * lat_bytes;
    p->fits = !rq->budget || p->peak <= rq->budget;
    return FF_OK;
}

size_t ff_plan_kind_peak(const ff_plan *p, ff_stage_kind kind) {
    size_t m = 0;
    for (int i = 0; i < p->n_stages; i++)
        if (p->st[i].present && p->st[i].kind == kind && p->st[i].peak > m) m = p->st[i].peak;
    return m;
}

const ff_plan_stage *ff_plan_find_stage(const ff_plan *p, const char *name) {
    for (int i = 0; i < p->n_stages; i++)
        if (!strcmp(p->st[i].name, name)) return &p->st[i];
    return NULL;
}

static ff_status open_configs(const char *dir, const ff_plan_request *rq, ff_chain **c, ff_err *err) {
    ff_chain_opts o = {0};
    o.pipeline_class = rq->pipeline_class;
    return ff_chain_open(NULL, dir, &o, NULL, c, err);
}

ff_status ff_plan_predict(const char *model_dir, const ff_plan_request *rq, ff_plan *out, ff_err *err) {
    ff_chain *c = NULL;
    plan_cfgs pc;
    memset(&pc, 0, sizeof pc);
    ff_status st = open_configs(model_dir, rq, &c, err);
    if (!st) st = cfgs_read(c, rq->dtype, &pc, err);
    if (!st) st = predict(&pc, rq, out, err);
    cfgs_free(&pc);
    ff_chain_close(c);
    return st;
}

static ff_status plan_make(const plan_cfgs *pc, const char *model_dir, const ff_plan_request *rq, ff_plan *out, ff_err *err);

ff_status ff_plan_make(const char *model_dir, const ff_plan_request *rq, ff_plan *out, ff_err *err) {
    ff_chain *c = NULL;
    plan_cfgs pc;
    memset(&pc, 0, sizeof pc);
    ff_status st = open_configs(model_dir, rq, &c, err);
    if (!st) st = cfgs_read(c, rq->dtype, &pc, err);
    if (!st) st = plan_make(&pc, model_dir, rq, out, err);
    cfgs_free(&pc);
    ff_chain_close(c);
    return st;
}

static ff_status plan_make(const plan_cfgs *pc, const char *model_dir, const ff_plan_request *rq, ff_plan *out, ff_err *err) {
    ff_status st;
    int L = 0; /* the most blocks a streamed component has */
    for (int i = 0; i < FF_CHAIN_MAX_COMPONENTS; i++)
        if (pc->comp[i].present && pc->comp[i].streamable && pc->comp[i].blocks > L) L = pc->comp[i].blocks;
    /* the smallest plan any strategy reaches (forced fields kept) */
    ff_plan_request lo = *rq;
    if (lo.offload < 0) lo.offload = FF_PLAN_SEQUENTIAL;
    if (lo.group <= 0) lo.group = 1;
    if (lo.text_on_host < 0) lo.text_on_host = 1;
    if (lo.slicing < 0) lo.slicing = 1;
    if (lo.tiling < 0) lo.tiling = 0;
    ff_plan small;
    if ((st = predict(pc, &lo, &small, err))) return st;

    /* VAE tiles to try: none, then (auto or forced tiling) the requested tile and smaller ones, largest
     * first, stride 3/4 of the tile (diffusers' 256 / 192), multiples of the spatial factor */
    ff_geometry g;
    if ((st = ff_chain_geometry(pc->c, 1, rq->frames, rq->height, rq->width, &g, err))) return ff_err_wrap(err, "plan: ");
    const int ss = g.spatial_factor;
    int tiles[40][2], nt = 0;
    if (rq->tiling <= 0) tiles[nt][0] = tiles[nt][1] = 0, nt++;
    if (rq->tiling != 0) {
        const int t0 = rq->tile > 0 ? rq->tile : 256;
        tiles[nt][0] = t0, tiles[nt][1] = rq->tile_stride > 0 ? rq->tile_stride : rq->tile > 0 ? t0 * 3 / 4 / ss * ss : 192;
        nt++;
        for (int t = (t0 - 1) / (4 * ss) * (4 * ss); t >= 4 * ss && nt < 40 && !(rq->tile > 0 && rq->tile_stride > 0);
             t -= 4 * ss)
            tiles[nt][0] = t, tiles[nt][1] = t * 3 / 4 / ss * ss, nt++;
    }
    /* smallest: the smallest tile when tiling may be used */
    if (rq->tiling != 0) {
        lo.tiling = 1;
        lo.tile = tiles[nt - 1][0], lo.tile_stride = tiles[nt - 1][1];
        ff_plan tsmall;
        if ((st = predict(pc, &lo, &tsmall, err))) return st;
        if (tsmall.peak < small.peak || rq->tiling > 0) small = tsmall;
    }

    /* cheapest first: the text encoder on the device (host encoding is slow),
     * then no VAE tiling (tiles change the output; offload never does), then
     * the largest tile; within that fewer moves (none < model < sequential
     * with the largest k), then no slicing */
    for (int toh = 0; toh < 2; toh++) {
        if (rq->text_on_host >= 0 && toh != rq->text_on_host) continue;
        for (int ti = 0; ti < nt; ti++)
            for (int off = 0; off < 3; off++) {
                if (rq->offload >= 0 && off != rq->offload) continue;
                int k_hi = off == FF_PLAN_SEQUENTIAL ? (rq->group > 0 ? rq->group : L) : 0;
                int k_lo = off == FF_PLAN_SEQUENTIAL ? (rq->group > 0 ? rq->group : 1) : 0;
                for (int k = k_hi; k >= k_lo; k--)
                    for (int sl = 0; sl < 2; sl++) {
                        if (rq->slicing >= 0 && sl != rq->slicing) continue;
                        ff_plan_request r = *rq;
                        r.offload = off;
                        r.group = k;
                        r.text_on_host = toh;
                        r.slicing = sl;
                        r.tiling = tiles[ti][0] > 0;
                        r.tile = tiles[ti][0], r.tile_stride = tiles[ti][1];
                        if ((st = predict(pc, &r, out, err))) return st;
                        if (out->fits) {
                            out->min_budget = small.peak;
                            return FF_OK;
                        }
                    }
            }
    }
    *out = small;
    out->min_budget = small.peak;
    out->fits = 0;
    char a[32], b[32];
    return ff_err_set(err, FF_ERR_BUDGET,
                      "budget %s is too small for %s at %dx%d, %d frames: the smallest plan (%s) needs %s",
                      ff_pool_fmt_bytes(rq->budget, a, sizeof a), model_dir, rq->height, rq->width, rq->frames,
                      rq->offload >= 0 ? ff_plan_offload_name((ff_plan_offload)rq->offload) : "sequential, k=1",
                      ff_pool_fmt_bytes(small.peak, b, sizeof b));
}
