/* spm_model: sentencepiece ModelProto reader, normalizer, unigram and BPE encoders
 * (see spm_model.h). Mirrors sentencepiece 0.1.97: model_interface.cc
 * (InitializePieces), normalizer.cc (Normalize, NormalizePrefix,
 * DecodePrecompiledCharsMap), unigram_model.cc (EncodeOptimized), bpe_model.cc (SampleEncode) and
 * sentencepiece_processor.cc (PopulateSentencePieceText). Every read of the
 * file, the charsmap trie and its strings is bounds-checked: a corrupted
 * model is an FF_ERR_FORMAT, never a crash. */
#include "models/spm_model.h"

#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- protobuf wire format --------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
} pb_buf;

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

static int pb_varint(pb_buf *b, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return -1;
        uint8_t c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

/* Reads one field header and its payload: varints in *v, fixed32 in *v,
 * length-delimited spans in *sub. */
typedef struct {
    uint32_t field;
    int wire;
    uint64_t v;
    pb_buf sub;
} pb_field;

static int pb_next(pb_buf *b, pb_field *f) {
    uint64_t key;
    if (pb_varint(b, &key)) return -1;
    f->field = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    if (f->field == 0 || key >> 3 > 0x1fffffff) return -1;
    switch (f->wire) {
    case PB_VARINT:
        return pb_varint(b, &f->v);
    case PB_I64:
        if (b->end - b->p < 8) return -1;
        b->p += 8;
        return 0;
    case PB_I32: {
        if (b->end - b->p < 4) return -1;
        f->v = (uint64_t)b->p[0] | (uint64_t)b->p[1] << 8 | (uint64_t)b->p[2] << 16 | (uint64_t)b->p[3] << 24;
        b->p += 4;
        return 0;
    }
    case PB_LEN: {
        uint64_t n;
        if (pb_varint(b, &n) || n > (uint64_t)(b->end - b->p)) return -1;
        f->sub.p = b->p;
        f->sub.end = b->p + n;
        b->p += n;
        return 0;
    }
    default:
        return -1; /* groups (3, 4) and reserved wire types are not used by sentencepiece */
    }
}

/* ---- the model ---------------------------------------------------------- */

typedef struct {
    int32_t *slots; /* piece ids, -1 empty */
    size_t cap;     /* power of two */
} id_map;

struct ff_spm {
    uint8_t *buf; /* the file bytes; pieces and the charsmap point into it */
    size_t buf_n;
    ff_spm_piece *pieces;
    int n_pieces;
    ff_spm_info info;
    /* trainer_spec / normalizer_spec as read */
    const uint8_t *charsmap;
    size_t charsmap_n;
    /* decoded charsmap: darts units and the replacement strings */
    const uint8_t *trie; /* little-endian uint32 units */
    size_t trie_units;
    const char *norm_str;
    size_t norm_str_n;
    /* pieces_ (NORMAL, USER_DEFINED, UNUSED: the encoder's trie) and
     * reserved_id_map_ (the others), as in ModelBase */
    id_map normal_map, reserved_map;
    uint32_t max_normal_len, max_user_len;
    int n_user;
    int unk_id;
    float min_score, max_score;
};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int map_find(const ff_spm *m, const id_map *mp, const char *s, size_t n) {
    if (!mp->cap) return -1;
    size_t mask = mp->cap - 1;
    for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = mp->slots[i];
        if (id < 0) return -1;
        const ff_spm_piece *p = &m->pieces[id];
        if (p->len == n && memcmp(p->piece, s, n) == 0) return id;
    }
}

/* Inserts id; returns 1 when the piece is already present. */
static int map_insert(const ff_spm *m, id_map *mp, int id) {
    const ff_spm_piece *p = &m->pieces[id];
    size_t mask = mp->cap - 1;
    for (size_t i = hash_bytes(p->piece, p->len) & mask;; i = (i + 1) & mask) {
        int32_t cur = mp->slots[i];
        if (cur < 0) {
            mp->slots[i] = id;
            return 0;
        }
        if (m->pieces[cur].len == p->len && memcmp(m->pieces[cur].piece, p->piece, p->len) == 0) return 1;
    }
}

static ff_status map_init(id_map *mp, size_t n, ff_err *err) {
    size_t cap = 16;
    while (cap < 2 * n + 1) cap <<= 1;
    mp->slots = malloc(cap * sizeof *mp->slots);
    if (!mp->slots) return ff_err_set(err, FF_ERR_NOMEM, "sentencepiece: no memory for a %zu-slot piece map", cap);
    memset(mp->slots, 0xff, cap * sizeof *mp->slots);
    mp->cap = cap;
    return FF_OK;
}

