/* cpu_conv_dnnl: conv3d (and conv2d, which arrives as kt = 1) on oneDNN's
 * direct convolutions, planned for one thread and run on a fixed grid of
 * tiles (see cpu_dnnl.h for why).
 *
 * The output is cut into tiles of (batch sample, band of output rows,
 * chunk of output channels); band height and chunk width depend only on
 * the problem's shape. For each band, the input rows it reads (its halo
 * included) are reordered from x's plain NCDHW layout into the blocked
 * layout oneDNN chose (e.g. nCdhw16c), zero padding left to the primitive
 * (only the first and last band have top / bottom padding). Each chunk's
 * weights are reordered once per call (a weight tensor's bytes may change
 * between calls: block streaming reuses its slots, so reordered weights
 * are not kept). A tile then runs the convolution (bias fused) into a
 * per-thread blocked buffer and reorders it into its rows and channels of
 * out. In FF_PREC_BF16_ALL the reorders round src and weights to BF16 and
 * the primitive accumulates in F32 into an F32 output.
 *
 * Bands of a kind (first / middle / last) share a primitive; so that all
 * primitives of a call agree on the blocked layouts, the first one created
 * chooses the weights layout of its chunk width and the src layout of its
 * band kind, and the others are created with those layouts fixed.
 * Not here: the im2col fallback (cpu_conv.c). */
#ifdef FF_HAVE_DNNL

#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_dnnl_internal.h"

#define BAND_OUT 4096  /* output positions (frames x rows x columns) a band aims for */
#define BAND_MIN_ROWS 8
#define MAX_KINDS 4    /* first, middle, last, single band */
#define MAX_BANDS 4096

typedef struct {
    int64_t h0, h1; /* output rows */
    int64_t a, b;   /* input rows read */
    int64_t pt, pb; /* zero rows above / below them */
    int kind;
} band;

typedef struct {
    int64_t c, fi, wi, kt, kh, kw, st, sh, sw, pl_d, pl_w, pr_d, pr_w; /* per band kind: rows and pads */
    int64_t rows_in, pt, pb, rows_out;
    int64_t oc, fo, wo;
    int bf16, has_bias;
    const dnnl_memory_desc_t *src_fixed, *wei_fixed; /* NULL: let oneDNN choose */
} conv_problem;

static dnnl_status_t make_conv(dnnl_engine_t eng, dnnl_primitive_attr_t attr, const void *arg,
                               dnnl_primitive_desc_t *pd) {
    const conv_problem *p = arg;
    const dnnl_data_type_t dt = p->bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_dims_t sd = {1, p->c, p->fi, p->rows_in, p->wi}, wd = {p->oc, p->c, p->kt, p->kh, p->kw},
                      bd = {p->oc}, dd = {1, p->oc, p->fo, p->rows_out, p->wo};
    dnnl_memory_desc_t smd, wmd, bmd, dmd;
    dnnl_status_t s;
    if (p->src_fixed) smd = *p->src_fixed;
    else if ((s = dnnl_memory_desc_init_by_tag(&smd, 5, sd, dt, dnnl_format_tag_any))) return s;
    if (p->wei_fixed) wmd = *p->wei_fixed;
    else if ((s = dnnl_memory_desc_init_by_tag(&wmd, 5, wd, dt, dnnl_format_tag_any))) return s;
    if ((s = dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a))) return s;
    if ((s = dnnl_memory_desc_init_by_tag(&dmd, 5, dd, dnnl_f32, dnnl_format_tag_any))) return s;
    const dnnl_dims_t strides = {p->st, p->sh, p->sw}, pl = {p->pl_d, p->pt, p->pl_w}, pr = {p->pr_d, p->pb, p->pr_w};
    dnnl_convolution_desc_t cd;
    if ((s = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &smd, &wmd,
                                                p->has_bias ? &bmd : NULL, &dmd, strides, pl, pr)))
        return s;
    return dnnl_primitive_desc_create(pd, &cd, attr, eng, NULL);
}

