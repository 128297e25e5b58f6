/* bpe_pretok: text -> byte-level words for the BPE tokenizers (see bpe.h
 * steps 2-3): the slow CLIPTokenizer's BasicTokenizer (transformers
 * tokenization_bert.py BasicTokenizer with do_lower_case=True,
 * strip_accents=False, do_split_on_punc=False: _clean_text,
 * _tokenize_chinese_chars, NFC, whitespace_tokenize, lower), the
 * tokenizer.json normalisers, and the three pre-tokeniser regexes we know,
 * each matched by hand with the regex engines' semantics (ordered
 * alternation, greedy quantifiers with backtracking, leftmost match):
 *   CLIP   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+  (IGNORECASE)
 *          (CLIPTokenizerFast's Split: the same without the two literals, case-sensitive)
 *   GPT-2  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Llama-3 (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
#include <stdlib.h>
#include <string.h>

#include "models/bpe_internal.h"
#include "models/bpe_unicode.h"
#include "models/tokenizer.h"

static const char RE_CLIP[] = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";
/* CLIPTokenizerFast's Split (convert_slow_tokenizer.py CLIPConverter): the same without the special-token literals */
static const char RE_CLIP_FAST[] = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";
static const char RE_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

bpe_regex bpe_regex_of(const char *p) {
    if (!strcmp(p, RE_CLIP)) return BPE_RE_CLIP;
    if (!strcmp(p, RE_CLIP_FAST)) return BPE_RE_CLIP_FAST;
    if (!strcmp(p, RE_GPT2)) return BPE_RE_GPT2;
    if (!strcmp(p, RE_LLAMA3)) return BPE_RE_LLAMA3;
    return BPE_RE_NONE;
}

/* bytes_to_unicode(): bytes ! .. ~, ¡ .. ¬, ® .. ÿ stand for themselves;
 * the other 68 get U+0100 + their rank among them. */
uint32_t bpe_byte_cp(uint8_t b) {
    if ((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae)) return b;
    uint32_t n = 0;
    for (uint32_t x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xa1 && x <= 0xac) || x >= 0xae)) n++;
    return 256 + n;
}

/* ---- the regexes ------------------------------------------------------------ */

static int is_l(uint32_t c) { return ff_bpe_uni_is_letter(c); }
static int is_n(uint32_t c) { return ff_bpe_uni_is_number(c); }
static int is_s(uint32_t c) { return ff_bpe_uni_is_space(c); }
static int is_p(uint32_t c) { return !is_s(c) && !is_l(c) && !is_n(c); } /* [^\s\p{L}\p{N}] */
static int is_nl(uint32_t c) { return c == '\r' || c == '\n'; }

/* simple case folding of the letters the contractions use (ſ folds to s) */
static uint32_t fold(uint32_t c, int ci) {
    if (!ci) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x17f) return 's';
    return c;
}

/* 's|'t|'re|'ve|'m|'ll|'d at i: its length or 0 */
static size_t contraction(const uint32_t *s, size_t n, size_t i, int ci) {
    if (s[i] != '\'' || i + 1 >= n) return 0;
    const uint32_t a = fold(s[i + 1], ci), b = i + 2 < n ? fold(s[i + 2], ci) : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* \s+(?!\S) then \s+ at a whitespace run starting at i */
static size_t trailing_space(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j < n && is_s(s[j])) j++;
    if (j == n || j - i == 1) return j - i; /* (?!\S) holds at the end; a single space before \S: \s+ */
    return j - i - 1;                      /* backtrack one: the next char is whitespace */
}

