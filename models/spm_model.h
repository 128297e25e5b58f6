/* spm_model: a sentencepiece model (spiece.model, tokenizer.model) and its encoders,
 * reproducing sentencepiece 0.1.97's SentencePieceProcessor::Encode.
 *
 * ff_spm_parse reads the ModelProto (protobuf wire format) with a small,
 * bounds-checked reader: the pieces (string, score, type), the trainer spec
 * fields the encoder needs (model_type, unk/bos/eos/pad ids, byte_fallback,
 * treat_whitespace_as_suffix) and the normalizer spec (name,
 * precompiled_charsmap, add_dummy_prefix, remove_extra_whitespaces,
 * escape_whitespaces). Encoding is normalisation (user-defined symbols, the
 * precompiled charsmap: a darts-clone double-array trie + NUL-terminated
 * replacement strings; whitespace handling) followed by the unigram Viterbi
 * over piece scores (UNIGRAM models) or the merges of bpe_model.cc (BPE
 * models, e.g. Llama-2 style tokenizer.model: the highest-scoring adjacent
 * pair first), then unknown-run merging or byte fallback.
 *
 * Not here: the Hugging Face wrapper (added tokens, </s>, padding: see
 * tokenizer.h); WORD/CHAR models and sampling (rejected as unsupported);
 * training; decoding. */
#ifndef FF_SPM_MODEL_H
#define FF_SPM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"

/* ModelProto.SentencePiece.Type */
typedef enum {
    FF_SPM_NORMAL = 1,
    FF_SPM_UNKNOWN = 2,
    FF_SPM_CONTROL = 3,
    FF_SPM_USER_DEFINED = 4,
    FF_SPM_UNUSED = 5,
    FF_SPM_BYTE = 6
} ff_spm_type;

/* TrainerSpec.ModelType */
typedef enum { FF_SPM_MODEL_UNIGRAM = 1, FF_SPM_MODEL_BPE = 2, FF_SPM_MODEL_WORD = 3, FF_SPM_MODEL_CHAR = 4 } ff_spm_model_type;

typedef struct {
    const char *piece; /* UTF-8, not NUL-terminated: use len */
    uint32_t len;
    float score;
    int type; /* ff_spm_type */
} ff_spm_piece;

/* What the model says about itself (proto2 defaults where a field is absent). */
typedef struct {
    int model_type;                 /* ff_spm_model_type */
    int unk_id, bos_id, eos_id, pad_id; /* trainer_spec (ids may be -1) */
    int byte_fallback;
    int treat_whitespace_as_suffix;
    char name[64];                  /* normalizer_spec.name ("nmt_nfkc", "identity", ...) */
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    size_t charsmap_bytes;          /* size of precompiled_charsmap (0: identity) */
} ff_spm_info;

typedef struct ff_spm ff_spm;

/* Parses n bytes of a serialized ModelProto (copied: data may be freed after
 * the call). `what` names the source in messages. */
ff_status ff_spm_parse(const void *data, size_t n, const char *what, ff_spm **out, ff_err *err);
/* Reads and parses a spiece.model file (limit 256 MiB). */
ff_status ff_spm_load(const char *path, ff_spm **out, ff_err *err);
void ff_spm_free(ff_spm *m);

int ff_spm_size(const ff_spm *m); /* number of pieces */
const ff_spm_piece *ff_spm_piece_at(const ff_spm *m, int id); /* NULL when out of range */
void ff_spm_get_info(const ff_spm *m, ff_spm_info *info);
/* sp.piece_to_id: the id of a piece string, unk_id when there is none. */
int ff_spm_piece_to_id(const ff_spm *m, const char *s, size_t n);
int ff_spm_unk_id(const ff_spm *m);

/* Normalizer::Normalize: *out (malloc'd, NUL-terminated, caller frees) gets
 * the normalised text of n bytes of UTF-8. */
ff_status ff_spm_normalize(const ff_spm *m, const char *text, size_t n, char **out, size_t *out_n, ff_err *err);

/* One output piece of sp.encode(text, out_type=str/int). Its string is
 * normalized[off, off + len), or, for a byte-fallback piece (byte >= 0),
 * "<0xXX>". */
typedef struct {
    int id;
    int byte; /* -1, or the byte a byte-fallback piece stands for */
    size_t off, len;
} ff_spm_token;

typedef struct {
    char *normalized; /* owned */
    size_t normalized_len;
    ff_spm_token *tokens; /* owned */
    size_t n;
} ff_spm_encoding;

ff_status ff_spm_encode(const ff_spm *m, const char *text, size_t n, ff_spm_encoding *out, ff_err *err);
void ff_spm_encoding_free(ff_spm_encoding *e);
/* The piece string of token i into buf (at least 8 bytes) or a pointer into
 * the encoding; returns it with *len set. */
const char *ff_spm_token_str(const ff_spm_encoding *e, size_t i, char buf[8], size_t *len);

#endif
