/* plan: predicted device peaks per stage and the choice of strategy (see
 * plan.h). Every byte count mirrors an allocation the code makes; the one
 * estimate (VAE decode activations) is named where it is used. */
#include "pipeline/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ff_model_dir.h"
#include "models/umt5.h"
#include "models/umt5_params.h"
#include "models/wan_transformer.h"
#include "models/wan_vae.h"
#include "models/wan_vae_params.h"
#include "offload/pool.h"
#include "pipeline/offload_dit.h"

#define PATH_MAX_ 4200
#define FF_PLAN_VAE_BLEND_TILES 2.0
#define FF_PLAN_VAE_BLEND_FRAME 2.0

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

/* ---- what the configs say ------------------------------------------------------- */

typedef struct {
    int has_te, has_t2;
    ff_umt5_config te;
    ff_wandit_config dit[2];
    ff_wanvae_config vae;
} plan_cfgs;

static ff_status read_cfgs(const char *dir, plan_cfgs *c, ff_err *err) {
    memset(c, 0, sizeof *c);
    ff_model_dir *md = NULL;
    char cdir[PATH_MAX_], path[PATH_MAX_ + 16];
    ff_status st = ff_model_dir_open(dir, &md, err);
    if (st) return st;
    c->has_te = ff_model_dir_has(md, "text_encoder");
    c->has_t2 = ff_model_dir_has(md, "transformer_2");
    const char *comps[] = {"text_encoder", "transformer", "transformer_2", "vae"};
    for (int i = 0; i < 4 && !st; i++) {
        if ((i == 0 && !c->has_te) || (i == 2 && !c->has_t2)) continue;
        if ((st = ff_model_dir_component_dir(md, comps[i], cdir, sizeof cdir, err))) break;
        if ((size_t)snprintf(path, sizeof path, "%s/config.json", cdir) >= sizeof path) {
            st = ff_err_set(err, FF_ERR_ARG, "plan: path too long: %s", cdir);
            break;
        }
        if (i == 0) st = ff_umt5_config_read(path, &c->te, err);
        else if (i == 3) st = ff_wanvae_config_load(path, &c->vae, err);
        else st = ff_wandit_config_load(path, &c->dit[i == 2], err);
    }
    ff_model_dir_close(md);
    return st;
}

/* ---- bytes per component ----------------------------------------------------------- */

/* UMT5 as ff_umt5_load keeps it: q/k/v/o and the FFN matrices in the stored
 * dtype (BF16 checkpoints stay BF16), shared, relative bias and norms F32. */
static ff_status te_weight_bytes(const ff_umt5_config *c, ff_dtype dt, size_t *out, ff_err *err) {
    ff_param *ps;
    size_t n;
    ff_status st = ff_umt5_params(c, &ps, &n, err);
    if (st) return st;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t e = (size_t)ps[i].shape[0] * (size_t)(ps[i].ndim > 1 ? ps[i].shape[1] : 1);
        int matrix = ps[i].ndim == 2 && strstr(ps[i].name, "encoder.block.") && !strstr(ps[i].name, "relative_attention_bias");
        total += e * (matrix && dt == FF_BF16 ? 2 : 4);
    }
    free(ps);
    *out = total;
    return FF_OK;
}

/* Every buffer ff_umt5_forward allocates for a (B, L) batch, and its output. */
static size_t te_act_bytes(const ff_umt5_config *c, int64_t B, int64_t L) {
    const int64_t D = c->d_model, H = c->num_heads, I = c->num_heads * c->d_kv, F = c->d_ff;
    int64_t b = B * L * 8 + L * L * 8 + B * L * 4;   /* ids, buckets, mask */
    b += 3 * B * L * D * 4;                          /* h, x, tmp */
    b += 4 * B * L * I * 4 + 4 * B * L * I * 4;      /* q k v att, split heads */
    b += 2 * L * L * H * 4 + B * H * L * L * 4;      /* position bias (two layouts), bias + mask */
    b += (c->gated ? 2 : 1) * B * L * F * 4;         /* FFN */
    b += B * L * D * 4;                              /* last_hidden_state */
    return (size_t)b;
}

