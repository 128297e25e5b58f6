/* golden_clip_tok: the clip_tokenizer golden group — CLIPTokenizer (slow,
 * vocab.json + merges.txt, no ftfy) as HunyuanVideoPipeline.
 * _get_clip_prompt_embeds calls it: padding="max_length", max_length
 * (options, 77), truncation. Outputs input_ids; expected_values.tokens and
 * expected_values.pretokenized_words (the byte-level words fed to BPE) are
 * checked here. */
#include <stdlib.h>
#include <string.h>

#include "cli/golden.h"
#include "cli/golden_text.h"
#include "models/bpe.h"

static const char *tok_to_token(const void *tok, int64_t id, size_t *len) { return ff_bpe_id_to_token(tok, id, len); }

static ff_status check_words(const golden_case *c, const ff_json *all, const ff_bpe *tok, const char *const *prompts, int n,
                             ff_err *err) {
    for (int b = 0; all && b < n; b++) {
        const ff_json *want = ff_json_at(all, (size_t)b);
        char **words;
        size_t nw;
        ff_status st = ff_bpe_pretokenize(tok, prompts[b], &words, &nw, err);
        if (st) return st;
        int ok = want && ff_json_count(want) == nw;
        for (size_t i = 0; ok && i < nw; i++) ok = gt_json_str_eq(ff_json_at(want, i), words[i], strlen(words[i]));
        free(words);
        if (!ok) return ff_err_set(err, FF_ERR_FORMAT, "%s: expected_values.pretokenized_words[%d] differs from ours", c->name, b);
    }
    return FF_OK;
}

ff_status golden_clip_tokenizer(const golden_case *c, golden_outputs *outs, ff_err *err) {
    if (!GT_OP_IS(c, "CLIPTokenizer"))
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "%s: clip_tokenizer op '%s' has no handler", c->name, c->op);
    char dir[4096];
    const char **prompts = NULL;
    int n = 0, max_len = 0;
    ff_bpe *tok = NULL;
    ff_json_doc *doc = NULL;
    ff_tensor ids = {0}, mask = {0};
    ff_status st;
    if ((st = gt_component_dir(c, c->component && *c->component ? c->component : "tokenizer_2", dir, sizeof dir, err)) ||
        (st = gt_opt_int(c, "max_length", 77, 1, 1 << 20, &max_len, err)) || (st = gt_string_list(c, "prompts", &prompts, &n, err)))
        goto done;
    if (n < 1) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: input_values.prompts is missing or empty", c->name);
        goto done;
    }
    if ((st = ff_bpe_load_clip(dir, &tok, err)) || (st = ff_bpe_batch(tok, prompts, n, max_len, &ids, &mask, err))) goto done;
    /* the ids the case names */
    int64_t want;
    if ((!ff_json_get_int64(c->options, "bos_token_id", ff_bpe_bos_id(tok), &want) && want != ff_bpe_bos_id(tok)) ||
        (!ff_json_get_int64(c->options, "eos_token_id", ff_bpe_eos_id(tok), &want) && want != ff_bpe_eos_id(tok)) ||
        (!ff_json_get_int64(c->options, "pad_token_id", ff_bpe_pad_id(tok), &want) && want != ff_bpe_pad_id(tok)) ||
        (!ff_json_get_int64(c->options, "vocab_size", ff_bpe_len(tok), &want) && want != ff_bpe_len(tok))) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: special token ids / vocabulary size differ from the case options", c->name);
        goto done;
    }
    if ((st = gt_case_doc(c, &doc, err))) goto done;
    const ff_json *ev = ff_json_get(ff_json_root(doc), "expected_values");
    if ((st = gt_check_tokens(c, ff_json_get(ev, "tokens"), ids.data, n, max_len, tok_to_token, tok, err)) ||
        (st = check_words(c, ff_json_get(ev, "pretokenized_words"), tok, prompts, n, err)))
        goto done;
    st = golden_out_add(outs, "input_ids", &ids, err);
done:
    free(prompts);
    ff_json_free(doc);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_bpe_free(tok);
    return st;
}