static ff_status parse_piece(ff_spm *m, pb_buf b, ff_spm_piece *p, const char *what, int index, ff_err *err) {
    p->piece = NULL;
    p->len = 0;
    p->score = 0;
    p->type = FF_SPM_NORMAL;
    pb_field f = {0};
    while (b.p < b.end) {
        if (pb_next(&b, &f)) return ff_err_set(err, FF_ERR_FORMAT, "%s: pieces[%d]: truncated or malformed field", what, index);
        if (f.field == 1 && f.wire == PB_LEN) {
            p->piece = (const char *)f.sub.p;
            p->len = (uint32_t)(f.sub.end - f.sub.p);
        } else if (f.field == 2 && f.wire == PB_I32) {
            uint32_t u = (uint32_t)f.v;
            memcpy(&p->score, &u, sizeof u);
        } else if (f.field == 3 && f.wire == PB_VARINT) {
            if (f.v < FF_SPM_NORMAL || f.v > FF_SPM_BYTE)
                return ff_err_set(err, FF_ERR_FORMAT, "%s: pieces[%d]: unknown piece type %llu", what, index,
                                  (unsigned long long)f.v);
            p->type = (int)f.v;
        } else if (f.field <= 3) {
            return ff_err_set(err, FF_ERR_FORMAT, "%s: pieces[%d]: field %u has wire type %d", what, index, f.field,
                              f.wire);
        }
    }
    (void)m;
    return FF_OK;
}

static ff_status parse_trainer(ff_spm *m, pb_buf b, const char *what, ff_err *err) {
    pb_field f = {0};
    while (b.p < b.end) {
        if (pb_next(&b, &f)) return ff_err_set(err, FF_ERR_FORMAT, "%s: trainer_spec: truncated or malformed field", what);
        if (f.wire != PB_VARINT) continue;
        int32_t v = (int32_t)(uint32_t)f.v; /* int32/enum/bool: low 32 bits, sign-extended on the wire */
        switch (f.field) {
        case 3: m->info.model_type = v; break;
        case 24: m->info.treat_whitespace_as_suffix = f.v != 0; break;
        case 35: m->info.byte_fallback = f.v != 0; break;
        case 40: m->info.unk_id = v; break;
        case 41: m->info.bos_id = v; break;
        case 42: m->info.eos_id = v; break;
        case 43: m->info.pad_id = v; break;
        default: break;
        }
    }
    return FF_OK;
}

static ff_status parse_normalizer(ff_spm *m, pb_buf b, const char *what, ff_err *err) {
    pb_field f = {0};
    while (b.p < b.end) {
        if (pb_next(&b, &f)) return ff_err_set(err, FF_ERR_FORMAT, "%s: normalizer_spec: truncated or malformed field", what);
        if (f.field == 1 && f.wire == PB_LEN) {
            size_t n = (size_t)(f.sub.end - f.sub.p);
            if (n >= sizeof m->info.name) n = sizeof m->info.name - 1;
            memcpy(m->info.name, f.sub.p, n);
            m->info.name[n] = 0;
        } else if (f.field == 2 && f.wire == PB_LEN) {
            m->charsmap = f.sub.p;
            m->charsmap_n = (size_t)(f.sub.end - f.sub.p);
        } else if (f.wire == PB_VARINT) {
            if (f.field == 3) m->info.add_dummy_prefix = f.v != 0;
            if (f.field == 4) m->info.remove_extra_whitespaces = f.v != 0;
            if (f.field == 5) m->info.escape_whitespaces = f.v != 0;
        }
    }
    return FF_OK;
}

