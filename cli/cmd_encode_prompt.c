/* framefarm encode-prompt --model DIR --prompt TEXT [--prompt TEXT ...]
 *     [--negative TEXT ...] [--cfg] [--max-length N] [--num-videos N]
 *     --out E.safetensors [--backend cpu|cuda[:N]] [--threads N] [--ids]
 *
 * WanPipeline.encode_prompt: writes "prompt_embeds" (B*n, L, D) and
 * "seq_lens" (B); with --negative (or --cfg: negative prompt "") also
 * "negative_prompt_embeds" and "negative_seq_lens". --ids adds the
 * tokenizer's "input_ids" and "attention_mask". --model is a pipeline folder
 * (tokenizer/ and text_encoder/ inside). --max-length defaults to 512, the
 * value WanPipeline.__call__ passes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/ff_model_dir.h"
#include "core/ff_safetensors.h"
#include "models/prompt.h"

static void usage(FILE *f) {
    fprintf(f, "usage: framefarm encode-prompt --model DIR --prompt TEXT [--prompt TEXT ...] [--negative TEXT ...]\n"
               "       [--cfg] [--max-length N] [--num-videos N] [--ids] --out E.safetensors\n"
               "       [--backend cpu|cuda[:N]] [--threads N]\n");
}

static int parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

int ff_cmd_encode_prompt(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *backend = "cpu";
    int threads = 0, max_len = 512, nv = 1, cfg = 0, with_ids = 0, n = 0, nn = 0;
    const char **prompts = calloc((size_t)argc + 1, sizeof *prompts), **neg = calloc((size_t)argc + 1, sizeof *neg);
    int rc = FF_EXIT_USAGE;
    if (!prompts || !neg) {
        fprintf(stderr, "framefarm encode-prompt: no memory\n");
        free(prompts);
        free(neg);
        return FF_EXIT_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--model") && val) model = val;
        else if (!strcmp(a, "--out") && val) out = val;
        else if (!strcmp(a, "--prompt") && val) prompts[n++] = val;
        else if (!strcmp(a, "--negative") && val) neg[nn++] = val;
        else if (!strcmp(a, "--backend") && val) backend = val;
        else if (!strcmp(a, "--threads") && val) {
            if (parse_int(val, 0, 4096, &threads)) {
                fprintf(stderr, "framefarm encode-prompt: bad --threads '%s'\n", val);
                goto done;
            }
        } else if (!strcmp(a, "--max-length") && val) {
            if (parse_int(val, 1, 1 << 20, &max_len)) {
                fprintf(stderr, "framefarm encode-prompt: bad --max-length '%s'\n", val);
                goto done;
            }
        } else if (!strcmp(a, "--num-videos") && val) {
            if (parse_int(val, 1, 1 << 16, &nv)) {
                fprintf(stderr, "framefarm encode-prompt: bad --num-videos '%s'\n", val);
                goto done;
            }
        } else {
            takes = 0;
            if (!strcmp(a, "--cfg")) cfg = 1;
            else if (!strcmp(a, "--ids")) with_ids = 1;
            else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                usage(stdout);
                rc = FF_EXIT_OK;
                goto done;
            } else {
                fprintf(stderr, "framefarm encode-prompt: unknown or incomplete option '%s'\n", a);
                usage(stderr);
                goto done;
            }
        }
        i += takes;
    }
    if (!model || !out || n < 1) {
        usage(stderr);
        goto done;
    }
    if (nn > 1 && nn != n) {
        fprintf(stderr, "framefarm encode-prompt: %d --negative for %d --prompt (give one, or one per prompt)\n", nn, n);
        goto done;
    }
    if (nn) cfg = 1;

    ff_err err = {0};
    ff_backend *be = NULL;
    ff_model_dir *md = NULL;
    ff_tok *tok = NULL;
    ff_umt5 *te = NULL;
    ff_prompt_embeds pe = {0};
    ff_tensor ids = {0}, mask = {0};
    char tdir[4096], edir[4096];
    ff_status st = ff_backend_create_by_name(backend, threads, &be, &err);
    if (st) {
        ff_cli_report("encode-prompt", &err);
        goto done; /* usage: unknown backend or no device */
    }
    rc = FF_EXIT_FAIL;
    if ((st = ff_model_dir_open(model, &md, &err)) || (st = ff_model_dir_component_dir(md, "tokenizer", tdir, sizeof tdir, &err)) ||
        (st = ff_model_dir_component_dir(md, "text_encoder", edir, sizeof edir, &err)) || (st = ff_tok_load(tdir, &tok, &err)) ||
        (st = ff_umt5_load(be, edir, &te, &err)))
        goto report;
    ff_prompt_request req = {prompts, n, neg, nn, cfg, nv, max_len};
    if ((st = ff_prompt_encode(tok, te, &req, &pe, &err))) goto report;
    ff_st_item items[6];
    size_t ni = 0;
    items[ni++] = (ff_st_item){"prompt_embeds", &pe.prompt_embeds};
    items[ni++] = (ff_st_item){"seq_lens", &pe.seq_lens};
    if (cfg) {
        items[ni++] = (ff_st_item){"negative_prompt_embeds", &pe.negative_prompt_embeds};
        items[ni++] = (ff_st_item){"negative_seq_lens", &pe.negative_seq_lens};
    }
    if (with_ids) {
        /* the tokenizer call on the cleaned prompts, as encode_prompt made it */
        char **clean = calloc((size_t)n, sizeof *clean);
        if (!clean) {
            st = ff_err_set(&err, FF_ERR_NOMEM, "no memory");
            goto report;
        }
        for (int b = 0; b < n && !st; b++) st = ff_prompt_clean(prompts[b], &clean[b], &err);
        if (!st) st = ff_tok_batch(tok, (const char *const *)clean, n, max_len, &ids, &mask, &err);
        for (int b = 0; b < n; b++) free(clean[b]);
        free(clean);
        if (st) goto report;
        items[ni++] = (ff_st_item){"input_ids", &ids};
        items[ni++] = (ff_st_item){"attention_mask", &mask};
    }
    const char *meta[4] = {"format", "pt", "producer", "framefarm encode-prompt"};
    if ((st = ff_st_write(out, items, ni, meta, 2, &err))) goto report;
    rc = FF_EXIT_OK;
report:
    if (st) ff_cli_report("encode-prompt", &err);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_prompt_embeds_free(&pe);
    ff_umt5_free(te);
    ff_tok_free(tok);
    ff_model_dir_close(md);
    ff_backend_free(be);
done:
    free(prompts);
    free(neg);
    return rc;
}