static size_t match_llama3(const uint32_t *s, size_t n, size_t i) {
    const uint32_t c = s[i];
    size_t k = contraction(s, n, i, 1), j;
    if (k) return k;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    j = i;
    if (!is_l(c) && !is_n(c) && !is_nl(c) && i + 1 < n && is_l(s[i + 1])) j = i + 1;
    if (is_l(s[j])) {
        while (j < n && is_l(s[j])) j++;
        return j - i;
    }
    /* \p{N}{1,3} */
    if (is_n(c)) {
        for (j = i; j < n && j - i < 3 && is_n(s[j]); j++) {}
        return j - i;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    j = c == ' ' && i + 1 < n && is_p(s[i + 1]) ? i + 1 : i;
    if (is_p(s[j])) {
        while (j < n && is_p(s[j])) j++;
        while (j < n && is_nl(s[j])) j++;
        return j - i;
    }
    if (!is_s(c)) return 0;
    /* \s*[\r\n]+: through the last newline of the whitespace run */
    for (j = i; j < n && is_s(s[j]); j++) {}
    for (k = j; k > i && !is_nl(s[k - 1]); k--) {}
    if (k > i) return k - i;
    return trailing_space(s, n, i);
}

static size_t match_gpt2(const uint32_t *s, size_t n, size_t i) {
    const uint32_t c = s[i];
    size_t k = contraction(s, n, i, 0), j;
    if (k) return k;
    const size_t o = c == ' ' && i + 1 < n ? 1 : 0; /* the optional leading space */
    int (*cls[3])(uint32_t) = {is_l, is_n, is_p};
    for (int a = 0; a < 3; a++) {
        j = o && cls[a](s[i + 1]) ? i + 1 : i;
        if (cls[a](s[j])) {
            while (j < n && cls[a](s[j])) j++;
            return j - i;
        }
    }
    return is_s(c) ? trailing_space(s, n, i) : 0;
}

static size_t literal_ci(const uint32_t *s, size_t n, size_t i, const char *lit) {
    size_t k = 0;
    for (; lit[k]; k++)
        if (i + k >= n || fold(s[i + k], 1) != (uint32_t)lit[k]) return 0;
    return k;
}

static size_t clip_common(const uint32_t *s, size_t n, size_t i, int ci) {
    size_t k, j;
    if ((k = contraction(s, n, i, ci))) return k;
    if (is_l(s[i])) {
        for (j = i; j < n && is_l(s[j]); j++) {}
        return j - i;
    }
    if (is_n(s[i])) return 1;
    if (is_p(s[i])) {
        for (j = i; j < n && is_p(s[j]); j++) {}
        return j - i;
    }
    return 0;
}

static size_t match_clip(const uint32_t *s, size_t n, size_t i) {
    size_t k;
    if ((k = literal_ci(s, n, i, "<|startoftext|>")) || (k = literal_ci(s, n, i, "<|endoftext|>"))) return k;
    return clip_common(s, n, i, 1);
}

static size_t match_clip_fast(const uint32_t *s, size_t n, size_t i) { return clip_common(s, n, i, 0); }

/* ---- normalisation ------------------------------------------------------------ */

/* BasicTokenizer.tokenize + " ".join: clean, CJK spacing, NFC, split on
 * whitespace, lower each token. */
static ff_status basic_clip(const uint32_t *in, size_t n, uint32_t **out, size_t *on, ff_err *err) {
    uint32_t *a = malloc((3 * n + 1) * sizeof *a), *nfc = NULL, *o = NULL;
    size_t k = 0, m = 0;
    if (!a) return ff_err_set(err, FF_ERR_NOMEM, "clip tokenizer: no memory");
    for (size_t i = 0; i < n; i++) {
        const uint32_t c = in[i];
        const char *cat = ff_bpe_uni_category(c);
        const int ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || !strcmp(cat, "Zs");
        const int ctrl = !(c == '\t' || c == '\n' || c == '\r') && cat[0] == 'C';
        if (c == 0 || c == 0xfffd || ctrl) continue; /* _clean_text */
        if (ws) {
            a[k++] = ' ';
        } else if (ff_bpe_uni_is_cjk(c)) { /* _tokenize_chinese_chars */
            a[k++] = ' ';
            a[k++] = c;
            a[k++] = ' ';
        } else {
            a[k++] = c;
        }
    }
    ff_status st = ff_bpe_uni_nfc(a, k, &nfc, &m, err);
    free(a);
    if (st) return st;
    o = malloc((2 * m + 1) * sizeof *o);
    if (!o) {
        free(nfc);
        return ff_err_set(err, FF_ERR_NOMEM, "clip tokenizer: no memory");
    }
    /* whitespace_tokenize (str.split()), each token lower-cased, joined by ' ' */
    size_t w = 0;
    for (size_t i = 0; i < m;) {
        while (i < m && ff_tok_py_isspace((int32_t)nfc[i])) i++;
        size_t j = i;
        while (j < m && !ff_tok_py_isspace((int32_t)nfc[j])) j++;
        if (j > i) {
            if (w) o[w++] = ' ';
            w += ff_bpe_uni_lower(nfc + i, j - i, o + w);
        }
        i = j;
    }
    free(nfc);
    *out = o;
    *on = w;
    return FF_OK;
}

static ff_status normalize(const ff_bpe *t, uint32_t **cps, size_t *n, ff_err *err) {
    for (int s = 0; s < t->n_norm; s++) {
        uint32_t *o = NULL;
        size_t on = 0;
        switch (t->norm[s]) {
        case BPE_NORM_NFC: {
            ff_status st = ff_bpe_uni_nfc(*cps, *n, &o, &on, err);
            if (st) return st;
            break;
        }
        case BPE_NORM_LOWER:
            if (!(o = malloc((2 * *n + 1) * sizeof *o))) return ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
            on = ff_bpe_uni_lower(*cps, *n, o);
            break;
        case BPE_NORM_SPACES: /* Replace(Regex("\s+"), " ") */
            if (!(o = malloc((*n + 1) * sizeof *o))) return ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory");
            for (size_t i = 0; i < *n; i++) {
                if (!is_s((*cps)[i])) o[on++] = (*cps)[i];
                else if (i == 0 || !is_s((*cps)[i - 1])) o[on++] = ' ';
            }
            break;
        default:
            return ff_err_set(err, FF_ERR_INTERNAL, "tokenizer: normaliser %d", (int)t->norm[s]);
        }
        free(*cps);
        *cps = o;
        *n = on;
    }
    return FF_OK;
}

/* ---- words ------------------------------------------------------------------- */

typedef struct {
    size_t *start, *len; /* spans in code points */
    size_t n, cap;
} spans;

static int span_push(spans *w, size_t s, size_t l) {
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 32;
        size_t *a = realloc(w->start, nc * sizeof *a);
        if (!a) return -1;
        w->start = a;
        size_t *b = realloc(w->len, nc * sizeof *b);
        if (!b) return -1;
        w->len = b;
        w->cap = nc;
    }
    w->start[w->n] = s;
    w->len[w->n++] = l;
    return 0;
}

