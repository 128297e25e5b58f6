/* The component chain itself, for every registered family (no golden data
 * needed):
 *  - the registry: lookup by _class_name, the supported list, tiny names;
 *  - every family table is consistent: components within the limit, its
 *    model_cpu_offload_seq is its component names in order, stages name
 *    present components and roles that fit their kind, classes have the
 *    interfaces their role needs;
 *  - every family's embedded tiny model (init-model) opens, plans, and
 *    loads every component through its class (the strict loaders accept
 *    what the class's parameter list wrote);
 *  - offload_model streams blocks of different shapes as segments (a ring
 *    each), refuses lists it cannot take (more than 4 kinds of blocks,
 *    blocks before non-block entries) by name, and counts device bytes
 *    from a list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/family.h"
#include "pipeline/offload_model.h"
#include "pipeline/plan.h"
#include "pipeline/tiny_model.h"
#include "tests/common/ff_test.h"

static char g_base[4096];

static void test_registry(void) {
    FF_CHECK(ff_family_find("WanPipeline") != NULL);
    FF_CHECK(ff_family_find("StableDiffusionPipeline") == NULL && ff_family_find(NULL) == NULL);
    char list[512];
    ff_family_supported(list, sizeof list);
    for (const ff_family *const *f = ff_family_all(); *f; f++) {
        FF_CHECK_MSG(strstr(list, (*f)->class_name) != NULL, "%s missing from '%s'", (*f)->class_name, list);
        FF_CHECK(ff_family_find((*f)->class_name) == *f);
        if ((*f)->tiny) FF_CHECK(ff_family_find_tiny((*f)->tiny->name) == *f);
    }
    FF_CHECK(ff_family_find_tiny("tiny") == ff_family_find("WanPipeline"));
    FF_CHECK(ff_family_find_tiny("no-such-model") == NULL);
}

static int role_fits(ff_stage_kind k, ff_role r) {
    switch (k) {
    case FF_STAGE_TEXT: return r == FF_ROLE_TEXT_ENCODER;
    case FF_STAGE_IMAGE: return r == FF_ROLE_IMAGE_ENCODER;
    case FF_STAGE_DENOISE: return r == FF_ROLE_DENOISER;
    case FF_STAGE_DECODE:
    case FF_STAGE_ENCODE: return r == FF_ROLE_VAE;
    }
    return 0;
}

static void test_tables(void) {
    for (const ff_family *const *fp = ff_family_all(); *fp; fp++) {
        const ff_family *f = *fp;
        FF_CHECK(f->n_components > 0 && f->n_components <= FF_CHAIN_MAX_COMPONENTS);
        FF_CHECK(f->n_stages > 0 && f->n_stages <= FF_PLAN_MAX_STAGES);
        FF_CHECK(f->geometry && f->pixel_frames && f->params_default && f->call);
        /* the offload sequence is the components, in order */
        char seq[512] = "";
        for (int i = 0; i < f->n_components; i++) {
            const ff_family_component *c = &f->components[i];
            strncat(seq, i ? "->" : "", sizeof seq - strlen(seq) - 1);
            strncat(seq, c->name, sizeof seq - strlen(seq) - 1);
            const ff_model_class *mc = c->cls;
            FF_CHECK_MSG(mc->config_read && mc->params && mc->load && mc->free && mc->ops && mc->config_size,
                         "%s: class %s lacks an interface", f->class_name, mc->class_name);
            /* text encoders have a tokenizer, image encoders may have an image processor in its place */
            FF_CHECK_MSG((mc->role == FF_ROLE_TEXT_ENCODER) ? c->tokenizer != NULL
                                                            : (c->tokenizer == NULL || mc->role == FF_ROLE_IMAGE_ENCODER),
                         "%s: %s tokenizer", f->class_name, c->name);
            if (mc->model_params) FF_CHECK(mc->place != NULL);
        }
        FF_CHECK_MSG(!strcmp(seq, f->offload_seq), "%s: components %s, model_cpu_offload_seq %s", f->class_name, seq,
                     f->offload_seq);
        for (int s = 0; s < f->n_stages; s++) {
            const ff_family_stage *st = &f->stages[s];
            FF_REQUIRE(st->component >= 0 && st->component < f->n_components);
            FF_CHECK_MSG(role_fits(st->kind, f->components[st->component].cls->role), "%s: stage %s on %s",
                         f->class_name, st->name, f->components[st->component].name);
        }
    }
}

/* init-model of every family's tiny model: open, plan, load every component. */
static void test_tiny_models(void) {
    ff_err err = {0};
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    for (const ff_family *const *fp = ff_family_all(); *fp; fp++) {
        const ff_family *f = *fp;
        if (!f->tiny) continue;
        char dir[4300];
        snprintf(dir, sizeof dir, "%s/%s", g_base, f->tiny->name);
        FF_REQUIRE_OK(ff_tiny_model_create(f->tiny->name, dir, 0, &err), &err);
        FF_CHECK(ff_tiny_model_current(f->tiny->name, dir));
        ff_chain *c = NULL;
        FF_REQUIRE_OK(ff_chain_open(be, dir, NULL, NULL, &c, &err), &err);
        FF_CHECK(ff_chain_family(c) == f);
        for (int i = 0; i < ff_chain_n_components(c); i++) {
            if (!ff_chain_component_present(c, i)) continue;
            void *m = NULL;
            FF_CHECK_MSG(ff_chain_component_load(c, i, &m, &err) == FF_OK && m, "%s %s: %s", f->tiny->name,
                         ff_chain_component_name(c, i), err.msg);
            ff_chain_component_free(c, i, m);
        }
        ff_plan_request rq;
        ff_plan_request_default(&rq);
        rq.height = rq.width = 64, rq.frames = 9, rq.text_len = 16, rq.dtype = FF_F32;
        ff_plan p;
        FF_CHECK_OK(ff_plan_make(dir, &rq, &p, &err), &err);
        FF_CHECK(p.n_stages == f->n_stages && p.peak > 0 && p.fits);
        ff_chain_close(c);
    }
    FF_CHECK(ff_tiny_model_create("no-such-model", g_base, 0, &err) == FF_ERR_ARG);
    FF_CHECK(strstr(err.msg, "tiny") != NULL); /* names the embedded ones */
    ff_backend_free(be);
}

