/* bench/offload_cpu: peak RSS of a render with the transformer resident,
 * block-streamed from host copies (the previous behaviour), or
 * block-streamed straight from the mmap'd safetensors (dit_from_file).
 *
 *   bench_offload_cpu DIR make            writes the embedded tiny model into DIR with a wider
 *                                         transformer (dim 1024, ffn 4096, 8 blocks, random F32:
 *                                         537 MB of blocks)
 *   bench_offload_cpu DIR model|seq-host|seq-file
 *                                         one render (5 frames 32x48, 2 steps, CFG) on the CPU
 *                                         backend with a device pool attached; prints getrusage
 *                                         ru_maxrss and the pool's peak
 * Run each mode in its own process (ru_maxrss only grows). Never pass/fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/ff_safetensors.h"
#include "kernels/ops.h"
#include "models/wan_transformer.h"
#include "offload/pool.h"
#include "pipeline/tiny_model.h"
#include "pipeline/chain.h"

static const char *const dit_json =
    "{\"_class_name\": \"WanTransformer3DModel\", \"added_kv_proj_dim\": null, \"attention_head_dim\": 128,\n"
    " \"cross_attn_norm\": true, \"eps\": 1e-06, \"ffn_dim\": 4096, \"freq_dim\": 256, \"image_dim\": null,\n"
    " \"in_channels\": 4, \"num_attention_heads\": 8, \"num_layers\": 8, \"out_channels\": 4,\n"
    " \"patch_size\": [1, 2, 2], \"qk_norm\": \"rms_norm_across_heads\", \"rope_max_seq_len\": 1024, \"text_dim\": 32}\n";

static int make(const char *dir) {
    ff_err err = {0};
    char path[4400];
    if (ff_tiny_model_create(FF_TINY_DEFAULT, dir, 1, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    snprintf(path, sizeof path, "%s/transformer/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(dit_json, f) < 0 || fclose(f)) return fprintf(stderr, "cannot write %s\n", path), 1;
    ff_wandit_config cfg;
    ff_wandit_model *m = NULL;
    ff_param *ps = NULL;
    size_t np = 0;
    if (ff_wandit_config_load(path, &cfg, &err) || ff_wandit_create(&cfg, &m, &err) || ff_wandit_init_random(m, 1, &err) ||
        ff_wandit_params(&cfg, m, &ps, &np, &err))
        return fprintf(stderr, "%s\n", err.msg), 1;
    ff_st_item *items = calloc(np, sizeof *items);
    for (size_t i = 0; i < np; i++) items[i].name = ps[i].name, items[i].tensor = ps[i].slot;
    snprintf(path, sizeof path, "%s/transformer/diffusion_pytorch_model.safetensors", dir);
    ff_status st = ff_st_write(path, items, np, NULL, 0, &err);
    free(items);
    free(ps);
    ff_wandit_free(m);
    if (st) return fprintf(stderr, "%s\n", err.msg), 1;
    printf("wrote %s (dim %d, %d blocks)\n", dir, cfg.dim, cfg.num_layers);
    return 0;
}

static ff_status no_frames(void *user, const ff_chain_chunk *ch, ff_err *err) {
    (void)user, (void)ch, (void)err;
    return FF_OK;
}

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: bench_offload_cpu DIR make|model|seq-host|seq-file\n"), 2;
    const char *dir = argv[1], *mode = argv[2];
    if (!strcmp(mode, "make")) return make(dir);
    ff_err err = {0};
    ff_backend *be = NULL;
    ff_pool *pool = NULL;
    ff_chain *p = NULL;
    if (ff_backend_cpu_create(0, &be, &err) || ff_pool_create("device", 0, &pool, &err) || ff_pool_attach(pool, be, &err))
        return fprintf(stderr, "%s\n", err.msg), 1;
    ff_chain_opts oo = {0};
    oo.weight_dtype = FF_F32;
    oo.device_pool = pool;
    if (strcmp(mode, "model") != 0) oo.stream = 1, oo.group = 1, oo.from_file = !strcmp(mode, "seq-file");
    const char *prompt = "A red boat on a misty lake.";
    uint64_t seed = 1;
    ff_chain_params prm;
    ff_chain_stats s;
    ff_status st = ff_chain_open(be, dir, &oo, NULL, &p, &err);
    if (!st) {
        ff_chain_params_default(p, &prm);
        prm.prompts = &prompt, prm.n_prompts = 1, prm.seeds = &seed, prm.n_seeds = 1;
        prm.num_frames = 5, prm.height = 32, prm.width = 48, prm.num_inference_steps = 2, prm.max_sequence_length = 64;
        prm.on_frames = no_frames;
        st = ff_chain_run(p, &prm, &s, &err);
    }
    ff_chain_close(p);
    ff_pool_stats ps;
    ff_pool_stats_get(pool, &ps);
    ff_pool_detach(pool);
    ff_pool_free(pool);
    ff_backend_free(be);
    if (st) return fprintf(stderr, "%s\n", err.msg), 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%-9s peak RSS %7.1f MiB, device pool peak %7.1f MiB, %.2f s\n", mode, (double)ru.ru_maxrss / 1024.0,
           (double)ps.peak / 1048576.0, s.total_s);
    return 0;
}