static const cpu_dnnl_prim *conv_prim(cpu_dnnl *d, const conv_problem *p) {
    cpu_dnnl_key key;
    memset(&key, 0, sizeof key);
    const int64_t v[] = {CPU_DNNL_CONV, p->bf16, p->has_bias, p->c, p->fi, p->rows_in, p->wi, p->kt, p->kh, p->kw,
                         p->st, p->sh, p->sw, p->pl_d, p->pt, p->pl_w, p->pr_d, p->pb, p->pr_w, p->oc, p->fo,
                         p->rows_out, p->wo, p->src_fixed != NULL, p->wei_fixed != NULL};
    memcpy(key.v, v, sizeof v);
    if (p->src_fixed) key.md[0] = *p->src_fixed;
    if (p->wei_fixed) key.md[1] = *p->wei_fixed;
    return cpu_dnnl_get(d, &key, make_conv, p);
}

/* Output channels per chunk: all of them up to 64, else the widest of 64,
 * 48, 32 that divides them (no ragged chunk), else 64. */
static int64_t chunk_width(int64_t o) {
    if (o <= 64) return o;
    static const int64_t c[3] = {64, 48, 32};
    for (int i = 0; i < 3; i++)
        if (o % c[i] == 0) return c[i];
    return 64;
}

static ff_status unsupported(void) { return FF_ERR_UNSUPPORTED; }

static ff_status failed(ff_err *err, const char *what) {
    return ff_err_set(err, FF_ERR_DEVICE, "cpu conv3d: oneDNN %s failed", what);
}

#define MAX_PIECES 8