/* Normalizer::DecodePrecompiledCharsMap: <u32 trie bytes><trie><strings>. */
static ff_status decode_charsmap(ff_spm *m, const char *what, ff_err *err) {
    if (!m->charsmap_n) return FF_OK;
    if (m->charsmap_n <= 4) return ff_err_set(err, FF_ERR_FORMAT, "%s: precompiled_charsmap of %zu bytes", what, m->charsmap_n);
    const uint8_t *c = m->charsmap;
    uint32_t trie_n = (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
    if ((size_t)trie_n > m->charsmap_n - 4)
        return ff_err_set(err, FF_ERR_FORMAT, "%s: precompiled_charsmap: trie of %u bytes exceeds the %zu-byte blob",
                          what, trie_n, m->charsmap_n);
    m->trie = c + 4;
    m->trie_units = trie_n / 4;
    m->norm_str = (const char *)(c + 4 + trie_n);
    m->norm_str_n = m->charsmap_n - 4 - trie_n;
    return FF_OK;
}

/* ModelBase::InitializePieces + unigram Model's constructor. */
static ff_status init_pieces(ff_spm *m, const char *what, ff_err *err) {
    ff_status st;
    if ((st = map_init(&m->normal_map, (size_t)m->n_pieces, err)) || (st = map_init(&m->reserved_map, (size_t)m->n_pieces, err)))
        return st;
    m->unk_id = -1;
    m->min_score = FLT_MAX;
    m->max_score = FLT_MIN;
    for (int i = 0; i < m->n_pieces; i++) {
        const ff_spm_piece *p = &m->pieces[i];
        if (!p->piece || !p->len) return ff_err_set(err, FF_ERR_FORMAT, "%s: pieces[%d] is empty", what, i);
        int normal = p->type == FF_SPM_NORMAL || p->type == FF_SPM_USER_DEFINED || p->type == FF_SPM_UNUSED;
        if (map_insert(m, normal ? &m->normal_map : &m->reserved_map, i))
            return ff_err_set(err, FF_ERR_FORMAT, "%s: piece '%.*s' (id %d) is already defined", what, (int)p->len, p->piece, i);
        if (normal && p->len > m->max_normal_len) m->max_normal_len = p->len;
        if (p->type == FF_SPM_USER_DEFINED) {
            m->n_user++;
            if (p->len > m->max_user_len) m->max_user_len = p->len;
        }
        if (p->type == FF_SPM_UNKNOWN) {
            if (m->unk_id >= 0) return ff_err_set(err, FF_ERR_FORMAT, "%s: unk is already defined (ids %d and %d)", what, m->unk_id, i);
            m->unk_id = i;
        }
        if (p->type == FF_SPM_BYTE && !m->info.byte_fallback)
            return ff_err_set(err, FF_ERR_FORMAT, "%s: byte piece '%.*s' found although byte_fallback is false", what,
                              (int)p->len, p->piece);
        if (p->type == FF_SPM_NORMAL) {
            if (p->score < m->min_score) m->min_score = p->score;
            if (p->score > m->max_score) m->max_score = p->score;
        }
    }
    if (m->unk_id < 0) return ff_err_set(err, FF_ERR_FORMAT, "%s: unk is not defined", what);
    return FF_OK;
}

ff_status ff_spm_parse(const void *data, size_t n, const char *what, ff_spm **out, ff_err *err) {
    *out = NULL;
    if (!what) what = "spiece.model";
    ff_spm *m = calloc(1, sizeof *m);
    if (!m) return ff_err_set(err, FF_ERR_NOMEM, "%s: no memory", what);
    m->buf = malloc(n ? n : 1);
    if (!m->buf) {
        free(m);
        return ff_err_set(err, FF_ERR_NOMEM, "%s: no memory for %zu bytes", what, n);
    }
    if (n) memcpy(m->buf, data, n);
    m->buf_n = n;
    /* proto2 defaults */
    m->info.model_type = FF_SPM_MODEL_UNIGRAM;
    m->info.unk_id = 0;
    m->info.bos_id = 1;
    m->info.eos_id = 2;
    m->info.pad_id = -1;
    m->info.add_dummy_prefix = 1;
    m->info.remove_extra_whitespaces = 1;
    m->info.escape_whitespaces = 1;

    ff_status st = FF_OK;
    pb_buf b = {m->buf, m->buf + n};
    pb_field f = {0};
    size_t cap = 0;
    while (b.p < b.end) {
        if (pb_next(&b, &f)) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: truncated or malformed protobuf at byte %zu of %zu", what,
                            (size_t)(b.p - m->buf), n);
            goto fail;
        }
        if (f.field == 1 && f.wire == PB_LEN) {
            if (m->n_pieces == 0x7fffffff) {
                st = ff_err_set(err, FF_ERR_FORMAT, "%s: too many pieces", what);
                goto fail;
            }
            if ((size_t)m->n_pieces == cap) {
                size_t nc = cap ? cap * 2 : 1024;
                ff_spm_piece *np = realloc(m->pieces, nc * sizeof *np);
                if (!np) {
                    st = ff_err_set(err, FF_ERR_NOMEM, "%s: no memory for %zu pieces", what, nc);
                    goto fail;
                }
                m->pieces = np;
                cap = nc;
            }
            if ((st = parse_piece(m, f.sub, &m->pieces[m->n_pieces], what, m->n_pieces, err))) goto fail;
            m->n_pieces++;
        } else if (f.field == 2 && f.wire == PB_LEN) {
            if ((st = parse_trainer(m, f.sub, what, err))) goto fail;
        } else if (f.field == 3 && f.wire == PB_LEN) {
            if ((st = parse_normalizer(m, f.sub, what, err))) goto fail;
        } else if (f.field <= 5 && f.wire != PB_LEN) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s: ModelProto field %u has wire type %d", what, f.field, f.wire);
            goto fail;
        }
    }
    if (m->n_pieces == 0) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: no pieces (not a sentencepiece model?)", what);
        goto fail;
    }
    m->info.charsmap_bytes = m->charsmap_n;
    if ((st = decode_charsmap(m, what, err))) goto fail;
    if ((st = init_pieces(m, what, err))) goto fail;
    *out = m;
    return FF_OK;
