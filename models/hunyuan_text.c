/* hunyuan_text: HunyuanVideoPipeline.encode_prompt and
 * _get_clip_prompt_embeds (diffusers pipeline_hunyuan_video.py at the
 * golden commit); see hunyuan_text.h. */
#include "models/hunyuan_text.h"

#include <string.h>

#include "kernels/ops.h"

ff_status ff_hytext_clip_pooled(const ff_bpe *tok2, ff_clip_model *clip, ff_backend *be, const char *const *prompts,
                                      int n, int nv, int max_length, const ff_clip_hooks *hooks, ff_tensor *pooled,
                                      ff_err *err) {
    memset(pooled, 0, sizeof *pooled);
    if (n < 1 || nv < 1) return ff_err_set(err, FF_ERR_ARG, "clip prompt: need prompts >= 1, num_videos_per_prompt >= 1");
    ff_tensor ids = {0}, mask = {0}, host = {0};
    ff_status st = ff_bpe_batch(tok2, prompts, n, max_length, &ids, &mask, err);
    if (st) return st;
    /* text_encoder_2(text_input_ids, output_hidden_states=False).pooler_output */
    if ((st = ff_clip_text_forward_host(clip, be, &ids, hooks, NULL, &host, err))) goto done;
    const int64_t D = host.shape[1];
    if ((st = ff_tensor_allocv(pooled, FF_F32, err, 2, (int64_t)n * nv, D))) goto done;
    /* prompt_embeds.repeat(1, nv).view(B * nv, -1) */
    for (int b = 0; b < n; b++)
        for (int r = 0; r < nv; r++)
            memcpy((float *)pooled->data + ((size_t)b * (size_t)nv + (size_t)r) * (size_t)D, (const float *)host.data + (size_t)b * (size_t)D,
                   (size_t)D * sizeof(float));
done:
    if (st) ff_tensor_free(pooled);
    ff_tensor_free(&host);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    return st;
}

ff_status ff_hytext_encode(const ff_llama_tok *tok, ff_llama *te, const ff_bpe *tok2, ff_clip_model *te2,
                                 const ff_hytext_request *req, ff_hytext_result *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    ff_llama_prompt_result lr;
    ff_status st = ff_llama_prompt_embeds(tok, te, &req->llama, &lr, err);
    if (st) return st;
    out->prompt_embeds = lr.prompt_embeds;
    out->prompt_attention_mask = lr.attention_mask;
    out->crop_start = lr.crop_start;
    ff_tensor_free(&lr.input_ids);
    /* CLIP sees `prompt`, max_length 77 */
    st = ff_hytext_clip_pooled(tok2, te2, req->clip_be, req->llama.prompts, req->llama.n_prompts,
                                     req->llama.num_videos_per_prompt, FF_HYTEXT_CLIP_MAX_LEN, req->clip_hooks,
                                     &out->pooled_prompt_embeds, err);
    if (st) ff_hytext_free(out);
    return st;
}

void ff_hytext_free(ff_hytext_result *r) {
    ff_tensor_free(&r->prompt_embeds);
    ff_tensor_free(&r->pooled_prompt_embeds);
    ff_tensor_free(&r->prompt_attention_mask);
}
