/* llama_prompt: HunyuanVideoPipeline._get_llama_prompt_embeds (diffusers
 * pipelines/hunyuan_video/pipeline_hunyuan_video.py at the golden commit);
 * see llama_prompt.h. */
#include "models/llama_prompt.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

const char ff_llama_prompt_default_template[] =
    "<|start_header_id|>system<|end_header_id|>\n\nDescribe the video by detailing the following aspects: "
    "1. The main content and theme of the video."
    "2. The color, shape, size, texture, quantity, text, and spatial relationships of the objects."
    "3. Actions, events, behaviors temporal relationships, physical movement changes of the objects."
    "4. background environment, light, style and atmosphere."
    "5. camera angles, movements, and transitions used in the video:<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>";

ff_status ff_llama_prompt_template_parse(const ff_json *v, const char **tmpl, int *crop_start, ff_err *err) {
    *tmpl = ff_llama_prompt_default_template;
    *crop_start = FF_LLAMA_PROMPT_DEFAULT_CROP_START;
    if (ff_json_is_null(v)) return FF_OK;
    if (v->type != FF_JSON_OBJECT)
        return ff_err_set(err, FF_ERR_FORMAT, "prompt_template must be an object {\"template\": ..., \"crop_start\": ...}");
    const ff_json *t = ff_json_get(v, "template"), *c = ff_json_get(v, "crop_start");
    if (!ff_json_is_null(t)) {
        if (t->type != FF_JSON_STRING || strlen(t->str) != t->len)
            return ff_err_set(err, FF_ERR_FORMAT, "prompt_template.template must be a string");
        *tmpl = t->str;
    }
    int64_t cs = -1;
    if (!ff_json_is_null(c) && (ff_json_int64(c, &cs) || cs < 0 || cs > (1 << 20)))
        return ff_err_set(err, FF_ERR_FORMAT, "prompt_template.crop_start must be null or an integer in [0, 2^20]");
    *crop_start = (int)cs;
    return FF_OK;
}

ff_status ff_llama_prompt_format(const char *tmpl, const char *prompt, char **out, ff_err *err) {
    *out = NULL;
    const size_t tl = strlen(tmpl), pl = strlen(prompt);
    char *o = malloc(tl + pl + 1);
    if (!o) return ff_err_set(err, FF_ERR_NOMEM, "prompt template: no memory");
    size_t k = 0;
    int used = 0;
    for (size_t i = 0; i < tl; i++) {
        const char ch = tmpl[i];
        if ((ch == '{' || ch == '}') && tmpl[i + 1] == ch) { /* "{{" / "}}" */
            o[k++] = ch;
            i++;
        } else if (ch == '{' && (!strncmp(tmpl + i, "{}", 2) || !strncmp(tmpl + i, "{0}", 3))) {
            if (used && tmpl[i + 1] == '}') {
                free(o);
                return ff_err_set(err, FF_ERR_ARG, "prompt template: more than one '{}' field (format gets one prompt)");
            }
            memcpy(o + k, prompt, pl);
            k += pl;
            i += tmpl[i + 1] == '}' ? 1 : 2;
            used = 1;
        } else if (ch == '{' || ch == '}') {
            free(o);
            return ff_err_set(err, FF_ERR_ARG,
                              "prompt template: '%c' at byte %zu is not part of '{}', '{0}', '{{' or '}}' (str.format)", ch, i);
        } else {
            o[k++] = ch;
        }
    }
    o[k] = 0;
    *out = o;
    return FF_OK;
}

ff_status ff_llama_prompt_crop_start(const ff_llama_tok *tok, const char *tmpl, int *crop_start, ff_err *err) {
    int64_t *ids;
    size_t n;
    /* tokenizer(template, padding="max_length") without max_length: model_max_length is unset, no padding */
    ff_status st = ff_llama_tok_encode_special(tok, tmpl, &ids, &n, err);
    if (st) return st;
    free(ids);
    *crop_start = (int)n - 2; /* drop the "{}" placeholder and <|eot_id|> */
    return FF_OK;
}

void ff_llama_prompt_free(ff_llama_prompt_result *r) {
    ff_tensor_free(&r->prompt_embeds);
    ff_tensor_free(&r->attention_mask);
    ff_tensor_free(&r->input_ids);
}