fail:
    ff_spm_free(m);
    return st;
}

ff_status ff_spm_load(const char *path, ff_spm **out, ff_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ff_err_set(err, errno == ENOENT ? FF_ERR_NOT_FOUND : FF_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode) || sb.st_size > (256 << 20)) {
        fclose(f);
        return ff_err_set(err, FF_ERR_IO, "%s: not a regular file below 256 MiB", path);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return ff_err_set(err, FF_ERR_NOMEM, "%s: no memory for %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return ff_err_set(err, FF_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    ff_status st = ff_spm_parse(buf, n, path, out, err);
    free(buf);
    return st;
}

void ff_spm_free(ff_spm *m) {
    if (!m) return;
    free(m->normal_map.slots);
    free(m->reserved_map.slots);
    free(m->pieces);
    free(m->buf);
    free(m);
}

int ff_spm_size(const ff_spm *m) { return m->n_pieces; }

const ff_spm_piece *ff_spm_piece_at(const ff_spm *m, int id) {
    return id >= 0 && id < m->n_pieces ? &m->pieces[id] : NULL;
}

void ff_spm_get_info(const ff_spm *m, ff_spm_info *info) { *info = m->info; }

int ff_spm_unk_id(const ff_spm *m) { return m->unk_id; }

int ff_spm_piece_to_id(const ff_spm *m, const char *s, size_t n) {
    int id = map_find(m, &m->reserved_map, s, n);
    if (id >= 0) return id;
    id = map_find(m, &m->normal_map, s, n);
    return id >= 0 ? id : m->unk_id;
}

/* ---- UTF-8 (string_util.h) ------------------------------------------------ */

static size_t one_char_len(uint8_t c) { return (size_t)"\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4]; }

static int is_trail(uint8_t c) { return (c & 0xc0) == 0x80; }

static int valid_cp(uint32_t c) { return c < 0xd800 || (c >= 0xe000 && c <= 0x10ffff); }

/* string_util::IsValidDecodeUTF8: 1 and *len for a valid character (or a
 * literal U+FFFD), 0 for a malformed byte. */
static int valid_utf8_char(const uint8_t *s, size_t n, size_t *len) {
    uint8_t c = s[0];
    uint32_t cp;
    if (c < 0x80) {
        *len = 1;
        return 1;
    }
    if (n >= 2 && (c & 0xe0) == 0xc0) {
        cp = (uint32_t)(c & 0x1f) << 6 | (s[1] & 0x3f);
        if (is_trail(s[1]) && cp >= 0x80 && valid_cp(cp)) {
            *len = 2;
            return 1;
        }
    } else if (n >= 3 && (c & 0xf0) == 0xe0) {
        cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
        if (is_trail(s[1]) && is_trail(s[2]) && cp >= 0x800 && valid_cp(cp)) {
            *len = 3;
            return 1;
        }
    } else if (n >= 4 && (c & 0xf8) == 0xf0) {
        cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 | (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
        if (is_trail(s[1]) && is_trail(s[2]) && is_trail(s[3]) && cp >= 0x10000 && valid_cp(cp)) {
            *len = 4;
            return 1;
        }
    }
    *len = 1;
    return 0;
}

/* ---- normalizer ------------------------------------------------------------ */

static uint32_t trie_unit(const ff_spm *m, size_t i) {
    const uint8_t *u = m->trie + 4 * i;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* Darts::DoubleArray::commonPrefixSearch keeping the longest of the first 32
 * results (kMaxTrieResultsSize). Returns -1 on a corrupted trie. */
static int charsmap_longest(const ff_spm *m, const uint8_t *key, size_t n, size_t *best_len, uint32_t *best_value) {
    *best_len = 0;
    if (!m->trie_units) return 0;
    size_t num = 0;
    uint32_t unit = trie_unit(m, 0);
    size_t pos = (size_t)((unit >> 10) << ((unit & (1u << 9)) >> 6));
    for (size_t i = 0; i < n; i++) {
        pos ^= key[i];
        if (pos >= m->trie_units) return 0; /* no such transition */
        unit = trie_unit(m, pos);
        if ((unit & ((1u << 31) | 0xffu)) != key[i]) return 0;
        pos ^= (size_t)((unit >> 10) << ((unit & (1u << 9)) >> 6));
        if ((unit >> 8) & 1) {
            if (pos >= m->trie_units) return -1;
            if (num < 32) {
                *best_len = i + 1;
                *best_value = trie_unit(m, pos) & 0x7fffffffu;
            }
            num++;
        }
    }
    return 0;
}

static const char k_space[] = "\xe2\x96\x81"; /* U+2581 */

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

/* Normalizer::NormalizePrefix: the normalised form (*s, *sn) of the longest
 * rule matching a prefix of in, and how many input bytes it consumed. */
static ff_status normalize_prefix(const ff_spm *m, const uint8_t *in, size_t n, const char **s, size_t *sn,
                                  size_t *consumed, ff_err *err) {
    /* user-defined symbols pass through unchanged (PrefixMatcher) */
    if (m->n_user) {
        size_t max = m->max_user_len < n ? m->max_user_len : n;
        for (size_t len = max; len > 0; len--) {
            int id = map_find(m, &m->normal_map, (const char *)in, len);
            if (id >= 0 && m->pieces[id].type == FF_SPM_USER_DEFINED) {
                *s = (const char *)in;
                *sn = *consumed = len;
                return FF_OK;
            }
        }
    }
    size_t best_len = 0;
    uint32_t value = 0;
    if (charsmap_longest(m, in, n, &best_len, &value))
        return ff_err_set(err, FF_ERR_FORMAT, "sentencepiece: precompiled_charsmap trie points outside its %zu units",
                          m->trie_units);
    if (best_len == 0) {
        size_t len;
        if (!valid_utf8_char(in, n, &len)) {
            *s = "\xef\xbf\xbd"; /* U+FFFD for one malformed byte */
            *sn = 3;
            *consumed = 1;
        } else {
            *s = (const char *)in;
            *sn = *consumed = len;
        }
        return FF_OK;
    }
    if (value >= m->norm_str_n)
        return ff_err_set(err, FF_ERR_FORMAT, "sentencepiece: precompiled_charsmap string offset %u outside %zu bytes",
                          value, m->norm_str_n);
    const char *r = m->norm_str + value;
    const char *nul = memchr(r, 0, m->norm_str_n - value);
    if (!nul)
        return ff_err_set(err, FF_ERR_FORMAT, "sentencepiece: precompiled_charsmap string at %u is not terminated", value);
    *s = r;
    *sn = (size_t)(nul - r);
    *consumed = best_len;
    return FF_OK;
}

ff_status ff_spm_normalize(const ff_spm *m, const char *text, size_t n, char **out, size_t *out_n, ff_err *err) {
    *out = NULL;
    *out_n = 0;
    const uint8_t *in = (const uint8_t *)text;
    const ff_spm_info *inf = &m->info;
    sbuf b = {0};
    ff_status st = FF_OK;
    const char *s;
    size_t sn, used, pos = 0;
    const char *space = inf->escape_whitespaces ? k_space : " ";
    size_t space_n = inf->escape_whitespaces ? 3 : 1;

    if (sb_put(&b, "", 0)) goto nomem;
    if (inf->remove_extra_whitespaces) { /* ignore leading spaces */
        while (pos < n) {
            if ((st = normalize_prefix(m, in + pos, n - pos, &s, &sn, &used, err))) goto fail;
            if (!(sn == 1 && s[0] == ' ')) break;
            pos += used;
        }
    }
    if (pos == n) goto done;
    if (!inf->treat_whitespace_as_suffix && inf->add_dummy_prefix && sb_put(&b, space, space_n)) goto nomem;
    int prev_space = inf->remove_extra_whitespaces;
    while (pos < n) {
        if ((st = normalize_prefix(m, in + pos, n - pos, &s, &sn, &used, err))) goto fail;
        while (prev_space && sn > 0 && s[0] == ' ') { /* drop spaces after a space */
            s++;
            sn--;
        }
        if (sn > 0) {
            for (size_t i = 0; i < sn; i++) {
                int rc = inf->escape_whitespaces && s[i] == ' ' ? sb_put(&b, k_space, 3) : sb_put(&b, s + i, 1);
                if (rc) goto nomem;
            }
            prev_space = s[sn - 1] == ' ';
        }
        pos += used;
        if (!inf->remove_extra_whitespaces) prev_space = 0;
    }
    if (inf->remove_extra_whitespaces) { /* ignore trailing spaces */
        while (b.n >= space_n && memcmp(b.p + b.n - space_n, space, space_n) == 0) b.n -= space_n;
        b.p[b.n] = 0;
    }
    if (inf->treat_whitespace_as_suffix && inf->add_dummy_prefix && sb_put(&b, space, space_n)) goto nomem;
done:
    *out = b.p;
    *out_n = b.n;
    return FF_OK;
nomem:
    st = ff_err_set(err, FF_ERR_NOMEM, "sentencepiece: no memory to normalise %zu bytes", n);
fail:
    free(b.p);
    return st;
}

/* ---- unigram encoder --------------------------------------------------------- */

typedef struct {
    int id;
    float score; /* best path score ending here */
    long start;
} best_node;

/* unigram Model::EncodeOptimized: Viterbi over the pieces that are prefixes
 * of each suffix; an unknown character costs min_score - 10. */
static ff_status viterbi(const ff_spm *m, const char *s, size_t size, ff_spm_token **toks, size_t *nt, ff_err *err) {
    *toks = NULL;
    *nt = 0;
    if (!size) return FF_OK;
    best_node *nodes = malloc((size + 1) * sizeof *nodes);
    ff_spm_token *res = malloc(size * sizeof *res);
    if (!nodes || !res) {
        free(nodes);
        free(res);
        return ff_err_set(err, FF_ERR_NOMEM, "sentencepiece: no memory to encode %zu bytes", size);
    }
    for (size_t i = 0; i <= size; i++) nodes[i] = (best_node){-1, 0.0f, -1};
    const float unk_score = m->min_score - 10.0f; /* kUnkPenalty */
    size_t start = 0;
    while (start < size) {
        const float till_here = nodes[start].score;
        int has_single = 0;
        size_t mblen = one_char_len((uint8_t)s[start]);
        if (mblen > size - start) mblen = size - start;
        size_t max_end = size < start + m->max_normal_len ? size : start + m->max_normal_len;
        for (size_t end = start + 1; end <= max_end; end++) {
            int id = map_find(m, &m->normal_map, s + start, end - start);
            if (id < 0) continue;
            const ff_spm_piece *p = &m->pieces[id];
            if (p->type == FF_SPM_UNUSED) continue;
            size_t length = end - start;
            /* user-defined symbols get a bonus so that they always win; the
             * mixed float/double arithmetic is sentencepiece's own */
            double score = p->type == FF_SPM_USER_DEFINED ? (double)((float)length * m->max_score) - 0.1 : (double)p->score;
            double cand = score + (double)till_here;
            best_node *t = &nodes[end];
            if (t->start == -1 || cand > (double)t->score) {
                t->score = (float)cand;
                t->start = (long)start;
                t->id = id;
            }
            if (!has_single && length == mblen) has_single = 1;
        }
        if (!has_single) {
            best_node *t = &nodes[start + mblen];
            float cand = unk_score + till_here;
            if (t->start == -1 || cand > t->score) {
                t->score = cand;
                t->start = (long)start;
                t->id = m->unk_id;
            }
        }
        start += mblen;
    }
    size_t n = 0;
    long end = (long)size;
    while (end > 0) {
        const best_node *nd = &nodes[end];
        if (nd->start < 0 || nd->start >= end) {
            free(nodes);
            free(res);
            return ff_err_set(err, FF_ERR_INTERNAL, "sentencepiece: broken Viterbi lattice at byte %ld", end);
        }
        res[n++] = (ff_spm_token){nd->id, -1, (size_t)nd->start, (size_t)(end - nd->start)};
        end = nd->start;
    }
    for (size_t i = 0; i < n / 2; i++) {
        ff_spm_token tmp = res[i];
        res[i] = res[n - 1 - i];
        res[n - 1 - i] = tmp;
    }
    free(nodes);
    *toks = res;
    *nt = n;
    return FF_OK;
}

/* ---- BPE encoder -------------------------------------------------------------- */

/* bpe Model::SampleEncode without sampling (bpe_model.cc): split the
 * normalised text into characters (a user-defined symbol is one frozen
 * symbol), then repeatedly merge the adjacent pair whose concatenation is a
 * piece with the highest score (ties: the leftmost pair), until no pair is
 * a piece; an UNUSED piece is split back into the two symbols it was made
 * of. Symbols that are not pieces come out as unk (byte fallback later). */
typedef struct {
    size_t off, len;
    int prev, next; /* -1 at the ends */
    int freeze;
} bpe_sym;

typedef struct {
    float score;
    int left, right;
    size_t size; /* byte length of the merged piece when queued */
} bpe_pair;

typedef struct {
    bpe_pair *v;
    size_t n, cap;
} bpe_heap;

/* a comes out before b */
static int pair_before(const bpe_pair *a, const bpe_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(bpe_heap *h, bpe_pair p) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? 2 * h->cap : 64;
        bpe_pair *nv = realloc(h->v, nc * sizeof *nv);
        if (!nv) return -1;
        h->v = nv;
        h->cap = nc;
    }
    size_t i = h->n++;
    h->v[i] = p;
    while (i > 0 && pair_before(&h->v[i], &h->v[(i - 1) / 2])) {
        bpe_pair t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static bpe_pair heap_pop(bpe_heap *h) {
    bpe_pair top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < h->n && pair_before(&h->v[l], &h->v[best])) best = l;
        if (r < h->n && pair_before(&h->v[r], &h->v[best])) best = r;
        if (best == i) break;
        bpe_pair t = h->v[i];
        h->v[i] = h->v[best];
        h->v[best] = t;
        i = best;
    }
    return top;
}

/* rev_merge: an UNUSED piece -> the two strings it was last queued from */
typedef struct {
    size_t off, len, left_len;
} bpe_rev;

typedef struct {
    const ff_spm *m;
    const char *s;
    bpe_sym *sym;
    bpe_heap heap;
    bpe_rev *rev;
    size_t n_rev, cap_rev;
} bpe_state;

static int maybe_add_pair(bpe_state *b, int left, int right) {
    if (left < 0 || right < 0 || b->sym[left].freeze || b->sym[right].freeze) return 0;
    const size_t off = b->sym[left].off, len = b->sym[left].len + b->sym[right].len;
    int id = map_find(b->m, &b->m->normal_map, b->s + off, len);
    if (id < 0) return 0;
    const ff_spm_piece *p = &b->m->pieces[id];
    if (heap_push(&b->heap, (bpe_pair){p->score, left, right, len})) return -1;
    if (p->type == FF_SPM_UNUSED) {
        size_t i = 0;
        for (; i < b->n_rev; i++)
            if (b->rev[i].len == len && !memcmp(b->s + b->rev[i].off, b->s + off, len)) break;
        if (i == b->n_rev) {
            if (b->n_rev == b->cap_rev) {
                size_t nc = b->cap_rev ? 2 * b->cap_rev : 16;
                bpe_rev *nv = realloc(b->rev, nc * sizeof *nv);
                if (!nv) return -1;
                b->rev = nv;
                b->cap_rev = nc;
            }
            b->n_rev++;
        }
        b->rev[i] = (bpe_rev){off, len, b->sym[left].len};
    }
    return 0;
}

typedef struct {
    ff_spm_token *v;
    size_t n, cap;
} tokvec;

static int tok_push(tokvec *t, ff_spm_token x) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 64;
        ff_spm_token *nv = realloc(t->v, nc * sizeof *nv);
        if (!nv) return -1;
        t->v = nv;
        t->cap = nc;
    }
    t->v[t->n++] = x;
    return 0;
}

/* resegment: an UNUSED piece is emitted as the pieces it was merged from. */
static int resegment(const bpe_state *b, size_t off, size_t len, tokvec *out, int depth) {
    int id = ff_spm_piece_to_id(b->m, b->s + off, len);
    const ff_spm_piece *p = ff_spm_piece_at(b->m, id);
    int unused = p && p->type == FF_SPM_UNUSED && p->len == len && !memcmp(p->piece, b->s + off, len);
    if (unused && depth < 64) {
        for (size_t i = 0; i < b->n_rev; i++) {
            const bpe_rev *r = &b->rev[i];
            if (r->len == len && !memcmp(b->s + r->off, b->s + off, len))
                return resegment(b, off, r->left_len, out, depth + 1) ||
                       resegment(b, off + r->left_len, len - r->left_len, out, depth + 1);
        }
    }
    return tok_push(out, (ff_spm_token){id, -1, off, len});
}

static ff_status bpe_encode(const ff_spm *m, const char *s, size_t size, ff_spm_token **toks, size_t *nt, ff_err *err) {
    *toks = NULL;
    *nt = 0;
    if (!size) return FF_OK;
    bpe_state b = {m, s, NULL, {0}, NULL, 0, 0};
    tokvec out = {0};
    b.sym = malloc(size * sizeof *b.sym);
    if (!b.sym) goto nomem;
    /* characters (PrefixMatcher: user-defined symbols whole and frozen) */
    int n = 0;
    for (size_t pos = 0; pos < size; n++) {
        size_t len = one_char_len((uint8_t)s[pos]), max = m->max_user_len < size - pos ? m->max_user_len : size - pos;
        int freeze = 0;
        for (size_t l = max; m->n_user && l > 0; l--) {
            int id = map_find(m, &m->normal_map, s + pos, l);
            if (id >= 0 && m->pieces[id].type == FF_SPM_USER_DEFINED) {
                len = l;
                freeze = 1;
                break;
            }
        }
        if (len > size - pos) len = size - pos;
        b.sym[n] = (bpe_sym){pos, len, n - 1, pos + len < size ? n + 1 : -1, freeze};
        pos += len;
    }
    for (int i = 1; i < n; i++)
        if (maybe_add_pair(&b, i - 1, i)) goto nomem;
    while (b.heap.n) {
        bpe_pair top = heap_pop(&b.heap);
        bpe_sym *l = &b.sym[top.left], *r = &b.sym[top.right];
        if (!l->len || !r->len || l->len + r->len != top.size) continue; /* stale */
        l->len += r->len;
        l->next = r->next;
        if (r->next >= 0) b.sym[r->next].prev = top.left;
        r->len = 0;
        if (maybe_add_pair(&b, l->prev, top.left) || maybe_add_pair(&b, top.left, l->next)) goto nomem;
    }
    for (int i = 0; i != -1; i = b.sym[i].next)
        if (resegment(&b, b.sym[i].off, b.sym[i].len, &out, 0)) goto nomem;
    free(b.sym);
    free(b.heap.v);
    free(b.rev);
    *toks = out.v;
    *nt = out.n;
    return FF_OK;
nomem:
    free(b.sym);
    free(b.heap.v);
    free(b.rev);
    free(out.v);
    return ff_err_set(err, FF_ERR_NOMEM, "sentencepiece: no memory to encode %zu bytes", size);
}

ff_status ff_spm_encode(const ff_spm *m, const char *text, size_t n, ff_spm_encoding *out, ff_err *err) {
    memset(out, 0, sizeof *out);
    if (m->info.model_type != FF_SPM_MODEL_UNIGRAM && m->info.model_type != FF_SPM_MODEL_BPE)
        return ff_err_set(err, FF_ERR_UNSUPPORTED, "sentencepiece: model_type %d is not supported (UNIGRAM = 1, BPE = 2)",
                          m->info.model_type);
    ff_status st = ff_spm_normalize(m, text, n, &out->normalized, &out->normalized_len, err);
    if (st) return st;
    ff_spm_token *raw;
    size_t nraw;
    st = m->info.model_type == FF_SPM_MODEL_BPE ? bpe_encode(m, out->normalized, out->normalized_len, &raw, &nraw, err)
                                                 : viterbi(m, out->normalized, out->normalized_len, &raw, &nraw, err);
    if (st) {
        ff_spm_encoding_free(out);
        return st;
    }
    /* PopulateSentencePieceText: byte fallback, or merge runs of unknowns */
    size_t cap = nraw;
    if (m->info.byte_fallback)
        for (size_t i = 0; i < nraw; i++)
            if (raw[i].id == m->unk_id) cap += raw[i].len - 1;
    out->tokens = malloc((cap ? cap : 1) * sizeof *out->tokens);
    if (!out->tokens) {
        free(raw);
        ff_spm_encoding_free(out);
        return ff_err_set(err, FF_ERR_NOMEM, "sentencepiece: no memory for %zu tokens", cap);
    }
    int prev_unk = 0;
    for (size_t i = 0; i < nraw; i++) {
        const ff_spm_token *t = &raw[i];
        int is_unk = m->pieces[t->id].type == FF_SPM_UNKNOWN;
        if (is_unk && m->info.byte_fallback) {
            for (size_t k = 0; k < t->len; k++) {
                uint8_t byte = (uint8_t)out->normalized[t->off + k];
                char piece[8];
                snprintf(piece, sizeof piece, "<0x%02X>", byte);
                out->tokens[out->n++] = (ff_spm_token){ff_spm_piece_to_id(m, piece, 6), byte, t->off + k, 1};
            }
        } else if (is_unk && prev_unk) {
            out->tokens[out->n - 1].len += t->len;
        } else {
            out->tokens[out->n++] = *t;
        }
        prev_unk = is_unk;
    }
    free(raw);
    return FF_OK;
}

void ff_spm_encoding_free(ff_spm_encoding *e) {
    free(e->normalized);
    free(e->tokens);
    memset(e, 0, sizeof *e);
}

const char *ff_spm_token_str(const ff_spm_encoding *e, size_t i, char buf[8], size_t *len) {
    const ff_spm_token *t = &e->tokens[i];
    if (t->byte >= 0) {
        snprintf(buf, 8, "<0x%02X>", (unsigned)(t->byte & 0xff));
        *len = 6;
        return buf;
    }
    *len = t->len;
    return e->normalized + t->off;
}
