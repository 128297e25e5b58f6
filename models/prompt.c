/* prompt: WanPipeline's prompt_clean and encode_prompt (see prompt.h).
 * Mirrors diffusers pipelines/wan/pipeline_wan.py (basic_clean,
 * whitespace_clean, prompt_clean, _get_t5_prompt_embeds, encode_prompt) and
 * Python 3.11's html.unescape. */
#include "models/prompt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

#include "models/prompt_entities.inc"

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (b->n + n + 1 > nc) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) return -1;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

static int sb_put_cp(sbuf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return sb_put(b, u, n);
}

static const char *entity_find(const char *name, size_t n) {
    size_t lo = 0, hi = sizeof html5_entities / sizeof html5_entities[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *k = html5_entities[mid].name;
        size_t kn = strlen(k);
        int c = memcmp(k, name, kn < n ? kn : n);
        if (c == 0) c = kn < n ? -1 : kn > n ? 1 : 0;
        if (c == 0) return html5_entities[mid].value;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* html._replace_charref for a numeric reference. */
static int put_numeric(sbuf *b, uint32_t num) {
    for (size_t i = 0; i < sizeof invalid_charrefs / sizeof invalid_charrefs[0]; i++)
        if (invalid_charrefs[i].num == num) return sb_put(b, invalid_charrefs[i].value, strlen(invalid_charrefs[i].value));
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return sb_put_cp(b, 0xfffd);
    for (size_t i = 0; i < sizeof invalid_codepoints / sizeof invalid_codepoints[0]; i++)
        if (invalid_codepoints[i] == num) return 0;
    return sb_put_cp(b, num);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* html.unescape: re.sub(r'&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)', _replace_charref, s) */
ff_status ff_prompt_html_unescape(const char *s, char **out, ff_err *err) {
    size_t n = strlen(s), i = 0;
    sbuf b = {0};
    *out = NULL;
    if (sb_put(&b, "", 0)) goto nomem;
    while (i < n) {
        if (s[i] != '&') {
            size_t j = i;
            while (j < n && s[j] != '&') j++;
            if (sb_put(&b, s + i, j - i)) goto nomem;
            i = j;
            continue;
        }
        size_t j = i + 1;
        if (j < n && s[j] == '#') {
            int hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
            size_t k = j + 1 + (size_t)hex, d = k;
            uint32_t num = 0;
            while (d < n && (hex ? hexval(s[d]) >= 0 : (s[d] >= '0' && s[d] <= '9'))) {
                uint32_t v = (uint32_t)(hex ? hexval(s[d]) : s[d] - '0');
                num = num > 0x110000 ? 0x110001 : num * (hex ? 16u : 10u) + v; /* saturates above U+10FFFF */
                d++;
            }
            if (d == k) { /* no digits: '&' stays */
                if (sb_put(&b, "&", 1)) goto nomem;
                i++;
                continue;
            }
            if (d < n && s[d] == ';') d++;
            if (put_numeric(&b, num)) goto nomem;
            i = d;
            continue;
        }
        size_t k = j, count = 0;
        while (k < n && count < 32 && !strchr("\t\n\f <&#;", s[k])) {
            size_t nk = k;
            if (ff_tok_utf8_next(s, n, &nk) < 0) nk = k + 1;
            k = nk;
            count++;
        }
        if (!count) {
            if (sb_put(&b, "&", 1)) goto nomem;
            i++;
            continue;
        }
        if (k < n && s[k] == ';') k++;
        const char *v = entity_find(s + j, k - j);
        if (v) {
            if (sb_put(&b, v, strlen(v))) goto nomem;
        } else {
            /* the longest known prefix of at least 2 characters (names are ASCII) */
            size_t x;
            for (x = k - j - 1; x >= 2; x--)
                if ((v = entity_find(s + j, x))) break;
            if (v && x >= 2) {
                if (sb_put(&b, v, strlen(v)) || sb_put(&b, s + j + x, k - j - x)) goto nomem;
            } else if (sb_put(&b, s + i, k - i)) {
                goto nomem;
            }
        }
        i = k;
    }
    *out = b.p;
    return FF_OK;
nomem:
    free(b.p);
    return ff_err_set(err, FF_ERR_NOMEM, "prompt: no memory to unescape %zu bytes", n);
}

ff_status ff_prompt_clean(const char *text, char **out, ff_err *err) {
    *out = NULL;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;)
        if (ff_tok_utf8_next(text, n, &i) < 0) return ff_err_set(err, FF_ERR_ARG, "prompt: not valid UTF-8 at byte %zu", i);
    char *once, *twice;
    ff_status st = ff_prompt_html_unescape(text, &once, err);
    if (st) return st;
    st = ff_prompt_html_unescape(once, &twice, err);
    free(once);
    if (st) return st;
    /* re.sub(r"\s+", " ", text).strip() (after an earlier strip) */
    sbuf b = {0};
    size_t m = strlen(twice), i = 0;
    int pending_space = 0;
    if (sb_put(&b, "", 0)) goto nomem;
    while (i < m) {
        size_t j = i;
        int32_t cp = ff_tok_utf8_next(twice, m, &j);
        if (cp < 0) { /* cannot come out of unescape on valid input, but stay safe */
            free(twice);
            free(b.p);
            return ff_err_set(err, FF_ERR_INTERNAL, "prompt: unescape produced invalid UTF-8");
        }
        if (ff_tok_py_isspace(cp)) {
            pending_space = b.n > 0;
        } else {
            if (pending_space && sb_put(&b, " ", 1)) goto nomem;
            pending_space = 0;
            if (sb_put(&b, twice + i, j - i)) goto nomem;
        }
        i = j;
    }
    free(twice);
    *out = b.p;
    return FF_OK;
nomem:
    free(twice);
    free(b.p);
    return ff_err_set(err, FF_ERR_NOMEM, "prompt: no memory to clean %zu bytes", n);
}

/* ---- encode_prompt ------------------------------------------------------------- */

ff_status ff_prompt_t5_embeds(const ff_tok *tok, ff_umt5 *te, const char *const *prompts, int n, int num_videos_per_prompt,
                              int max_sequence_length, ff_tensor *embeds, ff_tensor *seq_lens, ff_err *err) {
    memset(embeds, 0, sizeof *embeds);
    memset(seq_lens, 0, sizeof *seq_lens);
    if (n < 1 || num_videos_per_prompt < 1 || max_sequence_length < 1)
        return ff_err_set(err, FF_ERR_ARG, "encode_prompt: need prompts >= 1, num_videos_per_prompt >= 1, "
                                           "max_sequence_length >= 1 (got %d, %d, %d)",
                          n, num_videos_per_prompt, max_sequence_length);
    ff_status st = FF_OK;
    char **clean = calloc((size_t)n, sizeof *clean);
    ff_tensor ids = {0}, mask = {0}, hidden_dev = {0}, hidden = {0};
    ff_backend *be = ff_umt5_backend(te);
    if (!clean) return ff_err_set(err, FF_ERR_NOMEM, "encode_prompt: no memory");
    for (int b = 0; b < n; b++)
        if ((st = ff_prompt_clean(prompts[b], &clean[b], err))) {
            ff_err_wrap(err, "prompt %d", b);
            goto done;
        }
    if ((st = ff_tok_batch(tok, (const char *const *)clean, n, max_sequence_length, &ids, &mask, err))) goto done;
    if ((st = ff_umt5_forward(te, &ids, &mask, &hidden_dev, err))) goto done;
    const int64_t L = max_sequence_length, D = ff_umt5_get_config(te)->d_model;
    if ((st = ff_tensor_allocv(&hidden, FF_F32, err, 3, (int64_t)n, L, D))) goto done;
    if ((st = ff_be_download(be, &hidden, &hidden_dev, err))) goto done;
    if ((st = ff_tensor_allocv(embeds, FF_F32, err, 3, (int64_t)n * num_videos_per_prompt, L, D)) ||
        (st = ff_tensor_allocv(seq_lens, FF_I64, err, 1, (int64_t)n)))
        goto done;
    /* u[:seq_len] then zeros; repeat(1, nv, 1).view(B*nv, L, D) */
    const int64_t *pm = mask.data;
    const float *ph = hidden.data;
    float *pe = embeds->data;
    for (int b = 0; b < n; b++) {
        int64_t len = 0;
        for (int64_t j = 0; j < L; j++) len += pm[b * L + j] > 0;
        ((int64_t *)seq_lens->data)[b] = len;
        for (int r = 0; r < num_videos_per_prompt; r++) {
            float *dst = pe + ((size_t)b * (size_t)num_videos_per_prompt + (size_t)r) * (size_t)(L * D);
            memcpy(dst, ph + (size_t)b * (size_t)(L * D), (size_t)(len * D) * sizeof *dst); /* rest stays 0 */
        }
    }
done:
    if (st) {
        ff_tensor_free(embeds);
        ff_tensor_free(seq_lens);
    }
    for (int b = 0; b < n; b++) free(clean[b]);
    free(clean);
    ff_tensor_free(&ids);
    ff_tensor_free(&mask);
    ff_tensor_free(&hidden);
    if (hidden_dev.data) ff_be_free(be, &hidden_dev);
    return st;
}

ff_status ff_prompt_encode(const ff_tok *tok, ff_umt5 *te, const ff_prompt_request *req, ff_prompt_embeds *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    if (!req->prompts || req->n_prompts < 1) return ff_err_set(err, FF_ERR_ARG, "encode_prompt: no prompt");
    ff_status st = ff_prompt_t5_embeds(tok, te, req->prompts, req->n_prompts, req->num_videos_per_prompt,
                                       req->max_sequence_length, &out->prompt_embeds, &out->seq_lens, err);
    if (st || !req->do_cfg) return st;
    /* negative_prompt = negative_prompt or ""; a single one is used for every prompt */
    int nb = req->n_prompts;
    const char **neg = malloc((size_t)nb * sizeof *neg);
    if (!neg) {
        ff_prompt_embeds_free(out);
        return ff_err_set(err, FF_ERR_NOMEM, "encode_prompt: no memory");
    }
    if (req->n_negative > 1 && req->n_negative != nb) {
        free(neg);
        ff_prompt_embeds_free(out);
        return ff_err_set(err, FF_ERR_ARG, "encode_prompt: %d negative prompts for a batch of %d prompts", req->n_negative, nb);
    }
    for (int b = 0; b < nb; b++)
        neg[b] = !req->negative || req->n_negative < 1 ? "" : req->negative[req->n_negative == 1 ? 0 : b];
    st = ff_prompt_t5_embeds(tok, te, neg, nb, req->num_videos_per_prompt, req->max_sequence_length,
                             &out->negative_prompt_embeds, &out->negative_seq_lens, err);
    free(neg);
    if (st) ff_prompt_embeds_free(out);
    return st;
}

void ff_prompt_embeds_free(ff_prompt_embeds *e) {
    ff_tensor_free(&e->prompt_embeds);
    ff_tensor_free(&e->negative_prompt_embeds);
    ff_tensor_free(&e->seq_lens);
    ff_tensor_free(&e->negative_seq_lens);
}