ff_status ff_llama_prompt_embeds(const ff_llama_tok *tok, ff_llama *te, const ff_llama_prompt_request *req,
                                 ff_llama_prompt_result *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    const int n = req->n_prompts, nv = req->num_videos_per_prompt;
    if (!req->prompts || n < 1 || nv < 1 || req->max_sequence_length < 1 || req->num_hidden_layers_to_skip < 0 ||
        req->crop_start < -1)
        return ff_err_set(err, FF_ERR_ARG,
                          "llama prompt: need prompts >= 1, num_videos_per_prompt >= 1, max_sequence_length >= 1, "
                          "num_hidden_layers_to_skip >= 0, crop_start >= -1 (got %d, %d, %d, %d, %d)",
                          n, nv, req->max_sequence_length, req->num_hidden_layers_to_skip, req->crop_start);
    const int64_t N = ff_llama_get_config(te)->num_layers;
    if (req->num_hidden_layers_to_skip > N)
        return ff_err_set(err, FF_ERR_ARG, "llama prompt: skipping %d of %lld layers", req->num_hidden_layers_to_skip, (long long)N);
    const char *tmpl = req->tmpl ? req->tmpl : ff_llama_prompt_default_template;
    ff_backend *be = ff_llama_backend(te);
    char **texts = calloc((size_t)n, sizeof *texts);
    ff_tensor mask = {0}, hid_dev = {0}, hid = {0};
    ff_status st = FF_OK;
    if (!texts) return ff_err_set(err, FF_ERR_NOMEM, "llama prompt: no memory");
    for (int b = 0; b < n && !st; b++) st = ff_llama_prompt_format(tmpl, req->prompts[b], &texts[b], err);
    if (st) goto done;
    int crop = req->crop_start;
    if (crop < 0 && (st = ff_llama_prompt_crop_start(tok, tmpl, &crop, err))) goto done;
    out->crop_start = crop;
    const int64_t total = (int64_t)crop + req->max_sequence_length;
    if (total > (1 << 24)) {
        st = ff_err_set(err, FF_ERR_ARG, "llama prompt: crop_start %d + max_sequence_length %d is too long", crop,
                        req->max_sequence_length);
        goto done;
    }
    if ((st = ff_llama_tok_batch(tok, (const char *const *)texts, n, (int)total, &out->input_ids, &mask, err))) goto done;
    /* output_hidden_states=True).hidden_states[-(num_hidden_layers_to_skip + 1)] */
    if ((st = ff_llama_forward(te, &out->input_ids, &mask, -(req->num_hidden_layers_to_skip + 1), req->hooks, &hid_dev, err)))
        goto done;
    const int64_t D = ff_llama_get_config(te)->hidden_size, c0 = crop > 0 ? crop : 0, Lk = total - c0;
    if ((st = ff_tensor_allocv(&hid, FF_F32, err, 3, (int64_t)n, total, D)) || (st = ff_be_download(be, &hid, &hid_dev, err)) ||
        (st = ff_tensor_allocv(&out->prompt_embeds, FF_F32, err, 3, (int64_t)n * nv, Lk, D)) ||
        (st = ff_tensor_allocv(&out->attention_mask, FF_I64, err, 2, (int64_t)n * nv, Lk)))
        goto done;
    /* [:, crop_start:], then repeat(1, nv, 1).view(B * nv, L, D) */
    for (int b = 0; b < n; b++)
        for (int r = 0; r < nv; r++) {
            const size_t row = (size_t)b * (size_t)nv + (size_t)r;
            memcpy((float *)out->prompt_embeds.data + row * (size_t)(Lk * D),
                   (const float *)hid.data + ((size_t)b * (size_t)total + (size_t)c0) * (size_t)D, (size_t)(Lk * D) * sizeof(float));
            memcpy((int64_t *)out->attention_mask.data + row * (size_t)Lk,
                   (const int64_t *)mask.data + (size_t)b * (size_t)total + (size_t)c0, (size_t)Lk * sizeof(int64_t));
        }
done:
    if (st) ff_llama_prompt_free(out);
    for (int b = 0; b < n; b++) free(texts[b]);
    free(texts);
    ff_tensor_free(&mask);
    ff_tensor_free(&hid);
    if (hid_dev.data) ff_be_free(be, &hid_dev);
    return st;
}