static void param(ff_param *p, const char *name, int block, int64_t n) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = 1;
    p->shape[0] = n;
    p->dtype = FF_F32;
    p->block = block;
}

/* Block layouts offload_model takes: consecutive blocks of one shape form a
 * segment with its own stream (HunyuanVideo's dual- then single-stream
 * blocks); more than 4 kinds, or a block entry before a non-block one, are
 * refused naming the model. */
static void test_offload_layout(void) {
    ff_err err = {0};
    ff_backend *be = NULL;
    FF_REQUIRE_OK(ff_backend_cpu_create(1, &be, &err), &err);
    ff_tensor t[6] = {{0}};
    ff_param ps[6];
    param(&ps[0], "embed.weight", -1, 10);
    param(&ps[1], "blocks.0.a", 0, 8);
    param(&ps[2], "blocks.0.b", 0, 4);
    param(&ps[3], "blocks.1.a", 1, 8);
    param(&ps[4], "blocks.1.b", 1, 100); /* differs from blocks.0.b: a second segment */
    for (int i = 0; i < 5; i++) {
        FF_REQUIRE_OK(ff_tensor_alloc(&t[i], FF_F32, 1, ps[i].shape, &err), &err);
        ps[i].slot = &t[i];
    }
    ff_offload_opts o;
    ff_offload_opts_default(&o);
    o.mode = FF_OFFLOAD_STREAM;
    o.name = "toy";
    size_t res, ring, blk;
    FF_CHECK_OK(ff_offload_device_bytes(ps, 5, &o, &res, &ring, &blk, &err), &err);
    /* block 0: 256 + 256 B, block 1: 256 + 512 B (padded), each segment a ring of 2 */
    FF_CHECK(res == 40 && blk == 768 && ring == 2 * 512 + 2 * 768 && ff_params_blocks(ps, 5) == 2);
    ff_offload_model *d = NULL;
    FF_CHECK_OK(ff_offload_model_create(ps, 5, be, &o, &d, &err), &err);
    if (d) {
        ff_offload_stats s;
        ff_offload_model_stats(d, &s);
        FF_CHECK(s.resident_bytes == 40 && s.ring_bytes == ring);
        const ff_block_hooks *h = ff_offload_model_hooks(d);
        FF_CHECK_OK(ff_offload_model_begin(d, &err), &err);
        for (int b = 0; b < 2; b++) {
            FF_CHECK_OK(h->enter(h->user, b, &err), &err);
            h->leave(h->user, b);
        }
        ff_offload_model_end(d);
        ff_offload_model_free(d);
        FF_CHECK(t[4].data && t[4].loc == FF_LOC_HOST); /* the host tensors are back */
    }
    /* one shape for every block: one segment */
    param(&ps[4], "blocks.1.b", 1, 4);
    ps[4].slot = &t[4];
    ff_tensor_free(&t[4]);
    FF_REQUIRE_OK(ff_tensor_alloc(&t[4], FF_F32, 1, ps[4].shape, &err), &err);
    FF_CHECK_OK(ff_offload_device_bytes(ps, 5, &o, &res, &ring, &blk, &err), &err);
    FF_CHECK(res == 40 && blk == 2 * 256 && ring == 2 * blk);
    FF_CHECK_OK(ff_offload_model_create(ps, 5, be, &o, &d, &err), &err);
    ff_offload_model_free(d);
    ff_param swapped[5] = {ps[1], ps[0], ps[2], ps[3], ps[4]}; /* a block entry before a non-block one */
    FF_CHECK(ff_offload_model_create(swapped, 5, be, &o, &d, &err) == FF_ERR_UNSUPPORTED && !d);
    FF_CHECK(strstr(err.msg, "toy") != NULL);
    /* five kinds of blocks: refused */
    ff_param five[6];
    param(&five[0], "embed.weight", -1, 10);
    for (int b = 0; b < 5; b++) {
        char name[32];
        snprintf(name, sizeof name, "blocks.%d.a", b);
        param(&five[1 + b], name, b, 2 + b);
        five[1 + b].slot = &t[5];
    }
    five[0].slot = &t[0];
    FF_REQUIRE_OK(ff_tensor_alloc(&t[5], FF_F32, 1, five[1].shape, &err), &err);
    FF_CHECK(ff_offload_model_create(five, 6, be, &o, &d, &err) == FF_ERR_UNSUPPORTED && !d);
    FF_CHECK_MSG(strstr(err.msg, "toy") && strstr(err.msg, "kinds of blocks"), "%s", err.msg);
    for (int i = 0; i < 6; i++) ff_tensor_free(&t[i]);
    ff_backend_free(be);
}

int main(void) {
    ff_test_tmp_path("chain_test", g_base, sizeof g_base);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_base);
    if (system(cmd) != 0) return 1;
    FF_RUN(test_registry);
    FF_RUN(test_tables);
    FF_RUN(test_tiny_models);
    FF_RUN(test_offload_layout);
    int rc = ff_test_summary();
    if (!rc && system(cmd) != 0) return 1;
    return rc;
}
