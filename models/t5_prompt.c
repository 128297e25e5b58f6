/* t5_prompt: CogVideoXPipeline's text path (see t5_prompt.h). Mirrors
 * diffusers pipelines/cogvideo/pipeline_cogvideox.py (_get_t5_prompt_embeds,
 * encode_prompt) at the golden commit. */
#include "models/t5_prompt.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

ff_status ff_t5_prompt_embeds_cogvideox(const ff_tok *tok, ff_t5 *te, const char *const *prompts, int n,
                                        int num_videos_per_prompt, int max_sequence_length, const ff_t5_hooks *hooks,
                                        ff_tensor *embeds, ff_tensor *ids_out, ff_err *err) {
    memset(embeds, 0, sizeof *embeds);
    if (ids_out) memset(ids_out, 0, sizeof *ids_out);
    if (n < 1 || num_videos_per_prompt < 1 || max_sequence_length < 1)
        return ff_err_set(err, FF_ERR_ARG, "encode_prompt: need prompts >= 1, num_videos_per_prompt >= 1, "
                                           "max_sequence_length >= 1 (got %d, %d, %d)",
                          n, num_videos_per_prompt, max_sequence_length);
    ff_backend *be = ff_t5_backend(te);
    ff_tensor ids = {0}, mask = {0}, hidden_dev = {0}, hidden = {0};
    /* tokenizer(prompt, padding="max_length", max_length, truncation=True, add_special_tokens=True) */
    ff_status st = ff_tok_batch(tok, prompts, n, max_sequence_length, &ids, &mask, err);
    if (st) return st;
    /* text_encoder(text_input_ids)[0]: no attention mask */
    if ((st = ff_t5_forward(te, &ids, NULL, hooks, &hidden_dev, err))) goto done;
    const int64_t L = max_sequence_length, D = ff_t5_get_config(te)->d_model;
    if ((st = ff_tensor_allocv(&hidden, FF_F32, err, 3, (int64_t)n, L, D)) ||
        (st = ff_be_download(be, &hidden, &hidden_dev, err)) ||
        (st = ff_tensor_allocv(embeds, FF_F32, err, 3, (int64_t)n * num_videos_per_prompt, L, D)))
        goto done;
    /* prompt_embeds.repeat(1, nv, 1).view(B * nv, L, D) */
    const size_t row = (size_t)(L * D);
    for (int b = 0; b < n; b++)
        for (int r = 0; r < num_videos_per_prompt; r++)
            memcpy((float *)embeds->data + ((size_t)b * (size_t)num_videos_per_prompt + (size_t)r) * row,
                   (const float *)hidden.data + (size_t)b * row, row * sizeof(float));
    if (ids_out) {
        *ids_out = ids;
        memset(&ids, 0, sizeof ids);
    }
done:
    if (st) ff_tensor_free(embeds);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_tensor_free(&hidden);
    if (hidden_dev.data) ff_be_free(be, &hidden_dev);
    return st;
}

ff_status ff_t5_prompt_encode_cogvideox(const ff_tok *tok, ff_t5 *te, const ff_t5_prompt_request *req,
                                        ff_t5_prompt_result *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    if (!req->prompts || req->n_prompts < 1) return ff_err_set(err, FF_ERR_ARG, "encode_prompt: no prompt");
    const int nb = req->n_prompts;
    /* negative_prompt or "", a string repeated batch_size times; a list must match the batch */
    if (req->do_cfg && req->negative && req->n_negative > 1 && req->n_negative != nb)
        return ff_err_set(err, FF_ERR_ARG, "encode_prompt: negative_prompt has batch size %d, but prompt has batch size %d",
                          req->n_negative, nb);
    ff_status st = ff_t5_prompt_embeds_cogvideox(tok, te, req->prompts, nb, req->num_videos_per_prompt,
                                                 req->max_sequence_length, req->hooks, &out->prompt_embeds,
                                                 &out->input_ids, err);
    if (st || !req->do_cfg) return st;
    const char **neg = malloc((size_t)nb * sizeof *neg);
    if (!neg) {
        ff_t5_prompt_free(out);
        return ff_err_set(err, FF_ERR_NOMEM, "encode_prompt: no memory");
    }
    for (int b = 0; b < nb; b++)
        neg[b] = !req->negative || req->n_negative < 1 ? "" : req->negative[req->n_negative == 1 ? 0 : b];
    st = ff_t5_prompt_embeds_cogvideox(tok, te, neg, nb, req->num_videos_per_prompt, req->max_sequence_length, req->hooks,
                                       &out->negative_prompt_embeds, &out->negative_input_ids, err);
    free(neg);
    if (st) ff_t5_prompt_free(out);
    return st;
}

void ff_t5_prompt_free(ff_t5_prompt_result *r) {
    ff_tensor_free(&r->prompt_embeds);
    ff_tensor_free(&r->negative_prompt_embeds);
    ff_tensor_free(&r->input_ids);
    ff_tensor_free(&r->negative_input_ids);
}