static ff_status vae_weight_bytes(const ff_wanvae_config *c, size_t *out, ff_err *err) {
    ff_param *ps;
    size_t n;
    ff_status st = ff_wanvae_params(c, &ps, &n, err);
    if (st) return st;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t e = 1;
        for (int d = 0; d < ps[i].ndim; d++) e *= (size_t)ps[i].shape[d];
        total += e * 4;
    }
    free(ps);
    *out = total;
    return FF_OK;
}

/* ---- one prediction ----------------------------------------------------------------- */

static ff_status predict(const plan_cfgs *c, const ff_plan_request *rq, ff_plan *p, ff_err *err) {
    memset(p, 0, sizeof *p);
    p->rq = *rq;
    p->offload = rq->offload < 0 ? FF_PLAN_MODEL : (ff_plan_offload)rq->offload;
    p->text_on_host = rq->text_on_host > 0;
    p->tiling = rq->tiling > 0;
    p->slicing = rq->slicing > 0;
    ff_status st;
    const ff_wandit_config *d0 = &c->dit[0];
    const int64_t B = rq->batch > 0 ? rq->batch : 1, L = rq->text_len > 0 ? rq->text_len : 512;
    const int ss = c->vae.scale_factor_spatial > 0 ? c->vae.scale_factor_spatial : 8;
    const int stt = c->vae.scale_factor_temporal > 0 ? c->vae.scale_factor_temporal : 4;
    if (rq->height <= 0 || rq->width <= 0 || rq->height % 16 || rq->width % 16 || rq->frames < 1)
        return ff_err_set(err, FF_ERR_ARG, "plan: height %d / width %d must be positive multiples of 16, frames >= 1",
                          rq->height, rq->width);
    const int frames = (rq->frames - 1) / stt * stt + 1;
    int64_t lat[5] = {B, d0->in_channels, (frames - 1) / stt + 1, rq->height / ss / d0->patch[1] * d0->patch[1],
                      rq->width / ss / d0->patch[2] * d0->patch[2]};
    if (lat[3] < 1 || lat[4] < 1) return ff_err_set(err, FF_ERR_ARG, "plan: %dx%d is smaller than one patch", rq->height, rq->width);
    for (int i = 0; i < 5; i++) p->latent[i] = (int)lat[i];
    const size_t lat_bytes = (size_t)(lat[0] * lat[1] * lat[2] * lat[3] * lat[4]) * 4;
    const size_t reserve = rq->cuda ? FF_PLAN_CUDA_RESERVE : 0;
    const int n_dit = c->has_t2 ? 2 : 1;

    /* weights of each component when resident */
    size_t w_te = 0, w_vae = 0, w_dit[2] = {0, 0}, host_dit[2] = {0, 0};
    if (c->has_te && (st = te_weight_bytes(&c->te, rq->dtype, &w_te, err))) return st;
    if ((st = vae_weight_bytes(&c->vae, &w_vae, err))) return st;
    ff_offload_opts res;
    ff_offload_opts_default(&res);
    for (int e = 0; e < n_dit; e++) {
        size_t r, ring, blk;
        if ((st = ff_offload_dit_device_bytes(&c->dit[e], rq->dtype, &res, &r, &ring, &blk, err))) return st;
        w_dit[e] = host_dit[e] = r;
    }
    const size_t w_te_dev = p->text_on_host ? 0 : w_te;
    const size_t all_resident = w_te_dev + w_dit[0] + (n_dit > 1 ? w_dit[1] : 0) + w_vae;

    /* text encoder */
    ff_plan_stage *s = &p->st[FF_PLAN_TEXT];
    if (c->has_te) {
        s->present = 1;
        snprintf(s->name, sizeof s->name, "text_encoder");
        s->host_weights = w_te;
        if (p->text_on_host) {
            snprintf(s->strategy, sizeof s->strategy, "on host CPU backend");
            s->weights = 0;
            s->activations = 0;
        } else {
            snprintf(s->strategy, sizeof s->strategy, "%s", p->offload == FF_PLAN_NONE ? "resident" : "load, run, evict");
            s->weights = w_te;
            s->activations = te_act_bytes(&c->te, B, L);
            s->loaded = w_te;
        }
        s->others = p->offload == FF_PLAN_NONE ? all_resident - w_te_dev : 0;
    }

    /* transformer(s): weights + forward activations + latents, prediction and text buffers */
    for (int e = 0; e < n_dit; e++) {
        s = &p->st[FF_PLAN_DIT1 + e];
        const ff_wandit_config *dc = &c->dit[e];
        s->present = 1;
        snprintf(s->name, sizeof s->name, e ? "transformer_2" : "transformer");
        s->host_weights = host_dit[e];
        size_t act = 0;
        if ((st = ff_wandit_activation_bytes(dc, lat, L, 0, 1, &act, err))) return st;
        s->activations = act + 2 * lat_bytes + (size_t)(1 + !!rq->cfg) * (size_t)(B * L * dc->text_dim) * 4;
        const size_t calls = rq->cfg ? 2 : 1;
        if (p->offload == FF_PLAN_SEQUENTIAL) {
            ff_offload_opts o = res;
            o.mode = FF_OFFLOAD_STREAM;
            o.group = rq->group > 0 ? rq->group : 1;
            size_t r, ring, blk;
            if ((st = ff_offload_dit_device_bytes(dc, rq->dtype, &o, &r, &ring, &blk, err))) return st;
            int k = o.group > dc->num_layers ? dc->num_layers : o.group;
            p->group = k;
            s->weights = r + ring;
            s->loaded = r;
            s->host_weights = r + blk; /* blocks read from the file's mapping (page cache) through staging */
            s->moved_per_step = (size_t)dc->num_layers * blk * calls;
            snprintf(s->strategy, sizeof s->strategy, "stream blocks, k=%d of %d, ring 2", k, dc->num_layers);
        } else {
            s->weights = w_dit[e];
            s->loaded = p->offload == FF_PLAN_NONE ? 0 : w_dit[e];
            snprintf(s->strategy, sizeof s->strategy, "%s", p->offload == FF_PLAN_NONE ? "resident" : "load, run, evict");
        }
        s->others = p->offload == FF_PLAN_NONE ? all_resident - w_dit[e] : 0;
    }

    /* VAE decode: weights + streamed-decode activations (per-pixel estimate, see plan.h) */
    s = &p->st[FF_PLAN_VAE];
    s->present = 1;
    snprintf(s->name, sizeof s->name, "vae");
    s->host_weights = w_vae;
    s->weights = w_vae;
    s->loaded = p->offload == FF_PLAN_NONE ? 0 : w_vae;
    {
        const int64_t nb = p->slicing ? 1 : B;
        const size_t per_px = (size_t)FF_PLAN_VAE_BYTES_PER_PX_CH * (size_t)c->vae.decoder_base_dim * (size_t)nb;
        p->tile = rq->tile > 0 ? rq->tile : 256;
        p->tile_stride = rq->tile_stride > 0 ? rq->tile_stride : 192;
        const int64_t lmin = p->tile / ss, lstr = p->tile_stride / ss;
        if (p->tiling && (lmin < 1 || lstr < 1 || p->tile_stride > p->tile))
            return ff_err_set(err, FF_ERR_ARG, "plan: VAE tile %d / stride %d px (need stride <= tile, both >= %d)",
                              p->tile, p->tile_stride, ss);
        /* as ff_wanvae_decode_stream: tiled only when the frame is larger than a tile */
        if (p->tiling && !(lat[4] > lmin || lat[3] > lmin)) p->tiling = 0;
        if (!p->tiling) {
            s->activations = per_px * (size_t)(lat[3] * lat[4]);
        } else {
            /* low-memory tiled decode (ff_wanvae_opts.tile_low_memory): one tile decoded over all frames at a
             * time, so the decode phase costs one tile's pixels; then each chunk's tiles are uploaded again
             * and blended (tiles, blend temporaries, rows and the full chunk: FF_PLAN_VAE_BLEND_* below) */
            const int64_t th = lmin < lat[3] ? lmin : lat[3], tw = lmin < lat[4] ? lmin : lat[4];
            const size_t dec = per_px * (size_t)(th * tw);
            const int pp = c->vae.patch_size > 0 ? c->vae.patch_size : 1;
            int up_t = 1;
            for (int i = 0; i < c->vae.n_temperal; i++) up_t *= c->vae.temperal_downsample[i] ? 2 : 1;
            const int64_t f = ss / pp; /* patchified sample pixels per latent pixel */
            int64_t tiles_px = 0;
            for (int64_t h0 = 0; h0 < lat[3]; h0 += lstr)
                for (int64_t w0 = 0; w0 < lat[4]; w0 += lstr) {
                    int64_t nh = lat[3] - h0 < lmin ? lat[3] - h0 : lmin, nw = lat[4] - w0 < lmin ? lat[4] - w0 : lmin;
                    tiles_px += nh * f * nw * f;
                }
            const size_t chunk = (size_t)c->vae.out_channels * (size_t)(lat[2] > 1 ? up_t : 1) * 4 * (size_t)nb;
            const size_t blend = (size_t)(FF_PLAN_VAE_BLEND_TILES * (double)tiles_px * (double)chunk +
                                          FF_PLAN_VAE_BLEND_FRAME * (double)(lat[3] * f * lat[4] * f) * (double)chunk);
            s->activations = dec > blend ? dec : blend;
        }
    }
    if (p->tiling)
        snprintf(s->strategy, sizeof s->strategy, "%s, tiled %d/%d px%s",
                 p->offload == FF_PLAN_NONE ? "resident" : "load, decode, evict", p->tile, p->tile_stride,
                 p->slicing ? ", sliced" : "");
    else
        snprintf(s->strategy, sizeof s->strategy, "%s%s", p->offload == FF_PLAN_NONE ? "resident" : "load, decode, evict",
                 p->slicing ? ", sliced" : "");
    s->others = p->offload == FF_PLAN_NONE ? all_resident - w_vae : 0;

    size_t host = 0;
    for (int i = 0; i < FF_PLAN_STAGES; i++) {
        s = &p->st[i];
        if (!s->present) continue;
        s->peak = s->weights + s->activations + s->others + reserve;
        if (s->peak > p->peak) p->peak = s->peak;
        if (s->host_weights > host) host = s->host_weights;
    }
    p->host_need = host + 3 * lat_bytes;
    p->fits = !rq->budget || p->peak <= rq->budget;
    return FF_OK;
}