ff_status bpe_words(const ff_bpe *t, const char *text, size_t n, char ***words, size_t *nw, ff_err *err) {
    *words = NULL;
    *nw = 0;
    uint32_t *cps = NULL;
    size_t ncp = 0;
    spans sp = {0};
    ff_status st = ff_bpe_uni_decode(text, n, &cps, &ncp, err);
    if (st) return st;
    if (t->basic_clip) {
        uint32_t *o = NULL;
        size_t on = 0;
        if ((st = basic_clip(cps, ncp, &o, &on, err))) goto done;
        free(cps);
        cps = o;
        ncp = on;
    }
    if ((st = normalize(t, &cps, &ncp, err))) goto done;
    if (t->add_prefix_space && ncp && cps[0] != ' ') {
        uint32_t *o = malloc((ncp + 1) * sizeof *o);
        if (!o) goto nomem;
        o[0] = ' ';
        memcpy(o + 1, cps, ncp * sizeof *o);
        free(cps);
        cps = o;
        ncp++;
    }
    /* split */
    size_t (*match)(const uint32_t *, size_t, size_t) =
        t->regex == BPE_RE_CLIP        ? match_clip
        : t->regex == BPE_RE_CLIP_FAST ? match_clip_fast
        : t->regex == BPE_RE_GPT2      ? match_gpt2
        : t->regex == BPE_RE_LLAMA3    ? match_llama3
                                       : NULL;
    if (!match) {
        if (ncp && span_push(&sp, 0, ncp)) goto nomem;
    } else {
        for (size_t i = 0; i < ncp;) {
            size_t gap = i, m = 0;
            while (i < ncp && !(m = match(cps, ncp, i))) i++;
            if (i > gap && t->keep_gaps && span_push(&sp, gap, i - gap)) goto nomem;
            if (m && span_push(&sp, i, m)) goto nomem;
            i += m;
        }
    }
    /* byte-level strings, in one block behind the pointers */
    size_t bytes = 0;
    for (size_t w = 0; w < sp.n; w++)
        for (size_t i = 0; i < sp.len[w]; i++) {
            char u[4];
            bytes += 2 * ff_bpe_uni_encode1(cps[sp.start[w] + i], u) + 1; /* each byte becomes <= 2 UTF-8 bytes */
        }
    char **blk = malloc(sp.n * sizeof(char *) + bytes + sp.n + 1);
    if (!blk) goto nomem;
    char *p = (char *)(blk + sp.n);
    for (size_t w = 0; w < sp.n; w++) {
        blk[w] = p;
        for (size_t i = 0; i < sp.len[w]; i++) {
            char u[4];
            size_t ul = ff_bpe_uni_encode1(cps[sp.start[w] + i], u);
            for (size_t b = 0; b < ul; b++) p += ff_bpe_uni_encode1(bpe_byte_cp((uint8_t)u[b]), p);
        }
        *p++ = 0;
    }
    *words = blk;
    *nw = sp.n;
    goto done;
nomem:
    st = ff_err_set(err, FF_ERR_NOMEM, "tokenizer: no memory for a text of %zu bytes", n);
done:
    free(cps);
    free(sp.start);
    free(sp.len);
    return st;
}