ff_status cpu_dnnl_conv3d(const cpu_ctx *ctx, const ff_tensor *const *xs, int nx, const ff_tensor *w,
                          const ff_tensor *b, const int stride[3], const int pad[6], int bf16, ff_tensor *out,
                          ff_err *err) {
    cpu_dnnl *d = ctx->dnnl;
    const ff_tensor *x = xs[0];
    if (nx < 1 || nx > MAX_PIECES) return unsupported();
    int64_t f = 0;
    for (int i = 0; i < nx; i++) f += xs[i]->shape[2];
    const int64_t nb = x->shape[0], c = x->shape[1], h = x->shape[3], wd = x->shape[4];
    const int64_t o = out->shape[1], fo = out->shape[2], ho = out->shape[3], wo = out->shape[4];
    const int64_t kt = w->shape[2], kh = w->shape[3], kw = w->shape[4];
    /* exact trailing padding in D and W; input frames / columns no output reads are left out */
    int64_t pr_d = (fo - 1) * stride[0] + kt - f - pad[0], pr_w = (wo - 1) * stride[2] + kw - wd - pad[4];
    const int64_t fi = pr_d < 0 ? f + pr_d : f, wi = pr_w < 0 ? wd + pr_w : wd;
    if (pr_d < 0) pr_d = 0;
    if (pr_w < 0) pr_w = 0;
    if (fi < 1 || wi < 1) return unsupported();

    /* bands of output rows and the input rows each reads */
    int64_t rows = (BAND_OUT + fo * wo - 1) / (fo * wo);
    if (rows < BAND_MIN_ROWS) rows = BAND_MIN_ROWS;
    if (rows > ho) rows = ho;
    const int64_t nbands = (ho + rows - 1) / rows;
    if (nbands > MAX_BANDS) return unsupported();
    band *bands = malloc((size_t)nbands * sizeof *bands);
    if (!bands) return ff_err_set(err, FF_ERR_NOMEM, "cpu conv3d: cannot allocate %lld bands", (long long)nbands);
    band kinds[MAX_KINDS];
    int nkinds = 0;
    for (int64_t i = 0; i < nbands; i++) {
        band *bd = &bands[i];
        bd->h0 = i * rows;
        bd->h1 = bd->h0 + rows < ho ? bd->h0 + rows : ho;
        const int64_t lo = bd->h0 * stride[1] - pad[2], hi = (bd->h1 - 1) * stride[1] - pad[2] + kh;
        bd->a = lo < 0 ? 0 : lo;
        bd->b = hi > h ? h : hi;
        bd->pt = bd->a - lo;
        bd->pb = hi - bd->b;
        bd->kind = -1;
        for (int k = 0; k < nkinds; k++)
            if (kinds[k].b - kinds[k].a == bd->b - bd->a && kinds[k].pt == bd->pt && kinds[k].pb == bd->pb &&
                kinds[k].h1 - kinds[k].h0 == bd->h1 - bd->h0)
                bd->kind = k;
        if (bd->kind < 0) {
            if (nkinds == MAX_KINDS || bd->b <= bd->a) {
                free(bands);
                return unsupported();
            }
            bd->kind = nkinds;
            kinds[nkinds++] = *bd;
        }
    }
    const int64_t cw = chunk_width(o), nchunks = (o + cw - 1) / cw;
    const int nck = o % cw ? 2 : 1; /* chunk kinds: full, ragged last */

    /* every primitive of the call (see the top comment for the layout rule) */
    const cpu_dnnl_prim *conv[2][MAX_KINDS] = {{0}}, *r_src[MAX_KINDS][MAX_PIECES] = {{0}},
                        *r_dst[2][MAX_KINDS] = {{0}}, *r_wei[2] = {0};
    dnnl_memory_desc_t src_md[MAX_KINDS], wei_md[2], plain_w[2], plain_o[2][MAX_KINDS];
    dnnl_memory_desc_t plain_x[MAX_KINDS][MAX_PIECES], piece_md[MAX_KINDS][MAX_PIECES];
    int pidx[MAX_PIECES];
    const dnnl_data_type_t xdt = dnnl_f32, wdt = w->dtype == FF_BF16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_dims_t ostr = {o * fo * ho * wo, fo * ho * wo, ho * wo, wo, 1};
    int ok = 1;
    for (int ck = 0; ck < nck && ok; ck++) {
        const int64_t oc = ck ? o % cw : cw;
        for (int k = 0; k < nkinds && ok; k++) {
            const conv_problem p = {
                .c = c, .fi = fi, .wi = wi, .kt = kt, .kh = kh, .kw = kw,
                .st = stride[0], .sh = stride[1], .sw = stride[2],
                .pl_d = pad[0], .pl_w = pad[4], .pr_d = pr_d, .pr_w = pr_w,
                .rows_in = kinds[k].b - kinds[k].a, .pt = kinds[k].pt, .pb = kinds[k].pb,
                .rows_out = kinds[k].h1 - kinds[k].h0,
                .oc = oc, .fo = fo, .wo = wo, .bf16 = bf16, .has_bias = b != NULL,
                .src_fixed = ck ? &src_md[k] : NULL, .wei_fixed = k ? &wei_md[ck] : NULL,
            };
            conv[ck][k] = conv_prim(d, &p);
            if (!conv[ck][k]) {
                ok = 0;
                break;
            }
            if (!ck) src_md[k] = conv[ck][k]->md[0];
            if (!k) wei_md[ck] = conv[ck][k]->md[1];
        }
    }
    for (int ck = 0; ck < nck && ok; ck++) {
        const int64_t oc = ck ? o % cw : cw;
        const dnnl_dims_t dims = {oc, c, kt, kh, kw};
        ok = dnnl_memory_desc_init_by_tag(&plain_w[ck], 5, dims, wdt, dnnl_abcde) == dnnl_success &&
             (r_wei[ck] = cpu_dnnl_reorder(d, &plain_w[ck], &wei_md[ck])) != NULL;
        for (int k = 0; k < nkinds && ok; k++) {
            const dnnl_dims_t od = {1, oc, fo, kinds[k].h1 - kinds[k].h0, wo};
            ok = dnnl_memory_desc_init_by_strides(&plain_o[ck][k], 5, od, dnnl_f32, ostr) == dnnl_success &&
                 (r_dst[ck][k] = cpu_dnnl_reorder(d, &conv[ck][k]->md[2], &plain_o[ck][k])) != NULL;
        }
    }
    /* pieces: frames [p0, p0 + pn) of the (trimmed) input come from xs[i] */
    int64_t p0[MAX_PIECES], pn[MAX_PIECES];
    int npieces = 0;
    for (int i = 0, off = 0; i < nx; off += (int)xs[i]->shape[2], i++) {
        const int64_t lo = off, hi = off + xs[i]->shape[2] < fi ? off + xs[i]->shape[2] : fi;
        if (hi <= lo) continue;
        p0[npieces] = lo, pn[npieces] = hi - lo, pidx[npieces] = i, npieces++;
    }
    for (int k = 0; k < nkinds && ok; k++)
        for (int i = 0; i < npieces && ok; i++) {
            const int64_t fx = xs[pidx[i]]->shape[2];
            const dnnl_dims_t sdims = {1, c, pn[i], kinds[k].b - kinds[k].a, wi};
            const dnnl_dims_t pstr = {c * fx * h * wd, fx * h * wd, h * wd, wd, 1};
            const dnnl_dims_t offs = {0, 0, p0[i], 0, 0};
            if (npieces == 1) piece_md[k][i] = src_md[k];
            else
                ok = dnnl_memory_desc_init_submemory(&piece_md[k][i], &src_md[k], sdims, offs) == dnnl_success;
            ok = ok && dnnl_memory_desc_init_by_strides(&plain_x[k][i], 5, sdims, xdt, pstr) == dnnl_success &&
                 (r_src[k][i] = cpu_dnnl_reorder(d, &plain_x[k][i], &piece_md[k][i])) != NULL;
        }
    if (!ok) {
        free(bands);
        return unsupported();
    }

    /* buffers: reordered weights per chunk; reordered input for one group
     * of (sample, band) items at a time (enough tiles to keep every thread
     * busy; the grouping changes no result, only the memory held); one
     * output tile and one scratchpad per thread */
    const int nt = cpu_threads(ctx);
    const int64_t nsrc = nb * nbands;
    int64_t group = (2 * nt + nchunks - 1) / nchunks;
    if (group > nsrc) group = nsrc;
    size_t wsz[2] = {0, 0}, ssz = 0, tile = 0, scratch = 0;
    for (int ck = 0; ck < nck; ck++) wsz[ck] = (dnnl_memory_desc_get_size(&wei_md[ck]) + 63) / 64 * 64;
    for (int k = 0; k < nkinds; k++) {
        const size_t t = (dnnl_memory_desc_get_size(&src_md[k]) + 63) / 64 * 64;
        ssz = t > ssz ? t : ssz;
    }
    for (int ck = 0; ck < nck; ck++)
        for (int k = 0; k < nkinds; k++) {
            const size_t t = (dnnl_memory_desc_get_size(&conv[ck][k]->md[2]) + 63) / 64 * 64;
            tile = t > tile ? t : tile;
            const cpu_dnnl_prim *ps[2] = {conv[ck][k], r_dst[ck][k]};
            for (int i = 0; i < 2; i++) scratch = ps[i]->scratch > scratch ? ps[i]->scratch : scratch;
            for (int i = 0; i < npieces; i++) scratch = r_src[k][i]->scratch > scratch ? r_src[k][i]->scratch : scratch;
        }
    for (int ck = 0; ck < nck; ck++) scratch = r_wei[ck]->scratch > scratch ? r_wei[ck]->scratch : scratch;
    scratch = (scratch + 63) / 64 * 64;
    const size_t wtotal = wsz[0] * (size_t)(o / cw) + (nck > 1 ? wsz[1] : 0);
    const size_t bytes = wtotal + ssz * (size_t)group + (tile + scratch) * (size_t)nt;
    char *buf = aligned_alloc(64, bytes ? bytes : 64);
    ff_status st = cpu_dnnl_streams(d, nt, err);
    if (!buf || st) {
        free(buf);
        free(bands);
        return st ? st : ff_err_set(err, FF_ERR_NOMEM, "cpu conv3d: cannot allocate %zu bytes of oneDNN buffers", bytes);
    }
    char *wbuf = buf, *sbuf = buf + wtotal, *tbuf = sbuf + ssz * (size_t)group;

    const size_t xes = sizeof(float), wes = w->dtype == FF_BF16 ? 2 : 4;
    const int args2[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
    int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t chunk = 0; chunk < nchunks; chunk++) { /* the weights of each chunk */
        const int tid = omp_get_thread_num(), ck = (chunk == nchunks - 1 && nck > 1);
        void *ptr[2] = {(char *)w->data + (size_t)(chunk * cw * c * kt * kh * kw) * wes, wbuf + (size_t)chunk * wsz[0]};
        const dnnl_memory_desc_t *mds[2] = {&plain_w[ck], &wei_md[ck]};
        if (!cpu_dnnl_exec(d, r_wei[ck], tid, 2, args2, ptr, mds, tbuf + (size_t)tid * (tile + scratch) + tile)) {
#pragma omp atomic write
            bad = 1;
        }
    }
    for (int64_t g0 = 0; g0 < nsrc && !bad; g0 += group) {
        const int64_t gn = nsrc - g0 < group ? nsrc - g0 : group;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int64_t j = 0; j < gn; j++) { /* the input rows of (sample, band) g0 + j */
            const int tid = omp_get_thread_num();
            const int64_t bi = (g0 + j) / nbands;
            const band *bd = &bands[(g0 + j) % nbands];
            const int k = bd->kind;
            char *dst = sbuf + (size_t)j * ssz;
            if (npieces > 1) memset(dst, 0, ssz); /* blocked padding of C: the piecewise reorders leave it */
            for (int i = 0; i < npieces; i++) {
                const ff_tensor *xi = xs[pidx[i]];
                const int64_t fx = xi->shape[2];
                void *ptr[2] = {(char *)xi->data + (size_t)(bi * c * fx * h * wd + bd->a * wd) * xes, dst};
                const dnnl_memory_desc_t *mds[2] = {&plain_x[k][i], &piece_md[k][i]};
                if (!cpu_dnnl_exec(d, r_src[k][i], tid, 2, args2, ptr, mds,
                                   tbuf + (size_t)tid * (tile + scratch) + tile)) {
#pragma omp atomic write
                    bad = 1;
                }
            }
        }
        if (bad) break;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int64_t it = 0; it < gn * nchunks; it++) { /* tiles: convolution, then into out */
            const int tid = omp_get_thread_num();
            char *tb = tbuf + (size_t)tid * (tile + scratch), *scr = tb + tile;
            const int64_t j = it / nchunks, chunk = it % nchunks, bi = (g0 + j) / nbands;
            const band *bd = &bands[(g0 + j) % nbands];
            const int ck = (chunk == nchunks - 1 && nck > 1), k = bd->kind;
            const cpu_dnnl_prim *cp = conv[ck][k];
            dnnl_memory_desc_t bmd;
            const dnnl_dims_t bdims = {ck ? o % cw : cw};
            dnnl_memory_desc_init_by_tag(&bmd, 1, bdims, dnnl_f32, dnnl_a);
            void *cptr[4] = {sbuf + (size_t)j * ssz, wbuf + (size_t)chunk * wsz[0], tb, NULL};
            const dnnl_memory_desc_t *cmds[4] = {&src_md[k], &wei_md[ck], &cp->md[2], &bmd};
            const int cargs[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
            if (b) cptr[3] = (float *)b->data + chunk * cw;
            int good = cpu_dnnl_exec(d, cp, tid, b ? 4 : 3, cargs, cptr, cmds, scr);
            if (good) {
                void *rptr[2] = {tb, (float *)out->data + bi * ostr[0] + chunk * cw * ostr[1] + bd->h0 * wo};
                const dnnl_memory_desc_t *rmds[2] = {&cp->md[2], &plain_o[ck][k]};
                good = cpu_dnnl_exec(d, r_dst[ck][k], tid, 2, args2, rptr, rmds, scr);
            }
            if (!good) {
#pragma omp atomic write
                bad = 1;
            }
        }
    }
    free(buf);
    free(bands);
    return bad ? failed(err, "execution") : FF_OK;
}

#endif