ff_status ff_plan_predict(const char *model_dir, const ff_plan_request *rq, ff_plan *out, ff_err *err) {
    plan_cfgs c;
    ff_status st = read_cfgs(model_dir, &c, err);
    if (!st) st = predict(&c, rq, out, err);
    return st;
}

ff_status ff_plan_make(const char *model_dir, const ff_plan_request *rq, ff_plan *out, ff_err *err) {
    plan_cfgs c;
    ff_status st = read_cfgs(model_dir, &c, err);
    if (st) return st;
    const int L = c.dit[0].num_layers > c.dit[1].num_layers ? c.dit[0].num_layers : c.dit[1].num_layers;
    /* the smallest plan any strategy reaches (forced fields kept) */
    ff_plan_request lo = *rq;
    if (lo.offload < 0) lo.offload = FF_PLAN_SEQUENTIAL;
    if (lo.group <= 0) lo.group = 1;
    if (lo.text_on_host < 0) lo.text_on_host = 1;
    if (lo.slicing < 0) lo.slicing = 1;
    if (lo.tiling < 0) lo.tiling = 0;
    ff_plan small;
    if ((st = predict(&c, &lo, &small, err))) return st;

    /* VAE tiles to try: none, then (auto or forced tiling) the requested tile and smaller ones, largest
     * first, stride 3/4 of the tile (diffusers' 256 / 192), multiples of the spatial factor */
    const int ss = c.vae.scale_factor_spatial > 0 ? c.vae.scale_factor_spatial : 8;
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
        if ((st = predict(&c, &lo, &tsmall, err))) return st;
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
                        if ((st = predict(&c, &r, out, err))) return st;
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
